/* json.c - token bytes for the relying party: base64url into a caller's buffer (no allocation
 * on the hot path) and the header / claims JSON, read by jansson.
 *
 * Claims are parsed with jansson only. A hand-written reader for the subset tokens use was
 * measured at twice the verification rate (jansson reads a 3 kB claim set in about 25 us, more
 * than the RSA-2048 verification itself), and removed: the project uses its chosen JSON library
 * rather than a second parser in the token path of every relying party. docs/relying-party.md
 * has the figures.
 */
#include <string.h>

#include "rp/rp_int.h"

/* ---- base64url ------------------------------------------------------------------------ */

/* 0..63, or 0xff for a byte outside the base64url alphabet. */
// clang-format off
static const uint8_t att_rp_b64[256] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,   62, 0xff, 0xff,
      52,   53,   54,   55,   56,   57,   58,   59,   60,   61, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff,    0,    1,    2,    3,    4,    5,    6,    7,    8,    9,   10,   11,   12,   13,   14,
      15,   16,   17,   18,   19,   20,   21,   22,   23,   24,   25, 0xff, 0xff, 0xff, 0xff,   63,
    0xff,   26,   27,   28,   29,   30,   31,   32,   33,   34,   35,   36,   37,   38,   39,   40,
      41,   42,   43,   44,   45,   46,   47,   48,   49,   50,   51, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};
// clang-format on

bool att_rp_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
    if (len % 4 == 1)
        return false;
    size_t n = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
    if (n > cap)
        return false;
    const uint8_t *s = (const uint8_t *)in;
    uint8_t *o = out;
    uint32_t bad = 0;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        uint32_t a = att_rp_b64[s[i]], b = att_rp_b64[s[i + 1]], c = att_rp_b64[s[i + 2]],
                 d = att_rp_b64[s[i + 3]];
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
        uint32_t a = att_rp_b64[s[i]], b = att_rp_b64[s[i + 1]];
        uint32_t c = rest == 3 ? att_rp_b64[s[i + 2]] : 0;
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

/* ---- JSON ------------------------------------------------------------------------------ */

json_t *att_rp_json_object(const char *p, size_t len)
{
    json_t *v = json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}
