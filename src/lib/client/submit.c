/* submit.c - POST evidence to attestd (or MAA): /attest/{type}, for every type the evidence
 * registry verifies (attest/evidence.h: its request member, api-version and envelope); the
 * requests that manage an instance (policies, policy management certificates). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "attest/evidence.h"
#include "attest/token.h"
#include "client/client_int.h"
#include "core/util.h"

static json_t *att_submit_body(const att_submit_opts_t *o, att_diag_t *diag)
{
    const att_ev_type_t *t = att_ev_type_find(o->type);
    const uint8_t *ev = o->evidence;
    size_t evlen = o->evidence_len;
    uint8_t *wrapped = NULL;
    if (t->wrap != NULL) {
        if (t->wrap(ev, evlen, &wrapped, &evlen, diag) != ATT_OK)
            return NULL;
        ev = wrapped;
    }
    char *b = att_b64url_encode(ev, evlen);
    free(wrapped);
    json_t *req = json_object();
    if (b == NULL || req == NULL) {
        free(b);
        json_decref(req);
        att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        return NULL;
    }
    json_object_set_new(req, t->fields[0], json_string(b));
    free(b);
    if (o->runtime_data != NULL) {
        char *rd = att_b64url_encode(o->runtime_data, o->runtime_len);
        if (rd == NULL) {
            json_decref(req);
            att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            return NULL;
        }
        json_object_set_new(
            req, "runtimeData",
            json_pack("{s:s,s:s}", "data", rd, "dataType", o->runtime_json ? "JSON" : "Binary"));
        free(rd);
    }
    if (o->nonce != NULL)
        json_object_set_new(req, "nonce", json_string(o->nonce));
    return req;
}

/* attestd's answer to rq: 200 {"token"} into r->token, else its CloudError into r. */
static att_err_t att_answer(const att_client_req_t *rq, const att_client_resp_t *rs,
                            att_submit_result_t *r, att_diag_t *diag)
{
    att_err_t e = ATT_OK;
    r->http_status = rs->status;
    json_t *ans = json_loadb(rs->body, rs->len, 0, NULL);
    if (rs->status == 200) {
        const char *tok = json_string_value(json_object_get(ans, "token"));
        if (tok == NULL || *tok == '\0') {
            e = att_diag_set(diag, ATT_E_FETCH, "%s %s: HTTP 200 without a token in the answer",
                             rq->method, rq->url);
        } else if ((r->token = strdup(tok)) == NULL) {
            e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        }
        goto done;
    }
    /* a CloudError {"error":{"code","message"}}, else whatever came */
    json_t *err = json_object_get(ans, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    if (code == NULL)
        code = rs->error_code_hdr;
    char redir[512];
    if (code == NULL && rs->location != NULL) { /* a redirect: say where to, not followed */
        snprintf(redir, sizeof redir, "a redirect to '%.300s': not followed (%s)", rs->location,
                 rs->redirect_refused);
        msg = redir;
    }
    if (msg == NULL)
        msg = rs->body;
    r->error_code = code ? strdup(code) : NULL;
    r->error_message = strdup(msg ? msg : "");
    e = att_diag_set(diag, ATT_E_FETCH_STATUS, "HTTP status %ld%s%s: %.400s", rs->status,
                     code ? " " : "", code ? code : "", msg ? msg : "");
done:
    json_decref(ans);
    return e;
}

ATT_API att_err_t att_submit(const att_submit_opts_t *o, att_submit_result_t *r, att_diag_t *diag)
{
    if (r != NULL)
        memset(r, 0, sizeof(*r));
    if (o == NULL || r == NULL || o->url == NULL || o->type == NULL || o->evidence == NULL ||
        o->evidence_len == 0)
        return att_diag_set(diag, ATT_E_ARG, "submit: URL, type and evidence are needed");
    const att_ev_type_t *t = att_ev_type_find(o->type);
    if (t == NULL || !att_ev_type_supported(t) || strcmp(t->name, o->type) != 0)
        return att_diag_set(diag, ATT_E_ARG, "submit: unknown attestation type '%s' (%s)", o->type,
                            att_ev_type_names(true));
    if (t->round != NULL)
        return att_diag_set(diag, ATT_E_ARG,
                            "submit: %s attestation takes several rounds (a challenge first), "
                            "not one request",
                            t->name);
    if (o->access_token != NULL && strpbrk(o->access_token, "\r\n") != NULL)
        return att_diag_set(diag, ATT_E_ARG, "submit: the access token contains a line break");
    if (o->nonce != NULL && strlen(o->nonce) > 4096)
        return att_diag_set(diag, ATT_E_ARG, "submit: the nonce is longer than 4096 bytes");

    att_err_t e = ATT_OK;
    char *url = NULL, *body = NULL, *auth = NULL;
    json_t *req = NULL;
    att_client_resp_t rs = {0};
    size_t ul = strlen(o->url);
    while (ul > 0 && o->url[ul - 1] == '/')
        ul--;
    /* the api-version MAA defines the type in (TdxVm: 2023-04-01-preview) */
    const char *ver = o->api_version ? o->api_version : t->api_version;
    size_t n = ul + strlen(o->type) + strlen(ver) + 32;
    if ((url = malloc(n)) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    snprintf(url, n, "%.*s/attest/%s?api-version=%s", (int)ul, o->url, o->type, ver);
    if ((req = att_submit_body(o, diag)) == NULL) {
        e = diag ? diag->code : ATT_E_NOMEM;
        goto out;
    }
    if ((body = json_dumps(req, JSON_COMPACT)) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    const char *hdrs[4] = {"Content-Type: application/json", "Accept: application/json", NULL,
                           NULL};
    if (o->access_token != NULL) {
        size_t al = strlen(o->access_token) + sizeof("Authorization: Bearer ");
        if ((auth = malloc(al)) == NULL) {
            e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            goto out;
        }
        snprintf(auth, al, "Authorization: Bearer %s", o->access_token);
        hdrs[2] = auth;
    }
    att_client_req_t rq = {.method = "POST",
                           .url = url,
                           .headers = hdrs,
                           .body = body,
                           .body_len = strlen(body),
                           .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000,
                           .redirects = ATT_CLIENT_REDIRECT_NONE}; /* evidence + bearer token */
    if ((e = att_client_http(&rq, &rs, diag)) != ATT_OK)
        goto out;
    e = att_answer(&rq, &rs, r, diag);
out:
    json_decref(req);
    att_client_resp_clear(&rs);
    free(url);
    free(body);
    if (auth != NULL) {
        OPENSSL_cleanse(auth, strlen(auth));
        free(auth);
    }
    return e;
}

ATT_API att_err_t att_admin_request(const att_admin_opts_t *o, att_submit_result_t *r,
                                    att_diag_t *diag)
{
    if (r != NULL)
        memset(r, 0, sizeof(*r));
    if (o == NULL || r == NULL || o->url == NULL || o->method == NULL || o->path == NULL ||
        o->path[0] != '/' || (o->body == NULL && o->body_len > 0))
        return att_diag_set(diag, ATT_E_ARG, "admin request: URL, method and /path are needed");
    if (o->access_token != NULL && strpbrk(o->access_token, "\r\n") != NULL)
        return att_diag_set(diag, ATT_E_ARG,
                            "admin request: the access token contains a line break");
    size_t ul = strlen(o->url);
    while (ul > 0 && o->url[ul - 1] == '/')
        ul--;
    const char *ver = o->api_version ? o->api_version : "2022-08-01";
    att_err_t e = ATT_OK;
    char *auth = NULL, *url = NULL;
    if (asprintf(&url, "%.*s%s?api-version=%s", (int)ul, o->url, o->path, ver) < 0)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    const char *hdrs[4] = {"Content-Type: text/plain", "Accept: application/json", NULL, NULL};
    if (o->access_token != NULL) {
        if (asprintf(&auth, "Authorization: Bearer %s", o->access_token) < 0) {
            auth = NULL;
            e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            goto out;
        }
        hdrs[2] = auth;
    }
    att_client_resp_t rs = {0};
    att_client_req_t rq = {.method = o->method,
                           .url = url,
                           .headers = hdrs,
                           .body = o->body ? o->body : "",
                           .body_len = o->body_len,
                           .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000,
                           .redirects = ATT_CLIENT_REDIRECT_NONE}; /* a bearer token, a change */
    if ((e = att_client_http(&rq, &rs, diag)) == ATT_OK)
        e = att_answer(&rq, &rs, r, diag);
    att_client_resp_clear(&rs);
out:
    free(url);
    if (auth != NULL) {
        OPENSSL_cleanse(auth, strlen(auth));
        free(auth);
    }
    return e;
}

ATT_API void att_submit_result_clear(att_submit_result_t *r)
{
    if (r == NULL)
        return;
    free(r->token);
    free(r->error_code);
    free(r->error_message);
    memset(r, 0, sizeof(*r));
}
