/* test_store_pg.c - what only the PostgreSQL store does (the contract, which it also passes, is
 * test_store_contract.c): migrations under the advisory lock (replicas opening an empty
 * database together migrate it once), a too-new schema refused, connections the server closed
 * reopened by themselves, the server stopped and started again under an open store, change
 * notifications to a watcher, the lock of att_store_exclusive,
 * the server's refusals with their SQLSTATE, passwords from a passfile and never in a message.
 *
 * Runs against the throw-away cluster tests/tools/pg-start.sh starts: without PG_URL this
 * program runs itself again under `pg-start.sh run` (which prints one SKIP line where
 * PostgreSQL cannot start). Each test gets a database of its own, dropped after. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store.h"

typedef struct {
    char *db;    /* this test's database */
    char *url;   /* the superuser URL of it (unix socket) */
    char *admin; /* PG_URL */
} fx_t;

/* One statement through url; its first value (malloc'd, "" for none), NULL when it failed. */
static char *sql1(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    char *v = NULL;
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        v = strdup(st == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    else
        print_error("%s: %s\n", sql, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return v;
}

/* url with its database (the path) replaced by db. */
static char *with_db(const char *url, const char *db)
{
    const char *auth = strstr(url, "://") + 3;
    size_t a = strcspn(auth, "/?");
    const char *q = strchr(auth + a, '?');
    size_t n = strlen(url) + strlen(db) + 8;
    char *out = malloc(n);
    snprintf(out, n, "%.*s/%s%s", (int)(auth + a - url), url, db, q ? q : "");
    return out;
}

static int setup(void **state)
{
    static int seq;
    fx_t *f = calloc(1, sizeof(*f));
    char db[64], sql[128];
    snprintf(db, sizeof db, "att_pg_%d_%d", (int)getpid(), ++seq);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    f->admin = getenv("PG_URL");
    f->db = strdup(db);
    f->url = with_db(f->admin, db);
    char *ok = sql1(f->admin, sql);
    free(ok);
    *state = f;
    return ok ? 0 : -1;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->db);
    free(sql1(f->admin, sql));
    free(f->db);
    free(f->url);
    free(f);
    return 0;
}

static att_store_t *open_ok(const char *url)
{
    att_store_t *st = NULL;
    att_diag_t d = {0};
    att_err_t e = att_store_open(url, &st, &d);
    if (e != ATT_OK)
        fail_msg("open: %s: %s", att_err_name(e), d.msg);
    assert_string_equal(st->ops->name, "postgres");
    return st;
}

/* ---- migrations ------------------------------------------------------------------------------ */

#define N_OPENERS 8

typedef struct {
    const char *url;
    pthread_barrier_t *gate;
    att_err_t e;
    char msg[512];
} opener_t;

static void *opener(void *p)
{
    opener_t *o = p;
    att_store_t *st = NULL;
    att_diag_t d = {0};
    pthread_barrier_wait(o->gate);
    o->e = att_store_open(o->url, &st, &d);
    snprintf(o->msg, sizeof o->msg, "%s", d.msg);
    att_store_close(st);
    return NULL;
}

/* Replicas starting together on an empty database: every open succeeds and the schema is
 * migrated once (without the lock, concurrent CREATE TABLEs fail with "already exists" or a
 * unique violation in the catalog). */
static void test_migrate_together(void **state)
{
    fx_t *f = *state;
    pthread_t th[N_OPENERS];
    opener_t o[N_OPENERS];
    pthread_barrier_t gate;
    pthread_barrier_init(&gate, NULL, N_OPENERS);
    for (int i = 0; i < N_OPENERS; i++) {
        o[i] = (opener_t){.url = f->url, .gate = &gate};
        assert_int_equal(pthread_create(&th[i], NULL, opener, &o[i]), 0);
    }
    for (int i = 0; i < N_OPENERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&gate);
    for (int i = 0; i < N_OPENERS; i++)
        if (o[i].e != ATT_OK)
            fail_msg("opener %d: %s: %s", i, att_err_name(o[i].e), o[i].msg);
    char *v = sql1(f->url, "SELECT string_agg(version::text, ',' ORDER BY version)"
                           " FROM schema_version");
    assert_string_equal(v, "1,2,3,4");
    free(v);
    /* the types of docs/store.md */
    v = sql1(f->url, "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_name)"
                     " FROM information_schema.columns WHERE table_name = 'collateral'");
    assert_string_equal(v, "cache_key text, data bytea, fetched_at bigint");
    free(v);
}

static void test_schema_too_new(void **state)
{
    fx_t *f = *state;
    att_store_close(open_ok(f->url));
    free(sql1(f->url, "INSERT INTO schema_version (version, applied_at) VALUES (7, 0)"));
    att_store_t *st = (att_store_t *)1;
    att_diag_t d = {0};
    assert_int_equal(att_store_open(f->url, &st, &d), ATT_E_STORE_SCHEMA);
    assert_null(st);
    assert_non_null(strstr(d.msg, "schema version 7, newer than the 4 this attestd knows"));
    /* nothing was written */
    char *v = sql1(f->url, "SELECT count(*) FROM schema_version");
    assert_string_equal(v, "5"); /* versions 1-4 and the 7 */
    free(v);
}

/* ---- connections ----------------------------------------------------------------------------- */

/* The server ends every session of the store (as a restart or an operator would): the next
 * read and write succeed on reopened connections, without an error to the caller. */
static void test_reconnect(void **state)
{
    fx_t *f = *state;
    att_store_t *st = open_ok(f->url);
    att_diag_t d = {0};
    assert_int_equal(att_store_policy_put(st, "SgxEnclave", "before", &d), ATT_OK);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
             " WHERE datname = '%s' AND application_name = 'attestd'",
             f->db);
    char *n = sql1(f->admin, sql);
    assert_non_null(n);
    assert_true(atoi(n) >= 4); /* the pool */
    free(n);
    /* pg_terminate_backend only signals: wait (at most 10 s) until the sessions are gone */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'"
             " AND application_name = 'attestd'",
             f->db);
    for (int i = 0; i < 1000; i++) {
        n = sql1(f->admin, sql);
        bool gone = n != NULL && strcmp(n, "0") == 0;
        free(n);
        if (gone)
            break;
        usleep(10000);
    }
    for (int i = 0; i < 8; i++) { /* every pooled connection, reads and writes */
        char *jws = NULL;
        att_err_t e = att_store_policy_get(st, "SgxEnclave", &jws, &d);
        if (e != ATT_OK)
            fail_msg("read %d after the sessions ended: %s", i, d.msg);
        free(jws);
        if ((e = att_store_policy_put(st, "TdxVm", "after", &d)) != ATT_OK)
            fail_msg("write %d after the sessions ended: %s", i, d.msg);
    }
    att_store_close(st);
}

/* ---- notifications --------------------------------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char seen[16][64];
    int n, resyncs;
    int fail_resyncs; /* answer this many full re-reads "the store could not be read" */
} news_t;

static bool on_news(void *arg, const char *what)
{
    news_t *w = arg;
    bool ok = true;
    pthread_mutex_lock(&w->mu);
    if (what == NULL) {
        w->resyncs++;
        if (w->fail_resyncs > 0) {
            w->fail_resyncs--;
            ok = false;
        }
    } else if (w->n < 16)
        snprintf(w->seen[w->n++], sizeof w->seen[0], "%s", what);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return ok;
}

/* Wait (at most 10 s: a bound, not a measure) until `n` full re-reads were made. */
static bool resyncs_wait(news_t *w, int n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&w->mu);
    while (w->resyncs < n && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0)
        ;
    bool got = w->resyncs >= n;
    pthread_mutex_unlock(&w->mu);
    return got;
}

/* Wait (at most 10 s: a bound, not a measure) until `what` was seen; true if it was. */
static bool news_wait(news_t *w, const char *what)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&w->mu);
    bool found = false;
    for (;;) {
        for (int i = 0; i < w->n && !found; i++)
            found = strcmp(w->seen[i], what) == 0;
        if (found || pthread_cond_timedwait(&w->cv, &w->mu, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&w->mu);
    return found;
}

static void test_watch(void **state)
{
    fx_t *f = *state;
    att_store_t *a = open_ok(f->url), *b = open_ok(f->url);
    news_t w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    att_diag_t d = {0};
    assert_int_equal(att_store_watch(b, on_news, &w, &d), ATT_OK);
    assert_int_equal(att_store_policy_put(a, "SgxEnclave", "p", &d), ATT_OK);
    assert_true(news_wait(&w, "policy SgxEnclave"));
    assert_int_equal(att_store_policy_delete(a, "SgxEnclave", &d), ATT_OK);
    att_store_key_t k = {
        .kid = "k1", .alg = "RS256", .key_pem = "K", .cert_pem = "C", .created = 1};
    assert_int_equal(att_store_key_put(a, &k, &d), ATT_OK);
    assert_true(news_wait(&w, "keys"));
    att_store_signer_t s = {.thumbprint = "aa", .cert_pem = "PEM"};
    assert_int_equal(att_store_signer_add(a, &s, &d), ATT_OK);
    assert_true(news_wait(&w, "signers"));
    pthread_mutex_lock(&w.mu);
    assert_true(w.resyncs >= 1); /* at the start: re-read what changed before LISTEN */
    int before = w.n;
    pthread_mutex_unlock(&w.mu);
    /* stopped: joined, never called again */
    assert_int_equal(att_store_watch(b, NULL, NULL, &d), ATT_OK);
    assert_int_equal(att_store_policy_put(a, "TdxVm", "q", &d), ATT_OK);
    att_store_close(a); /* whatever arrives now is for nobody */
    pthread_mutex_lock(&w.mu);
    assert_int_equal(w.n, before);
    pthread_mutex_unlock(&w.mu);
    /* a store closed while watched stops its watcher */
    assert_int_equal(att_store_watch(b, on_news, &w, &d), ATT_OK);
    att_store_close(b);
}

/* A re-read the service could not complete (the store unreadable right after a reconnect) is
 * tried again a second later, not only at the periodic re-read 30 s on: otherwise a change made
 * while PostgreSQL was down could stay out of force that long. */
static void test_watch_retry(void **state)
{
    fx_t *f = *state;
    att_store_t *b = open_ok(f->url);
    news_t w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    w.fail_resyncs = 2;
    att_diag_t d = {0};
    assert_int_equal(att_store_watch(b, on_news, &w, &d), ATT_OK);
    assert_true(resyncs_wait(&w, 3)); /* the start's re-read, then two retries */
    assert_int_equal(att_store_watch(b, NULL, NULL, &d), ATT_OK);
    att_store_close(b);
}

/* ---- the lock of att_store_exclusive --------------------------------------------------------- */

typedef struct {
    const char *url;
    char *held_elsewhere; /* pg_try_advisory_lock from another session, while fn runs */
} excl_t;

static att_err_t in_lock(void *arg, att_diag_t *d)
{
    (void)d;
    excl_t *x = arg;
    x->held_elsewhere = sql1(x->url, "SELECT pg_try_advisory_lock(7022365698054972418)");
    return ATT_E_STORE_NOT_FOUND; /* fn's result is the caller's */
}

static void test_exclusive(void **state)
{
    fx_t *f = *state;
    att_store_t *st = open_ok(f->url);
    excl_t x = {.url = f->url};
    att_diag_t d = {0};
    assert_int_equal(att_store_exclusive(st, in_lock, &x, &d), ATT_E_STORE_NOT_FOUND);
    assert_string_equal(x.held_elsewhere, "f"); /* another session could not take it */
    free(x.held_elsewhere);
    char *v = sql1(f->url, "SELECT pg_try_advisory_lock(7022365698054972418)");
    assert_string_equal(v, "t"); /* released after fn */
    free(v);
    att_store_close(st);
}

/* ---- refusals, passwords --------------------------------------------------------------------- */

/* What the server refuses is ATT_E_STORE with its message and SQLSTATE; the handle stays
 * usable. (TEXT columns hold UTF-8: a policy that is not is refused, SQLSTATE 22021.) */
static void test_server_refusal(void **state)
{
    fx_t *f = *state;
    att_store_t *st = open_ok(f->url);
    att_diag_t d = {0};
    assert_int_equal(att_store_policy_put(st, "SgxEnclave", "\xff\xfe", &d), ATT_E_STORE);
    assert_non_null(strstr(d.msg, "store policy_put on postgresql://"));
    assert_non_null(strstr(d.msg, "(SQLSTATE 22021)"));
    assert_int_equal(att_store_policy_put(st, "SgxEnclave", "fine", &d), ATT_OK);
    att_store_close(st);
}

static void test_passwords(void **state)
{
    (void)state;
    const char *tcp = getenv("PG_TCP_URL"), *pw = getenv("PG_PASSWORD"),
               *pf = getenv("PG_PASSFILE");
    assert_non_null(tcp);
    char url[512];
    /* no password at all: refused by the server, said so */
    att_store_t *st = NULL;
    att_diag_t d = {0};
    unsetenv("PGPASSFILE");
    assert_int_equal(att_store_open(tcp, &st, &d), ATT_E_STORE);
    assert_non_null(strstr(d.msg, "password"));
    /* passfile= in the URL, and PGPASSFILE */
    snprintf(url, sizeof url, "%s?passfile=%s", tcp, pf);
    att_store_close(open_ok(url));
    setenv("PGPASSFILE", pf, 1);
    att_store_close(open_ok(tcp));
    unsetenv("PGPASSFILE");
    /* the right password in the URL works; a wrong one is refused, and neither is printed */
    const char *host = strstr(tcp, "attestd@") + strlen("attestd@");
    snprintf(url, sizeof url, "postgresql://attestd:%s@%s", pw, host);
    att_store_close(open_ok(url));
    snprintf(url, sizeof url, "postgresql://attestd:N0tTheP4ss@%s", host);
    assert_int_equal(att_store_open(url, &st, &d), ATT_E_STORE);
    assert_null(strstr(d.msg, "N0tTheP4ss"));
    assert_non_null(strstr(d.msg, "attestd:***@"));
    snprintf(url, sizeof url, "%s?password=N0tTheP4ss&connect_timeout=3", tcp);
    assert_int_equal(att_store_open(url, &st, &d), ATT_E_STORE);
    assert_null(strstr(d.msg, "N0tTheP4ss"));
}

/* The server stopped under an open store (pg-start.sh halt), then started again: meanwhile every
 * operation is ATT_E_STORE saying the server cannot be reached and since when, and
 * att_store_available says so with the reason; once it is back the same handle reads and
 * writes again by itself, and what was acknowledged before is there. */
static int pg_ctl_cmd(const char *what)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh '%s/pg-start.sh' %s '%s'", ATT_TEST_TOOLS, what,
             getenv("PG_DIR"));
    return system(cmd);
}

static void test_server_down(void **state)
{
    fx_t *f = *state;
    att_store_t *st = open_ok(f->url);
    att_diag_t d = {0};
    char why[512], *jws = NULL;
    assert_int_equal(att_store_policy_put(st, "SgxEnclave", "acknowledged", &d), ATT_OK);
    assert_true(att_store_available(st, why, sizeof why));
    assert_int_equal(pg_ctl_cmd("halt"), 0);
    for (int i = 0; i < 2 * 4; i++) { /* each pooled connection finds its server gone */
        assert_int_equal(att_store_policy_get(st, "SgxEnclave", &jws, &d), ATT_E_STORE);
        assert_non_null(strstr(d.msg, "PostgreSQL cannot be reached (since "));
        assert_int_equal(att_store_policy_put(st, "SgxEnclave", "lost", &d), ATT_E_STORE);
    }
    assert_false(att_store_available(st, why, sizeof why));
    assert_non_null(strstr(why, "PostgreSQL cannot be reached"));
    assert_non_null(strstr(why, "retried every 1 s"));
    assert_int_equal(pg_ctl_cmd("resume"), 0);
    /* back: within the retry pause (1 s) plus the connect; bounded at 10 s, not measured */
    att_err_t e = ATT_E_STORE;
    for (int i = 0; i < 100 && e != ATT_OK; i++) {
        free(jws);
        jws = NULL;
        if ((e = att_store_policy_get(st, "SgxEnclave", &jws, &d)) != ATT_OK)
            usleep(100000);
    }
    if (e != ATT_OK)
        fail_msg("not back: %s", d.msg);
    assert_string_equal(jws, "acknowledged");
    free(jws);
    for (int i = 0; i < 4; i++) /* every pooled connection */
        assert_int_equal(att_store_policy_put(st, "TdxVm", "after", &d), ATT_OK);
    assert_true(att_store_available(st, why, sizeof why));
    att_store_close(st);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (getenv("PG_URL") == NULL) { /* start a cluster, and run again inside it */
        fflush(NULL);
        execlp("sh", "sh", ATT_TEST_TOOLS "/pg-start.sh", "run", argv[0], (char *)NULL);
        print_error("cannot run %s/pg-start.sh\n", ATT_TEST_TOOLS);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_together, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_too_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_refusal, setup, teardown),
        cmocka_unit_test(test_passwords),
        cmocka_unit_test_setup_teardown(test_server_down, setup, teardown), /* last: halts it */
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
