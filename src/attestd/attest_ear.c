/* attest_ear.c - the attest pipeline's EAR answer (docs/ear.md): when the client asked with
 * Accept: application/eat+jwt, the verdict's MAA claims become an EAR claims set (token/ear.h)
 * that attest.c signs exactly as it signs the MAA token (same key, kid, x5c and jku). */
#include "svc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h" /* ATTESTD_VERSION */
#include "token/ear.h"

json_t *att_svc_ear(att_svc_t *svc, const char *type, json_t *claims, bool data_bound,
                    const att_pol_t *pol, const att_policy_t *use, bool denied,
                    const char *deny_reason, att_svc_reply_t *r)
{
    /* The appraisal policy: the one in force, named by its URL and MAA hash, or the request's
     * draft (pol is NULL then). */
    const char *hash = att_policy_hash(use);
    size_t n = strlen(svc->issuer) + strlen(type) + strlen(hash ? hash : "") + 48;
    char *pid = malloc(n);
    if (pid != NULL && pol != NULL)
        snprintf(pid, n, "%s/policies/%s#%s", svc->issuer, type, hash ? hash : "");
    else if (pid != NULL)
        snprintf(pid, n, "urn:attestd:draft-policy:%s", hash ? hash : "");
    /* jti names the EAR, not the MAA claims inside it */
    json_t *jti = json_incref(json_object_get(claims, "jti"));
    json_object_del(claims, "jti");
    att_ear_in_t in = {.submod = type,
                       .claims = claims,
                       .data_bound = data_bound,
                       .policy_custom = pol == NULL || !pol->is_default,
                       .denied = denied,
                       .deny_reason = deny_reason,
                       .policy_id = pid,
                       .build = "attestd/" ATTESTD_VERSION};
    json_t *ear = NULL;
    att_diag_t d;
    att_err_t e = pid == NULL ? att_diag_set(&d, ATT_E_NOMEM, "out of memory")
                              : att_ear_claims(&in, &ear, &d);
    if (e == ATT_OK && jti != NULL && json_object_set(ear, "jti", jti) != 0)
        e = att_diag_set(&d, ATT_E_NOMEM, "out of memory");
    json_decref(jti);
    json_decref(claims);
    free(pid);
    if (e != ATT_OK) {
        json_decref(ear);
        att_reply_err(r, 500, "InternalError", e, "building the EAR failed: %s", d.msg);
        return NULL;
    }
    return ear;
}
