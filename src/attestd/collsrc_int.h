/* collsrc_int.h - what the files of the collateral source share (not an API): the entry per
 * key, the source itself, and the store side (collsrc_store.c: reading a stored set, writing
 * fetched ones with retries). collsrc.c holds keys, limits, fetches and answers. Every function
 * here that says "called with the lock held" expects s->mu held; none of them does I/O.
 */
#ifndef ATTESTD_COLLSRC_INT_H
#define ATTESTD_COLLSRC_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "collsrc.h"

#define COLL_KEY_LEN              ATT_COLL_KEY_MAX
#define COLL_WRITE_RETRY_INTERVAL 60 /* seconds of `now` between store writes of a pending set */
#define COLL_MAX_SOURCES          8  /* fetchers one source holds */
/* The cluster's fetch lease on a key lasts one fetch deadline plus this (the store write of the
 * fetched set); a process waiting for another's fetch waits at most two leases, then fetches. */
#define COLL_LEASE_MARGIN_MS  2000
#define COLL_PEER_WAIT_LEASES 2

typedef struct coll_entry {
    struct coll_entry *next;
    char key[COLL_KEY_LEN];       /* "<prefix>/...", e.g. dcap/<sgx|tdx>/<fmspc lowercase>/<ca> */
    const att_coll_source_t *src; /* the fetcher of the key's prefix */
    void *obj;                    /* the set (the fetcher's object); NULL until we have one */
    att_time_t expiry;            /* obj's next update */
    att_time_t fetched_at;
    bool fetched_at_known; /* false for offline seeds until the first get */
    bool store_tried;
    bool fetching;           /* a fetcher is working on this key (single flight) */
    unsigned waiters;        /* callers waiting on this entry: it is not evicted meanwhile */
    uint64_t used;           /* the source's tick at its last get: the LRU order of eviction */
    uint64_t gen;            /* bumped when a fetcher finishes */
    bool attempted;          /* a network fetch was tried ... */
    att_time_t last_attempt; /* ... at this `now` */
    bool failed;             /* the last network attempt failed */
    bool fetch_net; /* the running fetch may go to the network (its waiters count as blocked) */
    unsigned fail_streak; /* consecutive failed network fetches */
    int64_t retry_at;     /* clock_ms: no network fetch before this (backoff); 0: none */
    att_err_t last_err;
    att_diag_t last_diag;
    /* A fetched set the store has not taken yet (its write failed, or is about to be made):
     * written again by a later get, at most once per COLL_WRITE_RETRY_INTERVAL (pending_claim). */
    uint8_t *pending; /* store-format blob, or NULL */
    size_t pending_len;
    att_time_t pending_at; /* its fetched_at */
    bool write_due;        /* pending comes from a fetch not written yet: write it at once */
    bool writing;          /* a caller is writing this key's blob (single writer) */
    att_time_t last_write; /* `now` of the last failed write */
    bool write_failing;    /* the last write failed (logged once, until one succeeds) */
    /* Why the store's row for this key was not used (ATT_OK: none, fine, or not read yet). */
    att_err_t stored_err;
    att_diag_t stored_diag;
} coll_entry_t;

struct att_collsrc {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast when any fetcher finishes */
    coll_entry_t *entries;
    size_t n_entries;
    size_t max_entries; /* keys held (opts.max_entries); the least recently used idle one goes */
    uint64_t tick;      /* gets so far: coll_entry_t.used */
    /* the entries by the SHA-256 of their key (core/lru.h, room for max_entries + 1): lookups */
    struct att_lru *index;
    att_coll_source_t srcs[COLL_MAX_SOURCES]; /* their cfgs are ours */
    size_t n_srcs;
    att_store_t *store;
    int64_t max_age, refresh_margin;
    long timeout_ms;               /* deadline of one fetch */
    unsigned max_waiters, blocked; /* bound (0: none) and callers blocked on network fetches */
    unsigned rate;                 /* fetches per second, and the bucket's size */
    int64_t tokens;                /* the bucket, in thousandths of a fetch */
    int64_t bucket_at;             /* clock_ms of its last refill */
    int64_t backoff_ms, backoff_max_ms;
    int64_t (*clock_ms)(void *arg);
    void *clock_arg;
    att_collsrc_stats_t stats;
    /* the latest network fetch (any key), for /readyz: failed, when (`now`), why */
    bool net_failed;
    att_time_t net_at;
    att_diag_t net_diag;
    char owner[96]; /* this process in the store's fetch leases: host:pid:random */
};

/* Whether `now` is less than `interval` seconds after `then` (a `now` that went back is not;
 * the difference must not overflow). */
bool coll_within_interval(att_time_t now, att_time_t then, int64_t interval);

/* ---- collsrc_store.c ---- */

/* Try the store for en's key (outside the lock). A missing row is ATT_OK with *obj NULL. A row
 * that cannot be read, decoded, checked or is for another key is not used: its error is
 * returned, with the reason in d. */
att_err_t coll_store_load(att_collsrc_t *s, const coll_entry_t *en, att_time_t now, void **obj,
                          att_time_t *expiry, att_time_t *fetched_at, att_diag_t *d);
/* Called with the lock held. Keeps blob (malloc'd; taken) as en's pending set, to be written at
 * the next opportunity whatever the interval; an older pending blob is dropped. */
void coll_pending_set(coll_entry_t *en, uint8_t *blob, size_t len, att_time_t fetched_at);
/* Called with the lock held; releases it, then writes en's pending blob if one is due. */
void coll_unlock_and_persist(att_collsrc_t *s, coll_entry_t *en, att_time_t now);

/* The cluster's single flight (outside the lock; docs/collateral.md, "Many replicas"). Before en's
 * key is fetched from the network: when the store is shared by other processes (it has fetch
 * leases), a set another process stored since `since_blob` was read (or a fresh one) is taken
 * instead: *obj set, *leased false. Otherwise the caller fetches: *leased says it holds the
 * store's lease on the key (then coll_cluster_done must follow). While another process holds
 * the lease this waits for its set (news from the store, and a look at least every second), up
 * to the lease's end, then takes the lease over; at most COLL_PEER_WAIT_LEASES leases in all,
 * then it fetches without one. Every store failure ends in "fetch" (as without a cluster). */
void coll_cluster_claim(att_collsrc_t *s, const coll_entry_t *en, att_time_t now, void **obj,
                        att_time_t *expiry, att_time_t *fetched_at, bool *leased);
/* After a fetch under the lease: on success stores blob (one statement; the store tells the
 * waiting processes), then ends the lease (which tells them too). Returns whether blob was
 * stored (else the caller keeps it pending, as any failed write). */
bool coll_cluster_done(att_collsrc_t *s, const coll_entry_t *en, bool fetched, const uint8_t *blob,
                       size_t len, att_time_t fetched_at);
/* Called with the lock held: whether en's set needs a refresh at now (collsrc.c). */
bool coll_needs_refresh(const att_collsrc_t *s, const coll_entry_t *en, att_time_t now);

#endif
