/* attest/trust.h - trust anchors for one verifier: root certificates pinned by public key.
 *
 *   att_trust_t *amd = att_trust_new_empty();             // a verifier with no built-in root
 *   att_trust_add_root_file(amd, "ark-milan.pem", &diag);  // RSA-4096, RSA-PSS self-signature
 *   ... the verifier that owns `amd` checks its chains against it ...
 *   att_trust_free(amd);
 *
 *   att_trust_t *intel = att_trust_new();                  // DCAP's store (attest/dcap.h):
 *                                                          // the Intel SGX Root CA pinned
 *
 * A store belongs to one verifier: the DCAP verifier gets its own (att_trust_new, plus
 * attestd's --trust-root), and another TEE's verifier (AMD SEV-SNP's ARK) gets another. The store
 * accepts roots whose key is RSA (rsaEncryption or RSASSA-PSS, at least ATT_TRUST_RSA_MIN_BITS
 * bits; the certificate's own signature may be PKCS#1 v1.5 or PSS), ECDSA P-256 or ECDSA P-384,
 * and that are what a chain root must be: self-issued, basicConstraints CA:TRUE, signed by their
 * own key. A root is trusted by its public key, so a re-issued root certificate with the same key
 * is the same anchor.
 * What is NOT checked here: which key types a verifier accepts for its own chains (DCAP requires
 * Intel's ECDSA P-256 root and refuses a chain ending at an RSA or P-384 root with
 * ATT_E_CERT_KEY even when that root is in its store), the root's validity window (each chain
 * check has its own `now`), and revocation of the root itself.
 */
#ifndef ATTEST_TRUST_H
#define ATTEST_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include "attest/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many roots per store (ATT_E_LIMIT beyond). */
#define ATT_TRUST_MAX_ROOTS 16
/* The smallest RSA modulus a root may have. */
#define ATT_TRUST_RSA_MIN_BITS 2048

typedef struct att_trust att_trust_t;

/* A store with no root: for a verifier whose anchors the caller supplies. NULL when out of
 * memory. (att_trust_new in attest/dcap.h is DCAP's store, with the Intel SGX Root CA pinned.) */
ATT_API att_trust_t *att_trust_new_empty(void);
/* Add a root (PEM or DER certificate), trusted by its key. ATT_E_CERT_PARSE if it does not parse,
 * ATT_E_CERT_KEY for a key of another type or an RSA key under ATT_TRUST_RSA_MIN_BITS,
 * ATT_E_CERT_SIGNATURE if it is not a self-signed CA (issuer = subject, CA:TRUE, own signature),
 * ATT_E_LIMIT when the store is full. Adding a key already in the store changes nothing. */
ATT_API att_err_t att_trust_add_root(att_trust_t *t, const uint8_t *cert, size_t len,
                                     att_diag_t *diag) ATT_WUR;
/* The same from a file (at most 1 MiB). */
ATT_API att_err_t att_trust_add_root_file(att_trust_t *t, const char *path,
                                          att_diag_t *diag) ATT_WUR;
/* Number of root keys in the store (DCAP's pinned Intel key included). */
ATT_API size_t att_trust_count(const att_trust_t *t);
ATT_API void att_trust_free(att_trust_t *t);

#ifdef __cplusplus
}
#endif
#endif
