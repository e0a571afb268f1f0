/* metrics.c - Prometheus-style metrics registry (see metrics.h). */
#include "metrics.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/util.h"

#define ATT_METRICS_MAX_LABELS 8
/* Series per family. Label values must come from bounded sets (callers map anything else to
 * "other"); this cap is the backstop when one does not: past it, new label sets are counted in
 * one series (the cap's last) whose every label is "other", so memory and /metrics stay bounded. */
#define ATT_METRICS_MAX_SERIES 1000

const double att_metrics_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,    0.25,  0.5,    1,     2.5,  5};
const size_t att_metrics_latency_nbuckets =
    sizeof(att_metrics_latency_buckets) / sizeof(att_metrics_latency_buckets[0]);

typedef enum {
    ATT_MT_COUNTER,
    ATT_MT_GAUGE,
    ATT_MT_HISTOGRAM,
    ATT_MT_GAUGE_FN,
    ATT_MT_COUNTER_FN
} att_mtype_t;

typedef struct att_series {
    struct att_series *next;
    char **values;             /* nlabels strings */
    _Atomic uint64_t u;        /* counter value */
    _Atomic int64_t g;         /* gauge value */
    _Atomic uint64_t sum_bits; /* histogram: sum as double bits */
    _Atomic uint64_t count;    /* histogram: observations */
    _Atomic uint64_t *buckets; /* histogram: nbounds + 1 (non-cumulative) */
} att_series_t;

struct att_metric {
    struct att_metric *next;
    att_mtype_t type;
    char *name;
    char *help;
    size_t nlabels;
    char **labels;
    double *bounds;
    size_t nbounds;
    double (*fn)(void *);
    void *fn_arg;
    pthread_rwlock_t lock; /* guards the series list */
    att_series_t *series, **tail;
    size_t nseries;
};

#define ATT_METRICS_MAX_HOOKS 8

struct att_metrics {
    pthread_mutex_t lock; /* guards the family list and the hooks */
    att_metric_t *families, **tail;
    struct {
        void (*fn)(void *);
        void *arg;
    } hooks[ATT_METRICS_MAX_HOOKS];
    size_t nhooks;
};

att_metrics_t *att_metrics_new(void)
{
    att_metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->tail = &m->families;
    return m;
}

static void att_series_free(att_series_t *s, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        free(s->values[i]);
    free(s->values);
    free((void *)s->buckets);
    free(s);
}

static void att_family_free(att_metric_t *f)
{
    att_series_t *s = f->series;
    while (s) {
        att_series_t *n = s->next;
        att_series_free(s, f->nlabels);
        s = n;
    }
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->labels);
    free(f->bounds);
    free(f->name);
    free(f->help);
    pthread_rwlock_destroy(&f->lock);
    free(f);
}

void att_metrics_free(att_metrics_t *m)
{
    if (!m)
        return;
    att_metric_t *f = m->families;
    while (f) {
        att_metric_t *n = f->next;
        att_family_free(f);
        f = n;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static bool att_valid_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool att_same_shape(const att_metric_t *f, att_mtype_t type, size_t nlabels,
                           const char *const labels[])
{
    if (f->type != type || f->nlabels != nlabels)
        return false;
    for (size_t i = 0; i < nlabels; i++)
        if (strcmp(f->labels[i], labels[i]))
            return false;
    return true;
}

static att_metric_t *att_register(att_metrics_t *m, att_mtype_t type, const char *name,
                                  const char *help, size_t nlabels, const char *const labels[],
                                  const double *bounds, size_t nbounds)
{
    if (!m || !att_valid_name(name) || nlabels > ATT_METRICS_MAX_LABELS || (nlabels && !labels))
        return NULL;
    for (size_t i = 0; i < nlabels; i++)
        if (!att_valid_name(labels[i]) || !strcmp(labels[i], "le"))
            return NULL;
    for (size_t i = 1; i < nbounds; i++)
        if (!(bounds[i] > bounds[i - 1]))
            return NULL;
    pthread_mutex_lock(&m->lock);
    att_metric_t *f;
    for (f = m->families; f; f = f->next)
        if (!strcmp(f->name, name))
            break;
    if (f) {
        if (!att_same_shape(f, type, nlabels, labels))
            f = NULL;
        pthread_mutex_unlock(&m->lock);
        return f;
    }
    f = calloc(1, sizeof(*f));
    if (!f)
        goto out;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->nlabels = nlabels;
    f->labels = calloc(nlabels ? nlabels : 1, sizeof(char *));
    f->nbounds = nbounds;
    f->bounds = calloc(nbounds ? nbounds : 1, sizeof(double));
    pthread_rwlock_init(&f->lock, NULL);
    f->tail = &f->series;
    bool ok = f->name && f->help && f->labels && f->bounds;
    for (size_t i = 0; ok && i < nlabels; i++)
        ok = (f->labels[i] = strdup(labels[i])) != NULL;
    if (!ok) {
        att_family_free(f);
        f = NULL;
        goto out;
    }
    if (nbounds)
        memcpy(f->bounds, bounds, nbounds * sizeof(double));
    *m->tail = f;
    m->tail = &f->next;
out:
    pthread_mutex_unlock(&m->lock);
    return f;
}

att_metric_t *att_metrics_counter(att_metrics_t *m, const char *name, const char *help,
                                  size_t nlabels, const char *const labels[])
{
    return att_register(m, ATT_MT_COUNTER, name, help, nlabels, labels, NULL, 0);
}

att_metric_t *att_metrics_gauge(att_metrics_t *m, const char *name, const char *help,
                                size_t nlabels, const char *const labels[])
{
    return att_register(m, ATT_MT_GAUGE, name, help, nlabels, labels, NULL, 0);
}

att_metric_t *att_metrics_histogram(att_metrics_t *m, const char *name, const char *help,
                                    size_t nlabels, const char *const labels[],
                                    const double *bounds, size_t nbounds)
{
    if (!bounds && nbounds)
        return NULL;
    return att_register(m, ATT_MT_HISTOGRAM, name, help, nlabels, labels, bounds, nbounds);
}

static att_metric_t *att_register_fn(att_metrics_t *m, att_mtype_t type, const char *name,
                                     const char *help, double (*fn)(void *arg), void *arg)
{
    if (!fn)
        return NULL;
    att_metric_t *f = att_register(m, type, name, help, 0, NULL, NULL, 0);
    if (f) {
        pthread_rwlock_wrlock(&f->lock);
        f->fn = fn;
        f->fn_arg = arg;
        pthread_rwlock_unlock(&f->lock);
    }
    return f;
}

att_metric_t *att_metrics_gauge_fn(att_metrics_t *m, const char *name, const char *help,
                                   double (*fn)(void *arg), void *arg)
{
    return att_register_fn(m, ATT_MT_GAUGE_FN, name, help, fn, arg);
}

att_metric_t *att_metrics_counter_fn(att_metrics_t *m, const char *name, const char *help,
                                     double (*fn)(void *arg), void *arg)
{
    return att_register_fn(m, ATT_MT_COUNTER_FN, name, help, fn, arg);
}

static bool att_values_eq(const att_series_t *s, size_t n, const char *const *values)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], values[i] ? values[i] : ""))
            return false;
    return true;
}

static att_series_t *att_find(att_metric_t *f, const char *const *values)
{
    for (att_series_t *s = f->series; s; s = s->next)
        if (att_values_eq(s, f->nlabels, values))
            return s;
    return NULL;
}

static const char *const att_other[ATT_METRICS_MAX_LABELS] = {"other", "other", "other", "other",
                                                              "other", "other", "other", "other"};

/* The series for these label values, created on first use (past ATT_METRICS_MAX_SERIES, the
 * all-"other" series); NULL when out of memory. */
static att_series_t *att_series(att_metric_t *f, const char *const *values)
{
    pthread_rwlock_rdlock(&f->lock);
    att_series_t *s = att_find(f, values);
    pthread_rwlock_unlock(&f->lock);
    if (s)
        return s;
    pthread_rwlock_wrlock(&f->lock);
    s = att_find(f, values);
    if (!s && f->nseries >= ATT_METRICS_MAX_SERIES - 1) { /* the last one is "other" */
        values = att_other;
        s = att_find(f, values);
    }
    if (s)
        goto out;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto out;
    s->values = calloc(f->nlabels ? f->nlabels : 1, sizeof(char *));
    if (f->type == ATT_MT_HISTOGRAM)
        s->buckets = calloc(f->nbounds + 1, sizeof(*s->buckets));
    bool ok = s->values && (f->type != ATT_MT_HISTOGRAM || s->buckets);
    for (size_t i = 0; ok && i < f->nlabels; i++)
        ok = (s->values[i] = strdup(values[i] ? values[i] : "")) != NULL;
    if (!ok) {
        att_series_free(s, f->nlabels);
        s = NULL;
        goto out;
    }
    *f->tail = s;
    f->tail = &s->next;
    f->nseries++;
out:
    pthread_rwlock_unlock(&f->lock);
    return s;
}

static void att_collect(att_metric_t *f, va_list ap, const char **values)
{
    for (size_t i = 0; i < f->nlabels; i++)
        values[i] = va_arg(ap, const char *);
}

void att_metric_addv(att_metric_t *f, uint64_t n, const char *const *values)
{
    if (!f || f->type != ATT_MT_COUNTER)
        return;
    att_series_t *s = att_series(f, values);
    if (s)
        atomic_fetch_add_explicit(&s->u, n, memory_order_relaxed);
}

void att_metric_add(att_metric_t *f, uint64_t n, ...)
{
    if (!f)
        return;
    const char *values[ATT_METRICS_MAX_LABELS];
    va_list ap;
    va_start(ap, n);
    att_collect(f, ap, values);
    va_end(ap);
    att_metric_addv(f, n, values);
}

void att_metric_inc(att_metric_t *f, ...)
{
    if (!f)
        return;
    const char *values[ATT_METRICS_MAX_LABELS];
    va_list ap;
    va_start(ap, f);
    att_collect(f, ap, values);
    va_end(ap);
    att_metric_addv(f, 1, values);
}

static void att_gauge_update(att_metric_t *f, int64_t v, bool set, const char *const *values)
{
    if (!f || f->type != ATT_MT_GAUGE)
        return;
    att_series_t *s = att_series(f, values);
    if (!s)
        return;
    if (set)
        atomic_store_explicit(&s->g, v, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&s->g, v, memory_order_relaxed);
}

void att_metric_set(att_metric_t *f, int64_t v, ...)
{
    if (!f)
        return;
    const char *values[ATT_METRICS_MAX_LABELS];
    va_list ap;
    va_start(ap, v);
    att_collect(f, ap, values);
    va_end(ap);
    att_gauge_update(f, v, true, values);
}

void att_metric_gauge_add(att_metric_t *f, int64_t d, ...)
{
    if (!f)
        return;
    const char *values[ATT_METRICS_MAX_LABELS];
    va_list ap;
    va_start(ap, d);
    att_collect(f, ap, values);
    va_end(ap);
    att_gauge_update(f, d, false, values);
}

static uint64_t att_dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double att_bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

void att_metric_observev(att_metric_t *f, double v, const char *const *values)
{
    if (!f || f->type != ATT_MT_HISTOGRAM || isnan(v))
        return;
    att_series_t *s = att_series(f, values);
    if (!s)
        return;
    size_t i = 0;
    while (i < f->nbounds && v > f->bounds[i])
        i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&s->sum_bits, &old, att_dbits(att_bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

void att_metric_observe(att_metric_t *f, double v, ...)
{
    if (!f)
        return;
    const char *values[ATT_METRICS_MAX_LABELS];
    va_list ap;
    va_start(ap, v);
    att_collect(f, ap, values);
    va_end(ap);
    att_metric_observev(f, v, values);
}

double att_metric_value(att_metric_t *f, const char *const *values)
{
    if (!f)
        return 0;
    if (f->type == ATT_MT_GAUGE_FN || f->type == ATT_MT_COUNTER_FN)
        return f->fn(f->fn_arg);
    pthread_rwlock_rdlock(&f->lock);
    att_series_t *s = att_find(f, values);
    double v = 0;
    if (s && f->type == ATT_MT_COUNTER)
        v = (double)atomic_load(&s->u);
    else if (s && f->type == ATT_MT_GAUGE)
        v = (double)atomic_load(&s->g);
    else if (s && f->type == ATT_MT_HISTOGRAM)
        v = (double)atomic_load(&s->count);
    pthread_rwlock_unlock(&f->lock);
    return v;
}

/* ---- rendering ---- */

/* The text is built in core's att_buf_t (`failed` sticks: checked once at the end). */

static void att_buf_str(att_buf_t *b, const char *s)
{
    att_buf_put(b, s, strlen(s));
}

static void att_buf_fmt(att_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void att_buf_fmt(att_buf_t *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        att_buf_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms, surrogates or
 * code points past U+10FFFF), 0 when the bytes there are not one. */
static size_t att_utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000;
    else
        return 0;
    unsigned cp = c & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Text in the exposition format (0.0.4): HELP text escapes \ and newline, label values also ".
 * The format is UTF-8 and a scraper rejects the whole scrape over one bad byte, so bytes that are
 * not well-formed UTF-8, and control characters (which the format does not escape), become
 * U+FFFD whatever the caller passed. */
static void att_buf_escaped(att_buf_t *b, const char *str, bool quote)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        size_t n = att_utf8_len(s);
        if (*s == '\\')
            att_buf_str(b, "\\\\");
        else if (*s == '\n')
            att_buf_str(b, "\\n");
        else if (quote && *s == '"')
            att_buf_str(b, "\\\"");
        else if (n == 0 || *s < 0x20 || *s == 0x7f)
            att_buf_str(b, "\xef\xbf\xbd"); /* U+FFFD */
        else
            att_buf_put(b, s, n);
        s += n ? n : 1;
    }
}

static void att_buf_double(att_buf_t *b, double v)
{
    if (isinf(v))
        att_buf_str(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(int64_t)v && fabs(v) < 1e15)
        att_buf_fmt(b, "%lld", (long long)v);
    else
        att_buf_fmt(b, "%.9g", v);
}

/* name{l1="v1",...[,le="x"]} */
static void att_buf_series(att_buf_t *b, const att_metric_t *f, const char *suffix,
                           const att_series_t *s, const char *le)
{
    att_buf_str(b, f->name);
    att_buf_str(b, suffix);
    if (!f->nlabels && !le)
        return;
    att_buf_str(b, "{");
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i)
            att_buf_str(b, ",");
        att_buf_str(b, f->labels[i]);
        att_buf_str(b, "=\"");
        att_buf_escaped(b, s->values[i], true);
        att_buf_str(b, "\"");
    }
    if (le) {
        if (f->nlabels)
            att_buf_str(b, ",");
        att_buf_str(b, "le=\"");
        att_buf_str(b, le);
        att_buf_str(b, "\"");
    }
    att_buf_str(b, "}");
}

static void att_render_family(att_buf_t *b, att_metric_t *f)
{
    static const char *types[] = {"counter", "gauge", "histogram", "gauge", "counter"};
    att_buf_str(b, "# HELP ");
    att_buf_str(b, f->name);
    att_buf_str(b, " ");
    att_buf_escaped(b, f->help, false);
    att_buf_str(b, "\n# TYPE ");
    att_buf_str(b, f->name);
    att_buf_str(b, " ");
    att_buf_str(b, types[f->type]);
    att_buf_str(b, "\n");
    if (f->type == ATT_MT_GAUGE_FN || f->type == ATT_MT_COUNTER_FN) {
        att_buf_str(b, f->name);
        att_buf_str(b, " ");
        att_buf_double(b, f->fn(f->fn_arg));
        att_buf_str(b, "\n");
        return;
    }
    pthread_rwlock_rdlock(&f->lock);
    for (att_series_t *s = f->series; s; s = s->next) {
        if (f->type == ATT_MT_COUNTER || f->type == ATT_MT_GAUGE) {
            att_buf_series(b, f, "", s, NULL);
            if (f->type == ATT_MT_COUNTER)
                att_buf_fmt(b, " %llu\n", (unsigned long long)atomic_load(&s->u));
            else
                att_buf_fmt(b, " %lld\n", (long long)atomic_load(&s->g));
            continue;
        }
        uint64_t cum = 0;
        char le[40];
        for (size_t i = 0; i <= f->nbounds; i++) {
            cum += atomic_load(&s->buckets[i]);
            if (i < f->nbounds)
                snprintf(le, sizeof(le), "%g", f->bounds[i]);
            else
                snprintf(le, sizeof(le), "+Inf");
            att_buf_series(b, f, "_bucket", s, le);
            att_buf_fmt(b, " %llu\n", (unsigned long long)cum);
        }
        att_buf_series(b, f, "_sum", s, NULL);
        att_buf_str(b, " ");
        att_buf_double(b, att_bitsd(atomic_load(&s->sum_bits)));
        att_buf_str(b, "\n");
        att_buf_series(b, f, "_count", s, NULL);
        /* _count is the +Inf bucket, so the two always agree in one scrape. */
        att_buf_fmt(b, " %llu\n", (unsigned long long)cum);
    }
    pthread_rwlock_unlock(&f->lock);
}

void att_metrics_on_render(att_metrics_t *m, void (*fn)(void *arg), void *arg)
{
    if (!m || !fn)
        return;
    pthread_mutex_lock(&m->lock);
    if (m->nhooks < ATT_METRICS_MAX_HOOKS) {
        m->hooks[m->nhooks].fn = fn;
        m->hooks[m->nhooks++].arg = arg;
    }
    pthread_mutex_unlock(&m->lock);
}

/* ---- process_* (the Prometheus client libraries' process collector, Linux /proc) ---- */

typedef struct {
    double cpu_s, start_s, rss, vsize;
    bool ok;
} att_proc_stat_t;

/* /proc/self/stat fields 14-15 (utime, stime), 22 (starttime, ticks after boot), 23 (vsize,
 * bytes), 24 (rss, pages); the start time adds /proc/stat's btime. */
static att_proc_stat_t att_proc_stat(void)
{
    att_proc_stat_t st = {0};
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p)
        return st;
    unsigned long long v[24] = {0}; /* v[i]: field i + 3 */
    int k = 0;
    for (char *t = p + 1; k < 22 && *t;) {
        while (*t == ' ')
            t++;
        if (*t == 0)
            break;
        if (k == 0) { /* field 3: the state letter */
            while (*t && *t != ' ')
                t++;
            k++;
            continue;
        }
        char *end;
        v[k++] = strtoull(t, &end, 10);
        if (end == t)
            return st;
        t = end;
    }
    if (k < 22)
        return st;
    double hz = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
    st.cpu_s = (double)(v[11] + v[12]) / hz;
    st.vsize = (double)v[20];
    st.rss = (double)v[21] * page;
    double btime = 0;
    FILE *s = fopen("/proc/stat", "r");
    char line[256];
    while (s && fgets(line, sizeof line, s))
        if (strncmp(line, "btime ", 6) == 0) {
            btime = strtod(line + 6, NULL);
            break;
        }
    if (s)
        fclose(s);
    st.start_s = btime + (double)v[19] / hz;
    st.ok = true;
    return st;
}

static double att_proc_cpu(void *arg)
{
    (void)arg;
    return att_proc_stat().cpu_s;
}

static double att_proc_rss(void *arg)
{
    (void)arg;
    return att_proc_stat().rss;
}

static double att_proc_vsize(void *arg)
{
    (void)arg;
    return att_proc_stat().vsize;
}

static double att_proc_start(void *arg)
{
    (void)arg;
    return att_proc_stat().start_s;
}

static double att_proc_open_fds(void *arg)
{
    (void)arg;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static double att_proc_max_fds(void *arg)
{
    (void)arg;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    return rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur;
}

void att_metrics_process(att_metrics_t *m)
{
    att_metrics_counter_fn(m, "process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.", att_proc_cpu, NULL);
    att_metrics_gauge_fn(m, "process_resident_memory_bytes", "Resident memory size in bytes.",
                         att_proc_rss, NULL);
    att_metrics_gauge_fn(m, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                         att_proc_vsize, NULL);
    att_metrics_gauge_fn(m, "process_start_time_seconds",
                         "Start time of the process since unix epoch in seconds.", att_proc_start,
                         NULL);
    att_metrics_gauge_fn(m, "process_open_fds", "Number of open file descriptors.",
                         att_proc_open_fds, NULL);
    att_metrics_gauge_fn(m, "process_max_fds", "Maximum number of open file descriptors.",
                         att_proc_max_fds, NULL);
}

char *att_metrics_render(att_metrics_t *m)
{
    att_buf_t b = {0};
    att_buf_put(&b, "", 0);
    if (m) {
        pthread_mutex_lock(&m->lock);
        size_t nh = m->nhooks;
        pthread_mutex_unlock(&m->lock);
        for (size_t i = 0; i < nh; i++) /* hooks are only appended: the first nh stay */
            m->hooks[i].fn(m->hooks[i].arg);
        pthread_mutex_lock(&m->lock);
        for (att_metric_t *f = m->families; f; f = f->next)
            att_render_family(&b, f);
        pthread_mutex_unlock(&m->lock);
    }
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return (char *)b.p;
}
