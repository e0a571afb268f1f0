/* svc_int.h - what the rooms of attestd's domain service share (svc.c, attest.c, policies.c,
 * policy_certs.c, keys.c, metadata.c): the service's state and the helpers one room offers the
 * others. Not a public header: main.c and routes.c use svc.h only.
 *
 *   void att_svc_something(att_svc_t *svc, ..., att_svc_reply_t *r) {
 *       if (bad) {
 *           att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "why %s", what);
 *           return;                         // the transport writes the MAA error form
 *       }
 *       json_t *c = json_object();
 *       att_std_claims(svc, c);             // iss, iat, nbf, exp
 *       att_reply_token(svc, c, r);         // 200 {"token": signed with the active key}
 *   }
 *
 * Locking: svc->lock guards keys, keys_loaded, pol[] and signers; the snapshots it hands out
 * (att_pol_get, the keys in att_reply_token) are used without it.
 */
#ifndef ATTESTD_SVC_INT_H
#define ATTESTD_SVC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include <openssl/x509.h>

#include "attest/evidence.h"
#include "attest/policy.h"
#include "attest/token.h"
#include "collsrc.h"
#include "store.h"
#include "svc.h"

/* The attestation types are the evidence registry's (attest/evidence.h), in its order, which
 * is the order of svc->pol; at most this many. */
#define ATT_SVC_MAX_TYPES 16
/* Collateral fetchers (one per evidence backend that needs collateral), at most. */
#define ATT_SVC_MAX_SOURCES 8

/* A policy in force for one type: immutable once published. */
typedef struct {
    atomic_int refs;
    att_policy_t *pol;
    char *jws;      /* the stored policy JWS (x-ms-policy) */
    json_t *signer; /* JWK of the signer when signed, else NULL */
    bool is_default;
} att_pol_t;

/* The signing state: active signer and the published JWKS. */
typedef struct {
    atomic_int refs;
    att_signer_t *signer;
    EVP_PKEY *key;
    X509 *cert;
    json_t *jwks;
    time_t stale_at; /* the next sign_from, retirement or end of publication (0: none): reload */
    att_time_t signer_created; /* the active key's creation (store row), for its age gauge */
} att_keys_t;

struct att_svc {
    char *issuer, *jku;
    att_svc_opts_t o;
    att_store_t *store;
    att_ev_set_t *ev; /* the evidence verifiers' instances */
    att_collsrc_t *coll;
    pthread_rwlock_t lock;
    att_keys_t *keys;
    time_t keys_loaded;
    /* gauges set at each /metrics render (att_svc_metrics) */
    att_metric_t *m_coll_age, *m_coll_expiry, *m_key_age;
    struct att_kek *kek, *kek_old; /* --key-encryption-key(-old), or NULL (keys.c) */
    struct att_hsm *hsm;           /* --signing-key pkcs11:..., or NULL (keys.c, hsm.c) */
    att_pol_t *pol[ATT_SVC_MAX_TYPES];
    bool isolated;
    STACK_OF(X509) * signers; /* policy management certificates (isolated mode) */
    atomic_bool stopping;     /* att_svc_stop: evaluations in flight give up */
    /* policy signatures and policy management certificates accepted with an RSA key under
     * ATT_POLICY_SIGNER_MIN_RSA_BITS (--policy-signer-min-rsa-bits below 2048) */
    atomic_uint_fast64_t weak_signer_uses;
    uint8_t challenge_key[32]; /* seals stateless challenges (challenge.c), from the store */
    /* the TCB baselines in force (baselines.c) */
    struct att_baselines *baselines;
};

/* ---- time ---- */

static inline att_time_t att_wall(void)
{
    return (att_time_t)time(NULL);
}

/* The evidence clock: the --at override, else the wall clock. */
static inline att_time_t att_svc_now(const att_svc_t *svc)
{
    return svc->o.have_at ? svc->o.at : att_wall();
}

/* ---- replies (svc.c) ---- */

void att_reply(att_svc_reply_t *r, int status, json_t *body);
/* An error reply: status, MAA code, our error name (ATT_OK: none) and the message (at most
 * 1023 bytes). The transport writes it in the MAA error form. */
void att_reply_err(att_svc_reply_t *r, int status, const char *code, att_err_t e, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
/* A failed store write: 503 ServiceUnavailable with Retry-After while the store's server cannot
 * be reached (PostgreSQL down: attesting goes on from memory, changes wait), else 500
 * InternalError. */
void att_reply_store_err(att_svc_t *svc, att_svc_reply_t *r, att_err_t e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 200 {"token": jws}. */
void att_reply_jws(att_svc_reply_t *r, const char *jws);
/* The canonical spelling of an attestation type (case-insensitive) and its index; NULL if
 * unknown. */
const char *att_svc_type_name(const char *type, size_t *idx);
/* The number of attestation types, and the name of the i-th. */
size_t att_svc_ntypes(void);
const char *att_svc_type_at(size_t i);

/* ---- keys and tokens (keys.c) ---- */

att_err_t att_keys_init(att_svc_t *svc, att_diag_t *d);
/* Free what att_keys_init holds beyond svc->keys (the KEKs, the HSM session pool). */
void att_keys_fini(att_svc_t *svc);
void att_keys_unref(att_keys_t *k);
/* Reload the keys from the store when the last load is a few seconds old. */
void att_keys_maybe_reload(att_svc_t *svc);
/* Token claims every service token carries: iss, iat, nbf, exp. */
void att_std_claims(const att_svc_t *svc, json_t *c);
/* Sign claims with the active key into {"token": jwt}; takes ownership of claims. */
void att_reply_token(att_svc_t *svc, json_t *claims, att_svc_reply_t *r);

/* ---- policies and signed requests (policies.c) ---- */

att_err_t att_policies_init(att_svc_t *svc, att_diag_t *d);
att_pol_t *att_pol_get(att_svc_t *svc, size_t idx);
/* Put the stored policy of type (NULL: every type) in force where it differs (another replica
 * changed it: the store's watcher, svc.c). */
bool att_policies_reload(att_svc_t *svc, const char *type);
void att_pol_unref(att_pol_t *p);
/* Trim whitespace around a JWS body. */
void att_trim_body(const char **p, size_t *len);
/* Verify a policy-management JWS: in isolated mode signed by a policy management certificate,
 * else unsigned or any valid signature. On failure *r holds the error reply. */
att_err_t att_policy_jws(att_svc_t *svc, const char *body, size_t len, att_jws_t *j,
                         att_svc_reply_t *r);
/* The default smallest RSA key of a policy signer (--policy-signer-min-rsa-bits), and the one in
 * force. */
#define ATT_POLICY_SIGNER_MIN_RSA_BITS 2048u
unsigned att_policy_signer_min_rsa_bits(const att_svc_t *svc);
/* A policy signer's certificate was used (a signature accepted, a certificate added or loaded):
 * with an RSA key under ATT_POLICY_SIGNER_MIN_RSA_BITS, log a warning naming `what` and count it
 * (attestd_policy_signer_weak_keys_total). */
void att_policy_signer_used(att_svc_t *svc, X509 *cert, const char *what);
typedef enum {
    ATT_SIGNED_SET,
    ATT_SIGNED_RESET,
    ATT_SIGNED_CERT_ADD,
    ATT_SIGNED_CERT_REMOVE
} att_signed_op_t;
/* What a verified signed request authorises, its freshness and (isolated mode, policy sets) the
 * ledger; *seen_same when it was used before for exactly this. False: *r holds the error. */
bool att_request_authorised(att_svc_t *svc, const char *body, size_t len, const att_jws_t *j,
                            att_signed_op_t op, const char *type, bool *seen_same,
                            att_svc_reply_t *r);

/* ---- stateless, single-use challenges (challenge.c) ---- */

/* Read (or, in a new store, make) the key that seals challenges; replicas share it. */
att_err_t att_challenge_init(att_svc_t *svc, att_diag_t *d);
/* An opaque base64url token carrying purpose ("service context", "nonce"), data (at most 1 kB)
 * and its expiry, sealed with AES-256-GCM; NULL when out of memory or out of bounds. */
char *att_challenge_seal(const att_svc_t *svc, const char *purpose, const uint8_t *data, size_t len,
                         att_time_t expires);
/* Open a token of that purpose, current at now; spend: also single use (replicas share the
 * record). *data malloc'd. ATT_E_CHALLENGE for a foreign, changed, other-purpose, expired or
 * spent token (the message says which, never the token). */
att_err_t att_challenge_open(att_svc_t *svc, const char *purpose, const char *token, att_time_t now,
                             bool spend, uint8_t **data, size_t *len, att_time_t *expires,
                             att_diag_t *d);

/* ---- TCB baselines of the DCAP types (baselines.c) ---- */

/* --tcb-baseline (types checked) and the pins stored through the API. */
att_err_t att_baselines_init(att_svc_t *svc, att_diag_t *d);
void att_baselines_free(att_svc_t *svc);
/* Re-read the stored pins (another replica changed one); false when the store failed. */
bool att_baselines_reload(att_svc_t *svc);
/* The collateral key the type at idx is verified with: key, or key + "/N" (in buf) when
 * baseline N is pinned for the type and key is a DCAP key. */
const char *att_baselines_key(att_svc_t *svc, size_t idx, const char *key, char *buf, size_t n);
/* The TCB evaluation data number of the collateral obj got for key (0: not DCAP collateral). */
unsigned att_baselines_used(const char *key, const void *obj);

/* ---- policy management certificates (policy_certs.c) ---- */

att_err_t att_signers_init(att_svc_t *svc, att_diag_t *d);
/* Is cert one of the policy management certificates? */
bool att_is_signer(att_svc_t *svc, X509 *cert);
/* The store's set in force (another replica changed it: the store's watcher, svc.c). */
bool att_signers_reload(att_svc_t *svc);

/* ---- EAR answers (attest_ear.c, docs/ear.md) ---- */

/* The EAR claims set of a verdict of type (its canonical name) whose MAA claims are claims
 * (taken over, freed in every case; its jti becomes the EAR's): data_bound when runtime data was
 * bound, pol the policy in force (NULL: use is the request's draft), denied with the policy's
 * reason. NULL with the error in *r. */
json_t *att_svc_ear(att_svc_t *svc, const char *type, json_t *claims, bool data_bound,
                    const att_pol_t *pol, const att_policy_t *use, bool denied,
                    const char *deny_reason, att_svc_reply_t *r);

#endif
