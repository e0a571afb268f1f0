/* fuzz_quote.c - libFuzzer target: DCAP quote parser and the quote side of verification.
 *
 * Each input is a quote. It goes through att_quote_parse(), whose result must respect the
 * invariants below, and then through att_dcap_verify() with fixed, genuine collateral loaded once
 * from the vectors (SGX collateral for SGX quotes, TDX collateral for TDX quotes, at each set's
 * verification time), so the PCK chain PEM/X.509 parsing, the SGX extension parser and every
 * quote-side check run on fuzzed bytes.
 * Invariants checked (abort = crash for libFuzzer):
 *   - a parsed quote's pointers and slices lie inside the input; quote_len + trailing == size;
 *   - on failure the diag code equals the returned code (verify: always); messages are
 *     NUL-terminated;
 *   - a quote the parser rejects is never accepted by the verifier;
 *   - an accepted result has a known status and a bounded advisory list.
 * Seed corpus: tests/fuzz/corpus/quote/ (simulated quotes) and the vector quotes, which
 * tests/fuzz/vector-seeds writes (they are not in the repository). Vectors: fuzz_vectors().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/dcap.h"
#include "attest/sim.h"
#include "fuzz_common.h"

typedef struct {
    const char *set;
    const char *time;
    att_dcap_collateral_t *coll;
    att_time_t now;
} fuzz_coll_t;

static fuzz_coll_t g_sgx = {"sgx-v3-fmspc00A067110000", "2025-07-01T00:00:00Z", NULL, 0};
static fuzz_coll_t g_tdx = {"tdx-v4-fmspcB0C06F000000", "2025-07-01T00:00:00Z", NULL, 0};
static att_trust_t *g_trust;

/* Re-signing: a simulated PKI and collateral per TEE (attest/sim.h) and a fixed attestation key. */
typedef struct {
    att_sim_pki_t *pki;
    att_trust_t *trust;
    att_dcap_collateral_t *coll;
} fuzz_sim_t;
static fuzz_sim_t g_sim_sgx, g_sim_tdx;
static att_time_t g_sim_now;
static const uint8_t g_sim_attest_key[32] = {
    0x3c, 0x51, 0x9e, 0x07, 0x2b, 0xd4, 0x66, 0x1f, 0x80, 0x3a, 0xc5, 0x12, 0x7e, 0x49, 0x0b, 0xf2,
    0x55, 0x6d, 0x18, 0xa3, 0x9c, 0x24, 0x71, 0xe0, 0x0f, 0x8b, 0x36, 0xd9, 0x42, 0x17, 0x6a, 0x05};
static int g_verbose; /* FUZZ_VERBOSE=1: print each verification outcome */

static void load_coll(const char *vectors, fuzz_coll_t *fc)
{
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/dcap/%s", vectors, fc->set);
    att_dcap_collateral_raw_t raw;
    att_diag_t diag;
    if (att_dcap_collateral_raw_load_dir(dir, &raw, &diag) != ATT_OK ||
        att_dcap_collateral_new(&raw, g_trust, &fc->coll, &diag) != ATT_OK ||
        att_time_parse(fc->time, &fc->now) != ATT_OK) {
        fprintf(stderr, "fuzz_quote: cannot load collateral from %s: %s\n", dir, diag.msg);
        exit(1);
    }
    att_dcap_collateral_raw_free(&raw);
}

static void make_sim(fuzz_sim_t *fs, att_sim_ca_type_t ca, att_tee_t tee)
{
    att_diag_t diag;
    att_sim_pki_opts_t po;
    att_sim_collateral_opts_t co;
    att_sim_collateral_t sc;
    att_dcap_collateral_raw_t raw;
    att_sim_pki_opts_default(&po, ca, g_sim_now);
    if (att_sim_pki_new(&po, &fs->pki, &diag) != ATT_OK)
        goto fail;
    att_sim_collateral_opts_default(&co, fs->pki, tee, g_sim_now);
    if (att_sim_collateral_make(fs->pki, &co, &sc, &diag) != ATT_OK)
        goto fail;
    att_sim_collateral_raw(&sc, &raw);
    fs->trust = att_trust_new();
    if (fs->trust == NULL ||
        att_trust_add_root(fs->trust, sc.trust_root.ptr, sc.trust_root.len, &diag) != ATT_OK ||
        att_dcap_collateral_new(&raw, fs->trust, &fs->coll, &diag) != ATT_OK)
        goto fail;
    att_sim_collateral_free(&sc);
    return;
fail:
    fprintf(stderr, "fuzz_quote: cannot make the simulated collateral: %s\n", diag.msg);
    exit(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *vectors = fuzz_vectors();
    g_verbose = getenv("FUZZ_VERBOSE") != NULL;
    g_trust = att_trust_new();
    if (g_trust == NULL) {
        fprintf(stderr, "fuzz_quote: att_trust_new failed\n");
        exit(1);
    }
    load_coll(vectors, &g_sgx);
    load_coll(vectors, &g_tdx);
    if (att_time_parse("2025-07-01T00:00:00Z", &g_sim_now) != ATT_OK)
        exit(1);
    make_sim(&g_sim_sgx, ATT_SIM_CA_PROCESSOR, ATT_TEE_SGX);
    make_sim(&g_sim_tdx, ATT_SIM_CA_PLATFORM, ATT_TEE_TDX);
    return 0;
}

static int in_buf(const uint8_t *buf, size_t size, const void *p, size_t len)
{
    const uint8_t *b = p;
    if (len == 0)
        return 1;
    return b != NULL && b >= buf && len <= size && (size_t)(b - buf) <= size - len;
}

static void check_msg(const char *what, const att_diag_t *d)
{
    FUZZ_CHECK(memchr(d->msg, 0, sizeof d->msg) != NULL, "%s: diag message not terminated", what);
}

static void check_quote(const uint8_t *data, size_t size, const att_quote_t *q)
{
    size_t used = q->quote_len;
    FUZZ_CHECK(used <= size, "quote_len %zu > input %zu", used, size);
    FUZZ_CHECK(q->trailing == size - used, "trailing %zu, input %zu, used %zu", q->trailing, size,
               used);
    FUZZ_CHECK(q->version >= 3 && q->version <= 5, "version %u", q->version);
    FUZZ_CHECK(q->body_type == ATT_BODY_SGX || q->body_type == ATT_BODY_TD10 ||
                   q->body_type == ATT_BODY_TD15,
               "body_type %d", (int)q->body_type);
    FUZZ_CHECK((q->tee_type == ATT_TEE_SGX) == (q->body_type == ATT_BODY_SGX),
               "tee_type 0x%x with body_type %d", q->tee_type, (int)q->body_type);
    FUZZ_CHECK(q->signed_region.ptr == data && q->signed_region.len <= used,
               "signed region %zu bytes at offset %td", q->signed_region.len,
               q->signed_region.ptr - data);
    FUZZ_CHECK(in_buf(data, used, q->signature, 64), "signature outside the quote");
    FUZZ_CHECK(in_buf(data, used, q->attest_key, 64), "attestation key outside the quote");
    FUZZ_CHECK(in_buf(data, used, q->qe_report, 384), "QE report outside the quote");
    FUZZ_CHECK(in_buf(data, used, q->qe_report_sig, 64), "QE report signature outside the quote");
    FUZZ_CHECK(in_buf(data, used, q->qe_auth_data.ptr, q->qe_auth_data.len),
               "QE auth data (%zu bytes) outside the quote", q->qe_auth_data.len);
    FUZZ_CHECK(in_buf(data, used, q->pck_chain.ptr, q->pck_chain.len),
               "PCK chain (%zu bytes) outside the quote", q->pck_chain.len);
}

static att_err_t verify_and_check(const char *what, const uint8_t *data, size_t size,
                                  const att_dcap_collateral_t *coll, const att_trust_t *trust,
                                  att_time_t now)
{
    static att_dcap_result_t res; /* large: keep it off the stack */
    att_err_t ve = att_dcap_verify(data, size, coll, trust, now, &res);
    FUZZ_CHECK(res.diag.code == ve, "%s: verify returned %s, diag says %s", what, att_err_name(ve),
               att_err_name(res.diag.code));
    check_msg("verify", &res.diag);
    if (g_verbose)
        fprintf(stderr, "fuzz_quote: %s: %zu bytes: verify %s %s %s\n", what, size,
                att_err_name(ve), ve == ATT_OK ? att_tcb_status_name(res.status) : "",
                res.diag.msg);
    FUZZ_CHECK((ve == ATT_OK) == res.accepted, "%s: verify returned %s with accepted=%d", what,
               att_err_name(ve), res.accepted);
    if (ve == ATT_OK) {
        FUZZ_CHECK(res.status > ATT_TCB_UNKNOWN && res.status < ATT_TCB_REVOKED,
                   "%s: accepted with status %d", what, (int)res.status);
        FUZZ_CHECK(res.n_advisories <= ATT_MAX_ADVISORIES, "%zu advisories", res.n_advisories);
        for (size_t i = 0; i < res.n_advisories; i++)
            FUZZ_CHECK(memchr(res.advisory_ids[i], 0, ATT_ADVISORY_LEN) != NULL,
                       "advisory %zu not terminated", i);
    }
    return ve;
}

#define SAME(a, b, what, field)                                                                    \
    FUZZ_CHECK(memcmp(&(a)->field, &(b)->field, sizeof((a)->field)) == 0,                          \
               "%s: field %s differs after build + parse", what, #field)

/* The builder writes what the parser read: a round trip keeps every report field. */
static void same_sgx(const char *what, const att_sgx_report_t *a, const att_sgx_report_t *b,
                     bool with_report_data)
{
    SAME(a, b, what, cpusvn);
    SAME(a, b, what, miscselect);
    SAME(a, b, what, attributes);
    SAME(a, b, what, mrenclave);
    SAME(a, b, what, mrsigner);
    SAME(a, b, what, configid);
    SAME(a, b, what, isvprodid);
    SAME(a, b, what, isvsvn);
    SAME(a, b, what, configsvn);
    SAME(a, b, what, isvextprodid);
    SAME(a, b, what, isvfamilyid);
    SAME(a, b, what, debug);
    if (with_report_data)
        SAME(a, b, what, report_data);
}

static void same_td(const att_td_report_t *a, const att_td_report_t *b, bool td15)
{
    const char *what = "TD report";
    SAME(a, b, what, tee_tcb_svn);
    SAME(a, b, what, mrseam);
    SAME(a, b, what, mrsignerseam);
    SAME(a, b, what, seam_attributes);
    SAME(a, b, what, td_attributes);
    SAME(a, b, what, xfam);
    SAME(a, b, what, mrtd);
    SAME(a, b, what, mrconfigid);
    SAME(a, b, what, mrowner);
    SAME(a, b, what, mrownerconfig);
    SAME(a, b, what, rtmr);
    SAME(a, b, what, report_data);
    SAME(a, b, what, debug);
    if (td15) {
        SAME(a, b, what, tee_tcb_svn2);
        SAME(a, b, what, mrservicetd);
    }
}

/* Rebuild the parsed quote with the simulated PKI: same header, body, QE report and QE auth
 * data, but valid signatures, so the semantic checks (QE identity, TCB levels, TDX module,
 * status convergence) run on fuzzed values instead of stopping at a signature. */
static void resign_and_verify(const att_quote_t *q)
{
    att_tee_t tee = q->tee_type == ATT_TEE_TDX ? ATT_TEE_TDX : ATT_TEE_SGX;
    const fuzz_sim_t *fs = tee == ATT_TEE_TDX ? &g_sim_tdx : &g_sim_sgx;
    att_sim_quote_opts_t o;
    att_sim_quote_opts_default(&o, tee, q->version);
    o.body_type = q->body_type;
    o.qe_svn_hdr = q->qe_svn;
    o.pce_svn_hdr = q->pce_svn;
    memcpy(o.qe_vendor_id, q->qe_vendor_id, sizeof o.qe_vendor_id);
    memcpy(o.user_data, q->user_data, sizeof o.user_data);
    if (q->body_type == ATT_BODY_SGX)
        o.sgx = q->sgx;
    else
        o.td = q->td;
    o.qe = q->qe;
    o.qe_auth_len =
        q->qe_auth_data.len < sizeof o.qe_auth_data ? q->qe_auth_data.len : sizeof o.qe_auth_data;
    if (o.qe_auth_len)
        memcpy(o.qe_auth_data, q->qe_auth_data.ptr, o.qe_auth_len);
    o.attest_key = g_sim_attest_key;
    o.pem_nul = q->pck_chain.len > 0 && q->pck_chain.ptr[q->pck_chain.len - 1] == 0;
    uint8_t *sq = NULL;
    size_t sl = 0;
    att_diag_t diag;
    if (att_sim_quote_build(fs->pki, &o, &sq, &sl, &diag) != ATT_OK)
        return; /* a combination the builder does not make (e.g. v3 TDX) */
    att_quote_t q2;
    att_err_t pe = att_quote_parse(sq, sl, &q2, &diag);
    FUZZ_CHECK(pe == ATT_OK, "a simulated quote does not parse: %s", diag.msg);
    check_quote(sq, sl, &q2);
    FUZZ_CHECK(q2.version == q->version && q2.tee_type == q->tee_type &&
                   q2.body_type == q->body_type,
               "re-signed quote: version %u tee 0x%x body %d, input: %u 0x%x %d", q2.version,
               q2.tee_type, (int)q2.body_type, q->version, q->tee_type, (int)q->body_type);
    if (q->version == 3) { /* v4/v5: reserved, the builder writes zeros */
        SAME(&q2, q, "header", qe_svn);
        SAME(&q2, q, "header", pce_svn);
    }
    SAME(&q2, q, "header", qe_vendor_id);
    SAME(&q2, q, "header", user_data);
    if (q->body_type == ATT_BODY_SGX)
        same_sgx("enclave report", &q2.sgx, &q->sgx, true);
    else
        same_td(&q2.td, &q->td, q->body_type == ATT_BODY_TD15);
    same_sgx("QE report", &q2.qe, &q->qe, false);
    (void)verify_and_check("resigned", sq, sl, fs->coll, fs->trust, g_sim_now);
    free(sq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    att_quote_t q;
    att_diag_t diag;
    memset(&q, 0, sizeof q);
    att_diag_clear(&diag);
    att_err_t pe = att_quote_parse(data, size, &q, &diag);
    if (pe == ATT_OK) {
        check_quote(data, size, &q);
    } else { /* diag is only promised on failure */
        FUZZ_CHECK(diag.code == pe, "parse returned %s, diag says %s", att_err_name(pe),
                   att_err_name(diag.code));
        check_msg("parse", &diag);
    }

    const fuzz_coll_t *fc = (pe == ATT_OK && q.tee_type == ATT_TEE_TDX) ? &g_tdx : &g_sgx;
    att_err_t ve = verify_and_check("vector", data, size, fc->coll, g_trust, fc->now);
    if (pe != ATT_OK)
        FUZZ_CHECK(ve != ATT_OK, "the parser rejects (%s) a quote the verifier accepts",
                   att_err_name(pe));
    else
        resign_and_verify(&q);
    return 0;
}
