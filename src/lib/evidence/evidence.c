/* evidence.c - SGX, Open Enclave and TDX evidence behind att_ev_verifier_t, with MAA's claims.
 *
 * Claim names follow MAA (docs/claims.md): x-ms-sgx-* for SGX and Open Enclave, the EAT-style
 * tdx_* set for TDX. Verification is the DCAP verifier's (docs/dcap.md); this module only picks
 * the collateral, routes and names.
 */
#include <string.h>

#include "attest/evidence.h"
#include "core/cursor.h"
#include "core/util.h"
#include "crypto/crypto.h"

static json_t *att_advisories_json(const att_dcap_result_t *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_advisories; i++)
        json_array_append_new(a, json_string(r->advisory_ids[i]));
    return a;
}

static json_t *att_collateral_json(const att_dcap_collateral_t *c, const uint8_t *quote,
                                   size_t qlen)
{
    att_dcap_collateral_hashes_t h;
    att_dcap_collateral_hashes(c, &h);
    uint8_t qh[32];
    char qhex[65];
    if (!att_sha256_2(quote, qlen, NULL, 0, qh))
        memset(qh, 0, sizeof(qh));
    att_hex_encode(qh, 32, qhex);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "qeidcertshash", h.qeidcertshash,
                     "qeidcrlhash", h.qeidcrlhash, "qeidhash", h.qeidhash, "quotehash", qhex,
                     "tcbinfocertshash", h.tcbinfocertshash, "tcbinfocrlhash", h.tcbinfocrlhash,
                     "tcbinfohash", h.tcbinfohash);
}

/* Verify a DCAP quote of the expected TEE with collateral from the context. */
static att_err_t att_ev_dcap(const att_ev_ctx_t *ctx, const uint8_t *q, size_t len, att_tee_t want,
                             att_ev_result_t *out, att_dcap_collateral_t **collp)
{
    att_diag_t *d = &out->diag;
    out->dcap = calloc(1, sizeof(*out->dcap));
    if (out->dcap == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    att_quote_t parsed;
    att_err_t e = att_quote_parse(q, len, &parsed, d);
    if (e != ATT_OK)
        return e;
    if ((att_tee_t)parsed.tee_type != want)
        return att_diag_set(d, ATT_E_EVIDENCE_TYPE,
                            "the quote is a %s quote; this endpoint "
                            "takes %s",
                            parsed.tee_type == ATT_TEE_TDX ? "TDX" : "SGX",
                            want == ATT_TEE_TDX ? "TDX" : "SGX");
    uint8_t fmspc[6];
    const char *ca;
    if ((e = att_dcap_quote_pck_info(&parsed, ctx->cache, ctx->trust, fmspc, &ca, d)) != ATT_OK)
        return e;
    if (ctx->collateral == NULL)
        return att_diag_set(d, ATT_E_COLL_MISSING, "no collateral source");
    if ((e = ctx->collateral(ctx->arg, want, fmspc, ca, ctx->now, collp, d)) != ATT_OK)
        return e;
    e = att_dcap_verify_cached(q, len, *collp, ctx->trust, ctx->now, ctx->cache, out->dcap);
    if (e != ATT_OK)
        *d = out->dcap->diag;
    return e;
}

/* Evidence whose PCK chain ends at a root trusted only by configuration (a test or simulated
 * hierarchy) says so in its claims; genuine Intel evidence carries no such claim. */
static void att_mark_simulated(json_t *claims, const att_dcap_result_t *r)
{
    if (!r->intel_root)
        json_object_set_new(claims, "x-attestd-simulated", json_true());
}

static void att_sgx_claims(json_t *c, const att_dcap_result_t *r)
{
    const att_sgx_report_t *s = &r->quote.sgx;
    json_object_set_new(c, "x-ms-sgx-is-debuggable", json_boolean(s->debug));
    json_object_set_new(c, "x-ms-sgx-product-id", json_integer(s->isvprodid));
    json_object_set_new(c, "x-ms-sgx-svn", json_integer(s->isvsvn));
    att_json_set_hex(c, "x-ms-sgx-mrenclave", s->mrenclave, 32);
    att_json_set_hex(c, "x-ms-sgx-mrsigner", s->mrsigner, 32);
    att_json_set_hex(c, "x-ms-sgx-report-data", s->report_data, 64);
    att_json_set_hex(c, "x-ms-sgx-config-id", s->configid, 64);
    json_object_set_new(c, "x-ms-sgx-config-svn", json_integer(s->configsvn));
    att_json_set_hex(c, "x-ms-sgx-isv-extended-product-id", s->isvextprodid, 16);
    att_json_set_hex(c, "x-ms-sgx-isv-family-id", s->isvfamilyid, 16);
    att_json_set_hex(c, "x-ms-sgx-attributes", s->attributes, 16);
    json_object_set_new(c, "x-ms-sgx-miscselect", json_integer(s->miscselect));
    att_json_set_hex(c, "x-ms-sgx-cpusvn", s->cpusvn, 16);
    json_object_set_new(c, "x-ms-sgx-tcb-status", json_string(att_tcb_status_name(r->status)));
    json_object_set_new(c, "x-ms-sgx-advisory-ids", att_advisories_json(r));
    att_json_set_hex(c, "x-ms-sgx-fmspc", r->fmspc, 6);
}

static att_err_t att_verify_sgx_quote(const att_ev_ctx_t *ctx, const uint8_t *q, size_t len,
                                      att_ev_result_t *out)
{
    att_dcap_collateral_t *coll = NULL;
    att_err_t e = att_ev_dcap(ctx, q, len, ATT_TEE_SGX, out, &coll);
    if (e == ATT_OK) {
        out->claims = json_object();
        json_object_set_new(out->claims, "x-ms-attestation-type", json_string("sgx"));
        att_sgx_claims(out->claims, out->dcap);
        json_object_set_new(out->claims, "x-ms-sgx-collateral", att_collateral_json(coll, q, len));
        att_mark_simulated(out->claims, out->dcap);
        out->report_data = out->dcap->quote.sgx.report_data;
        out->init_field = out->dcap->quote.sgx.configid;
        out->init_field_len = 64;
    }
    att_dcap_collateral_free(coll);
    return e;
}

static att_err_t att_verify_sgx(const att_ev_ctx_t *ctx, const uint8_t *ev, size_t len,
                                att_ev_result_t *out)
{
    memset(out, 0, sizeof(*out));
    return att_verify_sgx_quote(ctx, ev, len, out);
}

ATT_API att_err_t att_oe_report_parse(const uint8_t *buf, size_t len, const uint8_t **quote,
                                      size_t *qlen, att_diag_t *diag)
{
    att_cursor_t c = att_cursor(buf, len);
    uint32_t version, type;
    const uint8_t *sz;
    if (!att_cur_u32(&c, &version) || !att_cur_u32(&c, &type) || !att_cur_bytes(&c, 8, &sz))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "Open Enclave report header needs 16 "
                            "bytes, the report has %zu",
                            len);
    if (version != 1)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "Open Enclave report header version %u "
                            "is not supported (1 is)",
                            version);
    if (type != 2)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "Open Enclave report type %u is not a "
                            "remote SGX report (2)",
                            type);
    uint64_t size = att_le64(sz);
    if (size != att_cur_left(&c))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "Open Enclave report header declares "
                            "%llu bytes of report, %zu follow",
                            (unsigned long long)size, att_cur_left(&c));
    *quote = buf + c.off;
    *qlen = (size_t)size;
    return ATT_OK;
}

static att_err_t att_verify_oe(const att_ev_ctx_t *ctx, const uint8_t *ev, size_t len,
                               att_ev_result_t *out)
{
    memset(out, 0, sizeof(*out));
    const uint8_t *q;
    size_t qlen;
    att_err_t e = att_oe_report_parse(ev, len, &q, &qlen, &out->diag);
    if (e != ATT_OK)
        return e;
    return att_verify_sgx_quote(ctx, q, qlen, out);
}

static att_err_t att_verify_tdx(const att_ev_ctx_t *ctx, const uint8_t *ev, size_t len,
                                att_ev_result_t *out)
{
    memset(out, 0, sizeof(*out));
    att_dcap_collateral_t *coll = NULL;
    att_err_t e = att_ev_dcap(ctx, ev, len, ATT_TEE_TDX, out, &coll);
    att_dcap_collateral_free(coll);
    if (e != ATT_OK)
        return e;
    const att_dcap_result_t *r = out->dcap;
    const att_td_report_t *t = &r->quote.td;
    json_t *c = out->claims = json_object();
    json_object_set_new(c, "x-ms-attestation-type", json_string("tdxvm"));
    json_object_set_new(c, "eat_profile", json_string("https://aka.ms/maa-eat-profile-tdxvm"));
    json_object_set_new(c, "dbgstat", json_string(t->debug ? "enabled" : "disabled"));
    json_object_set_new(c, "intuse", json_string("generic"));
    json_object_set_new(c, "attester_tcb_status", json_string(att_tcb_status_name(r->status)));
    json_object_set_new(c, "attester_advisory_ids", att_advisories_json(r));
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
    att_mark_simulated(c, r);
    out->report_data = t->report_data;
    out->init_field = t->mrconfigid;
    out->init_field_len = 48;
    return ATT_OK;
}

static const att_ev_verifier_t att_verifiers[] = {
    {"SgxEnclave", "sgx", att_verify_sgx},
    {"OpenEnclave", "sgx", att_verify_oe},
    {"TdxVm", "tdxvm", att_verify_tdx},
};

ATT_API const att_ev_verifier_t *att_ev_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < ATT_ARRAY_LEN(att_verifiers); i++)
        if (strcmp(att_verifiers[i].name, name) == 0)
            return &att_verifiers[i];
    return NULL;
}

static att_err_t att_bind_one(const uint8_t *data, size_t len, const uint8_t *field,
                              const char *what, const char *where, att_diag_t *diag)
{
    uint8_t h[32];
    char a[65], b[65];
    if (!att_sha256_2(data, len, NULL, 0, h))
        return att_diag_set(diag, ATT_E_INTERNAL, "SHA-256 failed");
    if (att_ct_equal(h, field, 32))
        return ATT_OK;
    att_hex_encode(h, 32, a);
    att_hex_encode(field, 32, b);
    return att_diag_set(diag, ATT_E_EVIDENCE_BINDING,
                        "SHA-256 of the %s is %s but the first 32 "
                        "bytes of %s are %s",
                        what, a, where, b);
}

ATT_API att_err_t att_ev_bind(const att_ev_result_t *r, const uint8_t *runtime, size_t rlen,
                              const uint8_t *init, size_t ilen, att_diag_t *diag)
{
    if (r == NULL || r->report_data == NULL)
        return att_diag_set(diag, ATT_E_ARG, "bind: no verified evidence");
    bool tdx = r->init_field_len == 48;
    att_err_t e;
    if (runtime != NULL &&
        (e = att_bind_one(runtime, rlen, r->report_data, "runtime data",
                          tdx ? "the TD report's REPORTDATA" : "the enclave's REPORTDATA", diag)))
        return e;
    if (init != NULL && (e = att_bind_one(init, ilen, r->init_field, "init-time data",
                                          tdx ? "MRCONFIGID" : "CONFIGID", diag)))
        return e;
    return ATT_OK;
}

ATT_API void att_ev_result_clear(att_ev_result_t *r)
{
    if (r == NULL)
        return;
    free(r->dcap);
    json_decref(r->claims);
    memset(r, 0, sizeof(*r));
}
