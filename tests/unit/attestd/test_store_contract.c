/* test_store_contract.c - the store contract: what every backend of att_store_ops_t must do,
 * written only against att_store_open(url) and the att_store_* functions (docs/store.md, "The
 * contract"). Each operation with its NOT_FOUND, replace and order rules, argument checks,
 * persistence across reopen, two handles on one store, the signed-request ledger and
 * concurrent policy writes and reads.
 *
 * The suite runs once per store URL in ATTESTD_TEST_STORE_URLS (',' or white space between
 * them; unset: $PG_URL when tests/tools/pg-start.sh run started a cluster, else "sqlite:").
 * Each test gets a fresh, empty store from the maker of the URL's scheme (fresh_store below):
 * "sqlite:" makes a temporary directory (under DIR for "sqlite:DIR"); "postgresql://" creates
 * a database per test through the URL given (its role may CREATE DATABASE) and drops it after.
 * Every backend passes every test here unchanged. What only the SQLite backend does (files,
 * modes, schema table, disk full, kill -9) is test_store_sqlite.c; PostgreSQL's own,
 * test_store_pg.c. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store.h"

/* ---- fixture: a fresh store per test, from the maker of the URL's scheme ------------------- */

typedef struct {
    char *url;     /* the fresh store's URL */
    char *tmp;     /* sqlite maker: the temporary directory to remove, else NULL */
    char *pgdb;    /* postgresql maker: the database to drop, else NULL */
    char *pgadmin; /* and the URL to drop it through */
} fx_t;

/* One statement through the URL given (the postgresql maker's CREATE and DROP DATABASE). */
static int pg_admin(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        char red[256];
        print_error("%s on %s: %s\n", sql, att_store_url_redacted(url, red, sizeof red),
                    r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    }
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

static const char *g_spec; /* the ATTESTD_TEST_STORE_URLS entry this run is for */

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DP || flag == FTW_DNR)
        chmod(p, 0700);
    return remove(p);
}

/* sqlite: or sqlite:DIR -> "sqlite:" + a new temporary directory (under DIR) + "/data" (the
 * store creates that last level itself, as attestd does on a first start). */
static int fresh_sqlite(const char *spec, fx_t *f)
{
    const char *under = spec + strlen("sqlite:");
    char base[512];
    snprintf(base, sizeof(base), "%s/att-store-XXXXXX", *under ? under : "/tmp");
    if (mkdtemp(base) == NULL) {
        print_error("mkdtemp %s failed\n", base);
        return -1;
    }
    f->tmp = strdup(base);
    size_t n = strlen(base) + 32;
    f->url = malloc(n);
    if (f->tmp == NULL || f->url == NULL)
        return -1;
    snprintf(f->url, n, "sqlite:%s/data", base);
    return 0;
}

/* postgresql://AUTH/DB?QUERY (also postgres://) -> the same URL naming a new database
 * att_contract_<pid>_<n>, created through spec's (a role that may CREATE DATABASE) and dropped
 * by the teardown. */
static int fresh_pg(const char *spec, fx_t *f)
{
    static int seq;
    const char *auth = strstr(spec, "://");
    if (auth == NULL)
        return -1;
    auth += 3;
    size_t a = strcspn(auth, "/?"); /* the authority ends at the path or the query */
    const char *rest = auth + a;
    const char *query = strchr(rest, '?');
    if (query == NULL)
        query = rest + strlen(rest);
    char db[64];
    snprintf(db, sizeof db, "att_contract_%d_%d", (int)getpid(), ++seq);
    size_t n = strlen(spec) + sizeof db + 8;
    if ((f->url = malloc(n)) == NULL || (f->pgdb = strdup(db)) == NULL ||
        (f->pgadmin = strdup(spec)) == NULL)
        return -1;
    snprintf(f->url, n, "%.*s/%s%s", (int)(auth + a - spec), spec, db, query);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    return pg_admin(spec, sql);
}

static int fresh_store(const char *spec, fx_t *f)
{
    if (strncasecmp(spec, "sqlite:", 7) == 0)
        return fresh_sqlite(spec, f);
    if (strncasecmp(spec, "postgresql://", 13) == 0 || strncasecmp(spec, "postgres://", 11) == 0)
        return fresh_pg(spec, f);
    char red[256];
    print_error("no fresh-store maker for '%s' in test_store_contract.c yet\n",
                att_store_url_redacted(spec, red, sizeof(red)));
    return -1;
}

static int teardown(void **state);

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    if (fresh_store(g_spec, f) != 0) {
        *state = f;
        teardown(state);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    if (f->tmp != NULL)
        nftw(f->tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    if (f->pgdb != NULL) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->pgdb);
        pg_admin(f->pgadmin, sql);
    }
    free(f->pgdb);
    free(f->pgadmin);
    free(f->tmp);
    free(f->url);
    free(f);
    return 0;
}

static att_store_t *open_ok(const fx_t *f)
{
    att_store_t *st = NULL;
    att_diag_t d = {0};
    att_err_t e = att_store_open(f->url, &st, &d);
    if (e != ATT_OK)
        print_error("open %s: %s: %s\n", f->url, att_err_name(e), d.msg);
    assert_int_equal(e, ATT_OK);
    assert_non_null(st);
    assert_non_null(st->ops->name); /* the backend's name ("sqlite": test_store_sqlite.c) */
    return st;
}

static att_store_key_t mk_key(const char *kid, att_time_t created)
{
    att_store_key_t k = {
        .kid = (char *)kid,
        .alg = "RS256",
        .key_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        .cert_pem = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n",
        .created = created};
    return k;
}

/* ---- operations ---------------------------------------------------------------------------- */

/* ---- operations ---------------------------------------------------------------------------- */

static void test_policy_ops(void **state)
{
    fx_t *f = *state;
    att_store_t *st = open_ok(f);
    att_diag_t d = {0};
    char *jws = (char *)1;

    assert_int_equal(att_store_policy_get(st, "SgxEnclave", &jws, &d), ATT_E_STORE_NOT_FOUND);
    assert_null(jws);
    assert_non_null(strstr(d.msg, "SgxEnclave"));
    assert_int_equal(att_store_policy_delete(st, "SgxEnclave", &d), ATT_E_STORE_NOT_FOUND);

    assert_int_equal(att_store_policy_put(st, "SgxEnclave", "eyJhbGciOiJub25lIn0.e30.", &d),
                     ATT_OK);
    assert_int_equal(att_store_policy_put(st, "TdxVm", "tdx-1", &d), ATT_OK);
    assert_int_equal(att_store_policy_get(st, "SgxEnclave", &jws, &d), ATT_OK);
    assert_string_equal(jws, "eyJhbGciOiJub25lIn0.e30.");
    free(jws);

    /* put replaces, and only that type */
    assert_int_equal(att_store_policy_put(st, "SgxEnclave", "second", &d), ATT_OK);
    assert_int_equal(att_store_policy_get(st, "SgxEnclave", &jws, &d), ATT_OK);
    assert_string_equal(jws, "second");
    free(jws);
    assert_int_equal(att_store_policy_get(st, "TdxVm", &jws, &d), ATT_OK);
    assert_string_equal(jws, "tdx-1");
    free(jws);

    /* an empty policy text is stored as such (the caller decides what it means) */
    assert_int_equal(att_store_policy_put(st, "OpenEnclave", "", &d), ATT_OK);
    assert_int_equal(att_store_policy_get(st, "OpenEnclave", &jws, &d), ATT_OK);
    assert_string_equal(jws, "");
    free(jws);

    /* type names are case-sensitive keys */
    assert_int_equal(att_store_policy_get(st, "sgxenclave", &jws, &d), ATT_E_STORE_NOT_FOUND);

    assert_int_equal(att_store_policy_delete(st, "SgxEnclave", &d), ATT_OK);
    assert_int_equal(att_store_policy_get(st, "SgxEnclave", &jws, &d), ATT_E_STORE_NOT_FOUND);
    assert_int_equal(att_store_policy_delete(st, "SgxEnclave", &d), ATT_E_STORE_NOT_FOUND);
    assert_int_equal(att_store_policy_get(st, "TdxVm", &jws, &d), ATT_OK);
    free(jws);
    att_store_close(st);
}

static void test_key_ops(void **state)
{
    fx_t *f = *state;
    att_store_t *st = open_ok(f);
    att_diag_t d = {0};
    att_store_key_t *keys = (att_store_key_t *)1;
    size_t n = 99;

    assert_int_equal(att_store_key_list(st, &keys, &n, &d), ATT_OK);
    assert_int_equal(n, 0);
    att_store_keys_free(keys, n);

    att_store_key_t k1 = mk_key("k1", 100), k2 = mk_key("k2", 300), k3 = mk_key("k3", 200),
                    k4 = mk_key("k4", 300);
    k3.alg = "ES256";
    k3.retired = 250;
    k3.publish_until = 250 + 8 * 3600;
    assert_int_equal(att_store_key_put(st, &k1, &d), ATT_OK);
    assert_int_equal(att_store_key_put(st, &k2, &d), ATT_OK);
    assert_int_equal(att_store_key_put(st, &k3, &d), ATT_OK);
    assert_int_equal(att_store_key_put(st, &k4, &d), ATT_OK); /* same second as k2, added later */

    /* a kid is never silently replaced */
    att_store_key_t dup = mk_key("k1", 999);
    assert_int_equal(att_store_key_put(st, &dup, &d), ATT_E_STORE);
    assert_non_null(strstr(d.msg, "k1"));
    assert_non_null(strstr(d.msg, "already exists"));

    assert_int_equal(att_store_key_list(st, &keys, &n, &d), ATT_OK);
    assert_int_equal(n, 4);
    const char *order[] = {"k4", "k2", "k3", "k1"}; /* newest first, later insert wins ties */
    for (size_t i = 0; i < n; i++)
        assert_string_equal(keys[i].kid, order[i]);
    assert_string_equal(keys[2].alg, "ES256");
    assert_int_equal(keys[2].created, 200);
    assert_int_equal(keys[2].retired, 250);
    assert_int_equal(keys[2].publish_until, 250 + 8 * 3600);
    assert_int_equal(keys[3].retired, 0);
    assert_int_equal(keys[3].publish_until, 0);
    assert_string_equal(keys[3].key_pem, k1.key_pem);
    assert_string_equal(keys[3].cert_pem, k1.cert_pem);
    att_store_keys_free(keys, n);

    assert_int_equal(att_store_key_retire(st, "k2", 400, 400 + 28800, &d), ATT_OK);
    assert_int_equal(att_store_key_retire(st, "nope", 400, 500, &d), ATT_E_STORE_NOT_FOUND);
    assert_non_null(strstr(d.msg, "nope"));

    assert_int_equal(att_store_key_list(st, &keys, &n, &d), ATT_OK);
    assert_int_equal(n, 4);
    assert_string_equal(keys[1].kid, "k2");
    assert_int_equal(keys[1].retired, 400);
    assert_int_equal(keys[1].publish_until, 400 + 28800);
    assert_int_equal(keys[0].retired, 0); /* only k2 changed */
    att_store_keys_free(keys, n);
    att_store_close(st);
}

/* sign_from (migration 4): when a key starts signing, as put; 0 when not given. */
static void test_key_sign_from(void **state)
{
    fx_t *f = *state;
    att_store_t *st = open_ok(f);
    att_diag_t d = {0};
    att_store_key_t k1 = mk_key("k1", 100), k2 = mk_key("k2", 200);
    k2.sign_from = 260; /* published at 200, signs from 260 */
    assert_int_equal(att_store_key_put(st, &k1, &d), ATT_OK);
    assert_int_equal(att_store_key_put(st, &k2, &d), ATT_OK);
    /* the key it replaces signs until then and stays published for its tokens */
    assert_int_equal(att_store_key_retire(st, "k1", 260, 260 + 28800, &d), ATT_OK);
    att_store_t *again = open_ok(f); /* another handle (another replica) reads the same */
    att_store_key_t *keys = NULL;
    size_t n = 0;
    assert_int_equal(att_store_key_list(again, &keys, &n, &d), ATT_OK);
    assert_int_equal(n, 2);
    assert_string_equal(keys[0].kid, "k2");
    assert_int_equal(keys[0].sign_from, 260);
    assert_int_equal(keys[0].retired, 0);
    assert_string_equal(keys[1].kid, "k1");
    assert_int_equal(keys[1].sign_from, 0);
    assert_int_equal(keys[1].retired, 260);
    assert_int_equal(keys[1].publish_until, 260 + 28800);
    att_store_keys_free(keys, n);
    att_store_close(again);
    att_store_close(st);
}

/* key_reseal: compare and set of a key's key_pem (keys.c sealing a clear key in place). */
static void test_key_reseal(void **state)
{
    fx_t *f = *state;
    att_store_t *st = open_ok(f);
    att_diag_t d = {0};
    att_store_key_t k1 = mk_key("k1", 100), k2 = mk_key("k2", 200);
    assert_int_equal(att_store_key_put(st, &k1, &d), ATT_OK);
    assert_int_equal(att_store_key_put(st, &k2, &d), ATT_OK);
    assert_int_equal(att_store_key_reseal(st, "k1", k1.key_pem, "sealed-1", &d), ATT_OK);
    /* the old text is gone: a second re-seal from it changes nothing */
    assert_int_equal(att_store_key_reseal(st, "k1", k1.key_pem, "sealed-2", &d),
                     ATT_E_STORE_NOT_FOUND);
    assert_non_null(strstr(d.msg, "k1"));
    assert_int_equal(att_store_key_reseal(st, "nope", k1.key_pem, "x", &d), ATT_E_STORE_NOT_FOUND);
    assert_int_equal(att_store_key_reseal(st, "k1", "", "x", &d), ATT_E_ARG);
    assert_int_equal(att_store_key_reseal(st, NULL, "a", "x", &d), ATT_E_ARG);
    att_store_key_t *keys;
    size_t n;
    assert_int_equal(att_store_key_list(st, &keys, &n, &d), ATT_OK);
    assert_int_equal(n, 2);
    assert_string_equal(keys[1].kid, "k1");
    assert_string_equal(keys[1].key_pem, "sealed-1");
    assert_string_equal(keys[0].key_pem, k2.key_pem); /* only k1 changed */
    att_store_keys_free(keys, n);
    att_store_close(st);
}

static void test_signer_ops(void **state)
{
    fx_t *f = *state;
    att_store_t *st = open_ok(f);
    att_diag_t d = {0};
    att_store_signer_t *s = NULL;
    size_t n = 99;

    assert_int_equal(att_store_signer_list(st, &s, &n, &d), ATT_OK);
    assert_int_equal(n, 0);
    att_store_signers_free(s, n);

    att_store_signer_t a = {.thumbprint = "aa11", .cert_pem = "PEM-A"};
    att_store_signer_t b = {.thumbprint = "bb22", .cert_pem = "PEM-B"};
    att_store_signer_t c = {.thumbprint = "0c33", .cert_pem = "PEM-C"};
    assert_int_equal(att_store_signer_add(st, &a, &d), ATT_OK);
    assert_int_equal(att_store_signer_add(st, &b, &d), ATT_OK);
    assert_int_equal(att_store_signer_add(st, &c, &d), ATT_OK);
    assert_int_equal(att_store_signer_add(st, &a, &d), ATT_OK); /* already there: no change */

    assert_int_equal(att_store_signer_list(st, &s, &n, &d), ATT_OK);
    assert_int_equal(n, 3);
    assert_string_equal(s[0].thumbprint, "aa11"); /* in the order they were added */
    assert_string_equal(s[0].cert_pem, "PEM-A");
    assert_string_equal(s[1].thumbprint, "bb22");
    assert_string_equal(s[2].thumbprint, "0c33");
    assert_string_equal(s[2].cert_pem, "PEM-C");
    att_store_signers_free(s, n);

    assert_int_equal(att_store_signer_remove(st, "bb22", &d), ATT_OK);
    assert_int_equal(att_store_signer_remove(st, "bb22", &d), ATT_E_STORE_NOT_FOUND);
    assert_non_null(strstr(d.msg, "bb22"));
    assert_int_equal(att_store_signer_list(st, &s, &n, &d), ATT_OK);
    assert_int_equal(n, 2);
    assert_string_equal(s[0].thumbprint, "aa11");
    assert_string_equal(s[1].thumbprint, "0c33");
    att_store_signers_free(s, n);
    att_store_close(st);
}

static void test_coll_ops(void **state)
{
    fx_t *f = *state;
    att_store_t *st = open_ok(f);
    att_diag_t d = {0};
    uint8_t *blob = (uint8_t *)1;
    size_t len = 99;
    att_time_t at = -1;

    assert_int_equal(
        att_store_coll_get(st, "dcap/sgx/00906ED50000/processor", &blob, &len, &at, &d),
        ATT_E_STORE_NOT_FOUND);
    assert_null(blob);
    assert_int_equal(len, 0);

    /* binary data with NULs round-trips */
    uint8_t bin[300];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (uint8_t)(i * 7);
    bin[5] = 0;
    assert_int_equal(att_store_coll_put(st, "k", bin, sizeof(bin), 1751328000, &d), ATT_OK);
    assert_int_equal(att_store_coll_get(st, "k", &blob, &len, &at, &d), ATT_OK);
    assert_int_equal(len, sizeof(bin));
    assert_memory_equal(blob, bin, sizeof(bin));
    assert_int_equal(at, 1751328000);
    free(blob);

    /* overwrite: new bytes (shorter) and new time */
    assert_int_equal(att_store_coll_put(st, "k", (const uint8_t *)"xyz", 3, 1751400000, &d),
                     ATT_OK);
    assert_int_equal(att_store_coll_get(st, "k", &blob, &len, &at, &d), ATT_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(blob, "xyz", 3);
    assert_int_equal(at, 1751400000);
    free(blob);

    /* empty blob is a value, not a missing one; fetched_at may be NULL */
    assert_int_equal(att_store_coll_put(st, "empty", NULL, 0, 5, &d), ATT_OK);
    assert_int_equal(att_store_coll_get(st, "empty", &blob, &len, NULL, &d), ATT_OK);
    assert_non_null(blob);
    assert_int_equal(len, 0);
    free(blob);
    att_store_close(st);
}

/* The cluster's collateral fetch lease: one owner at a time per key, taken over once it ran out,
 * extended by its owner, ended only by its owner; and the news of collateral stored or a lease
 * ended reaching another handle's waiter (not the change watcher). A backend without leases
 * (one process per store: SQLite) says ATT_E_UNSUPPORTED and its wait only sleeps. */
static int g_watch_calls, g_watch_collateral;
static bool watch_count(void *arg, const char *what)
{
    (void)arg;
    g_watch_calls++;
    if (what != NULL && strncmp(what, "collateral", 10) == 0)
        g_watch_collateral++;
    return true;
}

static void test_coll_lease(void **state)
{
    fx_t *f = *state;
    att_store_t *a = open_ok(f), *b = open_ok(f);
    att_diag_t d = {0};
    bool mine = true;
    int64_t held = -1;
    const char *key = "dcap/sgx/00a067110000/processor";
    att_err_t e = att_store_coll_lease(a, key, "A", 1000, 13000, &mine, &held, &d);
    if (a->ops->coll_lease == NULL) {
        assert_int_equal(e, ATT_E_UNSUPPORTED);
        assert_int_equal(att_store_coll_lease_end(a, key, "A", &d), ATT_E_UNSUPPORTED);
        assert_int_equal(att_store_coll_news(a), 0);
        assert_false(att_store_coll_wait(a, 0, 20));
        att_store_close(a);
        att_store_close(b);
        return;
    }
    assert_int_equal(e, ATT_OK);
    assert_true(mine);
    /* held by A until 13000: B does not get it before, and learns until when */
    assert_int_equal(att_store_coll_lease(b, key, "B", 2000, 14000, &mine, &held, &d), ATT_OK);
    assert_false(mine);
    assert_int_equal(held, 13000);
    /* another key is another lease */
    assert_int_equal(att_store_coll_lease(b, "snp/vcek/x", "B", 2000, 14000, &mine, &held, &d),
                     ATT_OK);
    assert_true(mine);
    /* A extends its own */
    assert_int_equal(att_store_coll_lease(a, key, "A", 3000, 15000, &mine, &held, &d), ATT_OK);
    assert_true(mine);
    assert_int_equal(att_store_coll_lease(b, key, "B", 14999, 20000, &mine, &held, &d), ATT_OK);
    assert_false(mine);
    assert_int_equal(held, 15000);
    /* ran out (A died mid-fetch): B takes it over */
    assert_int_equal(att_store_coll_lease(b, key, "B", 15001, 27000, &mine, &held, &d), ATT_OK);
    assert_true(mine);
    /* A's end is refused (not its lease any more); B's ends it, then anyone may take it */
    assert_int_equal(att_store_coll_lease_end(a, key, "A", &d), ATT_E_STORE_NOT_FOUND);
    assert_non_null(strstr(d.msg, "A"));
    assert_int_equal(att_store_coll_lease(a, key, "A", 16000, 28000, &mine, &held, &d), ATT_OK);
    assert_false(mine);
    assert_int_equal(att_store_coll_lease_end(b, key, "B", &d), ATT_OK);
    assert_int_equal(att_store_coll_lease(a, key, "A", 16000, 28000, &mine, &held, &d), ATT_OK);
    assert_true(mine);
    /* arguments */
    assert_int_equal(att_store_coll_lease(a, "", "A", 0, 1, &mine, &held, &d), ATT_E_ARG);
    assert_int_equal(att_store_coll_lease(a, key, "", 0, 1, &mine, &held, &d), ATT_E_ARG);
    assert_int_equal(att_store_coll_lease(a, key, "A", 0, 1, NULL, &held, NULL), ATT_E_ARG);
    assert_int_equal(att_store_coll_lease_end(a, key, NULL, &d), ATT_E_ARG);

    /* without a watcher no news comes: the wait is a short sleep (the caller looks again) */
    assert_false(att_store_coll_wait(a, att_store_coll_news(a), 5000));
    /* with one: B's stored set and B's ended lease are news on A, within the wait; the
     * watcher's function is not told of collateral */
    g_watch_calls = g_watch_collateral = 0;
    assert_int_equal(att_store_watch(a, watch_count, NULL, &d), ATT_OK);
    uint64_t seen = att_store_coll_news(a);
    assert_int_equal(att_store_coll_put(b, key, (const uint8_t *)"x", 1, 5, &d), ATT_OK);
    assert_true(att_store_coll_wait(a, seen, 5000));
    seen = att_store_coll_news(a);
    assert_int_equal(att_store_coll_lease(b, "snp/vcek/x", "B", 3000, 14000, &mine, &held, &d),
                     ATT_OK);
    assert_int_equal(att_store_coll_lease_end(b, "snp/vcek/x", "B", &d), ATT_OK);
    assert_true(att_store_coll_wait(a, seen, 5000));
    assert_int_equal(att_store_watch(a, NULL, NULL, &d), ATT_OK);
    assert_int_equal(g_watch_collateral, 0);
    att_store_close(a);
    att_store_close(b);
}

static void test_request_ledger(void **state)
{
    fx_t *f = *state;
    att_store_t *st = open_ok(f);
    att_diag_t d = {0};
    char *prev = (char *)1;
    att_time_t at = -1;
    assert_int_equal(
        att_store_request_use(st, "aa11", "policy.set SgxEnclave", 100, &prev, &at, &d), ATT_OK);
    assert_null(prev);
    assert_int_equal(at, 0);
    assert_int_equal(
        att_store_request_use(st, "aa11", "policy.reset SgxEnclave", 200, &prev, &at, &d), ATT_OK);
    assert_string_equal(prev, "policy.set SgxEnclave");
    assert_int_equal(at, 100);
    free(prev);
    assert_int_equal(att_store_request_use(st, "bb22", "certificates.add", 300, &prev, &at, &d),
                     ATT_OK);
    assert_null(prev);
    assert_int_equal(att_store_request_use(st, "", "x", 1, &prev, &at, &d), ATT_E_ARG);
    att_store_close(st);
    st = open_ok(f);
    assert_int_equal(att_store_request_use(st, "bb22", "policy.set TdxVm", 400, &prev, &at, &d),
                     ATT_OK);
    assert_string_equal(prev, "certificates.add");
    assert_int_equal(at, 300);
    free(prev);
    att_store_close(st);
}

static void test_null_args(void **state)
{
    fx_t *f = *state;
    att_store_t *st = NULL;
    att_diag_t d = {0};
    /* the opener's own arguments (the SQLite opener's: test_store_sqlite.c) */
    assert_int_equal(att_store_open(NULL, &st, &d), ATT_E_ARG);
    assert_int_equal(att_store_open("", &st, &d), ATT_E_ARG);
    assert_int_equal(att_store_open(f->url, NULL, &d), ATT_E_ARG);
    st = open_ok(f);

    char *jws;
    att_store_key_t *keys;
    att_store_signer_t *sg;
    uint8_t *blob;
    size_t n;
    att_store_key_t nokid = mk_key(NULL, 1);
    att_store_signer_t nothumb = {.thumbprint = NULL, .cert_pem = "x"};
    assert_int_equal(att_store_key_put(st, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_store_key_put(st, &nokid, &d), ATT_E_ARG);
    assert_int_equal(att_store_key_list(st, NULL, &n, &d), ATT_E_ARG);
    assert_int_equal(att_store_key_list(st, &keys, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_store_key_retire(st, NULL, 1, 2, &d), ATT_E_ARG);
    assert_int_equal(att_store_policy_get(st, NULL, &jws, &d), ATT_E_ARG);
    assert_int_equal(att_store_policy_get(st, "SgxEnclave", NULL, &d), ATT_E_ARG);
    assert_int_equal(att_store_policy_put(st, "", "x", &d), ATT_E_ARG);
    assert_int_equal(att_store_policy_put(st, "SgxEnclave", NULL, &d), ATT_E_ARG);
    assert_int_equal(att_store_policy_delete(st, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_store_signer_list(st, NULL, &n, &d), ATT_E_ARG);
    assert_int_equal(att_store_signer_list(st, &sg, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_store_signer_add(st, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_store_signer_add(st, &nothumb, &d), ATT_E_ARG);
    assert_int_equal(att_store_signer_remove(st, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_store_coll_get(st, NULL, &blob, &n, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_store_coll_get(st, "k", NULL, &n, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_store_coll_put(st, NULL, (const uint8_t *)"x", 1, 0, &d), ATT_E_ARG);
    assert_int_equal(att_store_coll_put(st, "k", NULL, 1, 0, &d), ATT_E_ARG);
    /* a NULL diag is allowed */
    assert_int_equal(att_store_policy_get(st, "SgxEnclave", &jws, NULL), ATT_E_STORE_NOT_FOUND);
    att_store_close(st);
    att_store_close(NULL);
    att_store_keys_free(NULL, 3);
    att_store_signers_free(NULL, 3);
}

/* ---- persistence ----------------------------------------------------------------------------- */

static void test_reopen_persists(void **state)
{
    fx_t *f = *state;
    att_diag_t d = {0};
    att_store_t *st = open_ok(f);
    att_store_key_t k = mk_key("kid-1", 1000);
    att_store_signer_t s = {.thumbprint = "ff00", .cert_pem = "PEM"};
    assert_int_equal(att_store_key_put(st, &k, &d), ATT_OK);
    assert_int_equal(att_store_policy_put(st, "TdxVm", "policy-tdx", &d), ATT_OK);
    assert_int_equal(att_store_signer_add(st, &s, &d), ATT_OK);
    assert_int_equal(att_store_coll_put(st, "c", (const uint8_t *)"\x01\x02", 2, 77, &d), ATT_OK);
    att_store_close(st);

    /* everything is there after a reopen, and after another */
    for (int round = 0; round < 2; round++) {
        st = open_ok(f);
        char *jws;
        assert_int_equal(att_store_policy_get(st, "TdxVm", &jws, &d), ATT_OK);
        assert_string_equal(jws, "policy-tdx");
        free(jws);
        att_store_key_t *keys;
        size_t n;
        assert_int_equal(att_store_key_list(st, &keys, &n, &d), ATT_OK);
        assert_int_equal(n, 1);
        assert_string_equal(keys[0].kid, "kid-1");
        assert_string_equal(keys[0].key_pem, k.key_pem);
        assert_int_equal(keys[0].created, 1000);
        att_store_keys_free(keys, n);
        att_store_signer_t *sg;
        assert_int_equal(att_store_signer_list(st, &sg, &n, &d), ATT_OK);
        assert_int_equal(n, 1);
        assert_string_equal(sg[0].thumbprint, "ff00");
        att_store_signers_free(sg, n);
        uint8_t *blob;
        att_time_t at;
        assert_int_equal(att_store_coll_get(st, "c", &blob, &n, &at, &d), ATT_OK);
        assert_int_equal(n, 2);
        assert_memory_equal(blob, "\x01\x02", 2);
        assert_int_equal(at, 77);
        free(blob);
        att_store_close(st);
    }
}

/* The service's secrets: the first one stored wins, for every handle (replicas), across reopen. */
static void test_secrets(void **state)
{
    fx_t *f = *state;
    att_store_t *a = open_ok(f), *b = open_ok(f);
    att_diag_t d = {0};
    static const uint8_t one[32] = {1}, two[32] = {2}, other[16] = {3};
    uint8_t *got = NULL;
    size_t n = 0;
    assert_int_equal(att_store_secret(a, "challenge-key", one, sizeof one, 10, &got, &n, &d),
                     ATT_OK);
    assert_int_equal(n, 32);
    assert_memory_equal(got, one, 32);
    free(got);
    /* another handle offering its own fresh secret gets the stored one */
    assert_int_equal(att_store_secret(b, "challenge-key", two, sizeof two, 20, &got, &n, &d),
                     ATT_OK);
    assert_memory_equal(got, one, 32);
    free(got);
    /* names are separate */
    assert_int_equal(att_store_secret(b, "other", other, sizeof other, 20, &got, &n, &d), ATT_OK);
    assert_int_equal(n, 16);
    assert_memory_equal(got, other, 16);
    free(got);
    assert_int_equal(att_store_secret(a, "", one, sizeof one, 10, &got, &n, &d), ATT_E_ARG);
    assert_int_equal(att_store_secret(a, "x", one, 0, 10, &got, &n, &d), ATT_E_ARG);
    att_store_close(a);
    att_store_close(b);
    a = open_ok(f);
    assert_int_equal(att_store_secret(a, "challenge-key", two, sizeof two, 30, &got, &n, &d),
                     ATT_OK);
    assert_memory_equal(got, one, 32);
    free(got);
    att_store_close(a);
}

/* Single-use tokens: spent once, refused after, on every handle; expired ones are forgotten. */
static void test_spent_tokens(void **state)
{
    fx_t *f = *state;
    att_store_t *a = open_ok(f), *b = open_ok(f);
    att_diag_t d = {0};
    bool first = false;
    assert_int_equal(att_store_token_spend(a, "t1", 100, 50, &first, &d), ATT_OK);
    assert_true(first);
    assert_int_equal(att_store_token_spend(b, "t1", 100, 60, &first, &d), ATT_OK);
    assert_false(first); /* replayed, through another handle */
    assert_int_equal(att_store_token_spend(a, "t2", 200, 60, &first, &d), ATT_OK);
    assert_true(first);
    /* at 150, t1 has expired: it is forgotten (its expiry refuses it), t2 is still spent */
    assert_int_equal(att_store_token_spend(a, "t3", 300, 150, &first, &d), ATT_OK);
    assert_true(first);
    assert_int_equal(att_store_token_spend(a, "t2", 200, 150, &first, &d), ATT_OK);
    assert_false(first);
    assert_int_equal(att_store_token_spend(a, "t1", 400, 150, &first, &d), ATT_OK);
    assert_true(first);
    assert_int_equal(att_store_token_spend(a, "", 1, 1, &first, &d), ATT_E_ARG);
    att_store_close(a);
    att_store_close(b);
    a = open_ok(f);
    assert_int_equal(att_store_token_spend(a, "t3", 300, 160, &first, &d), ATT_OK);
    assert_false(first); /* durable */
    att_store_close(a);
}

static void test_two_handles(void **state)
{
    /* Two handles on one store in one process (as `attestd keys rotate` beside a running
     * server): each sees the other's writes at once, with no cache between. The SQLite reason
     * it could fail (a second open dropping the first's POSIX locks) is in docs/store.md. */
    fx_t *f = *state;
    att_diag_t d = {0};
    att_store_t *a = open_ok(f), *b = open_ok(f);
    char *jws;
    assert_int_equal(att_store_policy_put(a, "SgxEnclave", "from-a", &d), ATT_OK);
    assert_int_equal(att_store_policy_get(b, "SgxEnclave", &jws, &d), ATT_OK);
    assert_string_equal(jws, "from-a");
    free(jws);
    assert_int_equal(att_store_policy_put(b, "SgxEnclave", "from-b", &d), ATT_OK);
    assert_int_equal(att_store_policy_get(a, "SgxEnclave", &jws, &d), ATT_OK);
    assert_string_equal(jws, "from-b");
    free(jws);
    att_store_close(a);
    att_store_close(b);
}

/* ---- concurrency --------------------------------------------------------------------------- */

#define CT_THREADS 4
#define CT_ITERS   40
#define CT_READS   3

typedef struct {
    att_store_t *st;
    int id;
    int bad;    /* torn or malformed values seen */
    int errors; /* failed calls */
    char msg[600];
} ct_arg_t;

static const char *const ct_types[2] = {"SgxEnclave", "TdxVm"};

/* "t=<t> i=<i> n=<n>|" then n copies of one letter picked by (t, i): any mix of two writes
 * shows as a wrong length or letter. Sizes vary so that a torn value cannot look whole. */
static char *ct_value(int t, int i)
{
    size_t body = 500 + (size_t)((t * 131 + i * 977) % 6000);
    char *v = malloc(body + 64);
    if (v == NULL)
        return NULL;
    int h = snprintf(v, 64, "t=%d i=%d n=%zu|", t, i, body);
    memset(v + h, 'a' + (t * 7 + i) % 26, body);
    v[h + body] = '\0';
    return v;
}

static bool ct_check(const char *v)
{
    int t, i, used = 0;
    size_t body;
    if (sscanf(v, "t=%d i=%d n=%zu|%n", &t, &i, &body, &used) != 3 || used == 0)
        return false;
    if (t < 0 || t >= CT_THREADS || i < 0 || i >= CT_ITERS)
        return false;
    if (strlen(v) != (size_t)used + body)
        return false;
    char c = (char)('a' + (t * 7 + i) % 26);
    for (size_t k = 0; k < body; k++)
        if (v[used + k] != c)
            return false;
    return body == 500 + (size_t)((t * 131 + i * 977) % 6000);
}

static void *ct_run(void *p)
{
    ct_arg_t *a = p;
    att_diag_t d;
    for (int i = 0; i < CT_ITERS; i++) {
        char *v = ct_value(a->id, i);
        if (v == NULL || att_store_policy_put(a->st, ct_types[(a->id + i) % 2], v, &d) != ATT_OK) {
            a->errors++;
            snprintf(a->msg, sizeof(a->msg), "%s", d.msg);
        }
        free(v);
        for (int r = 0; r < CT_READS; r++) {
            char *got = NULL;
            att_err_t e = att_store_policy_get(a->st, ct_types[(a->id + i + r) % 2], &got, &d);
            if (e == ATT_OK) {
                if (!ct_check(got))
                    a->bad++;
            } else if (e != ATT_E_STORE_NOT_FOUND) { /* the other type may be unwritten yet */
                a->errors++;
                snprintf(a->msg, sizeof(a->msg), "%s", d.msg);
            }
            free(got);
        }
    }
    return NULL;
}

static void test_concurrent_policies(void **state)
{
    fx_t *f = *state;
    att_store_t *st = open_ok(f);
    pthread_t th[CT_THREADS];
    ct_arg_t args[CT_THREADS];
    for (int t = 0; t < CT_THREADS; t++) {
        args[t] = (ct_arg_t){.st = st, .id = t};
        assert_int_equal(pthread_create(&th[t], NULL, ct_run, &args[t]), 0);
    }
    for (int t = 0; t < CT_THREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < CT_THREADS; t++) {
        if (args[t].errors)
            print_error("thread %d: %s\n", t, args[t].msg);
        assert_int_equal(args[t].errors, 0);
        assert_int_equal(args[t].bad, 0);
    }
    /* each type ends with a whole value from some thread's write */
    att_diag_t d;
    for (int k = 0; k < 2; k++) {
        char *v;
        assert_int_equal(att_store_policy_get(st, ct_types[k], &v, &d), ATT_OK);
        assert_true(ct_check(v));
        free(v);
    }
    att_store_close(st);
}

/* One run of the suite per ATTESTD_TEST_STORE_URLS entry. */
static int run_contract(const char *spec)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_policy_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_reseal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_sign_from, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coll_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signer_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coll_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_ledger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spent_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_handles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_policies, setup, teardown),
    };
    char red[256], name[300];
    snprintf(name, sizeof(name), "store contract on %s",
             att_store_url_redacted(spec, red, sizeof(red)));
    g_spec = spec;
    print_message("%s\n", name);
    return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}

int main(int argc, char **argv)
{
    (void)argc;
    /* ATTESTD_TEST_STORE_URLS; else the cluster tests/tools/pg-start.sh run started (PG_URL);
     * else SQLite, then this program again under pg-start.sh run for PostgreSQL (which skips
     * with one line where PostgreSQL cannot start) */
    const char *env = getenv("ATTESTD_TEST_STORE_URLS"), *pg = getenv("PG_URL");
    bool both = (env == NULL || *env == '\0') && (pg == NULL || *pg == '\0');
    char *list = strdup(env != NULL && *env ? env : pg != NULL && *pg ? pg : "sqlite:");
    if (list == NULL)
        return 1;
    int failed = 0, runs = 0;
    char *save = NULL;
    for (char *u = strtok_r(list, ", \t\r\n", &save); u; u = strtok_r(NULL, ", \t\r\n", &save)) {
        failed += run_contract(u);
        runs++;
    }
    free(list);
    if (both) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            execlp("sh", "sh", ATT_TEST_TOOLS "/pg-start.sh", "run", argv[0], (char *)NULL);
            _exit(127);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            print_error("the PostgreSQL run failed\n");
            failed++;
        }
    }
    return runs == 0 ? 1 : failed;
}
