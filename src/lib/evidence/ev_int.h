/* ev_int.h - what the evidence types in this folder share: the registry's tables, the DCAP
 * backend that SgxEnclave, OpenEnclave and TdxVm verify with, and the default policies.
 * Not a public header (attest/evidence.h is the interface).
 */
#ifndef ATT_EV_INT_H
#define ATT_EV_INT_H

#include "attest/dcap.h"
#include "attest/evidence.h"
#include "attest/tpm.h"

/* The types, each in its own file; registry.c lists them. */
extern const att_ev_type_t att_ev_sgx;         /* sgx.c */
extern const att_ev_type_t att_ev_openenclave; /* openenclave.c */
extern const att_ev_type_t att_ev_tdx;         /* tdx.c */
extern const att_ev_type_t att_ev_sevsnp;      /* sevsnp.c */
extern const att_ev_type_t att_ev_tpm;         /* tpm.c */

/* An SGX quote verified with SgxEnclave's claims (sgx.c; OpenEnclave's report wraps one). */
att_err_t att_ev_sgx_quote(void *inst, const att_ev_input_t *in, const uint8_t *q, size_t len,
                           att_ev_result_t *out);

/* The PCR values of a TPM quote as claims, {"sha256": {"0": hex, ...}, ...} (tpm.c; the Tpm type
 * and the vTPM quote of SevSnpVm). idx, when given, gets the first bank's PCR indexes appended.
 * NULL when out of memory. */
struct json_t *att_ev_tpm_pcr_claims(const att_tpm_pcrs_t *p, struct json_t *idx);

/* Default policies shared by several types. */
extern const char att_ev_policy_sgx[];        /* sgx.c: MAA's default SGX policy */
extern const char att_ev_policy_permit_all[]; /* registry.c */

/* ---- the DCAP backend (dcap_backend.c) ---- */

extern const att_ev_backend_t att_ev_dcap_backend;
extern const att_ev_backend_t att_ev_snp_backend; /* sevsnp.c */

/* Verify a DCAP quote of the expected TEE with collateral asked from the input, into
 * out->detail (an att_dcap_result_t). *collp is the collateral used (release with
 * att_dcap_collateral_free), NULL when none was obtained. */
att_err_t att_ev_dcap_quote(void *inst, const att_ev_input_t *in, const uint8_t *q, size_t len,
                            att_tee_t want, att_ev_result_t *out, att_dcap_collateral_t **collp);
/* The advisory IDs as a JSON array. */
json_t *att_ev_dcap_advisories(const att_dcap_result_t *r);
/* MAA's x-ms-sgx-collateral object: the collateral's hashes and the quote's. */
json_t *att_ev_dcap_collateral_json(const att_dcap_collateral_t *c, const uint8_t *quote,
                                    size_t qlen);
/* "x-attestd-simulated": true when the chain ends at a root trusted only by configuration. */
void att_ev_dcap_mark_simulated(json_t *claims, const att_dcap_result_t *r);

#endif
