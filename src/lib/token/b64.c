/* b64.c - base64url / standard base64 (RFC 4648 sections 4 and 5) and algorithm names.
 *
 * Encoding: base64url without padding (what MAA emits and JOSE requires), standard base64 with
 * padding (x5c). Decoding is strict about the alphabet and canonical form (no whitespace, no
 * characters of the other alphabet, unused trailing bits must be zero, a length of 4n+1 is
 * impossible) and lenient only about '=' padding: it may be absent, or present and correct.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "token/token_int.h"

static const char att_b64url_map[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char att_b64std_map[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const char *att_alg_name(att_alg_t a)
{
    switch (a) {
    case ATT_ALG_RS256:
        return "RS256";
    case ATT_ALG_PS256:
        return "PS256";
    case ATT_ALG_ES256:
        return "ES256";
    case ATT_ALG_NONE:
        break;
    }
    return "none";
}

att_alg_t att_alg_parse(const char *name)
{
    if (name == NULL)
        return ATT_ALG_NONE;
    if (strcmp(name, "RS256") == 0)
        return ATT_ALG_RS256;
    if (strcmp(name, "PS256") == 0)
        return ATT_ALG_PS256;
    if (strcmp(name, "ES256") == 0)
        return ATT_ALG_ES256;
    return ATT_ALG_NONE;
}

/* Encode into out (room for 4*ceil(len/3) bytes, no NUL written); returns the length. */
static size_t att_b64_encode_to(const uint8_t *in, size_t len, const char *map, bool pad, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = map[v >> 18];
        out[o++] = map[(v >> 12) & 63];
        out[o++] = map[(v >> 6) & 63];
        out[o++] = map[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = map[v >> 18];
        out[o++] = map[(v >> 12) & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = map[v >> 18];
        out[o++] = map[(v >> 12) & 63];
        out[o++] = map[(v >> 6) & 63];
        if (pad)
            out[o++] = '=';
    }
    return o;
}

static char *att_b64_encode(const uint8_t *in, size_t len, const char *map, bool pad)
{
    if (len > (SIZE_MAX - 8) / 4 * 3)
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out == NULL)
        return NULL;
    out[att_b64_encode_to(in, len, map, pad, out)] = '\0';
    return out;
}

size_t att_b64url_encode_to(const uint8_t *in, size_t len, char *out)
{
    return att_b64_encode_to(in, len, att_b64url_map, false, out);
}

char *att_b64url_encode(const uint8_t *in, size_t len)
{
    return att_b64_encode(in, len, att_b64url_map, false);
}

char *att_b64std_encode(const uint8_t *in, size_t len)
{
    return att_b64_encode(in, len, att_b64std_map, true);
}

/* Decoding tables (0xff marks a byte outside the alphabet), built once. */
static uint8_t att_b64_tab[2][256];
static pthread_once_t att_b64_once = PTHREAD_ONCE_INIT;

static void att_b64_tables(void)
{
    static const char *const alpha[2] = {
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"};
    memset(att_b64_tab, 0xff, sizeof(att_b64_tab));
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 64; i++)
            att_b64_tab[t][(unsigned char)alpha[t][i]] = (uint8_t)i;
}

bool att_b64_decode_to(const char *in, size_t len, bool std, uint8_t *out, size_t cap,
                       size_t *outlen)
{
    if (len % 4 == 1)
        return false;
    size_t n = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
    if (n > cap)
        return false;
    pthread_once(&att_b64_once, att_b64_tables);
    const uint8_t *tab = att_b64_tab[std], *s = (const uint8_t *)in;
    uint8_t *o = out;
    uint32_t bad = 0;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        uint32_t a = tab[s[i]], b = tab[s[i + 1]], c = tab[s[i + 2]], d = tab[s[i + 3]];
        bad |= a | b | c | d;
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        o[0] = (uint8_t)(v >> 16);
        o[1] = (uint8_t)(v >> 8);
        o[2] = (uint8_t)v;
        o += 3;
    }
    if (bad & 0xc0) /* some byte mapped to 0xff */
        return false;
    size_t rest = len - i;
    if (rest >= 2) {
        uint32_t a = tab[s[i]], b = tab[s[i + 1]], c = rest == 3 ? tab[s[i + 2]] : 0;
        if ((a | b | c) & 0xc0)
            return false;
        uint32_t v = a << 18 | b << 12 | c << 6;
        /* non-canonical: the unused low bits of the last character must be zero */
        if ((rest == 2 && (v & 0xffff)) || (rest == 3 && (v & 0xff)))
            return false;
        *o++ = (uint8_t)(v >> 16);
        if (rest == 3)
            *o++ = (uint8_t)(v >> 8);
    }
    *outlen = (size_t)(o - out);
    return true;
}

bool att_b64_decode(const char *in, size_t len, bool std, uint8_t **out, size_t *outlen)
{
    if (out == NULL || outlen == NULL || (in == NULL && len > 0))
        return false;
    *out = NULL;
    *outlen = 0;
    /* Optional padding: when present it must complete the last quantum exactly. */
    size_t data = len;
    while (data > 0 && in[data - 1] == '=')
        data--;
    size_t npad = len - data;
    if (npad > 2 || (npad > 0 && len % 4 != 0))
        return false;
    if (data % 4 == 1)
        return false;
    if (npad > 0 && (data % 4 == 0 || 4 - data % 4 != npad))
        return false;

    size_t n = data / 4 * 3 + (data % 4 == 0 ? 0 : data % 4 - 1);
    uint8_t *buf = malloc(n + 1);
    if (buf == NULL)
        return false;
    size_t o;
    if (!att_b64_decode_to(in, data, std, buf, n, &o)) {
        free(buf);
        return false;
    }
    buf[o] = 0;
    *out = buf;
    *outlen = o;
    return true;
}
