/* test_snp_pki.c - SEV-SNP checks the shared vectors cannot reach, on the library's simulated
 * AMD-shaped hierarchy (attest/sim.h, att_sim_snp_*: ARK and ASK RSA with RSASSA-PSS SHA-384
 * salt 48, P-384 VCEKs with the AMD extensions, reports signed with their keys): the KDS CRL
 * (accepted, revoking the ASK, bad signature, another issuer, outside its dates), Turin's TCB
 * layout (fmc) and 8-byte hwID, a caller's root that is needed (untrusted without it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attest/sim.h"
#include "attest/snp.h"
#include "attest/trust.h"

#define T0 1735689600 /* 2025-01-01T00:00:00Z */

/* A simulated hierarchy (RSA-2048 for speed) at `tcb`, its ARK trusted; chip 0's VCEK. */
typedef struct {
    att_sim_snp_t *sim;
    att_trust_t *trust;
    att_sim_buf_t chain; /* ASK + ARK PEM, as KDS cert_chain */
    att_slice_t vcek;    /* DER, borrowed from sim */
} pki_t;

static void pki_make(pki_t *p, att_snp_product_t product, uint64_t tcb)
{
    memset(p, 0, sizeof *p);
    att_sim_snp_opts_t o;
    att_sim_snp_opts_default(&o, product, T0);
    o.rsa_bits = 2048;
    o.tcb = tcb;
    att_diag_t d;
    if (att_sim_snp_new(&o, &p->sim, &d) != ATT_OK)
        fail_msg("att_sim_snp_new: %s", d.msg);
    assert_int_equal(att_sim_snp_cert_chain(p->sim, ATT_SNP_KEY_VCEK, &p->chain, &d), ATT_OK);
    assert_int_equal(att_sim_snp_leaf(p->sim, ATT_SNP_KEY_VCEK, 0, tcb, &p->vcek, &d), ATT_OK);
    p->trust = att_trust_new_empty();
    att_slice_t ark = att_sim_snp_cert_der(p->sim, ATT_SIM_SNP_ARK);
    assert_int_equal(att_trust_add_root(p->trust, ark.ptr, ark.len, &d), ATT_OK);
}

static void pki_free(pki_t *p)
{
    free(p->chain.ptr);
    att_trust_free(p->trust);
    att_sim_snp_free(p->sim);
}

/* A v3 report of chip 0 with every TCB `tcb`, signed by chip 0's VCEK of TCB `key_tcb`. */
static void report_make(pki_t *p, uint64_t tcb, uint64_t key_tcb, uint8_t r[ATT_SNP_REPORT_LEN])
{
    att_sim_snp_report_opts_t o;
    att_sim_snp_report_opts_default(p->sim, &o, 0, 3);
    o.reported_tcb = o.committed_tcb = o.current_tcb = o.launch_tcb = tcb;
    o.other_key_tcb = true;
    o.key_tcb = key_tcb;
    memset(o.report_data, 0xAB, 64);
    att_diag_t d;
    if (att_sim_snp_report(p->sim, &o, r, &d) != ATT_OK)
        fail_msg("att_sim_snp_report: %s", d.msg);
}

/* A KDS CRL signed by `signer`'s key, issued by `issuer_cn` (NULL: the ARK), listing `revoked`
 * (NULL: nothing), valid from tu to nu. */
static size_t crl_make(const pki_t *p, att_sim_snp_cert_t signer, const char *issuer_cn,
                       const att_sim_serial_t *revoked, att_time_t tu, att_time_t nu, uint8_t *out,
                       size_t cap)
{
    att_sim_snp_crl_opts_t o;
    att_sim_snp_crl_opts_default(&o, T0);
    o.signer = signer;
    o.issuer_cn = issuer_cn;
    o.revoked = revoked;
    o.n_revoked = revoked ? 1 : 0;
    o.this_update = tu;
    o.next_update = nu;
    uint8_t *der;
    size_t len;
    att_diag_t d;
    if (att_sim_snp_crl_make(p->sim, &o, &der, &len, &d) != ATT_OK)
        fail_msg("att_sim_snp_crl_make: %s", d.msg);
    assert_true(len <= cap);
    memcpy(out, der, len);
    free(der);
    return len;
}

#define TCB_MILAN 0xD908000000000003ull /* bl 3, snp 8, ucode 217 */

static att_err_t run(const pki_t *p, const uint8_t *rep, const uint8_t *crl, size_t crl_len,
                     const att_trust_t *trust, att_time_t now, att_snp_result_t *res)
{
    att_snp_input_t in = {.report = rep,
                          .report_len = ATT_SNP_REPORT_LEN,
                          .vcek = p->vcek.ptr,
                          .vcek_len = p->vcek.len,
                          .chain = p->chain.ptr,
                          .chain_len = p->chain.len,
                          .crl = crl,
                          .crl_len = crl_len,
                          .trust = trust,
                          .now = now};
    return att_snp_verify(&in, NULL, res);
}

static void expect(att_err_t got, att_err_t want, const att_snp_result_t *res, const char *needle)
{
    if (got != want)
        fail_msg("got %s (%s), want %s", att_err_name(got), res->diag.msg, att_err_name(want));
    if (needle && strstr(res->diag.msg, needle) == NULL)
        fail_msg("message '%s' does not say '%s'", res->diag.msg, needle);
}

static void test_test_root_needed(void **state)
{
    pki_t p;
    uint8_t rep[ATT_SNP_REPORT_LEN];
    pki_make(&p, ATT_SNP_MILAN, TCB_MILAN);
    report_make(&p, TCB_MILAN, TCB_MILAN, rep);
    att_snp_result_t res;
    expect(run(&p, rep, NULL, 0, p.trust, T0, &res), ATT_OK, &res, NULL);
    assert_false(res.amd_root);
    assert_int_equal(res.reported_tcb.microcode, 217);
    /* without the caller's root the chain ends at an untrusted root */
    expect(run(&p, rep, NULL, 0, NULL, T0, &res), ATT_E_CERT_UNTRUSTED_ROOT, &res,
           "neither AMD's pinned ARK-Milan");
    pki_free(&p);
}

static void test_crl(void **state)
{
    pki_t p;
    uint8_t rep[ATT_SNP_REPORT_LEN], crl[8192];
    pki_make(&p, ATT_SNP_MILAN, TCB_MILAN);
    report_make(&p, TCB_MILAN, TCB_MILAN, rep);
    att_snp_result_t res;
    const att_sim_serial_t other = {{0x99, 0x99}, 2};
    att_sim_serial_t ask = att_sim_snp_serial(p.sim, ATT_SIM_SNP_ASK);
    /* a CRL of the ARK listing another serial: accepted */
    size_t n = crl_make(&p, ATT_SIM_SNP_ARK, NULL, &other, T0 - 86400, T0 + 86400, crl, sizeof crl);
    expect(run(&p, rep, crl, n, p.trust, T0, &res), ATT_OK, &res, NULL);
    /* listing the ASK's serial: revoked */
    n = crl_make(&p, ATT_SIM_SNP_ARK, NULL, &ask, T0 - 86400, T0 + 86400, crl, sizeof crl);
    expect(run(&p, rep, crl, n, p.trust, T0, &res), ATT_E_CERT_REVOKED, &res, "SEV-Milan (serial ");
    assert_non_null(strstr(res.diag.msg, "is revoked by the KDS CRL of ARK-Milan"));
    /* signed by another key (the ASK's) */
    n = crl_make(&p, ATT_SIM_SNP_ASK, NULL, NULL, T0 - 86400, T0 + 86400, crl, sizeof crl);
    expect(run(&p, rep, crl, n, p.trust, T0, &res), ATT_E_CRL_SIGNATURE, &res, NULL);
    /* issued by another name */
    n = crl_make(&p, ATT_SIM_SNP_ARK, "ARK-Genoa", NULL, T0 - 86400, T0 + 86400, crl, sizeof crl);
    expect(run(&p, rep, crl, n, p.trust, T0, &res), ATT_E_CRL_ISSUER, &res, "not by ARK-Milan");
    /* outside its dates */
    n = crl_make(&p, ATT_SIM_SNP_ARK, NULL, NULL, T0 - 86400, T0 + 86400, crl, sizeof crl);
    expect(run(&p, rep, crl, n, p.trust, T0 + 2 * 86400, &res), ATT_E_CRL_EXPIRED, &res, NULL);
    n = crl_make(&p, ATT_SIM_SNP_ARK, NULL, NULL, T0 + 3600, T0 + 86400, crl, sizeof crl);
    expect(run(&p, rep, crl, n, p.trust, T0, &res), ATT_E_CRL_NOT_YET_VALID, &res, NULL);
    /* not a CRL */
    expect(run(&p, rep, (const uint8_t *)"garbage", 7, p.trust, T0, &res), ATT_E_CRL_PARSE, &res,
           NULL);
    pki_free(&p);
}

/* Turin: fmc in byte 0 of the TCB, the rest shifted; an 8-byte hwID. */
static void test_turin_layout(void **state)
{
    pki_t p;
    uint8_t rep[ATT_SNP_REPORT_LEN];
    /* Turin TCB bytes: [0]=fmc [1]=bl [2]=tee [3]=snp [7]=ucode */
    uint64_t tcb = 7ull | 4ull << 8 | 1ull << 16 | 22ull << 24 | 0x55ull << 56;
    assert_true(tcb == att_sim_snp_tcb(ATT_SNP_TURIN, 4, 1, 22, 0x55, 7));
    pki_make(&p, ATT_SNP_TURIN, tcb);
    const uint8_t *chip = att_sim_snp_chip_id(p.sim, 0);
    for (int i = 8; i < 64; i++)
        assert_int_equal(chip[i], 0); /* Turin's chip_id: 8 bytes */
    report_make(&p, tcb, tcb, rep);
    att_snp_result_t res;
    expect(run(&p, rep, NULL, 0, p.trust, T0, &res), ATT_OK, &res, NULL);
    assert_int_equal(res.product, ATT_SNP_TURIN);
    assert_int_equal(res.reported_tcb.fmc, 7);
    assert_int_equal(res.reported_tcb.bootloader, 4);
    assert_int_equal(res.reported_tcb.tee, 1);
    assert_int_equal(res.reported_tcb.snp, 22);
    assert_int_equal(res.reported_tcb.microcode, 0x55);
    /* the fmc SPL differs: another TCB (signed by the VCEK of `tcb`) */
    report_make(&p, tcb + 1, tcb, rep);
    expect(run(&p, rep, NULL, 0, p.trust, T0, &res), ATT_E_SNP_CERT_MISMATCH, &res, "fmcSPL is 7");
    /* Milan's layout would read byte 4 as reserved: on Turin byte 4 is reserved too */
    report_make(&p, tcb | 1ull << 32, tcb, rep);
    expect(run(&p, rep, NULL, 0, p.trust, T0, &res), ATT_E_EVIDENCE_FORMAT, &res,
           "reserved bytes set (Turin layout)");
    pki_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_test_root_needed),
        cmocka_unit_test(test_crl),
        cmocka_unit_test(test_turin_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
