"""harness.py - shared helpers for the attestd end-to-end tests (python3 standard library only).

Each tests/e2e/test_*.py starts its own attestd processes on ephemeral loopback ports with
temporary data directories, talks to them over HTTP, and prints "N passed, M failed".

Environment (set by ctest; defaults work from a source checkout with build-e2e/ or build/):
  ATTESTD  attestd binary        ATTEST  attest binary
  VECTORS  the real vector sets   REPO    source root
The real vector sets are not in the repository: tests/tools/vectors.py finds them (VECTORS from
ctest, else ATTESTD_VECTORS=DIR, else ../shared/vectors; docs/testing.md). DCAP is None without
them, and vector_sets() / sgx_vector() then print the one SKIP line and exit 0.
Every process started here is killed when the script exits, however it exits (atexit, SIGTERM,
SIGINT, SIGHUP), so a failing or timed-out test never leaves a server behind.
"""
import atexit
import base64
import hashlib
import http.client as httpclient
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get('REPO') or os.path.dirname(os.path.dirname(HERE))


def _default_bin(name):
    for b in ('build-e2e', 'build'):
        p = os.path.join(REPO, b, 'bin', name)
        if os.path.exists(p):
            return p
    return os.path.join(REPO, 'build', 'bin', name)


ATTESTD = os.environ.get('ATTESTD') or _default_bin('attestd')
ATTEST = os.environ.get('ATTEST') or _default_bin('attest')
sys.path.insert(0, os.path.join(REPO, 'tests', 'tools'))
import vectors as _vectors  # noqa: E402

DCAP = _vectors.dcap_dir(REPO)  # one subdirectory per set, or None
PCS_SERVER = os.path.join(REPO, 'tests', 'tools', 'pcs_server.py')
KDS_SERVER = os.path.join(REPO, 'tests', 'tools', 'kds_server.py')
API = '2022-08-01'

# ---------------------------------------------------------------- process bookkeeping

_procs = []
_tmpdirs = []


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(5)
            except Exception:
                pass
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def _on_signal(signum, frame):
    _cleanup()
    os._exit(128 + signum)


for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def tmpdir(prefix='attestd-e2e-'):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def _drain(stream, path, lines=None, ready=None, pattern=None):
    """Copy a child's output to a file; optionally report the first line starting with pattern."""
    with open(path, 'wb') as f:
        for line in iter(stream.readline, b''):
            f.write(line)
            f.flush()
            if lines is not None:
                lines.append(line.decode('utf-8', 'replace'))
            if ready is not None and not ready.is_set():
                if pattern is None or line.decode('utf-8', 'replace').startswith(pattern):
                    ready.set()
    if ready is not None:
        ready.set()


def run(args, timeout=60, **kw):
    """Run a command to completion; returns CompletedProcess with text output."""
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


# ---------------------------------------------------------------- results

class Results:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.failures = []

    def check(self, what, cond, detail=''):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(what)
            msg = 'FAIL: %s' % what
            if detail:
                d = detail if isinstance(detail, str) else repr(detail)
                msg += '\n  | ' + d[:1500].replace('\n', '\n  | ')
            print(msg, flush=True)
        return cond

    def eq(self, what, got, want, detail=''):
        if detail and not isinstance(detail, str):
            detail = repr(detail)
        return self.check(what, got == want, 'got %r, want %r%s' % (got, want,
                                                                   ('; ' + detail) if detail else ''))

    def section(self, fn, *args):
        """Run one scenario; an exception is one failure and does not stop the others."""
        try:
            fn(*args)
        except Exception:
            self.check('%s raised' % fn.__name__, False, traceback.format_exc())

    def run(self, main):
        """Run the script's main(); an exception is a failure; always prints the summary."""
        try:
            main()
        except Exception:
            self.check('main raised', False, traceback.format_exc())
        self.finish()

    def finish(self):
        print('%s: %d passed, %d failed' % (self.name, self.passed, self.failed), flush=True)
        _cleanup()
        sys.exit(1 if self.failed or self.passed == 0 else 0)


# ---------------------------------------------------------------- base64 / JWT

def b64url(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).decode().rstrip('=')


def b64url_dec(s):
    return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))


def jwt_parts(tok):
    h, p, s = tok.split('.')
    return json.loads(b64url_dec(h)), json.loads(b64url_dec(p)) if p else None, b64url_dec(s)


def _int(b64):
    return int.from_bytes(b64url_dec(b64), 'big')


_SHA256_DIGESTINFO = bytes.fromhex('3031300d060960864801650304020105000420')


def rs256_verify(jwk, signing_input, sig):
    """RSASSA-PKCS1-v1_5 / SHA-256 verification with the JWK's n and e (pure python)."""
    n, e = _int(jwk['n']), _int(jwk['e'])
    k = (n.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    em = pow(int.from_bytes(sig, 'big'), e, n).to_bytes(k, 'big')
    t = _SHA256_DIGESTINFO + hashlib.sha256(signing_input).digest()
    want = b'\x00\x01' + b'\xff' * (k - len(t) - 3) + b'\x00' + t
    return em == want


def verify_token(tok, jwks, issuer):
    """Check a service token as a relying party would: RS256, jku, kid in /certs, signature, iss,
    times. Returns (ok, claims, why)."""
    try:
        hs, ps, ss = tok.split('.')
        h = json.loads(b64url_dec(hs))
        c = json.loads(b64url_dec(ps))
    except Exception as ex:
        return False, None, 'not a JWT: %s' % ex
    if h.get('alg') != 'RS256' or h.get('typ') != 'JWT':
        return False, c, 'header %r' % h
    if h.get('jku') != issuer + '/certs':
        return False, c, 'jku %r' % h.get('jku')
    keys = [k for k in jwks.get('keys', []) if k.get('kid') == h.get('kid')]
    if len(keys) != 1:
        return False, c, 'kid %r not (once) in /certs' % h.get('kid')
    if not rs256_verify(keys[0], (hs + '.' + ps).encode(), b64url_dec(ss)):
        return False, c, 'bad signature'
    now = time.time()
    if c.get('iss') != issuer:
        return False, c, 'iss %r' % c.get('iss')
    if not (c.get('nbf', 0) <= now + 5 and c.get('exp', 0) > now and c.get('iat') == c.get('nbf')):
        return False, c, 'times iat=%r nbf=%r exp=%r now=%d' % (c.get('iat'), c.get('nbf'),
                                                              c.get('exp'), now)
    return True, c, ''


def unsigned_jws(payload):
    """{"alg":"none"} JWS with an empty signature; payload is a dict, a str or ''."""
    if isinstance(payload, dict):
        payload = json.dumps(payload, separators=(',', ':'))
    return 'eyJhbGciOiJub25lIn0.' + (b64url(payload) if payload else '') + '.'


def policy_jws_unsigned(text):
    return unsigned_jws({'AttestationPolicy': b64url(text)})


# ---------------------------------------------------------------- openssl: keys, certs, JWS

class Signer:
    """A self-signed CA certificate with an RSA-2048 key (made with the openssl command) that signs
    RS256 JWSs carrying its certificate in x5c."""

    def __init__(self, d, name, ca=True):
        self.key = os.path.join(d, name + '.key')
        self.cert = os.path.join(d, name + '.pem')
        ext = ['-addext', 'basicConstraints=critical,CA:TRUE',
               '-addext', 'keyUsage=critical,digitalSignature,keyCertSign'] if ca else \
              ['-addext', 'basicConstraints=critical,CA:FALSE']
        r = run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256',
                 '-keyout', self.key, '-out', self.cert, '-days', '30',
                 '-subj', '/CN=attestd e2e %s' % name] + ext)
        if r.returncode != 0:
            raise RuntimeError('openssl req: ' + r.stderr)
        pem = open(self.cert).read()
        self.pem = pem
        self.der = base64.b64decode(''.join(l for l in pem.splitlines() if not l.startswith('-----')))
        self.x5c = base64.b64encode(self.der).decode()
        self.sha1 = hashlib.sha1(self.der).hexdigest()

    def sign(self, payload, alg='RS256', header_extra=None):
        h = {'alg': alg, 'x5c': [self.x5c]}
        if header_extra:
            h.update(header_extra)
        if isinstance(payload, dict):
            payload = json.dumps(payload, separators=(',', ':'))
        si = b64url(json.dumps(h, separators=(',', ':'))) + '.' + (b64url(payload) if payload else '')
        r = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', self.key], input=si.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        if r.returncode != 0:
            raise RuntimeError('openssl dgst: ' + r.stderr.decode())
        return si + '.' + b64url(r.stdout)

    def jwk(self):
        return {'kty': 'RSA', 'x5c': [self.x5c]}


# ---------------------------------------------------------------- HTTP

class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def error_code(self):
        try:
            return self.json['error']['code']
        except (TypeError, KeyError):
            return None

    @property
    def error_message(self):
        try:
            return self.json['error']['message']
        except (TypeError, KeyError):
            return ''

    @property
    def token(self):
        return (self.json or {}).get('token') if isinstance(self.json, dict) else None

    def __repr__(self):
        return 'HTTP %d %s' % (self.status, self.body[:600].decode('utf-8', 'replace'))


def request(url, method, path, body=None, headers=None, api=API, timeout=30):
    """One request on a fresh connection. api=None sends no api-version; path may have a query."""
    u = urllib.parse.urlsplit(url)
    if api is not None:
        path += ('&' if '?' in path else '?') + 'api-version=' + api
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    h = {'Connection': 'close'}
    if body is not None and not any(k.lower() == 'content-type' for k in (headers or {})):
        h['Content-Type'] = 'application/json'
    h.update(headers or {})
    c = httpclient.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        c.close()


# ---------------------------------------------------------------- servers

def free_port():
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    """attestd on 127.0.0.1:0 with its own data dir. Use as a context manager, or call stop()."""

    def __init__(self, *args, data_dir=None, at=None, collateral_dir=None, collateral_url=None,
                 isolated=None, extra_env=None):
        self.dir = data_dir or tmpdir()
        self.args = [ATTESTD, '--listen', '127.0.0.1:0', '--data-dir', self.dir,
                     '--log-level', 'warn']
        if at:
            self.args += ['--at', at]
        if collateral_dir:
            self.args += ['--collateral-dir', collateral_dir]
        if collateral_url:
            self.args += ['--collateral-url', collateral_url]
        if isolated:
            self.args += ['--isolated-signers', isolated]
        self.args += list(args)
        env = dict(os.environ)
        for k in list(env):
            if k.startswith('ATTESTD_'):
                del env[k]
        env.update(extra_env or {})
        logdir = tmpdir('attestd-log-')
        self.out_path = os.path.join(logdir, 'stdout')
        self.err_path = os.path.join(logdir, 'stderr')
        self.p = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, env=env)
        _procs.append(self.p)
        self.lines = []
        ready = threading.Event()
        threading.Thread(target=_drain, args=(self.p.stdout, self.out_path, self.lines, ready,
                                              'issuer: '), daemon=True).start()
        threading.Thread(target=_drain, args=(self.p.stderr, self.err_path), daemon=True).start()
        ready.wait(20)
        self.issuer = None
        for l in self.lines:
            if l.startswith('issuer: '):
                self.issuer = l.split(None, 1)[1].strip()
        if self.issuer is None:
            self.stop()
            raise RuntimeError('attestd did not start: %s\n%s' % (' '.join(self.args), self.log()))
        self.url = self.issuer

    def log(self):
        try:
            return open(self.err_path, errors='replace').read()[-3000:]
        except OSError:
            return ''

    def req(self, method, path, body=None, **kw):
        return request(self.url, method, path, body, **kw)

    def get(self, path, **kw):
        return self.req('GET', path, **kw)

    def post(self, path, body=None, **kw):
        return self.req('POST', path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.req('PUT', path, body, **kw)

    def jwks(self):
        return self.get('/certs', api=None).json

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s. Returns the exit status."""
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        return self.p.returncode

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


class PcsServer:
    """tests/tools/pcs_server.py serving collateral sets; .url is its base URL."""
    SCRIPT = PCS_SERVER

    def __init__(self, *dirs, count_file=None, flags=()):
        args = [sys.executable, self.SCRIPT, '--port', '0']
        if count_file:
            args += ['--count-file', count_file]
        args += list(flags) + list(dirs)
        logdir = tmpdir('pcs-log-')
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL)
        _procs.append(self.p)
        lines = []
        ready = threading.Event()
        threading.Thread(target=_drain, args=(self.p.stdout, os.path.join(logdir, 'out'), lines,
                                              ready), daemon=True).start()
        threading.Thread(target=_drain, args=(self.p.stderr, os.path.join(logdir, 'err')),
                         daemon=True).start()
        ready.wait(20)
        if not lines:
            self.stop()
            raise RuntimeError('%s did not start' % os.path.basename(self.SCRIPT))
        self.port = int(lines[0].split()[-1])
        self.url = 'http://127.0.0.1:%d' % self.port

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


class KdsServer(PcsServer):
    """tests/tools/kds_server.py serving a directory in AMD KDS's layout; .url is its base URL."""
    SCRIPT = KDS_SERVER


# ---------------------------------------------------------------- vectors

def need_vectors(name=None):
    """Without the real vector sets: print the one SKIP line of this test and exit 0."""
    if DCAP is None:
        if name is None:
            here = os.path.abspath(sys.argv[0])
            name = '%s/%s' % (os.path.basename(os.path.dirname(here)),
                              os.path.splitext(os.path.basename(here))[0])
        _vectors.skip(name)


def vector_sets():
    """[(name, dir, expected)] for every real DCAP set (skips the test when there are none)."""
    need_vectors()
    out = []
    for name in sorted(os.listdir(DCAP)):
        d = os.path.join(DCAP, name)
        p = os.path.join(d, 'expected.json')
        if os.path.isfile(p) and os.path.isfile(os.path.join(d, 'quote.bin')):
            out.append((name, d, json.load(open(p))))
    return out


def quote_bytes(d):
    return open(os.path.join(d, 'quote.bin'), 'rb').read()


def oe_report(quote):
    """Open Enclave remote report: u32 version 1, u32 type 2 (remote), u64 size, then the quote."""
    return (1).to_bytes(4, 'little') + (2).to_bytes(4, 'little') + \
        len(quote).to_bytes(8, 'little') + quote


def is_tdx(exp):
    return str(exp['quote'].get('tee_type', '0x0')).lower() == '0x81'


def sgx_vector():
    for name, d, exp in vector_sets():
        if not is_tdx(exp) and exp['expected']['accept']:
            return name, d, exp
    raise RuntimeError('no accepted SGX vector')


DENY_POLICY = ('version=1.0; authorizationrules { c:[type=="x-ms-sgx-is-debuggable", '
               'value==true] => permit(); }; issuancerules { };')
PERMIT_POLICY = ('version=1.0; authorizationrules { => permit(); }; issuancerules { '
                 '=> issue(type="e2e-marker", value="permitted"); };')
