#!/bin/sh
# attest tpm verify: every shared TPM vector and the Azure vTPM quotes (exit 0, the JSON the issue
# names), a real swtpm started by tests/tools/swtpm-quotes.sh (RSA and ECC AKs, sha1+sha256, TCG
# and IMA logs replayed), negatives (exit 1 with the failed check, JSON even for malformed input:
# wrong nonce, tampered PCR value, tampered quote, bad magic, wrong AK, a log that does not
# replay, truncation, trailing bytes), usage and I/O errors (exit 2).
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

verify() {
    "$ATTEST" tpm verify --json "$@" >"$TMP/out.json" 2>"$TMP/err.txt"
    rc=$?
}
want() { # name, python condition over o
    python3 -c "import json,sys; o=json.load(open('$TMP/out.json')); sys.exit(0 if ($2) else 1)"
    r=$?
    [ $r -eq 0 ] || echo "  $1: $(head -c 600 "$TMP/out.json")"
    check "$1" $r
}
rejects() { # name, code, message part
    [ "$rc" -eq 1 ]
    check "$1 exit 1 (got $rc)" $?
    want "$1 json" "o['verdict']=='reject' and o['error']['code']=='$2' and '''$3''' in o['error']['message']"
}

# ---- usage and I/O (exit 2) ----
"$ATTEST" tpm >/dev/null 2>&1
[ $? -eq 2 ]; check "no subcommand exit 2" $?
"$ATTEST" tpm verify --quote x >/dev/null 2>&1
[ $? -eq 2 ]; check "missing options exit 2" $?
"$ATTEST" tpm verify --help | grep -q "TPMS_ATTEST"
check "--help" $?
"$ATTEST" tpm verify --ak /nonexistent --quote x --sig x --pcrs x --nonce 00 >/dev/null 2>&1
[ $? -eq 2 ]; check "unreadable file exit 2" $?
"$ATTEST" tpm verify --ak x --quote x --sig x --pcrs x --nonce 0g >/dev/null 2>&1
[ $? -eq 2 ]; check "bad nonce hex exit 2" $?

# ---- a real swtpm ----
sh "$REPO/tests/tools/swtpm-quotes.sh" "$TMP/tpm" >"$TMP/swtpm.log" 2>&1
src=$?
if [ $src -eq 77 ]; then
    echo "SKIP cli/test_tpm (swtpm part): swtpm cannot start here: $(cat "$TMP/swtpm.log")"
elif [ $src -ne 0 ]; then
    cat "$TMP/swtpm.log"
    check "swtpm-quotes.sh" 1
else
    Q=$TMP/tpm
    for k in rsa ecc; do
        D=$Q/$k
        N=$(cat "$D/nonce.hex")
        verify --ak "$D/ak.tpm2b_public" --quote "$D/quote.msg" --sig "$D/quote.sig" \
            --pcrs "$D/pcrs.values" --nonce "$N" --eventlog "$Q/eventlog.bin" --ima "$Q/ima.ascii"
        check "swtpm $k exit 0" $rc
        E=$(python3 -c "import json;print(json.load(open('$Q/expect.json'))['kernel'])")
        want "swtpm $k json" "o['verdict']=='accept' and o['error'] is None and o['extra_data']=='$N' and o['signer_alg']==('rsassa' if '$k'=='rsa' else 'ecdsa') and o['firmware_version']=='0x2019102300163636' and o['secure_boot'] is True and o['kernel']['digests']['sha256']=='$E' and o['ak']['flags']['restricted'] and len(o['events'])==13 and all(e['verified'] for e in o['events'] if e.get('type')!=3)"
        verify --ak "$D/ak.pub.pem" --quote "$D/quote.plain.msg" --sig "$D/quote.plain.sig" \
            --pcrs "$D/pcrs.values" --nonce "$N" --ima "$Q/ima.bin"
        check "swtpm $k plain signature, binary IMA exit 0" $rc
        verify --ak "$D/ak.pub.pem" --quote "$D/quote256.msg" --sig "$D/quote256.sig" \
            --pcrs "$D/quote256.pcrs.values" --nonce "$N" --eventlog "$Q/eventlog.bin"
        check "swtpm $k 24 PCRs exit 0" $rc
        verify --ak "$D/ak.pub.pem" --quote "$D/quote.msg" --sig "$D/quote.sig" \
            --pcrs "$D/pcrs.values" --nonce "00$N"
        rejects "swtpm $k wrong nonce" ATT_E_TPM_NONCE "the expected nonce is 00"
        # a log that does not replay: the ascii IMA log without its last line
        head -n 3 "$Q/ima.ascii" >"$TMP/ima3"
        verify --ak "$D/ak.pub.pem" --quote "$D/quote.msg" --sig "$D/quote.sig" \
            --pcrs "$D/pcrs.values" --nonce "$N" --ima "$TMP/ima3"
        rejects "swtpm $k IMA does not replay" ATT_E_TPM_EVENTLOG_REPLAY "PCR 10 (sha1) does not replay"
        # the TCG log truncated
        head -c 300 "$Q/eventlog.bin" >"$TMP/log300"
        verify --ak "$D/ak.pub.pem" --quote "$D/quote.msg" --sig "$D/quote.sig" \
            --pcrs "$D/pcrs.values" --nonce "$N" --eventlog "$TMP/log300"
        rejects "swtpm $k truncated log" ATT_E_EVIDENCE_FORMAT "TCG event log: event"
    done
    # the other AK
    verify --ak "$Q/ecc/ak.pub.pem" --quote "$Q/rsa/quote.msg" --sig "$Q/rsa/quote.sig" \
        --pcrs "$Q/rsa/pcrs.values" --nonce "$(cat "$Q/rsa/nonce.hex")"
    rejects "swtpm wrong AK" ATT_E_TPM_AK "the AK is EC P-256"
fi

# ---- the shared vectors ----
att_vectors_tpm cli/test_tpm "$REPO" # the TPM sets, or SKIP (after the swtpm part)
V=$VTPM/swtpm-rsa
N=$(cat "$V/nonce.hex")
for ak in ak.pub.pem ak.tpm2b_public; do
    verify --ak "$V/$ak" --quote "$V/quote.msg" --sig "$V/quote.sig" --pcrs "$V/pcrs.values" --nonce "$N"
    check "swtpm-rsa $ak exit 0" $rc
    want "swtpm-rsa $ak json" "o['verdict']=='accept' and o['pcr_digest'].startswith('4d079415') and o['extra_data']=='$N' and o['clock']==23466 and o['firmware_version']=='0x2019102300163636' and o['signer_alg']=='rsassa' and o['reset_count']==2 and o['safe'] is True"
done
T=$VTPM/trustee-swtpm-evidence
verify --ak "$T/ak.pub.pem" --quote "$T/quote.msg" --sig "$T/quote.sig" --pcrs "$T/pcrs.values" --nonce "$(cat "$T/nonce.hex")"
check "trustee exit 0" $rc
S=$VTPM/../snp/azure-snp-vtpm
if [ -d "$S" ]; then
    for x in hcl_report_a evidence_b; do
        verify --ak "$S/$x.runtime_data.json" --quote "$S/$x.tpm_quote.msg" \
            --sig "$S/$x.tpm_quote.sig_rsassa_raw" --pcrs "$S/$x.tpm_pcrs_sha256_0-23.values" \
            --nonce 6368616c6c656e6765
        check "azure $x exit 0" $rc
        want "azure $x json" "o['verdict']=='accept' and o['extra_data']=='6368616c6c656e6765' and o['signature_form']=='bare' and o['firmware_version']=='0x2020031200120003'"
    done
fi
# negatives made from the vector
python3 - "$V" "$TMP" <<'PY'
import sys
v, t = sys.argv[1], sys.argv[2]
q = bytearray(open(v + '/quote.msg', 'rb').read())
p = bytearray(open(v + '/pcrs.values', 'rb').read())
b = bytearray(q); b[0] = 0xfe; open(t + '/badmagic', 'wb').write(b)
b = bytearray(q); b[-5] ^= 1; open(t + '/tampered', 'wb').write(b)
open(t + '/trailing', 'wb').write(q + b'\0')
open(t + '/short', 'wb').write(q[:40])
b = bytearray(p); b[16 * 0 + 300] ^= 1; open(t + '/pcrs', 'wb').write(b)
PY
base() { verify --ak "$V/ak.pub.pem" --quote "$1" --sig "$V/quote.sig" --pcrs "$2" --nonce "$N"; }
base "$TMP/badmagic" "$V/pcrs.values"
rejects "bad magic" ATT_E_EVIDENCE_FORMAT "magic is 0xfe544347"
base "$TMP/tampered" "$V/pcrs.values"
rejects "tampered quote" ATT_E_TPM_SIGNATURE "does not verify with the AK"
base "$TMP/trailing" "$V/pcrs.values"
rejects "trailing byte" ATT_E_EVIDENCE_FORMAT "followed by 1 bytes"
base "$TMP/short" "$V/pcrs.values"
rejects "truncated quote" ATT_E_EVIDENCE_FORMAT "does not unmarshal"
base "$V/quote.msg" "$TMP/pcrs"
rejects "tampered PCR" ATT_E_TPM_PCR_DIGEST "pcrDigest is 4d079415"
verify --ak "$V/ek.pem" --quote "$V/quote.msg" --sig "$V/quote.sig" --pcrs "$V/pcrs.values" --nonce "$N"
rejects "EK as AK" ATT_E_TPM_SIGNATURE "does not verify"
verify --ak "$V/quote.sig" --quote "$V/quote.msg" --sig "$V/quote.sig" --pcrs "$V/pcrs.values" --nonce "$N"
[ $rc -eq 1 ]; check "garbage AK exit 1" $?
want "garbage AK json" "o['verdict']=='reject' and o['error']['code'] in ('ATT_E_EVIDENCE_FORMAT','ATT_E_TPM_AK')"
verify --ak "$V/ak.pub.pem" --quote "$V/quote.msg" --sig "$V/quote.sig" --pcrs "$V/pcrs.values" --nonce "$N" --eventlog "$V/quote.msg"
rejects "not a TCG log" ATT_E_EVIDENCE_FORMAT "TCG event log"

echo "test_tpm: $pass passed, $fail failed"
[ $fail -eq 0 ]
