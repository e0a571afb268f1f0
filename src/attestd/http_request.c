/* http_request.c - the request/response API of http.h: a request's parts, its per-request
 * memory, the answers (JSON, text) and the MAA error form, written here once for every error
 * attestd answers; api-version checks.
 *
 * The error form follows the api-version of the request (docs/api.md "API versions"): up to
 * 2023-04-01-preview MAA's CloudError {"error":{"code","message"}}, exactly; from 2025-06-01 on
 * Azure Core's ErrorResponse, the same plus "innererror":{"code": our ATT_E_... name} when the
 * error has one (as the handler logged it: att_code). x-ms-error-code carries the code always.
 */
#include "http_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* ------------------------------------------------------------------------------------------ */
/* requests */

const char *const att_http_api_versions[] = {
    "2020-10-01", "2022-08-01", "2023-04-01-preview", "2025-06-01", "2026-03-11-preview", NULL};

/* Does api-version v (a known one, or NULL) answer errors in Azure Core's ErrorResponse form?
 * The TypeSpec versions do: 2025-06-01 and later. */
static bool att_azure_core_errors(const char *v)
{
    return v != NULL && strcmp(v, "2025-06-01") >= 0;
}

void *att_http_alloc(att_http_req_t *req, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (!n)
        n = align;
    att_arena_block_t *b = req->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 4000 ? n : 4000;
        b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = req->arena;
        req->arena = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

char *att_http_strdup(att_http_req_t *req, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = att_http_alloc(req, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

char *att_http_strndup(att_http_req_t *req, const char *s, size_t n)
{
    char *p = att_http_alloc(req, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

void att_body_release(att_http_req_t *req)
{
    if (req->body_reserved)
        atomic_fetch_sub(&req->srv->body_memory, req->body_reserved);
    req->body_reserved = 0;
}

void att_req_free(att_http_req_t *req)
{
    if (!req)
        return;
    att_body_release(req);
    att_arena_block_t *b = req->arena;
    while (b) {
        att_arena_block_t *n = b->next;
        free(b);
        b = n;
    }
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->body.p);
    free(req->resp_type);
    free(req->resp_body);
    free(req->error_code);
    free(req->error_msg);
    free(req->att_type);
    json_decref(req->log_extra);
    free(req);
}

const char *att_http_method(const att_http_req_t *req)
{
    return req->method;
}
const char *att_http_path(const att_http_req_t *req)
{
    return req->path;
}
const char *att_http_route_pattern(const att_http_req_t *req)
{
    return req->route ? req->route->pattern : NULL;
}
const char *att_http_request_id(const att_http_req_t *req)
{
    return req->request_id;
}
const char *att_http_remote_addr(const att_http_req_t *req)
{
    return req->remote;
}
const char *att_http_api_version(const att_http_req_t *req)
{
    return req->api_version;
}
bool att_http_answered(const att_http_req_t *req)
{
    return req->answered;
}

const char *att_http_param(const att_http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->nparams; i++)
        if (!strcmp(req->params[i].name, name))
            return req->params[i].value;
    return NULL;
}

const char *att_http_query(const att_http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *att_http_header(const att_http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

att_slice_t att_http_body(const att_http_req_t *req)
{
    static const uint8_t empty[1];
    att_slice_t s = {req->body.p ? req->body.p : empty, req->body.len};
    return s;
}

void att_http_set_attestation_type(att_http_req_t *req, const char *type)
{
    free(req->att_type);
    req->att_type = type ? strdup(type) : NULL;
}

void att_http_log_field(att_http_req_t *req, const char *key, const char *value)
{
    if (!key || !value)
        return;
    if (!req->log_extra)
        req->log_extra = json_object();
    if (req->log_extra && json_object_size(req->log_extra) < 16)
        json_object_set_new(req->log_extra, key, att_log_jstr(value));
}

bool att_header_ok(const char *s, bool name)
{
    if (!s || (name && !*s))
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s; /* RFC 9110 field-value: no CTLs but HTAB */
        if ((c < 0x20 && c != '\t') || c == 0x7f || (name && (c == ':' || c == ' ' || c == '\t')))
            return false;
    }
    return true;
}

bool att_http_add_header(att_http_req_t *req, const char *name, const char *value)
{
    if (req->answered || req->nheaders == ATT_HTTP_MAX_HEADERS || !att_header_ok(name, true) ||
        !att_header_ok(value, false))
        return false;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return false;
    }
    req->headers[req->nheaders].name = n;
    req->headers[req->nheaders].value = v;
    req->nheaders++;
    return true;
}

/* Take ownership of body (malloc'd) as the answer. */
void att_answer(att_http_req_t *req, unsigned status, const char *type, char *body, size_t len)
{
    if (req->answered) {
        free(body);
        return;
    }
    req->answered = true;
    req->status = status;
    req->resp_type = strdup(type);
    req->resp_body = body;
    req->resp_len = len;
}

void att_http_json(att_http_req_t *req, unsigned status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : strdup("{}");
    json_decref(body);
    if (!s) {
        att_http_error(req, 500, "InternalError", "cannot serialize the answer");
        return;
    }
    att_answer(req, status, "application/json; charset=utf-8", s, strlen(s));
}

void att_http_text(att_http_req_t *req, unsigned status, const char *content_type, const char *body,
                   size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        att_http_error(req, 500, "InternalError", "out of memory");
        return;
    }
    if (len)
        memcpy(copy, body, len);
    att_answer(req, status, content_type ? content_type : "text/plain; charset=utf-8", copy, len);
}

static void att_verror(att_http_req_t *req, unsigned status, const char *code, const char *fmt,
                       va_list ap) __attribute__((format(printf, 4, 0)));
static void att_verror(att_http_req_t *req, unsigned status, const char *code, const char *fmt,
                       va_list ap)
{
    if (req->answered)
        return;
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    att_http_set_error(req, code, msg);
    json_t *o = json_pack("{s:{s:s, s:o*}}", "error", "code", code, "message", att_log_jstr(msg));
    /* The request's api-version chooses the form: the one checked for its route, else the one
     * it sent when that is known (a 404 or 405 answers in the form the client expects). */
    const char *v = req->api_version;
    if (v == NULL && req->conn != NULL)
        v = att_known_api_version(att_http_query(req, "api-version"));
    const char *inner =
        req->log_extra ? json_string_value(json_object_get(req->log_extra, "att_code")) : NULL;
    if (o != NULL && att_azure_core_errors(v) && inner != NULL)
        json_object_set_new(json_object_get(o, "error"), "innererror",
                            json_pack("{s:s}", "code", inner));
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s) /* out of memory or invalid UTF-8 in msg: still answer in the right form */
        s = strdup("{\"error\":{\"code\":\"InternalError\",\"message\":\"error\"}}");
    att_answer(req, status, "application/json; charset=utf-8", s, s ? strlen(s) : 0);
}

void att_http_set_error(att_http_req_t *req, const char *code, const char *message)
{
    if (req->answered || !code)
        return;
    free(req->error_code);
    free(req->error_msg);
    req->error_code = strdup(code);
    req->error_msg = message ? strdup(message) : NULL;
    for (size_t i = 0; i < req->nheaders; i++)
        if (!strcasecmp(req->headers[i].name, "x-ms-error-code")) {
            char *v = strdup(code);
            if (v && att_header_ok(v, false)) {
                free(req->headers[i].value);
                req->headers[i].value = v;
            } else {
                free(v);
            }
            return;
        }
    att_http_add_header(req, "x-ms-error-code", code);
}

void att_http_error(att_http_req_t *req, unsigned status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    att_verror(req, status, code, fmt, ap);
    va_end(ap);
}

void att_error_internal(att_http_req_t *req, unsigned status, const char *code, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
void att_error_internal(att_http_req_t *req, unsigned status, const char *code, const char *fmt,
                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    att_verror(req, status, code, fmt, ap);
    va_end(ap);
}

const char *att_known_api_version(const char *v)
{
    for (size_t i = 0; v && att_http_api_versions[i]; i++)
        if (!strcmp(v, att_http_api_versions[i]))
            return att_http_api_versions[i];
    return NULL;
}

bool att_http_check_api_version(att_http_req_t *req, bool required)
{
    const char *v = att_http_query(req, "api-version");
    char list[128] = "";
    for (size_t i = 0; att_http_api_versions[i]; i++) {
        if (v && !strcmp(v, att_http_api_versions[i])) {
            req->api_version = att_http_api_versions[i];
            return true;
        }
        if (i)
            strcat(list, ", ");
        strcat(list, att_http_api_versions[i]);
    }
    if (!v && !required)
        return true;
    if (!v)
        att_http_error(req, 400, "InvalidParameter",
                       "The api-version query parameter is required; supported versions: %s", list);
    else
        att_http_error(req, 400, "InvalidParameter",
                       "The api-version '%.64s' is not supported; supported versions: %s", v, list);
    return false;
}
