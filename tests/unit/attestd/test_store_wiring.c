/* test_store_wiring.c - attestd opens the store --store names: the service and `attestd keys
 * rotate` use that store and leave --data-dir alone, a postgresql:// store that cannot be reached
 * is refused at start without showing its password, and the start-up permission check looks at a
 * sqlite: URL's directory (named after the option that gave it). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "perms.h"
#include "routes.h"
#include "store.h"

typedef struct {
    char base[64];
    char a[96], b[96]; /* --store sqlite:A, --data-dir B (neither created yet) */
    char url[128];
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->base, sizeof(f->base), "/tmp/att-store-wiring-XXXXXX");
    if (mkdtemp(f->base) == NULL)
        return -1;
    snprintf(f->a, sizeof(f->a), "%s/a", f->base);
    snprintf(f->b, sizeof(f->b), "%s/b", f->base);
    snprintf(f->url, sizeof(f->url), "sqlite:%s", f->a);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->base);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static char *argv[32]; /* cfg.args borrows from it */

static void load(att_config_t *c, const char *const *args)
{
    argv[0] = "attestd";
    int argc = 1;
    for (size_t i = 0; args[i]; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    att_diag_t d;
    if (att_config_load(c, argc, argv, NULL, &d) != ATT_OK)
        fail_msg("config: %s", d.msg);
}

static bool exists(const char *dir, const char *name)
{
    char p[160];
    snprintf(p, sizeof(p), "%s%s%s", dir, name ? "/" : "", name ? name : "");
    return access(p, F_OK) == 0;
}

static size_t n_keys(const char *url)
{
    att_store_t *st = NULL;
    att_diag_t d;
    if (att_store_open(url, &st, &d) != ATT_OK)
        fail_msg("open %s: %s", url, d.msg);
    att_store_key_t *keys = NULL;
    size_t n = 0;
    assert_int_equal(att_store_key_list(st, &keys, &n, &d), ATT_OK);
    att_store_keys_free(keys, n);
    att_store_close(st);
    return n;
}

static void test_service_and_rotate_use_store(void **state)
{
    fx_t *f = *state;
    att_config_t c;
    load(&c, (const char *[]){"--listen", "127.0.0.1:0", "--store", f->url, "--data-dir", f->b,
                              "keys", "rotate", NULL});
    att_service_t *svc = NULL;
    att_diag_t d;
    if (att_service_new(&c, NULL, &svc, &d) != ATT_OK)
        fail_msg("service: %s", d.msg);
    att_service_free(svc);
    assert_true(exists(f->a, "attestd.db"));
    assert_false(exists(f->b, NULL));    /* --data-dir was not the database */
    assert_int_equal(n_keys(f->url), 1); /* the first start's key */

    assert_int_equal(att_service_command(c.argc, c.args, &c), 0);
    assert_int_equal(n_keys(f->url), 2);
    assert_false(exists(f->b, NULL));
    att_config_free(&c);

    /* without --store, --data-dir is the store, as before */
    load(&c, (const char *[]){"--listen", "127.0.0.1:0", "--data-dir", f->b, NULL});
    assert_int_equal(att_service_new(&c, NULL, &svc, &d), ATT_OK);
    att_service_free(svc);
    assert_true(exists(f->b, "attestd.db"));
    att_config_free(&c);
}

/* A PostgreSQL server that cannot be reached (nothing listens on 127.0.0.1:9): attestd and
 * `keys rotate` stop with the URL redacted and leave --data-dir alone. */
static void test_postgres_refused(void **state)
{
    fx_t *f = *state;
    att_config_t c;
    load(&c, (const char *[]){"--listen", "127.0.0.1:0", "--store",
                              "postgresql://attestd:S3cr3t@127.0.0.1:9/attestd", "--data-dir", f->b,
                              "keys", "rotate", NULL});
    att_service_t *svc = (att_service_t *)1;
    att_diag_t d;
    assert_int_equal(att_service_new(&c, NULL, &svc, &d), ATT_E_STORE); /* nothing on port 9 */
    assert_non_null(strstr(d.msg, "store open on"));
    assert_non_null(strstr(d.msg, "postgresql://attestd:***@127.0.0.1:9/attestd"));
    assert_null(strstr(d.msg, "S3cr3t"));
    assert_int_equal(att_service_command(c.argc, c.args, &c), 1);
    assert_false(exists(f->b, NULL));
    /* the permission check has no directory to look at */
    assert_int_equal(att_perms_check_store(c.store_url, c.data_dir, NULL, &d), ATT_OK);
    att_config_free(&c);
}

static void test_perms_store_dir(void **state)
{
    fx_t *f = *state;
    att_diag_t d;
    assert_int_equal(mkdir(f->a, 0700), 0);
    assert_int_equal(chmod(f->a, 0777), 0);
    assert_int_equal(mkdir(f->b, 0700), 0);
    /* --store's directory is the one checked, and named as such */
    assert_int_equal(att_perms_check_store(f->url, f->b, NULL, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "--store directory"));
    assert_non_null(strstr(d.msg, f->a));
    assert_non_null(strstr(d.msg, "signing keys"));
    /* the default store keeps the --data-dir wording */
    assert_int_equal(att_perms_check_store(f->url, f->a, NULL, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "--data-dir "));
    /* no URL: --data-dir itself */
    assert_int_equal(att_perms_check_store(NULL, f->b, NULL, &d), ATT_OK);
    assert_int_equal(chmod(f->a, 0700), 0);
    assert_int_equal(att_perms_check_store(f->url, f->b, NULL, &d), ATT_OK);
    assert_int_equal(att_perms_check_store("mysql://x", f->b, NULL, &d), ATT_E_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_service_and_rotate_use_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_postgres_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_perms_store_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
