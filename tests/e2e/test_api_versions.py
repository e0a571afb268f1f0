#!/usr/bin/env python3
"""test_api_versions.py - MAA's api-versions on a real attestd (issue 15): every version is
accepted on the routes docs/api.md says, and optional (but checked) on /certs, the OpenID
configuration and /servicehealth; errors take the form their version defines (CloudError
{code, message} up to 2023-04-01-preview; from 2025-06-01 Azure Core's ErrorResponse, with
innererror.code = attestd's ATT_E_ name) with x-ms-error-code; GET /servicehealth answers 204;
the types attestd does not serve (AzureGuest, Pluton, KeyGuard, MdepTz, AiHsm) answer 501
NotSupported naming the type on /attest and /policies; certificates:add and :remove take any
certificate (a self-signed CA:false one, as the SDK's own test adds), as the JWS (bare or a JSON
string) or in 2025-06-01's {"policyCertificateToAdd" | "policyCertificateToRemove": JWS}, and
answer the upper-case SHA-1 thumbprint; --isolated-signers takes a CA:false certificate too.
Needs no vector set (an attest under each version is checked when the vector sets are there)."""
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DCAP, PERMIT_POLICY, Results, Server, Signer, b64url, jwt_parts,
                     quote_bytes, tmpdir, vector_sets, is_tdx, verify_token)

T = Results('e2e/test_api_versions')
VERSIONS = ['2020-10-01', '2022-08-01', '2023-04-01-preview', '2025-06-01', '2026-03-11-preview']
AZURE_CORE = {'2025-06-01', '2026-03-11-preview'}  # Azure Core's ErrorResponse form
UNSERVED = ['AzureGuest', 'Pluton', 'KeyGuard', 'MdepTz', 'AiHsm']
TEXT = {'Content-Type': 'text/plain'}


def error_form(what, r, status, code, version, inner=None):
    """The error body as version defines it, and x-ms-error-code. inner: the innererror code
    wanted from 2025-06-01 on (True: any ATT_E_ name; None: no innererror)."""
    T.eq('%s: status' % what, r.status, status, repr(r))
    T.eq('%s: x-ms-error-code' % what, r.headers.get('x-ms-error-code'), code, repr(r))
    e = (r.json or {}).get('error') if isinstance(r.json, dict) else None
    if not T.check('%s: {"error": {...}}' % what, isinstance(e, dict) and
                   set(r.json) == {'error'}, repr(r)):
        return
    T.eq('%s: error.code' % what, e.get('code'), code, repr(r))
    T.check('%s: error.message' % what, isinstance(e.get('message'), str) and e['message'],
            repr(r))
    if version in AZURE_CORE and inner is not None:
        T.eq('%s: Azure Core form (code, message, innererror)' % what, sorted(e),
             ['code', 'innererror', 'message'], repr(r))
        if inner is True:
            T.check('%s: innererror.code is an ATT_E_ name' % what, isinstance(
                e.get('innererror'), dict) and set(e['innererror']) == {'code'} and re.match(
                r'^ATT_E_[A-Z0-9_]+$', e['innererror'].get('code') or ''), repr(r))
        else:
            T.eq('%s: innererror' % what, e.get('innererror'), {'code': inner}, repr(r))
    else:
        T.eq('%s: CloudError form (code, message only)' % what, sorted(e), ['code', 'message'],
             repr(r))


def metadata(s):
    for path in ['/certs', '/.well-known/openid-configuration', '/servicehealth']:
        for v in [None] + VERSIONS:
            r = s.get(path, api=v)
            T.eq('GET %s api-version=%s: answered' % (path, v), r.status,
                 204 if path == '/servicehealth' else 200, repr(r))
        for v in ['1999-12-31', '2026-03-11']:
            r = s.get(path, api=v)
            error_form('GET %s api-version=%s' % (path, v), r, 400, 'InvalidParameter', None)
            T.check('... names the versions', '2026-03-11-preview' in r.error_message, repr(r))
    r = s.get('/servicehealth', api='2026-03-11-preview')
    T.eq('/servicehealth: no body', r.body, b'', repr(r))
    T.check('/servicehealth: x-ms-request-id', r.headers.get('x-ms-request-id'), r.headers)
    r = s.post('/servicehealth', '', api='2026-03-11-preview')
    error_form('POST /servicehealth', r, 405, 'MethodNotAllowed', '2026-03-11-preview')
    r = s.get('/certs', api='2026-03-11-preview')
    T.check('/certs under 2026-03-11-preview: a JWKS', (r.json or {}).get('keys'), repr(r))


def errors(s):
    for v in VERSIONS:
        r = s.post('/attest/SgxEnclave', '{"quote": 5', api=v)
        error_form('malformed attest body under %s' % v, r, 400, 'InvalidParameter', v, True)
        r = s.get('/policies/NoSuchType', api=v)
        error_form('unknown policy type under %s' % v, r, 400, 'InvalidParameter', v, 'ATT_E_ARG')
        r = s.get('/no/such/route', api=v)  # no ATT_E_ name: code and message only
        error_form('404 under %s' % v, r, 404, 'NotFound', v)
    r = s.post('/attest/SgxEnclave', '{"quote": 5', api=None)
    error_form('attest without api-version', r, 400, 'InvalidParameter', None)


def unserved(s):
    for v in VERSIONS:
        for t in UNSERVED:
            for method, path, body in [('POST', '/attest/%s' % t, '{}'),
                                       ('GET', '/policies/%s' % t, None),
                                       ('PUT', '/policies/%s' % t, 'eyJhbGciOiJub25lIn0..'),
                                       ('POST', '/policies/%s:reset' % t, '')]:
                r = s.req(method, path, body, api=v,
                          headers=TEXT if method == 'PUT' or 'reset' in path else None)
                what = '%s %s under %s' % (method, path, v)
                error_form(what, r, 501, 'NotSupported', v, 'ATT_E_UNSUPPORTED')
                T.check('%s: names the type' % what, t in r.error_message, repr(r))
    r = s.post('/attest/pluton', '{}', api='2026-03-11-preview')
    T.eq('/attest/pluton (case-insensitive): 501 NotSupported', (r.status, r.error_code),
         (501, 'NotSupported'), repr(r))
    T.check('... names Pluton', 'Pluton' in r.error_message, repr(r))
    r = s.get('/policies/SgxEnclave', api='2026-03-11-preview')
    T.eq('GET /policies/SgxEnclave under 2026-03-11-preview: 200', r.status, 200, repr(r))


def cert_set(s, v):
    r = s.get('/certificates', api=v)
    if not T.eq('GET /certificates under %s: 200' % v, r.status, 200, repr(r)):
        return []
    ok, c, why = verify_token(r.token, s.jwks(), s.issuer)
    T.check('GET /certificates token verifies', ok, why)
    return [k['x5c'][0] for k in (c.get('x-ms-policy-certificates') or {}).get('keys') or []]


def modified(what, s, r, add, target):
    if not T.eq('%s: 200' % what, r.status, 200, repr(r)):
        return
    ok, c, why = verify_token(r.token, s.jwks(), s.issuer)
    T.check('%s: token verifies' % what, ok, why)
    T.eq('%s: upper-case SHA-1 thumbprint' % what, c.get('x-ms-certificate-thumbprint'),
         target.sha1.upper())
    T.eq('%s: result' % what, c.get('x-ms-policycertificates-result'),
         'IsPresent' if add else 'IsAbsent')


def certificates(s, a, leaf, other):
    """a: the --isolated-signers CA; leaf, other: self-signed CA:false certificates."""
    for v in VERSIONS:
        forms = [('JSON string', lambda j, op: '"%s"' % j), ('bare JWS', lambda j, op: j),
                 ('object', lambda j, op: {'policyCertificateTo' + op.capitalize(): j})]
        for name, body in forms:
            jws = a.sign({'policyCertificate': leaf.jwk()})
            r = s.post('/certificates:add', body(jws, 'add'), api=v)
            modified('add a CA:false certificate (%s, %s)' % (name, v), s, r, True, leaf)
            T.eq('... it is in the set (%s, %s)' % (name, v), sorted(cert_set(s, v)),
                 sorted([a.x5c, leaf.x5c]))
            r = s.post('/certificates:remove', body(jws, 'remove'), api=v)
            modified('remove it (%s, %s)' % (name, v), s, r, False, leaf)
            T.eq('... it is gone (%s, %s)' % (name, v), cert_set(s, v), [a.x5c])
    # the CA:false certificate, once added, is a policy management certificate like any other
    jws = a.sign({'policyCertificate': leaf.jwk()})
    modified('add the CA:false certificate', s,
             s.post('/certificates:add', {'policyCertificateToAdd': jws}, api='2025-06-01'),
             True, leaf)
    r = s.put('/policies/SgxEnclave', leaf.sign({'AttestationPolicy': b64url(PERMIT_POLICY)}),
              headers=TEXT, api='2025-06-01')
    T.eq('PUT signed by the CA:false certificate: 200', r.status, 200, repr(r))
    if r.status == 200:
        T.eq('... x-ms-policy-signer is it', (jwt_parts(r.token)[1].get('x-ms-policy-signer')
                                              or {}).get('x5c'), [leaf.x5c])
    modified('it adds another CA:false certificate', s,
             s.post('/certificates:add', '"%s"' % leaf.sign({'policyCertificate': other.jwk()}),
                    api='2022-08-01'), True, other)
    modified('it removes that one', s,
             s.post('/certificates:remove',
                    {'policyCertificateToRemove': leaf.sign({'policyCertificate': other.jwk()})},
                    api='2026-03-11-preview'), False, other)
    # malformed 2025-06-01 bodies: clear errors, nothing changed
    pem_body = {'policyCertificateToAdd': other.pem}
    bad = [('the remove member posted to :add',
            {'policyCertificateToRemove': a.sign({'policyCertificate': other.jwk()})},
            'certificates:add takes'),
           ('a PEM certificate instead of a JWS', pem_body, 'PEM certificate'),
           ('a JWK instead of a JWS', {'policyCertificateToAdd': '{"kty":"RSA"}'}, 'JWK'),
           ('no member', {}, 'no policyCertificateToAdd member'),
           ('a number', {'policyCertificateToAdd': 5}, 'must be a string'),
           ('an extra member', {'policyCertificateToAdd': a.sign({'policyCertificate':
                                                                  other.jwk()}), 'x': 1},
            "unknown member 'x'"),
           ('JSON that does not parse', '{"policyCertificateToAdd": ', 'neither a JWS'),
           ('an unsigned JWS', {'policyCertificateToAdd': 'eyJhbGciOiJub25lIn0.' +
                                b64url('{"policyCertificate":{}}') + '.'}, 'isolated mode')]
    for what, body, says in bad:
        for v in ['2022-08-01', '2025-06-01']:
            r = s.post('/certificates:add', body, api=v)
            error_form('certificates:add with %s (%s)' % (what, v), r, 400, 'InvalidOperation', v,
                       True)
            T.check('... says so: %r' % says, says in r.error_message, repr(r))
    r = s.post('/certificates:remove',
               {'policyCertificateToAdd': a.sign({'policyCertificate': leaf.jwk()})},
               api='2025-06-01')
    T.eq('the add member posted to :remove: 400 InvalidOperation', (r.status, r.error_code),
         (400, 'InvalidOperation'), repr(r))
    T.check('... says :remove takes policyCertificateToRemove',
            'certificates:remove takes' in r.error_message, repr(r))
    T.eq('refused requests changed nothing', sorted(cert_set(s, '2025-06-01')),
         sorted([a.x5c, leaf.x5c]))


def attest_each_version(s, q):
    for v in VERSIONS:
        r = s.post('/attest/SgxEnclave', {'quote': q}, api=v)
        if T.eq('attest SgxEnclave under %s: 200' % v, r.status, 200, repr(r)):
            ok, _, why = verify_token(r.token, s.jwks(), s.issuer)
            T.check('... its token verifies', ok, why)


def main():
    k = tmpdir()
    a = Signer(k, 'signer-a')
    leaf, other = Signer(k, 'leaf', ca=False), Signer(k, 'other', ca=False)
    # no collateral source: nothing here needs collateral
    with Server() as s:
        T.section(metadata, s)
        T.section(errors, s)
        T.section(unserved, s)
        T.check('server alive', s.alive(), s.log())
    with Server(isolated=a.cert) as s:
        T.section(certificates, s, a, leaf, other)
        T.check('isolated server alive', s.alive(), s.log())
    # --isolated-signers takes a CA:false certificate, as certificates:add does
    with Server(isolated=leaf.cert) as s:
        T.eq('--isolated-signers with a CA:false certificate: the set is it',
             cert_set(s, '2025-06-01'), [leaf.x5c])
        r = s.put('/policies/SgxEnclave', leaf.sign({'AttestationPolicy': b64url(PERMIT_POLICY)}),
                  headers=TEXT, api='2026-03-11-preview')
        T.eq('... and it signs policies: 200', r.status, 200, repr(r))
    sets = [(n, d, e) for n, d, e in vector_sets() if not is_tdx(e) and e['expected']['accept']] \
        if DCAP else []
    if not sets:
        print('SKIP attest under each api-version: no vector sets (docs/testing.md)', flush=True)
        return
    name, d, exp = sets[0]
    with Server(at=exp['verification_time'], collateral_dir=DCAP) as s:
        T.section(attest_each_version, s, b64url(quote_bytes(d)))


if __name__ == '__main__':
    T.run(main)
