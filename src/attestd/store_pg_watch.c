/* store_pg_watch.c - change notifications of the PostgreSQL store (docs/store.md,
 * "Notifications"): a thread with its own connection LISTENs on attestd_changes and hands each
 * NOTIFY payload ("policy TYPE", "signers", "keys") to the watcher's function. The safety net:
 * the function is also called with NULL ("re-read everything") when the thread starts, after
 * every reconnect (notifications sent while it was away are lost) and every PG_RESYNC_SECONDS.
 * A broken connection is reopened with a doubling pause (0.1 s to 5 s). Stopping wakes the
 * thread through a pipe and joins it, so after att_pg_watch_stop the function is not running.
 * Not checked here: who sent a notification (any session that can NOTIFY on the database could;
 * the service only re-reads the store on one, it never takes a payload as data).
 */
#define _GNU_SOURCE /* pipe2 */
#include "store_pg_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 5000

static int64_t pg_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connection that LISTENs, or NULL with *d set. */
static PGconn *pg_listen(pg_store_t *s, att_diag_t *d)
{
    PGconn *c = att_pg_connect(s, "watch", d);
    if (c == NULL)
        return NULL;
    PGresult *r = PQexec(c, "LISTEN " PG_CHANNEL);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        char msg[256];
        att_pg_msg(s, PQresultErrorMessage(r), msg, sizeof msg);
        att_diag_set(d, ATT_E_STORE, "store watch on %s: LISTEN failed: %s", s->red, msg);
    }
    PQclear(r);
    if (!ok) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

typedef struct {
    pg_store_t *s;
    PGconn *c;
} pg_watch_arg_t;

/* Wait for the socket (fd >= 0) or the stop pipe, at most ms. True when asked to stop. */
static bool pg_wait(const pg_store_t *s, int fd, int ms, bool *readable)
{
    struct pollfd p[2] = {{.fd = s->wake[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    *readable = false;
    int n = poll(p, fd >= 0 ? 2 : 1, ms < 0 ? 0 : ms);
    if (n > 0 && (p[0].revents & (POLLIN | POLLHUP)))
        return true;
    if (n > 0 && fd >= 0 && p[1].revents != 0)
        *readable = true;
    return false;
}

/* "collateral KEY": another process stored a set or ended a fetch lease; wake the waiters
 * (they look at the store: the count is only a reason to, never data). */
static void pg_news(pg_store_t *s)
{
    pthread_mutex_lock(&s->nmu);
    s->news++;
    pthread_cond_broadcast(&s->ncv);
    pthread_mutex_unlock(&s->nmu);
}

att_err_t att_pg_news_init(pg_store_t *s, att_diag_t *d)
{
    pthread_condattr_t ca;
    bool ok = pthread_condattr_init(&ca) == 0;
    ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0;
    if (ok && pthread_mutex_init(&s->nmu, NULL) != 0)
        ok = false;
    else if (ok && pthread_cond_init(&s->ncv, &ca) != 0) {
        pthread_mutex_destroy(&s->nmu);
        ok = false;
    }
    pthread_condattr_destroy(&ca);
    if (!ok)
        return att_diag_set(d, ATT_E_STORE, "store open: cannot create a condition variable");
    s->nmu_ok = true;
    return ATT_OK;
}

void att_pg_news_fini(pg_store_t *s)
{
    if (!s->nmu_ok)
        return;
    pthread_cond_destroy(&s->ncv);
    pthread_mutex_destroy(&s->nmu);
    s->nmu_ok = false;
}

uint64_t att_pg_coll_news(att_store_t *st)
{
    pg_store_t *s = (pg_store_t *)st;
    pthread_mutex_lock(&s->nmu);
    uint64_t n = s->news;
    pthread_mutex_unlock(&s->nmu);
    return n;
}

/* Until the count differs from seen, at most timeout_ms; without a watcher (no news can come)
 * at most 100 ms, so that the caller polls the store. */
bool att_pg_coll_wait(att_store_t *st, uint64_t seen, long timeout_ms)
{
    pg_store_t *s = (pg_store_t *)st;
    pthread_mutex_lock(&s->wmu);
    bool watching = s->watching;
    pthread_mutex_unlock(&s->wmu);
    if (!watching && timeout_ms > 100)
        timeout_ms = 100;
    if (timeout_ms < 0)
        timeout_ms = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->nmu);
    int rc = 0;
    while (s->news == seen && rc == 0)
        rc = pthread_cond_timedwait(&s->ncv, &s->nmu, &ts);
    bool news = s->news != seen;
    pthread_mutex_unlock(&s->nmu);
    return news;
}

/* A re-read the store could not serve is tried again after this long. */
#define PG_RETRY_READ_MS 1000

static void *pg_watch_run(void *p)
{
    pg_watch_arg_t a = *(pg_watch_arg_t *)p;
    free(p);
    pg_store_t *s = a.s;
    PGconn *c = a.c;
    att_store_watch_fn fn = s->cb;
    void *arg = s->cb_arg;
    int backoff = PG_BACKOFF_MIN_MS;
    bool resync = true; /* what changed between the caller's load and LISTEN */
    int64_t next = pg_mono_ms() + PG_RESYNC_SECONDS * 1000;
    for (;;) {
        bool readable;
        if (c == NULL) {
            att_diag_t d;
            if (pg_wait(s, -1, backoff, &readable))
                break;
            if ((c = pg_listen(s, &d)) == NULL) {
                backoff = backoff * 2 > PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            backoff = PG_BACKOFF_MIN_MS;
            resync = true;
        }
        if (resync) {
            /* a re-read the store could not serve (its pool still reconnecting) is tried again
             * a second later, not at the next periodic re-read */
            bool ok = fn(arg, NULL);
            resync = false;
            next = pg_mono_ms() + (ok ? PG_RESYNC_SECONDS * 1000 : PG_RETRY_READ_MS);
        }
        int64_t left = next - pg_mono_ms();
        if (pg_wait(s, PQsocket(c), left > 60000 ? 60000 : (int)left, &readable))
            break;
        if (readable) {
            if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) {
                PQfinish(c); /* lost: reconnect, then re-read everything */
                c = NULL;
                continue;
            }
            PGnotify *n;
            while ((n = PQnotifies(c)) != NULL) {
                if (strncmp(n->extra, "collateral ", 11) == 0)
                    pg_news(s); /* for att_pg_coll_wait, not the service */
                else if (!fn(arg, n->extra) && next > pg_mono_ms() + PG_RETRY_READ_MS)
                    next = pg_mono_ms() + PG_RETRY_READ_MS; /* then re-read everything */
                PQfreemem(n);
            }
        }
        if (pg_mono_ms() >= next)
            resync = true;
    }
    if (c != NULL)
        PQfinish(c);
    return NULL;
}

void att_pg_watch_stop(pg_store_t *s)
{
    if (!s->wmu_ok)
        return;
    pthread_mutex_lock(&s->wmu);
    if (s->watching) {
        ssize_t w;
        do
            w = write(s->wake[1], "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(s->th, NULL);
        s->watching = false;
    }
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0) {
            close(s->wake[i]);
            s->wake[i] = -1;
        }
    s->cb = NULL;
    s->cb_arg = NULL;
    pthread_mutex_unlock(&s->wmu);
}

att_err_t att_pg_watch(att_store_t *st, att_store_watch_fn fn, void *arg, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    att_pg_watch_stop(s); /* one watcher: a new one replaces the old */
    if (fn == NULL)
        return ATT_OK;
    PGconn *c = pg_listen(s, d);
    if (c == NULL)
        return d && d->code ? d->code : ATT_E_STORE;
    pg_watch_arg_t *a = malloc(sizeof(*a));
    att_err_t e = ATT_OK;
    pthread_mutex_lock(&s->wmu);
    if (a == NULL || pipe2(s->wake, O_CLOEXEC) != 0) {
        e = att_diag_set(d, ATT_E_STORE, "store watch: %s",
                         a == NULL ? "out of memory" : strerror(errno));
    } else {
        *a = (pg_watch_arg_t){s, c};
        s->cb = fn;
        s->cb_arg = arg;
        if (pthread_create(&s->th, NULL, pg_watch_run, a) != 0)
            e = att_diag_set(d, ATT_E_STORE, "store watch: cannot start a thread");
        else
            s->watching = true, a = NULL, c = NULL;
    }
    pthread_mutex_unlock(&s->wmu);
    free(a);
    if (c != NULL)
        PQfinish(c);
    if (e != ATT_OK)
        att_pg_watch_stop(s);
    return e;
}
