/* http.c - att_net_request: the project's one libcurl client (see net/http.h for the rules).
 * Grown from attestd's collateral source, whose GET had the strictest rules of the three
 * clients (shared deadline, same-origin redirects, body cap, error text kept from the caller);
 * the relying party's JWKS fetch and the client's requests use it too. */
#define _GNU_SOURCE
#include "net/http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "core/util.h"

#define NET_STAMP_MAX 128 /* longest Retry-After / Date value looked at */

struct att_net_conn {
    CURL *h;
};

static pthread_once_t net_once = PTHREAD_ONCE_INIT;
static CURLcode net_init_rc = CURLE_FAILED_INIT;
static void net_init(void)
{
    net_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

att_err_t att_net_init(att_diag_t *d)
{
    pthread_once(&net_once, net_init);
    if (net_init_rc != CURLE_OK)
        return att_diag_set(d, ATT_E_FETCH, "libcurl cannot be initialised: %s",
                            curl_easy_strerror(net_init_rc));
    return ATT_OK;
}

att_err_t att_net_base_url(const char *url, size_t max, const char *what, char **out, att_diag_t *d)
{
    *out = NULL;
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n == 0 || n > max || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return att_diag_set(d, ATT_E_ARG, "%s must be http(s):// and at most %zu characters", what,
                            max);
    att_err_t e = att_net_init(d);
    if (e != ATT_OK)
        return e;
    if ((*out = strndup(url, n)) == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    return ATT_OK;
}

int64_t att_net_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

att_err_t att_net_conn_new(att_net_conn_t **out, att_diag_t *d)
{
    *out = NULL;
    att_err_t e = att_net_init(d);
    if (e != ATT_OK)
        return e;
    att_net_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->h = curl_easy_init()) == NULL) {
        free(c);
        return att_diag_set(d, ATT_E_NOMEM, "libcurl handle: out of memory");
    }
    *out = c;
    return ATT_OK;
}

void att_net_conn_free(att_net_conn_t *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->h);
    free(c);
}

void att_net_sanitize(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    if (k + 1 == cap && n > k && cap > 4)
        memcpy(out + cap - 4, "...", 3);
    out[k] = 0;
}

bool att_net_origin(const char *url, char *out, size_t n)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
              (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0);
    if (ok) {
        int k = snprintf(out, n, "%s://%s:%s", scheme, host, port);
        ok = k > 0 && (size_t)k < n;
    }
    if (ok)
        for (char *c = out; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

bool att_net_same_origin(const char *a, const char *b)
{
    char oa[512], ob[512];
    return att_net_origin(a, oa, sizeof oa) && att_net_origin(b, ob, sizeof ob) &&
           strcmp(oa, ob) == 0;
}

/* ---- response headers ---- */

typedef struct {
    const att_net_req_t *rq;
    att_net_resp_t *rs;
    size_t max;
    char retry[NET_STAMP_MAX], date[NET_STAMP_MAX];
} net_hdr_t;

/* The value of a header line (name excluded), blanks and CRLF trimmed, if its name is name. */
static bool hdr_value(const char *p, size_t n, const char *name, const char **v, size_t *vlen)
{
    const char *colon = memchr(p, ':', n);
    size_t nl = strlen(name);
    if (colon == NULL || (size_t)(colon - p) != nl || strncasecmp(p, name, nl) != 0)
        return false;
    const char *s = colon + 1, *end = p + n;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *v = s;
    *vlen = (size_t)(end - s);
    return true;
}

static void stamp_keep(char *dst, const char *v, size_t n)
{
    if (n >= NET_STAMP_MAX)
        n = 0; /* not a value we understand */
    memcpy(dst, v, n);
    dst[n] = 0;
}

static size_t net_header(char *p, size_t size, size_t nmemb, void *ud)
{
    net_hdr_t *h = ud;
    size_t n = size * nmemb;
    const char *v;
    size_t vl;
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new answer (redirect, 100): start over */
        free(h->rs->header);
        h->rs->header = NULL;
        h->rs->header_name = NULL;
        h->rs->header_over = false;
        h->retry[0] = h->date[0] = 0;
        return n;
    }
    if (hdr_value(p, n, "Retry-After", &v, &vl))
        stamp_keep(h->retry, v, vl);
    else if (hdr_value(p, n, "Date", &v, &vl))
        stamp_keep(h->date, v, vl);
    if (h->rq->capture == NULL || h->rs->header != NULL || h->rs->header_over)
        return n;
    for (const char *const *nm = h->rq->capture; *nm; nm++) {
        if (!hdr_value(p, n, *nm, &v, &vl))
            continue;
        if (vl > h->max)
            h->rs->header_over = true;
        else if ((h->rs->header = strndup(v, vl)) == NULL)
            return 0; /* out of memory: aborts the transfer */
        h->rs->header_name = *nm;
        break;
    }
    return n;
}

/* Retry-After (RFC 9110 10.2.3): delay-seconds, or an HTTP-date taken relative to the answer's
 * own Date (no clock is read). -1 when absent or not understood. */
static int64_t retry_after(const char *ra, const char *date)
{
    if (ra[0] == 0)
        return -1;
    if (isdigit((unsigned char)ra[0])) {
        int64_t v = 0;
        for (const char *c = ra; *c; c++) {
            if (!isdigit((unsigned char)*c))
                return -1;
            if (v > (INT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (*c - '0');
        }
        return v;
    }
    time_t at = curl_getdate(ra, NULL), now = date[0] ? curl_getdate(date, NULL) : -1;
    if (at < 0 || now < 0)
        return -1;
    return at > now ? (int64_t)(at - now) : 0;
}

/* ---- requests ---- */

/* Why the redirect number hop (from 0) from `from` to `to` is not followed, or NONE. */
static att_net_redir_t redirect_why(const att_net_req_t *rq, bool get, const char *from,
                                    const char *to, int hop, const char **why)
{
    if (rq->max_redirects <= 0 || !get) {
        *why = "this request follows no redirect";
        return ATT_NET_REDIR_NOT_ALLOWED;
    }
    if (strncasecmp(from, "https://", 8) == 0 && strncasecmp(to, "https://", 8) != 0) {
        *why = "https is never redirected to anything else (no downgrade)";
        return ATT_NET_REDIR_DOWNGRADE;
    }
    if (!att_net_same_origin(from, to)) {
        *why = "it leads to another origin (scheme, host and port), and only redirects within "
               "the origin asked are followed";
        return ATT_NET_REDIR_ORIGIN;
    }
    if (hop >= rq->max_redirects || (rq->max_url != 0 && strlen(to) >= rq->max_url)) {
        *why = hop >= rq->max_redirects ? "too many redirects" : "its target is too long";
        return ATT_NET_REDIR_TOO_MANY;
    }
    *why = NULL;
    return ATT_NET_REDIR_NONE;
}

static att_err_t net_fail(att_net_resp_t *rs, att_net_fail_t why, att_diag_t *d, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));
static att_err_t net_fail(att_net_resp_t *rs, att_net_fail_t why, att_diag_t *d, const char *fmt,
                          ...)
{
    rs->fail = why;
    if (d == NULL)
        return why == ATT_NET_NOMEM ? ATT_E_NOMEM : ATT_E_FETCH;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    d->code = why == ATT_NET_NOMEM ? ATT_E_NOMEM : ATT_E_FETCH;
    return d->code;
}

static int net_abort(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const atomic_bool *abort = arg;
    return abort != NULL && atomic_load(abort);
}

/* The options of every hop of rq on h (the URL and timeouts are set per hop). */
static bool net_setup(CURL *h, const att_net_req_t *rq, bool post, const char *origin,
                      struct curl_slist *hdrs, att_buf_t *b, net_hdr_t *hd, char *errbuf)
{
    curl_easy_reset(h); /* keeps the connection, drops the last request's options */
    bool ok = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
                               strncmp(origin, "https:", 6) == 0 ? "https" : "http") == CURLE_OK;
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* redirects: checked in att_net_request */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (rq->ca_file != NULL)
        ok = ok && curl_easy_setopt(h, CURLOPT_CAINFO, rq->ca_file) == CURLE_OK;
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b->max);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, att_buf_curl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, net_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, hd);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, rq->user_agent ? rq->user_agent : "attest");
    if (hdrs != NULL)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (rq->abort != NULL) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, net_abort);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)rq->abort);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    if (post) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        if (strcmp(rq->method, "PUT") == 0) /* the same body, sent with PUT */
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    if (rq->basic_user != NULL) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, rq->basic_user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, rq->basic_pass ? rq->basic_pass : "");
    }
    return ok;
}

att_err_t att_net_request(att_net_conn_t *conn, const att_net_req_t *rq, att_net_resp_t *rs,
                          att_diag_t *d)
{
    memset(rs, 0, sizeof(*rs));
    rs->retry_after = -1;
    if (rq == NULL || rq->url == NULL)
        return att_diag_set(d, ATT_E_ARG, "http: no URL");
    const char *method = rq->method ? rq->method : "GET";
    bool post = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0; /* with a body */
    if (!post && strcmp(method, "GET") != 0)
        return att_diag_set(d, ATT_E_ARG, "http: unsupported method %s", method);
    char origin[512];
    if (!att_net_origin(rq->url, origin, sizeof origin) ||
        (!rq->allow_http && strncmp(origin, "https:", 6) != 0))
        return net_fail(rs, ATT_NET_BAD_URL, d, "%s %s: not a usable %s URL", method, rq->url,
                        rq->allow_http ? "http(s)" : "https");
    att_err_t e = att_net_init(d);
    if (e != ATT_OK)
        return e;
    CURL *own = conn ? NULL : curl_easy_init(), *h = conn ? conn->h : own;
    struct curl_slist *hdrs = NULL;
    att_buf_t b = {.max = rq->max_body ? rq->max_body : ATT_NET_DEF_MAX_BODY};
    net_hdr_t hd = {
        .rq = rq, .rs = rs, .max = rq->max_header ? rq->max_header : ATT_NET_DEF_MAX_HEADER};
    int64_t deadline =
        rq->deadline_ms ? rq->deadline_ms : att_net_mono_ms() + ATT_NET_DEF_TIMEOUT_MS;
    if (h == NULL || (rs->url = strdup(rq->url)) == NULL) {
        e = net_fail(rs, ATT_NET_NOMEM, d, "%s %s: out of memory", method, rq->url);
        goto out;
    }
    for (size_t i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++) {
        struct curl_slist *nh = curl_slist_append(hdrs, rq->headers[i]);
        if (nh == NULL) {
            e = net_fail(rs, ATT_NET_NOMEM, d, "%s %s: out of memory", method, rq->url);
            goto out;
        }
        hdrs = nh;
    }
    if (!net_setup(h, rq, post, origin, hdrs, &b, &hd, rs->error)) {
        e = net_fail(rs, ATT_NET_TRANSPORT, d, "%s %s: libcurl refused an option", method, rq->url);
        goto out;
    }
    for (int hop = 0;; hop++) {
        int64_t left = deadline - att_net_mono_ms();
        if (left <= 0) {
            e = net_fail(rs, ATT_NET_NOT_SENT, d, "%s %s: not sent: the deadline has passed",
                         method, rs->url);
            goto out;
        }
        long ct = rq->connect_timeout_ms > 0 && rq->connect_timeout_ms < left
                      ? rq->connect_timeout_ms
                      : (long)left;
        curl_easy_setopt(h, CURLOPT_URL, rs->url);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ct);
        rs->error[0] = 0;
        rs->requests++;
        CURLcode rc = curl_easy_perform(h);
        if (b.over || rc == CURLE_FILESIZE_EXCEEDED) {
            e = net_fail(rs, ATT_NET_TOO_LARGE, d, "%s %s: body exceeds %zu bytes", method, rs->url,
                         b.max);
            goto out;
        }
        if (rc == CURLE_OPERATION_TIMEDOUT) {
            e = net_fail(rs, ATT_NET_TIMEOUT, d, "%s %s: timed out", method, rs->url);
            goto out;
        }
        if (rc != CURLE_OK) {
            if (rs->error[0] == 0)
                snprintf(rs->error, sizeof rs->error, "%s", curl_easy_strerror(rc));
            e = net_fail(rs, b.failed && !b.over ? ATT_NET_NOMEM : ATT_NET_TRANSPORT, d,
                         "%s %s: %s", method, rs->url, rs->error);
            goto out;
        }
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
        char *loc = NULL; /* the Location resolved against the URL asked; owned by the handle */
        curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
        if (rs->status < 300 || rs->status > 399 || loc == NULL)
            break;
        rs->redirect = redirect_why(rq, !post, rs->url, loc, hop, &rs->redirect_refused);
        char *next = strdup(loc);
        if (next == NULL) {
            e = net_fail(rs, ATT_NET_NOMEM, d, "%s %s: out of memory", method, rs->url);
            goto out;
        }
        if (rs->redirect != ATT_NET_REDIR_NONE) {
            rs->location = next;
            break;
        }
        free(rs->url);
        rs->url = next;
        free(b.p); /* a redirect's own body is not the answer */
        b = (att_buf_t){.max = b.max};
    }
    rs->retry_after = retry_after(hd.retry, hd.date);
    if (b.p == NULL && !att_buf_put(&b, "", 0)) { /* an empty answer: "" */
        e = net_fail(rs, ATT_NET_NOMEM, d, "%s %s: out of memory", method, rs->url);
        goto out;
    }
    rs->body = b.p;
    rs->len = b.len;
    b.p = NULL;
out:
    free(b.p);
    curl_slist_free_all(hdrs);
    if (h != NULL)
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    if (own != NULL)
        curl_easy_cleanup(own);
    return e;
}

void att_net_resp_clear(att_net_resp_t *rs)
{
    if (rs == NULL)
        return;
    free(rs->body);
    free(rs->url);
    free(rs->header);
    free(rs->location);
    memset(rs, 0, sizeof(*rs));
    rs->retry_after = -1;
}
