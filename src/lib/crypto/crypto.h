/* crypto.h - ECDSA P-256 and X.509/CRL helpers over OpenSSL 3 (internal).
 *
 *   att_p256_t *k = att_p256_from_raw(xy64);       // attestation key from a quote
 *   if (!att_p256_verify(k, msg, len, rs64)) ...   // raw r||s signature over SHA-256(msg)
 *
 * Every signature verification goes through these functions so that
 * att_crypto_ecdsa_verify_count() reports exactly how many the library performed
 * (benchmarks derive their crypto bound from it).
 * Trust anchors of any accepted key type (RSA, EC P-256, EC P-384) and a generic chain check are
 * in trust.c.
 * Not checked here: anything about what a certificate means to a verifier; see dcap/verify.c.
 */
#ifndef ATT_CRYPTO_H
#define ATT_CRYPTO_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/trust.h"
#include "attest/types.h"

/* Number of signature verifications performed by this process through these helpers. */
uint64_t att_crypto_ecdsa_verify_count(void);
/* Of those, the ECDSA P-384 verifications (att_p384_verify_le: SEV-SNP report signatures). */
uint64_t att_crypto_p384_verify_count(void);

/* A P-256 public key ready for repeated raw verification (immutable, shareable). */
typedef struct att_p256 att_p256_t;
/* From raw x||y (64 bytes); NULL if not a point on the curve. */
att_p256_t *att_p256_from_raw(const uint8_t xy[64]);
/* From a certificate's key; NULL if it is not a P-256 key. */
att_p256_t *att_p256_from_pkey(EVP_PKEY *key);
void att_p256_free(att_p256_t *k);
/* Verify raw r||s (64 bytes) over SHA-256(msg) (counted). */
bool att_p256_verify(const att_p256_t *k, const uint8_t *msg, size_t len, const uint8_t sig[64]);

/* Verify ECDSA P-384 over SHA-384(msg), r and s given as n-byte (n <= 72) little-endian
 * integers as AMD's SEV-SNP reports carry them (counted in both counters). key: EC P-384. */
bool att_p384_verify_le(EC_KEY *key, const uint8_t *msg, size_t len, const uint8_t *r,
                        const uint8_t *s, size_t n);

/* True if key is an EC key on P-256. */
bool att_key_is_p256(EVP_PKEY *key);
/* SHA-256 of a || b. */
bool att_sha256_2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[32]);
/* Certificate / CRL signature checks (counted). */
bool att_x509_sig_ok(X509 *cert, EVP_PKEY *issuer_key);
bool att_crl_sig_ok(X509_CRL *crl, EVP_PKEY *issuer_key);

/* ASN1_TIME to seconds since the epoch; false if malformed. */
bool att_asn1_time(const ASN1_TIME *t, att_time_t *out);
/* The subject (or issuer) commonName into buf; "" if absent. */
void att_x509_cn(const X509_NAME *name, char *buf, size_t len);
/* One-line RFC 2253 form of a name into buf. */
void att_x509_name_str(const X509_NAME *name, char *buf, size_t len);
/* Serial as lowercase hex into buf. */
void att_x509_serial_hex(const ASN1_INTEGER *serial, char *buf, size_t len);

/* Parse every PEM certificate in text[0..len) (stops at NUL). Returns the stack (caller frees
 * with sk_X509_pop_free) or NULL with diag set (code `err`). At most `max` certificates. */
STACK_OF(X509) * att_pem_chain(const uint8_t *text, size_t len, size_t max, att_err_t err,
                               const char *what, att_diag_t *diag);
/* A CRL in DER, or in PEM (one "X509 CRL" block, only whitespace around it): the one CRL parser
 * of the project. Bytes after the DER CRL, inside or outside a PEM block, are refused
 * (ATT_E_CRL_PARSE, with `what` and the count in diag). */
X509_CRL *att_crl_parse(const uint8_t *buf, size_t len, const char *what, att_diag_t *diag);
/* A certificate in DER or PEM. */
X509 *att_cert_parse(const uint8_t *buf, size_t len, const char *what, att_diag_t *diag);

/* ---- the fast route for a chain's leaf (docs/performance.md, "DCAP warm") ---- */

/* The DER of each "CERTIFICATE" block of a PEM text, decoded with EVP_DecodeUpdate: at most
 * `max` blocks, each at most ATT_PEM_CERT_MAX bytes, into der (caller frees with free()),
 * off[i] / len[i] their places in it. Only the plain form: the blocks, and white space around
 * them (the text stops at its first NUL). Returns the number of blocks, or 0 for anything else
 * (other labels, headers, other text, bad base64, more blocks): the caller then uses the general
 * parser (att_pem_chain), which gives the verdict and message for such texts. */
#define ATT_PEM_CERT_MAX 16384
size_t att_pem_certs_der(const uint8_t *text, size_t len, size_t max, uint8_t **der, size_t *off,
                         size_t *lens);
/* A DER certificate that fills der[0..len) exactly, parsed WITHOUT decoding its public key:
 * OpenSSL 3.0 decodes every certificate key through its provider decoders (about 90% of a
 * d2i_X509 of a P-256 certificate). The key stays undecoded: the certificate is for names,
 * extensions, dates and serial only; never pass it to X509_get0_pubkey, X509_verify or
 * X509_cmp. Its key: att_p256_from_cert; its signature: att_x509_sig_ok_p256. NULL if the DER
 * does not parse or does not fill len. */
X509 *att_x509_der_nokey(const uint8_t *der, size_t len);
/* The certificate's key from its SubjectPublicKeyInfo, when it is id-ecPublicKey on the named
 * curve P-256 and the point is on the curve; NULL otherwise. */
att_p256_t *att_p256_from_cert(X509 *cert);
/* The certificate's signature (counted) with an issuer's P-256 key, through att_p256_verify:
 * ecdsa-with-SHA256 in both signature algorithm fields (equal, as X509_verify requires), a
 * DER ECDSA-Sig-Value in canonical form with r and s of at most 32 bytes, over the exact
 * TBSCertificate bytes of der[0..len), the certificate's DER (as X509_verify signs the bytes
 * the certificate was parsed from). */
bool att_x509_sig_ok_p256(X509 *cert, const uint8_t *der, size_t len, const att_p256_t *issuer);

/* ---- trust anchors (trust.c; the public part is attest/trust.h) ---- */

/* The key types a trust store and att_trust_check_chain accept. */
typedef enum {
    ATT_KEY_UNSUPPORTED = 0,
    ATT_KEY_RSA,  /* rsaEncryption or RSASSA-PSS, at least ATT_TRUST_RSA_MIN_BITS */
    ATT_KEY_P256, /* ECDSA P-256 */
    ATT_KEY_P384, /* ECDSA P-384 */
} att_key_type_t;
att_key_type_t att_key_type(EVP_PKEY *key);
/* "RSA-4096", "EC P-384", "EC secp521r1", "ED25519", ... into buf, for messages. */
void att_key_name(EVP_PKEY *key, char *buf, size_t len);
/* Pin a public key with no certificate (a vendor's anchor compiled in). */
att_err_t att_trust_pin(att_trust_t *t, EVP_PKEY *key, att_diag_t *diag);
/* True if the certificate's public key is one of the store's root keys. */
bool att_trust_has_key(const att_trust_t *t, X509 *cert);
/* True if one of the store's root keys verifies the CRL's signature (counted): a CRL issued by
 * a root the caller trusts (a test hierarchy's ARK); which issuer name it must have is the
 * caller's question. */
bool att_trust_crl_sig_ok(const att_trust_t *t, X509_CRL *crl);
/* A self-issued, self-signed CA certificate, whatever its key type (its key's trust is the
 * caller's question); `what` names the chain it ends. */
att_err_t att_check_root(X509 *root, const char *what, att_diag_t *diag);
/* A chain, leaf first and root last (n >= 1, bounded by the caller's parser), against a store:
 * the root's key is in the store and the root is a self-signed CA; each certificate is issued by
 * the next (names, key identifiers, key usage: X509_check_issued), every one but the leaf is a CA,
 * every key is of an accepted type, every signature verifies with the issuer's key, checked from
 * the root down, so that no signature is checked with a key not yet authenticated; every
 * certificate is valid at `now`. Not checked: names, extensions or key types a verifier requires
 * of its own chains, the leaf's CA flag, revocation. */
att_err_t att_trust_check_chain(const att_trust_t *t, X509 *const *chain, size_t n, att_time_t now,
                                const char *what, att_diag_t *diag);

#endif
