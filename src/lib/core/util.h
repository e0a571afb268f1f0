/* util.h - small internal helpers: hex, files, cleanup attributes, raw JSON members. */
#ifndef ATT_CORE_UTIL_H
#define ATT_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "attest/types.h"

#define ATT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static inline void att_freep(void *p)
{
    free(*(void **)p);
}
#define att_auto_free __attribute__((cleanup(att_freep)))

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void att_hex_encode(const uint8_t *in, size_t n, char *out);
/* o[key] = lowercase hex of n bytes (n at most 128). */
struct json_t;
void att_json_set_hex(struct json_t *o, const char *key, const uint8_t *p, size_t n);

/* Value of one hex digit (either case), or -1. */
int att_hexval(char c);
/* Decode exactly n bytes from a hex string of exactly 2n chars (either case). */
bool att_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n);

/* Read a whole file (at most max bytes) into a malloc'd buffer with a NUL after the data. */
att_err_t att_read_file(const char *path, size_t max, uint8_t **out, size_t *len, att_diag_t *diag);

/* Find the value of member `key` of the top-level JSON object in json[0..len) and return
 * its exact bytes (for signatures over "the exact bytes as served"). Strings, escapes and
 * nesting are honoured; returns false if the text is not an object or the key is absent. */
bool att_json_raw_member(const char *json, size_t len, const char *key, const char **val,
                         size_t *vlen);

/* A growing byte buffer: `p` holds `len` bytes followed by a NUL (NULL until the first byte).
 * An append that would pass `max` bytes (0: no limit) sets `over`; an append over max or out of
 * memory fails and `failed` sticks (later appends do nothing). The owner frees `p`. */
typedef struct {
    uint8_t *p;
    size_t len, cap, max;
    bool over, failed;
} att_buf_t;
bool att_buf_put(att_buf_t *b, const void *src, size_t n);
/* att_buf_put as a libcurl CURLOPT_WRITEFUNCTION (CURLOPT_WRITEDATA: the att_buf_t); a failed
 * append returns 0, which aborts the transfer. */
size_t att_buf_curl_write(char *data, size_t size, size_t nmemb, void *buf);

/* Constant-time equality of two byte ranges of equal length. */
bool att_ct_equal(const void *a, const void *b, size_t n);

#endif
