/* policy_int.h - internals of the policy engine: arena, claim values, syntax tree.
 *
 * Life cycle: the parser builds the tree inside the policy's own arena (freed with the policy,
 * never written after compile); the evaluator works in a per-call arena whose first block lives
 * on the caller's stack. Nothing here is exported from the shared library.
 */
#ifndef ATT_POLICY_INT_H
#define ATT_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "attest/policy.h"

/* ---- work budget ------------------------------------------------------------------------ */

/* The cost bound of one evaluation (docs/policy.md, "Limits"). Steps count work: one per rule
 * tried, per claim a condition looks at, per comparison, per JmesPath node evaluated and per
 * element it iterates, per JSON node a comparison or a serialisation visits, and one per 64
 * bytes of text scanned. Bytes count the values built: arena allocations, JSON values built by
 * JmesPath (ATT_POL_JSON_NODE per node, ATT_POL_JSON_SLOT per element), and the serialised size
 * of every claim added or issued and of every JSON value turned into text. Both are checked
 * after being counted, so a failed evaluation overshoots by at most one charge; a successful one
 * stays within both. Once exceeded the budget stays failed (err is sticky). */
typedef struct {
    uint64_t steps, max_steps;
    size_t bytes, max_bytes;
    bool (*cancelled)(void *arg);
    void *cancel_arg;
    uint64_t next_poll; /* steps at which cancelled() is asked next */
    att_err_t err;      /* ATT_OK, ATT_E_POLICY_BUDGET, ATT_E_CANCELLED or ATT_E_LIMIT (nesting) */
    const char *what;   /* which limit: "steps", "bytes", "nesting" */
} att_pol_budget_t;

#define ATT_POL_POLL_STEPS 4096u /* cancelled() is asked at least this often (in steps) */
#define ATT_POL_MAX_NEST   1000  /* deepest JSON value the evaluator serialises, compares or adds */
#define ATT_POL_JSON_NODE  64u   /* bytes charged per JSON value built (jansson struct + malloc) */
#define ATT_POL_JSON_SLOT  16u   /* bytes charged per array element / object member built */

/* Start a budget from the caller's options (NULL or 0 fields: the defaults). */
void att_pol_budget_init(att_pol_budget_t *b, const att_policy_eval_opts_t *opts);
/* Count n steps; false once a limit was hit (then or before) or the caller cancelled. The
 * common case (within the budget, no cancel poll due) is inline: it runs per claim scanned. */
bool att_pol_spend_slow(att_pol_budget_t *b, uint64_t n);
static inline bool att_pol_spend(att_pol_budget_t *b, uint64_t n)
{
    if (__builtin_expect(b->err == ATT_OK && n < b->next_poll - b->steps &&
                             n <= b->max_steps - b->steps && b->steps < b->next_poll,
                         1)) {
        b->steps += n;
        return true;
    }
    return att_pol_spend_slow(b, n);
}
/* Count n bytes of values built; false once a limit was hit. */
bool att_pol_charge(att_pol_budget_t *b, size_t n);
/* Steps for scanning n bytes of text (comparing, hashing, copying). */
static inline uint64_t att_pol_scan_cost(size_t n)
{
    return 1 + n / 64;
}
/* Steps for copying n bytes of text into a JSON string (jansson validates UTF-8 as it copies). */
static inline uint64_t att_pol_copy_cost(size_t n)
{
    return 1 + n / 4;
}
/* Steps for parsing n bytes of JSON text with jansson (up to ~100 ns a byte: a node per 2). */
static inline uint64_t att_pol_parse_cost(size_t n)
{
    return 1 + n;
}
/* Steps for one rule's entry in the explain trace (JSON objects, source text, the why line). */
#define ATT_POL_TRACE_STEPS 100u
/* Extra steps for serialising a measured value with jansson, beyond measuring it: its
 * serialiser checks each array and object for cycles through a hash table. */
#define ATT_POL_DUMP_STEPS_PER_NODE 4u

/* ---- arena ------------------------------------------------------------------------------ */

typedef struct att_pol_block att_pol_block_t;

typedef struct {
    att_pol_block_t *blocks; /* malloc'd blocks, newest first */
    char *cur;               /* bump pointer in the current block */
    char *end;
    size_t total;   /* bytes malloc'd so far */
    size_t limit;   /* 0 = no limit */
    json_t **jrefs; /* JSON values to decref when the arena is freed */
    size_t njrefs, capjrefs;
    bool failed;              /* an allocation failed or the limit was hit */
    att_pol_budget_t *budget; /* every allocation is charged to it (NULL: none) */
} att_pol_arena_t;

/* Start an arena; buf/size (may be NULL/0) is a first block the caller owns (e.g. stack). */
void att_pol_arena_init(att_pol_arena_t *a, void *buf, size_t size, size_t limit);
void att_pol_arena_free(att_pol_arena_t *a);
/* Aligned, uninitialized; NULL (and a->failed) when out of memory or over the limit. */
void *att_pol_alloc(att_pol_arena_t *a, size_t n);
void *att_pol_zalloc(att_pol_arena_t *a, size_t n);
char *att_pol_strndup(att_pol_arena_t *a, const char *s, size_t n);
char *att_pol_printf(att_pol_arena_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The arena takes one reference of j (decref'd at free); returns j, NULL if j is NULL. */
json_t *att_pol_keep(att_pol_arena_t *a, json_t *j);

/* Growable text buffer in an arena (for trace lines). */
typedef struct {
    att_pol_arena_t *a;
    char *p;
    size_t len, cap;
} att_pol_buf_t;
void att_pol_buf_init(att_pol_buf_t *b, att_pol_arena_t *a);
void att_pol_buf_add(att_pol_buf_t *b, const char *s, size_t n);
void att_pol_buf_printf(att_pol_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- claim values ----------------------------------------------------------------------- */

typedef enum {
    ATT_PV_BOOL,
    ATT_PV_INT,
    ATT_PV_STR,
    ATT_PV_JSON, /* a String claim holding JSON text; json caches the parsed value */
} att_pv_kind_t;

typedef struct {
    att_pv_kind_t kind;
    bool b;
    int64_t i;
    const char *s; /* STR: the text; JSON: the compact JSON text, NULL until needed */
    size_t n;
    json_t *json; /* JSON: parsed value (borrowed from an arena or the input) */
} att_pv_t;

/* A list of values: what an expression evaluates to (a set in MAA's words). */
typedef struct {
    att_pv_t *v;
    size_t n, cap; /* cap 0: v is borrowed (a literal), never appended to */
} att_pv_set_t;

/* ---- syntax tree ------------------------------------------------------------------------ */

typedef enum { ATT_SEC_CONFIG, ATT_SEC_AUTH, ATT_SEC_ISSUE, ATT_SEC_N } att_pol_section_t;

typedef enum { ATT_PP_TYPE, ATT_PP_VALUE, ATT_PP_VALUETYPE, ATT_PP_ISSUER } att_pol_prop_t;

typedef enum { ATT_OP_EQ, ATT_OP_NE, ATT_OP_LT, ATT_OP_LE, ATT_OP_GT, ATT_OP_GE } att_pol_op_t;

typedef enum {
    ATT_FN_JMESPATH,
    ATT_FN_JSONTOCLAIMVALUE,
    ATT_FN_ISSUBSETOF,
    ATT_FN_APPENDSTRING,
    ATT_FN_NEGATEBOOL,
    ATT_FN_CONTAINSONLYVALUE,
} att_pol_fn_t;

typedef enum { ATT_PX_LIT, ATT_PX_REF, ATT_PX_CALL } att_pol_expr_kind_t;

typedef struct att_jp_node att_jp_node_t; /* jmespath.h */

/* Where a piece of the policy is: line/column of its start, byte span in the text. */
typedef struct {
    unsigned line, col;
    size_t off, end;
} att_pol_span_t;

typedef struct att_pol_expr {
    att_pol_expr_kind_t kind;
    att_pol_span_t at;
    att_pv_t lit;        /* LIT */
    int ref;             /* REF: index of the condition in the rule */
    att_pol_prop_t prop; /* REF: which property */
    att_pol_fn_t fn;     /* CALL */
    struct att_pol_expr **args;
    int nargs;
    const att_jp_node_t *query; /* CALL JmesPath with a literal query: compiled once */
} att_pol_expr_t;

typedef struct {
    att_pol_prop_t prop;
    att_pol_op_t op;
    att_pol_expr_t *rhs;
    att_pol_span_t at;
} att_pol_test_t;

typedef struct {
    bool absent;       /* "![...]" (1.2) */
    const char *ident; /* "c:" or NULL */
    att_pol_test_t *tests;
    int ntests;
    att_pol_span_t at;
} att_pol_cond_t;

typedef enum {
    ATT_ACT_PERMIT,
    ATT_ACT_DENY,
    ATT_ACT_ADD,
    ATT_ACT_ISSUE,
    ATT_ACT_ISSUEPROPERTY,
} att_pol_act_t;

typedef enum { ATT_VT_NONE, ATT_VT_STRING, ATT_VT_INTEGER, ATT_VT_BOOLEAN } att_pol_vt_t;

typedef struct {
    att_pol_act_t kind;
    int claim_ref;          /* "claim = c": index of the condition, or -1 */
    att_pol_expr_t *type;   /* "type = ..." */
    att_pol_expr_t *value;  /* "value = ..." */
    att_pol_vt_t valuetype; /* "valueType = ..." */
    att_pol_span_t at;
} att_pol_action_t;

typedef struct {
    att_pol_cond_t *conds;
    int nconds;
    att_pol_action_t act;
    att_pol_span_t at;
    att_pol_section_t section;
    int index; /* 1-based within its section */
} att_pol_rule_t;

typedef struct {
    bool present;
    att_pol_rule_t *rules;
    int nrules;
    att_pol_span_t at;
} att_pol_sec_t;

struct att_policy {
    att_pol_arena_t arena;
    int version; /* 10, 11, 12 */
    att_pol_sec_t sec[ATT_SEC_N];
    char *text;
    size_t len;
    char hash[ATT_POLICY_HASH_LEN];
};

/* parser.c: fill pol (arena initialised) from pol->text; error: diag + pos. */
att_err_t att_pol_parse(att_policy_t *pol, att_policy_pos_t *pos, att_diag_t *diag);

/* ---- tokens and parser state (lexer.c, parser.c) ---------------------------------------- */

typedef enum {
    T_EOF,
    T_IDENT,
    T_STRING,
    T_INT,
    T_EQ,
    T_ASSIGN,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_ARROW,
    T_AND,
    T_NOT,
    T_COLON,
    T_LBRACK,
    T_RBRACK,
    T_LPAREN,
    T_RPAREN,
    T_LBRACE,
    T_RBRACE,
    T_COMMA,
    T_SEMI,
    T_DOT,
    T_ERROR,
} att_tok_kind_t;

typedef struct {
    att_tok_kind_t kind;
    size_t off, end;
    unsigned line, col;
    const char *s; /* IDENT: points into the text; STRING: decoded, in the arena */
    size_t n;
    int64_t i;
} att_tok_t;

#define ATT_POL_MAX_IDENTS 32
#define ATT_POL_MAX_DEPTH  16

typedef struct {
    const char *src;
    size_t len;
    size_t pos;
    unsigned line;
    size_t line_start;
    /* att_col's memo: byte col_off of the line starting at col_ls is at column col_n. Tokens
     * move forward, so each column costs only the bytes since the previous one: parsing stays
     * linear however long a line is (issue 10: a 440 kB one-line policy took 31 s). */
    size_t col_ls, col_off;
    unsigned col_n;
    att_tok_t tok;
    att_pol_arena_t *a;
    att_policy_t *pol;
    att_diag_t *diag;
    att_policy_pos_t *errpos;
    bool failed;
    /* the rule being parsed */
    const char *idents[ATT_POL_MAX_IDENTS];
    size_t identlen[ATT_POL_MAX_IDENTS];
    int nidents;
    int depth;
} att_parser_t;

/* lexer.c: the first syntax error, at line/col (later ones are dropped); always false. */
bool att_pol_perr_at(att_parser_t *p, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Error at the current token: "expected X, found Y"; always false. */
bool att_pol_expected(att_parser_t *p, const char *what);
/* Read the next token into p->tok; false on a lexical error (reported). */
bool att_pol_next(att_parser_t *p);

/* The token is the name kw (case-insensitive). */
static inline bool att_pol_is_kw(const att_tok_t *t, const char *kw)
{
    return t->kind == T_IDENT && t->n == strlen(kw) && strncasecmp(t->s, kw, t->n) == 0;
}

/* The current token is of kind k (then read the next one), else "expected what". */
static inline bool att_pol_expect(att_parser_t *p, att_tok_kind_t k, const char *what)
{
    if (p->tok.kind != k)
        return att_pol_expected(p, what);
    return att_pol_next(p);
}

/* Where the current token is. */
static inline att_pol_span_t att_pol_span_start(const att_parser_t *p)
{
    att_pol_span_t s = {p->tok.line, p->tok.col, p->tok.off, p->tok.end};
    return s;
}

/* Names for messages. */
const char *att_pol_section_name(att_pol_section_t s);
const char *att_pol_op_name(att_pol_op_t op);
const char *att_pol_prop_name(att_pol_prop_t p);
const char *att_pol_fn_name(att_pol_fn_t fn);
const char *att_pol_act_name(att_pol_act_t a);

/* Compare two values with op. Returns 1/0, or -1 when op needs two integers (type mismatch).
 * The texts of JSON values must have been materialised (att_pv_text), which bounds the cost;
 * the caller counts att_pol_scan_cost of the shorter text. */
int att_pv_compare(const att_pv_t *a, att_pol_op_t op, const att_pv_t *b);
/* Text of a STR/JSON value (serialises JSON on first use into the arena, after measuring it
 * with att_pol_json_size against a->budget); NULL on failure or when over the budget. */
const char *att_pv_text(att_pol_arena_t *a, att_pv_t *v, size_t *n);

/* What a JSON value costs: its compact serialised size, its node count, its depth. */
typedef struct {
    size_t text;
    size_t nodes;
    int depth;
} att_pol_jsize_t;
/* Measure j, counting a step per node visited (shared nodes once per path, as a serialiser
 * would) and att_pol_scan_cost per string; stops with false (b->err set) when the steps run out,
 * the text passes `limit` bytes (ATT_E_POLICY_BUDGET, "bytes") or the nesting passes
 * ATT_POL_MAX_NEST (ATT_E_LIMIT). */
bool att_pol_json_size(att_pol_budget_t *b, const json_t *j, size_t limit, att_pol_jsize_t *out);
/* jansson's json_equal, counting a step per node pair and the strings' scan cost: 1, 0, or -1
 * when the budget ran out (b->err set). Pointer-equal values are equal at once. */
int att_pol_json_equal(att_pol_budget_t *b, const json_t *x, const json_t *y);
/* Length of s as a JSON string (quotes and escapes included), as jansson writes it. */
size_t att_pol_str_text(const char *s, size_t n);
/* At most max bytes of j's compact text into buf (for messages); true when it was cut. */
bool att_pol_json_head(const json_t *j, char *buf, size_t max, size_t *n);
/* Append a human form of v ("1", "true", "\"abc\"", long strings cut) to b. */
void att_pv_describe(att_pol_buf_t *b, const att_pv_t *v);
/* The JSON form of v (a new reference). */
json_t *att_pv_to_json(const att_pv_t *v);
/* "String", "Integer", "Boolean". */
const char *att_pv_type_name(const att_pv_t *v);

/* ---- evaluation state (eval.c, eval_expr.c, eval_claims.c, eval_explain.c) --------------- */

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

/* eval.c: the budget ran out (or the caller cancelled): say which budget, its limit and where. */
att_err_t att_pol_budget_err(att_eval_t *e);
/* eval.c: out of memory, or the budget error when the arena refused because of the budget. */
att_err_t att_pol_oom(att_eval_t *e);
/* eval.c: serialised size of claim c (type and value), measured once against the budget. */
bool att_pol_claim_size(att_eval_t *e, att_claim_t *c, size_t *size);
/* eval.c: append c to s (at most ATT_EVAL_MAX_CLAIMS claims). */
att_err_t att_pol_claimset_add(att_eval_t *e, att_claimset_t *s, att_claim_t *c);
/* eval.c: give v the valueType vt (ATT_VT_NONE: unchanged); ATT_E_POLICY_TYPE when it cannot. */
att_err_t att_pol_coerce(att_eval_t *e, const att_pol_rule_t *r, att_pol_vt_t vt, att_pv_t *v);
/* eval_expr.c: the set of values expression x of rule r evaluates to, with the bindings bind. */
att_err_t att_pol_eval_expr(att_eval_t *e, const att_pol_rule_t *r, const att_pol_expr_t *x,
                            const att_bind_t *bind, att_pv_set_t *out);
/* eval.c: value of property p of claim c. */
void att_pol_claim_prop(att_eval_t *e, att_claim_t *c, att_pol_prop_t p, att_pv_t *out);
/* eval_claims.c: the incoming claims (an object or MAA's array of claims) into e->in. */
att_err_t att_pol_load_claims(att_eval_t *e, const json_t *claims);
/* eval_claims.c: a claim set as a JSON object (a type issued twice becomes an array). */
json_t *att_pol_claims_json(const att_claimset_t *s);
/* eval_explain.c: "type = value" of c, appended to b. */
void att_pol_describe_claim(att_pol_buf_t *b, const att_claim_t *c);
/* eval_explain.c: the explain trace's entry (JSON and text) for rule r. */
void att_pol_trace_rule(att_eval_t *e, const att_pol_rule_t *r, const att_bind_t *bind,
                        const att_miss_t *miss, bool fired, json_t *effects);
/* eval_explain.c: the decision's reason, malloc'd (NULL when out of memory). */
char *att_pol_reason(att_eval_t *e, bool permitted);

/* Count n steps against the evaluation's budget; false once it is spent. */
static inline bool att_pol_eval_spend(att_eval_t *e, uint64_t n)
{
    return att_pol_spend(&e->b, n);
}

/* Steps for comparing two values: one, plus the scan of the shorter text (JSON values compare
 * by json_equal over their materialised texts' worth of nodes at most). */
static inline uint64_t att_pol_cmp_cost(const att_pv_t *a, const att_pv_t *b)
{
    size_t na = a->kind == ATT_PV_STR || a->kind == ATT_PV_JSON ? a->n : 0;
    size_t nb = b->kind == ATT_PV_STR || b->kind == ATT_PV_JSON ? b->n : 0;
    return att_pol_scan_cost(na < nb ? na : nb);
}

#endif
