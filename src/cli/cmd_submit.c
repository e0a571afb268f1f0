/* cmd_submit.c - `attest submit` (evidence file -> attestation token) and `attest run`
 * (collect + access token + submit), with OAuth2 client-credentials access tokens.
 *
 * Exit codes: 0 token printed; 1 attestd or the identity provider answered with an error (its
 * message is printed with control characters escaped), attestd's 200 answer held no compact JWS
 * (nothing is printed on stdout then), or the evidence provider failed; 2 usage, file or
 * connection errors.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "attest/client.h"
#include "attest/token.h"
#include "attest/evidence.h"
#include "cli.h"
#include "core/util.h"

#define ATT_SECRET_MAX 8192

static const char att_submit_usage[] =
    "usage: attest submit --url URL --evidence FILE [--runtime-data FILE\n"
    "                     [--runtime-data-type binary|json]] [--type "
    "SgxEnclave|OpenEnclave|TdxVm]\n"
    "                     [--nonce N] [--api-version V] [access token options]\n"
    "Send evidence to attestd and print the attestation token: POST URL/attest/TYPE with the\n"
    "quote, the runtime data as {\"data\": base64url, \"dataType\": \"Binary\"} "
    "(--runtime-data-type\n"
    "json: \"JSON\", the file must be JSON, and attestd adds it to the claims as x-ms-runtime;\n"
    "without --runtime-data the request has no runtimeData) and the nonce;\n"
    "api-version 2022-08-01 (TdxVm: 2023-04-01-preview, as MAA), or --api-version V.\n"
    "  --evidence FILE   the output of 'attest evidence' (JSON; gives the type) or raw evidence\n"
    "                    bytes (then --type is required). OpenEnclave wraps a bare SGX quote in\n"
    "                    an Open Enclave report header.\n" ATT_CLI_AUTH_USAGE
    "Exit: 0 token printed, 1 attestd or the identity provider answered with an error (printed\n"
    "as CODE: message, control characters escaped) or attestd's answer held no compact JWS\n"
    "(nothing printed), 2 usage, file or connection error.\n";

static const char att_run_usage[] =
    "usage: attest run --url URL --provider sim|tsm|gramine|sev-guest [--runtime-data FILE\n"
    "                  [--runtime-data-type binary|json]] [--nonce N] [--sim-dir DIR]\n"
    "                  [--tee sgx|tdx] [--root DIR] [--type OpenEnclave]\n"
    "                  [--api-version V] [access token options]\n"
    "Collect evidence binding FILE (as 'attest evidence'), get an access token (if asked), send\n"
    "both to attestd (as 'attest submit') and print the attestation token. Without\n"
    "--runtime-data the evidence binds empty data (SHA-256 of nothing) and the request has no\n"
    "runtimeData.\n"
    "For a TPM: attest run --type Tpm --url URL [TPM options] ('attest run --type Tpm "
    "--help').\n" ATT_CLI_AUTH_USAGE
    "Exit: 0 token printed, 1 the provider failed, attestd or the identity provider answered\n"
    "with an error, or attestd's answer held no compact JWS, 2 usage, file or connection error.\n";

typedef struct {
    const char *url, *type, *nonce, *api_version, *runtime_file, *evidence_file, *runtime_type;
} att_cli_sub_t;

int att_cli_auth_arg(att_cli_auth_t *a, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        return 0;
    const char *o = argv[*i];
    const char **dst = !strcmp(o, "--access-token-file")    ? &a->access_token_file
                       : !strcmp(o, "--issuer")             ? &a->issuer
                       : !strcmp(o, "--token-url")          ? &a->token_url
                       : !strcmp(o, "--client-id")          ? &a->client_id
                       : !strcmp(o, "--client-secret-file") ? &a->secret_file
                       : !strcmp(o, "--client-auth")        ? &a->client_auth
                       : !strcmp(o, "--scope")              ? &a->scope
                       : !strcmp(o, "--audience")           ? &a->audience
                       : !strcmp(o, "--resource")           ? &a->resource
                                                            : NULL;
    if (dst == NULL)
        return 0;
    *dst = argv[++*i];
    return 1;
}

static int att_sub_arg(att_cli_sub_t *s, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        return 0;
    const char *o = argv[*i];
    const char **dst = !strcmp(o, "--url")                 ? &s->url
                       : !strcmp(o, "--type")              ? &s->type
                       : !strcmp(o, "--nonce")             ? &s->nonce
                       : !strcmp(o, "--api-version")       ? &s->api_version
                       : !strcmp(o, "--runtime-data")      ? &s->runtime_file
                       : !strcmp(o, "--evidence")          ? &s->evidence_file
                       : !strcmp(o, "--runtime-data-type") ? &s->runtime_type
                                                           : NULL;
    if (dst == NULL)
        return 0;
    *dst = argv[++*i];
    return 1;
}

/* A secret or token file: whole content, surrounding whitespace dropped. */
static char *att_read_secret(const char *cmd, const char *path)
{
    att_diag_t d;
    uint8_t *b;
    size_t n;
    if (att_read_file(path, ATT_SECRET_MAX, &b, &n, &d) != ATT_OK) {
        fprintf(stderr, "attest %s: %s\n", cmd, d.msg);
        return NULL;
    }
    size_t s = 0;
    while (s < n && isspace(b[s]))
        s++;
    while (n > s && isspace(b[n - 1]))
        n--;
    if (n == s || memchr(b + s, '\0', n - s) != NULL) {
        fprintf(stderr, "attest %s: %s is empty or binary\n", cmd, path);
        OPENSSL_cleanse(b, n);
        free(b);
        return NULL;
    }
    memmove(b, b + s, n - s);
    OPENSSL_cleanse(b + (n - s), s);
    b[n - s] = '\0';
    return (char *)b;
}

/* The access token to send (NULL and ATT_EXIT_OK when none is asked for). */
int att_cli_access_token(const char *cmd, const att_cli_auth_t *a, char **out)
{
    *out = NULL;
    bool oauth = a->issuer || a->token_url || a->client_id || a->secret_file;
    if (a->access_token_file != NULL && oauth) {
        fprintf(stderr,
                "attest %s: --access-token-file and OAuth2 client options exclude each "
                "other\n",
                cmd);
        return ATT_EXIT_USAGE;
    }
    if (a->access_token_file != NULL) {
        *out = att_read_secret(cmd, a->access_token_file);
        return *out ? ATT_EXIT_OK : ATT_EXIT_USAGE;
    }
    if (!oauth)
        return ATT_EXIT_OK;
    if ((a->issuer == NULL) == (a->token_url == NULL) || a->client_id == NULL ||
        a->secret_file == NULL) {
        fprintf(stderr,
                "attest %s: OAuth2 needs one of --issuer or --token-url, and --client-id "
                "and --client-secret-file\n",
                cmd);
        return ATT_EXIT_USAGE;
    }
    att_oauth_opts_t oo = {.issuer = a->issuer,
                           .token_url = a->token_url,
                           .client_id = a->client_id,
                           .scope = a->scope,
                           .audience = a->audience,
                           .resource = a->resource};
    if (a->client_auth == NULL || !strcmp(a->client_auth, "basic")) {
        oo.auth = ATT_OAUTH_BASIC;
    } else if (!strcmp(a->client_auth, "post")) {
        oo.auth = ATT_OAUTH_POST;
    } else {
        fprintf(stderr, "attest %s: --client-auth must be basic or post\n", cmd);
        return ATT_EXIT_USAGE;
    }
    char *secret = att_read_secret(cmd, a->secret_file);
    if (secret == NULL)
        return ATT_EXIT_USAGE;
    oo.client_secret = secret;
    att_diag_t d;
    att_oauth_t *o = NULL;
    att_err_t e = att_oauth_new(&oo, &o, &d);
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    if (e == ATT_OK)
        e = att_oauth_token(o, (att_time_t)time(NULL), out, &d);
    att_oauth_free(o);
    if (e != ATT_OK) {
        fprintf(stderr, "attest %s: access token: ", cmd);
        att_cli_put_safe(stderr, d.msg); /* may quote the provider's error_description */
        fputc('\n', stderr);
        return e == ATT_E_FETCH_STATUS ? ATT_EXIT_REJECT : ATT_EXIT_USAGE;
    }
    return ATT_EXIT_OK;
}

/* Text that came from a server (error codes and messages, or a message quoting them), printed
 * with every control character escaped (\n, \xNN): a server cannot write terminal escape
 * sequences, or fake lines, on the user's terminal. */
void att_cli_put_safe(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
}

/* attestd's refusal (an answer other than 200) on stderr: status, code and message, the text
 * attestd chose printed safely. */
void att_cli_put_refusal(const char *cmd, const att_submit_result_t *r)
{
    fprintf(stderr, "attest %s: attestd answered HTTP %ld: ", cmd, r->http_status);
    att_cli_put_safe(stderr, r->error_code ? r->error_code : "(no error code)");
    fputs(": ", stderr);
    att_cli_put_safe(stderr, r->error_message);
    fputc('\n', stderr);
}

/* NULL if t is a compact JWS as attestd issues them: three base64url segments, a header that
 * is a JSON object with a string "alg" other than "none", a non-empty signature; else why not.
 * Only such a token is printed (the signature is the relying party's to check). */
const char *att_cli_token_malformed(const char *t)
{
    static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t h = strspn(t, b64u);
    if (h == 0 || t[h] != '.')
        return "it does not start with a base64url header segment and a '.'";
    size_t p = strspn(t + h + 1, b64u);
    if (t[h + 1 + p] != '.')
        return "it has no base64url payload segment followed by a '.'";
    const char *sig = t + h + 2 + p;
    size_t sl = strspn(sig, b64u);
    if (sl == 0 || sig[sl] != '\0')
        return "its signature segment is empty, or other characters follow it";
    uint8_t *hb = NULL;
    size_t hn = 0;
    if (!att_b64_decode(t, h, false, &hb, &hn))
        return "its header segment is not base64url";
    json_t *hj = json_loadb((const char *)hb, hn, JSON_REJECT_DUPLICATES, NULL);
    free(hb);
    const char *alg = json_string_value(json_object_get(hj, "alg"));
    const char *why = !json_is_object(hj)        ? "its header is not a JSON object"
                      : alg == NULL              ? "its header has no string \"alg\""
                      : strcmp(alg, "none") == 0 ? "it is unsigned (alg \"none\")"
                                                 : NULL;
    json_decref(hj);
    return why;
}

/* --runtime-data FILE [--runtime-data-type binary|json], both optional: *json says JSON; the
 * data stays NULL when none is given (the request then has no runtimeData). Exit code. */
static int att_sub_runtime(const char *cmd, const att_cli_sub_t *s, uint8_t **rd, size_t *len,
                           bool *json)
{
    *rd = NULL;
    *len = 0;
    *json = false;
    if (s->runtime_type != NULL) {
        if (!strcasecmp(s->runtime_type, "json")) {
            *json = true;
        } else if (strcasecmp(s->runtime_type, "binary") != 0) {
            fprintf(stderr, "attest %s: --runtime-data-type must be binary or json, not '%s'\n",
                    cmd, s->runtime_type);
            return ATT_EXIT_USAGE;
        }
        if (s->runtime_file == NULL) {
            fprintf(stderr, "attest %s: --runtime-data-type needs --runtime-data FILE\n", cmd);
            return ATT_EXIT_USAGE;
        }
    }
    if (s->runtime_file == NULL)
        return ATT_EXIT_OK;
    int rc = att_cli_read_runtime(cmd, s->runtime_file, rd, len);
    if (rc != ATT_EXIT_OK)
        return rc;
    if (*json) { /* attestd refuses JSON runtime data that does not parse: say so first */
        json_error_t je;
        json_t *j = json_loadb((const char *)*rd, *len, JSON_REJECT_DUPLICATES, &je);
        if (j == NULL) {
            fprintf(stderr,
                    "attest %s: --runtime-data-type json, but %s is not JSON: line %d, column "
                    "%d: %s\n",
                    cmd, s->runtime_file, je.line, je.column, je.text);
            free(*rd);
            *rd = NULL;
            return ATT_EXIT_USAGE;
        }
        json_decref(j);
    }
    if (*rd == NULL && (*rd = malloc(1)) == NULL) { /* an empty file is still runtime data */
        fprintf(stderr, "attest %s: out of memory\n", cmd);
        return ATT_EXIT_USAGE;
    }
    return ATT_EXIT_OK;
}

static int att_do_submit(const char *cmd, const att_cli_sub_t *s, const char *type,
                         const uint8_t *ev, size_t evlen, const uint8_t *rd, size_t rdlen,
                         bool rd_json, const char *token)
{
    att_submit_opts_t so = {.url = s->url,
                            .type = type,
                            .evidence = ev,
                            .evidence_len = evlen,
                            .runtime_data = rd,
                            .runtime_len = rdlen,
                            .runtime_json = rd_json,
                            .nonce = s->nonce,
                            .access_token = token,
                            .api_version = s->api_version};
    att_submit_result_t r;
    att_diag_t d;
    att_err_t e = att_submit(&so, &r, &d);
    int rc = ATT_EXIT_OK;
    const char *bad = e == ATT_OK ? att_cli_token_malformed(r.token ? r.token : "") : NULL;
    if (e == ATT_OK && bad == NULL) {
        printf("%s\n", r.token);
    } else if (e == ATT_OK) {
        fprintf(stderr,
                "attest %s: attestd answered HTTP 200 without an attestation token: the "
                "\"token\" is not a compact JWS (%s); nothing printed\n",
                cmd, bad);
        rc = ATT_EXIT_REJECT;
    } else if (e == ATT_E_FETCH_STATUS) {
        att_cli_put_refusal(cmd, &r);
        rc = ATT_EXIT_REJECT;
    } else {
        fprintf(stderr, "attest %s: ", cmd);
        att_cli_put_safe(stderr, d.msg);
        fputc('\n', stderr);
        rc = ATT_EXIT_USAGE;
    }
    att_submit_result_clear(&r);
    return rc;
}

/* A type this build can submit, spelled as MAA's path spells it. */
static bool att_known_type(const char *t)
{
    const att_ev_type_t *et = att_ev_type_find(t);
    return et != NULL && att_ev_type_supported(et) && strcmp(et->name, t) == 0;
}

/* Evidence collected for `have` may be sent as `want`: the same type, or one wrapping it. */
static bool att_type_fits(const char *want, const char *have)
{
    const att_ev_type_t *w = att_ev_type_find(want);
    return strcmp(want, have) == 0 || (w != NULL && w->wraps != NULL && !strcmp(w->wraps, have));
}

/* The evidence file: an 'attest evidence' JSON document or raw bytes. */
static int att_load_evidence(const char *path, const char **type, uint8_t **ev, size_t *len,
                             char **doc_type)
{
    att_diag_t d;
    uint8_t *b;
    size_t n;
    *doc_type = NULL;
    if (att_read_file(path, 4u * ATT_EVIDENCE_MAX, &b, &n, &d) != ATT_OK) {
        fprintf(stderr, "attest submit: %s\n", d.msg);
        return ATT_EXIT_USAGE;
    }
    size_t i = 0;
    while (i < n && isspace(b[i]))
        i++;
    if (i == n || b[i] != '{') {
        *ev = b;
        *len = n;
        return ATT_EXIT_OK;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)b, n, 0, &je);
    free(b);
    const char *t = json_string_value(json_object_get(j, "type"));
    const char *e64 = json_string_value(json_object_get(j, "evidence"));
    if (t == NULL || e64 == NULL || !att_b64_decode(e64, strlen(e64), false, ev, len)) {
        fprintf(stderr,
                "attest submit: %s is not an evidence document {\"type\", \"evidence\": "
                "base64url}%s%s\n",
                path, j ? "" : ": ", j ? "" : je.text);
        json_decref(j);
        return ATT_EXIT_USAGE;
    }
    *doc_type = strdup(t);
    json_decref(j);
    if (*type == NULL)
        *type = *doc_type;
    return ATT_EXIT_OK;
}

int att_cli_submit(int argc, char **argv)
{
    att_cli_sub_t s = {0};
    att_cli_auth_t a = {0};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(att_submit_usage, stdout);
            return ATT_EXIT_OK;
        }
        if (att_sub_arg(&s, argc, argv, &i) || att_cli_auth_arg(&a, argc, argv, &i))
            continue;
        fprintf(stderr, "attest submit: unexpected argument '%s'\n%s", o, att_submit_usage);
        return ATT_EXIT_USAGE;
    }
    if (s.url == NULL || s.evidence_file == NULL) {
        fprintf(stderr, "attest submit: --url and --evidence are required\n%s", att_submit_usage);
        return ATT_EXIT_USAGE;
    }
    if (s.type != NULL && !att_known_type(s.type)) {
        fprintf(stderr, "attest submit: --type must be one of %s\n", att_ev_type_names(true));
        return ATT_EXIT_USAGE;
    }
    uint8_t *rd = NULL, *ev = NULL;
    size_t rdlen = 0, evlen = 0;
    char *doc_type = NULL, *token = NULL;
    const char *type = s.type;
    bool rd_json;
    int rc = att_sub_runtime("submit", &s, &rd, &rdlen, &rd_json);
    if (rc != ATT_EXIT_OK)
        goto out;
    if ((rc = att_load_evidence(s.evidence_file, &type, &ev, &evlen, &doc_type)) != ATT_EXIT_OK)
        goto out;
    if (type == NULL) {
        fprintf(stderr, "attest submit: raw evidence needs --type (%s)\n", att_ev_type_names(true));
        rc = ATT_EXIT_USAGE;
        goto out;
    }
    if (doc_type != NULL && !att_type_fits(type, doc_type)) {
        fprintf(stderr, "attest submit: --type %s, but the evidence is for %s\n", type, doc_type);
        rc = ATT_EXIT_USAGE;
        goto out;
    }
    if ((rc = att_cli_access_token("submit", &a, &token)) != ATT_EXIT_OK)
        goto out;
    rc = att_do_submit("submit", &s, type, ev, evlen, rd, rdlen, rd_json, token);
out:
    if (token != NULL) {
        OPENSSL_cleanse(token, strlen(token));
        free(token);
    }
    free(doc_type);
    free(ev);
    free(rd);
    return rc;
}

/* `--type Tpm` or `--provider tpm` among argv (an option's value, not a value alone). */
static bool att_run_is_tpm(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if ((!strcmp(argv[i], "--type") && !strcmp(argv[i + 1], "Tpm")) ||
            (!strcmp(argv[i], "--provider") && !strcmp(argv[i + 1], "tpm")))
            return true;
    return false;
}

int att_cli_run(int argc, char **argv)
{
    if (att_run_is_tpm(argc, argv))
        return att_cli_tpm_run(argc, argv); /* two rounds with the TPM: cmd_tpm_run.c */
    att_cli_sub_t s = {0};
    att_cli_auth_t a = {0};
    att_cli_prov_t p = {0};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(att_run_usage, stdout);
            return ATT_EXIT_OK;
        }
        if (strcmp(o, "--evidence") != 0 &&
            (att_sub_arg(&s, argc, argv, &i) || att_cli_auth_arg(&a, argc, argv, &i) ||
             att_cli_prov_arg(&p, argc, argv, &i)))
            continue;
        fprintf(stderr, "attest run: unexpected argument '%s'\n%s", o, att_run_usage);
        return ATT_EXIT_USAGE;
    }
    if (s.url == NULL) {
        fprintf(stderr, "attest run: --url is required\n%s", att_run_usage);
        return ATT_EXIT_USAGE;
    }
    if (s.type != NULL && !att_known_type(s.type)) {
        fprintf(stderr, "attest run: --type must be one of %s\n", att_ev_type_names(true));
        return ATT_EXIT_USAGE;
    }
    uint8_t *rd = NULL;
    size_t rdlen = 0;
    char *token = NULL;
    att_evidence_t ev = {0};
    bool rd_json;
    int rc = att_sub_runtime("run", &s, &rd, &rdlen, &rd_json);
    if (rc != ATT_EXIT_OK)
        goto out;
    if ((rc = att_cli_prov_collect("run", &p, rd, rdlen, &ev)) != ATT_EXIT_OK)
        goto out;
    const char *type = ev.type;
    if (s.type != NULL && strcmp(s.type, type) != 0) {
        if (!att_type_fits(s.type, type)) {
            fprintf(stderr, "attest run: --type %s, but the provider gave %s evidence\n", s.type,
                    type);
            rc = ATT_EXIT_USAGE;
            goto out;
        }
        type = s.type;
    }
    if ((rc = att_cli_access_token("run", &a, &token)) != ATT_EXIT_OK)
        goto out;
    rc = att_do_submit("run", &s, type, ev.data, ev.len, rd, rdlen, rd_json, token);
out:
    if (token != NULL) {
        OPENSSL_cleanse(token, strlen(token));
        free(token);
    }
    att_evidence_clear(&ev);
    free(rd);
    return rc;
}
