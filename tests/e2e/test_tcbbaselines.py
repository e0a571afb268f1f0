"""test_tcbbaselines.py - TCB baselines (Intel's TCB evaluation data numbers): GET and PUT
/tcbbaselines/{type}, --tcb-baseline, and the baseline recorded in every token.

A simulated SGX platform (attest sim init) gets a second TCB evaluation data number with
`attest sim tcb-eval`: number 17 judges its TCB UpToDate, number 18 (the newest) OutOfDate. The
simulated collateral server serves both (tcbEvaluationDataNumber=N) and the signed list. The same
quote is then OutOfDate by default (the newest), UpToDate with --tcb-baseline SgxEnclave=17 and
after PUT /tcbbaselines/SgxEnclave {17}, whose pin is stored and outlives a restart; a TDX quote
likewise under TdxVm=17; a list with a bad signature, or signed by an untrusted root, is refused
(503 naming the check); an offline directory holding both sets and the list serves the pin.
"""
import json
import os
import shutil
import subprocess

import harness
from harness import ATTEST, Results, Server, run, tmpdir

T = Results('e2e/test_tcbbaselines')


def sim_server(sim):
    p = subprocess.Popen([ATTEST, 'sim', 'collateral-server', '--dir', sim, '--quiet'],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, text=True)
    harness._procs.append(p)
    return p, p.stdout.readline().strip()


def claims_of(tok):
    return json.loads(harness.b64url_dec(tok.split('.')[1]))


def attest_claims(s, sim, tee='sgx'):
    """One attestation of the simulated SGX (or TDX) quote through `attest run`: (exit, claims)."""
    r = run([ATTEST, 'run', '--url', s.url, '--provider', 'sim', '--sim-dir', sim, '--tee', tee])
    if r.returncode != 0:
        return r.returncode, r.stderr
    return 0, claims_of(r.stdout.strip())


def status_of(c):
    if not isinstance(c, dict):
        return c
    return c.get('x-ms-sgx-tcb-status', c.get('attester_tcb_status'))


def main():
    w = tmpdir('attestd-tcbb-')
    sim = os.path.join(w, 'sim')
    T.eq('attest sim init', run([ATTEST, 'sim', 'init', sim]).returncode, 0)
    r = run([ATTEST, 'sim', 'tcb-eval', sim, '--tee', 'sgx', '--number', '18', '--status',
             'OutOfDate'])
    T.eq('attest sim tcb-eval --number 18 --status OutOfDate', r.returncode, 0, r.stderr)
    r = run([ATTEST, 'sim', 'tcb-eval', sim, '--tee', 'tdx', '--number', '18', '--status',
             'OutOfDate'])
    T.eq('attest sim tcb-eval --tee tdx --number 18', r.returncode, 0, r.stderr)
    r = run([ATTEST, 'sim', 'tcb-eval', sim, '--tee', 'sgx', '--number', '18'])
    T.check('a number the platform has already is refused', r.returncode == 1 and
            'already has' in r.stderr, r.stderr)
    srv, url = sim_server(sim)
    # several lists and sets are fetched within a second: not the default 2 fetches per second
    trust = ['--trust-root', os.path.join(sim, 'trust_root.pem'), '--collateral-fetch-rate', '100']

    # -- the newest by default
    s = Server(*trust, collateral_url=url)
    g = s.get('/tcbbaselines/SgxEnclave', api='2025-06-01')
    T.eq('GET /tcbbaselines/SgxEnclave: 200', g.status, 200, g)
    bl = (g.json or {}).get('tcbBaselines', [])
    T.eq('the list: 18 then 17', [b.get('tcbEvaluationDataNumber') for b in bl], [18, 17], g)
    T.eq('tcbIdentifier is the number as a string', [b.get('tcbIdentifier') for b in bl],
         ['18', '17'], g)
    T.eq('the newest is selected', [b.get('isSelectedTcb') for b in bl], [True, False], g)
    T.check('each has a tcbReleaseDate', all(b.get('tcbReleaseDate', '').endswith('Z') for b in bl),
            g)
    T.eq('selected by: newest', (g.json or {}).get('x-attestd-selected-by'), 'newest', g)
    rc, c = attest_claims(s, sim)
    T.eq('default: the quote is judged against 18: OutOfDate', status_of(c), 'OutOfDate', c)
    T.eq('the token records 18', isinstance(c, dict) and
         c.get('x-attestd-tcb-evaluation-data-number'), 18, c)
    rc, c = attest_claims(s, sim, 'tdx')
    T.eq('default: the TDX quote is judged against 18: OutOfDate, recorded',
         (status_of(c), isinstance(c, dict) and c.get('x-attestd-tcb-evaluation-data-number')),
         ('OutOfDate', 18), c)
    g = s.get('/tcbbaselines/TdxVm', api='2025-06-01')
    T.eq('GET /tcbbaselines/TdxVm: 200 with 18 and 17',
         [b.get('tcbEvaluationDataNumber') for b in (g.json or {}).get('tcbBaselines', [])],
         [18, 17], g)
    g = s.get('/tcbbaselines/SevSnpVm', api='2025-06-01')
    T.check('SevSnpVm: 400 NotSupported', g.status == 400 and g.error_code == 'NotSupported', g)
    g = s.get('/tcbbaselines/Pluton', api='2026-03-11-preview')
    T.check('Pluton (a type MAA defines, attestd does not serve): 501 NotSupported',
            g.status == 501 and g.error_code == 'NotSupported', g)
    g = s.get('/tcbbaselines/Nonsense', api='2025-06-01')
    T.check('an unknown type: 400 InvalidParameter', g.status == 400 and
            g.error_code == 'InvalidParameter', g)

    # -- pinned through the API (loopback admin), stored: outlives a restart
    for body in ({'tcbEvaluationDataNumber': 16}, {'tcbEvaluationDataNumber': 'x'},
                 {'tcbEvaluationDataNumber': 0}, {'other': 1}, [17]):
        p = s.put('/tcbbaselines/SgxEnclave', body, api='2025-06-01')
        T.check('PUT %s: 400' % json.dumps(body), p.status == 400 and
                p.error_code == 'InvalidParameter', p)
    p = s.put('/tcbbaselines/SgxEnclave', {'tcbEvaluationDataNumber': 17}, api='2025-06-01')
    T.eq('PUT /tcbbaselines/SgxEnclave {17}: 200', p.status, 200, p)
    T.eq('the answer lists 17 selected', [b['tcbEvaluationDataNumber'] for b in
                                          (p.json or {}).get('tcbBaselines', [])
                                          if b.get('isSelectedTcb')], [17], p)
    rc, c = attest_claims(s, sim)
    T.eq('pinned to 17 through the API: UpToDate', status_of(c), 'UpToDate', c)
    T.eq('the token records 17', isinstance(c, dict) and
         c.get('x-attestd-tcb-evaluation-data-number'), 17, c)
    g = s.get('/tcbbaselines/OpenEnclave', api='2025-06-01')
    T.eq('OpenEnclave keeps its own baseline (the newest)',
         [b['tcbEvaluationDataNumber'] for b in (g.json or {}).get('tcbBaselines', [])
          if b.get('isSelectedTcb')], [18], g)
    d = s.dir
    s.stop()
    s = Server(*trust, collateral_url=url, data_dir=d)
    rc, c = attest_claims(s, sim)
    T.eq('after a restart the stored pin is in force: UpToDate', status_of(c), 'UpToDate', c)
    p = s.put('/tcbbaselines/SgxEnclave', {'tcbEvaluationDataNumber': None}, api='2025-06-01')
    T.eq('PUT {null}: 200', p.status, 200, p)
    rc, c = attest_claims(s, sim)
    T.eq('reset: the newest again, OutOfDate', status_of(c), 'OutOfDate', c)
    s.stop()

    # -- a change is audited; isolated mode takes no pin through the API
    audit = os.path.join(w, 'audit.jsonl')
    s = Server(*trust, '--audit-log', audit, collateral_url=url)
    p = s.put('/tcbbaselines/TdxVm', {'tcbEvaluationDataNumber': 17}, api='2025-06-01')
    T.eq('PUT /tcbbaselines/TdxVm {17}: 200', p.status, 200, p)
    s.stop()
    ev = [json.loads(l) for l in open(audit) if l.strip()]
    ev = [e for e in ev if e.get('event') == 'tcbbaseline.set']
    T.check('the audit trail records tcbbaseline.set for TdxVm, status 200',
            len(ev) == 1 and ev[0].get('policy_type') == 'TdxVm' and ev[0].get('status') == 200,
            ev)
    signer = harness.Signer(w, 'signer')
    s = Server(*trust, collateral_url=url, isolated=signer.cert)
    p = s.put('/tcbbaselines/SgxEnclave', {'tcbEvaluationDataNumber': 17}, api='2025-06-01')
    T.check('isolated mode: PUT refused, 400 InvalidOperation naming --tcb-baseline',
            p.status == 400 and p.error_code == 'InvalidOperation' and
            '--tcb-baseline' in p.error_message, p)
    g = s.get('/tcbbaselines/SgxEnclave', api='2025-06-01')
    T.eq('isolated mode: GET still lists', g.status, 200, g)
    s.stop()

    # -- pinned with --tcb-baseline
    s = Server(*trust, '--tcb-baseline', 'SgxEnclave=17', '--tcb-baseline', 'TdxVm=17',
               collateral_url=url)
    rc, c = attest_claims(s, sim)
    T.eq('--tcb-baseline SgxEnclave=17: UpToDate', status_of(c), 'UpToDate', c)
    T.eq('the token records 17', isinstance(c, dict) and
         c.get('x-attestd-tcb-evaluation-data-number'), 17, c)
    rc, c = attest_claims(s, sim, 'tdx')
    T.eq('--tcb-baseline TdxVm=17: the TDX quote UpToDate, 17 recorded',
         (status_of(c), isinstance(c, dict) and c.get('x-attestd-tcb-evaluation-data-number')),
         ('UpToDate', 17), c)
    g = s.get('/tcbbaselines/SgxEnclave', api='2025-06-01')
    T.eq('the list marks 17, selected by the option',
         ([b['tcbEvaluationDataNumber'] for b in (g.json or {}).get('tcbBaselines', [])
           if b.get('isSelectedTcb')], (g.json or {}).get('x-attestd-selected-by')),
         ([17], 'option'), g)
    s.stop()
    for bad in ('SgxEnclave', 'SgxEnclave=0', 'SgxEnclave=x', 'SevSnpVm=17', 'Nope=17'):
        r = run([harness.ATTESTD, '--listen', '127.0.0.1:0', '--data-dir', tmpdir(),
                 '--tcb-baseline', bad] + trust + ['--collateral-url', url], timeout=20)
        T.check('--tcb-baseline %s: refused at start (exit 2 or 1) with a message' % bad,
                r.returncode in (1, 2) and 'tcb-baseline' in r.stderr, r.stderr[-400:])

    # -- a list whose signature does not verify is refused
    lst = os.path.join(sim, 'collateral', 'sgx', 'tcb_eval_numbers.json')
    good_list = open(lst).read()
    doc = json.load(open(lst))
    sig = doc['signature']
    doc['signature'] = ('0' if sig[0] != '0' else '1') + sig[1:]
    open(lst, 'w').write(json.dumps(doc, separators=(',', ':')))
    srv.terminate()
    srv.wait(10)
    srv, url2 = sim_server(sim)
    s = Server(*trust, collateral_url=url2)
    g = s.get('/tcbbaselines/SgxEnclave', api='2025-06-01')
    T.check('a list with a bad signature: 503 naming the signature check',
            g.status == 503 and 'ATT_E_TCBEVAL_SIGNATURE' in g.error_message, g)
    p = s.put('/tcbbaselines/SgxEnclave', {'tcbEvaluationDataNumber': 17}, api='2025-06-01')
    T.check('and no pin can be set from it (503)', p.status == 503, p)
    s.stop()
    # ... and one whose root is not trusted (attestd without the simulated root)
    s = Server('--collateral-fetch-rate', '100', collateral_url=url2)
    g = s.get('/tcbbaselines/TdxVm', api='2025-06-01')
    T.check('a list signed under an untrusted root: 503 naming the root',
            g.status == 503 and 'ATT_E_CERT_UNTRUSTED_ROOT' in g.error_message, g)
    s.stop()

    # -- offline: a collateral directory holding both sets (18 current, 17) and the list
    open(lst, 'w').write(good_list)
    off = os.path.join(w, 'offline')
    src = os.path.join(sim, 'collateral', 'sgx')
    shutil.copytree(src, os.path.join(off, 'current'), ignore=shutil.ignore_patterns('eval-*'))
    shutil.copytree(os.path.join(src, 'eval-17'), os.path.join(off, 'seventeen'))
    s = Server(*trust, '--tcb-baseline', 'SgxEnclave=17', collateral_dir=off)
    rc, c = attest_claims(s, sim)
    T.eq('offline, both sets in --collateral-dir: UpToDate under the pin to 17', status_of(c),
         'UpToDate', c)
    T.eq('offline: the token records 17', isinstance(c, dict) and
         c.get('x-attestd-tcb-evaluation-data-number'), 17, c)
    g = s.get('/tcbbaselines/SgxEnclave', api='2025-06-01')
    T.eq('offline: the list from the directory, 17 selected',
         [(b['tcbEvaluationDataNumber'], b['isSelectedTcb'])
          for b in (g.json or {}).get('tcbBaselines', [])], [(18, False), (17, True)], g)
    s.stop()
    s = Server(*trust, '--tcb-baseline', 'SgxEnclave=18', collateral_dir=off)
    rc, c = attest_claims(s, sim)
    T.eq('offline, pinned to 18: OutOfDate', status_of(c), 'OutOfDate', c)
    s.stop()


T.run(main)
