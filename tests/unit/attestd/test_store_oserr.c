/* test_store_oserr.c - a failed store write names the operating system's error (regression for
 * tests/e2e/test_disk.py: on a file system the kernel turned read-only under the running server,
 * a policy PUT answered "disk I/O error (SQLite error 778); writing or reading the file failed
 * (disk full, file size limit or I/O error)", which sent the operator looking for a full disk).
 * SQLite reports every failed write() as SQLITE_IOERR_WRITE and, after a failed commit, leaves
 * sqlite3_system_errno() at 0; the store now adds errno's text and a hint chosen by it. EROFS
 * needs a mount (tests/e2e/test_disk.py); here EFBIG from RLIMIT_FSIZE, which root gets too. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

static void test_efbig_named(void **state)
{
    (void)state;
    char dir[] = "/tmp/store-oserr-XXXXXX";
    assert_non_null(mkdtemp(dir));
    att_store_t *st = NULL;
    att_diag_t d = {0};
    char url[64];
    snprintf(url, sizeof(url), "sqlite:%s", dir); /* as attestd opens it */
    assert_int_equal(att_store_open(url, &st, &d), ATT_OK);
    assert_int_equal(att_store_policy_put(st, "SgxEnclave", "before", &d), ATT_OK);

    size_t big_len = 2u << 20;
    uint8_t *big = malloc(big_len);
    assert_non_null(big);
    memset(big, 0x5a, big_len);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 512 * 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    att_err_t e = att_store_coll_put(st, "big", big, big_len, 1, &d);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, oldsig);

    print_message("write past the size limit: %s\n", d.msg);
    assert_int_equal(e, ATT_E_STORE);
    assert_non_null(strstr(d.msg, "store coll_put on "));
    assert_non_null(strstr(d.msg, "File too large"));  /* strerror(EFBIG) */
    assert_non_null(strstr(d.msg, "file size limit")); /* the hint EFBIG picks */
    assert_null(strstr(d.msg, "disk full"));           /* not the generic guess */

    /* the handle still works, and the write goes through with room again */
    char *jws = NULL;
    assert_int_equal(att_store_policy_get(st, "SgxEnclave", &jws, &d), ATT_OK);
    assert_string_equal(jws, "before");
    free(jws);
    assert_int_equal(att_store_coll_put(st, "big", big, big_len, 2, &d), ATT_OK);
    free(big);
    att_store_close(st);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_efbig_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
