/* http.c - the client's HTTP requests (token endpoint, discovery, attestd), over the library's
 * one HTTP helper (net/http.h: TLS always verified, one deadline, body cap).
 *
 * libcurl follows no redirect by itself: a request that may follow them (OpenID discovery)
 * follows at most ATT_CLIENT_MAX_REDIRS whose target is on the origin of the URL asked, checked
 * here before anything is sent there (issue 18.B5); every other redirect comes back to the
 * caller, which names it in its error. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/client_int.h"
#include "net/http.h"

#define ATT_CLIENT_STR_(x) #x
#define ATT_CLIENT_STR(x)  ATT_CLIENT_STR_(x)

bool att_client_same_origin(const char *a, const char *b)
{
    return att_net_same_origin(a, b);
}

att_err_t att_client_http(const att_client_req_t *rq, att_client_resp_t *rs, att_diag_t *diag)
{
    memset(rs, 0, sizeof(*rs));
    if (rq == NULL || rq->url == NULL || rq->method == NULL)
        return att_diag_set(diag, ATT_E_ARG, "http: no URL or method");
    if (strncasecmp(rq->url, "http://", 7) != 0 && strncasecmp(rq->url, "https://", 8) != 0)
        return att_diag_set(diag, ATT_E_ARG, "%s: only http:// and https:// URLs are supported",
                            rq->url);
    bool post = strcmp(rq->method, "POST") == 0 || strcmp(rq->method, "PUT") == 0;
    if (!post && strcmp(rq->method, "GET") != 0)
        return att_diag_set(diag, ATT_E_ARG, "http: unsupported method %s", rq->method);
    static const char *const capture[] = {"x-ms-error-code", NULL};
    long timeout = rq->timeout_ms > 0 ? rq->timeout_ms : 10000;
    att_net_req_t nr = {
        .method = rq->method,
        .url = rq->url,
        .headers = rq->headers,
        .body = rq->body,
        .body_len = rq->body_len,
        .basic_user = rq->basic_user,
        .basic_pass = rq->basic_pass,
        .allow_http = true,
        /* GET only (the helper's rule too), same origin only, never https to http */
        .max_redirects =
            rq->redirects == ATT_CLIENT_REDIRECT_SAME_ORIGIN ? ATT_CLIENT_MAX_REDIRS : 0,
        .deadline_ms = att_net_mono_ms() + timeout,
        .max_body = ATT_CLIENT_MAX_BODY,
        .capture = capture,
        .user_agent = "attest/0.1.0",
    };
    att_net_resp_t nrs;
    att_diag_t in;
    att_diag_clear(&in);
    att_err_t e = att_net_request(NULL, &nr, &nrs, &in);
    const char *cur = nrs.url ? nrs.url : rq->url; /* the URL asked last */
    switch (e == ATT_OK ? ATT_NET_OK : nrs.fail) {
    case ATT_NET_OK:
        break;
    case ATT_NET_NOT_SENT:
        e = att_diag_set(diag, ATT_E_FETCH,
                         "%s %s: not sent: the request ran out of its %ld "
                         "ms (timed out) following redirects from %s",
                         rq->method, cur, timeout, rq->url);
        break;
    case ATT_NET_TOO_LARGE:
        e = att_diag_set(diag, ATT_E_FETCH, "%s %s: the answer exceeds %u bytes", rq->method, cur,
                         ATT_CLIENT_MAX_BODY);
        break;
    case ATT_NET_NOMEM:
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        break;
    case ATT_NET_TIMEOUT:
    case ATT_NET_TRANSPORT:
        e = att_diag_set(diag, ATT_E_FETCH, "%s %s: %s", rq->method, cur,
                         nrs.error[0] ? nrs.error : "timed out");
        break;
    default:
        if (diag != NULL)
            *diag = in;
        break;
    }
    if (e != ATT_OK) {
        att_net_resp_clear(&nrs);
        return e;
    }
    rs->status = nrs.status;
    rs->body = (char *)nrs.body;
    rs->len = nrs.len;
    rs->error_code_hdr = nrs.header;
    rs->location = nrs.location;
    if (nrs.redirect == ATT_NET_REDIR_TOO_MANY)
        rs->redirect_refused = "more than " ATT_CLIENT_STR(ATT_CLIENT_MAX_REDIRS) " redirects";
    else
        rs->redirect_refused = nrs.redirect_refused;
    nrs.body = NULL;
    nrs.header = NULL;
    nrs.location = NULL;
    att_net_resp_clear(&nrs);
    return ATT_OK;
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
