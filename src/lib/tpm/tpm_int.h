/* tpm_int.h - helpers shared by the TPM 2.0 modules (internal). */
#ifndef ATT_TPM_INT_H
#define ATT_TPM_INT_H

#include <openssl/err.h>
#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/tpm.h"

struct att_tpm_ak {
    EVP_PKEY *key;
    att_tpm_ak_info_t info;
    int bits; /* RSA modulus bits / EC field bits */
};

/* The OpenSSL digest of a TPM hash algorithm (SHA-1/256/384/512), or NULL. */
const EVP_MD *att_tpm_md(uint16_t alg);
/* Digest size of a TPM hash algorithm, 0 if unknown. */
size_t att_tpm_digest_size(uint16_t alg);
/* H(data) with a TPM hash algorithm into out (att_tpm_digest_size bytes); false on failure. */
bool att_tpm_hash(uint16_t alg, const uint8_t *data, size_t len, uint8_t *out);

/* EVP_PKEY from a TPMT_PUBLIC's RSA or ECC unique field (RSA with its exponent, NIST
 * P-256/384/521), or NULL with *why saying what is wrong. */
EVP_PKEY *att_tpm_public_key(const TPMT_PUBLIC *p, const char **why);

/* The effective limits (defaults for NULL or 0 fields). */
att_tpm_limits_t att_tpm_limits(const att_tpm_limits_t *l);

/* Append an event (zeroed) to ev, growing it; NULL out of memory. */
att_tpm_event_t *att_tpm_events_add(att_tpm_events_t *ev);

/* Verify a signature (a TPMT_SIGNATURE or bare) over msg with the AK; fills alg/hash/bare.
 * ATT_E_EVIDENCE_FORMAT for an unreadable signature, ATT_E_TPM_SIGNATURE for a wrong one,
 * ATT_E_TPM_AK when the AK's type or scheme does not fit the signature. */
att_err_t att_tpm_sig_verify(const att_tpm_ak_t *ak, const uint8_t *sig, size_t sig_len,
                             const uint8_t *msg, size_t msg_len, uint16_t *alg, uint16_t *hash,
                             bool *bare, att_diag_t *diag);

#endif
