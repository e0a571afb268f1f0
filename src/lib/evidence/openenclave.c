/* openenclave.c - the OpenEnclave type: an Open Enclave SDK report (member "report"), i.e. the
 * oe_report_header_t (version 1, type 2 = SGX remote, size) followed by an SGX quote, which is
 * verified and claimed exactly as SgxEnclave's (sgx.c).
 * Not checked here: what SgxEnclave leaves to policy; other OE report types (local reports).
 */
#include <stdlib.h>
#include <string.h>

#include "ev_int.h"

#include "core/cursor.h"
#include "core/util.h"

ATT_API att_err_t att_oe_report_parse(const uint8_t *buf, size_t len, const uint8_t **quote,
                                      size_t *qlen, att_diag_t *diag)
{
    att_cursor_t c = att_cursor(buf, len);
    uint32_t version, type;
    const uint8_t *sz;
    if (!att_cur_u32(&c, &version) || !att_cur_u32(&c, &type) || !att_cur_bytes(&c, 8, &sz))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "Open Enclave report header needs 16 bytes, the report has %zu", len);
    if (version != 1)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "Open Enclave report header version %u is not supported (1 is)",
                            version);
    if (type != 2)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "Open Enclave report type %u is not a remote SGX report (2)", type);
    uint64_t size = att_le64(sz);
    if (size != att_cur_left(&c))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "Open Enclave report header declares %llu bytes of report, %zu follow",
                            (unsigned long long)size, att_cur_left(&c));
    *quote = buf + c.off;
    *qlen = (size_t)size;
    return ATT_OK;
}

static att_err_t att_oe_verify(void *inst, const att_ev_input_t *in, att_ev_result_t *out)
{
    const uint8_t *q;
    size_t qlen;
    att_err_t e = att_oe_report_parse(in->evidence, in->len, &q, &qlen, &out->diag);
    if (e != ATT_OK)
        return e;
    return att_ev_sgx_quote(inst, in, q, qlen, out);
}

/* An SGX quote (version 3..5) in the 16-byte OE header (version 1, type 2, u64 size); an OE
 * report (u32 version 1 first) is copied as is. */
static att_err_t att_oe_wrap(const uint8_t *ev, size_t len, uint8_t **out, size_t *outlen,
                             att_diag_t *diag)
{
    bool is_oe = len >= 8 && ev[0] == 1 && ev[1] == 0 && ev[2] == 0 && ev[3] == 0;
    size_t hdr = is_oe ? 0 : 16;
    uint8_t *b = malloc(len + hdr);
    if (b == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    if (!is_oe) {
        memset(b, 0, 16);
        b[0] = 1;
        b[4] = 2;
        for (int i = 0; i < 8; i++)
            b[8 + i] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(b + hdr, ev, len);
    *out = b;
    *outlen = len + hdr;
    return ATT_OK;
}

static const char *const att_oe_fields[] = {"report", NULL};

const att_ev_type_t att_ev_openenclave = {
    .name = "OpenEnclave",
    .attestation_type = "sgx",
    .fields = att_oe_fields,
    .api_version = "2022-08-01",
    .runtime_claim = "x-ms-sgx-ehd",
    .claims = NULL, /* SgxEnclave's */
    .default_policy = att_ev_policy_sgx,
    .wraps = "SgxEnclave",
    .wrap = att_oe_wrap,
    .backend = &att_ev_dcap_backend,
    .verify = att_oe_verify,
};
