/* http.c - attestd's HTTP layer on libmicrohttpd (see http.h).
 *
 * One att_http_req_t per request, created on the first access-handler call (headers received)
 * and freed in the request-completed callback, which also writes the access log line and the
 * request metrics. Handlers run on libmicrohttpd's pool threads once the whole body is in.
 */
#include "http.h"

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

#define ATT_HTTP_MAX_PARAMS   8
#define ATT_HTTP_MAX_SEGMENTS 16
#define ATT_HTTP_MAX_HEADERS  16
#define ATT_HTTP_LOG_PATH_MAX 256
/* listen() backlog (the kernel caps it at net.core.somaxconn): a burst of thousands of
 * connections waits here while the workers accept, instead of having its SYNs dropped, which
 * would cost every client connecting meanwhile a retransmit (1 s). */
#define ATT_HTTP_BACKLOG 4096

/* ------------------------------------------------------------------------------------------ */
/* router */

typedef struct {
    char *prefix; /* literal text (the whole segment when name is NULL) */
    char *name;   /* {name}, or NULL */
    char *suffix;
} att_seg_t;

typedef struct att_route {
    struct att_route *next;
    char *method;
    char *pattern;
    unsigned flags;
    att_http_handler_t fn;
    void *arg;
    size_t nseg;
    att_seg_t seg[ATT_HTTP_MAX_SEGMENTS];
    size_t literal; /* literal characters: the specificity score */
} att_route_t;

struct att_http_router {
    att_route_t *routes, **tail;
    bool (*ready)(void *); /* for GET /readyz */
    void *ready_arg;
};

att_http_router_t *att_http_router_new(void)
{
    att_http_router_t *r = calloc(1, sizeof(*r));
    if (r)
        r->tail = &r->routes;
    return r;
}

static void att_route_free(att_route_t *rt)
{
    for (size_t i = 0; i < rt->nseg; i++) {
        free(rt->seg[i].prefix);
        free(rt->seg[i].name);
        free(rt->seg[i].suffix);
    }
    free(rt->method);
    free(rt->pattern);
    free(rt);
}

void att_http_router_free(att_http_router_t *r)
{
    if (!r)
        return;
    att_route_t *rt = r->routes;
    while (rt) {
        att_route_t *n = rt->next;
        att_route_free(rt);
        rt = n;
    }
    free(r);
}

/* Parse one pattern segment [s, s+n) into seg. */
static att_err_t att_seg_parse(const char *s, size_t n, att_seg_t *seg)
{
    const char *open = memchr(s, '{', n);
    if (!open) {
        if (memchr(s, '}', n))
            return ATT_E_ARG;
        seg->prefix = strndup(s, n);
        return seg->prefix ? ATT_OK : ATT_E_NOMEM;
    }
    const char *close = memchr(open, '}', (size_t)(s + n - open));
    if (!close || close == open + 1)
        return ATT_E_ARG;
    const char *rest = close + 1;
    size_t restn = (size_t)(s + n - rest);
    if (memchr(open + 1, '{', (size_t)(close - open - 1)) || memchr(rest, '{', restn) ||
        memchr(rest, '}', restn) || memchr(s, '}', (size_t)(open - s)))
        return ATT_E_ARG;
    seg->prefix = strndup(s, (size_t)(open - s));
    seg->name = strndup(open + 1, (size_t)(close - open - 1));
    seg->suffix = strndup(rest, restn);
    return seg->prefix && seg->name && seg->suffix ? ATT_OK : ATT_E_NOMEM;
}

att_err_t att_http_route(att_http_router_t *r, const char *method, const char *pattern,
                         unsigned flags, att_http_handler_t fn, void *arg)
{
    if (!r || !method || !*method || !pattern || pattern[0] != '/' || !fn)
        return ATT_E_ARG;
    att_route_t *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return ATT_E_NOMEM;
    rt->method = strdup(method);
    rt->pattern = strdup(pattern);
    rt->flags = flags;
    rt->fn = fn;
    rt->arg = arg;
    att_err_t e = rt->method && rt->pattern ? ATT_OK : ATT_E_NOMEM;
    const char *p = pattern + 1;
    size_t plen = strlen(p);
    if (plen && p[plen - 1] == '/')
        plen--; /* "/certs/" registers as "/certs" */
    while (e == ATT_OK && plen) {
        const char *slash = memchr(p, '/', plen);
        size_t n = slash ? (size_t)(slash - p) : plen;
        if (!n || rt->nseg == ATT_HTTP_MAX_SEGMENTS) {
            e = ATT_E_ARG;
            break;
        }
        att_seg_t *sg = &rt->seg[rt->nseg++];
        e = att_seg_parse(p, n, sg);
        if (e == ATT_OK)
            rt->literal += strlen(sg->prefix) + (sg->suffix ? strlen(sg->suffix) : 0) + 1;
        p += n;
        plen -= n;
        if (plen) {
            p++;
            plen--;
        }
    }
    if (e != ATT_OK) {
        att_route_free(rt);
        return e;
    }
    *r->tail = rt;
    r->tail = &rt->next;
    return ATT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* requests */

typedef struct att_arena_block {
    struct att_arena_block *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
} att_arena_block_t;

typedef struct {
    char *name, *value;
} att_kv_t;

/* One per connection (its libmicrohttpd socket context), from NOTIFY_CONNECTION STARTED to
 * CLOSED. Fields are guarded by the server's conn_lock. */
typedef struct att_conn {
    struct att_conn *prev, *next; /* links in the idle list */
    int fd;                       /* MHD's socket, read at STARTED by its worker; -1 if unknown */
    bool idle;                    /* in the idle list: no request of it is being handled */
    bool shed;                    /* shut down by us; MHD will close it and notify CLOSED */
} att_conn_t;

/* A shedding burst: sheds less than ATT_SHED_QUIET_S apart. Logged when it starts and ends. */
typedef struct {
    bool active;
    struct timespec start, last; /* CLOCK_MONOTONIC: first and latest shed */
    uint64_t count;
} att_burst_t;

struct att_http_server {
    struct MHD_Daemon *mhd;
    att_http_router_t *router;
    att_metrics_t *metrics;
    att_metric_t *m_requests, *m_latency, *m_errors, *m_outcomes, *m_inflight, *m_conns;
    att_metric_t *m_body_refused;
    size_t max_body;
    size_t max_header;
    unsigned max_query_params;
    size_t max_body_memory;
    _Atomic size_t body_memory; /* bytes reserved by request bodies in flight */
    char *tls_priority;
    unsigned max_connections;
    unsigned timeout_s;
    unsigned stop_grace_ms;
    void (*stop_late)(void *arg);
    void *stop_late_arg;
    uint16_t port;
    bool tls;
    char *tls_cert_pem, *tls_key_pem;
    size_t tls_key_len;
    char *service_version;
    _Atomic unsigned in_flight;
    /* connection tracking and idle shedding (see "connections" below), under conn_lock */
    pthread_mutex_t conn_lock;
    bool shed_idle;
    att_conn_t *idle_head, *idle_tail; /* idle connections, least recently active first */
    unsigned conns_open;               /* tracked: NOTIFY_CONNECTION STARTED, not yet CLOSED */
    unsigned conns_shedding;           /* shut down by us, CLOSED not yet notified */
    unsigned conns_idle;               /* in the idle list */
    att_burst_t burst;
    att_metric_t *m_shed;
};

struct att_http_req {
    att_http_server_t *srv;
    struct MHD_Connection *conn;
    att_conn_t *cn; /* the connection's tracking entry; NULL if untracked */
    /* set by the URI callback (request line parsed, headers not yet read) */
    size_t target_len;     /* the request target as sent, query included */
    size_t query_params;   /* its query parameters */
    bool query_cut;        /* over max_query_params: the query was hidden from libmicrohttpd */
    bool begun;            /* the access handler's first call has run */
    const char *method; /* MHD-owned, valid for the request */
    char *path;
    const att_route_t *route;
    const char *route_label; /* for metrics: the matched pattern even on 405 */
    att_kv_t params[ATT_HTTP_MAX_PARAMS];
    size_t nparams;
    char request_id[37];
    char remote[INET6_ADDRSTRLEN + 8];
    struct timespec start;
    /* body */
    att_buf_t body; /* the request body so far (max_body is checked before each append) */
    size_t body_reserved; /* bytes of srv->body_memory held for body (its capacity) */
    bool body_over; /* chunked body exceeded max_body: drained, answered 413 */
    bool body_nomem; /* chunked body did not fit in max_body_memory: drained, answered 503 */
    size_t drained;
    /* answer */
    bool answered, queued;
    unsigned status;
    char *resp_type;
    char *resp_body;
    size_t resp_len;
    att_kv_t headers[ATT_HTTP_MAX_HEADERS];
    size_t nheaders;
    bool close_after;
    char *error_code, *error_msg;
    char *att_type;
    json_t *log_extra; /* fields added by handlers */
    const char *api_version;
    att_arena_block_t *arena;
};

const char *const att_http_api_versions[] = {"2020-10-01", "2022-08-01", "2023-04-01-preview",
                                             "2025-06-01", NULL};

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

static char *att_http_strndup(att_http_req_t *req, const char *s, size_t n)
{
    char *p = att_http_alloc(req, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static void att_body_release(att_http_req_t *req)
{
    if (req->body_reserved)
        atomic_fetch_sub(&req->srv->body_memory, req->body_reserved);
    req->body_reserved = 0;
}

static void att_req_free(att_http_req_t *req)
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

static bool att_header_ok(const char *s, bool name)
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
static void att_answer(att_http_req_t *req, unsigned status, const char *type, char *body,
                       size_t len)
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

static void att_error_internal(att_http_req_t *req, unsigned status, const char *code,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void att_error_internal(att_http_req_t *req, unsigned status, const char *code,
                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    att_verror(req, status, code, fmt, ap);
    va_end(ap);
}

static const char *att_known_api_version(const char *v)
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

/* ------------------------------------------------------------------------------------------ */
/* routing a request */

/* Split path into segments in-place (path is a writable copy). Returns false if too many. */
static bool att_split_path(char *path, char **segs, size_t *nseg)
{
    *nseg = 0;
    char *p = path + 1;
    size_t len = strlen(p);
    if (len && p[len - 1] == '/')
        p[--len] = 0;
    if (!len)
        return true;
    for (;;) {
        if (*nseg == ATT_HTTP_MAX_SEGMENTS)
            return false;
        segs[(*nseg)++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            return true;
        *slash = 0;
        p = slash + 1;
    }
}

/* Does rt match segs? Fill req params when req is not NULL. */
static bool att_route_match(const att_route_t *rt, char **segs, size_t nseg, att_http_req_t *req)
{
    if (rt->nseg != nseg)
        return false;
    size_t np = 0;
    for (size_t i = 0; i < nseg; i++) {
        const att_seg_t *sg = &rt->seg[i];
        const char *s = segs[i];
        if (!sg->name) {
            if (strcmp(s, sg->prefix))
                return false;
            continue;
        }
        size_t sl = strlen(s), pl = strlen(sg->prefix), xl = strlen(sg->suffix);
        if (sl <= pl + xl || strncmp(s, sg->prefix, pl) || strcmp(s + sl - xl, sg->suffix))
            return false;
        if (req && np < ATT_HTTP_MAX_PARAMS) {
            req->params[np].name = sg->name;
            req->params[np].value = att_http_strndup(req, s + pl, sl - pl - xl);
            np++;
        }
    }
    if (req)
        req->nparams = np;
    return true;
}

static bool att_method_is(const char *route_method, const char *method)
{
    if (!strcmp(route_method, method))
        return true;
    return !strcmp(method, "HEAD") && !strcmp(route_method, "GET");
}

bool att_http_router_has(const att_http_router_t *r, const char *method, const char *path)
{
    char copy[1024];
    char *segs[ATT_HTTP_MAX_SEGMENTS];
    size_t nseg;
    if (!r || !path || path[0] != '/' || strlen(path) >= sizeof(copy))
        return false;
    strcpy(copy, path);
    if (!att_split_path(copy, segs, &nseg))
        return false;
    for (const att_route_t *rt = r->routes; rt; rt = rt->next)
        if (att_method_is(rt->method, method) && att_route_match(rt, segs, nseg, NULL))
            return true;
    return false;
}

/* Find the route; on failure answer 404/405 and return NULL. */
static const att_route_t *att_route_find(att_http_req_t *req)
{
    char *copy = att_http_strdup(req, req->path);
    char *segs[ATT_HTTP_MAX_SEGMENTS];
    size_t nseg;
    if (!copy || req->path[0] != '/' || !att_split_path(copy, segs, &nseg)) {
        att_error_internal(req, 404, "NotFound", "No route for path '%.200s'", req->path);
        return NULL;
    }
    size_t best = 0;
    bool any = false;
    for (const att_route_t *rt = req->srv->router->routes; rt; rt = rt->next)
        if (att_route_match(rt, segs, nseg, NULL) && (!any || rt->literal > best)) {
            best = rt->literal;
            any = true;
        }
    if (!any) {
        att_error_internal(req, 404, "NotFound", "No route for path '%.200s'", req->path);
        return NULL;
    }
    char allow[128] = "";
    for (const att_route_t *rt = req->srv->router->routes; rt; rt = rt->next) {
        if (rt->literal != best || !att_route_match(rt, segs, nseg, NULL))
            continue;
        req->route_label = rt->pattern;
        if (att_method_is(rt->method, req->method)) {
            att_route_match(rt, segs, nseg, req);
            return rt;
        }
        if (strlen(allow) + strlen(rt->method) + 3 < sizeof(allow) && !strstr(allow, rt->method)) {
            if (*allow)
                strcat(allow, ", ");
            strcat(allow, rt->method);
        }
    }
    att_http_add_header(req, "Allow", allow);
    att_error_internal(req, 405, "MethodNotAllowed", "Method %.16s is not allowed on '%.200s'",
                       req->method, req->path);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* builtin routes */

static void att_h_healthz(att_http_req_t *req, void *arg)
{
    att_http_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void att_h_readyz(att_http_req_t *req, void *arg)
{
    const att_http_router_t *r = arg;
    if (!r->ready || r->ready(r->ready_arg))
        att_http_json(req, 200, json_pack("{s:s}", "status", "ready"));
    else
        att_http_json(req, 503, json_pack("{s:s}", "status", "not ready"));
}

static void att_h_metrics(att_http_req_t *req, void *arg)
{
    char *text = att_metrics_render(arg);
    if (!text)
        return att_http_error(req, 500, "InternalError", "out of memory");
    att_answer(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
}

att_err_t att_http_route_builtins(att_http_router_t *r, att_metrics_t *m, bool (*ready)(void *arg),
                                  void *arg)
{
    if (!r)
        return ATT_E_ARG;
    r->ready = ready;
    r->ready_arg = arg;
    att_err_t e = att_http_route(r, "GET", "/healthz", ATT_HTTP_QUIET, att_h_healthz, NULL);
    if (e == ATT_OK)
        e = att_http_route(r, "GET", "/readyz", ATT_HTTP_QUIET, att_h_readyz, r);
    if (e == ATT_OK && m)
        e = att_http_route(r, "GET", "/metrics", ATT_HTTP_QUIET, att_h_metrics, m);
    return e;
}

/* ------------------------------------------------------------------------------------------ */
/* connections: tracking and idle shedding
 *
 * Every connection gets an att_conn_t at NOTIFY_CONNECTION STARTED, freed at CLOSED. It is idle
 * from STARTED until the access handler's first call for a request (headers complete), and again
 * from that request's completion notification until the next one starts; only idle connections
 * sit in the idle list, in the order they became idle (the least recently active first). A busy
 * connection is never shed; its time is bounded by timeout_s (the body deadline) instead.
 *
 * With shed_idle, when more than max_connections are open (a connection arrives, or a request
 * starts), the least recently active idle connections are shut down until no more than
 * max_connections remain: shutdown(SHUT_RDWR), never close(), since the fd is libmicrohttpd's.
 * The worker that owns the connection sees EOF on its next epoll wake-up (the shutdown wakes it),
 * closes the socket and notifies CLOSED. Connections being shed no longer count against the
 * limit. When nothing is idle, the new request gets 503 as without shedding.
 *
 * Headroom: MHD_OPTION_CONNECTION_LIMIT (1.25 x max_connections + 8, att_hard_limit) sits above
 * this limit. It covers connections accepted while their victims are still closing and those
 * answered 503. libmicrohttpd splits it across pool workers (a worker at its share stops
 * accepting and the others accept), and the shares add up to at least max_connections + 8.
 * Shedding keeps the live connections at or under max_connections, so at least one worker can
 * accept as soon as the connections being shed are closed, which their workers do on the wake-up
 * the shutdown causes; meanwhile new connections wait in the listen backlog. This holds when one
 * worker holds most of the idle connections too: the victims are chosen across workers and shut
 * down from whichever worker accepted the newcomer.
 *
 * Threads: the callbacks run on every pool worker; conn_lock guards the list, the counters, the
 * burst and every att_conn_t. Another worker's connection is only touched through our own
 * att_conn_t (its fd), never through its MHD_Connection. The fd stays that connection's until
 * CLOSED: libmicrohttpd 0.9.75 notifies CLOSED before it closes the socket (the cleanup of
 * closed connections and the failed-setup path alike), and CLOSED unlinks the entry under the
 * same lock, so a shutdown() made under the lock cannot reach a reused descriptor.
 *
 * A connection whose socket holds input its worker has not read yet counts as just active and
 * is passed over (FIONREAD): under a flood of new connections, a client's request that has
 * arrived but waits for its worker is not cut. Not checked: input that arrives between that test
 * and the shutdown(); that request is cut as any request racing a server's close of an idle
 * keep-alive connection is (many clients retry it on a new connection).
 *
 * Without shed_idle the list is still kept but nothing is shed: max_connections is a strict
 * 503 limit. */

#define ATT_SHED_QUIET_S  10.0 /* a shedding burst ends after this long without a shed */
#define ATT_SHED_MAX_SKIP 32   /* idle connections with unread input passed over per shed */

/* MHD_OPTION_CONNECTION_LIMIT for a given max_connections. */
static unsigned att_hard_limit(unsigned max_connections)
{
    return max_connections + max_connections / 4 + 8;
}

static double att_ts_sub(const struct timespec *a, const struct timespec *b)
{
    return (double)(a->tv_sec - b->tv_sec) + (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

static void att_idle_push(att_http_server_t *s, att_conn_t *c)
{
    c->prev = s->idle_tail;
    c->next = NULL;
    if (s->idle_tail)
        s->idle_tail->next = c;
    else
        s->idle_head = c;
    s->idle_tail = c;
    c->idle = true;
    s->conns_idle++;
}

static void att_idle_unlink(att_http_server_t *s, att_conn_t *c)
{
    if (!c->idle)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->idle_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        s->idle_tail = c->prev;
    c->prev = c->next = NULL;
    c->idle = false;
    s->conns_idle--;
}

/* Connections that count against max_connections: those being shed are on their way out. */
static unsigned att_conns_live(const att_http_server_t *s)
{
    return s->conns_open - s->conns_shedding;
}

/* Bytes have arrived on the socket that its worker has not read yet: the client has just sent
 * something (most often a request that is about to start), so it is active, not idle. */
static bool att_fd_has_input(int fd)
{
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* Shut down the least recently active idle connections other than `keep` until no more than
 * max_connections are live. One with unread input is moved to the recent end instead, at most
 * ATT_SHED_MAX_SKIP times per call (the worker reads input promptly, so this cannot hold a
 * connection for long; past the bound the oldest goes anyway). Returns how many were shut down.
 * Caller holds conn_lock. */
static unsigned att_shed_locked(att_http_server_t *s, const att_conn_t *keep)
{
    unsigned n = 0, skipped = 0;
    while (s->shed_idle && att_conns_live(s) > s->max_connections) {
        att_conn_t *c = s->idle_head;
        if (!c || c == keep)
            break; /* nothing idle but the newcomer: its request will get 503 */
        if (skipped < ATT_SHED_MAX_SKIP && att_fd_has_input(c->fd)) {
            att_idle_unlink(s, c);
            att_idle_push(s, c);
            skipped++;
            continue;
        }
        att_idle_unlink(s, c);
        c->shed = true;
        s->conns_shedding++;
        /* An error (ENOTCONN: the peer is gone) changes nothing: MHD closes it either way. */
        shutdown(c->fd, SHUT_RDWR);
        n++;
    }
    return n;
}

/* What to log about shedding once conn_lock is released. */
typedef struct {
    bool started, ended;
    unsigned open, idle;  /* at the start of a burst */
    uint64_t count;       /* the ended burst's */
    double secs;          /* the ended burst's length */
} att_shed_note_t;

/* Burst bookkeeping after an event that shed n connections: a burst that has been quiet for
 * ATT_SHED_QUIET_S ends (noticed at the next connection event, or at stop), a shed outside a
 * burst starts one. Caller holds conn_lock. */
static void att_burst_locked(att_http_server_t *s, unsigned n, bool force_end, att_shed_note_t *note)
{
    att_burst_t *b = &s->burst;
    if (!n && !b->active)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (b->active && (force_end || att_ts_sub(&now, &b->last) >= ATT_SHED_QUIET_S)) {
        note->ended = true;
        note->count = b->count;
        note->secs = att_ts_sub(&b->last, &b->start);
        b->active = false;
    }
    if (!n)
        return;
    if (!b->active) {
        b->active = true;
        b->start = now;
        b->count = 0;
        note->started = true;
        note->open = s->conns_open;
        note->idle = s->conns_idle + n;
    }
    b->count += n;
    b->last = now;
}

/* Count n shed connections and write the burst lines (conn_lock released). */
static void att_shed_report(att_http_server_t *s, unsigned n, const att_shed_note_t *note)
{
    if (n)
        att_metric_add(s->m_shed, n);
    if (note->ended) {
        json_t *o = json_pack("{s:I, s:f, s:i}", "connections_shed", (json_int_t)note->count,
                              "burst_seconds", note->secs, "max_connections",
                              (int)s->max_connections);
        att_log_json(ATT_LOG_WARN, "idle connection shedding ended", o);
        json_decref(o);
    }
    if (note->started) {
        json_t *o = json_pack("{s:i, s:i, s:i}", "open_connections", (int)note->open,
                              "idle_connections", (int)note->idle, "max_connections",
                              (int)s->max_connections);
        att_log_json(ATT_LOG_WARN,
                     "connection limit reached: closing the least recently active idle "
                     "connections",
                     o);
        json_decref(o);
    }
}

static void att_conn_started(att_http_server_t *s, struct MHD_Connection *conn, void **ctx)
{
    att_conn_t *c = calloc(1, sizeof(*c));
    *ctx = c;
    if (!c)
        return; /* out of memory: this connection is neither counted nor shed */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    c->fd = ci && ci->connect_fd != MHD_INVALID_SOCKET ? ci->connect_fd : -1;
    att_shed_note_t note = {0};
    pthread_mutex_lock(&s->conn_lock);
    s->conns_open++;
    if (c->fd >= 0)
        att_idle_push(s, c);
    unsigned n = att_shed_locked(s, c);
    att_burst_locked(s, n, false, &note);
    pthread_mutex_unlock(&s->conn_lock);
    att_shed_report(s, n, &note);
}

static void att_conn_closed(att_http_server_t *s, void **ctx)
{
    att_conn_t *c = *ctx;
    if (!c)
        return;
    *ctx = NULL;
    att_shed_note_t note = {0};
    pthread_mutex_lock(&s->conn_lock);
    att_idle_unlink(s, c);
    if (c->shed)
        s->conns_shedding--;
    s->conns_open--;
    att_burst_locked(s, 0, false, &note);
    pthread_mutex_unlock(&s->conn_lock);
    free(c);
    att_shed_report(s, 0, &note);
}

/* The access handler's first call for a request: busy until the request's completion. */
static void att_conn_busy(att_http_server_t *s, att_conn_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&s->conn_lock);
    att_idle_unlink(s, c);
    pthread_mutex_unlock(&s->conn_lock);
}

/* A request completed and the connection stays open for the next one: idle again, now the most
 * recently active. Connections already shed or without a known fd stay out of the list. */
static void att_conn_idle(att_http_server_t *s, att_conn_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&s->conn_lock);
    if (!c->shed && !c->idle && c->fd >= 0)
        att_idle_push(s, c);
    pthread_mutex_unlock(&s->conn_lock);
}

/* For a request that starts: true when more than max_connections are open even after shedding
 * idle ones (then it gets 503). */
static bool att_conns_over_limit(att_http_server_t *s)
{
    att_shed_note_t note = {0};
    pthread_mutex_lock(&s->conn_lock);
    unsigned n = att_shed_locked(s, NULL);
    bool over = att_conns_live(s) > s->max_connections;
    att_burst_locked(s, n, false, &note);
    pthread_mutex_unlock(&s->conn_lock);
    att_shed_report(s, n, &note);
    return over;
}

/* ------------------------------------------------------------------------------------------ */
/* request heads: framing and limits checked before any body byte is read
 *
 * libmicrohttpd 0.9.75 is lenient where a proxy in front of attestd may not be, and a request
 * the two frame differently can smuggle a second request past the proxy. So on the access
 * handler's first call (headers parsed, body not yet read) the head is checked against RFC 9110
 * and 9112, and one that fails is refused with an MAA error and Connection: close, without
 * reading its body:
 *   - the method is a token; HTTP/1.1 has exactly one Host, HTTP/1.0 at most one;
 *   - a header name is a token (so "Name : value", whitespace before the colon, is refused);
 *     a value has no control characters but HTAB;
 *   - no obs-fold (a header line continued on the next one). libmicrohttpd 0.9.75 joins such a
 *     line onto the *name* of the header before it and moves that name elsewhere in its memory
 *     pool; it otherwise parses each line in place, name NUL (the colon) OWS value. A header
 *     whose name and value are not laid out that way was folded (att_head_layout_ok);
 *   - at most one Content-Length (identical duplicates are refused too: RFC 9110 allows either,
 *     and a proxy that keeps one copy and one that joins them disagree); at most one
 *     Transfer-Encoding, only in HTTP/1.1, only "chunked" (anything else 501), never with
 *     Content-Length (RFC 9112 6.3: such a message must not be kept open; attestd refuses it);
 *   - request line + headers within max_header (431; 414 when the request line alone is over),
 *     and at most max_query_params query parameters (414).
 * Not checked here: what libmicrohttpd refuses before attestd sees the request (a malformed
 * Content-Length value, a line without a colon, an unknown HTTP version, a head too large for
 * its memory pool: its own answers, see att_http_start), bare LF line ends (RFC 9112 2.2 lets a
 * server accept them). */

typedef struct {
    unsigned status; /* 0: the head is acceptable */
    const char *code;
    char msg[200];
} att_head_verdict_t;

static bool att_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool att_token(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!att_tchar((unsigned char)*s))
            return false;
    return true;
}

/* A field value: visible characters, SP, HTAB and obs-text (bytes >= 0x80). */
static bool att_field_value_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

/* The header was parsed in place from one line: key, the colon (now NUL), OWS, value (see
 * above). Reads only the bytes between the key's end and the value, after checking that they
 * lie between the two (both are in one libmicrohttpd pool) and are few. */
static bool att_head_layout_ok(const char *key, const char *value, size_t max_header)
{
    if (!key || !value)
        return false;
    const char *kend = key + strlen(key);
    if (value <= kend || (size_t)(value - kend) > max_header)
        return false;
    for (const char *p = kend + 1; p < value; p++)
        if (*p != ' ' && *p != '\t')
            return false;
    return true;
}

typedef struct {
    att_head_verdict_t *v;
    size_t max_header;
    size_t bytes;      /* header lines as sent: name: value CRLF */
    unsigned n_cl, n_te, n_host;
    const char *te;
} att_head_scan_t;

static void att_verdict(att_head_verdict_t *v, unsigned status, const char *code, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
static void att_verdict(att_head_verdict_t *v, unsigned status, const char *code, const char *fmt,
                        ...)
{
    if (v->status)
        return; /* the first problem found is the one reported */
    v->status = status;
    v->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->msg, sizeof(v->msg), fmt, ap);
    va_end(ap);
}

static enum MHD_Result att_head_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    att_head_scan_t *h = cls;
    size_t kl = key ? strlen(key) : 0, vl = value ? strlen(value) : 0;
    h->bytes += kl + vl + 4;
    if (!att_head_layout_ok(key, value, h->max_header))
        att_verdict(h->v, 400, "BadRequest",
                    "Header lines continued on the next line (obs-fold) are not accepted");
    else if (!att_token(key))
        att_verdict(h->v, 400, "BadRequest",
                    "Header name '%.40s' is not a token (whitespace before the colon?)", key);
    else if (!att_field_value_ok(value))
        att_verdict(h->v, 400, "BadRequest",
                    "The value of header '%.40s' holds control characters", key);
    if (!key)
        return MHD_YES;
    if (!strcasecmp(key, "Content-Length"))
        h->n_cl++;
    else if (!strcasecmp(key, "Transfer-Encoding")) {
        h->n_te++;
        h->te = value;
    } else if (!strcasecmp(key, "Host"))
        h->n_host++;
    return MHD_YES;
}

/* "chunked", any case, with optional trailing white space (libmicrohttpd drops the leading). */
static bool att_te_chunked(const char *te)
{
    size_t n = strlen(te);
    while (n && (te[n - 1] == ' ' || te[n - 1] == '\t'))
        n--;
    return n == 7 && !strncasecmp(te, "chunked", 7);
}

/* Check a request head (see above); v->status stays 0 when it is acceptable. */
static void att_head_check(att_http_req_t *req, const char *version, att_head_verdict_t *v)
{
    att_http_server_t *s = req->srv;
    memset(v, 0, sizeof(*v));
    att_head_scan_t h = {.v = v, .max_header = s->max_header};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, att_head_header, &h);
    bool v11 = version && !strcmp(version, "HTTP/1.1");
    size_t line = strlen(req->method) + req->target_len + (version ? strlen(version) : 0) + 4;
    if (line > s->max_header)
        att_verdict(v, 414, "RequestUriTooLong",
                    "The request line is %zu bytes; the limit is %zu (--max-header)", line,
                    s->max_header);
    if (req->query_cut)
        att_verdict(v, 414, "RequestUriTooLong",
                    "The query has %zu parameters; the limit is %u (--max-query-params)",
                    req->query_params, s->max_query_params);
    if (line + h.bytes + 2 > s->max_header)
        att_verdict(v, 431, "RequestHeaderFieldsTooLarge",
                    "The request line and headers are %zu bytes; the limit is %zu (--max-header)",
                    line + h.bytes + 2, s->max_header);
    if (!att_token(req->method))
        att_verdict(v, 400, "BadRequest", "The request method is not a token");
    if (v11 ? h.n_host != 1 : h.n_host > 1)
        att_verdict(v, 400, "BadRequest",
                    h.n_host ? "The request has %u Host headers; it must have one"
                             : "An HTTP/1.1 request must have a Host header (it has %u)",
                    h.n_host);
    if (h.n_cl > 1)
        att_verdict(v, 400, "BadRequest",
                    "Content-Length appears %u times; a request must have at most one", h.n_cl);
    if (h.n_te && h.n_cl)
        att_verdict(v, 400, "BadRequest",
                    "A request must not have both Content-Length and Transfer-Encoding");
    if (h.n_te > 1)
        att_verdict(v, 400, "BadRequest",
                    "Transfer-Encoding appears %u times; a request must have at most one",
                    h.n_te);
    if (h.n_te && !v11)
        att_verdict(v, 400, "BadRequest", "Transfer-Encoding is not allowed in %.16s requests",
                    version ? version : "HTTP/1.0");
    if (h.n_te == 1 && !att_te_chunked(h.te))
        att_verdict(v, 501, "NotImplemented",
                    "Transfer-Encoding '%.40s' is not supported; only 'chunked' is", h.te);
}

/* ------------------------------------------------------------------------------------------ */
/* memory held by request bodies
 *
 * Every body being received holds its buffer's capacity against max_body_memory (all requests
 * together): the whole Content-Length when the request starts (the buffer is allocated at that
 * size once), and a chunked body as its buffer grows (doubling, at most to max_body). A request
 * whose body would not fit gets 503 ServiceUnavailable with Retry-After: 1: at once when its
 * Content-Length does not fit, after reading and dropping the rest (bounded as for 413) when a
 * chunked body stops fitting. The reservation is returned when the request ends. */

/* Reserve what it takes for req's body buffer to hold `cap` bytes. False when that would take
 * the server over max_body_memory (nothing is reserved then). */
static bool att_body_reserve(att_http_req_t *req, size_t cap)
{
    att_http_server_t *s = req->srv;
    if (cap <= req->body_reserved)
        return true;
    size_t add = cap - req->body_reserved;
    size_t cur = atomic_load(&s->body_memory);
    do {
        if (add > s->max_body_memory || cur > s->max_body_memory - add)
            return false;
    } while (!atomic_compare_exchange_weak(&s->body_memory, &cur, cur + add));
    req->body_reserved = cap;
    return true;
}

/* Grow req's body buffer to take n more bytes within the reservation. False when out of the
 * server's body memory (*nomem set) or out of memory. */
static bool att_body_grow(att_http_req_t *req, size_t n, bool *nomem)
{
    att_buf_t *b = &req->body;
    size_t need = b->len + n + 1;
    *nomem = false;
    if (b->p && need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > req->srv->max_body + 1 && need <= req->srv->max_body + 1)
        cap = req->srv->max_body + 1;
    if (!att_body_reserve(req, cap)) {
        *nomem = true;
        return false;
    }
    uint8_t *np = realloc(b->p, cap);
    if (!np)
        return false;
    b->p = np;
    b->cap = cap;
    return true;
}

static double att_body_memory_gauge(void *arg)
{
    att_http_server_t *s = arg;
    return (double)atomic_load(&s->body_memory);
}

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

static void att_remote(struct MHD_Connection *c, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = 0;
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
        att_remote(conn, req->remote, sizeof(req->remote));
        req->path = att_http_strdup(req, url ? url : "/");
        atomic_fetch_add(&s->in_flight, 1);
        att_metric_gauge_add(s->m_inflight, 1);
        if (!req->path)
            return MHD_NO;
        if (!att_req_begin(req, version))
            return MHD_YES;
        /* Answered from the headers. Over a limit: answer now and close. Otherwise (404, 405,
         * 400) read and drop a body first, so that the client is not reset mid-upload. */
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

/* An error code or attestation type as a label: letters and digits, at most 64; else "other".
 * Both are set by attestd's own code from fixed sets, never copied from a request. */
static const char *att_word_label(const char *w)
{
    size_t n = 0;
    for (; w && w[n]; n++)
        if (n == 64 || !((w[n] >= 'a' && w[n] <= 'z') || (w[n] >= 'A' && w[n] <= 'Z') ||
                         (w[n] >= '0' && w[n] <= '9')))
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
    if (req->att_type)
        att_metric_inc(s->m_outcomes, att_word_label(req->att_type),
                       req->error_code ? att_word_label(req->error_code)
                                       : (status >= 200 && status < 300 ? "OK" : "Unknown"));
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
        json_t *o = json_pack("{s:s, s:o*, s:o*, s:i, s:f, s:I, s:s}", "request_id",
                              req->request_id, "method", att_log_jstr(method), "path",
                              att_log_jstr(path), "status", (int)status, "duration_ms", secs * 1000.0,
                              "bytes", (json_int_t)req->resp_len, "remote", req->remote);
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
    return (unsigned long)att_hard_limit(max) + 1 + 2ul * (att_threads(o) + 1) + 64;
}

static void att_server_free(att_http_server_t *s)
{
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
    const char *tc[] = {"type", "code"};
    s->m_outcomes = att_metrics_counter(
        m, "attestd_attest_outcomes_total",
        "Attestation requests by attestation type and outcome (OK or the error code)", 2, tc);
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
    s->tls_priority = strdup(o->tls_priority && *o->tls_priority ? o->tls_priority
                                                                  : ATT_HTTP_TLS_PRIORITY);
    if (!s->tls_priority) {
        att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto fail;
    }
    s->max_connections = o->max_connections ? o->max_connections : 1024;
    s->timeout_s = o->timeout_s;
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
    att_shed_note_t note = {0};
    pthread_mutex_lock(&s->conn_lock);
    att_burst_locked(s, 0, true, &note);
    pthread_mutex_unlock(&s->conn_lock);
    att_shed_report(s, 0, &note);
    att_server_free(s);
}
