/* jmespath.c - the JmesPath subset's compiler (see jmespath.h): a lexer and a Pratt parser
 * following the specification's binding powers, building nodes in an arena. Compiled nodes are
 * immutable after att_jp_compile; literals are shared (jansson's reference counts are atomic).
 * Checked here: the syntax, function names and argument counts, nesting depth. Does NOT check
 * argument types (known only at evaluation, jmespath_fn.c) nor run anything (jmespath_eval.c).
 */
#include <string.h>

#include "policy/jmespath.h"

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
