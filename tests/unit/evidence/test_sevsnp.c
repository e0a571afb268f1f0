/* test_sevsnp.c - the SevSnpVm type through the evidence registry, on the shared SEV-SNP vectors:
 * MAA's JSON form {SnpReport, VcekCertChain}, the Azure HCL report (its runtime data bound into
 * REPORT_DATA and issued as x-ms-runtime), MAA's claim names, the data binding to REPORT_DATA and
 * HOST_DATA, and the errors: no chain, a malformed form, a broken binding, an RSA test root going
 * to the SNP backend. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "attest/evidence.h"
#include "attest/token.h"
#include "core/util.h"
#include "crypto/crypto.h"
#include "vectors.h"

typedef struct {
    uint8_t *p;
    size_t n;
} buf_t;

static buf_t rd(const char *rel)
{
    char path[2048];
    buf_t b = {0};
    att_diag_t d;
    snprintf(path, sizeof(path), "%s/%s", ATT_TEST_VECTORS_SNP, rel);
    if (att_read_file(path, 1 << 20, &b.p, &b.n, &d) != ATT_OK)
        fail_msg("%s: %s", path, d.msg);
    return b;
}

static att_time_t at(const char *s)
{
    att_time_t t = 0;
    assert_int_equal(att_time_parse(s, &t), ATT_OK);
    return t;
}

/* PEM of a DER certificate followed by the PEM chain: the VcekCertChain MAA takes. */
static char *vcek_chain(const buf_t *der, const buf_t *chain)
{
    const uint8_t *p = der->p;
    X509 *x = d2i_X509(NULL, &p, (long)der->n);
    assert_non_null(x);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    BIO_write(b, chain->p, (int)chain->n);
    char *mem;
    long n = BIO_get_mem_data(b, &mem);
    char *out = strndup(mem, (size_t)n);
    BIO_free(b);
    X509_free(x);
    return out;
}

/* {"SnpReport": b64url(report), "VcekCertChain": b64url(chain)} as the evidence bytes. */
static char *maa_json(const uint8_t *rep, size_t rlen, const char *chain)
{
    char *r = att_b64url_encode(rep, rlen);
    char *c = chain ? att_b64url_encode((const uint8_t *)chain, strlen(chain)) : NULL;
    json_t *o = json_pack("{s:s}", "SnpReport", r);
    if (c != NULL)
        json_object_set_new(o, "VcekCertChain", json_string(c));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    free(r);
    free(c);
    return s;
}

static att_err_t no_collateral(void *arg, const char *key, att_time_t now, void **out,
                               att_diag_t *d)
{
    (void)arg;
    (void)now;
    (void)out;
    return att_diag_set(d, ATT_E_COLL_MISSING, "test: no collateral for %s", key);
}

static const char *claim_s(const att_ev_result_t *r, const char *k)
{
    return json_string_value(json_object_get(r->claims, k));
}

static void test_maa_json_form(void **state)
{
    VEC_SNP_REQUIRE();
    const att_ev_type_t *t = att_ev_type_find("SevSnpVm");
    assert_true(att_ev_type_supported(t));
    assert_string_equal(t->fields[0], "report");
    att_ev_set_t *set;
    att_diag_t d;
    assert_int_equal(att_ev_set_new(&set, &d), ATT_OK);
    buf_t rep = rd("go-sev-guest/report.bin"), vcek = rd("go-sev-guest/vcek.der"),
          chain = rd("go-sev-guest/cert_chain_milan.pem");
    char *pem = vcek_chain(&vcek, &chain);
    char *ev = maa_json(rep.p, rep.n, pem);
    att_ev_input_t in = {.evidence = (const uint8_t *)ev,
                         .len = strlen(ev),
                         .now = at("2025-01-01T00:00:00Z"),
                         .collateral = no_collateral};
    att_ev_result_t r;
    if (att_ev_verify(set, t, &in, &r) != ATT_OK)
        fail_msg("go-sev-guest rejected: %s", r.diag.msg);
    /* accepted: no diagnosis left behind (the CRL no source had is not an error) */
    assert_int_equal(r.diag.code, ATT_OK);
    assert_string_equal(claim_s(&r, "x-ms-attestation-type"), "sevsnpvm");
    assert_true(json_is_true(json_object_get(r.claims, "x-ms-sevsnpvm-is-debuggable")));
    assert_string_equal(claim_s(&r, "x-ms-sevsnpvm-launchmeasurement"),
                        "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ec"
                        "e31a5a608eb0cf2e4872b01");
    assert_int_equal(json_integer_value(json_object_get(r.claims, "x-ms-sevsnpvm-snpfw-svn")), 5);
    assert_int_equal(json_integer_value(json_object_get(r.claims, "x-ms-sevsnpvm-microcode-svn")),
                     68);
    assert_int_equal(json_integer_value(json_object_get(r.claims, "x-ms-sevsnpvm-bootloader-svn")),
                     2);
    assert_int_equal(json_integer_value(json_object_get(r.claims, "x-ms-sevsnpvm-vmpl")), 0);
    assert_non_null(json_object_get(r.claims, "x-ms-sevsnpvm-familyId"));
    assert_non_null(json_object_get(r.claims, "x-ms-sevsnpvm-imageId"));
    assert_true(json_is_true(json_object_get(r.claims, "x-ms-sevsnpvm-smt-allowed")));
    assert_true(json_is_false(json_object_get(r.claims, "x-ms-sevsnpvm-migration-allowed")));
    assert_string_equal(claim_s(&r, "x-attestd-sevsnpvm-product"), "Milan");
    assert_string_equal(claim_s(&r, "x-attestd-sevsnpvm-signing-key"), "vcek");
    assert_int_equal(strncmp(claim_s(&r, "x-attestd-sevsnpvm-chip-id"), "3ac3fe21e13fb099", 16), 0);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(r.claims, "x-attestd-sevsnpvm-reported-tcb"), "snp")),
                     5);
    assert_null(json_object_get(r.claims, "x-attestd-simulated")); /* AMD's ARK */
    assert_null(json_object_get(r.claims, "x-ms-runtime"));
    /* Binding: REPORT_DATA is 01 02 03 04 05 00..., no runtime data hashes to it. */
    static const uint8_t rt[] = "runtime";
    assert_int_equal(att_ev_bind(&r, rt, sizeof(rt) - 1, NULL, 0, &d), ATT_E_EVIDENCE_BINDING);
    assert_non_null(strstr(d.msg, "REPORT_DATA"));
    assert_int_equal(att_ev_bind(&r, NULL, 0, rt, sizeof(rt) - 1, &d), ATT_E_EVIDENCE_BINDING);
    assert_non_null(strstr(d.msg, "HOST_DATA"));
    att_ev_result_clear(&r);

    /* At a time outside the VCEK's validity: the library's diagnosis comes through. */
    in.now = at("2031-01-01T00:00:00Z");
    assert_int_not_equal(att_ev_verify(set, t, &in, &r), ATT_OK);
    assert_true(r.diag.msg[0] != '\0');
    att_ev_result_clear(&r);

    /* Without the chain: the VCEK is asked from the collateral source, whose error comes back. */
    free(ev);
    ev = maa_json(rep.p, rep.n, NULL);
    in.evidence = (const uint8_t *)ev;
    in.len = strlen(ev);
    in.now = at("2025-01-01T00:00:00Z");
    assert_int_equal(att_ev_verify(set, t, &in, &r), ATT_E_COLL_MISSING);
    att_ev_result_clear(&r);
    /* A raw report is the same case. */
    in.evidence = rep.p;
    in.len = rep.n;
    assert_int_equal(att_ev_verify(set, t, &in, &r), ATT_E_COLL_MISSING);
    att_ev_result_clear(&r);

    /* Malformed forms: not JSON, no SnpReport, SnpReport not base64url, a truncated report. */
    const char *bad[] = {"{", "{}", "{\"SnpReport\": 5}", "{\"SnpReport\": \"***\"}",
                         "{\"SnpReport\": \"AAAA\", \"VcekCertChain\": \"AAAA\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        in.evidence = (const uint8_t *)bad[i];
        in.len = strlen(bad[i]);
        assert_int_equal(att_ev_verify(set, t, &in, &r), ATT_E_EVIDENCE_FORMAT);
        att_ev_result_clear(&r);
    }
    free(ev);
    free(pem);
    free(rep.p);
    free(vcek.p);
    free(chain.p);
    att_ev_set_free(set);
}

static void test_azure_hcl_report(void **state)
{
    VEC_SNP_REQUIRE();
    const att_ev_type_t *t = att_ev_type_find("SevSnpVm");
    att_ev_set_t *set;
    att_diag_t d;
    assert_int_equal(att_ev_set_new(&set, &d), ATT_OK);
    buf_t hcl = rd("azure-snp-vtpm/hcl_report_a.bin"),
          chain = rd("azure-snp-vtpm/hcl_report_a.vcek_ask_ark.pem"),
          runtime = rd("azure-snp-vtpm/hcl_report_a.runtime_data.json");
    char *pem = strndup((const char *)chain.p, chain.n);
    char *ev = maa_json(hcl.p, hcl.n, pem);
    att_ev_input_t in = {.evidence = (const uint8_t *)ev,
                         .len = strlen(ev),
                         .now = at("2025-01-01T00:00:00Z"),
                         .collateral = no_collateral};
    att_ev_result_t r;
    if (att_ev_verify(set, t, &in, &r) != ATT_OK)
        fail_msg("Azure HCL report rejected: %s", r.diag.msg);
    assert_string_equal(claim_s(&r, "x-ms-sevsnpvm-reportdata"),
                        "b3fbad6514c83caeb0380882145e49f794229ef37c421b91fc47ff93556bafac0000000000"
                        "000000000000000000000000000000000000000000000000000000");
    /* The paravisor's runtime data is issued as x-ms-runtime, its AK among the keys. */
    json_t *keys = json_object_get(json_object_get(r.claims, "x-ms-runtime"), "keys");
    assert_true(json_array_size(keys) >= 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 0), "kid")),
                        "HCLAkPub");
    /* The runtime data binds to REPORT_DATA through att_ev_bind as well. */
    assert_int_equal(att_ev_bind(&r, runtime.p, runtime.n, NULL, 0, &d), ATT_OK);
    att_ev_result_clear(&r);

    /* One byte of the runtime data changed (still JSON: the AK's kid): the binding to
     * REPORT_DATA fails. */
    uint8_t *bent = malloc(hcl.n);
    memcpy(bent, hcl.p, hcl.n);
    uint8_t *kid = memmem(bent + 0x4C0, hcl.n - 0x4C0, "HCLAkPub", 8);
    assert_non_null(kid);
    kid[3] = 'B';
    free(ev);
    ev = maa_json(bent, hcl.n, pem);
    in.evidence = (const uint8_t *)ev;
    in.len = strlen(ev);
    assert_int_equal(att_ev_verify(set, t, &in, &r), ATT_E_EVIDENCE_BINDING);
    assert_non_null(strstr(r.diag.msg, "runtime data"));
    att_ev_result_clear(&r);
    /* A bad header field and trailing non-zero bytes are format errors naming the field. */
    memcpy(bent, hcl.p, hcl.n);
    bent[4] = 9; /* version */
    free(ev);
    ev = maa_json(bent, hcl.n, pem);
    in.evidence = (const uint8_t *)ev;
    in.len = strlen(ev);
    assert_int_equal(att_ev_verify(set, t, &in, &r), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(r.diag.msg, "version 9"));
    att_ev_result_clear(&r);
    memcpy(bent, hcl.p, hcl.n);
    bent[hcl.n - 1] = 1;
    free(ev);
    ev = maa_json(bent, hcl.n, pem);
    in.evidence = (const uint8_t *)ev;
    in.len = strlen(ev);
    assert_int_equal(att_ev_verify(set, t, &in, &r), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(r.diag.msg, "padding"));
    att_ev_result_clear(&r);
    free(bent);
    free(ev);
    free(pem);
    free(hcl.p);
    free(chain.p);
    free(runtime.p);
    att_ev_set_free(set);
}

/* An RSA root goes to the SNP backend (it is no DCAP root); a P-256 root does not. */
static void test_roots(void **state)
{
    VEC_SNP_REQUIRE();
    att_ev_set_t *set;
    att_diag_t d;
    assert_int_equal(att_ev_set_new(&set, &d), ATT_OK);
    buf_t ark = rd("amd-roots/ark_genoa.pem");
    assert_int_equal(att_ev_set_add_root(set, ark.p, ark.n, &d), ATT_OK);
    assert_int_equal(att_trust_count(att_ev_set_trust(set, "snp")), 1);
    assert_int_equal(att_trust_count(att_ev_set_trust(set, "dcap")), 1); /* Intel's only */
    free(ark.p);
    att_ev_set_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maa_json_form),
        cmocka_unit_test(test_azure_hcl_report),
        cmocka_unit_test(test_roots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
