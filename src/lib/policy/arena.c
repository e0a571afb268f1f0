/* arena.c - bump allocator for the policy engine: one arena per compiled policy, one per
 * evaluation; everything is freed at once, JSON references included. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_int.h"

struct att_pol_block {
    att_pol_block_t *next;
    max_align_t data[];
};

#define ATT_POL_ALIGN  (sizeof(max_align_t))
#define ATT_POL_BLOCK0 4096

void att_pol_arena_init(att_pol_arena_t *a, void *buf, size_t size, size_t limit)
{
    memset(a, 0, sizeof(*a));
    a->limit = limit;
    if (buf != NULL && size >= ATT_POL_ALIGN) {
        uintptr_t p = ((uintptr_t)buf + ATT_POL_ALIGN - 1) & ~(uintptr_t)(ATT_POL_ALIGN - 1);
        a->cur = (char *)p;
        a->end = (char *)buf + size;
    }
}

void att_pol_arena_free(att_pol_arena_t *a)
{
    for (size_t i = 0; i < a->njrefs; i++)
        json_decref(a->jrefs[i]);
    free(a->jrefs);
    att_pol_block_t *b = a->blocks;
    while (b != NULL) {
        att_pol_block_t *next = b->next;
        free(b);
        b = next;
    }
    memset(a, 0, sizeof(*a));
}

/* ---- work budget ------------------------------------------------------------------------ */

void att_pol_budget_init(att_pol_budget_t *b, const att_policy_eval_opts_t *opts)
{
    memset(b, 0, sizeof(*b));
    b->max_steps = opts && opts->max_steps ? opts->max_steps : ATT_POLICY_DEFAULT_MAX_STEPS;
    b->max_bytes = opts && opts->max_bytes ? opts->max_bytes : ATT_POLICY_DEFAULT_MAX_BYTES;
    b->cancelled = opts ? opts->cancelled : NULL;
    b->cancel_arg = opts ? opts->cancel_arg : NULL;
    b->next_poll = 0; /* the first step asks: a stopping service starts no evaluation */
}

bool att_pol_spend_slow(att_pol_budget_t *b, uint64_t n)
{
    if (b->err != ATT_OK)
        return false;
    b->steps = n > UINT64_MAX - b->steps ? UINT64_MAX : b->steps + n;
    if (b->steps > b->max_steps) {
        b->err = ATT_E_POLICY_BUDGET;
        b->what = "steps";
        return false;
    }
    if (b->steps >= b->next_poll) {
        b->next_poll = b->steps + ATT_POL_POLL_STEPS;
        if (b->cancelled != NULL && b->cancelled(b->cancel_arg)) {
            b->err = ATT_E_CANCELLED;
            b->what = "cancelled";
            return false;
        }
    }
    return true;
}

bool att_pol_charge(att_pol_budget_t *b, size_t n)
{
    if (b->err != ATT_OK)
        return false;
    b->bytes = n > SIZE_MAX - b->bytes ? SIZE_MAX : b->bytes + n;
    if (b->bytes > b->max_bytes) {
        b->err = ATT_E_POLICY_BUDGET;
        b->what = "bytes";
        return false;
    }
    return true;
}

/* ---- arena ------------------------------------------------------------------------------ */

void *att_pol_alloc(att_pol_arena_t *a, size_t n)
{
    if (a->failed)
        return NULL;
    if (a->budget != NULL && !att_pol_charge(a->budget, n))
        goto fail;
    size_t need = (n + ATT_POL_ALIGN - 1) & ~(ATT_POL_ALIGN - 1);
    if (need < n)
        goto fail;
    if (a->cur != NULL && (size_t)(a->end - a->cur) >= need) {
        void *p = a->cur;
        a->cur += need;
        return p;
    }
    size_t bsize = ATT_POL_BLOCK0;
    if (a->total > bsize)
        bsize = a->total; /* grow geometrically */
    if (bsize < need)
        bsize = need;
    if (a->limit != 0 && a->total + bsize > a->limit) {
        if (a->total + need > a->limit)
            goto fail;
        bsize = need;
    }
    att_pol_block_t *b = malloc(sizeof(*b) + bsize);
    if (b == NULL)
        goto fail;
    b->next = a->blocks;
    a->blocks = b;
    a->total += bsize;
    a->cur = (char *)b->data + need;
    a->end = (char *)b->data + bsize;
    return b->data;
fail:
    a->failed = true;
    return NULL;
}

void *att_pol_zalloc(att_pol_arena_t *a, size_t n)
{
    void *p = att_pol_alloc(a, n);
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

char *att_pol_strndup(att_pol_arena_t *a, const char *s, size_t n)
{
    char *p = att_pol_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static char *att_pol_vprintf(att_pol_arena_t *a, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static char *att_pol_vprintf(att_pol_arena_t *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *p = att_pol_alloc(a, (size_t)n + 1);
    if (p != NULL)
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *att_pol_printf(att_pol_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = att_pol_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

json_t *att_pol_keep(att_pol_arena_t *a, json_t *j)
{
    if (j == NULL)
        return NULL;
    if (a->njrefs == a->capjrefs) {
        size_t cap = a->capjrefs ? a->capjrefs * 2 : 16;
        json_t **nr = realloc(a->jrefs, cap * sizeof(*nr));
        if (nr == NULL) {
            json_decref(j);
            a->failed = true;
            return NULL;
        }
        a->jrefs = nr;
        a->capjrefs = cap;
    }
    a->jrefs[a->njrefs++] = j;
    return j;
}

void att_pol_buf_init(att_pol_buf_t *b, att_pol_arena_t *a)
{
    b->a = a;
    b->p = NULL;
    b->len = b->cap = 0;
}

static bool att_pol_buf_reserve(att_pol_buf_t *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap * 2 : 128;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *np = att_pol_alloc(b->a, cap);
    if (np == NULL)
        return false;
    if (b->len)
        memcpy(np, b->p, b->len);
    b->p = np;
    b->cap = cap;
    b->p[b->len] = '\0';
    return true;
}

void att_pol_buf_add(att_pol_buf_t *b, const char *s, size_t n)
{
    if (!att_pol_buf_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void att_pol_buf_printf(att_pol_buf_t *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        att_pol_buf_add(b, tmp, (size_t)n);
        return;
    }
    if (!att_pol_buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
