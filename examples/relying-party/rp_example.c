/* attest-rp-example - a relying party that releases a secret only to an attested enclave.
 *
 *   attest-rp-example --issuer http://127.0.0.1:8080 --secret-file secret.txt \
 *                     --mrenclave 1011...2f --mrsigner 8081...9f [--allow-simulated]
 *   curl http://127.0.0.1:PORT/nonce                       -> {"nonce": "...", "expires_in": 300}
 *   (the client attests with that nonce and its public key as runtime data)
 *   curl -d '{"token": "..."}' http://127.0.0.1:PORT/secret -> {"wrapped_secret": "...", ...}
 *
 * Step 5 of the workflow, done right: the token's signature is checked with a key from the
 * issuer's JWKS only (att_rp_verify: discovery, kid, alg allow-list, iss, exp/nbf), the
 * measurements are the ones configured, the nonce is one this service issued, has not expired
 * and was never used before, simulated and debuggable enclaves are refused unless allowed, and
 * the secret goes back encrypted (RSA-OAEP-SHA256) to the public key the enclave bound into its
 * report data, so only the holder of the private key, inside the enclave, can read it.
 *
 * NOT done here: TLS (put it behind one, or add MHD's), persistence of nonces across restarts
 * (a restart forgets issued nonces: they simply stop being accepted), rate limiting, and any
 * judgement of the TCB status beyond what attestd's policy already decided.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <jose/openssl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <attest/rp.h>

#define RPX_MAX_BODY   (64 * 1024)
#define RPX_MAX_SECRET 4096
#define RPX_MAX_NONCES 4096
#define RPX_MAX_EXPECT 16
#define RPX_NONCE_HEX  32 /* 16 random bytes */

typedef struct {
    char hex[RPX_NONCE_HEX + 1];
    att_time_t expires;
    bool used; /* kept until it expires, so a replay is named as such */
} rpx_nonce_t;

typedef struct {
    att_rp_t *rp;
    att_rp_expect_t expect[RPX_MAX_EXPECT];
    size_t n_expect;
    bool allow_simulated;
    bool allow_debug;
    int64_t nonce_ttl;
    unsigned char *secret;
    size_t secret_len;
    pthread_mutex_t mu; /* guards nonces */
    rpx_nonce_t nonces[RPX_MAX_NONCES];
    size_t n_nonces;
} rpx_app_t;

typedef struct {
    char *body;
    size_t len;
    bool too_big;
} rpx_req_t;

/* ---------------------------------------------------------------- base64url */

static char *rpx_b64url_enc(const unsigned char *p, size_t n)
{
    char *s = malloc(4 * ((n + 2) / 3) + 1);
    if (s == NULL)
        return NULL;
    int k = EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    while (k > 0 && s[k - 1] == '=')
        k--;
    s[k] = '\0';
    for (char *c = s; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    return s;
}

/* Strict base64url (no padding, no other characters) -> malloc'd bytes. */
static unsigned char *rpx_b64url_dec(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    if (n % 4 == 1)
        return NULL;
    char *t = malloc(n + 4);
    unsigned char *out = malloc(n + 4);
    if (t == NULL || out == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            goto fail;
        t[i] = c;
    }
    size_t pad = (4 - n % 4) % 4;
    memset(t + n, '=', pad);
    int k = EVP_DecodeBlock(out, (unsigned char *)t, (int)(n + pad));
    if (k < 0)
        goto fail;
    free(t);
    *out_len = (size_t)k - pad;
    return out;
fail:
    free(t);
    free(out);
    return NULL;
}

/* ---------------------------------------------------------------- nonces */

/* Issue a fresh nonce valid until now + ttl. False when the table is full of live nonces. */
static bool rpx_nonce_issue(rpx_app_t *a, att_time_t now, char out[RPX_NONCE_HEX + 1])
{
    unsigned char raw[RPX_NONCE_HEX / 2];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return false;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    bool ok = false;
    pthread_mutex_lock(&a->mu);
    size_t j = 0; /* drop every expired entry, used or not */
    for (size_t i = 0; i < a->n_nonces; i++)
        if (a->nonces[i].expires > now)
            a->nonces[j++] = a->nonces[i];
    a->n_nonces = j;
    if (a->n_nonces < RPX_MAX_NONCES) {
        rpx_nonce_t *e = &a->nonces[a->n_nonces++];
        memcpy(e->hex, out, sizeof e->hex);
        e->expires = now + a->nonce_ttl;
        e->used = false;
        ok = true;
    }
    pthread_mutex_unlock(&a->mu);
    return ok;
}

/* Use a nonce once. NULL when it was issued here, is unexpired and unused (it is now used);
 * otherwise why not. */
static const char *rpx_nonce_consume(rpx_app_t *a, const char *nonce, att_time_t now)
{
    if (strlen(nonce) != RPX_NONCE_HEX)
        return "was not issued by this relying party (ask GET /nonce)";
    const char *why = "was not issued by this relying party, or expired long ago (ask GET /nonce)";
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->n_nonces; i++) {
        rpx_nonce_t *e = &a->nonces[i];
        if (CRYPTO_memcmp(e->hex, nonce, RPX_NONCE_HEX) != 0)
            continue;
        if (e->used)
            why = "was already used: a replayed token";
        else if (e->expires <= now)
            why = "has expired (ask GET /nonce again)";
        else {
            e->used = true;
            why = NULL;
        }
        break;
    }
    pthread_mutex_unlock(&a->mu);
    return why;
}

/* ---------------------------------------------------------------- the enclave's key */

/* The public key bound into the token's runtime data: x-ms-runtime.jwk (runtimeData dataType
 * JSON), else x-ms-sgx-ehd holding a PEM or DER SubjectPublicKeyInfo (dataType Binary). */
static EVP_PKEY *rpx_runtime_key(json_t *claims, const char **from, char *why, size_t whylen)
{
    EVP_PKEY *pk = NULL;
    json_t *jwk = json_object_get(json_object_get(claims, "x-ms-runtime"), "jwk");
    const char *ehd = json_string_value(json_object_get(claims, "x-ms-sgx-ehd"));
    if (json_is_object(jwk)) {
        *from = "x-ms-runtime.jwk";
        const char *kty = json_string_value(json_object_get(jwk, "kty"));
        if (kty == NULL || strcmp(kty, "RSA") != 0 || !json_is_string(json_object_get(jwk, "n")) ||
            !json_is_string(json_object_get(jwk, "e"))) {
            snprintf(why, whylen, "x-ms-runtime.jwk is not an RSA public key (kty RSA, n, e)");
            return NULL;
        }
        if (json_object_get(jwk, "d") != NULL) {
            snprintf(why, whylen, "x-ms-runtime.jwk holds a private key: never send one");
            return NULL;
        }
        json_t *pub = json_pack("{s:s,s:O,s:O}", "kty", "RSA", "n", json_object_get(jwk, "n"), "e",
                                json_object_get(jwk, "e"));
        pk = pub ? jose_openssl_jwk_to_EVP_PKEY(NULL, pub) : NULL;
        json_decref(pub);
        if (pk == NULL)
            snprintf(why, whylen, "x-ms-runtime.jwk: n/e do not make an RSA key");
    } else if (ehd != NULL) {
        *from = "x-ms-sgx-ehd";
        size_t n = 0;
        unsigned char *raw = rpx_b64url_dec(ehd, &n);
        if (raw == NULL) {
            snprintf(why, whylen, "x-ms-sgx-ehd is not base64url");
            return NULL;
        }
        if (n > 10 && memcmp(raw, "-----BEGIN", 10) == 0) {
            BIO *b = BIO_new_mem_buf(raw, (int)n);
            pk = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
            BIO_free(b);
        } else {
            const unsigned char *p = raw;
            pk = d2i_PUBKEY(NULL, &p, (long)n);
            if (pk != NULL && p != raw + n) {
                EVP_PKEY_free(pk);
                pk = NULL;
            }
        }
        free(raw);
        if (pk == NULL)
            snprintf(why, whylen,
                     "x-ms-sgx-ehd (%zu bytes) is not a PEM or DER SubjectPublicKeyInfo", n);
    } else {
        *from = "none";
        snprintf(why, whylen,
                 "the token binds no public key: attest with runtimeData JSON {\"jwk\": {RSA "
                 "public key}} (x-ms-runtime.jwk) or Binary PEM/DER SubjectPublicKeyInfo "
                 "(x-ms-sgx-ehd)");
        return NULL;
    }
    if (pk != NULL && (!EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_get_bits(pk) < 2048)) {
        snprintf(why, whylen, "%s: the key must be RSA of at least 2048 bits (got %s, %d bits)",
                 *from, EVP_PKEY_get0_type_name(pk), EVP_PKEY_get_bits(pk));
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    return pk;
}

/* RSA-OAEP with SHA-256 (and MGF1-SHA-256) of the secret to pk -> base64url, or NULL. */
static char *rpx_wrap(EVP_PKEY *pk, const unsigned char *msg, size_t len)
{
    char *out = NULL;
    unsigned char *ct = NULL;
    size_t ctlen = 0;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    if (c == NULL || EVP_PKEY_encrypt_init(c) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) <= 0 ||
        EVP_PKEY_encrypt(c, NULL, &ctlen, msg, len) <= 0 || (ct = malloc(ctlen)) == NULL ||
        EVP_PKEY_encrypt(c, ct, &ctlen, msg, len) <= 0)
        goto out;
    out = rpx_b64url_enc(ct, ctlen);
out:
    free(ct);
    EVP_PKEY_CTX_free(c);
    return out;
}

/* ---------------------------------------------------------------- HTTP */

static enum MHD_Result rpx_send(struct MHD_Connection *conn, unsigned status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (s == NULL)
        return MHD_NO;
    size_t n = strlen(s);
    struct MHD_Response *r = MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A 4xx answer {"error": {"code", "check", "message"}}, also logged (one line, no secrets). */
__attribute__((format(printf, 5, 6))) static enum MHD_Result
rpx_fail(struct MHD_Connection *conn, unsigned status, const char *code, const char *check,
         const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "attest-rp-example: POST /secret -> %u %s (%s check): %s\n", status, code,
            check, msg);
    return rpx_send(
        conn, status,
        json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "check", check, "message", msg));
}

static enum MHD_Result rpx_secret(rpx_app_t *a, struct MHD_Connection *conn, rpx_req_t *q)
{
    /* The token: Authorization: Bearer <token>, or {"token": "..."} (attestd's answer as is). */
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    json_t *body = NULL;
    const char *tok = NULL;
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
        tok = auth + 7;
    else if (q->len > 0) {
        body = json_loadb(q->body, q->len, JSON_REJECT_DUPLICATES, NULL);
        tok = json_string_value(json_object_get(body, "token"));
    }
    if (tok == NULL || *tok == '\0') {
        json_decref(body);
        return rpx_fail(conn, 400, "BadRequest", "request",
                        "send {\"token\": \"<attestation token>\"} or Authorization: Bearer "
                        "<attestation token>");
    }

    att_time_t now = (att_time_t)time(NULL);
    att_rp_check_t chk = {.expect = a->expect, .n_expect = a->n_expect};
    att_rp_result_t r;
    att_err_t e = att_rp_verify(a->rp, tok, strlen(tok), &chk, now, &r);
    json_decref(body);
    enum MHD_Result ret;
    EVP_PKEY *pk = NULL;
    char *wrapped = NULL;
    if (e != ATT_OK) {
        /* Authentic but not the enclave we expect: 403. Not authentic or not valid now: 401.
         * The issuer's keys unreachable: 503 (try again). */
        const char *ck = r.check ? r.check : "token";
        unsigned status = !strcmp(ck, "claim") ? 403 : !strcmp(ck, "jwks") ? 503 : 401;
        ret = rpx_fail(conn, status, "TokenRejected", ck, "%s check failed: %s: %s", ck,
                       att_err_name(r.diag.code), r.diag.msg);
        goto out;
    }
    /* Fresh: the nonce inside the (now authentic) token is one we issued, unexpired, unused. */
    const char *nonce = json_string_value(json_object_get(r.claims, "nonce"));
    const char *why = nonce ? rpx_nonce_consume(a, nonce, now)
                            : "is missing from the token (attest with the nonce from GET /nonce)";
    if (why != NULL) {
        ret =
            rpx_fail(conn, 401, "TokenRejected", "nonce", "nonce check failed: the nonce %s", why);
        goto out;
    }
    if (json_is_true(json_object_get(r.claims, "x-attestd-simulated")) && !a->allow_simulated) {
        ret = rpx_fail(conn, 403, "TokenRejected", "simulated",
                       "simulated check failed: the token is for simulated evidence "
                       "(x-attestd-simulated: true); start with --allow-simulated to accept it");
        goto out;
    }
    const char *dbg = json_string_value(json_object_get(r.claims, "dbgstat"));
    if (!a->allow_debug && (json_is_true(json_object_get(r.claims, "x-ms-sgx-is-debuggable")) ||
                            (dbg != NULL && strcmp(dbg, "disabled") != 0))) {
        ret = rpx_fail(conn, 403, "TokenRejected", "debug",
                       "debug check failed: the enclave is debuggable, so its memory is not "
                       "private; start with --allow-debug to accept it");
        goto out;
    }
    const char *from = NULL;
    char kwhy[512];
    if ((pk = rpx_runtime_key(r.claims, &from, kwhy, sizeof kwhy)) == NULL) {
        ret =
            rpx_fail(conn, 400, "BadRequest", "runtime-key", "runtime-key check failed: %s", kwhy);
        goto out;
    }
    size_t room = (size_t)EVP_PKEY_get_size(pk) - 2 * 32 - 2; /* OAEP-SHA256 capacity */
    if (a->secret_len > room) {
        ret = rpx_fail(conn, 400, "BadRequest", "runtime-key",
                       "runtime-key check failed: the secret (%zu bytes) does not fit one "
                       "RSA-OAEP-SHA256 block of this %d-bit key (%zu bytes)",
                       a->secret_len, EVP_PKEY_get_bits(pk), room);
        goto out;
    }
    if ((wrapped = rpx_wrap(pk, a->secret, a->secret_len)) == NULL) {
        ret = rpx_fail(conn, 500, "InternalError", "wrap", "RSA-OAEP encryption failed");
        goto out;
    }
    json_t *ok = json_pack("{s:s,s:s,s:s,s:s}", "wrapped_secret", wrapped, "alg", "RSA-OAEP-256",
                           "key_from", from, "nonce", nonce);
    static const char *const shown[] = {"x-ms-attestation-type", "x-ms-sgx-mrenclave",
                                        "x-ms-sgx-mrsigner", "tdx_mrtd", "x-attestd-simulated"};
    for (size_t i = 0; ok != NULL && i < sizeof shown / sizeof shown[0]; i++) {
        json_t *v = json_object_get(r.claims, shown[i]);
        if (v != NULL)
            json_object_set(ok, shown[i], v);
    }
    fprintf(stderr, "attest-rp-example: POST /secret -> 200: secret released, wrapped to %s\n",
            from);
    ret = rpx_send(conn, 200, ok);
out:
    free(wrapped);
    EVP_PKEY_free(pk);
    att_rp_result_clear(&r);
    return ret;
}

static enum MHD_Result rpx_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **ctx)
{
    rpx_app_t *a = cls;
    rpx_req_t *q = *ctx;
    if (q == NULL) { /* headers only */
        if ((q = calloc(1, sizeof *q)) == NULL)
            return MHD_NO;
        *ctx = q;
        return MHD_YES;
    }
    if (*upload_size > 0) { /* a piece of the body */
        if (!q->too_big && q->len + *upload_size <= RPX_MAX_BODY) {
            char *b = realloc(q->body, q->len + *upload_size + 1);
            if (b == NULL)
                return MHD_NO;
            memcpy(b + q->len, upload, *upload_size);
            q->body = b;
            q->len += *upload_size;
            q->body[q->len] = '\0';
        } else
            q->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (!strcmp(url, "/nonce")) {
        if (strcmp(method, "GET") != 0)
            return rpx_send(conn, 405,
                            json_pack("{s:{s:s,s:s}}", "error", "code", "MethodNotAllowed",
                                      "message", "GET /nonce"));
        char n[RPX_NONCE_HEX + 1];
        if (!rpx_nonce_issue(a, (att_time_t)time(NULL), n))
            return rpx_send(conn, 503,
                            json_pack("{s:{s:s,s:s}}", "error", "code", "Busy", "message",
                                      "too many outstanding nonces"));
        return rpx_send(conn, 200,
                        json_pack("{s:s,s:I}", "nonce", n, "expires_in", (json_int_t)a->nonce_ttl));
    }
    if (!strcmp(url, "/secret")) {
        if (strcmp(method, "POST") != 0)
            return rpx_send(conn, 405,
                            json_pack("{s:{s:s,s:s}}", "error", "code", "MethodNotAllowed",
                                      "message", "POST /secret"));
        if (q->too_big)
            return rpx_fail(conn, 413, "TooLarge", "request", "the body exceeds %d bytes",
                            RPX_MAX_BODY);
        return rpx_secret(a, conn, q);
    }
    if (!strcmp(url, "/healthz"))
        return rpx_send(conn, 200, json_pack("{s:s}", "status", "ok"));
    return rpx_send(conn, 404,
                    json_pack("{s:{s:s,s:s}}", "error", "code", "NotFound", "message",
                              "GET /nonce, POST /secret"));
}

static void rpx_done(void *cls, struct MHD_Connection *conn, void **ctx,
                     enum MHD_RequestTerminationCode toe)
{
    rpx_req_t *q = *ctx;
    if (q != NULL) {
        free(q->body);
        free(q);
        *ctx = NULL;
    }
}

/* ---------------------------------------------------------------- main */

static const char rpx_usage[] =
    "usage: attest-rp-example --issuer URL --secret-file F\n"
    "                         (--mrenclave HEX | --mrsigner HEX | --mrtd HEX | --expect C=V)...\n"
    "                         [--listen 127.0.0.1:PORT] [--allow-simulated] [--allow-debug]\n"
    "                         [--nonce-ttl SECONDS] [--skew SECONDS]\n"
    "\n"
    "  GET  /nonce   a fresh single-use nonce: {\"nonce\": HEX, \"expires_in\": SECONDS}\n"
    "  POST /secret  {\"token\": \"<attestation token>\"} (or Authorization: Bearer <token>):\n"
    "                the secret, RSA-OAEP-SHA256-wrapped to the public key bound in the token's\n"
    "                runtime data (x-ms-runtime.jwk, or x-ms-sgx-ehd as PEM/DER SPKI)\n"
    "\n"
    "  --issuer URL        attestd (or MAA): tokens must come from it, keys from its JWKS\n"
    "  --mrenclave HEX     expected x-ms-sgx-mrenclave (likewise --mrsigner, --mrtd = tdx_mrtd)\n"
    "  --expect CLAIM=VAL  any other expected top-level claim (repeatable)\n"
    "  --allow-simulated   accept tokens with x-attestd-simulated: true (development only)\n"
    "  --allow-debug       accept debuggable enclaves (development only)\n"
    "  --nonce-ttl S       how long an issued nonce may be used (default 300)\n"
    "  --skew S            clock skew allowed around exp/nbf (default 60)\n"
    "  --listen H:P        IPv4 address (default 127.0.0.1:0, any free port)\n"
    "The first line of stdout is the URL it listens on. SIGTERM/SIGINT stop it (exit 0).\n";

static bool rpx_add_expect(rpx_app_t *a, const char *name, const char *value)
{
    char spec[512];
    att_diag_t d;
    if (a->n_expect == RPX_MAX_EXPECT) {
        fprintf(stderr, "attest-rp-example: at most %d expected claims\n", RPX_MAX_EXPECT);
        return false;
    }
    if (name != NULL)
        snprintf(spec, sizeof spec, "%s=%s", name, value);
    else
        snprintf(spec, sizeof spec, "%s", value);
    if (att_rp_expect_parse(spec, &a->expect[a->n_expect], &d) != ATT_OK) {
        fprintf(stderr, "attest-rp-example: --expect %s: %s\n", spec, d.msg);
        return false;
    }
    a->n_expect++;
    return true;
}

static bool rpx_read_secret(rpx_app_t *a, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "attest-rp-example: %s: %s\n", path, strerror(errno));
        return false;
    }
    a->secret = malloc(RPX_MAX_SECRET + 1);
    size_t n = a->secret ? fread(a->secret, 1, RPX_MAX_SECRET + 1, f) : 0;
    fclose(f);
    if (n == 0 || n > RPX_MAX_SECRET) {
        fprintf(stderr, "attest-rp-example: %s: the secret must be 1..%d bytes\n", path,
                RPX_MAX_SECRET);
        return false;
    }
    a->secret_len = n;
    return true;
}

static bool rpx_parse_listen(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    char *end;
    if (colon == NULL || (size_t)(colon - s) >= sizeof host || colon[1] == '\0')
        return false;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1;
}

int main(int argc, char **argv)
{
    static rpx_app_t a; /* large (the nonce table): static storage */
    const char *issuer = NULL, *secret_file = NULL, *listen = "127.0.0.1:0";
    long skew = 60;
    a.nonce_ttl = 300;
    enum { O_MRE = 256, O_MRS, O_MRTD, O_EXPECT, O_SIM, O_DBG, O_TTL, O_SKEW };
    static const struct option opts[] = {
        {"issuer", required_argument, NULL, 'i'},
        {"secret-file", required_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
        {"mrenclave", required_argument, NULL, O_MRE},
        {"mrsigner", required_argument, NULL, O_MRS},
        {"mrtd", required_argument, NULL, O_MRTD},
        {"expect", required_argument, NULL, O_EXPECT},
        {"allow-simulated", no_argument, NULL, O_SIM},
        {"allow-debug", no_argument, NULL, O_DBG},
        {"nonce-ttl", required_argument, NULL, O_TTL},
        {"skew", required_argument, NULL, O_SKEW},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, rc = 2;
    char *end;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'i':
            issuer = optarg;
            break;
        case 's':
            secret_file = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case O_MRE:
            ok = rpx_add_expect(&a, "x-ms-sgx-mrenclave", optarg);
            break;
        case O_MRS:
            ok = rpx_add_expect(&a, "x-ms-sgx-mrsigner", optarg);
            break;
        case O_MRTD:
            ok = rpx_add_expect(&a, "tdx_mrtd", optarg);
            break;
        case O_EXPECT:
            ok = rpx_add_expect(&a, NULL, optarg);
            break;
        case O_SIM:
            a.allow_simulated = true;
            break;
        case O_DBG:
            a.allow_debug = true;
            break;
        case O_TTL:
            a.nonce_ttl = strtol(optarg, &end, 10);
            ok = *end == '\0' && a.nonce_ttl > 0 && a.nonce_ttl <= 86400;
            break;
        case O_SKEW:
            skew = strtol(optarg, &end, 10);
            ok = *end == '\0' && skew >= 0 && skew <= 3600;
            break;
        case 'h':
            fputs(rpx_usage, stdout);
            rc = 0;
            goto out;
        default:
            ok = false;
        }
        if (!ok) {
            if (c == O_TTL || c == O_SKEW)
                fprintf(stderr, "attest-rp-example: bad value '%s'\n", optarg);
            fputs(rpx_usage, stderr);
            goto out;
        }
    }
    if (optind != argc || issuer == NULL || secret_file == NULL || a.n_expect == 0) {
        fprintf(stderr, "attest-rp-example: %s\n%s",
                optind != argc    ? "unexpected argument"
                : a.n_expect == 0 ? "say which enclave to trust: --mrenclave/--mrsigner/"
                                    "--mrtd/--expect"
                                  : "--issuer and --secret-file are required",
                rpx_usage);
        goto out;
    }
    struct sockaddr_in sa;
    if (!rpx_parse_listen(listen, &sa)) {
        fprintf(stderr, "attest-rp-example: --listen wants IPV4:PORT, not '%s'\n", listen);
        goto out;
    }
    if (!rpx_read_secret(&a, secret_file))
        goto out;
    rc = 1;
    att_diag_t d;
    a.rp = att_rp_new(
        &(att_rp_opts_t){.issuer = issuer, .skew = skew == 0 ? ATT_RP_SKEW_NONE : (int64_t)skew},
        &d);
    if (a.rp == NULL) {
        fprintf(stderr, "attest-rp-example: %s\n", d.msg);
        goto out;
    }
    if (att_rp_refresh(a.rp, (att_time_t)time(NULL), &d) != ATT_OK) /* not fatal: retried */
        fprintf(stderr, "attest-rp-example: warning: no keys from %s yet: %s\n", issuer, d.msg);
    pthread_mutex_init(&a.mu, NULL);

    sigset_t set; /* blocked before MHD's threads start, so only sigwait sees them */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct MHD_Daemon *mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, rpx_handle, &a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, rpx_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_END);
    if (mhd == NULL) {
        fprintf(stderr, "attest-rp-example: cannot listen on %s\n", listen);
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
    printf("http://%s:%u\n", host, di ? (unsigned)di->port : (unsigned)ntohs(sa.sin_port));
    fflush(stdout);
    fprintf(stderr, "attest-rp-example: trusting tokens from %s for %zu expected claim(s)%s\n",
            issuer, a.n_expect, a.allow_simulated ? ", simulated evidence allowed" : "");
    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(mhd);
    rc = 0;
out:
    att_rp_free(a.rp);
    for (size_t i = 0; i < a.n_expect; i++)
        att_rp_expect_clear(&a.expect[i]);
    if (a.secret != NULL)
        OPENSSL_cleanse(a.secret, RPX_MAX_SECRET + 1);
    free(a.secret);
    return rc;
}
