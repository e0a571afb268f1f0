/* test_ear.c - EAR claims sets (src/lib/token/ear.c, docs/ear.md): the Accept header that asks for
 * one, AR4SI tiers, and the claims set of real SEV-SNP and TPM verdicts (claims from the evidence
 * verifiers on the shared vectors) checked against the draft's CDDL (ear_shape.h) with the trust
 * vector docs/ear.md documents; the mapping of Intel's TCB statuses, simulated evidence, a denial
 * and the nonce. The SGX and TDX verdicts, signed and verified against /certs, are in
 * tests/unit/attestd/test_ear.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/evidence.h"
#include "attest/token.h"
#include "attest/tpm.h"
#include "core/util.h"
#include "token/ear.h"
#include "token/ear_shape.h"
#include "vectors.h"

/* ---- Accept ---- */

static void test_accept(void **state)
{
    (void)state;
    static const struct {
        const char *accept;
        bool ear;
    } cases[] = {
        {"application/eat+jwt", true},
        {"Application/EAT+JWT", true},
        {" application/eat+jwt ;q=1", true},
        {"application/json, application/eat+jwt", true},
        {"application/eat+jwt;q=0.5, application/json;q=0.9", false},
        {"application/eat+jwt;q=0.9, application/json;q=0.5", true},
        {"application/eat+jwt; eat_profile=\"tag:github.com,2023:veraison/ear\"", true},
        {"application/eat+jwt; eat_profile=\"tag:github.com,2023:veraison/ear\", text/plain", true},
        {"application/eat+jwt; eat_profile=\"tag:example.com,2024:other\"", false},
        {"application/eat+jwt;q=0", false},
        {"application/eat+jwt;q=0.000", false},
        {"application/eat+jwt;q=0.001", true},
        {"application/eat+jwt;q=1.5", false}, /* malformed: not a qvalue */
        {"application/eat+jwt;q=", false},
        {"application/eat+jwt; eat_profile=\"unterminated", false},
        {",,application/eat+jwt,", true}, /* empty list elements are allowed */
        {"application/eat+cwt", false},
        {"application/eat+jwtx", false},
        {"*/*", false},
        {"application/*", false},
        {"application/json", false},
        {"", false},
        {NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (att_ear_accepted(cases[i].accept) != cases[i].ear)
            fail_msg("Accept: %s: expected %s", cases[i].accept ? cases[i].accept : "(none)",
                     cases[i].ear ? "EAR" : "MAA");
}

/* ---- tiers ---- */

static void test_tiers(void **state)
{
    (void)state;
    static const struct {
        int v;
        att_ear_tier_t t;
    } cases[] = {{-128, ATT_EAR_NONE},
                 {-1, ATT_EAR_NONE},
                 {0, ATT_EAR_NONE},
                 {1, ATT_EAR_NONE},
                 {2, ATT_EAR_AFFIRMING},
                 {31, ATT_EAR_AFFIRMING},
                 {32, ATT_EAR_WARNING},
                 {95, ATT_EAR_WARNING},
                 {96, ATT_EAR_CONTRAINDICATED},
                 {127, ATT_EAR_CONTRAINDICATED}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_int_equal(att_ear_tier(cases[i].v), cases[i].t);
    assert_string_equal(att_ear_tier_name(ATT_EAR_WARNING), "warning");
    assert_string_equal(att_ear_claim_name(ATT_EAR_RUNTIME_OPAQUE), "runtime-opaque");
}

/* ---- helpers ---- */

static json_t *ear_of(const att_ear_in_t *in)
{
    json_t *ear;
    att_diag_t d;
    if (att_ear_claims(in, &ear, &d) != ATT_OK)
        fail_msg("att_ear_claims: %s", d.msg);
    /* the caller adds iat with the JWT claims; the shape needs it */
    json_object_set_new(ear, "iat", json_integer(1700000000));
    const char *e = ear_shape_error(ear);
    if (e != NULL)
        fail_msg("not an EAR: %s", e);
    return ear;
}

static json_t *appraisal(json_t *ear, const char *submod)
{
    json_t *a = json_object_get(json_object_get(ear, "submods"), submod);
    assert_non_null(a);
    return a;
}

static json_int_t tv(json_t *ear, const char *submod, const char *claim)
{
    json_t *v = json_object_get(
        json_object_get(appraisal(ear, submod), "ear.trustworthiness-vector"), claim);
    return v == NULL ? 0 : json_integer_value(v);
}

static const char *status(json_t *ear, const char *submod)
{
    return json_string_value(json_object_get(appraisal(ear, submod), "ear.status"));
}

typedef struct {
    uint8_t *p;
    size_t n;
} buf_t;

static buf_t rd(const char *root, const char *rel)
{
    char path[2048];
    buf_t b = {0};
    att_diag_t d;
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    if (att_read_file(path, 1 << 20, &b.p, &b.n, &d) != ATT_OK)
        fail_msg("%s: %s", path, d.msg);
    return b;
}

/* ---- SEV-SNP: go-sev-guest's report (a debuggable guest) ---- */

static att_err_t no_collateral(void *arg, const char *key, att_time_t now, void **out,
                               att_diag_t *d)
{
    (void)arg, (void)now, (void)out;
    return att_diag_set(d, ATT_E_COLL_MISSING, "test: no collateral for %s", key);
}

static void test_snp_verdict(void **state)
{
    (void)state;
    VEC_SNP_REQUIRE();
    buf_t rep = rd(ATT_TEST_VECTORS_SNP, "go-sev-guest/report.bin"),
          vcek = rd(ATT_TEST_VECTORS_SNP, "go-sev-guest/vcek.der"),
          chain = rd(ATT_TEST_VECTORS_SNP, "go-sev-guest/cert_chain_milan.pem");
    /* MAA's form: {"SnpReport", "VcekCertChain": PEM of the VCEK then the chain} */
    const uint8_t *p = vcek.p;
    X509 *x = d2i_X509(NULL, &p, (long)vcek.n);
    assert_non_null(x);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    BIO_write(b, chain.p, (int)chain.n);
    char *mem;
    long mn = BIO_get_mem_data(b, &mem);
    char *rb = att_b64url_encode(rep.p, rep.n), *cb = att_b64url_encode((uint8_t *)mem, (size_t)mn);
    json_t *o = json_pack("{s:s,s:s}", "SnpReport", rb, "VcekCertChain", cb);
    char *ev = json_dumps(o, JSON_COMPACT);
    att_ev_set_t *set;
    att_diag_t d;
    assert_int_equal(att_ev_set_new(&set, &d), ATT_OK);
    att_time_t now;
    assert_int_equal(att_time_parse("2025-01-01T00:00:00Z", &now), ATT_OK);
    att_ev_input_t in = {.evidence = (const uint8_t *)ev,
                         .len = strlen(ev),
                         .now = now,
                         .collateral = no_collateral};
    att_ev_result_t r;
    if (att_ev_verify(set, att_ev_type_find("SevSnpVm"), &in, &r) != ATT_OK)
        fail_msg("go-sev-guest rejected: %s", r.diag.msg);
    assert_true(json_is_true(json_object_get(r.claims, "x-ms-sevsnpvm-is-debuggable")));

    att_ear_in_t ein = {.submod = "SevSnpVm", .claims = r.claims, .build = "attestd/test"};
    json_t *ear = ear_of(&ein);
    /* genuine AMD hardware (VCEK to the ARK), but a debuggable guest: its memory is visible to
     * the host and its code can be changed: contraindicated */
    assert_int_equal(tv(ear, "SevSnpVm", "hardware"), 2);
    assert_int_equal(tv(ear, "SevSnpVm", "executables"), 96);
    assert_int_equal(tv(ear, "SevSnpVm", "runtime-opaque"), 96);
    assert_int_equal(tv(ear, "SevSnpVm", "instance-identity"), 0); /* no runtime data bound */
    assert_string_equal(status(ear, "SevSnpVm"), "contraindicated");
    /* the MAA claims ride along for the relying party */
    json_t *maa = json_object_get(appraisal(ear, "SevSnpVm"), "ear.attestd.maa-claims");
    assert_true(json_equal(maa, r.claims));
    json_decref(ear);

    att_ev_result_clear(&r);
    att_ev_set_free(set);
    json_decref(o);
    free(ev), free(rb), free(cb);
    BIO_free(b);
    X509_free(x);
    free(rep.p), free(vcek.p), free(chain.p);
}

/* ---- TPM: the swtpm vector's quote with its AK pinned ---- */

static att_err_t tpm_open(void *arg, const char *purpose, const char *token, uint8_t **data,
                          size_t *len, att_diag_t *diag)
{
    (void)purpose, (void)token, (void)diag;
    buf_t h = rd(ATT_TEST_VECTORS_TPM, "swtpm-rsa/nonce.hex");
    while (h.n > 0 && (h.p[h.n - 1] == '\n' || h.p[h.n - 1] == ' '))
        h.n--;
    *len = h.n / 2;
    *data = malloc(*len);
    assert_true(att_hex_decode((const char *)h.p, h.n, *data, *len));
    free(h.p);
    (void)arg;
    return ATT_OK;
}

static json_t *tpm_request(void)
{
    buf_t ak = rd(ATT_TEST_VECTORS_TPM, "swtpm-rsa/ak.tpm2b_public"),
          q = rd(ATT_TEST_VECTORS_TPM, "swtpm-rsa/quote.msg"),
          s = rd(ATT_TEST_VECTORS_TPM, "swtpm-rsa/quote.sig"),
          v = rd(ATT_TEST_VECTORS_TPM, "swtpm-rsa/pcrs.values");
    att_tpm_attest_t a;
    att_diag_t d;
    assert_int_equal(att_tpm_attest_parse(q.p, q.n, &a, &d), ATT_OK);
    json_t *pcrs = json_array();
    size_t off = 0;
    for (size_t bk = 0; bk < a.nsel; bk++) {
        size_t ds = a.sel[bk].alg == ATT_TPM_ALG_SHA1     ? 20
                    : a.sel[bk].alg == ATT_TPM_ALG_SHA256 ? 32
                    : a.sel[bk].alg == ATT_TPM_ALG_SHA384 ? 48
                                                          : 64;
        json_t *vals = json_array();
        for (int i = 0; i < ATT_TPM_NUM_PCRS; i++) {
            if (!(a.sel[bk].mask & (1u << i)))
                continue;
            char h[129];
            assert_true(off + ds <= v.n);
            att_hex_encode(v.p + off, ds, h);
            off += ds;
            json_array_append_new(vals, json_pack("{s:i,s:s}", "index", i, "digest", h));
        }
        json_array_append_new(pcrs, json_pack("{s:s,s:o}", "algorithm",
                                              att_tpm_alg_name(a.sel[bk].alg), "values", vals));
    }
    char *akb = att_b64url_encode(ak.p, ak.n), *qb = att_b64url_encode(q.p, q.n),
         *sb = att_b64url_encode(s.p, s.n);
    json_t *r = json_pack("{s:{s:s,s:s,s:s,s:s,s:o}}", "request", "service_context", "SC", "ak",
                          akb, "quote", qb, "signature", sb, "pcrs", pcrs);
    free(akb), free(qb), free(sb);
    free(ak.p), free(q.p), free(s.p), free(v.p);
    return r;
}

static void test_tpm_verdict(void **state)
{
    (void)state;
    if (ATT_TEST_VECTORS_TPM[0] == '\0') {
        printf("SKIP %s: no TPM vectors (set ATTESTD_VECTORS=DIR, see docs/testing.md)\n",
               ATT_TEST_NAME);
        skip();
    }
    att_ev_set_t *set;
    att_diag_t d;
    assert_int_equal(att_ev_set_new(&set, &d), ATT_OK);
    char ak[2048];
    snprintf(ak, sizeof ak, "%s/swtpm-rsa/ak.tpm2b_public", ATT_TEST_VECTORS_TPM);
    assert_int_equal(att_ev_set_add_key_file(set, "tpm-ak", ak, &d), ATT_OK);
    json_t *msg = tpm_request();
    char *text = json_dumps(msg, JSON_COMPACT);
    att_ev_input_t in = {.evidence = (const uint8_t *)text,
                         .len = strlen(text),
                         .now = 1700000000,
                         .open = tpm_open};
    att_ev_result_t r;
    if (att_ev_verify(set, att_ev_type_find("Tpm"), &in, &r) != ATT_OK)
        fail_msg("swtpm quote rejected: %s", r.diag.msg);
    assert_string_equal(json_string_value(json_object_get(r.claims, "x-attestd-tpm-ak-trust")),
                        "pinned");
    /* as attestd issues it (attest.c): the type's x-ms-attestation-type beside the claims */
    json_object_set_new(r.claims, "x-ms-attestation-type",
                        json_string(att_ev_type_find("Tpm")->attestation_type));

    /* the default policy: nothing said of the executables */
    att_ear_in_t ein = {.submod = "Tpm", .claims = r.claims, .build = "attestd/test"};
    json_t *ear = ear_of(&ein);
    assert_int_equal(tv(ear, "Tpm", "hardware"), 2);
    assert_int_equal(tv(ear, "Tpm", "instance-identity"), 2); /* an AK attestd trusts */
    assert_int_equal(tv(ear, "Tpm", "executables"), 0);
    assert_null(json_object_get(
        json_object_get(appraisal(ear, "Tpm"), "ear.trustworthiness-vector"), "runtime-opaque"));
    assert_string_equal(status(ear, "Tpm"), "affirming");
    json_decref(ear);
    /* the operator's policy permitted it: the PCRs it checked are approved executables */
    ein.policy_custom = true;
    ein.policy_id = "http://127.0.0.1:9/policies/Tpm#abc";
    ear = ear_of(&ein);
    assert_int_equal(tv(ear, "Tpm", "executables"), 2);
    assert_string_equal(
        json_string_value(json_object_get(appraisal(ear, "Tpm"), "ear.appraisal-policy-id")),
        "http://127.0.0.1:9/policies/Tpm#abc");
    json_decref(ear);
    /* the same claims with Secure Boot seen off in the event log: a configuration warning */
    json_t *c = json_deep_copy(r.claims);
    json_object_set_new(c, "x-attestd-tpm-secure-boot", json_false());
    ein.claims = c;
    ear = ear_of(&ein);
    assert_int_equal(tv(ear, "Tpm", "configuration"), 32);
    assert_string_equal(status(ear, "Tpm"), "warning");
    json_decref(ear);
    json_decref(c);

    att_ev_result_clear(&r);
    att_ev_set_free(set);
    json_decref(msg);
    free(text);
}

/* ---- Intel's TCB statuses, simulated evidence, denial, nonce ---- */

static void test_sgx_mapping(void **state)
{
    (void)state;
    static const struct {
        const char *tcb;
        int hw, config;
        const char *status;
    } cases[] = {
        {"UpToDate", 2, 0, "affirming"},
        {"SWHardeningNeeded", 32, 0, "warning"},
        {"ConfigurationNeeded", 32, 32, "warning"},
        {"ConfigurationAndSWHardeningNeeded", 32, 32, "warning"},
        {"OutOfDate", 32, 0, "warning"},
        {"OutOfDateConfigurationNeeded", 32, 32, "warning"},
        {"Revoked", 96, 0, "contraindicated"},
        {"SomethingNew", 32, 0, "warning"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *c = json_pack("{s:s,s:b,s:s}", "x-ms-attestation-type", "sgx",
                              "x-ms-sgx-is-debuggable", 0, "x-ms-sgx-tcb-status", cases[i].tcb);
        att_ear_in_t in = {.submod = "SgxEnclave", .claims = c, .build = "b", .data_bound = true};
        json_t *ear = ear_of(&in);
        assert_int_equal(tv(ear, "SgxEnclave", "hardware"), cases[i].hw);
        assert_int_equal(tv(ear, "SgxEnclave", "configuration"), cases[i].config);
        assert_int_equal(tv(ear, "SgxEnclave", "runtime-opaque"), 2);
        assert_int_equal(tv(ear, "SgxEnclave", "instance-identity"), 2);
        if (strcmp(status(ear, "SgxEnclave"), cases[i].status) != 0)
            fail_msg("%s: status %s, expected %s", cases[i].tcb, status(ear, "SgxEnclave"),
                     cases[i].status);
        json_decref(ear);
        json_decref(c);
    }
    /* the same for TDX's name of it, and its debug attribute */
    json_t *c =
        json_pack("{s:s,s:s,s:s,s:b}", "x-ms-attestation-type", "tdxvm", "attester_tcb_status",
                  "OutOfDate", "dbgstat", "enabled", "tdx_td_attributes_debug", 1);
    att_ear_in_t in = {.submod = "TdxVm", .claims = c, .build = "b", .policy_custom = true};
    json_t *ear = ear_of(&in);
    assert_int_equal(tv(ear, "TdxVm", "hardware"), 32);
    assert_int_equal(tv(ear, "TdxVm", "executables"), 96); /* debuggable, even if permitted */
    assert_int_equal(tv(ear, "TdxVm", "runtime-opaque"), 96);
    assert_string_equal(status(ear, "TdxVm"), "contraindicated");
    json_decref(ear);
    json_decref(c);
    /* a chain that ends at a root trusted only by configuration is never affirmed */
    c = json_pack("{s:s,s:s,s:b}", "x-ms-attestation-type", "sgx", "x-ms-sgx-tcb-status",
                  "UpToDate", "x-attestd-simulated", 1);
    in = (att_ear_in_t){.submod = "SgxEnclave", .claims = c, .build = "b"};
    ear = ear_of(&in);
    assert_int_equal(tv(ear, "SgxEnclave", "hardware"), 32);
    assert_string_equal(status(ear, "SgxEnclave"), "warning");
    json_decref(ear);
    json_decref(c);
}

static void test_denied_and_nonce(void **state)
{
    (void)state;
    json_t *c = json_pack("{s:s,s:s,s:s}", "x-ms-attestation-type", "sgx", "x-ms-sgx-tcb-status",
                          "UpToDate", "nonce", "0123456789");
    att_ear_in_t in = {.submod = "SgxEnclave",
                       .claims = c,
                       .build = "b",
                       .policy_custom = true,
                       .denied = true,
                       .deny_reason = "rule 1: x-ms-sgx-svn was 1"};
    json_t *ear = ear_of(&in);
    assert_string_equal(status(ear, "SgxEnclave"), "contraindicated");
    assert_int_equal(tv(ear, "SgxEnclave", "executables"), 0); /* not approved */
    assert_string_equal(
        json_string_value(json_object_get(appraisal(ear, "SgxEnclave"), ATT_EAR_POLICY_DENIED)),
        "rule 1: x-ms-sgx-svn was 1");
    /* a 10-character nonce is EAT's eat_nonce */
    assert_string_equal(json_string_value(json_object_get(ear, "eat_nonce")), "0123456789");
    json_decref(ear);
    /* 9 and 75 characters are not EAT nonces: only in the MAA claims */
    const char *n9 = "012345678";
    char n75[76];
    memset(n75, 'a', 75);
    n75[75] = '\0';
    const char *ns[] = {n9, n75};
    for (int i = 0; i < 2; i++) {
        json_object_set_new(c, "nonce", json_string(ns[i]));
        in.denied = false;
        ear = ear_of(&in);
        assert_null(json_object_get(ear, "eat_nonce"));
        assert_string_equal(
            json_string_value(json_object_get(
                json_object_get(appraisal(ear, "SgxEnclave"), ATT_EAR_MAA_CLAIMS), "nonce")),
            ns[i]);
        assert_null(json_object_get(appraisal(ear, "SgxEnclave"), ATT_EAR_POLICY_DENIED));
        json_decref(ear);
    }
    /* missing inputs are refused, not crashed on */
    json_t *out = (json_t *)1;
    att_diag_t d;
    att_ear_in_t bad = {.submod = NULL, .claims = c, .build = "b"};
    assert_int_equal(att_ear_claims(&bad, &out, &d), ATT_E_ARG);
    assert_null(out);
    bad = (att_ear_in_t){.submod = "SgxEnclave", .claims = NULL, .build = "b"};
    assert_int_equal(att_ear_claims(&bad, &out, &d), ATT_E_ARG);
    json_decref(c);
}

/* The relying party's check (attest token verify --ear). */
static void test_check(void **state)
{
    (void)state;
    att_diag_t d;
    json_t *c = json_pack("{s:s,s:s,s:s}", "x-ms-attestation-type", "sgx", "x-ms-sgx-tcb-status",
                          "UpToDate", "nonce", "0123456789");
    att_ear_in_t in = {.submod = "SgxEnclave", .claims = c, .build = "b"};
    json_t *ear = ear_of(&in); /* affirming */
    assert_int_equal(att_ear_check(ear, ATT_EAR_AFFIRMING, NULL, &d), ATT_OK);
    assert_int_equal(att_ear_check(ear, ATT_EAR_AFFIRMING, "0123456789", &d), ATT_OK);
    assert_int_equal(att_ear_check(ear, ATT_EAR_AFFIRMING, "0123456788", &d), ATT_E_TOKEN_CLAIM);
    assert_non_null(strstr(d.msg, "eat_nonce"));
    json_decref(ear);
    /* warning: refused unless warnings are accepted */
    json_object_set_new(c, "x-ms-sgx-tcb-status", json_string("OutOfDate"));
    ear = ear_of(&in);
    assert_int_equal(att_ear_check(ear, ATT_EAR_AFFIRMING, NULL, &d), ATT_E_TOKEN_CLAIM);
    assert_non_null(strstr(d.msg, "SgxEnclave"));
    assert_non_null(strstr(d.msg, "warning"));
    assert_int_equal(att_ear_check(ear, ATT_EAR_WARNING, NULL, &d), ATT_OK);
    json_decref(ear);
    /* contraindicated: refused by both */
    in.denied = true;
    ear = ear_of(&in);
    assert_int_equal(att_ear_check(ear, ATT_EAR_WARNING, NULL, &d), ATT_E_TOKEN_CLAIM);
    assert_non_null(strstr(d.msg, "contraindicated"));
    /* a status that is no tier, another profile, no submods, an MAA token */
    json_object_set_new(appraisal(ear, "SgxEnclave"), "ear.status", json_string("fine"));
    assert_int_equal(att_ear_check(ear, ATT_EAR_WARNING, NULL, &d), ATT_E_TOKEN_CLAIM);
    json_object_set_new(ear, "eat_profile", json_string("tag:example.com,2024:other"));
    assert_int_equal(att_ear_check(ear, ATT_EAR_WARNING, NULL, &d), ATT_E_TOKEN_CLAIM);
    assert_non_null(strstr(d.msg, "not an EAR"));
    json_object_set_new(ear, "eat_profile", json_string(ATT_EAR_PROFILE));
    json_object_set_new(ear, "submods", json_object());
    assert_int_equal(att_ear_check(ear, ATT_EAR_WARNING, NULL, &d), ATT_E_TOKEN_CLAIM);
    assert_int_equal(att_ear_check(c, ATT_EAR_WARNING, NULL, &d), ATT_E_TOKEN_CLAIM);
    json_decref(ear);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept),      cmocka_unit_test(test_tiers),
        cmocka_unit_test(test_snp_verdict), cmocka_unit_test(test_tpm_verdict),
        cmocka_unit_test(test_sgx_mapping), cmocka_unit_test(test_denied_and_nonce),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
