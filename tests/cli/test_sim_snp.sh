#!/bin/sh
# attest sim snp init/report (a simulated SEV-SNP fleet) against attest snp verify: every chip's
# report verifies with --kds-dir DIR --trust-root DIR/ark.pem and carries the fields asked for;
# the MAA JSON evidence's chain verifies it too; a wrong-hwID report and a report its VCEK's TCB
# does not match are rejected with the failed check; a report of another TCB verifies with that
# TCB's VCEK; without the trust root the chain is untrusted; Turin; usage errors (exit 2).
# RSA-2048 keeps it fast; no real vectors needed.
set -u
fail=0
pass=0
check() { # name, status (0 = pass)
    if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
F=$TMP/fleet

verify() { # ARGS... : attest snp verify --json into $TMP/out.json, sets rc
    "$ATTEST" snp verify --json "$@" >"$TMP/out.json" 2>"$TMP/err.txt"
    rc=$?
}
want() { # name, python condition over o (the JSON of the last verify)
    python3 -c "import json,sys; o=json.load(open('$TMP/out.json')); sys.exit(0 if ($2) else 1)"
    r=$?
    [ $r -eq 0 ] || echo "  $1: $(head -c 600 "$TMP/out.json") $(cat "$TMP/err.txt")"
    check "$1" $r
}

"$ATTEST" sim snp init "$F" --chips 3 --rsa-bits 2048 >"$TMP/init.txt" 2>&1
check "init exit 0" $?
[ -f "$F/ark.pem" ] && [ -f "$F/vcek/v1/Milan/cert_chain" ] && [ -f "$F/vcek/v1/Milan/crl" ] &&
    [ "$(wc -l <"$F/chips.txt")" -eq 3 ] && [ "$(stat -c %a "$F/sim/ask.key")" = 600 ]
check "init wrote the KDS layout, ark.pem, chips.txt and 0600 keys" $?
"$ATTEST" sim snp init "$F" --chips 3 --rsa-bits 2048 >/dev/null 2>"$TMP/err.txt"
[ $? -eq 1 ] && grep -q -- "--force" "$TMP/err.txt"
check "init refuses an existing fleet without --force" $?

# every chip: its report verifies through the KDS directory
for i in 0 1 2; do
    "$ATTEST" sim snp report "$F" --chip $i --report-data 0102030405 --host-data ff --vmpl 1 \
        --out "$TMP/r$i.bin"
    check "report chip $i exit 0" $?
    verify --report "$TMP/r$i.bin" --kds-dir "$F" --trust-root "$F/ark.pem"
    check "chip $i verifies with --kds-dir" $rc
    id=$(sed -n "$((i + 1))p" "$F/chips.txt")
    want "chip $i fields" "o['verdict']=='accept' and o['chip_id']=='$id' and o['report_data']=='0102030405'+'0'*118 and o['host_data']=='ff'+'0'*62 and o['vmpl']==1 and o['version']==3 and o['product']=='Milan' and o['amd_root'] is False"
done

# the MAA JSON evidence: SnpReport is the report, VcekCertChain (leaf, ASK, ARK) verifies it
"$ATTEST" sim snp report "$F" --chip 2 --version 5 --evidence "$TMP/ev.json"
check "evidence exit 0" $?
python3 - "$TMP" <<'PY'
import base64, json, sys
t = sys.argv[1]
e = json.load(open(t + "/ev.json"))
d = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
open(t + "/ev.bin", "wb").write(d(e["SnpReport"]))
open(t + "/ev_chain.pem", "wb").write(d(e["VcekCertChain"]))
PY
verify --report "$TMP/ev.bin" --chain "$TMP/ev_chain.pem" --trust-root "$F/ark.pem"
check "evidence chain verifies its report" $rc
want "evidence v5" "o['verdict']=='accept' and o['version']==5"

# without the trust root: untrusted
verify --report "$TMP/r0.bin" --kds-dir "$F"
[ $rc -eq 1 ]
check "no --trust-root: exit 1" $?
want "no --trust-root: untrusted root" "o['error']['code']=='ATT_E_CERT_UNTRUSTED_ROOT'"

# a wrong hwID (signature-valid): chip 1's VCEK, another chip_id
"$ATTEST" sim snp report "$F" --chip 1 --wrong-hwid --out "$TMP/wrong.bin"
id1=$(sed -n 2p "$F/chips.txt")
verify --report "$TMP/wrong.bin" --kds-dir "$F" --vcek "$F/vcek/v1/Milan/$id1" --trust-root "$F/ark.pem"
[ $rc -eq 1 ]
check "wrong hwid: exit 1" $?
want "wrong hwid: the VCEK is of another chip" "o['error']['code']=='ATT_E_SNP_CERT_MISMATCH' and 'another chip' in o['error']['message']"
verify --report "$TMP/wrong.bin" --kds-dir "$F" --trust-root "$F/ark.pem"
[ $rc -eq 1 ]
check "wrong hwid through the directory alone: exit 1 (no VCEK for that chip)" $?

# another TCB: signed by the fleet's VCEK -> mismatch; with that TCB's VCEK -> accepted
TCB=d90a000000000003 # Milan: bl 3, snp 10, ucode 217
FLEET_TCB=$(python3 -c "import json;print(json.load(open('$F/sim/snp.json'))['tcb'])")
"$ATTEST" sim snp report "$F" --chip 0 --tcb $TCB --key-tcb "$FLEET_TCB" --out "$TMP/tcb_bad.bin"
verify --report "$TMP/tcb_bad.bin" --kds-dir "$F" --trust-root "$F/ark.pem"
[ $rc -eq 1 ]
check "wrong tcb: exit 1" $?
want "wrong tcb: the VCEK is for another TCB" "o['error']['code']=='ATT_E_SNP_CERT_MISMATCH' and 'another TCB' in o['error']['message']"
"$ATTEST" sim snp report "$F" --chip 0 --tcb $TCB --out "$TMP/tcb.bin" --vcek-out "$TMP/tcb_vcek.der"
verify --report "$TMP/tcb.bin" --vcek "$TMP/tcb_vcek.der" --kds-dir "$F" --trust-root "$F/ark.pem"
check "a report of another TCB verifies with that TCB's VCEK" $rc
want "its TCB" "o['reported_tcb']['snp']==10 and o['reported_tcb']['microcode']==217"

# Turin: 8-byte chip ids in the KDS file names
T=$TMP/turin
"$ATTEST" sim snp init "$T" --product turin --rsa-bits 2048 >/dev/null
check "turin init" $?
"$ATTEST" sim snp report "$T" --chip 0 --out "$TMP/t.bin"
[ "$(head -1 "$T/chips.txt" | tr -d '\n' | wc -c)" -eq 16 ] && [ -f "$T/vcek/v1/Turin/$(head -1 "$T/chips.txt")" ]
check "turin: 8-byte chip id" $?
verify --report "$TMP/t.bin" --kds-dir "$T" --trust-root "$T/ark.pem"
check "turin verifies" $rc
want "turin product" "o['product']=='Turin'"

# usage errors: exit 2
for args in "report $F" "report $F --chip 3" "report $F --chip 0 --version 6" \
    "report $F --chip 0 --report-data 123" "report $F --chip 0 --vmpl 4" "init" \
    "init $TMP/x --chips 0" "init $TMP/x --product rome" "init $TMP/x --rsa-bits 1024" "frob"; do
    # shellcheck disable=SC2086
    "$ATTEST" sim snp $args >/dev/null 2>&1
    [ $? -eq 2 ]
    check "usage: sim snp $args -> exit 2" $?
done
"$ATTEST" sim snp report "$TMP/none" --chip 0 >/dev/null 2>&1
[ $? -eq 1 ]
check "report of a directory without a fleet: exit 1" $?

echo "test_sim_snp: $pass passed, $fail failed"
[ $fail -eq 0 ]
