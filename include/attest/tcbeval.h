/* attest/tcbeval.h - Intel's TCB evaluation data numbers: the TCB baselines a DCAP verifier can
 * judge a platform against.
 *
 *   att_dcap_tcbeval_t *ev;
 *   if (att_dcap_tcbeval_new(json, json_len, chain_pem, chain_len, trust, &ev, &diag) == ATT_OK &&
 *       att_dcap_tcbeval_check_time(ev, now, &diag) == ATT_OK)
 *       for (size_t i = 0; i < ev->n; i++)   // highest (newest) number first
 *           ... ev->e[i].number, ev->e[i].tcb_date, ev->e[i].recovery_date ...
 *   att_dcap_tcbeval_free(ev);
 *
 * The document is what Intel's PCS v4 serves at GET /{sgx,tdx}/certification/v4/
 * tcbevaluationdatanumbers: {"tcbEvaluationDataNumbers":{"id":"SGX"|"TDX","version":1,
 * "issueDate","nextUpdate","tcbEvalNumbers":[{"tcbEvaluationDataNumber","tcbRecoveryEventDate",
 * "tcbDate"},...]},"signature":"<hex r||s>"} with its issuer chain (the "Intel SGX TCB Signing"
 * certificate, then the root) in the TCB-Evaluation-Data-Numbers-Issuer-Chain header. Checked:
 * the shape (bounded: at most ATT_TCBEVAL_MAX_BYTES of text and ATT_TCBEVAL_MAX entries, no
 * duplicate keys or numbers), the chain to a trusted ECDSA P-256 root and the signature over the
 * exact bytes of the inner object; at a time, issueDate/nextUpdate and the certificates' dates.
 * NOT checked: the root CA CRL (the list only says which TCB info to ask for; the TCB info and QE
 * identity fetched for a number are checked in full, CRLs included, by att_dcap_collateral_new).
 */
#ifndef ATTEST_TCBEVAL_H
#define ATTEST_TCBEVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/dcap.h"
#include "attest/trust.h"
#include "attest/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ATT_TCBEVAL_MAX       64          /* entries in one list (Intel's has about 10) */
#define ATT_TCBEVAL_MAX_BYTES (64u << 10) /* the document's text */
#define ATT_TCBEVAL_NUM_MAX   (1L << 30)  /* the largest evaluation data number taken */

typedef struct {
    unsigned number;          /* tcbEvaluationDataNumber */
    att_time_t recovery_date; /* tcbRecoveryEventDate */
    att_time_t tcb_date;      /* tcbDate: the TCB release date of this baseline */
} att_tcbeval_entry_t;

typedef struct {
    att_tee_t tee; /* from id: "SGX" or "TDX" */
    int version;   /* 1 */
    att_time_t issue_date, next_update;
    size_t n; /* entries, highest number first */
    att_tcbeval_entry_t e[ATT_TCBEVAL_MAX];
    /* Set by att_dcap_tcbeval_new: */
    att_time_t not_before, not_after; /* the signing certificate's and root's windows, joined */
    bool intel_root;                  /* the chain ends at Intel's pinned root */
    long refs_;                       /* private: att_dcap_tcbeval_ref/_free */
} att_dcap_tcbeval_t;

/* Parse the document (no signature check): out filled, the signed bytes located (*signed_ptr,
 * *signed_len inside json) and the signature decoded. ATT_E_COLL_FORMAT naming the field, or
 * ATT_E_LIMIT for a document or list over the bounds. For fuzzing and for att_dcap_tcbeval_new. */
ATT_API att_err_t att_dcap_tcbeval_parse(const char *json, size_t len, att_dcap_tcbeval_t *out,
                                         const char **signed_ptr, size_t *signed_len,
                                         uint8_t sig[64], att_diag_t *diag) ATT_WUR;
/* Parse and verify (chain to trust, signature): *out has one reference. */
ATT_API att_err_t att_dcap_tcbeval_new(const uint8_t *json, size_t len, const uint8_t *chain,
                                       size_t chain_len, const att_trust_t *trust,
                                       att_dcap_tcbeval_t **out, att_diag_t *diag) ATT_WUR;
/* issueDate <= now < nextUpdate and the certificates valid at now
 * (ATT_E_TCBEVAL_EXPIRED / ATT_E_TCBEVAL_NOT_YET_VALID otherwise). */
ATT_API att_err_t att_dcap_tcbeval_check_time(const att_dcap_tcbeval_t *ev, att_time_t now,
                                              att_diag_t *diag) ATT_WUR;
/* The entry of number, or NULL. */
ATT_API const att_tcbeval_entry_t *att_dcap_tcbeval_find(const att_dcap_tcbeval_t *ev,
                                                         unsigned number);
/* The earliest time the list must be replaced by: nextUpdate or a certificate's notAfter. */
ATT_API att_time_t att_dcap_tcbeval_expiry(const att_dcap_tcbeval_t *ev);
ATT_API att_dcap_tcbeval_t *att_dcap_tcbeval_ref(att_dcap_tcbeval_t *ev);
ATT_API void att_dcap_tcbeval_free(att_dcap_tcbeval_t *ev);

/* The tcbEvaluationDataNumber of a collateral set's TCB info and of its QE identity. */
ATT_API unsigned att_dcap_collateral_tcb_eval(const att_dcap_collateral_t *c);
ATT_API unsigned att_dcap_collateral_qe_eval(const att_dcap_collateral_t *c);

#ifdef __cplusplus
}
#endif
#endif
