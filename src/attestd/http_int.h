/* http_int.h - what the files of attestd's HTTP layer share (not a public header: handlers and
 * main.c use http.h). The layer, one job per file:
 *   http.c           the request life cycle on libmicrohttpd (access handler, completion: access
 *                    log and metrics) and the listener, server start and graceful stop;
 *   http_request.c   the request/response API of http.h: request parts, per-request memory,
 *                    answers, the MAA error form, api-version;
 *   http_router.c    route patterns and matching a request to its route (404/405);
 *   http_endpoints.c GET /healthz, /readyz, /metrics;
 *   http_conns.c     connection tracking and idle shedding;
 *   http_framing.c   request heads (framing and limits, checked before any body byte is read)
 *                    and the memory held by request bodies.
 *
 *   att_http_req_t *req = ...;                      // from http.c's access handler
 *   att_head_verdict_t v = {0};
 *   att_head_check(req, version, &v);               // http_framing.c
 *   if (v.status) att_error_internal(req, v.status, v.code, "%s", v.msg);   // http_request.c
 *
 * Threads: a request is touched by one thread at a time (libmicrohttpd's pool workers); the
 * server's connection tracking is under conn_lock, body_memory and in_flight are atomic.
 */
#ifndef ATTESTD_HTTP_INT_H
#define ATTESTD_HTTP_INT_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include "core/util.h"
#include "http.h"

#define ATT_HTTP_MAX_PARAMS   8
#define ATT_HTTP_MAX_SEGMENTS 16
#define ATT_HTTP_MAX_HEADERS  16
#define ATT_HTTP_LOG_PATH_MAX 256
#define ATT_HTTP_LOG_CRID_MAX 128 /* x-ms-client-request-id characters logged */
/* listen() backlog (the kernel caps it at net.core.somaxconn): a burst of thousands of
 * connections waits here while the workers accept, instead of having its SYNs dropped, which
 * would cost every client connecting meanwhile a retransmit (1 s). */
#define ATT_HTTP_BACKLOG 4096

/* ---- routes (http_router.c) ---- */

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
    bool (*writable)(void *, char *why, size_t n);  /* /readyz "writes"; NULL: not reported */
    bool (*readiness)(void *, char *why, size_t n); /* /readyz with a reason; NULL: ready */
};

/* ---- server, connections, requests ---- */

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
    bool linger;                  /* answered before its request body was read: at CLOSED, the
                                   * socket lingers (att_linger_add) */
} att_conn_t;

typedef struct att_linger att_linger_t; /* the lingering close thread (http_conns.c) */

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
    /* lingering close (http_conns.c); NULL: none */
    att_linger_t *linger;
    unsigned linger_time_s, linger_timeout_s, linger_max;
    att_metric_t *m_linger;
    /* trusted proxies (X-Forwarded-For) */
    att_cidr_t *proxies;
    size_t nproxies;
};

struct att_http_req {
    att_http_server_t *srv;
    struct MHD_Connection *conn;
    att_conn_t *cn; /* the connection's tracking entry; NULL if untracked */
    /* set by the URI callback (request line parsed, headers not yet read) */
    size_t target_len;   /* the request target as sent, query included */
    size_t query_params; /* its query parameters */
    bool query_cut;      /* over max_query_params: the query was hidden from libmicrohttpd */
    bool begun;          /* the access handler's first call has run */
    const char *method;  /* MHD-owned, valid for the request */
    char *path;
    const att_route_t *route;
    const char *route_label; /* for metrics: the matched pattern even on 405 */
    att_kv_t params[ATT_HTTP_MAX_PARAMS];
    size_t nparams;
    char request_id[37];
    char remote[INET6_ADDRSTRLEN + 8]; /* the client: the peer, or as a trusted proxy says */
    char peer[INET6_ADDRSTRLEN + 8];   /* the socket's peer when it differs from remote */
    struct timespec start;
    /* body */
    att_buf_t body;       /* the request body so far (max_body is checked before each append) */
    size_t body_reserved; /* bytes of srv->body_memory held for body (its capacity) */
    bool body_over;       /* chunked body exceeded max_body: drained, answered 413 */
    bool body_nomem;      /* chunked body did not fit in max_body_memory: drained, answered 503 */
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

/* What to log about shedding once conn_lock is released. */
typedef struct {
    bool started, ended;
    unsigned open, idle; /* at the start of a burst */
    uint64_t count;      /* the ended burst's */
    double secs;         /* the ended burst's length */
} att_shed_note_t;

/* The verdict on a request head (att_head_check). */
typedef struct {
    unsigned status; /* 0: the head is acceptable */
    const char *code;
    char msg[200];
} att_head_verdict_t;

/* ---- http_request.c ---- */

char *att_http_strndup(att_http_req_t *req, const char *s, size_t n);
/* Give back the body memory req holds (http_framing.c reserves it). */
void att_body_release(att_http_req_t *req);
void att_req_free(att_http_req_t *req);
/* A header name (a token) or value (no CR, LF or NUL) that may be sent. */
bool att_header_ok(const char *s, bool name);
/* Answer with body (malloc'd, taken over) of the given content type. */
void att_answer(att_http_req_t *req, unsigned status, const char *type, char *body, size_t len);
/* The MAA error form, for the layer's own answers. */
void att_error_internal(att_http_req_t *req, unsigned status, const char *code, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
/* v when it is one of att_http_api_versions, else NULL. */
const char *att_known_api_version(const char *v);

/* ---- http_router.c ---- */

/* Match req's method and path to a route and set its parameters; NULL when none (req has been
 * answered 404 or 405 then). */
const att_route_t *att_route_find(att_http_req_t *req);

/* ---- http_conns.c ---- */

/* MHD_OPTION_CONNECTION_LIMIT for a given max_connections. */
unsigned att_hard_limit(unsigned max_connections);
void att_burst_locked(att_http_server_t *s, unsigned n, bool force_end, att_shed_note_t *note);
void att_shed_report(att_http_server_t *s, unsigned n, const att_shed_note_t *note);
void att_conn_started(att_http_server_t *s, struct MHD_Connection *conn, void **ctx);
void att_conn_closed(att_http_server_t *s, void **ctx);
void att_conn_busy(att_http_server_t *s, att_conn_t *c);
void att_conn_idle(att_http_server_t *s, att_conn_t *c);
bool att_conns_over_limit(att_http_server_t *s);
/* Lingering close: start the thread (linger_time_s > 0), mark a connection to linger when it
 * closes, stop (closes every lingering socket; NULL-safe). */
att_err_t att_linger_start(att_http_server_t *s, att_diag_t *d);
void att_conn_linger(att_http_server_t *s, att_conn_t *c);
void att_linger_stop(att_http_server_t *s);

/* ---- http_framing.c ---- */

void att_head_check(att_http_req_t *req, const char *version, att_head_verdict_t *v);
bool att_body_reserve(att_http_req_t *req, size_t cap);
bool att_body_grow(att_http_req_t *req, size_t n, bool *nomem);
double att_body_memory_gauge(void *arg);

#endif
