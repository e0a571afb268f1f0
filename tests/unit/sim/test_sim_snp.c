/* test_sim_snp.c - the simulated SEV-SNP platform (attest/sim.h, att_sim_snp_*) through the real
 * verifier (att_snp_verify): a fleet of distinct chips whose reports each verify with their own
 * VCEK only; every version 2-5 on Milan, Genoa and Turin; VLEK reports; chosen fields land where
 * AMD's layout puts them; signature-valid reports with a wrong hwID or TCB (issue 17) rejected
 * for that reason; the MAA JSON evidence; the KDS directory read back by the verifier (files and
 * modes) and reloaded with the same chips and keys; a damaged state refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "attest/sim.h"
#include "attest/snp.h"
#include "attest/token.h"
#include "attest/trust.h"
#include "core/util.h"

#define T0 1735689600 /* 2025-01-01T00:00:00Z */

static att_sim_snp_t *sim_new(att_snp_product_t product, size_t n_chips)
{
    att_sim_snp_opts_t o;
    att_sim_snp_opts_default(&o, product, T0);
    o.rsa_bits = 2048;
    o.n_chips = n_chips;
    att_sim_snp_t *s = NULL;
    att_diag_t d;
    if (att_sim_snp_new(&o, &s, &d) != ATT_OK)
        fail_msg("att_sim_snp_new: %s", d.msg);
    return s;
}

static att_trust_t *trust_of(const att_sim_snp_t *s)
{
    att_trust_t *t = att_trust_new_empty();
    att_slice_t ark = att_sim_snp_cert_der(s, ATT_SIM_SNP_ARK);
    att_diag_t d;
    assert_int_equal(att_trust_add_root(t, ark.ptr, ark.len, &d), ATT_OK);
    return t;
}

/* Verify rep with the leaf of (kind, chip, tcb) and its chain. */
static att_err_t verify(att_sim_snp_t *s, const att_trust_t *t, const uint8_t *rep,
                        att_snp_key_t kind, size_t chip, uint64_t tcb, att_snp_cache_t *cache,
                        att_snp_result_t *res)
{
    att_slice_t leaf;
    att_sim_buf_t chain;
    att_diag_t d;
    assert_int_equal(att_sim_snp_leaf(s, kind, chip, tcb, &leaf, &d), ATT_OK);
    assert_int_equal(att_sim_snp_cert_chain(s, kind, &chain, &d), ATT_OK);
    att_snp_input_t in = {.report = rep,
                          .report_len = ATT_SNP_REPORT_LEN,
                          .vcek = leaf.ptr,
                          .vcek_len = leaf.len,
                          .chain = chain.ptr,
                          .chain_len = chain.len,
                          .trust = t,
                          .now = T0};
    att_err_t e = att_snp_verify(&in, cache, res);
    free(chain.ptr);
    return e;
}

static void expect(att_err_t got, att_err_t want, const att_snp_result_t *res, const char *needle)
{
    if (got != want)
        fail_msg("got %s (%s), want %s", att_err_name(got), res->diag.msg, att_err_name(want));
    if (needle && strstr(res->diag.msg, needle) == NULL)
        fail_msg("message '%s' does not say '%s'", res->diag.msg, needle);
}

static void report(att_sim_snp_t *s, const att_sim_snp_report_opts_t *o,
                   uint8_t r[ATT_SNP_REPORT_LEN])
{
    att_diag_t d;
    if (att_sim_snp_report(s, o, r, &d) != ATT_OK)
        fail_msg("att_sim_snp_report: %s", d.msg);
}

/* N chips: distinct chip_ids and keys; each report verifies with its chip's VCEK (cached or
 * not) and is refused with any other chip's. */
static void test_fleet(void **state)
{
    enum { N = 6 };
    att_sim_snp_t *s = sim_new(ATT_SNP_MILAN, N);
    att_trust_t *t = trust_of(s);
    att_snp_cache_t *cache = att_snp_cache_new(64);
    uint64_t tcb = att_sim_snp_opts(s)->tcb;
    static att_snp_result_t res;
    uint8_t rep[N][ATT_SNP_REPORT_LEN];
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < i; j++)
            assert_memory_not_equal(att_sim_snp_chip_id(s, i), att_sim_snp_chip_id(s, j), 64);
        att_sim_snp_report_opts_t o;
        att_sim_snp_report_opts_default(s, &o, i, 3);
        o.report_data[0] = (uint8_t)i;
        report(s, &o, rep[i]);
        expect(verify(s, t, rep[i], ATT_SNP_KEY_VCEK, i, tcb, NULL, &res), ATT_OK, &res, NULL);
        assert_memory_equal(res.report.chip_id, att_sim_snp_chip_id(s, i), 64);
        expect(verify(s, t, rep[i], ATT_SNP_KEY_VCEK, i, tcb, cache, &res), ATT_OK, &res, NULL);
    }
    uint64_t hits, misses;
    att_snp_cache_stats(cache, &hits, &misses);
    assert_int_equal(misses, N); /* every chip is a new VCEK */
    /* a report verified with another chip's VCEK: hwID differs */
    expect(verify(s, t, rep[0], ATT_SNP_KEY_VCEK, 1, tcb, cache, &res), ATT_E_SNP_CERT_MISMATCH,
           &res, "the VCEK is of another chip");
    assert_null(att_sim_snp_chip_id(s, N));
    att_slice_t leaf;
    att_diag_t d;
    assert_int_equal(att_sim_snp_leaf(s, ATT_SNP_KEY_VCEK, N, tcb, &leaf, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "chip 6 does not exist"));
    att_snp_cache_free(cache);
    att_trust_free(t);
    att_sim_snp_free(s);
}

/* Versions 2-5 on each product, VCEK and VLEK; the fields land where the parser reads them. */
static void test_versions_products(void **state)
{
    const att_snp_product_t products[] = {ATT_SNP_MILAN, ATT_SNP_GENOA, ATT_SNP_TURIN};
    static att_snp_result_t res;
    for (size_t p = 0; p < 3; p++) {
        att_sim_snp_t *s = sim_new(products[p], 2);
        att_trust_t *t = trust_of(s);
        uint64_t tcb = att_sim_snp_opts(s)->tcb;
        for (uint32_t v = 2; v <= 5; v++) {
            for (int k = 0; k < 2; k++) {
                att_snp_key_t kind = k ? ATT_SNP_KEY_VLEK : ATT_SNP_KEY_VCEK;
                att_sim_snp_report_opts_t o;
                att_sim_snp_report_opts_default(s, &o, 1, v);
                o.key = kind;
                o.vmpl = 2;
                o.guest_svn = 7;
                o.policy |= ATT_SNP_POLICY_DEBUG;
                memset(o.report_data, 0x5C, 64);
                memset(o.host_data, 0x3D, 32);
                memset(o.family_id, 0x0F, 16);
                o.launch_mit_vector = 3;
                o.current_mit_vector = 5;
                uint8_t rep[ATT_SNP_REPORT_LEN];
                report(s, &o, rep);
                att_err_t e = verify(s, t, rep, kind, 1, tcb, NULL, &res);
                if (e != ATT_OK)
                    fail_msg("%s v%u %s: %s", att_snp_product_name(products[p]), v,
                             att_snp_key_name(kind), res.diag.msg);
                assert_int_equal(res.report.version, v);
                assert_int_equal(res.product, products[p]);
                assert_int_equal(res.report.product,
                                 v >= 3 ? products[p] : ATT_SNP_PRODUCT_UNKNOWN);
                assert_int_equal(res.signing_key, kind);
                assert_int_equal(res.report.vmpl, 2);
                assert_int_equal(res.report.guest_svn, 7);
                assert_true(res.report.debug);
                assert_memory_equal(res.report.report_data, o.report_data, 64);
                assert_memory_equal(res.report.host_data, o.host_data, 32);
                assert_memory_equal(res.report.measurement, o.measurement, 48);
                assert_memory_equal(res.report.family_id, o.family_id, 16);
                assert_true(res.report.reported_tcb == tcb);
                assert_int_equal(res.report.current_mit_vector, v >= 5 ? 5 : 0);
                if (kind == ATT_SNP_KEY_VLEK)
                    assert_string_equal(res.csp_id, "attestd-sim");
            }
        }
        att_trust_free(t);
        att_sim_snp_free(s);
    }
}

/* Issue 17: signature-valid reports a real platform never makes. */
static void test_wrong_hwid_and_tcb(void **state)
{
    att_sim_snp_t *s = sim_new(ATT_SNP_GENOA, 2);
    att_trust_t *t = trust_of(s);
    uint64_t tcb = att_sim_snp_opts(s)->tcb;
    static att_snp_result_t res;
    uint8_t rep[ATT_SNP_REPORT_LEN];
    /* chip 0's VCEK signs a report naming chip 1 */
    att_sim_snp_report_opts_t o;
    att_sim_snp_report_opts_default(s, &o, 0, 3);
    memcpy(o.chip_id, att_sim_snp_chip_id(s, 1), 64);
    report(s, &o, rep);
    expect(verify(s, t, rep, ATT_SNP_KEY_VCEK, 0, tcb, NULL, &res), ATT_E_SNP_CERT_MISMATCH, &res,
           "the VCEK is of another chip");
    /* chip 1's VCEK has the right hwID but did not sign it */
    expect(verify(s, t, rep, ATT_SNP_KEY_VCEK, 1, tcb, NULL, &res), ATT_E_SNP_REPORT_SIGNATURE,
           &res, NULL);
    /* a report of snpSPL + 1 signed by the VCEK of the hierarchy's TCB */
    att_snp_tcb_t d;
    att_snp_tcb_decode(tcb, ATT_SNP_GENOA, &d);
    att_sim_snp_report_opts_default(s, &o, 0, 3);
    o.reported_tcb =
        att_sim_snp_tcb(ATT_SNP_GENOA, d.bootloader, d.tee, (uint8_t)(d.snp + 1), d.microcode, 0);
    o.other_key_tcb = true;
    o.key_tcb = tcb;
    report(s, &o, rep);
    expect(verify(s, t, rep, ATT_SNP_KEY_VCEK, 0, tcb, NULL, &res), ATT_E_SNP_CERT_MISMATCH, &res,
           "the VCEK is for another TCB: its snpSPL");
    /* the VCEK of that TCB (a new key, derived for it) verifies a report made for it */
    o.other_key_tcb = false;
    report(s, &o, rep);
    expect(verify(s, t, rep, ATT_SNP_KEY_VCEK, 0, o.reported_tcb, NULL, &res), ATT_OK, &res, NULL);
    att_trust_free(t);
    att_sim_snp_free(s);
}

static void test_evidence_json(void **state)
{
    att_sim_snp_t *s = sim_new(ATT_SNP_MILAN, 1);
    att_sim_snp_report_opts_t o;
    att_sim_snp_report_opts_default(s, &o, 0, 2);
    uint8_t rep[ATT_SNP_REPORT_LEN];
    report(s, &o, rep);
    char *json;
    att_diag_t d;
    assert_int_equal(att_sim_snp_evidence(s, &o, rep, &json, &d), ATT_OK);
    json_t *doc = json_loads(json, 0, NULL);
    assert_non_null(doc);
    const char *r = json_string_value(json_object_get(doc, "SnpReport"));
    const char *c = json_string_value(json_object_get(doc, "VcekCertChain"));
    assert_non_null(r);
    assert_non_null(c);
    uint8_t *raw, *chain;
    size_t rlen, clen;
    assert_true(att_b64_decode(r, strlen(r), false, &raw, &rlen));
    assert_true(att_b64_decode(c, strlen(c), false, &chain, &clen));
    assert_int_equal(rlen, ATT_SNP_REPORT_LEN);
    assert_memory_equal(raw, rep, ATT_SNP_REPORT_LEN);
    /* the chain alone (leaf, ASK, ARK) is enough to verify it */
    att_trust_t *t = trust_of(s);
    static att_snp_result_t res;
    att_snp_input_t in = {.report = raw,
                          .report_len = rlen,
                          .chain = chain,
                          .chain_len = clen,
                          .trust = t,
                          .now = T0};
    expect(att_snp_verify(&in, NULL, &res), ATT_OK, &res, NULL);
    att_trust_free(t);
    free(raw);
    free(chain);
    json_decref(doc);
    free(json);
    att_sim_snp_free(s);
}

static uint8_t *read_rel(const char *dir, const char *rel, size_t *len, mode_t *mode)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    struct stat st;
    if (stat(path, &st) != 0)
        fail_msg("%s: missing", path);
    if (mode)
        *mode = st.st_mode & 0777;
    uint8_t *b;
    att_diag_t d;
    if (att_read_file(path, 1 << 20, &b, len, &d) != ATT_OK)
        fail_msg("%s", d.msg);
    return b;
}

/* The KDS directory: what `attest snp verify --kds-dir` reads verifies a report; reloading gives
 * the same chips and keys; a damaged state is refused. */
static void test_save_load(void **state)
{
    att_sim_snp_t *s = sim_new(ATT_SNP_TURIN, 3);
    char tmpl[] = "/tmp/att_sim_snp_XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    att_diag_t d;
    mode_t old = umask(077);
    if (att_sim_snp_save(s, dir, &d) != ATT_OK)
        fail_msg("save: %s", d.msg);
    umask(old);
    char hex[129], rel[256];
    att_hex_encode(att_sim_snp_chip_id(s, 2), 8, hex); /* Turin: 8 bytes */
    snprintf(rel, sizeof rel, "vcek/v1/Turin/%s", hex);
    size_t vl, cl, rl, al;
    mode_t m;
    uint8_t *vcek = read_rel(dir, rel, &vl, &m);
    assert_int_equal(m, 0644);
    uint8_t *chain = read_rel(dir, "vcek/v1/Turin/cert_chain", &cl, NULL);
    uint8_t *crl = read_rel(dir, "vcek/v1/Turin/crl", &rl, NULL);
    uint8_t *ark = read_rel(dir, "ark.pem", &al, NULL);
    free(read_rel(dir, "vlek/v1/Turin/cert_chain", &al, NULL));
    free(read_rel(dir, "sim/ark.key", &al, &m));
    assert_int_equal(m, 0600);
    free(read_rel(dir, "sim/snp.json", &al, &m));
    assert_int_equal(m, 0600);
    size_t tl;
    char *chips = (char *)read_rel(dir, "chips.txt", &tl, NULL);
    assert_int_equal(tl, 3 * 17);
    assert_memory_equal(chips + 2 * 17, hex, 16);
    free(chips);

    /* reload, and make a report of chip 2 with the loaded state */
    att_sim_snp_t *l = NULL;
    if (att_sim_snp_load(dir, &l, &d) != ATT_OK)
        fail_msg("load: %s", d.msg);
    assert_int_equal(att_sim_snp_opts(l)->n_chips, 3);
    assert_int_equal(att_sim_snp_opts(l)->product, ATT_SNP_TURIN);
    assert_memory_equal(att_sim_snp_chip_id(l, 2), att_sim_snp_chip_id(s, 2), 64);
    att_sim_snp_report_opts_t o;
    att_sim_snp_report_opts_default(l, &o, 2, 4);
    uint8_t rep[ATT_SNP_REPORT_LEN];
    report(l, &o, rep);
    /* ... verified with the files written before the reload: the same key and hierarchy */
    att_trust_t *t = att_trust_new_empty();
    assert_int_equal(att_trust_add_root(t, ark, strlen((char *)ark), &d), ATT_OK);
    static att_snp_result_t res;
    att_snp_input_t in = {.report = rep,
                          .report_len = sizeof rep,
                          .vcek = vcek,
                          .vcek_len = vl,
                          .chain = chain,
                          .chain_len = cl,
                          .crl = crl,
                          .crl_len = rl,
                          .trust = t,
                          .now = T0};
    expect(att_snp_verify(&in, NULL, &res), ATT_OK, &res, NULL);
    att_trust_free(t);
    att_sim_snp_free(l);

    /* a key that is not the certificate's */
    char path[512], path2[512];
    snprintf(path, sizeof path, "%s/sim/ask.key", dir);
    snprintf(path2, sizeof path2, "%s/sim/asvk.key", dir);
    assert_int_equal(rename(path2, path), 0);
    assert_int_equal(att_sim_snp_load(dir, &l, &d), ATT_E_CERT_KEY);
    assert_non_null(strstr(d.msg, "not the RSA private key of ask.pem"));
    assert_null(l);
    /* no state at all */
    snprintf(path, sizeof path, "%s/sim/snp.json", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_not_equal(att_sim_snp_load(dir, &l, &d), ATT_OK);

    free(vcek);
    free(chain);
    free(crl);
    free(ark);
    att_sim_snp_free(s);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_bad_options(void **state)
{
    att_sim_snp_opts_t o;
    att_sim_snp_t *s = NULL;
    att_diag_t d;
    att_sim_snp_opts_default(&o, ATT_SNP_PRODUCT_UNKNOWN, T0);
    assert_int_equal(att_sim_snp_new(&o, &s, &d), ATT_E_ARG);
    att_sim_snp_opts_default(&o, ATT_SNP_MILAN, T0);
    o.n_chips = 0;
    assert_int_equal(att_sim_snp_new(&o, &s, &d), ATT_E_ARG);
    att_sim_snp_opts_default(&o, ATT_SNP_MILAN, T0);
    o.rsa_bits = 1024;
    assert_int_equal(att_sim_snp_new(&o, &s, &d), ATT_E_ARG);
    att_sim_snp_opts_default(&o, ATT_SNP_MILAN, T0);
    o.tcb |= 1ull << 24; /* a reserved byte of Milan's layout */
    assert_int_equal(att_sim_snp_new(&o, &s, &d), ATT_E_ARG);
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fleet),
        cmocka_unit_test(test_versions_products),
        cmocka_unit_test(test_wrong_hwid_and_tcb),
        cmocka_unit_test(test_evidence_json),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
