/* metrics.h - counters, gauges and histograms rendered in the Prometheus text format (0.0.4).
 *
 *   att_metrics_t *m = att_metrics_new();
 *   const char *lbl[] = {"cache", "result"};
 *   att_metric_t *hits = att_metrics_counter(m, "attestd_cache_lookups_total",
 *                                            "Cache lookups by cache and result", 2, lbl);
 *   att_metric_inc(hits, "collateral", "hit");          // one value per label, in order
 *   char *text = att_metrics_render(m);                // "# HELP ...\n# TYPE ...\n..."
 *   free(text);
 *   att_metrics_free(m);
 *
 * A family (name, help, type, label names) is registered once; registering the same name again
 * returns the same family (type and labels must agree, else NULL). Series (one per set of label
 * values) are created on first use. Updates are lock-free atomics once a series exists; creating
 * a series takes a write lock. Every function is safe to call from many threads. Families live
 * until att_metrics_free. Label values and HELP text are rendered as valid exposition text
 * whatever they hold: \, " and newline escaped, bytes that are not well-formed UTF-8 and other
 * control characters replaced by U+FFFD. Callers must use bounded label values (route patterns,
 * not raw paths; known methods, else "other"); as a backstop a family holds at most 1000 series,
 * the last of them "other" in every label, which takes every later new label set.
 * Not checked here: metric and label names beyond [a-zA-Z_:][a-zA-Z0-9_:]*.
 */
#ifndef ATTESTD_METRICS_H
#define ATTESTD_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct att_metrics att_metrics_t;
typedef struct att_metric att_metric_t;

/* Latency buckets in seconds used by attestd's request histogram: 0.5 ms .. 5 s. */
extern const double att_metrics_latency_buckets[];
extern const size_t att_metrics_latency_nbuckets;

att_metrics_t *att_metrics_new(void);
void att_metrics_free(att_metrics_t *m);

/* Register (or find) a family. nlabels may be 0 (labels NULL). NULL on bad arguments or a
 * clash with an existing family of another type or label set. */
att_metric_t *att_metrics_counter(att_metrics_t *m, const char *name, const char *help,
                                  size_t nlabels, const char *const labels[]);
att_metric_t *att_metrics_gauge(att_metrics_t *m, const char *name, const char *help,
                                size_t nlabels, const char *const labels[]);
/* bounds: strictly increasing upper bounds (the +Inf bucket is implicit). */
att_metric_t *att_metrics_histogram(att_metrics_t *m, const char *name, const char *help,
                                    size_t nlabels, const char *const labels[],
                                    const double *bounds, size_t nbounds);
/* A gauge without labels whose value is read from fn(arg) at render time (in-flight requests,
 * cache sizes, ...). fn must be thread-safe and must not call back into this registry. */
att_metric_t *att_metrics_gauge_fn(att_metrics_t *m, const char *name, const char *help,
                                   double (*fn)(void *arg), void *arg);

/* A counter without labels read from fn(arg) at render time: for counts kept elsewhere (a
 * module's own statistics struct). Same rules as att_metrics_gauge_fn. */
att_metric_t *att_metrics_counter_fn(att_metrics_t *m, const char *name, const char *help,
                                     double (*fn)(void *arg), void *arg);

/* Updates. The variadic forms take exactly as many `const char *` label values as the family
 * has labels (a NULL value renders as ""). A NULL family is ignored, so callers need not check
 * registration results. */
void att_metric_add(att_metric_t *f, uint64_t n, ...);      /* counter += n */
void att_metric_inc(att_metric_t *f, ...);                  /* counter += 1 */
void att_metric_set(att_metric_t *f, int64_t v, ...);       /* gauge = v */
void att_metric_gauge_add(att_metric_t *f, int64_t d, ...); /* gauge += d (may be negative) */
void att_metric_observe(att_metric_t *f, double v, ...);    /* histogram */
/* Array forms (values has the family's label count). */
void att_metric_addv(att_metric_t *f, uint64_t n, const char *const *values);
void att_metric_observev(att_metric_t *f, double v, const char *const *values);

/* A function called at the start of every att_metrics_render, before anything is read, to set
 * gauges whose values are computed (ages, times to expiry); at most 8. fn must not render. */
void att_metrics_on_render(att_metrics_t *m, void (*fn)(void *arg), void *arg);
/* The process_* metrics of Prometheus's client libraries, read from /proc/self at render time:
 * process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_start_time_seconds, process_open_fds, process_max_fds. */
void att_metrics_process(att_metrics_t *m);

/* Current value of a counter or gauge series (0 when absent): for tests and health logic. */
double att_metric_value(att_metric_t *f, const char *const *values);

/* The whole registry in Prometheus text format, families in registration order, series in
 * creation order. malloc'd; NULL when out of memory. */
char *att_metrics_render(att_metrics_t *m);

#endif
