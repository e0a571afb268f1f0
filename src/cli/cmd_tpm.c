/* cmd_tpm.c - `attest tpm verify`: a TPM 2.0 quote with its AK, PCR values and event logs;
 * `attest tpm activate`: credential activation in a TPM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "attest/tpm.h"
#include "cli.h"
#include "core/util.h"

#define ATT_TPM_MAX_FILE (1u << 20)

static const char att_tpm_usage[] =
    "usage: attest tpm verify --ak FILE --quote FILE --sig FILE --pcrs FILE --nonce HEX\n"
    "                         [--eventlog FILE] [--ima FILE] [--json]\n"
    "\n"
    "verify  checks a TPM 2.0 quote as tpm2_checkquote does, and replays event logs:\n"
    "        the TPMS_ATTEST (--quote, what tpm2_quote -m writes): magic TPM_GENERATED_VALUE,\n"
    "        type ATTEST_QUOTE, no trailing bytes; its signature (--sig: a TPMT_SIGNATURE as\n"
    "        tpm2_quote -s writes it, or a bare one as -f plain does: DER ECDSA, raw RSA) with "
    "the\n"
    "        AK (RSASSA, RSAPSS, ECDSA); extraData = --nonce (hex, \"\" for none); pcrDigest = "
    "the\n"
    "        hash of the PCR values (--pcrs: the selected values concatenated in selection order,\n"
    "        as tpm2_pcrread -o writes them).\n"
    "        --ak FILE: a TPM2B_PUBLIC (tpm2_readpublic -o; its attributes must be an AK's:\n"
    "        restricted, sign, fixedTPM, fixedParent, sensitiveDataOrigin), a PEM or DER\n"
    "        SubjectPublicKeyInfo, or a JWK (or Azure's runtime data, key HCLAkPub). Who the AK\n"
    "        belongs to is not checked here.\n"
    "        --eventlog FILE: a TCG PC Client crypto-agile log (binary_bios_measurements);\n"
    "        --ima FILE: a Linux IMA log (ascii or binary_runtime_measurements). Both are "
    "replayed\n"
    "        against the quoted PCR values; the first PCR that differs is named.\n"
    "        --json: verdict, error {code, message}, pcr_digest, extra_data, clock,\n"
    "        firmware_version, signer_alg, the AK, and with logs secure_boot, the boot\n"
    "        applications and every event.\n"
    "\n"
    "Exit status: 0 accepted, 1 rejected (malformed input included), 2 usage or I/O error.\n"
    "\n"
    "usage: attest tpm activate --ak-handle HANDLE [--tcti TCTI] [--ek-alg rsa|ecc]\n"
    "                           [--ek-handle HANDLE]\n"
    "                           (--credential FILE | --blob FILE --secret FILE)\n"
    "\n"
    "activate  TPM2_ActivateCredential in the TPM (tpm2-tss ESYS; --tcti as tpm2-tools takes it,\n"
    "        default $TPM2TOOLS_TCTI) with the persistent AK HANDLE and the EK (TCG template,\n"
    "        PolicySecret(endorsement)): --credential is tpm2_makecredential's file (0xBADCC0DE,\n"
    "        version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET), or --blob and --secret the two\n"
    "        structures. Prints the recovered secret in hex.\n"
    "        Exit status: 0 activated, 1 no TPM or the TPM refused (a credential made for another\n"
    "        AK or EK), 2 usage or I/O error.\n";

static const char *const att_tpm_skip[] = {"events", "pcrs", NULL};

static void att_tpm_print(json_t *o, int json)
{
    att_cli_print_verdict(o, json != 0, att_tpm_skip);
}

static int att_tpm_read(const char *what, const char *path, size_t max, uint8_t **buf, size_t *len)
{
    att_diag_t d;
    if (att_read_file(path, max, buf, len, &d) != ATT_OK) {
        fprintf(stderr, "attest tpm verify: %s %s: %s\n", what, path, d.msg);
        return -1;
    }
    return 0;
}

static int att_tpm_verify_cmd(int argc, char **argv)
{
    const char *ak = NULL, *quote = NULL, *sig = NULL, *pcrs = NULL, *nonce = NULL, *log = NULL,
               *ima = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(att_tpm_usage, stdout);
            return ATT_EXIT_OK;
        } else if (i + 1 < argc && !strcmp(a, "--ak")) {
            ak = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--quote")) {
            quote = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--sig")) {
            sig = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--pcrs")) {
            pcrs = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--nonce")) {
            nonce = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--eventlog")) {
            log = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--ima")) {
            ima = argv[++i];
        } else {
            fprintf(stderr, "attest tpm verify: unknown or incomplete option '%s'\n%s", a,
                    att_tpm_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (ak == NULL || quote == NULL || sig == NULL || pcrs == NULL || nonce == NULL) {
        fprintf(stderr,
                "attest tpm verify: --ak, --quote, --sig, --pcrs and --nonce are "
                "required\n%s",
                att_tpm_usage);
        return ATT_EXIT_USAGE;
    }
    size_t nl = strlen(nonce);
    uint8_t nb[ATT_TPM_MAX_NAME];
    if (nl % 2 || nl / 2 > sizeof(nb) || !att_hex_decode(nonce, nl, nb, nl / 2)) {
        fprintf(stderr, "attest tpm verify: --nonce must be hex of at most %zu bytes\n",
                sizeof(nb));
        return ATT_EXIT_USAGE;
    }
    int rc = ATT_EXIT_USAGE;
    uint8_t *akb = NULL, *qb = NULL, *sb = NULL, *pb = NULL, *lb = NULL, *ib = NULL;
    size_t akl = 0, ql = 0, sl = 0, pl = 0, ll = 0, il = 0;
    if (att_tpm_read("--ak", ak, ATT_TPM_MAX_FILE, &akb, &akl) != 0 ||
        att_tpm_read("--quote", quote, ATT_TPM_MAX_FILE, &qb, &ql) != 0 ||
        att_tpm_read("--sig", sig, ATT_TPM_MAX_FILE, &sb, &sl) != 0 ||
        att_tpm_read("--pcrs", pcrs, ATT_TPM_MAX_FILE, &pb, &pl) != 0 ||
        (log && att_tpm_read("--eventlog", log, ATT_TPM_MAX_LOG_BYTES, &lb, &ll) != 0) ||
        (ima && att_tpm_read("--ima", ima, ATT_TPM_MAX_LOG_BYTES, &ib, &il) != 0))
        goto out;
    if ((log && ll == 0) || (ima && il == 0)) {
        fprintf(stderr, "attest tpm verify: %s is empty\n", log && ll == 0 ? log : ima);
        goto out;
    }
    att_tpm_input_t in = {.ak = akb,
                          .ak_len = akl,
                          .quote = qb,
                          .quote_len = ql,
                          .sig = sb,
                          .sig_len = sl,
                          .pcrs = pb,
                          .pcrs_len = pl,
                          .nonce = nb,
                          .nonce_len = nl / 2,
                          .eventlog = lb,
                          .eventlog_len = ll,
                          .ima = ib,
                          .ima_len = il};
    att_tpm_result_t *res = calloc(1, sizeof(*res));
    if (res == NULL)
        goto out;
    att_err_t e = att_tpm_verify(&in, res);
    json_t *o = att_tpm_result_json(res);
    att_tpm_print(o, json);
    json_decref(o);
    att_tpm_result_free(res);
    free(res);
    rc = e == ATT_OK ? ATT_EXIT_OK : ATT_EXIT_REJECT;
out:
    free(akb);
    free(qb);
    free(sb);
    free(pb);
    free(lb);
    free(ib);
    return rc;
}

static int att_tpm_act_read(const char *what, const char *path, size_t max, uint8_t **buf,
                            size_t *len)
{
    att_diag_t d;
    if (att_read_file(path, max, buf, len, &d) != ATT_OK) {
        fprintf(stderr, "attest tpm activate: %s %s: %s\n", what, path, d.msg);
        return -1;
    }
    return 0;
}

/* `attest tpm activate` (the TPM options parsed as attest evidence's, cmd_evidence.c). */
static int att_tpm_activate_cmd(int argc, char **argv)
{
    att_cli_prov_t p = {0};
    const char *cred = NULL, *blob = NULL, *secret = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(att_tpm_usage, stdout);
            return ATT_EXIT_OK;
        } else if (i + 1 < argc && !strcmp(a, "--credential")) {
            cred = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--blob")) {
            blob = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--secret")) {
            secret = argv[++i];
        } else if (strcmp(a, "--provider") != 0 && att_cli_prov_arg(&p, argc, argv, &i)) {
            continue;
        } else {
            fprintf(stderr, "attest tpm activate: unknown or incomplete option '%s'\n%s", a,
                    att_tpm_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (p.ak_handle == NULL || (cred != NULL) == (blob != NULL || secret != NULL) ||
        (cred == NULL && (blob == NULL || secret == NULL))) {
        fprintf(stderr, "attest tpm activate: --ak-handle and either --credential FILE or --blob "
                        "FILE --secret FILE are required\n");
        return ATT_EXIT_USAGE;
    }
    uint8_t *cb = NULL, *sb = NULL;
    size_t cl = 0, sl = 0;
    const uint8_t *bp, *sp;
    size_t bl, spl;
    int rc = ATT_EXIT_USAGE;
    att_tpm_client_t *t = NULL;
    if (cred != NULL) {
        if (att_tpm_act_read("--credential", cred, ATT_TPM_MAX_FILE, &cb, &cl) != 0)
            goto out;
        /* magic, version, TPM2B_ID_OBJECT (u16 size first), TPM2B_ENCRYPTED_SECRET */
        static const uint8_t hdr[8] = {0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1};
        size_t idl = cl >= 10 ? ((size_t)cb[8] << 8 | cb[9]) : 0;
        if (cl < 12 || memcmp(cb, hdr, 8) != 0 || 10 + idl + 2 > cl ||
            ((size_t)cb[10 + idl] << 8 | cb[11 + idl]) != cl - 12 - idl) {
            fprintf(stderr,
                    "attest tpm activate: %s is not tpm2_makecredential's file (0xBADCC0DE, "
                    "version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET, nothing after)\n",
                    cred);
            goto out;
        }
        bp = cb + 8;
        bl = 2 + idl;
        sp = cb + 10 + idl;
        spl = cl - 10 - idl;
    } else {
        if (att_tpm_act_read("--blob", blob, ATT_TPM_MAX_FILE, &cb, &cl) != 0 ||
            att_tpm_act_read("--secret", secret, ATT_TPM_MAX_FILE, &sb, &sl) != 0)
            goto out;
        bp = cb;
        bl = cl;
        sp = sb;
        spl = sl;
    }
    if ((rc = att_cli_tpm_open("tpm activate", &p, &t)) != ATT_EXIT_OK)
        goto out;
    uint8_t out[64];
    size_t ol = 0;
    att_diag_t d;
    att_err_t e = att_tpm_client_activate(t, bp, bl, sp, spl, out, &ol, &d);
    if (e != ATT_OK) {
        fprintf(stderr, "attest tpm activate: %s\n", d.msg);
        rc = e == ATT_E_ARG ? ATT_EXIT_USAGE : ATT_EXIT_REJECT;
        goto out;
    }
    char hex[2 * sizeof(out) + 1];
    att_hex_encode(out, ol, hex);
    OPENSSL_cleanse(out, sizeof(out));
    printf("%s\n", hex);
    OPENSSL_cleanse(hex, sizeof(hex));
    rc = ATT_EXIT_OK;
out:
    att_tpm_client_close(t);
    free(cb);
    free(sb);
    return rc;
}

int att_cli_tpm(int argc, char **argv)
{
    /* libtss2-mu logs malformed input on stderr; the verdict already says what was wrong. */
    setenv("TSS2_LOG", "all+NONE", 0);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(att_tpm_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? ATT_EXIT_USAGE : ATT_EXIT_OK;
    }
    if (!strcmp(argv[1], "verify"))
        return att_tpm_verify_cmd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "activate"))
        return att_tpm_activate_cmd(argc - 1, argv + 1);
    fprintf(stderr, "attest tpm: unknown subcommand '%s'\n%s", argv[1], att_tpm_usage);
    return ATT_EXIT_USAGE;
}
