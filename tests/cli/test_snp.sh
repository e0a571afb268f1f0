#!/bin/sh
# attest snp verify/dump on the shared SEV-SNP vectors: each vector's verdict at its time (exit
# 0/1), the JSON the issue names, negatives made from the vectors (exit 1 with the failed check),
# --kds-dir, --kds against a KDS stand-in on loopback (every vector's VCEK fetched; a missing or
# garbage CRL, another chip's VCEK, KDS unreachable), --hcl-report (Azure: accepted, a changed
# runtime-data byte rejected), usage and I/O errors (exit 2).
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
att_vectors_snp cli/test_snp "$REPO" # the real SEV-SNP sets, or SKIP
V=$VSNP

# verify ARGS... : runs attest snp verify --json into $TMP/out.json, sets rc
verify() {
    "$ATTEST" snp verify --json "$@" >"$TMP/out.json" 2>"$TMP/err.txt"
    rc=$?
}
# jq-like assertion in python: expr over o
want() { # name, python condition over o
    python3 -c "import json,sys; o=json.load(open('$TMP/out.json')); sys.exit(0 if ($2) else 1)"
    r=$?
    [ $r -eq 0 ] || { echo "  $1: $(cat "$TMP/out.json" | head -c 600)"; }
    check "$1" $r
}

# ---- every vector at its verification time (README of the vectors) ----
verify --report "$V/go-sev-guest/report.bin" --vcek "$V/go-sev-guest/vcek.der" --at 2025-01-01T00:00:00Z
check "go-sev-guest exit 0" $rc
want "go-sev-guest json" 'o["verdict"]=="accept" and o["error"] is None and o["version"]==2 and o["product"]=="Milan" and o["signing_key"]=="vcek" and o["vmpl"]==0 and o["debug"] is True and o["policy"]==0xb0000 and o["measurement"].startswith("b07af9620f3b839b") and o["report_data"].startswith("0102030405000000") and o["host_data"]=="0"*64 and o["chip_id"].startswith("3ac3fe21e13fb099") and o["reported_tcb"]=={"bootloader":2,"tee":0,"snp":5,"microcode":68,"raw":"0x4405000000000002"}'

verify --report "$V/trustee/report_vcek_milan.bin" --vcek "$V/trustee/vcek_milan.der" \
    --chain "$V/amd-roots/cert_chain_milan_ask_ark.pem" --at 2025-01-01T00:00:00Z
check "trustee vcek exit 0" $rc
want "trustee vcek json" 'o["verdict"]=="accept" and o["debug"] is False and o["reported_tcb"]["snp"]==8 and o["reported_tcb"]["microcode"]==115 and o["current_tcb"]["microcode"]==0xce'

verify --report "$V/trustee/report_vlek_milan.bin" --vlek "$V/trustee/vlek_milan.der" --at 2025-06-01T00:00:00Z
check "trustee vlek exit 0 at 2025-06-01" $rc
want "trustee vlek json" 'o["verdict"]=="accept" and o["signing_key"]=="vlek" and o["vmpl"]==1 and o["version"]==3 and o["chip_id"]=="0"*128 and o["reported_tcb"]["microcode"]==217 and o["csp_id"]=="CN=cc-us-east-2.amazonaws.com"'

verify --report "$V/trustee/report_vlek_milan.bin" --vlek "$V/trustee/vlek_milan.der" --at 2026-01-01T00:00:00Z
[ $rc -eq 1 ]
check "trustee vlek expired exit 1" $?
want "trustee vlek expired json" 'o["verdict"]=="reject" and o["error"]["code"]=="ATT_E_CERT_EXPIRED" and "2025-12-10" in o["error"]["message"]'

verify --report "$V/trustee-e2e-genoa/report.bin" --vcek "$V/trustee-e2e-genoa/vcek_genoa.der" --at 2026-01-01T00:00:00Z
check "genoa exit 0" $rc
want "genoa json" 'o["verdict"]=="accept" and o["product"]=="Genoa" and o["reported_tcb"]["bootloader"]==10 and o["reported_tcb"]["snp"]==23 and o["chip_id"].startswith("371c55d6d15cb50f")'

verify --report "$V/azure-snp-vtpm/hcl_report_a.snp.bin" --chain "$V/azure-snp-vtpm/hcl_report_a.vcek_ask_ark.pem" --at 2025-01-01T00:00:00Z
check "azure a (THIM bundle) exit 0" $rc
want "azure a json" 'o["verdict"]=="accept" and o["measurement"].startswith("9ac48fcac8a2d88a") and o["report_data"]=="b3fbad6514c83caeb0380882145e49f794229ef37c421b91fc47ff93556bafac"+"0"*64'

verify --report "$V/azure-snp-vtpm/evidence_b.snp.bin" --vcek "$V/azure-snp-vtpm/evidence_b.vcek.der" --at 2026-01-01T00:00:00Z
check "azure b exit 0" $rc
want "azure b json" 'o["verdict"]=="accept" and o["version"]==3 and o["reported_tcb"]["microcode"]==219'

verify --report "$V/gcp-teekit/report_v5.bin" --vcek "$V/gcp-teekit/vcek.pem" --chain "$V/gcp-teekit/cert_chain_milan.pem" --at 2026-06-01T00:00:00Z
check "gcp v5 exit 0" $rc
want "gcp v5 json" 'o["verdict"]=="accept" and o["version"]==5 and o["launch_mit_vector"]=="0x000000000000000b" and o["reported_tcb"]["microcode"]==222'

# ---- negatives made from the vectors: exit 1, the failed check in error ----
python3 - "$V/trustee/report_vcek_milan.bin" "$TMP" <<'PY'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
out = sys.argv[2]
def w(name, data): open(out + '/' + name, 'wb').write(bytes(data))
f = bytearray(b); f[0x90] ^= 1; w('flip.bin', f)
s = bytearray(b); s[0x2A0:0x2E8], s[0x2E8:0x330] = b[0x2E8:0x330], b[0x2A0:0x2E8]; w('rs.bin', s)
w('trunc.bin', b[:0x300])
v = bytearray(b); v[0:4] = (1).to_bytes(4, 'little'); w('v1.bin', v)
r = bytearray(b); r[0x208] = 1; w('rsvd.bin', r)
p = bytearray(b); p[0x0A] &= 0xFD; w('p17.bin', p)
PY
for c in "flip.bin ATT_E_SNP_REPORT_SIGNATURE signature" "rs.bin ATT_E_SNP_REPORT_SIGNATURE signature" \
         "trunc.bin ATT_E_EVIDENCE_FORMAT signature_S" "v1.bin ATT_E_EVIDENCE_FORMAT version_1" \
         "rsvd.bin ATT_E_EVIDENCE_FORMAT 0x208" "p17.bin ATT_E_EVIDENCE_FORMAT bit_17"; do
    set -- $c
    verify --report "$TMP/$1" --vcek "$V/trustee/vcek_milan.der" --at 2025-01-01T00:00:00Z
    [ $rc -eq 1 ]
    check "$1 exit 1" $?
    want "$1 json" "o['verdict']=='reject' and o['error']['code']=='$2' and '$3'.replace('_',' ') in o['error']['message']"
done
verify --report "$V/trustee/report_vcek_milan.bin" --vcek "$V/go-sev-guest/vcek.der" --at 2025-01-01T00:00:00Z
[ $rc -eq 1 ]
check "vcek of another chip exit 1" $?
want "vcek of another chip json" 'o["error"]["code"]=="ATT_E_SNP_CERT_MISMATCH" and "another chip" in o["error"]["message"]'
cat "$V/amd-roots/ask_genoa.pem" "$V/amd-roots/ark_genoa.pem" >"$TMP/genoa_chain.pem"
verify --report "$V/trustee/report_vcek_milan.bin" --vcek "$V/trustee/vcek_milan.der" --chain "$TMP/genoa_chain.pem" --at 2025-01-01T00:00:00Z
[ $rc -eq 1 ]
check "genoa chain for milan vcek exit 1" $?
want "genoa chain json" 'o["error"]["code"]=="ATT_E_CERT_ISSUER" and "another product" in o["error"]["message"]'
verify --report "$V/go-sev-guest/report.bin" --vcek "$V/go-sev-guest/vcek.der" --at 2030-01-01T00:00:00Z
[ $rc -eq 1 ]
check "vcek outside validity exit 1" $?
want "vcek outside validity json" 'o["error"]["code"]=="ATT_E_CERT_EXPIRED"'

# ---- --kds-dir: files laid out as KDS serves them ----
mkdir -p "$TMP/kds/vcek/v1/Milan"
cp "$V/amd-roots/cert_chain_milan_ask_ark.pem" "$TMP/kds/vcek/v1/Milan/cert_chain"
chip=$("$ATTEST" snp dump --report "$V/trustee/report_vcek_milan.bin" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["chip_id"])')
cp "$V/trustee/vcek_milan.der" "$TMP/kds/vcek/v1/Milan/$chip"
verify --report "$V/trustee/report_vcek_milan.bin" --kds-dir "$TMP/kds" --at 2025-01-01T00:00:00Z
check "kds-dir exit 0" $rc
printf 'not a crl' >"$TMP/kds/vcek/v1/Milan/crl"
verify --report "$V/trustee/report_vcek_milan.bin" --kds-dir "$TMP/kds" --at 2025-01-01T00:00:00Z
[ $rc -eq 1 ]
check "kds-dir bad crl exit 1" $?
want "kds-dir bad crl json" 'o["error"]["code"]=="ATT_E_CRL_PARSE"'

# ---- --kds URL: a KDS stand-in on loopback (tests/tools/kds_server.py) ----
KS="$TMP/kdssrv"
python3 - "$V" "$KS" "$ATTEST" <<'PY'
import json, os, subprocess, sys, base64
v, ks, attest = sys.argv[1:4]
def der(path):
    b = open(path, 'rb').read()
    if not b.startswith(b'-----BEGIN'):
        return b
    lines = b.decode().split('-----END CERTIFICATE-----')[0].splitlines()
    return base64.b64decode(''.join(l for l in lines if l and not l.startswith('-----')))
for rep, cert in [('go-sev-guest/report.bin', 'go-sev-guest/vcek.der'),
                  ('trustee/report_vcek_milan.bin', 'trustee/vcek_milan.der'),
                  ('trustee-e2e-genoa/report.bin', 'trustee-e2e-genoa/vcek_genoa.der'),
                  ('azure-snp-vtpm/hcl_report_a.snp.bin', 'azure-snp-vtpm/hcl_report_a.vcek_ask_ark.pem'),
                  ('azure-snp-vtpm/evidence_b.snp.bin', 'azure-snp-vtpm/evidence_b.vcek.der'),
                  ('gcp-teekit/report_v5.bin', 'gcp-teekit/vcek.pem')]:
    o = json.loads(subprocess.check_output([attest, 'snp', 'dump', '--json', '--report', v + '/' + rep]))
    product = 'Milan' if o['product'] == 'unknown' else o['product']
    d = os.path.join(ks, 'vcek', 'v1', product)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, o['chip_id']), 'wb').write(der(v + '/' + cert))
PY
python3 "$REPO/tests/tools/kds_server.py" --count-file "$TMP/kds_requests.log" "$KS" >"$TMP/kds_port" 2>"$TMP/kds_err" &
KDS_PID=$!
trap 'kill $KDS_PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do [ -s "$TMP/kds_port" ] && break; sleep 0.1; done
KDS="http://127.0.0.1:$(head -n1 "$TMP/kds_port")"
for c in "go-sev-guest/report.bin 2025-01-01" "trustee/report_vcek_milan.bin 2025-01-01" \
         "trustee-e2e-genoa/report.bin 2026-01-01" "azure-snp-vtpm/hcl_report_a.snp.bin 2025-01-01" \
         "azure-snp-vtpm/evidence_b.snp.bin 2026-01-01" "gcp-teekit/report_v5.bin 2026-06-01"; do
    set -- $c
    verify --report "$V/$1" --kds "$KDS" --no-crl --at "$2T00:00:00Z"
    check "--kds $1 exit 0" $rc
    want "--kds $1 json" 'o["verdict"]=="accept" and o["signing_key"]=="vcek"'
done
tail -n1 "$TMP/kds_requests.log" | grep -q '^GET /vcek/v1/Milan/[0-9a-f]\{128\}?blSPL=04&teeSPL=00&snpSPL=27&ucodeSPL=222$'
check "--kds asks for the VCEK of the chip at its reported TCB" $?
n0=$(wc -l <"$TMP/kds_requests.log")
verify --report "$V/trustee/report_vcek_milan.bin" --vcek "$V/trustee/vcek_milan.der" --kds "$KDS" --no-crl --at 2025-01-01T00:00:00Z
[ $rc -eq 0 ] && [ "$(wc -l <"$TMP/kds_requests.log")" -eq "$n0" ]
check "--kds with --vcek and --no-crl fetches nothing" $?
# the CRL is fetched unless --no-crl: the stand-in has none (404, exit 2), then garbage (exit 1)
verify --report "$V/trustee/report_vcek_milan.bin" --kds "$KDS" --at 2025-01-01T00:00:00Z
[ $rc -eq 2 ] && grep -q 'HTTP 404 for the Milan VCEK CRL (GET http://127.0.0.1:[0-9]*/vcek/v1/Milan/crl)' "$TMP/err.txt"
check "--kds CRL missing exit 2" $?
printf 'not a crl' >"$KS/vcek/v1/Milan/crl"
verify --report "$V/trustee/report_vcek_milan.bin" --kds "$KDS" --at 2025-01-01T00:00:00Z
[ $rc -eq 1 ]
check "--kds garbage CRL exit 1" $?
want "--kds garbage CRL json" 'o["verdict"]=="reject" and o["error"]["code"]=="ATT_E_CRL_PARSE" and "the Milan VCEK CRL from http://127.0.0.1" in o["error"]["message"]'
rm "$KS/vcek/v1/Milan/crl"
# a VCEK of another chip served under this chip's URL: refused before verification
chip=$("$ATTEST" snp dump --report "$V/trustee/report_vcek_milan.bin" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["chip_id"])')
cp "$KS/vcek/v1/Milan/$chip" "$TMP/vcek_keep"
cp "$V/go-sev-guest/vcek.der" "$KS/vcek/v1/Milan/$chip"
verify --report "$V/trustee/report_vcek_milan.bin" --kds "$KDS" --no-crl --at 2025-01-01T00:00:00Z
[ $rc -eq 1 ]
check "--kds VCEK of another chip exit 1" $?
want "--kds VCEK of another chip json" 'o["error"]["code"]=="ATT_E_COLL_FORMAT" and "another chip" in o["error"]["message"]'
cp "$TMP/vcek_keep" "$KS/vcek/v1/Milan/$chip"
# KDS unreachable (nothing listens on loopback port 1): an I/O error
verify --report "$V/trustee/report_vcek_milan.bin" --kds http://127.0.0.1:1 --no-crl --at 2025-01-01T00:00:00Z
[ $rc -eq 2 ] && grep -q 'ATT_E_FETCH' "$TMP/err.txt"
check "--kds unreachable exit 2" $?

# ---- --hcl-report: the SNP report inside Azure's HCL report, and its runtime data's binding ----
verify --hcl-report "$V/azure-snp-vtpm/hcl_report_a.bin" --chain "$V/azure-snp-vtpm/hcl_report_a.vcek_ask_ark.pem" --at 2025-01-01T00:00:00Z
check "hcl a exit 0" $rc
want "hcl a json" 'o["verdict"]=="accept" and o["runtime_data"]["keys"][0]["kid"]=="HCLAkPub" and "vm-configuration" in o["runtime_data"] and o["report_data"].startswith("b3fbad6514c83cae")'
verify --hcl-report "$V/azure-snp-vtpm/evidence_b.hcl_report.bin" --kds "$KDS" --no-crl --at 2026-01-01T00:00:00Z
check "hcl b with --kds exit 0" $rc
want "hcl b json" 'o["verdict"]=="accept" and o["version"]==3 and o["runtime_data"]["keys"][1]["kid"]=="HCLEkPub"'
python3 - "$V/azure-snp-vtpm/hcl_report_a.bin" "$TMP/hcl_changed.bin" <<'PY'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
i = b.index(b'HCLAkPub', 0x4C0)
b[i + 7] ^= 0x01  # "HCLAkPub" -> "HCLAkPuc": still JSON, no longer the bound bytes
open(sys.argv[2], 'wb').write(b)
PY
verify --hcl-report "$TMP/hcl_changed.bin" --chain "$V/azure-snp-vtpm/hcl_report_a.vcek_ask_ark.pem" --at 2025-01-01T00:00:00Z
[ $rc -eq 1 ]
check "hcl changed runtime data exit 1" $?
want "hcl changed runtime data json" 'o["verdict"]=="reject" and o["error"]["code"]=="ATT_E_EVIDENCE_BINDING" and o["runtime_data"]["keys"][0]["kid"]=="HCLAkPuc"'
head -c 100 "$V/azure-snp-vtpm/hcl_report_a.bin" >"$TMP/hcl_trunc.bin"
verify --hcl-report "$TMP/hcl_trunc.bin" --at 2025-01-01T00:00:00Z
[ $rc -eq 1 ]
check "hcl truncated exit 1" $?
want "hcl truncated json" 'o["verdict"]=="reject" and o["error"]["code"]=="ATT_E_EVIDENCE_FORMAT" and "HCL report" in o["error"]["message"]'

# ---- dump ----
"$ATTEST" snp dump --report "$V/gcp-teekit/report_v5.bin" --json >"$TMP/out.json"
check "dump exit 0" $?
want "dump json" 'o["version"]==5 and o["product"]=="Milan" and o["cpuid_family_model_step"]=="0x19/0x01/1" and "error" not in o'
"$ATTEST" snp dump --report "$TMP/trunc.bin" --json >"$TMP/out.json"
[ $? -eq 1 ]
check "dump truncated exit 1" $?
want "dump truncated json" 'o["error"]["code"]=="ATT_E_EVIDENCE_FORMAT"'
"$ATTEST" snp dump --report "$V/gcp-teekit/report_v5.bin" | grep -q '^measurement  *b747d55452e0b9e9'
check "dump readable" $?

# ---- usage and I/O: exit 2 ----
"$ATTEST" snp verify --vcek "$V/go-sev-guest/vcek.der" >/dev/null 2>&1
[ $? -eq 2 ]
check "no --report exit 2" $?
"$ATTEST" snp verify --report "$TMP/absent.bin" >/dev/null 2>&1
[ $? -eq 2 ]
check "missing file exit 2" $?
"$ATTEST" snp verify --report "$V/go-sev-guest/report.bin" --at yesterday >/dev/null 2>&1
[ $? -eq 2 ]
check "bad --at exit 2" $?
"$ATTEST" snp verify --report "$V/go-sev-guest/report.bin" --vcek a --vlek b >/dev/null 2>&1
[ $? -eq 2 ]
check "--vcek and --vlek exit 2" $?
"$ATTEST" snp frobnicate >/dev/null 2>&1
[ $? -eq 2 ]
check "unknown subcommand exit 2" $?
"$ATTEST" snp verify --help | grep -q -- '--kds-dir DIR'
check "help names --kds-dir" $?
"$ATTEST" snp verify --help | grep -q -- '--kds URL' && "$ATTEST" snp verify --help | grep -q -- '--hcl-report FILE'
check "help names --kds and --hcl-report" $?
"$ATTEST" snp verify --report "$V/go-sev-guest/report.bin" --hcl-report "$V/azure-snp-vtpm/hcl_report_a.bin" >/dev/null 2>&1
[ $? -eq 2 ]
check "--report and --hcl-report exit 2" $?
"$ATTEST" snp verify --report "$V/go-sev-guest/report.bin" --no-crl >/dev/null 2>&1
[ $? -eq 2 ]
check "--no-crl without --kds exit 2" $?

echo "test_snp: $pass passed, $fail failed"
[ $fail -eq 0 ]
