#!/usr/bin/env python3
"""net_server.py - a loopback HTTP(S) server for tests/unit/net/test_http.c (standard library only).

    python3 net_server.py [--tls CERT KEY]

Binds 127.0.0.1 on an ephemeral port, prints the port as stdout's first line, stops on stdin EOF
(so it dies with the test). Every request but /count is counted; GET /count answers the count.
Paths:
  /ok                  200 "hello", header X-Test: value
  /big?n=N             200 with N bytes and a Content-Length
  /chunked?n=N         200 with N bytes, chunked (no Content-Length)
  /redirect?to=URL     302 to URL
  /loop                302 to /loop (a redirect loop)
  /hang                answers after 30 s (the client's deadline ends it first)
  /retry-secs          503 with Retry-After: 7
  /retry-date          429 with Date and Retry-After 120 s later (HTTP-dates)
  /longheader?n=N      200 with an X-Test header of N characters
  POST /echo           200 echoing the body; the Authorization header in X-Auth
"""
import ssl
import sys
import threading
import time
import urllib.parse
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

count = 0
lock = threading.Lock()


class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def send(self, status, body=b'', headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        global count
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == '/count':
            with lock:
                n = count
            return self.send(200, str(n).encode())
        with lock:
            count += 1
        if u.path == '/ok':
            return self.send(200, b'hello', [('X-Test', 'value')])
        if u.path == '/big':
            return self.send(200, b'x' * int(q['n']))
        if u.path == '/chunked':
            self.send_response(200)
            self.send_header('Transfer-Encoding', 'chunked')
            self.end_headers()
            left = int(q['n'])
            try:
                while left > 0:
                    k = min(left, 65536)
                    self.wfile.write(b'%x\r\n' % k + b'y' * k + b'\r\n')
                    left -= k
                self.wfile.write(b'0\r\n\r\n')
            except OSError:
                pass
            return
        if u.path == '/redirect':
            return self.send(302, b'', [('Location', q['to'])])
        if u.path == '/loop':
            return self.send(302, b'', [('Location', '/loop')])
        if u.path == '/hang':
            time.sleep(30)
            return self.send(200, b'late')
        if u.path == '/retry-secs':
            return self.send(503, b'busy', [('Retry-After', '7')])
        if u.path == '/retry-date':
            now = 1751328000
            return self.send(429, b'slow down', [('Date', formatdate(now, usegmt=True)),
                                                 ('Retry-After', formatdate(now + 120, usegmt=True))])
        if u.path == '/longheader':
            return self.send(200, b'h', [('X-Test', 'v' * int(q['n']))])
        return self.send(404, b'no such path')

    def do_POST(self):
        global count
        with lock:
            count += 1
        n = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(n)
        return self.send(200, body, [('X-Auth', self.headers.get('Authorization', '')),
                                     ('X-Method', self.command)])

    do_PUT = do_POST  # the same echo, and the method it came with


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up (the body cap, the deadline) is expected


def main():
    srv = Server(('127.0.0.1', 0), H)
    srv.daemon_threads = True
    if len(sys.argv) == 4 and sys.argv[1] == '--tls':
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(srv.server_address[1], flush=True)
    sys.stdin.read()


if __name__ == '__main__':
    main()
