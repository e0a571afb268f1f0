#!/usr/bin/env python3
"""test_isolated.py - isolated mode (--isolated-signers): only policies signed by a policy
management certificate are accepted; GET /certificates, POST /certificates:add and :remove with
signed requests and every claim-name variant; the last certificate cannot be removed. The signer
certificates are self-signed CAs made with the openssl command, the JWSs are RS256 with x5c."""
import base64
import hashlib
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ATTESTD, DCAP, DENY_POLICY, PERMIT_POLICY, Results, Server, Signer, b64url, jwt_parts,
                     policy_jws_unsigned, quote_bytes, sgx_vector, tmpdir, unsigned_jws,
                     verify_token)

T = Results('e2e/test_isolated')
TEXT = {'Content-Type': 'text/plain'}
VARIANTS = ['policyCertificate', 'maa-policyCertificate', 'x-ms-policyCertificate',
            'aas-policyCertificate']


def cert_set(s):
    r = s.get('/certificates')
    if not T.eq('GET /certificates: 200', r.status, 200, repr(r)):
        return []
    ok, c, why = verify_token(r.token, s.jwks(), s.issuer)
    T.check('GET /certificates token verifies', ok, why)
    keys = (c.get('x-ms-policy-certificates') or {}).get('keys')
    T.check('x-ms-policy-certificates is a JWKS', isinstance(keys, list), c)
    return [k['x5c'][0] for k in keys or []]


def change(s, op, signer, target, claim='policyCertificate', wrap=True):
    jws = signer.sign({claim: target.jwk()})
    body = '"%s"' % jws if wrap else jws
    return s.post('/certificates:' + op, body)


def modified(what, s, r, op, target):
    if not T.eq('%s: 200' % what, r.status, 200, repr(r)):
        return
    ok, c, why = verify_token(r.token, s.jwks(), s.issuer)
    T.check('%s: token verifies' % what, ok, why)
    T.eq('%s: x-ms-certificate-thumbprint' % what,
         (c.get('x-ms-certificate-thumbprint') or '').lower(), target.sha1)
    T.eq('%s: x-ms-policycertificates-result' % what, c.get('x-ms-policycertificates-result'),
         'IsPresent' if op == 'add' else 'IsAbsent')


def isolated(s, a, b, u, leaf, q):
    T.eq('initial set = the --isolated-signers file', cert_set(s), [a.x5c])

    # policies must be signed by a management certificate
    r = s.put('/policies/SgxEnclave', policy_jws_unsigned(DENY_POLICY), headers=TEXT)
    T.eq('unsigned PUT: 400', r.status, 400, repr(r))
    T.eq('unsigned PUT: InvalidOperation', r.error_code, 'InvalidOperation', repr(r))
    r = s.put('/policies/SgxEnclave', DENY_POLICY, headers=TEXT)
    T.eq('raw text PUT: 400', r.status, 400, repr(r))
    r = s.put('/policies/SgxEnclave', u.sign({'AttestationPolicy': b64url(DENY_POLICY)}),
              headers=TEXT)
    T.eq('PUT signed by an unknown key: 400', r.status, 400, repr(r))
    T.eq('PUT signed by an unknown key: InvalidParameter', r.error_code, 'InvalidParameter')
    r = s.post('/attest/SgxEnclave', {'quote': q})
    T.eq('refused PUTs changed nothing: attest 200', r.status, 200, repr(r))

    jws = a.sign({'AttestationPolicy': b64url(DENY_POLICY)})
    r = s.put('/policies/SgxEnclave', jws, headers=TEXT)
    if T.eq('PUT signed by the signer: 200', r.status, 200, repr(r)):
        c = jwt_parts(r.token)[1]
        T.eq('signed PUT: Updated', c.get('x-ms-policy-result'), 'Updated')
        T.eq('signed PUT: token hash', c.get('x-ms-policy-token-hash'),
             b64url(hashlib.sha256(jws.encode()).digest()))
        T.eq('signed PUT: signer', (c.get('x-ms-policy-signer') or {}).get('x5c'), [a.x5c])
    r = s.post('/attest/SgxEnclave', {'quote': q})
    T.eq('signed deny policy in force', r.error_code, 'PolicyEvaluationError', repr(r))
    r = s.post('/policies/SgxEnclave:reset', 'eyJhbGciOiJub25lIn0..', headers=TEXT)
    T.eq('unsigned reset: 400 InvalidOperation', (r.status, r.error_code),
         (400, 'InvalidOperation'), repr(r))
    r = s.post('/policies/SgxEnclave:reset', '', headers=TEXT)
    T.eq('empty reset: 400 InvalidOperation', (r.status, r.error_code), (400, 'InvalidOperation'),
         repr(r))
    r = s.post('/policies/SgxEnclave:reset', u.sign(''), headers=TEXT)
    T.eq('reset signed by an unknown key: 400', r.status, 400, repr(r))
    r = s.post('/policies/SgxEnclave:reset', a.sign(''), headers=TEXT)
    if T.eq('reset signed by the signer: 200', r.status, 200, repr(r)):
        T.eq('signed reset: Removed', jwt_parts(r.token)[1].get('x-ms-policy-result'), 'Removed')
    r = s.post('/attest/SgxEnclave', {'quote': q})
    T.eq('after a signed reset: attest 200', r.status, 200, repr(r))

    # certificates:add / :remove with every claim name, wrapped and bare
    for i, claim in enumerate(VARIANTS):
        wrap = i % 2 == 0
        r = change(s, 'add', a, b, claim, wrap)
        modified('add B with %s%s' % (claim, ' (JSON string)' if wrap else ' (bare JWS)'), s, r,
                 'add', b)
        T.eq('after add (%s): set = A, B' % claim, sorted(cert_set(s)), sorted([a.x5c, b.x5c]))
        r = change(s, 'add', a, b, claim, wrap)
        modified('add B again (%s) is idempotent' % claim, s, r, 'add', b)
        r = change(s, 'remove', a, b, claim, not wrap)
        modified('remove B with %s' % claim, s, r, 'remove', b)
        T.eq('after remove (%s): set = A' % claim, cert_set(s), [a.x5c])

    r = change(s, 'add', u, b)
    T.eq('add signed by an unknown key: 400', r.status, 400, repr(r))
    r = s.post('/certificates:add', '"%s"' % unsigned_jws({'policyCertificate': b.jwk()}))
    T.eq('unsigned add: 400 InvalidOperation', (r.status, r.error_code),
         (400, 'InvalidOperation'), repr(r))
    r = s.post('/certificates:add', '"%s"' % a.sign({'somethingElse': b.jwk()}))
    T.eq('add without a policyCertificate claim: 400 InvalidOperation',
         (r.status, r.error_code), (400, 'InvalidOperation'), repr(r))
    r = s.post('/certificates:add', '"%s"' % a.sign({'policyCertificate': {'kty': 'RSA',
                                                                           'x5c': ['AAAA']}}))
    T.eq('add a JWK whose x5c is not a certificate: 400', r.status, 400, repr(r))
    r = s.post('/certificates:add', 'not a jws')
    T.eq('add with a body that is not a JWS: 400', r.status, 400, repr(r))
    T.eq('refused adds changed nothing', cert_set(s), [a.x5c])

    # B, once added, can manage policies and certificates
    modified('add B', s, change(s, 'add', a, b), 'add', b)
    r = s.put('/policies/SgxEnclave', b.sign({'AttestationPolicy': b64url(PERMIT_POLICY)}),
              headers=TEXT)
    T.eq('PUT signed by the added certificate: 200', r.status, 200, repr(r))
    r = s.post('/attest/SgxEnclave', {'quote': q})
    if T.eq('attest under B\'s policy: 200', r.status, 200, repr(r)):
        c = jwt_parts(r.token)[1]
        T.eq('issued claim', c.get('e2e-marker'), 'permitted')
        T.eq('attest token names the policy signer',
             (c.get('x-ms-policy-signer') or {}).get('x5c'), [b.x5c])
    modified('B removes A', s, change(s, 'remove', b, a), 'remove', a)
    r = s.put('/policies/SgxEnclave', a.sign({'AttestationPolicy': b64url(DENY_POLICY)}),
              headers=TEXT)
    T.eq('A, removed, can no longer PUT: 400', r.status, 400, repr(r))
    r = change(s, 'remove', b, b)
    T.eq('removing the last certificate: 400', r.status, 400, repr(r))
    T.check('removing the last certificate: says so', 'last' in r.error_message, repr(r))
    T.eq('the last certificate stays', cert_set(s), [b.x5c])
    r = change(s, 'remove', b, leaf)
    T.eq('removing an absent certificate: 200', r.status, 200, repr(r))
    modified('B adds A back', s, change(s, 'add', b, a), 'add', a)


def key_cert(d, name, newkey):
    """A self-signed CA certificate with the given openssl -newkey argument; its x5c value."""
    key, cert = os.path.join(d, name + '.key'), os.path.join(d, name + '.pem')
    r = subprocess.run(['openssl', 'req', '-x509', '-newkey', newkey, '-nodes', '-sha256',
                        '-keyout', key, '-out', cert, '-days', '30', '-subj', '/CN=' + name,
                        '-addext', 'basicConstraints=critical,CA:TRUE'],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError('openssl req %s: %s' % (newkey, r.stderr))
    der = subprocess.run(['openssl', 'x509', '-in', cert, '-outform', 'DER'], capture_output=True,
                         timeout=30).stdout
    return cert, base64.b64encode(der).decode()


def signed_requests(s, a, q, k):
    """What a signed request authorises (issue 10, item 3): the operation, the type, freshness."""
    deny = a.sign({'AttestationPolicy': b64url(DENY_POLICY)})
    r = s.put('/policies/SgxEnclave', deny, headers=TEXT)
    T.eq('signed deny policy set: 200', r.status, 200, repr(r))
    r = s.get('/policies/SgxEnclave')
    stored = jwt_parts(r.token)[1].get('x-ms-policy') if r.status == 200 else None
    T.eq('GET hands out the signed policy JWS (x-ms-policy)', stored, deny)
    # the policy JWS that anyone may read cannot reset, cannot be set for another type and is
    # not a certificate change
    r = s.post('/policies/SgxEnclave:reset', stored, headers=TEXT)
    T.eq('x-ms-policy posted to :reset: 400 InvalidOperation', (r.status, r.error_code),
         (400, 'InvalidOperation'), repr(r))
    T.check('... says it is a set request', 'AttestationPolicy' in r.error_message, repr(r))
    r = s.post('/attest/SgxEnclave', {'quote': q})
    T.eq('the deny policy is still in force', r.error_code, 'PolicyEvaluationError', repr(r))
    r = s.put('/policies/TdxVm', stored, headers=TEXT)
    T.eq('SgxEnclave\'s signed policy PUT for TdxVm: 400 InvalidOperation',
         (r.status, r.error_code), (400, 'InvalidOperation'), repr(r))
    T.check('... names the type it was made for', 'policy.set SgxEnclave' in r.error_message,
            repr(r))
    r = s.get('/policies/TdxVm')
    T.check('TdxVm keeps its default policy', jwt_parts(r.token)[1].get('x-ms-policy') != deny,
            repr(r))
    r = s.post('/certificates:add', '"%s"' % stored)
    T.eq('x-ms-policy posted to certificates:add: 400', r.status, 400, repr(r))
    # a retry that changes nothing is answered; a rollback is not
    r = s.put('/policies/SgxEnclave', deny, headers=TEXT)
    T.eq('the same signed PUT again (a retry, no change): 200', r.status, 200, repr(r))
    permit = a.sign({'AttestationPolicy': b64url(PERMIT_POLICY)})
    r = s.put('/policies/SgxEnclave', permit, headers=TEXT)
    T.eq('a new signed policy: 200', r.status, 200, repr(r))
    r = s.put('/policies/SgxEnclave', deny, headers=TEXT)
    T.eq('the replaced signed policy again (rollback): 400 InvalidOperation',
         (r.status, r.error_code), (400, 'InvalidOperation'), repr(r))
    r = s.post('/attest/SgxEnclave', {'quote': q})
    T.eq('the new policy stays in force: attest 200', r.status, 200, repr(r))
    # a reset carries an empty payload (or claims without a policy) and may be repeated
    for i in range(2):
        r = s.post('/policies/SgxEnclave:reset', a.sign(''), headers=TEXT)
        T.eq('signed reset #%d: 200' % (i + 1), r.status, 200, repr(r))
    # freshness: exp and nbf are enforced, and must be numbers
    now = int(time.time())
    for what, claims, want in [('exp in the past', {'exp': now - 3600}, 'expired'),
                               ('nbf in the future', {'nbf': now + 3600}, 'not valid before'),
                               ('iat in the future', {'iat': now + 3600}, 'future'),
                               ('exp as a string', {'exp': str(now + 60)}, 'integer')]:
        c = dict(claims, AttestationPolicy=b64url(DENY_POLICY + ' '))
        r = s.put('/policies/SgxEnclave', a.sign(c), headers=TEXT)
        T.eq('signed PUT with %s: 400' % what, r.status, 400, repr(r))
        T.check('... says so (%s)' % want, want in r.error_message, repr(r))
    r = s.put('/policies/SgxEnclave', a.sign({'exp': now + 600,
                                              'AttestationPolicy': b64url(DENY_POLICY)}),
              headers=TEXT)
    T.eq('signed PUT with a future exp: 200', r.status, 200, repr(r))
    # certificates whose key could never sign a policy (issue 10, item 10)
    for name, newkey, why in [('rsa1024', 'rsa:1024', '1024 bits'),
                              ('p384', 'ec:' + ec_params(k, 'secp384r1'), 'secp384r1')]:
        cert, x5c = key_cert(k, name, newkey)
        r = s.post('/certificates:add', '"%s"' % a.sign({'policyCertificate': {'kty': 'RSA',
                                                                               'x5c': [x5c]}}))
        T.eq('certificates:add of a %s certificate: 400 InvalidParameter' % name,
             (r.status, r.error_code), (400, 'InvalidParameter'), repr(r))
        T.check('... says why (%s)' % why, why in r.error_message, repr(r))
    T.eq('refused adds changed nothing', cert_set(s), [a.x5c])


def ec_params(k, curve):
    path = os.path.join(k, curve + '.param')
    subprocess.run(['openssl', 'ecparam', '-name', curve, '-out', path], check=True, timeout=30)
    return path


def max_age(s, a):
    """--policy-jws-max-age 300: signed requests need a recent iat."""
    now = int(time.time())
    pol = b64url(DENY_POLICY)
    r = s.put('/policies/SgxEnclave', a.sign({'AttestationPolicy': pol}), headers=TEXT)
    T.eq('max-age: signed PUT without iat: 400', r.status, 400, repr(r))
    T.check('... says iat is needed', 'iat' in r.error_message, repr(r))
    r = s.put('/policies/SgxEnclave', a.sign({'iat': now - 3600, 'AttestationPolicy': pol}),
              headers=TEXT)
    T.eq('max-age: signed PUT with an hour-old iat: 400', r.status, 400, repr(r))
    r = s.put('/policies/SgxEnclave', a.sign({'iat': now, 'AttestationPolicy': pol}),
              headers=TEXT)
    T.eq('max-age: signed PUT with a fresh iat: 200', r.status, 200, repr(r))
    r = s.post('/policies/SgxEnclave:reset', a.sign(''), headers=TEXT)
    T.eq('max-age: signed reset without iat: 400', r.status, 400, repr(r))
    r = s.post('/policies/SgxEnclave:reset', a.sign({'iat': now}), headers=TEXT)
    T.eq('max-age: signed reset with a fresh iat: 200', r.status, 200, repr(r))


def main():
    name, d, exp = sgx_vector()
    q = b64url(quote_bytes(d))
    k = tmpdir()
    a, b, u = Signer(k, 'signer-a'), Signer(k, 'signer-b'), Signer(k, 'untrusted')
    leaf = Signer(k, 'leaf', ca=False)
    data = tmpdir()
    with Server(at=exp['verification_time'], collateral_dir=DCAP, isolated=a.cert,
                data_dir=data) as s:
        T.section(isolated, s, a, b, u, leaf, q)
        T.check('server alive', s.alive(), s.log())
    # the set lives in the store: a restart keeps it (the file only seeds an empty store)
    with Server(at=exp['verification_time'], collateral_dir=DCAP, isolated=a.cert,
                data_dir=data) as s:
        T.eq('after a restart the set is kept', sorted(cert_set(s)), sorted([a.x5c, b.x5c]))
        r = s.put('/policies/SgxEnclave', policy_jws_unsigned(DENY_POLICY), headers=TEXT)
        T.eq('after a restart unsigned PUT is still refused', r.status, 400, repr(r))
    # a non-CA certificate as policy signer: taken, as MAA takes any certificate (issue 15)
    with Server(at=exp['verification_time'], collateral_dir=DCAP, isolated=leaf.cert,
                data_dir=os.path.join(data, 'noca')) as s:
        T.eq('attestd takes a non-CA --isolated-signers certificate', cert_set(s), [leaf.x5c])
    with Server(at=exp['verification_time'], collateral_dir=DCAP, isolated=a.cert) as s:
        T.section(signed_requests, s, a, q, k)
    with Server('--policy-jws-max-age', '300', at=exp['verification_time'], collateral_dir=DCAP,
                isolated=a.cert) as s:
        T.section(max_age, s, a)
    # a signer certificate whose key could never sign a policy is refused at start
    p384, _ = key_cert(k, 'p384-signer', 'ec:' + ec_params(k, 'secp384r1'))
    p = subprocess.run([ATTESTD, '--listen', '127.0.0.1:0', '--data-dir', os.path.join(data, 'p384'),
                        '--isolated-signers', p384], capture_output=True, text=True, timeout=30)
    T.eq('attestd refuses a P-384 --isolated-signers certificate: exit 1', p.returncode, 1,
         p.stderr)
    T.check('... and says why', 'could never sign a policy' in p.stderr, p.stderr)
    # --trust-root gives each root to the evidence verifiers whose chains can end at it (DCAP:
    # P-256, SEV-SNP: RSA); a P-384 root no verifier takes would sit unused, so it is refused
    p = subprocess.run([ATTESTD, '--listen', '127.0.0.1:0', '--data-dir',
                        os.path.join(data, 'tr-p384'), '--trust-root', p384],
                       capture_output=True, text=True, timeout=30)
    T.eq('attestd refuses a P-384 --trust-root: exit 1', p.returncode, 1, p.stderr)
    T.check('... naming the file and what each verifier takes',
            p384 in p.stderr and 'P-256' in p.stderr and 'RSA' in p.stderr, p.stderr)
    with Server(at=exp['verification_time'], collateral_dir=DCAP, isolated=a.cert) as s:
        modified('certificates:add of a non-CA certificate (as MAA)', s, change(s, 'add', a, leaf),
                 'add', leaf)

if __name__ == '__main__':
    T.run(main)
