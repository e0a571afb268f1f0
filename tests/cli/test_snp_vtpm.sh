#!/bin/sh
# attest snp verify with the vTPM quote of Azure evidence (docs/snp.md "The vTPM quote"): the
# quote files beside --hcl-report and the JSON evidence (--evidence: Trustee's az-snp-vtpm as
# published), verified with the AK of the runtime data; --tpm-nonce checked or extraData reported;
# a wrong nonce, a flipped PCR byte, a flipped quote byte and another VM's quote rejected (exit 1
# with the TPM error); usage errors (exit 2).
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
att_vectors_snp cli/test_snp_vtpm "$REPO" # the real SEV-SNP sets, or SKIP
V=$VSNP/azure-snp-vtpm
NONCE=6368616c6c656e6765 # "challenge", both quotes' extraData
AT_A=2025-01-01T00:00:00Z
AT_B=2026-01-01T00:00:00Z

verify() {
    "$ATTEST" snp verify --json "$@" >"$TMP/out.json" 2>"$TMP/err.txt"
    rc=$?
}
want() { # name, python condition over o
    python3 -c "import json,sys; o=json.load(open('$TMP/out.json')); sys.exit(0 if ($2) else 1)"
    r=$?
    [ $r -eq 0 ] || { echo "  $1: $(head -c 600 "$TMP/out.json") $(cat "$TMP/err.txt")"; }
    check "$1" $r
}
# vector A's HCL report with a quote
quote_a() { # QUOTE SIG PCRS (each "" for A's own) [more options]
    q=${1:-$V/hcl_report_a.tpm_quote.msg}
    s=${2:-$V/hcl_report_a.tpm_quote.sig_rsassa_raw}
    p=${3:-$V/hcl_report_a.tpm_pcrs_sha256_0-23.values}
    shift 3
    verify --hcl-report "$V/hcl_report_a.bin" --chain "$V/hcl_report_a.vcek_ask_ark.pem" \
        --tpm-quote "$q" --tpm-sig "$s" --tpm-pcrs "$p" --at $AT_A "$@"
}
# flip FILE OFFSET OUT: a copy with the low bit of one byte flipped
flip() {
    python3 -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); b[int(sys.argv[2])]^=1; open(sys.argv[3],'wb').write(b)" "$1" "$2" "$3"
}

# ---- accepted: the files beside --hcl-report, and the JSON evidence ----
quote_a "" "" "" --tpm-nonce $NONCE
check "hcl a with its quote and nonce: exit 0" $rc
want "hcl a vtpm json" 'o["verdict"]=="accept" and o["vtpm"]["verdict"]=="accept" and o["vtpm"]["nonce_checked"] is True and o["vtpm"]["extra_data"]=="'$NONCE'" and o["vtpm"]["signature_form"]=="bare" and o["vtpm"]["pcr_selection"][0]["pcrs"]==list(range(24)) and o["runtime_data"]["keys"][0]["kid"]=="HCLAkPub"'
verify --evidence "$V/evidence_b.json" --tpm-nonce $NONCE --at $AT_B
check "evidence_b.json (Trustee's form): exit 0" $rc
want "evidence_b vtpm json" 'o["verdict"]=="accept" and o["version"]==3 and o["cert_product"]=="Milan-B0" and o["vtpm"]["verdict"]=="accept" and o["vtpm"]["nonce_checked"] is True'
verify --evidence "$V/evidence_b.json" --at $AT_B
check "evidence_b.json without --tpm-nonce: exit 0" $rc
want "without a nonce: extraData reported, not checked" 'o["vtpm"]["nonce_checked"] is False and o["vtpm"]["extra_data"]=="'$NONCE'"'
"$ATTEST" snp verify --evidence "$V/evidence_b.json" --at $AT_B >"$TMP/text.txt" 2>&1
grep -q '^vtpm .*"verdict":"accept"' "$TMP/text.txt"
check "text output has the vtpm verdict" $?

# ---- rejected with the TPM error ----
quote_a "" "" "" --tpm-nonce 6368616c6c656e6766
[ $rc -eq 1 ]
check "a wrong nonce: exit 1" $?
want "a wrong nonce: ATT_E_TPM_NONCE" 'o["verdict"]=="reject" and o["error"]["code"]=="ATT_E_TPM_NONCE" and o["vtpm"]["verdict"]=="reject"'
flip "$V/hcl_report_a.tpm_pcrs_sha256_0-23.values" 200 "$TMP/pcrs"
quote_a "" "" "$TMP/pcrs" --tpm-nonce $NONCE
[ $rc -eq 1 ]
check "a flipped PCR byte: exit 1" $?
want "a flipped PCR byte: ATT_E_TPM_PCR_DIGEST" 'o["error"]["code"]=="ATT_E_TPM_PCR_DIGEST"'
flip "$V/hcl_report_a.tpm_quote.msg" 56 "$TMP/msg"
quote_a "$TMP/msg" "" "" --tpm-nonce $NONCE
[ $rc -eq 1 ]
check "a flipped quote byte: exit 1" $?
want "a flipped quote byte: ATT_E_TPM_SIGNATURE" 'o["error"]["code"]=="ATT_E_TPM_SIGNATURE"'
quote_a "$V/evidence_b.tpm_quote.msg" "$V/evidence_b.tpm_quote.sig_rsassa_raw" \
    "$V/evidence_b.tpm_pcrs_sha256_0-23.values"
[ $rc -eq 1 ]
check "another VM's quote: exit 1" $?
want "another VM's quote: ATT_E_TPM_SIGNATURE with the AK" 'o["error"]["code"]=="ATT_E_TPM_SIGNATURE" and "does not verify with the AK" in o["error"]["message"]'
python3 -c "
import json,sys; d=json.load(open(sys.argv[1])); d['tpm_quote']['pcrs']=d['tpm_quote']['pcrs'][:5]
json.dump(d, open(sys.argv[2],'w'))" "$V/evidence_b.json" "$TMP/short.json"
verify --evidence "$TMP/short.json" --at $AT_B
[ $rc -eq 1 ]
check "evidence with 5 PCR values: exit 1" $?
want "evidence with 5 PCR values: ATT_E_EVIDENCE_FORMAT" 'o["error"]["code"]=="ATT_E_EVIDENCE_FORMAT" and "PCR 5" in o["error"]["message"]'

# ---- usage (exit 2) ----
"$ATTEST" snp verify --hcl-report "$V/hcl_report_a.bin" --tpm-quote "$V/hcl_report_a.tpm_quote.msg" >/dev/null 2>&1
[ $? -eq 2 ]
check "--tpm-quote without --tpm-sig/--tpm-pcrs: exit 2" $?
"$ATTEST" snp verify --report "$V/hcl_report_a.snp.bin" --tpm-quote "$V/hcl_report_a.tpm_quote.msg" \
    --tpm-sig "$V/hcl_report_a.tpm_quote.sig_rsassa_raw" --tpm-pcrs "$V/hcl_report_a.tpm_pcrs_sha256_0-23.values" >/dev/null 2>&1
[ $? -eq 2 ]
check "quote files with --report (no runtime data): exit 2" $?
"$ATTEST" snp verify --evidence "$V/evidence_b.json" --tpm-nonce xyz >/dev/null 2>&1
[ $? -eq 2 ]
check "--tpm-nonce not hex: exit 2" $?
"$ATTEST" snp verify --evidence "$V/evidence_b.json" --report "$V/hcl_report_a.snp.bin" >/dev/null 2>&1
[ $? -eq 2 ]
check "--evidence and --report: exit 2" $?
"$ATTEST" snp verify --help | grep -q -- '--tpm-quote FILE' && "$ATTEST" snp verify --help | grep -q -- '--evidence FILE'
check "help names --tpm-quote and --evidence" $?

echo "cli/test_snp_vtpm: $pass passed, $fail failed"
[ $fail -eq 0 ]
