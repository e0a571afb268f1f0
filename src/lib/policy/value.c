/* value.c - typed claim values and MAA's comparison rules.
 *
 * Integer supports == != < <= > >=; String and Boolean only == and !=. Values of different types
 * are never equal (so != holds); an ordering operator on anything but two integers is a type
 * error the evaluator reports (fail closed: a deny rule cannot silently miss). A JSON-valued
 * claim is a String whose text is the compact JSON. */
#include <inttypes.h>
#include <string.h>

#include "policy/policy_int.h"

const char *att_pol_section_name(att_pol_section_t s)
{
    static const char *names[] = {"configurationrules", "authorizationrules", "issuancerules"};
    return (unsigned)s < ATT_SEC_N ? names[s] : "?";
}

const char *att_pol_op_name(att_pol_op_t op)
{
    static const char *names[] = {"==", "!=", "<", "<=", ">", ">="};
    return (unsigned)op <= ATT_OP_GE ? names[op] : "?";
}

const char *att_pol_prop_name(att_pol_prop_t p)
{
    static const char *names[] = {"type", "value", "valueType", "issuer"};
    return (unsigned)p <= ATT_PP_ISSUER ? names[p] : "?";
}

const char *att_pol_fn_name(att_pol_fn_t fn)
{
    static const char *names[] = {"JmesPath",     "JsonToClaimValue", "IsSubsetOf",
                                  "AppendString", "NegateBool",       "ContainsOnlyValue"};
    return (unsigned)fn <= ATT_FN_CONTAINSONLYVALUE ? names[fn] : "?";
}

const char *att_pol_act_name(att_pol_act_t a)
{
    static const char *names[] = {"permit", "deny", "add", "issue", "issueproperty"};
    return (unsigned)a <= ATT_ACT_ISSUEPROPERTY ? names[a] : "?";
}

const char *att_pv_type_name(const att_pv_t *v)
{
    switch (v->kind) {
    case ATT_PV_BOOL:
        return "Boolean";
    case ATT_PV_INT:
        return "Integer";
    default:
        return "String";
    }
}

const char *att_pv_text(att_pol_arena_t *a, att_pv_t *v, size_t *n)
{
    if (v->kind == ATT_PV_JSON && v->s == NULL && v->json != NULL) {
        char *t = json_dumps(v->json, JSON_COMPACT | JSON_ENCODE_ANY);
        if (t == NULL)
            return NULL;
        v->n = strlen(t);
        v->s = att_pol_strndup(a, t, v->n);
        free(t);
    }
    if (n != NULL)
        *n = v->n;
    return v->s;
}

static bool att_pv_stringish(const att_pv_t *v)
{
    return v->kind == ATT_PV_STR || v->kind == ATT_PV_JSON;
}

int att_pv_compare(const att_pv_t *a, att_pol_op_t op, const att_pv_t *b)
{
    if (op != ATT_OP_EQ && op != ATT_OP_NE) {
        if (a->kind != ATT_PV_INT || b->kind != ATT_PV_INT)
            return -1;
        switch (op) {
        case ATT_OP_LT:
            return a->i < b->i;
        case ATT_OP_LE:
            return a->i <= b->i;
        case ATT_OP_GT:
            return a->i > b->i;
        default:
            return a->i >= b->i;
        }
    }
    bool eq;
    if (a->kind == ATT_PV_BOOL && b->kind == ATT_PV_BOOL)
        eq = a->b == b->b;
    else if (a->kind == ATT_PV_INT && b->kind == ATT_PV_INT)
        eq = a->i == b->i;
    else if (att_pv_stringish(a) && att_pv_stringish(b)) {
        if (a->kind == ATT_PV_JSON && b->kind == ATT_PV_JSON && a->json && b->json)
            eq = json_equal(a->json, b->json);
        else
            /* JSON text must have been materialised by the caller (att_pv_text). */
            eq = a->s != NULL && b->s != NULL && a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
    } else
        eq = false;
    return op == ATT_OP_EQ ? eq : !eq;
}

void att_pv_describe(att_pol_buf_t *b, const att_pv_t *v)
{
    switch (v->kind) {
    case ATT_PV_BOOL:
        att_pol_buf_add(b, v->b ? "true" : "false", v->b ? 4 : 5);
        return;
    case ATT_PV_INT:
        att_pol_buf_printf(b, "%" PRId64, v->i);
        return;
    default:
        break;
    }
    const char *s = v->s;
    size_t n = v->n;
    char *tmp = NULL;
    if (s == NULL && v->json != NULL) {
        tmp = json_dumps(v->json, JSON_COMPACT | JSON_ENCODE_ANY);
        s = tmp;
        n = tmp ? strlen(tmp) : 0;
    }
    if (s == NULL) {
        att_pol_buf_add(b, "?", 1);
        return;
    }
    const size_t max = 100;
    att_pol_buf_add(b, "\"", 1);
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            att_pol_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            att_pol_buf_printf(b, "\\x%02x", c);
        else
            att_pol_buf_add(b, (const char *)&s[i], 1);
    }
    att_pol_buf_add(b, "\"", 1);
    if (n > max)
        att_pol_buf_printf(b, "...(%zu chars)", n);
    free(tmp);
}

json_t *att_pv_to_json(const att_pv_t *v)
{
    switch (v->kind) {
    case ATT_PV_BOOL:
        return json_boolean(v->b);
    case ATT_PV_INT:
        return json_integer((json_int_t)v->i);
    case ATT_PV_STR:
        return json_stringn(v->s, v->n);
    case ATT_PV_JSON:
        if (v->json != NULL)
            return json_incref(v->json);
        return json_stringn(v->s ? v->s : "", v->s ? v->n : 0);
    }
    return NULL;
}
