/* jwk.c - JWK and JWKS of signing certificates (GET /certs, x-ms-policy-signer, /certificates).
 *
 * The public parameters (RSA n/e, EC crv/x/y) come from libjose's jose_openssl_jwk_from_EVP_PKEY;
 * we add what MAA serves: "kid" (att_cert_kid) and "x5c" (standard base64 DER, first element the
 * certificate itself). No "use"/"alg", as MAA omits them. Private parameters can never appear:
 * the key comes from the certificate.
 */
#include <stdlib.h>
#include <string.h>

#include <jose/openssl.h>
#include <openssl/err.h>

#include "token/token_int.h"

json_t *att_jwk_from_cert(X509 *cert, att_diag_t *diag)
{
    if (cert == NULL) {
        att_diag_set(diag, ATT_E_ARG, "att_jwk_from_cert: certificate is NULL");
        return NULL;
    }
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    json_t *jwk = pub ? jose_openssl_jwk_from_EVP_PKEY(NULL, pub) : NULL;
    ERR_clear_error();
    if (jwk == NULL || !json_is_string(json_object_get(jwk, "kty"))) {
        json_decref(jwk);
        att_diag_set(diag, ATT_E_KEY,
                     "certificate key cannot be expressed as a JWK (not RSA or EC)");
        return NULL;
    }
    /* Belt and braces: only public members leave. */
    static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++)
        json_object_del(jwk, priv[i]);

    char *kid = att_cert_kid(cert);
    unsigned char *der = NULL;
    int n = i2d_X509(cert, &der);
    char *b64 = n > 0 ? att_b64std_encode(der, (size_t)n) : NULL;
    OPENSSL_free(der);
    bool ok = kid != NULL && b64 != NULL &&
              json_object_set_new(jwk, "kid", json_string(kid)) == 0 &&
              json_object_set_new(jwk, "x5c", json_pack("[s]", b64)) == 0;
    free(kid);
    free(b64);
    if (!ok) {
        json_decref(jwk);
        att_diag_set(diag, ATT_E_NOMEM, "att_jwk_from_cert: out of memory");
        return NULL;
    }
    att_diag_clear(diag);
    return jwk;
}

json_t *att_jwks_new(void)
{
    return json_pack("{s:[]}", "keys");
}

att_err_t att_jwks_add(json_t *jwks, X509 *cert, att_diag_t *diag)
{
    json_t *keys = json_object_get(jwks, "keys");
    if (!json_is_array(keys))
        return att_diag_set(diag, ATT_E_ARG, "att_jwks_add: not a JWKS (no \"keys\" array)");
    char *kid = att_cert_kid(cert);
    if (kid == NULL)
        return att_diag_set(diag, cert ? ATT_E_NOMEM : ATT_E_ARG, "att_jwks_add: no kid");
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        const char *have = json_string_value(json_object_get(k, "kid"));
        if (have != NULL && strcmp(have, kid) == 0) {
            free(kid);
            att_diag_clear(diag);
            return ATT_OK;
        }
    }
    free(kid);
    json_t *jwk = att_jwk_from_cert(cert, diag);
    if (jwk == NULL)
        return diag ? diag->code : ATT_E_KEY;
    if (json_array_append_new(keys, jwk) != 0)
        return att_diag_set(diag, ATT_E_NOMEM, "att_jwks_add: out of memory");
    return ATT_OK;
}
