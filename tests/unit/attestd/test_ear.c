/* test_ear.c - attestd's EAR answer (docs/ear.md) through the domain service, on the real SGX,
 * TDX and SEV-SNP vectors at their verification time: the EAR conforms to draft-ietf-rats-ear's
 * CDDL (token/ear_shape.h), is signed by the MAA token's key (same alg, kid, jku, x5c) and verifies
 * with the relying party's verifier against the JWKS of /certs (a changed byte does not); its
 * trust vector follows the verdict (TCB status, debug, policy); a policy denial is a signed
 * contraindicated EAR while MAA's answer stays 400; a draft policy gives an unsecured EAR; bad
 * evidence is MAA's error in both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../dcap/vec.h"
#include "attest/rp.h"
#include "attest/token.h"
#include "svc.h"
#include "token/ear.h"
#include "token/ear_shape.h"

static char tmpdir[256];

static att_svc_t *mksvc(const char *at)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/att-ear-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char vec[512];
    snprintf(vec, sizeof(vec), "%s/dcap", ATT_TEST_VECTORS);
    att_svc_opts_t o = {.issuer = "http://127.0.0.1:9/",
                        .data_dir = tmpdir,
                        .collateral_dir = vec,
                        .token_lifetime = 600,
                        .have_at = true};
    assert_int_equal(att_time_parse(at, &o.at), ATT_OK);
    att_svc_t *svc;
    att_diag_t d;
    if (att_svc_new(&o, &svc, &d) != ATT_OK)
        fail_msg("att_svc_new: %s", d.msg);
    return svc;
}

static void rmsvc(att_svc_t *svc)
{
    att_svc_free(svc);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* Segment i (0 header, 1 payload) of a compact JWS, decoded as JSON. */
static json_t *segment(const char *tok, int i)
{
    const char *a = tok;
    for (int k = 0; k < i; k++) {
        a = strchr(a, '.');
        assert_non_null(a);
        a++;
    }
    const char *b = strchr(a, '.');
    assert_non_null(b);
    uint8_t *p;
    size_t n;
    assert_true(att_b64_decode(a, (size_t)(b - a), false, &p, &n));
    json_t *j = json_loadb((char *)p, n, 0, NULL);
    free(p);
    assert_non_null(j);
    return j;
}

static const char *token_of(const att_svc_reply_t *r)
{
    if (r->status != 200)
        fail_msg("attest: %d %s: %s", r->status, r->code ? r->code : "",
                 r->message ? r->message : "");
    const char *t = json_string_value(json_object_get(r->body, "token"));
    assert_non_null(t);
    return t;
}

static char *attest_body(const vec_t *v, const char *extra)
{
    char *q = att_b64url_encode(v->quote, v->quote_len);
    size_t n = strlen(q) + 512 + (extra ? strlen(extra) : 0);
    char *body = malloc(n);
    snprintf(body, n, "{\"quote\":\"%s\"%s%s}", q, extra ? "," : "", extra ? extra : "");
    free(q);
    return body;
}

/* The relying party's verdict on tok with the JWKS /certs serves. */
static att_err_t rp_verify(att_svc_t *svc, const char *tok, att_rp_result_t *res)
{
    att_svc_reply_t r;
    att_svc_certs(svc, &r);
    assert_int_equal(r.status, 200);
    char *jwks = json_dumps(r.body, JSON_COMPACT);
    att_svc_reply_clear(&r);
    att_diag_t d;
    att_rp_t *rp = att_rp_new(&(att_rp_opts_t){.issuer = "http://127.0.0.1:9"}, &d);
    assert_non_null(rp);
    att_time_t now = (att_time_t)time(NULL);
    assert_int_equal(att_rp_load_jwks(rp, jwks, strlen(jwks), now, &d), ATT_OK);
    memset(res, 0, sizeof(*res));
    att_err_t e = att_rp_verify(rp, tok, strlen(tok), NULL, now, res);
    att_rp_free(rp);
    free(jwks);
    return e;
}

static json_t *appraisal(json_t *ear, const char *type)
{
    json_t *a = json_object_get(json_object_get(ear, "submods"), type);
    if (a == NULL)
        fail_msg("no submod %s", type);
    return a;
}

static json_int_t tv(json_t *ear, const char *type, const char *claim)
{
    return json_integer_value(json_object_get(
        json_object_get(appraisal(ear, type), "ear.trustworthiness-vector"), claim));
}

static const char *status(json_t *ear, const char *type)
{
    return json_string_value(json_object_get(appraisal(ear, type), "ear.status"));
}

/* docs/ear.md's hardware value for an Intel TCB status. */
static int hw_for(const char *tcb)
{
    return strcmp(tcb, "UpToDate") == 0 ? 2 : strcmp(tcb, "Revoked") == 0 ? 96 : 32;
}

/* One vector through both answers: the EAR is the MAA verdict's, signed alike. */
static void check_vector(att_svc_t *svc, const vec_t *v, const char *type, const char *tcb_claim,
                         const char *debug_claim)
{
    char *body = attest_body(v, "\"nonce\":\"nonce-0123456789\"");
    att_svc_reply_t m, e;
    att_svc_attest(svc, type, body, strlen(body), &m);
    assert_false(m.ear);
    const char *mtok = token_of(&m);
    att_svc_attest_ear(svc, type, body, strlen(body), &e);
    assert_true(e.ear);
    const char *etok = token_of(&e);

    /* same key, same header members */
    json_t *mh = segment(mtok, 0), *eh = segment(etok, 0);
    const char *members[] = {"alg", "kid", "jku", "x5c"};
    for (size_t i = 0; i < 4; i++) {
        json_t *a = json_object_get(mh, members[i]), *b = json_object_get(eh, members[i]);
        if ((a != NULL || b != NULL) && !json_equal(a, b))
            fail_msg("%s: header %s differs between the MAA token and the EAR", type, members[i]);
    }
    assert_non_null(json_object_get(eh, "kid"));

    /* the draft's shape, and the verdict */
    json_t *mc = segment(mtok, 1), *ear = segment(etok, 1);
    const char *why = ear_shape_error(ear);
    if (why != NULL)
        fail_msg("%s: not an EAR: %s", type, why);
    assert_string_equal(json_string_value(json_object_get(ear, "eat_nonce")), "nonce-0123456789");
    assert_string_equal(json_string_value(json_object_get(ear, "iss")), "http://127.0.0.1:9");
    assert_int_equal(json_integer_value(json_object_get(ear, "exp")) -
                         json_integer_value(json_object_get(ear, "iat")),
                     600);
    assert_int_equal(strlen(json_string_value(json_object_get(ear, "jti"))), 64);
    assert_string_not_equal(json_string_value(json_object_get(ear, "jti")),
                            json_string_value(json_object_get(mc, "jti")));
    json_t *vid = json_object_get(ear, "ear.verifier-id");
    assert_string_equal(json_string_value(json_object_get(vid, "developer")), "attestd");
    assert_int_equal(strncmp(json_string_value(json_object_get(vid, "build")), "attestd/", 8), 0);
    json_t *maa = json_object_get(appraisal(ear, type), ATT_EAR_MAA_CLAIMS);
    const char *same[] = {"x-ms-attestation-type", "x-ms-policy-hash", tcb_claim, "nonce"};
    for (size_t i = 0; i < 4; i++)
        if (!json_equal(json_object_get(maa, same[i]), json_object_get(mc, same[i])))
            fail_msg("%s: MAA claim %s differs in the EAR", type, same[i]);
    char pid[256];
    snprintf(pid, sizeof pid, "http://127.0.0.1:9/policies/%s#%s", type,
             json_string_value(json_object_get(mc, "x-ms-policy-hash")));
    assert_string_equal(
        json_string_value(json_object_get(appraisal(ear, type), "ear.appraisal-policy-id")), pid);
    const char *tcb = json_string_value(json_object_get(mc, tcb_claim));
    assert_non_null(tcb);
    bool debug = json_is_true(json_object_get(mc, debug_claim));
    assert_int_equal(tv(ear, type, "hardware"), hw_for(tcb));
    assert_int_equal(tv(ear, type, "runtime-opaque"), debug ? 96 : 2);
    assert_int_equal(tv(ear, type, "executables"), debug ? 96 : 0); /* the default policy */
    const char *want = debug ? "contraindicated" : hw_for(tcb) == 2 ? "affirming" : "warning";
    if (strstr(tcb, "Configuration") != NULL)
        assert_int_equal(tv(ear, type, "configuration"), 32);
    assert_string_equal(status(ear, type), want);
    printf("%s: TCB %s, debuggable %d: EAR %s\n", type, tcb, debug, want);

    /* the relying party's verifier accepts it with /certs's keys; one changed byte it does not */
    att_rp_result_t res;
    att_err_t rc = rp_verify(svc, etok, &res);
    if (rc != ATT_OK)
        fail_msg("%s: the EAR does not verify: %s: %s", type, res.check, res.diag.msg);
    assert_string_equal(json_string_value(json_object_get(res.claims, "eat_profile")),
                        ATT_EAR_PROFILE);
    att_rp_result_clear(&res);
    char *bad = strdup(etok);
    char *p = strchr(bad, '.') + 5;
    *p = *p == 'A' ? 'B' : 'A';
    assert_int_not_equal(rp_verify(svc, bad, &res), ATT_OK);
    att_rp_result_clear(&res);
    free(bad);

    json_decref(mh), json_decref(eh), json_decref(mc), json_decref(ear);
    att_svc_reply_clear(&m);
    att_svc_reply_clear(&e);
    free(body);
}

static void test_sgx_tdx(void **state)
{
    (void)state;
    VEC_REQUIRE();
    vec_t s, t;
    assert_int_equal(vec_load(&s, vec_names[0]), 0);
    assert_int_equal(vec_load(&t, vec_names[1]), 0);
    att_svc_t *svc = mksvc("2025-07-01T00:00:00Z");
    check_vector(svc, &s, "SgxEnclave", "x-ms-sgx-tcb-status", "x-ms-sgx-is-debuggable");
    check_vector(svc, &t, "TdxVm", "attester_tcb_status", "tdx_td_attributes_debug");
    rmsvc(svc);
    vec_free(&s);
    vec_free(&t);
}

static void test_policy(void **state)
{
    (void)state;
    VEC_REQUIRE();
    vec_t s;
    assert_int_equal(vec_load(&s, vec_names[0]), 0);
    att_svc_t *svc = mksvc("2025-07-01T00:00:00Z");
    char *body = attest_body(&s, NULL);
    att_svc_reply_t r;

    /* The operator's policy permits: the measurements it checked are approved executables. */
    const char *permit = "version=1.0; authorizationrules { [ type==\"x-ms-sgx-svn\", value >= 0 ] "
                         "=> permit(); }; issuancerules { };";
    att_svc_policy_set(svc, "SgxEnclave", permit, strlen(permit), &r);
    assert_int_equal(r.status, 200);
    att_svc_reply_clear(&r);
    att_svc_attest_ear(svc, "SgxEnclave", body, strlen(body), &r);
    json_t *ear = segment(token_of(&r), 1);
    assert_null(ear_shape_error(ear));
    assert_int_equal(tv(ear, "SgxEnclave", "executables"), 2);
    json_decref(ear);
    att_svc_reply_clear(&r);

    /* It denies: MAA's answer is 400 as before; the EAR is a signed contraindicated result that
     * says why. */
    const char *deny = "version=1.0; authorizationrules { [ type==\"x-ms-sgx-svn\", value >= 500 ] "
                       "=> permit(); }; issuancerules { };";
    att_svc_policy_set(svc, "SgxEnclave", deny, strlen(deny), &r);
    assert_int_equal(r.status, 200);
    att_svc_reply_clear(&r);
    att_svc_attest(svc, "SgxEnclave", body, strlen(body), &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.code, "PolicyEvaluationError");
    att_svc_reply_clear(&r);
    att_svc_attest_ear(svc, "SgxEnclave", body, strlen(body), &r);
    const char *tok = token_of(&r);
    ear = segment(tok, 1);
    assert_null(ear_shape_error(ear));
    assert_string_equal(status(ear, "SgxEnclave"), "contraindicated");
    assert_int_equal(tv(ear, "SgxEnclave", "executables"), 0);
    const char *why =
        json_string_value(json_object_get(appraisal(ear, "SgxEnclave"), ATT_EAR_POLICY_DENIED));
    assert_non_null(why);
    assert_non_null(strstr(why, "x-ms-sgx-svn"));
    att_rp_result_t res;
    assert_int_equal(rp_verify(svc, tok, &res), ATT_OK);
    att_rp_result_clear(&res);
    json_decref(ear);
    att_svc_reply_clear(&r);

    /* A draft policy: an unsecured EAR (alg none), as MAA's draft tokens, naming the draft. */
    char *db = attest_body(&s, "\"draftPolicyForAttestation\":\"version=1.0; "
                               "authorizationrules { => permit(); };\"");
    att_svc_attest_ear(svc, "SgxEnclave", db, strlen(db), &r);
    tok = token_of(&r);
    json_t *h = segment(tok, 0);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "none");
    json_decref(h);
    ear = segment(tok, 1);
    assert_null(ear_shape_error(ear));
    assert_int_equal(strncmp(json_string_value(json_object_get(appraisal(ear, "SgxEnclave"),
                                                               "ear.appraisal-policy-id")),
                             "urn:attestd:draft-policy:", 25),
                     0);
    assert_int_equal(tv(ear, "SgxEnclave", "executables"), 2);
    assert_int_not_equal(rp_verify(svc, tok, &res), ATT_OK); /* never accepted as signed */
    att_rp_result_clear(&res);
    json_decref(ear);
    att_svc_reply_clear(&r);
    free(db);

    /* Evidence that does not verify: MAA's error, not an EAR. */
    s.quote[200] ^= 1; /* in the signed report body */
    char *bb = attest_body(&s, NULL);
    att_svc_attest_ear(svc, "SgxEnclave", bb, strlen(bb), &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.code, "InvalidParameter");
    assert_null(r.body);
    att_svc_reply_clear(&r);
    free(bb);

    free(body);
    rmsvc(svc);
    vec_free(&s);
}

/* SEV-SNP through the service: go-sev-guest's report (a debuggable guest) in MAA's JSON form with
 * its VCEK chain, no KDS: a signed contraindicated EAR that verifies against /certs. */
static char *snp_body(void)
{
    char path[2048];
    att_diag_t d;
    uint8_t *rep, *vcek, *chain;
    size_t rn, vn, cn;
    snprintf(path, sizeof path, "%s/go-sev-guest/report.bin", ATT_TEST_VECTORS_SNP);
    assert_int_equal(att_read_file(path, 1 << 20, &rep, &rn, &d), ATT_OK);
    snprintf(path, sizeof path, "%s/go-sev-guest/vcek.der", ATT_TEST_VECTORS_SNP);
    assert_int_equal(att_read_file(path, 1 << 20, &vcek, &vn, &d), ATT_OK);
    snprintf(path, sizeof path, "%s/go-sev-guest/cert_chain_milan.pem", ATT_TEST_VECTORS_SNP);
    assert_int_equal(att_read_file(path, 1 << 20, &chain, &cn, &d), ATT_OK);
    /* PEM of the VCEK, then the chain */
    char *b64 = att_b64std_encode(vcek, vn);
    size_t pl = strlen(b64) + strlen(b64) / 64 + cn + 128;
    char *pem = malloc(pl);
    size_t o = (size_t)snprintf(pem, pl, "-----BEGIN CERTIFICATE-----\n");
    for (size_t i = 0; i < strlen(b64); i += 64)
        o += (size_t)snprintf(pem + o, pl - o, "%.64s\n", b64 + i);
    o += (size_t)snprintf(pem + o, pl - o, "-----END CERTIFICATE-----\n%.*s", (int)cn,
                          (const char *)chain);
    char *rb = att_b64url_encode(rep, rn), *cb = att_b64url_encode((uint8_t *)pem, o);
    json_t *maa = json_pack("{s:s,s:s}", "SnpReport", rb, "VcekCertChain", cb);
    char *text = json_dumps(maa, JSON_COMPACT);
    char *tb = att_b64url_encode((uint8_t *)text, strlen(text));
    size_t bl = strlen(tb) + 32;
    char *body = malloc(bl);
    snprintf(body, bl, "{\"report\":\"%s\"}", tb);
    free(rep), free(vcek), free(chain), free(b64), free(pem), free(rb), free(cb), free(text);
    free(tb);
    json_decref(maa);
    return body;
}

static void test_snp(void **state)
{
    (void)state;
    VEC_SNP_REQUIRE();
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/att-ear-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    att_svc_opts_t o = {.issuer = "http://127.0.0.1:9/",
                        .data_dir = tmpdir,
                        .token_lifetime = 600,
                        .have_at = true};
    assert_int_equal(att_time_parse("2025-01-01T00:00:00Z", &o.at), ATT_OK);
    att_svc_t *svc;
    att_diag_t d;
    if (att_svc_new(&o, &svc, &d) != ATT_OK)
        fail_msg("att_svc_new: %s", d.msg);
    char *body = snp_body();
    att_svc_reply_t r;
    att_svc_attest_ear(svc, "SevSnpVm", body, strlen(body), &r);
    const char *tok = token_of(&r);
    json_t *ear = segment(tok, 1);
    const char *why = ear_shape_error(ear);
    if (why != NULL)
        fail_msg("SevSnpVm: not an EAR: %s", why);
    assert_int_equal(tv(ear, "SevSnpVm", "hardware"), 2);
    assert_int_equal(tv(ear, "SevSnpVm", "executables"), 96);
    assert_int_equal(tv(ear, "SevSnpVm", "runtime-opaque"), 96);
    assert_string_equal(status(ear, "SevSnpVm"), "contraindicated");
    att_rp_result_t res;
    assert_int_equal(rp_verify(svc, tok, &res), ATT_OK);
    att_rp_result_clear(&res);
    json_decref(ear);
    att_svc_reply_clear(&r);
    free(body);
    rmsvc(svc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgx_tdx),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_snp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
