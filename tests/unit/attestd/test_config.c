/* test_config.c - attestd options: defaults, precedence CLI > env > file > default, bad values. */
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

static char g_file[64];

static const char *write_file(const char *text)
{
    snprintf(g_file, sizeof(g_file), "/tmp/attestd-test-config-XXXXXX");
    int fd = mkstemp(g_file);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return g_file;
}

/* Load with argv (NULL-terminated, without argv[0]) and envp. */
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

static void test_defaults(void **state)
{
    att_config_t c;
    att_diag_t d;
    assert_int_equal(load(&c, &d, NULL, NULL), ATT_OK);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_string_equal(c.data_dir, "./var");
    assert_string_equal(c.issuer, "http://127.0.0.1:8080");
    assert_true(c.issuer_derived);
    assert_null(c.collateral_url);
    assert_null(c.collateral_dir);
    assert_int_equal(c.n_trust_roots, 0);
    assert_false(c.has_at);
    assert_null(c.isolated_signers);
    assert_null(c.tls_cert);
    assert_int_equal(c.token_lifetime, 28800);
    assert_string_equal(c.signing_alg, "RS256");
    assert_int_equal(c.threads, 0);
    assert_int_equal(c.max_body, 1 << 20);
    assert_int_equal(c.max_header, 16 << 10);
    assert_int_equal(c.max_connections, 1024);
    assert_int_equal(c.timeout, 30);
    assert_int_equal(c.log_level, ATT_LOG_INFO);
    assert_int_equal(c.argc, 0);
    assert_false(c.help);
    att_config_free(&c);
}

static void test_precedence(void **state)
{
    const char *file = write_file("# comment\n"
                                  "listen = 127.0.0.1:1001\n"
                                  "data-dir = /file/dir\n"
                                  "threads = 3\n"
                                  "signing-alg = \"ES256\"\n"
                                  "max-body = 512k\n"
                                  "trust-root = /file/a.pem\n"
                                  "trust-root = /file/b.pem\n"
                                  "  log-level=debug  \n"
                                  "\n");
    char cfgenv[128];
    snprintf(cfgenv, sizeof(cfgenv), "ATTESTD_CONFIG=%s", file);
    att_config_t c;
    att_diag_t d;

    /* file only */
    const char *env1[] = {cfgenv, NULL};
    assert_int_equal(load(&c, &d, NULL, env1), ATT_OK);
    assert_string_equal(c.config_file, file);
    assert_string_equal(c.listen, "127.0.0.1:1001");
    assert_string_equal(c.issuer, "http://127.0.0.1:1001");
    assert_string_equal(c.data_dir, "/file/dir");
    assert_int_equal(c.threads, 3);
    assert_string_equal(c.signing_alg, "ES256");
    assert_int_equal(c.max_body, 512 * 1024);
    assert_int_equal(c.n_trust_roots, 2);
    assert_string_equal(c.trust_roots[1], "/file/b.pem");
    assert_int_equal(c.log_level, ATT_LOG_DEBUG);
    assert_int_equal(c.timeout, 30); /* default */
    att_config_free(&c);

    /* env over file */
    const char *env2[] = {cfgenv,
                          "ATTESTD_LISTEN=127.0.0.1:2002",
                          "ATTESTD_THREADS=4",
                          "ATTESTD_TRUST_ROOT=/env/a.pem:/env/b.pem:/env/c.pem",
                          "ATTESTD_MAX_BODY=2M",
                          "ATTESTD_TOKEN_LIFETIME=60",
                          "OTHER=1",
                          NULL};
    assert_int_equal(load(&c, &d, NULL, env2), ATT_OK);
    assert_string_equal(c.listen, "127.0.0.1:2002");
    assert_int_equal(c.threads, 4);
    assert_int_equal(c.n_trust_roots, 3);
    assert_string_equal(c.trust_roots[2], "/env/c.pem");
    assert_int_equal(c.max_body, 2 << 20);
    assert_int_equal(c.token_lifetime, 60);
    assert_string_equal(c.data_dir, "/file/dir"); /* still from the file */
    att_config_free(&c);

    /* command line over env over file, both --opt VALUE and --opt=VALUE */
    const char *args[] = {
        "--listen", "127.0.0.1:3003",          "--threads=5", "--trust-root", "/cli/only.pem",
        "--issuer", "https://attest.example/", NULL};
    assert_int_equal(load(&c, &d, args, env2), ATT_OK);
    assert_string_equal(c.listen, "127.0.0.1:3003");
    assert_int_equal(c.threads, 5);
    assert_int_equal(c.n_trust_roots, 1);
    assert_string_equal(c.trust_roots[0], "/cli/only.pem");
    assert_string_equal(c.issuer, "https://attest.example"); /* trailing '/' dropped */
    assert_false(c.issuer_derived);
    assert_int_equal(c.token_lifetime, 60);      /* env */
    assert_string_equal(c.signing_alg, "ES256"); /* file */
    assert_int_equal(c.timeout, 30);             /* default */
    att_config_free(&c);

    /* --config on the command line beats ATTESTD_CONFIG */
    char other[64];
    snprintf(other, sizeof(other), "%s", file);
    const char *file2 = write_file("data-dir = /file2\n");
    const char *args2[] = {"--config", file2, NULL};
    const char *env3[] = {cfgenv, NULL};
    (void)other;
    assert_int_equal(load(&c, &d, args2, env3), ATT_OK);
    assert_string_equal(c.data_dir, "/file2");
    assert_int_equal(c.threads, 0);
    att_config_free(&c);
    unlink(file2);
    unlink(other);
}

static void test_all_options(void **state)
{
    const char *args[] = {"--data-dir",
                          "/d",
                          "--collateral-url",
                          "http://pccs.local:8081/sgx/certification/v4",
                          "--collateral-dir",
                          "/coll",
                          "--at",
                          "2025-07-01T00:00:00Z",
                          "--isolated-signers",
                          "/signers.pem",
                          "--tls-cert",
                          "/c.pem",
                          "--tls-key",
                          "/k.pem",
                          "--max-header",
                          "32k",
                          "--max-connections",
                          "7",
                          "--timeout",
                          "9",
                          "--log-level",
                          "warn",
                          "--listen",
                          "[::1]:0",
                          "keys",
                          "rotate",
                          NULL};
    att_config_t c;
    att_diag_t d;
    assert_int_equal(load(&c, &d, args, NULL), ATT_OK);
    assert_string_equal(c.collateral_url, "http://pccs.local:8081/sgx/certification/v4");
    assert_string_equal(c.collateral_dir, "/coll");
    assert_true(c.has_at);
    assert_int_equal(c.at, 1751328000);
    assert_string_equal(c.isolated_signers, "/signers.pem");
    assert_string_equal(c.tls_cert, "/c.pem");
    assert_string_equal(c.tls_key, "/k.pem");
    assert_int_equal(c.max_header, 32768);
    assert_int_equal(c.max_connections, 7);
    assert_int_equal(c.timeout, 9);
    assert_int_equal(c.log_level, ATT_LOG_WARN);
    assert_string_equal(c.listen_host, "::1");
    assert_string_equal(c.issuer, "https://[::1]:0"); /* TLS: https */
    assert_int_equal(att_config_set_port(&c, 4433, &d), ATT_OK);
    assert_string_equal(c.issuer, "https://[::1]:4433");
    assert_int_equal(c.argc, 2);
    assert_string_equal(c.args[0], "keys");
    assert_string_equal(c.args[1], "rotate");
    att_config_free(&c);

    const char *wild[] = {"--listen", "0.0.0.0:9090", "--help", NULL};
    assert_int_equal(load(&c, &d, wild, NULL), ATT_OK);
    assert_string_equal(c.issuer, "http://localhost:9090");
    assert_true(c.help);
    att_config_free(&c);

    const char *expl[] = {"--issuer", "http://maa.test", "--listen", "127.0.0.1:0", NULL};
    assert_int_equal(load(&c, &d, expl, NULL), ATT_OK);
    assert_int_equal(att_config_set_port(&c, 5555, &d), ATT_OK);
    assert_string_equal(c.issuer, "http://maa.test");
    att_config_free(&c);
}

static void expect_bad(const char *const *args, const char *const *env, const char *msg_part);

/* The TPM options: CA lists (repeatable), budgets with their defaults (docs/server.md). */
static void test_tpm_options(void **state)
{
    att_config_t c;
    att_diag_t d;
    assert_int_equal(load(&c, &d, NULL, NULL), ATT_OK);
    assert_int_equal(c.n_tpm_ak_cas, 0);
    assert_int_equal(c.tpm_max_log_bytes, 32u << 20);
    assert_int_equal(c.tpm_max_events, 100000);
    assert_int_equal(c.tpm_max_event_size, 1u << 20);
    assert_int_equal(c.tpm_max_custom_claims, 32);
    assert_int_equal(c.tpm_max_claim_bytes, 1024);
    assert_int_equal(c.tpm_max_chain, 8);
    assert_int_equal(c.tpm_ak_cache, 64);
    assert_int_equal(c.cache_pck_chains, 16384);
    assert_int_equal(c.cache_collateral, 16384);
    assert_int_equal(c.cache_snp_vcek, 16384);
    att_config_free(&c);
    const char *args[] = {"--tpm-ak-ca",
                          "/a1.pem",
                          "--tpm-ak-ca",
                          "/a2.pem",
                          "--tpm-ek-ca",
                          "/e.pem",
                          "--tpm-max-events",
                          "7",
                          "--tpm-max-log-bytes",
                          "2M",
                          "--tpm-max-event-size",
                          "4k",
                          "--tpm-max-custom-claims",
                          "3",
                          "--tpm-max-claim-bytes",
                          "100",
                          "--tpm-max-chain",
                          "2",
                          "--tpm-ak-cache",
                          "1",
                          NULL};
    assert_int_equal(load(&c, &d, args, NULL), ATT_OK);
    assert_int_equal(c.n_tpm_ak_cas, 2);
    assert_string_equal(c.tpm_ak_cas[1], "/a2.pem");
    assert_int_equal(c.n_tpm_ek_cas, 1);
    assert_string_equal(c.tpm_ek_cas[0], "/e.pem");
    assert_int_equal(c.tpm_max_events, 7);
    assert_int_equal(c.tpm_max_log_bytes, 2u << 20);
    assert_int_equal(c.tpm_max_event_size, 4096);
    assert_int_equal(c.tpm_max_custom_claims, 3);
    assert_int_equal(c.tpm_max_claim_bytes, 100);
    assert_int_equal(c.tpm_max_chain, 2);
    assert_int_equal(c.tpm_ak_cache, 1);
    att_config_free(&c);
    expect_bad((const char *[]){"--tpm-ak-cache", "0", NULL}, NULL, "tpm-ak-cache");
    expect_bad((const char *[]){"--tpm-ak-cache", "65537", NULL}, NULL, "tpm-ak-cache");
    assert_int_equal(load(&c, &d, (const char *[]){"--cache-pck-chains", "3", NULL}, NULL), ATT_OK);
    assert_int_equal(c.cache_pck_chains, 3);
    att_config_free(&c);
    expect_bad((const char *[]){"--cache-pck-chains", "0", NULL}, NULL, "cache-pck-chains");
    expect_bad((const char *[]){"--cache-pck-chains", "4194305", NULL}, NULL, "cache-pck-chains");
}

static void expect_bad(const char *const *args, const char *const *env, const char *msg_part)
{
    att_config_t c;
    att_diag_t d;
    att_err_t e = load(&c, &d, args, env);
    if (e != ATT_E_ARG)
        fail_msg("accepted (%d), wanted an error with '%s'", e, msg_part);
    if (!strstr(d.msg, msg_part))
        fail_msg("message '%s' lacks '%s'", d.msg, msg_part);
    /* cfg was freed; freeing again is harmless */
    att_config_free(&c);
}

static void test_bad_values(void **state)
{
    expect_bad((const char *[]){"--threads", "abc", NULL}, NULL, "invalid threads 'abc'");
    expect_bad((const char *[]){"--threads", "-1", NULL}, NULL, "non-negative integer");
    expect_bad((const char *[]){"--threads", "5000", NULL}, NULL, "between 0 and 1024");
    expect_bad((const char *[]){"--max-body", "10x", NULL}, NULL, "byte count");
    expect_bad((const char *[]){"--max-body", "0", NULL}, NULL, "between 1");
    expect_bad((const char *[]){"--token-lifetime", "0", NULL}, NULL, "token-lifetime");
    expect_bad((const char *[]){"--signing-alg", "HS256", NULL}, NULL, "RS256, PS256 or ES256");
    expect_bad((const char *[]){"--at", "yesterday", NULL}, NULL, "RFC 3339");
    expect_bad((const char *[]){"--listen", "nope", NULL}, NULL, "invalid listen 'nope'");
    expect_bad((const char *[]){"--listen", "127.0.0.1:99999", NULL}, NULL, "port");
    expect_bad((const char *[]){"--issuer", "ftp://x", NULL}, NULL, "http:// or https://");
    expect_bad((const char *[]){"--collateral-url", "pcs.local", NULL}, NULL, "collateral-url");
    expect_bad((const char *[]){"--log-level", "loud", NULL}, NULL, "debug, info, warn or error");
    expect_bad((const char *[]){"--data-dir", "", NULL}, NULL, "empty value");
    expect_bad((const char *[]){"--bogus", NULL}, NULL, "unknown option '--bogus'");
    expect_bad((const char *[]){"-x", NULL}, NULL, "unknown option '-x'");
    expect_bad((const char *[]){"--listen", NULL}, NULL, "needs a value");
    expect_bad((const char *[]){"--tls-cert", "/c.pem", NULL}, NULL, "together");
    expect_bad((const char *[]){"--config", "/nonexistent/attestd.conf", NULL}, NULL,
               "cannot read config file");
    /* the source is named */
    expect_bad(NULL, (const char *[]){"ATTESTD_TIMEOUT=soon", NULL}, "environment ATTESTD_TIMEOUT");
    const char *f = write_file("listen = 127.0.0.1:1\nwhatever = 1\n");
    char where[128];
    snprintf(where, sizeof(where), "%s:2: unknown option 'whatever'", f);
    expect_bad((const char *[]){"--config", f, NULL}, NULL, where);
    unlink(f);
    f = write_file("threads = many\n");
    snprintf(where, sizeof(where), "config file %s:1", f);
    expect_bad((const char *[]){"--config", f, NULL}, NULL, where);
    /* ... but a valid higher source hides a bad lower one */
    att_config_t c;
    att_diag_t d;
    assert_int_equal(load(&c, &d, (const char *[]){"--config", f, "--threads", "2", NULL}, NULL),
                     ATT_OK);
    assert_int_equal(c.threads, 2);
    att_config_free(&c);
    unlink(f);
    f = write_file("no equals sign\n");
    expect_bad((const char *[]){"--config", f, NULL}, NULL, "expected 'name = value'");
    unlink(f);
}

/* A flag (K_BOOL): no value on the command line, true/false elsewhere; off by default. */
static void test_flag(void **state)
{
    att_config_t c;
    att_diag_t d;
    assert_int_equal(load(&c, &d, NULL, NULL), ATT_OK);
    assert_false(c.allow_anonymous_admin);
    assert_int_equal(c.policy_jws_max_age, 0);
    att_config_free(&c);
    /* the flag must not swallow the next option as its value */
    assert_int_equal(
        load(&c, &d, (const char *[]){"--allow-anonymous-admin", "--threads", "3", NULL}, NULL),
        ATT_OK);
    assert_true(c.allow_anonymous_admin);
    assert_int_equal(c.threads, 3);
    att_config_free(&c);
    assert_int_equal(load(&c, &d, (const char *[]){"--allow-anonymous-admin=false", NULL}, NULL),
                     ATT_OK);
    assert_false(c.allow_anonymous_admin);
    att_config_free(&c);
    assert_int_equal(load(&c, &d, NULL,
                          (const char *[]){"ATTESTD_ALLOW_ANONYMOUS_ADMIN=yes",
                                           "ATTESTD_POLICY_JWS_MAX_AGE=300", NULL}),
                     ATT_OK);
    assert_true(c.allow_anonymous_admin);
    assert_int_equal(c.policy_jws_max_age, 300);
    att_config_free(&c);
    const char *f = write_file("allow-anonymous-admin = true\n");
    assert_int_equal(load(&c, &d, (const char *[]){"--config", f, NULL}, NULL), ATT_OK);
    assert_true(c.allow_anonymous_admin);
    att_config_free(&c);
    unlink(f);
    expect_bad((const char *[]){"--allow-anonymous-admin=maybe", NULL}, NULL, "true or false");
}

/* --store URL: defaults to "sqlite:" + --data-dir from whichever source set that; given, it
 * wins for the database and --data-dir keeps its value; checked here, shown only redacted. */
static void test_store(void **state)
{
    att_config_t c;
    att_diag_t d;
    assert_int_equal(load(&c, &d, NULL, NULL), ATT_OK);
    assert_string_equal(c.store_url, "sqlite:./var");
    att_config_free(&c);
    assert_int_equal(load(&c, &d, (const char *[]){"--data-dir", "/d", NULL}, NULL), ATT_OK);
    assert_string_equal(c.store_url, "sqlite:/d");
    att_config_free(&c);
    assert_int_equal(load(&c, &d, NULL, (const char *[]){"ATTESTD_DATA_DIR=/e", NULL}), ATT_OK);
    assert_string_equal(c.store_url, "sqlite:/e");
    att_config_free(&c);
    /* a directory that starts with // still names itself (not a host) */
    assert_int_equal(load(&c, &d, (const char *[]){"--data-dir", "//srv/x", NULL}, NULL), ATT_OK);
    assert_string_equal(c.store_url, "sqlite:////srv/x");
    att_config_free(&c);

    /* both given: --store names the database, --data-dir keeps what it holds */
    assert_int_equal(
        load(&c, &d, (const char *[]){"--data-dir", "/d", "--store", "sqlite:/s", NULL}, NULL),
        ATT_OK);
    assert_string_equal(c.store_url, "sqlite:/s");
    assert_string_equal(c.data_dir, "/d");
    att_config_free(&c);

    /* precedence: command line > environment > file, as every option */
    const char *f = write_file("store = sqlite:/file\ndata-dir = /fd\n");
    assert_int_equal(load(&c, &d, (const char *[]){"--config", f, NULL}, NULL), ATT_OK);
    assert_string_equal(c.store_url, "sqlite:/file");
    assert_string_equal(c.data_dir, "/fd");
    att_config_free(&c);
    const char *env[] = {"ATTESTD_STORE=sqlite:/env", NULL};
    assert_int_equal(load(&c, &d, (const char *[]){"--config", f, NULL}, env), ATT_OK);
    assert_string_equal(c.store_url, "sqlite:/env");
    att_config_free(&c);
    assert_int_equal(load(&c, &d, (const char *[]){"--config", f, "--store=sqlite:cli", NULL}, env),
                     ATT_OK);
    assert_string_equal(c.store_url, "sqlite:cli");
    att_config_free(&c);
    unlink(f);

    /* a PostgreSQL URL is well-formed here (libpq reads the rest when the store opens) */
    assert_int_equal(
        load(&c, &d, (const char *[]){"--store", "postgresql://u:S3cr3t@h/db", NULL}, NULL),
        ATT_OK);
    assert_string_equal(c.store_url, "postgresql://u:S3cr3t@h/db");
    att_config_free(&c);

    expect_bad((const char *[]){"--store", "", NULL}, NULL, "empty value");
    expect_bad((const char *[]){"--store", "sqlite:", NULL}, NULL, "names no directory");
    expect_bad((const char *[]){"--store", "sqlite://host/x", NULL}, NULL, "names a host");
    expect_bad((const char *[]){"--store", "/var/lib/attestd", NULL}, NULL,
               "write sqlite:/var/lib/attestd");
    expect_bad((const char *[]){"--store", "mysql://u:S3cr3t@h/db", NULL}, NULL,
               "invalid store (command line --store): store URL 'mysql://u:***@h/db': unknown "
               "scheme 'mysql'; accepted: sqlite:DIR");
    expect_bad(NULL, (const char *[]){"ATTESTD_STORE=mysql://u:S3cr3t@h/db", NULL},
               "environment ATTESTD_STORE");
    /* the password is in no message */
    assert_int_equal(load(&c, &d, (const char *[]){"--store", "mysql://u:S3cr3t@h/db", NULL}, NULL),
                     ATT_E_ARG);
    assert_null(strstr(d.msg, "S3cr3t"));
    assert_int_equal(
        load(&c, &d, (const char *[]){"--store", "host=h password=S3cr3t", NULL}, NULL), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "password=***"));
    assert_null(strstr(d.msg, "S3cr3t"));
}

static void test_usage(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    att_config_usage(m);
    fclose(m);
    const char *opts[] = {"--listen HOST:PORT",
                          "--data-dir DIR",
                          "--issuer URL",
                          "--collateral-url URL",
                          "--collateral-dir DIR",
                          "--trust-root FILE",
                          "--at RFC3339",
                          "--isolated-signers FILE",
                          "--tls-cert FILE",
                          "--tls-key FILE",
                          "--token-lifetime SECONDS",
                          "--signing-alg ALG",
                          "--threads N",
                          "--max-body BYTES",
                          "--max-header BYTES",
                          "--max-connections N",
                          "--timeout SECONDS",
                          "--log-level LEVEL",
                          "--config FILE",
                          "--allow-anonymous-admin ",
                          "--policy-jws-max-age SECONDS",
                          "ATTESTD_LISTEN",
                          "ATTESTD_TRUST_ROOT",
                          "default 28800",
                          "--help",
                          "--store URL",
                          "ATTESTD_STORE",
                          "--version"};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (!strstr(buf, opts[i]))
            fail_msg("usage lacks '%s'", opts[i]);
    free(buf);
}

/* --tcb-baseline TYPE=N: repeatable, the form checked here (the type by the service). */
static void test_tcb_baseline(void **state)
{
    (void)state;
    att_config_t c;
    att_diag_t d;
    assert_int_equal(load(&c, &d, NULL, NULL), ATT_OK);
    assert_int_equal(c.n_tcb_baselines, 0);
    att_config_free(&c);
    const char *args[] = {"--tcb-baseline", "SgxEnclave=17", "--tcb-baseline", "TdxVm=1073741824",
                          NULL};
    assert_int_equal(load(&c, &d, args, NULL), ATT_OK);
    assert_int_equal(c.n_tcb_baselines, 2);
    assert_string_equal(c.tcb_baselines[0], "SgxEnclave=17");
    assert_string_equal(c.tcb_baselines[1], "TdxVm=1073741824");
    att_config_free(&c);
    const char *env[] = {"ATTESTD_TCB_BASELINE=SgxEnclave=18:OpenEnclave=16", NULL};
    assert_int_equal(load(&c, &d, NULL, env), ATT_OK);
    assert_int_equal(c.n_tcb_baselines, 2);
    assert_string_equal(c.tcb_baselines[1], "OpenEnclave=16");
    att_config_free(&c);
    static const char *bad[] = {
        "SgxEnclave",     "SgxEnclave=",           "=17",           "SgxEnclave=0", "SgxEnclave=-1",
        "SgxEnclave=17x", "SgxEnclave=1073741825", "SgxEnclave= 17"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_bad((const char *[]){"--tcb-baseline", bad[i], NULL}, NULL, "want TYPE=N");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),     cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_all_options),  cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_usage),        cmocka_unit_test(test_flag),
        cmocka_unit_test(test_store),        cmocka_unit_test(test_tpm_options),
        cmocka_unit_test(test_tcb_baseline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
