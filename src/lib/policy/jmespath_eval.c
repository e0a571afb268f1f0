/* jmespath_eval.c - evaluates compiled JmesPath nodes (jmespath.c) over jansson values: fields,
 * indexes, projections, filters, flatten, pipes, boolean operators, comparisons, multi-selects;
 * function nodes go to jmespath_fn.c. Every node evaluated, element iterated and value built is
 * counted against the caller's budget, and nesting is bounded.
 * Does NOT check the query (compiled and checked once by att_jp_compile) nor the types of
 * function arguments (jmespath_fn.c).
 */
#include <string.h>

#include "policy/jmespath.h"

bool att_jp_over(att_jx_t *x)
{
    if (*x->err == NULL)
        *x->err = x->b->err == ATT_E_CANCELLED ? "evaluation cancelled"
                  : x->b->err == ATT_E_LIMIT   ? "value nested too deeply"
                                               : "work budget exceeded";
    return false;
}

static bool att_jtruthy(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE:
        return false;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    default:
        return true;
    }
}

json_t *att_jp_eval_node(const att_jp_node_t *n, json_t *v, att_jx_t *x, int depth)
{
    const char **err = x->err;
    if (depth > 256) {
        *err = "query evaluation nested too deeply";
        return NULL;
    }
    if (!att_jp_step(x, 1))
        return NULL;
    json_t *l, *r, *out;
    switch (n->kind) {
    case JP_CUR:
        return json_incref(v);
    case JP_LIT:
        return json_incref(n->lit);
    case JP_FIELD:
        if (json_is_object(v)) {
            if (!att_jp_step(x, att_pol_scan_cost(n->n))) /* hashing the name */
                return NULL;
            json_t *f = json_object_getn(v, n->name, n->n);
            return f ? json_incref(f) : json_null();
        }
        return json_null();
    case JP_INDEX:
        if (json_is_array(v)) {
            int64_t i = n->idx, sz = (int64_t)json_array_size(v);
            if (i < 0)
                i += sz;
            if (i < 0 || i >= sz)
                return json_null();
            return json_incref(json_array_get(v, (size_t)i));
        }
        return json_null();
    case JP_SUB:
    case JP_PIPE:
        l = att_jp_eval_node(n->l, v, x, depth + 1);
        if (l == NULL)
            return NULL;
        if (n->kind == JP_SUB && json_is_null(l))
            return l;
        r = att_jp_eval_node(n->r, l, x, depth + 1);
        json_decref(l);
        return r;
    case JP_FLATTEN:
        l = att_jp_eval_node(n->l, v, x, depth + 1);
        if (l == NULL)
            return NULL;
        if (!json_is_array(l)) {
            json_decref(l);
            return json_null();
        }
        if (!att_jp_built(x, 0, 0)) {
            json_decref(l);
            return NULL;
        }
        out = json_array();
        {
            size_t i;
            json_t *e;
            json_array_foreach(l, i, e)
            {
                size_t k = json_is_array(e) ? json_array_size(e) : 1;
                if (!att_jp_step(x, k) ||
                    !(att_pol_charge(x->b, k * ATT_POL_JSON_SLOT) || att_jp_over(x))) {
                    json_decref(out);
                    json_decref(l);
                    return NULL;
                }
                if (json_is_array(e))
                    json_array_extend(out, e);
                else
                    json_array_append(out, e);
            }
        }
        json_decref(l);
        return out;
    case JP_PROJ:
    case JP_VPROJ:
    case JP_FILTER: {
        l = att_jp_eval_node(n->l, v, x, depth + 1);
        if (l == NULL)
            return NULL;
        json_t *items;
        if (n->kind == JP_VPROJ) {
            if (!json_is_object(l)) {
                json_decref(l);
                return json_null();
            }
            size_t sz = json_object_size(l);
            if (!att_jp_step(x, sz) || !att_jp_built(x, sz, 0)) {
                json_decref(l);
                return NULL;
            }
            items = json_array();
            const char *k;
            json_t *e;
            json_object_foreach(l, k, e) json_array_append(items, e);
            json_decref(l);
        } else {
            if (!json_is_array(l)) {
                json_decref(l);
                return json_null();
            }
            items = l;
        }
        if (!att_jp_built(x, 0, 0)) {
            json_decref(items);
            return NULL;
        }
        out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(items, i, e)
        {
            if (n->kind == JP_FILTER) {
                json_t *c = att_jp_eval_node(n->c, e, x, depth + 1);
                if (c == NULL)
                    break;
                bool keep = att_jtruthy(c);
                json_decref(c);
                if (!keep)
                    continue;
            }
            json_t *y = att_jp_eval_node(n->r, e, x, depth + 1);
            if (y == NULL)
                break;
            if (!json_is_null(y) && att_pol_charge(x->b, ATT_POL_JSON_SLOT))
                json_array_append(out, y);
            json_decref(y);
            if (x->b->err != ATT_OK) {
                att_jp_over(x);
                break;
            }
        }
        json_decref(items);
        if (*err != NULL) {
            json_decref(out);
            return NULL;
        }
        return out;
    }
    case JP_OR:
    case JP_AND:
        l = att_jp_eval_node(n->l, v, x, depth + 1);
        if (l == NULL)
            return NULL;
        if (att_jtruthy(l) == (n->kind == JP_OR))
            return l;
        json_decref(l);
        return att_jp_eval_node(n->r, v, x, depth + 1);
    case JP_NOT:
        l = att_jp_eval_node(n->l, v, x, depth + 1);
        if (l == NULL)
            return NULL;
        out = json_boolean(!att_jtruthy(l));
        json_decref(l);
        return out;
    case JP_CMP: {
        l = att_jp_eval_node(n->l, v, x, depth + 1);
        if (l == NULL)
            return NULL;
        r = att_jp_eval_node(n->r, v, x, depth + 1);
        if (r == NULL) {
            json_decref(l);
            return NULL;
        }
        double p, q;
        if (n->op == ATT_OP_EQ || n->op == ATT_OP_NE) {
            int eq = att_jp_equal(x, l, r);
            out = eq < 0 ? NULL : json_boolean(n->op == ATT_OP_EQ ? eq == 1 : eq == 0);
        } else if (att_jp_num(l, &p) && att_jp_num(r, &q)) {
            bool res = n->op == ATT_OP_LT   ? p < q
                       : n->op == ATT_OP_LE ? p <= q
                       : n->op == ATT_OP_GT ? p > q
                                            : p >= q;
            out = json_boolean(res);
        } else
            out = json_null();
        json_decref(l);
        json_decref(r);
        return out;
    }
    case JP_FUNC:
        return att_jp_call(n, v, x, depth);
    case JP_MLIST:
    case JP_MHASH:
        if (json_is_null(v))
            return json_null();
        if (!att_jp_built(x, (size_t)n->nargs, 0))
            return NULL;
        out = n->kind == JP_MLIST ? json_array() : json_object();
        for (int i = 0; i < n->nargs; i++) {
            json_t *y = att_jp_eval_node(n->args[i], v, x, depth + 1);
            if (y == NULL) {
                json_decref(out);
                return NULL;
            }
            if (n->kind == JP_MLIST) {
                json_array_append_new(out, y);
            } else if (att_jp_step(x, att_pol_scan_cost(n->keylens[i])) &&
                       att_jp_built(x, 0, n->keylens[i])) {
                json_object_setn_new(out, n->keys[i], n->keylens[i], y);
            } else {
                json_decref(y);
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    *err = "internal error";
    return NULL;
}

json_t *att_jp_eval(const att_jp_node_t *node, json_t *data, att_pol_budget_t *b, const char **err)
{
    att_pol_budget_t own;
    if (b == NULL) {
        att_pol_budget_init(&own, NULL);
        b = &own;
    }
    *err = NULL;
    att_jx_t x = {.b = b, .err = err};
    json_t *r = b->err == ATT_OK ? att_jp_eval_node(node, data, &x, 0) : NULL;
    if (r == NULL && *err == NULL)
        *err = b->err != ATT_OK ? "work budget exceeded" : "out of memory";
    return r;
}
