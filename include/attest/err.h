/* attest/err.h - named error values for every layer of libattest.
 *
 *   att_diag_t d;
 *   att_err_t e = att_dcap_verify(..., &d);
 *   if (e != ATT_OK)
 *       fprintf(stderr, "%s: %s\n", att_err_name(e), d.msg);
 *
 * Every failure has a stable name (ATT_E_...), a stable number grouped by layer
 * (1xx input, 2xx certificates, 3xx CRLs, 4xx collateral, 5xx quote checks,
 * 6xx TCB, 7xx policy, 8xx token, 9xx store/http/auth) and a generic message;
 * att_diag_t carries the precise message (which check, on what values).
 * The list is documented in docs/errors.md; a test keeps the two in step.
 */
#ifndef ATTEST_ERR_H
#define ATTEST_ERR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATT_API __attribute__((visibility("default")))
#define ATT_WUR __attribute__((warn_unused_result))

/* X(name, number, generic message) */
#define ATT_ERRORS(X)                                                                              \
    X(ATT_OK, 0, "success")                                                                        \
    X(ATT_E_ARG, 1, "invalid argument")                                                            \
    X(ATT_E_NOMEM, 2, "out of memory")                                                             \
    X(ATT_E_IO, 3, "input/output error")                                                           \
    X(ATT_E_INTERNAL, 4, "internal error")                                                         \
    X(ATT_E_UNSUPPORTED, 5, "not supported")                                                       \
    X(ATT_E_LIMIT, 6, "a size or count limit was exceeded")                                        \
    X(ATT_E_CANCELLED, 7, "the operation was stopped because the service is shutting down")        \
    /* quote structure */                                                                          \
    X(ATT_E_QUOTE_TRUNCATED, 101, "quote is shorter than its declared structure")                  \
    X(ATT_E_QUOTE_VERSION, 102, "unsupported quote version")                                       \
    X(ATT_E_QUOTE_KEY_TYPE, 103, "unsupported attestation key type")                               \
    X(ATT_E_QUOTE_TEE_TYPE, 104, "unsupported or inconsistent TEE type")                           \
    X(ATT_E_QUOTE_QE_VENDOR, 105, "quoting enclave vendor is not Intel")                           \
    X(ATT_E_QUOTE_BODY_TYPE, 106, "unsupported or inconsistent quote body type")                   \
    X(ATT_E_QUOTE_CERT_TYPE, 107, "unsupported certification data type")                           \
    X(ATT_E_QUOTE_CERT_DATA, 108, "malformed certification data")                                  \
    X(ATT_E_QUOTE_PCK_CHAIN, 109, "PCK certificate chain in the quote is malformed")               \
    /* certificates */                                                                             \
    X(ATT_E_CERT_PARSE, 201, "certificate cannot be parsed")                                       \
    X(ATT_E_CERT_UNTRUSTED_ROOT, 202, "root certificate is not a trusted anchor")                  \
    X(ATT_E_CERT_SIGNATURE, 203, "certificate signature is invalid")                               \
    X(ATT_E_CERT_NOT_YET_VALID, 204, "certificate is not yet valid")                               \
    X(ATT_E_CERT_EXPIRED, 205, "certificate has expired")                                          \
    X(ATT_E_CERT_ISSUER, 206, "certificate issuer does not match the next certificate")            \
    X(ATT_E_CERT_CONSTRAINTS, 207, "certificate basic constraints or key usage are wrong")         \
    X(ATT_E_CERT_SUBJECT, 208, "certificate subject is not the expected one")                      \
    X(ATT_E_CERT_REVOKED, 209, "certificate is revoked")                                           \
    X(ATT_E_CERT_KEY, 210, "certificate key type is not accepted (DCAP: ECDSA P-256)")             \
    X(ATT_E_PCK_EXTENSION, 211, "PCK certificate SGX extension is missing or malformed")           \
    X(ATT_E_SNP_CERT_EXTENSION, 212, "VCEK/VLEK AMD extension is missing or malformed")            \
    /* CRLs */                                                                                     \
    X(ATT_E_CRL_PARSE, 301, "CRL cannot be parsed")                                                \
    X(ATT_E_CRL_SIGNATURE, 302, "CRL signature is invalid")                                        \
    X(ATT_E_CRL_ISSUER, 303, "CRL issuer is not the expected CA")                                  \
    X(ATT_E_CRL_NOT_YET_VALID, 304, "CRL is not yet valid")                                        \
    X(ATT_E_CRL_EXPIRED, 305, "CRL has expired")                                                   \
    /* collateral */                                                                               \
    X(ATT_E_COLL_MISSING, 401, "a collateral item is missing")                                     \
    X(ATT_E_COLL_FORMAT, 402, "collateral is malformed")                                           \
    X(ATT_E_TCBINFO_SIGNATURE, 403, "TCB info signature is invalid")                               \
    X(ATT_E_TCBINFO_VERSION, 404, "unsupported TCB info version or id")                            \
    X(ATT_E_TCBINFO_NOT_YET_VALID, 405, "TCB info is not yet valid")                               \
    X(ATT_E_TCBINFO_EXPIRED, 406, "TCB info has expired")                                          \
    X(ATT_E_TCBINFO_FMSPC, 407, "TCB info FMSPC does not match the PCK certificate")               \
    X(ATT_E_TCBINFO_PCEID, 408, "TCB info PCE-ID does not match the PCK certificate")              \
    X(ATT_E_TCBINFO_TEE, 409, "TCB info is for another TEE type")                                  \
    X(ATT_E_QEID_SIGNATURE, 410, "QE identity signature is invalid")                               \
    X(ATT_E_QEID_VERSION, 411, "unsupported QE identity version or id")                            \
    X(ATT_E_QEID_NOT_YET_VALID, 412, "QE identity is not yet valid")                               \
    X(ATT_E_QEID_EXPIRED, 413, "QE identity has expired")                                          \
    X(ATT_E_TCBEVAL_SIGNATURE, 414, "TCB evaluation data numbers signature is invalid")            \
    X(ATT_E_TCBEVAL_NOT_YET_VALID, 415, "TCB evaluation data numbers are not yet valid")           \
    X(ATT_E_TCBEVAL_EXPIRED, 416, "TCB evaluation data numbers have expired")                      \
    /* quote checks */                                                                             \
    X(ATT_E_QE_REPORT_SIGNATURE, 501, "QE report signature is invalid")                            \
    X(ATT_E_QE_REPORT_DATA, 502, "QE report data does not bind the attestation key")               \
    X(ATT_E_QE_IDENTITY_MISMATCH, 503, "quoting enclave does not match the QE identity")           \
    X(ATT_E_QUOTE_SIGNATURE, 504, "quote signature is invalid")                                    \
    X(ATT_E_QUOTE_KEY, 505, "attestation key is not a valid P-256 point")                          \
    X(ATT_E_TDX_MODULE_MISMATCH, 506, "TDX module does not match the TCB info module identity")    \
    X(ATT_E_SNP_REPORT_SIGNATURE, 507, "SEV-SNP report signature is invalid")                      \
    X(ATT_E_SNP_CERT_MISMATCH, 508,                                                                \
      "VCEK/VLEK does not match the report (chip id, TCB, product or signing key)")                \
    X(ATT_E_TPM_SIGNATURE, 509, "TPM quote signature is invalid")                                  \
    X(ATT_E_TPM_NONCE, 510, "TPM quote qualifying data (extraData) is not the expected nonce")     \
    X(ATT_E_TPM_PCR_DIGEST, 511, "TPM quote PCR digest does not match the presented PCR values")   \
    X(ATT_E_TPM_EVENTLOG_REPLAY, 512, "event log does not replay to the quoted PCR values")        \
    X(ATT_E_TPM_AK, 513, "TPM attestation key is not acceptable (type, size or attributes)")       \
    X(ATT_E_TPM_EK, 514, "TPM endorsement key is not acceptable (type, attributes or template)")   \
    /* TCB evaluation */                                                                           \
    X(ATT_E_TCB_NOT_SUPPORTED, 601, "no TCB level matches the platform")                           \
    X(ATT_E_TCB_REVOKED, 602, "the platform TCB level is revoked")                                 \
    X(ATT_E_QE_TCB_NOT_SUPPORTED, 603, "no QE TCB level matches the quoting enclave")              \
    X(ATT_E_QE_TCB_REVOKED, 604, "the quoting enclave TCB level is revoked")                       \
    X(ATT_E_TDX_MODULE_TCB_NOT_SUPPORTED, 605, "no TDX module TCB level matches")                  \
    X(ATT_E_TDX_MODULE_TCB_REVOKED, 606, "the TDX module TCB level is revoked")                    \
    /* evidence */                                                                                 \
    X(ATT_E_EVIDENCE_FORMAT, 651, "evidence is malformed")                                         \
    X(ATT_E_EVIDENCE_TYPE, 652, "evidence is of another TEE type than the endpoint")               \
    X(ATT_E_EVIDENCE_BINDING, 653, "runtime or init-time data does not match the evidence")        \
    X(ATT_E_CHALLENGE, 670,                                                                        \
      "the challenge (service context) is not this service's, has expired or was used already")    \
    /* tokens and JWS */                                                                           \
    X(ATT_E_JWS_FORMAT, 801, "JWS is malformed")                                                   \
    X(ATT_E_JWS_ALG, 802, "JWS algorithm is not supported or not allowed")                         \
    X(ATT_E_JWS_SIGNATURE, 803, "JWS signature is invalid")                                        \
    X(ATT_E_JWS_UNSIGNED, 804, "JWS is unsigned where a signature is required")                    \
    X(ATT_E_TOKEN_EXPIRED, 805, "token has expired")                                               \
    X(ATT_E_TOKEN_NOT_YET_VALID, 806, "token is not yet valid")                                    \
    X(ATT_E_TOKEN_CLAIM, 807, "a token claim is missing or wrong")                                 \
    X(ATT_E_KEY, 808, "key generation or loading failed")                                          \
    X(ATT_E_JWS_KID, 809, "the token's kid is not in the issuer's JWKS")                           \
    X(ATT_E_JWKS, 810, "the issuer's discovery document or JWKS is unavailable or invalid")        \
    /* store */                                                                                    \
    X(ATT_E_STORE, 901, "the store failed")                                                        \
    X(ATT_E_STORE_NOT_FOUND, 902, "no such item in the store")                                     \
    X(ATT_E_STORE_SCHEMA, 903, "the store schema is newer than this program")                      \
    /* collateral source */                                                                        \
    X(ATT_E_FETCH, 951, "fetching collateral failed")                                              \
    X(ATT_E_FETCH_STATUS, 952, "the collateral source answered with an error status")              \
    ATT_POLICY_ERRORS(X)

/* Policy (7xx) codes live in attest/policy_err.h so that module owns its list. */
#include "attest/policy_err.h"

typedef enum {
#define ATT_ERR_ENUM(name, num, msg) name = num,
    ATT_ERRORS(ATT_ERR_ENUM)
#undef ATT_ERR_ENUM
} att_err_t;

/* Precise diagnosis of a failure: the code plus a message naming the check and values. */
typedef struct {
    att_err_t code;
    char msg[512];
} att_diag_t;

/* "ATT_E_CERT_REVOKED"; "ATT_E_UNKNOWN" for a value outside the list. */
ATT_API const char *att_err_name(att_err_t e);
/* The generic message of a code. */
ATT_API const char *att_strerror(att_err_t e);
/* Number of codes and the i-th code, to enumerate them (docs, tests, `attest errors`). */
ATT_API size_t att_err_count(void);
ATT_API att_err_t att_err_at(size_t i);

/* Fill diag (if not NULL) with code and a formatted message; returns code. */
ATT_API att_err_t att_diag_set(att_diag_t *diag, att_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Clear diag to ATT_OK / "". */
ATT_API void att_diag_clear(att_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif
