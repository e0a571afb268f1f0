/* test_policy_semantics.c - evaluation: operator semantics over random values (property style),
 * type mismatches, rule order and add/issue, deny, the explain trace and reason, the JmesPath
 * subset, and one compiled policy shared by several threads. */
#include <pthread.h>
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
#include "policy/jmespath.h"

static att_policy_t *compile(const char *text)
{
    att_policy_t *pol = NULL;
    att_diag_t d;
    if (att_policy_compile(text, strlen(text), &pol, NULL, &d) != ATT_OK)
        fail_msg("%s\n  %s", text, d.msg);
    return pol;
}

/* Evaluate text on claims (JSON text); returns the error code, *permit and the result. */
static att_err_t run(const char *text, const char *claims_json, bool explain,
                     att_policy_result_t **res, att_diag_t *d)
{
    att_policy_t *pol = compile(text);
    json_error_t jerr;
    json_t *claims = json_loads(claims_json, 0, &jerr);
    if (claims == NULL)
        fail_msg("bad claims %s: %s", claims_json, jerr.text);
    att_policy_eval_opts_t opts = {.explain = explain};
    att_err_t e = att_policy_eval(pol, claims, &opts, res, d);
    json_decref(claims);
    att_policy_free(pol);
    return e;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int64_t rnd_int(void)
{
    switch (rnd() % 4) {
    case 0:
        return (int64_t)(rnd() % 5) - 2; /* small, many ties */
    case 1:
        return INT64_MAX - (int64_t)(rnd() % 3);
    case 2:
        return INT64_MIN + (int64_t)(rnd() % 3);
    default:
        return (int64_t)rnd();
    }
}

/* For random integers a, b and every operator, [type=="x", value OP b] permits on x=a exactly
 * when C says a OP b. */
static void test_integer_operators_property(void **state)
{
    static const char *ops[] = {"==", "!=", "<", "<=", ">", ">="};
    for (int iter = 0; iter < 300; iter++) {
        int64_t a = rnd_int(), b = rnd_int();
        int k = (int)(rnd() % 6);
        bool want = k == 0   ? a == b
                    : k == 1 ? a != b
                    : k == 2 ? a < b
                    : k == 3 ? a <= b
                    : k == 4 ? a > b
                             : a >= b;
        char text[256], claims[128];
        snprintf(text, sizeof(text),
                 "version=1.0; authorizationrules { [type==\"x\", value %s %lld] => permit(); };",
                 ops[k], (long long)b);
        snprintf(claims, sizeof(claims), "{\"x\": %lld}", (long long)a);
        att_policy_result_t *res;
        att_diag_t d;
        assert_int_equal(run(text, claims, false, &res, &d), ATT_OK);
        if (att_policy_permitted(res) != want)
            fail_msg("%lld %s %lld: got %d", (long long)a, ops[k], (long long)b,
                     att_policy_permitted(res));
        att_policy_result_free(res);
    }
}

/* Strings and booleans: == and != by exact value, case-sensitive. */
static void test_string_bool_equality_property(void **state)
{
    static const char *vals[] = {"abc", "ABC", "", "ab", "abc ", "\xc3\xa9"};
    for (size_t i = 0; i < 6; i++)
        for (size_t j = 0; j < 6; j++)
            for (int ne = 0; ne < 2; ne++) {
                char text[256], claims[128];
                snprintf(text, sizeof(text),
                         "version=1.0; authorizationrules { [type==\"s\", value%s\"%s\"] => "
                         "permit(); };",
                         ne ? "!=" : "==", vals[j]);
                snprintf(claims, sizeof(claims), "{\"s\": \"%s\"}", vals[i]);
                att_policy_result_t *res;
                att_diag_t d;
                assert_int_equal(run(text, claims, false, &res, &d), ATT_OK);
                assert_int_equal(att_policy_permitted(res), (i == j) != ne);
                att_policy_result_free(res);
            }
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            char text[256], claims[64];
            snprintf(text, sizeof(text),
                     "version=1.0; authorizationrules { [type==\"b\", value==%s] => permit(); };",
                     b ? "true" : "false");
            snprintf(claims, sizeof(claims), "{\"b\": %s}", a ? "true" : "false");
            att_policy_result_t *res;
            att_diag_t d;
            assert_int_equal(run(text, claims, false, &res, &d), ATT_OK);
            assert_int_equal(att_policy_permitted(res), a == b);
            att_policy_result_free(res);
        }
}

/* Values of different types are never equal ("1" vs 1, "true" vs true, 1 vs true); ordering on a
 * non-integer claim is an evaluation error, never a silent miss. */
static void test_type_mismatch_matrix(void **state)
{
    static const char *claim_vals[] = {"1", "\"1\"", "true", "\"true\"", "{\"a\":1}"};
    static const char *lits[] = {"1", "\"1\"", "true", "\"true\""};
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 4; j++)
            for (int ne = 0; ne < 2; ne++) {
                char text[256], claims[128];
                snprintf(text, sizeof(text),
                         "version=1.0; authorizationrules { [type==\"x\", value%s%s] => permit(); "
                         "};",
                         ne ? "!=" : "==", lits[j]);
                snprintf(claims, sizeof(claims), "{\"x\": %s}", claim_vals[i]);
                att_policy_result_t *res;
                att_diag_t d;
                assert_int_equal(run(text, claims, false, &res, &d), ATT_OK);
                bool same = i == j; /* the same literal text and type */
                assert_int_equal(att_policy_permitted(res), same != ne);
                att_policy_result_free(res);
            }
    const char *ord = "version=1.0; authorizationrules { [type==\"x\", value >= 1] => deny(); => "
                      "permit(); };";
    for (size_t i = 1; i < 5; i++) {
        char claims[64];
        snprintf(claims, sizeof(claims), "{\"x\": %s}", claim_vals[i]);
        att_policy_result_t *res = (att_policy_result_t *)1;
        att_diag_t d;
        assert_int_equal(run(ord, claims, false, &res, &d), ATT_E_POLICY_TYPE);
        assert_null(res);
        assert_non_null(strstr(d.msg, "operator >= needs integers but claim x = "));
    }
    /* a claim of another type is not compared at all */
    att_policy_result_t *res;
    att_diag_t d;
    assert_int_equal(run(ord, "{\"y\": \"abc\", \"x\": 0}", false, &res, &d), ATT_OK);
    assert_true(att_policy_permitted(res));
    att_policy_result_free(res);
}

static void test_rule_order_add_issue(void **state)
{
    const char *text = "version=1.0;\n"
                       "authorizationrules {\n"
                       "  c:[type==\"svn\", value>=2] => add(type=\"svn-ok\", value=true);\n"
                       "  [type==\"svn-ok\", value==true, issuer==\"AttestationPolicy\"] => "
                       "permit();\n"
                       "};\n"
                       "issuancerules {\n"
                       "  [type==\"later\"] => issue(type=\"never\", value=1);\n"
                       "  => add(type=\"later\", value=\"x\");\n"
                       "  c:[type==\"later\"] => issue(type=\"seen\", value=c.value);\n"
                       "  c:[type==\"m\"] => issue(type=\"multi\", value=c.value);\n"
                       "  c:[type==\"svn-ok\"] => issue(claim=c);\n"
                       "};\n";
    att_policy_result_t *res;
    att_diag_t d;
    assert_int_equal(run(text,
                         "[{\"type\":\"svn\",\"value\":3},{\"type\":\"m\",\"value\":1},"
                         "{\"type\":\"m\",\"value\":\"two\"}]",
                         false, &res, &d),
                     ATT_OK);
    assert_true(att_policy_permitted(res));
    json_t *want = json_loads("{\"seen\":\"x\",\"multi\":[1,\"two\"],\"svn-ok\":true}", 0, NULL);
    assert_true(json_equal(want, (json_t *)att_policy_result_claims(res)));
    json_decref(want);
    assert_string_equal(att_policy_result_reason(res),
                        "permit: rule 2 at line 4 (authorizationrules) fired permit()");
    att_policy_result_free(res);

    /* svn too low: nothing added, so no permit; the reason names both rules' evidence */
    assert_int_equal(run(text, "{\"svn\": 1}", false, &res, &d), ATT_OK);
    assert_false(att_policy_permitted(res));
    assert_int_equal(json_object_size(att_policy_result_claims(res)), 0);
    assert_string_equal(att_policy_result_reason(res),
                        "deny: no permit() rule fired; rule 2 at line 4: no claim of type "
                        "\"svn-ok\"");
    att_policy_result_free(res);
}

static void test_deny_wins_and_reason(void **state)
{
    const char *text = "version=1.0;\n"
                       "authorizationrules {\n"
                       "  => permit();\n"
                       "  [type==\"x-ms-sgx-is-debuggable\", value==true] => deny();\n"
                       "  [type==\"never\"] => permit();\n"
                       "};\n"
                       "issuancerules { => issue(type=\"a\", value=1); };\n";
    att_policy_result_t *res;
    att_diag_t d;
    assert_int_equal(run(text, "{\"x-ms-sgx-is-debuggable\": true}", true, &res, &d), ATT_OK);
    assert_false(att_policy_permitted(res));
    assert_string_equal(att_policy_result_reason(res),
                        "deny: rule 2 at line 4 (authorizationrules) fired deny() on "
                        "x-ms-sgx-is-debuggable = true");
    assert_int_equal(json_object_size(att_policy_result_claims(res)), 0);
    /* the trace stops at the deny and says issuance was skipped */
    const json_t *tr = att_policy_result_trace(res);
    assert_int_equal(json_array_size(tr), 2);
    assert_non_null(
        strstr(att_policy_result_trace_text(res), "issuancerules: skipped, authorization failed"));
    att_policy_result_free(res);

    assert_int_equal(run(text, "{\"x-ms-sgx-is-debuggable\": false}", false, &res, &d), ATT_OK);
    assert_true(att_policy_permitted(res));
    assert_int_equal(json_integer_value(json_object_get(att_policy_result_claims(res), "a")), 1);
    att_policy_result_free(res);

    /* no permit rule at all */
    assert_int_equal(run("version=1.0; authorizationrules { };", "{}", false, &res, &d), ATT_OK);
    assert_false(att_policy_permitted(res));
    assert_string_equal(att_policy_result_reason(res),
                        "deny: authorizationrules has no permit() rule");
    att_policy_result_free(res);
}

/* The example of issue 3: "rule 3 at line 12: x-ms-sgx-svn was 1, the rule needs >= 2". */
static void test_explain_trace(void **state)
{
    const char *text = "version=1.0;\n"
                       "authorizationrules\n"
                       "{\n"
                       "  [type==\"x-ms-sgx-mrsigner\", value==\"aa\"] => permit();\n"
                       "  [type==\"x-ms-sgx-product-id\", value==7] => permit();\n"
                       "  [type==\"x-ms-sgx-is-debuggable\", value==false] &&\n"
                       "  [type==\"x-ms-sgx-svn\", value>=2] => permit();\n"
                       "};\n";
    att_policy_result_t *res;
    att_diag_t d;
    assert_int_equal(run(text,
                         "{\"x-ms-sgx-mrsigner\":\"bb\",\"x-ms-sgx-is-debuggable\":false,"
                         "\"x-ms-sgx-svn\":1}",
                         true, &res, &d),
                     ATT_OK);
    assert_false(att_policy_permitted(res));
    assert_string_equal(att_policy_result_reason(res),
                        "deny: no permit() rule fired; rule 1 at line 4: x-ms-sgx-mrsigner was "
                        "\"bb\", the rule needs == \"aa\"; rule 2 at line 5: no claim of type "
                        "\"x-ms-sgx-product-id\"; rule 3 at line 6: x-ms-sgx-svn was 1, the rule "
                        "needs >= 2");
    const json_t *tr = att_policy_result_trace(res);
    assert_int_equal(json_array_size(tr), 3);
    const json_t *r3 = json_array_get(tr, 2);
    assert_int_equal(json_integer_value(json_object_get(r3, "line")), 6);
    assert_false(json_is_true(json_object_get(r3, "matched")));
    assert_string_equal(json_string_value(json_object_get(r3, "why")),
                        "x-ms-sgx-svn was 1, the rule needs >= 2");
    const json_t *conds = json_object_get(r3, "conditions");
    assert_int_equal(json_array_size(conds), 2);
    assert_true(json_is_true(json_object_get(json_array_get(conds, 0), "matched")));
    const json_t *bound = json_object_get(json_array_get(conds, 0), "claims");
    assert_string_equal(json_string_value(json_object_get(json_array_get(bound, 0), "type")),
                        "x-ms-sgx-is-debuggable");
    assert_non_null(strstr(att_policy_result_trace_text(res),
                           "authorizationrules rule 3 (line 6): no match: x-ms-sgx-svn was 1, "
                           "the rule needs >= 2\n"));
    att_policy_result_free(res);
}

static void test_json_claims_and_functions(void **state)
{
    const char *text =
        "version=1.2; authorizationrules { => permit(); }; issuancerules {\n"
        "c:[type==\"x-ms-runtime\"] => issue(type=\"kid\", value=JsonToClaimValue(JmesPath("
        "c.value, \"keys[0].kid\")));\n"
        "c:[type==\"x-ms-runtime\"] => issue(type=\"nkeys\", value=JsonToClaimValue(JmesPath("
        "c.value, \"length(keys)\")));\n"
        "c:[type==\"x-ms-runtime\"] => issue(type=\"runtime\", value=c.value);\n"
        "c:[type==\"q\"] && r:[type==\"x-ms-runtime\"] => issue(type=\"dyn\", "
        "value=JmesPath(r.value, c.value));\n"
        "};";
    att_policy_result_t *res;
    att_diag_t d;
    assert_int_equal(run(text,
                         "{\"x-ms-runtime\":{\"keys\":[{\"kid\":\"k1\"},{\"kid\":\"k2\"}]},"
                         "\"q\":\"keys[*].kid\"}",
                         false, &res, &d),
                     ATT_OK);
    json_t *want = json_loads("{\"kid\":\"k1\",\"nkeys\":2,\"runtime\":{\"keys\":[{\"kid\":\"k1\"},"
                              "{\"kid\":\"k2\"}]},\"dyn\":[\"k1\",\"k2\"]}",
                              0, NULL);
    assert_true(json_equal(want, (json_t *)att_policy_result_claims(res)));
    json_decref(want);
    att_policy_result_free(res);

    /* a bad dynamic query and a JSON object given to JsonToClaimValue are evaluation errors */
    assert_int_equal(run(text, "{\"x-ms-runtime\":{\"keys\":[]},\"q\":\"keys[\"}", false, &res, &d),
                     ATT_E_POLICY_JMESPATH);
    assert_int_equal(run("version=1.2; authorizationrules { => permit(); }; issuancerules { "
                         "c:[type==\"o\"] => issue(type=\"x\", value=JsonToClaimValue(c.value)); "
                         "};",
                         "{\"o\": {\"a\": 1}}", false, &res, &d),
                     ATT_E_POLICY_TYPE);
    assert_int_equal(run("version=1.2; authorizationrules { => permit(); }; issuancerules { "
                         "c:[type==\"o\"] => issue(type=\"x\", value=JsonToClaimValue(c.value)); "
                         "};",
                         "{\"o\": \"1.5\"}", false, &res, &d),
                     ATT_E_POLICY_TYPE);
    assert_int_equal(run("version=1.0; authorizationrules { => permit(); };", "[{\"type\": 3}]",
                         false, &res, &d),
                     ATT_E_POLICY_CLAIMS);
}

static json_t *jp(const char *query, const char *data)
{
    att_pol_arena_t a;
    att_pol_arena_init(&a, NULL, 0, 0);
    size_t at;
    const char *why;
    const att_jp_node_t *q = att_jp_compile(&a, query, strlen(query), &at, &why);
    if (q == NULL)
        fail_msg("%s: %s at %zu", query, why, at);
    json_t *d = json_loads(data, JSON_DECODE_ANY, NULL);
    assert_non_null(d);
    json_t *r = att_jp_eval(q, d, NULL, &why);
    json_decref(d);
    att_pol_arena_free(&a);
    return r;
}

static void expect_jp(const char *query, const char *data, const char *want)
{
    json_t *r = jp(query, data);
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(r);
    if (!json_equal(r, w)) {
        char *s = json_dumps(r, JSON_ENCODE_ANY);
        fail_msg("%s on %s: got %s, want %s", query, data, s, want);
    }
    json_decref(r);
    json_decref(w);
}

/* Cases from the JMESPath specification's examples (basic, projections, filters, functions). */
static void test_jmespath_subset(void **state)
{
    expect_jp("a", "{\"a\": \"foo\", \"b\": \"bar\"}", "\"foo\"");
    expect_jp("a.b.c", "{\"a\": {\"b\": {\"c\": \"value\"}}}", "\"value\"");
    expect_jp("a.b.d", "{\"a\": {\"b\": {\"c\": 1}}}", "null");
    expect_jp("[1]", "[\"a\",\"b\",\"c\"]", "\"b\"");
    expect_jp("[-1]", "[\"a\",\"b\",\"c\"]", "\"c\"");
    expect_jp("a[5]", "{\"a\": [1]}", "null");
    expect_jp("people[*].first", "{\"people\":[{\"first\":\"J\"},{\"first\":\"S\"},{\"x\":1}]}",
              "[\"J\",\"S\"]");
    expect_jp("ops.*.numArgs", "{\"ops\":{\"f\":{\"numArgs\":2},\"g\":{\"numArgs\":3}}}", "[2,3]");
    expect_jp("reservations[].instances[].state",
              "{\"reservations\":[{\"instances\":[{\"state\":\"r\"},{\"state\":\"s\"}]},"
              "{\"instances\":[{\"state\":\"t\"}]}]}",
              "[\"r\",\"s\",\"t\"]");
    expect_jp("[]", "[[0,1],2,[3]]", "[0,1,2,3]");
    expect_jp("machines[?state=='running'].name",
              "{\"machines\":[{\"name\":\"a\",\"state\":\"running\"},{\"name\":\"b\","
              "\"state\":\"stopped\"}]}",
              "[\"a\"]");
    expect_jp("[?a > `1` && b != 'x'] | length(@)",
              "[{\"a\":1,\"b\":\"y\"},{\"a\":2,\"b\":\"y\"},"
              "{\"a\":3,\"b\":\"x\"}]",
              "1");
    expect_jp("a || b", "{\"b\": 2}", "2");
    expect_jp("!a", "{\"a\": []}", "true");
    expect_jp("[a, b.c]", "{\"a\":1,\"b\":{\"c\":2}}", "[1,2]");
    expect_jp("{x: a, y: b}", "{\"a\":1,\"b\":2}", "{\"x\":1,\"y\":2}");
    expect_jp("\"with space\"", "{\"with space\": 3}", "3");
    expect_jp("contains(a, 'b') && starts_with(s, 'ab') && ends_with(s, 'bc')",
              "{\"a\":[\"a\",\"b\"],\"s\":\"abc\"}", "true");
    expect_jp("keys(@)", "{\"a\":1}", "[\"a\"]");
    expect_jp("max(a) == `3` && min(a) == `1` && sum(a) == `6`", "{\"a\":[1,3,2]}", "true");
    expect_jp("join(', ', a)", "{\"a\":[\"x\",\"y\"]}", "\"x, y\"");
    expect_jp("to_number('42')", "{}", "42");
    expect_jp("type(@)", "[]", "\"array\"");
    expect_jp("not_null(a, b)", "{\"b\":false}", "false");

    /* unsupported or invalid queries fail to compile */
    const char *bad[] = {"a[0:2]", "sort_by(a, &b)", "a[", "a.", "foo(", "'x", "a ==", "`{`",
                         "a b",    "unknownfn(a)",   ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        att_pol_arena_t a;
        att_pol_arena_init(&a, NULL, 0, 0);
        size_t at;
        const char *why = NULL;
        if (att_jp_compile(&a, bad[i], strlen(bad[i]), &at, &why) != NULL)
            fail_msg("'%s' compiled", bad[i]);
        assert_non_null(why);
        att_pol_arena_free(&a);
    }
}

struct thread_arg {
    const att_policy_t *pol;
    json_t *claims;
    int ok;
};

static void *worker(void *p)
{
    struct thread_arg *t = p;
    for (int i = 0; i < 2000; i++) {
        att_policy_result_t *res;
        att_diag_t d;
        att_policy_eval_opts_t opts = {.explain = (i % 3) == 0};
        if (att_policy_eval(t->pol, t->claims, &opts, &res, &d) != ATT_OK)
            return NULL;
        if (att_policy_permitted(res) &&
            json_integer_value(json_object_get(att_policy_result_claims(res), "svn")) == 5)
            t->ok++;
        att_policy_result_free(res);
    }
    return NULL;
}

static void test_shared_across_threads(void **state)
{
    const char *text = att_policy_default("SgxEnclave");
    att_policy_t *pol = compile(text);
    pthread_t th[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].pol = pol;
        args[i].claims = json_pack("{s:i,s:s,s:b}", "x-ms-sgx-svn", 5, "x-ms-attestation-type",
                                   "sgx", "x-ms-sgx-is-debuggable", 0);
        args[i].ok = 0;
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 2000);
        json_decref(args[i].claims);
    }
    att_policy_free(pol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integer_operators_property),
        cmocka_unit_test(test_string_bool_equality_property),
        cmocka_unit_test(test_type_mismatch_matrix),
        cmocka_unit_test(test_rule_order_add_issue),
        cmocka_unit_test(test_deny_wins_and_reason),
        cmocka_unit_test(test_explain_trace),
        cmocka_unit_test(test_json_claims_and_functions),
        cmocka_unit_test(test_jmespath_subset),
        cmocka_unit_test(test_shared_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
