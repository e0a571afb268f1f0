/* metadata.c - what the service publishes about itself: GET /certs (the JWKS of its signing
 * keys) and GET /.well-known/openid-configuration (see svc_int.h).
 */
#include "svc_int.h"

#include <stdio.h>
#include <string.h>

void att_svc_certs(att_svc_t *svc, att_svc_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    att_keys_maybe_reload(svc);
    pthread_rwlock_rdlock(&svc->lock);
    json_t *jwks = json_deep_copy(svc->keys->jwks);
    pthread_rwlock_unlock(&svc->lock);
    att_reply(r, 200, jwks);
}

/* claims_supported: x-ms-attestation-type and the claims each evidence type publishes. */
static json_t *att_claims_supported(void)
{
    json_t *a = json_array();
    for (size_t i = 0; i < att_ev_type_count(); i++) {
        const char *const *c = att_ev_type_at(i)->claims;
        for (size_t j = 0; c != NULL && c[j] != NULL; j++)
            json_array_append_new(a, json_string(c[j]));
    }
    json_array_append_new(a, json_string("x-ms-attestation-type"));
    return a;
}

void att_svc_openid(att_svc_t *svc, att_svc_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    /* No revocation_endpoint: MAA advertises <issuer>/revoke, but attestation tokens cannot be
     * revoked (there is no such operation in MAA's API either) and the URL would answer 404;
     * OpenID Connect Discovery does not require it. */
    json_t *o = json_pack("{s:s,s:s,s:[s,s],s:[s],s:o}", "issuer", svc->issuer, "jwks_uri",
                          svc->jku, "response_types_supported", "token", "none",
                          "id_token_signing_alg_values_supported", att_alg_name(svc->o.alg),
                          "claims_supported", att_claims_supported());
    att_reply(r, 200, o);
}
