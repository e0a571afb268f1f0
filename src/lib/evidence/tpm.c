/* tpm.c - the Tpm type: MAA's TPM attestation protocol (docs/tpm.md), two rounds in the body
 * {"data": base64url(JSON)}.
 *
 * Round 1, {"payload": {"type": "aikcert"}}: the answer is {"payload": {"challenge": b64url(32
 * random bytes), "service_context": an opaque token}}. The token is the service's sealed
 * {challenge, expiry} (att_ev_round_ctx_t.seal: authenticated encryption under a key every
 * replica shares, spent once), so no session is kept and any replica finishes the exchange.
 * Round 2 (the quote, logs and keys) goes to verify, which this build does not have yet:
 * /attest/Tpm then answers 501. Not checked here: anything of round 2.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "attest/token.h"
#include "ev_int.h"

/* How long a round-1 challenge may be answered. */
#define ATT_EV_TPM_CHALLENGE_TTL 300

static att_err_t att_tpm_round(void *inst, const att_ev_round_ctx_t *ctx, const json_t *request,
                               json_t **answer, att_diag_t *diag)
{
    (void)inst;
    json_t *payload = json_object_get(request, "payload");
    const char *type = json_string_value(json_object_get(payload, "type"));
    if (!json_is_object(payload) || type == NULL) {
        if (json_object_get(request, "request") != NULL)
            return ATT_OK; /* round 2: the evidence */
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "a TPM attestation message is {\"payload\": {\"type\": \"aikcert\"}} "
                            "(round 1) or {\"request\": ...} (round 2)");
    }
    if (strcmp(type, "aikcert") != 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TPM attestation round 1 takes payload type \"aikcert\", not \"%.64s\"",
                            type);
    uint8_t challenge[32];
    if (RAND_bytes(challenge, sizeof challenge) != 1)
        return att_diag_set(diag, ATT_E_INTERNAL, "no randomness for the challenge");
    char *sc = ctx->seal ? ctx->seal(ctx->seal_arg, "service context", challenge, sizeof challenge,
                                     ctx->now + ATT_EV_TPM_CHALLENGE_TTL)
                         : NULL;
    char *ch = att_b64url_encode(challenge, sizeof challenge);
    if (sc == NULL || ch == NULL) {
        free(sc);
        free(ch);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    *answer = json_pack("{s:{s:s,s:s}}", "payload", "challenge", ch, "service_context", sc);
    free(sc);
    free(ch);
    return *answer ? ATT_OK : att_diag_set(diag, ATT_E_NOMEM, "out of memory");
}

const att_ev_type_t att_ev_tpm = {
    .name = "Tpm",
    .attestation_type = "tpm",
    .fields = NULL,
    .api_version = "2022-08-01",
    .default_policy = att_ev_policy_permit_all,
    .round = att_tpm_round,
};
