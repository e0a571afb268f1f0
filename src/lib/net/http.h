/* net/http.h - the project's one HTTP client (libcurl): every GET (and the client's POSTs) goes
 * through att_net_request, so all of them follow one set of TLS, redirect, deadline and size
 * rules. Internal to libattest (not installed); attestd's collateral source reaches it through
 * the library's fetchers.
 *
 *   att_net_req_t rq = {.url = "https://pcs.example/x", .max_redirects = 3,
 *                       .deadline_ms = att_net_mono_ms() + 10000, .max_body = 4 << 20};
 *   att_net_resp_t rs;
 *   if (att_net_request(NULL, &rq, &rs, &d) == ATT_OK && rs.status == 200)
 *       use(rs.body, rs.len);
 *   att_net_resp_clear(&rs);
 *
 * The rules, for every request:
 * - one curl_global_init per process (pthread_once), TLS peer and host verification always on
 *   (rq.ca_file replaces the system CA store, for tests);
 * - https URLs only, unless rq.allow_http; an https URL is fetched over https only;
 * - libcurl follows no redirect itself: a GET follows at most rq.max_redirects redirects whose
 *   target has the origin (scheme, host and port, by libcurl's URL parser) of rq.url, so never
 *   https to http and never another host; any other redirect comes back as the answer with
 *   rs.location and rs.redirect_refused set, nothing sent to its target;
 * - one deadline (rq.deadline_ms on att_net_mono_ms()) for the request and every redirect it
 *   follows; a redirect is not sent once it has passed;
 * - at most rq.max_body bytes of body (Content-Length checked before reading, and the count);
 * - captured response headers and their values bounded (rq.max_header).
 * Any HTTP status is ATT_OK with rs.status set: the caller words what a status means. A request
 * that got no full answer is ATT_E_FETCH ("GET <url>: <why>") with rs.fail saying which rule or
 * failure it was, so that callers can word it their own way. Not done here: logging (the caller
 * decides what of an upstream answer may be shown; att_net_sanitize makes text fit for a log).
 */
#ifndef ATT_NET_HTTP_H
#define ATT_NET_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/types.h"

#define ATT_NET_DEF_TIMEOUT_MS 10000       /* deadline_ms 0: this long from the call */
#define ATT_NET_DEF_MAX_BODY   (4u << 20)  /* max_body 0 */
#define ATT_NET_DEF_MAX_HEADER (64u << 10) /* max_header 0: per captured header value */
#define ATT_NET_ERR_LEN        256         /* libcurl's CURL_ERROR_SIZE */

typedef struct {
    const char *method;         /* "GET" (NULL), "POST" or "PUT" (with body) */
    const char *url;            /* absolute https:// (or http:// with allow_http) URL */
    const char *const *headers; /* extra request headers, "Name: value", NULL-terminated */
    const char *body;           /* POST body (body_len bytes) */
    size_t body_len;
    const char *basic_user, *basic_pass; /* HTTP Basic credentials, or NULL */
    bool allow_http;                     /* http:// URLs too (tests, loopback PCCS) */
    int max_redirects;                   /* same-origin redirects a GET follows; 0: none */
    size_t max_url;                      /* longest redirect target followed; 0: no bound */
    int64_t deadline_ms;                 /* att_net_mono_ms() by which all is done; 0: +10 s */
    long connect_timeout_ms;             /* per connection; 0: up to the deadline */
    size_t max_body;                     /* 0: ATT_NET_DEF_MAX_BODY */
    const char *const *capture;          /* response header names to keep (the first one present) */
    size_t max_header;                   /* longest captured value; 0: ATT_NET_DEF_MAX_HEADER */
    const char *ca_file;      /* PEM CA bundle instead of the system's; NULL: the system's */
    const atomic_bool *abort; /* optional: true stops the transfer (ATT_NET_TRANSPORT) */
    const char *user_agent;   /* NULL: "attest" */
} att_net_req_t;

/* Why a request got no full answer. */
typedef enum {
    ATT_NET_OK = 0,
    ATT_NET_BAD_URL,   /* not an absolute URL of an allowed scheme */
    ATT_NET_NOT_SENT,  /* the deadline had passed before (a redirect's) request was sent */
    ATT_NET_TIMEOUT,   /* the deadline passed during a request */
    ATT_NET_TOO_LARGE, /* the body is over max_body */
    ATT_NET_TRANSPORT, /* connection, TLS, protocol (rs.error says what) or aborted */
    ATT_NET_NOMEM,
} att_net_fail_t;

/* Why a redirect was not followed. */
typedef enum {
    ATT_NET_REDIR_NONE = 0,
    ATT_NET_REDIR_NOT_ALLOWED, /* max_redirects 0, or not a GET */
    ATT_NET_REDIR_DOWNGRADE,   /* https to anything else */
    ATT_NET_REDIR_ORIGIN,      /* another origin, or not a usable URL */
    ATT_NET_REDIR_TOO_MANY,    /* more than max_redirects (or a target over max_url) */
} att_net_redir_t;

typedef struct {
    att_net_fail_t fail;
    long status;   /* of the last answer */
    uint8_t *body; /* malloc'd, NUL-terminated ("" for an empty answer) */
    size_t len;
    char *url;                /* the URL that gave the last answer (rq.url or a redirect target) */
    char *header;             /* the raw value of the first rq.capture header present, or NULL */
    const char *header_name;  /* which one (an element of rq.capture) */
    bool header_over;         /* a captured header was longer than max_header (not kept) */
    int64_t retry_after;      /* Retry-After of the last answer in seconds (an HTTP-date is made
                               * relative to the answer's Date header); -1: none, or not
                               * understood (a date without a Date header) */
    char *location;           /* a 3xx not followed: its target, resolved (NULL: no Location) */
    att_net_redir_t redirect; /* why it was not followed */
    const char *redirect_refused; /* the same in words (static text) */
    unsigned requests;            /* requests sent (redirects included) */
    char error[ATT_NET_ERR_LEN];  /* libcurl's words for a failed transfer */
} att_net_resp_t;

/* A connection kept across requests (keep-alive): the GETs of one collateral set. */
typedef struct att_net_conn att_net_conn_t;
att_err_t att_net_conn_new(att_net_conn_t **out, att_diag_t *d);
void att_net_conn_free(att_net_conn_t *c);

/* One request (see the rules above), on conn or, when conn is NULL, on a connection of its own.
 * rs is always initialised; clear it with att_net_resp_clear. */
att_err_t att_net_request(att_net_conn_t *conn, const att_net_req_t *rq, att_net_resp_t *rs,
                          att_diag_t *d);
void att_net_resp_clear(att_net_resp_t *rs);

/* curl_global_init, once per process (every att_net_* function calls it). */
att_err_t att_net_init(att_diag_t *d);
/* A service's base URL as fetchers keep it: http:// or https://, trailing '/' removed, at most
 * max characters; *out malloc'd. ATT_E_ARG naming `what` ("PCS URL") otherwise. Calls
 * att_net_init. */
att_err_t att_net_base_url(const char *url, size_t max, const char *what, char **out,
                           att_diag_t *d);
/* CLOCK_MONOTONIC in milliseconds: the clock of deadline_ms (libcurl's timeouts run on it). */
int64_t att_net_mono_ms(void);
/* "scheme://host:port" of an absolute http(s) URL (lowercase, default port filled in); false
 * if it is not one or does not fit in n. */
bool att_net_origin(const char *url, char *out, size_t n);
bool att_net_same_origin(const char *a, const char *b);
/* Upstream text (an error body, a Location) made fit for a log line: printable ASCII only
 * (anything else becomes '?'), at most cap - 1 characters, "..." when cut. */
void att_net_sanitize(const uint8_t *p, size_t n, char *out, size_t cap);

#endif
