#define _GNU_SOURCE
/* test_collsrc_stored.c - collateral read back from a SQLite store whose `collateral` row has a
 * corrupted or foreign fetched_at (regression for the signed overflow found while writing
 * tests/fuzz/fuzz_attestd_collblob.c: with --collateral-max-age, `now - fetched_at` overflowed
 * for fetched_at = INT64_MIN, undefined behaviour that in practice meant "never too old"), and
 * corrupted blobs (an error, the set not served, no crash).
 *
 * Each case stores the genuine SGX vector collateral (the DCAP store format, src/lib/dcap/pcs.c)
 * with a given fetched_at, then asks a collateral source with the store, max_age 1 day and a PCS
 * URL that refuses connections (127.0.0.1 port 1): a set judged too old is refetched (stats.fetches
 * counts the attempt), the fetch fails, and the stored set is served. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collsrc.h"
#include "collsrc_test.h"
#include "dcap/vec.h"
#include "log.h" /* att_log_setup: the tests read what collsrc logs */
#include "store.h"

#define SGX_SET "sgx-v3-fmspc00A067110000"
#define SGX_KEY "dcap/sgx/00a067110000/processor"
#define DAY     86400

/* The set of SGX_KEY through the key API. */
static att_err_t get(att_collsrc_t *s, att_time_t now, att_dcap_collateral_t **c, att_diag_t *d)
{
    void *obj = NULL;
    att_err_t e = att_collsrc_get(s, SGX_KEY, now, &obj, NULL, d);
    *c = obj;
    return e;
}

typedef struct {
    char dir[64];
    att_store_t *st;
    att_trust_t *trust;
    vec_t v;
    uint8_t *blob;
    size_t blob_len;
} fx_t;

/* The DCAP store format (src/lib/dcap/pcs.c): "ATTCOLL1", then 7 items each with a 4-byte
 * big-endian length. */
static uint8_t *encode(const att_dcap_collateral_raw_t *r, size_t *len)
{
    const att_slice_t *items[7] = {&r->tcb_info,          &r->tcb_info_chain, &r->qe_identity,
                                   &r->qe_identity_chain, &r->pck_crl,        &r->pck_crl_chain,
                                   &r->root_ca_crl};
    size_t n = 8;
    for (int i = 0; i < 7; i++)
        n += 4 + items[i]->len;
    uint8_t *b = malloc(n), *p = b;
    assert_non_null(b);
    memcpy(p, "ATTCOLL1", 8);
    p += 8;
    for (int i = 0; i < 7; i++) {
        uint32_t l = (uint32_t)items[i]->len;
        *p++ = (uint8_t)(l >> 24);
        *p++ = (uint8_t)(l >> 16);
        *p++ = (uint8_t)(l >> 8);
        *p++ = (uint8_t)l;
        memcpy(p, items[i]->ptr, l);
        p += l;
    }
    *len = n;
    return b;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/collsrc-stored-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    att_diag_t d;
    char url[80];
    snprintf(url, sizeof(url), "sqlite:%s", f->dir);
    assert_int_equal(att_store_open(url, &f->st, &d), ATT_OK);
    assert_non_null(f->trust = att_trust_new());
    assert_int_equal(vec_load(&f->v, SGX_SET), 0);
    f->blob = encode(&f->v.raw, &f->blob_len);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    att_store_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    att_trust_free(f->trust);
    free(f->blob);
    free(f->v.quote);
    att_dcap_collateral_raw_free(&f->v.raw);
    json_decref(f->v.expected);
    free(f);
    return 0;
}

/* Store blob with fetched_at, ask twice at the vector's time; returns the fetch attempts. */
static uint64_t fetches_for(fx_t *f, const uint8_t *blob, size_t len, att_time_t fetched_at,
                            att_err_t want)
{
    att_diag_t d;
    assert_int_equal(att_store_coll_put(f->st, SGX_KEY, blob, len, fetched_at, &d), ATT_OK);
    att_collsrc_opts_t o = {.store = f->st, .max_age = DAY, .timeout_ms = 5000};
    att_collsrc_t *s = NULL;
    assert_int_equal(collsrc_test_new_pcs(&o, "http://127.0.0.1:1", f->trust, NULL, &s, &d),
                     ATT_OK);
    for (int i = 0; i < 2; i++) {
        att_dcap_collateral_t *c = NULL;
        att_err_t e = get(s, f->v.at, &c, &d);
        assert_int_equal(e, want);
        if (want == ATT_OK) {
            assert_non_null(c);
            att_dcap_result_t r;
            assert_int_equal(att_dcap_verify(f->v.quote, f->v.quote_len, c, f->trust, f->v.at, &r),
                             ATT_OK);
        } else {
            assert_null(c);
            assert_int_equal(d.code, e);
        }
        att_dcap_collateral_free(c);
    }
    att_collsrc_stats_t st;
    att_collsrc_stats(s, &st);
    att_collsrc_free(s);
    return st.fetches;
}

static void test_fetched_at_sane(void **state)
{
    fx_t *f = *state;
    /* an hour old: fresh, no fetch; two days old: too old, one attempt, served stale */
    assert_int_equal(fetches_for(f, f->blob, f->blob_len, f->v.at - 3600, ATT_OK), 0);
    assert_int_equal(fetches_for(f, f->blob, f->blob_len, f->v.at - 2 * DAY, ATT_OK), 1);
}

static void test_fetched_at_int64_min(void **state)
{
    fx_t *f = *state;
    /* was: now - INT64_MIN overflowed (UBSan: signed integer overflow in needs_refresh; without
     * the sanitizer it wrapped negative and the set was never too old, so no fetch) */
    assert_int_equal(fetches_for(f, f->blob, f->blob_len, INT64_MIN, ATT_OK), 1);
    assert_int_equal(fetches_for(f, f->blob, f->blob_len, INT64_MIN + 1000, ATT_OK), 1);
}

static void test_fetched_at_future(void **state)
{
    fx_t *f = *state;
    /* after now (a corrupted row, a clock that went back): the age is unknown, a refresh is
     * tried; before, a negative age meant "fresh" until the clock caught up */
    assert_int_equal(fetches_for(f, f->blob, f->blob_len, f->v.at + 3600, ATT_OK), 1);
    assert_int_equal(fetches_for(f, f->blob, f->blob_len, INT64_MAX, ATT_OK), 1);
}

static void test_corrupted_blob(void **state)
{
    fx_t *f = *state;
    /* a broken row is not served: with its PCS down the source has nothing (the first get tries
     * the PCS; the second answers that failure, in its backoff, without asking again: issue 18
     * B3, where every get asked again) */
    uint8_t *b = malloc(f->blob_len + 1);
    assert_non_null(b);
    memcpy(b, f->blob, f->blob_len);
    b[0] = 'X'; /* bad magic */
    assert_int_equal(fetches_for(f, b, f->blob_len, f->v.at, ATT_E_FETCH), 1);
    b[0] = 'A';
    /* truncated inside an item, and a trailing byte */
    assert_int_equal(fetches_for(f, b, f->blob_len - 10, f->v.at, ATT_E_FETCH), 1);
    b[f->blob_len] = 0;
    assert_int_equal(fetches_for(f, b, f->blob_len + 1, f->v.at, ATT_E_FETCH), 1);
    /* an item length far past the end */
    b[8] = 0xff;
    assert_int_equal(fetches_for(f, b, f->blob_len, f->v.at, ATT_E_FETCH), 1);
    free(b);
    assert_int_equal(fetches_for(f, (const uint8_t *)"", 0, f->v.at, ATT_E_FETCH), 1);
}

/* Regression: a stored row that is unusable was dropped silently, and with no PCS URL the
 * error said the key was "not in the offline directory or the store". Now it gives the reason
 * (also logged once, as a warning); with a PCS that is down, the fetch error carries it too. */
static void unusable_reason(fx_t *f, const uint8_t *blob, size_t len, const char *pcs_url,
                            att_err_t want, const char *reason)
{
    att_diag_t d;
    assert_int_equal(att_store_coll_put(f->st, SGX_KEY, blob, len, f->v.at, &d), ATT_OK);
    FILE *log = tmpfile();
    assert_non_null(log);
    att_log_setup(ATT_LOG_INFO, log);
    att_collsrc_opts_t o = {.store = f->st, .timeout_ms = 5000};
    att_collsrc_t *s = NULL;
    assert_int_equal(collsrc_test_new_pcs(&o, pcs_url, f->trust, NULL, &s, &d), ATT_OK);
    for (int i = 0; i < 2; i++) { /* the second get answers from the entry: same reason */
        att_dcap_collateral_t *c = NULL;
        att_diag_clear(&d);
        assert_int_equal(get(s, f->v.at, &c, &d), want);
        assert_null(c);
        if (strstr(d.msg, reason) == NULL || strstr(d.msg, "the stored set is unusable") == NULL)
            fail_msg("get %d: \"%s\" does not give the reason \"%s\"", i, d.msg, reason);
        if (pcs_url == NULL &&
            (strstr(d.msg, SGX_KEY) == NULL || strstr(d.msg, "no PCS URL") == NULL))
            fail_msg("get %d: \"%s\" does not name the key and the missing PCS URL", i, d.msg);
        if (pcs_url && strstr(d.msg, "127.0.0.1:1") == NULL)
            fail_msg("get %d: \"%s\" does not give the fetch error", i, d.msg);
    }
    att_collsrc_free(s);
    att_log_setup(ATT_LOG_INFO, NULL);
    fflush(log);
    rewind(log);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof(line), log))
        n += strstr(line, "\"warn\"") && strstr(line, SGX_KEY) && strstr(line, reason);
    fclose(log);
    assert_int_equal(n, 1);
}

static void test_unusable_row_reason(void **state)
{
    fx_t *f = *state;
    uint8_t *b = malloc(f->blob_len);
    assert_non_null(b);
    memcpy(b, f->blob, f->blob_len);
    unusable_reason(f, b, f->blob_len - 10, NULL, ATT_E_COLL_MISSING,
                    "stored collateral: truncated");
    unusable_reason(f, b, f->blob_len - 10, "http://127.0.0.1:1", ATT_E_FETCH,
                    "stored collateral: truncated");
    b[0] = 'X';
    unusable_reason(f, b, f->blob_len, NULL, ATT_E_COLL_MISSING, "stored collateral: bad magic");
    b[0] = 'A';
    /* decodes, but the TCB info no longer matches its signature */
    size_t tcb = 8 + 4; /* the first item, tcb_info (JSON): flip a digit of its body */
    uint8_t *digit = memchr(b + tcb, '1', f->v.raw.tcb_info.len);
    assert_non_null(digit);
    *digit = '2';
    unusable_reason(f, b, f->blob_len, NULL, ATT_E_COLL_MISSING,
                    "stored collateral: TCB info signature does not verify");
    free(b);
}

int main(void)
{
    VEC_REQUIRE_ALL(); /* every test here reads the real vector sets */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fetched_at_sane, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetched_at_int64_min, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetched_at_future, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupted_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unusable_row_reason, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
