#!/bin/sh
# test_readme.sh - every `attest` command the README's "Using it" section lists exists: for each
# listed command (alternatives "a|b" and lists "x, y" expanded), `attest COMMAND [SUB] --help`
# exits 0 and prints a usage line. Run by ctest with ATTEST set.
set -u
: "${ATTEST:?ATTEST must point at the attest binary}"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
python3 - "$ATTEST" "$REPO/README.md" <<'PY'
import re, subprocess, sys
attest, readme = sys.argv[1], sys.argv[2]
text = open(readme).read()
sec = text.split('\n## Using it', 1)[1].split('\n## ', 1)[0]
cmds = set()
for line in sec.splitlines():
    m = re.match(r'\s+build/bin/attest (.*)', line)
    if not m:
        continue
    rest = re.split(r'\s{2,}\(', m.group(1))[0]  # drop the "(docs/...)" note
    for seg in rest.split(', '):
        words = []
        for w in seg.split():
            if w.startswith(('-', '[', '.')) or w != w.lower() or '/' in w or '=' in w:
                break
            words.append(w)
        if not words:
            continue
        alts = [a.split('|') for a in words[:2]]
        for a in alts[0]:
            for b in (alts[1] if len(alts) > 1 else [None]):
                cmds.add((a,) if b is None else (a, b))
fails = 0
print('commands:', ', '.join(' '.join(c) for c in sorted(cmds)))
for c in sorted(cmds):
    r = subprocess.run([attest, *c, '--help'], capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or 'usage' not in (r.stdout + r.stderr).lower():
        print('FAIL: attest %s --help: exit %d: %s' % (' '.join(c), r.returncode,
                                                     (r.stdout + r.stderr)[:200]))
        fails += 1
print('%d passed, %d failed' % (len(cmds) - fails, fails))
sys.exit(1 if fails or len(cmds) < 10 else 0)
PY
