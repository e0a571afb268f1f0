/* test_signer_ext.c - signers whose key is elsewhere (att_signer_new_ext, the HSM's path) and
 * certificates signed through them (att_cert_self_signed_ext): a callback that signs with a key
 * this test holds stands in for the HSM, so every alg is checked without one. The tokens verify
 * with att_jws_verify against the certificate; the certificates verify with their public key and
 * have the shape of att_cert_self_signed's; a callback's failure, a wrong-length ES256 signature,
 * a key that does not fit the alg, and a callback that signs with another key are refused. */
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "token/tok.h"

/* The stand-in HSM: signs in JWS form with key, counting its calls. */
typedef struct {
    EVP_PKEY *key;
    int calls;
    bool fail;
    bool short_sig;
} fake_hsm_t;

static att_err_t fake_sign(void *ctx, att_alg_t alg, const uint8_t *in, size_t len, uint8_t *sig,
                           size_t *siglen, att_diag_t *d)
{
    fake_hsm_t *h = ctx;
    h->calls++;
    if (h->fail)
        return att_diag_set(d, ATT_E_KEY, "the fake HSM refuses (CKR_DEVICE_REMOVED)");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    uint8_t der[ATT_SIGNER_SIG_MAX];
    size_t n = sizeof der;
    assert_int_equal(EVP_DigestSignInit_ex(md, &pc, "SHA256", NULL, NULL, h->key, NULL), 1);
    if (alg == ATT_ALG_PS256) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    assert_int_equal(EVP_DigestSign(md, der, &n, in, len), 1);
    EVP_MD_CTX_free(md);
    if (alg == ATT_ALG_ES256) { /* DER -> raw r||s, as PKCS#11's CKM_ECDSA gives */
        const unsigned char *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
        assert_non_null(es);
        const BIGNUM *r, *s;
        ECDSA_SIG_get0(es, &r, &s);
        BN_bn2binpad(r, sig, 32);
        BN_bn2binpad(s, sig + 32, 32);
        ECDSA_SIG_free(es);
        *siglen = h->short_sig ? 63 : 64;
    } else {
        memcpy(sig, der, n);
        *siglen = n;
    }
    return ATT_OK;
}

static void check_alg(att_alg_t alg)
{
    att_diag_t d;
    fake_hsm_t h = {0};
    assert_int_equal(att_key_generate(alg, &h.key, &d), ATT_OK);
    /* the public half only is given to the certificate maker */
    EVP_PKEY *pub = NULL;
    unsigned char *spki = NULL;
    int n = i2d_PUBKEY(h.key, &spki);
    const unsigned char *p = spki;
    pub = d2i_PUBKEY(NULL, &p, n);
    OPENSSL_free(spki);
    assert_non_null(pub);
    X509 *cert = NULL;
    if (att_cert_self_signed_ext(pub, fake_sign, &h, ISSUER, 365 * 86400, NOW, &cert, &d) != ATT_OK)
        fail_msg("%s: %s", att_alg_name(alg), d.msg);
    assert_int_equal(h.calls, 1);
    assert_int_equal(X509_verify(cert, pub), 1);
    assert_int_equal(X509_check_ca(cert), 1);
    assert_true((X509_get_key_usage(cert) & (KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN)) ==
                (KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN));
    assert_int_equal(X509_get_signature_nid(cert), EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC
                                                       ? NID_ecdsa_with_SHA256
                                                       : NID_sha256WithRSAEncryption);
    att_signer_t *s = att_signer_new_ext(fake_sign, &h, cert, alg, &d);
    assert_non_null(s);
    assert_int_equal(att_signer_alg(s), alg);
    char *kid = att_cert_kid(cert);
    assert_string_equal(att_signer_kid(s), kid);
    free(kid);
    json_t *claims = json_pack("{s:s, s:I}", "iss", ISSUER, "exp", (json_int_t)(NOW + 60));
    char *jwt = NULL;
    assert_int_equal(att_jwt_sign(s, JKU, claims, &jwt, &d), ATT_OK);
    assert_int_equal(h.calls, 2);
    att_jws_t j;
    att_jws_opts_t o = {.keys = &cert, .n_keys = 1};
    if (att_jws_verify(jwt, strlen(jwt), &o, &j, &d) != ATT_OK)
        fail_msg("%s token: %s", att_alg_name(alg), d.msg);
    assert_int_equal(j.alg, alg);
    att_jws_clear(&j);
    free(jwt);
    /* the HSM's failure is the signer's, with its reason */
    h.fail = true;
    assert_int_equal(att_jwt_sign(s, JKU, claims, &jwt, &d), ATT_E_KEY);
    assert_null(jwt);
    assert_non_null(strstr(d.msg, "CKR_DEVICE_REMOVED"));
    X509 *c2 = NULL;
    assert_int_equal(
        att_cert_self_signed_ext(pub, fake_sign, &h, ISSUER, 365 * 86400, NOW, &c2, &d), ATT_E_KEY);
    assert_null(c2);
    assert_non_null(strstr(d.msg, "CKR_DEVICE_REMOVED"));
    h.fail = false;
    if (alg == ATT_ALG_ES256) { /* a raw signature of the wrong size is not passed on */
        h.short_sig = true;
        assert_int_equal(att_jwt_sign(s, JKU, claims, &jwt, &d), ATT_E_KEY);
        assert_null(jwt);
        assert_int_equal(
            att_cert_self_signed_ext(pub, fake_sign, &h, ISSUER, 365 * 86400, NOW, &c2, &d),
            ATT_E_KEY);
        assert_null(c2);
        h.short_sig = false;
    }
    json_decref(claims);
    att_signer_free(s);
    /* another alg than the key allows */
    att_alg_t other = alg == ATT_ALG_ES256 ? ATT_ALG_RS256 : ATT_ALG_ES256;
    assert_null(att_signer_new_ext(fake_sign, &h, cert, other, &d));
    assert_int_equal(d.code, ATT_E_KEY);
    /* a callback signing with another key: the certificate is refused, not returned */
    fake_hsm_t wrong = {0};
    assert_int_equal(att_key_generate(alg, &wrong.key, &d), ATT_OK);
    assert_int_equal(
        att_cert_self_signed_ext(pub, fake_sign, &wrong, ISSUER, 365 * 86400, NOW, &c2, &d),
        ATT_E_KEY);
    assert_null(c2);
    assert_non_null(strstr(d.msg, "verifying"));
    EVP_PKEY_free(wrong.key);
    X509_free(cert);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(h.key);
}

static void test_rs256(void **state)
{
    (void)state;
    check_alg(ATT_ALG_RS256);
}

static void test_ps256(void **state)
{
    (void)state;
    check_alg(ATT_ALG_PS256);
}

static void test_es256(void **state)
{
    (void)state;
    check_alg(ATT_ALG_ES256);
}

static void test_args(void **state)
{
    (void)state;
    att_diag_t d;
    X509 *c = (X509 *)1;
    assert_int_equal(att_cert_self_signed_ext(NULL, NULL, NULL, ISSUER, 3600, NOW, &c, &d),
                     ATT_E_ARG);
    assert_null(c);
    assert_null(att_signer_new_ext(NULL, NULL, NULL, ATT_ALG_RS256, &d));
    assert_int_equal(d.code, ATT_E_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rs256),
        cmocka_unit_test(test_ps256),
        cmocka_unit_test(test_es256),
        cmocka_unit_test(test_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
