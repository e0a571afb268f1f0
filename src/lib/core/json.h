/* json.h - JSON text into jansson values, fast.
 *
 * att_json_loadb(p, len, flags, err) returns what json_loadb(p, len, flags, err) returns - the
 * same values, member order, duplicate handling and, on failure, jansson's own error - but reads
 * the text with simdjson (Debian's libsimdjson) and builds the jansson tree from simdjson's
 * parse: about ten times faster than jansson's own reader on the 3 - 8 kB documents of the hot
 * paths (token claims at the relying party, attest request bodies). docs/performance.md has the
 * figures.
 *
 * How the result stays jansson's: whenever the document holds something where the two readers
 * could differ - an integer beyond int64 (jansson refuses it), "\u0000" in a string or a key
 * (refused without JSON_ALLOW_NUL), a duplicate key under JSON_REJECT_DUPLICATES, a top-level
 * scalar without JSON_DECODE_ANY, nesting deeper than simdjson's 1024 levels, any simdjson
 * error, or a flag other than JSON_REJECT_DUPLICATES and JSON_DECODE_ANY - the text is handed to
 * json_loadb as it is, so jansson decides and writes the error. tests/unit/core/test_json.c
 * and tests/fuzz/fuzz_json.c (differential: every input through both readers) hold it to that.
 *
 * Thread-safe: each thread keeps one simdjson parser for documents up to 16 kB (its memory,
 * about 14 bytes per byte of the largest document read, stays with the thread); larger ones get
 * a parser of their own that is freed before returning.
 */
#ifndef ATT_CORE_JSON_H
#define ATT_CORE_JSON_H

#include <stddef.h>

#include <jansson.h>

#ifdef __cplusplus
#define ATT_NOEXCEPT noexcept
extern "C" {
#else
#define ATT_NOEXCEPT
#endif

json_t *att_json_loadb(const char *p, size_t len, size_t flags, json_error_t *err) ATT_NOEXCEPT;

#ifdef __cplusplus
}
#endif
#endif
