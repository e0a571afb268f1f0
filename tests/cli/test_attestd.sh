#!/bin/sh
# test_attestd.sh - the real attestd binary over loopback: --help, bad options, health, metrics,
# errors, JSON logs, config from env and file, SIGTERM -> exit 0. Run by ctest with ATTEST set.
set -u
: "${ATTEST:?ATTEST must point at the attest binary}"
ATTESTD=${ATTESTD:-$(dirname "$ATTEST")/attestd}
T=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fails=0
n=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() {
    want=$1; shift; n=$((n + 1))
    "$@" >"$T/out" 2>"$T/err"; rc=$?
    [ "$rc" -eq "$want" ] || { fail "exit $rc (want $want): $*"; sed 's/^/  | /' "$T/out" "$T/err"; }
}
has() { grep -qF -- "$1" "$T/$2" || { fail "missing '$1' in $2"; sed 's/^/  | /' "$T/$2"; }; }

# start attestd with the given options on a free port; sets PID, URL
start() {
    : >"$T/d.out"; : >"$T/d.err"
    "$ATTESTD" "$@" >"$T/d.out" 2>"$T/d.err" &
    PID=$!
    URL=
    i=0
    while [ $i -lt 100 ]; do
        URL=$(sed -n 's/^attestd .* listening on \(http[^ ]*\).*/\1/p' "$T/d.out")
        [ -n "$URL" ] && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1; i=$((i + 1))
    done
    fail "attestd did not start: $*"; sed 's/^/  | /' "$T/d.out" "$T/d.err"
    return 1
}
# stop with SIGTERM; want exit 0 within 10 s
stop() {
    kill -TERM "$PID"
    i=0
    while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    wait "$PID"; rc=$?
    [ "$rc" -eq 0 ] || { fail "exit $rc after SIGTERM (want 0)"; sed 's/^/  | /' "$T/d.err"; }
    PID=
}
# GET path: status in $T/code, body in $T/body, headers in $T/hdrs
get() {
    curl -s -o "$T/body" -D "$T/hdrs" -w '%{http_code}' "$URL$1" >"$T/code" 2>/dev/null
}

# --help documents every option; --version; bad options exit 2
expect 0 "$ATTESTD" --help
for o in --listen --data-dir --issuer --collateral-url --collateral-dir --trust-root --at \
         --isolated-signers --tls-cert --tls-key --token-lifetime --signing-alg --threads \
         --max-body --max-header --max-connections --timeout --log-level --config --help \
         --version ATTESTD_LISTEN ATTESTD_DATA_DIR; do
    has "$o" out
done
expect 0 "$ATTESTD" --version; has "attestd " out
expect 2 "$ATTESTD" --bogus; has "unknown option '--bogus'" err
expect 2 "$ATTESTD" --threads lots; has "invalid threads 'lots'" err
expect 2 "$ATTESTD" --signing-alg HS256; has "RS256, PS256 or ES256" err
expect 2 env ATTESTD_TIMEOUT=never "$ATTESTD"; has "ATTESTD_TIMEOUT" err
expect 2 "$ATTESTD" --config "$T/missing.conf"; has "cannot read config file" err
expect 2 "$ATTESTD" --tls-cert "$T/c.pem"; has "together" err

# serve: health, readiness, metrics, errors, logs, SIGTERM
n=$((n + 1))
if start --listen 127.0.0.1:0 --data-dir "$T/var" --log-level debug; then
    grep -q '^issuer: http://127.0.0.1:' "$T/d.out" || fail "no issuer line"; 
    grep -q '^try: *curl http' "$T/d.out" || fail "no curl hint"
    get /healthz
    [ "$(cat "$T/code")" = 200 ] || fail "/healthz: $(cat "$T/code")"
    grep -qF '{"status":"ok"}' "$T/body" || fail "/healthz body: $(cat "$T/body")"
    grep -qi '^x-ms-request-id: ' "$T/hdrs" || fail "/healthz: no x-ms-request-id"
    get /readyz
    case "$(cat "$T/code")" in 200|503) ;; *) fail "/readyz: $(cat "$T/code")" ;; esac
    get /no/such/path
    [ "$(cat "$T/code")" = 404 ] || fail "404: $(cat "$T/code")"
    grep -qF '"error":{"code":"NotFound"' "$T/body" || fail "404 body: $(cat "$T/body")"
    grep -qi '^x-ms-error-code: NotFound' "$T/hdrs" || fail "404: no x-ms-error-code"
    get /metrics
    [ "$(cat "$T/code")" = 200 ] || fail "/metrics: $(cat "$T/code")"
    for m in '# TYPE attestd_http_requests_total counter' \
             'attestd_http_requests_total{route="/healthz",method="GET",status="200"} 1' \
             'attestd_http_requests_total{route="unmatched",method="GET",status="404"} 1' \
             '# TYPE attestd_http_request_duration_seconds histogram' \
             'attestd_http_errors_total{code="NotFound"} 1'; do
        grep -qF "$m" "$T/body" || fail "/metrics lacks: $m"
    done
    stop
    # every stderr line is one JSON object; request lines carry the request id
    python3 - "$T/d.err" <<'EOF' || fail "log lines are not all JSON objects"
import json, sys
reqs = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert isinstance(o, dict) and "time" in o and "level" in o, line
    if o.get("msg") == "request":
        reqs += 1
        for k in ("request_id", "method", "path", "status", "duration_ms", "bytes", "remote"):
            assert k in o, (k, line)
assert reqs >= 4, reqs
EOF
fi

# environment and config file (command line > environment > file)
n=$((n + 1))
printf 'listen = 127.0.0.1:1\ndata-dir = %s/var2\nlog-level = error\n' "$T" >"$T/attestd.conf"
if start --config "$T/attestd.conf" --listen 127.0.0.1:0; then
    get /healthz
    [ "$(cat "$T/code")" = 200 ] || fail "config file run: /healthz $(cat "$T/code")"
    [ -s "$T/d.err" ] && grep -q '"level":"info"' "$T/d.err" && fail "log-level from file ignored"
    stop
fi
n=$((n + 1))
if ATTESTD_LISTEN=127.0.0.1:0 ATTESTD_DATA_DIR="$T/var3" start; then
    get /healthz
    [ "$(cat "$T/code")" = 200 ] || fail "env run: /healthz $(cat "$T/code")"
    stop
fi

# TLS with a throw-away self-signed certificate
if command -v openssl >/dev/null 2>&1; then
    n=$((n + 1))
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$T/k.pem" -out "$T/c.pem" >/dev/null 2>&1 || fail "openssl req"
    if start --listen 127.0.0.1:0 --data-dir "$T/var" --tls-cert "$T/c.pem" --tls-key "$T/k.pem"; then
        case "$URL" in https://*) ;; *) fail "TLS URL is $URL" ;; esac
        grep -q '^issuer: https://127.0.0.1:' "$T/d.out" || fail "TLS issuer not https"
        code=$(curl -s --cacert "$T/c.pem" -o "$T/body" -w '%{http_code}' "$URL/healthz")
        [ "$code" = 200 ] || fail "TLS /healthz: $code"
        stop
    fi
    expect 1 "$ATTESTD" --listen 127.0.0.1:0 --tls-cert "$T/k.pem" --tls-key "$T/c.pem"
fi

# SIGINT also stops cleanly
n=$((n + 1))
if start --listen 127.0.0.1:0 --data-dir "$T/var"; then
    kill -INT "$PID"; wait "$PID"; rc=$?; PID=
    [ "$rc" -eq 0 ] || fail "exit $rc after SIGINT"
fi

echo "$n checks, $fails failures"
[ "$fails" -eq 0 ]
