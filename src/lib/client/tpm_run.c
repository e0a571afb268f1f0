/* tpm_run.c - the client side of /attest/Tpm (docs/api.md "TPM"): round 1, a quote with the
 * challenge, round 2, the token.
 *
 * Every message is {"data": base64url(JSON)} both ways. Round 1 is {"payload": {"type":
 * "aikcert"}} (answered {"payload": {"challenge", "service_context"}}) or, for credential
 * activation, {"payload": {"type": "activate", "ek_cert", "ak", "ek_pub"}} (answered
 * {"payload": {"credential_blob", "encrypted_secret", "service_context"}}; the secret the TPM
 * activates is the challenge). Round 2 is the native {"request": {service_context, ak, quote,
 * signature, pcrs, tcg_log?, ima_log?, ak_cert?}} or MAA's request v2 {"request": "<attReqV2
 * JWS>"} (att_tpm_round2_maa), answered {"report": JWT}. The one-shot form (att_tpm_oneshot)
 * is GET /tpm/nonce, then the native request object itself with its "context", not wrapped,
 * answered {"token": JWT}. Not checked here: the token (the
 * relying party's job), the challenge's size (the TPM takes 1 to 64 bytes; more is refused
 * before the TPM is asked).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jose/jwk.h>
#include <jose/openssl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/token.h"
#include "client/client_int.h"
#include "client/tpm_client.h"
#include "core/util.h"

#define ATT_TPM_API_VERSION "2022-08-01"

typedef struct {
    const att_tpm_attest_opts_t *o;
    char *url;
    char *auth;
    att_submit_result_t *r;
} att_tpm_conv_t;

/* One exchange with url: POST msg, or GET when msg is NULL; wrap: MAA's envelope both ways
 * (POST {"data": b64url(msg)}, *answer the decoded JSON of the answer's "data"), else msg and
 * *answer are the bodies themselves (the one-shot form and GET /tpm/nonce). */
static att_err_t att_tpm_http(att_tpm_conv_t *c, const char *what, const char *url, json_t *msg,
                              bool wrap, json_t **answer, att_diag_t *diag)
{
    *answer = NULL;
    char *body = NULL;
    if (msg != NULL && wrap) {
        char *text = json_dumps(msg, JSON_COMPACT);
        char *b = text ? att_b64url_encode((const uint8_t *)text, strlen(text)) : NULL;
        json_t *env = b ? json_pack("{s:s}", "data", b) : NULL;
        body = env ? json_dumps(env, JSON_COMPACT) : NULL;
        free(text);
        free(b);
        json_decref(env);
    } else if (msg != NULL) {
        body = json_dumps(msg, JSON_COMPACT);
    }
    if (msg != NULL && body == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    const char *hdrs[4] = {"Content-Type: application/json", "Accept: application/json", c->auth,
                           NULL};
    att_client_req_t rq = {.method = msg ? "POST" : "GET",
                           .url = url,
                           .headers = hdrs,
                           .body = body,
                           .body_len = body ? strlen(body) : 0,
                           .timeout_ms = c->o->timeout_ms > 0 ? c->o->timeout_ms : 30000,
                           .redirects = ATT_CLIENT_REDIRECT_NONE};
    att_client_resp_t rs = {0};
    att_err_t e = att_client_http(&rq, &rs, diag);
    free(body);
    if (e != ATT_OK)
        return e;
    c->r->http_status = rs.status;
    json_t *ans = json_loadb(rs.body, rs.len, 0, NULL);
    if (rs.status != 200) {
        /* a CloudError {"error": {"code", "message"}}, else whatever came */
        json_t *err = json_object_get(ans, "error");
        const char *code = json_string_value(json_object_get(err, "code"));
        const char *m = json_string_value(json_object_get(err, "message"));
        if (code == NULL)
            code = rs.error_code_hdr;
        c->r->error_code = code ? strdup(code) : NULL;
        c->r->error_message = strdup(m ? m : rs.body ? rs.body : "");
        e = att_diag_set(diag, ATT_E_FETCH_STATUS, "%s: HTTP status %ld%s%s: %.400s", what,
                         rs.status, code ? " " : "", code ? code : "", m ? m : "");
        goto out;
    }
    if (!wrap) {
        if (!json_is_object(ans))
            e = att_diag_set(diag, ATT_E_FETCH, "%s: HTTP 200, but the answer is not a JSON object",
                             what);
        else
            *answer = json_incref(ans);
        goto out;
    }
    const char *data = json_string_value(json_object_get(ans, "data"));
    uint8_t *dec = NULL;
    size_t dl = 0;
    if (data == NULL || !att_b64_decode(data, strlen(data), false, &dec, &dl)) {
        e = att_diag_set(diag, ATT_E_FETCH,
                         "%s: HTTP 200, but the answer is not {\"data\": base64url(JSON)}", what);
        goto out;
    }
    *answer = json_loadb((const char *)dec, dl, JSON_REJECT_DUPLICATES, NULL);
    free(dec);
    if (!json_is_object(*answer)) {
        json_decref(*answer);
        *answer = NULL;
        e = att_diag_set(diag, ATT_E_FETCH, "%s: the answer's data is not a JSON object", what);
    }
out:
    json_decref(ans);
    att_client_resp_clear(&rs);
    return e;
}

/* One round of MAA's protocol: POST {"data": b64url(msg)} to /attest/Tpm. */
static att_err_t att_tpm_round(att_tpm_conv_t *c, const char *what, json_t *msg, json_t **answer,
                               att_diag_t *diag)
{
    return att_tpm_http(c, what, c->url, msg, true, answer, diag);
}

/* A base64url string member of obj, decoded into at most max bytes. */
static att_err_t att_tpm_member(json_t *obj, const char *what, const char *name, size_t max,
                                uint8_t **out, size_t *len, att_diag_t *diag)
{
    const char *s = json_string_value(json_object_get(obj, name));
    *out = NULL;
    if (s == NULL || !att_b64_decode(s, strlen(s), false, out, len) || *len == 0 || *len > max) {
        free(*out);
        *out = NULL;
        return att_diag_set(diag, ATT_E_FETCH,
                            "%s: the answer's payload has no base64url \"%s\" of 1 to %zu bytes",
                            what, name, max);
    }
    return ATT_OK;
}

static json_t *att_tpm_b64(const uint8_t *p, size_t n)
{
    char *s = att_b64url_encode(p, n);
    json_t *j = s ? json_string(s) : NULL;
    free(s);
    return j;
}

/* Round 1: the challenge (aikcert) or the activated secret (activate), and the context. */
static att_err_t att_tpm_round1(att_tpm_conv_t *c, att_tpm_client_t *t, uint8_t ch[64],
                                size_t *chlen, char **sc, att_diag_t *diag)
{
    const char *what = "TPM round 1";
    att_tpm_client_keys_t k;
    att_tpm_client_keys(t, &k);
    json_t *p;
    if (c->o->trust == ATT_TPM_TRUST_ACTIVATE) {
        if (k.ek_cert == NULL)
            return att_diag_set(diag, ATT_E_UNSUPPORTED,
                                "credential activation needs the EK certificate, and the TPM has "
                                "none in NV for this EK");
        p = json_pack("{s:s,s:o,s:o,s:o}", "type", "activate", "ek_cert",
                      att_tpm_b64(k.ek_cert, k.ek_cert_len), "ak",
                      att_tpm_b64(k.ak_public, k.ak_public_len), "ek_pub",
                      att_tpm_b64(k.ek_public, k.ek_public_len));
    } else {
        p = json_pack("{s:s}", "type", "aikcert");
    }
    json_t *msg = p ? json_pack("{s:o}", "payload", p) : NULL, *ans = NULL;
    if (msg == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    att_err_t e = att_tpm_round(c, what, msg, &ans, diag);
    json_decref(msg);
    if (e != ATT_OK)
        return e;
    json_t *pl = json_object_get(ans, "payload");
    const char *s = json_string_value(json_object_get(pl, "service_context"));
    if (s == NULL) {
        e = att_diag_set(diag, ATT_E_FETCH, "%s: the answer has no payload.service_context", what);
        goto out;
    }
    if ((*sc = strdup(s)) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    uint8_t *b = NULL, *es = NULL;
    size_t bl = 0, el = 0;
    if (c->o->trust != ATT_TPM_TRUST_ACTIVATE) {
        if ((e = att_tpm_member(pl, what, "challenge", 64, &b, &bl, diag)) == ATT_OK) {
            memcpy(ch, b, bl);
            *chlen = bl;
        }
    } else if ((e = att_tpm_member(pl, what, "credential_blob", 4096, &b, &bl, diag)) == ATT_OK &&
               (e = att_tpm_member(pl, what, "encrypted_secret", 4096, &es, &el, diag)) == ATT_OK) {
        e = att_tpm_client_activate(t, b, bl, es, el, ch, chlen, diag);
    }
    free(b);
    free(es);
out:
    if (e != ATT_OK) {
        free(*sc);
        *sc = NULL;
    }
    json_decref(ans);
    return e;
}

/* Round 2's answer: {"report": JWT} into r->token. */
static att_err_t att_tpm_round2(att_tpm_conv_t *c, json_t *msg, att_diag_t *diag)
{
    const char *what = "TPM round 2";
    json_t *ans = NULL;
    att_err_t e = att_tpm_round(c, what, msg, &ans, diag);
    json_decref(msg);
    if (e != ATT_OK)
        return e;
    const char *rep = json_string_value(json_object_get(ans, "report"));
    if (rep == NULL || *rep == '\0')
        e = att_diag_set(diag, ATT_E_FETCH, "%s: HTTP 200 without a \"report\" in the answer",
                         what);
    else if ((c->r->token = strdup(rep)) == NULL)
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    json_decref(ans);
    return e;
}

/* {"request": {service_context, ak, quote, signature, pcrs, tcg_log?, ima_log?, ak_cert?}} */
static att_err_t att_tpm_round2_native(att_tpm_conv_t *c, att_tpm_client_t *t, const uint8_t *ch,
                                       size_t chlen, const char *sc, att_diag_t *diag)
{
    json_t *m;
    att_err_t e = att_tpm_client_members(t, ch, chlen, false, &m, diag);
    if (e != ATT_OK)
        return e;
    json_object_del(m, "ek_cert"); /* not a member of the native round 2 */
    json_t *msg = NULL;
    if ((c->o->trust == ATT_TPM_TRUST_AK_CERT &&
         json_object_set_new(m, "ak_cert", att_tpm_b64(c->o->ak_cert, c->o->ak_cert_len)) != 0) ||
        json_object_set_new(m, "service_context", json_string(sc)) != 0 ||
        (msg = json_pack("{s:o}", "request", m)) == NULL) {
        json_decref(m);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    return att_tpm_round2(c, msg, diag);
}

/* The one-shot form: GET /tpm/nonce, a quote over its nonce, then POST /attest/Tpm of the native
 * request object itself with the nonce's context, answered {"token": JWT}. */
static att_err_t att_tpm_oneshot(att_tpm_conv_t *c, att_tpm_client_t *t, const char *nonce_url,
                                 att_diag_t *diag)
{
    json_t *ans = NULL, *m = NULL;
    uint8_t *nonce = NULL;
    size_t nlen = 0;
    att_err_t e = att_tpm_http(c, "GET /tpm/nonce", nonce_url, NULL, false, &ans, diag);
    if (e != ATT_OK)
        return e;
    const char *ctx = json_string_value(json_object_get(ans, "context"));
    if (ctx == NULL) {
        e = att_diag_set(diag, ATT_E_FETCH, "GET /tpm/nonce: the answer has no \"context\"");
        goto out;
    }
    if ((e = att_tpm_member(ans, "GET /tpm/nonce", "nonce", 64, &nonce, &nlen, diag)) != ATT_OK ||
        (e = att_tpm_client_members(t, nonce, nlen, false, &m, diag)) != ATT_OK)
        goto out;
    json_object_del(m, "ek_cert");
    if ((c->o->trust == ATT_TPM_TRUST_AK_CERT &&
         json_object_set_new(m, "ak_cert", att_tpm_b64(c->o->ak_cert, c->o->ak_cert_len)) != 0) ||
        json_object_set_new(m, "context", json_string(ctx)) != 0) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    json_decref(ans);
    ans = NULL;
    if ((e = att_tpm_http(c, "TPM one-shot", c->url, m, false, &ans, diag)) != ATT_OK)
        goto out;
    const char *tok = json_string_value(json_object_get(ans, "token"));
    if (tok == NULL || *tok == '\0')
        e = att_diag_set(diag, ATT_E_FETCH, "TPM one-shot: HTTP 200 without a \"token\"");
    else if ((c->r->token = strdup(tok)) == NULL)
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
out:
    if (nonce != NULL)
        OPENSSL_cleanse(nonce, nlen);
    free(nonce);
    json_decref(m);
    json_decref(ans);
    return e;
}

/* MAA's request v2: {"request": JWS} with header {"alg": "PS256", "typ": "attReqV2"}, signed by
 * an ephemeral RSA-2048 request key whose public JWK is att_data.request_key.jwk, bound to the
 * TPM by the quote: qualifyingData = SHA-256(the jwk member's bytes as sent || 0x00 ||
 * challenge) (request_key.info.tpm_quote). The payload is serialised once, compactly with
 * sorted keys, and the jwk member's bytes in it are checked to be the ones hashed. */
static att_err_t att_tpm_round2_maa(att_tpm_conv_t *c, att_tpm_client_t *t, const uint8_t *ch,
                                    size_t chlen, const char *sc, att_diag_t *diag)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    att_signer_t *signer = NULL;
    json_t *jwk = NULL, *cur = NULL, *payload = NULL, *hdr = NULL;
    char *jwk_text = NULL, *text = NULL, *jws = NULL;
    att_err_t e;
    if ((e = att_key_generate(ATT_ALG_PS256, &key, diag)) != ATT_OK)
        goto out;
    if ((jwk = jose_openssl_jwk_from_EVP_PKEY(NULL, key)) == NULL || !jose_jwk_pub(NULL, jwk) ||
        (jwk_text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
        e = att_diag_set(diag, ATT_E_KEY, "the request key's JWK cannot be made");
        goto out;
    }
    uint8_t qd[32];
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    unsigned int ql = 0;
    bool hashed = mc != NULL && EVP_DigestInit_ex(mc, EVP_sha256(), NULL) == 1 &&
                  EVP_DigestUpdate(mc, jwk_text, strlen(jwk_text)) == 1 &&
                  EVP_DigestUpdate(mc, "", 1) == 1 && EVP_DigestUpdate(mc, ch, chlen) == 1 &&
                  EVP_DigestFinal_ex(mc, qd, &ql) == 1 && ql == sizeof qd;
    EVP_MD_CTX_free(mc);
    if (!hashed) {
        e = att_diag_set(diag, ATT_E_INTERNAL, "SHA-256 failed");
        goto out;
    }
    if ((e = att_tpm_client_members(t, qd, sizeof qd, true, &cur, diag)) != ATT_OK)
        goto out;
    if (c->o->trust == ATT_TPM_TRUST_AK_CERT)
        json_object_set_new(cur, "aik_cert", att_tpm_b64(c->o->ak_cert, c->o->ak_cert_len));
    payload = json_pack("{s:s,s:{s:o,s:s,s:{s:O,s:{s:{s:s}}},s:{s:O}}}", "att_type", "basic",
                        "att_data", "challenge", att_tpm_b64(ch, chlen), "service_context", sc,
                        "request_key", "jwk", jwk, "info", "tpm_quote", "hash_alg", "sha-256",
                        "tpm_att_data", "current_attestation", cur);
    text = payload ? json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (text == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    const char *v1, *v2, *v3;
    size_t l1, l2, l3;
    if (!att_json_raw_member(text, strlen(text), "att_data", &v1, &l1) ||
        !att_json_raw_member(v1, l1, "request_key", &v2, &l2) ||
        !att_json_raw_member(v2, l2, "jwk", &v3, &l3) || l3 != strlen(jwk_text) ||
        memcmp(v3, jwk_text, l3) != 0) {
        e = att_diag_set(diag, ATT_E_INTERNAL,
                         "the request key's JWK is not serialised as it was hashed");
        goto out;
    }
    if ((e = att_cert_self_signed(key, "attest TPM request key", 3600, c->o->now, &cert, diag)) !=
            ATT_OK ||
        (signer = att_signer_new(key, cert, ATT_ALG_PS256, diag)) == NULL) {
        if (e == ATT_OK)
            e = diag ? diag->code : ATT_E_KEY;
        goto out;
    }
    if ((hdr = json_pack("{s:s}", "typ", "attReqV2")) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    if ((e = att_jws_sign(signer, hdr, (const uint8_t *)text, strlen(text), &jws, diag)) != ATT_OK)
        goto out;
    json_t *msg = json_pack("{s:s}", "request", jws);
    if (msg == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    e = att_tpm_round2(c, msg, diag);
out:
    att_signer_free(signer);
    X509_free(cert);
    EVP_PKEY_free(key);
    json_decref(jwk);
    json_decref(cur);
    json_decref(payload);
    json_decref(hdr);
    free(jwk_text);
    free(text);
    free(jws);
    return e;
}

ATT_API att_err_t att_tpm_attest(att_tpm_client_t *t, const att_tpm_attest_opts_t *o,
                                 att_submit_result_t *r, att_diag_t *diag)
{
    if (r != NULL)
        memset(r, 0, sizeof(*r));
    if (t == NULL || o == NULL || r == NULL || o->url == NULL)
        return att_diag_set(diag, ATT_E_ARG, "TPM attestation: the TPM and the URL are needed");
    if (o->trust == ATT_TPM_TRUST_AK_CERT && (o->ak_cert == NULL || o->ak_cert_len == 0))
        return att_diag_set(diag, ATT_E_ARG,
                            "TPM attestation: ak-cert trust needs the AK "
                            "certificate");
    if (o->protocol != ATT_TPM_PROTO_NATIVE && o->protocol != ATT_TPM_PROTO_MAA &&
        o->protocol != ATT_TPM_PROTO_ONESHOT)
        return att_diag_set(diag, ATT_E_ARG, "TPM attestation: unknown protocol");
    if (o->protocol == ATT_TPM_PROTO_ONESHOT && o->trust == ATT_TPM_TRUST_ACTIVATE)
        return att_diag_set(diag, ATT_E_ARG,
                            "TPM attestation: credential activation needs round 1; the one-shot "
                            "form has none (use --tpm-protocol native or maa)");
    if (o->access_token != NULL && strpbrk(o->access_token, "\r\n") != NULL)
        return att_diag_set(diag, ATT_E_ARG, "the access token contains a line break");
    att_tpm_conv_t c = {.o = o, .r = r};
    att_err_t e = ATT_OK;
    char *sc = NULL;
    uint8_t ch[64];
    size_t chlen = 0;
    size_t ul = strlen(o->url);
    while (ul > 0 && o->url[ul - 1] == '/')
        ul--;
    const char *ver = o->api_version ? o->api_version : ATT_TPM_API_VERSION;
    size_t n = ul + strlen(ver) + 32;
    if ((c.url = malloc(n)) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    snprintf(c.url, n, "%.*s/attest/Tpm?api-version=%s", (int)ul, o->url, ver);
    if (o->access_token != NULL) {
        size_t al = strlen(o->access_token) + sizeof("Authorization: Bearer ");
        if ((c.auth = malloc(al)) == NULL) {
            e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            goto out;
        }
        snprintf(c.auth, al, "Authorization: Bearer %s", o->access_token);
    }
    if (o->protocol == ATT_TPM_PROTO_ONESHOT) {
        char *nu = malloc(ul + 16);
        if (nu == NULL) {
            e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            goto out;
        }
        snprintf(nu, ul + 16, "%.*s/tpm/nonce", (int)ul, o->url);
        e = att_tpm_oneshot(&c, t, nu, diag);
        free(nu);
        goto out;
    }
    if ((e = att_tpm_round1(&c, t, ch, &chlen, &sc, diag)) != ATT_OK)
        goto out;
    if (o->protocol == ATT_TPM_PROTO_MAA)
        e = att_tpm_round2_maa(&c, t, ch, chlen, sc, diag);
    else
        e = att_tpm_round2_native(&c, t, ch, chlen, sc, diag);
out:
    OPENSSL_cleanse(ch, sizeof(ch));
    free(sc);
    free(c.url);
    if (c.auth != NULL) {
        OPENSSL_cleanse(c.auth, strlen(c.auth));
        free(c.auth);
    }
    return e;
}
