/* attest.c - the attest pipeline, POST /attest/{type}: read the request, verify the evidence and
 * the data bound into it, evaluate the policy (the draft or the one in force), sign the token
 * (see svc_int.h). Nothing that costs more than reading the request runs before the evidence
 * has verified.
 */
#include "svc_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "attest/evidence.h"
#include "core/json.h"
#include "core/util.h"
#include "crypto/crypto.h"

static bool att_svc_stopping(void *arg)
{
    return atomic_load_explicit(&((att_svc_t *)arg)->stopping, memory_order_relaxed);
}

/* The collateral callback's argument: per request, so that collsrc's Retry-After reaches it. */
typedef struct {
    att_svc_t *svc;
    int64_t retry_after;
    bool no_source; /* collateral was needed and attestd has no source: a server fault (503) */
    /* The attestation type, whose TCB baseline picks the DCAP key (baselines.c), and the TCB
     * evaluation data number of the DCAP collateral used (0: none). */
    size_t idx;
    unsigned tcb_eval;
} att_coll_req_t;

static att_err_t att_svc_collateral(void *arg, const char *key, att_time_t now, void **out,
                                    att_diag_t *d)
{
    att_coll_req_t *cr = arg;
    att_svc_t *svc = cr->svc;
    if (svc->coll == NULL) {
        cr->no_source = true;
        return att_diag_set(d, ATT_E_COLL_MISSING,
                            "no collateral source is configured (start attestd with "
                            "--collateral-url, --kds-url or --collateral-dir)");
    }
    char pinned[ATT_COLL_KEY_MAX];
    key = att_baselines_key(svc, cr->idx, key, pinned, sizeof pinned);
    att_err_t e = att_collsrc_get(svc->coll, key, now, out, &cr->retry_after, d);
    if (e == ATT_OK)
        cr->tcb_eval = att_baselines_used(key, *out);
    return e;
}

/* runtimeData / initTimeData: {"data": b64url, "dataType": "Binary"|"JSON"}. */
typedef struct {
    uint8_t *bytes;
    size_t len;
    json_t *json; /* when dataType is JSON */
    bool present;
} att_data_t;

static bool att_parse_data(json_t *body, const char *field, att_data_t *out, att_svc_reply_t *r)
{
    memset(out, 0, sizeof(*out));
    json_t *o = json_object_get(body, field);
    if (o == NULL || json_is_null(o))
        return true;
    const char *data = json_string_value(json_object_get(o, "data"));
    json_t *dt = json_object_get(o, "dataType");
    if (!json_is_object(o) || data == NULL) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG,
                      "%s must be an object with a "
                      "base64url 'data' member",
                      field);
        return false;
    }
    if (!att_b64_decode(data, strlen(data), false, &out->bytes, &out->len)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "%s.data is not base64url", field);
        return false;
    }
    out->present = true;
    const char *t = json_string_value(dt);
    if (dt != NULL && (t == NULL || (strcasecmp(t, "Binary") && strcasecmp(t, "JSON")))) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG,
                      "%s.dataType must be \"Binary\" "
                      "or \"JSON\"",
                      field);
        return false;
    }
    if (t != NULL && strcasecmp(t, "JSON") == 0) {
        json_error_t je;
        out->json = att_json_loadb((const char *)out->bytes, out->len, JSON_REJECT_DUPLICATES, &je);
        if (out->json == NULL) {
            att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG,
                          "%s has dataType JSON but its "
                          "data is not JSON: %s",
                          field, je.text);
            return false;
        }
    }
    return true;
}

static void att_data_clear(att_data_t *d)
{
    free(d->bytes);
    json_decref(d->json);
}

static char *att_svc_seal(void *arg, const char *purpose, const uint8_t *data, size_t len,
                          att_time_t expires)
{
    return att_challenge_seal(arg, purpose, data, len, expires);
}

/* The deprecated names MAA still puts in SGX and Open Enclave tokens beside the current ones
 * (docs/claims.md): maa-ehd and aas-ehd for x-ms-sgx-ehd (Binary runtime data only, as that claim),
 * maa-attestationcollateral for x-ms-sgx-collateral. */
static void att_maa_deprecated_claims(json_t *claims)
{
    json_t *ehd = json_object_get(claims, "x-ms-sgx-ehd");
    if (json_is_string(ehd)) {
        json_object_set(claims, "maa-ehd", ehd);
        json_object_set(claims, "aas-ehd", ehd);
    }
    json_t *coll = json_object_get(claims, "x-ms-sgx-collateral");
    if (json_is_object(coll))
        json_object_set_new(claims, "maa-attestationcollateral", json_deep_copy(coll));
}

/* After the evidence of type v (index idx) verified into res: the data bound into it (rt, it),
 * the draft policy or the one in force, and the token into r (200 {"token": ...}). */
static void att_svc_issue(att_svc_t *svc, const att_ev_type_t *v, size_t idx, att_ev_result_t *res,
                          const att_data_t *rt, const att_data_t *it, json_t *nonce, json_t *jdraft,
                          att_time_t now, att_svc_reply_t *r)
{
    att_policy_t *draft = NULL;
    att_pol_t *pol = NULL;
    att_policy_result_t *pres = NULL;
    att_diag_t d;
    att_err_t e;
    if ((rt->present || it->present) &&
        (e = att_ev_bind(res, rt->present ? rt->bytes : NULL, rt->len,
                         it->present ? it->bytes : NULL, it->len, &d)) != ATT_OK) {
        att_reply_err(r, 400, "InvalidParameter", e, "%s", d.msg);
        goto out;
    }

    /* The draft policy, compiled now that the evidence has verified (compiling is linear in its
     * text, but a request whose evidence is bad should not pay even that). */
    if (json_is_string(jdraft)) {
        att_policy_pos_t pos;
        if (att_policy_compile(json_string_value(jdraft), json_string_length(jdraft), &draft, &pos,
                               &d) != ATT_OK) {
            att_reply_err(r, 400, "PolicyParsingError", d.code, "draftPolicyForAttestation: %s",
                          d.msg);
            goto out;
        }
    }

    /* Incoming claims for the policy. */
    json_t *claims = res->claims; /* taken over: the result is not used after this */
    res->claims = NULL;
    /* As MAA: JSON runtime data is x-ms-runtime (the parsed JSON) and nothing else; Binary runtime
     * data is the type's enclave-held-data claim (x-ms-sgx-ehd), never both. */
    if (rt->json != NULL) {
        json_object_set(claims, "x-ms-runtime", rt->json);
    } else if (rt->present && v->runtime_claim != NULL) {
        char *ehd = att_b64url_encode(rt->bytes, rt->len);
        if (ehd == NULL) {
            json_decref(claims);
            att_reply_err(r, 500, "InternalError", ATT_E_NOMEM, "out of memory");
            goto out;
        }
        json_object_set_new(claims, v->runtime_claim, json_string(ehd));
        free(ehd);
    }
    if (it->json)
        json_object_set(claims, "x-ms-inittime", it->json);

    /* Policy: the draft, or the one in force for the type. */
    const att_policy_t *use = draft;
    if (use == NULL) {
        pol = att_pol_get(svc, idx);
        use = pol->pol;
    }
    /* Evaluate without the explain trace (it costs more than the evaluation); a denial is
     * evaluated again with it, so that its reason names the rule and the values. */
    att_policy_eval_opts_t po = {.explain = false,
                                 .max_steps = svc->o.policy_max_steps,
                                 .max_bytes = svc->o.policy_max_bytes,
                                 .cancelled = att_svc_stopping,
                                 .cancel_arg = svc};
    if ((e = att_policy_eval(use, claims, &po, &pres, &d)) == ATT_OK &&
        !att_policy_permitted(pres)) {
        att_policy_result_free(pres);
        pres = NULL;
        po.explain = true;
        e = att_policy_eval(use, claims, &po, &pres, &d);
    }
    if (e == ATT_E_CANCELLED) {
        json_decref(claims);
        att_reply_err(r, 503, "ServiceUnavailable", e, "policy evaluation stopped: %s", d.msg);
        goto out;
    }
    if (e != ATT_OK) {
        json_decref(claims);
        att_reply_err(r, 400, "PolicyEvaluationError", e, "policy evaluation failed: %s", d.msg);
        goto out;
    }
    /* An EAR answers a denial too, as a contraindicated result (docs/ear.md). */
    bool denied = !att_policy_permitted(pres);
    if (denied && !r->ear) {
        json_decref(claims);
        /* MAA's sentence first (SDK users match on it), then what the policy did: the reason
         * without its "deny: " tag, which read as a contradiction after it */
        const char *why = att_policy_result_reason(pres);
        if (why != NULL && strncmp(why, "deny: ", 6) == 0)
            why += 6;
        att_reply_err(r, 400, "PolicyEvaluationError", ATT_E_POLICY_DENIED,
                      "A Deny claim was issued, authorization failed. The policy did not "
                      "authorize this evidence: %s",
                      why != NULL ? why : "no reason was recorded");
        goto out;
    }

    /* The token: incoming claims, the deprecated duplicates MAA still issues, issued claims (at
     * the top level and, as MAA, inside x-ms-policy), and MAA's standard claims. */
    att_maa_deprecated_claims(claims);
    json_t *issued = (json_t *)att_policy_result_claims(pres);
    json_object_update(claims, issued);
    if (json_object_size(issued) > 0)
        json_object_set_new(claims, "x-ms-policy", json_deep_copy(issued));
    char vt[ATT_TIME_STRLEN];
    json_object_set_new(claims, "x-ms-ver", json_string("1.0"));
    json_object_set_new(claims, "x-ms-attestation-type", json_string(v->attestation_type));
    json_object_set_new(claims, "x-ms-policy-hash", json_string(att_policy_hash(use)));
    if (pol != NULL && pol->signer != NULL)
        json_object_set(claims, "x-ms-policy-signer", pol->signer);
    json_object_set_new(claims, "x-attestd-verification-time",
                        json_string(att_time_format(now, vt)));
    if (json_is_string(nonce))
        json_object_set(claims, "nonce", nonce);
    uint8_t jti[32];
    char jtih[65];
    if (RAND_bytes(jti, sizeof(jti)) != 1) {
        json_decref(claims);
        att_reply_err(r, 500, "InternalError", ATT_E_INTERNAL, "no randomness for jti");
        goto out;
    }
    att_hex_encode(jti, 32, jtih);
    json_object_set_new(claims, "jti", json_string(jtih));
    if (r->ear) { /* the EAR of this verdict, signed as the MAA token would be */
        claims = att_svc_ear(svc, v->name, claims, rt->present, pol, use, denied,
                             denied ? att_policy_result_reason(pres) : NULL, r);
        if (claims == NULL)
            goto out;
    }
    att_std_claims(svc, claims);
    if (draft != NULL) {
        /* Tokens from a draft policy are unsecured, as MAA makes them. */
        char *payload = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
        char *jws = payload ? att_jws_unsigned((const uint8_t *)payload, strlen(payload)) : NULL;
        json_decref(claims);
        if (jws == NULL) {
            att_reply_err(r, 500, "InternalError", ATT_E_NOMEM, "out of memory");
        } else {
            att_reply_jws(r, jws);
        }
        free(payload);
        free(jws);
        goto out;
    }
    att_keys_maybe_reload(svc);
    att_reply_token(svc, claims, r);
out:
    att_policy_result_free(pres);
    att_pol_unref(pol);
    att_policy_free(draft);
}

/* The open callback of a final round: the service's challenge tokens, spent once, at `now`. */
typedef struct {
    att_svc_t *svc;
    att_time_t now;
} att_open_req_t;

static att_err_t att_svc_open(void *arg, const char *purpose, const char *token, uint8_t **data,
                              size_t *len, att_diag_t *d)
{
    att_open_req_t *o = arg;
    return att_challenge_open(o->svc, purpose, token, o->now, true, data, len, NULL, d);
}

/* The final round: msg (raw: its bytes) is the evidence; the answer is the token as
 * {"data": base64url({"report": token})} (MAA's), or as {"token": token} when !wrap (the TPM
 * one-shot form). */
static void att_svc_final_round(att_svc_t *svc, const att_ev_type_t *v, size_t idx,
                                const uint8_t *raw, size_t rawlen, att_time_t now, bool wrap,
                                att_svc_reply_t *r)
{
    att_coll_req_t cr = {.svc = svc};
    att_open_req_t op = {.svc = svc, .now = now};
    att_ev_input_t in = {.evidence = raw,
                         .len = rawlen,
                         .now = now,
                         .collateral = att_svc_collateral,
                         .collateral_arg = &cr,
                         .open = att_svc_open,
                         .open_arg = &op};
    att_ev_result_t res = {0};
    att_data_t none = {0};
    att_err_t e = att_ev_verify(svc->ev, v, &in, &res);
    if (e != ATT_OK) {
        /* missing collateral is a server fault only when the verifier failed for want of it
         * (SEV-SNP asks for its optional CRL and goes on without one) */
        bool no_source = cr.no_source && e == ATT_E_COLL_MISSING;
        bool unavailable =
            no_source || e == ATT_E_FETCH || e == ATT_E_FETCH_STATUS || e == ATT_E_STORE;
        att_reply_err(r, unavailable ? 503 : 400,
                      unavailable ? "ServiceUnavailable" : "InvalidParameter", e,
                      "evidence verification failed: %s: %s", att_err_name(e), res.diag.msg);
        if (unavailable && !no_source) /* retrying cannot help without a source */
            r->retry_after = cr.retry_after > 0 ? cr.retry_after : 1;
        att_ev_result_clear(&res);
        return;
    }
    att_svc_issue(svc, v, idx, &res, &none, &none, NULL, NULL, now, r);
    att_ev_result_clear(&res);
    const char *tok = json_string_value(json_object_get(r->body, "token"));
    if (r->status != 200 || tok == NULL || !wrap || r->ear) /* an EAR is sent as it is */
        return;
    json_t *rep = json_pack("{s:s}", "report", tok);
    char *text = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
    char *b = text ? att_b64url_encode((const uint8_t *)text, strlen(text)) : NULL;
    json_t *o = b ? json_pack("{s:s}", "data", b) : NULL;
    json_decref(r->body);
    r->body = NULL;
    if (o == NULL)
        att_reply_err(r, 500, "InternalError", ATT_E_NOMEM, "out of memory");
    else
        att_reply(r, 200, o);
    json_decref(rep);
    free(text);
    free(b);
}

/* A multi-round type (MAA's TPM protocol): the body is {"data": base64url(JSON)}; an
 * intermediate round answers {"data": base64url(its JSON)}, the final round the token. */
static void att_svc_rounds(att_svc_t *svc, const att_ev_type_t *v, size_t idx, const char *body,
                           size_t len, att_svc_reply_t *r)
{
    json_error_t je;
    json_t *req = att_json_loadb(body, len, JSON_REJECT_DUPLICATES, &je), *msg = NULL,
           *answer = NULL;
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    const char *data = json_string_value(json_object_get(req, "data"));
    if (json_is_object(req) && json_object_get(req, "data") == NULL &&
        json_object_get(req, "context") != NULL) {
        /* The one-shot form (TPM): the native round-2 object itself, with GET /tpm/nonce's
         * context; verified as round 2 {"request": body}, answered {"token": ...}. */
        json_t *m = json_pack("{s:O}", "request", req);
        char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
        json_decref(m);
        if (text == NULL)
            att_reply_err(r, 500, "InternalError", ATT_E_NOMEM, "out of memory");
        else
            att_svc_final_round(svc, v, idx, (const uint8_t *)text, strlen(text), att_svc_now(svc),
                                false, r);
        free(text);
        goto out;
    }
    if (!json_is_object(req) || data == NULL) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG,
                      "a %s request is {\"data\": base64url of the protocol message}, or the "
                      "one-shot form's {\"context\", \"ak\", \"quote\", ...}",
                      v->name);
        goto out;
    }
    if (!att_b64_decode(data, strlen(data), false, &raw, &rawlen) ||
        (msg = att_json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, &je)) == NULL ||
        !json_is_object(msg)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG,
                      "'data' is not base64url of a JSON object");
        goto out;
    }
    att_ev_round_ctx_t ctx = {.now = att_svc_now(svc), .seal = att_svc_seal, .seal_arg = svc};
    att_diag_t d;
    if (att_ev_round(svc->ev, v, &ctx, msg, &answer, &d) != ATT_OK) {
        att_reply_err(r, 400, "InvalidParameter", d.code, "%s", d.msg);
        goto out;
    }
    if (answer == NULL) {
        att_svc_final_round(svc, v, idx, raw, rawlen, ctx.now, true, r);
        goto out;
    }
    char *text = json_dumps(answer, JSON_COMPACT);
    char *b = text ? att_b64url_encode((const uint8_t *)text, strlen(text)) : NULL;
    json_t *o = b ? json_pack("{s:s}", "data", b) : NULL;
    if (o == NULL)
        att_reply_err(r, 500, "InternalError", ATT_E_NOMEM, "out of memory");
    else
        att_reply(r, 200, o);
    free(text);
    free(b);
out:
    json_decref(answer);
    json_decref(msg);
    free(raw);
    json_decref(req);
}

static void att_svc_attest_as(att_svc_t *svc, const char *type, const char *body, size_t len,
                              bool ear, att_svc_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    r->ear = ear;
    size_t idx;
    const char *tname = att_svc_type_name(type, &idx);
    r->type = tname;
    if (tname == NULL) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "unknown attestation type '%s' (%s)",
                      type, att_ev_type_names(false));
        return;
    }
    const att_ev_type_t *v = att_ev_type_at(idx);
    if (v->round != NULL) {
        att_svc_rounds(svc, v, idx, body, len, r);
        return;
    }
    if (!att_ev_type_supported(v)) {
        att_reply_err(r, 501, "NotSupported", ATT_E_UNSUPPORTED,
                      "attestation type %s is not "
                      "supported yet by this attestd",
                      tname);
        return;
    }
    const char *field = v->fields[0];
    json_error_t je;
    json_t *req = att_json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    att_data_t rt = {0}, it = {0};
    uint8_t *ev = NULL;
    size_t evlen = 0;
    att_ev_result_t res = {0};
    if (req == NULL || !json_is_object(req)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG,
                      "the request body is not a JSON "
                      "object%s%s",
                      req ? "" : ": ", req ? "" : je.text);
        goto out;
    }
    json_t *jev = NULL; /* the first member the type's evidence may be in */
    for (size_t i = 0; v->fields[i] != NULL && !json_is_string(jev); i++)
        jev = json_object_get(req, v->fields[i]);
    const char *evb = json_string_value(jev);
    size_t evblen = evb ? json_string_length(jev) : 0;
    if (evb == NULL || evblen == 0) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG,
                      "the request has no '%s' "
                      "(base64url evidence)",
                      field);
        goto out;
    }
    if (!att_b64_decode(evb, evblen, false, &ev, &evlen)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "'%s' is not base64url", field);
        goto out;
    }
    if (!att_parse_data(req, "runtimeData", &rt, r) || !att_parse_data(req, "initTimeData", &it, r))
        goto out;
    json_t *nonce = json_object_get(req, "nonce");
    if (nonce != NULL && !json_is_null(nonce) && !json_is_string(nonce)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "nonce must be a string");
        goto out;
    }
    json_t *jdraft = json_object_get(req, "draftPolicyForAttestation");
    if (jdraft != NULL && !json_is_null(jdraft) && !json_is_string(jdraft)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG,
                      "draftPolicyForAttestation must be a string (policy text)");
        goto out;
    }

    /* Verify the evidence and the data bound into it. Nothing that costs more than reading the
     * request runs before this succeeds: the draft policy is compiled only afterwards. */
    att_time_t now = att_svc_now(svc);
    att_coll_req_t cr = {.svc = svc, .idx = idx};
    att_ev_input_t in = {.evidence = ev,
                         .len = evlen,
                         .now = now,
                         .collateral = att_svc_collateral,
                         .collateral_arg = &cr};
    if (json_is_string(nonce)) {
        in.nonce = (const uint8_t *)json_string_value(nonce);
        in.nonce_len = json_string_length(nonce);
    }
    att_err_t e = att_ev_verify(svc->ev, v, &in, &res);
    if (e != ATT_OK) {
        bool no_source = cr.no_source && e == ATT_E_COLL_MISSING; /* as in the final round */
        bool unavailable = no_source || e == ATT_E_FETCH || e == ATT_E_FETCH_STATUS;
        att_reply_err(r, unavailable ? 503 : 400,
                      unavailable ? "ServiceUnavailable" : "InvalidParameter", e,
                      "evidence verification failed: %s: %s", att_err_name(e), res.diag.msg);
        if (unavailable && !no_source)
            r->retry_after = cr.retry_after > 0 ? cr.retry_after : 1;
        goto out;
    }
    if (cr.tcb_eval != 0) /* the TCB baseline the evidence was judged against */
        json_object_set_new(res.claims, "x-attestd-tcb-evaluation-data-number",
                            json_integer(cr.tcb_eval));
    att_svc_issue(svc, v, idx, &res, &rt, &it, nonce, jdraft, now, r);
out:
    att_ev_result_clear(&res);
    att_data_clear(&rt);
    att_data_clear(&it);
    free(ev);
    json_decref(req);
}

void att_svc_attest(att_svc_t *svc, const char *type, const char *body, size_t len,
                    att_svc_reply_t *r)
{
    att_svc_attest_as(svc, type, body, len, false, r);
}

void att_svc_attest_ear(att_svc_t *svc, const char *type, const char *body, size_t len,
                        att_svc_reply_t *r)
{
    att_svc_attest_as(svc, type, body, len, true, r);
}
