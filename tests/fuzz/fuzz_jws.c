/* fuzz_jws.c - libFuzzer target: compact JWS parsing and verification (att_jws_verify), as used
 * for policies, policy-management requests and tokens.
 *
 * Each input is JWS text. It is verified three ways: signed only with the key of the header's
 * x5c[0] (opts NULL), with allow_unsigned on, and signed only against a fixed set of two
 * certificates (the EC P-256 and RSA-2048 certificates of fuzz_keys.h).
 * Invariants checked (abort = crash for libFuzzer):
 *   - with allow_unsigned off, a result is never accepted unsigned: ATT_OK implies an alg other
 *     than none and a signer certificate;
 *   - with the fixed keys, an accepted JWS's signer is one of those two certificates;
 *   - an unsigned JWS accepted with allow_unsigned on has no signer and no x5c chain;
 *   - whatever verifies signed-only also verifies with allow_unsigned on, with the same alg and
 *     the same payload;
 *   - on failure the result is empty, the diag code equals the returned code and the message is
 *     NUL-terminated; on success the payload is NUL-terminated and claims, when set, are an object;
 *   - an accepted RS256 / PS256 signer has an RSA key of 2048-8192 bits with an odd public
 *     exponent 65537 <= e < 2^32 (e = 1 would make the padded digest itself a signature).
 * Seed corpus: tests/fuzz/corpus/jws/, written by this target itself:
 *   FUZZ_MAKE_SEEDS=tests/fuzz/corpus/jws build-fuzz/bin/fuzz_jws -runs=0
 * (ES256, RS256 and PS256 tokens signed with the fixed keys, with and without x5c, unsigned
 * policy JWSs, a JSON string-wrapped JWS, alg none with a signature; attack shapes: an x5c
 * certificate whose RSA key has e = 1 with a token forged for it, and signed tokens whose exp
 * is 2^63 or a string and whose nbf / iat are out of range).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/token.h"
#include "fuzz_keys.h"
#include "fuzz_common.h"

static X509 *g_certs[2]; /* EC, RSA */
static EVP_PKEY *g_keys[2];
static int g_verbose; /* FUZZ_VERBOSE=1: print the three verdicts */

/* A signed JWS with the given header members (alg, kid added) over `payload`. */
static char *sign(int key, att_alg_t alg, bool x5c, const char *payload)
{
    att_diag_t d;
    att_signer_t *s = att_signer_new(g_keys[key], g_certs[key], alg, &d);
    json_t *h = json_pack("{s:s,s:s,s:s}", "alg", att_alg_name(alg), "typ", "JWT", "kid",
                          s ? att_signer_kid(s) : "");
    if (x5c) {
        json_t *jwk = att_jwk_from_cert(g_certs[key], &d);
        json_object_set(h, "x5c", json_object_get(jwk, "x5c"));
        json_decref(jwk);
    }
    char *out = NULL;
    if (s == NULL ||
        att_jws_sign(s, h, (const uint8_t *)payload, strlen(payload), &out, &d) != ATT_OK) {
        fprintf(stderr, "fuzz_jws: signing failed: %s\n", d.msg);
        exit(1);
    }
    json_decref(h);
    att_signer_free(s);
    return out;
}

/* A certificate for the fixed RSA modulus with e = 1, issued by the fixed EC key (what a
 * forger can put in x5c: no library refuses to encode it). */
static X509 *cert_e1(void)
{
    EVP_PKEY *pub = fuzz_rsa_with_e(g_keys[1], 1);
    X509 *x = X509_new();
    X509_NAME *nm = X509_NAME_new();
    if (x == NULL || nm == NULL ||
        !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"e1", -1, -1,
                                    0) ||
        !X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
        !X509_set_subject_name(x, nm) || !X509_set_issuer_name(x, nm) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650) || !X509_set_pubkey(x, pub) ||
        !X509_sign(x, g_keys[0], EVP_sha256())) {
        fprintf(stderr, "fuzz_jws: cannot make the e = 1 certificate\n");
        exit(1);
    }
    X509_NAME_free(nm);
    EVP_PKEY_free(pub);
    return x;
}

/* Attack shapes (issues 10.6, 10.11, 18.B7). */
static void make_attack_seeds(const char *dir)
{
    /* e = 1 in x5c[0] and a token whose "signature" is the padded digest itself */
    X509 *x = cert_e1();
    unsigned char *der = NULL;
    int dl = i2d_X509(x, &der);
    char *b64 = dl > 0 ? att_b64std_encode(der, (size_t)dl) : NULL;
    if (b64 == NULL) {
        fprintf(stderr, "fuzz_jws: cannot encode the e = 1 certificate\n");
        exit(1);
    }
    size_t hn = strlen(b64) + 64;
    char *hdr = malloc(hn);
    snprintf(hdr, hn, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5c\":[\"%s\"]}", b64);
    char *t = fuzz_rs256_for_e1(g_keys[1], hdr,
                                "{\"iss\":\"https://fuzz.attestd.test\",\"exp\":1767229200}");
    fuzz_write_seed(dir, "rs256-e1-x5c-forged.jws", t);
    free(t);
    free(hdr);
    free(b64);
    OPENSSL_free(der);
    X509_free(x);
    /* signed tokens with time claims out of range or of the wrong type */
    static const char *const times[][2] = {
        {"es256-exp-2p63.jws",
         "{\"iss\":\"https://fuzz.attestd.test\",\"exp\":9223372036854775808}"},
        {"es256-exp-string.jws", "{\"iss\":\"https://fuzz.attestd.test\",\"exp\":\"1767229200\"}"},
        {"rs256-nbf-iat-out-of-range.jws",
         "{\"iss\":\"https://fuzz.attestd.test\",\"exp\":9223372036854775807,\"nbf\":-1,"
         "\"iat\":1e300}"},
    };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        int key = times[i][0][0] == 'r';
        t = sign(key, key ? ATT_ALG_RS256 : ATT_ALG_ES256, true, times[i][1]);
        fuzz_write_seed(dir, times[i][0], t);
        free(t);
    }
}

static void make_seeds(const char *dir)
{
    static const char claims[] =
        "{\"iss\":\"https://fuzz.attestd.test\",\"exp\":1767229200,\"nonce\":\"n\","
        "\"x-ms-sgx-mrsigner\":"
        "\"815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6\"}";
    static const char policy[] =
        "{\"AttestationPolicy\":\"dmVyc2lvbj0xLjA7IGF1dGhvcml6YXRpb25ydWxlcyB7ID0-IHBlcm1pdCgpOyB9"
        "OyBpc3N1YW5jZXJ1bGVzIHsgfTs\"}";
    char *t;
    fuzz_write_seed(dir, "es256-x5c.jws", t = sign(0, ATT_ALG_ES256, true, claims));
    free(t);
    fuzz_write_seed(dir, "es256.jws", t = sign(0, ATT_ALG_ES256, false, claims));
    free(t);
    fuzz_write_seed(dir, "rs256-x5c.jws", t = sign(1, ATT_ALG_RS256, true, claims));
    free(t);
    fuzz_write_seed(dir, "ps256.jws", t = sign(1, ATT_ALG_PS256, false, policy));
    free(t);
    t = sign(0, ATT_ALG_ES256, true, policy);
    char *q = malloc(strlen(t) + 8);
    sprintf(q, " \"%s\"\n", t); /* a JSON string literal wrapper, whitespace around */
    fuzz_write_seed(dir, "es256-policy-quoted.jws", q);
    free(q);
    free(t);
    fuzz_write_seed(dir, "none-policy.jws",
                    t = att_jws_unsigned((const uint8_t *)policy, strlen(policy)));
    char *ns = malloc(strlen(t) + 8);
    sprintf(ns, "%sAAAA", t); /* alg none with a signature */
    fuzz_write_seed(dir, "none-with-signature.jws", ns);
    free(ns);
    free(t);
    fuzz_write_seed(dir, "hs256.jws", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln");
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
        fprintf(stderr, "fuzz_jws: seeds written to %s\n", seeds);
        exit(0);
    }
    return 0;
}

static void check(const char *what, att_err_t e, const att_jws_t *j, const att_diag_t *d)
{
    if (e != ATT_OK) {
        FUZZ_CHECK(d->code == e, "%s: returned %s, diag %s", what, att_err_name(e),
                   att_err_name(d->code));
        FUZZ_CHECK(memchr(d->msg, 0, sizeof d->msg) != NULL, "%s: message not terminated", what);
        FUZZ_CHECK(j->header == NULL && j->payload == NULL && j->claims == NULL &&
                       j->signer == NULL && j->x5c == NULL,
                   "%s: a failed verification left a result", what);
        return;
    }
    FUZZ_CHECK(json_is_object(j->header), "%s: accepted without a header object", what);
    FUZZ_CHECK(j->payload != NULL && j->payload[j->payload_len] == 0,
               "%s: payload missing or not terminated", what);
    FUZZ_CHECK(j->claims == NULL || json_is_object(j->claims), "%s: claims not an object", what);
    if (j->alg == ATT_ALG_RS256 || j->alg == ATT_ALG_PS256)
        FUZZ_CHECK(j->signer != NULL && fuzz_rsa_key_acceptable(X509_get0_pubkey(j->signer)),
                   "%s: accepted %s with an RSA key whose size or exponent is refused elsewhere",
                   what, att_alg_name(j->alg));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    att_diag_t d1, d2, d3;
    att_jws_t signed_only = {0}, lax = {0}, keyed = {0};

    /* 1. Signed only, key from x5c[0]. */
    att_err_t e1 = att_jws_verify(text, size, NULL, &signed_only, &d1);
    check("signed only", e1, &signed_only, &d1);
    if (e1 == ATT_OK)
        FUZZ_CHECK(signed_only.alg != ATT_ALG_NONE && signed_only.signer != NULL,
                   "accepted unsigned with allow_unsigned off (alg %s)",
                   att_alg_name(signed_only.alg));

    /* 2. allow_unsigned on. */
    att_jws_opts_t lo = {.allow_unsigned = true};
    att_err_t e2 = att_jws_verify(text, size, &lo, &lax, &d2);
    check("allow_unsigned", e2, &lax, &d2);
    if (e2 == ATT_OK && lax.alg == ATT_ALG_NONE)
        FUZZ_CHECK(lax.signer == NULL && lax.x5c == NULL, "unsigned JWS with a signer or x5c");
    if (e2 == ATT_OK && lax.alg != ATT_ALG_NONE)
        FUZZ_CHECK(lax.signer != NULL, "signed JWS accepted without a signer");
    if (e1 == ATT_OK) {
        FUZZ_CHECK(e2 == ATT_OK, "signed-only accepted, allow_unsigned %s", att_err_name(e2));
        FUZZ_CHECK(lax.alg == signed_only.alg && lax.payload_len == signed_only.payload_len &&
                       memcmp(lax.payload, signed_only.payload, lax.payload_len) == 0 &&
                       X509_cmp(lax.signer, signed_only.signer) == 0,
                   "signed-only and allow_unsigned results differ");
    }

    /* 3. Signed only, against the fixed certificates. */
    att_jws_opts_t ko = {.allow_unsigned = false, .keys = g_certs, .n_keys = 2};
    att_err_t e3 = att_jws_verify(text, size, &ko, &keyed, &d3);
    check("fixed keys", e3, &keyed, &d3);
    if (e3 == ATT_OK) {
        FUZZ_CHECK(keyed.alg != ATT_ALG_NONE && keyed.signer != NULL,
                   "accepted unsigned with allow_unsigned off and fixed keys");
        FUZZ_CHECK(X509_cmp(keyed.signer, g_certs[0]) == 0 ||
                       X509_cmp(keyed.signer, g_certs[1]) == 0,
                   "accepted with a signer that is not one of the given keys");
    }

    if (g_verbose)
        fprintf(stderr, "fuzz_jws: signed only %s, allow_unsigned %s, fixed keys %s\n",
                att_err_name(e1), att_err_name(e2), att_err_name(e3));
    att_jws_clear(&signed_only);
    att_jws_clear(&lax);
    att_jws_clear(&keyed);
    return 0;
}
