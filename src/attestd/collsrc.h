/* collsrc.h - where attestd gets collateral, for any vendor: sets named by string keys
 * ("<prefix>/...", e.g. "dcap/sgx/00a067110000/processor"), each prefix served by one fetcher
 * (attest/collateral.h's fetcher tables, each evidence backend naming its own), an offline
 * directory, and the store's cache. The source knows keys, blobs and opaque objects; never a
 * vendor's types or functions.
 *
 *   // fetcher, cfg: a vendor's fetcher table and its config (svc.c asks the evidence backends)
 *   att_coll_source_t srcs[] = {{fetcher, cfg}};   // the source takes cfg
 *   att_collsrc_opts_t o = {.sources = srcs, .n_sources = 1, .offline_dir = NULL, .store = st};
 *   att_collsrc_t *src; att_collsrc_new(&o, &src, &d);
 *   void *obj; int64_t retry_after;
 *   att_collsrc_get(src, "dcap/sgx/00a067110000/processor", now, &obj, &retry_after, &d);
 *   ... the asker's verifier uses obj (here a DCAP collateral set) ...
 *   fetcher->release(obj);   // drops this reference (the asker knows its vendor)
 *
 * Behaviour: checked sets (the fetcher's load) are kept in memory per key and persisted raw in
 * the store under the key, in the fetcher's blob format; a set is refreshed from the source
 * when `now` is within `refresh_margin` of its next update or it is older than `max_age`;
 * if the source is down or answers garbage, the cached set keeps being served (until it expires,
 * which the verifier then reports). Only one fetch per key runs at a time; other requests for
 * the same key wait for it and share its result.
 *
 * What an outsider (an anonymous quote naming any FMSPC) can make the source cost is bounded:
 * - one deadline per fetch (timeout_ms): the requests of one collateral set share it;
 * - at most max_waiters callers are blocked on network fetches at once (fetchers and those
 *   waiting for them), so that the caller's other threads keep serving cached platforms; a
 *   get over it fails at once (ATT_E_FETCH, retry after 1 s);
 * - after a failed fetch a key is not fetched again for a backoff (backoff_ms, doubling per
 *   consecutive failure up to backoff_max_ms; longer when the source's Retry-After says so,
 *   never past backoff_max_ms): gets meanwhile answer the cached failure (ATT_E_FETCH, or the
 *   set in hand, served stale) without an upstream request;
 * - fetches of all keys together start at most fetch_rate times per second (a token bucket of
 *   fetch_rate tokens); a get that finds it used up fails at once (ATT_E_FETCH) unless a set
 *   is in hand;
 * - at most 4096 keys are tracked (those without a set are evicted first).
 * Network rules are the library's one HTTP helper's (src/lib/net/http.h): redirects only within
 * the origin (scheme, host and port) of the URL asked for, so https never goes to http and no
 * other host is reached; TLS always verified; a body cap. An error status names the item and
 * the status; the source's error body is logged (truncated, printable characters only), never
 * put in the error. att_collsrc_get says after how many seconds a failed get may succeed (for
 * a Retry-After header). Backoff and rate use a monotonic clock in milliseconds (opts.clock_ms,
 * for tests); the deadline is the real monotonic clock.
 *
 * The offline directory (each fetcher finds its own sets in it; for DCAP one set in the
 * `attest quote verify --collateral` layout, or one subdirectory per set) seeds the cache and,
 * for a fetcher without a network source, replaces the network. A store write that fails (full
 * or read-only disk) keeps the set pending: later gets of that key, hits included, write it
 * again at most once per 60 s of `now`, one writer per key, other gets not waiting for it (a
 * warning when writes start failing, an info line when one succeeds again). A stored set that
 * cannot be used is ignored; why is logged once and is part of the error when nothing else has
 * the key. `now` is always passed in. Not checked here: the evidence itself.
 */
#ifndef ATTESTD_COLLSRC_H
#define ATTESTD_COLLSRC_H

#include <stdint.h>

#include "attest/collateral.h"
#include "store.h"

typedef struct {
    /* The fetchers, one per key prefix, with their configurations: the source takes each cfg
     * (freed with its fetcher's cfg_free), also when att_collsrc_new fails. 1 to 8. */
    const att_coll_source_t *sources;
    size_t n_sources;
    const char *offline_dir; /* or NULL */
    att_store_t *store;      /* may be NULL (memory only) */
    int64_t max_age;         /* seconds; 0 = no limit other than nextUpdate */
    int64_t refresh_margin;  /* seconds before nextUpdate to refresh; default 3600 */
    long timeout_ms;         /* deadline of one fetch, all its GETs together; default 10000 */
    unsigned max_waiters;    /* callers blocked on network fetches at once (fetchers and their
                              * waiters); over it a get fails at once; 0 = no bound */
    unsigned fetch_rate;     /* fetches started per second, all keys (token bucket of as many
                              * tokens); 0 = default 2 */
    int64_t backoff_ms;      /* no refetch of a key this long after a failed fetch, doubled per
                              * consecutive failure; 0 = default 5000 */
    int64_t backoff_max_ms;  /* the doubling stops here; 0 = default 300000 */
    size_t max_entries;      /* keys (sets) held: --cache-collateral; 0 = default 16384. When
                              * full, the least recently used key nobody is using goes, with
                              * its set (the store keeps it) */
    /* Monotonic milliseconds for backoff and rate (NULL: CLOCK_MONOTONIC); for tests. */
    int64_t (*clock_ms)(void *arg);
    void *clock_arg;
} att_collsrc_opts_t;

typedef struct att_collsrc att_collsrc_t;

typedef struct {
    uint64_t hits, misses, fetches, fetch_errors, served_stale;
    uint64_t store_write_errors; /* failed store writes of fetched sets (each is retried) */
    uint64_t requests;           /* HTTP requests sent to the sources (a DCAP fetch is 4+) */
    uint64_t backoff_denied;     /* gets answered from a failed fetch's backoff, not fetched */
    uint64_t rate_denied;        /* gets refused a fetch by the fetch rate */
    uint64_t busy_denied;        /* gets refused because max_waiters callers were blocked */
    uint64_t evictions;          /* keys dropped, least recently used first, to stay in bound */
    size_t entries, capacity;    /* keys held, and max_entries */
} att_collsrc_stats_t;

att_err_t att_collsrc_new(const att_collsrc_opts_t *opts, att_collsrc_t **out, att_diag_t *d);
void att_collsrc_free(att_collsrc_t *src);
/* The set of key: *obj is a new reference, released with the fetcher's release (the caller
 * knows the vendor it asked). When the get fails because the source is unavailable (a failed
 * fetch, its backoff, the fetch rate, max_waiters) *retry_after (may be NULL) gets the seconds
 * after which asking again may succeed (>= 1); 0 for other outcomes. A key no source serves is
 * ATT_E_COLL_MISSING; a malformed one ATT_E_ARG. */
att_err_t att_collsrc_get(att_collsrc_t *src, const char *key, att_time_t now, void **obj,
                          int64_t *retry_after, att_diag_t *d);
void att_collsrc_stats(att_collsrc_t *src, att_collsrc_stats_t *out);
/* For /readyz: false, with why, when the latest network fetch that reached a verdict on the
 * source failed to reach it (ATT_E_FETCH: connection, TLS, deadline; an error status or a bad
 * answer is about the key asked, which a client chooses, and does not count) and no set is in hand
 * (nothing fetched, stored or seeded from the offline directory has been loaded): the source
 * cannot serve any platform now. True otherwise (a failing source with sets in hand serves
 * them stale until they expire). */
bool att_collsrc_healthy(att_collsrc_t *src, char *why, size_t n);
/* For gauges: per fetcher (its key prefix, e.g. "dcap"), the sets in hand, the oldest one's
 * fetch time and the earliest next update (0 when it has none). Fills at most max; returns
 * how many. */
typedef struct {
    const char *prefix;
    size_t sets;
    att_time_t oldest_fetch, next_update;
} att_collsrc_summary_t;
size_t att_collsrc_summary(att_collsrc_t *src, att_collsrc_summary_t *out, size_t max);

#endif
