/* fuzz_snp_guest.c - libFuzzer target: what an SEV-SNP guest sends besides the bare report.
 *
 * The first byte picks the parser, the rest is its input:
 *   0  an Azure HCL report: att_hcl_report_parse, then att_hcl_check_binding against the
 *      REPORT_DATA bytes of the report inside;
 *   1  an extended request's certificate table: att_snp_cert_table_parse, then
 *      att_snp_maa_evidence with a fixed report and the certificates found;
 *   2  SevSnpVm evidence (MAA's JSON, an HCL report or a raw report) through the evidence
 *      registry (att_ev_verify) at 2025-01-01T00:00:00Z, with no collateral source.
 * Invariants checked (abort = crash for libFuzzer):
 *   - on failure the diag code equals the returned code and the message is NUL-terminated;
 *   - a parsed HCL report's SNP report starts 32 bytes into the input, its runtime data lies
 *     inside the input after it, and its runtime JSON is an object;
 *   - every certificate slice of a parsed table lies inside the input, after the table;
 *   - an accepted SevSnpVm verification has claims whose x-ms-attestation-type is "sevsnpvm" and
 *     a REPORT_DATA claim equal to the result's report data.
 * Seed corpus: from tests/fuzz/vector-seeds (snp_guest/: the Azure HCL reports, certificate
 * tables and MAA JSON evidence made from the SEV-SNP vectors, and the az-snp-vtpm JSON
 * azure-snp-vtpm/evidence_b.json with its vTPM quote).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/evidence.h"
#include "attest/hcl.h"
#include "attest/snp_guest.h"
#include "core/util.h"
#include "fuzz_common.h"

static att_ev_set_t *g_set;
static att_time_t g_now;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    att_diag_t d;
    if (att_ev_set_new(&g_set, &d) != ATT_OK ||
        att_time_parse("2025-01-01T00:00:00Z", &g_now) != ATT_OK) {
        fprintf(stderr, "fuzz_snp_guest: cannot start: %s\n", d.msg);
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

static bool inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t len)
{
    return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static void hcl(const uint8_t *data, size_t size)
{
    att_hcl_report_t h;
    att_diag_t d = {0};
    att_err_t e = att_hcl_report_parse(data, size, &h, &d);
    if (e != ATT_OK) {
        check_diag("att_hcl_report_parse", e, &d);
        return;
    }
    FUZZ_CHECK(h.report == data + ATT_HCL_HEADER_LEN, "the SNP report is not at offset 32");
    FUZZ_CHECK(inside(h.runtime_data, h.runtime_len, data, size) &&
                   h.runtime_data >= h.report + ATT_HCL_HW_REPORT_LEN,
               "runtime data outside the input or inside the report");
    FUZZ_CHECK(json_is_object(h.runtime), "runtime data parsed to a non-object");
    e = att_hcl_check_binding(&h, h.report + 0x50, &d);
    if (e != ATT_OK)
        check_diag("att_hcl_check_binding", e, &d);
    att_hcl_report_clear(&h);
}

static void table(const uint8_t *data, size_t size)
{
    att_snp_certs_t c;
    att_diag_t d = {0};
    att_err_t e = att_snp_cert_table_parse(data, size, &c, &d);
    if (e != ATT_OK) {
        check_diag("att_snp_cert_table_parse", e, &d);
        return;
    }
    const att_slice_t *all[] = {&c.vcek, &c.vlek, &c.ask, &c.ark};
    for (size_t i = 0; i < 4; i++)
        FUZZ_CHECK(all[i]->ptr == NULL || (inside(all[i]->ptr, all[i]->len, data, size) &&
                                           all[i]->len > 0 && all[i]->ptr >= data + 24),
                   "certificate %zu outside the input or inside the table", i);
    static const uint8_t report[ATT_HCL_HW_REPORT_LEN];
    char *json = NULL;
    size_t jlen = 0;
    e = att_snp_maa_evidence(report, sizeof report, &c, &json, &jlen, &d);
    if (e != ATT_OK)
        check_diag("att_snp_maa_evidence", e, &d);
    else
        FUZZ_CHECK(json != NULL && strlen(json) == jlen, "evidence JSON length");
    free(json);
}

static void evidence(const uint8_t *data, size_t size)
{
    const att_ev_type_t *t = att_ev_type_find("SevSnpVm");
    att_ev_input_t in = {.evidence = data, .len = size, .now = g_now};
    att_ev_result_t r;
    att_err_t e = att_ev_verify(g_set, t, &in, &r);
    check_diag("att_ev_verify", e, &r.diag);
    if (e == ATT_OK) {
        const char *at = json_string_value(json_object_get(r.claims, "x-ms-attestation-type"));
        FUZZ_CHECK(at != NULL && strcmp(at, "sevsnpvm") == 0, "attestation type %s",
                   at ? at : "(none)");
        char hex[129];
        att_hex_encode(r.report_data, 64, hex);
        const char *rd = json_string_value(json_object_get(r.claims, "x-ms-sevsnpvm-reportdata"));
        FUZZ_CHECK(rd != NULL && strcmp(rd, hex) == 0, "REPORT_DATA claim differs");
    }
    att_ev_result_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        hcl(data + 1, size - 1);
        break;
    case 1:
        table(data + 1, size - 1);
        break;
    default:
        evidence(data + 1, size - 1);
        break;
    }
    return 0;
}
