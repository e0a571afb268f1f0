/* cmd_evidence.c - `attest evidence`: collect evidence binding runtime data from a provider
 * (sim, tsm, gramine), and the provider options shared with `attest run`.
 *
 * Output (docs/client.md): the evidence document
 *   {"type": "SgxEnclave"|"TdxVm", "provider": "sim", "evidence": "<base64url>"}
 * on standard output or in --out FILE; with --raw, the bare evidence bytes in --out FILE and the
 * type on standard output. `attest submit --evidence` takes either.
 *
 * Exit codes: 0 collected, 1 the provider failed (device absent, refused), 2 usage or I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "attest/client.h"
#include "attest/token.h"
#include "cli.h"
#include "core/util.h"

#define ATT_RUNTIME_MAX (1u << 20)

static const char att_evidence_usage[] =
    "usage: attest evidence --provider sim|tsm|gramine|sev-guest --runtime-data FILE [--out FILE]\n"
    "                       [--raw] [--sim-dir DIR] [--tee sgx|tdx] [--root DIR]\n"
    "       attest evidence --provider tpm (--nonce HEX | --runtime-data FILE) [--out FILE] "
    "[--raw]\n"
    "                       [--tcti TCTI] [--pcrs SPEC] [--ek-alg rsa|ecc] [--ak-alg rsa|ecc]\n"
    "                       [--ek-handle HANDLE] [--ak-handle HANDLE] [--eventlog FILE|none]\n"
    "                       [--ima FILE]\n"
    "Collect attestation evidence whose report data binds FILE as MAA checks it:\n"
    "report_data = SHA-256(FILE) || 32 zero bytes.\n"
    "  --provider sim      a simulated platform made by 'attest sim init DIR' (--sim-dir DIR);\n"
    "                      --tee sgx (SGX DCAP v3 quote) or tdx (TDX v4), default from DIR\n"
    "  --provider tsm      Linux configfs-tsm in a TDX or SEV-SNP guest (--root: the report\n"
    "                      directory, default /sys/kernel/config/tsm/report; needs root)\n"
    "  --provider gramine  Gramine's /dev/attestation inside an SGX enclave (--root: that\n"
    "                      directory)\n"
    "  --provider sev-guest  /dev/sev-guest in an SEV-SNP guest without configfs-tsm (--root:\n"
    "                      the device, default /dev/sev-guest; needs root)\n"
    "  --provider tpm      a TPM 2.0 through tpm2-tss: the EK (TCG template, --ek-alg; or the\n"
    "                      persistent --ek-handle, e.g. swtpm's P-384 EK 0x81010016), a new AK\n"
    "                      under it (--ak-alg; or the persistent --ak-handle 0x81...), a quote of\n"
    "                      --pcrs (default sha256:0,1,2,3,4,5,6,7; e.g. sha256:all+sha1:0-7)\n"
    "                      with --nonce HEX (1-64 bytes) or SHA-256(--runtime-data FILE) as\n"
    "                      qualifying data. --tcti as tpm2-tools (swtpm:host=127.0.0.1,port=2321,\n"
    "                      device:/dev/tpmrm0), default $TPM2TOOLS_TCTI, else tpm2-tss's default.\n"
    "                      --eventlog: the TCG log (default with a device TCTI: /sys/kernel/\n"
    "                      security/tpm0/binary_bios_measurements when readable; none: none);\n"
    "                      --ima: an IMA log.\n"
    "Output: {\"type\": \"SgxEnclave\"|\"TdxVm\"|\"SevSnpVm\", \"provider\": P, \"evidence\":\n"
    "BASE64URL} on standard output, or in --out FILE. --raw writes the bare evidence bytes to "
    "--out FILE and\n"
    "prints the type. 'attest submit --evidence FILE' takes either form.\n"
    "tpm: {\"type\": \"Tpm\", \"provider\": \"tpm\", \"nonce\": HEX, \"ak\", \"quote\",\n"
    "\"signature\", \"pcrs\", \"tcg_log\"?, \"ima_log\"?, \"ek_cert\"?} (base64url; /attest/Tpm "
    "round\n"
    "2's members, docs/client.md); --raw: the members alone. 'attest run --type Tpm' attests.\n"
    "Exit: 0 collected, 1 the provider failed (device absent, unsupported, the TPM refused),\n"
    "2 usage or I/O (a bad --pcrs spec included).\n";

int att_cli_prov_arg(att_cli_prov_t *p, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (*i + 1 >= argc)
        return 0;
    const char **dst = !strcmp(a, "--provider")    ? &p->provider
                       : !strcmp(a, "--sim-dir")   ? &p->sim_dir
                       : !strcmp(a, "--tee")       ? &p->tee
                       : !strcmp(a, "--root")      ? &p->root
                       : !strcmp(a, "--tcti")      ? &p->tcti
                       : !strcmp(a, "--ek-alg")    ? &p->ek_alg
                       : !strcmp(a, "--ak-alg")    ? &p->ak_alg
                       : !strcmp(a, "--ak-handle") ? &p->ak_handle
                       : !strcmp(a, "--ek-handle") ? &p->ek_handle
                       : !strcmp(a, "--pcrs")      ? &p->pcrs
                       : !strcmp(a, "--eventlog")  ? &p->eventlog
                       : !strcmp(a, "--ima")       ? &p->ima
                                                   : NULL;
    if (dst == NULL)
        return 0;
    *dst = argv[++*i];
    return 1;
}

int att_cli_read_runtime(const char *cmd, const char *path, uint8_t **rd, size_t *len)
{
    att_diag_t d;
    if (path == NULL) {
        fprintf(stderr, "attest %s: --runtime-data FILE is required\n", cmd);
        return ATT_EXIT_USAGE;
    }
    if (att_read_file(path, ATT_RUNTIME_MAX, rd, len, &d) != ATT_OK) {
        fprintf(stderr, "attest %s: %s\n", cmd, d.msg);
        return ATT_EXIT_USAGE;
    }
    return ATT_EXIT_OK;
}

static int att_cli_key_alg(const char *cmd, const char *opt, const char *v, att_tpm_key_alg_t *alg)
{
    if (v == NULL || !strcmp(v, "rsa")) {
        *alg = ATT_TPM_KEY_RSA;
    } else if (!strcmp(v, "ecc")) {
        *alg = ATT_TPM_KEY_ECC;
    } else {
        fprintf(stderr, "attest %s: %s must be rsa or ecc, not '%s'\n", cmd, opt, v);
        return ATT_EXIT_USAGE;
    }
    return ATT_EXIT_OK;
}

/* Whether any TPM option was given. */
static bool att_cli_tpm_given(const att_cli_prov_t *p)
{
    return p->tcti || p->ek_alg || p->ak_alg || p->ek_handle || p->ak_handle || p->pcrs ||
           p->eventlog || p->ima;
}

/* A TPM handle in hex (0x81010002); NULL leaves *h 0. */
static int att_cli_handle(const char *cmd, const char *opt, const char *v, uint32_t *h)
{
    if (v == NULL)
        return ATT_EXIT_OK;
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 16);
    if (errno != 0 || *end != '\0' || end == v || x > 0xffffffffUL) {
        fprintf(stderr, "attest %s: %s must be a hex handle such as 0x81010002, not '%s'\n", cmd,
                opt, v);
        return ATT_EXIT_USAGE;
    }
    *h = (uint32_t)x;
    return ATT_EXIT_OK;
}

int att_cli_tpm_opts(const char *cmd, const att_cli_prov_t *p, att_tpm_client_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    /* tpm2-tss logs its errors on stderr; the message printed says what failed */
    setenv("TSS2_LOG", "all+NONE", 0);
    o->tcti = p->tcti;
    o->pcrs = p->pcrs;
    o->eventlog = p->eventlog;
    o->ima = p->ima;
    if (att_cli_key_alg(cmd, "--ek-alg", p->ek_alg, &o->ek_alg) != ATT_EXIT_OK ||
        att_cli_key_alg(cmd, "--ak-alg", p->ak_alg, &o->ak_alg) != ATT_EXIT_OK)
        return ATT_EXIT_USAGE;
    if (att_cli_handle(cmd, "--ak-handle", p->ak_handle, &o->ak_handle) != ATT_EXIT_OK ||
        att_cli_handle(cmd, "--ek-handle", p->ek_handle, &o->ek_handle) != ATT_EXIT_OK)
        return ATT_EXIT_USAGE;
    return ATT_EXIT_OK;
}

int att_cli_tpm_open(const char *cmd, const att_cli_prov_t *p, att_tpm_client_t **t)
{
    att_tpm_client_opts_t o;
    *t = NULL;
    if (att_cli_tpm_opts(cmd, p, &o) != ATT_EXIT_OK)
        return ATT_EXIT_USAGE;
    att_diag_t d;
    att_err_t e = att_tpm_client_open(&o, t, &d);
    if (e != ATT_OK) {
        fprintf(stderr, "attest %s: tpm: %s\n", cmd, d.msg);
        return e == ATT_E_ARG ? ATT_EXIT_USAGE : ATT_EXIT_REJECT;
    }
    return ATT_EXIT_OK;
}

int att_cli_prov_collect(const char *cmd, const att_cli_prov_t *p, const uint8_t *rd, size_t rdlen,
                         att_evidence_t *ev)
{
    att_provider_opts_t o = {.sim_dir = p->sim_dir, .root = p->root};
    if (p->provider == NULL) {
        fprintf(stderr, "attest %s: --provider sim|tsm|gramine|sev-guest|tpm is required\n", cmd);
        return ATT_EXIT_USAGE;
    }
    if (strcmp(p->provider, "tpm") != 0 && att_cli_tpm_given(p)) {
        fprintf(stderr, "attest %s: the TPM options (--tcti, --pcrs, ...) are for --provider tpm\n",
                cmd);
        return ATT_EXIT_USAGE;
    }
    if (att_cli_tpm_opts(cmd, p, &o.tpm) != ATT_EXIT_OK)
        return ATT_EXIT_USAGE;
    if (p->tee != NULL) {
        if (!strcmp(p->tee, "sgx")) {
            o.sim_tee = ATT_SIM_TEE_SGX;
        } else if (!strcmp(p->tee, "tdx")) {
            o.sim_tee = ATT_SIM_TEE_TDX;
        } else {
            fprintf(stderr, "attest %s: --tee must be sgx or tdx, not '%s'\n", cmd, p->tee);
            return ATT_EXIT_USAGE;
        }
    }
    att_diag_t d;
    att_provider_t *prov;
    att_err_t e = att_provider_new(p->provider, &o, &prov, &d);
    if (e == ATT_OK) {
        e = att_provider_collect(prov, rd, rdlen, ev, &d);
        att_provider_free(prov);
    }
    if (e != ATT_OK) {
        fprintf(stderr, "attest %s: %s provider: %s\n", cmd, p->provider, d.msg);
        return e == ATT_E_ARG ? ATT_EXIT_USAGE : ATT_EXIT_REJECT;
    }
    return ATT_EXIT_OK;
}

static int att_write_out(const char *path, const void *buf, size_t len)
{
    FILE *f = path ? fopen(path, "wb") : stdout;
    if (f == NULL) {
        perror(path);
        return ATT_EXIT_USAGE;
    }
    bool ok = fwrite(buf, 1, len, f) == len;
    ok = (path ? fclose(f) == 0 : fflush(f) == 0) && ok;
    if (!ok) {
        fprintf(stderr, "attest evidence: cannot write %s\n", path ? path : "standard output");
        return ATT_EXIT_USAGE;
    }
    return ATT_EXIT_OK;
}

/* The tpm provider: a quote with --nonce HEX, or SHA-256(--runtime-data FILE), as qualifying
 * data; the document is {"type": "Tpm", "provider": "tpm", "nonce": HEX, and round 2's members}
 * (--raw: the members alone). */
static int att_evidence_tpm(const att_cli_prov_t *p, const char *rfile, const char *nonce,
                            const char *out, bool raw)
{
    uint8_t qd[64];
    size_t qlen = 0;
    if (p->sim_dir != NULL || p->tee != NULL || p->root != NULL) {
        fprintf(stderr, "attest evidence: --sim-dir, --tee and --root are not TPM options\n");
        return ATT_EXIT_USAGE;
    }
    if ((rfile == NULL) == (nonce == NULL)) {
        fprintf(stderr, "attest evidence: --provider tpm takes one of --nonce HEX and "
                        "--runtime-data FILE\n");
        return ATT_EXIT_USAGE;
    }
    if (nonce != NULL) {
        qlen = strlen(nonce) / 2;
        if (strlen(nonce) % 2 || qlen == 0 || qlen > sizeof(qd) ||
            !att_hex_decode(nonce, 2 * qlen, qd, qlen)) {
            fprintf(stderr, "attest evidence: --nonce must be hex of 1 to 64 bytes\n");
            return ATT_EXIT_USAGE;
        }
    } else {
        uint8_t *rd = NULL;
        size_t rdlen = 0;
        att_diag_t d;
        int rc = att_cli_read_runtime("evidence", rfile, &rd, &rdlen);
        if (rc != ATT_EXIT_OK)
            return rc;
        att_err_t e = att_report_data_for(rd, rdlen, qd, &d);
        free(rd);
        if (e != ATT_OK) {
            fprintf(stderr, "attest evidence: %s\n", d.msg);
            return ATT_EXIT_USAGE;
        }
        qlen = 32;
    }
    att_tpm_client_t *t;
    int rc = att_cli_tpm_open("evidence", p, &t);
    if (rc != ATT_EXIT_OK)
        return rc;
    char *m = NULL;
    att_diag_t d;
    att_err_t e = att_tpm_client_quote(t, qd, qlen, &m, &d);
    att_tpm_client_close(t);
    if (e != ATT_OK) {
        fprintf(stderr, "attest evidence: tpm: %s\n", d.msg);
        return e == ATT_E_ARG ? ATT_EXIT_USAGE : ATT_EXIT_REJECT;
    }
    if (raw) {
        rc = att_write_out(out, m, strlen(m));
        if (rc == ATT_EXIT_OK)
            printf("Tpm\n");
        free(m);
        return rc;
    }
    char hex[2 * sizeof(qd) + 1];
    att_hex_encode(qd, qlen, hex);
    json_t *mj = json_loads(m, 0, NULL);
    free(m);
    json_t *doc = json_pack("{s:s,s:s,s:s}", "type", "Tpm", "provider", "tpm", "nonce", hex);
    char *text = NULL;
    if (mj != NULL && doc != NULL && json_object_update(doc, mj) == 0)
        text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(mj);
    json_decref(doc);
    if (text == NULL) {
        fprintf(stderr, "attest evidence: out of memory\n");
        return ATT_EXIT_USAGE;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* as below */
    rc = att_write_out(out, text, n + 1);
    free(text);
    return rc;
}

int att_cli_evidence(int argc, char **argv)
{
    att_cli_prov_t p = {0};
    const char *rfile = NULL, *out = NULL, *nonce = NULL;
    bool raw = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(att_evidence_usage, stdout);
            return ATT_EXIT_OK;
        } else if (!strcmp(a, "--raw")) {
            raw = true;
        } else if (att_cli_prov_arg(&p, argc, argv, &i)) {
            continue;
        } else if (i + 1 < argc && !strcmp(a, "--runtime-data")) {
            rfile = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--out")) {
            out = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--nonce")) {
            nonce = argv[++i];
        } else {
            fprintf(stderr, "attest evidence: unexpected argument '%s'\n%s", a, att_evidence_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (raw && out == NULL) {
        fprintf(stderr, "attest evidence: --raw needs --out FILE\n");
        return ATT_EXIT_USAGE;
    }
    if (p.provider != NULL && !strcmp(p.provider, "tpm"))
        return att_evidence_tpm(&p, rfile, nonce, out, raw);
    if (nonce != NULL) {
        fprintf(stderr, "attest evidence: --nonce is for --provider tpm\n");
        return ATT_EXIT_USAGE;
    }
    uint8_t *rd = NULL;
    size_t rdlen = 0;
    int rc = att_cli_read_runtime("evidence", rfile, &rd, &rdlen);
    if (rc != ATT_EXIT_OK)
        return rc;
    att_evidence_t ev = {0};
    if ((rc = att_cli_prov_collect("evidence", &p, rd, rdlen, &ev)) != ATT_EXIT_OK)
        goto out;
    if (raw) {
        if ((rc = att_write_out(out, ev.data, ev.len)) == ATT_EXIT_OK)
            printf("%s\n", ev.type);
        goto out;
    }
    char *b = att_b64url_encode(ev.data, ev.len);
    json_t *doc =
        b ? json_pack("{s:s,s:s,s:s}", "type", ev.type, "provider", p.provider, "evidence", b)
          : NULL;
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (text == NULL) {
        fprintf(stderr, "attest evidence: out of memory\n");
        rc = ATT_EXIT_USAGE;
    } else {
        size_t n = strlen(text);
        text[n] = '\n'; /* json_dumps leaves room: replaced NUL, written with its length */
        rc = att_write_out(out, text, n + 1);
        text[n] = '\0';
    }
    free(text);
    json_decref(doc);
    free(b);
out:
    att_evidence_clear(&ev);
    free(rd);
    return rc;
}
