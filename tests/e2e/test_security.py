#!/usr/bin/env python3
"""test_security.py - issue 6's security list through the real attestd and `attest token verify`:

- attestation tokens forged or modified, checked by `attest token verify` against attestd's JWKS
  (the real token verifies; payload changed, signature by another key under the same kid,
  `alg: none`, `alg: HS256` keyed with the public key (PEM and DER) are each rejected, exit 1);
- isolated mode: unsigned policy 400, policy signed by an untrusted certificate 400, `alg: none`
  and `alg: HS256` (keyed with the trusted certificate's public key) carrying the trusted x5c
  400, removal of the last policy certificate 400; the policy in force never changes;
- path injection (`/policies/..%2fcerts`, `/attest/SgxEnclave%00`, dot segments, `//certs`, a
  very long path) and header injection (CR, LF, folded lines and control characters in
  `x-ms-client-request-id`: never echoed; a very long header 431): a clean 4xx, no crash;
- oversized body 413 (by Content-Length and chunked);
- slowloris: 200 connections sending their headers one byte per second while another client
  gets every answer within 1 s; 1000 idle connections while the other client is served.
Access-token forgery (alg none, wrong key, expired, audience...) is in test_auth.py.
"""
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ATTEST, DCAP, PERMIT_POLICY, Results, Server, Signer, b64url, b64url_dec,
                     jwt_parts, policy_jws_unsigned, quote_bytes, run, sgx_vector, tmpdir)

T = Results('e2e/test_security')
TEXT = {'Content-Type': 'text/plain'}
NAME, VDIR, EXP = sgx_vector()
AT = EXP['verification_time']
Q = b64url(quote_bytes(VDIR))


def port_of(s):
    return int(s.url.rsplit(':', 1)[1])


def raw(s, data, timeout=5):
    """Send bytes on a fresh connection; return everything read until close."""
    c = socket.create_connection(('127.0.0.1', port_of(s)), timeout=timeout)
    out = b''
    try:
        c.sendall(data)
        while True:
            b = c.recv(65536)
            if not b:
                break
            out += b
    except OSError:
        pass
    finally:
        c.close()
    return out


def status_of(resp):
    try:
        return int(resp.split(b' ', 2)[1])
    except (IndexError, ValueError):
        return None


def head_lines(resp):
    return resp.split(b'\r\n\r\n', 1)[0].split(b'\r\n')


def still_serving(s, what):
    T.check('%s: attestd alive' % what, s.alive(), s.log())
    T.eq('%s: /healthz 200 after' % what, s.get('/healthz', api=None).status, 200)


# ---------------------------------------------------------------- forged attestation tokens

def sign_rs256(keyfile, si):
    r = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', keyfile], input=si.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode())
    return b64url(r.stdout)


def forged_tokens(s, d):
    r = s.post('/attest/SgxEnclave', {'quote': Q, 'nonce': 'sec-nonce'})
    if not T.eq('attest for a token: 200', r.status, 200, repr(r)):
        return
    tok = r.token
    hs, ps, ss = tok.split('.')
    h = json.loads(b64url_dec(hs))
    c = json.loads(b64url_dec(ps))
    jwks = s.jwks()
    jf = os.path.join(d, 'jwks.json')
    json.dump(jwks, open(jf, 'w'))
    key = [k for k in jwks['keys'] if k['kid'] == h['kid']][0]
    pem_cert = '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' % key['x5c'][0]
    cf = os.path.join(d, 'svc.pem')
    open(cf, 'w').write(pem_cert)
    pub_pem = run(['openssl', 'x509', '-in', cf, '-pubkey', '-noout']).stdout.encode()
    pub_der = subprocess.run(['openssl', 'pkey', '-pubin', '-outform', 'DER'], input=pub_pem,
                             stdout=subprocess.PIPE).stdout
    other = Signer(d, 'other-token-key', ca=False)

    def enc(obj):
        return b64url(json.dumps(obj, separators=(',', ':')))

    def hs256(secret, hdr, pl):
        si = enc(hdr) + '.' + pl
        return si + '.' + b64url(hmac.new(secret, si.encode(), hashlib.sha256).digest())

    c2 = dict(c, **{'x-ms-sgx-is-debuggable': not c.get('x-ms-sgx-is-debuggable')})
    h_none = {k: v for k, v in h.items() if k not in ('alg',)}
    h_hs = dict(h, alg='HS256')
    cases = [
        ('payload changed (claim flipped, signature kept)', hs + '.' + enc(c2) + '.' + ss),
        ('signature by another key under the same kid',
         hs + '.' + enc(c2) + '.' + sign_rs256(other.key, hs + '.' + enc(c2))),
        ('alg none, empty signature', enc(dict(h_none, alg='none')) + '.' + ps + '.'),
        ('alg none, modified payload', enc(dict(h_none, alg='none')) + '.' + enc(c2) + '.'),
        ('alg none, original signature kept', enc(dict(h_none, alg='none')) + '.' + ps + '.' + ss),
        ('alg HS256, secret = public key PEM', hs256(pub_pem, h_hs, enc(c2))),
        ('alg HS256, secret = public key DER', hs256(pub_der, h_hs, enc(c2))),
        ('alg HS256, secret = certificate PEM', hs256(pem_cert.encode(), h_hs, enc(c2))),
        ('alg RS256 but signature truncated', hs + '.' + ps + '.' + ss[:-4]),
    ]
    for live in (False, True):
        extra = [] if live else ['--jwks', jf]
        how = 'live JWKS' if live else 'offline JWKS'
        f = os.path.join(d, 'good.jwt')
        open(f, 'w').write(tok + '\n')
        r = run([ATTEST, 'token', 'verify', f, '--issuer', s.issuer, '--nonce', 'sec-nonce'] +
                extra)
        T.eq('real token verifies (%s): exit 0' % how, r.returncode, 0, r.stdout + r.stderr)
        for what, forged in cases:
            f = os.path.join(d, 'forged.jwt')
            open(f, 'w').write(forged + '\n')
            r = run([ATTEST, 'token', 'verify', f, '--issuer', s.issuer] + extra)
            T.eq('%s (%s): attest token verify exit 1' % (what, how), r.returncode, 1,
                 r.stdout + r.stderr)
            T.check('%s (%s): says why' % (what, how), 'failed' in (r.stdout + r.stderr),
                    r.stdout + r.stderr)


# ---------------------------------------------------------------- isolated mode

def isolated(d):
    a = Signer(d, 'trusted')
    u = Signer(d, 'untrusted')
    with Server(at=AT, collateral_dir=DCAP, isolated=a.cert) as s:
        r = s.put('/policies/SgxEnclave', a.sign({'AttestationPolicy': b64url(PERMIT_POLICY)}),
                  headers=TEXT)
        T.eq('isolated: PUT signed by the trusted signer 200', r.status, 200, repr(r))
        hash_before = s.get('/policies/SgxEnclave').status

        def refused(what, body, code=None):
            r = s.put('/policies/SgxEnclave', body, headers=TEXT)
            T.eq('isolated: %s: 400' % what, r.status, 400, repr(r))
            if code:
                T.eq('isolated: %s: %s' % (what, code), r.error_code, code, repr(r))

        deny = {'AttestationPolicy': b64url('version=1.0; authorizationrules { => deny(); }; '
                                            'issuancerules { };')}
        refused('unsigned policy', policy_jws_unsigned('version=1.0; authorizationrules { => '
                                                       'deny(); }; issuancerules { };'),
                'InvalidOperation')
        refused('raw policy text', 'version=1.0; authorizationrules { => deny(); }; '
                'issuancerules { };')
        refused('policy signed by an untrusted certificate', u.sign(deny), 'InvalidParameter')
        # the untrusted key's signature under the trusted certificate's x5c
        forged = a.sign(deny)
        hh, pp, _ = forged.split('.')
        refused('trusted x5c, signature by another key',
                hh + '.' + pp + '.' + sign_rs256(u.key, hh + '.' + pp))
        refused('alg none with the trusted x5c',
                b64url(json.dumps({'alg': 'none', 'x5c': [a.x5c]})) + '.' + pp + '.')
        pub = run(['openssl', 'x509', '-in', a.cert, '-pubkey', '-noout']).stdout.encode()
        si = b64url(json.dumps({'alg': 'HS256', 'x5c': [a.x5c]})) + '.' + pp
        refused('alg HS256 keyed with the trusted public key',
                si + '.' + b64url(hmac.new(pub, si.encode(), hashlib.sha256).digest()))
        r = s.post('/attest/SgxEnclave', {'quote': Q})
        T.eq('isolated: refused PUTs changed nothing (permit policy in force)', r.status, 200,
             repr(r))
        r = s.post('/certificates:remove', '"%s"' % a.sign({'policyCertificate': a.jwk()}))
        T.eq('isolated: removing the last policy certificate 400', r.status, 400, repr(r))
        r = s.post('/certificates:add', '"%s"' % u.sign({'policyCertificate': u.jwk()}))
        T.eq('isolated: certificate added by an untrusted signer 400', r.status, 400, repr(r))
        r = s.post('/certificates:add', '"%s"' % unsigned_cert_req(u))
        T.eq('isolated: unsigned certificate add 400', r.status, 400, repr(r))
        r = s.get('/certificates')
        keys = (jwt_parts(r.token)[1].get('x-ms-policy-certificates') or {}).get('keys') \
            if r.status == 200 else None
        T.eq('isolated: the certificate set is still the trusted one',
             [k['x5c'][0] for k in keys or []], [a.x5c])
        T.eq('isolated: GET policy still 200', hash_before, 200)


def unsigned_cert_req(u):
    return b64url(json.dumps({'alg': 'none'})) + '.' + \
        b64url(json.dumps({'policyCertificate': u.jwk()})) + '.'


# ---------------------------------------------------------------- path and header injection

def injection(s):
    paths = ['/policies/..%2fcerts', '/policies/..%2F..%2Fcerts', '/policies/../certs',
             '/policies/SgxEnclave/../../certs', '/attest/SgxEnclave%00',
             '/attest/SgxEnclave%00/../../policies/SgxEnclave', '/policies/SgxEnclave%00x',
             '//certs', '///', '/%2e%2e/%2e%2e/etc/passwd', '/certs/..', '/attest/%ff%fe',
             '/attest/' + 'A' * 8000, '/' + 'a' * 20000]
    for p in paths:
        for method, body in (('GET', b''), ('POST', b'{}')):
            req = ('%s %s?api-version=2022-08-01 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
                   'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n' % (
                       method, p, len(body))).encode() + body
            resp = raw(s, req)
            st = status_of(resp)
            T.check('path %s %.50s: a clean 4xx' % (method, p), st is not None and
                    400 <= st < 500, resp[:300])
            if st is not None and 400 <= st < 500 and st not in (414, 431):
                T.check('path %s %.50s: a CloudError' % (method, p),
                        b'{"error":{"code":' in resp, resp[:300])
            T.check('path %s %.50s: no JWKS served' % (method, p), b'"keys"' not in resp,
                    resp[:300])
    still_serving(s, 'path injection')

    # header injection: a request id with CR, LF, a folded line or control characters is
    # never echoed as is; no injected header ever appears in the answer
    values = [b'abc\rX-Injected: 1', b'abc\nX-Injected: 1', b'abc\r\n X-Injected: 1',
              b'abc\r\n\tX-Injected: 1', b'abc\x00X-Injected: 1', b'abc\x01\x7f\x1b[31m',
              b'abc%0d%0aX-Injected:%201']
    for v in values:
        resp = raw(s, b'GET /healthz HTTP/1.1\r\nHost: x\r\nx-ms-client-request-id: ' + v +
                   b'\r\nConnection: close\r\n\r\n')
        st = status_of(resp)
        lines = head_lines(resp)
        T.check('header %r: answered 200 or a clean 4xx' % v, st == 200 or
                (st is not None and 400 <= st < 500), resp[:300])
        T.check('header %r: no injected header in the answer' % v,
                not any(l.lower().startswith(b'x-injected') for l in lines), resp[:400])
        echoed = [l for l in lines if l.lower().startswith(b'x-ms-client-request-id:')]
        T.check('header %r: echo (if any) has no control characters' % v,
                all(all(0x20 <= ch < 0x7f or ch == 9 for ch in l) for l in echoed), echoed)
    resp = raw(s, b'GET /healthz HTTP/1.1\r\nHost: x\r\nx-ms-client-request-id: ' + b'r' * 200 +
               b'\r\nConnection: close\r\n\r\n')
    T.check('a 200-byte request id: not echoed',
            not any(l.lower().startswith(b'x-ms-client-request-id') for l in head_lines(resp)),
            resp[:300])
    for n in (20000, 100000):
        resp = raw(s, b'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: ' + b'a' * n +
                   b'\r\nConnection: close\r\n\r\n')
        T.eq('a %d-byte header: 431' % n, status_of(resp), 431, resp[:200])
    resp = raw(s, b'GET /healthz HTTP/1.1\r\nHost: x\r\n' +
               b''.join(b'X-H%d: v\r\n' % i for i in range(3000)) + b'Connection: close\r\n\r\n')
    T.eq('3000 headers: 431', status_of(resp), 431, resp[:200])
    resp = raw(s, b'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n')
    T.check('a header name with a space: 400 or ignored', status_of(resp) in (200, 400), resp[:200])
    resp = raw(s, b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' + os.urandom(200))
    T.check('TLS hello / binary junk: no 2xx', status_of(resp) is None or status_of(resp) >= 400,
            resp[:200])
    still_serving(s, 'header injection')


def oversized():
    with Server('--max-body', '64k', at=AT, collateral_dir=DCAP) as s:
        r = s.post('/attest/SgxEnclave', {'quote': 'A' * 100000})
        T.eq('body over --max-body (Content-Length): 413', r.status, 413, repr(r))
        T.eq('413: RequestEntityTooLarge', r.error_code, 'RequestEntityTooLarge')
        body = b'{"quote":"' + b'A' * 200000 + b'"}'
        chunks = b''.join(b'%x\r\n%s\r\n' % (len(body[i:i + 8192]), body[i:i + 8192])
                          for i in range(0, len(body), 8192)) + b'0\r\n\r\n'
        resp = raw(s, b'POST /attest/SgxEnclave?api-version=2022-08-01 HTTP/1.1\r\nHost: x\r\n'
                   b'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n'
                   b'Connection: close\r\n\r\n' + chunks, timeout=10)
        T.eq('chunked body over --max-body: 413', status_of(resp), 413, resp[:300])
        resp = raw(s, b'POST /attest/SgxEnclave?api-version=2022-08-01 HTTP/1.1\r\nHost: x\r\n'
                   b'Content-Length: 99999999999999999999\r\nConnection: close\r\n\r\n')
        T.check('absurd Content-Length: 4xx', (status_of(resp) or 0) in (400, 413), resp[:300])
        resp = raw(s, b'POST /attest/SgxEnclave?api-version=2022-08-01 HTTP/1.1\r\nHost: x\r\n'
                   b'Content-Length: -1\r\nConnection: close\r\n\r\n')
        T.check('negative Content-Length: 4xx', 400 <= (status_of(resp) or 0) < 500, resp[:300])
        r = s.post('/attest/SgxEnclave', {'quote': Q})
        T.eq('after oversized bodies: attest 200', r.status, 200, repr(r))
        still_serving(s, 'oversized')


def served_meanwhile(s, seconds, what):
    """Requests from another client during `seconds`: (count, slowest, non-200 answers)."""
    worst, n, bad = 0.0, 0, []
    t_end = time.time() + seconds
    while time.time() < t_end:
        t0 = time.time()
        try:
            r = s.post('/attest/SgxEnclave', {'quote': Q}, timeout=5)
            if r.status != 200:
                bad.append(repr(r)[:200])
        except Exception as ex:
            bad.append(repr(ex))
        worst = max(worst, time.time() - t0)
        n += 1
        time.sleep(0.1)
    T.check('%s: another client served meanwhile, every answer within 1 s' % what,
            n >= 5 and not bad and worst < 1.0, 'n=%d worst=%.3f bad=%r' % (n, worst, bad[:3]))
    print('  %s: %d attests by another client, slowest %.3f s' % (what, n, worst), flush=True)


def slowloris(s):
    head = b'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ' + b'p' * 100 + b'\r\n'
    conns = []
    for _ in range(200):
        c = socket.create_connection(('127.0.0.1', port_of(s)), timeout=5)
        c.setblocking(False)
        conns.append(c)
    stop = threading.Event()
    sent = [0]

    def trickle():
        i = 0
        while not stop.is_set() and i < len(head):
            for c in conns:
                try:
                    c.send(head[i:i + 1])
                    sent[0] += 1
                except OSError:
                    pass
            i += 1
            stop.wait(1.0)

    th = threading.Thread(target=trickle, daemon=True)
    th.start()
    served_meanwhile(s, 6, 'slowloris (200 connections, 1 byte/s)')
    stop.set()
    th.join(5)
    for c in conns:
        c.close()
    T.check('slowloris: bytes trickled', sent[0] >= 200 * 4, sent[0])
    still_serving(s, 'slowloris')


def idle_many():
    with Server('--max-connections', '4096', at=AT, collateral_dir=DCAP) as s:
        conns = []
        try:
            for _ in range(1000):
                conns.append(socket.create_connection(('127.0.0.1', port_of(s)), timeout=5))
            time.sleep(0.3)
            served_meanwhile(s, 2, '1000 idle connections')
            m = s.get('/metrics', api=None).body.decode()
            line = [l for l in m.splitlines() if l.startswith('attestd_http_open_connections')]
            print('  idle: %s' % (line[0] if line else '?'), flush=True)
        finally:
            for c in conns:
                c.close()
        still_serving(s, '1000 idle connections')


def main():
    d = tmpdir()
    with Server(at=AT, collateral_dir=DCAP) as s:
        T.section(forged_tokens, s, d)
        T.section(injection, s)
        T.section(slowloris, s)
        T.eq('clean stop after all of it: exit 0', s.stop(), 0, s.log())
    T.section(isolated, d)
    T.section(oversized)
    T.section(idle_many)


if __name__ == '__main__':
    T.run(main)
