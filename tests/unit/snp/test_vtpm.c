/* test_vtpm.c - the vTPM quote inside Azure SEV-SNP evidence through the SevSnpVm type, on the two
 * real Azure vectors: Trustee's az-snp-vtpm JSON (evidence_b.json as published) and MAA's form
 * with a tpm_quote member (hcl_report_a), the signature raw or as a TPMT_SIGNATURE; the claims
 * (PCRs, extraData, whether the nonce was checked); and what rejects the whole request: a wrong
 * nonce, a flipped PCR byte, a flipped quote or signature byte, a quote of another VM's AK, a
 * quote without an HCL report, malformed quote objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attest/evidence.h"
#include "attest/hcl.h"
#include "attest/token.h"
#include "core/util.h"
#include "vectors.h"

#define AT_A "2025-01-01T00:00:00Z" /* hcl_report_a (README: 2023-05-02 .. 2030-05-02) */
#define AT_B "2026-01-01T00:00:00Z" /* evidence_b (README: 2025-01-28 .. 2032-01-28) */

typedef struct {
    uint8_t *p;
    size_t n;
} buf_t;

static buf_t rd(const char *rel)
{
    char path[2048];
    buf_t b = {0};
    att_diag_t d;
    snprintf(path, sizeof(path), "%s/azure-snp-vtpm/%s", ATT_TEST_VECTORS_SNP, rel);
    if (att_read_file(path, 1 << 20, &b.p, &b.n, &d) != ATT_OK)
        fail_msg("%s: %s", path, d.msg);
    return b;
}

static json_t *rd_json(const char *rel)
{
    buf_t b = rd(rel);
    json_t *o = json_loadb((const char *)b.p, b.n, 0, NULL);
    assert_non_null(o);
    free(b.p);
    return o;
}

static att_err_t no_collateral(void *arg, const char *key, att_time_t now, void **out,
                               att_diag_t *d)
{
    (void)arg;
    (void)now;
    (void)out;
    return att_diag_set(d, ATT_E_COLL_MISSING, "test: no collateral for %s", key);
}

/* Trustee's evidence as published. */
static json_t *trustee_b(void)
{
    return rd_json("evidence_b.json");
}

/* MAA's form of vector A: {SnpReport: b64url(HCL report), VcekCertChain: b64url(THIM bundle),
 * tpm_quote: the quote object Trustee's tpm-quote-v1.json has}. */
static json_t *maa_a(void)
{
    buf_t hcl = rd("hcl_report_a.bin"), pem = rd("hcl_report_a.vcek_ask_ark.pem");
    char *h = att_b64url_encode(hcl.p, hcl.n), *c = att_b64url_encode(pem.p, pem.n);
    json_t *o = json_pack("{s:s,s:s,s:o}", "SnpReport", h, "VcekCertChain", c, "tpm_quote",
                          rd_json("hcl_report_a.tpm_quote.json"));
    assert_non_null(o);
    free(h);
    free(c);
    free(hcl.p);
    free(pem.p);
    return o;
}

/* Verify doc through SevSnpVm at `when` with the request's nonce (NULL: none). */
static att_err_t verify(const json_t *doc, const char *nonce, const char *when, att_ev_result_t *r)
{
    att_ev_set_t *set;
    att_diag_t d;
    assert_int_equal(att_ev_set_new(&set, &d), ATT_OK);
    char *ev = json_dumps(doc, JSON_COMPACT);
    att_time_t now;
    assert_int_equal(att_time_parse(when, &now), ATT_OK);
    att_ev_input_t in = {.evidence = (const uint8_t *)ev,
                         .len = strlen(ev),
                         .now = now,
                         .collateral = no_collateral,
                         .nonce = (const uint8_t *)nonce,
                         .nonce_len = nonce ? strlen(nonce) : 0};
    att_err_t e = att_ev_verify(set, att_ev_type_find("SevSnpVm"), &in, r);
    free(ev);
    att_ev_set_free(set);
    return e;
}

/* Verification of doc fails with code and a message holding `what`. */
static void expect(const json_t *doc, const char *nonce, const char *when, att_err_t code,
                   const char *what)
{
    att_ev_result_t r;
    att_err_t e = verify(doc, nonce, when, &r);
    if (e != code || strstr(r.diag.msg, what) == NULL)
        fail_msg("want %s with \"%s\", got %s: %s", att_err_name(code), what, att_err_name(e),
                 r.diag.msg);
    assert_null(r.claims);
    att_ev_result_clear(&r);
}

static json_t *quote_of(json_t *doc)
{
    return json_object_get(doc, "tpm_quote");
}

/* Flip the low bit of hex digit `at` of the JSON string s. */
static void flip_hex(json_t *s, size_t at)
{
    char *t = strdup(json_string_value(s));
    assert_true(at < strlen(t));
    int v = att_hexval(t[at]) ^ 1;
    t[at] = "0123456789abcdef"[v];
    json_string_set(s, t);
    free(t);
}

static void test_trustee_form(void **state)
{
    VEC_SNP_REQUIRE();
    json_t *doc = trustee_b();
    att_ev_result_t r;
    if (verify(doc, "challenge", AT_B, &r) != ATT_OK)
        fail_msg("evidence_b rejected: %s", r.diag.msg);
    assert_int_equal(r.diag.code, ATT_OK);
    json_t *c = r.claims;
    assert_string_equal(json_string_value(json_object_get(c, "x-ms-sevsnpvm-launchmeasurement")),
                        "6a063be9dd79f6371c842e480f8dc3b5c725961344e57130e88c5adf49e8f7f6c79b75a"
                        "5eb77fc769959f4aeb2f9401e");
    assert_string_equal(json_string_value(json_object_get(c, "x-attestd-sevsnpvm-vtpm-extradata")),
                        "6368616c6c656e6765"); /* "challenge" */
    assert_true(json_is_true(json_object_get(c, "x-attestd-sevsnpvm-vtpm-nonce-checked")));
    json_t *idx = json_object_get(c, "x-attestd-sevsnpvm-vtpm-attested-pcrs");
    assert_int_equal(json_array_size(idx), 24);
    assert_int_equal(json_integer_value(json_array_get(idx, 23)), 23);
    json_t *bank = json_object_get(json_object_get(c, "x-attestd-sevsnpvm-vtpm-pcrs"), "sha256");
    assert_int_equal(json_object_size(bank), 24);
    /* the values are the evidence's, e.g. PCR 17 of a VM without DRTM */
    assert_string_equal(
        json_string_value(json_object_get(bank, "17")),
        json_string_value(json_array_get(json_object_get(quote_of(doc), "pcrs"), 17)));
    assert_non_null(json_object_get(c, "x-ms-runtime")); /* the AK's runtime data */
    att_ev_result_clear(&r);

    /* No nonce in the request: accepted, extraData reported, not checked. */
    assert_int_equal(verify(doc, NULL, AT_B, &r), ATT_OK);
    assert_true(json_is_false(json_object_get(r.claims, "x-attestd-sevsnpvm-vtpm-nonce-checked")));
    assert_string_equal(
        json_string_value(json_object_get(r.claims, "x-attestd-sevsnpvm-vtpm-extradata")),
        "6368616c6c656e6765");
    att_ev_result_clear(&r);

    /* version 0 of Trustee's form had no vcek: the VCEK then comes from the collateral source
     * (none here), the quote is not reached. */
    json_object_set_new(doc, "version", json_integer(0));
    json_object_del(doc, "vcek");
    expect(doc, "challenge", AT_B, ATT_E_COLL_MISSING, "VCEK");
    json_decref(doc);
}

static void test_maa_form(void **state)
{
    VEC_SNP_REQUIRE();
    json_t *doc = maa_a();
    att_ev_result_t r;
    if (verify(doc, "challenge", AT_A, &r) != ATT_OK)
        fail_msg("hcl_report_a with its quote rejected: %s", r.diag.msg);
    assert_true(json_is_true(json_object_get(r.claims, "x-attestd-sevsnpvm-vtpm-nonce-checked")));
    assert_string_equal(
        json_string_value(json_object_get(r.claims, "x-ms-sevsnpvm-reportdata")),
        "b3fbad6514c83caeb0380882145e49f794229ef37c421b91fc47ff93556bafac0000000000000000000000"
        "000000000000000000000000000000000000000000");
    att_ev_result_clear(&r);

    /* The same signature as a TPMT_SIGNATURE (RSASSA, SHA-256, TPM2B). */
    json_t *sig = json_object_get(quote_of(doc), "signature");
    char *t = malloc(12 + json_string_length(sig) + 1);
    snprintf(t, 12 + json_string_length(sig) + 1, "0014000b0100%s", json_string_value(sig));
    json_string_set(sig, t);
    free(t);
    if (verify(doc, "challenge", AT_A, &r) != ATT_OK)
        fail_msg("TPMT_SIGNATURE form rejected: %s", r.diag.msg);
    att_ev_result_clear(&r);

    /* Without a tpm_quote the HCL report verifies as before, with no vTPM claims. */
    json_object_del(doc, "tpm_quote");
    assert_int_equal(verify(doc, "challenge", AT_A, &r), ATT_OK);
    assert_null(json_object_get(r.claims, "x-attestd-sevsnpvm-vtpm-pcrs"));
    att_ev_result_clear(&r);
    json_decref(doc);
}

/* Each failing vTPM check rejects the whole request with the TPM error. */
static void test_negatives(void **state)
{
    VEC_SNP_REQUIRE();
    for (int k = 0; k < 2; k++) {
        const char *when = k ? AT_B : AT_A;
        json_t *doc = k ? trustee_b() : maa_a();
        /* a wrong nonce, a longer one, a prefix */
        expect(doc, "challengf", when, ATT_E_TPM_NONCE, "the vTPM quote: the quote's extraData");
        expect(doc, "challenge!", when, ATT_E_TPM_NONCE, "(10 bytes)");
        expect(doc, "challeng", when, ATT_E_TPM_NONCE, "(8 bytes)");
        /* one flipped PCR bit */
        json_t *pcr7 = json_array_get(json_object_get(quote_of(doc), "pcrs"), 7);
        flip_hex(pcr7, 10);
        expect(doc, "challenge", when, ATT_E_TPM_PCR_DIGEST, "the vTPM quote");
        expect(doc, NULL, when, ATT_E_TPM_PCR_DIGEST, "the vTPM quote");
        flip_hex(pcr7, 10);
        /* one flipped bit of the quote's clock (bytes 53..60 of the TPMS_ATTEST) */
        json_t *msg = json_object_get(quote_of(doc), "message");
        flip_hex(msg, 2 * 56 + 1);
        expect(doc, "challenge", when, ATT_E_TPM_SIGNATURE, "does not verify with the AK");
        flip_hex(msg, 2 * 56 + 1);
        /* one flipped bit of the signature */
        json_t *sig = json_object_get(quote_of(doc), "signature");
        flip_hex(sig, 100);
        expect(doc, "challenge", when, ATT_E_TPM_SIGNATURE, "does not verify with the AK");
        flip_hex(sig, 100);
        /* and back: accepted */
        att_ev_result_t r;
        assert_int_equal(verify(doc, "challenge", when, &r), ATT_OK);
        att_ev_result_clear(&r);
        json_decref(doc);
    }
}

/* A quote signed by an AK that is not the one of the runtime data: vector B's quote (its own
 * VM's AK, valid on its own) with vector A's HCL report. */
static void test_other_ak(void **state)
{
    VEC_SNP_REQUIRE();
    json_t *a = maa_a(), *b = trustee_b(), *maa_a_quote = maa_a();
    json_object_set(a, "tpm_quote", quote_of(b));
    expect(a, "challenge", AT_A, ATT_E_TPM_SIGNATURE, "does not verify with the AK (RSA-2048)");
    expect(a, NULL, AT_A, ATT_E_TPM_SIGNATURE, "does not verify with the AK (RSA-2048)");
    /* An AK carried in the quote object (as Trustee's TPM evidence has ak_public) is refused,
     * not used: the AK is the runtime data's. */
    json_object_set(a, "tpm_quote", quote_of(maa_a_quote));
    json_object_set_new(quote_of(a), "ak_public", json_string("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"));
    expect(a, "challenge", AT_A, ATT_E_EVIDENCE_FORMAT, "member \"ak_public\"");
    json_object_del(quote_of(a), "ak_public");
    /* A tpm_quote beside a bare SNP report: no runtime data, so no AK. */
    buf_t snp = rd("hcl_report_a.snp.bin");
    char *s = att_b64url_encode(snp.p, snp.n);
    json_object_set_new(a, "SnpReport", json_string(s));
    expect(a, "challenge", AT_A, ATT_E_EVIDENCE_FORMAT, "no Azure HCL report");
    free(s);
    free(snp.p);
    json_decref(a);
    json_decref(b);
    json_decref(maa_a_quote);
}

static void test_malformed(void **state)
{
    VEC_SNP_REQUIRE();
    json_t *doc = trustee_b(), *q = json_incref(quote_of(doc));
    json_t *msg = json_incref(json_object_get(q, "message")),
           *pcrs = json_deep_copy(json_object_get(q, "pcrs"));
    struct {
        const char *member, *value, *what;
    } bad[] = {
        {"message", "", "message must be a hex string of 1 to 2304 bytes"},
        {"message", "zz", "message is not hex"},
        {"message", "abc", "message must be a hex string"},
        {"message", "ff54434780", "the tpm_quote's message: the TPMS_ATTEST has 5 bytes"},
        {"signature", "", "signature must be a hex string of 1 to 518 bytes"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *keep = json_incref(json_object_get(q, bad[i].member));
        json_object_set_new(q, bad[i].member, json_string(bad[i].value));
        expect(doc, "challenge", AT_B, ATT_E_EVIDENCE_FORMAT, bad[i].what);
        json_object_set_new(q, bad[i].member, keep);
    }
    /* a message beyond the bound */
    char *big = malloc(2 * 2305 + 1);
    memset(big, 'a', 2 * 2305);
    big[2 * 2305] = 0;
    json_object_set_new(q, "message", json_string(big));
    expect(doc, "challenge", AT_B, ATT_E_EVIDENCE_FORMAT, "1 to 2304 bytes");
    free(big);
    json_object_set(q, "message", msg);
    /* 23 PCR values for a quote over 24 */
    json_array_remove(json_object_get(q, "pcrs"), 23);
    expect(doc, "challenge", AT_B, ATT_E_EVIDENCE_FORMAT, "covers sha256 PCR 23 but its pcrs");
    /* a value of the wrong size; not an array; 25 values */
    json_object_set_new(q, "pcrs", json_deep_copy(pcrs));
    json_array_set_new(json_object_get(q, "pcrs"), 3, json_string("00"));
    expect(doc, "challenge", AT_B, ATT_E_EVIDENCE_FORMAT, "pcrs[3] must be 32 bytes");
    json_object_set_new(q, "pcrs", json_string("00"));
    expect(doc, "challenge", AT_B, ATT_E_EVIDENCE_FORMAT, "array of 1 to 24");
    json_object_set_new(q, "pcrs", json_deep_copy(pcrs));
    json_array_append_new(json_object_get(q, "pcrs"), json_string("00"));
    expect(doc, "challenge", AT_B, ATT_E_EVIDENCE_FORMAT, "array of 1 to 24");
    json_object_set_new(q, "pcrs", pcrs);
    /* the quote object itself; Trustee's form without it; both forms at once; a version */
    json_object_set_new(doc, "tpm_quote", json_string("x"));
    expect(doc, "challenge", AT_B, ATT_E_EVIDENCE_FORMAT, "tpm_quote must be an object");
    json_object_del(doc, "tpm_quote");
    expect(doc, "challenge", AT_B, ATT_E_EVIDENCE_FORMAT, "has no tpm_quote");
    json_object_set(doc, "tpm_quote", q);
    json_object_set_new(doc, "SnpReport", json_string("AAAA"));
    expect(doc, "challenge", AT_B, ATT_E_EVIDENCE_FORMAT, "give one");
    json_object_del(doc, "SnpReport");
    json_object_set_new(doc, "version", json_integer(7));
    expect(doc, "challenge", AT_B, ATT_E_EVIDENCE_FORMAT, "version must be 0 or 1");
    json_object_set_new(doc, "version", json_integer(1));
    att_ev_result_t r;
    assert_int_equal(verify(doc, "challenge", AT_B, &r), ATT_OK);
    att_ev_result_clear(&r);
    json_decref(msg);
    json_decref(q);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trustee_form), cmocka_unit_test(test_maa_form),
        cmocka_unit_test(test_negatives),    cmocka_unit_test(test_other_ak),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
