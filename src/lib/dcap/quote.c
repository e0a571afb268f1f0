/* quote.c - DCAP quote parser (v3 SGX, v4 SGX/TDX, v5 with body descriptor).
 *
 * Layouts: docs/dcap.md sections 1-3. Every length is checked before the field is read;
 * nothing is copied except fixed-size report fields. Not checked here: any signature,
 * certificate or collateral (see verify.c).
 */
#include <string.h>

#include "attest/dcap.h"
#include "core/cursor.h"
#include "dcap/dcap_internal.h"

static const uint8_t att_intel_qe_vendor[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                                0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

void att_sgx_report_parse(const uint8_t *b, att_sgx_report_t *r)
{
    memcpy(r->cpusvn, b + 0, 16);
    r->miscselect = att_le32(b + 16);
    memcpy(r->isvextprodid, b + 32, 16);
    memcpy(r->attributes, b + 48, 16);
    memcpy(r->mrenclave, b + 64, 32);
    memcpy(r->mrsigner, b + 128, 32);
    memcpy(r->configid, b + 192, 64);
    r->isvprodid = att_le16(b + 256);
    r->isvsvn = att_le16(b + 258);
    r->configsvn = att_le16(b + 260);
    memcpy(r->isvfamilyid, b + 304, 16);
    memcpy(r->report_data, b + 320, 64);
    r->debug = (b[48] & 0x02) != 0;
}

static void att_td_report_parse(const uint8_t *b, bool td15, att_td_report_t *r)
{
    memcpy(r->tee_tcb_svn, b + 0, 16);
    memcpy(r->mrseam, b + 16, 48);
    memcpy(r->mrsignerseam, b + 64, 48);
    memcpy(r->seam_attributes, b + 112, 8);
    memcpy(r->td_attributes, b + 120, 8);
    memcpy(r->xfam, b + 128, 8);
    memcpy(r->mrtd, b + 136, 48);
    memcpy(r->mrconfigid, b + 184, 48);
    memcpy(r->mrowner, b + 232, 48);
    memcpy(r->mrownerconfig, b + 280, 48);
    for (int i = 0; i < 4; i++)
        memcpy(r->rtmr[i], b + 328 + 48 * i, 48);
    memcpy(r->report_data, b + 520, 64);
    if (td15) {
        memcpy(r->tee_tcb_svn2, b + 584, 16);
        memcpy(r->mrservicetd, b + 600, 48);
    }
    r->debug = (b[120] & 0x01) != 0;
}

/* Certification data entry: u16 type, u32 size, data. */
static att_err_t att_cert_entry(att_cursor_t *c, const char *where, uint16_t *type,
                                att_slice_t *data, att_diag_t *diag)
{
    uint32_t size;
    const uint8_t *p;
    if (!att_cur_u16(c, type) || !att_cur_u32(c, &size))
        return att_diag_set(diag, ATT_E_QUOTE_TRUNCATED,
                            "%s: certification data header needs 6 bytes, %zu left", where,
                            att_cur_left(c));
    if (!att_cur_bytes(c, size, &p))
        return att_diag_set(diag, ATT_E_QUOTE_CERT_DATA,
                            "%s: certification data (type %u) declares %u bytes, %zu left", where,
                            *type, size, att_cur_left(c));
    data->ptr = p;
    data->len = size;
    return ATT_OK;
}

/* QE report, its signature, QE auth data and the PCK certification data. */
static att_err_t att_qe_block(att_cursor_t *c, const char *where, att_quote_t *q, att_diag_t *diag)
{
    uint16_t auth_len;
    const uint8_t *auth;
    if (!att_cur_bytes(c, ATT_SGX_REPORT_LEN, &q->qe_report) ||
        !att_cur_bytes(c, 64, &q->qe_report_sig) || !att_cur_u16(c, &auth_len))
        return att_diag_set(diag, ATT_E_QUOTE_TRUNCATED,
                            "%s: QE report, QE report signature and auth size need 450 bytes, "
                            "%zu left",
                            where, att_cur_left(c));
    if (!att_cur_bytes(c, auth_len, &auth))
        return att_diag_set(diag, ATT_E_QUOTE_TRUNCATED,
                            "%s: QE auth data declares %u bytes, %zu left", where, auth_len,
                            att_cur_left(c));
    q->qe_auth_data.ptr = auth;
    q->qe_auth_data.len = auth_len;
    att_sgx_report_parse(q->qe_report, &q->qe);
    att_err_t e = att_cert_entry(c, where, &q->cert_type, &q->pck_chain, diag);
    if (e != ATT_OK)
        return e;
    if (q->cert_type != 5)
        return att_diag_set(diag, ATT_E_QUOTE_CERT_TYPE,
                            "%s: certification data type %u is not supported (only 5, the PCK "
                            "certificate chain; types 1-4 need the PCK certificate from PCS)",
                            where, q->cert_type);
    return ATT_OK;
}

ATT_API att_err_t att_quote_parse(const uint8_t *buf, size_t len, att_quote_t *q, att_diag_t *diag)
{
    if (buf == NULL || q == NULL)
        return att_diag_set(diag, ATT_E_ARG, "quote: NULL argument");
    memset(q, 0, sizeof(*q));
    att_cursor_t c = att_cursor(buf, len);
    const uint8_t *hdr;
    if (!att_cur_bytes(&c, ATT_QUOTE_HEADER_LEN, &hdr))
        return att_diag_set(diag, ATT_E_QUOTE_TRUNCATED,
                            "quote header needs 48 bytes, the quote has %zu", len);
    q->version = att_le16(hdr);
    q->att_key_type = att_le16(hdr + 2);
    q->tee_type = att_le32(hdr + 4);
    q->qe_svn = att_le16(hdr + 8);
    q->pce_svn = att_le16(hdr + 10);
    memcpy(q->qe_vendor_id, hdr + 12, 16);
    memcpy(q->user_data, hdr + 28, 20);

    if (q->version < 3 || q->version > 5)
        return att_diag_set(diag, ATT_E_QUOTE_VERSION,
                            "quote version %u is not supported (3, 4 and 5 are)", q->version);
    if (q->att_key_type != 2)
        return att_diag_set(diag, ATT_E_QUOTE_KEY_TYPE,
                            "attestation key type %u is not supported (2 = ECDSA-256 P-256)",
                            q->att_key_type);
    if (q->tee_type != ATT_TEE_SGX && q->tee_type != ATT_TEE_TDX)
        return att_diag_set(diag, ATT_E_QUOTE_TEE_TYPE,
                            "TEE type 0x%08x is unknown (0x00000000 SGX, 0x00000081 TDX)",
                            q->tee_type);
    if (q->version == 3 && q->tee_type != ATT_TEE_SGX)
        return att_diag_set(diag, ATT_E_QUOTE_TEE_TYPE,
                            "quote version 3 carries SGX only, TEE type is 0x%08x", q->tee_type);
    if (memcmp(q->qe_vendor_id, att_intel_qe_vendor, 16) != 0)
        return att_diag_set(diag, ATT_E_QUOTE_QE_VENDOR,
                            "QE vendor id is not Intel's 939a7233f79c4ca9940a0db3957f0607");

    /* Body. */
    size_t body_len;
    if (q->version == 5) {
        uint16_t body_type;
        uint32_t body_size;
        if (!att_cur_u16(&c, &body_type) || !att_cur_u32(&c, &body_size))
            return att_diag_set(diag, ATT_E_QUOTE_TRUNCATED,
                                "quote v5 body descriptor needs 6 bytes at offset 48, %zu left",
                                att_cur_left(&c));
        static const uint32_t sizes[] = {0, ATT_SGX_REPORT_LEN, ATT_TD10_REPORT_LEN,
                                         ATT_TD15_REPORT_LEN};
        if (body_type < 1 || body_type > 3)
            return att_diag_set(diag, ATT_E_QUOTE_BODY_TYPE,
                                "quote v5 body type %u is unknown (1 SGX, 2 TD 1.0, 3 TD 1.5)",
                                body_type);
        if (body_size != sizes[body_type])
            return att_diag_set(diag, ATT_E_QUOTE_BODY_TYPE,
                                "quote v5 body type %u must be %u bytes, descriptor says %u",
                                body_type, sizes[body_type], body_size);
        if ((body_type == ATT_BODY_SGX) != (q->tee_type == ATT_TEE_SGX))
            return att_diag_set(diag, ATT_E_QUOTE_BODY_TYPE,
                                "quote v5 body type %u does not match TEE type 0x%08x", body_type,
                                q->tee_type);
        q->body_type = (att_body_type_t)body_type;
        body_len = body_size;
    } else if (q->tee_type == ATT_TEE_TDX) {
        q->body_type = ATT_BODY_TD10;
        body_len = ATT_TD10_REPORT_LEN;
    } else {
        q->body_type = ATT_BODY_SGX;
        body_len = ATT_SGX_REPORT_LEN;
    }
    const uint8_t *body;
    if (!att_cur_bytes(&c, body_len, &body))
        return att_diag_set(diag, ATT_E_QUOTE_TRUNCATED,
                            "quote body needs %zu bytes at offset %zu, %zu left", body_len, c.off,
                            att_cur_left(&c));
    if (q->body_type == ATT_BODY_SGX)
        att_sgx_report_parse(body, &q->sgx);
    else
        att_td_report_parse(body, q->body_type == ATT_BODY_TD15, &q->td);
    q->signed_region.ptr = buf;
    q->signed_region.len = c.off;

    /* Signature data. */
    if (!att_cur_u32(&c, &q->sig_data_len))
        return att_diag_set(diag, ATT_E_QUOTE_TRUNCATED,
                            "signature data length needs 4 bytes at offset %zu, %zu left", c.off,
                            att_cur_left(&c));
    const uint8_t *sigdata;
    if (!att_cur_bytes(&c, q->sig_data_len, &sigdata))
        return att_diag_set(diag, ATT_E_QUOTE_TRUNCATED,
                            "signature data declares %u bytes at offset %zu, %zu left",
                            q->sig_data_len, c.off, att_cur_left(&c));
    q->quote_len = c.off;
    q->trailing = att_cur_left(&c);

    att_cursor_t s = att_cursor(sigdata, q->sig_data_len);
    if (!att_cur_bytes(&s, 64, &q->signature) || !att_cur_bytes(&s, 64, &q->attest_key))
        return att_diag_set(diag, ATT_E_QUOTE_TRUNCATED,
                            "signature data needs 128 bytes for signature and key, has %u",
                            q->sig_data_len);
    att_err_t e;
    if (q->version == 3) {
        q->outer_cert_type = 5;
        e = att_qe_block(&s, "signature data", q, diag);
        if (e != ATT_OK)
            return e;
    } else {
        att_slice_t outer;
        e = att_cert_entry(&s, "signature data", &q->outer_cert_type, &outer, diag);
        if (e != ATT_OK)
            return e;
        if (q->outer_cert_type != 6)
            return att_diag_set(diag, ATT_E_QUOTE_CERT_TYPE,
                                "quote v%u: outer certification data type %u is not supported "
                                "(6, QE report certification data)",
                                q->version, q->outer_cert_type);
        att_cursor_t o = att_cursor(outer.ptr, outer.len);
        e = att_qe_block(&o, "QE report certification data", q, diag);
        if (e != ATT_OK)
            return e;
        if (att_cur_left(&o) != 0)
            return att_diag_set(diag, ATT_E_QUOTE_CERT_DATA,
                                "QE report certification data declares %zu bytes but its "
                                "contents end %zu bytes earlier",
                                outer.len, att_cur_left(&o));
    }
    if (att_cur_left(&s) != 0)
        return att_diag_set(diag, ATT_E_QUOTE_CERT_DATA,
                            "signature data declares %u bytes but its contents end %zu bytes "
                            "earlier",
                            q->sig_data_len, att_cur_left(&s));
    return ATT_OK;
}
