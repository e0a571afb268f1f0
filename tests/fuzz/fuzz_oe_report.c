/* fuzz_oe_report.c - libFuzzer target: the Open Enclave report envelope and the SGX quote path
 * behind it.
 *
 * Each input is an Open Enclave report (oe_report_header_t: version, type, size, then the SGX
 * quote). It goes through att_oe_report_parse() and then through the "OpenEnclave" evidence
 * type (att_ev_type_find, att_ev_verify) with a collateral callback that serves the genuine
 * collateral of the SGX vector sgx-v3-fmspc00A067110000, at that vector's verification time. When
 * the envelope parses, the enclosed quote is also given to the "SgxEnclave" verifier, which must
 * reach the same verdict. Invariants checked (abort = crash for libFuzzer):
 *   - a parsed report's quote is the input after the 16-byte header, and its length is the one
 *     the header declares;
 *   - on failure the diag code equals the returned code and the message is NUL-terminated;
 *   - a report the parser rejects is never accepted by the verifier;
 *   - OpenEnclave(report) and SgxEnclave(quote inside) return the same code;
 *   - an accepted result has a DCAP result, MAA claims (an object, x-ms-attestation-type "sgx"),
 *     and report data equal to the REPORTDATA bytes of the verified quote.
 * Seed corpus: tests/fuzz/corpus/oe_report/ (simulated SGX quotes in an Open Enclave header, broken
 * headers) and, from tests/fuzz/vector-seeds, the SGX and TDX vector quotes in one. Vectors:
 * fuzz_vectors().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/collateral.h" /* att_dcap_coll_key */
#include "attest/dcap.h"
#include "attest/evidence.h"
#include "fuzz_common.h"

static att_trust_t *g_trust;
static att_ev_set_t *g_set;
static att_dcap_collateral_t *g_coll;
static att_time_t g_now;
static const att_ev_type_t *g_oe, *g_sgx;
static int g_verbose; /* FUZZ_VERBOSE=1: print each verification outcome */

/* The collateral source: the SGX vector's collateral for its FMSPC, nothing else. */
static att_err_t fuzz_collateral(void *arg, const char *key, att_time_t now, void **out,
                                 att_diag_t *diag)
{
    (void)arg;
    (void)now;
    uint8_t f[6];
    att_dcap_collateral_fmspc(g_coll, f);
    char p[ATT_COLL_KEY_MAX], c[ATT_COLL_KEY_MAX];
    att_tee_t tee = att_dcap_collateral_tee(g_coll);
    if (att_dcap_coll_key(tee, f, "processor", p, sizeof p, diag) != ATT_OK ||
        att_dcap_coll_key(tee, f, "platform", c, sizeof c, diag) != ATT_OK)
        return ATT_E_INTERNAL; /* the vector's own collateral: cannot happen */
    if (strcmp(key, p) != 0 && strcmp(key, c) != 0)
        return att_diag_set(diag, ATT_E_COLL_MISSING, "no collateral for %s", key);
    *out = att_dcap_collateral_ref(g_coll);
    return ATT_OK;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *vectors = fuzz_vectors();
    g_verbose = getenv("FUZZ_VERBOSE") != NULL;
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/dcap/sgx-v3-fmspc00A067110000", vectors);
    att_dcap_collateral_raw_t raw;
    att_diag_t diag = {0};
    g_trust = att_trust_new();
    if (g_trust == NULL || att_ev_set_new(&g_set, &diag) != ATT_OK ||
        att_dcap_collateral_raw_load_dir(dir, &raw, &diag) != ATT_OK ||
        att_dcap_collateral_new(&raw, g_trust, &g_coll, &diag) != ATT_OK ||
        att_time_parse("2025-07-01T00:00:00Z", &g_now) != ATT_OK) {
        fprintf(stderr, "fuzz_oe_report: cannot load collateral from %s: %s\n", dir, diag.msg);
        exit(1);
    }
    att_dcap_collateral_raw_free(&raw);
    g_oe = att_ev_type_find("OpenEnclave");
    g_sgx = att_ev_type_find("SgxEnclave");
    if (g_oe == NULL || g_sgx == NULL) {
        fprintf(stderr, "fuzz_oe_report: no OpenEnclave or SgxEnclave verifier\n");
        exit(1);
    }
    return 0;
}

static void check_diag(const char *what, att_err_t e, const att_diag_t *d)
{
    FUZZ_CHECK(d->code == e, "%s: returned %s, diag %s", what, att_err_name(e),
               att_err_name(d->code));
    FUZZ_CHECK(memchr(d->msg, 0, sizeof d->msg) != NULL, "%s: diag message not terminated", what);
}

static void check_result(const char *what, att_err_t e, const att_ev_result_t *r)
{
    check_diag(what, e, &r->diag);
    if (e != ATT_OK)
        return;
    const att_dcap_result_t *dr = r->detail;
    FUZZ_CHECK(dr != NULL && dr->accepted, "%s: accepted without a DCAP result", what);
    FUZZ_CHECK(json_is_object(r->claims), "%s: accepted without claims", what);
    const char *t = json_string_value(json_object_get(r->claims, "x-ms-attestation-type"));
    FUZZ_CHECK(t != NULL && strcmp(t, "sgx") == 0, "%s: x-ms-attestation-type %s", what,
               t ? t : "(none)");
    /* report data: the parsed enclave report's, whose bytes are at offset 48 + 320 of the
     * quote (header, then REPORTDATA at the end of the 384-byte report body) */
    const uint8_t *q = dr->quote.signed_region.ptr;
    FUZZ_CHECK(r->report_data == dr->quote.sgx.report_data && q != NULL &&
                   dr->quote.quote_len >= 48 + 384 && memcmp(r->report_data, q + 48 + 320, 64) == 0,
               "%s: report data is not the quote's REPORTDATA", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *q = NULL;
    size_t qlen = 0;
    att_diag_t diag = {0};
    att_err_t pe = att_oe_report_parse(data, size, &q, &qlen, &diag);
    if (pe == ATT_OK) {
        FUZZ_CHECK(size >= 16 && q == data + 16 && qlen == size - 16,
                   "quote at offset %td, %zu bytes, of a %zu-byte report", q - data, qlen, size);
        uint64_t declared;
        memcpy(&declared, data + 8, 8);
        FUZZ_CHECK(declared == qlen, "header declares %llu, quote has %zu",
                   (unsigned long long)declared, qlen);
    } else {
        check_diag("att_oe_report_parse", pe, &diag);
    }

    att_ev_input_t in = {
        .evidence = data, .len = size, .now = g_now, .collateral = fuzz_collateral};
    att_ev_result_t r;
    att_err_t e = att_ev_verify(g_set, g_oe, &in, &r);
    check_result("OpenEnclave", e, &r);
    if (g_verbose)
        fprintf(stderr, "fuzz_oe_report: parse %s, verify %s: %s\n", att_err_name(pe),
                att_err_name(e), r.diag.msg);
    if (pe != ATT_OK) {
        FUZZ_CHECK(e != ATT_OK, "a report the parser rejects was accepted");
        FUZZ_CHECK(e == pe, "parse %s, verify %s", att_err_name(pe), att_err_name(e));
    } else {
        att_ev_result_t s;
        att_ev_input_t qin = {
            .evidence = q, .len = qlen, .now = g_now, .collateral = fuzz_collateral};
        att_err_t se = att_ev_verify(g_set, g_sgx, &qin, &s);
        check_result("SgxEnclave", se, &s);
        FUZZ_CHECK(se == e, "OpenEnclave %s, SgxEnclave on the same quote %s", att_err_name(e),
                   att_err_name(se));
        if (e == ATT_OK)
            FUZZ_CHECK(json_equal(r.claims, s.claims), "claims differ between OpenEnclave and "
                                                       "SgxEnclave on the same quote");
        att_ev_result_clear(&s);
    }
    att_ev_result_clear(&r);
    return 0;
}
