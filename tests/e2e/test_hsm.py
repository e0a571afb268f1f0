#!/usr/bin/env python3
"""test_hsm.py - tokens signed by a key in an HSM (--signing-key pkcs11:..., docs/tokens.md "Keys"),
through a real SoftHSM2 token the test makes in a temporary directory (SOFTHSM2_CONF) with keys
generated in it by pkcs11-tool (the private keys never exist outside the token):

- ES256 (EC P-256 key) and PS256 / RS256 (RSA-2048 key): attestd starts, /certs publishes one
  certificate whose public key is the HSM key's (read back from the token), made by attestd
  through the HSM; a token from `attest run` (the sim platform) verifies with `attest token
  verify` against /certs; the store holds no private key;
- a restart with the same key keeps its kid; another HSM key on the same store signs under a
  new kid while the old one stays in /certs; `attestd keys rotate` with --signing-key is refused;
- 48 attests from 12 threads over 2 PKCS#11 sessions: every token verifies;
- refusals, each a clear message and a non-zero exit before listening: wrong PIN
  (CKR_PIN_INCORRECT), missing object, token removed (deleted from SoftHSM), no PIN, a PIN file
  other users can read or whose line is too long, an RSA key with --signing-alg ES256, a module
  that does not exist, a URI that does not parse;
- /metrics counts the HSM's signatures and the waits for a session;
- the token deleted under a running attestd: signing answers 500 with the PKCS#11 reason,
  attestd stays up.
Skips with one line when SoftHSM2 or pkcs11-tool are not installed (scripts/install-deps).
"""
import base64
import concurrent.futures
import os
import re
import time
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ATTEST, ATTESTD, Results, Server, jwt_parts, run, tmpdir  # noqa: E402

T = Results('e2e/test_hsm')
MODULE = next((p for p in ('/usr/lib/softhsm/libsofthsm2.so',
                           '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so') if os.path.exists(p)),
              None)
PIN = '24681357'


class Hsm:
    """A SoftHSM2 token store of our own (SOFTHSM2_CONF) with tokens and keys made here."""

    def __init__(self):
        self.d = tmpdir('attestd-hsm-')
        os.makedirs(os.path.join(self.d, 'tokens'))
        self.conf = os.path.join(self.d, 'softhsm2.conf')
        open(self.conf, 'w').write('directories.tokendir = %s\nobjectstore.backend = file\n'
                                   'log.level = ERROR\n' % os.path.join(self.d, 'tokens'))
        self.env = dict(os.environ, SOFTHSM2_CONF=self.conf)
        self.pin = os.path.join(self.d, 'pin')
        open(self.pin, 'w').write(PIN + '\n')
        os.chmod(self.pin, 0o600)

    def tool(self, *args):
        r = run(['pkcs11-tool', '--module', MODULE] + list(args), env=self.env)
        assert r.returncode == 0, 'pkcs11-tool %s: %s%s' % (' '.join(args), r.stdout, r.stderr)
        return r

    def token(self, label):
        r = run(['softhsm2-util', '--init-token', '--free', '--label', label, '--pin', PIN,
                 '--so-pin', '12345678'], env=self.env)
        assert r.returncode == 0, r.stdout + r.stderr

    def keypair(self, token, label, kid, key_type):
        self.tool('--token-label', token, '--login', '--pin', PIN, '--keypairgen', '--key-type',
                  key_type, '--id', kid, '--label', label)

    def public_der(self, token, kid):
        out = os.path.join(self.d, 'pub-%s.der' % kid)
        self.tool('--token-label', token, '--read-object', '--type', 'pubkey', '--id', kid,
                  '-o', out)
        return open(out, 'rb').read()

    def uri(self, token, label, pin=None, **extra):
        u = 'pkcs11:token=%s;object=%s?module-path=%s' % (token, label, MODULE)
        u += '&pin-value=%s' % pin if pin is not None else '&pin-source=%s' % self.pin
        for k, v in extra.items():
            u += '&%s=%s' % (k.replace('_', '-'), v)
        return u

    def server(self, uri, alg, *args, data_dir=None, **kw):
        return Server('--signing-key', uri, '--signing-alg', alg, *args, data_dir=data_dir,
                      extra_env={'SOFTHSM2_CONF': self.conf}, **kw)

    def refused(self, uri, alg, *args):
        """Run attestd expecting it to refuse to start: (exit status, stderr)."""
        d = tmpdir()
        env = dict(self.env)
        for k in list(env):
            if k.startswith('ATTESTD_'):
                del env[k]
        try:
            r = subprocess.run([ATTESTD, '--listen', '127.0.0.1:0', '--data-dir', d,
                                '--signing-key', uri, '--signing-alg', alg] + list(args),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL, env=env, timeout=30)
        except subprocess.TimeoutExpired:
            return None, 'attestd did not exit: it started'
        return r.returncode, r.stderr + r.stdout


def cert_public_der(b64_der, d):
    """The SubjectPublicKeyInfo (DER) of a certificate given as x5c base64."""
    cf = os.path.join(d, 'c.der')
    open(cf, 'wb').write(base64.b64decode(b64_der))
    pem = run(['openssl', 'x509', '-inform', 'DER', '-in', cf, '-pubkey', '-noout']).stdout
    return subprocess.run(['openssl', 'pkey', '-pubin', '-outform', 'DER'], input=pem.encode(),
                          stdout=subprocess.PIPE).stdout


class Sim:
    """The sim platform and its collateral server: evidence for /attest/SgxEnclave."""

    def __init__(self):
        self.d = tmpdir('attestd-hsm-sim-')
        self.dir = os.path.join(self.d, 'sim')
        r = run([ATTEST, 'sim', 'init', self.dir])
        assert r.returncode == 0, r.stderr
        p = subprocess.Popen([ATTEST, 'sim', 'collateral-server', '--dir', self.dir, '--quiet'],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, text=True)
        harness._procs.append(p)
        self.url = p.stdout.readline().strip()
        assert self.url.startswith('http://127.0.0.1:'), self.url
        self.runtime = os.path.join(self.d, 'runtime.bin')
        open(self.runtime, 'wb').write(b'hsm runtime data')

    def args(self):
        return ['--trust-root', os.path.join(self.dir, 'trust_root.pem'), '--collateral-url',
                self.url]

    def token(self, server, nonce):
        r = run([ATTEST, 'run', '--url', server.url, '--provider', 'sim', '--sim-dir', self.dir,
                 '--runtime-data', self.runtime, '--nonce', nonce])
        return r.stdout.strip() if r.returncode == 0 else None, r.stderr


def verify(server, tok, nonce, d):
    f = os.path.join(d, 'tok-%s.jwt' % nonce)
    open(f, 'w').write(tok + '\n')
    r = run([ATTEST, 'token', 'verify', f, '--issuer', server.issuer, '--nonce', nonce])
    return r.returncode, r.stdout + r.stderr


def no_private_key_in(d):
    for root, _, files in os.walk(d):
        for n in files:
            if b'PRIVATE KEY' in open(os.path.join(root, n), 'rb').read():
                return False
    return True


def signs_with(hsm, sim, token, label, kid, alg, d):
    """Start attestd with the HSM key; check /certs and a verified token. Returns the server."""
    s = hsm.server(hsm.uri(token, label), alg, *sim.args(), data_dir=d)
    keys = s.jwks()['keys']
    T.eq('%s: one key in /certs' % alg, len(keys), 1, keys)
    T.eq('%s: the published certificate holds the HSM key' % alg,
         cert_public_der(keys[0]['x5c'][0], hsm.d), hsm.public_der(token, kid))
    tok, err = sim.token(s, 'hsm-' + alg.lower())
    if T.check('%s: attest run gets a token' % alg, tok is not None, err + s.log()):
        h = jwt_parts(tok)[0]
        T.eq('%s: token alg' % alg, h.get('alg'), alg)
        T.eq('%s: token kid is the published one' % alg, h.get('kid'), keys[0]['kid'])
        rc, out = verify(s, tok, 'hsm-' + alg.lower(), hsm.d)
        T.eq('%s: attest token verify against /certs: exit 0' % alg, rc, 0, out)
    return s, keys[0]['kid']


def main():
    if MODULE is None or not shutil.which('softhsm2-util') or not shutil.which('pkcs11-tool'):
        print('SKIP e2e/test_hsm: SoftHSM2 or pkcs11-tool not installed (scripts/install-deps)')
        print('e2e/test_hsm: 0 passed, 0 failed')
        sys.exit(0)
    hsm = Hsm()
    sim = Sim()
    hsm.token('attestd')
    hsm.keypair('attestd', 'ec', '01', 'EC:prime256v1')
    hsm.keypair('attestd', 'rsa', '02', 'rsa:2048')
    d = tmpdir()

    # ES256, then restarted with the same key: the same kid, its certificate reused
    s, kid_ec = signs_with(hsm, sim, 'attestd', 'ec', '01', 'ES256', d)
    s.stop()
    T.check('store holds no private key (HSM)', no_private_key_in(d))
    s = hsm.server(hsm.uri('attestd', 'ec'), 'ES256', *sim.args(), data_dir=d)
    T.eq('restart with the same HSM key: same kid', [k['kid'] for k in s.jwks()['keys']], [kid_ec])

    # many tokens at once over 2 sessions: each verifies
    s.stop()
    s = hsm.server(hsm.uri('attestd', 'ec'), 'ES256', '--signing-key-sessions', '2', *sim.args(),
                   data_dir=d)

    def one(i):
        tok, err = sim.token(s, 'par-%d' % i)
        if tok is None:
            return 'no token: ' + err
        rc, out = verify(s, tok, 'par-%d' % i, hsm.d)
        return None if rc == 0 else out

    T.eq('a first attest (collateral cached)', one(-1), None)
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        bad = [r for r in ex.map(one, range(48)) if r]
    T.eq('48 concurrent attests over 2 PKCS#11 sessions: every token verifies', bad, [])
    m = s.get('/metrics', api=None).body.decode()
    signs = re.search(r'^attestd_hsm_signatures_total (\d+)', m, re.M)
    T.check('/metrics counts the HSM signatures (49 tokens at least)',
            signs is not None and int(signs.group(1)) >= 49, m[-2000:])
    T.check('/metrics has the session waits counter',
            re.search(r'^attestd_hsm_session_waits_total \d+', m, re.M) is not None, m[-2000:])
    r = run([ATTESTD, '--data-dir', d, '--signing-key', hsm.uri('attestd', 'ec'), '--signing-alg',
             'ES256', 'keys', 'rotate'], env=hsm.env)
    T.eq('keys rotate with --signing-key: exit 1', r.returncode, 1, r.stderr)
    T.check('keys rotate with --signing-key: says why', 'in an HSM' in r.stderr, r.stderr)
    s.stop()

    # another HSM key (RSA, PS256) on the same store: new kid signs, the old stays published
    s, kid_rsa = signs_with(hsm, sim, 'attestd', 'rsa', '02', 'PS256', tmpdir())
    s.stop()
    s = hsm.server(hsm.uri('attestd', 'rsa'), 'RS256', *sim.args(), data_dir=d)
    kids = [k['kid'] for k in s.jwks()['keys']]
    T.check('new HSM key on the same store: it and the old one published',
            len(kids) == 2 and kid_ec in kids, kids)
    tok, err = sim.token(s, 'rs256')
    if T.check('RS256 from the HSM: a token', tok is not None, err + s.log()):
        T.eq('RS256: signed by the new key', jwt_parts(tok)[0].get('kid'), kids[0])
        T.check('RS256: the new key is not the old one', kids[0] != kid_ec, kids)
        rc, out = verify(s, tok, 'rs256', hsm.d)
        T.eq('RS256: attest token verify: exit 0', rc, 0, out)
    s.stop()
    # an HSM key replacing an active key in the store with --key-publish-lead: published at
    # once, signs only after the lead (as after keys rotate), the store key signs until then
    d3 = tmpdir()
    s3 = Server(*sim.args(), data_dir=d3)
    kid_ec3 = s3.jwks()['keys'][0]['kid']
    s3.stop()
    s3 = hsm.server(hsm.uri('attestd', 'rsa'), 'RS256', '--key-publish-lead', '3', *sim.args(),
                    data_dir=d3)
    t_start = time.monotonic()
    kids3 = [k['kid'] for k in s3.jwks()['keys']]
    T.check('lead: the new HSM key is published at once, beside the store key',
            len(kids3) == 2 and kid_ec3 in kids3, kids3)
    tok, err = sim.token(s3, 'lead-before')
    if T.check('lead: a token right after the start', tok is not None, err + s3.log()) and \
            time.monotonic() - t_start < 2.5:
        T.eq('lead: the store key still signs before the lead', jwt_parts(tok)[0].get('kid'),
             kid_ec3)
    time.sleep(max(0.0, 4.2 - (time.monotonic() - t_start)))
    tok, err = sim.token(s3, 'lead-after')
    if T.check('lead: a token after the lead', tok is not None, err + s3.log()):
        T.check('lead: the new HSM key signs after the lead',
                jwt_parts(tok)[0].get('kid') not in (None, kid_ec3), jwt_parts(tok)[0])
        rc, out = verify(s3, tok, 'lead-after', hsm.d)
        T.eq('lead: its token verifies against /certs', rc, 0, out)
    s3.stop()

    # back to a key in the store: the HSM key stops signing but stays published
    s = Server(*sim.args(), data_dir=d)
    kids2 = [k['kid'] for k in s.jwks()['keys']]
    T.check('without --signing-key: a store key signs, the HSM key still published',
            len(kids2) == 3 and kids[0] in kids2, kids2)
    s.stop()

    # a certificate object on the token for the key: attestd publishes that one (here the
    # certificate attestd made for the EC key earlier, written to the token beside the key)
    cder = os.path.join(hsm.d, 'ec-cert.der')
    open(cder, 'wb').write(base64.b64decode(
        [k for k in Server(data_dir=d).jwks()['keys'] if k['kid'] == kid_ec][0]['x5c'][0]))
    hsm.tool('--token-label', 'attestd', '--login', '--pin', PIN, '--write-object', cder,
             '--type', 'cert', '--id', '01', '--label', 'ec')
    s = hsm.server(hsm.uri('attestd', 'ec'), 'ES256', '--log-level', 'info', data_dir=tmpdir())
    T.eq('certificate object on the token: it is the one published', 
         [k['kid'] for k in s.jwks()['keys']], [kid_ec])
    s.stop()
    T.check('certificate object on the token: the log says so',
            'from the token' in open(s.err_path).read(), s.log())

    # the token removed while attestd runs: a signature fails with the PKCS#11 reason (500),
    # attestd stays up and keeps answering
    hsm.token('live')
    hsm.keypair('live', 'ec', '07', 'EC:prime256v1')
    s = hsm.server(hsm.uri('live', 'ec'), 'ES256', data_dir=tmpdir())
    pol = harness.policy_jws_unsigned('version=1.0;authorizationrules{=>permit();};'
                                      'issuancerules{};')
    r = s.put('/policies/SgxEnclave', pol, headers={'Content-Type': 'text/plain'})
    T.eq('token present: a signed policy answer', r.status, 200, repr(r))
    r = run(['softhsm2-util', '--delete-token', '--token', 'live'], env=hsm.env)
    T.eq('token deleted under the running attestd', r.returncode, 0, r.stdout + r.stderr)
    r = s.put('/policies/SgxEnclave', pol, headers={'Content-Type': 'text/plain'})
    T.eq('token gone: 500 InternalError', (r.status, r.error_code), (500, 'InternalError'),
         repr(r))
    T.check('token gone: the message gives the PKCS#11 reason',
            'did not sign' in r.error_message and 'CKR_' in r.error_message, repr(r))
    T.eq('token gone: attestd still answers', s.get('/healthz', api=None).status, 200)
    s.stop()

    # refusals
    rc, err = hsm.refused(hsm.uri('attestd', 'ec', pin='11112222'), 'ES256')
    T.check('wrong PIN: refused', rc not in (0, None), err)
    T.check('wrong PIN: says so', 'PIN is wrong' in err and 'CKR_PIN_INCORRECT' in err, err)
    T.check('wrong PIN: the PIN is not shown', '11112222' not in err, err)
    rc, err = hsm.refused(hsm.uri('attestd', 'nope'), 'ES256')
    T.check('missing object: refused', rc not in (0, None), err)
    T.check('missing object: names it', 'has no private key object=nope' in err, err)
    hsm.token('gone')
    hsm.keypair('gone', 'ec', '05', 'EC:prime256v1')
    r = run(['softhsm2-util', '--delete-token', '--token', 'gone'], env=hsm.env)
    T.eq('softhsm2-util --delete-token', r.returncode, 0, r.stdout + r.stderr)
    rc, err = hsm.refused(hsm.uri('gone', 'ec'), 'ES256')
    T.check('token removed: refused', rc not in (0, None), err)
    T.check('token removed: says no token matches, lists those present',
            'no PKCS#11 token matches' in err and '"attestd"' in err, err)
    u = 'pkcs11:token=attestd;object=ec?module-path=%s' % MODULE
    rc, err = hsm.refused(u, 'ES256')
    T.check('no PIN: refused, asks for one', rc not in (0, None) and 'needs a PIN' in err, err)
    os.chmod(hsm.pin, 0o644)
    rc, err = hsm.refused(hsm.uri('attestd', 'ec'), 'ES256')
    T.check('PIN file readable by others: refused',
            rc not in (0, None) and 'readable by other users' in err, err)
    os.chmod(hsm.pin, 0o600)
    longpin = os.path.join(hsm.d, 'longpin')
    open(longpin, 'w').write('7' * 300)
    os.chmod(longpin, 0o600)
    rc, err = hsm.refused(hsm.uri('attestd', 'ec').replace(hsm.pin, longpin), 'ES256')
    T.check('PIN file whose line is over 256 bytes: refused, not cut',
            rc not in (0, None) and 'longer than 256 bytes' in err, err)
    rc, err = hsm.refused(hsm.uri('attestd', 'rsa'), 'ES256')
    T.check('RSA key with ES256: refused', rc not in (0, None) and 'RSA key' in err, err)
    rc, err = hsm.refused(u.replace(MODULE, '/nonexistent/libnothing.so') + '&pin-value=' + PIN,
                          'ES256')
    T.check('module not there: refused', rc not in (0, None) and 'cannot be loaded' in err, err)
    rc, err = hsm.refused('pkcs11:token=attestd;object=ec;bogus', 'ES256')
    T.check('not a URI: refused', rc not in (0, None) and 'RFC 7512' in err, err)
    rc, err = hsm.refused('/etc/attestd/key.pem', 'ES256')
    T.check('not pkcs11: refused at the option check (exit 2)', rc == 2 and 'pkcs11:' in err, err)


T.run(main)
