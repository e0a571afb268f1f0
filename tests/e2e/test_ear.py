#!/usr/bin/env python3
"""test_ear.py - EAR answers over HTTP (docs/ear.md): a simulated SGX enclave whose quote binds its
runtime data, attested by the real attestd on loopback. Accept: application/eat+jwt answers
200 application/eat+jwt with the JWT itself (eat_profile parameter), signed by the key /certs
publishes (the MAA token's kid), verified by the relying party's `attest token verify`; the
trust vector says what the verdict says (simulated: hardware warning; runtime data bound:
instance-identity affirming; an enclave: runtime-opaque affirming); MAA's JSON stays the answer
without that Accept, with wildcards and when JSON is preferred; a policy denial is a
contraindicated EAR (MAA's answer stays 400); bad evidence is MAA's error either way."""
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ATTEST, Results, Server, b64url, jwt_parts, policy_jws_unsigned,  # noqa: E402
                     run, tmpdir, verify_token)

T = Results('e2e/test_ear')
EAR = 'application/eat+jwt'
PROFILE = 'tag:github.com,2023:veraison/ear'
RUNTIME = json.dumps({'keys': [{'kid': 'enclave-key', 'kty': 'oct', 'k': 'AAEC'}]}).encode()
TV = ('instance-identity', 'configuration', 'executables', 'file-system', 'hardware',
      'runtime-opaque', 'storage-opaque', 'sourced-data')
DENY = ('version=1.0; authorizationrules { [type=="x-ms-sgx-svn", value >= 1000] => permit(); }; '
        'issuancerules { };')


def ear_shape(what, c):
    """draft-ietf-rats-ear's JSON CDDL: the members, their types and ranges."""
    T.eq('%s: eat_profile' % what, c.get('eat_profile'), PROFILE)
    T.check('%s: iat is an integer' % what, isinstance(c.get('iat'), int), c)
    vid = c.get('ear.verifier-id') or {}
    T.check('%s: ear.verifier-id {developer, build}' % what,
            isinstance(vid.get('developer'), str) and isinstance(vid.get('build'), str), vid)
    sub = c.get('submods')
    T.check('%s: submods is a non-empty object' % what, isinstance(sub, dict) and sub, c)
    for name, a in (sub or {}).items():
        T.check('%s: %s ear.status is a tier' % (what, name),
                a.get('ear.status') in ('none', 'affirming', 'warning', 'contraindicated'), a)
        tv = a.get('ear.trustworthiness-vector', {})
        T.check('%s: %s vector: AR4SI names, integers -128..127' % (what, name),
                tv and all(k in TV and isinstance(v, int) and -128 <= v <= 127
                           for k, v in tv.items()), tv)


def main():
    d = tmpdir('ear-')
    sim = os.path.join(d, 'sim')
    T.eq('attest sim init', run([ATTEST, 'sim', 'init', sim]).returncode, 0)
    rt = os.path.join(d, 'runtime.json')
    open(rt, 'wb').write(RUNTIME)
    q = os.path.join(d, 'quote.bin')
    p = run([ATTEST, 'evidence', '--provider', 'sim', '--sim-dir', sim, '--runtime-data', rt,
             '--raw', '--out', q])
    T.eq('attest evidence (sim SGX quote binding the runtime data)', p.returncode, 0, p.stderr)
    body = {'quote': b64url(open(q, 'rb').read()),
            'runtimeData': {'data': b64url(RUNTIME), 'dataType': 'Binary'},
            'nonce': 'ear-e2e-nonce-0001'}
    with Server('--trust-root', os.path.join(sim, 'trust_root.pem'),
                collateral_dir=os.path.join(sim, 'collateral')) as s:
        jwks = s.jwks()
        m = s.post('/attest/SgxEnclave', body)
        T.eq('MAA answer: 200', m.status, 200, repr(m))
        T.check('MAA answer: JSON {"token"}', m.headers.get('content-type', '').startswith(
            'application/json') and m.token, m.headers)

        e = s.post('/attest/SgxEnclave', body, headers={'Accept': EAR})
        T.eq('EAR answer: 200', e.status, 200, repr(e))
        ct = e.headers.get('content-type', '')
        T.check('EAR answer: content type application/eat+jwt with our eat_profile',
                ct.startswith(EAR) and PROFILE in ct, ct)
        tok = e.body.decode().strip()
        T.eq('EAR answer: the body is the compact JWT itself', tok.count('.'), 2, tok[:80])
        T.eq('EAR answer: Vary: Accept', e.headers.get('vary'), 'Accept', e.headers)
        T.eq('MAA answer: Vary: Accept', m.headers.get('vary'), 'Accept', m.headers)
        ok, c, why = verify_token(tok, jwks, s.issuer)
        T.check('EAR verifies with /certs (RS256, jku, kid, signature, iss, times)', ok, why)
        T.eq('EAR and MAA token: same kid', jwt_parts(tok)[0].get('kid'),
             jwt_parts(m.token)[0].get('kid'))
        ear_shape('EAR', c or {})
        a = ((c or {}).get('submods') or {}).get('SgxEnclave') or {}
        tv = a.get('ear.trustworthiness-vector', {})
        T.eq('simulated evidence: hardware 32 (warning)', tv.get('hardware'), 32, a)
        T.eq('runtime data bound: instance-identity 2', tv.get('instance-identity'), 2, a)
        T.eq('an enclave: runtime-opaque 2', tv.get('runtime-opaque'), 2, a)
        T.eq('status: warning', a.get('ear.status'), 'warning', a)
        T.eq('eat_nonce', (c or {}).get('eat_nonce'), 'ear-e2e-nonce-0001')
        maa = a.get('ear.attestd.maa-claims', {})
        T.eq('MAA claims in the submod: x-ms-sgx-mrenclave',
             maa.get('x-ms-sgx-mrenclave'), jwt_parts(m.token)[1].get('x-ms-sgx-mrenclave'))

        # the relying party's CLI accepts it as it is
        f = os.path.join(d, 'ear.jwt')
        open(f, 'w').write(tok)
        p = run([ATTEST, 'token', 'verify', f, '--issuer', s.issuer,
                 '--expect', 'eat_profile=' + PROFILE])
        T.eq('attest token verify accepts the EAR', p.returncode, 0, p.stdout + p.stderr)
        # --ear: an EAR of our profile, every status affirming (or warning), eat_nonce
        for args, rc, what in (([], 1, 'a warning is refused by --ear'),
                               (['--ear-accept-warning'], 0, '--ear-accept-warning accepts it'),
                               (['--ear-accept-warning', '--nonce', 'ear-e2e-nonce-0001'], 0,
                                'the nonce is eat_nonce'),
                               (['--ear-accept-warning', '--nonce', 'another-nonce-0002'], 1,
                                'another nonce is refused')):
            p = run([ATTEST, 'token', 'verify', f, '--issuer', s.issuer, '--ear'] + args)
            T.eq('attest token verify --ear: %s' % what, p.returncode, rc, p.stdout + p.stderr)
        T.check('--ear prints the appraisal', 'EAR SgxEnclave: warning' in p.stdout, p.stdout)
        mf = os.path.join(d, 'maa.jwt')
        open(mf, 'w').write(m.token)
        p = run([ATTEST, 'token', 'verify', mf, '--issuer', s.issuer, '--ear',
                 '--ear-accept-warning'])
        T.eq('attest token verify --ear refuses an MAA token', p.returncode, 1, p.stdout)
        T.check('... saying it is not an EAR', 'not an EAR' in p.stdout, p.stdout)

        for accept, ear in (('*/*', False), ('application/*', False),
                            ('application/json, %s;q=0.5' % EAR, False),
                            ('application/json;q=0.5, %s' % EAR, True),
                            ('%s; eat_profile="tag:example.com,2024:other"' % EAR, False)):
            r = s.post('/attest/SgxEnclave', body, headers={'Accept': accept})
            got = r.headers.get('content-type', '').startswith(EAR)
            T.eq('Accept: %s -> %s' % (accept, 'EAR' if ear else 'MAA JSON'), (r.status, got),
                 (200, ear), repr(r))

        # evidence that does not verify: MAA's error, as JSON, in both
        bad = dict(body, quote=b64url(b'\x03\x00' + b'\x00' * 100))
        r = s.post('/attest/SgxEnclave', bad, headers={'Accept': EAR})
        T.eq('bad evidence with Accept EAR: 400 InvalidParameter', (r.status, r.error_code),
             (400, 'InvalidParameter'), repr(r))

        # a policy denial: MAA 400; EAR 200 contraindicated, signed, with the reason
        r = s.put('/policies/SgxEnclave', policy_jws_unsigned(DENY),
                  headers={'Content-Type': 'text/plain'})
        T.eq('deny policy set', r.status, 200, repr(r))
        r = s.post('/attest/SgxEnclave', body)
        T.eq('denied, MAA: 400 PolicyEvaluationError', (r.status, r.error_code),
             (400, 'PolicyEvaluationError'), repr(r))
        r = s.post('/attest/SgxEnclave', body, headers={'Accept': EAR})
        T.eq('denied, EAR: 200', r.status, 200, repr(r))
        ok, c, why = verify_token(r.body.decode().strip(), jwks, s.issuer)
        T.check('denied EAR verifies', ok, why)
        a = ((c or {}).get('submods') or {}).get('SgxEnclave') or {}
        T.eq('denied EAR: contraindicated', a.get('ear.status'), 'contraindicated', a)
        T.check('denied EAR: the reason names the rule\'s claim',
                'x-ms-sgx-svn' in a.get('ear.attestd.policy-denied', ''), a)
        f = os.path.join(d, 'denied.jwt')
        open(f, 'w').write(r.body.decode())
        p = run([ATTEST, 'token', 'verify', f, '--issuer', s.issuer, '--ear',
                 '--ear-accept-warning'])
        T.eq('attest token verify --ear refuses a contraindicated EAR', p.returncode, 1, p.stdout)


if __name__ == '__main__':
    T.run(main)
