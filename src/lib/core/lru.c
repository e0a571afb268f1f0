/* lru.c - bounded map with least-recently-used eviction (see lru.h). Hash buckets (a power of
 * two at least the capacity, chained) plus one doubly linked list in use order. */
#include "core/lru.h"

#include <stdlib.h>
#include <string.h>

typedef struct att_lru_node {
    struct att_lru_node *hnext;       /* bucket chain */
    struct att_lru_node *prev, *next; /* use order: head is the most recent */
    uint8_t key[32];
    uint64_t tag;
    void *val;
} att_lru_node_t;

struct att_lru {
    att_lru_node_t **buckets;
    size_t nbuckets, cap, n;
    att_lru_node_t *head, *tail;
    uint64_t hits, misses, evictions;
};

static size_t att_lru_nbuckets(size_t capacity)
{
    size_t nb = 16;
    while (nb < capacity && nb <= SIZE_MAX / 2)
        nb *= 2;
    return nb;
}

size_t att_lru_bytes(size_t capacity)
{
    return sizeof(att_lru_t) + att_lru_nbuckets(capacity) * sizeof(att_lru_node_t *) +
           capacity * sizeof(att_lru_node_t);
}

att_lru_t *att_lru_new(size_t capacity)
{
    if (capacity == 0 || capacity > SIZE_MAX / 2 / sizeof(att_lru_node_t))
        return NULL;
    att_lru_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->nbuckets = att_lru_nbuckets(capacity);
    l->buckets = calloc(l->nbuckets, sizeof(*l->buckets));
    if (l->buckets == NULL) {
        free(l);
        return NULL;
    }
    l->cap = capacity;
    return l;
}

void att_lru_free(att_lru_t *l, void (*drop)(void *val))
{
    if (l == NULL)
        return;
    for (att_lru_node_t *p = l->head, *next; p != NULL; p = next) {
        next = p->next;
        if (drop != NULL)
            drop(p->val);
        free(p);
    }
    free(l->buckets);
    free(l);
}

static size_t att_lru_bucket(const att_lru_t *l, const uint8_t key[32])
{
    uint64_t h;
    memcpy(&h, key, sizeof h); /* a SHA-256: any 8 bytes are uniform */
    return (size_t)(h & (l->nbuckets - 1));
}

static void att_lru_unlink(att_lru_t *l, att_lru_node_t *p)
{
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        l->head = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    else
        l->tail = p->prev;
    p->prev = p->next = NULL;
}

static void att_lru_push_front(att_lru_t *l, att_lru_node_t *p)
{
    p->prev = NULL;
    p->next = l->head;
    if (l->head != NULL)
        l->head->prev = p;
    l->head = p;
    if (l->tail == NULL)
        l->tail = p;
}

static att_lru_node_t **att_lru_slot(att_lru_t *l, const uint8_t key[32], uint64_t tag)
{
    att_lru_node_t **pp = &l->buckets[att_lru_bucket(l, key)];
    while (*pp != NULL && ((*pp)->tag != tag || memcmp((*pp)->key, key, 32) != 0))
        pp = &(*pp)->hnext;
    return pp;
}

void *att_lru_get(att_lru_t *l, const uint8_t key[32], uint64_t tag)
{
    att_lru_node_t *p = *att_lru_slot(l, key, tag);
    if (p == NULL) {
        l->misses++;
        return NULL;
    }
    l->hits++;
    if (l->head != p) {
        att_lru_unlink(l, p);
        att_lru_push_front(l, p);
    }
    return p->val;
}

void *att_lru_peek_any(const att_lru_t *l, const uint8_t key[32])
{
    for (att_lru_node_t *p = l->buckets[att_lru_bucket(l, key)]; p != NULL; p = p->hnext)
        if (memcmp(p->key, key, 32) == 0)
            return p->val;
    return NULL;
}

void *att_lru_put(att_lru_t *l, const uint8_t key[32], uint64_t tag, void *val)
{
    att_lru_node_t **pp = att_lru_slot(l, key, tag);
    if (*pp != NULL) { /* the same key again (another thread verified it meanwhile) */
        att_lru_node_t *p = *pp;
        void *old = p->val;
        p->val = val;
        att_lru_unlink(l, p);
        att_lru_push_front(l, p);
        return old;
    }
    void *out = NULL;
    att_lru_node_t *p;
    if (l->n == l->cap) { /* full: the least recently used node is reused for the new key */
        p = l->tail;
        att_lru_unlink(l, p);
        att_lru_node_t **tp = att_lru_slot(l, p->key, p->tag);
        *tp = p->hnext;
        out = p->val;
        l->evictions++;
        l->n--;
        pp = att_lru_slot(l, key, tag); /* the bucket chain may have changed */
    } else if ((p = malloc(sizeof(*p))) == NULL) {
        return val;
    }
    memcpy(p->key, key, 32);
    p->tag = tag;
    p->val = val;
    p->hnext = NULL;
    *pp = p;
    att_lru_push_front(l, p);
    l->n++;
    return out;
}

void *att_lru_remove(att_lru_t *l, const uint8_t key[32], uint64_t tag)
{
    att_lru_node_t **pp = att_lru_slot(l, key, tag), *p = *pp;
    if (p == NULL)
        return NULL;
    *pp = p->hnext;
    att_lru_unlink(l, p);
    void *val = p->val;
    free(p);
    l->n--;
    return val;
}

void att_lru_stats(const att_lru_t *l, att_lru_stats_t *out)
{
    out->hits = l->hits;
    out->misses = l->misses;
    out->evictions = l->evictions;
    out->entries = l->n;
    out->capacity = l->cap;
}
