/* attest/rp.h - relying party: verify attestation tokens with the issuer's published keys.
 *
 *   att_diag_t d;
 *   att_rp_t *rp = att_rp_new(&(att_rp_opts_t){.issuer = "https://attest.example"}, &d);
 *   if (rp == NULL || att_rp_refresh(rp, time(NULL), &d) != ATT_OK) ...   // once, at start
 *   ...                                                                    // per request, any
 * thread: att_rp_result_t r; att_rp_check_t c = {.nonce = my_nonce}; if (att_rp_verify(rp, token,
 * token_len, &c, time(NULL), &r) != ATT_OK) log("token rejected by %s check: %s: %s", r.check,
 * att_err_name(r.diag.code), r.diag.msg); else use(json_object_get(r.claims,
 * "x-ms-sgx-mrenclave")); att_rp_result_clear(&r); att_rp_free(rp);
 *
 * Checked, in order: compact JWS form; header (a JSON object, no duplicate members, no "crit");
 * alg in the allow-list (RS256, PS256, ES256 by default; "none" and every HMAC refused); the key
 * chosen by the header's "kid" from the issuer's JWKS only (found through OpenID discovery at
 * <issuer>/.well-known/openid-configuration, or configured) - one refetch on an unknown kid,
 * rate-limited; key type fits alg (RSA: 2048-8192 bits, odd e with 65537 <= e < 2^32; EC:
 * P-256); signature; "iss" equals the issuer; "aud" (if configured); "exp" (required), "nbf"
 * and "iat" are NumericDates (numbers of seconds from 0 to 253402300799), exp and nbf against
 * `now` with bounded skew; "nonce" and expected claims when asked for.
 *
 * Key fetches are single-flight and never block a token whose kid is known: at most one fetch
 * per verifier at a time, on its own thread, with one overall deadline; a token that needs its
 * result (no keys yet, unknown kid) waits for it (at most max_waiters do; others fail at once);
 * a new fetch starts at most once per refetch_interval after a fetch, and not within
 * fail_backoff after a failure; a key set older than max_age is still used while its refresh
 * runs in the background. Discovery and JWKS fetches follow no redirects, and never go from
 * https to http.
 *
 * NOT checked or used: the token's own "jku", "x5u", "jwk" and "x5c" headers (ignored: a key
 * is never taken from the token); the certificate chain in the JWKS's x5c (the JWKS is trusted
 * because it came from the issuer over the configured URL - use https); "iat", "jti" (replay
 * protection is the caller's: use a fresh nonce per attestation); "typ"; what the claims mean
 * for your application (TCB status, debug mode...: check them with `expect`).
 */
#ifndef ATTEST_RP_H
#define ATTEST_RP_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/token.h"
#include "attest/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fetch `url` (GET) into a malloc'd *body (NUL-terminated) of *len bytes; a non-200 answer is an
 * error. Replaces libcurl (tests, offline use, a caller's own HTTP stack). */
typedef att_err_t (*att_rp_fetch_fn)(void *arg, const char *url, char **body, size_t *len,
                                     att_diag_t *diag);

#define ATT_RP_SKEW_NONE (-1) /* opts.skew: no clock skew allowed at all */

typedef struct {
    const char *issuer;      /* required: the exact "iss" of tokens, base URL of discovery */
    const char *audience;    /* optional: "aud" must be, or contain, this string */
    const char *jwks_uri;    /* optional: use this JWKS URL, no discovery */
    bool allow_foreign_jwks; /* accept a discovered jwks_uri on another origin than the issuer */
    const att_alg_t *algs;   /* allowed algs (default RS256, PS256, ES256) */
    size_t n_algs;
    int64_t skew;             /* seconds allowed around exp/nbf (0: 60; ATT_RP_SKEW_NONE: 0) */
    long timeout_ms;          /* one deadline for a whole key fetch, discovery and JWKS
                               * together (0: 10000) */
    int64_t refetch_interval; /* seconds: after a fetch, an unknown kid starts no new fetch for
                               * this long (0: 30) */
    int64_t fail_backoff;     /* seconds: after a failed fetch, none for this long (0: 60) */
    int64_t max_age;          /* seconds a fetched JWKS is used before a background refresh
                               * (0: 3600) */
    unsigned max_waiters;     /* requests that may wait for the fetch in flight; more fail at
                               * once with ATT_E_JWKS (0: 4) */
    att_rp_fetch_fn fetch;    /* optional fetch hook (default: libcurl) */
    void *fetch_arg;
} att_rp_opts_t;

typedef struct att_rp att_rp_t;

/* A verifier for one issuer. No network access here: keys are fetched by att_rp_refresh or by the
 * first att_rp_verify. Returns NULL (diag says why) on a missing issuer or a bad option. */
ATT_API att_rp_t *att_rp_new(const att_rp_opts_t *opts, att_diag_t *diag);
ATT_API void att_rp_free(att_rp_t *rp);

/* Fetch discovery and JWKS now (ignores the rate limit). ATT_E_JWKS on failure; keys fetched
 * before remain in use. Thread-safe. */
ATT_API att_err_t att_rp_refresh(att_rp_t *rp, att_time_t now, att_diag_t *diag) ATT_WUR;
/* Use this JWKS (JSON text) as if fetched at `now` (offline verification, benchmarks). */
ATT_API att_err_t att_rp_load_jwks(att_rp_t *rp, const char *json, size_t len, att_time_t now,
                                   att_diag_t *diag) ATT_WUR;
/* Number of keys usable in the current JWKS (0 before any fetch). */
ATT_API size_t att_rp_key_count(att_rp_t *rp);

/* An expected claim: the top-level claim `name` must be json_equal to `value`. */
typedef struct {
    const char *name;
    json_t *value;
} att_rp_expect_t;

/* "name=value" -> expectation: value is read as JSON if it parses as JSON (true, 3, "s",
 * {"a":1}), else taken as a string (so x-ms-sgx-mrenclave=33d8... works unquoted). The caller
 * frees name and value with att_rp_expect_clear. */
ATT_API att_err_t att_rp_expect_parse(const char *spec, att_rp_expect_t *out,
                                      att_diag_t *diag) ATT_WUR;
ATT_API void att_rp_expect_clear(att_rp_expect_t *e);

typedef struct {
    const char *nonce;             /* optional: claim "nonce" must equal it */
    const att_rp_expect_t *expect; /* optional: every one must hold */
    size_t n_expect;
} att_rp_check_t;

typedef struct {
    att_diag_t diag;   /* ATT_OK, or the code and a message naming the check and values */
    const char *check; /* failed check: "format", "alg", "jwks", "kid", "signature", "iss",
                        * "aud", "exp", "nbf", "iat", "nonce", "claim"; NULL when valid */
    json_t *header;    /* the protected header, once parsed (also on failure: not trusted) */
    json_t *claims;    /* the claims: set when valid, or when the signature verified but a
                        * claim check failed (then authentic but not acceptable) */
    att_alg_t alg;     /* alg of the header once accepted */
    bool signature_ok; /* the signature verified with a key of the issuer's JWKS */
} att_rp_result_t;

/* Verify `token` (compact JWS; surrounding whitespace ignored) at time `now`. Returns ATT_OK
 * and fills *r (caller calls att_rp_result_clear in every case). Errors: ATT_E_JWS_FORMAT,
 * ATT_E_JWS_ALG, ATT_E_JWS_UNSIGNED, ATT_E_JWKS, ATT_E_JWS_KID, ATT_E_JWS_SIGNATURE,
 * ATT_E_TOKEN_CLAIM (iss, aud, nonce, expected claims, missing exp), ATT_E_TOKEN_EXPIRED,
 * ATT_E_TOKEN_NOT_YET_VALID. c may be NULL. Thread-safe; keys are built once per JWK and shared
 * read-only; an unknown kid triggers at most one JWKS fetch per refetch_interval. */
ATT_API att_err_t att_rp_verify(att_rp_t *rp, const char *token, size_t len,
                                const att_rp_check_t *c, att_time_t now,
                                att_rp_result_t *r) ATT_WUR;
ATT_API void att_rp_result_clear(att_rp_result_t *r);

#ifdef __cplusplus
}
#endif
#endif
