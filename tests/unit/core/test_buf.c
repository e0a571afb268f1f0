/* test_buf.c - att_buf_t: bytes kept in order with a NUL after them, growth, the `max` bound
 * (over and failed set, nothing appended), failures that stick, and the libcurl callback form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"

static void test_append_and_grow(void **state)
{
    att_buf_t b = {0};
    assert_true(att_buf_put(&b, "", 0)); /* an empty buffer is "" */
    assert_non_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.p[0], '\0');
    char chunk[700];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (char)('a' + i % 26);
    for (int k = 0; k < 10; k++) /* 7 000 bytes: past the first allocations */
        assert_true(att_buf_put(&b, chunk, sizeof chunk));
    assert_int_equal(b.len, 7000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.p[b.len], '\0');
    assert_memory_equal(b.p + 6300, chunk, sizeof chunk);
    assert_false(b.over || b.failed);
    free(b.p);
}

static void test_max(void **state)
{
    att_buf_t b = {.max = 10};
    assert_true(att_buf_put(&b, "0123456789", 10)); /* exactly max */
    assert_false(att_buf_put(&b, "x", 1));          /* one past */
    assert_true(b.over && b.failed);
    assert_int_equal(b.len, 10);
    assert_string_equal((char *)b.p, "0123456789");
    assert_false(att_buf_put(&b, "", 0)); /* failed sticks */
    free(b.p);
    att_buf_t c = {.max = 4};
    assert_false(att_buf_put(&c, "12345", 5)); /* over on the first append: nothing kept */
    assert_true(c.over);
    assert_null(c.p);
}

static void test_curl_write(void **state)
{
    att_buf_t b = {.max = 8};
    char data[6] = "abcdef";
    assert_int_equal(att_buf_curl_write(data, 2, 3, &b), 6);
    assert_int_equal(att_buf_curl_write(data, 1, 3, &b), 0); /* 9 > 8: aborts the transfer */
    assert_true(b.over);
    assert_int_equal(b.len, 6);
    free(b.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_grow),
        cmocka_unit_test(test_max),
        cmocka_unit_test(test_curl_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
