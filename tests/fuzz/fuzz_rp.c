/* fuzz_rp.c - libFuzzer target: the relying party's token verification (att_rp_verify).
 *
 * One att_rp_t for the issuer https://fuzz.attestd.test is made at start-up, with a JWKS of the
 * two fixed certificates of fuzz_keys.h (EC P-256 and RSA-2048) loaded by att_rp_load_jwks and a
 * fetch hook that always fails (no network: an unknown kid's refetch fails at once). Each input
 * is a token, verified at the fixed time 2026-01-01T00:00:00Z. The input's length picks the
 * checks asked for: none, a nonce, or a nonce and an expected claim
 * (x-ms-sgx-is-debuggable == false).
 * Invariants checked (abort = crash for libFuzzer):
 *   - ATT_OK implies signature_ok, no failed check, claims that are an object with "iss" the
 *     issuer, an "exp" after now (within the 60 s skew), an allowed alg, and the nonce and
 *     expected claim when asked for;
 *   - claims are only returned once the signature verified;
 *   - on failure a check is named (one of the names attest/rp.h lists, still readable), the
 *     diag code equals the returned code and the message is NUL-terminated;
 *   - a token the relying party accepts also verifies with att_jws_verify against the same two
 *     certificates, with the same alg (two implementations of the signature check agree).
 *   - ATT_OK implies exp, nbf and iat (when present) are NumericDates from 0 to 253402300799.
 * An input that starts with '{' and holds a '\n' is a JWKS (up to the '\n') and a token: a
 * fresh att_rp_t loads that JWKS (att_rp_load_jwks) and verifies the token with it. Then also:
 *   - at most one key per kid is kept: att_rp_key_count() <= the number of distinct kids, and
 *     0 for a JWKS that does not load (more than 64 keys, not a JWKS);
 *   - ATT_OK implies a JWK with the header's kid that fits the alg: EC for ES256, or RSA with
 *     2048-8192 bits and an odd 65537 <= e < 2^32 (a key with e = 1, 3, an even or a huge e
 *     never verifies anything).
 * Seed corpus: tests/fuzz/corpus/rp/, written by this target itself:
 *   FUZZ_MAKE_SEEDS=tests/fuzz/corpus/rp build-fuzz/bin/fuzz_rp -runs=0
 * (valid ES256, RS256 and PS256 tokens; expired, not yet valid, wrong issuer, unknown kid,
 * alg none and HS256 ones; exp 2^63 and 2^63-1, exp as a string, nbf -1, iat 1e300, nbf past
 * year 9999; JWKS + token: 64 keys sharing one kid with 2048-bit exponents, the usable key last
 * or absent; e = 1 with a token forged for it; e = 3 and an even e).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/rp.h"
#include "fuzz_keys.h"
#include "fuzz_common.h"

#define FUZZ_ISSUER "https://fuzz.attestd.test"
#define FUZZ_NONCE  "fuzz-nonce"
#define FUZZ_NOW    1767225600 /* 2026-01-01T00:00:00Z */

static X509 *g_certs[2]; /* EC, RSA */
static EVP_PKEY *g_keys[2];
static att_rp_t *g_rp;
static att_rp_expect_t g_expect;
static int g_verbose; /* FUZZ_VERBOSE=1: print each verdict */

static att_err_t no_fetch(void *arg, const char *url, char **body, size_t *len, att_diag_t *diag)
{
    (void)arg;
    (void)body;
    (void)len;
    return att_diag_set(diag, ATT_E_FETCH, "fuzz_rp: no network (%s)", url);
}

/* A token over the payload text, signed with key `key` and alg; kid is the certificate's
 * unless `kid` is given (malloc'd). */
static char *sign_raw(int key, att_alg_t alg, const char *kid, const char *payload)
{
    att_diag_t d;
    att_signer_t *s = att_signer_new(g_keys[key], g_certs[key], alg, &d);
    json_t *h = json_pack("{s:s,s:s,s:s,s:s}", "alg", att_alg_name(alg), "typ", "JWT", "jku",
                          FUZZ_ISSUER "/certs", "kid", kid ? kid : (s ? att_signer_kid(s) : ""));
    char *out = NULL;
    if (s == NULL || payload == NULL ||
        att_jws_sign(s, h, (const uint8_t *)payload, strlen(payload), &out, &d) != ATT_OK) {
        fprintf(stderr, "fuzz_rp: signing failed: %s\n", d.msg);
        exit(1);
    }
    json_decref(h);
    att_signer_free(s);
    return out;
}

static char *token(int key, att_alg_t alg, const char *kid, const char *iss, long long exp,
                   long long nbf)
{
    json_t *c = json_pack("{s:s,s:I,s:I,s:s,s:b,s:s}", "iss", iss, "exp", exp, "iat",
                          (json_int_t)FUZZ_NOW - 60, "nonce", FUZZ_NONCE, "x-ms-sgx-is-debuggable",
                          0, "x-ms-attestation-type", "sgx");
    if (nbf)
        json_object_set_new(c, "nbf", json_integer(nbf));
    char *payload = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    char *out = sign_raw(key, alg, kid, payload);
    free(payload);
    json_decref(c);
    return out;
}

static void seed(const char *dir, const char *name, int key, att_alg_t alg, const char *kid,
                 const char *iss, long long exp, long long nbf)
{
    char *t = token(key, alg, kid, iss, exp, nbf);
    fuzz_write_seed(dir, name, t);
    free(t);
}

/* A token by the fixed RSA key (RS256) over a payload with these time claims (JSON text). */
static void seed_times(const char *dir, const char *name, const char *times)
{
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"" FUZZ_ISSUER "\",\"nonce\":\"" FUZZ_NONCE "\","
             "\"x-ms-sgx-is-debuggable\":false,%s}",
             times);
    char *t = sign_raw(1, ATT_ALG_RS256, NULL, payload);
    fuzz_write_seed(dir, name, t);
    free(t);
}

/* An RSA JWK (kid, the fixed modulus, exponent e as base64url) appended to keys. */
static void add_rsa_jwk(json_t *keys, const char *kid, const char *n, const char *e)
{
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "use", "sig",
                                          "kid", kid, "n", n, "e", e));
}

/* A JWKS-mode seed: the JWKS on one line, '\n', the token. */
static void seed_jwks(const char *dir, const char *name, json_t *keys, const char *tok)
{
    json_t *doc = json_pack("{s:O}", "keys", keys);
    char *text = json_dumps(doc, JSON_COMPACT);
    size_t n = strlen(text) + strlen(tok) + 2;
    char *all = malloc(n);
    snprintf(all, n, "%s\n%s", text, tok);
    fuzz_write_seed(dir, name, all);
    free(all);
    free(text);
    json_decref(doc);
}

/* Attack shapes (issues 10.6, 10.11, 18.B7, 18.B8). */
static void make_attack_seeds(const char *dir)
{
    /* time claims out of range or of the wrong type */
    seed_times(dir, "exp-2p63.jwt", "\"exp\":9223372036854775808");
    seed_times(dir, "exp-2p63-minus-1.jwt", "\"exp\":9223372036854775807");
    seed_times(dir, "exp-string.jwt", "\"exp\":\"1767229200\"");
    seed_times(dir, "nbf-negative.jwt", "\"exp\":1767229200,\"nbf\":-1");
    seed_times(dir, "iat-1e300.jwt", "\"exp\":1767229200,\"iat\":1e300");
    seed_times(dir, "nbf-year-10000.jwt", "\"exp\":1767229200,\"nbf\":253402300800");

    char *n = fuzz_rsa_n_b64(g_keys[1]);
    uint8_t big[256]; /* a 2048-bit odd exponent: as costly as the modulus, if it were used */
    memset(big, 0xff, sizeof big);
    char *huge = att_b64url_encode(big, sizeof big);
    char *rs = token(1, ATT_ALG_RS256, "k", FUZZ_ISSUER, FUZZ_NOW + 3600, 0);
    /* 64 keys sharing kid "k": 63 with the huge exponent, then the real key (kept: the first
     * usable one), or 64 huge ones (no key for "k") */
    json_t *keys = json_array();
    for (int i = 0; i < 63; i++)
        add_rsa_jwk(keys, "k", n, huge);
    add_rsa_jwk(keys, "k", n, "AQAB");
    seed_jwks(dir, "jwks-64-same-kid-huge-e-real-last", keys, rs);
    json_array_remove(keys, 63);
    add_rsa_jwk(keys, "k", n, huge);
    seed_jwks(dir, "jwks-64-same-kid-huge-e", keys, rs);
    json_decref(keys);
    /* e = 1 and a token "signed" for it: the signature is the padded digest itself (the real
     * key beside it, under another kid, so that the JWKS loads) */
    keys = json_array();
    add_rsa_jwk(keys, "e1", n, "AQ");
    add_rsa_jwk(keys, "k", n, "AQAB");
    char *forged = fuzz_rs256_for_e1(
        g_keys[1], "{\"alg\":\"RS256\",\"kid\":\"e1\",\"typ\":\"JWT\"}",
        "{\"iss\":\"" FUZZ_ISSUER "\",\"exp\":1767229200,\"nonce\":\"" FUZZ_NONCE "\","
        "\"x-ms-sgx-is-debuggable\":false}");
    seed_jwks(dir, "jwks-e1-forged", keys, forged);
    json_decref(keys);
    /* e = 3 and an even e (65538) beside the real key, a genuine token for each kid */
    keys = json_array();
    add_rsa_jwk(keys, "e3", n, "Aw");
    add_rsa_jwk(keys, "even", n, "AQAC");
    add_rsa_jwk(keys, "k", n, "AQAB");
    char *e3 = token(1, ATT_ALG_RS256, "e3", FUZZ_ISSUER, FUZZ_NOW + 3600, 0);
    seed_jwks(dir, "jwks-e3-even-real", keys, e3);
    json_decref(keys);
    free(e3);
    free(forged);
    free(rs);
    free(huge);
    free(n);
}

static void make_seeds(const char *dir)
{
    long long now = FUZZ_NOW;
    seed(dir, "es256.jwt", 0, ATT_ALG_ES256, NULL, FUZZ_ISSUER, now + 3600, now - 60);
    seed(dir, "rs256.jwt", 1, ATT_ALG_RS256, NULL, FUZZ_ISSUER, now + 3600, 0);
    seed(dir, "ps256.jwt", 1, ATT_ALG_PS256, NULL, FUZZ_ISSUER, now + 28800, now);
    seed(dir, "expired.jwt", 0, ATT_ALG_ES256, NULL, FUZZ_ISSUER, now - 3600, 0);
    seed(dir, "not-yet-valid.jwt", 0, ATT_ALG_ES256, NULL, FUZZ_ISSUER, now + 7200, now + 3600);
    seed(dir, "wrong-issuer.jwt", 1, ATT_ALG_RS256, NULL, "https://evil.test", now + 3600, 0);
    seed(dir, "unknown-kid.jwt", 0, ATT_ALG_ES256, "not-a-kid", FUZZ_ISSUER, now + 3600, 0);
    char *none =
        att_jws_unsigned((const uint8_t *)"{\"iss\":\"" FUZZ_ISSUER "\",\"exp\":1767229200}",
                         strlen("{\"iss\":\"" FUZZ_ISSUER "\",\"exp\":1767229200}"));
    fuzz_write_seed(dir, "none.jwt", none);
    free(none);
    fuzz_write_seed(dir, "hs256.jwt", "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsifQ.e30.c2ln");
    make_attack_seeds(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_load_keys(g_certs, g_keys);
    g_verbose = getenv("FUZZ_VERBOSE") != NULL;
    const char *seeds = getenv("FUZZ_MAKE_SEEDS");
    if (seeds != NULL && *seeds != 0) {
        make_seeds(seeds);
        fprintf(stderr, "fuzz_rp: seeds written to %s\n", seeds);
        exit(0);
    }
    att_diag_t d = {0};
    att_rp_opts_t o = {.issuer = FUZZ_ISSUER, .jwks_uri = FUZZ_ISSUER "/certs", .fetch = no_fetch};
    g_rp = att_rp_new(&o, &d);
    json_t *jwks = att_jwks_new();
    char *text = NULL;
    if (g_rp == NULL || jwks == NULL || att_jwks_add(jwks, g_certs[0], &d) != ATT_OK ||
        att_jwks_add(jwks, g_certs[1], &d) != ATT_OK ||
        (text = json_dumps(jwks, JSON_COMPACT)) == NULL ||
        att_rp_load_jwks(g_rp, text, strlen(text), FUZZ_NOW, &d) != ATT_OK ||
        att_rp_key_count(g_rp) != 2 ||
        att_rp_expect_parse("x-ms-sgx-is-debuggable=false", &g_expect, &d) != ATT_OK) {
        fprintf(stderr, "fuzz_rp: cannot set up the relying party: %s\n", d.msg);
        exit(1);
    }
    free(text);
    json_decref(jwks);
    return 0;
}

#define FUZZ_NUMERICDATE_MAX 253402300799.0

/* claims[name] is a NumericDate in range (absent allowed unless required). */
static bool numericdate_ok(json_t *claims, const char *name, bool required)
{
    json_t *v = json_object_get(claims, name);
    if (v == NULL)
        return !required;
    return json_is_number(v) && json_number_value(v) >= 0 &&
           json_number_value(v) <= FUZZ_NUMERICDATE_MAX;
}

/* The number of distinct string kids of the JWKS's keys (doc["keys"] has at most 64). */
static size_t distinct_kids(json_t *keys)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(keys); i++) {
        const char *kid = json_string_value(json_object_get(json_array_get(keys, i), "kid"));
        if (kid == NULL)
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            const char *k = json_string_value(json_object_get(json_array_get(keys, j), "kid"));
            seen = k != NULL && strcmp(k, kid) == 0;
        }
        n += !seen;
    }
    return n;
}

/* A base64url JWK member as a BIGNUM (NULL if absent or not base64url). */
static BIGNUM *jwk_bn(json_t *jwk, const char *name)
{
    const char *v = json_string_value(json_object_get(jwk, name));
    uint8_t *b = NULL;
    size_t n = 0;
    if (v == NULL || !att_b64_decode(v, strlen(v), false, &b, &n))
        return NULL;
    BIGNUM *r = BN_bin2bn(b, (int)n, NULL);
    free(b);
    return r;
}

/* Some JWK with this kid fits alg: EC for ES256, an acceptable RSA key for RS256 / PS256. */
static bool jwk_fits(json_t *keys, const char *kid, att_alg_t alg)
{
    for (size_t i = 0; kid != NULL && i < json_array_size(keys); i++) {
        json_t *jwk = json_array_get(keys, i);
        const char *k = json_string_value(json_object_get(jwk, "kid"));
        const char *kty = json_string_value(json_object_get(jwk, "kty"));
        if (k == NULL || kty == NULL || strcmp(k, kid) != 0)
            continue;
        if (alg == ATT_ALG_ES256 && strcmp(kty, "EC") == 0)
            return true;
        if ((alg == ATT_ALG_RS256 || alg == ATT_ALG_PS256) && strcmp(kty, "RSA") == 0) {
            BIGNUM *n = jwk_bn(jwk, "n"), *e = jwk_bn(jwk, "e");
            bool ok = fuzz_rsa_acceptable(n, e);
            BN_free(n);
            BN_free(e);
            if (ok)
                return true;
        }
    }
    return false;
}

/* The invariants of one verification (fixed: the start-up JWKS, else one from the input). */
static void check_result(att_rp_t *rp, const char *token, size_t size, const att_rp_check_t *c,
                         att_err_t e, const att_rp_result_t *r, bool fixed)
{
    (void)rp;
    if (r->claims != NULL)
        FUZZ_CHECK(r->signature_ok, "claims returned without a verified signature");
    if (e != ATT_OK) {
        FUZZ_CHECK(r->check != NULL, "%s without a failed check", att_err_name(e));
        /* one of the names attest/rp.h lists, readable until att_rp_result_clear (ASan sees a
         * check name that points into freed memory) */
        static const char *const names[] = {"format", "alg", "jwks", "kid", "signature", "iss",
                                            "aud",    "exp", "nbf",  "iat", "nonce",     "claim"};
        bool known = false;
        for (size_t i = 0; i < sizeof names / sizeof names[0] && !known; i++)
            known = strcmp(r->check, names[i]) == 0;
        FUZZ_CHECK(known, "failed check \"%s\" is not one attest/rp.h lists", r->check);
        FUZZ_CHECK(r->diag.code == e, "returned %s, diag %s", att_err_name(e),
                   att_err_name(r->diag.code));
        FUZZ_CHECK(memchr(r->diag.msg, 0, sizeof r->diag.msg) != NULL, "message not terminated");
        return;
    }
    FUZZ_CHECK(r->signature_ok, "ATT_OK without signature_ok");
    FUZZ_CHECK(r->check == NULL && r->diag.code == ATT_OK, "ATT_OK with a failed check %s",
               r->check);
    FUZZ_CHECK(r->alg == ATT_ALG_RS256 || r->alg == ATT_ALG_PS256 || r->alg == ATT_ALG_ES256,
               "accepted alg %s", att_alg_name(r->alg));
    FUZZ_CHECK(json_is_object(r->claims), "ATT_OK without claims");
    const char *iss = json_string_value(json_object_get(r->claims, "iss"));
    FUZZ_CHECK(iss != NULL && strcmp(iss, FUZZ_ISSUER) == 0, "accepted iss %s",
               iss ? iss : "(none)");
    json_t *exp = json_object_get(r->claims, "exp");
    FUZZ_CHECK(json_is_number(exp) && json_number_value(exp) + 60 > (double)FUZZ_NOW,
               "accepted an expired token or one without exp");
    FUZZ_CHECK(numericdate_ok(r->claims, "exp", true) && numericdate_ok(r->claims, "nbf", false) &&
                   numericdate_ok(r->claims, "iat", false),
               "accepted exp/nbf/iat that is not a NumericDate from 0 to 253402300799");
    if (c != NULL && c->nonce != NULL) {
        const char *n = json_string_value(json_object_get(r->claims, "nonce"));
        FUZZ_CHECK(n != NULL && strcmp(n, FUZZ_NONCE) == 0, "accepted nonce %s", n ? n : "(none)");
    }
    if (c != NULL && c->n_expect > 0)
        FUZZ_CHECK(json_equal(json_object_get(r->claims, g_expect.name), g_expect.value),
                   "accepted without the expected claim");
    if (!fixed)
        return;
    /* The library's generic JWS verifier must agree on the signature. */
    att_jws_opts_t ko = {.keys = g_certs, .n_keys = 2};
    att_jws_t j = {0};
    att_diag_t d;
    att_err_t je = att_jws_verify(token, size, &ko, &j, &d);
    FUZZ_CHECK(je == ATT_OK && j.alg == r->alg, "att_rp_verify accepted, att_jws_verify %s: %s",
               att_err_name(je), d.msg);
    att_jws_clear(&j);
}

/* JWKS mode: "{...JWKS...}\n<token>" verified by a relying party holding that JWKS only. */
static void one_jwks(const char *jwks, size_t jlen, const char *token, size_t tlen,
                     const att_rp_check_t *c)
{
    att_diag_t d = {0};
    att_rp_opts_t o = {.issuer = FUZZ_ISSUER, .jwks_uri = FUZZ_ISSUER "/certs", .fetch = no_fetch};
    att_rp_t *rp = att_rp_new(&o, &d);
    FUZZ_CHECK(rp != NULL, "att_rp_new: %s", d.msg);
    att_err_t le = att_rp_load_jwks(rp, jwks, jlen, FUZZ_NOW, &d);
    json_t *doc = json_loadb(jwks, jlen, JSON_REJECT_DUPLICATES, NULL);
    json_t *keys = json_object_get(doc, "keys");
    size_t count = att_rp_key_count(rp);
    if (le != ATT_OK || json_array_size(keys) > 64)
        FUZZ_CHECK(count == 0, "%zu keys kept from a JWKS that did not load (%s)", count,
                   att_err_name(le));
    else
        FUZZ_CHECK(count <= distinct_kids(keys), "%zu keys kept for %zu distinct kids", count,
                   distinct_kids(keys));
    att_rp_result_t r;
    att_err_t e = att_rp_verify(rp, token, tlen, c, FUZZ_NOW, &r);
    if (g_verbose)
        fprintf(stderr, "fuzz_rp: JWKS %s, %zu keys; %s (check %s): %s\n", att_err_name(le), count,
                att_err_name(e), r.check ? r.check : "-", r.diag.msg);
    check_result(rp, token, tlen, c, e, &r, false);
    if (e == ATT_OK) {
        const char *kid = json_string_value(json_object_get(r.header, "kid"));
        FUZZ_CHECK(jwk_fits(keys, kid, r.alg),
                   "accepted a %s token for kid %s without an acceptable JWK of that kid "
                   "(a weak RSA exponent or size?)",
                   att_alg_name(r.alg), kid ? kid : "(none)");
    }
    att_rp_result_clear(&r);
    json_decref(doc);
    att_rp_free(rp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *token = (const char *)data;
    att_rp_check_t checks[3] = {
        {0}, {.nonce = FUZZ_NONCE}, {.nonce = FUZZ_NONCE, .expect = &g_expect, .n_expect = 1}};
    const att_rp_check_t *c = size % 3 == 0 ? NULL : &checks[size % 3];
    const uint8_t *nl = size > 0 && data[0] == '{' ? memchr(data, '\n', size) : NULL;
    if (nl != NULL) {
        size_t jlen = (size_t)(nl - data);
        one_jwks(token, jlen, token + jlen + 1, size - jlen - 1, c);
        return 0;
    }
    att_rp_result_t r;
    att_err_t e = att_rp_verify(g_rp, token, size, c, FUZZ_NOW, &r);
    if (g_verbose)
        fprintf(stderr, "fuzz_rp: %s (check %s): %s\n", att_err_name(e), r.check ? r.check : "-",
                r.diag.msg);
    check_result(g_rp, token, size, c, e, &r, true);
    att_rp_result_clear(&r);
    return 0;
}
