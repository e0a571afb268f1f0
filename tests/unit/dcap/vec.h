/* vec.h - load a DCAP vector set (quote, collateral, expected.json) for tests; the sets are
 * outside the repository (vectors.h: VEC_REQUIRE before vec_load). */
#ifndef ATT_TEST_VEC_H
#define ATT_TEST_VEC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "attest/dcap.h"
#include "core/util.h"
#include "vectors.h"

typedef struct {
    char dir[1024];
    uint8_t *quote;
    size_t quote_len;
    att_dcap_collateral_raw_t raw;
    json_t *expected;
    att_time_t at;
} vec_t;

static const char *const vec_names[] = {
    "sgx-v3-fmspc00A067110000",        "tdx-v4-fmspcB0C06F000000",
    "tdx-v4-fmspc20A06F000000-near",   "tdx-v5-td15-fmspc90C06F000000-nomatch",
    "tdx-v4-fmspc50806f000000-spr-e4",
};
#define VEC_N (sizeof(vec_names) / sizeof(vec_names[0]))

static inline int vec_load(vec_t *v, const char *name)
{
    memset(v, 0, sizeof(*v));
    snprintf(v->dir, sizeof(v->dir), "%s/dcap/%s", ATT_TEST_VECTORS, name);
    char path[1100];
    att_diag_t d;
    snprintf(path, sizeof(path), "%s/quote.bin", v->dir);
    if (att_read_file(path, 1 << 20, &v->quote, &v->quote_len, &d) != ATT_OK)
        return -1;
    if (att_dcap_collateral_raw_load_dir(v->dir, &v->raw, &d) != ATT_OK)
        return -1;
    snprintf(path, sizeof(path), "%s/expected.json", v->dir);
    v->expected = json_load_file(path, 0, NULL);
    if (v->expected == NULL)
        return -1;
    return att_time_parse(json_string_value(json_object_get(v->expected, "verification_time")),
                          &v->at) == ATT_OK
               ? 0
               : -1;
}

static inline void vec_free(vec_t *v)
{
    free(v->quote);
    att_dcap_collateral_raw_free(&v->raw);
    json_decref(v->expected);
}

static inline att_time_t vec_window(const vec_t *v, const char *key)
{
    att_time_t t = 0;
    json_t *w = json_object_get(v->expected, "collateral_validity_window");
    if (att_time_parse(json_string_value(json_object_get(w, key)), &t) != ATT_OK)
        abort();
    return t;
}

#endif
