/* hsm.h - a token signing key held in an HSM, used through PKCS#11 (--signing-key pkcs11:...).
 *
 *   att_hsm_t *h;
 *   att_hsm_open("pkcs11:token=attestd;object=signing?module-path=/usr/lib/softhsm/"
 *                "libsofthsm2.so&pin-source=/etc/attestd/pin", 4, &h, &d);
 *   att_signer_t *s = att_signer_new_ext(att_hsm_sign, h, cert, ATT_ALG_ES256, &d);
 *   X509 *cert; att_cert_self_signed_ext(att_hsm_public_key(h), att_hsm_sign, h, issuer, ...);
 *   att_hsm_free(h);   // after every signer using it
 *
 * The URI is RFC 7512's, parsed by p11-kit: the module is module-path (a file) or module-name
 * (p11-kit's registered modules; neither: all of them); the token is named by token, manufacturer,
 * serial, model (or slot-id), the key by object (CKA_LABEL) and/or id (CKA_ID); the PIN is
 * pin-value, or the first line of the file pin-source names (file: URI or path; refused when
 * other users can read it). Exactly one token and exactly one private key must match. The
 * public key comes from a certificate object with the key's CKA_ID, else a public key object,
 * else (RSA) the private key object's modulus and exponent; RSA 2048-8192 bits or EC P-256.
 *
 * Signing hashes with SHA-256 here and has the token sign the digest: CKM_RSA_PKCS with the
 * DigestInfo (RS256), CKM_RSA_PKCS_PSS with SHA-256/MGF1-SHA-256/32-byte salt (PS256), CKM_ECDSA
 * (ES256, raw r||s as JWS wants). PKCS#11 sessions are not for concurrent use: a pool of
 * `sessions` sessions opened at start, each used by one signature at a time (a signature waits
 * for a free one). The private key never leaves the token. Not handled: a token removed and put
 * back while attestd runs (signatures fail with a clear error until attestd is restarted).
 */
#ifndef ATTESTD_HSM_H
#define ATTESTD_HSM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/token.h"
#include "attest/types.h"

#define ATT_HSM_PIN_MAX 256 /* bytes of a PIN read from pin-source */

typedef struct att_hsm att_hsm_t;

/* Load the module, find the token and the key, log in, open `sessions` sessions (1..64).
 * ATT_E_ARG for a URI that does not parse or names no key; ATT_E_KEY for what the HSM refuses
 * (no such token or key, two of them, a wrong or missing PIN, a key of another type), the
 * message naming the token, the object and the PKCS#11 return value (CKR_PIN_INCORRECT ...),
 * never the PIN. */
att_err_t att_hsm_open(const char *uri, unsigned sessions, att_hsm_t **out, att_diag_t *d) ATT_WUR;
void att_hsm_free(att_hsm_t *h);
/* The key's public half (owned by h) and certificate object (NULL when the token has none whose
 * key is this one; owned by h). */
EVP_PKEY *att_hsm_public_key(const att_hsm_t *h);
X509 *att_hsm_certificate(const att_hsm_t *h);
/* The URI without its pin-value (what may be stored and logged). */
const char *att_hsm_uri(const att_hsm_t *h);
/* att_sign_fn over h (ctx): sign in[0..len) for alg into sig (JWS form). */
att_err_t att_hsm_sign(void *h, att_alg_t alg, const uint8_t *in, size_t len, uint8_t *sig,
                       size_t *siglen, att_diag_t *d);
/* Signatures made so far, and how many had to wait for a free session (for tests, metrics). */
void att_hsm_stats(att_hsm_t *h, uint64_t *signs, uint64_t *waits);

#endif
