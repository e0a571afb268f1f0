#!/usr/bin/env python3
"""e2e/test_replicas: keys and collateral across attestd replicas sharing one PostgreSQL database
(issue 14; docs/tokens.md "Rotation across replicas", docs/collateral.md "Many replicas").

A throw-away PostgreSQL cluster (tests/tools/pg-start.sh), one database per part, the replicas
and the PCS stand-in (tests/tools/pcs_server.py, counting its requests) all on loopback; a real
SGX vector set (skipped without the vector sets).

- Rotation never breaks a relying party: replicas A and B with one issuer (as behind a load
  balancer) and --key-publish-lead 3; a stream of attests through both, each token verified
  against BOTH replicas' /certs as fetched before the attest (a relying party caching the JWKS
  for up to 1 s), with `attestd keys rotate` run in the middle, between a JWKS fetch and an
  attest: zero failures; the new key signs only after the lead; A's and B's /certs and OpenID
  metadata are identical before and after. Prints how long the new key took to be in both
  /certs.
- Collateral fetched once for the cluster: three replicas, a stand-in that answers each request
  after 0.5 s, the first attests of one platform on all three at once: every stand-in path is
  requested exactly once (without the cluster's lease: three times each).
- A holder killed with -9 mid-fetch (the stand-in holds its first request): the two other
  replicas, waiting on its lease, answer 200 once the lease ran out (--collateral-timeout 4:
  a 6 s lease) and one of them fetched again: the TCB info twice in all, nothing more.
"""
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ATTESTD, REPO, PcsServer, Results, Server, b64url, b64url_dec,  # noqa
                     need_vectors, quote_bytes, run, sgx_vector, tmpdir, verify_token)
import json  # noqa: E402

T = Results('e2e/test_replicas')
need_vectors()
NAME, VDIR, EXP = sgx_vector()
AT = EXP['verification_time']
Q = b64url(quote_bytes(VDIR))
PG_START = os.path.join(REPO, 'tests', 'tools', 'pg-start.sh')
ISSUER = 'http://attestd.cluster.test'  # one issuer for the replicas, as behind a balancer
LEAD = 3  # --key-publish-lead of the rotation part


class Cluster:
    """tests/tools/pg-start.sh's cluster, outside the harness's temporary directories (which are
    removed before atexit; stop() removes this one)."""

    def __init__(self):
        self.parent = tempfile.mkdtemp(prefix='attestd-pg-')
        os.chmod(self.parent, 0o711)  # as root the cluster runs as nobody, who must reach DIR
        self.dir = os.path.join(self.parent, 'pg')
        r = run(['sh', PG_START, 'start', self.dir], timeout=120)
        self.env = {}
        self.error = None
        if r.returncode != 0:
            self.error = (r.stderr.strip().splitlines() or ['?'])[-1]
            return
        for line in open(os.path.join(self.dir, 'env')):
            k, _, v = line.strip().partition('=')
            self.env[k] = v.strip("'")

    def stop(self):
        if self.dir and os.path.isdir(self.dir):
            run(['sh', PG_START, 'stop', self.dir], timeout=60)
        if self.dir:
            shutil.rmtree(self.parent, ignore_errors=True)
        self.dir = None

    def sql(self, q, db='postgres'):
        url = self.env['PG_URL'].replace('/postgres?', '/%s?' % db, 1)
        r = run(['psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', url, '-c', q])
        if r.returncode != 0:
            raise RuntimeError('psql: ' + r.stderr)
        return r.stdout.strip()

    def new_db(self, name):
        """A new database owned by the attestd role; its URL (password from PGPASSFILE)."""
        self.sql('CREATE DATABASE %s OWNER attestd' % name)
        url = self.env['PG_TCP_URL']
        return url[:url.rindex('/')] + '/' + name


PG = None
ENV = {}


def _stop_pg(*_):
    if PG is not None:
        PG.stop()


import atexit  # noqa: E402
atexit.register(_stop_pg)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    _prev = signal.getsignal(_s)

    def _handler(signum, frame, prev=_prev):
        _stop_pg()
        if callable(prev):
            prev(signum, frame)
        os._exit(128 + signum)

    signal.signal(_s, _handler)


def replica(url, *args, **kw):
    """attestd on the shared store, with the cluster's issuer; .url is where it listens."""
    s = Server('--store', url, '--issuer', ISSUER, *args, extra_env=ENV, **kw)
    for line in s.lines:
        if line.startswith('attestd ') and ' listening on ' in line:
            s.url = line.split(' listening on ', 1)[1].strip()
    T.check('replica listens on loopback', s.url.startswith('http://127.0.0.1:'), s.url)
    return s


def attest(s, timeout=30):
    return s.post('/attest/SgxEnclave', {'quote': Q}, timeout=timeout)


def kid_of(tok):
    return json.loads(b64url_dec(tok.split('.')[0])).get('kid')


def kids(jwks):
    return sorted(k.get('kid') for k in (jwks or {}).get('keys', []))


# ---------------------------------------------------------------- rotation

def rotation():
    url = PG.new_db('rot')
    a = replica(url, '--key-publish-lead', str(LEAD), at=AT, collateral_dir=VDIR)
    b = replica(url, '--key-publish-lead', str(LEAD), at=AT, collateral_dir=VDIR)
    reps = [a, b]
    T.eq('rotation: A and B serve identical /certs at start', a.jwks(), b.jwks())
    oa = a.get('/.well-known/openid-configuration', api=None).json
    ob = b.get('/.well-known/openid-configuration', api=None).json
    T.check('rotation: identical OpenID metadata', oa is not None and oa == ob, (oa, ob))
    old = kids(a.jwks())
    fails, seen, iats = [], [], []  # seen: (seconds since the rotate or None, kid); iats:
    # (the token's iat, kid, replica)
    rotated_at, rotated_kid, both_at, rot_start = None, None, None, None
    ja, jb, cached = a.jwks(), b.jwks(), time.monotonic()
    t_start, i = time.monotonic(), 0
    while True:
        now = time.monotonic()
        if rotated_at is not None and now - rotated_at > LEAD + 3:
            break
        if now - t_start > 60:
            fails.append('the stream ran out of time')
            break
        if now - cached >= 1.0:  # the relying party's cache: refreshed every second
            ja, jb, cached = a.jwks(), b.jwks(), now
            if both_at is None and rotated_kid and rotated_kid in kids(ja) and \
                    rotated_kid in kids(jb):
                both_at = now - rotated_at
        if rotated_at is None and now - t_start >= 2:
            # in the middle, between the relying party's JWKS fetch and the next attest
            rot_start = time.monotonic()  # sign_from is after rot_start + LEAD - 1 (seconds)
            r = run([ATTESTD, '--store', url, '--data-dir', tmpdir(), '--issuer', ISSUER,
                     '--key-publish-lead', str(LEAD), 'keys', 'rotate'], timeout=60,
                    env=dict(os.environ, **ENV))
            rotated_at = time.monotonic()
            T.eq('rotation: keys rotate exit 0', r.returncode, 0, r.stderr)
            T.check('rotation: keys rotate says when the key signs',
                    'signs from %d s from now' % LEAD in r.stdout, r.stdout)
            rotated_kid = r.stdout.split()[3] if len(r.stdout.split()) > 3 else None
            # how long until the new key is in both replicas' /certs (polled every 5 ms)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 5:
                if rotated_kid in kids(a.jwks()) and rotated_kid in kids(b.jwks()):
                    both_at = time.monotonic() - rotated_at
                    break
                time.sleep(0.005)
            # the JWKS the relying party holds is still the one fetched before the rotate
        s = reps[i % 2]
        i += 1
        r = attest(s)
        if r.status != 200 or not r.token:
            fails.append('attest on %s: %r' % ('AB'[i % 2 - 1], r))
            continue
        for name, j in (('A', ja), ('B', jb)):
            ok, _, why = verify_token(r.token, j, ISSUER)
            if not ok:
                fails.append('token of %s against %s\'s cached /certs: %s' % (
                    'AB'[(i - 1) % 2], name, why))
        seen.append((None if rotated_at is None else time.monotonic() - rot_start,
                     kid_of(r.token)))
        iats.append((json.loads(b64url_dec(r.token.split('.')[1])).get('iat'), kid_of(r.token),
                     'AB'[(i - 1) % 2]))
    T.eq('rotation: every token verified against both replicas\' cached /certs', fails, [])
    T.check('rotation: a stream of attests ran (> 20)', len(seen) > 20, len(seen))
    T.check('rotation: the new kid is new', rotated_kid is not None and rotated_kid not in old,
            (rotated_kid, old))
    new_at = [t for t, k in seen if k == rotated_kid]
    # every replica switched at the very second the rows say (sign_from), notification or not:
    # old kid before it, new kid from it on
    sign_from = int(PG.sql("SELECT sign_from FROM signing_keys WHERE kid = '%s'" % rotated_kid,
                           db='rot') or 0)
    wrong = [x for x in iats if (x[1] == rotated_kid) != (x[0] >= sign_from)]
    T.eq('rotation: on both replicas, the old key signed every token before sign_from and the '
         'new key every token from it on', wrong[:5], [])
    T.check('rotation: the new key signed, after the lead', new_at and min(new_at) >= LEAD - 1,
            new_at[:3])
    T.check('rotation: the old key signed after the rotate, until the lead',
            any(t is not None and k in old for t, k in seen), seen[-5:])
    T.check('rotation: the new key reached both /certs before it signed',
            both_at is not None and both_at < LEAD, both_at)
    ka, kb = a.jwks(), b.jwks()
    T.eq('rotation: A and B serve identical /certs after', ka, kb)
    T.eq('rotation: both publish old and new keys', kids(ka), sorted(old + [rotated_kid]))
    oa = a.get('/.well-known/openid-configuration', api=None).json
    ob = b.get('/.well-known/openid-configuration', api=None).json
    T.check('rotation: identical OpenID metadata after', oa is not None and oa == ob, (oa, ob))
    print('  rotation: %d attests, the rotated key in both /certs %.1f ms after `keys rotate` '
          'returned; first token with it %.2f s after `keys rotate` started' % (
              len(seen), (both_at or 0) * 1000, min(new_at) if new_at else -1), flush=True)
    a.stop()
    b.stop()
    # the default lead: 60 s on a store replicas share, 0 (at once, as before) on SQLite
    r = run([ATTESTD, '--store', url, '--data-dir', tmpdir(), '--issuer', ISSUER, 'keys',
             'rotate'], timeout=60, env=dict(os.environ, **ENV))
    T.check('rotation: by default on PostgreSQL a rotated key signs 60 s later',
            r.returncode == 0 and 'signs from 60 s from now' in r.stdout, r.stdout + r.stderr)
    r = run([ATTESTD, '--data-dir', tmpdir(), '--issuer', ISSUER, 'keys', 'rotate'], timeout=60)
    T.check('rotation: by default on SQLite a rotated key signs at once',
            r.returncode == 0 and ' is active;' in r.stdout, r.stdout + r.stderr)


# ---------------------------------------------------------------- collateral

def count_paths(path):
    try:
        lines = [l.split()[1] for l in open(path) if l.strip()]
    except OSError:
        lines = []
    return collections.Counter(p.split('?', 1)[0] + ('?' + p.split('?', 1)[1].split('&')[0]
                                                     if '?' in p else '') for p in lines)


def collateral_once():
    count = os.path.join(tmpdir(), 'count')
    pcs = PcsServer(VDIR, count_file=count, flags=['--delay', '0.5'])
    url = PG.new_db('coll_once')
    reps = [replica(url, '--collateral-timeout', '10', at=AT, collateral_url=pcs.url)
            for _ in range(3)]
    gate = threading.Barrier(3)
    out = [None] * 3

    def one(k):
        gate.wait(10)
        t0 = time.monotonic()
        out[k] = (attest(reps[k], timeout=60), time.monotonic() - t0)

    th = [threading.Thread(target=one, args=(k,)) for k in range(3)]
    for t in th:
        t.start()
    for t in th:
        t.join(90)
    T.check('collateral once: the first attests on the 3 replicas at once all 200',
            all(o and o[0].status == 200 for o in out), repr(out))
    c = count_paths(count)
    T.check('collateral once: the stand-in was asked', len(c) > 0, c)
    T.check('collateral once: every path fetched exactly once for the 3 replicas',
            c and all(v == 1 for v in c.values()), dict(c))
    print('  collateral once: %d requests to the stand-in (%s); attests answered after %s s' % (
        sum(c.values()), ', '.join(sorted(c)), ', '.join('%.2f' % o[1] for o in out if o)),
        flush=True)
    # a replica started now finds the row: no fetch at all
    d = replica(url, at=AT, collateral_url=pcs.url)
    T.eq('collateral once: a fourth replica attests 200', attest(d).status, 200)
    T.eq('collateral once: and fetches nothing', sum(count_paths(count).values()),
         sum(c.values()))
    for s in reps + [d]:
        s.stop()
    pcs.stop()


def holder_killed():
    work = tmpdir()
    count, hold = os.path.join(work, 'count'), os.path.join(work, 'hold')
    open(hold, 'w').close()
    pcs = PcsServer(VDIR, count_file=count, flags=['--hold-file', hold])
    url = PG.new_db('coll_kill')
    timeout = 4
    lease = timeout + 2  # docs/collateral.md: one fetch deadline + 2 s
    reps = [replica(url, '--collateral-timeout', str(timeout), at=AT, collateral_url=pcs.url)
            for _ in range(3)]
    a = reps[0]
    threading.Thread(target=lambda: _quiet(attest, a, 60), daemon=True).start()
    t0 = time.monotonic()
    while sum(count_paths(count).values()) == 0 and time.monotonic() - t0 < 15:
        time.sleep(0.01)
    T.check('holder killed: A\'s fetch reached the stand-in (A holds the lease)',
            sum(count_paths(count).values()) == 1, dict(count_paths(count)))
    out = [None, None]

    def one(k):
        t = time.monotonic()
        out[k] = (attest(reps[k + 1], timeout=60), time.monotonic() - t)

    th = [threading.Thread(target=one, args=(k,)) for k in range(2)]
    for t in th:
        t.start()
    time.sleep(0.5)  # B and C wait on A's lease
    a.p.send_signal(signal.SIGKILL)
    a.p.wait(10)
    t_kill = time.monotonic()
    os.remove(hold)  # the stand-in answers again (A's request goes to a dead socket)
    for t in th:
        t.join(90)
    waited = time.monotonic() - t_kill
    T.check('holder killed: B and C answer 200', all(o and o[0].status == 200 for o in out),
            repr(out))
    bound = 2 * lease + timeout  # the documented longest wait: two leases, then one fetch
    T.check('holder killed: within the documented wait (%d s)' % bound,
            all(o and o[1] < bound for o in out), repr(out))
    c = count_paths(count)
    tcb = [p for p in c if '/tcb' in p]
    T.check('holder killed: the TCB info was asked twice in all (A\'s and one take-over)',
            len(tcb) == 1 and c[tcb[0]] == 2, dict(c))
    T.check('holder killed: every other path once (one fetch after A)',
            all(v == 1 for p, v in c.items() if p not in tcb), dict(c))
    print('  holder killed: B and C answered %s s after their attest (%.1f s after the kill; '
          'lease %d s)' % (', '.join('%.2f' % o[1] for o in out if o), waited, lease),
          flush=True)
    for s in reps[1:]:
        s.stop()
    pcs.stop()


def _quiet(fn, *a):
    try:
        fn(*a)
    except Exception:  # noqa: BLE001 - the holder is killed under its request
        pass


def main():
    global PG, ENV
    PG = Cluster()
    if PG.error:
        print('SKIP: PostgreSQL cannot start here: %s' % PG.error, flush=True)
        PG.stop()
        sys.exit(0)
    # a passfile for every database of the cluster (pg-start.sh's names only its own)
    pf = os.path.join(tmpdir(), 'pgpass')
    fd = os.open(pf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, ('127.0.0.1:%s:*:attestd:%s\n' % (PG.env['PG_PORT'], PG.env['PG_PASSWORD']))
             .encode())
    os.close(fd)
    ENV = {'PGPASSFILE': pf}
    T.section(rotation)
    T.section(collateral_once)
    T.section(holder_killed)
    PG.stop()  # before the harness's own clean-up


T.run(main)
