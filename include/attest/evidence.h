/* attest/evidence.h - every TEE verifier behind one interface (parse, verify, claims).
 *
 *   const att_ev_verifier_t *v = att_ev_find("SgxEnclave");     // OpenEnclave, TdxVm, ...
 *   att_ev_ctx_t ctx = {.trust = trust, .cache = cache, .collateral = my_source, .arg = src,
 *                       .now = now};
 *   att_ev_result_t r;
 *   if (v->verify(&ctx, evidence, len, &r) == ATT_OK) {
 *       att_ev_bind(&r, runtime, rlen, init, ilen, &diag);       // MAA's data binding
 *       ... r.claims: {"x-ms-sgx-mrenclave": "...", ...} for the policy and the token ...
 *   }
 *   att_ev_result_clear(&r);
 *
 * The service routes by type name and never names a TEE's internals. A verifier checks the
 * evidence completely (for DCAP: docs/dcap.md) and turns it into MAA's claim names. Not checked
 * here: policy (debug, TCB status acceptance, measurements) and runtime data contents.
 */
#ifndef ATTEST_EVIDENCE_H
#define ATTEST_EVIDENCE_H

#include <jansson.h>

#include "attest/dcap.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Gives verified collateral for (tee, fmspc, ca) at now: a new reference, or an error. */
typedef att_err_t (*att_ev_collateral_fn)(void *arg, att_tee_t tee, const uint8_t fmspc[6],
                                          const char *ca, att_time_t now,
                                          att_dcap_collateral_t **out, att_diag_t *diag);

typedef struct {
    const att_trust_t *trust;
    att_dcap_cache_t *cache; /* may be NULL */
    att_ev_collateral_fn collateral;
    void *arg;
    att_time_t now;
} att_ev_ctx_t;

typedef struct {
    att_diag_t diag;
    att_dcap_result_t *dcap;    /* the quote verification (heap, owned) */
    json_t *claims;             /* MAA incoming claims (owned) */
    const uint8_t *report_data; /* 64 bytes inside dcap->quote */
    const uint8_t *init_field;  /* CONFIGID (SGX, 64) or MRCONFIGID (TDX, 48) */
    size_t init_field_len;
} att_ev_result_t;

typedef struct {
    const char *name;             /* URL path type: "SgxEnclave", "OpenEnclave", "TdxVm" */
    const char *attestation_type; /* x-ms-attestation-type: "sgx", "tdxvm" */
    att_err_t (*verify)(const att_ev_ctx_t *ctx, const uint8_t *evidence, size_t len,
                        att_ev_result_t *out);
} att_ev_verifier_t;

/* The verifier of a type (case-sensitive, as in MAA paths), or NULL. */
ATT_API const att_ev_verifier_t *att_ev_find(const char *name);

/* MAA's binding: SHA-256(runtime) must equal the first 32 bytes of report_data, and
 * SHA-256(init) the first 32 bytes of CONFIGID / MRCONFIGID. NULL data is not checked.
 * Mismatch: ATT_E_EVIDENCE_BINDING with both digests in the message. */
ATT_API att_err_t att_ev_bind(const att_ev_result_t *r, const uint8_t *runtime, size_t rlen,
                              const uint8_t *init, size_t ilen, att_diag_t *diag) ATT_WUR;

ATT_API void att_ev_result_clear(att_ev_result_t *r);

/* The Open Enclave report header (oe_report_header_t): version 1, type 2 (SGX remote), size;
 * the SGX quote follows. Sets quote and qlen. */
ATT_API att_err_t att_oe_report_parse(const uint8_t *buf, size_t len, const uint8_t **quote,
                                      size_t *qlen, att_diag_t *diag) ATT_WUR;

#ifdef __cplusplus
}
#endif
#endif
