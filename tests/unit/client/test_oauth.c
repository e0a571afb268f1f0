/* test_oauth.c - OAuth2 client credentials through a fetch hook: discovery, the token request
 * (Basic and form client authentication, extra parameters), caching until shortly before
 * expiry, errors naming the status and the provider's error / error_description; argument
 * checks and the libcurl path against a closed port; against loopback servers, where discovery
 * and the token request may go (issue 18.B5): no redirect to another origin (the target gets no
 * request), same-origin redirects for discovery only, none for the token POST.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "attest/client.h"
#include "attest/token.h"
#include "client/client_int.h"
#include "rp/loopback.h"

#define NOW ((att_time_t)1751328000)

typedef struct {
    int discovery, token; /* requests seen */
    const char *issuer;   /* what discovery claims */
    long disc_status, tok_status;
    const char *tok_body; /* NULL: a fresh token "tok-N" with expires_in */
    long expires_in;      /* < 0: omitted */
    char last_body[1024];
    char last_user[128], last_pass[128];
    bool last_basic;
} idp_t;

static att_err_t fake_fetch(void *arg, const att_client_req_t *rq, att_client_resp_t *rs,
                            att_diag_t *diag)
{
    idp_t *f = arg;
    char buf[1024];
    if (strcmp(rq->method, "GET") == 0) {
        assert_string_equal(rq->url, "https://idp.example/tenant/.well-known/openid-configuration");
        f->discovery++;
        rs->status = f->disc_status;
        snprintf(buf, sizeof(buf),
                 "{\"issuer\":\"%s\",\"token_endpoint\":\"https://idp.example/tenant/token\","
                 "\"jwks_uri\":\"https://idp.example/tenant/jwks\"}",
                 f->issuer);
    } else {
        f->token++;
        assert_string_equal(rq->method, "POST");
        snprintf(f->last_body, sizeof(f->last_body), "%.*s", (int)rq->body_len, rq->body);
        f->last_basic = rq->basic_user != NULL;
        snprintf(f->last_user, sizeof(f->last_user), "%s", rq->basic_user ? rq->basic_user : "");
        snprintf(f->last_pass, sizeof(f->last_pass), "%s", rq->basic_pass ? rq->basic_pass : "");
        bool ctype = false;
        for (size_t i = 0; rq->headers && rq->headers[i]; i++)
            ctype |= !strcmp(rq->headers[i], "Content-Type: application/x-www-form-urlencoded");
        assert_true(ctype);
        rs->status = f->tok_status;
        if (f->tok_body != NULL)
            snprintf(buf, sizeof(buf), "%s", f->tok_body);
        else if (f->expires_in >= 0)
            snprintf(buf, sizeof(buf),
                     "{\"access_token\":\"tok-%d\",\"token_type\":\"Bearer\","
                     "\"expires_in\":%ld}",
                     f->token, f->expires_in);
        else
            snprintf(buf, sizeof(buf), "{\"access_token\":\"tok-%d\",\"token_type\":\"bearer\"}",
                     f->token);
    }
    rs->body = strdup(buf);
    rs->len = strlen(buf);
    return ATT_OK;
}

static void idp_init(idp_t *f)
{
    memset(f, 0, sizeof(*f));
    f->issuer = "https://idp.example/tenant";
    f->disc_status = 200;
    f->tok_status = 200;
    f->expires_in = 3600;
}

static att_oauth_t *new_client(idp_t *f, att_oauth_opts_t *o)
{
    att_oauth_t *a;
    att_diag_t d;
    assert_int_equal(att_oauth_new(o, &a, &d), ATT_OK);
    att_oauth_set_fetch(a, fake_fetch, f);
    return a;
}

static void expect_token(att_oauth_t *a, att_time_t now, const char *want)
{
    char *t;
    att_diag_t d;
    att_err_t e = att_oauth_token(a, now, &t, &d);
    if (e != ATT_OK)
        fprintf(stderr, "token: %s\n", d.msg);
    assert_int_equal(e, ATT_OK);
    assert_string_equal(t, want);
    free(t);
}

static void test_discovery_and_cache(void **state)
{
    idp_t f;
    idp_init(&f);
    att_oauth_opts_t o = {.issuer = "https://idp.example/tenant/",
                          .client_id = "app 1",
                          .client_secret = "s3cr:t&=",
                          .scope = "attest.submit"};
    att_oauth_t *a = new_client(&f, &o);
    assert_null(att_oauth_token_endpoint(a));
    expect_token(a, NOW, "tok-1");
    assert_string_equal(att_oauth_token_endpoint(a), "https://idp.example/tenant/token");
    assert_int_equal(f.discovery, 1);
    assert_int_equal(f.token, 1);
    /* Basic with form-encoded id and secret; grant and scope in the body */
    assert_true(f.last_basic);
    assert_string_equal(f.last_user, "app+1");
    assert_string_equal(f.last_pass, "s3cr%3At%26%3D");
    assert_string_equal(f.last_body, "grant_type=client_credentials&scope=attest.submit");
    /* cached until 60 s before expiry */
    expect_token(a, NOW + 100, "tok-1");
    expect_token(a, NOW + 3539, "tok-1");
    assert_int_equal(f.token, 1);
    expect_token(a, NOW + 3540, "tok-2");
    assert_int_equal(f.token, 2);
    assert_int_equal(f.discovery, 1); /* discovery once */
    expect_token(a, NOW + 3600, "tok-2");
    /* invalidate forces a new request */
    att_oauth_invalidate(a);
    expect_token(a, NOW + 3600, "tok-3");
    att_oauth_free(a);
}

static void test_post_auth_and_params(void **state)
{
    idp_t f;
    idp_init(&f);
    att_oauth_opts_t o = {.token_url = "https://idp.example/tenant/token",
                          .client_id = "app",
                          .client_secret = "pw",
                          .auth = ATT_OAUTH_POST,
                          .audience = "https://attestd.example",
                          .resource = "urn:attestd"};
    att_oauth_t *a = new_client(&f, &o);
    expect_token(a, NOW, "tok-1");
    assert_int_equal(f.discovery, 0); /* a token URL needs no discovery */
    assert_false(f.last_basic);
    assert_string_equal(f.last_body, "grant_type=client_credentials&audience=https%3A%2F%2F"
                                     "attestd.example&resource=urn%3Aattestd&client_id=app&"
                                     "client_secret=pw");
    att_oauth_free(a);
}

static void test_expiry_variants(void **state)
{
    idp_t f;
    idp_init(&f);
    att_oauth_opts_t o = {
        .token_url = "https://idp.example/tenant/token", .client_id = "app", .client_secret = "pw"};
    /* no expires_in: never cached */
    f.expires_in = -1;
    att_oauth_t *a = new_client(&f, &o);
    expect_token(a, NOW, "tok-1");
    expect_token(a, NOW, "tok-2");
    att_oauth_free(a);
    /* a short-lived token is cached for half its life */
    idp_init(&f);
    f.expires_in = 30;
    a = new_client(&f, &o);
    expect_token(a, NOW, "tok-1");
    expect_token(a, NOW + 14, "tok-1");
    expect_token(a, NOW + 15, "tok-2");
    att_oauth_free(a);
    /* a custom margin */
    idp_init(&f);
    o.refresh_margin = 600;
    a = new_client(&f, &o);
    expect_token(a, NOW, "tok-1");
    expect_token(a, NOW + 2999, "tok-1");
    expect_token(a, NOW + 3000, "tok-2");
    att_oauth_free(a);
}

static void test_errors(void **state)
{
    idp_t f;
    idp_init(&f);
    att_oauth_opts_t o = {
        .issuer = "https://idp.example/tenant", .client_id = "app", .client_secret = "wrong"};
    att_diag_t d;
    char *t;
    /* the provider refuses the client */
    f.tok_status = 401;
    f.tok_body = "{\"error\":\"invalid_client\",\"error_description\":\"client authentication "
                 "failed\"}";
    att_oauth_t *a = new_client(&f, &o);
    assert_int_equal(att_oauth_token(a, NOW, &t, &d), ATT_E_FETCH_STATUS);
    assert_null(t);
    assert_non_null(strstr(d.msg, "HTTP status 401"));
    assert_non_null(strstr(d.msg, "invalid_client: client authentication failed"));
    assert_non_null(strstr(d.msg, "https://idp.example/tenant/token"));
    att_oauth_free(a);
    /* not a bearer token, no access_token, non-JSON error */
    idp_init(&f);
    f.tok_body = "{\"access_token\":\"x\",\"token_type\":\"mac\"}";
    a = new_client(&f, &o);
    assert_int_equal(att_oauth_token(a, NOW, &t, &d), ATT_E_FETCH);
    assert_non_null(strstr(d.msg, "not Bearer"));
    f.tok_body = "{\"token_type\":\"Bearer\"}";
    assert_int_equal(att_oauth_token(a, NOW, &t, &d), ATT_E_FETCH);
    assert_non_null(strstr(d.msg, "no access_token"));
    f.tok_status = 503;
    f.tok_body = "upstream down";
    assert_int_equal(att_oauth_token(a, NOW, &t, &d), ATT_E_FETCH_STATUS);
    assert_non_null(strstr(d.msg, "HTTP status 503: upstream down"));
    att_oauth_free(a);
    /* expires_in as a string of digits (Entra ID v1) counts; anything else in a string does not */
    idp_init(&f);
    f.tok_body = "{\"access_token\":\"entra\",\"token_type\":\"Bearer\",\"expires_in\":\"3599\"}";
    a = new_client(&f, &o);
    expect_token(a, NOW, "entra");
    expect_token(a, NOW + 3599 - 61, "entra"); /* cached until 60 s before expiry */
    assert_int_equal(f.token, 1);
    expect_token(a, NOW + 3599 - 60, "entra");
    assert_int_equal(f.token, 2);
    const char *bad_exp[] = {"\"\"", "\"-5\"", "\"1e3\"", "\"36 00\"", "\"99999999999\"", "true"};
    char body[256];
    for (size_t i = 0; i < sizeof bad_exp / sizeof bad_exp[0]; i++) {
        snprintf(body, sizeof body, "{\"access_token\":\"x\",\"expires_in\":%s}", bad_exp[i]);
        f.tok_body = body;
        att_oauth_invalidate(a);
        assert_int_equal(att_oauth_token(a, NOW, &t, &d), ATT_E_FETCH);
        assert_non_null(strstr(d.msg, "expires_in"));
    }
    att_oauth_free(a);
    /* discovery: another issuer, and an error status */
    idp_init(&f);
    f.issuer = "https://evil.example";
    a = new_client(&f, &o);
    assert_int_equal(att_oauth_token(a, NOW, &t, &d), ATT_E_FETCH);
    assert_non_null(strstr(d.msg, "https://evil.example"));
    assert_int_equal(f.token, 0);
    att_oauth_free(a);
    idp_init(&f);
    f.disc_status = 404;
    a = new_client(&f, &o);
    assert_int_equal(att_oauth_token(a, NOW, &t, &d), ATT_E_FETCH_STATUS);
    assert_non_null(strstr(d.msg, "OpenID discovery"));
    assert_non_null(strstr(d.msg, "404"));
    att_oauth_free(a);
    /* arguments */
    att_oauth_opts_t bad = {.client_id = "x", .client_secret = "y"};
    assert_int_equal(att_oauth_new(&bad, &a, &d), ATT_E_ARG);
    assert_null(a);
    bad.issuer = "https://idp";
    bad.client_secret = NULL;
    assert_int_equal(att_oauth_new(&bad, &a, &d), ATT_E_ARG);
    assert_int_equal(att_oauth_new(NULL, &a, &d), ATT_E_ARG);
    assert_int_equal(att_oauth_token(NULL, NOW, &t, &d), ATT_E_ARG);
    att_oauth_invalidate(NULL);
    att_oauth_free(NULL);
}

static void test_real_http_refused(void **state)
{
    /* libcurl path: nothing listens on port 1 */
    att_oauth_opts_t o = {.token_url = "http://127.0.0.1:1/token",
                          .client_id = "app",
                          .client_secret = "pw",
                          .timeout_ms = 2000};
    att_oauth_t *a;
    att_diag_t d;
    char *t;
    assert_int_equal(att_oauth_new(&o, &a, &d), ATT_OK);
    assert_int_equal(att_oauth_token(a, NOW, &t, &d), ATT_E_FETCH);
    assert_non_null(strstr(d.msg, "POST http://127.0.0.1:1/token"));
    att_oauth_free(a);
    o.token_url = "file:///etc/passwd";
    assert_int_equal(att_oauth_new(&o, &a, &d), ATT_OK);
    assert_int_equal(att_oauth_token(a, NOW, &t, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "only http:// and https://"));
    att_oauth_free(a);
}

/* ---- issue 18.B5: discovery cannot steer the client secret away --------------------------- */

/* A loopback identity provider (lo_srv_t.arg): each request is answered, by path, with a
 * redirect, the discovery document or (to a POST) a token; it counts what it receives. */
typedef struct {
    const char *redirect_path; /* requests for this path ("*": any) are redirected... */
    char location[160];        /* ...to this Location */
    long redirect_status;      /* 0: 302 */
    char doc[512];             /* the answer to any other GET */
    int gets, posts;
    char resp[1024];
} idp_srv_t;

static const char *idp_answer(lo_srv_t *s, const char *req)
{
    idp_srv_t *f = s->arg;
    char method[8] = "", path[256] = "";
    sscanf(req, "%7s %255s", method, path);
    bool post = strcmp(method, "POST") == 0;
    post ? f->posts++ : f->gets++;
    if (f->redirect_path != NULL &&
        (strcmp(f->redirect_path, "*") == 0 || strcmp(f->redirect_path, path) == 0)) {
        snprintf(f->resp, sizeof f->resp,
                 "HTTP/1.1 %ld Moved\r\nLocation: %s\r\nContent-Length: 0\r\nConnection: "
                 "close\r\n\r\n",
                 f->redirect_status ? f->redirect_status : 302, f->location);
        return f->resp;
    }
    const char *body =
        post ? "{\"access_token\":\"tok\",\"token_type\":\"Bearer\",\"expires_in\":60}" : f->doc;
    snprintf(f->resp, sizeof f->resp,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             strlen(body), body);
    return f->resp;
}

/* A's discovery document itself names a token endpoint on B (another port): with no issuer, and
 * with A's issuer. The secret is not sent, and B is never contacted. */
static void test_discovery_origin(void **state)
{
    (void)state;
    idp_srv_t fa = {0}, fb = {0};
    lo_srv_t a, b;
    lo_start(&b, idp_answer, &fb);
    lo_start(&a, idp_answer, &fa);
    char issuer_a[64], origin_b[64];
    snprintf(issuer_a, sizeof issuer_a, "http://127.0.0.1:%d", a.port);
    snprintf(origin_b, sizeof origin_b, "http://127.0.0.1:%d", b.port);
    for (int i = 0; i < 2; i++) {
        if (i == 0)
            snprintf(fa.doc, sizeof fa.doc, "{\"token_endpoint\":\"%s/token\"}", origin_b);
        else
            snprintf(fa.doc, sizeof fa.doc, "{\"issuer\":\"%s\",\"token_endpoint\":\"%s/token\"}",
                     issuer_a, origin_b);
        att_oauth_opts_t o = {
            .issuer = issuer_a, .client_id = "app", .client_secret = "s3cret", .timeout_ms = 5000};
        att_oauth_t *c;
        att_diag_t d;
        char *t = NULL;
        assert_int_equal(att_oauth_new(&o, &c, &d), ATT_OK);
        assert_int_equal(att_oauth_token(c, NOW, &t, &d), ATT_E_FETCH);
        assert_null(t);
        assert_non_null(strstr(d.msg, i == 0 ? "issuer '(none)'" : "not on the issuer's origin"));
        assert_int_equal(fa.gets, i + 1);
        assert_int_equal(fa.posts, 0);
        att_oauth_free(c);
    }
    lo_stop(&a);
    lo_stop(&b);
    assert_int_equal(b.accepted, 0);
}

/* Issue 18.B5: discovery at A answered by a redirect to B (another port), whose document even
 * names A as issuer and A's token endpoint: the redirect is refused, naming its Location, and B
 * receives no request at all; for every redirect status. */
static void test_discovery_redirect_refused(void **state)
{
    (void)state;
    static const long statuses[] = {301, 302, 303, 307, 308};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        idp_srv_t fa = {.redirect_path = "*", .redirect_status = statuses[i]}, fb = {0};
        lo_srv_t a, b;
        lo_start(&b, idp_answer, &fb);
        lo_start(&a, idp_answer, &fa);
        char issuer_a[64], disc_a[128];
        snprintf(issuer_a, sizeof issuer_a, "http://127.0.0.1:%d", a.port);
        snprintf(disc_a, sizeof disc_a, "%s/.well-known/openid-configuration", issuer_a);
        snprintf(fa.location, sizeof fa.location,
                 "http://127.0.0.1:%d/.well-known/openid-configuration", b.port);
        snprintf(fb.doc, sizeof fb.doc, "{\"issuer\":\"%s\",\"token_endpoint\":\"%s/token\"}",
                 issuer_a, issuer_a);
        att_oauth_opts_t o = {
            .issuer = issuer_a, .client_id = "app", .client_secret = "s3cret", .timeout_ms = 5000};
        att_oauth_t *c;
        att_diag_t d;
        char *t = NULL;
        assert_int_equal(att_oauth_new(&o, &c, &d), ATT_OK);
        att_err_t e = att_oauth_token(c, NOW, &t, &d);
        lo_stop(&a);
        lo_stop(&b);
        if (e != ATT_E_FETCH_STATUS || b.accepted != 0 || strstr(d.msg, fa.location) == NULL ||
            strstr(d.msg, disc_a) == NULL || strstr(d.msg, "another origin") == NULL)
            fail_msg("HTTP %ld: %s, B got %d requests: %s", statuses[i], att_err_name(e),
                     b.accepted, d.msg);
        assert_null(t);
        assert_int_equal(a.accepted, 1);
        assert_null(att_oauth_token_endpoint(c));
        att_oauth_free(c);
    }
}

/* Redirects within the issuer's origin are followed (a relative Location), at most 3. */
static void test_discovery_redirect_same_origin(void **state)
{
    (void)state;
    idp_srv_t fa = {.redirect_path = "/.well-known/openid-configuration",
                    .location = "/moved/.well-known/openid-configuration"};
    lo_srv_t a;
    lo_start(&a, idp_answer, &fa);
    char issuer_a[64];
    snprintf(issuer_a, sizeof issuer_a, "http://127.0.0.1:%d", a.port);
    snprintf(fa.doc, sizeof fa.doc, "{\"issuer\":\"%s\",\"token_endpoint\":\"%s/token\"}", issuer_a,
             issuer_a);
    att_oauth_opts_t o = {
        .issuer = issuer_a, .client_id = "app", .client_secret = "s3cret", .timeout_ms = 5000};
    att_oauth_t *c;
    att_diag_t d;
    char *t = NULL;
    assert_int_equal(att_oauth_new(&o, &c, &d), ATT_OK);
    if (att_oauth_token(c, NOW, &t, &d) != ATT_OK)
        fail_msg("%s", d.msg);
    assert_string_equal(t, "tok");
    free(t);
    assert_int_equal(fa.gets, 2);
    assert_int_equal(fa.posts, 1);
    att_oauth_free(c);
    /* a redirect loop on the origin: 1 request and 3 redirects followed, then refused */
    fa.redirect_path = "*";
    snprintf(fa.location, sizeof fa.location, "%s/loop", issuer_a);
    fa.gets = 0;
    assert_int_equal(att_oauth_new(&o, &c, &d), ATT_OK);
    assert_int_equal(att_oauth_token(c, NOW, &t, &d), ATT_E_FETCH_STATUS);
    assert_null(t);
    assert_non_null(strstr(d.msg, "more than 3 redirects"));
    assert_int_equal(fa.gets, 4);
    att_oauth_free(c);
    lo_stop(&a);
}

/* The token POST carries the client secret: it follows no redirect at all, to another origin
 * (B never hears of it) or to its own. */
static void test_token_no_redirect(void **state)
{
    (void)state;
    for (int same = 0; same < 2; same++) {
        idp_srv_t fa = {.redirect_path = "/token", .redirect_status = 307}, fb = {0};
        lo_srv_t a, b;
        lo_start(&b, idp_answer, &fb);
        lo_start(&a, idp_answer, &fa);
        char token_a[64];
        snprintf(token_a, sizeof token_a, "http://127.0.0.1:%d/token", a.port);
        snprintf(fa.location, sizeof fa.location, "http://127.0.0.1:%d/token2",
                 same ? a.port : b.port);
        att_oauth_opts_t o = {.token_url = token_a,
                              .client_id = "app",
                              .client_secret = "s3cret",
                              .timeout_ms = 5000};
        att_oauth_t *c;
        att_diag_t d;
        char *t = NULL;
        assert_int_equal(att_oauth_new(&o, &c, &d), ATT_OK);
        assert_int_equal(att_oauth_token(c, NOW, &t, &d), ATT_E_FETCH_STATUS);
        assert_null(t);
        lo_stop(&a);
        lo_stop(&b);
        if (strstr(d.msg, fa.location) == NULL || strstr(d.msg, "follows no redirect") == NULL ||
            strstr(d.msg, "token request POST") == NULL || strstr(d.msg, "HTTP 307") == NULL)
            fail_msg("%s", d.msg);
        assert_int_equal(a.accepted, 1);
        assert_int_equal(b.accepted, 0);
        att_oauth_free(c);
    }
}

static void test_same_origin(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        bool same;
    } cases[] = {
        {"https://idp.example/t", "https://idp.example/other?x", true},
        {"https://idp.example/t", "https://IDP.example:443/", true},
        {"HTTP://idp.example", "http://idp.example:80/x", true},
        {"https://idp.example/t", "http://idp.example/t", false}, /* downgrade */
        {"http://idp.example/t", "https://idp.example/t", false}, /* another scheme */
        {"http://127.0.0.1:8080/", "http://127.0.0.1:8081/", false},
        {"https://idp.example/", "https://idp.example@evil.example/", false},
        {"https://idp.example/", "https://idp.example.evil.example/", false},
        {"https://idp.example/", "ftp://idp.example/", false},
        {"https://idp.example/", "/relative", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (att_client_same_origin(cases[i].a, cases[i].b) != cases[i].same)
            fail_msg("%s vs %s: want %s", cases[i].a, cases[i].b,
                     cases[i].same ? "same" : "different");
}

typedef struct {
    const char *doc;
    int posts;
} doc_t;

static att_err_t doc_fetch(void *arg, const att_client_req_t *rq, att_client_resp_t *rs,
                           att_diag_t *diag)
{
    (void)diag;
    doc_t *f = arg;
    const char *body = f->doc;
    if (strcmp(rq->method, "POST") == 0) {
        f->posts++;
        body = "{\"access_token\":\"t\",\"token_type\":\"Bearer\"}";
    }
    rs->status = 200;
    rs->body = strdup(body);
    rs->len = strlen(body);
    return ATT_OK;
}

static void test_discovery_no_downgrade(void **state)
{
    (void)state;
    static const struct {
        const char *doc, *why;
    } cases[] = {
        {"{\"issuer\":\"https://idp.example\",\"token_endpoint\":\"http://idp.example/token\"}",
         "no downgrade"},
        {"{\"issuer\":\"https://idp.example\",\"token_endpoint\":\"https://idp.example:8443/t\"}",
         "not on the issuer's origin"},
        {"{\"issuer\":\"https://idp.example\",\"token_endpoint\":\"https://idp.example@evil/t\"}",
         "not on the issuer's origin"},
        {"{\"issuer\":\"https://idp.example\",\"token_endpoint\":\"ftp://idp.example/t\"}",
         "not an http(s) URL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        doc_t f = {.doc = cases[i].doc};
        att_oauth_opts_t o = {
            .issuer = "https://idp.example", .client_id = "app", .client_secret = "pw"};
        att_oauth_t *c;
        att_diag_t d;
        char *t = NULL;
        assert_int_equal(att_oauth_new(&o, &c, &d), ATT_OK);
        att_oauth_set_fetch(c, doc_fetch, &f);
        assert_int_equal(att_oauth_token(c, NOW, &t, &d), ATT_E_FETCH);
        if (strstr(d.msg, cases[i].why) == NULL)
            fail_msg("case %zu: %s", i, d.msg);
        assert_int_equal(f.posts, 0);
        att_oauth_free(c);
    }
    /* the same origin, https: accepted */
    doc_t f = {.doc = "{\"issuer\":\"https://idp.example/\",\"token_endpoint\":"
                      "\"HTTPS://idp.example/oauth2/token\"}"};
    att_oauth_opts_t o = {
        .issuer = "https://idp.example", .client_id = "app", .client_secret = "pw"};
    att_oauth_t *c;
    att_diag_t d;
    char *t = NULL;
    assert_int_equal(att_oauth_new(&o, &c, &d), ATT_OK);
    att_oauth_set_fetch(c, doc_fetch, &f);
    assert_int_equal(att_oauth_token(c, NOW, &t, &d), ATT_OK);
    assert_int_equal(f.posts, 1);
    free(t);
    att_oauth_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discovery_and_cache),
        cmocka_unit_test(test_post_auth_and_params),
        cmocka_unit_test(test_expiry_variants),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_real_http_refused),
        cmocka_unit_test(test_discovery_origin),
        cmocka_unit_test(test_discovery_no_downgrade),
        cmocka_unit_test(test_discovery_redirect_refused),
        cmocka_unit_test(test_discovery_redirect_same_origin),
        cmocka_unit_test(test_token_no_redirect),
        cmocka_unit_test(test_same_origin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
