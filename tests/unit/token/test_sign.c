/* test_sign.c - every alg signs and verifies; tokens are checked independently of our verifier
 * (libjose's jose_jws_ver for RS256/PS256/ES256, the openssl CLI for RS256 and PS256 with an
 * explicit 32-byte salt, an explicit DER conversion for ES256), JWT header fields and claim
 * serialisation, arbitrary-header JWS, unsigned JWS, and 4 threads sharing one signer. */
#include <pthread.h>
#include <unistd.h>

#include <jose/b64.h>
#include <jose/jws.h>
#include <jose/openssl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "token/tok.h"

static json_t *sample_claims(void)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:s, s:b, s:{s:s}, s:s}", "iss", ISSUER, "iat",
                     (json_int_t)NOW, "nbf", (json_int_t)NOW, "exp", (json_int_t)(NOW + 28800),
                     "x-ms-ver", "1.0", "x-ms-sgx-is-debuggable", 0, "x-ms-sgx-collateral",
                     "tcbinfohash", "ab", "nonce", "caf\xc3\xa9/\"x\"");
}

/* libjose, given the JWK of the certificate, verifies the compact token. */
static bool jose_verifies(const char *tok, X509 *cert)
{
    char *h, *p, *s;
    tok_split(tok, &h, &p, &s);
    json_t *jws = json_pack("{s:s, s:s, s:s}", "protected", h, "payload", p, "signature", s);
    json_t *jwk = jose_openssl_jwk_from_EVP_PKEY(NULL, X509_get0_pubkey(cert));
    assert_non_null(jws);
    assert_non_null(jwk);
    bool ok = jose_jws_ver(NULL, jws, NULL, jwk, false);
    json_decref(jws);
    json_decref(jwk);
    free(h);
    free(p);
    free(s);
    return ok;
}

/* ...and with our own JWK of the certificate (what GET /certs serves). */
static bool jose_verifies_with_our_jwk(const char *tok, X509 *cert)
{
    char *h, *p, *s;
    tok_split(tok, &h, &p, &s);
    json_t *jws = json_pack("{s:s, s:s, s:s}", "protected", h, "payload", p, "signature", s);
    att_diag_t d;
    json_t *jwk = att_jwk_from_cert(cert, &d);
    assert_non_null(jwk);
    bool ok = jose_jws_ver(NULL, jws, NULL, jwk, false);
    json_decref(jws);
    json_decref(jwk);
    free(h);
    free(p);
    free(s);
    return ok;
}

/* The other direction: libjose signs (header with x5c), our verifier accepts. */
static void jose_signs_we_verify(EVP_PKEY *key, X509 *cert, att_alg_t alg)
{
    att_diag_t d;
    json_t *jwk = jose_openssl_jwk_from_EVP_PKEY(NULL, key);
    json_t *ours = att_jwk_from_cert(cert, &d);
    const char *payload = "{\"policyCertificate\":{\"kty\":\"RSA\"}}";
    json_t *jws = json_pack("{s:o}", "payload", jose_b64_enc(payload, strlen(payload)));
    json_t *sig = json_pack("{s:{s:s, s:O}}", "protected", "alg", att_alg_name(alg), "x5c",
                            json_object_get(ours, "x5c"));
    assert_true(jose_jws_sig(NULL, jws, sig, jwk));
    char tok[8192];
    snprintf(tok, sizeof tok, "%s.%s.%s", json_string_value(json_object_get(jws, "protected")),
             json_string_value(json_object_get(jws, "payload")),
             json_string_value(json_object_get(jws, "signature")));
    att_jws_t j;
    assert_int_equal(att_jws_verify(tok, strlen(tok), NULL, &j, &d), ATT_OK);
    assert_int_equal(j.alg, alg);
    assert_string_equal((char *)j.payload, payload);
    assert_int_equal(X509_cmp(j.signer, cert), 0);
    att_jws_clear(&j);
    json_decref(sig);
    json_decref(jws);
    json_decref(ours);
    json_decref(jwk);
}

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* `openssl dgst -sha256 -verify` (RS256, or PS256 with salt length exactly 32). */
static bool openssl_cli_verifies(const char *tok, X509 *cert, bool pss)
{
    char dir[] = "/tmp/att-token-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char pub[128], data[128], sigf[128], cmd[1024];
    snprintf(pub, sizeof pub, "%s/pub.pem", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(sigf, sizeof sigf, "%s/sig", dir);
    FILE *f = fopen(pub, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, X509_get0_pubkey(cert)), 1);
    fclose(f);
    const char *d2 = strrchr(tok, '.');
    write_file(data, tok, (size_t)(d2 - tok));
    uint8_t *sig;
    size_t slen;
    assert_true(att_b64_decode(d2 + 1, strlen(d2 + 1), false, &sig, &slen));
    write_file(sigf, sig, slen);
    free(sig);
    snprintf(cmd, sizeof cmd, "openssl dgst -sha256 %s -verify %s -signature %s %s >/dev/null 2>&1",
             pss ? "-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32" : "", pub, sigf, data);
    int rc = system(cmd);
    unlink(pub);
    unlink(data);
    unlink(sigf);
    rmdir(dir);
    return rc == 0;
}

/* ES256: raw r||s of 64 bytes, converted by hand to DER and verified with OpenSSL. */
static bool es256_raw_verifies(const char *tok, X509 *cert)
{
    const char *d2 = strrchr(tok, '.');
    uint8_t *sig;
    size_t slen;
    assert_true(att_b64_decode(d2 + 1, strlen(d2 + 1), false, &sig, &slen));
    assert_int_equal(slen, 64);
    ECDSA_SIG *es = ECDSA_SIG_new();
    assert_int_equal(ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL)),
                     1);
    unsigned char *der = NULL;
    int dlen = i2d_ECDSA_SIG(es, &der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok =
        EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, X509_get0_pubkey(cert)) == 1 &&
        EVP_DigestVerify(md, der, (size_t)dlen, (const uint8_t *)tok, (size_t)(d2 - tok)) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    free(sig);
    return ok;
}

static void check_alg(att_alg_t alg)
{
    tok_key_t k;
    tok_key_make(&k, alg == ATT_ALG_PS256 ? ATT_ALG_RS256 : alg);
    att_diag_t d;
    att_signer_t *s = k.signer;
    att_signer_t *ps = NULL;
    if (alg == ATT_ALG_PS256)
        s = ps = att_signer_new(k.key, k.cert, ATT_ALG_PS256, &d);
    assert_non_null(s);
    json_t *claims = sample_claims();
    char *tok = NULL;
    assert_int_equal(att_jwt_sign(s, JKU, claims, &tok, &d), ATT_OK);
    assert_non_null(tok);
    /* Canonical compact form: three segments, base64url alphabet, no padding. */
    assert_int_equal(
        strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
        strlen(tok));

    /* Header fields. */
    char *h, *p, *sg;
    tok_split(tok, &h, &p, &sg);
    json_t *hdr = tok_seg_json(h);
    assert_int_equal(json_object_size(hdr), 4);
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), att_alg_name(alg));
    assert_string_equal(json_string_value(json_object_get(hdr, "jku")), JKU);
    assert_string_equal(json_string_value(json_object_get(hdr, "kid")), att_signer_kid(s));
    assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
    json_decref(hdr);
    /* Header and claims are compact with sorted keys, "/" unescaped. */
    uint8_t *raw;
    size_t rawlen;
    assert_true(att_b64_decode(h, strlen(h), false, &raw, &rawlen));
    char want[512];
    snprintf(want, sizeof want, "{\"alg\":\"%s\",\"jku\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
             att_alg_name(alg), JKU, att_signer_kid(s));
    assert_string_equal((char *)raw, want);
    free(raw);
    assert_true(att_b64_decode(p, strlen(p), false, &raw, &rawlen));
    assert_string_equal((char *)raw,
                        "{\"exp\":1751356800,\"iat\":1751328000,\"iss\":\"" ISSUER "\","
                        "\"nbf\":1751328000,\"nonce\":\"caf\xc3\xa9/\\\"x\\\"\","
                        "\"x-ms-sgx-collateral\":{\"tcbinfohash\":\"ab\"},"
                        "\"x-ms-sgx-is-debuggable\":false,\"x-ms-ver\":\"1.0\"}");
    free(raw);
    /* Signature size. */
    assert_true(att_b64_decode(sg, strlen(sg), false, &raw, &rawlen));
    assert_int_equal(rawlen, alg == ATT_ALG_ES256 ? 64 : 256);
    free(raw);
    free(h);
    free(p);
    free(sg);

    /* Independent verifiers. */
    assert_true(jose_verifies(tok, k.cert));
    assert_true(jose_verifies_with_our_jwk(tok, k.cert));
    jose_signs_we_verify(k.key, k.cert, alg);
    if (alg == ATT_ALG_RS256)
        assert_true(openssl_cli_verifies(tok, k.cert, false));
    if (alg == ATT_ALG_PS256) {
        assert_true(openssl_cli_verifies(tok, k.cert, true));
        assert_false(openssl_cli_verifies(tok, k.cert, false)); /* it is not PKCS#1 v1.5 */
    }
    if (alg == ATT_ALG_ES256)
        assert_true(es256_raw_verifies(tok, k.cert));

    /* Our verifier, with the key given (tokens carry no x5c). */
    att_jws_t j;
    X509 *keys[] = {k.cert};
    att_jws_opts_t o = {.keys = keys, .n_keys = 1};
    assert_int_equal(att_jws_verify(tok, strlen(tok), &o, &j, &d), ATT_OK);
    assert_int_equal(j.alg, alg);
    assert_true(json_equal(j.claims, claims));
    assert_int_equal(X509_cmp(j.signer, k.cert), 0);
    assert_null(j.x5c);
    att_jws_clear(&j);

    /* No jku: omitted from the header. */
    char *tok2;
    assert_int_equal(att_jwt_sign(s, NULL, claims, &tok2, &d), ATT_OK);
    tok_split(tok2, &h, &p, &sg);
    hdr = tok_seg_json(h);
    assert_null(json_object_get(hdr, "jku"));
    assert_int_equal(json_object_size(hdr), 3);
    json_decref(hdr);
    free(h);
    free(p);
    free(sg);
    free(tok2);

    free(tok);
    json_decref(claims);
    att_signer_free(ps);
    tok_key_free(&k);
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

/* RS256 is deterministic: two signatures of the same claims are identical; PS256 and ES256
 * are randomised. */
static void test_determinism(void **state)
{
    (void)state;
    tok_key_t r, e;
    tok_key_make(&r, ATT_ALG_RS256);
    tok_key_make(&e, ATT_ALG_ES256);
    json_t *c = sample_claims();
    att_diag_t d;
    char *a, *b;
    assert_int_equal(att_jwt_sign(r.signer, JKU, c, &a, &d), ATT_OK);
    assert_int_equal(att_jwt_sign(r.signer, JKU, c, &b, &d), ATT_OK);
    assert_string_equal(a, b);
    free(a);
    free(b);
    assert_int_equal(att_jwt_sign(e.signer, JKU, c, &a, &d), ATT_OK);
    assert_int_equal(att_jwt_sign(e.signer, JKU, c, &b, &d), ATT_OK);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
    json_decref(c);
    tok_key_free(&r);
    tok_key_free(&e);
}

static void test_jws_sign_header(void **state)
{
    (void)state;
    tok_key_t k;
    tok_key_make(&k, ATT_ALG_ES256);
    att_diag_t d;
    /* A signed policy as the SDKs build it: x5c in the header; a caller's alg is overridden. */
    json_t *jwk = att_jwk_from_cert(k.cert, &d);
    json_t *hdr = json_pack("{s:s, s:O}", "alg", "HS256", "x5c", json_object_get(jwk, "x5c"));
    const char *payload = "{\"AttestationPolicy\":\"dmVyc2lvbj0gMS4wOw\"}";
    char *tok;
    assert_int_equal(
        att_jws_sign(k.signer, hdr, (const uint8_t *)payload, strlen(payload), &tok, &d), ATT_OK);
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "HS256"); /* untouched */
    att_jws_t j;
    assert_int_equal(att_jws_verify(tok, strlen(tok), NULL, &j, &d), ATT_OK);
    assert_string_equal(json_string_value(json_object_get(j.header, "alg")), "ES256");
    assert_int_equal(j.payload_len, strlen(payload));
    assert_string_equal((char *)j.payload, payload);
    assert_string_equal(json_string_value(json_object_get(j.claims, "AttestationPolicy")),
                        "dmVyc2lvbj0gMS4wOw");
    assert_int_equal(sk_X509_num(j.x5c), 1);
    assert_int_equal(X509_cmp(j.signer, k.cert), 0);
    att_jws_clear(&j);
    assert_true(jose_verifies(tok, k.cert));
    free(tok);

    /* Empty payload (policy reset), NULL header. */
    assert_int_equal(att_jws_sign(k.signer, NULL, NULL, 0, &tok, &d), ATT_OK);
    X509 *keys[] = {k.cert};
    att_jws_opts_t o = {.keys = keys, .n_keys = 1};
    assert_int_equal(att_jws_verify(tok, strlen(tok), &o, &j, &d), ATT_OK);
    assert_int_equal(j.payload_len, 0);
    assert_null(j.claims);
    att_jws_clear(&j);
    free(tok);

    /* Argument errors. */
    tok = (char *)1;
    assert_int_equal(att_jws_sign(NULL, hdr, NULL, 0, &tok, &d), ATT_E_ARG);
    assert_null(tok);
    json_t *arr = json_array();
    assert_int_equal(att_jws_sign(k.signer, arr, NULL, 0, &tok, &d), ATT_E_ARG);
    assert_int_equal(att_jwt_sign(k.signer, JKU, arr, &tok, &d), ATT_E_ARG);
    assert_int_equal(att_jwt_sign(k.signer, JKU, NULL, &tok, &d), ATT_E_ARG);
    json_decref(arr);
    json_t *badutf8 = json_pack("{s:o}", "x", json_string_nocheck("\xff"));
    assert_int_equal(att_jwt_sign(k.signer, JKU, badutf8, &tok, &d), ATT_E_ARG);
    assert_null(tok);
    json_decref(badutf8);
    json_decref(hdr);
    json_decref(jwk);
    tok_key_free(&k);
}

static void test_unsigned(void **state)
{
    (void)state;
    const char *payload = "{\"AttestationPolicy\":\"eA\"}";
    char *t = att_jws_unsigned((const uint8_t *)payload, strlen(payload));
    assert_non_null(t);
    assert_int_equal(strncmp(t, "eyJhbGciOiJub25lIn0.", 20), 0);
    assert_int_equal(t[strlen(t) - 1], '.');
    json_t *hdr = tok_seg_json("eyJhbGciOiJub25lIn0");
    json_t *want = json_pack("{s:s}", "alg", "none");
    assert_true(json_equal(hdr, want));
    json_decref(hdr);
    json_decref(want);
    att_jws_t j;
    att_diag_t d;
    att_jws_opts_t o = {.allow_unsigned = true};
    assert_int_equal(att_jws_verify(t, strlen(t), &o, &j, &d), ATT_OK);
    assert_int_equal(j.alg, ATT_ALG_NONE);
    assert_null(j.signer);
    assert_string_equal((char *)j.payload, payload);
    att_jws_clear(&j);
    free(t);
    /* Reset body: empty payload. */
    t = att_jws_unsigned(NULL, 0);
    assert_string_equal(t, "eyJhbGciOiJub25lIn0..");
    free(t);
}

/* ---- 4 threads, one signer ---------------------------------------------------------------- */

typedef struct {
    const att_signer_t *s;
    X509 *cert;
    int id;
    int failures;
} thr_arg_t;

#define PER_THREAD 40

static void *thr_main(void *p)
{
    thr_arg_t *a = p;
    for (int i = 0; i < PER_THREAD; i++) {
        json_t *c = json_pack("{s:i, s:i}", "thread", a->id, "i", i);
        char *tok = NULL;
        att_diag_t d;
        att_jws_t j;
        X509 *keys[] = {a->cert};
        att_jws_opts_t o = {.keys = keys, .n_keys = 1};
        if (att_jwt_sign(a->s, JKU, c, &tok, &d) != ATT_OK ||
            att_jws_verify(tok, strlen(tok), &o, &j, &d) != ATT_OK)
            a->failures++;
        else if (!json_equal(j.claims, c))
            a->failures++;
        else
            att_jws_clear(&j);
        free(tok);
        json_decref(c);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    for (int alg = ATT_ALG_RS256; alg <= ATT_ALG_ES256; alg += 2) {
        tok_key_t k;
        tok_key_make(&k, (att_alg_t)alg);
        pthread_t t[4];
        thr_arg_t a[4];
        for (int i = 0; i < 4; i++) {
            a[i] = (thr_arg_t){.s = k.signer, .cert = k.cert, .id = i};
            assert_int_equal(pthread_create(&t[i], NULL, thr_main, &a[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            assert_int_equal(pthread_join(t[i], NULL), 0);
            assert_int_equal(a[i].failures, 0);
        }
        tok_key_free(&k);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rs256),           cmocka_unit_test(test_ps256),
        cmocka_unit_test(test_es256),           cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_jws_sign_header), cmocka_unit_test(test_unsigned),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
