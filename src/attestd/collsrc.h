/* collsrc.h - where attestd gets DCAP collateral: an Intel PCS v4-compatible endpoint (Intel
 * PCS or a PCCS) over libcurl, an offline directory, and the store's cache.
 *
 *   att_collsrc_opts_t o = {.pcs_url = "https://api.trustedservices.intel.com",
 *                           .offline_dir = NULL, .store = st, .trust = trust};
 *   att_collsrc_t *src; att_collsrc_new(&o, &src, &d);
 *   att_dcap_collateral_t *c;
 *   att_collsrc_get(src, ATT_TEE_SGX, fmspc, "processor", now, &c, &d);  // verified, shared
 *   ... att_dcap_verify_cached(q, len, c, trust, now, cache, &res) ...
 *   att_dcap_collateral_free(c);    // drops this reference
 *
 * Behaviour: parsed, signature-checked collateral is kept in memory per (tee, fmspc, ca) and
 * persisted raw in the store (key "dcap/<tee>/<fmspc>/<ca>"); it is refreshed from the source
 * when `now` is within `refresh_margin` of its earliest nextUpdate or it is older than `max_age`;
 * if the source is down or answers garbage, the cached set keeps being served (until it expires,
 * which the verifier then reports). Only one fetch per key runs at a time; other requests for
 * the same key wait for it and share its result.
 *
 * What an outsider (an anonymous quote naming any FMSPC) can make the source cost is bounded:
 * - one deadline per fetch (timeout_ms): the GETs of one collateral set share it;
 * - at most max_waiters callers are blocked on network fetches at once (fetchers and those
 *   waiting for them), so that the caller's other threads keep serving cached platforms; a
 *   get over it fails at once (ATT_E_FETCH, retry after 1 s);
 * - after a failed fetch a key is not fetched again for a backoff (backoff_ms, doubling per
 *   consecutive failure up to backoff_max_ms): gets meanwhile answer the cached failure
 *   (ATT_E_FETCH, or the set in hand, served stale) without an upstream request;
 * - fetches of all keys together start at most fetch_rate times per second (a token bucket of
 *   fetch_rate tokens); a get that finds it used up fails at once (ATT_E_FETCH) unless a set
 *   is in hand.
 * Redirects are followed only within the origin (scheme, host and port) of the URL asked for,
 * so https never goes to http and no other host is reached. An error status names the item
 * and the status; the source's error body is logged (truncated, printable characters only),
 * never put in the error. att_collsrc_get_retry says after how many seconds a failed get may
 * succeed (for a Retry-After header). Backoff and rate use a monotonic clock in milliseconds
 * (opts.clock_ms, for tests); the deadline is curl's (the real monotonic clock).
 *
 * The offline directory (one set in the `attest quote verify
 * --collateral` layout, or one subdirectory per set) seeds the cache and, without pcs_url,
 * replaces the network. A store write that fails (full or read-only disk) keeps the set pending:
 * later gets of that key, hits included, write it again at most once per 60 s of `now`, one
 * writer per key, other gets not waiting for it (a warning when writes start failing, an info
 * line when one succeeds again). A stored set that cannot be used is ignored; why is logged
 * once and is part of the error when nothing else has the key. `now` is always passed in. Not
 * checked here: the quote itself.
 */
#ifndef ATTESTD_COLLSRC_H
#define ATTESTD_COLLSRC_H

#include <stdint.h>

#include "attest/dcap.h"
#include "store.h"

typedef struct {
    const char *pcs_url;      /* base URL, e.g. https://api.trustedservices.intel.com; or NULL */
    const char *offline_dir;  /* or NULL */
    att_store_t *store;       /* may be NULL (memory only) */
    const att_trust_t *trust; /* to check collateral signatures */
    int64_t max_age;          /* seconds; 0 = no limit other than nextUpdate */
    int64_t refresh_margin;   /* seconds before nextUpdate to refresh; default 3600 */
    long timeout_ms;          /* deadline of one fetch, all its GETs together; default 10000 */
    unsigned max_waiters;     /* callers blocked on network fetches at once (fetchers and their
                               * waiters); over it a get fails at once; 0 = no bound */
    unsigned fetch_rate;      /* fetches started per second, all keys (token bucket of as many
                               * tokens); 0 = default 2 */
    int64_t backoff_ms;       /* no refetch of a key this long after a failed fetch, doubled per
                               * consecutive failure; 0 = default 5000 */
    int64_t backoff_max_ms;   /* the doubling stops here; 0 = default 300000 */
    /* Monotonic milliseconds for backoff and rate (NULL: CLOCK_MONOTONIC); for tests. */
    int64_t (*clock_ms)(void *arg);
    void *clock_arg;
    const char *root_ca_crl_url; /* NULL: derived from pcs_url (PCCS <pcs_url>/sgx/certification/
                                  * v4/rootcacrl; Intel's CRL distribution point for Intel PCS) */
} att_collsrc_opts_t;

typedef struct att_collsrc att_collsrc_t;

typedef struct {
    uint64_t hits, misses, fetches, fetch_errors, served_stale;
    uint64_t store_write_errors; /* failed store writes of fetched sets (each is retried) */
    uint64_t requests;           /* HTTP requests sent to the source (a fetch is up to 4) */
    uint64_t backoff_denied;     /* gets answered from a failed fetch's backoff, not fetched */
    uint64_t rate_denied;        /* gets refused a fetch by the fetch rate */
    uint64_t busy_denied;        /* gets refused because max_waiters callers were blocked */
} att_collsrc_stats_t;

att_err_t att_collsrc_new(const att_collsrc_opts_t *opts, att_collsrc_t **out, att_diag_t *d);
void att_collsrc_free(att_collsrc_t *src);
/* ca is "processor" or "platform" (from the PCK leaf issuer CN). Returns a new reference. */
att_err_t att_collsrc_get(att_collsrc_t *src, att_tee_t tee, const uint8_t fmspc[6], const char *ca,
                          att_time_t now, att_dcap_collateral_t **out, att_diag_t *d);
/* att_collsrc_get, and when it fails because the source is unavailable (a failed fetch, its
 * backoff, the fetch rate, max_waiters) *retry_after gets the seconds after which asking again
 * may succeed (>= 1); 0 for other outcomes. */
att_err_t att_collsrc_get_retry(att_collsrc_t *src, att_tee_t tee, const uint8_t fmspc[6],
                                const char *ca, att_time_t now, att_dcap_collateral_t **out,
                                int64_t *retry_after, att_diag_t *d);
void att_collsrc_stats(att_collsrc_t *src, att_collsrc_stats_t *out);

#endif
