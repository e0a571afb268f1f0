#!/usr/bin/env python3
"""test_tpm.py - MAA's TPM protocol through POST /attest/Tpm with a real software TPM: round 1
gives a challenge and a sealed service_context, the TPM (swtpm, through tpm2-tools) quotes with
the challenge as qualifying data, round 2 gives the quote, the AK, the PCR values and the TCG
event log, and the answer is a token verified against /certs with the PCR and log claims.
Negatives: a replayed service_context, an expired one (attestd --at), a quote over another
nonce, an AK that is not pinned, a tampered PCR value, and attestd refusing an unusable --tpm-ak.

The TPM is manufactured by tests/tools/swtpm-quotes.sh (EK certificates from a local CA, the logs
and their extends); this test then runs swtpm on that state itself, on loopback, for as long as
it needs it, extends the logs' measurements again and makes a fresh AK under the EK."""
import datetime
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ATTESTD, REPO, Results, Server, _procs, b64url, b64url_dec,  # noqa: E402
                     run, tmpdir, verify_token)

T = Results('e2e/test_tpm')
SEL = 'sha1:0,4,7,10,16+sha256:0,4,7,10,16'


def skip(why):
    print('SKIP e2e/test_tpm: %s' % why, flush=True)
    sys.exit(0)


class Tpm:
    """swtpm on the state swtpm-quotes.sh manufactured, with an EK and a fresh AK of `kind`."""

    def __init__(self):
        self.dir = tmpdir('attestd-tpm-')
        r = run(['sh', os.path.join(REPO, 'tests', 'tools', 'swtpm-quotes.sh'), self.dir],
                timeout=120)
        if r.returncode == 77:
            skip(r.stderr.strip())
        if r.returncode != 0:
            raise RuntimeError('swtpm-quotes.sh failed: %s' % r.stderr)
        import socket
        for _ in range(200):
            s = [socket.socket(), socket.socket()]
            port = 20000 + 2 * (os.getpid() * 7 + _ * 131) % 40000
            try:
                s[0].bind(('127.0.0.1', port))
                s[1].bind(('127.0.0.1', port + 1))
                break
            except OSError:
                continue
            finally:
                [x.close() for x in s]
        self.p = subprocess.Popen(
            ['swtpm', 'socket', '--tpm2', '--server',
             'type=tcp,port=%d,bindaddr=127.0.0.1' % port, '--ctrl',
             'type=tcp,port=%d,bindaddr=127.0.0.1' % (port + 1), '--tpmstate',
             'dir=' + os.path.join(self.dir, 'state'), '--flags', 'not-need-init,startup-clear'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _procs.append(self.p)
        self.env = dict(os.environ, TPM2TOOLS_TCTI='swtpm:host=127.0.0.1,port=%d' % port)
        for _ in range(50):
            if run(['tpm2_getrandom', '--hex', '8'], env=self.env).returncode == 0:
                break
            time.sleep(0.1)
        else:
            skip('swtpm does not answer on port %d' % port)
        with open(os.path.join(self.dir, 'extends.txt')) as f:
            for ext in f.read().split():
                self.tool('tpm2_pcrextend', ext)
        self.tool('tpm2_createek', '-c', self.f('ek.ctx'), '-G', 'rsa', '-u', self.f('ek.pub'))
        self.flush()

    def f(self, name):
        return os.path.join(self.dir, name)

    def tool(self, *args):
        r = run(list(args), env=self.env)
        if r.returncode != 0:
            raise RuntimeError('%s failed: %s' % (' '.join(args), r.stderr))
        return r.stdout

    def flush(self):
        for t in ('-t', '-l', '-s'):
            run(['tpm2_flushcontext', t], env=self.env)

    def ak(self, name, kind='ecc'):
        """A fresh AK under the EK: name.ctx, name.tpm2b (TPM2B_PUBLIC), name.pem (SPKI)."""
        alg = ['-G', 'rsa', '-s', 'rsassa'] if kind == 'rsa' else ['-G', 'ecc', '-s', 'ecdsa']
        self.tool('tpm2_createak', '-C', self.f('ek.ctx'), '-c', self.f(name + '.ctx'), *alg,
                  '-g', 'sha256', '-u', self.f(name + '.pub'), '-n', self.f(name + '.name'))
        self.flush()
        self.tool('tpm2_readpublic', '-c', self.f(name + '.ctx'), '-o', self.f(name + '.tpm2b'))
        self.flush()
        self.tool('tpm2_readpublic', '-c', self.f(name + '.ctx'), '-o', self.f(name + '.pem'),
                  '-f', 'pem')
        self.flush()

    def quote(self, ak, nonce):
        """(TPMS_ATTEST, TPMT_SIGNATURE, pcrs JSON) of a quote over SEL with nonce."""
        self.tool('tpm2_quote', '-c', self.f(ak + '.ctx'), '-l', SEL, '-q', nonce.hex(),
                  '-m', self.f('q.msg'), '-s', self.f('q.sig'), '-g', 'sha256')
        self.flush()
        out = self.tool('tpm2_pcrread', SEL)
        return rd(self.f('q.msg')), rd(self.f('q.sig')), pcrs_json(out)


def rd(p):
    with open(p, 'rb') as f:
        return f.read()


def pcrs_json(text):
    """tpm2_pcrread's YAML ("sha1:\\n  0 : 0x..") as the request's pcrs member."""
    banks, cur = [], None
    for line in text.splitlines():
        s = line.strip()
        if s.endswith(':') and not s[0].isdigit():
            cur = {'algorithm': s[:-1], 'values': []}
            banks.append(cur)
        elif ':' in s and cur is not None:
            i, v = s.split(':', 1)
            cur['values'].append({'index': int(i), 'digest': v.strip()[2:].lower()})
    return banks


def post(s, msg):
    return s.post('/attest/Tpm', {'data': b64url(json.dumps(msg).encode())})


def answer(r):
    return json.loads(b64url_dec(r.json['data']))


def round1(s):
    r = post(s, {'payload': {'type': 'aikcert'}})
    T.eq('round 1: 200', r.status, 200, repr(r))
    p = answer(r)['payload']
    return b64url_dec(p['challenge']), p['service_context']


def round2(s, sc, ak, q, extra=None):
    req = {'service_context': sc, 'ak': b64url(ak), 'quote': b64url(q[0]),
           'signature': b64url(q[1]), 'pcrs': q[2]}
    req.update(extra or {})
    return post(s, {'request': req})


def refused(what, r, code, text):
    T.check('%s: 400 %s' % (what, code), r.status == 400 and r.error_code == 'InvalidParameter'
            and code in r.body.decode() and text in r.error_message, repr(r))


def main():
    for t in ('swtpm', 'tpm2_quote', 'tpm2_createak'):
        if run(['sh', '-c', 'command -v ' + t]).returncode != 0:
            skip('%s is not installed' % t)
    tpm = Tpm()
    tpm.ak('ak')
    tpm.ak('other', kind='rsa')
    ak_pem, ak_tpm2b = tpm.f('ak.pem'), tpm.f('ak.tpm2b')

    with Server('--tpm-ak', ak_pem) as s:
        # the whole exchange, the AK presented as its TPM2B_PUBLIC (attributes checked)
        ch, sc = round1(s)
        q = tpm.quote('ak', ch)
        r = round2(s, sc, rd(ak_tpm2b), q, {'tcg_log': b64url(rd(tpm.f('eventlog.bin')))})
        T.eq('round 2: 200', r.status, 200, repr(r))
        tok = answer(r)['report'] if r.status == 200 else ''
        ok, c, why = verify_token(tok, s.jwks(), s.issuer)
        T.check('the report is a token that verifies against /certs', ok, why)
        c = c or {}
        T.eq('x-ms-attestation-type', c.get('x-ms-attestation-type'), 'tpm')
        want = {b['algorithm']: {str(v['index']): v['digest'] for v in b['values']} for b in q[2]}
        T.eq('x-attestd-tpm-pcrs: every quoted PCR of both banks', c.get('x-attestd-tpm-pcrs'),
             want)
        T.check('PCR 10 (the IMA extends) is not zero', set(want['sha256']['10']) != {'0'}, want)
        with open(tpm.f('expect.json')) as f:
            exp = json.load(f)
        T.eq('x-attestd-tpm-secure-boot from the replayed log', c.get('x-attestd-tpm-secure-boot'),
             exp.get('secure_boot'))
        T.check('x-attestd-tpm-kernel and -boot-manager: digests of the log\'s applications',
                isinstance(c.get('x-attestd-tpm-kernel'), dict) and
                isinstance(c.get('x-attestd-tpm-boot-manager'), dict), c)
        T.eq('x-attestd-tpm-ak-name: the AK\'s TPM name', c.get('x-attestd-tpm-ak-name'),
             rd(tpm.f('ak.name')).hex())
        T.check('x-attestd-tpm-clock, -reset-count, -restart-count, -firmware-version',
                all(k in c for k in ('x-attestd-tpm-clock', 'x-attestd-tpm-reset-count',
                                     'x-attestd-tpm-restart-count',
                                     'x-attestd-tpm-firmware-version')), c)

        # the same service_context a second time (a replay of the whole round 2)
        r = round2(s, sc, rd(ak_tpm2b), q)
        refused('a replayed service_context', r, 'ATT_E_CHALLENGE', 'used already')

        # the AK as PEM SubjectPublicKeyInfo works too
        ch, sc = round1(s)
        r = round2(s, sc, rd(ak_pem), tpm.quote('ak', ch))
        T.eq('the pinned AK as PEM SPKI: 200', r.status, 200, repr(r))

        # a quote over another nonce
        ch, sc = round1(s)
        r = round2(s, sc, rd(ak_tpm2b), tpm.quote('ak', os.urandom(32)))
        refused('a quote over another nonce', r, 'ATT_E_TPM_NONCE', '')

        # an AK that is not pinned (a genuine AK of the same TPM)
        ch, sc = round1(s)
        r = round2(s, sc, rd(tpm.f('other.tpm2b')), tpm.quote('other', ch))
        refused('an AK not pinned', r, 'ATT_E_TPM_AK', 'none of the keys pinned with --tpm-ak')

        # a tampered PCR value
        ch, sc = round1(s)
        q = tpm.quote('ak', ch)
        bank = [b for b in q[2] if b['algorithm'] == 'sha256'][0]
        d = bank['values'][0]['digest']
        bank['values'][0]['digest'] = ('1' if d[0] != '1' else '2') + d[1:]
        r = round2(s, sc, rd(ak_tpm2b), q)
        refused('a tampered PCR value', r, 'ATT_E_TPM_PCR_DIGEST', '')

        # a quoted PCR without its value
        ch, sc = round1(s)
        q = tpm.quote('ak', ch)
        q[2][0]['values'].pop()
        r = round2(s, sc, rd(ak_tpm2b), q)
        refused('a quoted PCR without its value', r, 'ATT_E_EVIDENCE_FORMAT',
                'no value for it')

    # no AK pinned at all
    with Server() as s:
        ch, sc = round1(s)
        r = round2(s, sc, rd(ak_tpm2b), tpm.quote('ak', ch))
        refused('no AK pinned', r, 'ATT_E_TPM_AK', '--tpm-ak')

    # expiry: a context made now is refused by an attestd whose clock is 10 minutes ahead (the
    # challenge lives 300 s); the two share the store, hence the challenge key
    data = tmpdir()
    with Server('--tpm-ak', ak_pem, data_dir=data) as s:
        ch, sc = round1(s)
        q = tpm.quote('ak', ch)
    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10))
    with Server('--tpm-ak', ak_pem, data_dir=data,
                at=later.strftime('%Y-%m-%dT%H:%M:%SZ')) as s:
        r = round2(s, sc, rd(ak_tpm2b), q)
        refused('an expired service_context', r, 'ATT_E_CHALLENGE', 'expired')

    # an unusable --tpm-ak file stops attestd at start (exit 1), naming it
    bad = os.path.join(tmpdir(), 'bad-ak.pem')
    with open(bad, 'wb') as f:
        f.write(b'not a key')
    env = {k: v for k, v in os.environ.items() if not k.startswith('ATTESTD_')}
    r = run([ATTESTD, '--listen', '127.0.0.1:0', '--data-dir', tmpdir(), '--tpm-ak', bad],
            env=env)
    T.check('attestd refuses an unusable --tpm-ak: exit 1 naming the file',
            r.returncode == 1 and 'bad-ak.pem' in r.stderr, (r.returncode, r.stderr[-400:]))

T.run(main)
