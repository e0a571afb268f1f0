#define _GNU_SOURCE
/* test_http.c - the library's one HTTP helper (net/http.h) against net_server.py on loopback,
 * plain and over TLS with a certificate made by the test: same-origin redirects followed, a
 * redirect to another origin or from https to http refused with its target never asked, a
 * redirect loop stopped, the body cap (with and without Content-Length), the deadline (spent
 * before sending, and running out on a server that does not answer), Retry-After in seconds and
 * as an HTTP-date, captured headers and their cap, http refused unless allowed, TLS verified
 * (an unknown CA refused), POST with Basic credentials. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/pyserver.h"
#include "net/http.h"

#define SERVER ATT_TEST_DATA "/net_server.py"

typedef py_server_t srv_t; /* a net_server.py; stopped with py_server_stop */

static char tls_dir[] = "/tmp/net-http-XXXXXX";
static char cert[128], key[128];

static void srv_start(srv_t *s, bool tls)
{
    const char *tls_args[] = {"--tls", cert, key, NULL};
    char err[256];
    if (py_server_start(s, SERVER, tls ? tls_args : NULL, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static char *url(const srv_t *s, bool tls, const char *path)
{
    char *u = NULL;
    assert_true(asprintf(&u, "%s://127.0.0.1:%d%s", tls ? "https" : "http", s->port, path) > 0);
    return u;
}

/* The requests the server has seen (GET /count itself not counted). */
static int served(const srv_t *s, bool tls)
{
    char *u = url(s, tls, "/count");
    att_net_req_t rq = {.url = u, .allow_http = true, .ca_file = tls ? cert : NULL};
    att_net_resp_t rs;
    att_diag_t d;
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_OK);
    int n = atoi((char *)rs.body);
    att_net_resp_clear(&rs);
    free(u);
    return n;
}

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(tls_dir) == NULL)
        return -1;
    snprintf(cert, sizeof cert, "%s/cert.pem", tls_dir);
    snprintf(key, sizeof key, "%s/key.pem", tls_dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s "
             ">/dev/null 2>&1",
             key, cert);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tls_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A plain answer: status, body, a captured header; the helper's defaults. */
static void test_ok(void **state)
{
    (void)state;
    srv_t s;
    srv_start(&s, false);
    char *u = url(&s, false, "/ok");
    const char *const cap[] = {"X-Other", "x-test", NULL};
    att_net_req_t rq = {.url = u, .allow_http = true, .capture = cap};
    att_net_resp_t rs;
    att_diag_t d;
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_OK);
    assert_int_equal(rs.status, 200);
    assert_string_equal((char *)rs.body, "hello");
    assert_string_equal(rs.header, "value");
    assert_string_equal(rs.header_name, "x-test");
    assert_int_equal(rs.retry_after, -1);
    assert_int_equal(rs.requests, 1);
    att_net_resp_clear(&rs);
    free(u);
    py_server_stop(&s);
}

/* http:// is refused unless allowed, before any connection. */
static void test_http_needs_allowing(void **state)
{
    (void)state;
    srv_t s;
    srv_start(&s, false);
    char *u = url(&s, false, "/ok");
    att_net_req_t rq = {.url = u};
    att_net_resp_t rs;
    att_diag_t d;
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_E_FETCH);
    assert_int_equal(rs.fail, ATT_NET_BAD_URL);
    assert_non_null(strstr(d.msg, "not a usable https URL"));
    att_net_resp_clear(&rs);
    rq.url = "ftp://127.0.0.1/x";
    rq.allow_http = true;
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_E_FETCH);
    assert_int_equal(rs.fail, ATT_NET_BAD_URL);
    att_net_resp_clear(&rs);
    assert_int_equal(served(&s, false), 0);
    free(u);
    py_server_stop(&s);
}

/* Redirects: within the origin followed (up to max_redirects, a loop stopped there); to another
 * origin not followed, its server never asked; none at all with max_redirects 0. */
static void test_redirects(void **state)
{
    (void)state;
    srv_t a, b;
    srv_start(&a, false);
    srv_start(&b, false);
    char *ok_b = url(&b, false, "/ok"), *ok_a = url(&a, false, "/ok");
    char path[256];
    snprintf(path, sizeof path, "/redirect?to=%s", ok_a);
    char *same = url(&a, false, path);
    snprintf(path, sizeof path, "/redirect?to=%s", ok_b);
    char *other = url(&a, false, path);
    att_net_req_t rq = {.url = same, .allow_http = true, .max_redirects = 3};
    att_net_resp_t rs;
    att_diag_t d;
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_OK);
    assert_int_equal(rs.status, 200);
    assert_string_equal(rs.url, ok_a);
    assert_int_equal(rs.requests, 2);
    att_net_resp_clear(&rs);

    rq.url = other;
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_OK);
    assert_int_equal(rs.status, 302);
    assert_int_equal(rs.redirect, ATT_NET_REDIR_ORIGIN);
    assert_string_equal(rs.location, ok_b);
    assert_non_null(strstr(rs.redirect_refused, "another origin"));
    att_net_resp_clear(&rs);
    assert_int_equal(served(&b, false), 0);

    char *loop = url(&a, false, "/loop");
    rq.url = loop;
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_OK);
    assert_int_equal(rs.status, 302);
    assert_int_equal(rs.redirect, ATT_NET_REDIR_TOO_MANY);
    assert_int_equal(rs.requests, 4); /* the first and 3 redirects */
    att_net_resp_clear(&rs);

    rq.url = same;
    rq.max_redirects = 0;
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_OK);
    assert_int_equal(rs.redirect, ATT_NET_REDIR_NOT_ALLOWED);
    assert_int_equal(rs.requests, 1);
    att_net_resp_clear(&rs);
    free(ok_a), free(ok_b), free(same), free(other), free(loop);
    py_server_stop(&a);
    py_server_stop(&b);
}

/* TLS: verified against ca_file; https to http refused even on the same host and port, the
 * http server never asked; a server whose CA is not trusted is refused. */
static void test_tls(void **state)
{
    (void)state;
    srv_t t, p;
    srv_start(&t, true);
    srv_start(&p, false);
    char *ok = url(&t, true, "/ok");
    att_net_req_t rq = {.url = ok, .ca_file = cert};
    att_net_resp_t rs;
    att_diag_t d;
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_OK);
    assert_int_equal(rs.status, 200);
    att_net_resp_clear(&rs);

    char path[256], *plain = url(&p, false, "/ok");
    snprintf(path, sizeof path, "/redirect?to=%s", plain);
    char *down = url(&t, true, path);
    rq = (att_net_req_t){.url = down, .ca_file = cert, .allow_http = true, .max_redirects = 3};
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_OK);
    assert_int_equal(rs.status, 302);
    assert_int_equal(rs.redirect, ATT_NET_REDIR_DOWNGRADE);
    assert_non_null(strstr(rs.redirect_refused, "no downgrade"));
    att_net_resp_clear(&rs);
    assert_int_equal(served(&p, false), 0);

    rq = (att_net_req_t){.url = ok}; /* the system's CAs: the test's certificate is unknown */
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_E_FETCH);
    assert_int_equal(rs.fail, ATT_NET_TRANSPORT);
    att_net_resp_clear(&rs);
    free(ok), free(plain), free(down);
    py_server_stop(&t);
    py_server_stop(&p);
}

/* The body cap, announced by Content-Length or found while reading a chunked body. */
static void test_body_cap(void **state)
{
    (void)state;
    srv_t s;
    srv_start(&s, false);
    const char *paths[] = {"/big?n=5000", "/chunked?n=300000"};
    for (int i = 0; i < 2; i++) {
        char *u = url(&s, false, paths[i]);
        att_net_req_t rq = {.url = u, .allow_http = true, .max_body = 4096};
        att_net_resp_t rs;
        att_diag_t d;
        assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_E_FETCH);
        assert_int_equal(rs.fail, ATT_NET_TOO_LARGE);
        assert_non_null(strstr(d.msg, "body exceeds 4096 bytes"));
        assert_null(rs.body);
        att_net_resp_clear(&rs);
        rq.max_body = 400000; /* the control: under the cap */
        assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_OK);
        assert_int_equal(rs.len, i == 0 ? 5000 : 300000);
        att_net_resp_clear(&rs);
        free(u);
    }
    py_server_stop(&s);
}

/* The deadline: passed before sending (nothing sent), and reached while the server holds the
 * answer (a timeout, not a wait for the server's 30 s). */
static void test_deadline(void **state)
{
    (void)state;
    srv_t s;
    srv_start(&s, false);
    char *u = url(&s, false, "/ok");
    att_net_req_t rq = {.url = u, .allow_http = true, .deadline_ms = att_net_mono_ms() - 1};
    att_net_resp_t rs;
    att_diag_t d;
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_E_FETCH);
    assert_int_equal(rs.fail, ATT_NET_NOT_SENT);
    assert_int_equal(rs.requests, 0);
    att_net_resp_clear(&rs);
    assert_int_equal(served(&s, false), 0);
    free(u);
    u = url(&s, false, "/hang");
    rq = (att_net_req_t){.url = u, .allow_http = true, .deadline_ms = att_net_mono_ms() + 500};
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_E_FETCH);
    assert_int_equal(rs.fail, ATT_NET_TIMEOUT);
    att_net_resp_clear(&rs);
    free(u);
    py_server_stop(&s);
}

/* Retry-After in seconds, and as an HTTP-date taken relative to the answer's Date. */
static void test_retry_after(void **state)
{
    (void)state;
    srv_t s;
    srv_start(&s, false);
    const char *paths[] = {"/retry-secs", "/retry-date"};
    const long status[] = {503, 429};
    const int64_t want[] = {7, 120};
    for (int i = 0; i < 2; i++) {
        char *u = url(&s, false, paths[i]);
        att_net_req_t rq = {.url = u, .allow_http = true};
        att_net_resp_t rs;
        att_diag_t d;
        assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_OK);
        assert_int_equal(rs.status, status[i]);
        assert_int_equal(rs.retry_after, want[i]);
        att_net_resp_clear(&rs);
        free(u);
    }
    py_server_stop(&s);
}

/* A captured header over max_header is not kept, and says so. */
static void test_header_cap(void **state)
{
    (void)state;
    srv_t s;
    srv_start(&s, false);
    char *u = url(&s, false, "/longheader?n=3000");
    const char *const cap[] = {"X-Test", NULL};
    att_net_req_t rq = {.url = u, .allow_http = true, .capture = cap, .max_header = 2048};
    att_net_resp_t rs;
    att_diag_t d;
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_OK);
    assert_true(rs.header_over);
    assert_null(rs.header);
    att_net_resp_clear(&rs);
    rq.max_header = 4096;
    assert_int_equal(att_net_request(NULL, &rq, &rs, &d), ATT_OK);
    assert_false(rs.header_over);
    assert_int_equal(strlen(rs.header), 3000);
    att_net_resp_clear(&rs);
    free(u);
    py_server_stop(&s);
}

/* POST with a body and Basic credentials, on a kept connection reused by a GET. */
static void test_post_and_conn(void **state)
{
    (void)state;
    srv_t s;
    srv_start(&s, false);
    char *u = url(&s, false, "/echo");
    const char *const cap[] = {"X-Auth", NULL};
    att_net_conn_t *c;
    att_diag_t d;
    assert_int_equal(att_net_conn_new(&c, &d), ATT_OK);
    att_net_req_t rq = {.method = "POST",
                        .url = u,
                        .allow_http = true,
                        .body = "a=1&b=2",
                        .body_len = 7,
                        .basic_user = "app",
                        .basic_pass = "pw",
                        .capture = cap};
    att_net_resp_t rs;
    assert_int_equal(att_net_request(c, &rq, &rs, &d), ATT_OK);
    assert_string_equal((char *)rs.body, "a=1&b=2");
    assert_string_equal(rs.header, "Basic YXBwOnB3");
    att_net_resp_clear(&rs);
    char *ok = url(&s, false, "/ok");
    rq = (att_net_req_t){.url = ok, .allow_http = true};
    assert_int_equal(att_net_request(c, &rq, &rs, &d), ATT_OK); /* a GET after the POST */
    assert_string_equal((char *)rs.body, "hello");
    att_net_resp_clear(&rs);
    rq.method = "DELETE";
    assert_int_equal(att_net_request(c, &rq, &rs, &d), ATT_E_ARG);
    att_net_resp_clear(&rs);
    /* PUT sends its body as POST does, with its own method (attest policy set) */
    const char *const cap2[] = {"X-Method", NULL};
    rq = (att_net_req_t){.method = "PUT",
                         .url = u,
                         .allow_http = true,
                         .body = "p=1",
                         .body_len = 3,
                         .capture = cap2};
    assert_int_equal(att_net_request(c, &rq, &rs, &d), ATT_OK);
    assert_string_equal((char *)rs.body, "p=1");
    assert_string_equal(rs.header, "PUT");
    att_net_resp_clear(&rs);
    att_net_conn_free(c);
    free(u);
    free(ok);
    py_server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_http_needs_allowing),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_body_cap),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_header_cap),
        cmocka_unit_test(test_post_and_conn),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
