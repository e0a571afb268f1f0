/* test_rp_json.c - base64url into a caller's buffer (att_b64_decode_to, the relying party's hot
 * path) against att_b64_decode, and the claims reader (jansson with duplicates rejected). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "attest/token.h"
#include "rp/rp_int.h"
#include "token/jws.h"

/* Deterministic pseudo-random numbers (xorshift64) for the random base64 cases. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_json_object(void **state)
{
    const char *ok = "{\"iss\":\"http://x\",\"exp\":5}";
    json_t *o = att_rp_json_object(ok, strlen(ok));
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "exp")), 5);
    json_decref(o);
    const char *bad[] = {"[1,2]", "\"s\"", "{\"a\":1,\"a\":2}", "{\"a\":1", "", "{} x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(att_rp_json_object(bad[i], strlen(bad[i])));
}

static void test_b64(void **state)
{
    (void)state;
    uint8_t out[64], *ref;
    size_t n, rn;
    const char *cases[] = {"",   "QQ",  "QUI",  "QUJD",     "QUJDRA", "_-8",  "AB",
                           "AR", "ABC", "ABD",  "A",        "AAAAA",  "QQ==", "Q+",
                           "Q/", "Q Q", "QQ\n", "Zm9vYmFy", "Zm9vYmE"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *c = cases[i];
        bool a = att_b64_decode_to(c, strlen(c), false, out, sizeof out, &n);
        /* reference: att_b64_decode on unpadded input (padding is not base64url of a JWS) */
        bool b = strchr(c, '=') == NULL && att_b64_decode(c, strlen(c), false, &ref, &rn);
        assert_int_equal(a, b);
        if (a && b) {
            assert_int_equal(n, rn);
            assert_memory_equal(out, ref, n);
        }
        if (b)
            free(ref);
    }
    /* random round trips and random text */
    for (int it = 0; it < 20000; it++) {
        uint8_t raw[40];
        size_t len = next() % sizeof raw;
        for (size_t i = 0; i < len; i++)
            raw[i] = (uint8_t)next();
        char *e = att_b64url_encode(raw, len);
        assert_true(att_b64_decode_to(e, strlen(e), false, out, sizeof out, &n));
        assert_int_equal(n, len);
        assert_memory_equal(out, raw, len);
        assert_false(len > 2 && att_b64_decode_to(e, strlen(e), false, out, len - 1, &n)); /* cap */
        size_t pos = next() % (strlen(e) + 1);
        if (pos < strlen(e))
            e[pos] = "A_-+/=.\x80 z9"[next() % 11];
        bool a = att_b64_decode_to(e, strlen(e), false, out, sizeof out, &n);
        bool b = att_b64_decode(e, strlen(e), false, &ref, &rn);
        if (strchr(e, '=') == NULL) {
            assert_int_equal(a, b);
            if (a)
                assert_memory_equal(out, ref, n);
        } else {
            assert_false(a);
        }
        if (b)
            free(ref);
        free(e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_object),
        cmocka_unit_test(test_b64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
