/* attest/evidence.h - every TEE behind one interface: a registry of evidence types, each a table
 * the core never looks inside.
 *
 *   const att_ev_type_t *t = att_ev_type_find("SgxEnclave");   // any case; NULL if unknown
 *   att_ev_set_t *set;                                         // one instance per backend
 *   att_ev_set_new(&set, &diag);
 *   att_ev_set_add_root_file(set, "test-root.pem", &diag);     // a test hierarchy's root
 *   att_ev_input_t in = {.evidence = ev, .len = len, .now = now,
 *                        .collateral = my_source, .collateral_arg = src};
 *   att_ev_result_t r;
 *   if (att_ev_verify(set, t, &in, &r) == ATT_OK) {
 *       att_ev_bind(&r, runtime, rlen, init, ilen, &diag);    // MAA's data binding
 *       ... r.claims: {"x-ms-sgx-mrenclave": "...", ...} for the policy and the token ...
 *   }
 *   att_ev_result_clear(&r);
 *   att_ev_set_free(set);
 *
 * A type (one file in src/lib/evidence/ per TEE, listed once in registry.c) says everything a
 * caller needs without naming its internals: the MAA path name and x-ms-attestation-type, which
 * request members carry its evidence, the api-version clients send, the claims it publishes, its
 * default policy, and the backend whose instance (trust anchors, caches) verifies it. verify
 * checks the evidence completely (for DCAP: docs/dcap.md) and gives a generic result: MAA's
 * claims, the slices runtime and init-time data bind to, and an opaque backend detail.
 * Collateral is asked for by a string key (e.g. "dcap/sgx/<fmspc>/<ca>") through the input's
 * callback; the object it returns belongs to the backend's vendor, which releases it.
 * Not checked here: policy (debug, TCB status acceptance, measurements) and the contents of
 * runtime data.
 */
#ifndef ATTEST_EVIDENCE_H
#define ATTEST_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/trust.h"
#include "attest/types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct att_coll_fetcher; /* attest/collateral.h */

/* Gives the collateral named by key, checked and current at now: a new reference (released by
 * the backend that asked, which knows its type), or an error. */
typedef att_err_t (*att_ev_collateral_fn)(void *arg, const char *key, att_time_t now, void **out,
                                          att_diag_t *diag);

/* Seals data into an opaque token for the client that only this service (any replica) can open
 * again, until expires; NULL when out of memory. purpose keeps tokens of different uses apart. */
typedef char *(*att_ev_seal_fn)(void *arg, const char *purpose, const uint8_t *data, size_t len,
                                att_time_t expires);
/* Opens a token this service sealed, for purpose, once (a second open is refused): *data
 * malloc'd. ATT_E_CHALLENGE for a token that is foreign, changed, expired or spent. */
typedef att_err_t (*att_ev_open_fn)(void *arg, const char *purpose, const char *token,
                                    uint8_t **data, size_t *len, att_diag_t *diag);

/* What a multi-round type's intermediate round gets. */
typedef struct {
    att_time_t now;
    att_ev_seal_fn seal;
    void *seal_arg;
} att_ev_round_ctx_t;

typedef struct {
    const uint8_t *evidence; /* the decoded evidence bytes */
    size_t len;
    att_time_t now;                  /* verification time: certificates, collateral and TCB dates */
    att_ev_collateral_fn collateral; /* NULL: no collateral source (ATT_E_COLL_MISSING) */
    void *collateral_arg;
    att_ev_open_fn open; /* multi-round types: opens what a round sealed (NULL: none) */
    void *open_arg;
    /* The request's nonce (the UTF-8 bytes of MAA's "nonce" string), NULL when it has none: a
     * type whose evidence carries the verifier's nonce checks it (SevSnpVm's vTPM quote). */
    const uint8_t *nonce;
    size_t nonce_len;
} att_ev_input_t;

typedef struct {
    att_diag_t diag;
    json_t *claims; /* MAA incoming claims (owned) */
    /* Runtime data binds to report_data: SHA-256(runtime data) equals its first 32 bytes. */
    const uint8_t *report_data;   /* inside detail */
    const char *report_data_name; /* "the enclave's REPORTDATA" */
    /* Init-time data binds the same way to init_data; NULL when the type has no such field. */
    const uint8_t *init_data;
    const char *init_data_name; /* "CONFIGID" */
    void *detail;               /* the backend's own result (DCAP: att_dcap_result_t) */
    void (*detail_free)(void *detail);
} att_ev_result_t;

/* One bounded cache of a backend (LRU): its name ("pck_chain", "snp_cert", ...) and counts. */
typedef struct {
    const char *name; /* static */
    uint64_t hits, misses, evictions;
    size_t entries, capacity;
} att_ev_cache_stats_t;

#define ATT_EV_MAX_CACHES 8

typedef struct {
    uint64_t cache_hits, cache_misses;              /* the backend's chain/certificate cache */
    att_ev_cache_stats_t caches[ATT_EV_MAX_CACHES]; /* each cache on its own (set: all) */
    size_t n_caches;
} att_ev_stats_t;

/* A verifier instance shared by the types it serves: its trust anchors and caches. */
typedef struct {
    const char *name; /* "dcap" */
    att_err_t (*create)(void **inst, att_diag_t *diag);
    void (*destroy)(void *inst);
    /* Take a root certificate (DER) from configuration. ATT_OK: taken; ATT_E_CERT_KEY: not a
     * root this backend's chains can end at (diag says which it takes); other errors: bad root. */
    att_err_t (*add_root)(void *inst, const uint8_t *der, size_t len, att_diag_t *diag);
    void (*stats)(void *inst, att_ev_stats_t *out);
    /* The instance's trust store, which its collateral's signatures chain to (NULL: none). */
    const att_trust_t *(*trust)(void *inst);
    /* The collateral fetcher this backend's keys need (attest/collateral.h) with a new
     * configuration for the network source at url (NULL: offline directories and the store
     * only), checking signatures against the instance's trust store. NULL: no collateral. */
    att_err_t (*collateral)(void *inst, const char *url, const struct att_coll_fetcher **fetcher,
                            void **cfg, att_diag_t *diag);
    /* Take a key from configuration of the kind named (the TPM backend: "tpm-ak", a pinned AK),
     * from the file `name`. ATT_OK: taken; errors say what is wrong. NULL: takes no keys. */
    att_err_t (*add_key)(void *inst, const char *kind, const uint8_t *buf, size_t len,
                         const char *name, att_diag_t *diag);
    /* Take a named budget from configuration (the TPM backend: "tpm-max-events", ...; what 0
     * means is the backend's). ATT_OK: taken; ATT_E_ARG: not one of this backend's. NULL: takes
     * none. */
    att_err_t (*set_limit)(void *inst, const char *name, uint64_t value, att_diag_t *diag);
} att_ev_backend_t;

typedef struct att_ev_type att_ev_type_t;

struct att_ev_type {
    const char *name;             /* MAA path: "SgxEnclave" */
    const char *attestation_type; /* x-ms-attestation-type: "sgx" */
    const char *const *fields;    /* request members carrying the evidence (base64url), NULL-ended;
                                   * the first is what clients send */
    const char *api_version;      /* the api-version clients send */
    const char *runtime_claim;    /* claim carrying Binary runtime data (base64url), or NULL */
    const char *const *claims;    /* claims it publishes (NULL-ended), for claims_supported */
    const char *default_policy;   /* MAA's default policy for the type */
    const char *wraps;            /* the type whose evidence this one wraps (OpenEnclave:
                                   * SgxEnclave), or NULL */
    /* Clients: this type's evidence from the wrapped type's (evidence already in this type's
     * form is copied as is). NULL for types that wrap nothing. */
    att_err_t (*wrap)(const uint8_t *inner, size_t len, uint8_t **out, size_t *outlen,
                      att_diag_t *diag);
    const att_ev_backend_t *backend; /* NULL: a type known by name, not verified yet (501) */
    att_err_t (*verify)(void *inst, const att_ev_input_t *in, att_ev_result_t *out);
    /* Multi-round protocols (a challenge, then the evidence): called with the request (the
     * JSON the client sent) before verify; sets *answer (owned by the caller) to end an
     * intermediate round, or leaves it NULL for the final round, whose request then goes to
     * verify as the evidence. inst is NULL for a type without a backend. NULL: single round. */
    att_err_t (*round)(void *inst, const att_ev_round_ctx_t *ctx, const json_t *request,
                       json_t **answer, att_diag_t *diag);
};

/* The registry: every type, in a stable order. */
ATT_API size_t att_ev_type_count(void);
ATT_API const att_ev_type_t *att_ev_type_at(size_t i);
/* The type named (case-insensitive, as MAA's paths are), or NULL. */
ATT_API const att_ev_type_t *att_ev_type_find(const char *name);
/* True when the type's evidence can be verified by this build. */
ATT_API bool att_ev_type_supported(const att_ev_type_t *t);
/* The names, comma-separated, for messages: every type, or those this build verifies. */
ATT_API const char *att_ev_type_names(bool supported_only);

/* One instance of every backend. */
typedef struct att_ev_set att_ev_set_t;
ATT_API att_err_t att_ev_set_new(att_ev_set_t **out, att_diag_t *diag) ATT_WUR;
ATT_API void att_ev_set_free(att_ev_set_t *set);
/* Add the root certificates of a file (PEM, one or more; or one DER) to the backends whose
 * chains can end at them. A certificate no backend takes is refused (ATT_E_CERT_KEY naming the
 * file, the certificate and what each backend takes), so a root never sits unused. */
ATT_API att_err_t att_ev_set_add_root_file(att_ev_set_t *set, const char *path,
                                           att_diag_t *diag) ATT_WUR;
/* The same from memory. */
ATT_API att_err_t att_ev_set_add_root(att_ev_set_t *set, const uint8_t *cert, size_t len,
                                      att_diag_t *diag) ATT_WUR;
/* Give the key file at path (at most 1 MiB) to the backends that take keys of this kind (e.g.
 * "tpm-ak"): ATT_E_ARG when none does, else the first backend's error. */
ATT_API att_err_t att_ev_set_add_key_file(att_ev_set_t *set, const char *kind, const char *path,
                                          att_diag_t *diag) ATT_WUR;
/* Give a named budget to the backend that takes it (set_limit): ATT_E_ARG when none does. */
ATT_API att_err_t att_ev_set_limit(att_ev_set_t *set, const char *name, uint64_t value,
                                   att_diag_t *diag) ATT_WUR;
ATT_API void att_ev_set_stats(att_ev_set_t *set, att_ev_stats_t *out);
/* The trust store of the backend named (its collateral is checked against it), or NULL. */
ATT_API const att_trust_t *att_ev_set_trust(const att_ev_set_t *set, const char *backend);
/* The collateral sources of every backend that needs one, for a collateral source: out[i] gets a
 * fetcher and a new configuration (freed by the caller with fetcher->cfg_free, or by the source
 * that takes it). url(arg, backend name) gives each backend's network URL, or NULL. At most max;
 * *n is how many were made. */
ATT_API att_err_t att_ev_set_collateral(att_ev_set_t *set,
                                        const char *(*url)(void *arg, const char *backend),
                                        void *arg, const struct att_coll_fetcher **fetchers,
                                        void **cfgs, size_t max, size_t *n,
                                        att_diag_t *diag) ATT_WUR;

/* A multi-round type's round (t->round): see att_ev_type_t. */
ATT_API att_err_t att_ev_round(att_ev_set_t *set, const att_ev_type_t *t,
                               const att_ev_round_ctx_t *ctx, const json_t *request,
                               json_t **answer, att_diag_t *diag) ATT_WUR;

/* Verify evidence of type t. ATT_E_UNSUPPORTED for a type without a backend. The result is
 * cleared first and must be cleared by the caller whatever the outcome. */
ATT_API att_err_t att_ev_verify(att_ev_set_t *set, const att_ev_type_t *t, const att_ev_input_t *in,
                                att_ev_result_t *out) ATT_WUR;

/* MAA's binding: SHA-256(runtime) must equal the first 32 bytes of report_data, and
 * SHA-256(init) the first 32 bytes of the init-time field. NULL data is not checked; init-time
 * data for a type without the field is ATT_E_ARG. Mismatch: ATT_E_EVIDENCE_BINDING with both
 * digests in the message. */
ATT_API att_err_t att_ev_bind(const att_ev_result_t *r, const uint8_t *runtime, size_t rlen,
                              const uint8_t *init, size_t ilen, att_diag_t *diag) ATT_WUR;

ATT_API void att_ev_result_clear(att_ev_result_t *r);

/* The Open Enclave report header (oe_report_header_t): version 1, type 2 (SGX remote), size;
 * the SGX quote follows. Sets quote and qlen. */
ATT_API att_err_t att_oe_report_parse(const uint8_t *buf, size_t len, const uint8_t **quote,
                                      size_t *qlen, att_diag_t *diag) ATT_WUR;

#ifdef __cplusplus
}
#endif
#endif
