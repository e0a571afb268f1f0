/* audit.c - the audit trail: JSON lines appended with one write(2) each and fsync'd (audit.h). */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

struct att_audit {
    int fd;
    char *path;
    pthread_mutex_t mu; /* one record at a time from this process */
    atomic_ulong failures;
};

att_err_t att_audit_open(const char *path, att_audit_t **out, att_diag_t *d)
{
    *out = NULL;
    if (path == NULL)
        return ATT_OK;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return att_diag_set(d, ATT_E_IO, "audit log %s: %s", path, strerror(errno));
    att_audit_t *a = calloc(1, sizeof(*a));
    if (a == NULL || (a->path = strdup(path)) == NULL) {
        free(a);
        close(fd);
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    a->fd = fd;
    pthread_mutex_init(&a->mu, NULL);
    *out = a;
    return ATT_OK;
}

void att_audit_close(att_audit_t *a)
{
    if (a == NULL)
        return;
    close(a->fd);
    pthread_mutex_destroy(&a->mu);
    free(a->path);
    free(a);
}

json_t *att_audit_event(const char *event)
{
    char t[40];
    att_now_rfc3339(t);
    return json_pack("{s:s, s:s}", "time", t, "event", event);
}

/* The whole line in one write(2): O_APPEND makes it atomic against other appenders. */
static bool att_audit_append(att_audit_t *a, const char *line, size_t len)
{
    ssize_t n;
    do
        n = write(a->fd, line, len);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len && fsync(a->fd) == 0;
}

bool att_audit_write(att_audit_t *a, json_t *ev)
{
    if (a == NULL || ev == NULL) {
        json_decref(ev);
        return a == NULL;
    }
    char *text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t len = text ? strlen(text) : 0;
    char *line = text ? realloc(text, len + 2) : NULL;
    bool ok = false;
    int err = ENOMEM;
    if (line != NULL) {
        line[len] = '\n';
        line[len + 1] = '\0';
        pthread_mutex_lock(&a->mu);
        errno = 0;
        ok = att_audit_append(a, line, len + 1);
        err = errno;
        if (!ok)
            a->failures++;
        pthread_mutex_unlock(&a->mu);
    } else {
        free(text);
    }
    if (!ok) {
        json_t *x = json_pack("{s:s, s:s, s:O}", "audit_log", a->path, "error",
                              err ? strerror(err) : "short write", "record", ev);
        att_log_json(ATT_LOG_ERROR, "audit record not written", x);
        json_decref(x);
    }
    free(line);
    json_decref(ev);
    return ok;
}

unsigned long att_audit_failures(att_audit_t *a)
{
    return a ? atomic_load(&a->failures) : 0;
}
