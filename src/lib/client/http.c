/* http.c - the client's HTTP requests over libcurl (token endpoint, discovery, attestd).
 *
 * libcurl follows no redirect by itself: a request that may follow them (OpenID discovery)
 * follows at most ATT_CLIENT_MAX_REDIRS whose target is on the origin of the URL asked, checked
 * here before anything is sent there (issue 18.B5); every other redirect comes back to the
 * caller, which names it in its error. */
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "client/client_int.h"
#include "core/util.h"

#define ATT_CLIENT_STR_(x) #x
#define ATT_CLIENT_STR(x)  ATT_CLIENT_STR_(x)

static pthread_once_t att_curl_once = PTHREAD_ONCE_INIT;
static void att_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t att_http_header(char *p, size_t sz, size_t n, void *arg)
{
    att_client_resp_t *rs = arg;
    size_t k = sz * n;
    static const char name[] = "x-ms-error-code:";
    if (k > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        const char *v = p + sizeof(name) - 1, *end = p + k;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && isspace((unsigned char)end[-1]))
            end--;
        free(rs->error_code_hdr);
        rs->error_code_hdr = strndup(v, (size_t)(end - v));
    }
    return k;
}

/* "scheme://host:port" of an absolute http(s) URL as libcurl's URL parser reads it (the
 * scheme's default port filled in, scheme and host lowercased); false if it is not one. */
static bool att_client_origin(const char *url, char *out, size_t n)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
              (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0);
    if (ok) {
        for (char *p = scheme; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        for (char *p = host; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        int k = snprintf(out, n, "%s://%s:%s", scheme, host, port);
        ok = k > 0 && (size_t)k < n;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

bool att_client_same_origin(const char *a, const char *b)
{
    char oa[512], ob[512];
    return att_client_origin(a, oa, sizeof oa) && att_client_origin(b, ob, sizeof ob) &&
           strcmp(oa, ob) == 0;
}

/* Why rq's redirect number hop (from 0) from `from` to `to` is not followed, or NULL. */
static const char *att_client_redirect_why(const att_client_req_t *rq, const char *from,
                                           const char *to, int hop)
{
    if (rq->redirects != ATT_CLIENT_REDIRECT_SAME_ORIGIN || strcmp(rq->method, "GET") != 0)
        return "this request follows no redirect";
    if (strncasecmp(from, "https://", 8) == 0 && strncasecmp(to, "https://", 8) != 0)
        return "https is never redirected to anything else (no downgrade)";
    if (!att_client_same_origin(from, to))
        return "it leads to another origin (scheme, host and port), and only redirects within "
               "the origin asked are followed";
    if (hop >= ATT_CLIENT_MAX_REDIRS)
        return "more than " ATT_CLIENT_STR(ATT_CLIENT_MAX_REDIRS) " redirects";
    return NULL;
}

static int64_t att_client_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

att_err_t att_client_http(const att_client_req_t *rq, att_client_resp_t *rs, att_diag_t *diag)
{
    memset(rs, 0, sizeof(*rs));
    if (rq == NULL || rq->url == NULL || rq->method == NULL)
        return att_diag_set(diag, ATT_E_ARG, "http: no URL or method");
    if (strncasecmp(rq->url, "http://", 7) != 0 && strncasecmp(rq->url, "https://", 8) != 0)
        return att_diag_set(diag, ATT_E_ARG, "%s: only http:// and https:// URLs are supported",
                            rq->url);
    bool post = strcmp(rq->method, "POST") == 0;
    if (!post && strcmp(rq->method, "GET") != 0)
        return att_diag_set(diag, ATT_E_ARG, "http: unsupported method %s", rq->method);
    pthread_once(&att_curl_once, att_curl_init);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "curl_easy_init failed");
    struct curl_slist *hdrs = NULL;
    att_buf_t m = {.max = ATT_CLIENT_MAX_BODY};
    char errbuf[CURL_ERROR_SIZE] = "";
    char *cur = strdup(rq->url); /* the URL asked now: rq->url, then a redirect's target */
    att_err_t e = ATT_OK;
    long timeout = rq->timeout_ms > 0 ? rq->timeout_ms : 10000;
    int64_t deadline = att_client_mono_ms() + timeout;

    if (cur == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++) {
        struct curl_slist *nh = curl_slist_append(hdrs, rq->headers[i]);
        if (nh == NULL) {
            e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            goto out;
        }
        hdrs = nh;
    }
    /* an https URL is fetched over https only; libcurl follows no redirect itself (issue
     * 18.B5): each one is checked below before anything is sent to its target */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR,
                     strncasecmp(rq->url, "https://", 8) == 0 ? "https" : "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, att_buf_curl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, att_http_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, rs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "attest/0.1.0");
    if (hdrs != NULL)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    }
    if (rq->basic_user != NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, rq->basic_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, rq->basic_pass ? rq->basic_pass : "");
    }
    for (int hop = 0;; hop++) {
        int64_t left = deadline - att_client_mono_ms();
        if (left <= 0) {
            e = att_diag_set(diag, ATT_E_FETCH,
                             "%s %s: not sent: the request ran out of its %ld "
                             "ms (timed out) following redirects from %s",
                             rq->method, cur, timeout, rq->url);
            goto out;
        }
        curl_easy_setopt(c, CURLOPT_URL, cur);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left);
        errbuf[0] = '\0';
        CURLcode cc = curl_easy_perform(c);
        if (cc != CURLE_OK) {
            if (m.over)
                e = att_diag_set(diag, ATT_E_FETCH, "%s %s: the answer exceeds %u bytes",
                                 rq->method, cur, ATT_CLIENT_MAX_BODY);
            else
                e = att_diag_set(diag, ATT_E_FETCH, "%s %s: %s", rq->method, cur,
                                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
            goto out;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
        char *loc = NULL; /* the Location resolved against cur; owned by the handle */
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
        if (rs->status < 300 || rs->status > 399 || loc == NULL)
            break;
        const char *why = att_client_redirect_why(rq, rq->url, loc, hop);
        if (why != NULL) {
            if ((rs->location = strdup(loc)) == NULL) {
                e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
                goto out;
            }
            rs->redirect_refused = why;
            break;
        }
        char *next = strdup(loc);
        if (next == NULL) {
            e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            goto out;
        }
        free(cur);
        cur = next;
        free(m.p); /* the redirect's own body and headers are not the answer */
        m = (att_buf_t){.max = ATT_CLIENT_MAX_BODY};
        free(rs->error_code_hdr);
        rs->error_code_hdr = NULL;
    }
    if (m.p == NULL && !att_buf_put(&m, "", 0)) { /* an empty answer: "" */
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    rs->body = (char *)m.p;
    rs->len = m.len;
    m.p = NULL;
out:
    free(m.p);
    free(cur);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    if (e != ATT_OK)
        att_client_resp_clear(rs);
    return e;
}

att_err_t att_client_redirect_error(const char *what, const att_client_req_t *rq,
                                    const att_client_resp_t *rs, att_diag_t *diag)
{
    if (rs->location == NULL)
        return ATT_OK;
    return att_diag_set(diag, ATT_E_FETCH_STATUS,
                        "%s%s%s %s: HTTP %ld, a redirect to '%.300s': not followed (%s)",
                        what ? what : "", what ? " " : "", rq->method, rq->url, rs->status,
                        rs->location, rs->redirect_refused ? rs->redirect_refused : "refused");
}

void att_client_resp_clear(att_client_resp_t *rs)
{
    if (rs == NULL)
        return;
    free(rs->body);
    free(rs->error_code_hdr);
    free(rs->location);
    memset(rs, 0, sizeof(*rs));
}

char *att_form_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *w = out;
    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '*') {
            *w++ = (char)*p;
        } else if (*p == ' ') {
            *w++ = '+';
        } else {
            *w++ = '%';
            *w++ = hex[*p >> 4];
            *w++ = hex[*p & 15];
        }
    }
    *w = '\0';
    return out;
}
