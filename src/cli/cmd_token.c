/* cmd_token.c - `attest token verify`: the relying party's check of an attestation token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "attest/rp.h"
#include "cli.h"
#include "core/util.h"
#include "token/ear.h"

#define ATT_MAX_TOKEN_FILE (1u << 20)
#define ATT_MAX_EXPECT     64

static const char att_token_usage[] =
    "usage: attest token verify TOKEN_FILE --issuer URL [--nonce N] [--expect CLAIM=VALUE ...]\n"
    "                           [--at RFC3339] [--jwks FILE] [--json]\n"
    "                           [--ear [--ear-accept-warning]]\n"
    "\n"
    "verify  checks an attestation token (JWT) as a relying party: the key is chosen by the\n"
    "        token's kid from the issuer's JWKS only (OpenID discovery at\n"
    "        URL/.well-known/openid-configuration, then jwks_uri; never the token's own jku,\n"
    "        jwk, x5c or x5u), then alg, signature, iss = URL, exp/nbf at --at (default: now)\n"
    "        with 60 s skew, the nonce claim (--nonce) and expected claims (--expect, repeatable:\n"
    "        VALUE is compared as JSON when it parses as JSON, else as a string).\n"
    "        --jwks FILE uses that JWKS instead of fetching one (offline).\n"
    "        TOKEN_FILE ('-': stdin) holds the token, or attestd's answer {\"token\": \"...\"}.\n"
    "--ear   the token must be an EAR (docs/ear.md: attestd's answer to Accept:\n"
    "        application/eat+jwt) of profile " ATT_EAR_PROFILE " whose every\n"
    "        appraisal's ear.status is affirming (--ear-accept-warning: or warning); --nonce is\n"
    "        then compared with eat_nonce. Each appraisal's status and vector are printed.\n"
    "\n"
    "Output names the failed check. --json prints {\"valid\", \"error\": {code, message, check},\n"
    "\"header\", \"claims\"}. Exit status: 0 valid, 1 invalid (also when the issuer's keys\n"
    "cannot be fetched: check \"jwks\"), 2 usage or I/O error.\n";

/* The token text of a file: the compact JWS, or the "token" member of a JSON object. */
static char *att_token_load(const char *path)
{
    att_diag_t d;
    uint8_t *buf = NULL;
    size_t n = 0;
    if (strcmp(path, "-") == 0) {
        size_t cap = 0;
        for (;;) {
            if (n + 4096 + 1 > cap) {
                cap = cap ? cap * 2 : 8192;
                uint8_t *nb = cap <= 2 * ATT_MAX_TOKEN_FILE ? realloc(buf, cap) : NULL;
                if (nb == NULL) {
                    free(buf);
                    fprintf(stderr, "attest token: stdin: too large or out of memory\n");
                    return NULL;
                }
                buf = nb;
            }
            size_t got = fread(buf + n, 1, 4096, stdin);
            n += got;
            if (got == 0)
                break;
        }
        buf[n] = '\0';
    } else if (att_read_file(path, ATT_MAX_TOKEN_FILE, &buf, &n, &d) != ATT_OK) {
        fprintf(stderr, "attest token: %s\n", d.msg);
        return NULL;
    }
    char *s = (char *)buf;
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
        i++;
    if (i < n && s[i] == '{') {
        json_t *o = json_loadb(s, n, 0, NULL);
        const char *t = json_string_value(json_object_get(o, "token"));
        char *out = t ? strdup(t) : NULL;
        json_decref(o);
        free(buf);
        if (out == NULL)
            fprintf(stderr, "attest token: %s is JSON without a string \"token\" member\n", path);
        return out;
    }
    return s;
}

static void att_token_print_text(const att_rp_result_t *r, bool valid, bool nonce, size_t nexp)
{
    if (valid)
        printf("valid: %s signature by key \"%s\" of the issuer's JWKS; iss, exp/nbf%s%s "
               "checked\n",
               att_alg_name(r->alg), json_string_value(json_object_get(r->header, "kid")),
               nonce ? ", nonce" : "", nexp ? ", expected claims" : "");
    else
        printf("INVALID: %s check failed: %s: %s\n", r->check ? r->check : "?",
               att_err_name(r->diag.code), r->diag.msg);
    if (r->claims == NULL)
        return;
    printf("claims%s:\n", valid ? "" : " (authentic, signature verified)");
    const char *k;
    json_t *v;
    json_object_foreach(r->claims, k, v)
    {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        printf("  %-34s %s\n", k, s ? s : "?");
        free(s);
    }
}

/* --ear: each appraisal's status and trust vector, after the claims. */
static void att_token_print_ear(json_t *claims)
{
    const char *name;
    json_t *a;
    json_object_foreach(json_object_get(claims, "submods"), name, a)
    {
        char *tv = json_dumps(json_object_get(a, "ear.trustworthiness-vector"),
                              JSON_ENCODE_ANY | JSON_COMPACT);
        printf("EAR %s: %s %s\n", name, json_string_value(json_object_get(a, "ear.status")),
               tv ? tv : "{}");
        free(tv);
    }
}

static int att_token_verify(int argc, char **argv)
{
    const char *file = NULL, *issuer = NULL, *nonce = NULL, *at = NULL, *jwks = NULL;
    const char *specs[ATT_MAX_EXPECT];
    size_t nspecs = 0;
    bool json = false, ear = false, ear_warning = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(att_token_usage, stdout);
            return ATT_EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--ear")) {
            ear = true;
        } else if (!strcmp(a, "--ear-accept-warning")) {
            ear_warning = true;
        } else if (i + 1 < argc && !strcmp(a, "--issuer")) {
            issuer = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--nonce")) {
            nonce = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--at")) {
            at = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--jwks")) {
            jwks = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--expect")) {
            if (nspecs == ATT_MAX_EXPECT) {
                fprintf(stderr, "attest token verify: at most %d --expect\n", ATT_MAX_EXPECT);
                return ATT_EXIT_USAGE;
            }
            specs[nspecs++] = argv[++i];
        } else if ((a[0] != '-' || !strcmp(a, "-")) && file == NULL) {
            file = a;
        } else {
            fprintf(stderr, "attest token verify: unknown or incomplete option '%s'\n%s", a,
                    att_token_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (file == NULL || issuer == NULL) {
        fprintf(stderr, "attest token verify: TOKEN_FILE and --issuer are required\n%s",
                att_token_usage);
        return ATT_EXIT_USAGE;
    }
    att_time_t now = (att_time_t)time(NULL);
    if (at != NULL && att_time_parse(at, &now) != ATT_OK) {
        fprintf(stderr, "attest token verify: --at '%s' is not an RFC 3339 time\n", at);
        return ATT_EXIT_USAGE;
    }

    att_diag_t d;
    att_rp_expect_t expect[ATT_MAX_EXPECT];
    size_t nexp = 0;
    int rc = ATT_EXIT_USAGE;
    char *token = NULL;
    att_rp_t *rp = NULL;
    att_rp_result_t r = {0};
    for (; nexp < nspecs; nexp++)
        if (att_rp_expect_parse(specs[nexp], &expect[nexp], &d) != ATT_OK) {
            fprintf(stderr, "attest token verify: --expect: %s\n", d.msg);
            goto out;
        }
    if ((token = att_token_load(file)) == NULL)
        goto out;
    rp = att_rp_new(&(att_rp_opts_t){.issuer = issuer}, &d);
    if (rp == NULL) {
        fprintf(stderr, "attest token verify: %s\n", d.msg);
        goto out;
    }
    if (jwks != NULL) {
        uint8_t *buf = NULL;
        size_t n = 0;
        att_err_t e = att_read_file(jwks, ATT_MAX_TOKEN_FILE, &buf, &n, &d);
        if (e == ATT_OK)
            e = att_rp_load_jwks(rp, (const char *)buf, n, now, &d);
        free(buf);
        if (e != ATT_OK) {
            fprintf(stderr, "attest token verify: --jwks %s: %s\n", jwks, d.msg);
            goto out;
        }
    } /* else the keys are fetched by att_rp_verify: a failure is its "jwks" check (exit 1) */

    /* an EAR carries the nonce as eat_nonce: att_ear_check compares it */
    att_rp_check_t check = {.nonce = ear ? NULL : nonce, .expect = expect, .n_expect = nexp};
    att_err_t e = att_rp_verify(rp, token, strlen(token), &check, now, &r);
    if (e == ATT_OK && ear &&
        (e = att_ear_check(r.claims, ear_warning ? ATT_EAR_WARNING : ATT_EAR_AFFIRMING, nonce,
                           &r.diag)) != ATT_OK)
        r.check = "ear";
    rc = e == ATT_OK ? ATT_EXIT_OK : ATT_EXIT_REJECT;
    if (json) {
        json_t *o = json_pack("{s:b,s:o,s:O?,s:O?}", "valid", e == ATT_OK, "error",
                              e == ATT_OK ? json_null()
                                          : json_pack("{s:s,s:s,s:s?}", "code", att_err_name(e),
                                                      "message", r.diag.msg, "check", r.check),
                              "header", r.header, "claims", r.claims);
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(o);
    } else {
        att_token_print_text(&r, e == ATT_OK, nonce != NULL, nexp);
        if (ear)
            att_token_print_ear(r.claims);
    }
out:
    att_rp_result_clear(&r);
    att_rp_free(rp);
    free(token);
    for (size_t i = 0; i < nexp; i++)
        att_rp_expect_clear(&expect[i]);
    return rc;
}

int att_cli_token(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(att_token_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? ATT_EXIT_USAGE : ATT_EXIT_OK;
    }
    if (!strcmp(argv[1], "verify"))
        return att_token_verify(argc - 1, argv + 1);
    fprintf(stderr, "attest token: unknown subcommand '%s'\n%s", argv[1], att_token_usage);
    return ATT_EXIT_USAGE;
}
