/* cmd_quote.c - `attest quote verify|dump`: DCAP quote verification with offline collateral. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "attest/dcap.h"
#include "cli.h"
#include "core/util.h"

#define ATT_MAX_QUOTE (1u << 20)

static const char att_quote_usage[] =
    "usage: attest quote verify --quote FILE --collateral DIR [--at RFC3339] [--trust-root FILE]\n"
    "                           [--json]\n"
    "       attest quote dump --quote FILE [--json]\n"
    "\n"
    "verify  checks an Intel DCAP quote (SGX v3, SGX/TDX v4, TDX v5) against offline collateral,\n"
    "        as Intel's Quote Verification Library does, at time --at (default: now).\n"
    "        DIR holds the collateral as Intel PCS serves it: tcb_info.json,\n"
    "        tcb_info_issuer_chain.pem, qe_identity.json, qe_identity_issuer_chain.pem,\n"
    "        pck_crl.der, root_ca_crl.der (DER or PEM; .der/.pem/.crl), and optionally\n"
    "        pck_crl_issuer_chain.pem.\n"
    "        --trust-root FILE adds a root CA (PEM/DER) trusted by key, for test hierarchies;\n"
    "        the Intel SGX Root CA is always pinned. Repeatable.\n"
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

static int att_quote_verify(int argc, char **argv)
{
    const char *quote = NULL, *dir = NULL, *at = NULL, *roots[8];
    size_t nroots = 0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(att_quote_usage, stdout);
            return ATT_EXIT_OK;
        } else if (i + 1 < argc && !strcmp(a, "--quote")) {
            quote = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--collateral")) {
            dir = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--at")) {
            at = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--trust-root")) {
            if (nroots == 8) {
                fprintf(stderr, "attest quote verify: at most 8 --trust-root\n");
                return ATT_EXIT_USAGE;
            }
            roots[nroots++] = argv[++i];
        } else {
            fprintf(stderr, "attest quote verify: unknown or incomplete option '%s'\n%s", a,
                    att_quote_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (quote == NULL || dir == NULL) {
        fprintf(stderr, "attest quote verify: --quote and --collateral are required\n%s",
                att_quote_usage);
        return ATT_EXIT_USAGE;
    }
    att_time_t now = (att_time_t)time(NULL);
    if (at != NULL && att_time_parse(at, &now) != ATT_OK) {
        fprintf(stderr,
                "attest quote verify: --at '%s' is not an RFC 3339 time "
                "(e.g. 2025-07-01T00:00:00Z)\n",
                at);
        return ATT_EXIT_USAGE;
    }
    int rc = ATT_EXIT_USAGE;
    uint8_t *q = NULL;
    size_t qlen = 0;
    att_trust_t *trust = att_trust_new();
    att_dcap_collateral_raw_t raw = {0};
    att_dcap_collateral_t *coll = NULL;
    att_dcap_result_t *res = calloc(1, sizeof(*res));
    att_diag_t d;
    if (trust == NULL || res == NULL || att_load_quote(quote, &q, &qlen) != 0)
        goto out;
    for (size_t i = 0; i < nroots; i++)
        if (att_trust_add_root_file(trust, roots[i], &d) != ATT_OK) {
            fprintf(stderr, "attest quote verify: --trust-root %s: %s\n", roots[i], d.msg);
            goto out;
        }
    if (att_dcap_collateral_raw_load_dir(dir, &raw, &d) != ATT_OK) {
        fprintf(stderr, "attest quote verify: %s\n", d.msg);
        goto out;
    }
    /* Collateral that fails its own checks is a rejection of this verification, not a usage
     * error: report it like any other failed check. */
    att_err_t e = att_dcap_collateral_new(&raw, trust, &coll, &d);
    if (e == ATT_OK) {
        e = att_dcap_verify(q, qlen, coll, trust, now, res);
    } else {
        memset(res, 0, sizeof(*res));
        res->diag = d;
        if (att_quote_parse(q, qlen, &res->quote, &d) == ATT_OK)
            res->tee = (att_tee_t)res->quote.tee_type;
        else
            memset(&res->quote, 0, sizeof(res->quote));
    }
    json_t *o = att_dcap_result_json(res);
    char t[ATT_TIME_STRLEN];
    json_object_set_new(o, "verified_at", json_string(att_time_format(now, t)));
    if (json)
        att_print_json(o);
    else
        att_print_summary(o);
    json_decref(o);
    rc = e == ATT_OK ? ATT_EXIT_OK : ATT_EXIT_REJECT;
out:
    att_dcap_collateral_free(coll);
    att_dcap_collateral_raw_free(&raw);
    att_trust_free(trust);
    free(res);
    free(q);
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
