/* test_cache.c - the PCK chain cache gives the same verdicts as no cache, still checks time
 * windows on a hit, is keyed by collateral and chain bytes, and evicts within its capacity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vec.h"

static void test_cache_same_verdicts(void **state)
{
    att_trust_t *trust = att_trust_new();
    att_dcap_cache_t *cache = att_dcap_cache_new(8);
    assert_non_null(cache);
    for (size_t i = 0; i < VEC_N; i++) {
        vec_t v;
        assert_int_equal(vec_load(&v, vec_names[i]), 0);
        att_dcap_collateral_t *c;
        att_diag_t d;
        assert_int_equal(att_dcap_collateral_new(&v.raw, trust, &c, &d), ATT_OK);
        att_dcap_result_t a, b, x;
        att_err_t ea = att_dcap_verify(v.quote, v.quote_len, c, trust, v.at, &a);
        att_err_t eb1 = att_dcap_verify_cached(v.quote, v.quote_len, c, trust, v.at, cache, &b);
        att_err_t eb2 = att_dcap_verify_cached(v.quote, v.quote_len, c, trust, v.at, cache, &b);
        assert_int_equal(ea, eb1);
        assert_int_equal(ea, eb2);
        assert_int_equal(a.status, b.status);
        assert_int_equal(a.n_advisories, b.n_advisories);
        assert_int_equal(a.collateral_expiry, b.collateral_expiry);
        assert_memory_equal(a.fmspc, b.fmspc, 6);
        /* On a hit, windows are still checked at the call's time. */
        att_time_t na = vec_window(&v, "not_after");
        assert_int_not_equal(att_dcap_verify_cached(v.quote, v.quote_len, c, trust, na + 1,
                                                    cache, &x), ATT_OK);
        assert_int_equal(x.diag.code, att_dcap_verify(v.quote, v.quote_len, c, trust, na + 1, &a));
        /* A tampered quote with a cached chain still fails its own signature. */
        uint8_t *q = malloc(v.quote_len);
        memcpy(q, v.quote, v.quote_len);
        q[100] ^= 1;
        assert_int_equal(att_dcap_verify_cached(q, v.quote_len, c, trust, v.at, cache, &x),
                         ATT_E_QUOTE_SIGNATURE);
        free(q);
        att_dcap_collateral_free(c);
        vec_free(&v);
    }
    uint64_t hits, misses;
    att_dcap_cache_stats(cache, &hits, &misses);
    assert_int_equal(misses, VEC_N); /* one miss per chain, then hits */
    assert_int_equal(hits, 3 * VEC_N);
    att_dcap_cache_free(cache);
    att_trust_free(trust);
}

static void test_cache_keyed_by_collateral_and_bounded(void **state)
{
    att_trust_t *trust = att_trust_new();
    att_dcap_cache_t *cache = att_dcap_cache_new(1);
    vec_t s, t;
    assert_int_equal(vec_load(&s, vec_names[0]), 0);
    assert_int_equal(vec_load(&t, vec_names[1]), 0);
    att_dcap_collateral_t *c1, *c2, *ct;
    att_diag_t d;
    assert_int_equal(att_dcap_collateral_new(&s.raw, trust, &c1, &d), ATT_OK);
    assert_int_equal(att_dcap_collateral_new(&s.raw, trust, &c2, &d), ATT_OK);
    assert_int_equal(att_dcap_collateral_new(&t.raw, trust, &ct, &d), ATT_OK);
    att_dcap_result_t r;
    uint64_t hits, misses;
    assert_int_equal(att_dcap_verify_cached(s.quote, s.quote_len, c1, trust, s.at, cache, &r), 0);
    /* Same chain, other collateral object (other CRLs possibly): a miss. */
    assert_int_equal(att_dcap_verify_cached(s.quote, s.quote_len, c2, trust, s.at, cache, &r), 0);
    att_dcap_cache_stats(cache, &hits, &misses);
    assert_int_equal(hits, 0);
    assert_int_equal(misses, 2);
    /* Capacity 1: the TDX chain evicts the SGX one. */
    assert_int_equal(att_dcap_verify_cached(t.quote, t.quote_len, ct, trust, t.at, cache, &r), 0);
    assert_int_equal(att_dcap_verify_cached(s.quote, s.quote_len, c2, trust, s.at, cache, &r), 0);
    att_dcap_cache_stats(cache, &hits, &misses);
    assert_int_equal(hits, 0);
    assert_int_equal(misses, 4);
    assert_int_equal(att_dcap_verify_cached(s.quote, s.quote_len, c2, trust, s.at, cache, &r), 0);
    att_dcap_cache_stats(cache, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_null(att_dcap_cache_new(0));
    att_dcap_cache_free(cache);
    att_dcap_collateral_free(c1);
    att_dcap_collateral_free(c2);
    att_dcap_collateral_free(ct);
    vec_free(&s);
    vec_free(&t);
    att_trust_free(trust);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_same_verdicts),
        cmocka_unit_test(test_cache_keyed_by_collateral_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
