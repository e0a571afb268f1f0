/* tpm_client.h - internals of the TPM client (tpm_esys.c) shared with the tpm provider and the
 * /attest/Tpm protocol driver (not installed).
 */
#ifndef ATT_CLIENT_TPM_CLIENT_H
#define ATT_CLIENT_TPM_CLIENT_H

#include <stdbool.h>

#include <jansson.h>

#include "attest/client.h"
#include "attest/tpm.h"

/* "sha256" for ATT_TPM_ALG_SHA256 (and its digest size), NULL for an unknown bank. */
const char *att_tpm_bank_name(uint16_t alg, size_t *size);
/* A PCR selection in tpm2-tools' syntax ("sha256:0,1,2+sha1:0-7", "sha256:all"); ATT_E_ARG
 * saying what is wrong. */
att_err_t att_tpm_pcrs_parse(const char *spec, att_tpm_sel_t sel[ATT_TPM_MAX_BANKS], size_t *nsel,
                             att_diag_t *diag);
/* att_tpm_client_quote's members as a JSON object (*out owned by the caller); maa: MAA's
 * attReqV2 current_attestation instead ({"aik_pub": JWK, "quote", "signature", "pcrs" with
 * TPM_ALG_ID numbers and base64url digests, "logs": [{"type": "TCG"|"IMA", "log"}]}). */
att_err_t att_tpm_client_members(att_tpm_client_t *t, const uint8_t *nonce, size_t len, bool maa,
                                 json_t **out, att_diag_t *diag);

#endif
