/* svc.c - attestd's domain logic: attest, policies, policy-management certificates, metadata
 * and signing keys (see svc.h). HTTP-free: every operation returns a status and a JSON body.
 *
 * Concurrency: the active signer, the published JWKS and the per-type policies are immutable
 * reference-counted snapshots swapped under a rwlock; a request takes references and works
 * without holding the lock, so a policy write never tears an evaluation in flight.
 * Time: verification uses `now` = the --at override or the wall clock read once per request;
 * token times (iat/nbf/exp) always use the wall clock.
 */
#include "svc.h"

#include <ctype.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "attest/dcap.h"
#include "attest/evidence.h"
#include "attest/policy.h"
#include "collsrc.h"
#include "core/json.h"
#include "core/util.h"
#include "crypto/crypto.h"
#include "store.h"

#define ATT_SVC_CERT_LIFETIME (10LL * 365 * 86400)
#define ATT_SVC_KEY_RELOAD_SECONDS 5

static const char *const att_svc_types[] = {"SgxEnclave", "OpenEnclave", "TdxVm", "SevSnpVm",
                                            "Tpm"};
#define ATT_SVC_NTYPES (sizeof(att_svc_types) / sizeof(att_svc_types[0]))

/* A policy in force for one type: immutable once published. */
typedef struct {
    atomic_int refs;
    att_policy_t *pol;
    char *jws;         /* the stored policy JWS (x-ms-policy) */
    json_t *signer;    /* JWK of the signer when signed, else NULL */
    bool is_default;
} att_pol_t;

/* The signing state: active signer and the published JWKS. */
typedef struct {
    atomic_int refs;
    att_signer_t *signer;
    EVP_PKEY *key;
    X509 *cert;
    json_t *jwks;
} att_keys_t;

struct att_svc {
    char *issuer, *jku;
    att_svc_opts_t o;
    att_store_t *store;
    att_trust_t *trust;
    att_dcap_cache_t *cache;
    att_collsrc_t *coll;
    pthread_rwlock_t lock;
    att_keys_t *keys;
    time_t keys_loaded;
    att_pol_t *pol[ATT_SVC_NTYPES];
    bool isolated;
    STACK_OF(X509) *signers; /* policy management certificates (isolated mode) */
    atomic_bool stopping;    /* att_svc_stop: evaluations in flight give up */
};

/* ---- small helpers ---- */

static att_time_t att_wall(void) { return (att_time_t)time(NULL); }

static att_time_t att_svc_now(const att_svc_t *svc) { return svc->o.have_at ? svc->o.at : att_wall(); }

static bool att_svc_stopping(void *arg)
{
    return atomic_load_explicit(&((att_svc_t *)arg)->stopping, memory_order_relaxed);
}

static void att_reply(att_svc_reply_t *r, int status, json_t *body)
{
    r->status = status;
    r->body = body;
}

static void att_reply_err(att_svc_reply_t *r, int status, const char *code, att_err_t e,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void att_reply_err(att_svc_reply_t *r, int status, const char *code, att_err_t e,
                          const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->status = status;
    r->code = code;
    r->att_code = e != ATT_OK ? att_err_name(e) : NULL;
    r->body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    if (r->body == NULL) {
        /* msg quotes client input that is not UTF-8 (jansson refuses it): bytes outside
         * printable ASCII become '?', so the reply is still {"error": {...}} */
        for (unsigned char *p = (unsigned char *)msg; *p; p++)
            if (*p < 0x20 || *p >= 0x7f)
                *p = '?';
        r->body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    }
}

/* 200 {"token": jws}. A compact JWS is base64url and dots - ASCII by construction - so the
 * string skips jansson's UTF-8 check of its 3-5 kB (about 5 us per attest). */
static void att_reply_jws(att_svc_reply_t *r, const char *jws)
{
    json_t *o = json_object();
    if (o != NULL && json_object_set_new(o, "token", json_stringn_nocheck(jws, strlen(jws))) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (o == NULL)
        att_reply_err(r, 500, "InternalError", ATT_E_NOMEM, "out of memory");
    else
        att_reply(r, 200, o);
}

void att_svc_reply_clear(att_svc_reply_t *r)
{
    json_decref(r->body);
    memset(r, 0, sizeof(*r));
}

static const char *att_svc_type_name(const char *type, size_t *idx)
{
    for (size_t i = 0; type != NULL && i < ATT_SVC_NTYPES; i++)
        if (strcasecmp(type, att_svc_types[i]) == 0) {
            if (idx)
                *idx = i;
            return att_svc_types[i];
        }
    return NULL;
}

static void att_pol_unref(att_pol_t *p)
{
    if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    att_policy_free(p->pol);
    free(p->jws);
    json_decref(p->signer);
    free(p);
}

static void att_keys_unref(att_keys_t *k)
{
    if (k == NULL || atomic_fetch_sub(&k->refs, 1) != 1)
        return;
    att_signer_free(k->signer);
    EVP_PKEY_free(k->key);
    X509_free(k->cert);
    json_decref(k->jwks);
    free(k);
}

/* Token claims every service token carries: iss, iat, nbf, exp. */
static void att_std_claims(const att_svc_t *svc, json_t *c)
{
    att_time_t now = att_wall();
    json_object_set_new(c, "iss", json_string(svc->issuer));
    json_object_set_new(c, "iat", json_integer(now));
    json_object_set_new(c, "nbf", json_integer(now));
    json_object_set_new(c, "exp", json_integer(now + svc->o.token_lifetime));
}

/* Sign claims with the active key into {"token": jwt}; takes ownership of claims. */
static void att_reply_token(att_svc_t *svc, json_t *claims, att_svc_reply_t *r)
{
    pthread_rwlock_rdlock(&svc->lock);
    att_keys_t *k = svc->keys;
    atomic_fetch_add(&k->refs, 1);
    pthread_rwlock_unlock(&svc->lock);
    char *jwt = NULL;
    att_diag_t d;
    att_err_t e = att_jwt_sign(k->signer, svc->jku, claims, &jwt, &d);
    att_keys_unref(k);
    json_decref(claims);
    if (e != ATT_OK) {
        att_reply_err(r, 500, "InternalError", e, "signing the token failed: %s", d.msg);
        return;
    }
    att_reply_jws(r, jwt);
    free(jwt);
}

/* ---- keys ---- */

static att_err_t att_keys_generate(att_svc_t *svc, att_diag_t *d)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    att_err_t e = att_key_generate(svc->o.alg, &key, d);
    if (e == ATT_OK)
        e = att_cert_self_signed(key, svc->issuer, ATT_SVC_CERT_LIFETIME, att_wall(), &cert, d);
    att_store_key_t sk = {0};
    if (e == ATT_OK) {
        sk.kid = att_cert_kid(cert);
        sk.alg = (char *)att_alg_name(svc->o.alg);
        sk.key_pem = att_key_to_pem(key);
        sk.cert_pem = att_cert_to_pem(cert);
        sk.created = att_wall();
        if (sk.kid == NULL || sk.key_pem == NULL || sk.cert_pem == NULL)
            e = att_diag_set(d, ATT_E_KEY, "cannot encode the new signing key");
        else
            e = att_store_key_put(svc->store, &sk, d);
    }
    if (sk.key_pem)
        OPENSSL_cleanse(sk.key_pem, strlen(sk.key_pem));
    free(sk.kid);
    free(sk.key_pem);
    free(sk.cert_pem);
    EVP_PKEY_free(key);
    X509_free(cert);
    return e;
}

/* Build the signing state from the store: newest active key signs; every key still within its
 * publication window is in the JWKS. */
static att_err_t att_keys_load(att_svc_t *svc, att_keys_t **out, att_diag_t *d)
{
    att_store_key_t *keys = NULL;
    size_t n = 0;
    att_err_t e = att_store_key_list(svc->store, &keys, &n, d);
    if (e != ATT_OK)
        return e;
    att_keys_t *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        att_store_keys_free(keys, n);
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    atomic_init(&k->refs, 1);
    k->jwks = att_jwks_new();
    att_time_t now = att_wall();
    for (size_t i = 0; i < n && e == ATT_OK; i++) {
        if (keys[i].retired != 0 && keys[i].publish_until < now)
            continue;
        X509 *cert = att_cert_parse((const uint8_t *)keys[i].cert_pem, strlen(keys[i].cert_pem),
                                    "stored signing certificate", d);
        if (cert == NULL) {
            e = ATT_E_KEY;
            break;
        }
        e = att_jwks_add(k->jwks, cert, d);
        if (e == ATT_OK && k->signer == NULL && keys[i].retired == 0) {
            k->key = att_key_from_pem(keys[i].key_pem, strlen(keys[i].key_pem));
            att_alg_t alg = att_alg_parse(keys[i].alg);
            if (k->key == NULL || alg == ATT_ALG_NONE)
                e = att_diag_set(d, ATT_E_KEY, "stored signing key %s cannot be loaded",
                                 keys[i].kid);
            else if ((k->signer = att_signer_new(k->key, cert, alg, d)) == NULL)
                e = d->code ? d->code : ATT_E_KEY;
            else
                k->cert = cert, cert = NULL;
        }
        X509_free(cert);
    }
    att_store_keys_free(keys, n);
    if (e == ATT_OK && k->signer == NULL)
        e = att_diag_set(d, ATT_E_STORE_NOT_FOUND, "the store has no active signing key");
    if (e != ATT_OK) {
        att_keys_unref(k);
        return e;
    }
    *out = k;
    return ATT_OK;
}

/* Reload keys from the store now and then, so `attestd keys rotate` run beside a live server
 * takes effect without a restart. */
static void att_keys_maybe_reload(att_svc_t *svc)
{
    time_t t = time(NULL);
    pthread_rwlock_rdlock(&svc->lock);
    bool due = t - svc->keys_loaded >= ATT_SVC_KEY_RELOAD_SECONDS;
    pthread_rwlock_unlock(&svc->lock);
    if (!due)
        return;
    att_keys_t *k;
    att_diag_t d;
    if (att_keys_load(svc, &k, &d) != ATT_OK)
        return; /* keep serving with the keys we have */
    pthread_rwlock_wrlock(&svc->lock);
    att_keys_t *old = svc->keys;
    svc->keys = k;
    svc->keys_loaded = t;
    pthread_rwlock_unlock(&svc->lock);
    att_keys_unref(old);
}

att_err_t att_svc_keys_rotate(att_svc_t *svc, char **kid, att_diag_t *d)
{
    att_store_key_t *keys = NULL;
    size_t n = 0;
    att_err_t e = att_store_key_list(svc->store, &keys, &n, d);
    if (e != ATT_OK)
        return e;
    e = att_keys_generate(svc, d);
    att_time_t now = att_wall();
    /* Old active keys stop signing now and stay published until their last token expires. */
    for (size_t i = 0; i < n && e == ATT_OK; i++)
        if (keys[i].retired == 0)
            e = att_store_key_retire(svc->store, keys[i].kid, now, now + svc->o.token_lifetime, d);
    att_store_keys_free(keys, n);
    if (e != ATT_OK)
        return e;
    att_keys_t *k;
    if ((e = att_keys_load(svc, &k, d)) != ATT_OK)
        return e;
    pthread_rwlock_wrlock(&svc->lock);
    att_keys_t *old = svc->keys;
    svc->keys = k;
    svc->keys_loaded = time(NULL);
    pthread_rwlock_unlock(&svc->lock);
    att_keys_unref(old);
    if (kid)
        *kid = strdup(att_signer_kid(k->signer));
    return ATT_OK;
}

/* ---- policies ---- */

/* Decode {"AttestationPolicy": b64url(text)} from a policy JWS payload. */
static att_err_t att_policy_text(const json_t *claims, char **text, size_t *len, att_diag_t *d)
{
    const char *b = json_string_value(json_object_get(claims, "AttestationPolicy"));
    if (b == NULL)
        return att_diag_set(d, ATT_E_JWS_FORMAT, "the policy token has no AttestationPolicy claim");
    uint8_t *out;
    size_t n;
    if (!att_b64_decode(b, strlen(b), false, &out, &n))
        return att_diag_set(d, ATT_E_JWS_FORMAT, "AttestationPolicy is not base64url");
    *text = (char *)out;
    *len = n;
    return ATT_OK;
}

static char *att_policy_jws_unsigned(const char *text, size_t len)
{
    char *b = att_b64url_encode((const uint8_t *)text, len);
    json_t *p = json_pack("{s:s}", "AttestationPolicy", b ? b : "");
    char *payload = json_dumps(p, JSON_COMPACT);
    char *jws = payload ? att_jws_unsigned((const uint8_t *)payload, strlen(payload)) : NULL;
    free(payload);
    json_decref(p);
    free(b);
    return jws;
}

/* Make a policy entry from a stored JWS (trusted: it was checked when it was set). */
static att_pol_t *att_pol_from_jws(const char *jws, bool is_default, att_diag_t *d)
{
    att_jws_t j;
    att_jws_opts_t jo = {.allow_unsigned = true};
    if (att_jws_verify(jws, strlen(jws), &jo, &j, d) != ATT_OK)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    att_pol_t *p = NULL;
    if (att_policy_text(j.claims, &text, &len, d) == ATT_OK &&
        (p = calloc(1, sizeof(*p))) != NULL) {
        atomic_init(&p->refs, 1);
        p->is_default = is_default;
        p->jws = strdup(jws);
        if (j.signer)
            p->signer = att_jwk_from_cert(j.signer, d);
        if (att_policy_compile(text, len, &p->pol, NULL, d) != ATT_OK || p->jws == NULL) {
            att_pol_unref(p);
            p = NULL;
        }
    }
    free(text);
    att_jws_clear(&j);
    return p;
}

static att_pol_t *att_pol_default(const char *type, att_diag_t *d)
{
    const char *text = att_policy_default(type);
    if (text == NULL) {
        att_diag_set(d, ATT_E_ARG, "no default policy for %s", type);
        return NULL;
    }
    char *jws = att_policy_jws_unsigned(text, strlen(text));
    att_pol_t *p = jws ? att_pol_from_jws(jws, true, d) : NULL;
    free(jws);
    return p;
}

static att_pol_t *att_pol_get(att_svc_t *svc, size_t idx)
{
    pthread_rwlock_rdlock(&svc->lock);
    att_pol_t *p = svc->pol[idx];
    atomic_fetch_add(&p->refs, 1);
    pthread_rwlock_unlock(&svc->lock);
    return p;
}

static void att_pol_swap(att_svc_t *svc, size_t idx, att_pol_t *p)
{
    pthread_rwlock_wrlock(&svc->lock);
    att_pol_t *old = svc->pol[idx];
    svc->pol[idx] = p;
    pthread_rwlock_unlock(&svc->lock);
    att_pol_unref(old);
}

/* Is cert one of the policy management certificates? */
static bool att_is_signer(att_svc_t *svc, X509 *cert)
{
    bool found = false;
    pthread_rwlock_rdlock(&svc->lock);
    for (int i = 0; svc->signers && i < sk_X509_num(svc->signers) && !found; i++)
        found = X509_cmp(sk_X509_value(svc->signers, i), cert) == 0;
    pthread_rwlock_unlock(&svc->lock);
    return found;
}

/* Trim whitespace and a JSON string-literal wrapper around a JWS body. */
static void att_trim_body(const char **p, size_t *len)
{
    while (*len > 0 && isspace((unsigned char)**p))
        (*p)++, (*len)--;
    while (*len > 0 && isspace((unsigned char)(*p)[*len - 1]))
        (*len)--;
}

/* Verify a policy-management JWS (policy set/reset): in isolated mode it must be signed by a
 * policy management certificate; otherwise unsigned or any valid signature is accepted. */
static att_err_t att_policy_jws(att_svc_t *svc, const char *body, size_t len, att_jws_t *j,
                                att_svc_reply_t *r)
{
    att_diag_t d;
    att_jws_opts_t jo = {.allow_unsigned = !svc->isolated};
    att_err_t e = att_jws_verify(body, len, &jo, j, &d);
    if (e == ATT_E_JWS_UNSIGNED || (e == ATT_OK && svc->isolated && j->signer == NULL)) {
        if (e == ATT_OK)
            att_jws_clear(j);
        att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_UNSIGNED,
                      "this instance is in isolated mode: policies must be signed by a policy "
                      "management certificate");
        return ATT_E_JWS_UNSIGNED;
    }
    if (e != ATT_OK) {
        att_reply_err(r, 400, e == ATT_E_JWS_SIGNATURE ? "InvalidParameter" : "InvalidOperation",
                      e, "the policy token is not a valid JWS: %s", d.msg);
        return e;
    }
    if (svc->isolated && !att_is_signer(svc, j->signer)) {
        att_jws_clear(j);
        att_reply_err(r, 400, "InvalidParameter", ATT_E_JWS_SIGNATURE,
                      "the policy token is signed by a certificate that is not a policy "
                      "management certificate of this instance");
        return ATT_E_JWS_SIGNATURE;
    }
    return ATT_OK;
}

/* ---- what a signed administration request authorises (docs/api.md#signed-requests) ----
 *
 * In isolated mode the signature is what authorises a change (elsewhere the access token is),
 * so there a signed request must say what it is for.
 * The operation: a policy set carries AttestationPolicy; a reset carries an empty payload (or a
 * JSON object with neither AttestationPolicy nor a policy certificate); a certificate change
 * carries policyCertificate. So the policy JWS that GET /policies hands out can never reset.
 * Freshness: exp and nbf are enforced when present (60 s of clock skew); with
 * --policy-jws-max-age an iat at most that old is required.
 * Type and once: GET /policies hands the policy JWS in force to anyone who may read, so in
 * isolated mode a signed policy set is recorded in the store's ledger (by the SHA-256 of its
 * signing input, so a re-encoded or, for ECDSA, a re-signed (r, n-s) copy is the same request)
 * with its type. It is refused for any other type, and for its own type once another policy has
 * replaced it (a rollback); a retry that changes nothing is answered as before. Resets and
 * certificate changes carry nothing that could bind them (MAA's format: an empty payload; the
 * same policyCertificate payload for add and remove), are never handed out by attestd, and are
 * bounded by exp / --policy-jws-max-age only (docs/api.md). */

#define ATT_SVC_JWS_SKEW 60

static const char *const att_signed_ops[] = {"policy.set", "policy.reset", "certificates.add",
                                             "certificates.remove"};
typedef enum { ATT_SIGNED_SET, ATT_SIGNED_RESET, ATT_SIGNED_CERT_ADD, ATT_SIGNED_CERT_REMOVE } att_signed_op_t;

/* exp, nbf and iat of a policy-management JWS: integers when present, and in range at the
 * wall clock (request freshness is about now, not about the --at evidence clock). */
static bool att_request_fresh(att_svc_t *svc, const att_jws_t *j, att_svc_reply_t *r)
{
    static const char *const names[] = {"exp", "nbf", "iat"};
    json_int_t v[3] = {0, 0, 0};
    bool have[3] = {false, false, false};
    for (size_t i = 0; i < 3; i++) {
        json_t *c = json_object_get(j->claims, names[i]);
        if (c == NULL)
            continue;
        if (!json_is_integer(c) || json_integer_value(c) < 0) {
            att_reply_err(r, 400, "InvalidParameter", ATT_E_TOKEN_CLAIM,
                          "the request token's %s must be a non-negative integer (seconds since "
                          "1970)", names[i]);
            return false;
        }
        v[i] = json_integer_value(c);
        have[i] = true;
    }
    att_time_t now = att_wall();
    char t[ATT_TIME_STRLEN];
    if (have[0] && v[0] <= now - ATT_SVC_JWS_SKEW) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_TOKEN_EXPIRED,
                      "the request token expired at %s", att_time_format((att_time_t)v[0], t));
        return false;
    }
    if (have[1] && v[1] > now + ATT_SVC_JWS_SKEW) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_TOKEN_NOT_YET_VALID,
                      "the request token is not valid before %s",
                      att_time_format((att_time_t)v[1], t));
        return false;
    }
    if (have[2] && v[2] > now + ATT_SVC_JWS_SKEW) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_TOKEN_NOT_YET_VALID,
                      "the request token's iat %s is in the future",
                      att_time_format((att_time_t)v[2], t));
        return false;
    }
    int64_t max_age = svc->o.policy_jws_max_age;
    if (max_age > 0 && j->signer != NULL && (!have[2] || now - v[2] > max_age)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_TOKEN_CLAIM,
                      "this attestd takes signed requests at most %lld s old "
                      "(--policy-jws-max-age): the request token %s",
                      (long long)max_age, have[2] ? "is older" : "has no iat claim");
        return false;
    }
    return true;
}

/* Does the JWS payload say what the operation is? */
static bool att_request_op_ok(const att_jws_t *j, att_signed_op_t op, att_svc_reply_t *r)
{
    bool has_policy = json_object_get(j->claims, "AttestationPolicy") != NULL;
    bool has_cert = false;
    static const char *const cert_names[] = {"policyCertificate", "maa-policyCertificate",
                                             "x-ms-policyCertificate", "aas-policyCertificate"};
    for (size_t i = 0; i < ATT_ARRAY_LEN(cert_names); i++)
        has_cert |= json_object_get(j->claims, cert_names[i]) != NULL;
    const char *what = NULL;
    switch (op) {
    case ATT_SIGNED_SET:
        if (has_cert)
            what = "it carries a policy certificate: it is a certificates request";
        break;
    case ATT_SIGNED_RESET:
        if (has_policy)
            what = "it carries AttestationPolicy: it is a policy set request (a reset takes a "
                   "JWS with an empty payload)";
        else if (has_cert)
            what = "it carries a policy certificate: it is a certificates request";
        else if (j->payload_len > 0 && j->claims == NULL)
            what = "its payload is neither empty nor a JSON object";
        break;
    case ATT_SIGNED_CERT_ADD:
    case ATT_SIGNED_CERT_REMOVE:
        if (has_policy)
            what = "it carries AttestationPolicy: it is a policy set request";
        break;
    }
    if (what == NULL)
        return true;
    att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                  "the request token does not authorise %s: %s", att_signed_ops[op], what);
    return false;
}

/* SHA-256 (hex) of a JWS's signing input, b64(header) "." b64(payload), as sent. */
static bool att_request_hash(const char *body, size_t len, char out[65])
{
    json_t *lit = NULL;
    if (len > 0 && body[0] == '"') { /* a JSON string literal, as /certificates:* take it */
        json_error_t je;
        if ((lit = json_loadb(body, len, JSON_DECODE_ANY, &je)) == NULL || !json_is_string(lit)) {
            json_decref(lit);
            return false;
        }
        body = json_string_value(lit);
        len = json_string_length(lit);
        att_trim_body(&body, &len);
    }
    const char *d1 = memchr(body, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - body)) : NULL;
    uint8_t h[32];
    bool ok = d2 != NULL && att_sha256_2((const uint8_t *)body, (size_t)(d2 - body), NULL, 0, h);
    if (ok)
        att_hex_encode(h, sizeof h, out);
    json_decref(lit);
    return ok;
}

/* The checks of a policy-management JWS that has verified: what it authorises, freshness, and
 * (isolated mode, signed policy sets) the ledger. *seen_same is set when the request was used
 * before for exactly this; the caller accepts that only when it changes nothing. */
static bool att_request_authorised(att_svc_t *svc, const char *body, size_t len,
                                   const att_jws_t *j, att_signed_op_t op, const char *type,
                                   bool *seen_same, att_svc_reply_t *r)
{
    *seen_same = false;
    /* Outside isolated mode the access token authorises the change; the body only carries it. */
    if (!svc->isolated || j->signer == NULL)
        return true;
    if (!att_request_op_ok(j, op, r) || !att_request_fresh(svc, j, r))
        return false;
    if (op != ATT_SIGNED_SET)
        return true;
    char hash[65], used_for[64];
    if (!att_request_hash(body, len, hash)) {
        att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                      "the request token is not a compact JWS");
        return false;
    }
    snprintf(used_for, sizeof used_for, "%s%s%s", att_signed_ops[op], type ? " " : "",
             type ? type : "");
    char *prev = NULL;
    att_time_t prev_at = 0;
    att_diag_t d;
    att_err_t e = att_store_request_use(svc->store, hash, used_for, att_wall(), &prev, &prev_at,
                                        &d);
    if (e != ATT_OK) {
        att_reply_err(r, 500, "InternalError", e, "recording the signed request failed: %s",
                      d.msg);
        return false;
    }
    if (prev == NULL)
        return true;
    if (strcmp(prev, used_for) == 0) {
        free(prev);
        *seen_same = true;
        return true;
    }
    char t[ATT_TIME_STRLEN];
    att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                  "this signed request was made for %s (first used %s), not %s: a signed request "
                  "authorises one change, once", prev, att_time_format(prev_at, t), used_for);
    free(prev);
    return false;
}

/* A request seen before for the same operation: accepted only when it changes nothing. */
static void att_reply_replay(att_svc_reply_t *r, att_signed_op_t op, const char *type)
{
    att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                  "this signed request was already used for %s%s%s and another policy has "
                  "replaced it since: a signed policy is not set again (no rollback); sign a new "
                  "request (an iat claim, or any change of the text, makes it new)", att_signed_ops[op], type ? " " : "", type ? type : "");
}

/* Start a policy operation's reply: the type's index, or a 400 naming the unknown type. */
static bool att_policy_type(const char *type, size_t *idx, att_svc_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    if ((r->type = att_svc_type_name(type, idx)) != NULL)
        return true;
    att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "unknown attestation type '%s'", type);
    return false;
}

void att_svc_policy_get(att_svc_t *svc, const char *type, att_svc_reply_t *r)
{
    size_t idx;
    if (!att_policy_type(type, &idx, r))
        return;
    att_keys_maybe_reload(svc);
    att_pol_t *p = att_pol_get(svc, idx);
    json_t *c = json_object();
    att_std_claims(svc, c);
    json_object_set_new(c, "x-ms-policy", json_string(p->jws));
    if (p->signer)
        json_object_set(c, "x-ms-policy-signer", p->signer);
    att_pol_unref(p);
    att_reply_token(svc, c, r);
}

void att_svc_policy_set(att_svc_t *svc, const char *type, const char *body, size_t len,
                        att_svc_reply_t *r)
{
    size_t idx;
    att_diag_t d;
    if (!att_policy_type(type, &idx, r))
        return;
    att_trim_body(&body, &len);
    if (len == 0) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "the request body is empty: send "
                      "the policy as a JWS (or as policy text)");
        return;
    }
    att_jws_t j = {0};
    char *text = NULL, *jws = NULL;
    size_t tlen = 0;
    bool raw_text = false;
    att_jws_opts_t probe = {.allow_unsigned = true};
    /* Not a JWS at all: accept raw policy text (outside isolated mode). */
    att_err_t pe = att_jws_verify(body, len, &probe, &j, &d);
    att_jws_clear(&j);
    if (pe == ATT_E_JWS_FORMAT && !svc->isolated) {
        raw_text = true;
        /* all len bytes: strndup would stop at a NUL in the body, and the compiler reads len */
        if ((text = malloc(len + 1)) != NULL) {
            memcpy(text, body, len);
            text[len] = '\0';
        }
        tlen = len;
        jws = att_policy_jws_unsigned(body, len);
        if (text == NULL || jws == NULL) {
            att_reply_err(r, 500, "InternalError", ATT_E_NOMEM, "out of memory");
            goto out;
        }
    } else {
        if (att_policy_jws(svc, body, len, &j, r) != ATT_OK)
            return;
        if (att_policy_text(j.claims, &text, &tlen, &d) != ATT_OK) {
            att_jws_clear(&j);
            att_reply_err(r, 400, "InvalidOperation", d.code, "%s", d.msg);
            return;
        }
        jws = strndup(body, len);
    }
    att_policy_t *pol = NULL;
    att_policy_pos_t pos;
    att_err_t e = att_policy_compile(text, tlen, &pol, &pos, &d);
    att_policy_free(pol);
    if (e != ATT_OK) {
        att_reply_err(r, 400, "PolicyParsingError", e, "%s", d.msg);
        goto out;
    }
    bool seen = false;
    if (!raw_text && !att_request_authorised(svc, body, len, &j, ATT_SIGNED_SET, r->type, &seen, r))
        goto out;
    if (seen) { /* a retry of the request that set the policy in force changes nothing */
        att_pol_t *cur = att_pol_get(svc, idx);
        bool same = !cur->is_default && strcmp(cur->jws, jws) == 0;
        att_pol_unref(cur);
        if (!same) {
            att_reply_replay(r, ATT_SIGNED_SET, r->type);
            goto out;
        }
    }
    /* Durable first, then in force. */
    if ((e = att_store_policy_put(svc->store, r->type, jws, &d)) != ATT_OK) {
        att_reply_err(r, 500, "InternalError", e, "storing the policy failed: %s", d.msg);
        goto out;
    }
    att_pol_t *p = att_pol_from_jws(jws, false, &d);
    if (p == NULL) {
        att_reply_err(r, 500, "InternalError", d.code, "%s", d.msg);
        goto out;
    }
    att_pol_swap(svc, idx, p);
    uint8_t h[32];
    const char *hashed = raw_text ? jws : body;
    size_t hlen = raw_text ? strlen(jws) : len;
    att_sha256_2((const uint8_t *)hashed, hlen, NULL, 0, h);
    char *hash = att_b64url_encode(h, 32);
    json_t *c = json_object();
    att_std_claims(svc, c);
    json_object_set_new(c, "x-ms-policy-result", json_string("Updated"));
    json_object_set_new(c, "x-ms-policy-token-hash", json_string(hash ? hash : ""));
    if (j.signer)
        json_object_set_new(c, "x-ms-policy-signer", att_jwk_from_cert(j.signer, &d));
    free(hash);
    att_reply_token(svc, c, r);
out:
    att_jws_clear(&j);
    free(text);
    free(jws);
}

void att_svc_policy_reset(att_svc_t *svc, const char *type, const char *body, size_t len,
                          att_svc_reply_t *r)
{
    size_t idx;
    att_diag_t d;
    if (!att_policy_type(type, &idx, r))
        return;
    att_trim_body(&body, &len);
    att_jws_t j = {0};
    if (len > 0 || svc->isolated) {
        if (att_policy_jws(svc, body, len, &j, r) != ATT_OK)
            return;
        bool seen = false;
        if (!att_request_authorised(svc, body, len, &j, ATT_SIGNED_RESET, r->type, &seen, r)) {
            att_jws_clear(&j);
            return;
        }
    }
    att_err_t e = att_store_policy_delete(svc->store, r->type, &d);
    if (e != ATT_OK && e != ATT_E_STORE_NOT_FOUND) {
        att_jws_clear(&j);
        att_reply_err(r, 500, "InternalError", e, "resetting the policy failed: %s", d.msg);
        return;
    }
    att_pol_t *p = att_pol_default(r->type, &d);
    if (p != NULL)
        att_pol_swap(svc, idx, p);
    json_t *c = json_object();
    att_std_claims(svc, c);
    json_object_set_new(c, "x-ms-policy-result", json_string("Removed"));
    if (j.signer)
        json_object_set_new(c, "x-ms-policy-signer", att_jwk_from_cert(j.signer, &d));
    att_jws_clear(&j);
    att_reply_token(svc, c, r);
}

/* ---- policy management certificates ---- */

/* The certificate's SHA-1 thumbprint, lowercase hex (the store's key). */
static void att_sha1_hex(X509 *cert, char out[41])
{
    unsigned char md[20];
    unsigned int n = 0;
    X509_digest(cert, EVP_sha1(), md, &n);
    att_hex_encode(md, 20, out);
}

void att_svc_certificates(att_svc_t *svc, att_svc_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    json_t *jwks = att_jwks_new();
    att_diag_t d;
    pthread_rwlock_rdlock(&svc->lock);
    for (int i = 0; svc->signers && i < sk_X509_num(svc->signers); i++)
        if (att_jwks_add(jwks, sk_X509_value(svc->signers, i), &d) != ATT_OK)
            break;
    pthread_rwlock_unlock(&svc->lock);
    json_t *c = json_object();
    att_std_claims(svc, c);
    json_object_set_new(c, "x-ms-policy-certificates", jwks);
    att_reply_token(svc, c, r);
}

/* Can this certificate's key sign a policy attestd accepts? RS256/PS256 need RSA of 2048 to
 * 16384 bits with an odd public exponent >= 65537, ES256 a P-256 key (as att_jws_verify and
 * docs/tokens.md); anything else could never authorise a change. why: the reason otherwise. */
static bool att_signer_key_ok(X509 *cert, char *why, size_t n)
{
    EVP_PKEY *k = X509_get0_pubkey(cert);
    if (k == NULL) {
        snprintf(why, n, "its public key cannot be read");
        return false;
    }
    int bits = EVP_PKEY_get_bits(k);
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA: {
        BIGNUM *e = NULL;
        bool e_ok = EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e) == 1 && BN_is_odd(e) &&
                    BN_num_bits(e) >= 17 && BN_num_bits(e) <= 64;
        BN_free(e);
        if (bits < 2048 || bits > 16384) {
            snprintf(why, n, "its RSA key has %d bits (RS256/PS256 need 2048 to 16384)", bits);
            return false;
        }
        if (!e_ok) {
            snprintf(why, n, "its RSA public exponent is not an odd number from 65537 to 2^64");
            return false;
        }
        return true;
    }
    case EVP_PKEY_EC: {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen) == 1 &&
            strcmp(group, "prime256v1") == 0)
            return true;
        snprintf(why, n, "its EC key is on %s, and ES256 needs P-256", group[0] ? group : "an "
                 "unnamed curve");
        return false;
    }
    default:
        snprintf(why, n, "its key is neither RSA (RS256/PS256) nor EC P-256 (ES256)");
        return false;
    }
}

void att_svc_certificates_change(att_svc_t *svc, bool add, const char *body, size_t len,
                                 att_svc_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    att_diag_t d;
    if (!svc->isolated) {
        att_reply_err(r, 400, "InvalidOperation", ATT_E_UNSUPPORTED,
                      "policy management certificates exist only in isolated mode (start "
                      "attestd with --isolated-signers)");
        return;
    }
    att_trim_body(&body, &len);
    att_jws_t j;
    if (att_policy_jws(svc, body, len, &j, r) != ATT_OK)
        return;
    static const char *const names[] = {"policyCertificate", "maa-policyCertificate",
                                        "x-ms-policyCertificate", "aas-policyCertificate"};
    json_t *jwk = NULL;
    for (size_t i = 0; i < ATT_ARRAY_LEN(names) && jwk == NULL; i++)
        jwk = json_object_get(j.claims, names[i]);
    const char *x5c0 = json_string_value(json_array_get(json_object_get(jwk, "x5c"), 0));
    uint8_t *der = NULL;
    size_t dlen = 0;
    X509 *cert = NULL;
    if (jwk == NULL) {
        att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                      "could not find the policyCertificate claim in the request token");
        goto out;
    }
    if (x5c0 == NULL || !att_b64_decode(x5c0, strlen(x5c0), true, &der, &dlen) ||
        (cert = att_cert_parse(der, dlen, "policyCertificate x5c[0]", &d)) == NULL) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_CERT_PARSE,
                      "the policyCertificate claim must be a JWK whose x5c[0] is a certificate");
        goto out;
    }
    if (add && X509_check_ca(cert) < 1) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_CERT_CONSTRAINTS,
                      "the policy management certificate must be a CA certificate (Basic "
                      "Constraints CA=true)");
        goto out;
    }
    char why[160];
    if (add && !att_signer_key_ok(cert, why, sizeof why)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_CERT_KEY,
                      "the policy management certificate could never sign a policy: %s", why);
        goto out;
    }
    bool seen = false;
    if (!att_request_authorised(svc, body, len, &j,
                                add ? ATT_SIGNED_CERT_ADD : ATT_SIGNED_CERT_REMOVE, NULL, &seen,
                                r))
        goto out;
    char lower[41], thumb[41]; /* the store's key; the answer's x-ms-certificate-thumbprint */
    att_sha1_hex(cert, lower);
    for (int i = 0; i <= 40; i++)
        thumb[i] = (char)toupper((unsigned char)lower[i]);
    att_err_t e = ATT_OK;
    pthread_rwlock_wrlock(&svc->lock);
    int found = -1;
    for (int i = 0; i < sk_X509_num(svc->signers) && found < 0; i++)
        if (X509_cmp(sk_X509_value(svc->signers, i), cert) == 0)
            found = i;
    if (add && found < 0) {
        char *pem = att_cert_to_pem(cert);
        att_store_signer_t s = {lower, pem};
        e = pem ? att_store_signer_add(svc->store, &s, &d) : ATT_E_NOMEM;
        free(pem);
        if (e == ATT_OK) {
            X509_up_ref(cert);
            sk_X509_push(svc->signers, cert);
        }
    } else if (!add && found >= 0) {
        if (sk_X509_num(svc->signers) == 1) {
            e = ATT_E_UNSUPPORTED;
        } else if ((e = att_store_signer_remove(svc->store, lower, &d)) == ATT_OK) {
            X509_free(sk_X509_delete(svc->signers, found));
        }
    }
    pthread_rwlock_unlock(&svc->lock);
    if (e == ATT_E_UNSUPPORTED) {
        att_reply_err(r, 400, "InvalidOperation", e,
                      "the last policy management certificate cannot be removed");
        goto out;
    }
    if (e != ATT_OK) {
        att_reply_err(r, 500, "InternalError", e, "updating the policy management "
                      "certificates failed: %s", d.msg);
        goto out;
    }
    json_t *c = json_object();
    att_std_claims(svc, c);
    json_object_set_new(c, "x-ms-certificate-thumbprint", json_string(thumb));
    json_object_set_new(c, "x-ms-policycertificates-result",
                        json_string(add ? "IsPresent" : "IsAbsent"));
    att_reply_token(svc, c, r);
out:
    X509_free(cert);
    free(der);
    att_jws_clear(&j);
}

/* ---- metadata ---- */

void att_svc_certs(att_svc_t *svc, att_svc_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    att_keys_maybe_reload(svc);
    pthread_rwlock_rdlock(&svc->lock);
    json_t *jwks = json_deep_copy(svc->keys->jwks);
    pthread_rwlock_unlock(&svc->lock);
    att_reply(r, 200, jwks);
}

void att_svc_openid(att_svc_t *svc, att_svc_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    char revoke[1024];
    snprintf(revoke, sizeof(revoke), "%s/revoke", svc->issuer);
    json_t *o = json_pack("{s:s,s:s,s:s,s:[s,s],s:[s],s:[s,s,s,s,s,s]}", "issuer", svc->issuer,
                          "jwks_uri", svc->jku, "revocation_endpoint", revoke,
                          "response_types_supported", "token", "none",
                          "id_token_signing_alg_values_supported", att_alg_name(svc->o.alg),
                          "claims_supported", "x-ms-sgx-is-debuggable", "x-ms-sgx-mrsigner",
                          "x-ms-sgx-mrenclave", "x-ms-sgx-product-id", "x-ms-sgx-svn",
                          "x-ms-attestation-type");
    att_reply(r, 200, o);
}

/* ---- attest ---- */

/* The collateral callback's argument: per request, so that collsrc's Retry-After reaches it. */
typedef struct {
    att_svc_t *svc;
    int64_t retry_after;
} att_coll_req_t;

static att_err_t att_svc_collateral(void *arg, att_tee_t tee, const uint8_t fmspc[6],
                                    const char *ca, att_time_t now, att_dcap_collateral_t **out,
                                    att_diag_t *d)
{
    att_coll_req_t *cr = arg;
    att_svc_t *svc = cr->svc;
    if (svc->coll == NULL)
        return att_diag_set(d, ATT_E_COLL_MISSING, "no collateral source is configured (start "
                            "attestd with --collateral-url or --collateral-dir)");
    return att_collsrc_get_retry(svc->coll, tee, fmspc, ca, now, out, &cr->retry_after, d);
}

/* runtimeData / initTimeData: {"data": b64url, "dataType": "Binary"|"JSON"}. */
typedef struct {
    uint8_t *bytes;
    size_t len;
    json_t *json; /* when dataType is JSON */
    bool present;
} att_data_t;

static bool att_parse_data(json_t *body, const char *field, att_data_t *out, att_svc_reply_t *r)
{
    memset(out, 0, sizeof(*out));
    json_t *o = json_object_get(body, field);
    if (o == NULL || json_is_null(o))
        return true;
    const char *data = json_string_value(json_object_get(o, "data"));
    json_t *dt = json_object_get(o, "dataType");
    if (!json_is_object(o) || data == NULL) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "%s must be an object with a "
                      "base64url 'data' member", field);
        return false;
    }
    if (!att_b64_decode(data, strlen(data), false, &out->bytes, &out->len)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "%s.data is not base64url", field);
        return false;
    }
    out->present = true;
    const char *t = json_string_value(dt);
    if (dt != NULL && (t == NULL || (strcasecmp(t, "Binary") && strcasecmp(t, "JSON")))) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "%s.dataType must be \"Binary\" "
                      "or \"JSON\"", field);
        return false;
    }
    if (t != NULL && strcasecmp(t, "JSON") == 0) {
        json_error_t je;
        out->json = att_json_loadb((const char *)out->bytes, out->len, JSON_REJECT_DUPLICATES,
                                   &je);
        if (out->json == NULL) {
            att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "%s has dataType JSON but its "
                          "data is not JSON: %s", field, je.text);
            return false;
        }
    }
    return true;
}

static void att_data_clear(att_data_t *d)
{
    free(d->bytes);
    json_decref(d->json);
}

void att_svc_attest(att_svc_t *svc, const char *type, const char *body, size_t len,
                    att_svc_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    size_t idx;
    const char *tname = att_svc_type_name(type, &idx);
    r->type = tname;
    if (tname == NULL) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "unknown attestation type '%s' "
                      "(SgxEnclave, OpenEnclave, TdxVm, SevSnpVm, Tpm)", type);
        return;
    }
    const att_ev_verifier_t *v = att_ev_find(tname);
    if (v == NULL) {
        att_reply_err(r, 501, "NotSupported", ATT_E_UNSUPPORTED, "attestation type %s is not "
                      "supported yet by this attestd", tname);
        return;
    }
    const char *field = strcmp(tname, "OpenEnclave") == 0 ? "report" : "quote";
    json_error_t je;
    json_t *req = att_json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    att_data_t rt = {0}, it = {0};
    uint8_t *ev = NULL;
    size_t evlen = 0;
    att_ev_result_t res = {0};
    att_policy_t *draft = NULL;
    att_pol_t *pol = NULL;
    att_policy_result_t *pres = NULL;
    att_diag_t d;
    if (req == NULL || !json_is_object(req)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "the request body is not a JSON "
                      "object%s%s", req ? "" : ": ", req ? "" : je.text);
        goto out;
    }
    json_t *jev = json_object_get(req, field);
    if (!json_is_string(jev) && strcmp(tname, "SgxEnclave") == 0)
        jev = json_object_get(req, "Quote"); /* 2018 preview */
    const char *evb = json_string_value(jev);
    size_t evblen = evb ? json_string_length(jev) : 0;
    if (evb == NULL || evblen == 0) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "the request has no '%s' "
                      "(base64url evidence)", field);
        goto out;
    }
    if (!att_b64_decode(evb, evblen, false, &ev, &evlen)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "'%s' is not base64url", field);
        goto out;
    }
    if (!att_parse_data(req, "runtimeData", &rt, r) || !att_parse_data(req, "initTimeData", &it, r))
        goto out;
    json_t *nonce = json_object_get(req, "nonce");
    if (nonce != NULL && !json_is_null(nonce) && !json_is_string(nonce)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "nonce must be a string");
        goto out;
    }
    json_t *jdraft = json_object_get(req, "draftPolicyForAttestation");
    if (jdraft != NULL && !json_is_null(jdraft) && !json_is_string(jdraft)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG,
                      "draftPolicyForAttestation must be a string (policy text)");
        goto out;
    }

    /* Verify the evidence and the data bound into it. Nothing that costs more than reading the
     * request runs before this succeeds: the draft policy is compiled only afterwards. */
    att_time_t now = att_svc_now(svc);
    att_coll_req_t cr = {.svc = svc};
    att_ev_ctx_t ctx = {.trust = svc->trust, .cache = svc->cache,
                        .collateral = att_svc_collateral, .arg = &cr, .now = now};
    att_err_t e = v->verify(&ctx, ev, evlen, &res);
    if (e != ATT_OK) {
        bool unavailable = e == ATT_E_FETCH || e == ATT_E_FETCH_STATUS;
        att_reply_err(r, unavailable ? 503 : 400,
                      unavailable ? "ServiceUnavailable" : "InvalidParameter", e,
                      "evidence verification failed: %s: %s", att_err_name(e), res.diag.msg);
        if (unavailable)
            r->retry_after = cr.retry_after > 0 ? cr.retry_after : 1;
        goto out;
    }
    if ((e = att_ev_bind(&res, rt.present ? rt.bytes : NULL, rt.len,
                         it.present ? it.bytes : NULL, it.len, &d)) != ATT_OK) {
        att_reply_err(r, 400, "InvalidParameter", e, "%s", d.msg);
        goto out;
    }

    /* The draft policy, compiled now that the evidence has verified (compiling is linear in its
     * text, but a request whose evidence is bad should not pay even that). */
    if (json_is_string(jdraft)) {
        att_policy_pos_t pos;
        if (att_policy_compile(json_string_value(jdraft), json_string_length(jdraft), &draft,
                               &pos, &d) != ATT_OK) {
            att_reply_err(r, 400, "PolicyParsingError", d.code, "draftPolicyForAttestation: %s",
                          d.msg);
            goto out;
        }
    }

    /* Incoming claims for the policy. */
    json_t *claims = res.claims; /* taken over: the result is not used after this */
    res.claims = NULL;
    bool sgx = strcmp(v->attestation_type, "sgx") == 0;
    if (rt.present) {
        if (sgx) {
            char *ehd = att_b64url_encode(rt.bytes, rt.len);
            json_object_set_new(claims, "x-ms-sgx-ehd", json_string(ehd ? ehd : ""));
            free(ehd);
        }
        if (rt.json)
            json_object_set(claims, "x-ms-runtime", rt.json);
    }
    if (it.json)
        json_object_set(claims, "x-ms-inittime", it.json);

    /* Policy: the draft, or the one in force for the type. */
    const att_policy_t *use = draft;
    if (use == NULL) {
        pol = att_pol_get(svc, idx);
        use = pol->pol;
    }
    /* Evaluate without the explain trace (it costs more than the evaluation); a denial is
     * evaluated again with it, so that its reason names the rule and the values. */
    att_policy_eval_opts_t po = {.explain = false,
                                 .max_steps = svc->o.policy_max_steps,
                                 .max_bytes = svc->o.policy_max_bytes,
                                 .cancelled = att_svc_stopping,
                                 .cancel_arg = svc};
    if ((e = att_policy_eval(use, claims, &po, &pres, &d)) == ATT_OK &&
        !att_policy_permitted(pres)) {
        att_policy_result_free(pres);
        pres = NULL;
        po.explain = true;
        e = att_policy_eval(use, claims, &po, &pres, &d);
    }
    if (e == ATT_E_CANCELLED) {
        json_decref(claims);
        att_reply_err(r, 503, "ServiceUnavailable", e, "policy evaluation stopped: %s", d.msg);
        goto out;
    }
    if (e != ATT_OK) {
        json_decref(claims);
        att_reply_err(r, 400, "PolicyEvaluationError", e, "policy evaluation failed: %s", d.msg);
        goto out;
    }
    if (!att_policy_permitted(pres)) {
        json_decref(claims);
        att_reply_err(r, 400, "PolicyEvaluationError", ATT_E_POLICY_DENIED,
                      "A Deny claim was issued, authorization failed. %s",
                      att_policy_result_reason(pres));
        goto out;
    }

    /* The token: incoming claims, issued claims, and MAA's standard claims. */
    json_object_update(claims, (json_t *)att_policy_result_claims(pres));
    char vt[ATT_TIME_STRLEN];
    json_object_set_new(claims, "x-ms-ver", json_string("1.0"));
    json_object_set_new(claims, "x-ms-attestation-type", json_string(v->attestation_type));
    json_object_set_new(claims, "x-ms-policy-hash", json_string(att_policy_hash(use)));
    if (pol != NULL && pol->signer != NULL)
        json_object_set(claims, "x-ms-policy-signer", pol->signer);
    json_object_set_new(claims, "x-attestd-verification-time",
                        json_string(att_time_format(now, vt)));
    if (json_is_string(nonce))
        json_object_set(claims, "nonce", nonce);
    uint8_t jti[32];
    char jtih[65];
    if (RAND_bytes(jti, sizeof(jti)) != 1) {
        json_decref(claims);
        att_reply_err(r, 500, "InternalError", ATT_E_INTERNAL, "no randomness for jti");
        goto out;
    }
    att_hex_encode(jti, 32, jtih);
    json_object_set_new(claims, "jti", json_string(jtih));
    att_std_claims(svc, claims);
    if (draft != NULL) {
        /* Tokens from a draft policy are unsecured, as MAA makes them. */
        char *payload = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
        char *jws = payload ? att_jws_unsigned((const uint8_t *)payload, strlen(payload)) : NULL;
        json_decref(claims);
        if (jws == NULL) {
            att_reply_err(r, 500, "InternalError", ATT_E_NOMEM, "out of memory");
        } else {
            att_reply_jws(r, jws);
        }
        free(payload);
        free(jws);
        goto out;
    }
    att_keys_maybe_reload(svc);
    att_reply_token(svc, claims, r);
out:
    att_policy_result_free(pres);
    att_pol_unref(pol);
    att_policy_free(draft);
    att_ev_result_clear(&res);
    att_data_clear(&rt);
    att_data_clear(&it);
    free(ev);
    json_decref(req);
}

/* ---- life cycle ---- */

bool att_svc_ready(att_svc_t *svc) { return svc != NULL && svc->keys != NULL; }

void att_svc_stop(att_svc_t *svc)
{
    if (svc != NULL)
        atomic_store(&svc->stopping, true);
}

void att_svc_stats(att_svc_t *svc, att_svc_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    att_dcap_cache_stats(svc->cache, &out->chain_cache_hits, &out->chain_cache_misses);
    out->ecdsa_verifications = att_crypto_ecdsa_verify_count();
    if (svc->coll) {
        att_collsrc_stats_t s;
        att_collsrc_stats(svc->coll, &s);
        out->coll_hits = s.hits;
        out->coll_misses = s.misses;
        out->coll_fetches = s.fetches;
        out->coll_fetch_errors = s.fetch_errors;
        out->coll_served_stale = s.served_stale;
        out->coll_requests = s.requests;
        out->coll_backoff_denied = s.backoff_denied;
        out->coll_rate_denied = s.rate_denied;
        out->coll_busy_denied = s.busy_denied;
    }
}

/* Isolated mode: the signer set in the store, seeded from --isolated-signers on first start. */
static att_err_t att_svc_signers(att_svc_t *svc, att_diag_t *d)
{
    svc->signers = sk_X509_new_null();
    att_store_signer_t *s = NULL;
    size_t n = 0;
    att_err_t e = att_store_signer_list(svc->store, &s, &n, d);
    if (e != ATT_OK)
        return e;
    if (n == 0 && svc->o.isolated_signers != NULL) {
        uint8_t *buf;
        size_t len;
        if ((e = att_read_file(svc->o.isolated_signers, 1 << 20, &buf, &len, d)) != ATT_OK)
            return e;
        STACK_OF(X509) *sk = att_pem_chain(buf, len, 64, ATT_E_CERT_PARSE,
                                           "--isolated-signers file", d);
        free(buf);
        if (sk == NULL)
            return ATT_E_CERT_PARSE;
        for (int i = 0; i < sk_X509_num(sk) && e == ATT_OK; i++) {
            X509 *c = sk_X509_value(sk, i);
            if (X509_check_ca(c) < 1) {
                e = att_diag_set(d, ATT_E_CERT_CONSTRAINTS, "--isolated-signers: certificate %d "
                                 "is not a CA certificate (policy signers need Basic Constraints "
                                 "CA=true, as in Azure Attestation)", i + 1);
                break;
            }
            char why[160];
            if (!att_signer_key_ok(c, why, sizeof why)) {
                e = att_diag_set(d, ATT_E_CERT_KEY, "--isolated-signers: certificate %d could "
                                 "never sign a policy: %s", i + 1, why);
                break;
            }
            char thumb[41], *pem = att_cert_to_pem(c);
            att_sha1_hex(c, thumb);
            att_store_signer_t ss = {thumb, pem};
            e = att_store_signer_add(svc->store, &ss, d);
            free(pem);
        }
        sk_X509_pop_free(sk, X509_free);
        if (e != ATT_OK)
            return e;
        if ((e = att_store_signer_list(svc->store, &s, &n, d)) != ATT_OK)
            return e;
    }
    for (size_t i = 0; i < n && e == ATT_OK; i++) {
        X509 *c = att_cert_parse((const uint8_t *)s[i].cert_pem, strlen(s[i].cert_pem),
                                 "stored policy signer", d);
        if (c == NULL)
            e = ATT_E_CERT_PARSE;
        else
            sk_X509_push(svc->signers, c);
    }
    att_store_signers_free(s, n);
    svc->isolated = sk_X509_num(svc->signers) > 0;
    return e;
}

att_err_t att_svc_new(const att_svc_opts_t *o, att_svc_t **out, att_diag_t *d)
{
    att_svc_t *svc = calloc(1, sizeof(*svc));
    if (svc == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    svc->o = *o;
    if (svc->o.token_lifetime <= 0)
        svc->o.token_lifetime = 28800;
    if (svc->o.alg == ATT_ALG_NONE)
        svc->o.alg = ATT_ALG_RS256;
    pthread_rwlock_init(&svc->lock, NULL);
    att_err_t e = ATT_OK;
    size_t ilen = strlen(o->issuer);
    while (ilen > 0 && o->issuer[ilen - 1] == '/')
        ilen--;
    svc->issuer = strndup(o->issuer, ilen);
    svc->jku = malloc(ilen + 8);
    svc->trust = att_trust_new();
    svc->cache = att_dcap_cache_new(4096);
    if (svc->issuer == NULL || svc->jku == NULL || svc->trust == NULL || svc->cache == NULL) {
        e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(svc->jku, ilen + 8, "%s/certs", svc->issuer);
    for (size_t i = 0; i < o->n_trust_roots && e == ATT_OK; i++)
        e = att_trust_add_root_file(svc->trust, o->trust_roots[i], d);
    if (e != ATT_OK)
        goto fail;
    if ((e = o->store_url ? att_store_open(o->store_url, &svc->store, d)
                          : att_store_open_sqlite(o->data_dir, &svc->store, d)) != ATT_OK)
        goto fail;

    /* Signing keys: generated on first start. */
    att_store_key_t *keys = NULL;
    size_t nkeys = 0;
    if ((e = att_store_key_list(svc->store, &keys, &nkeys, d)) != ATT_OK)
        goto fail;
    bool have_active = false;
    for (size_t i = 0; i < nkeys; i++)
        have_active |= keys[i].retired == 0;
    att_store_keys_free(keys, nkeys);
    if (!have_active && (e = att_keys_generate(svc, d)) != ATT_OK)
        goto fail;
    if ((e = att_keys_load(svc, &svc->keys, d)) != ATT_OK)
        goto fail;
    svc->keys_loaded = time(NULL);

    if ((e = att_svc_signers(svc, d)) != ATT_OK)
        goto fail;

    /* Policies in force: stored ones, else the defaults. */
    for (size_t i = 0; i < ATT_SVC_NTYPES; i++) {
        char *jws = NULL;
        att_diag_t pd;
        e = att_store_policy_get(svc->store, att_svc_types[i], &jws, &pd);
        if (e == ATT_OK) {
            svc->pol[i] = att_pol_from_jws(jws, false, &pd);
            free(jws);
            if (svc->pol[i] == NULL) {
                e = att_diag_set(d, pd.code, "the stored %s policy cannot be loaded: %s",
                                 att_svc_types[i], pd.msg);
                goto fail;
            }
        } else if (e == ATT_E_STORE_NOT_FOUND) {
            if ((svc->pol[i] = att_pol_default(att_svc_types[i], &pd)) == NULL) {
                e = att_diag_set(d, pd.code, "the default %s policy cannot be loaded: %s",
                                 att_svc_types[i], pd.msg);
                goto fail;
            }
        } else {
            *d = pd;
            goto fail;
        }
    }
    e = ATT_OK;
    /* Signed policies stored before the ledger existed count as used for their type. */
    for (size_t i = 0; svc->isolated && i < ATT_SVC_NTYPES; i++) {
        char hash[65], used_for[64], *prev = NULL;
        att_time_t prev_at;
        att_diag_t pd;
        if (svc->pol[i]->is_default || svc->pol[i]->signer == NULL ||
            !att_request_hash(svc->pol[i]->jws, strlen(svc->pol[i]->jws), hash))
            continue;
        snprintf(used_for, sizeof used_for, "policy.set %s", att_svc_types[i]);
        if (att_store_request_use(svc->store, hash, used_for, att_wall(), &prev, &prev_at, &pd) !=
            ATT_OK) {
            *d = pd;
            e = pd.code;
            goto fail;
        }
        free(prev);
    }

    if (o->collateral_url != NULL || o->collateral_dir != NULL) {
        att_collsrc_opts_t co = {.pcs_url = o->collateral_url,
                                 .offline_dir = o->collateral_dir,
                                 .store = svc->store,
                                 .trust = svc->trust,
                                 .max_age = o->collateral_max_age,
                                 .timeout_ms = (long)o->collateral_timeout * 1000,
                                 .max_waiters = o->collateral_fetch_waiters,
                                 .fetch_rate = o->collateral_fetch_rate,
                                 .backoff_ms = o->collateral_backoff * 1000,
                                 .backoff_max_ms = o->collateral_backoff_max * 1000};
        if ((e = att_collsrc_new(&co, &svc->coll, d)) != ATT_OK)
            goto fail;
    }
    *out = svc;
    return ATT_OK;
fail:
    att_svc_free(svc);
    return e;
}

void att_svc_free(att_svc_t *svc)
{
    if (svc == NULL)
        return;
    att_collsrc_free(svc->coll);
    for (size_t i = 0; i < ATT_SVC_NTYPES; i++)
        att_pol_unref(svc->pol[i]);
    att_keys_unref(svc->keys);
    sk_X509_pop_free(svc->signers, X509_free);
    att_store_close(svc->store);
    att_dcap_cache_free(svc->cache);
    att_trust_free(svc->trust);
    pthread_rwlock_destroy(&svc->lock);
    free(svc->issuer);
    free(svc->jku);
    free(svc);
}
