/* test_ops.c - issue 16's operator-facing pieces that need no server: options after the command
 * word, --trusted-proxy and the lingering options, the X-Forwarded-For walk (att_client_addr,
 * att_cidr_*), URL secrets hidden in logs (att_log_redact_urls), the process_* metrics and the
 * render hook of the metrics registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

static att_err_t load(att_config_t *c, att_diag_t *d, const char *const *args,
                      const char *const *env)
{
    char *argv[64] = {"attestd"};
    int argc = 1;
    for (size_t i = 0; args && args[i]; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    return att_config_load(c, argc, argv, (char **)env, d);
}

/* Options after the command act (issue 16: `keys rotate --data-dir X` used ./var, `keys rotate
 * --help` rotated); before this change options ended at the command word. */
static void test_options_after_command(void **state)
{
    (void)state;
    att_config_t c;
    att_diag_t d;
    const char *after[] = {"keys", "rotate", "--data-dir", "/srv/x", "--help", NULL};
    assert_int_equal(load(&c, &d, after, NULL), ATT_OK);
    assert_string_equal(c.data_dir, "/srv/x");
    assert_true(c.help);
    assert_int_equal(c.argc, 2);
    assert_string_equal(c.args[0], "keys");
    assert_string_equal(c.args[1], "rotate");
    att_config_free(&c);

    const char *between[] = {"keys", "--log-level", "warn", "rotate", NULL};
    assert_int_equal(load(&c, &d, between, NULL), ATT_OK);
    assert_int_equal(c.log_level, ATT_LOG_WARN);
    assert_int_equal(c.argc, 2);
    assert_string_equal(c.args[1], "rotate");
    att_config_free(&c);

    const char *unknown[] = {"keys", "rotate", "--nope", NULL};
    assert_int_equal(load(&c, &d, unknown, NULL), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "unknown option '--nope'"));

    const char *dashdash[] = {"--", "keys", "--data-dir", NULL};
    assert_int_equal(load(&c, &d, dashdash, NULL), ATT_OK);
    assert_int_equal(c.argc, 2);
    assert_string_equal(c.args[1], "--data-dir");
    att_config_free(&c);
}

static void test_new_options(void **state)
{
    (void)state;
    att_config_t c;
    att_diag_t d;
    assert_int_equal(load(&c, &d, NULL, NULL), ATT_OK);
    assert_int_equal(c.lingering_time, 30);
    assert_int_equal(c.lingering_timeout, 5);
    assert_int_equal(c.lingering_connections, 64);
    assert_int_equal(c.n_trusted_proxies, 0);
    att_config_free(&c);

    const char *args[] = {
        "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "::1", "--lingering-time", "0", NULL};
    assert_int_equal(load(&c, &d, args, NULL), ATT_OK);
    assert_int_equal(c.n_trusted_proxies, 2);
    assert_string_equal(c.trusted_proxies[1], "::1");
    assert_int_equal(c.lingering_time, 0);
    att_config_free(&c);

    const char *env[] = {"ATTESTD_TRUSTED_PROXY=192.0.2.1, fd00::/8", NULL};
    assert_int_equal(load(&c, &d, NULL, env), ATT_OK);
    assert_int_equal(c.n_trusted_proxies, 2);
    assert_string_equal(c.trusted_proxies[1], "fd00::/8");
    att_config_free(&c);

    const char *bad[][3] = {{"--trusted-proxy", "10.0.0.0/33", NULL},
                            {"--trusted-proxy", "example.com", NULL},
                            {"--trusted-proxy", "10.0.0.0/", NULL},
                            {"--lingering-timeout", "0", NULL},
                            {"--lingering-time", "601", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(load(&c, &d, bad[i], NULL), ATT_E_ARG);
        assert_non_null(strstr(d.msg, bad[i][0] + 2));
    }
}

static void test_client_addr(void **state)
{
    (void)state;
    att_cidr_t nets[2];
    assert_true(att_cidr_parse("127.0.0.0/8", &nets[0]));
    assert_true(att_cidr_parse("fd00::/8", &nets[1]));
    assert_true(att_cidr_match(nets, 2, "127.1.2.3"));
    assert_true(att_cidr_match(nets, 2, "::ffff:127.0.0.1")); /* mapped */
    assert_true(att_cidr_match(nets, 2, "fd12::1"));
    assert_false(att_cidr_match(nets, 2, "128.0.0.1"));
    assert_false(att_cidr_match(nets, 2, "fe80::1"));
    att_cidr_t one;
    assert_true(att_cidr_parse("192.0.2.7", &one));
    assert_int_equal(one.prefix, 32);
    assert_false(att_cidr_parse("192.0.2.7/x", &one));
    assert_false(att_cidr_parse("", &one));

    char out[64];
    /* an untrusted peer: its X-Forwarded-For is not believed */
    assert_string_equal(att_client_addr(nets, 2, "198.51.100.1", "203.0.113.9", out, sizeof out),
                        "198.51.100.1");
    /* trusted peer: the rightmost address not a trusted proxy (the left ones may be forged) */
    assert_string_equal(
        att_client_addr(nets, 2, "127.0.0.1", "1.2.3.4, 203.0.113.9, 127.0.0.5", out, sizeof out),
        "203.0.113.9");
    /* all trusted: the leftmost */
    assert_string_equal(att_client_addr(nets, 2, "127.0.0.1", "127.0.0.9,fd00::2", out, sizeof out),
                        "127.0.0.9");
    /* garbage stops the walk: what the last trusted hop said stands */
    assert_string_equal(
        att_client_addr(nets, 2, "127.0.0.1", "203.0.113.9, <script>, 127.0.0.2", out, sizeof out),
        "127.0.0.2");
    /* forms with ports and brackets */
    assert_string_equal(att_client_addr(nets, 2, "127.0.0.1", "[2001:db8::1]:443", out, sizeof out),
                        "2001:db8::1");
    assert_string_equal(att_client_addr(nets, 2, "127.0.0.1", "203.0.113.9:5555", out, sizeof out),
                        "203.0.113.9");
    /* none */
    assert_string_equal(att_client_addr(nets, 2, "127.0.0.1", NULL, out, sizeof out), "127.0.0.1");
    assert_string_equal(att_client_addr(NULL, 0, "127.0.0.1", "1.2.3.4", out, sizeof out),
                        "127.0.0.1");
}

static void test_redact_urls(void **state)
{
    (void)state;
    char out[256];
    assert_string_equal(att_log_redact_urls("GET https://u:pw@pccs.example:8081/sgx/x?fmspc=00A0"
                                            ": 503",
                                            out, sizeof out),
                        "GET https://***@pccs.example:8081/sgx/x?fmspc=00A0: 503");
    assert_string_equal(
        att_log_redact_urls("GET http://h/p?a=1&subscription-key=abc&api_token=t#f and more", out,
                            sizeof out),
        "GET http://h/p?a=1&subscription-key=***&api_token=***#f and more");
    assert_string_equal(att_log_redact_urls("no url here", out, sizeof out), "no url here");
    assert_string_equal(att_log_redact_urls("two http://a:b@x/ http://y/?sig=1", out, sizeof out),
                        "two http://***@x/ http://y/?sig=***");
    char small[8];
    assert_string_equal(att_log_redact_urls("http://a:b@x/", small, sizeof small), "http://");
}

static int g_hook_calls;
static att_metric_t *g_gauge;
static void hook(void *arg)
{
    (void)arg;
    g_hook_calls++;
    att_metric_set(g_gauge, 42, "dcap");
}

static void test_metrics_process_and_hook(void **state)
{
    (void)state;
    att_metrics_t *m = att_metrics_new();
    att_metrics_process(m);
    const char *l[] = {"source"};
    g_gauge = att_metrics_gauge(m, "t_age_seconds", "age", 1, l);
    att_metrics_on_render(m, hook, NULL);
    char *text = att_metrics_render(m);
    assert_non_null(text);
    assert_int_equal(g_hook_calls, 1);
    assert_non_null(strstr(text, "t_age_seconds{source=\"dcap\"} 42\n"));
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    const char *names[] = {"\nprocess_resident_memory_bytes ", "\nprocess_virtual_memory_bytes ",
                           "\nprocess_start_time_seconds ", "\nprocess_open_fds ",
                           "\nprocess_max_fds "}; /* the samples, not the HELP lines */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *p = strstr(text, names[i]);
        assert_non_null(p);
        assert_true(strtod(p + strlen(names[i]), NULL) > 0);
    }
    /* this test's open descriptors: stdin, stdout, stderr at least */
    const char *fds = strstr(text, "\nprocess_open_fds ");
    assert_true(strtod(fds + strlen("\nprocess_open_fds "), NULL) >= 3);
    free(text);
    att_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_after_command),
        cmocka_unit_test(test_new_options),
        cmocka_unit_test(test_client_addr),
        cmocka_unit_test(test_redact_urls),
        cmocka_unit_test(test_metrics_process_and_hook),
    };
    return cmocka_run_group_tests_name(ATT_TEST_NAME, tests, NULL, NULL);
}
