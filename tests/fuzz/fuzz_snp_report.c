/* fuzz_snp_report.c - libFuzzer target: the SEV-SNP report parser, the VCEK/VLEK certificate and
 * extension parsers, the chain and the verifier.
 *
 * The first byte of an input picks a mode:
 *   0-3  the rest is a report, verified with a genuine leaf of the vectors loaded once (0 trustee
 *        Milan VCEK, 1 go-sev-guest Milan VCEK, 2 trustee-e2e Genoa VCEK, 3 trustee Milan VLEK),
 *        at that vector's time, without and with a certificate cache shared across inputs;
 *   4    u16 (little-endian) leaf length, the leaf (DER or PEM), a report of ATT_SNP_REPORT_LEN
 *        bytes (zero-padded when short), then a chain (PEM): certificates and chains are fuzzed
 *        too.
 * Invariants checked (abort = crash for libFuzzer):
 *   - the diag code equals the returned code, messages are NUL-terminated, `accepted` holds
 *     exactly when ATT_OK is returned, and `parsed` exactly when the parser accepts the report;
 *   - a report the parser rejects is never accepted;
 *   - an accepted report in modes 0-3 has the signed bytes (0x000-0x29F) of its vector: no
 *     change to the signed part survives the signature;
 *   - the cache gives the verdict the uncached verifier gives.
 * Seeds: the vector reports in each mode and a mode-4 input per vector, written by
 * tests/fuzz/vector-seeds from the SEV-SNP sets (not in the repository).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/snp.h"
#include "core/util.h"
#include "fuzz_common.h"

#ifndef ATT_FUZZ_VECTORS_SNP
#define ATT_FUZZ_VECTORS_SNP ""
#endif

typedef struct {
    const char *report, *leaf, *time;
    uint8_t *rep, *der;
    size_t rep_len, der_len;
    att_time_t now;
} fuzz_vec_t;

static fuzz_vec_t g_vec[4] = {
    {.report = "trustee/report_vcek_milan.bin",
     .leaf = "trustee/vcek_milan.der",
     .time = "2025-01-01T00:00:00Z"},
    {.report = "go-sev-guest/report.bin",
     .leaf = "go-sev-guest/vcek.der",
     .time = "2025-01-01T00:00:00Z"},
    {.report = "trustee-e2e-genoa/report.bin",
     .leaf = "trustee-e2e-genoa/vcek_genoa.der",
     .time = "2026-01-01T00:00:00Z"},
    {.report = "trustee/report_vlek_milan.bin",
     .leaf = "trustee/vlek_milan.der",
     .time = "2025-06-01T00:00:00Z"},
};
static att_snp_cache_t *g_cache;

static void load(const char *dir, const char *rel, uint8_t **p, size_t *n)
{
    char path[2048];
    att_diag_t d;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (att_read_file(path, 1 << 20, p, n, &d) != ATT_OK) {
        fprintf(stderr, "fuzz_snp_report: %s\n", d.msg);
        exit(1);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *v = getenv("ATT_FUZZ_VECTORS_SNP");
    if (v == NULL || *v == 0)
        v = ATT_FUZZ_VECTORS_SNP;
    if (*v == 0) {
        printf("SKIP fuzz/" ATT_FUZZ_NAME ": no real vectors (set ATTESTD_VECTORS=DIR, see "
               "docs/testing.md)\n");
        exit(0);
    }
    for (int i = 0; i < 4; i++) {
        load(v, g_vec[i].report, &g_vec[i].rep, &g_vec[i].rep_len);
        load(v, g_vec[i].leaf, &g_vec[i].der, &g_vec[i].der_len);
        if (att_time_parse(g_vec[i].time, &g_vec[i].now) != ATT_OK)
            exit(1);
    }
    g_cache = att_snp_cache_new(8);
    return g_cache ? 0 : 1;
}

static void check_result(const char *what, att_err_t e, const att_snp_result_t *res, att_err_t pe)
{
    FUZZ_CHECK(res->diag.code == e, "%s: returned %s, diag says %s", what, att_err_name(e),
               att_err_name(res->diag.code));
    FUZZ_CHECK(memchr(res->diag.msg, 0, sizeof res->diag.msg) != NULL, "%s: message", what);
    FUZZ_CHECK(res->accepted == (e == ATT_OK), "%s: %s with accepted=%d", what, att_err_name(e),
               res->accepted);
    FUZZ_CHECK(res->parsed == (pe == ATT_OK), "%s: parsed=%d, the parser says %s", what,
               res->parsed, att_err_name(pe));
    if (pe != ATT_OK)
        FUZZ_CHECK(e != ATT_OK, "%s: the parser rejects (%s) a report the verifier accepts", what,
                   att_err_name(pe));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static att_snp_result_t res, res2;
    att_snp_report_t rep;
    att_diag_t d;
    att_diag_clear(&d);
    uint8_t mode = data[0] % 5;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    att_snp_input_t in = {0};
    uint8_t padded[ATT_SNP_REPORT_LEN];
    if (mode < 4) {
        in.report = p;
        in.report_len = n;
        in.vcek = g_vec[mode].der;
        in.vcek_len = g_vec[mode].der_len;
        in.now = g_vec[mode].now;
    } else {
        if (n < 2)
            return 0;
        size_t ll = (size_t)p[0] | ((size_t)p[1] << 8);
        p += 2;
        n -= 2;
        if (ll > n)
            ll = n;
        in.vcek = p;
        in.vcek_len = ll;
        p += ll;
        n -= ll;
        size_t rl = n < ATT_SNP_REPORT_LEN ? n : ATT_SNP_REPORT_LEN;
        memset(padded, 0, sizeof padded);
        memcpy(padded, p, rl);
        in.report = padded;
        in.report_len = ATT_SNP_REPORT_LEN;
        in.chain = p + rl;
        in.chain_len = n - rl;
        in.now = g_vec[0].now;
    }
    att_err_t pe = att_snp_report_parse(in.report, in.report_len, &rep, &d);
    if (pe != ATT_OK) {
        FUZZ_CHECK(d.code == pe, "parse returned %s, diag says %s", att_err_name(pe),
                   att_err_name(d.code));
        FUZZ_CHECK(memchr(d.msg, 0, sizeof d.msg) != NULL, "parse message");
    } else {
        FUZZ_CHECK(rep.version >= 2 && rep.version <= 5, "version %u", rep.version);
        FUZZ_CHECK((rep.policy >> 17) & 1, "policy bit 17 clear: 0x%llx",
                   (unsigned long long)rep.policy);
    }
    att_err_t e = att_snp_verify(&in, NULL, &res);
    check_result("uncached", e, &res, pe);
    att_err_t e2 = att_snp_verify(&in, g_cache, &res2);
    check_result("cached", e2, &res2, pe);
    FUZZ_CHECK(e == e2, "cached %s, uncached %s", att_err_name(e2), att_err_name(e));
    if (e == ATT_OK && mode < 4)
        FUZZ_CHECK(memcmp(in.report, g_vec[mode].rep, ATT_SNP_SIGNED_LEN) == 0,
                   "a report with changed signed bytes was accepted (mode %u)", mode);
    return 0;
}
