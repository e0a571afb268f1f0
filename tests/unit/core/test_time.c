/* test_time.c - RFC 3339 parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "attest/types.h"

static void test_parse_known(void **state)
{
    att_time_t t;
    assert_int_equal(att_time_parse("1970-01-01T00:00:00Z", &t), ATT_OK);
    assert_int_equal(t, 0);
    assert_int_equal(att_time_parse("2025-07-01T00:00:00Z", &t), ATT_OK);
    assert_int_equal(t, 1751328000);
    assert_int_equal(att_time_parse("2025-07-01T02:00:00+02:00", &t), ATT_OK);
    assert_int_equal(t, 1751328000);
    assert_int_equal(att_time_parse("2025-06-30T23:30:00.999-00:30", &t), ATT_OK);
    assert_int_equal(t, 1751328000);
    assert_int_equal(att_time_parse("2024-02-29T12:00:00Z", &t), ATT_OK);
    assert_int_equal(t, 1709208000);
}

static void test_parse_rejects(void **state)
{
    att_time_t t;
    const char *bad[] = {"",
                         "2025-07-01",
                         "2025-07-01T00:00:00",
                         "2025-13-01T00:00:00Z",
                         "2025-02-29T00:00:00Z",
                         "2025-07-01T24:00:00Z",
                         "2025-07-01T00:00:00Zx",
                         "2025-07-01T00:00:00.Z",
                         "25-07-01T00:00:00Z",
                         "2025-07-01T00:00:00+2:00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(att_time_parse(bad[i], &t), ATT_E_ARG);
    assert_int_equal(att_time_parse(NULL, &t), ATT_E_ARG);
}

static void test_format_roundtrip(void **state)
{
    char buf[ATT_TIME_STRLEN + 16];
    const char *samples[] = {"1970-01-01T00:00:00Z", "2000-02-29T23:59:59Z", "2025-07-19T10:01:18Z",
                             "2099-12-31T00:00:01Z", "1969-12-31T23:59:59Z"};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        att_time_t t;
        assert_int_equal(att_time_parse(samples[i], &t), ATT_OK);
        assert_string_equal(att_time_format(t, buf), samples[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_known),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_format_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
