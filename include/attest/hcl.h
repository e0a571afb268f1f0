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
 * (att_snp_verify) and the vTPM quote the keys are for (the TPM verifier).
 */
#ifndef ATTEST_HCL_H
#define ATTEST_HCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

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

#ifdef __cplusplus
}
#endif
#endif
