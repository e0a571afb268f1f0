/* test_tcbeval.c - Intel's TCB evaluation data numbers (attest/tcbeval.h, issue 15): a list the
 * simulated TCB signer signs verifies and reads back sorted; each bound and malformed field is
 * refused with its own message; a changed byte, a changed signature, an untrusted root or a
 * chain of the wrong shape are refused; the validity window is judged at the time given; and the
 * PCS fetcher's keys for pinned baselines and lists are checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attest/collateral.h"
#include "attest/sim.h"
#include "attest/tcbeval.h"

#define NOW ((att_time_t)1751328000) /* 2025-07-01T00:00:00Z */
#define DAY (24 * 3600LL)

static att_sim_pki_t *pki, *other;
static att_trust_t *trust;

static int setup(void **state)
{
    (void)state;
    att_sim_pki_opts_t po;
    att_diag_t d;
    att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, NOW);
    if (att_sim_pki_new(&po, &pki, &d) != ATT_OK || att_sim_pki_new(&po, &other, &d) != ATT_OK)
        return -1;
    trust = att_trust_new();
    att_slice_t root = att_sim_pki_cert_der(pki, ATT_SIM_ROOT);
    return att_trust_add_root(trust, root.ptr, root.len, &d) == ATT_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    att_sim_pki_free(pki);
    att_sim_pki_free(other);
    att_trust_free(trust);
    return 0;
}

/* The signing chain of p as PCS sends it: TCB signer, then the root (PEM). */
static char *chain_of(const att_sim_pki_t *p, size_t *len)
{
    att_slice_t a = att_sim_pki_cert_pem(p, ATT_SIM_TCB_SIGNER),
                b = att_sim_pki_cert_pem(p, ATT_SIM_ROOT);
    char *c = malloc(a.len + b.len + 1);
    memcpy(c, a.ptr, a.len);
    memcpy(c + a.len, b.ptr, b.len);
    c[a.len + b.len] = 0;
    *len = a.len + b.len;
    return c;
}

static char *sign_list(const att_sim_pki_t *p, att_tee_t tee, const unsigned *nums, size_t n,
                       size_t *len)
{
    att_sim_tcbeval_entry_t e[80];
    for (size_t i = 0; i < n; i++)
        e[i] = (att_sim_tcbeval_entry_t){nums[i], NOW - (att_time_t)(i + 2) * 100 * DAY,
                                         NOW - (att_time_t)(i + 1) * 100 * DAY};
    char *json = NULL;
    att_diag_t d;
    if (att_sim_tcbeval_sign(p, tee, NOW - DAY, NOW + 30 * DAY, e, n, &json, len, &d) != ATT_OK)
        return NULL;
    return json;
}

/* att_dcap_tcbeval_new on json with pki's chain: the code, and the message in d. */
static att_err_t verify(const char *json, size_t len, const att_sim_pki_t *p,
                        att_dcap_tcbeval_t **out, att_diag_t *d)
{
    size_t cl;
    char *ch = chain_of(p, &cl);
    att_dcap_tcbeval_t *ev = NULL;
    att_diag_clear(d);
    att_err_t e =
        att_dcap_tcbeval_new((const uint8_t *)json, len, (const uint8_t *)ch, cl, trust, &ev, d);
    free(ch);
    assert_int_equal(e, d->code);
    if (out)
        *out = ev;
    else
        att_dcap_tcbeval_free(ev);
    return e;
}

static void test_verifies_sorted(void **state)
{
    (void)state;
    unsigned nums[] = {17, 19, 18}; /* any order in, highest first out */
    size_t len;
    char *j = sign_list(pki, ATT_TEE_TDX, nums, 3, &len);
    att_dcap_tcbeval_t *ev = NULL;
    att_diag_t d;
    assert_int_equal(verify(j, len, pki, &ev, &d), ATT_OK);
    assert_int_equal(ev->tee, ATT_TEE_TDX);
    assert_int_equal(ev->n, 3);
    assert_int_equal(ev->e[0].number, 19);
    assert_int_equal(ev->e[1].number, 18);
    assert_int_equal(ev->e[2].number, 17);
    assert_int_equal(ev->e[2].tcb_date, NOW - 100 * DAY); /* 17 was given first */
    assert_non_null(att_dcap_tcbeval_find(ev, 18));
    assert_null(att_dcap_tcbeval_find(ev, 16));
    assert_false(ev->intel_root);
    assert_int_equal(att_dcap_tcbeval_check_time(ev, NOW, &d), ATT_OK);
    assert_int_equal(att_dcap_tcbeval_check_time(ev, NOW - 2 * DAY, &d),
                     ATT_E_TCBEVAL_NOT_YET_VALID);
    assert_int_equal(att_dcap_tcbeval_check_time(ev, NOW + 30 * DAY, &d), ATT_E_TCBEVAL_EXPIRED);
    assert_non_null(strstr(d.msg, "nextUpdate"));
    assert_int_equal(att_dcap_tcbeval_expiry(ev), NOW + 30 * DAY);
    /* references */
    assert_ptr_equal(att_dcap_tcbeval_ref(ev), ev);
    att_dcap_tcbeval_free(ev);
    att_dcap_tcbeval_free(ev);
    free(j);
}

static void test_signature_and_chain(void **state)
{
    (void)state;
    unsigned nums[] = {18, 17};
    size_t len;
    char *j = sign_list(pki, ATT_TEE_SGX, nums, 2, &len);
    att_diag_t d;
    /* a changed number inside the signed object */
    char *p = strstr(j, "\"tcbEvaluationDataNumber\":18");
    assert_non_null(p);
    p[strlen("\"tcbEvaluationDataNumber\":1")] = '6';
    assert_int_equal(verify(j, len, pki, NULL, &d), ATT_E_TCBEVAL_SIGNATURE);
    p[strlen("\"tcbEvaluationDataNumber\":1")] = '8';
    assert_int_equal(verify(j, len, pki, NULL, &d), ATT_OK);
    /* a changed signature */
    p = strstr(j, "\"signature\":\"") + 13;
    *p = *p == '0' ? '1' : '0';
    assert_int_equal(verify(j, len, pki, NULL, &d), ATT_E_TCBEVAL_SIGNATURE);
    free(j);
    /* signed under another hierarchy: its root is not trusted */
    j = sign_list(other, ATT_TEE_SGX, nums, 2, &len);
    assert_int_equal(verify(j, len, other, NULL, &d), ATT_E_CERT_UNTRUSTED_ROOT);
    /* ... and with our chain, the signature is not our signer's */
    assert_int_equal(verify(j, len, pki, NULL, &d), ATT_E_TCBEVAL_SIGNATURE);
    /* no chain; a chain of one certificate */
    att_dcap_tcbeval_t *ev = NULL;
    assert_int_equal(att_dcap_tcbeval_new((const uint8_t *)j, len, NULL, 0, trust, &ev, &d),
                     ATT_E_COLL_MISSING);
    att_slice_t one = att_sim_pki_cert_pem(pki, ATT_SIM_TCB_SIGNER);
    assert_int_equal(
        att_dcap_tcbeval_new((const uint8_t *)j, len, one.ptr, one.len, trust, &ev, &d),
        ATT_E_CERT_PARSE);
    assert_non_null(strstr(d.msg, "expected 2"));
    assert_null(ev);
    free(j);
}

/* parse one document: the code and the message */
static att_err_t parse(const char *text, att_diag_t *d)
{
    att_dcap_tcbeval_t ev;
    const char *sp;
    size_t sl;
    uint8_t sig[64];
    att_diag_clear(d);
    att_err_t e = att_dcap_tcbeval_parse(text, strlen(text), &ev, &sp, &sl, sig, d);
    assert_int_equal(e, d->code);
    return e;
}

#define SIG                                                                                        \
    "\"signature\":\""                                                                             \
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000"             \
    "000000000000000000000000000000000000000000000000\""
#define ENTRY(n)                                                                                   \
    "{\"tcbEvaluationDataNumber\":" #n                                                             \
    ",\"tcbRecoveryEventDate\":\"2024-03-12T00:00:00Z\",\"tcbDate\":\"2024-03-13T00:00:00Z\"}"
#define HEAD                                                                                       \
    "{\"id\":\"SGX\",\"version\":1,\"issueDate\":\"2025-06-03T23:58:51Z\",\"nextUpdate\":\"2025-"  \
    "07-03T23:58:51Z\","

static void test_malformed(void **state)
{
    (void)state;
    att_diag_t d;
    static const struct {
        const char *doc, *says;
        att_err_t e;
    } cases[] = {
        {"{\"tcbEvaluationDataNumbers\":" HEAD "\"tcbEvalNumbers\":[" ENTRY(17) "]}," SIG "}", NULL,
         ATT_OK},
        {"not json", "not valid JSON", ATT_E_COLL_FORMAT},
        {"{" SIG "}", "'tcbEvaluationDataNumbers' is missing", ATT_E_COLL_FORMAT},
        {"{\"tcbEvaluationDataNumbers\":" HEAD "\"tcbEvalNumbers\":[" ENTRY(17) "]}}",
         "'signature' is missing", ATT_E_COLL_FORMAT},
        {"{\"tcbEvaluationDataNumbers\":" HEAD
         "\"tcbEvalNumbers\":[" ENTRY(17) "]},\"signature\":\"00\"}",
         "64 bytes", ATT_E_COLL_FORMAT},
        {"{\"tcbEvaluationDataNumbers\":{\"id\":\"SEV\",\"version\":1}," SIG "}", "'id'",
         ATT_E_COLL_FORMAT},
        {"{\"tcbEvaluationDataNumbers\":{\"id\":\"SGX\",\"version\":2}," SIG "}", "version 2",
         ATT_E_COLL_FORMAT},
        {"{\"tcbEvaluationDataNumbers\":" HEAD "\"tcbEvalNumbers\":[]}," SIG "}", "non-empty",
         ATT_E_COLL_FORMAT},
        {"{\"tcbEvaluationDataNumbers\":" HEAD
         "\"tcbEvalNumbers\":[" ENTRY(17) "," ENTRY(17) "]}," SIG "}",
         "listed twice", ATT_E_COLL_FORMAT},
        {"{\"tcbEvaluationDataNumbers\":" HEAD "\"tcbEvalNumbers\":[" ENTRY(0) "]}," SIG "}",
         "from 1 to 2^30", ATT_E_COLL_FORMAT},
        {"{\"tcbEvaluationDataNumbers\":" HEAD "\"tcbEvalNumbers\":[" ENTRY(1073741825) "]}," SIG
                                                                                        "}",
         "from 1 to 2^30", ATT_E_COLL_FORMAT},
        {"{\"tcbEvaluationDataNumbers\":" HEAD
         "\"tcbEvalNumbers\":[{\"tcbEvaluationDataNumber\":3}]}," SIG "}",
         "'tcbRecoveryEventDate' is missing", ATT_E_COLL_FORMAT},
        {"{\"tcbEvaluationDataNumbers\":{\"id\":\"SGX\",\"version\":1,\"issueDate\":\"yesterday\"}"
         "," SIG "}",
         "'issueDate' is not an RFC 3339 time", ATT_E_COLL_FORMAT},
        {"{\"tcbEvaluationDataNumbers\":" HEAD
         "\"tcbEvalNumbers\":[" ENTRY(17) "],\"id\":\"TDX\"}," SIG "}",
         "not valid JSON", ATT_E_COLL_FORMAT}, /* a duplicate key */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        att_err_t e = parse(cases[i].doc, &d);
        if (e != cases[i].e || (cases[i].says && !strstr(d.msg, cases[i].says)))
            fail_msg("case %zu: got %d \"%s\", want %d \"%s\"", i, e, d.msg, cases[i].e,
                     cases[i].says ? cases[i].says : "");
    }
}

static void test_bounds(void **state)
{
    (void)state;
    att_diag_t d;
    /* 65 entries: over ATT_TCBEVAL_MAX */
    size_t cap = 200 * 80, n = 0;
    char *doc = malloc(cap);
    n += (size_t)snprintf(doc + n, cap - n,
                          "{\"tcbEvaluationDataNumbers\":" HEAD "\"tcbEvalNumbers\":[");
    for (int i = 1; i <= ATT_TCBEVAL_MAX + 1; i++)
        n += (size_t)snprintf(doc + n, cap - n,
                              "%s{\"tcbEvaluationDataNumber\":%d,\"tcbRecoveryEventDate\":"
                              "\"2024-03-12T00:00:00Z\",\"tcbDate\":\"2024-03-13T00:00:00Z\"}",
                              i > 1 ? "," : "", i);
    snprintf(doc + n, cap - n, "]}," SIG "}");
    assert_int_equal(parse(doc, &d), ATT_E_LIMIT);
    assert_non_null(strstr(d.msg, "at most 64"));
    free(doc);
    /* a document over ATT_TCBEVAL_MAX_BYTES is refused before it is read */
    size_t big = ATT_TCBEVAL_MAX_BYTES + 1;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = 0;
    assert_int_equal(parse(huge, &d), ATT_E_LIMIT);
    free(huge);
}

static void test_pcs_keys(void **state)
{
    (void)state;
    att_diag_t d;
    static const char *good[] = {"dcap/sgx/00a067110000/processor",
                                 "dcap/tdx/b0c06f000000/platform/17",
                                 "dcap/sgx/00a067110000/processor/1073741824"};
    static const char *bad[] = {"dcap/sgx/00a067110000/processor/0",
                                "dcap/sgx/00a067110000/processor/017",
                                "dcap/sgx/00a067110000/processor/1x",
                                "dcap/sgx/00a067110000/processor/",
                                "dcap/sgx/00a067110000/processor/1073741825",
                                "dcap/sgx/00a067110000/processor/99999999999",
                                "dcap/sgx/00a067110000/processors"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(att_dcap_pcs_fetcher.check_key(NULL, good[i], &d), ATT_OK);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (att_dcap_pcs_fetcher.check_key(NULL, bad[i], &d) != ATT_E_ARG)
            fail_msg("%s accepted", bad[i]);
    assert_int_equal(att_dcap_tcbeval_fetcher.check_key(NULL, "tcbeval/sgx", &d), ATT_OK);
    assert_int_equal(att_dcap_tcbeval_fetcher.check_key(NULL, "tcbeval/tdx", &d), ATT_OK);
    assert_int_equal(att_dcap_tcbeval_fetcher.check_key(NULL, "tcbeval/snp", &d), ATT_E_ARG);
    assert_string_equal(att_dcap_tcbeval_fetcher.prefix, "tcbeval");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verifies_sorted), cmocka_unit_test(test_signature_and_chain),
        cmocka_unit_test(test_malformed),       cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_pcs_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
