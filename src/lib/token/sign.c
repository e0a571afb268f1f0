/* sign.c - the token signer: one EVP_PKEY, made once, signs every token.
 *
 * att_signer_t holds a reference to the private key, its certificate, the kid computed once, and
 * a template EVP_MD_CTX initialised once for the alg (digest, padding, PSS salt length). The
 * template is never used to sign: each signature copies it into a fresh EVP_MD_CTX of the calling
 * thread (EVP_MD_CTX_copy_ex, ~0.2 us) instead of re-running EVP_DigestSignInit_ex (~2.3 us: it
 * fetches the digest and signature implementations from the provider store under its lock on
 * every call). The shared EVP_PKEY and template are only read, which OpenSSL 3 allows from any
 * number of threads at once (RSA blinding is internally locked). Nothing is rebuilt from a JWK.
 * bench/bench_token.c compares the whole token with a raw EVP_DigestSign loop on the same key.
 * ES256 signatures are converted from OpenSSL's DER to JOSE's raw r||s (64 bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "token/token_int.h"

struct att_signer {
    EVP_PKEY *key; /* NULL for an external signer (fn) */
    X509 *cert;
    att_alg_t alg;
    char *kid;
    EVP_MD_CTX *tmpl; /* initialised for signing with key/alg; only ever copied */
    att_sign_fn fn;   /* external signer (att_signer_new_ext) and its context */
    void *fn_ctx;
};

/* ---- shared with verify.c ------------------------------------------------------------- */

bool att_es256_der_to_raw(const uint8_t *der, size_t len, uint8_t raw[64])
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    bool ok = false;
    if (sig != NULL && p == der + len) {
        const BIGNUM *r = NULL, *s = NULL;
        ECDSA_SIG_get0(sig, &r, &s);
        ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
    }
    ECDSA_SIG_free(sig);
    return ok;
}

uint8_t *att_es256_raw_to_der(const uint8_t raw[64], size_t *len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    unsigned char *der = NULL;
    if (sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL; /* owned by sig */
        int n = i2d_ECDSA_SIG(sig, &der);
        if (n > 0)
            *len = (size_t)n;
        else
            der = NULL;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return der;
}

const char *att_token_rsa_weak(EVP_PKEY *key)
{
    return att_token_rsa_weak_min(key, ATT_TOKEN_RSA_MIN_BITS, NULL, 0);
}

const char *att_token_rsa_weak_min(EVP_PKEY *key, unsigned min_bits, char *buf, size_t n)
{
    int bits = EVP_PKEY_get_bits(key);
    if (min_bits == 0)
        min_bits = ATT_TOKEN_RSA_MIN_BITS;
    if (min_bits < ATT_TOKEN_RSA_FLOOR_BITS)
        min_bits = ATT_TOKEN_RSA_FLOOR_BITS;
    if (bits < 0 || (unsigned)bits < min_bits) {
        if (min_bits == ATT_TOKEN_RSA_MIN_BITS || buf == NULL || n == 0)
            return min_bits == ATT_TOKEN_RSA_MIN_BITS ? "needs an RSA key of at least 2048 bits"
                                                      : "needs a larger RSA key";
        snprintf(buf, n, "needs an RSA key of at least %u bits", min_bits);
        return buf;
    }
    if (bits > ATT_TOKEN_RSA_MAX_BITS)
        return "needs an RSA key of at most 8192 bits";
    BIGNUM *e = NULL;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1 || e == NULL) {
        ERR_clear_error();
        return "has an unreadable RSA public exponent";
    }
    const char *why = NULL;
    if (!BN_is_odd(e))
        why = "has an even RSA public exponent";
    else if (BN_num_bits(e) > ATT_TOKEN_RSA_E_MAX_BITS)
        why = "has an RSA public exponent wider than 32 bits";
    else if (BN_get_word(e) < ATT_TOKEN_RSA_E_MIN)
        why = "has an RSA public exponent below 65537";
    BN_free(e);
    return why;
}

const char *att_token_key_mismatch(EVP_PKEY *key, att_alg_t alg)
{
    return att_token_key_mismatch_min(key, alg, ATT_TOKEN_RSA_MIN_BITS, NULL, 0);
}

const char *att_token_key_mismatch_min(EVP_PKEY *key, att_alg_t alg, unsigned min_rsa_bits,
                                       char *buf, size_t n)
{
    if (key == NULL)
        return "no key";
    switch (alg) {
    case ATT_ALG_RS256:
    case ATT_ALG_PS256:
        if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
            return "needs an RSA key";
        return att_token_rsa_weak_min(key, min_rsa_bits, buf, n);
    case ATT_ALG_ES256: {
        if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
            return "needs an EC P-256 key";
        char group[32];
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           NULL) != 1 ||
            strcmp(group, "prime256v1") != 0)
            return "needs an EC key on P-256";
        return NULL;
    }
    case ATT_ALG_NONE:
        break;
    }
    return "alg none takes no key";
}

bool att_token_md_init(EVP_MD_CTX *md, EVP_PKEY *key, att_alg_t alg, bool sign)
{
    EVP_PKEY_CTX *pctx = NULL;
    int ok = sign ? EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, key, NULL)
                  : EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", NULL, NULL, key, NULL);
    if (ok != 1)
        return false;
    if (alg == ATT_ALG_PS256)
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", NULL) == 1;
    if (alg == ATT_ALG_RS256)
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    return true;
}

/* ---- signer --------------------------------------------------------------------------- */

att_signer_t *att_signer_new(EVP_PKEY *key, X509 *cert, att_alg_t alg, att_diag_t *diag)
{
    if (key == NULL || cert == NULL) {
        att_diag_set(diag, ATT_E_ARG, "att_signer_new: key or certificate is NULL");
        return NULL;
    }
    const char *why = att_token_key_mismatch(key, alg);
    if (why != NULL) {
        att_diag_set(diag, ATT_E_KEY, "signing alg %s %s", att_alg_name(alg), why);
        return NULL;
    }
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    if (pub == NULL || EVP_PKEY_eq(key, pub) != 1) {
        ERR_clear_error();
        att_diag_set(diag, ATT_E_KEY, "the certificate's public key is not the signing key's");
        return NULL;
    }
    att_signer_t *s = calloc(1, sizeof *s);
    if (s == NULL || (s->kid = att_cert_kid(cert)) == NULL) {
        free(s);
        att_diag_set(diag, ATT_E_NOMEM, "att_signer_new: out of memory");
        return NULL;
    }
    if (EVP_PKEY_up_ref(key) != 1 || X509_up_ref(cert) != 1) {
        free(s->kid);
        free(s);
        att_diag_set(diag, ATT_E_INTERNAL, "att_signer_new: reference count failed");
        return NULL;
    }
    s->key = key;
    s->cert = cert;
    s->alg = alg;
    s->tmpl = EVP_MD_CTX_new();
    if (s->tmpl == NULL || !att_token_md_init(s->tmpl, key, alg, true)) {
        unsigned long e = ERR_get_error();
        ERR_clear_error();
        att_signer_free(s);
        att_diag_set(diag, ATT_E_KEY, "%s signing context cannot be set up: %s", att_alg_name(alg),
                     e ? ERR_reason_error_string(e) : "unknown OpenSSL error");
        return NULL;
    }
    att_diag_clear(diag);
    return s;
}

att_signer_t *att_signer_new_ext(att_sign_fn fn, void *ctx, X509 *cert, att_alg_t alg,
                                 att_diag_t *diag)
{
    if (fn == NULL || cert == NULL) {
        att_diag_set(diag, ATT_E_ARG, "att_signer_new_ext: fn or certificate is NULL");
        return NULL;
    }
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    const char *why = pub ? att_token_key_mismatch(pub, alg) : "has no readable public key";
    if (why != NULL) {
        ERR_clear_error();
        att_diag_set(diag, ATT_E_KEY, "signing alg %s %s", att_alg_name(alg), why);
        return NULL;
    }
    att_signer_t *s = calloc(1, sizeof *s);
    if (s == NULL || (s->kid = att_cert_kid(cert)) == NULL) {
        free(s);
        att_diag_set(diag, ATT_E_NOMEM, "att_signer_new_ext: out of memory");
        return NULL;
    }
    if (X509_up_ref(cert) != 1) {
        free(s->kid);
        free(s);
        att_diag_set(diag, ATT_E_INTERNAL, "att_signer_new_ext: reference count failed");
        return NULL;
    }
    s->cert = cert;
    s->alg = alg;
    s->fn = fn;
    s->fn_ctx = ctx;
    att_diag_clear(diag);
    return s;
}

void att_signer_free(att_signer_t *s)
{
    if (s == NULL)
        return;
    EVP_MD_CTX_free(s->tmpl);
    EVP_PKEY_free(s->key);
    X509_free(s->cert);
    free(s->kid);
    free(s);
}

const char *att_signer_kid(const att_signer_t *s)
{
    return s ? s->kid : NULL;
}

att_alg_t att_signer_alg(const att_signer_t *s)
{
    return s ? s->alg : ATT_ALG_NONE;
}

/* Sign tok[0..len) (the signing input) and append "." b64url(signature) and a NUL; tok has room
 * for ATT_SIG_B64_MAX + 2 more bytes. */
#define ATT_SIG_MAX     ATT_SIGNER_SIG_MAX /* RSA up to 8192 bits; DER ECDSA P-256: 72 */
#define ATT_SIG_B64_MAX ((ATT_SIG_MAX + 2) / 3 * 4)

static att_err_t att_signer_finish(const att_signer_t *s, char *tok, size_t len, att_diag_t *diag)
{
    uint8_t sigbuf[ATT_SIG_MAX];
    size_t siglen = sizeof sigbuf;
    if (s->fn != NULL) { /* an HSM: it gives the signature in JWS form */
        att_err_t e = s->fn(s->fn_ctx, s->alg, (const uint8_t *)tok, len, sigbuf, &siglen, diag);
        if (e != ATT_OK)
            return e;
        if (siglen == 0 || siglen > sizeof sigbuf || (s->alg == ATT_ALG_ES256 && siglen != 64))
            return att_diag_set(diag, ATT_E_KEY,
                                "%s signature from the external signer has %zu "
                                "bytes",
                                att_alg_name(s->alg), siglen);
        tok[len] = '.';
        tok[len + 1 + att_b64url_encode_to(sigbuf, siglen, tok + len + 1)] = '\0';
        return ATT_OK;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_MD_CTX_copy_ex(md, s->tmpl) == 1;
    if (md != NULL && !ok) { /* not expected; fall back to a full initialisation */
        EVP_MD_CTX_reset(md);
        ok = att_token_md_init(md, s->key, s->alg, true);
    }
    ok = ok && EVP_DigestSign(md, sigbuf, &siglen, (const uint8_t *)tok, len) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) {
        unsigned long e = ERR_get_error();
        ERR_clear_error();
        return att_diag_set(diag, ATT_E_KEY, "%s signature failed: %s", att_alg_name(s->alg),
                            e ? ERR_reason_error_string(e) : "unknown OpenSSL error");
    }
    if (s->alg == ATT_ALG_ES256) {
        uint8_t raw[64];
        if (!att_es256_der_to_raw(sigbuf, siglen, raw))
            return att_diag_set(diag, ATT_E_INTERNAL, "ES256 signature is not DER ECDSA-Sig");
        memcpy(sigbuf, raw, sizeof raw);
        siglen = sizeof raw;
    }
    tok[len] = '.';
    tok[len + 1 + att_b64url_encode_to(sigbuf, siglen, tok + len + 1)] = '\0';
    return ATT_OK;
}

/* b64url(header_json) "." b64url(payload) "." b64url(signature), built in one allocation. */
static att_err_t att_sign_compact(const att_signer_t *s, json_t *header, const uint8_t *payload,
                                  size_t plen, char **out, att_diag_t *diag)
{
    size_t hlen = 0;
    char *hdr = att_json_dump_sorted(header, &hlen);
    if (hdr == NULL)
        return att_diag_set(diag, ATT_E_ARG, "token header cannot be serialised");
    if (plen > (SIZE_MAX - 2 * ATT_SIG_B64_MAX) / 4 * 3 - hlen) {
        free(hdr);
        return att_diag_set(diag, ATT_E_LIMIT, "token payload of %zu bytes is too large", plen);
    }
    char *tok = malloc((hlen + 2) / 3 * 4 + 1 + (plen + 2) / 3 * 4 + 1 + ATT_SIG_B64_MAX + 1);
    if (tok == NULL) {
        free(hdr);
        return att_diag_set(diag, ATT_E_NOMEM, "token: out of memory");
    }
    size_t len = att_b64url_encode_to((const uint8_t *)hdr, hlen, tok);
    free(hdr);
    tok[len++] = '.';
    len += att_b64url_encode_to(payload, plen, tok + len);
    att_err_t rc = att_signer_finish(s, tok, len, diag);
    if (rc != ATT_OK) {
        free(tok);
        return rc;
    }
    *out = tok;
    att_diag_clear(diag);
    return ATT_OK;
}

att_err_t att_jwt_sign(const att_signer_t *s, const char *jku, json_t *claims, char **out,
                       att_diag_t *diag)
{
    if (out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_jwt_sign: out is NULL");
    *out = NULL;
    if (s == NULL || !json_is_object(claims))
        return att_diag_set(diag, ATT_E_ARG, "att_jwt_sign: no signer or claims not an object");
    json_t *hdr =
        json_pack("{s:s, s:s, s:s}", "alg", att_alg_name(s->alg), "kid", s->kid, "typ", "JWT");
    if (hdr == NULL || (jku != NULL && json_object_set_new(hdr, "jku", json_string(jku)) != 0)) {
        json_decref(hdr);
        return att_diag_set(diag, ATT_E_ARG, "att_jwt_sign: jku is not valid UTF-8");
    }
    size_t blen = 0;
    char *body = att_json_dump_sorted(claims, &blen);
    att_err_t rc;
    if (body == NULL)
        rc = att_diag_set(diag, ATT_E_ARG,
                          "att_jwt_sign: claims cannot be serialised (invalid UTF-8, nesting "
                          "deeper than 4096, or out of memory)");
    else
        rc = att_sign_compact(s, hdr, (const uint8_t *)body, blen, out, diag);
    free(body);
    json_decref(hdr);
    return rc;
}

att_err_t att_jws_sign(const att_signer_t *s, json_t *header, const uint8_t *payload, size_t len,
                       char **out, att_diag_t *diag)
{
    if (out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_jws_sign: out is NULL");
    *out = NULL;
    if (s == NULL || (payload == NULL && len > 0) || (header != NULL && !json_is_object(header)))
        return att_diag_set(diag, ATT_E_ARG, "att_jws_sign: no signer, payload or header object");
    /* The signer decides "alg"; everything else in the header is the caller's. */
    json_t *hdr = header ? json_copy(header) : json_object();
    if (hdr == NULL || json_object_set_new(hdr, "alg", json_string(att_alg_name(s->alg))) != 0) {
        json_decref(hdr);
        return att_diag_set(diag, ATT_E_NOMEM, "att_jws_sign: out of memory");
    }
    att_err_t rc = att_sign_compact(s, hdr, payload, len, out, diag);
    json_decref(hdr);
    return rc;
}

char *att_jws_unsigned(const uint8_t *payload, size_t len)
{
    static const char hdr[] = "eyJhbGciOiJub25lIn0"; /* b64url({"alg":"none"}) */
    if (payload == NULL && len > 0)
        return NULL;
    char *p = att_b64url_encode(payload, len);
    if (p == NULL)
        return NULL;
    size_t pl = strlen(p);
    char *out = malloc(sizeof hdr - 1 + 1 + pl + 2);
    if (out != NULL) {
        memcpy(out, hdr, sizeof hdr - 1);
        out[sizeof hdr - 1] = '.';
        memcpy(out + sizeof hdr, p, pl);
        out[sizeof hdr + pl] = '.';
        out[sizeof hdr + pl + 1] = '\0';
    }
    free(p);
    return out;
}
