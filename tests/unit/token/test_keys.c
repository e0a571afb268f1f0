/* test_keys.c - key generation, self-signed certificates (checked field by field with OpenSSL),
 * PEM round trips, kid (recomputed by hand), JWK/JWKS shape (keys rebuilt from the JWK with
 * libjose and compared with the certificate's), signer construction errors. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include <jose/openssl.h>

#include "token/tok.h"

static void test_key_generate(void **state)
{
    (void)state;
    att_diag_t d;
    EVP_PKEY *k = NULL;
    assert_int_equal(att_key_generate(ATT_ALG_RS256, &k, &d), ATT_OK);
    assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_RSA);
    assert_int_equal(EVP_PKEY_get_bits(k), 2048);
    BIGNUM *e = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e), 1);
    assert_true(BN_is_word(e, 65537));
    BN_free(e);
    EVP_PKEY_free(k);

    assert_int_equal(att_key_generate(ATT_ALG_ES256, &k, &d), ATT_OK);
    assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
    char group[32];
    assert_int_equal(
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL),
        1);
    assert_string_equal(group, "prime256v1");
    EVP_PKEY_free(k);

    k = (EVP_PKEY *)1;
    assert_int_equal(att_key_generate(ATT_ALG_NONE, &k, &d), ATT_E_ARG);
    assert_null(k);
    assert_int_equal(att_key_generate(ATT_ALG_RS256, NULL, &d), ATT_E_ARG);
}

static void test_cert_fields(void **state)
{
    (void)state;
    const char *long_cn = "https://a-rather-long-attestation-instance-name-for-testing.westeurope"
                          ".attest.example.test";
    assert_true(strlen(long_cn) > 64); /* beyond the X.520 commonName bound */
    for (int alg = ATT_ALG_RS256; alg <= ATT_ALG_ES256; alg += 2) {
        att_diag_t d;
        EVP_PKEY *k;
        X509 *x;
        assert_int_equal(att_key_generate((att_alg_t)alg, &k, &d), ATT_OK);
        assert_int_equal(att_cert_self_signed(k, long_cn, 86400, NOW, &x, &d), ATT_OK);

        char cn[256];
        assert_true(
            X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0);
        assert_string_equal(cn, long_cn);
        assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
        assert_int_equal(X509_get_version(x), X509_VERSION_3);
        /* Self-signed with SHA-256, key matches. */
        assert_int_equal(X509_verify(x, k), 1);
        assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);
        int mdnid = 0, pknid = 0;
        assert_int_equal(X509_get_signature_info(x, &mdnid, &pknid, NULL, NULL), 1);
        assert_int_equal(mdnid, NID_sha256);
        /* Validity: now-60 .. now-60+lifetime. */
        int days, secs;
        ASN1_TIME *t = ASN1_TIME_new();
        ASN1_TIME_set(t, (time_t)(NOW - 60));
        assert_int_equal(ASN1_TIME_compare(X509_get0_notBefore(x), t), 0);
        ASN1_TIME_set(t, (time_t)(NOW - 60 + 86400));
        assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(x), t), 0);
        assert_int_equal(
            ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
        assert_int_equal(days, 1);
        assert_int_equal(secs, 0);
        ASN1_TIME_free(t);
        /* Serial: positive, 16 bytes. */
        BIGNUM *sn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        assert_false(BN_is_negative(sn));
        assert_int_equal(BN_num_bytes(sn), 16);
        BN_free(sn);
        /* Extensions: a self-signed anchor. */
        assert_true(X509_get_extension_flags(x) & EXFLAG_CA);
        assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
        assert_true(X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
        assert_non_null(X509_get0_subject_key_id(x));
        X509_free(x);
        EVP_PKEY_free(k);
    }

    /* Two certificates never share a serial. */
    tok_key_t a, b;
    tok_key_make(&a, ATT_ALG_ES256);
    tok_key_make(&b, ATT_ALG_ES256);
    assert_int_not_equal(
        ASN1_INTEGER_cmp(X509_get0_serialNumber(a.cert), X509_get0_serialNumber(b.cert)), 0);

    att_diag_t d;
    X509 *x = (X509 *)1;
    assert_int_equal(att_cert_self_signed(NULL, ISSUER, 86400, NOW, &x, &d), ATT_E_ARG);
    assert_null(x);
    assert_int_equal(att_cert_self_signed(a.key, "", 86400, NOW, &x, &d), ATT_E_ARG);
    assert_int_equal(att_cert_self_signed(a.key, ISSUER, 0, NOW, &x, &d), ATT_E_ARG);
    tok_key_free(&a);
    tok_key_free(&b);
}

static void test_pem_round_trip(void **state)
{
    (void)state;
    for (int alg = ATT_ALG_RS256; alg <= ATT_ALG_ES256; alg += 2) {
        tok_key_t k;
        tok_key_make(&k, (att_alg_t)alg);
        char *pem = att_key_to_pem(k.key);
        assert_non_null(pem);
        assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----")); /* PKCS#8 */
        EVP_PKEY *back = att_key_from_pem(pem, strlen(pem));
        assert_non_null(back);
        assert_int_equal(EVP_PKEY_eq(back, k.key), 1);
        /* The reloaded key signs for the same certificate. */
        att_diag_t d;
        att_signer_t *s = att_signer_new(back, k.cert, (att_alg_t)alg, &d);
        assert_non_null(s);
        assert_string_equal(att_signer_kid(s), att_signer_kid(k.signer));
        att_signer_free(s);
        EVP_PKEY_free(back);
        /* Truncated or foreign PEM. */
        assert_null(att_key_from_pem(pem, strlen(pem) / 2));
        assert_null(att_key_from_pem("hello", 5));
        assert_null(att_key_from_pem(NULL, 0));
        OPENSSL_cleanse(pem, strlen(pem));
        free(pem);

        char *cpem = att_cert_to_pem(k.cert);
        assert_non_null(cpem);
        assert_non_null(strstr(cpem, "-----BEGIN CERTIFICATE-----"));
        /* A certificate is not a private key. */
        assert_null(att_key_from_pem(cpem, strlen(cpem)));
        BIO *bio = BIO_new_mem_buf(cpem, -1);
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        assert_non_null(x);
        assert_int_equal(X509_cmp(x, k.cert), 0);
        X509_free(x);
        BIO_free(bio);
        free(cpem);
        tok_key_free(&k);
    }
}

static void test_kid(void **state)
{
    (void)state;
    tok_key_t k;
    tok_key_make(&k, ATT_ALG_RS256);
    unsigned char *der = NULL;
    int n = i2d_X509(k.cert, &der);
    uint8_t md[32];
    SHA256(der, (size_t)n, md);
    OPENSSL_free(der);
    unsigned char b64[64];
    assert_int_equal(EVP_EncodeBlock(b64, md, 32), 44);
    char *kid = att_cert_kid(k.cert);
    assert_string_equal(kid, (char *)b64);
    assert_string_equal(att_signer_kid(k.signer), kid);
    assert_int_equal(strlen(kid), 44);
    assert_int_equal(kid[43], '=');
    free(kid);
    assert_null(att_cert_kid(NULL));
    tok_key_free(&k);
}

static void check_jwk(json_t *jwk, tok_key_t *k)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    assert_non_null(kty);
    char *kid = att_cert_kid(k->cert);
    assert_string_equal(json_string_value(json_object_get(jwk, "kid")), kid);
    free(kid);
    /* x5c[0] is the certificate, standard base64 DER. */
    json_t *x5c = json_object_get(jwk, "x5c");
    assert_int_equal(json_array_size(x5c), 1);
    const char *c = json_string_value(json_array_get(x5c, 0));
    uint8_t *der;
    size_t len;
    assert_true(att_b64_decode(c, strlen(c), true, &der, &len));
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    assert_non_null(x);
    assert_int_equal(X509_cmp(x, k->cert), 0);
    X509_free(x);
    free(der);
    if (EVP_PKEY_get_base_id(k->key) == EVP_PKEY_RSA) {
        assert_string_equal(kty, "RSA");
        assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB");
        assert_non_null(json_string_value(json_object_get(jwk, "n")));
        assert_int_equal(json_object_size(jwk), 5); /* kty kid x5c n e */
    } else {
        assert_string_equal(kty, "EC");
        assert_string_equal(json_string_value(json_object_get(jwk, "crv")), "P-256");
        assert_int_equal(strlen(json_string_value(json_object_get(jwk, "x"))), 43);
        assert_int_equal(strlen(json_string_value(json_object_get(jwk, "y"))), 43);
        assert_int_equal(json_object_size(jwk), 6); /* kty kid x5c crv x y */
    }
    assert_null(json_object_get(jwk, "d"));
    /* The public parameters are the certificate's key (rebuilt by libjose). */
    EVP_PKEY *back = jose_openssl_jwk_to_EVP_PKEY(NULL, jwk);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(back, X509_get0_pubkey(k->cert)), 1);
    EVP_PKEY_free(back);
}

static void test_jwks(void **state)
{
    (void)state;
    tok_key_t r, e;
    tok_key_make(&r, ATT_ALG_RS256);
    tok_key_make(&e, ATT_ALG_ES256);
    att_diag_t d;
    json_t *jwks = att_jwks_new();
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 0);
    assert_int_equal(att_jwks_add(jwks, r.cert, &d), ATT_OK);
    assert_int_equal(att_jwks_add(jwks, e.cert, &d), ATT_OK);
    assert_int_equal(att_jwks_add(jwks, r.cert, &d), ATT_OK); /* already there: not twice */
    assert_int_equal(json_object_size(jwks), 1);
    json_t *keys = json_object_get(jwks, "keys");
    assert_int_equal(json_array_size(keys), 2);
    check_jwk(json_array_get(keys, 0), &r);
    check_jwk(json_array_get(keys, 1), &e);

    assert_null(att_jwk_from_cert(NULL, &d));
    assert_int_equal(d.code, ATT_E_ARG);
    assert_int_equal(att_jwks_add(jwks, NULL, &d), ATT_E_ARG);
    json_t *notjwks = json_object();
    assert_int_equal(att_jwks_add(notjwks, r.cert, &d), ATT_E_ARG);
    json_decref(notjwks);
    json_decref(jwks);
    tok_key_free(&r);
    tok_key_free(&e);
}

static void test_signer_new_errors(void **state)
{
    (void)state;
    tok_key_t r, e;
    tok_key_make(&r, ATT_ALG_RS256);
    tok_key_make(&e, ATT_ALG_ES256);
    att_diag_t d;
    /* Key type must fit the alg. */
    assert_null(att_signer_new(r.key, r.cert, ATT_ALG_ES256, &d));
    assert_int_equal(d.code, ATT_E_KEY);
    assert_null(att_signer_new(e.key, e.cert, ATT_ALG_RS256, &d));
    assert_int_equal(d.code, ATT_E_KEY);
    assert_null(att_signer_new(r.key, r.cert, ATT_ALG_NONE, &d));
    assert_int_equal(d.code, ATT_E_KEY);
    /* The certificate must be the key's. */
    tok_key_t r2;
    tok_key_make(&r2, ATT_ALG_RS256);
    assert_null(att_signer_new(r.key, r2.cert, ATT_ALG_RS256, &d));
    assert_int_equal(d.code, ATT_E_KEY);
    assert_null(att_signer_new(NULL, r.cert, ATT_ALG_RS256, &d));
    assert_int_equal(d.code, ATT_E_ARG);
    /* RSA below 2048 bits is refused. */
    EVP_PKEY *small = EVP_RSA_gen(1024);
    X509 *sc;
    assert_int_equal(att_cert_self_signed(small, ISSUER, 86400, NOW, &sc, &d), ATT_OK);
    assert_null(att_signer_new(small, sc, ATT_ALG_RS256, &d));
    assert_int_equal(d.code, ATT_E_KEY);
    X509_free(sc);
    EVP_PKEY_free(small);
    /* PS256 with an RSA key is fine; accessors. */
    att_signer_t *ps = att_signer_new(r.key, r.cert, ATT_ALG_PS256, &d);
    assert_non_null(ps);
    assert_int_equal(att_signer_alg(ps), ATT_ALG_PS256);
    assert_int_equal(att_signer_alg(NULL), ATT_ALG_NONE);
    assert_null(att_signer_kid(NULL));
    att_signer_free(ps);
    att_signer_free(NULL);
    tok_key_free(&r);
    tok_key_free(&r2);
    tok_key_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_generate),   cmocka_unit_test(test_cert_fields),
        cmocka_unit_test(test_pem_round_trip), cmocka_unit_test(test_kid),
        cmocka_unit_test(test_jwks),           cmocka_unit_test(test_signer_new_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
