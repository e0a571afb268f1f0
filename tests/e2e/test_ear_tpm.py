#!/usr/bin/env python3
"""test_ear_tpm.py - EAR answers for /attest/Tpm (docs/ear.md) with a real software TPM (swtpm,
through tpm2-tools, as e2e/test_tpm.py runs it): with Accept: application/eat+jwt, MAA's
multi-round protocol still answers round 1 with its JSON challenge, and its final round answers
the EAR JWT itself as application/eat+jwt instead of {"data": b64url({"report": token})}; the
one-shot form (GET /tpm/nonce, one POST) answers the EAR JWT instead of {"token"}. Each EAR
verifies against /certs and its Tpm appraisal says what the verdict says: hardware 2 and
instance-identity 2 (a pinned AK), configuration from the replayed log's Secure Boot state, no
runtime-opaque (a TPM quote says nothing about memory); the PCRs are in the MAA claims."""
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (REPO, Results, Server, _procs, b64url, b64url_dec, run, tmpdir,  # noqa: E402
                     verify_token)

T = Results('e2e/test_ear_tpm')
EAR = 'application/eat+jwt'
PROFILE = 'tag:github.com,2023:veraison/ear'
SEL = 'sha1:0,4,7,10,16+sha256:0,4,7,10,16'


def skip(why):
    print('SKIP e2e/test_ear_tpm: %s' % why, flush=True)
    sys.exit(0)


# swtpm as e2e/test_tpm.py runs it (a copy: that script runs its scenarios when imported)
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




def check_ear(what, s, r, tpm, q):
    T.eq('%s: 200' % what, r.status, 200, repr(r))
    ct = r.headers.get('content-type', '')
    T.check('%s: application/eat+jwt' % what, ct.startswith(EAR) and PROFILE in ct, ct)
    ok, c, why = verify_token(r.body.decode().strip(), s.jwks(), s.issuer)
    T.check('%s: the EAR verifies against /certs' % what, ok, why)
    c = c or {}
    T.eq('%s: eat_profile' % what, c.get('eat_profile'), PROFILE)
    a = (c.get('submods') or {}).get('Tpm') or {}
    tv = a.get('ear.trustworthiness-vector', {})
    with open(tpm.f('expect.json')) as f:
        secure_boot = json.load(f).get('secure_boot')
    T.eq('%s: hardware 2' % what, tv.get('hardware'), 2, a)
    T.eq('%s: instance-identity 2 (a pinned AK)' % what, tv.get('instance-identity'), 2, a)
    T.eq('%s: configuration from Secure Boot (%s)' % (what, secure_boot), tv.get('configuration'),
         32 if secure_boot is False else None, a)
    T.check('%s: no runtime-opaque' % what, 'runtime-opaque' not in tv, tv)
    T.eq('%s: status' % what, a.get('ear.status'),
         'warning' if secure_boot is False else 'affirming', a)
    want = {b['algorithm']: {str(v['index']): v['digest'] for v in b['values']} for b in q[2]}
    T.eq('%s: the PCRs in the MAA claims' % what,
         (a.get('ear.attestd.maa-claims') or {}).get('x-attestd-tpm-pcrs'), want)


def main():
    for t in ('swtpm', 'tpm2_quote', 'tpm2_createak'):
        if run(['sh', '-c', 'command -v ' + t]).returncode != 0:
            skip('%s is not installed' % t)
    tpm = Tpm()
    tpm.ak('ak')
    log = b64url(rd(tpm.f('eventlog.bin')))
    with Server('--tpm-ak', tpm.f('ak.pem')) as s:
        hdr = {'Accept': EAR}
        # MAA's rounds: round 1 stays JSON, the final round is the EAR
        r = s.post('/attest/Tpm', {'data': b64url(json.dumps(
            {'payload': {'type': 'aikcert'}}).encode())}, headers=hdr)
        T.eq('round 1 with Accept EAR: 200 JSON', (r.status, r.headers.get(
            'content-type', '').startswith('application/json')), (200, True), repr(r))
        p = json.loads(b64url_dec(r.json['data']))['payload']
        q = tpm.quote('ak', b64url_dec(p['challenge']))
        req = {'service_context': p['service_context'], 'ak': b64url(rd(tpm.f('ak.tpm2b'))),
               'quote': b64url(q[0]), 'signature': b64url(q[1]), 'pcrs': q[2], 'tcg_log': log}
        r = s.post('/attest/Tpm', {'data': b64url(json.dumps({'request': req}).encode())},
                   headers=hdr)
        check_ear('final round', s, r, tpm, q)
        # the one-shot form
        n = s.get('/tpm/nonce', api=None).json
        q = tpm.quote('ak', b64url_dec(n['nonce']))
        body = {'context': n['context'], 'ak': b64url(rd(tpm.f('ak.tpm2b'))),
                'quote': b64url(q[0]), 'signature': b64url(q[1]), 'pcrs': q[2], 'tcg_log': log}
        r = s.post('/attest/Tpm', body, headers=hdr)
        check_ear('one-shot', s, r, tpm, q)


if __name__ == '__main__':
    T.run(main)
