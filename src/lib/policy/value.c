/* value.c - typed claim values and MAA's comparison rules.
 *
 * Integer supports == != < <= > >=; String and Boolean only == and !=. Values of different types
 * are never equal (so != holds); an ordering operator on anything but two integers is a type
 * error the evaluator reports (fail closed: a deny rule cannot silently miss). A JSON-valued
 * claim is a String whose text is the compact JSON. */
#include <inttypes.h>
#include <stdio.h>
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

/* ---- counted JSON measures -------------------------------------------------------------- */

/* Does any of the 8 bytes in x need escaping in JSON (< 0x20, '"' or '\\')? The classic exact
 * bit tricks for "some byte is zero" and "some byte is below n" (n <= 128). */
static inline bool att_word_needs_escape(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t lt20 = (x - ones * 0x20) & ~x;
    uint64_t zq = (q - ones) & ~q, zb = (b - ones) & ~b;
    return ((lt20 | zq | zb) & highs) != 0;
}

/* Compact serialised length of a string as jansson writes it (escapes included). */
size_t att_pol_str_text(const char *s, size_t n)
{
    size_t t = 2 + n;
    size_t i = 0;
    /* skip 8 bytes at a time while none needs escaping (claims are mostly hex and names) */
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        if (att_word_needs_escape(x))
            break;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            t += 1;
        else if (c < 0x20)
            t += (c == '\n' || c == '\t' || c == '\r' || c == '\b' || c == '\f') ? 1 : 5;
    }
    return t;
}

static bool att_nest_fail(att_pol_budget_t *b)
{
    if (b->err == ATT_OK) {
        b->err = ATT_E_LIMIT;
        b->what = "nesting";
    }
    return false;
}

typedef struct {
    att_pol_budget_t *b;
    size_t limit;
    att_pol_jsize_t acc;
} att_jsz_t;

static bool att_jsz_add(att_jsz_t *z, size_t t)
{
    z->acc.text = t > SIZE_MAX - z->acc.text ? SIZE_MAX : z->acc.text + t;
    if (z->acc.text <= z->limit)
        return true;
    if (z->b->err == ATT_OK) {
        z->b->err = ATT_E_POLICY_BUDGET;
        z->b->what = "bytes";
    }
    return false;
}

static bool att_jsz(att_jsz_t *z, json_t *j, int depth)
{
    if (depth > ATT_POL_MAX_NEST)
        return att_nest_fail(z->b);
    if (depth > z->acc.depth)
        z->acc.depth = depth;
    if (!att_pol_spend(z->b, 1))
        return false;
    z->acc.nodes++;
    char num[64];
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(j);
        if (!att_jsz_add(z, 2 + (n ? n - 1 : 0)))
            return false;
        const char *k;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach(j, k, klen, v)
        {
            if (!att_pol_spend(z->b, att_pol_scan_cost(klen)) ||
                !att_jsz_add(z, att_pol_str_text(k, klen) + 1) || !att_jsz(z, v, depth + 1))
                return false;
        }
        return true;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        if (!att_jsz_add(z, 2 + (n ? n - 1 : 0)))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!att_jsz(z, json_array_get(j, i), depth + 1))
                return false;
        return true;
    }
    case JSON_STRING: {
        size_t n = json_string_length(j);
        return att_pol_spend(z->b, att_pol_scan_cost(n)) &&
               att_jsz_add(z, att_pol_str_text(json_string_value(j), n));
    }
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(j);
        size_t digits = i < 0 ? 2 : 1; /* sign */
        for (uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i; u >= 10; u /= 10)
            digits++;
        return att_jsz_add(z, digits);
    }
    case JSON_REAL:
        return att_jsz_add(z, (size_t)snprintf(num, sizeof(num), "%.17g", json_real_value(j)) + 2);
    case JSON_TRUE:
    case JSON_NULL:
        return att_jsz_add(z, 4);
    default:
        return att_jsz_add(z, 5);
    }
}

bool att_pol_json_size(att_pol_budget_t *b, const json_t *j, size_t limit, att_pol_jsize_t *out)
{
    att_jsz_t z = {.b = b, .limit = limit};
    bool ok = att_jsz(&z, (json_t *)j, 0);
    if (out != NULL)
        *out = z.acc;
    return ok;
}

static int att_jeq(att_pol_budget_t *b, json_t *x, json_t *y, int depth)
{
    if (!att_pol_spend(b, 1))
        return -1;
    if (x == y)
        return 1;
    if (json_typeof(x) != json_typeof(y))
        return 0;
    if (depth > ATT_POL_MAX_NEST)
        return att_nest_fail(b) ? 0 : -1;
    switch (json_typeof(x)) {
    case JSON_INTEGER:
        return json_integer_value(x) == json_integer_value(y);
    case JSON_REAL:
        return json_real_value(x) == json_real_value(y);
    case JSON_STRING: {
        size_t n = json_string_length(x);
        if (n != json_string_length(y))
            return 0;
        if (!att_pol_spend(b, att_pol_scan_cost(n)))
            return -1;
        return memcmp(json_string_value(x), json_string_value(y), n) == 0;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(x);
        if (n != json_array_size(y))
            return 0;
        for (size_t i = 0; i < n; i++) {
            int r = att_jeq(b, json_array_get(x, i), json_array_get(y, i), depth + 1);
            if (r != 1)
                return r;
        }
        return 1;
    }
    case JSON_OBJECT: {
        if (json_object_size(x) != json_object_size(y))
            return 0;
        const char *k;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach(x, k, klen, v)
        {
            if (!att_pol_spend(b, att_pol_scan_cost(klen)))
                return -1;
            json_t *w = json_object_getn(y, k, klen);
            if (w == NULL)
                return 0;
            int r = att_jeq(b, v, w, depth + 1);
            if (r != 1)
                return r;
        }
        return 1;
    }
    default: /* true, false, null: same type, same value */
        return 1;
    }
}

int att_pol_json_equal(att_pol_budget_t *b, const json_t *x, const json_t *y)
{
    if (x == NULL || y == NULL)
        return x == y;
    return att_jeq(b, (json_t *)x, (json_t *)y, 0);
}

typedef struct {
    char *buf;
    size_t max, n;
    bool cut;
} att_head_t;

static int att_head_cb(const char *s, size_t len, void *data)
{
    att_head_t *h = data;
    size_t room = h->max - h->n;
    if (len > room) {
        memcpy(h->buf + h->n, s, room);
        h->n += room;
        h->cut = true;
        return -1; /* stops jansson's serialiser */
    }
    memcpy(h->buf + h->n, s, len);
    h->n += len;
    return 0;
}

bool att_pol_json_head(const json_t *j, char *buf, size_t max, size_t *n)
{
    att_head_t h = {.buf = buf, .max = max};
    json_dump_callback(j, att_head_cb, &h, JSON_COMPACT | JSON_ENCODE_ANY);
    *n = h.n;
    return h.cut;
}

/* ---- values ----------------------------------------------------------------------------- */

const char *att_pv_text(att_pol_arena_t *a, att_pv_t *v, size_t *n)
{
    if (v->kind == ATT_PV_JSON && v->s == NULL && v->json != NULL) {
        /* measure first: a value built of shared nodes can be exponentially larger than the
         * work that built it, and json_dumps would go all the way */
        att_pol_budget_t *b = a->budget;
        att_pol_jsize_t z;
        if (b != NULL &&
            (!att_pol_json_size(b, v->json, b->max_bytes > b->bytes ? b->max_bytes - b->bytes : 0,
                                &z) ||
             !att_pol_spend(b, z.nodes * ATT_POL_DUMP_STEPS_PER_NODE))) {
            a->failed = true;
            return NULL;
        }
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
    enum { max = 100 };
    const char *s = v->s;
    size_t n = v->n;
    char head[max + 1];
    bool cut = false;
    if (s == NULL && v->json != NULL) {
        /* only the head: the whole text may be large (or not measured yet) */
        cut = att_pol_json_head(v->json, head, max + 1, &n);
        s = head;
    }
    if (s == NULL) {
        att_pol_buf_add(b, "?", 1);
        return;
    }
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
    if (cut)
        att_pol_buf_add(b, "...(cut)", 8);
    else if (n > max)
        att_pol_buf_printf(b, "...(%zu chars)", n);
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
