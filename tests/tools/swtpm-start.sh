#!/bin/sh
# swtpm-start.sh DIR BANKS NAME - manufacture a software TPM in DIR and run it on loopback.
#
# DIR/state is manufactured by swtpm_setup with EK certificates from a local CA whose state is
# DIR/localca (no /var/lib, no system service, no root needed), BANKS the active PCR banks
# ("sha256", "sha1,sha256"); swtpm then runs as a daemon on two free consecutive loopback ports
# (the swtpm TCTI talks to the control channel on port+1). Written: DIR/tcti (the TCTI string for
# TPM2TOOLS_TCTI), DIR/swtpm.pid, DIR/setup.log, DIR/swtpm.log. NAME prefixes the messages.
# Exit status: 0 answering; 77 swtpm cannot start here (a line on stderr says why).
set -u
D=$1
BANKS=$2
NAME=$3
for t in swtpm swtpm_setup swtpm_localca tpm2_getrandom; do
    command -v $t >/dev/null 2>&1 || { echo "$NAME: $t is not installed" >&2; exit 77; }
done
mkdir -p "$D/state" "$D/localca"
cat >"$D/localca.conf" <<EOF
statedir = $D/localca
signingkey = $D/localca/signkey.pem
issuercert = $D/localca/issuercert.pem
certserial = $D/localca/certserial
EOF
printf -- '--platform-manufacturer attestd\n--platform-version 2.1\n--platform-model test\n' \
    >"$D/localca.options"
cat >"$D/swtpm_setup.conf" <<EOF
create_certs_tool= $(command -v swtpm_localca)
create_certs_tool_config = $D/localca.conf
create_certs_tool_options = $D/localca.options
active_pcr_banks = $BANKS
EOF
if ! swtpm_setup --tpm2 --config "$D/swtpm_setup.conf" --tpmstate "$D/state" \
    --create-ek-cert --lock-nvram --overwrite --pcr-banks "$BANKS" >"$D/setup.log" 2>&1; then
    echo "$NAME: swtpm_setup failed: $(tail -3 "$D/setup.log")" >&2
    exit 77
fi
# Two free consecutive loopback ports. (A race with another process is possible; swtpm then
# fails to bind and the script says so.)
PORT=$(python3 -c 'import random, socket
for _ in range(200):
    p = random.randrange(20000, 60000, 2)
    s = [socket.socket(), socket.socket()]
    try:
        s[0].bind(("127.0.0.1", p)); s[1].bind(("127.0.0.1", p + 1))
    except OSError:
        continue
    finally:
        [x.close() for x in s]
    print(p); break')
if ! swtpm socket --tpm2 --server type=tcp,port=$PORT,bindaddr=127.0.0.1 \
    --ctrl type=tcp,port=$((PORT + 1)),bindaddr=127.0.0.1 --tpmstate dir="$D/state" \
    --flags not-need-init,startup-clear --pid file="$D/swtpm.pid" \
    --log file="$D/swtpm.log",level=1 --daemon 2>"$D/swtpm.err"; then
    echo "$NAME: swtpm cannot start: $(cat "$D/swtpm.err")" >&2
    exit 77
fi
echo "swtpm:host=127.0.0.1,port=$PORT" >"$D/tcti"
i=0
until TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$PORT" tpm2_getrandom 8 >/dev/null 2>&1; do
    i=$((i + 1)) # the daemon may need a moment to listen
    if [ $i -ge 50 ]; then
        echo "$NAME: swtpm does not answer on port $PORT" >&2
        kill "$(cat "$D/swtpm.pid")" 2>/dev/null
        exit 77
    fi
    sleep 0.1
done
exit 0
