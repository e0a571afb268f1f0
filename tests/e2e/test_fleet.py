"""test_fleet.py - a simulated fleet against attestd's bounded PCK chain cache (issue 17).

`attest sim fleet` mints 3 platforms (SGX, TDX, SGX) under one simulated hierarchy, each with its
own PCK certificate; the simulated collateral server serves the collateral of all of them. Their
quotes verify with attestd (--trust-root of the hierarchy), their PCK chains are distinct, and
attestd's /metrics counts one PCK chain cache miss per platform (3), then hits only. With
--cache-pck-chains 2 the cache holds two chains and drops the least recently used one: the
evictions, entries and capacity gauges say so, and a platform used just before a newcomer keeps
its entry (LRU, not round-robin). The collateral cache (--cache-collateral) holds one set per TEE;
with room for one, SGX and TDX quotes in turn evict each other's set and still verify.
`attest sim fleet` refuses bad arguments with exit 2.
With --fmspcs 2, SGX platforms alternate between two FMSPCs: the collateral server serves a TCB
info for each (signed anew, tcbInfo.fmspc the platform's), every quote verifies and attestd holds
two collateral sets (one key per FMSPC) where one FMSPC gives one.
"""
import json
import urllib.request
import os
import re
import subprocess

import harness
from harness import ATTEST, Results, Server, b64url, run, tmpdir

T = Results('e2e/test_fleet')


def sim_server(sim):
    p = subprocess.Popen([ATTEST, 'sim', 'collateral-server', '--dir', sim, '--quiet'],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, text=True)
    harness._procs.append(p)
    return p, p.stdout.readline().strip()


def metric(s, name, cache='pck_chain'):
    r = s.get('/metrics', api=None)
    m = re.search(r'^%s\{cache="%s"\} (\d+)' % (re.escape(name), cache), r.body.decode()
                  if isinstance(r.body, bytes) else r.body, re.M)
    return int(m.group(1)) if m else None


def counts(s, cache='pck_chain'):
    return tuple(metric(s, n, cache) for n in ('attestd_cache_hits_total', 'attestd_cache_misses_total',
                                        'attestd_cache_evictions_total', 'attestd_cache_entries',
                                        'attestd_cache_capacity'))


def attest(s, fleet, plat):
    typ, name = plat
    q = open(os.path.join(fleet, name), 'rb').read()
    return s.post('/attest/' + typ, {'quote': b64url(q)})


def pck_leaf(path):
    q = open(path, 'rb').read()
    i = q.index(b'-----BEGIN CERTIFICATE-----')
    return q[i:q.index(b'-----END CERTIFICATE-----', i)]


def main():
    d = tmpdir()
    sim, fleet = os.path.join(d, 'sim'), os.path.join(d, 'fleet')
    T.eq('sim init', run([ATTEST, 'sim', 'init', sim]).returncode, 0)
    r = run([ATTEST, 'sim', 'fleet', sim, '--platforms', '3', '--out', fleet])
    T.eq('sim fleet exit', r.returncode, 0, r.stderr)
    plats = [tuple(l.split()) for l in open(os.path.join(fleet, 'platforms.txt'))]
    T.eq('three platforms listed', [p[0] for p in plats], ['SgxEnclave', 'TdxVm', 'SgxEnclave'])
    leaves = {pck_leaf(os.path.join(fleet, p[1])) for p in plats}
    T.eq('three distinct PCK certificates', len(leaves), 3)
    for bad, what in ((['--platforms', '0'], 'zero'), (['--platforms', '3x'], 'not a number'),
                      (['--platforms', '1000001'], 'over the bound'), (['--tee', 'snp'], 'bad tee')):
        args = ['--platforms', '1'] + bad if bad[0] == '--tee' else bad
        r = run([ATTEST, 'sim', 'fleet', sim, '--out', os.path.join(d, 'x')] + args)
        T.eq('sim fleet %s: exit 2' % what, r.returncode, 2, r.stderr)
        T.check('sim fleet %s: says which' % what, bad[0] in r.stderr, r.stderr)
    coll_p, coll = sim_server(sim)
    T.check('collateral server started', coll.startswith('http://'), coll)
    root = os.path.join(sim, 'trust_root.pem')

    with Server('--trust-root', root, collateral_url=coll) as s:
        T.eq('default cache: counts at start', counts(s), (0, 0, 0, 0, 16384))
        for cache, cap in (('snp_vcek', 16384), ('tpm_ak', 64), ('collateral', 16384)):
            T.eq('%s cache exported, capacity' % cache, counts(s, cache), (0, 0, 0, 0, cap))
        for i, p in enumerate(plats):
            r = attest(s, fleet, p)
            T.eq('platform %d (%s) verifies' % (i, p[0]), r.status, 200, r.body)
        T.eq('one miss per platform', counts(s), (0, 3, 0, 3, 16384))
        for p in plats:
            attest(s, fleet, p)
        T.eq('known platforms: hits', counts(s), (3, 3, 0, 3, 16384))
        T.eq('collateral: one set per TEE, kept', counts(s, 'collateral')[2:], (0, 2, 16384))

    with Server('--trust-root', root, '--cache-collateral', '1', collateral_url=coll) as s:
        for i, p in enumerate(plats + plats):  # SGX, TDX, SGX, ...: each set evicts the other
            T.eq('one collateral set: %s verifies' % p[1], attest(s, fleet, p).status, 200)
        c = counts(s, 'collateral')
        T.eq('one collateral set: held, capacity', c[3:], (1, 1))
        T.check('one collateral set: the sets evict each other', c[2] >= 4, c)

    with Server('--trust-root', root, '--cache-pck-chains', '2', collateral_url=coll) as s:
        for p in plats:  # 0, 1, 2: the third evicts platform 0
            T.eq('small cache: %s verifies' % p[1], attest(s, fleet, p).status, 200)
        T.eq('small cache: 3 misses, 1 eviction, 2 held', counts(s), (0, 3, 1, 2, 2))
        attest(s, fleet, plats[1])  # hit; now 2 is the least recently used
        attest(s, fleet, plats[0])  # miss: evicts 2, keeps 1
        attest(s, fleet, plats[1])  # hit (round-robin would have evicted it)
        T.eq('small cache: LRU keeps the platform used last', counts(s), (2, 4, 2, 2, 2))
    coll_p.terminate()
    fmspcs(d)


def fmspcs(d):
    sim, fleet = os.path.join(d, 'sim2'), os.path.join(d, 'fleet2')
    T.eq('sim init (fmspcs)', run([ATTEST, 'sim', 'init', sim]).returncode, 0)
    for bad in ('0', '5', 'x', '4097'):
        r = run([ATTEST, 'sim', 'fleet', sim, '--platforms', '4', '--fmspcs', bad, '--out',
                 os.path.join(d, 'y')])
        T.eq('sim fleet --fmspcs %s: exit 2' % bad, r.returncode, 2, r.stderr)
        T.check('sim fleet --fmspcs %s: says which' % bad, '--fmspcs' in r.stderr, r.stderr)
    r = run([ATTEST, 'sim', 'fleet', sim, '--platforms', '4', '--tee', 'sgx', '--fmspcs', '2',
             '--out', fleet])
    T.eq('sim fleet --fmspcs 2 exit', r.returncode, 0, r.stderr)
    plats = [tuple(l.split()) for l in open(os.path.join(fleet, 'platforms.txt'))]
    base = json.load(open(os.path.join(sim, 'collateral', 'sgx', 'tcb_info.json')))
    fm0 = base['tcbInfo']['fmspc']
    fm1 = fm0[:10] + '%02X' % (int(fm0[10:], 16) ^ 1)
    coll_p, coll = sim_server(sim)
    for fm in (fm0, fm1):
        with urllib.request.urlopen('%s/sgx/certification/v4/tcb?fmspc=%s' % (coll, fm)) as u:
            body = json.loads(u.read())
            T.eq('collateral server: TCB info of FMSPC %s' % fm, body['tcbInfo']['fmspc'], fm)
            T.check('collateral server: FMSPC %s signed with its chain' % fm,
                    'BEGIN' in urllib.request.unquote(u.headers['TCB-Info-Issuer-Chain']))
    root = os.path.join(sim, 'trust_root.pem')
    with Server('--trust-root', root, collateral_url=coll) as s:
        for p in plats[:1]:
            T.eq('one FMSPC: %s verifies' % p[1], attest(s, fleet, p).status, 200)
        T.eq('one FMSPC: one collateral key', counts(s, 'collateral')[3], 1)
        for p in plats:
            r = attest(s, fleet, p)
            T.eq('two FMSPCs: %s verifies' % p[1], r.status, 200, r.body)
        T.eq('two FMSPCs: two collateral keys, no eviction', counts(s, 'collateral')[2:4], (0, 2))
    coll_p.terminate()


T.run(main)
