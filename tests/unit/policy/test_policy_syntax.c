/* test_policy_syntax.c - the parser: a corpus of malformed policies (data/malformed, first
 * line "// expect LINE:COL message") must fail exactly there; the forms the language (and MAA's
 * samples) allow must parse. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attest/policy.h"

#define MALFORMED ATT_TEST_DATA "/data/malformed"

static void test_malformed_corpus(void **state)
{
    DIR *dir = opendir(MALFORMED);
    assert_non_null(dir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(dir)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (nl < 5 || strcmp(de->d_name + nl - 4, ".pol") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof(path), MALFORMED "/%s", de->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char text[65536];
        size_t len = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[len] = '\0';
        unsigned line, col;
        char want[256];
        if (sscanf(text, "// expect %u:%u %255[^\n]", &line, &col, want) != 3)
            fail_msg("%s: first line must be '// expect LINE:COL message'", de->d_name);
        att_policy_t *pol = NULL;
        att_policy_pos_t pos;
        att_diag_t d;
        att_err_t e = att_policy_compile(text, len, &pol, &pos, &d);
        if (e != ATT_E_POLICY_SYNTAX)
            fail_msg("%s: compiled (%s), expected a syntax error", de->d_name, att_err_name(e));
        assert_null(pol);
        if (pos.line != line || pos.column != col)
            fail_msg("%s: error at %u:%u, expected %u:%u (%s)", de->d_name, pos.line, pos.column,
                     line, col, d.msg);
        if (strstr(d.msg, want) == NULL)
            fail_msg("%s: message '%s' lacks '%s'", de->d_name, d.msg, want);
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "line %u, column %u: ", line, col);
        assert_int_equal(strncmp(d.msg, prefix, strlen(prefix)), 0);
        n++;
    }
    closedir(dir);
    assert_true(n >= 30);
}

static void expect_ok(const char *text)
{
    att_policy_t *pol = NULL;
    att_policy_pos_t pos;
    att_diag_t d;
    if (att_policy_compile(text, strlen(text), &pol, &pos, &d) != ATT_OK)
        fail_msg("should parse: %s\n  error: %s", text, d.msg);
    att_policy_free(pol);
}

static void expect_err_n(const char *text, size_t len, unsigned line, unsigned col,
                         const char *want)
{
    att_policy_t *pol = NULL;
    att_policy_pos_t pos;
    att_diag_t d;
    if (att_policy_compile(text, len, &pol, &pos, &d) != ATT_E_POLICY_SYNTAX)
        fail_msg("should not parse: %s", text);
    if (pos.line != line || pos.column != col || strstr(d.msg, want) == NULL)
        fail_msg("%s\n  got %u:%u %s, expected %u:%u ...%s", text, pos.line, pos.column, d.msg,
                 line, col, want);
}

static void expect_err(const char *text, unsigned line, unsigned col, const char *want)
{
    expect_err_n(text, strlen(text), line, col, want);
}

static void test_accepted_forms(void **state)
{
    /* every comparison operator, every property, identifiers, &&, hex and negative integers */
    expect_ok("version=1.0; authorizationrules { [type==\"a\", value!=1] && [type==\"b\", "
              "value<2] && [type==\"c\", value<=0x10] && [type==\"d\", value>-3] && "
              "[type==\"e\", value>=0] && [type!=\"f\", issuer==\"AttestationService\", "
              "valueType==\"Integer\"] => permit(); };");
    /* lenient forms seen in MAA's samples: '=' for '==', no ';' after a rule, section name case */
    expect_ok("version=1.0; authorizationrules { [type=\"a\"] => permit() [type=\"b\"] => deny() "
              "}; Issuancerules { };");
    /* comments and blank lines anywhere, CRLF */
    expect_ok("// a policy\r\nversion = 1.1 ; /* block\r\n comment */ configurationrules { "
              "=> issueproperty(type=\"x-ms-sgx-tcbidentifier\", value=\"10\"); // pin\r\n};\r\n"
              "authorizationrules{=>permit();};");
    /* empty sections, issuancerules optional, all actions with all claim forms */
    expect_ok("version=1.0;authorizationrules{};");
    expect_ok("version=1.1; configurationrules{}; authorizationrules { c:[type==\"x\"] => "
              "add(claim=c); => add(type=\"y\", value=true, valueType=\"Boolean\"); }; "
              "issuancerules { c:[type==\"x\"] && d:[type==\"y\", value==c.value] => "
              "issue(claim=d); c:[type==\"x\"] => issue(value=c.value, type=c.type); => "
              "issueproperty(type=\"omit_x5c\", value=true); };");
    /* 1.2: absence, nested functions, string escapes */
    expect_ok("version=1.2; authorizationrules { ![type==\"x\"] => permit(); }; issuancerules "
              "{ c:[type==\"e\"] => issue(type=\"k\", value=JsonToClaimValue(JmesPath(c.value, "
              "\"a.\\\"b c\\\"[0]\"))); => issue(type=\"t\\u00e9\\n\", value=AppendString(\"a\", "
              "\"b\")); };");
    /* a dynamic JmesPath query is compiled at evaluation */
    expect_ok("version=1.2; authorizationrules { => permit(); }; issuancerules { c:[type==\"q\"] "
              "&& d:[type==\"j\"] => add(type=\"r\", value=JmesPath(d.value, c.value)); };");
    /* keywords are case-insensitive, identifiers are not */
    expect_ok("VERSION=1.0; AuthorizationRules { C:[TYPE==\"x\"] => PERMIT(); }; issuancerules "
              "{ C:[type==\"x\"] => Issue(type=\"y\", value=C.Value); };");
}

static void test_rejected_forms(void **state)
{
    /* identifiers are case-sensitive */
    expect_err("version=1.0; authorizationrules { => permit(); }; issuancerules { "
               "C:[type==\"x\"] => issue(type=\"y\", value=c.value); };",
               1, 106, "'c' is not declared");
    /* a condition cannot refer to its own identifier */
    expect_err("version=1.0; authorizationrules { c:[type==\"x\", value==c.value] => permit(); };",
               1, 56, "'c' is not declared");
    expect_err("version=1.0; authorizationrules { [] => permit(); };", 1, 36,
               "expected a claim property");
    expect_err("version=1.0; authorizationrules { => permit(1); };", 1, 45,
               "permit() and deny() take no claim");
    expect_err("version=1.0; authorizationrules { => frobnicate(); };", 1, 38,
               "expected an action (permit, deny, add, issue or issueproperty)");
    expect_err("version=1.0; authorizationrules { => permit(); } ;\nissuancerules { => "
               "issue(type=1, value=2); };",
               2, 31, "the claim type must be a string");
    expect_err("version=1.0; authorizationrules { [type==\"x\", issuer==3] => permit(); };", 1, 55,
               "claim issuer is a string");
    expect_err(
        "version=1.0; authorizationrules { => add(type=\"a\", value=1, valueType=\"Float\"); "
        "};",
        1, 71, "expected \"String\", \"Integer\" or \"Boolean\"");
    expect_err("version=1.0; authorizationrules { [type==\"x\\q\"] => permit(); };", 1, 44,
               "unknown escape");
    expect_err("version=1.0; authorizationrules { => permit(); }; issuancerules { => "
               "issue(type=\"a\", type=\"b\", value=1); };",
               1, 86, "'type' is given twice");
    expect_err("version=1.2; authorizationrules { => permit(); }; issuancerules { => "
               "issue(type=\"a\", value=NegateBool(\"x\")); };",
               1, 103, "NegateBool takes a Boolean");
    expect_err("version=1.0; authorizationrules { => permit(); }; @", 1, 51,
               "unexpected character '@'");
    expect_err("version=1.0; authorizationrules { => permit(); }; \xff", 1, 51,
               "unexpected character (byte 0xff)");
    /* columns count characters, not bytes */
    expect_err("version=1.0; authorizationrules { [type==\"\xc3\xa9\xc3\xa9\" value==1] => "
               "permit(); };",
               1, 47, "expected ',' or ']'");
    /* NUL in the text */
    static const char nul[] = "version=1.0;\0authorizationrules { => permit(); };";
    expect_err_n(nul, sizeof(nul) - 1, 1, 13, "unexpected character (byte 0x00)");
    /* deep nesting is bounded */
    char deep[2048] = "version=1.2; authorizationrules { => permit(); }; issuancerules { => "
                      "issue(type=\"a\", value=";
    for (int i = 0; i < 40; i++)
        strcat(deep, "NegateBool(");
    strcat(deep, "true");
    for (int i = 0; i < 40; i++)
        strcat(deep, ")");
    strcat(deep, "); };");
    att_policy_t *pol = NULL;
    att_diag_t d;
    assert_int_equal(att_policy_compile(deep, strlen(deep), &pol, NULL, &d), ATT_E_POLICY_SYNTAX);
    assert_non_null(strstr(d.msg, "nested more than"));
}

static void test_null_arguments(void **state)
{
    att_policy_t *pol = (att_policy_t *)1;
    att_diag_t d;
    assert_int_equal(att_policy_compile(NULL, 5, &pol, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_policy_compile("x", 1, NULL, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_policy_compile(NULL, 0, &pol, NULL, NULL), ATT_E_POLICY_SYNTAX);
    assert_null(pol);
    assert_int_equal(att_policy_eval(NULL, NULL, NULL, NULL, &d), ATT_E_ARG);
    att_policy_free(NULL);
    att_policy_result_free(NULL);
    assert_null(att_policy_hash(NULL));
    assert_int_equal(att_policy_version(NULL), 0);
    assert_int_equal(att_policy_rule_count(NULL), 0);
    assert_false(att_policy_permitted(NULL));
    assert_null(att_policy_result_claims(NULL));
    assert_null(att_policy_result_reason(NULL));
    char h[ATT_POLICY_HASH_LEN];
    assert_int_equal(att_policy_hash_text(NULL, 3, h), ATT_E_ARG);
    assert_int_equal(att_policy_compile("x", ATT_POLICY_MAX_TEXT + 1, &pol, NULL, &d), ATT_E_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_corpus),
        cmocka_unit_test(test_accepted_forms),
        cmocka_unit_test(test_rejected_forms),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
