#!/bin/sh
# test_run_default.sh - what `make run` starts (scripts/run-default), on loopback: the ATTESTD_*
# environment wins over its defaults (listen address, data directory, collateral source), HTTPS
# by default with a local CA kept in the data directory (certificate for 127.0.0.1 and
# localhost) that curl, Python and Node trust with the lines it prints, the CA kept across
# restarts, ATTESTD_TLS=off for plain HTTP, and no Intel PCS URL when another collateral source
# is given. Run by ctest with ATTEST set (attestd is its sibling).
set -u
: "${ATTEST:?ATTEST must point at the attest binary}"
BIN=$(cd "$(dirname "$ATTEST")" && pwd)
BUILD=$(dirname "$BIN")
REPO=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
pass=0
fails=0
ok() { pass=$((pass + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
has() { if grep -qF -- "$1" "$2"; then ok; else fail "missing '$1' in $2"; sed 's/^/  | /' "$2"; fi; }
hasnt() { if grep -qF -- "$1" "$2"; then fail "unexpected '$1' in $2"; else ok; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start NAME [VAR=VALUE...] -- [OPTIONS]: run-default in $T/NAME (its cwd), wait for the issuer
start() {
    n=$1; shift
    mkdir -p "$T/$n"
    vars=
    while [ $# -gt 0 ] && [ "$1" != -- ]; do vars="$vars $1"; shift; done
    [ $# -gt 0 ] && shift
    # shellcheck disable=SC2086
    (cd "$T/$n" && exec env $vars "$REPO/scripts/run-default" "$BUILD" "$@") >"$T/$n.out" 2>"$T/$n.err" &
    PID=$!
    i=0
    while [ $i -lt 100 ]; do
        grep -q '^issuer: ' "$T/$n.out" 2>/dev/null && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1; i=$((i + 1))
    done
    fail "run-default $n did not start"; sed 's/^/  | /' "$T/$n.out" "$T/$n.err"
    return 1
}
stop() {
    kill -TERM "$PID" 2>/dev/null
    wait "$PID"; rc=$?
    if [ "$rc" -eq 0 ]; then ok; else fail "exit $rc after SIGTERM"; fi
    PID=
}
env_of() { tr '\0' '\n' <"/proc/$PID/environ"; } # attestd's (run-default execs it)

# A collateral source that is not Intel's, so nothing leaves the machine.
"$ATTEST" sim init "$T/sim" >/dev/null || fail "sim init"
COLL=$T/sim/collateral/sgx
ROOT=$T/sim/trust_root.pem

# 1. ATTESTD_LISTEN and ATTESTD_DATA_DIR win; HTTPS from the local CA
P=$(free_port)
start a ATTESTD_LISTEN=127.0.0.1:$P ATTESTD_DATA_DIR=./state ATTESTD_COLLATERAL_DIR=$COLL \
    ATTESTD_TRUST_ROOT=$ROOT -- || exit 1
has "issuer: https://127.0.0.1:$P" "$T/a.out"
CA=$T/a/state/tls/ca.pem
if [ -s "$CA" ] && [ ! -e "$T/a/var" ]; then ok; else fail "the CA is not in ATTESTD_DATA_DIR"; fi
has "curl --cacert $CA https://127.0.0.1:$P/" "$T/a.out"
has "NODE_EXTRA_CA_CERTS=$CA" "$T/a.out"
has "SSL_CERT_FILE=$CA REQUESTS_CA_BUNDLE=$CA" "$T/a.out"
hasnt "trustedservices.intel.com" "$T/a.out"
if env_of | grep -q '^ATTESTD_COLLATERAL_URL='; then fail "a collateral URL beside ATTESTD_COLLATERAL_DIR"; else ok; fi
for u in "https://127.0.0.1:$P/healthz" "https://localhost:$P/healthz"; do
    if [ "$(curl -s --cacert "$CA" -o /dev/null -w '%{http_code}' "$u")" = 200 ]; then ok; else
        fail "curl --cacert the CA: $u"; fi
done
# the CA, not some other trust, makes it work: without it curl refuses
if curl -s -o /dev/null "https://127.0.0.1:$P/healthz"; then fail "curl trusts it without the CA"; else ok; fi
openssl x509 -in "$T/a/state/tls/server.pem" -noout -ext subjectAltName >"$T/san" 2>&1
has "IP Address:127.0.0.1" "$T/san"; has "DNS:localhost" "$T/san"
if openssl verify -CAfile "$CA" "$T/a/state/tls/server.pem" >/dev/null 2>&1; then ok; else
    fail "server.pem is not issued by ca.pem"; fi
m=$(stat -c %a "$T/a/state/tls/server.key" "$T/a/state/tls/ca.key" | sort -u)
if [ "$m" = 600 ]; then ok; else fail "key modes $m"; fi
if SSL_CERT_FILE=$CA python3 -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('https://127.0.0.1:$P/healthz').status == 200 else 1)"; then
    ok; else fail "Python with SSL_CERT_FILE"; fi
if command -v node >/dev/null 2>&1; then
    if NODE_EXTRA_CA_CERTS=$CA node -e "require('https').get('https://localhost:$P/healthz', r => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', e => { console.error(e.message); process.exit(1); })"; then
        ok; else fail "Node with NODE_EXTRA_CA_CERTS"; fi
else
    echo "note: node not installed, the Node line not exercised"
fi
stop
sum1=$(sha256sum "$CA" | cut -d' ' -f1)

# 2. a restart keeps the CA (trust it once); options on the command line still win
P2=$(free_port)
start a ATTESTD_DATA_DIR=./state ATTESTD_TRUST_ROOT=$ROOT -- --listen "127.0.0.1:$P2" \
    --collateral-dir "$COLL" || exit 1
has "issuer: https://127.0.0.1:$P2" "$T/a.out"
if [ "$(sha256sum "$CA" | cut -d' ' -f1)" = "$sum1" ]; then ok; else fail "the CA changed on restart"; fi
hasnt "made a local CA" "$T/a.out"
if env_of | grep -q '^ATTESTD_COLLATERAL_URL='; then fail "a collateral URL beside --collateral-dir"; else ok; fi
stop

# 3. plain HTTP on request; the default collateral source is Intel's only when none is given
P3=$(free_port)
start b ATTESTD_TLS=off ATTESTD_LISTEN=127.0.0.1:$P3 -- || exit 1
has "issuer: http://127.0.0.1:$P3" "$T/b.out"
if [ ! -e "$T/b/var/tls" ]; then ok; else fail "TLS material made with ATTESTD_TLS=off"; fi
if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P3/healthz")" = 200 ]; then ok; else
    fail "plain HTTP"; fi
has "collateral from https://api.trustedservices.intel.com" "$T/b.out"
if env_of | grep -q '^ATTESTD_COLLATERAL_URL=https://api.trustedservices.intel.com$'; then ok; else
    fail "no default collateral URL"; fi
stop
(cd "$T" && ATTESTD_TLS=maybe "$REPO/scripts/run-default" "$BUILD" >"$T/c.out" 2>&1)
if [ $? -eq 2 ] && grep -q "must be on or off" "$T/c.out"; then ok; else fail "ATTESTD_TLS=maybe"; fi

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
