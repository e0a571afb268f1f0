#define _GNU_SOURCE
/* test_vectors.c - every shared DCAP vector gets exactly its expected verdict, status,
 * advisories and report fields at its verification time; and the negative cases the
 * vectors README lists, made from the same data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#define _GNU_SOURCE
#include <string.h>

#include <cmocka.h>

#include "vec.h"

static att_trust_t *trust;

static int setup(void **state)
{
    trust = att_trust_new();
    return trust ? 0 : -1;
}

static int teardown(void **state)
{
    att_trust_free(trust);
    return 0;
}

/* Verify quote bytes against raw collateral at t. */
static att_err_t run(const uint8_t *q, size_t qlen, const att_dcap_collateral_raw_t *raw,
                     att_time_t t, att_dcap_result_t *res)
{
    att_dcap_collateral_t *c = NULL;
    att_diag_t d;
    att_err_t e = att_dcap_collateral_new(raw, trust, &c, &d);
    if (e != ATT_OK) {
        memset(res, 0, sizeof(*res));
        res->diag = d;
        return e;
    }
    e = att_dcap_verify(q, qlen, c, trust, t, res);
    att_dcap_collateral_free(c);
    return e;
}

static void check_fields(const vec_t *v, const att_dcap_result_t *res)
{
    json_t *eq = json_object_get(v->expected, "quote");
    json_t *report = json_object_get(eq, "report");
    json_t *got = att_quote_report_json(&res->quote);
    const char *k;
    json_t *want;
    size_t n = 0;
    json_object_foreach(report, k, want)
    {
        json_t *g = json_object_get(got, k);
        if (g == NULL)
            fail_msg("%s: report field %s missing", v->dir, k);
        if (!json_equal(g, want)) {
            char *a = json_dumps(g, JSON_ENCODE_ANY), *b = json_dumps(want, JSON_ENCODE_ANY);
            fail_msg("%s: field %s: got %s want %s", v->dir, k, a, b);
        }
        n++;
    }
    assert_true(n >= 9);
    json_decref(got);
    assert_int_equal(res->quote.version, json_integer_value(json_object_get(eq, "version")));
    assert_int_equal(res->quote.signed_region.len,
                     json_integer_value(json_object_get(eq, "signed_len")));
    assert_int_equal(res->quote.trailing,
                     json_integer_value(json_object_get(eq, "trailing_bytes_after_sig_data")));
    assert_int_equal(res->quote.quote_len + res->quote.trailing,
                     json_integer_value(json_object_get(eq, "total_len")));
    assert_int_equal(res->quote.qe.isvsvn, json_integer_value(json_object_get(eq, "qe_isvsvn")));
    assert_int_equal(res->quote.cert_type,
                     json_integer_value(json_object_get(eq, "cert_data_type")));
    char fmspc[13];
    att_hex_encode(res->fmspc, 6, fmspc);
    const char *want_fmspc = json_string_value(
        json_object_get(json_object_get(v->expected, "collateral_validity_window"), "fmspc"));
    assert_true(strcasecmp(fmspc, want_fmspc) == 0);
}

static void test_expected_verdicts(void **state)
{
    for (size_t i = 0; i < VEC_N; i++) {
        vec_t v;
        assert_int_equal(vec_load(&v, vec_names[i]), 0);
        att_dcap_result_t res;
        att_err_t e = run(v.quote, v.quote_len, &v.raw, v.at, &res);
        json_t *exp = json_object_get(v.expected, "expected");
        bool accept = json_is_true(json_object_get(exp, "accept"));
        if (accept) {
            if (e != ATT_OK)
                fail_msg("%s: rejected: %s %s", vec_names[i], att_err_name(e), res.diag.msg);
            assert_true(res.accepted);
            assert_string_equal(att_tcb_status_name(res.status),
                                json_string_value(json_object_get(exp, "status")));
            json_t *adv = json_object_get(exp, "advisory_ids");
            assert_int_equal(res.n_advisories, json_array_size(adv));
            for (size_t k = 0; k < res.n_advisories; k++)
                assert_string_equal(res.advisory_ids[k], json_string_value(json_array_get(adv, k)));
            assert_true(res.collateral_expiry >= v.at);
            assert_true(res.collateral_expiry <= vec_window(&v, "not_after"));
        } else {
            /* Both negative sets: every check passes but no TCB level matches. */
            assert_int_equal(e, ATT_E_TCB_NOT_SUPPORTED);
            assert_false(res.accepted);
            assert_non_null(strstr(res.diag.msg, "no TCB level matches"));
        }
        check_fields(&v, &res);
        vec_free(&v);
    }
}

/* The edges of the joint validity window: inclusive at both ends, rejected one second out. */
static att_err_t early_code(const char *from)
{
    if (!strcmp(from, "tcbInfo.issueDate"))
        return ATT_E_TCBINFO_NOT_YET_VALID;
    if (!strcmp(from, "qeIdentity.issueDate"))
        return ATT_E_QEID_NOT_YET_VALID;
    return ATT_E_CRL_NOT_YET_VALID;
}

static att_err_t late_code(const char *from)
{
    if (!strcmp(from, "tcbInfo.nextUpdate"))
        return ATT_E_TCBINFO_EXPIRED;
    if (!strcmp(from, "qeIdentity.nextUpdate"))
        return ATT_E_QEID_EXPIRED;
    return ATT_E_CRL_EXPIRED;
}

static void test_time_window(void **state)
{
    for (size_t i = 0; i < VEC_N; i++) {
        vec_t v;
        assert_int_equal(vec_load(&v, vec_names[i]), 0);
        json_t *w = json_object_get(v.expected, "collateral_validity_window");
        att_time_t nb = vec_window(&v, "not_before"), na = vec_window(&v, "not_after");
        att_err_t ok =
            json_is_true(json_object_get(json_object_get(v.expected, "expected"), "accept"))
                ? ATT_OK
                : ATT_E_TCB_NOT_SUPPORTED;
        att_dcap_result_t res;
        assert_int_equal(run(v.quote, v.quote_len, &v.raw, nb, &res), ok);
        assert_int_equal(run(v.quote, v.quote_len, &v.raw, na, &res), ok);
        att_err_t e = run(v.quote, v.quote_len, &v.raw, nb - 1, &res);
        if (e != early_code(json_string_value(json_object_get(w, "not_before_from"))))
            fail_msg("%s at not_before-1: %s %s", vec_names[i], att_err_name(e), res.diag.msg);
        assert_non_null(strstr(res.diag.msg, "not valid until"));
        e = run(v.quote, v.quote_len, &v.raw, na + 1, &res);
        if (e != late_code(json_string_value(json_object_get(w, "not_after_from"))))
            fail_msg("%s at not_after+1: %s %s", vec_names[i], att_err_name(e), res.diag.msg);
        assert_non_null(strstr(res.diag.msg, "expired at"));
        vec_free(&v);
    }
}

/* Offsets of the QE report and QE auth data inside the quote. */
static size_t qe_report_off(const att_dcap_result_t *r, const uint8_t *q)
{
    return (size_t)(r->quote.qe_report - q);
}

static void test_tampering(void **state)
{
    for (size_t i = 0; i < 3; i++) { /* the accepted sets */
        vec_t v;
        assert_int_equal(vec_load(&v, vec_names[i]), 0);
        att_dcap_result_t res;
        assert_int_equal(run(v.quote, v.quote_len, &v.raw, v.at, &res), ATT_OK);
        size_t signed_len = res.quote.signed_region.len;
        size_t qe_off = qe_report_off(&res, v.quote);
        size_t auth_off = (size_t)(res.quote.qe_auth_data.ptr - v.quote);
        size_t pem_off = (size_t)(res.quote.pck_chain.ptr - v.quote);
        uint8_t *q = malloc(v.quote_len);
        /* Flip bytes in the signed body, including the first and last body bytes. */
        size_t body_offsets[] = {48 + (res.quote.version == 5 ? 6 : 0), 100, signed_len - 1};
        for (size_t k = 0; k < 3; k++) {
            memcpy(q, v.quote, v.quote_len);
            q[body_offsets[k]] ^= 0x01;
            assert_int_equal(run(q, v.quote_len, &v.raw, v.at, &res), ATT_E_QUOTE_SIGNATURE);
        }
        /* Header user data is signed too. */
        memcpy(q, v.quote, v.quote_len);
        q[40] ^= 0x80;
        assert_int_equal(run(q, v.quote_len, &v.raw, v.at, &res), ATT_E_QUOTE_SIGNATURE);
        /* The signature itself. */
        memcpy(q, v.quote, v.quote_len);
        q[signed_len + 4 + 5] ^= 0x01;
        assert_int_equal(run(q, v.quote_len, &v.raw, v.at, &res), ATT_E_QUOTE_SIGNATURE);
        /* The attestation key: no longer bound by the QE report data (or not on the curve). */
        memcpy(q, v.quote, v.quote_len);
        q[signed_len + 4 + 64 + 7] ^= 0x01;
        att_err_t e = run(q, v.quote_len, &v.raw, v.at, &res);
        assert_int_equal(e, ATT_E_QE_REPORT_DATA);
        /* QE report bytes. */
        size_t qe_bytes[] = {10, 64, 320};
        for (size_t k = 0; k < 3; k++) {
            memcpy(q, v.quote, v.quote_len);
            q[qe_off + qe_bytes[k]] ^= 0x01;
            assert_int_equal(run(q, v.quote_len, &v.raw, v.at, &res), ATT_E_QE_REPORT_SIGNATURE);
        }
        /* QE report signature. */
        memcpy(q, v.quote, v.quote_len);
        q[qe_off + 384 + 40] ^= 0x01;
        assert_int_equal(run(q, v.quote_len, &v.raw, v.at, &res), ATT_E_QE_REPORT_SIGNATURE);
        /* QE auth data. */
        memcpy(q, v.quote, v.quote_len);
        q[auth_off + 3] ^= 0x01;
        assert_int_equal(run(q, v.quote_len, &v.raw, v.at, &res), ATT_E_QE_REPORT_DATA);
        /* PCK leaf certificate: a byte of its PEM body changes the DER. */
        memcpy(q, v.quote, v.quote_len);
        q[pem_off + 200] = q[pem_off + 200] == 'A' ? 'B' : 'A';
        e = run(q, v.quote_len, &v.raw, v.at, &res);
        if (e != ATT_E_CERT_SIGNATURE && e != ATT_E_QUOTE_PCK_CHAIN && e != ATT_E_CERT_ISSUER)
            fail_msg("%s: PEM byte changed: %s %s", vec_names[i], att_err_name(e), res.diag.msg);
        /* The last base64 characters of the leaf hold its signature: exactly a signature error. */
        memcpy(q, v.quote, v.quote_len);
        char *end = memmem(q + pem_off, v.quote_len - pem_off, "-----END", 8);
        assert_non_null(end);
        char *sigc = end - 12; /* inside the last full base64 line, clear of padding */
        while (*sigc == '\n' || *sigc == '=')
            sigc--;
        *sigc = *sigc == 'A' ? 'B' : 'A';
        e = run(q, v.quote_len, &v.raw, v.at, &res);
        if (e != ATT_E_CERT_SIGNATURE)
            fail_msg("%s: leaf signature changed: %s %s", vec_names[i], att_err_name(e),
                     res.diag.msg);
        free(q);
        vec_free(&v);
    }
}

/* Change one character inside the signed tcbInfo / enclaveIdentity: signature failure. */
static void test_modified_collateral(void **state)
{
    for (size_t i = 0; i < 3; i++) {
        vec_t v;
        assert_int_equal(vec_load(&v, vec_names[i]), 0);
        att_dcap_result_t res;
        uint8_t *orig = (uint8_t *)v.raw.tcb_info.ptr;
        char *p = strstr((char *)orig, "\"tcbEvaluationDataNumber\":");
        assert_non_null(p);
        p += strlen("\"tcbEvaluationDataNumber\":");
        *p = *p == '9' ? '8' : (char)(*p + 1);
        assert_int_equal(run(v.quote, v.quote_len, &v.raw, v.at, &res), ATT_E_TCBINFO_SIGNATURE);
        *p = *p == '8' ? '9' : (char)(*p - 1);
        assert_int_equal(run(v.quote, v.quote_len, &v.raw, v.at, &res), ATT_OK);

        /* The signature hex. */
        p = strstr((char *)orig, "\"signature\":\"");
        assert_non_null(p);
        p += 20;
        *p = *p == '0' ? '1' : '0';
        assert_int_equal(run(v.quote, v.quote_len, &v.raw, v.at, &res), ATT_E_TCBINFO_SIGNATURE);

        uint8_t *qe = (uint8_t *)v.raw.qe_identity.ptr;
        p = strstr((char *)qe, "\"isvprodid\":");
        assert_non_null(p);
        /* re-load the good TCB info first */
        vec_free(&v);
        assert_int_equal(vec_load(&v, vec_names[i]), 0);
        p = strstr((char *)v.raw.qe_identity.ptr, "\"isvprodid\":");
        p += strlen("\"isvprodid\":");
        *p = (char)(*p + 1);
        assert_int_equal(run(v.quote, v.quote_len, &v.raw, v.at, &res), ATT_E_QEID_SIGNATURE);
        vec_free(&v);
    }
}

/* Collateral of one set used for another. */
static void test_swapped_collateral(void **state)
{
    vec_t sgx, tdx;
    assert_int_equal(vec_load(&sgx, vec_names[0]), 0);
    assert_int_equal(vec_load(&tdx, vec_names[1]), 0);
    att_dcap_result_t res;
    att_dcap_collateral_raw_t mix = sgx.raw;
    /* Same verification time (2025-07-01) for both sets, so only the swap matters. */
    mix.tcb_info = tdx.raw.tcb_info;
    assert_int_equal(run(sgx.quote, sgx.quote_len, &mix, sgx.at, &res), ATT_E_TCBINFO_TEE);
    mix = tdx.raw;
    mix.tcb_info = sgx.raw.tcb_info;
    assert_int_equal(run(tdx.quote, tdx.quote_len, &mix, tdx.at, &res), ATT_E_TCBINFO_TEE);
    mix = sgx.raw;
    mix.qe_identity = tdx.raw.qe_identity;
    assert_int_equal(run(sgx.quote, sgx.quote_len, &mix, sgx.at, &res), ATT_E_QEID_VERSION);
    /* The SGX set's PCK CRL (Processor CA) for a Platform-CA quote. */
    mix = tdx.raw;
    mix.pck_crl = sgx.raw.pck_crl;
    mix.pck_crl_chain = sgx.raw.pck_crl_chain;
    assert_int_equal(run(tdx.quote, tdx.quote_len, &mix, tdx.at, &res), ATT_E_CRL_ISSUER);
    assert_non_null(strstr(res.diag.msg, "Processor"));
    /* A PCK CRL where the root CA CRL belongs. */
    mix = sgx.raw;
    mix.root_ca_crl = sgx.raw.pck_crl;
    att_dcap_collateral_t *c = NULL;
    att_diag_t d;
    assert_int_equal(att_dcap_collateral_new(&mix, trust, &c, &d), ATT_E_CRL_ISSUER);
    /* A TCB info issuer chain in place of the PCK CRL chain: wrong CA. */
    mix = sgx.raw;
    mix.pck_crl_chain = sgx.raw.tcb_info_chain;
    assert_int_equal(att_dcap_collateral_new(&mix, trust, &c, &d), ATT_E_CERT_SUBJECT);
    /* Without the PCK CRL issuer chain, the quote's own PCK CA checks the CRL. */
    mix = tdx.raw;
    mix.pck_crl_chain.ptr = NULL;
    mix.pck_crl_chain.len = 0;
    assert_int_equal(run(tdx.quote, tdx.quote_len, &mix, tdx.at, &res), ATT_OK);
    mix.pck_crl = sgx.raw.pck_crl;
    assert_int_equal(run(tdx.quote, tdx.quote_len, &mix, tdx.at, &res), ATT_E_CRL_ISSUER);
    vec_free(&sgx);
    vec_free(&tdx);
}

static void test_missing_and_garbage_collateral(void **state)
{
    vec_t v;
    assert_int_equal(vec_load(&v, vec_names[0]), 0);
    att_dcap_collateral_t *c = NULL;
    att_diag_t d;
    att_slice_t *fields[] = {&v.raw.tcb_info,          &v.raw.tcb_info_chain, &v.raw.qe_identity,
                             &v.raw.qe_identity_chain, &v.raw.pck_crl,        &v.raw.root_ca_crl};
    for (size_t i = 0; i < 6; i++) {
        att_dcap_collateral_raw_t mix = v.raw;
        att_slice_t *f = (att_slice_t *)((char *)&mix + ((char *)fields[i] - (char *)&v.raw));
        f->len = 0;
        assert_int_equal(att_dcap_collateral_new(&mix, trust, &c, &d), ATT_E_COLL_MISSING);
        assert_null(c);
        static const uint8_t junk[] = "{\"not\": \"this\"}";
        f->ptr = junk;
        f->len = sizeof(junk) - 1;
        att_err_t e = att_dcap_collateral_new(&mix, trust, &c, &d);
        assert_true(e == ATT_E_COLL_FORMAT || e == ATT_E_CERT_PARSE || e == ATT_E_CRL_PARSE);
        assert_true(strlen(d.msg) > 10);
    }
    vec_free(&v);
}

/* Every prefix of every quote is rejected with a structural error, never accepted. */
static void test_truncated_and_overlong(void **state)
{
    for (size_t i = 0; i < VEC_N; i++) {
        vec_t v;
        assert_int_equal(vec_load(&v, vec_names[i]), 0);
        att_quote_t q;
        att_diag_t d;
        assert_int_equal(att_quote_parse(v.quote, v.quote_len, &q, &d), ATT_OK);
        size_t used = q.quote_len;
        for (size_t n = 0; n < used; n++) {
            att_err_t e = att_quote_parse(v.quote, n, &q, &d);
            if (e != ATT_E_QUOTE_TRUNCATED && e != ATT_E_QUOTE_CERT_DATA)
                fail_msg("%s: prefix %zu: %s", vec_names[i], n, att_err_name(e));
        }
        /* Over-long: extra bytes are tolerated and reported, and never hashed. */
        uint8_t *big = malloc(v.quote_len + 1000);
        memcpy(big, v.quote, v.quote_len);
        memset(big + v.quote_len, 0xa5, 1000);
        att_dcap_result_t res;
        att_err_t want = i < 3 ? ATT_OK : ATT_E_TCB_NOT_SUPPORTED;
        assert_int_equal(run(big, v.quote_len + 1000, &v.raw, v.at, &res), want);
        assert_int_equal(res.quote.trailing, v.quote_len + 1000 - used);
        /* A signature-data length one byte longer than its contents. */
        size_t sl_off = q.signed_region.len;
        memcpy(big, v.quote, used);
        uint32_t sdl = q.sig_data_len + 1;
        memcpy(big + sl_off, &sdl, 4);
        big[used] = 0;
        assert_int_equal(att_quote_parse(big, used + 1, &q, &d), ATT_E_QUOTE_CERT_DATA);
        /* A signature-data length past the end. */
        sdl = 0xfffffff0u;
        memcpy(big + sl_off, &sdl, 4);
        assert_int_equal(att_quote_parse(big, used, &q, &d), ATT_E_QUOTE_TRUNCATED);
        assert_non_null(strstr(d.msg, "declares"));
        free(big);
        vec_free(&v);
    }
}

static void test_header_errors(void **state)
{
    vec_t v;
    assert_int_equal(vec_load(&v, vec_names[1]), 0); /* TDX v4 */
    uint8_t *q = malloc(v.quote_len);
    att_quote_t pq;
    att_diag_t d;
    struct {
        size_t off;
        uint8_t val;
        att_err_t want;
    } cases[] = {
        {0, 2, ATT_E_QUOTE_VERSION},     {0, 6, ATT_E_QUOTE_VERSION},  {2, 3, ATT_E_QUOTE_KEY_TYPE},
        {4, 0x82, ATT_E_QUOTE_TEE_TYPE}, {0, 3, ATT_E_QUOTE_TEE_TYPE}, /* v3 with TDX */
        {12, 0, ATT_E_QUOTE_QE_VENDOR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(q, v.quote, v.quote_len);
        q[cases[i].off] = cases[i].val;
        assert_int_equal(att_quote_parse(q, v.quote_len, &pq, &d), cases[i].want);
        assert_int_equal(d.code, cases[i].want);
    }
    /* v5 body descriptor errors: make a v5 header over the TDX v4 quote's bytes. */
    vec_t v5;
    assert_int_equal(vec_load(&v5, vec_names[3]), 0);
    uint8_t *q5 = malloc(v5.quote_len);
    memcpy(q5, v5.quote, v5.quote_len);
    q5[48] = 4; /* body type 4 */
    assert_int_equal(att_quote_parse(q5, v5.quote_len, &pq, &d), ATT_E_QUOTE_BODY_TYPE);
    memcpy(q5, v5.quote, v5.quote_len);
    q5[50] = 0x49; /* body size 585 */
    assert_int_equal(att_quote_parse(q5, v5.quote_len, &pq, &d), ATT_E_QUOTE_BODY_TYPE);
    memcpy(q5, v5.quote, v5.quote_len);
    q5[48] = 1; /* SGX body in a TDX quote */
    q5[50] = 0x80;
    q5[51] = 0x01;
    assert_int_equal(att_quote_parse(q5, v5.quote_len, &pq, &d), ATT_E_QUOTE_BODY_TYPE);
    /* Outer certification data type other than 6, inner other than 5. */
    memcpy(q, v.quote, v.quote_len);
    assert_int_equal(att_quote_parse(q, v.quote_len, &pq, &d), ATT_OK);
    size_t outer = pq.signed_region.len + 4 + 128;
    q[outer] = 5;
    assert_int_equal(att_quote_parse(q, v.quote_len, &pq, &d), ATT_E_QUOTE_CERT_TYPE);
    memcpy(q, v.quote, v.quote_len);
    assert_int_equal(att_quote_parse(q, v.quote_len, &pq, &d), ATT_OK);
    size_t inner = (size_t)(pq.pck_chain.ptr - q) - 6;
    q[inner] = 4;
    assert_int_equal(att_quote_parse(q, v.quote_len, &pq, &d), ATT_E_QUOTE_CERT_TYPE);
    assert_non_null(strstr(d.msg, "type 4"));
    free(q);
    free(q5);
    vec_free(&v);
    vec_free(&v5);
}

static void test_result_json(void **state)
{
    vec_t v;
    assert_int_equal(vec_load(&v, vec_names[0]), 0);
    att_dcap_result_t res;
    assert_int_equal(run(v.quote, v.quote_len, &v.raw, v.at, &res), ATT_OK);
    json_t *o = att_dcap_result_json(&res);
    assert_string_equal(json_string_value(json_object_get(o, "verdict")), "accept");
    assert_string_equal(json_string_value(json_object_get(o, "tee")), "sgx");
    assert_true(json_is_null(json_object_get(o, "error")));
    assert_string_equal(json_string_value(json_object_get(o, "mrenclave")),
                        "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb");
    assert_string_equal(json_string_value(json_object_get(o, "collateral_expiry")),
                        "2025-07-19T10:01:18Z");
    json_decref(o);
    vec_free(&v);
}

int main(void)
{
    VEC_REQUIRE_ALL(); /* every test here reads the real vector sets */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expected_verdicts),
        cmocka_unit_test(test_time_window),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_modified_collateral),
        cmocka_unit_test(test_swapped_collateral),
        cmocka_unit_test(test_missing_and_garbage_collateral),
        cmocka_unit_test(test_truncated_and_overlong),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_result_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
