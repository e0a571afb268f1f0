/* bench_common.h - what the verification benches share: die() (the name of the bench, then the
 * message, exit 1), a monotonic clock in seconds, and a non-negative number from the environment.
 * Define BENCH_NAME ("bench_dcap") before including it. Header-only: each bench is one file. */
#ifndef ATT_BENCH_COMMON_H
#define ATT_BENCH_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef BENCH_NAME
#error "define BENCH_NAME before including bench_common.h"
#endif

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(BENCH_NAME ": FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double env_double(const char *name, double dflt)
{
    const char *v = getenv(name);
    if (v == NULL || *v == 0)
        return dflt;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno != 0 || *end != 0 || d < 0)
        die("bad %s=%s", name, v);
    return d;
}

#endif
