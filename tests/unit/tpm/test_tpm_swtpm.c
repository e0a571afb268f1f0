/* test_tpm_swtpm.c - a real software TPM: tests/tools/swtpm-quotes.sh starts swtpm in a
 * temporary directory (EK certificates from a local CA made there, sha1 + sha256 banks), extends
 * the PCRs as a TCG event log and an IMA log describe them, makes RSA and ECC AKs under the EK
 * and quotes with them; the library verifies every quote (TPMT and bare signatures, AK as
 * TPM2B_PUBLIC and PEM, two banks in one selection, all 24 sha256 PCRs) and replays both logs,
 * with the claims they carry; and refuses a log that does not replay (naming the PCR), a wrong
 * nonce, a swapped r/s, the other AK, a quote from the other AK. Skipped with one line only
 * when swtpm cannot start here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tpm_test.h"

static char g_dir[256];

static buf_t rd(const char *rel)
{
    return tpm_rd(g_dir, rel);
}

static ev_t load(const char *kind, const char *ak, const char *quote, const char *sig,
                 const char *pcrs)
{
    char p[5][64];
    snprintf(p[0], 64, "%s/%s", kind, ak);
    snprintf(p[1], 64, "%s/%s", kind, quote);
    snprintf(p[2], 64, "%s/%s", kind, sig);
    snprintf(p[3], 64, "%s/%s", kind, pcrs);
    snprintf(p[4], 64, "%s/nonce.hex", kind);
    ev_t e = {rd(p[0]), rd(p[1]), rd(p[2]), rd(p[3]), rd(p[4]), {0}, {0}};
    size_t hl = 64;
    assert_true(e.nonce.n >= hl);
    assert_true(att_hex_decode((const char *)e.nonce.p, hl, e.nonce.p, 32));
    e.nonce.n = 32;
    return e;
}

static const char *kinds[] = {"rsa", "ecc"};

static void test_quotes(void **state)
{
    for (int k = 0; k < 2; k++) {
        const char *aks[] = {"ak.tpm2b_public", "ak.pub.pem"};
        for (int a = 0; a < 2; a++) {
            ev_t e = load(kinds[k], aks[a], "quote.msg", "quote.sig", "pcrs.values");
            att_tpm_result_t res;
            assert_int_equal(verify(&e, &res), ATT_OK);
            assert_int_equal(res.sig_alg, k == 0 ? ATT_TPM_ALG_RSASSA : ATT_TPM_ALG_ECDSA);
            assert_int_equal(res.attest.nsel, 2);
            assert_int_equal(res.attest.sel[0].alg, ATT_TPM_ALG_SHA1);
            assert_int_equal(res.attest.sel[1].alg, ATT_TPM_ALG_SHA256);
            assert_int_equal(res.attest.sel[1].mask,
                             (1u << 0) | (1u << 4) | (1u << 7) | (1u << 10) | (1u << 16));
            assert_string_equal(res.ak.desc, k == 0 ? "RSA-2048" : "EC P-256");
            if (a == 0) {
                buf_t name = rd(k == 0 ? "rsa/ak.name" : "ecc/ak.name");
                assert_memory_equal(res.ak.name, name.p, name.n);
                free(name.p);
            }
            att_tpm_result_free(&res);
            ev_free(&e);
        }
        /* The bare signature (tpm2_quote -f plain: raw RSA, DER ECDSA). */
        ev_t e = load(kinds[k], "ak.pub.pem", "quote.plain.msg", "quote.plain.sig", "pcrs.values");
        att_tpm_result_t res;
        assert_int_equal(verify(&e, &res), ATT_OK);
        assert_true(res.sig_bare);
        att_tpm_result_free(&res);
        ev_free(&e);
        /* All 24 sha256 PCRs. */
        e = load(kinds[k], "ak.tpm2b_public", "quote256.msg", "quote256.sig",
                 "quote256.pcrs.values");
        assert_int_equal(verify(&e, &res), ATT_OK);
        assert_int_equal(res.attest.sel[0].mask, 0xffffff);
        att_tpm_result_free(&res);
        ev_free(&e);
    }
}

static void test_logs(void **state)
{
    buf_t ex = rd("expect.json");
    json_t *want = json_loadb((const char *)ex.p, ex.n, 0, NULL);
    assert_non_null(want);
    const char *imas[] = {"ima.ascii", "ima.bin"};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 2; i++) {
            ev_t e = load(kinds[k], "ak.tpm2b_public", "quote.msg", "quote.sig", "pcrs.values");
            e.log = rd("eventlog.bin");
            e.ima = rd(imas[i]);
            att_tpm_result_t res;
            assert_int_equal(verify(&e, &res), ATT_OK);
            assert_true(res.replayed);
            assert_int_equal(res.secure_boot, 1);
            assert_int_equal(res.events.ntcg,
                             json_integer_value(json_object_get(want, "tcg_events")));
            assert_int_equal(res.events.nima,
                             json_integer_value(json_object_get(want, "ima_events")));
            assert_int_equal(res.nboot_apps, 2);
            char h[65];
            const att_tpm_event_t *bm = &res.events.v[res.boot_manager];
            const att_tpm_event_t *kn = &res.events.v[res.kernel];
            assert_int_equal(bm->digests[1].alg, ATT_TPM_ALG_SHA256);
            att_hex_encode(bm->digests[1].d, 32, h);
            assert_string_equal(h, json_string_value(json_object_get(want, "boot_manager")));
            att_hex_encode(kn->digests[1].d, 32, h);
            assert_string_equal(h, json_string_value(json_object_get(want, "kernel")));
            /* Every extending event is on a quoted PCR: all verified; the IMA ones have paths. */
            for (size_t j = 0; j < res.events.n; j++) {
                const att_tpm_event_t *v = &res.events.v[j];
                assert_int_equal(v->verified, v->extends);
                if (v->log == ATT_TPM_LOG_IMA)
                    assert_non_null(v->ima_path);
            }
            assert_string_equal(res.events.v[res.events.n - 3].ima_path, "/usr/bin/kmod");
            assert_string_equal(res.events.v[res.events.n - 2].ima_path, "/etc/hosts file");
            uint8_t kernel_digest[32]; /* kept: res (and kn) is freed below */
            memcpy(kernel_digest, kn->digests[1].d, 32);
            att_tpm_result_free(&res);

            /* Without the IMA log, PCR 10 is not replayed: the TCG log alone is accepted. */
            buf_t ima = e.ima;
            e.ima = (buf_t){0};
            expect(&e, ATT_OK, NULL);
            /* IMA without its last entry: PCR 10 does not replay. */
            e.ima = ima;
            if (i == 0) {
                size_t n = e.ima.n - 1;
                while (n > 0 && e.ima.p[n - 1] != '\n')
                    n--;
                e.ima.n = n;
                expect(&e, ATT_E_TPM_EVENTLOG_REPLAY, "PCR 10 (sha1) does not replay: quoted ");
                e.ima.n = ima.n;
            }
            /* A changed digest of the kernel event: PCR 4, sha1 bank first (selection order). */
            size_t off = 0;
            for (size_t j = 0; j + 32 <= e.log.n; j++)
                if (!memcmp(e.log.p + j, kernel_digest, 32))
                    off = j;
            assert_int_not_equal(off, 0);
            e.log.p[off] ^= 1;
            expect(&e, ATT_E_TPM_EVENTLOG_REPLAY, "PCR 4 (sha256) does not replay");
            e.log.p[off] ^= 1;
            /* A log truncated in its last event. */
            e.log.n -= 2;
            expect(&e, ATT_E_EVIDENCE_FORMAT, "TCG event log: event 8");
            e.log.n += 2;
            /* A budget of 5 events. */
            att_tpm_limits_t lim = {.max_events = 5};
            att_tpm_input_t in = {.ak = e.ak.p,
                                  .ak_len = e.ak.n,
                                  .quote = e.quote.p,
                                  .quote_len = e.quote.n,
                                  .sig = e.sig.p,
                                  .sig_len = e.sig.n,
                                  .pcrs = e.pcrs.p,
                                  .pcrs_len = e.pcrs.n,
                                  .nonce = e.nonce.p,
                                  .nonce_len = e.nonce.n,
                                  .eventlog = e.log.p,
                                  .eventlog_len = e.log.n,
                                  .limits = &lim};
            assert_int_equal(att_tpm_verify(&in, &res), ATT_E_LIMIT);
            assert_non_null(strstr(res.diag.msg, "more than 5 events"));
            att_tpm_result_free(&res);
            ev_free(&e);
        }
    json_decref(want);
    free(ex.p);
}

static void test_negatives(void **state)
{
    ev_t e = load("ecc", "ak.tpm2b_public", "quote.msg", "quote.sig", "pcrs.values");
    e.nonce.p[31] ^= 0xff;
    expect(&e, ATT_E_TPM_NONCE, NULL);
    e.nonce.p[31] ^= 0xff;
    /* Swapped r and s in the TPMT_SIGNATURE: sigAlg, hash, then TPM2B r and TPM2B s. */
    size_t rl = (size_t)(e.sig.p[4] << 8 | e.sig.p[5]);
    size_t sl = (size_t)(e.sig.p[6 + rl] << 8 | e.sig.p[7 + rl]);
    assert_int_equal(e.sig.n, 8 + rl + sl);
    uint8_t *sw = malloc(e.sig.n);
    memcpy(sw, e.sig.p, 4);
    memcpy(sw + 4, e.sig.p + 6 + rl, 2 + sl);
    memcpy(sw + 6 + sl, e.sig.p + 4, 2 + rl);
    memcpy(e.sig.p, sw, e.sig.n);
    free(sw);
    expect(&e, ATT_E_TPM_SIGNATURE, "ecdsa/sha256 signature over the TPMS_ATTEST");
    ev_free(&e);
    /* The RSA AK for the ECC quote; the ECC AK for the RSA quote. */
    e = load("ecc", "ak.tpm2b_public", "quote.msg", "quote.sig", "pcrs.values");
    free(e.ak.p);
    e.ak = rd("rsa/ak.tpm2b_public");
    expect(&e, ATT_E_TPM_AK, "the signature is ecdsa but the AK is RSA-2048");
    ev_free(&e);
    e = load("rsa", "ak.pub.pem", "quote.msg", "quote.sig", "pcrs.values");
    free(e.ak.p);
    e.ak = rd("ecc/ak.pub.pem");
    expect(&e, ATT_E_TPM_AK, "the signature is rsassa but the AK is EC P-256");
    ev_free(&e);
    /* Another quote's PCR values (all 24) for this quote. */
    e = load("rsa", "ak.pub.pem", "quote.msg", "quote.sig", "quote256.pcrs.values");
    expect(&e, ATT_E_EVIDENCE_FORMAT, "the quote selects 10 PCRs in 2 bank(s)");
    ev_free(&e);
}

static int setup(void **state)
{
    char cmd[1024];
    snprintf(g_dir, sizeof(g_dir), "/tmp/att-swtpm-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    snprintf(cmd, sizeof(cmd), "sh '%s/swtpm-quotes.sh' '%s' >'%s/run.log' 2>&1", ATT_TEST_TOOLS,
             g_dir, g_dir);
    int rc = system(cmd);
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
        snprintf(cmd, sizeof(cmd), "cat '%s/run.log'", g_dir);
        printf("SKIP " ATT_TEST_NAME ": swtpm cannot start here: ");
        fflush(stdout);
        if (system(cmd) != 0)
            printf("\n");
        return 77;
    }
    if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        snprintf(cmd, sizeof(cmd), "cat '%s/run.log'", g_dir);
        if (system(cmd) != 0)
            return -1;
        return -1;
    }
    return 0;
}

static void cleanup(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    if (g_dir[0] && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", g_dir);
}

int main(void)
{
    setenv("TSS2_LOG", "all+NONE", 1);
    int s = setup(NULL);
    if (s == 77) {
        cleanup();
        return 0;
    }
    if (s != 0) {
        fprintf(stderr, "swtpm-quotes.sh failed (above)\n");
        cleanup();
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quotes),
        cmocka_unit_test(test_logs),
        cmocka_unit_test(test_negatives),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    cleanup();
    return r;
}
