#!/usr/bin/env python3
"""test_workflow.py - the five-step workflow end to end, and its failures (issue 5, `make demo`).

Real components on loopback: the sim platform's collateral server (`attest sim collateral-server`),
an OpenID Connect provider (npm oidc-provider through scripts/demo-oidc.mjs, installed into
BUILD/demo-node; a python stdlib token endpoint when node/npm are missing), attestd, the client
(`attest run/evidence/submit`) and the example relying party (BUILD/bin/attest-rp-example).

The flow: nonce from the relying party, evidence binding the enclave's public key, access token
(client credentials), attestation token, secret released wrapped to the enclave key and unwrapped
with openssl - with runtime data as Binary PEM (x-ms-sgx-ehd), Binary DER, and JSON {"jwk"}
(x-ms-runtime.jwk). The failures: no access token and a token for another audience (401 from
attestd; only when attestd has --auth-issuer), tampered quote, runtime data not matching the report
data, policy denial with its explanation reaching the client, a token signed by a key attestd never
published (and alg none), an expired token, a replayed / unknown / expired nonce, wrong measurements,
simulated evidence without --allow-simulated. Prints "N passed, M failed".
"""
import base64
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (ATTEST, ATTESTD, DENY_POLICY, REPO, Results, Server, b64url, b64url_dec,  # noqa: E402
                     jwt_parts, policy_jws_unsigned, request, run, tmpdir)

T = Results('e2e/test_workflow')
BIN = os.path.dirname(ATTESTD)
RP_BIN = os.path.join(BIN, 'attest-rp-example')
BUILD = os.environ.get('BUILD') or os.path.dirname(BIN)
AUD = 'api://attestd'
OTHER_AUD = 'api://another-service'
ADMIN_ROLE = 'attestation.admin'
MRENCLAVE = bytes((0x10 + i) & 255 for i in range(32)).hex()  # att_sim_quote_opts_default
MRSIGNER = bytes((0x80 + i) & 255 for i in range(32)).hex()
# WORKFLOW_AUTH=off runs the flow as if attestd had no authentication options (the gated path);
# WORKFLOW_IDP=python forces the python token endpoint (the path taken without node/npm).
AUTH = '--auth-issuer' in run([ATTESTD, '--help']).stdout and os.environ.get('WORKFLOW_AUTH') != 'off'
FORCE_PY_IDP = os.environ.get('WORKFLOW_IDP') == 'python'


def start_line(args, pattern, name, env=None):
    """Start a helper process; wait for its first stdout line matching pattern; return it."""
    d = tmpdir(name + '-log-')
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         env=env)
    harness._procs.append(p)
    lines, ready = [], threading.Event()
    threading.Thread(target=harness._drain, args=(p.stdout, os.path.join(d, 'out'), lines, ready, pattern),
                     daemon=True).start()
    threading.Thread(target=harness._drain, args=(p.stderr, os.path.join(d, 'err')), daemon=True).start()
    ready.wait(30)
    for l in lines:
        if l.startswith(pattern):
            return p, l.strip(), os.path.join(d, 'err')
    p.kill()
    raise RuntimeError('%s did not start: %s\n%s' % (name, ' '.join(args),
                                                     open(os.path.join(d, 'err'), errors='replace').read()[-2000:]))


# ---------------------------------------------------------------- identity provider

class PyIdP:
    """Fallback token endpoint (python stdlib + openssl) when node/npm are missing: discovery, JWKS,
    client_credentials with client_secret_basic, RS256 JWT access tokens with aud = resource."""

    def __init__(self, d, clients, resources):
        self.key = os.path.join(d, 'idp.key')
        run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', self.key])
        mod = run(['openssl', 'rsa', '-in', self.key, '-noout', '-modulus']).stdout.strip().split('=')[1]
        self.jwk = {'kty': 'RSA', 'kid': 'py-idp-1', 'use': 'sig', 'alg': 'RS256',
                    'n': b64url(bytes.fromhex(mod)), 'e': 'AQAB'}
        idp = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, code, obj):
                b = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(b)))
                self.end_headers()
                self.wfile.write(b)

            def do_GET(self):
                if self.path == '/.well-known/openid-configuration':
                    self.reply(200, {'issuer': idp.url, 'token_endpoint': idp.url + '/token',
                                     'jwks_uri': idp.url + '/jwks'})
                elif self.path == '/jwks':
                    self.reply(200, {'keys': [idp.jwk]})
                else:
                    self.reply(404, {'error': 'not_found'})

            def do_POST(self):
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get('Content-Length', 0))).decode())
                auth = self.headers.get('Authorization', '')
                try:
                    cid, sec = base64.b64decode(auth[6:]).decode().split(':', 1)
                    cid, sec = urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(sec)
                except Exception:
                    return self.reply(401, {'error': 'invalid_client'})
                if clients.get(cid, (None,))[0] != sec:
                    return self.reply(401, {'error': 'invalid_client'})
                res = form.get('resource', [''])[0]
                if form.get('grant_type') != ['client_credentials'] or res not in resources:
                    return self.reply(400, {'error': 'invalid_target'})
                now = int(time.time())
                tok = idp.sign({'iss': idp.url, 'aud': res, 'sub': cid, 'client_id': cid, 'iat': now,
                                'exp': now + 300, 'roles': clients[cid][1]})
                self.reply(200, {'access_token': tok, 'token_type': 'Bearer', 'expires_in': 300})

        self.srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.url = 'http://127.0.0.1:%d' % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def sign(self, claims):
        si = b64url(json.dumps({'alg': 'RS256', 'typ': 'at+jwt', 'kid': 'py-idp-1'})) + '.' + b64url(json.dumps(claims))
        sig = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', self.key], input=si.encode(),
                             stdout=subprocess.PIPE, check=True).stdout
        return si + '.' + b64url(sig)


def start_idp(d, clients, resources):
    """(issuer URL, kind): oidc-provider when node and npm can provide it, else PyIdP."""
    node_dir = os.path.join(BUILD, 'demo-node')
    mod = os.path.join(node_dir, 'node_modules', 'oidc-provider', 'package.json')
    if FORCE_PY_IDP:
        return PyIdP(d, clients, resources).url, 'python'
    # the version scripts/demo-node pins, installed as make demo installs it (npm ci)
    pins = os.path.join(REPO, 'scripts', 'demo-node')
    lock = os.path.join(node_dir, 'package-lock.json')
    pinned = os.path.exists(lock) and \
        open(lock, 'rb').read() == open(os.path.join(pins, 'package-lock.json'), 'rb').read()
    if shutil.which('node') and shutil.which('npm') and not (pinned and os.path.exists(mod)):
        os.makedirs(node_dir, exist_ok=True)
        for f in ('package.json', 'package-lock.json'):
            shutil.copyfile(os.path.join(pins, f), os.path.join(node_dir, f))
        try:
            r = run(['npm', 'ci', '--no-audit', '--no-fund'], timeout=150, cwd=node_dir)
            err = r.stderr[-800:] if r.returncode != 0 else None
        except subprocess.TimeoutExpired:
            err = 'timed out after 150 s'
        if err is not None:
            print('note: npm install oidc-provider failed; using the python token endpoint\n' + err)
    if shutil.which('node') and os.path.exists(mod):
        cl = []
        for cid, (sec, roles) in clients.items():
            f = os.path.join(d, cid + '.secret')
            open(f, 'w').write(sec)
            cl.append({'client_id': cid, 'client_secret_file': f, 'roles': roles})
        cfg = os.path.join(d, 'oidc.json')
        json.dump({'module_dir': node_dir, 'clients': cl,
                   'resources': {r: {'scope': 'attest', 'ttl': 300} for r in resources}}, open(cfg, 'w'))
        _, url, _ = start_line(['node', os.path.join(REPO, 'scripts', 'demo-oidc.mjs'), cfg], 'http://', 'oidc')
        return url, 'oidc-provider'
    print('note: node/npm missing: the access-token step uses a python stdlib token endpoint')
    return PyIdP(d, clients, resources).url, 'python'


def access_token(idp, cid, secret, resource):
    disc = json.loads(request(idp, 'GET', '/.well-known/openid-configuration', api=None).body)
    u = urllib.parse.urlsplit(disc['token_endpoint'])
    body = urllib.parse.urlencode({'grant_type': 'client_credentials', 'resource': resource})
    basic = base64.b64encode(('%s:%s' % (cid, secret)).encode()).decode()
    r = request('%s://%s' % (u.scheme, u.netloc), 'POST', u.path, body, api=None,
                headers={'Content-Type': 'application/x-www-form-urlencoded', 'Authorization': 'Basic ' + basic})
    if r.status != 200:
        raise RuntimeError('token request: %r' % r)
    return r.json['access_token']


# ---------------------------------------------------------------- the world

class World:
    pass


W = World()


class RP:
    """The example relying party for one issuer."""

    def __init__(self, issuer, *extra, secret=None):
        args = [RP_BIN, '--issuer', issuer, '--secret-file', secret or W.secret_file] + list(extra)
        if not any(a in ('--mrenclave', '--mrsigner', '--expect', '--mrtd') for a in extra):
            args += ['--mrenclave', MRENCLAVE, '--mrsigner', MRSIGNER]
        self.p, self.url, self.err = start_line(args, 'http://', 'rp')

    def nonce(self):
        r = request(self.url, 'GET', '/nonce', api=None)
        return r.json['nonce']

    def secret(self, token, header=False):
        if header:
            return request(self.url, 'POST', '/secret', '', api=None, headers={'Authorization': 'Bearer ' + token})
        return request(self.url, 'POST', '/secret', {'token': token}, api=None)


def keypair(name):
    key = os.path.join(W.d, name + '.key')
    r = run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key])
    assert r.returncode == 0, r.stderr
    pem = os.path.join(W.d, name + '.pub.pem')
    run(['openssl', 'pkey', '-in', key, '-pubout', '-out', pem])
    der = os.path.join(W.d, name + '.pub.der')
    run(['openssl', 'pkey', '-in', key, '-pubout', '-outform', 'DER', '-out', der])
    return key, pem, der


def jwk_runtime(pem, path):
    """runtime data {"jwk": {RSA public key}} from the PEM, as the enclave would publish it."""
    mod = run(['openssl', 'rsa', '-pubin', '-in', pem, '-noout', '-modulus']).stdout.strip().split('=')[1]
    text = run(['openssl', 'rsa', '-pubin', '-in', pem, '-noout', '-text']).stdout
    e = int(re.search(r'Exponent: (\d+)', text).group(1))
    jwk = {'kty': 'RSA', 'n': b64url(bytes.fromhex(mod)), 'e': b64url(e.to_bytes((e.bit_length() + 7) // 8, 'big'))}
    data = json.dumps({'jwk': jwk}, separators=(',', ':')).encode()
    open(path, 'wb').write(data)
    return data


def unwrap(key, wrapped_b64):
    f = os.path.join(W.d, 'wrapped.bin')
    open(f, 'wb').write(b64url_dec(wrapped_b64))
    r = subprocess.run(['openssl', 'pkeyutl', '-decrypt', '-inkey', key, '-in', f, '-pkeyopt',
                        'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    return r.stdout if r.returncode == 0 else None


def token_opts(resource=AUD, cid='enclave-client'):
    return ['--issuer', W.idp, '--client-id', cid, '--client-secret-file', W.secret_files[cid], '--resource', resource]


def attest_run(attestd, runtime, nonce, *extra):
    return run([ATTEST, 'run', '--url', attestd.url, '--provider', 'sim', '--sim-dir', W.sim,
                '--runtime-data', runtime, '--nonce', nonce] + list(extra))


def auth_args():
    return ['--auth-issuer', W.idp, '--auth-audience', AUD, '--auth-attest', 'required'] if AUTH else []


def setup():
    W.d = tmpdir('attestd-workflow-')
    W.sim = os.path.join(W.d, 'sim')
    r = run([ATTEST, 'sim', 'init', W.sim])
    assert r.returncode == 0, r.stderr
    _, W.coll, _ = start_line([ATTEST, 'sim', 'collateral-server', '--dir', W.sim, '--quiet'], 'http://', 'coll')
    W.clients = {'enclave-client': (b64url(os.urandom(18)), ['attestd.attest']),
                 'admin-client': (b64url(os.urandom(18)), [ADMIN_ROLE])}
    W.secret_files = {}
    for cid, (sec, _) in W.clients.items():
        f = os.path.join(W.d, cid + '.client-secret')
        open(f, 'w').write(sec)
        W.secret_files[cid] = f
    W.idp, W.idp_kind = start_idp(W.d, W.clients, [AUD, OTHER_AUD])
    W.secret = b'the launch code is 7-42-1138\n'
    W.secret_file = os.path.join(W.d, 'rp-secret')
    open(W.secret_file, 'wb').write(W.secret)
    W.attestd = Server('--trust-root', os.path.join(W.sim, 'trust_root.pem'), *auth_args(), collateral_url=W.coll)
    W.rp = RP(W.attestd.url, '--allow-simulated')
    W.key, W.pem, W.der = keypair('enclave')
    print('workflow: identity provider %s (%s), attestd auth %s' % (W.idp, W.idp_kind, 'required' if AUTH else
                                                                     'NOT AVAILABLE (no --auth-issuer): auth checks skipped'))


# ---------------------------------------------------------------- scenarios

def happy_pem():
    n = W.rp.nonce()
    T.eq('nonce is 32 hex', bool(re.fullmatch(r'[0-9a-f]{32}', n)), True, n)
    r = attest_run(W.attestd, W.pem, n, *token_opts())
    if not T.eq('attest run with an access token: exit 0', r.returncode, 0, r.stderr):
        return
    tok = r.stdout.strip()
    c = jwt_parts(tok)[1]
    T.eq('token nonce', c.get('nonce'), n)
    T.eq('token x-ms-sgx-ehd = the PEM public key', b64url_dec(c.get('x-ms-sgx-ehd', '')), open(W.pem, 'rb').read())
    T.eq('token x-attestd-simulated', c.get('x-attestd-simulated'), True)
    a = W.rp.secret(tok)
    if T.eq('RP releases the secret: 200', a.status, 200, repr(a)):
        T.eq('key taken from x-ms-sgx-ehd', a.json.get('key_from'), 'x-ms-sgx-ehd')
        T.eq('alg RSA-OAEP-256', a.json.get('alg'), 'RSA-OAEP-256')
        T.eq('the enclave key unwraps the secret', unwrap(W.key, a.json['wrapped_secret']), W.secret)
        other_key = keypair('other')[0]
        T.eq('another key cannot unwrap it', unwrap(other_key, a.json['wrapped_secret']), None)
    a = W.rp.secret(tok)
    T.eq('replayed token: 401', a.status, 401, repr(a))
    T.eq('replay: nonce check', (a.json or {}).get('error', {}).get('check'), 'nonce', repr(a))
    T.check('replay: says already used', 'already used' in repr(a), repr(a))
    W.good_token = tok


def happy_der_header():
    n = W.rp.nonce()
    r = attest_run(W.attestd, W.der, n, *token_opts())
    if T.eq('DER runtime data: exit 0', r.returncode, 0, r.stderr):
        a = W.rp.secret(r.stdout.strip(), header=True)
        T.eq('DER SPKI in x-ms-sgx-ehd, token in Authorization: 200', a.status, 200, repr(a))
        if a.status == 200:
            T.eq('DER: unwraps', unwrap(W.key, a.json['wrapped_secret']), W.secret)


def happy_json_jwk():
    """runtimeData dataType JSON {"jwk": ...}: attest CLI sends Binary only, so POST it directly."""
    rt_path = os.path.join(W.d, 'runtime.json')
    data = jwk_runtime(W.pem, rt_path)
    ev_path = os.path.join(W.d, 'ev-json.json')
    r = run([ATTEST, 'evidence', '--provider', 'sim', '--sim-dir', W.sim, '--runtime-data', rt_path, '--out', ev_path])
    if not T.eq('attest evidence for JSON runtime data', r.returncode, 0, r.stderr):
        return
    ev = json.load(open(ev_path))
    n = W.rp.nonce()
    at = access_token(W.idp, 'enclave-client', W.clients['enclave-client'][0], AUD)
    body = {'quote': ev['evidence'], 'runtimeData': {'data': b64url(data), 'dataType': 'JSON'}, 'nonce': n}
    a = W.attestd.post('/attest/SgxEnclave', body, headers={'Authorization': 'Bearer ' + at})
    if not T.eq('attest with runtimeData JSON: 200', a.status, 200, repr(a)):
        return
    c = jwt_parts(a.token)[1]
    T.eq('x-ms-runtime.jwk in the token', c.get('x-ms-runtime', {}).get('jwk'), json.loads(data)['jwk'])
    s = W.rp.secret(a.token)
    if T.eq('JWK runtime key: 200', s.status, 200, repr(s)):
        T.eq('key taken from x-ms-runtime.jwk', s.json.get('key_from'), 'x-ms-runtime.jwk')
        T.eq('JWK: unwraps', unwrap(W.key, s.json['wrapped_secret']), W.secret)


def no_access_token():
    if not AUTH:
        print('skip: no access token (attestd has no --auth-issuer yet)')
        return
    r = attest_run(W.attestd, W.pem, W.rp.nonce())
    T.eq('no access token: exit 1', r.returncode, 1, r.stderr)
    T.check('no access token: HTTP 401 reaches the client', 'HTTP 401' in r.stderr, r.stderr)
    a = W.attestd.post('/attest/SgxEnclave', {'quote': 'AAAA'}, headers={'Authorization': 'Bearer not.a.jwt'})
    T.eq('malformed access token: 401', a.status, 401, repr(a))


def other_audience():
    if not AUTH:
        print('skip: token for another audience (attestd has no --auth-issuer yet)')
        return
    at = access_token(W.idp, 'enclave-client', W.clients['enclave-client'][0], OTHER_AUD)
    T.eq('the IdP issued aud = the other service', jwt_parts(at)[1].get('aud'), OTHER_AUD)
    r = attest_run(W.attestd, W.pem, W.rp.nonce(), *token_opts(OTHER_AUD))
    T.eq('token for another audience: exit 1', r.returncode, 1, r.stderr)
    T.check('another audience: HTTP 401 with the reason', 'HTTP 401' in r.stderr and 'aud' in r.stderr.lower(), r.stderr)


def evidence_raw(runtime, name):
    q = os.path.join(W.d, name)
    r = run([ATTEST, 'evidence', '--provider', 'sim', '--sim-dir', W.sim, '--runtime-data', runtime, '--raw', '--out', q])
    assert r.returncode == 0, r.stderr
    return q


def submit(quote, runtime, nonce):
    return run([ATTEST, 'submit', '--url', W.attestd.url, '--type', 'SgxEnclave', '--evidence', quote,
                '--runtime-data', runtime, '--nonce', nonce] + token_opts())


def tampered_quote():
    q = evidence_raw(W.pem, 'quote.bin')
    b = bytearray(open(q, 'rb').read())
    b[48 + 64] ^= 1  # one bit of MRENCLAVE: the QE's signature over the report no longer holds
    open(q, 'wb').write(bytes(b))
    r = submit(q, W.pem, W.rp.nonce())
    T.eq('tampered quote: exit 1', r.returncode, 1, r.stderr)
    T.check('tampered quote: 400 InvalidParameter, evidence verification failed',
            'HTTP 400' in r.stderr and 'InvalidParameter' in r.stderr and 'verification failed' in r.stderr, r.stderr)
    T.eq('tampered quote: no token', r.stdout.strip(), '')


def runtime_mismatch():
    q = evidence_raw(W.pem, 'quote-a.bin')
    _, other_pem, _ = keypair('mismatch')
    r = submit(q, other_pem, W.rp.nonce())
    T.eq('runtime data not in report data: exit 1', r.returncode, 1, r.stderr)
    want = hashlib.sha256(open(other_pem, 'rb').read()).hexdigest()
    T.check('mismatch: InvalidParameter naming the digest', 'InvalidParameter' in r.stderr and want in r.stderr.lower(),
            r.stderr)


def forged_tokens():
    tok = getattr(W, 'good_token', None)
    if tok is None:
        T.check('forged tokens: a good token first', False)
        return
    h, p, _ = tok.split('.')
    claims = json.loads(b64url_dec(p))
    claims['nonce'] = W.rp.nonce()
    key = keypair('forger')[0]

    def sign(header):
        si = b64url(json.dumps(header)) + '.' + b64url(json.dumps(claims))
        sig = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', key], input=si.encode(),
                             stdout=subprocess.PIPE, check=True).stdout
        return si + '.' + b64url(sig)
    hdr = json.loads(b64url_dec(h))
    a = W.rp.secret(sign(hdr))
    T.eq('same kid, key attestd never published: 401', a.status, 401, repr(a))
    T.eq('... signature check', (a.json or {}).get('error', {}).get('check'), 'signature', repr(a))
    hdr2 = dict(hdr, kid='forged-kid')
    mod = run(['openssl', 'rsa', '-in', key, '-noout', '-modulus']).stdout.strip().split('=')[1]
    hdr2['jwk'] = {'kty': 'RSA', 'n': b64url(bytes.fromhex(mod)), 'e': 'AQAB', 'kid': 'forged-kid'}
    a = W.rp.secret(sign(hdr2))
    T.eq('own kid and embedded jwk header: 401', a.status, 401, repr(a))
    T.eq('... kid check', (a.json or {}).get('error', {}).get('check'), 'kid', repr(a))
    a = W.rp.secret('eyJhbGciOiJub25lIn0.' + b64url(json.dumps(claims)) + '.')
    T.eq('alg none: 401', a.status, 401, repr(a))
    # the genuine token's nonce was consumed; a fresh nonce in the forged claims stays unused
    a = W.rp.secret('')
    T.eq('no token: 400', a.status, 400, repr(a))


def nonce_checks():
    r = attest_run(W.attestd, W.pem, 'f' * 32, *token_opts())
    if T.eq('attest with a nonce the RP never issued', r.returncode, 0, r.stderr):
        a = W.rp.secret(r.stdout.strip())
        T.eq('unknown nonce: 401', a.status, 401, repr(a))
        T.check('unknown nonce: says not issued', 'not issued' in repr(a), repr(a))
    rp = RP(W.attestd.url, '--allow-simulated', '--nonce-ttl', '1')
    n = rp.nonce()
    r = attest_run(W.attestd, W.pem, n, *token_opts())
    time.sleep(1.3)
    a = rp.secret(r.stdout.strip())
    T.eq('expired nonce: 401', a.status, 401, repr(a))
    T.check('expired nonce: says expired', 'expired' in repr(a), repr(a))


def expectations():
    rp = RP(W.attestd.url, '--allow-simulated', '--mrenclave', '00' * 32)
    r = attest_run(W.attestd, W.pem, rp.nonce(), *token_opts())
    a = rp.secret(r.stdout.strip())
    T.eq('other mrenclave expected: 403', a.status, 403, repr(a))
    T.eq('... claim check', (a.json or {}).get('error', {}).get('check'), 'claim', repr(a))
    T.check('... names the claim', 'x-ms-sgx-mrenclave' in repr(a), repr(a))
    rp = RP(W.attestd.url)  # no --allow-simulated
    r = attest_run(W.attestd, W.pem, rp.nonce(), *token_opts())
    a = rp.secret(r.stdout.strip())
    T.eq('simulated evidence without --allow-simulated: 403', a.status, 403, repr(a))
    T.eq('... simulated check', (a.json or {}).get('error', {}).get('check'), 'simulated', repr(a))
    rp = RP(W.attestd.url, '--allow-simulated')
    r = run([ATTEST, 'run', '--url', W.attestd.url, '--provider', 'sim', '--sim-dir', W.sim,
             '--runtime-data', os.path.join(W.sim, 'sim.json'), '--nonce', rp.nonce()] + token_opts())
    a = rp.secret(r.stdout.strip())
    T.eq('runtime data that is no public key: 400', a.status, 400, repr(a))
    T.eq('... runtime-key check', (a.json or {}).get('error', {}).get('check'), 'runtime-key', repr(a))


def expired_and_denied():
    """A second attestd whose tokens live 1 s, and then a deny policy."""
    s = Server('--trust-root', os.path.join(W.sim, 'trust_root.pem'), '--token-lifetime', '1', *auth_args(),
               collateral_url=W.coll)
    rp = RP(s.url, '--allow-simulated', '--skew', '0')
    r = attest_run(s, W.pem, rp.nonce(), *token_opts())
    if T.eq('short-lived token issued', r.returncode, 0, r.stderr):
        time.sleep(2.2)
        a = rp.secret(r.stdout.strip())
        T.eq('expired token: 401', a.status, 401, repr(a))
        T.eq('... exp check', (a.json or {}).get('error', {}).get('check'), 'exp', repr(a))
    hdr = {'Content-Type': 'text/plain'}
    if AUTH:
        hdr['Authorization'] = 'Bearer ' + access_token(W.idp, 'admin-client', W.clients['admin-client'][0], AUD)
    p = s.put('/policies/SgxEnclave', policy_jws_unsigned(DENY_POLICY), headers=hdr)
    if not T.eq('PUT deny policy: 200', p.status, 200, repr(p)):
        return
    r = attest_run(s, W.pem, rp.nonce(), *token_opts())
    T.eq('policy denial: exit 1', r.returncode, 1, r.stderr)
    T.check('denial: PolicyEvaluationError reaches the client', 'PolicyEvaluationError' in r.stderr, r.stderr)
    T.check('denial: the explanation (failed rule) reaches the client', 'is-debuggable' in r.stderr, r.stderr)
    T.eq('denial: no token', r.stdout.strip(), '')
    s.stop()


def main():
    if not os.path.exists(RP_BIN):
        raise RuntimeError('%s missing (examples/relying-party not built)' % RP_BIN)
    setup()
    for f in (happy_pem, happy_der_header, happy_json_jwk, no_access_token, other_audience, tampered_quote,
              runtime_mismatch, forged_tokens, nonce_checks, expectations, expired_and_denied):
        T.section(f)


T.run(main)
