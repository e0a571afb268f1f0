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

/* Decoding tables (value + 1; 0 marks a byte outside the alphabet), built once. */
static uint8_t att_b64_tab[2][256];
static pthread_once_t att_b64_once = PTHREAD_ONCE_INIT;

static void att_b64_tables(void)
{
    static const char *const alpha[2] = {
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 64; i++)
            att_b64_tab[t][(unsigned char)alpha[t][i]] = (uint8_t)(i + 1);
}

static inline int att_b64_val(unsigned char c, bool std)
{
    return (int)att_b64_tab[std][c] - 1;
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

    pthread_once(&att_b64_once, att_b64_tables);
    size_t n = data / 4 * 3 + (data % 4 == 0 ? 0 : data % 4 - 1);
    uint8_t *buf = malloc(n + 1);
    if (buf == NULL)
        return false;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    size_t i = 0;
    /* Whole quanta: four characters -> three bytes; an invalid character ends the fast loop
     * (table value 0) and the general loop below reports it. */
    const uint8_t *tab = att_b64_tab[std];
    for (; i + 4 <= data; i += 4) {
        unsigned a = tab[(unsigned char)in[i]], b = tab[(unsigned char)in[i + 1]],
                 c = tab[(unsigned char)in[i + 2]], d = tab[(unsigned char)in[i + 3]];
        if ((a == 0) | (b == 0) | (c == 0) | (d == 0))
            break;
        uint32_t q = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
        buf[o] = (uint8_t)(q >> 16);
        buf[o + 1] = (uint8_t)(q >> 8);
        buf[o + 2] = (uint8_t)q;
        o += 3;
    }
    for (; i < data; i++) {
        int v = att_b64_val((unsigned char)in[i], std);
        if (v < 0) {
            free(buf);
            return false;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Non-canonical: the unused low bits of the last character must be zero. */
    if (acc != 0) {
        free(buf);
        return false;
    }
    buf[o] = 0;
    *out = buf;
    *outlen = o;
    return true;
}
