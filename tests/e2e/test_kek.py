#!/usr/bin/env python3
"""test_kek.py - private keys encrypted at rest (--key-encryption-key, docs/tokens.md "Keys"),
through the real attestd and its SQLite file:

- attestd started with a KEK: no file of its store holds "PRIVATE KEY" (the database, its WAL),
  the stored key_pem is an attestd-kek-v1 blob, and a token from `attest run` (the sim platform)
  verifies against /certs with `attest token verify`;
- a store made without a KEK, then started with one: the clear keys are sealed in place and
  the files no longer hold them (the log says which kid was sealed);
- refused starts, with the kid named: no KEK for a sealed store, another KEK; a KEK file other
  users can read (chmod 600 suggested); `attestd keys rotate` with the KEK seals the new key.
"""
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ATTEST, ATTESTD, Results, Server, run, tmpdir  # noqa: E402

T = Results('e2e/test_kek')


def files_hold(d, needle):
    for root, _, files in os.walk(d):
        for n in files:
            if needle in open(os.path.join(root, n), 'rb').read():
                return True
    return False


def stored_keys(d):
    db = sqlite3.connect('file:%s?mode=ro' % os.path.join(d, 'attestd.db'), uri=True)
    try:
        return db.execute('SELECT kid, key_pem FROM signing_keys').fetchall()
    finally:
        db.close()


def kek_file(d, name, hexkey, mode=0o600):
    p = os.path.join(d, name)
    open(p, 'w').write(hexkey + '\n')
    os.chmod(p, mode)
    return p


def refused(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith('ATTESTD_')}
    try:
        r = subprocess.run([ATTESTD, '--listen', '127.0.0.1:0'] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           stdin=subprocess.DEVNULL, env=env, timeout=30)
    except subprocess.TimeoutExpired:
        return None, 'attestd did not exit: it started'
    return r.returncode, r.stderr + r.stdout


def sim_setup(d):
    sim = os.path.join(d, 'sim')
    r = run([ATTEST, 'sim', 'init', sim])
    assert r.returncode == 0, r.stderr
    p = subprocess.Popen([ATTEST, 'sim', 'collateral-server', '--dir', sim, '--quiet'],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, text=True)
    harness._procs.append(p)
    url = p.stdout.readline().strip()
    return sim, ['--trust-root', os.path.join(sim, 'trust_root.pem'), '--collateral-url', url]


def main():
    w = tmpdir('attestd-kek-')
    sim, sim_args = sim_setup(w)
    rt = os.path.join(w, 'rt.bin')
    open(rt, 'wb').write(b'kek runtime')
    kek = kek_file(w, 'kek', os.urandom(32).hex())
    other = kek_file(w, 'other', os.urandom(32).hex())

    # a store made with the KEK
    d = tmpdir()
    s = Server('--key-encryption-key', kek, *sim_args, data_dir=d)
    r = run([ATTEST, 'run', '--url', s.url, '--provider', 'sim', '--sim-dir', sim,
             '--runtime-data', rt, '--nonce', 'kek-1'])
    if T.eq('attest run against attestd with a KEK: exit 0', r.returncode, 0, r.stderr):
        f = os.path.join(w, 'tok.jwt')
        open(f, 'w').write(r.stdout)
        v = run([ATTEST, 'token', 'verify', f, '--issuer', s.issuer, '--nonce', 'kek-1'])
        T.eq('its token verifies against /certs', v.returncode, 0, v.stdout + v.stderr)
    T.check('while running: no store file holds a private key', not files_hold(d, b'PRIVATE KEY'))
    s.stop()
    T.check('stopped: no store file holds a private key', not files_hold(d, b'PRIVATE KEY'))
    rows = stored_keys(d)
    T.check('the stored key is an attestd-kek-v1 blob',
            len(rows) == 1 and rows[0][1].startswith('attestd-kek-v1:'), rows)
    kid = rows[0][0]
    rc, err = refused('--data-dir', d)
    T.check('no KEK for a sealed store: refused, naming the kid',
            rc not in (0, None) and kid in err and 'no --key-encryption-key' in err, err)
    rc, err = refused('--data-dir', d, '--key-encryption-key', other)
    T.check('another KEK: refused, naming the kid',
            rc not in (0, None) and kid in err and 'sealed under key-encryption key' in err, err)
    os.chmod(kek, 0o644)
    rc, err = refused('--data-dir', d, '--key-encryption-key', kek)
    T.check('KEK file readable by others: refused with chmod 600',
            rc not in (0, None) and 'chmod 600' in err, err)
    os.chmod(kek, 0o600)
    r = run([ATTESTD, '--data-dir', d, '--key-encryption-key', kek, 'keys', 'rotate'])
    T.eq('keys rotate with the KEK: exit 0', r.returncode, 0, r.stderr)
    rows = stored_keys(d)
    T.check('both keys sealed after rotate',
            len(rows) == 2 and all(k[1].startswith('attestd-kek-v1:') for k in rows), rows)
    T.check('after rotate: no store file holds a private key', not files_hold(d, b'PRIVATE KEY'))

    # a store made without a KEK, then given one
    d2 = tmpdir()
    Server(data_dir=d2).stop()
    T.check('without a KEK the key is stored in clear', files_hold(d2, b'BEGIN PRIVATE KEY'))
    s = Server('--key-encryption-key', kek, '--log-level', 'info', data_dir=d2)
    T.eq('started with a KEK on a clear store: /certs has the same key',
         [k['kid'] for k in s.jwks()['keys']], [stored_keys(d2)[0][0]])
    s.stop()
    T.check('the log says the key was sealed in place',
            'was stored in clear: sealed' in open(s.err_path).read(), s.log())
    T.check('sealed in place: no store file holds a private key any more',
            not files_hold(d2, b'PRIVATE KEY'))


T.run(main)
