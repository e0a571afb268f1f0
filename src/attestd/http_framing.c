/* http_framing.c - what a request may hold: its head checked for framing and limits before any
 * body byte is read, and the memory all bodies being received hold (see the comments below).
 */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

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
    size_t bytes; /* header lines as sent: name: value CRLF */
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
        att_verdict(h->v, 400, "BadRequest", "The value of header '%.40s' holds control characters",
                    key);
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
void att_head_check(att_http_req_t *req, const char *version, att_head_verdict_t *v)
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
                    "Transfer-Encoding appears %u times; a request must have at most one", h.n_te);
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
bool att_body_reserve(att_http_req_t *req, size_t cap)
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
bool att_body_grow(att_http_req_t *req, size_t n, bool *nomem)
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

double att_body_memory_gauge(void *arg)
{
    att_http_server_t *s = arg;
    return (double)atomic_load(&s->body_memory);
}
