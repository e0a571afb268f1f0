/* fuzz_json.c - differential libFuzzer target for att_json_loadb (core/json.h): every input goes
 * through it and through jansson's json_loadb, and the two must agree - both refuse it, or both
 * give the same dump (member order and exact doubles included). The first byte picks the flags
 * (JSON_REJECT_DUPLICATES, JSON_DECODE_ANY), the rest is the text.
 * Seeds: tests/fuzz/corpus/json (token claims, JWKS, edge cases) and, made from the real vector
 * sets by tests/fuzz/vector-seeds, a TCB info and an attest body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/json.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t flags =
        ((data[0] & 1) ? JSON_REJECT_DUPLICATES : 0) | ((data[0] & 2) ? JSON_DECODE_ANY : 0);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    json_error_t e1, e2;
    json_t *a = att_json_loadb(text, len, flags, &e1);
    json_t *b = json_loadb(text, len, flags, &e2);
    if ((a == NULL) != (b == NULL))
        __builtin_trap();
    if (a == NULL) {
        if (strcmp(e1.text, e2.text) != 0)
            __builtin_trap();
        return 0;
    }
    size_t dflags = JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17);
    char *da = json_dumps(a, dflags), *db = json_dumps(b, dflags);
    if (da == NULL || db == NULL || strcmp(da, db) != 0 || !json_equal(a, b))
        __builtin_trap();
    free(da);
    free(db);
    json_decref(a);
    json_decref(b);
    return 0;
}
