/* cmd_admin.c - manage a live attestd (or MAA) instance without hand-made JWS:
 *
 *   attest policy get|set|reset --url URL --type TYPE ...   (dispatched from cmd_policy.c)
 *   attest certificates get|add|remove --url URL ...
 *
 * Requests are what MAA's SDKs send: a policy as the JWS {"AttestationPolicy": b64url(text)},
 * unsigned ({"alg":"none"}) or signed with --key/--cert (x5c in the header); a reset as a JWS
 * with an empty payload; a certificate change as a JWS {"policyCertificate": JWK} signed by a
 * policy management certificate. The answer's token is decoded and its result printed; its
 * signature is not checked here ('attest token verify' does that).
 *
 * Exit codes: 0 done, 1 attestd answered an error (printed as CODE: message, control characters
 * escaped) or an answer without a usable token, 2 usage, file or connection errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/client.h"
#include "attest/evidence.h"
#include "attest/policy.h"
#include "attest/token.h"
#include "cli.h"
#include "core/util.h"
#include "crypto/crypto.h"

#define ATT_PEM_MAX (256u << 10)

static const char att_premote_usage[] =
    "usage: attest policy get   --url URL --type TYPE [--jws | --json] [options]\n"
    "       attest policy set   --url URL --type TYPE FILE [--key KEY.pem --cert CERT.pem]\n"
    "                           [--alg RS256|PS256|ES256] [--json] [options]\n"
    "       attest policy reset --url URL --type TYPE [--key KEY.pem --cert CERT.pem] [--json]\n"
    "                           [options]\n"
    "Read or change the policy in force for TYPE (SgxEnclave, OpenEnclave, TdxVm, SevSnpVm,\n"
    "Tpm) on a running attestd (or MAA):\n"
    "  get    GET URL/policies/TYPE; prints the policy text (--jws: the stored policy JWS,\n"
    "         --json: the answer's claims)\n"
    "  set    checks FILE ('-': standard input) as 'attest policy check' does, then PUT\n"
    "         URL/policies/TYPE with the JWS {\"AttestationPolicy\": base64url(text)}\n"
    "  reset  POST URL/policies/TYPE:reset with a JWS with an empty payload: the type's default\n"
    "         policy is in force again\n"
    "The JWS is unsigned ({\"alg\":\"none\"}) unless --key and --cert are given: then it is "
    "signed\n"
    "with the key (PEM; RSA: RS256 unless --alg PS256, EC P-256: ES256) and carries the\n"
    "certificate in x5c, as an instance in isolated mode requires (--isolated-signers).\n"
    "set and reset print the result (Updated, Removed), the policy token hash and the signer.\n"
    "options: [--api-version V] (default 2022-08-01) and the access token options:\n"
    "" ATT_CLI_AUTH_USAGE
    "The answer's token is decoded, not verified ('attest token verify' does that).\n"
    "Exit: 0 done, 1 attestd answered an error, 2 usage, file or connection error.\n";

static const char att_certs_usage[] =
    "usage: attest certificates get    --url URL [--pem | --json] [options]\n"
    "       attest certificates add    --url URL CERT.pem --key KEY.pem --cert SIGNER.pem\n"
    "                                  [--alg RS256|PS256|ES256] [--json] [options]\n"
    "       attest certificates remove --url URL CERT.pem --key KEY.pem --cert SIGNER.pem\n"
    "                                  [--alg ...] [--json] [options]\n"
    "The policy management certificates of an instance in isolated mode:\n"
    "  get     GET URL/certificates; prints one line per certificate: its SHA-256 thumbprint\n"
    "          (hex) and subject (--pem: the certificates, --json: the answer's claims)\n"
    "  add     POST URL/certificates:add with the JWS {\"policyCertificate\": JWK of CERT.pem},\n"
    "          signed with KEY.pem, whose certificate SIGNER.pem must be in the set\n"
    "  remove  POST URL/certificates:remove, the same\n"
    "add and remove print the result (IsPresent, IsAbsent) and the certificate's thumbprint.\n"
    "options: [--api-version V] (default 2022-08-01) and the access token options:\n"
    "" ATT_CLI_AUTH_USAGE
    "The answer's token is decoded, not verified ('attest token verify' does that).\n"
    "Exit: 0 done, 1 attestd answered an error, 2 usage, file or connection error.\n";

typedef struct {
    const char *url, *type, *file, *key, *cert, *alg, *api_version;
    bool json, jws, pem;
    att_cli_auth_t auth;
} att_admin_args_t;

/* Parse argv[1..]: options, and at most one FILE. */
static int att_admin_parse(const char *cmd, const char *usage, int argc, char **argv,
                           att_admin_args_t *a)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(usage, stdout);
            return -1;
        }
        if (att_cli_auth_arg(&a->auth, argc, argv, &i))
            continue;
        const char **dst = !strcmp(o, "--url")           ? &a->url
                           : !strcmp(o, "--type")        ? &a->type
                           : !strcmp(o, "--key")         ? &a->key
                           : !strcmp(o, "--cert")        ? &a->cert
                           : !strcmp(o, "--alg")         ? &a->alg
                           : !strcmp(o, "--api-version") ? &a->api_version
                                                         : NULL;
        if (dst != NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "attest %s: %s needs a value\n", cmd, o);
                return ATT_EXIT_USAGE;
            }
            *dst = argv[++i];
        } else if (!strcmp(o, "--json")) {
            a->json = true;
        } else if (!strcmp(o, "--jws")) {
            a->jws = true;
        } else if (!strcmp(o, "--pem")) {
            a->pem = true;
        } else if ((o[0] != '-' || !strcmp(o, "-")) && a->file == NULL) {
            a->file = o;
        } else {
            fprintf(stderr, "attest %s: unexpected argument '%s'\n%s", cmd, o, usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (a->url == NULL) {
        fprintf(stderr, "attest %s: --url is required\n%s", cmd, usage);
        return ATT_EXIT_USAGE;
    }
    if ((a->key == NULL) != (a->cert == NULL)) {
        fprintf(stderr, "attest %s: --key and --cert go together\n", cmd);
        return ATT_EXIT_USAGE;
    }
    if (a->alg != NULL && a->key == NULL) {
        fprintf(stderr, "attest %s: --alg needs --key and --cert\n", cmd);
        return ATT_EXIT_USAGE;
    }
    return ATT_EXIT_OK;
}

static X509 *att_load_cert(const char *cmd, const char *path)
{
    att_diag_t d;
    uint8_t *b;
    size_t n;
    if (att_read_file(path, ATT_PEM_MAX, &b, &n, &d) != ATT_OK) {
        fprintf(stderr, "attest %s: %s\n", cmd, d.msg);
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(b, (int)n);
    X509 *c = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (c == NULL) {
        const unsigned char *p = b;
        c = d2i_X509(NULL, &p, (long)n);
    }
    free(b);
    if (c == NULL)
        fprintf(stderr, "attest %s: %s is not a certificate (PEM or DER)\n", cmd, path);
    return c;
}

/* A JWS over payload: signed with --key/--cert (x5c), or unsigned. *out malloc'd. */
static int att_admin_jws(const char *cmd, const att_admin_args_t *a, const char *payload,
                         char **out)
{
    size_t plen = strlen(payload);
    *out = NULL;
    if (a->key == NULL) {
        if ((*out = att_jws_unsigned((const uint8_t *)payload, plen)) == NULL) {
            fprintf(stderr, "attest %s: out of memory\n", cmd);
            return ATT_EXIT_USAGE;
        }
        return ATT_EXIT_OK;
    }
    int rc = ATT_EXIT_USAGE;
    att_diag_t d;
    uint8_t *kb = NULL;
    size_t kn = 0;
    EVP_PKEY *key = NULL;
    att_signer_t *s = NULL;
    json_t *hdr = NULL;
    unsigned char *der = NULL;
    X509 *cert = att_load_cert(cmd, a->cert);
    if (cert == NULL)
        goto out;
    if (att_read_file(a->key, ATT_PEM_MAX, &kb, &kn, &d) != ATT_OK) {
        fprintf(stderr, "attest %s: %s\n", cmd, d.msg);
        goto out;
    }
    if ((key = att_key_from_pem((const char *)kb, kn)) == NULL) {
        fprintf(stderr, "attest %s: %s is not a PEM private key\n", cmd, a->key);
        goto out;
    }
    att_alg_t alg = EVP_PKEY_is_a(key, "EC") ? ATT_ALG_ES256 : ATT_ALG_RS256;
    if (a->alg != NULL && (alg = att_alg_parse(a->alg)) == ATT_ALG_NONE) {
        fprintf(stderr, "attest %s: --alg must be RS256, PS256 or ES256, not '%s'\n", cmd, a->alg);
        goto out;
    }
    if ((s = att_signer_new(key, cert, alg, &d)) == NULL) {
        fprintf(stderr, "attest %s: --key %s with --cert %s: %s\n", cmd, a->key, a->cert, d.msg);
        goto out;
    }
    int dl = i2d_X509(cert, &der);
    char *x5c = dl > 0 ? att_b64std_encode(der, (size_t)dl) : NULL;
    hdr = x5c ? json_pack("{s:[s]}", "x5c", x5c) : NULL;
    free(x5c);
    if (hdr == NULL) {
        fprintf(stderr, "attest %s: out of memory\n", cmd);
        goto out;
    }
    if (att_jws_sign(s, hdr, (const uint8_t *)payload, plen, out, &d) != ATT_OK) {
        fprintf(stderr, "attest %s: signing: %s\n", cmd, d.msg);
        goto out;
    }
    rc = ATT_EXIT_OK;
out:
    OPENSSL_free(der);
    json_decref(hdr);
    att_signer_free(s);
    EVP_PKEY_free(key);
    if (kb != NULL) {
        OPENSSL_cleanse(kb, kn);
        free(kb);
    }
    X509_free(cert);
    return rc;
}

/* The payload of a compact JWS as JSON (its signature not checked), or NULL. */
static json_t *att_jws_payload(const char *t)
{
    const char *p1 = strchr(t, '.'), *p2 = p1 ? strchr(p1 + 1, '.') : NULL;
    if (p2 == NULL)
        return NULL;
    uint8_t *pl = NULL;
    size_t n = 0;
    if (!att_b64_decode(p1 + 1, (size_t)(p2 - p1 - 1), false, &pl, &n))
        return NULL;
    json_t *j = json_loadb((const char *)pl, n, 0, NULL);
    free(pl);
    return j;
}

/* Send the request; *claims the answer token's claims. Exit code (errors printed). */
static int att_admin_send(const char *cmd, const att_admin_args_t *a, const char *method,
                          const char *path, const char *body, json_t **claims)
{
    *claims = NULL;
    char *token = NULL;
    int rc = att_cli_access_token(cmd, &a->auth, &token);
    if (rc != ATT_EXIT_OK)
        return rc;
    att_admin_opts_t o = {.url = a->url,
                          .method = method,
                          .path = path,
                          .body = body,
                          .body_len = body ? strlen(body) : 0,
                          .access_token = token,
                          .api_version = a->api_version};
    att_submit_result_t r;
    att_diag_t d;
    att_err_t e = att_admin_request(&o, &r, &d);
    if (token != NULL) {
        OPENSSL_cleanse(token, strlen(token));
        free(token);
    }
    const char *bad = e == ATT_OK ? att_cli_token_malformed(r.token ? r.token : "") : NULL;
    if (e == ATT_OK && bad == NULL && (*claims = att_jws_payload(r.token)) != NULL &&
        json_is_object(*claims)) {
        rc = ATT_EXIT_OK;
    } else if (e == ATT_OK) {
        json_decref(*claims);
        *claims = NULL;
        fprintf(stderr, "attest %s: attestd answered HTTP 200 without a usable token (%s)\n", cmd,
                bad ? bad : "its payload is not a JSON object");
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

static void att_admin_print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    printf("%s\n", s ? s : "?");
    free(s);
}

/* A claim of the answer printed as "label value" (strings escaped), when present. */
static void att_admin_line(const json_t *claims, const char *name, const char *label)
{
    const json_t *v = json_object_get(claims, name);
    if (v == NULL)
        return;
    printf("%-20s ", label);
    if (json_is_string(v)) {
        att_cli_put_safe(stdout, json_string_value(v));
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        att_cli_put_safe(stdout, s ? s : "?");
        free(s);
    }
    putchar('\n');
}

/* The signer JWK of an answer, shown by its certificate's subject. */
static void att_admin_signer(const json_t *claims)
{
    const char *x5c = json_string_value(
        json_array_get(json_object_get(json_object_get(claims, "x-ms-policy-signer"), "x5c"), 0));
    if (x5c == NULL)
        return;
    uint8_t *der = NULL;
    size_t n = 0;
    if (!att_b64_decode(x5c, strlen(x5c), true, &der, &n))
        return;
    const unsigned char *p = der;
    X509 *c = d2i_X509(NULL, &p, (long)n);
    free(der);
    if (c == NULL)
        return;
    char *sub = X509_NAME_oneline(X509_get_subject_name(c), NULL, 0);
    printf("%-20s ", "signer");
    att_cli_put_safe(stdout, sub ? sub : "?");
    putchar('\n');
    OPENSSL_free(sub);
    X509_free(c);
}

static const char *att_admin_type(const char *cmd, const char *t)
{
    const att_ev_type_t *et = t ? att_ev_type_find(t) : NULL;
    if (et == NULL) {
        if (t == NULL)
            fprintf(stderr, "attest %s: --type is required (%s)\n", cmd, att_ev_type_names(false));
        else
            fprintf(stderr, "attest %s: --type must be one of %s, not '%s'\n", cmd,
                    att_ev_type_names(false), t);
        return NULL;
    }
    return et->name;
}

static int att_policy_get(const att_admin_args_t *a, const char *type)
{
    char path[96];
    snprintf(path, sizeof path, "/policies/%s", type);
    json_t *c;
    int rc = att_admin_send("policy get", a, "GET", path, NULL, &c);
    if (rc != ATT_EXIT_OK)
        return rc;
    const char *jws = json_string_value(json_object_get(c, "x-ms-policy"));
    if (a->json) {
        att_admin_print_json(c);
    } else if (jws == NULL) {
        fprintf(stderr, "attest policy get: the answer has no x-ms-policy\n");
        rc = ATT_EXIT_REJECT;
    } else if (a->jws) {
        printf("%s\n", jws);
    } else {
        json_t *p = att_jws_payload(jws);
        const char *b64 = json_string_value(json_object_get(p, "AttestationPolicy"));
        uint8_t *text = NULL;
        size_t n = 0;
        if (b64 == NULL || !att_b64_decode(b64, strlen(b64), false, &text, &n)) {
            fprintf(stderr,
                    "attest policy get: x-ms-policy holds no base64url AttestationPolicy\n");
            rc = ATT_EXIT_REJECT;
        } else {
            fwrite(text, 1, n, stdout);
            if (n > 0 && text[n - 1] != '\n')
                putchar('\n');
        }
        free(text);
        json_decref(p);
    }
    json_decref(c);
    return rc;
}

/* Read and check the policy file as `policy check` does. */
static int att_policy_text(const char *path, char **text)
{
    att_diag_t d;
    uint8_t *b = NULL;
    size_t n = 0;
    if (!strcmp(path, "-")) {
        size_t cap = 0;
        for (;;) {
            if (n == cap) {
                if (cap > ATT_POLICY_MAX_TEXT) {
                    fprintf(stderr, "attest policy set: standard input is larger than %d bytes\n",
                            ATT_POLICY_MAX_TEXT);
                    free(b);
                    return ATT_EXIT_USAGE;
                }
                uint8_t *nb = realloc(b, (cap = cap ? cap * 2 : 4096) + 1);
                if (nb == NULL) {
                    free(b);
                    fprintf(stderr, "attest policy set: out of memory\n");
                    return ATT_EXIT_USAGE;
                }
                b = nb;
            }
            size_t r = fread(b + n, 1, cap - n, stdin);
            if (r == 0)
                break;
            n += r;
        }
        if (b == NULL && (b = malloc(1)) == NULL)
            return ATT_EXIT_USAGE;
        b[n] = 0;
    } else if (att_read_file(path, ATT_POLICY_MAX_TEXT, &b, &n, &d) != ATT_OK) {
        fprintf(stderr, "attest policy set: %s\n", d.msg);
        return ATT_EXIT_USAGE;
    }
    att_policy_t *pol = NULL;
    att_policy_pos_t pos;
    att_err_t e = att_policy_compile((const char *)b, n, &pol, &pos, &d);
    att_policy_free(pol);
    if (e != ATT_OK) {
        if (pos.line > 0)
            fprintf(stderr, "%s:%u:%u: error: %s\n", path, pos.line, pos.column, d.msg);
        else
            fprintf(stderr, "%s: error: %s\n", path, d.msg);
        fprintf(stderr, "attest policy set: not sent\n");
        free(b);
        return ATT_EXIT_REJECT;
    }
    if (memchr(b, 0, n) != NULL) {
        fprintf(stderr, "attest policy set: %s holds a NUL byte\n", path);
        free(b);
        return ATT_EXIT_USAGE;
    }
    *text = (char *)b;
    return ATT_EXIT_OK;
}

static int att_policy_change(const att_admin_args_t *a, const char *type, bool set)
{
    const char *cmd = set ? "policy set" : "policy reset";
    char path[96], *payload = NULL, *jws = NULL;
    int rc;
    if (set) {
        char *text;
        if ((rc = att_policy_text(a->file, &text)) != ATT_EXIT_OK)
            return rc;
        char *b64 = att_b64url_encode((const uint8_t *)text, strlen(text));
        free(text);
        json_t *p = b64 ? json_pack("{s:s}", "AttestationPolicy", b64) : NULL;
        free(b64);
        payload = p ? json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        if (payload == NULL) {
            fprintf(stderr, "attest %s: out of memory\n", cmd);
            return ATT_EXIT_USAGE;
        }
        snprintf(path, sizeof path, "/policies/%s", type);
    } else {
        snprintf(path, sizeof path, "/policies/%s:reset", type);
    }
    rc = att_admin_jws(cmd, a, payload ? payload : "", &jws);
    free(payload);
    if (rc != ATT_EXIT_OK)
        return rc;
    json_t *c;
    rc = att_admin_send(cmd, a, set ? "PUT" : "POST", path, jws, &c);
    free(jws);
    if (rc != ATT_EXIT_OK)
        return rc;
    if (a->json) {
        att_admin_print_json(c);
    } else {
        att_admin_line(c, "x-ms-policy-result", "result");
        att_admin_line(c, "x-ms-policy-token-hash", "policy-token-hash");
        att_admin_signer(c);
    }
    json_decref(c);
    return ATT_EXIT_OK;
}

int att_cli_policy_remote(int argc, char **argv)
{
    const char *sub = argv[0];
    char cmd[32];
    snprintf(cmd, sizeof cmd, "policy %s", sub);
    att_admin_args_t a = {0};
    int rc = att_admin_parse(cmd, att_premote_usage, argc, argv, &a);
    if (rc != ATT_EXIT_OK)
        return rc < 0 ? ATT_EXIT_OK : rc;
    const char *type = att_admin_type(cmd, a.type);
    if (type == NULL)
        return ATT_EXIT_USAGE;
    bool get = !strcmp(sub, "get"), set = !strcmp(sub, "set");
    if (set != (a.file != NULL)) {
        fprintf(stderr, "attest %s: %s\n%s", cmd,
                set ? "FILE (the policy text) is required" : "takes no FILE", att_premote_usage);
        return ATT_EXIT_USAGE;
    }
    if ((a.jws && !get) || a.pem || (get && a.key != NULL)) {
        fprintf(stderr, "attest %s: %s does not apply here\n", cmd,
                a.pem   ? "--pem"
                : a.jws ? "--jws"
                        : "--key");
        return ATT_EXIT_USAGE;
    }
    if (get)
        return att_policy_get(&a, type);
    return att_policy_change(&a, type, set);
}

/* ---- certificates ---- */

static int att_certs_get(const att_admin_args_t *a)
{
    json_t *c;
    int rc = att_admin_send("certificates get", a, "GET", "/certificates", NULL, &c);
    if (rc != ATT_EXIT_OK)
        return rc;
    if (a->json) {
        att_admin_print_json(c);
        json_decref(c);
        return ATT_EXIT_OK;
    }
    json_t *keys = json_object_get(json_object_get(c, "x-ms-policy-certificates"), "keys");
    if (!json_is_array(keys)) {
        fprintf(stderr, "attest certificates get: the answer has no x-ms-policy-certificates\n");
        json_decref(c);
        return ATT_EXIT_REJECT;
    }
    if (json_array_size(keys) == 0 && !a->pem)
        fprintf(stderr, "attest certificates get: none (the instance is not in isolated mode)\n");
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        const char *x5c = json_string_value(json_array_get(json_object_get(k, "x5c"), 0));
        uint8_t *der = NULL;
        size_t n = 0;
        X509 *cert = NULL;
        if (x5c != NULL && att_b64_decode(x5c, strlen(x5c), true, &der, &n)) {
            const unsigned char *p = der;
            cert = d2i_X509(NULL, &p, (long)n);
        }
        if (cert == NULL) {
            fprintf(stderr, "attest certificates get: key %zu has no x5c certificate\n", i);
            free(der);
            rc = ATT_EXIT_REJECT;
            continue;
        }
        if (a->pem) {
            PEM_write_X509(stdout, cert);
        } else {
            uint8_t h[32];
            char hex[65];
            att_sha256_2(der, n, NULL, 0, h);
            att_hex_encode(h, 32, hex);
            char *sub = X509_NAME_oneline(X509_get_subject_name(cert), NULL, 0);
            printf("%s  ", hex);
            att_cli_put_safe(stdout, sub ? sub : "?");
            putchar('\n');
            OPENSSL_free(sub);
        }
        X509_free(cert);
        free(der);
    }
    json_decref(c);
    return rc;
}

static int att_certs_change(const att_admin_args_t *a, bool add)
{
    const char *cmd = add ? "certificates add" : "certificates remove";
    X509 *target = att_load_cert(cmd, a->file);
    if (target == NULL)
        return ATT_EXIT_USAGE;
    att_diag_t d;
    json_t *jwk = att_jwk_from_cert(target, &d);
    X509_free(target);
    if (jwk == NULL) {
        fprintf(stderr, "attest %s: %s: %s\n", cmd, a->file, d.msg);
        return ATT_EXIT_USAGE;
    }
    json_t *p = json_pack("{s:o}", "policyCertificate", jwk);
    char *payload = p ? json_dumps(p, JSON_COMPACT) : NULL, *jws = NULL;
    json_decref(p);
    if (payload == NULL) {
        fprintf(stderr, "attest %s: out of memory\n", cmd);
        return ATT_EXIT_USAGE;
    }
    int rc = att_admin_jws(cmd, a, payload, &jws);
    free(payload);
    if (rc != ATT_EXIT_OK)
        return rc;
    json_t *c;
    rc =
        att_admin_send(cmd, a, "POST", add ? "/certificates:add" : "/certificates:remove", jws, &c);
    free(jws);
    if (rc != ATT_EXIT_OK)
        return rc;
    if (a->json) {
        att_admin_print_json(c);
    } else {
        att_admin_line(c, "x-ms-policycertificates-result", "result");
        att_admin_line(c, "x-ms-certificate-thumbprint", "thumbprint");
    }
    json_decref(c);
    return ATT_EXIT_OK;
}

int att_cli_certificates(int argc, char **argv)
{
    if (argc < 2) {
        fputs(att_certs_usage, stderr);
        return ATT_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        fputs(att_certs_usage, stdout);
        return ATT_EXIT_OK;
    }
    bool get = !strcmp(sub, "get"), add = !strcmp(sub, "add");
    if (!get && !add && strcmp(sub, "remove") != 0) {
        fprintf(stderr, "attest certificates: unknown command '%s'\n%s", sub, att_certs_usage);
        return ATT_EXIT_USAGE;
    }
    char cmd[32];
    snprintf(cmd, sizeof cmd, "certificates %s", sub);
    att_admin_args_t a = {0};
    int rc = att_admin_parse(cmd, att_certs_usage, argc - 1, argv + 1, &a);
    if (rc != ATT_EXIT_OK)
        return rc < 0 ? ATT_EXIT_OK : rc;
    if (a.type != NULL || a.jws) {
        fprintf(stderr, "attest %s: %s does not apply here\n", cmd, a.type ? "--type" : "--jws");
        return ATT_EXIT_USAGE;
    }
    if (get) {
        if (a.file != NULL || a.key != NULL) {
            fprintf(stderr, "attest %s: takes no certificate, --key or --cert\n", cmd);
            return ATT_EXIT_USAGE;
        }
        return att_certs_get(&a);
    }
    if (a.file == NULL || a.key == NULL || a.pem) {
        fprintf(stderr,
                "attest %s: CERT.pem (the certificate to %s) and --key/--cert (a policy management "
                "certificate's) are required\n%s",
                cmd, sub, att_certs_usage);
        return ATT_EXIT_USAGE;
    }
    return att_certs_change(&a, add);
}
