/* test_b64.c - base64url / standard base64: RFC 4648 vectors, round trips of every length,
 * padding leniency, and rejection of every non-canonical or foreign input; algorithm names. */
#include "token/tok.h"

static void check_dec(const char *in, bool std, const char *want)
{
    uint8_t *out = NULL;
    size_t len = 0;
    assert_true(att_b64_decode(in, strlen(in), std, &out, &len));
    assert_int_equal(len, strlen(want));
    assert_memory_equal(out, want, len);
    assert_int_equal(out[len], 0); /* NUL-terminated for convenience */
    free(out);
}

static void check_bad(const char *in, bool std)
{
    uint8_t *out = (uint8_t *)1;
    size_t len = 7;
    assert_false(att_b64_decode(in, strlen(in), std, &out, &len));
    assert_null(out);
    assert_int_equal(len, 0);
}

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *e = att_b64std_encode((const uint8_t *)plain[i], strlen(plain[i]));
        assert_string_equal(e, std[i]);
        free(e);
        e = att_b64url_encode((const uint8_t *)plain[i], strlen(plain[i]));
        assert_string_equal(e, url[i]);
        free(e);
        check_dec(std[i], true, plain[i]);
        check_dec(url[i], false, plain[i]);
        check_dec(std[i], false, plain[i]); /* padded base64url is accepted */
        check_dec(url[i], true, plain[i]);  /* unpadded standard base64 too */
    }
}

static void test_alphabets(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0xfb, 0xff, 0xbf};
    char *u = att_b64url_encode(bytes, 3), *s = att_b64std_encode(bytes, 3);
    assert_string_equal(u, "-_-_");
    assert_string_equal(s, "+/+/");
    free(u);
    free(s);
    check_bad("-_-_", true);  /* url characters in standard base64 */
    check_bad("+/+/", false); /* standard characters in base64url */
}

static void test_round_trips(void **state)
{
    (void)state;
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof buf; n++) {
        for (int std = 0; std < 2; std++) {
            char *e = std ? att_b64std_encode(buf, n) : att_b64url_encode(buf, n);
            assert_non_null(e);
            if (!std)
                assert_null(strchr(e, '='));
            else
                assert_int_equal(strlen(e) % 4, 0);
            uint8_t *d;
            size_t dl;
            assert_true(att_b64_decode(e, strlen(e), std, &d, &dl));
            assert_int_equal(dl, n);
            if (n)
                assert_memory_equal(d, buf, n);
            free(d);
            free(e);
        }
    }
}

static void test_rejections(void **state)
{
    (void)state;
    check_bad("Zm9v!", false);   /* foreign character */
    check_bad("Zm 9v", false);   /* whitespace */
    check_bad("Zm9v\n", true);   /* newline */
    check_bad("Z", false);       /* 4n+1 characters */
    check_bad("Zm9vY", true);    /* 4n+1 */
    check_bad("Zg=", false);     /* incomplete padding */
    check_bad("Zg===", false);   /* too much padding */
    check_bad("Zm8==", false);   /* wrong amount of padding */
    check_bad("Zm9v=", false);   /* padding after a full quantum */
    check_bad("====", true);     /* padding only */
    check_bad("Zh", false);      /* non-canonical: unused bits set ("Zg" is canonical) */
    check_bad("Zm9=", true);     /* non-canonical: "Zm8=" */
    check_bad("Zg==Zg==", true); /* padding in the middle */
    check_bad("Z=g=", true);
    uint8_t *out;
    size_t len;
    assert_false(att_b64_decode("abcd", 4, false, NULL, &len));
    assert_false(att_b64_decode(NULL, 4, false, &out, &len));
    assert_true(att_b64_decode(NULL, 0, false, &out, &len));
    assert_int_equal(len, 0);
    free(out);
    /* Length is honoured: a NUL inside the range is an invalid character. */
    assert_false(att_b64_decode("Zm\0v", 4, false, &out, &len));
    /* ...and bytes after the range are not read. */
    assert_true(att_b64_decode("Zm9v!!!", 4, false, &out, &len));
    assert_int_equal(len, 3);
    free(out);
}

static void test_alg_names(void **state)
{
    (void)state;
    assert_string_equal(att_alg_name(ATT_ALG_RS256), "RS256");
    assert_string_equal(att_alg_name(ATT_ALG_PS256), "PS256");
    assert_string_equal(att_alg_name(ATT_ALG_ES256), "ES256");
    assert_string_equal(att_alg_name(ATT_ALG_NONE), "none");
    assert_string_equal(att_alg_name((att_alg_t)42), "none");
    assert_int_equal(att_alg_parse("RS256"), ATT_ALG_RS256);
    assert_int_equal(att_alg_parse("PS256"), ATT_ALG_PS256);
    assert_int_equal(att_alg_parse("ES256"), ATT_ALG_ES256);
    assert_int_equal(att_alg_parse("none"), ATT_ALG_NONE);
    assert_int_equal(att_alg_parse("HS256"), ATT_ALG_NONE);
    assert_int_equal(att_alg_parse("rs256"), ATT_ALG_NONE);
    assert_int_equal(att_alg_parse(NULL), ATT_ALG_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors), cmocka_unit_test(test_alphabets),
        cmocka_unit_test(test_round_trips),     cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_alg_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
