/* attest/policy.h - MAA attestation policies (language 1.0, 1.1, 1.2): compile, hash, evaluate.
 *
 *   att_policy_t *pol;
 *   att_policy_pos_t pos;
 *   if (att_policy_compile(text, len, &pol, &pos, &diag) != ATT_OK)
 *       fprintf(stderr, "%s\n", diag.msg);      // "line 3, column 12: expected ';' ..."
 *   att_policy_result_t *res;                      // claims: {"x-ms-sgx-svn": 2, ...}
 *   att_policy_eval_opts_t opts = {.explain = true};
 *   if (att_policy_eval(pol, claims, &opts, &res, &diag) == ATT_OK && att_policy_permitted(res))
 *       ... att_policy_result_claims(res) go into the token, att_policy_result_trace(res) ...
 *   att_policy_result_free(res);
 *   att_policy_free(pol);
 *
 * A compiled policy is immutable: evaluate it from any number of threads at once. Evaluation
 * allocates from one per-call arena freed before it returns; the result owns its JSON.
 * What this module does NOT do: verify evidence (the claims are trusted as given), check a
 * policy JWS signature, apply per-type engine defaults for properties the policy leaves unset
 * (required_pcr_mask, ...), or mark claims read-only. See docs/policy.md.
 */
#ifndef ATTEST_POLICY_H
#define ATTEST_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct att_policy att_policy_t;
typedef struct att_policy_result att_policy_result_t;

/* Where a syntax error is (1-based; column counts characters). */
typedef struct {
    unsigned line;
    unsigned column;
} att_policy_pos_t;

/* Length of the policy hash text: 43 base64url characters (SHA-256), plus NUL. */
#define ATT_POLICY_HASH_LEN 44

/* Largest policy text accepted (bytes). */
#define ATT_POLICY_MAX_TEXT (1024 * 1024)

/* Parse and check a policy. On a syntax error returns ATT_E_POLICY_SYNTAX, fills pos (if not
 * NULL) and diag with "line L, column C: expected ..., found ...". The text need not be
 * NUL-terminated and is copied. */
ATT_API att_err_t att_policy_compile(const char *text, size_t len, att_policy_t **out,
                                     att_policy_pos_t *pos, att_diag_t *diag) ATT_WUR;
ATT_API void att_policy_free(att_policy_t *pol);

/* The grammar version declared by the policy: 10, 11 or 12. */
ATT_API int att_policy_version(const att_policy_t *pol);
/* Number of rules in the policy (all sections). */
ATT_API size_t att_policy_rule_count(const att_policy_t *pol);
/* x-ms-policy-hash of the compiled text (see att_policy_hash_text). */
ATT_API const char *att_policy_hash(const att_policy_t *pol);
/* MAA's policy hash: base64url(SHA-256(base64url(text))), no padding, over the exact bytes. */
ATT_API att_err_t att_policy_hash_text(const char *text, size_t len,
                                       char out[ATT_POLICY_HASH_LEN]) ATT_WUR;

/* The default policy text MAA ships for an attestation type ("SgxEnclave", "OpenEnclave",
 * "TdxVm", "SevSnpVm", "Tpm"; case-insensitive); NULL for an unknown type. */
ATT_API const char *att_policy_default(const char *attestation_type);

/* Default work budget of one evaluation (att_policy_eval_opts_t, 0 = these). */
#define ATT_POLICY_DEFAULT_MAX_STEPS 1000000u
#define ATT_POLICY_DEFAULT_MAX_BYTES (64u * 1024 * 1024)

typedef struct {
    bool explain;       /* record a trace of every rule (att_policy_result_trace) */
    uint64_t max_steps; /* work budget in steps (0: ATT_POLICY_DEFAULT_MAX_STEPS) */
    size_t max_bytes;   /* size budget of the values built (0: ATT_POLICY_DEFAULT_MAX_BYTES) */
    /* Asked now and then during evaluation; true stops it with ATT_E_CANCELLED (NULL: never) */
    bool (*cancelled)(void *arg);
    void *cancel_arg;
} att_policy_eval_opts_t;

/* Evaluate against the incoming claims: either a JSON object {"claim-type": value, ...}
 * (issuer "AttestationService") or an array of {"type", "value", "issuer"?, "valueType"?}.
 * Values are booleans, integers, strings; objects and arrays are JSON-valued string claims.
 * Returns ATT_OK with a result whether the policy permits or denies (see att_policy_permitted);
 * an error (ATT_E_POLICY_EVAL, ATT_E_ARG, ...) means evaluation itself failed: fail closed.
 * The work is bounded by opts' budget: ATT_E_POLICY_BUDGET when the steps or the bytes of values
 * built run out (the message names the budget, its limit and the rule or JmesPath query),
 * ATT_E_CANCELLED when opts->cancelled answered true (asked every 4096 steps).
 * opts may be NULL (default budget). */
ATT_API att_err_t att_policy_eval(const att_policy_t *pol, const json_t *claims,
                                  const att_policy_eval_opts_t *opts, att_policy_result_t **out,
                                  att_diag_t *diag) ATT_WUR;
ATT_API void att_policy_result_free(att_policy_result_t *res);

/* true iff authorization rules fired permit() and no deny(). */
ATT_API bool att_policy_permitted(const att_policy_result_t *res);
/* One line on which rule decided: "rule 1 at line 6 (authorizationrules) fired permit()" or
 * "no permit() fired; rule 1 at line 4: x-ms-sgx-svn was 1, the rule needs >= 2". */
ATT_API const char *att_policy_result_reason(const att_policy_result_t *res);
/* Issued claims (object; empty when denied). A type issued twice becomes an array. Borrowed. */
ATT_API const json_t *att_policy_result_claims(const att_policy_result_t *res);
/* Properties from issueproperty(), e.g. {"x-ms-sgx-tcbidentifier": "azuredefault"}. Borrowed. */
ATT_API const json_t *att_policy_result_properties(const att_policy_result_t *res);
/* The explain trace (array, one object per rule evaluated) or NULL without opts.explain. */
ATT_API const json_t *att_policy_result_trace(const att_policy_result_t *res);
/* The trace as text, one line per rule (NULL without opts.explain). */
ATT_API const char *att_policy_result_trace_text(const att_policy_result_t *res);
/* What the evaluation cost against its budget: steps of work and bytes of values built
 * (docs/policy.md, "Limits"). Always within opts' max_steps and max_bytes. */
ATT_API void att_policy_result_cost(const att_policy_result_t *res, uint64_t *steps, size_t *bytes);

#ifdef __cplusplus
}
#endif
#endif
