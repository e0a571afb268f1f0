#!/bin/sh
# test_token.sh - `attest token verify` against a real attestd on loopback: a token for the SGX
# vector with a nonce verifies; a wrong nonce, a wrong expected claim, a wrong issuer and a
# tampered token exit 1 naming the check; usage errors exit 2. Run by ctest with ATTEST set.
set -u
: "${ATTEST:?ATTEST must point at the attest binary}"
ATTESTD=${ATTESTD:-$(dirname "$ATTEST")/attestd}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
MRENCLAVE=33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb
T=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
. "$REPO/tests/tools/vectors.sh"
att_vectors cli/test_token "$REPO" "$T" # the real vector sets, or SKIP
VEC=$VDCAP/sgx-v3-fmspc00A067110000
fails=0
n=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() {
    want=$1; shift; n=$((n + 1))
    "$@" >"$T/out" 2>"$T/err"; rc=$?
    [ "$rc" -eq "$want" ] || { fail "exit $rc (want $want): $*"; sed 's/^/  | /' "$T/out" "$T/err"; }
}
has() { grep -qF -- "$1" "$T/$2" || { fail "missing '$1' in $2"; sed 's/^/  | /' "$T/$2"; }; }

# start attestd on a free port
"$ATTESTD" --listen 127.0.0.1:0 --data-dir "$T/var" --collateral-dir "$VDCAP" \
    --at 2025-07-01T00:00:00Z >"$T/d.out" 2>"$T/d.err" &
PID=$!
URL=
i=0
while [ $i -lt 100 ]; do
    URL=$(sed -n 's/^issuer: *\(http[^ ]*\).*/\1/p' "$T/d.out")
    [ -n "$URL" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1; i=$((i + 1))
done
if [ -z "$URL" ]; then
    fail "attestd did not start"; sed 's/^/  | /' "$T/d.out" "$T/d.err"
    echo "0 passed, $fails failed"
    exit 1
fi

# a token for the SGX vector with a nonce
QUOTE=$(base64 -w0 "$VEC/quote.bin" | tr '+/' '-_' | tr -d '=')
NONCE=rp-test-nonce-$$
printf '{"quote":"%s","nonce":"%s"}' "$QUOTE" "$NONCE" >"$T/req.json"
code=$(curl -s -o "$T/resp.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$T/req.json" "$URL/attest/SgxEnclave?api-version=2022-08-01")
n=$((n + 1))
[ "$code" = 200 ] || { fail "POST /attest/SgxEnclave: HTTP $code"; sed 's/^/  | /' "$T/resp.json"; }
sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p' "$T/resp.json" >"$T/token.jwt"
n=$((n + 1))
[ -s "$T/token.jwt" ] || fail "no token in the answer"

# valid: the bare token, attestd's JSON answer, and stdin
expect 0 "$ATTEST" token verify "$T/token.jwt" --issuer "$URL" --nonce "$NONCE"
has "valid: RS256" out
has "x-ms-sgx-mrenclave" out
expect 0 "$ATTEST" token verify "$T/resp.json" --issuer "$URL"
n=$((n + 1))
"$ATTEST" token verify - --issuer "$URL" <"$T/token.jwt" >"$T/out" 2>&1 || fail "stdin: exit $?"
expect 0 "$ATTEST" token verify "$T/token.jwt" --issuer "$URL" --nonce "$NONCE" --json
has '"valid": true' out
has '"error": null' out
has '"kid":' out
has "\"nonce\": \"$NONCE\"" out

# wrong nonce
expect 1 "$ATTEST" token verify "$T/token.jwt" --issuer "$URL" --nonce wrong-nonce
has "nonce check failed" out
has "ATT_E_TOKEN_CLAIM" out
expect 1 "$ATTEST" token verify "$T/token.jwt" --issuer "$URL" --nonce wrong-nonce --json
has '"valid": false' out
has '"check": "nonce"' out
has '"code": "ATT_E_TOKEN_CLAIM"' out

# expected claims
expect 0 "$ATTEST" token verify "$T/token.jwt" --issuer "$URL" --expect x-ms-sgx-mrenclave=$MRENCLAVE \
    --expect x-ms-sgx-is-debuggable=false --expect x-ms-attestation-type=sgx
expect 1 "$ATTEST" token verify "$T/token.jwt" --issuer "$URL" \
    --expect x-ms-sgx-mrenclave=0000000000000000000000000000000000000000000000000000000000000000
has "claim check failed" out
has "x-ms-sgx-mrenclave" out
expect 1 "$ATTEST" token verify "$T/token.jwt" --issuer "$URL" --expect x-ms-sgx-is-debuggable=true
has "claim check failed" out

# wrong issuer: the same server under another name (its discovery names the real issuer), and
# an issuer with no server at all
OTHER=$(printf '%s' "$URL" | sed 's/127\.0\.0\.1/localhost/')
expect 1 "$ATTEST" token verify "$T/token.jwt" --issuer "$OTHER"
has "jwks check failed" out
expect 1 "$ATTEST" token verify "$T/token.jwt" --issuer http://127.0.0.1:9 --json
has '"check": "jwks"' out
# ... and the right keys but another issuer name (offline JWKS): the iss check fails
curl -s -o "$T/jwks.json" "$URL/certs"
expect 1 "$ATTEST" token verify "$T/token.jwt" --issuer https://attest.example --jwks "$T/jwks.json"
has "iss check failed" out
expect 0 "$ATTEST" token verify "$T/token.jwt" --issuer "$URL" --jwks "$T/jwks.json"

# tampered: a payload byte and a signature byte changed
tok=$(cat "$T/token.jwt")
h=${tok%%.*}; rest=${tok#*.}; p=${rest%%.*}; s=${rest#*.}
flip() { # change the 20th character of $1 to another base64url character
    c=$(printf '%s' "$1" | cut -c20)
    if [ "$c" = A ]; then r=B; else r=A; fi
    printf '%s%s%s' "$(printf '%s' "$1" | cut -c1-19)" "$r" "$(printf '%s' "$1" | cut -c21-)"
}
printf '%s.%s.%s\n' "$h" "$(flip "$p")" "$s" >"$T/tampered1.jwt"
printf '%s.%s.%s\n' "$h" "$p" "$(flip "$s")" >"$T/tampered2.jwt"
for f in tampered1 tampered2; do
    expect 1 "$ATTEST" token verify "$T/$f.jwt" --issuer "$URL"
    has "signature check failed" out
    has "ATT_E_JWS_SIGNATURE" out
done
printf 'not-a-token\n' >"$T/junk.jwt"
expect 1 "$ATTEST" token verify "$T/junk.jwt" --issuer "$URL"
has "format check failed" out

# expired: verified a day after its exp
expect 1 "$ATTEST" token verify "$T/token.jwt" --issuer "$URL" --at 2099-01-01T00:00:00Z
has "exp check failed" out
has "ATT_E_TOKEN_EXPIRED" out

# usage and I/O errors
expect 2 "$ATTEST" token verify "$T/token.jwt"
expect 2 "$ATTEST" token verify --issuer "$URL"
expect 2 "$ATTEST" token verify "$T/missing.jwt" --issuer "$URL"
expect 2 "$ATTEST" token verify "$T/token.jwt" --issuer "$URL" --at yesterday
expect 2 "$ATTEST" token verify "$T/token.jwt" --issuer "$URL" --expect novalue
expect 2 "$ATTEST" token verify "$T/token.jwt" --issuer "$URL" --bogus
expect 2 "$ATTEST" token frobnicate
expect 0 "$ATTEST" token verify --help
has "--expect" out
expect 0 "$ATTEST" --help
has "token" out

# stop the server
kill -TERM "$PID"
i=0
while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
wait "$PID" 2>/dev/null
PID=

echo "$((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
