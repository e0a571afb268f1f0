/* log.h - attestd's process log: one JSON object per line on stderr (or the stream given).
 *
 *   att_log_setup(ATT_LOG_INFO, NULL);                       // once, at start-up
 *   att_log(ATT_LOG_WARN, "collateral for %s is stale", fmspc);
 *   att_log_json(ATT_LOG_INFO, "request", extra);            // {"time","level","msg", ...extra}
 *
 * Lines are written whole under the stream's lock, so lines from several threads never mix.
 * Text that is not UTF-8 is logged with bytes outside printable ASCII as '?'. Not checked here:
 * what a caller puts in a line (never bodies, keys or tokens).
 */
#ifndef ATTESTD_LOG_H
#define ATTESTD_LOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

typedef enum {
    ATT_LOG_DEBUG = 0,
    ATT_LOG_INFO = 1,
    ATT_LOG_WARN = 2,
    ATT_LOG_ERROR = 3,
} att_log_level_t;

/* Process-wide: lines below `level` are dropped; `f` NULL means stderr. */
void att_log_setup(att_log_level_t level, FILE *f);
/* True when a line at `level` would be written (to skip building one that would not). */
bool att_log_enabled(att_log_level_t level);
/* "debug", "info", "warn", "error" (also "warning"); false if unknown. */
bool att_log_level_parse(const char *s, att_log_level_t *out);
/* {"time":"...Z","level":"info","msg":"..."} plus the fields of `extra` (borrowed, may be NULL).
 * Never pass bodies, keys or tokens. */
void att_log_json(att_log_level_t level, const char *msg, json_t *extra);
/* The wall clock as RFC 3339 UTC with milliseconds (2026-11-23T04:40:24.123Z), as logs use. */
void att_now_rfc3339(char buf[40]);
void att_log(att_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string for text that may not be UTF-8 (paths, messages quoting client input): when the
 * text is not valid UTF-8, bytes outside printable ASCII become '?'. NULL is "". New reference,
 * NULL only when out of memory. */
json_t *att_log_jstr(const char *text);
/* text with the secrets of the URLs in it hidden: user:password@ becomes ***@, the values of
 * query parameters whose names hold key, token, secret, pass, sig or auth become ***. Written
 * into out (n bytes, truncated); returns out. */
const char *att_log_redact_urls(const char *text, char *out, size_t n);

#endif
