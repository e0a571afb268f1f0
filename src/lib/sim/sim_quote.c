/* sim_quote.c - simulated DCAP ECDSA quotes: SGX v3, SGX/TDX v4, v5 (SGX, TD 1.0, TD 1.5).
 *
 * Layouts as in docs/dcap.md sections 1-3. The builder makes (or takes) the attestation key,
 * binds it into the QE report (report_data = SHA-256(attest_pub || qe_auth_data) || 0^32), signs
 * the QE report with the PCK leaf key, signs header (+ v5 descriptor) + body with the attestation
 * key and appends certification data type 5 (PEM leaf, PCK CA, root), wrapped in type 6 for v4/v5.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "core/util.h"
#include "sim/sim_internal.h"

#define SGX_REPORT_LEN 384
#define TD10_LEN       584
#define TD15_LEN       648

static const uint8_t att_sim_intel_qe_vendor[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                                    0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

/* Little-endian integers into the quote being built (core's att_buf_t: `failed` sticks). */
static void ob_u16(att_buf_t *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    att_buf_put(b, x, 2);
}

static void ob_u32(att_buf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    att_buf_put(b, x, 4);
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* SGX report body (Intel sgx_report_body_t), also the QE report. */
static void att_sim_sgx_report(const att_sgx_report_t *r, uint8_t out[SGX_REPORT_LEN])
{
    memset(out, 0, SGX_REPORT_LEN);
    memcpy(out + 0, r->cpusvn, 16);
    out[16] = (uint8_t)r->miscselect;
    out[17] = (uint8_t)(r->miscselect >> 8);
    out[18] = (uint8_t)(r->miscselect >> 16);
    out[19] = (uint8_t)(r->miscselect >> 24);
    memcpy(out + 32, r->isvextprodid, 16);
    memcpy(out + 48, r->attributes, 16);
    memcpy(out + 64, r->mrenclave, 32);
    memcpy(out + 128, r->mrsigner, 32);
    memcpy(out + 192, r->configid, 64);
    put_u16(out + 256, r->isvprodid);
    put_u16(out + 258, r->isvsvn);
    put_u16(out + 260, r->configsvn);
    memcpy(out + 304, r->isvfamilyid, 16);
    memcpy(out + 320, r->report_data, 64);
}

static void att_sim_td_report(const att_td_report_t *t, bool td15, uint8_t out[TD15_LEN])
{
    memset(out, 0, TD15_LEN);
    memcpy(out + 0, t->tee_tcb_svn, 16);
    memcpy(out + 16, t->mrseam, 48);
    memcpy(out + 64, t->mrsignerseam, 48);
    memcpy(out + 112, t->seam_attributes, 8);
    memcpy(out + 120, t->td_attributes, 8);
    memcpy(out + 128, t->xfam, 8);
    memcpy(out + 136, t->mrtd, 48);
    memcpy(out + 184, t->mrconfigid, 48);
    memcpy(out + 232, t->mrowner, 48);
    memcpy(out + 280, t->mrownerconfig, 48);
    for (int i = 0; i < 4; i++)
        memcpy(out + 328 + 48 * i, t->rtmr[i], 48);
    memcpy(out + 520, t->report_data, 64);
    if (td15) {
        memcpy(out + 584, t->tee_tcb_svn2, 16);
        memcpy(out + 600, t->mrservicetd, 48);
    }
}

static void att_sim_fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i);
}

void att_sim_quote_opts_default(att_sim_quote_opts_t *o, att_tee_t tee, uint16_t version)
{
    memset(o, 0, sizeof *o);
    o->version = version;
    o->tee = tee;
    if (version == 5)
        o->body_type = tee == ATT_TEE_TDX ? ATT_BODY_TD15 : ATT_BODY_SGX;
    else
        o->body_type = tee == ATT_TEE_TDX ? ATT_BODY_TD10 : ATT_BODY_SGX;
    if (version == 3) {
        o->qe_svn_hdr = 8;
        o->pce_svn_hdr = 13;
    }
    memcpy(o->qe_vendor_id, att_sim_intel_qe_vendor, 16);
    att_sim_fill(o->user_data, 16, 0x40); /* QE identifier; last 4 bytes zero */

    att_sgx_report_t *s = &o->sgx;
    static const uint8_t cpusvn[16] = {11, 11, 2, 2, 255, 1};
    memcpy(s->cpusvn, cpusvn, 16);
    s->attributes[0] = 0x05; /* INIT | MODE64BIT, not DEBUG */
    s->attributes[8] = 0xE7;
    att_sim_fill(s->mrenclave, 32, 0x10);
    att_sim_fill(s->mrsigner, 32, 0x80);
    s->isvprodid = 1;
    s->isvsvn = 1;

    att_td_report_t *t = &o->td;
    att_sim_default_td_tcb_svn(t->tee_tcb_svn);
    memcpy(t->tee_tcb_svn2, t->tee_tcb_svn, 16);
    att_sim_fill(t->mrseam, 48, 0x5B);
    t->td_attributes[3] = 0x10; /* SEPT_VE_DISABLE, not DEBUG */
    static const uint8_t xfam[8] = {0xE7, 0x02, 0x06};
    memcpy(t->xfam, xfam, 8);
    att_sim_fill(t->mrtd, 48, 0x91);
    for (int i = 0; i < 4; i++)
        att_sim_fill(t->rtmr[i], 48, (uint8_t)(0x20 * (i + 1)));

    att_sim_qe_report_default(&o->qe, tee);
    o->qe_auth_len = 32;
    att_sim_fill(o->qe_auth_data, 32, 0x00);
    o->pem_nul = true;
}

att_err_t att_sim_quote_build(const att_sim_pki_t *p, const att_sim_quote_opts_t *o,
                              uint8_t **quote, size_t *len, att_diag_t *diag)
{
    if (p == NULL || o == NULL || quote == NULL || len == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_quote_build: NULL argument");
    if (o->version < 3 || o->version > 5)
        return att_diag_set(diag, ATT_E_ARG, "quote version %u: the builder makes 3, 4 or 5",
                            o->version);
    if (o->tee != ATT_TEE_SGX && o->tee != ATT_TEE_TDX)
        return att_diag_set(diag, ATT_E_ARG, "unknown TEE type 0x%x", (unsigned)o->tee);
    if (o->version == 3 && o->tee != ATT_TEE_SGX)
        return att_diag_set(diag, ATT_E_ARG, "quote v3 is SGX only");
    if (o->qe_auth_len > sizeof o->qe_auth_data)
        return att_diag_set(diag, ATT_E_ARG, "QE auth data of %zu bytes (max %zu)", o->qe_auth_len,
                            sizeof o->qe_auth_data);
    att_body_type_t bt = o->tee == ATT_TEE_TDX ? ATT_BODY_TD10 : ATT_BODY_SGX;
    if (o->version == 5) {
        bt = o->body_type;
        if ((bt == ATT_BODY_SGX) != (o->tee == ATT_TEE_SGX) ||
            (bt != ATT_BODY_SGX && bt != ATT_BODY_TD10 && bt != ATT_BODY_TD15))
            return att_diag_set(diag, ATT_E_ARG, "v5 body type %d does not fit TEE 0x%x", (int)bt,
                                (unsigned)o->tee);
    }

    att_err_t err = ATT_OK;
    att_buf_t q = {0};
    EVP_PKEY *ak = o->attest_key ? att_sim_key_from_scalar(o->attest_key) : att_sim_keygen();
    uint8_t ak_raw[64], sig[64], qe_sig[64];
    uint8_t body[TD15_LEN], qe_rep[SGX_REPORT_LEN];
    size_t body_len;

    if (ak == NULL || !att_sim_pubkey_raw(ak, ak_raw)) {
        err = att_diag_set(diag, ATT_E_ARG, "bad attestation key");
        goto out;
    }

    /* Header. */
    ob_u16(&q, o->version);
    ob_u16(&q, 2); /* ECDSA-256 with P-256 */
    ob_u32(&q, o->version == 3 ? 0 : (uint32_t)o->tee);
    ob_u16(&q, o->version == 3 ? o->qe_svn_hdr : 0);
    ob_u16(&q, o->version == 3 ? o->pce_svn_hdr : 0);
    att_buf_put(&q, o->qe_vendor_id, 16);
    att_buf_put(&q, o->user_data, 20);

    /* Body (v5: with its descriptor). */
    if (bt == ATT_BODY_SGX) {
        att_sim_sgx_report(&o->sgx, body);
        body_len = SGX_REPORT_LEN;
    } else {
        att_sim_td_report(&o->td, bt == ATT_BODY_TD15, body);
        body_len = bt == ATT_BODY_TD15 ? TD15_LEN : TD10_LEN;
    }
    if (o->version == 5) {
        ob_u16(&q, (uint16_t)bt);
        ob_u32(&q, (uint32_t)body_len);
    }
    att_buf_put(&q, body, body_len);
    if (q.failed) {
        err = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    if (!att_sim_sign_raw(ak, q.p, q.len, sig)) {
        err = att_diag_set(diag, ATT_E_INTERNAL, "cannot sign the quote");
        goto out;
    }

    /* QE report bound to the attestation key, signed by the PCK leaf. */
    att_sgx_report_t qe = o->qe;
    memset(qe.report_data, 0, 64);
    {
        uint8_t h[64 + sizeof o->qe_auth_data];
        memcpy(h, ak_raw, 64);
        memcpy(h + 64, o->qe_auth_data, o->qe_auth_len);
        SHA256(h, 64 + o->qe_auth_len, qe.report_data);
    }
    att_sim_sgx_report(&qe, qe_rep);
    if (!att_sim_sign_raw(p->key[ATT_SIM_PCK], qe_rep, sizeof qe_rep, qe_sig)) {
        err = att_diag_set(diag, ATT_E_INTERNAL, "cannot sign the QE report");
        goto out;
    }

    /* Certification data type 5: PEM leaf, PCK CA, root (optionally NUL-terminated). */
    size_t chain_len = p->pem_len[ATT_SIM_PCK] + p->pem_len[ATT_SIM_PCK_CA] +
                       p->pem_len[ATT_SIM_ROOT] + (o->pem_nul ? 1 : 0);
    size_t inner_len = SGX_REPORT_LEN + 64 + 2 + o->qe_auth_len + 2 + 4 + chain_len;
    size_t sig_data_len = 64 + 64 + (o->version == 3 ? 0 : 2 + 4) + inner_len;
    ob_u32(&q, (uint32_t)sig_data_len);
    att_buf_put(&q, sig, 64);
    att_buf_put(&q, ak_raw, 64);
    if (o->version != 3) {
        ob_u16(&q, 6);
        ob_u32(&q, (uint32_t)inner_len);
    }
    att_buf_put(&q, qe_rep, sizeof qe_rep);
    att_buf_put(&q, qe_sig, 64);
    ob_u16(&q, (uint16_t)o->qe_auth_len);
    att_buf_put(&q, o->qe_auth_data, o->qe_auth_len);
    ob_u16(&q, 5);
    ob_u32(&q, (uint32_t)chain_len);
    att_buf_put(&q, p->pem[ATT_SIM_PCK], p->pem_len[ATT_SIM_PCK]);
    att_buf_put(&q, p->pem[ATT_SIM_PCK_CA], p->pem_len[ATT_SIM_PCK_CA]);
    att_buf_put(&q, p->pem[ATT_SIM_ROOT], p->pem_len[ATT_SIM_ROOT]);
    if (o->pem_nul)
        att_buf_put(&q, "", 1);
    if (q.failed) {
        err = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    *quote = q.p;
    *len = q.len;
    q.p = NULL;
out:
    EVP_PKEY_free(ak);
    free(q.p);
    return err;
}
