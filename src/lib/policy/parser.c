/* parser.c - recursive-descent parser of the MAA policy language 1.0 / 1.1 / 1.2, over the
 * tokens of lexer.c.
 *
 *   policy    := "version" "=" 1 "." (0|1|2) ";" [config] auth [issue]
 *   section   := NAME "{" rule* "}" ";"        NAME: configurationrules (1.1+), authorizationrules,
 *                                              issuancerules; case-insensitive, in that order
 *   rule      := [cond ("&&" cond)*] "=>" action [";"]
 *   cond      := ["!"] [IDENT ":"] "[" test ("," test)* "]"      "!" needs 1.2
 *   test      := (type|value|valueType|issuer) (== | = | != | < | <= | > | >=) expr
 *   action    := permit "(" ")" | deny "(" ")"
 *              | (add|issue|issueproperty) "(" (claim "=" IDENT | spec ("," spec)*) ")"
 *   spec      := (type|value|valueType) "=" expr
 *   expr      := STRING | INT | true | false | IDENT "." prop | FUNC "(" [expr ("," expr)*] ")"
 *
 * Comments, strings and integers are the lexer's (lexer.c). Leniencies MAA's samples rely on:
 * "=" for "==" inside conditions, the ";" after a rule is optional. Checks done here rather than
 * at run time: identifiers are declared before use, each action is allowed in its section,
 * function names and argument counts, literal JmesPath queries compile, ordering operators get
 * integers, and literal values of documented properties have the right type.
 * Every error names line, column, what was expected and what was found.
 * Does NOT check what needs the claims: the types of claim values and of function results are
 * checked when the policy is evaluated (eval.c).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy/jmespath.h"
#include "policy/policy_int.h"

/* ---- expressions ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    att_pol_fn_t fn;
    int nargs;
} att_fns[] = {
    {"JmesPath", ATT_FN_JMESPATH, 2},     {"JsonToClaimValue", ATT_FN_JSONTOCLAIMVALUE, 1},
    {"IsSubsetOf", ATT_FN_ISSUBSETOF, 2}, {"AppendString", ATT_FN_APPENDSTRING, 2},
    {"NegateBool", ATT_FN_NEGATEBOOL, 1}, {"ContainsOnlyValue", ATT_FN_CONTAINSONLYVALUE, 2},
};

static bool att_parse_prop_name(const att_tok_t *t, att_pol_prop_t *out)
{
    static const struct {
        const char *s;
        att_pol_prop_t p;
    } props[] = {{"type", ATT_PP_TYPE},
                 {"value", ATT_PP_VALUE},
                 {"valueType", ATT_PP_VALUETYPE},
                 {"issuer", ATT_PP_ISSUER}};
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        if (att_pol_is_kw(t, props[i].s)) {
            *out = props[i].p;
            return true;
        }
    return false;
}

static int att_find_ident(const att_parser_t *p, const char *s, size_t n)
{
    for (int i = 0; i < p->nidents; i++)
        if (p->identlen[i] == n && memcmp(p->idents[i], s, n) == 0)
            return i;
    return -1;
}

static att_pol_expr_t *att_parse_expr(att_parser_t *p);

static bool att_check_call(att_parser_t *p, att_pol_expr_t *e)
{
    for (int i = 0; i < e->nargs; i++) {
        const att_pol_expr_t *x = e->args[i];
        if (x->kind != ATT_PX_LIT)
            continue;
        bool want_str = e->fn == ATT_FN_JMESPATH || e->fn == ATT_FN_JSONTOCLAIMVALUE ||
                        e->fn == ATT_FN_APPENDSTRING;
        if (want_str && x->lit.kind != ATT_PV_STR)
            return att_pol_perr_at(p, x->at.line, x->at.col, "%s takes string arguments, found %s",
                                   att_pol_fn_name(e->fn), att_pv_type_name(&x->lit));
        if (e->fn == ATT_FN_NEGATEBOOL && x->lit.kind != ATT_PV_BOOL)
            return att_pol_perr_at(p, x->at.line, x->at.col, "NegateBool takes a Boolean, found %s",
                                   att_pv_type_name(&x->lit));
    }
    if (e->fn == ATT_FN_JMESPATH && e->args[1]->kind == ATT_PX_LIT) {
        const att_pol_expr_t *q = e->args[1];
        size_t at = 0;
        const char *why = NULL;
        e->query = att_jp_compile(p->a, q->lit.s, q->lit.n, &at, &why);
        if (e->query == NULL)
            return att_pol_perr_at(p, q->at.line, q->at.col,
                                   "JmesPath query is not valid at character %zu of the query: %s",
                                   at + 1, why);
    }
    return true;
}

static att_pol_expr_t *att_parse_call(att_parser_t *p, att_pol_expr_t *e)
{
    size_t i;
    for (i = 0; i < sizeof(att_fns) / sizeof(att_fns[0]); i++)
        if (att_pol_is_kw(&p->tok, att_fns[i].name))
            break;
    if (i == sizeof(att_fns) / sizeof(att_fns[0])) {
        att_pol_perr_at(p, p->tok.line, p->tok.col,
                        "unknown function '%.*s': expected JmesPath, JsonToClaimValue, IsSubsetOf, "
                        "AppendString, NegateBool or ContainsOnlyValue",
                        (int)(p->tok.n > 40 ? 40 : p->tok.n), p->tok.s);
        return NULL;
    }
    if (p->pol->version < 12) {
        att_pol_perr_at(p, p->tok.line, p->tok.col,
                        "function %s needs policy version 1.2 (this policy is version 1.%d)",
                        att_fns[i].name, p->pol->version - 10);
        return NULL;
    }
    if (++p->depth > ATT_POL_MAX_DEPTH) {
        att_pol_perr_at(p, p->tok.line, p->tok.col, "function calls nested more than %d deep",
                        ATT_POL_MAX_DEPTH);
        return NULL;
    }
    e->kind = ATT_PX_CALL;
    e->fn = att_fns[i].fn;
    if (!att_pol_next(p) || !att_pol_expect(p, T_LPAREN, "'(' after the function name"))
        return NULL;
    att_pol_expr_t *args[8];
    int n = 0;
    if (p->tok.kind != T_RPAREN) {
        for (;;) {
            if (n == 8) {
                att_pol_expected(p, "')' (too many arguments)");
                return NULL;
            }
            args[n] = att_parse_expr(p);
            if (args[n] == NULL)
                return NULL;
            n++;
            if (p->tok.kind != T_COMMA)
                break;
            if (!att_pol_next(p))
                return NULL;
        }
    }
    if (p->tok.kind != T_RPAREN) {
        att_pol_expected(p, "',' or ')' in the argument list");
        return NULL;
    }
    if (n != att_fns[i].nargs) {
        att_pol_perr_at(p, e->at.line, e->at.col, "%s takes %d argument%s, found %d",
                        att_fns[i].name, att_fns[i].nargs, att_fns[i].nargs == 1 ? "" : "s", n);
        return NULL;
    }
    e->at.end = p->tok.end;
    if (!att_pol_next(p))
        return NULL;
    e->args = att_pol_alloc(p->a, sizeof(*e->args) * (size_t)n);
    if (e->args == NULL)
        return NULL;
    memcpy(e->args, args, sizeof(*args) * (size_t)n);
    e->nargs = n;
    p->depth--;
    return att_check_call(p, e) ? e : NULL;
}

static att_pol_expr_t *att_parse_expr(att_parser_t *p)
{
    att_pol_expr_t *e = att_pol_zalloc(p->a, sizeof(*e));
    if (e == NULL) {
        att_pol_perr_at(p, p->tok.line, p->tok.col, "out of memory");
        return NULL;
    }
    e->at = att_pol_span_start(p);
    e->kind = ATT_PX_LIT;
    switch (p->tok.kind) {
    case T_STRING:
        e->lit.kind = ATT_PV_STR;
        e->lit.s = p->tok.s;
        e->lit.n = p->tok.n;
        return att_pol_next(p) ? e : NULL;
    case T_INT:
        e->lit.kind = ATT_PV_INT;
        e->lit.i = p->tok.i;
        return att_pol_next(p) ? e : NULL;
    case T_IDENT:
        if (att_pol_is_kw(&p->tok, "true") || att_pol_is_kw(&p->tok, "false")) {
            e->lit.kind = ATT_PV_BOOL;
            e->lit.b = att_pol_is_kw(&p->tok, "true");
            return att_pol_next(p) ? e : NULL;
        }
        break;
    default:
        att_pol_expected(p, "a value (string, integer, true, false, c.value or a function call)");
        return NULL;
    }
    /* IDENT "." prop  or  FUNC "(" ... ")" */
    att_tok_t id = p->tok;
    size_t save_pos = p->pos;
    unsigned save_line = p->line;
    size_t save_ls = p->line_start;
    if (!att_pol_next(p))
        return NULL;
    if (p->tok.kind == T_LPAREN) {
        p->pos = save_pos;
        p->line = save_line;
        p->line_start = save_ls;
        p->tok = id;
        return att_parse_call(p, e);
    }
    if (p->tok.kind != T_DOT) {
        char buf[64];
        snprintf(buf, sizeof(buf), "'.' or '(' after '%.*s'", (int)(id.n > 40 ? 40 : id.n), id.s);
        att_pol_expected(p, buf);
        return NULL;
    }
    int ref = att_find_ident(p, id.s, id.n);
    if (ref < 0) {
        att_pol_perr_at(p, id.line, id.col,
                        "'%.*s' is not declared: expected an identifier bound earlier in this rule "
                        "(as in c:[type==...])",
                        (int)(id.n > 40 ? 40 : id.n), id.s);
        return NULL;
    }
    if (!att_pol_next(p))
        return NULL;
    if (!att_parse_prop_name(&p->tok, &e->prop)) {
        att_pol_expected(p, "a claim property (value, type, valueType or issuer) after '.'");
        return NULL;
    }
    e->kind = ATT_PX_REF;
    e->ref = ref;
    e->at.end = p->tok.end;
    return att_pol_next(p) ? e : NULL;
}

/* ---- conditions and rules --------------------------------------------------------------- */

static bool att_parse_test(att_parser_t *p, att_pol_test_t *t)
{
    t->at = att_pol_span_start(p);
    if (!att_parse_prop_name(&p->tok, &t->prop))
        return att_pol_expected(p, "a claim property (type, value, valueType or issuer)");
    if (!att_pol_next(p))
        return false;
    switch (p->tok.kind) {
    case T_EQ:
    case T_ASSIGN:
        t->op = ATT_OP_EQ;
        break;
    case T_NE:
        t->op = ATT_OP_NE;
        break;
    case T_LT:
        t->op = ATT_OP_LT;
        break;
    case T_LE:
        t->op = ATT_OP_LE;
        break;
    case T_GT:
        t->op = ATT_OP_GT;
        break;
    case T_GE:
        t->op = ATT_OP_GE;
        break;
    default:
        return att_pol_expected(p, "a comparison operator (==, !=, <, <=, >, >=)");
    }
    att_tok_t optok = p->tok;
    if (!att_pol_next(p))
        return false;
    t->rhs = att_parse_expr(p);
    if (t->rhs == NULL)
        return false;
    t->at.end = t->rhs->at.end;
    if (t->op != ATT_OP_EQ && t->op != ATT_OP_NE) {
        if (t->prop != ATT_PP_VALUE)
            return att_pol_perr_at(
                p, optok.line, optok.col,
                "operator %s compares integers but %s is a string: expected == or "
                "!=",
                att_pol_op_name(t->op), att_pol_prop_name(t->prop));
        if (t->rhs->kind == ATT_PX_LIT && t->rhs->lit.kind != ATT_PV_INT)
            return att_pol_perr_at(p, t->rhs->at.line, t->rhs->at.col,
                                   "operator %s compares integers: expected an integer, found a %s",
                                   att_pol_op_name(t->op), att_pv_type_name(&t->rhs->lit));
    } else if (t->prop != ATT_PP_VALUE && t->rhs->kind == ATT_PX_LIT &&
               t->rhs->lit.kind != ATT_PV_STR) {
        return att_pol_perr_at(p, t->rhs->at.line, t->rhs->at.col,
                               "claim %s is a string: expected a string, found %s",
                               att_pol_prop_name(t->prop), att_pv_type_name(&t->rhs->lit));
    }
    return true;
}

static bool att_parse_cond(att_parser_t *p, att_pol_cond_t *c)
{
    c->at = att_pol_span_start(p);
    if (p->tok.kind == T_NOT) {
        if (p->pol->version < 12)
            return att_pol_perr_at(p, p->tok.line, p->tok.col,
                                   "the absence operator '!' needs policy version 1.2 (this policy "
                                   "is version 1.%d)",
                                   p->pol->version - 10);
        c->absent = true;
        if (!att_pol_next(p))
            return false;
    }
    if (p->tok.kind == T_IDENT) {
        att_tok_t id = p->tok;
        if (!att_pol_next(p))
            return false;
        if (p->tok.kind != T_COLON)
            return att_pol_expected(p, "':' after the identifier (as in c:[type==...])");
        if (att_find_ident(p, id.s, id.n) >= 0)
            return att_pol_perr_at(
                p, id.line, id.col,
                "identifier '%.*s' is already bound in this rule: expected a new "
                "name",
                (int)(id.n > 40 ? 40 : id.n), id.s);
        c->ident = att_pol_strndup(p->a, id.s, id.n);
        if (!att_pol_next(p))
            return false;
    }
    if (p->tok.kind != T_LBRACK)
        return att_pol_expected(p, c->ident ? "'[' to open the claim condition"
                                            : "'[', an identifier, '!' or '=>' to start a rule");
    if (!att_pol_next(p))
        return false;
    att_pol_test_t tests[16];
    int n = 0;
    for (;;) {
        if (n == 16)
            return att_pol_perr_at(p, p->tok.line, p->tok.col,
                                   "more than 16 tests in one condition");
        if (!att_parse_test(p, &tests[n]))
            return false;
        n++;
        if (p->tok.kind == T_COMMA) {
            if (!att_pol_next(p))
                return false;
            continue;
        }
        if (p->tok.kind == T_RBRACK)
            break;
        return att_pol_expected(p, "',' or ']' in the claim condition");
    }
    c->at.end = p->tok.end;
    if (!att_pol_next(p))
        return false;
    /* Type tests first, value tests last: the type narrows the claims before a value is compared
     * (and tells the explain trace which claim came closest). */
    c->tests = att_pol_alloc(p->a, sizeof(*c->tests) * (size_t)n);
    if (c->tests == NULL)
        return att_pol_perr_at(p, c->at.line, c->at.col, "out of memory");
    int k = 0;
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < n; i++) {
            int rank = tests[i].prop == ATT_PP_TYPE ? 0 : tests[i].prop == ATT_PP_VALUE ? 2 : 1;
            if (rank == pass)
                c->tests[k++] = tests[i];
        }
    c->ntests = n;
    return true;
}

/* Engine properties whose value type MAA documents. */
static const struct {
    const char *name;
    att_pv_kind_t kind;
} att_known_props[] = {
    {"x-ms-sgx-tcbidentifier", ATT_PV_STR},
    {"require_valid_aik_cert", ATT_PV_BOOL},
    {"required_pcr_mask", ATT_PV_INT},
    {"report_validity_in_minutes", ATT_PV_INT},
    {"omit_x5c", ATT_PV_BOOL},
};

static bool att_check_action(att_parser_t *p, att_pol_section_t sec, att_pol_action_t *a,
                             const att_tok_t *verb)
{
    static const char *where[] = {"authorizationrules", "authorizationrules",
                                  "authorizationrules and issuancerules", "issuancerules",
                                  "configurationrules and issuancerules"};
    bool ok;
    switch (a->kind) {
    case ATT_ACT_PERMIT:
    case ATT_ACT_DENY:
        ok = sec == ATT_SEC_AUTH;
        break;
    case ATT_ACT_ADD:
        ok = sec == ATT_SEC_AUTH || sec == ATT_SEC_ISSUE;
        break;
    case ATT_ACT_ISSUE:
        ok = sec == ATT_SEC_ISSUE;
        break;
    default:
        ok = sec == ATT_SEC_CONFIG || sec == ATT_SEC_ISSUE;
        break;
    }
    if (!ok)
        return att_pol_perr_at(
            p, verb->line, verb->col, "%s() is not allowed in %s: it belongs in %s",
            att_pol_act_name(a->kind), att_pol_section_name(sec), where[a->kind]);
    if (a->kind == ATT_ACT_ISSUEPROPERTY && a->type && a->type->kind == ATT_PX_LIT && a->value &&
        a->value->kind == ATT_PX_LIT) {
        for (size_t i = 0; i < sizeof(att_known_props) / sizeof(att_known_props[0]); i++) {
            const att_pv_t *t = &a->type->lit, *v = &a->value->lit;
            if (t->kind == ATT_PV_STR && strlen(att_known_props[i].name) == t->n &&
                memcmp(att_known_props[i].name, t->s, t->n) == 0 &&
                v->kind != att_known_props[i].kind) {
                att_pv_t want = {.kind = att_known_props[i].kind};
                return att_pol_perr_at(p, a->value->at.line, a->value->at.col,
                                       "property %s takes a %s value, found %s",
                                       att_known_props[i].name, att_pv_type_name(&want),
                                       att_pv_type_name(v));
            }
        }
    }
    return true;
}

static bool att_parse_action(att_parser_t *p, att_pol_section_t sec, att_pol_action_t *a)
{
    a->at = att_pol_span_start(p);
    a->claim_ref = -1;
    att_tok_t verb = p->tok;
    static const struct {
        const char *s;
        att_pol_act_t k;
    } verbs[] = {{"permit", ATT_ACT_PERMIT},
                 {"deny", ATT_ACT_DENY},
                 {"add", ATT_ACT_ADD},
                 {"issue", ATT_ACT_ISSUE},
                 {"issueproperty", ATT_ACT_ISSUEPROPERTY}};
    size_t i;
    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (att_pol_is_kw(&verb, verbs[i].s))
            break;
    if (i == sizeof(verbs) / sizeof(verbs[0]))
        return att_pol_expected(p, "an action (permit, deny, add, issue or issueproperty)");
    a->kind = verbs[i].k;
    if (!att_pol_next(p) || !att_pol_expect(p, T_LPAREN, "'(' after the action"))
        return false;
    if (a->kind == ATT_ACT_PERMIT || a->kind == ATT_ACT_DENY) {
        if (p->tok.kind != T_RPAREN)
            return att_pol_expected(p, "')': permit() and deny() take no claim");
    } else if (att_pol_is_kw(&p->tok, "claim")) {
        if (!att_pol_next(p) || !att_pol_expect(p, T_ASSIGN, "'=' after 'claim'"))
            return false;
        if (p->tok.kind != T_IDENT)
            return att_pol_expected(p, "an identifier bound in this rule after 'claim ='");
        a->claim_ref = att_find_ident(p, p->tok.s, p->tok.n);
        if (a->claim_ref < 0)
            return att_pol_perr_at(
                p, p->tok.line, p->tok.col,
                "'%.*s' is not declared: expected an identifier bound in this rule",
                (int)(p->tok.n > 40 ? 40 : p->tok.n), p->tok.s);
        if (!att_pol_next(p))
            return false;
    } else {
        for (;;) {
            att_tok_t name = p->tok;
            att_pol_prop_t prop;
            if (!att_parse_prop_name(&name, &prop) || prop == ATT_PP_ISSUER)
                return att_pol_expected(p, "'type', 'value', 'valueType' or 'claim' in the claim");
            if (!att_pol_next(p) || !att_pol_expect(p, T_ASSIGN, "'=' after the claim property"))
                return false;
            att_pol_expr_t *e = att_parse_expr(p);
            if (e == NULL)
                return false;
            if ((prop == ATT_PP_TYPE && a->type) || (prop == ATT_PP_VALUE && a->value) ||
                (prop == ATT_PP_VALUETYPE && a->valuetype != ATT_VT_NONE))
                return att_pol_perr_at(p, name.line, name.col, "'%s' is given twice in the claim",
                                       att_pol_prop_name(prop));
            if (prop == ATT_PP_TYPE)
                a->type = e;
            else if (prop == ATT_PP_VALUE)
                a->value = e;
            else {
                static const char *vts[] = {"String", "Integer", "Boolean"};
                if (e->kind != ATT_PX_LIT || e->lit.kind != ATT_PV_STR)
                    return att_pol_perr_at(p, e->at.line, e->at.col,
                                           "expected \"String\", \"Integer\" or \"Boolean\" as the "
                                           "valueType");
                for (int k = 0; k < 3; k++)
                    if (strlen(vts[k]) == e->lit.n && !strncasecmp(vts[k], e->lit.s, e->lit.n))
                        a->valuetype = (att_pol_vt_t)(k + 1);
                if (a->valuetype == ATT_VT_NONE)
                    return att_pol_perr_at(p, e->at.line, e->at.col,
                                           "expected \"String\", \"Integer\" or \"Boolean\" as the "
                                           "valueType");
            }
            if (p->tok.kind != T_COMMA)
                break;
            if (!att_pol_next(p))
                return false;
        }
        if (a->type == NULL || a->value == NULL)
            return att_pol_perr_at(p, a->at.line, a->at.col,
                                   "%s() needs both type=... and value=... (or claim=c)",
                                   att_pol_act_name(a->kind));
        if (a->type->kind == ATT_PX_LIT && a->type->lit.kind != ATT_PV_STR)
            return att_pol_perr_at(p, a->type->at.line, a->type->at.col,
                                   "the claim type must be a string, found %s",
                                   att_pv_type_name(&a->type->lit));
        if (a->type->kind == ATT_PX_LIT && a->type->lit.n == 0)
            return att_pol_perr_at(p, a->type->at.line, a->type->at.col,
                                   "the claim type must not be empty");
    }
    if (p->tok.kind != T_RPAREN)
        return att_pol_expected(p, "',' or ')' to close the action");
    a->at.end = p->tok.end;
    if (!att_pol_next(p))
        return false;
    return att_check_action(p, sec, a, &verb);
}

static bool att_parse_rule(att_parser_t *p, att_pol_section_t sec, att_pol_rule_t *r)
{
    r->at = att_pol_span_start(p);
    r->section = sec;
    p->nidents = 0;
    att_pol_cond_t conds[32];
    int n = 0;
    if (p->tok.kind != T_ARROW) {
        for (;;) {
            if (n == 32)
                return att_pol_perr_at(p, p->tok.line, p->tok.col,
                                       "more than 32 conditions in a rule");
            memset(&conds[n], 0, sizeof(conds[n]));
            if (!att_parse_cond(p, &conds[n]))
                return false;
            /* declare the identifier only now: a condition cannot refer to itself */
            if (conds[n].ident) {
                if (p->nidents == ATT_POL_MAX_IDENTS)
                    return att_pol_perr_at(p, conds[n].at.line, conds[n].at.col,
                                           "too many identifiers in one rule");
                p->idents[p->nidents] = conds[n].ident;
                p->identlen[p->nidents] = strlen(conds[n].ident);
                p->nidents++;
            }
            n++;
            if (p->tok.kind == T_AND) {
                if (!att_pol_next(p))
                    return false;
                continue;
            }
            if (p->tok.kind == T_ARROW)
                break;
            return att_pol_expected(p, "'&&' or '=>' after the condition");
        }
    }
    /* identifiers index conditions: remap to condition indexes */
    if (!att_pol_next(p))
        return false;
    r->nconds = n;
    r->conds = att_pol_alloc(p->a, sizeof(*r->conds) * (size_t)(n ? n : 1));
    if (r->conds == NULL)
        return att_pol_perr_at(p, r->at.line, r->at.col, "out of memory");
    memcpy(r->conds, conds, sizeof(*conds) * (size_t)n);
    if (!att_parse_action(p, sec, &r->act))
        return false;
    r->at.end = r->act.at.end;
    if (p->tok.kind == T_SEMI)
        return att_pol_next(p);
    if (p->tok.kind == T_RBRACE || p->tok.kind == T_LBRACK || p->tok.kind == T_ARROW ||
        p->tok.kind == T_NOT || p->tok.kind == T_IDENT)
        return true; /* lenient: ';' after a rule is optional */
    return att_pol_expected(p, "';' after the rule");
}

/* Identifiers are stored per condition; REF/claim_ref hold the index in p->idents, which is
 * the index among the rule's *named* conditions. Convert to condition indexes. */
static void att_fix_refs_expr(att_pol_expr_t *e, const int *map)
{
    if (e == NULL)
        return;
    if (e->kind == ATT_PX_REF)
        e->ref = map[e->ref];
    for (int i = 0; i < e->nargs; i++)
        att_fix_refs_expr(e->args[i], map);
}

static void att_fix_refs(att_pol_rule_t *r)
{
    int map[ATT_POL_MAX_IDENTS];
    int k = 0;
    for (int i = 0; i < r->nconds; i++)
        if (r->conds[i].ident)
            map[k++] = i;
    for (int i = 0; i < r->nconds; i++)
        for (int j = 0; j < r->conds[i].ntests; j++)
            att_fix_refs_expr(r->conds[i].tests[j].rhs, map);
    if (r->act.claim_ref >= 0)
        r->act.claim_ref = map[r->act.claim_ref];
    att_fix_refs_expr(r->act.type, map);
    att_fix_refs_expr(r->act.value, map);
}

static bool att_parse_section(att_parser_t *p, att_pol_section_t sec)
{
    att_pol_sec_t *s = &p->pol->sec[sec];
    s->present = true;
    s->at = att_pol_span_start(p);
    if (!att_pol_next(p) || !att_pol_expect(p, T_LBRACE, "'{' after the section name"))
        return false;
    size_t cap = 8;
    att_pol_rule_t *rules = att_pol_zalloc(p->a, sizeof(*rules) * cap);
    int n = 0;
    while (rules != NULL && p->tok.kind != T_RBRACE) {
        if (p->tok.kind == T_EOF)
            return att_pol_expected(p, "'}' to close the section");
        if ((size_t)n == cap) {
            att_pol_rule_t *nr = att_pol_zalloc(p->a, sizeof(*rules) * cap * 2);
            if (nr == NULL)
                break;
            memcpy(nr, rules, sizeof(*rules) * cap);
            rules = nr;
            cap *= 2;
        }
        memset(&rules[n], 0, sizeof(rules[n]));
        if (!att_parse_rule(p, sec, &rules[n]))
            return false;
        att_fix_refs(&rules[n]);
        rules[n].index = n + 1;
        n++;
    }
    if (rules == NULL || p->a->failed)
        return att_pol_perr_at(p, s->at.line, s->at.col, "out of memory");
    s->rules = rules;
    s->nrules = n;
    if (!att_pol_next(p))
        return false;
    return att_pol_expect(p, T_SEMI, "';' after '}' closing the section");
}

static bool att_parse_policy(att_parser_t *p)
{
    if (!att_pol_next(p))
        return false;
    if (!att_pol_is_kw(&p->tok, "version"))
        return att_pol_expected(p, "'version' at the start of the policy");
    if (!att_pol_next(p) || !att_pol_expect(p, T_ASSIGN, "'=' after 'version'"))
        return false;
    att_tok_t major = p->tok;
    if (major.kind != T_INT)
        return att_pol_expected(p, "a version number (1.0, 1.1 or 1.2)");
    if (!att_pol_next(p) ||
        !att_pol_expect(p, T_DOT, "'.' in the version number (1.0, 1.1 or 1.2)"))
        return false;
    att_tok_t minor = p->tok;
    if (minor.kind != T_INT)
        return att_pol_expected(p, "the minor version number (1.0, 1.1 or 1.2)");
    size_t mlen = minor.end - minor.off;
    if (major.i != 1 || mlen != 1 || minor.i < 0 || minor.i > 2)
        return att_pol_perr_at(
            p, major.line, major.col, "unsupported version %.*s: expected 1.0, 1.1 or 1.2",
            (int)(minor.end - major.off > 20 ? 20 : minor.end - major.off), p->src + major.off);
    p->pol->version = 10 + (int)minor.i;
    if (!att_pol_next(p) || !att_pol_expect(p, T_SEMI, "';' after the version"))
        return false;
    int next = 0; /* the first section still allowed */
    static const char *names[] = {"configurationrules", "authorizationrules", "issuancerules"};
    while (p->tok.kind != T_EOF) {
        int s;
        for (s = 0; s < ATT_SEC_N; s++)
            if (att_pol_is_kw(&p->tok, names[s]))
                break;
        if (s == ATT_SEC_N || s < next) {
            const char *what = next == 0   ? "a section (configurationrules, authorizationrules "
                                             "or issuancerules)"
                               : next == 1 ? "'authorizationrules' or 'issuancerules' (sections "
                                             "come in that order, once each)"
                               : next == 2 ? "'issuancerules' (sections come in the order "
                                             "configurationrules, authorizationrules, "
                                             "issuancerules, once each)"
                                           : "end of policy after issuancerules";
            return att_pol_expected(p, what);
        }
        if (s == ATT_SEC_CONFIG && p->pol->version < 11)
            return att_pol_perr_at(
                p, p->tok.line, p->tok.col,
                "configurationrules needs policy version 1.1 or later (this policy "
                "is version 1.0)");
        if (s > ATT_SEC_AUTH && !p->pol->sec[ATT_SEC_AUTH].present)
            return att_pol_expected(p, "'authorizationrules' (every policy has one, before "
                                       "issuancerules)");
        if (!att_parse_section(p, (att_pol_section_t)s))
            return false;
        next = s + 1;
    }
    if (!p->pol->sec[ATT_SEC_AUTH].present)
        return att_pol_expected(p, "an 'authorizationrules' section");
    return true;
}

att_err_t att_pol_parse(att_policy_t *pol, att_policy_pos_t *pos, att_diag_t *diag)
{
    att_parser_t p;
    memset(&p, 0, sizeof(p));
    p.src = pol->text;
    p.len = pol->len;
    p.line = 1;
    p.a = &pol->arena;
    p.pol = pol;
    p.diag = diag;
    p.errpos = pos;
    if (att_parse_policy(&p))
        return ATT_OK;
    if (!p.failed) /* defensive: every failure path reports */
        att_pol_perr_at(&p, p.tok.line, p.tok.col, "syntax error");
    return ATT_E_POLICY_SYNTAX;
}
