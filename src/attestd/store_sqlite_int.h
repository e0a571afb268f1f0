/* store_sqlite_int.h - what the SQLite backend's files share (store_sqlite.c: schema,
 * connections, keys, policies, signers, collateral, open; store_sqlite_ledger.c: the ledgers of
 * signed requests and spent tokens, and the service's secrets). Not public: the store's
 * interface is store.h. */
#ifndef ATTESTD_STORE_SQLITE_INT_H
#define ATTESTD_STORE_SQLITE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <sqlite3.h>

#include "store.h"

#define SQ_READERS         4
#define SQ_BUSY_TIMEOUT_MS 5000
#define SQ_DB_NAME         "attestd.db"

/* Prepared statements, one set per connection: writes on the writer, reads on readers. */
enum {
    Q_KEY_PUT,
    Q_KEY_RETIRE,
    Q_KEY_RESEAL,
    Q_POL_PUT,
    Q_POL_DEL,
    Q_SIG_ADD,
    Q_SIG_DEL,
    Q_COLL_PUT,
    Q_REQ_USE,
    Q_SECRET_ADD,
    Q_TOKEN_PURGE,
    Q_TOKEN_SPEND,
    Q_N_WRITE, /* statements below run on reader connections */
    Q_KEY_LIST = Q_N_WRITE,
    Q_POL_GET,
    Q_SIG_LIST,
    Q_COLL_GET,
    Q_REQ_GET,
    Q_SECRET_GET,
    Q_N,
};

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *q[Q_N];
    pthread_mutex_t mu;
    bool mu_ok;
} sq_conn_t;

typedef struct {
    att_store_t base; /* first: att_store_t * <-> sq_store_t * */
    char *path;
    sq_conn_t writer;
    sq_conn_t readers[SQ_READERS];
    atomic_uint next_reader;
} sq_store_t;

/* ATT_E_STORE naming the operation, the file and SQLite's message (see store_sqlite.c). */
att_err_t att_sq_fail(const sq_store_t *s, sqlite3 *db, att_diag_t *d, const char *op, int rc);
/* The writer connection, or a reader, locked; att_sq_release resets q and unlocks. */
sq_conn_t *att_sq_writer(sq_store_t *s);
sq_conn_t *att_sq_reader(sq_store_t *s);
void att_sq_release(sq_conn_t *c, sqlite3_stmt *q);
/* malloc'd copy of a TEXT column. */
char *att_sq_col_str(sqlite3_stmt *q, int i);

static inline bool att_sq_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

static inline att_err_t att_sq_arg(att_diag_t *d, const char *op, const char *what)
{
    return att_diag_set(d, ATT_E_ARG, "store %s: %s", op, what);
}

/* store_sqlite_ledger.c */
att_err_t att_sq_request_use(att_store_t *st, const char *hash, const char *used_for, att_time_t at,
                             char **prev, att_time_t *prev_at, att_diag_t *d);
att_err_t att_sq_secret(att_store_t *st, const char *name, const uint8_t *fresh, size_t len,
                        att_time_t now, uint8_t **out, size_t *outlen, att_diag_t *d);
att_err_t att_sq_token_spend(att_store_t *st, const char *hash, att_time_t expires, att_time_t now,
                             bool *first, att_diag_t *d);

#endif
