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
    "Output: {\"type\": \"SgxEnclave\"|\"TdxVm\"|\"SevSnpVm\", \"provider\": P, \"evidence\":\n"
    "BASE64URL} on standard output, or in --out FILE. --raw writes the bare evidence bytes to "
    "--out FILE and\n"
    "prints the type. 'attest submit --evidence FILE' takes either form.\n"
    "Exit: 0 collected, 1 the provider failed (device absent, unsupported), 2 usage or I/O.\n";

int att_cli_prov_arg(att_cli_prov_t *p, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (*i + 1 >= argc)
        return 0;
    const char **dst = !strcmp(a, "--provider")  ? &p->provider
                       : !strcmp(a, "--sim-dir") ? &p->sim_dir
                       : !strcmp(a, "--tee")     ? &p->tee
                       : !strcmp(a, "--root")    ? &p->root
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

int att_cli_prov_collect(const char *cmd, const att_cli_prov_t *p, const uint8_t *rd, size_t rdlen,
                         att_evidence_t *ev)
{
    att_provider_opts_t o = {.sim_dir = p->sim_dir, .root = p->root};
    if (p->provider == NULL) {
        fprintf(stderr, "attest %s: --provider sim|tsm|gramine|sev-guest is required\n", cmd);
        return ATT_EXIT_USAGE;
    }
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

int att_cli_evidence(int argc, char **argv)
{
    att_cli_prov_t p = {0};
    const char *rfile = NULL, *out = NULL;
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
        } else {
            fprintf(stderr, "attest evidence: unexpected argument '%s'\n%s", a, att_evidence_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (raw && out == NULL) {
        fprintf(stderr, "attest evidence: --raw needs --out FILE\n");
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
