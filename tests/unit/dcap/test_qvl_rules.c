/* test_qvl_rules.c - the DCAP verifier exactly as strict as Intel's QVL (issue 18 part A).
 *
 * Signature-valid but semantically wrong collateral, CRLs and PCK certificates, made with the
 * simulated hierarchy (attest/sim.h), where the verifier once disagreed with Intel's QVL:
 * TCB, TDX module and QE levels used in the order served instead of sorted (two of them let a
 * Revoked level through), duplicated levels, MISCSELECT byte order, TD 1.5 relaunch onto an
 * unknown module, a removeFromCRL entry, a lax PCK SGX extension parser, CRLs without their
 * CRL number / AKID, and TCB info fields QVL requires (tcbType in v2, no module in SGX, a
 * non-empty tdxModuleIdentities, tcbDate on every level). docs/dcap.md "Ordering and
 * uniqueness" lists the rules. Each case fails on the verifier before the fix. */
#include "sim_world.h"

/* ---- 1. TCB levels are sorted (components, then PCESVN, then TDX components) ------------ */

/* Two SGX levels served lowest first: [comp0=10 UpToDate, comp0=11 Revoked]; the platform's
 * comp0 is 11. Sorted, comp0=11 comes first and matches: Revoked. */
static void test_tcb_levels_sorted(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    att_sim_tcb_info_t *t = &w.co.tcb_info;
    assert_int_equal(t->levels[0].sgx_svn[0], 11);
    two_levels(t);
    t->levels[1].st.status = "Revoked";
    t->levels[0].sgx_svn[0] = 10;
    t->levels[0].st.tcb_date = NOW - 400 * DAY;
    assert_verdict(&w, ATT_E_TCB_REVOKED);
    world_free(&w);

    /* The same with an UpToDate newer level: served second, still the one chosen. */
    world_init(&w, ATT_TEE_SGX, 3);
    t = &w.co.tcb_info;
    two_levels(t);
    t->levels[0].sgx_svn[0] = 10;
    t->levels[0].st.status = "OutOfDate";
    t->levels[0].st.advisory_ids[0] = "INTEL-SA-00001";
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_UP_TO_DATE);
    assert_false(has_advisory(&w.res, "INTEL-SA-00001"));
    world_free(&w);

    /* Equal components: the higher PCESVN sorts first. */
    world_init(&w, ATT_TEE_SGX, 3);
    t = &w.co.tcb_info;
    two_levels(t);
    t->levels[1].st.status = "Revoked";
    t->levels[0].pcesvn--;
    assert_verdict(&w, ATT_E_TCB_REVOKED);
    world_free(&w);

    /* Components compare as a sequence, component 1 first (not by sum or one by one): served
     * [comps 10,11,... Revoked, comps 11,0,... ConfigurationNeeded], the platform (11,11,...)
     * meets both; 11,0 sorts first. */
    world_init(&w, ATT_TEE_SGX, 3);
    t = &w.co.tcb_info;
    two_levels(t);
    t->levels[0].sgx_svn[0] = 10;
    t->levels[0].st.status = "Revoked";
    t->levels[1].sgx_svn[1] = 0;
    t->levels[1].st.status = "ConfigurationNeeded";
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_CONFIGURATION_NEEDED);
    world_free(&w);

    /* TCB info v2 (flat components) is sorted the same way. */
    world_init(&w, ATT_TEE_SGX, 3);
    t = &w.co.tcb_info;
    t->version = 2;
    two_levels(t);
    t->levels[1].st.status = "Revoked";
    t->levels[0].sgx_svn[0] = 10;
    assert_verdict(&w, ATT_E_TCB_REVOKED);
    world_free(&w);
}

/* TDX: equal SGX components and PCESVN, the TDX components decide. Served [tdx2=1 UpToDate,
 * tdx2=2 Revoked] with the TD's late microcode SVN 2: Revoked. */
static void test_tdx_levels_sorted(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_TDX, 4);
    att_sim_tcb_info_t *t = &w.co.tcb_info;
    assert_int_equal(w.qo.td.tee_tcb_svn[2], 2);
    two_levels(t);
    t->levels[1].st.status = "Revoked";
    t->levels[0].tdx_svn[2] = 1;
    assert_verdict(&w, ATT_E_TCB_REVOKED);
    world_free(&w);
}

static void test_tcb_levels_duplicated(void **state)
{
    /* Same components and PCESVN twice (another status): QVL's "Detected duplicated TCB
     * levels". */
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    att_sim_tcb_info_t *t = &w.co.tcb_info;
    two_levels(t);
    t->levels[1].st.status = "Revoked";
    assert_verdict(&w, ATT_E_COLL_FORMAT);
    assert_int_equal(w.coll_err, ATT_E_COLL_FORMAT);
    assert_non_null(strstr(w.diag.msg, "duplicate"));
    world_free(&w);

    /* TDX: same SGX components, PCESVN and TDX components. */
    world_init(&w, ATT_TEE_TDX, 4);
    t = &w.co.tcb_info;
    two_levels(t);
    t->levels[1].st.status = "OutOfDate";
    assert_verdict(&w, ATT_E_COLL_FORMAT);
    world_free(&w);

    /* ...but TDX components alone make two TDX levels distinct. */
    world_init(&w, ATT_TEE_TDX, 4);
    t = &w.co.tcb_info;
    two_levels(t);
    t->levels[1].tdx_svn[2] = 1;
    t->levels[1].st.status = "OutOfDate";
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_UP_TO_DATE);
    world_free(&w);
}

/* TD 1.5 relaunch compares tee_tcb_svn2 with the latest TCB level, not the first served. */
static void test_relaunch_uses_latest_tcb_level(void **state)
{
    world_t w;
    relaunch_world(&w, 5);
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_TD_RELAUNCH_ADVISED);
    world_free(&w);

    /* A newer level (late microcode SVN 3) served second: the TD's tee_tcb_svn2[2] = 2 does
     * not reach it, so relaunching is no cure. */
    relaunch_world(&w, 5);
    att_sim_tcb_info_t *t = &w.co.tcb_info;
    two_levels(t);
    t->levels[1].tdx_svn[2] = 3;
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.status, ATT_TCB_OUT_OF_DATE);
    world_free(&w);
}

/* ---- 2. TDX module identity levels are sorted by isvsvn ------------------------------------ */

static void test_module_levels_sorted(void **state)
{
    /* Served [isvsvn 1 UpToDate, isvsvn 3 Revoked], module SVN 3: Revoked. */
    world_t w;
    world_init(&w, ATT_TEE_TDX, 4);
    att_sim_tdx_module_id_t *m = &w.co.tcb_info.module_ids[0];
    assert_int_equal(w.qo.td.tee_tcb_svn[0], 3);
    two_levels(m);
    m->levels[1].st.status = "Revoked";
    m->levels[0].isvsvn = 1;
    assert_verdict2(&w, ATT_E_TDX_MODULE_TCB_REVOKED, ATT_E_TCB_REVOKED);
    world_free(&w);

    /* Duplicated isvsvn: QVL's "Detected duplicated TDX Module Identity TCB levels". */
    world_init(&w, ATT_TEE_TDX, 4);
    m = &w.co.tcb_info.module_ids[0];
    two_levels(m);
    m->levels[1].st.status = "OutOfDate";
    assert_verdict(&w, ATT_E_COLL_FORMAT);
    world_free(&w);

    /* Relaunch takes the module's latest level: served [3 OutOfDate, 5 UpToDate], the TD now
     * runs module SVN 4, below the latest (5): no relaunch advice. */
    relaunch_world(&w, 5);
    m = &w.co.tcb_info.module_ids[0];
    att_sim_isv_level_t hi = m->levels[0];
    m->levels[0] = m->levels[1];
    m->levels[1] = hi;
    w.qo.td.tee_tcb_svn2[0] = 4;
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.module_status, ATT_TCB_OUT_OF_DATE);
    assert_int_equal(w.res.status, ATT_TCB_OUT_OF_DATE);
    world_free(&w);
}

/* QE identity levels likewise (isvsvn, then tcbDate): served [1 UpToDate, 8 Revoked]. */
static void test_qe_levels_sorted(void **state)
{
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    att_sim_qe_identity_t *q = &w.co.qe_identity;
    two_levels(q);
    q->levels[1].st.status = "Revoked";
    q->levels[0].isvsvn = 1;
    assert_verdict2(&w, ATT_E_QE_TCB_REVOKED, ATT_E_TCB_REVOKED);
    world_free(&w);

    /* Same isvsvn, two dates: the later tcbDate sorts first. */
    world_init(&w, ATT_TEE_SGX, 3);
    q = &w.co.qe_identity;
    two_levels(q);
    q->levels[1].st.status = "OutOfDate";
    q->levels[1].st.tcb_date = q->levels[0].st.tcb_date + DAY;
    assert_verdict(&w, ATT_OK);
    assert_int_equal(w.res.qe_status, ATT_TCB_OUT_OF_DATE);
    world_free(&w);

    /* Same isvsvn and tcbDate: duplicated. */
    world_init(&w, ATT_TEE_SGX, 3);
    q = &w.co.qe_identity;
    two_levels(q);
    q->levels[1].st.status = "OutOfDate";
    assert_verdict(&w, ATT_E_COLL_FORMAT);
    world_free(&w);
}

/* ---- 3. MISCSELECT and its mask are the report's little-endian bytes ------------------------ */

static void test_qe_miscselect_byte_order(void **state)
{
    /* Identity miscselect 0x00000001 (served "01000000"), the QE's MISCSELECT 1: a match. */
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.qe_identity.miscselect = 1;
    w.qo.qe.miscselect = 1;
    assert_verdict(&w, ATT_OK);
    world_free(&w);

    /* The QE's MISCSELECT 0x01000000 is another value. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.qe_identity.miscselect = 1;
    w.qo.qe.miscselect = 0x01000000u;
    assert_verdict(&w, ATT_E_QE_IDENTITY_MISMATCH);
    world_free(&w);

    /* Mask 0xFFFFFFFE ("FEFFFFFF") leaves bit 0 out: MISCSELECT 1 matches 0. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.qe_identity.miscselect_mask = 0xFFFFFFFEu;
    w.qo.qe.miscselect = 1;
    assert_verdict(&w, ATT_OK);
    world_free(&w);
}

/* ---- 4. TD 1.5 relaunch onto a module the TCB info does not know ---------------------------- */

static void test_relaunch_unknown_module(void **state)
{
    world_t w;
    relaunch_world(&w, 5);
    w.qo.td.tee_tcb_svn2[1] = 2; /* TDX_02: not in the TCB info */
    assert_verdict(&w, ATT_E_TDX_MODULE_MISMATCH);
    assert_non_null(strstr(w.diag.msg, "TDX_02"));
    world_free(&w);
}

/* ---- 5. a CRL entry matches on the serial, whatever its reason ------------------------------ */

static void test_crl_remove_from_crl_reason(void **state)
{
    static const int reasons[] = {8 /* removeFromCRL */, 0 /* unspecified */, -1 /* none */};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        world_t w;
        world_init(&w, ATT_TEE_SGX, 3);
        world_revoke(&w, ATT_SIM_PCK)->reason = reasons[i];
        print_message("      PCK CRL entry reason %d\n", reasons[i]);
        assert_verdict(&w, ATT_E_CERT_REVOKED);
        world_free(&w);

        /* The PCK CA on the root CA CRL. */
        world_init(&w, ATT_TEE_SGX, 3);
        world_revoke(&w, ATT_SIM_PCK_CA)->reason = reasons[i];
        assert_verdict(&w, ATT_E_CERT_REVOKED);
        world_free(&w);

        /* The TCB signer on the root CA CRL. */
        world_init(&w, ATT_TEE_SGX, 3);
        world_revoke(&w, ATT_SIM_TCB_SIGNER)->reason = reasons[i];
        assert_verdict(&w, ATT_E_CERT_REVOKED);
        world_free(&w);
    }
}

/* ---- 6. the PCK SGX extension: 5 or 7 entries, each once; exactly 18 TCB entries ------------ */

static att_err_t verify_with_quirks(att_tee_t tee, const att_sim_pck_ext_quirks_t *q, world_t *w)
{
    world_init(w, tee, tee == ATT_TEE_TDX ? 4 : 3);
    att_diag_t d;
    att_sim_pck_ext_t e = att_sim_pki_opts(w->pki)->pck;
    assert_int_equal(att_sim_pki_reissue_pck_quirks(w->pki, &e, q, &d), ATT_OK);
    return world_verify(w);
}

static void test_pck_extension_strict(void **state)
{
    static const struct {
        const char *what;
        att_tee_t tee;
        att_sim_pck_ext_quirks_t q;
    } bad[] = {
        {"no SGX type", ATT_TEE_SGX, {.omit = 1u << 5}},
        {"no SGX type (platform CA, 6 entries)", ATT_TEE_TDX, {.omit = 1u << 5}},
        {"FMSPC twice", ATT_TEE_SGX, {.duplicate = 1u << 4}},
        {"PCE-ID twice", ATT_TEE_TDX, {.duplicate = 1u << 3}},
        {"an extra entry .9", ATT_TEE_SGX, {.extra_arc = 9}},
        {"no PlatformInstanceID (platform CA)", ATT_TEE_TDX, {.omit = 1u << 6}},
        {"no Configuration (platform CA)", ATT_TEE_TDX, {.omit = 1u << 7}},
        {"7 entries: FMSPC twice, no PlatformInstanceID",
         ATT_TEE_TDX,
         {.omit = 1u << 6, .duplicate = 1u << 4}},
        {"TCB component 1 twice (19 entries)",
         ATT_TEE_SGX,
         {.tcb_duplicate = 1, .tcb_duplicate_svn = 11}},
        {"TCB without CPUSVN", ATT_TEE_SGX, {.tcb_omit = 1u << 18}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        world_t w;
        print_message("      %s\n", bad[i].what);
        att_err_t e = verify_with_quirks(bad[i].tee, &bad[i].q, &w);
        if (e != ATT_E_PCK_EXTENSION)
            fail_msg("%s: expected ATT_E_PCK_EXTENSION, got %s: %s", bad[i].what, att_err_name(e),
                     w.diag.msg);
        world_free(&w);
    }

    /* A duplicated TCB component must not lift the platform to a level it does not reach:
     * levels [comp0=12 UpToDate, comp0=11 OutOfDate], PCK comp0 11 written again as 12. */
    world_t w;
    world_init(&w, ATT_TEE_SGX, 3);
    att_sim_tcb_info_t *t = &w.co.tcb_info;
    two_levels(t);
    t->levels[1].st.status = "OutOfDate";
    t->levels[0].sgx_svn[0] = 12;
    att_sim_pck_ext_quirks_t q = {.tcb_duplicate = 1, .tcb_duplicate_svn = 12};
    att_diag_t d;
    att_sim_pck_ext_t e = att_sim_pki_opts(w.pki)->pck;
    assert_int_equal(att_sim_pki_reissue_pck_quirks(w.pki, &e, &q, &d), ATT_OK);
    assert_verdict(&w, ATT_E_PCK_EXTENSION);
    world_free(&w);

    /* Intel's encodings (5 entries for a processor CA leaf, 7 for a platform CA leaf) pass. */
    att_sim_pck_ext_quirks_t none = {0};
    assert_int_equal(verify_with_quirks(ATT_TEE_SGX, &none, &w), ATT_OK);
    world_free(&w);
    assert_int_equal(verify_with_quirks(ATT_TEE_TDX, &none, &w), ATT_OK);
    world_free(&w);
}

/* ---- 7. CRLs carry a CRL number and an authority key identifier --------------------------- */

static void test_crl_required_extensions(void **state)
{
    for (int which = 0; which < 4; which++) {
        world_t w;
        world_init(&w, ATT_TEE_SGX, 3);
        att_sim_crl_opts_t *o = which < 2 ? &w.co.pck_crl : &w.co.root_ca_crl;
        if (which % 2 == 0)
            o->omit_crl_number = true;
        else
            o->omit_akid = true;
        print_message("      %s CRL without %s\n", which < 2 ? "PCK" : "root CA",
                      which % 2 == 0 ? "CRL number" : "AKID");
        assert_verdict(&w, ATT_E_CRL_PARSE);
        assert_int_equal(w.coll_err, ATT_E_CRL_PARSE);
        world_free(&w);
    }
}

/* ---- 8. TCB info fields QVL requires -----------------------------------------------------------
 */

static void test_tcb_info_fields(void **state)
{
    world_t w;
    /* v2 carries tcbType too, and it must be 0. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.tcb_info.version = 2;
    w.co.tcb_info.tcb_type = 1;
    assert_verdict(&w, ATT_E_COLL_FORMAT);
    world_free(&w);
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.tcb_info.version = 2;
    w.co.tcb_info.omit_tcb_type = true;
    assert_verdict(&w, ATT_E_COLL_FORMAT);
    world_free(&w);

    /* An SGX TCB info has no tdxModule / tdxModuleIdentities. */
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.tcb_info.module_in_sgx = true;
    w.co.tcb_info.n_module_ids = 1;
    snprintf(w.co.tcb_info.module_ids[0].id, sizeof w.co.tcb_info.module_ids[0].id, "TDX_01");
    w.co.tcb_info.module_ids[0].n_levels = 1;
    w.co.tcb_info.module_ids[0].levels[0].st.status = "UpToDate";
    assert_verdict(&w, ATT_E_COLL_FORMAT);
    world_free(&w);
    world_init(&w, ATT_TEE_SGX, 3);
    w.co.tcb_info.module_in_sgx = true; /* tdxModule only */
    assert_verdict(&w, ATT_E_COLL_FORMAT);
    world_free(&w);

    /* tdxModuleIdentities, when present, is not empty (absent is fine: module version 0). */
    world_init(&w, ATT_TEE_TDX, 4);
    w.qo.td.tee_tcb_svn[1] = 0;
    w.co.tcb_info.levels[0].tdx_svn[1] = 0;
    w.co.tcb_info.n_module_ids = 0;
    assert_verdict(&w, ATT_OK);
    world_free(&w);
    world_init(&w, ATT_TEE_TDX, 4);
    w.qo.td.tee_tcb_svn[1] = 0;
    w.co.tcb_info.levels[0].tdx_svn[1] = 0;
    w.co.tcb_info.n_module_ids = 0;
    w.co.tcb_info.empty_module_ids = true;
    assert_verdict(&w, ATT_E_COLL_FORMAT);
    world_free(&w);
}

/* Every level of the TCB info, of a module identity and of the QE identity has a tcbDate that
 * is an RFC 3339 time. */
static void test_level_tcb_dates(void **state)
{
    static const char *const bad[] = {"", "2025-13-01T00:00:00Z", "yesterday"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        print_message("      tcbDate \"%s\"%s\n", bad[i], bad[i][0] ? "" : " (absent)");
        world_t w;
        world_init(&w, ATT_TEE_SGX, 3);
        w.co.tcb_info.levels[0].st.tcb_date_text = bad[i];
        assert_verdict(&w, ATT_E_COLL_FORMAT);
        world_free(&w);

        world_init(&w, ATT_TEE_SGX, 3);
        w.co.qe_identity.levels[0].st.tcb_date_text = bad[i];
        assert_verdict(&w, ATT_E_COLL_FORMAT);
        world_free(&w);

        world_init(&w, ATT_TEE_TDX, 4);
        w.co.tcb_info.module_ids[0].levels[0].st.tcb_date_text = bad[i];
        assert_verdict(&w, ATT_E_COLL_FORMAT);
        world_free(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcb_levels_sorted),
        cmocka_unit_test(test_tdx_levels_sorted),
        cmocka_unit_test(test_tcb_levels_duplicated),
        cmocka_unit_test(test_relaunch_uses_latest_tcb_level),
        cmocka_unit_test(test_module_levels_sorted),
        cmocka_unit_test(test_qe_levels_sorted),
        cmocka_unit_test(test_qe_miscselect_byte_order),
        cmocka_unit_test(test_relaunch_unknown_module),
        cmocka_unit_test(test_crl_remove_from_crl_reason),
        cmocka_unit_test(test_pck_extension_strict),
        cmocka_unit_test(test_crl_required_extensions),
        cmocka_unit_test(test_tcb_info_fields),
        cmocka_unit_test(test_level_tcb_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
