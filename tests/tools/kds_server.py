#!/usr/bin/env python3
"""kds_server.py - a stand-in for AMD's Key Distribution Service, for tests (standard library only).

    python3 kds_server.py [--port N] [flags] DIR

DIR is laid out as `attest snp verify --kds-dir` reads it:
  DIR/vcek/v1/<Product>/<hwid hex>    a VCEK (DER), answered for any TCB query
  DIR/{vcek,vlek}/v1/<Product>/crl    a CRL (DER)
  DIR/{vcek,vlek}/v1/<Product>/cert_chain
and served over the KDS URL scheme:
  GET /vcek/v1/<Product>/<hwid hex>?[fmcSPL=F&]blSPL=B&teeSPL=T&snpSPL=S&ucodeSPL=U
  GET /{vcek,vlek}/v1/<Product>/crl
  GET /{vcek,vlek}/v1/<Product>/cert_chain
A VCEK request must carry blSPL, teeSPL, snpSPL and ucodeSPL (and fmcSPL for Turin) as decimal
numbers 0-255, as KDS requires; else 400. A missing file is 404. Files are read at each request
(tests change them between requests).
Binds 127.0.0.1 (port 0 = ephemeral) and prints the port as stdout's first line.

Faults: --fail-status N (every answer is that status, body "injected failure"), --retry-after S
(a Retry-After header on every answer), --garbage (200 with bytes that are no certificate or CRL),
--big N (200 with N bytes), --delay S (sleep before answering), --count-file F (append
"GET PATH?QUERY" per request). Stops on SIGTERM/SIGINT, and on stdin EOF with
--exit-on-stdin-eof (so that it dies with its parent).
"""
import argparse
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin  # noqa: E402

PRODUCTS = ('Milan', 'Genoa', 'Turin')


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'kds_server/1'

    def log_message(self, fmt, *args):  # quiet
        pass

    def send(self, status, body, ctype='application/octet-stream'):
        cfg = self.server.cfg
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        if cfg.retry_after is not None:
            self.send_header('Retry-After', str(cfg.retry_after))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        cfg = self.server.cfg
        if cfg.count_file:
            with self.server.count_lock:
                with open(cfg.count_file, 'a') as f:
                    f.write('GET %s\n' % self.path)
        if cfg.delay:
            time.sleep(cfg.delay)
        if cfg.fail_status:
            return self.send(cfg.fail_status, b'injected failure', 'text/plain')
        if cfg.big:
            return self.send(200, b'\x30' * cfg.big)
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip('/').split('/')
        if len(parts) != 4 or parts[0] not in ('vcek', 'vlek') or parts[1] != 'v1' \
                or parts[2] not in PRODUCTS:
            return self.send(404, b'not found', 'text/plain')
        kind, product, name = parts[0], parts[2], parts[3]
        if name not in ('crl', 'cert_chain'):
            if kind != 'vcek' or not re.fullmatch(r'[0-9a-f]{16}|[0-9a-f]{128}', name):
                return self.send(404, b'not found', 'text/plain')
            q = urllib.parse.parse_qs(url.query)
            need = ['blSPL', 'teeSPL', 'snpSPL', 'ucodeSPL'] + (['fmcSPL'] if product == 'Turin' else [])
            for k in need:
                v = q.get(k, [''])[0]
                if not v.isdigit() or int(v) > 255:
                    return self.send(400, b'bad or missing ' + k.encode(), 'text/plain')
        path = os.path.join(self.server.dir, kind, 'v1', product, name)
        if not os.path.isfile(path):
            return self.send(404, b'not found', 'text/plain')
        if cfg.garbage:
            return self.send(200, b'<html>this is not DER</html>', 'text/html')
        body = open(path, 'rb').read()
        ctype = 'application/x-pem-file' if name == 'cert_chain' else \
            'application/pkix-crl' if name == 'crl' else 'application/pkix-cert'
        return self.send(200, body, ctype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('dir')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--fail-status', type=int, default=0)
    ap.add_argument('--retry-after', type=int)
    ap.add_argument('--garbage', action='store_true')
    ap.add_argument('--big', type=int, default=0)
    ap.add_argument('--delay', type=float, default=0.0)
    ap.add_argument('--count-file')
    ap.add_argument('--exit-on-stdin-eof', action='store_true')
    cfg = ap.parse_args()

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            # a client that gave up (a deadline, an answer over its cap) is no server error
            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                super().handle_error(request, client_address)

    Server.allow_reuse_address = True
    Server.daemon_threads = True
    srv = Server(('127.0.0.1', cfg.port), Handler)
    srv.cfg = cfg
    srv.dir = cfg.dir
    srv.count_lock = threading.Lock()

    standin.serve(srv, cfg.exit_on_stdin_eof)


if __name__ == '__main__':
    main()
