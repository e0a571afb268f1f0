/* snp_pki.h - a test hierarchy shaped like AMD's, for the SEV-SNP tests (test_snp_pki.c,
 * test_kds.c): ARK and ASK RSA with RSASSA-PSS SHA-384 salt 48, a P-384 VCEK with the AMD
 * extensions for a chip and TCB, reports signed with its key, and KDS CRLs signed by any key.
 * Static functions (each test file is one executable); cmocka's asserts fail the test. */
#ifndef ATT_TEST_SNP_PKI_H
#define ATT_TEST_SNP_PKI_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "attest/snp.h"
#include "attest/trust.h"

#define T0 1735689600 /* 2025-01-01T00:00:00Z */

typedef struct {
    EVP_PKEY *ark_key, *ask_key, *vcek_key;
    X509 *ark, *ask, *vcek;
    att_trust_t *trust;
    uint8_t chain[16384]; /* ASK + ARK PEM */
    size_t chain_len;
    uint8_t vcek_der[4096];
    size_t vcek_len;
} pki_t;

static inline EVP_PKEY *rsa_key(void)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    assert_non_null(k);
    return k;
}

static inline void pss_sign_cert(X509 *x, EVP_PKEY *key)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *p = NULL;
    assert_int_equal(EVP_DigestSignInit(m, &p, EVP_sha384(), NULL, key), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(p, 48), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(p, EVP_sha384()), 1);
    assert_true(X509_sign_ctx(x, m) > 0);
    EVP_MD_CTX_free(m);
}

static inline void add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* An AMD extension 1.3.6.1.4.1.3704.1.<arc> with raw extnValue content. */
static inline void add_amd(X509 *x, const char *arc, const uint8_t *v, size_t n)
{
    char oid[64];
    snprintf(oid, sizeof oid, "1.3.6.1.4.1.3704.1.%s", arc);
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *s = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(s, v, (int)n);
    X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ(NULL, o, 0, s);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    ASN1_OCTET_STRING_free(s);
    ASN1_OBJECT_free(o);
}

static inline void add_spl(X509 *x, const char *arc, uint8_t v)
{
    uint8_t der[4] = {0x02, 0x01, v};
    if (v >= 0x80) {
        der[1] = 2;
        der[2] = 0;
        der[3] = v;
    }
    add_amd(x, arc, der, v >= 0x80 ? 4 : 3);
}

static inline X509 *cert(const char *cn, const char *issuer_cn, EVP_PKEY *pub, long nb, long na)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), cn[0] == 'S' && cn[4] == 'V' ? 0 : 0x1234);
    X509_NAME *s = X509_NAME_new(), *i = X509_NAME_new();
    X509_NAME_add_entry_by_txt(s, "O", MBSTRING_ASC, (const uint8_t *)"Advanced Micro Devices", -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(s, "CN", MBSTRING_ASC, (const uint8_t *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(i, "O", MBSTRING_ASC, (const uint8_t *)"Advanced Micro Devices", -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(i, "CN", MBSTRING_ASC, (const uint8_t *)issuer_cn, -1, -1, 0);
    X509_set_subject_name(x, s);
    X509_set_issuer_name(x, i);
    X509_NAME_free(s);
    X509_NAME_free(i);
    ASN1_TIME_set(X509_getm_notBefore(x), nb);
    ASN1_TIME_set(X509_getm_notAfter(x), na);
    X509_set_pubkey(x, pub);
    return x;
}

static inline void pem_append(pki_t *p, X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *d;
    long n = BIO_get_mem_data(b, &d);
    assert_true(p->chain_len + (size_t)n < sizeof p->chain);
    memcpy(p->chain + p->chain_len, d, (size_t)n);
    p->chain_len += (size_t)n;
    BIO_free(b);
}

/* A hierarchy for `product` ("Milan" or "Turin"); the VCEK for chip (64 bytes, Turin uses 8) and
 * TCB spl[] = {bl, tee, snp, ucode, fmc}. */
static inline void pki_make(pki_t *p, const char *product, const uint8_t chip[64],
                            const uint8_t spl[5])
{
    memset(p, 0, sizeof *p);
    bool turin = strcmp(product, "Turin") == 0;
    char ark_cn[32], ask_cn[32];
    snprintf(ark_cn, sizeof ark_cn, "ARK-%s", product);
    snprintf(ask_cn, sizeof ask_cn, "SEV-%s", product);
    p->ark_key = rsa_key();
    p->ask_key = rsa_key();
    p->vcek_key = EVP_EC_gen("P-384");
    assert_non_null(p->vcek_key);
    p->ark = cert(ark_cn, ark_cn, p->ark_key, T0 - 86400 * 365, T0 + 86400 * 3650);
    add_ext(p->ark, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(p->ark, NID_key_usage, "critical,keyCertSign,cRLSign");
    pss_sign_cert(p->ark, p->ark_key);
    p->ask = cert(ask_cn, ark_cn, p->ask_key, T0 - 86400 * 365, T0 + 86400 * 3650);
    add_ext(p->ask, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(p->ask, NID_key_usage, "critical,keyCertSign");
    pss_sign_cert(p->ask, p->ark_key);
    p->vcek = cert("SEV-VCEK", ask_cn, p->vcek_key, T0 - 86400, T0 + 86400 * 365);
    const uint8_t sv[] = {0x02, 0x01, 0x00};
    add_amd(p->vcek, "1", sv, 3);
    uint8_t name[16] = {0x16, 0};
    size_t nl = strlen(product);
    name[1] = (uint8_t)nl;
    memcpy(name + 2, product, nl);
    add_amd(p->vcek, "2", name, nl + 2);
    add_spl(p->vcek, "3.1", spl[0]);
    add_spl(p->vcek, "3.2", spl[1]);
    add_spl(p->vcek, "3.3", spl[2]);
    add_spl(p->vcek, "3.8", spl[3]);
    if (turin)
        add_spl(p->vcek, "3.9", spl[4]);
    add_amd(p->vcek, "4", chip, turin ? 8 : 64);
    pss_sign_cert(p->vcek, p->ask_key);
    uint8_t *d = p->vcek_der;
    p->vcek_len = (size_t)i2d_X509(p->vcek, &d);
    pem_append(p, p->ask);
    pem_append(p, p->ark);
    p->trust = att_trust_new_empty();
    uint8_t der[4096], *q = der;
    int n = i2d_X509(p->ark, &q);
    att_diag_t diag;
    assert_int_equal(att_trust_add_root(p->trust, der, (size_t)n, &diag), ATT_OK);
}

static inline void pki_free(pki_t *p)
{
    X509_free(p->ark);
    X509_free(p->ask);
    X509_free(p->vcek);
    EVP_PKEY_free(p->ark_key);
    EVP_PKEY_free(p->ask_key);
    EVP_PKEY_free(p->vcek_key);
    att_trust_free(p->trust);
}

/* A v3 report (CPUID of `product`) with chip id and reported_tcb, signed by the VCEK. */
static inline void report_make(const pki_t *p, bool turin, const uint8_t chip[64], uint64_t tcb,
                               uint8_t r[ATT_SNP_REPORT_LEN])
{
    memset(r, 0, ATT_SNP_REPORT_LEN);
    r[0] = 3;
    r[0x0A] = 0x03; /* policy: SMT, bit 17 */
    r[0x34] = 1;
    for (int i = 0; i < 8; i++) {
        r[0x38 + i] = r[0x180 + i] = r[0x1E0 + i] = r[0x1F0 + i] = (uint8_t)(tcb >> (8 * i));
    }
    memset(r + 0x160, 0xFF, 32);
    r[0x188] = turin ? 0x1A : 0x19;
    r[0x189] = turin ? 0x02 : 0x01;
    memcpy(r + 0x1A0, chip, 64);
    memset(r + 0x50, 0xAB, 64);
    uint8_t dg[48];
    SHA384(r, ATT_SNP_SIGNED_LEN, dg);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(p->vcek_key, NULL);
    uint8_t der[128];
    size_t dl = sizeof der;
    assert_int_equal(EVP_PKEY_sign_init(c), 1);
    assert_int_equal(EVP_PKEY_sign(c, der, &dl, dg, sizeof dg), 1);
    EVP_PKEY_CTX_free(c);
    const uint8_t *q = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &q, (long)dl);
    assert_non_null(s);
    BN_bn2lebinpad(ECDSA_SIG_get0_r(s), r + 0x2A0, 72);
    BN_bn2lebinpad(ECDSA_SIG_get0_s(s), r + 0x2E8, 72);
    ECDSA_SIG_free(s);
}

/* A CRL issued by `issuer_cn`, signed with key, listing `serial` when >= 0. */
static inline size_t crl_make(EVP_PKEY *key, const char *issuer_cn, long serial, long tu, long nu,
                              uint8_t *out, size_t cap)
{
    X509_CRL *crl = X509_CRL_new();
    X509_CRL_set_version(crl, 1);
    X509_NAME *i = X509_NAME_new();
    X509_NAME_add_entry_by_txt(i, "O", MBSTRING_ASC, (const uint8_t *)"Advanced Micro Devices", -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(i, "CN", MBSTRING_ASC, (const uint8_t *)issuer_cn, -1, -1, 0);
    X509_CRL_set_issuer_name(crl, i);
    X509_NAME_free(i);
    ASN1_TIME *t = ASN1_TIME_set(NULL, tu), *n = ASN1_TIME_set(NULL, nu);
    X509_CRL_set1_lastUpdate(crl, t);
    X509_CRL_set1_nextUpdate(crl, n);
    ASN1_TIME_free(t);
    ASN1_TIME_free(n);
    if (serial >= 0) {
        X509_REVOKED *r = X509_REVOKED_new();
        ASN1_INTEGER *s = ASN1_INTEGER_new();
        ASN1_INTEGER_set(s, serial);
        X509_REVOKED_set_serialNumber(r, s);
        ASN1_TIME *rt = ASN1_TIME_set(NULL, tu);
        X509_REVOKED_set_revocationDate(r, rt);
        ASN1_TIME_free(rt);
        ASN1_INTEGER_free(s);
        X509_CRL_add0_revoked(crl, r);
    }
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *p = NULL;
    assert_int_equal(EVP_DigestSignInit(m, &p, EVP_sha384(), NULL, key), 1);
    EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(p, 48);
    EVP_PKEY_CTX_set_rsa_mgf1_md(p, EVP_sha384());
    assert_true(X509_CRL_sign_ctx(crl, m) > 0);
    EVP_MD_CTX_free(m);
    uint8_t *d = out;
    int len = i2d_X509_CRL(crl, NULL);
    assert_true(len > 0 && (size_t)len <= cap);
    i2d_X509_CRL(crl, &d);
    X509_CRL_free(crl);
    return (size_t)len;
}

#endif
