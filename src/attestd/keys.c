/* keys.c - attestd's signing keys: generated on first start, loaded from the store (the newest
 * active key signs, every key still within its publication window is in the JWKS), reloaded
 * now and then so that `attestd keys rotate` beside a live server takes effect, rotated; and
 * the signing of every token the service answers with (see svc_int.h).
 */
#include "svc_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "crypto/crypto.h"

#define ATT_SVC_CERT_LIFETIME      (10LL * 365 * 86400)
#define ATT_SVC_KEY_RELOAD_SECONDS 5

void att_keys_unref(att_keys_t *k)
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
void att_std_claims(const att_svc_t *svc, json_t *c)
{
    att_time_t now = att_wall();
    json_object_set_new(c, "iss", json_string(svc->issuer));
    json_object_set_new(c, "iat", json_integer(now));
    json_object_set_new(c, "nbf", json_integer(now));
    json_object_set_new(c, "exp", json_integer(now + svc->o.token_lifetime));
}

/* Sign claims with the active key into {"token": jwt}; takes ownership of claims. */
void att_reply_token(att_svc_t *svc, json_t *claims, att_svc_reply_t *r)
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
void att_keys_maybe_reload(att_svc_t *svc)
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

/* Signing keys at start-up: generated on first start, then loaded. */
att_err_t att_keys_init(att_svc_t *svc, att_diag_t *d)
{
    att_store_key_t *keys = NULL;
    size_t nkeys = 0;
    att_err_t e = att_store_key_list(svc->store, &keys, &nkeys, d);
    if (e != ATT_OK)
        return e;
    bool have_active = false;
    for (size_t i = 0; i < nkeys; i++)
        have_active |= keys[i].retired == 0;
    att_store_keys_free(keys, nkeys);
    if (!have_active && (e = att_keys_generate(svc, d)) != ATT_OK)
        return e;
    if ((e = att_keys_load(svc, &svc->keys, d)) != ATT_OK)
        return e;
    svc->keys_loaded = time(NULL);
    return ATT_OK;
}
