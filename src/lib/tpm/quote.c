/* quote.c - TPMS_ATTEST and TPMT_SIGNATURE (libtss2-mu), the quote checks, TPM2_Certify.
 *
 * Order of checks (docs/tpm.md "What is checked"): the AK; the TPMS_ATTEST structure (magic,
 * type, selection, no trailing byte); the signature (its structure, the AK's scheme, then
 * OpenSSL EVP over the TPMS_ATTEST bytes); extraData against the nonce; the presented PCR values
 * (their length is the selection's) and pcrDigest; the event logs.
 */
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "core/cursor.h"
#include "core/util.h"
#include "tpm/tpm_int.h"

static int att_popcount(uint32_t m)
{
    return __builtin_popcount(m);
}

ATT_API att_err_t att_tpm_attest_parse(const uint8_t *buf, size_t len, att_tpm_attest_t *out,
                                       att_diag_t *diag)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL || len == 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "no TPMS_ATTEST given");
    /* Magic and type first: libtss2-mu reads any magic, and a message naming them is clearer
     * than its return code. */
    if (len < 6)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the TPMS_ATTEST has %zu bytes, shorter than its magic and type", len);
    uint32_t magic =
        (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    uint16_t type = (uint16_t)(buf[4] << 8 | buf[5]);
    if (magic != ATT_TPM_GENERATED_VALUE)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the TPMS_ATTEST magic is 0x%08x, not TPM_GENERATED_VALUE 0xff544347: "
                            "the TPM did not make it",
                            magic);
    if (type != ATT_TPM_ST_ATTEST_QUOTE && type != ATT_TPM_ST_ATTEST_CERTIFY)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the TPMS_ATTEST type is 0x%04x, neither ATTEST_QUOTE (0x8018) nor "
                            "ATTEST_CERTIFY (0x8017)",
                            type);
    TPMS_ATTEST a;
    size_t off = 0;
    memset(&a, 0, sizeof(a));
    TSS2_RC rc = Tss2_MU_TPMS_ATTEST_Unmarshal(buf, len, &off, &a);
    if (rc != TSS2_RC_SUCCESS)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the TPMS_ATTEST (%zu bytes) does not unmarshal: truncated or a size "
                            "field too large (libtss2-mu 0x%x)",
                            len, (unsigned)rc);
    if (off != len)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the TPMS_ATTEST is followed by %zu bytes (it ends at %zu of %zu)",
                            len - off, off, len);
    out->magic = a.magic;
    out->type = a.type;
    memcpy(out->qualified_signer, a.qualifiedSigner.name, a.qualifiedSigner.size);
    out->qualified_signer_len = a.qualifiedSigner.size;
    memcpy(out->extra_data, a.extraData.buffer, a.extraData.size);
    out->extra_data_len = a.extraData.size;
    out->clock = a.clockInfo.clock;
    out->reset_count = a.clockInfo.resetCount;
    out->restart_count = a.clockInfo.restartCount;
    out->safe = a.clockInfo.safe != 0;
    out->firmware_version = a.firmwareVersion;
    if (a.type == ATT_TPM_ST_ATTEST_CERTIFY) {
        const TPMS_CERTIFY_INFO *c = &a.attested.certify;
        memcpy(out->certified_name, c->name.name, c->name.size);
        out->certified_name_len = c->name.size;
        memcpy(out->certified_qname, c->qualifiedName.name, c->qualifiedName.size);
        out->certified_qname_len = c->qualifiedName.size;
        return ATT_OK;
    }
    const TPMS_QUOTE_INFO *q = &a.attested.quote;
    if (q->pcrSelect.count > ATT_TPM_MAX_BANKS)
        return att_diag_set(diag, ATT_E_UNSUPPORTED,
                            "the quote selects %u PCR banks; at most %d (sha1, sha256, sha384, "
                            "sha512) are read",
                            q->pcrSelect.count, ATT_TPM_MAX_BANKS);
    for (uint32_t b = 0; b < q->pcrSelect.count; b++) {
        const TPMS_PCR_SELECTION *s = &q->pcrSelect.pcrSelections[b];
        if (att_tpm_digest_size(s->hash) == 0)
            return att_diag_set(diag, ATT_E_UNSUPPORTED,
                                "the quote's PCR bank %u has hash 0x%04x, not SHA-1, SHA-256, "
                                "SHA-384 or SHA-512",
                                b, s->hash);
        for (uint32_t k = 0; k < b; k++)
            if (out->sel[k].alg == s->hash)
                return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                    "the quote selects the %s bank twice",
                                    att_tpm_alg_name(s->hash));
        uint32_t mask = 0;
        for (uint32_t i = 0; i < s->sizeofSelect; i++) {
            if (i >= 3 && s->pcrSelect[i] != 0)
                return att_diag_set(diag, ATT_E_UNSUPPORTED,
                                    "the quote selects PCR %u or above in the %s bank; PCRs 0-23 "
                                    "are read",
                                    i * 8, att_tpm_alg_name(s->hash));
            if (i < 3)
                mask |= (uint32_t)s->pcrSelect[i] << (8 * i);
        }
        out->sel[b].alg = s->hash;
        out->sel[b].mask = mask;
    }
    out->nsel = q->pcrSelect.count;
    memcpy(out->pcr_digest, q->pcrDigest.buffer,
           q->pcrDigest.size > ATT_TPM_MAX_DIGEST ? ATT_TPM_MAX_DIGEST : q->pcrDigest.size);
    out->pcr_digest_len = q->pcrDigest.size;
    if (q->pcrDigest.size > ATT_TPM_MAX_DIGEST)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the quote's pcrDigest has %u bytes, more than any digest",
                            q->pcrDigest.size);
    return ATT_OK;
}

/* The hash a bare signature uses: the AK's scheme hash, else by key. */
static uint16_t att_bare_hash(const att_tpm_ak_t *ak)
{
    if (ak->info.scheme_hash != ATT_TPM_ALG_NULL && ak->info.scheme_hash != 0)
        return ak->info.scheme_hash;
    if (ak->info.type == ATT_TPM_ALG_ECC)
        return ak->bits > 384   ? ATT_TPM_ALG_SHA512
               : ak->bits > 256 ? ATT_TPM_ALG_SHA384
                                : ATT_TPM_ALG_SHA256;
    return ATT_TPM_ALG_SHA256;
}

static att_err_t att_evp_verify(const att_tpm_ak_t *ak, uint16_t alg, uint16_t hash,
                                const uint8_t *sig, size_t sig_len, const uint8_t *msg,
                                size_t msg_len, att_diag_t *diag)
{
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    int ok = mc != NULL && EVP_DigestVerifyInit(mc, &pc, att_tpm_md(hash), NULL, ak->key) == 1;
    if (ok && alg == ATT_TPM_ALG_RSAPSS)
        ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_AUTO) == 1;
    else if (ok && alg == ATT_TPM_ALG_RSASSA)
        ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1;
    if (!ok) {
        EVP_MD_CTX_free(mc);
        ERR_clear_error();
        return att_diag_set(diag, ATT_E_INTERNAL, "OpenSSL cannot set up a %s/%s verification",
                            att_tpm_alg_name(alg), att_tpm_alg_name(hash));
    }
    int r = EVP_DigestVerify(mc, sig, sig_len, msg, msg_len);
    EVP_MD_CTX_free(mc);
    ERR_clear_error();
    if (r != 1)
        return att_diag_set(diag, ATT_E_TPM_SIGNATURE,
                            "the %s/%s signature over the TPMS_ATTEST (%zu bytes) does not verify "
                            "with the AK (%s)",
                            att_tpm_alg_name(alg), att_tpm_alg_name(hash), msg_len, ak->info.desc);
    return ATT_OK;
}

/* r, s big-endian (at most the field size, not zero) to DER. */
static att_err_t att_ecdsa_der(const att_tpm_ak_t *ak, const uint8_t *r, size_t rl,
                               const uint8_t *s, size_t sl, uint8_t **der, int *derlen,
                               att_diag_t *diag)
{
    size_t fl = ((size_t)ak->bits + 7) / 8;
    if (rl == 0 || sl == 0 || rl > fl || sl > fl)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the ECDSA signature's r (%zu bytes) or s (%zu bytes) is empty or "
                            "longer than the %s field (%zu bytes)",
                            rl, sl, ak->info.desc, fl);
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(r, (int)rl, NULL), *bs = BN_bin2bn(s, (int)sl, NULL);
    if (es == NULL || br == NULL || bs == NULL || !ECDSA_SIG_set0(es, br, bs)) {
        ECDSA_SIG_free(es);
        BN_free(br);
        BN_free(bs);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    *der = NULL;
    *derlen = i2d_ECDSA_SIG(es, der);
    ECDSA_SIG_free(es);
    if (*derlen <= 0)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    return ATT_OK;
}

att_err_t att_tpm_sig_verify(const att_tpm_ak_t *ak, const uint8_t *sig, size_t sig_len,
                             const uint8_t *msg, size_t msg_len, uint16_t *alg, uint16_t *hash,
                             bool *bare, att_diag_t *diag)
{
    TPMT_SIGNATURE ts;
    size_t off = 0;
    memset(&ts, 0, sizeof(ts));
    *bare = false;
    if (sig == NULL || sig_len == 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "no signature given");
    TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(sig, sig_len, &off, &ts);
    bool tpmt = rc == TSS2_RC_SUCCESS && off == sig_len;
    if (!tpmt) {
        /* A bare signature: DER ECDSA-Sig-Value for an EC AK, the raw signature for RSA. */
        *bare = true;
        *hash = att_bare_hash(ak);
        if (ak->info.type == ATT_TPM_ALG_ECC) {
            *alg = ATT_TPM_ALG_ECDSA;
            const unsigned char *p = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
            bool whole = es != NULL && p == sig + sig_len;
            ECDSA_SIG_free(es);
            ERR_clear_error();
            if (!whole)
                return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                    "the signature (%zu bytes) is neither a TPMT_SIGNATURE%s nor a "
                                    "DER ECDSA signature",
                                    sig_len,
                                    rc == TSS2_RC_SUCCESS ? " (it has trailing bytes)" : "");
            return att_evp_verify(ak, *alg, *hash, sig, sig_len, msg, msg_len, diag);
        }
        *alg = ak->info.scheme == ATT_TPM_ALG_RSAPSS ? ATT_TPM_ALG_RSAPSS : ATT_TPM_ALG_RSASSA;
        size_t kl = (size_t)EVP_PKEY_get_size(ak->key);
        if (sig_len != kl)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "the signature (%zu bytes) is neither a TPMT_SIGNATURE%s nor a raw "
                                "%s signature (%zu bytes)",
                                sig_len, rc == TSS2_RC_SUCCESS ? " (it has trailing bytes)" : "",
                                ak->info.desc, kl);
        return att_evp_verify(ak, *alg, *hash, sig, sig_len, msg, msg_len, diag);
    }
    *alg = ts.sigAlg;
    switch (ts.sigAlg) {
    case TPM2_ALG_RSASSA:
    case TPM2_ALG_RSAPSS:
        *hash = ts.signature.rsassa.hash;
        break;
    case TPM2_ALG_ECDSA:
        *hash = ts.signature.ecdsa.hash;
        break;
    default:
        return att_diag_set(diag, ATT_E_UNSUPPORTED,
                            "the TPMT_SIGNATURE's algorithm is 0x%04x; RSASSA (0x0014), RSAPSS "
                            "(0x0016) and ECDSA (0x0018) are verified",
                            ts.sigAlg);
    }
    if (att_tpm_md(*hash) == NULL)
        return att_diag_set(diag, ATT_E_UNSUPPORTED,
                            "the TPMT_SIGNATURE's hash is 0x%04x, not SHA-1, SHA-256, SHA-384 or "
                            "SHA-512",
                            *hash);
    bool rsa = ts.sigAlg != TPM2_ALG_ECDSA;
    if (rsa != (ak->info.type == ATT_TPM_ALG_RSA))
        return att_diag_set(diag, ATT_E_TPM_AK, "the signature is %s but the AK is %s",
                            att_tpm_alg_name(ts.sigAlg), ak->info.desc);
    if (ak->info.tpm_public && ak->info.scheme != ATT_TPM_ALG_NULL &&
        (ak->info.scheme != ts.sigAlg || ak->info.scheme_hash != *hash))
        return att_diag_set(
            diag, ATT_E_TPM_AK, "the signature is %s/%s but the AK's scheme is %s/%s",
            att_tpm_alg_name(ts.sigAlg), att_tpm_alg_name(*hash), att_tpm_alg_name(ak->info.scheme),
            att_tpm_alg_name(ak->info.scheme_hash));
    if (rsa) {
        const TPM2B_PUBLIC_KEY_RSA *s = &ts.signature.rsassa.sig;
        size_t kl = (size_t)EVP_PKEY_get_size(ak->key);
        if (s->size != kl)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "the RSA signature has %u bytes; the AK (%s) makes %zu", s->size,
                                ak->info.desc, kl);
        return att_evp_verify(ak, *alg, *hash, s->buffer, s->size, msg, msg_len, diag);
    }
    uint8_t *der = NULL;
    int derlen = 0;
    const TPMS_SIGNATURE_ECC *e = &ts.signature.ecdsa;
    att_err_t err = att_ecdsa_der(ak, e->signatureR.buffer, e->signatureR.size,
                                  e->signatureS.buffer, e->signatureS.size, &der, &derlen, diag);
    if (err == ATT_OK)
        err = att_evp_verify(ak, *alg, *hash, der, (size_t)derlen, msg, msg_len, diag);
    OPENSSL_free(der);
    return err;
}

/* Read the presented PCR values into res->pcrs by the quote's selection. */
static att_err_t att_pcrs_read(att_tpm_result_t *res, const uint8_t *p, size_t len,
                               att_diag_t *diag)
{
    const att_tpm_attest_t *a = &res->attest;
    size_t need = 0, off = 0;
    int n = 0;
    for (size_t b = 0; b < a->nsel; b++) {
        need += (size_t)att_popcount(a->sel[b].mask) * att_tpm_digest_size(a->sel[b].alg);
        n += att_popcount(a->sel[b].mask);
    }
    if (len != need)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the PCR values have %zu bytes; the quote selects %d PCRs in %zu "
                            "bank(s), which take %zu bytes",
                            len, n, a->nsel, need);
    res->pcrs.nsel = a->nsel;
    for (size_t b = 0; b < a->nsel; b++) {
        size_t dl = att_tpm_digest_size(a->sel[b].alg);
        res->pcrs.sel[b] = a->sel[b];
        for (int i = 0; i < ATT_TPM_NUM_PCRS; i++)
            if (a->sel[b].mask & (1u << i)) {
                memcpy(res->pcrs.values[b][i], p + off, dl);
                off += dl;
            }
    }
    res->pcrs_read = true;
    return ATT_OK;
}

static att_err_t att_pcr_digest_check(att_tpm_result_t *res, const uint8_t *p, size_t len,
                                      att_diag_t *diag)
{
    uint16_t h = res->sig_hash;
    size_t dl = att_tpm_digest_size(h);
    uint8_t want[ATT_TPM_MAX_DIGEST];
    char a[2 * ATT_TPM_MAX_DIGEST + 1], b[2 * ATT_TPM_MAX_DIGEST + 1];
    if (res->attest.pcr_digest_len != dl)
        return att_diag_set(diag, ATT_E_TPM_PCR_DIGEST,
                            "the quote's pcrDigest has %zu bytes, not the %zu of %s, the "
                            "signature's hash",
                            res->attest.pcr_digest_len, dl, att_tpm_alg_name(h));
    if (!att_tpm_hash(h, p, len, want))
        return att_diag_set(diag, ATT_E_INTERNAL, "hashing the PCR values failed");
    if (!att_ct_equal(want, res->attest.pcr_digest, dl)) {
        att_hex_encode(res->attest.pcr_digest, dl, a);
        att_hex_encode(want, dl, b);
        return att_diag_set(diag, ATT_E_TPM_PCR_DIGEST,
                            "the quote's pcrDigest is %s; %s of the %zu bytes of PCR values "
                            "presented is %s",
                            a, att_tpm_alg_name(h), len, b);
    }
    return ATT_OK;
}

/* Claims from verified events: secure boot state, boot applications. */
static void att_log_claims(att_tpm_result_t *res)
{
    static const uint8_t efi_global[16] = {0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
                                           0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c};
    static const uint8_t secure_boot[20] = {'S', 0, 'e', 0, 'c', 0, 'u', 0, 'r', 0,
                                            'e', 0, 'B', 0, 'o', 0, 'o', 0, 't', 0};
    res->secure_boot = -1;
    res->boot_manager = res->kernel = -1;
    res->nboot_apps = 0;
    for (size_t i = 0; i < res->events.n; i++) {
        const att_tpm_event_t *e = &res->events.v[i];
        if (!e->verified || e->log != ATT_TPM_LOG_TCG)
            continue;
        if (e->type == 0x80000001 && e->pcr == 7 && e->data_len >= 32 + 20 &&
            !memcmp(e->data, efi_global, 16)) {
            uint64_t nl = att_le64(e->data + 16), dl = att_le64(e->data + 24);
            if (nl == 10 && dl >= 1 && e->data_len == 32 + 20 + dl &&
                !memcmp(e->data + 32, secure_boot, 20))
                res->secure_boot = e->data[52] == 1 ? 1 : 0;
        }
        if (e->type == 0x80000003 && e->pcr == 4) {
            if (res->boot_manager < 0)
                res->boot_manager = (long)i;
            else
                res->kernel = (long)i;
            res->nboot_apps++;
        }
    }
}

ATT_API void att_tpm_result_free(att_tpm_result_t *res)
{
    if (res != NULL)
        att_tpm_events_free(&res->events);
}

ATT_API att_err_t att_tpm_verify(const att_tpm_input_t *in, att_tpm_result_t *res)
{
    memset(res, 0, sizeof(*res));
    res->secure_boot = -1;
    res->boot_manager = res->kernel = -1;
    att_diag_t *d = &res->diag;
    att_diag_clear(d);
    att_tpm_ak_t *own = NULL;
    const att_tpm_ak_t *ak = in->ak_key;
    att_err_t e = ATT_OK;
    if (ak == NULL) {
        if ((e = att_tpm_ak_load(in->ak, in->ak_len, &own, d)) != ATT_OK)
            goto out;
        ak = own;
    }
    res->ak_loaded = true;
    res->ak = ak->info;
    if ((e = att_tpm_attest_parse(in->quote, in->quote_len, &res->attest, d)) != ATT_OK)
        goto out;
    res->parsed = true;
    if (res->attest.type != ATT_TPM_ST_ATTEST_QUOTE) {
        e = att_diag_set(d, ATT_E_EVIDENCE_FORMAT,
                         "the TPMS_ATTEST is of type 0x%04x (certify), not ATTEST_QUOTE (0x8018)",
                         res->attest.type);
        goto out;
    }
    e = att_tpm_sig_verify(ak, in->sig, in->sig_len, in->quote, in->quote_len, &res->sig_alg,
                           &res->sig_hash, &res->sig_bare, d);
    res->sig_parsed = e == ATT_OK || e == ATT_E_TPM_SIGNATURE;
    if (e != ATT_OK)
        goto out;
    if (in->nonce_len != res->attest.extra_data_len ||
        (in->nonce_len > 0 && !att_ct_equal(in->nonce, res->attest.extra_data, in->nonce_len))) {
        char a[2 * ATT_TPM_MAX_NAME + 1], b[2 * 64 + 4];
        att_hex_encode(res->attest.extra_data, res->attest.extra_data_len, a);
        if (in->nonce_len <= 64)
            att_hex_encode(in->nonce, in->nonce_len, b);
        else
            snprintf(b, sizeof(b), "(%zu bytes)", in->nonce_len);
        e = att_diag_set(d, ATT_E_TPM_NONCE,
                         "the quote's extraData is %s (%zu bytes); the expected nonce is %s (%zu "
                         "bytes)",
                         a, res->attest.extra_data_len, b, in->nonce_len);
        goto out;
    }
    if ((e = att_pcrs_read(res, in->pcrs, in->pcrs_len, d)) != ATT_OK ||
        (e = att_pcr_digest_check(res, in->pcrs, in->pcrs_len, d)) != ATT_OK)
        goto out;
    if (in->eventlog_len > 0) {
        res->tcg_log = true;
        if ((e = att_tpm_tcg_log_parse(in->eventlog, in->eventlog_len, in->limits, &res->events,
                                       d)) != ATT_OK)
            goto out;
    }
    if (in->ima_len > 0) {
        res->ima_log = true;
        if ((e = att_tpm_ima_log_parse(in->ima, in->ima_len, in->limits, &res->events, d)) !=
            ATT_OK)
            goto out;
    }
    if (res->tcg_log || res->ima_log) {
        if ((e = att_tpm_replay(&res->events, &res->pcrs, d)) != ATT_OK)
            goto out;
        res->replayed = true;
        att_log_claims(res);
    }
    res->accepted = true;
out:
    att_tpm_ak_free(own);
    if (e != ATT_OK && d->code != e)
        att_diag_set(d, e, "%s", att_strerror(e));
    return e;
}

ATT_API att_err_t att_tpm_certify_verify(const att_tpm_ak_t *ak, const uint8_t *attest,
                                         size_t attest_len, const uint8_t *sig, size_t sig_len,
                                         const uint8_t *nonce, size_t nonce_len,
                                         const uint8_t *certified, size_t certified_len,
                                         att_diag_t *diag)
{
    att_tpm_attest_t a;
    uint16_t alg, hash;
    bool bare;
    att_err_t e = att_tpm_attest_parse(attest, attest_len, &a, diag);
    if (e != ATT_OK)
        return e;
    if (a.type != ATT_TPM_ST_ATTEST_CERTIFY)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the TPMS_ATTEST is of type 0x%04x, not ATTEST_CERTIFY (0x8017)",
                            a.type);
    if ((e = att_tpm_sig_verify(ak, sig, sig_len, attest, attest_len, &alg, &hash, &bare, diag)) !=
        ATT_OK)
        return e;
    if (nonce_len != a.extra_data_len ||
        (nonce_len && !att_ct_equal(nonce, a.extra_data, nonce_len)))
        return att_diag_set(diag, ATT_E_TPM_NONCE,
                            "the certification's extraData (%zu bytes) is not the expected nonce "
                            "(%zu bytes)",
                            a.extra_data_len, nonce_len);
    /* The certified key's name, from its TPM2B_PUBLIC (its attributes are not an AK's). */
    TPM2B_PUBLIC pub;
    size_t off = 0;
    /* libtss2-mu refuses to unmarshal a TPM2B_PUBLIC into one whose size is not 0 */
    memset(&pub, 0, sizeof(pub));
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(certified, certified_len, &off, &pub) != TSS2_RC_SUCCESS ||
        off != certified_len || certified_len < 2 || pub.size != certified_len - 2)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the certified key is not a TPM2B_PUBLIC of exactly %zu bytes",
                            certified_len);
    size_t hl = att_tpm_digest_size(pub.publicArea.nameAlg);
    uint8_t name[ATT_TPM_MAX_NAME];
    if (hl == 0)
        return att_diag_set(diag, ATT_E_UNSUPPORTED,
                            "the certified key's nameAlg 0x%04x is unknown",
                            pub.publicArea.nameAlg);
    name[0] = (uint8_t)(pub.publicArea.nameAlg >> 8);
    name[1] = (uint8_t)pub.publicArea.nameAlg;
    if (!att_tpm_hash(pub.publicArea.nameAlg, certified + 2, certified_len - 2, name + 2))
        return att_diag_set(diag, ATT_E_INTERNAL, "hashing the certified key failed");
    if (a.certified_name_len != 2 + hl || memcmp(a.certified_name, name, 2 + hl) != 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_BINDING,
                            "the certification names another key than the one presented");
    return ATT_OK;
}
