#!/usr/bin/env python3
"""test_ear_tpm.py - EAR answers for /attest/Tpm (docs/ear.md) with a real software TPM (swtpm,
through tpm2-tools, as e2e/test_tpm.py runs it): with Accept: application/eat+jwt, MAA's
multi-round protocol still answers round 1 with its JSON challenge, and its final round answers
the EAR JWT itself as application/eat+jwt instead of {"data": b64url({"report": token})}; the
one-shot form (GET /tpm/nonce, one POST) answers the EAR JWT instead of {"token"}. Each EAR
verifies against /certs and its Tpm appraisal says what the verdict says: hardware 2 and
instance-identity 2 (a pinned AK), configuration from the replayed log's Secure Boot state, no
runtime-opaque (a TPM quote says nothing about memory); the PCRs are in the MAA claims."""
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Results, Server, b64url, b64url_dec, run, verify_token  # noqa: E402

from swtpm_e2e import Tpm, rd, skip  # noqa: E402

T = Results('e2e/test_ear_tpm')
EAR = 'application/eat+jwt'
PROFILE = 'tag:github.com,2023:veraison/ear'


def check_ear(what, s, r, tpm, q):
    T.eq('%s: 200' % what, r.status, 200, repr(r))
    ct = r.headers.get('content-type', '')
    T.check('%s: application/eat+jwt' % what, ct.startswith(EAR) and PROFILE in ct, ct)
    ok, c, why = verify_token(r.body.decode().strip(), s.jwks(), s.issuer)
    T.check('%s: the EAR verifies against /certs' % what, ok, why)
    c = c or {}
    T.eq('%s: eat_profile' % what, c.get('eat_profile'), PROFILE)
    a = (c.get('submods') or {}).get('Tpm') or {}
    tv = a.get('ear.trustworthiness-vector', {})
    with open(tpm.f('expect.json')) as f:
        secure_boot = json.load(f).get('secure_boot')
    T.eq('%s: hardware 2' % what, tv.get('hardware'), 2, a)
    T.eq('%s: instance-identity 2 (a pinned AK)' % what, tv.get('instance-identity'), 2, a)
    T.eq('%s: configuration from Secure Boot (%s)' % (what, secure_boot), tv.get('configuration'),
         32 if secure_boot is False else None, a)
    T.check('%s: no runtime-opaque' % what, 'runtime-opaque' not in tv, tv)
    T.eq('%s: status' % what, a.get('ear.status'),
         'warning' if secure_boot is False else 'affirming', a)
    want = {b['algorithm']: {str(v['index']): v['digest'] for v in b['values']} for b in q[2]}
    T.eq('%s: the PCRs in the MAA claims' % what,
         (a.get('ear.attestd.maa-claims') or {}).get('x-attestd-tpm-pcrs'), want)


def main():
    for t in ('swtpm', 'tpm2_quote', 'tpm2_createak'):
        if run(['sh', '-c', 'command -v ' + t]).returncode != 0:
            skip('%s is not installed' % t)
    tpm = Tpm()
    tpm.ak('ak')
    log = b64url(rd(tpm.f('eventlog.bin')))
    with Server('--tpm-ak', tpm.f('ak.pem')) as s:
        hdr = {'Accept': EAR}
        # MAA's rounds: round 1 stays JSON, the final round is the EAR
        r = s.post('/attest/Tpm', {'data': b64url(json.dumps(
            {'payload': {'type': 'aikcert'}}).encode())}, headers=hdr)
        T.eq('round 1 with Accept EAR: 200 JSON', (r.status, r.headers.get(
            'content-type', '').startswith('application/json')), (200, True), repr(r))
        p = json.loads(b64url_dec(r.json['data']))['payload']
        q = tpm.quote('ak', b64url_dec(p['challenge']))
        req = {'service_context': p['service_context'], 'ak': b64url(rd(tpm.f('ak.tpm2b'))),
               'quote': b64url(q[0]), 'signature': b64url(q[1]), 'pcrs': q[2], 'tcg_log': log}
        r = s.post('/attest/Tpm', {'data': b64url(json.dumps({'request': req}).encode())},
                   headers=hdr)
        check_ear('final round', s, r, tpm, q)
        # the one-shot form
        n = s.get('/tpm/nonce', api=None).json
        q = tpm.quote('ak', b64url_dec(n['nonce']))
        body = {'context': n['context'], 'ak': b64url(rd(tpm.f('ak.tpm2b'))),
                'quote': b64url(q[0]), 'signature': b64url(q[1]), 'pcrs': q[2], 'tcg_log': log}
        r = s.post('/attest/Tpm', body, headers=hdr)
        check_ear('one-shot', s, r, tpm, q)


if __name__ == '__main__':
    T.run(main)
