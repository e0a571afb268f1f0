/* collsrc_store.c - the collateral source's side of the store: reading a key's stored set back
 * (through its fetcher's load, like any other blob) and writing fetched sets, with a failed
 * write kept pending and retried (see below). The store keys and blobs are the fetchers' own
 * ("dcap/<tee>/<fmspc>/<ca>" and Intel's "ATTCOLL1" raw set for DCAP), so existing data
 * directories keep working. The lock is never held during a store call or a log line.
 */
#include <stdlib.h>
#include <string.h>

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
