/* cmd_policy.c - `attest policy check|eval|default`: MAA attestation policies from the shell.
 *
 *   attest policy check FILE                      parse; print the x-ms-policy-hash or the error
 *   attest policy eval FILE (--claims C.json | --token JWT | --quote Q --collateral DIR) ...
 *   attest policy default TYPE                    the default policy of an attestation type
 *
 * Exit codes: 0 ok/permit, 1 syntax error/deny/evaluation error, 2 usage or I/O error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "attest/policy.h"
#include "attest/rp.h"
#include "attest/token.h"
#include "cli.h"
#include "core/util.h"

#define ATT_CLAIMS_MAX (16u << 20)

static const char att_policy_usage[] =
    "usage: attest policy COMMAND ...\n"
    "\n"
    "commands:\n"
    "  check FILE                                 parse a policy; print its x-ms-policy-hash\n"
    "  eval FILE (--claims CLAIMS.json | --token JWT | --quote Q --collateral DIR)\n"
    "       [--explain] [--json]                  evaluate against incoming claims\n"
    "  default TYPE                               print the default policy of SgxEnclave,\n"
    "                                             OpenEnclave, TdxVm, SevSnpVm or Tpm\n"
    "  get|set|reset --url URL --type TYPE ...    read or change the policy in force on a\n"
    "                                             running attestd (or MAA)\n"
    "\n"
    "FILE may be '-' for standard input. Exit: 0 ok/permit, 1 syntax error/deny, 2 usage or I/O.\n"
    "'attest policy COMMAND --help' describes a command.\n";

static const char att_check_usage[] =
    "usage: attest policy check FILE [--json]\n"
    "Parse an MAA attestation policy (version 1.0, 1.1 or 1.2). On success print\n"
    "  HASH  FILE (version 1.x, N rules)\n"
    "where HASH is the x-ms-policy-hash MAA puts in tokens: base64url(SHA-256(base64url(text)))\n"
    "over the exact bytes of FILE. On a syntax error print FILE:LINE:COLUMN: error: ... and\n"
    "exit 1. --json prints {\"valid\", \"hash\", \"version\", \"rules\"} or {\"valid\": false, "
    "\"error\": {...}}.\n";

static const char att_eval_usage[] =
    "usage: attest policy eval FILE CLAIMS [--explain] [--json] [--max-steps N]\n"
    "                          [--max-memory BYTES]\n"
    "CLAIMS, one of:\n"
    "  --claims CLAIMS.json   a JSON object of MAA claim names ({\"x-ms-sgx-mrenclave\": \"...\",\n"
    "                         \"x-ms-sgx-svn\": 2, ...}, issuer AttestationService), an array of\n"
    "                         {\"type\", \"value\", \"issuer\", \"valueType\"}, or the output of\n"
    "                         'attest quote verify --json' (its \"claims\")\n"
    "  --token FILE|JWT [--issuer URL]\n"
    "                         the claims of an attestation token (a compact JWS, or a file "
    "holding\n"
    "                         one or attestd's {\"token\": ...} answer); with --issuer it is "
    "first\n"
    "                         verified as 'attest token verify --issuer URL' does (signature by\n"
    "                         the issuer's published key, iss, exp, nbf); without, NOT checked\n"
    "  --quote Q --collateral DIR [--at RFC3339] [--trust-root FILE] [--runtime-data FILE]\n"
    "                         a DCAP quote verified as 'attest quote verify' does; its claims\n"
    "Evaluate a policy against incoming claims. Prints permit or deny, the\n"
    "deciding rule, the issued claims and properties; --explain adds a trace of every rule.\n"
    "--json prints one object: {\"decision\", \"reason\", \"claims\", \"properties\",\n"
    "\"policy_hash\", \"trace\" (with --explain), \"cost\": {\"steps\", \"bytes\"}}.\n"
    "--max-steps and --max-memory set the evaluation's work budget (default 1000000 steps,\n"
    "64M bytes of values built; k/M/G suffixes); over it: ATT_E_POLICY_BUDGET.\n"
    "Exit: 0 permit, 1 deny, syntax or evaluation error, or a quote (or claims document) that\n"
    "was rejected, 2 usage or I/O error.\n";

static const char att_default_usage[] =
    "usage: attest policy default TYPE\n"
    "Print the default policy of an attestation type: SgxEnclave, OpenEnclave, TdxVm, SevSnpVm,\n"
    "Tpm. SGX and Open Enclave get MAA's documented default; MAA publishes no default for the\n"
    "others, so they get the permit-all stand-in of docs/policy.md.\n";

static bool att_is_help(const char *a)
{
    return !strcmp(a, "--help") || !strcmp(a, "-h");
}

static int att_load_policy(const char *path, char **text, size_t *len)
{
    att_diag_t d;
    uint8_t *buf = NULL;
    att_err_t e;
    if (!strcmp(path, "-")) {
        size_t cap = 4096, n = 0;
        buf = malloc(cap + 1);
        while (buf != NULL) {
            size_t r = fread(buf + n, 1, cap - n, stdin);
            n += r;
            if (r == 0)
                break;
            if (n == cap) {
                if (cap > ATT_POLICY_MAX_TEXT) {
                    fprintf(stderr, "attest policy: standard input is larger than %d bytes\n",
                            ATT_POLICY_MAX_TEXT);
                    free(buf);
                    return ATT_EXIT_USAGE;
                }
                uint8_t *nb = realloc(buf, cap * 2 + 1);
                if (nb == NULL) {
                    free(buf);
                    buf = NULL;
                    break;
                }
                buf = nb;
                cap *= 2;
            }
        }
        if (buf == NULL) {
            fprintf(stderr, "attest policy: out of memory\n");
            return ATT_EXIT_USAGE;
        }
        buf[n] = '\0';
        *text = (char *)buf;
        *len = n;
        return ATT_EXIT_OK;
    }
    e = att_read_file(path, ATT_POLICY_MAX_TEXT, &buf, len, &d);
    if (e != ATT_OK) {
        fprintf(stderr, "attest policy: %s\n", d.msg);
        return ATT_EXIT_USAGE;
    }
    *text = (char *)buf;
    return ATT_EXIT_OK;
}

/* "line 3, column 12: expected ..." -> "expected ..." */
static const char *att_strip_pos(const char *msg, const att_policy_pos_t *pos)
{
    if (pos->line == 0)
        return msg;
    const char *p = strstr(msg, ": ");
    return p ? p + 2 : msg;
}

static void att_print_syntax(const char *path, att_err_t e, const att_diag_t *d,
                             const att_policy_pos_t *pos, bool json)
{
    if (json) {
        json_t *o =
            json_pack("{s:b,s:{s:s,s:s,s:i,s:i}}", "valid", 0, "error", "code",
                      e == ATT_E_POLICY_SYNTAX ? "PolicyParsingError" : att_err_name(e), "message",
                      d->msg, "line", (int)pos->line, "column", (int)pos->column);
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    }
    if (pos->line > 0)
        fprintf(stderr, "%s:%u:%u: error: %s\n", path, pos->line, pos->column,
                att_strip_pos(d->msg, pos));
    else
        fprintf(stderr, "%s: error: %s\n", path, d->msg);
}

static int att_cmd_check(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (att_is_help(argv[i])) {
            fputs(att_check_usage, stdout);
            return ATT_EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "attest policy check: unknown option '%s'\n%s", argv[i],
                    att_check_usage);
            return ATT_EXIT_USAGE;
        } else if (path == NULL) {
            path = argv[i];
        } else {
            fprintf(stderr, "attest policy check: one FILE only\n%s", att_check_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (path == NULL) {
        fputs(att_check_usage, stderr);
        return ATT_EXIT_USAGE;
    }
    char *text;
    size_t len;
    int rc = att_load_policy(path, &text, &len);
    if (rc != ATT_EXIT_OK)
        return rc;
    att_policy_t *pol = NULL;
    att_policy_pos_t pos;
    att_diag_t d;
    att_err_t e = att_policy_compile(text, len, &pol, &pos, &d);
    free(text);
    if (e != ATT_OK) {
        att_print_syntax(path, e, &d, &pos, json);
        return e == ATT_E_POLICY_SYNTAX ? ATT_EXIT_REJECT : ATT_EXIT_USAGE;
    }
    int v = att_policy_version(pol);
    if (json) {
        json_t *o =
            json_pack("{s:b,s:s,s:s,s:i}", "valid", 1, "hash", att_policy_hash(pol), "version",
                      v == 10   ? "1.0"
                      : v == 11 ? "1.1"
                                : "1.2",
                      "rules", (int)att_policy_rule_count(pol));
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else {
        printf("%s  %s (version 1.%d, %zu rule%s)\n", att_policy_hash(pol), path, v - 10,
               att_policy_rule_count(pol), att_policy_rule_count(pol) == 1 ? "" : "s");
    }
    att_policy_free(pol);
    return ATT_EXIT_OK;
}

static void att_print_json(const char *label, const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    printf("%s%s\n", label, s ? s : "?");
    free(s);
}

/* "1000", "64M", "16k": a positive count with an optional 1024-based k/M/G suffix. */
static bool att_parse_count(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end == 'k' || *end == 'K')
        shift = 10;
    else if (*end == 'M')
        shift = 20;
    else if (*end == 'G')
        shift = 30;
    if (shift)
        end++;
    if (errno != 0 || *end != '\0' || v == 0 || v > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

static const char *att_or(const char *s, const char *dflt)
{
    return s ? s : dflt;
}

/* The claims of a compact JWS's payload (its signature not checked). NULL with a message. */
static json_t *att_token_claims(const char *t, const char *from)
{
    const char *p1 = strchr(t, '.'), *p2 = p1 ? strchr(p1 + 1, '.') : NULL;
    if (p2 == NULL || p1 == t || strchr(p2 + 1, '.') != NULL) {
        fprintf(stderr,
                "attest policy eval: --token %s is not a compact JWS (HEADER.PAYLOAD.SIGNATURE)\n",
                from);
        return NULL;
    }
    uint8_t *pl = NULL;
    size_t n = 0;
    if (!att_b64_decode(p1 + 1, (size_t)(p2 - p1 - 1), false, &pl, &n)) {
        fprintf(stderr, "attest policy eval: --token %s: the payload is not base64url\n", from);
        return NULL;
    }
    json_error_t je;
    json_t *c = json_loadb((const char *)pl, n, JSON_REJECT_DUPLICATES, &je);
    free(pl);
    if (!json_is_object(c)) {
        fprintf(stderr, "attest policy eval: --token %s: the payload is not a JSON object%s%s\n",
                from, c ? "" : ": ", c ? "" : je.text);
        json_decref(c);
        return NULL;
    }
    return c;
}

/* With --issuer: the claims of a token verified as 'attest token verify --issuer' does. */
static json_t *att_verified_claims(const char *t, const char *from, const char *issuer, int *rc)
{
    att_diag_t d;
    att_rp_t *rp = att_rp_new(&(att_rp_opts_t){.issuer = issuer}, &d);
    if (rp == NULL) {
        fprintf(stderr, "attest policy eval: --issuer: %s\n", d.msg);
        return NULL;
    }
    att_rp_result_t r = {0};
    att_rp_check_t check = {0};
    json_t *c = NULL;
    if (att_rp_verify(rp, t, strlen(t), &check, (att_time_t)time(NULL), &r) == ATT_OK) {
        c = json_incref(r.claims);
    } else { /* a token that does not verify: no decision, as for a rejected quote */
        *rc = ATT_EXIT_REJECT;
        fprintf(stderr, "attest policy eval: --token %s does not verify (%s check): %s: %s\n", from,
                att_or(r.check, "?"), att_err_name(r.diag.code), r.diag.msg);
    }
    att_rp_result_clear(&r);
    att_rp_free(rp);
    return c;
}

/* --token FILE|JWT: a token given as is, or a file holding one (or attestd's {"token": ...});
 * verified against issuer's keys when issuer is given. */
static json_t *att_load_token(const char *arg, const char *issuer, int *rc)
{
    static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    if (strlen(arg) > 16 && arg[strspn(arg, b64u)] == '\0' && strchr(arg, '.') != NULL)
        return issuer ? att_verified_claims(arg, "(given)", issuer, rc)
                      : att_token_claims(arg, "(given)");
    att_diag_t d;
    uint8_t *b;
    size_t n;
    if (att_read_file(arg, ATT_CLAIMS_MAX, &b, &n, &d) != ATT_OK) {
        fprintf(stderr, "attest policy eval: --token: %s\n", d.msg);
        return NULL;
    }
    char *t = (char *)b;
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
        t[--n] = '\0';
    while (*t == ' ' || *t == '\n' || *t == '\r' || *t == '\t')
        t++;
    json_t *c = NULL;
    if (*t == '{') {
        json_t *j = json_loads(t, 0, NULL);
        const char *tok = json_string_value(json_object_get(j, "token"));
        if (tok == NULL)
            fprintf(stderr,
                    "attest policy eval: --token %s: a JSON file must be {\"token\": JWS}\n", arg);
        else
            c = issuer ? att_verified_claims(tok, arg, issuer, rc) : att_token_claims(tok, arg);
        json_decref(j);
    } else {
        c = issuer ? att_verified_claims(t, arg, issuer, rc) : att_token_claims(t, arg);
    }
    free(b);
    return c;
}

/* --claims FILE: claims, or a verification's output (its "claims"). *rc: the exit code when
 * NULL is returned. */
static json_t *att_load_claims(const char *path, int *rc)
{
    json_error_t jerr;
    *rc = ATT_EXIT_USAGE;
    json_t *claims =
        !strcmp(path, "-") ? json_loadf(stdin, 0, &jerr) : json_load_file(path, 0, &jerr);
    if (claims == NULL) {
        fprintf(stderr, "attest policy eval: %s:%d:%d: %s\n", path, jerr.line, jerr.column,
                jerr.text);
        return NULL;
    }
    json_t *verdict = json_object_get(claims, "verdict"),
           *inner = json_object_get(claims, "claims");
    if (!json_is_string(verdict) || inner == NULL)
        return claims; /* a claim set */
    /* 'attest quote verify --json': its claims, if it accepted the evidence */
    if (!json_is_object(inner)) {
        json_t *err = json_object_get(claims, "error");
        fprintf(stderr,
                "attest policy eval: %s is a verification that rejected the evidence (%s: %s): "
                "no claims to evaluate\n",
                path, att_or(json_string_value(json_object_get(err, "code")), "no error code"),
                att_or(json_string_value(json_object_get(err, "message")), ""));
        json_decref(claims);
        *rc = ATT_EXIT_REJECT;
        return NULL;
    }
    json_incref(inner);
    json_decref(claims);
    return inner;
}

static int att_cmd_eval(int argc, char **argv)
{
    const char *path = NULL, *claims_path = NULL, *token = NULL, *issuer = NULL;
    att_cli_qv_t qv = {0};
    bool json = false, explain = false;
    uint64_t max_steps = 0, max_bytes = 0;
    int k;
    for (int i = 1; i < argc; i++) {
        if ((k = att_cli_qv_arg("policy eval", &qv, argc, argv, &i)) != 0) {
            if (k < 0)
                return ATT_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--token")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "attest policy eval: --token needs a file or a JWT\n%s",
                        att_eval_usage);
                return ATT_EXIT_USAGE;
            }
            token = argv[++i];
        } else if (!strcmp(argv[i], "--issuer")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "attest policy eval: --issuer needs a URL\n");
                return ATT_EXIT_USAGE;
            }
            issuer = argv[++i];
        } else if (att_is_help(argv[i])) {
            fputs(att_eval_usage, stdout);
            return ATT_EXIT_OK;
        } else if (!strcmp(argv[i], "--max-steps") || !strcmp(argv[i], "--max-memory")) {
            uint64_t *dst = !strcmp(argv[i], "--max-steps") ? &max_steps : &max_bytes;
            if (i + 1 >= argc || !att_parse_count(argv[i + 1], dst) ||
                (dst == &max_bytes && *dst > SIZE_MAX)) {
                fprintf(stderr, "attest policy eval: %s needs a positive number (k/M/G suffix)\n%s",
                        argv[i], att_eval_usage);
                return ATT_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--explain")) {
            explain = true;
        } else if (!strcmp(argv[i], "--claims")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "attest policy eval: --claims needs a file\n%s", att_eval_usage);
                return ATT_EXIT_USAGE;
            }
            claims_path = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "attest policy eval: unknown option '%s'\n%s", argv[i], att_eval_usage);
            return ATT_EXIT_USAGE;
        } else if (path == NULL) {
            path = argv[i];
        } else {
            fprintf(stderr, "attest policy eval: one FILE only\n%s", att_eval_usage);
            return ATT_EXIT_USAGE;
        }
    }
    bool quote = qv.quote || qv.dir || qv.at || qv.runtime || qv.nroots;
    int sources = (claims_path != NULL) + (token != NULL) + quote;
    if (path == NULL || sources != 1) {
        fprintf(stderr,
                "attest policy eval: FILE and one of --claims, --token or --quote are required\n%s",
                att_eval_usage);
        return ATT_EXIT_USAGE;
    }
    if (issuer != NULL && token == NULL) {
        fprintf(stderr, "attest policy eval: --issuer goes with --token\n");
        return ATT_EXIT_USAGE;
    }
    if (quote && (qv.quote == NULL || qv.dir == NULL)) {
        fprintf(stderr, "attest policy eval: --quote needs --collateral DIR (and the other way)\n");
        return ATT_EXIT_USAGE;
    }
    if (claims_path != NULL && !strcmp(path, "-") && !strcmp(claims_path, "-")) {
        fprintf(stderr, "attest policy eval: only one of FILE and CLAIMS can be '-'\n");
        return ATT_EXIT_USAGE;
    }
    char *text;
    size_t len;
    int rc = att_load_policy(path, &text, &len);
    if (rc != ATT_EXIT_OK)
        return rc;
    json_t *claims = NULL;
    if (claims_path != NULL) {
        claims = att_load_claims(claims_path, &rc);
    } else if (token != NULL) {
        rc = ATT_EXIT_USAGE;
        claims = att_load_token(token, issuer, &rc);
    } else {
        json_t *doc = NULL;
        rc = att_cli_quote_run("policy eval", &qv, &doc);
        if (rc == ATT_EXIT_OK) {
            claims = json_incref(json_object_get(doc, "claims"));
        } else if (doc != NULL) {
            json_t *err = json_object_get(doc, "error");
            fprintf(stderr, "attest policy eval: the quote was rejected: %s: %s\n",
                    att_or(json_string_value(json_object_get(err, "code")), "?"),
                    att_or(json_string_value(json_object_get(err, "message")), ""));
        }
        json_decref(doc);
    }
    if (claims == NULL) {
        free(text);
        return rc;
    }
    rc = ATT_EXIT_OK;
    att_policy_t *pol = NULL;
    att_policy_pos_t pos;
    att_diag_t d;
    att_err_t e = att_policy_compile(text, len, &pol, &pos, &d);
    free(text);
    if (e != ATT_OK) {
        att_print_syntax(path, e, &d, &pos, json);
        json_decref(claims);
        return e == ATT_E_POLICY_SYNTAX ? ATT_EXIT_REJECT : ATT_EXIT_USAGE;
    }
    att_policy_eval_opts_t opts = {
        .explain = explain, .max_steps = max_steps, .max_bytes = (size_t)max_bytes};
    att_policy_result_t *res = NULL;
    e = att_policy_eval(pol, claims, &opts, &res, &d);
    json_decref(claims);
    if (e != ATT_OK) {
        if (json) {
            json_t *o = json_pack("{s:s,s:{s:s,s:s}}", "decision", "error", "error", "code",
                                  att_err_name(e), "message", d.msg);
            json_dumpf(o, stdout, JSON_INDENT(2));
            putchar('\n');
            json_decref(o);
        }
        fprintf(stderr, "attest policy eval: %s: %s\n", att_err_name(e), d.msg);
        att_policy_free(pol);
        return e == ATT_E_POLICY_CLAIMS ? ATT_EXIT_USAGE : ATT_EXIT_REJECT;
    }
    bool permit = att_policy_permitted(res);
    if (json) {
        json_t *o = json_pack(
            "{s:s,s:s,s:O,s:O,s:s}", "decision", permit ? "permit" : "deny", "reason",
            att_policy_result_reason(res), "claims", att_policy_result_claims(res), "properties",
            att_policy_result_properties(res), "policy_hash", att_policy_hash(pol));
        if (explain)
            json_object_set(o, "trace", (json_t *)att_policy_result_trace(res));
        uint64_t steps;
        size_t bytes;
        att_policy_result_cost(res, &steps, &bytes);
        json_object_set_new(
            o, "cost",
            json_pack("{s:I,s:I}", "steps", (json_int_t)steps, "bytes", (json_int_t)bytes));
        char *s = json_dumps(o, JSON_INDENT(2));
        printf("%s\n", s ? s : "?");
        free(s);
        json_decref(o);
    } else {
        printf("%s\n", permit ? "permit" : "deny");
        printf("reason: %s\n", att_policy_result_reason(res));
        att_print_json("claims: ", att_policy_result_claims(res));
        if (json_object_size(att_policy_result_properties(res)) > 0)
            att_print_json("properties: ", att_policy_result_properties(res));
        if (explain)
            printf("trace:\n%s", att_policy_result_trace_text(res));
    }
    att_policy_result_free(res);
    att_policy_free(pol);
    return permit ? ATT_EXIT_OK : ATT_EXIT_REJECT;
}

static int att_cmd_default(int argc, char **argv)
{
    if (argc == 2 && att_is_help(argv[1])) {
        fputs(att_default_usage, stdout);
        return ATT_EXIT_OK;
    }
    if (argc != 2) {
        fputs(att_default_usage, stderr);
        return ATT_EXIT_USAGE;
    }
    const char *text = att_policy_default(argv[1]);
    if (text == NULL) {
        fprintf(stderr, "attest policy default: unknown attestation type '%s'\n%s", argv[1],
                att_default_usage);
        return ATT_EXIT_USAGE;
    }
    fputs(text, stdout);
    return ATT_EXIT_OK;
}

int att_cli_policy(int argc, char **argv)
{
    if (argc < 2) {
        fputs(att_policy_usage, stderr);
        return ATT_EXIT_USAGE;
    }
    if (att_is_help(argv[1]) || !strcmp(argv[1], "help")) {
        fputs(att_policy_usage, stdout);
        return ATT_EXIT_OK;
    }
    if (!strcmp(argv[1], "check"))
        return att_cmd_check(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval"))
        return att_cmd_eval(argc - 1, argv + 1);
    if (!strcmp(argv[1], "default"))
        return att_cmd_default(argc - 1, argv + 1);
    if (!strcmp(argv[1], "get") || !strcmp(argv[1], "set") || !strcmp(argv[1], "reset"))
        return att_cli_policy_remote(argc - 1, argv + 1);
    fprintf(stderr, "attest policy: unknown command '%s'\n%s", argv[1], att_policy_usage);
    return ATT_EXIT_USAGE;
}
