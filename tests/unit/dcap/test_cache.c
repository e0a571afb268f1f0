/* test_cache.c - the PCK chain cache gives the same verdicts as no cache, still checks time
 * windows on a hit, is keyed by collateral and chain bytes, and evicts within its capacity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include <cmocka.h>

#include "attest/sim.h"
#include "crypto/crypto.h"
#include "dcap/dcap_internal.h"
#include "vec.h"

#define NOW_SIM ((att_time_t)1751328000)

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
        assert_int_not_equal(
            att_dcap_verify_cached(v.quote, v.quote_len, c, trust, na + 1, cache, &x), ATT_OK);
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

/* Eviction is least-recently-used: with room for two, a chain verified again just before a
 * third arrives stays, and the one not used since goes (round-robin evicted the oldest insert
 * whatever its use). Counts: hits, misses, evictions, entries at most the capacity. */
static void test_cache_lru_eviction(void **state)
{
    (void)state;
    att_trust_t *trust = att_trust_new();
    att_dcap_cache_t *cache = att_dcap_cache_new(2);
    vec_t s, t;
    assert_int_equal(vec_load(&s, vec_names[0]), 0);
    assert_int_equal(vec_load(&t, vec_names[1]), 0);
    att_dcap_collateral_t *c1, *c2, *ct;
    att_diag_t d;
    assert_int_equal(att_dcap_collateral_new(&s.raw, trust, &c1, &d), ATT_OK);
    assert_int_equal(att_dcap_collateral_new(&s.raw, trust, &c2, &d), ATT_OK);
    assert_int_equal(att_dcap_collateral_new(&t.raw, trust, &ct, &d), ATT_OK);
    att_dcap_result_t r;
    /* A = (SGX chain, c1), B = (TDX chain, ct), C = (SGX chain, c2): three distinct entries */
    assert_int_equal(att_dcap_verify_cached(s.quote, s.quote_len, c1, trust, s.at, cache, &r), 0);
    assert_int_equal(att_dcap_verify_cached(t.quote, t.quote_len, ct, trust, t.at, cache, &r), 0);
    assert_int_equal(att_dcap_verify_cached(s.quote, s.quote_len, c1, trust, s.at, cache, &r), 0);
    assert_int_equal(att_dcap_verify_cached(s.quote, s.quote_len, c2, trust, s.at, cache, &r), 0);
    att_dcap_cache_counts_t n;
    att_dcap_cache_counts(cache, &n);
    assert_int_equal(n.hits, 1);
    assert_int_equal(n.misses, 3);
    assert_int_equal(n.evictions, 1);
    assert_int_equal(n.entries, 2);
    assert_int_equal(n.capacity, 2);
    /* A was used after B: B went, A is still a hit */
    assert_int_equal(att_dcap_verify_cached(s.quote, s.quote_len, c1, trust, s.at, cache, &r), 0);
    att_dcap_cache_counts(cache, &n);
    assert_int_equal(n.hits, 2);
    assert_int_equal(att_dcap_verify_cached(t.quote, t.quote_len, ct, trust, t.at, cache, &r), 0);
    att_dcap_cache_counts(cache, &n);
    assert_int_equal(n.hits, 2);
    assert_int_equal(n.misses, 4);
    assert_int_equal(n.evictions, 2);
    assert_int_equal(n.entries, 2);
    /* The FMSPC of a cached chain answers from the cache, whatever collateral it was under. */
    uint8_t fmspc[6];
    const char *ca = NULL;
    assert_int_equal(att_dcap_quote_pck_info(&r.quote, cache, NULL, fmspc, &ca, &d), ATT_OK);
    assert_memory_equal(fmspc, r.fmspc, 6);
    att_dcap_cache_free(cache);
    att_dcap_collateral_free(c1);
    att_dcap_collateral_free(c2);
    att_dcap_collateral_free(ct);
    vec_free(&s);
    vec_free(&t);
    att_trust_free(trust);
}

/* pck_info's memo of verified PCK CAs: the first chain under a CA takes the general route (two
 * signatures: CA by root, leaf by CA); later first-seen platforms under the same CA and root
 * check only their leaf (one), with the same answers; a leaf the CA did not sign still fails
 * as without the cache; a chain under another root is not helped by the memo. */
static att_err_t pck_info_counted(const att_quote_t *q, att_dcap_cache_t *cache,
                                  const att_trust_t *trust, uint8_t fmspc[6], const char **ca,
                                  uint64_t *ecdsa, att_diag_t *d)
{
    uint64_t before = att_crypto_ecdsa_verify_count();
    att_err_t e = att_dcap_quote_pck_info(q, cache, trust, fmspc, ca, d);
    *ecdsa = att_crypto_ecdsa_verify_count() - before;
    return e;
}

static void sim_quote(att_sim_pki_t *p, uint8_t **buf, size_t *len, att_quote_t *q)
{
    att_sim_quote_opts_t qo;
    att_diag_t d;
    att_sim_quote_opts_default(&qo, ATT_TEE_SGX, 3);
    assert_int_equal(att_sim_quote_build(p, &qo, buf, len, &d), ATT_OK);
    assert_int_equal(att_quote_parse(*buf, *len, q, &d), ATT_OK);
}

static void test_pck_info_ca_memo(void **state)
{
    (void)state;
    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, NOW_SIM);
    att_sim_pki_t *a, *b;
    att_diag_t d;
    assert_int_equal(att_sim_pki_new(&po, &a, &d), ATT_OK);
    assert_int_equal(att_sim_pki_new(&po, &b, &d), ATT_OK);
    att_trust_t *trust = att_trust_new();
    att_slice_t root = att_sim_pki_cert_der(a, ATT_SIM_ROOT);
    assert_int_equal(att_trust_add_root(trust, root.ptr, root.len, &d), ATT_OK);
    att_dcap_cache_t *cache = att_dcap_cache_new(8);
    uint8_t *b1, *b2, *b3, fmspc[6];
    size_t l1, l2, l3;
    att_quote_t q1, q2, q3;
    const char *ca;
    uint64_t n;
    sim_quote(a, &b1, &l1, &q1);
    assert_int_equal(pck_info_counted(&q1, cache, trust, fmspc, &ca, &n, &d), ATT_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(fmspc, po.pck.fmspc, 6);
    assert_string_equal(ca, "processor");
    /* a second platform of the fleet, another FMSPC: its leaf only */
    att_sim_pck_ext_t ext = po.pck;
    ext.fmspc[5] = 0x42;
    ext.ppid[0] ^= 1;
    assert_int_equal(att_sim_pki_reissue_pck(a, &ext, NULL, &d), ATT_OK);
    sim_quote(a, &b2, &l2, &q2);
    assert_int_equal(pck_info_counted(&q2, cache, trust, fmspc, &ca, &n, &d), ATT_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(fmspc, ext.fmspc, 6);
    assert_string_equal(ca, "processor");
    assert_int_equal(pck_info_counted(&q2, NULL, trust, fmspc, &ca, &n, &d), ATT_OK);
    assert_int_equal(n, 2); /* without the cache: both signatures, the same answer */
    assert_memory_equal(fmspc, ext.fmspc, 6);
    /* b's leaf presented with a's CA and root: not signed by that CA, with or without memo */
    sim_quote(b, &b3, &l3, &q3);
    att_slice_t leaf = att_sim_pki_cert_pem(b, ATT_SIM_PCK),
                pca = att_sim_pki_cert_pem(a, ATT_SIM_PCK_CA),
                rpem = att_sim_pki_cert_pem(a, ATT_SIM_ROOT);
    size_t fl = leaf.len + pca.len + rpem.len;
    uint8_t *forged = malloc(fl);
    memcpy(forged, leaf.ptr, leaf.len);
    memcpy(forged + leaf.len, pca.ptr, pca.len);
    memcpy(forged + leaf.len + pca.len, rpem.ptr, rpem.len);
    q3.pck_chain.ptr = forged;
    q3.pck_chain.len = fl;
    assert_int_equal(pck_info_counted(&q3, cache, trust, fmspc, &ca, &n, &d), ATT_E_CERT_SIGNATURE);
    assert_int_equal(n, 1);
    assert_int_equal(att_dcap_quote_pck_info(&q3, NULL, trust, fmspc, &ca, &d),
                     ATT_E_CERT_SIGNATURE);
    /* b's own chain: its root is not trusted (the memo is a's CA under a's root) */
    att_quote_t q4;
    assert_int_equal(att_quote_parse(b3, l3, &q4, &d), ATT_OK);
    assert_int_equal(att_dcap_quote_pck_info(&q4, cache, trust, fmspc, &ca, &d),
                     ATT_E_CERT_UNTRUSTED_ROOT);
    free(forged);
    free(b1);
    free(b2);
    free(b3);
    att_dcap_cache_free(cache);
    att_trust_free(trust);
    att_sim_pki_free(a);
    att_sim_pki_free(b);
}

/* The QE report memo: once a chain entry's PCK key verified a QE report and signature, later
 * quotes carrying the same bytes skip that ECDSA verification (and the attestation key parse) -
 * and anything else about them is still checked: a changed QE report, signature or attestation
 * key fails exactly as without the memo. */
static att_err_t verify_counted(const uint8_t *q, size_t n, const att_dcap_collateral_t *c,
                                const att_trust_t *t, att_time_t at, att_dcap_cache_t *cache,
                                uint64_t *ecdsa)
{
    att_dcap_result_t r;
    uint64_t before = att_crypto_ecdsa_verify_count();
    att_err_t e = att_dcap_verify_cached(q, n, c, t, at, cache, &r);
    *ecdsa = att_crypto_ecdsa_verify_count() - before;
    return e;
}

static void test_qe_report_memo(void **state)
{
    att_trust_t *trust = att_trust_new();
    for (size_t i = 0; i < VEC_N; i++) {
        vec_t v;
        assert_int_equal(vec_load(&v, vec_names[i]), 0);
        att_dcap_collateral_t *c;
        att_diag_t d;
        assert_int_equal(att_dcap_collateral_new(&v.raw, trust, &c, &d), ATT_OK);
        att_dcap_cache_t *cache = att_dcap_cache_new(4);
        att_dcap_result_t plain;
        att_err_t want = att_dcap_verify(v.quote, v.quote_len, c, trust, v.at, &plain);
        uint64_t n1, n2, n3;
        assert_int_equal(verify_counted(v.quote, v.quote_len, c, trust, v.at, cache, &n1), want);
        assert_int_equal(verify_counted(v.quote, v.quote_len, c, trust, v.at, cache, &n2), want);
        assert_int_equal(verify_counted(v.quote, v.quote_len, c, trust, v.at, cache, &n3), want);
        assert_true(n1 >= 2);    /* chain certificates, QE report, quote */
        assert_int_equal(n2, 1); /* the quote's own signature only */
        assert_int_equal(n3, 1);
        /* changed bytes after the memo exists: the same errors as a fresh verifier gives */
        size_t off_rep = (size_t)(plain.quote.qe_report - v.quote);
        size_t off_sig = (size_t)(plain.quote.qe_report_sig - v.quote);
        size_t off_key = (size_t)(plain.quote.attest_key - v.quote);
        size_t flips[][2] = {{off_rep + 50, ATT_E_QE_REPORT_SIGNATURE},
                             {off_sig + 10, ATT_E_QE_REPORT_SIGNATURE},
                             {off_key + 5, ATT_E_QE_REPORT_DATA}};
        uint8_t *q = malloc(v.quote_len);
        for (size_t f = 0; f < 3; f++) {
            memcpy(q, v.quote, v.quote_len);
            q[flips[f][0]] ^= 0x01;
            att_dcap_result_t r;
            assert_int_equal(att_dcap_verify_cached(q, v.quote_len, c, trust, v.at, cache, &r),
                             (att_err_t)flips[f][1]);
            assert_int_equal(att_dcap_verify(q, v.quote_len, c, trust, v.at, &r),
                             (att_err_t)flips[f][1]);
        }
        free(q);
        att_dcap_cache_free(cache);
        att_dcap_collateral_free(c);
        vec_free(&v);
    }
    att_trust_free(trust);
}

/* Several attestation keys of one platform (its QE restarted): each is verified in full once,
 * then memoised; beyond ATT_QE_MEMOS keys every quote is simply verified in full. */
static void test_qe_report_memo_keys(void **state)
{
    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, NOW_SIM);
    att_sim_pki_t *pki;
    att_diag_t d;
    assert_int_equal(att_sim_pki_new(&po, &pki, &d), ATT_OK);
    att_sim_collateral_opts_t co;
    att_sim_collateral_opts_default(&co, pki, ATT_TEE_SGX, NOW_SIM);
    att_sim_collateral_t sc;
    assert_int_equal(att_sim_collateral_make(pki, &co, &sc, &d), ATT_OK);
    att_trust_t *trust = att_trust_new();
    assert_int_equal(att_trust_add_root(trust, sc.trust_root.ptr, sc.trust_root.len, &d), ATT_OK);
    att_dcap_collateral_raw_t raw;
    att_sim_collateral_raw(&sc, &raw);
    att_dcap_collateral_t *c;
    assert_int_equal(att_dcap_collateral_new(&raw, trust, &c, &d), ATT_OK);
    att_dcap_cache_t *cache = att_dcap_cache_new(4);
    uint8_t *quotes[ATT_QE_MEMOS + 2];
    size_t lens[ATT_QE_MEMOS + 2];
    for (size_t k = 0; k < ATT_QE_MEMOS + 2; k++) {
        uint8_t scalar[32] = {0};
        scalar[31] = (uint8_t)(k + 1); /* a different attestation key per quote */
        att_sim_quote_opts_t qo;
        att_sim_quote_opts_default(&qo, ATT_TEE_SGX, 3);
        qo.attest_key = scalar;
        assert_int_equal(att_sim_quote_build(pki, &qo, &quotes[k], &lens[k], &d), ATT_OK);
    }
    uint64_t n;
    for (size_t round = 0; round < 2; round++)
        for (size_t k = 0; k < ATT_QE_MEMOS + 2; k++) {
            assert_int_equal(verify_counted(quotes[k], lens[k], c, trust, NOW_SIM, cache, &n),
                             ATT_OK);
            if (round == 1)
                assert_int_equal(n, k < ATT_QE_MEMOS ? 1 : 2); /* memoised keys: 1 ECDSA */
        }
    for (size_t k = 0; k < ATT_QE_MEMOS + 2; k++)
        free(quotes[k]);
    att_dcap_cache_free(cache);
    att_dcap_collateral_free(c);
    att_trust_free(trust);
    att_sim_collateral_free(&sc);
    att_sim_pki_free(pki);
}

/* Many threads verifying the same platform's quotes at once through one cache: every verdict is
 * the uncached one, and the QE report memo is published once (the slots hold distinct pairs). */
typedef struct {
    const vec_t *v;
    const att_dcap_collateral_t *c;
    const att_trust_t *trust;
    att_dcap_cache_t *cache;
    att_err_t want;
    int bad;
} race_t;

static void *race_verify(void *arg)
{
    race_t *r = arg;
    for (int i = 0; i < 200; i++) {
        att_dcap_result_t res;
        if (att_dcap_verify_cached(r->v->quote, r->v->quote_len, r->c, r->trust, r->v->at, r->cache,
                                   &res) != r->want)
            __atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_cache_threads(void **state)
{
    att_trust_t *trust = att_trust_new();
    vec_t v;
    assert_int_equal(vec_load(&v, vec_names[0]), 0);
    att_dcap_collateral_t *c;
    att_diag_t d;
    assert_int_equal(att_dcap_collateral_new(&v.raw, trust, &c, &d), ATT_OK);
    att_dcap_result_t plain;
    race_t r = {.v = &v, .c = c, .trust = trust, .cache = att_dcap_cache_new(4)};
    r.want = att_dcap_verify(v.quote, v.quote_len, c, trust, v.at, &plain);
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_verify, &r), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(r.bad, 0);
    uint64_t n;
    assert_int_equal(verify_counted(v.quote, v.quote_len, c, trust, v.at, r.cache, &n), r.want);
    assert_int_equal(n, 1); /* memoised by then */
    att_dcap_cache_free(r.cache);
    att_dcap_collateral_free(c);
    vec_free(&v);
    att_trust_free(trust);
}

int main(void)
{
    VEC_REQUIRE_ALL(); /* every test here reads the real vector sets */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_same_verdicts),
        cmocka_unit_test(test_cache_keyed_by_collateral_and_bounded),
        cmocka_unit_test(test_cache_lru_eviction),
        cmocka_unit_test(test_pck_info_ca_memo),
        cmocka_unit_test(test_qe_report_memo),
        cmocka_unit_test(test_qe_report_memo_keys),
        cmocka_unit_test(test_cache_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
