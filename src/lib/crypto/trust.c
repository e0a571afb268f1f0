/* trust.c - trust anchors of any accepted key type (RSA incl. RSASSA-PSS, EC P-256, EC P-384),
 * pinned by public key, one store per verifier; and a generic chain check against a store.
 *
 * The store knows no vendor: DCAP's constructor (dcap/trust.c) pins Intel's root with
 * att_trust_pin and adds the rule that DCAP chains end at a P-256 root. See attest/trust.h.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include "core/util.h"
#include "crypto/crypto.h"

struct att_trust {
    size_t n;
    EVP_PKEY *key[ATT_TRUST_MAX_ROOTS]; /* public keys, compared with EVP_PKEY_eq */
};

static bool att_ec_group(EVP_PKEY *key, char *group, size_t len)
{
    size_t glen = 0;
    return EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, len, &glen);
}

att_key_type_t att_key_type(EVP_PKEY *key)
{
    char group[32];
    if (key == NULL)
        return ATT_KEY_UNSUPPORTED;
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        return EVP_PKEY_get_bits(key) >= ATT_TRUST_RSA_MIN_BITS ? ATT_KEY_RSA : ATT_KEY_UNSUPPORTED;
    case EVP_PKEY_EC:
        if (!att_ec_group(key, group, sizeof(group)))
            return ATT_KEY_UNSUPPORTED;
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            return ATT_KEY_P256;
        if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            return ATT_KEY_P384;
        return ATT_KEY_UNSUPPORTED;
    default:
        return ATT_KEY_UNSUPPORTED;
    }
}

void att_key_name(EVP_PKEY *key, char *buf, size_t len)
{
    char group[32];
    if (key == NULL) {
        snprintf(buf, len, "missing");
        return;
    }
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        snprintf(buf, len, "RSA-%d", EVP_PKEY_get_bits(key));
        break;
    case EVP_PKEY_RSA_PSS:
        snprintf(buf, len, "RSA-PSS-%d", EVP_PKEY_get_bits(key));
        break;
    case EVP_PKEY_EC:
        if (!att_ec_group(key, group, sizeof(group)))
            snprintf(buf, len, "EC (explicit parameters)");
        else if (strcmp(group, "prime256v1") == 0)
            snprintf(buf, len, "EC P-256");
        else if (strcmp(group, "secp384r1") == 0)
            snprintf(buf, len, "EC P-384");
        else
            snprintf(buf, len, "EC %s", group);
        break;
    default: {
        const char *t = EVP_PKEY_get0_type_name(key);
        snprintf(buf, len, "%s", t ? t : "unknown type");
    }
    }
}

/* The message for a key the store or a chain check does not accept. */
static att_err_t att_key_refused(EVP_PKEY *key, const char *what, att_diag_t *diag)
{
    char kn[64];
    att_key_name(key, kn, sizeof(kn));
    return att_diag_set(diag, ATT_E_CERT_KEY,
                        "%s has an %s key; accepted: RSA of %d bits or more "
                        "(PKCS#1 v1.5 or PSS), EC P-256, EC P-384",
                        what, kn, ATT_TRUST_RSA_MIN_BITS);
}

ATT_API att_trust_t *att_trust_new_empty(void)
{
    return calloc(1, sizeof(att_trust_t));
}

att_err_t att_trust_pin(att_trust_t *t, EVP_PKEY *key, att_diag_t *diag)
{
    if (t == NULL || key == NULL)
        return att_diag_set(diag, ATT_E_ARG, "trust root: NULL argument");
    if (att_key_type(key) == ATT_KEY_UNSUPPORTED)
        return att_key_refused(key, "trust root", diag);
    for (size_t i = 0; i < t->n; i++)
        if (EVP_PKEY_eq(t->key[i], key) == 1)
            return ATT_OK; /* already an anchor */
    if (t->n == ATT_TRUST_MAX_ROOTS)
        return att_diag_set(diag, ATT_E_LIMIT, "at most %d trust roots", ATT_TRUST_MAX_ROOTS);
    if (!EVP_PKEY_up_ref(key))
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    t->key[t->n++] = key;
    return ATT_OK;
}

ATT_API att_err_t att_trust_add_root(att_trust_t *t, const uint8_t *cert, size_t len,
                                     att_diag_t *diag)
{
    if (t == NULL || cert == NULL)
        return att_diag_set(diag, ATT_E_ARG, "trust root: NULL argument");
    X509 *x = att_cert_parse(cert, len, "trust root", diag);
    if (x == NULL)
        return ATT_E_CERT_PARSE;
    att_err_t e;
    EVP_PKEY *k = X509_get0_pubkey(x);
    if (att_key_type(k) == ATT_KEY_UNSUPPORTED)
        e = att_key_refused(k, "trust root", diag);
    else if (att_check_root(x, "trust root", diag) != ATT_OK) /* what chain roots must be */
        e = att_diag_set(diag, ATT_E_CERT_SIGNATURE,
                         "trust root is not a self-signed CA "
                         "certificate (issuer = subject, basicConstraints CA:TRUE, own signature)");
    else
        e = att_trust_pin(t, k, diag);
    X509_free(x);
    return e;
}

ATT_API att_err_t att_trust_add_root_file(att_trust_t *t, const char *path, att_diag_t *diag)
{
    uint8_t *buf;
    size_t len;
    att_err_t e = att_read_file(path, 1 << 20, &buf, &len, diag);
    if (e != ATT_OK)
        return e;
    e = att_trust_add_root(t, buf, len, diag);
    free(buf);
    return e;
}

ATT_API size_t att_trust_count(const att_trust_t *t)
{
    return t ? t->n : 0;
}

ATT_API void att_trust_free(att_trust_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        EVP_PKEY_free(t->key[i]);
    free(t);
}

bool att_trust_has_key(const att_trust_t *t, X509 *cert)
{
    EVP_PKEY *k = cert ? X509_get0_pubkey(cert) : NULL;
    if (t == NULL || k == NULL)
        return false;
    for (size_t i = 0; i < t->n; i++)
        if (EVP_PKEY_eq(t->key[i], k) == 1)
            return true;
    ERR_clear_error(); /* EVP_PKEY_eq of keys of different types leaves an error queued */
    return false;
}

bool att_trust_crl_sig_ok(const att_trust_t *t, X509_CRL *crl)
{
    if (t == NULL || crl == NULL)
        return false;
    for (size_t i = 0; i < t->n; i++)
        if (att_crl_sig_ok(crl, t->key[i]))
            return true;
    ERR_clear_error();
    return false;
}

att_err_t att_check_root(X509 *root, const char *what, att_diag_t *diag)
{
    if (X509_check_issued(root, root) != X509_V_OK || X509_check_ca(root) == 0 ||
        !att_x509_sig_ok(root, X509_get0_pubkey(root)))
        return att_diag_set(diag, ATT_E_CERT_SIGNATURE,
                            "the root of the %s is not a valid "
                            "self-signed CA certificate",
                            what);
    return ATT_OK;
}

/* Validity of one certificate of a chain at `now` (accepted at both ends). */
static att_err_t att_cert_window(X509 *x, att_time_t now, const char *what, size_t i,
                                 att_diag_t *diag)
{
    att_time_t nb, na;
    char cn[128];
    if (!att_asn1_time(X509_get0_notBefore(x), &nb) || !att_asn1_time(X509_get0_notAfter(x), &na))
        return att_diag_set(diag, ATT_E_CERT_PARSE, "%s: certificate %zu has bad dates", what, i);
    att_x509_cn(X509_get_subject_name(x), cn, sizeof(cn));
    if (now < nb)
        return att_diag_set(diag, ATT_E_CERT_NOT_YET_VALID,
                            "%s: certificate %zu ('%s') is not "
                            "valid before %lld, now is %lld",
                            what, i, cn, (long long)nb, (long long)now);
    if (now > na)
        return att_diag_set(diag, ATT_E_CERT_EXPIRED,
                            "%s: certificate %zu ('%s') expired at %lld, "
                            "now is %lld",
                            what, i, cn, (long long)na, (long long)now);
    return ATT_OK;
}

att_err_t att_trust_check_chain(const att_trust_t *t, X509 *const *chain, size_t n, att_time_t now,
                                const char *what, att_diag_t *diag)
{
    if (t == NULL || chain == NULL || n == 0)
        return att_diag_set(diag, ATT_E_ARG, "%s: no certificate", what);
    X509 *root = chain[n - 1];
    if (!att_trust_has_key(t, root)) {
        char name[256];
        att_x509_name_str(X509_get_subject_name(root), name, sizeof(name));
        return att_diag_set(diag, ATT_E_CERT_UNTRUSTED_ROOT,
                            "the root of the %s (%s) is not a "
                            "trusted root key",
                            what, name);
    }
    att_err_t e = att_check_root(root, what, diag);
    if (e == ATT_OK)
        e = att_cert_window(root, now, what, n - 1, diag);
    /* From the root down: each signature is checked with a key already authenticated. */
    for (size_t i = n - 1; e == ATT_OK && i-- > 0;) {
        X509 *x = chain[i], *issuer = chain[i + 1];
        char label[160];
        snprintf(label, sizeof(label), "%s: certificate %zu", what, i);
        int r = X509_check_issued(issuer, x);
        if (r != X509_V_OK)
            e = att_diag_set(diag, ATT_E_CERT_ISSUER,
                             "%s is not issued by the next certificate "
                             "of its chain: %s",
                             label, X509_verify_cert_error_string(r));
        else if (i > 0 && X509_check_ca(x) == 0)
            e = att_diag_set(diag, ATT_E_CERT_CONSTRAINTS, "%s is not a CA certificate", label);
        else if (att_key_type(X509_get0_pubkey(x)) == ATT_KEY_UNSUPPORTED)
            e = att_key_refused(X509_get0_pubkey(x), label, diag);
        else if (!att_x509_sig_ok(x, X509_get0_pubkey(issuer)))
            e = att_diag_set(diag, ATT_E_CERT_SIGNATURE,
                             "%s signature does not verify with the "
                             "key of its issuer",
                             label);
        else
            e = att_cert_window(x, now, what, i, diag);
    }
    ERR_clear_error();
    return e;
}
