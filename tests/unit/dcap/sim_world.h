/* sim_world.h - a simulated DCAP world for verifier tests (attest/sim.h): build collateral and a
 * quote from options, verify them with the real verifier, and report the first error. Each test
 * changes one thing in an otherwise valid world. Included by the cmocka tests of this folder. */
#ifndef ATT_TEST_SIM_WORLD_H
#define ATT_TEST_SIM_WORLD_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/dcap.h"
#include "attest/sim.h"

#define NOW ((att_time_t)1751328000) /* 2025-07-01T00:00:00Z */
#define DAY (24 * 3600LL)

/* ---- a simulated world -------------------------------------------------------------------- */

typedef struct {
    att_sim_pki_t *pki;       /* issues collateral and (unless quote_pki) the quote */
    att_sim_pki_t *quote_pki; /* optional: the quote's PCK chain comes from here */
    att_sim_collateral_opts_t co;
    att_sim_quote_opts_t qo;
    att_time_t now;
    bool untrusted;        /* do not add the simulated root to the trust set */
    bool pem_crls;         /* serve both CRLs as PEM instead of DER */
    bool no_pck_crl_chain; /* serve no PCK CRL issuer chain (the quote's is used) */
    size_t trailing;       /* zero bytes appended after the quote */
    void (*tamper)(uint8_t *quote, size_t len); /* change the built quote */
    att_sim_serial_t revoked[2]; /* world_revoke's entries: [0] PCK CRL, [1] root CA CRL */
    /* filled by world_verify */
    att_err_t coll_err;   /* from att_dcap_collateral_new */
    att_err_t verify_err; /* from att_dcap_verify (if collateral was made) */
    att_diag_t diag;
    att_dcap_result_t res;
} world_t;

static inline void world_init(world_t *w, att_tee_t tee, uint16_t version)
{
    memset(w, 0, sizeof *w);
    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, tee == ATT_TEE_TDX ? ATT_SIM_CA_PLATFORM : ATT_SIM_CA_PROCESSOR,
                             NOW);
    att_diag_t d;
    assert_int_equal(att_sim_pki_new(&po, &w->pki, &d), ATT_OK);
    att_sim_collateral_opts_default(&w->co, w->pki, tee, NOW);
    att_sim_quote_opts_default(&w->qo, tee, version);
    w->now = NOW;
}

static inline void world_free(world_t *w)
{
    att_sim_pki_free(w->pki);
    att_sim_pki_free(w->quote_pki);
}

/* Two levels, the second a copy of the first, in a level list of w->co (tcb_info, one of its
 * module_ids, qe_identity); the test then changes one of the two. */
#define two_levels(list)                                                                           \
    do {                                                                                           \
        (list)->n_levels = 2;                                                                      \
        (list)->levels[1] = (list)->levels[0];                                                     \
    } while (0)

/* Put certificate `which` of w->pki on the CRL that covers it, as its one entry: the PCK leaf on
 * the PCK CRL, the PCK CA or the TCB signer on the root CA CRL. Returns that CRL's options (to
 * set a reason, say). */
static inline att_sim_crl_opts_t *world_revoke(world_t *w, att_sim_cert_t which)
{
    bool leaf = which == ATT_SIM_PCK;
    att_sim_crl_opts_t *crl = leaf ? &w->co.pck_crl : &w->co.root_ca_crl;
    w->revoked[leaf ? 0 : 1] = att_sim_pki_serial(w->pki, which);
    crl->revoked = &w->revoked[leaf ? 0 : 1];
    crl->n_revoked = 1;
    return crl;
}

/* TD 1.5 relaunch (Intel TDRelaunchCheck): module TDX_01 levels isvsvn 5 UpToDate, isvsvn 3
 * OutOfDate; the TD launched under module SVN 3 (tee_tcb_svn) and now runs under SVN 5
 * (tee_tcb_svn2). */
static inline void relaunch_world(world_t *w, uint16_t version)
{
    world_init(w, ATT_TEE_TDX, version);
    att_sim_tdx_module_id_t *m = &w->co.tcb_info.module_ids[0];
    two_levels(m);
    m->levels[0].isvsvn = 5;
    m->levels[1].st.status = "OutOfDate";
    w->qo.td.tee_tcb_svn2[0] = 5;
}

/* DER CRL -> PEM CRL, in place. */
static inline void crl_to_pem(att_sim_buf_t *b)
{
    const unsigned char *p = b->ptr;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)b->len);
    assert_non_null(crl);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509_CRL(bio, crl), 1);
    char *mem;
    long n = BIO_get_mem_data(bio, &mem);
    uint8_t *nb = malloc((size_t)n);
    memcpy(nb, mem, (size_t)n);
    free(b->ptr);
    b->ptr = nb;
    b->len = (size_t)n;
    BIO_free(bio);
    X509_CRL_free(crl);
}

/* Build collateral and quote, verify; returns the first error (collateral, then quote). */
static inline att_err_t world_verify(world_t *w)
{
    att_diag_t d;
    att_sim_collateral_t c;
    uint8_t *quote;
    size_t qlen;
    assert_int_equal(att_sim_collateral_make(w->pki, &w->co, &c, &d), ATT_OK);
    assert_int_equal(
        att_sim_quote_build(w->quote_pki ? w->quote_pki : w->pki, &w->qo, &quote, &qlen, &d),
        ATT_OK);
    if (w->trailing > 0) {
        uint8_t *nq = realloc(quote, qlen + w->trailing);
        assert_non_null(nq);
        memset(nq + qlen, 0, w->trailing);
        quote = nq;
        qlen += w->trailing;
    }
    if (w->tamper != NULL)
        w->tamper(quote, qlen);
    if (w->pem_crls) {
        crl_to_pem(&c.pck_crl);
        crl_to_pem(&c.root_ca_crl);
    }
    if (w->no_pck_crl_chain) {
        free(c.pck_crl_chain.ptr);
        c.pck_crl_chain.ptr = NULL;
        c.pck_crl_chain.len = 0;
    }
    att_trust_t *trust = att_trust_new();
    assert_non_null(trust);
    if (!w->untrusted)
        assert_int_equal(att_trust_add_root(trust, c.trust_root.ptr, c.trust_root.len, &d), ATT_OK);
    att_dcap_collateral_raw_t raw;
    att_sim_collateral_raw(&c, &raw);
    att_dcap_collateral_t *coll = NULL;
    memset(&w->diag, 0, sizeof w->diag);
    memset(&w->res, 0, sizeof w->res);
    w->coll_err = att_dcap_collateral_new(&raw, trust, &coll, &w->diag);
    w->verify_err = ATT_OK;
    att_err_t e = w->coll_err;
    if (e == ATT_OK) {
        w->verify_err = att_dcap_verify(quote, qlen, coll, trust, w->now, &w->res);
        w->diag = w->res.diag;
        e = w->verify_err;
        assert_int_equal(w->res.accepted, e == ATT_OK);
    }
    if (e != ATT_OK)
        print_message("      [%s] %s: %s\n", e == w->coll_err ? "collateral" : "verify",
                      att_err_name(e), w->diag.msg);
    att_dcap_collateral_free(coll);
    att_trust_free(trust);
    free(quote);
    att_sim_collateral_free(&c);
    return e;
}

#define assert_verdict(w, code)                                                                    \
    do {                                                                                           \
        att_err_t got_ = world_verify(w);                                                          \
        if (got_ != (code))                                                                        \
            fail_msg("expected %s, got %s: %s", att_err_name(code), att_err_name(got_),            \
                     (w)->diag.msg);                                                               \
    } while (0)

#define assert_verdict2(w, a, b)                                                                   \
    do {                                                                                           \
        att_err_t got_ = world_verify(w);                                                          \
        if (got_ != (a) && got_ != (b))                                                            \
            fail_msg("expected %s or %s, got %s: %s", att_err_name(a), att_err_name(b),            \
                     att_err_name(got_), (w)->diag.msg);                                           \
    } while (0)

static inline bool has_advisory(const att_dcap_result_t *r, const char *id)
{
    for (size_t i = 0; i < r->n_advisories; i++)
        if (strcmp(r->advisory_ids[i], id) == 0)
            return true;
    return false;
}

#endif
