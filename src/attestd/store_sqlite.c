/* store_sqlite.c - the SQLite backend of att_store_ops_t (docs/store.md).
 *
 *   att_store_t *st;
 *   if (att_store_open_sqlite("var", &st, &d) != ATT_OK) ...   // var/attestd.db
 *   ... att_store_policy_put(st, "SgxEnclave", jws, &d) ...
 *   att_store_close(st);
 *
 * Files. DIR is created 0700 if missing (one level, like mkdir; an existing DIR keeps its mode).
 * DIR/attestd.db is created 0600 here, before SQLite sees it, so the mode does not depend on
 * the umask; SQLite gives attestd.db-wal and -shm the mode of the database file.
 *
 * Durability. journal_mode=WAL with synchronous=FULL: a commit fsyncs the WAL before
 * sqlite3_step returns, so a write that returned ATT_OK survives kill -9 and power loss. Every
 * write is one statement in autocommit mode (an upsert where the operation replaces), hence
 * atomic; the schema migration runs in one BEGIN IMMEDIATE transaction.
 *
 * Concurrency: one writer connection behind a mutex, plus a pool of SQ_READERS read-only
 * (query_only) connections, each behind its own mutex. Why not one connection behind one mutex:
 * with synchronous=FULL a commit costs an fsync (milliseconds on a disk), and every attest
 * request reads its policy; one mutex would queue those reads behind each write. In WAL mode
 * readers do not block the writer nor each other, so the pool lets reads run while a write
 * commits and in parallel with each other. Why not a connection per thread: libmicrohttpd and
 * the collateral fetchers own their threads, so per-thread connections would need thread-local
 * destructors and could grow without bound; a fixed pool is simpler and bounded. Writes are
 * serialised in this process by the writer mutex, so our own writers never meet SQLITE_BUSY;
 * busy_timeout covers other processes on the same file (e.g. `attestd keys rotate`).
 * Connections are opened SQLITE_OPEN_NOMUTEX: our mutexes already give each connection to one
 * thread at a time, and sqlite3_errmsg is read while the mutex is still held.
 *
 * Not checked here: what is stored (policies are not parsed, keys not validated).
 */
#include "store_sqlite_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

/* ---- schema ------------------------------------------------------------------------------ */

/* Numbered migrations: migration i+1 takes the schema from version i to i+1. Never edit one
 * that has shipped; add the next. The SQL sticks to what PostgreSQL also accepts, except
 * `INTEGER PRIMARY KEY` (a rowid alias here; BIGINT GENERATED ALWAYS AS IDENTITY there) and
 * BLOB (BYTEA there). */
static const char *const sq_migrations[] = {
    /* 1: signing keys, policies, policy signer certificates, collateral cache */
    "CREATE TABLE signing_keys ("
    "  id            INTEGER PRIMARY KEY," /* insertion order: tie-break for equal times */
    "  kid           TEXT    NOT NULL UNIQUE,"
    "  alg           TEXT    NOT NULL,"
    "  key_pem       TEXT    NOT NULL,"
    "  cert_pem      TEXT    NOT NULL,"
    "  created       INTEGER NOT NULL,"
    "  retired       INTEGER NOT NULL DEFAULT 0,"
    "  publish_until INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE policies ("
    "  attestation_type TEXT    PRIMARY KEY,"
    "  jws              TEXT    NOT NULL,"
    "  updated          INTEGER NOT NULL);"
    "CREATE TABLE policy_signers ("
    "  id         INTEGER PRIMARY KEY,"
    "  thumbprint TEXT    NOT NULL UNIQUE,"
    "  cert_pem   TEXT    NOT NULL,"
    "  added      INTEGER NOT NULL);"
    "CREATE TABLE collateral ("
    "  cache_key  TEXT    PRIMARY KEY,"
    "  data       BLOB    NOT NULL,"
    "  fetched_at INTEGER NOT NULL);",
    /* 2: the ledger of signed administration requests: each authorises one change, once */
    "CREATE TABLE signed_requests ("
    "  body_sha256 TEXT    PRIMARY KEY,"
    "  used_for    TEXT    NOT NULL,"
    "  used_at     INTEGER NOT NULL);",
    /* 3: the service's own secrets (the key of stateless challenges), shared by every replica,
     * and the single-use tokens spent until they expire */
    "CREATE TABLE service_secrets ("
    "  name    TEXT    PRIMARY KEY,"
    "  secret  BLOB    NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE spent_tokens ("
    "  token_sha256 TEXT    PRIMARY KEY,"
    "  expires      INTEGER NOT NULL);"
    "CREATE INDEX spent_tokens_expires ON spent_tokens (expires);",
    /* 4: when a key starts signing (published from `created`, signing from `sign_from`: replicas
     * publish a new key before any signs with it), and the cluster's collateral fetch leases
     * (PostgreSQL uses them; kept here so that both schemas are the same) */
    "ALTER TABLE signing_keys ADD COLUMN sign_from INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE collateral_fetch ("
    "  cache_key TEXT    PRIMARY KEY,"
    "  owner     TEXT    NOT NULL,"
    "  until_ms  INTEGER NOT NULL);",
};
#define SQ_N_MIGRATIONS ((int)(sizeof(sq_migrations) / sizeof(sq_migrations[0])))

/* ---- statements -------------------------------------------------------------------------- */

static const char *const sq_sql[Q_N] = {
    [Q_KEY_PUT] = "INSERT INTO signing_keys (kid, alg, key_pem, cert_pem, created, retired,"
                  " publish_until, sign_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [Q_KEY_RETIRE] = "UPDATE signing_keys SET retired = ?, publish_until = ? WHERE kid = ?",
    [Q_KEY_RESEAL] = "UPDATE signing_keys SET key_pem = ? WHERE kid = ? AND key_pem = ?",
    [Q_POL_PUT] = "INSERT INTO policies (attestation_type, jws, updated) VALUES (?, ?, ?)"
                  " ON CONFLICT (attestation_type) DO UPDATE"
                  " SET jws = excluded.jws, updated = excluded.updated",
    [Q_POL_DEL] = "DELETE FROM policies WHERE attestation_type = ?",
    [Q_SIG_ADD] = "INSERT INTO policy_signers (thumbprint, cert_pem, added) VALUES (?, ?, ?)"
                  " ON CONFLICT (thumbprint) DO NOTHING",
    [Q_SIG_DEL] = "DELETE FROM policy_signers WHERE thumbprint = ?",
    [Q_COLL_PUT] = "INSERT INTO collateral (cache_key, data, fetched_at) VALUES (?, ?, ?)"
                   " ON CONFLICT (cache_key) DO UPDATE"
                   " SET data = excluded.data, fetched_at = excluded.fetched_at",
    [Q_KEY_LIST] = "SELECT kid, alg, key_pem, cert_pem, created, retired, publish_until,"
                   " sign_from FROM signing_keys ORDER BY created DESC, id DESC",
    [Q_POL_GET] = "SELECT jws FROM policies WHERE attestation_type = ?",
    [Q_SIG_LIST] = "SELECT thumbprint, cert_pem FROM policy_signers ORDER BY id",
    [Q_COLL_GET] = "SELECT data, fetched_at FROM collateral WHERE cache_key = ?",
    [Q_REQ_USE] = "INSERT INTO signed_requests (body_sha256, used_for, used_at) VALUES (?, ?, ?)"
                  " ON CONFLICT (body_sha256) DO NOTHING",
    [Q_REQ_GET] = "SELECT used_for, used_at FROM signed_requests WHERE body_sha256 = ?",
    [Q_SECRET_ADD] = "INSERT INTO service_secrets (name, secret, created) VALUES (?, ?, ?)"
                     " ON CONFLICT (name) DO NOTHING",
    [Q_SECRET_GET] = "SELECT secret FROM service_secrets WHERE name = ?",
    [Q_TOKEN_PURGE] = "DELETE FROM spent_tokens WHERE expires < ?",
    [Q_TOKEN_SPEND] = "INSERT INTO spent_tokens (token_sha256, expires) VALUES (?, ?)"
                      " ON CONFLICT (token_sha256) DO NOTHING",
};

static const att_store_ops_t sq_ops;

/* ---- helpers ----------------------------------------------------------------------------- */

/* ATT_E_STORE naming the operation, the file and SQLite's own message. Call with the
 * connection's mutex held (sqlite3_errmsg and sqlite3_system_errno are per connection), right
 * after the failed SQLite call. SQLite reports every failed write() or open() as "disk I/O
 * error", so for SQLITE_IOERR and SQLITE_CANTOPEN the operating system's error is added and
 * picks the hint: a file system turned read-only under a running attestd (EROFS) is not the full
 * disk the generic hint suggests. sqlite3_system_errno() is 0 after a commit whose WAL write
 * failed (SQLite 3.40, seen with EROFS), so errno as the failed call left it is the fallback;
 * only errors a file write or open can give are named, so a stale errno is never blamed.
 * SQLITE_FULL is ENOSPC already. */
att_err_t att_sq_fail(const sq_store_t *s, sqlite3 *db, att_diag_t *d, const char *op, int rc)
{
    int err = errno; /* first, before anything below can change it */
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN) {
        int sys = db ? sqlite3_system_errno(db) : 0;
        if (sys == 0)
            sys = err;
        const char *hint = NULL;
        switch (sys) {
        case EROFS:
            hint = "; the file system holding the store is read-only: make it writable again "
                   "(remount it read-write, or repair it and restart attestd)";
            break;
        case ENOSPC:
        case EDQUOT:
            hint = "; free disk space and retry";
            break;
        case EFBIG:
            hint = "; the file size limit (RLIMIT_FSIZE, ulimit -f) was reached";
            break;
        case EACCES:
        case EPERM:
            hint = "; the data directory and its files must be writable by attestd";
            break;
        case EIO:
            hint = "; the disk failed to read or write: check it";
            break;
        default:
            break;
        }
        if (hint != NULL)
            return att_diag_set(d, ATT_E_STORE, "store %s on %s: %s (SQLite error %d; %s)%s", op,
                                s->path, msg, rc, strerror(sys), hint);
    }
    const char *hint = "";
    switch (rc & 0xff) {
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        hint = "; the data directory and its files must be writable by attestd";
        break;
    case SQLITE_FULL:
        hint = "; free disk space and retry";
        break;
    case SQLITE_IOERR:
        hint = "; writing or reading the file failed (disk full, file size limit or I/O error)";
        break;
    default:
        break;
    }
    return att_diag_set(d, ATT_E_STORE, "store %s on %s: %s (SQLite error %d)%s", op, s->path, msg,
                        rc, hint);
}

sq_conn_t *att_sq_writer(sq_store_t *s)
{
    pthread_mutex_lock(&s->writer.mu);
    return &s->writer;
}

/* A free reader if there is one, else wait for the one this call was dealt. */
sq_conn_t *att_sq_reader(sq_store_t *s)
{
    unsigned start = atomic_fetch_add_explicit(&s->next_reader, 1, memory_order_relaxed);
    for (unsigned i = 0; i < SQ_READERS; i++) {
        sq_conn_t *c = &s->readers[(start + i) % SQ_READERS];
        if (pthread_mutex_trylock(&c->mu) == 0)
            return c;
    }
    sq_conn_t *c = &s->readers[start % SQ_READERS];
    pthread_mutex_lock(&c->mu);
    return c;
}

void att_sq_release(sq_conn_t *c, sqlite3_stmt *q)
{
    sqlite3_reset(q); /* ends the statement's read transaction (else checkpoints stall) */
    sqlite3_clear_bindings(q);
    pthread_mutex_unlock(&c->mu);
}

/* malloc'd copy of a TEXT column. */
char *att_sq_col_str(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    if (t == NULL)
        return NULL;
    size_t n = (size_t)sqlite3_column_bytes(q, i);
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, t, n);
    out[n] = '\0';
    return out;
}

/* ---- keys -------------------------------------------------------------------------------- */

static att_err_t sq_key_put(att_store_t *st, const att_store_key_t *k, att_diag_t *d)
{
    sq_store_t *s = (sq_store_t *)st;
    if (k == NULL || att_sq_empty(k->kid) || att_sq_empty(k->alg) || att_sq_empty(k->key_pem) ||
        att_sq_empty(k->cert_pem))
        return att_sq_arg(d, "key_put", "kid, alg, key_pem and cert_pem are required");
    sq_conn_t *c = att_sq_writer(s);
    sqlite3_stmt *q = c->q[Q_KEY_PUT];
    att_err_t e = ATT_OK;
    int rc;
    if ((rc = sqlite3_bind_text(q, 1, k->kid, -1, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(q, 2, k->alg, -1, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(q, 3, k->key_pem, -1, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(q, 4, k->cert_pem, -1, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(q, 5, k->created)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(q, 6, k->retired)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(q, 7, k->publish_until)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(q, 8, k->sign_from)) != SQLITE_OK)
        goto out;
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    else if (rc == SQLITE_CONSTRAINT_UNIQUE)
        e = att_diag_set(d, ATT_E_STORE,
                         "store key_put on %s: a key with kid \"%s\" already exists", s->path,
                         k->kid);
out:
    if (rc != SQLITE_OK && e == ATT_OK)
        e = att_sq_fail(s, c->db, d, "key_put", rc);
    att_sq_release(c, q);
    return e;
}

/* Room for element cnt in *arr (capacity doubling from 4); false when out of memory, *arr kept. */
static bool sq_reserve(void **arr, size_t *cap, size_t cnt, size_t elem)
{
    if (cnt < *cap)
        return true;
    size_t ncap = *cap ? 2 * *cap : 4;
    void *na = realloc(*arr, ncap * elem);
    if (na == NULL)
        return false;
    *arr = na;
    *cap = ncap;
    return true;
}

static att_err_t sq_key_list(att_store_t *st, att_store_key_t **keys, size_t *n, att_diag_t *d)
{
    sq_store_t *s = (sq_store_t *)st;
    if (keys == NULL || n == NULL)
        return att_sq_arg(d, "key_list", "keys and n are required");
    *keys = NULL;
    *n = 0;
    att_store_key_t *arr = NULL;
    size_t cnt = 0, cap = 0;
    att_err_t e = ATT_OK;
    sq_conn_t *c = att_sq_reader(s);
    sqlite3_stmt *q = c->q[Q_KEY_LIST];
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!sq_reserve((void **)&arr, &cap, cnt, sizeof(*arr))) {
            e = att_diag_set(d, ATT_E_STORE, "store key_list: out of memory");
            goto out;
        }
        att_store_key_t *k = &arr[cnt++];
        memset(k, 0, sizeof(*k));
        k->kid = att_sq_col_str(q, 0);
        k->alg = att_sq_col_str(q, 1);
        k->key_pem = att_sq_col_str(q, 2);
        k->cert_pem = att_sq_col_str(q, 3);
        k->created = sqlite3_column_int64(q, 4);
        k->retired = sqlite3_column_int64(q, 5);
        k->publish_until = sqlite3_column_int64(q, 6);
        k->sign_from = sqlite3_column_int64(q, 7);
        if (!k->kid || !k->alg || !k->key_pem || !k->cert_pem) {
            e = att_diag_set(d, ATT_E_STORE, "store key_list: out of memory reading a row");
            goto out;
        }
    }
    if (rc != SQLITE_DONE)
        e = att_sq_fail(s, c->db, d, "key_list", rc);
out:
    att_sq_release(c, q);
    if (e != ATT_OK) {
        att_store_keys_free(arr, cnt);
        return e;
    }
    *keys = arr;
    *n = cnt;
    return ATT_OK;
}

static att_err_t sq_key_retire(att_store_t *st, const char *kid, att_time_t retired,
                               att_time_t publish_until, att_diag_t *d)
{
    sq_store_t *s = (sq_store_t *)st;
    if (att_sq_empty(kid))
        return att_sq_arg(d, "key_retire", "kid is required");
    sq_conn_t *c = att_sq_writer(s);
    sqlite3_stmt *q = c->q[Q_KEY_RETIRE];
    att_err_t e = ATT_OK;
    int rc;
    if ((rc = sqlite3_bind_int64(q, 1, retired)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(q, 2, publish_until)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(q, 3, kid, -1, SQLITE_STATIC)) != SQLITE_OK)
        goto out;
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        if (sqlite3_changes(c->db) == 0)
            e = att_diag_set(d, ATT_E_STORE_NOT_FOUND, "store key_retire: no key with kid \"%s\"",
                             kid);
    }
out:
    if (rc != SQLITE_OK)
        e = att_sq_fail(s, c->db, d, "key_retire", rc);
    att_sq_release(c, q);
    return e;
}

static att_err_t sq_key_reseal(att_store_t *st, const char *kid, const char *old_pem,
                               const char *new_pem, att_diag_t *d)
{
    sq_store_t *s = (sq_store_t *)st;
    if (att_sq_empty(kid) || att_sq_empty(old_pem) || att_sq_empty(new_pem))
        return att_sq_arg(d, "key_reseal", "kid, old_pem and new_pem are required");
    sq_conn_t *c = att_sq_writer(s);
    sqlite3_stmt *q = c->q[Q_KEY_RESEAL];
    att_err_t e = ATT_OK;
    int rc;
    if ((rc = sqlite3_bind_text(q, 1, new_pem, -1, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(q, 2, kid, -1, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(q, 3, old_pem, -1, SQLITE_STATIC)) != SQLITE_OK)
        goto out;
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        if (sqlite3_changes(c->db) == 0)
            e = att_diag_set(d, ATT_E_STORE_NOT_FOUND,
                             "store key_reseal: no key with kid \"%s\" holds the text to replace",
                             kid);
    }
out:
    if (rc != SQLITE_OK)
        e = att_sq_fail(s, c->db, d, "key_reseal", rc);
    att_sq_release(c, q);
    return e;
}

/* ---- policies ---------------------------------------------------------------------------- */

static att_err_t sq_policy_get(att_store_t *st, const char *type, char **jws, att_diag_t *d)
{
    sq_store_t *s = (sq_store_t *)st;
    if (att_sq_empty(type) || jws == NULL)
        return att_sq_arg(d, "policy_get", "type and jws are required");
    *jws = NULL;
    sq_conn_t *c = att_sq_reader(s);
    sqlite3_stmt *q = c->q[Q_POL_GET];
    att_err_t e = ATT_OK;
    int rc;
    if ((rc = sqlite3_bind_text(q, 1, type, -1, SQLITE_STATIC)) != SQLITE_OK)
        goto out;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        rc = SQLITE_OK;
        if ((*jws = att_sq_col_str(q, 0)) == NULL)
            e = att_diag_set(d, ATT_E_STORE, "store policy_get: out of memory");
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        e = att_diag_set(d, ATT_E_STORE_NOT_FOUND, "store policy_get: no policy stored for %s",
                         type);
    }
out:
    if (rc != SQLITE_OK)
        e = att_sq_fail(s, c->db, d, "policy_get", rc);
    att_sq_release(c, q);
    return e;
}

static att_err_t sq_policy_put(att_store_t *st, const char *type, const char *jws, att_diag_t *d)
{
    sq_store_t *s = (sq_store_t *)st;
    if (att_sq_empty(type) || jws == NULL)
        return att_sq_arg(d, "policy_put", "type and jws are required");
    sq_conn_t *c = att_sq_writer(s);
    sqlite3_stmt *q = c->q[Q_POL_PUT];
    int rc;
    /* `updated` is bookkeeping for operators (when was this policy set), not a verification
     * time, so it is the wall clock rather than an argument. */
    if ((rc = sqlite3_bind_text(q, 1, type, -1, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(q, 2, jws, -1, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(q, 3, (sqlite3_int64)time(NULL))) != SQLITE_OK)
        goto out;
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
out:;
    att_err_t e = rc == SQLITE_OK ? ATT_OK : att_sq_fail(s, c->db, d, "policy_put", rc);
    att_sq_release(c, q);
    return e;
}

/* Shared by policy_delete and signer_remove: DELETE ... WHERE col = ?; NOT_FOUND if no row. */
static att_err_t sq_delete_one(sq_store_t *s, int which, const char *op, const char *what,
                               const char *val, att_diag_t *d)
{
    sq_conn_t *c = att_sq_writer(s);
    sqlite3_stmt *q = c->q[which];
    att_err_t e = ATT_OK;
    int rc;
    if ((rc = sqlite3_bind_text(q, 1, val, -1, SQLITE_STATIC)) != SQLITE_OK)
        goto out;
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        if (sqlite3_changes(c->db) == 0)
            e = att_diag_set(d, ATT_E_STORE_NOT_FOUND, "store %s: no %s %s", op, what, val);
    }
out:
    if (rc != SQLITE_OK)
        e = att_sq_fail(s, c->db, d, op, rc);
    att_sq_release(c, q);
    return e;
}

static att_err_t sq_policy_delete(att_store_t *st, const char *type, att_diag_t *d)
{
    if (att_sq_empty(type))
        return att_sq_arg(d, "policy_delete", "type is required");
    return sq_delete_one((sq_store_t *)st, Q_POL_DEL, "policy_delete", "policy stored for", type,
                         d);
}

/* ---- policy signers ---------------------------------------------------------------------- */

static att_err_t sq_signer_list(att_store_t *st, att_store_signer_t **out, size_t *n, att_diag_t *d)
{
    sq_store_t *s = (sq_store_t *)st;
    if (out == NULL || n == NULL)
        return att_sq_arg(d, "signer_list", "s and n are required");
    *out = NULL;
    *n = 0;
    att_store_signer_t *arr = NULL;
    size_t cnt = 0, cap = 0;
    att_err_t e = ATT_OK;
    sq_conn_t *c = att_sq_reader(s);
    sqlite3_stmt *q = c->q[Q_SIG_LIST];
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!sq_reserve((void **)&arr, &cap, cnt, sizeof(*arr))) {
            e = att_diag_set(d, ATT_E_STORE, "store signer_list: out of memory");
            goto out;
        }
        att_store_signer_t *g = &arr[cnt++];
        g->thumbprint = att_sq_col_str(q, 0);
        g->cert_pem = att_sq_col_str(q, 1);
        if (!g->thumbprint || !g->cert_pem) {
            e = att_diag_set(d, ATT_E_STORE, "store signer_list: out of memory reading a row");
            goto out;
        }
    }
    if (rc != SQLITE_DONE)
        e = att_sq_fail(s, c->db, d, "signer_list", rc);
out:
    att_sq_release(c, q);
    if (e != ATT_OK) {
        att_store_signers_free(arr, cnt);
        return e;
    }
    *out = arr;
    *n = cnt;
    return ATT_OK;
}

/* Adding a thumbprint that is already there is a success that changes nothing (the thumbprint
 * is a hash of the certificate, so it is the same certificate). */
static att_err_t sq_signer_add(att_store_t *st, const att_store_signer_t *g, att_diag_t *d)
{
    sq_store_t *s = (sq_store_t *)st;
    if (g == NULL || att_sq_empty(g->thumbprint) || att_sq_empty(g->cert_pem))
        return att_sq_arg(d, "signer_add", "thumbprint and cert_pem are required");
    sq_conn_t *c = att_sq_writer(s);
    sqlite3_stmt *q = c->q[Q_SIG_ADD];
    int rc;
    if ((rc = sqlite3_bind_text(q, 1, g->thumbprint, -1, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(q, 2, g->cert_pem, -1, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(q, 3, (sqlite3_int64)time(NULL))) != SQLITE_OK)
        goto out;
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
out:;
    att_err_t e = rc == SQLITE_OK ? ATT_OK : att_sq_fail(s, c->db, d, "signer_add", rc);
    att_sq_release(c, q);
    return e;
}

static att_err_t sq_signer_remove(att_store_t *st, const char *thumbprint, att_diag_t *d)
{
    if (att_sq_empty(thumbprint))
        return att_sq_arg(d, "signer_remove", "thumbprint is required");
    return sq_delete_one((sq_store_t *)st, Q_SIG_DEL, "signer_remove",
                         "policy signer with thumbprint", thumbprint, d);
}

/* ---- collateral cache -------------------------------------------------------------------- */

static att_err_t sq_coll_get(att_store_t *st, const char *key, uint8_t **blob, size_t *len,
                             att_time_t *fetched_at, att_diag_t *d)
{
    sq_store_t *s = (sq_store_t *)st;
    if (att_sq_empty(key) || blob == NULL || len == NULL)
        return att_sq_arg(d, "coll_get", "key, blob and len are required");
    *blob = NULL;
    *len = 0;
    sq_conn_t *c = att_sq_reader(s);
    sqlite3_stmt *q = c->q[Q_COLL_GET];
    att_err_t e = ATT_OK;
    int rc;
    if ((rc = sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC)) != SQLITE_OK)
        goto out;
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        e = att_diag_set(d, ATT_E_STORE_NOT_FOUND, "store coll_get: no collateral cached for %s",
                         key);
    } else if (rc == SQLITE_ROW) {
        rc = SQLITE_OK;
        const void *p = sqlite3_column_blob(q, 0);
        size_t n = (size_t)sqlite3_column_bytes(q, 0);
        uint8_t *buf = malloc(n ? n : 1); /* a zero-length blob is a valid 1-byte allocation */
        if (buf == NULL || (p == NULL && n > 0)) {
            free(buf);
            e = att_diag_set(d, ATT_E_STORE, "store coll_get: out of memory");
            goto out;
        }
        if (n)
            memcpy(buf, p, n);
        *blob = buf;
        *len = n;
        if (fetched_at)
            *fetched_at = sqlite3_column_int64(q, 1);
    }
out:
    if (rc != SQLITE_OK)
        e = att_sq_fail(s, c->db, d, "coll_get", rc);
    att_sq_release(c, q);
    return e;
}

static att_err_t sq_coll_put(att_store_t *st, const char *key, const uint8_t *blob, size_t len,
                             att_time_t fetched_at, att_diag_t *d)
{
    sq_store_t *s = (sq_store_t *)st;
    if (att_sq_empty(key) || (blob == NULL && len > 0))
        return att_sq_arg(d, "coll_put", "key is required, and blob unless len is 0");
    sq_conn_t *c = att_sq_writer(s);
    sqlite3_stmt *q = c->q[Q_COLL_PUT];
    int rc;
    /* A NULL pointer would bind SQL NULL; "" with length 0 binds an empty blob. */
    const void *p = len ? (const void *)blob : (const void *)"";
    if ((rc = sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_blob64(q, 2, p, len, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(q, 3, fetched_at)) != SQLITE_OK)
        goto out;
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
out:;
    att_err_t e = rc == SQLITE_OK ? ATT_OK : att_sq_fail(s, c->db, d, "coll_put", rc);
    att_sq_release(c, q);
    return e;
}

/* ---- open, migrate, close ---------------------------------------------------------------- */

static void sq_conn_close(sq_conn_t *c)
{
    for (int i = 0; i < Q_N; i++)
        sqlite3_finalize(c->q[i]); /* NULL is a no-op */
    if (c->db)
        sqlite3_close(c->db); /* every statement is finalized, so this cannot be BUSY */
    if (c->mu_ok)
        pthread_mutex_destroy(&c->mu);
    memset(c, 0, sizeof(*c));
}

static void sq_close(att_store_t *st)
{
    sq_store_t *s = (sq_store_t *)st;
    if (s == NULL)
        return;
    for (int i = 0; i < SQ_READERS; i++)
        sq_conn_close(&s->readers[i]);
    sq_conn_close(&s->writer); /* last: it checkpoints and removes the WAL */
    free(s->path);
    free(s);
}

static att_err_t sq_exec(sq_store_t *s, sqlite3 *db, const char *sql, const char *op, att_diag_t *d)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? ATT_OK : att_sq_fail(s, db, d, op, rc);
}

/* DIR, created 0700 if missing. */
static att_err_t sq_make_dir(const char *dir, att_diag_t *d)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return att_diag_set(d, ATT_E_STORE, "store open: cannot create data directory %s: %s", dir,
                            strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return att_diag_set(d, ATT_E_STORE, "store open: cannot stat data directory %s: %s", dir,
                            strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return att_diag_set(d, ATT_E_STORE, "store open: data directory %s is not a directory",
                            dir);
    return ATT_OK;
}

/* DIR/attestd.db, created 0600 (whatever the umask) and made durable if missing. An existing
 * file is not opened here: closing our own descriptor would drop the POSIX locks that another
 * SQLite connection of this process holds on it. */
static att_err_t sq_make_file(const char *dir, const char *path, att_diag_t *d)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        att_err_t e = ATT_OK;
        if (fchmod(fd, 0600) != 0 || fsync(fd) != 0)
            e = att_diag_set(d, ATT_E_STORE, "store open: cannot create %s: %s", path,
                             strerror(errno));
        close(fd);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) { /* the new directory entry, durable too */
            (void)fsync(dfd);
            close(dfd);
        }
        return e;
    }
    if (errno != EEXIST)
        return att_diag_set(
            d, ATT_E_STORE, "store open: cannot create %s: %s%s", path, strerror(errno),
            errno == EACCES || errno == EROFS ? " (the data directory must be writable by attestd)"
                                              : "");
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return att_diag_set(d, ATT_E_STORE, "store open: cannot stat %s: %s", path,
                            strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return att_diag_set(d, ATT_E_STORE, "store open: %s is not a regular file", path);
    return ATT_OK;
}

static att_err_t sq_conn_open(sq_store_t *s, sq_conn_t *c, bool writer, att_diag_t *d)
{
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        return att_diag_set(d, ATT_E_STORE, "store open: cannot create a mutex");
    c->mu_ok = true;
    int rc = sqlite3_open_v2(
        s->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
    if (rc != SQLITE_OK)
        return att_sq_fail(s, c->db, d, "open", rc);
    if (sqlite3_db_readonly(c->db, "main") == 1)
        return att_diag_set(d, ATT_E_STORE,
                            "store open: %s can only be opened read-only (file or file system "
                            "not writable); attestd needs to write it",
                            s->path);
    sqlite3_extended_result_codes(c->db, 1);
    if ((rc = sqlite3_busy_timeout(c->db, SQ_BUSY_TIMEOUT_MS)) != SQLITE_OK)
        return att_sq_fail(s, c->db, d, "open (busy_timeout)", rc);
    att_err_t e = sq_exec(s, c->db,
                          "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;"
                          " PRAGMA trusted_schema = OFF;"
                          /* a replaced key_pem (re-sealed under a KEK) leaves no old text in
                           * free space */
                          " PRAGMA secure_delete = ON;",
                          "open (pragmas)", d);
    if (e != ATT_OK)
        return e;
    if (!writer)
        return sq_exec(s, c->db, "PRAGMA query_only = ON;", "open (query_only)", d);

    /* journal_mode answers the mode in force: anything but "wal" is a failure. */
    sqlite3_stmt *q = NULL;
    rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(q, 0);
        if (mode == NULL || strcmp(mode, "wal") != 0)
            e = att_diag_set(d, ATT_E_STORE, "store open: %s refused WAL mode (journal mode %s)",
                             s->path, mode ? mode : "unknown");
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        e = att_sq_fail(s, c->db, d, "open (journal_mode=WAL)", rc);
    sqlite3_finalize(q);
    return e;
}

static att_err_t sq_prepare(sq_store_t *s, sq_conn_t *c, int from, int to, att_diag_t *d)
{
    for (int i = from; i < to; i++) {
        int rc =
            sqlite3_prepare_v3(c->db, sq_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->q[i], NULL);
        if (rc != SQLITE_OK)
            return att_sq_fail(s, c->db, d, "open (prepare)", rc);
    }
    return ATT_OK;
}

/* Current schema version, inside the caller's transaction. */
static att_err_t sq_schema_get(sq_store_t *s, int *version, att_diag_t *d)
{
    sqlite3 *db = s->writer.db;
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version", -1, &q,
                                NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        sqlite3_int64 v = sqlite3_column_int64(q, 0);
        *version = v > 1000000 ? 1000000 : (int)v; /* absurd values still compare as too new */
        rc = SQLITE_OK;
    }
    att_err_t e = rc == SQLITE_OK ? ATT_OK : att_sq_fail(s, db, d, "migrate (read version)", rc);
    sqlite3_finalize(q);
    return e;
}

static att_err_t sq_schema_record(sq_store_t *s, int version, att_diag_t *d)
{
    sqlite3 *db = s->writer.db;
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(
        db, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", -1, &q, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_bind_int(q, 1, version)) == SQLITE_OK &&
        (rc = sqlite3_bind_int64(q, 2, (sqlite3_int64)time(NULL))) == SQLITE_OK &&
        (rc = sqlite3_step(q)) == SQLITE_DONE)
        rc = SQLITE_OK;
    att_err_t e = rc == SQLITE_OK ? ATT_OK : att_sq_fail(s, db, d, "migrate (record version)", rc);
    sqlite3_finalize(q);
    return e;
}

/* Bring the schema to SQ_N_MIGRATIONS in one transaction; BEGIN IMMEDIATE takes the write
 * lock first, so two processes opening a fresh store do not both migrate. */
static att_err_t sq_migrate(sq_store_t *s, att_diag_t *d)
{
    sqlite3 *db = s->writer.db;
    att_err_t e = sq_exec(s, db, "BEGIN IMMEDIATE", "migrate (begin)", d);
    if (e != ATT_OK)
        return e;
    int version = 0;
    e = sq_exec(s, db,
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "  version    INTEGER PRIMARY KEY,"
                "  applied_at INTEGER NOT NULL)",
                "migrate (schema_version)", d);
    if (e == ATT_OK)
        e = sq_schema_get(s, &version, d);
    if (e == ATT_OK && version > SQ_N_MIGRATIONS)
        e = att_diag_set(d, ATT_E_STORE_SCHEMA,
                         "store open: %s has schema version %d, newer than the %d this attestd "
                         "knows; it was written by a newer attestd: run that version, or restore "
                         "a backup taken before the upgrade",
                         s->path, version, SQ_N_MIGRATIONS);
    for (int v = version; e == ATT_OK && v < SQ_N_MIGRATIONS; v++) {
        char op[48];
        snprintf(op, sizeof(op), "migrate (to version %d)", v + 1);
        e = sq_exec(s, db, sq_migrations[v], op, d);
        if (e == ATT_OK)
            e = sq_schema_record(s, v + 1, d);
    }
    if (e == ATT_OK)
        return sq_exec(s, db, "COMMIT", "migrate (commit)", d);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL); /* keeps d: the first failure */
    return e;
}

att_err_t att_store_open_sqlite(const char *dir, att_store_t **out, att_diag_t *d)
{
    if (out == NULL)
        return att_sq_arg(d, "open", "out is required");
    *out = NULL;
    if (att_sq_empty(dir))
        return att_sq_arg(d, "open", "a data directory is required");
    if (!sqlite3_threadsafe())
        return att_diag_set(d, ATT_E_STORE,
                            "store open: the SQLite library was built without "
                            "thread support (SQLITE_THREADSAFE=0)");
    if (att_store_schema_version() != SQ_N_MIGRATIONS)
        return att_diag_set(d, ATT_E_INTERNAL,
                            "store open: SQLite backend has %d migrations, schema version is %d",
                            SQ_N_MIGRATIONS, att_store_schema_version());

    sq_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "store open: out of memory");
    s->base.ops = &sq_ops;
    att_err_t e = ATT_OK;
    size_t plen = strlen(dir) + sizeof("/" SQ_DB_NAME);
    if ((s->path = malloc(plen)) == NULL) {
        e = att_diag_set(d, ATT_E_NOMEM, "store open: out of memory");
        goto out;
    }
    snprintf(s->path, plen, "%s/" SQ_DB_NAME, dir);

    if ((e = sq_make_dir(dir, d)) != ATT_OK || (e = sq_make_file(dir, s->path, d)) != ATT_OK ||
        (e = sq_conn_open(s, &s->writer, true, d)) != ATT_OK || (e = sq_migrate(s, d)) != ATT_OK ||
        (e = sq_prepare(s, &s->writer, 0, Q_N_WRITE, d)) != ATT_OK)
        goto out;
    for (int i = 0; i < SQ_READERS; i++)
        if ((e = sq_conn_open(s, &s->readers[i], false, d)) != ATT_OK ||
            (e = sq_prepare(s, &s->readers[i], Q_N_WRITE, Q_N, d)) != ATT_OK)
            goto out;
out:
    if (e != ATT_OK) {
        sq_close(&s->base);
        return e;
    }
    *out = &s->base;
    return ATT_OK;
}

static const att_store_ops_t sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .key_put = sq_key_put,
    .key_list = sq_key_list,
    .key_retire = sq_key_retire,
    .key_reseal = sq_key_reseal,
    .policy_get = sq_policy_get,
    .policy_put = sq_policy_put,
    .policy_delete = sq_policy_delete,
    .request_use = att_sq_request_use,
    .secret = att_sq_secret,
    .token_spend = att_sq_token_spend,
    .signer_list = sq_signer_list,
    .signer_add = sq_signer_add,
    .signer_remove = sq_signer_remove,
    .coll_get = sq_coll_get,
    .coll_put = sq_coll_put,
};
