/* attest/hcl.h - the Azure confidential VM "HCL report": what the paravisor stores in the vTPM,
 * an SNP report whose report_data binds the paravisor's runtime data (its vTPM keys and VM
 * configuration).
 *
 *   att_hcl_report_t h;
 *   if (att_hcl_report_parse(buf, len, &h, &diag) == ATT_OK) {
 *       ... att_snp_verify on h.report (0x4A0 bytes), then att_hcl_check_binding(&h, rd, &diag)
 *           with the verified report's report_data; h.runtime: the runtime-data JSON ...
 *   }
 *   att_hcl_report_clear(&h);
 *
 * Layout (docs/snp.md): a 32-byte header (magic "HCLA", version 1 or 2, report_size, request
 * type 2, status, 12 reserved bytes), the 0x4A0-byte hardware report, then the runtime data
 * header (data_size, version 1, report_type 2 = SNP, hash_type 1 = SHA-256, variable_data_size)
 * and variable_data, a JSON object; zero padding may follow. Every size is checked against the
 * buffer and against the others. Checked by att_hcl_check_binding: SHA-256(variable_data) equals
 * report_data[0:32] and report_data[32:64] is zero. NOT checked here: the SNP report itself
 * (att_snp_verify).
 *
 * The vTPM quote that comes with the HCL report (att_hcl_quote_verify): verified by att_tpm_verify
 * with the AK of the runtime data (the JWK "HCLAkPub"), so the AK is trusted only through the SNP
 * report's binding of the runtime data; call it after att_snp_verify and att_hcl_check_binding.
 *
 *   att_snp_evidence_t ev;                                 // MAA's or Trustee's JSON evidence
 *   if (att_snp_evidence_parse(json, n, &ev, &diag) == ATT_OK && ev.has_quote) {
 *       ... verify ev.report (an HCL report), then
 *       att_tpm_result_t t;
 *       att_hcl_quote_verify(&h, &ev.quote, nonce, nonce_len, &t);   // nonce NULL: not checked
 *       att_tpm_result_free(&t);
 *   }
 *   att_snp_evidence_clear(&ev);
 */
#ifndef ATTEST_HCL_H
#define ATTEST_HCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/tpm.h"
#include "attest/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ATT_HCL_HEADER_LEN    32
#define ATT_HCL_HW_REPORT_LEN 0x4A0
/* variable_data larger than this is refused (real ones are about 2 kB). */
#define ATT_HCL_MAX_RUNTIME (64 * 1024)

typedef struct {
    uint32_t version;      /* 1 or 2 */
    const uint8_t *report; /* the SNP report, ATT_HCL_HW_REPORT_LEN bytes, inside the buffer */
    const uint8_t *runtime_data; /* variable_data, inside the buffer */
    size_t runtime_len;
    json_t *runtime; /* variable_data parsed (owned): {"keys": [...], "vm-configuration": ...} */
} att_hcl_report_t;

/* True when buf starts with the HCL report magic. */
ATT_API bool att_hcl_is_report(const uint8_t *buf, size_t len);
/* Parse; ATT_E_EVIDENCE_FORMAT naming the field that is wrong. The buffer must outlive h. */
ATT_API att_err_t att_hcl_report_parse(const uint8_t *buf, size_t len, att_hcl_report_t *h,
                                       att_diag_t *diag) ATT_WUR;
/* SHA-256(variable_data) == report_data[0:32] and report_data[32:64] zero, else
 * ATT_E_EVIDENCE_BINDING with both values. */
ATT_API att_err_t att_hcl_check_binding(const att_hcl_report_t *h, const uint8_t report_data[64],
                                        att_diag_t *diag) ATT_WUR;
ATT_API void att_hcl_report_clear(att_hcl_report_t *h);

/* ---- the vTPM quote ------------------------------------------------------------------------ */

/* Format bounds of a quote in JSON evidence (the TPM's own sizes, not tunables): a TPMS_ATTEST
 * (TPM2B_ATTEST holds at most sizeof(TPMS_ATTEST), 2304 bytes in tpm2-tss), a signature (the
 * TPMT_SIGNATURE of an RSA-4096 key, 518 bytes; bare ones are shorter), PCRs 0-23. */
#define ATT_HCL_QUOTE_MAX_MSG 2304
#define ATT_HCL_QUOTE_MAX_SIG 518

/* A vTPM quote (owned buffers). */
typedef struct {
    uint8_t *msg; /* TPMS_ATTEST */
    size_t msg_len;
    uint8_t *sig; /* raw RSASSA signature, TPMT_SIGNATURE, or DER ECDSA */
    size_t sig_len;
    uint8_t *pcrs; /* the values of the PCRs the quote selects, in selection order */
    size_t pcrs_len;
} att_hcl_quote_t;

/* Read Trustee's quote object {"message": hex TPMS_ATTEST, "signature": hex, "pcrs": [hex, ...]}
 * where pcrs[i] is PCR i of the quote's one bank (24 values in Trustee's evidence; every PCR the
 * quote selects must have its value, each of the bank's digest size); no other member (an AK in
 * particular: it is the runtime data's). The message is parsed to learn its selection
 * (att_tpm_attest_parse). ATT_E_EVIDENCE_FORMAT naming the member that is
 * wrong; ATT_E_UNSUPPORTED for a quote over several banks (one list cannot give them). */
ATT_API att_err_t att_hcl_quote_from_json(const json_t *o, att_hcl_quote_t *q,
                                          att_diag_t *diag) ATT_WUR;
ATT_API void att_hcl_quote_clear(att_hcl_quote_t *q);

/* Verify the quote with the AK of h's runtime data (the JWK "HCLAkPub"): att_tpm_verify's checks
 * (structure, signature, extraData, pcrDigest; docs/tpm.md). nonce: the expected extraData, or
 * NULL when the caller has none: extraData is then not checked (res->attest.extra_data says what
 * it is). res must be released with att_tpm_result_free whatever the outcome. */
ATT_API att_err_t att_hcl_quote_verify(const att_hcl_report_t *h, const att_hcl_quote_t *q,
                                       const uint8_t *nonce, size_t nonce_len,
                                       att_tpm_result_t *res) ATT_WUR;

/* ---- the JSON evidence of SEV-SNP VMs ---------------------------------------------------------
 */

/* The largest base64url member taken (a report with a PEM chain is about 6 kB). */
#define ATT_SNP_EVIDENCE_MAX_PART (256 * 1024)

/* One of (docs/snp.md "Evidence forms"):
 * - MAA's {"SnpReport": b64url(report or HCL report), "VcekCertChain"?: b64url(PEM),
 *   "Endorsements"?: (not read), "tpm_quote"?: quote object};
 * - Trustee's az-snp-vtpm {"version": 1, "hcl_report": b64url(HCL report), "tpm_quote": quote
 *   object, "vcek"?: b64url(DER VCEK)}.
 * The quote object is att_hcl_quote_from_json's. Buffers owned. */
typedef struct {
    uint8_t *report; /* the SNP report or HCL report */
    size_t report_len;
    uint8_t *chain; /* VcekCertChain (PEM), or NULL */
    size_t chain_len;
    uint8_t *leaf; /* Trustee's vcek (DER), or NULL */
    size_t leaf_len;
    bool has_quote;
    att_hcl_quote_t quote;
} att_snp_evidence_t;

/* Parse buf (a JSON object). ATT_E_EVIDENCE_FORMAT naming the member that is wrong, and for a
 * tpm_quote whose report is not an HCL report (only its runtime data can give the AK). */
ATT_API att_err_t att_snp_evidence_parse(const uint8_t *buf, size_t len, att_snp_evidence_t *ev,
                                         att_diag_t *diag) ATT_WUR;
ATT_API void att_snp_evidence_clear(att_snp_evidence_t *ev);

#ifdef __cplusplus
}
#endif
#endif
