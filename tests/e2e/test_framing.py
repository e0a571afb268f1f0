#!/usr/bin/env python3
"""test_framing.py - the HTTP layer under attack (issue 10 items 5, 7, 8, 9; issue 18 B6), against
the real attestd over loopback with raw sockets and openssl s_client:
- request smuggling shapes (conflicting Content-Length, Content-Length with Transfer-Encoding,
  obs-fold, whitespace before the colon, HTTP/1.1 without Host) are refused with one MAA-shaped
  400 and a closed connection: the bytes after the head are never served as a second request;
- 300 query parameters, a long request line, a large header get attestd's own 414/431 at once;
  what libmicrohttpd still answers itself (a malformed Content-Length value, an unknown HTTP
  version, a chunk line too long for its buffer) is at least prompt and closed;
- made-up methods (4 kB tokens, \\xff) do not reach /metrics: it stays small and valid UTF-8;
- 300 connections each holding a 1 MiB body one byte short stay within --max-body-memory (the
  rest get 503 with Retry-After); RSS growth is reported and bounded;
- TLS: 1.0 and 1.1 refused, static RSA refused, the server's cipher order, --tls-priority
  overrides, an invalid priority string stops the start with a clear message."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ATTESTD, Results, Server, tmpdir

T = Results('e2e/test_framing')
API = 'api-version=2022-08-01'


def port_of(s):
    return int(re.search(r':(\d+)$', s.url.rstrip('/')).group(1))


def exchange(port, data, wait=10):
    """Send data, read until the server closes. Returns (bytes, closed, seconds)."""
    c = socket.create_connection(('127.0.0.1', port))
    c.settimeout(wait)
    t0 = time.monotonic()
    try:
        c.sendall(data)
    except OSError:
        pass
    out, closed = b'', False
    try:
        while True:
            b = c.recv(65536)
            if not b:
                closed = True
                break
            out += b
    except socket.timeout:
        pass
    except OSError:
        closed = True  # reset: closed too
    c.close()
    return out, closed, time.monotonic() - t0


def answers(out):
    return len(re.findall(rb'(?:^|\r\n)HTTP/1\.1 \d{3} ', out))


def refused(port, what, data, status, code):
    out, closed, secs = exchange(port, data)
    head = out.split(b'\r\n', 1)[0]
    T.check('%s: %d' % (what, status), head.startswith(b'HTTP/1.1 %d ' % status), out[:300])
    T.check('%s: closed' % what, closed, out[:300])
    T.eq('%s: one answer (nothing after the head served)' % what, answers(out), 1, out[:600])
    body = out.split(b'\r\n\r\n', 1)[-1]
    try:
        err = json.loads(body)['error']
    except Exception:
        err = {}
    T.eq('%s: MAA error code' % what, err.get('code'), code, body[:300])
    T.check('%s: Connection: close' % what, b'\r\nConnection: close\r\n' in out, out[:300])
    return secs


def framing(s):
    p = port_of(s)
    smuggled = b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
    refused(p, 'conflicting Content-Length',
            b'POST /attest/SgxEnclave?' + API.encode() + b' HTTP/1.1\r\nHost: x\r\n'
            b'Content-Length: 2\r\nContent-Length: ' + str(2 + len(smuggled)).encode() +
            b'\r\n\r\n{}' + smuggled, 400, 'BadRequest')
    refused(p, 'identical duplicate Content-Length',
            b'POST /attest/SgxEnclave?' + API.encode() + b' HTTP/1.1\r\nHost: x\r\n'
            b'Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}', 400, 'BadRequest')
    refused(p, 'Content-Length with Transfer-Encoding',
            b'POST /attest/SgxEnclave?' + API.encode() + b' HTTP/1.1\r\nHost: x\r\n'
            b'Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n' +
            smuggled, 400, 'BadRequest')
    refused(p, 'Transfer-Encoding gzip', b'POST /attest/SgxEnclave?' + API.encode() +
            b' HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n' + smuggled,
            501, 'NotImplemented')
    refused(p, 'whitespace before the colon',
            b'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n', 400, 'BadRequest')
    refused(p, 'obs-fold', b'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n',
            400, 'BadRequest')
    refused(p, 'HTTP/1.1 without Host', b'GET /healthz HTTP/1.1\r\n\r\n', 400, 'BadRequest')
    # allowed shapes are still served, keep-alive included
    out, _, _ = exchange(p, b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
                            b'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    T.eq('two pipelined good requests: two 200s', out.count(b'HTTP/1.1 200 '), 2, out[:400])


def limits(s):
    p = port_of(s)
    q = b'&'.join(b'p%d=%d' % (i, i) for i in range(300))
    secs = refused(p, '300 query parameters', b'GET /healthz?' + q + b' HTTP/1.1\r\nHost: x\r\n\r\n',
                   414, 'RequestUriTooLong')
    print('300 query parameters: 414 after %.3f s' % secs)
    refused(p, '20000-byte path', b'GET /' + b'a' * 20000 + b' HTTP/1.1\r\nHost: x\r\n\r\n',
            414, 'RequestUriTooLong')
    refused(p, '20 kB header', b'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 20000 +
            b'\r\n\r\n', 431, 'RequestHeaderFieldsTooLarge')
    # libmicrohttpd's own answers: prompt (well inside --timeout 30) and closed
    for what, data in [
            ('malformed Content-Length', b'POST /attest/SgxEnclave HTTP/1.1\r\nHost: x\r\n'
                                         b'Content-Length: +5\r\n\r\nabcde'),
            ('HTTP/2.0 request line', b'GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n'),
            ('100 kB chunk extension', b'POST /attest/SgxEnclave?' + API.encode() +
             b' HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;' + b'e' * 100000 +
             b'\r\n{}\r\n0\r\n\r\n'),
            ('5000 tiny headers', b'GET /healthz HTTP/1.1\r\nHost: x\r\n' +
             b''.join(b'X%d:\r\n' % i for i in range(5000)) + b'\r\n')]:
        out, closed, secs = exchange(p, data)
        T.check('%s: answered %r, closed' % (what, out[:12]), closed and
                re.match(rb'HTTP/1\.1 [45]\d\d ', out) is not None, out[:300])
        T.check('%s: prompt (%.2f s)' % (what, secs), secs < 5, secs)
    T.eq('still serving', s.get('/healthz', api=None).status, 200)


def utf8_clean(b):
    try:
        t = b.decode('utf-8')
    except UnicodeDecodeError:
        return False
    return not any(ord(ch) < 0x20 and ch != '\n' or ord(ch) == 0x7f for ch in t)


def metric_labels(s):
    p = port_of(s)
    for i in range(300):
        exchange(p, bytes([65 + i % 26]) * 4000 + b'%03d /certs HTTP/1.1\r\nHost: x\r\n'
                 b'Connection: close\r\n\r\n' % i)
    exchange(p, b'\xff /certs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    exchange(p, b'G\x01T /certs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    c = socket.create_connection(('127.0.0.1', p))
    c.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    raw = b''
    while True:
        b = c.recv(65536)
        if not b:
            break
        raw += b
    c.close()
    body = raw.split(b'\r\n\r\n', 1)[1]
    T.check('/metrics is valid UTF-8 without control characters', utf8_clean(body), body[:200])
    T.check('/metrics stays small (%d bytes)' % len(body), len(body) < 64000)
    T.check('no made-up method in /metrics', b'AAAA' not in body and b'\xff' not in body)
    T.check('made-up methods counted as "other"',
            b'route="/certs",method="other",status="405"} 300' in body, body[:3000])


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def body_memory():
    """300 connections each holding a 1 MiB body one byte short: before the budget, RSS grew by
    300 MiB; now at most --max-body-memory (64 MiB) is held and the rest get 503."""
    with Server() as s:
        p = port_of(s)
        base = rss_kb(s.p.pid)
        body = b'a' * (1 << 20)
        conns, got503 = [], 0
        for i in range(300):
            c = socket.create_connection(('127.0.0.1', p))
            c.settimeout(10)
            c.sendall(b'POST /attest/SgxEnclave?' + API.encode() + b' HTTP/1.1\r\nHost: x\r\n'
                      b'Content-Length: %d\r\n\r\n' % len(body))
            try:
                c.sendall(body[:-1])
            except OSError:
                pass  # refused and closed while we were still sending
            conns.append(c)
        time.sleep(0.5)
        peak = rss_kb(s.p.pid)
        held = 0
        for c in conns:
            c.settimeout(0.5)
            try:
                head = c.recv(200)
            except socket.timeout:
                held += 1  # still waiting for its last byte: its body is held
                continue
            except OSError:
                head = b''  # refused: the server closed while the client was still sending
            if head.startswith(b'HTTP/1.1 503 ') and b'Retry-After: 1' in head:
                got503 += 1
        grew = (peak - base) / 1024.0
        print('300 x 1 MiB bodies held: RSS %d -> %d kB (+%.0f MiB); %d held, %d refused '
              '(%d with the 503 read before the reset)' % (base, peak, grew, held, 300 - held,
                                                           got503))
        T.check('RSS growth bounded by --max-body-memory (+%.0f MiB)' % grew, grew < 64 + 40)
        T.check('at most 64 MiB of bodies held (%d)' % held, held <= 64)
        T.check('the other bodies refused at once (%d)' % (300 - held), 300 - held >= 236)
        for c in conns:
            c.close()
        T.eq('still serving', s.get('/healthz', api=None).status, 200)


def s_client(port, *args):
    r = subprocess.run(['openssl', 's_client', '-connect', '127.0.0.1:%d' % port] + list(args),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=20)
    m = re.search(r'New, (\S+), Cipher is (\S+)', r.stdout)
    return (m.group(1), m.group(2)) if m and m.group(1) != '(NONE)' else None


def tls():
    if not shutil.which('openssl'):
        T.check('openssl installed', False)
        return
    d = tmpdir()
    cert, key = os.path.join(d, 'cert.pem'), os.path.join(d, 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
                    '-out', cert, '-days', '2', '-subj', '/CN=localhost'], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with Server('--tls-cert', cert, '--tls-key', key) as s:
        p = port_of(s)
        T.eq('TLS 1.0 refused', s_client(p, '-tls1', '-cipher', 'DEFAULT@SECLEVEL=0'), None)
        T.eq('TLS 1.1 refused', s_client(p, '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'), None)
        for c in ['AES128-SHA256', 'AES128-GCM-SHA256', 'AES256-GCM-SHA384']:
            T.eq('static RSA %s refused' % c, s_client(p, '-tls1_2', '-cipher', c), None)
        T.eq('CBC refused', s_client(p, '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA256'), None)
        T.eq('finite-field DHE refused',
             s_client(p, '-tls1_2', '-cipher', 'DHE-RSA-AES128-GCM-SHA256'), None)
        T.eq('server order: AES-256-GCM over the client\'s first choice',
             s_client(p, '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256:'
                      'ECDHE-RSA-AES256-GCM-SHA384'), ('TLSv1.2', 'ECDHE-RSA-AES256-GCM-SHA384'))
        v = s_client(p, '-tls1_3')
        T.check('TLS 1.3 accepted (%r)' % (v,), v is not None and v[0] == 'TLSv1.3')
    with Server('--tls-cert', cert, '--tls-key', key, '--tls-priority',
                'NORMAL:-VERS-ALL:+VERS-TLS1.2') as s:
        p = port_of(s)
        T.eq('--tls-priority: TLS 1.3 refused when not listed', s_client(p, '-tls1_3'), None)
        v = s_client(p, '-tls1_2')
        T.check('--tls-priority: TLS 1.2 accepted (%r)' % (v,), v is not None)
    r = subprocess.run([ATTESTD, '--listen', '127.0.0.1:0', '--data-dir', tmpdir(), '--tls-cert',
                        cert, '--tls-key', key, '--tls-priority', 'NO-SUCH-THING'],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    T.eq('invalid --tls-priority: exit 1', r.returncode, 1, r.stderr[-500:])
    T.check('invalid --tls-priority: named', '--tls-priority' in r.stderr, r.stderr[-500:])


def main():
    with Server() as s:
        T.section(framing, s)
        T.section(limits, s)
        T.section(metric_labels, s)
        T.eq('exit 0 on SIGTERM', s.stop(), 0, s.log())
    T.section(body_memory)
    T.section(tls)


T.run(main)
