#!/bin/sh
# attest quote verify/dump: exit codes, JSON shape, readable output, usage errors.
set -u
fail=0
pass=0
check() { # name, condition result
    if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/tests/tools/vectors.sh"
att_vectors cli/test_quote "$REPO" "$TMP" # the real vector sets, or SKIP
D=$VDCAP

# Accepted SGX set: exit 0, JSON verdict/status/advisories/fields.
"$ATTEST" quote verify --quote "$D/sgx-v3-fmspc00A067110000/quote.bin" \
    --collateral "$D/sgx-v3-fmspc00A067110000" --at 2025-07-01T00:00:00Z --json >"$TMP/sgx.json"
check "sgx exit 0" $?
python3 - "$TMP/sgx.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
assert o["verdict"] == "accept", o
assert o["status"] == "ConfigurationAndSWHardeningNeeded"
assert o["advisory_ids"] == ["INTEL-SA-00289", "INTEL-SA-00615"]
assert o["tee"] == "sgx" and o["error"] is None
assert o["mrenclave"] == "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
assert o["mrsigner"] == "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
assert o["isvprodid"] == 0 and o["isvsvn"] == 0 and o["debug"] is False
for k in ["attributes", "cpusvn", "miscselect", "configid", "configsvn", "report_data", "fmspc"]:
    assert k in o, k
assert o["verified_at"] == "2025-07-01T00:00:00Z"
PY
check "sgx json content" $?

# TDX set: report fields present.
"$ATTEST" quote verify --quote "$D/tdx-v4-fmspcB0C06F000000/quote.bin" \
    --collateral "$D/tdx-v4-fmspcB0C06F000000" --at 2025-07-01T00:00:00Z --json >"$TMP/tdx.json"
check "tdx exit 0" $?
python3 - "$TMP/tdx.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
assert o["verdict"] == "accept" and o["status"] == "UpToDate" and o["tee"] == "tdx"
for k in ["mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrseam", "mrsignerseam", "mrconfigid",
          "mrowner", "mrownerconfig", "td_attributes", "debug", "xfam", "tee_tcb_svn", "report_data"]:
    assert k in o, k
assert o["trailing_bytes"] == 70
PY
check "tdx json content" $?

# Rejected set: exit 1 with error code and message.
"$ATTEST" quote verify --quote "$D/tdx-v4-fmspc50806f000000-spr-e4/quote.bin" \
    --collateral "$D/tdx-v4-fmspc50806f000000-spr-e4" --at 2023-07-01T01:00:00Z --json >"$TMP/rej.json"
check "reject exit 1" $(( $? == 1 ? 0 : 1 ))
python3 -c "
import json,sys; o=json.load(open('$TMP/rej.json'))
assert o['verdict']=='reject' and o['error']['code']=='ATT_E_TCB_NOT_SUPPORTED', o
assert 'no TCB level matches' in o['error']['message']"
check "reject json content" $?

# Readable output names the verdict and status.
out=$("$ATTEST" quote verify --quote "$D/sgx-v3-fmspc00A067110000/quote.bin" \
    --collateral "$D/sgx-v3-fmspc00A067110000" --at 2025-07-01T00:00:00Z)
echo "$out" | grep -q "^verdict  *accept" && echo "$out" | grep -q "ConfigurationAndSWHardeningNeeded"
check "readable summary" $?

# Expired collateral by default time (now is far past 2025-07-19): rejected, not a usage error.
"$ATTEST" quote verify --quote "$D/sgx-v3-fmspc00A067110000/quote.bin" \
    --collateral "$D/sgx-v3-fmspc00A067110000" --json >"$TMP/now.json"
check "default time rejects expired collateral" $(( $? == 1 ? 0 : 1 ))
grep -q EXPIRED "$TMP/now.json"
check "expired code" $?

# Hex text quote accepted like binary.
od -An -tx1 -v "$D/sgx-v3-fmspc00A067110000/quote.bin" >"$TMP/quote.hex"
"$ATTEST" quote verify --quote "$TMP/quote.hex" --collateral "$D/sgx-v3-fmspc00A067110000" \
    --at 2025-07-01T00:00:00Z >/dev/null
check "hex quote" $?

# Collateral with PEM CRLs.
mkdir -p "$TMP/pem"
cp "$D/sgx-v3-fmspc00A067110000"/*.json "$D/sgx-v3-fmspc00A067110000"/*.pem "$TMP/pem/"
openssl crl -inform der -in "$D/sgx-v3-fmspc00A067110000/pck_crl.der" -out "$TMP/pem/pck_crl.pem"
openssl crl -inform der -in "$D/sgx-v3-fmspc00A067110000/root_ca_crl.der" -out "$TMP/pem/root_ca_crl.pem"
"$ATTEST" quote verify --quote "$D/sgx-v3-fmspc00A067110000/quote.bin" --collateral "$TMP/pem" \
    --at 2025-07-01T00:00:00Z >/dev/null
check "PEM CRLs" $?

# Usage and I/O errors: exit 2.
"$ATTEST" quote verify --quote "$D/sgx-v3-fmspc00A067110000/quote.bin" 2>/dev/null
check "missing --collateral" $(( $? == 2 ? 0 : 1 ))
"$ATTEST" quote verify --quote /nonexistent --collateral "$D/sgx-v3-fmspc00A067110000" 2>/dev/null
check "missing quote file" $(( $? == 2 ? 0 : 1 ))
mkdir "$TMP/empty" # (a directory of sets is read too: $TMP itself holds the pem/ set)
"$ATTEST" quote verify --quote "$D/sgx-v3-fmspc00A067110000/quote.bin" --collateral "$TMP/empty" 2>"$TMP/err"
check "empty collateral dir" $(( $? == 2 ? 0 : 1 ))
grep -q "tcb_info.json" "$TMP/err"
check "missing file named" $?
"$ATTEST" quote verify --quote "$D/sgx-v3-fmspc00A067110000/quote.bin" \
    --collateral "$D/sgx-v3-fmspc00A067110000" --at yesterday 2>/dev/null
check "bad --at" $(( $? == 2 ? 0 : 1 ))
"$ATTEST" quote frobnicate 2>/dev/null
check "unknown subcommand" $(( $? == 2 ? 0 : 1 ))
"$ATTEST" quote verify --help | grep -q "collateral"
check "help" $?

# dump: parses without verifying; malformed input exits 1 with the error code.
"$ATTEST" quote dump --quote "$D/tdx-v5-td15-fmspc90C06F000000-nomatch/quote.bin" --json >"$TMP/dump.json"
check "dump exit 0" $?
python3 -c "
import json; o=json.load(open('$TMP/dump.json'))
assert o['header']['version']==5 and o['body_type']=='td_report_1.5' and o['signed_len']==702
assert o['body']['tee_tcb_svn2']=='0d010300000000000000000000000000'
assert o['signature_data']['cert_type']==5 and o['signature_data']['outer_cert_type']==6"
check "dump content" $?
head -c 600 "$D/sgx-v3-fmspc00A067110000/quote.bin" >"$TMP/short.bin"
"$ATTEST" quote dump --quote "$TMP/short.bin" 2>"$TMP/err"
check "dump truncated exit 1" $(( $? == 1 ? 0 : 1 ))
grep -q ATT_E_QUOTE_TRUNCATED "$TMP/err"
check "dump truncated code" $?

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
