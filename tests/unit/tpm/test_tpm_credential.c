/* test_tpm_credential.c - att_tpm_make_credential.
 *
 * With a real software TPM (swtpm-ek.sh beside this file starts it in a temporary directory):
 * for the RSA-2048 EK and the ECC P-384 EK (SHA-384, AES-256-CFB), given as TPM2B_PUBLIC and as
 * the SubjectPublicKeyInfo of its EK certificate, the TPM's ActivateCredential gives back the
 * secret; a blob made for another AK name, or for the other EK, is refused by the TPM. Skipped
 * with one line only when swtpm cannot start.
 * With the shared vectors (tpm/swtpm-rsa: ek.tpm2b_public, ek.pem, ak.name), deterministic: the
 * structure sizes (TPM2B_ID_OBJECT 2 + 34 + 34, TPM2B_ENCRYPTED_SECRET 2 + 256), both parse with
 * libtss2-mu to the end, fresh randomness per call, and the refusals (an AK as the EK, a bad
 * name, a secret longer than the EK's digest).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "tpm_test.h"

static char g_dir[256];
static bool g_tpm; /* the swtpm is running */

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* tpm2_makecredential's file: magic, version, the two TPM2B structures. */
static void write_cred(const char *path, const uint8_t *blob, size_t bl, const uint8_t *enc,
                       size_t el)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    static const uint8_t hdr[8] = {0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1};
    assert_int_equal(fwrite(hdr, 1, 8, f), 8);
    assert_int_equal(fwrite(blob, 1, bl, f), bl);
    assert_int_equal(fwrite(enc, 1, el, f), el);
    assert_int_equal(fclose(f), 0);
}

/* Make a credential of secret for (ek, name) and have the TPM activate it with EK kind;
 * true when the TPM gave the secret back (and it is the same). */
static bool activate(const buf_t *ek, const uint8_t *name, size_t nlen, const char *kind,
                     const uint8_t *secret, size_t slen)
{
    uint8_t *blob, *enc;
    size_t bl, el;
    att_diag_t d;
    att_err_t e =
        att_tpm_make_credential(ek->p, ek->n, name, nlen, secret, slen, &blob, &bl, &enc, &el, &d);
    if (e != ATT_OK)
        fail_msg("make_credential: %s", d.msg);
    char cred[300], out[300];
    snprintf(cred, sizeof cred, "%s/cred.bin", g_dir);
    snprintf(out, sizeof out, "%s/secret.out", g_dir);
    write_cred(cred, blob, bl, enc, el);
    free(blob);
    free(enc);
    int rc = sh("sh '%s/swtpm-ek.sh' '%s' activate %s '%s' '%s' 2>/dev/null", ATT_TEST_DATA, g_dir,
                kind, cred, out);
    if (rc != 0)
        return false;
    buf_t got = tpm_rd(g_dir, "secret.out");
    bool same = got.n == slen && memcmp(got.p, secret, slen) == 0;
    free(got.p);
    assert_true(same); /* an activation that succeeds gives exactly the secret */
    return true;
}

/* The SubjectPublicKeyInfo (DER) of an EK certificate file. */
static buf_t cert_spki(const char *rel)
{
    buf_t c = tpm_rd(g_dir, rel), out = {0};
    const unsigned char *p = c.p;
    X509 *x = d2i_X509(NULL, &p, (long)c.n);
    assert_non_null(x);
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(X509_get0_pubkey(x), &der);
    assert_true(n > 0);
    out.p = malloc((size_t)n);
    memcpy(out.p, der, (size_t)n);
    out.n = (size_t)n;
    OPENSSL_free(der);
    X509_free(x);
    free(c.p);
    return out;
}

static void test_swtpm_round_trip(void **state)
{
    (void)state;
    if (!g_tpm) {
        printf("SKIP " ATT_TEST_NAME " round trip: swtpm cannot start here\n");
        return;
    }
    buf_t name = tpm_rd(g_dir, "ak.name");
    buf_t ek_rsa = tpm_rd(g_dir, "ek_rsa.tpm2b_public"),
          ek_ecc = tpm_rd(g_dir, "ek_ecc.tpm2b_public");
    buf_t spki_rsa = cert_spki("ek_rsa_cert.der"), spki_ecc = cert_spki("ek_ecc_cert.der");
    uint8_t s32[32], s48[48];
    for (size_t i = 0; i < sizeof s48; i++)
        s48[i] = (uint8_t)(0xa5 ^ i);
    memcpy(s32, s48, 32);
    /* RSA-2048 EK (SHA-256, AES-128-CFB): the TPM gives the secret back. */
    assert_true(activate(&ek_rsa, name.p, name.n, "rsa", s32, 32));
    assert_true(activate(&ek_rsa, name.p, name.n, "rsa", s32, 1));
    assert_true(activate(&spki_rsa, name.p, name.n, "rsa", s32, 32));
    /* ECC P-384 EK (SHA-384, AES-256-CFB): ECDH + KDFe; a 48-byte secret fits its nameAlg. */
    assert_true(activate(&ek_ecc, name.p, name.n, "ecc", s48, 48));
    assert_true(activate(&spki_ecc, name.p, name.n, "ecc", s32, 32));
    /* Another AK name: the TPM's integrity check refuses the blob. */
    name.p[5] ^= 1;
    assert_false(activate(&ek_rsa, name.p, name.n, "rsa", s32, 32));
    assert_false(activate(&ek_ecc, name.p, name.n, "ecc", s32, 32));
    name.p[5] ^= 1;
    /* Made for the other EK: the TPM cannot recover the seed. */
    assert_false(activate(&ek_ecc, name.p, name.n, "rsa", s32, 32));
    assert_false(activate(&ek_rsa, name.p, name.n, "ecc", s32, 32));
    /* And the right one still works after those refusals. */
    assert_true(activate(&ek_rsa, name.p, name.n, "rsa", s32, 32));
    free(name.p);
    free(ek_rsa.p);
    free(ek_ecc.p);
    free(spki_rsa.p);
    free(spki_ecc.p);
}

static void test_vectors(void **state)
{
    (void)state;
    const char *v = ATT_TEST_VECTORS_TPM;
    if (v[0] == '\0') {
        printf("SKIP " ATT_TEST_NAME " vectors: no TPM vector sets (ATTESTD_VECTORS)\n");
        return;
    }
    char root[1024];
    snprintf(root, sizeof root, "%s/swtpm-rsa", v);
    buf_t ek = tpm_rd(root, "ek.tpm2b_public"), pem = tpm_rd(root, "ek.pem"),
          name = tpm_rd(root, "ak.name"), ak = tpm_rd(root, "ak.tpm2b_public");
    uint8_t secret[32] = {1, 2, 3};
    uint8_t *blob[2], *enc[2];
    size_t bl[2], el[2];
    att_diag_t d;
    for (int i = 0; i < 2; i++) {
        const buf_t *k = i == 0 ? &ek : &pem;
        assert_int_equal(att_tpm_make_credential(k->p, k->n, name.p, name.n, secret, 32, &blob[i],
                                                 &bl[i], &enc[i], &el[i], &d),
                         ATT_OK);
        /* TPM2B_ID_OBJECT: size, TPM2B_DIGEST(HMAC-SHA256), AES-CFB(TPM2B_DIGEST(secret)) */
        assert_int_equal(bl[i], 2 + 2 + 32 + 2 + 32);
        assert_int_equal(blob[i][0] << 8 | blob[i][1], bl[i] - 2);
        assert_int_equal(blob[i][2] << 8 | blob[i][3], 32);
        /* TPM2B_ENCRYPTED_SECRET: RSA-2048 OAEP */
        assert_int_equal(el[i], 2 + 256);
        TPM2B_ID_OBJECT id;
        TPM2B_ENCRYPTED_SECRET es;
        size_t off = 0;
        assert_int_equal(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(blob[i], bl[i], &off, &id), 0);
        assert_int_equal(off, bl[i]);
        off = 0;
        assert_int_equal(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(enc[i], el[i], &off, &es), 0);
        assert_int_equal(off, el[i]);
    }
    /* fresh seed each call */
    assert_memory_not_equal(blob[0], blob[1], bl[0]);
    assert_memory_not_equal(enc[0], enc[1], el[0]);
    for (int i = 0; i < 2; i++) {
        free(blob[i]);
        free(enc[i]);
    }
    uint8_t *b, *s;
    size_t blen, slen;
    /* the AK (a restricted signing key) is no EK */
    assert_int_equal(
        att_tpm_make_credential(ak.p, ak.n, name.p, name.n, secret, 32, &b, &blen, &s, &slen, &d),
        ATT_E_TPM_EK);
    assert_non_null(strstr(d.msg, "restricted decryption key"));
    assert_null(b);
    /* a name whose length is not its algorithm's */
    assert_int_equal(att_tpm_make_credential(ek.p, ek.n, name.p, name.n - 1, secret, 32, &b, &blen,
                                             &s, &slen, &d),
                     ATT_E_ARG);
    /* a secret longer than the EK's nameAlg digest (SHA-256) */
    uint8_t big[33] = {0};
    assert_int_equal(
        att_tpm_make_credential(ek.p, ek.n, name.p, name.n, big, 33, &b, &blen, &s, &slen, &d),
        ATT_E_ARG);
    assert_non_null(strstr(d.msg, "1 to 32 bytes"));
    /* an EK cut short */
    assert_int_equal(att_tpm_make_credential(ek.p, ek.n - 1, name.p, name.n, secret, 32, &b, &blen,
                                             &s, &slen, &d),
                     ATT_E_EVIDENCE_FORMAT);
    free(ek.p);
    free(pem.p);
    free(name.p);
    free(ak.p);
}

int main(void)
{
    setenv("TSS2_LOG", "all+NONE", 1);
    snprintf(g_dir, sizeof g_dir, "/tmp/att-swtpm-ek-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return 1;
    int rc = sh("sh '%s/swtpm-ek.sh' '%s' start >'%s/run.log' 2>&1", ATT_TEST_DATA, g_dir, g_dir);
    if (rc == 77) {
        printf("SKIP " ATT_TEST_NAME ": swtpm cannot start here: ");
        fflush(stdout);
        if (sh("cat '%s/run.log'", g_dir) != 0)
            printf("\n");
    } else if (rc != 0) {
        sh("cat '%s/run.log'; sh '%s/swtpm-ek.sh' '%s' stop; rm -rf '%s'", g_dir, ATT_TEST_DATA,
           g_dir, g_dir);
        return 1;
    } else {
        g_tpm = true;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_swtpm_round_trip),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    if (g_tpm)
        sh("sh '%s/swtpm-ek.sh' '%s' stop", ATT_TEST_DATA, g_dir);
    sh("rm -rf '%s'", g_dir);
    return r;
}
