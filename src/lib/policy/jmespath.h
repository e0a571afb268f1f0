/* jmespath.h - the JmesPath subset MAA policies use (internal; no C library exists in Debian).
 *
 *   size_t at; const char *why;
 *   const att_jp_node_t *q = att_jp_compile(&arena, "Events[?Type == 'x'] | length(@)", n, &at,
 * &why); json_t *r = att_jp_eval(q, data, &budget, &why);   // new reference, NULL on error
 *
 * Supported: identifiers (bare and "quoted"), sub-expressions a.b, index [n] (negative counts
 * from the end), list projection [*], object projection *, flatten [], filter [?cond],
 * pipe |, || && !, comparisons == != < <= > >=, current node @, literals `json` and 'raw',
 * multi-select lists [a, b] and hashes {k: a}, parentheses, and the functions length,
 * contains, starts_with, ends_with, keys, values, type, to_string, to_number, not_null, join,
 * max, min, sum, abs.
 * NOT supported (compile error ATT_E_POLICY_JMESPATH): slices [a:b:c], expression references
 * &expr and the functions that take them (sort_by, max_by, ...), and the remaining built-ins.
 *
 * Files: jmespath.c compiles (lexer, Pratt parser), jmespath_eval.c evaluates the nodes,
 * jmespath_fn.c holds the built-in functions; the internals they share are at the end of this
 * header.
 */
#ifndef ATT_POLICY_JMESPATH_H
#define ATT_POLICY_JMESPATH_H

#include "policy/policy_int.h"

/* Compile into nodes allocated from a; NULL on error with *err_at (byte offset in the query)
 * and *err (a static message). */
const att_jp_node_t *att_jp_compile(att_pol_arena_t *a, const char *q, size_t n, size_t *err_at,
                                    const char **err);

/* Evaluate against data (borrowed), counting the work and the values built against b (NULL: a
 * default budget of its own). A new reference, or NULL with *err on a runtime error (wrong
 * argument type to a function, nesting too deep, out of memory) or when b ran out (b->err set;
 * the caller reports which budget). */
json_t *att_jp_eval(const att_jp_node_t *node, json_t *data, att_pol_budget_t *b, const char **err);

/* ---- internals shared by jmespath.c (compiler), jmespath_eval.c and jmespath_fn.c -------- */

typedef enum {
    JP_FIELD,
    JP_SUB,     /* l . r */
    JP_INDEX,   /* l [idx] */
    JP_PROJ,    /* l [*] r   (list projection; also after flatten) */
    JP_VPROJ,   /* l .* r    (object values projection) */
    JP_FILTER,  /* l [? c] r */
    JP_FLATTEN, /* l [] */
    JP_PIPE,
    JP_OR,
    JP_AND,
    JP_NOT,
    JP_CMP,
    JP_LIT,
    JP_CUR,
    JP_FUNC,
    JP_MLIST,
    JP_MHASH,
} att_jp_kind_t;

typedef enum {
    JF_LENGTH,
    JF_CONTAINS,
    JF_STARTS_WITH,
    JF_ENDS_WITH,
    JF_KEYS,
    JF_VALUES,
    JF_TYPE,
    JF_TO_STRING,
    JF_TO_NUMBER,
    JF_NOT_NULL,
    JF_JOIN,
    JF_MAX,
    JF_MIN,
    JF_SUM,
    JF_ABS,
} att_jp_fn_t;

struct att_jp_node {
    att_jp_kind_t kind;
    const char *name; /* FIELD; MHASH keys in keys[] */
    size_t n;
    int64_t idx;
    att_pol_op_t op;
    json_t *lit;
    const att_jp_node_t *l, *r, *c;
    const att_jp_node_t **args; /* FUNC, MLIST, MHASH */
    const char **keys;
    size_t *keylens;
    int nargs;
    att_jp_fn_t fn;
};

/* Every node evaluated, element iterated and comparison made is counted against the budget, and
 * every JSON value built is charged its size: results share nodes (jansson reference counts), so
 * a value can be exponentially larger than the work that built it, and only counting where the
 * work happens (equality, serialisation: att_pol_json_equal, att_pol_json_size) bounds it. */
typedef struct {
    att_pol_budget_t *b;
    const char **err;
} att_jx_t;

/* Set *x->err from the budget's failure (cancelled, nested too deeply, over the budget) unless an
 * error is already set; always false. */
bool att_jp_over(att_jx_t *x);
/* Evaluate node n against v (borrowed) at nesting depth: a new reference, or NULL with *x->err. */
json_t *att_jp_eval_node(const att_jp_node_t *n, json_t *v, att_jx_t *x, int depth);
/* A JP_FUNC node: evaluate its arguments, then apply the built-in function (jmespath_fn.c). */
json_t *att_jp_call(const att_jp_node_t *n, json_t *v, att_jx_t *x, int depth);

/* Count n steps of work; false (with *x->err) once the budget is spent. */
static inline bool att_jp_step(att_jx_t *x, uint64_t n)
{
    return att_pol_spend(x->b, n) || att_jp_over(x);
}

/* A JSON value built with `slots` elements and `extra` bytes of text. */
static inline bool att_jp_built(att_jx_t *x, size_t slots, size_t extra)
{
    return att_pol_charge(x->b, ATT_POL_JSON_NODE + slots * ATT_POL_JSON_SLOT + extra) ||
           att_jp_over(x);
}

/* A JSON number as a double; false for anything else. */
static inline bool att_jp_num(const json_t *v, double *d)
{
    if (json_is_integer(v))
        *d = (double)json_integer_value(v);
    else if (json_is_real(v))
        *d = json_real_value(v);
    else
        return false;
    return true;
}

/* 1 equal, 0 not, -1 over the budget */
static inline int att_jp_equal(att_jx_t *x, const json_t *a, const json_t *b)
{
    double p, q;
    if (att_jp_num(a, &p) && att_jp_num(b, &q))
        return p == q;
    int r = att_pol_json_equal(x->b, a, b);
    if (r < 0)
        att_jp_over(x);
    return r;
}

#endif
