#!/usr/bin/env python3
"""test_claims.py - the claim set of attestd's tokens, member by member, against MAA's (docs/claims.md):
SgxEnclave and OpenEnclave (the simulated platform's SGX quote, `attest sim`), TdxVm (its TD quote)
and SevSnpVm (`attest sim snp`), each with Binary and with JSON runtime data and without any, on every
api-version attestd accepts. JSON runtime data gives x-ms-runtime and no x-ms-sgx-ehd; Binary gives
x-ms-sgx-ehd (and, for SGX and OE, MAA's deprecated maa-ehd and aas-ehd) and no x-ms-runtime; JSON
init-time data gives x-ms-inittime. The claims the policy issues are at the top level and inside
x-ms-policy; SGX and OE carry maa-attestationcollateral. Every name of the expected sets is in
docs/claims.md.

Then the policy signer's minimum RSA size (--policy-signer-min-rsa-bits): a policy signed with an
RSA-1024 key is refused by default and accepted with 1024, with a warning in the log and
attestd_policy_signer_weak_keys_total counting it; in isolated mode the same for an RSA-1024 policy
management certificate. Prints "N passed, M failed"."""
import base64
import hashlib
import json
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ATTEST, ATTESTD, REPO, Results, Server, Signer, b64url, jwt_parts, oe_report,  # noqa: E402
                     run, tmpdir, verify_token)

T = Results('e2e/test_claims')
TEXT = {'Content-Type': 'text/plain'}
# every api-version attestd accepts (src/attestd/http_request.c, docs/api.md)
API_VERSIONS = ['2020-10-01', '2022-08-01', '2023-04-01-preview', '2025-06-01', '2026-03-11-preview']

RUNTIME = json.dumps({'keys': [{'kid': 'enclave-key', 'kty': 'oct', 'k': 'AAEC'}],
                      'client': {'n': 1, 'ok': True}}, separators=(',', ':')).encode()
INIT = json.dumps({'config': {'mode': 'prod'}}, separators=(',', ':')).encode()

COMMON = {'iss', 'iat', 'nbf', 'exp', 'jti', 'x-ms-ver', 'x-ms-attestation-type', 'x-ms-policy-hash',
          'x-attestd-verification-time', 'x-attestd-simulated'}
SGX = {'x-ms-sgx-is-debuggable', 'x-ms-sgx-product-id', 'x-ms-sgx-svn', 'x-ms-sgx-mrenclave',
       'x-ms-sgx-mrsigner', 'x-ms-sgx-report-data', 'x-ms-sgx-collateral',
       'maa-attestationcollateral',
       # attestd's own (docs/claims.md)
       'x-ms-sgx-tcb-status', 'x-ms-sgx-advisory-ids', 'x-ms-sgx-attributes',
       'x-ms-sgx-miscselect', 'x-ms-sgx-cpusvn', 'x-ms-sgx-fmspc',
       'x-attestd-tcb-evaluation-data-number'}
# MAA's default SGX / OE policy issues these (and so x-ms-policy)
SGX_ISSUED = {'is-debuggable': 'x-ms-sgx-is-debuggable', 'sgx-mrsigner': 'x-ms-sgx-mrsigner',
              'sgx-mrenclave': 'x-ms-sgx-mrenclave', 'product-id': 'x-ms-sgx-product-id',
              'svn': 'x-ms-sgx-svn', 'tee': 'x-ms-attestation-type'}
TDX = {'eat_profile', 'dbgstat', 'intuse', 'attester_tcb_status', 'tdx_mrtd', 'tdx_mrseam',
       'tdx_mrsignerseam', 'tdx_mrconfigid', 'tdx_mrowner', 'tdx_mrownerconfig', 'tdx_rtmr0',
       'tdx_rtmr1', 'tdx_rtmr2', 'tdx_rtmr3', 'tdx_report_data', 'tdx_seam_attributes',
       'tdx_td_attributes', 'tdx_xfam', 'tdx_tee_tcb_svn', 'tdx_seamsvn', 'tdx_td_attributes_debug',
       'tdx_td_attributes_key_locker', 'tdx_td_attributes_perfmon',
       'tdx_td_attributes_protection_keys', 'tdx_td_attributes_septve_disable',
       'attester_advisory_ids', 'tdx_fmspc', 'x-attestd-tcb-evaluation-data-number'}
SNP = {'x-ms-sevsnpvm-authorkeydigest', 'x-ms-sevsnpvm-bootloader-svn', 'x-ms-sevsnpvm-familyId',
       'x-ms-sevsnpvm-guestsvn', 'x-ms-sevsnpvm-hostdata', 'x-ms-sevsnpvm-idkeydigest',
       'x-ms-sevsnpvm-imageId', 'x-ms-sevsnpvm-is-debuggable', 'x-ms-sevsnpvm-launchmeasurement',
       'x-ms-sevsnpvm-microcode-svn', 'x-ms-sevsnpvm-migration-allowed', 'x-ms-sevsnpvm-reportdata',
       'x-ms-sevsnpvm-reportid', 'x-ms-sevsnpvm-smt-allowed', 'x-ms-sevsnpvm-snpfw-svn',
       'x-ms-sevsnpvm-tee-svn', 'x-ms-sevsnpvm-vmpl',
       'x-attestd-sevsnpvm-chip-id', 'x-attestd-sevsnpvm-product', 'x-attestd-sevsnpvm-signing-key',
       'x-attestd-sevsnpvm-report-version', 'x-attestd-sevsnpvm-policy',
       'x-attestd-sevsnpvm-platform-info', 'x-attestd-sevsnpvm-reported-tcb',
       'x-attestd-sevsnpvm-committed-tcb', 'x-attestd-sevsnpvm-launch-tcb',
       'x-attestd-sevsnpvm-current-tcb', 'x-attestd-sevsnpvm-crl-checked'}
EHD = {'x-ms-sgx-ehd', 'maa-ehd', 'aas-ehd'}
DOCUMENTED = set()


def body_for(field, evidence, data_type, with_init=False):
    b = {field: b64url(evidence)}
    if data_type is not None:
        b['runtimeData'] = {'data': b64url(RUNTIME), 'dataType': data_type}
    if with_init:
        b['initTimeData'] = {'data': b64url(INIT), 'dataType': 'JSON'}
    return b


def check_set(what, s, r, expected):
    """The token of reply r: signed by s, and exactly the expected claim names."""
    DOCUMENTED.update(expected)
    if not T.eq('%s: 200' % what, r.status, 200, repr(r)):
        return None
    ok, c, why = verify_token(r.token, s.jwks(), s.issuer)
    T.check('%s: token verifies against /certs' % what, ok, why)
    c = c or {}
    got = set(c)
    T.check('%s: claim set is the documented one' % what, got == expected,
            'missing %s; unexpected %s' % (sorted(expected - got), sorted(got - expected)))
    return c


def check_runtime(what, c, data_type, sgx_like):
    if c is None:
        return
    if data_type == 'JSON':
        T.eq('%s: x-ms-runtime is the parsed JSON' % what, c.get('x-ms-runtime'), json.loads(RUNTIME))
        for n in EHD:
            T.check('%s: no %s with JSON runtime data' % (what, n), n not in c, c.get(n))
    elif data_type == 'Binary':
        T.check('%s: no x-ms-runtime with Binary runtime data' % what, 'x-ms-runtime' not in c,
                c.get('x-ms-runtime'))
        if sgx_like:
            for n in EHD:
                T.eq('%s: %s is base64url of the runtime data' % (what, n), c.get(n), b64url(RUNTIME))


def check_policy_claims(what, c, issued):
    """issued: {name: incoming claim it copies}: at the top level and in x-ms-policy."""
    if c is None:
        return
    if not issued:
        T.check('%s: no x-ms-policy when the policy issues nothing' % what, 'x-ms-policy' not in c,
                c.get('x-ms-policy'))
        return
    pol = c.get('x-ms-policy')
    T.eq('%s: x-ms-policy holds exactly the issued claims' % what, sorted(pol or {}), sorted(issued))
    for k, src in issued.items():
        T.eq('%s: issued %s = %s at the top level' % (what, k, src), c.get(k), c.get(src))
        T.eq('%s: issued %s in x-ms-policy' % (what, k), (pol or {}).get(k), c.get(src))


def sgx_and_oe():
    d = tmpdir('claims-sgx-')
    sim = os.path.join(d, 'sim')
    T.eq('attest sim init', run([ATTEST, 'sim', 'init', sim]).returncode, 0)
    rt = os.path.join(d, 'runtime.json')
    open(rt, 'wb').write(RUNTIME)
    q = os.path.join(d, 'quote.bin')
    p = run([ATTEST, 'evidence', '--provider', 'sim', '--sim-dir', sim, '--runtime-data', rt,
             '--raw', '--out', q])
    T.eq('attest evidence (sim SGX quote binding the runtime data)', p.returncode, 0, p.stderr)
    quote = open(q, 'rb').read()
    with Server('--trust-root', os.path.join(sim, 'trust_root.pem'),
                collateral_dir=os.path.join(sim, 'collateral')) as s:
        for api in API_VERSIONS:
            for typ, field, ev in (('SgxEnclave', 'quote', quote), ('OpenEnclave', 'report', oe_report(quote))):
                for dt in ('Binary', 'JSON', None):
                    what = '%s %s runtimeData %s' % (typ, api, dt)
                    expected = COMMON | SGX | set(SGX_ISSUED) | {'x-ms-policy'}
                    if dt == 'Binary':
                        expected |= EHD
                    elif dt == 'JSON':
                        expected |= {'x-ms-runtime'}
                    r = s.post('/attest/' + typ, body_for(field, ev, dt), api=api)
                    c = check_set(what, s, r, expected)
                    check_runtime(what, c, dt, True)
                    check_policy_claims(what, c, SGX_ISSUED)
                    if c is not None:
                        T.eq('%s: maa-attestationcollateral = x-ms-sgx-collateral' % what,
                             c.get('maa-attestationcollateral'), c.get('x-ms-sgx-collateral'))
                        T.eq('%s: quotehash' % what, (c.get('x-ms-sgx-collateral') or {}).get('quotehash'),
                             hashlib.sha256(quote).hexdigest())
        # a draft policy's issued claims: at the top level and in x-ms-policy, nothing else there
        draft = ('version=1.0; authorizationrules { => permit(); }; issuancerules { '
                 'c:[type=="x-ms-sgx-mrsigner"] => issue(type="signer", value=c.value); '
                 '=> issue(type="stage", value="claims-e2e"); };')
        r = s.post('/attest/SgxEnclave', dict(body_for('quote', quote, 'JSON'),
                                              draftPolicyForAttestation=draft))
        if T.eq('draft policy: 200', r.status, 200, repr(r)):
            c = jwt_parts(r.token)[1]
            T.eq('draft: x-ms-policy', c.get('x-ms-policy'),
                 {'signer': c.get('x-ms-sgx-mrsigner'), 'stage': 'claims-e2e'})
            T.eq('draft: issued at the top level', (c.get('signer'), c.get('stage')),
                 (c.get('x-ms-sgx-mrsigner'), 'claims-e2e'))
            T.check('draft: the default policy claims are not issued', 'tee' not in c, c.get('tee'))
            T.check('draft, JSON runtime data: no x-ms-sgx-ehd', 'x-ms-sgx-ehd' not in c)
        # a policy that issues nothing: no x-ms-policy
        r = s.post('/attest/SgxEnclave', dict(body_for('quote', quote, 'Binary'),
                                              draftPolicyForAttestation='version=1.0; authorizationrules '
                                              '{ => permit(); }; issuancerules { };'))
        if T.eq('draft policy issuing nothing: 200', r.status, 200, repr(r)):
            check_policy_claims('draft issuing nothing', jwt_parts(r.token)[1], {})


def tdx():
    d = tmpdir('claims-tdx-')
    sim = os.path.join(d, 'sim')
    T.eq('attest sim init --tee tdx', run([ATTEST, 'sim', 'init', sim, '--tee', 'tdx']).returncode, 0)
    rt = os.path.join(d, 'runtime.json')
    open(rt, 'wb').write(RUNTIME)
    q = os.path.join(d, 'quote.bin')
    p = run([ATTEST, 'evidence', '--provider', 'sim', '--sim-dir', sim, '--runtime-data', rt,
             '--raw', '--out', q])
    T.eq('attest evidence (sim TD quote)', p.returncode, 0, p.stderr)
    quote = open(q, 'rb').read()
    with Server('--trust-root', os.path.join(sim, 'trust_root.pem'),
                collateral_dir=os.path.join(sim, 'collateral')) as s:
        for api in API_VERSIONS:
            for dt in ('Binary', 'JSON', None):
                what = 'TdxVm %s runtimeData %s' % (api, dt)
                expected = COMMON | TDX | ({'x-ms-runtime'} if dt == 'JSON' else set())
                r = s.post('/attest/TdxVm', body_for('quote', quote, dt), api=api)
                c = check_set(what, s, r, expected)
                check_runtime(what, c, dt, False)
                check_policy_claims(what, c, {})


def snp():
    d = tmpdir('claims-snp-')
    p = run([ATTEST, 'sim', 'snp', 'init', d, '--chips', '1', '--rsa-bits', '2048'])
    T.eq('attest sim snp init', p.returncode, 0, p.stderr)
    ev = os.path.join(d, 'ev.json')
    p = run([ATTEST, 'sim', 'snp', 'report', d, '--chip', '0',
             '--report-data', hashlib.sha256(RUNTIME).hexdigest(),
             '--host-data', hashlib.sha256(INIT).hexdigest(), '--evidence', ev])
    T.eq('attest sim snp report (runtime and init-time data bound)', p.returncode, 0, p.stderr)
    evidence = open(ev, 'rb').read()
    with Server('--trust-root', os.path.join(d, 'ark.pem')) as s:
        for api in API_VERSIONS:
            for dt in ('Binary', 'JSON', None):
                for init in (False, True):
                    what = 'SevSnpVm %s runtimeData %s%s' % (api, dt, ' initTimeData JSON' if init else '')
                    expected = COMMON | SNP | ({'x-ms-runtime'} if dt == 'JSON' else set()) | \
                        ({'x-ms-inittime'} if init else set())
                    r = s.post('/attest/SevSnpVm', body_for('report', evidence, dt, init), api=api)
                    c = check_set(what, s, r, expected)
                    check_runtime(what, c, dt, False)
                    check_policy_claims(what, c, {})
                    if c is not None and init:
                        T.eq('%s: x-ms-inittime is the parsed JSON' % what, c.get('x-ms-inittime'),
                             json.loads(INIT))


def documented():
    doc = open(os.path.join(REPO, 'docs', 'claims.md')).read()
    named = set(re.findall(r'`([A-Za-z0-9_.-]+)`', doc))
    missing = sorted(DOCUMENTED - named)
    T.check('every claim of the expected sets is named in docs/claims.md', not missing, missing)


# ---------------------------------------------------------------- policy signer key size

def weak_signer(d, name, bits=1024):
    """A harness Signer (self-signed CA, RS256 with x5c) whose RSA key has `bits` bits."""
    s = Signer.__new__(Signer)
    s.key = os.path.join(d, name + '.key')
    s.cert = os.path.join(d, name + '.pem')
    r = run(['openssl', 'req', '-x509', '-newkey', 'rsa:%d' % bits, '-nodes', '-sha256',
             '-keyout', s.key, '-out', s.cert, '-days', '30', '-subj', '/CN=attestd e2e %s' % name,
             '-addext', 'basicConstraints=critical,CA:TRUE',
             '-addext', 'keyUsage=critical,digitalSignature,keyCertSign'])
    if r.returncode != 0:
        raise RuntimeError('openssl req: ' + r.stderr)
    s.pem = open(s.cert).read()
    s.der = base64.b64decode(''.join(l for l in s.pem.splitlines() if not l.startswith('-----')))
    s.x5c = base64.b64encode(s.der).decode()
    s.sha1 = hashlib.sha1(s.der).hexdigest()
    return s


def weak_metric(s):
    m = s.get('/metrics', api=None).body.decode()
    v = re.search(r'^attestd_policy_signer_weak_keys_total (\S+)$', m, re.M)
    return float(v.group(1)) if v else None


def weak_log_lines(s):
    return [l for l in open(s.err_path, errors='replace').read().splitlines()
            if 'RSA key has 1024 bits' in l]


def policy_signer_min_rsa_bits():
    d = tmpdir('claims-rsa-')
    weak = weak_signer(d, 'rsa1024')
    policy = ('version=1.0; authorizationrules { => permit(); }; issuancerules { '
              '=> issue(type="signed-by", value="rsa1024"); };')
    jws = weak.sign({'AttestationPolicy': b64url(policy)})
    with Server() as s:
        r = s.put('/policies/SgxEnclave', jws, headers=TEXT)
        T.eq('RSA-1024 signed policy, default minimum: 400', r.status, 400, repr(r))
        T.check('... the message names the 2048-bit minimum and the key size',
                'at least 2048 bits' in r.error_message and '1024' in r.error_message,
                r.error_message)
        T.eq('... counted nowhere', weak_metric(s), 0.0)
    with Server('--policy-signer-min-rsa-bits', '1024') as s:
        r = s.put('/policies/SgxEnclave', jws, headers=TEXT)
        T.eq('RSA-1024 signed policy with --policy-signer-min-rsa-bits 1024: 200', r.status, 200, repr(r))
        T.eq('... attestd_policy_signer_weak_keys_total 1', weak_metric(s), 1.0)
        lines = weak_log_lines(s)
        T.check('... a warning in the log', len(lines) == 1 and 'warn' in lines[0].lower(), lines)
        g = s.get('/policies/SgxEnclave')
        T.eq('... the policy is in force (GET 200)', g.status, 200, repr(g))
        r = s.put('/policies/SgxEnclave', jws, headers=TEXT)
        T.eq('... each use counts: 2', weak_metric(s), 2.0)
        # a 2048-bit signer is not counted
        strong = Signer(d, 'rsa2048')
        r = s.put('/policies/SgxEnclave', strong.sign({'AttestationPolicy': b64url(policy)}),
                  headers=TEXT)
        T.eq('RSA-2048 signed policy: 200', r.status, 200, repr(r))
        T.eq('... not counted', weak_metric(s), 2.0)
    with Server('--policy-signer-min-rsa-bits', '3072') as s:
        r = s.put('/policies/SgxEnclave', Signer(d, 'rsa2048b').sign(
            {'AttestationPolicy': b64url(policy)}), headers=TEXT)
        T.eq('RSA-2048 signed policy with a minimum of 3072: 400', r.status, 400, repr(r))
        T.check('... the message names 3072', 'at least 3072 bits' in r.error_message, r.error_message)
    for bad in ('1023', '4097', 'x'):
        p = run([ATTESTD, '--policy-signer-min-rsa-bits', bad, '--listen', '127.0.0.1:0',
                 '--data-dir', tmpdir()], timeout=30)
        T.check('--policy-signer-min-rsa-bits %s: refused (exit 2) naming the option' % bad,
                p.returncode == 2 and 'policy-signer-min-rsa-bits' in p.stderr, (p.returncode, p.stderr[-400:]))

    # isolated mode: an RSA-1024 policy management certificate
    signers = os.path.join(d, 'signers.pem')
    open(signers, 'w').write(weak.pem)
    try:
        s = Server(isolated=signers)
        started = True
        s.stop()
    except RuntimeError as ex:
        started = False
        T.check('isolated, RSA-1024 signer, default minimum: the message says why',
                'RSA key has 1024 bits' in str(ex), str(ex)[-600:])
    T.check('isolated, RSA-1024 signer, default minimum: attestd refuses to start', not started)
    with Server('--policy-signer-min-rsa-bits', '1024', isolated=signers) as s:
        T.eq('isolated with 1024: the certificate counted once at start', weak_metric(s), 1.0)
        r = s.put('/policies/SgxEnclave', jws, headers=TEXT)
        T.eq('isolated: RSA-1024 signed policy accepted', r.status, 200, repr(r))
        T.eq('... counted: 2', weak_metric(s), 2.0)
        T.eq('... two warnings', len(weak_log_lines(s)), 2, weak_log_lines(s))


def main():
    T.section(sgx_and_oe)
    T.section(tdx)
    T.section(snp)
    T.section(documented)
    T.section(policy_signer_min_rsa_bits)


if __name__ == '__main__':
    T.run(main)
