/* vtpm.c - the vTPM quote of an Azure confidential VM (attest/hcl.h): Trustee's quote object, its
 * verification with the AK of the HCL report's runtime data (att_tpm_verify, the code /attest/Tpm
 * uses), and the JSON forms of SEV-SNP VM evidence (MAA's, Trustee's az-snp-vtpm) that carry it.
 * The SNP report and the runtime data's binding are verified by the caller first: the AK is
 * trusted only through them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/hcl.h"
#include "attest/token.h"
#include "core/json.h"
#include "core/util.h"
#include "tpm/tpm_int.h"

/* A hex member of the quote object, decoded (1 to max bytes). */
static att_err_t att_vtpm_hex(const json_t *o, const char *name, size_t max, uint8_t **out,
                              size_t *len, att_diag_t *d)
{
    const json_t *v = json_object_get(o, name);
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (s == NULL || n == 0 || n % 2 != 0 || n / 2 > max)
        return att_diag_set(d, ATT_E_EVIDENCE_FORMAT,
                            "the tpm_quote's %s must be a hex string of 1 to %zu bytes", name, max);
    if ((*out = malloc(n / 2)) == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    if (!att_hex_decode(s, n, *out, n / 2))
        return att_diag_set(d, ATT_E_EVIDENCE_FORMAT, "the tpm_quote's %s is not hex", name);
    *len = n / 2;
    return ATT_OK;
}

ATT_API att_err_t att_hcl_quote_from_json(const json_t *o, att_hcl_quote_t *q, att_diag_t *d)
{
    memset(q, 0, sizeof(*q));
    att_err_t e;
    if (!json_is_object(o)) {
        e = att_diag_set(d, ATT_E_EVIDENCE_FORMAT,
                         "the tpm_quote must be an object {\"message\", \"signature\", \"pcrs\"}");
        goto out;
    }
    /* Only Trustee's three members: in particular no AK, which comes from the runtime data. */
    const char *k;
    json_t *mv;
    json_object_foreach((json_t *)o, k, mv)
    {
        if (strcmp(k, "message") != 0 && strcmp(k, "signature") != 0 && strcmp(k, "pcrs") != 0) {
            e = att_diag_set(d, ATT_E_EVIDENCE_FORMAT,
                             "the tpm_quote has a member \"%.32s\"; it takes message, signature "
                             "and pcrs (the AK is the HCL runtime data's HCLAkPub)",
                             k);
            goto out;
        }
    }
    if ((e = att_vtpm_hex(o, "message", ATT_HCL_QUOTE_MAX_MSG, &q->msg, &q->msg_len, d)) !=
            ATT_OK ||
        (e = att_vtpm_hex(o, "signature", ATT_HCL_QUOTE_MAX_SIG, &q->sig, &q->sig_len, d)) !=
            ATT_OK)
        goto out;
    /* The selection says which values the pcrDigest covers, in which order. */
    att_tpm_attest_t a;
    if ((e = att_tpm_attest_parse(q->msg, q->msg_len, &a, d)) != ATT_OK) {
        char why[sizeof d->msg];
        snprintf(why, sizeof why, "%s", d->msg);
        att_diag_set(d, e, "the tpm_quote's message: %s", why);
        goto out;
    }
    if (a.type != ATT_TPM_ST_ATTEST_QUOTE) {
        e = att_diag_set(d, ATT_E_EVIDENCE_FORMAT,
                         "the tpm_quote's message is of type 0x%04x, not ATTEST_QUOTE (0x8018)",
                         a.type);
        goto out;
    }
    if (a.nsel != 1) {
        e = att_diag_set(d, ATT_E_UNSUPPORTED,
                         "the tpm_quote covers %zu PCR banks; its pcrs list gives the values of "
                         "one bank",
                         a.nsel);
        goto out;
    }
    const json_t *pcrs = json_object_get(o, "pcrs");
    size_t np = json_array_size(pcrs), ds = att_tpm_digest_size(a.sel[0].alg);
    if (!json_is_array(pcrs) || np == 0 || np > ATT_TPM_NUM_PCRS) {
        e = att_diag_set(d, ATT_E_EVIDENCE_FORMAT,
                         "the tpm_quote's pcrs must be an array of 1 to %d hex strings (PCR 0 "
                         "first)",
                         ATT_TPM_NUM_PCRS);
        goto out;
    }
    size_t nsel = 0;
    for (int i = 0; i < ATT_TPM_NUM_PCRS; i++)
        nsel += (a.sel[0].mask >> i) & 1u;
    if ((q->pcrs = malloc(nsel * ds + 1)) == NULL) {
        e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < ATT_TPM_NUM_PCRS; i++) {
        if (!((a.sel[0].mask >> i) & 1u))
            continue;
        const json_t *v = json_array_get(pcrs, (size_t)i);
        const char *s = json_string_value(v);
        if (v == NULL) {
            e = att_diag_set(d, ATT_E_EVIDENCE_FORMAT,
                             "the tpm_quote covers %s PCR %d but its pcrs list has %zu values",
                             att_tpm_alg_name(a.sel[0].alg), i, np);
            goto out;
        }
        if (s == NULL || json_string_length(v) != 2 * ds ||
            !att_hex_decode(s, 2 * ds, q->pcrs + q->pcrs_len, ds)) {
            e = att_diag_set(d, ATT_E_EVIDENCE_FORMAT,
                             "the tpm_quote's pcrs[%d] must be %zu bytes in hex (a %s value)", i,
                             ds, att_tpm_alg_name(a.sel[0].alg));
            goto out;
        }
        q->pcrs_len += ds;
    }
    return ATT_OK;
out:
    att_hcl_quote_clear(q);
    return e;
}

ATT_API void att_hcl_quote_clear(att_hcl_quote_t *q)
{
    if (q == NULL)
        return;
    free(q->msg);
    free(q->sig);
    free(q->pcrs);
    memset(q, 0, sizeof(*q));
}

ATT_API att_err_t att_hcl_quote_verify(const att_hcl_report_t *h, const att_hcl_quote_t *q,
                                       const uint8_t *nonce, size_t nonce_len,
                                       att_tpm_result_t *res)
{
    /* No nonce: the quote's own extraData passes the check and is reported. */
    att_tpm_attest_t a;
    att_diag_t ignored;
    if (nonce == NULL && att_tpm_attest_parse(q->msg, q->msg_len, &a, &ignored) == ATT_OK) {
        nonce = a.extra_data;
        nonce_len = a.extra_data_len;
    }
    att_tpm_input_t in = {.ak = h->runtime_data,
                          .ak_len = h->runtime_len,
                          .quote = q->msg,
                          .quote_len = q->msg_len,
                          .sig = q->sig,
                          .sig_len = q->sig_len,
                          .pcrs = q->pcrs,
                          .pcrs_len = q->pcrs_len,
                          .nonce = nonce,
                          .nonce_len = nonce_len};
    att_err_t e = att_tpm_verify(&in, res);
    if (e != ATT_OK) {
        /* Say which evidence the failed check is about. */
        char msg[sizeof res->diag.msg];
        snprintf(msg, sizeof msg, "%s", res->diag.msg);
        att_diag_set(&res->diag, e, "the vTPM quote: %s", msg);
    }
    return e;
}

/* A base64url member; absent: *out NULL (an error when required). */
static att_err_t att_snp_ev_b64(const json_t *o, const char *name, bool required, uint8_t **out,
                                size_t *len, att_diag_t *d)
{
    const json_t *v = json_object_get(o, name);
    if (v == NULL || json_is_null(v)) {
        if (required)
            return att_diag_set(d, ATT_E_EVIDENCE_FORMAT, "the SEV-SNP evidence has no %s", name);
        return ATT_OK;
    }
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (s == NULL || n == 0 || n > ATT_SNP_EVIDENCE_MAX_PART)
        return att_diag_set(d, ATT_E_EVIDENCE_FORMAT,
                            "the SEV-SNP evidence's %s must be a base64url string of 1 to %d "
                            "characters",
                            name, ATT_SNP_EVIDENCE_MAX_PART);
    if (!att_b64_decode(s, n, false, out, len))
        return att_diag_set(d, ATT_E_EVIDENCE_FORMAT, "the SEV-SNP evidence's %s is not base64url",
                            name);
    return ATT_OK;
}

ATT_API att_err_t att_snp_evidence_parse(const uint8_t *buf, size_t len, att_snp_evidence_t *ev,
                                         att_diag_t *d)
{
    memset(ev, 0, sizeof(*ev));
    json_error_t je;
    json_t *doc = att_json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    att_err_t e = ATT_OK;
    if (doc == NULL || !json_is_object(doc)) {
        e = att_diag_set(d, ATT_E_EVIDENCE_FORMAT, "the SEV-SNP evidence is not a JSON object%s%s",
                         doc ? "" : ": ", doc ? "" : je.text);
        goto out;
    }
    bool trustee = json_object_get(doc, "hcl_report") != NULL;
    if (trustee && json_object_get(doc, "SnpReport") != NULL) {
        e = att_diag_set(d, ATT_E_EVIDENCE_FORMAT,
                         "the SEV-SNP evidence has both SnpReport (MAA's form) and hcl_report "
                         "(Trustee's): give one");
        goto out;
    }
    if (trustee) {
        /* Trustee's az-snp-vtpm Evidence: version 1 (with the VCEK; version 0 had none) */
        const json_t *ver = json_object_get(doc, "version");
        if (ver != NULL && !(json_is_integer(ver) &&
                             (json_integer_value(ver) == 0 || json_integer_value(ver) == 1))) {
            e = att_diag_set(d, ATT_E_EVIDENCE_FORMAT,
                             "the az-snp-vtpm evidence's version must be 0 or 1");
            goto out;
        }
        if ((e = att_snp_ev_b64(doc, "hcl_report", true, &ev->report, &ev->report_len, d)) !=
                ATT_OK ||
            (e = att_snp_ev_b64(doc, "vcek", false, &ev->leaf, &ev->leaf_len, d)) != ATT_OK)
            goto out;
        if (!att_hcl_is_report(ev->report, ev->report_len)) {
            e = att_diag_set(d, ATT_E_EVIDENCE_FORMAT,
                             "the az-snp-vtpm evidence's hcl_report is not an HCL report (magic "
                             "\"HCLA\")");
            goto out;
        }
    } else if ((e = att_snp_ev_b64(doc, "SnpReport", true, &ev->report, &ev->report_len, d)) !=
                   ATT_OK ||
               (e = att_snp_ev_b64(doc, "VcekCertChain", false, &ev->chain, &ev->chain_len, d)) !=
                   ATT_OK) {
        goto out;
    }
    const json_t *q = json_object_get(doc, "tpm_quote");
    if (trustee && q == NULL) {
        e = att_diag_set(d, ATT_E_EVIDENCE_FORMAT, "the az-snp-vtpm evidence has no tpm_quote");
        goto out;
    }
    if (q != NULL && !json_is_null(q)) {
        if (!att_hcl_is_report(ev->report, ev->report_len)) {
            e = att_diag_set(d, ATT_E_EVIDENCE_FORMAT,
                             "the SEV-SNP evidence has a tpm_quote but no Azure HCL report, whose "
                             "runtime data carries the vTPM's AK");
            goto out;
        }
        if ((e = att_hcl_quote_from_json(q, &ev->quote, d)) != ATT_OK)
            goto out;
        ev->has_quote = true;
    }
out:
    json_decref(doc);
    if (e != ATT_OK)
        att_snp_evidence_clear(ev);
    return e;
}

ATT_API void att_snp_evidence_clear(att_snp_evidence_t *ev)
{
    if (ev == NULL)
        return;
    free(ev->report);
    free(ev->chain);
    free(ev->leaf);
    att_hcl_quote_clear(&ev->quote);
    memset(ev, 0, sizeof(*ev));
}
