/* ear.h - attestation results as IETF EAR claims sets (draft-ietf-rats-ear, JSON serialisation):
 * the same verdict as the MAA token, with the AR4SI trustworthiness vector (draft-ietf-rats-ar4si)
 * derived from the verified claims and the policy. attestd signs the set as a JWT with the MAA
 * token's key (docs/ear.md).
 *
 *   if (att_ear_accepted(accept_header)) {           // Accept: application/eat+jwt
 *       att_ear_in_t in = {.submod = "SgxEnclave", .claims = maa_claims, .data_bound = true,
 *                          .policy_custom = true, .policy_id = "https://.../policies/SgxEnclave#h",
 *                          .build = "attestd/0.1.0"};
 *       json_t *ear;
 *       if (att_ear_claims(&in, &ear, &d) == ATT_OK) ... add iss/iat/nbf/exp/jti, sign ...
 *   }
 *
 * Not here: signing, the JWT registered claims (iss, iat, nbf, exp, jti: the caller adds them as
 * for the MAA token), and any check of the evidence itself: the trust vector is read from the MAA
 * claims of evidence that already verified (docs/claims.md names), so a type whose claims are not
 * listed in docs/ear.md gets only the generic claims (hardware, from the verification).
 */
#ifndef ATT_TOKEN_EAR_H
#define ATT_TOKEN_EAR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "attest/types.h"

/* The EAR profile (draft-ietf-rats-ear "EAR Profile"). */
#define ATT_EAR_PROFILE "tag:github.com,2023:veraison/ear"
/* RFC 9782's media type of an EAT in a JWT; attestd answers with its eat_profile parameter. */
#define ATT_EAR_MEDIA      "application/eat+jwt"
#define ATT_EAR_MEDIA_TYPE "application/eat+jwt; eat_profile=\"" ATT_EAR_PROFILE "\""
/* The verifier's developer (ear.verifier-id). */
#define ATT_EAR_DEVELOPER "attestd"
/* attestd's own appraisal extensions (draft-ietf-rats-ear: unregistered JSON extensions). */
#define ATT_EAR_MAA_CLAIMS    "ear.attestd.maa-claims"
#define ATT_EAR_POLICY_DENIED "ear.attestd.policy-denied"

/* AR4SI trustworthiness tiers (draft-ietf-rats-ar4si): the value of ear.status. */
typedef enum {
    ATT_EAR_NONE = 0,
    ATT_EAR_AFFIRMING = 2,
    ATT_EAR_WARNING = 32,
    ATT_EAR_CONTRAINDICATED = 96
} att_ear_tier_t;

/* The eight trustworthiness claims, in the draft's order (their JSON names: att_ear_claim_name). */
#define ATT_EAR_NCLAIMS 8
typedef enum {
    ATT_EAR_INSTANCE_IDENTITY,
    ATT_EAR_CONFIGURATION,
    ATT_EAR_EXECUTABLES,
    ATT_EAR_FILE_SYSTEM,
    ATT_EAR_HARDWARE,
    ATT_EAR_RUNTIME_OPAQUE,
    ATT_EAR_STORAGE_OPAQUE,
    ATT_EAR_SOURCED_DATA
} att_ear_claim_t;

typedef struct {
    const char *submod;      /* the submod's name: the attestation type ("SgxEnclave") */
    const json_t *claims;    /* the verdict's MAA claims (read only; copied into the EAR) */
    bool data_bound;         /* the request's runtimeData was bound into the evidence */
    bool policy_custom;      /* the policy is the operator's (set, or a draft), not a default */
    bool denied;             /* the policy denied: ear.status contraindicated */
    const char *deny_reason; /* why it denied (NULL: none given) */
    const char *policy_id;   /* ear.appraisal-policy-id (NULL: left out) */
    const char *build;       /* ear.verifier-id build, e.g. "attestd/0.1.0" */
} att_ear_in_t;

/* The EAR claims set of one verdict: eat_profile, ear.verifier-id, eat_nonce (from the MAA
 * "nonce" claim when it is 10 to 74 characters, EAT's JSON nonce), and submods with one appraisal
 * named in->submod. *out is a new object; ATT_E_ARG for a missing input, ATT_E_NOMEM. */
att_err_t att_ear_claims(const att_ear_in_t *in, json_t **out, att_diag_t *d);

/* The trustworthiness vector the MAA claims give (values, 0: no claim) and the status it and the
 * policy give; exposed for the tests and docs/ear.md's table. */
void att_ear_vector(const att_ear_in_t *in, int vec[ATT_EAR_NCLAIMS]);
att_ear_tier_t att_ear_status(const int vec[ATT_EAR_NCLAIMS], bool denied);

/* The tier of a trustworthiness claim value (-128..127): none for -1..1 and the reserved
 * negatives, affirming 2..31, warning 32..95, contraindicated 96..127. */
att_ear_tier_t att_ear_tier(int value);
const char *att_ear_tier_name(att_ear_tier_t t);   /* "none", "affirming", ... */
const char *att_ear_claim_name(att_ear_claim_t c); /* "instance-identity", ... */

/* A relying party's check of an EAR claims set whose signature, iss and times were verified
 * (att_rp_verify): eat_profile is ATT_EAR_PROFILE, submods has at least one appraisal, every
 * ear.status is a tier name no worse than worst (ATT_EAR_AFFIRMING or ATT_EAR_WARNING), and, when
 * nonce is given, eat_nonce equals it (a nonce EAT cannot carry: the MAA claims' "nonce").
 * ATT_E_TOKEN_CLAIM naming what failed (the submod and its status). */
att_err_t att_ear_check(const json_t *claims, att_ear_tier_t worst, const char *nonce,
                        att_diag_t *d);

/* Whether an Accept header value asks for an EAR: it lists application/eat+jwt (case-insensitive,
 * without an eat_profile parameter or with ours) with a q above 0 and not below the q of an
 * explicit application/json. Wildcards (*\/\*, application/\*) never select it, so MAA clients keep
 * MAA's JSON. NULL or malformed: false. Linear in the header's length, no allocation. */
bool att_ear_accepted(const char *accept);

#endif
