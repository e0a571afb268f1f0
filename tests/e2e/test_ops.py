#!/usr/bin/env python3
"""test_ops.py - running attestd and watching it (issue 16, "Say what is true" and "Observe it"),
against the real attestd over loopback:
- commands: `keys rotate --help` prints help and touches nothing; options after the command act
  (`keys rotate --data-dir D` rotates D's key, not ./var's); unknown options are refused; `keys`
  alone names its subcommands; --help and docs/server.md say a slow body's connection is closed,
  and it is;
- /readyz: 503 with a reason when no collateral source is configured; a quote that needs
  collateral then gets 503 ServiceUnavailable, not 400; a source that cannot be reached: the
  failed fetch is logged (key, reason with the URL, its password hidden, duration) and /readyz
  turns 503 while nothing is cached;
- --at / ATTESTD_AT: in the start line, and a loud warning on stdout and in the log;
- an oversized body gets its 413 with Python's http.client (which writes the whole body before
  reading), several times over; a lingering connection is closed after --lingering-timeout of
  silence and after --lingering-time whatever the client sends;
- /metrics: process_* from /proc/self, attestd_attest_outcomes_total by attestd's own error
  name (bad base64 and a truncated quote are both MAA InvalidParameter, told apart), collateral
  age and expiry per source, signing-key age;
- X-Forwarded-For believed from --trusted-proxy only (rightmost untrusted address), for the log
  and for the loopback rule of anonymous changes; x-ms-client-request-id logged, bounded and
  printable; a rotated key picked up is logged, and so is an ignored --signing-alg."""
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ATTESTD, DCAP, REPO, Results, Server, b64url, free_port, policy_jws_unsigned,
                     quote_bytes, run, sgx_vector, tmpdir, DENY_POLICY, PERMIT_POLICY)

T = Results('e2e/test_ops')
API = 'api-version=2022-08-01'


def env_clean():
    e = {k: v for k, v in os.environ.items() if not k.startswith('ATTESTD_')}
    return e


def attestd(*args, cwd=None):
    return subprocess.run([os.path.abspath(ATTESTD)] + list(args), capture_output=True, text=True, timeout=60,
                          cwd=cwd, env=env_clean())


def log_lines(s):
    out = []
    for l in open(s.err_path, errors='replace'):
        try:
            out.append(json.loads(l))
        except ValueError:
            pass
    return out


def wait_log(s, pred, secs=10):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for o in log_lines(s):
            if pred(o):
                return o
        time.sleep(0.1)
    return None


def metrics(s):
    r = s.get('/metrics', api=None)
    return r.body.decode('utf-8', 'replace')


def metric(text, name, labels=None):
    """The value of a series (labels: dict that must match exactly), or None."""
    for l in text.splitlines():
        if l.startswith('#'):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', l)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ''))
        if labels is None or got == labels:
            return float(m.group(4))
    return None


# ------------------------------------------------------------------------------------ commands

def commands():
    d = tmpdir()
    cwd = tmpdir()
    store = os.path.join(d, 'store')
    p = attestd('keys', 'rotate', '--help', '--data-dir', store, cwd=cwd)
    T.eq('keys rotate --help: exit 0', p.returncode, 0, p.stderr)
    T.check('keys rotate --help: its usage', 'usage: attestd [OPTIONS] keys rotate' in p.stdout,
            p.stdout)
    T.check('keys rotate --help: no key made (the store is not created)',
            not os.path.exists(store) and not os.path.exists(os.path.join(cwd, 'var')),
            os.listdir(d) + os.listdir(cwd))
    p = attestd('keys', 'rotate', '--data-dir', store, cwd=cwd)
    T.eq('keys rotate --data-dir after the command: exit 0', p.returncode, 0, p.stderr)
    T.check('keys rotate --data-dir D: D has the store', os.path.isdir(store), p.stdout)
    T.check('keys rotate --data-dir D: ./var untouched', not os.path.exists(os.path.join(cwd, 'var')),
            os.listdir(cwd))
    p = attestd('keys', 'rotate', '--no-such-option', cwd=cwd)
    T.eq('keys rotate --no-such-option: exit 2', p.returncode, 2, p.stderr)
    T.check('keys rotate --no-such-option: named', "unknown option '--no-such-option'" in p.stderr,
            p.stderr)
    T.check('refused option: nothing made', not os.path.exists(os.path.join(cwd, 'var')),
            os.listdir(cwd))
    p = attestd('keys', 'rotate', 'now', cwd=cwd)
    T.eq('keys rotate now: exit 2', p.returncode, 2, p.stderr)
    p = attestd('keys', cwd=cwd)
    T.eq('keys alone: exit 2', p.returncode, 2, p.stderr)
    T.check('keys alone: names its subcommands', 'rotate' in p.stderr and
            'unknown command' not in p.stderr, p.stderr)
    p = attestd('keys', '--help', cwd=cwd)
    T.check('keys --help: the subcommands, exit 0', p.returncode == 0 and 'rotate' in p.stdout,
            p.stdout + p.stderr)
    # --help and docs/server.md about a slow body: the connection is closed (no 408)
    p = attestd('--help')
    m = re.search(r'--timeout SECONDS\s+(.*?)\n\s+env', p.stdout, re.S)
    helptext = m.group(1) if m else ''
    T.check('--help: --timeout says the connection is closed', 'closed' in helptext and
            '408' not in helptext, helptext)
    doc = open(os.path.join(REPO, 'docs', 'server.md')).read()
    row = [l for l in doc.splitlines() if l.startswith('| body not complete')]
    T.check('server.md: a slow body closes the connection', row and 'closed' in row[0], row)
    with Server('--timeout', '1') as s:
        port = int(s.url.rsplit(':', 1)[1])
        c = socket.create_connection(('127.0.0.1', port))
        c.settimeout(8)
        c.sendall(b'POST /attest/SgxEnclave?' + API.encode() + b' HTTP/1.1\r\nHost: x\r\n'
                  b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"quote"')
        t0 = time.monotonic()
        got = b''
        try:
            while True:
                b = c.recv(4096)
                if not b:
                    break
                got += b
        except (socket.timeout, OSError):
            pass
        c.close()
        T.check('slow body: closed within a few seconds of --timeout 1',
                time.monotonic() - t0 < 6, time.monotonic() - t0)
        T.eq('slow body: closed without an answer (as --help says)', got, b'')


# ------------------------------------------------------------------------------------ readiness

def readiness():
    with Server() as s:
        r = s.get('/readyz', api=None)
        T.eq('no collateral source: /readyz 503', r.status, 503, repr(r))
        T.check('no collateral source: the reason says so',
                'no collateral source' in ((r.json or {}).get('reason') or ''), repr(r))
        T.check('no collateral source: warned at start', wait_log(
            s, lambda o: 'no collateral source' in o.get('msg', ''), 5) is not None, s.log())
    if DCAP is None:
        print('SKIP: no DCAP vector sets: the quote half of the readiness checks')
        return
    name, d, exp = sgx_vector()
    q = b64url(quote_bytes(d))
    at = exp['verification_time']
    with Server(at=at) as s:
        r = s.post('/attest/SgxEnclave', {'quote': q})
        T.eq('no collateral source: a quote gets 503 (a server fault), not 400', r.status, 503,
             repr(r))
        T.eq('no collateral source: ServiceUnavailable', r.error_code, 'ServiceUnavailable', repr(r))
        T.check('no collateral source: no Retry-After (retrying cannot help)',
                'retry-after' not in r.headers, r.headers)
    dead = free_port()
    url = 'http://opsuser:s3cret-pw@127.0.0.1:%d' % dead
    with Server('--log-level', 'info', at=at, collateral_url=url) as s:
        r = s.get('/readyz', api=None)
        T.eq('unreachable source, nothing fetched yet: /readyz 200', r.status, 200, repr(r))
        r = s.post('/attest/SgxEnclave', {'quote': q})
        T.eq('unreachable source: the quote gets 503', r.status, 503, repr(r))
        T.check('unreachable source: the password is not in the answer',
                's3cret-pw' not in r.body.decode('utf-8', 'replace'), repr(r))
        o = wait_log(s, lambda o: o.get('msg') == 'collateral fetch failed')
        T.check('failed fetch logged', o is not None, s.log())
        o = o or {}
        T.check('failed fetch: the key', str(o.get('key', '')).startswith('dcap/'), o)
        T.check('failed fetch: the URL', '127.0.0.1:%d' % dead in str(o.get('reason')), o)
        T.check('failed fetch: a duration', isinstance(o.get('duration_ms'), int), o)
        T.check('failed fetch: the error', str(o.get('error', '')).startswith('ATT_E_FETCH'), o)
        wait_log(s, lambda o: o.get('msg') == 'request' and o.get('status') == 503)
        T.check('the password is never logged', 's3cret-pw' not in open(s.err_path).read(),
                s.log())
        r = s.get('/readyz', api=None)
        T.eq('unreachable source, nothing cached: /readyz 503', r.status, 503, repr(r))
        T.check('/readyz reason: unreachable, with the error',
                'unreachable' in ((r.json or {}).get('reason') or ''), repr(r))
        T.check('/readyz reason: no password', 's3cret-pw' not in r.body.decode(), repr(r))
    with Server(at=at, collateral_dir=DCAP, collateral_url=url) as s:
        r = s.post('/attest/SgxEnclave', {'quote': q})
        T.eq('offline sets and an unreachable source: the quote verifies', r.status, 200, repr(r))
        r = s.get('/readyz', api=None)
        T.eq('offline sets in hand: /readyz 200', r.status, 200, repr(r))
        # the deny message: MAA's sentence, then what the policy did, without "deny: ..."
        r = s.post('/attest/SgxEnclave', {'quote': q, 'draftPolicyForAttestation': DENY_POLICY})
        msg = r.error_message or ''
        T.check('deny: MAA sentence first', msg.startswith(
            'A Deny claim was issued, authorization failed. The policy did not authorize this '
            'evidence: no permit() rule fired'), repr(r))
        T.check('deny: no self-contradicting "deny: no permit"', 'deny: no permit' not in msg, msg)
        text = metrics(s)
        age = metric(text, 'attestd_collateral_age_seconds', {'source': 'dcap'})
        exp_s = metric(text, 'attestd_collateral_expiry_seconds', {'source': 'dcap'})
        T.check('collateral age gauge (dcap)', age is not None and age >= 0, text[-2000:])
        T.check('collateral expiry gauge (dcap)', exp_s is not None, text[-2000:])


# ------------------------------------------------------------------------------------ --at

def clock_override():
    at = '2025-07-01T00:00:00Z'
    for how, kw in (('--at', {'at': at}), ('ATTESTD_AT', {'extra_env': {'ATTESTD_AT': at}})):
        with Server('--log-level', 'info', **kw) as s:
            o = wait_log(s, lambda o: o.get('msg') == 'attestd started', 5) or {}
            T.eq('%s: in the start line' % how, o.get('at'), at, o)
            T.check('%s: warned in the log' % how, wait_log(
                s, lambda o: o.get('level') == 'warn' and 'CLOCK OVERRIDE' in o.get('msg', ''),
                5) is not None, s.log())
            T.check('%s: warned on stdout' % how, any('WARNING: clock override' in l
                                                      for l in s.lines), s.lines)
    with Server('--log-level', 'info') as s:
        o = wait_log(s, lambda o: o.get('msg') == 'attestd started', 5) or {}
        T.check('no --at: "at" null in the start line', 'at' in o and o['at'] is None, o)


# ------------------------------------------------------------------------------------ 413

def post_big(port, n):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    try:
        c.request('POST', '/attest/SgxEnclave?' + API, body=b'x' * n,
                  headers={'Content-Type': 'application/json'})
        r = c.getresponse()
        return r.status, r.read()
    except OSError as e:
        return None, repr(e)
    finally:
        c.close()


def lingering():
    with Server('--max-body', '1k') as s:
        port = int(s.url.rsplit(':', 1)[1])
        got = [post_big(port, 8 << 20) for _ in range(5)]
        T.check('http.client, 8 MiB body over --max-body 1k: 413 every time (5 of 5)',
                all(st == 413 and b'RequestEntityTooLarge' in b for st, b in got), got)
        v = metric(metrics(s), 'attestd_http_lingering_closes_total', {'result': 'lingered'})
        T.check('lingered connections counted', v is not None and v >= 5, v)
    # over TLS too (the lingering socket is the raw TCP one under GnuTLS)
    d = tmpdir()
    key, crt = os.path.join(d, 'k.pem'), os.path.join(d, 'c.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '2',
                    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    with Server('--max-body', '1k', '--tls-cert', crt, '--tls-key', key) as s:
        port = int(s.url.rsplit(':', 1)[1])
        ctx = ssl.create_default_context(cafile=crt)
        got = []
        for _ in range(3):
            c = http.client.HTTPSConnection('127.0.0.1', port, context=ctx, timeout=30)
            try:
                c.request('POST', '/attest/SgxEnclave?' + API, body=b'x' * (4 << 20),
                          headers={'Content-Type': 'application/json'})
                r = c.getresponse()
                got.append((r.status, r.read()))
            except OSError as e:
                got.append((None, repr(e)))
            finally:
                c.close()
        T.check('https, http.client, 4 MiB body over --max-body 1k: 413 every time (3 of 3)',
                all(st == 413 for st, b in got), got)
    with Server('--max-body', '1k', '--lingering-time', '3', '--lingering-timeout', '1') as s:
        port = int(s.url.rsplit(':', 1)[1])
        head = ('POST /attest/SgxEnclave?%s HTTP/1.1\r\nHost: x\r\nContent-Type: '
                'application/json\r\nContent-Length: 100000000\r\n\r\n' % API).encode()
        for what, trickle, bound in (('silent client: closed after --lingering-timeout', False, 3),
                                     ('trickling client: closed after --lingering-time', True, 6)):
            c = socket.create_connection(('127.0.0.1', port))
            c.settimeout(0.3)
            c.sendall(head + b'x' * 4096)
            t0 = time.monotonic()
            got, closed = b'', False
            while time.monotonic() - t0 < 15 and not closed:
                try:
                    b = c.recv(4096)
                    if not b:
                        closed = True
                    got += b
                except socket.timeout:
                    pass
                except OSError:
                    closed = True
                if trickle and not closed:
                    try:
                        c.send(b'x')
                    except OSError:
                        closed = True
            secs = time.monotonic() - t0
            c.close()
            T.check(what + ': the 413 first', got.startswith(b'HTTP/1.1 413'), got[:100])
            T.check('%s (%.1f s, bound %d s)' % (what, secs, bound), closed and secs < bound, secs)


# ------------------------------------------------------------------------------------ metrics

def metrics_checks():
    with Server() as s:
        s.post('/attest/SgxEnclave', {'quote': '!!!not base64!!!'})
        s.post('/attest/SgxEnclave', {'quote': b64url(b'\x03\x00\x02\x00' + b'\x00' * 40)})
        # a request is counted when MHD reports it complete, just after its answer is sent: the
        # client can scrape first (seen under ASan), so wait up to 5 s for both to be counted
        t0 = time.monotonic()
        while True:
            text = metrics(s)
            n = sum(float(l.rsplit(' ', 1)[1]) for l in text.splitlines()
                    if l.startswith('attestd_attest_outcomes_total{type="SgxEnclave"'))
            if n >= 2 or time.monotonic() - t0 > 5:
                break
            time.sleep(0.05)
        bad64 = metric(text, 'attestd_attest_outcomes_total',
                       {'type': 'SgxEnclave', 'code': 'ATT_E_ARG', 'maa_code': 'InvalidParameter'})
        trunc = [l for l in text.splitlines() if l.startswith('attestd_attest_outcomes_total{') and
                 'code="ATT_E_QUOTE_' in l and 'maa_code="InvalidParameter"' in l]
        T.eq('outcomes: bad base64 is ATT_E_ARG', bad64, 1.0, text[-3000:])
        T.check('outcomes: a truncated quote is its own ATT_E_QUOTE_* code', len(trunc) == 1, trunc)
        now = time.time()
        rss = metric(text, 'process_resident_memory_bytes')
        vms = metric(text, 'process_virtual_memory_bytes')
        start = metric(text, 'process_start_time_seconds')
        fds = metric(text, 'process_open_fds')
        maxfds = metric(text, 'process_max_fds')
        cpu = metric(text, 'process_cpu_seconds_total')
        T.check('process_resident_memory_bytes', rss is not None and rss > 1 << 20, rss)
        T.check('process_virtual_memory_bytes >= resident', vms is not None and vms >= rss, vms)
        T.check('process_start_time_seconds: this process', start is not None and
                now - 120 < start <= now + 5, (start, now))
        T.check('process_open_fds', fds is not None and 3 <= fds <= (maxfds or 0), (fds, maxfds))
        T.check('process_cpu_seconds_total', cpu is not None and cpu >= 0, cpu)
        T.check('process_* TYPE lines', '# TYPE process_cpu_seconds_total counter' in text and
                '# TYPE process_open_fds gauge' in text, text[:200])
        age = metric(text, 'attestd_signing_key_age_seconds')
        T.check('signing key age', age is not None and 0 <= age < 120, age)


# ------------------------------------------------------------------------------------ proxies

def request_log(s, rid):
    return wait_log(s, lambda o: o.get('msg') == 'request' and o.get('request_id') == rid, 5) or {}


def proxies():
    xff = {'X-Forwarded-For': '198.51.100.7, 203.0.113.9'}
    with Server('--log-level', 'info') as s:
        r = s.get('/certs', api=None, headers=xff)
        o = request_log(s, r.headers.get('x-ms-request-id'))
        T.check('no --trusted-proxy: X-Forwarded-For ignored', str(o.get('remote', '')).startswith(
            '127.0.0.1:') and 'peer' not in o, o)
    with Server('--log-level', 'info', '--trusted-proxy', '127.0.0.0/8',
                '--trusted-proxy', '10.0.0.0/8') as s:
        r = s.get('/certs', api=None, headers=xff)
        o = request_log(s, r.headers.get('x-ms-request-id'))
        T.eq('trusted proxy: the rightmost address', o.get('remote'), '203.0.113.9', o)
        T.check('trusted proxy: the peer kept', str(o.get('peer', '')).startswith('127.0.0.1:'), o)
        r = s.get('/certs', api=None,
                  headers={'X-Forwarded-For': '198.51.100.7, 203.0.113.9, 10.1.2.3'})
        o = request_log(s, r.headers.get('x-ms-request-id'))
        T.eq('trusted proxy chain: the rightmost untrusted address', o.get('remote'),
             '203.0.113.9', o)
        r = s.get('/certs', api=None, headers={'X-Forwarded-For': 'garbage, 203.0.113.9'})
        o = request_log(s, r.headers.get('x-ms-request-id'))
        T.eq('garbage left of the client: ignored', o.get('remote'), '203.0.113.9', o)
        # the loopback rule of anonymous changes sees the client, not the proxy
        jws = policy_jws_unsigned(PERMIT_POLICY)
        r = s.put('/policies/SgxEnclave', jws, headers=dict(xff, **{'Content-Type': 'text/plain'}))
        T.eq('change through the proxy from a remote client: 401', r.status, 401, repr(r))
        r = s.put('/policies/SgxEnclave', jws, headers={'Content-Type': 'text/plain'})
        T.eq('change from loopback itself: 200', r.status, 200, repr(r))
        # x-ms-client-request-id: logged, bounded, printable
        r = s.get('/certs', api=None, headers={'x-ms-client-request-id': 'my-id-42'})
        o = request_log(s, r.headers.get('x-ms-request-id'))
        T.eq('client request id logged', o.get('client_request_id'), 'my-id-42', o)
        r = s.get('/certs', api=None, headers={'x-ms-client-request-id': 'a' * 300})
        o = request_log(s, r.headers.get('x-ms-request-id'))
        T.eq('client request id: 128 characters and "..."', o.get('client_request_id'),
             'a' * 128 + '...', o)
        r = s.get('/certs', api=None, headers={'x-ms-client-request-id': 'id\xe9\xff'})
        o = request_log(s, r.headers.get('x-ms-request-id'))
        T.eq('client request id: printable ASCII only', o.get('client_request_id'), 'id??', o)
    p = attestd('--trusted-proxy', '10.0.0.0/33', '--help')
    T.eq('--trusted-proxy 10.0.0.0/33: refused (exit 2)', p.returncode, 2, p.stderr)


# ------------------------------------------------------------------------------------ key logs

def key_logs():
    d = tmpdir()
    p = attestd('keys', 'rotate', '--data-dir', d)
    T.eq('first key (RS256)', p.returncode, 0, p.stderr)
    with Server('--log-level', 'info', '--signing-alg', 'ES256', data_dir=d) as s:
        o = wait_log(s, lambda o: '--signing-alg ES256 is not used' in o.get('msg', ''), 5)
        T.check('--signing-alg ignored: logged', o is not None and o.get('level') == 'warn',
                s.log())
        p = attestd('keys', 'rotate', '--data-dir', d)
        new = re.search(r'new signing key (\S+)', p.stdout)
        T.check('keys rotate beside the server', p.returncode == 0 and new, p.stdout + p.stderr)
        end = time.monotonic() + 15
        o = None
        while o is None and time.monotonic() < end:
            s.get('/certs', api=None)
            o = wait_log(s, lambda o: o.get('msg', '').startswith('signing key changed'), 0.5)
        T.check('rotated key picked up: logged with its kid', o is not None and new and
                new.group(1) in o.get('msg', ''), s.log())


def main():
    T.section(commands)
    T.section(readiness)
    T.section(clock_override)
    T.section(lingering)
    T.section(metrics_checks)
    T.section(proxies)
    T.section(key_logs)


T.run(main)
