/* tok.h - helpers shared by the token tests (header-only, static functions). */
#ifndef ATT_TEST_TOK_H
#define ATT_TEST_TOK_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/token.h"

#define NOW    ((att_time_t)1751328000) /* 2025-07-01T00:00:00Z */
#define ISSUER "https://attest.example.test"
#define JKU    ISSUER "/certs"

typedef struct {
    EVP_PKEY *key;
    X509 *cert;
    att_signer_t *signer;
} tok_key_t;

static inline void tok_key_make(tok_key_t *k, att_alg_t alg)
{
    att_diag_t d;
    memset(k, 0, sizeof *k);
    assert_int_equal(att_key_generate(alg, &k->key, &d), ATT_OK);
    assert_int_equal(att_cert_self_signed(k->key, ISSUER, 365 * 86400, NOW, &k->cert, &d), ATT_OK);
    k->signer = att_signer_new(k->key, k->cert, alg, &d);
    assert_non_null(k->signer);
}

static inline void tok_key_free(tok_key_t *k)
{
    att_signer_free(k->signer);
    X509_free(k->cert);
    EVP_PKEY_free(k->key);
    memset(k, 0, sizeof *k);
}

/* Split a compact JWS into malloc'd copies of its three segments. */
static inline void tok_split(const char *jws, char **h, char **p, char **s)
{
    const char *d1 = strchr(jws, '.');
    assert_non_null(d1);
    const char *d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    *h = strndup(jws, (size_t)(d1 - jws));
    *p = strndup(d1 + 1, (size_t)(d2 - d1 - 1));
    *s = strdup(d2 + 1);
}

/* h "." p "." s, malloc'd. */
static inline char *tok_join(const char *h, const char *p, const char *s)
{
    size_t n = strlen(h) + strlen(p) + strlen(s) + 3;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%s.%s.%s", h, p, s);
    return out;
}

/* Decode one b64url segment as JSON. */
static inline json_t *tok_seg_json(const char *seg)
{
    uint8_t *buf;
    size_t len;
    assert_true(att_b64_decode(seg, strlen(seg), false, &buf, &len));
    json_t *j = json_loadb((const char *)buf, len, 0, NULL);
    free(buf);
    assert_non_null(j);
    return j;
}

#endif
