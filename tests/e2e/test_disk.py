#!/usr/bin/env python3
"""test_disk.py - attestd's store on a real full disk and on a file system that turns read-only
under the running server (issue 6, "the store's disk full or read-only"). Needs root (mount).

1. Disk full. A small tmpfs (TMPFS_SIZE) is attestd's --data-dir, with tests/tools/pcs_server.py
   as the collateral source. Policies for SgxEnclave and TdxVm are PUT (acknowledged), then a
   filler file is written with dd until ENOSPC. While the disk is full: policy PUTs (small and
   large), a policy reset and `attestd keys rotate` against the live server's data dir fail
   cleanly (5xx, MAA error JSON naming the full disk; rotate exits 1 with the same message),
   four threads hammering writes and attests meanwhile see no 200 on a write and no failed
   attest; attestation (its first collateral fetch included, whose store write fails), GET
   /policies and /certs keep working with the acknowledged state. attestd is restarted while
   the disk is still full (it starts, serves, refuses writes). The filler is removed: the next
   PUT and `keys rotate` succeed, and after a restart on the same data dir every acknowledged
   write is there.
2. Read-only while running. `mount -o remount,ro` of the tmpfs is tried while attestd runs:
   Linux refuses it (EBUSY) as long as a process holds a file open for writing there, which a
   running attestd always does (attestd.db, -wal, -shm). If a kernel ever allowed it, the same
   checks as below run on the tmpfs and `remount,rw` brings writes back without a restart.
   The way a store really turns read-only under a running server is the kernel doing it on an
   error: an ext4 image on a loop device mounted errors=remount-ro, and an error injected
   through /sys/fs/ext4/<dev>/trigger_fs_error. While read-only: writes fail cleanly (5xx naming
   the read-only file system), `keys rotate` exits 1, attest/GET keep working. ext4 then refuses
   `remount,rw` (emergency read-only), so recovery is what an operator does: stop attestd (exit
   0), unmount, e2fsck, mount again, restart; every acknowledged write is there and writes work.
3. At the end of each part the store file passes `PRAGMA integrity_check`.

Without root, mount, loop devices or ext4 the affected part prints "SKIP ..." with the reason (a
whole-script skip exits 0, like tests/interop: ctest has no SKIP_RETURN_CODE for e2e). Every
mount is unmounted however the script ends (finally, atexit, SIGTERM from a ctest timeout).
"""
import atexit
import errno
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import (ATTESTD, DCAP, PcsServer, Results, Server, b64url, jwt_parts, quote_bytes,
                     run, sgx_vector, tmpdir, verify_token)

T = Results('e2e/test_disk')
TEXT = {'Content-Type': 'text/plain'}
NAME, VDIR, EXP = sgx_vector()
AT = EXP['verification_time']
Q = b64url(quote_bytes(VDIR))
# A fresh store takes ~90 kB on disk (attestd.db 4 kB, -shm 32 kB, -wal ~50 kB with the first
# signing key); 4 MB leaves room for it, the acknowledged writes and a few large policies.
TMPFS_SIZE = '4m'
EXT4_SIZE = 16 << 20

# ---------------------------------------------------------------- mounts, always undone

_mounts = []


def _kill_procs():
    for p in harness._procs:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(5)
            except Exception:
                pass


def _unmount(d):
    if d not in _mounts:
        return
    r = run(['umount', d], timeout=30)
    if r.returncode != 0:
        _kill_procs()  # a server still running there keeps the mount busy
        r = run(['umount', d], timeout=30)
    if r.returncode != 0:
        r = run(['umount', '-l', d], timeout=30)
    if r.returncode == 0:
        _mounts.remove(d)
    else:
        print('WARNING: cannot unmount %s: %s' % (d, r.stderr.strip()), flush=True)


def _unmount_all():
    if _mounts:
        _kill_procs()
    for d in list(reversed(_mounts)):
        _unmount(d)


def _on_signal(signum, frame):
    _unmount_all()
    harness._on_signal(signum, frame)


atexit.register(_unmount_all)  # runs before harness's cleanup (atexit is LIFO)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def mount(args, what):
    """mount ARGS... DIR on a new directory; (dir, None) or (None, why)."""
    d = tmpdir('attestd-disk-')
    r = run(['mount'] + args + [d], timeout=60)
    if r.returncode != 0:
        return None, 'mount %s failed: %s' % (what, (r.stderr or r.stdout).strip())
    _mounts.append(d)
    return d, None


def remount(d, mode):
    return run(['mount', '-o', 'remount,' + mode, d], timeout=30)


# ---------------------------------------------------------------- helpers

def policy(marker, pad=0):
    """Raw policy text issuing e2e-marker=marker; pad adds a comment of that many bytes."""
    text = ('version=1.0; authorizationrules { => permit(); }; issuancerules { '
            '=> issue(type="e2e-marker", value="%s"); };' % marker)
    if pad:
        text = '/* ' + 'x' * pad + ' */ ' + text
    return text


def marker(reply):
    if reply.status != 200 or not reply.token:
        return None
    return jwt_parts(reply.token)[1].get('e2e-marker')


def attest(s, timeout=30):
    return s.post('/attest/SgxEnclave', {'quote': Q}, timeout=timeout)


def put(s, typ, text, timeout=30):
    return s.put('/policies/' + typ, text, headers=TEXT, timeout=timeout)


def stored_marker(s, typ):
    """The e2e-marker of the policy GET /policies/{typ} reports (None if another policy)."""
    r = s.get('/policies/' + typ)
    if r.status != 200:
        return 'HTTP %d' % r.status
    pol = jwt_parts(r.token)[1].get('x-ms-policy', '')
    try:
        text = jwt_parts(pol)[1].get('AttestationPolicy', '')
        text = harness.b64url_dec(text).decode('utf-8', 'replace')
    except Exception:
        return None
    m = re.search(r'value="([^"]*)"', text)
    return m.group(1) if m else None


def kids(s):
    return sorted(k['kid'] for k in s.jwks().get('keys', []))


def token_kid(reply):
    return jwt_parts(reply.token)[0].get('kid') if reply.status == 200 and reply.token else None


def rotate(s, var):
    return run([ATTESTD, '--data-dir', var, '--issuer', s.issuer, 'keys', 'rotate'], timeout=60)


def wait_kids(s, n, secs=10):
    t0 = time.time()
    k = kids(s)
    while len(k) != n and time.time() - t0 < secs:
        time.sleep(0.25)
        k = kids(s)
    return k


def check_clean_5xx(what, r, words):
    """A write that failed: 5xx, MAA error JSON, x-ms-error-code, a message naming the cause."""
    T.check('%s: 5xx' % what, 500 <= r.status < 600, repr(r))
    T.check('%s: MAA error body {"error": {"code", "message"}}' % what,
            isinstance(r.json, dict) and set(r.json) == {'error'} and
            isinstance(r.error_code, str) and isinstance(r.error_message, str) and
            r.error_message != '', repr(r))
    T.eq('%s: x-ms-error-code header = error.code' % what, r.headers.get('x-ms-error-code'),
         r.error_code)
    T.check('%s: x-ms-request-id' % what, bool(r.headers.get('x-ms-request-id')), r.headers)
    T.check('%s: the message says why (%s)' % (what, ' / '.join(words)),
            any(w in r.error_message.lower() for w in words), r.error_message)


def free_bytes(d):
    st = os.statvfs(d)
    return st.f_bavail * st.f_frsize


def fill(d):
    """dd a filler file until ENOSPC; returns (path, bytes written, dd's complaint)."""
    path = os.path.join(d, 'filler')
    r = run(['dd', 'if=/dev/zero', 'of=' + path, 'bs=64k'], timeout=120)
    # dd stops at the first short or failed write; top up what is left, smaller and smaller
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        for bs in (4096, 512, 1):
            while True:
                try:
                    os.write(fd, b'\0' * bs)
                except OSError as ex:
                    if ex.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return path, os.path.getsize(path), (r.stderr.strip().splitlines() or [''])[-1]


def writable(d):
    """0 if a file can be created in d, else the errno (EROFS on a read-only file system)."""
    p = os.path.join(d, 'probe')
    try:
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600))
        os.remove(p)
        return 0
    except OSError as ex:
        return ex.errno


def integrity(dbfile, what):
    try:
        c = sqlite3.connect('file:%s?mode=ro' % dbfile, uri=True, timeout=10)
        try:
            res = [row[0] for row in c.execute('PRAGMA integrity_check')]
            keys = c.execute('SELECT COUNT(*) FROM signing_keys').fetchone()[0]
            pols = dict(c.execute('SELECT attestation_type, length(jws) FROM policies'))
        finally:
            c.close()
    except sqlite3.Error as ex:
        res, keys, pols = ['sqlite3 error: %s' % ex], None, None
    T.eq('%s: PRAGMA integrity_check' % what, res, ['ok'])
    return keys, pols


# ---------------------------------------------------------------- the store failing to write

def writes_fail_reads_work(s, var, what, words, want, want_tdx, kid0):
    """While the store cannot be written: every write a clean 5xx naming the cause (words),
    `keys rotate` exits 1 saying so, reads and attestation answer from the acknowledged state
    (SgxEnclave policy `want`, TdxVm policy `want_tdx`, signing keys kid0), also under load."""
    r = put(s, 'SgxEnclave', policy('B'))
    check_clean_5xx('%s: PUT B' % what, r, words)
    print('  %s: PUT -> HTTP %d %s: %s' % (what, r.status, r.error_code, r.error_message),
          flush=True)
    r = put(s, 'SgxEnclave', policy('B-large', pad=200000))
    check_clean_5xx('%s: PUT of a 200 kB policy' % what, r, words)
    r = put(s, 'TdxVm', policy('T2'))
    check_clean_5xx('%s: PUT TdxVm' % what, r, words)
    r = s.post('/policies/SgxEnclave:reset', '', headers=TEXT)
    check_clean_5xx('%s: policy reset' % what, r, words)
    rr = rotate(s, var)
    T.eq('%s: keys rotate exits 1' % what, rr.returncode, 1, rr.stdout + rr.stderr)
    T.check('%s: keys rotate says why' % what, any(w in rr.stderr.lower() for w in words),
            rr.stderr)
    print('  %s: keys rotate -> exit %d: %s' % (what, rr.returncode, rr.stderr.strip()),
          flush=True)

    # writes and attests side by side
    stop = threading.Event()
    lock = threading.Lock()
    stats = {'put': 0, 'put_bad': [], 'att': 0, 'att_bad': []}

    def writer(k):
        i = 0
        while not stop.is_set():
            try:
                r = put(s, 'SgxEnclave', policy('W%d-%d' % (k, i), pad=(i % 5) * 3000), timeout=15)
                ok = 500 <= r.status < 600 and r.error_code is not None
            except Exception as ex:
                r, ok = ex, False
            with lock:
                stats['put'] += 1
                if not ok:
                    stats['put_bad'].append(repr(r)[:300])
            i += 1

    def attester():
        while not stop.is_set():
            try:
                r = attest(s, timeout=15)
                ok = r.status == 200 and marker(r) == want
            except Exception as ex:
                r, ok = ex, False
            with lock:
                stats['att'] += 1
                if not ok:
                    stats['att_bad'].append(repr(r)[:300])

    th = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(2)] + \
         [threading.Thread(target=attester, daemon=True) for _ in range(2)]
    for t in th:
        t.start()
    time.sleep(2.0)
    stop.set()
    for t in th:
        t.join(30)
    T.eq('%s, under load: every PUT a clean 5xx' % what, stats['put_bad'][:5], [])
    T.eq('%s, under load: every attest 200 with policy %s' % (what, want), stats['att_bad'][:5],
         [])
    print('  %s, under load: %d PUTs (%d not a clean 5xx), %d attests (%d not 200 with policy '
          '%s)' % (what, stats['put'], len(stats['put_bad']), stats['att'],
                   len(stats['att_bad']), want), flush=True)

    r = attest(s)
    T.eq('%s: attest 200 with policy %s' % (what, want), (r.status, marker(r)), (200, want),
         repr(r))
    ok, _, why = verify_token(r.token, s.jwks(), s.issuer) if r.token else (False, None, repr(r))
    T.check('%s: the token verifies' % what, ok, why)
    T.eq('%s: GET SgxEnclave policy' % what, stored_marker(s, 'SgxEnclave'), want)
    T.eq('%s: GET TdxVm policy' % what, stored_marker(s, 'TdxVm'), want_tdx)
    T.eq('%s: /certs unchanged' % what, kids(s), kid0)
    T.eq('%s: /healthz 200' % what, s.get('/healthz', api=None).status, 200)
    T.eq('%s: /readyz 200' % what, s.get('/readyz', api=None).status, 200)
    T.check('%s: attestd alive' % what, s.alive(), s.log())


def writes_work_again(s, var, what, kid0, m='C'):
    """After the fault: a PUT and `keys rotate` succeed. Returns the kids in /certs."""
    r = put(s, 'SgxEnclave', policy(m))
    T.eq('%s: PUT %s 200' % (what, m), r.status, 200, repr(r))
    r = attest(s)
    T.eq('%s: attest with policy %s' % (what, m), (r.status, marker(r)), (200, m), repr(r))
    rr = rotate(s, var)
    T.eq('%s: keys rotate exits 0' % what, rr.returncode, 0, rr.stdout + rr.stderr)
    k = wait_kids(s, len(kid0) + 1)
    T.eq('%s: /certs has the old keys and the new one' % what, len(k), len(kid0) + 1, k)
    new = [x for x in k if x not in kid0]
    r = attest(s)
    T.eq('%s: tokens carry the new kid' % what, token_kid(r), new[0] if new else None)
    return k


def after_restart(s, what, want, want_tdx, k):
    r = attest(s)
    T.eq('%s: attest with policy %s' % (what, want), (r.status, marker(r)), (200, want), repr(r))
    T.eq('%s: GET SgxEnclave policy' % what, stored_marker(s, 'SgxEnclave'), want)
    T.eq('%s: GET TdxVm policy' % what, stored_marker(s, 'TdxVm'), want_tdx)
    T.eq('%s: /certs has every key' % what, kids(s), k)
    ok, _, why = verify_token(r.token, s.jwks(), s.issuer) if r.token else (False, None, repr(r))
    T.check('%s: the token verifies' % what, ok, why)


def collateral_rows(dbfile):
    try:
        c = sqlite3.connect('file:%s?mode=ro' % dbfile, uri=True, timeout=10)
        try:
            return c.execute('SELECT COUNT(*) FROM collateral').fetchone()[0]
        finally:
            c.close()
    except sqlite3.Error as ex:
        return 'sqlite3 error: %s' % ex


# ---------------------------------------------------------------- 1. disk full

def disk_full():
    mnt, why = mount(['-t', 'tmpfs', '-o', 'size=%s,mode=0755' % TMPFS_SIZE, 'tmpfs'],
                     'tmpfs size=%s' % TMPFS_SIZE)
    if mnt is None:
        print('  SKIP disk full: %s' % why, flush=True)
        return
    try:
        _disk_full(mnt)
    finally:
        _unmount(mnt)


def _disk_full(mnt):
    var = os.path.join(mnt, 'var')
    db = os.path.join(var, 'attestd.db')
    pcs = PcsServer(DCAP)
    s = Server(at=AT, collateral_url=pcs.url, data_dir=var)
    sizes = {f: os.path.getsize(os.path.join(var, f)) for f in sorted(os.listdir(var))}
    print('  disk full: store after the first start: %s; %d kB free on the %s tmpfs' % (
        ', '.join('%s %d B' % kv for kv in sizes.items()), free_bytes(mnt) // 1024, TMPFS_SIZE),
        flush=True)
    kid0 = kids(s)
    T.eq('disk full: one signing key at start', len(kid0), 1, kid0)
    r = put(s, 'SgxEnclave', policy('A'))
    T.eq('disk full prep: PUT SgxEnclave A 200', r.status, 200, repr(r))
    r = put(s, 'TdxVm', policy('T1'))
    T.eq('disk full prep: PUT TdxVm T1 200', r.status, 200, repr(r))

    filler, n, dd = fill(mnt)
    print('  disk full: filler %d kB (dd: %s); %d bytes free' % (n // 1024, dd, free_bytes(mnt)),
          flush=True)
    T.eq('disk full: nothing free on the tmpfs', free_bytes(mnt), 0)

    # The first attest fetches collateral from the PCS; storing it fails (not an acknowledged
    # write: memory serves it, and a later request writes it again once 60 s of the clock have
    # passed - never here, where --at holds the clock still).
    r = attest(s)
    T.eq('disk full: attest 200 with policy A (first collateral fetch, its store write fails)',
         (r.status, marker(r)), (200, 'A'), repr(r))
    print('  disk full: collateral rows in the store after that fetch: %s' % collateral_rows(db),
          flush=True)
    writes_fail_reads_work(s, var, 'disk full', ['disk is full', 'free disk space'], 'A', 'T1',
                           kid0)

    # a restart while the disk is still full (a supervisor restarting attestd): the clean stop
    # cannot checkpoint the WAL into attestd.db; the new process starts from both files
    T.eq('disk full: clean stop exit 0', s.stop(), 0, s.log())
    try:
        s = Server(at=AT, collateral_url=pcs.url, data_dir=var)
    except RuntimeError as ex:
        T.check('disk full: attestd restarts on the full disk', False, str(ex))
        os.remove(filler)
        s = Server(at=AT, collateral_url=pcs.url, data_dir=var)
    else:
        print('  disk full: restarted on the full disk (%d bytes free)' % free_bytes(mnt),
              flush=True)
        r = attest(s)
        T.eq('disk full, restarted: attest 200 with policy A', (r.status, marker(r)),
             (200, 'A'), repr(r))
        r = put(s, 'SgxEnclave', policy('B'))
        check_clean_5xx('disk full, restarted: PUT B', r, ['disk is full', 'free disk space'])
        T.eq('disk full, restarted: GET TdxVm policy', stored_marker(s, 'TdxVm'), 'T1')
        T.eq('disk full, restarted: /certs unchanged', kids(s), kid0)
        os.remove(filler)
    print('  disk full: filler removed, %d kB free' % (free_bytes(mnt) // 1024), flush=True)
    k = writes_work_again(s, var, 'space back', kid0)
    T.eq('space back: clean stop exit 0', s.stop(), 0, s.log())
    s = Server(at=AT, collateral_url=pcs.url, data_dir=var)
    after_restart(s, 'disk full, after restart', 'C', 'T1', k)
    T.eq('disk full, after restart: clean stop exit 0', s.stop(), 0, s.log())
    pcs.stop()
    nkeys, pols = integrity(db, 'disk full')
    T.eq('disk full: the store holds 2 keys and 2 policies', (nkeys, sorted(pols or {})),
         (2, ['SgxEnclave', 'TdxVm']))


# ---------------------------------------------------------------- 2. read-only while running

RO_WORDS = ['read-only', 'readonly']


def read_only_tmpfs():
    mnt, why = mount(['-t', 'tmpfs', '-o', 'size=%s,mode=0755' % TMPFS_SIZE, 'tmpfs'],
                     'tmpfs size=%s' % TMPFS_SIZE)
    if mnt is None:
        print('  SKIP read-only tmpfs: %s' % why, flush=True)
        return
    try:
        _read_only_tmpfs(mnt)
    finally:
        _unmount(mnt)


def _read_only_tmpfs(mnt):
    var = os.path.join(mnt, 'var')
    db = os.path.join(var, 'attestd.db')
    s = Server(at=AT, collateral_dir=DCAP, data_dir=var)
    kid0 = kids(s)
    r = put(s, 'SgxEnclave', policy('A'))
    T.eq('ro tmpfs prep: PUT A 200', r.status, 200, repr(r))
    r = put(s, 'TdxVm', policy('T1'))
    T.eq('ro tmpfs prep: PUT TdxVm T1 200', r.status, 200, repr(r))
    rr = remount(mnt, 'ro')
    if rr.returncode != 0:
        # Linux: a file system with a file open for writing cannot be remounted read-only.
        T.check('ro tmpfs: remount,ro while attestd runs is refused as busy',
                'busy' in (rr.stderr + rr.stdout).lower(), rr.stderr)
        T.check('ro tmpfs: attestd alive', s.alive(), s.log())
        print('  ro tmpfs: `mount -o remount,ro` while attestd runs: refused (exit %d: %s)' % (
            rr.returncode, (rr.stderr.strip().splitlines() or [''])[0]), flush=True)
        T.eq('ro tmpfs: clean stop exit 0', s.stop(), 0, s.log())
        rr = remount(mnt, 'ro')
        T.eq('ro tmpfs: remount,ro once attestd stopped', rr.returncode, 0, rr.stderr)
        if rr.returncode != 0:
            return
        # starting on a read-only file system: refused with a clear error
        r = run([ATTESTD, '--listen', '127.0.0.1:0', '--data-dir', var, '--collateral-dir', DCAP,
                 '--at', AT, '--log-level', 'warn'], timeout=30)
        T.eq('ro tmpfs: attestd refuses to start on it, exit 1', r.returncode, 1,
             r.stdout + r.stderr)
        T.check('ro tmpfs: the start error names the store and read-only',
                'attestd.db' in r.stderr and 'read-only' in r.stderr, r.stderr)
        print('  ro tmpfs: start on the read-only store: exit %d: %s' % (
            r.returncode, (r.stderr.strip().splitlines() or [''])[-1]), flush=True)
        rr = remount(mnt, 'rw')
        T.eq('ro tmpfs: remount,rw', rr.returncode, 0, rr.stderr)
        s = Server(at=AT, collateral_dir=DCAP, data_dir=var)
        after_restart(s, 'ro tmpfs, rw again', 'A', 'T1', kid0)
        writes_work_again(s, var, 'ro tmpfs, rw again', kid0)
    else:
        print('  ro tmpfs: remounted read-only under the running attestd', flush=True)
        writes_fail_reads_work(s, var, 'ro tmpfs', RO_WORDS, 'A', 'T1', kid0)
        rr = remount(mnt, 'rw')
        T.eq('ro tmpfs: remount,rw', rr.returncode, 0, rr.stderr)
        k = writes_work_again(s, var, 'ro tmpfs, rw again', kid0)
        T.eq('ro tmpfs: clean stop exit 0', s.stop(), 0, s.log())
        s = Server(at=AT, collateral_dir=DCAP, data_dir=var)
        after_restart(s, 'ro tmpfs, after restart', 'C', 'T1', k)
    T.eq('ro tmpfs: clean stop exit 0 (end)', s.stop(), 0, s.log())
    integrity(db, 'ro tmpfs')


def read_only_ext4():
    for tool in ('mkfs.ext4', 'e2fsck', 'findmnt', 'losetup'):
        if subprocess.run(['sh', '-c', 'command -v ' + tool], stdout=subprocess.DEVNULL).returncode:
            print('  SKIP read-only ext4: %s not installed' % tool, flush=True)
            return
    img = os.path.join(tmpdir('attestd-disk-img-'), 'store.ext4')
    with open(img, 'wb') as f:
        f.truncate(EXT4_SIZE)
    r = run(['mkfs.ext4', '-q', '-F', img])
    if r.returncode != 0:
        print('  SKIP read-only ext4: mkfs.ext4 failed: %s' % r.stderr.strip(), flush=True)
        return
    mnt, why = mount(['-t', 'ext4', '-o', 'loop,errors=remount-ro', img], 'ext4 image (loop)')
    if mnt is None:
        print('  SKIP read-only ext4: %s' % why, flush=True)
        return
    try:
        _read_only_ext4(img, mnt)
    finally:
        _unmount(mnt)


def _read_only_ext4(img, mnt):
    dev = run(['findmnt', '-n', '-o', 'SOURCE', mnt]).stdout.strip()
    trigger = '/sys/fs/ext4/%s/trigger_fs_error' % os.path.basename(dev)
    if not os.path.exists(trigger):
        print('  SKIP read-only ext4: %s missing (kernel without ext4 error injection)' % trigger,
              flush=True)
        return
    var = os.path.join(mnt, 'var')
    db = os.path.join(var, 'attestd.db')
    pcs = PcsServer(DCAP)
    s = Server(at=AT, collateral_url=pcs.url, data_dir=var)
    kid0 = kids(s)
    r = put(s, 'SgxEnclave', policy('A'))
    T.eq('ro ext4 prep: PUT A 200', r.status, 200, repr(r))
    r = put(s, 'TdxVm', policy('T1'))
    T.eq('ro ext4 prep: PUT TdxVm T1 200', r.status, 200, repr(r))
    r = attest(s)
    T.eq('ro ext4 prep: attest 200 (collateral fetched and stored)', (r.status, marker(r)),
         (200, 'A'), repr(r))
    with open(trigger, 'w') as f:
        f.write('attestd e2e test_disk: make the store read-only under attestd\n')
    ro = writable(mnt) == errno.EROFS
    T.check('ro ext4: the kernel made the file system read-only (EROFS)', ro, writable(mnt))
    if not ro:
        return
    print('  ro ext4: error injected, %s is read-only under the running attestd' % dev,
          flush=True)
    writes_fail_reads_work(s, var, 'ro ext4', RO_WORDS, 'A', 'T1', kid0)
    rr = remount(mnt, 'rw')
    if rr.returncode == 0 and writable(mnt) == 0:
        print('  ro ext4: remount,rw accepted while attestd runs', flush=True)
        k = writes_work_again(s, var, 'ro ext4, rw again', kid0)
        want = 'C'
    else:
        # ext4 keeps a file system that had an error read-only ("emergency_ro") until it is
        # unmounted and checked: the operator's way back is a restart.
        print('  ro ext4: remount,rw refused after the error (%s); recovering: stop, umount, '
              'e2fsck, mount, start' % ((rr.stderr.strip().splitlines() or ['still read-only'])[0]),
              flush=True)
        rc = s.stop()
        T.eq('ro ext4: SIGTERM on the read-only store: exit 0', rc, 0, s.log())
        _unmount(mnt)
        T.check('ro ext4: unmounted', mnt not in _mounts)
        if mnt in _mounts:
            return
        r = run(['e2fsck', '-f', '-y', img], timeout=120)
        T.check('ro ext4: e2fsck exit 0 or 1 (clean or corrected)', r.returncode in (0, 1),
                r.stdout + r.stderr)
        r = run(['mount', '-t', 'ext4', '-o', 'loop,errors=remount-ro', img, mnt], timeout=60)
        T.eq('ro ext4: mounted again read-write', r.returncode, 0, r.stderr)
        if r.returncode != 0:
            return
        _mounts.append(mnt)
        s = Server(at=AT, collateral_url=pcs.url, data_dir=var)
        after_restart(s, 'ro ext4, restarted', 'A', 'T1', kid0)
        k = writes_work_again(s, var, 'ro ext4, restarted', kid0)
        want = 'C'
    T.eq('ro ext4: clean stop exit 0', s.stop(), 0, s.log())
    s = Server(at=AT, collateral_url=pcs.url, data_dir=var)
    after_restart(s, 'ro ext4, after the last restart', want, 'T1', k)
    T.eq('ro ext4: clean stop exit 0 (end)', s.stop(), 0, s.log())
    pcs.stop()
    integrity(db, 'ro ext4')


def main():
    if os.geteuid() != 0:
        print('SKIP e2e/test_disk: needs root to mount a tmpfs and an ext4 image (euid %d)' %
              os.geteuid(), flush=True)
        sys.exit(0)
    t0 = time.time()
    try:
        for fn in (disk_full, read_only_tmpfs, read_only_ext4):
            T.section(fn)
    finally:
        _unmount_all()
    print('  disk: %.1f s' % (time.time() - t0), flush=True)


if __name__ == '__main__':
    T.run(main)
