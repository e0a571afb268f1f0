#!/usr/bin/env python3
"""test_policy.py - policies over loopback: GET, PUT (unsigned JWS, raw text, signed JWS), reset,
their effect on attestation (deny -> 400 PolicyEvaluationError with the explanation), the
policy token hash, persistence across a restart, per-type independence, and `attestd keys rotate`
run against the data dir of a live server."""
import base64
import hashlib
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ATTESTD, DCAP, DENY_POLICY, PERMIT_POLICY, Results, Server, Signer, b64url,
                     b64url_dec, jwt_parts, policy_jws_unsigned, quote_bytes, run, sgx_vector,
                     tmpdir, verify_token)

T = Results('e2e/test_policy')
TEXT = {'Content-Type': 'text/plain'}


def stored_policy_text(s, typ='SgxEnclave'):
    r = s.get('/policies/' + typ)
    if r.status != 200:
        return None, r
    ok, c, why = verify_token(r.token, s.jwks(), s.issuer)
    T.check('GET /policies/%s token verifies' % typ, ok, why)
    pol = c.get('x-ms-policy')
    h, body, sig = jwt_parts(pol)
    return b64url_dec(body['AttestationPolicy']).decode(), c


def attest(s, q):
    return s.post('/attest/SgxEnclave', {'quote': q})


def policies(s, q, exp):
    jwks = s.jwks()
    # default policy
    text, c = stored_policy_text(s)
    T.check('default SGX policy text', text and 'permit()' in text and 'sgx-mrsigner' in text, text)
    h = jwt_parts(c['x-ms-policy'])[0]
    T.eq('default policy stored unsigned', h, {'alg': 'none'})
    T.check('default policy: no signer', 'x-ms-policy-signer' not in c, c)
    r = attest(s, q)
    T.eq('attest with the default policy: 200', r.status, 200, repr(r))
    default_hash = jwt_parts(r.token)[1].get('x-ms-policy-hash')
    # the token's x-ms-policy-hash follows MAA's formula: b64url(sha256(b64url(text)))
    T.eq('x-ms-policy-hash = b64url(SHA-256(AttestationPolicy))', default_hash,
         b64url(hashlib.sha256(b64url(text).encode()).digest()))

    # PUT an unsigned deny policy (JWS)
    jws = policy_jws_unsigned(DENY_POLICY)
    r = s.put('/policies/SgxEnclave', jws, headers=TEXT)
    if T.eq('PUT unsigned JWS: 200', r.status, 200, repr(r)):
        ok, c, why = verify_token(r.token, jwks, s.issuer)
        T.check('PUT token verifies', ok, why)
        T.eq('PUT: x-ms-policy-result', c.get('x-ms-policy-result'), 'Updated')
        T.eq('PUT: x-ms-policy-token-hash = b64url(SHA-256(body))', c.get('x-ms-policy-token-hash'),
             b64url(hashlib.sha256(jws.encode()).digest()))
        T.check('PUT unsigned: no x-ms-policy-signer', 'x-ms-policy-signer' not in c, c)
    text, c = stored_policy_text(s)
    T.eq('GET after PUT returns the text', text, DENY_POLICY)
    T.eq('GET after PUT returns the JWS as sent', c.get('x-ms-policy'), jws)
    r = attest(s, q)
    T.eq('attest under the deny policy: 400', r.status, 400, repr(r))
    T.eq('deny: PolicyEvaluationError', r.error_code, 'PolicyEvaluationError', repr(r))
    T.check('deny: MAA message', 'A Deny claim was issued, authorization failed.' in
            r.error_message, repr(r))
    T.check('deny: explanation names the failed rule', 'is-debuggable' in r.error_message and
            len(r.error_message) > len('A Deny claim was issued, authorization failed.') + 5,
            repr(r))
    # another type is not affected
    text_oe, _ = stored_policy_text(s, 'OpenEnclave')
    T.check('OpenEnclave policy unaffected', text_oe != DENY_POLICY, text_oe)
    # a draft policy overrides the stored deny
    r = s.post('/attest/SgxEnclave', {'quote': q, 'draftPolicyForAttestation': PERMIT_POLICY})
    T.eq('draft permit policy under a stored deny: 200', r.status, 200, repr(r))
    if r.status == 200:
        T.eq('draft token: alg none', jwt_parts(r.token)[0].get('alg'), 'none')
    # a draft policy is compiled only once the evidence has verified (issue 10, item 1): with
    # evidence that does not verify, a broken or huge draft costs nothing and is not reported
    huge = 'version=1.0; authorizationrules {' + '=>permit();' * 40000 + '};'
    for what, draft in [('a draft with a syntax error', 'version=1.0; authorizationrules {'),
                        ('a 440 kB one-line draft', huge)]:
        r = s.post('/attest/SgxEnclave', {'quote': 'AAAA', 'draftPolicyForAttestation': draft})
        T.eq('bad evidence with %s: the evidence error, 400 InvalidParameter' % what,
             (r.status, r.error_code), (400, 'InvalidParameter'), repr(r))
        T.check('... naming the evidence', 'evidence' in r.error_message, repr(r))
    r = s.post('/attest/SgxEnclave', {'quote': q, 'draftPolicyForAttestation':
                                      'version=1.0; authorizationrules {'})
    T.eq('good evidence with a broken draft: 400 PolicyParsingError', (r.status, r.error_code),
         (400, 'PolicyParsingError'), repr(r))
    r = s.post('/attest/SgxEnclave', {'quote': q, 'draftPolicyForAttestation': 7})
    T.eq('a draft that is not a string: 400 InvalidParameter', (r.status, r.error_code),
         (400, 'InvalidParameter'), repr(r))

    # PUT raw policy text
    r = s.put('/policies/SgxEnclave', PERMIT_POLICY, headers=TEXT)
    if T.eq('PUT raw text: 200', r.status, 200, repr(r)):
        c = jwt_parts(r.token)[1]
        T.eq('PUT raw text: Updated', c.get('x-ms-policy-result'), 'Updated')
        stored = stored_policy_text(s)[1].get('x-ms-policy')
        T.eq('PUT raw text: token hash over the stored JWS', c.get('x-ms-policy-token-hash'),
             b64url(hashlib.sha256(stored.encode()).digest()))
    text, _ = stored_policy_text(s)
    T.eq('GET after raw text PUT', text, PERMIT_POLICY)
    r = attest(s, q)
    if T.eq('attest under the raw-text permit policy: 200', r.status, 200, repr(r)):
        ok, c, why = verify_token(r.token, jwks, s.issuer)
        T.check('token verifies', ok, why)
        T.eq('issued claim from the policy', c.get('e2e-marker'), 'permitted')
        T.check('policy hash changed', c.get('x-ms-policy-hash') != default_hash, c)
        T.eq('x-ms-policy-hash of the new policy', c.get('x-ms-policy-hash'),
             b64url(hashlib.sha256(b64url(PERMIT_POLICY).encode()).digest()))

    # whitespace around a JWS body, and a JSON-string wrapped body
    r = s.put('/policies/SgxEnclave', '  ' + jws + '\n', headers=TEXT)
    T.eq('PUT JWS with surrounding whitespace: 200', r.status, 200, repr(r))

    # PUT signed (AAD mode: any valid signature, signer reported)
    signer = Signer(tmpdir(), 'aad-signer')
    sjws = signer.sign({'AttestationPolicy': b64url(PERMIT_POLICY)})
    r = s.put('/policies/SgxEnclave', sjws, headers=TEXT)
    if T.eq('PUT signed JWS (not isolated): 200', r.status, 200, repr(r)):
        c = jwt_parts(r.token)[1]
        T.eq('signed PUT: x-ms-policy-signer x5c', (c.get('x-ms-policy-signer') or {}).get('x5c'),
             [signer.x5c])
        T.eq('signed PUT: token hash', c.get('x-ms-policy-token-hash'),
             b64url(hashlib.sha256(sjws.encode()).digest()))
        _, g = stored_policy_text(s)
        T.eq('GET: signer reported', (g.get('x-ms-policy-signer') or {}).get('x5c'), [signer.x5c])
        r = attest(s, q)
        T.eq('attest under a signed policy: 200', r.status, 200, repr(r))
        if r.status == 200:
            T.eq('attest token: x-ms-policy-signer', (jwt_parts(r.token)[1].get(
                'x-ms-policy-signer') or {}).get('x5c'), [signer.x5c])
    bad = sjws[:-8] + ('AAAAAAAA' if not sjws.endswith('AAAAAAAA') else 'BBBBBBBB')
    r = s.put('/policies/SgxEnclave', bad, headers=TEXT)
    T.eq('PUT with a bad signature: 400', r.status, 400, repr(r))

    # reset
    r = s.post('/policies/SgxEnclave:reset', 'eyJhbGciOiJub25lIn0..', headers=TEXT)
    if T.eq('reset: 200', r.status, 200, repr(r)):
        ok, c, why = verify_token(r.token, jwks, s.issuer)
        T.check('reset token verifies', ok, why)
        T.eq('reset: Removed', c.get('x-ms-policy-result'), 'Removed')
        T.check('reset: no token hash', 'x-ms-policy-token-hash' not in c, c)
    r = attest(s, q)
    T.eq('attest after reset: 200', r.status, 200, repr(r))
    if r.status == 200:
        T.eq('after reset the default policy hash is back',
             jwt_parts(r.token)[1].get('x-ms-policy-hash'), default_hash)
    r = s.post('/policies/SgxEnclave:reset', '', headers=TEXT)
    T.eq('reset with an empty body (not isolated): 200', r.status, 200, repr(r))
    r = s.post('/policies/SgxEnclave:reset', 'garbage', headers=TEXT)
    T.eq('reset with a garbage body: 400', r.status, 400, repr(r))

    # TdxVm policy is independent and settable
    r = s.put('/policies/TdxVm', policy_jws_unsigned('version=1.0; authorizationrules { => deny(); };'
                                                      ' issuancerules { };'), headers=TEXT)
    T.eq('PUT TdxVm policy: 200', r.status, 200, repr(r))
    r = attest(s, q)
    T.eq('SGX attest unaffected by the TdxVm policy: 200', r.status, 200, repr(r))
    r = s.post('/policies/TdxVm:reset', 'eyJhbGciOiJub25lIn0..', headers=TEXT)
    T.eq('reset TdxVm: 200', r.status, 200, repr(r))


def persistence(q, exp):
    d = tmpdir()
    with Server(data_dir=d, at=exp['verification_time'], collateral_dir=DCAP) as s:
        s.put('/policies/SgxEnclave', policy_jws_unsigned(DENY_POLICY), headers=TEXT)
        kid = s.jwks()['keys'][0]['kid']
    with Server(data_dir=d, at=exp['verification_time'], collateral_dir=DCAP) as s:
        text, _ = stored_policy_text(s)
        T.eq('policy survives a restart', text, DENY_POLICY)
        T.eq('signing key survives a restart', s.jwks()['keys'][0]['kid'], kid)
        r = attest(s, q)
        T.eq('deny still in force after a restart', r.error_code, 'PolicyEvaluationError', repr(r))


def rotation(q, exp):
    d = tmpdir()
    with Server(data_dir=d, at=exp['verification_time'], collateral_dir=DCAP) as s:
        keys = s.jwks()['keys']
        T.eq('one key before rotation', len(keys), 1)
        old = keys[0]['kid']
        r = attest(s, q)
        T.eq('token before rotation carries the old kid', jwt_parts(r.token)[0].get('kid'), old)
        old_token = r.token
        rr = run([ATTESTD, '--data-dir', d, '--issuer', s.issuer, 'keys', 'rotate'], timeout=60)
        T.eq('attestd keys rotate: exit 0', rr.returncode, 0, rr.stderr)
        T.check('keys rotate names the new key', 'new signing key' in rr.stdout, rr.stdout)
        deadline = time.time() + 8
        keys = []
        while time.time() < deadline:
            keys = s.jwks()['keys']
            if len(keys) == 2:
                break
            time.sleep(0.25)
        T.eq('within ~6 s /certs shows 2 keys', len(keys), 2, keys)
        new = [k['kid'] for k in keys if k['kid'] != old]
        T.check('the old kid is still published', any(k['kid'] == old for k in keys), keys)
        if new:
            r = attest(s, q)
            h = jwt_parts(r.token)[0]
            T.eq('new tokens carry the new kid', h.get('kid'), new[0])
            ok, _, why = verify_token(r.token, s.jwks(), s.issuer)
            T.check('a new token verifies', ok, why)
            ok, _, why = verify_token(old_token, s.jwks(), s.issuer)
            T.check('a token signed before rotation still verifies', ok, why)
            r = s.get('/policies/SgxEnclave')
            T.eq('policy tokens carry the new kid', jwt_parts(r.token)[0].get('kid'), new[0])
            cert = [k for k in keys if k['kid'] == new[0]][0]['x5c'][0]
            x = subprocess.run(['openssl', 'x509', '-inform', 'DER', '-noout', '-subject'],
                               input=base64.b64decode(cert), stdout=subprocess.PIPE, timeout=20)
            T.check('new certificate names the issuer', s.issuer.encode() in x.stdout, x.stdout)
            kid = base64.b64encode(hashlib.sha256(base64.b64decode(cert)).digest()).decode()
            T.eq('kid = base64(SHA-256(cert DER))', new[0], kid)
    with Server(data_dir=d, at=exp['verification_time'], collateral_dir=DCAP) as s:
        T.eq('after a restart both keys are published', len(s.jwks()['keys']), 2)
        r = attest(s, q)
        T.check('after a restart the new key signs', new and jwt_parts(r.token)[0].get('kid') ==
                new[0], repr(r))


def main():
    name, d, exp = sgx_vector()
    q = b64url(quote_bytes(d))
    with Server(at=exp['verification_time'], collateral_dir=DCAP) as s:
        T.section(policies, s, q, exp)
        T.check('server alive', s.alive(), s.log())
    T.section(persistence, q, exp)
    T.section(rotation, q, exp)


if __name__ == '__main__':
    T.run(main)
