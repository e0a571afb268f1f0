#!/usr/bin/env python3
"""test_http.py - every attestd endpoint over loopback with good and bad inputs: api-version rules,
404/405/413, malformed JSON and base64, MAA error bodies and x-ms-request-id on every answer,
/certs, openid configuration, health and metrics."""
import json
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Results, Server, b64url, jwt_parts, oe_report, quote_bytes,
                     sgx_vector, unsigned_jws, verify_token)

T = Results('e2e/test_http')
UUID = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
VERSIONS = ['2020-10-01', '2022-08-01', '2023-04-01-preview', '2025-06-01']


def is_error(r, status, code, what, msg_has=None):
    """An MAA CloudError with the status and code, x-ms-request-id and x-ms-error-code."""
    T.eq('%s: status' % what, r.status, status, repr(r))
    T.eq('%s: error code' % what, r.error_code, code, repr(r))
    T.check('%s: x-ms-request-id' % what, UUID.match(r.headers.get('x-ms-request-id', '')),
            r.headers)
    T.eq('%s: x-ms-error-code' % what, r.headers.get('x-ms-error-code'), code)
    T.check('%s: message' % what, isinstance(r.error_message, str) and r.error_message, repr(r))
    if msg_has:
        T.check('%s: message mentions %r' % (what, msg_has), msg_has.lower() in
                r.error_message.lower(), repr(r))


def api_versions(s, quote):
    body = {'quote': b64url(quote)}
    for v in VERSIONS:
        r = s.post('/attest/SgxEnclave', body, api=v)
        T.eq('attest with api-version %s' % v, r.status, 200, repr(r))
        r = s.get('/policies/SgxEnclave', api=v)
        T.eq('policy get with api-version %s' % v, r.status, 200, repr(r))
    for path, method in [('/attest/SgxEnclave', 'POST'), ('/policies/SgxEnclave', 'GET'),
                         ('/policies/SgxEnclave', 'PUT'), ('/policies/SgxEnclave:reset', 'POST'),
                         ('/certificates', 'GET'), ('/certificates:add', 'POST'),
                         ('/certificates:remove', 'POST')]:
        b = body if path.startswith('/attest') else None
        r = s.req(method, path, b, api=None)
        is_error(r, 400, 'InvalidParameter', '%s %s without api-version' % (method, path),
                 'api-version')
        r = s.req(method, path, b, api='2019-01-01')
        is_error(r, 400, 'InvalidParameter', '%s %s with an unknown api-version' % (method, path),
                 '2022-08-01')
    # metadata: no version, or a known one
    for path in ['/certs', '/certs/', '/.well-known/openid-configuration']:
        for v in [None] + VERSIONS:
            r = s.get(path, api=v)
            T.eq('GET %s api-version=%s' % (path, v), r.status, 200, repr(r))
        r = s.get(path, api='1999-12-31')
        is_error(r, 400, 'InvalidParameter', 'GET %s with an unknown api-version' % path)


def routing(s):
    for path in ['/nope', '/attest', '/attest/SgxEnclave/extra', '/policies', '/certs/x',
                 '/.well-known/nothing']:
        is_error(s.get(path), 404, 'NotFound', 'GET %s' % path)
    for method, path, allow in [('GET', '/attest/SgxEnclave', 'POST'),
                                ('DELETE', '/policies/SgxEnclave', 'GET'),
                                ('POST', '/certs', 'GET'),
                                ('PUT', '/.well-known/openid-configuration', 'GET'),
                                ('GET', '/certificates:add', 'POST'),
                                ('PATCH', '/policies/SgxEnclave', 'PUT')]:
        r = s.req(method, path, None)
        is_error(r, 405, 'MethodNotAllowed', '%s %s' % (method, path))
        T.check('%s %s: Allow names %s' % (method, path, allow), allow in r.headers.get('allow', ''),
                r.headers)
    # a client request id is echoed
    r = s.get('/certs', api=None, headers={'x-ms-client-request-id': 'e2e-client-42'})
    T.eq('x-ms-client-request-id echoed', r.headers.get('x-ms-client-request-id'), 'e2e-client-42')
    T.check('x-ms-request-id on a 200', UUID.match(r.headers.get('x-ms-request-id', '')), r.headers)
    T.check('x-ms-maa-service-version', r.headers.get('x-ms-maa-service-version', '').startswith(
        'attestd/'), r.headers)
    ids = {s.get('/certs', api=None).headers.get('x-ms-request-id') for _ in range(5)}
    T.eq('request ids are fresh', len(ids), 5)


def bad_bodies(s, quote):
    q = b64url(quote)
    cases = [
        ('empty body', b''),
        ('not JSON', b'{"quote": '),
        ('JSON array', b'[1,2]'),
        ('JSON string', b'"abc"'),
        ('duplicate member', ('{"quote":"%s","quote":"%s"}' % (q, q)).encode()),
        ('no quote', b'{"runtimeData":{"data":"AA","dataType":"Binary"}}'),
        ('quote not a string', b'{"quote": 5}'),
        ('empty quote', b'{"quote": ""}'),
        ('quote not base64url', b'{"quote": "@@@@!!!!"}'),
        ('quote standard base64 chars', b'{"quote": "ab+/cd=="}'),
        ('quote is garbage bytes', ('{"quote": "%s"}' % b64url(b'\x03\x00' + b'x' * 600)).encode()),
        ('quote truncated', ('{"quote": "%s"}' % b64url(quote[:700])).encode()),
        ('runtimeData not an object', ('{"quote":"%s","runtimeData":"AA"}' % q).encode()),
        ('runtimeData.data not base64url',
         ('{"quote":"%s","runtimeData":{"data":"**","dataType":"Binary"}}' % q).encode()),
        ('runtimeData.dataType unknown',
         ('{"quote":"%s","runtimeData":{"data":"AA","dataType":"Xml"}}' % q).encode()),
        ('runtimeData JSON that is not JSON',
         ('{"quote":"%s","runtimeData":{"data":"%s","dataType":"JSON"}}' % (q, b64url('{no'))).encode()),
        ('initTimeData.data not base64url',
         ('{"quote":"%s","initTimeData":{"data":"*","dataType":"Binary"}}' % q).encode()),
        ('nonce not a string', ('{"quote":"%s","nonce":7}' % q).encode()),
    ]
    for what, body in cases:
        r = s.post('/attest/SgxEnclave', body)
        is_error(r, 400, 'InvalidParameter', 'attest: %s' % what)
    # draft policy that does not parse
    r = s.post('/attest/SgxEnclave', {'quote': q, 'draftPolicyForAttestation': 'version=1.0; nope'})
    is_error(r, 400, 'PolicyParsingError', 'attest: bad draftPolicyForAttestation')
    # OpenEnclave reads `report`, not `quote`
    r = s.post('/attest/OpenEnclave', {'quote': b64url(oe_report(quote))})
    is_error(r, 400, 'InvalidParameter', 'OpenEnclave without report', 'report')
    r = s.post('/attest/OpenEnclave', {'report': b64url(b'\x01\x00\x00\x00' + b'\x00' * 12)})
    is_error(r, 400, 'InvalidParameter', 'OpenEnclave header with no quote')
    bad = bytearray(oe_report(quote))
    bad[0] = 9
    r = s.post('/attest/OpenEnclave', {'report': b64url(bytes(bad))})
    is_error(r, 400, 'InvalidParameter', 'OpenEnclave header version 9')
    # TDX endpoint with an SGX quote
    r = s.post('/attest/TdxVm', {'quote': q})
    is_error(r, 400, 'InvalidParameter', 'TdxVm with an SGX quote')
    # unknown / unsupported types
    r = s.post('/attest/Banana', {'quote': q})
    is_error(r, 400, 'InvalidParameter', 'attest an unknown type', 'Banana')
    # Tpm is MAA's multi-round protocol: {"data": b64url(JSON)}; test_tpm.py runs it whole
    r = s.post('/attest/Tpm', {'report': q, 'data': q})
    is_error(r, 400, 'InvalidParameter', 'attest Tpm with data that is no protocol message')
    T.check('attest Tpm: request id', 'x-ms-request-id' in r.headers)
    r = s.post('/attest/Tpm', {'data': b64url(json.dumps({'payload': {'type': 'aikcert'}}).encode())})
    T.eq('attest Tpm round 1: 200', r.status, 200, repr(r))
    r = s.post('/attest/Tpm', {'data': b64url(json.dumps({'request': 5}).encode())})
    T.check('attest Tpm round 2 that is no request: a clear 400', r.status == 400 and
            'service_context' in r.error_message, repr(r))
    r = s.post('/attest/Tpm', {'data': b64url(json.dumps({'request': 'x'}).encode())})
    T.check('attest Tpm round 2 whose JWS is none: a clear 400', r.status == 400 and
            'compact JWS' in r.error_message, repr(r))
    r = s.get('/policies/Banana')
    is_error(r, 400, 'InvalidParameter', 'policy get of an unknown type')
    r = s.put('/policies/SgxEnclave', b'', headers={'Content-Type': 'text/plain'})
    is_error(r, 400, 'InvalidParameter', 'policy put with an empty body')
    for bad in ['version=1.0; authorizationrules { => permit(); ',
                'version=1.0; authorizationrules { => frobnicate(); }; issuancerules { };']:
        r = s.put('/policies/SgxEnclave', bad, headers={'Content-Type': 'text/plain'})
        is_error(r, 400, 'PolicyParsingError', 'policy put of text that does not parse: %r' % bad)
        r = s.put('/policies/SgxEnclave', unsigned_jws({'AttestationPolicy': b64url(bad)}),
                  headers={'Content-Type': 'text/plain'})
        is_error(r, 400, 'PolicyParsingError', 'policy put of a JWS whose text does not parse')
    r = s.put('/policies/SgxEnclave', unsigned_jws({'NotAPolicy': 'x'}),
              headers={'Content-Type': 'text/plain'})
    T.eq('policy put JWS without AttestationPolicy: 400', r.status, 400, repr(r))
    r = s.put('/policies/SgxEnclave', 'eyJhbGciOiJIUzI1NiJ9.' + b64url('{"AttestationPolicy":"x"}')
              + '.c2ln', headers={'Content-Type': 'text/plain'})
    T.eq('policy put HS256 JWS: 400', r.status, 400, repr(r))
    r = s.post('/certificates:add', '"' + unsigned_jws({'policyCertificate': {}}) + '"')
    is_error(r, 400, 'InvalidOperation', 'certificates:add outside isolated mode')
    r = s.get('/certificates')
    T.eq('certificates outside isolated mode: 200', r.status, 200, repr(r))
    if r.status == 200:
        _, c, _ = jwt_parts(r.token)
        T.eq('certificates outside isolated mode: empty set',
             c.get('x-ms-policy-certificates'), {'keys': []})


def body_limit(s, quote):
    big = b'{"quote":"' + b'A' * (70 * 1024) + b'"}'
    r = s.post('/attest/SgxEnclave', big)
    is_error(r, 413, 'RequestEntityTooLarge', 'attest with a body over --max-body')
    r = s.put('/policies/SgxEnclave', b'x' * (70 * 1024), headers={'Content-Type': 'text/plain'})
    is_error(r, 413, 'RequestEntityTooLarge', 'policy put with a body over --max-body')
    r = s.post('/attest/SgxEnclave', {'quote': b64url(quote)})
    T.eq('the server still answers after 413', r.status, 200, repr(r))


def metadata(s):
    r = s.get('/certs', api=None)
    T.eq('/certs: 200', r.status, 200, repr(r))
    T.check('/certs: JSON content type', 'json' in r.headers.get('content-type', ''), r.headers)
    keys = (r.json or {}).get('keys') or []
    T.eq('/certs: one key', len(keys), 1, repr(r))
    for k in keys:
        T.eq('/certs: kty', k.get('kty'), 'RSA')
        T.check('/certs: kid is base64 of a SHA-256', isinstance(k.get('kid'), str) and
                len(k['kid']) == 44 and k['kid'].endswith('='), k)
        T.check('/certs: x5c', isinstance(k.get('x5c'), list) and len(k['x5c']) >= 1, k)
        T.check('/certs: n and e', k.get('n') and k.get('e'), k)
    r2 = s.get('/certs/', api=None)
    T.eq('/certs/ = /certs', r2.json, r.json)
    r = s.get('/.well-known/openid-configuration', api=None)
    T.eq('openid: 200', r.status, 200, repr(r))
    o = r.json or {}
    T.eq('openid: issuer', o.get('issuer'), s.issuer)
    T.eq('openid: jwks_uri', o.get('jwks_uri'), s.issuer + '/certs')
    T.check('openid: RS256', 'RS256' in (o.get('id_token_signing_alg_values_supported') or []), o)
    T.check('openid: response_types_supported', 'token' in (o.get('response_types_supported') or []),
            o)
    T.check('openid: claims_supported', isinstance(o.get('claims_supported'), list), o)
    # every URL the metadata advertises answers (issue 16: /revoke was advertised and 404)
    for k, v in sorted(o.items()):
        if k.endswith('_uri') or k.endswith('_endpoint'):
            T.check('openid: %s is on this issuer' % k, str(v).startswith(s.issuer + '/'), v)
            u = s.get(str(v)[len(s.issuer):], api=None)
            T.check('openid: %s answers (not 404)' % k, u.status != 404, repr(u))
    # jwks_uri from the discovery document is fetchable and verifies a policy token
    r = s.get('/policies/SgxEnclave')
    ok, c, why = verify_token(r.token, s.jwks(), s.issuer)
    T.check('policy token verifies against jwks_uri', ok, why)


def health(s):
    r = s.get('/healthz', api=None)
    T.eq('/healthz', (r.status, (r.json or {}).get('status')), (200, 'ok'))
    r = s.get('/readyz', api=None)
    T.eq('/readyz', (r.status, (r.json or {}).get('status')), (200, 'ready'))
    r = s.get('/metrics', api=None)
    T.eq('/metrics: 200', r.status, 200)
    text = r.body.decode()
    for name in ['attestd_http_requests_total', 'attestd_attest_outcomes_total',
                 'attestd_http_request_duration_seconds_bucket', 'attestd_build_info']:
        T.check('/metrics has %s' % name, name in text, text[:500])
    T.check('/metrics counts an attest OK',
            re.search(r'attestd_attest_outcomes_total\{[^}]*code="OK"[^}]*\} [1-9]', text) or
            re.search(r'attestd_attest_outcomes_total\{[^}]*type="SgxEnclave"[^}]*\} [1-9]', text),
            text[:2000])


def main():
    name, d, exp = sgx_vector()
    quote = quote_bytes(d)
    with Server('--max-body', '64k', at=exp['verification_time'],
                collateral_dir=os.path.dirname(d)) as s:
        T.section(metadata, s)
        T.section(api_versions, s, quote)
        T.section(routing, s)
        T.section(bad_bodies, s, quote)
        T.section(body_limit, s, quote)
        T.section(health, s)
        T.check('server alive at the end', s.alive(), s.log())
        rc = s.stop()
        T.eq('SIGTERM: exit 0', rc, 0, s.log())


if __name__ == '__main__':
    T.run(main)
