/* test_ca_cache.c - the collateral's cache of verified PCK CAs (dcap_internal.h, verify.c
 * att_chain_fast): a first-seen platform's chain parses and checks only its leaf when its PCK
 * CA and root are ones the collateral verified, and no per-quote check is skipped: a leaf not
 * signed by the cached CA's key, a cached CA past its notAfter at `now`, and a revoked leaf are
 * all refused, with the cache hit counted to show the cached route judged them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/sim.h"
#include "crypto/crypto.h"
#include "dcap/dcap_internal.h"

#define NOW ((att_time_t)1751328000) /* 2025-07-01T00:00:00Z */
#define DAY (24 * 3600LL)

typedef struct {
    att_sim_pki_t *pki;
    att_sim_collateral_t sc;
    att_trust_t *trust;
    att_dcap_collateral_t *coll;
} fleet_t;

/* A hierarchy and its collateral (made once, as the server caches it per FMSPC). */
static void fleet_init(fleet_t *f, const att_sim_pki_opts_t *po,
                       void (*tweak)(att_sim_collateral_opts_t *co, void *arg), void *arg,
                       bool pck_crl_chain)
{
    att_diag_t d;
    memset(f, 0, sizeof *f);
    assert_int_equal(att_sim_pki_new(po, &f->pki, &d), ATT_OK);
    att_sim_collateral_opts_t co;
    att_sim_collateral_opts_default(&co, f->pki, ATT_TEE_SGX, NOW);
    if (tweak != NULL)
        tweak(&co, arg);
    assert_int_equal(att_sim_collateral_make(f->pki, &co, &f->sc, &d), ATT_OK);
    if (!pck_crl_chain) {
        free(f->sc.pck_crl_chain.ptr);
        f->sc.pck_crl_chain.ptr = NULL;
        f->sc.pck_crl_chain.len = 0;
    }
    f->trust = att_trust_new();
    assert_non_null(f->trust);
    assert_int_equal(att_trust_add_root(f->trust, f->sc.trust_root.ptr, f->sc.trust_root.len, &d),
                     ATT_OK);
    att_dcap_collateral_raw_t raw;
    att_sim_collateral_raw(&f->sc, &raw);
    assert_int_equal(att_dcap_collateral_new(&raw, f->trust, &f->coll, &d), ATT_OK);
}

static void fleet_free(fleet_t *f)
{
    att_dcap_collateral_free(f->coll);
    att_trust_free(f->trust);
    att_sim_collateral_free(&f->sc);
    att_sim_pki_free(f->pki);
}

/* A quote of the hierarchy's current leaf (a new platform after att_sim_pki_reissue_pck). */
static uint8_t *fleet_quote(fleet_t *f, size_t *len)
{
    att_sim_quote_opts_t qo;
    att_sim_quote_opts_default(&qo, ATT_TEE_SGX, 3);
    qo.pem_nul = true;
    uint8_t *q;
    att_diag_t d;
    assert_int_equal(att_sim_quote_build(f->pki, &qo, &q, len, &d), ATT_OK);
    return q;
}

static void new_platform(fleet_t *f)
{
    att_sim_pck_ext_t ext = att_sim_pki_opts(f->pki)->pck;
    ext.ppid[0] ^= 0x5a; /* another platform */
    att_diag_t d;
    assert_int_equal(att_sim_pki_reissue_pck(f->pki, &ext, NULL, &d), ATT_OK);
}

/* Verify and return the code; *hit tells whether the CA cache answered this verification. */
static att_err_t fleet_verify(fleet_t *f, const uint8_t *q, size_t len, att_time_t now, bool *hit,
                              att_dcap_result_t *res)
{
    uint64_t h0, m0, h1, m1;
    size_t n;
    att_dcap_ca_cache_stats(f->coll, &h0, &m0, &n);
    att_err_t e = att_dcap_verify(q, len, f->coll, f->trust, now, res);
    att_dcap_ca_cache_stats(f->coll, &h1, &m1, &n);
    *hit = h1 == h0 + 1;
    if (e != ATT_OK)
        print_message("      %s: %s\n", att_err_name(e), res->diag.msg);
    return e;
}

static att_dcap_result_t res;

/* New platforms under the collateral's PCK CA: every one through the cache, each accepted with
 * the values of its own leaf. */
static void test_new_platforms_use_cached_ca(void **state)
{
    (void)state;
    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, NOW);
    fleet_t f;
    fleet_init(&f, &po, NULL, NULL, true);
    uint64_t h, m;
    size_t n;
    att_dcap_ca_cache_stats(f.coll, &h, &m, &n);
    assert_int_equal(n, 1); /* the CA of the PCK CRL issuer chain, verified with the collateral */
    for (int i = 0; i < 3; i++) {
        size_t len;
        uint8_t *q = fleet_quote(&f, &len);
        bool hit;
        assert_int_equal(fleet_verify(&f, q, len, NOW, &hit, &res), ATT_OK);
        assert_true(hit);
        assert_memory_equal(res.fmspc, att_sim_pki_opts(f.pki)->pck.fmspc, 6);
        free(q);
        new_platform(&f);
    }
    att_dcap_ca_cache_stats(f.coll, &h, &m, &n);
    assert_int_equal(n, 1);
    fleet_free(&f);
}

/* Without a PCK CRL issuer chain the quote's CA is verified in full (the PCK CRL signature
 * with it included) the first time, then cached for the next platforms. */
static void test_ca_cached_after_full_check(void **state)
{
    (void)state;
    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, NOW);
    fleet_t f;
    fleet_init(&f, &po, NULL, NULL, false);
    uint64_t h, m;
    size_t n;
    att_dcap_ca_cache_stats(f.coll, &h, &m, &n);
    assert_int_equal(n, 0);
    size_t len;
    uint8_t *q = fleet_quote(&f, &len);
    bool hit;
    assert_int_equal(fleet_verify(&f, q, len, NOW, &hit, &res), ATT_OK);
    assert_false(hit);
    att_dcap_ca_cache_stats(f.coll, &h, &m, &n);
    assert_int_equal(n, 1);
    free(q);
    new_platform(&f);
    q = fleet_quote(&f, &len);
    assert_int_equal(fleet_verify(&f, q, len, NOW, &hit, &res), ATT_OK);
    assert_true(hit);
    free(q);
    fleet_free(&f);
}

/* Replace the first certificate of the quote's PCK chain with `pem` (SGX v3: the signature
 * data length at 432, the certification data size just before the chain). */
static uint8_t *splice_leaf(const uint8_t *q, size_t len, const char *pem, size_t *out_len)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
    const uint8_t *chain = NULL, *after = NULL;
    for (size_t i = 0; i + sizeof begin < len && chain == NULL; i++)
        if (memcmp(q + i, begin, sizeof begin - 1) == 0)
            chain = q + i;
    assert_non_null(chain);
    for (const uint8_t *p = chain; p + sizeof end < q + len && after == NULL; p++)
        if (memcmp(p, end, sizeof end - 1) == 0)
            after = p + sizeof end - 1;
    assert_non_null(after);
    while (*after == '\n')
        after++;
    size_t head = (size_t)(chain - q), plen = strlen(pem), rest = (size_t)(q + len - after);
    uint8_t *nq = malloc(head + plen + rest);
    assert_non_null(nq);
    memcpy(nq, q, head);
    memcpy(nq + head, pem, plen);
    memcpy(nq + head + plen, after, rest);
    size_t new_len = head + plen + rest;
    uint32_t cert_size = (uint32_t)(plen + rest), sig_len;
    for (int i = 0; i < 4; i++)
        nq[head - 4 + i] = (uint8_t)(cert_size >> (8 * i));
    memcpy(&sig_len, q + 432, 4); /* little-endian host, as the quote */
    sig_len = (uint32_t)(sig_len + new_len - len);
    memcpy(nq + 432, &sig_len, 4);
    *out_len = new_len;
    return nq;
}

/* The platform's own leaf, every byte Intel would sign the same, signed by another key: the
 * chain's CA and root are the cached ones, the leaf's signature does not verify with the CA. */
static void test_leaf_signed_by_another_key(void **state)
{
    (void)state;
    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, NOW);
    fleet_t f;
    fleet_init(&f, &po, NULL, NULL, true);
    size_t len, nlen;
    uint8_t *q = fleet_quote(&f, &len);
    bool hit;
    assert_int_equal(fleet_verify(&f, q, len, NOW, &hit, &res), ATT_OK);

    att_slice_t der = att_sim_pki_cert_der(f.pki, ATT_SIM_PCK);
    const unsigned char *p = der.ptr;
    X509 *leaf = d2i_X509(NULL, &p, (long)der.len);
    assert_non_null(leaf);
    EVP_PKEY *other = EVP_EC_gen("P-256");
    assert_non_null(other);
    assert_true(X509_sign(leaf, other, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(b, leaf), 1);
    assert_int_equal(BIO_write(b, "", 1), 1); /* NUL-terminate */
    char *pem;
    BIO_get_mem_data(b, &pem);
    uint8_t *bad = splice_leaf(q, len, pem, &nlen);
    assert_int_equal(fleet_verify(&f, bad, nlen, NOW, &hit, &res), ATT_E_CERT_SIGNATURE);
    assert_true(hit);
    assert_non_null(strstr(res.diag.msg, "PCK certificate signature does not verify"));
    /* the splice itself is sound: the genuine leaf spliced back verifies */
    free(bad);
    bad = splice_leaf(q, len, (const char *)att_sim_pki_cert_pem(f.pki, ATT_SIM_PCK).ptr, &nlen);
    assert_int_equal(fleet_verify(&f, bad, nlen, NOW, &hit, &res), ATT_OK);
    assert_true(hit);
    free(bad);
    BIO_free(b);
    EVP_PKEY_free(other);
    X509_free(leaf);
    free(q);
    fleet_free(&f);
}

/* A CA cached at one time is still refused once past its notAfter, for its first platform and
 * for a new one; the cache keeps no verdict about time. */
static void test_cached_ca_expires(void **state)
{
    (void)state;
    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, NOW);
    po.cert[ATT_SIM_PCK_CA].not_after = NOW + 10 * DAY;
    po.cert[ATT_SIM_PCK].not_after = NOW + 60 * DAY; /* the leaf outlives its CA */
    fleet_t f;
    fleet_init(&f, &po, NULL, NULL, true);
    size_t len;
    uint8_t *q = fleet_quote(&f, &len);
    bool hit;
    assert_int_equal(fleet_verify(&f, q, len, NOW, &hit, &res), ATT_OK);
    assert_true(hit);
    assert_int_equal(fleet_verify(&f, q, len, NOW + 20 * DAY, &hit, &res), ATT_E_CERT_EXPIRED);
    assert_true(hit);
    assert_non_null(strstr(res.diag.msg, "PCK CA certificate expired"));
    free(q);
    att_sim_pck_ext_t ext = att_sim_pki_opts(f.pki)->pck;
    ext.ppid[0] ^= 0x5a;
    att_sim_cert_opts_t co = {NOW - DAY, NOW + 60 * DAY, {{0}, 0}};
    att_diag_t d;
    assert_int_equal(att_sim_pki_reissue_pck(f.pki, &ext, &co, &d), ATT_OK);
    q = fleet_quote(&f, &len);
    assert_int_equal(fleet_verify(&f, q, len, NOW + 20 * DAY, &hit, &res), ATT_E_CERT_EXPIRED);
    assert_true(hit);
    assert_int_equal(fleet_verify(&f, q, len, NOW, &hit, &res), ATT_OK);
    free(q);
    fleet_free(&f);
}

static const att_sim_serial_t revoked_serial = {{0x7e, 0x01, 0x02, 0x03, 0x04}, 5};

static void revoke_one(att_sim_collateral_opts_t *co, void *arg)
{
    (void)arg;
    co->pck_crl.revoked = &revoked_serial;
    co->pck_crl.n_revoked = 1;
}

/* A revoked leaf under a cached CA is refused; the platforms beside it are not. */
static void test_revoked_leaf_under_cached_ca(void **state)
{
    (void)state;
    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, NOW);
    fleet_t f;
    fleet_init(&f, &po, revoke_one, NULL, true);
    size_t len;
    uint8_t *q = fleet_quote(&f, &len);
    bool hit;
    assert_int_equal(fleet_verify(&f, q, len, NOW, &hit, &res), ATT_OK);
    free(q);
    att_sim_pck_ext_t ext = att_sim_pki_opts(f.pki)->pck;
    ext.ppid[0] ^= 0x5a;
    att_sim_cert_opts_t co = {NOW - DAY, NOW + 7 * DAY, revoked_serial};
    att_diag_t d;
    assert_int_equal(att_sim_pki_reissue_pck(f.pki, &ext, &co, &d), ATT_OK);
    q = fleet_quote(&f, &len);
    assert_int_equal(fleet_verify(&f, q, len, NOW, &hit, &res), ATT_E_CERT_REVOKED);
    assert_true(hit);
    assert_non_null(strstr(res.diag.msg, "is revoked by the PCK CRL"));
    free(q);
    new_platform(&f);
    q = fleet_quote(&f, &len);
    assert_int_equal(fleet_verify(&f, q, len, NOW, &hit, &res), ATT_OK);
    free(q);
    fleet_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_platforms_use_cached_ca),
        cmocka_unit_test(test_ca_cached_after_full_check),
        cmocka_unit_test(test_leaf_signed_by_another_key),
        cmocka_unit_test(test_cached_ca_expires),
        cmocka_unit_test(test_revoked_leaf_under_cached_ca),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
