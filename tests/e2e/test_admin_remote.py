#!/usr/bin/env python3
"""test_admin_remote.py - without --auth-issuer, policy and policy-certificate changes are taken
from loopback peers only (issue 10, item 12). attestd listens on 0.0.0.0; a client in a network
namespace that this test creates (a veth pair on a /30 of its own) reaches it from a
non-loopback address and gets 401 for PUT /policies, :reset and /certificates:add, while reads
and attestation still work; the same requests from 127.0.0.1 are accepted; with
--allow-anonymous-admin the remote ones are accepted too, with a warning at start. The start
line names the address really bound and warns that the derived issuer will not work remotely.

Needs root and `ip netns` (iproute2): without them it prints one SKIP line and exits 0."""
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (DCAP, PERMIT_POLICY, Results, Server, b64url, quote_bytes, sgx_vector)

T = Results('e2e/test_admin_remote')
TEXT = {'Content-Type': 'text/plain'}
NS = 'attestd-e2e-%d' % os.getpid()
NET = 10 + os.getpid() % 200
HOST_IP, PEER_IP = '10.213.%d.1' % NET, '10.213.%d.2' % NET
VETH_HOST, VETH_PEER = 'ate%dh' % (os.getpid() % 100000), 'ate%dp' % (os.getpid() % 100000)


def sh(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30)


def netns_up():
    """The namespace and a veth pair: HOST_IP here, PEER_IP in the namespace. None or why not."""
    steps = [['ip', 'netns', 'add', NS],
             ['ip', 'link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_PEER],
             ['ip', 'link', 'set', VETH_PEER, 'netns', NS],
             ['ip', 'addr', 'add', HOST_IP + '/30', 'dev', VETH_HOST],
             ['ip', 'link', 'set', VETH_HOST, 'up'],
             ['ip', 'netns', 'exec', NS, 'ip', 'addr', 'add', PEER_IP + '/30', 'dev', VETH_PEER],
             ['ip', 'netns', 'exec', NS, 'ip', 'link', 'set', VETH_PEER, 'up'],
             ['ip', 'netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']]
    for s in steps:
        r = sh(*s)
        if r.returncode != 0:
            return '%s: %s' % (' '.join(s), r.stderr.strip())
    return None


def netns_down():
    sh('ip', 'link', 'del', VETH_HOST)
    sh('ip', 'netns', 'del', NS)


REMOTE = r'''
import json, sys
sys.path.insert(0, %r)
from harness import request
method, url, path, body, ctype = json.loads(sys.argv[1])
r = request(url, method, path, body, headers={'Content-Type': ctype} if ctype else None, timeout=10)
print(json.dumps({'status': r.status, 'body': r.body.decode('utf-8', 'replace')}))
''' % HERE


def remote(method, port, path, body=None, ctype=None):
    """One request from inside the namespace, to HOST_IP:port; (status, body)."""
    arg = json.dumps([method, 'http://%s:%d' % (HOST_IP, port), path, body, ctype])
    r = subprocess.run(['ip', 'netns', 'exec', NS, sys.executable, '-c', REMOTE, arg],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return None, r.stderr[-500:]
    out = json.loads(r.stdout)
    return out['status'], out['body']


def port_of(s):
    return int(s.issuer.rsplit(':', 1)[1])


def start_output(s, want):
    """attestd's stdout once it holds `want` (the harness returns at the issuer line; the notes
    come after it), or what it is after 10 s."""
    out = ''
    for _ in range(100):
        out = open(s.out_path, errors='replace').read()
        if want in out:
            break
        time.sleep(0.1)
    return out


def changes_refused(s, q):
    port = port_of(s)
    out = start_output(s, 'loopback')
    T.check('start line names the address really bound (0.0.0.0)',
            'listening on http://0.0.0.0:%d' % port in out, out)
    T.check('start warns that the derived issuer will not work remotely',
            'relying parties on other machines' in out and '--issuer' in out, out)
    T.check('start notes that changes are taken from loopback only', 'loopback' in out, out)

    st, body = remote('PUT', port, '/policies/SgxEnclave?api-version=2022-08-01', PERMIT_POLICY,
                      'text/plain')
    T.eq('remote PUT /policies without --auth-issuer: 401', st, 401, body)
    T.check('... says how to configure an issuer', '--auth-issuer' in (body or ''), body)
    st, body = remote('POST', port, '/policies/SgxEnclave:reset?api-version=2022-08-01', '',
                      'text/plain')
    T.eq('remote :reset: 401', st, 401, body)
    st, body = remote('POST', port, '/certificates:add?api-version=2022-08-01', '"a.b.c"',
                      'application/json')
    T.eq('remote certificates:add: 401', st, 401, body)
    st, body = remote('POST', port, '/certificates:remove?api-version=2022-08-01', '"a.b.c"',
                      'application/json')
    T.eq('remote certificates:remove: 401', st, 401, body)
    st, body = remote('GET', port, '/policies/SgxEnclave?api-version=2022-08-01')
    T.eq('remote GET /policies: 200 (reading is not a change)', st, 200, body)
    st, body = remote('POST', port, '/attest/SgxEnclave?api-version=2022-08-01',
                      json.dumps({'quote': q}), 'application/json')
    T.eq('remote attest: 200', st, 200, body)

    r = s.put('/policies/SgxEnclave', PERMIT_POLICY, headers=TEXT)
    T.eq('loopback PUT /policies: 200', r.status, 200, repr(r))
    r = s.post('/policies/SgxEnclave:reset', '', headers=TEXT)
    T.eq('loopback :reset: 200', r.status, 200, repr(r))


def changes_allowed(s):
    port = port_of(s)
    out = start_output(s, 'warning: --allow-anonymous-admin')
    T.check('--allow-anonymous-admin is warned about at start',
            'warning: --allow-anonymous-admin' in out, out)
    st, body = remote('PUT', port, '/policies/SgxEnclave?api-version=2022-08-01', PERMIT_POLICY,
                      'text/plain')
    T.eq('remote PUT with --allow-anonymous-admin: 200', st, 200, body)
    st, body = remote('POST', port, '/policies/SgxEnclave:reset?api-version=2022-08-01', '',
                      'text/plain')
    T.eq('remote :reset with --allow-anonymous-admin: 200', st, 200, body)


def main():
    if os.geteuid() != 0:
        print('SKIP e2e/test_admin_remote: needs root to create a network namespace (euid %d)' %
              os.geteuid(), flush=True)
        return
    why = netns_up()
    if why:
        netns_down()
        print('SKIP e2e/test_admin_remote: cannot create a network namespace: %s' % why,
              flush=True)
        return
    try:
        name, d, exp = sgx_vector()
        q = b64url(quote_bytes(d))
        with Server('--listen', '0.0.0.0:0', at=exp['verification_time'],
                    collateral_dir=DCAP) as s:
            T.section(changes_refused, s, q)
            T.check('server alive', s.alive(), s.log())
        with Server('--listen', '0.0.0.0:0', '--allow-anonymous-admin',
                    at=exp['verification_time'], collateral_dir=DCAP) as s:
            T.section(changes_allowed, s)
    finally:
        netns_down()


if __name__ == '__main__':
    T.run(main)
