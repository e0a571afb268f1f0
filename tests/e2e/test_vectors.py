#!/usr/bin/env python3
"""test_vectors.py - every shared DCAP vector through /attest/SgxEnclave or /attest/TdxVm at its
verification time (one attestd per distinct --at), with collateral from the offline directory and
from tests/tools/pcs_server.py as --collateral-url; the SGX vector also as an Open Enclave report;
runtimeData / initTimeData binding, nonce, JSON runtime data, draftPolicyForAttestation."""
import hashlib
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DCAP, PcsServer, Results, Server, b64url, is_tdx, jwt_parts, oe_report,
                     quote_bytes, tmpdir, vector_sets, verify_token)

T = Results('e2e/test_vectors')

SGX_FIELDS = {  # expected.json report field -> token claim
    'mrenclave': 'x-ms-sgx-mrenclave', 'mrsigner': 'x-ms-sgx-mrsigner',
    'isvprodid': 'x-ms-sgx-product-id', 'isvsvn': 'x-ms-sgx-svn',
    'debug': 'x-ms-sgx-is-debuggable', 'report_data': 'x-ms-sgx-report-data',
    'cpusvn': 'x-ms-sgx-cpusvn', 'attributes': 'x-ms-sgx-attributes',
    'miscselect': 'x-ms-sgx-miscselect',
}
TDX_FIELDS = ['tee_tcb_svn', 'mrseam', 'mrsignerseam', 'seam_attributes', 'td_attributes', 'xfam',
              'mrtd', 'mrconfigid', 'mrowner', 'mrownerconfig', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3',
              'report_data']


def check_claims(what, c, exp):
    rep = exp['quote']['report']
    want = exp['expected']
    if is_tdx(exp):
        T.eq('%s: x-ms-attestation-type' % what, c.get('x-ms-attestation-type'), 'tdxvm')
        for f in TDX_FIELDS:
            T.eq('%s: tdx_%s' % (what, f), c.get('tdx_' + f), rep[f].lower())
        T.eq('%s: dbgstat' % what, c.get('dbgstat'), 'enabled' if rep['debug'] else 'disabled')
        T.eq('%s: tdx_td_attributes_debug' % what, c.get('tdx_td_attributes_debug'), rep['debug'])
        T.eq('%s: attester_tcb_status' % what, c.get('attester_tcb_status'), want['status'])
        T.eq('%s: advisory ids' % what, sorted(c.get('attester_advisory_ids') or []),
             sorted(want['advisory_ids'] or []))
        T.eq('%s: eat_profile' % what, c.get('eat_profile'), 'https://aka.ms/maa-eat-profile-tdxvm')
    else:
        T.eq('%s: x-ms-attestation-type' % what, c.get('x-ms-attestation-type'), 'sgx')
        for f, claim in SGX_FIELDS.items():
            v = rep[f]
            T.eq('%s: %s' % (what, claim), c.get(claim), v.lower() if isinstance(v, str) else v)
        T.eq('%s: x-ms-sgx-tcb-status' % what, c.get('x-ms-sgx-tcb-status'), want['status'])
        T.eq('%s: x-ms-sgx-advisory-ids' % what, sorted(c.get('x-ms-sgx-advisory-ids') or []),
             sorted(want['advisory_ids'] or []))
        # default SGX policy issues MAA's short names
        T.eq('%s: sgx-mrenclave (default policy)' % what, c.get('sgx-mrenclave'), rep['mrenclave'])
        T.eq('%s: tee (default policy)' % what, c.get('tee'), 'sgx')
        coll = c.get('x-ms-sgx-collateral') or {}
        T.eq('%s: x-ms-sgx-collateral.quotehash' % what, coll.get('quotehash'),
             hashlib.sha256(quote_bytes(os.path.join(DCAP, exp_dir(exp)))).hexdigest()
             if exp_dir(exp) else coll.get('quotehash'))
        for k in ['qeidcertshash', 'qeidcrlhash', 'qeidhash', 'tcbinfocertshash', 'tcbinfocrlhash',
                  'tcbinfohash']:
            T.check('%s: x-ms-sgx-collateral.%s' % (what, k), len(coll.get(k, '')) == 64, coll)
    T.eq('%s: x-ms-ver' % what, c.get('x-ms-ver'), '1.0')
    T.eq('%s: verification time' % what, c.get('x-attestd-verification-time'),
         exp['verification_time'])
    T.check('%s: x-ms-policy-hash' % what, isinstance(c.get('x-ms-policy-hash'), str) and
            len(c['x-ms-policy-hash']) == 43, c.get('x-ms-policy-hash'))
    T.check('%s: jti' % what, isinstance(c.get('jti'), str) and len(c['jti']) == 64, c.get('jti'))
    T.eq('%s: exp - iat' % what, c.get('exp', 0) - c.get('iat', 0), 28800)


_dirs = {}


def exp_dir(exp):
    return _dirs.get(id(exp))


def attest_all(s, sets, how):
    jwks = s.jwks()
    for name, d, exp in sets:
        what = '%s via %s' % (name, how)
        path = '/attest/TdxVm' if is_tdx(exp) else '/attest/SgxEnclave'
        api = '2023-04-01-preview' if is_tdx(exp) else '2022-08-01'
        r = s.post(path, {'quote': b64url(quote_bytes(d))}, api=api)
        if exp['expected']['accept']:
            if not T.eq('%s: 200' % what, r.status, 200, repr(r)):
                continue
            ok, c, why = verify_token(r.token, jwks, s.issuer)
            T.check('%s: token verifies' % what, ok, why)
            if c:
                check_claims(what, c, exp)
        else:
            T.eq('%s: 400' % what, r.status, 400, repr(r))
            T.eq('%s: InvalidParameter' % what, r.error_code, 'InvalidParameter', repr(r))
            T.check('%s: names ATT_E_TCB_NOT_SUPPORTED' % what,
                    'ATT_E_TCB_NOT_SUPPORTED' in r.error_message, repr(r))
            T.check('%s: x-ms-request-id' % what, 'x-ms-request-id' in r.headers)


def by_time(sets):
    groups = {}
    for v in sets:
        groups.setdefault(v[2]['verification_time'], []).append(v)
    return sorted(groups.items())


def offline(sets):
    for at, group in by_time(sets):
        with Server(at=at, collateral_dir=DCAP) as s:
            attest_all(s, group, 'offline dir (--at %s)' % at)


def pcs(sets):
    count = os.path.join(tmpdir(), 'pcs-requests')
    with PcsServer(DCAP, count_file=count) as p:
        for at, group in by_time(sets):
            with Server(at=at, collateral_url=p.url) as s:
                attest_all(s, group, 'PCS server (--at %s)' % at)
                # second round: served from the cache
                attest_all(s, [g for g in group if g[2]['expected']['accept']],
                           'PCS server, cached (--at %s)' % at)
    reqs = open(count).read().splitlines() if os.path.exists(count) else []
    T.check('the PCS server was asked for TCB info', any('/certification/v4/tcb' in l for l in reqs),
            reqs)
    T.check('the PCS server was asked for the QE identity',
            any('/qe/identity' in l for l in reqs), reqs)


def sgx_extras(sets):
    name, d, exp = next(v for v in sets if not is_tdx(v[2]) and v[2]['expected']['accept'])
    quote = quote_bytes(d)
    q = b64url(quote)
    with Server(at=exp['verification_time'], collateral_dir=DCAP) as s:
        jwks = s.jwks()
        # Open Enclave: 16-byte OE header then the quote
        r = s.post('/attest/OpenEnclave', {'report': b64url(oe_report(quote))})
        if T.eq('OpenEnclave report: 200', r.status, 200, repr(r)):
            ok, c, why = verify_token(r.token, jwks, s.issuer)
            T.check('OpenEnclave token verifies', ok, why)
            check_claims('OpenEnclave', c, exp)
        r = s.post('/attest/OpenEnclave', {'report': b64url(oe_report(quote)[:-10])})
        T.eq('OpenEnclave report with a short quote: 400', r.status, 400, repr(r))
        r = s.post('/attest/OpenEnclave', {'report': b64url(oe_report(quote) + b'\0' * 8)})
        T.eq('OpenEnclave size field not matching: 400', r.status, 400, repr(r))

        # runtime data binding: the vector's report_data is not a SHA-256 we can produce, so any
        # runtimeData mismatches
        rd = bytes.fromhex(exp['quote']['report']['report_data'])
        for dt in ['Binary', 'JSON']:
            data = b'{"key":"not bound"}'
            r = s.post('/attest/SgxEnclave', {'quote': q, 'runtimeData': {'data': b64url(data),
                                                                           'dataType': dt}})
            T.eq('runtimeData (%s) mismatch: 400' % dt, r.status, 400, repr(r))
            T.eq('runtimeData (%s) mismatch: InvalidParameter' % dt, r.error_code,
                 'InvalidParameter')
            T.check('runtimeData (%s) mismatch: message names both digests' % dt,
                    hashlib.sha256(data).hexdigest() in r.error_message.lower() and
                    rd[:32].hex() in r.error_message.lower(), repr(r))
        r = s.post('/attest/OpenEnclave', {'report': b64url(oe_report(quote)),
                                           'runtimeData': {'data': b64url('x'), 'dataType': 'Binary'}})
        T.eq('OpenEnclave runtimeData mismatch: 400', r.status, 400, repr(r))
        r = s.post('/attest/SgxEnclave', {'quote': q, 'initTimeData': {'data': b64url('cfg'),
                                                                        'dataType': 'Binary'}})
        T.eq('initTimeData mismatch (CONFIGID): 400', r.status, 400, repr(r))
        T.eq('initTimeData mismatch: InvalidParameter', r.error_code, 'InvalidParameter')

        # nonce
        r = s.post('/attest/SgxEnclave', {'quote': q, 'nonce': 'e2e-nonce-123'})
        if T.eq('nonce: 200', r.status, 200, repr(r)):
            T.eq('nonce echoed', jwt_parts(r.token)[1].get('nonce'), 'e2e-nonce-123')

        # draftPolicyForAttestation: unsecured token, policy's issued claim, stored policy unused
        draft = ('version=1.0; authorizationrules { => permit(); }; issuancerules { '
                 'c:[type=="x-ms-sgx-mrsigner"] => issue(type="draft-signer", value=c.value); };')
        r = s.post('/attest/SgxEnclave', {'quote': q, 'draftPolicyForAttestation': draft})
        if T.eq('draft policy: 200', r.status, 200, repr(r)):
            h, c, sig = jwt_parts(r.token)
            T.eq('draft policy: alg none', h.get('alg'), 'none')
            T.eq('draft policy: empty signature', sig, b'')
            T.eq('draft policy: issued claim', c.get('draft-signer'),
                 exp['quote']['report']['mrsigner'])
            T.check('draft policy: default policy claims absent', 'sgx-mrenclave' not in c, c)
        deny = ('version=1.0; authorizationrules { c:[type=="x-ms-sgx-is-debuggable", '
                'value==true] => permit(); }; issuancerules { };')
        r = s.post('/attest/SgxEnclave', {'quote': q, 'draftPolicyForAttestation': deny})
        T.eq('draft deny policy: 400', r.status, 400, repr(r))
        T.eq('draft deny policy: PolicyEvaluationError', r.error_code, 'PolicyEvaluationError')
        r = s.post('/attest/SgxEnclave', {'quote': q})
        T.eq('after a draft, the stored policy is unchanged: 200', r.status, 200, repr(r))

        # 2018 preview body and padded base64url
        r = s.post('/attest/SgxEnclave', {'Quote': q})
        T.eq('legacy "Quote" member: 200', r.status, 200, repr(r))
        r = s.post('/attest/SgxEnclave', {'quote': q + '=' * (-len(q) % 4)})
        T.eq('padded base64url quote: 200', r.status, 200, repr(r))

    # the same quote judged after its collateral expired
    with Server(at='2030-01-01T00:00:00Z', collateral_dir=DCAP) as s:
        r = s.post('/attest/SgxEnclave', {'quote': q})
        T.eq('expired collateral: 400', r.status, 400, repr(r))
        T.eq('expired collateral: InvalidParameter', r.error_code, 'InvalidParameter')
    # an offline directory without this quote's FMSPC: a clear error
    other = next(v[1] for v in sets if is_tdx(v[2]))
    with Server(at=exp['verification_time'], collateral_dir=other) as s:
        r = s.post('/attest/SgxEnclave', {'quote': q})
        T.check('no collateral for the FMSPC: 4xx/5xx error with a message',
                r.status >= 400 and r.error_message, repr(r))
    # an empty offline directory is refused at start
    from harness import ATTESTD, run
    r = run([ATTESTD, '--listen', '127.0.0.1:0', '--data-dir', tmpdir(), '--collateral-dir',
             tmpdir()], timeout=20)
    T.check('an empty --collateral-dir: attestd exits non-zero with a message',
            r.returncode != 0 and 'collateral' in r.stderr, (r.returncode, r.stderr))


def main():
    sets = vector_sets()
    for name, d, exp in sets:
        _dirs[id(exp)] = name
    T.check('at least 5 vectors', len(sets) >= 5, [s[0] for s in sets])
    T.check('accepted and rejected vectors present',
            any(s[2]['expected']['accept'] for s in sets) and
            any(not s[2]['expected']['accept'] for s in sets))
    T.section(offline, sets)
    T.section(pcs, sets)
    T.section(sgx_extras, sets)


if __name__ == '__main__':
    T.run(main)
