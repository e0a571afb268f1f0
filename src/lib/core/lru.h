/* lru.h - a bounded map with least-recently-used eviction, for the caches that evidence from
 * outside can fill (PCK chains per platform, SEV-SNP certificates per chip, TPM AKs).
 *
 *   att_lru_t *l = att_lru_new(capacity);              // NULL when capacity is 0 or no memory
 *   uint8_t k[32]; att_sha256_2(bytes, n, NULL, 0, k); // keys: SHA-256 of what identifies it
 *   pthread_mutex_lock(&mu);                           // the map itself takes no lock
 *   void *v = att_lru_get(l, k, tag);                  // a hit moves it to the front
 *   void *evicted = v ? NULL : att_lru_put(l, k, tag, mine);
 *   pthread_mutex_unlock(&mu);
 *   drop(evicted);                                     // the caller frees what left the map
 *   att_lru_free(l, drop);
 *
 * A key is a 32-byte digest plus a 64-bit tag (e.g. the collateral an entry was checked
 * against); entries with the same digest and different tags are distinct. The digest must be a
 * collision-resistant hash of attacker-chosen bytes (SHA-256): its first bytes pick the bucket,
 * so buckets stay short whatever the input. Lookups are O(1) on average; memory is
 * att_lru_bytes(capacity) for the map plus the values. Not thread-safe: callers lock.
 */
#ifndef ATT_CORE_LRU_H
#define ATT_CORE_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct att_lru att_lru_t;

typedef struct {
    uint64_t hits, misses, evictions;
    size_t entries, capacity;
} att_lru_stats_t;

att_lru_t *att_lru_new(size_t capacity);
/* Frees the map, calling drop (may be NULL) on every value still held. */
void att_lru_free(att_lru_t *l, void (*drop)(void *val));
/* The value under (key, tag), made the most recently used; NULL when absent. Counts a hit or a
 * miss. */
void *att_lru_get(att_lru_t *l, const uint8_t key[32], uint64_t tag);
/* The value of any entry with this digest (whatever its tag), without counting or reordering:
 * for a read-only question about the key ("which FMSPC is this chain?"). */
void *att_lru_peek_any(const att_lru_t *l, const uint8_t key[32]);
/* Insert (key, tag) -> val as the most recently used. Returns what left the map for the caller
 * to drop outside its lock: the previous value under the same key (replaced), else the least
 * recently used value when the map was full (an eviction, counted), else NULL. When memory for
 * the entry cannot be had, val itself is returned (not kept). */
void *att_lru_put(att_lru_t *l, const uint8_t key[32], uint64_t tag, void *val);
/* Take (key, tag) out of the map (not counted as an eviction): its value, or NULL. */
void *att_lru_remove(att_lru_t *l, const uint8_t key[32], uint64_t tag);
void att_lru_stats(const att_lru_t *l, att_lru_stats_t *out);
/* The map's own bytes at this capacity when full (buckets and entries, not the values). */
size_t att_lru_bytes(size_t capacity);

#endif
