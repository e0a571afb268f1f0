/* bench_dcap.c - DCAP quote verifications per second, one thread, cold and warm.
 *
 *   bench_dcap [--seconds S] [--warmup S] [--vectors DIR] [--only sgx|tdx|ecdsa]
 *              [--path cold|warm|warm-pck-cache] [--iterations N]
 *   env: ATT_BENCH_SECONDS (default 2), ATT_BENCH_WARMUP (default 0.5), ATT_BENCH_VECTORS
 *   The real vector sets are not in the repository: DIR holds dcap/<set>/, by default the flat view
 *   the build made at configure time from ATTESTD_VECTORS or ../shared/vectors (docs/testing.md).
 *
 * For each benchmarked vector set, at its own verification time (expected.json):
 *   cold  each iteration: att_dcap_collateral_new() from the raw collateral bytes (already read
 *         from disk once: no I/O is timed) + att_dcap_verify() + att_dcap_collateral_free().
 *         Collateral is parsed and its signatures checked every time.
 *   warm  the collateral is made once; each iteration is att_dcap_verify() only (collateral
 *         cached per FMSPC, as the server does): the quote's PCK chain is parsed and checked.
 *   warm-pck-cache  as warm, through att_dcap_verify_cached() with a PCK chain cache: after the
 *         first call the chain is a cache hit (the same quote repeats), so only the quote-specific
 *         signatures remain. The server's steady state for a platform it has already seen.
 * Each path warms up, then runs for a fixed wall-time budget measured with CLOCK_MONOTONIC.
 * --path runs that path only; --iterations N runs exactly N timed iterations after one warm-up
 * call instead of the budgets (for instruction counts under valgrind --tool=callgrind, which
 * are stable where the machine's timings are not: docs/performance.md).
 * Every iteration's verdict and status are checked against expected.json: any mismatch aborts the
 * bench with exit status 1, so a broken verifier can never post a figure.
 *
 * Output (stdout), one machine-readable line per path, '#' lines are comments:
 *   dcap sgx cold verifies_per_s=512.3 us_per_verify=1951.9 iterations=1025 seconds=2.001 \
 *       ecdsa_per_quote=10.00                                              (one line)
 *   dcap sgx warm verifies_per_s=... ecdsa_per_quote=3.00
 * ecdsa_per_quote is the library's ECDSA verification counter delta over the timed loop divided
 * by the iterations (att_crypto_ecdsa_verify_count(), crypto/crypto.h): bench/run turns it into
 * the bound.
 * First comes the library's own ECDSA rate, the same primitive timed alone:
 *   ecdsa lib verifies_per_s=21000.0 us_per_verify=47.62
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/dcap.h"
#include "core/util.h"
#include "crypto/crypto.h"

#define BENCH_NAME "bench_dcap"
#include "bench_common.h"

#ifndef ATT_BENCH_VECTORS
#define ATT_BENCH_VECTORS "" /* bench/CMakeLists.txt passes the build's view of the sets */
#endif

typedef struct {
    const char *tag; /* "sgx" / "tdx" */
    const char *set; /* directory under <vectors>/dcap */
} bench_set_t;

static const bench_set_t SETS[] = {
    {"sgx", "sgx-v3-fmspc00A067110000"},
    {"tdx", "tdx-v4-fmspcB0C06F000000"},
};

typedef struct {
    char dir[1024];
    uint8_t *quote;
    size_t quote_len;
    att_time_t now;
    char now_str[ATT_TIME_STRLEN];
    bool expect_accept;
    att_tcb_status_t expect_status;
    char expect_status_str[128];
    size_t n_expect_adv;
    char expect_adv[ATT_MAX_ADVISORIES][ATT_ADVISORY_LEN];
    att_dcap_collateral_raw_t raw;
    att_trust_t *trust;
} bench_ctx_t;

static void load_expected(bench_ctx_t *ctx)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/expected.json", ctx->dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL)
        die("%s: %s (line %d)", path, jerr.text, jerr.line);
    const char *t = json_string_value(json_object_get(root, "verification_time"));
    json_t *exp = json_object_get(root, "expected");
    json_t *acc = json_object_get(exp, "accept");
    const char *st = json_string_value(json_object_get(exp, "status"));
    if (t == NULL || !json_is_boolean(acc) || st == NULL)
        die("%s: needs verification_time, expected.accept and expected.status", path);
    if (att_time_parse(t, &ctx->now) != ATT_OK)
        die("%s: bad verification_time %s", path, t);
    att_time_format(ctx->now, ctx->now_str);
    ctx->expect_accept = json_is_true(acc);
    snprintf(ctx->expect_status_str, sizeof ctx->expect_status_str, "%s", st);
    ctx->expect_status = att_tcb_status_parse(st);
    json_t *adv = json_object_get(exp, "advisory_ids");
    for (size_t i = 0; json_is_array(adv) && i < json_array_size(adv); i++) {
        const char *id = json_string_value(json_array_get(adv, i));
        if (id == NULL || i >= ATT_MAX_ADVISORIES)
            die("%s: bad expected.advisory_ids", path);
        snprintf(ctx->expect_adv[i], ATT_ADVISORY_LEN, "%s", id);
        ctx->n_expect_adv = i + 1;
    }
    if (ctx->expect_accept && ctx->expect_status == ATT_TCB_UNKNOWN)
        die("%s: unknown expected status %s", path, st);
    json_decref(root);
}

static void ctx_init(bench_ctx_t *ctx, const char *vectors, const bench_set_t *s)
{
    memset(ctx, 0, sizeof *ctx);
    snprintf(ctx->dir, sizeof ctx->dir, "%s/dcap/%s", vectors, s->set);
    att_diag_t diag;
    char path[1100];
    snprintf(path, sizeof path, "%s/quote.bin", ctx->dir);
    if (att_read_file(path, 1 << 20, &ctx->quote, &ctx->quote_len, &diag) != ATT_OK)
        die("%s", diag.msg);
    load_expected(ctx);
    if (!ctx->expect_accept)
        die("%s: the benchmark needs a set that verifies (expected.accept is false)", ctx->dir);
    if (att_dcap_collateral_raw_load_dir(ctx->dir, &ctx->raw, &diag) != ATT_OK)
        die("%s: loading collateral: %s: %s", ctx->dir, att_err_name(diag.code), diag.msg);
    ctx->trust = att_trust_new();
    if (ctx->trust == NULL)
        die("att_trust_new failed");
}

static void ctx_free(bench_ctx_t *ctx)
{
    att_dcap_collateral_raw_free(&ctx->raw);
    att_trust_free(ctx->trust);
    free(ctx->quote);
}

/* Abort unless the result is exactly the expected verdict and status. */
static void check_result(const bench_ctx_t *ctx, const char *path, att_err_t e,
                         const att_dcap_result_t *res)
{
    if (e != ATT_OK || !res->accepted)
        die("%s %s: verification failed: %s: %s", ctx->dir, path, att_err_name(e), res->diag.msg);
    if (res->status != ctx->expect_status)
        die("%s %s: status %s, expected %s", ctx->dir, path, att_tcb_status_name(res->status),
            ctx->expect_status_str);
}

static att_dcap_collateral_t *make_collateral(const bench_ctx_t *ctx)
{
    att_dcap_collateral_t *c = NULL;
    att_diag_t diag;
    att_err_t e = att_dcap_collateral_new(&ctx->raw, ctx->trust, &c, &diag);
    if (e != ATT_OK || c == NULL)
        die("%s: att_dcap_collateral_new: %s: %s", ctx->dir, att_err_name(e), diag.msg);
    return c;
}

static void cold_once(const bench_ctx_t *ctx, att_dcap_result_t *res)
{
    att_dcap_collateral_t *c = make_collateral(ctx);
    att_err_t e = att_dcap_verify(ctx->quote, ctx->quote_len, c, ctx->trust, ctx->now, res);
    att_dcap_collateral_free(c);
    check_result(ctx, "cold", e, res);
}

/* Once, before timing: the full expected result, advisories included. */
static void preflight(const bench_ctx_t *ctx)
{
    static att_dcap_result_t res;
    cold_once(ctx, &res);
    bool ok = res.n_advisories == ctx->n_expect_adv;
    for (size_t i = 0; ok && i < res.n_advisories; i++) {
        bool found = false;
        for (size_t j = 0; j < ctx->n_expect_adv; j++)
            found = found || strcmp(res.advisory_ids[i], ctx->expect_adv[j]) == 0;
        ok = found;
    }
    if (!ok)
        die("%s: %zu advisory IDs, expected %zu (%s%s)", ctx->dir, res.n_advisories,
            ctx->n_expect_adv, ctx->n_expect_adv ? ctx->expect_adv[0] : "none",
            ctx->n_expect_adv > 1 ? ", ..." : "");
}

static void warm_once(const bench_ctx_t *ctx, const att_dcap_collateral_t *c,
                      att_dcap_cache_t *cache, att_dcap_result_t *res)
{
    att_err_t e =
        att_dcap_verify_cached(ctx->quote, ctx->quote_len, c, ctx->trust, ctx->now, cache, res);
    check_result(ctx, cache ? "warm-pck-cache" : "warm", e, res);
}

typedef struct {
    uint64_t iterations;
    double seconds;
    uint64_t ecdsa;
} bench_run_t;

/* One iteration of a path: cold when coll is NULL, else warm (with the PCK chain cache if any). */
static void run_once(const bench_ctx_t *ctx, const att_dcap_collateral_t *coll,
                     att_dcap_cache_t *cache, att_dcap_result_t *res)
{
    if (coll)
        warm_once(ctx, coll, cache, res);
    else
        cold_once(ctx, res);
}

/* Run one path: warm-up for `warmup` seconds, then as many iterations as fit in `budget`. */
/* With a fixed iteration count (--iterations), one warm-up call then exactly that many. */
static uint64_t fixed_iterations;

static bench_run_t run_path(const bench_ctx_t *ctx, const att_dcap_collateral_t *coll,
                            att_dcap_cache_t *cache, double warmup, double budget)
{
    static att_dcap_result_t res; /* large: keep it off the stack */
    double t0 = now_s();
    do {
        run_once(ctx, coll, cache, &res);
    } while (fixed_iterations == 0 && now_s() - t0 < warmup);

    bench_run_t r = {0, 0, 0};
    uint64_t c0 = att_crypto_ecdsa_verify_count();
    double start = now_s(), t;
    do {
        run_once(ctx, coll, cache, &res);
        r.iterations++;
        t = now_s();
    } while (fixed_iterations ? r.iterations < fixed_iterations : t - start < budget);
    r.seconds = t - start;
    r.ecdsa = att_crypto_ecdsa_verify_count() - c0;
    return r;
}

static double bench_lib_ecdsa(const uint8_t *quote, size_t len, double warmup, double budget)
{
    att_quote_t q;
    att_diag_t diag;
    if (att_quote_parse(quote, len, &q, &diag) != ATT_OK)
        die("ecdsa: cannot parse the quote: %s", diag.msg);
    att_p256_t *k = att_p256_from_raw(q.attest_key);
    if (k == NULL)
        die("ecdsa: bad attestation key");
    double t0 = now_s();
    do {
        if (!att_p256_verify(k, q.signed_region.ptr, q.signed_region.len, q.signature))
            die("ecdsa: the quote signature does not verify");
    } while (now_s() - t0 < warmup);
    uint64_t n = 0;
    double start = now_s(), t;
    do {
        if (!att_p256_verify(k, q.signed_region.ptr, q.signed_region.len, q.signature))
            die("ecdsa: the quote signature does not verify");
        n++;
        t = now_s();
    } while (t - start < budget);
    att_p256_free(k);
    return (double)n / (t - start);
}

static void print_run(const char *tag, const char *path, const bench_run_t *r)
{
    char per[32];
    snprintf(per, sizeof per, "%.2f", (double)r->ecdsa / (double)r->iterations);
    printf("dcap %s %s verifies_per_s=%.1f us_per_verify=%.1f iterations=%llu seconds=%.3f "
           "ecdsa_per_quote=%s\n",
           tag, path, (double)r->iterations / r->seconds, r->seconds * 1e6 / (double)r->iterations,
           (unsigned long long)r->iterations, r->seconds, per);
    fflush(stdout);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_dcap [--seconds S] [--warmup S] [--vectors DIR] [--only sgx|tdx|ecdsa]\n"
            "                  [--path cold|warm|warm-pck-cache] [--iterations N]\n"
            "env: ATT_BENCH_SECONDS, ATT_BENCH_WARMUP, ATT_BENCH_VECTORS\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double budget = env_double("ATT_BENCH_SECONDS", 2.0);
    double warmup = env_double("ATT_BENCH_WARMUP", 0.5);
    const char *vectors = getenv("ATT_BENCH_VECTORS");
    const char *only = NULL, *path = NULL;
    if (vectors == NULL || *vectors == 0)
        vectors = ATT_BENCH_VECTORS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        char *end;
        if (strcmp(a, "--seconds") == 0 || strcmp(a, "--warmup") == 0) {
            double d = strtod(v, &end);
            if (*end != 0 || d < 0)
                usage();
            *(a[2] == 's' ? &budget : &warmup) = d;
        } else if (strcmp(a, "--vectors") == 0) {
            vectors = v;
        } else if (strcmp(a, "--only") == 0) {
            only = v;
        } else if (strcmp(a, "--path") == 0) {
            path = v;
            if (strcmp(v, "cold") && strcmp(v, "warm") && strcmp(v, "warm-pck-cache"))
                usage();
        } else if (strcmp(a, "--iterations") == 0) {
            unsigned long long n = strtoull(v, &end, 10);
            if (*end != 0 || n == 0)
                usage();
            fixed_iterations = n;
        } else {
            usage();
        }
    }
    if (budget <= 0)
        die("the time budget must be > 0");
    if (*vectors == 0)
        die("no real vectors (set ATTESTD_VECTORS=DIR and re-run cmake, or pass --vectors DIR; "
            "see docs/testing.md)");

    printf("# bench_dcap: one thread; budget %.2f s per path after %.2f s warm-up\n", budget,
           warmup);
    if ((only == NULL && path == NULL) || (only != NULL && strcmp(only, "ecdsa") == 0)) {
        bench_ctx_t ctx;
        ctx_init(&ctx, vectors, &SETS[0]);
        double rate = bench_lib_ecdsa(ctx.quote, ctx.quote_len, warmup, budget);
        printf("# ecdsa: the library's P-256 verify (att_p256_verify, SHA-256 of the %s quote's "
               "signed region included)\n",
               SETS[0].tag);
        printf("ecdsa lib verifies_per_s=%.1f us_per_verify=%.2f\n", rate, 1e6 / rate);
        fflush(stdout);
        ctx_free(&ctx);
    }
    for (size_t i = 0; i < ATT_ARRAY_LEN(SETS); i++) {
        const bench_set_t *s = &SETS[i];
        if (only && strcmp(only, s->tag) != 0)
            continue;
        bench_ctx_t ctx;
        ctx_init(&ctx, vectors, s);
        printf("# %s: set %s at %s, expected %s, quote %zu bytes\n", s->tag, s->set, ctx.now_str,
               ctx.expect_status_str, ctx.quote_len);
        fflush(stdout);
        preflight(&ctx);

        if (path == NULL || strcmp(path, "cold") == 0) {
            bench_run_t cold = run_path(&ctx, NULL, NULL, warmup, budget);
            print_run(s->tag, "cold", &cold);
        }

        att_dcap_collateral_t *coll = make_collateral(&ctx);
        if (path == NULL || strcmp(path, "warm") == 0) {
            bench_run_t warm = run_path(&ctx, coll, NULL, warmup, budget);
            print_run(s->tag, "warm", &warm);
        }
        if (path != NULL && strcmp(path, "warm-pck-cache") != 0) {
            att_dcap_collateral_free(coll);
            ctx_free(&ctx);
            continue;
        }

        /* The server's steady state for a platform it has seen: the quote's PCK chain is found
         * in the chain cache (a hit on every timed iteration: the same quote repeats). */
        att_dcap_cache_t *cache = att_dcap_cache_new(64);
        if (cache == NULL)
            die("att_dcap_cache_new failed");
        uint64_t h0, m0, h1, m1;
        att_dcap_cache_stats(cache, &h0, &m0);
        bench_run_t hot = run_path(&ctx, coll, cache, warmup, budget);
        att_dcap_cache_stats(cache, &h1, &m1);
        print_run(s->tag, "warm-pck-cache", &hot);
        printf("# %s warm-pck-cache: chain cache hits %llu, misses %llu (warm-up included)\n",
               s->tag, (unsigned long long)(h1 - h0), (unsigned long long)(m1 - m0));
        att_dcap_cache_free(cache);
        att_dcap_collateral_free(coll);
        ctx_free(&ctx);
    }
    return 0;
}
