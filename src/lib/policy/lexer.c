/* lexer.c - the tokens of the MAA policy language, and the syntax errors reported at them.
 *
 * Tokens: names ([A-Za-z_][A-Za-z0-9_]*), strings ("..." with the JSON escapes \" \\ \/ \n \r
 * \t \b \f \uXXXX, on one line, no NUL and no surrogate or NUL escapes), integers (decimal or
 * 0x hex, may be negative, must fit in 64 bits) and the operators and punctuation of the grammar
 * (parser.c). Comments are // to end of line and / * ... * /. Lines and columns are counted as
 * the text is read (columns in characters, not bytes, tracked incrementally so a long line costs
 * linear time). Every error names line, column, what was expected and what was found; the first
 * error is the one reported.
 * Does NOT check: the grammar, names (keywords are compared by the parser, case-insensitively),
 * or that the bytes inside a string are valid UTF-8 (they are copied as they are; outside strings
 * any byte that starts no token is an error).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "policy/policy_int.h"

/* ---- errors ----------------------------------------------------------------------------- */

static const char *att_tok_name(att_tok_kind_t k)
{
    switch (k) {
    case T_EOF:
        return "end of policy";
    case T_IDENT:
        return "name";
    case T_STRING:
        return "string";
    case T_INT:
        return "integer";
    case T_EQ:
        return "'=='";
    case T_ASSIGN:
        return "'='";
    case T_NE:
        return "'!='";
    case T_LT:
        return "'<'";
    case T_LE:
        return "'<='";
    case T_GT:
        return "'>'";
    case T_GE:
        return "'>='";
    case T_ARROW:
        return "'=>'";
    case T_AND:
        return "'&&'";
    case T_NOT:
        return "'!'";
    case T_COLON:
        return "':'";
    case T_LBRACK:
        return "'['";
    case T_RBRACK:
        return "']'";
    case T_LPAREN:
        return "'('";
    case T_RPAREN:
        return "')'";
    case T_LBRACE:
        return "'{'";
    case T_RBRACE:
        return "'}'";
    case T_COMMA:
        return "','";
    case T_SEMI:
        return "';'";
    case T_DOT:
        return "'.'";
    default:
        return "invalid text";
    }
}

bool att_pol_perr_at(att_parser_t *p, unsigned line, unsigned col, const char *fmt, ...)
{
    if (p->failed)
        return false;
    p->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->errpos != NULL) {
        p->errpos->line = line;
        p->errpos->column = col;
    }
    att_diag_set(p->diag, ATT_E_POLICY_SYNTAX, "line %u, column %u: %s", line, col, msg);
    return false;
}

/* "found 'x'" text for the current token. */
static const char *att_found(att_parser_t *p, char *buf, size_t size)
{
    const att_tok_t *t = &p->tok;
    switch (t->kind) {
    case T_IDENT:
        snprintf(buf, size, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->s);
        break;
    case T_STRING:
    case T_INT: {
        size_t n = t->end - t->off;
        snprintf(buf, size, "%s %.*s%s", att_tok_name(t->kind), (int)(n > 40 ? 40 : n),
                 p->src + t->off, n > 40 ? "..." : "");
        break;
    }
    default:
        snprintf(buf, size, "%s", att_tok_name(t->kind));
    }
    return buf;
}

/* Error at the current token: "expected X, found Y". */
bool att_pol_expected(att_parser_t *p, const char *what)
{
    if (p->tok.kind == T_ERROR)
        return false; /* the lexer already reported */
    char found[96];
    return att_pol_perr_at(p, p->tok.line, p->tok.col, "expected %s, found %s", what,
                           att_found(p, found, sizeof(found)));
}

/* ---- lexer ------------------------------------------------------------------------------ */

static bool att_is_char_start(const att_parser_t *p, size_t i)
{
    return ((unsigned char)p->src[i] & 0xC0) != 0x80; /* not a UTF-8 continuation byte */
}

/* Column (in characters) of byte off of the current line, from the memo of the last one asked:
 * forward by the bytes in between, backward (a token re-read after a look-ahead) likewise. */
static unsigned att_col(att_parser_t *p, size_t off)
{
    if (off < p->line_start)
        return 1;
    if (p->col_ls != p->line_start || p->col_n == 0) {
        p->col_ls = p->col_off = p->line_start;
        p->col_n = 1;
    }
    for (; p->col_off < off; p->col_off++)
        if (att_is_char_start(p, p->col_off))
            p->col_n++;
    for (; p->col_off > off; p->col_off--)
        if (att_is_char_start(p, p->col_off - 1))
            p->col_n--;
    return p->col_n;
}

static void att_newline(att_parser_t *p, size_t next)
{
    p->line++;
    p->line_start = next;
}

static bool att_lex_error(att_parser_t *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool att_lex_error(att_parser_t *p, size_t off, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->tok.kind = T_ERROR;
    return att_pol_perr_at(p, p->line, att_col(p, off), "%s", msg);
}

/* Skip blanks and comments; false on an unterminated comment. */
static bool att_skip(att_parser_t *p)
{
    while (p->pos < p->len) {
        char c = p->src[p->pos];
        if (c == '\n') {
            p->pos++;
            att_newline(p, p->pos);
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            p->pos++;
        } else if (c == '/' && p->pos + 1 < p->len && p->src[p->pos + 1] == '/') {
            while (p->pos < p->len && p->src[p->pos] != '\n')
                p->pos++;
        } else if (c == '/' && p->pos + 1 < p->len && p->src[p->pos + 1] == '*') {
            size_t start = p->pos;
            unsigned l0 = p->line;
            size_t ls0 = p->line_start;
            p->pos += 2;
            for (;;) {
                if (p->pos + 1 >= p->len) {
                    p->line = l0;
                    p->line_start = ls0;
                    p->pos = p->len;
                    return att_lex_error(p, start, "comment is not closed: expected '*/'");
                }
                if (p->src[p->pos] == '*' && p->src[p->pos + 1] == '/') {
                    p->pos += 2;
                    break;
                }
                if (p->src[p->pos] == '\n')
                    att_newline(p, p->pos + 1);
                p->pos++;
            }
        } else {
            break;
        }
    }
    return true;
}

static void att_utf8(att_pol_buf_t *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    att_pol_buf_add(b, u, n);
}

static bool att_lex_string(att_parser_t *p)
{
    size_t start = p->pos;
    unsigned l0 = p->line;
    size_t ls0 = p->line_start;
    att_pol_buf_t b;
    att_pol_buf_init(&b, p->a);
    att_pol_buf_add(&b, "", 0);
    p->pos++; /* opening quote */
    for (;;) {
        if (p->pos >= p->len) {
            p->line = l0;
            p->line_start = ls0;
            return att_lex_error(p, start, "string is not closed: expected '\"'");
        }
        char c = p->src[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c == '\n') {
            p->line = l0;
            p->line_start = ls0;
            return att_lex_error(p, start,
                                 "string is not closed before the end of the line: "
                                 "expected '\"'");
        }
        if (c == '\0')
            return att_lex_error(p, p->pos, "NUL character in a string");
        if (c != '\\') {
            att_pol_buf_add(&b, &c, 1);
            p->pos++;
            continue;
        }
        if (p->pos + 1 >= p->len)
            return att_lex_error(p, p->pos, "string is not closed: expected '\"'");
        char e = p->src[p->pos + 1];
        const char *simple = strchr("\"\\/nrtbf", e);
        if (e != '\0' && simple != NULL) {
            static const char out[] = "\"\\/\n\r\t\b\f";
            att_pol_buf_add(&b, &out[simple - "\"\\/nrtbf"], 1);
            p->pos += 2;
            continue;
        }
        if (e == 'u') {
            uint32_t cp = 0;
            if (p->pos + 6 > p->len)
                return att_lex_error(p, p->pos, "expected 4 hex digits after '\\u'");
            for (int k = 0; k < 4; k++) {
                int h = att_hexval(p->src[p->pos + 2 + k]);
                if (h < 0)
                    return att_lex_error(p, p->pos, "expected 4 hex digits after '\\u'");
                cp = cp << 4 | (uint32_t)h;
            }
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
                return att_lex_error(p, p->pos, "\\u%04X is not allowed in a string", cp);
            att_utf8(&b, cp);
            p->pos += 6;
            continue;
        }
        return att_lex_error(p, p->pos,
                             "unknown escape '\\%c' in a string: expected one of \\\" \\\\ \\/ "
                             "\\n \\r \\t \\b \\f \\uXXXX",
                             isprint((unsigned char)e) ? e : '?');
    }
    if (p->a->failed)
        return att_lex_error(p, start, "out of memory");
    p->tok.kind = T_STRING;
    p->tok.s = b.p;
    p->tok.n = b.len;
    return true;
}

static bool att_lex_int(att_parser_t *p)
{
    size_t start = p->pos;
    bool neg = false;
    if (p->src[p->pos] == '-') {
        neg = true;
        p->pos++;
    }
    uint64_t v = 0, max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool hex = p->pos + 1 < p->len && p->src[p->pos] == '0' &&
               (p->src[p->pos + 1] == 'x' || p->src[p->pos + 1] == 'X');
    if (hex)
        p->pos += 2;
    size_t digits = 0;
    while (p->pos < p->len) {
        int d = hex ? att_hexval(p->src[p->pos])
                    : (isdigit((unsigned char)p->src[p->pos]) ? p->src[p->pos] - '0' : -1);
        if (d < 0)
            break;
        unsigned base = hex ? 16 : 10;
        if (v > (max - (uint64_t)d) / base)
            return att_lex_error(p, start, "integer does not fit in 64 bits");
        v = v * base + (uint64_t)d;
        p->pos++;
        digits++;
    }
    if (digits == 0)
        return att_lex_error(p, start,
                             hex ? "expected hex digits after '0x'" : "expected digits after '-'");
    if (p->pos < p->len && (isalpha((unsigned char)p->src[p->pos]) || p->src[p->pos] == '_'))
        return att_lex_error(p, p->pos, "unexpected '%c' after an integer", p->src[p->pos]);
    p->tok.kind = T_INT;
    p->tok.i = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}

/* Read the next token into p->tok. */
bool att_pol_next(att_parser_t *p)
{
    if (p->failed)
        return false;
    if (!att_skip(p))
        return false;
    att_tok_t *t = &p->tok;
    memset(t, 0, sizeof(*t));
    t->off = p->pos;
    t->line = p->line;
    t->col = att_col(p, p->pos);
    if (p->pos >= p->len) {
        t->kind = T_EOF;
        t->end = p->pos;
        return true;
    }
    char c = p->src[p->pos];
    char d = p->pos + 1 < p->len ? p->src[p->pos + 1] : '\0';
    bool ok = true;
    if (c == '"') {
        ok = att_lex_string(p);
    } else if (isdigit((unsigned char)c) || (c == '-' && isdigit((unsigned char)d))) {
        ok = att_lex_int(p);
    } else if (isalpha((unsigned char)c) || c == '_') {
        while (p->pos < p->len && (isalnum((unsigned char)p->src[p->pos]) || p->src[p->pos] == '_'))
            p->pos++;
        t->kind = T_IDENT;
        t->s = p->src + t->off;
        t->n = p->pos - t->off;
    } else {
        static const struct {
            const char *s;
            att_tok_kind_t k;
        } ops[] = {{"=>", T_ARROW}, {"==", T_EQ},    {"!=", T_NE},    {"<=", T_LE},
                   {">=", T_GE},    {"&&", T_AND},   {"=", T_ASSIGN}, {"<", T_LT},
                   {">", T_GT},     {"!", T_NOT},    {":", T_COLON},  {"[", T_LBRACK},
                   {"]", T_RBRACK}, {"(", T_LPAREN}, {")", T_RPAREN}, {"{", T_LBRACE},
                   {"}", T_RBRACE}, {",", T_COMMA},  {";", T_SEMI},   {".", T_DOT}};
        size_t i;
        for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
            size_t n = strlen(ops[i].s);
            if (p->pos + n <= p->len && memcmp(p->src + p->pos, ops[i].s, n) == 0) {
                t->kind = ops[i].k;
                p->pos += n;
                break;
            }
        }
        if (i == sizeof(ops) / sizeof(ops[0])) {
            unsigned char uc = (unsigned char)c;
            if (c == '&')
                return att_lex_error(p, p->pos, "expected '&&', found a single '&'");
            if (uc >= 0x21 && uc < 0x7f)
                return att_lex_error(p, p->pos, "unexpected character '%c'", c);
            return att_lex_error(p, p->pos, "unexpected character (byte 0x%02x)", uc);
        }
    }
    t->end = p->pos;
    return ok;
}
