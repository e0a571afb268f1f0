/* test_crl.c - att_crl_parse, the one CRL parser (issue 11, item 6): DER or PEM as before, and
 * no byte after the CRL, whether the DER stands alone or sits inside a PEM block; the same
 * refusals through att_dcap_collateral_new (the library's collateral path). The collateral
 * source's path (attestd) is tested in tests/unit/attestd/test_collsrc.c (test_crl_trailing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "attest/dcap.h"
#include "attest/sim.h"
#include "crypto/crypto.h"

#define NOW ((att_time_t)1751328000) /* 2025-07-01T00:00:00Z */

static att_sim_pki_t *pki;
static uint8_t *der;
static size_t der_len;

static int setup(void **state)
{
    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, NOW);
    att_diag_t d;
    if (att_sim_pki_new(&po, &pki, &d) != ATT_OK)
        return -1;
    att_sim_crl_opts_t co;
    att_sim_crl_opts_default(&co, ATT_SIM_PCK_CA, NOW);
    return att_sim_crl_make(pki, &co, &der, &der_len, &d) == ATT_OK ? 0 : -1;
}

static int teardown(void **state)
{
    free(der);
    att_sim_pki_free(pki);
    return 0;
}

typedef struct {
    uint8_t *p;
    size_t len;
} buf_t;

/* der_len bytes of the CRL then `extra` (n bytes). */
static buf_t der_plus(const void *extra, size_t n)
{
    buf_t b = {malloc(der_len + n + 1), der_len + n};
    assert_non_null(b.p);
    memcpy(b.p, der, der_len);
    memcpy(b.p + der_len, extra, n);
    return b;
}

/* PEM "X509 CRL" of bytes[0..n), with `before` and `after` text around the block. */
static buf_t pem_of(const uint8_t *bytes, size_t n, const char *before, const char *after)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    BIO_puts(bio, before);
    assert_true(PEM_write_bio(bio, PEM_STRING_X509_CRL, "", bytes, (long)n) > 0);
    BIO_puts(bio, after);
    char *p;
    long len = BIO_get_mem_data(bio, &p);
    buf_t b = {malloc((size_t)len + 1), (size_t)len};
    assert_non_null(b.p);
    memcpy(b.p, p, (size_t)len);
    b.p[len] = 0; /* usable as text too */
    BIO_free(bio);
    return b;
}

/* Parse b; the code and message, or ATT_OK. */
static att_err_t parse(buf_t b, att_diag_t *d)
{
    memset(d, 0, sizeof(*d));
    X509_CRL *c = att_crl_parse(b.p, b.len, "test CRL", d);
    free(b.p);
    if (c == NULL) {
        assert_int_equal(d->code, ATT_E_CRL_PARSE);
        return d->code;
    }
    X509_CRL_free(c);
    return ATT_OK;
}

static void test_der(void **state)
{
    att_diag_t d;
    assert_int_equal(parse(der_plus("", 0), &d), ATT_OK);
    assert_int_equal(parse(der_plus("\x05\x00", 2), &d), ATT_E_CRL_PARSE);
    assert_non_null(strstr(d.msg, "test CRL has 2 bytes after the DER CRL"));
    assert_int_equal(parse(der_plus("\0", 1), &d), ATT_E_CRL_PARSE); /* even a NUL */
    assert_int_equal(parse(der_plus("\n", 1), &d), ATT_E_CRL_PARSE);
    buf_t cut = der_plus("", 0);
    cut.len--;
    assert_int_equal(parse(cut, &d), ATT_E_CRL_PARSE);
    assert_non_null(strstr(d.msg, "not a DER or PEM CRL"));
    buf_t empty = {malloc(1), 0};
    assert_int_equal(parse(empty, &d), ATT_E_CRL_PARSE);
}

static void test_pem(void **state)
{
    att_diag_t d;
    assert_int_equal(parse(pem_of(der, der_len, "", ""), &d), ATT_OK);
    assert_int_equal(parse(pem_of(der, der_len, "\n \n", "\r\n\n\t \n"), &d), ATT_OK);
    buf_t nul = pem_of(der, der_len, "", "");
    nul.p[nul.len++] = 0; /* a NUL-terminated PEM text, as some loaders keep it */
    assert_int_equal(parse(nul, &d), ATT_OK);

    /* The DER inside the block has trailing bytes: OpenSSL's PEM reader takes that (it did not
     * fail before this parser), att_crl_parse does not. */
    buf_t inner = der_plus("\x05\x00", 2);
    assert_int_equal(parse(pem_of(inner.p, inner.len, "", ""), &d), ATT_E_CRL_PARSE);
    assert_non_null(strstr(d.msg, "2 bytes after the DER CRL inside its PEM block"));
    free(inner.p);
    /* Text after the block, a second block, a block of another type first. */
    assert_int_equal(parse(pem_of(der, der_len, "", "trailing text\n"), &d), ATT_E_CRL_PARSE);
    assert_non_null(strstr(d.msg, "after its PEM block"));
    buf_t two = pem_of(der, der_len, "", "");
    buf_t second = pem_of(der, der_len, (const char *)two.p, "");
    free(two.p);
    assert_int_equal(parse(second, &d), ATT_E_CRL_PARSE);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_true(PEM_write_bio(bio, "CERTIFICATE", "", der, (long)der_len) > 0);
    char *cert_pem;
    long cl = BIO_get_mem_data(bio, &cert_pem);
    char *prefix = strndup(cert_pem, (size_t)cl);
    BIO_free(bio);
    assert_int_equal(parse(pem_of(der, der_len, prefix, ""), &d), ATT_E_CRL_PARSE);
    assert_non_null(strstr(d.msg, "not one \"X509 CRL\" block"));
    free(prefix);
    /* Broken base64. */
    buf_t bad = {(uint8_t *)strdup("-----BEGIN X509 CRL-----\nAAAA\n"), 30};
    assert_int_equal(parse(bad, &d), ATT_E_CRL_PARSE);
}

/* The library's collateral path: a PCK CRL (DER, or PEM around a DER) and a root CA CRL with
 * trailing bytes make att_dcap_collateral_new refuse the set, naming the CRL. */
static void test_collateral_path(void **state)
{
    att_sim_collateral_opts_t co;
    att_sim_collateral_opts_default(&co, pki, ATT_TEE_SGX, NOW);
    att_sim_collateral_t c;
    att_diag_t d;
    assert_int_equal(att_sim_collateral_make(pki, &co, &c, &d), ATT_OK);
    att_trust_t *t = att_trust_new();
    assert_int_equal(att_trust_add_root(t, c.trust_root.ptr, c.trust_root.len, &d), ATT_OK);
    att_dcap_collateral_raw_t raw;
    att_dcap_collateral_t *coll = NULL;
    att_sim_collateral_raw(&c, &raw);
    assert_int_equal(att_dcap_collateral_new(&raw, t, &coll, &d), ATT_OK);
    att_dcap_collateral_free(coll);

    for (int which = 0; which < 3; which++) {
        att_sim_collateral_raw(&c, &raw);
        att_slice_t *s = which == 1 ? &raw.root_ca_crl : &raw.pck_crl;
        uint8_t *b = malloc(s->len + 1);
        memcpy(b, s->ptr, s->len);
        b[s->len] = 0x00;
        buf_t body = {b, s->len + 1};
        if (which == 2) { /* PEM around the DER with the trailing byte */
            body = pem_of(b, s->len + 1, "", "");
            free(b);
        }
        *s = (att_slice_t){body.p, body.len};
        coll = NULL;
        att_err_t e = att_dcap_collateral_new(&raw, t, &coll, &d);
        assert_null(coll);
        if (e != ATT_E_CRL_PARSE)
            fail_msg("case %d: %s: %s", which, att_err_name(e), d.msg);
        assert_non_null(strstr(d.msg, which == 1 ? "root CA CRL has 1 bytes after the DER CRL"
                                                 : "PCK CRL has 1 bytes after the DER CRL"));
        free(body.p);
    }
    att_trust_free(t);
    att_sim_collateral_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_der),
        cmocka_unit_test(test_pem),
        cmocka_unit_test(test_collateral_path),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
