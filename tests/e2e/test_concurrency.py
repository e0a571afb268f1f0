#!/usr/bin/env python3
"""test_concurrency.py - 4 threads attest in a loop while another thread sets a deny policy and
resets it ~50 times: no 5xx, no transport error, every answer either a 200 with a valid token made
under one of the two policies (default or permit-with-marker) or the deny 400, never a torn
result (a token whose x-ms-policy-hash and issued claims come from different policies)."""
import hashlib
import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DCAP, DENY_POLICY, PERMIT_POLICY, Results, Server, b64url, b64url_dec,
                     jwt_parts, policy_jws_unsigned, quote_bytes, sgx_vector, verify_token)

T = Results('e2e/test_concurrency')
TEXT = {'Content-Type': 'text/plain'}
ROUNDS = 50
WORKERS = 4


def phash(text):
    return b64url(hashlib.sha256(b64url(text).encode()).digest())


def main():
    name, d, exp = sgx_vector()
    q = b64url(quote_bytes(d))
    with Server(at=exp['verification_time'], collateral_dir=DCAP) as s:
        r = s.get('/policies/SgxEnclave')
        stored = jwt_parts(jwt_parts(r.token)[1]['x-ms-policy'])[1]
        default_text = b64url_dec(stored['AttestationPolicy']).decode()
        hashes = {phash(default_text): 'default', phash(PERMIT_POLICY): 'permit'}
        jwks = s.jwks()
        stop = threading.Event()
        lock = threading.Lock()
        stats = {'ok': 0, 'deny': 0, 'bad': [], 'by_policy': {'default': 0, 'permit': 0}}
        tokens = []

        def worker():
            while not stop.is_set():
                try:
                    r = s.post('/attest/SgxEnclave', {'quote': q})
                except Exception as ex:
                    with lock:
                        stats['bad'].append('transport: %r' % ex)
                    continue
                with lock:
                    if r.status == 200 and r.token:
                        stats['ok'] += 1
                        tokens.append(r.token)
                    elif r.status == 400 and r.error_code == 'PolicyEvaluationError' and \
                            'A Deny claim was issued' in r.error_message:
                        stats['deny'] += 1
                    else:
                        stats['bad'].append(repr(r))

        admin_errors = []

        def admin():
            policies = [policy_jws_unsigned(DENY_POLICY), policy_jws_unsigned(PERMIT_POLICY)]
            for i in range(ROUNDS):
                r = s.put('/policies/SgxEnclave', policies[i % 2], headers=TEXT)
                if r.status != 200:
                    admin_errors.append('PUT %d: %r' % (i, r))
                time.sleep(0.01)
                r = s.post('/policies/SgxEnclave:reset', 'eyJhbGciOiJub25lIn0..', headers=TEXT)
                if r.status != 200:
                    admin_errors.append('reset %d: %r' % (i, r))
                time.sleep(0.01)

        ws = [threading.Thread(target=worker) for _ in range(WORKERS)]
        for w in ws:
            w.start()
        time.sleep(0.2)
        t0 = time.time()
        a = threading.Thread(target=admin)
        a.start()
        a.join(120)
        time.sleep(0.2)
        stop.set()
        for w in ws:
            w.join(60)
        elapsed = time.time() - t0
        T.check('policy writer finished', not a.is_alive())
        T.eq('every PUT and reset answered 200', admin_errors, [])
        T.eq('no 5xx or unexpected answers', stats['bad'][:5], [])
        T.check('some attestations succeeded', stats['ok'] > 0, stats)
        T.check('some were denied while the deny policy was in force', stats['deny'] > 0, stats)
        torn = []
        for tok in tokens:
            ok, c, why = verify_token(tok, jwks, s.issuer)
            if not ok:
                torn.append(why)
                continue
            pol = hashes.get(c.get('x-ms-policy-hash'))
            if pol is None:
                torn.append('unknown policy hash %r' % c.get('x-ms-policy-hash'))
            elif pol == 'permit' and (c.get('e2e-marker') != 'permitted' or 'sgx-mrenclave' in c):
                torn.append('permit hash with default-policy claims: %r' % sorted(c))
            elif pol == 'default' and ('e2e-marker' in c or 'sgx-mrenclave' not in c):
                torn.append('default hash with permit-policy claims: %r' % sorted(c))
            else:
                stats['by_policy'][pol] += 1
        T.eq('no torn tokens (hash and issued claims from one policy)', torn[:5], [])
        print('concurrency: %d tokens (%s), %d denials, %d policy writes in %.1f s' % (
            stats['ok'], stats['by_policy'], stats['deny'], 2 * ROUNDS, elapsed))
        # the final state is the default policy
        r = s.post('/attest/SgxEnclave', {'quote': q})
        T.eq('after the writer: default policy, 200', r.status, 200, repr(r))
        T.check('server alive', s.alive(), s.log())
        T.eq('SIGTERM: exit 0', s.stop(), 0, s.log())


if __name__ == '__main__':
    T.run(main)
