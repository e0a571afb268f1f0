/* akcert.c - AK and EK certificates: a set of configured CA certificates, chains verified with
 * OpenSSL's X509_verify_cert at the time the caller passes, the certificate's key compared with
 * the AK (AK certificates) or the EK's TPM2B_PUBLIC (EK certificates).
 *
 * Every configured certificate is a trust anchor (X509_V_FLAG_PARTIAL_CHAIN): a chain may end
 * at a configured intermediate. Presented intermediates are untrusted helpers, at most
 * ATT_TPM_MAX_CHAIN of them. TPM EK certificates carry a critical subjectAltName with a
 * directoryName (TPM manufacturer, model, version) which OpenSSL handles; when an EK
 * certificate has an extendedKeyUsage it must include tcg-kp-EKCertificate (2.23.133.8.1). Not
 * checked here: revocation, certificate policies, the TPM manufacturer's identity beyond the
 * chain.
 */
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "core/util.h"
#include "crypto/crypto.h"
#include "tpm/tpm_int.h"

struct att_tpm_ca {
    X509_STORE *store;
    size_t n;
};

ATT_API att_err_t att_tpm_ca_new(att_tpm_ca_t **out, att_diag_t *diag)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL || ((*out)->store = X509_STORE_new()) == NULL) {
        free(*out);
        *out = NULL;
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    return ATT_OK;
}

ATT_API void att_tpm_ca_free(att_tpm_ca_t *ca)
{
    if (ca == NULL)
        return;
    X509_STORE_free(ca->store);
    free(ca);
}

ATT_API size_t att_tpm_ca_count(const att_tpm_ca_t *ca)
{
    return ca ? ca->n : 0;
}

ATT_API att_err_t att_tpm_ca_add(att_tpm_ca_t *ca, const uint8_t *buf, size_t len, const char *name,
                                 att_diag_t *diag)
{
    STACK_OF(X509) *certs = NULL;
    att_err_t e = ATT_OK;
    if (buf == NULL || len == 0)
        return att_diag_set(diag, ATT_E_CERT_PARSE, "%s: empty", name);
    size_t lead = 0;
    while (lead < len &&
           (buf[lead] == ' ' || buf[lead] == '\n' || buf[lead] == '\r' || buf[lead] == '\t'))
        lead++;
    if (len - lead >= 10 && !memcmp(buf + lead, "-----BEGIN", 10)) {
        if ((certs = att_pem_chain(buf, len, ATT_TPM_MAX_CAS, ATT_E_CERT_PARSE, name, diag)) ==
            NULL)
            return diag->code;
    } else {
        X509 *x = att_cert_parse(buf, len, name, diag);
        if (x == NULL)
            return diag->code;
        if ((certs = sk_X509_new_null()) == NULL || !sk_X509_push(certs, x)) {
            X509_free(x);
            sk_X509_free(certs);
            return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        }
    }
    int n = sk_X509_num(certs);
    if (ca->n + (size_t)n > ATT_TPM_MAX_CAS)
        e = att_diag_set(diag, ATT_E_LIMIT, "%s: more than %u TPM CA certificates in all", name,
                         ATT_TPM_MAX_CAS);
    for (int i = 0; e == ATT_OK && i < n; i++) {
        X509 *x = sk_X509_value(certs, i);
        char subj[256];
        att_x509_name_str(X509_get_subject_name(x), subj, sizeof subj);
        if (X509_check_ca(x) == 0)
            e = att_diag_set(diag, ATT_E_CERT_CONSTRAINTS,
                             "%s: certificate %d (%s) is not a CA certificate", name, i, subj);
        else if (X509_STORE_add_cert(ca->store, x) != 1)
            e = att_diag_set(diag, ATT_E_CERT_PARSE, "%s: certificate %d (%s) cannot be added",
                             name, i, subj);
    }
    if (e == ATT_OK)
        ca->n += (size_t)n;
    sk_X509_pop_free(certs, X509_free);
    ERR_clear_error();
    return e;
}

/* An OpenSSL verification error as our code. */
static att_err_t att_x509_err(int err)
{
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return ATT_E_CERT_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return ATT_E_CERT_NOT_YET_VALID;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return ATT_E_CERT_SIGNATURE;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
        return ATT_E_CERT_UNTRUSTED_ROOT;
    case X509_V_ERR_CERT_REVOKED:
        return ATT_E_CERT_REVOKED;
    default:
        return ATT_E_CERT_CONSTRAINTS;
    }
}

/* Parse cert (DER) and its presented intermediates and verify the chain to ca at now; *leaf
 * set on success (caller frees). */
static att_err_t att_cert_chain(const att_tpm_ca_t *ca, const uint8_t *der, size_t len,
                                const uint8_t *const *chain, const size_t *lens, size_t n,
                                att_time_t now, const char *what, X509 **leaf,
                                att_tpm_cert_info_t *info, att_diag_t *diag)
{
    *leaf = NULL;
    memset(info, 0, sizeof(*info));
    if (ca == NULL || ca->n == 0)
        return att_diag_set(diag, ATT_E_CERT_UNTRUSTED_ROOT, "no CA is configured for the %s",
                            what);
    if (n > ATT_TPM_MAX_CHAIN)
        return att_diag_set(diag, ATT_E_LIMIT, "the %s comes with %zu intermediates; at most %d",
                            what, n, ATT_TPM_MAX_CHAIN);
    const unsigned char *p = der;
    X509 *x = der && len ? d2i_X509(NULL, &p, (long)len) : NULL;
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    att_err_t e = ATT_OK;
    if (x == NULL || p != der + len) {
        e = att_diag_set(diag, ATT_E_CERT_PARSE, "the %s is not one DER certificate", what);
        goto out;
    }
    if (untrusted == NULL || ctx == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const unsigned char *q = chain[i];
        X509 *c = lens[i] ? d2i_X509(NULL, &q, (long)lens[i]) : NULL;
        if (c == NULL || q != chain[i] + lens[i] || !sk_X509_push(untrusted, c)) {
            X509_free(c);
            e = att_diag_set(diag, ATT_E_CERT_PARSE,
                             "intermediate %zu of the %s is not one DER certificate", i, what);
            goto out;
        }
    }
    att_x509_name_str(X509_get_subject_name(x), info->subject, sizeof info->subject);
    att_x509_name_str(X509_get_issuer_name(x), info->issuer, sizeof info->issuer);
    att_x509_serial_hex(X509_get0_serialNumber(x), info->serial, sizeof info->serial);
    if (X509_STORE_CTX_init(ctx, ca->store, x, untrusted) != 1) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(vp, (time_t)now); /* never the clock */
    X509_VERIFY_PARAM_set_depth(vp, ATT_TPM_MAX_CHAIN + 1);
    X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
    if (X509_verify_cert(ctx) != 1) {
        int err = X509_STORE_CTX_get_error(ctx);
        char t[ATT_TIME_STRLEN];
        e = att_diag_set(diag, att_x509_err(err),
                         "the %s (%s, issued by %s) does not verify to a configured CA at %s: %s",
                         what, info->subject, info->issuer, att_time_format(now, t),
                         X509_verify_cert_error_string(err));
        goto out;
    }
    *leaf = x;
    x = NULL;
out:
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(untrusted, X509_free);
    X509_free(x);
    ERR_clear_error();
    return e;
}

ATT_API att_err_t att_tpm_akcert_verify(const att_tpm_ca_t *ca, const att_tpm_ak_t *ak,
                                        const uint8_t *cert, size_t len,
                                        const uint8_t *const *chain, const size_t *lens, size_t n,
                                        att_time_t now, att_tpm_cert_info_t *info, att_diag_t *diag)
{
    X509 *leaf = NULL;
    att_err_t e =
        att_cert_chain(ca, cert, len, chain, lens, n, now, "AK certificate", &leaf, info, diag);
    if (e != ATT_OK)
        return e;
    EVP_PKEY *k = X509_get0_pubkey(leaf);
    if (k == NULL || ak == NULL || EVP_PKEY_eq(k, ak->key) != 1) {
        char kn[64];
        att_key_name(k, kn, sizeof kn);
        e = att_diag_set(diag, ATT_E_TPM_AK,
                         "the AK certificate (%s) certifies another key (%s) than the AK (%s)",
                         info->subject, kn, ak ? ak->info.desc : "none");
    }
    X509_free(leaf);
    ERR_clear_error();
    return e;
}

/* tcg-kp-EKCertificate */
static const char att_ek_eku[] = "2.23.133.8.1";

ATT_API att_err_t att_tpm_ekcert_verify(const att_tpm_ca_t *ca, const uint8_t *cert, size_t len,
                                        const uint8_t *const *chain, const size_t *lens, size_t n,
                                        const uint8_t *ek_pub, size_t ek_len, att_time_t now,
                                        att_tpm_cert_info_t *info, uint8_t **spki, size_t *spki_len,
                                        att_diag_t *diag)
{
    *spki = NULL;
    *spki_len = 0;
    X509 *leaf = NULL;
    EVP_PKEY *tk = NULL;
    att_err_t e =
        att_cert_chain(ca, cert, len, chain, lens, n, now, "EK certificate", &leaf, info, diag);
    if (e != ATT_OK)
        return e;
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(leaf, NID_ext_key_usage, NULL, NULL);
    if (eku != NULL) {
        for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
            char oid[64];
            OBJ_obj2txt(oid, sizeof oid, sk_ASN1_OBJECT_value(eku, i), 1);
            if (!strcmp(oid, att_ek_eku))
                info->ek_eku = true;
        }
        sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
        if (!info->ek_eku) {
            e = att_diag_set(diag, ATT_E_CERT_CONSTRAINTS,
                             "the EK certificate (%s) has an extended key usage without "
                             "tcg-kp-EKCertificate (%s)",
                             info->subject, att_ek_eku);
            goto out;
        }
    }
    EVP_PKEY *k = X509_get0_pubkey(leaf);
    if (ek_pub != NULL && ek_len > 0) {
        TPM2B_PUBLIC pub;
        size_t off = 0;
        const char *why = "it does not parse";
        memset(&pub, 0, sizeof pub);
        if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(ek_pub, ek_len, &off, &pub) != TSS2_RC_SUCCESS ||
            off != ek_len || (tk = att_tpm_public_key(&pub.publicArea, &why)) == NULL) {
            e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "the EK's TPM2B_PUBLIC: %s", why);
            goto out;
        }
        if (k == NULL || EVP_PKEY_eq(k, tk) != 1) {
            e = att_diag_set(diag, ATT_E_TPM_EK,
                             "the EK certificate (%s) certifies another key than the EK's "
                             "TPM2B_PUBLIC",
                             info->subject);
            goto out;
        }
    }
    unsigned char *d = NULL;
    int dl = k ? i2d_PUBKEY(k, &d) : -1;
    if (dl <= 0 || (*spki = malloc((size_t)dl)) == NULL) {
        OPENSSL_free(d);
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(*spki, d, (size_t)dl);
    *spki_len = (size_t)dl;
    OPENSSL_free(d);
out:
    EVP_PKEY_free(tk);
    X509_free(leaf);
    ERR_clear_error();
    return e;
}
