/* test_kek.c - private keys sealed under a key-encryption key (kek.h, keys.c): the blob format
 * (round trip, every altered character, another KEK, a blob moved to another kid or purpose,
 * an unknown version), the KEK file (three forms, its mode, its size), and the service: keys
 * generated sealed, clear keys sealed in place at start, a start refused without the KEK or with
 * another one (naming the kid), `keys rotate` with the KEK, KEK rotation with
 * --key-encryption-key-old, and the store's compare-and-set re-seal. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "config.h"
#include "kek.h"
#include "routes.h"
#include "store.h"

static const char pem[] =
    "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
    "-----END PRIVATE KEY-----\n";

static att_kek_t *kek_of(uint8_t fill)
{
    uint8_t k[ATT_KEK_LEN];
    memset(k, fill, sizeof k);
    att_kek_t *kek = att_kek_from_bytes(k);
    assert_non_null(kek);
    return kek;
}

static char *seal(const att_kek_t *k, const char *purpose, const char *kid)
{
    char *blob = NULL;
    att_diag_t d;
    if (att_kek_seal(k, purpose, kid, (const uint8_t *)pem, strlen(pem), &blob, &d) != ATT_OK)
        fail_msg("seal: %s", d.msg);
    return blob;
}

static att_err_t open_blob(const att_kek_t *k, const char *purpose, const char *kid,
                           const char *blob, att_diag_t *d)
{
    uint8_t *pt = NULL;
    size_t n = 0;
    att_err_t e = att_kek_open(k, purpose, kid, blob, &pt, &n, d);
    if (e == ATT_OK) {
        assert_int_equal(n, strlen(pem));
        assert_memory_equal(pt, pem, n);
        assert_int_equal(pt[n], 0);
    } else {
        assert_null(pt);
    }
    free(pt);
    return e;
}

static void test_round_trip(void **state)
{
    (void)state;
    att_kek_t *k = kek_of(0x11);
    char *blob = seal(k, "signing-key", "kid-A");
    att_diag_t d;
    /* attestd-kek-v1:<16 hex>:<base64url> and nothing of the key in it */
    char prefix[64];
    snprintf(prefix, sizeof prefix, "attestd-kek-v1:%s:", att_kek_id(k));
    assert_int_equal(strlen(att_kek_id(k)), ATT_KEK_ID_LEN);
    assert_int_equal(strncmp(blob, prefix, strlen(prefix)), 0);
    assert_null(strstr(blob, "PRIVATE"));
    assert_true(att_kek_is_sealed(blob));
    assert_false(att_kek_is_sealed(pem));
    char id[ATT_KEK_ID_LEN + 1];
    assert_true(att_kek_blob_id(blob, id));
    assert_string_equal(id, att_kek_id(k));
    assert_int_equal(open_blob(k, "signing-key", "kid-A", blob, &d), ATT_OK);
    /* a fresh nonce each time: the same key sealed twice gives two blobs */
    char *again = seal(k, "signing-key", "kid-A");
    assert_string_not_equal(blob, again);
    free(again);
    free(blob);
    att_kek_free(k);
}

static void test_tamper(void **state)
{
    (void)state;
    att_kek_t *k = kek_of(0x22);
    char *blob = seal(k, "signing-key", "kid-A");
    att_diag_t d;
    size_t off = sizeof ATT_KEK_V1 + ATT_KEK_ID_LEN + 1, len = strlen(blob);
    assert_int_equal(blob[off - 1], ':');
    /* every character of nonce | ciphertext | tag changed to another base64url one */
    for (size_t i = off; i < len; i++) {
        char *t = strdup(blob);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        att_err_t e = open_blob(k, "signing-key", "kid-A", t, &d);
        /* the last character may carry unused bits only: then the bytes are unchanged and
         * the decoder (lenient, as for JWS) gives the same blob, which must still open */
        if (e == ATT_OK)
            assert_int_equal(i, len - 1);
        else
            assert_int_equal(e, ATT_E_KEY);
        free(t);
    }
    /* truncated, extended, non-base64url, an upper-case kek id, no data */
    char *t = strndup(blob, len - 4);
    assert_int_equal(open_blob(k, "signing-key", "kid-A", t, &d), ATT_E_KEY);
    assert_non_null(strstr(d.msg, "kid-A"));
    free(t);
    assert_int_equal(asprintf(&t, "%sAAAA", blob), (int)len + 4);
    assert_int_equal(open_blob(k, "signing-key", "kid-A", t, &d), ATT_E_KEY);
    free(t);
    t = strdup(blob);
    t[off + 3] = '+';
    assert_int_equal(open_blob(k, "signing-key", "kid-A", t, &d), ATT_E_KEY);
    assert_non_null(strstr(d.msg, "malformed"));
    free(t);
    t = strdup(blob);
    t[sizeof ATT_KEK_V1] = (char)(t[sizeof ATT_KEK_V1] >= 'a' ? 'F' : t[sizeof ATT_KEK_V1]);
    if (t[sizeof ATT_KEK_V1] == 'F') {
        assert_int_equal(open_blob(k, "signing-key", "kid-A", t, &d), ATT_E_KEY);
        assert_non_null(strstr(d.msg, "malformed"));
    }
    free(t);
    assert_int_equal(asprintf(&t, "attestd-kek-v1:%s:", att_kek_id(k)), (int)off);
    assert_int_equal(open_blob(k, "signing-key", "kid-A", t, &d), ATT_E_KEY);
    free(t);
    /* another version of the format is named as such */
    t = strdup(blob);
    t[sizeof ATT_KEK_V1 - 2] = '2';
    assert_int_equal(open_blob(k, "signing-key", "kid-A", t, &d), ATT_E_KEY);
    assert_non_null(strstr(d.msg, "format this attestd does not know"));
    free(t);
    /* clear text is not a blob */
    assert_int_equal(open_blob(k, "signing-key", "kid-A", pem, &d), ATT_E_KEY);
    assert_non_null(strstr(d.msg, "not sealed"));
    free(blob);
    att_kek_free(k);
}

static void test_wrong_key_and_aad(void **state)
{
    (void)state;
    att_kek_t *k = kek_of(0x33), *other = kek_of(0x34);
    char *blob = seal(k, "signing-key", "kid-A");
    att_diag_t d;
    /* another KEK: both ids named */
    assert_int_equal(open_blob(other, "signing-key", "kid-A", blob, &d), ATT_E_KEY);
    assert_non_null(strstr(d.msg, att_kek_id(k)));
    assert_non_null(strstr(d.msg, att_kek_id(other)));
    /* another KEK whose id was written into the blob: the tag fails */
    char *forged = strdup(blob);
    memcpy(forged + sizeof ATT_KEK_V1, att_kek_id(other), ATT_KEK_ID_LEN);
    assert_int_equal(open_blob(other, "signing-key", "kid-A", forged, &d), ATT_E_KEY);
    assert_non_null(strstr(d.msg, "does not decrypt"));
    free(forged);
    /* the blob moved to another row (kid) or read for another purpose */
    assert_int_equal(open_blob(k, "signing-key", "kid-B", blob, &d), ATT_E_KEY);
    assert_non_null(strstr(d.msg, "kid-B"));
    assert_non_null(strstr(d.msg, "moved from another row"));
    assert_int_equal(open_blob(k, "challenge-key", "kid-A", blob, &d), ATT_E_KEY);
    assert_int_equal(open_blob(k, "signing-key", "kid-A", blob, &d), ATT_OK);
    free(blob);
    /* bounds */
    char *big = NULL;
    uint8_t *pt = calloc(1, ATT_KEK_MAX_SEALED + 1);
    assert_int_equal(att_kek_seal(k, "signing-key", "kid-A", pt, ATT_KEK_MAX_SEALED + 1, &big, &d),
                     ATT_E_LIMIT);
    assert_null(big);
    free(pt);
    assert_int_equal(att_kek_seal(k, "", "kid-A", (const uint8_t *)"x", 1, &big, &d), ATT_E_ARG);
    att_kek_free(k);
    att_kek_free(other);
}

/* ---- the KEK file ------------------------------------------------------------------------ */

typedef struct {
    char dir[64];
    char path[128];
} tmp_t;

static int setup(void **state)
{
    tmp_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/att-kek-XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        return -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tmp_t *t = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    int rc = system(cmd);
    free(t);
    return rc == 0 ? 0 : -1;
}

static const char *write_file(tmp_t *t, const char *name, const void *p, size_t n, mode_t mode)
{
    snprintf(t->path, sizeof t->path, "%s/%s", t->dir, name);
    int fd = open(t->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
    assert_int_equal(chmod(t->path, mode), 0);
    return t->path;
}

static void test_kek_file(void **state)
{
    tmp_t *t = *state;
    uint8_t raw[32];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)(i * 7 + 1);
    att_kek_t *want = att_kek_from_bytes(raw), *k = NULL;
    att_diag_t d;
    /* raw, hex (with a newline), base64 (with a newline): one key */
    const char *p = write_file(t, "raw", raw, sizeof raw, 0600);
    assert_int_equal(att_kek_load(p, "--key-encryption-key", &k, &d), ATT_OK);
    assert_string_equal(att_kek_id(k), att_kek_id(want));
    att_kek_free(k);
    const char hex[] = "01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da\n";
    p = write_file(t, "hex", hex, strlen(hex), 0640);
    assert_int_equal(att_kek_load(p, "--key-encryption-key", &k, &d), ATT_OK);
    assert_string_equal(att_kek_id(k), att_kek_id(want));
    att_kek_free(k);
    const char b64[] = "AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o=\n";
    p = write_file(t, "b64", b64, strlen(b64), 0400);
    assert_int_equal(att_kek_load(p, "--key-encryption-key", &k, &d), ATT_OK);
    assert_string_equal(att_kek_id(k), att_kek_id(want));
    att_kek_free(k);
    /* others may read it: refused, with the fix */
    p = write_file(t, "open", hex, strlen(hex), 0644);
    assert_int_equal(att_kek_load(p, "--key-encryption-key", &k, &d), ATT_E_ARG);
    assert_null(k);
    assert_non_null(strstr(d.msg, "readable by other users (mode 0644)"));
    assert_non_null(strstr(d.msg, "chmod 600"));
    p = write_file(t, "gw", hex, strlen(hex), 0620);
    assert_int_equal(att_kek_load(p, "--key-encryption-key-old", &k, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "--key-encryption-key-old"));
    assert_non_null(strstr(d.msg, "writable by other users"));
    /* not 32 bytes in any form; too large; missing; a directory */
    p = write_file(t, "short", hex, 62, 0600);
    assert_int_equal(att_kek_load(p, "--key-encryption-key", &k, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "not a 32-byte key"));
    assert_null(strstr(d.msg, "01080f")); /* never the content */
    char big[300];
    memset(big, 'a', sizeof big);
    p = write_file(t, "big", big, sizeof big, 0600);
    assert_int_equal(att_kek_load(p, "--key-encryption-key", &k, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "larger than"));
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none", t->dir);
    assert_int_equal(att_kek_load(missing, "--key-encryption-key", &k, &d), ATT_E_IO);
    assert_non_null(strstr(d.msg, missing));
    assert_int_equal(att_kek_load(t->dir, "--key-encryption-key", &k, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "not a regular file"));
    att_kek_free(want);
}

/* ---- the service ------------------------------------------------------------------------- */

static char *argv_[40];

static att_err_t start(tmp_t *t, const char *kek, const char *kek_old, bool rotate, att_diag_t *d)
{
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/store", t->dir);
    const char *args[16] = {"--listen", "127.0.0.1:0", "--store", url};
    int n = 4;
    if (kek) {
        args[n++] = "--key-encryption-key";
        args[n++] = kek;
    }
    if (kek_old) {
        args[n++] = "--key-encryption-key-old";
        args[n++] = kek_old;
    }
    if (rotate) {
        args[n++] = "keys";
        args[n++] = "rotate";
    }
    argv_[0] = "attestd";
    for (int i = 0; i < n; i++)
        argv_[i + 1] = (char *)args[i];
    argv_[n + 1] = NULL;
    att_config_t c;
    if (att_config_load(&c, n + 1, argv_, NULL, d) != ATT_OK)
        fail_msg("config: %s", d->msg);
    att_err_t e;
    if (rotate) {
        e = att_service_command(c.argc, c.args, &c) == 0 ? ATT_OK : ATT_E_KEY;
    } else {
        att_service_t *svc = NULL;
        e = att_service_new(&c, NULL, &svc, d);
        att_service_free(svc);
    }
    att_config_free(&c);
    return e;
}

typedef struct {
    size_t n, sealed, clear;
    char kid[2][64];
    char id[2][ATT_KEK_ID_LEN + 1]; /* kek id of the first two keys' blobs */
} scan_t;

static scan_t scan(tmp_t *t)
{
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/store", t->dir);
    att_store_t *st = NULL;
    att_diag_t d;
    if (att_store_open(url, &st, &d) != ATT_OK)
        fail_msg("open: %s", d.msg);
    att_store_key_t *keys = NULL;
    scan_t s = {0};
    assert_int_equal(att_store_key_list(st, &keys, &s.n, &d), ATT_OK);
    for (size_t i = 0; i < s.n; i++) {
        bool sealed = att_kek_is_sealed(keys[i].key_pem);
        s.sealed += sealed;
        s.clear += strstr(keys[i].key_pem, "BEGIN PRIVATE KEY") != NULL;
        if (i < 2) {
            snprintf(s.kid[i], sizeof s.kid[i], "%s", keys[i].kid);
            if (sealed)
                assert_true(att_kek_blob_id(keys[i].key_pem, s.id[i]));
        }
    }
    att_store_keys_free(keys, s.n);
    att_store_close(st);
    return s;
}

/* The database files hold no clear private key anywhere (free pages and the WAL included:
 * secure_delete is not assumed, so this is what an attacker with the file would see). */
static bool db_has_clear_key(tmp_t *t)
{
    const char *names[] = {"attestd.db", "attestd.db-wal"};
    bool found = false;
    for (size_t i = 0; i < 2; i++) {
        char p[160];
        snprintf(p, sizeof p, "%s/store/%s", t->dir, names[i]);
        FILE *f = fopen(p, "rb");
        if (f == NULL)
            continue;
        static char buf[8 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        found |= memmem(buf, n, "BEGIN PRIVATE KEY", 17) != NULL;
    }
    return found;
}

/* The store's secret `name` as text; "absent" (stored now) when there was none. */
static char *secret_text(tmp_t *t, const char *name)
{
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/store", t->dir);
    att_store_t *st = NULL;
    att_diag_t d;
    if (att_store_open(url, &st, &d) != ATT_OK)
        fail_msg("open: %s", d.msg);
    uint8_t *v = NULL;
    size_t n = 0;
    assert_int_equal(att_store_secret(st, name, (const uint8_t *)"absent", 6, 1, &v, &n, &d),
                     ATT_OK);
    att_store_close(st);
    char *text = strndup((const char *)v, n);
    free(v);
    return text;
}

static void test_service_generates_sealed(void **state)
{
    tmp_t *t = *state;
    char kek[160], other[160];
    snprintf(kek, sizeof kek, "%s",
             write_file(t, "kek",
                        "0123456789abcdef0123456789abcdef"
                        "0123456789abcdef0123456789abcdef\n",
                        65, 0600));
    snprintf(other, sizeof other, "%s",
             write_file(t, "other",
                        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
                        "ffffff\n",
                        65, 0600));
    att_diag_t d;
    assert_int_equal(start(t, kek, NULL, false, &d), ATT_OK);
    scan_t s = scan(t);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.sealed, 1);
    assert_int_equal(s.clear, 0);
    assert_false(db_has_clear_key(t));
    /* `keys rotate` with the KEK: the new key is sealed too */
    assert_int_equal(start(t, kek, NULL, true, &d), ATT_OK);
    s = scan(t);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.sealed, 2);
    assert_false(db_has_clear_key(t));
    /* a restart with the KEK loads them */
    assert_int_equal(start(t, kek, NULL, false, &d), ATT_OK);
    /* without the KEK, or with another one: refused, naming a kid and the KEK it needs */
    assert_int_equal(start(t, NULL, NULL, false, &d), ATT_E_KEY);
    assert_non_null(strstr(d.msg, "no --key-encryption-key was given"));
    assert_true(strstr(d.msg, s.kid[0]) || strstr(d.msg, s.kid[1]));
    assert_non_null(strstr(d.msg, s.id[0]));
    assert_int_equal(start(t, other, NULL, false, &d), ATT_E_KEY);
    assert_non_null(strstr(d.msg, "but --key-encryption-key is"));
    assert_true(strstr(d.msg, s.kid[0]) || strstr(d.msg, s.kid[1]));
    /* `keys rotate` without it fails and adds nothing */
    assert_int_equal(start(t, NULL, NULL, true, &d), ATT_E_KEY);
    assert_int_equal(scan(t).n, 2);
    /* the challenge key (stateless TPM challenges) is stored sealed under the KEK too, the same
     * blob across restarts (the first stored wins), and opens to 32 bytes */
    att_kek_t *k = NULL;
    assert_int_equal(att_kek_load(kek, "kek", &k, &d), ATT_OK);
    char name[64];
    snprintf(name, sizeof name, "challenge-key-kek-v1:%s", att_kek_id(k));
    char *blob = secret_text(t, name);
    assert_true(att_kek_is_sealed(blob));
    assert_int_equal(start(t, kek, NULL, false, &d), ATT_OK);
    char *again = secret_text(t, name);
    assert_string_equal(again, blob);
    uint8_t *pt = NULL;
    size_t n = 0;
    assert_int_equal(att_kek_open(k, "service-secret", name, blob, &pt, &n, &d), ATT_OK);
    assert_int_equal(n, 32);
    free(pt);
    att_kek_free(k);
    /* and no clear challenge key was stored by a service that had the KEK */
    char *clear = secret_text(t, "challenge-key-v1");
    assert_string_equal(clear, "absent");
    free(clear);
    free(again);
    free(blob);
}

static void test_clear_keys_sealed_in_place(void **state)
{
    tmp_t *t = *state;
    char kek[160];
    att_diag_t d;
    /* a store made without a KEK, with a rotated key: two clear keys */
    assert_int_equal(start(t, NULL, NULL, false, &d), ATT_OK);
    assert_int_equal(start(t, NULL, NULL, true, &d), ATT_OK);
    scan_t s = scan(t);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.clear, 2);
    assert_true(db_has_clear_key(t));
    uint8_t raw[32];
    memset(raw, 0x5a, sizeof raw);
    snprintf(kek, sizeof kek, "%s", write_file(t, "kek", raw, sizeof raw, 0600));
    /* started with the KEK: both sealed in place, the same kids */
    assert_int_equal(start(t, kek, NULL, false, &d), ATT_OK);
    scan_t after = scan(t);
    assert_int_equal(after.n, 2);
    assert_int_equal(after.sealed, 2);
    assert_int_equal(after.clear, 0);
    assert_string_equal(after.kid[0], s.kid[0]);
    assert_string_equal(after.kid[1], s.kid[1]);
    /* and no copy of the old text is left in the files (the store's secure_delete: a replaced
     * row's bytes are overwritten, not left in a free page) */
    assert_false(db_has_clear_key(t));
    assert_int_equal(start(t, NULL, NULL, false, &d), ATT_E_KEY);
}

static void test_kek_rotation(void **state)
{
    tmp_t *t = *state;
    char a[160], b[160];
    uint8_t ka[32], kb[32];
    memset(ka, 0xa1, sizeof ka);
    memset(kb, 0xb2, sizeof kb);
    snprintf(a, sizeof a, "%s", write_file(t, "a", ka, sizeof ka, 0600));
    snprintf(b, sizeof b, "%s", write_file(t, "b", kb, sizeof kb, 0600));
    att_kek_t *kA = att_kek_from_bytes(ka), *kB = att_kek_from_bytes(kb);
    att_diag_t d;
    assert_int_equal(start(t, a, NULL, false, &d), ATT_OK);
    assert_string_equal(scan(t).id[0], att_kek_id(kA));
    /* the new KEK alone cannot open them */
    assert_int_equal(start(t, b, NULL, false, &d), ATT_E_KEY);
    assert_non_null(strstr(d.msg, att_kek_id(kA)));
    assert_non_null(strstr(d.msg, "--key-encryption-key-old"));
    /* with the old one beside it: re-sealed under the new one */
    assert_int_equal(start(t, b, a, false, &d), ATT_OK);
    scan_t s = scan(t);
    assert_int_equal(s.sealed, 1);
    assert_string_equal(s.id[0], att_kek_id(kB));
    assert_int_equal(start(t, b, NULL, false, &d), ATT_OK);
    assert_int_equal(start(t, a, NULL, false, &d), ATT_E_KEY);
    /* --key-encryption-key-old alone is refused by the option check */
    argv_[0] = "attestd";
    argv_[1] = "--key-encryption-key-old";
    argv_[2] = a;
    att_config_t c;
    assert_int_equal(att_config_load(&c, 3, argv_, NULL, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "needs --key-encryption-key"));
    att_kek_free(kA);
    att_kek_free(kB);
}

/* The new options' own checks (config.c). */
static void test_options(void **state)
{
    (void)state;
    att_config_t c;
    att_diag_t d;
    char *a[] = {"attestd", "--signing-key", "/etc/attestd/key.pem", NULL};
    assert_int_equal(att_config_load(&c, 3, a, NULL, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "want an RFC 7512 pkcs11: URI"));
    char *b[] = {"attestd", "--signing-key", "PKCS11:token=t;object=o", NULL};
    assert_int_equal(att_config_load(&c, 3, b, NULL, &d), ATT_OK);
    assert_string_equal(c.signing_key, "PKCS11:token=t;object=o");
    assert_int_equal(c.signing_key_sessions, 4); /* the default */
    assert_null(c.key_encryption_key);
    att_config_free(&c);
    char *e[] = {"attestd", "--signing-key-sessions", "0", NULL};
    assert_int_equal(att_config_load(&c, 3, e, NULL, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "between 1 and 64"));
    char *f[] = {"attestd", "--signing-key-sessions", "65", NULL};
    assert_int_equal(att_config_load(&c, 3, f, NULL, &d), ATT_E_ARG);
    char *env[] = {"ATTESTD_KEY_ENCRYPTION_KEY=/k", "ATTESTD_SIGNING_KEY_SESSIONS=9", NULL};
    char *g[] = {"attestd", NULL};
    assert_int_equal(att_config_load(&c, 1, g, env, &d), ATT_OK);
    assert_string_equal(c.key_encryption_key, "/k");
    assert_int_equal(c.signing_key_sessions, 9);
    att_config_free(&c);
}

/* A blob copied from one row into another (an attacker with write access to the database
 * making attestd sign with a key of their choosing among the stored ones) does not open. */
static void test_swapped_rows(void **state)
{
    tmp_t *t = *state;
    char kek[160];
    uint8_t raw[32];
    memset(raw, 0x77, sizeof raw);
    snprintf(kek, sizeof kek, "%s", write_file(t, "kek", raw, sizeof raw, 0600));
    att_diag_t d;
    assert_int_equal(start(t, kek, NULL, false, &d), ATT_OK);
    assert_int_equal(start(t, kek, NULL, true, &d), ATT_OK);
    scan_t s = scan(t);
    char db[160];
    snprintf(db, sizeof db, "%s/store/attestd.db", t->dir);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE signing_keys SET key_pem = (SELECT key_pem FROM signing_keys WHERE kid = "
             "'%s') WHERE kid = '%s'",
             s.kid[1], s.kid[0]);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(start(t, kek, NULL, false, &d), ATT_E_KEY);
    assert_non_null(strstr(d.msg, s.kid[0]));
    assert_non_null(strstr(d.msg, "moved from another row"));
}

/* The store's compare-and-set: a re-seal of text that changed meanwhile changes nothing. */
static void test_store_reseal(void **state)
{
    tmp_t *t = *state;
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/store", t->dir);
    att_store_t *st = NULL;
    att_diag_t d;
    assert_int_equal(att_store_open(url, &st, &d), ATT_OK);
    att_store_key_t k = {
        .kid = "k1", .alg = "ES256", .key_pem = "A", .cert_pem = "C", .created = 1};
    assert_int_equal(att_store_key_put(st, &k, &d), ATT_OK);
    assert_int_equal(att_store_key_reseal(st, "k1", "B", "X", &d), ATT_E_STORE_NOT_FOUND);
    assert_int_equal(att_store_key_reseal(st, "k2", "A", "X", &d), ATT_E_STORE_NOT_FOUND);
    assert_int_equal(att_store_key_reseal(st, "k1", "A", "X", &d), ATT_OK);
    assert_int_equal(att_store_key_reseal(st, "k1", "A", "Y", &d), ATT_E_STORE_NOT_FOUND);
    att_store_key_t *keys = NULL;
    size_t n = 0;
    assert_int_equal(att_store_key_list(st, &keys, &n, &d), ATT_OK);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0].key_pem, "X");
    assert_string_equal(keys[0].cert_pem, "C");
    att_store_keys_free(keys, n);
    att_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_wrong_key_and_aad),
        cmocka_unit_test_setup_teardown(test_kek_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_generates_sealed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clear_keys_sealed_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kek_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swapped_rows, setup, teardown),
        cmocka_unit_test(test_options),
        cmocka_unit_test_setup_teardown(test_store_reseal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
