/* jmespath.c - a JmesPath subset (see jmespath.h), a Pratt parser following the specification's
 * binding powers, evaluated over jansson values. Compiled nodes are immutable after
 * att_jp_compile; literals are shared (jansson's reference counts are atomic). */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <string.h>

#include "policy/jmespath.h"

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

/* ---- lexer ------------------------------------------------------------------------------ */

typedef enum {
    K_EOF,
    K_IDENT, /* unquoted or quoted identifier: s/n decoded */
    K_RAW,   /* 'raw string' */
    K_LIT,   /* `json` */
    K_NUMBER,
    K_DOT,
    K_STAR,
    K_LBRACK,
    K_FILTER, /* [? */
    K_FLAT,   /* [] */
    K_RBRACK,
    K_LBRACE,
    K_RBRACE,
    K_LPAREN,
    K_RPAREN,
    K_COMMA,
    K_COLON,
    K_PIPE,
    K_OR,
    K_AND,
    K_NOT,
    K_CMP,
    K_CUR,
    K_EXPREF,
} att_jk_t;

typedef struct {
    att_jk_t k;
    size_t off;
    const char *s;
    size_t n;
    int64_t num;
    att_pol_op_t op;
    json_t *lit;
    bool quoted;
} att_jtok_t;

typedef struct {
    const char *q;
    size_t n, pos;
    att_jtok_t t;
    att_pol_arena_t *a;
    size_t err_at;
    const char *err;
    int depth;
} att_jparser_t;

static bool att_jfail(att_jparser_t *p, size_t at, const char *msg)
{
    if (p->err == NULL) {
        p->err = msg;
        p->err_at = at;
    }
    return false;
}

/* Decode a delimited string with backslash escapes of the delimiter (and JSON escapes for "). */
static bool att_jlex_delim(att_jparser_t *p, char delim, att_jtok_t *t)
{
    size_t start = p->pos++;
    att_pol_buf_t b;
    att_pol_buf_init(&b, p->a);
    att_pol_buf_add(&b, "", 0);
    while (p->pos < p->n && p->q[p->pos] != delim) {
        if (p->q[p->pos] == '\\' && p->pos + 1 < p->n) {
            char e = p->q[p->pos + 1];
            if ((delim == '\'' && (e == '\'' || e == '\\')) || (delim == '`' && e == '`')) {
                att_pol_buf_add(&b, &e, 1);
            } else {
                /* keep the escape: JSON decoding below handles it */
                att_pol_buf_add(&b, p->q + p->pos, 2);
            }
            p->pos += 2;
            continue;
        }
        att_pol_buf_add(&b, p->q + p->pos, 1);
        p->pos++;
    }
    if (p->pos >= p->n)
        return att_jfail(p, start, "unterminated string or literal");
    p->pos++;
    if (b.p == NULL)
        return att_jfail(p, start, "out of memory");
    t->s = b.p;
    t->n = b.len;
    if (delim == '"') {
        /* quoted identifier: a JSON string */
        char *js = att_pol_printf(p->a, "\"%s\"", b.p);
        json_t *v = js ? json_loads(js, JSON_DECODE_ANY, NULL) : NULL;
        if (v == NULL || !json_is_string(v)) {
            json_decref(v);
            return att_jfail(p, start, "invalid quoted identifier");
        }
        t->s = att_pol_strndup(p->a, json_string_value(v), json_string_length(v));
        t->n = json_string_length(v);
        json_decref(v);
    } else if (delim == '`') {
        json_t *v = json_loadb(b.p, b.len, JSON_DECODE_ANY, NULL);
        if (v == NULL) {
            /* the deprecated form `foo` means the string "foo" */
            return att_jfail(p, start, "literal between backquotes is not valid JSON");
        }
        t->lit = att_pol_keep(p->a, v);
    }
    return true;
}

static bool att_jnext(att_jparser_t *p)
{
    while (p->pos < p->n && strchr(" \t\r\n", p->q[p->pos]) && p->q[p->pos] != '\0')
        p->pos++;
    att_jtok_t *t = &p->t;
    memset(t, 0, sizeof(*t));
    t->off = p->pos;
    if (p->pos >= p->n) {
        t->k = K_EOF;
        return true;
    }
    char c = p->q[p->pos];
    char d = p->pos + 1 < p->n ? p->q[p->pos + 1] : '\0';
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        size_t s = p->pos;
        while (p->pos < p->n) {
            char x = p->q[p->pos];
            if (!((x >= 'a' && x <= 'z') || (x >= 'A' && x <= 'Z') || (x >= '0' && x <= '9') ||
                  x == '_'))
                break;
            p->pos++;
        }
        t->k = K_IDENT;
        t->s = p->q + s;
        t->n = p->pos - s;
        return true;
    }
    if ((c >= '0' && c <= '9') || (c == '-' && d >= '0' && d <= '9')) {
        bool neg = c == '-';
        if (neg)
            p->pos++;
        int64_t v = 0;
        while (p->pos < p->n && p->q[p->pos] >= '0' && p->q[p->pos] <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return att_jfail(p, t->off, "number too large");
            v = v * 10 + (p->q[p->pos] - '0');
            p->pos++;
        }
        t->k = K_NUMBER;
        t->num = neg ? -v : v;
        return true;
    }
    switch (c) {
    case '"':
        t->k = K_IDENT;
        t->quoted = true;
        return att_jlex_delim(p, '"', t);
    case '\'':
        t->k = K_RAW;
        return att_jlex_delim(p, '\'', t);
    case '`':
        t->k = K_LIT;
        return att_jlex_delim(p, '`', t);
    case '.':
        t->k = K_DOT;
        break;
    case '*':
        t->k = K_STAR;
        break;
    case '[':
        if (d == '?') {
            t->k = K_FILTER;
            p->pos++;
        } else if (d == ']') {
            t->k = K_FLAT;
            p->pos++;
        } else
            t->k = K_LBRACK;
        break;
    case ']':
        t->k = K_RBRACK;
        break;
    case '{':
        t->k = K_LBRACE;
        break;
    case '}':
        t->k = K_RBRACE;
        break;
    case '(':
        t->k = K_LPAREN;
        break;
    case ')':
        t->k = K_RPAREN;
        break;
    case ',':
        t->k = K_COMMA;
        break;
    case ':':
        t->k = K_COLON;
        break;
    case '@':
        t->k = K_CUR;
        break;
    case '|':
        t->k = d == '|' ? K_OR : K_PIPE;
        p->pos += d == '|';
        break;
    case '&':
        t->k = d == '&' ? K_AND : K_EXPREF;
        p->pos += d == '&';
        break;
    case '!':
        t->k = d == '=' ? K_CMP : K_NOT;
        t->op = ATT_OP_NE;
        p->pos += d == '=';
        break;
    case '=':
        if (d != '=')
            return att_jfail(p, p->pos, "expected '==', found a single '='");
        t->k = K_CMP;
        t->op = ATT_OP_EQ;
        p->pos++;
        break;
    case '<':
        t->k = K_CMP;
        t->op = d == '=' ? ATT_OP_LE : ATT_OP_LT;
        p->pos += d == '=';
        break;
    case '>':
        t->k = K_CMP;
        t->op = d == '=' ? ATT_OP_GE : ATT_OP_GT;
        p->pos += d == '=';
        break;
    default:
        return att_jfail(p, p->pos, "unexpected character");
    }
    p->pos++;
    return true;
}

/* ---- parser ----------------------------------------------------------------------------- */

static int att_jbp(att_jk_t k)
{
    switch (k) {
    case K_PIPE:
        return 1;
    case K_OR:
        return 2;
    case K_AND:
        return 3;
    case K_CMP:
        return 5;
    case K_FLAT:
        return 9;
    case K_STAR:
        return 20;
    case K_FILTER:
        return 21;
    case K_DOT:
        return 40;
    case K_NOT:
        return 45;
    case K_LBRACE:
        return 50;
    case K_LBRACK:
        return 55;
    case K_LPAREN:
        return 60;
    default:
        return 0;
    }
}

static att_jp_node_t *att_jnode(att_jparser_t *p, att_jp_kind_t k)
{
    att_jp_node_t *n = att_pol_zalloc(p->a, sizeof(*n));
    if (n == NULL)
        att_jfail(p, p->t.off, "out of memory");
    else
        n->kind = k;
    return n;
}

static const att_jp_node_t *att_jparse(att_jparser_t *p, int rbp);

static bool att_jexpect(att_jparser_t *p, att_jk_t k, const char *msg)
{
    if (p->t.k != k)
        return att_jfail(p, p->t.off, msg);
    return att_jnext(p);
}

static const att_jp_node_t *att_jbin(att_jparser_t *p, att_jp_kind_t k, const att_jp_node_t *l,
                                     const att_jp_node_t *r)
{
    if (l == NULL || r == NULL)
        return NULL;
    att_jp_node_t *n = att_jnode(p, k);
    if (n != NULL) {
        n->l = l;
        n->r = r;
    }
    return n;
}

static const att_jp_node_t *att_jcurrent(att_jparser_t *p)
{
    return att_jnode(p, JP_CUR);
}

static const att_jp_node_t *att_jmulti_list(att_jparser_t *p);
static const att_jp_node_t *att_jmulti_hash(att_jparser_t *p);

/* What follows a projection: the expression applied to each element. */
static const att_jp_node_t *att_jproj_rhs(att_jparser_t *p, int rbp)
{
    if (att_jbp(p->t.k) < 10)
        return att_jcurrent(p);
    if (p->t.k == K_LBRACK || p->t.k == K_FILTER || p->t.k == K_FLAT)
        return att_jparse(p, rbp);
    if (p->t.k == K_DOT) {
        if (!att_jnext(p))
            return NULL;
        if (p->t.k == K_LBRACK) {
            if (!att_jnext(p))
                return NULL;
            return att_jmulti_list(p);
        }
        if (p->t.k == K_LBRACE)
            return att_jmulti_hash(p);
        if (p->t.k != K_IDENT && p->t.k != K_STAR) {
            att_jfail(p, p->t.off, "expected an identifier, '*', '[' or '{' after '.'");
            return NULL;
        }
        return att_jparse(p, rbp);
    }
    att_jfail(p, p->t.off, "unexpected token after a projection");
    return NULL;
}

/* after "[" with a number: index (slices are not supported) */
static const att_jp_node_t *att_jindex(att_jparser_t *p)
{
    if (p->t.k == K_COLON || (p->t.k == K_NUMBER && p->pos < p->n && p->q[p->pos] == ':')) {
        att_jfail(p, p->t.off, "slices [start:stop:step] are not supported");
        return NULL;
    }
    att_jp_node_t *n = att_jnode(p, JP_INDEX);
    if (n == NULL)
        return NULL;
    n->idx = p->t.num;
    if (!att_jnext(p))
        return NULL;
    if (p->t.k == K_COLON) {
        att_jfail(p, p->t.off, "slices [start:stop:step] are not supported");
        return NULL;
    }
    if (!att_jexpect(p, K_RBRACK, "expected ']' after the index"))
        return NULL;
    return n;
}

/* "[" already consumed */
static const att_jp_node_t *att_jmulti_list(att_jparser_t *p)
{
    const att_jp_node_t *items[32];
    int n = 0;
    for (;;) {
        if (n == 32) {
            att_jfail(p, p->t.off, "too many elements in a multi-select list");
            return NULL;
        }
        items[n] = att_jparse(p, 0);
        if (items[n] == NULL)
            return NULL;
        n++;
        if (p->t.k == K_RBRACK)
            break;
        if (!att_jexpect(p, K_COMMA, "expected ',' or ']' in a multi-select list"))
            return NULL;
    }
    if (!att_jnext(p))
        return NULL;
    att_jp_node_t *node = att_jnode(p, JP_MLIST);
    const att_jp_node_t **args = att_pol_alloc(p->a, sizeof(*args) * (size_t)n);
    if (node == NULL || args == NULL)
        return NULL;
    memcpy(args, items, sizeof(*items) * (size_t)n);
    node->args = args;
    node->nargs = n;
    return node;
}

/* at "{" */
static const att_jp_node_t *att_jmulti_hash(att_jparser_t *p)
{
    if (!att_jnext(p))
        return NULL;
    const att_jp_node_t *items[32];
    const char *keys[32];
    size_t lens[32];
    int n = 0;
    for (;;) {
        if (n == 32) {
            att_jfail(p, p->t.off, "too many keys in a multi-select hash");
            return NULL;
        }
        if (p->t.k != K_IDENT) {
            att_jfail(p, p->t.off, "expected a key name in a multi-select hash");
            return NULL;
        }
        keys[n] = p->t.s;
        lens[n] = p->t.n;
        if (!att_jnext(p) || !att_jexpect(p, K_COLON, "expected ':' after the key"))
            return NULL;
        items[n] = att_jparse(p, 0);
        if (items[n] == NULL)
            return NULL;
        n++;
        if (p->t.k == K_RBRACE)
            break;
        if (!att_jexpect(p, K_COMMA, "expected ',' or '}' in a multi-select hash"))
            return NULL;
    }
    if (!att_jnext(p))
        return NULL;
    att_jp_node_t *node = att_jnode(p, JP_MHASH);
    const att_jp_node_t **args = att_pol_alloc(p->a, sizeof(*args) * (size_t)n);
    const char **k = att_pol_alloc(p->a, sizeof(*k) * (size_t)n);
    size_t *kl = att_pol_alloc(p->a, sizeof(*kl) * (size_t)n);
    if (node == NULL || args == NULL || k == NULL || kl == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        args[i] = items[i];
        k[i] = att_pol_strndup(p->a, keys[i], lens[i]);
        kl[i] = lens[i];
    }
    node->args = args;
    node->keys = k;
    node->keylens = kl;
    node->nargs = n;
    return node;
}

static const struct {
    const char *name;
    att_jp_fn_t fn;
    int min, max;
} att_jfns[] = {
    {"length", JF_LENGTH, 1, 1},
    {"contains", JF_CONTAINS, 2, 2},
    {"starts_with", JF_STARTS_WITH, 2, 2},
    {"ends_with", JF_ENDS_WITH, 2, 2},
    {"keys", JF_KEYS, 1, 1},
    {"values", JF_VALUES, 1, 1},
    {"type", JF_TYPE, 1, 1},
    {"to_string", JF_TO_STRING, 1, 1},
    {"to_number", JF_TO_NUMBER, 1, 1},
    {"not_null", JF_NOT_NULL, 1, 32},
    {"join", JF_JOIN, 2, 2},
    {"max", JF_MAX, 1, 1},
    {"min", JF_MIN, 1, 1},
    {"sum", JF_SUM, 1, 1},
    {"abs", JF_ABS, 1, 1},
};

static const att_jp_node_t *att_jcall(att_jparser_t *p, const att_jp_node_t *callee, size_t at)
{
    if (callee->kind != JP_FIELD) {
        att_jfail(p, at, "only a function name can be called");
        return NULL;
    }
    size_t i;
    for (i = 0; i < sizeof(att_jfns) / sizeof(att_jfns[0]); i++)
        if (strlen(att_jfns[i].name) == callee->n &&
            !memcmp(att_jfns[i].name, callee->name, callee->n))
            break;
    if (i == sizeof(att_jfns) / sizeof(att_jfns[0])) {
        att_jfail(p, at, "unknown or unsupported JmesPath function");
        return NULL;
    }
    const att_jp_node_t *args[32];
    int n = 0;
    while (p->t.k != K_RPAREN) {
        if (n == 32) {
            att_jfail(p, p->t.off, "too many function arguments");
            return NULL;
        }
        if (p->t.k == K_EXPREF) {
            att_jfail(p, p->t.off, "expression references (&expr) are not supported");
            return NULL;
        }
        args[n] = att_jparse(p, 0);
        if (args[n] == NULL)
            return NULL;
        n++;
        if (p->t.k == K_COMMA) {
            if (!att_jnext(p))
                return NULL;
        } else if (p->t.k != K_RPAREN) {
            att_jfail(p, p->t.off, "expected ',' or ')' in the function arguments");
            return NULL;
        }
    }
    if (!att_jnext(p))
        return NULL;
    if (n < att_jfns[i].min || n > att_jfns[i].max) {
        att_jfail(p, at, "wrong number of arguments for the JmesPath function");
        return NULL;
    }
    att_jp_node_t *node = att_jnode(p, JP_FUNC);
    const att_jp_node_t **a = att_pol_alloc(p->a, sizeof(*a) * (size_t)(n ? n : 1));
    if (node == NULL || a == NULL)
        return NULL;
    memcpy(a, args, sizeof(*args) * (size_t)n);
    node->args = a;
    node->nargs = n;
    node->fn = att_jfns[i].fn;
    return node;
}

static const att_jp_node_t *att_jnud(att_jparser_t *p)
{
    att_jtok_t t = p->t;
    if (!att_jnext(p))
        return NULL;
    att_jp_node_t *n;
    switch (t.k) {
    case K_IDENT:
        n = att_jnode(p, JP_FIELD);
        if (n) {
            n->name = t.s;
            n->n = t.n;
        }
        if (n && t.quoted && p->t.k == K_LPAREN) {
            att_jfail(p, p->t.off, "a quoted identifier cannot be called");
            return NULL;
        }
        return n;
    case K_RAW:
        n = att_jnode(p, JP_LIT);
        if (n)
            n->lit = att_pol_keep(p->a, json_stringn(t.s, t.n));
        return n && n->lit ? n : NULL;
    case K_LIT:
        n = att_jnode(p, JP_LIT);
        if (n)
            n->lit = t.lit;
        return n;
    case K_CUR:
        return att_jcurrent(p);
    case K_STAR:
        return att_jbin(p, JP_VPROJ, att_jcurrent(p), att_jproj_rhs(p, att_jbp(K_STAR)));
    case K_FLAT: {
        const att_jp_node_t *l = att_jnode(p, JP_FLATTEN);
        if (l)
            ((att_jp_node_t *)l)->l = att_jcurrent(p);
        return att_jbin(p, JP_PROJ, l, att_jproj_rhs(p, att_jbp(K_FLAT)));
    }
    case K_FILTER: {
        const att_jp_node_t *c = att_jparse(p, 0);
        if (c == NULL || !att_jexpect(p, K_RBRACK, "expected ']' to close the filter"))
            return NULL;
        n = (att_jp_node_t *)att_jbin(p, JP_FILTER, att_jcurrent(p),
                                      att_jproj_rhs(p, att_jbp(K_FILTER)));
        if (n)
            n->c = c;
        return n;
    }
    case K_LBRACK:
        if (p->t.k == K_NUMBER || p->t.k == K_COLON) {
            const att_jp_node_t *idx = att_jindex(p);
            return att_jbin(p, JP_SUB, att_jcurrent(p), idx);
        }
        if (p->t.k == K_STAR && p->pos < p->n && p->q[p->pos] == ']') {
            if (!att_jnext(p) || !att_jnext(p))
                return NULL;
            return att_jbin(p, JP_PROJ, att_jcurrent(p), att_jproj_rhs(p, att_jbp(K_STAR)));
        }
        return att_jmulti_list(p);
    case K_LBRACE:
        p->pos = t.off; /* re-read '{' */
        if (!att_jnext(p))
            return NULL;
        return att_jmulti_hash(p);
    case K_NOT:
        n = att_jnode(p, JP_NOT);
        if (n && (n->l = att_jparse(p, att_jbp(K_NOT))) == NULL)
            return NULL;
        return n;
    case K_LPAREN: {
        const att_jp_node_t *e = att_jparse(p, 0);
        if (e == NULL || !att_jexpect(p, K_RPAREN, "expected ')'"))
            return NULL;
        return e;
    }
    case K_EXPREF:
        att_jfail(p, t.off, "expression references (&expr) are not supported");
        return NULL;
    case K_EOF:
        att_jfail(p, t.off, "unexpected end of the query");
        return NULL;
    default:
        att_jfail(p, t.off, "unexpected token");
        return NULL;
    }
}

static const att_jp_node_t *att_jled(att_jparser_t *p, const att_jp_node_t *left)
{
    att_jtok_t t = p->t;
    if (!att_jnext(p))
        return NULL;
    switch (t.k) {
    case K_DOT:
        if (p->t.k == K_STAR) {
            if (!att_jnext(p))
                return NULL;
            return att_jbin(p, JP_VPROJ, left, att_jproj_rhs(p, att_jbp(K_DOT)));
        }
        if (p->t.k == K_LBRACK) {
            if (!att_jnext(p))
                return NULL;
            return att_jbin(p, JP_SUB, left, att_jmulti_list(p));
        }
        if (p->t.k == K_LBRACE)
            return att_jbin(p, JP_SUB, left, att_jmulti_hash(p));
        if (p->t.k != K_IDENT) {
            att_jfail(p, p->t.off, "expected an identifier, '*', '[' or '{' after '.'");
            return NULL;
        }
        return att_jbin(p, JP_SUB, left, att_jparse(p, att_jbp(K_DOT)));
    case K_PIPE:
        return att_jbin(p, JP_PIPE, left, att_jparse(p, att_jbp(K_PIPE)));
    case K_OR:
        return att_jbin(p, JP_OR, left, att_jparse(p, att_jbp(K_OR)));
    case K_AND:
        return att_jbin(p, JP_AND, left, att_jparse(p, att_jbp(K_AND)));
    case K_CMP: {
        att_jp_node_t *n =
            (att_jp_node_t *)att_jbin(p, JP_CMP, left, att_jparse(p, att_jbp(K_CMP)));
        if (n)
            n->op = t.op;
        return n;
    }
    case K_LPAREN:
        return att_jcall(p, left, t.off);
    case K_FILTER: {
        const att_jp_node_t *c = att_jparse(p, 0);
        if (c == NULL || !att_jexpect(p, K_RBRACK, "expected ']' to close the filter"))
            return NULL;
        att_jp_node_t *n =
            (att_jp_node_t *)att_jbin(p, JP_FILTER, left, att_jproj_rhs(p, att_jbp(K_FILTER)));
        if (n)
            n->c = c;
        return n;
    }
    case K_FLAT: {
        att_jp_node_t *f = att_jnode(p, JP_FLATTEN);
        if (f == NULL)
            return NULL;
        f->l = left;
        return att_jbin(p, JP_PROJ, f, att_jproj_rhs(p, att_jbp(K_FLAT)));
    }
    case K_LBRACK:
        if (p->t.k == K_NUMBER || p->t.k == K_COLON)
            return att_jbin(p, JP_SUB, left, att_jindex(p));
        if (p->t.k == K_STAR && p->pos < p->n && p->q[p->pos] == ']') {
            if (!att_jnext(p) || !att_jnext(p))
                return NULL;
            return att_jbin(p, JP_PROJ, left, att_jproj_rhs(p, att_jbp(K_STAR)));
        }
        att_jfail(p, p->t.off, "expected a number or '*' after '['");
        return NULL;
    default:
        att_jfail(p, t.off, "unexpected token");
        return NULL;
    }
}

static const att_jp_node_t *att_jparse(att_jparser_t *p, int rbp)
{
    if (++p->depth > 64) {
        att_jfail(p, p->t.off, "query nested too deeply");
        return NULL;
    }
    const att_jp_node_t *left = att_jnud(p);
    while (left != NULL && rbp < att_jbp(p->t.k))
        left = att_jled(p, left);
    p->depth--;
    return left;
}

const att_jp_node_t *att_jp_compile(att_pol_arena_t *a, const char *q, size_t n, size_t *err_at,
                                    const char **err)
{
    att_jparser_t p;
    memset(&p, 0, sizeof(p));
    p.q = q;
    p.n = n;
    p.a = a;
    const att_jp_node_t *node = NULL;
    if (n == 0)
        att_jfail(&p, 0, "the query is empty");
    else if (att_jnext(&p)) {
        node = att_jparse(&p, 0);
        if (node != NULL && p.t.k != K_EOF) {
            att_jfail(&p, p.t.off, "unexpected text after the end of the expression");
            node = NULL;
        }
    }
    if (node == NULL) {
        *err_at = p.err_at;
        *err = p.err ? p.err : "invalid query";
    }
    return node;
}

/* ---- evaluation ------------------------------------------------------------------------- */

/* Every node evaluated, element iterated and comparison made is counted against the budget, and
 * every JSON value built is charged its size: results share nodes (jansson reference counts), so
 * a value can be exponentially larger than the work that built it, and only counting where the
 * work happens (equality, serialisation: att_pol_json_equal, att_pol_json_size) bounds it. */
typedef struct {
    att_pol_budget_t *b;
    const char **err;
} att_jx_t;

static bool att_jover(att_jx_t *x)
{
    if (*x->err == NULL)
        *x->err = x->b->err == ATT_E_CANCELLED ? "evaluation cancelled"
                  : x->b->err == ATT_E_LIMIT   ? "value nested too deeply"
                                               : "work budget exceeded";
    return false;
}

static bool att_jstep(att_jx_t *x, uint64_t n)
{
    return att_pol_spend(x->b, n) || att_jover(x);
}

/* A JSON value built with `slots` elements and `extra` bytes of text. */
static bool att_jbuilt(att_jx_t *x, size_t slots, size_t extra)
{
    return att_pol_charge(x->b, ATT_POL_JSON_NODE + slots * ATT_POL_JSON_SLOT + extra) ||
           att_jover(x);
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

static bool att_jnum(const json_t *v, double *d)
{
    if (json_is_integer(v))
        *d = (double)json_integer_value(v);
    else if (json_is_real(v))
        *d = json_real_value(v);
    else
        return false;
    return true;
}

static json_t *att_jnumber(double d)
{
    if (d == floor(d) && fabs(d) < 9.0e15)
        return json_integer((json_int_t)d);
    return json_real(d);
}

/* 1 equal, 0 not, -1 over the budget */
static int att_jequal(att_jx_t *x, const json_t *a, const json_t *b)
{
    double p, q;
    if (att_jnum(a, &p) && att_jnum(b, &q))
        return p == q;
    int r = att_pol_json_equal(x->b, a, b);
    if (r < 0)
        att_jover(x);
    return r;
}

static json_t *att_jeval(const att_jp_node_t *n, json_t *v, att_jx_t *x, int depth);

static json_t *att_jfn(const att_jp_node_t *n, json_t *v, att_jx_t *x, int depth)
{
    const char **err = x->err;
    json_t *a[32] = {NULL};
    int na = n->nargs;
    for (int i = 0; i < na; i++) {
        a[i] = att_jeval(n->args[i], v, x, depth + 1);
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
            if (!att_jstep(x, att_pol_scan_cost(len)))
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
        if (r != NULL && !att_jbuilt(x, 0, 0)) {
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
                found = att_jequal(x, e, a[1]);
                if (found != 0)
                    break;
            }
            if (found >= 0)
                r = json_boolean(found == 1);
        } else if (json_is_string(a[0]) && json_is_string(a[1])) {
            if (att_jstep(x,
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
            if (!att_jstep(x, att_pol_scan_cost(l1)))
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
            if (!att_jstep(x, json_object_size(a[0])) || !att_jbuilt(x, json_object_size(a[0]), 0))
                break;
            r = json_array();
            const char *k;
            size_t klen;
            json_t *e;
            json_object_keylen_foreach(a[0], k, klen, e)
            {
                if (n->fn == JF_KEYS && !att_jbuilt(x, 0, klen)) {
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
        if (att_jbuilt(x, 0, 8))
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
                !att_jbuilt(x, 0, z.text)) {
                att_jover(x);
                break;
            }
            char *s = json_dumps(a[0], JSON_COMPACT | JSON_ENCODE_ANY);
            r = s ? json_string(s) : NULL;
            free(s);
        }
        break;
    case JF_TO_NUMBER:
        if (att_jnum(a[0], &d))
            r = json_incref(a[0]);
        else if (json_is_string(a[0])) {
            if (!att_jstep(x, att_pol_parse_cost(json_string_length(a[0]))) || !att_jbuilt(x, 0, 0))
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
                if (!att_jstep(x, att_pol_scan_cost(json_string_length(e))))
                    break;
                if (i)
                    att_pol_buf_add(&b, json_string_value(a[0]), json_string_length(a[0]));
                att_pol_buf_add(&b, json_string_value(e), json_string_length(e));
            }
            if (*err == NULL && tmp.failed && x->b->err != ATT_OK)
                att_jover(x);
            if (*err == NULL && att_jbuilt(x, 0, 0))
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
                if (!att_jstep(x, 1))
                    break;
                if (att_jnum(e, &d)) {
                    sum += d;
                    if (best == NULL || (n->fn == JF_MAX ? d > bd : d < bd)) {
                        best = e;
                        bd = d;
                    }
                } else if (json_is_string(e) && n->fn != JF_SUM) {
                    if (best != NULL && json_is_string(best) &&
                        !att_jstep(x, att_pol_scan_cost(json_string_length(e))))
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
            if (*err == NULL && (n->fn != JF_SUM || att_jbuilt(x, 0, 0)))
                r = n->fn == JF_SUM ? att_jnumber(sum) : best ? json_incref(best) : json_null();
        } else
            *err = "max()/min()/sum() take an array";
        break;
    case JF_ABS:
        if (!att_jnum(a[0], &d))
            *err = "abs() takes a number";
        else if (att_jbuilt(x, 0, 0))
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

static json_t *att_jeval(const att_jp_node_t *n, json_t *v, att_jx_t *x, int depth)
{
    const char **err = x->err;
    if (depth > 256) {
        *err = "query evaluation nested too deeply";
        return NULL;
    }
    if (!att_jstep(x, 1))
        return NULL;
    json_t *l, *r, *out;
    switch (n->kind) {
    case JP_CUR:
        return json_incref(v);
    case JP_LIT:
        return json_incref(n->lit);
    case JP_FIELD:
        if (json_is_object(v)) {
            if (!att_jstep(x, att_pol_scan_cost(n->n))) /* hashing the name */
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
        l = att_jeval(n->l, v, x, depth + 1);
        if (l == NULL)
            return NULL;
        if (n->kind == JP_SUB && json_is_null(l))
            return l;
        r = att_jeval(n->r, l, x, depth + 1);
        json_decref(l);
        return r;
    case JP_FLATTEN:
        l = att_jeval(n->l, v, x, depth + 1);
        if (l == NULL)
            return NULL;
        if (!json_is_array(l)) {
            json_decref(l);
            return json_null();
        }
        if (!att_jbuilt(x, 0, 0)) {
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
                if (!att_jstep(x, k) ||
                    !(att_pol_charge(x->b, k * ATT_POL_JSON_SLOT) || att_jover(x))) {
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
        l = att_jeval(n->l, v, x, depth + 1);
        if (l == NULL)
            return NULL;
        json_t *items;
        if (n->kind == JP_VPROJ) {
            if (!json_is_object(l)) {
                json_decref(l);
                return json_null();
            }
            size_t sz = json_object_size(l);
            if (!att_jstep(x, sz) || !att_jbuilt(x, sz, 0)) {
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
        if (!att_jbuilt(x, 0, 0)) {
            json_decref(items);
            return NULL;
        }
        out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(items, i, e)
        {
            if (n->kind == JP_FILTER) {
                json_t *c = att_jeval(n->c, e, x, depth + 1);
                if (c == NULL)
                    break;
                bool keep = att_jtruthy(c);
                json_decref(c);
                if (!keep)
                    continue;
            }
            json_t *y = att_jeval(n->r, e, x, depth + 1);
            if (y == NULL)
                break;
            if (!json_is_null(y) && att_pol_charge(x->b, ATT_POL_JSON_SLOT))
                json_array_append(out, y);
            json_decref(y);
            if (x->b->err != ATT_OK) {
                att_jover(x);
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
        l = att_jeval(n->l, v, x, depth + 1);
        if (l == NULL)
            return NULL;
        if (att_jtruthy(l) == (n->kind == JP_OR))
            return l;
        json_decref(l);
        return att_jeval(n->r, v, x, depth + 1);
    case JP_NOT:
        l = att_jeval(n->l, v, x, depth + 1);
        if (l == NULL)
            return NULL;
        out = json_boolean(!att_jtruthy(l));
        json_decref(l);
        return out;
    case JP_CMP: {
        l = att_jeval(n->l, v, x, depth + 1);
        if (l == NULL)
            return NULL;
        r = att_jeval(n->r, v, x, depth + 1);
        if (r == NULL) {
            json_decref(l);
            return NULL;
        }
        double p, q;
        if (n->op == ATT_OP_EQ || n->op == ATT_OP_NE) {
            int eq = att_jequal(x, l, r);
            out = eq < 0 ? NULL : json_boolean(n->op == ATT_OP_EQ ? eq == 1 : eq == 0);
        } else if (att_jnum(l, &p) && att_jnum(r, &q)) {
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
        return att_jfn(n, v, x, depth);
    case JP_MLIST:
    case JP_MHASH:
        if (json_is_null(v))
            return json_null();
        if (!att_jbuilt(x, (size_t)n->nargs, 0))
            return NULL;
        out = n->kind == JP_MLIST ? json_array() : json_object();
        for (int i = 0; i < n->nargs; i++) {
            json_t *y = att_jeval(n->args[i], v, x, depth + 1);
            if (y == NULL) {
                json_decref(out);
                return NULL;
            }
            if (n->kind == JP_MLIST) {
                json_array_append_new(out, y);
            } else if (att_jstep(x, att_pol_scan_cost(n->keylens[i])) &&
                       att_jbuilt(x, 0, n->keylens[i])) {
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
    json_t *r = b->err == ATT_OK ? att_jeval(node, data, &x, 0) : NULL;
    if (r == NULL && *err == NULL)
        *err = b->err != ATT_OK ? "work budget exceeded" : "out of memory";
    return r;
}
