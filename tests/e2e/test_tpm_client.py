#!/usr/bin/env python3
"""test_tpm_client.py - the TPM client side (attest evidence --provider tpm, attest tpm activate,
attest run --type Tpm) against a real software TPM started here, and attestd.

The TPM state is manufactured by tests/tools/swtpm-quotes.sh (EK certificates from a local CA,
the event logs and their extends); this test runs swtpm on it on loopback, extends the logs'
measurements again, and then:
- evidence: `attest evidence --provider tpm` (tpm2-tss ESYS: EK, a new AK under it, a quote over
  two banks and 24 + 5 PCRs, more than one TPM2_PCR_Read returns) verifies with `attest tpm verify`
  with both logs replayed, for an RSA and an ECC AK; its PCR values are tpm2_pcrread's; the
  nonce from --runtime-data is SHA-256 of the file; the EK certificate is the one in NV.
- activation: `attest tpm activate` recovers the secret of a tpm2_makecredential credential for
  the persistent AK; a credential for another AK is refused by the TPM (exit 1).
- attest run --type Tpm (native round 2, the AK pinned with --tpm-ak): a token that verifies
  against /certs with the TPM's PCRs, the AK's name and the log's claims; an AK attestd does not
  pin is exit 1 with attestd's ATT_E_TPM_AK.
- --tpm-protocol maa: MAA's attReqV2 JWS (PS256, an ephemeral RSA-2048 request key bound through
  the quote's qualifyingData) accepted, the request key in the token; an unpinned AK refused.
- --tpm-protocol oneshot: GET /tpm/nonce, a quote over its nonce, one POST; the token has the
  TPM's PCRs; an unpinned AK refused; with --tpm-trust activate a usage error.
- --tpm-trust activate (native and maa, RSA and ECC AKs, nothing pinned; attestd --tpm-ek-ca with
  swtpm's local CA): round 1 sends the NV EK certificate and a new AK, the TPM activates the
  credential attestd makes (att_tpm_make_credential) and quotes with that secret; the token says
  ek-activation. The same TPM through aikcert is refused; attestd without EK CAs refuses round 1.
- --tpm-trust ak-cert (native and maa): an AK certificate made here by a test CA (attestd
  --tpm-ak-ca) for the persistent AK; the same certificate with another AK quoting is refused.
- negatives: no TPM reachable (exit 1, "no TPM reachable"), bad --pcrs specs (exit 2 naming the
  fault, before any TPM is asked), an --eventlog that cannot be read (exit 2); a loopback server
  answering /attest/Tpm wrongly (no service_context, no "data", not JSON, a challenge too long,
  no report, a report that is no JWS, an error with terminal escapes): the exit code and message
  of each, nothing printed as a token, the server's text escaped.
Skipped with one line when swtpm or tpm2-tools are missing or swtpm cannot start."""
import hashlib
import json
import os
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ATTEST, REPO, Results, Server, _procs, b64url_dec, run, tmpdir,  # noqa: E402
                     verify_token)

T = Results('e2e/test_tpm_client')
SEL = 'sha1:0,4,7,10,16+sha256:all'
AK_HANDLE = '0x81010010'


def skip(why):
    print('SKIP e2e/test_tpm_client: %s' % why, flush=True)
    sys.exit(0)


def free_pair():
    """Two free consecutive loopback ports (swtpm's server and control channels)."""
    for i in range(200):
        port = 20000 + 2 * ((os.getpid() * 13 + i * 157) % 20000)
        s = [socket.socket(), socket.socket()]
        try:
            s[0].bind(('127.0.0.1', port))
            s[1].bind(('127.0.0.1', port + 1))
            return port
        except OSError:
            continue
        finally:
            [x.close() for x in s]
    raise RuntimeError('no two free loopback ports')


class Tpm:
    def __init__(self):
        self.dir = tmpdir('attestd-tpmc-')
        r = run(['sh', os.path.join(REPO, 'tests', 'tools', 'swtpm-quotes.sh'), self.dir],
                timeout=120)
        if r.returncode == 77:
            skip(r.stderr.strip())
        if r.returncode != 0:
            raise RuntimeError('swtpm-quotes.sh failed: %s' % r.stderr)
        port = free_pair()
        self.p = subprocess.Popen(
            ['swtpm', 'socket', '--tpm2', '--server',
             'type=tcp,port=%d,bindaddr=127.0.0.1' % port, '--ctrl',
             'type=tcp,port=%d,bindaddr=127.0.0.1' % (port + 1), '--tpmstate',
             'dir=' + os.path.join(self.dir, 'state'), '--flags', 'not-need-init,startup-clear'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _procs.append(self.p)
        self.tcti = 'swtpm:host=127.0.0.1,port=%d' % port
        self.env = dict(os.environ, TPM2TOOLS_TCTI=self.tcti)
        for _ in range(50):
            if run(['tpm2_getrandom', '--hex', '8'], env=self.env).returncode == 0:
                break
            time.sleep(0.1)
        else:
            skip('swtpm does not answer on port %d' % port)
        with open(self.f('extends.txt')) as f:
            for ext in f.read().split():
                self.tool('tpm2_pcrextend', ext)

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

    def persistent_ak(self, handle, kind):
        """An AK under the RSA EK made persistent at handle: name.{name,pem,tpm2b}."""
        name = 'pak-' + handle
        alg = ['-G', 'rsa', '-s', 'rsassa'] if kind == 'rsa' else ['-G', 'ecc', '-s', 'ecdsa']
        self.tool('tpm2_createek', '-c', self.f('ek.ctx'), '-G', 'rsa', '-u', self.f('ek.pub'))
        self.flush()
        self.tool('tpm2_createak', '-C', self.f('ek.ctx'), '-c', self.f(name + '.ctx'), *alg,
                  '-g', 'sha256', '-n', self.f(name + '.name'))
        self.flush()
        self.tool('tpm2_evictcontrol', '-c', self.f(name + '.ctx'), handle)
        self.flush()
        self.tool('tpm2_readpublic', '-c', handle, '-o', self.f(name + '.pem'), '-f', 'pem')
        self.tool('tpm2_readpublic', '-c', handle, '-o', self.f(name + '.tpm2b'))
        return name

    def pcrread(self, sel):
        """tpm2_pcrread's values as {bank: {index: hex}}."""
        banks, cur = {}, None
        for line in self.tool('tpm2_pcrread', sel).splitlines():
            s = line.strip()
            if s.endswith(':') and not s[0].isdigit():
                cur = banks.setdefault(s[:-1], {})
            elif ':' in s and cur is not None:
                i, v = s.split(':', 1)
                cur[int(i)] = v.strip()[2:].lower()
        return banks


def attest(*args, env=None):
    return run([ATTEST] + list(args), env=env, timeout=120)


def rd(p):
    with open(p, 'rb') as f:
        return f.read()


def wr(p, b):
    with open(p, 'wb') as f:
        f.write(b)


def evidence_verifies(tpm, what, doc, logs=True):
    """`attest tpm verify` accepts the document's quote (with its logs replayed)."""
    d = tmpdir()
    for k in ('ak', 'quote', 'signature'):
        wr(os.path.join(d, k), b64url_dec(doc[k]))
    wr(os.path.join(d, 'pcrs'), b''.join(bytes.fromhex(v['digest']) for b in doc['pcrs']
                                        for v in b['values']))
    args = ['tpm', 'verify', '--ak', os.path.join(d, 'ak'), '--quote', os.path.join(d, 'quote'),
            '--sig', os.path.join(d, 'signature'), '--pcrs', os.path.join(d, 'pcrs'),
            '--nonce', doc['nonce'], '--json']
    if logs:
        wr(os.path.join(d, 'tcg'), b64url_dec(doc['tcg_log']))
        wr(os.path.join(d, 'ima'), b64url_dec(doc['ima_log']))
        args += ['--eventlog', os.path.join(d, 'tcg'), '--ima', os.path.join(d, 'ima')]
    r = attest(*args)
    T.check('%s: attest tpm verify accepts it (exit 0)' % what, r.returncode == 0,
            (r.returncode, r.stdout[-1500:], r.stderr))
    return json.loads(r.stdout) if r.stdout.startswith('{') else {}


def test_negatives(tpm):
    # nothing listens on a fresh port: a clear error, exit 1
    port = free_pair()
    tcti = 'swtpm:host=127.0.0.1,port=%d' % port
    r = attest('evidence', '--provider', 'tpm', '--tcti', tcti, '--nonce', '00' * 32)
    T.check('no TPM reachable: exit 1', r.returncode == 1, (r.returncode, r.stderr))
    T.check('no TPM reachable: says so and names the TCTI',
            'no TPM reachable' in r.stderr and tcti in r.stderr, r.stderr)
    T.check('no TPM reachable: tpm2-tss logs nothing on stderr (TSS2_LOG)',
            'ERROR:' not in r.stderr and 'WARNING:' not in r.stderr, r.stderr)
    r = attest('run', '--url', 'http://127.0.0.1:9', '--type', 'Tpm', '--tcti', tcti)
    T.check('attest run --type Tpm, no TPM reachable: exit 1 naming it',
            r.returncode == 1 and 'no TPM reachable' in r.stderr, (r.returncode, r.stderr))
    # bad PCR selections: exit 2 with the reason, before any TPM is asked (the unreachable TCTI
    # would otherwise be the error)
    for spec, why in (('sha256:24', 'PCR 24 is not in 0-23'), ('md5:0', 'BANK sha1, sha256'),
                      ('sha256:0+sha256:1', 'bank sha256 named twice'),
                      ('sha256:', "'' is not a PCR number"),
                      ('sha256:0,1;2', "unexpected ';'"), ('sha256:7-3', 'runs backwards'),
                      ('', 'empty')):
        r = attest('evidence', '--provider', 'tpm', '--tcti', tcti, '--nonce', '00',
                   '--pcrs', spec)
        T.check('--pcrs %r: exit 2 saying %r' % (spec, why),
                r.returncode == 2 and why in r.stderr and 'no TPM reachable' not in r.stderr,
                (r.returncode, r.stderr))
    r = attest('evidence', '--provider', 'tpm', '--tcti', tpm.tcti, '--nonce', '00',
               '--eventlog', os.path.join(tpm.dir, 'no-such-log'))
    T.check('an --eventlog that cannot be read: exit 2 naming it',
            r.returncode == 2 and 'no-such-log' in r.stderr, (r.returncode, r.stderr))
    for n in ('', '0', 'zz', '00' * 65):
        r = attest('evidence', '--provider', 'tpm', '--tcti', tpm.tcti, '--nonce', n)
        T.check('--nonce %r: exit 2' % n[:8], r.returncode == 2 and '--nonce' in r.stderr,
                (r.returncode, r.stderr))
    r = attest('evidence', '--provider', 'tpm', '--tcti', tpm.tcti, '--nonce', '00', '--tee',
               'sgx')
    T.check('--provider tpm with --tee: exit 2', r.returncode == 2 and 'not TPM options' in
            r.stderr, (r.returncode, r.stderr))
    r = attest('evidence', '--provider', 'sim', '--sim-dir', tpm.dir, '--runtime-data',
               tpm.f('ek.pub'), '--pcrs', 'sha256:0')
    T.check('--provider sim with --pcrs: exit 2', r.returncode == 2 and 'for --provider tpm' in
            r.stderr, (r.returncode, r.stderr))
    r = attest('evidence', '--provider', 'tpm', '--tcti', tpm.tcti, '--nonce', '00',
               '--ak-handle', '0x81010099')
    T.check('--ak-handle of no key: exit 2 naming it',
            r.returncode == 2 and '0x81010099' in r.stderr, (r.returncode, r.stderr))


def test_evidence(tpm):
    want = tpm.pcrread(SEL)
    cert = rd(tpm.f('ek_rsa_cert.der'))
    for kind in ('rsa', 'ecc'):
        nonce = os.urandom(32).hex()
        out = os.path.join(tmpdir(), 'ev.json')
        r = attest('evidence', '--provider', 'tpm', '--tcti', tpm.tcti, '--ak-alg', kind,
                   '--nonce', nonce, '--pcrs', SEL, '--eventlog', tpm.f('eventlog.bin'),
                   '--ima', tpm.f('ima.bin'), '--out', out)
        if not T.check('%s AK: attest evidence --provider tpm exits 0' % kind, r.returncode == 0,
                       (r.returncode, r.stderr)):
            continue
        doc = json.load(open(out))
        T.eq('%s AK: type, provider, nonce' % kind,
             (doc.get('type'), doc.get('provider'), doc.get('nonce')), ('Tpm', 'tpm', nonce))
        got = {b['algorithm']: {v['index']: v['digest'] for v in b['values']}
               for b in doc['pcrs']}
        T.eq('%s AK: the PCR values are tpm2_pcrread\'s (both banks, 29 PCRs)' % kind, got, want)
        T.eq('%s AK: banks in the selection\'s order' % kind,
             [b['algorithm'] for b in doc['pcrs']], ['sha1', 'sha256'])
        T.eq('%s AK: the EK certificate from NV 0x01c00002' % kind,
             b64url_dec(doc.get('ek_cert', '')), cert)
        T.eq('%s AK: the logs as given' % kind,
             (b64url_dec(doc['tcg_log']), b64url_dec(doc['ima_log'])),
             (rd(tpm.f('eventlog.bin')), rd(tpm.f('ima.bin'))))
        v = evidence_verifies(tpm, '%s AK' % kind, doc)
        T.eq('%s AK: the AK is %s' % (kind, kind), (v.get('ak') or {}).get('key', '')[:3],
             'RSA' if kind == 'rsa' else 'EC ')
    # a persistent EK: its certificate from the index of its kind (P-384: 0x01c00016)
    ecc_cert = os.path.join(tmpdir(), 'ek_ecc.der')
    tpm.tool('tpm2_nvread', '0x1c00016', '-o', ecc_cert)
    r = attest('evidence', '--provider', 'tpm', '--tcti', tpm.tcti, '--ek-handle', '0x81010016',
               '--nonce', '01', '--eventlog', 'none')
    T.check('--ek-handle 0x81010016: exit 0', r.returncode == 0, (r.returncode, r.stderr))
    if r.returncode == 0:
        T.eq('--ek-handle 0x81010016: the P-384 EK certificate from NV 0x01c00016',
             b64url_dec(json.loads(r.stdout).get('ek_cert', '')), rd(ecc_cert))
    # the ECC P-256 EK of template L-2: swtpm has no certificate for it, so none is sent
    r = attest('evidence', '--provider', 'tpm', '--tcti', tpm.tcti, '--ek-alg', 'ecc',
               '--nonce', '02', '--eventlog', 'none')
    if T.check('--ek-alg ecc: exit 0', r.returncode == 0, (r.returncode, r.stderr)):
        doc = json.loads(r.stdout)
        T.check('--ek-alg ecc: no ek_cert (NV 0x01c0000a is empty on swtpm)', 'ek_cert' not in doc,
                doc.keys())
        evidence_verifies(tpm, '--ek-alg ecc', doc, logs=False)
    r = attest('run', '--url', 'http://127.0.0.1:9', '--type', 'Tpm', '--tpm-trust', 'activate',
               '--ek-alg', 'ecc', '--tcti', tpm.tcti, '--eventlog', 'none')
    T.check('activate with an EK that has no certificate: exit 1 saying so, nothing sent',
            r.returncode == 1 and 'needs the EK certificate' in r.stderr, (r.returncode, r.stderr))
    r = attest('evidence', '--provider', 'tpm', '--tcti', tpm.tcti, '--ek-handle', '0x81010099',
               '--nonce', '01')
    T.check('--ek-handle of no key: exit 2 naming it',
            r.returncode == 2 and '0x81010099' in r.stderr, (r.returncode, r.stderr))
    # the default selection, and the nonce from --runtime-data: SHA-256 of the file
    rt = os.path.join(tmpdir(), 'rt.bin')
    wr(rt, b'runtime data of the attested service')
    r = attest('evidence', '--provider', 'tpm', '--tcti', tpm.tcti, '--runtime-data', rt,
               '--eventlog', 'none')
    if T.check('--runtime-data: exit 0', r.returncode == 0, (r.returncode, r.stderr)):
        doc = json.loads(r.stdout)
        T.eq('--runtime-data: the nonce is SHA-256 of the file', doc['nonce'],
             hashlib.sha256(rd(rt)).hexdigest())
        T.eq('the default selection is sha256:0-7',
             [(b['algorithm'], [v['index'] for v in b['values']]) for b in doc['pcrs']],
             [('sha256', list(range(8)))])
        T.check('--eventlog none: no tcg_log', 'tcg_log' not in doc and 'ima_log' not in doc, doc)
        evidence_verifies(tpm, '--runtime-data', doc, logs=False)
    # --raw: the members alone, the type on stdout
    out = os.path.join(tmpdir(), 'raw.json')
    r = attest('evidence', '--provider', 'tpm', '--tcti', tpm.tcti, '--nonce', 'ab' * 64,
               '--raw', '--out', out)
    T.check('--raw: exit 0, prints Tpm', r.returncode == 0 and r.stdout.strip() == 'Tpm',
            (r.returncode, r.stdout, r.stderr))
    if r.returncode == 0:
        doc = json.load(open(out))
        T.check('--raw: round 2\'s members, no type', 'quote' in doc and 'type' not in doc, doc)
        doc['nonce'] = 'ab' * 64
        evidence_verifies(tpm, 'a 64-byte nonce', doc, logs=False)


def test_activate(tpm, ak):
    secret = os.urandom(32)
    d = tmpdir()
    wr(os.path.join(d, 'secret'), secret)
    name = rd(tpm.f(ak + '.name')).hex()
    tpm.tool('tpm2_makecredential', '-T', 'none', '-u', tpm.f('ek.pub'), '-s',
             os.path.join(d, 'secret'), '-n', name, '-o', os.path.join(d, 'cred'))
    r = attest('tpm', 'activate', '--tcti', tpm.tcti, '--ak-handle', AK_HANDLE, '--credential',
               os.path.join(d, 'cred'))
    T.check('activate a tpm2_makecredential credential: exit 0', r.returncode == 0,
            (r.returncode, r.stderr))
    T.eq('activate: the secret comes back', r.stdout.strip(), secret.hex())
    # the same credential as its two structures
    c = rd(os.path.join(d, 'cred'))
    n = int.from_bytes(c[8:10], 'big')
    wr(os.path.join(d, 'blob'), c[8:10 + n])
    wr(os.path.join(d, 'enc'), c[10 + n:])
    r = attest('tpm', 'activate', '--tcti', tpm.tcti, '--ak-handle', AK_HANDLE, '--blob',
               os.path.join(d, 'blob'), '--secret', os.path.join(d, 'enc'))
    T.eq('activate --blob --secret: the secret comes back', (r.returncode, r.stdout.strip()),
         (0, secret.hex()))
    # a credential made for another AK's name: the TPM refuses it
    other = tpm.persistent_ak('0x81010011', 'ecc')
    tpm.tool('tpm2_makecredential', '-T', 'none', '-u', tpm.f('ek.pub'), '-s',
             os.path.join(d, 'secret'), '-n', rd(tpm.f(other + '.name')).hex(), '-o',
             os.path.join(d, 'cred2'))
    r = attest('tpm', 'activate', '--tcti', tpm.tcti, '--ak-handle', AK_HANDLE, '--credential',
               os.path.join(d, 'cred2'))
    T.check('a credential for another AK: exit 1, the TPM\'s refusal named',
            r.returncode == 1 and 'TPM2_ActivateCredential' in r.stderr and
            secret.hex() not in r.stdout, (r.returncode, r.stdout, r.stderr))
    wr(os.path.join(d, 'bad'), c[:20])
    r = attest('tpm', 'activate', '--tcti', tpm.tcti, '--ak-handle', AK_HANDLE, '--credential',
               os.path.join(d, 'bad'))
    T.check('a cut credential file: exit 2', r.returncode == 2 and 'tpm2_makecredential' in
            r.stderr, (r.returncode, r.stderr))


def test_run_pinned(tpm, ak):
    want = tpm.pcrread(SEL)
    with Server('--tpm-ak', tpm.f(ak + '.pem')) as s:
        r = attest('run', '--url', s.url, '--type', 'Tpm', '--tcti', tpm.tcti, '--ak-handle',
                   AK_HANDLE, '--pcrs', SEL, '--eventlog', tpm.f('eventlog.bin'))
        T.check('attest run --type Tpm (pinned, native): exit 0', r.returncode == 0,
                (r.returncode, r.stderr, s.log()))
        ok, c, why = verify_token(r.stdout.strip(), s.jwks(), s.issuer)
        T.check('the token verifies against /certs', ok, why)
        c = c or {}
        T.eq('x-ms-attestation-type', c.get('x-ms-attestation-type'), 'tpm')
        T.eq('x-attestd-tpm-pcrs: the TPM\'s PCRs', c.get('x-attestd-tpm-pcrs'),
             {b: {str(i): v for i, v in vals.items()} for b, vals in want.items()})
        T.eq('x-attestd-tpm-ak-name: the persistent AK', c.get('x-attestd-tpm-ak-name'),
             rd(tpm.f(ak + '.name')).hex())
        with open(tpm.f('expect.json')) as f:
            exp = json.load(f)
        T.eq('x-attestd-tpm-secure-boot from the replayed log', c.get('x-attestd-tpm-secure-boot'),
             exp.get('secure_boot'))
        # --provider tpm is the same command
        r = attest('run', '--url', s.url, '--provider', 'tpm', '--tcti', tpm.tcti, '--ak-handle',
                   AK_HANDLE, '--eventlog', 'none')
        T.check('attest run --provider tpm: exit 0 and a token', r.returncode == 0 and
                r.stdout.count('.') == 2, (r.returncode, r.stderr))
        # a new AK (not pinned): attestd's refusal, exit 1
        r = attest('run', '--url', s.url, '--type', 'Tpm', '--tcti', tpm.tcti, '--ak-alg', 'ecc')
        T.check('an AK attestd does not pin: exit 1 with its ATT_E_TPM_AK',
                r.returncode == 1 and 'HTTP 400' in r.stderr and 'ATT_E_TPM_AK' in r.stderr and
                r.stdout == '', (r.returncode, r.stdout, r.stderr))
        # usage errors
        r = attest('run', '--url', s.url, '--type', 'Tpm', '--tcti', tpm.tcti, '--tpm-trust',
                   'sometimes')
        T.check('--tpm-trust sometimes: exit 2', r.returncode == 2 and '--tpm-trust' in r.stderr,
                (r.returncode, r.stderr))
        r = attest('run', '--url', s.url, '--type', 'Tpm', '--tcti', tpm.tcti, '--runtime-data',
                   tpm.f('ek.pub'))
        T.check('--runtime-data with --type Tpm: exit 2 (round 2 has none)',
                r.returncode == 2, (r.returncode, r.stderr))


def claims_of(s, what, r):
    """The verified token's claims of an `attest run` that must have succeeded."""
    T.check('%s: exit 0' % what, r.returncode == 0, (r.returncode, r.stderr, s.log()))
    ok, c, why = verify_token(r.stdout.strip(), s.jwks(), s.issuer)
    T.check('%s: the token verifies against /certs' % what, ok, why)
    return c or {}


def test_run_maa(tpm, ak):
    """MAA's attReqV2 round 2: a PS256 JWS by an ephemeral request key bound through the quote."""
    want = tpm.pcrread('sha256:0,4,7,10')
    with Server('--tpm-ak', tpm.f(ak + '.pem')) as s:
        r = attest('run', '--url', s.url, '--type', 'Tpm', '--tpm-protocol', 'maa', '--tcti',
                   tpm.tcti, '--ak-handle', AK_HANDLE, '--pcrs', 'sha256:0,4,7,10', '--eventlog',
                   tpm.f('eventlog.bin'), '--ima', tpm.f('ima.ascii'))
        c = claims_of(s, 'attReqV2 (pinned AK)', r)
        T.eq('attReqV2: x-attestd-tpm-pcrs', c.get('x-attestd-tpm-pcrs'),
             {b: {str(i): v for i, v in vals.items()} for b, vals in want.items()})
        rk = c.get('x-attestd-tpm-request-key') or {}
        T.check('attReqV2: the request key is an RSA-2048 public JWK bound by tpm_quote',
                (rk.get('jwk') or {}).get('kty') == 'RSA' and 'd' not in rk.get('jwk', {}) and
                len(b64url_dec(rk['jwk'].get('n', ''))) == 256 and
                rk.get('info') == {'tpm_quote': {'hash_alg': 'sha-256'}}, rk)
        T.eq('attReqV2: x-attestd-tpm-ak-trust', c.get('x-attestd-tpm-ak-trust'), 'pinned')
        # an ECC AK attestd does not pin: refused, exit 1
        r = attest('run', '--url', s.url, '--type', 'Tpm', '--tpm-protocol', 'maa', '--tcti',
                   tpm.tcti, '--ak-alg', 'ecc')
        T.check('attReqV2, an AK not pinned: exit 1 with ATT_E_TPM_AK',
                r.returncode == 1 and 'ATT_E_TPM_AK' in r.stderr, (r.returncode, r.stderr))


def test_run_oneshot(tpm, ak):
    """--tpm-protocol oneshot: GET /tpm/nonce, the quote over its nonce, one POST."""
    want = tpm.pcrread('sha256:0,4,7,10')
    with Server('--tpm-ak', tpm.f(ak + '.pem')) as s:
        r = attest('run', '--url', s.url, '--type', 'Tpm', '--tpm-protocol', 'oneshot', '--tcti',
                   tpm.tcti, '--ak-handle', AK_HANDLE, '--pcrs', 'sha256:0,4,7,10', '--eventlog',
                   tpm.f('eventlog.bin'))
        c = claims_of(s, 'one-shot (pinned AK)', r)
        T.eq('one-shot: x-attestd-tpm-pcrs', c.get('x-attestd-tpm-pcrs'),
             {b: {str(i): v for i, v in vals.items()} for b, vals in want.items()})
        T.eq('one-shot: x-attestd-tpm-ak-trust', c.get('x-attestd-tpm-ak-trust'), 'pinned')
        r = attest('run', '--url', s.url, '--type', 'Tpm', '--tpm-protocol', 'oneshot', '--tcti',
                   tpm.tcti, '--ak-alg', 'ecc')
        T.check('one-shot, an AK not pinned: exit 1 with ATT_E_TPM_AK',
                r.returncode == 1 and 'ATT_E_TPM_AK' in r.stderr, (r.returncode, r.stderr))
        r = attest('run', '--url', s.url, '--type', 'Tpm', '--tpm-protocol', 'oneshot',
                   '--tpm-trust', 'activate', '--tcti', tpm.tcti)
        T.check('one-shot with --tpm-trust activate: exit 2 (no round 1)',
                r.returncode == 2 and 'oneshot' in r.stderr, (r.returncode, r.stderr))


def test_run_activate(tpm):
    """Round 1 "activate": the EK certificate (NV) and a new AK; the TPM activates the secret
    attestd made with MakeCredential and quotes with it. No AK is pinned."""
    ca = os.path.join(tmpdir(), 'ek-ca.pem')
    wr(ca, rd(tpm.f('localca/swtpm-localca-rootca-cert.pem')) +
       rd(tpm.f('localca/issuercert.pem')))
    with Server('--tpm-ek-ca', ca) as s:
        for proto in ('native', 'maa'):
            for kind in ('rsa', 'ecc'):
                what = 'activate (%s, %s AK)' % (proto, kind)
                r = attest('run', '--url', s.url, '--type', 'Tpm', '--tpm-trust', 'activate',
                           '--tpm-protocol', proto, '--ak-alg', kind, '--tcti', tpm.tcti,
                           '--eventlog', tpm.f('eventlog.bin'))
                c = claims_of(s, what, r)
                T.eq('%s: x-attestd-tpm-ak-trust' % what, c.get('x-attestd-tpm-ak-trust'),
                     'ek-activation')
        # swtpm's persistent ECC P-384 EK (userWithAuth, SHA-384) and its certificate in NV
        # 0x01c00016
        r = attest('run', '--url', s.url, '--type', 'Tpm', '--tpm-trust', 'activate',
                   '--ek-handle', '0x81010016', '--tcti', tpm.tcti)
        c = claims_of(s, 'activate with the persistent P-384 EK', r)
        T.eq('activate with the P-384 EK: x-attestd-tpm-ak-trust', c.get('x-attestd-tpm-ak-trust'),
             'ek-activation')
        # the same TPM through aikcert: the new AK is trusted no way
        r = attest('run', '--url', s.url, '--type', 'Tpm', '--tcti', tpm.tcti)
        T.check('pinned trust with a new AK and only EK CAs: exit 1, ATT_E_TPM_AK',
                r.returncode == 1 and 'ATT_E_TPM_AK' in r.stderr, (r.returncode, r.stderr))
    # an attestd without EK CAs refuses round 1 "activate": exit 1 with its message
    with Server() as s:
        r = attest('run', '--url', s.url, '--type', 'Tpm', '--tpm-trust', 'activate', '--tcti',
                   tpm.tcti)
        T.check('activate against an attestd without --tpm-ek-ca: exit 1, HTTP 400',
                r.returncode == 1 and 'HTTP 400' in r.stderr, (r.returncode, r.stderr))


def test_run_ak_cert(tpm, ak):
    """An AK certificate (made here by a test CA for the persistent AK) in round 2."""
    d = tmpdir()
    k, c = os.path.join(d, 'ca.key'), os.path.join(d, 'ca.pem')
    for args in (['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
                  '-nodes', '-keyout', k, '-out', c, '-subj', '/CN=test AK CA', '-days', '2',
                  '-addext', 'basicConstraints=critical,CA:TRUE',
                  '-addext', 'keyUsage=critical,keyCertSign'],
                 ['req', '-new', '-key', k, '-out', os.path.join(d, 'ak.csr'), '-subj',
                  '/CN=test AK'],
                 ['x509', '-req', '-in', os.path.join(d, 'ak.csr'), '-CA', c, '-CAkey', k,
                  '-force_pubkey', tpm.f(ak + '.pem'), '-days', '1', '-out',
                  os.path.join(d, 'ak-cert.pem'), '-set_serial', '7']):
        r = run(['openssl'] + args)
        if not T.check('openssl %s' % args[0], r.returncode == 0, r.stderr):
            return
    with Server('--tpm-ak-ca', c) as s:
        for proto in ('native', 'maa'):
            r = attest('run', '--url', s.url, '--type', 'Tpm', '--tpm-trust', 'ak-cert',
                       '--ak-cert', os.path.join(d, 'ak-cert.pem'), '--tpm-protocol', proto,
                       '--tcti', tpm.tcti, '--ak-handle', AK_HANDLE)
            cl = claims_of(s, 'ak-cert (%s)' % proto, r)
            T.eq('ak-cert (%s): x-attestd-tpm-ak-trust' % proto, cl.get('x-attestd-tpm-ak-trust'),
                 'ak-cert')
        # the certificate of another key than the AK quoting: refused
        r = attest('run', '--url', s.url, '--type', 'Tpm', '--tpm-trust', 'ak-cert',
                   '--ak-cert', os.path.join(d, 'ak-cert.pem'), '--tcti', tpm.tcti)
        T.check('ak-cert for another AK: exit 1, ATT_E_TPM_AK', r.returncode == 1 and
                'ATT_E_TPM_AK' in r.stderr, (r.returncode, r.stderr))
    r = attest('run', '--url', 'http://127.0.0.1:9', '--type', 'Tpm', '--tpm-trust', 'ak-cert',
               '--tcti', tpm.tcti)
    T.check('--tpm-trust ak-cert without --ak-cert: exit 2', r.returncode == 2, r.stderr)


def test_bad_answers(tpm):
    """A server that answers /attest/Tpm wrongly: clear errors, nothing printed as a token."""
    import base64
    import http.server
    import threading

    def data(obj):
        raw = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
        return json.dumps({'data': base64.urlsafe_b64encode(raw).decode().rstrip('=')})

    round1 = data({'payload': {'challenge': 'AAAA' * 10 + 'AAA', 'service_context': 'sc'}})
    cases = {  # name: (round 1 answer, round 2 answer, HTTP status of round 2)
        'no-context': (data({'payload': {'challenge': 'AAAA'}}), None, 200),
        'not-data': ('{"token": "x"}', None, 200),
        'not-json': (data(b'\x00\x01 not json'), None, 200),
        'long-challenge': (data({'payload': {'challenge': 'A' * 100, 'service_context': 's'}}),
                           None, 200),
        'no-report': (round1, data({'token': 'a.b.c'}), 200),
        'not-jws': (round1, data({'report': 'not.a-jws'}), 200),
        'error': (round1, json.dumps({'error': {'code': 'InvalidParameter',
                                                'message': 'bad\x1b[31m quote\nFAKE line'}}),
                  400),
    }
    state = {}

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get('content-length', 0))
            body = json.loads(self.rfile.read(n))
            msg = json.loads(b64url_dec(body['data']))
            a1, a2, st = cases[state['case']]
            ans, code = (a1, 200) if 'payload' in msg else (a2, st)
            self.send_response(code)
            self.send_header('content-type', 'application/json')
            self.end_headers()
            self.wfile.write(ans.encode())

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(('127.0.0.1', 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = 'http://127.0.0.1:%d' % srv.server_address[1]
    want = {'no-context': (2, 'no payload.service_context'),
            'not-data': (2, 'not {"data": base64url(JSON)}'),
            'not-json': (2, 'not a JSON object'),
            'long-challenge': (2, '"challenge" of 1 to 64 bytes'),
            'no-report': (2, 'without a "report"'),
            'not-jws': (1, 'not a compact JWS'),
            'error': (1, 'HTTP 400: InvalidParameter: bad\\x1b[31m quote\\nFAKE line')}
    try:
        for name, (rc, text) in want.items():
            state['case'] = name
            r = attest('run', '--url', url, '--type', 'Tpm', '--tcti', tpm.tcti, '--eventlog',
                       'none')
            T.check('a server answering %s: exit %d saying %r, nothing on stdout' %
                    (name, rc, text), r.returncode == rc and text in r.stderr and r.stdout == '',
                    (r.returncode, r.stdout, r.stderr))
    finally:
        srv.shutdown()


def main():
    for t in ('swtpm', 'tpm2_createak', 'tpm2_makecredential', 'tpm2_evictcontrol'):
        if run(['sh', '-c', 'command -v ' + t]).returncode != 0:
            skip('%s is not installed' % t)
    tpm = Tpm()
    T.section(test_negatives, tpm)
    T.section(test_bad_answers, tpm)
    T.section(test_evidence, tpm)
    ak = tpm.persistent_ak(AK_HANDLE, 'rsa')
    T.section(test_activate, tpm, ak)
    T.section(test_run_pinned, tpm, ak)
    T.section(test_run_maa, tpm, ak)
    T.section(test_run_oneshot, tpm, ak)
    T.section(test_run_activate, tpm)
    T.section(test_run_ak_cert, tpm, ak)


T.run(main)
