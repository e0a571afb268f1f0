/* test_evidence.c - the evidence interface: routing by type, MAA claims from real vectors,
 * the Open Enclave envelope, and runtime / init-time data binding (with simulated quotes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "../dcap/vec.h"
#include "attest/collateral.h" /* att_dcap_coll_key */
#include "attest/evidence.h"
#include "attest/sim.h"
#include "crypto/crypto.h"

/* A collateral source that serves one collateral object and counts calls. */
typedef struct {
    att_dcap_collateral_t *coll;
    int calls;
    char ca[16];
} one_src_t;

static att_err_t one_collateral(void *arg, const char *key, att_time_t now, void **out,
                                att_diag_t *diag)
{
    one_src_t *s = arg;
    s->calls++;
    /* the key the DCAP backend asks with: "dcap/<tee>/<fmspc>/<ca>", ca from the PCK chain */
    const char *ca = strrchr(key, '/');
    snprintf(s->ca, sizeof(s->ca), "%s", ca ? ca + 1 : "");
    uint8_t f[6];
    att_dcap_collateral_fmspc(s->coll, f);
    char want[ATT_COLL_KEY_MAX];
    if (att_dcap_coll_key(att_dcap_collateral_tee(s->coll), f, s->ca, want, sizeof want, NULL) !=
            ATT_OK ||
        strcmp(key, want) != 0)
        return att_diag_set(diag, ATT_E_COLL_MISSING, "no collateral for %s", key);
    *out = att_dcap_collateral_ref(s->coll);
    return ATT_OK;
}

static att_ev_set_t *new_set(void)
{
    att_ev_set_t *set;
    att_diag_t d;
    assert_int_equal(att_ev_set_new(&set, &d), ATT_OK);
    return set;
}

static bool intel_root(const att_ev_result_t *r)
{
    return ((const att_dcap_result_t *)r->detail)->intel_root;
}

static void test_sgx_and_tdx_claims(void **state)
{
    VEC_REQUIRE();
    att_trust_t *trust = att_trust_new();
    att_ev_set_t *set = new_set();
    vec_t s, t;
    assert_int_equal(vec_load(&s, vec_names[0]), 0);
    assert_int_equal(vec_load(&t, vec_names[1]), 0);
    one_src_t src = {0};
    att_diag_t d;
    assert_int_equal(att_dcap_collateral_new(&s.raw, trust, &src.coll, &d), ATT_OK);
    att_ev_input_t in = {.evidence = s.quote,
                         .len = s.quote_len,
                         .now = s.at,
                         .collateral = one_collateral,
                         .collateral_arg = &src};
    const att_ev_type_t *sgx = att_ev_type_find("SgxEnclave");
    assert_non_null(sgx);
    assert_string_equal(sgx->attestation_type, "sgx");
    att_ev_result_t r;
    assert_int_equal(att_ev_verify(set, sgx, &in, &r), ATT_OK);
    assert_string_equal(src.ca, "processor");
    json_t *c = r.claims;
    assert_null(json_object_get(c, "x-attestd-simulated"));
    assert_true(intel_root(&r));
    assert_string_equal(json_string_value(json_object_get(c, "x-ms-attestation-type")), "sgx");
    assert_string_equal(json_string_value(json_object_get(c, "x-ms-sgx-mrenclave")),
                        "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb");
    assert_true(json_is_false(json_object_get(c, "x-ms-sgx-is-debuggable")));
    assert_int_equal(json_integer_value(json_object_get(c, "x-ms-sgx-product-id")), 0);
    assert_string_equal(json_string_value(json_object_get(c, "x-ms-sgx-tcb-status")),
                        "ConfigurationAndSWHardeningNeeded");
    assert_int_equal(json_array_size(json_object_get(c, "x-ms-sgx-advisory-ids")), 2);
    json_t *coll = json_object_get(c, "x-ms-sgx-collateral");
    uint8_t h[32];
    char hex[65];
    assert_true(att_sha256_2(s.quote, s.quote_len, NULL, 0, h));
    att_hex_encode(h, 32, hex);
    assert_string_equal(json_string_value(json_object_get(coll, "quotehash")), hex);
    assert_true(att_sha256_2(s.raw.tcb_info.ptr, s.raw.tcb_info.len, NULL, 0, h));
    att_hex_encode(h, 32, hex);
    assert_string_equal(json_string_value(json_object_get(coll, "tcbinfohash")), hex);
    assert_int_equal(json_object_size(coll), 7);
    /* The report data is the quote's (Hello, world! padded). */
    assert_memory_equal(r.report_data, "Hello, world!", 13);
    att_ev_result_clear(&r);

    /* The TDX endpoint refuses the SGX quote, and the SGX endpoint the TDX quote. */
    const att_ev_type_t *tdx = att_ev_type_find("TdxVm");
    assert_int_equal(att_ev_verify(set, tdx, &in, &r), ATT_E_EVIDENCE_TYPE);
    assert_non_null(strstr(r.diag.msg, "SGX quote"));
    att_ev_result_clear(&r);
    in.evidence = t.quote;
    in.len = t.quote_len;
    assert_int_equal(att_ev_verify(set, sgx, &in, &r), ATT_E_EVIDENCE_TYPE);
    att_ev_result_clear(&r);

    /* TDX with its own collateral. */
    att_dcap_collateral_free(src.coll);
    assert_int_equal(att_dcap_collateral_new(&t.raw, trust, &src.coll, &d), ATT_OK);
    in.now = t.at;
    assert_int_equal(att_ev_verify(set, tdx, &in, &r), ATT_OK);
    assert_string_equal(src.ca, "platform");
    c = r.claims;
    assert_string_equal(json_string_value(json_object_get(c, "x-ms-attestation-type")), "tdxvm");
    assert_string_equal(json_string_value(json_object_get(c, "attester_tcb_status")), "UpToDate");
    assert_string_equal(json_string_value(json_object_get(c, "dbgstat")), "disabled");
    assert_string_equal(json_string_value(json_object_get(c, "tdx_mrtd")),
                        "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5"
                        "f87f27428b2538873118b7");
    assert_true(json_is_true(json_object_get(c, "tdx_td_attributes_septve_disable")));
    assert_true(json_is_false(json_object_get(c, "tdx_td_attributes_debug")));
    assert_int_equal(json_integer_value(json_object_get(c, "tdx_seamsvn")), 0x0106);
    att_ev_result_clear(&r);

    /* A verification failure carries the verifier's diagnosis. */
    in.now = t.at + 365 * 86400;
    assert_int_not_equal(att_ev_verify(set, tdx, &in, &r), ATT_OK);
    assert_non_null(strstr(r.diag.msg, "expired"));
    att_ev_result_clear(&r);

    /* The set's DCAP instance kept the chains it checked in its cache (SGX's, TDX's). */
    att_ev_stats_t st;
    att_ev_set_stats(set, &st);
    assert_true(st.cache_misses >= 2);
    att_dcap_collateral_free(src.coll);
    att_ev_set_free(set);
    vec_free(&s);
    vec_free(&t);
    att_trust_free(trust);
}

static void test_open_enclave_envelope(void **state)
{
    VEC_REQUIRE();
    att_trust_t *trust = att_trust_new();
    vec_t s;
    assert_int_equal(vec_load(&s, vec_names[0]), 0);
    one_src_t src = {0};
    att_diag_t d;
    assert_int_equal(att_dcap_collateral_new(&s.raw, trust, &src.coll, &d), ATT_OK);
    att_ev_set_t *set = new_set();
    uint8_t *oe = malloc(16 + s.quote_len);
    uint32_t v = 1, type = 2;
    uint64_t size = s.quote_len;
    memcpy(oe, &v, 4);
    memcpy(oe + 4, &type, 4);
    memcpy(oe + 8, &size, 8);
    memcpy(oe + 16, s.quote, s.quote_len);
    att_ev_result_t r;
    const att_ev_type_t *oev = att_ev_type_find("OpenEnclave");
    att_ev_input_t in = {.evidence = oe,
                         .len = 16 + s.quote_len,
                         .now = s.at,
                         .collateral = one_collateral,
                         .collateral_arg = &src};
    assert_int_equal(att_ev_verify(set, oev, &in, &r), ATT_OK);
    assert_string_equal(json_string_value(json_object_get(r.claims, "x-ms-sgx-mrsigner")),
                        "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6");
    att_ev_result_clear(&r);
    /* Header errors. */
    oe[0] = 2;
    assert_int_equal(att_ev_verify(set, oev, &in, &r), ATT_E_EVIDENCE_FORMAT);
    att_ev_result_clear(&r);
    oe[0] = 1;
    oe[4] = 1; /* local report */
    assert_int_equal(att_ev_verify(set, oev, &in, &r), ATT_E_EVIDENCE_FORMAT);
    att_ev_result_clear(&r);
    oe[4] = 2;
    in.len = 15 + s.quote_len;
    assert_int_equal(att_ev_verify(set, oev, &in, &r), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(r.diag.msg, "declares"));
    att_ev_result_clear(&r);
    in.len = 10;
    assert_int_equal(att_ev_verify(set, oev, &in, &r), ATT_E_EVIDENCE_FORMAT);
    att_ev_result_clear(&r);
    att_ev_set_free(set);
    free(oe);
    att_dcap_collateral_free(src.coll);
    vec_free(&s);
    att_trust_free(trust);
}

/* Binding: simulated quotes whose report data / config id carry chosen digests. */
static void bind_case(att_tee_t tee, uint16_t version)
{
    att_time_t now;
    assert_int_equal(att_time_parse("2026-01-01T00:00:00Z", &now), ATT_OK);
    att_diag_t d;
    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, tee == ATT_TEE_TDX ? ATT_SIM_CA_PLATFORM : ATT_SIM_CA_PROCESSOR,
                             now);
    att_sim_pki_t *pki;
    assert_int_equal(att_sim_pki_new(&po, &pki, &d), ATT_OK);
    att_sim_collateral_opts_t co;
    att_sim_collateral_opts_default(&co, pki, tee, now);
    att_sim_collateral_t sc;
    assert_int_equal(att_sim_collateral_make(pki, &co, &sc, &d), ATT_OK);
    att_trust_t *trust = att_trust_new();
    assert_int_equal(att_trust_add_root(trust, sc.trust_root.ptr, sc.trust_root.len, &d), ATT_OK);
    att_dcap_collateral_raw_t raw;
    att_sim_collateral_raw(&sc, &raw);
    one_src_t src = {0};
    assert_int_equal(att_dcap_collateral_new(&raw, trust, &src.coll, &d), ATT_OK);

    static const uint8_t runtime[] = "{\"keys\":[]}", init[] = "init-time data";
    att_sim_quote_opts_t qo;
    att_sim_quote_opts_default(&qo, tee, version);
    uint8_t *rd = tee == ATT_TEE_TDX ? qo.td.report_data : qo.sgx.report_data;
    uint8_t *cfg = tee == ATT_TEE_TDX ? qo.td.mrconfigid : qo.sgx.configid;
    assert_true(att_sha256_2(runtime, sizeof(runtime) - 1, NULL, 0, rd));
    memset(rd + 32, 0xee, 32); /* the second half is not bound */
    assert_true(att_sha256_2(init, sizeof(init) - 1, NULL, 0, cfg));
    uint8_t *q;
    size_t qlen;
    assert_int_equal(att_sim_quote_build(pki, &qo, &q, &qlen, &d), ATT_OK);

    att_ev_set_t *set = new_set();
    assert_int_equal(att_ev_set_add_root(set, sc.trust_root.ptr, sc.trust_root.len, &d), ATT_OK);
    att_ev_input_t in = {.evidence = q,
                         .len = qlen,
                         .now = now,
                         .collateral = one_collateral,
                         .collateral_arg = &src};
    att_ev_result_t r;
    const att_ev_type_t *v = att_ev_type_find(tee == ATT_TEE_TDX ? "TdxVm" : "SgxEnclave");
    if (att_ev_verify(set, v, &in, &r) != ATT_OK)
        fail_msg("simulated quote rejected: %s", r.diag.msg);
    assert_int_equal(att_ev_bind(&r, runtime, sizeof(runtime) - 1, init, sizeof(init) - 1, &d),
                     ATT_OK);
    assert_true(json_is_true(json_object_get(r.claims, "x-attestd-simulated")));
    assert_false(intel_root(&r));
    assert_int_equal(att_ev_bind(&r, NULL, 0, NULL, 0, &d), ATT_OK);
    assert_int_equal(att_ev_bind(&r, runtime, sizeof(runtime) - 2, NULL, 0, &d),
                     ATT_E_EVIDENCE_BINDING);
    assert_non_null(strstr(d.msg, "runtime data"));
    assert_non_null(strstr(d.msg, "REPORTDATA"));
    assert_int_equal(att_ev_bind(&r, NULL, 0, runtime, sizeof(runtime) - 1, &d),
                     ATT_E_EVIDENCE_BINDING);
    assert_non_null(strstr(d.msg, tee == ATT_TEE_TDX ? "MRCONFIGID" : "CONFIGID"));
    if (tee == ATT_TEE_SGX) {
        /* MAA's Key Separation and Sharing claims only for a KSS enclave (ATTRIBUTES.FLAGS bit
         * 7): not for this one, whose CONFIGID is set but means nothing without KSS */
        static const char *const kss[] = {"x-ms-sgx-config-id", "x-ms-sgx-config-svn",
                                          "x-ms-sgx-isv-extended-product-id",
                                          "x-ms-sgx-isv-family-id"};
        for (size_t i = 0; i < 4; i++)
            assert_null(json_object_get(r.claims, kss[i]));
        att_ev_result_clear(&r);
        free(q);
        qo.sgx.attributes[0] |= 0x80;
        qo.sgx.configsvn = 7;
        assert_int_equal(att_sim_quote_build(pki, &qo, &q, &qlen, &d), ATT_OK);
        in.evidence = q;
        in.len = qlen;
        if (att_ev_verify(set, v, &in, &r) != ATT_OK)
            fail_msg("simulated KSS quote rejected: %s", r.diag.msg);
        for (size_t i = 0; i < 4; i++)
            assert_non_null(json_object_get(r.claims, kss[i]));
        char hex[129];
        att_hex_encode(cfg, 64, hex);
        assert_string_equal(json_string_value(json_object_get(r.claims, kss[0])), hex);
        assert_int_equal(json_integer_value(json_object_get(r.claims, kss[1])), 7);
    }
    att_ev_result_clear(&r);
    att_ev_set_free(set);
    free(q);
    att_dcap_collateral_free(src.coll);
    att_trust_free(trust);
    att_sim_collateral_free(&sc);
    att_sim_pki_free(pki);
}

/* A quote whose PCK chain leads to an untrusted root is refused before any collateral is
 * looked up: a forged chain cannot make the service fetch collateral for arbitrary FMSPCs. */
static void test_untrusted_chain_fetches_nothing(void **state)
{
    att_time_t now;
    assert_int_equal(att_time_parse("2026-01-01T00:00:00Z", &now), ATT_OK);
    att_diag_t d;
    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, now);
    att_sim_pki_t *pki;
    assert_int_equal(att_sim_pki_new(&po, &pki, &d), ATT_OK);
    att_sim_quote_opts_t qo;
    att_sim_quote_opts_default(&qo, ATT_TEE_SGX, 3);
    uint8_t *q;
    size_t qlen;
    assert_int_equal(att_sim_quote_build(pki, &qo, &q, &qlen, &d), ATT_OK);
    att_ev_set_t *set = new_set(); /* Intel's root only */
    one_src_t src = {0};
    att_ev_input_t in = {.evidence = q,
                         .len = qlen,
                         .now = now,
                         .collateral = one_collateral,
                         .collateral_arg = &src};
    att_ev_result_t r;
    assert_int_equal(att_ev_verify(set, att_ev_type_find("SgxEnclave"), &in, &r),
                     ATT_E_CERT_UNTRUSTED_ROOT);
    assert_int_equal(src.calls, 0);
    att_ev_result_clear(&r);
    att_ev_set_free(set);
    free(q);
    att_sim_pki_free(pki);
}

/* A self-signed CA certificate with a key of the given OpenSSL algorithm ("RSA", "EC"). */
static uint8_t *self_signed(EVP_PKEY *k, size_t *len)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"test root", -1, -1,
                               0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    uint8_t *der = NULL;
    int l = i2d_X509(x, &der);
    assert_true(l > 0);
    X509_free(x);
    uint8_t *out = malloc((size_t)l);
    memcpy(out, der, (size_t)l);
    OPENSSL_free(der);
    *len = (size_t)l;
    return out;
}

/* The registry: every type described, names case-insensitive, types known but not verified yet,
 * and configured roots going to the backend that can use them. */
static void test_registry(void **state)
{
    assert_true(att_ev_type_count() >= 5);
    for (size_t i = 0; i < att_ev_type_count(); i++) {
        const att_ev_type_t *t = att_ev_type_at(i);
        assert_non_null(t->name);
        assert_non_null(t->attestation_type);
        assert_non_null(t->default_policy);
        assert_non_null(t->api_version);
        assert_ptr_equal(att_ev_type_find(t->name), t);
        if (att_ev_type_supported(t))
            assert_non_null(t->fields[0]);
    }
    assert_null(att_ev_type_at(att_ev_type_count()));
    assert_ptr_equal(att_ev_type_find("sgxenclave"), att_ev_type_find("SgxEnclave"));
    assert_ptr_equal(att_ev_type_find("TDXVM"), att_ev_type_find("TdxVm"));
    assert_null(att_ev_type_find("VbsEnclave"));
    assert_null(att_ev_type_find(NULL));
    assert_string_equal(att_ev_type_find("OpenEnclave")->fields[0], "report");
    assert_string_equal(att_ev_type_find("SgxEnclave")->runtime_claim, "x-ms-sgx-ehd");
    assert_null(att_ev_type_find("TdxVm")->runtime_claim);

    att_ev_set_t *set = new_set();
    /* Every type MAA defines is verified now (Tpm last); without a set, verify says so. */
    const att_ev_type_t *snp = att_ev_type_find("Tpm");
    assert_non_null(snp);
    assert_true(att_ev_type_supported(snp));
    static const uint8_t junk[4] = {1, 2, 3, 4};
    att_ev_input_t in = {.evidence = junk, .len = sizeof(junk)};
    att_ev_result_t r;
    assert_int_equal(att_ev_verify(NULL, snp, &in, &r), ATT_E_UNSUPPORTED);
    assert_non_null(strstr(r.diag.msg, "Tpm"));
    att_ev_result_clear(&r);

    /* Roots: a P-256 root goes to DCAP, an RSA root to SEV-SNP, and a P-384 root, which no
     * backend's chains end at, is refused saying what each takes. */
    att_diag_t d;
    EVP_PKEY *ec = EVP_EC_gen("P-256"), *rsa = EVP_RSA_gen(2048), *p384 = EVP_EC_gen("P-384");
    size_t len;
    uint8_t *der = self_signed(ec, &len);
    assert_int_equal(att_ev_set_add_root(set, der, len, &d), ATT_OK);
    assert_int_equal(att_trust_count(att_ev_set_trust(set, "dcap")), 2);
    assert_int_equal(att_trust_count(att_ev_set_trust(set, "snp")), 0);
    free(der);
    der = self_signed(rsa, &len);
    assert_int_equal(att_ev_set_add_root(set, der, len, &d), ATT_OK);
    assert_int_equal(att_trust_count(att_ev_set_trust(set, "dcap")), 2);
    assert_int_equal(att_trust_count(att_ev_set_trust(set, "snp")), 1);
    free(der);
    der = self_signed(p384, &len);
    assert_int_equal(att_ev_set_add_root(set, der, len, &d), ATT_E_CERT_KEY);
    assert_non_null(strstr(d.msg, "EC P-384"));
    assert_non_null(strstr(d.msg, "P-256"));
    assert_non_null(strstr(d.msg, "RSA"));
    assert_int_equal(att_trust_count(att_ev_set_trust(set, "dcap")), 2);
    free(der);
    assert_null(att_ev_set_trust(set, "no-such-backend"));
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
    att_ev_set_free(set);
}

static void test_binding(void **state)
{
    bind_case(ATT_TEE_SGX, 3);
    bind_case(ATT_TEE_TDX, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_sgx_and_tdx_claims),
        cmocka_unit_test(test_open_enclave_envelope),
        cmocka_unit_test(test_binding),
        cmocka_unit_test(test_untrusted_chain_fetches_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
