#!/usr/bin/env python3
"""test_snp.py - SEV-SNP evidence through POST /attest/SevSnpVm at the vectors' verification times:
MAA's JSON evidence {SnpReport, VcekCertChain} (go-sev-guest, Google Cloud's v5 report), an Azure
HCL report with its runtime data as JSON runtimeData (x-ms-runtime), signed tokens verified
against /certs, a draft policy that refuses a debuggable VM, the vTPM quote of Azure evidence
(Trustee's az-snp-vtpm JSON, MAA's form with tpm_quote; the nonce, a flipped PCR, another VM's
quote), and the errors: a flipped bit in the signed report, no chain, a report of another chip's
VCEK, malformed evidence."""
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tools'))
from harness import (ATTEST, REPO, KdsServer, Results, Server, b64url, run, tmpdir,  # noqa: E402
                     verify_token)
import vectors  # noqa: E402

T = Results('e2e/test_snp')
SNP = vectors.snp_dir(REPO)


def rd(rel):
    with open(os.path.join(SNP, rel), 'rb') as f:
        return f.read()


def der_to_pem(der):
    import base64
    b = base64.b64encode(der).decode()
    return ('-----BEGIN CERTIFICATE-----\n' +
            '\n'.join(b[i:i + 64] for i in range(0, len(b), 64)) +
            '\n-----END CERTIFICATE-----\n').encode()


def evidence(report, chain=None):
    doc = {'SnpReport': b64url(report)}
    if chain is not None:
        doc['VcekCertChain'] = b64url(chain)
    return b64url(json.dumps(doc).encode())


def token_claims(s, r, what):
    T.eq('%s: 200' % what, r.status, 200, repr(r))
    if r.status != 200:
        return {}
    ok, c, why = verify_token(r.token, s.jwks(), s.issuer)
    T.check('%s: the token verifies against /certs' % what, ok, why)
    return c or {}


def go_sev_guest():
    rep = rd('go-sev-guest/report.bin')
    chain = der_to_pem(rd('go-sev-guest/vcek.der')) + rd('go-sev-guest/cert_chain_milan.pem')
    with Server(at='2025-01-01T00:00:00Z') as s:
        r = s.post('/attest/SevSnpVm', {'report': evidence(rep, chain), 'nonce': 'n-1'})
        c = token_claims(s, r, 'go-sev-guest')
        T.eq('x-ms-attestation-type', c.get('x-ms-attestation-type'), 'sevsnpvm')
        T.eq('x-ms-sevsnpvm-launchmeasurement', c.get('x-ms-sevsnpvm-launchmeasurement'),
             'b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb'
             '0cf2e4872b01')
        T.eq('x-ms-sevsnpvm-is-debuggable (policy bit 19)', c.get('x-ms-sevsnpvm-is-debuggable'),
             True)
        T.eq('x-ms-sevsnpvm-reportdata', c.get('x-ms-sevsnpvm-reportdata'),
             '0102030405' + '00' * 59)
        T.eq('x-ms-sevsnpvm-snpfw-svn', c.get('x-ms-sevsnpvm-snpfw-svn'), 5)
        T.eq('x-attestd-sevsnpvm-product', c.get('x-attestd-sevsnpvm-product'), 'Milan')
        T.eq('nonce', c.get('nonce'), 'n-1')
        T.check('genuine AMD evidence is not marked simulated', 'x-attestd-simulated' not in c, c)

        # a policy that wants a VM that cannot be debugged refuses it
        draft = ('version=1.0; authorizationrules { c:[type=="x-ms-sevsnpvm-is-debuggable", '
                 'value==false] => permit(); }; issuancerules { };')
        r = s.post('/attest/SevSnpVm', {'report': evidence(rep, chain),
                                        'draftPolicyForAttestation': draft})
        T.eq('a debuggable VM under a no-debug policy: 400 PolicyEvaluationError',
             (r.status, r.error_code), (400, 'PolicyEvaluationError'), repr(r))

        # one flipped bit in the signed part of the report
        bent = bytearray(rep)
        bent[0x90] ^= 0x01  # measurement
        r = s.post('/attest/SevSnpVm', {'report': evidence(bytes(bent), chain)})
        T.eq('a flipped bit in the measurement: 400', r.status, 400, repr(r))
        T.check('... saying the signature is wrong', 'signature' in r.error_message.lower(),
                r.error_message)
        # no chain: the VCEK would have to come from AMD KDS, and this attestd has no source
        # (a server without collateral: 503, as for a quote; bad reports above stay 400)
        r = s.post('/attest/SevSnpVm', {'report': evidence(rep)})
        T.eq('no VcekCertChain and no KDS: 503', r.status, 503, repr(r))
        T.check('... naming the missing chain', 'VcekCertChain' in r.error_message,
                r.error_message)
        # another chip's VCEK (Azure's, the same product)
        other = rd('azure-snp-vtpm/hcl_report_a.vcek_ask_ark.pem')
        r = s.post('/attest/SevSnpVm', {'report': evidence(rep, other)})
        T.eq("another chip's VCEK: 400", r.status, 400, repr(r))
        # malformed evidence
        for what, ev in [('not JSON', b64url(b'{nope')), ('no SnpReport', b64url(b'{}')),
                         ('a truncated report', evidence(rep[:100], chain))]:
            r = s.post('/attest/SevSnpVm', {'report': ev})
            T.eq('%s: 400 InvalidParameter' % what, (r.status, r.error_code),
                 (400, 'InvalidParameter'), repr(r))
        # runtime data must hash to REPORT_DATA
        r = s.post('/attest/SevSnpVm', {'report': evidence(rep, chain),
                                        'runtimeData': {'data': b64url(b'{}'), 'dataType': 'JSON'}})
        T.eq('runtime data that REPORT_DATA does not bind: 400', r.status, 400, repr(r))


def gcp_v5():
    rep = rd('gcp-teekit/report_v5.bin')
    chain = rd('gcp-teekit/vcek.pem') + rd('gcp-teekit/cert_chain_milan.pem')
    with Server(at='2026-06-01T00:00:00Z') as s:
        r = s.post('/attest/SevSnpVm', {'report': evidence(rep, chain)})
        c = token_claims(s, r, 'Google Cloud report v5')
        T.eq('v5: x-attestd-sevsnpvm-report-version', c.get('x-attestd-sevsnpvm-report-version'), 5)
        T.eq('v5: x-ms-sevsnpvm-is-debuggable', c.get('x-ms-sevsnpvm-is-debuggable'), False)


def azure_hcl():
    hcl = rd('azure-snp-vtpm/hcl_report_a.bin')
    chain = rd('azure-snp-vtpm/hcl_report_a.vcek_ask_ark.pem')
    runtime = rd('azure-snp-vtpm/hcl_report_a.runtime_data.json')
    with Server(at='2025-01-01T00:00:00Z') as s:
        r = s.post('/attest/SevSnpVm', {'report': evidence(hcl, chain),
                                        'runtimeData': {'data': b64url(runtime),
                                                        'dataType': 'JSON'}})
        c = token_claims(s, r, 'Azure HCL report')
        keys = (c.get('x-ms-runtime') or {}).get('keys') or []
        T.check('x-ms-runtime carries the vTPM AK (HCLAkPub)',
                any(k.get('kid') == 'HCLAkPub' for k in keys), c.get('x-ms-runtime'))
        T.check('x-ms-runtime carries vm-configuration',
                'vm-configuration' in (c.get('x-ms-runtime') or {}), c.get('x-ms-runtime'))


def azure_vtpm():
    """The vTPM quote of Azure evidence, verified with the AK of the HCL report's runtime data:
    Trustee's az-snp-vtpm JSON as published and MAA's form with a tpm_quote; the request's nonce
    against the quote's extraData; a flipped PCR byte, a wrong nonce and another VM's quote
    refused; a policy that wants the nonce checked."""
    trustee = json.loads(rd('azure-snp-vtpm/evidence_b.json'))
    with Server(at='2026-01-01T00:00:00Z') as s:
        ev = b64url(json.dumps(trustee).encode())
        r = s.post('/attest/SevSnpVm', {'report': ev, 'nonce': 'challenge'})
        c = token_claims(s, r, "Trustee's az-snp-vtpm evidence with its nonce")
        T.eq('nonce echoed', c.get('nonce'), 'challenge')
        T.eq('the quote was checked against the nonce',
             c.get('x-attestd-sevsnpvm-vtpm-nonce-checked'), True)
        T.eq('extraData', c.get('x-attestd-sevsnpvm-vtpm-extradata'), b'challenge'.hex())
        T.eq('attested PCRs 0-23', c.get('x-attestd-sevsnpvm-vtpm-attested-pcrs'),
             list(range(24)))
        pcrs = (c.get('x-attestd-sevsnpvm-vtpm-pcrs') or {}).get('sha256') or {}
        T.eq('PCR values as the evidence gives them',
             [pcrs.get(str(i)) for i in range(24)], trustee['tpm_quote']['pcrs'])
        r = s.post('/attest/SevSnpVm', {'report': ev})
        c = token_claims(s, r, 'the same without a nonce')
        T.eq('no nonce: extraData reported, not checked',
             (c.get('x-attestd-sevsnpvm-vtpm-nonce-checked'),
              c.get('x-attestd-sevsnpvm-vtpm-extradata')), (False, b'challenge'.hex()))
        want_nonce = ('version=1.0; authorizationrules { '
                      'c:[type=="x-attestd-sevsnpvm-vtpm-nonce-checked", value==true] => permit(); '
                      '}; issuancerules { };')
        r = s.post('/attest/SevSnpVm', {'report': ev, 'draftPolicyForAttestation': want_nonce})
        T.eq('a policy that wants a fresh quote refuses one without a nonce',
             (r.status, r.error_code), (400, 'PolicyEvaluationError'), repr(r))
        r = s.post('/attest/SevSnpVm', {'report': ev, 'nonce': 'challenge',
                                        'draftPolicyForAttestation': want_nonce})
        T.eq('... and takes one with it', r.status, 200, repr(r))
        r = s.post('/attest/SevSnpVm', {'report': ev, 'nonce': 'another'})
        T.eq('a wrong nonce: 400', r.status, 400, repr(r))
        T.check('... ATT_E_TPM_NONCE', 'ATT_E_TPM_NONCE' in r.error_message, r.error_message)
        bent = json.loads(json.dumps(trustee))
        p7 = bent['tpm_quote']['pcrs'][7]
        bent['tpm_quote']['pcrs'][7] = ('1' if p7[0] == '0' else '0') + p7[1:]
        r = s.post('/attest/SevSnpVm', {'report': b64url(json.dumps(bent).encode()),
                                        'nonce': 'challenge'})
        T.eq('a flipped PCR 7 byte: 400', r.status, 400, repr(r))
        T.check('... ATT_E_TPM_PCR_DIGEST', 'ATT_E_TPM_PCR_DIGEST' in r.error_message,
                r.error_message)
    hcl = rd('azure-snp-vtpm/hcl_report_a.bin')
    chain = rd('azure-snp-vtpm/hcl_report_a.vcek_ask_ark.pem')
    quote_a = json.loads(rd('azure-snp-vtpm/hcl_report_a.tpm_quote.json'))

    def maa(quote):
        return b64url(json.dumps({'SnpReport': b64url(hcl), 'VcekCertChain': b64url(chain),
                                  'tpm_quote': quote}).encode())
    with Server(at='2025-01-01T00:00:00Z') as s:
        r = s.post('/attest/SevSnpVm', {'report': maa(quote_a), 'nonce': 'challenge'})
        c = token_claims(s, r, "MAA's form with a tpm_quote")
        T.eq('MAA form: nonce checked', c.get('x-attestd-sevsnpvm-vtpm-nonce-checked'), True)
        r = s.post('/attest/SevSnpVm', {'report': maa(trustee['tpm_quote']),
                                        'nonce': 'challenge'})
        T.eq("another VM's quote (an AK not from this runtime data): 400", r.status, 400, repr(r))
        T.check('... ATT_E_TPM_SIGNATURE', 'ATT_E_TPM_SIGNATURE' in r.error_message,
                r.error_message)


def sim_fleet_over_kds():
    """A simulated fleet (attest sim snp) behind the KDS stand-in: evidence without a chain gets
    its VCEK from KDS once per chip and the CRL checked; KDS down is a 503 with Retry-After."""
    d = tmpdir('snp-fleet-')
    p = run([ATTEST, 'sim', 'snp', 'init', d, '--chips', '3', '--rsa-bits', '2048'])
    T.eq('attest sim snp init: exit 0', p.returncode, 0, p.stderr)
    reports = []
    for chip in range(3):
        out = os.path.join(d, 'r%d.bin' % chip)
        p = run([ATTEST, 'sim', 'snp', 'report', d, '--chip', str(chip), '--out', out])
        T.eq('sim report %d: exit 0' % chip, p.returncode, 0, p.stderr)
        reports.append(open(out, 'rb').read())
    count = os.path.join(d, 'kds-requests')
    with KdsServer(d, count_file=count) as kds, \
            Server('--kds-url', kds.url, '--trust-root', os.path.join(d, 'ark.pem'),
                   '--collateral-fetch-rate', '50') as s:
        r = s.post('/attest/SevSnpVm', {'report': evidence(reports[0])})
        c = token_claims(s, r, 'simulated chip 0, VCEK from KDS')
        T.eq('the KDS CRL was checked', c.get('x-attestd-sevsnpvm-crl-checked'), True)
        T.eq('simulated evidence is marked', c.get('x-attestd-simulated'), True)
        r = s.post('/attest/SevSnpVm', {'report': evidence(reports[0])})
        T.eq('chip 0 again: 200', r.status, 200, repr(r))
        for chip in (1, 2):
            r = s.post('/attest/SevSnpVm', {'report': evidence(reports[chip])})
            T.eq('chip %d: 200' % chip, r.status, 200, repr(r))
        # a chain in the evidence that does not verify (chip 1's VCEK for chip 0's report):
        # the VCEK from KDS is used instead
        ev1 = os.path.join(d, 'e1.json')
        p = run([ATTEST, 'sim', 'snp', 'report', d, '--chip', '1', '--evidence', ev1])
        T.eq('sim evidence of chip 1: exit 0', p.returncode, 0, p.stderr)
        chain1 = json.load(open(ev1))['VcekCertChain']
        doc = {'SnpReport': b64url(reports[0]), 'VcekCertChain': chain1}
        r = s.post('/attest/SevSnpVm', {'report': b64url(json.dumps(doc).encode())})
        T.eq("another chip's chain in the evidence, KDS has the right VCEK: 200", r.status, 200,
             repr(r))
        log = open(count).read().split('\n')
        vceks = [l for l in log if '/crl' not in l and l.startswith('GET /vcek/')]
        vceks = [l for l in vceks if not l.endswith('/cert_chain')]
        crls = [l for l in log if l.endswith('/crl')]
        chains = [l for l in log if l.endswith('/cert_chain')]
        T.eq('one VCEK fetch per chip (3), none again for a known chip', len(vceks), 3, log)
        T.eq('one CRL and one cert_chain fetch for the fleet', (len(crls), len(chains)), (1, 1),
             log)
    # KDS down: a new chip cannot be verified now, and the client is told when to retry
    with KdsServer(d, flags=['--fail-status', '503']) as kds, \
            Server('--kds-url', kds.url, '--trust-root', os.path.join(d, 'ark.pem')) as s:
        r = s.post('/attest/SevSnpVm', {'report': evidence(reports[1])})
        T.eq('KDS down: 503 ServiceUnavailable', (r.status, r.error_code),
             (503, 'ServiceUnavailable'), repr(r))
        T.check('... with Retry-After', 'retry-after' in r.headers, r.headers)


def vector_offline():
    """A real vector without its chain, the VCEK from an offline directory in KDS's layout (no
    CRL there: the claims say it was not checked)."""
    d = tmpdir('snp-offline-')
    rep = rd('go-sev-guest/report.bin')
    os.makedirs(os.path.join(d, 'vcek', 'v1', 'Milan'))
    chip = rep[0x1A0:0x1E0].hex()
    with open(os.path.join(d, 'vcek', 'v1', 'Milan', chip), 'wb') as f:
        f.write(rd('go-sev-guest/vcek.der'))
    with Server(at='2025-01-01T00:00:00Z', collateral_dir=d) as s:
        r = s.post('/attest/SevSnpVm', {'report': evidence(rep)})
        c = token_claims(s, r, 'go-sev-guest, VCEK from the offline directory')
        T.eq('no CRL offline: not checked', c.get('x-attestd-sevsnpvm-crl-checked'), False)


# Every shared vector: (report, leaf, chain file or None, product, verify at, accepted). v2
# reports name no product: their VCEKs are filed under Milan, the product their certificate says.
VECTORS = [
    ('go-sev-guest/report.bin', 'go-sev-guest/vcek.der', 'go-sev-guest/cert_chain_milan.pem',
     'Milan', '2025-01-01T00:00:00Z', True),
    ('trustee/report_vcek_milan.bin', 'trustee/vcek_milan.der',
     'amd-roots/cert_chain_milan_ask_ark.pem', 'Milan', '2025-01-01T00:00:00Z', True),
    ('trustee/report_vlek_milan.bin', 'trustee/vlek_milan.der', 'amd-roots/asvk_milan.pem',
     'Milan', '2025-06-01T00:00:00Z', True),
    ('trustee/report_vlek_milan.bin', 'trustee/vlek_milan.der', 'amd-roots/asvk_milan.pem',
     'Milan', '2026-01-01T00:00:00Z', False),  # the VLEK expired on 2025-12-10
    ('trustee-e2e-genoa/report.bin', 'trustee-e2e-genoa/vcek_genoa.der', None, 'Genoa',
     '2026-01-01T00:00:00Z', True),
    ('azure-snp-vtpm/evidence_b.snp.bin', 'azure-snp-vtpm/evidence_b.vcek.der', None, 'Milan',
     '2026-01-01T00:00:00Z', True),
    ('gcp-teekit/report_v5.bin', 'gcp-teekit/vcek.pem', 'gcp-teekit/cert_chain_milan.pem', 'Milan',
     '2026-06-01T00:00:00Z', True),
]


def der_of(data):
    if data.startswith(b'-----BEGIN'):
        import base64
        body = b''.join(l for l in data.splitlines() if l and not l.startswith(b'-----'))
        return base64.b64decode(body)
    return data


def every_vector():
    """Each shared vector through /attest/SevSnpVm at its time: with its chain in the evidence,
    and (VCEKs) without, the VCEK from an offline directory in KDS's layout."""
    for at in sorted(set(v[4] for v in VECTORS)):
        off = tmpdir('snp-vec-')
        n_vcek = 0
        for rep, leaf, chain, product, t, ok in VECTORS:
            if t != at or 'vlek' in leaf:
                continue
            n_vcek += 1
            d = os.path.join(off, 'vcek', 'v1', product)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, rd(rep)[0x1A0:0x1E0].hex()), 'wb') as f:
                f.write(der_of(rd(leaf)))
        with Server(at=at, collateral_dir=off if n_vcek else None) as s:
            for rep, leaf, chain, product, t, ok in VECTORS:
                if t != at:
                    continue
                pem = der_to_pem(der_of(rd(leaf))) + (rd(chain) if chain else b'')
                r = s.post('/attest/SevSnpVm', {'report': evidence(rd(rep), pem)})
                T.eq('%s at %s with its chain: %s' % (rep, at, 'accepted' if ok else 'refused'),
                     r.status, 200 if ok else 400, repr(r))
                if 'vlek' in leaf or not ok:
                    continue
                r = s.post('/attest/SevSnpVm', {'report': evidence(rd(rep))})
                c = token_claims(s, r, '%s at %s, VCEK from the offline directory' % (rep, at))
                T.eq('%s: CRL not checked offline' % rep, c.get('x-attestd-sevsnpvm-crl-checked'),
                     False)


def main():
    T.section(sim_fleet_over_kds)
    if SNP is None:
        vectors.skip('e2e/test_snp')
    T.section(vector_offline)
    T.section(every_vector)
    T.section(go_sev_guest)
    T.section(gcp_v5)
    T.section(azure_hcl)
    T.section(azure_vtpm)


if __name__ == '__main__':
    T.run(main)
