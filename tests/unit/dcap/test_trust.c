/* test_trust.c - att_trust_add_root accepts only what a chain root must be: a self-signed
 * P-256 certificate that is a CA (basicConstraints CA:TRUE), the same rule att_check_root applies
 * to the root of every chain at verification time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/dcap.h"

/* DER of a self-signed certificate with `curve`'s key; `bc` is the basicConstraints value
 * ("critical,CA:TRUE", "CA:FALSE") or NULL for none. Caller frees. */
static uint8_t *self_signed(const char *curve, const char *bc, size_t *len)
{
    EVP_PKEY *k = EVP_EC_gen(curve);
    X509 *x = X509_new();
    assert_non_null(k);
    assert_non_null(x);
    assert_true(X509_set_version(x, X509_VERSION_3));
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"Test Root", -1, -1,
                               0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    if (bc != NULL) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, bc);
        assert_non_null(ext);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    uint8_t *der = NULL;
    int n_der = i2d_X509(x, &der);
    assert_true(n_der > 0);
    *len = (size_t)n_der;
    X509_free(x);
    EVP_PKEY_free(k);
    return der;
}

static att_err_t add(const char *curve, const char *bc, att_diag_t *d)
{
    size_t len;
    uint8_t *der = self_signed(curve, bc, &len);
    att_trust_t *t = att_trust_new();
    att_err_t e = att_trust_add_root(t, der, len, d);
    att_trust_free(t);
    OPENSSL_free(der);
    return e;
}

static void test_ca_root_accepted(void **state)
{
    att_diag_t d;
    assert_int_equal(add("P-256", "critical,CA:TRUE", &d), ATT_OK);
}

static void test_non_ca_refused(void **state)
{
    att_diag_t d;
    assert_int_equal(add("P-256", "CA:FALSE", &d), ATT_E_CERT_SIGNATURE);
    assert_non_null(strstr(d.msg, "not a self-signed CA"));
    assert_int_equal(add("P-256", NULL, &d), ATT_E_CERT_SIGNATURE);
}

static void test_other_curve_refused(void **state)
{
    att_diag_t d;
    assert_int_equal(add("P-384", "critical,CA:TRUE", &d), ATT_E_CERT_KEY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ca_root_accepted),
        cmocka_unit_test(test_non_ca_refused),
        cmocka_unit_test(test_other_curve_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
