#!/bin/sh
# swtpm-ek.sh DIR start|activate|stop - a real software TPM for credential activation tests.
#
# start: manufactures a TPM in DIR/state (swtpm_setup, EK certificates from a local CA in
#   DIR/localca, no root or system service needed), runs it on two free loopback ports and writes
#   DIR/ek_rsa.tpm2b_public (RSA-2048 EK, 0x81010001), DIR/ek_ecc.tpm2b_public (ECC P-384 EK,
#   0x81010016), DIR/ek_rsa_cert.der, DIR/ek_ecc_cert.der, DIR/ca.pem (the local CA: root and
#   issuer), DIR/ak.tpm2b_public, DIR/ak.name, DIR/ak.pub.pem and DIR/ak.ctx (an ECC P-256 AK
#   under the RSA EK), the same for a second one DIR/ak2.* (RSA-2048), DIR/tcti; and AK
#   certificates made with the openssl command: DIR/akca.pem (a root), DIR/akint.der (an
#   intermediate under it), DIR/ak_cert.der (the AK's, from the root, valid 30 days),
#   DIR/ak_cert_int.der (the AK's, from the intermediate), DIR/ak_cert_other.der (the EK's key,
#   from the root). The TPM keeps running for the next commands.
# activate rsa|ecc CRED OUT: TPM2_ActivateCredential of CRED (tpm2_makecredential's file: magic
#   0xBADCC0DE, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET) with that EK and the AK,
#   the recovered secret into OUT; exit 0 when the TPM gave it, 1 when the TPM refused.
# quote ak|ak2 NONCEHEX MSG SIG: a quote over sha256:0,1,2 with that AK and the nonce (PCR
#   values in MSG.values).
# stop: ends the TPM.
# Exit status 77: swtpm cannot start here (a line on stderr says why).
set -u
D=$1
cmd=$2
fl() { tpm2_flushcontext -t >/dev/null 2>&1; tpm2_flushcontext -l >/dev/null 2>&1; tpm2_flushcontext -s >/dev/null 2>&1; }
run() {
    echo "+ $*" >>"$D/steps.log"
    "$@" >>"$D/steps.log" 2>&1 || { echo "swtpm-ek: failed: $* (see $D/steps.log)" >&2; tail -5 "$D/steps.log" >&2; exit 1; }
}
[ "$cmd" = start ] || export TPM2TOOLS_TCTI="$(cat "$D/tcti")"
case $cmd in
start)
    for t in tpm2_createak tpm2_activatecredential; do
        command -v $t >/dev/null 2>&1 || { echo "swtpm-ek: $t is not installed" >&2; exit 77; }
    done
    sh "$(dirname "$0")/../../tools/swtpm-start.sh" "$D" sha256 swtpm-ek || exit $?
    export TPM2TOOLS_TCTI="$(cat "$D/tcti")"
    run tpm2_readpublic -c 0x81010001 -o "$D/ek_rsa.tpm2b_public"
    run tpm2_readpublic -c 0x81010016 -o "$D/ek_ecc.tpm2b_public"
    run tpm2_nvread 0x1c00002 -o "$D/ek_rsa_cert.der"
    run tpm2_nvread 0x1c00016 -o "$D/ek_ecc_cert.der"
    cat "$D/localca/swtpm-localca-rootca-cert.pem" "$D/localca/issuercert.pem" >"$D/ca.pem"
    run tpm2_createak -C 0x81010001 -c "$D/ak.ctx" -G ecc -g sha256 -s ecdsa -u "$D/ak.pub" \
        -n "$D/ak.name"
    fl
    run tpm2_readpublic -c "$D/ak.ctx" -o "$D/ak.tpm2b_public"
    fl
    run tpm2_readpublic -c "$D/ak.ctx" -o "$D/ak.pub.pem" -f pem
    fl
    run tpm2_createak -C 0x81010001 -c "$D/ak2.ctx" -G rsa -g sha256 -s rsassa -u "$D/ak2.pub" \
        -n "$D/ak2.name"
    fl
    run tpm2_readpublic -c "$D/ak2.ctx" -o "$D/ak2.tpm2b_public"
    fl
    run tpm2_readpublic -c 0x81010001 -o "$D/ek_rsa.pub.pem" -f pem
    fl
    run openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/akca.key" \
        -out "$D/akca.pem" -subj /CN=attestd-test-ak-ca -days 3650
    run openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/akint.key" \
        -out "$D/akint.csr" -subj /CN=attestd-test-ak-intermediate
    printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$D/ca.ext"
    run openssl x509 -req -in "$D/akint.csr" -CA "$D/akca.pem" -CAkey "$D/akca.key" -days 3650 \
        -extfile "$D/ca.ext" -out "$D/akint.pem"
    run openssl x509 -in "$D/akint.pem" -outform der -out "$D/akint.der"
    run openssl x509 -new -force_pubkey "$D/ak.pub.pem" -subj /CN=attestd-test-ak -CA "$D/akca.pem" \
        -CAkey "$D/akca.key" -days 30 -outform der -out "$D/ak_cert.der"
    run openssl x509 -new -force_pubkey "$D/ak.pub.pem" -subj /CN=attestd-test-ak-2 \
        -CA "$D/akint.pem" -CAkey "$D/akint.key" -days 30 -outform der -out "$D/ak_cert_int.der"
    run openssl x509 -new -force_pubkey "$D/ek_rsa.pub.pem" -subj /CN=attestd-test-not-an-ak \
        -CA "$D/akca.pem" -CAkey "$D/akca.key" -days 30 -outform der -out "$D/ak_cert_other.der"
    ;;
activate)
    rm -f "$5"
    if [ "$3" = rsa ]; then
        run tpm2_startauthsession --policy-session -S "$D/session.ctx"
        run tpm2_policysecret -S "$D/session.ctx" -c e
        echo "+ activatecredential rsa" >>"$D/steps.log"
        tpm2_activatecredential -c "$D/ak.ctx" -C 0x81010001 -i "$4" -o "$5" \
            -P "session:$D/session.ctx" >>"$D/steps.log" 2>&1
        rc=$?
        tpm2_flushcontext "$D/session.ctx" >/dev/null 2>&1
    else
        echo "+ activatecredential ecc" >>"$D/steps.log"
        tpm2_activatecredential -c "$D/ak.ctx" -C 0x81010016 -i "$4" -o "$5" \
            >>"$D/steps.log" 2>&1
        rc=$?
    fi
    fl
    [ $rc -eq 0 ] || exit 1
    ;;
quote)
    run tpm2_quote -c "$D/$3.ctx" -l sha256:0,1,2 -q "$4" -m "$5" -s "$6" -g sha256
    fl
    run tpm2_pcrread sha256:0,1,2 -o "$5.values"
    ;;
stop)
    [ -f "$D/swtpm.pid" ] && kill "$(cat "$D/swtpm.pid")" 2>/dev/null
    rm -f "$D/swtpm.pid"
    ;;
esac
exit 0
