/* oauth.c - OAuth2 client-credentials access tokens (RFC 6749 section 4.4), token endpoint from
 * OpenID discovery, cached until shortly before expiry.
 *
 * Discovery is trusted only as far as the issuer's origin: the document must name the issuer
 * asked for, and its token_endpoint - where the client secret goes - must be on the issuer's
 * origin (same scheme, host, port; so https never becomes http). The discovery GET follows
 * redirects within the issuer's origin only, the token POST none at all (issue 18.B5); a
 * redirect not followed is an error naming where it led. An explicit token URL is used as given.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "client/client_int.h"

struct att_oauth {
    pthread_mutex_t mu;
    char *issuer, *token_url, *client_id, *client_secret, *scope, *audience, *resource;
    att_oauth_auth_t auth;
    long timeout_ms;
    int64_t margin;
    char *endpoint; /* token endpoint in use */
    char *token;    /* cached access token */
    att_time_t token_until;
    att_client_fetch_fn fetch;
    void *fetch_arg;
};

static char *att_strdup_opt(const char *s, bool *fail)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *fail = true;
    return d;
}

static void att_free_secret(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

ATT_API att_err_t att_oauth_new(const att_oauth_opts_t *o, att_oauth_t **out, att_diag_t *diag)
{
    if (out != NULL)
        *out = NULL;
    if (o == NULL || out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "oauth: NULL argument");
    if (o->issuer == NULL && o->token_url == NULL)
        return att_diag_set(diag, ATT_E_ARG,
                            "oauth: an issuer (for OpenID discovery) or a token "
                            "URL is needed");
    if (o->client_id == NULL || *o->client_id == '\0' || o->client_secret == NULL)
        return att_diag_set(diag, ATT_E_ARG, "oauth: a client id and a client secret are needed");
    if (o->auth != ATT_OAUTH_BASIC && o->auth != ATT_OAUTH_POST)
        return att_diag_set(diag, ATT_E_ARG, "oauth: unknown client authentication method");
    att_oauth_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    bool fail = false;
    a->issuer = att_strdup_opt(o->issuer, &fail);
    a->token_url = att_strdup_opt(o->token_url, &fail);
    a->client_id = att_strdup_opt(o->client_id, &fail);
    a->client_secret = att_strdup_opt(o->client_secret, &fail);
    a->scope = att_strdup_opt(o->scope, &fail);
    a->audience = att_strdup_opt(o->audience, &fail);
    a->resource = att_strdup_opt(o->resource, &fail);
    a->auth = o->auth;
    a->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    a->margin = o->refresh_margin > 0 ? o->refresh_margin : 60;
    pthread_mutex_init(&a->mu, NULL);
    if (fail) {
        att_oauth_free(a);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    /* a trailing '/' on the issuer is not part of the discovery path */
    if (a->issuer != NULL) {
        size_t n = strlen(a->issuer);
        while (n > 0 && a->issuer[n - 1] == '/')
            a->issuer[--n] = '\0';
    }
    *out = a;
    return ATT_OK;
}

void att_oauth_set_fetch(att_oauth_t *o, att_client_fetch_fn fn, void *arg)
{
    o->fetch = fn;
    o->fetch_arg = arg;
}

static att_err_t att_oauth_http(att_oauth_t *o, const att_client_req_t *rq, att_client_resp_t *rs,
                                att_diag_t *diag)
{
    if (o->fetch != NULL) {
        memset(rs, 0, sizeof(*rs));
        return o->fetch(o->fetch_arg, rq, rs, diag);
    }
    return att_client_http(rq, rs, diag);
}

/* "<status>: <error>: <error_description>" from an OAuth2 / OIDC error answer. */
static void att_oauth_error_text(const att_client_resp_t *rs, char *buf, size_t n)
{
    json_t *j = json_loadb(rs->body ? rs->body : "", rs->len, 0, NULL);
    const char *err = json_string_value(json_object_get(j, "error"));
    const char *desc = json_string_value(json_object_get(j, "error_description"));
    if (err != NULL)
        snprintf(buf, n, "HTTP status %ld: %s%s%s", rs->status, err, desc ? ": " : "",
                 desc ? desc : "");
    else
        snprintf(buf, n, "HTTP status %ld: %.200s", rs->status, rs->body ? rs->body : "");
    json_decref(j);
}

/* Length of the "scheme://authority" prefix of an http(s) URL, 0 if it is not one. */
static size_t att_oauth_origin_len(const char *url)
{
    size_t skip = strncasecmp(url, "https://", 8) == 0  ? 8
                  : strncasecmp(url, "http://", 7) == 0 ? 7
                                                        : 0;
    if (skip == 0)
        return 0;
    size_t n = skip + strcspn(url + skip, "/?#");
    return n > skip ? n : 0;
}

/* The discovered token endpoint receives the client secret, so it must be on the issuer's own
 * origin (same scheme, host and port: never https -> http, never another host, whatever
 * redirects the discovery request met); NULL if it is, else why not. A provider whose token
 * endpoint lives elsewhere is used with an explicit --token-url. */
static const char *att_oauth_endpoint_refused(const char *issuer, const char *te)
{
    size_t il = att_oauth_origin_len(issuer), tl = att_oauth_origin_len(te);
    if (tl == 0)
        return "is not an http(s) URL";
    if (strncasecmp(issuer, "https://", 8) == 0 && strncasecmp(te, "https://", 8) != 0)
        return "is not https while the issuer is (no downgrade)";
    if (il != tl || strncasecmp(issuer, te, il) != 0)
        return "is not on the issuer's origin (give --token-url to use another)";
    return NULL;
}

static att_err_t att_oauth_discover(att_oauth_t *o, att_diag_t *diag)
{
    if (o->endpoint != NULL)
        return ATT_OK;
    if (o->token_url != NULL) {
        o->endpoint = strdup(o->token_url);
        return o->endpoint ? ATT_OK : att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    size_t n = strlen(o->issuer) + sizeof("/.well-known/openid-configuration");
    char *url = malloc(n);
    if (url == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    snprintf(url, n, "%s/.well-known/openid-configuration", o->issuer);
    static const char *const hdrs[] = {"Accept: application/json", NULL};
    /* redirects within the issuer's origin only: nothing is asked of another server */
    att_client_req_t rq = {.method = "GET",
                           .url = url,
                           .headers = hdrs,
                           .timeout_ms = o->timeout_ms,
                           .redirects = ATT_CLIENT_REDIRECT_SAME_ORIGIN};
    att_client_resp_t rs;
    att_err_t e = att_oauth_http(o, &rq, &rs, diag);
    json_t *j = NULL;
    if (e != ATT_OK ||
        (e = att_client_redirect_error("OpenID discovery", &rq, &rs, diag)) != ATT_OK)
        goto out;
    if (rs.status != 200) {
        char t[300];
        att_oauth_error_text(&rs, t, sizeof(t));
        e = att_diag_set(diag, ATT_E_FETCH_STATUS, "OpenID discovery GET %s: %s", url, t);
        goto out;
    }
    json_error_t je;
    j = json_loadb(rs.body, rs.len, 0, &je);
    const char *iss = json_string_value(json_object_get(j, "issuer"));
    const char *te = json_string_value(json_object_get(j, "token_endpoint"));
    if (!json_is_object(j) || te == NULL || *te == '\0') {
        e = att_diag_set(diag, ATT_E_FETCH,
                         "OpenID discovery GET %s: the answer has no "
                         "token_endpoint%s%s",
                         url, j ? "" : ": ", j ? "" : je.text);
        goto out;
    }
    /* OpenID Connect Discovery 1.0 section 4.3: the issuer must be there and be the one asked
     * for (a trailing '/' aside) */
    size_t il = iss ? strlen(iss) : 0;
    while (il > 0 && iss[il - 1] == '/')
        il--;
    if (iss == NULL || il != strlen(o->issuer) || strncmp(iss, o->issuer, il) != 0) {
        e = att_diag_set(diag, ATT_E_FETCH,
                         "OpenID discovery GET %s: the document is for issuer '%.200s', not "
                         "'%s'",
                         url, iss ? iss : "(none)", o->issuer);
        goto out;
    }
    const char *why = att_oauth_endpoint_refused(o->issuer, te);
    if (why != NULL) {
        e = att_diag_set(diag, ATT_E_FETCH,
                         "OpenID discovery GET %s: token_endpoint '%.200s' %s; the client "
                         "secret is not sent there",
                         url, te, why);
        goto out;
    }
    if ((o->endpoint = strdup(te)) == NULL)
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
out:
    json_decref(j);
    att_client_resp_clear(&rs);
    free(url);
    return e;
}

/* Append "&name=value" (form-encoded) to *body. */
static bool att_form_add(char **body, size_t *len, const char *name, const char *value)
{
    if (value == NULL)
        return true;
    char *v = att_form_encode(value);
    if (v == NULL)
        return false;
    size_t add = strlen(name) + strlen(v) + 2;
    char *nb = realloc(*body, *len + add + 1);
    if (nb == NULL) {
        OPENSSL_cleanse(v, strlen(v));
        free(v);
        return false;
    }
    *len += (size_t)sprintf(nb + *len, "%s%s=%s", *len ? "&" : "", name, v);
    *body = nb;
    OPENSSL_cleanse(v, strlen(v));
    free(v);
    return true;
}

static att_err_t att_oauth_fetch(att_oauth_t *o, att_time_t now, att_diag_t *diag)
{
    att_err_t e = att_oauth_discover(o, diag);
    if (e != ATT_OK)
        return e;
    char *body = NULL, *user = NULL, *pass = NULL;
    size_t blen = 0;
    json_t *j = NULL;
    att_client_resp_t rs = {0};
    bool ok = att_form_add(&body, &blen, "grant_type", "client_credentials") &&
              att_form_add(&body, &blen, "scope", o->scope) &&
              att_form_add(&body, &blen, "audience", o->audience) &&
              att_form_add(&body, &blen, "resource", o->resource);
    if (ok && o->auth == ATT_OAUTH_POST)
        ok = att_form_add(&body, &blen, "client_id", o->client_id) &&
             att_form_add(&body, &blen, "client_secret", o->client_secret);
    if (ok && o->auth == ATT_OAUTH_BASIC)
        ok = (user = att_form_encode(o->client_id)) != NULL &&
             (pass = att_form_encode(o->client_secret)) != NULL;
    if (!ok) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    static const char *const hdrs[] = {"Content-Type: application/x-www-form-urlencoded",
                                       "Accept: application/json", NULL};
    att_client_req_t rq = {.method = "POST",
                           .url = o->endpoint,
                           .headers = hdrs,
                           .body = body,
                           .body_len = blen,
                           .basic_user = user,
                           .basic_pass = pass,
                           .timeout_ms = o->timeout_ms,
                           /* it carries the client secret: no redirect is followed at all */
                           .redirects = ATT_CLIENT_REDIRECT_NONE};
    if ((e = att_oauth_http(o, &rq, &rs, diag)) != ATT_OK ||
        (e = att_client_redirect_error("token request", &rq, &rs, diag)) != ATT_OK)
        goto out;
    if (rs.status != 200) {
        char t[400];
        att_oauth_error_text(&rs, t, sizeof(t));
        e = att_diag_set(diag, ATT_E_FETCH_STATUS, "token request POST %s: %s", o->endpoint, t);
        goto out;
    }
    j = json_loadb(rs.body, rs.len, 0, NULL);
    const char *at = json_string_value(json_object_get(j, "access_token"));
    const char *tt = json_string_value(json_object_get(j, "token_type"));
    json_t *exp = json_object_get(j, "expires_in");
    if (at == NULL || *at == '\0') {
        e = att_diag_set(diag, ATT_E_FETCH,
                         "token request POST %s: the answer has no "
                         "access_token",
                         o->endpoint);
        goto out;
    }
    if (tt != NULL && strcasecmp(tt, "Bearer") != 0) {
        e = att_diag_set(diag, ATT_E_FETCH,
                         "token request POST %s: token_type is '%s', not "
                         "Bearer",
                         o->endpoint, tt);
        goto out;
    }
    double ei = 0; /* seconds; 0: not cacheable */
    if (json_is_number(exp)) {
        ei = json_number_value(exp);
    } else if (json_is_string(exp)) {
        /* Microsoft Entra ID's v1 endpoint sends "3599": decimal digits only, as a number */
        const char *es = json_string_value(exp);
        size_t n = strspn(es, "0123456789");
        if (n == 0 || n > 10 || es[n] != '\0') {
            e = att_diag_set(diag, ATT_E_FETCH,
                             "token request POST %s: expires_in \"%.32s\" is "
                             "not a number of seconds",
                             o->endpoint, es);
            goto out;
        }
        ei = strtod(es, NULL);
    } else if (exp != NULL && !json_is_null(exp)) {
        e = att_diag_set(diag, ATT_E_FETCH, "token request POST %s: expires_in is not a number",
                         o->endpoint);
        goto out;
    }
    char *tok = strdup(at);
    if (tok == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    att_free_secret(o->token);
    o->token = tok;
    o->token_until = now; /* not cacheable without expires_in */
    if (ei > 0 && ei < 10.0 * 365 * 86400) {
        int64_t life = (int64_t)ei;
        int64_t margin = o->margin < life / 2 ? o->margin : life / 2;
        o->token_until = now + life - margin;
    }
out:
    json_decref(j);
    if (rs.body != NULL)
        OPENSSL_cleanse(rs.body, rs.len);
    att_client_resp_clear(&rs);
    att_free_secret(body);
    att_free_secret(user);
    att_free_secret(pass);
    return e;
}

ATT_API att_err_t att_oauth_token(att_oauth_t *o, att_time_t now, char **token, att_diag_t *diag)
{
    if (token != NULL)
        *token = NULL;
    if (o == NULL || token == NULL)
        return att_diag_set(diag, ATT_E_ARG, "oauth: NULL argument");
    pthread_mutex_lock(&o->mu);
    att_err_t e = ATT_OK;
    if (o->token == NULL || now >= o->token_until)
        e = att_oauth_fetch(o, now, diag);
    if (e == ATT_OK && (*token = strdup(o->token)) == NULL)
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    pthread_mutex_unlock(&o->mu);
    return e;
}

ATT_API void att_oauth_invalidate(att_oauth_t *o)
{
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->mu);
    att_free_secret(o->token);
    o->token = NULL;
    pthread_mutex_unlock(&o->mu);
}

ATT_API const char *att_oauth_token_endpoint(const att_oauth_t *o)
{
    return o ? o->endpoint : NULL;
}

ATT_API void att_oauth_free(att_oauth_t *o)
{
    if (o == NULL)
        return;
    free(o->issuer);
    free(o->token_url);
    free(o->client_id);
    att_free_secret(o->client_secret);
    free(o->scope);
    free(o->audience);
    free(o->resource);
    free(o->endpoint);
    att_free_secret(o->token);
    pthread_mutex_destroy(&o->mu);
    free(o);
}
