#!/bin/sh
# Every error code of the library is documented in docs/errors.md, and nothing stale is.
set -u
fail=0
codes=$("$ATTEST" errors | awk '{print $2}')
n=0
for c in $codes; do
    n=$((n + 1))
    grep -q "\`$c\`" "$DOCS/errors.md" || { echo "FAIL: $c missing from docs/errors.md"; fail=$((fail + 1)); }
done
for c in $(grep -o '`ATT_[A-Z0-9_]*`' "$DOCS/errors.md" | tr -d '`' | sort -u); do
    echo "$codes" | grep -qx "$c" || { echo "FAIL: docs/errors.md lists unknown $c"; fail=$((fail + 1)); }
done
echo "$((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
