/* fuzz_collateral.c - libFuzzer target: DCAP collateral (TCB info, QE identity, chains, CRLs).
 *
 * Input format: one selector byte, then the payload.
 *   set  = sel & 1          0: SGX vector sgx-v3-fmspc00A067110000,
 *                           1: TDX vector tdx-v4-fmspcB0C06F000000
 *   mode = (sel >> 1) % 10
 *   0..6  the payload replaces one raw collateral field of the set, the others stay genuine:
 *         0 tcb_info, 1 tcb_info_chain, 2 qe_identity, 3 qe_identity_chain, 4 pck_crl,
 *         5 pck_crl_chain, 6 root_ca_crl. att_dcap_collateral_new() runs on it and, if it
 *         succeeds, the set's quote is verified against it at the set's time.
 *   7     the payload is split into the 7 fields, each prefixed by its length (u16 little
 *         endian; a short tail is truncated, missing fields are empty).
 *   8     the payload is a TCB info document for att_tcb_info_parse() (internal). If it parses,
 *         it replaces the TCB info of the set's verified collateral and the set's quote is
 *         verified: TCB level selection, TDX module identities and status convergence run on
 *         fuzzed values that a signature check would otherwise keep out of reach.
 *   9     likewise a QE identity document for att_qe_identity_parse().
 * Every field is copied into its own exact-size heap buffer, so reading past a slice is caught.
 * Invariants (abort): on failure diag code == returned code; terminated messages;
 * accepted <=> ATT_OK; an accepted result has a known status and bounded advisories; a parsed
 * TCB info / QE identity has its levels strictly descending (sorted, no duplicates).
 * Seed corpus: made from the real vector sets by tests/fuzz/vector-seeds (not in the repository).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/dcap.h"
#include "core/util.h"
#include "dcap/dcap_internal.h"
#include "fuzz_common.h"

#define N_FIELDS 7

typedef struct {
    const char *set;
    const char *time;
    att_dcap_collateral_raw_t raw; /* genuine files */
    att_dcap_collateral_t *coll;   /* made from them once (modes 8 and 9 swap parts of it) */
    uint8_t *quote;
    size_t quote_len;
    att_time_t now;
} fuzz_set_t;

static fuzz_set_t g_sets[2] = {
    {.set = "sgx-v3-fmspc00A067110000", .time = "2025-07-01T00:00:00Z"},
    {.set = "tdx-v4-fmspcB0C06F000000", .time = "2025-07-01T00:00:00Z"},
};
static att_trust_t *g_trust;
static int g_verbose; /* FUZZ_VERBOSE=1: print each verification outcome */

static att_slice_t *raw_field(att_dcap_collateral_raw_t *r, int i)
{
    att_slice_t *f[N_FIELDS] = {&r->tcb_info,          &r->tcb_info_chain, &r->qe_identity,
                                &r->qe_identity_chain, &r->pck_crl,        &r->pck_crl_chain,
                                &r->root_ca_crl};
    return f[i];
}

static void load_set(const char *vectors, fuzz_set_t *s)
{
    char dir[2048], path[2100];
    att_diag_t diag;
    snprintf(dir, sizeof dir, "%s/dcap/%s", vectors, s->set);
    snprintf(path, sizeof path, "%s/quote.bin", dir);
    if (att_read_file(path, 1 << 20, &s->quote, &s->quote_len, &diag) != ATT_OK ||
        att_dcap_collateral_raw_load_dir(dir, &s->raw, &diag) != ATT_OK ||
        att_dcap_collateral_new(&s->raw, g_trust, &s->coll, &diag) != ATT_OK ||
        att_time_parse(s->time, &s->now) != ATT_OK) {
        fprintf(stderr, "fuzz_collateral: cannot load %s: %s\n", dir, diag.msg);
        exit(1);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *vectors = fuzz_vectors();
    g_verbose = getenv("FUZZ_VERBOSE") != NULL;
    g_trust = att_trust_new();
    if (g_trust == NULL) {
        fprintf(stderr, "fuzz_collateral: att_trust_new failed\n");
        exit(1);
    }
    for (size_t i = 0; i < ATT_ARRAY_LEN(g_sets); i++)
        load_set(vectors, &g_sets[i]);
    return 0;
}

static void check_msg(const char *what, const att_diag_t *d)
{
    FUZZ_CHECK(memchr(d->msg, 0, sizeof d->msg) != NULL, "%s: diag message not terminated", what);
}

static void verify_and_check(const fuzz_set_t *s, const att_dcap_collateral_t *coll)
{
    static att_dcap_result_t res;
    att_err_t ve = att_dcap_verify(s->quote, s->quote_len, coll, g_trust, s->now, &res);
    FUZZ_CHECK(res.diag.code == ve, "verify returned %s, diag says %s", att_err_name(ve),
               att_err_name(res.diag.code));
    check_msg("verify", &res.diag);
    if (g_verbose)
        fprintf(stderr, "fuzz_collateral: %s: verify %s %s %s\n", s->set, att_err_name(ve),
                ve == ATT_OK ? att_tcb_status_name(res.status) : "", res.diag.msg);
    FUZZ_CHECK((ve == ATT_OK) == res.accepted, "verify returned %s with accepted=%d",
               att_err_name(ve), res.accepted);
    if (ve == ATT_OK) {
        FUZZ_CHECK(res.status > ATT_TCB_UNKNOWN && res.status < ATT_TCB_REVOKED,
                   "accepted with status %d", (int)res.status);
        FUZZ_CHECK(res.n_advisories <= ATT_MAX_ADVISORIES, "%zu advisories", res.n_advisories);
        for (size_t i = 0; i < res.n_advisories; i++)
            FUZZ_CHECK(memchr(res.advisory_ids[i], 0, ATT_ADVISORY_LEN) != NULL,
                       "advisory %zu not terminated", i);
    }
}

/* An exact-size heap copy (malloc(0) is fine: nothing may be read from it). */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    if (b == NULL)
        abort();
    if (n)
        memcpy(b, p, n);
    return b;
}

static void fuzz_raw(fuzz_set_t *s, int mode, const uint8_t *p, size_t n)
{
    att_dcap_collateral_raw_t raw = s->raw;
    uint8_t *owned[N_FIELDS] = {0};
    if (mode < N_FIELDS) {
        owned[mode] = dup_exact(p, n);
        *raw_field(&raw, mode) = (att_slice_t){owned[mode], n};
    } else {
        for (int i = 0; i < N_FIELDS; i++) {
            size_t len = 0;
            if (n >= 2) {
                len = (size_t)p[0] | (size_t)p[1] << 8;
                p += 2;
                n -= 2;
            } else {
                n = 0;
            }
            if (len > n)
                len = n;
            owned[i] = dup_exact(p, len);
            *raw_field(&raw, i) = (att_slice_t){owned[i], len};
            p += len;
            n -= len;
        }
    }
    att_dcap_collateral_t *coll = NULL;
    att_diag_t diag;
    att_diag_clear(&diag);
    att_err_t e = att_dcap_collateral_new(&raw, g_trust, &coll, &diag);
    if (g_verbose && e != ATT_OK)
        fprintf(stderr, "fuzz_collateral: %s: collateral_new %s %s\n", s->set, att_err_name(e),
                diag.msg);
    if (e != ATT_OK) { /* diag is only promised on failure */
        FUZZ_CHECK(diag.code == e, "collateral_new returned %s, diag says %s", att_err_name(e),
                   att_err_name(diag.code));
        check_msg("collateral_new", &diag);
    } else {
        FUZZ_CHECK(coll != NULL, "collateral_new returned ATT_OK and no collateral");
        (void)att_dcap_collateral_expiry(coll);
        verify_and_check(s, coll);
        att_dcap_collateral_free(coll);
    }
    for (int i = 0; i < N_FIELDS; i++)
        free(owned[i]);
}

/* Levels as Intel's QVL keeps them: strictly descending, so sorted and without duplicates.
 * TCB levels by (SGX components, PCESVN, TDX components) compared component by component. */
static void check_tcb_levels_sorted(const att_tcb_info_t *t)
{
    for (size_t i = 1; i < t->n_levels; i++) {
        const att_tcb_level_t *a = &t->levels[i - 1], *b = &t->levels[i];
        int c = 0;
        for (int k = 0; k < 16 && c == 0; k++)
            c = (a->sgx[k] > b->sgx[k]) - (a->sgx[k] < b->sgx[k]);
        if (c == 0)
            c = (a->pcesvn > b->pcesvn) - (a->pcesvn < b->pcesvn);
        for (int k = 0; k < 16 && c == 0; k++)
            c = (a->tdx[k] > b->tdx[k]) - (a->tdx[k] < b->tdx[k]);
        FUZZ_CHECK(c > 0, "TCB level %zu is not below level %zu (unsorted or duplicated)", i,
                   i - 1);
    }
    for (size_t m = 0; m < t->n_modules; m++)
        for (size_t i = 1; i < t->modules[m].n_levels; i++)
            FUZZ_CHECK(t->modules[m].levels[i - 1].isvsvn > t->modules[m].levels[i].isvsvn,
                       "module %s level %zu is not below level %zu", t->modules[m].id, i, i - 1);
}

static void check_qe_levels_sorted(const att_qe_identity_t *q)
{
    for (size_t i = 1; i < q->n_levels; i++) {
        const att_isv_level_t *a = &q->levels[i - 1], *b = &q->levels[i];
        FUZZ_CHECK(a->isvsvn > b->isvsvn || (a->isvsvn == b->isvsvn && a->tcb_date > b->tcb_date),
                   "QE level %zu is not below level %zu (unsorted or duplicated)", i, i - 1);
    }
}

static void fuzz_tcb_info(fuzz_set_t *s, const uint8_t *p, size_t n)
{
    char *json = (char *)dup_exact(p, n);
    att_tcb_info_t t;
    const char *sp;
    size_t sl;
    uint8_t sig[64];
    att_diag_t diag;
    memset(&t, 0, sizeof t);
    att_diag_clear(&diag);
    att_err_t e = att_tcb_info_parse(json, n, &t, &sp, &sl, sig, &diag);
    if (e != ATT_OK) { /* diag is only promised on failure */
        FUZZ_CHECK(diag.code == e, "tcb_info_parse returned %s, diag says %s", att_err_name(e),
                   att_err_name(diag.code));
        check_msg("tcb_info_parse", &diag);
    } else {
        FUZZ_CHECK(sp >= json && sl <= n && (size_t)(sp - json) <= n - sl,
                   "signed range outside the document");
        check_tcb_levels_sorted(&t);
        att_tcb_info_t saved = s->coll->tcb;
        s->coll->tcb = t;
        verify_and_check(s, s->coll);
        s->coll->tcb = saved;
    }
    att_tcb_info_clear(&t);
    free(json);
}

static void fuzz_qe_identity(fuzz_set_t *s, const uint8_t *p, size_t n)
{
    char *json = (char *)dup_exact(p, n);
    att_qe_identity_t q;
    const char *sp;
    size_t sl;
    uint8_t sig[64];
    att_diag_t diag;
    memset(&q, 0, sizeof q);
    att_diag_clear(&diag);
    att_err_t e = att_qe_identity_parse(json, n, &q, &sp, &sl, sig, &diag);
    if (e != ATT_OK) { /* diag is only promised on failure */
        FUZZ_CHECK(diag.code == e, "qe_identity_parse returned %s, diag says %s", att_err_name(e),
                   att_err_name(diag.code));
        check_msg("qe_identity_parse", &diag);
    } else {
        FUZZ_CHECK(sp >= json && sl <= n && (size_t)(sp - json) <= n - sl,
                   "signed range outside the document");
        check_qe_levels_sorted(&q);
        att_qe_identity_t saved = s->coll->qe;
        s->coll->qe = q;
        verify_and_check(s, s->coll);
        s->coll->qe = saved;
    }
    att_qe_identity_clear(&q);
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_set_t *s = &g_sets[data[0] & 1];
    int mode = (data[0] >> 1) % 10;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (mode <= 7)
        fuzz_raw(s, mode, p, n);
    else if (mode == 8)
        fuzz_tcb_info(s, p, n);
    else
        fuzz_qe_identity(s, p, n);
    return 0;
}
