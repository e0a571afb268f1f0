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
 *   - on failure a check is named, the diag code equals the returned code and the message is
 *     NUL-terminated;
 *   - a token the relying party accepts also verifies with att_jws_verify against the same two
 *     certificates, with the same alg (two implementations of the signature check agree).
 * Seed corpus: tests/fuzz/corpus/rp/, written by this target itself:
 *   FUZZ_MAKE_SEEDS=tests/fuzz/corpus/rp build-fuzz/bin/fuzz_rp -runs=0
 * (valid ES256, RS256 and PS256 tokens; expired, not yet valid, wrong issuer, unknown kid,
 * alg none and HS256 ones).
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

/* A token signed with key `key` and alg; kid is the certificate's unless `kid` is given. */
static void seed(const char *dir, const char *name, int key, att_alg_t alg, const char *kid,
                 const char *iss, long long exp, long long nbf)
{
    att_diag_t d;
    att_signer_t *s = att_signer_new(g_keys[key], g_certs[key], alg, &d);
    json_t *h = json_pack("{s:s,s:s,s:s,s:s}", "alg", att_alg_name(alg), "typ", "JWT", "jku",
                          FUZZ_ISSUER "/certs", "kid", kid ? kid : (s ? att_signer_kid(s) : ""));
    json_t *c = json_pack("{s:s,s:I,s:I,s:s,s:b,s:s}", "iss", iss, "exp", exp, "iat",
                          (json_int_t)FUZZ_NOW - 60, "nonce", FUZZ_NONCE, "x-ms-sgx-is-debuggable",
                          0, "x-ms-attestation-type", "sgx");
    if (nbf)
        json_object_set_new(c, "nbf", json_integer(nbf));
    char *payload = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    char *out = NULL;
    if (s == NULL || payload == NULL ||
        att_jws_sign(s, h, (const uint8_t *)payload, strlen(payload), &out, &d) != ATT_OK) {
        fprintf(stderr, "fuzz_rp: signing failed: %s\n", d.msg);
        exit(1);
    }
    fuzz_write_seed(dir, name, out);
    free(out);
    free(payload);
    json_decref(c);
    json_decref(h);
    att_signer_free(s);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *token = (const char *)data;
    att_rp_check_t checks[3] = {
        {0}, {.nonce = FUZZ_NONCE}, {.nonce = FUZZ_NONCE, .expect = &g_expect, .n_expect = 1}};
    const att_rp_check_t *c = size % 3 == 0 ? NULL : &checks[size % 3];
    att_rp_result_t r;
    att_err_t e = att_rp_verify(g_rp, token, size, c, FUZZ_NOW, &r);
    if (g_verbose)
        fprintf(stderr, "fuzz_rp: %s (check %s): %s\n", att_err_name(e), r.check ? r.check : "-",
                r.diag.msg);

    if (r.claims != NULL)
        FUZZ_CHECK(r.signature_ok, "claims returned without a verified signature");
    if (e != ATT_OK) {
        FUZZ_CHECK(r.check != NULL, "%s without a failed check", att_err_name(e));
        FUZZ_CHECK(r.diag.code == e, "returned %s, diag %s", att_err_name(e),
                   att_err_name(r.diag.code));
        FUZZ_CHECK(memchr(r.diag.msg, 0, sizeof r.diag.msg) != NULL, "message not terminated");
    } else {
        FUZZ_CHECK(r.signature_ok, "ATT_OK without signature_ok");
        FUZZ_CHECK(r.check == NULL && r.diag.code == ATT_OK, "ATT_OK with a failed check %s",
                   r.check);
        FUZZ_CHECK(r.alg == ATT_ALG_RS256 || r.alg == ATT_ALG_PS256 || r.alg == ATT_ALG_ES256,
                   "accepted alg %s", att_alg_name(r.alg));
        FUZZ_CHECK(json_is_object(r.claims), "ATT_OK without claims");
        const char *iss = json_string_value(json_object_get(r.claims, "iss"));
        FUZZ_CHECK(iss != NULL && strcmp(iss, FUZZ_ISSUER) == 0, "accepted iss %s",
                   iss ? iss : "(none)");
        json_t *exp = json_object_get(r.claims, "exp");
        FUZZ_CHECK(json_is_number(exp) && json_number_value(exp) + 60 > (double)FUZZ_NOW,
                   "accepted an expired token or one without exp");
        if (c != NULL && c->nonce != NULL) {
            const char *n = json_string_value(json_object_get(r.claims, "nonce"));
            FUZZ_CHECK(n != NULL && strcmp(n, FUZZ_NONCE) == 0, "accepted nonce %s",
                       n ? n : "(none)");
        }
        if (c != NULL && c->n_expect > 0)
            FUZZ_CHECK(json_equal(json_object_get(r.claims, g_expect.name), g_expect.value),
                       "accepted without the expected claim");
        /* The library's generic JWS verifier must agree on the signature. */
        att_jws_opts_t ko = {.keys = g_certs, .n_keys = 2};
        att_jws_t j = {0};
        att_diag_t d;
        att_err_t je = att_jws_verify(token, size, &ko, &j, &d);
        FUZZ_CHECK(je == ATT_OK && j.alg == r.alg, "att_rp_verify accepted, att_jws_verify %s: %s",
                   att_err_name(je), d.msg);
        att_jws_clear(&j);
    }
    att_rp_result_clear(&r);
    return 0;
}
