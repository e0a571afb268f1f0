/* test_store_url.c - store URLs (store.c): which forms name the SQLite store and which
 * directory, the schemes refused and how (postgresql:// goes to libpq, others named with the
 * accepted ones), att_store_url_for_dir giving back its directory exactly, att_store_open reaching
 * the same SQLite file as att_store_open_sqlite, and redaction: no message, at any buffer size,
 * shows a password. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "store.h"

#define SECRET "S3cr3t-pw"

static void expect_dir(const char *url, const char *dir)
{
    att_store_url_t u;
    att_diag_t d = {0};
    att_err_t e = att_store_url_parse(url, &u, &d);
    if (e != ATT_OK)
        fail_msg("%s: %s", url, d.msg);
    assert_int_equal(u.backend, ATT_STORE_URL_SQLITE);
    assert_string_equal(u.sqlite_dir, dir);
}

static void test_sqlite_forms(void **state)
{
    (void)state;
    expect_dir("sqlite:var", "var");
    expect_dir("sqlite:./var", "./var");
    expect_dir("sqlite:/var/lib/attestd", "/var/lib/attestd");
    expect_dir("SQLite:var", "var");                             /* schemes are case-insensitive */
    expect_dir("sqlite:///var/lib/attestd", "/var/lib/attestd"); /* empty authority */
    expect_dir("sqlite:a b?c=d#e%41", "a b?c=d#e%41"); /* verbatim: no query, no %-decoding */
    expect_dir("sqlite:sqlite:x", "sqlite:x");
}

/* ATT_E_ARG, *out untouched by a half-open store, and the message holds want. */
static void expect_refused(const char *url, att_err_t code, const char *want)
{
    att_store_t *st = (att_store_t *)1;
    att_diag_t d = {0};
    att_err_t e = att_store_open(url, &st, &d);
    if (e != code)
        fail_msg("%s: got %s (%s), wanted %s", url ? url : "(null)", att_err_name(e), d.msg,
                 att_err_name(code));
    assert_null(st);
    if (strstr(d.msg, want) == NULL)
        fail_msg("%s: message '%s' lacks '%s'", url ? url : "(null)", d.msg, want);
    assert_null(strstr(d.msg, SECRET));
    /* parsing alone says the same for ATT_E_ARG */
    if (code == ATT_E_ARG) {
        att_store_url_t u;
        att_diag_t d2 = {0};
        assert_int_equal(att_store_url_parse(url, &u, &d2), ATT_E_ARG);
        assert_string_equal(d2.msg, d.msg);
    }
}

static void test_refused(void **state)
{
    (void)state;
    expect_refused(NULL, ATT_E_ARG, "none given");
    expect_refused("", ATT_E_ARG, "accepted: sqlite:DIR");
    expect_refused("sqlite:", ATT_E_ARG, "names no directory");
    expect_refused("sqlite://", ATT_E_ARG, "names no directory");
    expect_refused("sqlite://var", ATT_E_ARG, "names a host");
    expect_refused("sqlite://u:" SECRET "@host/dir", ATT_E_ARG, "names a host");
    expect_refused("/var/lib/attestd", ATT_E_ARG,
                   "has no scheme: for a SQLite store in that directory write "
                   "sqlite:/var/lib/attestd");
    expect_refused("var", ATT_E_ARG, "has no scheme");
    expect_refused("1sqlite:var", ATT_E_ARG, "has no scheme");
    expect_refused("file:/var", ATT_E_ARG, "unknown scheme 'file'; accepted: sqlite:DIR");
    expect_refused("mysql://u:" SECRET "@h/db", ATT_E_ARG,
                   "store URL 'mysql://u:***@h/db': unknown scheme 'mysql'");
    expect_refused("host=db password=" SECRET, ATT_E_ARG, "'host=db password=***'");
    expect_refused("mysql://u:" SECRET "@h/db", ATT_E_ARG,
                   "postgresql://... or postgres://... (PostgreSQL, a libpq connection URI)");
    att_diag_t d = {0};
    assert_int_equal(att_store_open("sqlite:var", NULL, &d), ATT_E_ARG);
    assert_int_equal(att_store_url_parse("sqlite:var", NULL, &d), ATT_E_ARG);
}

/* postgresql:// URLs parse; opening one goes to libpq, and a server that cannot be reached is
 * ATT_E_STORE naming the URL without its password (port 9 on loopback: nothing listens). */
static void test_postgres_open(void **state)
{
    (void)state;
    const char *pg = "postgresql://alice:" SECRET "@127.0.0.1:9/attestd?sslmode=disable";
    expect_refused(pg, ATT_E_STORE, "store open on postgresql://alice:***@127.0.0.1:9/attestd");
    expect_refused(pg, ATT_E_STORE, "127.0.0.1");
    expect_refused("postgres://127.0.0.1:9/attestd?password=" SECRET, ATT_E_STORE,
                   "postgres://127.0.0.1:9/attestd?password=***");
    expect_refused("PostgreSQL://127.0.0.1:9/attestd", ATT_E_STORE, "store open on");
    /* libpq's own refusal of a URL it cannot read, which quotes the URL: password masked */
    expect_refused("postgresql://alice:" SECRET "@127.0.0.1:9/attestd?nosuch=1", ATT_E_STORE,
                   "nosuch");
    att_store_url_t u;
    att_diag_t d = {0};
    assert_int_equal(att_store_url_parse(pg, &u, &d), ATT_OK);
    assert_int_equal(u.backend, ATT_STORE_URL_POSTGRES);
    assert_null(u.sqlite_dir);
}

static void expect_redacted(const char *url, const char *want)
{
    char buf[256];
    assert_string_equal(att_store_url_redacted(url, buf, sizeof(buf)), want);
}

static void test_redaction(void **state)
{
    (void)state;
    expect_redacted("postgresql://alice:" SECRET "@db.example:5432/attestd",
                    "postgresql://alice:***@db.example:5432/attestd");
    expect_redacted("postgresql://:" SECRET "@db", "postgresql://:***@db");
    expect_redacted("postgres://alice@db/attestd", "postgres://alice@db/attestd"); /* no password */
    expect_redacted("postgresql://db:5432/attestd", "postgresql://db:5432/attestd");
    /* an unencoded '@' or '?' in the password (libpq reads the latter) is masked whole */
    expect_redacted("postgresql://alice:p@ss" SECRET "@db/x", "postgresql://alice:***@db/x");
    expect_redacted("postgresql://alice:p?ss" SECRET "@db/x", "postgresql://alice:***@db/x");
    /* query parameters and key=value connection strings */
    expect_redacted("postgresql://db/x?user=a&password=" SECRET "&sslmode=require",
                    "postgresql://db/x?user=a&password=***&sslmode=require");
    expect_redacted("postgresql://db/x?sslpassword=" SECRET, "postgresql://db/x?sslpassword=***");
    expect_redacted("postgresql://u:" SECRET "@db/x?PASSWORD=" SECRET,
                    "postgresql://u:***@db/x?PASSWORD=***");
    expect_redacted("host=db password = '" SECRET " \\' x' user=a",
                    "host=db password = *** user=a");
    expect_redacted("host=db password=" SECRET, "host=db password=***");
    expect_redacted("password=", "password=");
    /* nothing secret in a sqlite: URL */
    expect_redacted("sqlite:/var/lib/attestd", "sqlite:/var/lib/attestd");
    expect_redacted(NULL, "(none)");

    /* Every buffer size: NUL-terminated within it, a cut shown as "...", and never a piece
     * of the password. */
    const char *urls[] = {"postgresql://alice:" SECRET "@db.example:5432/attestd",
                          "postgresql://db/x?password=" SECRET "&a=b",
                          "host=db password='" SECRET "'"};
    for (size_t k = 0; k < sizeof(urls) / sizeof(urls[0]); k++) {
        size_t full = strlen(urls[k]) + 8;
        for (size_t n = 1; n <= full; n++) {
            char buf[128];
            memset(buf, 'Z', sizeof(buf));
            const char *r = att_store_url_redacted(urls[k], buf, n);
            assert_ptr_equal(r, buf);
            assert_true(strlen(buf) < n);
            assert_int_equal(buf[n], 'Z'); /* nothing written past n */
            assert_null(strstr(buf, "S3c"));
            char whole[256];
            att_store_url_redacted(urls[k], whole, sizeof(whole));
            if (strlen(whole) >= n && n > 3)
                assert_string_equal(buf + strlen(buf) - 3, "...");
        }
    }
    char one[1];
    assert_string_equal(att_store_url_redacted("x", one, 1), "");
    assert_string_equal(att_store_url_redacted("x", NULL, 0), "");
}

static void test_for_dir(void **state)
{
    (void)state;
    const char *dirs[] = {"var", "./var",    "/var/lib/attestd", "/", "//srv/x", "///x",
                          "a:b", "sqlite:x", "dir with space",   "-d"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char *url = att_store_url_for_dir(dirs[i]);
        assert_non_null(url);
        expect_dir(url, dirs[i]);
        free(url);
    }
    char *url = att_store_url_for_dir("/var/lib/attestd");
    assert_string_equal(url, "sqlite:/var/lib/attestd"); /* the plain form when it can be */
    free(url);
    assert_null(att_store_url_for_dir(NULL));
}

/* sqlite:DIR and sqlite:///DIR open the very store att_store_open_sqlite(DIR) opens. */
static void test_open_sqlite(void **state)
{
    (void)state;
    char base[] = "/tmp/att-store-url-XXXXXX";
    assert_non_null(mkdtemp(base));
    char dir[64], url[80], url3[80];
    snprintf(dir, sizeof(dir), "%s/data", base);
    snprintf(url, sizeof(url), "sqlite:%s", dir);
    snprintf(url3, sizeof(url3), "sqlite://%s", dir);
    att_diag_t d = {0};
    att_store_t *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(att_store_open(url, &a, &d), ATT_OK);
    assert_string_equal(a->ops->name, "sqlite");
    assert_int_equal(att_store_policy_put(a, "SgxEnclave", "via-url", &d), ATT_OK);
    att_store_close(a);
    assert_int_equal(att_store_open_sqlite(dir, &b, &d), ATT_OK);
    char *jws = NULL;
    assert_int_equal(att_store_policy_get(b, "SgxEnclave", &jws, &d), ATT_OK);
    assert_string_equal(jws, "via-url");
    free(jws);
    assert_int_equal(att_store_policy_put(b, "TdxVm", "via-dir", &d), ATT_OK);
    att_store_close(b);
    assert_int_equal(att_store_open(url3, &c, &d), ATT_OK);
    assert_int_equal(att_store_policy_get(c, "TdxVm", &jws, &d), ATT_OK);
    assert_string_equal(jws, "via-dir");
    free(jws);
    att_store_close(c);
    /* a SQLite failure keeps its own code and message through att_store_open */
    char file_url[96];
    snprintf(file_url, sizeof(file_url), "sqlite:%s/attestd.db", dir);
    assert_int_equal(att_store_open(file_url, &a, &d), ATT_E_STORE);
    assert_non_null(strstr(d.msg, "not a directory"));
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_forms),  cmocka_unit_test(test_refused),
        cmocka_unit_test(test_postgres_open), cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_for_dir),       cmocka_unit_test(test_open_sqlite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
