/* log.c - attestd's process log (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static _Atomic int att_log_min = ATT_LOG_INFO;
static FILE *att_log_file; /* NULL = stderr */

static const char *const att_log_names[] = {"debug", "info", "warn", "error"};

void att_log_setup(att_log_level_t level, FILE *f)
{
    atomic_store(&att_log_min, (int)level);
    att_log_file = f;
}

bool att_log_enabled(att_log_level_t level)
{
    return (int)level >= atomic_load(&att_log_min);
}

bool att_log_level_parse(const char *s, att_log_level_t *out)
{
    if (!s)
        return false;
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, att_log_names[i])) {
            *out = (att_log_level_t)i;
            return true;
        }
    if (!strcasecmp(s, "warning")) {
        *out = ATT_LOG_WARN;
        return true;
    }
    return false;
}

void att_now_rfc3339(char buf[40])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 40 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void att_log_json(att_log_level_t level, const char *msg, json_t *extra)
{
    if ((int)level < atomic_load(&att_log_min) || level > ATT_LOG_ERROR)
        return;
    char t[40];
    att_now_rfc3339(t);
    json_t *o = json_pack("{s:s, s:s, s:o*}", "time", t, "level", att_log_names[level], "msg",
                          att_log_jstr(msg));
    if (!o)
        return;
    if (extra)
        json_object_update(o, extra);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (!line)
        return;
    FILE *f = att_log_file ? att_log_file : stderr;
    flockfile(f);
    fputs(line, f);
    fputc('\n', f);
    fflush(f);
    funlockfile(f);
    free(line);
}

void att_log(att_log_level_t level, const char *fmt, ...)
{
    if ((int)level < atomic_load(&att_log_min))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    att_log_json(level, msg, NULL);
}

/* A JSON string for text that may not be UTF-8 (paths, messages quoting client input): bytes
 * outside printable ASCII become '?' when the text is not valid UTF-8. */
json_t *att_log_jstr(const char *text)
{
    json_t *j = json_string(text ? text : "");
    if (j)
        return j;
    char *copy = strdup(text);
    if (!copy)
        return NULL;
    for (unsigned char *p = (unsigned char *)copy; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}
