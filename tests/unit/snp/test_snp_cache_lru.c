/* test_snp_cache_lru.c - the SEV-SNP certificate cache (att_snp_cache_t, --cache-snp-vcek) on a
 * simulated fleet: least recently used VCEK evicted first (a chip verified just before a newcomer
 * keeps its entry), hits, misses and evictions counted, the entry count never over the capacity
 * with 10x as many chips, and every verdict the same as without the cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/sim.h"
#include "attest/snp.h"
#include "attest/trust.h"

#define T0 1735689600 /* 2025-01-01T00:00:00Z */

typedef struct {
    att_sim_snp_t *s;
    att_trust_t *t;
    uint64_t tcb;
} fleet_t;

static void fleet_new(fleet_t *f, size_t n_chips)
{
    att_sim_snp_opts_t o;
    att_sim_snp_opts_default(&o, ATT_SNP_MILAN, T0);
    o.rsa_bits = 2048;
    o.n_chips = n_chips;
    att_diag_t d;
    if (att_sim_snp_new(&o, &f->s, &d) != ATT_OK)
        fail_msg("att_sim_snp_new: %s", d.msg);
    f->t = att_trust_new_empty();
    att_slice_t ark = att_sim_snp_cert_der(f->s, ATT_SIM_SNP_ARK);
    assert_int_equal(att_trust_add_root(f->t, ark.ptr, ark.len, &d), ATT_OK);
    f->tcb = att_sim_snp_opts(f->s)->tcb;
}

/* A report of chip i verified with its VCEK and chain through cache (may be NULL). */
static att_err_t verify_chip(fleet_t *f, size_t chip, att_snp_cache_t *cache)
{
    static att_snp_result_t res;
    att_sim_snp_report_opts_t ro;
    att_sim_snp_report_opts_default(f->s, &ro, chip, 3);
    uint8_t rep[ATT_SNP_REPORT_LEN];
    att_slice_t leaf;
    att_sim_buf_t chain;
    att_diag_t d;
    assert_int_equal(att_sim_snp_report(f->s, &ro, rep, &d), ATT_OK);
    assert_int_equal(att_sim_snp_leaf(f->s, ATT_SNP_KEY_VCEK, chip, f->tcb, &leaf, &d), ATT_OK);
    assert_int_equal(att_sim_snp_cert_chain(f->s, ATT_SNP_KEY_VCEK, &chain, &d), ATT_OK);
    att_snp_input_t in = {.report = rep,
                          .report_len = ATT_SNP_REPORT_LEN,
                          .vcek = leaf.ptr,
                          .vcek_len = leaf.len,
                          .chain = chain.ptr,
                          .chain_len = chain.len,
                          .trust = f->t,
                          .now = T0};
    att_err_t e = att_snp_verify(&in, cache, &res);
    free(chain.ptr);
    return e;
}

static void test_lru_order_and_counts(void **state)
{
    (void)state;
    fleet_t f;
    fleet_new(&f, 3);
    att_snp_cache_t *c = att_snp_cache_new(2);
    assert_non_null(c);
    for (size_t i = 0; i < 3; i++) /* 0, 1, 2: the third evicts chip 0 */
        assert_int_equal(verify_chip(&f, i, c), ATT_OK);
    att_snp_cache_counts_t n;
    att_snp_cache_counts(c, &n);
    assert_int_equal(n.hits, 0);
    assert_int_equal(n.misses, 3);
    assert_int_equal(n.evictions, 1);
    assert_int_equal(n.entries, 2);
    assert_int_equal(n.capacity, 2);
    assert_int_equal(verify_chip(&f, 1, c), ATT_OK); /* hit: chip 2 is now the oldest */
    assert_int_equal(verify_chip(&f, 0, c), ATT_OK); /* miss: evicts 2, keeps 1 */
    assert_int_equal(verify_chip(&f, 1, c), ATT_OK); /* hit (round-robin evicted it) */
    att_snp_cache_counts(c, &n);
    assert_int_equal(n.hits, 2);
    assert_int_equal(n.misses, 4);
    assert_int_equal(n.evictions, 2);
    uint64_t hits, misses;
    att_snp_cache_stats(c, &hits, &misses);
    assert_int_equal(hits, 2);
    assert_int_equal(misses, 4);
    att_snp_cache_free(c);
    att_trust_free(f.t);
    att_sim_snp_free(f.s);
}

static void test_bound_under_10x(void **state)
{
    (void)state;
    enum { CAP = 2, CHIPS = 10 * CAP };
    fleet_t f;
    fleet_new(&f, CHIPS);
    att_snp_cache_t *c = att_snp_cache_new(CAP);
    att_snp_cache_counts_t n;
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < CHIPS; i++) {
            assert_int_equal(verify_chip(&f, i, c), verify_chip(&f, i, NULL));
            att_snp_cache_counts(c, &n);
            assert_true(n.entries <= CAP);
        }
    att_snp_cache_counts(c, &n);
    assert_int_equal(n.misses, 2 * CHIPS); /* cycling 10x the capacity: every lookup misses */
    assert_int_equal(n.evictions, 2 * CHIPS - CAP);
    att_snp_cache_free(c);
    att_trust_free(f.t);
    att_sim_snp_free(f.s);
}

/* A report of chip i verified with the chain as a THIM bundle carries it: the chip's VCEK first,
 * then the ASK and ARK, and no separate VCEK. */
static att_err_t verify_bundle(fleet_t *f, size_t chip, size_t leaf_chip, att_snp_cache_t *cache)
{
    static att_snp_result_t res;
    att_sim_snp_report_opts_t ro;
    att_sim_snp_report_opts_default(f->s, &ro, chip, 3);
    uint8_t rep[ATT_SNP_REPORT_LEN];
    att_slice_t leaf;
    att_sim_buf_t chain;
    att_diag_t d;
    assert_int_equal(att_sim_snp_report(f->s, &ro, rep, &d), ATT_OK);
    assert_int_equal(att_sim_snp_leaf(f->s, ATT_SNP_KEY_VCEK, leaf_chip, f->tcb, &leaf, &d),
                     ATT_OK);
    assert_int_equal(att_sim_snp_cert_chain(f->s, ATT_SNP_KEY_VCEK, &chain, &d), ATT_OK);
    const unsigned char *p = leaf.ptr;
    X509 *x = d2i_X509(NULL, &p, (long)leaf.len);
    BIO *b = BIO_new(BIO_s_mem());
    assert_non_null(x);
    assert_non_null(b);
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    assert_true(BIO_write(b, chain.ptr, (int)chain.len) == (int)chain.len);
    char *text;
    long tl = BIO_get_mem_data(b, &text);
    att_snp_input_t in = {.report = rep,
                          .report_len = ATT_SNP_REPORT_LEN,
                          .chain = (const uint8_t *)text,
                          .chain_len = (size_t)tl,
                          .trust = f->t,
                          .now = T0};
    att_err_t e = att_snp_verify(&in, cache, &res);
    BIO_free(b);
    X509_free(x);
    free(chain.ptr);
    return e;
}

/* Chains that start with their chip's VCEK (THIM bundles) share one verified ASK and ARK: with
 * more chips than the intermediates the cache keeps (16), every chip verified again is a hit.
 * (The intermediates were keyed by the whole chain, leaf included: each chip took one of the 16
 * slots, and past 16 chips every request verified the ASK and the VCEK again.) */
static void test_bundles_share_the_intermediate(void **state)
{
    (void)state;
    enum { CHIPS = 20 };
    fleet_t f;
    fleet_new(&f, CHIPS);
    att_snp_cache_t *c = att_snp_cache_new(64);
    for (size_t i = 0; i < CHIPS; i++)
        assert_int_equal(verify_bundle(&f, i, i, c), ATT_OK);
    att_snp_cache_counts_t n;
    att_snp_cache_counts(c, &n);
    assert_int_equal(n.misses, CHIPS);
    assert_int_equal(n.hits, 0);
    for (size_t i = 0; i < CHIPS; i++)
        assert_int_equal(verify_bundle(&f, i, i, c), ATT_OK);
    att_snp_cache_counts(c, &n);
    assert_int_equal(n.hits, CHIPS);
    assert_int_equal(n.misses, CHIPS);
    assert_int_equal(n.entries, CHIPS);
    /* a bundle whose leaf is another chip's VCEK (cached) fails as it does without the cache */
    att_err_t e = verify_bundle(&f, 0, 1, c);
    assert_int_not_equal(e, ATT_OK);
    assert_int_equal(e, verify_bundle(&f, 0, 1, NULL));
    att_snp_cache_free(c);
    att_trust_free(f.t);
    att_sim_snp_free(f.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru_order_and_counts),
        cmocka_unit_test(test_bound_under_10x),
        cmocka_unit_test(test_bundles_share_the_intermediate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
