/* attest/token.h - JWT attestation tokens, signing keys, JWK/JWKS, and JWS verification.
 *
 *   EVP_PKEY *k; X509 *cert;
 *   att_key_generate(ATT_ALG_RS256, &k, &d);                       // RSA-2048
 *   att_cert_self_signed(k, "https://attest.example", 365 * 86400, now, &cert, &d);
 *   att_signer_t *s = att_signer_new(k, cert, ATT_ALG_RS256, &d);  // one EVP_PKEY, reused
 *   char *jwt;
 *   att_jwt_sign(s, "https://attest.example/certs", claims, &jwt, &d);
 *   ...
 *   json_t *jwks = att_jwks_new(); att_jwks_add(jwks, cert, &d);    // GET /certs
 *
 * Signing reuses one EVP_PKEY made once (no JWK->key rebuild per token). JWS verification
 * (policies, policy-management requests, tokens at the relying party) checks the signature with
 * the key of the header's x5c[0] or of a given certificate, and never accepts `alg: none` unless
 * the caller explicitly allows unsigned input. Not checked here: whether a signer is trusted
 * (the caller decides, e.g. isolated-mode signer set) or what the claims mean.
 */
#ifndef ATTEST_TOKEN_H
#define ATTEST_TOKEN_H

#include <stdbool.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { ATT_ALG_NONE = 0, ATT_ALG_RS256, ATT_ALG_PS256, ATT_ALG_ES256 } att_alg_t;

ATT_API const char *att_alg_name(att_alg_t a);     /* "RS256", ... "none" */
ATT_API att_alg_t att_alg_parse(const char *name); /* ATT_ALG_NONE if unknown or "none" */

/* ---- base64 ---- */
/* base64url without padding; malloc'd NUL-terminated string. */
ATT_API char *att_b64url_encode(const uint8_t *in, size_t len);
/* base64url (padding optional, lenient) or standard base64 when std is true; malloc'd buffer
 * (NUL-terminated for convenience). Returns false on any invalid character. */
ATT_API bool att_b64_decode(const char *in, size_t len, bool std, uint8_t **out, size_t *outlen);
ATT_API char *att_b64std_encode(const uint8_t *in, size_t len);

/* ---- keys and certificates ---- */
#define ATT_SIGNER_SIG_MAX 1024 /* the largest signature an att_sign_fn gives: RSA-8192 */
/* RS256/PS256: RSA-2048; ES256: EC P-256. */
ATT_API att_err_t att_key_generate(att_alg_t alg, EVP_PKEY **out, att_diag_t *diag) ATT_WUR;
/* Self-signed certificate whose subject CN is `subject_cn` (the issuer URL), valid from now-60s
 * for `lifetime` seconds, serial random, SHA-256 signature. */
ATT_API att_err_t att_cert_self_signed(EVP_PKEY *key, const char *subject_cn, int64_t lifetime,
                                       att_time_t now, X509 **out, att_diag_t *diag) ATT_WUR;
/* The same certificate for a key this process does not hold (an HSM): pub is its public key,
 * fn (see att_signer_new_ext) signs the certificate body (as RS256 for an RSA key, ES256 for
 * P-256). The result is verified with pub before it is returned. */
typedef att_err_t (*att_sign_fn)(void *ctx, att_alg_t alg, const uint8_t *in, size_t len,
                                 uint8_t *sig, size_t *siglen, att_diag_t *diag);
ATT_API att_err_t att_cert_self_signed_ext(EVP_PKEY *pub, att_sign_fn fn, void *ctx,
                                           const char *subject_cn, int64_t lifetime, att_time_t now,
                                           X509 **out, att_diag_t *diag) ATT_WUR;
/* PEM (PKCS#8 private key / certificate) round trips for the store. */
ATT_API char *att_key_to_pem(EVP_PKEY *key);
ATT_API EVP_PKEY *att_key_from_pem(const char *pem, size_t len);
ATT_API char *att_cert_to_pem(X509 *cert);
/* kid of a signing certificate: standard base64 of SHA-256 of its DER (as MAA's look). */
ATT_API char *att_cert_kid(X509 *cert);

/* ---- signing ---- */
typedef struct att_signer att_signer_t;
ATT_API att_signer_t *att_signer_new(EVP_PKEY *key, X509 *cert, att_alg_t alg, att_diag_t *diag);
/* A signer whose private key is not in this process (an HSM through PKCS#11): fn signs the
 * JWS signing input in[0..len) for alg into sig (room for ATT_SIGNER_SIG_MAX bytes) in JWS form
 * (RSA: the signature; ES256: raw r||s, 64 bytes), called from any thread at once. ctx must
 * outlive the signer. cert is the key's certificate (its public key must fit alg); the token
 * code signs through fn and knows nothing else of the key. */
ATT_API att_signer_t *att_signer_new_ext(att_sign_fn fn, void *ctx, X509 *cert, att_alg_t alg,
                                         att_diag_t *diag);
ATT_API void att_signer_free(att_signer_t *s);
ATT_API const char *att_signer_kid(const att_signer_t *s);
ATT_API att_alg_t att_signer_alg(const att_signer_t *s);
/* JWT with header {"alg","jku","kid","typ":"JWT"} (jku omitted when NULL); claims are
 * serialised compactly with sorted keys. *out is malloc'd. Thread-safe. */
ATT_API att_err_t att_jwt_sign(const att_signer_t *s, const char *jku, json_t *claims, char **out,
                               att_diag_t *diag) ATT_WUR;
/* A JWS with an arbitrary header (x5c etc. added by the caller) - policy tokens, tests. */
ATT_API att_err_t att_jws_sign(const att_signer_t *s, json_t *header, const uint8_t *payload,
                               size_t len, char **out, att_diag_t *diag) ATT_WUR;
/* An unsigned JWS: b64url({"alg":"none"}).b64url(payload). */
ATT_API char *att_jws_unsigned(const uint8_t *payload, size_t len);

/* ---- JWK / JWKS ---- */
/* {"kty","kid","x5c":[b64 DER]} plus the public parameters (n,e or crv,x,y) so generic JOSE
 * libraries can use it. */
ATT_API json_t *att_jwk_from_cert(X509 *cert, att_diag_t *diag);
ATT_API json_t *att_jwks_new(void);
/* Appends the certificate's JWK; a certificate whose kid is already present is not added twice. */
ATT_API att_err_t att_jwks_add(json_t *jwks, X509 *cert, att_diag_t *diag) ATT_WUR;

/* ---- JWS verification ---- */
typedef struct {
    json_t *header;   /* decoded protected header */
    uint8_t *payload; /* decoded payload bytes (NUL-terminated), may be empty */
    size_t payload_len;
    json_t *claims; /* payload parsed as a JSON object, or NULL if it is not one */
    att_alg_t alg;
    X509 *signer;         /* x5c[0] or the key's certificate when signed; NULL when unsigned */
    STACK_OF(X509) * x5c; /* the whole x5c chain when present (never for alg none: unvouched) */
} att_jws_t;

typedef struct {
    bool allow_unsigned; /* accept alg "none" with an empty signature */
    X509 *const *keys;   /* when set: the signature must verify with one of these */
    size_t n_keys;       /* (else with x5c[0] of the header) */
    /* smallest RSA key (bits) an RS256/PS256 signature may be made with: 0 is the default, 2048;
     * 1024 to 2048 only for policy signers of instances migrating from MAA, which accepts
     * 1024-bit keys (attestd --policy-signer-min-rsa-bits). Larger values require more. */
    unsigned min_rsa_bits;
} att_jws_opts_t;

/* Parse compact JWS text (whitespace around it and a JSON string literal wrapper are tolerated),
 * verify per opts (NULL: signed only, key from x5c[0]). On success fills *out (caller calls
 * att_jws_clear); on failure *out is empty. Errors: ATT_E_JWS_FORMAT, ATT_E_JWS_ALG,
 * ATT_E_JWS_SIGNATURE, ATT_E_JWS_UNSIGNED. The rules, in order, are in docs/tokens.md. */
ATT_API att_err_t att_jws_verify(const char *text, size_t len, const att_jws_opts_t *opts,
                                 att_jws_t *out, att_diag_t *diag) ATT_WUR;
ATT_API void att_jws_clear(att_jws_t *jws);

#ifdef __cplusplus
}
#endif
#endif
