#!/usr/bin/env python3
"""test_auth.py - access tokens on attestd's routes, over loopback, against two small OpenID
providers run in this process (discovery + JWKS over http.server; RS256 tokens signed with
`openssl dgst -sha256 -sign`). With --auth-issuer: anonymous attestation still works (and judges
evidence at --at while access tokens are judged at the wall clock); policies need the reader role
to read and the admin role to change (403 naming the role); missing, other scheme, malformed,
tampered, unpublished key, other audience, expired, not yet valid and unconfigured issuer tokens
are 401 with the reason and a WWW-Authenticate challenge; /certs, discovery, /healthz, /readyz and
/metrics stay anonymous; failures are counted on /metrics. With --auth-attest required (issuers
given in the environment, ',' separated): attestation needs any valid token, from either issuer.
A hanging identity provider (JWKS accepted, never answered) with a stream of junk tokens of
invented kids: anonymous attestation and /healthz still answer in < 2 s and the provider gets one
discovery and one JWKS request (issues 10.6, 18.B2). Options: a missing audience exits 2."""
import http.server
import json
import os
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ATTESTD, DCAP, Results, Server, b64url, quote_bytes, run, sgx_vector,
                     tmpdir, unsigned_jws)

T = Results('e2e/test_auth')
AUD = 'api://attestd'
READ, ADMIN = 'attestation.read', 'attestation.admin'
PERMIT = ('version=1.0; authorizationrules { => permit(); }; issuancerules { };')


class Key:
    """An RSA-2048 key made with openssl; .jwk is its public JWK."""

    def __init__(self, d, kid):
        self.kid = kid
        self.path = os.path.join(d, kid + '.key')
        r = run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048',
                 '-out', self.path])
        if r.returncode != 0:
            raise RuntimeError('openssl genpkey: ' + r.stderr)
        r = run(['openssl', 'rsa', '-in', self.path, '-noout', '-modulus'])
        n = int(r.stdout.strip().split('=', 1)[1], 16)
        self.jwk = {'kty': 'RSA', 'use': 'sig', 'alg': 'RS256', 'kid': kid, 'e': 'AQAB',
                    'n': b64url(n.to_bytes((n.bit_length() + 7) // 8, 'big'))}

    def sign(self, claims, header=None):
        h = {'alg': 'RS256', 'typ': 'at+jwt', 'kid': self.kid}
        h.update(header or {})
        si = b64url(json.dumps(h, separators=(',', ':'))) + '.' + \
            b64url(json.dumps(claims, separators=(',', ':')))
        r = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', self.path], input=si.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        if r.returncode != 0:
            raise RuntimeError('openssl dgst: ' + r.stderr.decode())
        return si + '.' + b64url(r.stdout)


class Idp:
    """An OpenID provider on 127.0.0.1: discovery and JWKS, and tokens signed by its key."""

    def __init__(self, d, name):
        self.key = Key(d, name + '-k1')
        self.jwks_hits = 0
        idp = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == '/.well-known/openid-configuration':
                    body = {'issuer': idp.url, 'jwks_uri': idp.url + '/jwks',
                            'token_endpoint': idp.url + '/token',
                            'id_token_signing_alg_values_supported': ['RS256']}
                elif self.path == '/jwks':
                    idp.jwks_hits += 1
                    body = {'keys': [idp.key.jwk]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.httpd.daemon_threads = True
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def claims(self, roles=None, aud=AUD, ttl=300, nbf=None, **extra):
        now = int(time.time())
        c = {'iss': self.url, 'sub': 'client-e2e', 'aud': aud, 'iat': now - 5,
             'nbf': now - 5 if nbf is None else nbf, 'exp': now + ttl, 'client_id': 'e2e'}
        if roles is not None:
            c['roles'] = roles
        c.update(extra)
        return c

    def token(self, roles=None, key=None, **kw):
        return (key or self.key).sign(self.claims(roles, **kw))


def bearer(tok):
    return {'Authorization': 'Bearer ' + tok}


def refused(what, r, status, code, reason_words, challenge_error='invalid_token'):
    T.eq('%s: %d' % (what, status), r.status, status, repr(r))
    T.eq('%s: code %s' % (what, code), r.error_code, code, repr(r))
    T.eq('%s: x-ms-error-code' % what, r.headers.get('x-ms-error-code'), code)
    for w in reason_words:
        T.check('%s: message says %r' % (what, w), w in r.error_message, r.error_message)
    wa = r.headers.get('www-authenticate', '')
    if challenge_error is None:
        T.eq('%s: WWW-Authenticate' % what, wa, 'Bearer realm="attestd"')
    else:
        T.check('%s: WWW-Authenticate error=%s with a description' % (what, challenge_error),
                wa.startswith('Bearer realm="attestd", error="%s", error_description="'
                              % challenge_error) and wa.endswith('"'), wa)


def anonymous_attest_and_roles(s, a, b, q):
    # anonymous endpoints
    for path in ('/certs', '/.well-known/openid-configuration'):
        T.eq('GET %s anonymous: 200' % path, s.get(path, api=None).status, 200)
    for path in ('/healthz', '/readyz', '/metrics'):
        T.eq('GET %s anonymous: 200' % path, s.get(path, api=None).status, 200)
    # attestation stays anonymous (evidence judged at --at, a date in the past)
    r = s.post('/attest/SgxEnclave', {'quote': q})
    T.eq('attest without a token (anonymous mode): 200', r.status, 200, repr(r))
    r = s.post('/attest/SgxEnclave', {'quote': q}, headers=bearer('garbage'))
    T.eq('attest with a junk token (anonymous mode: not read): 200', r.status, 200, repr(r))

    # reading policies
    r = s.get('/policies/SgxEnclave')
    refused('GET policy without a token', r, 401, 'Unauthorized', ['access token is required',
                                                                   'read policies'], None)
    r = s.get('/policies/SgxEnclave', headers=bearer(a.token()))
    refused('GET policy with a token without roles', r, 403, 'Forbidden',
            ['"attestation.read"', 'read policies'], 'insufficient_scope')
    r = s.get('/policies/SgxEnclave', headers=bearer(a.token([READ])))
    T.eq('GET policy with the reader role: 200', r.status, 200, repr(r))
    T.check('GET policy with the reader role: a token', bool(r.token), repr(r))
    r = s.get('/policies/SgxEnclave', headers=bearer(a.token([ADMIN])))
    T.eq('GET policy with the admin role (implies reader): 200', r.status, 200, repr(r))
    r = s.get('/certificates', headers=bearer(a.token([READ])))
    T.check('GET /certificates with the reader role: not refused', r.status not in (401, 403),
            repr(r))
    r = s.get('/certificates')
    refused('GET /certificates without a token', r, 401, 'Unauthorized', [], None)

    # changing policies
    body = unsigned_jws({'AttestationPolicy': b64url(PERMIT)})
    text = {'Content-Type': 'text/plain'}
    r = s.put('/policies/SgxEnclave', body, headers=dict(text, **bearer(a.token([READ]))))
    refused('PUT policy with the reader role', r, 403, 'Forbidden',
            ['"attestation.admin"', 'change policies'], 'insufficient_scope')
    r = s.put('/policies/SgxEnclave', body, headers=text)
    refused('PUT policy without a token', r, 401, 'Unauthorized', [], None)
    r = s.put('/policies/SgxEnclave', body, headers=dict(text, **bearer(a.token([ADMIN]))))
    T.eq('PUT policy with the admin role: 200', r.status, 200, repr(r))
    r = s.post('/policies/SgxEnclave:reset', body, headers=dict(text, **bearer(a.token([READ]))))
    refused('reset policy with the reader role', r, 403, 'Forbidden', ['"attestation.admin"'],
            'insufficient_scope')
    r = s.post('/policies/SgxEnclave:reset', body, headers=dict(text, **bearer(a.token([ADMIN]))))
    T.eq('reset policy with the admin role: 200', r.status, 200, repr(r))
    r = s.post('/certificates:add', '"x"', headers=bearer(a.token([READ])))
    refused('certificates:add with the reader role', r, 403, 'Forbidden', ['"attestation.admin"'],
            'insufficient_scope')
    r = s.post('/certificates:remove', '"x"', headers=bearer(a.token([ADMIN])))
    T.check('certificates:remove with the admin role: not refused', r.status not in (401, 403),
            repr(r))
    # roles as a space-separated string
    r = s.get('/policies/SgxEnclave', headers=bearer(a.token('openid ' + READ)))
    T.eq('GET policy, roles as a string: 200', r.status, 200, repr(r))


def bad_tokens(s, a, b, d):
    def get(headers):
        return s.get('/policies/SgxEnclave', headers=headers)

    good = a.token([ADMIN])
    h, p, sig = good.split('.')
    forged = a.claims([ADMIN], sub='someone-else')
    tampered = h + '.' + b64url(json.dumps(forged, separators=(',', ':'))) + '.' + sig
    refused('tampered token', get(bearer(tampered)), 401, 'Unauthorized',
            ['signature', 'does not verify'])
    # a key the issuer never published, under the published kid and under its own
    rogue = Key(d, 'rogue')
    t = rogue.sign(a.claims([ADMIN]), {'kid': a.key.kid})
    refused('token signed by an unpublished key (published kid)', get(bearer(t)), 401,
            'Unauthorized', ['signature'])
    t = rogue.sign(a.claims([ADMIN]))
    refused('token signed by an unpublished key (its own kid)', get(bearer(t)), 401,
            'Unauthorized', ['(kid)', '"rogue"', 'not in the issuer'])
    refused('wrong audience', get(bearer(a.token([ADMIN], aud='api://other'))), 401,
            'Unauthorized', ['(audience)', 'api://attestd'])
    t = a.token([ADMIN], aud=['account', AUD])
    T.eq('audience in an array: 200', get(bearer(t)).status, 200)
    refused('expired token', get(bearer(a.token([ADMIN], ttl=-120))), 401, 'Unauthorized',
            ['(expired)', 'exp'])
    refused('token not yet valid', get(bearer(a.token([ADMIN], nbf=int(time.time()) + 600))),
            401, 'Unauthorized', ['(not_yet_valid)', 'nbf'])
    refused('token of an unconfigured issuer', get(bearer(b.token([ADMIN]))), 401,
            'Unauthorized', ['(issuer)', b.url, 'not a configured issuer'])
    refused('Basic credentials', get({'Authorization': 'Basic ZTJlOmUyZQ=='}), 401,
            'Unauthorized', ['"Basic" scheme'])
    refused('malformed token', get(bearer('abc.def')), 401, 'Unauthorized', ['(malformed)'])
    t = 'eyJhbGciOiJub25lIn0.' + b64url(json.dumps(a.claims([ADMIN]))) + '.'
    refused('alg none', get(bearer(t)), 401, 'Unauthorized', ['(alg)', 'unsigned'])

    m = s.get('/metrics', api=None).body.decode()
    for reason in ('missing', 'role', 'signature', 'kid', 'audience', 'expired', 'issuer'):
        T.check('metrics count %s failures' % reason,
                'attestd_auth_failures_total{reason="%s"}' % reason in m,
                [l for l in m.splitlines() if 'auth' in l])
    T.check('IdP JWKS fetched a bounded number of times', 1 <= a.jwks_hits <= 3, a.jwks_hits)
    T.eq('unconfigured IdP never contacted', b.jwks_hits, 0)


def required_attest(a, b, q, exp):
    env = {'ATTESTD_AUTH_ISSUER': a.url + ', ' + b.url, 'ATTESTD_AUTH_AUDIENCE': AUD,
           'ATTESTD_AUTH_ATTEST': 'required'}
    with Server(at=exp['verification_time'], collateral_dir=DCAP, extra_env=env) as s:
        r = s.post('/attest/SgxEnclave', {'quote': q})
        refused('attest without a token (required)', r, 401, 'Unauthorized',
                ['required to attest'], None)
        r = s.post('/attest/SgxEnclave', {'quote': q}, headers=bearer(a.token()))
        T.eq('attest with a token without roles (required): 200', r.status, 200, repr(r))
        r = s.post('/attest/SgxEnclave', {'quote': q}, headers=bearer(b.token()))
        T.eq('attest with a token of the second issuer (env list): 200', r.status, 200, repr(r))
        r = s.post('/attest/SgxEnclave', {'quote': q}, headers=bearer(a.token(ttl=-120)))
        refused('attest with an expired token (required)', r, 401, 'Unauthorized', ['(expired)'])
        r = s.get('/certs', api=None)
        T.eq('/certs anonymous with attest required: 200', r.status, 200)
        T.check('server alive', s.alive(), s.log())


def options():
    r = run([ATTESTD, '--auth-issuer', 'http://127.0.0.1:9', '--data-dir', tmpdir()])
    T.eq('--auth-issuer without --auth-audience: exit 2', r.returncode, 2, r.stderr)
    T.check('... says so', '--auth-audience' in r.stderr, r.stderr)
    r = run([ATTESTD, '--help'])
    T.check('--help lists the auth options', all(o in r.stdout for o in (
        '--auth-issuer', '--auth-audience', '--auth-roles-claim', '--auth-reader-role',
        '--auth-admin-role', '--auth-attest')), r.stdout)


class HangingIdp:
    """An OpenID provider whose discovery answers but whose JWKS request is accepted and never
    answered (issues 10.6 and 18.B2); it counts both."""

    def __init__(self):
        self.disc_hits = self.jwks_hits = 0
        self.release = threading.Event()
        idp = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == '/.well-known/openid-configuration':
                    idp.disc_hits += 1
                    data = json.dumps({'issuer': idp.url, 'jwks_uri': idp.url + '/jwks'}).encode()
                    self.send_response(200)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                idp.jwks_hits += 1
                self.release.wait(120)  # hang: never answer while the test runs

            def log_message(self, *a):
                pass

        H.release = self.release
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.httpd.daemon_threads = True
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def junk_token(self):
        """An RS256 token of this issuer with an invented kid and a random signature."""
        h = {'alg': 'RS256', 'kid': 'invented-' + os.urandom(6).hex()}
        now = int(time.time())
        c = {'iss': self.url, 'aud': AUD, 'exp': now + 300, 'roles': [ADMIN]}
        return (b64url(json.dumps(h, separators=(',', ':'))) + '.' +
                b64url(json.dumps(c, separators=(',', ':'))) + '.' + b64url(os.urandom(256)))


def hanging_idp(q, exp):
    """A hanging JWKS and a stream of junk tokens with invented kids (about 9 a second on
    PUT /policies) must not slow anonymous attestation or /healthz, and attestd asks the
    provider for its keys once (--auth-jwks-backoff 60 s outlasts the test)."""
    h = HangingIdp()
    body = unsigned_jws({'AttestationPolicy': b64url(PERMIT)})
    with Server('--auth-issuer', h.url, '--auth-audience', AUD, '--threads', '2',
                '--auth-jwks-timeout', '5', at=exp['verification_time'],
                collateral_dir=DCAP) as s:
        stop = threading.Event()
        junk = []

        def stream():
            while not stop.is_set():
                t0 = time.monotonic()
                r = s.put('/policies/SgxEnclave', body,
                          headers={'Content-Type': 'text/plain',
                                   'Authorization': 'Bearer ' + h.junk_token()})
                junk.append((r.status, time.monotonic() - t0, r.error_message))
                stop.wait(0.33)

        streams = [threading.Thread(target=stream, daemon=True) for _ in range(3)]
        for t in streams:
            t.start()
        time.sleep(0.5)  # the first junk token has started the key fetch that hangs
        worst = {'attest': 0.0, 'healthz': 0.0}
        for _ in range(10):
            t0 = time.monotonic()
            r = s.post('/attest/SgxEnclave', {'quote': q})
            worst['attest'] = max(worst['attest'], time.monotonic() - t0)
            T.eq('anonymous attest during the junk stream: 200', r.status, 200, repr(r))
            t0 = time.monotonic()
            r = s.get('/healthz', api=None)
            worst['healthz'] = max(worst['healthz'], time.monotonic() - t0)
            T.eq('/healthz during the junk stream: 200', r.status, 200)
            time.sleep(0.5)
        stop.set()
        for t in streams:
            t.join(40)
        print('  junk tokens: %d, slowest %.2f s; slowest anonymous attest %.3f s, /healthz '
              '%.3f s; provider: %d discovery, %d JWKS requests'
              % (len(junk), max(j[1] for j in junk), worst['attest'], worst['healthz'],
                 h.disc_hits, h.jwks_hits))
        T.check('anonymous attest answered promptly (< 2 s)', worst['attest'] < 2.0, worst)
        T.check('/healthz answered promptly (< 2 s)', worst['healthz'] < 2.0, worst)
        T.check('every junk token refused with 401', all(j[0] == 401 for j in junk),
                [j for j in junk if j[0] != 401][:3])
        # one junk token waits for the fetch (--auth-jwks-waiters 1); a connection that
        # libmicrohttpd gave the same worker thread before that waits behind it
        T.check('junk tokens refused without waiting (all but the waiter and those queued on '
                'its worker thread answered in < 2 s)', sum(1 for j in junk if j[1] >= 2.0) <= 3,
                sorted(j[1] for j in junk)[-4:])
        T.check('the refusals say why no key fetch happens',
                any('backoff after a failed fetch' in j[2] for j in junk) and
                any('being fetched' in j[2] or 'backoff' in j[2] for j in junk),
                [j[2] for j in junk[:3]])
        T.eq('the provider got one JWKS request', h.jwks_hits, 1)
        T.eq('the provider got one discovery request', h.disc_hits, 1)
        T.check('server alive', s.alive(), s.log())
    h.release.set()
    h.httpd.shutdown()


def main():
    d = tmpdir('attestd-auth-')
    a, b = Idp(d, 'idp-a'), Idp(d, 'idp-b')
    name, vd, exp = sgx_vector()
    q = b64url(quote_bytes(vd))
    with Server('--auth-issuer', a.url, '--auth-audience', AUD, at=exp['verification_time'],
                collateral_dir=DCAP) as s:
        T.section(anonymous_attest_and_roles, s, a, b, q)
        T.section(bad_tokens, s, a, b, d)
        T.check('server alive', s.alive(), s.log())
    T.section(required_attest, a, b, q, exp)
    T.section(hanging_idp, q, exp)
    T.section(options)


if __name__ == '__main__':
    T.run(main)
