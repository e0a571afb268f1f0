/* trust.c - trust anchors, pinned by public key.
 *
 * The Intel SGX Root CA (CN=Intel SGX Root CA, O=Intel Corporation; SHA-256 fingerprint
 * 44:A0:19:6B:2B:99:F8:89:B8:E1:49:E9:5B:80:7A:35:0E:74:24:96:43:99:E8:85:A7:CB:B8:CC:FA:B6:74:D3)
 * is pinned by its P-256 public key. Other roots are trusted only when a caller adds them,
 * for test hierarchies.
 */
#include <string.h>

#include <openssl/core_names.h>

#include "core/util.h"
#include "crypto/crypto.h"
#include "dcap/dcap_internal.h"

static const uint8_t att_intel_root_key[65] = {
    0x04, 0x0b, 0xa9, 0xc4, 0xc0, 0xc0, 0xc8, 0x61, 0x93, 0xa3, 0xfe, 0x23, 0xd6, 0xb0, 0x2c,
    0xda, 0x10, 0xa8, 0xbb, 0xd4, 0xe8, 0x8e, 0x48, 0xb4, 0x45, 0x85, 0x61, 0xa3, 0x6e, 0x70,
    0x55, 0x25, 0xf5, 0x67, 0x91, 0x8e, 0x2e, 0xdc, 0x88, 0xe4, 0x0d, 0x86, 0x0b, 0xd0, 0xcc,
    0x4e, 0xe2, 0x6a, 0xac, 0xc9, 0x88, 0xe5, 0x05, 0xa9, 0x53, 0x55, 0x8c, 0x45, 0x3f, 0x6b,
    0x09, 0x04, 0xae, 0x73, 0x94};

/* The uncompressed P-256 point of a certificate's key. */
static bool att_cert_point(X509 *cert, uint8_t out[65])
{
    EVP_PKEY *k = X509_get0_pubkey(cert);
    size_t len = 0;
    if (!att_key_is_p256(k))
        return false;
    if (!EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out, 65, &len) ||
        len != 65 || out[0] != 0x04) {
        /* Keys may be stored compressed: ask for the uncompressed form. */
        return false;
    }
    return true;
}

ATT_API att_trust_t *att_trust_new(void)
{
    att_trust_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    memcpy(t->key[0], att_intel_root_key, 65);
    t->n = 1;
    return t;
}

ATT_API att_err_t att_trust_add_root(att_trust_t *t, const uint8_t *cert, size_t len,
                                     att_diag_t *diag)
{
    if (t == NULL || cert == NULL)
        return att_diag_set(diag, ATT_E_ARG, "trust root: NULL argument");
    if (t->n == ATT_MAX_TRUST_ROOTS)
        return att_diag_set(diag, ATT_E_LIMIT, "at most %d trust roots", ATT_MAX_TRUST_ROOTS);
    X509 *x = att_cert_parse(cert, len, "trust root", diag);
    if (x == NULL)
        return ATT_E_CERT_PARSE;
    att_err_t e = ATT_OK;
    if (!att_cert_point(x, t->key[t->n]))
        e = att_diag_set(diag, ATT_E_CERT_KEY, "trust root key is not an ECDSA P-256 key");
    else if (att_check_root(x, "trust root", diag) != ATT_OK) /* what chain roots must be */
        e = att_diag_set(diag, ATT_E_CERT_SIGNATURE, "trust root is not a self-signed CA "
                         "certificate (issuer = subject, basicConstraints CA:TRUE, own signature)");
    else
        t->n++;
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

ATT_API void att_trust_free(att_trust_t *t) { free(t); }

bool att_trust_is_intel(X509 *cert)
{
    uint8_t pt[65];
    return att_cert_point(cert, pt) && memcmp(pt, att_intel_root_key, 65) == 0;
}

bool att_trust_has_key(const att_trust_t *t, X509 *cert)
{
    uint8_t pt[65];
    if (t == NULL || !att_cert_point(cert, pt))
        return false;
    for (size_t i = 0; i < t->n; i++)
        if (memcmp(t->key[i], pt, 65) == 0)
            return true;
    return false;
}
