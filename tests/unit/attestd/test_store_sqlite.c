/* test_store_sqlite.c - what only the SQLite backend does (the contract every backend meets is
 * test_store_contract.c): its opener's arguments, the tables behind the operations, schema
 * migrations (none applied twice, a too-new schema refused), WAL mode, a file that is not a
 * database, file modes, read-only and full storage, and kill -9 after an acknowledged write. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

/* ---- fixture: a fresh temporary directory per test ---------------------------------------- */

typedef struct {
    char base[64]; /* mkdtemp */
    char dir[128]; /* base/data: the store's DIR, not created yet */
    char db[160];  /* dir/attestd.db */
} fx_t;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    if (flag == FTW_D || flag == FTW_DP || flag == FTW_DNR)
        chmod(p, 0700);
    return remove(p);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->base, sizeof(f->base), "/tmp/att-store-XXXXXX");
    if (mkdtemp(f->base) == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/data", f->base);
    snprintf(f->db, sizeof(f->db), "%s/attestd.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    chmod(f->base, 0700);
    chmod(f->dir, 0700);
    nftw(f->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static att_store_t *open_ok(const fx_t *f)
{
    att_store_t *st = NULL;
    att_diag_t d = {0};
    att_err_t e = att_store_open_sqlite(f->dir, &st, &d);
    if (e != ATT_OK)
        print_error("open: %s: %s\n", att_err_name(e), d.msg);
    assert_int_equal(e, ATT_OK);
    assert_non_null(st);
    assert_string_equal(st->ops->name, "sqlite");
    return st;
}

/* Raw SQL against the file, for what the API cannot do (tamper with the schema). */
static void raw_exec(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        print_error("%s: %s\n", sql, err);
    sqlite3_free(err);
    assert_int_equal(rc, SQLITE_OK);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
}

static long long raw_int(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    long long v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(h);
    return v;
}

static void raw_text(const char *db, const char *sql, char *out, size_t n)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    snprintf(out, n, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(h);
}

/* ---- the opener and the tables behind the operations ---------------------------------------- */

static void test_open_args(void **state)
{
    fx_t *f = *state;
    att_store_t *st = NULL;
    att_diag_t d = {0};
    assert_int_equal(att_store_open_sqlite(NULL, &st, &d), ATT_E_ARG);
    assert_int_equal(att_store_open_sqlite("", &st, &d), ATT_E_ARG);
    assert_int_equal(att_store_open_sqlite(f->dir, NULL, &d), ATT_E_ARG);
}

/* One row per policy type, per collateral key and per signed request, and a policy's wall-clock
 * update time (the operations themselves: test_store_contract.c). */
static void test_tables(void **state)
{
    fx_t *f = *state;
    att_store_t *st = open_ok(f);
    att_diag_t d = {0};
    assert_int_equal(att_store_policy_put(st, "SgxEnclave", "eyJhbGciOiJub25lIn0.e30.", &d),
                     ATT_OK);
    assert_int_equal(att_store_policy_put(st, "TdxVm", "tdx-1", &d), ATT_OK);
    assert_int_equal(att_store_policy_put(st, "SgxEnclave", "second", &d), ATT_OK);
    assert_int_equal(raw_int(f->db, "SELECT COUNT(*) FROM policies"), 2);
    assert_true(raw_int(f->db, "SELECT updated FROM policies WHERE attestation_type='TdxVm'") >
                1700000000);

    uint8_t bin[300];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (uint8_t)(i * 7);
    assert_int_equal(att_store_coll_put(st, "k", bin, sizeof(bin), 1751328000, &d), ATT_OK);
    assert_int_equal(att_store_coll_put(st, "k", (const uint8_t *)"xyz", 3, 1751400000, &d),
                     ATT_OK);
    assert_int_equal(raw_int(f->db, "SELECT COUNT(*) FROM collateral"), 1);

    char *prev = NULL;
    att_time_t at = 0;
    assert_int_equal(
        att_store_request_use(st, "aa11", "policy.set SgxEnclave", 100, &prev, &at, &d), ATT_OK);
    assert_int_equal(
        att_store_request_use(st, "aa11", "policy.reset SgxEnclave", 200, &prev, &at, &d), ATT_OK);
    free(prev);
    assert_int_equal(att_store_request_use(st, "bb22", "certificates.add", 300, &prev, &at, &d),
                     ATT_OK);
    assert_int_equal(raw_int(f->db, "SELECT COUNT(*) FROM signed_requests"), 2);
    att_store_close(st);
}

/* ---- persistence and schema ---------------------------------------------------------------- */

static void test_reopen_migrations(void **state)
{
    fx_t *f = *state;
    att_diag_t d = {0};
    att_store_t *st = open_ok(f);
    assert_int_equal(att_store_policy_put(st, "TdxVm", "policy-tdx", &d), ATT_OK);
    att_store_close(st);

    /* opening twice applies no migration again */
    for (int round = 0; round < 2; round++) {
        st = open_ok(f);
        assert_int_equal(raw_int(f->db, "SELECT COUNT(*) FROM schema_version"),
                         att_store_schema_version());
        assert_int_equal(raw_int(f->db, "SELECT MAX(version) FROM schema_version"),
                         att_store_schema_version());
        att_store_close(st);
    }

    char mode[16];
    raw_text(f->db, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
}

static void test_schema_too_new(void **state)
{
    fx_t *f = *state;
    att_diag_t d = {0};
    att_store_t *st = open_ok(f);
    assert_int_equal(att_store_policy_put(st, "SgxEnclave", "kept", &d), ATT_OK);
    att_store_close(st);

    char sql[128];
    int newer = att_store_schema_version() + 1;
    snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES (%d, 0)", newer);
    raw_exec(f->db, sql);

    st = (att_store_t *)1;
    assert_int_equal(att_store_open_sqlite(f->dir, &st, &d), ATT_E_STORE_SCHEMA);
    assert_null(st);
    char want[64];
    snprintf(want, sizeof(want), "schema version %d", newer);
    assert_non_null(strstr(d.msg, want));
    assert_non_null(strstr(d.msg, "newer"));
    assert_non_null(strstr(d.msg, f->db));

    /* the refused open changed nothing */
    assert_int_equal(raw_int(f->db, "SELECT COUNT(*) FROM schema_version"), newer);
    assert_int_equal(raw_int(f->db, "SELECT COUNT(*) FROM policies"), 1);

    /* and once the newer row is gone (a downgrade undone), it opens again */
    snprintf(sql, sizeof(sql), "DELETE FROM schema_version WHERE version = %d", newer);
    raw_exec(f->db, sql);
    att_store_close(open_ok(f));
}

static void test_not_a_database(void **state)
{
    fx_t *f = *state;
    att_diag_t d = {0};
    assert_int_equal(mkdir(f->dir, 0700), 0);
    FILE *fp = fopen(f->db, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database\n", fp);
    fclose(fp);
    att_store_t *st = NULL;
    assert_int_equal(att_store_open_sqlite(f->dir, &st, &d), ATT_E_STORE);
    assert_null(st);
    assert_non_null(strstr(d.msg, f->db));
    assert_non_null(strstr(d.msg, "not a database"));

    /* DIR that is a file */
    assert_int_equal(att_store_open_sqlite(f->db, &st, &d), ATT_E_STORE);
    assert_non_null(strstr(d.msg, "not a directory"));
}

/* ---- files, permissions, read-only and full storage ---------------------------------------- */

static mode_t mode_of(const char *p)
{
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    return sb.st_mode & 07777;
}

static void test_file_modes(void **state)
{
    fx_t *f = *state;
    mode_t old = umask(0); /* the modes must not depend on a restrictive umask */
    att_store_t *st = open_ok(f);
    att_diag_t d = {0};
    assert_int_equal(att_store_policy_put(st, "SgxEnclave", "x", &d), ATT_OK);
    assert_int_equal(mode_of(f->dir), 0700);
    assert_int_equal(mode_of(f->db), 0600);
    char p[200];
    snprintf(p, sizeof(p), "%s-wal", f->db);
    assert_int_equal(mode_of(p), 0600);
    snprintf(p, sizeof(p), "%s-shm", f->db);
    assert_int_equal(mode_of(p), 0600);
    att_store_close(st);
    umask(old);

    /* an existing DIR keeps its mode (the operator's choice) */
    assert_int_equal(chmod(f->dir, 0750), 0);
    att_store_close(open_ok(f));
    assert_int_equal(mode_of(f->dir), 0750);
}

/* Run fn in a child (as `nobody` when we are root, so that permissions bite); the child writes
 * its diag message into msg. Returns the child's exit status. */
static int as_unprivileged(int (*fn)(const fx_t *, char *, size_t), const fx_t *f, char *msg,
                           size_t n)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        if (geteuid() == 0) {
            struct passwd *pw = getpwnam("nobody");
            uid_t uid = pw ? pw->pw_uid : 65534;
            gid_t gid = pw ? pw->pw_gid : 65534;
            if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
                _exit(100);
        }
        char buf[600] = "";
        int rc = fn(f, buf, sizeof(buf));
        ssize_t w = write(pfd[1], buf, strlen(buf));
        (void)w;
        _exit(rc);
    }
    close(pfd[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < n && (r = read(pfd[0], msg + got, n - 1 - got)) > 0)
        got += (size_t)r;
    msg[got] = '\0';
    close(pfd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* 0: open failed with ATT_E_STORE and a message; 1: it opened; 2: another error. */
static int try_open(const fx_t *f, char *msg, size_t n)
{
    att_store_t *st = NULL;
    att_diag_t d = {0};
    att_err_t e = att_store_open_sqlite(f->dir, &st, &d);
    snprintf(msg, n, "%s", d.msg);
    if (e == ATT_OK) {
        att_store_close(st);
        return 1;
    }
    return e == ATT_E_STORE && d.msg[0] ? 0 : 2;
}

/* 0: a write failed with ATT_E_STORE (reads still work); 1: the write succeeded; 2: else. */
static int try_write_readonly_file(const fx_t *f, char *msg, size_t n)
{
    att_store_t *st = NULL;
    att_diag_t d = {0};
    att_err_t e = att_store_open_sqlite(f->dir, &st, &d);
    if (e != ATT_OK) {
        snprintf(msg, n, "%s", d.msg);
        return e == ATT_E_STORE && d.msg[0] ? 0 : 2;
    }
    e = att_store_policy_put(st, "SgxEnclave", "y", &d);
    snprintf(msg, n, "%s", d.msg);
    att_store_close(st);
    return e == ATT_OK ? 1 : e == ATT_E_STORE ? 0 : 2;
}

static void chown_tree_to_nobody(const fx_t *f)
{
    if (geteuid() != 0)
        return;
    struct passwd *pw = getpwnam("nobody");
    uid_t uid = pw ? pw->pw_uid : 65534;
    gid_t gid = pw ? pw->pw_gid : 65534;
    assert_int_equal(chmod(f->base, 0755), 0); /* nobody must be able to reach DIR */
    assert_int_equal(chown(f->dir, uid, gid), 0);
    if (access(f->db, F_OK) == 0)
        assert_int_equal(chown(f->db, uid, gid), 0);
}

static void test_read_only(void **state)
{
    /* Root ignores file modes, so as root the checks run in a child that drops to `nobody`;
     * otherwise in a child as ourselves. */
    fx_t *f = *state;
    char msg[600];
    if (geteuid() == 0 && getpwnam("nobody") == NULL)
        print_message("no user nobody: using uid 65534\n");

    /* 1. DIR not writable, no database yet: cannot create it. */
    assert_int_equal(mkdir(f->dir, 0700), 0);
    chown_tree_to_nobody(f);
    assert_int_equal(chmod(f->dir, 0500), 0);
    int rc = as_unprivileged(try_open, f, msg, sizeof(msg));
    if (rc == 100) {
        print_message("cannot drop root privileges here: read-only checks skipped\n");
        skip();
    }
    assert_int_equal(rc, 0);
    print_message("read-only DIR, no db: %s\n", msg);
    assert_non_null(strstr(msg, "cannot create"));
    assert_non_null(strstr(msg, f->db));

    /* 2. A database written earlier, then DIR made read-only: WAL files cannot be created. */
    assert_int_equal(chmod(f->dir, 0700), 0);
    att_store_t *st = open_ok(f);
    att_diag_t d = {0};
    assert_int_equal(att_store_policy_put(st, "SgxEnclave", "x", &d), ATT_OK);
    att_store_close(st); /* removes -wal and -shm */
    chown_tree_to_nobody(f);
    assert_int_equal(chmod(f->dir, 0500), 0);
    assert_int_equal(as_unprivileged(try_open, f, msg, sizeof(msg)), 0);
    print_message("read-only DIR, existing db: %s\n", msg);
    assert_non_null(strstr(msg, f->db));

    /* 3. DIR writable, database file read-only. */
    assert_int_equal(chmod(f->dir, 0700), 0);
    assert_int_equal(chmod(f->db, 0400), 0);
    assert_int_equal(as_unprivileged(try_write_readonly_file, f, msg, sizeof(msg)), 0);
    print_message("read-only db file: %s\n", msg);
    assert_non_null(strstr(msg, "read-only"));

    /* the data is intact for a writer that can write */
    assert_int_equal(chmod(f->db, 0600), 0);
    st = open_ok(f);
    char *jws;
    assert_int_equal(att_store_policy_get(st, "SgxEnclave", &jws, &d), ATT_OK);
    assert_string_equal(jws, "x");
    free(jws);
    att_store_close(st);
}

static void test_full_storage(void **state)
{
    /* RLIMIT_FSIZE makes writes past a size fail (EFBIG) for root too: the store must answer
     * ATT_E_STORE, keep what was committed, and work again once there is room. */
    fx_t *f = *state;
    att_diag_t d = {0};
    att_store_t *st = open_ok(f);
    assert_int_equal(att_store_policy_put(st, "SgxEnclave", "before", &d), ATT_OK);
    char wal[200];
    snprintf(wal, sizeof(wal), "%s-wal", f->db);
    struct stat sb;
    assert_int_equal(stat(wal, &sb), 0);
    assert_true(sb.st_size < 256 * 1024);

    size_t big_len = 4u << 20;
    uint8_t *big = malloc(big_len);
    assert_non_null(big);
    memset(big, 0xab, big_len);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 512 * 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    att_err_t e = att_store_coll_put(st, "big", big, big_len, 1, &d);
    att_diag_t d2 = {0};
    att_err_t e2 = att_store_policy_put(st, "SgxEnclave", "small-during-limit", &d2);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, oldsig);

    print_message("write past the size limit: %s\n", d.msg);
    assert_int_equal(e, ATT_E_STORE);
    assert_non_null(strstr(d.msg, "coll_put"));
    assert_non_null(strstr(d.msg, f->db));
    (void)e2; /* a small write may or may not fit under the limit; either is honest */

    char *jws;
    uint8_t *blob;
    size_t n;
    assert_int_equal(att_store_coll_get(st, "big", &blob, &n, NULL, &d), ATT_E_STORE_NOT_FOUND);
    assert_int_equal(att_store_policy_get(st, "SgxEnclave", &jws, &d), ATT_OK);
    assert_true(strcmp(jws, "before") == 0 ||
                (e2 == ATT_OK && strcmp(jws, "small-during-limit") == 0));
    free(jws);

    /* room again: the same write succeeds on the same handle */
    assert_int_equal(att_store_coll_put(st, "big", big, big_len, 2, &d), ATT_OK);
    assert_int_equal(att_store_coll_get(st, "big", &blob, &n, NULL, &d), ATT_OK);
    assert_int_equal(n, big_len);
    assert_memory_equal(blob, big, big_len);
    free(blob);
    free(big);
    att_store_close(st);

    char ok[32];
    raw_text(f->db, "PRAGMA integrity_check", ok, sizeof(ok));
    assert_string_equal(ok, "ok");
}

static void test_kill9_after_ack(void **state)
{
    /* A child writes policies in a loop and reports each acknowledged write; we kill -9 it
     * mid-stream. The last acknowledged value (or the one being written) must be there. */
    fx_t *f = *state;
    att_store_close(open_ok(f)); /* create and migrate before the race */
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        att_store_t *st = NULL;
        att_diag_t d;
        if (att_store_open_sqlite(f->dir, &st, &d) != ATT_OK)
            _exit(1);
        for (uint32_t i = 1;; i++) {
            char v[64];
            snprintf(v, sizeof(v), "value-%u", i);
            if (att_store_policy_put(st, "SgxEnclave", v, &d) != ATT_OK)
                _exit(2);
            if (write(pfd[1], &i, sizeof(i)) != sizeof(i))
                _exit(3);
        }
    }
    close(pfd[1]);
    uint32_t acked = 0, v;
    while (acked < 30 && read(pfd[0], &v, sizeof(v)) == sizeof(v))
        acked = v;
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    while (read(pfd[0], &v, sizeof(v)) == sizeof(v)) /* acks sent before the kill */
        acked = v;
    close(pfd[0]);
    assert_true(acked >= 30);

    att_store_t *st = open_ok(f);
    att_diag_t d = {0};
    char *jws;
    assert_int_equal(att_store_policy_get(st, "SgxEnclave", &jws, &d), ATT_OK);
    unsigned got = 0;
    assert_int_equal(sscanf(jws, "value-%u", &got), 1);
    free(jws);
    assert_true(got == acked || got == acked + 1);
    att_store_close(st);
    char ok[32];
    raw_text(f->db, "PRAGMA integrity_check", ok, sizeof(ok));
    assert_string_equal(ok, "ok");
}

/* ---- concurrency --------------------------------------------------------------------------- */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_too_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_storage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_after_ack, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
