/* eval_claims.c - claims in and out of the evaluator. In: a JSON object of name: value (as the
 * evidence verifiers produce it, with the 2018 default policy's legacy $names added as aliases)
 * or MAA's array of {"type", "value", "issuer"?, "valueType"?}; null values are skipped, objects,
 * arrays and fractions become JSON-valued String claims. Out: a claim set as a JSON object, a
 * type issued more than once becoming an array of its values.
 * Checked here: the array form's shape and valueType (ATT_E_POLICY_CLAIMS), the number of
 * claims, the budget. Does NOT check claim names or values against any schema.
 */
#include <string.h>

#include "policy/policy_int.h"

static const char att_iss_service[] = "AttestationService";
static const char att_iss_custom[] = "CustomClaim";

/* ---- input ------------------------------------------------------------------------------ */

static void att_value_from_json(json_t *j, att_pv_t *v, bool *skip)
{
    memset(v, 0, sizeof(*v));
    *skip = false;
    switch (json_typeof(j)) {
    case JSON_TRUE:
    case JSON_FALSE:
        v->kind = ATT_PV_BOOL;
        v->b = json_is_true(j);
        return;
    case JSON_INTEGER:
        v->kind = ATT_PV_INT;
        v->i = json_integer_value(j);
        return;
    case JSON_STRING:
        v->kind = ATT_PV_STR;
        v->s = json_string_value(j);
        v->n = json_string_length(j);
        return;
    case JSON_NULL:
        *skip = true;
        return;
    default: /* objects, arrays, fractions: JSON-valued String claims */
        v->kind = ATT_PV_JSON;
        v->json = j;
        return;
    }
}

/* Legacy names the 2018 default policy uses ($is-debuggable, ...) for the x-ms-sgx-* claims. */
static const struct {
    const char *legacy, *name;
} att_legacy[] = {
    {"$is-debuggable", "x-ms-sgx-is-debuggable"},
    {"$sgx-mrsigner", "x-ms-sgx-mrsigner"},
    {"$sgx-mrenclave", "x-ms-sgx-mrenclave"},
    {"$product-id", "x-ms-sgx-product-id"},
    {"$svn", "x-ms-sgx-svn"},
    {"$tee", "x-ms-attestation-type"},
};

att_err_t att_pol_load_claims(att_eval_t *e, const json_t *claims)
{
    att_err_t err = ATT_OK;
    if (json_is_object(claims)) {
        const char *k;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach((json_t *)claims, k, klen, v)
        {
            att_claim_t *c = att_pol_zalloc(e->a, sizeof(*c));
            if (c == NULL || !att_pol_eval_spend(e, 1))
                return att_pol_oom(e);
            bool skip;
            att_value_from_json(v, &c->v, &skip);
            if (skip)
                continue;
            c->type = k;
            c->tn = klen;
            c->issuer = att_iss_service;
            c->in = sizeof(att_iss_service) - 1;
            if ((err = att_pol_claimset_add(e, &e->in, c)) != ATT_OK)
                return err;
        }
    } else if (json_is_array(claims)) {
        size_t i;
        json_t *o;
        json_array_foreach(claims, i, o)
        {
            json_t *t = json_object_get(o, "type"), *v = json_object_get(o, "value");
            json_t *is = json_object_get(o, "issuer"), *vt = json_object_get(o, "valueType");
            if (!json_is_string(t) || v == NULL || (is && !json_is_string(is)) ||
                (vt && !json_is_string(vt)))
                return att_diag_set(e->diag, ATT_E_POLICY_CLAIMS,
                                    "claim %zu: expected {\"type\": string, \"value\": ..., "
                                    "\"issuer\"?: string, \"valueType\"?: string}",
                                    i);
            att_claim_t *c = att_pol_zalloc(e->a, sizeof(*c));
            if (c == NULL || !att_pol_eval_spend(e, 1))
                return att_pol_oom(e);
            bool skip;
            att_value_from_json(v, &c->v, &skip);
            if (skip)
                continue;
            c->type = json_string_value(t);
            c->tn = json_string_length(t);
            c->issuer = is ? json_string_value(is) : att_iss_custom;
            c->in = is ? json_string_length(is) : sizeof(att_iss_custom) - 1;
            if (vt != NULL) {
                static const char *names[] = {"String", "Integer", "Boolean"};
                int k;
                for (k = 0; k < 3; k++)
                    if (!strcmp(json_string_value(vt), names[k]))
                        break;
                if (k == 3)
                    return att_diag_set(e->diag, ATT_E_POLICY_CLAIMS,
                                        "claim %zu: valueType must be String, Integer or Boolean",
                                        i);
                att_pol_rule_t fake = {.section = ATT_SEC_CONFIG, .index = 0};
                if ((err = att_pol_coerce(e, &fake, (att_pol_vt_t)(k + 1), &c->v)) != ATT_OK)
                    return att_diag_set(e->diag, ATT_E_POLICY_CLAIMS,
                                        "claim %zu (%s): value does not match valueType %s", i,
                                        c->type, names[k]);
            }
            if ((err = att_pol_claimset_add(e, &e->in, c)) != ATT_OK)
                return err;
        }
        return ATT_OK;
    } else {
        return att_diag_set(e->diag, ATT_E_POLICY_CLAIMS,
                            "incoming claims must be a JSON object or an array of claims");
    }
    /* legacy aliases, only for the object form (as the evidence verifier produces it) */
    size_t n0 = e->in.n;
    for (size_t i = 0; i < n0; i++)
        for (size_t k = 0; k < sizeof(att_legacy) / sizeof(att_legacy[0]); k++) {
            const att_claim_t *src = e->in.c[i];
            if (strlen(att_legacy[k].name) != src->tn ||
                memcmp(att_legacy[k].name, src->type, src->tn) != 0 ||
                json_object_get(claims, att_legacy[k].legacy) != NULL)
                continue;
            att_claim_t *c = att_pol_alloc(e->a, sizeof(*c));
            if (c == NULL)
                return att_pol_oom(e);
            *c = *src;
            c->type = att_legacy[k].legacy;
            c->tn = strlen(c->type);
            if ((err = att_pol_claimset_add(e, &e->in, c)) != ATT_OK)
                return err;
        }
    return ATT_OK;
}

/* ---- result ----------------------------------------------------------------------------- */

json_t *att_pol_claims_json(const att_claimset_t *s)
{
    json_t *o = json_object(), *multi = NULL;
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        const att_claim_t *c = s->c[i];
        json_t *v = att_pv_to_json(&c->v);
        json_t *old = json_object_getn(o, c->type, c->tn);
        if (old == NULL) {
            json_object_setn_new(o, c->type, c->tn, v);
            continue;
        }
        /* issued twice: the claim becomes an array of its values */
        if (multi == NULL)
            multi = json_object();
        if (json_object_getn(multi, c->type, c->tn) == NULL) {
            json_t *arr = json_array();
            json_array_append(arr, old);
            json_object_setn_new(o, c->type, c->tn, arr);
            json_object_setn_new(multi, c->type, c->tn, json_true());
            old = arr;
        }
        json_array_append_new(old, v);
    }
    json_decref(multi);
    return o;
}
