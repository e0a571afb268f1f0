/* test_snp_vectors.c - every shared SEV-SNP vector gets the verdict its README gives, at its
 * verification time, with the fields the README lists; and the negatives made from them: a
 * flipped bit in each signed region, R/S order, truncation and excess, versions 1 and 6, reserved
 * bits and bytes, policy bit 17, a VCEK of another chip, a chain of another product, validity,
 * the key kind, the synthetic VCEKs (both extension encodings) and the certificate cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attest/snp.h"
#include "core/util.h"
#include "snp/snp_int.h"
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

/* One vector as its README describes it. */
typedef struct {
    const char *name, *report, *leaf, *chain, *at;
    att_err_t want;
    uint32_t version, vmpl;
    uint64_t policy;
    att_snp_product_t product;
    att_snp_key_t key;
    const char *measurement, *report_data_prefix, *chip_prefix;
    uint8_t bl, tee, snp, ucode;
} vec_t;

static const vec_t vecs[] = {
    {"go-sev-guest", "go-sev-guest/report.bin", "go-sev-guest/vcek.der", NULL,
     "2025-01-01T00:00:00Z", ATT_OK, 2, 0, 0xb0000, ATT_SNP_MILAN, ATT_SNP_KEY_VCEK,
     "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872"
     "b01",
     "0102030405000000", "3ac3fe21e13fb099", 2, 0, 5, 68},
    {"go-sev-guest+chain", "go-sev-guest/report.bin", "go-sev-guest/vcek.der",
     "go-sev-guest/cert_chain_milan.pem", "2025-01-01T00:00:00Z", ATT_OK, 2, 0, 0xb0000,
     ATT_SNP_MILAN, ATT_SNP_KEY_VCEK,
     "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872"
     "b01",
     "0102030405000000", "3ac3fe21e13fb099", 2, 0, 5, 68},
    {"trustee vcek", "trustee/report_vcek_milan.bin", "trustee/vcek_milan.der",
     "amd-roots/cert_chain_milan_ask_ark.pem", "2025-01-01T00:00:00Z", ATT_OK, 2, 0, 0x3001f,
     ATT_SNP_MILAN, ATT_SNP_KEY_VCEK,
     "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d"
     "38c",
     "ec6c52d7533cc2c4", "c38427a30d4c7af9", 3, 0, 8, 115},
    {"trustee vlek", "trustee/report_vlek_milan.bin", "trustee/vlek_milan.der", NULL,
     "2025-06-01T00:00:00Z", ATT_OK, 3, 1, 0x30000, ATT_SNP_MILAN, ATT_SNP_KEY_VLEK,
     "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7"
     "bf0",
     "819770b7e6ea6df8", "0000000000000000", 4, 0, 24, 217},
    {"trustee vlek expired", "trustee/report_vlek_milan.bin", "trustee/vlek_milan.der", NULL,
     "2026-01-01T00:00:00Z", ATT_E_CERT_EXPIRED, 3, 1, 0x30000, ATT_SNP_MILAN, ATT_SNP_KEY_VLEK,
     "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7"
     "bf0",
     "819770b7e6ea6df8", "0000000000000000", 4, 0, 24, 217},
    {"trustee-e2e-genoa", "trustee-e2e-genoa/report.bin", "trustee-e2e-genoa/vcek_genoa.der", NULL,
     "2026-01-01T00:00:00Z", ATT_OK, 3, 0, 0x30000, ATT_SNP_GENOA, ATT_SNP_KEY_VCEK,
     "6a6519d757e68c2e939c9dbbbc1828498e8de35d2766dd05f1a2cca5059d0cf4ae62a36d75c837974dd50b315506e"
     "73e",
     "7e7320889600c7ac", "371c55d6d15cb50f", 10, 0, 23, 25},
    {"azure a (THIM bundle)", "azure-snp-vtpm/hcl_report_a.snp.bin", NULL,
     "azure-snp-vtpm/hcl_report_a.vcek_ask_ark.pem", "2025-01-01T00:00:00Z", ATT_OK, 2, 0, 0x3001f,
     ATT_SNP_MILAN, ATT_SNP_KEY_VCEK,
     "9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c"
     "315",
     "b3fbad6514c83cae", "19752a447db501a3", 3, 0, 8, 115},
    {"azure b", "azure-snp-vtpm/evidence_b.snp.bin", "azure-snp-vtpm/evidence_b.vcek.der", NULL,
     "2026-01-01T00:00:00Z", ATT_OK, 3, 0, 0x3001f, ATT_SNP_MILAN, ATT_SNP_KEY_VCEK,
     "6a063be9dd79f6371c842e480f8dc3b5c725961344e57130e88c5adf49e8f7f6c79b75a5eb77fc769959f4aeb2f94"
     "01e",
     "af2910341dd81083", "66a5a7b4403a3006", 4, 0, 24, 219},
    {"gcp v5", "gcp-teekit/report_v5.bin", "gcp-teekit/vcek.pem", "gcp-teekit/cert_chain_milan.pem",
     "2026-06-01T00:00:00Z", ATT_OK, 5, 0, 0x30000, ATT_SNP_MILAN, ATT_SNP_KEY_VCEK,
     "b747d55452e0b9e9079770a49e397c5e6d9573581e246da7baac4f28b5cdc5b1b6d19251b8ee600fd16a3708f5840"
     "6f3",
     "0000000000000000", "980cf7b61876cb37", 4, 0, 27, 222},
};

/* Verify report bytes with a leaf and chain from the vectors at t. */
static att_err_t run_with(const uint8_t *rep, size_t n, const char *leaf, const char *chain,
                          att_time_t t, att_snp_cache_t *cache, att_snp_result_t *res)
{
    buf_t l = {0}, c = {0};
    if (leaf)
        l = rd(leaf);
    if (chain)
        c = rd(chain);
    att_snp_input_t in = {.report = rep,
                          .report_len = n,
                          .vcek = l.p,
                          .vcek_len = l.n,
                          .chain = c.p,
                          .chain_len = c.n,
                          .now = t};
    att_err_t e = att_snp_verify(&in, cache, res);
    free(l.p);
    free(c.p);
    return e;
}

static void check_vec(const vec_t *v, att_snp_cache_t *cache)
{
    buf_t r = rd(v->report);
    att_snp_result_t res;
    att_err_t e = run_with(r.p, r.n, v->leaf, v->chain, at(v->at), cache, &res);
    if (e != v->want)
        fail_msg("%s: got %s (%s), want %s", v->name, att_err_name(e), res.diag.msg,
                 att_err_name(v->want));
    assert_int_equal(res.accepted, v->want == ATT_OK);
    assert_true(res.parsed);
    assert_int_equal(res.report.version, v->version);
    assert_int_equal(res.report.vmpl, v->vmpl);
    assert_int_equal(res.report.policy, v->policy);
    assert_int_equal(res.report.debug, (v->policy >> 19) & 1);
    assert_int_equal(res.product, v->product);
    assert_int_equal(res.signing_key, v->key);
    char hex[129];
    att_hex_encode(res.report.measurement, 48, hex);
    assert_string_equal(hex, v->measurement);
    att_hex_encode(res.report.report_data, 8, hex);
    assert_string_equal(hex, v->report_data_prefix);
    att_hex_encode(res.report.chip_id, 8, hex);
    assert_string_equal(hex, v->chip_prefix);
    assert_int_equal(res.reported_tcb.bootloader, v->bl);
    assert_int_equal(res.reported_tcb.tee, v->tee);
    assert_int_equal(res.reported_tcb.snp, v->snp);
    assert_int_equal(res.reported_tcb.microcode, v->ucode);
    if (v->want == ATT_OK)
        assert_true(res.amd_root);
    free(r.p);
}

static void test_every_vector(void **state)
{
    VEC_SNP_REQUIRE();
    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
        check_vec(&vecs[i], NULL);
}

/* The same through a cache, twice: the second round hits for every leaf and gives the same
 * verdicts (the expired VLEK stays expired: validity is checked at each call's now). */
static void test_every_vector_cached(void **state)
{
    VEC_SNP_REQUIRE();
    att_snp_cache_t *c = att_snp_cache_new(8);
    uint64_t hits, misses;
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
            check_vec(&vecs[i], c);
    att_snp_cache_stats(c, &hits, &misses);
    assert_int_equal(hits + misses, 2 * (sizeof(vecs) / sizeof(vecs[0])));
    assert_true(hits >= sizeof(vecs) / sizeof(vecs[0]));
    att_snp_cache_free(c);
}

/* ---- negatives made from the trustee Milan VCEK vector (v2) and the GCP v5 vector ---------- */

static buf_t base(void)
{
    return rd("trustee/report_vcek_milan.bin");
}

static att_err_t run_base(buf_t r, att_snp_result_t *res)
{
    return run_with(r.p, r.n, "trustee/vcek_milan.der", NULL, at("2025-01-01T00:00:00Z"), NULL,
                    res);
}

static void expect(att_err_t got, att_err_t want, const att_snp_result_t *res, const char *needle)
{
    if (got != want)
        fail_msg("got %s (%s), want %s", att_err_name(got), res->diag.msg, att_err_name(want));
    assert_false(res->accepted);
    if (needle && strstr(res->diag.msg, needle) == NULL)
        fail_msg("message '%s' does not say '%s'", res->diag.msg, needle);
}

static void test_flipped_bit_in_each_signed_region(void **state)
{
    VEC_SNP_REQUIRE();
    /* free-form fields of the signed part: a flip keeps the structure valid, so only the
     * signature can catch it */
    const size_t offs[] = {0x004 /* guest_svn */,
                           0x010 /* family_id */,
                           0x020 /* image_id */,
                           0x050 /* report_data */,
                           0x090 /* measurement */,
                           0x0C0 /* host_data */,
                           0x0E0 /* id_key_digest */,
                           0x110 /* author_key */,
                           0x140 /* report_id */,
                           0x160 /* report_id_ma */,
                           0x1E8 /* current_build */};
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        buf_t r = base();
        att_snp_result_t res;
        r.p[offs[i]] ^= 0x01;
        expect(run_base(r, &res), ATT_E_SNP_REPORT_SIGNATURE, &res, "does not verify");
        free(r.p);
    }
    /* and in the signature itself */
    buf_t r = base();
    att_snp_result_t res;
    r.p[0x2A0] ^= 0x80;
    expect(run_base(r, &res), ATT_E_SNP_REPORT_SIGNATURE, &res, NULL);
    free(r.p);
}

static void test_rs_order(void **state)
{
    VEC_SNP_REQUIRE();
    uint8_t tmp[72];
    att_snp_result_t res;
    /* R and S exchanged */
    buf_t r = base();
    memcpy(tmp, r.p + 0x2A0, 72);
    memcpy(r.p + 0x2A0, r.p + 0x2E8, 72);
    memcpy(r.p + 0x2E8, tmp, 72);
    expect(run_base(r, &res), ATT_E_SNP_REPORT_SIGNATURE, &res, NULL);
    free(r.p);
    /* R and S read big-endian (the bytes of each 48-byte value reversed) */
    r = base();
    for (int k = 0; k < 2; k++) {
        uint8_t *p = r.p + 0x2A0 + 72 * k;
        for (int i = 0; i < 24; i++) {
            uint8_t t = p[i];
            p[i] = p[47 - i];
            p[47 - i] = t;
        }
    }
    expect(run_base(r, &res), ATT_E_SNP_REPORT_SIGNATURE, &res, NULL);
    free(r.p);
}

static void test_truncated_and_oversized(void **state)
{
    VEC_SNP_REQUIRE();
    buf_t r = base();
    att_snp_result_t res;
    const struct {
        size_t len;
        const char *field;
    } cuts[] = {{0, "version"},
                {3, "version"},
                {0x4F, "reserved at 0x04C"},
                {0x2A0, "signature R"},
                {0x2E7, "signature R"},
                {0x32F, "signature S"},
                {0x49F, "reserved at 0x330"}};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        att_snp_input_t in = {.report = r.p, .report_len = cuts[i].len};
        att_err_t e = att_snp_verify(&in, NULL, &res);
        expect(e, ATT_E_EVIDENCE_FORMAT, &res, cuts[i].field);
        assert_non_null(strstr(res.diag.msg, "truncated"));
        assert_false(res.parsed);
    }
    uint8_t *big = calloc(1, ATT_SNP_REPORT_LEN + 1);
    memcpy(big, r.p, ATT_SNP_REPORT_LEN);
    att_snp_input_t in = {.report = big, .report_len = ATT_SNP_REPORT_LEN + 1};
    expect(att_snp_verify(&in, NULL, &res), ATT_E_EVIDENCE_FORMAT, &res, "1 bytes after");
    free(big);
    free(r.p);
}

/* Set the little-endian u32/u64 at off. */
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void test_versions(void **state)
{
    VEC_SNP_REQUIRE();
    const uint32_t bad[] = {0, 1, 6, 0xFFFFFFFF};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_t r = base();
        att_snp_result_t res;
        put32(r.p, bad[i]);
        expect(run_base(r, &res), ATT_E_EVIDENCE_FORMAT, &res, "is not supported (2 to 5)");
        free(r.p);
    }
}

static void test_reserved_fields(void **state)
{
    VEC_SNP_REQUIRE();
    const struct {
        size_t off;
        uint8_t bit;
        const char *says;
    } cases[] = {
        {0x00B, 0x04, "reserved bits (26-63)"},     /* policy bit 26 */
        {0x00F, 0x80, "reserved bits (26-63)"},     /* policy bit 63 */
        {0x030, 0x04, "vmpl 4"},                    /* vmpl */
        {0x034, 0x02, "signature_algo 3"},          /* 1 -> 3 */
        {0x040, 0x40, "platform_info"},             /* bit 6 */
        {0x041, 0x01, "platform_info"},             /* bit 8 */
        {0x048, 0x20, "key_info"},                  /* bit 5 */
        {0x048, 0x08, "signing_key 2 is reserved"}, /* signing_key 2 */
        {0x04C, 0x01, "0x04c"},
        {0x188, 0x19, "reserved in this version"}, /* v2: CPUID bytes reserved */
        {0x18B, 0x01, "0x18b"},
        {0x1A0 - 1, 0x01, "0x19f"},
        {0x1EB, 0x01, "0x1eb"},
        {0x1EF, 0x01, "0x1ef"},
        {0x1F8, 0x0b, "reserved in this version"}, /* v2: launch_mit_vector reserved */
        {0x200, 0x01, "reserved in this version"}, /* v2: current_mit_vector reserved */
        {0x208, 0x01, "0x208"},
        {0x29F, 0x01, "0x29f"},
        {0x2D0, 0x01, "beyond the 48 bytes"}, /* R's top bytes */
        {0x32F, 0x01, "beyond the 48 bytes"}, /* S's top bytes */
        {0x330, 0x01, "0x330"},
        {0x49F, 0x80, "0x49f"},
        {0x182, 0x01, "reserved bytes set"}, /* reported_tcb byte 2 (Milan: reserved) */
        {0x03D, 0x01, "reserved bytes set"}, /* current_tcb byte 5 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_t r = base();
        att_snp_result_t res;
        r.p[cases[i].off] ^= cases[i].bit;
        att_err_t e = run_base(r, &res);
        if (e != ATT_E_EVIDENCE_FORMAT || strstr(res.diag.msg, cases[i].says) == NULL)
            fail_msg("offset 0x%zx: got %s '%s', want ATT_E_EVIDENCE_FORMAT saying '%s'",
                     cases[i].off, att_err_name(e), res.diag.msg, cases[i].says);
        free(r.p);
    }
}

static void test_policy_bit17(void **state)
{
    VEC_SNP_REQUIRE();
    buf_t r = base();
    att_snp_result_t res;
    r.p[0x00A] &= (uint8_t)~0x02;
    expect(run_base(r, &res), ATT_E_EVIDENCE_FORMAT, &res, "bit 17 clear");
    free(r.p);
}

/* A v4 report keeps the mitigation vectors reserved; v5 reads them (the GCP vector). */
static void test_mitigation_vectors_by_version(void **state)
{
    VEC_SNP_REQUIRE();
    buf_t r = rd("gcp-teekit/report_v5.bin");
    att_snp_report_t rep;
    att_diag_t d;
    assert_int_equal(att_snp_report_parse(r.p, r.n, &rep, &d), ATT_OK);
    assert_int_equal(rep.launch_mit_vector, 0x0b);
    put32(r.p, 4);
    assert_int_equal(att_snp_report_parse(r.p, r.n, &rep, &d), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(d.msg, "launch_mit_vector, reserved in this version"));
    free(r.p);
}

static void test_vcek_of_another_chip(void **state)
{
    VEC_SNP_REQUIRE();
    buf_t r = base();
    att_snp_result_t res;
    /* azure a: another Milan chip at the same TCB (03 .. 08 73) */
    buf_t other = rd("azure-snp-vtpm/hcl_report_a.vcek_ask_ark.pem");
    att_snp_input_t in = {.report = r.p,
                          .report_len = r.n,
                          .chain = other.p,
                          .chain_len = other.n,
                          .now = at("2025-01-01T00:00:00Z")};
    expect(att_snp_verify(&in, NULL, &res), ATT_E_SNP_CERT_MISMATCH, &res, "of another chip");
    free(other.p);
    /* go-sev-guest's VCEK: another chip and another TCB; the chip is named first */
    expect(
        run_with(r.p, r.n, "go-sev-guest/vcek.der", NULL, at("2025-01-01T00:00:00Z"), NULL, &res),
        ATT_E_SNP_CERT_MISMATCH, &res, "of another chip");
    free(r.p);
}

static void test_tcb_mismatch(void **state)
{
    VEC_SNP_REQUIRE();
    buf_t r = base();
    att_snp_result_t res;
    r.p[0x186] = 9; /* reported snp SPL 8 -> 9: the VCEK is for another TCB */
    expect(run_base(r, &res), ATT_E_SNP_CERT_MISMATCH, &res, "snpSPL is 8");
    free(r.p);
}

static void test_chain_of_another_product(void **state)
{
    VEC_SNP_REQUIRE();
    buf_t r = base();
    att_snp_result_t res;
    /* Genoa ASK (+ Genoa ARK) given for a Milan VCEK */
    buf_t ask = rd("amd-roots/ask_genoa.pem"), ark = rd("amd-roots/ark_genoa.pem");
    buf_t mix = {malloc(ask.n + ark.n), ask.n + ark.n};
    memcpy(mix.p, ask.p, ask.n);
    memcpy(mix.p + ask.n, ark.p, ark.n);
    att_snp_input_t in = {.report = r.p,
                          .report_len = r.n,
                          .vcek = NULL,
                          .chain = mix.p,
                          .chain_len = mix.n,
                          .now = at("2025-01-01T00:00:00Z")};
    buf_t leaf = rd("trustee/vcek_milan.der");
    in.vcek = leaf.p;
    in.vcek_len = leaf.n;
    expect(att_snp_verify(&in, NULL, &res), ATT_E_CERT_ISSUER, &res, "another product");
    /* Milan ASK given with Genoa's ARK */
    buf_t mask = rd("amd-roots/ask_milan.pem");
    memcpy(mix.p, mask.p, mask.n);
    memcpy(mix.p + mask.n, ark.p, ark.n);
    in.chain_len = mask.n + ark.n;
    expect(att_snp_verify(&in, NULL, &res), ATT_E_CERT_UNTRUSTED_ROOT, &res, "ARK-Genoa");
    /* a Genoa report with the Milan VCEK: the products disagree */
    buf_t g = rd("trustee-e2e-genoa/report.bin");
    expect(
        run_with(g.p, g.n, "trustee/vcek_milan.der", NULL, at("2026-01-01T00:00:00Z"), NULL, &res),
        ATT_E_SNP_CERT_MISMATCH, &res, "from Genoa");
    free(g.p);
    free(mask.p);
    free(leaf.p);
    free(mix.p);
    free(ask.p);
    free(ark.p);
    free(r.p);
}

static void test_root_from_the_evidence_is_not_trusted(void **state)
{
    VEC_SNP_REQUIRE();
    /* the ASK given as its own root: a self-signed root is what the chain's last certificate
     * is taken as, and it is no pinned ARK */
    buf_t r = base(), ask = rd("amd-roots/ask_milan.pem"), leaf = rd("trustee/vcek_milan.der");
    buf_t two = {malloc(2 * ask.n), 2 * ask.n};
    memcpy(two.p, ask.p, ask.n);
    memcpy(two.p + ask.n, ask.p, ask.n);
    att_snp_result_t res;
    att_snp_input_t in = {.report = r.p,
                          .report_len = r.n,
                          .vcek = leaf.p,
                          .vcek_len = leaf.n,
                          .chain = two.p,
                          .chain_len = two.n,
                          .now = at("2025-01-01T00:00:00Z")};
    expect(att_snp_verify(&in, NULL, &res), ATT_E_CERT_UNTRUSTED_ROOT, &res,
           "neither AMD's pinned ARK-Milan");
    free(two.p);
    free(ask.p);
    free(leaf.p);
    free(r.p);
}

static void test_validity(void **state)
{
    VEC_SNP_REQUIRE();
    buf_t r = rd("go-sev-guest/report.bin");
    att_snp_result_t res;
    /* VCEK valid 2022-09-24 .. 2029-09-24 */
    expect(
        run_with(r.p, r.n, "go-sev-guest/vcek.der", NULL, at("2029-09-25T00:00:00Z"), NULL, &res),
        ATT_E_CERT_EXPIRED, &res, "VCEK expired at 2029-09-24T00:55:28Z");
    expect(
        run_with(r.p, r.n, "go-sev-guest/vcek.der", NULL, at("2022-09-23T00:00:00Z"), NULL, &res),
        ATT_E_CERT_NOT_YET_VALID, &res, "VCEK is not valid before");
    /* the ARK of Milan is valid from 2020-10-22 */
    expect(
        run_with(r.p, r.n, "go-sev-guest/vcek.der", NULL, at("2020-01-01T00:00:00Z"), NULL, &res),
        ATT_E_CERT_NOT_YET_VALID, &res, "ARK-Milan");
    free(r.p);
}

static void test_key_kind(void **state)
{
    VEC_SNP_REQUIRE();
    /* a VCEK report with a VLEK, and a VLEK report with a VCEK */
    buf_t r = base();
    att_snp_result_t res;
    expect(
        run_with(r.p, r.n, "trustee/vlek_milan.der", NULL, at("2025-06-01T00:00:00Z"), NULL, &res),
        ATT_E_SNP_CERT_MISMATCH, &res, "given is a VLEK");
    free(r.p);
    r = rd("trustee/report_vlek_milan.bin");
    expect(
        run_with(r.p, r.n, "trustee/vcek_milan.der", NULL, at("2025-06-01T00:00:00Z"), NULL, &res),
        ATT_E_SNP_CERT_MISMATCH, &res, "given is a VCEK");
    /* signing_key 7: not signed */
    r.p[0x048] = 0x1C;
    expect(
        run_with(r.p, r.n, "trustee/vlek_milan.der", NULL, at("2025-06-01T00:00:00Z"), NULL, &res),
        ATT_E_SNP_REPORT_SIGNATURE, &res, "not signed");
    free(r.p);
}

/* trustee's synthetic VCEKs: their extensions read in both encodings (the hwID raw and wrapped
 * in an OCTET STRING, a two-byte ucodeSPL), and their signature is not the ASK's. */
static void test_synthetic_vceks(void **state)
{
    VEC_SNP_REQUIRE();
    const char *files[] = {"trustee/vcek_synthetic_invalid_legacy.der",
                           "trustee/vcek_synthetic_invalid_new.der"};
    const uint8_t ucode[] = {0xA9, 0x1E};
    for (int i = 0; i < 2; i++) {
        buf_t c = rd(files[i]);
        att_diag_t d;
        const unsigned char *p = c.p;
        X509 *x = d2i_X509(NULL, &p, (long)c.n);
        assert_non_null(x);
        att_snp_ext_t ext;
        assert_int_equal(att_snp_ext_parse(x, &ext, &d), ATT_OK);
        assert_string_equal(ext.product, "Milan-B0");
        assert_int_equal(att_snp_ext_product(&ext), ATT_SNP_MILAN);
        assert_int_equal(ext.hwid_len, 64);
        for (int k = 0; k < 64; k++)
            assert_int_equal(ext.hwid[k], k);
        assert_int_equal(ext.spl[8], ucode[i]);
        X509_free(x);
        buf_t r = base();
        att_snp_result_t res;
        expect(run_with(r.p, r.n, files[i], NULL, at("2025-01-01T00:00:00Z"), NULL, &res),
               ATT_E_CERT_SIGNATURE, &res, "does not verify with the key of SEV-Milan");
        free(r.p);
        free(c.p);
    }
    /* the real VLEK's two-byte ucodeSPL (02 02 00 d9) and its csp_id */
    buf_t c = rd("trustee/vlek_milan.der");
    const unsigned char *p = c.p;
    X509 *x = d2i_X509(NULL, &p, (long)c.n);
    att_snp_ext_t ext;
    att_diag_t d;
    assert_int_equal(att_snp_ext_parse(x, &ext, &d), ATT_OK);
    assert_int_equal(ext.spl[8], 217);
    assert_false(ext.has_hwid);
    assert_string_equal(ext.csp_id, "CN=cc-us-east-2.amazonaws.com");
    X509_free(x);
    free(c.p);
}

/* A cached VCEK is still matched against each report: another chip's report with the cached
 * VCEK fails as without the cache, and a later `now` finds it expired. */
static void test_cache_keeps_per_report_checks(void **state)
{
    VEC_SNP_REQUIRE();
    att_snp_cache_t *c = att_snp_cache_new(4);
    buf_t r = rd("go-sev-guest/report.bin"), o = base();
    att_snp_result_t res;
    assert_int_equal(
        run_with(r.p, r.n, "go-sev-guest/vcek.der", NULL, at("2025-01-01T00:00:00Z"), c, &res),
        ATT_OK);
    expect(run_with(o.p, o.n, "go-sev-guest/vcek.der", NULL, at("2025-01-01T00:00:00Z"), c, &res),
           ATT_E_SNP_CERT_MISMATCH, &res, "of another chip");
    expect(run_with(r.p, r.n, "go-sev-guest/vcek.der", NULL, at("2030-01-01T00:00:00Z"), c, &res),
           ATT_E_CERT_EXPIRED, &res, NULL);
    r.p[0x50] ^= 1;
    expect(run_with(r.p, r.n, "go-sev-guest/vcek.der", NULL, at("2025-01-01T00:00:00Z"), c, &res),
           ATT_E_SNP_REPORT_SIGNATURE, &res, NULL);
    uint64_t hits, misses;
    att_snp_cache_stats(c, &hits, &misses);
    assert_int_equal(misses, 1);
    assert_int_equal(hits, 3);
    att_snp_cache_free(c);
    free(r.p);
    free(o.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_vector),
        cmocka_unit_test(test_every_vector_cached),
        cmocka_unit_test(test_flipped_bit_in_each_signed_region),
        cmocka_unit_test(test_rs_order),
        cmocka_unit_test(test_truncated_and_oversized),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_reserved_fields),
        cmocka_unit_test(test_policy_bit17),
        cmocka_unit_test(test_mitigation_vectors_by_version),
        cmocka_unit_test(test_vcek_of_another_chip),
        cmocka_unit_test(test_tcb_mismatch),
        cmocka_unit_test(test_chain_of_another_product),
        cmocka_unit_test(test_root_from_the_evidence_is_not_trusted),
        cmocka_unit_test(test_validity),
        cmocka_unit_test(test_key_kind),
        cmocka_unit_test(test_synthetic_vceks),
        cmocka_unit_test(test_cache_keeps_per_report_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
