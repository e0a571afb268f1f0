#!/usr/bin/env python3
"""run_interop.py - interoperability with the official Azure Attestation SDK.

Installs tests/interop/package.json (+ package-lock.json: @azure/attestation 1.0.0, jose) into
$BUILD/interop with npm (never into the source tree), makes a TLS CA and server certificate and two
policy signer CAs with openssl, starts four attestd servers (plain HTTP; HTTPS; HTTPS in isolated
mode; plain HTTP trusting the simulated platform `attest sim`, whose quote binds a runtime data file),
then runs sdk_test.mjs with node against them. Then the TPM step (tpm_step): swtpm on
loopback with an AK made by tpm2-tools, an attestd pinning it, and sdk_tpm.mjs carrying MAA's
round 1 and round 2 through the SDK's attestTpm (skipped with one line when swtpm or tpm2-tools
are missing or swtpm does not start).

Skips (exit 0, with a message) only when node or npm is not installed; a failing npm install
(registry unreachable, ...) is a failure. Environment: ATTESTD, VECTORS, REPO as for the e2e
tests; BUILD (default: the directory above ATTESTD's bin/)."""
import hashlib
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'e2e'))
import harness  # noqa: E402
from harness import (DCAP, Server, Signer, _procs, free_port, run, sgx_vector,  # noqa: E402
                     tmpdir)


def free_pair():
    """A loopback port whose next port is free too (swtpm's server and control ports)."""
    import socket
    for _ in range(100):
        p = free_port()
        if p >= 65535:
            continue
        s = socket.socket()
        try:
            s.bind(('127.0.0.1', p + 1))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError('no two consecutive free loopback ports')


def tpm_step(node, dest):
    """sdk_tpm.mjs against an attestd pinning the AK of a swtpm started here. 0 or 1."""
    for t in ('swtpm', 'tpm2_createek', 'tpm2_createak', 'tpm2_quote'):
        if shutil.which(t) is None:
            print('SKIP interop/sdk tpm: %s is not installed' % t, flush=True)
            return 0
    d = tmpdir('attestd-interop-tpm-')
    os.makedirs(os.path.join(d, 'state'))
    port = free_pair()
    ctrl = port + 1  # the swtpm TCTI takes the control port as the next one
    sw = subprocess.Popen(['swtpm', 'socket', '--tpm2', '--server',
                           'type=tcp,port=%d,bindaddr=127.0.0.1' % port, '--ctrl',
                           'type=tcp,port=%d,bindaddr=127.0.0.1' % ctrl, '--tpmstate',
                           'dir=' + os.path.join(d, 'state'), '--flags',
                           'not-need-init,startup-clear'],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    _procs.append(sw)
    env = dict(os.environ, TPM2TOOLS_TCTI='swtpm:host=127.0.0.1,port=%d' % port)
    f = lambda n: os.path.join(d, n)
    try:
        for _ in range(50):
            if run(['tpm2_getrandom', '--hex', '8'], env=env).returncode == 0:
                break
            time.sleep(0.1)
        else:
            print('SKIP interop/sdk tpm: swtpm does not answer on port %d' % port, flush=True)
            return 0
        for cmd in (['tpm2_createek', '-c', f('ek.ctx'), '-G', 'rsa', '-u', f('ek.pub')],
                    ['tpm2_flushcontext', '-t'],
                    ['tpm2_createak', '-C', f('ek.ctx'), '-c', f('ak.ctx'), '-G', 'rsa', '-s',
                     'rsassa', '-g', 'sha256', '-u', f('ak.pub'), '-n', f('ak.name')],
                    ['tpm2_flushcontext', '-t'], ['tpm2_flushcontext', '-s'],
                    ['tpm2_readpublic', '-c', f('ak.ctx'), '-o', f('ak.tpm2b')],
                    ['tpm2_flushcontext', '-t'],
                    ['tpm2_readpublic', '-c', f('ak.ctx'), '-o', f('ak.pem'), '-f', 'pem'],
                    ['tpm2_flushcontext', '-t']):
            r = run(cmd, env=env)
            if r.returncode != 0:
                print('FAIL: %s: %s' % (' '.join(cmd[:3]), r.stderr))
                return 1
        with Server('--tpm-ak', f('ak.pem')) as s:
            r = subprocess.run([node, os.path.join(dest, 'sdk_tpm.mjs')], cwd=dest,
                               env=dict(env, TPM_URL=s.issuer, TPM_DIR=d),
                               stdin=subprocess.DEVNULL, timeout=120)
            if r.returncode != 0:
                print('--- attestd %s log (tail) ---\n%s' % (s.issuer, s.log()[-3000:]))
            return 1 if r.returncode != 0 else 0
    finally:
        sw.terminate()
        sw.wait(10)


def main():
    harness.need_vectors('interop/sdk')  # the SGX quote of the real vector sets, or SKIP
    node, npm = shutil.which('node'), shutil.which('npm')
    if not node or not npm:
        print('SKIP interop: node/npm not installed (scripts/install-deps installs nodejs and npm)')
        return 0
    build = os.environ.get('BUILD') or os.path.dirname(os.path.dirname(os.path.abspath(harness.ATTESTD)))
    dest = os.path.join(build, 'interop')
    os.makedirs(dest, exist_ok=True)
    lock = open(os.path.join(HERE, 'package-lock.json'), 'rb').read()
    stamp = os.path.join(dest, '.installed')
    want = hashlib.sha256(open(os.path.join(HERE, 'package.json'), 'rb').read() + lock).hexdigest()
    have = open(stamp).read() if os.path.exists(stamp) else ''
    for f in ('package.json', 'package-lock.json', 'sdk_test.mjs', 'sdk_tpm.mjs'):
        shutil.copyfile(os.path.join(HERE, f), os.path.join(dest, f))
    if have != want or not os.path.isdir(os.path.join(dest, 'node_modules', '@azure', 'attestation')):
        print('npm ci into %s' % dest, flush=True)
        r = subprocess.run([npm, 'ci', '--no-audit', '--no-fund', '--loglevel=error'], cwd=dest,
                           stdin=subprocess.DEVNULL, timeout=240)
        if r.returncode != 0:
            print('FAIL: npm ci failed (exit %d): the npm registry must be reachable' % r.returncode)
            print('interop/sdk: 0 passed, 1 failed')
            return 1
        open(stamp, 'w').write(want)

    k = tmpdir('attestd-interop-')
    # TLS: a CA and a server certificate for 127.0.0.1 signed by it
    ca_key, ca_pem = os.path.join(k, 'tls-ca.key'), os.path.join(k, 'tls-ca.pem')
    srv_key, srv_csr, srv_pem = (os.path.join(k, n) for n in ('tls.key', 'tls.csr', 'tls.pem'))
    ext = os.path.join(k, 'tls.ext')
    open(ext, 'w').write('subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n'
                         'keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n')
    for cmd in (
        ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '7',
         '-keyout', ca_key, '-out', ca_pem, '-subj', '/CN=attestd interop TLS CA',
         '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'],
        ['openssl', 'req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-keyout', srv_key,
         '-out', srv_csr, '-subj', '/CN=127.0.0.1'],
        ['openssl', 'x509', '-req', '-in', srv_csr, '-CA', ca_pem, '-CAkey', ca_key,
         '-CAcreateserial', '-days', '7', '-sha256', '-extfile', ext, '-out', srv_pem],
    ):
        r = run(cmd)
        if r.returncode != 0:
            print('FAIL: %s: %s' % (' '.join(cmd[:3]), r.stderr))
            return 1
    a, b = Signer(k, 'signer-a'), Signer(k, 'signer-b')
    c = Signer(k, 'leaf-c', ca=False)  # a self-signed CA:false certificate, as the SDK's tests add

    name, d, exp = sgx_vector()
    at = exp['verification_time']
    tls = ['--tls-cert', srv_pem, '--tls-key', srv_key]
    # the simulated platform (attest sim): an SGX quote binding SIM_RUNTIME, for runtime data
    sim, sim_rt, sim_q = (os.path.join(k, n) for n in ('sim', 'runtime.json', 'sim-quote.bin'))
    open(sim_rt, 'w').write('{"keys":[{"k":"AAEC","kid":"enclave-key","kty":"oct"}],"n":1}')  # keys sorted, as tokens are
    for cmd in ([harness.ATTEST, 'sim', 'init', sim],
                [harness.ATTEST, 'evidence', '--provider', 'sim', '--sim-dir', sim,
                 '--runtime-data', sim_rt, '--raw', '--out', sim_q]):
        r = run(cmd)
        if r.returncode != 0:
            print('FAIL: %s: %s' % (' '.join(cmd[:3]), r.stderr))
            return 1
    servers = []
    try:
        plain = Server(at=at, collateral_dir=DCAP)
        servers.append(plain)
        simd = Server('--trust-root', os.path.join(sim, 'trust_root.pem'),
                      collateral_dir=os.path.join(sim, 'collateral'))
        servers.append(simd)
        secure = Server(*tls, at=at, collateral_dir=DCAP)
        servers.append(secure)
        iso = Server(*tls, at=at, collateral_dir=DCAP, isolated=a.cert)
        servers.append(iso)
        env = dict(os.environ, HTTP_URL=plain.issuer, TLS_URL=secure.issuer, ISO_URL=iso.issuer,
                   TLS_CA=ca_pem, NODE_EXTRA_CA_CERTS=ca_pem, QUOTE=os.path.join(d, 'quote.bin'),
                   EXPECTED=os.path.join(d, 'expected.json'), SIGNER_A_KEY=a.key,
                   SIGNER_A_CERT=a.cert, SIGNER_B_KEY=b.key, SIGNER_B_CERT=b.cert,
                   SIGNER_C_KEY=c.key, SIGNER_C_CERT=c.cert, SIM_URL=simd.issuer,
                   SIM_QUOTE=sim_q, SIM_RUNTIME=sim_rt)
        print('servers: %s %s %s' % (plain.issuer, secure.issuer, iso.issuer), flush=True)
        r = subprocess.run([node, os.path.join(dest, 'sdk_test.mjs')], cwd=dest, env=env,
                           stdin=subprocess.DEVNULL, timeout=120)
        rc = r.returncode
        for s in servers:
            if not s.alive():
                print('FAIL: attestd %s died:\n%s' % (s.issuer, s.log()))
                rc = 1
        # a clean stop exits 0; under ASan a leak or a late memory error makes it exit 1
        for s in servers:
            status = s.stop()
            if status != 0:
                print('FAIL: attestd %s exited %s on SIGTERM' % (s.issuer, status))
                rc = 1
        if rc != 0:
            for s in servers:
                print('--- attestd %s log (tail) ---\n%s' % (s.issuer, s.log()[-3000:]))
        return rc | tpm_step(node, dest)
    finally:
        for s in servers:
            s.stop()


if __name__ == '__main__':
    rc = main()
    harness._cleanup()
    sys.exit(rc)
