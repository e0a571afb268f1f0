/* collsrc_store.c - the collateral source's side of the store: reading a key's stored set back
 * (through its fetcher's load, like any other blob) and writing fetched sets, with a failed
 * write kept pending and retried (see below). The store keys and blobs are the fetchers' own
 * ("dcap/<tee>/<fmspc>/<ca>" and Intel's "ATTCOLL1" raw set for DCAP), so existing data
 * directories keep working. The lock is never held during a store call or a log line.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collsrc_int.h"
#include "log.h"

att_err_t coll_store_load(att_collsrc_t *s, const coll_entry_t *en, att_time_t now, void **obj,
                          att_time_t *expiry, att_time_t *fetched_at, att_diag_t *d)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    *obj = NULL;
    att_err_t e = att_store_coll_get(s->store, en->key, &blob, &len, fetched_at, d);
    if (e == ATT_E_STORE_NOT_FOUND) {
        att_diag_clear(d);
        return ATT_OK;
    }
    if (e)
        return e;
    const att_coll_fetcher_t *f = en->src->fetcher;
    e = f->load(en->src->cfg, en->key, blob, len, now, "stored collateral", obj, expiry, d);
    free(blob);
    return e;
}

/* ---- persistence of fetched sets ----
 * The caller that fetched a set writes it to the store after installing it in memory (waiters
 * are not held up by the disk). A failed write keeps the blob on the entry as pending, and a
 * later get of that key (hits included) writes it again, at most once per
 * COLL_WRITE_RETRY_INTERVAL of `now`, so that a restart finds what this process verified. One
 * writer per key at a time (en->writing): a get that finds a write running answers from memory
 * and leaves the write to its owner. A newer fetch's blob replaces an older pending one. Not
 * checked here: whether the pending set has expired meanwhile (a stored set is judged when it
 * is read back, as any other). */

/* A blob on its way to the store, taken off its entry while it is written. */
typedef struct {
    char key[COLL_KEY_LEN];
    uint8_t *blob;
    size_t len;
    att_time_t fetched_at;
} coll_write_t;

typedef enum { COLL_WRITE_QUIET, COLL_WRITE_FAILED, COLL_WRITE_RECOVERED } coll_write_log_t;

void coll_pending_set(coll_entry_t *en, uint8_t *blob, size_t len, att_time_t fetched_at)
{
    free(en->pending);
    en->pending = blob;
    en->pending_len = len;
    en->pending_at = fetched_at;
    en->write_due = true;
}

/* Called with the lock held. Whether the caller is to write en's pending blob now: there is one,
 * nobody is writing this key, and it is new or the last failed write was at least
 * COLL_WRITE_RETRY_INTERVAL of `now` ago. If so the blob moves to *w and the entry is marked as
 * being written (which also keeps it from being evicted). */
static bool pending_claim(coll_entry_t *en, att_time_t now, coll_write_t *w)
{
    if (en->pending == NULL || en->writing)
        return false;
    if (!en->write_due && coll_within_interval(now, en->last_write, COLL_WRITE_RETRY_INTERVAL))
        return false;
    memcpy(w->key, en->key, sizeof(w->key));
    w->blob = en->pending;
    w->len = en->pending_len;
    w->fetched_at = en->pending_at;
    en->pending = NULL;
    en->write_due = false;
    en->writing = true;
    return true;
}

/* Called with the lock held, after the write of w ended with e: w's blob is freed, or kept as
 * pending when the write failed and no newer fetch replaced it meanwhile. Returns what to log:
 * the first failure of a run, and the success that ends one. */
static coll_write_log_t pending_settle(att_collsrc_t *s, coll_entry_t *en, coll_write_t *w,
                                       att_err_t e, att_time_t now)
{
    en->writing = false;
    if (e == ATT_OK) {
        free(w->blob);
        w->blob = NULL;
        bool was_failing = en->write_failing;
        en->write_failing = false;
        return was_failing ? COLL_WRITE_RECOVERED : COLL_WRITE_QUIET;
    }
    s->stats.store_write_errors++;
    en->last_write = now;
    if (en->pending == NULL) {
        en->pending = w->blob;
        en->pending_len = w->len;
        en->pending_at = w->fetched_at;
    } else {
        free(w->blob); /* a newer fetch's blob is waiting: it replaces this one */
    }
    w->blob = NULL;
    bool first = !en->write_failing;
    en->write_failing = true;
    return first ? COLL_WRITE_FAILED : COLL_WRITE_QUIET;
}

/* Writes w to the store (without the lock; en is pinned by en->writing), settles it, logs, and
 * claims en's next due blob into w. Returns whether it claimed one. */
static bool pending_write(att_collsrc_t *s, coll_entry_t *en, coll_write_t *w, att_time_t now)
{
    att_diag_t d;
    att_diag_clear(&d);
    att_err_t e = att_store_coll_put(s->store, w->key, w->blob, w->len, w->fetched_at, &d);
    char key[COLL_KEY_LEN];
    memcpy(key, w->key, sizeof(key));
    pthread_mutex_lock(&s->mu);
    coll_write_log_t lg = pending_settle(s, en, w, e, now);
    bool more = pending_claim(en, now, w);
    pthread_mutex_unlock(&s->mu);
    if (lg == COLL_WRITE_FAILED)
        att_log(ATT_LOG_WARN,
                "collateral for %s cannot be stored: %s; it is served from memory "
                "and the write is retried at most once per %d s",
                key, d.msg, COLL_WRITE_RETRY_INTERVAL);
    else if (lg == COLL_WRITE_RECOVERED)
        att_log(ATT_LOG_INFO, "collateral for %s is stored now (earlier writes had failed)", key);
    return more;
}

/* The caller's answer is made already: this only delays its return, by the store write. */
void coll_unlock_and_persist(att_collsrc_t *s, coll_entry_t *en, att_time_t now)
{
    coll_write_t w;
    bool claimed = s->store != NULL && pending_claim(en, now, &w);
    pthread_mutex_unlock(&s->mu);
    while (claimed)
        claimed = pending_write(s, en, &w, now);
}

/* ---- the cluster's single flight ----
 * Replicas sharing a PostgreSQL store fetch a missing or stale set once for all of them: the
 * process that takes the store's lease on the key fetches and stores the set; the others wait
 * for the row (the store's news of collateral, or a look every second since news can be lost)
 * and load it as they would a stored set. A holder that dies (kill -9 mid-fetch) stops
 * nobody for longer than its lease: the lease then runs out and the next waiter takes it over.
 * Lease times are the wall clock (replicas' clocks agree through NTP, as token times need
 * anyway); the evidence clock `now` (--at) has nothing to do with them. */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The store's row for en's key as it is now: *blob (malloc'd) or NULL when there is none or it
 * cannot be read. */
static void row_read(att_collsrc_t *s, const coll_entry_t *en, uint8_t **blob, size_t *len,
                     att_time_t *at)
{
    att_diag_t d;
    att_diag_clear(&d);
    *blob = NULL;
    *len = 0;
    if (att_store_coll_get(s->store, en->key, blob, len, at, &d) != ATT_OK) {
        free(*blob);
        *blob = NULL;
    }
}

/* Whether the row (blob) is one to take: it loads, and is fresh or not the row seen first. */
static bool row_take(att_collsrc_t *s, const coll_entry_t *en, att_time_t now, const uint8_t *blob,
                     size_t len, att_time_t at, const uint8_t *first, size_t first_len, void **obj,
                     att_time_t *expiry, att_time_t *fetched_at)
{
    if (blob == NULL)
        return false;
    bool changed = first == NULL || first_len != len || memcmp(first, blob, len) != 0;
    const att_coll_fetcher_t *f = en->src->fetcher;
    att_diag_t d;
    att_diag_clear(&d);
    void *o = NULL;
    att_time_t exp = 0;
    if (f->load(en->src->cfg, en->key, blob, len, now, "stored collateral", &o, &exp, &d) != ATT_OK)
        return false;
    coll_entry_t tmp = {.obj = o, .expiry = exp, .fetched_at = at, .fetched_at_known = true};
    if (!changed && coll_needs_refresh(s, &tmp, now)) {
        f->release(o);
        return false;
    }
    *obj = o;
    *expiry = exp;
    *fetched_at = at;
    return true;
}

void coll_cluster_claim(att_collsrc_t *s, const coll_entry_t *en, att_time_t now, void **obj,
                        att_time_t *expiry, att_time_t *fetched_at, bool *leased)
{
    *obj = NULL;
    *leased = false;
    if (s->store == NULL || s->store->ops->coll_lease == NULL)
        return; /* one process per store (SQLite): the in-process single flight is all */
    int64_t lease_ms = s->timeout_ms + COLL_LEASE_MARGIN_MS;
    int64_t start = wall_ms(), give_up = start + COLL_PEER_WAIT_LEASES * lease_ms;
    uint8_t *first = NULL;
    size_t first_len = 0;
    bool looked = false, waited = false;
    for (;;) {
        uint64_t news = att_store_coll_news(s->store); /* before looking: no news is lost */
        uint8_t *blob = NULL;
        size_t len = 0;
        att_time_t at = 0;
        row_read(s, en, &blob, &len, &at);
        /* the first look takes only a fresh row; later ones also any row changed since */
        bool got = row_take(s, en, now, blob, len, at, looked ? first : blob,
                            looked ? first_len : len, obj, expiry, fetched_at);
        if (!looked) { /* the row as it was before any wait: a fresh one is taken at once */
            looked = true;
            first = blob;
            first_len = len;
            blob = NULL;
        }
        free(blob);
        if (got) {
            if (waited)
                att_log(ATT_LOG_INFO, "collateral for %s: another replica fetched it (%lld ms)",
                        en->key, (long long)(wall_ms() - start));
            break;
        }
        int64_t t = wall_ms(), held_until = 0;
        if (t >= give_up) {
            att_log(ATT_LOG_WARN,
                    "collateral for %s: another replica's fetch did not store it within %lld ms; "
                    "fetching it here",
                    en->key, (long long)(t - start));
            break;
        }
        att_diag_t d;
        att_diag_clear(&d);
        bool mine = false;
        att_err_t e = att_store_coll_lease(s->store, en->key, s->owner, t, t + lease_ms, &mine,
                                           &held_until, &d);
        if (e != ATT_OK) {
            if (e != ATT_E_UNSUPPORTED) /* the store is down or failing: fetch as one process */
                att_log(ATT_LOG_WARN, "collateral for %s: no fetch lease (%s); fetching it here",
                        en->key, d.msg);
            break;
        }
        if (mine) {
            *leased = true;
            break;
        }
        /* another process fetches: its news, a look every second, or its lease's end */
        int64_t wait = held_until - t + 1;
        if (wait > 1000)
            wait = 1000;
        if (wait < 1)
            wait = 1;
        waited = true;
        att_store_coll_wait(s->store, news, (long)wait);
    }
    free(first);
}

bool coll_cluster_done(att_collsrc_t *s, const coll_entry_t *en, bool fetched, const uint8_t *blob,
                       size_t len, att_time_t fetched_at)
{
    att_diag_t d;
    att_diag_clear(&d);
    bool stored =
        fetched && att_store_coll_put(s->store, en->key, blob, len, fetched_at, &d) == ATT_OK;
    att_diag_clear(&d);
    att_store_coll_lease_end(s->store, en->key, s->owner, &d); /* NOT_FOUND: it ran out */
    return stored;
}
