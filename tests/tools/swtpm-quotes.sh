#!/bin/sh
# swtpm-quotes.sh OUT - a real software TPM (swtpm + tpm2-tools) makes TPM evidence into OUT.
#
# The TPM runs in a temporary state directory under OUT, manufactured by swtpm_setup with EK
# certificates from a local CA whose state is also under OUT (no /var/lib, no system service, no
# root needed), with the sha1 and sha256 PCR banks active, on loopback TCP ports chosen free.
# tests/tools/tpm_logs.py writes a TCG crypto-agile event log and an IMA log (ascii and binary)
# and the extends they describe; those extends are made in the TPM, so the logs replay against
# its quotes. Then, for an RSA AK (RSASSA/SHA-256) and an ECC P-256 AK (ECDSA/SHA-256), both
# made under the RSA EK with tpm2_createak, OUT/<rsa|ecc>/ holds:
#   ak.tpm2b_public ak.pub.pem ak.name   the AK (tpm2_readpublic -o, -f pem, -n)
#   quote.msg quote.sig                  a quote over sha1:0,4,7,10,16 + sha256:0,4,7,10,16 with
#   pcrs.values nonce.hex                the nonce in nonce.hex (TPMT_SIGNATURE; pcrread -o values)
#   quote.plain.sig                      the same quote's bare signature (tpm2_quote -f plain)
#   quote256.*                           a quote over sha256:0-23 alone
# and OUT/eventlog.bin, OUT/ima.ascii, OUT/ima.bin, OUT/ek_rsa_cert.der, OUT/localca/.
# Exit status: 0 done; 77 swtpm cannot start here (a line on stderr says why); 1 a step failed.
set -u
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT/rsa" "$OUT/ecc"
for t in tpm2_createek tpm2_quote; do
    command -v $t >/dev/null 2>&1 || { echo "swtpm-quotes: $t is not installed" >&2; exit 77; }
done
sh "$HERE/swtpm-start.sh" "$OUT" sha1,sha256 swtpm-quotes || exit $?
stop() { [ -f "$OUT/swtpm.pid" ] && kill "$(cat "$OUT/swtpm.pid")" 2>/dev/null; rm -f "$OUT/swtpm.pid"; }
trap stop EXIT
trap "stop; exit 1" INT TERM HUP PIPE # dash runs no EXIT trap when a signal ends it
export TPM2TOOLS_TCTI="$(cat "$OUT/tcti")"
fl() { tpm2_flushcontext -t >/dev/null 2>&1; tpm2_flushcontext -l >/dev/null 2>&1; tpm2_flushcontext -s >/dev/null 2>&1; }
run() { # a step; its output goes to OUT/steps.log
    echo "+ $*" >>"$OUT/steps.log"
    "$@" >>"$OUT/steps.log" 2>&1 || { echo "swtpm-quotes: failed: $* (see $OUT/steps.log)" >&2; tail -5 "$OUT/steps.log" >&2; exit 1; }
}
# The logs and their extends (PCR:sha1=..,sha256=..), made in the TPM.
run python3 "$HERE/tpm_logs.py" "$OUT"
while read -r ext; do
    run tpm2_pcrextend "$ext"
done <"$OUT/extends.txt"
run tpm2_nvread 0x1c00002 -o "$OUT/ek_rsa_cert.der"
run tpm2_createek -c "$OUT/ek.ctx" -G rsa -u "$OUT/ek.pub"
fl
for kind in rsa ecc; do
    D=$OUT/$kind
    if [ $kind = rsa ]; then alg="-G rsa -s rsassa"; else alg="-G ecc -s ecdsa"; fi
    # shellcheck disable=SC2086
    run tpm2_createak -C "$OUT/ek.ctx" -c "$D/ak.ctx" $alg -g sha256 -u "$D/ak.pub" -n "$D/ak.name"
    fl
    run tpm2_readpublic -c "$D/ak.ctx" -o "$D/ak.tpm2b_public"
    fl
    run tpm2_readpublic -c "$D/ak.ctx" -o "$D/ak.pub.pem" -f pem
    fl
    NONCE=$(openssl rand -hex 32)
    echo "$NONCE" >"$D/nonce.hex"
    SEL=sha1:0,4,7,10,16+sha256:0,4,7,10,16
    run tpm2_quote -c "$D/ak.ctx" -l $SEL -q "$NONCE" -m "$D/quote.msg" -s "$D/quote.sig" \
        -o "$D/quote.pcrs" -g sha256
    fl
    run tpm2_pcrread $SEL -o "$D/pcrs.values"
    run tpm2_quote -c "$D/ak.ctx" -l sha256:all -q "$NONCE" -m "$D/quote256.msg" \
        -s "$D/quote256.sig" -o "$D/quote256.pcrs" -g sha256
    fl
    run tpm2_pcrread sha256:all -o "$D/quote256.pcrs.values"
    # The bare form of the first quote's signature: -f plain re-signs, so a second quote with
    # the same PCRs and nonce; its message is kept beside it.
    run tpm2_quote -c "$D/ak.ctx" -l $SEL -q "$NONCE" -m "$D/quote.plain.msg" \
        -s "$D/quote.plain.sig" -f plain -g sha256
    fl
    # tpm2_checkquote agrees (the reference verifier).
    run tpm2_checkquote -u "$D/ak.pub.pem" -m "$D/quote.msg" -s "$D/quote.sig" -f "$D/quote.pcrs" \
        -g sha256 -q "$NONCE"
done
exit 0
