#!/usr/bin/env python3
"""test_faults.py - attestd under faults (issue 6, "Faults"), through the real server on loopback:

- collateral source (tests/tools/pcs_server.py as --collateral-url) down before the first fetch
  (503 ServiceUnavailable naming the fetch), down after a successful fetch (200 from the cache,
  also after a restart on the same data dir: the store's copy), slow (--delay past attestd's 10 s
  fetch timeout: 503 naming the timeout, /healthz answers meanwhile), returning garbage and
  failing with HTTP 500 (a clean error, no crash);
- what a misbehaving source may cost (issue 18 B1, B3, B4): with --threads 2 and a PCS answering
  each GET after 9 s, 4 concurrent attests needing a fetch leave a cached platform's attest and
  /healthz answering within 3 s (the fetch ends at its 10 s deadline, the requests over the
  waiter bound get 503 at once); 200 attests against a PCS answering 503 make a handful of
  upstream requests (backoff), not 200; a redirect to another port is not followed (that server
  sees nothing); a 403 body marked INTERNAL-ONLY is logged, never sent to the client;
- the store failing to write (RLIMIT_FSIZE 0 on the running process, SIGXFSZ ignored: every
  write to a regular file fails with EFBIG, the closest to a full disk without mounting
  anything): a policy PUT gets a clean 5xx, attestation and the policy in force are unchanged,
  writes work again once the limit is lifted; the store read-only (attestd as uid 65534 on a
  directory and database made read-only, since root ignores file modes);
- SIGTERM during load: 8 threads attest in a loop; every HTTP answer is a complete 200, the
  process exits 0 within the grace period, new connections are refused;
- kill -9 during policy writes: a thread PUTs alternating policies A and B; after kill -9 at a
  random moment and a restart on the same data dir the policy in force is A or B, and it is the
  last acknowledged one or the one in flight (3 rounds).
"""
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import (ATTESTD, DCAP, PcsServer, Results, Server, b64url, jwt_parts, quote_bytes,
                     request, sgx_vector, tmpdir)

T = Results('e2e/test_faults')
TEXT = {'Content-Type': 'text/plain'}
NAME, VDIR, EXP = sgx_vector()
AT = EXP['verification_time']
Q = b64url(quote_bytes(VDIR))


def policy(marker):
    return ('version=1.0; authorizationrules { => permit(); }; issuancerules { '
            '=> issue(type="e2e-marker", value="%s"); };' % marker)


def marker(reply):
    """The e2e-marker claim of an attestation answer (None without one)."""
    if reply.status != 200 or not reply.token:
        return None
    return jwt_parts(reply.token)[1].get('e2e-marker')


def attest(s, timeout=30):
    return s.post('/attest/SgxEnclave', {'quote': Q}, timeout=timeout)


# ---------------------------------------------------------------- collateral source faults

def collateral_down_before_fetch():
    pcs = PcsServer(DCAP)
    url = pcs.url
    pcs.stop()
    with Server(at=AT, collateral_url=url) as s:
        r = attest(s)
        T.eq('PCS down before first fetch: 503', r.status, 503, repr(r))
        T.eq('PCS down before first fetch: ServiceUnavailable', r.error_code, 'ServiceUnavailable')
        T.check('PCS down: message names the fetch and URL',
                'ATT_E_FETCH' in r.error_message and url in r.error_message, repr(r))
        T.eq('PCS down: /healthz still 200', s.get('/healthz', api=None).status, 200)
        T.check('PCS down: attestd alive', s.alive(), s.log())


def collateral_down_after_fetch():
    pcs = PcsServer(DCAP)
    s = Server(at=AT, collateral_url=pcs.url)
    r = attest(s)
    T.eq('PCS up: first attest 200', r.status, 200, repr(r))
    pcs.stop()
    r = attest(s)
    T.eq('PCS killed after a fetch: attest still 200 (memory cache)', r.status, 200, repr(r))
    T.eq('clean stop: exit 0', s.stop(), 0)
    s = Server(at=AT, collateral_url=pcs.url, data_dir=s.dir)
    r = attest(s)
    T.eq('PCS down, restart on the same store: 200 (stored collateral)', r.status, 200, repr(r))
    s.stop()


def collateral_slow():
    pcs = PcsServer('--delay', '12', DCAP)
    with Server(at=AT, collateral_url=pcs.url) as s:
        box = {}
        t0 = time.time()
        th = threading.Thread(target=lambda: box.update(r=attest(s, timeout=40)), daemon=True)
        th.start()
        time.sleep(0.3)
        worst = 0.0
        health = []
        while th.is_alive() and time.time() - t0 < 30:
            h0 = time.time()
            try:
                health.append(s.get('/healthz', api=None, timeout=5).status)
            except Exception as ex:
                health.append(repr(ex))
            worst = max(worst, time.time() - h0)
            time.sleep(0.5)
        th.join(30)
        took = time.time() - t0
        r = box.get('r')
        T.check('slow PCS: attest answered', r is not None)
        if r is None:
            return
        T.eq('slow PCS: 503', r.status, 503, repr(r))
        T.eq('slow PCS: ServiceUnavailable', r.error_code, 'ServiceUnavailable')
        T.check('slow PCS: message names the timeout',
                'ATT_E_FETCH' in r.error_message and 'time' in r.error_message.lower(), repr(r))
        T.check('slow PCS: answered after the ~10 s fetch timeout, not the 12 s delay',
                9 <= took < 12, 'took %.1f s' % took)
        T.check('slow PCS: /healthz answered 200 meanwhile, each within 1 s',
                len(health) >= 5 and all(h == 200 for h in health) and worst < 1.0,
                'health=%r worst=%.2f s' % (health, worst))
        print('  slow PCS: attest answered in %.1f s; %d /healthz during it, slowest %.3f s' % (
            took, len(health), worst), flush=True)
    pcs.stop()


def collateral_bad(flags, what):
    pcs = PcsServer(*(flags + [DCAP]))
    with Server(at=AT, collateral_url=pcs.url) as s:
        r = attest(s)
        T.check('%s: 4xx or 503' % what, 400 <= r.status < 500 or r.status == 503, repr(r))
        T.check('%s: a CloudError with a message' % what,
                r.error_code is not None and len(r.error_message) > 10, repr(r))
        print('  %s: HTTP %d %s: %s' % (what, r.status, r.error_code, r.error_message[:160]),
              flush=True)
        r = attest(s)
        T.check('%s: second attempt answered the same way' % what,
                400 <= r.status < 500 or r.status == 503, repr(r))
        T.eq('%s: /healthz 200' % what, s.get('/healthz', api=None).status, 200)
        T.check('%s: attestd alive' % what, s.alive(), s.log())
    pcs.stop()


# ---------------------------------------------------------------- what a misbehaving PCS may cost
# (issue 18 B1, B3, B4)

TDX_DIR = os.path.join(DCAP, 'tdx-v4-fmspcB0C06F000000')
QT = b64url(quote_bytes(TDX_DIR))


def count_lines(path):
    try:
        return sum(1 for _ in open(path))
    except OSError:
        return 0


def attest_tdx(s, timeout=60):
    return s.post('/attest/TdxVm', {'quote': QT}, api='2023-04-01-preview', timeout=timeout)


def collateral_slow_workers():
    """B1: --threads 2, a PCS answering each GET after 9 s, 4 concurrent TDX attests needing a
    fetch from it. Before: the fetch took 4 x 9 s and held both workers, so an attest of a
    cached platform took 29.5 s and /healthz 35.6 s. Now one request waits on the fetch (the
    default bound is --threads minus 1), the others get 503 at once, the fetch ends at its 10 s
    deadline, and the cached SGX platform (from --collateral-dir) and /healthz answer at once."""
    count = os.path.join(tmpdir(), 'count')
    pcs = PcsServer('--delay', '9', TDX_DIR, count_file=count)
    with Server('--threads', '2', at=AT, collateral_dir=VDIR, collateral_url=pcs.url) as s:
        T.eq('slow PCS, 2 threads: cached SGX attest 200 before', attest(s).status, 200)
        box = []
        lock = threading.Lock()

        def tdx():
            t0 = time.time()
            try:
                r = attest_tdx(s)
            except Exception as ex:  # a transport failure is a finding too
                r = ex
            with lock:
                box.append((r, time.time() - t0))

        # The first attest starts the fetch; the other three arrive once it is under way. (Sent
        # in one burst, a worker can accept several connections in one epoll pass before it
        # blocks in the fetch; those wait for it: seen under load, noted for issue 17.)
        t_start = time.time()
        ths = [threading.Thread(target=tdx, daemon=True) for _ in range(4)]
        ths[0].start()
        while count_lines(count) == 0 and time.time() - t_start < 15:
            time.sleep(0.02)  # the fetch has reached the PCS
        T.check('slow PCS: the fetch reached the PCS', count_lines(count) > 0)
        for t in ths[1:]:
            t.start()
        t0 = time.time()
        r = attest(s, timeout=60)
        took_attest = time.time() - t0
        t0 = time.time()
        h = s.get('/healthz', api=None, timeout=60)
        took_health = time.time() - t0
        T.eq('slow PCS: cached platform attest 200 during the fetch', r.status, 200, repr(r))
        T.check('slow PCS: cached platform attest answered within 3 s (was 29.5 s)',
                took_attest < 3, 'took %.2f s' % took_attest)
        T.eq('slow PCS: /healthz 200 during the fetch', h.status, 200)
        T.check('slow PCS: /healthz answered within 3 s (was 35.6 s)', took_health < 3,
                'took %.2f s' % took_health)
        for t in ths:
            t.join(40)
        rs = [x for x, _ in box]
        times = sorted(t for _, t in box)
        T.eq('slow PCS: 4 fetch attests answered', len(rs), 4, repr(box))
        T.check('slow PCS: each a 503 ServiceUnavailable',
                all(getattr(x, 'status', None) == 503 and x.error_code == 'ServiceUnavailable'
                    for x in rs), repr(rs))
        refused = [x for x in rs if 'already waiting on collateral fetches' in
                   getattr(x, 'error_message', '')]
        T.check('slow PCS: the requests over the bound were refused at once (>= 2)',
                len(refused) >= 2, repr(rs))
        T.check('slow PCS: the fetch ended at its 10 s deadline, not 4 x 9 s', times and
                times[-1] < 16, 'times %r' % times)
        T.check('slow PCS: the PCS got at most 2 GETs for the one fetch', count_lines(count) <= 2,
                '%d GETs' % count_lines(count))
        print('  slow PCS, 2 threads: cached attest %.3f s, /healthz %.3f s during the fetch; fetch '
              'attests answered after %s s; %d GETs' % (
                  took_attest, took_health, ', '.join('%.1f' % t for t in times),
                  count_lines(count)), flush=True)
    pcs.stop()


def collateral_503_backoff():
    """B3: 200 attests of a platform whose fetch fails (the PCS answers 503), from 8 threads.
    Before: 200 upstream requests in 0.4 s. Now: the first fetch fails, the key backs off 5 s,
    every other attest gets 503 without an upstream request."""
    count = os.path.join(tmpdir(), 'count')
    pcs = PcsServer('--fail-status', '503', VDIR, count_file=count)
    with Server(at=AT, collateral_url=pcs.url) as s:
        statuses = []
        lock = threading.Lock()

        def worker():
            for _ in range(25):
                r = attest(s)
                with lock:
                    statuses.append((r.status, r.error_code))

        t0 = time.time()
        ths = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(60)
        took = time.time() - t0
        T.eq('503 PCS: 200 attests answered', len(statuses), 200)
        T.check('503 PCS: every one 503 ServiceUnavailable',
                all(x == (503, 'ServiceUnavailable') for x in statuses), repr(set(statuses)))
        n = count_lines(count)
        T.check('503 PCS: a handful of upstream requests, not 200', n <= 3, '%d requests' % n)
        print('  503 PCS: 200 attests in %.1f s made %d upstream request(s)' % (took, n),
              flush=True)
    pcs.stop()


def collateral_redirect_and_body():
    """B4: a PCS that redirects to another port on loopback (that server must see nothing), and
    one answering 403 with an INTERNAL-ONLY body (the client must not see it)."""
    count = os.path.join(tmpdir(), 'count')
    other = PcsServer(VDIR, count_file=count)
    pcs = PcsServer('--redirect', other.url, VDIR)
    with Server(at=AT, collateral_url=pcs.url) as s:
        r = attest(s)
        T.eq('redirecting PCS: 503', r.status, 503, repr(r))
        T.check('redirecting PCS: the error says the redirect was not followed',
                'not followed' in r.error_message, repr(r))
        T.check('redirecting PCS: the error does not name the target',
                other.url not in r.error_message, repr(r))
        T.eq('redirecting PCS: the other server got no request', count_lines(count), 0)
    pcs.stop()
    other.stop()
    pcs = PcsServer('--fail-status', '403', '--fail-body', 'INTERNAL-ONLY: ask db7.corp', VDIR)
    with Server(at=AT, collateral_url=pcs.url) as s:
        r = attest(s)
        T.eq('403 PCS: 503', r.status, 503, repr(r))
        T.check('403 PCS: names the status and the item',
                'collateral source answered HTTP 403 for the SGX TCB info' in r.error_message,
                repr(r))
        T.check('403 PCS: the body does not reach the client',
                'INTERNAL-ONLY' not in r.error_message and 'db7' not in r.body.decode(
                    errors='replace'), repr(r))
        for _ in range(50):  # stderr reaches the log file through the harness's drain thread
            if 'INTERNAL-ONLY' in s.log():
                break
            time.sleep(0.1)
        T.check('403 PCS: the body is in the log', 'INTERNAL-ONLY' in s.log(), s.log())
    pcs.stop()


# ---------------------------------------------------------------- store faults

class Raw:
    """attestd started directly (for a uid change or an ignored SIGXFSZ); .url, .p, .stop()."""

    def __init__(self, data_dir, uid=None, ignore_xfsz=False, exe=None, coll=None):
        def pre():
            if ignore_xfsz:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # kept across exec
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
        self.dir = data_dir
        logdir = tmpdir('attestd-log-')
        os.chmod(logdir, 0o777)
        self.err_path = os.path.join(logdir, 'stderr')
        self.p = subprocess.Popen([exe or ATTESTD, '--listen', '127.0.0.1:0', '--data-dir',
                                   data_dir, '--collateral-dir', coll or DCAP, '--at', AT,
                                   '--log-level', 'warn'],
                                  stdout=subprocess.PIPE, stderr=open(self.err_path, 'wb'),
                                  stdin=subprocess.DEVNULL, preexec_fn=pre,
                                  env={k: v for k, v in os.environ.items()
                                       if not k.startswith('ATTESTD_')})
        harness._procs.append(self.p)
        self.url = None
        t0 = time.time()
        while time.time() - t0 < 20:
            line = self.p.stdout.readline().decode()
            if not line:
                break
            if line.startswith('issuer: '):
                self.url = line.split()[1]
                break
        if self.url:  # keep draining stdout
            threading.Thread(target=lambda: self.p.stdout.read(), daemon=True).start()

    def log(self):
        return open(self.err_path, errors='replace').read()[-2000:]

    def post(self, path, body=None, **kw):
        return request(self.url, 'POST', path, body, **kw)

    def put(self, path, body=None, **kw):
        return request(self.url, 'PUT', path, body, **kw)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        return self.p.returncode


def store_write_fails():
    d = tmpdir()
    s = Raw(d, ignore_xfsz=True)
    if not T.check('RLIMIT_FSIZE run: attestd started', s.url is not None, s.log()):
        return
    r = s.put('/policies/SgxEnclave', policy('A'), headers=TEXT)
    T.eq('store writable: PUT A 200', r.status, 200, repr(r))
    resource.prlimit(s.p.pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
    r = s.put('/policies/SgxEnclave', policy('B'), headers=TEXT)
    T.check('writes fail (EFBIG): PUT B gets a clean 5xx', 500 <= r.status < 600 and
            r.error_code is not None, repr(r))
    print('  store writes failing: PUT -> HTTP %d %s: %s' % (r.status, r.error_code,
                                                            r.error_message[:160]), flush=True)
    r = s.post('/attest/SgxEnclave', {'quote': Q})
    T.eq('writes fail: attest still 200 with policy A', (r.status, marker(r)), (200, 'A'),
         repr(r))
    T.check('writes fail: attestd alive', s.p.poll() is None, s.log())
    resource.prlimit(s.p.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,
                                                      resource.RLIM_INFINITY))
    r = s.put('/policies/SgxEnclave', policy('C'), headers=TEXT)
    T.eq('limit lifted: PUT C 200', r.status, 200, repr(r))
    T.eq('limit lifted: exit 0 on SIGTERM', s.stop(), 0, s.log())
    s = Raw(d)
    r = s.post('/attest/SgxEnclave', {'quote': Q}) if s.url else None
    T.eq('after restart: policy C in force', r and (r.status, marker(r)), (200, 'C'), repr(r))
    s.stop()


def store_read_only():
    if os.geteuid() != 0:
        print('  SKIP store read-only: needs root to switch to uid 65534', flush=True)
        return
    uid = 65534
    d = os.path.join(tmpdir(), 'var')
    top = os.path.dirname(d)
    os.chmod(top, 0o755)
    # The unprivileged attestd must reach its binary and collateral whatever the modes of the
    # directories above the checkout: run copies from this 0755 directory.
    exe = os.path.join(top, 'attestd')
    shutil.copy2(ATTESTD, exe)
    coll = os.path.join(top, 'dcap')
    shutil.copytree(DCAP, coll)
    for root, dirs, files in os.walk(coll):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    os.mkdir(d, 0o700)
    os.chown(d, uid, uid)
    s = Raw(d, uid=uid, exe=exe, coll=coll)
    if not s.url:
        print('  SKIP store read-only: attestd cannot run as uid %d here: %s' % (uid, s.log()),
              flush=True)
        return
    r = s.put('/policies/SgxEnclave', policy('A'), headers=TEXT)
    T.eq('read-only prep (uid %d): PUT A 200' % uid, r.status, 200, repr(r))
    T.eq('read-only prep: exit 0', s.stop(), 0)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o400)
    os.chmod(d, 0o500)
    s = Raw(d, uid=uid, exe=exe, coll=coll)
    if s.url is None:
        rc = s.p.wait(10)
        T.eq('read-only store: attestd refuses to start with exit 1', rc, 1, s.log())
        T.check('read-only store: the error names the store', 'attestd.db' in s.log() or
                'store' in s.log().lower(), s.log())
        print('  read-only store: start refused (exit %d): %s' % (rc, s.log().strip().splitlines()[-1][-200:]),
              flush=True)
    else:
        r = s.post('/attest/SgxEnclave', {'quote': Q})
        T.eq('read-only store: attest 200 with policy A', (r.status, marker(r)), (200, 'A'),
             repr(r))
        r = s.put('/policies/SgxEnclave', policy('B'), headers=TEXT)
        T.check('read-only store: PUT gets a clean 5xx', 500 <= r.status < 600 and
                r.error_code is not None, repr(r))
        print('  read-only store: started; PUT -> HTTP %d %s: %s' % (
            r.status, r.error_code, r.error_message[:160]), flush=True)
        r = s.post('/attest/SgxEnclave', {'quote': Q})
        T.eq('read-only store: policy A still in force', (r.status, marker(r)), (200, 'A'),
             repr(r))
        T.check('read-only store: attestd alive', s.p.poll() is None, s.log())
        s.stop()
    os.chmod(d, 0o700)


# ---------------------------------------------------------------- SIGTERM during load

def sigterm_during_load():
    s = Server(at=AT, collateral_dir=DCAP)
    port = int(s.url.rsplit(':', 1)[1])
    T.eq('warm-up attest 200', attest(s).status, 200)
    stop = threading.Event()
    lock = threading.Lock()
    stats = {'ok': 0, 'bad': [], 'transport': 0, 'after': 0}
    t_term = [None]

    def worker():
        while not stop.is_set():
            try:
                r = attest(s, timeout=15)
            except Exception:
                with lock:
                    stats['transport'] += 1
                time.sleep(0.01)
                continue
            with lock:
                good = r.status == 200 and r.token and len(r.token.split('.')) == 3
                if good:
                    stats['ok'] += 1
                    if t_term[0] is not None:
                        stats['after'] += 1
                else:
                    stats['bad'].append(repr(r)[:300])

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    with lock:
        before = stats['ok']
    t_term[0] = time.time()
    s.p.send_signal(signal.SIGTERM)
    # the listening socket closes at once: a new connection is refused while shutting down
    refused_at = None
    while time.time() - t_term[0] < 5:
        c = socket.socket()
        c.settimeout(1)
        try:
            c.connect(('127.0.0.1', port))
        except (ConnectionRefusedError, socket.timeout, OSError):
            refused_at = time.time() - t_term[0]
            break
        finally:
            c.close()
        time.sleep(0.02)
    try:
        rc = s.p.wait(12)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.time() - t_term[0]
    stop.set()
    for t in threads:
        t.join(20)
    T.check('load before SIGTERM: requests answered', before > 20, 'only %d' % before)
    T.eq('SIGTERM during load: every HTTP answer a complete 200', stats['bad'], [])
    T.eq('SIGTERM during load: exit 0 within the 10 s grace period', rc, 0, s.log())
    T.check('SIGTERM: new connections refused', refused_at is not None)
    c = socket.socket()
    c.settimeout(1)
    try:
        c.connect(('127.0.0.1', port))
        refused = False
    except OSError:
        refused = True
    c.close()
    T.check('after exit: connection refused', refused)
    print('  SIGTERM during load: %d attests (%d answered after SIGTERM), %d transport errors '
          '(refused/reset after the listener closed), new connections refused after %.3f s, '
          'exit %r after %.2f s' % (stats['ok'], stats['after'], stats['transport'],
                                    refused_at or -1, rc, took), flush=True)


# ---------------------------------------------------------------- kill -9 during policy writes

def kill9_during_writes(rounds=3):
    d = tmpdir()
    rng = random.Random()
    for k in range(rounds):
        s = Server(at=AT, collateral_dir=DCAP, data_dir=d)
        state = {'acked': None, 'inflight': None, 'n': 0, 'bad': []}
        done = threading.Event()

        def writer():
            i = 0
            while not done.is_set():
                m = 'A' if i % 2 == 0 else 'B'
                state['inflight'] = m
                try:
                    r = s.put('/policies/SgxEnclave', policy(m), headers=TEXT, timeout=10)
                except Exception:
                    return  # the server died under this request: m is the one in flight
                if r.status == 200:
                    state['acked'] = m
                    state['n'] += 1
                else:
                    state['bad'].append(repr(r)[:300])
                    return
                i += 1

        th = threading.Thread(target=writer, daemon=True)
        th.start()
        time.sleep(rng.uniform(0.3, 1.2))
        s.p.kill()
        s.p.wait(5)
        done.set()
        th.join(15)
        acked, inflight = state['acked'], state['inflight']
        T.eq('kill -9 round %d: every PUT before the kill acknowledged 200' % k, state['bad'], [])
        s2 = Server(at=AT, collateral_dir=DCAP, data_dir=d)
        r = attest(s2)
        got = marker(r)
        T.check('kill -9 round %d: restart, policy in force is A or B' % k, got in ('A', 'B'),
                repr(r))
        T.check('kill -9 round %d: it is the last acknowledged (%s) or the one in flight (%s)' % (
            k, acked, inflight), got in (acked, inflight), 'got %r' % got)
        g = s2.get('/policies/SgxEnclave')
        T.eq('kill -9 round %d: GET /policies 200' % k, g.status, 200, repr(g))
        print('  kill -9 round %d: %d PUTs acknowledged, last acked %s, in flight %s, after '
              'restart %s' % (k, state['n'], acked, inflight, got), flush=True)
        T.eq('kill -9 round %d: clean stop exit 0' % k, s2.stop(), 0)


def main():
    t0 = time.time()
    for fn in (collateral_down_before_fetch, collateral_down_after_fetch, collateral_503_backoff,
               collateral_redirect_and_body, collateral_slow_workers, store_write_fails,
               store_read_only, sigterm_during_load, kill9_during_writes):
        T.section(fn)
    # the slow and garbage sources run side by side: the slow one waits out a 10 s timeout
    th = threading.Thread(target=T.section, args=(collateral_slow,))
    th.start()
    T.section(collateral_bad, ['--garbage'], 'garbage collateral')
    T.section(collateral_bad, ['--fail-status', '500'], 'PCS answering 500')
    th.join(60)
    print('  faults: %.1f s' % (time.time() - t0), flush=True)


if __name__ == '__main__':
    T.run(main)
