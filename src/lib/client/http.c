/* http.c - the client's HTTP requests over libcurl (token endpoint, discovery, attestd). */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "client/client_int.h"
#include "core/util.h"

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

att_err_t att_client_http(const att_client_req_t *rq, att_client_resp_t *rs, att_diag_t *diag)
{
    memset(rs, 0, sizeof(*rs));
    if (rq == NULL || rq->url == NULL || rq->method == NULL)
        return att_diag_set(diag, ATT_E_ARG, "http: no URL or method");
    if (strncasecmp(rq->url, "http://", 7) != 0 && strncasecmp(rq->url, "https://", 8) != 0)
        return att_diag_set(diag, ATT_E_ARG, "%s: only http:// and https:// URLs are supported",
                            rq->url);
    pthread_once(&att_curl_once, att_curl_init);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "curl_easy_init failed");
    struct curl_slist *hdrs = NULL;
    att_buf_t m = {.max = ATT_CLIENT_MAX_BODY};
    char errbuf[CURL_ERROR_SIZE] = "";
    att_err_t e = ATT_OK;
    long timeout = rq->timeout_ms > 0 ? rq->timeout_ms : 10000;

    for (size_t i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++) {
        struct curl_slist *nh = curl_slist_append(hdrs, rq->headers[i]);
        if (nh == NULL) {
            e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            goto out;
        }
        hdrs = nh;
    }
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, strcmp(rq->method, "GET") == 0 ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
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
    if (strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    } else if (strcmp(rq->method, "GET") != 0) {
        e = att_diag_set(diag, ATT_E_ARG, "http: unsupported method %s", rq->method);
        goto out;
    }
    if (rq->basic_user != NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, rq->basic_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, rq->basic_pass ? rq->basic_pass : "");
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (m.over)
            e = att_diag_set(diag, ATT_E_FETCH, "%s %s: the answer exceeds %u bytes", rq->method,
                             rq->url, ATT_CLIENT_MAX_BODY);
        else
            e = att_diag_set(diag, ATT_E_FETCH, "%s %s: %s", rq->method, rq->url,
                             errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
    if (m.p == NULL && !att_buf_put(&m, "", 0)) { /* an empty answer: "" */
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    rs->body = (char *)m.p;
    rs->len = m.len;
    m.p = NULL;
out:
    free(m.p);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    if (e != ATT_OK)
        att_client_resp_clear(rs);
    return e;
}

void att_client_resp_clear(att_client_resp_t *rs)
{
    if (rs == NULL)
        return;
    free(rs->body);
    free(rs->error_code_hdr);
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
