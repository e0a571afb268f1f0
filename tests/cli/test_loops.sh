#!/bin/sh
# test_loops.sh - the loops a user walks (issue 16), on loopback with a simulated platform:
#  - attest collateral fetch from the sim collateral server into a bundle; an attestd with no
#    network source (--collateral-dir BUNDLE only) verifies a quote from it; quote verify reads
#    the bundle (a directory of sets) too;
#  - quote verify --json gives the claims policy eval --claims takes; policy eval --quote and
#    --token;
#  - attest submit / run with --runtime-data-type json and with no runtime data;
#  - attest policy get/set/reset (unsigned; signed against an isolated attestd) and attest
#    certificates get/add/remove.
# Run by ctest with ATTEST set (ATTESTD defaults to its sibling).
set -u
: "${ATTEST:?ATTEST must point at the attest binary}"
ATTESTD=${ATTESTD:-$(dirname "$ATTEST")/attestd}
T=$(mktemp -d)
PIDS=
cleanup() {
    for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
pass=0
fails=0
ok() { pass=$((pass + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() { # expect CODE CMD...: output in $T/out and $T/err
    want=$1; shift
    "$@" >"$T/out" 2>"$T/err"; rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else
        fail "exit $rc (want $want): $*"; sed 's/^/  | /' "$T/out" "$T/err"; fi
}
has() { # has TEXT FILE
    if grep -qF -- "$1" "$T/$2"; then ok; else fail "missing '$1' in $2"; sed 's/^/  | /' "$T/$2"; fi
}
hasnt() {
    if grep -qF -- "$1" "$T/$2"; then fail "unexpected '$1' in $2"; sed 's/^/  | /' "$T/$2"; else ok; fi
}
wait_line() { # wait_line FILE SED-EXPR PID
    i=0
    while [ $i -lt 100 ]; do
        v=$(sed -n "$2" "$1" 2>/dev/null | head -1)
        [ -n "$v" ] && { echo "$v"; return 0; }
        kill -0 "$3" 2>/dev/null || break
        sleep 0.1; i=$((i + 1))
    done
    return 1
}
claim() { # claim TOKEN-FILE PYTHON-EXPR-ON-c: prints the value
    python3 - "$1" "$2" <<'PY'
import base64, json, sys
p = open(sys.argv[1]).read().strip().split('.')[1]
c = json.loads(base64.urlsafe_b64decode(p + '=' * (-len(p) % 4)))
print(json.dumps(eval(sys.argv[2])))
PY
}
attestd() { # attestd NAME ARGS...: start, URL in $URL
    n=$1; shift
    "$ATTESTD" --listen 127.0.0.1:0 --data-dir "$T/$n.var" "$@" >"$T/$n.out" 2>"$T/$n.err" &
    PIDS="$PIDS $!"
    if URL=$(wait_line "$T/$n.out" 's/^issuer: \(http[^ ]*\)$/\1/p' "$!"); then ok; else
        fail "attestd $n did not start"; sed 's/^/  | /' "$T/$n.err"; URL=http://127.0.0.1:1; fi
}

S=$T/sim
printf 'enclave key 0123456789' >"$T/rt.bin"
expect 0 "$ATTEST" sim init "$S/"
has "trust root: $S/trust_root.pem" out # not "sim//trust_root.pem"
"$ATTEST" sim collateral-server --dir "$S" --quiet >"$T/cs.out" 2>"$T/cs.err" &
CS_PID=$!
PIDS="$PIDS $CS_PID"
if CURL=$(wait_line "$T/cs.out" '/^http:\/\/127\.0\.0\.1:[0-9]*$/p' "$CS_PID"); then ok; else
    fail "collateral server did not start"; CURL=http://127.0.0.1:1; fi
FMSPC=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tcbInfo']['fmspc'])" \
        "$S/collateral/sgx/tcb_info.json")

# ---- 5. air-gapped collateral: fetch a bundle, verify with no network source
expect 0 "$ATTEST" collateral --help; has "--fmspc" out
expect 2 "$ATTEST" collateral fetch --fmspc "$FMSPC"; has "--out" err
expect 2 "$ATTEST" collateral fetch --out "$T/b0" --fmspc 00A0671100; has "12 hex" err
# without the sim root the sets fail their signature checks: nothing written, exit 1
expect 1 "$ATTEST" collateral fetch --out "$T/b0" --fmspc "$FMSPC" --pcs-url "$CURL"
has "not written" err
if [ -z "$(find "$T/b0" -type f)" ]; then ok; else fail "unchecked set written"; fi
# an FMSPC the source has nothing for: exit 1, named
expect 1 "$ATTEST" collateral fetch --out "$T/b0" --fmspc 112233445566 --pcs-url "$CURL" \
    --trust-root "$S/trust_root.pem"
has "HTTP 404" err
B=$T/bundle
expect 0 "$ATTEST" collateral fetch --out "$B" --fmspc "$FMSPC" --type sgx,tdx --pcs-url "$CURL" \
    --trust-root "$S/trust_root.pem"
has "dcap/sgx/$(echo "$FMSPC" | tr 'A-F' 'a-f')/processor" out
has "dcap/tdx/" out
has "platform: not served" err # the sim serves one PCK CA's CRL: the other is skipped, said so
for f in tcb_info.json tcb_info_issuer_chain.pem qe_identity.json qe_identity_issuer_chain.pem \
         pck_crl.der root_ca_crl.der; do
    if [ -s "$B/dcap-sgx-$(echo "$FMSPC" | tr 'A-F' 'a-f')-processor/$f" ]; then ok; else
        fail "bundle: no $f"; fi
done
# AMD SEV-SNP into the same bundle: a simulated fleet behind the KDS stand-in
F=$T/fleet
expect 0 "$ATTEST" sim snp init "$F" --chips 2 --rsa-bits 2048
expect 0 "$ATTEST" sim snp report "$F" --chip 1 --out "$T/snp.bin"
python3 "$(dirname "$0")/../tools/kds_server.py" "$F" >"$T/kds.out" 2>"$T/kds.err" &
KDS_PID=$!
PIDS="$PIDS $KDS_PID"
if KP=$(wait_line "$T/kds.out" '/^[0-9][0-9]*$/p' "$KDS_PID"); then ok; else fail "KDS stand-in did not start"; KP=1; fi
expect 0 "$ATTEST" collateral fetch --out "$B" --snp-report "$T/snp.bin" --kds-url "http://127.0.0.1:$KP" \
    --trust-root "$F/ark.pem"
has "kds/milan/vcek/$(sed -n 2p "$F/chips.txt")" out
has "kds/milan/crl" out
for f in vcek/v1/Milan/crl vcek/v1/Milan/cert_chain "vcek/v1/Milan/$(sed -n 2p "$F/chips.txt")"; do
    if [ -s "$B/$f" ]; then ok; else fail "bundle: no $f"; fi
done
expect 2 "$ATTEST" collateral fetch --out "$B" --snp-chip "Milan:00:0000000000000000"; has "PRODUCT:HWID:TCB" err
expect 1 "$ATTEST" collateral fetch --out "$T/b1" --snp-product genoa --kds-url "http://127.0.0.1:$KP" \
    --trust-root "$F/ark.pem"
has "HTTP 404" err
expect 0 "$ATTEST" snp verify --report "$T/snp.bin" --kds-dir "$B" --trust-root "$F/ark.pem"

# the collateral server and KDS are gone: only the bundle remains
kill -TERM "$CS_PID" "$KDS_PID"; wait "$CS_PID" "$KDS_PID" 2>/dev/null
ROOTS="--trust-root $S/trust_root.pem --trust-root $F/ark.pem" # the bundle's sets check against both
# shellcheck disable=SC2086
attestd off --collateral-dir "$B" $ROOTS
OFF=$URL
python3 -c "import base64,json,sys; print(json.dumps({'report': base64.urlsafe_b64encode(open(sys.argv[1],'rb').read()).decode().rstrip('=')}))" \
    "$T/snp.bin" >"$T/snp.req"
code=$(curl -s -o "$T/snp.ans" -w '%{http_code}' -X POST "$OFF/attest/SevSnpVm?api-version=2022-08-01" \
    -H 'content-type: application/json' -d @"$T/snp.req")
if [ "$code" = 200 ] && grep -q '"token"' "$T/snp.ans"; then ok; else
    fail "offline SevSnpVm: HTTP $code $(head -c 300 "$T/snp.ans")"; fi
expect 0 "$ATTEST" run --url "$OFF" --provider sim --sim-dir "$S" --runtime-data "$T/rt.bin"
cp "$T/out" "$T/off.tok"
if [ "$(claim "$T/off.tok" "c['x-ms-attestation-type']")" = '"sgx"' ]; then ok; else
    fail "offline attest: no sgx token"; fi
expect 0 "$ATTEST" run --url "$OFF" --provider sim --sim-dir "$S" --tee tdx --runtime-data "$T/rt.bin"
# an attestd with an empty bundle refuses: the bundle is what made it work
mkdir "$T/empty"
"$ATTESTD" --listen 127.0.0.1:0 --data-dir "$T/e.var" --collateral-dir "$T/empty" \
    --trust-root "$S/trust_root.pem" >"$T/e.out" 2>"$T/e.err"
if [ $? -ne 0 ] && grep -q "holds no" "$T/e.err"; then ok; else fail "attestd with an empty bundle started"; fi

# shellcheck disable=SC2086 # $ROOTS: two options
# ---- 1. quote verify over the bundle (a directory of sets), claims for policy eval
expect 0 "$ATTEST" evidence --provider sim --sim-dir "$S" --runtime-data "$T/rt.bin" --raw \
    --out "$T/q.bin"
expect 0 "$ATTEST" quote verify --quote "$T/q.bin" --collateral "$B" $ROOTS \
    --runtime-data "$T/rt.bin" --json
cp "$T/out" "$T/c.json"
python3 - "$T/c.json" "$T/rt.bin" <<'PY'
import base64, json, sys
o = json.load(open(sys.argv[1]))
c = o['claims']
assert o['verdict'] == 'accept', o
assert c['x-ms-attestation-type'] == 'sgx'
assert c['x-ms-sgx-mrenclave'] == o['mrenclave'] and c['x-ms-sgx-svn'] == o['isvsvn']
assert c['x-ms-sgx-ehd'] == base64.urlsafe_b64encode(open(sys.argv[2], 'rb').read()).rstrip(b'=').decode()
assert c['x-attestd-simulated'] is True
PY
if [ $? -eq 0 ]; then ok; else fail "quote verify --json claims"; fi
MRE=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['mrenclave'])" "$T/c.json")
printf 'version= 1.0;\nauthorizationrules {\n c:[type=="x-ms-sgx-mrenclave", value=="%s"] => permit();\n};\nissuancerules { };\n' \
    "$MRE" >"$T/mre.pol"
sed 's/value=="1/value=="f/' "$T/mre.pol" >"$T/other.pol"
expect 0 "$ATTEST" policy eval "$T/mre.pol" --claims "$T/c.json"; has "permit" out
expect 1 "$ATTEST" policy eval "$T/other.pol" --claims "$T/c.json"; has "x-ms-sgx-mrenclave was" out
expect 0 "$ATTEST" policy eval "$T/mre.pol" --quote "$T/q.bin" --collateral "$B" \
    $ROOTS
expect 1 "$ATTEST" policy eval "$T/other.pol" --quote "$T/q.bin" --collateral "$B" \
    $ROOTS
# a quote the collateral does not verify: no decision, exit 1 with the reason
expect 1 "$ATTEST" policy eval "$T/mre.pol" --quote "$T/q.bin" --collateral "$B" --trust-root "$F/ark.pem"
has "the quote was rejected" err
expect 1 "$ATTEST" quote verify --quote "$T/q.bin" --collateral "$B" --trust-root "$F/ark.pem" --json
cp "$T/out" "$T/rej.json"
expect 1 "$ATTEST" policy eval "$T/mre.pol" --claims "$T/rej.json"; has "rejected the evidence" err
# binding: other runtime data is a rejection
printf 'other' >"$T/other.bin"
expect 1 "$ATTEST" quote verify --quote "$T/q.bin" --collateral "$B" $ROOTS \
    --runtime-data "$T/other.bin"
has "ATT_E_EVIDENCE_BINDING" out
# a directory without the quote's set: named
expect 1 "$ATTEST" quote verify --quote "$T/q.bin" --collateral "$B/dcap-tdx-$(echo "$FMSPC" | tr 'A-F' 'a-f')-processor" \
    $ROOTS
has "holds no set for dcap/sgx/" out
# --token: the claims of the token attestd issued (a file, or the JWT itself)
expect 0 "$ATTEST" policy eval "$T/mre.pol" --token "$T/off.tok"
expect 0 "$ATTEST" policy eval "$T/mre.pol" --token "$(cat "$T/off.tok")"
expect 1 "$ATTEST" policy eval "$T/other.pol" --token "$T/off.tok"
# --issuer: verified against attestd's published keys first; a token changed after signing is
# refused (exit 1), though without --issuer its claims would be read
expect 0 "$ATTEST" policy eval "$T/mre.pol" --token "$T/off.tok" --issuer "$OFF"
python3 - "$T/off.tok" "$T/forged.tok" <<'PY'
import base64, json, sys
h, p, s = open(sys.argv[1]).read().strip().split('.')
c = json.loads(base64.urlsafe_b64decode(p + '=' * (-len(p) % 4)))
c['x-ms-sgx-is-debuggable'] = True
p = base64.urlsafe_b64encode(json.dumps(c).encode()).decode().rstrip('=')
open(sys.argv[2], 'w').write('.'.join([h, p, s]))
PY
expect 1 "$ATTEST" policy eval "$T/mre.pol" --token "$T/forged.tok" --issuer "$OFF"
has "does not verify (signature check)" err
expect 0 "$ATTEST" policy eval "$T/mre.pol" --token "$T/forged.tok"
expect 2 "$ATTEST" policy eval "$T/mre.pol" --claims "$T/c.json" --issuer "$OFF"
has "--issuer goes with --token" err
printf 'not.a-token' >"$T/bad.tok"
expect 2 "$ATTEST" policy eval "$T/mre.pol" --token "$T/bad.tok"; has "compact JWS" err
expect 2 "$ATTEST" policy eval "$T/mre.pol" --token "$T/off.tok" --claims "$T/c.json"
has "one of --claims, --token or --quote" err

# ---- 3. runtime data: JSON, and none
printf '{"jwk": {"kty": "oct"}}' >"$T/rt.json"
expect 0 "$ATTEST" run --url "$OFF" --provider sim --sim-dir "$S" --runtime-data "$T/rt.json" \
    --runtime-data-type json
cp "$T/out" "$T/json.tok"
if [ "$(claim "$T/json.tok" "c.get('x-ms-runtime')")" = '{"jwk": {"kty": "oct"}}' ]; then ok; else
    fail "JSON runtime data: x-ms-runtime is $(claim "$T/json.tok" "c.get('x-ms-runtime')")"; fi
expect 2 "$ATTEST" run --url "$OFF" --provider sim --sim-dir "$S" --runtime-data "$T/rt.bin" \
    --runtime-data-type json
has "is not JSON" err
expect 2 "$ATTEST" run --url "$OFF" --provider sim --sim-dir "$S" --runtime-data-type json
has "needs --runtime-data" err
expect 2 "$ATTEST" run --url "$OFF" --provider sim --sim-dir "$S" --runtime-data "$T/rt.bin" \
    --runtime-data-type text
has "binary or json" err
expect 0 "$ATTEST" run --url "$OFF" --provider sim --sim-dir "$S"
cp "$T/out" "$T/none.tok"
if [ "$(claim "$T/none.tok" "[c.get('x-ms-sgx-ehd'), c.get('x-ms-runtime')]")" = '[null, null]' ]; then ok; else
    fail "no runtime data: claims carry some"; fi
expect 0 "$ATTEST" evidence --provider sim --sim-dir "$S" --runtime-data "$T/rt.json" --out "$T/ev.json"
expect 0 "$ATTEST" submit --url "$OFF" --evidence "$T/ev.json" --runtime-data "$T/rt.json" \
    --runtime-data-type JSON
expect 0 "$ATTEST" submit --url "$OFF" --evidence "$T/ev.json"

# ---- 2. policies and certificates on the live instance
expect 0 "$ATTEST" policy get --url "$OFF" --type SgxEnclave
has "azuredefault" out
expect 0 "$ATTEST" policy set --url "$OFF" --type sgxenclave "$T/other.pol"; has "Updated" out
expect 1 "$ATTEST" run --url "$OFF" --provider sim --sim-dir "$S"; has "PolicyEvaluationError" err
expect 0 "$ATTEST" policy get --url "$OFF" --type SgxEnclave
if cmp -s "$T/out" "$T/other.pol"; then ok; else fail "policy get gives another text"; fi
printf 'version= 1.0;\nauthorizationrules { c:[type== ] => permit(); };\n' >"$T/syntax.pol"
expect 1 "$ATTEST" policy set --url "$OFF" --type SgxEnclave "$T/syntax.pol"; has "not sent" err
expect 0 "$ATTEST" policy reset --url "$OFF" --type SgxEnclave; has "Removed" out
expect 0 "$ATTEST" run --url "$OFF" --provider sim --sim-dir "$S"
expect 2 "$ATTEST" policy set --url "$OFF" --type Nope "$T/other.pol"; has "--type must be one of" err
expect 2 "$ATTEST" policy set --url "$OFF" --type SgxEnclave; has "FILE" err
expect 0 "$ATTEST" certificates get --url "$OFF"; has "not in isolated mode" err

# isolated mode: signed changes only; certificates add/remove
mk_signer() { # NAME: a self-signed CA with an RSA key
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -keyout "$T/$1.key" -out "$T/$1.pem" \
        -days 30 -subj "/CN=loops $1" -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,digitalSignature,keyCertSign 2>/dev/null
}
mk_signer a; mk_signer b
attestd iso --collateral-dir "$B" $ROOTS --isolated-signers "$T/a.pem"
ISO=$URL
expect 1 "$ATTEST" policy set --url "$ISO" --type SgxEnclave "$T/other.pol"; has "InvalidOperation" err
expect 0 "$ATTEST" policy set --url "$ISO" --type SgxEnclave "$T/other.pol" --key "$T/a.key" --cert "$T/a.pem"
has "Updated" out; has "CN=loops a" out
expect 1 "$ATTEST" policy set --url "$ISO" --type SgxEnclave "$T/mre.pol" --key "$T/b.key" --cert "$T/b.pem"
expect 0 "$ATTEST" policy reset --url "$ISO" --type SgxEnclave --key "$T/a.key" --cert "$T/a.pem" --alg PS256
has "Removed" out
expect 0 "$ATTEST" certificates get --url "$ISO"; has "CN=loops a" out
expect 0 "$ATTEST" certificates add --url "$ISO" "$T/b.pem" --key "$T/a.key" --cert "$T/a.pem"
has "IsPresent" out
expect 0 "$ATTEST" certificates get --url "$ISO"; has "CN=loops b" out
expect 0 "$ATTEST" policy set --url "$ISO" --type SgxEnclave "$T/mre.pol" --key "$T/b.key" --cert "$T/b.pem"
expect 0 "$ATTEST" certificates remove --url "$ISO" "$T/a.pem" --key "$T/b.key" --cert "$T/b.pem"
has "IsAbsent" out
expect 0 "$ATTEST" certificates get --url "$ISO"; hasnt "CN=loops a" out
expect 2 "$ATTEST" certificates add --url "$ISO" "$T/b.pem"; has "--key/--cert" err
expect 2 "$ATTEST" policy set --url "$ISO" --type SgxEnclave "$T/mre.pol" --key "$T/b.key"
has "go together" err

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
