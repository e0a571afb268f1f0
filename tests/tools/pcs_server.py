#!/usr/bin/env python3
"""pcs_server.py - an Intel PCS v4-compatible collateral server for tests (standard library only).

    python3 pcs_server.py [--port N] [flags] SETDIR [SETDIR ...]

Each SETDIR holds one collateral set in the `attest quote verify --collateral` layout
(tcb_info.json, tcb_info_issuer_chain.pem, qe_identity.json, qe_identity_issuer_chain.pem,
pck_crl.der, pck_crl_issuer_chain.pem, root_ca_crl.der); a directory without tcb_info.json is
searched one level down for such sets. Sets are indexed by their TCB info's id (SGX/TDX) and
fmspc. Binds 127.0.0.1 (port 0 = ephemeral) and prints the port as stdout's first line.

Paths served, as Intel PCS / a PCCS does, with issuer chains as URL-encoded PEM headers:
  GET /{sgx,tdx}/certification/v4/tcb?fmspc=HEX     TCB-Info-Issuer-Chain
  GET /{sgx,tdx}/certification/v4/qe/identity       SGX-Enclave-Identity-Issuer-Chain
  GET /sgx/certification/v4/pckcrl?ca=processor|platform[&encoding=der]
                                                    SGX-PCK-CRL-Issuer-Chain (PEM body by default)
  GET /sgx/certification/v4/rootcacrl               root CA CRL, hex text as a PCCS serves it
                                                    (--root-crl-format der|pem|hex)
  GET /IntelSGXRootCA.der                           root CA CRL, DER
QE identity and CRL requests carry no FMSPC: they are answered from the set whose TCB info was
last fetched on the same connection (HTTP/1.1 keep-alive), else from the first set of that TEE
(QE identity) or with a PCK CRL of that CA.

Faults: --fail-status N (every answer is that status), --fail-body TEXT (its body instead of
{"error":"injected failure"}), --delay S (sleep before answering), --hold-file F (after counting
a request, answer it only once F does not exist, at most 60 s later), --redirect BASE (every
answer is 302 to BASE + the request's path and query; with a path in BASE, e.g. a relative
/moved, requests under it are answered normally), --garbage (bodies that do not parse;
headers stay), --legacy-headers (send the v3 header name SGX-TCB-Info-Issuer-Chain),
--count-file F (append "METHOD PATH?QUERY" per request).
Stops on SIGTERM/SIGINT, and on stdin EOF with --exit-on-stdin-eof (so it dies with its parent).
"""
import argparse
import base64
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin  # noqa: E402


class Set:
    def __init__(self, d):
        self.dir = d
        rd = lambda n: open(os.path.join(d, n), 'rb').read()
        self.tcb_info = rd('tcb_info.json')
        info = json.loads(self.tcb_info)['tcbInfo']
        self.tee = info.get('id', 'SGX').upper()
        self.fmspc = info['fmspc'].lower()
        self.tcb_chain = rd('tcb_info_issuer_chain.pem')
        self.qe_identity = rd('qe_identity.json')
        self.qe_chain = rd('qe_identity_issuer_chain.pem')
        self.pck_crl = self._crl(d, 'pck_crl')
        p = os.path.join(d, 'pck_crl_issuer_chain.pem')
        self.pck_crl_chain = open(p, 'rb').read() if os.path.exists(p) else b''
        self.root_crl = self._crl(d, 'root_ca_crl')
        self.ca = 'processor' if b'Intel SGX PCK Processor CA' in self.pck_crl else 'platform'

    @staticmethod
    def _crl(d, stem):
        for ext in ('der', 'pem', 'crl'):
            p = os.path.join(d, stem + '.' + ext)
            if os.path.exists(p):
                data = open(p, 'rb').read()
                return pem_to_der(data) if data.startswith(b'-----BEGIN') else data
        raise FileNotFoundError(os.path.join(d, stem + '.der'))


def pem_to_der(data):
    lines = [l for l in data.splitlines() if l and not l.startswith(b'-----')]
    return base64.b64decode(b''.join(lines))


def der_to_pem(der, label='X509 CRL'):
    b64 = base64.b64encode(der).decode()
    body = '\n'.join(b64[i:i + 64] for i in range(0, len(b64), 64))
    return ('-----BEGIN %s-----\n%s\n-----END %s-----\n' % (label, body, label)).encode()


def load_sets(dirs):
    sets = []
    for d in dirs:
        if os.path.exists(os.path.join(d, 'tcb_info.json')):
            sets.append(Set(d))
            continue
        for name in sorted(os.listdir(d)):
            sub = os.path.join(d, name)
            if os.path.exists(os.path.join(sub, 'tcb_info.json')):
                sets.append(Set(sub))
    if not sets:
        sys.exit('pcs_server: no collateral set in %s' % ' '.join(dirs))
    return sets


def enc_header(pem):
    # Intel percent-encodes the whole PEM (newlines, spaces, '+', '/', '=').
    return urllib.parse.quote(pem.decode(), safe='-_.')


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'pcs_server/1'

    def log_message(self, fmt, *args):  # quiet
        pass

    def send(self, status, body, headers=(), ctype='application/json'):
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        cfg = self.server.cfg
        url = urllib.parse.urlsplit(self.path)
        if cfg.count_file:
            with self.server.count_lock:
                with open(cfg.count_file, 'a') as f:
                    f.write('GET %s\n' % self.path)
        if cfg.hold_file:
            t0 = time.time()
            while os.path.exists(cfg.hold_file) and time.time() - t0 < 60:
                time.sleep(0.02)
        if cfg.delay:
            time.sleep(cfg.delay)
        if cfg.redirect:
            # A redirect base with a path (e.g. /moved, relative: same origin) is served here:
            # requests under it are answered as without the prefix.
            prefix = urllib.parse.urlsplit(cfg.redirect).path.rstrip('/')
            if prefix and self.path.startswith(prefix + '/'):
                self.path = self.path[len(prefix):]
                url = urllib.parse.urlsplit(self.path)
            else:
                return self.send(302, b'', [('Location', cfg.redirect.rstrip('/') + self.path)])
        if cfg.fail_status:
            body = cfg.fail_body.encode() if cfg.fail_body is not None else \
                b'{"error":"injected failure"}'
            return self.send(cfg.fail_status, body, [('Error-Code', 'InjectedFailure')],
                             'text/plain' if cfg.fail_body is not None else 'application/json')
        q = urllib.parse.parse_qs(url.query)
        parts = url.path.strip('/').split('/')
        sets = self.server.sets
        sticky = getattr(self, 'sticky', None)
        garbage = cfg.garbage

        if len(parts) == 4 and parts[1:3] == ['certification', 'v4'] and parts[3] == 'tcb' \
                and parts[0] in ('sgx', 'tdx'):
            fm = (q.get('fmspc') or [''])[0].lower()
            s = next((s for s in sets if s.tee == parts[0].upper() and s.fmspc == fm), None)
            if s is None:
                return self.send(404, b'', [('Error-Code', 'NotFound')])
            self.sticky = s
            name = 'SGX-TCB-Info-Issuer-Chain' if cfg.legacy_headers else 'TCB-Info-Issuer-Chain'
            body = b'{"tcbInfo":{"id":"garbage"' if garbage else s.tcb_info
            return self.send(200, body, [(name, enc_header(s.tcb_chain))])

        if len(parts) == 5 and parts[1:3] == ['certification', 'v4'] \
                and parts[3:] == ['qe', 'identity'] and parts[0] in ('sgx', 'tdx'):
            tee = parts[0].upper()
            s = sticky if sticky is not None and sticky.tee == tee else \
                next((s for s in sets if s.tee == tee), None)
            if s is None:
                return self.send(404, b'', [('Error-Code', 'NotFound')])
            body = b'{"enclaveIdentity":[' if garbage else s.qe_identity
            return self.send(200, body,
                             [('SGX-Enclave-Identity-Issuer-Chain', enc_header(s.qe_chain))])

        if url.path == '/sgx/certification/v4/pckcrl':
            ca = (q.get('ca') or [''])[0].lower()
            if ca not in ('processor', 'platform'):
                return self.send(400, b'', [('Error-Code', 'InvalidParameter')])
            s = sticky if sticky is not None and sticky.ca == ca else \
                next((s for s in sets if s.ca == ca), None)
            if s is None:
                return self.send(404, b'', [('Error-Code', 'NotFound')])
            der = (q.get('encoding') or [''])[0].lower() == 'der'
            body = s.pck_crl if der else der_to_pem(s.pck_crl)
            if garbage:
                body = b'\x30\x03\x02\x01' if der else b'-----BEGIN X509 CRL-----\nAAAA\n'
            return self.send(200, body, [('SGX-PCK-CRL-Issuer-Chain', enc_header(s.pck_crl_chain))],
                             'application/x-pem-file' if not der else 'application/pkix-crl')

        if url.path in ('/sgx/certification/v4/rootcacrl', '/IntelSGXRootCA.der'):
            s = sticky if sticky is not None else sets[0]
            fmt = 'der' if url.path.endswith('.der') else cfg.root_crl_format
            body = {'der': s.root_crl, 'pem': der_to_pem(s.root_crl),
                    'hex': s.root_crl.hex().encode()}[fmt]
            if garbage:
                body = b'zz not a crl'
            return self.send(200, body, ctype='application/pkix-crl' if fmt == 'der'
                             else 'text/plain')

        return self.send(404, b'', [('Error-Code', 'NotFound')])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('dirs', nargs='+')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--fail-status', type=int, default=0)
    ap.add_argument('--fail-body')
    ap.add_argument('--delay', type=float, default=0.0)
    ap.add_argument('--hold-file')
    ap.add_argument('--redirect')
    ap.add_argument('--garbage', action='store_true')
    ap.add_argument('--legacy-headers', action='store_true')
    ap.add_argument('--count-file')
    ap.add_argument('--root-crl-format', choices=('der', 'pem', 'hex'), default='hex')
    ap.add_argument('--exit-on-stdin-eof', action='store_true')
    cfg = ap.parse_args()

    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(('127.0.0.1', cfg.port), Handler)
    srv.cfg = cfg
    srv.sets = load_sets(cfg.dirs)
    srv.count_lock = threading.Lock()

    standin.serve(srv, cfg.exit_on_stdin_eof)


if __name__ == '__main__':
    main()
