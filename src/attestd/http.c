/* http.c - attestd's HTTP layer on libmicrohttpd (see http.h): the request life cycle and the
 * server; the other jobs of the layer are in http_*.c (http_int.h lists them).
 *
 * One att_http_req_t per request, created on the first access-handler call (headers received)
 * and freed in the request-completed callback, which also writes the access log line and the
 * request metrics. Handlers run on libmicrohttpd's pool threads once the whole body is in.
 */
#include "http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "log.h"

/* ------------------------------------------------------------------------------------------ */
/* request lifecycle */

static void att_uuid4(char out[37])
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            /* getrandom cannot fail on Linux >= 3.17 with a 16-byte request; be safe anyway */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            for (size_t i = got; i < sizeof(b); i++)
                b[i] = (uint8_t)((uint64_t)ts.tv_nsec >> ((i % 8) * 8)) ^ (uint8_t)i;
            break;
        }
        got += (size_t)n;
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static double att_elapsed(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* The peer as "host:port" ("[v6]:port") in out, and its bare host in host. */
static void att_remote(struct MHD_Connection *c, char *out, size_t n, char *bare, size_t bn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = 0;
    bare[0] = 0;
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    char host[INET6_ADDRSTRLEN], port[8];
    if (getnameinfo(sa, len, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV))
        return;
    snprintf(out, n, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    snprintf(bare, bn, "%s", host);
}

/* Every X-Forwarded-For header of the request, joined with ',' in order (as RFC 9110 allows
 * a list header to be split); NULL when there is none or the list is too long to be honest. */
typedef struct {
    char buf[4096];
    size_t len;
    bool any, over;
} att_xff_t;

static enum MHD_Result att_xff_collect(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    att_xff_t *x = cls;
    if (!key || strcasecmp(key, "X-Forwarded-For") != 0 || !value)
        return MHD_YES;
    size_t vl = strlen(value);
    if (x->len + vl + 2 > sizeof x->buf) {
        x->over = true;
        return MHD_NO;
    }
    if (x->any)
        x->buf[x->len++] = ',';
    memcpy(x->buf + x->len, value, vl);
    x->len += vl;
    x->buf[x->len] = 0;
    x->any = true;
    return MHD_YES;
}

/* req->remote: the client as the trusted proxies tell it (the peer when they do not). */
static void att_req_client(att_http_req_t *req, const char *bare)
{
    att_http_server_t *s = req->srv;
    if (!s->nproxies || !bare[0])
        return;
    att_xff_t *x = calloc(1, sizeof(*x));
    if (!x)
        return;
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, att_xff_collect, x);
    char client[INET6_ADDRSTRLEN + 8];
    att_client_addr(s->proxies, s->nproxies, bare, x->any && !x->over ? x->buf : NULL, client,
                    sizeof client);
    free(x);
    if (strcmp(client, bare) != 0) {
        snprintf(req->peer, sizeof req->peer, "%s", req->remote);
        snprintf(req->remote, sizeof req->remote, "%s", client);
    }
}

/* Build and queue the MHD response for req's answer. */
static enum MHD_Result att_queue(att_http_req_t *req)
{
    if (!req->answered)
        att_error_internal(req, 500, "InternalError", "the handler did not answer");
    struct MHD_Response *r =
        MHD_create_response_from_buffer(req->resp_len, req->resp_body, MHD_RESPMEM_MUST_FREE);
    if (!r)
        return MHD_NO;
    req->resp_body = NULL; /* MHD frees it */
    MHD_add_response_header(r, "Content-Type", req->resp_type ? req->resp_type : "text/plain");
    MHD_add_response_header(r, "x-ms-request-id", req->request_id);
    MHD_add_response_header(r, "x-ms-maa-service-version", req->srv->service_version);
    const char *crid = att_http_header(req, "x-ms-client-request-id");
    if (crid && strlen(crid) <= 128 && att_header_ok(crid, false))
        MHD_add_response_header(r, "x-ms-client-request-id", crid);
    for (size_t i = 0; i < req->nheaders; i++)
        MHD_add_response_header(r, req->headers[i].name, req->headers[i].value);
    if (req->close_after)
        MHD_add_response_header(r, "Connection", "close");
    enum MHD_Result ret = MHD_queue_response(req->conn, req->status, r);
    MHD_destroy_response(r);
    req->queued = ret == MHD_YES;
    return ret;
}

static bool att_has_body(att_http_req_t *req)
{
    const char *cl = att_http_header(req, "Content-Length");
    return att_http_header(req, "Transfer-Encoding") || (cl && strcmp(cl, "0"));
}

/* First call: set up req, answer what can be answered from the headers alone. Returns true when
 * an answer was given (queued by the caller). */
static bool att_req_begin(att_http_req_t *req, const char *version)
{
    att_http_server_t *s = req->srv;
    if (att_conns_over_limit(s)) {
        att_http_add_header(req, "Retry-After", "1");
        req->close_after = true;
        att_error_internal(req, 503, "ServiceUnavailable",
                           "Too many open connections (limit %u); retry later", s->max_connections);
        return true;
    }
    att_head_verdict_t v;
    att_head_check(req, version, &v);
    if (v.status) {
        req->close_after = true; /* the framing is in doubt: nothing after this head is read */
        att_error_internal(req, v.status, v.code, "%s", v.msg);
        return true;
    }
    const char *cl = att_http_header(req, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || *end || end == cl || n > s->max_body) {
            req->close_after = true;
            att_error_internal(req, 413, "RequestEntityTooLarge",
                               "The request body is larger than the limit of %zu bytes",
                               s->max_body);
            return true;
        }
    }
    req->route = att_route_find(req);
    if (!req->route)
        return true;
    unsigned f = req->route->flags;
    if ((f & (ATT_HTTP_API_VERSION | ATT_HTTP_API_VERSION_OPTIONAL)) &&
        !att_http_check_api_version(req, f & ATT_HTTP_API_VERSION))
        return true;
    if (!(f & (ATT_HTTP_API_VERSION | ATT_HTTP_API_VERSION_OPTIONAL)))
        req->api_version = att_known_api_version(att_http_query(req, "api-version"));
    unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0; /* checked above */
    if (n && !att_body_reserve(req, (size_t)n + 1)) {
        att_metric_inc(s->m_body_refused);
        att_http_add_header(req, "Retry-After", "1");
        req->close_after = true;
        att_error_internal(req, 503, "ServiceUnavailable",
                           "Request bodies being received fill the memory set aside for them "
                           "(%zu bytes, --max-body-memory); retry later",
                           s->max_body_memory);
        return true;
    }
    if (n) {
        req->body.p = malloc((size_t)n + 1); /* the whole body at once: no regrowth */
        if (req->body.p)
            req->body.cap = (size_t)n + 1;
    }
    return false;
}

/* The request line has been parsed (libmicrohttpd's URI log callback): the request starts here.
 * Its query is counted, and one with more than max_query_params parameters is hidden from
 * libmicrohttpd, which otherwise stores every parameter in the connection's memory pool and,
 * when that runs out, neither answers nor closes (0.9.75). libmicrohttpd splits the query after
 * this call, in place in the same buffer, so ending the string after the '?' leaves it none to
 * store; att_head_check then answers 414. The returned request is the access handler's
 * *con_cls, and reaches att_completed however the request ends. */
static void *att_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    att_http_server_t *s = cls;
    att_http_req_t *req = calloc(1, sizeof(*req));
    if (!req)
        return NULL;
    req->srv = s;
    req->conn = conn;
    req->target_len = uri ? strlen(uri) : 0;
    char *q = uri ? strchr(uri, '?') : NULL;
    if (q) {
        req->query_params = 1;
        for (const char *p = q + 1; *p; p++)
            req->query_params += *p == '&';
        if (req->query_params > s->max_query_params) {
            req->query_cut = true;
            q[1] = '\0';
        }
    }
    return req;
}

/* Percent-decoding of the path and the query (libmicrohttpd's, except that %00 stays as is: a
 * decoded NUL would cut the C string, so that /policies/SgxEnclave%00x routed as
 * /policies/SgxEnclave). Returns the new length; decodes in place. */
static size_t att_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    char *w = s;
    for (const char *r = s; *r; r++) {
        int hi, lo;
        if (r[0] == '%' && (hi = att_hexval(r[1])) >= 0 && (lo = att_hexval(r[2])) >= 0 &&
            (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static enum MHD_Result att_access(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    att_http_server_t *s = cls;
    att_http_req_t *req = *con_cls;
    if (!req)
        return MHD_NO; /* att_uri_log ran out of memory */
    if (!req->begun) {
        req->begun = true;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        req->cn = ci ? ci->socket_context : NULL;
        att_conn_busy(s, req->cn);
        req->method = method;
        clock_gettime(CLOCK_MONOTONIC, &req->start);
        att_uuid4(req->request_id);
        char bare[INET6_ADDRSTRLEN + 1];
        att_remote(conn, req->remote, sizeof(req->remote), bare, sizeof bare);
        att_req_client(req, bare);
        req->path = att_http_strdup(req, url ? url : "/");
        atomic_fetch_add(&s->in_flight, 1);
        att_metric_gauge_add(s->m_inflight, 1);
        if (!req->path)
            return MHD_NO;
        if (!att_req_begin(req, version))
            return MHD_YES;
        /* Answered from the headers. Over a limit: answer now and close, and linger (the body
         * still arriving is read and dropped for a bounded time, so that the close does not
         * reset the answer away). Otherwise (404, 405, 400) read and drop a body first, so
         * that the client is not reset mid-upload. */
        if (req->close_after && att_has_body(req))
            att_conn_linger(s, req->cn);
        if (req->close_after || !att_has_body(req))
            return att_queue(req);
        return MHD_YES;
    }
    if (req->queued)
        return MHD_YES; /* answered early; MHD discards the rest */
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (s->timeout_s && att_elapsed(&req->start) > s->timeout_s)
            return MHD_NO; /* body deadline: a body must arrive within timeout_s */
        bool nomem = false;
        if (!req->answered && !req->body_over && !req->body_nomem &&
            n <= s->max_body - req->body.len && !att_body_grow(req, n, &nomem) && !nomem)
            return MHD_NO; /* out of memory */
        if (req->answered || req->body_over || req->body_nomem || nomem ||
            n > s->max_body - req->body.len) {
            /* already answered, or a chunked body over the limit or out of body memory: drain
             * a bounded amount, then answer (413 or 503) */
            if (!req->answered && !req->body_over && !req->body_nomem) {
                req->body_nomem = nomem;
                req->body_over = !nomem;
                att_body_release(req);
                free(req->body.p);
                memset(&req->body, 0, sizeof(req->body));
            }
            req->drained += n;
            return req->drained > 4 * s->max_body + 65536 ? MHD_NO : MHD_YES;
        }
        if (!att_buf_put(&req->body, upload, n))
            return MHD_NO; /* out of memory */
        return MHD_YES;
    }
    /* whole request in */
    if (req->answered) {
        /* answered from the headers; the body was dropped */
    } else if (req->body_over) {
        req->close_after = true;
        att_error_internal(req, 413, "RequestEntityTooLarge",
                           "The request body is larger than the limit of %zu bytes", s->max_body);
    } else if (req->body_nomem) {
        att_metric_inc(s->m_body_refused);
        att_http_add_header(req, "Retry-After", "1");
        req->close_after = true;
        att_error_internal(req, 503, "ServiceUnavailable",
                           "Request bodies being received fill the memory set aside for them "
                           "(%zu bytes, --max-body-memory); retry later",
                           s->max_body_memory);
    } else if (s->timeout_s && att_elapsed(&req->start) > s->timeout_s) {
        req->close_after = true;
        att_error_internal(req, 408, "RequestTimeout",
                           "The request body was not received within %u seconds", s->timeout_s);
    } else {
        req->route->fn(req, req->route->arg);
    }
    return att_queue(req);
}

/* The methods of RFC 9110 and PATCH; any other is "other" in metrics. */
static const char *att_method_label(const char *m)
{
    static const char *const known[] = {"GET",     "HEAD",    "POST",  "PUT",   "DELETE",
                                        "CONNECT", "OPTIONS", "TRACE", "PATCH", NULL};
    for (size_t i = 0; m && known[i]; i++)
        if (!strcmp(m, known[i]))
            return known[i];
    return "other";
}

/* An error code or attestation type as a label: letters, digits and '_', at most 64; else
 * "other". Both are set by attestd's own code from fixed sets, never copied from a request. */
static const char *att_word_label(const char *w)
{
    size_t n = 0;
    for (; w && w[n]; n++)
        if (n == 64 || !((w[n] >= 'a' && w[n] <= 'z') || (w[n] >= 'A' && w[n] <= 'Z') ||
                         (w[n] >= '0' && w[n] <= '9') || w[n] == '_'))
            return "other";
    return n ? w : "other";
}

static void att_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    att_http_server_t *s = cls;
    att_http_req_t *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    if (!req->begun) {
        /* ended before its headers were complete: the client went away, or libmicrohttpd
         * refused the head itself (it logs that) */
        att_req_free(req);
        return;
    }
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && !req->close_after)
        att_conn_idle(s, req->cn); /* else MHD closes the connection now */
    double secs = att_elapsed(&req->start);
    unsigned status = req->queued ? req->status : 0; /* 0: closed without an answer */
    const char *route = req->route_label ? req->route_label : "unmatched";
    char st[8];
    snprintf(st, sizeof(st), "%u", status < 1000 ? status : 0);
    /* Every label value from a bounded set: route patterns, known methods, our own statuses
     * and codes (the registry's series cap is the backstop). */
    att_metric_inc(s->m_requests, route, att_method_label(req->method), st);
    att_metric_observe(s->m_latency, secs, route);
    if (req->error_code)
        att_metric_inc(s->m_errors, att_word_label(req->error_code));
    if (req->att_type) {
        /* attestd's own error name (ATT_E_..., a fixed set) when the service gave one, so that
         * a tampered quote, an out-of-date TCB and bad base64 are told apart; else the MAA
         * code of an answer the HTTP layer gave (bad api-version, 413, ...) */
        const char *att_code = json_string_value(json_object_get(req->log_extra, "att_code"));
        const char *code = status >= 200 && status < 300 ? "OK"
                           : att_code                    ? att_code
                           : req->error_code             ? req->error_code
                                                         : "Unknown";
        att_metric_inc(s->m_outcomes, att_word_label(req->att_type), att_word_label(code),
                       req->error_code ? att_word_label(req->error_code) : "OK");
    }
    att_metric_gauge_add(s->m_inflight, -1);

    att_log_level_t lvl = status >= 500 || status == 0 ? ATT_LOG_WARN : ATT_LOG_INFO;
    if (req->route && (req->route->flags & ATT_HTTP_QUIET) && status < 400)
        lvl = ATT_LOG_DEBUG;
    if (att_log_enabled(lvl)) {
        char method[40];
        snprintf(method, sizeof(method), "%.32s%s", req->method ? req->method : "",
                 req->method && strlen(req->method) > 32 ? "..." : "");
        char path[ATT_HTTP_LOG_PATH_MAX + 4];
        snprintf(path, sizeof(path), "%.*s%s", ATT_HTTP_LOG_PATH_MAX, req->path ? req->path : "",
                 req->path && strlen(req->path) > ATT_HTTP_LOG_PATH_MAX ? "..." : "");
        json_t *o = json_pack(
            "{s:s, s:o*, s:o*, s:i, s:f, s:I, s:s}", "request_id", req->request_id, "method",
            att_log_jstr(method), "path", att_log_jstr(path), "status", (int)status, "duration_ms",
            secs * 1000.0, "bytes", (json_int_t)req->resp_len, "remote", req->remote);
        if (o && req->peer[0])
            json_object_set_new(o, "peer", json_string(req->peer));
        const char *crid = att_http_header(req, "x-ms-client-request-id");
        if (o && crid) {
            /* the client's id, bounded and printable ASCII only (anything else is '?') */
            char id[ATT_HTTP_LOG_CRID_MAX + 4];
            size_t k = 0;
            for (; crid[k] && k < ATT_HTTP_LOG_CRID_MAX; k++)
                id[k] = crid[k] >= 0x20 && crid[k] < 0x7f ? crid[k] : '?';
            if (crid[k])
                id[k++] = '.', id[k++] = '.', id[k++] = '.';
            id[k] = 0;
            json_object_set_new(o, "client_request_id", json_string(id));
        }
        if (o && req->error_code)
            json_object_set_new(o, "error_code", json_string(req->error_code));
        if (o && req->error_msg)
            json_object_set_new(o, "error_message", att_log_jstr(req->error_msg));
        if (o && req->att_type)
            json_object_set_new(o, "attestation_type", att_log_jstr(req->att_type));
        if (o && req->log_extra)
            json_object_update_missing(o, req->log_extra);
        if (o && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
            static const char *why[] = {"ok",       "error",      "timeout",
                                        "shutdown", "read_error", "client_abort"};
            json_object_set_new(o, "terminated",
                                json_string((unsigned)toe < 6 ? why[toe] : "unknown"));
        }
        att_log_json(lvl, "request", o);
        json_decref(o);
    }
    atomic_fetch_sub(&s->in_flight, 1);
    att_req_free(req);
}

static void att_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                            enum MHD_ConnectionNotificationCode toe)
{
    att_http_server_t *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        att_metric_gauge_add(s->m_conns, 1);
        att_conn_started(s, conn, socket_context);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        att_metric_gauge_add(s->m_conns, -1);
        att_conn_closed(s, socket_context);
    }
}

static void att_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void att_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    json_t *o = json_pack("{s:s}", "component", "libmicrohttpd");
    att_log_json(ATT_LOG_WARN, msg, o);
    json_decref(o);
}

/* ------------------------------------------------------------------------------------------ */
/* sockets and server */

att_http_opts_t att_http_opts_default(void)
{
    att_http_opts_t o = {
        .listen = "127.0.0.1:8080",
        .listen_fd = -1,
        .max_body = 1 << 20,
        .max_connections = 1024,
        .timeout_s = 30,
        .max_header = 16 << 10,
        .max_query_params = 64,
        .max_body_memory = 64 << 20,
        .stop_grace_ms = 10000,
        .linger_time_s = 30,
        .linger_timeout_s = 5,
        .linger_max = 64,
    };
    return o;
}

att_err_t att_http_split_hostport(const char *hp, char **host, uint16_t *port, att_diag_t *d)
{
    if (!hp || !*hp)
        return att_diag_set(d, ATT_E_ARG, "empty listen address (want HOST:PORT)");
    const char *colon, *hs = hp, *he;
    if (hp[0] == '[') {
        he = strchr(hp, ']');
        if (!he || he[1] != ':')
            return att_diag_set(d, ATT_E_ARG, "bad listen address '%s' (want [IPv6]:PORT)", hp);
        hs = hp + 1;
        colon = he + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon || memchr(hp, ':', (size_t)(colon - hp)))
            return att_diag_set(d, ATT_E_ARG,
                                "bad listen address '%s' (want HOST:PORT or [IPv6]:PORT)", hp);
        he = colon;
    }
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p > 65535 || colon[1] == '-' || colon[1] == '+')
        return att_diag_set(d, ATT_E_ARG, "bad port in listen address '%s' (0..65535)", hp);
    if (he == hs)
        return att_diag_set(d, ATT_E_ARG, "missing host in listen address '%s'", hp);
    *host = strndup(hs, (size_t)(he - hs));
    if (!*host)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    *port = (uint16_t)p;
    return ATT_OK;
}

att_err_t att_http_listen_socket(const char *hostport, int *fd, uint16_t *port, att_diag_t *d)
{
    char *host = NULL;
    uint16_t p;
    att_err_t e = att_http_split_hostport(hostport, &host, &p, d);
    if (e != ATT_OK)
        return e;
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", p);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, ps, &hints, &ai);
    if (gai) {
        e = att_diag_set(d, ATT_E_ARG, "cannot resolve listen host '%s': %s", host,
                         gai_strerror(gai));
        free(host);
        return e;
    }
    int s = -1, err = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (s < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (a->ai_family == AF_INET6)
            setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(s, a->ai_addr, a->ai_addrlen) == 0 && listen(s, ATT_HTTP_BACKLOG) == 0)
            break;
        err = errno;
        close(s);
        s = -1;
    }
    freeaddrinfo(ai);
    if (s < 0) {
        e = att_diag_set(d, ATT_E_IO, "cannot listen on %s: %s", hostport, strerror(err));
        free(host);
        return e;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(s, (struct sockaddr *)&ss, &sl);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    *fd = s;
    free(host);
    return ATT_OK;
}

/* libmicrohttpd's per-connection memory pool (MHD_OPTION_CONNECTION_MEMORY_LIMIT). It holds the
 * head as read (up to max_header is ours to judge), a record of about 56 bytes (0.9.75) per
 * header and query parameter, and later the answer's header lines. A pool of just max_header
 * runs out before a head of max_header bytes is in, and then libmicrohttpd answers (or, for
 * query parameters, hangs) itself; twice max_header plus a record per allowed query parameter
 * and 16 KiB for a hundred-odd headers and the answer lets attestd see every head up to
 * max_header in the usual shapes and answer 414/431 itself. Heads with many more, tiny
 * headers still exhaust it: libmicrohttpd then answers 431 at once and closes. The pool is
 * mmap'd above 32 KiB by libmicrohttpd, so only the pages a connection uses are resident. */
static size_t att_pool_size(size_t max_header, unsigned max_query_params)
{
    return 2 * max_header + 64 * (size_t)max_query_params + (16 << 10);
}

static unsigned att_threads(const att_http_opts_t *o)
{
    if (o->threads)
        return o->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

unsigned long att_http_fds_needed(const att_http_opts_t *o)
{
    /* connections up to libmicrohttpd's hard limit, the listening socket, an epoll fd and an
     * eventfd per worker, and a margin for stdio, the store, collateral and JWKS fetches */
    unsigned max = o->max_connections ? o->max_connections : 1024;
    unsigned linger = o->linger_time_s ? o->linger_max + 2 : 0; /* sockets and the wake pipe */
    return (unsigned long)att_hard_limit(max) + 1 + 2ul * (att_threads(o) + 1) + 64 + linger;
}

static void att_server_free(att_http_server_t *s)
{
    att_linger_stop(s);
    free(s->proxies);
    if (s->tls_key_pem) {
        explicit_bzero(s->tls_key_pem, s->tls_key_len);
        free(s->tls_key_pem);
    }
    free(s->tls_cert_pem);
    free(s->tls_priority);
    free(s->service_version);
    pthread_mutex_destroy(&s->conn_lock);
    free(s);
}

static void att_server_metrics(att_http_server_t *s)
{
    att_metrics_t *m = s->metrics;
    if (!m)
        return;
    const char *rms[] = {"route", "method", "status"};
    s->m_requests =
        att_metrics_counter(m, "attestd_http_requests_total",
                            "HTTP requests by route pattern, method and status", 3, rms);
    const char *r[] = {"route"};
    s->m_latency =
        att_metrics_histogram(m, "attestd_http_request_duration_seconds",
                              "Time from request headers to response sent, by route pattern", 1, r,
                              att_metrics_latency_buckets, att_metrics_latency_nbuckets);
    const char *c[] = {"code"};
    s->m_errors = att_metrics_counter(m, "attestd_http_errors_total",
                                      "Error answers by MAA error code", 1, c);
    const char *tc[] = {"type", "code", "maa_code"};
    s->m_outcomes = att_metrics_counter(m, "attestd_attest_outcomes_total",
                                        "Attestation requests by attestation type and outcome: "
                                        "OK or attestd's error name (ATT_E_..., docs/errors.md), "
                                        "and the MAA error code answered",
                                        3, tc);
    const char *lr[] = {"result"};
    s->m_linger = att_metrics_counter(m, "attestd_http_lingering_closes_total",
                                      "Connections answered before their body was read: "
                                      "lingered (read and discarded), or closed at once "
                                      "(--lingering-connections were lingering)",
                                      1, lr);
    s->m_inflight = att_metrics_gauge(m, "attestd_http_in_flight_requests",
                                      "Requests received and not yet answered", 0, NULL);
    s->m_conns =
        att_metrics_gauge(m, "attestd_http_open_connections", "Open HTTP connections", 0, NULL);
    s->m_shed = att_metrics_counter(m, "attestd_http_connections_shed_total",
                                    "Idle connections closed to make room for new ones "
                                    "(max_connections reached)",
                                    0, NULL);
    att_metric_add(s->m_shed, 0); /* rendered (as 0) before the first shed */
    att_metrics_gauge_fn(m, "attestd_http_body_memory_bytes",
                         "Memory held for request bodies being received (--max-body-memory)",
                         att_body_memory_gauge, s);
    s->m_body_refused = att_metrics_counter(m, "attestd_http_body_memory_refused_total",
                                            "Requests answered 503 because their body did not "
                                            "fit in --max-body-memory",
                                            0, NULL);
    att_metric_add(s->m_body_refused, 0);
    const char *v[] = {"version"};
    att_metric_t *bi = att_metrics_gauge(m, "attestd_build_info", "attestd version", 1, v);
    att_metric_set(bi, 1, ATTESTD_VERSION);
}

att_http_server_t *att_http_start(const att_http_opts_t *o, att_diag_t *d)
{
    int fd = o ? o->listen_fd : -1;
    if (!o || !o->router) {
        att_diag_set(d, ATT_E_ARG, "att_http_start: no router");
        goto fail_fd;
    }
    att_http_server_t *s = calloc(1, sizeof(*s));
    if (!s) {
        att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto fail_fd;
    }
    pthread_mutex_init(&s->conn_lock, NULL);
    s->shed_idle = o->shed_idle;
    s->router = o->router;
    s->metrics = o->metrics;
    s->max_body = o->max_body ? o->max_body : (1 << 20);
    s->max_header = o->max_header ? o->max_header : (16 << 10);
    if (s->max_header < 4096)
        s->max_header = 4096;
    s->max_query_params = o->max_query_params ? o->max_query_params : 64;
    s->max_body_memory = o->max_body_memory ? o->max_body_memory : ((size_t)64 << 20);
    if (s->max_body_memory < s->max_body + 1) {
        att_diag_set(d, ATT_E_ARG,
                     "--max-body-memory (%zu bytes) must be larger than --max-body (%zu bytes): "
                     "no request with a body of the largest size could be received",
                     s->max_body_memory, s->max_body);
        goto fail;
    }
    s->tls_priority =
        strdup(o->tls_priority && *o->tls_priority ? o->tls_priority : ATT_HTTP_TLS_PRIORITY);
    if (!s->tls_priority) {
        att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto fail;
    }
    s->max_connections = o->max_connections ? o->max_connections : 1024;
    s->timeout_s = o->timeout_s;
    s->linger_time_s = o->linger_time_s;
    s->linger_timeout_s = o->linger_timeout_s;
    s->linger_max = o->linger_max;
    if (o->n_trusted_proxies && !(s->proxies = calloc(o->n_trusted_proxies, sizeof(*s->proxies)))) {
        att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < o->n_trusted_proxies; i++)
        if (!att_cidr_parse(o->trusted_proxies[i], &s->proxies[s->nproxies++])) {
            att_diag_set(d, ATT_E_ARG, "invalid trusted proxy '%s' (want an address or CIDR)",
                         o->trusted_proxies[i]);
            goto fail;
        }
    s->stop_grace_ms = o->stop_grace_ms;
    s->stop_late = o->stop_late;
    s->stop_late_arg = o->stop_late_arg;
    s->service_version =
        strdup(o->service_version ? o->service_version : "attestd/" ATTESTD_VERSION);
    if (!s->service_version) {
        att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto fail;
    }
    if ((o->tls_cert && *o->tls_cert) != (o->tls_key && *o->tls_key)) {
        att_diag_set(d, ATT_E_ARG,
                     "TLS needs both a certificate (--tls-cert) and a key "
                     "(--tls-key)");
        goto fail;
    }
    s->tls = o->tls_cert && *o->tls_cert;
    if (s->tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        att_diag_set(d, ATT_E_UNSUPPORTED,
                     "TLS requested but this libmicrohttpd (%s) was built without TLS "
                     "(GnuTLS) support; run without --tls-cert/--tls-key behind a TLS proxy",
                     MHD_get_version());
        goto fail;
    }
    att_diag_t fd_diag;
    size_t cert_len;
    if (s->tls && att_read_file(o->tls_cert, 1u << 20, (uint8_t **)&s->tls_cert_pem, &cert_len,
                                &fd_diag) != ATT_OK) {
        att_diag_set(d, fd_diag.code, "TLS certificate (--tls-cert): %s", fd_diag.msg);
        goto fail;
    }
    if (s->tls && att_read_file(o->tls_key, 1u << 20, (uint8_t **)&s->tls_key_pem, &s->tls_key_len,
                                &fd_diag) != ATT_OK) {
        att_diag_set(d, fd_diag.code, "TLS key (--tls-key): %s", fd_diag.msg);
        goto fail;
    }
    if (fd < 0 && att_http_listen_socket(o->listen, &fd, &s->port, d) != ATT_OK)
        goto fail;
    if (o->listen_fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    att_server_metrics(s);
    if (att_linger_start(s, d) != ATT_OK) {
        close(fd);
        att_server_free(s);
        return NULL;
    }

    unsigned threads = att_threads(o);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
    if (s->tls)
        flags |= MHD_USE_TLS;
    /* libmicrohttpd's own hard limit sits above ours so that we can still answer 503, and
     * accept new connections while shed ones are closing (see "connections" above). */
    unsigned hard = att_hard_limit(s->max_connections);
    size_t mem = att_pool_size(s->max_header, s->max_query_params);
    struct MHD_OptionItem ops[16];
    size_t n = 0;
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)att_mhd_log, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, hard, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, s->timeout_s, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)mem, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)att_uri_log, s};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)att_completed, s};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)att_unescape, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)att_notify_conn, s};
    if (threads > 1)
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, threads, NULL};
    if (s->tls) {
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert_pem};
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key_pem};
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, s->tls_priority};
    }
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, att_access, s, MHD_OPTION_ARRAY, ops,
                              MHD_OPTION_END);
    if (!s->mhd) {
        att_diag_set(d, ATT_E_IO, "libmicrohttpd failed to start%s (see the preceding log line)",
                     s->tls ? " (check that the TLS certificate and key are PEM and match, and "
                              "that --tls-priority is a valid GnuTLS priority string)"
                            : "");
        close(fd);
        att_server_free(s);
        return NULL;
    }
    return s;
fail:
    att_server_free(s);
fail_fd:
    if (fd >= 0)
        close(fd);
    return NULL;
}

uint16_t att_http_port(const att_http_server_t *s)
{
    return s ? s->port : 0;
}
bool att_http_tls(const att_http_server_t *s)
{
    return s && s->tls;
}
unsigned att_http_in_flight(const att_http_server_t *s)
{
    return s ? atomic_load(&((att_http_server_t *)s)->in_flight) : 0;
}

void att_http_stop(att_http_server_t *s)
{
    if (!s)
        return;
    MHD_socket lfd = MHD_quiesce_daemon(s->mhd);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (atomic_load(&s->in_flight) && att_elapsed(&t0) * 1000 < s->stop_grace_ms) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    unsigned left = atomic_load(&s->in_flight);
    if (left) {
        att_log(ATT_LOG_WARN, "stopping with %u request(s) still in flight after %u ms", left,
                s->stop_grace_ms);
        if (s->stop_late != NULL)
            s->stop_late(s->stop_late_arg);
    }
    MHD_stop_daemon(s->mhd);
    att_linger_stop(s); /* after the daemon: its last CLOSED notifications may add sockets */
    att_shed_note_t note = {0};
    pthread_mutex_lock(&s->conn_lock);
    att_burst_locked(s, 0, true, &note);
    pthread_mutex_unlock(&s->conn_lock);
    att_shed_report(s, 0, &note);
    att_server_free(s);
}
