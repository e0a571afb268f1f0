/* rp_int.h - internals of the relying-party verifier (not installed; tests include it).
 *
 * A JWKS is turned once into an immutable, reference-counted snapshot of ready keys: one
 * EVP_PKEY per JWK plus, for every allowed alg the key fits, an EVP_MD_CTX verification template
 * that att_token_sig_ok copies per call. att_rp_verify takes a reference to the current snapshot
 * under the lock and verifies outside it; a refetch builds a new snapshot and swaps the pointer.
 */
#ifndef ATT_RP_INT_H
#define ATT_RP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "attest/rp.h"

#define ATT_RP_TOKEN_MAX     (1u << 20) /* longest token text accepted */
#define ATT_RP_HEADER_MAX    4096       /* longest decoded protected header */
#define ATT_RP_SIG_MAX       1024       /* longest decoded signature (RSA-8192) */
#define ATT_RP_PAYLOAD_STACK 8192       /* claims up to this size are decoded on the stack */
#define ATT_RP_BODY_MAX      (1u << 20) /* longest discovery document or JWKS */
#define ATT_RP_KEYS_MAX      64         /* most keys taken from one JWKS */
#define ATT_RP_JSON_DEPTH    32         /* deeper documents are left to jansson */
#define ATT_RP_NALG          4          /* att_alg_t values, indexes of tmpl[] */

typedef struct {
    char *kid;
    size_t kid_len;
    EVP_PKEY *pkey;
    EVP_MD_CTX *tmpl[ATT_RP_NALG]; /* verification template per alg; NULL: alg not usable */
    const char *type;              /* "RSA-2048", "EC P-256", ... for messages */
} att_rp_key_t;

typedef struct {
    atomic_int refs;
    att_time_t fetched; /* `now` of the fetch that produced it */
    size_t n;
    att_rp_key_t keys[];
} att_rp_jwks_t;

struct att_rp {
    char *issuer;
    size_t issuer_len;
    char *audience;
    char *jwks_uri_cfg; /* configured, or NULL: discovery */
    bool allow_foreign_jwks;
    bool alg_ok[ATT_RP_NALG];
    int64_t skew, refetch_interval, fail_backoff, max_age;
    long timeout_ms; /* one deadline for a whole key fetch (discovery + JWKS) */
    unsigned max_waiters;
    att_rp_fetch_fn fetch;
    void *fetch_arg;

    pthread_mutex_t lock;    /* guards the members below */
    pthread_cond_t done;     /* broadcast when a fetch ends (CLOCK_MONOTONIC) */
    att_rp_jwks_t *snap;     /* current keys, or NULL */
    uint64_t gen;            /* incremented by every snapshot swap */
    bool attempted;          /* a fetch was started (or keys loaded) once */
    att_time_t last_attempt; /* `now` of the start of the last fetch */
    bool last_ok;            /* the last fetch installed keys */
    char last_error[256];    /* why the last fetch failed, "" if it did not */
    char *jwks_uri_found;    /* jwks_uri from the last successful discovery, or NULL */
    att_time_t jwks_uri_at;  /* `now` of that discovery */
    /* the single flight: at most one fetch per verifier, on its own thread */
    bool fetching;
    uint64_t fetch_seq, done_seq;   /* fetches started / finished */
    att_time_t fetch_now;           /* `now` the fetch in flight runs at */
    struct timespec fetch_deadline; /* CLOCK_MONOTONIC end of the fetch in flight */
    unsigned waiters;               /* requests waiting for the fetch in flight */
    bool thread_live;               /* `thread` was started and not yet joined */
    pthread_t thread;
    atomic_bool closing; /* att_rp_free: abort the transfer in flight */
    uint64_t fetches;    /* fetches started (tests, statistics) */
};

/* JWKS text -> snapshot with keys usable for rp's allowed algs. ATT_E_JWKS when the text is not
 * a JWKS or has no usable key (diag names the reason and the keys skipped). */
att_err_t att_rp_jwks_build(const att_rp_t *rp, const char *json, size_t len, att_time_t now,
                            att_rp_jwks_t **out, att_diag_t *diag);
void att_rp_jwks_release(att_rp_jwks_t *s);

/* Discovery (unless configured or discovered before and still fresh) and JWKS fetch ->
 * snapshot, within the deadline rp->fetch_deadline. Runs on the fetch thread only; reads and
 * writes rp->jwks_uri_found / jwks_uri_at under rp->lock. */
att_err_t att_rp_fetch_keys(att_rp_t *rp, att_time_t now, att_rp_jwks_t **out, att_diag_t *diag);

/* What att_rp_http_get needs beyond the URL. */
typedef struct {
    long timeout_ms;          /* whole request (connect included) */
    const atomic_bool *abort; /* optional: true stops the transfer */
} att_rp_get_opts_t;

/* GET url with libcurl (arg: att_rp_get_opts_t *, or NULL: 10 s): 200 only, no redirects,
 * http/https only (https only for an https URL), at most ATT_RP_BODY_MAX. */
att_err_t att_rp_http_get(void *arg, const char *url, char **body, size_t *len, att_diag_t *diag);

/* Tests: wait until no fetch is in flight (the stale-key refresh runs in the background). */
void att_rp_wait_idle(att_rp_t *rp);
/* Tests: fetches started so far. */
uint64_t att_rp_fetch_count(att_rp_t *rp);

/* The top-level JSON object in p[0..len) (jansson, duplicates rejected); NULL if not one. */
json_t *att_rp_json_object(const char *p, size_t len);

/* "scheme://authority" prefix length of an http(s) URL, 0 if it is not one. */
size_t att_rp_origin_len(const char *url);

#endif
