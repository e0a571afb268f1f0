/* challenge.c - stateless, single-use challenges (MAA's TPM `service_context`, the native nonce):
 * an opaque token that only this service, on any replica sharing its store, can open (see
 * svc_int.h).
 *
 * A token is base64url of: version (1 byte, 1), a random 12-byte nonce, the AES-256-GCM
 * ciphertext of {expiry (u64 LE), purpose length (1 byte), purpose, data}, and its 16-byte tag;
 * the additional data is "attestd challenge v1". The key is the store's secret
 * "challenge-key-v1" (32 random bytes, the first stored wins: every replica gets the same), read
 * at start. Opening checks, in this order: the size bounds, the tag (a token from elsewhere, or
 * changed in any byte, is ATT_E_CHALLENGE), the purpose (a nonce is no TPM context), the expiry at
 * the caller's `now`, and, when asked to spend it, that it was not used before (the store's spent
 * tokens, shared by replicas). Messages never echo the token. Not checked here: what the data
 * means (the caller compares the challenge it carries).
 */
#include "svc_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "attest/token.h"
#include "core/util.h"
#include "crypto/crypto.h"
#include "kek.h"

#define ATT_CH_VERSION 1
#define ATT_CH_NONCE   12
#define ATT_CH_TAG     16
/* A token's data and purpose are small (a 32-byte challenge): bound what is opened. */
#define ATT_CH_MAX_DATA    1024
#define ATT_CH_MAX_PURPOSE 64
/* How long a GET /tpm/nonce context may be answered: as a TPM round-1 challenge (tpm.c). */
#define ATT_CH_NONCE_TTL 300
#define ATT_CH_MAX_TOKEN                                                                           \
    (4 * (1 + ATT_CH_NONCE + 9 + ATT_CH_MAX_PURPOSE + ATT_CH_MAX_DATA + ATT_CH_TAG) / 3 + 4)

static const char att_ch_aad[] = "attestd challenge v1";

/* With a KEK the challenge key is stored sealed under it, as a secret named after the KEK
 * ("challenge-key-kek-v1:<kek id>"; the clear "challenge-key-v1" of a store used without a KEK
 * is left unused); the first stored wins, so replicas sharing the store and the KEK share the
 * key. A new KEK (rotation) names a new secret: challenges sealed before it are refused. */
static att_err_t att_challenge_sealed(att_svc_t *svc, const uint8_t fresh[32], uint8_t **key,
                                      size_t *n, att_diag_t *d)
{
    char name[64], *blob = NULL, *stored = NULL;
    size_t slen = 0;
    snprintf(name, sizeof name, "challenge-key-kek-v1:%s", att_kek_id(svc->kek));
    att_err_t e = att_kek_seal(svc->kek, "service-secret", name, fresh, 32, &blob, d);
    if (e == ATT_OK)
        e = att_store_secret(svc->store, name, (const uint8_t *)blob, strlen(blob), att_wall(),
                             (uint8_t **)&stored, &slen, d);
    free(blob);
    if (e != ATT_OK)
        return e;
    char *text = strndup(stored, slen);
    free(stored);
    if (text == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    e = att_kek_open(svc->kek, "service-secret", name, text, key, n, d);
    free(text);
    return e;
}

att_err_t att_challenge_init(att_svc_t *svc, att_diag_t *d)
{
    uint8_t fresh[32], *key = NULL;
    size_t n = 0;
    if (RAND_bytes(fresh, sizeof fresh) != 1)
        return att_diag_set(d, ATT_E_INTERNAL, "no randomness for the challenge key");
    att_err_t e = svc->kek != NULL ? att_challenge_sealed(svc, fresh, &key, &n, d)
                                   : att_store_secret(svc->store, "challenge-key-v1", fresh,
                                                      sizeof fresh, att_wall(), &key, &n, d);
    OPENSSL_cleanse(fresh, sizeof fresh);
    if (e != ATT_OK)
        return e;
    if (n != sizeof svc->challenge_key) {
        OPENSSL_cleanse(key, n);
        free(key);
        return att_diag_set(d, ATT_E_STORE, "the stored challenge key has %zu bytes, not 32", n);
    }
    memcpy(svc->challenge_key, key, n);
    OPENSSL_cleanse(key, n);
    free(key);
    return ATT_OK;
}

/* AES-256-GCM of in into out (same length) with the tag; enc 1 seals, 0 opens (tag checked). */
static bool att_ch_gcm(const att_svc_t *svc, int enc, const uint8_t nonce[ATT_CH_NONCE],
                       const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[ATT_CH_TAG])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, m = 0;
    bool ok =
        c != NULL &&
        EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, svc->challenge_key, nonce, enc) == 1 &&
        EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)att_ch_aad, sizeof att_ch_aad - 1) == 1 &&
        EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 &&
        (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, ATT_CH_TAG, tag) == 1) &&
        EVP_CipherFinal_ex(c, out + n, &m) == 1 &&
        (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, ATT_CH_TAG, tag) == 1);
    EVP_CIPHER_CTX_free(c);
    return ok;
}

char *att_challenge_seal(const att_svc_t *svc, const char *purpose, const uint8_t *data, size_t len,
                         att_time_t expires)
{
    size_t plen = strlen(purpose);
    if (plen == 0 || plen > ATT_CH_MAX_PURPOSE || len > ATT_CH_MAX_DATA)
        return NULL;
    size_t body = 8 + 1 + plen + len, total = 1 + ATT_CH_NONCE + body + ATT_CH_TAG;
    uint8_t *pt = malloc(body), *tok = malloc(total);
    char *out = NULL;
    if (pt == NULL || tok == NULL)
        goto done;
    for (int i = 0; i < 8; i++)
        pt[i] = (uint8_t)((uint64_t)expires >> (8 * i));
    pt[8] = (uint8_t)plen;
    memcpy(pt + 9, purpose, plen);
    if (len > 0)
        memcpy(pt + 9 + plen, data, len);
    tok[0] = ATT_CH_VERSION;
    if (RAND_bytes(tok + 1, ATT_CH_NONCE) != 1 ||
        !att_ch_gcm(svc, 1, tok + 1, pt, body, tok + 1 + ATT_CH_NONCE,
                    tok + 1 + ATT_CH_NONCE + body))
        goto done;
    out = att_b64url_encode(tok, total);
done:
    if (pt != NULL)
        OPENSSL_cleanse(pt, body);
    free(pt);
    free(tok);
    return out;
}

att_err_t att_challenge_open(att_svc_t *svc, const char *purpose, const char *token, att_time_t now,
                             bool spend, uint8_t **data, size_t *len, att_time_t *expires,
                             att_diag_t *d)
{
    *data = NULL;
    *len = 0;
    size_t tlen = token ? strlen(token) : 0;
    uint8_t *tok = NULL, *pt = NULL;
    size_t n = 0;
    att_err_t e = ATT_OK;
    if (tlen == 0 || tlen > ATT_CH_MAX_TOKEN || !att_b64_decode(token, tlen, false, &tok, &n) ||
        n < 1 + ATT_CH_NONCE + 9 + ATT_CH_TAG || tok[0] != ATT_CH_VERSION) {
        e = att_diag_set(d, ATT_E_CHALLENGE, "the %s is not one this service made", purpose);
        goto out;
    }
    size_t body = n - 1 - ATT_CH_NONCE - ATT_CH_TAG;
    if ((pt = malloc(body)) == NULL) {
        e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    if (!att_ch_gcm(svc, 0, tok + 1, tok + 1 + ATT_CH_NONCE, body, pt,
                    tok + 1 + ATT_CH_NONCE + body)) {
        e = att_diag_set(d, ATT_E_CHALLENGE,
                         "the %s is not one this service made (or it was changed)", purpose);
        goto out;
    }
    uint64_t exp = 0;
    for (int i = 0; i < 8; i++)
        exp |= (uint64_t)pt[i] << (8 * i);
    size_t plen = pt[8];
    if (9 + plen > body || plen != strlen(purpose) || memcmp(pt + 9, purpose, plen) != 0) {
        e = att_diag_set(d, ATT_E_CHALLENGE, "the token is not a %s", purpose);
        goto out;
    }
    if ((att_time_t)exp < now) {
        char a[ATT_TIME_STRLEN];
        e = att_diag_set(d, ATT_E_CHALLENGE, "the %s expired at %s", purpose,
                         att_time_format((att_time_t)exp, a));
        goto out;
    }
    if (spend) {
        uint8_t h[32];
        char hex[65];
        bool first = false;
        if (!att_sha256_2(tok, n, NULL, 0, h)) {
            e = att_diag_set(d, ATT_E_INTERNAL, "SHA-256 failed");
            goto out;
        }
        att_hex_encode(h, 32, hex);
        if ((e = att_store_token_spend(svc->store, hex, (att_time_t)exp, now, &first, d)) != ATT_OK)
            goto out;
        if (!first) {
            e = att_diag_set(d, ATT_E_CHALLENGE, "the %s was used already", purpose);
            goto out;
        }
    }
    size_t dlen = body - 9 - plen;
    if ((*data = malloc(dlen ? dlen : 1)) == NULL) {
        e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(*data, pt + 9 + plen, dlen);
    *len = dlen;
    if (expires != NULL)
        *expires = (att_time_t)exp;
out:
    if (pt != NULL)
        OPENSSL_cleanse(pt, body);
    free(pt);
    free(tok);
    return e;
}

/* GET /tpm/nonce: a fresh 32-byte nonce for the TPM one-shot form and its context (the nonce
 * sealed with purpose "nonce"), valid ATT_CH_NONCE_TTL seconds. Costs one RAND_bytes and one
 * AES-256-GCM seal; nothing is stored until the context is spent. */
void att_svc_tpm_nonce(att_svc_t *svc, att_svc_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    r->type = "Tpm";
    uint8_t nonce[32];
    att_time_t exp = att_svc_now(svc) + ATT_CH_NONCE_TTL;
    if (RAND_bytes(nonce, sizeof nonce) != 1) {
        att_reply_err(r, 500, "InternalError", ATT_E_INTERNAL, "no randomness for the nonce");
        return;
    }
    char *ctx = att_challenge_seal(svc, "nonce", nonce, sizeof nonce, exp);
    char *nb = att_b64url_encode(nonce, sizeof nonce);
    json_t *o = ctx && nb ? json_pack("{s:s,s:s,s:I}", "nonce", nb, "context", ctx, "expires",
                                      (json_int_t)exp)
                          : NULL;
    if (o == NULL)
        att_reply_err(r, 500, "InternalError", ATT_E_NOMEM, "out of memory");
    else
        att_reply(r, 200, o);
    OPENSSL_cleanse(nonce, sizeof nonce);
    free(ctx);
    free(nb);
}
