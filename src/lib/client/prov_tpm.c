/* prov_tpm.c - the tpm provider: a TPM 2.0 (or swtpm) through tpm2-tss ESYS (tpm_esys.c).
 *
 * Opening connects and makes the keys (EK, AK); each collect quotes the configured PCRs with the
 * first 32 bytes of the report data, SHA-256(runtime data), as qualifying data. The evidence is
 * the JSON object of round 2's members (att_tpm_client_quote), for "Tpm". attestd's /attest/Tpm
 * takes them after its round 1 (the challenge is then the qualifying data: att_tpm_attest). Not
 * checked here: the quote (attestd checks it).
 */
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "client/tpm_client.h"

static att_err_t att_tpmprov_open(const att_provider_opts_t *o, void **state, att_diag_t *diag)
{
    att_tpm_client_t *t;
    att_err_t e = att_tpm_client_open(&o->tpm, &t, diag);
    if (e == ATT_OK)
        *state = t;
    return e;
}

static att_err_t att_tpmprov_collect(void *state, const uint8_t rd[64], att_evidence_t *out,
                                     att_diag_t *diag)
{
    char *m;
    att_err_t e = att_tpm_client_quote(state, rd, 32, &m, diag);
    if (e != ATT_OK)
        return e;
    size_t n = strlen(m);
    if (n > ATT_EVIDENCE_MAX) {
        free(m);
        return att_diag_set(diag, ATT_E_LIMIT,
                            "the TPM evidence is %zu bytes (at most %u; are the event logs that "
                            "large?)",
                            n, ATT_EVIDENCE_MAX);
    }
    out->data = (uint8_t *)m;
    out->len = n;
    out->type = "Tpm";
    return ATT_OK;
}

static void att_tpmprov_close(void *state)
{
    att_tpm_client_close(state);
}

const att_provider_ops_t att_provider_tpm = {"tpm", att_tpmprov_open, att_tpmprov_collect,
                                             att_tpmprov_close};
