/* cmd_tpm_run.c - `attest run --type Tpm` (or --provider tpm): the /attest/Tpm protocol with a
 * TPM through tpm2-tss (att_tpm_attest), and `attest tpm activate`.
 *
 * Exit codes as `attest run`: 0 token printed; 1 no TPM, the TPM refused, attestd or the identity
 * provider answered an error, or attestd's answer held no compact JWS; 2 usage, file or
 * connection errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/client.h"
#include "cli.h"
#include "core/util.h"

#define ATT_AK_CERT_MAX (64u * 1024)

static const char att_tpm_run_usage[] =
    "usage: attest run --url URL --type Tpm [--provider tpm] [--tcti TCTI] [--pcrs SPEC]\n"
    "                  [--ek-alg rsa|ecc] [--ak-alg rsa|ecc] [--ek-handle H] [--ak-handle H]\n"
    "                  [--eventlog FILE|none] [--ima FILE] [--tpm-protocol native|maa|oneshot]\n"
    "                  [--tpm-trust pinned|ak-cert|activate] [--ak-cert FILE]\n"
    "                  [--api-version V] [access token options]\n"
    "Attest a TPM 2.0 through POST URL/attest/Tpm (two rounds, docs/api.md \"TPM\") and print\n"
    "the attestation token. Round 1 asks for a challenge (--tpm-trust pinned, the default:\n"
    "attestd pins the AK with --tpm-ak; ak-cert: round 2 carries --ak-cert FILE, DER or PEM)\n"
    "or, with --tpm-trust activate, sends the EK certificate (from the TPM's NV) and the AK,\n"
    "and the TPM activates the credential attestd answers: that secret is the challenge. The\n"
    "TPM quotes the PCRs with the challenge; round 2 (--tpm-protocol native, the default) sends\n"
    "the AK, quote, signature, PCR values and event logs; maa sends MAA's attReqV2 JWS.\n"
    "--tpm-protocol oneshot: GET URL/tpm/nonce, the quote over its nonce, then one POST of\n"
    "the same members with its context (no round 1; not with --tpm-trust activate).\n"
    "  --tcti TCTI       the TPM, as tpm2-tools takes it (swtpm:host=127.0.0.1,port=2321,\n"
    "                    device:/dev/tpmrm0); default $TPM2TOOLS_TCTI, else tpm2-tss's default\n"
    "  --pcrs SPEC       PCRs to quote, e.g. sha256:0,1,2,3,4,5,6,7 (the default), sha256:all,\n"
    "                    sha1:0-7+sha256:0-7\n"
    "  --ek-alg, --ak-alg  the EK (TCG template) and the AK created under it (default rsa)\n"
    "  --ek-handle H     a persistent EK (0x81xxxxxx; swtpm's P-384 EK: 0x81010016) instead\n"
    "                    of the TCG template's; its certificate from its kind's NV index\n"
    "  --ak-handle H     a persistent AK (0x81xxxxxx) instead of a new one\n"
    "  --eventlog FILE   the TCG event log (default with a device TCTI: /sys/kernel/security/\n"
    "                    tpm0/binary_bios_measurements when readable; none: no log)\n"
    "  --ima FILE        a Linux IMA log (ascii or binary)\n" ATT_CLI_AUTH_USAGE
    "Exit: 0 token printed, 1 no TPM, the TPM refused, attestd or the identity provider answered\n"
    "with an error, or attestd's answer held no compact JWS, 2 usage, file or connection error.\n";

/* A PEM certificate in *buf becomes its DER; DER stays. 0, or -1 when it is neither. */
static int att_der_from_pem(uint8_t **buf, size_t *len)
{
    if (*len > 0 && (*buf)[0] == 0x30)
        return 0;
    BIO *b = BIO_new_mem_buf(*buf, (int)*len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    unsigned char *der = NULL;
    int n = x ? i2d_X509(x, &der) : -1;
    X509_free(x);
    if (n <= 0)
        return -1;
    free(*buf);
    if ((*buf = malloc((size_t)n)) == NULL) {
        OPENSSL_free(der);
        return -1;
    }
    memcpy(*buf, der, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(der);
    return 0;
}

int att_cli_tpm_run(int argc, char **argv)
{
    att_cli_prov_t p = {0};
    att_cli_auth_t a = {0};
    const char *url = NULL, *type = NULL, *proto = NULL, *trust = NULL, *ak_cert = NULL,
               *api = NULL;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(att_tpm_run_usage, stdout);
            return ATT_EXIT_OK;
        }
        if (att_cli_prov_arg(&p, argc, argv, &i) || att_cli_auth_arg(&a, argc, argv, &i))
            continue;
        const char **dst = i + 1 >= argc                  ? NULL
                           : !strcmp(o, "--url")          ? &url
                           : !strcmp(o, "--type")         ? &type
                           : !strcmp(o, "--tpm-protocol") ? &proto
                           : !strcmp(o, "--tpm-trust")    ? &trust
                           : !strcmp(o, "--ak-cert")      ? &ak_cert
                           : !strcmp(o, "--api-version")  ? &api
                                                          : NULL;
        if (dst != NULL) {
            *dst = argv[++i];
            continue;
        }
        fprintf(stderr, "attest run: unexpected argument '%s' (for --type Tpm)\n%s", o,
                att_tpm_run_usage);
        return ATT_EXIT_USAGE;
    }
    att_tpm_attest_opts_t to = {.url = url, .api_version = api, .now = (att_time_t)time(NULL)};
    if (url == NULL) {
        fprintf(stderr, "attest run: --url is required\n%s", att_tpm_run_usage);
        return ATT_EXIT_USAGE;
    }
    if ((type != NULL && strcmp(type, "Tpm") != 0) ||
        (p.provider != NULL && strcmp(p.provider, "tpm") != 0)) {
        fprintf(stderr, "attest run: TPM attestation is --type Tpm with --provider tpm\n");
        return ATT_EXIT_USAGE;
    }
    if (p.sim_dir != NULL || p.tee != NULL || p.root != NULL) {
        fprintf(stderr, "attest run: --sim-dir, --tee and --root are not TPM options\n");
        return ATT_EXIT_USAGE;
    }
    if (proto == NULL || !strcmp(proto, "native")) {
        to.protocol = ATT_TPM_PROTO_NATIVE;
    } else if (!strcmp(proto, "maa")) {
        to.protocol = ATT_TPM_PROTO_MAA;
    } else if (!strcmp(proto, "oneshot")) {
        to.protocol = ATT_TPM_PROTO_ONESHOT;
    } else {
        fprintf(stderr, "attest run: --tpm-protocol must be native, maa or oneshot, not '%s'\n",
                proto);
        return ATT_EXIT_USAGE;
    }
    if (trust == NULL || !strcmp(trust, "pinned")) {
        to.trust = ATT_TPM_TRUST_PINNED;
    } else if (!strcmp(trust, "ak-cert")) {
        to.trust = ATT_TPM_TRUST_AK_CERT;
    } else if (!strcmp(trust, "activate")) {
        to.trust = ATT_TPM_TRUST_ACTIVATE;
    } else {
        fprintf(stderr, "attest run: --tpm-trust must be pinned, ak-cert or activate, not '%s'\n",
                trust);
        return ATT_EXIT_USAGE;
    }
    if (to.protocol == ATT_TPM_PROTO_ONESHOT && to.trust == ATT_TPM_TRUST_ACTIVATE) {
        fprintf(stderr, "attest run: --tpm-trust activate needs round 1, which --tpm-protocol "
                        "oneshot has not\n");
        return ATT_EXIT_USAGE;
    }
    if ((to.trust == ATT_TPM_TRUST_AK_CERT) != (ak_cert != NULL)) {
        fprintf(stderr, "attest run: --ak-cert FILE goes with --tpm-trust ak-cert (and only)\n");
        return ATT_EXIT_USAGE;
    }
    uint8_t *cert = NULL;
    size_t certlen = 0;
    char *token = NULL;
    att_tpm_client_t *t = NULL;
    att_diag_t d;
    int rc = ATT_EXIT_USAGE;
    if (ak_cert != NULL) {
        if (att_read_file(ak_cert, ATT_AK_CERT_MAX, &cert, &certlen, &d) != ATT_OK) {
            fprintf(stderr, "attest run: --ak-cert: %s\n", d.msg);
            goto out;
        }
        if (att_der_from_pem(&cert, &certlen) != 0) {
            fprintf(stderr, "attest run: --ak-cert %s is neither DER nor a PEM certificate\n",
                    ak_cert);
            goto out;
        }
        to.ak_cert = cert;
        to.ak_cert_len = certlen;
    }
    if ((rc = att_cli_access_token("run", &a, &token)) != ATT_EXIT_OK)
        goto out;
    to.access_token = token;
    if ((rc = att_cli_tpm_open("run", &p, &t)) != ATT_EXIT_OK)
        goto out;
    att_submit_result_t r;
    att_err_t e = att_tpm_attest(t, &to, &r, &d);
    const char *bad = e == ATT_OK ? att_cli_token_malformed(r.token ? r.token : "") : NULL;
    if (e == ATT_OK && bad == NULL) {
        printf("%s\n", r.token);
        rc = ATT_EXIT_OK;
    } else if (e == ATT_OK) {
        fprintf(stderr,
                "attest run: attestd answered HTTP 200 without an attestation token: the "
                "\"report\" is not a compact JWS (%s); nothing printed\n",
                bad);
        rc = ATT_EXIT_REJECT;
    } else if (e == ATT_E_FETCH_STATUS) {
        att_cli_put_refusal("run", &r);
        rc = ATT_EXIT_REJECT;
    } else {
        fputs("attest run: ", stderr);
        att_cli_put_safe(stderr, d.msg);
        fputc('\n', stderr);
        /* the TPM refused or is missing something: 1; transport and usage: 2 */
        rc = e == ATT_E_IO || e == ATT_E_UNSUPPORTED || e == ATT_E_TPM_AK || e == ATT_E_LIMIT
                 ? ATT_EXIT_REJECT
                 : ATT_EXIT_USAGE;
    }
    att_submit_result_clear(&r);
out:
    att_tpm_client_close(t);
    if (token != NULL) {
        OPENSSL_cleanse(token, strlen(token));
        free(token);
    }
    free(cert);
    return rc;
}
