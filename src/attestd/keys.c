/* keys.c - attestd's signing keys: generated on first start, loaded from the store (the newest
 * key whose signing time has come and that is not retired signs, every key still within its
 * publication window is in the JWKS), reloaded now and then so that `attestd keys rotate` beside
 * a live server takes effect, rotated; and the signing of every token the service answers with
 * (see svc_int.h).
 *
 * Rotation across replicas (docs/tokens.md, "Rotation across replicas"): a new key is published
 * at once and signs only from sign_from = created + --key-publish-lead; the keys it replaces sign
 * until then and stay published until sign_from + --token-lifetime. Which key signs is a function
 * of the rows and the clock only, so every replica makes the same choice at the same second, and
 * each snapshot says when it goes stale (the next sign_from, retirement or end of publication).
 *
 * With --key-encryption-key the private keys are sealed (kek.h) before they reach the store and
 * opened after they are read, so every store backend holds them sealed with no code of its own.
 * At start every stored key is checked: a key stored in clear is sealed in place (logged), a key
 * sealed under --key-encryption-key-old is re-sealed under the new KEK, and a sealed key that
 * cannot be opened (no KEK given, another KEK, an altered or moved blob) stops the start with a
 * message naming its kid.
 */
#include "svc_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "crypto/crypto.h"
#include "hsm.h"
#include "kek.h"
#include "log.h"

/* What a sealed private key is bound to besides its kid (the AAD, kek.h). */
#define ATT_KEYS_PURPOSE "signing-key"
/* A stored key whose private half is in an HSM: its key_pem is the key's pkcs11: URI (without
 * any PIN), never a private key; its certificate is the one attestd made over the HSM key. */
#define ATT_KEYS_HSM_PREFIX "pkcs11:"

static bool att_keys_in_hsm(const att_store_key_t *k)
{
    return strncmp(k->key_pem, ATT_KEYS_HSM_PREFIX, sizeof ATT_KEYS_HSM_PREFIX - 1) == 0;
}

#define ATT_SVC_CERT_LIFETIME      (10LL * 365 * 86400)
#define ATT_SVC_KEY_RELOAD_SECONDS 5
#define ATT_KEYS_PUBLISH_LEAD      60 /* default on a shared store: 2 x the 30 s re-read */

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

/* The private key text to store for kid: pem sealed under the KEK when there is one, else a
 * copy. *out malloc'd. */
static att_err_t att_keys_seal(att_svc_t *svc, const char *kid, const char *pem, char **out,
                               att_diag_t *d)
{
    if (svc->kek != NULL)
        return att_kek_seal(svc->kek, ATT_KEYS_PURPOSE, kid, (const uint8_t *)pem, strlen(pem), out,
                            d);
    if ((*out = strdup(pem)) == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    return ATT_OK;
}

/* The PKCS#8 PEM of a stored key, opened when sealed (with the KEK, or the old one that sealed
 * it). *pem malloc'd: OPENSSL_cleanse it before free. *old_kek tells the old KEK opened it. */
static att_err_t att_keys_pem(att_svc_t *svc, const att_store_key_t *k, char **pem, bool *old_kek,
                              att_diag_t *d)
{
    *pem = NULL;
    if (old_kek)
        *old_kek = false;
    if (!att_kek_is_sealed(k->key_pem)) {
        if ((*pem = strdup(k->key_pem)) == NULL)
            return att_diag_set(d, ATT_E_NOMEM, "out of memory");
        return ATT_OK;
    }
    char id[ATT_KEK_ID_LEN + 1] = "?";
    bool known = att_kek_blob_id(k->key_pem, id);
    const att_kek_t *use = NULL;
    if (known && svc->kek != NULL && strcmp(id, att_kek_id(svc->kek)) == 0)
        use = svc->kek;
    else if (known && svc->kek_old != NULL && strcmp(id, att_kek_id(svc->kek_old)) == 0)
        use = svc->kek_old;
    if (use == NULL && svc->kek == NULL)
        return att_diag_set(d, ATT_E_KEY,
                            "signing key %s in the store is sealed under key-encryption key %s, "
                            "and no --key-encryption-key was given: start attestd with that key",
                            k->kid, id);
    if (use == NULL && known)
        return att_diag_set(d, ATT_E_KEY,
                            "signing key %s in the store is sealed under key-encryption key %s, "
                            "but --key-encryption-key is %s%s%s: give the key that sealed it "
                            "(as --key-encryption-key-old to re-seal it under the new one)",
                            k->kid, id, att_kek_id(svc->kek),
                            svc->kek_old ? " and --key-encryption-key-old is " : "",
                            svc->kek_old ? att_kek_id(svc->kek_old) : "");
    uint8_t *pt = NULL;
    size_t n = 0;
    att_err_t e =
        att_kek_open(use ? use : svc->kek, ATT_KEYS_PURPOSE, k->kid, k->key_pem, &pt, &n, d);
    if (e != ATT_OK)
        return e;
    if (old_kek)
        *old_kek = use == svc->kek_old;
    *pem = (char *)pt;
    return ATT_OK;
}

static void att_keys_pem_free(char *pem)
{
    if (pem != NULL)
        OPENSSL_cleanse(pem, strlen(pem));
    free(pem);
}

/* Start-up with a KEK or with sealed keys: every stored key must open; with a KEK, keys in clear
 * and keys sealed under the old KEK are (re-)sealed in place. A replica that re-sealed the same
 * key first wins (compare and set): ours is then dropped. */
static att_err_t att_keys_check_sealed(att_svc_t *svc, att_diag_t *d)
{
    att_store_key_t *keys = NULL;
    size_t n = 0;
    att_err_t e = att_store_key_list(svc->store, &keys, &n, d);
    for (size_t i = 0; i < n && e == ATT_OK; i++) {
        if (att_keys_in_hsm(&keys[i]))
            continue; /* nothing secret in the store */
        char *pem = NULL, *sealed = NULL;
        bool old = false, was_clear = !att_kek_is_sealed(keys[i].key_pem);
        if ((e = att_keys_pem(svc, &keys[i], &pem, &old, d)) != ATT_OK)
            break;
        EVP_PKEY *key = att_key_from_pem(pem, strlen(pem));
        if (key == NULL)
            e = att_diag_set(d, ATT_E_KEY,
                             "signing key %s in the store is not a PKCS#8 RSA or EC private key "
                             "once opened",
                             keys[i].kid);
        EVP_PKEY_free(key);
        if (e == ATT_OK && svc->kek != NULL && (was_clear || old) &&
            (e = att_keys_seal(svc, keys[i].kid, pem, &sealed, d)) == ATT_OK) {
            e = att_store_key_reseal(svc->store, keys[i].kid, keys[i].key_pem, sealed, d);
            bool raced = e == ATT_E_STORE_NOT_FOUND; /* another replica re-sealed it first */
            if (raced)
                e = ATT_OK;
            else if (e == ATT_OK)
                att_log(ATT_LOG_INFO, "signing key %s %s under key-encryption key %s", keys[i].kid,
                        was_clear ? "was stored in clear: sealed" : "re-sealed",
                        att_kek_id(svc->kek));
        }
        free(sealed);
        att_keys_pem_free(pem);
    }
    att_store_keys_free(keys, n);
    return e;
}

/* A new key in the store, published from now and signing from sign_from (0: at once); its kid
 * in *kid (malloc'd) if asked. */
static att_err_t att_keys_generate(att_svc_t *svc, att_time_t sign_from, char **kid, att_diag_t *d)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    att_err_t e = att_key_generate(svc->o.alg, &key, d);
    if (e == ATT_OK)
        e = att_cert_self_signed(key, svc->issuer, ATT_SVC_CERT_LIFETIME, att_wall(), &cert, d);
    att_store_key_t sk = {0};
    char *pem = NULL;
    if (e == ATT_OK) {
        sk.kid = att_cert_kid(cert);
        sk.alg = (char *)att_alg_name(svc->o.alg);
        pem = att_key_to_pem(key);
        sk.cert_pem = att_cert_to_pem(cert);
        sk.created = att_wall();
        sk.sign_from = sign_from;
        if (sk.kid == NULL || pem == NULL || sk.cert_pem == NULL)
            e = att_diag_set(d, ATT_E_KEY, "cannot encode the new signing key");
        else if ((e = att_keys_seal(svc, sk.kid, pem, &sk.key_pem, d)) == ATT_OK)
            e = att_store_key_put(svc->store, &sk, d);
    }
    att_keys_pem_free(pem);
    att_keys_pem_free(sk.key_pem);
    if (e == ATT_OK && kid != NULL)
        *kid = sk.kid, sk.kid = NULL;
    free(sk.kid);
    free(sk.cert_pem);
    EVP_PKEY_free(key);
    X509_free(cert);
    return e;
}

/* Whether k signs at now: its signing time has come and it is not retired (yet). */
static bool att_keys_signs_at(const att_store_key_t *k, att_time_t now)
{
    return k->sign_from <= now && (k->retired == 0 || k->retired > now);
}

/* The earliest of t's time points after now (0: none yet) and next. */
static att_time_t att_keys_sooner(att_time_t next, att_time_t t, att_time_t now)
{
    return t > now && (next == 0 || t < next) ? t : next;
}

/* Build the signing state from the store at now: the newest key that signs at now signs; every
 * key still within its publication window is in the JWKS (keys that sign later included). */
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
    for (size_t i = 0; i < n; i++) { /* when this snapshot goes stale */
        k->stale_at = att_keys_sooner(k->stale_at, keys[i].sign_from, now);
        if (keys[i].retired != 0) {
            k->stale_at = att_keys_sooner(k->stale_at, keys[i].retired, now);
            k->stale_at = att_keys_sooner(k->stale_at, keys[i].publish_until + 1, now);
        }
    }
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
        bool signs = att_keys_signs_at(&keys[i], now);
        if (e == ATT_OK && k->signer == NULL && signs && att_keys_in_hsm(&keys[i])) {
            att_alg_t alg = att_alg_parse(keys[i].alg);
            if (svc->hsm == NULL)
                e = att_diag_set(d, ATT_E_KEY,
                                 "the active signing key %s is in an HSM (%s): start attestd "
                                 "with --signing-key",
                                 keys[i].kid, keys[i].key_pem);
            else if (EVP_PKEY_eq(X509_get0_pubkey(cert), att_hsm_public_key(svc->hsm)) != 1)
                e = att_diag_set(d, ATT_E_KEY,
                                 "the active signing key %s is another HSM key (%s) than "
                                 "--signing-key's",
                                 keys[i].kid, keys[i].key_pem);
            else if ((k->signer = att_signer_new_ext(att_hsm_sign, svc->hsm, cert, alg, d)) == NULL)
                e = d->code ? d->code : ATT_E_KEY;
            else
                k->cert = cert, cert = NULL, k->signer_created = keys[i].created;
            ERR_clear_error();
        } else if (e == ATT_OK && k->signer == NULL && signs) {
            char *pem = NULL;
            if ((e = att_keys_pem(svc, &keys[i], &pem, NULL, d)) != ATT_OK) {
                X509_free(cert);
                break;
            }
            k->key = att_key_from_pem(pem, strlen(pem));
            att_keys_pem_free(pem);
            att_alg_t alg = att_alg_parse(keys[i].alg);
            if (k->key == NULL || alg == ATT_ALG_NONE)
                e = att_diag_set(d, ATT_E_KEY, "stored signing key %s cannot be loaded",
                                 keys[i].kid);
            else if ((k->signer = att_signer_new(k->key, cert, alg, d)) == NULL)
                e = d->code ? d->code : ATT_E_KEY;
            else
                k->cert = cert, cert = NULL, k->signer_created = keys[i].created;
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
    /* a snapshot gone stale (a key's signing time came) is reloaded at once, at most once a
     * second while that fails */
    bool due = t - svc->keys_loaded >= ATT_SVC_KEY_RELOAD_SECONDS ||
               (svc->keys->stale_at != 0 && t >= svc->keys->stale_at && t != svc->keys_loaded);
    pthread_rwlock_unlock(&svc->lock);
    if (!due)
        return;
    att_keys_t *k;
    att_diag_t d;
    if (att_keys_load(svc, &k, &d) != ATT_OK) {
        pthread_rwlock_wrlock(&svc->lock);
        svc->keys_loaded = t;
        pthread_rwlock_unlock(&svc->lock);
        return; /* keep serving with the keys we have */
    }
    pthread_rwlock_wrlock(&svc->lock);
    att_keys_t *old = svc->keys;
    svc->keys = k;
    svc->keys_loaded = t;
    pthread_rwlock_unlock(&svc->lock);
    const char *was = old && old->signer ? att_signer_kid(old->signer) : NULL;
    const char *now_kid = att_signer_kid(k->signer);
    if (was != NULL && now_kid != NULL && strcmp(was, now_kid) != 0) /* a rotation picked up */
        att_log(ATT_LOG_INFO, "signing key changed: tokens are now signed with kid %s (was %s)",
                now_kid, was);
    att_keys_unref(old);
}

/* --key-publish-lead, or its default: ATT_KEYS_PUBLISH_LEAD on a store replicas share (one that
 * tells of changes), 0 on a store of one process (SQLite: as before, a rotated key signs at
 * once; set the option for relying parties that cache /certs). docs/tokens.md. */
int64_t att_svc_keys_publish_lead(const att_svc_t *svc)
{
    if (svc->o.key_publish_lead >= 0)
        return svc->o.key_publish_lead;
    return svc->store->ops->watch != NULL ? ATT_KEYS_PUBLISH_LEAD : 0;
}

att_err_t att_svc_keys_rotate(att_svc_t *svc, char **kid, att_diag_t *d)
{
    if (svc->hsm != NULL)
        return att_diag_set(d, ATT_E_ARG,
                            "keys rotate makes a key in the store, but --signing-key puts the "
                            "signing key in an HSM: make a new key on the token and start "
                            "attestd with --signing-key naming it (the old key stays published "
                            "until its tokens expire)");
    att_store_key_t *keys = NULL;
    size_t n = 0;
    att_err_t e = att_store_key_list(svc->store, &keys, &n, d);
    if (e != ATT_OK)
        return e;
    /* The new key is published now and signs from `from`; the keys it replaces sign until then
     * and stay published until their last token (signed just before `from`) expires. */
    att_time_t from = att_wall() + att_svc_keys_publish_lead(svc);
    char *new_kid = NULL;
    e = att_keys_generate(svc, from, &new_kid, d);
    for (size_t i = 0; i < n && e == ATT_OK; i++)
        if (keys[i].retired == 0)
            e = att_store_key_retire(svc->store, keys[i].kid, from, from + svc->o.token_lifetime,
                                     d);
    att_store_keys_free(keys, n);
    att_keys_t *k;
    if (e != ATT_OK || (e = att_keys_load(svc, &k, d)) != ATT_OK) {
        free(new_kid);
        return e;
    }
    pthread_rwlock_wrlock(&svc->lock);
    att_keys_t *old = svc->keys;
    svc->keys = k;
    svc->keys_loaded = time(NULL);
    pthread_rwlock_unlock(&svc->lock);
    att_keys_unref(old);
    if (kid)
        *kid = new_kid;
    else
        free(new_kid);
    return ATT_OK;
}

void att_keys_fini(att_svc_t *svc)
{
    att_kek_free(svc->kek);
    att_kek_free(svc->kek_old);
    att_hsm_free(svc->hsm);
    svc->kek = svc->kek_old = NULL;
    svc->hsm = NULL;
}

/* Old active keys stop signing now and stay published until their last token expires. */
/* Every active key but keep stops signing at `from` (0: now) and stays published until its last
 * token expires. */
static att_err_t att_keys_retire_others(att_svc_t *svc, const char *keep, att_time_t from,
                                        att_diag_t *d)
{
    att_store_key_t *keys = NULL;
    size_t n = 0;
    att_err_t e = att_store_key_list(svc->store, &keys, &n, d);
    att_time_t now = att_wall();
    if (from < now)
        from = now;
    for (size_t i = 0; i < n && e == ATT_OK; i++)
        if (keys[i].retired == 0 && strcmp(keys[i].kid, keep) != 0)
            e = att_store_key_retire(svc->store, keys[i].kid, from, from + svc->o.token_lifetime,
                                     d);
    att_store_keys_free(keys, n);
    return e;
}

/* --signing-key: the HSM key becomes the active key. Its row (the URI, and the certificate:
 * the token's own for the key, else one attestd signs through the HSM) is made once and reused
 * at every start while the key stays the same; a new HSM key gets a new row and, as after `keys
 * rotate`, is published at once but signs only after --key-publish-lead when it replaces an
 * active key in the store (which signs until then and stays published until its tokens
 * expire); one replacing another HSM key, which this process cannot use, signs at once. */
static att_err_t att_keys_hsm_adopt(att_svc_t *svc, att_diag_t *d)
{
    att_err_t e =
        att_hsm_open(svc->o.signing_key,
                     svc->o.signing_key_sessions ? svc->o.signing_key_sessions : 4, &svc->hsm, d);
    if (e != ATT_OK)
        return e;
    EVP_PKEY *pub = att_hsm_public_key(svc->hsm);
    bool ec = EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC;
    if (ec != (svc->o.alg == ATT_ALG_ES256))
        return att_diag_set(
            d, ATT_E_ARG, "--signing-key is an %s key: it signs %s, not --signing-alg %s",
            ec ? "EC P-256" : "RSA", ec ? "ES256" : "RS256 or PS256", att_alg_name(svc->o.alg));
    const char *alg = att_alg_name(svc->o.alg);
    att_store_key_t *keys = NULL;
    size_t n = 0;
    if ((e = att_store_key_list(svc->store, &keys, &n, d)) != ATT_OK)
        return e;
    char *kid = NULL;
    att_time_t from = 0;
    /* an active key in the store: the new one must not sign before every replica knows it,
     * and the store key, which this process can use, signs until then. An active key in
     * another HSM object cannot sign here: the new key then signs at once. */
    bool others = false;
    for (size_t i = 0; i < n; i++)
        others |= keys[i].retired == 0 && !att_keys_in_hsm(&keys[i]);
    for (size_t i = 0; i < n && kid == NULL; i++) {
        if (keys[i].retired != 0 || !att_keys_in_hsm(&keys[i]) || strcmp(keys[i].alg, alg) != 0)
            continue;
        X509 *c = att_cert_parse((const uint8_t *)keys[i].cert_pem, strlen(keys[i].cert_pem),
                                 "stored signing certificate", d);
        if (c != NULL && EVP_PKEY_eq(X509_get0_pubkey(c), pub) == 1) {
            kid = strdup(keys[i].kid);
            from = keys[i].sign_from;
        }
        X509_free(c);
    }
    ERR_clear_error();
    X509 *cert = NULL;
    if (kid == NULL) {
        /* the token's certificate, unless a row has its kid already (the same key under
         * another alg, or retired): then one of our own */
        cert = att_hsm_certificate(svc->hsm);
        char *tkid = cert ? att_cert_kid(cert) : NULL;
        for (size_t i = 0; tkid != NULL && cert != NULL && i < n; i++)
            if (strcmp(keys[i].kid, tkid) == 0)
                cert = NULL;
        free(tkid);
        bool from_token = cert != NULL;
        if (cert != NULL)
            X509_up_ref(cert);
        else if ((e = att_cert_self_signed_ext(pub, att_hsm_sign, svc->hsm, svc->issuer,
                                               ATT_SVC_CERT_LIFETIME, att_wall(), &cert, d)) !=
                 ATT_OK) {
            att_store_keys_free(keys, n);
            return e;
        }
        from = others ? att_wall() + att_svc_keys_publish_lead(svc) : 0;
        att_store_key_t sk = {.kid = att_cert_kid(cert),
                              .alg = (char *)alg,
                              .key_pem = (char *)att_hsm_uri(svc->hsm),
                              .cert_pem = att_cert_to_pem(cert),
                              .created = att_wall(),
                              .sign_from = from};
        if (sk.kid == NULL || sk.cert_pem == NULL)
            e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
        else
            e = att_store_key_put(svc->store, &sk, d);
        if (e == ATT_OK)
            att_log(ATT_LOG_INFO, "HSM signing key %s: new certificate %s (%s)",
                    att_hsm_uri(svc->hsm), sk.kid,
                    from_token ? "from the token" : "self-signed through the HSM");
        kid = sk.kid;
        free(sk.cert_pem);
        X509_free(cert);
    }
    att_store_keys_free(keys, n);
    if (e == ATT_OK)
        e = att_keys_retire_others(svc, kid, from, d);
    if (e == ATT_OK)
        att_log(ATT_LOG_INFO, "tokens are signed by the HSM key %s (kid %s)", att_hsm_uri(svc->hsm),
                kid);
    free(kid);
    return e;
}

/* Signing keys at start-up: the KEKs read, the stored keys checked (and sealed in place with a
 * KEK), a key generated on first start, then loaded. */
att_err_t att_keys_init(att_svc_t *svc, att_diag_t *d)
{
    att_err_t e = ATT_OK;
    if (svc->o.key_encryption_key != NULL &&
        (e = att_kek_load(svc->o.key_encryption_key, "--key-encryption-key", &svc->kek, d)) !=
            ATT_OK)
        return e;
    if (svc->o.key_encryption_key_old != NULL &&
        (e = att_kek_load(svc->o.key_encryption_key_old, "--key-encryption-key-old", &svc->kek_old,
                          d)) != ATT_OK)
        return e;
    if ((e = att_keys_check_sealed(svc, d)) != ATT_OK)
        return e;
    if (svc->o.signing_key != NULL && (e = att_keys_hsm_adopt(svc, d)) != ATT_OK)
        return e;
    att_store_key_t *keys = NULL;
    size_t nkeys = 0;
    if ((e = att_store_key_list(svc->store, &keys, &nkeys, d)) != ATT_OK)
        return e;
    /* without --signing-key an active HSM key does not count: a key in the store replaces it
     * (back from an HSM), and the HSM key stays published until its tokens expire */
    bool have_active = false;
    for (size_t i = 0; i < nkeys; i++) {
        bool active = keys[i].retired == 0 && (svc->hsm != NULL || !att_keys_in_hsm(&keys[i]));
        have_active |= active;
        if (active && svc->hsm == NULL && keys[i].alg != NULL &&
            strcmp(keys[i].alg, att_alg_name(svc->o.alg)) != 0)
            att_log(ATT_LOG_WARN,
                    "--signing-alg %s is not used: the store already holds the active %s key %s, "
                    "which keeps signing; `attestd keys rotate --signing-alg %s` makes a new key",
                    att_alg_name(svc->o.alg), keys[i].alg, keys[i].kid, att_alg_name(svc->o.alg));
    }
    if (!have_active && (e = att_keys_generate(svc, 0, NULL, d)) == ATT_OK) {
        att_time_t now = att_wall();
        for (size_t i = 0; i < nkeys && e == ATT_OK; i++)
            if (keys[i].retired == 0 && att_keys_in_hsm(&keys[i])) {
                e = att_store_key_retire(svc->store, keys[i].kid, now, now + svc->o.token_lifetime,
                                         d);
                att_log(ATT_LOG_INFO,
                        "no --signing-key: the HSM key %s (kid %s) stops signing, a key in the "
                        "store signs",
                        keys[i].key_pem, keys[i].kid);
            }
    }
    att_store_keys_free(keys, nkeys);
    if (e != ATT_OK)
        return e;
    if ((e = att_keys_load(svc, &svc->keys, d)) != ATT_OK)
        return e;
    svc->keys_loaded = time(NULL);
    return ATT_OK;
}
