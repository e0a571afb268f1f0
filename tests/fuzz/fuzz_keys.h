/* fuzz_keys.h - fixed key material for the JWS and relying-party fuzzers (fuzz_jws.c,
 * fuzz_rp.c). The keys are test-only and public: they exist so that the seed tokens in
 * tests/fuzz/corpus/{jws,rp}/ carry valid signatures that the fuzzers can verify, run after run.
 * Made with: openssl ecparam -name prime256v1 -genkey | openssl pkcs8 -topk8 -nocrypt;
 * openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048; certificates self-signed with
 * openssl req -new -x509 -days 36500 -sha256.
 * Also the helpers that build the attack-shaped seeds (issues 10, 18): an RSA key that takes the
 * fixed modulus with another exponent (e = 1: a "signature" that is the padded digest itself
 * verifies under it), and the oracle that an accepted RSA key has a sane exponent and size. */
#ifndef ATT_FUZZ_KEYS_H
#define ATT_FUZZ_KEYS_H

#ifndef ATT_FUZZ_NAME
#define ATT_FUZZ_NAME "fuzz"
#endif

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/token.h"

static const char fuzz_ec_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgk5LWcjxfwHMdYyy8\n"
    "6H0/75aHpNVMNJfT9U6fPySwLpmhRANCAASX4GZmkSOyKIaS7Ghp8+ubne4ovxif\n"
    "4uugT5ygbg7BzfWP9aYulQ49q8NnKA+8zn0d+gv6CGmoRfoY/3OPNi3s\n"
    "-----END PRIVATE KEY-----\n";

static const char fuzz_ec_cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBnjCCAUWgAwIBAgIUHf3bIiSwp5bypDSx5Xut00/JiU8wCgYIKoZIzj0EAwIw\n"
    "JDEiMCAGA1UEAwwZaHR0cHM6Ly9mdXp6LmF0dGVzdGQudGVzdDAgFw0yNjExMjMw\n"
    "NTU2MjBaGA8yMTI2MTAzMDA1NTYyMFowJDEiMCAGA1UEAwwZaHR0cHM6Ly9mdXp6\n"
    "LmF0dGVzdGQudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJfgZmaRI7Io\n"
    "hpLsaGnz65ud7ii/GJ/i66BPnKBuDsHN9Y/1pi6VDj2rw2coD7zOfR36C/oIaahF\n"
    "+hj/c482LeyjUzBRMB0GA1UdDgQWBBQ+6bpBCeCzrO52U3shjLzSQkv2HzAfBgNV\n"
    "HSMEGDAWgBQ+6bpBCeCzrO52U3shjLzSQkv2HzAPBgNVHRMBAf8EBTADAQH/MAoG\n"
    "CCqGSM49BAMCA0cAMEQCIA3Jlw0v18n9gFZBF2aBemQJs2jTaXnJgHAh5v30XLdk\n"
    "AiAdEQhNnmegiWSoWjGd8pl9p2xo3TSM3n0ct+lFm5QkAg==\n"
    "-----END CERTIFICATE-----\n";

static const char fuzz_rsa_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDKCELDsLDoRKU5\n"
    "vRdfJV0TPrC1be1XHJMtijCLLlRpsuAun1uO6rjQeHqJZqFlaqLbHV4Xw6gUS1UR\n"
    "CY/SqI5n4G4d8eWI9+ejJAirc23df1OPNqDHTnQbF+KgTgmWh46eF/djricIwQ1N\n"
    "RiNs19Xhjkjoa/nUZB03f4WPv9IP1OCwW8WvWcBoTVelfGDyg55ejAI8609k6d1P\n"
    "INzm26GS+Yor6X1AUfehalwSv83yBrpMf0nN4EvNea8VUjIppUCvcQ78KweIGiDO\n"
    "C0xNO+LTSxAgJEDfoEdlg8RYoE7BYYbT4W3zHuCS2R0shBzon7S3ZUdhmPXwxG/F\n"
    "UprXhALDAgMBAAECggEAWgMqM+PyPdnvv3TXB+YuvNdOhdcPSqOJk12hWTFwHJO8\n"
    "vCj18wvzAbbb6YHXYMcM/hDsjiv3I+uYX/nhoVrF79QXW7IdsVO6WX5Bepn4FhqX\n"
    "kRQmuAXlRvjyWLfMH8wPp7JH35qE+6p/kbExMVpMia0KILuS2KUuOz7OtAgjwDct\n"
    "iSIme/xNulR33XHBpaemEibKrlOtaHCxfhcpAfYpppfxOHPg1SiOp/xc/twe1VdN\n"
    "Q7oEmaaxjvJOudU9ADt/x6bun00lRXQA/SIO3wCdVProRE4+VDw3mfFtSX6JrcmT\n"
    "ZC3G2LAsK2z3cn049YOhGpkYde9cwUpyRoduvj3f6QKBgQD8tzpfp0ngqVYY+dRx\n"
    "YnUHgwguvYEfAJXf4H8/4QQdOAml2YC/d+oCvftd5hvatTU/UqI2NNCctmj1zGyp\n"
    "cGZgDOJhDgBgUZCj0h0bBe5LwhmWTQG1XM6pxHQMGnEnLo1fCHhaaFx1DZ4vOcgo\n"
    "Bdp7vXXooSjgQ/gC9/3+6XjepwKBgQDMqGlbLR1wkckZo0BZDrnjvaMDa16MV/cS\n"
    "yp9FiBkVTOdslyvSoaaQ/xO7oK9eNrBMlB16q65CLPD0GGv+JD9lB9CZaZruu4Bb\n"
    "gkX0UW8YpPvO7aJnTB9yEjjoM49C9csNpLxiWSu1kJmwXJ8L5NNZqMXzyfO4sxMB\n"
    "rpFz39W6hQKBgQCoDD+o89lQp8o0+YyniU1BHYUHb8S5FO6U3PhBRiQyOd1Qh/3x\n"
    "VJAsGqFYo3fKS82Iui5b1WsTisjpCnMHiVLKdEblOyZM5nBEP6hTG/KGNiBFrheA\n"
    "vqI+igCRO9Qatf4UP9GobNVukQurY8URuDK9LhOGCgTgfNIjRz2DkUVq6QKBgQCd\n"
    "EdvaKCPiE2FeFdb7ArxUN2T26N6lo5VyjKP0f2GQ4Xbz9omhnILz4XDJnac6DYr9\n"
    "GugND9or28YJ8PxhDnzBE2BbfZt1Ad6fXLpHqoAzT9waknMECH5R0/5s57VZ1L7E\n"
    "d9xFNt6++H2bx1ohjLtQoqFaW3J8HKPHtKzZW77y6QKBgQDK93octWzOk0aqLzRa\n"
    "3rKSjycV1xe53Rpujp3UtlWeq2zzhdYlWySjNIhNyiuNJQ5UAAVsaN4g/9wQoU0w\n"
    "Iua10ENkttYPelBxGjp/dJdmLRCHRqzoXFH5uLoi6ufyGmgjzZc3P9LmySSdcSum\n"
    "vRZGDQkQU8WbA+1NrMBvwEG0Sg==\n"
    "-----END PRIVATE KEY-----\n";

static const char fuzz_rsa_cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIDGzCCAgOgAwIBAgIUUwmoo3a6kZNTLChN1Juo44xx/dowDQYJKoZIhvcNAQEL\n"
    "BQAwHDEaMBgGA1UEAwwRZnV6ei5hdHRlc3RkLnRlc3QwIBcNMjYxMTIzMDU1NjIw\n"
    "WhgPMjEyNjEwMzAwNTU2MjBaMBwxGjAYBgNVBAMMEWZ1enouYXR0ZXN0ZC50ZXN0\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyghCw7Cw6ESlOb0XXyVd\n"
    "Ez6wtW3tVxyTLYowiy5UabLgLp9bjuq40Hh6iWahZWqi2x1eF8OoFEtVEQmP0qiO\n"
    "Z+BuHfHliPfnoyQIq3Nt3X9Tjzagx050GxfioE4JloeOnhf3Y64nCMENTUYjbNfV\n"
    "4Y5I6Gv51GQdN3+Fj7/SD9TgsFvFr1nAaE1XpXxg8oOeXowCPOtPZOndTyDc5tuh\n"
    "kvmKK+l9QFH3oWpcEr/N8ga6TH9JzeBLzXmvFVIyKaVAr3EO/CsHiBogzgtMTTvi\n"
    "00sQICRA36BHZYPEWKBOwWGG0+Ft8x7gktkdLIQc6J+0t2VHYZj18MRvxVKa14QC\n"
    "wwIDAQABo1MwUTAdBgNVHQ4EFgQUU7kXMpmdFkaOMNiYGozOG6GzLGswHwYDVR0j\n"
    "BBgwFoAUU7kXMpmdFkaOMNiYGozOG6GzLGswDwYDVR0TAQH/BAUwAwEB/zANBgkq\n"
    "hkiG9w0BAQsFAAOCAQEAqcG18qVqc0Y4X+kfgC9omfQhUSwls2z7GG8LkcOQSWhO\n"
    "/j60DBQif70BhiqnDcg40noyJOkWZJOqekkcgK0F9DJroQnk7yPNVRCBeGRWbaZG\n"
    "g87WsPLFFQgijz0Qa6Kjtufp7+Uwojh+wiMn32kHLl4vJ7Ni+lNQbQl98n5DKt/o\n"
    "WioFY371YBdXW0kCRXPUWPI+SzAF/rfJJl73VqsL7qtJTcNIyO2y4jmjobO+h7+M\n"
    "nn5+xHHX5FXJ6z0VumJzrcq/3rKDJ6ifVF+KWq5AtzOadp0LGQaXyQXrWL2XwTrn\n"
    "hjx0RjQJ3ym7+KBeHf0zQ2NjF5AAGn47NZqHMiiS8A==\n"
    "-----END CERTIFICATE-----\n";

static inline X509 *fuzz_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

static inline EVP_PKEY *fuzz_key(const char *pem)
{
    return att_key_from_pem(pem, strlen(pem));
}

/* The fixed certificates and keys, EC then RSA; exits if one does not load. */
static inline void fuzz_load_keys(X509 *certs[2], EVP_PKEY *keys[2])
{
    certs[0] = fuzz_cert(fuzz_ec_cert_pem);
    certs[1] = fuzz_cert(fuzz_rsa_cert_pem);
    keys[0] = fuzz_key(fuzz_ec_key_pem);
    keys[1] = fuzz_key(fuzz_rsa_key_pem);
    if (certs[0] == NULL || certs[1] == NULL || keys[0] == NULL || keys[1] == NULL) {
        fprintf(stderr, "%s: cannot load the fixed keys\n", ATT_FUZZ_NAME);
        exit(1);
    }
}

/* A seed file DIR/NAME holding `text` (FUZZ_MAKE_SEEDS runs); exits if it cannot be written. */
static inline void fuzz_write_seed(const char *dir, const char *name, const char *text)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write %s\n", ATT_FUZZ_NAME, path);
        exit(1);
    }
}

/* The RSA key rules the library enforces before any use of a key (src/lib/token/sign.c
 * att_token_rsa_weak): 2048-8192 bits, an odd public exponent with 65537 <= e < 2^32. */
static inline bool fuzz_rsa_acceptable(const BIGNUM *n, const BIGNUM *e)
{
    return n != NULL && e != NULL && BN_num_bits(n) >= 2048 && BN_num_bits(n) <= 8192 &&
           BN_is_odd(e) && BN_num_bits(e) <= 32 && BN_get_word(e) >= 65537;
}

static inline bool fuzz_rsa_key_acceptable(EVP_PKEY *k)
{
    BIGNUM *n = NULL, *e = NULL;
    bool ok = k != NULL && EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA &&
              EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
              EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e) == 1 && fuzz_rsa_acceptable(n, e);
    BN_free(n);
    BN_free(e);
    return ok;
}

/* base64url of a BIGNUM's big-endian bytes (malloc'd). */
static inline char *fuzz_bn_b64(const BIGNUM *b)
{
    int n = BN_num_bytes(b);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL || BN_bn2bin(b, buf) != n) {
        fprintf(stderr, "%s: BN_bn2bin failed\n", ATT_FUZZ_NAME);
        exit(1);
    }
    char *out = att_b64url_encode(buf, (size_t)n);
    free(buf);
    return out;
}

/* The fixed RSA key's modulus, base64url (malloc'd). */
static inline char *fuzz_rsa_n_b64(EVP_PKEY *rsa)
{
    BIGNUM *n = NULL;
    if (EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &n) != 1) {
        fprintf(stderr, "%s: no RSA modulus\n", ATT_FUZZ_NAME);
        exit(1);
    }
    char *out = fuzz_bn_b64(n);
    BN_free(n);
    return out;
}

/* A public key with the fixed RSA key's modulus and exponent e (OpenSSL builds it without
 * checking e: what an attacker's JWK or certificate can carry). */
static inline EVP_PKEY *fuzz_rsa_with_e(EVP_PKEY *rsa, unsigned long e)
{
    BIGNUM *n = NULL, *be = BN_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *out = NULL;
    if (be == NULL || bld == NULL || ctx == NULL ||
        EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &n) != 1 || !BN_set_word(be, e) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &out, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        fprintf(stderr, "%s: cannot build an RSA key with e = %lu\n", ATT_FUZZ_NAME, e);
        exit(1);
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(n);
    BN_free(be);
    return out;
}

/* A compact RS256 JWS over header.payload "signed" for the fixed modulus with e = 1: its
 * signature is the EMSA-PKCS1-v1_5 encoding of SHA-256(signing input) itself (s^1 = EM), which
 * verifies under such a key (malloc'd). */
static inline char *fuzz_rs256_for_e1(EVP_PKEY *rsa, const char *header, const char *payload)
{
    static const unsigned char digest_info[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                0x01, 0x05, 0x00, 0x04, 0x20};
    char *h = att_b64url_encode((const uint8_t *)header, strlen(header));
    char *p = att_b64url_encode((const uint8_t *)payload, strlen(payload));
    size_t k = (size_t)EVP_PKEY_get_size(rsa), in_len = strlen(h) + 1 + strlen(p);
    char *in = malloc(in_len + 1);
    unsigned char *em = malloc(k);
    if (h == NULL || p == NULL || in == NULL || em == NULL || k < 64) {
        fprintf(stderr, "%s: out of memory\n", ATT_FUZZ_NAME);
        exit(1);
    }
    snprintf(in, in_len + 1, "%s.%s", h, p);
    size_t t = sizeof digest_info + 32;
    em[0] = 0x00;
    em[1] = 0x01;
    memset(em + 2, 0xff, k - t - 3);
    em[k - t - 1] = 0x00;
    memcpy(em + k - t, digest_info, sizeof digest_info);
    unsigned int dl = 32;
    EVP_Digest(in, in_len, em + k - 32, &dl, EVP_sha256(), NULL);
    char *sig = att_b64url_encode(em, k);
    char *out = malloc(in_len + strlen(sig) + 2);
    sprintf(out, "%s.%s", in, sig);
    free(h);
    free(p);
    free(in);
    free(em);
    free(sig);
    return out;
}

#endif
