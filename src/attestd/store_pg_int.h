/* store_pg_int.h - what the PostgreSQL backend's files share (store_pg.c: schema, every
 * operation, the cross-process lock, open and close; store_pg_conn.c: connections, the pool,
 * reconnects and an unreachable server, statements and their errors, NOTIFY; store_pg_watch.c:
 * the LISTEN thread that tells the service of changes). Not public: the store's interface is
 * store.h. */
#ifndef ATTESTD_STORE_PG_INT_H
#define ATTESTD_STORE_PG_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <libpq-fe.h>

#include "store.h"

/* Connections in the pool (each behind its own mutex); plus one for LISTEN once watched. */
#define PG_POOL 4
/* Defaults a URL can override: connect_timeout=... in the URL, and a statement_timeout set by
 * the URL (options=-c statement_timeout=...), the role or the database (any value but 0 is
 * kept). */
#define PG_CONNECT_TIMEOUT      "5"
#define PG_TCP_USER_TIMEOUT_MS  "10000" /* data unacknowledged this long: the link is dead */
#define PG_STATEMENT_TIMEOUT_MS "5000"
/* pg_advisory_xact_lock keys ("attestd" then 1 or 2): the migration, and the first start's
 * key generation (att_store_exclusive). */
#define PG_LOCK_MIGRATE 7022365698054972417LL
#define PG_LOCK_FIRST   7022365698054972418LL
/* The NOTIFY channel of writes that other replicas must see. */
#define PG_CHANNEL "attestd_changes"
/* While the server cannot be reached, a reconnect is tried at most this often; operations in
 * between fail at once. */
#define PG_RETRY_MS 1000
/* The safety net: the watcher asks for a full re-read this often, and after a reconnect. */
#define PG_RESYNC_SECONDS 30

typedef struct {
    PGconn *c;
    pthread_mutex_t mu;
    bool mu_ok;
} pg_conn_t;

typedef struct {
    att_store_t base; /* first: att_store_t * <-> pg_store_t * */
    char *url;        /* as given (it may hold a password: never printed, cleansed at close) */
    char *password;   /* the URL's password, if any: masked in every message */
    char red[256];    /* the URL redacted, for messages */
    pg_conn_t pool[PG_POOL];
    atomic_uint next;
    /* reachability (store_pg.c pg_down): 0, or the monotonic ms before which no reconnect */
    atomic_llong down_until;
    pthread_mutex_t hmu; /* guards down_since and down_why */
    bool hmu_ok;
    time_t down_since;
    char down_why[256];
    /* store_pg_watch.c */
    pthread_mutex_t wmu; /* guards the fields below */
    bool wmu_ok, watching;
    pthread_t th;
    int wake[2]; /* self-pipe that stops the thread */
    att_store_watch_fn cb;
    void *cb_arg;
    /* news of collateral stored or a fetch lease ended ("collateral KEY" notifications): a
     * count, and a condition variable on which att_pg_coll_wait sleeps (store_pg_watch.c) */
    pthread_mutex_t nmu;
    pthread_cond_t ncv;
    bool nmu_ok;
    uint64_t news;
} pg_store_t;

/* ATT_E_STORE naming the operation, the store (redacted) and the server's message with its
 * SQLSTATE; r may be NULL (a connection-level failure: PQerrorMessage). */
att_err_t att_pg_fail(const pg_store_t *s, PGconn *c, const PGresult *r, const char *op,
                      att_diag_t *d);
/* A pooled connection, locked (a broken one reset first, unless the server was found
 * unreachable less than PG_RETRY_MS ago); att_pg_give unlocks it. */
pg_conn_t *att_pg_take(pg_store_t *s);
void att_pg_give(pg_conn_t *c);
/* One statement with n parameters (binary where bin[i], of length len[i]), results in text
 * (resfmt 0) or binary (1): the result, or NULL with *d set (ATT_E_STORE; *state gets the
 * SQLSTATE when asked). again: it may run twice (a read, an upsert, an insert-or-nothing), so it
 * is retried once on the reset connection when the connection broke under it. */
PGresult *att_pg_run(pg_store_t *s, pg_conn_t *c, const char *op, const char *sql, int n,
                     const char *const *vals, const int *len, const int *bin, int resfmt,
                     bool again, char *state, att_diag_t *d);
/* NOTIFY attestd_changes, what (best effort: the watchers' re-read covers a lost one). */
void att_pg_notify(pg_conn_t *c, const char *what);
/* att_store_ops_t.available: false while the server cannot be reached, why says since when. */
bool att_pg_available(att_store_t *st, char *why, size_t n);
/* A new connection with the URL's settings and ours (timeouts, client encoding, no notices on
 * stderr), or NULL with *d set. */
PGconn *att_pg_connect(pg_store_t *s, const char *op, att_diag_t *d);
/* The message of a failed connection or statement, the password masked, no newlines. */
void att_pg_msg(const pg_store_t *s, const char *in, char *out, size_t n);

/* store_pg_watch.c */
att_err_t att_pg_watch(att_store_t *st, att_store_watch_fn fn, void *arg, att_diag_t *d);
void att_pg_watch_stop(pg_store_t *s);
/* The news count and its wait (att_store_ops_t.coll_news, coll_wait); init/fini at open/close. */
att_err_t att_pg_news_init(pg_store_t *s, att_diag_t *d);
void att_pg_news_fini(pg_store_t *s);
uint64_t att_pg_coll_news(att_store_t *st);
bool att_pg_coll_wait(att_store_t *st, uint64_t seen, long timeout_ms);

#endif
