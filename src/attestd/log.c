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

/* Is this query parameter name one whose value is a secret? */
static bool att_secret_param(const char *name, size_t n)
{
    static const char *const words[] = {"key", "token", "secret", "pass", "sig", "auth", NULL};
    char low[64];
    if (n >= sizeof low)
        n = sizeof low - 1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    low[n] = 0;
    for (size_t i = 0; words[i]; i++)
        if (strstr(low, words[i]))
            return true;
    return false;
}

const char *att_log_redact_urls(const char *in, char *out, size_t n)
{
    if (!out || n == 0)
        return "";
    size_t o = 0;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        char c_ = (c); /* evaluated whether or not it fits: PUT(*p++) always advances */           \
        if (o + 1 < n)                                                                             \
            out[o++] = c_;                                                                         \
    } while (0)
#define PUTS(s)                                                                                    \
    do {                                                                                           \
        for (const char *q_ = (s); *q_; q_++)                                                      \
            PUT(*q_);                                                                              \
    } while (0)
    const char *p = in ? in : "";
    while (*p) {
        const char *sch = strstr(p, "://");
        if (!sch) {
            PUTS(p);
            break;
        }
        while (p < sch + 3)
            PUT(*p++);
        /* the URL runs to white space, a quote or the end */
        size_t len = strcspn(p, " \t\r\n\"'<>");
        const char *end = p + len;
        const char *slash = memchr(p, '/', len);
        const char *auth_end = slash ? slash : end;
        const char *at = NULL;
        for (const char *q = p; q < auth_end; q++)
            if (*q == '@')
                at = q;
        if (at) { /* user:password@ */
            PUTS("***@");
            p = at + 1;
        }
        const char *qm = memchr(p, '?', (size_t)(end - p));
        while (p < (qm ? qm + 1 : end))
            PUT(*p++);
        while (qm && p < end) { /* name=value pairs, '&'-separated, up to a '#' */
            if (*p == '#')
                break;
            size_t plen = strcspn(p, "&#");
            if (plen > (size_t)(end - p))
                plen = (size_t)(end - p);
            const char *pe = p + plen, *eq = memchr(p, '=', plen);
            bool secret = eq && att_secret_param(p, (size_t)(eq - p));
            while (p < (secret ? eq + 1 : pe))
                PUT(*p++);
            if (secret) {
                PUTS("***");
                p = pe;
            }
            if (p < end && *p == '&')
                PUT(*p++);
        }
        while (p < end)
            PUT(*p++);
    }
    out[o] = 0;
#undef PUT
#undef PUTS
    return out;
}
