/* util.c - hex, file reading, raw JSON member extraction, constant-time compare. */
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

void att_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void att_json_set_hex(json_t *o, const char *key, const uint8_t *p, size_t n)
{
    char buf[2 * 128 + 1];
    if (n > 128)
        n = 128;
    att_hex_encode(p, n, buf);
    json_object_set_new(o, key, json_string(buf));
}

int att_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool att_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n)
{
    if (hex == NULL || hexlen != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = att_hexval(hex[2 * i]), lo = att_hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

att_err_t att_read_file(const char *path, size_t max, uint8_t **out, size_t *len, att_diag_t *diag)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return att_diag_set(diag, ATT_E_IO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap + 1);
    att_err_t err = ATT_OK;
    if (buf == NULL) {
        err = att_diag_set(diag, ATT_E_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                err = att_diag_set(diag, ATT_E_LIMIT, "%s is larger than %zu bytes", path, max);
                goto out;
            }
            cap = cap * 2 > max ? max : cap * 2;
            uint8_t *nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                err = att_diag_set(diag, ATT_E_NOMEM, "out of memory reading %s", path);
                goto out;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f))
                err = att_diag_set(diag, ATT_E_IO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
    }
out:
    fclose(f);
    if (err != ATT_OK) {
        free(buf);
        return err;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return ATT_OK;
}

/* Skip JSON whitespace. */
static size_t att_json_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Index just past the string starting at s[i] == '"', or 0 on error. */
static size_t att_json_skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

/* Index just past the value starting at s[i], or 0 on error. Nesting depth is bounded. */
static size_t att_json_skip_value(const char *s, size_t i, size_t n)
{
    if (i >= n)
        return 0;
    if (s[i] == '"')
        return att_json_skip_string(s, i, n);
    if (s[i] == '{' || s[i] == '[') {
        char stack[256];
        size_t depth = 0;
        for (; i < n; i++) {
            char c = s[i];
            if (c == '"') {
                size_t j = att_json_skip_string(s, i, n);
                if (j == 0)
                    return 0;
                i = j - 1;
            } else if (c == '{' || c == '[') {
                if (depth == sizeof(stack))
                    return 0;
                stack[depth++] = c == '{' ? '}' : ']';
            } else if (c == '}' || c == ']') {
                if (depth == 0 || stack[depth - 1] != c)
                    return 0;
                if (--depth == 0)
                    return i + 1;
            }
        }
        return 0;
    }
    /* number, true, false, null */
    size_t j = i;
    while (j < n && s[j] != ',' && s[j] != '}' && s[j] != ']' && s[j] != ' ' && s[j] != '\n' &&
           s[j] != '\r' && s[j] != '\t')
        j++;
    return j > i ? j : 0;
}

bool att_json_raw_member(const char *json, size_t len, const char *key, const char **val,
                         size_t *vlen)
{
    size_t klen = strlen(key);
    size_t i = att_json_ws(json, 0, len);
    if (i >= len || json[i] != '{')
        return false;
    i = att_json_ws(json, i + 1, len);
    while (i < len && json[i] == '"') {
        size_t kend = att_json_skip_string(json, i, len);
        if (kend == 0)
            return false;
        bool match = kend - i - 2 == klen && memcmp(json + i + 1, key, klen) == 0;
        i = att_json_ws(json, kend, len);
        if (i >= len || json[i] != ':')
            return false;
        i = att_json_ws(json, i + 1, len);
        size_t vend = att_json_skip_value(json, i, len);
        if (vend == 0)
            return false;
        if (match) {
            *val = json + i;
            *vlen = vend - i;
            return true;
        }
        i = att_json_ws(json, vend, len);
        if (i < len && json[i] == ',')
            i = att_json_ws(json, i + 1, len);
        else
            break;
    }
    return false;
}

bool att_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

bool att_buf_put(att_buf_t *b, const void *src, size_t n)
{
    if (b->failed)
        return false;
    if (b->max && n > b->max - b->len) {
        b->over = b->failed = true;
        return false;
    }
    if (n + 1 > b->cap - b->len || b->p == NULL) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->len < n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return false;
            }
            cap *= 2;
        }
        uint8_t *np = realloc(b->p, cap);
        if (np == NULL) {
            b->failed = true;
            return false;
        }
        b->p = np;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, src, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

size_t att_buf_curl_write(char *data, size_t size, size_t nmemb, void *buf)
{
    size_t n = size * nmemb;
    return att_buf_put(buf, data, n) ? n : 0;
}
