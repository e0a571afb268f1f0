/* test_json.c - att_json_loadb gives exactly what json_loadb gives: values, member order,
 * duplicate handling and jansson's own errors, on both its paths (simdjson, and the hand-over
 * to jansson) and both buffer sizes (per-thread parser, and the one for documents over 16 kB). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"

/* Both readers on the same text: both fail, or both give the same dump (order and the exact
 * doubles included). Returns the fast reader's value (caller decrefs) or NULL. */
static json_t *both(const char *text, size_t len, size_t flags)
{
    json_error_t e1, e2;
    json_t *a = att_json_loadb(text, len, flags, &e1);
    json_t *b = json_loadb(text, len, flags, &e2);
    assert_int_equal(a == NULL, b == NULL);
    if (a == NULL) {
        assert_string_equal(e1.text, e2.text);
        return NULL;
    }
    size_t dflags = JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17);
    char *da = json_dumps(a, dflags), *db = json_dumps(b, dflags);
    assert_non_null(da);
    assert_string_equal(da, db);
    free(da);
    free(db);
    json_decref(b);
    return a;
}

static json_t *both_s(const char *text, size_t flags)
{
    return both(text, strlen(text), flags);
}

static void test_token_claims(void **state)
{
    const char *claims =
        "{\"exp\":1751356800,\"iat\":1751328000,\"is-debuggable\":false,"
        "\"iss\":\"https://attest.example\",\"nonce\":\"n-1\",\"x-ms-sgx-svn\":3,"
        "\"x-ms-runtime\":{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"u1SU1Lf\"}],"
        "\"client-data\":{\"ok\":true,\"ratio\":0.25,\"none\":null,\"neg\":-7}},"
        "\"x-ms-sgx-collateral\":{\"qeidhash\":\"aa\",\"tcbinfohash\":\"bb\"},"
        "\"advisories\":[\"INTEL-SA-00615\",\"INTEL-SA-00657\"],\"caf\\u00e9\":\"\\u2603 "
        "\\\"q\\\"\"}";
    json_t *v = both_s(claims, JSON_REJECT_DUPLICATES);
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(v, "exp")), 1751356800);
    assert_string_equal(json_string_value(json_object_get(v, "caf\xc3\xa9")), "\xe2\x98\x83 \"q\"");
    json_decref(v);
}

static void test_numbers(void **state)
{
    json_t *v = both_s("[-0, 0, -0.0, 1E2, 1e-400, 9223372036854775807, -9223372036854775808, "
                       "0.1, 1.7976931348623157e308, 5e-324]",
                       0);
    assert_non_null(v);
    assert_true(json_is_integer(json_array_get(v, 0))); /* "-0" is jansson's integer 0 */
    assert_true(json_is_real(json_array_get(v, 2)));
    assert_true(json_is_real(json_array_get(v, 3)));
    assert_int_equal(json_integer_value(json_array_get(v, 6)), INT64_MIN);
    json_decref(v);
    /* beyond int64 or double: jansson refuses, and its message is the one returned */
    const char *bad[] = {"[9223372036854775808]",
                         "[-9223372036854775809]",
                         "[18446744073709551616]",
                         "[1e400]",
                         "[-1e400]",
                         "[01]",
                         "[1.]",
                         "[.5]",
                         "[+1]",
                         "[0x10]",
                         "[NaN]",
                         "[Infinity]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(both_s(bad[i], 0));
    json_error_t e;
    assert_null(att_json_loadb("[9223372036854775808]", 21, 0, &e));
    assert_non_null(strstr(e.text, "too big integer"));
}

static void test_strings(void **state)
{
    json_t *v =
        both_s("[\"\\ud83d\\ude00\", \"\\/\\b\\f\\n\\r\\t\", \"\xf0\x9f\x98\x80\", \"\"]", 0);
    assert_non_null(v);
    json_decref(v);
    const char *bad[] = {"[\"\\u0000\"]",        "{\"a\\u0000b\":1}", "[\"\\ud800\"]",
                         "[\"\\udc00\\ud800\"]", "[\"a\tb\"]",        "[\"\xc0\xaf\"]",
                         "[\"\xed\xa0\x80\"]",   "[\"\xff\"]",        "[\"\\x41\"]",
                         "[\"unterminated]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(both_s(bad[i], 0));
    json_error_t e;
    assert_null(att_json_loadb("[\"\\u0000\"]", 10, 0, &e));
    assert_non_null(strstr(e.text, "JSON_ALLOW_NUL"));
}

static void test_duplicates(void **state)
{
    /* refused under JSON_REJECT_DUPLICATES, with jansson's message */
    json_error_t e;
    assert_null(att_json_loadb("{\"a\":1,\"b\":2,\"a\":3}", 19, JSON_REJECT_DUPLICATES, &e));
    assert_non_null(strstr(e.text, "duplicate object key"));
    assert_null(both_s("{\"x\":{\"a\":1,\"a\":1}}", JSON_REJECT_DUPLICATES));
    /* otherwise the last value wins, in the first one's place */
    json_t *v = both_s("{\"a\":1,\"b\":2,\"a\":3}", 0);
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 3);
    assert_string_equal(json_object_iter_key(json_object_iter(v)), "a");
    json_decref(v);
}

static void test_top_level_and_structure(void **state)
{
    assert_null(both_s("\"s\"", 0)); /* scalars need JSON_DECODE_ANY */
    assert_null(both_s("3", 0));
    json_t *v = both_s(" \"s\" ", JSON_DECODE_ANY);
    assert_string_equal(json_string_value(v), "s");
    json_decref(v);
    json_decref(both_s("null", JSON_DECODE_ANY));
    const char *bad[] = {"",      " ",       "{",      "[1,]",      "{\"a\":1,}",
                         "[1]x",  "[1] [2]", "{a:1}",  "{\"a\" 1}", "[true false]",
                         "[tru]", "//c\n[]", "[1]\x00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(both(bad[i], strlen(bad[i]) + (i == 12 ? 1 : 0), JSON_DECODE_ANY));
    /* flags simdjson's path does not handle go to jansson as they are */
    v = both_s("[\"a\\u0000b\"]", JSON_ALLOW_NUL);
    assert_int_equal(json_string_length(json_array_get(v, 0)), 3);
    json_decref(v);
    /* a NULL buffer: jansson's "wrong arguments" */
    json_error_t e;
    assert_null(att_json_loadb(NULL, 3, 0, &e));
    assert_null(json_loadb(NULL, 3, 0, NULL));
}

static void test_depth(void **state)
{
    /* 1500 levels: deeper than simdjson goes, within jansson's 2048 - jansson reads it */
    for (size_t depth = 1000; depth <= 2100; depth += 550) {
        char *t = malloc(2 * depth + 1);
        memset(t, '[', depth);
        memset(t + depth, ']', depth);
        t[2 * depth] = '\0';
        json_t *v = both(t, 2 * depth, 0);
        assert_int_equal(v != NULL, depth <= 2048);
        json_decref(v);
        free(t);
    }
}

static void test_large_document(void **state)
{
    /* over 16 kB (and 64 kB): the per-call parser */
    size_t n = 3000, cap = n * 40 + 16, len = 0;
    char *t = malloc(cap);
    len += (size_t)snprintf(t + len, cap - len, "{");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(t + len, cap - len, "%s\"key-%05zu\":[%zu,\"v\",%zu.5]",
                                i ? "," : "", i, i, i);
    len += (size_t)snprintf(t + len, cap - len, "}");
    assert_true(len > 64 * 1024);
    json_t *v = both(t, len, JSON_REJECT_DUPLICATES);
    assert_int_equal(json_object_size(v), n);
    json_decref(v);
    t[len - 1] = ','; /* and its failure goes to jansson too */
    assert_null(both(t, len, JSON_REJECT_DUPLICATES));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_claims),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_top_level_and_structure),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_large_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
