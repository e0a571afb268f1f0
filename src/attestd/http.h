/* http.h - attestd's HTTP layer on libmicrohttpd: routing, limits, MAA error form, request ids,
 * JSON access logs and request metrics. Handlers are plain functions run on a pool thread.
 *
 *   static void get_policy(att_http_req_t *req, void *arg) {
 *       const char *type = att_http_param(req, "type");         // from /policies/{type}
 *       if (!known(type))
 *           return att_http_error(req, 400, "InvalidParameter", "unknown type '%s'", type);
 *       att_http_json(req, 200, json_pack("{s:s}", "token", jws)); // steals the reference
 *   }
 *   att_http_router_t *r = att_http_router_new();
 *   att_http_route(r, "GET", "/policies/{type}", ATT_HTTP_API_VERSION, get_policy, svc);
 *   att_http_route_builtins(r, metrics, ready_fn, svc);          // /healthz /readyz /metrics
 *   att_http_opts_t o = att_http_opts_default();
 *   o.listen = "127.0.0.1:0"; o.router = r; o.metrics = metrics;
 *   att_http_server_t *s = att_http_start(&o, &d);
 *   printf("port %u\n", att_http_port(s));
 *   ...
 *   att_http_stop(s);                 // stop accepting, finish in-flight requests, return
 *   att_http_router_free(r);
 *
 * Every answer carries x-ms-request-id (a fresh UUID per request, also in the log line) and
 * x-ms-maa-service-version; error answers carry x-ms-error-code and {"error":{"code","message"}}.
 * The server answers on its own: 404 (no route), 405 (route exists for another method, with
 * Allow), 400 (api-version missing or unknown on routes that require it), 413 (body over
 * max_body; the connection lingers, see linger_time_s), a closed connection without an answer
 * (a body still arriving timeout_s after the headers; 408 when it completed late), 503 (more than
 * max_connections open; with shed_idle only when no idle connection is left to close), 500
 * (handler returned without answering). Not checked here: authentication, the content of bodies
 * (handlers parse them), and Content-Type of requests.
 *
 * Connections: a connection is idle before its request's headers are complete and between
 * keep-alive requests, busy from then until its answer is sent. With shed_idle (attestd sets it),
 * a connection that arrives or a request that starts with max_connections already open makes the
 * least recently active idle connections close (shutdown(); libmicrohttpd closes them), as nginx
 * does with keep-alive connections; busy ones are never closed early. Counted in
 * attestd_http_connections_shed_total; one log line when a burst of shedding starts, one when it
 * ends. Not checked: the source address (many idle connections from one client are not told
 * apart from many clients).
 */
#ifndef ATTESTD_HTTP_H
#define ATTESTD_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/types.h"
#include "metrics.h"

#define ATTESTD_VERSION "0.1.0"

/* ---- routes ---- */

typedef struct att_http_req att_http_req_t;
typedef struct att_http_router att_http_router_t;
typedef struct att_http_server att_http_server_t;

/* A handler answers exactly once with att_http_json/_text/_error (later answers are ignored).
 * It runs on a pool thread and may block (it holds that thread). */
typedef void (*att_http_handler_t)(att_http_req_t *req, void *arg);

/* Route flags: how the server checks api-version before calling the handler. */
enum {
    ATT_HTTP_API_VERSION = 1u << 0,          /* required and must be a known version */
    ATT_HTTP_API_VERSION_OPTIONAL = 1u << 1, /* may be absent; when present must be known */
    ATT_HTTP_QUIET = 1u << 2,                /* access log at debug level (health probes) */
};

att_http_router_t *att_http_router_new(void);
void att_http_router_free(att_http_router_t *r);
/* Register METHOD PATTERN. A pattern is '/'-separated segments; a segment is literal or holds
 * one `{name}` with an optional literal prefix/suffix ("{type}:reset"); `{name}` matches one
 * non-empty segment part without '/'. A trailing '/' on the request path is ignored ("/certs/"
 * matches "/certs"). When several patterns match, the one with most literal characters wins.
 * HEAD is routed as GET. Routes must all be added before att_http_start; the router is read-only
 * while a server uses it. Returns ATT_E_ARG for a malformed pattern, ATT_E_NOMEM. */
att_err_t att_http_route(att_http_router_t *r, const char *method, const char *pattern,
                         unsigned flags, att_http_handler_t fn, void *arg);
/* True when METHOD PATH would reach a handler (for start-up hints and tests). */
bool att_http_router_has(const att_http_router_t *r, const char *method, const char *path);
/* GET /healthz (200 {"status":"ok"}), GET /readyz (200 {"status":"ready"} when ready(arg) is
 * true or ready is NULL, else 503 {"status":"not ready"}), GET /metrics (text/plain 0.0.4). */
att_err_t att_http_route_builtins(att_http_router_t *r, att_metrics_t *m, bool (*ready)(void *arg),
                                  void *arg);
/* /readyz also says whether changes can be stored (writable(arg, why, n), arg as for ready):
 * {"status":"ready","writes":"ready"}, or, still 200 since attestation goes on,
 * {"status":"ready","writes":"unavailable","reason":why}. */
void att_http_route_writable(att_http_router_t *r,
                             bool (*writable)(void *arg, char *why, size_t n));
/* /readyz answers 503 {"status":"not ready","reason":why} when readiness(arg, why, n) is false
 * (arg as for ready; checked after ready). */
void att_http_route_readiness(att_http_router_t *r,
                              bool (*readiness)(void *arg, char *why, size_t n));

/* ---- server ---- */

/* TLS 1.2 and 1.3 only, ECDHE key exchange only (forward secrecy: no static RSA, no finite-field
 * DHE), AEAD ciphers only (AES-GCM, ChaCha20-Poly1305), the server's order of preference. */
#define ATT_HTTP_TLS_PRIORITY                                                                      \
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"               \
    "-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE"

typedef struct {
    const char *listen;           /* "HOST:PORT", "[v6]:PORT"; port 0 = ephemeral. */
    int listen_fd;                /* >= 0: an already bound, listening socket (listen ignored). */
    unsigned threads;             /* worker threads; 0 = number of CPUs */
    const char *tls_cert;         /* PEM file; with tls_key enables HTTPS */
    const char *tls_key;          /* PEM file (unencrypted) */
    size_t max_body;              /* bytes; over it: 413 */
    unsigned max_connections;     /* open connections; over it: 503 then close (see shed_idle) */
    bool shed_idle;               /* at max_connections, close the least recently active idle
                                   * connections to make room, 503 only when all are busy */
    unsigned timeout_s;           /* idle connection timeout and whole-body deadline: 408/close */
    size_t max_header;            /* request line + headers; over it: 431 (414 when the request
                                   * line alone is over) */
    unsigned max_query_params;    /* query parameters; over it: 414 */
    size_t max_body_memory;       /* bytes held by all bodies being received; a body that does
                                   * not fit: 503 with Retry-After (must exceed max_body) */
    const char *tls_priority;     /* GnuTLS priority string; NULL = ATT_HTTP_TLS_PRIORITY */
    unsigned stop_grace_ms;       /* att_http_stop waits this long for in-flight requests */
    void (*stop_late)(void *arg); /* called when requests are still in flight after the grace
                                   * period, before their threads are joined: give up long work
                                   * (NULL: none) */
    void *stop_late_arg;
    const char *service_version; /* x-ms-maa-service-version; NULL = "attestd/" ATTESTD_VERSION */
    att_http_router_t *router;   /* required */
    att_metrics_t *metrics;      /* optional: request counters and latency are recorded here */
    /* Lingering close (nginx's lingering_time / lingering_timeout): a connection answered
     * before its request body was read (413, 503) is not reset by close() with unread input;
     * after the answer, its sending side is shut down and what still arrives is read and
     * discarded until the client closes, nothing arrives for linger_timeout_s, or
     * linger_time_s have passed; then it is closed. At most linger_max connections linger
     * at once (past it one is closed at once). linger_time_s 0: none. */
    unsigned linger_time_s, linger_timeout_s, linger_max;
    /* Trusted proxies (att_cidr_parse'd): when the peer is one of them, the client is the
     * rightmost X-Forwarded-For address that is not (or the leftmost, when all are) for the
     * access log's "remote", att_http_remote_addr and what uses it. */
    const char *const *trusted_proxies;
    size_t n_trusted_proxies;
} att_http_opts_t;

/* An IPv4 or IPv6 network: "10.0.0.0/8", "192.0.2.7" (/32), "::1" (/128), "fd00::/8". */
typedef struct {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
} att_cidr_t;
/* false when s is not an address with an optional /prefix in range (host bits may be set: they
 * are ignored). */
bool att_cidr_parse(const char *s, att_cidr_t *out);
/* Is the numeric address text (IPv4, IPv6, IPv4-mapped IPv6) inside one of the n networks? */
bool att_cidr_match(const att_cidr_t *nets, size_t n, const char *addr);
/* The client address of a request whose peer (numeric, no port) sent X-Forwarded-For xff (NULL:
 * none): the peer itself unless it is in nets; else the rightmost xff entry not in nets (the
 * leftmost when all are); an entry that is not an address ends the walk (the one right of it,
 * or the peer, is the client). Writes into out (n bytes); returns out. */
const char *att_client_addr(const att_cidr_t *nets, size_t n, const char *peer, const char *xff,
                            char *out, size_t outn);

/* Defaults: listen 127.0.0.1:8080, listen_fd -1, threads 0, max_body 1 MiB, max_connections
 * 1024, shed_idle false (a strict 503 limit), timeout_s 30, max_header 16 KiB,
 * max_query_params 64, max_body_memory 64 MiB, stop_grace_ms 10000, linger_time_s 30,
 * linger_timeout_s 5, linger_max 64, no trusted proxies. */
att_http_opts_t att_http_opts_default(void);
/* File descriptors a server started with o may hold at once (connections up to libmicrohttpd's
 * hard limit of 1.25 x max_connections + 8, its own descriptors, a margin for the rest of the
 * process): what RLIMIT_NOFILE must allow. */
unsigned long att_http_fds_needed(const att_http_opts_t *o);

/* Bind and listen on "HOST:PORT" (IPv4, "[IPv6]" or a name resolved with getaddrinfo); the
 * socket is close-on-exec with SO_REUSEADDR. *port gets the bound port (useful with port 0). */
att_err_t att_http_listen_socket(const char *hostport, int *fd, uint16_t *port, att_diag_t *d);
/* Split "HOST:PORT" / "[v6]:PORT" into host (malloc'd, no brackets) and port. */
att_err_t att_http_split_hostport(const char *hostport, char **host, uint16_t *port, att_diag_t *d);

/* Start the daemon (threads running, accepting). NULL with d set on failure (bad address, port
 * in use, unreadable TLS files, libmicrohttpd without TLS support, ...). Takes ownership of
 * o->listen_fd. */
att_http_server_t *att_http_start(const att_http_opts_t *o, att_diag_t *d);
uint16_t att_http_port(const att_http_server_t *s);
bool att_http_tls(const att_http_server_t *s);
/* Requests currently being handled (headers received, answer not yet sent). */
unsigned att_http_in_flight(const att_http_server_t *s);
/* Graceful stop: close the listening socket, wait up to stop_grace_ms for in-flight requests,
 * then (stop_late) tell the rest to give up, close every connection and join the threads. NULL
 * is ignored. */
void att_http_stop(att_http_server_t *s);

/* ---- requests (valid until the handler's answer is sent) ---- */

const char *att_http_method(const att_http_req_t *req);        /* "GET", "POST", ... (HEAD as is) */
const char *att_http_path(const att_http_req_t *req);          /* decoded path, without query */
const char *att_http_route_pattern(const att_http_req_t *req); /* matched pattern */
const char *att_http_param(const att_http_req_t *req, const char *name);  /* {name}; or NULL */
const char *att_http_query(const att_http_req_t *req, const char *name);  /* ?name=; or NULL */
const char *att_http_header(const att_http_req_t *req, const char *name); /* case-insensitive */
/* The whole body (possibly empty, never over max_body); NUL-terminated for convenience. */
att_slice_t att_http_body(const att_http_req_t *req);
const char *att_http_request_id(const att_http_req_t *req);
const char *att_http_remote_addr(const att_http_req_t *req);
/* The api-version sent, when it is one of att_http_api_versions; else NULL. */
const char *att_http_api_version(const att_http_req_t *req);

/* Accepted api-version values, NULL-terminated. */
extern const char *const att_http_api_versions[];
/* Check api-version; when it is not acceptable answer 400 InvalidParameter (listing the accepted
 * versions) and return false. required=false accepts an absent version. */
bool att_http_check_api_version(att_http_req_t *req, bool required);

/* Per-request memory, freed when the request ends. NULL when out of memory. */
void *att_http_alloc(att_http_req_t *req, size_t n);
char *att_http_strdup(att_http_req_t *req, const char *s);

/* Label the request with its attestation type ("SgxEnclave", ...): when it ends the server counts
 * attestd_attest_outcomes_total{type, code, maa_code}: code "OK", or attestd's error name (the
 * "att_code" log field, ATT_E_...) when the handler gave one, else the error code sent; maa_code
 * the error code sent ("OK" on success). */
void att_http_set_attestation_type(att_http_req_t *req, const char *type);

/* ---- answers ---- */

/* Add a response header (copied). Call before answering. Returns false on bad name/value
 * (CR/LF) or out of memory. */
bool att_http_add_header(att_http_req_t *req, const char *name, const char *value);
/* Answer with JSON; steals `body` (may be NULL: "{}"). Content-Type application/json. */
void att_http_json(att_http_req_t *req, unsigned status, json_t *body);
/* Answer with bytes of the given content type (NULL: text/plain; charset=utf-8); copied. */
void att_http_text(att_http_req_t *req, unsigned status, const char *content_type, const char *body,
                   size_t len);
/* Answer {"error":{"code":code,"message":...}} with x-ms-error-code: code. */
void att_http_error(att_http_req_t *req, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Record the MAA error code (and message, may be NULL) of an answer whose JSON body the caller
 * builds itself: sets x-ms-error-code and feeds the log line and error metrics as
 * att_http_error does. Call before att_http_json. */
void att_http_set_error(att_http_req_t *req, const char *code, const char *message);
/* Add a string field to this request's log line (e.g. "att_error": "ATT_E_CERT_REVOKED").
 * Never pass bodies, keys or tokens. */
void att_http_log_field(att_http_req_t *req, const char *key, const char *value);
/* True once an answer has been given. */
bool att_http_answered(const att_http_req_t *req);

#endif
