/* jmespath_fn.c - the JmesPath built-in functions of the subset (jmespath.h): length, contains,
 * starts_with, ends_with, keys, values, type, to_string, to_number, not_null, join, max, min, sum,
 * abs. Each checks its arguments' types (a wrong type is a runtime error with a message naming
 * the function) and counts its work and the values it builds against the budget.
 * Does NOT check the function's name or its number of arguments: the compiler did (jmespath.c).
 */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <string.h>

#include "policy/jmespath.h"

static json_t *att_jnumber(double d)
{
    if (d == floor(d) && fabs(d) < 9.0e15)
        return json_integer((json_int_t)d);
    return json_real(d);
}

json_t *att_jp_call(const att_jp_node_t *n, json_t *v, att_jx_t *x, int depth)
{
    const char **err = x->err;
    json_t *a[32] = {NULL};
    int na = n->nargs;
    for (int i = 0; i < na; i++) {
        a[i] = att_jp_eval_node(n->args[i], v, x, depth + 1);
        if (a[i] == NULL) {
            for (int k = 0; k < i; k++)
                json_decref(a[k]);
            return NULL;
        }
    }
    json_t *r = NULL;
    double d;
    switch (n->fn) {
    case JF_LENGTH:
        if (json_is_string(a[0])) {
            size_t cp = 0, len = json_string_length(a[0]);
            const char *s = json_string_value(a[0]);
            if (!att_jp_step(x, att_pol_scan_cost(len)))
                break;
            for (size_t i = 0; i < len; i++)
                cp += ((unsigned char)s[i] & 0xC0) != 0x80;
            r = json_integer((json_int_t)cp);
        } else if (json_is_array(a[0]))
            r = json_integer((json_int_t)json_array_size(a[0]));
        else if (json_is_object(a[0]))
            r = json_integer((json_int_t)json_object_size(a[0]));
        else
            *err = "length() takes a string, array or object";
        if (r != NULL && !att_jp_built(x, 0, 0)) {
            json_decref(r);
            r = NULL;
        }
        break;
    case JF_CONTAINS:
        if (json_is_array(a[0])) {
            size_t i;
            json_t *e;
            int found = 0;
            json_array_foreach(a[0], i, e)
            {
                found = att_jp_equal(x, e, a[1]);
                if (found != 0)
                    break;
            }
            if (found >= 0)
                r = json_boolean(found == 1);
        } else if (json_is_string(a[0]) && json_is_string(a[1])) {
            if (att_jp_step(x,
                            att_pol_scan_cost(json_string_length(a[0]) + json_string_length(a[1]))))
                r = json_boolean(memmem(json_string_value(a[0]), json_string_length(a[0]),
                                        json_string_value(a[1]),
                                        json_string_length(a[1])) != NULL ||
                                 json_string_length(a[1]) == 0);
        } else
            *err = "contains() takes an array or two strings";
        break;
    case JF_STARTS_WITH:
    case JF_ENDS_WITH:
        if (json_is_string(a[0]) && json_is_string(a[1])) {
            size_t l0 = json_string_length(a[0]), l1 = json_string_length(a[1]);
            const char *s0 = json_string_value(a[0]), *s1 = json_string_value(a[1]);
            if (!att_jp_step(x, att_pol_scan_cost(l1)))
                break;
            bool ok = l1 <= l0 && (n->fn == JF_STARTS_WITH ? !memcmp(s0, s1, l1)
                                                           : !memcmp(s0 + l0 - l1, s1, l1));
            r = json_boolean(ok);
        } else
            *err = "starts_with()/ends_with() take two strings";
        break;
    case JF_KEYS:
    case JF_VALUES:
        if (json_is_object(a[0])) {
            if (!att_jp_step(x, json_object_size(a[0])) ||
                !att_jp_built(x, json_object_size(a[0]), 0))
                break;
            r = json_array();
            const char *k;
            size_t klen;
            json_t *e;
            json_object_keylen_foreach(a[0], k, klen, e)
            {
                if (n->fn == JF_KEYS && !att_jp_built(x, 0, klen)) {
                    json_decref(r);
                    r = NULL;
                    break;
                }
                json_array_append_new(r, n->fn == JF_KEYS ? json_stringn(k, klen) : json_incref(e));
            }
        } else
            *err = "keys()/values() take an object";
        break;
    case JF_TYPE: {
        static const char *names[] = {"object", "array",   "string",  "number",
                                      "number", "boolean", "boolean", "null"};
        if (att_jp_built(x, 0, 8))
            r = json_string(names[json_typeof(a[0])]);
        break;
    }
    case JF_TO_STRING:
        if (json_is_string(a[0]))
            r = json_incref(a[0]);
        else {
            /* measure before serialising: a[0] may share nodes exponentially */
            att_pol_budget_t *b = x->b;
            att_pol_jsize_t z;
            if (!att_pol_json_size(b, a[0], b->max_bytes > b->bytes ? b->max_bytes - b->bytes : 0,
                                   &z) ||
                !att_pol_spend(b, z.nodes * ATT_POL_DUMP_STEPS_PER_NODE) ||
                !att_jp_built(x, 0, z.text)) {
                att_jp_over(x);
                break;
            }
            char *s = json_dumps(a[0], JSON_COMPACT | JSON_ENCODE_ANY);
            r = s ? json_string(s) : NULL;
            free(s);
        }
        break;
    case JF_TO_NUMBER:
        if (att_jp_num(a[0], &d))
            r = json_incref(a[0]);
        else if (json_is_string(a[0])) {
            if (!att_jp_step(x, att_pol_parse_cost(json_string_length(a[0]))) ||
                !att_jp_built(x, 0, 0))
                break;
            json_t *y = json_loads(json_string_value(a[0]), JSON_DECODE_ANY, NULL);
            r = y && json_is_number(y) ? y : (json_decref(y), json_null());
        } else
            r = json_null();
        break;
    case JF_NOT_NULL:
        for (int i = 0; i < na && r == NULL; i++)
            if (!json_is_null(a[i]))
                r = json_incref(a[i]);
        if (r == NULL)
            r = json_null();
        break;
    case JF_JOIN:
        if (json_is_string(a[0]) && json_is_array(a[1])) {
            att_pol_arena_t tmp;
            att_pol_arena_init(&tmp, NULL, 0, 16u << 20);
            tmp.budget = x->b; /* the joined text counts as built */
            att_pol_buf_t b;
            att_pol_buf_init(&b, &tmp);
            att_pol_buf_add(&b, "", 0);
            size_t i;
            json_t *e;
            json_array_foreach(a[1], i, e)
            {
                if (!json_is_string(e)) {
                    *err = "join() takes an array of strings";
                    break;
                }
                if (!att_jp_step(x, att_pol_scan_cost(json_string_length(e))))
                    break;
                if (i)
                    att_pol_buf_add(&b, json_string_value(a[0]), json_string_length(a[0]));
                att_pol_buf_add(&b, json_string_value(e), json_string_length(e));
            }
            if (*err == NULL && tmp.failed && x->b->err != ATT_OK)
                att_jp_over(x);
            if (*err == NULL && att_jp_built(x, 0, 0))
                r = b.p && !tmp.failed ? json_stringn(b.p, b.len) : NULL;
            att_pol_arena_free(&tmp);
        } else
            *err = "join() takes a string and an array of strings";
        break;
    case JF_MAX:
    case JF_MIN:
    case JF_SUM:
        if (json_is_array(a[0])) {
            size_t i;
            json_t *e, *best = NULL;
            double sum = 0, bd = 0;
            json_array_foreach(a[0], i, e)
            {
                if (!att_jp_step(x, 1))
                    break;
                if (att_jp_num(e, &d)) {
                    sum += d;
                    if (best == NULL || (n->fn == JF_MAX ? d > bd : d < bd)) {
                        best = e;
                        bd = d;
                    }
                } else if (json_is_string(e) && n->fn != JF_SUM) {
                    if (best != NULL && json_is_string(best) &&
                        !att_jp_step(x, att_pol_scan_cost(json_string_length(e))))
                        break;
                    if (best == NULL ||
                        (json_is_string(best) &&
                         (n->fn == JF_MAX
                              ? strcmp(json_string_value(e), json_string_value(best)) > 0
                              : strcmp(json_string_value(e), json_string_value(best)) < 0)))
                        best = e;
                    else if (!json_is_string(best))
                        *err = "max()/min() take an array of numbers or of strings";
                } else
                    *err = "max()/min()/sum() take an array of numbers";
            }
            if (*err == NULL && (n->fn != JF_SUM || att_jp_built(x, 0, 0)))
                r = n->fn == JF_SUM ? att_jnumber(sum) : best ? json_incref(best) : json_null();
        } else
            *err = "max()/min()/sum() take an array";
        break;
    case JF_ABS:
        if (!att_jp_num(a[0], &d))
            *err = "abs() takes a number";
        else if (att_jp_built(x, 0, 0))
            r = att_jnumber(fabs(d));
        break;
    }
    for (int i = 0; i < na; i++)
        json_decref(a[i]);
    if (r == NULL && *err == NULL)
        *err = "out of memory";
    if (r != NULL && *err != NULL) {
        json_decref(r);
        r = NULL;
    }
    return r;
}
