#define _GNU_SOURCE
/* test_collsrc_vendor.c - the collateral source is vendor-neutral (issue 11.2): a second fetcher,
 * a trivial vendor "test" whose keys are "test/<name>" and whose blobs are "TEST1 <key>
 * <next_update>", is registered beside Intel's PCS fetcher, and gets every guarantee of the
 * source without a line of collsrc.c knowing it: keys routed by prefix, single flight, the store
 * under its own key and blob, offline sets from the directory both fetchers read, stale serving,
 * backoff, and the source's Retry-After honoured up to backoff_max_ms. No network: the fake
 * fetcher answers from memory, and holds a fetch on a gate for the single-flight case. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collsrc.h"
#include "collsrc_test.h" /* coll_mem_store_t */

static int64_t fake_ms = 1000000;

static int64_t fake_clock(void *arg)
{
    (void)arg;
    return fake_ms;
}

/* ---- the "test" vendor ---- */

typedef struct {
    atomic_int refs;
    char key[64];
    att_time_t next_update;
} tobj_t;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool online;
    bool down;              /* fetches fail (503-like), with retry_after */
    int64_t retry_after;    /* what a failed fetch reports as the source's Retry-After */
    att_time_t next_update; /* of the sets it serves */
    bool hold, in_fetch;    /* hold: fetches wait on the gate; in_fetch: one is waiting */
    int fetches, loads;     /* counters */
} tcfg_t;

static atomic_int live;    /* test objects alive */
static att_trust_t *trust; /* Intel's fetcher's (it never checks a set here) */

static void *t_retain(void *obj)
{
    atomic_fetch_add(&((tobj_t *)obj)->refs, 1);
    return obj;
}

static void t_release(void *obj)
{
    tobj_t *o = obj;
    if (o != NULL && atomic_fetch_sub(&o->refs, 1) == 1) {
        atomic_fetch_sub(&live, 1);
        free(o);
    }
}

static att_err_t t_check_key(const void *cfg, const char *key, att_diag_t *d)
{
    (void)cfg;
    if (strncmp(key, "test/", 5) != 0 || key[5] == 0 || strchr(key + 5, '/') != NULL)
        return att_diag_set(d, ATT_E_ARG, "not a test key: %s", key);
    return ATT_OK;
}

static bool t_online(const void *cfg)
{
    return ((const tcfg_t *)cfg)->online;
}

static att_err_t t_fetch(const void *cfg, const char *key, att_coll_net_t *net, uint8_t **blob,
                         size_t *len, att_diag_t *d)
{
    tcfg_t *c = (tcfg_t *)cfg;
    pthread_mutex_lock(&c->mu);
    c->fetches++;
    c->in_fetch = true;
    pthread_cond_broadcast(&c->cv);
    while (c->hold)
        pthread_cond_wait(&c->cv, &c->mu);
    c->in_fetch = false;
    bool down = c->down;
    att_time_t nu = c->next_update;
    net->requests = 1;
    pthread_mutex_unlock(&c->mu);
    if (down) {
        net->retry_after = c->retry_after;
        return att_diag_set(d, ATT_E_FETCH_STATUS, "test source answered HTTP 503 for %s", key);
    }
    char *b = NULL;
    int n = asprintf(&b, "TEST1 %s %lld", key, (long long)nu);
    assert_true(n > 0);
    *blob = (uint8_t *)b;
    *len = (size_t)n;
    return ATT_OK;
}

static att_err_t t_load(const void *cfg, const char *key, const uint8_t *blob, size_t len,
                        att_time_t now, const char *what, void **obj, att_time_t *next_update,
                        att_diag_t *d)
{
    tcfg_t *c = (tcfg_t *)cfg;
    (void)now;
    char text[160], k[64];
    long long nu;
    if (len >= sizeof text)
        return att_diag_set(d, ATT_E_COLL_FORMAT, "%s: too long", what ? what : "fetched");
    memcpy(text, blob, len);
    text[len] = 0;
    if (sscanf(text, "TEST1 %63s %lld", k, &nu) != 2)
        return att_diag_set(d, ATT_E_COLL_FORMAT, "%s: not a TEST1 blob", what ? what : "fetched");
    if (key != NULL && strcmp(k, key) != 0)
        return att_diag_set(d, ATT_E_COLL_FORMAT, "%s: for %s, not %s", what ? what : "fetched", k,
                            key);
    tobj_t *o = calloc(1, sizeof(*o));
    atomic_init(&o->refs, 1);
    snprintf(o->key, sizeof o->key, "%s", k);
    o->next_update = (att_time_t)nu;
    atomic_fetch_add(&live, 1);
    pthread_mutex_lock(&c->mu);
    c->loads++;
    pthread_mutex_unlock(&c->mu);
    *obj = o;
    *next_update = o->next_update;
    return ATT_OK;
}

/* Offline sets: every file "<name>.test" in dir holds one blob. */
static att_err_t t_offline(const void *cfg, const char *dir, att_time_t now,
                           att_coll_found_fn found, void *arg, att_diag_t *d)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/*.test 2>/dev/null", dir);
    FILE *ls = popen(cmd, "r");
    assert_non_null(ls);
    char path[512];
    int n = 0;
    att_err_t e = ATT_OK;
    while (e == ATT_OK && fgets(path, sizeof path, ls) != NULL) {
        path[strcspn(path, "\n")] = 0;
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char blob[160];
        size_t len = fread(blob, 1, sizeof blob, f);
        fclose(f);
        void *obj;
        att_time_t nu;
        if ((e = t_load(cfg, NULL, (uint8_t *)blob, len, now, path, &obj, &nu, d)) == ATT_OK)
            e = found(arg, ((tobj_t *)obj)->key, obj, nu, d);
        n++;
    }
    pclose(ls);
    if (e == ATT_OK && n == 0)
        return att_diag_set(d, ATT_E_COLL_MISSING, "%s holds no test sets", dir);
    return e;
}

static void t_cfg_free(void *cfg)
{
    tcfg_t *c = cfg;
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static const att_coll_fetcher_t test_fetcher = {
    .prefix = "test",
    .url_name = "test source",
    .check_key = t_check_key,
    .online = t_online,
    .fetch = t_fetch,
    .load = t_load,
    .retain = t_retain,
    .release = t_release,
    .offline = t_offline,
    .cfg_free = t_cfg_free,
};

static tcfg_t *tcfg_new(bool online, att_time_t next_update)
{
    tcfg_t *c = calloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->online = online;
    c->next_update = next_update;
    return c;
}

/* ---- helpers ---- */

#define NOW 1751328000 /* 2025-07-01T00:00:00Z */

/* A source with the test fetcher (cfg t) and Intel's PCS fetcher without a URL. */
static att_collsrc_t *mk(tcfg_t *t, att_store_t *st, const char *dir)
{
    att_diag_t d;
    void *pcs = NULL;
    assert_int_equal(att_dcap_pcs_new(&(att_dcap_pcs_opts_t){.trust = trust}, &pcs, &d), ATT_OK);
    att_coll_source_t srcs[] = {{&att_dcap_pcs_fetcher, pcs}, {&test_fetcher, t}};
    att_collsrc_opts_t o = {.sources = srcs,
                            .n_sources = 2,
                            .store = st,
                            .offline_dir = dir,
                            .clock_ms = fake_clock,
                            .fetch_rate = 1000};
    att_collsrc_t *s = NULL;
    if (att_collsrc_new(&o, &s, &d) != ATT_OK)
        fail_msg("att_collsrc_new: %s", d.msg);
    return s;
}

static att_err_t get(att_collsrc_t *s, const char *key, att_time_t now, tobj_t **o, int64_t *ra,
                     att_diag_t *d)
{
    void *obj = NULL;
    att_err_t e = att_collsrc_get(s, key, now, &obj, ra, d);
    *o = obj;
    return e;
}

/* Keys go to the fetcher of their prefix; the set is the test vendor's object, stored under its
 * key in its own blob format, and read back from the store by a source without network. */
static void test_routing_and_store(void **state)
{
    (void)state;
    tcfg_t *t = tcfg_new(true, NOW + 86400);
    coll_mem_store_t *m = coll_mem_store_new();
    assert_non_null(m);
    att_collsrc_t *s = mk(t, &m->base, NULL);
    tobj_t *o = NULL;
    att_diag_t d;
    assert_int_equal(get(s, "test/alpha", NOW, &o, NULL, &d), ATT_OK);
    assert_string_equal(o->key, "test/alpha");
    t_release(o);
    assert_int_equal(get(s, "test/alpha", NOW + 60, &o, NULL, &d), ATT_OK); /* a hit */
    t_release(o);
    assert_int_equal(t->fetches, 1);
    assert_int_equal(m->n, 1);
    assert_string_equal(m->key[0], "test/alpha");
    assert_memory_equal(m->blob[0], "TEST1 test/alpha ", 17);
    /* the DCAP key goes to Intel's fetcher, which has no URL here; the test one is not asked */
    assert_int_equal(get(s, "dcap/sgx/00a067110000/processor", NOW, &o, NULL, &d),
                     ATT_E_COLL_MISSING);
    assert_non_null(strstr(d.msg, "no PCS URL is configured"));
    /* malformed for its fetcher; no fetcher */
    assert_int_equal(get(s, "test/a/b", NOW, &o, NULL, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "not a test key"));
    assert_int_equal(get(s, "tests/a", NOW, &o, NULL, &d), ATT_E_COLL_MISSING);
    assert_int_equal(t->fetches, 1);
    att_collsrc_stats_t st;
    att_collsrc_stats(s, &st);
    assert_int_equal(st.fetches, 1);
    assert_int_equal(st.requests, 1);
    att_collsrc_free(s);

    /* restarted without network: the stored set is served */
    tcfg_t *t2 = tcfg_new(false, 0);
    s = mk(t2, &m->base, NULL);
    assert_int_equal(get(s, "test/alpha", NOW + 120, &o, NULL, &d), ATT_OK);
    assert_int_equal(o->next_update, NOW + 86400);
    t_release(o);
    assert_int_equal(get(s, "test/beta", NOW, &o, NULL, &d), ATT_E_COLL_MISSING);
    assert_non_null(strstr(d.msg, "no test source is configured"));
    assert_int_equal(t2->fetches, 0);
    att_collsrc_free(s);
    att_store_close(&m->base);
    assert_int_equal(atomic_load(&live), 0);
}

typedef struct {
    att_collsrc_t *s;
    tobj_t *o;
    att_err_t e;
} waiter_t;

static void *waiter(void *arg)
{
    waiter_t *w = arg;
    att_diag_t d;
    w->e = get(w->s, "test/flight", NOW, &w->o, NULL, &d);
    return NULL;
}

/* Eight gets of one key while its fetch is held: one fetch, and all eight share its set. The
 * held fetch and the waiters are synchronised through the fetcher's gate and the source's miss
 * count, not through time. */
static void test_single_flight(void **state)
{
    (void)state;
    tcfg_t *t = tcfg_new(true, NOW + 86400);
    t->hold = true;
    att_collsrc_t *s = mk(t, NULL, NULL);
    waiter_t w[8];
    pthread_t th[8];
    w[0] = (waiter_t){.s = s};
    assert_int_equal(pthread_create(&th[0], NULL, waiter, &w[0]), 0);
    pthread_mutex_lock(&t->mu);
    while (!t->in_fetch)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
    for (int i = 1; i < 8; i++) {
        w[i] = (waiter_t){.s = s};
        assert_int_equal(pthread_create(&th[i], NULL, waiter, &w[i]), 0);
    }
    att_collsrc_stats_t st;
    for (int i = 0; i < 30000; i++) { /* bounded: until all 8 have missed */
        att_collsrc_stats(s, &st);
        if (st.misses == 8)
            break;
        usleep(1000);
    }
    assert_int_equal(st.misses, 8);
    pthread_mutex_lock(&t->mu);
    t->hold = false;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].e, ATT_OK);
        assert_ptr_equal(w[i].o, w[0].o);
    }
    assert_int_equal(t->fetches, 1);
    assert_int_equal(atomic_load(&w[0].o->refs), 9); /* the source's and the eight answers' */
    for (int i = 0; i < 8; i++)
        t_release(w[i].o);
    att_collsrc_free(s);
    assert_int_equal(atomic_load(&live), 0);
}

/* One offline directory read by both fetchers: the test vendor finds its two sets, Intel's none
 * (not an error while another fetcher found sets); without a network source they are served. */
static void test_offline_two_vendors(void **state)
{
    (void)state;
    char dir[] = "/tmp/collsrc-vendor-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *names[] = {"one", "two"};
    for (int i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s.test", dir, names[i]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "TEST1 test/%s %lld", names[i], (long long)NOW + 3600 * 5);
        fclose(f);
    }
    tcfg_t *t = tcfg_new(false, 0);
    att_collsrc_t *s = mk(t, NULL, dir);
    tobj_t *o;
    att_diag_t d;
    assert_int_equal(get(s, "test/two", NOW, &o, NULL, &d), ATT_OK);
    assert_string_equal(o->key, "test/two");
    t_release(o);
    assert_int_equal(get(s, "test/one", NOW, &o, NULL, &d), ATT_OK);
    t_release(o);
    /* past its next update, with no source to refresh it: still served (stale), and counted */
    assert_int_equal(get(s, "test/one", NOW + 3600 * 6, &o, NULL, &d), ATT_OK);
    t_release(o);
    att_collsrc_stats_t st;
    att_collsrc_stats(s, &st);
    assert_int_equal(st.served_stale, 1);
    assert_int_equal(t->fetches, 0);
    att_collsrc_free(s);

    /* a directory with no set of any fetcher: the error is the first fetcher's */
    char empty[] = "/tmp/collsrc-vendor-XXXXXX";
    assert_non_null(mkdtemp(empty));
    void *pcs = NULL;
    assert_int_equal(att_dcap_pcs_new(&(att_dcap_pcs_opts_t){.trust = trust}, &pcs, &d), ATT_OK);
    att_coll_source_t srcs[] = {{&att_dcap_pcs_fetcher, pcs}, {&test_fetcher, tcfg_new(false, 0)}};
    att_collsrc_opts_t o2 = {.sources = srcs, .n_sources = 2, .offline_dir = empty};
    assert_int_equal(att_collsrc_new(&o2, &s, &d), ATT_E_COLL_MISSING);
    assert_non_null(strstr(d.msg, "holds no collateral set"));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, empty);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(atomic_load(&live), 0);
}

/* A failed fetch backs the key off; a source's Retry-After longer than the backoff is honoured
 * (the KDS throttles this way), never past backoff_max_ms; the set in hand is served stale
 * meanwhile. Before the fetcher table, a source's Retry-After was not looked at. */
static void test_backoff_retry_after(void **state)
{
    (void)state;
    tcfg_t *t = tcfg_new(true, NOW + 3600 * 2);
    att_collsrc_t *s = mk(t, NULL, NULL);
    tobj_t *o;
    att_diag_t d;
    int64_t ra = 0;
    t->down = true;
    t->retry_after = 30;
    assert_int_equal(get(s, "test/slow", NOW, &o, &ra, &d), ATT_E_FETCH_STATUS);
    assert_int_equal(ra, 30); /* the source's 30 s, not the default first backoff of 5 s */
    assert_int_equal(get(s, "test/slow", NOW, &o, &ra, &d), ATT_E_FETCH_STATUS);
    assert_non_null(strstr(d.msg, "not fetched again for 30 s after 1 failed fetch"));
    assert_int_equal(t->fetches, 1);
    fake_ms += 30000;
    t->retry_after = 1000000; /* beyond backoff_max_ms (300 s by default): capped */
    assert_int_equal(get(s, "test/slow", NOW, &o, &ra, &d), ATT_E_FETCH_STATUS);
    assert_int_equal(ra, 300);
    assert_int_equal(t->fetches, 2);
    fake_ms += 300000;
    t->down = false;
    assert_int_equal(get(s, "test/slow", NOW, &o, &ra, &d), ATT_OK);
    t_release(o);
    /* near its next update the source fails again: the set in hand is served, no waiting */
    t->down = true;
    t->retry_after = 0;
    assert_int_equal(get(s, "test/slow", NOW + 3600 + 1, &o, &ra, &d), ATT_OK);
    t_release(o);
    assert_int_equal(t->fetches, 4);
    att_collsrc_free(s);
    assert_int_equal(atomic_load(&live), 0);
}

/* Fetchers are checked when the source is made, and their cfgs are the source's even then. */
static void test_sources_args(void **state)
{
    (void)state;
    att_diag_t d;
    att_collsrc_t *s = NULL;
    att_coll_source_t twice[] = {{&test_fetcher, tcfg_new(true, 0)},
                                 {&test_fetcher, tcfg_new(true, 0)}};
    att_collsrc_opts_t o = {.sources = twice, .n_sources = 2};
    assert_int_equal(att_collsrc_new(&o, &s, &d), ATT_E_ARG); /* frees both cfgs (ASan) */
    assert_non_null(strstr(d.msg, "two fetchers for \"test\" keys"));
    att_coll_fetcher_t bad = test_fetcher;
    bad.prefix = "te/st";
    att_coll_source_t one[] = {{&bad, tcfg_new(true, 0)}};
    o = (att_collsrc_opts_t){.sources = one, .n_sources = 1};
    assert_int_equal(att_collsrc_new(&o, &s, &d), ATT_E_ARG);
    att_coll_source_t off[] = {{&test_fetcher, tcfg_new(false, 0)}};
    o = (att_collsrc_opts_t){.sources = off, .n_sources = 1};
    assert_int_equal(att_collsrc_new(&o, &s, &d), ATT_E_ARG); /* no network, directory, store */
    assert_null(s);
}

/* The source holds at most max_entries keys (--cache-collateral): when full, the least recently
 * used idle key goes with its set (counted), a set a caller holds stays valid, the evicted key
 * is fetched again at its next get, and 10x the bound in distinct keys never holds more. */
static void test_lru_bound(void **state)
{
    (void)state;
    tcfg_t *t = tcfg_new(true, NOW + 86400);
    att_diag_t d;
    void *pcs = NULL;
    assert_int_equal(att_dcap_pcs_new(&(att_dcap_pcs_opts_t){.trust = trust}, &pcs, &d), ATT_OK);
    att_coll_source_t srcs[] = {{&att_dcap_pcs_fetcher, pcs}, {&test_fetcher, t}};
    att_collsrc_opts_t o = {.sources = srcs,
                            .n_sources = 2,
                            .clock_ms = fake_clock,
                            .fetch_rate = 1000,
                            .max_entries = 2};
    att_collsrc_t *s = NULL;
    assert_int_equal(att_collsrc_new(&o, &s, &d), ATT_OK);
    tobj_t *a = NULL, *o2 = NULL;
    assert_int_equal(get(s, "test/a", NOW, &a, NULL, &d), ATT_OK); /* kept by the test */
    assert_int_equal(get(s, "test/b", NOW, &o2, NULL, &d), ATT_OK);
    t_release(o2);
    assert_int_equal(get(s, "test/a", NOW, &o2, NULL, &d), ATT_OK); /* a hit: b is now LRU */
    t_release(o2);
    assert_int_equal(get(s, "test/c", NOW, &o2, NULL, &d), ATT_OK); /* evicts b */
    t_release(o2);
    att_collsrc_stats_t st;
    att_collsrc_stats(s, &st);
    assert_int_equal(t->fetches, 3);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.capacity, 2);
    assert_int_equal(get(s, "test/a", NOW, &o2, NULL, &d), ATT_OK); /* still there */
    t_release(o2);
    assert_int_equal(t->fetches, 3);
    assert_int_equal(get(s, "test/b", NOW, &o2, NULL, &d), ATT_OK); /* fetched again */
    t_release(o2);
    assert_int_equal(t->fetches, 4);
    for (int i = 0; i < 20; i++) {
        char k[32];
        snprintf(k, sizeof k, "test/k%d", i);
        assert_int_equal(get(s, k, NOW, &o2, NULL, &d), ATT_OK);
        t_release(o2);
        att_collsrc_stats(s, &st);
        assert_true(st.entries <= 2);
    }
    att_collsrc_stats(s, &st);
    assert_int_equal(st.evictions, 22);
    assert_string_equal(a->key, "test/a"); /* evicted meanwhile, still the caller's */
    t_release(a);
    att_collsrc_free(s);
    assert_int_equal(atomic_load(&live), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing_and_store),   cmocka_unit_test(test_single_flight),
        cmocka_unit_test(test_offline_two_vendors), cmocka_unit_test(test_backoff_retry_after),
        cmocka_unit_test(test_sources_args),        cmocka_unit_test(test_lru_bound),
    };
    trust = att_trust_new();
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    att_trust_free(trust);
    return rc;
}
