/* store_sqlite_ledger.c - the SQLite backend's ledgers and secrets (docs/store.md): the signed
 * requests already used, the service's secrets (the first stored wins, so replicas share them)
 * and the single-use tokens spent until they expire. Not checked here: what the hashes and
 * secrets are for (the callers know).
 */
#include "store_sqlite_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- signed request ledger ----------------------------------------------------------------- */

att_err_t att_sq_request_use(att_store_t *st, const char *hash, const char *used_for, att_time_t at,
                             char **prev, att_time_t *prev_at, att_diag_t *d)
{
    sq_store_t *s = (sq_store_t *)st;
    if (att_sq_empty(hash) || att_sq_empty(used_for) || prev == NULL || prev_at == NULL)
        return att_sq_arg(d, "request_use", "hash, used_for, prev and prev_at are required");
    *prev = NULL;
    *prev_at = 0;
    sq_conn_t *c = att_sq_writer(s);
    sqlite3_stmt *q = c->q[Q_REQ_USE];
    int rc;
    bool inserted = false;
    if ((rc = sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(q, 2, used_for, -1, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(q, 3, (sqlite3_int64)at)) != SQLITE_OK)
        goto out;
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        inserted = sqlite3_changes(c->db) == 1;
    }
out:;
    att_err_t e = rc == SQLITE_OK ? ATT_OK : att_sq_fail(s, c->db, d, "request_use", rc);
    att_sq_release(c, q);
    if (e != ATT_OK || inserted)
        return e;
    /* Seen before: say what for. The row is committed, so any connection sees it. */
    c = att_sq_reader(s);
    q = c->q[Q_REQ_GET];
    if ((rc = sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC)) == SQLITE_OK &&
        (rc = sqlite3_step(q)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        *prev_at = (att_time_t)sqlite3_column_int64(q, 1);
        if ((*prev = att_sq_col_str(q, 0)) == NULL)
            e = att_diag_set(d, ATT_E_STORE, "store request_use: out of memory");
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        e = att_diag_set(d, ATT_E_STORE, "store request_use: the request row vanished");
    }
    if (rc != SQLITE_OK)
        e = att_sq_fail(s, c->db, d, "request_use", rc);
    att_sq_release(c, q);
    return e;
}

/* ---- service secrets and spent tokens ------------------------------------------------------ */

att_err_t att_sq_secret(att_store_t *st, const char *name, const uint8_t *fresh, size_t len,
                        att_time_t now, uint8_t **out, size_t *outlen, att_diag_t *d)
{
    sq_store_t *s = (sq_store_t *)st;
    if (att_sq_empty(name) || fresh == NULL || len == 0 || out == NULL || outlen == NULL)
        return att_sq_arg(d, "secret", "name, fresh, out and outlen are required");
    *out = NULL;
    *outlen = 0;
    /* The first writer's secret wins; everyone then reads the same one. */
    sq_conn_t *c = att_sq_writer(s);
    sqlite3_stmt *q = c->q[Q_SECRET_ADD];
    int rc;
    if ((rc = sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC)) == SQLITE_OK &&
        (rc = sqlite3_bind_blob(q, 2, fresh, (int)len, SQLITE_STATIC)) == SQLITE_OK &&
        (rc = sqlite3_bind_int64(q, 3, (sqlite3_int64)now)) == SQLITE_OK &&
        (rc = sqlite3_step(q)) == SQLITE_DONE)
        rc = SQLITE_OK;
    att_err_t e = rc == SQLITE_OK ? ATT_OK : att_sq_fail(s, c->db, d, "secret", rc);
    att_sq_release(c, q);
    if (e != ATT_OK)
        return e;
    c = att_sq_reader(s);
    q = c->q[Q_SECRET_GET];
    if ((rc = sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC)) == SQLITE_OK &&
        (rc = sqlite3_step(q)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        int n = sqlite3_column_bytes(q, 0);
        const void *b = sqlite3_column_blob(q, 0);
        if (n <= 0 || b == NULL)
            e = att_diag_set(d, ATT_E_STORE, "store secret: the secret '%s' is empty", name);
        else if ((*out = malloc((size_t)n)) == NULL)
            e = att_diag_set(d, ATT_E_STORE, "store secret: out of memory");
        else {
            memcpy(*out, b, (size_t)n);
            *outlen = (size_t)n;
        }
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        e = att_diag_set(d, ATT_E_STORE, "store secret: the secret '%s' vanished", name);
    }
    if (rc != SQLITE_OK)
        e = att_sq_fail(s, c->db, d, "secret", rc);
    att_sq_release(c, q);
    return e;
}

att_err_t att_sq_token_spend(att_store_t *st, const char *hash, att_time_t expires, att_time_t now,
                             bool *first, att_diag_t *d)
{
    sq_store_t *s = (sq_store_t *)st;
    if (att_sq_empty(hash) || first == NULL)
        return att_sq_arg(d, "token_spend", "hash and first are required");
    *first = false;
    sq_conn_t *c = att_sq_writer(s);
    /* Forget the tokens that have expired (they are refused by their expiry now). */
    sqlite3_stmt *q = c->q[Q_TOKEN_PURGE];
    int rc;
    if ((rc = sqlite3_bind_int64(q, 1, (sqlite3_int64)now)) == SQLITE_OK &&
        (rc = sqlite3_step(q)) == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc == SQLITE_OK) {
        q = c->q[Q_TOKEN_SPEND];
        if ((rc = sqlite3_bind_text(q, 1, hash, -1, SQLITE_STATIC)) == SQLITE_OK &&
            (rc = sqlite3_bind_int64(q, 2, (sqlite3_int64)expires)) == SQLITE_OK &&
            (rc = sqlite3_step(q)) == SQLITE_DONE) {
            rc = SQLITE_OK;
            *first = sqlite3_changes(c->db) == 1;
        }
    }
    att_err_t e = rc == SQLITE_OK ? ATT_OK : att_sq_fail(s, c->db, d, "token_spend", rc);
    att_sq_release(c, q);
    return e;
}
