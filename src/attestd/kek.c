/* kek.c - the key-encryption key and its sealed blobs (see kek.h). */
#include "kek.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "attest/token.h"
#include "core/util.h"

#define ATT_KEK_NONCE 12
#define ATT_KEK_TAG   16
/* The largest KEK file read: 64 hex digits and some white space fit many times over. */
#define ATT_KEK_FILE_MAX 256
/* The longest blob opened: the base64url of the largest sealed text, with its prefix. */
#define ATT_KEK_MAX_BLOB                                                                           \
    (sizeof ATT_KEK_V1 + ATT_KEK_ID_LEN + 2 +                                                      \
     ((ATT_KEK_NONCE + ATT_KEK_MAX_SEALED + ATT_KEK_TAG) + 2) / 3 * 4)
#define ATT_KEK_MAX_AAD 512

struct att_kek {
    uint8_t key[ATT_KEK_LEN];
    char id[ATT_KEK_ID_LEN + 1];
};

att_kek_t *att_kek_from_bytes(const uint8_t key[ATT_KEK_LEN])
{
    att_kek_t *k = OPENSSL_secure_zalloc(sizeof *k);
    if (k == NULL)
        k = OPENSSL_zalloc(sizeof *k);
    if (k == NULL)
        return NULL;
    memcpy(k->key, key, ATT_KEK_LEN);
    static const char label[] = "attestd-kek-id";
    uint8_t md[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(c, label, sizeof label - 1) == 1 &&
              EVP_DigestUpdate(c, key, ATT_KEK_LEN) == 1 && EVP_DigestFinal_ex(c, md, NULL) == 1;
    EVP_MD_CTX_free(c);
    if (!ok) {
        att_kek_free(k);
        return NULL;
    }
    att_hex_encode(md, ATT_KEK_ID_LEN / 2, k->id);
    return k;
}

void att_kek_free(att_kek_t *k)
{
    if (k == NULL)
        return;
    OPENSSL_cleanse(k, sizeof *k);
    if (CRYPTO_secure_allocated(k))
        OPENSSL_secure_free(k);
    else
        OPENSSL_free(k);
}

const char *att_kek_id(const att_kek_t *k)
{
    return k ? k->id : NULL;
}

/* The 32 key bytes from a file's content: raw, 64 hex digits or 44 base64 characters. */
static bool att_kek_decode(const uint8_t *buf, size_t n, uint8_t key[ATT_KEK_LEN],
                           const char **form)
{
    if (n == ATT_KEK_LEN) {
        memcpy(key, buf, ATT_KEK_LEN);
        *form = "raw";
        return true;
    }
    size_t t = n;
    while (t > 0 && isspace(buf[t - 1]))
        t--;
    if (t == 2 * ATT_KEK_LEN && att_hex_decode((const char *)buf, t, key, ATT_KEK_LEN)) {
        *form = "hex";
        return true;
    }
    uint8_t *out = NULL;
    size_t olen = 0;
    bool ok =
        t == 44 && att_b64_decode((const char *)buf, t, true, &out, &olen) && olen == ATT_KEK_LEN;
    if (ok)
        memcpy(key, out, ATT_KEK_LEN);
    if (out != NULL) {
        OPENSSL_cleanse(out, olen);
        free(out);
    }
    *form = "base64";
    return ok;
}

att_err_t att_kek_load(const char *path, const char *what, att_kek_t **out, att_diag_t *d)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return att_diag_set(d, ATT_E_IO, "%s %s: %s", what, path, strerror(errno));
    struct stat st;
    uint8_t buf[ATT_KEK_FILE_MAX + 1];
    ssize_t n = 0;
    att_err_t e = ATT_OK;
    if (fstat(fd, &st) != 0) {
        e = att_diag_set(d, ATT_E_IO, "%s %s: %s", what, path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        e = att_diag_set(d, ATT_E_ARG, "%s %s is not a regular file", what, path);
    } else if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
        unsigned mode = (unsigned)st.st_mode & 07777;
        e = att_diag_set(d, ATT_E_ARG,
                         "%s %s holds the key that encrypts the signing keys and is %s other "
                         "users (mode %04o): run chmod 600 %s (or 640 with a group only "
                         "attestd's user is in)",
                         what, path, mode & (S_IWOTH | S_IWGRP) ? "writable by" : "readable by",
                         mode, path);
    } else {
        size_t got = 0;
        while (got < sizeof buf && (n = read(fd, buf + got, sizeof buf - got)) > 0)
            got += (size_t)n;
        if (n < 0)
            e = att_diag_set(d, ATT_E_IO, "%s %s: %s", what, path, strerror(errno));
        else
            n = (ssize_t)got;
    }
    close(fd);
    if (e != ATT_OK)
        return e;
    if ((size_t)n > ATT_KEK_FILE_MAX) {
        OPENSSL_cleanse(buf, sizeof buf);
        return att_diag_set(d, ATT_E_ARG,
                            "%s %s is larger than %d bytes: it must hold 32 bytes, raw, as 64 "
                            "hex digits or as base64 (e.g. made with: openssl rand -hex 32)",
                            what, path, ATT_KEK_FILE_MAX);
    }
    uint8_t key[ATT_KEK_LEN];
    const char *form = NULL;
    bool ok = att_kek_decode(buf, (size_t)n, key, &form);
    OPENSSL_cleanse(buf, sizeof buf);
    if (!ok) {
        OPENSSL_cleanse(key, sizeof key);
        return att_diag_set(d, ATT_E_ARG,
                            "%s %s holds %zd bytes that are not a 32-byte key: it must hold 32 "
                            "raw bytes, 64 hex digits or 44 base64 characters (e.g. made with: "
                            "openssl rand -hex 32)",
                            what, path, n);
    }
    *out = att_kek_from_bytes(key);
    OPENSSL_cleanse(key, sizeof key);
    return *out ? ATT_OK : att_diag_set(d, ATT_E_NOMEM, "out of memory");
}

bool att_kek_is_sealed(const char *text)
{
    return text != NULL && strncmp(text, ATT_KEK_PREFIX, sizeof ATT_KEK_PREFIX - 1) == 0;
}

/* Split "attestd-kek-v1:<id>:<data>": the id into id, *data at the base64url. */
static bool att_kek_split(const char *blob, char id[ATT_KEK_ID_LEN + 1], const char **data)
{
    size_t vl = sizeof ATT_KEK_V1 - 1;
    if (strncmp(blob, ATT_KEK_V1, vl) != 0 || blob[vl] != ':')
        return false;
    const char *p = blob + vl + 1;
    for (size_t i = 0; i < ATT_KEK_ID_LEN; i++)
        if (!isxdigit((unsigned char)p[i]) || isupper((unsigned char)p[i]))
            return false;
    if (p[ATT_KEK_ID_LEN] != ':')
        return false;
    memcpy(id, p, ATT_KEK_ID_LEN);
    id[ATT_KEK_ID_LEN] = '\0';
    *data = p + ATT_KEK_ID_LEN + 1;
    return true;
}

bool att_kek_blob_id(const char *blob, char id[ATT_KEK_ID_LEN + 1])
{
    const char *data;
    return blob != NULL && att_kek_split(blob, id, &data);
}

/* The additional data: version, kek id, purpose and kid, each NUL-terminated. */
static size_t att_kek_aad(const att_kek_t *k, const char *purpose, const char *kid,
                          uint8_t out[ATT_KEK_MAX_AAD])
{
    const char *parts[] = {ATT_KEK_V1, k->id, purpose, kid};
    size_t n = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t l = strlen(parts[i]) + 1;
        if (l > ATT_KEK_MAX_AAD - n)
            return 0;
        memcpy(out + n, parts[i], l);
        n += l;
    }
    return n;
}

/* AES-256-GCM of in into out (same length); enc 1 seals (tag out), 0 opens (tag checked). */
static bool att_kek_gcm(const att_kek_t *k, int enc, const uint8_t nonce[ATT_KEK_NONCE],
                        const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
                        uint8_t *out, uint8_t tag[ATT_KEK_TAG])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, m = 0;
    bool ok = c != NULL && len <= INT_MAX &&
              EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, k->key, nonce, enc) == 1 &&
              EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) == 1 &&
              EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 &&
              (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, ATT_KEK_TAG, tag) == 1) &&
              EVP_CipherFinal_ex(c, out + n, &m) == 1 &&
              (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, ATT_KEK_TAG, tag) == 1);
    EVP_CIPHER_CTX_free(c);
    return ok;
}

att_err_t att_kek_seal(const att_kek_t *k, const char *purpose, const char *kid, const uint8_t *pt,
                       size_t len, char **out, att_diag_t *d)
{
    *out = NULL;
    if (k == NULL || purpose == NULL || !*purpose || kid == NULL || !*kid ||
        (pt == NULL && len > 0))
        return att_diag_set(d, ATT_E_ARG, "att_kek_seal: no KEK, purpose, kid or plaintext");
    if (len > ATT_KEK_MAX_SEALED)
        return att_diag_set(d, ATT_E_LIMIT, "a key of %zu bytes is too large to seal (at most %d)",
                            len, ATT_KEK_MAX_SEALED);
    uint8_t aad[ATT_KEK_MAX_AAD];
    size_t aadlen = att_kek_aad(k, purpose, kid, aad);
    if (aadlen == 0)
        return att_diag_set(d, ATT_E_ARG, "att_kek_seal: purpose and kid are too long");
    size_t rawlen = ATT_KEK_NONCE + len + ATT_KEK_TAG;
    uint8_t *raw = malloc(rawlen);
    if (raw == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    bool ok = RAND_bytes(raw, ATT_KEK_NONCE) == 1 &&
              att_kek_gcm(k, 1, raw, aad, aadlen, pt, len, raw + ATT_KEK_NONCE,
                          raw + ATT_KEK_NONCE + len);
    char *b64 = ok ? att_b64url_encode(raw, rawlen) : NULL;
    free(raw); /* nonce, ciphertext and tag: nothing secret */
    if (!ok)
        return att_diag_set(d, ATT_E_INTERNAL, "AES-256-GCM sealing failed");
    size_t blen = sizeof ATT_KEK_V1 + ATT_KEK_ID_LEN + 2 + (b64 ? strlen(b64) : 0);
    char *blob = b64 ? malloc(blen) : NULL;
    if (blob == NULL) {
        free(b64);
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    snprintf(blob, blen, "%s:%s:%s", ATT_KEK_V1, k->id, b64);
    free(b64);
    *out = blob;
    att_diag_clear(d);
    return ATT_OK;
}

att_err_t att_kek_open(const att_kek_t *k, const char *purpose, const char *kid, const char *blob,
                       uint8_t **pt, size_t *len, att_diag_t *d)
{
    *pt = NULL;
    *len = 0;
    if (k == NULL || purpose == NULL || kid == NULL || blob == NULL)
        return att_diag_set(d, ATT_E_ARG, "att_kek_open: no KEK, purpose, kid or blob");
    if (!att_kek_is_sealed(blob))
        return att_diag_set(d, ATT_E_KEY, "%s %s is not sealed with a key-encryption key", purpose,
                            kid);
    char id[ATT_KEK_ID_LEN + 1];
    const char *data = NULL;
    if (!att_kek_split(blob, id, &data)) {
        if (strncmp(blob, ATT_KEK_V1 ":", sizeof ATT_KEK_V1) != 0)
            return att_diag_set(d, ATT_E_KEY,
                                "%s %s is sealed in a format this attestd does not know (it "
                                "writes and reads %s)",
                                purpose, kid, ATT_KEK_V1);
        return att_diag_set(d, ATT_E_KEY, "%s %s: the sealed blob is malformed (its kek id)",
                            purpose, kid);
    }
    if (strcmp(id, k->id) != 0)
        return att_diag_set(d, ATT_E_KEY,
                            "%s %s is sealed under key-encryption key %s, but the key given is "
                            "%s",
                            purpose, kid, id, k->id);
    size_t dlen = strnlen(data, ATT_KEK_MAX_BLOB + 1);
    if (dlen > ATT_KEK_MAX_BLOB)
        return att_diag_set(d, ATT_E_KEY, "%s %s: the sealed blob is larger than %zu bytes",
                            purpose, kid, (size_t)ATT_KEK_MAX_BLOB);
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    bool b64ok = false;
    /* base64url only: '+', '/', '=' and white space make the blob malformed */
    if (strspn(data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == dlen)
        b64ok = att_b64_decode(data, dlen, false, &raw, &rawlen);
    if (!b64ok || rawlen < ATT_KEK_NONCE + ATT_KEK_TAG) {
        free(raw);
        return att_diag_set(d, ATT_E_KEY,
                            "%s %s: the sealed blob is malformed (not base64url, or shorter "
                            "than a nonce and a tag)",
                            purpose, kid);
    }
    uint8_t aad[ATT_KEK_MAX_AAD];
    size_t aadlen = att_kek_aad(k, purpose, kid, aad);
    size_t ctlen = rawlen - ATT_KEK_NONCE - ATT_KEK_TAG;
    uint8_t *out = malloc(ctlen + 1);
    bool ok = out != NULL && aadlen > 0 &&
              att_kek_gcm(k, 0, raw, aad, aadlen, raw + ATT_KEK_NONCE, ctlen, out,
                          raw + ATT_KEK_NONCE + ctlen);
    free(raw);
    if (!ok) {
        if (out != NULL)
            OPENSSL_cleanse(out, ctlen + 1);
        free(out);
        if (out == NULL)
            return att_diag_set(d, ATT_E_NOMEM, "out of memory");
        return att_diag_set(d, ATT_E_KEY,
                            "%s %s does not decrypt under key-encryption key %s: the key is "
                            "wrong, or the stored blob was altered or moved from another row",
                            purpose, kid, k->id);
    }
    out[ctlen] = '\0';
    *pt = out;
    *len = ctlen;
    att_diag_clear(d);
    return ATT_OK;
}
