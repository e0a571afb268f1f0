/* tdx.c - the TdxVm type: a TDX DCAP quote (member "quote"), verified by the DCAP backend, with
 * MAA's EAT-style TDX claims (eat_profile, dbgstat, attester_tcb_status, tdx_*; docs/claims.md).
 * Runtime data binds to REPORTDATA, init-time data to MRCONFIGID.
 * Not checked here: anything policy decides (debug, TCB status acceptance, measurements).
 */
#include <stdio.h>

#include "ev_int.h"

#include "core/cursor.h"
#include "core/util.h"

static const char *const att_tdx_claims_supported[] = {"attester_tcb_status",
                                                       "dbgstat",
                                                       "tdx_mrtd",
                                                       "tdx_rtmr0",
                                                       "tdx_rtmr1",
                                                       "tdx_rtmr2",
                                                       "tdx_rtmr3",
                                                       "tdx_mrconfigid",
                                                       "tdx_mrowner",
                                                       "tdx_report_data",
                                                       "tdx_td_attributes_debug",
                                                       NULL};

static void att_tdx_claims(json_t *c, const att_dcap_result_t *r)
{
    const att_td_report_t *t = &r->quote.td;
    json_object_set_new(c, "x-ms-attestation-type", json_string("tdxvm"));
    json_object_set_new(c, "eat_profile", json_string("https://aka.ms/maa-eat-profile-tdxvm"));
    json_object_set_new(c, "dbgstat", json_string(t->debug ? "enabled" : "disabled"));
    json_object_set_new(c, "intuse", json_string("generic"));
    json_object_set_new(c, "attester_tcb_status", json_string(att_tcb_status_name(r->status)));
    json_object_set_new(c, "attester_advisory_ids", att_ev_dcap_advisories(r));
    att_json_set_hex(c, "tdx_mrtd", t->mrtd, 48);
    att_json_set_hex(c, "tdx_mrseam", t->mrseam, 48);
    att_json_set_hex(c, "tdx_mrsignerseam", t->mrsignerseam, 48);
    att_json_set_hex(c, "tdx_mrconfigid", t->mrconfigid, 48);
    att_json_set_hex(c, "tdx_mrowner", t->mrowner, 48);
    att_json_set_hex(c, "tdx_mrownerconfig", t->mrownerconfig, 48);
    for (int i = 0; i < 4; i++) {
        char k[16];
        snprintf(k, sizeof(k), "tdx_rtmr%d", i);
        att_json_set_hex(c, k, t->rtmr[i], 48);
    }
    att_json_set_hex(c, "tdx_report_data", t->report_data, 64);
    att_json_set_hex(c, "tdx_seam_attributes", t->seam_attributes, 8);
    att_json_set_hex(c, "tdx_td_attributes", t->td_attributes, 8);
    att_json_set_hex(c, "tdx_xfam", t->xfam, 8);
    att_json_set_hex(c, "tdx_tee_tcb_svn", t->tee_tcb_svn, 16);
    /* SEAM SVN: module major version in the high byte, SVN in the low byte. */
    json_object_set_new(c, "tdx_seamsvn", json_integer(t->tee_tcb_svn[1] << 8 | t->tee_tcb_svn[0]));
    uint64_t a = att_le64(t->td_attributes);
    json_object_set_new(c, "tdx_td_attributes_debug", json_boolean(a & 1));
    json_object_set_new(c, "tdx_td_attributes_septve_disable", json_boolean((a >> 28) & 1));
    json_object_set_new(c, "tdx_td_attributes_protection_keys", json_boolean((a >> 30) & 1));
    json_object_set_new(c, "tdx_td_attributes_key_locker", json_boolean((a >> 31) & 1));
    json_object_set_new(c, "tdx_td_attributes_perfmon", json_boolean((a >> 63) & 1));
    att_json_set_hex(c, "tdx_fmspc", r->fmspc, 6);
    att_ev_dcap_mark_simulated(c, r);
}

static att_err_t att_tdx_verify(void *inst, const att_ev_input_t *in, att_ev_result_t *out)
{
    att_dcap_collateral_t *coll = NULL;
    att_err_t e = att_ev_dcap_quote(inst, in, in->evidence, in->len, ATT_TEE_TDX, out, &coll);
    att_dcap_collateral_free(coll);
    if (e != ATT_OK)
        return e;
    const att_dcap_result_t *r = out->detail;
    out->claims = json_object();
    att_tdx_claims(out->claims, r);
    out->report_data = r->quote.td.report_data;
    out->report_data_name = "the TD report's REPORTDATA";
    out->init_data = r->quote.td.mrconfigid;
    out->init_data_name = "MRCONFIGID";
    return ATT_OK;
}

static const char *const att_tdx_fields[] = {"quote", NULL};

const att_ev_type_t att_ev_tdx = {
    .name = "TdxVm",
    .attestation_type = "tdxvm",
    .fields = att_tdx_fields,
    .api_version = "2023-04-01-preview", /* MAA defines TdxVm from this version on */
    .runtime_claim = NULL,
    .claims = att_tdx_claims_supported,
    .default_policy = att_ev_policy_permit_all,
    .backend = &att_ev_dcap_backend,
    .verify = att_tdx_verify,
};
