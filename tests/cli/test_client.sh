#!/bin/sh
# test_client.sh - the client side end to end over loopback: attest sim init, attest sim
# collateral-server, attestd trusting the sim root, attest evidence/submit/run (SGX, TDX, Open
# Enclave), binding mismatch, absent devices, and OAuth2 client credentials against a tiny python3
# token endpoint. Run by ctest with ATTEST set (ATTESTD defaults to its sibling).
set -u
: "${ATTEST:?ATTEST must point at the attest binary}"
ATTESTD=${ATTESTD:-$(dirname "$ATTEST")/attestd}
T=$(mktemp -d)
CS_PID= D_PID= I_PID=
cleanup() {
    for p in $CS_PID $D_PID $I_PID; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
pass=0
fails=0
ok() { pass=$((pass + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect CODE CMD...: run, output in $T/out and $T/err
expect() {
    want=$1; shift
    "$@" >"$T/out" 2>"$T/err"; rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else
        fail "exit $rc (want $want): $*"; sed 's/^/  | /' "$T/out" "$T/err"; fi
}
has() { # has TEXT FILE
    if grep -qF -- "$1" "$T/$2"; then ok; else fail "missing '$1' in $2"; sed 's/^/  | /' "$T/$2"; fi
}
# wait_line FILE SED-EXPR PID: print the first match of the expression within 10 s
wait_line() {
    i=0
    while [ $i -lt 100 ]; do
        v=$(sed -n "$2" "$1" 2>/dev/null | head -1)
        [ -n "$v" ] && { echo "$v"; return 0; }
        kill -0 "$3" 2>/dev/null || break
        sleep 0.1; i=$((i + 1))
    done
    return 1
}
# claims TOKEN-FILE PYTHON-ASSERTIONS: c is the claims object, rt the runtime data bytes
claims() {
    python3 - "$1" "$T/rt.bin" "$2" <<'PY'
import base64, hashlib, json, sys
tok = open(sys.argv[1]).read().strip()
p = tok.split('.')[1]
c = json.loads(base64.urlsafe_b64decode(p + '=' * (-len(p) % 4)))
rt = open(sys.argv[2], 'rb').read()
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b'=').decode()
sha = hashlib.sha256(rt).hexdigest()
try:
    exec(sys.argv[3])
except AssertionError as e:
    print('assertion failed:', sys.argv[3], e, json.dumps(c, indent=1)[:2000])
    sys.exit(1)
PY
}
check_claims() { if claims "$1" "$2"; then ok; else fail "claims of $1: $2"; fi; }
# stop PID: SIGTERM, want exit 0
stop() {
    kill -TERM "$1"
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    wait "$1"; rc=$?
    if [ "$rc" -eq 0 ]; then ok; else fail "$2: exit $rc after SIGTERM (want 0)"; fi
}

printf 'enclave key 0123456789' >"$T/rt.bin"
printf 'something else' >"$T/other.bin"

# --help everywhere, usage errors exit 2
for c in "sim" "sim init" "sim collateral-server" "evidence" "submit" "run"; do
    # shellcheck disable=SC2086
    expect 0 "$ATTEST" $c --help; has "usage: attest" out
done
expect 0 "$ATTEST" --help; has "evidence" out; has "submit" out
expect 2 "$ATTEST" sim; expect 2 "$ATTEST" sim frobnicate
expect 2 "$ATTEST" sim init
expect 2 "$ATTEST" sim init "$T/x" --tee sev
expect 2 "$ATTEST" evidence --runtime-data "$T/rt.bin"; has "--provider" err
expect 2 "$ATTEST" evidence --provider sim --runtime-data "$T/rt.bin"; has "attest sim init" err
expect 2 "$ATTEST" evidence --provider nope --runtime-data "$T/rt.bin"; has "unknown evidence provider" err
expect 2 "$ATTEST" submit --url http://127.0.0.1:1; has "--evidence" err
expect 2 "$ATTEST" run --provider sim; has "--url" err
expect 2 "$ATTEST" sim collateral-server; has "--dir" err

# attest sim init
S=$T/sim
expect 0 "$ATTEST" sim init "$S"; has "trust_root.pem" out
for f in sim.json trust_root.pem pki/root.pem pki/pck.key collateral/sgx/tcb_info.json \
         collateral/tdx/tcb_info.json collateral/tdx/qe_identity.json; do
    if [ -f "$S/$f" ]; then ok; else fail "sim init: no $f"; fi
done
m=$(stat -c %a "$S/pki/pck.key" "$S/pki/root.key" | sort -u)
if [ "$m" = 600 ]; then ok; else fail "key modes: $m"; fi
expect 2 "$ATTEST" sim init "$S"; has "--force" err

# devices that are absent here: clear message, exit 1
expect 1 "$ATTEST" evidence --provider tsm --root "$T/no-tsm" --runtime-data "$T/rt.bin"
has "configfs-tsm is not available" err
expect 1 "$ATTEST" evidence --provider gramine --root "$T/no-dev" --runtime-data "$T/rt.bin"
has "not running inside a Gramine SGX enclave" err

# the collateral server
"$ATTEST" sim collateral-server --dir "$S" >"$T/cs.out" 2>"$T/cs.err" &
CS_PID=$!
if CURL=$(wait_line "$T/cs.out" '/^http:\/\/127\.0\.0\.1:[0-9]*$/p' "$CS_PID"); then ok; else
    fail "collateral server did not start"; sed 's/^/  | /' "$T/cs.err"; fi
FMSPC=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tcbInfo']['fmspc'])" \
        "$S/collateral/sgx/tcb_info.json")
code=$(curl -s -o "$T/tcb.json" -D "$T/tcb.hdr" -w '%{http_code}' \
       "$CURL/sgx/certification/v4/tcb?fmspc=$FMSPC")
if [ "$code" = 200 ] && cmp -s "$T/tcb.json" "$S/collateral/sgx/tcb_info.json"; then ok; else
    fail "GET tcb: $code"; fi
has "TCB-Info-Issuer-Chain: -----BEGIN%20CERTIFICATE-----%0A" tcb.hdr
code=$(curl -s -o /dev/null -w '%{http_code}' "$CURL/sgx/certification/v4/tcb?fmspc=000000000000")
if [ "$code" = 404 ]; then ok; else fail "GET tcb other fmspc: $code (want 404)"; fi
code=$(curl -s -o "$T/crl.der" -D "$T/crl.hdr" -w '%{http_code}' \
       "$CURL/sgx/certification/v4/pckcrl?ca=processor&encoding=der")
if [ "$code" = 200 ] && cmp -s "$T/crl.der" "$S/collateral/sgx/pck_crl.der"; then ok; else
    fail "GET pckcrl: $code"; fi
has "SGX-PCK-CRL-Issuer-Chain: " crl.hdr

# attestd trusting the sim root, collateral from the server
"$ATTESTD" --listen 127.0.0.1:0 --data-dir "$T/var" --collateral-url "$CURL" \
    --trust-root "$S/trust_root.pem" >"$T/d.out" 2>"$T/d.err" &
D_PID=$!
if URL=$(wait_line "$T/d.out" 's/^issuer: \(http[^ ]*\)$/\1/p' "$D_PID"); then ok; else
    fail "attestd did not start"; sed 's/^/  | /' "$T/d.err"; URL=http://127.0.0.1:1; fi

# attest run: SGX (the directory's default)
expect 0 "$ATTEST" run --url "$URL" --provider sim --sim-dir "$S" --runtime-data "$T/rt.bin" \
    --nonce nonce-123
cp "$T/out" "$T/sgx.tok"
check_claims "$T/sgx.tok" "
assert c['x-ms-attestation-type'] == 'sgx'
assert c['x-ms-sgx-ehd'] == b64u(rt), c.get('x-ms-sgx-ehd')
assert c['nonce'] == 'nonce-123'
assert c['x-ms-sgx-report-data'] == sha + '0' * 64
assert c['x-attestd-simulated'] is True
assert c['iss'] == '$URL'"

# attest evidence + attest submit, and a runtime data mismatch
expect 0 "$ATTEST" evidence --provider sim --sim-dir "$S" --runtime-data "$T/rt.bin" --out "$T/ev.json"
if python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['type']=='SgxEnclave' and d['provider']=='sim' and d['evidence']" "$T/ev.json"; then ok; else fail "evidence document"; fi
expect 0 "$ATTEST" submit --url "$URL" --evidence "$T/ev.json" --runtime-data "$T/rt.bin" --nonce n2
cp "$T/out" "$T/sub.tok"
check_claims "$T/sub.tok" "assert c['nonce'] == 'n2' and c['x-ms-sgx-ehd'] == b64u(rt)"
expect 1 "$ATTEST" submit --url "$URL" --evidence "$T/ev.json" --runtime-data "$T/other.bin"
has "InvalidParameter" err
has "SHA-256 of the runtime data is" err
if [ ! -s "$T/out" ]; then ok; else fail "a rejected submit printed a token"; fi

# raw evidence needs --type; Open Enclave wraps the SGX quote
expect 0 "$ATTEST" evidence --provider sim --sim-dir "$S" --runtime-data "$T/rt.bin" --raw --out "$T/ev.bin"
has "SgxEnclave" out
expect 2 "$ATTEST" submit --url "$URL" --evidence "$T/ev.bin" --runtime-data "$T/rt.bin"
has "--type" err
expect 0 "$ATTEST" submit --url "$URL" --evidence "$T/ev.bin" --runtime-data "$T/rt.bin" --type SgxEnclave
expect 0 "$ATTEST" submit --url "$URL" --evidence "$T/ev.json" --runtime-data "$T/rt.bin" --type OpenEnclave
cp "$T/out" "$T/oe.tok"
check_claims "$T/oe.tok" "assert c['x-ms-attestation-type'] == 'sgx' and c['x-ms-sgx-ehd'] == b64u(rt)"
expect 2 "$ATTEST" submit --url "$URL" --evidence "$T/ev.json" --runtime-data "$T/rt.bin" --type TdxVm
has "evidence is for SgxEnclave" err

# TDX through /attest/TdxVm
expect 0 "$ATTEST" run --url "$URL" --provider sim --sim-dir "$S" --tee tdx --runtime-data "$T/rt.bin" \
    --nonce tdx-nonce
cp "$T/out" "$T/tdx.tok"
check_claims "$T/tdx.tok" "
assert c['x-ms-attestation-type'] == 'tdxvm'
assert c['tdx_report_data'] == sha + '0' * 64
assert c['nonce'] == 'tdx-nonce'
assert c['x-attestd-simulated'] is True"
expect 0 "$ATTEST" evidence --provider sim --sim-dir "$S" --tee tdx --runtime-data "$T/rt.bin" --out "$T/tdx.json"
expect 1 "$ATTEST" submit --url "$URL" --evidence "$T/tdx.json" --runtime-data "$T/other.bin"
has "InvalidParameter" err
has "REPORTDATA" err

# OAuth2 client credentials against a python3 token endpoint. The same server answers
# /attest/SgxEnclave with a CloudError naming the Authorization header it received.
cat >"$T/idp.py" <<'PY'
import base64, json, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
log = open(sys.argv[1], 'a')
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def send(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def do_GET(self):
        log.write('GET %s\n' % self.path); log.flush()
        if self.path == '/.well-known/openid-configuration':
            base = 'http://127.0.0.1:%d' % self.server.server_address[1]
            return self.send(200, {'issuer': base, 'token_endpoint': base + '/token'})
        self.send(404, {})
    def do_POST(self):
        n = int(self.headers.get('Content-Length', 0))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        if self.path.startswith('/attest/'):
            a = self.headers.get('Authorization')
            if a == 'Bearer junk200':  # a 200 whose token is terminal escapes, not a JWT
                return self.send(200, {'token': '\x1b]0;owned\x07\x1b[2Jhello'})
            if a == 'Bearer none200':  # a 200 whose token is unsigned
                return self.send(200, {'token': 'eyJhbGciOiJub25lIn0.e30.c2ln'})
            if a == 'Bearer escape':  # an error whose code and message carry escapes
                return self.send(400, {'error': {'code': 'Bad\x1b[31m', 'message':
                                 'line1\nattest submit: fake line \x1b[2J'}})
            return self.send(401, {'error': {'code': 'Unauthorized', 'message':
                             'got %s' % self.headers.get('Authorization')}})
        auth = self.headers.get('Authorization', '')
        cid = sec = None
        if auth.startswith('Basic '):
            u, _, p = base64.b64decode(auth[6:]).decode().partition(':')
            cid, sec, how = urllib.parse.unquote_plus(u), urllib.parse.unquote_plus(p), 'basic'
        else:
            cid, sec, how = form.get('client_id', [None])[0], form.get('client_secret', [None])[0], 'post'
        log.write('POST %s %s %s %s\n' % (self.path, how, form.get('grant_type'), form.get('scope')))
        log.flush()
        if cid != 'attest-client' or sec != 's3cret+/=':
            return self.send(401, {'error': 'invalid_client',
                                   'error_description': 'client authentication failed'})
        self.send(200, {'access_token': 'at-' + how, 'token_type': 'Bearer', 'expires_in': 300})
s = HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$T/idp.py" "$T/idp.log" >"$T/idp.out" 2>"$T/idp.err" &
I_PID=$!
if IPORT=$(wait_line "$T/idp.out" '/^[0-9][0-9]*$/p' "$I_PID"); then ok; else
    fail "token endpoint did not start"; sed 's/^/  | /' "$T/idp.err"; IPORT=1; fi
IDP=http://127.0.0.1:$IPORT
printf 's3cret+/=\n' >"$T/secret"
printf 'wrong\n' >"$T/bad-secret"
expect 0 "$ATTEST" run --url "$URL" --provider sim --sim-dir "$S" --runtime-data "$T/rt.bin" \
    --issuer "$IDP" --client-id attest-client --client-secret-file "$T/secret" --scope attest
has "GET /.well-known/openid-configuration" idp.log
has "POST /token basic ['client_credentials'] ['attest']" idp.log
expect 1 "$ATTEST" run --url "$URL" --provider sim --sim-dir "$S" --runtime-data "$T/rt.bin" \
    --issuer "$IDP" --client-id attest-client --client-secret-file "$T/bad-secret"
has "HTTP status 401" err
has "invalid_client: client authentication failed" err
# the bearer token reaches the attest endpoint, and its CloudError comes back verbatim
expect 1 "$ATTEST" submit --url "$IDP" --evidence "$T/ev.json" --runtime-data "$T/rt.bin" \
    --token-url "$IDP/token" --client-id attest-client --client-secret-file "$T/secret" \
    --client-auth post
has "POST /token post" idp.log
has "HTTP 401: Unauthorized: got Bearer at-post" err
printf 'static-token\n' >"$T/at"
expect 1 "$ATTEST" submit --url "$IDP" --evidence "$T/ev.json" --runtime-data "$T/rt.bin" \
    --access-token-file "$T/at"
has "got Bearer static-token" err
# issue 18.B10: only a compact JWS is printed; server text reaches the terminal escaped
for t in junk200 none200; do
    printf '%s\n' "$t" >"$T/at2"
    expect 1 "$ATTEST" submit --url "$IDP" --evidence "$T/ev.json" --runtime-data "$T/rt.bin" \
        --access-token-file "$T/at2"
    has "not a compact JWS" err
    if [ ! -s "$T/out" ]; then ok; else fail "$t: a 200 without a JWS printed: $(od -c "$T/out" | head -2)"; fi
done
has "unsigned (alg \"none\")" err
printf 'escape\n' >"$T/at2"
expect 1 "$ATTEST" submit --url "$IDP" --evidence "$T/ev.json" --runtime-data "$T/rt.bin" \
    --access-token-file "$T/at2"
has 'HTTP 400: Bad\x1b[31m: line1\nattest submit: fake line \x1b[2J' err
if [ "$(wc -l <"$T/err")" -eq 1 ] && ! grep -q "$(printf '\033')" "$T/err"; then ok; else
    fail "server text printed raw: $(od -c "$T/err" | head -4)"; fi
expect 2 "$ATTEST" submit --url "$IDP" --evidence "$T/ev.json" --runtime-data "$T/rt.bin" \
    --access-token-file "$T/at" --client-id x
has "exclude each other" err
expect 2 "$ATTEST" run --url "$URL" --provider sim --sim-dir "$S" --runtime-data "$T/rt.bin" \
    --client-id attest-client --client-secret-file "$T/secret"
has "--issuer or --token-url" err

# nothing listening: exit 2
expect 2 "$ATTEST" submit --url http://127.0.0.1:1 --evidence "$T/ev.json" --runtime-data "$T/rt.bin"
has "http://127.0.0.1:1/attest/SgxEnclave" err

# stop everything
stop "$CS_PID" "collateral server"; CS_PID=
stop "$D_PID" "attestd"; D_PID=
kill "$I_PID" 2>/dev/null; wait "$I_PID" 2>/dev/null; I_PID=
has "GET /sgx/certification/v4/tcb" cs.err
has "GET /tdx/certification/v4/tcb" cs.err

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
