/* test_revocation.c - the DCAP verifier against the simulated hierarchy (attest/sim.h):
 * revocation (PCK leaf, intermediate, TCB signer), CRL validity and issuers, untrusted roots,
 * TCB level selection and every status, QE identity match and QE TCB convergence, TDX module
 * identities. Each case changes one thing in an otherwise valid world. */
#include <unistd.h>

#include "sim_world.h"

/* ---- accepted quotes ------------------------------------------------------------------------- */

static void test_sgx_v3_accepted(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    memcpy(w.qo.sgx.report_data, "attestd nonce", 13);
    w.qo.sgx.isvsvn = 4;
    w.co.pck_crl.next_update = NOW + 10 * DAY; /* the earliest expiry */
    assert_verdict(&w, ATT_OK);
    const att_dcap_result_t *r = &w.res;
    assert_true(r->accepted);
    assert_int_equal(r->status, ATT_TCB_UP_TO_DATE);
    assert_int_equal(r->platform_status, ATT_TCB_UP_TO_DATE);
    assert_int_equal(r->qe_status, ATT_TCB_UP_TO_DATE);
    assert_int_equal(r->n_advisories, 0);
    assert_int_equal(r->tee, ATT_TEE_SGX);
    assert_int_equal(r->collateral_expiry, NOW + 10 * DAY);
    const att_sim_pki_opts_t *po = att_sim_pki_opts(w.pki);
    assert_memory_equal(r->fmspc, po->pck.fmspc, 6);
    assert_memory_equal(r->pceid, po->pck.pceid, 2);
    assert_int_equal(r->pcesvn, po->pck.pcesvn);
    assert_memory_equal(r->pck_comp_svn, po->pck.comp_svn, 16);
    assert_int_equal(r->quote.version, 3);
    assert_int_equal(r->quote.body_type, ATT_BODY_SGX);
    assert_memory_equal(r->quote.sgx.mrenclave, w.qo.sgx.mrenclave, 32);
    assert_memory_equal(r->quote.sgx.mrsigner, w.qo.sgx.mrsigner, 32);
    assert_memory_equal(r->quote.sgx.report_data, w.qo.sgx.report_data, 64);
    assert_memory_equal(r->quote.sgx.attributes, w.qo.sgx.attributes, 16);
    assert_int_equal(r->quote.sgx.isvprodid, 1);
    assert_int_equal(r->quote.sgx.isvsvn, 4);
    assert_false(r->quote.sgx.debug);
    assert_int_equal(r->quote.qe.isvsvn, 8);
    world_free(&w);

    /* A debug enclave is reported, not rejected (that is policy). */
    world_init(&w, ATT_TEE_SGX, 3);
    w.qo.sgx.attributes[0] |= 0x02;
    assert_verdict(&w, ATT_OK);
    assert_true(w.res.quote.sgx.debug);
    world_free(&w);

    /* SGX in a v4 quote. */
    world_init(&w, ATT_TEE_SGX, 4);
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.quote.version, 4);
    assert_int_equal(w.res.status, ATT_TCB_UP_TO_DATE);
    world_free(&w);
}

/* The same world through files: att_sim_collateral_write_dir, att_dcap_collateral_raw_load_dir,
 * att_trust_add_root_file. */
static void test_collateral_dir_roundtrip(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    att_diag_t d;
    att_sim_collateral_t c;
    assert_int_equal(att_sim_collateral_make(w.pki, &w.co, &c, &d), ATT_OK);
    char tmpl[] = "/tmp/att_rev_XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    assert_int_equal(att_sim_collateral_write_dir(&c, tmpl, &d), ATT_OK);
    char path[256];
    snprintf(path, sizeof path, "%s/trust_root.pem", tmpl);
    att_trust_t *trust = att_trust_new();
    assert_int_equal(att_trust_add_root_file(trust, path, &d), ATT_OK);
    att_dcap_collateral_raw_t raw;
    assert_int_equal(att_dcap_collateral_raw_load_dir(tmpl, &raw, &d), ATT_OK);
    att_dcap_collateral_t *coll = NULL;
    att_err_t e = att_dcap_collateral_new(&raw, trust, &coll, &d);
    if (e != ATT_OK)
        fail_msg("collateral from %s: %s: %s", tmpl, att_err_name(e), d.msg);
    uint8_t *q;
    size_t qlen;
    assert_int_equal(att_sim_quote_build(w.pki, &w.qo, &q, &qlen, &d), ATT_OK);
    att_dcap_result_t res;
    e = att_dcap_verify(q, qlen, coll, trust, NOW, &res);
    if (e != ATT_OK)
        fail_msg("verify: %s: %s", att_err_name(e), res.diag.msg);
    assert_int_equal(res.status, ATT_TCB_UP_TO_DATE);
    free(q);
    att_dcap_collateral_free(coll);
    att_dcap_collateral_raw_free(&raw);
    att_trust_free(trust);
    static const char *files[] = {"tcb_info.json",    "tcb_info_issuer_chain.pem",
                                  "qe_identity.json", "qe_identity_issuer_chain.pem",
                                  "pck_crl.der",      "pck_crl_issuer_chain.pem",
                                  "root_ca_crl.der",  "trust_root.pem"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpl, files[i]);
        unlink(path);
    }
    rmdir(tmpl);
    att_sim_collateral_free(&c);
    world_free(&w);
}

/* ---- revocation ------------------------------------------------------------------------------ */

static void test_revoked_pck_leaf(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    att_sim_serial_t rev[3] = {
        {{0x11, 0x22}, 2}, att_sim_pki_serial(w.pki, ATT_SIM_PCK), {{0x7E, 0x01, 0x02, 0x03}, 4}};
    w.co.pck_crl.revoked = rev;
    w.co.pck_crl.n_revoked = 3;
    assert_verdict(&w, ATT_E_CERT_REVOKED);
    assert_int_equal(w.coll_err, ATT_OK); /* revocation is a per-quote check */
    world_free(&w);

    /* Other serials on the CRL do not matter. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.pck_crl.revoked = rev;
    w.co.pck_crl.n_revoked = 1;
    assert_verdict(&w, ATT_OK);
    world_free(&w);

    /* The same for a TDX platform-CA leaf. */
    world_init(&w, ATT_TEE_TDX, 4);
    world_revoke(&w, ATT_SIM_PCK);
    assert_verdict(&w, ATT_E_CERT_REVOKED);
    world_free(&w);
}

static void test_revoked_intermediate(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    world_revoke(&w, ATT_SIM_PCK_CA);
    assert_verdict(&w, ATT_E_CERT_REVOKED);
    world_free(&w);
}

static void test_revoked_tcb_signer(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    world_revoke(&w, ATT_SIM_TCB_SIGNER);
    assert_verdict(&w, ATT_E_CERT_REVOKED);
    world_free(&w);
}

/* ---- CRL validity and issuers -----------------------------------------------------------------
 */

static void test_expired_pck_crl(void **state)
{
    world_t w;
    /* A CRL that expired before the TCB info was issued (docs/dcap.md section 4). */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.pck_crl.this_update = NOW - 40 * DAY;
    w.co.pck_crl.next_update = NOW - 10 * DAY;
    assert_verdict(&w, ATT_E_CRL_EXPIRED);
    assert_int_equal(w.coll_err, ATT_OK); /* validity is checked at verify time */
    world_free(&w);

    /* One second past nextUpdate. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.pck_crl.next_update = NOW - 1;
    assert_verdict(&w, ATT_E_CRL_EXPIRED);
    world_free(&w);

    /* thisUpdate <= T <= nextUpdate: both ends inclusive. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.pck_crl.next_update = NOW;
    assert_verdict(&w, ATT_OK);
    world_free(&w);
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.pck_crl.this_update = NOW;
    assert_verdict(&w, ATT_OK);
    world_free(&w);

    /* Not yet valid. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.pck_crl.this_update = NOW + 1;
    assert_verdict(&w, ATT_E_CRL_NOT_YET_VALID);
    world_free(&w);
}

static void test_expired_root_crl(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.root_ca_crl.this_update = NOW - 40 * DAY;
    w.co.root_ca_crl.next_update = NOW - 1;
    assert_verdict(&w, ATT_E_CRL_EXPIRED);
    world_free(&w);
}

static void test_crl_wrong_issuer(void **state)
{
    world_t w;
    /* The PCK CRL is issued and signed by the root instead of the PCK CA. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.pck_crl.issuer = w.co.pck_crl.signer = ATT_SIM_ROOT;
    assert_verdict2(&w, ATT_E_CRL_ISSUER, ATT_E_CRL_SIGNATURE);
    world_free(&w);

    /* Right issuer name, signed by an impostor PCK CA key (another hierarchy's). */
    world_init(&w, ATT_TEE_SGX, 3);
    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, NOW);
    att_sim_pki_t *other;
    att_diag_t d;
    assert_int_equal(att_sim_pki_new(&po, &other, &d), ATT_OK);
    w.co.pck_crl.signer_pki = other;
    assert_verdict2(&w, ATT_E_CRL_SIGNATURE, ATT_E_CRL_ISSUER);
    world_free(&w);

    /* Right issuer name, signed by the root's key. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.pck_crl.signer = ATT_SIM_ROOT;
    assert_verdict2(&w, ATT_E_CRL_SIGNATURE, ATT_E_CRL_ISSUER);
    world_free(&w);

    /* The root CA CRL issued and signed by the PCK CA. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.root_ca_crl.issuer = w.co.root_ca_crl.signer = ATT_SIM_PCK_CA;
    assert_verdict2(&w, ATT_E_CRL_ISSUER, ATT_E_CRL_SIGNATURE);
    world_free(&w);

    /* The root CA CRL with the root's name, signed by the impostor's root. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.root_ca_crl.signer_pki = other;
    assert_verdict2(&w, ATT_E_CRL_SIGNATURE, ATT_E_CRL_ISSUER);
    world_free(&w);
    att_sim_pki_free(other);
}

/* ---- trust ------------------------------------------------------------------------------------
 */

static void test_untrusted_root(void **state)
{
    world_t w;
    /* Nothing added to the trust set: only Intel's root is pinned. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.untrusted = true;
    assert_verdict(&w, ATT_E_CERT_UNTRUSTED_ROOT);
    world_free(&w);

    /* Collateral from a trusted hierarchy, quote from a look-alike one with an untrusted root
     * (same names, same SGX extension, other keys). */
    world_init(&w, ATT_TEE_SGX, 3);
    att_sim_pki_opts_t po = *att_sim_pki_opts(w.pki);
    for (int i = 0; i < ATT_SIM_N_CERTS; i++)
        po.cert[i].serial.len = 0;
    att_diag_t d;
    assert_int_equal(att_sim_pki_new(&po, &w.quote_pki, &d), ATT_OK);
    assert_verdict(&w, ATT_E_CERT_UNTRUSTED_ROOT);
    world_free(&w);
}

/* ---- TCB evaluation ---------------------------------------------------------------------------
 */

/* Two levels: a newer one the platform does not reach, then the platform's level with `status`. */
static void set_platform_level(world_t *w, const char *status)
{
    att_sim_tcb_info_t *t = &w->co.tcb_info;
    att_sim_tcb_level_t mine = t->levels[0];
    t->n_levels = 3;
    t->levels[0] = mine;
    t->levels[0].sgx_svn[0]++;
    t->levels[0].st.status = "UpToDate";
    t->levels[0].st.tcb_date = NOW - 5 * DAY;
    t->levels[1] = mine;
    t->levels[1].st.status = status;
    t->levels[1].st.advisory_ids[0] = "INTEL-SA-00001";
    t->levels[1].st.advisory_ids[1] = "INTEL-SA-00002";
    /* An older level the platform also meets: must not be chosen (first match wins). */
    t->levels[2] = mine;
    t->levels[2].sgx_svn[0]--;
    t->levels[2].pcesvn--;
    t->levels[2].st.status = "OutOfDate";
    t->levels[2].st.tcb_date = NOW - 400 * DAY;
    t->levels[2].st.advisory_ids[0] = "INTEL-SA-99999";
}

static void test_tcb_statuses(void **state)
{
    static const struct {
        const char *name;
        att_tcb_status_t status;
    } cases[] = {
        {"UpToDate", ATT_TCB_UP_TO_DATE},
        {"SWHardeningNeeded", ATT_TCB_SW_HARDENING_NEEDED},
        {"ConfigurationNeeded", ATT_TCB_CONFIGURATION_NEEDED},
        {"ConfigurationAndSWHardeningNeeded", ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED},
        {"OutOfDate", ATT_TCB_OUT_OF_DATE},
        {"OutOfDateConfigurationNeeded", ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        world_t w;
        world_init(&w, ATT_TEE_SGX, 3);
        set_platform_level(&w, cases[i].name);
        print_message("      level %s\n", cases[i].name);
        assert_verdict(&w, ATT_OK);
        assert_int_equal(w.res.status, cases[i].status);
        assert_int_equal(w.res.platform_status, cases[i].status);
        assert_int_equal(w.res.qe_status, ATT_TCB_UP_TO_DATE);
        assert_string_equal(att_tcb_status_name(w.res.status), cases[i].name);
        assert_int_equal(w.res.n_advisories, 2);
        assert_true(has_advisory(&w.res, "INTEL-SA-00001"));
        assert_true(has_advisory(&w.res, "INTEL-SA-00002"));
        assert_false(has_advisory(&w.res, "INTEL-SA-99999"));
        world_free(&w);
    }
}

static void test_tcb_revoked_level(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    set_platform_level(&w, "Revoked");
    assert_verdict(&w, ATT_E_TCB_REVOKED);
    world_free(&w);
}

static void test_tcb_no_matching_level(void **state)
{
    world_t w;
    /* One component above the platform's. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.tcb_info.levels[0].sgx_svn[15] = 1;
    assert_verdict(&w, ATT_E_TCB_NOT_SUPPORTED);
    world_free(&w);

    /* PCESVN above the platform's. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.tcb_info.levels[0].pcesvn++;
    assert_verdict(&w, ATT_E_TCB_NOT_SUPPORTED);
    world_free(&w);

    /* Only the CPUSVN byte string differs: it is not compared byte-wise, the components are. */
    world_init(&w, ATT_TEE_SGX, 3);
    att_sim_pck_ext_t e = att_sim_pki_opts(w.pki)->pck;
    memset(e.cpusvn, 0, 16);
    att_diag_t d;
    assert_int_equal(att_sim_pki_reissue_pck(w.pki, &e, NULL, &d), ATT_OK);
    assert_verdict(&w, ATT_OK);
    world_free(&w);

    /* The platform at a lower component meets only an older level. */
    world_init(&w, ATT_TEE_SGX, 3);
    set_platform_level(&w, "SWHardeningNeeded");
    e = att_sim_pki_opts(w.pki)->pck;
    e.comp_svn[0]--;
    e.pcesvn--;
    assert_int_equal(att_sim_pki_reissue_pck(w.pki, &e, NULL, &d), ATT_OK);
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_OUT_OF_DATE);
    assert_true(has_advisory(&w.res, "INTEL-SA-99999"));
    world_free(&w);
}

/* TCB info v2 (flat components, no id), still served by the PCS v3 API. */
static void test_tcb_info_v2(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    set_platform_level(&w, "ConfigurationNeeded");
    w.co.tcb_info.version = 2;
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_CONFIGURATION_NEEDED);
    world_free(&w);
}

/* ---- QE identity --------------------------------------------------------------------------------
 */

static void test_qe_identity_mismatch(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.qe_identity.mrsigner[0] ^= 1;
    assert_verdict(&w, ATT_E_QE_IDENTITY_MISMATCH);
    world_free(&w);

    world_init(&w, ATT_TEE_SGX, 3);
    w.qo.qe.mrsigner[31] ^= 0x80;
    assert_verdict(&w, ATT_E_QE_IDENTITY_MISMATCH);
    world_free(&w);

    world_init(&w, ATT_TEE_SGX, 3);
    w.qo.qe.isvprodid = 3;
    assert_verdict(&w, ATT_E_QE_IDENTITY_MISMATCH);
    world_free(&w);

    /* Masked attributes: a bit outside the mask (DEBUG is masked out by FB) does not matter... */
    world_init(&w, ATT_TEE_SGX, 3);
    w.qo.qe.attributes[8] = 0x03; /* xfrm: mask is zero there */
    assert_verdict(&w, ATT_OK);
    world_free(&w);
    /* ...a bit inside it does. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.qo.qe.attributes[0] = 0x05; /* PROVISIONKEY missing */
    assert_verdict(&w, ATT_E_QE_IDENTITY_MISMATCH);
    world_free(&w);
    world_init(&w, ATT_TEE_SGX, 3);
    w.qo.qe.miscselect = 1;
    assert_verdict(&w, ATT_E_QE_IDENTITY_MISMATCH);
    world_free(&w);
}

/* Platform status x QE OutOfDate, per Intel's convergence table (docs/dcap.md step 13). */
static void test_qe_out_of_date_converges(void **state)
{
    static const struct {
        const char *platform;
        att_tcb_status_t platform_status, want;
    } cases[] = {
        {"UpToDate", ATT_TCB_UP_TO_DATE, ATT_TCB_OUT_OF_DATE},
        {"SWHardeningNeeded", ATT_TCB_SW_HARDENING_NEEDED, ATT_TCB_OUT_OF_DATE},
        /* dcap-qvl says OutOfDate here; Intel says OutOfDateConfigurationNeeded. */
        {"ConfigurationNeeded", ATT_TCB_CONFIGURATION_NEEDED,
         ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED},
        {"ConfigurationAndSWHardeningNeeded", ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
         ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED},
        {"OutOfDate", ATT_TCB_OUT_OF_DATE, ATT_TCB_OUT_OF_DATE},
        {"OutOfDateConfigurationNeeded", ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
         ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        world_t w;
        world_init(&w, ATT_TEE_SGX, 3);
        set_platform_level(&w, cases[i].platform);
        att_sim_qe_identity_t *q = &w.co.qe_identity;
        q->n_levels = 2;
        q->levels[0].isvsvn = 9; /* the QE (isvsvn 8) is behind */
        q->levels[1].isvsvn = 6;
        q->levels[1].st.status = "OutOfDate";
        q->levels[1].st.tcb_date = NOW - 300 * DAY;
        q->levels[1].st.advisory_ids[0] = "INTEL-SA-00615";
        print_message("      platform %s + QE OutOfDate\n", cases[i].platform);
        assert_verdict(&w, ATT_OK);
        assert_int_equal(w.res.platform_status, cases[i].platform_status);
        assert_int_equal(w.res.qe_status, ATT_TCB_OUT_OF_DATE);
        if (w.res.status != cases[i].want)
            fail_msg("platform %s + QE OutOfDate: expected %s, got %s", cases[i].platform,
                     att_tcb_status_name(cases[i].want), att_tcb_status_name(w.res.status));
        /* Advisories: the union of the platform's and the QE's. */
        assert_true(has_advisory(&w.res, "INTEL-SA-00001"));
        assert_true(has_advisory(&w.res, "INTEL-SA-00615"));
        world_free(&w);
    }
}

static void test_qe_tcb_revoked_and_unsupported(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.qe_identity.levels[0].isvsvn = 9;
    w.co.qe_identity.n_levels = 2;
    w.co.qe_identity.levels[1].isvsvn = 1;
    w.co.qe_identity.levels[1].st.status = "Revoked";
    w.co.qe_identity.levels[1].st.tcb_date = NOW - 900 * DAY;
    assert_verdict2(&w, ATT_E_QE_TCB_REVOKED, ATT_E_TCB_REVOKED);
    world_free(&w);

    /* The QE's ISVSVN is below every level. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.qe_identity.levels[0].isvsvn = 9;
    assert_verdict2(&w, ATT_E_QE_TCB_NOT_SUPPORTED, ATT_E_TCB_NOT_SUPPORTED);
    world_free(&w);
}

/* ---- TDX
 * ------------------------------------------------------------------------------------------ */

static void test_tdx_v4_module_identity(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_TDX, 4);
    memset(w.qo.td.report_data, 0x5A, 64);
    assert_int_equal(w.qo.td.tee_tcb_svn[1], 1); /* module major version 1: TDX_01 */
    assert_string_equal(w.co.tcb_info.module_ids[0].id, "TDX_01");
    assert_verdict(&w, ATT_OK);
    const att_dcap_result_t *r = &w.res;
    assert_int_equal(r->tee, ATT_TEE_TDX);
    assert_int_equal(r->status, ATT_TCB_UP_TO_DATE);
    assert_int_equal(r->module_status, ATT_TCB_UP_TO_DATE);
    assert_int_equal(r->quote.version, 4);
    assert_int_equal(r->quote.body_type, ATT_BODY_TD10);
    assert_memory_equal(r->quote.td.mrtd, w.qo.td.mrtd, 48);
    assert_memory_equal(r->quote.td.rtmr[2], w.qo.td.rtmr[2], 48);
    assert_memory_equal(r->quote.td.report_data, w.qo.td.report_data, 64);
    assert_memory_equal(r->quote.td.tee_tcb_svn, w.qo.td.tee_tcb_svn, 16);
    assert_false(r->quote.td.debug);
    world_free(&w);

    /* Module identity TDX_01 missing (only TDX_02 listed) -> mismatch. */
    world_init(&w, ATT_TEE_TDX, 4);
    snprintf(w.co.tcb_info.module_ids[0].id, sizeof w.co.tcb_info.module_ids[0].id, "TDX_02");
    assert_verdict(&w, ATT_E_TDX_MODULE_MISMATCH);
    world_free(&w);

    /* mrsignerseam differs from the module identity's mrsigner. */
    world_init(&w, ATT_TEE_TDX, 4);
    w.qo.td.mrsignerseam[0] = 1;
    assert_verdict(&w, ATT_E_TDX_MODULE_MISMATCH);
    world_free(&w);

    /* Module SVN 3 behind the module identity's latest level -> OutOfDate converges. */
    world_init(&w, ATT_TEE_TDX, 4);
    att_sim_tdx_module_id_t *m = &w.co.tcb_info.module_ids[0];
    two_levels(m);
    m->levels[0].isvsvn = 5;
    m->levels[1].st.status = "OutOfDate";
    m->levels[1].st.advisory_ids[0] = "INTEL-SA-01000";
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.module_status, ATT_TCB_OUT_OF_DATE);
    assert_int_equal(w.res.status, ATT_TCB_OUT_OF_DATE);
    world_free(&w);

    /* ...and with a ConfigurationNeeded platform -> OutOfDateConfigurationNeeded. */
    world_init(&w, ATT_TEE_TDX, 4);
    m = &w.co.tcb_info.module_ids[0];
    two_levels(m);
    m->levels[0].isvsvn = 5;
    m->levels[1].st.status = "OutOfDate";
    w.co.tcb_info.levels[0].st.status = "ConfigurationNeeded";
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED);
    world_free(&w);

    /* Module level Revoked. */
    world_init(&w, ATT_TEE_TDX, 4);
    w.co.tcb_info.module_ids[0].levels[0].st.status = "Revoked";
    assert_verdict2(&w, ATT_E_TDX_MODULE_TCB_REVOKED, ATT_E_TCB_REVOKED);
    world_free(&w);

    /* Module SVN below every module level. */
    world_init(&w, ATT_TEE_TDX, 4);
    w.co.tcb_info.module_ids[0].levels[0].isvsvn = 4;
    assert_verdict2(&w, ATT_E_TDX_MODULE_TCB_NOT_SUPPORTED, ATT_E_TCB_NOT_SUPPORTED);
    world_free(&w);
}

static void test_tdx_components(void **state)
{
    world_t w;
    /* tee_tcb_svn[2] below the level's tdxtcbcomponents[2] -> no level. */
    world_init(&w, ATT_TEE_TDX, 4);
    w.co.tcb_info.levels[0].tdx_svn[2] = 3;
    assert_verdict(&w, ATT_E_TCB_NOT_SUPPORTED);
    world_free(&w);

    /* With module version > 0, indices 0-1 are the module's business (step 11), not the level's. */
    world_init(&w, ATT_TEE_TDX, 4);
    w.co.tcb_info.levels[0].tdx_svn[0] = 200;
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_UP_TO_DATE);
    world_free(&w);

    /* Platform level status reaches the result for TDX too. */
    world_init(&w, ATT_TEE_TDX, 4);
    w.co.tcb_info.levels[0].st.status = "SWHardeningNeeded";
    w.co.tcb_info.levels[0].st.advisory_ids[0] = "INTEL-SA-00837";
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_SW_HARDENING_NEEDED);
    assert_true(has_advisory(&w.res, "INTEL-SA-00837"));
    world_free(&w);
}

static void test_tdx_v5_td15(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_TDX, 5);
    memset(w.qo.td.mrservicetd, 0, 48);
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.quote.version, 5);
    assert_int_equal(w.res.quote.body_type, ATT_BODY_TD15);
    assert_memory_equal(w.res.quote.td.tee_tcb_svn2, w.qo.td.tee_tcb_svn2, 16);
    assert_int_equal(w.res.status, ATT_TCB_UP_TO_DATE);
    world_free(&w);

    world_init(&w, ATT_TEE_TDX, 5);
    w.qo.body_type = ATT_BODY_TD10;
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.quote.body_type, ATT_BODY_TD10);
    world_free(&w);
}

/* ---- collateral mismatches ----------------------------------------------------------------------
 */

static void test_collateral_mismatches(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.tcb_info.fmspc[5] ^= 1;
    assert_verdict(&w, ATT_E_TCBINFO_FMSPC);
    world_free(&w);

    world_init(&w, ATT_TEE_SGX, 3);
    w.co.tcb_info.pceid[1] = 1;
    assert_verdict(&w, ATT_E_TCBINFO_PCEID);
    world_free(&w);

    world_init(&w, ATT_TEE_SGX, 3);
    w.co.tcb_info.next_update = NOW - 1;
    assert_verdict(&w, ATT_E_TCBINFO_EXPIRED);
    world_free(&w);

    world_init(&w, ATT_TEE_SGX, 3);
    w.co.qe_identity.issue_date = NOW + 1;
    assert_verdict(&w, ATT_E_QEID_NOT_YET_VALID);
    world_free(&w);

    /* An SGX quote against TDX collateral (id "TDX", TD_QE). */
    world_init(&w, ATT_TEE_SGX, 3);
    att_sim_tcb_info_default(&w.co.tcb_info, w.pki, ATT_TEE_TDX, NOW);
    assert_verdict2(&w, ATT_E_TCBINFO_TEE, ATT_E_TCBINFO_VERSION);
    world_free(&w);

    /* An expired PCK leaf. */
    world_init(&w, ATT_TEE_SGX, 3);
    att_sim_cert_opts_t co = att_sim_pki_opts(w.pki)->cert[ATT_SIM_PCK];
    co.not_after = NOW - 1;
    co.serial.len = 0;
    att_diag_t d;
    assert_int_equal(att_sim_pki_reissue_pck(w.pki, NULL, &co, &d), ATT_OK);
    assert_verdict(&w, ATT_E_CERT_EXPIRED);
    world_free(&w);
}

/* ---- TD 1.5 relaunch advice (Intel TDRelaunchCheck) -------------------------------------------
 */

/* relaunch_world (sim_world.h): module SVN 3 at launch, 5 now; levels 5 UpToDate, 3 OutOfDate. */

static void test_td15_relaunch_advised(void **state)
{
    world_t w;
    relaunch_world(&w, 5);
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.module_status, ATT_TCB_OUT_OF_DATE);
    assert_int_equal(w.res.status, ATT_TCB_TD_RELAUNCH_ADVISED);
    world_free(&w);

    relaunch_world(&w, 5);
    w.co.tcb_info.levels[0].st.status = "ConfigurationNeeded";
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED);
    world_free(&w);

    /* Not relaunched onto the newer module: plain OutOfDate. */
    relaunch_world(&w, 5);
    w.qo.td.tee_tcb_svn2[0] = 3;
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_OUT_OF_DATE);
    world_free(&w);

    /* TD report 1.0 (v4) has no tee_tcb_svn2: no relaunch advice. */
    relaunch_world(&w, 4);
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_OUT_OF_DATE);
    world_free(&w);

    /* The QE is OutOfDate: no relaunch advice either. */
    relaunch_world(&w, 5);
    w.co.qe_identity.levels[0].isvsvn = 9;
    w.co.qe_identity.n_levels = 2;
    w.co.qe_identity.levels[1].isvsvn = 8;
    w.co.qe_identity.levels[1].st.status = "OutOfDate";
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_OUT_OF_DATE);
    world_free(&w);
}

/* Intel selects the SGX level (first SGX match) and the TDX level (first level matching SGX and
 * TDX components) separately; the TDX level's status and advisories are the result. */
static void test_tdx_level_selection(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_TDX, 4);
    att_sim_tcb_info_t *t = &w.co.tcb_info;
    two_levels(t);
    t->levels[0].tdx_svn[2] = 3; /* the TD's microcode SVN is 2 */
    t->levels[1].st.status = "OutOfDate";
    t->levels[1].st.tcb_date = NOW - 200 * DAY;
    t->levels[1].st.advisory_ids[0] = "INTEL-SA-00960";
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_OUT_OF_DATE);
    assert_true(has_advisory(&w.res, "INTEL-SA-00960"));
    world_free(&w);
}

/* ---- formats the verifier accepts ---------------------------------------------------------------
 */

static void test_collateral_formats(void **state)
{
    world_t w;
    /* CRLs as PEM (PCS serves PEM unless encoding=der). */
    world_init(&w, ATT_TEE_SGX, 3);
    w.pem_crls = true;
    assert_verdict(&w, ATT_OK);
    world_free(&w);
    world_init(&w, ATT_TEE_SGX, 3);
    w.pem_crls = true;
    world_revoke(&w, ATT_SIM_PCK);
    assert_verdict(&w, ATT_E_CERT_REVOKED);
    world_free(&w);

    /* No PCK CRL issuer chain: the quote's chain vouches for the CRL. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.no_pck_crl_chain = true;
    assert_verdict(&w, ATT_OK);
    world_free(&w);
    world_init(&w, ATT_TEE_SGX, 3);
    w.no_pck_crl_chain = true;
    world_revoke(&w, ATT_SIM_PCK);
    assert_verdict(&w, ATT_E_CERT_REVOKED);
    world_free(&w);
    world_init(&w, ATT_TEE_SGX, 3);
    w.no_pck_crl_chain = true;
    w.co.pck_crl.signer = ATT_SIM_ROOT; /* PCK CA's name, root's key */
    assert_verdict2(&w, ATT_E_CRL_SIGNATURE, ATT_E_CRL_ISSUER);
    world_free(&w);
    world_init(&w, ATT_TEE_SGX, 3);
    w.no_pck_crl_chain = true;
    w.co.pck_crl.next_update = NOW - 1;
    assert_verdict(&w, ATT_E_CRL_EXPIRED);
    world_free(&w);

    /* Trailing bytes after the signature data are tolerated and reported. */
    world_init(&w, ATT_TEE_TDX, 4);
    w.trailing = 70;
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.quote.trailing, 70);
    world_free(&w);

    /* QE auth data of other sizes; PEM chain without the trailing NUL. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.qo.qe_auth_len = 0;
    w.qo.pem_nul = false;
    assert_verdict(&w, ATT_OK);
    world_free(&w);
    world_init(&w, ATT_TEE_SGX, 3);
    w.qo.qe_auth_len = 64;
    memset(w.qo.qe_auth_data, 0xA5, 64);
    assert_verdict(&w, ATT_OK);
    world_free(&w);
}

/* ---- tampering with the built quote ---------------------------------------------------------- */

/* v3 offsets: body 48..432, sig data at 436: sig, key, QE report at 564, QE sig at 948, auth. */
static void flip_body(uint8_t *q, size_t len)
{
    q[48 + 320] ^= 1;
} /* report_data */
static void flip_qe_report(uint8_t *q, size_t len)
{
    q[436 + 128 + 64] ^= 1;
} /* QE mrenclave */
static void flip_auth(uint8_t *q, size_t len)
{
    q[436 + 128 + 384 + 64 + 2] ^= 1;
} /* auth[0] */
static void flip_key(uint8_t *q, size_t len)
{
    q[436 + 64 + 10] ^= 1;
} /* attest key */

static void test_tampered_quotes(void **state)
{
    static const struct {
        void (*fn)(uint8_t *, size_t);
        att_err_t want, alt;
    } cases[] = {
        {flip_body, ATT_E_QUOTE_SIGNATURE, ATT_E_QUOTE_SIGNATURE},
        {flip_qe_report, ATT_E_QE_REPORT_SIGNATURE, ATT_E_QE_REPORT_SIGNATURE},
        {flip_auth, ATT_E_QE_REPORT_DATA, ATT_E_QE_REPORT_DATA},
        /* A changed key is usually not on the curve; if it is, the binding fails. */
        {flip_key, ATT_E_QUOTE_KEY, ATT_E_QE_REPORT_DATA},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        world_t w;
        world_init(&w, ATT_TEE_SGX, 3);
        w.tamper = cases[i].fn;
        assert_verdict2(&w, cases[i].want, cases[i].alt);
        world_free(&w);
    }
}

/* ---- result details ----------------------------------------------------------------------------
 */

static void test_expiry_and_advisories(void **state)
{
    world_t w;
    /* The PCK leaf expiring first sets the collateral expiry. */
    world_init(&w, ATT_TEE_SGX, 3);
    att_sim_cert_opts_t co = att_sim_pki_opts(w.pki)->cert[ATT_SIM_PCK];
    co.not_after = NOW + 5 * DAY;
    co.serial.len = 0;
    att_diag_t d;
    assert_int_equal(att_sim_pki_reissue_pck(w.pki, NULL, &co, &d), ATT_OK);
    w.co.qe_identity.next_update = NOW + 6 * DAY;
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.collateral_expiry, NOW + 5 * DAY);
    world_free(&w);

    world_init(&w, ATT_TEE_SGX, 3);
    w.co.qe_identity.next_update = NOW + 6 * DAY;
    w.co.root_ca_crl.next_update = NOW + 7 * DAY;
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.collateral_expiry, NOW + 6 * DAY);
    world_free(&w);

    /* Boundaries: notAfter == now and nextUpdate == now are still valid. */
    world_init(&w, ATT_TEE_SGX, 3);
    co = att_sim_pki_opts(w.pki)->cert[ATT_SIM_PCK];
    co.not_after = NOW;
    co.serial.len = 0;
    assert_int_equal(att_sim_pki_reissue_pck(w.pki, NULL, &co, &d), ATT_OK);
    w.co.tcb_info.next_update = NOW;
    assert_verdict(&w, ATT_OK);
    world_free(&w);

    /* The same advisory from the platform and the QE level appears once. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.tcb_info.levels[0].st.status = "SWHardeningNeeded";
    w.co.tcb_info.levels[0].st.advisory_ids[0] = "INTEL-SA-00615";
    w.co.tcb_info.levels[0].st.advisory_ids[1] = "INTEL-SA-00289";
    w.co.qe_identity.levels[0].isvsvn = 9;
    w.co.qe_identity.n_levels = 2;
    w.co.qe_identity.levels[1].isvsvn = 8;
    w.co.qe_identity.levels[1].st.status = "OutOfDate";
    w.co.qe_identity.levels[1].st.advisory_ids[0] = "INTEL-SA-00615";
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_OUT_OF_DATE);
    assert_int_equal(w.res.n_advisories, 2);
    assert_true(has_advisory(&w.res, "INTEL-SA-00615"));
    assert_true(has_advisory(&w.res, "INTEL-SA-00289"));
    world_free(&w);
}

/* Intermediate and TCB signer validity. */
static void test_ca_validity(void **state)
{
    static const att_sim_cert_t which[] = {ATT_SIM_PCK_CA, ATT_SIM_TCB_SIGNER, ATT_SIM_ROOT};
    for (size_t i = 0; i < sizeof which / sizeof which[0]; i++) {
        world_t w;
        memset(&w, 0, sizeof w);
        att_sim_pki_opts_t po;
        att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, NOW);
        po.cert[which[i]].not_after = NOW - 1;
        att_diag_t d;
        assert_int_equal(att_sim_pki_new(&po, &w.pki, &d), ATT_OK);
        att_sim_collateral_opts_default(&w.co, w.pki, ATT_TEE_SGX, NOW);
        att_sim_quote_opts_default(&w.qo, ATT_TEE_SGX, 3);
        w.now = NOW;
        assert_verdict(&w, ATT_E_CERT_EXPIRED);
        world_free(&w);
    }
}

/* Module major version 0 (tee_tcb_svn[1] == 0): no module identity; the module status is UpToDate,
 * all 16 TDX components are compared, and the top-level tdxModule signer applies. */
static void test_tdx_module_version_zero(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_TDX, 4);
    w.qo.td.tee_tcb_svn[1] = 0;
    w.co.tcb_info.levels[0].tdx_svn[1] = 0;
    w.co.tcb_info.n_module_ids = 0;
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_UP_TO_DATE);
    assert_int_equal(w.res.module_status, ATT_TCB_UP_TO_DATE);
    world_free(&w);

    /* Index 0 (the module SVN) now counts in the level match. */
    world_init(&w, ATT_TEE_TDX, 4);
    w.qo.td.tee_tcb_svn[1] = 0;
    w.co.tcb_info.levels[0].tdx_svn[1] = 0;
    w.co.tcb_info.levels[0].tdx_svn[0] = 4;
    assert_verdict(&w, ATT_E_TCB_NOT_SUPPORTED);
    world_free(&w);

    /* MRSIGNERSEAM must match tdxModule.mrsigner. */
    world_init(&w, ATT_TEE_TDX, 4);
    w.qo.td.tee_tcb_svn[1] = 0;
    w.co.tcb_info.levels[0].tdx_svn[1] = 0;
    w.co.tcb_info.module_mrsigner[47] = 0x01;
    assert_verdict(&w, ATT_E_TDX_MODULE_MISMATCH);
    world_free(&w);

    /* SEAM attributes must be zero. */
    world_init(&w, ATT_TEE_TDX, 4);
    w.qo.td.seam_attributes[0] = 1;
    assert_verdict(&w, ATT_E_TDX_MODULE_MISMATCH);
    world_free(&w);
}

/* Header fields and CA types. */
static void test_header_and_ca_types(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    w.qo.qe_vendor_id[15] ^= 1;
    assert_verdict(&w, ATT_E_QUOTE_QE_VENDOR);
    world_free(&w);

    /* The header's QE/PCE SVNs are informational: the QE report and PCK certificate rule. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.qo.qe_svn_hdr = 0xFFFF;
    w.qo.pce_svn_hdr = 0;
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.quote.qe_svn, 0xFFFF);
    assert_int_equal(w.res.pcesvn, 13);
    world_free(&w);

    /* An SGX quote from a platform-CA leaf, and a TDX quote from a processor-CA leaf. */
    for (int tee = 0; tee < 2; tee++) {
        memset(&w, 0, sizeof w);
        att_sim_pki_opts_t po;
        att_sim_pki_opts_default(&po, tee ? ATT_SIM_CA_PROCESSOR : ATT_SIM_CA_PLATFORM, NOW);
        att_diag_t d;
        assert_int_equal(att_sim_pki_new(&po, &w.pki, &d), ATT_OK);
        att_sim_collateral_opts_default(&w.co, w.pki, tee ? ATT_TEE_TDX : ATT_TEE_SGX, NOW);
        att_sim_quote_opts_default(&w.qo, tee ? ATT_TEE_TDX : ATT_TEE_SGX, tee ? 4 : 3);
        w.now = NOW;
        assert_verdict(&w, ATT_OK);
        world_free(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgx_v3_accepted),
        cmocka_unit_test(test_collateral_dir_roundtrip),
        cmocka_unit_test(test_revoked_pck_leaf),
        cmocka_unit_test(test_revoked_intermediate),
        cmocka_unit_test(test_revoked_tcb_signer),
        cmocka_unit_test(test_expired_pck_crl),
        cmocka_unit_test(test_expired_root_crl),
        cmocka_unit_test(test_crl_wrong_issuer),
        cmocka_unit_test(test_untrusted_root),
        cmocka_unit_test(test_tcb_statuses),
        cmocka_unit_test(test_tcb_revoked_level),
        cmocka_unit_test(test_tcb_no_matching_level),
        cmocka_unit_test(test_tcb_info_v2),
        cmocka_unit_test(test_qe_identity_mismatch),
        cmocka_unit_test(test_qe_out_of_date_converges),
        cmocka_unit_test(test_qe_tcb_revoked_and_unsupported),
        cmocka_unit_test(test_tdx_v4_module_identity),
        cmocka_unit_test(test_tdx_components),
        cmocka_unit_test(test_tdx_v5_td15),
        cmocka_unit_test(test_collateral_mismatches),
        cmocka_unit_test(test_td15_relaunch_advised),
        cmocka_unit_test(test_tdx_level_selection),
        cmocka_unit_test(test_tdx_module_version_zero),
        cmocka_unit_test(test_collateral_formats),
        cmocka_unit_test(test_tampered_quotes),
        cmocka_unit_test(test_expiry_and_advisories),
        cmocka_unit_test(test_ca_validity),
        cmocka_unit_test(test_header_and_ca_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
