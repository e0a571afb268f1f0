/* cmd_quote.c - `attest quote verify|dump`: DCAP quote verification with offline collateral. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "attest/client.h"
#include "attest/dcap.h"
#include "attest/evidence.h"
#include "attest/token.h"
#include "cli.h"
#include "core/util.h"

#define ATT_MAX_QUOTE (1u << 20)

static const char att_quote_usage[] =
    "usage: attest quote verify --quote FILE --collateral DIR [--at RFC3339] [--trust-root FILE]\n"
    "                           [--runtime-data FILE] [--json]\n"
    "       attest quote dump --quote FILE [--json]\n"
    "\n"
    "verify  checks an Intel DCAP quote (SGX v3, SGX/TDX v4, TDX v5) as attestd does, with\n"
    "        offline collateral, as Intel's Quote Verification Library does, at time --at\n"
    "        (default: now). DIR is read as attestd's --collateral-dir: one set as Intel PCS\n"
    "        serves it (tcb_info.json, tcb_info_issuer_chain.pem, qe_identity.json,\n"
    "        qe_identity_issuer_chain.pem, pck_crl.der, root_ca_crl.der (DER or PEM;\n"
    "        .der/.pem/.crl), optionally pck_crl_issuer_chain.pem), or one subdirectory per set\n"
    "        (what 'attest collateral fetch' writes); the set of the quote's FMSPC, TEE and PCK\n"
    "        CA is used.\n"
    "        --trust-root FILE adds a root CA (PEM/DER) trusted by key, for test hierarchies;\n"
    "        the Intel SGX Root CA is always pinned. Repeatable (at most 8).\n"
    "        --runtime-data FILE checks that the quote binds FILE (SHA-256 in its report data)\n"
    "        and adds it as attestd does (x-ms-sgx-ehd).\n"
    "        --json prints the verdict and \"claims\": the MAA claims attestd's policy gets\n"
    "        (x-ms-sgx-mrenclave, x-ms-sgx-svn, ...; null when rejected), which\n"
    "        'attest policy eval POLICY --claims FILE' takes as they are.\n"
    "dump    prints the parsed quote structure without verifying anything.\n"
    "\n"
    "The quote file is binary, or hex text. Exit status: 0 accepted (dump: parsed),\n"
    "1 rejected (dump: malformed), 2 usage or I/O error.\n";

/* Read a quote: binary, or hex text (whitespace and a 0x prefix allowed). */
static int att_load_quote(const char *path, uint8_t **out, size_t *len)
{
    att_diag_t d;
    uint8_t *buf;
    size_t n;
    if (att_read_file(path, 2 * ATT_MAX_QUOTE + 16, &buf, &n, &d) != ATT_OK) {
        fprintf(stderr, "attest quote: %s\n", d.msg);
        return -1;
    }
    size_t i = 0, digits = 0;
    bool hex = n > 0;
    if (n >= 2 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X'))
        i = 2;
    for (size_t k = i; k < n && hex; k++) {
        if (isxdigit(buf[k]))
            digits++;
        else if (!isspace(buf[k]))
            hex = false;
    }
    if (hex && digits > 0 && digits % 2 == 0) {
        size_t w = 0;
        for (size_t k = i; k < n; k++)
            if (isxdigit(buf[k]))
                buf[w++] = buf[k];
        uint8_t *bin = malloc(w / 2 + 1);
        if (bin == NULL || !att_hex_decode((char *)buf, w, bin, w / 2)) {
            free(bin);
            free(buf);
            fprintf(stderr, "attest quote: %s: bad hex\n", path);
            return -1;
        }
        free(buf);
        buf = bin;
        n = w / 2;
    }
    if (n > ATT_MAX_QUOTE) {
        free(buf);
        fprintf(stderr, "attest quote: %s is larger than %u bytes\n", path, ATT_MAX_QUOTE);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

static void att_print_json(json_t *o)
{
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
}

/* Readable summary: scalar members one per line, arrays joined. */
static void att_print_summary(json_t *o)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (json_is_string(v)) {
            printf("%-20s %s\n", k, json_string_value(v));
        } else if (json_is_integer(v)) {
            printf("%-20s %lld\n", k, (long long)json_integer_value(v));
        } else if (json_is_boolean(v)) {
            printf("%-20s %s\n", k, json_is_true(v) ? "true" : "false");
        } else if (json_is_array(v)) {
            printf("%-20s ", k);
            size_t i;
            json_t *a;
            json_array_foreach(v, i, a) printf("%s%s", i ? ", " : "", json_string_value(a));
            printf("%s\n", json_array_size(v) ? "" : "(none)");
        } else if (json_is_object(v)) {
            json_t *code = json_object_get(v, "code"), *msg = json_object_get(v, "message");
            if (code && msg)
                printf("%-20s %s: %s\n", k, json_string_value(code), json_string_value(msg));
            else {
                printf("%s:\n", k);
                const char *k2;
                json_t *v2;
                json_object_foreach(v, k2, v2)
                {
                    char *s = json_is_string(v2) ? NULL : json_dumps(v2, JSON_ENCODE_ANY);
                    printf("  %-18s %s\n", k2, s ? s : json_string_value(v2));
                    free(s);
                }
            }
        }
    }
}

int att_cli_qv_arg(const char *cmd, att_cli_qv_t *a, int argc, char **argv, int *i)
{
    const char *o = argv[*i];
    const char **dst = !strcmp(o, "--quote")          ? &a->quote
                       : !strcmp(o, "--collateral")   ? &a->dir
                       : !strcmp(o, "--at")           ? &a->at
                       : !strcmp(o, "--runtime-data") ? &a->runtime
                       : !strcmp(o, "--trust-root")   ? &a->roots[a->nroots]
                                                      : NULL;
    if (dst == NULL)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "attest %s: %s needs a value\n", cmd, o);
        return -1;
    }
    if (dst == &a->roots[a->nroots]) {
        if (a->nroots == ATT_CLI_QV_MAX_ROOTS) {
            fprintf(stderr, "attest %s: at most %d --trust-root\n", cmd, ATT_CLI_QV_MAX_ROOTS);
            return -1;
        }
        a->nroots++;
    }
    *dst = argv[++*i];
    return 1;
}

/* Verify a quote as attestd does (the SgxEnclave or TdxVm verifier, collateral from a.dir as
 * attestd's --collateral-dir reads it): *doc gets the verdict and, when accepted, "claims", the
 * MAA claims attestd's policy gets. Exit code: 0 accepted, 1 rejected (*doc says why), 2 usage
 * or I/O (printed; *doc NULL). */
int att_cli_quote_run(const char *cmd, const att_cli_qv_t *a, json_t **doc)
{
    *doc = NULL;
    att_time_t now = (att_time_t)time(NULL);
    if (a->at != NULL && att_time_parse(a->at, &now) != ATT_OK) {
        fprintf(stderr,
                "attest %s: --at '%s' is not an RFC 3339 time (e.g. 2025-07-01T00:00:00Z)\n", cmd,
                a->at);
        return ATT_EXIT_USAGE;
    }
    int rc = ATT_EXIT_USAGE;
    uint8_t *q = NULL, *rd = NULL;
    size_t qlen = 0, rdlen = 0;
    att_cli_offline_t *off = NULL;
    att_ev_result_t r = {0};
    att_dcap_result_t fallback;
    att_diag_t d;
    if (att_load_quote(a->quote, &q, &qlen) != 0)
        goto out;
    if (a->runtime != NULL &&
        att_read_file(a->runtime, ATT_EVIDENCE_MAX, &rd, &rdlen, &d) != ATT_OK) {
        fprintf(stderr, "attest %s: --runtime-data: %s\n", cmd, d.msg);
        goto out;
    }
    if (att_cli_offline_new(a->roots, a->nroots, &off, &d) != ATT_OK) {
        fprintf(stderr, "attest %s: %s\n", cmd, d.msg);
        goto out;
    }
    att_err_t e = att_cli_offline_load(off, a->dir, &d);
    if (e == ATT_E_IO || e == ATT_E_COLL_MISSING || e == ATT_E_NOMEM) {
        fprintf(stderr, "attest %s: %s\n", cmd, d.msg);
        goto out;
    }
    /* Collateral that fails its own checks is a rejection of this verification, not a usage
     * error: reported like any other failed check. */
    const att_dcap_result_t *res = NULL;
    if (e == ATT_OK) {
        att_quote_t parsed;
        att_diag_t pd;
        const att_ev_type_t *t = att_ev_type_find(
            att_quote_parse(q, qlen, &parsed, &pd) == ATT_OK && parsed.tee_type == ATT_TEE_TDX
                ? "TdxVm"
                : "SgxEnclave");
        e = att_cli_offline_verify(off, t, q, qlen, now, &r);
        d = r.diag;
        res = r.detail;
        if (e == ATT_OK && rd != NULL && (e = att_ev_bind(&r, rd, rdlen, NULL, 0, &d)) == ATT_OK &&
            t->runtime_claim != NULL) {
            char *ehd = att_b64url_encode(rd, rdlen);
            json_object_set_new(r.claims, t->runtime_claim, json_string(ehd ? ehd : ""));
            free(ehd);
        }
    }
    if (res == NULL || (e != ATT_OK && res->diag.code == ATT_OK)) {
        /* stopped before the quote's own checks (collateral, binding): what is known of it */
        if (res != NULL && e != ATT_OK)
            fallback = *res;
        else
            memset(&fallback, 0, sizeof(fallback));
        fallback.accepted = false;
        fallback.diag = d;
        if (fallback.quote.version == 0) {
            if (att_quote_parse(q, qlen, &fallback.quote, &d) == ATT_OK)
                fallback.tee = (att_tee_t)fallback.quote.tee_type;
            else
                memset(&fallback.quote, 0, sizeof(fallback.quote));
        }
        res = &fallback;
    } else if (e != ATT_OK && rd != NULL && res->accepted) {
        fallback = *res; /* the runtime data is not the quote's */
        fallback.accepted = false;
        fallback.diag = d;
        res = &fallback;
    }
    json_t *o = att_dcap_result_json(res);
    char ts[ATT_TIME_STRLEN];
    json_object_set_new(o, "verified_at", json_string(att_time_format(now, ts)));
    json_object_set(o, "claims", e == ATT_OK && r.claims ? r.claims : json_null());
    *doc = o;
    rc = e == ATT_OK ? ATT_EXIT_OK : ATT_EXIT_REJECT;
out:
    att_ev_result_clear(&r);
    att_cli_offline_free(off);
    free(rd);
    free(q);
    return rc;
}

static int att_quote_verify(int argc, char **argv)
{
    att_cli_qv_t a = {0};
    int json = 0, k;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--json")) {
            json = 1;
        } else if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(att_quote_usage, stdout);
            return ATT_EXIT_OK;
        } else if ((k = att_cli_qv_arg("quote verify", &a, argc, argv, &i)) != 0) {
            if (k < 0)
                return ATT_EXIT_USAGE;
        } else {
            fprintf(stderr, "attest quote verify: unknown or incomplete option '%s'\n%s", o,
                    att_quote_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (a.quote == NULL || a.dir == NULL) {
        fprintf(stderr, "attest quote verify: --quote and --collateral are required\n%s",
                att_quote_usage);
        return ATT_EXIT_USAGE;
    }
    json_t *o;
    int rc = att_cli_quote_run("quote verify", &a, &o);
    if (o == NULL)
        return rc;
    if (json)
        att_print_json(o);
    else
        att_print_summary(o);
    json_decref(o);
    return rc;
}

static int att_quote_dump(int argc, char **argv)
{
    const char *quote = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(att_quote_usage, stdout);
            return ATT_EXIT_OK;
        } else if (i + 1 < argc && !strcmp(argv[i], "--quote")) {
            quote = argv[++i];
        } else {
            fprintf(stderr, "attest quote dump: unknown or incomplete option '%s'\n%s", argv[i],
                    att_quote_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (quote == NULL) {
        fprintf(stderr, "attest quote dump: --quote is required\n%s", att_quote_usage);
        return ATT_EXIT_USAGE;
    }
    uint8_t *q;
    size_t qlen;
    if (att_load_quote(quote, &q, &qlen) != 0)
        return ATT_EXIT_USAGE;
    att_quote_t parsed;
    att_diag_t d;
    att_err_t e = att_quote_parse(q, qlen, &parsed, &d);
    int rc = ATT_EXIT_OK;
    if (e != ATT_OK) {
        if (json) {
            json_t *o = json_pack("{s:{s:s,s:i,s:s}}", "error", "code", att_err_name(e), "number",
                                  (int)e, "message", d.msg);
            att_print_json(o);
            json_decref(o);
        } else {
            fprintf(stderr, "attest quote dump: %s: %s\n", att_err_name(e), d.msg);
        }
        rc = ATT_EXIT_REJECT;
    } else {
        json_t *o = att_quote_json(&parsed);
        if (json)
            att_print_json(o);
        else
            att_print_summary(o);
        json_decref(o);
    }
    free(q);
    return rc;
}

int att_cli_quote(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(att_quote_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? ATT_EXIT_USAGE : ATT_EXIT_OK;
    }
    if (!strcmp(argv[1], "verify"))
        return att_quote_verify(argc - 1, argv + 1);
    if (!strcmp(argv[1], "dump"))
        return att_quote_dump(argc - 1, argv + 1);
    fprintf(stderr, "attest quote: unknown subcommand '%s'\n%s", argv[1], att_quote_usage);
    return ATT_EXIT_USAGE;
}
