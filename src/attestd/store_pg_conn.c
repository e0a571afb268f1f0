/* store_pg_conn.c - the PostgreSQL store's connections (docs/store.md, "PostgreSQL"): connecting
 * with our defaults, the pool, resets of connections the server closed, the state of a server that
 * cannot be reached (operations fail at once, a reconnect at most once per PG_RETRY_MS),
 * statements with their errors mapped to ATT_E_STORE with the server's message (the password
 * masked), and NOTIFY. The operations themselves are store_pg.c.
 */
#include "store_pg_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- messages ---------------------------------------------------------------------------- */

void att_pg_msg(const pg_store_t *s, const char *in, char *out, size_t n)
{
    if (n == 0)
        return;
    size_t o = 0;
    const char *pw = s->password;
    size_t pl = pw ? strlen(pw) : 0;
    for (size_t i = 0; in != NULL && in[i] != '\0' && o + 1 < n;) {
        if (pl > 0 && strncmp(in + i, pw, pl) == 0) { /* libpq may quote the connection string */
            for (const char *m = "***"; *m && o + 1 < n; m++)
                out[o++] = *m;
            i += pl;
            continue;
        }
        char c = in[i++];
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' ';
        if (c != ' ' || (o > 0 && out[o - 1] != ' ')) /* one space for libpq's line breaks */
            out[o++] = c;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

/* ATT_E_STORE naming the operation, the store (redacted) and the server's message with its
 * SQLSTATE; r may be NULL (a connection-level failure: PQerrorMessage). */
att_err_t att_pg_fail(const pg_store_t *s, PGconn *c, const PGresult *r, const char *op,
                      att_diag_t *d)
{
    char msg[320];
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    att_pg_msg(s, m ? m : (r ? PQresultErrorMessage(r) : PQerrorMessage(c)), msg, sizeof msg);
    if (msg[0] == '\0')
        snprintf(msg, sizeof msg, "%s", "no answer from the server");
    if (state != NULL)
        return att_diag_set(d, ATT_E_STORE, "store %s on %s: %s (SQLSTATE %s)", op, s->red, msg,
                            state);
    return att_diag_set(d, ATT_E_STORE, "store %s on %s: %s", op, s->red, msg);
}

/* ---- connections ------------------------------------------------------------------------- */

static void pg_no_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation already exists, skipping" and the like: not for stderr */
}

/* Per-session settings: statement_timeout unless one is set already (not 0). */
static bool pg_session(PGconn *c)
{
    PQsetNoticeProcessor(c, pg_no_notices, NULL);
    PGresult *r = PQexec(c, "SELECT CASE WHEN current_setting('statement_timeout') = '0'"
                            " THEN set_config('statement_timeout', '" PG_STATEMENT_TIMEOUT_MS
                            "', false) END");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
}

PGconn *att_pg_connect(pg_store_t *s, const char *op, att_diag_t *d)
{
    /* Later keywords win; dbname (the URL, expanded) comes after our defaults so that the URL
     * overrides them, and client_encoding after it: the store's text is UTF-8. */
    const char *kw[] = {"connect_timeout", "tcp_user_timeout", "application_name",
                        "dbname",          "client_encoding",  NULL};
    const char *val[] = {
        PG_CONNECT_TIMEOUT, PG_TCP_USER_TIMEOUT_MS, "attestd", s->url, "UTF8", NULL};
    PGconn *c = PQconnectdbParams(kw, val, 1);
    if (c == NULL) {
        att_diag_set(d, ATT_E_NOMEM, "store %s on %s: out of memory", op, s->red);
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        att_pg_fail(s, c, NULL, op, d);
        PQfinish(c);
        return NULL;
    }
    if (!pg_session(c)) {
        att_pg_fail(s, c, NULL, op, d);
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* A pooled connection, locked: a free one, else the one this call was dealt. */
static int64_t pg_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The server could not be reached (a reconnect failed): remember why and since when, and try
 * again no sooner than PG_RETRY_MS from now, so that while it is down an operation fails at
 * once instead of waiting on a connect each time. */
static void pg_down(pg_store_t *s, PGconn *c)
{
    pthread_mutex_lock(&s->hmu);
    if (atomic_load(&s->down_until) == 0) {
        s->down_since = time(NULL);
        att_pg_msg(s, PQerrorMessage(c), s->down_why, sizeof s->down_why);
    }
    atomic_store(&s->down_until, pg_mono_ms() + PG_RETRY_MS);
    pthread_mutex_unlock(&s->hmu);
}

static void pg_up(pg_store_t *s)
{
    if (atomic_load(&s->down_until) != 0) {
        pthread_mutex_lock(&s->hmu);
        atomic_store(&s->down_until, 0);
        pthread_mutex_unlock(&s->hmu);
    }
}

/* Reset a broken connection, unless the server was found unreachable less than PG_RETRY_MS
 * ago. True when the connection is usable. */
static bool pg_reset(pg_store_t *s, pg_conn_t *c)
{
    int64_t until = atomic_load(&s->down_until);
    if (until != 0 && pg_mono_ms() < until)
        return false;
    PQreset(c->c);
    if (PQstatus(c->c) == CONNECTION_OK && pg_session(c->c)) {
        pg_up(s);
        return true;
    }
    pg_down(s, c->c);
    return false;
}

/* ATT_E_STORE for an operation refused because the server cannot be reached. */
static att_err_t pg_unavailable(pg_store_t *s, const char *op, att_diag_t *d)
{
    char why[256], when[32];
    pthread_mutex_lock(&s->hmu);
    snprintf(why, sizeof why, "%s", s->down_why[0] ? s->down_why : "the connection broke");
    struct tm tm;
    time_t t = s->down_since;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    pthread_mutex_unlock(&s->hmu);
    return att_diag_set(d, ATT_E_STORE,
                        "store %s on %s: PostgreSQL cannot be reached (since %s: %s); retried "
                        "every %d s",
                        op, s->red, when, why, PG_RETRY_MS / 1000);
}

bool att_pg_available(att_store_t *st, char *why, size_t n)
{
    pg_store_t *s = (pg_store_t *)st;
    if (atomic_load(&s->down_until) == 0)
        return true;
    if (why != NULL && n > 0) {
        att_diag_t d;
        pg_unavailable(s, "write", &d);
        snprintf(why, n, "%s", d.msg);
    }
    return false;
}

pg_conn_t *att_pg_take(pg_store_t *s)
{
    unsigned start = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
    pg_conn_t *c = NULL;
    for (unsigned i = 0; i < PG_POOL && c == NULL; i++)
        if (pthread_mutex_trylock(&s->pool[(start + i) % PG_POOL].mu) == 0)
            c = &s->pool[(start + i) % PG_POOL];
    if (c == NULL) {
        c = &s->pool[start % PG_POOL];
        pthread_mutex_lock(&c->mu);
    }
    /* Read what the server sent meanwhile: a closed connection shows as CONNECTION_BAD now,
     * before a statement is sent on it (PQconsumeInput does not block). */
    if (PQstatus(c->c) == CONNECTION_OK)
        (void)PQconsumeInput(c->c);
    if (PQstatus(c->c) != CONNECTION_OK)
        (void)pg_reset(s, c); /* att_pg_run then fails at once if this did not help */
    return c;
}

void att_pg_give(pg_conn_t *c)
{
    pthread_mutex_unlock(&c->mu);
}

/* One statement with n text parameters (binary where bin[i] is non-zero, of length len[i]),
 * results in text (resfmt 0) or binary (1). The result when it succeeded, else NULL with *d
 * set: ATT_E_STORE with the server's message; *state (6 bytes) gets the SQLSTATE when asked.
 * again: a statement that may run twice (a read, an upsert, an insert-or-nothing), so retried
 * once on the reset connection when the connection broke under it. */
PGresult *att_pg_run(pg_store_t *s, pg_conn_t *c, const char *op, const char *sql, int n,
                     const char *const *vals, const int *len, const int *bin, int resfmt,
                     bool again, char *state, att_diag_t *d)
{
    if (state)
        state[0] = '\0';
    if (PQstatus(c->c) != CONNECTION_OK) {
        pg_unavailable(s, op, d);
        return NULL;
    }
    for (int attempt = 0;; attempt++) {
        PGresult *r = PQexecParams(c->c, sql, n, NULL, vals, len, bin, resfmt);
        ExecStatusType st = PQresultStatus(r);
        if (r != NULL && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK))
            return r;
        if (again && attempt == 0 && PQstatus(c->c) == CONNECTION_BAD) {
            PQclear(r);
            if (pg_reset(s, c))
                continue;
            pg_unavailable(s, op, d);
            return NULL;
        }
        if (PQstatus(c->c) == CONNECTION_BAD && !pg_reset(s, c)) { /* not sent again */
            PQclear(r);
            pg_unavailable(s, op, d);
            return NULL;
        }
        const char *ss = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        if (state && ss)
            snprintf(state, 6, "%s", ss);
        att_pg_fail(s, c->c, r, op, d);
        PQclear(r);
        return NULL;
    }
}

/* Tell the other replicas (best effort: the watchers' periodic re-read covers a lost one). */
void att_pg_notify(pg_conn_t *c, const char *what)
{
    const char *v[1] = {what};
    PQclear(
        PQexecParams(c->c, "SELECT pg_notify('" PG_CHANNEL "', $1)", 1, NULL, v, NULL, NULL, 0));
}
