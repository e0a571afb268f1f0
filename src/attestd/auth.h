/* auth.h - bearer access tokens on attestd's routes: which caller may attest, read and change
 * policies and policy certificates.
 *
 *   att_auth_t *auth;                                       // NULL when no --auth-issuer: off
 *   if (att_auth_new(&cfg, metrics, NULL, NULL, &auth, &d) != ATT_OK) ...   // exit 1
 *   static void h_policy_set(att_http_req_t *req, void *arg) {
 *       if (!att_auth_require(auth, req, ATT_AUTH_ADMIN))  // answered 401 or 403
 *           return;
 *       ...
 *   }
 *   att_auth_free(auth);
 *
 * A token is taken from "Authorization: Bearer <JWT>". Its "iss", read from the still unverified
 * payload, only selects which configured issuer's verifier (att_rp, attest/rp.h) checks it; a
 * token naming any other issuer is refused without a network request. That verifier then checks
 * everything as for attestation tokens: alg allow-list (RS256, PS256, ES256), key by "kid" from
 * the issuer's JWKS only (OpenID discovery), signature, "iss", "aud" (string or array)
 * containing --auth-audience, "exp" (required), "nbf" and "iat" NumericDates in range, exp and
 * nbf with 60 s of skew against the wall clock - never --at, which judges evidence only. Then
 * the roles claim (--auth-roles-claim: a top-level claim of that exact name, else a dotted path;
 * a string of space-separated roles or an array of strings) must hold the role the route needs;
 * the admin role implies the reader role.
 *
 * Key fetches (att_rp, per issuer): single-flight on a thread of their own with one deadline
 * (--auth-jwks-timeout); a token whose kid is known never waits for one; a token that needs one
 * (no keys yet, unknown kid) waits for the fetch in flight only if fewer than
 * --auth-jwks-waiters requests already do, else it is refused at once; a new fetch starts at
 * most once per --auth-jwks-refetch after a fetch and not within --auth-jwks-backoff after a
 * failure. So an anonymous caller with invented kids costs at most one key fetch per issuer per
 * interval, and anonymous attestation and /healthz never wait on an identity provider.
 *
 * Answers: no token 401 Unauthorized with `WWW-Authenticate: Bearer realm="attestd"`; a token
 * refused 401 Unauthorized with `Bearer realm="attestd", error="invalid_token",
 * error_description="..."`; a valid token without the role 403 Forbidden naming the role
 * (`error="insufficient_scope"`). Failures are counted in attestd_auth_failures_total{reason}.
 *
 * NOT checked: "iat" against the clock, "jti" (no replay cache: access tokens are bearer tokens by
 * design), "azp"/"client_id", "scope" (unless it is the roles claim), "typ"; token revocation
 * (introspection); the TLS of issuer URLs beyond what libcurl checks (use https).
 */
#ifndef ATTESTD_AUTH_H
#define ATTESTD_AUTH_H

#include <stdbool.h>

#include "attest/rp.h"
#include "attest/types.h"
#include "config.h"
#include "http.h"
#include "metrics.h"

typedef struct att_auth att_auth_t;

typedef enum {
    ATT_AUTH_ATTEST, /* POST /attest/{type}: anonymous, or any valid token (--auth-attest required)
                      */
    ATT_AUTH_READ,   /* GET policies and certificates: the reader (or admin) role */
    ATT_AUTH_ADMIN,  /* change policies and certificates: the admin role */
} att_auth_need_t;

typedef struct {
    unsigned status;     /* 0 (allowed), 401 or 403 */
    const char *code;    /* "Unauthorized" or "Forbidden"; NULL when allowed */
    const char *reason;  /* short label: "missing", "scheme", "malformed", "issuer", "alg",
                          * "jwks", "kid", "signature", "audience", "expired", "not_yet_valid",
                          * "claims", "role"; NULL when allowed */
    att_err_t att_code;  /* the underlying check's code (ATT_E_JWS_SIGNATURE, ...) */
    char message[640];   /* the MAA error message */
    char challenge[512]; /* WWW-Authenticate value; "" when allowed */
    char sub[128];       /* when the token verified (allowed, or refused for its roles): its
                          * "sub", for the access log and the audit trail; else "" */
} att_auth_result_t;

/* Build the checker from cfg's --auth-* options: *out is NULL (and ATT_OK) when no issuer is
 * configured, so that every check allows. `metrics` (may be NULL) gets
 * attestd_auth_failures_total. `fetch` replaces libcurl for discovery and JWKS (tests; NULL:
 * libcurl). No network access here: keys are fetched by the first token of each issuer. */
att_err_t att_auth_new(const att_config_t *cfg, att_metrics_t *metrics, att_rp_fetch_fn fetch,
                       void *fetch_arg, att_auth_t **out, att_diag_t *d);
void att_auth_free(att_auth_t *auth);

/* Decide on the Authorization header value `authorization` (NULL: absent) at `now`. ATT_OK when
 * allowed (always with auth NULL); otherwise r says how to answer and the result is the
 * underlying code. Thread-safe. */
att_err_t att_auth_check_header(att_auth_t *auth, const char *authorization, att_auth_need_t need,
                                att_time_t now, att_auth_result_t *r) ATT_WUR;
/* The same for a request, at the wall clock. */
att_err_t att_auth_check(att_auth_t *auth, const att_http_req_t *req, att_auth_need_t need,
                         att_auth_result_t *r) ATT_WUR;
/* Check and, when refused, answer (MAA error with WWW-Authenticate), count the failure and
 * return false: the handler then returns without answering again. */
bool att_auth_require(att_auth_t *auth, att_http_req_t *req, att_auth_need_t need);
/* The same, and *r keeps the decision (who was allowed, or why not: for the audit trail). */
bool att_auth_require_r(att_auth_t *auth, att_http_req_t *req, att_auth_need_t need,
                        att_auth_result_t *r);

#endif
