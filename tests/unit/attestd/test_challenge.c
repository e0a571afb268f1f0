/* test_challenge.c - stateless, single-use challenges (challenge.c): a token opens on the service
 * that made it and on a replica sharing its store, not on another service; a changed byte, another
 * purpose, an expired token and a second spend are refused with ATT_E_CHALLENGE; bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "svc_int.h"

static att_svc_t *mksvc(const char *dir)
{
    att_svc_opts_t o = {.issuer = "http://127.0.0.1:9/", .data_dir = dir, .token_lifetime = 600};
    att_svc_t *svc;
    att_diag_t d;
    if (att_svc_new(&o, &svc, &d) != ATT_OK)
        fail_msg("att_svc_new: %s", d.msg);
    return svc;
}

static void test_challenge(void **state)
{
    char a[] = "/tmp/att-ch-a-XXXXXX", b[] = "/tmp/att-ch-b-XXXXXX";
    assert_non_null(mkdtemp(a));
    assert_non_null(mkdtemp(b));
    att_svc_t *one = mksvc(a), *replica = mksvc(a), *other = mksvc(b);
    static const uint8_t challenge[32] = {1, 2, 3, 4, 5};
    att_diag_t d;
    uint8_t *data;
    size_t len;
    att_time_t exp = 0;

    char *t = att_challenge_seal(one, "service context", challenge, sizeof challenge, 1000);
    assert_non_null(t);
    /* opens where it was made, without spending: twice */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            att_challenge_open(one, "service context", t, 900, false, &data, &len, &exp, &d),
            ATT_OK);
        assert_int_equal(len, 32);
        assert_memory_equal(data, challenge, 32);
        assert_int_equal(exp, 1000);
        free(data);
    }
    /* on a replica of the same store; not on another service */
    assert_int_equal(
        att_challenge_open(replica, "service context", t, 900, false, &data, &len, NULL, &d),
        ATT_OK);
    free(data);
    assert_int_equal(
        att_challenge_open(other, "service context", t, 900, false, &data, &len, NULL, &d),
        ATT_E_CHALLENGE);
    assert_non_null(strstr(d.msg, "not one this service made"));
    assert_null(strstr(d.msg, t)); /* never echoed */
    /* another purpose, expired */
    assert_int_equal(att_challenge_open(one, "nonce", t, 900, false, &data, &len, NULL, &d),
                     ATT_E_CHALLENGE);
    assert_non_null(strstr(d.msg, "not a nonce"));
    assert_int_equal(
        att_challenge_open(one, "service context", t, 1001, false, &data, &len, NULL, &d),
        ATT_E_CHALLENGE);
    assert_non_null(strstr(d.msg, "expired"));
    /* every changed character is refused */
    size_t tl = strlen(t);
    for (size_t i = 0; i < tl; i++) {
        char *u = strdup(t);
        u[i] = u[i] == 'A' ? 'B' : 'A';
        att_err_t e =
            att_challenge_open(one, "service context", u, 900, false, &data, &len, NULL, &d);
        if (e == ATT_OK)
            fail_msg("a token changed at %zu opened", i);
        assert_int_equal(e, ATT_E_CHALLENGE);
        free(u);
    }
    /* spent once, on any replica */
    assert_int_equal(
        att_challenge_open(replica, "service context", t, 900, true, &data, &len, NULL, &d),
        ATT_OK);
    free(data);
    assert_int_equal(
        att_challenge_open(one, "service context", t, 901, true, &data, &len, NULL, &d),
        ATT_E_CHALLENGE);
    assert_non_null(strstr(d.msg, "used already"));
    /* bounds and garbage */
    static uint8_t big[2048];
    assert_null(att_challenge_seal(one, "nonce", big, sizeof big, 1000));
    assert_null(att_challenge_seal(one, "", challenge, 1, 1000));
    const char *bad[] = {"", "!!!", "AA", "AQ"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(att_challenge_open(one, "nonce", bad[i], 0, false, &data, &len, NULL, &d),
                         ATT_E_CHALLENGE);
    char *huge = malloc(20000);
    memset(huge, 'A', 19999);
    huge[19999] = 0;
    assert_int_equal(att_challenge_open(one, "nonce", huge, 0, false, &data, &len, NULL, &d),
                     ATT_E_CHALLENGE);
    free(huge);
    free(t);
    att_svc_free(one);
    att_svc_free(replica);
    att_svc_free(other);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", a, b);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_challenge)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
