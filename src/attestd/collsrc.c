/* collsrc.c - collateral for attestd, vendor-neutral: sets named by string keys
 * ("<prefix>/..."), each prefix served by one fetcher (attest/collateral.h),
 * kept in memory with refresh, stale serving and single-flight fetches, persisted in the store
 * (collsrc_store.c), seeded from an offline directory, and bounded by a deadline per fetch,
 * max_waiters, a per-key backoff and a global fetch rate. See collsrc.h and
 * docs/collateral.md. Never reads the clock: `now` comes from the caller (the fetch deadline
 * and opts.clock_ms aside). The global lock is never held during I/O (network, store, files,
 * log lines). Knows no vendor: what a key, blob or set means is the fetcher's.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "collsrc_int.h"
#include "core/lru.h"
#include "crypto/crypto.h" /* att_sha256_2: the index key */
#include "log.h"
#include "net/http.h" /* att_net_mono_ms: the clock of fetch deadlines */

#define COLL_RETRY_INTERVAL     60     /* seconds of `now` between attempts on a set in hand */
#define COLL_MAX_ENTRIES        16384  /* keys held by default (opts.max_entries), LRU */
#define COLL_DEF_RATE           2      /* fetches per second, all keys */
#define COLL_DEF_BACKOFF_MS     5000   /* first backoff after a failed fetch of a key */
#define COLL_DEF_BACKOFF_MAX_MS 300000 /* the doubling stops here */

static int64_t mono_clock(void *arg)
{
    (void)arg;
    return att_net_mono_ms();
}

/* Whether en's fetcher has a network source. */
static bool online(const coll_entry_t *en)
{
    const att_coll_fetcher_t *f = en->src->fetcher;
    return f->fetch != NULL && (f->online == NULL || f->online(en->src->cfg));
}

/* The source serving key (by its prefix, the part before the first '/'), after the generic
 * checks (length, characters) and the fetcher's own. */
static att_err_t key_source(const att_collsrc_t *s, const char *key, const att_coll_source_t **out,
                            att_diag_t *d)
{
    size_t n = strnlen(key, COLL_KEY_LEN);
    if (n == 0 || n >= COLL_KEY_LEN)
        return att_diag_set(d, ATT_E_ARG, "collsrc: a key is 1 to %d characters", COLL_KEY_LEN - 1);
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '-' || c == '_' || c == '.'))
            return att_diag_set(d, ATT_E_ARG,
                                "collsrc: key character %zu is not one of A-Z a-z 0-9 / - _ .", i);
    }
    size_t pl = strcspn(key, "/");
    for (size_t i = 0; i < s->n_srcs; i++) {
        const att_coll_fetcher_t *f = s->srcs[i].fetcher;
        if (strlen(f->prefix) != pl || strncmp(f->prefix, key, pl) != 0 || key[pl] != '/')
            continue;
        att_err_t e = f->check_key ? f->check_key(s->srcs[i].cfg, key, d) : ATT_OK;
        if (e == ATT_OK)
            *out = &s->srcs[i];
        return e;
    }
    return att_diag_set(d, ATT_E_COLL_MISSING, "no collateral source serves \"%.*s/...\" keys",
                        (int)(pl < 32 ? pl : 32), key);
}

static void coll_warn(void *arg, const char *msg)
{
    (void)arg;
    att_log(ATT_LOG_WARN, "%s", msg);
}

/* Whether `now` is less than `interval` seconds after `then` (a `now` that went back is not, so
 * a clock set back does not silence retries; the difference must not overflow). */
bool coll_within_interval(att_time_t now, att_time_t then, int64_t interval)
{
    int64_t dt;
    return now >= then && !__builtin_sub_overflow(now, then, &dt) && dt < interval;
}

/* Whether the set is older than max_age. fetched_at may come from the store's row, which can
 * hold anything (a corrupted row, a clock that went back): a time after `now` counts as too
 * old (the age is unknown; a refresh settles it), and `now - fetched_at` must not overflow
 * (INT64_MIN from the row did: undefined behaviour, in practice a set never refreshed);
 * within_interval says no in both cases. */
static bool too_old(const att_collsrc_t *s, const coll_entry_t *en, att_time_t now)
{
    return s->max_age > 0 && en->fetched_at_known &&
           !coll_within_interval(now, en->fetched_at, s->max_age);
}

static bool needs_refresh(const att_collsrc_t *s, const coll_entry_t *en, att_time_t now)
{
    att_time_t exp = en->expiry;
    if (now >= exp - s->refresh_margin)
        return true;
    return too_old(s, en, now);
}

/* While another caller refreshes it, a set may be served without waiting if it has not expired
 * and is not older than max_age. */
bool coll_needs_refresh(const att_collsrc_t *s, const coll_entry_t *en, att_time_t now)
{
    return needs_refresh(s, en, now);
}

static bool usable_while_refreshing(const att_collsrc_t *s, const coll_entry_t *en, att_time_t now)
{
    if (now >= en->expiry)
        return false;
    return !too_old(s, en, now);
}

/* The index key of a collateral key. */
static bool entry_hash(const char *key, uint8_t h[32])
{
    return att_sha256_2((const uint8_t *)key, strlen(key), NULL, 0, h);
}

/* Called with the lock held. */
static coll_entry_t *entry_find(att_collsrc_t *s, const char *key)
{
    uint8_t h[32];
    coll_entry_t *en = entry_hash(key, h) ? att_lru_get(s->index, h, 0) : NULL;
    return en != NULL && strcmp(en->key, key) == 0 ? en : NULL;
}

/* Called with the lock held. Keys come from quotes, whose PCK chains may not be checked yet:
 * bound the number of keys, evicting one that holds no set and that nobody is using. */
static coll_entry_t *entry_add(att_collsrc_t *s, const char *key, const att_coll_source_t *src)
{
    if (s->n_entries >= s->max_entries) { /* the least recently used idle key goes */
        coll_entry_t **victim = NULL;
        for (coll_entry_t **pp = &s->entries; *pp; pp = &(*pp)->next)
            if (!(*pp)->fetching && !(*pp)->waiters && !(*pp)->writing && !(*pp)->pending &&
                ((*pp)->obj == NULL || online(*pp)) && /* offline sets: nowhere to get back */
                (victim == NULL || (*pp)->used < (*victim)->used))
                victim = pp;
        if (victim == NULL)
            return NULL;
        coll_entry_t *v = *victim;
        uint8_t vh[32];
        if (!entry_hash(v->key, vh))
            return NULL;
        att_lru_remove(s->index, vh, 0);
        *victim = v->next;
        if (v->obj != NULL)
            v->src->fetcher->release(v->obj);
        free(v);
        s->n_entries--;
        s->stats.evictions++;
    }
    coll_entry_t *en = calloc(1, sizeof(*en));
    uint8_t h[32];
    if (en == NULL || !entry_hash(key, h)) {
        free(en);
        return NULL;
    }
    snprintf(en->key, sizeof(en->key), "%s", key);
    if (att_lru_put(s->index, h, 0, en) != NULL) { /* the index has room for max_entries + 1 */
        free(en);
        return NULL;
    }
    en->src = src;
    en->next = s->entries;
    s->entries = en;
    s->n_entries++;
    return en;
}

/* ---- life cycle ---- */

/* The offline callback (only during att_collsrc_new: no lock needed): seed key with obj, the
 * later of two sets for one key kept. */
typedef struct {
    att_collsrc_t *s;
    const att_coll_source_t *src;
    size_t found;
} coll_seed_t;

static att_err_t offline_found(void *arg, const char *key, void *obj, att_time_t next_update,
                               att_diag_t *d)
{
    coll_seed_t *sd = arg;
    const att_coll_fetcher_t *f = sd->src->fetcher;
    const att_coll_source_t *src = NULL;
    att_err_t e = key_source(sd->s, key, &src, d);
    if (e == ATT_OK && src != sd->src)
        e = att_diag_set(d, ATT_E_COLL_FORMAT, "offline collateral: %s is not a %s key", key,
                         f->prefix);
    if (e != ATT_OK) {
        f->release(obj);
        return e;
    }
    sd->found++;
    coll_entry_t *en = entry_find(sd->s, key);
    if (en == NULL && (en = entry_add(sd->s, key, src)) == NULL) {
        f->release(obj);
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    if (en->obj && en->expiry >= next_update) {
        f->release(obj); /* two sets for one key: keep the later one */
        return ATT_OK;
    }
    if (en->obj)
        f->release(en->obj);
    en->obj = obj;
    en->expiry = next_update;
    en->fetched_at_known = false;
    return ATT_OK;
}

/* Every fetcher enumerates its sets in dir; the directory must hold at least one set. */
static att_err_t offline_load(att_collsrc_t *s, const char *dir, att_diag_t *d)
{
    att_err_t first = ATT_OK;
    att_diag_t fd;
    att_diag_clear(&fd);
    size_t found = 0;
    for (size_t i = 0; i < s->n_srcs; i++) {
        const att_coll_fetcher_t *f = s->srcs[i].fetcher;
        if (f->offline == NULL)
            continue;
        coll_seed_t sd = {.s = s, .src = &s->srcs[i]};
        att_diag_t d2;
        att_diag_clear(&d2);
        att_err_t e = f->offline(s->srcs[i].cfg, dir, 0, offline_found, &sd, &d2);
        found += sd.found;
        if (e == ATT_E_COLL_MISSING) { /* none of this fetcher's sets here */
            if (first == ATT_OK) {
                first = e;
                fd = d2;
            }
            continue;
        }
        if (e != ATT_OK) {
            if (d)
                *d = d2;
            return e;
        }
    }
    if (found == 0 && first != ATT_OK) {
        if (d)
            *d = fd;
        return first;
    }
    return ATT_OK;
}

/* The sources of opts (1 to COLL_MAX_SOURCES, checked by the caller), each fetcher complete and
 * alone on its prefix. The cfgs become s's, also on failure. */
static att_err_t take_sources(att_collsrc_t *s, const att_collsrc_opts_t *o, att_diag_t *d)
{
    for (size_t i = 0; i < o->n_sources; i++) /* ours from here on, even on failure */
        s->srcs[s->n_srcs++] = o->sources[i];
    for (size_t i = 0; i < o->n_sources; i++) {
        const att_coll_fetcher_t *f = o->sources[i].fetcher;
        if (f == NULL || f->prefix == NULL || f->prefix[0] == 0 ||
            strlen(f->prefix) >= ATT_COLL_PREFIX_MAX || strchr(f->prefix, '/') != NULL ||
            f->load == NULL || f->retain == NULL || f->release == NULL || f->url_name == NULL)
            return att_diag_set(d, ATT_E_ARG, "collsrc: source %zu: incomplete fetcher", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(o->sources[j].fetcher->prefix, f->prefix) == 0)
                return att_diag_set(d, ATT_E_ARG, "collsrc: two fetchers for \"%s\" keys",
                                    f->prefix);
    }
    return ATT_OK;
}

static void free_sources(const att_collsrc_opts_t *opts)
{
    for (size_t i = 0; opts->sources != NULL && i < opts->n_sources; i++)
        if (opts->sources[i].fetcher && opts->sources[i].fetcher->cfg_free)
            opts->sources[i].fetcher->cfg_free(opts->sources[i].cfg);
}

/* This process's name in the store's fetch leases: host, pid and 32 random bits (a restarted
 * process with a recycled pid is another owner). */
static void owner_init(att_collsrc_t *s)
{
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint32_t)att_net_mono_ms();
    snprintf(s->owner, sizeof s->owner, "%s:%ld:%08x", host, (long)getpid(), r);
}

att_err_t att_collsrc_new(const att_collsrc_opts_t *opts, att_collsrc_t **out, att_diag_t *d)
{
    if (opts == NULL || out == NULL) {
        if (opts != NULL)
            free_sources(opts);
        return att_diag_set(d, ATT_E_ARG, "collsrc: NULL argument");
    }
    *out = NULL;
    att_err_t e = ATT_OK;
    if (opts->sources == NULL || opts->n_sources == 0 || opts->n_sources > COLL_MAX_SOURCES) {
        free_sources(opts);
        return att_diag_set(d, ATT_E_ARG, "collsrc: 1 to %d sources", COLL_MAX_SOURCES);
    }
    att_collsrc_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        free_sources(opts);
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if ((e = take_sources(s, opts, d)) != ATT_OK)
        goto fail;
    bool any_online = false;
    for (size_t i = 0; i < s->n_srcs; i++) {
        coll_entry_t probe = {.src = &s->srcs[i]};
        any_online = any_online || online(&probe);
    }
    if (!any_online && opts->offline_dir == NULL && opts->store == NULL) {
        e = att_diag_set(d, ATT_E_ARG,
                         "collsrc: no collateral source (need a fetcher with a "
                         "network source, an offline directory or a store)");
        goto fail;
    }
    if (opts->max_age < 0 || opts->refresh_margin < 0 || opts->timeout_ms < 0 ||
        opts->backoff_ms < 0 || opts->backoff_max_ms < 0) {
        e = att_diag_set(d, ATT_E_ARG,
                         "collsrc: negative max_age, refresh_margin, timeout "
                         "or backoff");
        goto fail;
    }
    if (opts->fetch_rate > 1000000 || opts->backoff_max_ms > INT64_MAX / 4) {
        e = att_diag_set(d, ATT_E_ARG, "collsrc: fetch rate or backoff out of range");
        goto fail;
    }
    s->store = opts->store;
    s->max_age = opts->max_age;
    s->refresh_margin = opts->refresh_margin ? opts->refresh_margin : 3600;
    s->timeout_ms = opts->timeout_ms ? opts->timeout_ms : 10000;
    s->max_waiters = opts->max_waiters;
    s->rate = opts->fetch_rate ? opts->fetch_rate : COLL_DEF_RATE;
    s->backoff_ms = opts->backoff_ms ? opts->backoff_ms : COLL_DEF_BACKOFF_MS;
    s->backoff_max_ms = opts->backoff_max_ms ? opts->backoff_max_ms : COLL_DEF_BACKOFF_MAX_MS;
    s->max_entries = opts->max_entries ? opts->max_entries : COLL_MAX_ENTRIES;
    if ((s->index = att_lru_new(s->max_entries + 1)) == NULL) {
        e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto fail;
    }
    if (s->backoff_max_ms < s->backoff_ms)
        s->backoff_max_ms = s->backoff_ms;
    s->clock_ms = opts->clock_ms ? opts->clock_ms : mono_clock;
    s->clock_arg = opts->clock_arg;
    s->tokens = (int64_t)s->rate * 1000; /* full */
    s->bucket_at = s->clock_ms(s->clock_arg);
    if (opts->offline_dir && (e = offline_load(s, opts->offline_dir, d)))
        goto fail;
    owner_init(s);
    *out = s;
    return ATT_OK;
fail:
    att_collsrc_free(s);
    return e;
}

void att_collsrc_free(att_collsrc_t *s)
{
    if (s == NULL)
        return;
    coll_entry_t *en = s->entries;
    while (en) {
        coll_entry_t *nx = en->next;
        if (en->obj)
            en->src->fetcher->release(en->obj);
        free(en->pending);
        free(en);
        en = nx;
    }
    for (size_t i = 0; i < s->n_srcs; i++)
        if (s->srcs[i].fetcher->cfg_free)
            s->srcs[i].fetcher->cfg_free(s->srcs[i].cfg);
    att_lru_free(s->index, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void att_collsrc_stats(att_collsrc_t *s, att_collsrc_stats_t *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    out->entries = s->n_entries;
    out->capacity = s->max_entries;
    pthread_mutex_unlock(&s->mu);
}

/* Fetch key from the network and check it (outside the lock): *obj the set, *blob (malloc'd)
 * the blob for the store; both NULL on failure. *upstream_s: the source's Retry-After. */
static att_err_t net_fetch(att_collsrc_t *s, const coll_entry_t *en, att_time_t now, void **obj,
                           att_time_t *expiry, uint8_t **blob, size_t *blen, int64_t *upstream_s,
                           att_diag_t *d)
{
    const att_coll_fetcher_t *f = en->src->fetcher;
    *obj = NULL;
    *blob = NULL;
    *blen = 0;
    att_coll_net_t net = {.deadline_ms = att_net_mono_ms() + s->timeout_ms,
                          .timeout_ms = s->timeout_ms,
                          .warn = coll_warn};
    int64_t t0 = att_net_mono_ms();
    att_err_t e = f->fetch(en->src->cfg, en->key, &net, blob, blen, d);
    pthread_mutex_lock(&s->mu);
    s->stats.requests += net.requests;
    pthread_mutex_unlock(&s->mu);
    *upstream_s = net.retry_after;
    if (e == ATT_OK)
        e = f->load(en->src->cfg, en->key, *blob, *blen, now, NULL, obj, expiry, d);
    if (e != ATT_OK) { /* every failed fetch is logged: what, why (URL, status), how long */
        /* the message names the URL asked: its user:password@ and secret-looking query values
         * are hidden here, for the log and for the client's error message alike */
        char msg[sizeof d->msg];
        att_log_redact_urls(d->msg, msg, sizeof msg);
        memcpy(d->msg, msg, sizeof msg);
        json_t *o = json_pack(
            "{s:s, s:s, s:o*, s:I, s:I, s:I}", "key", en->key, "error", att_err_name(e), "reason",
            att_log_jstr(d->msg), "duration_ms", (json_int_t)(att_net_mono_ms() - t0), "requests",
            (json_int_t)net.requests, "retry_after_s", (json_int_t)net.retry_after);
        att_log_json(ATT_LOG_WARN, "collateral fetch failed", o);
        json_decref(o);
        free(*blob);
        *blob = NULL;
        *blen = 0;
    }
    return e;
}

/* ---- what a get may cost the source ----
 * A get that would fetch from the network asks, in this order: is the key in its backoff after
 * a failed fetch, are max_waiters callers already blocked on network fetches, is there a token
 * in the fetch-rate bucket. A refusal serves the set in hand (stale) if there is one, else
 * answers ATT_E_FETCH (or the failed fetch's ATT_E_FETCH_STATUS) at once, with the seconds to
 * wait. Nothing here sleeps or reads the network. */

typedef enum { COLL_GO, COLL_BACKOFF, COLL_BUSY, COLL_RATE } coll_deny_t;

static int64_t ceil_s(int64_t ms)
{
    return ms <= 1000 ? 1 : (ms + 999) / 1000;
}

/* Called with the lock held: take one fetch from the bucket (refilled at s->rate per second up
 * to s->rate), or say in *wait_ms when the next one is there. A clock that went back refills
 * nothing. */
static bool rate_take(att_collsrc_t *s, int64_t now_ms, int64_t *wait_ms)
{
    int64_t cap = (int64_t)s->rate * 1000, dt = 0;
    if (!__builtin_sub_overflow(now_ms, s->bucket_at, &dt) && dt > 0) {
        s->tokens = dt >= 1000 ? cap : s->tokens + dt * (int64_t)s->rate;
        if (s->tokens > cap)
            s->tokens = cap;
    }
    s->bucket_at = now_ms;
    if (s->tokens >= 1000) {
        s->tokens -= 1000;
        return true;
    }
    *wait_ms = (1000 - s->tokens + s->rate - 1) / s->rate;
    return false;
}

/* Called with the lock held, after a network fetch of en ended with fe; upstream_s is the
 * source's Retry-After in seconds (0: none), honoured up to backoff_max_ms. */
static void backoff_settle(att_collsrc_t *s, coll_entry_t *en, att_err_t fe, int64_t upstream_s,
                           int64_t now_ms)
{
    if (fe == ATT_OK) {
        en->fail_streak = 0;
        en->retry_at = 0;
        return;
    }
    if (en->fail_streak < 64)
        en->fail_streak++;
    int64_t delay = s->backoff_ms;
    for (unsigned i = 1; i < en->fail_streak && delay < s->backoff_max_ms; i++)
        delay *= 2; /* backoff_max_ms <= INT64_MAX / 4: no overflow */
    if (upstream_s > 0 && upstream_s < s->backoff_max_ms / 1000 && upstream_s * 1000 > delay)
        delay = upstream_s * 1000;
    else if (upstream_s > 0 && upstream_s >= s->backoff_max_ms / 1000)
        delay = s->backoff_max_ms;
    if (delay > s->backoff_max_ms)
        delay = s->backoff_max_ms;
    en->retry_at = now_ms + delay;
}

/* Called with the lock held: may en go to the network now? Counts a refusal; *wait_ms says when
 * to ask again. */
static coll_deny_t fetch_allowed(att_collsrc_t *s, coll_entry_t *en, int64_t now_ms,
                                 int64_t *wait_ms)
{
    if (en->retry_at != 0 && now_ms < en->retry_at) {
        *wait_ms = en->retry_at - now_ms;
        s->stats.backoff_denied++;
        return COLL_BACKOFF;
    }
    if (s->max_waiters != 0 && s->blocked >= s->max_waiters) {
        *wait_ms = 1000;
        s->stats.busy_denied++;
        return COLL_BUSY;
    }
    if (!rate_take(s, now_ms, wait_ms)) {
        s->stats.rate_denied++;
        return COLL_RATE;
    }
    return COLL_GO;
}

/* Called with the lock held: the seconds after which a get that failed on en may succeed: the
 * rest of its backoff after a failed fetch, else 0. */
static int64_t failure_retry(const att_collsrc_t *s, const coll_entry_t *en)
{
    if (!en->failed || en->retry_at == 0)
        return 0;
    int64_t left = en->retry_at - s->clock_ms(s->clock_arg);
    return ceil_s(left);
}

static att_err_t answer(att_collsrc_t *s, coll_entry_t *en, att_time_t now, void **out,
                        att_diag_t *d);

/* Called with the lock held: the answer to a get refused a fetch (why) that has no set. */
static att_err_t denied(att_collsrc_t *s, coll_entry_t *en, coll_deny_t why, int64_t wait_ms,
                        att_time_t now, int64_t *retry_after, att_diag_t *d)
{
    int64_t secs = ceil_s(wait_ms);
    *retry_after = secs;
    if (why == COLL_BUSY)
        return att_diag_set(d, ATT_E_FETCH,
                            "collateral for %s must be fetched, and %u requests "
                            "are already waiting on collateral fetches (the most allowed): try "
                            "again in %lld s",
                            en->key, s->max_waiters, (long long)secs);
    if (why == COLL_RATE)
        return att_diag_set(d, ATT_E_FETCH,
                            "collateral for %s must be fetched, and the fetch "
                            "rate (%u per second) is used up: try again in %lld s",
                            en->key, s->rate, (long long)secs);
    void *none = NULL; /* en has no set: stays NULL */
    att_diag_t last;
    att_diag_clear(&last);
    att_err_t e = answer(s, en, now, &none, &last);
    return att_diag_set(d, e == ATT_E_FETCH_STATUS ? e : ATT_E_FETCH,
                        "%.380s (collateral for "
                        "%s is not fetched again for %lld s after %u failed fetch%s)",
                        last.msg, en->key, (long long)secs, en->fail_streak,
                        en->fail_streak == 1 ? "" : "es");
}

/* Called with the lock held: answer from the entry after a fetch (ours or another's). */
static att_err_t answer(att_collsrc_t *s, coll_entry_t *en, att_time_t now, void **out,
                        att_diag_t *d)
{
    if (en->obj) {
        if (needs_refresh(s, en, now) && (en->failed || !online(en)))
            s->stats.served_stale++;
        *out = en->src->fetcher->retain(en->obj);
        return ATT_OK;
    }
    if (en->last_err) {
        if (en->stored_err)
            return att_diag_set(d, en->last_err, "%s (and the stored set is unusable: %s)",
                                en->last_diag.msg, en->stored_diag.msg);
        if (d)
            *d = en->last_diag;
        return en->last_err;
    }
    char why[160];
    snprintf(why, sizeof why, "no %s is configured", en->src->fetcher->url_name);
    if (en->stored_err)
        return att_diag_set(d, ATT_E_COLL_MISSING,
                            "no collateral for %s: the stored set is "
                            "unusable (%s) and %s",
                            en->key, en->stored_diag.msg,
                            online(en) ? "none was fetched yet" : why);
    snprintf(why, sizeof why, "not in the offline directory or the store, and no %s is configured",
             en->src->fetcher->url_name);
    return att_diag_set(d, ATT_E_COLL_MISSING, "no collateral for %s (%s)", en->key,
                        online(en) ? "not fetched yet" : why);
}

/* Called with the lock held: the answer to a get that did what it could for en, its fetch
 * refused (why, with wait_ms) or not (COLL_GO): the set in hand (counted stale when a refused
 * fetch leaves it needing a refresh), else the refusal, else en's last error and how long to
 * wait after it. */
static att_err_t answer_get(att_collsrc_t *s, coll_entry_t *en, coll_deny_t why, int64_t wait_ms,
                            att_time_t now, void **out, int64_t *retry_after, att_diag_t *d)
{
    if (en->obj == NULL && why != COLL_GO) /* no set in hand, the network refused */
        return denied(s, en, why, wait_ms, now, retry_after, d);
    if (en->obj && why != COLL_GO && !en->failed && needs_refresh(s, en, now))
        s->stats.served_stale++; /* answer() counts it when the last fetch failed */
    att_err_t e = answer(s, en, now, out, d);
    if (e != ATT_OK)
        *retry_after = failure_retry(s, en);
    return e;
}

att_err_t att_collsrc_get(att_collsrc_t *s, const char *key, att_time_t now, void **out,
                          int64_t *retry_after, att_diag_t *d)
{
    int64_t ra_unused;
    if (retry_after == NULL)
        retry_after = &ra_unused;
    *retry_after = 0;
    if (s == NULL || key == NULL || out == NULL)
        return att_diag_set(d, ATT_E_ARG, "collsrc: NULL argument");
    *out = NULL;
    const att_coll_source_t *src = NULL;
    att_err_t ke = key_source(s, key, &src, d);
    if (ke != ATT_OK)
        return ke;

    pthread_mutex_lock(&s->mu);
    coll_entry_t *en = entry_find(s, key);
    if (en == NULL && (en = entry_add(s, key, src)) == NULL) {
        pthread_mutex_unlock(&s->mu);
        return att_diag_set(d, ATT_E_LIMIT,
                            "collsrc: cannot track collateral for %s (out of "
                            "memory, or %zu keys held and all in use)",
                            key, s->max_entries);
    }
    en->used = ++s->tick;
    if (en->obj && !en->fetched_at_known) { /* an offline seed: its age starts now */
        en->fetched_at = now;
        en->fetched_at_known = true;
    }
    const att_coll_fetcher_t *f = src->fetcher;
    if (en->obj && !needs_refresh(s, en, now)) {
        s->stats.hits++;
        *out = f->retain(en->obj);
        coll_unlock_and_persist(s, en, now);
        return ATT_OK;
    }
    if (en->fetching && en->obj && usable_while_refreshing(s, en, now)) {
        /* Someone is refreshing a set that is still valid: no need to wait for the network. */
        s->stats.hits++;
        *out = f->retain(en->obj);
        coll_unlock_and_persist(s, en, now);
        return ATT_OK;
    }
    s->stats.misses++;
    if (en->fetching) { /* single flight: wait for the running fetch and share its result */
        /* Waiting on the network holds the caller's thread like fetching does: bounded. */
        bool blocks = en->fetch_net;
        if (blocks && s->max_waiters != 0 && s->blocked >= s->max_waiters) {
            s->stats.busy_denied++;
            att_err_t e = en->obj ? answer(s, en, now, out, d)
                                  : denied(s, en, COLL_BUSY, 1000, now, retry_after, d);
            coll_unlock_and_persist(s, en, now);
            return e;
        }
        uint64_t gen = en->gen;
        en->waiters++;
        s->blocked += blocks;
        while (en->fetching && en->gen == gen)
            pthread_cond_wait(&s->cv, &s->mu);
        s->blocked -= blocks;
        en->waiters--;
        att_err_t e = answer_get(s, en, COLL_GO, 0, now, out, retry_after, d);
        coll_unlock_and_persist(s, en, now);
        return e;
    }
    bool try_store = s->store != NULL && !en->store_tried;
    /* With a set in hand, try the network at most once per COLL_RETRY_INTERVAL of `now`. */
    bool try_net =
        online(en) && !(en->obj && en->attempted &&
                        coll_within_interval(now, en->last_attempt, COLL_RETRY_INTERVAL));
    /* Backoff, blocked callers, fetch rate: a refused fetch serves the set in hand, if any. */
    coll_deny_t deny = COLL_GO;
    int64_t deny_ms = 0;
    if (try_net && (deny = fetch_allowed(s, en, s->clock_ms(s->clock_arg), &deny_ms)) != COLL_GO)
        try_net = false;
    if (!try_store && !try_net) {
        att_err_t e = answer_get(s, en, deny, deny_ms, now, out, retry_after, d);
        coll_unlock_and_persist(s, en, now);
        return e;
    }
    en->fetching = true;
    en->fetch_net = try_net;
    s->blocked += try_net;
    pthread_mutex_unlock(&s->mu);

    /* ---- I/O, without the lock; `en` stays valid: a fetching entry is never evicted ---- */
    void *stored = NULL, *fetched = NULL;
    att_time_t stored_at = 0, stored_exp = 0, fetched_exp = 0;
    att_err_t fe = ATT_OK, se = ATT_OK;
    att_diag_t fd, sd;
    att_diag_clear(&fd);
    att_diag_clear(&sd);
    uint8_t *blob = NULL;
    size_t blen = 0;
    int64_t upstream_retry = 0;
    bool netted = false, leased = false, written = false, peered = false;
    if (try_store)
        se = coll_store_load(s, en, now, &stored, &stored_exp, &stored_at, &sd);
    if (try_net) {
        /* The stored set suffices if it is fresh; en->coll/fetched_at are only read under the
         * lock, so judge it through a scratch entry. */
        coll_entry_t tmp = {
            .obj = stored, .expiry = stored_exp, .fetched_at = stored_at, .fetched_at_known = true};
        void *peer = NULL;
        att_time_t peer_exp = 0, peer_at = 0;
        if (stored == NULL || needs_refresh(s, &tmp, now)) /* once for the cluster */
            coll_cluster_claim(s, en, now, &peer, &peer_exp, &peer_at, &leased);
        if (peer != NULL) { /* another replica fetched it: as a stored set */
            if (stored != NULL)
                f->release(stored);
            stored = peer;
            stored_exp = peer_exp;
            stored_at = peer_at;
            try_store = peered = true;
            se = ATT_OK;
            att_diag_clear(&sd);
        } else if (stored == NULL || needs_refresh(s, &tmp, now)) {
            netted = true;
            fe = net_fetch(s, en, now, &fetched, &fetched_exp, &blob, &blen, &upstream_retry, &fd);
            if (leased)
                written = coll_cluster_done(s, en, fe == ATT_OK, blob, blen, now);
        }
    }

    pthread_mutex_lock(&s->mu);
    s->blocked -= try_net;
    void *drop1 = NULL, *drop2 = NULL;
    if (try_store) {
        en->store_tried = true;
        en->stored_err = se;
        en->stored_diag = sd;
    }
    if (stored) {
        if (en->obj == NULL || stored_exp > en->expiry || (peered && stored_exp == en->expiry)) {
            drop1 = en->obj;
            en->obj = stored;
            en->expiry = stored_exp;
            en->fetched_at = stored_at;
            en->fetched_at_known = true;
        } else {
            drop1 = stored;
        }
    }
    if (peered) { /* as good as our own fetch: no network attempt for a while */
        en->attempted = true;
        en->last_attempt = now;
        en->failed = false;
        en->last_err = ATT_OK;
    }
    if (netted) {
        s->stats.fetches++;
        backoff_settle(s, en, fe, upstream_retry, s->clock_ms(s->clock_arg));
        en->attempted = true;
        en->last_attempt = now;
        if (fe == ATT_OK) {
            drop2 = en->obj;
            en->obj = fetched;
            en->expiry = fetched_exp;
            en->fetched_at = now;
            en->fetched_at_known = true;
            en->failed = false;
            en->last_err = ATT_OK;
            if (s->store != NULL && !written)
                coll_pending_set(en, blob, blen, now); /* written just below */
            else
                free(blob);
            blob = NULL;
        } else {
            s->stats.fetch_errors++;
            en->failed = true;
            en->last_err = fe;
            en->last_diag = fd;
        }
        /* readiness: only a success or a failure to reach the source (connection, TLS, deadline)
         * counts; an error status (a 404 for a platform the source does not know) is about the
         * key a client chose, and must not let a client make attestd "not ready" */
        if (fe == ATT_OK || fe == ATT_E_FETCH) {
            s->net_failed = fe != ATT_OK;
            s->net_at = now;
            s->net_diag = fd;
        }
    }
    en->fetching = false;
    en->fetch_net = false;
    en->gen++;
    pthread_cond_broadcast(&s->cv);
    att_err_t e = answer_get(s, en, deny, deny_ms, now, out, retry_after, d);
    coll_unlock_and_persist(s, en, now);
    if (drop1)
        f->release(drop1);
    if (drop2)
        f->release(drop2);
    if (se != ATT_OK) /* read once per entry: logged once */
        att_log(ATT_LOG_WARN, "the stored collateral for %s is not used: %s", key, sd.msg);
    return e;
}

bool att_collsrc_healthy(att_collsrc_t *s, char *why, size_t n)
{
    pthread_mutex_lock(&s->mu);
    bool in_hand = false;
    for (const coll_entry_t *en = s->entries; en != NULL && !in_hand; en = en->next)
        in_hand = en->obj != NULL;
    bool ok = !s->net_failed || in_hand;
    if (!ok && why != NULL) {
        char at[ATT_TIME_STRLEN], msg[sizeof s->net_diag.msg];
        snprintf(why, n,
                 "the collateral source is unreachable and no collateral is cached: the latest "
                 "fetch (at %s) failed: %s",
                 att_time_format(s->net_at, at),
                 att_log_redact_urls(s->net_diag.msg, msg, sizeof msg));
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

size_t att_collsrc_summary(att_collsrc_t *s, att_collsrc_summary_t *out, size_t max)
{
    size_t k = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_srcs && k < max; i++) {
        att_collsrc_summary_t *o = &out[k++];
        memset(o, 0, sizeof(*o));
        o->prefix = s->srcs[i].fetcher->prefix;
        for (const coll_entry_t *en = s->entries; en != NULL; en = en->next) {
            if (en->obj == NULL || en->src != &s->srcs[i])
                continue;
            o->sets++;
            if (en->fetched_at_known && (o->oldest_fetch == 0 || en->fetched_at < o->oldest_fetch))
                o->oldest_fetch = en->fetched_at;
            if (en->expiry != 0 && (o->next_update == 0 || en->expiry < o->next_update))
                o->next_update = en->expiry;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return k;
}
