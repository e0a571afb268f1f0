/* attest/types.h - basic types shared by every libattest module.
 *
 *   att_time_t now;
 *   if (att_time_parse("2025-07-01T00:00:00Z", &now) != ATT_OK) ...
 *   char buf[ATT_TIME_STRLEN];
 *   att_time_format(now, buf);     // "2025-07-01T00:00:00Z"
 *
 * Time is always passed in by the caller: no verification function reads the clock.
 */
#ifndef ATTEST_TYPES_H
#define ATTEST_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "attest/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds since 1970-01-01T00:00:00Z (UTC). */
typedef int64_t att_time_t;
#define ATT_TIME_STRLEN 32

/* A borrowed byte range. */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} att_slice_t;

/* Parse RFC 3339 / ISO 8601 UTC or offset time ("2025-07-01T00:00:00Z",
 * "2025-07-01T00:00:00.123+02:00"); fractional seconds are truncated. */
ATT_API att_err_t att_time_parse(const char *s, att_time_t *out) ATT_WUR;
/* Format as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least ATT_TIME_STRLEN bytes); returns buf. */
ATT_API char *att_time_format(att_time_t t, char *buf);

#ifdef __cplusplus
}
#endif
#endif
