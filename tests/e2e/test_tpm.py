#!/usr/bin/env python3
"""test_tpm.py - MAA's TPM protocol through POST /attest/Tpm with a real software TPM: round 1
gives a challenge and a sealed service_context, the TPM (swtpm, through tpm2-tools) quotes with
the challenge as qualifying data, round 2 gives the quote, the AK, the PCR values and the TCG
event log, and the answer is a token verified against /certs with the PCR and log claims.
Negatives: a replayed service_context, an expired one (attestd --at), a quote over another
nonce, an AK that is not pinned, a tampered PCR value, and attestd refusing an unusable --tpm-ak.

The native one-shot form: GET /tpm/nonce, a quote over its nonce, one POST /attest/Tpm of the
request object itself answered {"token"}; refused: the context replayed, expired (--at), a nonce
context as round 2's service_context and a round-1 service_context as the one-shot context.

The other AK trust ways (docs/tpm.md "AK trust"), each through attestd: EK credential activation
(--tpm-ek-ca = the swtpm's local CA; round 1 "activate" answers a credential the TPM activates,
the challenge never in the clear; refused: the context reused, another AK than the one activated,
activation without --tpm-ek-ca, an EK CA that is not the EK certificate's) and AK certificates
(--tpm-ak-ca = a CA made here with the openssl command; refused: a certificate of another key,
one expired at attestd's time). MAA's request v2 (attReqV2): a JWS signed PS256 by a request key
(openssl command) whose JWK the quote binds (qualifyingData = SHA-256(jwk as sent || 0x00 ||
challenge)); refused: a bad JWS signature, a challenge that is not the context's, a quote that
does not bind the JWK (the bare challenge), att_type "vbs", too many custom claims. And the log
budget --tpm-max-events applied.

The TPM is manufactured by tests/tools/swtpm-quotes.sh (EK certificates from a local CA, the logs
and their extends); this test then runs swtpm on that state itself, on loopback, for as long as
it needs it, extends the logs' measurements again and makes a fresh AK under the EK."""
import datetime
import hashlib
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ATTESTD, Results, Server, b64url, b64url_dec, run, tmpdir,  # noqa: E402
                     verify_token)

from swtpm_e2e import Tpm, rd, skip  # noqa: E402

T = Results('e2e/test_tpm')


def post(s, msg):
    return s.post('/attest/Tpm', {'data': b64url(json.dumps(msg).encode())})


def answer(r):
    return json.loads(b64url_dec(r.json['data']))


def round1(s):
    r = post(s, {'payload': {'type': 'aikcert'}})
    T.eq('round 1: 200', r.status, 200, repr(r))
    p = answer(r)['payload']
    return b64url_dec(p['challenge']), p['service_context']


def round2(s, sc, ak, q, extra=None):
    req = {'service_context': sc, 'ak': b64url(ak), 'quote': b64url(q[0]),
           'signature': b64url(q[1]), 'pcrs': q[2]}
    req.update(extra or {})
    return post(s, {'request': req})


def refused(what, r, code, text):
    T.check('%s: 400 %s' % (what, code), r.status == 400 and r.error_code == 'InvalidParameter'
            and code in r.body.decode() and text in r.error_message, repr(r))


def refused1(what, r, text):
    """A refused round 1 (the answer names no code)."""
    T.check('%s: 400' % what, r.status == 400 and r.error_code == 'InvalidParameter' and
            text in r.error_message, repr(r))


def claims_of(s, r):
    tok = answer(r)['report'] if r.status == 200 else ''
    ok, c, why = verify_token(tok, s.jwks(), s.issuer)
    return c or {} if ok else {}


def activate(tpm, ans, ak):
    """The TPM activates round 1's credential with the RSA EK and AK `ak`: the challenge."""
    p = ans['payload']
    with open(tpm.f('cred.in'), 'wb') as f:
        f.write(bytes.fromhex('badcc0de00000001') + b64url_dec(p['credential_blob']) +
                b64url_dec(p['encrypted_secret']))
    tpm.tool('tpm2_startauthsession', '--policy-session', '-S', tpm.f('s.ctx'))
    tpm.tool('tpm2_policysecret', '-S', tpm.f('s.ctx'), '-c', 'e')
    tpm.tool('tpm2_activatecredential', '-c', tpm.f(ak + '.ctx'), '-C', tpm.f('ek.ctx'),
             '-i', tpm.f('cred.in'), '-o', tpm.f('cred.out'), '-P', 'session:' + tpm.f('s.ctx'))
    run(['tpm2_flushcontext', tpm.f('s.ctx')], env=tpm.env)
    tpm.flush()
    return rd(tpm.f('cred.out'))


def openssl(*args, data=None):
    r = subprocess.run(['openssl'] + list(args), input=data, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError('openssl %s: %s' % (' '.join(args), r.stderr.decode()))
    return r.stdout


class RequestKey:
    """An RSA-2048 request key (openssl command) and its JWK; PS256 signatures."""

    def __init__(self, d):
        self.key = os.path.join(d, 'rk-%d.pem' % id(self))
        openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out',
                self.key)
        mod = openssl('rsa', '-in', self.key, '-noout', '-modulus').decode().split('=')[1]
        self.jwk = {'kty': 'RSA', 'n': b64url(bytes.fromhex(mod.strip())), 'e': 'AQAB'}

    def jws(self, payload_text, alg='PS256', typ='attReqV2'):
        h = b64url(json.dumps({'alg': alg, 'typ': typ}).encode())
        p = b64url(payload_text.encode())
        pss = ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32']
        sig = openssl('dgst', '-sha256', '-sign', self.key, *(pss if alg == 'PS256' else []),
                      data=(h + '.' + p).encode())
        return h + '.' + p + '.' + b64url(sig)


def attreq(rk, ch, sc, ak_pem, q, att_type='basic', custom=None, challenge=None, aik_cert=None):
    """MAA's request v2 payload text (the jwk member exactly as json.dumps writes it)."""
    pcrs = [{'algorithm': {'sha1': 4, 'sha256': 11}[b['algorithm']],
             'values': [{'index': v['index'], 'digest': b64url(bytes.fromhex(v['digest']))}
                        for v in b['values']]} for b in q[2]]
    with open(ak_pem) as f:
        pem = f.read()
    der = b64url_dec(''.join(l for l in pem.splitlines() if not l.startswith('-----')).replace(
        '+', '-').replace('/', '_'))
    ak_jwk = spki_jwk(der)
    payload = {'att_type': att_type, 'att_data': {
        'rp_id': 'https://rp.example', 'rp_data': b64url(b'rp nonce'),
        'challenge': b64url(challenge if challenge is not None else ch),
        'tpm_att_data': {'current_attestation': {
            'logs': [], 'aik_pub': ak_jwk, 'pcrs': pcrs, 'quote': b64url(q[0]),
            'signature': b64url(q[1])}},
        'request_key': {'jwk': rk.jwk, 'info': {'tpm_quote': {'hash_alg': 'sha-256'}}},
        'custom_claims': custom if custom is not None else [
            {'name': 'role', 'value': 'web', 'value_type': 'string'}],
        'service_context': sc}}
    if aik_cert is not None:  # the AK as its certificate's key alone
        cur = payload['att_data']['tpm_att_data']['current_attestation']
        del cur['aik_pub']
        cur['aik_cert'] = b64url(aik_cert)
    return json.dumps(payload)


def spki_jwk(der):
    """The JWK of an EC P-256 SubjectPublicKeyInfo (the swtpm ECC AK)."""
    pt = der[-65:]
    assert pt[0] == 4
    return {'kty': 'EC', 'crv': 'P-256', 'x': b64url(pt[1:33]), 'y': b64url(pt[33:])}


def binding(rk, ch):
    """qualifyingData of the tpm_quote binding: SHA-256(jwk as sent || 0x00 || challenge)."""
    return hashlib.sha256(json.dumps(rk.jwk).encode() + b'\0' + ch).digest()


def main():
    for t in ('swtpm', 'tpm2_quote', 'tpm2_createak'):
        if run(['sh', '-c', 'command -v ' + t]).returncode != 0:
            skip('%s is not installed' % t)
    tpm = Tpm()
    tpm.ak('ak')
    tpm.ak('other', kind='rsa')
    ak_pem, ak_tpm2b = tpm.f('ak.pem'), tpm.f('ak.tpm2b')

    with Server('--tpm-ak', ak_pem) as s:
        # the whole exchange, the AK presented as its TPM2B_PUBLIC (attributes checked)
        ch, sc = round1(s)
        q = tpm.quote('ak', ch)
        r = round2(s, sc, rd(ak_tpm2b), q, {'tcg_log': b64url(rd(tpm.f('eventlog.bin')))})
        T.eq('round 2: 200', r.status, 200, repr(r))
        tok = answer(r)['report'] if r.status == 200 else ''
        ok, c, why = verify_token(tok, s.jwks(), s.issuer)
        T.check('the report is a token that verifies against /certs', ok, why)
        c = c or {}
        T.eq('x-ms-attestation-type', c.get('x-ms-attestation-type'), 'tpm')
        want = {b['algorithm']: {str(v['index']): v['digest'] for v in b['values']} for b in q[2]}
        T.eq('x-attestd-tpm-pcrs: every quoted PCR of both banks', c.get('x-attestd-tpm-pcrs'),
             want)
        T.check('PCR 10 (the IMA extends) is not zero', set(want['sha256']['10']) != {'0'}, want)
        with open(tpm.f('expect.json')) as f:
            exp = json.load(f)
        T.eq('x-attestd-tpm-secure-boot from the replayed log', c.get('x-attestd-tpm-secure-boot'),
             exp.get('secure_boot'))
        T.check('x-attestd-tpm-kernel and -boot-manager: digests of the log\'s applications',
                isinstance(c.get('x-attestd-tpm-kernel'), dict) and
                isinstance(c.get('x-attestd-tpm-boot-manager'), dict), c)
        T.eq('x-attestd-tpm-ak-name: the AK\'s TPM name', c.get('x-attestd-tpm-ak-name'),
             rd(tpm.f('ak.name')).hex())
        T.check('x-attestd-tpm-clock, -reset-count, -restart-count, -firmware-version',
                all(k in c for k in ('x-attestd-tpm-clock', 'x-attestd-tpm-reset-count',
                                     'x-attestd-tpm-restart-count',
                                     'x-attestd-tpm-firmware-version')), c)

        # the same service_context a second time (a replay of the whole round 2)
        r = round2(s, sc, rd(ak_tpm2b), q)
        refused('a replayed service_context', r, 'ATT_E_CHALLENGE', 'used already')

        # the AK as PEM SubjectPublicKeyInfo works too
        ch, sc = round1(s)
        r = round2(s, sc, rd(ak_pem), tpm.quote('ak', ch))
        T.eq('the pinned AK as PEM SPKI: 200', r.status, 200, repr(r))

        # a quote over another nonce
        ch, sc = round1(s)
        r = round2(s, sc, rd(ak_tpm2b), tpm.quote('ak', os.urandom(32)))
        refused('a quote over another nonce', r, 'ATT_E_TPM_NONCE', '')

        # an AK that is not pinned (a genuine AK of the same TPM)
        ch, sc = round1(s)
        r = round2(s, sc, rd(tpm.f('other.tpm2b')), tpm.quote('other', ch))
        refused('an AK not pinned', r, 'ATT_E_TPM_AK', 'none of the keys pinned with --tpm-ak')

        # a tampered PCR value
        ch, sc = round1(s)
        q = tpm.quote('ak', ch)
        bank = [b for b in q[2] if b['algorithm'] == 'sha256'][0]
        d = bank['values'][0]['digest']
        bank['values'][0]['digest'] = ('1' if d[0] != '1' else '2') + d[1:]
        r = round2(s, sc, rd(ak_tpm2b), q)
        refused('a tampered PCR value', r, 'ATT_E_TPM_PCR_DIGEST', '')

        # a quoted PCR without its value
        ch, sc = round1(s)
        q = tpm.quote('ak', ch)
        q[2][0]['values'].pop()
        r = round2(s, sc, rd(ak_tpm2b), q)
        refused('a quoted PCR without its value', r, 'ATT_E_EVIDENCE_FORMAT',
                'no value for it')

    # no AK pinned at all
    with Server() as s:
        ch, sc = round1(s)
        r = round2(s, sc, rd(ak_tpm2b), tpm.quote('ak', ch))
        refused('no AK pinned', r, 'ATT_E_TPM_AK', '--tpm-ak')

    # expiry: a context made now is refused by an attestd whose clock is 10 minutes ahead (the
    # challenge lives 300 s); the two share the store, hence the challenge key
    data = tmpdir()
    with Server('--tpm-ak', ak_pem, data_dir=data) as s:
        ch, sc = round1(s)
        q = tpm.quote('ak', ch)
    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10))
    with Server('--tpm-ak', ak_pem, data_dir=data,
                at=later.strftime('%Y-%m-%dT%H:%M:%SZ')) as s:
        r = round2(s, sc, rd(ak_tpm2b), q)
        refused('an expired service_context', r, 'ATT_E_CHALLENGE', 'expired')

    # ---- the native one-shot form: GET /tpm/nonce, then one POST of the request itself ----
    with Server('--tpm-ak', ak_pem, data_dir=data) as s:
        n = s.get('/tpm/nonce', api=None)
        T.eq('GET /tpm/nonce: 200', n.status, 200, repr(n))
        nj = n.json if n.status == 200 else {}
        nonce = b64url_dec(nj.get('nonce', ''))
        T.eq('GET /tpm/nonce: a 32-byte nonce', len(nonce), 32)
        T.check('GET /tpm/nonce: expires about 300 s ahead',
                abs(nj.get('expires', 0) - time.time() - 300) < 60, nj)
        q = tpm.quote('ak', nonce)
        body = {'context': nj.get('context'), 'ak': b64url(rd(ak_tpm2b)), 'quote': b64url(q[0]),
                'signature': b64url(q[1]), 'pcrs': q[2],
                'tcg_log': b64url(rd(tpm.f('eventlog.bin')))}
        r = s.post('/attest/Tpm', body)
        T.eq('one-shot: 200', r.status, 200, repr(r))
        tok = (r.json or {}).get('token', '') if r.status == 200 else ''
        ok, c, why = verify_token(tok, s.jwks(), s.issuer)
        T.check('one-shot: {"token"} verifies against /certs', ok, why)
        T.eq('one-shot: x-attestd-tpm-ak-trust', (c or {}).get('x-attestd-tpm-ak-trust'),
             'pinned')
        T.check('one-shot: the replayed log\'s claims', 'x-attestd-tpm-kernel' in (c or {}), c)
        r = s.post('/attest/Tpm', body)
        refused('one-shot: a replayed context', r, 'ATT_E_CHALLENGE', 'used already')
        # a nonce context as round 2's service_context, and a round-1 context as a nonce context
        n2 = s.get('/tpm/nonce', api=None).json
        q = tpm.quote('ak', b64url_dec(n2['nonce']))
        r = round2(s, n2['context'], rd(ak_tpm2b), q)
        refused('a nonce context as service_context', r, 'ATT_E_CHALLENGE',
                'not a service context')
        ch, sc = round1(s)
        q = tpm.quote('ak', ch)
        r = s.post('/attest/Tpm', {'context': sc, 'ak': b64url(rd(ak_tpm2b)),
                                   'quote': b64url(q[0]), 'signature': b64url(q[1]),
                                   'pcrs': q[2]})
        refused('a round-1 service_context as a one-shot context', r, 'ATT_E_CHALLENGE',
                'not a nonce')
        r = s.post('/attest/Tpm', {'context': sc, 'service_context': sc})
        refused('one-shot with both context and service_context', r, 'ATT_E_EVIDENCE_FORMAT',
                'give one')
        n3 = s.get('/tpm/nonce', api=None).json
        q3 = tpm.quote('ak', b64url_dec(n3['nonce']))
        n4 = s.get('/tpm/nonce', api=None).json
        r = s.post('/attest/Tpm', {'context': n4['context'], 'ak': b64url(rd(ak_tpm2b)),
                                   'quote': b64url(q3[0]), 'signature': b64url(q3[1]),
                                   'pcrs': q3[2]})
        refused('one-shot: a quote over another nonce', r, 'ATT_E_TPM_NONCE', '')
    with Server('--tpm-ak', ak_pem, data_dir=data,
                at=later.strftime('%Y-%m-%dT%H:%M:%SZ')) as s:
        r = s.post('/attest/Tpm', {'context': n3['context'], 'ak': b64url(rd(ak_tpm2b)),
                                   'quote': b64url(q3[0]), 'signature': b64url(q3[1]),
                                   'pcrs': q3[2]})
        refused('one-shot: an expired context', r, 'ATT_E_CHALLENGE', 'nonce expired')

    # ---- EK credential activation ----
    ca = tpm.f('ekca.pem')
    with open(ca, 'wb') as f:
        f.write(rd(tpm.f('localca/swtpm-localca-rootca-cert.pem')) +
                rd(tpm.f('localca/issuercert.pem')))
    tpm.tool('tpm2_readpublic', '-c', tpm.f('ek.ctx'), '-o', tpm.f('ek.tpm2b'))
    tpm.flush()
    act = {'type': 'activate', 'ek_cert': b64url(rd(tpm.f('ek_rsa_cert.der'))),
           'ak': b64url(rd(ak_tpm2b))}
    with Server('--tpm-ek-ca', ca) as s:
        for with_pub in (False, True):
            a = dict(act, ek_pub=b64url(rd(tpm.f('ek.tpm2b')))) if with_pub else act
            r = post(s, {'payload': a})
            T.eq('activate: round 1 200', r.status, 200, repr(r))
            ans = answer(r)
            T.check('activate: no challenge in the clear', 'challenge' not in ans['payload'],
                    ans)
            ch = activate(tpm, ans, 'ak')
            sc = ans['payload']['service_context']
            q = tpm.quote('ak', ch)
            r = round2(s, sc, rd(ak_tpm2b), q)
            T.eq('activate: round 2 with the activated challenge: 200', r.status, 200, repr(r))
            c = claims_of(s, r)
            T.eq('x-attestd-tpm-ak-trust: ek-activation', c.get('x-attestd-tpm-ak-trust'),
                 'ek-activation')
            T.check('x-attestd-tpm-ek-cert-issuer: the local CA',
                    'swtpm-localca' in str(c.get('x-attestd-tpm-ek-cert-issuer')), c)
            r = round2(s, sc, rd(ak_tpm2b), q)
            refused('activate: the context reused', r, 'ATT_E_CHALLENGE', 'used already')
        # the credential named ak; ak2's quote with the activated challenge is not ak's
        r = post(s, {'payload': act})
        ans = answer(r)
        ch = activate(tpm, ans, 'ak')
        r = round2(s, ans['payload']['service_context'], rd(tpm.f('other.tpm2b')),
                   tpm.quote('other', ch))
        refused('activate: round 2 with another AK', r, 'ATT_E_TPM_AK',
                'not the one activated in round 1')
    with Server() as s:
        r = post(s, {'payload': act})
        refused1('activate without --tpm-ek-ca', r, 'needs --tpm-ek-ca')

    # ---- AK certificates ----
    d = tmpdir()
    cak, cac = os.path.join(d, 'ca.key'), os.path.join(d, 'ca.pem')
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
            '-keyout', cak, '-out', cac, '-subj', '/CN=e2e AK CA', '-days', '3650')

    def akcert(pub, cn):
        out = os.path.join(d, cn + '.der')
        openssl('x509', '-new', '-force_pubkey', pub, '-subj', '/CN=' + cn, '-CA', cac,
                '-CAkey', cak, '-days', '30', '-outform', 'der', '-out', out)
        return rd(out)

    good, other = akcert(ak_pem, 'e2e-ak'), akcert(tpm.f('other.pem'), 'e2e-other')
    with Server('--tpm-ak-ca', cac, '--tpm-ek-ca', ca) as s:
        ch, sc = round1(s)
        r = round2(s, sc, rd(ak_tpm2b), tpm.quote('ak', ch), {'ak_cert': b64url(good)})
        T.eq('AK certificate: 200', r.status, 200, repr(r))
        c = claims_of(s, r)
        T.eq('x-attestd-tpm-ak-trust: ak-cert', c.get('x-attestd-tpm-ak-trust'), 'ak-cert')
        T.eq('x-attestd-tpm-ak-cert-subject', c.get('x-attestd-tpm-ak-cert-subject'),
             'CN=e2e-ak')
        ch, sc = round1(s)
        r = round2(s, sc, rd(ak_tpm2b), tpm.quote('ak', ch), {'ak_cert': b64url(other)})
        refused('an AK certificate of another key', r, 'ATT_E_TPM_AK', 'certifies another key')
        ch, sc = round1(s)
        r = round2(s, sc, rd(ak_tpm2b), tpm.quote('ak', ch))
        refused('no certificate, no pin: the ways are named', r, 'ATT_E_TPM_AK',
                '1 AK CA certificate(s) (--tpm-ak-ca)')
    # an EK CA that is not the EK certificate's
    with Server('--tpm-ek-ca', cac) as s:
        r = post(s, {'payload': act})
        refused1('activate: an EK certificate of another CA', r,
                 'does not verify to a configured CA')
    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=60))
    with Server('--tpm-ak-ca', cac, at=later.strftime('%Y-%m-%dT%H:%M:%SZ')) as s:
        ch, sc = round1(s)
        r = round2(s, sc, rd(ak_tpm2b), tpm.quote('ak', ch), {'ak_cert': b64url(good)})
        refused('an AK certificate expired at attestd\'s time', r, 'ATT_E_CERT_EXPIRED',
                'certificate has expired')

    # ---- MAA's request v2 (attReqV2) ----
    rk = RequestKey(d)
    with Server('--tpm-ak', ak_pem, '--tpm-max-custom-claims', '2') as s:
        ch, sc = round1(s)
        q = tpm.quote('ak', binding(rk, ch))
        r = post(s, {'request': rk.jws(attreq(rk, ch, sc, ak_pem, q))})
        T.eq('attReqV2 (tpm_quote binding): 200', r.status, 200, repr(r))
        c = claims_of(s, r)
        T.eq('x-attestd-tpm-request-key: the policy key object',
             c.get('x-attestd-tpm-request-key'),
             {'jwk': rk.jwk, 'info': {'tpm_quote': {'hash_alg': 'sha-256'}}})
        T.eq('x-attestd-tpm-rp-id', c.get('x-attestd-tpm-rp-id'), 'https://rp.example')
        T.eq('x-attestd-tpm-custom-claims', c.get('x-attestd-tpm-custom-claims'),
             [{'name': 'role', 'value': 'web', 'value_type': 'string'}])
        T.eq('aikValidated', c.get('aikValidated'), True)
        # a bad JWS signature (another key signs)
        ch, sc = round1(s)
        q = tpm.quote('ak', binding(rk, ch))
        other_rk = RequestKey(d)
        text = attreq(rk, ch, sc, ak_pem, q)
        r = post(s, {'request': other_rk.jws(text)})
        refused('attReqV2: a bad JWS signature', r, 'ATT_E_JWS_SIGNATURE', 'does not verify')
        # the same context, now well signed: it was not spent by the bad signature
        r = post(s, {'request': rk.jws(text)})
        T.eq('attReqV2: the context survives a refused signature', r.status, 200, repr(r))
        # a challenge that is not the context's
        ch, sc = round1(s)
        q = tpm.quote('ak', binding(rk, ch))
        r = post(s, {'request': rk.jws(attreq(rk, ch, sc, ak_pem, q, challenge=os.urandom(32)))})
        refused('attReqV2: another challenge', r, 'ATT_E_CHALLENGE',
                'not the challenge of the service context')
        # the quote over the bare challenge: qualifyingData does not bind the jwk
        ch, sc = round1(s)
        q = tpm.quote('ak', ch)
        r = post(s, {'request': rk.jws(attreq(rk, ch, sc, ak_pem, q))})
        refused('attReqV2: qualifyingData not binding the jwk', r, 'ATT_E_TPM_NONCE',
                'request_key.jwk member as sent')
        # vbs and too many custom claims
        ch, sc = round1(s)
        r = post(s, {'request': rk.jws(attreq(rk, ch, sc, ak_pem, q, att_type='vbs'))})
        refused('attReqV2: att_type vbs', r, 'ATT_E_UNSUPPORTED', 'vbs')
        cc = [{'name': 'c%d' % i, 'value': 'v'} for i in range(3)]
        r = post(s, {'request': rk.jws(attreq(rk, ch, sc, ak_pem, q, custom=cc))})
        refused('attReqV2: 3 custom claims over --tpm-max-custom-claims 2', r, 'ATT_E_LIMIT',
                '--tpm-max-custom-claims')

    # RS256, and the AK given only as its certificate (aik_cert) to a --tpm-ak-ca attestd
    with Server('--tpm-ak-ca', cac) as s:
        ch, sc = round1(s)
        q = tpm.quote('ak', binding(rk, ch))
        r = post(s, {'request': rk.jws(attreq(rk, ch, sc, ak_pem, q, aik_cert=good),
                                       alg='RS256')})
        T.eq('attReqV2 RS256 with aik_cert only: 200', r.status, 200, repr(r))
        T.eq('attReqV2 aik_cert: x-attestd-tpm-ak-trust ak-cert',
             claims_of(s, r).get('x-attestd-tpm-ak-trust'), 'ak-cert')

    # ---- the event-log budget ----
    with Server('--tpm-ak', ak_pem, '--tpm-max-events', '3') as s:
        ch, sc = round1(s)
        r = round2(s, sc, rd(ak_tpm2b), tpm.quote('ak', ch),
                   {'tcg_log': b64url(rd(tpm.f('eventlog.bin')))})
        refused('--tpm-max-events 3', r, 'ATT_E_LIMIT', 'more than 3 events')

    # an unusable --tpm-ak file stops attestd at start (exit 1), naming it
    bad = os.path.join(tmpdir(), 'bad-ak.pem')
    with open(bad, 'wb') as f:
        f.write(b'not a key')
    env = {k: v for k, v in os.environ.items() if not k.startswith('ATTESTD_')}
    r = run([ATTESTD, '--listen', '127.0.0.1:0', '--data-dir', tmpdir(), '--tpm-ak', bad],
            env=env)
    T.check('attestd refuses an unusable --tpm-ak: exit 1 naming the file',
            r.returncode == 1 and 'bad-ak.pem' in r.stderr, (r.returncode, r.stderr[-400:]))

T.run(main)
