/* hcl.c - the Azure HCL report around an SNP report (attest/hcl.h): header, runtime data and its
 * binding into report_data. The SNP report inside is verified by att_snp_verify, not here.
 */
#include <string.h>

#include "attest/hcl.h"
#include "core/cursor.h"
#include "core/json.h"
#include "core/util.h"
#include "crypto/crypto.h"

ATT_API bool att_hcl_is_report(const uint8_t *buf, size_t len)
{
    return buf != NULL && len >= 4 && memcmp(buf, "HCLA", 4) == 0;
}

ATT_API att_err_t att_hcl_report_parse(const uint8_t *buf, size_t len, att_hcl_report_t *h,
                                       att_diag_t *diag)
{
    memset(h, 0, sizeof(*h));
    att_cursor_t c = att_cursor(buf, len);
    const uint8_t *magic, *reserved;
    uint32_t version, report_size, request_type, status;
    if (!att_cur_bytes(&c, 4, &magic) || !att_cur_u32(&c, &version) ||
        !att_cur_u32(&c, &report_size) || !att_cur_u32(&c, &request_type) ||
        !att_cur_u32(&c, &status) || !att_cur_bytes(&c, 12, &reserved))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: the header needs %d bytes, the evidence has %zu",
                            ATT_HCL_HEADER_LEN, len);
    if (memcmp(magic, "HCLA", 4) != 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "HCL report: the magic is not \"HCLA\"");
    if (version != 1 && version != 2)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: version %u is not supported (1 and 2 are)", version);
    if (request_type != 2)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: request type %u is not a hardware report (2)",
                            request_type);
    if (status != 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: the paravisor reported status %u (not 0)", status);
    if (!att_cur_bytes(&c, ATT_HCL_HW_REPORT_LEN, &h->report))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: the hardware report needs %d bytes, %zu follow the header",
                            ATT_HCL_HW_REPORT_LEN, len - ATT_HCL_HEADER_LEN);
    uint32_t data_size, rt_version, report_type, hash_type, var_size;
    if (!att_cur_u32(&c, &data_size) || !att_cur_u32(&c, &rt_version) ||
        !att_cur_u32(&c, &report_type) || !att_cur_u32(&c, &hash_type) ||
        !att_cur_u32(&c, &var_size))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: the runtime data header (20 bytes) is cut short");
    if (rt_version != 1)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: runtime data version %u is not supported (1 is)",
                            rt_version);
    if (report_type != 2)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: report type %u is not SEV-SNP (2)%s", report_type,
                            report_type == 4 ? "; a TDX HCL report goes to TdxVm" : "");
    if (hash_type != 1)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: runtime data hash type %u is not SHA-256 (1)", hash_type);
    if (var_size == 0 || var_size > ATT_HCL_MAX_RUNTIME)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: runtime data of %u bytes (1 to %d are taken)", var_size,
                            ATT_HCL_MAX_RUNTIME);
    if (data_size != var_size + 20)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: runtime data size %u is not its header (20) plus its "
                            "variable data (%u)",
                            data_size, var_size);
    if ((uint64_t)report_size != (uint64_t)ATT_HCL_HEADER_LEN + ATT_HCL_HW_REPORT_LEN + data_size)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: report size %u is not header + hardware report + runtime "
                            "data (%u)",
                            report_size, ATT_HCL_HEADER_LEN + ATT_HCL_HW_REPORT_LEN + data_size);
    if (!att_cur_bytes(&c, var_size, &h->runtime_data))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: %u bytes of runtime data declared, %zu follow", var_size,
                            att_cur_left(&c));
    h->runtime_len = var_size;
    /* Zero padding only after the runtime data (the vTPM NV index is a fixed 2600 bytes). */
    for (size_t i = c.off; i < len; i++)
        if (buf[i] != 0)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "HCL report: byte %zu after the runtime data is not zero padding",
                                i);
    json_error_t je;
    h->runtime =
        att_json_loadb((const char *)h->runtime_data, h->runtime_len, JSON_REJECT_DUPLICATES, &je);
    if (h->runtime == NULL || !json_is_object(h->runtime)) {
        att_hcl_report_clear(h);
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "HCL report: the runtime data is not a JSON object%s%s",
                            h->runtime ? "" : ": ", h->runtime ? "" : je.text);
    }
    h->version = version;
    return ATT_OK;
}

ATT_API att_err_t att_hcl_check_binding(const att_hcl_report_t *h, const uint8_t report_data[64],
                                        att_diag_t *diag)
{
    uint8_t d[32];
    char a[65], b[65];
    if (!att_sha256_2(h->runtime_data, h->runtime_len, NULL, 0, d))
        return att_diag_set(diag, ATT_E_INTERNAL, "SHA-256 failed");
    if (!att_ct_equal(d, report_data, 32)) {
        att_hex_encode(d, 32, a);
        att_hex_encode(report_data, 32, b);
        return att_diag_set(diag, ATT_E_EVIDENCE_BINDING,
                            "HCL report: SHA-256 of the runtime data is %s but the SNP report's "
                            "REPORT_DATA starts with %s",
                            a, b);
    }
    for (int i = 32; i < 64; i++)
        if (report_data[i] != 0)
            return att_diag_set(diag, ATT_E_EVIDENCE_BINDING,
                                "HCL report: REPORT_DATA byte %d is not zero (only the first 32 "
                                "bytes bind the runtime data)",
                                i);
    return ATT_OK;
}

ATT_API void att_hcl_report_clear(att_hcl_report_t *h)
{
    if (h == NULL)
        return;
    json_decref(h->runtime);
    memset(h, 0, sizeof(*h));
}
