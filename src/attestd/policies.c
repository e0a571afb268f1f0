/* policies.c - the policies in force (one per attestation type: stored, else the default),
 * GET/PUT /policies/{type}, POST /policies/{type}:reset, and the rules of signed administration
 * requests with the store's ledger of them (see svc_int.h; docs/api.md#signed-requests).
 */
#include "svc_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "crypto/crypto.h"
#include "log.h"
#include "token/jws.h"

void att_pol_unref(att_pol_t *p)
{
    if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    att_policy_free(p->pol);
    free(p->jws);
    json_decref(p->signer);
    free(p);
}

/* Decode {"AttestationPolicy": b64url(text)} from a policy JWS payload. */
static att_err_t att_policy_text(const json_t *claims, char **text, size_t *len, att_diag_t *d)
{
    const char *b = json_string_value(json_object_get(claims, "AttestationPolicy"));
    if (b == NULL)
        return att_diag_set(d, ATT_E_JWS_FORMAT, "the policy token has no AttestationPolicy claim");
    uint8_t *out;
    size_t n;
    if (!att_b64_decode(b, strlen(b), false, &out, &n))
        return att_diag_set(d, ATT_E_JWS_FORMAT, "AttestationPolicy is not base64url");
    *text = (char *)out;
    *len = n;
    return ATT_OK;
}

static char *att_policy_jws_unsigned(const char *text, size_t len)
{
    char *b = att_b64url_encode((const uint8_t *)text, len);
    json_t *p = json_pack("{s:s}", "AttestationPolicy", b ? b : "");
    char *payload = json_dumps(p, JSON_COMPACT);
    char *jws = payload ? att_jws_unsigned((const uint8_t *)payload, strlen(payload)) : NULL;
    free(payload);
    json_decref(p);
    free(b);
    return jws;
}

/* Make a policy entry from a stored JWS (trusted: it was checked when it was set, perhaps under a
 * lower --policy-signer-min-rsa-bits than now, which must not make the stored policy unusable). */
static att_pol_t *att_pol_from_jws(const char *jws, bool is_default, att_diag_t *d)
{
    att_jws_t j;
    att_jws_opts_t jo = {.allow_unsigned = true, .min_rsa_bits = ATT_TOKEN_RSA_FLOOR_BITS};
    if (att_jws_verify(jws, strlen(jws), &jo, &j, d) != ATT_OK)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    att_pol_t *p = NULL;
    if (att_policy_text(j.claims, &text, &len, d) == ATT_OK &&
        (p = calloc(1, sizeof(*p))) != NULL) {
        atomic_init(&p->refs, 1);
        p->is_default = is_default;
        p->jws = strdup(jws);
        if (j.signer)
            p->signer = att_jwk_from_cert(j.signer, d);
        if (att_policy_compile(text, len, &p->pol, NULL, d) != ATT_OK || p->jws == NULL) {
            att_pol_unref(p);
            p = NULL;
        }
    }
    free(text);
    att_jws_clear(&j);
    return p;
}

static att_pol_t *att_pol_default(const char *type, att_diag_t *d)
{
    const char *text = att_policy_default(type);
    if (text == NULL) {
        att_diag_set(d, ATT_E_ARG, "no default policy for %s", type);
        return NULL;
    }
    char *jws = att_policy_jws_unsigned(text, strlen(text));
    att_pol_t *p = jws ? att_pol_from_jws(jws, true, d) : NULL;
    free(jws);
    return p;
}

att_pol_t *att_pol_get(att_svc_t *svc, size_t idx)
{
    pthread_rwlock_rdlock(&svc->lock);
    att_pol_t *p = svc->pol[idx];
    atomic_fetch_add(&p->refs, 1);
    pthread_rwlock_unlock(&svc->lock);
    return p;
}

static void att_pol_swap(att_svc_t *svc, size_t idx, att_pol_t *p)
{
    pthread_rwlock_wrlock(&svc->lock);
    att_pol_t *old = svc->pol[idx];
    svc->pol[idx] = p;
    pthread_rwlock_unlock(&svc->lock);
    att_pol_unref(old);
}

/* Trim whitespace and a JSON string-literal wrapper around a JWS body. */
void att_trim_body(const char **p, size_t *len)
{
    while (*len > 0 && isspace((unsigned char)**p))
        (*p)++, (*len)--;
    while (*len > 0 && isspace((unsigned char)(*p)[*len - 1]))
        (*len)--;
}

unsigned att_policy_signer_min_rsa_bits(const att_svc_t *svc)
{
    unsigned b = svc->o.policy_signer_min_rsa_bits;
    return b == 0 ? ATT_POLICY_SIGNER_MIN_RSA_BITS : b;
}

void att_policy_signer_used(att_svc_t *svc, X509 *cert, const char *what)
{
    EVP_PKEY *k = cert ? X509_get0_pubkey(cert) : NULL;
    if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA ||
        EVP_PKEY_get_bits(k) >= (int)ATT_POLICY_SIGNER_MIN_RSA_BITS)
        return;
    atomic_fetch_add(&svc->weak_signer_uses, 1);
    char subject[256] = "";
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    att_log(ATT_LOG_WARN,
            "%s: the policy signer's RSA key has %d bits, under %u (accepted because "
            "--policy-signer-min-rsa-bits is %u; replace the key): %s",
            what, EVP_PKEY_get_bits(k), ATT_POLICY_SIGNER_MIN_RSA_BITS,
            att_policy_signer_min_rsa_bits(svc), subject);
}

/* Verify a policy-management JWS (policy set/reset): in isolated mode it must be signed by a
 * policy management certificate; otherwise unsigned or any valid signature is accepted. An RSA
 * signer needs --policy-signer-min-rsa-bits (default 2048). */
att_err_t att_policy_jws(att_svc_t *svc, const char *body, size_t len, att_jws_t *j,
                         att_svc_reply_t *r)
{
    att_diag_t d;
    att_jws_opts_t jo = {.allow_unsigned = !svc->isolated,
                         .min_rsa_bits = att_policy_signer_min_rsa_bits(svc)};
    att_err_t e = att_jws_verify(body, len, &jo, j, &d);
    if (e == ATT_E_JWS_UNSIGNED || (e == ATT_OK && svc->isolated && j->signer == NULL)) {
        if (e == ATT_OK)
            att_jws_clear(j);
        att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_UNSIGNED,
                      "this instance is in isolated mode: policies must be signed by a policy "
                      "management certificate");
        return ATT_E_JWS_UNSIGNED;
    }
    if (e != ATT_OK) {
        att_reply_err(r, 400, e == ATT_E_JWS_SIGNATURE ? "InvalidParameter" : "InvalidOperation", e,
                      "the policy token is not a valid JWS: %s", d.msg);
        return e;
    }
    if (svc->isolated && !att_is_signer(svc, j->signer)) {
        att_jws_clear(j);
        att_reply_err(r, 400, "InvalidParameter", ATT_E_JWS_SIGNATURE,
                      "the policy token is signed by a certificate that is not a policy "
                      "management certificate of this instance");
        return ATT_E_JWS_SIGNATURE;
    }
    if (j->signer != NULL)
        att_policy_signer_used(svc, j->signer, "a signed policy request");
    return ATT_OK;
}

/* ---- what a signed administration request authorises (docs/api.md#signed-requests) ----
 *
 * In isolated mode the signature is what authorises a change (elsewhere the access token is),
 * so there a signed request must say what it is for.
 * The operation: a policy set carries AttestationPolicy; a reset carries an empty payload (or a
 * JSON object with neither AttestationPolicy nor a policy certificate); a certificate change
 * carries policyCertificate. So the policy JWS that GET /policies hands out can never reset.
 * Freshness: exp and nbf are enforced when present (60 s of clock skew); with
 * --policy-jws-max-age an iat at most that old is required.
 * Type and once: GET /policies hands the policy JWS in force to anyone who may read, so in
 * isolated mode a signed policy set is recorded in the store's ledger (by the SHA-256 of its
 * signing input, so a re-encoded or, for ECDSA, a re-signed (r, n-s) copy is the same request)
 * with its type. It is refused for any other type, and for its own type once another policy has
 * replaced it (a rollback); a retry that changes nothing is answered as before. Resets and
 * certificate changes carry nothing that could bind them (MAA's format: an empty payload; the
 * same policyCertificate payload for add and remove), are never handed out by attestd, and are
 * bounded by exp / --policy-jws-max-age only (docs/api.md). */

#define ATT_SVC_JWS_SKEW 60

static const char *const att_signed_ops[] = {"policy.set", "policy.reset", "certificates.add",
                                             "certificates.remove"};

/* exp, nbf and iat of a policy-management JWS: integers when present, and in range at the
 * wall clock (request freshness is about now, not about the --at evidence clock). */
static bool att_request_fresh(att_svc_t *svc, const att_jws_t *j, att_svc_reply_t *r)
{
    static const char *const names[] = {"exp", "nbf", "iat"};
    json_int_t v[3] = {0, 0, 0};
    bool have[3] = {false, false, false};
    for (size_t i = 0; i < 3; i++) {
        json_t *c = json_object_get(j->claims, names[i]);
        if (c == NULL)
            continue;
        if (!json_is_integer(c) || json_integer_value(c) < 0) {
            att_reply_err(r, 400, "InvalidParameter", ATT_E_TOKEN_CLAIM,
                          "the request token's %s must be a non-negative integer (seconds since "
                          "1970)",
                          names[i]);
            return false;
        }
        v[i] = json_integer_value(c);
        have[i] = true;
    }
    att_time_t now = att_wall();
    char t[ATT_TIME_STRLEN];
    if (have[0] && v[0] <= now - ATT_SVC_JWS_SKEW) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_TOKEN_EXPIRED,
                      "the request token expired at %s", att_time_format((att_time_t)v[0], t));
        return false;
    }
    if (have[1] && v[1] > now + ATT_SVC_JWS_SKEW) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_TOKEN_NOT_YET_VALID,
                      "the request token is not valid before %s",
                      att_time_format((att_time_t)v[1], t));
        return false;
    }
    if (have[2] && v[2] > now + ATT_SVC_JWS_SKEW) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_TOKEN_NOT_YET_VALID,
                      "the request token's iat %s is in the future",
                      att_time_format((att_time_t)v[2], t));
        return false;
    }
    int64_t max_age = svc->o.policy_jws_max_age;
    if (max_age > 0 && j->signer != NULL && (!have[2] || now - v[2] > max_age)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_TOKEN_CLAIM,
                      "this attestd takes signed requests at most %lld s old "
                      "(--policy-jws-max-age): the request token %s",
                      (long long)max_age, have[2] ? "is older" : "has no iat claim");
        return false;
    }
    return true;
}

/* Does the JWS payload say what the operation is? */
static bool att_request_op_ok(const att_jws_t *j, att_signed_op_t op, att_svc_reply_t *r)
{
    bool has_policy = json_object_get(j->claims, "AttestationPolicy") != NULL;
    bool has_cert = false;
    static const char *const cert_names[] = {"policyCertificate", "maa-policyCertificate",
                                             "x-ms-policyCertificate", "aas-policyCertificate"};
    for (size_t i = 0; i < ATT_ARRAY_LEN(cert_names); i++)
        has_cert |= json_object_get(j->claims, cert_names[i]) != NULL;
    const char *what = NULL;
    switch (op) {
    case ATT_SIGNED_SET:
        if (has_cert)
            what = "it carries a policy certificate: it is a certificates request";
        break;
    case ATT_SIGNED_RESET:
        if (has_policy)
            what = "it carries AttestationPolicy: it is a policy set request (a reset takes a "
                   "JWS with an empty payload)";
        else if (has_cert)
            what = "it carries a policy certificate: it is a certificates request";
        else if (j->payload_len > 0 && j->claims == NULL)
            what = "its payload is neither empty nor a JSON object";
        break;
    case ATT_SIGNED_CERT_ADD:
    case ATT_SIGNED_CERT_REMOVE:
        if (has_policy)
            what = "it carries AttestationPolicy: it is a policy set request";
        break;
    }
    if (what == NULL)
        return true;
    att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                  "the request token does not authorise %s: %s", att_signed_ops[op], what);
    return false;
}

/* SHA-256 (hex) of a JWS's signing input, b64(header) "." b64(payload), as sent. */
static bool att_request_hash(const char *body, size_t len, char out[65])
{
    json_t *lit = NULL;
    if (len > 0 && body[0] == '"') { /* a JSON string literal, as /certificates:* take it */
        json_error_t je;
        if ((lit = json_loadb(body, len, JSON_DECODE_ANY, &je)) == NULL || !json_is_string(lit)) {
            json_decref(lit);
            return false;
        }
        body = json_string_value(lit);
        len = json_string_length(lit);
        att_trim_body(&body, &len);
    }
    att_jws_parts_t seg;
    uint8_t h[32];
    bool ok = att_jws_split(body, len, &seg, NULL) &&
              att_sha256_2((const uint8_t *)body, seg.input_len, NULL, 0, h);
    if (ok)
        att_hex_encode(h, sizeof h, out);
    json_decref(lit);
    return ok;
}

/* The checks of a policy-management JWS that has verified: what it authorises, freshness, and
 * (isolated mode, signed policy sets) the ledger. *seen_same is set when the request was used
 * before for exactly this; the caller accepts that only when it changes nothing. */
bool att_request_authorised(att_svc_t *svc, const char *body, size_t len, const att_jws_t *j,
                            att_signed_op_t op, const char *type, bool *seen_same,
                            att_svc_reply_t *r)
{
    *seen_same = false;
    /* Outside isolated mode the access token authorises the change; the body only carries it. */
    if (!svc->isolated || j->signer == NULL)
        return true;
    if (!att_request_op_ok(j, op, r) || !att_request_fresh(svc, j, r))
        return false;
    if (op != ATT_SIGNED_SET)
        return true;
    char hash[65], used_for[64];
    if (!att_request_hash(body, len, hash)) {
        att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                      "the request token is not a compact JWS");
        return false;
    }
    snprintf(used_for, sizeof used_for, "%s%s%s", att_signed_ops[op], type ? " " : "",
             type ? type : "");
    char *prev = NULL;
    att_time_t prev_at = 0;
    att_diag_t d;
    att_err_t e =
        att_store_request_use(svc->store, hash, used_for, att_wall(), &prev, &prev_at, &d);
    if (e != ATT_OK) {
        att_reply_store_err(svc, r, e, "recording the signed request failed: %s", d.msg);
        return false;
    }
    if (prev == NULL)
        return true;
    if (strcmp(prev, used_for) == 0) {
        free(prev);
        *seen_same = true;
        return true;
    }
    char t[ATT_TIME_STRLEN];
    att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                  "this signed request was made for %s (first used %s), not %s: a signed request "
                  "authorises one change, once",
                  prev, att_time_format(prev_at, t), used_for);
    free(prev);
    return false;
}

/* A request seen before for the same operation: accepted only when it changes nothing. */
static void att_reply_replay(att_svc_reply_t *r, att_signed_op_t op, const char *type)
{
    att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                  "this signed request was already used for %s%s%s and another policy has "
                  "replaced it since: a signed policy is not set again (no rollback); sign a new "
                  "request (an iat claim, or any change of the text, makes it new)",
                  att_signed_ops[op], type ? " " : "", type ? type : "");
}

/* Start a policy operation's reply: the type's index, or a 400 naming the unknown type. */
static bool att_policy_type(const char *type, size_t *idx, att_svc_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    if ((r->type = att_svc_type_name(type, idx)) != NULL)
        return true;
    att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "unknown attestation type '%s'", type);
    return false;
}

void att_svc_policy_get(att_svc_t *svc, const char *type, att_svc_reply_t *r)
{
    size_t idx;
    if (!att_policy_type(type, &idx, r))
        return;
    att_keys_maybe_reload(svc);
    att_pol_t *p = att_pol_get(svc, idx);
    json_t *c = json_object();
    att_std_claims(svc, c);
    json_object_set_new(c, "x-ms-policy", json_string(p->jws));
    if (p->signer)
        json_object_set(c, "x-ms-policy-signer", p->signer);
    att_pol_unref(p);
    att_reply_token(svc, c, r);
}

void att_svc_policy_set(att_svc_t *svc, const char *type, const char *body, size_t len,
                        att_svc_reply_t *r)
{
    size_t idx;
    att_diag_t d;
    if (!att_policy_type(type, &idx, r))
        return;
    att_trim_body(&body, &len);
    if (len == 0) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG,
                      "the request body is empty: send "
                      "the policy as a JWS (or as policy text)");
        return;
    }
    att_jws_t j = {0};
    char *text = NULL, *jws = NULL;
    size_t tlen = 0;
    bool raw_text = false;
    att_jws_opts_t probe = {.allow_unsigned = true};
    /* Not a JWS at all: accept raw policy text (outside isolated mode). */
    att_err_t pe = att_jws_verify(body, len, &probe, &j, &d);
    att_jws_clear(&j);
    if (pe == ATT_E_JWS_FORMAT && !svc->isolated) {
        raw_text = true;
        /* all len bytes: strndup would stop at a NUL in the body, and the compiler reads len */
        if ((text = malloc(len + 1)) != NULL) {
            memcpy(text, body, len);
            text[len] = '\0';
        }
        tlen = len;
        jws = att_policy_jws_unsigned(body, len);
        if (text == NULL || jws == NULL) {
            att_reply_err(r, 500, "InternalError", ATT_E_NOMEM, "out of memory");
            goto out;
        }
    } else {
        if (att_policy_jws(svc, body, len, &j, r) != ATT_OK)
            return;
        if (att_policy_text(j.claims, &text, &tlen, &d) != ATT_OK) {
            att_jws_clear(&j);
            att_reply_err(r, 400, "InvalidOperation", d.code, "%s", d.msg);
            return;
        }
        jws = strndup(body, len);
    }
    att_policy_t *pol = NULL;
    att_policy_pos_t pos;
    att_err_t e = att_policy_compile(text, tlen, &pol, &pos, &d);
    att_policy_free(pol);
    if (e != ATT_OK) {
        att_reply_err(r, 400, "PolicyParsingError", e, "%s", d.msg);
        goto out;
    }
    bool seen = false;
    if (!raw_text && !att_request_authorised(svc, body, len, &j, ATT_SIGNED_SET, r->type, &seen, r))
        goto out;
    if (seen) { /* a retry of the request that set the policy in force changes nothing */
        att_pol_t *cur = att_pol_get(svc, idx);
        bool same = !cur->is_default && strcmp(cur->jws, jws) == 0;
        att_pol_unref(cur);
        if (!same) {
            att_reply_replay(r, ATT_SIGNED_SET, r->type);
            goto out;
        }
    }
    /* Durable first, then in force. */
    if ((e = att_store_policy_put(svc->store, r->type, jws, &d)) != ATT_OK) {
        att_reply_store_err(svc, r, e, "storing the policy failed: %s", d.msg);
        goto out;
    }
    att_pol_t *p = att_pol_from_jws(jws, false, &d);
    if (p == NULL) {
        att_reply_err(r, 500, "InternalError", d.code, "%s", d.msg);
        goto out;
    }
    att_pol_swap(svc, idx, p);
    uint8_t h[32];
    const char *hashed = raw_text ? jws : body;
    size_t hlen = raw_text ? strlen(jws) : len;
    att_sha256_2((const uint8_t *)hashed, hlen, NULL, 0, h);
    char *hash = att_b64url_encode(h, 32);
    json_t *c = json_object();
    att_std_claims(svc, c);
    json_object_set_new(c, "x-ms-policy-result", json_string("Updated"));
    json_object_set_new(c, "x-ms-policy-token-hash", json_string(hash ? hash : ""));
    if (j.signer)
        json_object_set_new(c, "x-ms-policy-signer", att_jwk_from_cert(j.signer, &d));
    free(hash);
    att_reply_token(svc, c, r);
out:
    att_jws_clear(&j);
    free(text);
    free(jws);
}

void att_svc_policy_reset(att_svc_t *svc, const char *type, const char *body, size_t len,
                          att_svc_reply_t *r)
{
    size_t idx;
    att_diag_t d;
    if (!att_policy_type(type, &idx, r))
        return;
    att_trim_body(&body, &len);
    att_jws_t j = {0};
    if (len > 0 || svc->isolated) {
        if (att_policy_jws(svc, body, len, &j, r) != ATT_OK)
            return;
        bool seen = false;
        if (!att_request_authorised(svc, body, len, &j, ATT_SIGNED_RESET, r->type, &seen, r)) {
            att_jws_clear(&j);
            return;
        }
    }
    att_err_t e = att_store_policy_delete(svc->store, r->type, &d);
    if (e != ATT_OK && e != ATT_E_STORE_NOT_FOUND) {
        att_jws_clear(&j);
        att_reply_store_err(svc, r, e, "resetting the policy failed: %s", d.msg);
        return;
    }
    att_pol_t *p = att_pol_default(r->type, &d);
    if (p != NULL)
        att_pol_swap(svc, idx, p);
    json_t *c = json_object();
    att_std_claims(svc, c);
    json_object_set_new(c, "x-ms-policy-result", json_string("Removed"));
    if (j.signer)
        json_object_set_new(c, "x-ms-policy-signer", att_jwk_from_cert(j.signer, &d));
    att_jws_clear(&j);
    att_reply_token(svc, c, r);
}

/* Another replica changed the stored policy of `type` (NULL: of any type, maybe): put what the
 * store holds now in force, where it differs from what is. A store that cannot be read keeps
 * the policies in force and makes this false (the watcher tries again a second later). */
bool att_policies_reload(att_svc_t *svc, const char *type)
{
    bool ok = true;
    for (size_t i = 0; i < att_svc_ntypes(); i++) {
        const char *name = att_svc_type_at(i);
        if (type != NULL && strcmp(type, name) != 0)
            continue;
        char *jws = NULL;
        att_diag_t d;
        att_err_t e = att_store_policy_get(svc->store, name, &jws, &d);
        if (e != ATT_OK && e != ATT_E_STORE_NOT_FOUND) {
            ok = false;
            continue;
        }
        att_pol_t *cur = att_pol_get(svc, i);
        bool same = e == ATT_OK ? !cur->is_default && strcmp(cur->jws, jws) == 0 : cur->is_default;
        att_pol_unref(cur);
        att_pol_t *p = NULL;
        if (!same)
            p = e == ATT_OK ? att_pol_from_jws(jws, false, &d) : att_pol_default(name, &d);
        if (p != NULL)
            att_pol_swap(svc, i, p);
        free(jws);
    }
    return ok;
}

/* The policies in force at start-up: stored ones, else the defaults. In isolated mode, signed
 * policies stored before the ledger existed count as used for their type. */
att_err_t att_policies_init(att_svc_t *svc, att_diag_t *d)
{
    for (size_t i = 0; i < att_svc_ntypes(); i++) {
        char *jws = NULL;
        att_diag_t pd;
        att_err_t e = att_store_policy_get(svc->store, att_svc_type_at(i), &jws, &pd);
        if (e == ATT_OK) {
            svc->pol[i] = att_pol_from_jws(jws, false, &pd);
            free(jws);
            if (svc->pol[i] == NULL)
                return att_diag_set(d, pd.code, "the stored %s policy cannot be loaded: %s",
                                    att_svc_type_at(i), pd.msg);
        } else if (e == ATT_E_STORE_NOT_FOUND) {
            if ((svc->pol[i] = att_pol_default(att_svc_type_at(i), &pd)) == NULL)
                return att_diag_set(d, pd.code, "the default %s policy cannot be loaded: %s",
                                    att_svc_type_at(i), pd.msg);
        } else {
            *d = pd;
            return e;
        }
    }
    for (size_t i = 0; svc->isolated && i < att_svc_ntypes(); i++) {
        char hash[65], used_for[64], *prev = NULL;
        att_time_t prev_at;
        att_diag_t pd;
        if (svc->pol[i]->is_default || svc->pol[i]->signer == NULL ||
            !att_request_hash(svc->pol[i]->jws, strlen(svc->pol[i]->jws), hash))
            continue;
        snprintf(used_for, sizeof used_for, "policy.set %s", att_svc_type_at(i));
        if (att_store_request_use(svc->store, hash, used_for, att_wall(), &prev, &prev_at, &pd) !=
            ATT_OK) {
            *d = pd;
            return pd.code;
        }
        free(prev);
    }
    return ATT_OK;
}
