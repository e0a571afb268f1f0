"""swtpm_e2e.py - a software TPM for the end-to-end tests (test_tpm.py, test_ear_tpm.py): swtpm on
the state tests/tools/swtpm-quotes.sh manufactures (EK certificates from a local CA, the logs and
their extends), run on loopback for as long as the test needs it, with the logs' measurements
extended again, an EK, fresh AKs and quotes over SEL through tpm2-tools. A test whose machine
cannot run it exits 0 with one SKIP line naming the test."""
import os
import subprocess
import sys
import time

from harness import REPO, _procs, run, tmpdir

SEL = 'sha1:0,4,7,10,16+sha256:0,4,7,10,16'


def skip(why):
    print('SKIP %s: %s' % (os.path.splitext(os.path.basename(sys.argv[0]))[0], why), flush=True)
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
