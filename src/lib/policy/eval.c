/* eval.c - MAA policy evaluation: configuration, authorization, then issuance rules.
 *
 * Semantics (docs/policy.md has the long form):
 * - A condition selects the incoming claims whose properties pass every test; it holds when at
 *   least one claim is selected ("!" inverts: it holds when none is). An identifier binds the
 *   selected claims; c.value is the set of their values, and a test holds for a claim when it
 *   holds for at least one value of the set on its right.
 * - Rules run in textual order. add() appends to the incoming set (visible to later rules),
 *   issue() also to the token, issueproperty() also to the properties. With a set of values an
 *   action adds one claim per value; an empty set (JsonToClaimValue(null)) adds nothing.
 * - Authorization permits iff some permit() fired and no deny() did; a deny() ends the section.
 *   Issuance runs only when permitted.
 * - Ordering operators need integers on both sides: anything else is ATT_E_POLICY_TYPE, so a
 *   deny rule cannot silently miss because a claim had an unexpected type.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/jmespath.h"
#include "policy/policy_int.h"

#define ATT_EVAL_STACK      16384
#define ATT_EVAL_MAX_CLAIMS 100000
#define ATT_EVAL_MAX_SET    10000

typedef struct {
    const char *type;
    size_t tn;
    const char *issuer;
    size_t in;
    att_pv_t v;
    size_t size; /* serialised size of type and value once measured (0: not yet) */
} att_claim_t;

typedef struct {
    att_claim_t **c;
    size_t n, cap;
} att_claimset_t;

typedef struct {
    att_claim_t **c;
    size_t n;
} att_bind_t;

/* Why a rule did not fire: the failed condition and the claim that came closest. */
typedef struct {
    const att_pol_rule_t *rule;
    int failed;
    const att_claim_t *near; /* passed the type tests, failed near_test; or (absence) present */
    int near_test;
} att_miss_t;

typedef struct {
    const att_policy_t *pol;
    att_pol_arena_t *a;
    att_diag_t *diag;
    att_claimset_t in, out, props;
    const att_pol_rule_t *permit_rule, *deny_rule;
    att_bind_t *deny_bind;
    att_miss_t *misses; /* failed permit rules, for the denial reason */
    size_t nmiss, capmiss;
    bool explain;
    json_t *trace;
    att_pol_buf_t text;
    att_pol_budget_t b;
    const att_pol_rule_t *rule; /* the rule being evaluated, for budget messages */
    const char *query;          /* the JmesPath query being evaluated, or NULL */
    size_t query_n;
} att_eval_t;

struct att_policy_result {
    uint64_t steps; /* work and size the evaluation took (att_policy_result_cost) */
    size_t bytes;
    bool permitted;
    char *reason;
    json_t *claims;
    json_t *props;
    json_t *trace;
    char *trace_text;
};

static const char att_iss_service[] = "AttestationService";
static const char att_iss_policy[] = "AttestationPolicy";
static const char att_iss_custom[] = "CustomClaim";

/* ---- helpers ---------------------------------------------------------------------------- */

/* The budget ran out (or the caller cancelled): say which budget, its limit and where. */
static att_err_t att_budget_err(att_eval_t *e)
{
    const att_pol_budget_t *b = &e->b;
    char where[160], q[128] = "";
    if (e->rule != NULL)
        snprintf(where, sizeof(where), " in %s rule %d at line %u",
                 att_pol_section_name(e->rule->section), e->rule->index, e->rule->at.line);
    else
        snprintf(where, sizeof(where), " while reading the incoming claims");
    if (e->query != NULL)
        snprintf(q, sizeof(q), ", JmesPath query \"%.*s%s\"",
                 (int)(e->query_n > 80 ? 80 : e->query_n), e->query, e->query_n > 80 ? "..." : "");
    switch (b->err) {
    case ATT_E_CANCELLED:
        return att_diag_set(e->diag, ATT_E_CANCELLED,
                            "policy evaluation cancelled%s%s (after %" PRIu64 " steps)", where, q,
                            b->steps);
    case ATT_E_LIMIT:
        return att_diag_set(e->diag, ATT_E_LIMIT,
                            "policy evaluation stopped: a JSON value nested deeper than %d "
                            "levels%s%s",
                            ATT_POL_MAX_NEST, where, q);
    default:
        if (strcmp(b->what ? b->what : "", "steps") == 0)
            return att_diag_set(e->diag, ATT_E_POLICY_BUDGET,
                                "policy evaluation exceeded its work budget of %" PRIu64
                                " steps%s%s",
                                b->max_steps, where, q);
        return att_diag_set(e->diag, ATT_E_POLICY_BUDGET,
                            "policy evaluation exceeded its size budget of %zu bytes of values "
                            "built%s%s",
                            b->max_bytes, where, q);
    }
}

static att_err_t att_oom(att_eval_t *e)
{
    if (e->b.err != ATT_OK)
        return att_budget_err(e); /* the arena refused because the budget ran out */
    return att_diag_set(e->diag, ATT_E_NOMEM, "policy evaluation ran out of memory");
}

static bool att_spend(att_eval_t *e, uint64_t n)
{
    return att_pol_spend(&e->b, n);
}

/* Serialised size of claim c (type and value), measured once against the budget. */
static bool att_claim_size(att_eval_t *e, att_claim_t *c, size_t *size)
{
    if (c->size == 0) {
        size_t vs = 0;
        if (c->v.kind == ATT_PV_JSON && c->v.json != NULL) {
            att_pol_jsize_t z;
            if (!att_pol_json_size(&e->b, c->v.json,
                                   e->b.max_bytes > e->b.bytes ? e->b.max_bytes - e->b.bytes : 0,
                                   &z))
                return false;
            vs = z.text;
        } else if (c->v.kind == ATT_PV_STR || c->v.kind == ATT_PV_JSON) {
            if (!att_spend(e, att_pol_scan_cost(c->v.n)))
                return false;
            vs = att_pol_str_text(c->v.s, c->v.n);
        } else {
            vs = 24; /* an integer or a Boolean */
        }
        if (!att_spend(e, att_pol_scan_cost(c->tn)))
            return false;
        c->size = att_pol_str_text(c->type, c->tn) + 2 + vs;
    }
    *size = c->size;
    return true;
}

static att_err_t att_set_add(att_eval_t *e, att_claimset_t *s, att_claim_t *c)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        if (cap > ATT_EVAL_MAX_CLAIMS)
            return att_diag_set(e->diag, ATT_E_LIMIT, "more than %d claims during evaluation",
                                ATT_EVAL_MAX_CLAIMS);
        att_claim_t **nc = att_pol_alloc(e->a, cap * sizeof(*nc));
        if (nc == NULL)
            return att_oom(e);
        if (s->n)
            memcpy(nc, s->c, s->n * sizeof(*nc));
        s->c = nc;
        s->cap = cap;
    }
    s->c[s->n++] = c;
    return ATT_OK;
}

static void att_rule_at(att_pol_buf_t *b, const att_pol_rule_t *r)
{
    att_pol_buf_printf(b, "rule %d at line %u", r->index, r->at.line);
}

static const char *att_src(const att_eval_t *e, att_pol_span_t at, size_t max, int *len)
{
    size_t n = at.end > at.off ? at.end - at.off : 0;
    *len = (int)(n > max ? max : n);
    return e->pol->text + at.off;
}

static void att_describe_claim(att_pol_buf_t *b, const att_claim_t *c)
{
    att_pol_buf_add(b, c->type, c->tn);
    att_pol_buf_add(b, " = ", 3);
    att_pv_describe(b, &c->v);
}

/* Value of property p of claim c. */
static void att_claim_prop(att_eval_t *e, att_claim_t *c, att_pol_prop_t p, att_pv_t *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = ATT_PV_STR;
    switch (p) {
    case ATT_PP_TYPE:
        out->s = c->type;
        out->n = c->tn;
        break;
    case ATT_PP_ISSUER:
        out->s = c->issuer;
        out->n = c->in;
        break;
    case ATT_PP_VALUETYPE:
        out->s = att_pv_type_name(&c->v);
        out->n = strlen(out->s);
        break;
    case ATT_PP_VALUE:
        if (c->v.kind == ATT_PV_JSON)
            att_pv_text(e->a, &c->v, NULL);
        *out = c->v;
        break;
    }
}

/* ---- expressions ------------------------------------------------------------------------ */

static att_err_t att_eval_expr(att_eval_t *e, const att_pol_rule_t *r, const att_pol_expr_t *x,
                               const att_bind_t *bind, att_pv_set_t *out);

static att_err_t att_type_error(att_eval_t *e, const att_pol_rule_t *r, const att_pol_expr_t *x,
                                const char *want, const att_pv_t *got)
{
    att_pol_buf_t b;
    att_pol_buf_init(&b, e->a);
    att_pv_describe(&b, got);
    return att_diag_set(e->diag, ATT_E_POLICY_TYPE,
                        "%s rule %d at line %u, column %u: %s needs %s, got %s %s",
                        att_pol_section_name(r->section), r->index, x->at.line, x->at.col,
                        att_pol_fn_name(x->fn), want, att_pv_type_name(got), b.p ? b.p : "");
}

static att_err_t att_set_alloc(att_eval_t *e, att_pv_set_t *s, size_t n)
{
    if (n > ATT_EVAL_MAX_SET)
        return att_diag_set(e->diag, ATT_E_LIMIT, "a value set grew beyond %d values",
                            ATT_EVAL_MAX_SET);
    s->n = 0;
    s->cap = n ? n : 1;
    s->v = att_pol_alloc(e->a, s->cap * sizeof(*s->v));
    return s->v ? ATT_OK : att_oom(e);
}

static att_err_t att_set_push(att_eval_t *e, att_pv_set_t *s, const att_pv_t *v)
{
    if (s->n == s->cap) {
        if (s->cap >= ATT_EVAL_MAX_SET)
            return att_diag_set(e->diag, ATT_E_LIMIT, "a value set grew beyond %d values",
                                ATT_EVAL_MAX_SET);
        size_t cap = s->cap ? s->cap * 2 : 4;
        att_pv_t *nv = att_pol_alloc(e->a, cap * sizeof(*nv));
        if (nv == NULL)
            return att_oom(e);
        if (s->n)
            memcpy(nv, s->v, s->n * sizeof(*nv));
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = *v;
    return ATT_OK;
}

/* The JSON document held by a String/JSON value (parsed on demand, kept by the arena). */
static json_t *att_value_json(att_eval_t *e, att_pv_t *v, const char **why)
{
    if (v->kind == ATT_PV_JSON && v->json != NULL)
        return v->json;
    if (v->kind != ATT_PV_STR) {
        *why = "is not a string";
        return NULL;
    }
    if (!att_spend(e, att_pol_parse_cost(v->n))) {
        *why = "ran out of budget";
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(v->s, v->n, JSON_DECODE_ANY, &jerr);
    if (j == NULL) {
        *why = "is not valid JSON";
        return NULL;
    }
    /* the parsed value is built here: charge its nodes and text */
    att_pol_jsize_t z;
    if (!att_pol_json_size(&e->b, j, SIZE_MAX, &z) ||
        !att_pol_charge(&e->b, z.nodes * ATT_POL_JSON_NODE + z.text)) {
        json_decref(j);
        *why = "ran out of budget";
        return NULL;
    }
    return att_pol_keep(e->a, j);
}

static att_err_t att_json_to_values(att_eval_t *e, const att_pol_rule_t *r, const att_pol_expr_t *x,
                                    json_t *j, att_pv_set_t *out, bool nested)
{
    att_pv_t v;
    memset(&v, 0, sizeof(v));
    if (!att_spend(e, 1))
        return att_budget_err(e);
    switch (json_typeof(j)) {
    case JSON_NULL:
        return ATT_OK; /* an empty claim value */
    case JSON_TRUE:
    case JSON_FALSE:
        v.kind = ATT_PV_BOOL;
        v.b = json_is_true(j);
        break;
    case JSON_INTEGER:
        v.kind = ATT_PV_INT;
        v.i = json_integer_value(j);
        break;
    case JSON_REAL: {
        double d = json_real_value(j);
        if (d != (double)(int64_t)d || d >= 9.2e18 || d <= -9.2e18)
            return att_diag_set(e->diag, ATT_E_POLICY_TYPE,
                                "%s rule %d at line %u: JsonToClaimValue got the fraction %g; "
                                "only integers convert",
                                att_pol_section_name(r->section), r->index, x->at.line, d);
        v.kind = ATT_PV_INT;
        v.i = (int64_t)d;
        break;
    }
    case JSON_STRING:
        v.kind = ATT_PV_STR;
        v.s = json_string_value(j);
        v.n = json_string_length(j);
        break;
    case JSON_ARRAY:
        if (!nested) {
            size_t i;
            json_t *el;
            json_array_foreach(j, i, el)
            {
                att_err_t err = att_json_to_values(e, r, x, el, out, true);
                if (err != ATT_OK)
                    return err;
            }
            return ATT_OK;
        }
        /* fall through */
    default:
        return att_diag_set(e->diag, ATT_E_POLICY_TYPE,
                            "%s rule %d at line %u: JsonToClaimValue converts numbers, booleans, "
                            "strings, null and arrays of those; got %s",
                            att_pol_section_name(r->section), r->index, x->at.line,
                            json_is_object(j) ? "an object" : "a nested array");
    }
    return att_set_push(e, out, &v);
}

/* One application of a scalar function to one value per argument. */
static att_err_t att_apply(att_eval_t *e, const att_pol_rule_t *r, const att_pol_expr_t *x,
                           att_pv_t **args, att_pv_set_t *out)
{
    att_pv_t v;
    memset(&v, 0, sizeof(v));
    const char *why = NULL;
    switch (x->fn) {
    case ATT_FN_NEGATEBOOL:
        if (args[0]->kind != ATT_PV_BOOL)
            return att_type_error(e, r, x, "a Boolean", args[0]);
        v.kind = ATT_PV_BOOL;
        v.b = !args[0]->b;
        break;
    case ATT_FN_APPENDSTRING: {
        for (int i = 0; i < 2; i++)
            if (args[i]->kind != ATT_PV_STR && args[i]->kind != ATT_PV_JSON)
                return att_type_error(e, r, x, "two Strings", args[i]);
        size_t n0, n1;
        const char *s0 = att_pv_text(e->a, args[0], &n0), *s1 = att_pv_text(e->a, args[1], &n1);
        char *s = s0 && s1 ? att_pol_alloc(e->a, n0 + n1 + 1) : NULL;
        if (s0 == NULL || s1 == NULL || s == NULL)
            return att_oom(e);
        memcpy(s, s0, n0);
        memcpy(s + n0, s1, n1);
        s[n0 + n1] = '\0';
        v.kind = ATT_PV_STR;
        v.s = s;
        v.n = n0 + n1;
        break;
    }
    case ATT_FN_JSONTOCLAIMVALUE: {
        json_t *j = att_value_json(e, args[0], &why);
        if (j == NULL && e->b.err != ATT_OK)
            return att_budget_err(e);
        if (j == NULL)
            return att_diag_set(e->diag, ATT_E_POLICY_TYPE,
                                "%s rule %d at line %u: JsonToClaimValue's argument %s",
                                att_pol_section_name(r->section), r->index, x->at.line, why);
        return att_json_to_values(e, r, x, j, out, false);
    }
    case ATT_FN_JMESPATH: {
        json_t *data = att_value_json(e, args[0], &why);
        if (data == NULL && e->b.err != ATT_OK)
            return att_budget_err(e);
        if (data == NULL)
            return att_diag_set(e->diag, ATT_E_POLICY_TYPE,
                                "%s rule %d at line %u: JmesPath's first argument %s",
                                att_pol_section_name(r->section), r->index, x->at.line, why);
        const att_jp_node_t *q = x->query;
        e->query = x->args[1]->kind == ATT_PX_LIT ? x->args[1]->lit.s : args[1]->s;
        e->query_n = x->args[1]->kind == ATT_PX_LIT ? x->args[1]->lit.n : args[1]->n;
        if (q == NULL) {
            if (args[1]->kind != ATT_PV_STR)
                return att_type_error(e, r, x, "a String query", args[1]);
            size_t at = 0;
            q = att_jp_compile(e->a, args[1]->s, args[1]->n, &at, &why);
            if (q == NULL)
                return att_diag_set(e->diag, ATT_E_POLICY_JMESPATH,
                                    "%s rule %d at line %u: JmesPath query \"%.*s\" is not valid "
                                    "at character %zu: %s",
                                    att_pol_section_name(r->section), r->index, x->at.line,
                                    (int)(args[1]->n > 80 ? 80 : args[1]->n), args[1]->s, at + 1,
                                    why);
        }
        json_t *res = att_jp_eval(q, data, &e->b, &why);
        if (res == NULL && e->b.err != ATT_OK)
            return att_budget_err(e);
        e->query = NULL;
        if (res == NULL)
            return att_diag_set(e->diag, ATT_E_POLICY_JMESPATH, "%s rule %d at line %u: %s",
                                att_pol_section_name(r->section), r->index, x->at.line, why);
        v.kind = ATT_PV_JSON;
        v.json = att_pol_keep(e->a, res);
        if (v.json == NULL)
            return att_oom(e);
        break;
    }
    default:
        return att_diag_set(e->diag, ATT_E_INTERNAL, "unexpected function");
    }
    return att_set_push(e, out, &v);
}

/* Steps for comparing two values: one, plus the scan of the shorter text (JSON values compare
 * by json_equal over their materialised texts' worth of nodes at most). */
static uint64_t att_cmp_cost(const att_pv_t *a, const att_pv_t *b)
{
    size_t na = a->kind == ATT_PV_STR || a->kind == ATT_PV_JSON ? a->n : 0;
    size_t nb = b->kind == ATT_PV_STR || b->kind == ATT_PV_JSON ? b->n : 0;
    return att_pol_scan_cost(na < nb ? na : nb);
}

static att_err_t att_eval_call(att_eval_t *e, const att_pol_rule_t *r, const att_pol_expr_t *x,
                               const att_bind_t *bind, att_pv_set_t *out)
{
    att_pv_set_t args[8];
    size_t total = 1;
    for (int i = 0; i < x->nargs; i++) {
        att_err_t err = att_eval_expr(e, r, x->args[i], bind, &args[i]);
        if (err != ATT_OK)
            return err;
        total *= args[i].n ? args[i].n : 1;
        if (total > ATT_EVAL_MAX_SET)
            total = ATT_EVAL_MAX_SET + 1;
    }
    if (x->fn == ATT_FN_ISSUBSETOF || x->fn == ATT_FN_CONTAINSONLYVALUE) {
        att_err_t err = att_set_alloc(e, out, 1);
        if (err != ATT_OK)
            return err;
        bool res;
        if (x->fn == ATT_FN_CONTAINSONLYVALUE) {
            if (args[1].n != 1)
                return att_diag_set(e->diag, ATT_E_POLICY_TYPE,
                                    "%s rule %d at line %u: ContainsOnlyValue's second argument "
                                    "must be one value, got %zu",
                                    att_pol_section_name(r->section), r->index, x->at.line,
                                    args[1].n);
            res = args[0].n > 0;
            for (size_t i = 0; i < args[0].n && res; i++) {
                att_pv_text(e->a, &args[0].v[i], NULL);
                att_pv_text(e->a, &args[1].v[0], NULL);
                if (!att_spend(e, att_cmp_cost(&args[0].v[i], &args[1].v[0])))
                    return att_budget_err(e);
                res = att_pv_compare(&args[0].v[i], ATT_OP_EQ, &args[1].v[0]) == 1;
            }
        } else {
            res = true;
            for (size_t i = 0; i < args[0].n && res; i++) {
                bool found = false;
                att_pv_text(e->a, &args[0].v[i], NULL);
                for (size_t k = 0; k < args[1].n && !found; k++) {
                    att_pv_text(e->a, &args[1].v[k], NULL);
                    if (!att_spend(e, att_cmp_cost(&args[0].v[i], &args[1].v[k])))
                        return att_budget_err(e);
                    found = att_pv_compare(&args[0].v[i], ATT_OP_EQ, &args[1].v[k]) == 1;
                }
                res = found;
            }
        }
        out->v[0].kind = ATT_PV_BOOL;
        out->v[0].b = res;
        out->v[0].s = NULL;
        out->v[0].json = NULL;
        out->n = 1;
        return ATT_OK;
    }
    /* scalar functions: applied to every combination of argument values */
    for (int i = 0; i < x->nargs; i++)
        if (args[i].n == 0) {
            out->n = out->cap = 0;
            out->v = NULL;
            return ATT_OK;
        }
    att_err_t err = att_set_alloc(e, out, x->fn == ATT_FN_JSONTOCLAIMVALUE ? 4 : total);
    if (err != ATT_OK)
        return err;
    size_t idx[8] = {0};
    for (;;) {
        att_pv_t *cur[8];
        for (int i = 0; i < x->nargs; i++)
            cur[i] = &args[i].v[idx[i]];
        if (!att_spend(e, 1))
            return att_budget_err(e);
        err = att_apply(e, r, x, cur, out);
        if (err != ATT_OK)
            return err;
        int i = x->nargs - 1;
        while (i >= 0 && ++idx[i] == args[i].n)
            idx[i--] = 0;
        if (i < 0)
            break;
    }
    return ATT_OK;
}

static att_err_t att_eval_expr(att_eval_t *e, const att_pol_rule_t *r, const att_pol_expr_t *x,
                               const att_bind_t *bind, att_pv_set_t *out)
{
    switch (x->kind) {
    case ATT_PX_LIT:
        /* literals are never JSON values, so nothing writes through this pointer */
        out->v = (att_pv_t *)&x->lit;
        out->n = 1;
        out->cap = 0;
        return ATT_OK;
    case ATT_PX_REF: {
        const att_bind_t *b = &bind[x->ref];
        if (!att_spend(e, 1 + b->n))
            return att_budget_err(e);
        att_err_t err = att_set_alloc(e, out, b->n);
        if (err != ATT_OK)
            return err;
        for (size_t i = 0; i < b->n; i++)
            att_claim_prop(e, b->c[i], x->prop, &out->v[i]);
        out->n = b->n;
        return ATT_OK;
    }
    case ATT_PX_CALL:
        return att_eval_call(e, r, x, bind, out);
    }
    return att_diag_set(e->diag, ATT_E_INTERNAL, "unexpected expression");
}

/* ---- conditions ------------------------------------------------------------------------- */

static att_err_t att_test_claim(att_eval_t *e, const att_pol_rule_t *r, const att_pol_test_t *t,
                                const att_pv_set_t *rhs, att_claim_t *c, bool *pass)
{
    att_pv_t lhs;
    /* fast path: type == "literal" */
    if (t->prop == ATT_PP_TYPE && t->op == ATT_OP_EQ && rhs->n == 1 &&
        rhs->v[0].kind == ATT_PV_STR) {
        if (!att_spend(e, att_pol_scan_cost(c->tn < rhs->v[0].n ? c->tn : rhs->v[0].n)))
            return att_budget_err(e);
        *pass = c->tn == rhs->v[0].n && memcmp(c->type, rhs->v[0].s, c->tn) == 0;
        return ATT_OK;
    }
    att_claim_prop(e, c, t->prop, &lhs);
    if (e->b.err != ATT_OK)
        return att_budget_err(e);
    *pass = false;
    for (size_t i = 0; i < rhs->n && !*pass; i++) {
        att_pv_t *rv = &rhs->v[i];
        if (rv->kind == ATT_PV_JSON)
            att_pv_text(e->a, rv, NULL);
        if (!att_spend(e, att_cmp_cost(&lhs, rv)))
            return att_budget_err(e);
        int res = att_pv_compare(&lhs, t->op, rv);
        if (res < 0) {
            att_pol_buf_t b;
            att_pol_buf_init(&b, e->a);
            att_describe_claim(&b, c);
            return att_diag_set(e->diag, ATT_E_POLICY_TYPE,
                                "%s rule %d at line %u, column %u: operator %s needs integers but "
                                "claim %s is %s%s and the rule compares with %s %s",
                                att_pol_section_name(r->section), r->index, t->at.line, t->at.col,
                                att_pol_op_name(t->op), b.p ? b.p : "",
                                lhs.kind == ATT_PV_INT ? "an " : "a ", att_pv_type_name(&lhs),
                                rv->kind == ATT_PV_INT ? "an" : "a", att_pv_type_name(rv));
        }
        *pass = res == 1;
    }
    return ATT_OK;
}

/* Evaluate a rule's conditions; *fired tells whether they all hold, bind gets the bindings,
 * miss (if not NULL) the reason when they do not. */
static att_err_t att_match(att_eval_t *e, const att_pol_rule_t *r, att_bind_t *bind,
                           att_miss_t *miss, bool *fired)
{
    size_t nclaims = e->in.n;
    miss->rule = r;
    miss->failed = -1;
    miss->near = NULL;
    miss->near_test = -1;
    *fired = true;
    for (int ci = 0; ci < r->nconds; ci++) {
        const att_pol_cond_t *cond = &r->conds[ci];
        att_pv_set_t rhs[16];
        for (int ti = 0; ti < cond->ntests; ti++) {
            att_err_t err = att_eval_expr(e, r, cond->tests[ti].rhs, bind, &rhs[ti]);
            if (err != ATT_OK)
                return err;
        }
        att_bind_t *b = &bind[ci];
        b->n = 0;
        b->c = NULL;
        size_t cap = 0;
        const att_claim_t *near = NULL;
        int near_test = -1;
        for (size_t k = 0; k < nclaims; k++) {
            att_claim_t *c = e->in.c[k];
            bool pass = true, typed = true;
            if (!att_spend(e, 1))
                return att_budget_err(e);
            int ti;
            for (ti = 0; ti < cond->ntests && pass; ti++) {
                att_err_t err = att_test_claim(e, r, &cond->tests[ti], &rhs[ti], c, &pass);
                if (err != ATT_OK)
                    return err;
                if (!pass && cond->tests[ti].prop == ATT_PP_TYPE)
                    typed = false;
            }
            if (!pass) {
                if (typed && near == NULL) {
                    near = c;
                    near_test = ti - 1;
                }
                continue;
            }
            if (cond->absent) {
                near = c; /* the claim that should have been absent */
                b->n = 1;
                break;
            }
            if (b->n == cap) {
                size_t ncap = cap ? cap * 2 : 4;
                att_claim_t **nc = att_pol_alloc(e->a, ncap * sizeof(*nc));
                if (nc == NULL)
                    return att_oom(e);
                if (b->n)
                    memcpy(nc, b->c, b->n * sizeof(*nc));
                b->c = nc;
                cap = ncap;
            }
            b->c[b->n++] = c;
        }
        bool holds = cond->absent ? b->n == 0 : b->n > 0;
        if (cond->absent)
            b->n = 0; /* an absence condition binds nothing */
        if (!holds) {
            *fired = false;
            miss->failed = ci;
            miss->near = near;
            miss->near_test = cond->absent ? -1 : near_test;
            return ATT_OK;
        }
    }
    return ATT_OK;
}

/* "x-ms-sgx-svn was 1, the rule needs >= 2" */
static void att_why(att_eval_t *e, const att_miss_t *m, att_pol_buf_t *b)
{
    const att_pol_cond_t *cond = &m->rule->conds[m->failed];
    int len;
    const char *src = att_src(e, cond->at, 160, &len);
    if (cond->absent) {
        att_pol_buf_printf(b, "%.*s failed: ", len, src);
        if (m->near != NULL) {
            att_pol_buf_add(b, "claim ", 6);
            att_describe_claim(b, m->near);
            att_pol_buf_add(b, " is present", 11);
        }
        return;
    }
    if (m->near != NULL && m->near_test >= 0) {
        const att_pol_test_t *t = &cond->tests[m->near_test];
        const att_claim_t *c = m->near;
        int rl;
        const char *rs = att_src(e, t->rhs->at, 120, &rl);
        att_pol_buf_add(b, c->type, c->tn);
        switch (t->prop) {
        case ATT_PP_VALUE:
            att_pol_buf_add(b, " was ", 5);
            att_pv_describe(b, &c->v);
            att_pol_buf_printf(b, ", the rule needs %s%s %.*s", t->op == ATT_OP_EQ ? "" : "",
                               att_pol_op_name(t->op), rl, rs);
            break;
        case ATT_PP_ISSUER:
            att_pol_buf_printf(b, " has issuer %.*s, the rule needs issuer %s %.*s", (int)c->in,
                               c->issuer, att_pol_op_name(t->op), rl, rs);
            break;
        default:
            att_pol_buf_printf(b, " is %s, the rule needs %s %s %.*s", att_pv_type_name(&c->v),
                               att_pol_prop_name(t->prop), att_pol_op_name(t->op), rl, rs);
            break;
        }
        return;
    }
    for (int ti = 0; ti < cond->ntests; ti++) {
        const att_pol_test_t *t = &cond->tests[ti];
        if (t->prop == ATT_PP_TYPE && t->op == ATT_OP_EQ && t->rhs->kind == ATT_PX_LIT) {
            att_pol_buf_printf(b, "no claim of type \"%.*s\"", (int)t->rhs->lit.n, t->rhs->lit.s);
            return;
        }
    }
    att_pol_buf_printf(b, "no claim satisfies %.*s", len, src);
}

/* ---- actions ---------------------------------------------------------------------------- */

static att_err_t att_coerce(att_eval_t *e, const att_pol_rule_t *r, att_pol_vt_t vt, att_pv_t *v)
{
    if (vt == ATT_VT_NONE)
        return ATT_OK;
    size_t n;
    const char *s =
        (v->kind == ATT_PV_STR || v->kind == ATT_PV_JSON) ? att_pv_text(e->a, v, &n) : NULL;
    if (e->b.err != ATT_OK)
        return att_budget_err(e);
    switch (vt) {
    case ATT_VT_STRING:
        if (v->kind == ATT_PV_INT) {
            v->s = att_pol_printf(e->a, "%" PRId64, v->i);
        } else if (v->kind == ATT_PV_BOOL) {
            v->s = v->b ? "true" : "false";
        } else {
            v->kind = ATT_PV_STR;
            return ATT_OK;
        }
        if (v->s == NULL)
            return att_oom(e);
        v->n = strlen(v->s);
        v->kind = ATT_PV_STR;
        return ATT_OK;
    case ATT_VT_INTEGER:
        if (v->kind == ATT_PV_INT)
            return ATT_OK;
        if (s != NULL && n > 0 && n < 24) {
            char tmp[24], *end;
            memcpy(tmp, s, n);
            tmp[n] = '\0';
            errno = 0;
            long long x = strtoll(tmp, &end, 0);
            if (*end == '\0' && errno == 0) {
                v->kind = ATT_PV_INT;
                v->i = x;
                return ATT_OK;
            }
        }
        break;
    case ATT_VT_BOOLEAN:
        if (v->kind == ATT_PV_BOOL)
            return ATT_OK;
        if (s != NULL && (n == 4 || n == 5) &&
            (!strncasecmp(s, "true", n) || !strncasecmp(s, "false", n))) {
            v->kind = ATT_PV_BOOL;
            v->b = n == 4;
            return ATT_OK;
        }
        break;
    default:
        return ATT_OK;
    }
    att_pol_buf_t b;
    att_pol_buf_init(&b, e->a);
    att_pv_describe(&b, v);
    return att_diag_set(e->diag, ATT_E_POLICY_TYPE,
                        "%s rule %d at line %u: value %s cannot be given valueType %s",
                        att_pol_section_name(r->section), r->index, r->act.at.line, b.p ? b.p : "",
                        vt == ATT_VT_INTEGER ? "Integer" : "Boolean");
}

static att_err_t att_emit(att_eval_t *e, const att_pol_rule_t *r, const char *type, size_t tn,
                          const att_pv_t *v, json_t *effects)
{
    att_claim_t *c = att_pol_alloc(e->a, sizeof(*c));
    if (c == NULL)
        return att_oom(e);
    c->type = type;
    c->tn = tn;
    c->issuer = att_iss_policy;
    c->in = sizeof(att_iss_policy) - 1;
    c->v = *v;
    c->size = 0;
    att_err_t err = att_coerce(e, r, r->act.valuetype, &c->v);
    /* a claim added or issued costs its serialised size: it may be compared, traced, put in
     * the token; a JSON value sharing nodes is measured here, where it stops being cheap */
    size_t size;
    if (err == ATT_OK && (!att_claim_size(e, c, &size) || !att_pol_charge(&e->b, size) ||
                          !att_spend(e, att_pol_copy_cost(size))))
        return att_budget_err(e);
    if (err == ATT_OK)
        err = att_set_add(e, &e->in, c);
    if (err == ATT_OK && r->act.kind == ATT_ACT_ISSUE)
        err = att_set_add(e, &e->out, c);
    if (err == ATT_OK && r->act.kind == ATT_ACT_ISSUEPROPERTY)
        err = att_set_add(e, &e->props, c);
    if (err == ATT_OK && effects != NULL) {
        if (!att_pol_charge(&e->b, size) || !att_spend(e, att_pol_copy_cost(size)))
            return att_budget_err(e); /* the trace holds the value again */
        json_t *val = att_pv_to_json(&c->v);
        json_array_append_new(effects,
                              json_pack("{s:s%,s:o*}", "type", c->type, c->tn, "value", val));
    }
    return err;
}

static att_err_t att_act(att_eval_t *e, const att_pol_rule_t *r, const att_bind_t *bind,
                         json_t *effects)
{
    const att_pol_action_t *a = &r->act;
    switch (a->kind) {
    case ATT_ACT_PERMIT:
        if (e->permit_rule == NULL)
            e->permit_rule = r;
        return ATT_OK;
    case ATT_ACT_DENY:
        e->deny_rule = r;
        return ATT_OK;
    default:
        break;
    }
    if (a->claim_ref >= 0) {
        const att_bind_t *b = &bind[a->claim_ref];
        for (size_t i = 0; i < b->n; i++) {
            att_err_t err = att_emit(e, r, b->c[i]->type, b->c[i]->tn, &b->c[i]->v, effects);
            if (err != ATT_OK)
                return err;
        }
        return ATT_OK;
    }
    att_pv_set_t types, values;
    att_err_t err = att_eval_expr(e, r, a->type, bind, &types);
    if (err == ATT_OK)
        err = att_eval_expr(e, r, a->value, bind, &values);
    for (size_t ti = 0; err == ATT_OK && ti < types.n; ti++) {
        att_pv_t *t = &types.v[ti];
        if (t->kind != ATT_PV_STR && t->kind != ATT_PV_JSON)
            return att_diag_set(e->diag, ATT_E_POLICY_TYPE,
                                "%s rule %d at line %u: the claim type must be a String, got %s",
                                att_pol_section_name(r->section), r->index, a->at.line,
                                att_pv_type_name(t));
        size_t tn;
        const char *ts = att_pv_text(e->a, t, &tn);
        if (ts == NULL)
            return att_oom(e);
        for (size_t vi = 0; err == ATT_OK && vi < values.n; vi++)
            err = att_emit(e, r, ts, tn, &values.v[vi], effects);
    }
    return err;
}

/* ---- trace ------------------------------------------------------------------------------ */

static void att_trace_rule(att_eval_t *e, const att_pol_rule_t *r, const att_bind_t *bind,
                           const att_miss_t *miss, bool fired, json_t *effects)
{
    int len;
    const char *src = att_src(e, r->at, 300, &len);
    json_t *conds = json_array();
    int upto = fired ? r->nconds : miss->failed + 1;
    for (int ci = 0; ci < upto; ci++) {
        const att_pol_cond_t *c = &r->conds[ci];
        int cl;
        const char *cs = att_src(e, c->at, 200, &cl);
        bool ok = fired || ci < miss->failed;
        json_t *claims = json_array();
        if (ok)
            for (size_t k = 0; k < bind[ci].n && k < 8; k++) {
                att_claim_t *cl2 = bind[ci].c[k];
                size_t size; /* the trace holds the claim: it costs its size again */
                if (!att_claim_size(e, cl2, &size) || !att_pol_charge(&e->b, size) ||
                    !att_spend(e, att_pol_copy_cost(size)))
                    break;
                json_array_append_new(claims, json_pack("{s:s%,s:o*,s:s}", "type", cl2->type,
                                                        cl2->tn, "value", att_pv_to_json(&cl2->v),
                                                        "issuer", cl2->issuer));
            }
        json_array_append_new(conds, json_pack("{s:s%,s:b,s:o}", "condition", cs, (size_t)cl,
                                               "matched", ok, "claims", claims));
    }
    att_pol_buf_t why;
    att_pol_buf_init(&why, e->a);
    if (!fired)
        att_why(e, miss, &why);
    json_t *o = json_pack("{s:s,s:i,s:i,s:s%,s:b,s:o}", "section", att_pol_section_name(r->section),
                          "rule", r->index, "line", (int)r->at.line, "text", src, (size_t)len,
                          "matched", fired, "conditions", conds);
    if (o == NULL)
        return;
    if (!fired)
        json_object_set_new(o, "why", json_string(why.p ? why.p : ""));
    if (fired) {
        json_object_set_new(o, "action", json_string(att_pol_act_name(r->act.kind)));
        if (effects != NULL)
            json_object_set(o, "claims", effects);
    }
    json_array_append_new(e->trace, o);

    /* text form */
    att_pol_buf_t *t = &e->text;
    att_pol_buf_printf(t, "%s rule %d (line %u): ", att_pol_section_name(r->section), r->index,
                       r->at.line);
    if (!fired) {
        att_pol_buf_printf(t, "no match: %s\n", why.p ? why.p : "");
        return;
    }
    att_pol_buf_add(t, "matched", 7);
    bool first = true;
    for (int ci = 0; ci < r->nconds; ci++)
        for (size_t k = 0; k < bind[ci].n && k < 4; k++) {
            att_pol_buf_add(t, first ? " on " : ", ", first ? 4 : 2);
            att_describe_claim(t, bind[ci].c[k]);
            first = false;
        }
    att_pol_buf_printf(t, " -> %s(", att_pol_act_name(r->act.kind));
    if (effects != NULL) {
        size_t i;
        json_t *x;
        json_array_foreach(effects, i, x)
        {
            char vs[101];
            size_t vl;
            bool cut = att_pol_json_head(json_object_get(x, "value"), vs, sizeof(vs), &vl);
            att_pol_buf_printf(t, "%s%s = %.*s%s", i ? ", " : "",
                               json_string_value(json_object_get(x, "type")),
                               (int)(vl > 100 ? 100 : vl), vs, cut || vl > 100 ? "...(cut)" : "");
        }
        if (json_array_size(effects) == 0)
            att_pol_buf_add(t, "nothing: empty value", 20);
    }
    att_pol_buf_add(t, ")\n", 2);
}

/* ---- sections --------------------------------------------------------------------------- */

static att_err_t att_run_section(att_eval_t *e, att_pol_section_t s)
{
    const att_pol_sec_t *sec = &e->pol->sec[s];
    for (int i = 0; i < sec->nrules; i++) {
        const att_pol_rule_t *r = &sec->rules[i];
        e->rule = r;
        if (!att_spend(e, 1))
            return att_budget_err(e);
        att_bind_t bindbuf[8];
        att_bind_t *bind = bindbuf;
        if (r->nconds > 8) {
            bind = att_pol_alloc(e->a, sizeof(*bind) * (size_t)r->nconds);
            if (bind == NULL)
                return att_oom(e);
        }
        att_miss_t miss;
        bool fired;
        att_err_t err = att_match(e, r, bind, &miss, &fired);
        if (err != ATT_OK)
            return err;
        json_t *effects = NULL;
        if (fired) {
            if (e->explain && r->act.kind != ATT_ACT_PERMIT && r->act.kind != ATT_ACT_DENY)
                effects = json_array();
            err = att_act(e, r, bind, effects);
            if (err != ATT_OK) {
                json_decref(effects);
                return err;
            }
            if (r->act.kind == ATT_ACT_DENY) {
                size_t nb = (size_t)r->nconds;
                e->deny_bind = att_pol_alloc(e->a, sizeof(*bind) * (nb ? nb : 1));
                if (e->deny_bind == NULL)
                    return att_oom(e);
                memcpy(e->deny_bind, bind, sizeof(*bind) * nb);
            }
        } else if (r->act.kind == ATT_ACT_PERMIT) {
            if (e->nmiss == e->capmiss) {
                size_t cap = e->capmiss ? e->capmiss * 2 : 8;
                att_miss_t *nm = att_pol_alloc(e->a, cap * sizeof(*nm));
                if (nm == NULL)
                    return att_oom(e);
                if (e->nmiss)
                    memcpy(nm, e->misses, e->nmiss * sizeof(*nm));
                e->misses = nm;
                e->capmiss = cap;
            }
            e->misses[e->nmiss++] = miss;
        }
        if (e->explain && att_spend(e, ATT_POL_TRACE_STEPS + (uint64_t)r->nconds * 10))
            att_trace_rule(e, r, bind, &miss, fired, effects);
        json_decref(effects);
        if (e->b.err != ATT_OK)
            return att_budget_err(e);
        if (e->deny_rule != NULL)
            break; /* a deny ends authorization */
    }
    return e->a->failed ? att_oom(e) : ATT_OK;
}

/* ---- input ------------------------------------------------------------------------------ */

static void att_value_from_json(json_t *j, att_pv_t *v, bool *skip)
{
    memset(v, 0, sizeof(*v));
    *skip = false;
    switch (json_typeof(j)) {
    case JSON_TRUE:
    case JSON_FALSE:
        v->kind = ATT_PV_BOOL;
        v->b = json_is_true(j);
        return;
    case JSON_INTEGER:
        v->kind = ATT_PV_INT;
        v->i = json_integer_value(j);
        return;
    case JSON_STRING:
        v->kind = ATT_PV_STR;
        v->s = json_string_value(j);
        v->n = json_string_length(j);
        return;
    case JSON_NULL:
        *skip = true;
        return;
    default: /* objects, arrays, fractions: JSON-valued String claims */
        v->kind = ATT_PV_JSON;
        v->json = j;
        return;
    }
}

/* Legacy names the 2018 default policy uses ($is-debuggable, ...) for the x-ms-sgx-* claims. */
static const struct {
    const char *legacy, *name;
} att_legacy[] = {
    {"$is-debuggable", "x-ms-sgx-is-debuggable"},
    {"$sgx-mrsigner", "x-ms-sgx-mrsigner"},
    {"$sgx-mrenclave", "x-ms-sgx-mrenclave"},
    {"$product-id", "x-ms-sgx-product-id"},
    {"$svn", "x-ms-sgx-svn"},
    {"$tee", "x-ms-attestation-type"},
};

static att_err_t att_load_claims(att_eval_t *e, const json_t *claims)
{
    att_err_t err = ATT_OK;
    if (json_is_object(claims)) {
        const char *k;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach((json_t *)claims, k, klen, v)
        {
            att_claim_t *c = att_pol_zalloc(e->a, sizeof(*c));
            if (c == NULL || !att_spend(e, 1))
                return att_oom(e);
            bool skip;
            att_value_from_json(v, &c->v, &skip);
            if (skip)
                continue;
            c->type = k;
            c->tn = klen;
            c->issuer = att_iss_service;
            c->in = sizeof(att_iss_service) - 1;
            if ((err = att_set_add(e, &e->in, c)) != ATT_OK)
                return err;
        }
    } else if (json_is_array(claims)) {
        size_t i;
        json_t *o;
        json_array_foreach(claims, i, o)
        {
            json_t *t = json_object_get(o, "type"), *v = json_object_get(o, "value");
            json_t *is = json_object_get(o, "issuer"), *vt = json_object_get(o, "valueType");
            if (!json_is_string(t) || v == NULL || (is && !json_is_string(is)) ||
                (vt && !json_is_string(vt)))
                return att_diag_set(e->diag, ATT_E_POLICY_CLAIMS,
                                    "claim %zu: expected {\"type\": string, \"value\": ..., "
                                    "\"issuer\"?: string, \"valueType\"?: string}",
                                    i);
            att_claim_t *c = att_pol_zalloc(e->a, sizeof(*c));
            if (c == NULL || !att_spend(e, 1))
                return att_oom(e);
            bool skip;
            att_value_from_json(v, &c->v, &skip);
            if (skip)
                continue;
            c->type = json_string_value(t);
            c->tn = json_string_length(t);
            c->issuer = is ? json_string_value(is) : att_iss_custom;
            c->in = is ? json_string_length(is) : sizeof(att_iss_custom) - 1;
            if (vt != NULL) {
                static const char *names[] = {"String", "Integer", "Boolean"};
                int k;
                for (k = 0; k < 3; k++)
                    if (!strcmp(json_string_value(vt), names[k]))
                        break;
                if (k == 3)
                    return att_diag_set(e->diag, ATT_E_POLICY_CLAIMS,
                                        "claim %zu: valueType must be String, Integer or Boolean",
                                        i);
                att_pol_rule_t fake = {.section = ATT_SEC_CONFIG, .index = 0};
                if ((err = att_coerce(e, &fake, (att_pol_vt_t)(k + 1), &c->v)) != ATT_OK)
                    return att_diag_set(e->diag, ATT_E_POLICY_CLAIMS,
                                        "claim %zu (%s): value does not match valueType %s", i,
                                        c->type, names[k]);
            }
            if ((err = att_set_add(e, &e->in, c)) != ATT_OK)
                return err;
        }
        return ATT_OK;
    } else {
        return att_diag_set(e->diag, ATT_E_POLICY_CLAIMS,
                            "incoming claims must be a JSON object or an array of claims");
    }
    /* legacy aliases, only for the object form (as the evidence verifier produces it) */
    size_t n0 = e->in.n;
    for (size_t i = 0; i < n0; i++)
        for (size_t k = 0; k < sizeof(att_legacy) / sizeof(att_legacy[0]); k++) {
            const att_claim_t *src = e->in.c[i];
            if (strlen(att_legacy[k].name) != src->tn ||
                memcmp(att_legacy[k].name, src->type, src->tn) != 0 ||
                json_object_get(claims, att_legacy[k].legacy) != NULL)
                continue;
            att_claim_t *c = att_pol_alloc(e->a, sizeof(*c));
            if (c == NULL)
                return att_oom(e);
            *c = *src;
            c->type = att_legacy[k].legacy;
            c->tn = strlen(c->type);
            if ((err = att_set_add(e, &e->in, c)) != ATT_OK)
                return err;
        }
    return ATT_OK;
}

/* ---- result ----------------------------------------------------------------------------- */

static json_t *att_claims_json(const att_claimset_t *s)
{
    json_t *o = json_object(), *multi = NULL;
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        const att_claim_t *c = s->c[i];
        json_t *v = att_pv_to_json(&c->v);
        json_t *old = json_object_getn(o, c->type, c->tn);
        if (old == NULL) {
            json_object_setn_new(o, c->type, c->tn, v);
            continue;
        }
        /* issued twice: the claim becomes an array of its values */
        if (multi == NULL)
            multi = json_object();
        if (json_object_getn(multi, c->type, c->tn) == NULL) {
            json_t *arr = json_array();
            json_array_append(arr, old);
            json_object_setn_new(o, c->type, c->tn, arr);
            json_object_setn_new(multi, c->type, c->tn, json_true());
            old = arr;
        }
        json_array_append_new(old, v);
    }
    json_decref(multi);
    return o;
}

static char *att_reason(att_eval_t *e, bool permitted)
{
    att_pol_buf_t b;
    att_pol_buf_init(&b, e->a);
    if (permitted) {
        att_pol_buf_add(&b, "permit: ", 8);
        att_rule_at(&b, e->permit_rule);
        att_pol_buf_add(&b, " (authorizationrules) fired permit()", 36);
    } else if (e->deny_rule != NULL) {
        att_pol_buf_add(&b, "deny: ", 6);
        att_rule_at(&b, e->deny_rule);
        att_pol_buf_add(&b, " (authorizationrules) fired deny()", 34);
        bool first = true;
        for (int ci = 0; ci < e->deny_rule->nconds; ci++)
            for (size_t k = 0; k < e->deny_bind[ci].n && k < 4; k++) {
                att_pol_buf_add(&b, first ? " on " : ", ", first ? 4 : 2);
                att_describe_claim(&b, e->deny_bind[ci].c[k]);
                first = false;
            }
    } else if (e->nmiss == 0) {
        att_pol_buf_add(&b, "deny: authorizationrules has no permit() rule", 45);
    } else {
        att_pol_buf_add(&b, "deny: no permit() rule fired", 28);
        for (size_t i = 0; i < e->nmiss && i < 4; i++) {
            att_pol_buf_add(&b, "; ", 2);
            att_rule_at(&b, e->misses[i].rule);
            att_pol_buf_add(&b, ": ", 2);
            att_why(e, &e->misses[i], &b);
        }
        if (e->nmiss > 4)
            att_pol_buf_printf(&b, "; and %zu more", e->nmiss - 4);
    }
    return b.p ? strdup(b.p) : NULL;
}

ATT_API att_err_t att_policy_eval(const att_policy_t *pol, const json_t *claims,
                                  const att_policy_eval_opts_t *opts, att_policy_result_t **out,
                                  att_diag_t *diag)
{
    if (out != NULL)
        *out = NULL;
    if (pol == NULL || claims == NULL || out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_policy_eval: NULL argument");
    _Alignas(max_align_t) char stack[ATT_EVAL_STACK];
    att_eval_t e;
    memset(&e, 0, sizeof(e));
    att_pol_budget_init(&e.b, opts);
    /* no limit of its own: every allocation is charged to the size budget */
    att_pol_arena_t arena;
    att_pol_arena_init(&arena, stack, sizeof(stack), 0);
    arena.budget = &e.b;
    e.pol = pol;
    e.a = &arena;
    e.diag = diag;
    e.explain = opts != NULL && opts->explain;
    att_policy_result_t *res = calloc(1, sizeof(*res));
    att_err_t err = res ? ATT_OK : att_oom(&e);
    /* one step for the evaluation itself: a cancelled caller (a stopping service) gets
     * ATT_E_CANCELLED before any work, however small the policy */
    if (err == ATT_OK && !att_spend(&e, 1))
        err = att_budget_err(&e);
    if (err == ATT_OK && e.explain) {
        e.trace = json_array();
        att_pol_buf_init(&e.text, e.a);
        att_pol_buf_add(&e.text, "", 0);
    }
    if (err == ATT_OK)
        err = att_load_claims(&e, claims);
    if (err == ATT_OK)
        err = att_run_section(&e, ATT_SEC_CONFIG);
    if (err == ATT_OK)
        err = att_run_section(&e, ATT_SEC_AUTH);
    bool permitted = e.permit_rule != NULL && e.deny_rule == NULL;
    if (err == ATT_OK && permitted)
        err = att_run_section(&e, ATT_SEC_ISSUE);
    if (err == ATT_OK) {
        res->permitted = permitted;
        res->reason = att_reason(&e, permitted);
        res->claims = permitted ? att_claims_json(&e.out) : json_object();
        res->props = att_claims_json(&e.props);
        if (e.explain) {
            if (!permitted && pol->sec[ATT_SEC_ISSUE].nrules > 0)
                att_pol_buf_printf(&e.text, "issuancerules: skipped, authorization failed\n");
            att_pol_buf_printf(&e.text, "decision: %s\n", res->reason ? res->reason : "?");
            res->trace = e.trace;
            e.trace = NULL;
            res->trace_text = e.text.p ? strdup(e.text.p) : NULL;
            if (res->trace == NULL || res->trace_text == NULL)
                err = att_oom(&e);
        }
        if (err == ATT_OK && (res->reason == NULL || res->claims == NULL || res->props == NULL ||
                              arena.failed || e.b.err != ATT_OK))
            err = att_oom(&e);
        res->steps = e.b.steps;
        res->bytes = e.b.bytes;
    }
    json_decref(e.trace);
    att_pol_arena_free(&arena);
    if (err != ATT_OK) {
        att_policy_result_free(res);
        return err;
    }
    att_diag_clear(diag);
    *out = res;
    return ATT_OK;
}

ATT_API void att_policy_result_free(att_policy_result_t *res)
{
    if (res == NULL)
        return;
    free(res->reason);
    json_decref(res->claims);
    json_decref(res->props);
    json_decref(res->trace);
    free(res->trace_text);
    free(res);
}

ATT_API bool att_policy_permitted(const att_policy_result_t *res)
{
    return res != NULL && res->permitted;
}

ATT_API const char *att_policy_result_reason(const att_policy_result_t *res)
{
    return res ? res->reason : NULL;
}

ATT_API const json_t *att_policy_result_claims(const att_policy_result_t *res)
{
    return res ? res->claims : NULL;
}

ATT_API const json_t *att_policy_result_properties(const att_policy_result_t *res)
{
    return res ? res->props : NULL;
}

ATT_API const json_t *att_policy_result_trace(const att_policy_result_t *res)
{
    return res ? res->trace : NULL;
}

ATT_API const char *att_policy_result_trace_text(const att_policy_result_t *res)
{
    return res ? res->trace_text : NULL;
}

ATT_API void att_policy_result_cost(const att_policy_result_t *res, uint64_t *steps, size_t *bytes)
{
    if (steps != NULL)
        *steps = res ? res->steps : 0;
    if (bytes != NULL)
        *bytes = res ? res->bytes : 0;
}
