/* fuzz_attestd_collblob.c - libFuzzer target: DCAP collateral as attestd reads it back from its
 * store (src/attestd/collsrc*.c and src/lib/dcap/pcs.c over src/attestd/store_sqlite.c). A row
 * of the `collateral` table that is corrupted (a bad disk, a bad restore, someone editing
 * attestd.db) must give an error, never a crash; the store's copy is outside input like a PCS
 * answer.
 *
 * The path is the server's own: the row is written into a real SQLite store, and a collateral
 * source with that store as its only source (like attestd restarted with its PCS down) is asked
 * for the collateral: att_collsrc_get -> att_store_coll_get (the row) -> the blob decoder
 * ("ATTCOLL1", then 7 items each with a 4-byte big-endian length: tcb_info, tcb_info_chain,
 * qe_identity, qe_identity_chain, pck_crl, pck_crl_chain, root_ca_crl) -> parsing and the
 * signature checks against the Intel root -> the key check (the set must be for the tee, FMSPC
 * and CA asked for) -> the freshness arithmetic on the row's fetched_at. A set it returns is
 * then used to verify the vector quote, as an attest request would.
 *
 * Input format:
 *   byte 0     selector
 *              bit 0     which key is asked for: 0 the SGX vector's (dcap/sgx/00a067110000/
 *                        processor, quote sgx-v3-fmspc00A067110000), 1 the TDX vector's
 *                        (dcap/tdx/b0c06f000000/platform, quote tdx-v4-fmspcB0C06F000000)
 *              bits 1-2  how the row is written: 0, 1 att_store_coll_put (the store's own
 *                        write); 2 raw SQL with `data` as TEXT instead of a BLOB; 3 raw SQL
 *                        with `fetched_at` as a REAL (the 8 bytes below as a double)
 *              bit 3     collateral max age: 0 (none) or 1 day (--collateral-max-age)
 *              bit 4     a PCS URL that refuses connections (127.0.0.1 port 1): a set judged
 *                        stale is refetched, the fetch fails, the stored set is served
 *              bits 5-7  the second get is (k - 4) * 30 days after the first
 *   bytes 1-8  fetched_at, int64 little endian
 *   then       the blob (the `data` column)
 * Every input starts from an empty `collateral` table and a new collateral source.
 * Invariants (abort = crash for libFuzzer):
 *   - att_collsrc_get answers ATT_OK with a set, or ATT_E_COLL_MISSING / ATT_E_FETCH* (with the
 *     refusing PCS) with diag.code equal to it and a NUL-terminated message;
 *   - a set it returns is for the tee and FMSPC asked for, came from a blob with the ATTCOLL1
 *     magic, and verifies the quote or fails with a diag code equal to the returned one;
 *   - the second get, later, gives a set iff the first did (the stored set is served stale
 *     rather than dropped when nothing better comes).
 * UBSan aborts on the signed overflow that `now - fetched_at` was for fetched_at INT64_MIN
 * (fixed in collsrc.c; seeds sgx-max-age-*, unit test tests/unit/attestd/test_collsrc_stored.c).
 * Seeds: written by this target itself from the vectors (tests/fuzz/vector-seeds does it, as the
 * vectors are not in the repository; only `empty` and `magic-only` are committed):
 *   FUZZ_MAKE_SEEDS=DIR build-fuzz/bin/fuzz_attestd_collblob
 * At start-up the target checks its encoder against the server: the genuine blob of each vector
 * stored under its key must come back as a set (else the format changed: fix this file).
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../unit/attestd/collsrc_test.h" /* collsrc_test_new_pcs */
#include "collsrc.h"
#include "core/util.h"
#include "store.h"
#include "fuzz_common.h"

#define BLOB_MAGIC "ATTCOLL1"
#define N_ITEMS    7
#define MONTH      (30 * 86400LL)

typedef struct {
    const char *set;
    att_tee_t tee;
    uint8_t fmspc[6];
    const char *ca;
    const char *key; /* as att_dcap_coll_key writes it (the store key) */
    uint8_t *quote;
    size_t quote_len;
    uint8_t *blob; /* the genuine collateral in the store format */
    size_t blob_len;
    att_time_t now;
} fuzz_set_t;

static fuzz_set_t g_sets[2] = {
    {.set = "sgx-v3-fmspc00A067110000",
     .tee = ATT_TEE_SGX,
     .fmspc = {0x00, 0xA0, 0x67, 0x11, 0x00, 0x00},
     .ca = "processor",
     .key = "dcap/sgx/00a067110000/processor"},
    {.set = "tdx-v4-fmspcB0C06F000000",
     .tee = ATT_TEE_TDX,
     .fmspc = {0xB0, 0xC0, 0x6F, 0x00, 0x00, 0x00},
     .ca = "platform",
     .key = "dcap/tdx/b0c06f000000/platform"},
};
static att_trust_t *g_trust;
static att_store_t *g_store;
static sqlite3 *g_raw; /* a second connection, for rows the store's API would not write */
static sqlite3_stmt *g_clear, *g_put_text, *g_put_real;
static char g_dir[64];
static pid_t g_owner;
static int g_verbose; /* FUZZ_VERBOSE=1: print each outcome */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    if (getpid() != g_owner)
        return;
    sqlite3_finalize(g_clear);
    sqlite3_finalize(g_put_text);
    sqlite3_finalize(g_put_real);
    sqlite3_close(g_raw);
    att_store_close(g_store);
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The DCAP store format (src/lib/dcap/pcs.c, blob_encode). */
static uint8_t *encode(const att_dcap_collateral_raw_t *r, size_t *len)
{
    const att_slice_t *items[N_ITEMS] = {
        &r->tcb_info, &r->tcb_info_chain, &r->qe_identity, &r->qe_identity_chain,
        &r->pck_crl,  &r->pck_crl_chain,  &r->root_ca_crl};
    size_t n = sizeof(BLOB_MAGIC) - 1;
    for (int i = 0; i < N_ITEMS; i++)
        n += 4 + items[i]->len;
    uint8_t *b = malloc(n), *p = b;
    if (b == NULL)
        abort();
    memcpy(p, BLOB_MAGIC, sizeof(BLOB_MAGIC) - 1);
    p += sizeof(BLOB_MAGIC) - 1;
    for (int i = 0; i < N_ITEMS; i++) {
        uint32_t l = (uint32_t)items[i]->len;
        *p++ = (uint8_t)(l >> 24);
        *p++ = (uint8_t)(l >> 16);
        *p++ = (uint8_t)(l >> 8);
        *p++ = (uint8_t)l;
        if (l)
            memcpy(p, items[i]->ptr, l);
        p += l;
    }
    *len = n;
    return b;
}

static void load_set(const char *vectors, fuzz_set_t *s)
{
    char dir[2048], path[2100];
    att_diag_t d;
    att_dcap_collateral_raw_t raw;
    snprintf(dir, sizeof dir, "%s/dcap/%s", vectors, s->set);
    snprintf(path, sizeof path, "%s/quote.bin", dir);
    if (att_read_file(path, 1 << 20, &s->quote, &s->quote_len, &d) != ATT_OK ||
        att_dcap_collateral_raw_load_dir(dir, &raw, &d) != ATT_OK ||
        att_time_parse("2025-07-01T00:00:00Z", &s->now) != ATT_OK) {
        fprintf(stderr, "fuzz_attestd_collblob: cannot load %s: %s\n", dir, d.msg);
        exit(1);
    }
    s->blob = encode(&raw, &s->blob_len);
    att_dcap_collateral_raw_free(&raw);
}

static void raw_exec(sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "fuzz_attestd_collblob: raw SQL failed: %s\n", sqlite3_errmsg(g_raw));
        abort();
    }
}

/* Write the row as the input says. */
static void put_row(const fuzz_set_t *s, unsigned how, int64_t fetched_at, const uint8_t *blob,
                    size_t len)
{
    raw_exec(g_clear);
    if (how < 2) {
        att_diag_t d;
        if (att_store_coll_put(g_store, s->key, blob, len, fetched_at, &d) != ATT_OK) {
            fprintf(stderr, "fuzz_attestd_collblob: coll_put: %s\n", d.msg);
            abort();
        }
        return;
    }
    sqlite3_stmt *q = how == 2 ? g_put_text : g_put_real;
    sqlite3_bind_text(q, 1, s->key, -1, SQLITE_STATIC);
    if (how == 2) {
        sqlite3_bind_text64(q, 2, (const char *)(len ? blob : (const uint8_t *)""), len,
                            SQLITE_STATIC, SQLITE_UTF8);
        sqlite3_bind_int64(q, 3, fetched_at);
    } else {
        double f;
        memcpy(&f, &fetched_at, sizeof f);
        sqlite3_bind_blob64(q, 2, len ? blob : (const uint8_t *)"", len, SQLITE_STATIC);
        sqlite3_bind_double(q, 3, f); /* NaN binds NULL: the NOT NULL constraint refuses it */
        if (f != f)
            sqlite3_bind_int64(q, 3, 0);
    }
    raw_exec(q);
}

/* The set of s's key, by the collateral source's key API. */
static att_err_t get_set(att_collsrc_t *src, const fuzz_set_t *s, att_time_t now,
                         att_dcap_collateral_t **c, att_diag_t *d)
{
    void *obj = NULL;
    att_err_t e = att_collsrc_get(src, s->key, now, &obj, NULL, d);
    *c = obj;
    return e;
}

static att_collsrc_t *new_src(int64_t max_age, bool pcs)
{
    att_collsrc_opts_t o = {.store = g_store, .max_age = max_age, .timeout_ms = 2000};
    att_collsrc_t *src = NULL;
    att_diag_t d;
    if (collsrc_test_new_pcs(&o, pcs ? "http://127.0.0.1:1" : NULL, g_trust, NULL, &src, &d) !=
        ATT_OK) {
        fprintf(stderr, "fuzz_attestd_collblob: att_collsrc_new: %s\n", d.msg);
        abort();
    }
    return src;
}

static void check_get(const fuzz_set_t *s, const char *what, att_err_t e, att_dcap_collateral_t *c,
                      const att_diag_t *d, bool pcs, const uint8_t *blob, size_t len)
{
    if (g_verbose)
        fprintf(stderr, "fuzz_attestd_collblob: %s: %s %s\n", what, att_err_name(e),
                e ? d->msg : "");
    if (e != ATT_OK) {
        FUZZ_CHECK(c == NULL, "%s: %s with a set", what, att_err_name(e));
        FUZZ_CHECK(d->code == e, "%s: returned %s, diag %s", what, att_err_name(e),
                   att_err_name(d->code));
        FUZZ_CHECK(memchr(d->msg, 0, sizeof d->msg) != NULL, "%s: message not terminated", what);
        FUZZ_CHECK(e == ATT_E_COLL_MISSING ||
                       (pcs && (e == ATT_E_FETCH || e == ATT_E_FETCH_STATUS)),
                   "%s: returned %s (%s)", what, att_err_name(e), d->msg);
        return;
    }
    FUZZ_CHECK(c != NULL, "%s: ATT_OK without a set", what);
    FUZZ_CHECK(len >= sizeof(BLOB_MAGIC) - 1 &&
                   memcmp(blob, BLOB_MAGIC, sizeof(BLOB_MAGIC) - 1) == 0,
               "%s: a set from a blob without the magic", what);
    uint8_t fm[6];
    att_dcap_collateral_fmspc(c, fm);
    FUZZ_CHECK(att_dcap_collateral_tee(c) == s->tee && memcmp(fm, s->fmspc, 6) == 0,
               "%s: a set for another tee or FMSPC than %s", what, s->key);
    static att_dcap_result_t res;
    att_err_t ve = att_dcap_verify(s->quote, s->quote_len, c, g_trust, s->now, &res);
    FUZZ_CHECK(res.diag.code == ve && (ve == ATT_OK) == res.accepted,
               "%s: verify returned %s, diag %s, accepted %d", what, att_err_name(ve),
               att_err_name(res.diag.code), res.accepted);
}

/* One stored row, one source, two gets. */
static void run_one(const fuzz_set_t *s, uint8_t sel, int64_t fetched_at, const uint8_t *blob,
                    size_t len)
{
    unsigned how = (sel >> 1) & 3;
    int64_t max_age = (sel & 8) ? 86400 : 0;
    bool pcs = (sel & 16) != 0;
    int64_t later = ((int64_t)((sel >> 5) & 7) - 4) * MONTH;
    put_row(s, how, fetched_at, blob, len);
    att_collsrc_t *src = new_src(max_age, pcs);
    att_dcap_collateral_t *c1 = NULL, *c2 = NULL;
    att_diag_t d;
    att_diag_clear(&d);
    att_err_t e1 = get_set(src, s, s->now, &c1, &d);
    check_get(s, "first get", e1, c1, &d, pcs, blob, len);
    att_diag_clear(&d);
    att_err_t e2 = get_set(src, s, s->now + later, &c2, &d);
    check_get(s, "second get", e2, c2, &d, pcs, blob, len);
    FUZZ_CHECK((e1 == ATT_OK) == (e2 == ATT_OK), "first get %s, second get %s", att_err_name(e1),
               att_err_name(e2));
    att_dcap_collateral_free(c1);
    att_dcap_collateral_free(c2);
    att_collsrc_free(src);
}

static void write_seed(const char *dir, const char *name, uint8_t sel, int64_t fetched_at,
                       const uint8_t *blob, size_t len)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    uint8_t hdr[9] = {sel};
    for (int i = 0; i < 8; i++)
        hdr[1 + i] = (uint8_t)((uint64_t)fetched_at >> (8 * i));
    if (f == NULL || fwrite(hdr, 1, 9, f) != 9 || fwrite(blob, 1, len, f) != len ||
        fclose(f) != 0) {
        fprintf(stderr, "fuzz_attestd_collblob: cannot write %s\n", path);
        exit(1);
    }
}

static void make_seeds(const char *dir)
{
    const fuzz_set_t *sgx = &g_sets[0], *tdx = &g_sets[1];
    int64_t t = sgx->now - 3600; /* fetched an hour before `now` */
    double td = (double)t;
    int64_t tbits;
    memcpy(&tbits, &td, sizeof tbits);
    /* the genuine rows, written by the store, by raw SQL with TEXT data, with a REAL time */
    write_seed(dir, "sgx-stored", 0x00, t, sgx->blob, sgx->blob_len);
    write_seed(dir, "tdx-stored", 0x01, t, tdx->blob, tdx->blob_len);
    write_seed(dir, "sgx-text-data", 0x04, t, sgx->blob, sgx->blob_len);
    write_seed(dir, "tdx-real-time", 0x07, tbits, tdx->blob, tdx->blob_len);
    /* max age 1 day, second get a month later; with the refusing PCS: refetch, served stale */
    write_seed(dir, "sgx-max-age", 0x08 | (5 << 5), t, sgx->blob, sgx->blob_len);
    write_seed(dir, "sgx-max-age-pcs", 0x18 | (5 << 5), t - 2 * 86400, sgx->blob, sgx->blob_len);
    write_seed(dir, "tdx-pcs-earlier", 0x11 | (2 << 5), t, tdx->blob, tdx->blob_len);
    /* regressions of the max-age check, which overflowed on now - fetched_at: fetched_at
     * INT64_MIN, the same from a REAL -1e300 (SQLite clamps it), and one in the future */
    double big = -1e300;
    int64_t bigbits;
    memcpy(&bigbits, &big, sizeof bigbits);
    write_seed(dir, "sgx-max-age-time-min", 0x08 | (4 << 5), INT64_MIN, sgx->blob, sgx->blob_len);
    write_seed(dir, "sgx-max-age-real-min", 0x0e | (4 << 5), bigbits, sgx->blob, sgx->blob_len);
    write_seed(dir, "sgx-max-age-future-pcs", 0x18 | (4 << 5), INT64_MAX, sgx->blob, sgx->blob_len);
    /* the TDX set stored under the SGX key: the key check refuses it */
    write_seed(dir, "tdx-under-sgx-key", 0x00, t, tdx->blob, tdx->blob_len);
    /* broken rows: truncated, bad magic, trailing bytes, empty */
    write_seed(dir, "sgx-truncated", 0x00, t, sgx->blob, sgx->blob_len / 2);
    uint8_t *b = malloc(sgx->blob_len + 3);
    if (b == NULL)
        abort();
    memcpy(b, sgx->blob, sgx->blob_len);
    b[0] = 'X';
    write_seed(dir, "sgx-bad-magic", 0x00, t, b, sgx->blob_len);
    b[0] = 'A';
    memcpy(b + sgx->blob_len, "xyz", 3);
    write_seed(dir, "sgx-trailing", 0x00, t, b, sgx->blob_len + 3);
    free(b);
    write_seed(dir, "empty", 0x00, t, (const uint8_t *)"", 0);
    write_seed(dir, "magic-only", 0x00, t, (const uint8_t *)BLOB_MAGIC, sizeof(BLOB_MAGIC) - 1);
}

static const char *data_root(void)
{
    /* /dev/shm when it is there: the store fsyncs every write (synchronous=FULL) */
    return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *vectors = fuzz_vectors();
    g_verbose = getenv("FUZZ_VERBOSE") != NULL;
    if ((g_trust = att_trust_new()) == NULL) {
        fprintf(stderr, "fuzz_attestd_collblob: att_trust_new failed\n");
        exit(1);
    }
    for (size_t i = 0; i < ATT_ARRAY_LEN(g_sets); i++)
        load_set(vectors, &g_sets[i]);
    const char *seeds = getenv("FUZZ_MAKE_SEEDS");
    if (seeds != NULL && *seeds != 0) {
        make_seeds(seeds);
        fprintf(stderr, "fuzz_attestd_collblob: seeds written to %s\n", seeds);
        exit(0);
    }
    snprintf(g_dir, sizeof g_dir, "%s/attestd-fuzz-XXXXXX", data_root());
    if (mkdtemp(g_dir) == NULL) {
        perror("fuzz_attestd_collblob: mkdtemp");
        exit(1);
    }
    g_owner = getpid();
    atexit(cleanup);
    att_diag_t d;
    char db[128];
    snprintf(db, sizeof db, "%s/attestd.db", g_dir);
    if (att_store_open_sqlite(g_dir, &g_store, &d) != ATT_OK) {
        fprintf(stderr, "fuzz_attestd_collblob: cannot open the store: %s\n", d.msg);
        exit(1);
    }
    if (sqlite3_open_v2(db, &g_raw, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_exec(g_raw, "PRAGMA busy_timeout = 5000", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(g_raw, "DELETE FROM collateral", -1, &g_clear, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(g_raw,
                           "INSERT INTO collateral (cache_key, data, fetched_at) VALUES (?, ?, ?)",
                           -1, &g_put_text, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(g_raw,
                           "INSERT INTO collateral (cache_key, data, fetched_at) VALUES (?, ?, ?)",
                           -1, &g_put_real, NULL) != SQLITE_OK) {
        fprintf(stderr, "fuzz_attestd_collblob: raw connection: %s\n", sqlite3_errmsg(g_raw));
        exit(1);
    }
    /* The encoder above must still be the server's format: each genuine blob comes back. */
    for (size_t i = 0; i < ATT_ARRAY_LEN(g_sets); i++) {
        fuzz_set_t *s = &g_sets[i];
        put_row(s, 0, s->now, s->blob, s->blob_len);
        att_collsrc_t *src = new_src(0, false);
        att_dcap_collateral_t *c = NULL;
        att_err_t e = get_set(src, s, s->now, &c, &d);
        att_dcap_collateral_free(c);
        att_collsrc_free(src);
        if (e != ATT_OK) {
            fprintf(stderr,
                    "fuzz_attestd_collblob: the genuine %s blob under %s does not come "
                    "back (%s: %s): has the store format or the key changed?\n",
                    s->set, s->key, att_err_name(e), d.msg);
            exit(1);
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9)
        return 0;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)data[1 + i] << (8 * i);
    int64_t fetched_at;
    memcpy(&fetched_at, &u, sizeof fetched_at);
    /* an exact-size heap copy: reading past the blob is caught */
    size_t len = size - 9;
    uint8_t *blob = malloc(len ? len : 1);
    if (blob == NULL)
        abort();
    if (len)
        memcpy(blob, data + 9, len);
    run_one(&g_sets[data[0] & 1], data[0], fetched_at, blob, len);
    free(blob);
    return 0;
}
