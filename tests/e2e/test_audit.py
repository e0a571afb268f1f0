#!/usr/bin/env python3
"""test_audit.py - the audit trail (--audit-log) over loopback: every policy change, policy
certificate change and key rotation, allowed or refused, is one JSON line with who (the access
token's subject, or the local user for `attestd keys rotate`), from where, the request id the
client saw, the SHA-256 of what was sent and the outcome (with the refusal's message); the file
is 0600 and appended across processes; an audit log that cannot be opened stops attestd at start.
The OpenID provider is test_auth.py's, run in this process."""
import hashlib
import json
import os
import stat
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ATTESTD, Results, Server, policy_jws_unsigned, run, tmpdir
from test_auth import ADMIN, AUD, READ, Idp, bearer

T = Results('e2e/test_audit')
PERMIT = 'version=1.0; authorizationrules { => permit(); }; issuancerules { };'


def records(path):
    with open(path) as f:
        lines = f.read().splitlines()
    out = []
    for i, l in enumerate(lines):
        try:
            out.append(json.loads(l))
        except ValueError:
            T.check('audit line %d is JSON' % (i + 1), False, l)
    return out


def sha(body):
    return hashlib.sha256(body.encode()).hexdigest()


def changes(d, idp):
    log = os.path.join(d, 'audit.jsonl')
    admin, reader = idp.token([ADMIN]), idp.token([READ])
    good, bad = policy_jws_unsigned(PERMIT), policy_jws_unsigned('version=1.0; nonsense')
    sent = []  # (event, body, reply, subject expected, status expected)
    with Server('--auth-issuer', idp.url, '--auth-audience', AUD, '--audit-log', log,
                data_dir=os.path.join(d, 'var')) as s:
        r = s.put('/policies/SgxEnclave', good, headers=bearer(admin))
        T.eq('PUT policy as admin: 200', r.status, 200, repr(r))
        sent.append(('policy.set', good, r, 'client-e2e', 200))
        r = s.put('/policies/SgxEnclave', good, headers=bearer(reader))
        T.eq('PUT policy as reader: 403', r.status, 403, repr(r))
        sent.append(('policy.set', good, r, 'client-e2e', 403))  # known, but not allowed
        r = s.put('/policies/TdxVm', good)
        T.eq('PUT policy without a token: 401', r.status, 401, repr(r))
        sent.append(('policy.set', good, r, None, 401))
        r = s.put('/policies/SgxEnclave', bad, headers=bearer(admin))
        T.eq('PUT a broken policy as admin: 400', r.status, 400, repr(r))
        sent.append(('policy.set', bad, r, 'client-e2e', 400))
        r = s.post('/policies/SgxEnclave:reset', '', headers=bearer(admin))
        T.eq('reset as admin: 200', r.status, 200, repr(r))
        sent.append(('policy.reset', '', r, 'client-e2e', 200))
        r = s.post('/certificates:add', 'not.a.jws', headers=bearer(admin))
        T.check('certificates:add with garbage: 4xx', 400 <= r.status < 500, repr(r))
        sent.append(('certificates.add', 'not.a.jws', r, 'client-e2e', r.status))
        r = s.get('/policies/SgxEnclave', headers=bearer(reader))
        T.eq('GET policy (a read: not audited): 200', r.status, 200, repr(r))
        r = s.get('/metrics', api=None)
        T.check('no audit write failures on /metrics',
                'attestd_audit_write_failures_total 0' in r.body.decode(), r.body[-600:])
        T.check('server alive', s.alive(), s.log())

    T.eq('audit log is 0600', stat.S_IMODE(os.stat(log).st_mode), 0o600)
    recs = records(log)
    T.eq('one record per change request', len(recs), len(sent), json.dumps(recs)[:1500])
    for i, (rec, (event, body, r, subject, status)) in enumerate(zip(recs, sent)):
        what = 'record %d (%s, %d)' % (i + 1, event, status)
        T.eq(what + ': event', rec.get('event'), event)
        T.eq(what + ': status', rec.get('status'), status)
        T.eq(what + ': outcome', rec.get('outcome'), 'ok' if status < 400 else r.error_code)
        T.eq(what + ': request id as the client saw it', rec.get('request_id'),
             r.headers.get('x-ms-request-id'))
        T.check(what + ': remote address and port', str(rec.get('remote', '')).startswith(
            '127.0.0.1:'), rec)
        T.eq(what + ': subject', rec.get('subject'), subject)
        T.eq(what + ': body_sha256', rec.get('body_sha256'), sha(body))
        T.check(what + ': time is RFC 3339 UTC', str(rec.get('time', '')).endswith('Z'), rec)
        if status >= 400:
            T.eq(what + ': message as answered', rec.get('message'), r.error_message)
        else:
            T.check(what + ': no message', 'message' not in rec, rec)
        if event.startswith('policy.'):
            T.check(what + ': policy type', rec.get('policy_type') in ('SgxEnclave', 'TdxVm'), rec)

    # keys rotate from the command line appends to the same file
    r = run([ATTESTD, '--data-dir', os.path.join(d, 'var'), '--audit-log', log, 'keys', 'rotate'])
    T.eq('keys rotate: exit 0', r.returncode, 0, r.stderr)
    recs = records(log)
    last = recs[-1] if recs else {}
    T.eq('keys rotate recorded', last.get('event'), 'keys.rotate', json.dumps(last))
    T.eq('... outcome ok', last.get('outcome'), 'ok')
    T.check('... with the new kid', bool(last.get('kid')) and last.get('kid') in r.stdout,
            '%r / %r' % (last, r.stdout))
    T.check('... by the local user', str(last.get('subject', '')).startswith('local:'), last)


def unwritable(d):
    r = run([ATTESTD, '--listen', '127.0.0.1:0', '--data-dir', os.path.join(d, 'var2'),
             '--audit-log', os.path.join(d, 'no', 'such', 'dir', 'audit.jsonl')])
    T.eq('an audit log that cannot be opened: exit 1', r.returncode, 1, r.stderr)
    T.check('... naming it', 'audit log' in r.stderr and 'no/such/dir' in r.stderr, r.stderr)
    r = run([ATTESTD, '--help'])
    T.check('--help lists --audit-log', '--audit-log' in r.stdout, r.stdout)


def main():
    d = tmpdir('attestd-audit-')
    idp = Idp(d, 'idp-audit')
    T.section(changes, d, idp)
    T.section(unwritable, d)


if __name__ == '__main__':
    T.run(main)
