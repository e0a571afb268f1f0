/* eval_expr.c - expressions of the policy language at run time: the right-hand sides of tests
 * and the type and value of actions. A literal is one value; c.prop is the set of that property's
 * values over the claims condition c bound; a function call (JmesPath, JsonToClaimValue,
 * IsSubsetOf, AppendString, NegateBool, ContainsOnlyValue) is applied to every combination of its
 * arguments' values (IsSubsetOf and ContainsOnlyValue take the sets whole).
 * Checked here: the types of function arguments (ATT_E_POLICY_TYPE), that JSON text parses,
 * queries built at run time compile and evaluate (ATT_E_POLICY_JMESPATH), the size of a value set
 * (ATT_EVAL_MAX_SET) and the work budget.
 * Does NOT check function names, argument counts or literal queries: the parser did (parser.c).
 */
#include <string.h>

#include "policy/jmespath.h"
#include "policy/policy_int.h"

#define ATT_EVAL_MAX_SET 10000

/* ---- expressions ------------------------------------------------------------------------ */

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
    return s->v ? ATT_OK : att_pol_oom(e);
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
            return att_pol_oom(e);
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
    if (!att_pol_eval_spend(e, att_pol_parse_cost(v->n))) {
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
    if (!att_pol_eval_spend(e, 1))
        return att_pol_budget_err(e);
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
            return att_pol_oom(e);
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
            return att_pol_budget_err(e);
        if (j == NULL)
            return att_diag_set(e->diag, ATT_E_POLICY_TYPE,
                                "%s rule %d at line %u: JsonToClaimValue's argument %s",
                                att_pol_section_name(r->section), r->index, x->at.line, why);
        return att_json_to_values(e, r, x, j, out, false);
    }
    case ATT_FN_JMESPATH: {
        json_t *data = att_value_json(e, args[0], &why);
        if (data == NULL && e->b.err != ATT_OK)
            return att_pol_budget_err(e);
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
            return att_pol_budget_err(e);
        e->query = NULL;
        if (res == NULL)
            return att_diag_set(e->diag, ATT_E_POLICY_JMESPATH, "%s rule %d at line %u: %s",
                                att_pol_section_name(r->section), r->index, x->at.line, why);
        v.kind = ATT_PV_JSON;
        v.json = att_pol_keep(e->a, res);
        if (v.json == NULL)
            return att_pol_oom(e);
        break;
    }
    default:
        return att_diag_set(e->diag, ATT_E_INTERNAL, "unexpected function");
    }
    return att_set_push(e, out, &v);
}

static att_err_t att_eval_call(att_eval_t *e, const att_pol_rule_t *r, const att_pol_expr_t *x,
                               const att_bind_t *bind, att_pv_set_t *out)
{
    att_pv_set_t args[8];
    size_t total = 1;
    for (int i = 0; i < x->nargs; i++) {
        att_err_t err = att_pol_eval_expr(e, r, x->args[i], bind, &args[i]);
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
                if (!att_pol_eval_spend(e, att_pol_cmp_cost(&args[0].v[i], &args[1].v[0])))
                    return att_pol_budget_err(e);
                res = att_pv_compare(&args[0].v[i], ATT_OP_EQ, &args[1].v[0]) == 1;
            }
        } else {
            res = true;
            for (size_t i = 0; i < args[0].n && res; i++) {
                bool found = false;
                att_pv_text(e->a, &args[0].v[i], NULL);
                for (size_t k = 0; k < args[1].n && !found; k++) {
                    att_pv_text(e->a, &args[1].v[k], NULL);
                    if (!att_pol_eval_spend(e, att_pol_cmp_cost(&args[0].v[i], &args[1].v[k])))
                        return att_pol_budget_err(e);
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
        if (!att_pol_eval_spend(e, 1))
            return att_pol_budget_err(e);
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

att_err_t att_pol_eval_expr(att_eval_t *e, const att_pol_rule_t *r, const att_pol_expr_t *x,
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
        if (!att_pol_eval_spend(e, 1 + b->n))
            return att_pol_budget_err(e);
        att_err_t err = att_set_alloc(e, out, b->n);
        if (err != ATT_OK)
            return err;
        for (size_t i = 0; i < b->n; i++)
            att_pol_claim_prop(e, b->c[i], x->prop, &out->v[i]);
        out->n = b->n;
        return ATT_OK;
    }
    case ATT_PX_CALL:
        return att_eval_call(e, r, x, bind, out);
    }
    return att_diag_set(e->diag, ATT_E_INTERNAL, "unexpected expression");
}
