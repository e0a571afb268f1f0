/* svc.h - attestd's domain logic, independent of HTTP: attest, policies, policy-management
 * certificates, metadata, signing keys. Each operation takes the request's parts and returns a
 * reply (HTTP status and JSON body, or MAA error code and message); http glue lives in routes.c.
 *
 *   att_svc_opts_t o = {.issuer = "http://127.0.0.1:8080", .data_dir = "var", ...};
 *   att_svc_t *svc; att_svc_new(&o, &svc, &d);
 *   att_svc_reply_t r; att_svc_attest(svc, "SgxEnclave", body, len, &r);   // {"token": ...}
 *   ... r.status, r.body ...; att_svc_reply_clear(&r);   // or r.code, r.message
 *
 * Not here: transport limits, routing, api-version checks, logging (http.c, routes.c, log.c).
 */
#ifndef ATTESTD_SVC_H
#define ATTESTD_SVC_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/evidence.h"
#include "attest/token.h"
#include "attest/types.h"
#include "metrics.h"

typedef struct {
    const char *issuer;             /* token iss, jku = issuer + "/certs" */
    const char *data_dir;           /* SQLite store directory, when store_url is NULL */
    const char *store_url;          /* store URL (att_store_open), e.g. "sqlite:var"; wins */
    const char *collateral_url;     /* PCS v4 base URL or NULL */
    const char *kds_url;            /* AMD KDS base URL or NULL */
    const char *collateral_dir;     /* offline collateral or NULL */
    const char *const *trust_roots; /* extra trust anchors (PEM/DER files) */
    size_t n_trust_roots;
    const char *const *tpm_aks; /* pinned TPM AK files (evidence key kind "tpm-ak") */
    size_t n_tpm_aks;
    const char *const *tpm_ak_cas, *const *tpm_ek_cas; /* kinds "tpm-ak-ca", "tpm-ek-ca" */
    size_t n_tpm_ak_cas, n_tpm_ek_cas;
    const char *const *tcb_baselines; /* --tcb-baseline TYPE=N (baselines.c) */
    size_t n_tcb_baselines;
    /* TPM budgets (evidence limits "tpm-max-..."; 0: the backend's default) */
    size_t tpm_max_log_bytes, tpm_max_events, tpm_max_event_size;
    size_t tpm_max_custom_claims, tpm_max_claim_bytes, tpm_max_chain;
    size_t tpm_ak_cache; /* AKs kept decoded ("tpm-ak-cache") */
    bool have_at;        /* clock override */
    att_time_t at;
    const char *isolated_signers; /* PEM file of policy signer certificates, or NULL */
    /* smallest RSA key that may sign a policy or be a policy management certificate
     * ("policy-signer-min-rsa-bits"; 0: ATT_POLICY_SIGNER_MIN_RSA_BITS) */
    unsigned policy_signer_min_rsa_bits;
    int64_t token_lifetime; /* seconds, default 28800 */
    att_alg_t alg;          /* signing algorithm, default RS256 */
    /* seconds a rotated key is published before it signs; < 0: the store's default (60 on a
     * store replicas share, 0 on SQLite) */
    int64_t key_publish_lead;
    /* KEK file: private keys sealed in the store (NULL: in clear); the KEK being replaced (keys
     * re-sealed); the pkcs11: URI of an HSM key that signs (NULL: keys in the store); the
     * PKCS#11 sessions that sign at once (0: 4) */
    const char *key_encryption_key, *key_encryption_key_old, *signing_key;
    unsigned signing_key_sessions;
    int64_t collateral_max_age;        /* seconds, 0 = until nextUpdate */
    int64_t collateral_timeout;        /* seconds: deadline of one collateral fetch (0: 10) */
    unsigned collateral_fetch_waiters; /* requests blocked on collateral fetches at once; more
                                        * get 503 at once (0: no bound) */
    unsigned collateral_fetch_rate;    /* collateral fetches started per second (0: 2) */
    int64_t collateral_backoff;        /* seconds without refetch after a failed fetch (0: 5) */
    int64_t collateral_backoff_max;    /* seconds, cap of its doubling (0: 300) */
    uint64_t policy_max_steps;  /* work budget of one policy evaluation (0: library default) */
    size_t policy_max_bytes;    /* size budget of one policy evaluation (0: library default) */
    int64_t policy_jws_max_age; /* seconds: signed requests need an iat this recent (0: off) */
    /* PCK chains kept ("cache-pck-chains"), collateral sets kept (att_collsrc_opts_t
     * max_entries), SEV-SNP VCEKs kept ("cache-snp-vcek"); 0: the defaults */
    size_t cache_pck_chains, cache_collateral, cache_snp_vcek;
} att_svc_opts_t;

typedef struct att_svc att_svc_t;

/* A handler's result. An answer (status < 400) is its JSON body; an error (status >= 400) is
 * its MAA code, our error name and its message as text, which the transport writes once in the
 * MAA error form {"error":{"code","message"}} (http.h att_http_error). */
typedef struct {
    int status;           /* HTTP status */
    json_t *body;         /* owned: the answer when status < 400; NULL for an error */
    const char *code;     /* MAA error code when status >= 400 ("InvalidParameter", ...) */
    const char *att_code; /* our error name (ATT_E_...) when there is one, for logs/metrics */
    char *message;        /* owned: the error's message when status >= 400 (may quote client
                           * input, so it need not be UTF-8: the transport makes it so) */
    const char *type;     /* attestation type for metrics, or NULL */
    int64_t retry_after;  /* seconds for a Retry-After header (503), 0: none */
    bool ear; /* att_svc_attest_ear: the body's "token" is an EAR JWT, which the transport sends
               * as it is, as application/eat+jwt (docs/ear.md) */
} att_svc_reply_t;

att_err_t att_svc_new(const att_svc_opts_t *o, att_svc_t **out, att_diag_t *d);
void att_svc_free(att_svc_t *svc);
bool att_svc_ready(att_svc_t *svc);
/* /readyz: att_svc_ready, and something to verify quotes with: false (why says what) when no
 * collateral source is configured and no TPM trust (--tpm-ak, --tpm-ak-ca) either, or when the
 * collateral source is unreachable with nothing cached (att_collsrc_healthy). */
bool att_svc_readiness(att_svc_t *svc, char *why, size_t n);
/* Register the service's computed gauges in m (which must not render after the service is
 * freed): attestd_collateral_age_seconds{source} (the oldest set in hand),
 * attestd_collateral_expiry_seconds{source} (seconds to the earliest next update; negative:
 * past it), attestd_signing_key_age_seconds. */
void att_svc_metrics(att_svc_t *svc, att_metrics_t *m);
/* Whether changes can be stored now (false while the store's server cannot be reached; why,
 * if given, says since when and why): /readyz reports it. */
bool att_svc_writable(att_svc_t *svc, char *why, size_t n);
/* Shutting down: policy evaluations in flight stop at their next budget check with
 * ATT_E_CANCELLED (503), so that the HTTP server's graceful stop never waits on one. */
void att_svc_stop(att_svc_t *svc);
void att_svc_reply_clear(att_svc_reply_t *r);

/* POST /attest/{type}: body is the JSON request. */
void att_svc_attest(att_svc_t *svc, const char *type, const char *body, size_t len,
                    att_svc_reply_t *r);
/* The same, answered with the verdict as an EAR (Accept: application/eat+jwt; docs/ear.md):
 * {"token": EAR JWT} and r->ear, also for a policy denial (an EAR whose status is
 * contraindicated); other errors as att_svc_attest. */
void att_svc_attest_ear(att_svc_t *svc, const char *type, const char *body, size_t len,
                        att_svc_reply_t *r);
/* GET /tpm/nonce: {"nonce": base64url(32 bytes), "context": sealed nonce, "expires": unix}, the
 * first step of the TPM one-shot form (challenge.c). */
void att_svc_tpm_nonce(att_svc_t *svc, att_svc_reply_t *r);
/* GET /certs, GET /.well-known/openid-configuration */
void att_svc_certs(att_svc_t *svc, att_svc_reply_t *r);
void att_svc_openid(att_svc_t *svc, att_svc_reply_t *r);
/* GET/PUT /policies/{type}, POST /policies/{type}:reset (body: JWS text) */
void att_svc_policy_get(att_svc_t *svc, const char *type, att_svc_reply_t *r);
void att_svc_policy_set(att_svc_t *svc, const char *type, const char *body, size_t len,
                        att_svc_reply_t *r);
void att_svc_policy_reset(att_svc_t *svc, const char *type, const char *body, size_t len,
                          att_svc_reply_t *r);
/* GET /certificates, POST /certificates:add|:remove */
void att_svc_certificates(att_svc_t *svc, att_svc_reply_t *r);
void att_svc_certificates_change(att_svc_t *svc, bool add, const char *body, size_t len,
                                 att_svc_reply_t *r);
/* GET /tcbbaselines/{type}: the TCB baselines the type can be judged against, the one in force
 * marked; PUT /tcbbaselines/{type} (body {"tcbEvaluationDataNumber": N | null}): pin one for
 * every replica, or go back to --tcb-baseline / the newest (baselines.c, docs/api.md). */
void att_svc_tcbbaselines_get(att_svc_t *svc, const char *type, att_svc_reply_t *r);
void att_svc_tcbbaselines_set(att_svc_t *svc, const char *type, const char *body, size_t len,
                              att_svc_reply_t *r);
/* `attestd keys rotate`: a new active key; the old one stays published until its last token
 * has expired. Prints nothing; returns the new kid in *kid (malloc'd). */
att_err_t att_svc_keys_rotate(att_svc_t *svc, char **kid, att_diag_t *d);
/* The seconds a rotated key is published before it signs: --key-publish-lead, or its default
 * for the store (docs/tokens.md, "Rotation across replicas"). */
int64_t att_svc_keys_publish_lead(const att_svc_t *svc);

/* Counters for /metrics. */
typedef struct {
    uint64_t chain_cache_hits, chain_cache_misses;
    uint64_t ecdsa_verifications; /* P-256 verifications by the process (quotes, QE reports,
                                   * certificates, CRLs, collateral) */
    uint64_t coll_hits, coll_misses, coll_fetches, coll_fetch_errors, coll_served_stale;
    uint64_t coll_requests, coll_backoff_denied, coll_rate_denied, coll_busy_denied;
    uint64_t hsm_signs, hsm_waits;    /* --signing-key: signatures, and those that waited for a
                                       * free PKCS#11 session */
    uint64_t policy_signer_weak_keys; /* policy signer keys under 2048 bits used (accepted with
                                       * --policy-signer-min-rsa-bits below 2048) */

    /* The bounded caches, each with its name: the evidence backends' (pck_chain, ...), then
     * the collateral sets ("collateral"). Same order at every call. */
    att_ev_cache_stats_t caches[ATT_EV_MAX_CACHES + 1];
    size_t n_caches;
} att_svc_stats_t;
void att_svc_stats(att_svc_t *svc, att_svc_stats_t *out);

#endif
