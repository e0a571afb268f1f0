/* test_tpm_client.c - the TPM client's checks that need no TPM: the PCR selection parser (the
 * masks of good specs, the message of each bad one), NULL arguments of every att_tpm_client_*
 * and att_tpm_attest call, options refused before any TPM is reached (handles, key algorithms,
 * an unreadable log), and no TPM reachable (a TCTI to a loopback port nothing listens on) as
 * ATT_E_UNSUPPORTED naming the TCTI. The TPM itself is exercised by e2e/test_tpm_client.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "client/tpm_client.h"

static void test_pcrs_good(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        size_t n;
        uint16_t alg[2];
        uint32_t mask[2];
    } good[] = {
        {"sha256:0,1,2,3,4,5,6,7", 1, {ATT_TPM_ALG_SHA256}, {0xff}},
        {"sha256:all", 1, {ATT_TPM_ALG_SHA256}, {0xffffff}},
        {"sha1:0-7+sha256:16,23", 2, {ATT_TPM_ALG_SHA1, ATT_TPM_ALG_SHA256}, {0xff, 0x810000}},
        {"sha384:23", 1, {ATT_TPM_ALG_SHA384}, {0x800000}},
        {"sha512:0,0,3-4", 1, {ATT_TPM_ALG_SHA512}, {0x19}},
        {"sha256:all+sha1:10", 2, {ATT_TPM_ALG_SHA256, ATT_TPM_ALG_SHA1}, {0xffffff, 0x400}},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        att_tpm_sel_t sel[ATT_TPM_MAX_BANKS];
        size_t n = 99;
        att_diag_t d;
        assert_int_equal(att_tpm_pcrs_parse(good[i].spec, sel, &n, &d), ATT_OK);
        assert_int_equal(n, good[i].n);
        for (size_t b = 0; b < n; b++) {
            assert_int_equal(sel[b].alg, good[i].alg[b]);
            assert_int_equal(sel[b].mask, good[i].mask[b]);
        }
    }
}

static void test_pcrs_bad(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"", "empty"},
        {"sha256", "BANK:PCRS"},
        {"md5:0", "BANK sha1, sha256"},
        {"SHA256:0", "BANK sha1, sha256"},
        {"sha256:24", "PCR 24 is not in 0-23"},
        {"sha256:-1", "is not a PCR number"},
        {"sha256:", "is not a PCR number"},
        {"sha256:0,", "is not a PCR number"},
        {"sha256:7-3", "runs backwards"},
        {"sha256:3-", "FIRST-LAST"},
        {"sha256:0+sha256:1", "bank sha256 named twice"},
        {"sha1:0+sha256:0+sha384:0+sha512:0+sha1:1", "named twice"},
        {"sha256:0;1", "unexpected ';'"},
        {"sha256:0+", "BANK:PCRS"},
        {"sha256:99999999999999999999", "is not in 0-23"},
        {"sha256:allx", "is not a PCR number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        att_tpm_sel_t sel[ATT_TPM_MAX_BANKS];
        size_t n;
        att_diag_t d;
        assert_int_equal(att_tpm_pcrs_parse(bad[i][0], sel, &n, &d), ATT_E_ARG);
        if (strstr(d.msg, bad[i][1]) == NULL)
            fail_msg("--pcrs '%s': '%s' does not say '%s'", bad[i][0], d.msg, bad[i][1]);
    }
}

static void test_null_arguments(void **state)
{
    (void)state;
    att_diag_t d;
    att_tpm_client_t *t = (att_tpm_client_t *)&d; /* overwritten with NULL */
    att_tpm_client_opts_t o = {0};
    assert_int_equal(att_tpm_client_open(NULL, &t, &d), ATT_E_ARG);
    assert_null(t);
    assert_int_equal(att_tpm_client_open(&o, NULL, &d), ATT_E_ARG);
    char *m = (char *)&d;
    uint8_t n[1] = {0}, out[64];
    size_t ol = 7;
    assert_int_equal(att_tpm_client_quote(NULL, n, 1, &m, &d), ATT_E_ARG);
    assert_null(m);
    assert_int_equal(att_tpm_client_quote(NULL, n, 1, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_tpm_client_activate(NULL, n, 1, n, 1, out, &ol, &d), ATT_E_ARG);
    assert_int_equal(ol, 0);
    att_tpm_client_keys_t k;
    memset(&k, 0xa5, sizeof k);
    att_tpm_client_keys(NULL, &k);
    assert_null(k.ak_public);
    assert_int_equal(k.ek_cert_len, 0);
    att_tpm_client_keys(NULL, NULL);
    att_tpm_client_close(NULL);
    att_submit_result_t r;
    att_tpm_attest_opts_t ao = {.url = "http://127.0.0.1:9"};
    assert_int_equal(att_tpm_attest(NULL, &ao, &r, &d), ATT_E_ARG);
    assert_null(r.token);
    assert_int_equal(att_tpm_attest(NULL, NULL, &r, &d), ATT_E_ARG);
}

/* Options refused before any TPM is asked: the TCTI names nothing that listens, so reaching it
 * would be ATT_E_UNSUPPORTED instead. */
static void test_refused_before_tpm(void **state)
{
    (void)state;
    att_diag_t d;
    att_tpm_client_t *t;
    const char *tcti = "swtpm:host=127.0.0.1,port=9";
    att_tpm_client_opts_t o = {.tcti = tcti, .ak_handle = 0x80000001};
    assert_int_equal(att_tpm_client_open(&o, &t, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "--ak-handle 0x80000001 is not a persistent handle"));
    o = (att_tpm_client_opts_t){.tcti = tcti, .ek_handle = 0x01c00002};
    assert_int_equal(att_tpm_client_open(&o, &t, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "--ek-handle 0x01c00002 is not a persistent handle"));
    o = (att_tpm_client_opts_t){.tcti = tcti, .ak_alg = (att_tpm_key_alg_t)7};
    assert_int_equal(att_tpm_client_open(&o, &t, &d), ATT_E_ARG);
    o = (att_tpm_client_opts_t){.tcti = tcti, .pcrs = "sha256:24"};
    assert_int_equal(att_tpm_client_open(&o, &t, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "PCR 24"));
    o = (att_tpm_client_opts_t){.tcti = tcti, .eventlog = "/nonexistent/tcg.log"};
    assert_int_equal(att_tpm_client_open(&o, &t, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "/nonexistent/tcg.log"));
    o = (att_tpm_client_opts_t){.tcti = tcti, .eventlog = "none", .ima = "/nonexistent/ima"};
    assert_int_equal(att_tpm_client_open(&o, &t, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "/nonexistent/ima"));
}

/* A loopback port nothing listens on (bound, then closed). */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &l), 0);
    close(s);
    return ntohs(a.sin_port);
}

static void test_no_tpm(void **state)
{
    (void)state;
    char tcti[64];
    snprintf(tcti, sizeof tcti, "swtpm:host=127.0.0.1,port=%d", free_port());
    att_tpm_client_opts_t o = {.tcti = tcti, .eventlog = "none"};
    att_tpm_client_t *t = (att_tpm_client_t *)&o;
    att_diag_t d;
    assert_int_equal(att_tpm_client_open(&o, &t, &d), ATT_E_UNSUPPORTED);
    assert_null(t);
    assert_non_null(strstr(d.msg, "no TPM reachable"));
    assert_non_null(strstr(d.msg, tcti));
    /* an unknown TCTI module is the same: nothing to talk to */
    o.tcti = "no-such-tcti-module";
    assert_int_equal(att_tpm_client_open(&o, &t, &d), ATT_E_UNSUPPORTED);
    assert_non_null(strstr(d.msg, "no-such-tcti-module"));
}

int main(void)
{
    setenv("TSS2_LOG", "all+NONE", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcrs_good),      cmocka_unit_test(test_pcrs_bad),
        cmocka_unit_test(test_null_arguments), cmocka_unit_test(test_refused_before_tpm),
        cmocka_unit_test(test_no_tpm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
