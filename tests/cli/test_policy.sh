#!/bin/sh
# test_policy.sh - `attest policy check|eval|default` end to end (run by ctest with ATTEST set).
set -u
: "${ATTEST:?ATTEST must point at the attest binary}"
HERE=$(cd "$(dirname "$0")" && pwd)
DATA="$HERE/../unit/policy/data"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
n=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect RC CMD...: run, keep stdout in $T/out and stderr in $T/err, check the exit code
expect() {
    want=$1; shift; n=$((n + 1))
    "$@" >"$T/out" 2>"$T/err"; rc=$?
    [ "$rc" -eq "$want" ] || { fail "exit $rc (want $want): $*"; sed 's/^/  | /' "$T/out" "$T/err"; }
}
has() { grep -qF -- "$1" "$T/$2" || { fail "missing '$1' in $2"; sed 's/^/  | /' "$T/$2"; }; }

# default + check: the documented SGX default parses; the 2018 default hashes as MAA's token says
for t in SgxEnclave OpenEnclave TdxVm SevSnpVm Tpm; do
    expect 0 "$ATTEST" policy default "$t"; cp "$T/out" "$T/$t.pol"
    expect 0 "$ATTEST" policy check "$T/$t.pol"; has "$T/$t.pol (version 1." out
done
expect 2 "$ATTEST" policy default VbsEnclave; has "unknown attestation type" err
expect 0 "$ATTEST" policy check "$DATA/examples/old_default.pol"
has "egjnANIzEpS2WgpE4Nk-QEwM69XRCgTs42_G0qLlbnk" out
expect 0 "$ATTEST" policy check --json "$DATA/examples/jmespath_1_2.pol"; has '"version": "1.2"' out
expect 0 sh -c "\"$ATTEST\" policy check - < \"$DATA/examples/tpm_1_1.pol\""

# syntax errors: FILE:LINE:COL and what was expected, exit 1
expect 1 "$ATTEST" policy check "$DATA/malformed/missing_arrow.pol"
has "missing_arrow.pol:4:36: error: expected '&&' or '=>' after the condition, found 'permit'" err
expect 1 "$ATTEST" policy check --json "$DATA/malformed/bad_version.pol"
has '"code": "PolicyParsingError"' out; has '"line": 2' out

# eval: permit/deny, claims, explain, json
expect 0 "$ATTEST" policy eval "$T/SgxEnclave.pol" --claims "$DATA/golden/sgx.claims.json"
has "permit" out; has '"product-id": 4639' out; has '"x-ms-sgx-tcbidentifier": "azuredefault"' out
expect 1 "$ATTEST" policy eval "$DATA/examples/custom_sgx.pol" --claims "$DATA/golden/sgx_svn0.claims.json" --explain
has "deny" out
has "authorizationrules rule 1 (line 4): no match: x-ms-sgx-svn was 0, the rule needs >= 1" out
expect 0 "$ATTEST" policy eval "$DATA/examples/jmespath_1_2.pol" --claims "$DATA/golden/events_secureboot_on.claims.json" --json --explain
python3 - "$T/out" <<'PY' || fail "eval --json output"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["decision"] == "permit", o
assert o["claims"] == {"secureBootEnabled": True}, o["claims"]
assert len(o["trace"]) == 4 and o["trace"][3]["matched"] is False, o["trace"]
assert len(o["policy_hash"]) == 43
PY
expect 1 "$ATTEST" policy eval "$DATA/examples/multi_enclave.pol" --claims "$DATA/golden/sgx.claims.json" --json
has '"decision": "deny"' out

# usage and I/O errors: exit 2
expect 2 "$ATTEST" policy
expect 2 "$ATTEST" policy eval "$T/SgxEnclave.pol"
expect 2 "$ATTEST" policy eval "$T/SgxEnclave.pol" --claims "$T/nope.json"
expect 2 "$ATTEST" policy check "$T/nope.pol"
expect 2 "$ATTEST" policy frob
printf '[1]' > "$T/bad.json"
expect 2 "$ATTEST" policy eval "$T/SgxEnclave.pol" --claims "$T/bad.json"
for c in check eval default; do expect 0 "$ATTEST" policy $c --help; has "usage: attest policy $c" out; done
expect 0 "$ATTEST" policy --help

echo "$n checks, $fails failed"
[ "$fails" -eq 0 ]
