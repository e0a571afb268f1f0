#!/usr/bin/env python3
"""test_store_pg.py - attestd replicas on one PostgreSQL database (docs/store.md, "PostgreSQL"),
against a throw-away cluster that tests/tools/pg-start.sh starts (and stops, however this script
ends). Prints one SKIP line and passes where PostgreSQL cannot start.

- Two attestd started together on an empty database: both start, the schema is migrated once
  (schema_version holds versions 1-4 once), one signing key is made (not one each), and both
  serve the same /certs; a token from either verifies against the other's /certs.
- The password comes from a passfile (PGPASSFILE), never from the URL, and is never printed; a
  wrong password in the URL stops attestd with the URL masked.
- A policy PUT on A governs B within a second (LISTEN/NOTIFY): B's GET /policies is polled (2 ms) until
  it changes; the latency of each round is printed, and checked only against a generous 5 s.
  A reset on B reaches A the same way. `attestd keys rotate` on the store: both publish the new
  key (and keep the old one).
- PostgreSQL down (the server stopped under the two replicas, then started again): both go on
  answering from memory (GET /policies, /certs with the same keys, and, with the real vector
  sets, attestation); a policy PUT is 503 ServiceUnavailable with Retry-After and the reason;
  /readyz stays 200 and says writes are unavailable and why; once the server is back, writes
  succeed again without a restart and a change on A reaches B again (the watcher reconnected).
"""
import atexit
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ATTESTD, DCAP, REPO, Results, Server, b64url, jwt_parts,  # noqa
                     policy_jws_unsigned, quote_bytes, run, tmpdir, verify_token)

T = Results('e2e/test_store_pg')
PG_START = os.path.join(REPO, 'tests', 'tools', 'pg-start.sh')
TEXT = {'Content-Type': 'text/plain'}
BOUND = 5.0  # seconds: generous; the figure is printed, not asserted


class Cluster:
    def __init__(self):
        # not a harness tmpdir: the harness removes those before atexit, and a cluster whose
        # directory is gone cannot be stopped by pg-start.sh (stop() removes it itself)
        parent = tempfile.mkdtemp(prefix='attestd-pg-')
        os.chmod(parent, 0o711)  # as root the cluster runs as nobody, who must reach DIR
        self.parent = parent
        self.dir = os.path.join(parent, 'pg')
        r = run(['sh', PG_START, 'start', self.dir], timeout=120)
        self.env = {}
        if r.returncode != 0:
            self.error = (r.stderr.strip().splitlines() or ['?'])[-1]
            return
        self.error = None
        for line in open(os.path.join(self.dir, 'env')):
            k, _, v = line.strip().partition('=')
            self.env[k] = v.strip("'")

    def halt(self):
        r = run(['sh', PG_START, 'halt', self.dir], timeout=60)
        T.eq('the PostgreSQL server stopped', r.returncode, 0, r.stderr)

    def resume(self):
        r = run(['sh', PG_START, 'resume', self.dir], timeout=60)
        T.eq('the PostgreSQL server started again', r.returncode, 0, r.stderr)

    def stop(self):
        if self.dir and os.path.isdir(self.dir):
            run(['sh', PG_START, 'stop', self.dir], timeout=60)
        if self.dir:
            shutil.rmtree(self.parent, ignore_errors=True)
        self.dir = None

    def sql(self, q, db='attestd'):
        url = self.env['PG_URL'].replace('/postgres?', '/%s?' % db, 1)
        r = run(['psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', url, '-c', q])
        if r.returncode != 0:
            raise RuntimeError('psql: ' + r.stderr)
        return r.stdout.strip()


PG = None


def _stop_pg(*_):
    if PG is not None:
        PG.stop()


atexit.register(_stop_pg)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    _prev = signal.getsignal(_s)

    def _handler(signum, frame, prev=_prev):
        _stop_pg()
        if callable(prev):
            prev(signum, frame)
        os._exit(128 + signum)

    signal.signal(_s, _handler)


def sgx_set():
    """(dir, verification time) of an accepted SGX vector set, or None without the sets."""
    if DCAP is None:
        return None
    import json
    for name in sorted(os.listdir(DCAP)):
        p = os.path.join(DCAP, name, 'expected.json')
        if os.path.isfile(p):
            exp = json.load(open(p))
            if str(exp['quote'].get('tee_type', '0x0')).lower() != '0x81' and \
                    exp['expected']['accept']:
                return os.path.join(DCAP, name), exp['verification_time']
    return None


def start_pair(url, env):
    """Two attestd on url started at the same moment (threads); returns [A, B]."""
    out, errs = [None, None], []
    gate = threading.Barrier(2)
    vec = sgx_set()
    # without the vector sets a collateral source that is never asked keeps /readyz at 200
    # (no source at all is 503 "not ready": issue 16)
    kw = {'at': vec[1], 'collateral_dir': DCAP} if vec else {'collateral_url': 'http://127.0.0.1:9'}

    def one(i):
        try:
            gate.wait(10)
            out[i] = Server('--store', url, extra_env=env, **kw)
        except Exception as ex:  # noqa: BLE001
            errs.append(str(ex))

    th = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in th:
        t.start()
    for t in th:
        t.join(60)
    if errs:
        raise RuntimeError('; '.join(errs))
    return out


def kids(s):
    return sorted(k.get('kid') for k in (s.jwks() or {}).get('keys', []))


def policy_in_force(s, typ='SgxEnclave'):
    r = s.get('/policies/' + typ)
    if r.status != 200 or not r.token:
        return None
    return jwt_parts(r.token)[1].get('x-ms-policy')


def wait_for(s, want, typ='SgxEnclave'):
    """Seconds until s's policy in force for typ is want (polled every 2 ms), or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < BOUND:
        if policy_in_force(s, typ) == want:
            return time.monotonic() - t0
        time.sleep(0.002)
    return None


def first_start(url, env):
    a, b = start_pair(url, env)
    T.check('both replicas started', a.alive() and b.alive())
    T.eq('schema migrated once: versions 1-4, one row each',
         PG.sql('SELECT string_agg(version::text, \',\' ORDER BY version) FROM schema_version'),
         '1,2,3,4')
    T.eq('one signing key for the two first starts', PG.sql('SELECT count(*) FROM signing_keys'),
         '1')
    ka, kb = kids(a), kids(b)
    T.check('A and B serve the same /certs', ka == kb and len(ka) == 1, (ka, kb))
    T.eq('one challenge key shared', PG.sql('SELECT count(*) FROM service_secrets'), '1')
    # a token from either replica verifies against the other's /certs
    for x, y, name in ((a, b, 'A against B'), (b, a, 'B against A')):
        r = x.get('/policies/SgxEnclave')
        ok, _, why = verify_token(r.token, y.jwks(), x.issuer) if r.token else (False, 0, repr(r))
        T.check('a token of %s\'s /certs verifies' % name, ok, why)
    pw = PG.env['PG_PASSWORD']
    T.check('the password is not in either log', pw not in a.log() + b.log())
    return a, b


def propagation(a, b):
    lat = []
    for i in range(10):
        text = ('version=1.0; authorizationrules { => permit(); }; issuancerules { '
                '=> issue(type="round", value=%d); };' % i)
        jws = policy_jws_unsigned(text)
        r = a.put('/policies/SgxEnclave', jws, headers=TEXT)
        if not T.eq('PUT on A, round %d: 200' % i, r.status, 200, repr(r)):
            return
        t = wait_for(b, jws)
        T.check('round %d: B has A\'s policy within %.0f s' % (i, BOUND), t is not None)
        if t is not None:
            lat.append(t)
    # a reset on B reaches A: A's policy becomes the default again
    default = policy_in_force(b, 'TdxVm')  # never set: the default's JWS
    jws = policy_jws_unsigned('version=1.0; authorizationrules { => permit(); }; issuancerules { };')
    T.eq('PUT TdxVm on A', a.put('/policies/TdxVm', jws, headers=TEXT).status, 200)
    T.check('B has the TdxVm policy', wait_for(b, jws, 'TdxVm') is not None)
    T.eq('reset TdxVm on B', b.post('/policies/TdxVm:reset', '').status, 200)
    T.check('A is back on the default TdxVm policy', wait_for(a, default, 'TdxVm') is not None)
    if lat:
        print('policy PUT on A -> in force on B: median %.0f ms, max %.0f ms over %d rounds'
              % (statistics.median(lat) * 1000, max(lat) * 1000, len(lat)), flush=True)


def attest(s):
    vec = sgx_set()
    return s.post('/attest/SgxEnclave', {'quote': b64url(quote_bytes(vec[0]))}) if vec else None


def rotation(a, b):
    """`attestd keys rotate` beside the replicas: both publish the new key (the keys notification
    makes their next /certs reload) within the generous bound."""
    before = kids(a)
    env = dict(os.environ, PGPASSFILE=PG.env['PG_PASSFILE'])
    r = run([ATTESTD, '--store', PG.env['PG_TCP_URL'], '--data-dir', tmpdir(), 'keys', 'rotate'],
            timeout=60, env=env)
    T.eq('keys rotate on the shared store: exit 0', r.returncode, 0, r.stderr)
    t0, ok = time.monotonic(), False
    while time.monotonic() - t0 < BOUND and not ok:
        ka, kb = kids(a), kids(b)
        ok = len(ka) == len(before) + 1 and ka == kb
        time.sleep(0.01) if not ok else None
    T.check('A and B publish the rotated key (old one kept)', ok, (before, kids(a), kids(b)))


def pg_down(a, b):
    certs = kids(a)
    before = policy_in_force(a)
    r = attest(b)
    if r is not None:
        T.eq('attest on B with PostgreSQL up: 200', r.status, 200, repr(r))
    PG.halt()
    T.eq('down: GET /policies on A from memory', policy_in_force(a), before)
    T.eq('down: /certs on A and B unchanged', (kids(a), kids(b)), (certs, certs))
    r = attest(b)
    if r is None:
        print('SKIP (part): no real vector sets, so no attestation while PostgreSQL is down',
              flush=True)
    else:
        T.eq('down: attest on B from memory: 200', r.status, 200, repr(r))
    jws = policy_jws_unsigned('version=1.0; authorizationrules { => permit(); }; '
                              'issuancerules { => issue(type="down", value=1); };')
    r = a.put('/policies/SgxEnclave', jws, headers=TEXT)
    T.eq('down: PUT on A is 503', r.status, 503, repr(r))
    T.eq('down: ServiceUnavailable', r.error_code, 'ServiceUnavailable', repr(r))
    T.check('down: the message says why', 'PostgreSQL cannot be reached' in r.error_message,
            r.error_message)
    T.eq('down: Retry-After', r.headers.get('retry-after'), '1')
    T.eq('down: the policy in force is unchanged', policy_in_force(a), before)
    r = a.get('/readyz', api=None)
    j = r.json or {}
    T.eq('down: /readyz 200 (attestation goes on)', r.status, 200, repr(r))
    T.eq('down: /readyz writes', (j.get('status'), j.get('writes')), ('ready', 'unavailable'))
    T.check('down: /readyz reason', 'PostgreSQL cannot be reached' in j.get('reason', ''), j)
    T.check('down: the password is in no answer', PG.env['PG_PASSWORD'] not in repr(j))
    PG.resume()
    # back: writes succeed again by themselves (reconnects at most once a second)
    t0, ok = time.monotonic(), False
    while time.monotonic() - t0 < 10 and not ok:
        ok = a.put('/policies/SgxEnclave', jws, headers=TEXT).status == 200
        time.sleep(0.1) if not ok else None
    T.check('back: PUT on A succeeds again without a restart', ok)
    T.check('back: B has it (its watcher reconnected)', wait_for(b, jws) is not None)
    j = a.get('/readyz', api=None).json or {}
    T.eq('back: /readyz writes ready', j.get('writes'), 'ready', j)


def wrong_password():
    url = PG.env['PG_TCP_URL'].replace('attestd@', 'attestd:Wr0ngPassw0rd@', 1)
    r = run([ATTESTD, '--listen', '127.0.0.1:0', '--data-dir', tmpdir(), '--store', url],
            timeout=60, env={k: v for k, v in os.environ.items() if not k.startswith('PG')})
    T.eq('wrong password: exit 1', r.returncode, 1, r.stderr)
    T.check('wrong password: the message names the URL masked',
            'attestd:***@127.0.0.1' in r.stdout + r.stderr, r.stderr)
    T.check('wrong password: never printed', 'Wr0ngPassw0rd' not in r.stdout + r.stderr, r.stderr)


def main():
    global PG
    PG = Cluster()
    if PG.error:
        print('SKIP: PostgreSQL cannot start here: %s' % PG.error, flush=True)
        PG.stop()
        sys.exit(0)
    env = {'PGPASSFILE': PG.env['PG_PASSFILE']}
    a, b = first_start(PG.env['PG_TCP_URL'], env)
    T.section(propagation, a, b)
    T.section(rotation, a, b)
    T.section(pg_down, a, b)
    a.stop()
    b.stop()
    T.section(wrong_password)
    PG.stop()  # here, before the harness's own clean-up (atexit stops it on any other exit)


T.run(main)
