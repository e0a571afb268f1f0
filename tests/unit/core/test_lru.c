/* test_lru.c - the LRU map behind the evidence caches: least recently used goes first, a get
 * refreshes, the entry count never passes the capacity whatever the number of distinct keys,
 * and hits, misses and evictions count exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/lru.h"
#include "crypto/crypto.h"

static size_t g_dropped;

static void drop(void *v)
{
    (void)v;
    g_dropped++;
}

/* Key i: SHA-256 of its decimal text, as the caches key attacker bytes. */
static void key(size_t i, uint8_t k[32])
{
    char s[32];
    int n = snprintf(s, sizeof s, "%zu", i);
    assert_true(att_sha256_2((const uint8_t *)s, (size_t)n, NULL, 0, k));
}

static void *val(size_t i)
{
    return (void *)(uintptr_t)(i + 1);
}

static void test_eviction_order(void **state)
{
    (void)state;
    att_lru_t *l = att_lru_new(3);
    assert_non_null(l);
    uint8_t k[32];
    for (size_t i = 0; i < 3; i++) {
        key(i, k);
        assert_null(att_lru_put(l, k, 0, val(i)));
    }
    key(0, k);
    assert_ptr_equal(att_lru_get(l, k, 0), val(0)); /* 0 is now the most recent: 1 is oldest */
    key(3, k);
    assert_ptr_equal(att_lru_put(l, k, 0, val(3)), val(1));
    key(4, k);
    assert_ptr_equal(att_lru_put(l, k, 0, val(4)), val(2));
    key(1, k);
    assert_null(att_lru_get(l, k, 0));
    key(0, k);
    assert_ptr_equal(att_lru_get(l, k, 0), val(0));
    key(5, k); /* 0 was just used: 3 goes */
    assert_ptr_equal(att_lru_put(l, k, 0, val(5)), val(3));
    att_lru_stats_t st;
    att_lru_stats(l, &st);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.evictions, 3);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.capacity, 3);
    g_dropped = 0;
    att_lru_free(l, drop);
    assert_int_equal(g_dropped, 3);
    assert_null(att_lru_new(0));
}

/* Tags make distinct entries; the same key and tag again replaces (no eviction, returns the old
 * value); peek_any finds a digest under any tag without counting or reordering. */
static void test_tags_replace_peek(void **state)
{
    (void)state;
    att_lru_t *l = att_lru_new(2);
    uint8_t k[32], other[32];
    key(7, k);
    key(8, other);
    assert_null(att_lru_put(l, k, 1, val(10)));
    assert_null(att_lru_put(l, k, 2, val(20)));
    assert_ptr_equal(att_lru_get(l, k, 1), val(10));
    assert_ptr_equal(att_lru_get(l, k, 2), val(20));
    assert_null(att_lru_get(l, k, 3));
    assert_ptr_equal(att_lru_put(l, k, 2, val(21)), val(20)); /* replaced, not evicted */
    assert_non_null(att_lru_peek_any(l, k));
    assert_null(att_lru_peek_any(l, other));
    att_lru_stats_t st;
    att_lru_stats(l, &st);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.evictions, 0);
    assert_int_equal(st.entries, 2);
    /* peek did not refresh: (k,1) was used before (k,2) was replaced, so it goes first */
    assert_ptr_equal(att_lru_put(l, other, 0, val(30)), val(10));
    att_lru_free(l, NULL);
}

/* remove takes one entry out (its value back, not an eviction); the freed room takes a new key
 * without evicting. */
static void test_remove(void **state)
{
    (void)state;
    att_lru_t *l = att_lru_new(2);
    uint8_t a[32], b[32], c[32];
    key(1, a);
    key(2, b);
    key(3, c);
    assert_null(att_lru_put(l, a, 0, val(1)));
    assert_null(att_lru_put(l, b, 0, val(2)));
    assert_null(att_lru_remove(l, a, 9)); /* other tag: not there */
    assert_ptr_equal(att_lru_remove(l, a, 0), val(1));
    assert_null(att_lru_get(l, a, 0));
    assert_null(att_lru_put(l, c, 0, val(3))); /* room: nothing evicted */
    assert_ptr_equal(att_lru_get(l, b, 0), val(2));
    att_lru_stats_t st;
    att_lru_stats(l, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.evictions, 0);
    att_lru_free(l, NULL);
}

/* 10x the capacity in distinct keys, in rounds: the map never holds more than its capacity,
 * every insert past it evicts exactly one, and the last `cap` keys are exactly the ones held. */
static void test_bound_under_10x(void **state)
{
    (void)state;
    const size_t cap = 1000, n = 10 * cap;
    att_lru_t *l = att_lru_new(cap);
    uint8_t k[32];
    att_lru_stats_t st;
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < n; i++) {
            key(i, k);
            if (att_lru_get(l, k, 0) == NULL)
                assert_true(att_lru_put(l, k, 0, val(i)) == NULL || i >= cap || round > 0);
            att_lru_stats(l, &st);
            assert_true(st.entries <= cap);
        }
    att_lru_stats(l, &st);
    assert_int_equal(st.entries, cap);
    assert_int_equal(st.hits, 0); /* cycling 10x the capacity: every lookup misses */
    assert_int_equal(st.misses, 2 * n);
    assert_int_equal(st.evictions, 2 * n - cap);
    for (size_t i = n - cap; i < n; i++) {
        key(i, k);
        assert_ptr_equal(att_lru_get(l, k, 0), val(i));
    }
    key(n - cap - 1, k);
    assert_null(att_lru_get(l, k, 0));
    g_dropped = 0;
    att_lru_free(l, drop);
    assert_int_equal(g_dropped, cap);
    assert_true(att_lru_bytes(cap) < cap * 128);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eviction_order),
        cmocka_unit_test(test_tags_replace_peek),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_bound_under_10x),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
