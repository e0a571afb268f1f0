/* json.c - JSON views of a parsed quote and of a verification result (jansson). */
#include <string.h>

#include "core/util.h"
#include "dcap/dcap_internal.h"

static void att_sgx_fields(json_t *o, const att_sgx_report_t *r)
{
    att_json_set_hex(o, "mrenclave", r->mrenclave, 32);
    att_json_set_hex(o, "mrsigner", r->mrsigner, 32);
    json_object_set_new(o, "isvprodid", json_integer(r->isvprodid));
    json_object_set_new(o, "isvsvn", json_integer(r->isvsvn));
    att_json_set_hex(o, "attributes", r->attributes, 16);
    json_object_set_new(o, "debug", json_boolean(r->debug));
    att_json_set_hex(o, "cpusvn", r->cpusvn, 16);
    json_object_set_new(o, "miscselect", json_integer(r->miscselect));
    att_json_set_hex(o, "configid", r->configid, 64);
    json_object_set_new(o, "configsvn", json_integer(r->configsvn));
    att_json_set_hex(o, "isvextprodid", r->isvextprodid, 16);
    att_json_set_hex(o, "isvfamilyid", r->isvfamilyid, 16);
    att_json_set_hex(o, "report_data", r->report_data, 64);
}

static void att_td_fields(json_t *o, const att_td_report_t *r, bool td15)
{
    att_json_set_hex(o, "mrtd", r->mrtd, 48);
    for (int i = 0; i < 4; i++) {
        char k[8];
        snprintf(k, sizeof(k), "rtmr%d", i);
        att_json_set_hex(o, k, r->rtmr[i], 48);
    }
    att_json_set_hex(o, "mrseam", r->mrseam, 48);
    att_json_set_hex(o, "mrsignerseam", r->mrsignerseam, 48);
    att_json_set_hex(o, "mrconfigid", r->mrconfigid, 48);
    att_json_set_hex(o, "mrowner", r->mrowner, 48);
    att_json_set_hex(o, "mrownerconfig", r->mrownerconfig, 48);
    att_json_set_hex(o, "td_attributes", r->td_attributes, 8);
    json_object_set_new(o, "debug", json_boolean(r->debug));
    att_json_set_hex(o, "seam_attributes", r->seam_attributes, 8);
    att_json_set_hex(o, "xfam", r->xfam, 8);
    att_json_set_hex(o, "tee_tcb_svn", r->tee_tcb_svn, 16);
    if (td15) {
        att_json_set_hex(o, "tee_tcb_svn2", r->tee_tcb_svn2, 16);
        att_json_set_hex(o, "mrservicetd", r->mrservicetd, 48);
    }
    att_json_set_hex(o, "report_data", r->report_data, 64);
}

ATT_API json_t *att_quote_report_json(const att_quote_t *q)
{
    json_t *o = json_object();
    if (o == NULL || q == NULL)
        return o;
    if (q->body_type == ATT_BODY_SGX)
        att_sgx_fields(o, &q->sgx);
    else if (q->body_type == ATT_BODY_TD10 || q->body_type == ATT_BODY_TD15)
        att_td_fields(o, &q->td, q->body_type == ATT_BODY_TD15);
    return o;
}

static const char *att_body_name(att_body_type_t b)
{
    switch (b) {
    case ATT_BODY_SGX:
        return "sgx_enclave_report";
    case ATT_BODY_TD10:
        return "td_report_1.0";
    case ATT_BODY_TD15:
        return "td_report_1.5";
    }
    return "unknown";
}

ATT_API json_t *att_quote_json(const att_quote_t *q)
{
    json_t *o = json_object(), *h = json_object(), *sd = json_object(), *qe = json_object();
    char tee[16];
    snprintf(tee, sizeof(tee), "0x%08x", q->tee_type);
    json_object_set_new(h, "version", json_integer(q->version));
    json_object_set_new(h, "att_key_type", json_integer(q->att_key_type));
    json_object_set_new(h, "tee_type", json_string(tee));
    json_object_set_new(h, "qe_svn", json_integer(q->qe_svn));
    json_object_set_new(h, "pce_svn", json_integer(q->pce_svn));
    att_json_set_hex(h, "qe_vendor_id", q->qe_vendor_id, 16);
    att_json_set_hex(h, "user_data", q->user_data, 20);
    json_object_set_new(o, "header", h);
    json_object_set_new(o, "tee", json_string(q->tee_type == ATT_TEE_TDX ? "tdx" : "sgx"));
    json_object_set_new(o, "body_type", json_string(att_body_name(q->body_type)));
    json_object_set_new(o, "body", att_quote_report_json(q));
    json_object_set_new(o, "signed_len", json_integer((json_int_t)q->signed_region.len));
    json_object_set_new(sd, "length", json_integer(q->sig_data_len));
    if (q->signature != NULL) {
        att_json_set_hex(sd, "signature", q->signature, 64);
        att_json_set_hex(sd, "attestation_key", q->attest_key, 64);
    }
    json_object_set_new(sd, "outer_cert_type", json_integer(q->outer_cert_type));
    if (q->qe_report != NULL) {
        att_sgx_fields(qe, &q->qe);
        json_object_set_new(sd, "qe_report", qe);
        qe = NULL;
        att_json_set_hex(sd, "qe_report_signature", q->qe_report_sig, 64);
        json_object_set_new(sd, "qe_auth_data_len", json_integer((json_int_t)q->qe_auth_data.len));
        json_object_set_new(sd, "cert_type", json_integer(q->cert_type));
        json_object_set_new(sd, "pck_chain_len", json_integer((json_int_t)q->pck_chain.len));
    }
    json_decref(qe);
    json_object_set_new(o, "signature_data", sd);
    json_object_set_new(o, "quote_len", json_integer((json_int_t)q->quote_len));
    json_object_set_new(o, "trailing_bytes", json_integer((json_int_t)q->trailing));
    return o;
}

ATT_API json_t *att_dcap_result_json(const att_dcap_result_t *res)
{
    json_t *o = json_object();
    const att_quote_t *q = &res->quote;
    char t[ATT_TIME_STRLEN];
    json_object_set_new(o, "verdict", json_string(res->accepted ? "accept" : "reject"));
    json_object_set_new(o, "status",
                        res->status == ATT_TCB_UNKNOWN
                            ? json_null()
                            : json_string(att_tcb_status_name(res->status)));
    json_t *adv = json_array();
    for (size_t i = 0; i < res->n_advisories; i++)
        json_array_append_new(adv, json_string(res->advisory_ids[i]));
    json_object_set_new(o, "advisory_ids", adv);
    bool parsed = q->version != 0 && q->body_type != 0;
    json_object_set_new(
        o, "tee", parsed ? json_string(res->tee == ATT_TEE_TDX ? "tdx" : "sgx") : json_null());
    if (res->accepted)
        json_object_set_new(o, "error", json_null());
    else
        json_object_set_new(o, "error",
                            json_pack("{s:s,s:i,s:s}", "code", att_err_name(res->diag.code),
                                      "number", (int)res->diag.code, "message", res->diag.msg));
    if (parsed) {
        json_object_set_new(o, "quote_version", json_integer(q->version));
        json_object_set_new(o, "body_type", json_string(att_body_name(q->body_type)));
        json_object_set_new(o, "trailing_bytes", json_integer((json_int_t)q->trailing));
    }
    static const uint8_t zero6[6];
    if (memcmp(res->fmspc, zero6, 6) != 0) {
        att_json_set_hex(o, "fmspc", res->fmspc, 6);
        att_json_set_hex(o, "pceid", res->pceid, 2);
        json_object_set_new(o, "pcesvn", json_integer(res->pcesvn));
    }
    if (res->platform_status)
        json_object_set_new(o, "platform_status",
                            json_string(att_tcb_status_name(res->platform_status)));
    if (res->qe_status)
        json_object_set_new(o, "qe_status", json_string(att_tcb_status_name(res->qe_status)));
    if (res->module_status)
        json_object_set_new(o, "tdx_module_status",
                            json_string(att_tcb_status_name(res->module_status)));
    if (res->fmspc[0] || res->fmspc[1] || res->fmspc[2] || res->fmspc[3] || res->fmspc[4] ||
        res->fmspc[5])
        json_object_set_new(o, "intel_root", json_boolean(res->intel_root));
    if (res->collateral_expiry)
        json_object_set_new(o, "collateral_expiry",
                            json_string(att_time_format(res->collateral_expiry, t)));
    if (parsed)
        json_object_update_new(o, att_quote_report_json(q));
    return o;
}
