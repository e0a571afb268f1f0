/* store_pg.c - the PostgreSQL backend of att_store_ops_t, through libpq (docs/store.md,
 * "PostgreSQL").
 *
 *   att_store_t *st;
 *   if (att_store_open("postgresql://attestd@db.example/attestd?sslmode=verify-full", &st, &d)
 *       != ATT_OK) ...
 *   ... att_store_policy_put(st, "SgxEnclave", jws, &d) ...   // committed, NOTIFY sent
 *   att_store_close(st);
 *
 * The URL goes to libpq as it is (PQconnectdbParams with expand_dbname), so every libpq
 * parameter works (sslmode, sslrootcert, passfile, ...; PGPASSFILE and the other PG* variables
 * too); ahead of it come our defaults, which the URL overrides: connect_timeout=5,
 * application_name=attestd. client_encoding is UTF8. statement_timeout is set to 5 s on each
 * session unless the URL, the role or the database set one already.
 *
 * Semantics are the SQLite backend's (the contract suite runs on both); every statement is
 * parameterised (PQexecParams; collateral and secrets in binary, as BYTEA), each write is one
 * statement in autocommit mode, so committed (synchronous_commit) when it returns. A write that
 * other replicas must see (keys, policies, signers) then sends NOTIFY attestd_changes with what
 * changed (store_pg_watch.c listens).
 *
 * Connections (store_pg_conn.c): a pool of PG_POOL connections, each behind a mutex (a PGconn is
 * one thread's at a time); an operation takes a free one or waits for the one it was dealt. Before
 * each use the connection reads what the server sent meanwhile: a connection the server closed (a
 * restart, a terminated backend) is reset then, before a statement is sent on it; a read that still
 * fails because the connection broke is retried once on the reset connection.
 *
 * Not checked here: what is stored (policies are not parsed, keys not validated).
 */
#include "store_pg_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

/* ---- schema ------------------------------------------------------------------------------ */

/* The same numbered migrations as store_sqlite.c, in PostgreSQL's types: BIGINT for times,
 * BYTEA for blobs, identity columns for the insertion order. Never edit one that has shipped. */
static const char *const pg_migrations[] = {
    /* 1: signing keys, policies, policy signer certificates, collateral cache */
    "CREATE TABLE signing_keys ("
    "  id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  kid           TEXT    NOT NULL UNIQUE,"
    "  alg           TEXT    NOT NULL,"
    "  key_pem       TEXT    NOT NULL,"
    "  cert_pem      TEXT    NOT NULL,"
    "  created       BIGINT  NOT NULL,"
    "  retired       BIGINT  NOT NULL DEFAULT 0,"
    "  publish_until BIGINT  NOT NULL DEFAULT 0);"
    "CREATE TABLE policies ("
    "  attestation_type TEXT    PRIMARY KEY,"
    "  jws              TEXT    NOT NULL,"
    "  updated          BIGINT  NOT NULL);"
    "CREATE TABLE policy_signers ("
    "  id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  thumbprint TEXT    NOT NULL UNIQUE,"
    "  cert_pem   TEXT    NOT NULL,"
    "  added      BIGINT  NOT NULL);"
    "CREATE TABLE collateral ("
    "  cache_key  TEXT    PRIMARY KEY,"
    "  data       BYTEA   NOT NULL,"
    "  fetched_at BIGINT  NOT NULL);",
    /* 2: the ledger of signed administration requests */
    "CREATE TABLE signed_requests ("
    "  body_sha256 TEXT    PRIMARY KEY,"
    "  used_for    TEXT    NOT NULL,"
    "  used_at     BIGINT  NOT NULL);",
    /* 3: the service's own secrets and the spent single-use tokens */
    "CREATE TABLE service_secrets ("
    "  name    TEXT    PRIMARY KEY,"
    "  secret  BYTEA   NOT NULL,"
    "  created BIGINT  NOT NULL);"
    "CREATE TABLE spent_tokens ("
    "  token_sha256 TEXT    PRIMARY KEY,"
    "  expires      BIGINT  NOT NULL);"
    "CREATE INDEX spent_tokens_expires ON spent_tokens (expires);",
    /* 4: when a key starts signing (published from `created`, signing from `sign_from`), and the
     * cluster's collateral fetch leases (one replica fetches a set, the others wait for it) */
    "ALTER TABLE signing_keys ADD COLUMN sign_from BIGINT NOT NULL DEFAULT 0;"
    "CREATE TABLE collateral_fetch ("
    "  cache_key TEXT    PRIMARY KEY,"
    "  owner     TEXT    NOT NULL,"
    "  until_ms  BIGINT  NOT NULL);",
};
#define PG_N_MIGRATIONS ((int)(sizeof(pg_migrations) / sizeof(pg_migrations[0])))

static const att_store_ops_t pg_ops;

/* ---- helpers ------------------------------------------------------------------------------ */

static inline bool pg_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

static inline att_err_t pg_arg(att_diag_t *d, const char *op, const char *what)
{
    return att_diag_set(d, ATT_E_ARG, "store %s: %s", op, what);
}

static char *pg_str(const PGresult *r, int row, int col)
{
    return strdup(PQgetvalue(r, row, col));
}

static att_time_t pg_int(const PGresult *r, int row, int col)
{
    return (att_time_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* A BIGINT column of a binary result: 8 bytes, big-endian. */
static att_time_t pg_int_bin(const PGresult *r, int row, int col)
{
    const uint8_t *p = (const uint8_t *)PQgetvalue(r, row, col);
    if (PQgetlength(r, row, col) != 8)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (att_time_t)(int64_t)v;
}

static bool pg_tuples(const PGresult *r, const char *n)
{
    return strcmp(PQcmdTuples((PGresult *)r), n) == 0;
}

/* ---- keys -------------------------------------------------------------------------------- */

static att_err_t pg_key_put(att_store_t *st, const att_store_key_t *k, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    if (k == NULL || pg_empty(k->kid) || pg_empty(k->alg) || pg_empty(k->key_pem) ||
        pg_empty(k->cert_pem))
        return pg_arg(d, "key_put", "kid, alg, key_pem and cert_pem are required");
    char t[4][24];
    snprintf(t[0], sizeof t[0], "%lld", (long long)k->created);
    snprintf(t[1], sizeof t[1], "%lld", (long long)k->retired);
    snprintf(t[2], sizeof t[2], "%lld", (long long)k->publish_until);
    snprintf(t[3], sizeof t[3], "%lld", (long long)k->sign_from);
    const char *v[8] = {k->kid, k->alg, k->key_pem, k->cert_pem, t[0], t[1], t[2], t[3]};
    char state[6];
    pg_conn_t *c = att_pg_take(s);
    PGresult *r = att_pg_run(s, c, "key_put",
                             "INSERT INTO signing_keys (kid, alg, key_pem, cert_pem, created,"
                             " retired, publish_until, sign_from)"
                             " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                             8, v, NULL, NULL, 0, false, state, d);
    att_err_t e = ATT_OK;
    if (r == NULL && strcmp(state, "23505") == 0)
        e = att_diag_set(d, ATT_E_STORE,
                         "store key_put on %s: a key with kid \"%s\" already exists", s->red,
                         k->kid);
    else if (r == NULL)
        e = ATT_E_STORE;
    else
        att_pg_notify(c, "keys");
    PQclear(r);
    att_pg_give(c);
    return e;
}

static att_err_t pg_key_list(att_store_t *st, att_store_key_t **keys, size_t *n, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    if (keys == NULL || n == NULL)
        return pg_arg(d, "key_list", "keys and n are required");
    *keys = NULL;
    *n = 0;
    pg_conn_t *c = att_pg_take(s);
    PGresult *r = att_pg_run(s, c, "key_list",
                             "SELECT kid, alg, key_pem, cert_pem, created, retired, publish_until,"
                             " sign_from FROM signing_keys ORDER BY created DESC, id DESC",
                             0, NULL, NULL, NULL, 0, true, NULL, d);
    att_pg_give(c);
    if (r == NULL)
        return ATT_E_STORE;
    int rows = PQntuples(r);
    att_err_t e = ATT_OK;
    att_store_key_t *arr = rows ? calloc((size_t)rows, sizeof(*arr)) : NULL;
    if (rows && arr == NULL)
        e = att_diag_set(d, ATT_E_STORE, "store key_list: out of memory");
    for (int i = 0; i < rows && e == ATT_OK; i++) {
        att_store_key_t *k = &arr[i];
        k->kid = pg_str(r, i, 0);
        k->alg = pg_str(r, i, 1);
        k->key_pem = pg_str(r, i, 2);
        k->cert_pem = pg_str(r, i, 3);
        k->created = pg_int(r, i, 4);
        k->retired = pg_int(r, i, 5);
        k->publish_until = pg_int(r, i, 6);
        k->sign_from = pg_int(r, i, 7);
        if (!k->kid || !k->alg || !k->key_pem || !k->cert_pem)
            e = att_diag_set(d, ATT_E_STORE, "store key_list: out of memory reading a row");
    }
    /* the private keys' text in libpq's buffer is zeroed before it is freed */
    for (int i = 0; i < rows; i++)
        OPENSSL_cleanse(PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
    PQclear(r);
    if (e != ATT_OK) {
        att_store_keys_free(arr, (size_t)rows);
        return e;
    }
    *keys = arr;
    *n = (size_t)rows;
    return ATT_OK;
}

/* UPDATE or DELETE of one row by key; NOT_FOUND when no row; notify `what` when one changed. */
static att_err_t pg_change_one(pg_store_t *s, const char *op, const char *sql, int n,
                               const char *const *v, const char *what_missing, const char *notify,
                               att_diag_t *d)
{
    pg_conn_t *c = att_pg_take(s);
    PGresult *r = att_pg_run(s, c, op, sql, n, v, NULL, NULL, 0, false, NULL, d);
    att_err_t e = ATT_OK;
    if (r == NULL)
        e = ATT_E_STORE;
    else if (pg_tuples(r, "0"))
        e = att_diag_set(d, ATT_E_STORE_NOT_FOUND, "store %s: no %s %s", op, what_missing,
                         v[n - 1]);
    else if (notify)
        att_pg_notify(c, notify);
    PQclear(r);
    att_pg_give(c);
    return e;
}

static att_err_t pg_key_retire(att_store_t *st, const char *kid, att_time_t retired,
                               att_time_t publish_until, att_diag_t *d)
{
    if (pg_empty(kid))
        return pg_arg(d, "key_retire", "kid is required");
    char a[24], b[24];
    snprintf(a, sizeof a, "%lld", (long long)retired);
    snprintf(b, sizeof b, "%lld", (long long)publish_until);
    const char *v[3] = {a, b, kid};
    return pg_change_one((pg_store_t *)st, "key_retire",
                         "UPDATE signing_keys SET retired = $1, publish_until = $2"
                         " WHERE kid = $3",
                         3, v, "key with kid", "keys", d);
}

/* Compare and set: key_pem becomes new_pem only while it is still old_pem (replicas re-sealing
 * one key at once do not undo each other). The replaced text stays in a dead row version until
 * VACUUM (autovacuum) reclaims it; docs/store.md. */
static att_err_t pg_key_reseal(att_store_t *st, const char *kid, const char *old_pem,
                               const char *new_pem, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    if (pg_empty(kid) || pg_empty(old_pem) || pg_empty(new_pem))
        return pg_arg(d, "key_reseal", "kid, old_pem and new_pem are required");
    const char *v[3] = {new_pem, kid, old_pem};
    pg_conn_t *c = att_pg_take(s);
    PGresult *r = att_pg_run(s, c, "key_reseal",
                             "UPDATE signing_keys SET key_pem = $1 WHERE kid = $2 AND key_pem = $3",
                             3, v, NULL, NULL, 0, false, NULL, d);
    att_err_t e = ATT_OK;
    if (r == NULL)
        e = ATT_E_STORE;
    else if (pg_tuples(r, "0"))
        e = att_diag_set(d, ATT_E_STORE_NOT_FOUND,
                         "store key_reseal: no key with kid \"%s\" holds the text to replace", kid);
    PQclear(r);
    att_pg_give(c);
    return e;
}

/* ---- policies ---------------------------------------------------------------------------- */

static att_err_t pg_policy_get(att_store_t *st, const char *type, char **jws, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    if (pg_empty(type) || jws == NULL)
        return pg_arg(d, "policy_get", "type and jws are required");
    *jws = NULL;
    const char *v[1] = {type};
    pg_conn_t *c = att_pg_take(s);
    PGresult *r =
        att_pg_run(s, c, "policy_get", "SELECT jws FROM policies WHERE attestation_type = $1", 1, v,
                   NULL, NULL, 0, true, NULL, d);
    att_pg_give(c);
    if (r == NULL)
        return ATT_E_STORE;
    att_err_t e = ATT_OK;
    if (PQntuples(r) == 0)
        e = att_diag_set(d, ATT_E_STORE_NOT_FOUND, "store policy_get: no policy stored for %s",
                         type);
    else if ((*jws = pg_str(r, 0, 0)) == NULL)
        e = att_diag_set(d, ATT_E_STORE, "store policy_get: out of memory");
    PQclear(r);
    return e;
}

static att_err_t pg_policy_put(att_store_t *st, const char *type, const char *jws, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    if (pg_empty(type) || jws == NULL)
        return pg_arg(d, "policy_put", "type and jws are required");
    char now[24], what[96];
    snprintf(now, sizeof now, "%lld", (long long)time(NULL)); /* bookkeeping, as in SQLite */
    snprintf(what, sizeof what, "policy %s", type);
    const char *v[3] = {type, jws, now};
    pg_conn_t *c = att_pg_take(s);
    PGresult *r =
        att_pg_run(s, c, "policy_put",
                   "INSERT INTO policies (attestation_type, jws, updated) VALUES ($1, $2, $3)"
                   " ON CONFLICT (attestation_type) DO UPDATE"
                   " SET jws = excluded.jws, updated = excluded.updated",
                   3, v, NULL, NULL, 0, true, NULL, d);
    if (r != NULL)
        att_pg_notify(c, what);
    PQclear(r);
    att_pg_give(c);
    return r != NULL ? ATT_OK : ATT_E_STORE;
}

static att_err_t pg_policy_delete(att_store_t *st, const char *type, att_diag_t *d)
{
    if (pg_empty(type))
        return pg_arg(d, "policy_delete", "type is required");
    char what[96];
    snprintf(what, sizeof what, "policy %s", type);
    const char *v[1] = {type};
    return pg_change_one((pg_store_t *)st, "policy_delete",
                         "DELETE FROM policies WHERE attestation_type = $1", 1, v,
                         "policy stored for", what, d);
}

/* ---- policy signers ---------------------------------------------------------------------- */

static att_err_t pg_signer_list(att_store_t *st, att_store_signer_t **out, size_t *n, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    if (out == NULL || n == NULL)
        return pg_arg(d, "signer_list", "s and n are required");
    *out = NULL;
    *n = 0;
    pg_conn_t *c = att_pg_take(s);
    PGresult *r = att_pg_run(s, c, "signer_list",
                             "SELECT thumbprint, cert_pem FROM policy_signers ORDER BY id", 0, NULL,
                             NULL, NULL, 0, true, NULL, d);
    att_pg_give(c);
    if (r == NULL)
        return ATT_E_STORE;
    int rows = PQntuples(r);
    att_err_t e = ATT_OK;
    att_store_signer_t *arr = rows ? calloc((size_t)rows, sizeof(*arr)) : NULL;
    if (rows && arr == NULL)
        e = att_diag_set(d, ATT_E_STORE, "store signer_list: out of memory");
    for (int i = 0; i < rows && e == ATT_OK; i++) {
        arr[i].thumbprint = pg_str(r, i, 0);
        arr[i].cert_pem = pg_str(r, i, 1);
        if (!arr[i].thumbprint || !arr[i].cert_pem)
            e = att_diag_set(d, ATT_E_STORE, "store signer_list: out of memory reading a row");
    }
    PQclear(r);
    if (e != ATT_OK) {
        att_store_signers_free(arr, (size_t)rows);
        return e;
    }
    *out = arr;
    *n = (size_t)rows;
    return ATT_OK;
}

static att_err_t pg_signer_add(att_store_t *st, const att_store_signer_t *g, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    if (g == NULL || pg_empty(g->thumbprint) || pg_empty(g->cert_pem))
        return pg_arg(d, "signer_add", "thumbprint and cert_pem are required");
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    const char *v[3] = {g->thumbprint, g->cert_pem, now};
    pg_conn_t *c = att_pg_take(s);
    PGresult *r = att_pg_run(s, c, "signer_add",
                             "INSERT INTO policy_signers (thumbprint, cert_pem, added)"
                             " VALUES ($1, $2, $3) ON CONFLICT (thumbprint) DO NOTHING",
                             3, v, NULL, NULL, 0, true, NULL, d);
    if (r != NULL && pg_tuples(r, "1"))
        att_pg_notify(c, "signers");
    PQclear(r);
    att_pg_give(c);
    return r != NULL ? ATT_OK : ATT_E_STORE;
}

static att_err_t pg_signer_remove(att_store_t *st, const char *thumbprint, att_diag_t *d)
{
    if (pg_empty(thumbprint))
        return pg_arg(d, "signer_remove", "thumbprint is required");
    const char *v[1] = {thumbprint};
    return pg_change_one((pg_store_t *)st, "signer_remove",
                         "DELETE FROM policy_signers WHERE thumbprint = $1", 1, v,
                         "policy signer with thumbprint", "signers", d);
}

/* ---- collateral cache -------------------------------------------------------------------- */

/* A malloc'd copy of a binary column (a zero-length value is a 1-byte allocation). */
static uint8_t *pg_bytes(const PGresult *r, int row, int col, size_t *len)
{
    size_t n = (size_t)PQgetlength(r, row, col);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf != NULL && n)
        memcpy(buf, PQgetvalue(r, row, col), n);
    *len = n;
    return buf;
}

static att_err_t pg_coll_get(att_store_t *st, const char *key, uint8_t **blob, size_t *len,
                             att_time_t *fetched_at, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    if (pg_empty(key) || blob == NULL || len == NULL)
        return pg_arg(d, "coll_get", "key, blob and len are required");
    *blob = NULL;
    *len = 0;
    const char *v[1] = {key};
    pg_conn_t *c = att_pg_take(s);
    PGresult *r =
        att_pg_run(s, c, "coll_get", "SELECT data, fetched_at FROM collateral WHERE cache_key = $1",
                   1, v, NULL, NULL, 1, true, NULL, d);
    att_pg_give(c);
    if (r == NULL)
        return ATT_E_STORE;
    att_err_t e = ATT_OK;
    if (PQntuples(r) == 0) {
        e = att_diag_set(d, ATT_E_STORE_NOT_FOUND, "store coll_get: no collateral cached for %s",
                         key);
    } else if ((*blob = pg_bytes(r, 0, 0, len)) == NULL) {
        e = att_diag_set(d, ATT_E_STORE, "store coll_get: out of memory");
    } else if (fetched_at) {
        *fetched_at = pg_int_bin(r, 0, 1);
    }
    PQclear(r);
    return e;
}

static att_err_t pg_coll_put(att_store_t *st, const char *key, const uint8_t *blob, size_t len,
                             att_time_t fetched_at, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    if (pg_empty(key) || (blob == NULL && len > 0))
        return pg_arg(d, "coll_put", "key is required, and blob unless len is 0");
    if (len > (size_t)INT32_MAX / 2)
        return pg_arg(d, "coll_put", "the blob is too large");
    char at[24];
    snprintf(at, sizeof at, "%lld", (long long)fetched_at);
    const char *v[3] = {key, len ? (const char *)blob : "", at};
    int l[3] = {0, (int)len, 0}, b[3] = {0, 1, 0};
    pg_conn_t *c = att_pg_take(s);
    PGresult *r =
        att_pg_run(s, c, "coll_put",
                   "INSERT INTO collateral (cache_key, data, fetched_at) VALUES ($1, $2, $3)"
                   " ON CONFLICT (cache_key) DO UPDATE"
                   " SET data = excluded.data, fetched_at = excluded.fetched_at",
                   3, v, l, b, 0, true, NULL, d);
    if (r != NULL) {    /* replicas waiting on this key's fetch lease look at the row now */
        char what[320]; /* keys are under 256 bytes */
        snprintf(what, sizeof what, "collateral %s", key);
        att_pg_notify(c, what);
    }
    PQclear(r);
    att_pg_give(c);
    return r != NULL ? ATT_OK : ATT_E_STORE;
}

/* The lease on fetching key (docs/collateral.md, "Many replicas"): one upsert that takes the
 * row when there is none, when its lease ran out before now_ms, or when owner holds it already;
 * RETURNING says whether it did. Times are the callers' wall clocks: replicas' clocks must agree
 * (NTP) to well within the lease. */
static att_err_t pg_coll_lease(att_store_t *st, const char *key, const char *owner, int64_t now_ms,
                               int64_t until_ms, bool *mine, int64_t *held_until_ms, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    if (pg_empty(key) || pg_empty(owner) || mine == NULL || held_until_ms == NULL)
        return pg_arg(d, "coll_lease", "key, owner, mine and held_until_ms are required");
    *mine = false;
    *held_until_ms = 0;
    char n[24], u[24];
    snprintf(n, sizeof n, "%lld", (long long)now_ms);
    snprintf(u, sizeof u, "%lld", (long long)until_ms);
    const char *v[4] = {key, owner, n, u};
    pg_conn_t *c = att_pg_take(s);
    att_err_t e = ATT_OK;
    PGresult *r = att_pg_run(s, c, "coll_lease",
                             "INSERT INTO collateral_fetch (cache_key, owner, until_ms)"
                             " VALUES ($1, $2, $4) ON CONFLICT (cache_key) DO UPDATE"
                             " SET owner = excluded.owner, until_ms = excluded.until_ms"
                             " WHERE collateral_fetch.until_ms < $3::bigint"
                             " OR collateral_fetch.owner = excluded.owner"
                             " RETURNING until_ms",
                             4, v, NULL, NULL, 0, true, NULL, d);
    if (r == NULL)
        e = ATT_E_STORE;
    else
        *mine = PQntuples(r) == 1;
    PQclear(r);
    if (e == ATT_OK && !*mine) {
        r = att_pg_run(s, c, "coll_lease",
                       "SELECT until_ms FROM collateral_fetch WHERE cache_key = $1", 1, v, NULL,
                       NULL, 0, true, NULL, d);
        if (r == NULL)
            e = ATT_E_STORE;
        else /* ended meanwhile: held until now, so the caller looks and asks again */
            *held_until_ms = PQntuples(r) == 1 ? pg_int(r, 0, 0) : now_ms;
        PQclear(r);
    }
    att_pg_give(c);
    return e;
}

static att_err_t pg_coll_lease_end(att_store_t *st, const char *key, const char *owner,
                                   att_diag_t *d)
{
    if (pg_empty(key) || pg_empty(owner))
        return pg_arg(d, "coll_lease_end", "key and owner are required");
    char what[320]; /* keys are under 256 bytes */
    snprintf(what, sizeof what, "collateral %s", key);
    const char *v[2] = {key, owner};
    return pg_change_one((pg_store_t *)st, "coll_lease_end",
                         "DELETE FROM collateral_fetch WHERE cache_key = $1 AND owner = $2", 2, v,
                         "collateral fetch lease held by", what, d);
}

/* ---- ledgers and secrets ----------------------------------------------------------------- */

static att_err_t pg_request_use(att_store_t *st, const char *hash, const char *used_for,
                                att_time_t at, char **prev, att_time_t *prev_at, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    if (pg_empty(hash) || pg_empty(used_for) || prev == NULL || prev_at == NULL)
        return pg_arg(d, "request_use", "hash, used_for, prev and prev_at are required");
    *prev = NULL;
    *prev_at = 0;
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)at);
    const char *v[3] = {hash, used_for, t};
    pg_conn_t *c = att_pg_take(s);
    att_err_t e = ATT_OK;
    PGresult *r = att_pg_run(s, c, "request_use",
                             "INSERT INTO signed_requests (body_sha256, used_for, used_at)"
                             " VALUES ($1, $2, $3) ON CONFLICT (body_sha256) DO NOTHING",
                             3, v, NULL, NULL, 0, false, NULL, d);
    bool inserted = r != NULL && pg_tuples(r, "1");
    if (r == NULL)
        e = ATT_E_STORE;
    PQclear(r);
    if (e == ATT_OK && !inserted) { /* seen before: say what for */
        r = att_pg_run(s, c, "request_use",
                       "SELECT used_for, used_at FROM signed_requests WHERE body_sha256 = $1", 1, v,
                       NULL, NULL, 0, true, NULL, d);
        if (r == NULL)
            e = ATT_E_STORE;
        else if (PQntuples(r) == 0)
            e = att_diag_set(d, ATT_E_STORE, "store request_use: the request row vanished");
        else if ((*prev = pg_str(r, 0, 0)) == NULL)
            e = att_diag_set(d, ATT_E_STORE, "store request_use: out of memory");
        else
            *prev_at = pg_int(r, 0, 1);
        PQclear(r);
    }
    att_pg_give(c);
    return e;
}

static att_err_t pg_secret(att_store_t *st, const char *name, const uint8_t *fresh, size_t len,
                           att_time_t now, uint8_t **out, size_t *outlen, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    if (pg_empty(name) || fresh == NULL || len == 0 || out == NULL || outlen == NULL)
        return pg_arg(d, "secret", "name, fresh, out and outlen are required");
    if (len > 65536)
        return pg_arg(d, "secret", "a secret has at most 65536 bytes");
    *out = NULL;
    *outlen = 0;
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)now);
    const char *v[3] = {name, (const char *)fresh, t};
    int l[3] = {0, (int)len, 0}, b[3] = {0, 1, 0};
    pg_conn_t *c = att_pg_take(s);
    att_err_t e = ATT_OK;
    /* The first writer's secret wins; everyone then reads the same one. */
    PGresult *r =
        att_pg_run(s, c, "secret",
                   "INSERT INTO service_secrets (name, secret, created) VALUES ($1, $2, $3)"
                   " ON CONFLICT (name) DO NOTHING",
                   3, v, l, b, 0, true, NULL, d);
    if (r == NULL)
        e = ATT_E_STORE;
    PQclear(r);
    if (e == ATT_OK) {
        r = att_pg_run(s, c, "secret", "SELECT secret FROM service_secrets WHERE name = $1", 1, v,
                       NULL, NULL, 1, true, NULL, d);
        if (r == NULL)
            e = ATT_E_STORE;
        else if (PQntuples(r) == 0)
            e = att_diag_set(d, ATT_E_STORE, "store secret: the secret '%s' vanished", name);
        else if (PQgetlength(r, 0, 0) <= 0)
            e = att_diag_set(d, ATT_E_STORE, "store secret: the secret '%s' is empty", name);
        else if ((*out = pg_bytes(r, 0, 0, outlen)) == NULL)
            e = att_diag_set(d, ATT_E_STORE, "store secret: out of memory");
        if (r != NULL && PQntuples(r) > 0)
            OPENSSL_cleanse(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
        PQclear(r);
    }
    att_pg_give(c);
    return e;
}

static att_err_t pg_token_spend(att_store_t *st, const char *hash, att_time_t expires,
                                att_time_t now, bool *first, att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    if (pg_empty(hash) || first == NULL)
        return pg_arg(d, "token_spend", "hash and first are required");
    *first = false;
    char n[24], x[24];
    snprintf(n, sizeof n, "%lld", (long long)now);
    snprintf(x, sizeof x, "%lld", (long long)expires);
    pg_conn_t *c = att_pg_take(s);
    /* Forget the tokens that have expired (they are refused by their expiry now). */
    const char *v1[1] = {n};
    PGresult *r = att_pg_run(s, c, "token_spend", "DELETE FROM spent_tokens WHERE expires < $1", 1,
                             v1, NULL, NULL, 0, false, NULL, d);
    att_err_t e = r != NULL ? ATT_OK : ATT_E_STORE;
    PQclear(r);
    if (e == ATT_OK) {
        const char *v2[2] = {hash, x};
        r = att_pg_run(s, c, "token_spend",
                       "INSERT INTO spent_tokens (token_sha256, expires) VALUES ($1, $2)"
                       " ON CONFLICT (token_sha256) DO NOTHING",
                       2, v2, NULL, NULL, 0, false, NULL, d);
        if (r == NULL)
            e = ATT_E_STORE;
        else
            *first = pg_tuples(r, "1");
        PQclear(r);
    }
    att_pg_give(c);
    return e;
}

/* ---- a lock across processes ------------------------------------------------------------- */

/* fn under pg_advisory_lock(PG_LOCK_FIRST), held by a session of its own for the while (not a
 * pooled one: fn uses the pool, and a thread waiting on the connection it holds would never
 * wake). */
static att_err_t pg_exclusive(att_store_t *st, att_err_t (*fn)(void *arg, att_diag_t *d), void *arg,
                              att_diag_t *d)
{
    pg_store_t *s = (pg_store_t *)st;
    char key[24];
    snprintf(key, sizeof key, "%lld", PG_LOCK_FIRST);
    const char *v[1] = {key};
    PGconn *c = att_pg_connect(s, "lock", d);
    if (c == NULL)
        return d && d->code ? d->code : ATT_E_STORE;
    PGresult *r = PQexecParams(c, "SELECT pg_advisory_lock($1::bigint)", 1, NULL, v, NULL, NULL, 0);
    att_err_t e = PQresultStatus(r) == PGRES_TUPLES_OK ? ATT_OK : att_pg_fail(s, c, r, "lock", d);
    PQclear(r);
    if (e == ATT_OK)
        e = fn(arg, d);
    PQfinish(c); /* ends the session, and with it the lock */
    return e;
}

/* ---- open, migrate, close ---------------------------------------------------------------- */

static void pg_close(att_store_t *st)
{
    pg_store_t *s = (pg_store_t *)st;
    if (s == NULL)
        return;
    att_pg_watch_stop(s);
    for (int i = 0; i < PG_POOL; i++) {
        if (s->pool[i].c)
            PQfinish(s->pool[i].c);
        if (s->pool[i].mu_ok)
            pthread_mutex_destroy(&s->pool[i].mu);
    }
    if (s->wmu_ok)
        pthread_mutex_destroy(&s->wmu);
    if (s->hmu_ok)
        pthread_mutex_destroy(&s->hmu);
    att_pg_news_fini(s);
    if (s->url) {
        OPENSSL_cleanse(s->url, strlen(s->url));
        free(s->url);
    }
    if (s->password) {
        OPENSSL_cleanse(s->password, strlen(s->password));
        free(s->password);
    }
    free(s);
}

static att_err_t pg_exec(pg_store_t *s, PGconn *c, const char *sql, const char *op, att_diag_t *d)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    att_err_t e =
        st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? ATT_OK : att_pg_fail(s, c, r, op, d);
    PQclear(r);
    return e;
}

/* Bring the schema to PG_N_MIGRATIONS in one transaction under pg_advisory_xact_lock: replicas
 * starting together on an empty database wait for each other, and only the first migrates. */
static att_err_t pg_migrate(pg_store_t *s, att_diag_t *d)
{
    PGconn *c = s->pool[0].c;
    att_err_t e = pg_exec(s, c, "BEGIN", "migrate (begin)", d);
    if (e != ATT_OK)
        return e;
    char lock[80];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", PG_LOCK_MIGRATE);
    int version = 0;
    if ((e = pg_exec(s, c, lock, "migrate (lock)", d)) == ATT_OK)
        e = pg_exec(s, c,
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    "  version    INTEGER PRIMARY KEY,"
                    "  applied_at BIGINT  NOT NULL)",
                    "migrate (schema_version)", d);
    if (e == ATT_OK) {
        PGresult *r = PQexec(c, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
            version = v > 1000000 ? 1000000 : (int)v;
        } else {
            e = att_pg_fail(s, c, r, "migrate (read version)", d);
        }
        PQclear(r);
    }
    if (e == ATT_OK && version > PG_N_MIGRATIONS)
        e = att_diag_set(d, ATT_E_STORE_SCHEMA,
                         "store open: %s has schema version %d, newer than the %d this attestd "
                         "knows; it was written by a newer attestd: run that version, or restore "
                         "a backup taken before the upgrade",
                         s->red, version, PG_N_MIGRATIONS);
    for (int v = version; e == ATT_OK && v < PG_N_MIGRATIONS; v++) {
        char op[48], rec[128];
        snprintf(op, sizeof op, "migrate (to version %d)", v + 1);
        snprintf(rec, sizeof rec,
                 "INSERT INTO schema_version (version, applied_at) VALUES (%d, %lld)", v + 1,
                 (long long)time(NULL));
        if ((e = pg_exec(s, c, pg_migrations[v], op, d)) == ATT_OK)
            e = pg_exec(s, c, rec, "migrate (record version)", d);
    }
    if (e == ATT_OK)
        return pg_exec(s, c, "COMMIT", "migrate (commit)", d);
    PQclear(PQexec(c, "ROLLBACK")); /* keeps d: the first failure */
    return e;
}

/* The password the URL carries (user information or password=), to mask in messages. */
static char *pg_url_password(const char *url)
{
    char *err = NULL;
    PQconninfoOption *o = PQconninfoParse(url, &err);
    PQfreemem(err);
    char *pw = NULL;
    for (PQconninfoOption *i = o; i != NULL && i->keyword != NULL; i++)
        if (strcmp(i->keyword, "password") == 0 && i->val != NULL && i->val[0] != '\0')
            pw = strdup(i->val);
    if (o != NULL) {
        for (PQconninfoOption *i = o; i->keyword != NULL; i++)
            if (i->val != NULL)
                OPENSSL_cleanse(i->val, strlen(i->val));
        PQconninfoFree(o);
    }
    return pw;
}

att_err_t att_store_open_pg(const char *url, att_store_t **out, att_diag_t *d)
{
    if (out == NULL)
        return pg_arg(d, "open", "out is required");
    *out = NULL;
    if (pg_empty(url))
        return pg_arg(d, "open", "a postgresql:// URL is required");
    if (att_store_schema_version() != PG_N_MIGRATIONS)
        return att_diag_set(
            d, ATT_E_INTERNAL,
            "store open: PostgreSQL backend has %d migrations, schema version is %d",
            PG_N_MIGRATIONS, att_store_schema_version());
    if (!PQisthreadsafe())
        return att_diag_set(d, ATT_E_STORE, "store open: libpq was built without thread safety");
    pg_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "store open: out of memory");
    s->base.ops = &pg_ops;
    s->wake[0] = s->wake[1] = -1;
    att_store_url_redacted(url, s->red, sizeof s->red);
    att_err_t e = ATT_OK;
    if ((s->url = strdup(url)) == NULL) {
        e = att_diag_set(d, ATT_E_NOMEM, "store open: out of memory");
        goto out;
    }
    s->password = pg_url_password(url);
    if (pthread_mutex_init(&s->wmu, NULL) != 0) {
        e = att_diag_set(d, ATT_E_STORE, "store open: cannot create a mutex");
        goto out;
    }
    s->wmu_ok = true;
    if (pthread_mutex_init(&s->hmu, NULL) != 0) {
        e = att_diag_set(d, ATT_E_STORE, "store open: cannot create a mutex");
        goto out;
    }
    s->hmu_ok = true;
    if ((e = att_pg_news_init(s, d)) != ATT_OK)
        goto out;
    for (int i = 0; i < PG_POOL; i++) {
        if (pthread_mutex_init(&s->pool[i].mu, NULL) != 0) {
            e = att_diag_set(d, ATT_E_STORE, "store open: cannot create a mutex");
            goto out;
        }
        s->pool[i].mu_ok = true;
        if ((s->pool[i].c = att_pg_connect(s, "open", d)) == NULL) {
            e = d && d->code ? d->code : ATT_E_STORE;
            goto out;
        }
        if (i == 0 && (e = pg_migrate(s, d)) != ATT_OK)
            goto out;
    }
out:
    if (e != ATT_OK) {
        pg_close(&s->base);
        return e;
    }
    *out = &s->base;
    return ATT_OK;
}

static const att_store_ops_t pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .key_put = pg_key_put,
    .key_list = pg_key_list,
    .key_retire = pg_key_retire,
    .key_reseal = pg_key_reseal,
    .policy_get = pg_policy_get,
    .policy_put = pg_policy_put,
    .policy_delete = pg_policy_delete,
    .request_use = pg_request_use,
    .secret = pg_secret,
    .token_spend = pg_token_spend,
    .signer_list = pg_signer_list,
    .signer_add = pg_signer_add,
    .signer_remove = pg_signer_remove,
    .coll_get = pg_coll_get,
    .coll_put = pg_coll_put,
    .coll_lease = pg_coll_lease,
    .coll_lease_end = pg_coll_lease_end,
    .coll_news = att_pg_coll_news,
    .coll_wait = att_pg_coll_wait,
    .watch = att_pg_watch,
    .exclusive = pg_exclusive,
    .available = att_pg_available,
};
