#!/usr/bin/env python3
"""test_perms.py - attestd refuses secrets that other users can read or replace (issue 18, item
B9): a world-readable --tls-key, a --data-dir writable by group or others (it holds the signing
keys), an attestd.db with group or other bits. Each refusal exits 1 and names the file, its mode
and the chmod that fixes it; the fixed modes start. A --data-dir readable by others starts with a
warning. Modes are bits, so this holds for root too."""
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ATTESTD, Results, Server, tmpdir

T = Results('e2e/test_perms')


def start(*args):
    """attestd with args: (exit status or None if it kept running, stderr)."""
    p = subprocess.Popen([ATTESTD, '--listen', '127.0.0.1:0', '--log-level', 'warn'] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    try:
        out, err = p.communicate(timeout=3)
        return p.returncode, err
    except subprocess.TimeoutExpired:
        p.terminate()
        out, err = p.communicate(timeout=10)
        return None, err


def tls_key(d):
    key, cert = os.path.join(d, 'tls.key'), os.path.join(d, 'tls.pem')
    r = subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
                        '-days', '2', '-subj', '/CN=localhost'], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return key, cert


def perms():
    d = tmpdir()
    key, cert = tls_key(d)
    data = os.path.join(d, 'data')
    for mode in (0o644, 0o604, 0o620, 0o666):
        os.chmod(key, mode)
        rc, err = start('--data-dir', data, '--tls-cert', cert, '--tls-key', key)
        T.eq('--tls-key mode %04o: exit 1' % mode, rc, 1, err)
        T.check('... names the key, its mode and the fix',
                key in err and '%04o' % mode in err and 'chmod 600' in err, err)
    for mode in (0o600, 0o640, 0o400):
        os.chmod(key, mode)
        rc, err = start('--data-dir', data, '--tls-cert', cert, '--tls-key', key)
        T.eq('--tls-key mode %04o: starts' % mode, rc, None, err)

    shared = os.path.join(d, 'shared')
    os.mkdir(shared)
    for mode in (0o777, 0o770, 0o1777, 0o702):
        os.chmod(shared, mode)
        rc, err = start('--data-dir', shared)
        T.eq('--data-dir mode %04o: exit 1' % mode, rc, 1, err)
        T.check('... says it holds the signing keys and how to fix it',
                'signing keys' in err and 'chmod 700' in err, err)
    os.chmod(shared, 0o755)
    rc, err = start('--data-dir', shared)
    T.eq('--data-dir mode 0755: starts', rc, None, err)
    T.check('... with a warning', 'open to other users' in err, err)
    os.chmod(shared, 0o700)
    rc, err = start('--data-dir', shared)
    T.eq('--data-dir mode 0700: starts', rc, None, err)
    T.check('... without a warning', 'open to other users' not in err, err)
    db = os.path.join(shared, 'attestd.db')
    T.check('the store made attestd.db 0600', os.stat(db).st_mode & 0o777 == 0o600,
            oct(os.stat(db).st_mode))
    os.chmod(db, 0o644)
    rc, err = start('--data-dir', shared)
    T.eq('attestd.db mode 0644: exit 1', rc, 1, err)
    T.check('... names the database', db in err and 'chmod 600' in err, err)
    os.chmod(db, 0o600)
    with Server(data_dir=shared) as s:
        T.eq('fixed modes: attestd serves', s.get('/healthz', api=None).status, 200)


def main():
    T.section(perms)


if __name__ == '__main__':
    T.run(main)
