/* trust.c - the DCAP verifier's trust anchors: its store and its root rule.
 *
 * The Intel SGX Root CA (CN=Intel SGX Root CA, O=Intel Corporation; SHA-256 fingerprint
 * 44:A0:19:6B:2B:99:F8:89:B8:E1:49:E9:5B:80:7A:35:0E:74:24:96:43:99:E8:85:A7:CB:B8:CC:FA:B6:74:D3)
 * is pinned by its P-256 public key. Other roots are trusted only when a caller adds them, for
 * test hierarchies. The store (crypto/trust.c) holds roots of any accepted key type; DCAP
 * requires its chains to end at a P-256 root (att_dcap_root_key), so an RSA or P-384 root added
 * for another verifier's sake never vouches for an Intel quote.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "core/util.h"
#include "crypto/crypto.h"
#include "dcap/dcap_internal.h"

static const uint8_t att_intel_root_key[65] = {
    0x04, 0x0b, 0xa9, 0xc4, 0xc0, 0xc0, 0xc8, 0x61, 0x93, 0xa3, 0xfe, 0x23, 0xd6,
    0xb0, 0x2c, 0xda, 0x10, 0xa8, 0xbb, 0xd4, 0xe8, 0x8e, 0x48, 0xb4, 0x45, 0x85,
    0x61, 0xa3, 0x6e, 0x70, 0x55, 0x25, 0xf5, 0x67, 0x91, 0x8e, 0x2e, 0xdc, 0x88,
    0xe4, 0x0d, 0x86, 0x0b, 0xd0, 0xcc, 0x4e, 0xe2, 0x6a, 0xac, 0xc9, 0x88, 0xe5,
    0x05, 0xa9, 0x53, 0x55, 0x8c, 0x45, 0x3f, 0x6b, 0x09, 0x04, 0xae, 0x73, 0x94};

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

/* The pinned key as an EVP_PKEY, for the store. */
static EVP_PKEY *att_intel_root_pkey(void)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM p[] = {OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
                      OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)att_intel_root_key,
                                              sizeof(att_intel_root_key)),
                      OSSL_PARAM_END};
    if (c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
        EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p) != 1)
        k = NULL;
    EVP_PKEY_CTX_free(c);
    ERR_clear_error();
    return k;
}

ATT_API att_trust_t *att_trust_new(void)
{
    att_trust_t *t = att_trust_new_empty();
    EVP_PKEY *k = att_intel_root_pkey();
    if (t == NULL || k == NULL || att_trust_pin(t, k, NULL) != ATT_OK) {
        att_trust_free(t);
        t = NULL;
    }
    EVP_PKEY_free(k);
    return t;
}

att_err_t att_dcap_root_key(X509 *root, const char *what, att_diag_t *diag)
{
    EVP_PKEY *k = X509_get0_pubkey(root);
    if (att_key_is_p256(k))
        return ATT_OK;
    char kn[64];
    att_key_name(k, kn, sizeof(kn));
    return att_diag_set(diag, ATT_E_CERT_KEY,
                        "the root of the %s has an %s key: a DCAP chain "
                        "must end at an ECDSA P-256 root like Intel's (a trust root of another "
                        "key type serves other verifiers only)",
                        what, kn);
}

bool att_trust_is_intel(X509 *cert)
{
    uint8_t pt[65];
    return att_cert_point(cert, pt) && memcmp(pt, att_intel_root_key, 65) == 0;
}
