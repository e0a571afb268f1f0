/* bench_snp.c - SEV-SNP report verifications per second, one thread, against the crypto bound
 * measured in the same run (issue 12 "Tests and figures", issue 17 fleets).
 *
 *   bench_snp [--seconds S] [--warmup S] [--vectors DIR] [--chips N]
 *   env: ATT_BENCH_SECONDS (default 2), ATT_BENCH_WARMUP (0.5), ATT_BENCH_VECTORS,
 *        ATT_BENCH_SNP_CHIPS (simulated chips, default 256)
 *
 * Bounds, timed alone with the same OpenSSL calls the verifier makes (crypto/crypto.h):
 *   p384 lib        att_p384_verify_le on a real report and its VCEK (SHA-384 included)
 *   rsa4096pss lib  att_x509_sig_ok of a VCEK with its ASK's RSA-4096 key (RSASSA-PSS SHA-384)
 * Paths, on the shared vectors (AMD's real ASK compiled in) and on a simulated fleet of N chips
 * (RSA-4096 ARK/ASK as AMD's, every chip its own VCEK; the ASK chain given, as KDS serves it):
 *   cached      att_snp_verify with a certificate cache holding the chip's VCEK: the report's
 *               structure, the checks and one P-384 verification. Bound: p384.
 *               (fleet: the cache holds every chip; reports in chip order, each a hit)
 *   first-seen  the VCEK is not cached: its parse, extensions, one RSA-4096-PSS verification by
 *               the ASK, then one P-384. Bound: 1 / (1/p384 + 1/rsa). (vectors: no cache; fleet:
 *               a cache of N/2 leaves read in chip order, so every chip has been evicted when it
 *               comes back, while the ASK chain stays cached, as in a server)
 * Every iteration's verdict is checked (a failure aborts with exit 1). Output, one line each:
 *   snp-bound p384 verifies_per_s=1234.5 us_per_verify=810.0
 *   snp milan cached verifies_per_s=... us_per_verify=... iterations=... seconds=...
 *       p384_per_verify=1.00 rsa_per_verify=0.00 bound_per_s=... ratio=0.95 goal=0.80 (one line)
 * p384_per_verify/rsa_per_verify come from the library's counters over the timed loop.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/sim.h"
#include "attest/snp.h"
#include "core/util.h"
#include "crypto/crypto.h"

#define BENCH_NAME "bench_snp"
#include "bench_common.h"

#ifndef ATT_BENCH_VECTORS
#define ATT_BENCH_VECTORS ""
#endif

/* One verification case: a set of reports (one per chip) and their leaves. */
typedef struct {
    const char *tag;
    size_t n;
    uint8_t (*reports)[ATT_SNP_REPORT_LEN];
    att_slice_t *leaves;
    const uint8_t *chain; /* NULL: AMD's compiled-in ASK */
    size_t chain_len;
    const att_trust_t *trust;
    att_time_t now;
} bench_case_t;

typedef struct {
    uint64_t iterations, p384, sigs;
    double seconds;
} bench_run_t;

static void verify_one(const bench_case_t *c, size_t i, att_snp_cache_t *cache)
{
    static att_snp_result_t res;
    att_snp_input_t in = {.report = c->reports[i],
                          .report_len = ATT_SNP_REPORT_LEN,
                          .vcek = c->leaves[i].ptr,
                          .vcek_len = c->leaves[i].len,
                          .chain = c->chain,
                          .chain_len = c->chain_len,
                          .trust = c->trust,
                          .now = c->now};
    att_err_t e = att_snp_verify(&in, cache, &res);
    if (e != ATT_OK || !res.accepted)
        die("%s chip %zu: %s: %s", c->tag, i, att_err_name(e), res.diag.msg);
}

static bench_run_t run_path(const bench_case_t *c, att_snp_cache_t *cache, double warmup,
                            double budget)
{
    size_t i = 0;
    double t0 = now_s();
    do {
        verify_one(c, i, cache);
        i = (i + 1) % c->n;
    } while (now_s() - t0 < warmup || (cache != NULL && i != 0)); /* a full round: warm cache */
    bench_run_t r = {0, 0, 0, 0};
    uint64_t p0 = att_crypto_p384_verify_count(), s0 = att_crypto_ecdsa_verify_count();
    double start = now_s(), t;
    do {
        verify_one(c, i, cache);
        i = (i + 1) % c->n;
        r.iterations++;
        t = now_s();
    } while (t - start < budget);
    r.seconds = t - start;
    r.p384 = att_crypto_p384_verify_count() - p0;
    r.sigs = att_crypto_ecdsa_verify_count() - s0;
    return r;
}

static void print_run(const char *tag, const char *path, const bench_run_t *r, double bound,
                      double goal)
{
    double rate = (double)r->iterations / r->seconds;
    double n = (double)r->iterations;
    printf("snp %s %s verifies_per_s=%.1f us_per_verify=%.1f iterations=%llu seconds=%.3f "
           "p384_per_verify=%.2f rsa_per_verify=%.2f bound_per_s=%.1f ratio=%.2f goal=%.2f\n",
           tag, path, rate, 1e6 / rate, (unsigned long long)r->iterations, r->seconds,
           (double)r->p384 / n, (double)(r->sigs - r->p384) / n, bound, rate / bound, goal);
    fflush(stdout);
}

/* ---- bounds ---- */

static double bench_p384(const uint8_t *report, const uint8_t *leaf, size_t leaf_len, double warmup,
                         double budget)
{
    att_snp_report_t rep;
    att_diag_t d;
    if (att_snp_report_parse(report, ATT_SNP_REPORT_LEN, &rep, &d) != ATT_OK)
        die("p384: %s", d.msg);
    X509 *x = att_cert_parse(leaf, leaf_len, "VCEK", &d);
    EC_KEY *k = x ? EVP_PKEY_get1_EC_KEY(X509_get0_pubkey(x)) : NULL;
    if (k == NULL)
        die("p384: no VCEK key");
    uint64_t n = 0;
    double t0 = now_s(), start = 0, t;
    bool timing = false;
    for (;;) {
        if (!att_p384_verify_le(k, report, ATT_SNP_SIGNED_LEN, rep.sig_r, rep.sig_s, 72))
            die("p384: the report signature does not verify");
        t = now_s();
        if (!timing && t - t0 >= warmup) {
            timing = true;
            start = now_s();
            continue;
        }
        if (timing && (++n, t - start >= budget))
            break;
    }
    EC_KEY_free(k);
    X509_free(x);
    return (double)n / (t - start);
}

static double bench_rsa(const uint8_t *leaf, size_t leaf_len, const uint8_t *ica_pem,
                        size_t ica_len, double warmup, double budget)
{
    att_diag_t d;
    X509 *x = att_cert_parse(leaf, leaf_len, "VCEK", &d);
    X509 *ica = att_cert_parse(ica_pem, ica_len, "ASK", &d);
    if (x == NULL || ica == NULL)
        die("rsa: %s", d.msg);
    EVP_PKEY *k = X509_get0_pubkey(ica);
    if (EVP_PKEY_get_bits(k) != 4096)
        die("rsa: the ASK is RSA-%d, not RSA-4096", EVP_PKEY_get_bits(k));
    uint64_t n = 0;
    double t0 = now_s(), start = 0, t;
    bool timing = false;
    for (;;) {
        if (!att_x509_sig_ok(x, k))
            die("rsa: the VCEK's signature does not verify with the ASK");
        t = now_s();
        if (!timing && t - t0 >= warmup) {
            timing = true;
            start = now_s();
            continue;
        }
        if (timing && (++n, t - start >= budget))
            break;
    }
    X509_free(x);
    X509_free(ica);
    return (double)n / (t - start);
}

/* ---- the shared vectors ---- */

typedef struct {
    const char *tag, *report, *leaf, *ask, *at;
} vec_t;

static const vec_t VECS[] = {
    {"milan", "trustee/report_vcek_milan.bin", "trustee/vcek_milan.der", "amd-roots/ask_milan.pem",
     "2025-01-01T00:00:00Z"},
    {"genoa", "trustee-e2e-genoa/report.bin", "trustee-e2e-genoa/vcek_genoa.der",
     "amd-roots/ask_genoa.pem", "2026-01-01T00:00:00Z"},
};

static uint8_t *slurp(const char *dir, const char *rel, size_t *len)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    uint8_t *b;
    att_diag_t d;
    if (att_read_file(path, 1 << 20, &b, len, &d) != ATT_OK)
        die("%s", d.msg);
    return b;
}

int main(int argc, char **argv)
{
    double budget = env_double("ATT_BENCH_SECONDS", 2.0);
    double warmup = env_double("ATT_BENCH_WARMUP", 0.5);
    size_t chips = (size_t)env_double("ATT_BENCH_SNP_CHIPS", 256);
    const char *vectors = getenv("ATT_BENCH_VECTORS");
    if (vectors == NULL || *vectors == 0)
        vectors = ATT_BENCH_VECTORS;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds"))
            budget = strtod(argv[i + 1], NULL);
        else if (!strcmp(argv[i], "--warmup"))
            warmup = strtod(argv[i + 1], NULL);
        else if (!strcmp(argv[i], "--vectors"))
            vectors = argv[i + 1];
        else if (!strcmp(argv[i], "--chips"))
            chips = strtoul(argv[i + 1], NULL, 10);
        else
            die("usage: bench_snp [--seconds S] [--warmup S] [--vectors DIR] [--chips N]");
    }
    if (budget <= 0 || chips < 2)
        die("the time budget must be > 0 and --chips >= 2");
    printf("# bench_snp: one thread; budget %.2f s per path after %.2f s warm-up\n", budget,
           warmup);
    char snp[1200];
    snprintf(snp, sizeof snp, "%s/snp", vectors);
    bool have_vectors = *vectors != 0;
    if (have_vectors) {
        char probe[1300];
        snprintf(probe, sizeof probe, "%s/%s", snp, VECS[0].report);
        FILE *f = fopen(probe, "rb");
        have_vectors = f != NULL;
        if (f)
            fclose(f);
    }

    /* the bounds, on the Milan vector when there is one, else on the simulated fleet */
    att_sim_snp_opts_t so;
    att_time_t t_sim = 1767225600; /* 2026-01-01 */
    att_sim_snp_opts_default(&so, ATT_SNP_MILAN, t_sim);
    so.n_chips = chips;
    att_sim_snp_t *sim = NULL;
    att_diag_t d;
    double g0 = now_s();
    if (att_sim_snp_new(&so, &sim, &d) != ATT_OK)
        die("att_sim_snp_new: %s", d.msg);
    bench_case_t fleet = {.tag = "sim-fleet", .n = chips, .now = t_sim};
    fleet.reports = calloc(chips, ATT_SNP_REPORT_LEN);
    fleet.leaves = calloc(chips, sizeof *fleet.leaves);
    if (fleet.reports == NULL || fleet.leaves == NULL)
        die("out of memory");
    for (size_t i = 0; i < chips; i++) {
        att_sim_snp_report_opts_t ro;
        att_sim_snp_report_opts_default(sim, &ro, i, 3);
        memcpy(ro.report_data, &i, sizeof i);
        if (att_sim_snp_report(sim, &ro, fleet.reports[i], &d) != ATT_OK ||
            att_sim_snp_leaf(sim, ATT_SNP_KEY_VCEK, i, so.tcb, &fleet.leaves[i], &d) != ATT_OK)
            die("simulated chip %zu: %s", i, d.msg);
    }
    att_sim_buf_t chain;
    if (att_sim_snp_cert_chain(sim, ATT_SNP_KEY_VCEK, &chain, &d) != ATT_OK)
        die("%s", d.msg);
    att_trust_t *trust = att_trust_new_empty();
    att_slice_t ark = att_sim_snp_cert_der(sim, ATT_SIM_SNP_ARK);
    if (trust == NULL || att_trust_add_root(trust, ark.ptr, ark.len, &d) != ATT_OK)
        die("trust: %s", d.msg);
    fleet.chain = chain.ptr;
    fleet.chain_len = chain.len;
    fleet.trust = trust;
    printf("# simulated fleet: %zu Milan chips, RSA-4096 ARK/ASK, made in %.1f s\n", chips,
           now_s() - g0);

    uint8_t *vrep = NULL, *vleaf = NULL, *vask = NULL;
    size_t vl = 0, ll = 0, al = 0;
    if (have_vectors) {
        vrep = slurp(snp, VECS[0].report, &vl);
        vleaf = slurp(snp, VECS[0].leaf, &ll);
        vask = slurp(snp, VECS[0].ask, &al);
    }
    att_slice_t ask_pem = att_sim_snp_cert_pem(sim, ATT_SIM_SNP_ASK);
    double p384 = have_vectors ? bench_p384(vrep, vleaf, ll, warmup, budget)
                               : bench_p384(fleet.reports[0], fleet.leaves[0].ptr,
                                            fleet.leaves[0].len, warmup, budget);
    double rsa = have_vectors ? bench_rsa(vleaf, ll, vask, al, warmup, budget)
                              : bench_rsa(fleet.leaves[0].ptr, fleet.leaves[0].len, ask_pem.ptr,
                                          ask_pem.len, warmup, budget);
    free(vrep);
    free(vleaf);
    free(vask);
    double first_bound = 1.0 / (1.0 / p384 + 1.0 / rsa);
    printf("# bounds: the verifier's own calls timed alone on the %s\n",
           have_vectors ? "Milan vector (trustee)" : "simulated chip 0");
    printf("snp-bound p384 verifies_per_s=%.1f us_per_verify=%.1f\n", p384, 1e6 / p384);
    printf("snp-bound rsa4096pss verifies_per_s=%.1f us_per_verify=%.1f\n", rsa, 1e6 / rsa);
    printf("snp-bound first-seen verifies_per_s=%.1f us_per_verify=%.1f\n", first_bound,
           1e6 / first_bound);
    fflush(stdout);

    for (size_t v = 0; have_vectors && v < ATT_ARRAY_LEN(VECS); v++) {
        bench_case_t c = {.tag = VECS[v].tag, .n = 1};
        uint8_t *rep = slurp(snp, VECS[v].report, &vl);
        if (vl != ATT_SNP_REPORT_LEN)
            die("%s: %zu bytes", VECS[v].report, vl);
        c.reports = (uint8_t(*)[ATT_SNP_REPORT_LEN])rep;
        att_slice_t leaf;
        leaf.ptr = slurp(snp, VECS[v].leaf, &leaf.len);
        c.leaves = &leaf;
        if (att_time_parse(VECS[v].at, &c.now) != ATT_OK)
            die("bad time");
        att_snp_cache_t *cache = att_snp_cache_new(16);
        bench_run_t r = run_path(&c, cache, warmup, budget);
        print_run(c.tag, "cached", &r, p384, 0.80);
        r = run_path(&c, NULL, warmup, budget);
        print_run(c.tag, "first-seen", &r, first_bound, 0.70);
        att_snp_cache_free(cache);
        free(rep);
        free((void *)leaf.ptr);
    }
    if (!have_vectors)
        printf("# no SEV-SNP vectors (ATTESTD_VECTORS, docs/testing.md): simulated fleet only\n");

    att_snp_cache_t *big = att_snp_cache_new(chips), *small = att_snp_cache_new(chips / 2);
    bench_run_t r = run_path(&fleet, big, warmup, budget);
    print_run("sim-fleet", "cached", &r, p384, 0.80);
    uint64_t h0, m0, h1, m1;
    att_snp_cache_stats(small, &h0, &m0);
    r = run_path(&fleet, small, warmup, budget);
    att_snp_cache_stats(small, &h1, &m1);
    print_run("sim-fleet", "first-seen", &r, first_bound, 0.70);
    printf("# sim-fleet first-seen: %zu chips through a cache of %zu leaves: %llu hits, %llu "
           "misses\n",
           chips, chips / 2, (unsigned long long)(h1 - h0), (unsigned long long)(m1 - m0));
    att_snp_cache_free(big);
    att_snp_cache_free(small);
    att_trust_free(trust);
    free(chain.ptr);
    free(fleet.reports);
    free(fleet.leaves);
    att_sim_snp_free(sim);
    return 0;
}
