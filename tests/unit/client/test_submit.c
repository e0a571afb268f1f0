/* test_submit.c - the attest request: body shape (quote/report, runtimeData, nonce), Open
 * Enclave wrapping of a bare SGX quote, argument checks, a redirect from attestd not followed.
 * Includes the source to reach statics.
 */
#define _GNU_SOURCE /* submit.c, included below, uses asprintf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "attest/evidence.h"
#include "client/submit.c"
#include "rp/loopback.h"

static void test_body_sgx(void **state)
{
    static const uint8_t q[] = {3, 0, 2, 0, 0xff};
    att_submit_opts_t o = {.url = "http://x",
                           .type = "SgxEnclave",
                           .evidence = q,
                           .evidence_len = sizeof(q),
                           .runtime_data = (const uint8_t *)"hi",
                           .runtime_len = 2,
                           .nonce = "n-1"};
    att_diag_t d;
    json_t *b = att_submit_body(&o, &d);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "quote")), "AwACAP8");
    json_t *rt = json_object_get(b, "runtimeData");
    assert_string_equal(json_string_value(json_object_get(rt, "data")), "aGk");
    assert_string_equal(json_string_value(json_object_get(rt, "dataType")), "Binary");
    assert_string_equal(json_string_value(json_object_get(b, "nonce")), "n-1");
    assert_null(json_object_get(b, "report"));
    json_decref(b);
    /* no runtime data, no nonce: the members are absent */
    o.runtime_data = NULL;
    o.nonce = NULL;
    b = att_submit_body(&o, &d);
    assert_int_equal(json_object_size(b), 1);
    json_decref(b);
}

static void test_body_open_enclave(void **state)
{
    static const uint8_t q[] = {3, 0, 2, 0, 0xff};
    att_submit_opts_t o = {
        .url = "http://x", .type = "OpenEnclave", .evidence = q, .evidence_len = sizeof(q)};
    att_diag_t d;
    json_t *b = att_submit_body(&o, &d);
    const char *r = json_string_value(json_object_get(b, "report"));
    assert_non_null(r);
    assert_null(json_object_get(b, "quote"));
    uint8_t *raw;
    size_t n;
    assert_true(att_b64_decode(r, strlen(r), false, &raw, &n));
    assert_int_equal(n, 16 + sizeof(q));
    static const uint8_t hdr[16] = {1, 0, 0, 0, 2, 0, 0, 0, sizeof(q), 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(raw, hdr, 16);
    assert_memory_equal(raw + 16, q, sizeof(q));
    /* the evidence attestd's parser takes, unchanged when sent again */
    const uint8_t *inner;
    size_t ilen;
    assert_int_equal(att_oe_report_parse(raw, n, &inner, &ilen, &d), ATT_OK);
    assert_int_equal(ilen, sizeof(q));
    o.evidence = raw;
    o.evidence_len = n;
    json_t *b2 = att_submit_body(&o, &d);
    assert_string_equal(json_string_value(json_object_get(b2, "report")), r);
    json_decref(b2);
    free(raw);
    json_decref(b);
}

static void test_submit_args(void **state)
{
    att_submit_result_t r;
    att_diag_t d;
    static const uint8_t q[] = {3, 0, 2, 0};
    att_submit_opts_t o = {
        .url = "http://127.0.0.1:1", .type = "Tpm", .evidence = q, .evidence_len = sizeof(q)};
    assert_int_equal(att_submit(&o, &r, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "Tpm"));
    o.type = "SgxEnclave";
    o.access_token = "a\r\nX-Injected: 1";
    assert_int_equal(att_submit(&o, &r, &d), ATT_E_ARG);
    o.access_token = "abc";
    o.timeout_ms = 2000;
    assert_int_equal(att_submit(&o, &r, &d), ATT_E_FETCH);
    assert_null(r.token);
    assert_int_equal(r.http_status, 0);
    assert_non_null(strstr(d.msg, "/attest/SgxEnclave?api-version=2022-08-01"));
    o.type = "TdxVm";
    assert_int_equal(att_submit(&o, &r, &d), ATT_E_FETCH);
    assert_non_null(strstr(d.msg, "/attest/TdxVm?api-version=2023-04-01-preview"));
    o.api_version = "2025-06-01";
    o.url = "http://127.0.0.1:1//";
    assert_int_equal(att_submit(&o, &r, &d), ATT_E_FETCH);
    assert_non_null(strstr(d.msg, "http://127.0.0.1:1/attest/TdxVm?api-version=2025-06-01"));
    assert_int_equal(att_submit(NULL, &r, &d), ATT_E_ARG);
    att_submit_result_clear(&r);
    att_submit_result_clear(NULL);
}

static char redirect_to[128];

static const char *redirect_answer(lo_srv_t *s, const char *req)
{
    (void)s, (void)req;
    static char resp[256];
    snprintf(resp, sizeof resp,
             "HTTP/1.1 307 Temporary Redirect\r\nLocation: %s\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n",
             redirect_to);
    return resp;
}

static const char *never_answer(lo_srv_t *s, const char *req)
{
    (void)s, (void)req;
    return "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

/* attestd's URL answering 307 to another server: the evidence and the bearer token are not
 * sent there; the error gives the status and the Location (issue 18.B5). */
static void test_submit_redirect(void **state)
{
    (void)state;
    lo_srv_t a, b;
    lo_start(&b, never_answer, NULL);
    lo_start(&a, redirect_answer, NULL);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", a.port);
    snprintf(redirect_to, sizeof redirect_to, "http://127.0.0.1:%d/attest/SgxEnclave", b.port);
    static const uint8_t q[] = {3, 0, 2, 0, 0xff};
    att_submit_opts_t o = {.url = url,
                           .type = "SgxEnclave",
                           .evidence = q,
                           .evidence_len = sizeof q,
                           .access_token = "bearer-secret",
                           .timeout_ms = 5000};
    att_submit_result_t r;
    att_diag_t d;
    assert_int_equal(att_submit(&o, &r, &d), ATT_E_FETCH_STATUS);
    lo_stop(&a);
    lo_stop(&b);
    assert_int_equal(r.http_status, 307);
    assert_null(r.token);
    if (r.error_message == NULL || strstr(r.error_message, redirect_to) == NULL ||
        strstr(r.error_message, "not followed") == NULL)
        fail_msg("%s", r.error_message ? r.error_message : "(none)");
    assert_int_equal(a.accepted, 1);
    assert_int_equal(b.accepted, 0);
    att_submit_result_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_sgx),
        cmocka_unit_test(test_body_open_enclave),
        cmocka_unit_test(test_submit_args),
        cmocka_unit_test(test_submit_redirect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
