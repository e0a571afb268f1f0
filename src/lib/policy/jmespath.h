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

#endif
