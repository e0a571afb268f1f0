/* test_policy_examples.c - the policies of maa-api.md §3.5 and MAA's docs: they parse, hash as MAA
 * does, and evaluate to the golden results in data/golden (written by hand from the documented
 * semantics, one case per line of data/golden/cases.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "attest/policy.h"

#define DATA ATT_TEST_DATA "/data"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static att_policy_t *compile_file(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), DATA "/examples/%s", name);
    size_t len;
    char *text = slurp(path, &len);
    att_policy_t *pol = NULL;
    att_policy_pos_t pos;
    att_diag_t d;
    att_err_t e = att_policy_compile(text, len, &pol, &pos, &d);
    free(text);
    if (e != ATT_OK)
        fail_msg("%s: %s", name, d.msg);
    return pol;
}

static void test_golden_cases(void **state)
{
    FILE *f = fopen(DATA "/golden/cases.txt", "r");
    assert_non_null(f);
    char line[512];
    int ncases = 0;
    while (fgets(line, sizeof(line), f)) {
        char name[128], pol_name[128], claims_name[128];
        if (line[0] == '#' || sscanf(line, "%127s %127s %127s", name, pol_name, claims_name) != 3)
            continue;
        char path[512];
        json_error_t jerr;
        snprintf(path, sizeof(path), DATA "/golden/%s", claims_name);
        json_t *claims = json_load_file(path, 0, &jerr);
        if (claims == NULL)
            fail_msg("%s: %s", path, jerr.text);
        snprintf(path, sizeof(path), DATA "/golden/%s.expected.json", name);
        json_t *exp = json_load_file(path, 0, &jerr);
        if (exp == NULL)
            fail_msg("%s: %s", path, jerr.text);
        att_policy_t *pol = compile_file(pol_name);
        att_policy_result_t *res;
        att_diag_t d;
        att_policy_eval_opts_t opts = {.explain = (ncases % 2) == 1}; /* trace must not matter */
        if (att_policy_eval(pol, claims, &opts, &res, &d) != ATT_OK)
            fail_msg("%s: %s", name, d.msg);
        const char *want = json_string_value(json_object_get(exp, "decision"));
        const char *got = att_policy_permitted(res) ? "permit" : "deny";
        if (strcmp(want, got) != 0)
            fail_msg("%s: decision %s, expected %s (%s)", name, got, want,
                     att_policy_result_reason(res));
        if (!json_equal(json_object_get(exp, "claims"), (json_t *)att_policy_result_claims(res))) {
            char *s = json_dumps(att_policy_result_claims(res), JSON_SORT_KEYS);
            fail_msg("%s: issued claims differ: %s", name, s);
        }
        if (!json_equal(json_object_get(exp, "properties"),
                        (json_t *)att_policy_result_properties(res))) {
            char *s = json_dumps(att_policy_result_properties(res), JSON_SORT_KEYS);
            fail_msg("%s: properties differ: %s", name, s);
        }
        att_policy_result_free(res);
        att_policy_free(pol);
        json_decref(claims);
        json_decref(exp);
        ncases++;
    }
    fclose(f);
    assert_true(ncases >= 19);
}

/* The 2022-08-01 SGX token example carries x-ms-policy-hash egjnANIz... for the old default
 * policy whose text the docs' unsigned policy JWT holds: our hash must reproduce it. */
static void test_hash_matches_maa_token(void **state)
{
    att_policy_t *pol = compile_file("old_default.pol");
    assert_string_equal(att_policy_hash(pol), "egjnANIzEpS2WgpE4Nk-QEwM69XRCgTs42_G0qLlbnk");
    assert_int_equal(att_policy_version(pol), 10);
    assert_int_equal(att_policy_rule_count(pol), 7);
    att_policy_free(pol);

    char h[ATT_POLICY_HASH_LEN];
    /* b64url("") = "" ; SHA-256("") */
    assert_int_equal(att_policy_hash_text("", 0, h), ATT_OK);
    assert_string_equal(h, "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
    /* b64url("a") = "YQ"; SHA-256("YQ") */
    assert_int_equal(att_policy_hash_text("a", 1, h), ATT_OK);
    assert_int_equal(strlen(h), 43);
    char h2[ATT_POLICY_HASH_LEN];
    assert_int_equal(att_policy_hash_text("a\n", 2, h2), ATT_OK);
    assert_string_not_equal(h, h2); /* exact bytes: a trailing newline changes the hash */
}

static void test_every_example_parses(void **state)
{
    const char *names[] = {"default_sgx.pol", "old_default.pol",      "signed_sample.pol",
                           "custom_sgx.pol",  "multi_enclave.pol",    "authoring.pol",
                           "tpm_1_1.pol",     "identifier_reuse.pol", "jmespath_1_2.pol",
                           "minimal.pol",     "functions_1_2.pol"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        att_policy_free(compile_file(names[i]));
}

/* The docs' custom policy with its <product-id> placeholder is not a policy: the error must
 * point at the placeholder. */
static void test_placeholder_rejected(void **state)
{
    size_t len;
    char *text = slurp(DATA "/examples/custom_sgx_placeholder.pol", &len);
    att_policy_t *pol = NULL;
    att_policy_pos_t pos;
    att_diag_t d;
    assert_int_equal(att_policy_compile(text, len, &pol, &pos, &d), ATT_E_POLICY_SYNTAX);
    assert_null(pol);
    assert_int_equal(pos.line, 5);
    assert_int_equal(pos.column, 50);
    assert_non_null(strstr(d.msg, "found '<'"));
    free(text);
}

static void test_defaults(void **state)
{
    const char *types[] = {"SgxEnclave", "OpenEnclave", "TdxVm", "SevSnpVm", "Tpm", "sgxenclave"};
    json_t *claims = json_pack("{s:b,s:s,s:i}", "x-ms-sgx-is-debuggable", 0,
                               "x-ms-attestation-type", "sgx", "x-ms-sgx-svn", 3);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        const char *text = att_policy_default(types[i]);
        assert_non_null(text);
        att_policy_t *pol;
        att_diag_t d;
        assert_int_equal(att_policy_compile(text, strlen(text), &pol, NULL, &d), ATT_OK);
        att_policy_result_t *res;
        assert_int_equal(att_policy_eval(pol, claims, NULL, &res, &d), ATT_OK);
        assert_true(att_policy_permitted(res));
        assert_null(att_policy_result_trace(res));
        att_policy_result_free(res);
        att_policy_free(pol);
    }
    assert_null(att_policy_default("VbsEnclave"));
    assert_null(att_policy_default(NULL));
    /* the SGX default is byte for byte the documented one (issue rules keyed on x-ms-sgx-*) */
    assert_non_null(strstr(att_policy_default("SgxEnclave"),
                           "=> issueproperty(type=\"x-ms-sgx-tcbidentifier\", "
                           "value=\"azuredefault\");"));
    json_decref(claims);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_cases),
        cmocka_unit_test(test_hash_matches_maa_token),
        cmocka_unit_test(test_every_example_parses),
        cmocka_unit_test(test_placeholder_rejected),
        cmocka_unit_test(test_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
