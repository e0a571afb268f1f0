/* sgx.c - the SgxEnclave type: an SGX DCAP quote (member "quote"; the 2018 preview's "Quote"),
 * verified by the DCAP backend, with MAA's x-ms-sgx-* claims (docs/claims.md).
 * Not checked here: anything policy decides (debug, TCB status acceptance, measurements).
 */
#include "ev_int.h"

#include "core/util.h"

/* MAA's default SGX policy (policy-examples, "Default policy for an SGX enclave"); OpenEnclave
 * has the same. */
const char att_ev_policy_sgx[] =
    "version= 1.1;\n"
    "configurationrules{\n"
    "\t=> issueproperty(type=\"x-ms-sgx-tcbidentifier\", value=\"azuredefault\");\n"
    "};\n"
    "authorizationrules{\n"
    "\t=> permit();\n"
    "};\n"
    "issuancerules{\n"
    "\tc:[type==\"x-ms-sgx-is-debuggable\"] => issue(type=\"is-debuggable\", value=c.value);\n"
    "\tc:[type==\"x-ms-sgx-mrsigner\"] => issue(type=\"sgx-mrsigner\", value=c.value);\n"
    "\tc:[type==\"x-ms-sgx-mrenclave\"] => issue(type=\"sgx-mrenclave\", value=c.value);\n"
    "\tc:[type==\"x-ms-sgx-product-id\"] => issue(type=\"product-id\", value=c.value);\n"
    "\tc:[type==\"x-ms-sgx-svn\"] => issue(type=\"svn\", value=c.value);\n"
    "\tc:[type==\"x-ms-attestation-type\"] => issue(type=\"tee\", value=c.value);\n"
    "};\n";

/* ATTRIBUTES.FLAGS bit 7: Key Separation and Sharing (Intel SDM, SECS.ATTRIBUTES). */
#define ATT_SGX_FLAGS_KSS 0x80u

/* The claims OpenID metadata advertises for SGX evidence (MAA's claims_supported). */
static const char *const att_sgx_claims_supported[] = {
    "x-ms-sgx-is-debuggable", "x-ms-sgx-mrsigner", "x-ms-sgx-mrenclave",
    "x-ms-sgx-product-id",    "x-ms-sgx-svn",      NULL};

static void att_sgx_report_claims(json_t *c, const att_dcap_result_t *r)
{
    const att_sgx_report_t *s = &r->quote.sgx;
    json_object_set_new(c, "x-ms-sgx-is-debuggable", json_boolean(s->debug));
    json_object_set_new(c, "x-ms-sgx-product-id", json_integer(s->isvprodid));
    json_object_set_new(c, "x-ms-sgx-svn", json_integer(s->isvsvn));
    att_json_set_hex(c, "x-ms-sgx-mrenclave", s->mrenclave, 32);
    att_json_set_hex(c, "x-ms-sgx-mrsigner", s->mrsigner, 32);
    att_json_set_hex(c, "x-ms-sgx-report-data", s->report_data, 64);
    /* As MAA: the Key Separation and Sharing fields only for an enclave that has KSS enabled
     * (ATTRIBUTES.FLAGS bit 7); elsewhere they are zero and mean nothing. */
    if (s->attributes[0] & ATT_SGX_FLAGS_KSS) {
        att_json_set_hex(c, "x-ms-sgx-config-id", s->configid, 64);
        json_object_set_new(c, "x-ms-sgx-config-svn", json_integer(s->configsvn));
        att_json_set_hex(c, "x-ms-sgx-isv-extended-product-id", s->isvextprodid, 16);
        att_json_set_hex(c, "x-ms-sgx-isv-family-id", s->isvfamilyid, 16);
    }
    att_json_set_hex(c, "x-ms-sgx-attributes", s->attributes, 16);
    json_object_set_new(c, "x-ms-sgx-miscselect", json_integer(s->miscselect));
    att_json_set_hex(c, "x-ms-sgx-cpusvn", s->cpusvn, 16);
    json_object_set_new(c, "x-ms-sgx-tcb-status", json_string(att_tcb_status_name(r->status)));
    json_object_set_new(c, "x-ms-sgx-advisory-ids", att_ev_dcap_advisories(r));
    att_json_set_hex(c, "x-ms-sgx-fmspc", r->fmspc, 6);
}

att_err_t att_ev_sgx_quote(void *inst, const att_ev_input_t *in, const uint8_t *q, size_t len,
                           att_ev_result_t *out)
{
    att_dcap_collateral_t *coll = NULL;
    att_err_t e = att_ev_dcap_quote(inst, in, q, len, ATT_TEE_SGX, out, &coll);
    if (e == ATT_OK) {
        const att_dcap_result_t *r = out->detail;
        out->claims = json_object();
        json_object_set_new(out->claims, "x-ms-attestation-type", json_string("sgx"));
        att_sgx_report_claims(out->claims, r);
        json_object_set_new(out->claims, "x-ms-sgx-collateral",
                            att_ev_dcap_collateral_json(coll, q, len));
        att_ev_dcap_mark_simulated(out->claims, r);
        out->report_data = r->quote.sgx.report_data;
        out->report_data_name = "the enclave's REPORTDATA";
        out->init_data = r->quote.sgx.configid;
        out->init_data_name = "CONFIGID";
    }
    att_dcap_collateral_free(coll);
    return e;
}

static att_err_t att_sgx_verify(void *inst, const att_ev_input_t *in, att_ev_result_t *out)
{
    return att_ev_sgx_quote(inst, in, in->evidence, in->len, out);
}

static const char *const att_sgx_fields[] = {"quote", "Quote", NULL};

const att_ev_type_t att_ev_sgx = {
    .name = "SgxEnclave",
    .attestation_type = "sgx",
    .fields = att_sgx_fields,
    .api_version = "2022-08-01",
    .runtime_claim = "x-ms-sgx-ehd",
    .claims = att_sgx_claims_supported,
    .default_policy = att_ev_policy_sgx,
    .backend = &att_ev_dcap_backend,
    .verify = att_sgx_verify,
};
