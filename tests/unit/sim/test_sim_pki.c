/* test_sim_pki.c - the simulated DCAP world, checked with OpenSSL and by hand (not by our
 * verifier): certificates parse and chain, the SGX extension decodes to what was put in and is
 * encoded byte-for-byte like Intel's, CRLs verify and revoke, JSON signatures cover the exact
 * bytes, quotes have the documented layout and signatures, files are written with the right modes.
 */
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
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/sim.h"
#include "core/util.h"
#include "vectors.h"

#define NOW ((att_time_t)1751328000) /* 2025-07-01T00:00:00Z */

/* ---- helpers ---------------------------------------------------------------------------- */

static X509 *cert_of(const att_sim_pki_t *p, att_sim_cert_t which)
{
    att_slice_t der = att_sim_pki_cert_der(p, which);
    const unsigned char *d = der.ptr;
    X509 *x = d2i_X509(NULL, &d, (long)der.len);
    assert_non_null(x);
    assert_ptr_equal(d, der.ptr + der.len);
    return x;
}

static att_sim_pki_t *new_pki(att_sim_ca_type_t ca)
{
    att_sim_pki_opts_t o;
    att_sim_pki_opts_default(&o, ca, NOW);
    att_sim_pki_t *p = NULL;
    att_diag_t d;
    assert_int_equal(att_sim_pki_new(&o, &p, &d), ATT_OK);
    return p;
}

/* Verify raw r||s ECDSA-P256-SHA256 over msg with a public key. */
static bool verify_raw_pkey(EVP_PKEY *k, const uint8_t *msg, size_t len, const uint8_t sig[64])
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
    assert_int_equal(ECDSA_SIG_set0(s, r, ss), 1);
    unsigned char *der = NULL;
    int dlen = i2d_ECDSA_SIG(s, &der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
              EVP_DigestVerify(md, der, (size_t)dlen, msg, len) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(s);
    return ok;
}

static bool verify_raw(X509 *cert, const uint8_t *msg, size_t len, const uint8_t sig[64])
{
    return verify_raw_pkey(X509_get0_pubkey(cert), msg, len, sig);
}

/* Same with a raw x||y public key. */
static bool verify_raw_key(const uint8_t pub[64], const uint8_t *msg, size_t len,
                           const uint8_t sig[64])
{
    uint8_t pt[65] = {0x04};
    memcpy(pt + 1, pub, 64);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string("group", "prime256v1", 0),
        OSSL_PARAM_construct_octet_string("pub", pt, sizeof pt),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *k = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params), 1);
    bool ok = verify_raw_pkey(k, msg, len, sig);
    EVP_PKEY_free(k);
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static const char *name_entry(X509_NAME *n, int nid, char *buf, size_t len)
{
    buf[0] = 0;
    X509_NAME_get_text_by_NID(n, nid, buf, (int)len);
    return buf;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- an independent SGX extension decoder (generic ASN.1, not our verifier's) ----------- */

typedef struct {
    att_sim_pck_ext_t e;
    bool has_platform;
    int n_top;
} decoded_ext_t;

static ASN1_OCTET_STRING *sgx_ext_value(X509 *x)
{
    ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    int idx = X509_get_ext_by_OBJ(x, oid, -1);
    ASN1_OBJECT_free(oid);
    assert_true(idx >= 0);
    X509_EXTENSION *ext = X509_get_ext(x, idx);
    assert_int_equal(X509_EXTENSION_get_critical(ext), 0);
    return X509_EXTENSION_get_data(ext);
}

/* Decode SEQUENCE { OID, value } into its OID text and value. */
static STACK_OF(ASN1_TYPE) * pair_of(const ASN1_TYPE *t, char *oid, size_t oidlen)
{
    assert_int_equal(ASN1_TYPE_get(t), V_ASN1_SEQUENCE);
    const unsigned char *p = t->value.sequence->data;
    STACK_OF(ASN1_TYPE) *pr = d2i_ASN1_SEQUENCE_ANY(NULL, &p, t->value.sequence->length);
    assert_non_null(pr);
    assert_int_equal(sk_ASN1_TYPE_num(pr), 2);
    const ASN1_TYPE *o = sk_ASN1_TYPE_value(pr, 0);
    assert_int_equal(ASN1_TYPE_get(o), V_ASN1_OBJECT);
    OBJ_obj2txt(oid, (int)oidlen, o->value.object, 1);
    return pr;
}

static void octets(const ASN1_TYPE *v, uint8_t *out, size_t n)
{
    assert_int_equal(ASN1_TYPE_get(v), V_ASN1_OCTET_STRING);
    assert_int_equal(v->value.octet_string->length, (int)n);
    memcpy(out, v->value.octet_string->data, n);
}

static long integer(const ASN1_TYPE *v, int type)
{
    assert_int_equal(ASN1_TYPE_get(v), type);
    return type == V_ASN1_ENUMERATED ? ASN1_ENUMERATED_get(v->value.enumerated)
                                     : ASN1_INTEGER_get(v->value.integer);
}

static void decode_sgx_ext(X509 *x, decoded_ext_t *d)
{
    memset(d, 0, sizeof *d);
    ASN1_OCTET_STRING *val = sgx_ext_value(x);
    const unsigned char *p = ASN1_STRING_get0_data(val);
    STACK_OF(ASN1_TYPE) *top = d2i_ASN1_SEQUENCE_ANY(NULL, &p, ASN1_STRING_length(val));
    assert_non_null(top);
    d->n_top = sk_ASN1_TYPE_num(top);
    const char *base = "1.2.840.113741.1.13.1.";
    for (int i = 0; i < d->n_top; i++) {
        char oid[64];
        STACK_OF(ASN1_TYPE) *pr = pair_of(sk_ASN1_TYPE_value(top, i), oid, sizeof oid);
        const ASN1_TYPE *v = sk_ASN1_TYPE_value(pr, 1);
        assert_memory_equal(oid, base, strlen(base));
        int arc = atoi(oid + strlen(base));
        if (arc == 1) {
            octets(v, d->e.ppid, 16);
        } else if (arc == 2 || arc == 7) {
            assert_int_equal(ASN1_TYPE_get(v), V_ASN1_SEQUENCE);
            const unsigned char *q = v->value.sequence->data;
            STACK_OF(ASN1_TYPE) *inner = d2i_ASN1_SEQUENCE_ANY(NULL, &q, v->value.sequence->length);
            assert_non_null(inner);
            assert_int_equal(sk_ASN1_TYPE_num(inner), arc == 2 ? 18 : 3);
            for (int j = 0; j < sk_ASN1_TYPE_num(inner); j++) {
                char ioid[64], want[64];
                STACK_OF(ASN1_TYPE) *ip = pair_of(sk_ASN1_TYPE_value(inner, j), ioid, sizeof ioid);
                snprintf(want, sizeof want, "%s%d.%d", base, arc, j + 1);
                assert_string_equal(ioid, want);
                const ASN1_TYPE *iv = sk_ASN1_TYPE_value(ip, 1);
                if (arc == 7) {
                    assert_int_equal(ASN1_TYPE_get(iv), V_ASN1_BOOLEAN);
                    bool b = iv->value.boolean != 0;
                    if (j == 0)
                        d->e.dynamic_platform = b;
                    else if (j == 1)
                        d->e.cached_keys = b;
                    else
                        d->e.smt_enabled = b;
                } else if (j < 16) {
                    d->e.comp_svn[j] = (uint8_t)integer(iv, V_ASN1_INTEGER);
                } else if (j == 16) {
                    d->e.pcesvn = (uint16_t)integer(iv, V_ASN1_INTEGER);
                } else {
                    octets(iv, d->e.cpusvn, 16);
                }
                sk_ASN1_TYPE_pop_free(ip, ASN1_TYPE_free);
            }
            sk_ASN1_TYPE_pop_free(inner, ASN1_TYPE_free);
        } else if (arc == 3) {
            octets(v, d->e.pceid, 2);
        } else if (arc == 4) {
            octets(v, d->e.fmspc, 6);
        } else if (arc == 5) {
            d->e.sgx_type = (uint8_t)integer(v, V_ASN1_ENUMERATED);
        } else if (arc == 6) {
            octets(v, d->e.platform_instance_id, 16);
            d->has_platform = true;
        } else {
            fail_msg("unexpected SGX extension arc %d", arc);
        }
        sk_ASN1_TYPE_pop_free(pr, ASN1_TYPE_free);
    }
    sk_ASN1_TYPE_pop_free(top, ASN1_TYPE_free);
}

/* ---- certificates --------------------------------------------------------------------------- */

static void test_subjects_and_shapes(void **state)
{
    att_sim_pki_t *p = new_pki(ATT_SIM_CA_PROCESSOR);
    static const char *cns[ATT_SIM_N_CERTS] = {
        "attestd Test SGX Root CA", "Intel SGX PCK Processor CA", "Intel SGX PCK Certificate",
        "Intel SGX TCB Signing"};
    static const char *issuers[ATT_SIM_N_CERTS] = {
        "attestd Test SGX Root CA", "attestd Test SGX Root CA", "Intel SGX PCK Processor CA",
        "attestd Test SGX Root CA"};
    for (int i = 0; i < ATT_SIM_N_CERTS; i++) {
        X509 *x = cert_of(p, (att_sim_cert_t)i);
        char buf[256];
        assert_string_equal(name_entry(X509_get_subject_name(x), NID_commonName, buf, sizeof buf),
                            cns[i]);
        assert_string_equal(name_entry(X509_get_issuer_name(x), NID_commonName, buf, sizeof buf),
                            issuers[i]);
        assert_string_equal(
            name_entry(X509_get_subject_name(x), NID_organizationName, buf, sizeof buf),
            "attestd test hierarchy");
        assert_string_equal(name_entry(X509_get_subject_name(x), NID_countryName, buf, sizeof buf),
                            "US");
        assert_int_equal(X509_get_version(x), 2);
        assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
        EVP_PKEY *k = X509_get0_pubkey(x);
        assert_int_equal(EVP_PKEY_get_bits(k), 256);
        assert_true(EVP_PKEY_is_a(k, "EC"));
        char group[32];
        assert_int_equal(EVP_PKEY_get_group_name(k, group, sizeof group, NULL), 1);
        assert_string_equal(group, "prime256v1");

        /* Extensions: SKID, AKID, critical keyUsage and basicConstraints. */
        uint32_t flags = X509_get_extension_flags(x);
        assert_non_null(X509_get0_subject_key_id(x));
        assert_non_null(X509_get0_authority_key_id(x));
        assert_true(flags & EXFLAG_KUSAGE);
        bool ca = i == ATT_SIM_ROOT || i == ATT_SIM_PCK_CA;
        assert_int_equal(!!(flags & EXFLAG_CA), ca);
        uint32_t ku = X509_get_key_usage(x);
        if (ca) {
            assert_int_equal(ku, KU_KEY_CERT_SIGN | KU_CRL_SIGN);
            assert_int_equal(X509_get_pathlen(x), i == ATT_SIM_ROOT ? 1 : 0);
        } else {
            assert_int_equal(ku, KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION);
        }
        int crit = -1;
        BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
        assert_non_null(bc);
        assert_int_equal(crit, 1);
        BASIC_CONSTRAINTS_free(bc);
        ASN1_BIT_STRING *kus = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
        assert_int_equal(crit, 1);
        ASN1_BIT_STRING_free(kus);
        assert_int_equal(i == ATT_SIM_ROOT, !!(flags & EXFLAG_SS));

        /* Validity as defaulted, serial as reported. */
        const att_sim_pki_opts_t *o = att_sim_pki_opts(p);
        assert_int_equal(
            ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), (time_t)o->cert[i].not_before), 0);
        assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), (time_t)o->cert[i].not_after),
                         0);
        att_sim_serial_t s = att_sim_pki_serial(p, (att_sim_cert_t)i);
        assert_int_equal(s.len, 20);
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        uint8_t sb[20];
        assert_int_equal(BN_bn2binpad(bn, sb, 20), 20);
        assert_memory_equal(sb, s.bytes, 20);
        BN_free(bn);

        /* PEM and DER agree. */
        att_slice_t pem = att_sim_pki_cert_pem(p, (att_sim_cert_t)i);
        assert_int_equal(pem.ptr[pem.len], 0);
        BIO *b = BIO_new_mem_buf(pem.ptr, (int)pem.len);
        X509 *y = PEM_read_bio_X509(b, NULL, NULL, NULL);
        assert_non_null(y);
        assert_int_equal(X509_cmp(x, y), 0);
        X509_free(y);
        BIO_free(b);
        X509_free(x);
    }
    att_sim_pki_free(p);

    /* Platform CA hierarchy. */
    p = new_pki(ATT_SIM_CA_PLATFORM);
    X509 *x = cert_of(p, ATT_SIM_PCK_CA);
    char buf[256];
    assert_string_equal(name_entry(X509_get_subject_name(x), NID_commonName, buf, sizeof buf),
                        "Intel SGX PCK Platform CA");
    X509_free(x);
    att_sim_pki_free(p);
}

static int verify_chain(const att_sim_pki_t *p, att_sim_cert_t leaf, X509 *trusted_root,
                        att_time_t at, STACK_OF(X509_CRL) * crls, unsigned long flags)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, trusted_root);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509 *ca = cert_of(p, ATT_SIM_PCK_CA);
    sk_X509_push(untrusted, ca);
    X509 *x = cert_of(p, leaf);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_CTX_init(ctx, store, x, untrusted), 1);
    X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(vp, (time_t)at);
    X509_VERIFY_PARAM_set_flags(vp, flags);
    if (crls != NULL)
        X509_STORE_CTX_set0_crls(ctx, crls);
    int rc = X509_verify_cert(ctx);
    int err = rc == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_free(x);
    sk_X509_pop_free(untrusted, X509_free);
    X509_STORE_free(store);
    return err;
}

static void test_chains_verify(void **state)
{
    att_sim_pki_t *p = new_pki(ATT_SIM_CA_PROCESSOR);
    att_sim_pki_t *other = new_pki(ATT_SIM_CA_PROCESSOR);
    X509 *root = cert_of(p, ATT_SIM_ROOT), *oroot = cert_of(other, ATT_SIM_ROOT);
    assert_int_equal(verify_chain(p, ATT_SIM_PCK, root, NOW, NULL, 0), X509_V_OK);
    assert_int_equal(verify_chain(p, ATT_SIM_TCB_SIGNER, root, NOW, NULL, 0), X509_V_OK);
    /* Strict X.509 checks too (RFC 5280 profile: AKID/SKID, critical BC, ...). */
    assert_int_equal(verify_chain(p, ATT_SIM_PCK, root, NOW, NULL, X509_V_FLAG_X509_STRICT),
                     X509_V_OK);
    /* Another hierarchy's root does not anchor it. */
    assert_int_not_equal(verify_chain(p, ATT_SIM_PCK, oroot, NOW, NULL, 0), X509_V_OK);
    /* Time is honoured: before notBefore and after the leaf's notAfter. */
    const att_sim_pki_opts_t *o = att_sim_pki_opts(p);
    assert_int_equal(
        verify_chain(p, ATT_SIM_PCK, root, o->cert[ATT_SIM_PCK].not_before - 1, NULL, 0),
        X509_V_ERR_CERT_NOT_YET_VALID);
    assert_int_equal(
        verify_chain(p, ATT_SIM_PCK, root, o->cert[ATT_SIM_PCK].not_after + 1, NULL, 0),
        X509_V_ERR_CERT_HAS_EXPIRED);
    X509_free(root);
    X509_free(oroot);
    att_sim_pki_free(other);
    att_sim_pki_free(p);
}

static void test_configured_validity_and_serials(void **state)
{
    att_sim_pki_opts_t o;
    att_sim_pki_opts_default(&o, ATT_SIM_CA_PROCESSOR, NOW);
    o.cert[ATT_SIM_PCK].not_before = NOW - 100;
    o.cert[ATT_SIM_PCK].not_after = NOW + 100;
    o.cert[ATT_SIM_PCK].serial.bytes[0] = 0x01;
    o.cert[ATT_SIM_PCK].serial.bytes[1] = 0x02;
    o.cert[ATT_SIM_PCK].serial.len = 2;
    o.cert[ATT_SIM_ROOT].not_after = 4102444800LL + 100 * 86400LL; /* past 2050: GeneralizedTime */
    o.root_cn = "My Root";
    o.org = "My Org";
    att_sim_pki_t *p = NULL;
    att_diag_t d;
    assert_int_equal(att_sim_pki_new(&o, &p, &d), ATT_OK);
    X509 *x = cert_of(p, ATT_SIM_PCK), *root = cert_of(p, ATT_SIM_ROOT);
    assert_int_equal(ASN1_INTEGER_get(X509_get0_serialNumber(x)), 0x0102);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), (time_t)(NOW - 100)), 0);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), (time_t)(NOW + 100)), 0);
    assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(root)), V_ASN1_GENERALIZEDTIME);
    char buf[64];
    assert_string_equal(name_entry(X509_get_subject_name(root), NID_commonName, buf, sizeof buf),
                        "My Root");
    assert_string_equal(name_entry(X509_get_subject_name(x), NID_organizationName, buf, sizeof buf),
                        "My Org");
    assert_int_equal(verify_chain(p, ATT_SIM_PCK, root, NOW + 101, NULL, 0),
                     X509_V_ERR_CERT_HAS_EXPIRED);
    X509_free(x);

    /* Reissuing the leaf: new key, new serial, same CA, new extension. */
    att_sim_pck_ext_t e = o.pck;
    e.comp_svn[0] = 42;
    e.pcesvn = 300;
    att_slice_t before = att_sim_pki_cert_der(p, ATT_SIM_PCK);
    uint8_t *copy = malloc(before.len);
    memcpy(copy, before.ptr, before.len);
    size_t copy_len = before.len;
    assert_int_equal(att_sim_pki_reissue_pck(p, &e, NULL, &d), ATT_OK);
    att_slice_t after = att_sim_pki_cert_der(p, ATT_SIM_PCK);
    assert_false(after.len == copy_len && memcmp(after.ptr, copy, copy_len) == 0);
    free(copy);
    assert_int_equal(att_sim_pki_serial(p, ATT_SIM_PCK).len, 20);
    x = cert_of(p, ATT_SIM_PCK);
    decoded_ext_t dx;
    decode_sgx_ext(x, &dx);
    assert_int_equal(dx.e.comp_svn[0], 42);
    assert_int_equal(dx.e.pcesvn, 300);
    assert_int_equal(verify_chain(p, ATT_SIM_PCK, root, NOW, NULL, 0), X509_V_OK);
    X509_free(x);
    X509_free(root);
    att_sim_pki_free(p);

    /* Bad options are errors with a message, not crashes. */
    att_sim_pki_opts_default(&o, ATT_SIM_CA_PROCESSOR, NOW);
    o.ca = (att_sim_ca_type_t)7;
    assert_int_equal(att_sim_pki_new(&o, &p, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "CA type"));
    assert_int_equal(att_sim_pki_new(NULL, &p, &d), ATT_E_ARG);
    att_sim_pki_opts_default(&o, ATT_SIM_CA_PROCESSOR, NOW);
    o.cert[ATT_SIM_PCK].serial.len = 21;
    assert_int_equal(att_sim_pki_new(&o, &p, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "serial"));
}

/* ---- the SGX extension -------------------------------------------------------------------- */

static void test_sgx_extension_values(void **state)
{
    for (int ca = 0; ca < 2; ca++) {
        att_sim_pki_opts_t o;
        att_sim_pki_opts_default(&o, (att_sim_ca_type_t)ca, NOW);
        for (int i = 0; i < 16; i++) {
            o.pck.ppid[i] = (uint8_t)(0xF0 - i);
            o.pck.comp_svn[i] = (uint8_t)(i * 17); /* 0, 17, ..., 255: one- and two-byte INTEGERs */
            o.pck.cpusvn[i] = (uint8_t)(0x30 + i);
            o.pck.platform_instance_id[i] = (uint8_t)i;
        }
        o.pck.pcesvn = 0x8001; /* three-byte INTEGER */
        o.pck.pceid[0] = 0x12;
        o.pck.pceid[1] = 0x34;
        static const uint8_t fmspc[6] = {0x90, 0xC0, 0x6F, 0x00, 0x00, 0x01};
        memcpy(o.pck.fmspc, fmspc, 6);
        o.pck.sgx_type = 2;
        o.pck.dynamic_platform = true;
        o.pck.cached_keys = false;
        o.pck.smt_enabled = true;
        att_sim_pki_t *p;
        att_diag_t d;
        assert_int_equal(att_sim_pki_new(&o, &p, &d), ATT_OK);
        X509 *x = cert_of(p, ATT_SIM_PCK);
        decoded_ext_t dx;
        decode_sgx_ext(x, &dx);
        assert_int_equal(dx.n_top, ca == ATT_SIM_CA_PLATFORM ? 7 : 5);
        assert_memory_equal(dx.e.ppid, o.pck.ppid, 16);
        assert_memory_equal(dx.e.comp_svn, o.pck.comp_svn, 16);
        assert_memory_equal(dx.e.cpusvn, o.pck.cpusvn, 16);
        assert_int_equal(dx.e.pcesvn, 0x8001);
        assert_memory_equal(dx.e.pceid, o.pck.pceid, 2);
        assert_memory_equal(dx.e.fmspc, fmspc, 6);
        assert_int_equal(dx.e.sgx_type, 2);
        assert_int_equal(dx.has_platform, ca == ATT_SIM_CA_PLATFORM);
        if (ca == ATT_SIM_CA_PLATFORM) {
            assert_memory_equal(dx.e.platform_instance_id, o.pck.platform_instance_id, 16);
            assert_true(dx.e.dynamic_platform);
            assert_false(dx.e.cached_keys);
            assert_true(dx.e.smt_enabled);
        }
        /* Only the leaf carries it. */
        X509 *cax = cert_of(p, ATT_SIM_PCK_CA);
        ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
        assert_true(X509_get_ext_by_OBJ(cax, oid, -1) < 0);
        ASN1_OBJECT_free(oid);
        X509_free(cax);
        X509_free(x);
        att_sim_pki_free(p);
    }
}

static X509 *read_vector_leaf(const char *set)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/dcap/%s/pck_cert_chain.pem", ATT_TEST_VECTORS, set);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

/* Re-encode a real Intel PCK leaf's extension values with the generator: the DER must be
 * byte-identical to Intel's. */
static void test_sgx_extension_der_matches_intel(void **state)
{
    VEC_REQUIRE(); /* Intel's PCK leaves come from the real vector sets */
    static const struct {
        const char *set;
        att_sim_ca_type_t ca;
    } sets[] = {{"sgx-v3-fmspc00A067110000", ATT_SIM_CA_PROCESSOR},
                {"tdx-v4-fmspcB0C06F000000", ATT_SIM_CA_PLATFORM},
                {"tdx-v4-fmspc50806f000000-spr-e4", ATT_SIM_CA_PLATFORM}};
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        X509 *intel = read_vector_leaf(sets[s].set);
        decoded_ext_t dx;
        decode_sgx_ext(intel, &dx);
        assert_int_equal(dx.has_platform, sets[s].ca == ATT_SIM_CA_PLATFORM);
        att_sim_pki_opts_t o;
        att_sim_pki_opts_default(&o, sets[s].ca, NOW);
        o.pck = dx.e;
        att_sim_pki_t *p;
        att_diag_t d;
        assert_int_equal(att_sim_pki_new(&o, &p, &d), ATT_OK);
        X509 *ours = cert_of(p, ATT_SIM_PCK);
        ASN1_OCTET_STRING *a = sgx_ext_value(intel), *b = sgx_ext_value(ours);
        assert_int_equal(ASN1_STRING_length(a), ASN1_STRING_length(b));
        assert_memory_equal(ASN1_STRING_get0_data(a), ASN1_STRING_get0_data(b),
                            (size_t)ASN1_STRING_length(a));
        X509_free(ours);
        X509_free(intel);
        att_sim_pki_free(p);
    }
}

/* ---- CRLs ----------------------------------------------------------------------------------- */

static X509_CRL *crl_of(const uint8_t *der, size_t len)
{
    const unsigned char *d = der;
    X509_CRL *c = d2i_X509_CRL(NULL, &d, (long)len);
    assert_non_null(c);
    assert_ptr_equal(d, der + len);
    return c;
}

static void test_crls(void **state)
{
    att_sim_pki_t *p = new_pki(ATT_SIM_CA_PROCESSOR);
    att_sim_pki_t *other = new_pki(ATT_SIM_CA_PROCESSOR);
    X509 *root = cert_of(p, ATT_SIM_ROOT), *ca = cert_of(p, ATT_SIM_PCK_CA);
    att_diag_t d;
    uint8_t *der;
    size_t len;

    /* PCK CRL revoking the leaf and an unrelated serial. */
    att_sim_serial_t rev[2] = {att_sim_pki_serial(p, ATT_SIM_PCK), {{0x7F, 0x01}, 2}};
    att_sim_crl_opts_t co;
    att_sim_crl_opts_default(&co, ATT_SIM_PCK_CA, NOW);
    co.revoked = rev;
    co.n_revoked = 2;
    co.this_update = NOW - 500;
    co.next_update = NOW + 500;
    co.crl_number = 9;
    assert_int_equal(att_sim_crl_make(p, &co, &der, &len, &d), ATT_OK);
    X509_CRL *pck_crl = crl_of(der, len);
    free(der);
    assert_int_equal(X509_CRL_get_version(pck_crl), 1);
    assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(pck_crl), X509_get_subject_name(ca)), 0);
    assert_int_equal(X509_CRL_verify(pck_crl, X509_get0_pubkey(ca)), 1);
    assert_int_not_equal(X509_CRL_verify(pck_crl, X509_get0_pubkey(root)), 1);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_CRL_get0_lastUpdate(pck_crl), (time_t)(NOW - 500)),
                     0);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(pck_crl), (time_t)(NOW + 500)),
                     0);
    assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(pck_crl)), 2);
    X509_REVOKED *r = NULL;
    X509 *leaf = cert_of(p, ATT_SIM_PCK);
    assert_int_equal(
        X509_CRL_get0_by_serial(pck_crl, &r, (ASN1_INTEGER *)X509_get0_serialNumber(leaf)), 1);
    assert_int_equal(
        X509_CRL_get0_by_serial(pck_crl, &r, (ASN1_INTEGER *)X509_get0_serialNumber(ca)), 0);
    X509_free(leaf);
    ASN1_INTEGER *num = X509_CRL_get_ext_d2i(pck_crl, NID_crl_number, NULL, NULL);
    assert_int_equal(ASN1_INTEGER_get(num), 9);
    ASN1_INTEGER_free(num);
    AUTHORITY_KEYID *akid = X509_CRL_get_ext_d2i(pck_crl, NID_authority_key_identifier, NULL, NULL);
    assert_non_null(akid);
    assert_int_equal(ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(ca)), 0);
    AUTHORITY_KEYID_free(akid);

    /* Root CA CRL, empty. */
    att_sim_crl_opts_default(&co, ATT_SIM_ROOT, NOW);
    assert_int_equal(att_sim_crl_make(p, &co, &der, &len, &d), ATT_OK);
    X509_CRL *root_crl = crl_of(der, len);
    free(der);
    assert_int_equal(X509_CRL_verify(root_crl, X509_get0_pubkey(root)), 1);
    assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(root_crl), X509_get_subject_name(root)), 0);
    assert_null(X509_CRL_get_REVOKED(root_crl)); /* "No Revoked Certificates", as Intel's */

    /* OpenSSL's own CRL checking agrees: with both CRLs the leaf is revoked. */
    STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
    sk_X509_CRL_push(crls, pck_crl);
    sk_X509_CRL_push(crls, root_crl);
    assert_int_equal(verify_chain(p, ATT_SIM_PCK, root, NOW, crls,
                                  X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL),
                     X509_V_ERR_CERT_REVOKED);
    /* Past nextUpdate: expired CRL. */
    assert_int_equal(verify_chain(p, ATT_SIM_PCK, root, NOW + 501, crls,
                                  X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL),
                     X509_V_ERR_CRL_HAS_EXPIRED);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);

    /* Clean CRLs: chain with full CRL checking passes. */
    att_sim_crl_opts_default(&co, ATT_SIM_PCK_CA, NOW);
    assert_int_equal(att_sim_crl_make(p, &co, &der, &len, &d), ATT_OK);
    crls = sk_X509_CRL_new_null();
    sk_X509_CRL_push(crls, crl_of(der, len));
    free(der);
    att_sim_crl_opts_default(&co, ATT_SIM_ROOT, NOW);
    assert_int_equal(att_sim_crl_make(p, &co, &der, &len, &d), ATT_OK);
    sk_X509_CRL_push(crls, crl_of(der, len));
    free(der);
    assert_int_equal(verify_chain(p, ATT_SIM_PCK, root, NOW, crls,
                                  X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL),
                     X509_V_OK);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);

    /* Revoking the intermediate on the root CRL. */
    att_sim_serial_t ca_serial = att_sim_pki_serial(p, ATT_SIM_PCK_CA);
    att_sim_crl_opts_default(&co, ATT_SIM_ROOT, NOW);
    co.revoked = &ca_serial;
    co.n_revoked = 1;
    assert_int_equal(att_sim_crl_make(p, &co, &der, &len, &d), ATT_OK);
    root_crl = crl_of(der, len);
    free(der);
    assert_int_equal(
        X509_CRL_get0_by_serial(root_crl, &r, (ASN1_INTEGER *)X509_get0_serialNumber(ca)), 1);
    X509_CRL_free(root_crl);

    /* Name of the PCK CA, key of another hierarchy's PCK CA: the signature fails. */
    att_sim_crl_opts_default(&co, ATT_SIM_PCK_CA, NOW);
    co.signer_pki = other;
    assert_int_equal(att_sim_crl_make(p, &co, &der, &len, &d), ATT_OK);
    X509_CRL *forged = crl_of(der, len);
    free(der);
    assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(forged), X509_get_subject_name(ca)), 0);
    assert_int_not_equal(X509_CRL_verify(forged, X509_get0_pubkey(ca)), 1);
    X509_CRL_free(forged);
    /* Issued and signed by the root, offered as PCK CRL: wrong issuer name. */
    att_sim_crl_opts_default(&co, ATT_SIM_ROOT, NOW);
    assert_int_equal(att_sim_crl_make(p, &co, &der, &len, &d), ATT_OK);
    forged = crl_of(der, len);
    free(der);
    assert_int_not_equal(X509_NAME_cmp(X509_CRL_get_issuer(forged), X509_get_subject_name(ca)), 0);
    X509_CRL_free(forged);

    /* Bad options. */
    att_sim_serial_t empty = {.len = 0};
    co.revoked = &empty;
    co.n_revoked = 1;
    assert_int_equal(att_sim_crl_make(p, &co, &der, &len, &d), ATT_E_INTERNAL);

    X509_free(root);
    X509_free(ca);
    att_sim_pki_free(other);
    att_sim_pki_free(p);
}

/* ---- signed JSON ---------------------------------------------------------------------------- */

/* Check {"<key>":{...},"signature":hex} against the TCB signer over the exact inner bytes;
 * returns the parsed inner object. */
static json_t *check_signed_json(const att_sim_pki_t *p, const char *text, size_t len,
                                 const char *key)
{
    const char *inner, *sigv;
    size_t ilen, slen;
    assert_true(att_json_raw_member(text, len, key, &inner, &ilen));
    assert_true(att_json_raw_member(text, len, "signature", &sigv, &slen));
    assert_int_equal(slen, 2 + 128);
    uint8_t sig[64];
    assert_true(att_hex_decode(sigv + 1, 128, sig, 64));
    X509 *signer = cert_of(p, ATT_SIM_TCB_SIGNER);
    assert_true(verify_raw(signer, (const uint8_t *)inner, ilen, sig));
    /* One changed byte (a digit in the inner object) breaks it. */
    char *copy = malloc(ilen);
    memcpy(copy, inner, ilen);
    char *digit = strpbrk(copy, "0123456789");
    assert_non_null(digit);
    *digit = *digit == '9' ? '8' : (char)(*digit + 1);
    assert_false(verify_raw(signer, (const uint8_t *)copy, ilen, sig));
    free(copy);
    X509_free(signer);
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    assert_non_null(doc);
    assert_int_equal(json_object_size(doc), 2);
    json_t *obj = json_incref(json_object_get(doc, key));
    json_decref(doc);
    assert_true(json_is_object(obj));
    return obj;
}

static void test_tcb_info_sgx(void **state)
{
    att_sim_pki_t *p = new_pki(ATT_SIM_CA_PROCESSOR);
    att_sim_tcb_info_t t;
    att_sim_tcb_info_default(&t, p, ATT_TEE_SGX, NOW);
    t.n_levels = 2;
    t.levels[1] = t.levels[0];
    t.levels[1].sgx_svn[0] = 1;
    t.levels[1].pcesvn = 5;
    t.levels[1].st.status = "OutOfDate";
    t.levels[1].st.advisory_ids[0] = "INTEL-SA-00001";
    t.levels[1].st.advisory_ids[1] = "INTEL-SA-00002";
    char *json;
    size_t len;
    att_diag_t d;
    assert_int_equal(att_sim_tcb_info_sign(p, &t, &json, &len, &d), ATT_OK);
    assert_int_equal(strlen(json), len);
    assert_memory_equal(json, "{\"tcbInfo\":{\"id\":\"SGX\",\"version\":3,", 35);
    json_t *o = check_signed_json(p, json, len, "tcbInfo");
    free(json);
    assert_string_equal(json_string_value(json_object_get(o, "fmspc")), "00A067110000");
    assert_string_equal(json_string_value(json_object_get(o, "pceId")), "0000");
    assert_string_equal(json_string_value(json_object_get(o, "issueDate")), "2025-06-30T23:00:00Z");
    assert_string_equal(json_string_value(json_object_get(o, "nextUpdate")),
                        "2025-07-31T00:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(o, "tcbType")), 0);
    assert_null(json_object_get(o, "tdxModule"));
    json_t *lv = json_object_get(o, "tcbLevels");
    assert_int_equal(json_array_size(lv), 2);
    json_t *l0 = json_array_get(lv, 0), *l1 = json_array_get(lv, 1);
    json_t *comps = json_object_get(json_object_get(l0, "tcb"), "sgxtcbcomponents");
    assert_int_equal(json_array_size(comps), 16);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(comps, 4), "svn")), 255);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(l0, "tcb"), "pcesvn")), 13);
    assert_string_equal(json_string_value(json_object_get(l0, "tcbStatus")), "UpToDate");
    assert_null(json_object_get(l0, "advisoryIDs"));
    assert_string_equal(json_string_value(json_object_get(l1, "tcbStatus")), "OutOfDate");
    json_t *adv = json_object_get(l1, "advisoryIDs");
    assert_int_equal(json_array_size(adv), 2);
    assert_string_equal(json_string_value(json_array_get(adv, 1)), "INTEL-SA-00002");
    json_decref(o);

    /* Version 2: flat components, no id. */
    t.version = 2;
    assert_int_equal(att_sim_tcb_info_sign(p, &t, &json, &len, &d), ATT_OK);
    o = check_signed_json(p, json, len, "tcbInfo");
    free(json);
    assert_null(json_object_get(o, "id"));
    json_t *tcb = json_object_get(json_array_get(json_object_get(o, "tcbLevels"), 1), "tcb");
    assert_int_equal(json_integer_value(json_object_get(tcb, "sgxtcbcomp01svn")), 1);
    assert_int_equal(json_integer_value(json_object_get(tcb, "sgxtcbcomp05svn")), 255);
    assert_int_equal(json_integer_value(json_object_get(tcb, "pcesvn")), 5);
    json_decref(o);
    att_sim_pki_free(p);
}

static void test_tcb_info_tdx_and_qe_identity(void **state)
{
    att_sim_pki_t *p = new_pki(ATT_SIM_CA_PLATFORM);
    att_sim_tcb_info_t t;
    att_sim_tcb_info_default(&t, p, ATT_TEE_TDX, NOW);
    char *json;
    size_t len;
    att_diag_t d;
    assert_int_equal(att_sim_tcb_info_sign(p, &t, &json, &len, &d), ATT_OK);
    json_t *o = check_signed_json(p, json, len, "tcbInfo");
    free(json);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "TDX");
    assert_string_equal(json_string_value(json_object_get(o, "fmspc")), "00806F050000");
    json_t *mod = json_object_get(o, "tdxModule");
    assert_int_equal(strlen(json_string_value(json_object_get(mod, "mrsigner"))), 96);
    assert_string_equal(json_string_value(json_object_get(mod, "attributesMask")),
                        "FFFFFFFFFFFFFFFF");
    json_t *ids = json_object_get(o, "tdxModuleIdentities");
    assert_int_equal(json_array_size(ids), 1);
    json_t *id0 = json_array_get(ids, 0);
    assert_string_equal(json_string_value(json_object_get(id0, "id")), "TDX_01");
    json_t *ml = json_array_get(json_object_get(id0, "tcbLevels"), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ml, "tcb"), "isvsvn")), 3);
    json_t *tcb = json_object_get(json_array_get(json_object_get(o, "tcbLevels"), 0), "tcb");
    json_t *tdx = json_object_get(tcb, "tdxtcbcomponents");
    assert_int_equal(json_array_size(tdx), 16);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(tdx, 0), "svn")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(tdx, 1), "svn")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(tdx, 2), "svn")), 2);
    json_decref(o);

    for (int tee = 0; tee < 2; tee++) {
        att_sim_qe_identity_t q;
        att_sim_qe_identity_default(&q, tee ? ATT_TEE_TDX : ATT_TEE_SGX, NOW);
        q.n_levels = 2;
        q.levels[1].isvsvn = 4;
        q.levels[1].st.status = "OutOfDate";
        q.levels[1].st.tcb_date = NOW - 400 * 86400LL;
        q.levels[1].st.advisory_ids[0] = "INTEL-SA-00615";
        assert_int_equal(att_sim_qe_identity_sign(p, &q, &json, &len, &d), ATT_OK);
        assert_memory_equal(json, "{\"enclaveIdentity\":{\"id\":", 25);
        o = check_signed_json(p, json, len, "enclaveIdentity");
        free(json);
        assert_string_equal(json_string_value(json_object_get(o, "id")), tee ? "TD_QE" : "QE");
        assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
        assert_int_equal(json_integer_value(json_object_get(o, "isvprodid")), tee ? 2 : 1);
        assert_string_equal(json_string_value(json_object_get(o, "miscselect")), "00000000");
        assert_string_equal(json_string_value(json_object_get(o, "miscselectMask")), "FFFFFFFF");
        assert_string_equal(json_string_value(json_object_get(o, "attributes")),
                            "11000000000000000000000000000000");
        assert_string_equal(json_string_value(json_object_get(o, "attributesMask")),
                            "FBFFFFFFFFFFFFFF0000000000000000");
        assert_string_equal(
            json_string_value(json_object_get(o, "mrsigner")),
            tee ? "DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5"
                : "8C4F5775D796503E96137F77C68A829A0056AC8DED70140B081B094490C57BFF");
        json_t *lv = json_object_get(o, "tcbLevels");
        assert_int_equal(json_array_size(lv), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(lv, 1), "tcbDate")),
                            "2024-05-27T00:00:00Z");
        json_decref(o);
    }
    att_sim_pki_free(p);
}

/* ---- knobs for negative verifier tests (issue 18), checked with OpenSSL and jansson --------- */

/* The top-level arcs of the SGX extension in order, and the entry count of its TCB entry. */
static int sgx_ext_arcs(X509 *x, int *arcs, int max, int *tcb_entries)
{
    ASN1_OCTET_STRING *val = sgx_ext_value(x);
    const unsigned char *p = ASN1_STRING_get0_data(val);
    STACK_OF(ASN1_TYPE) *top = d2i_ASN1_SEQUENCE_ANY(NULL, &p, ASN1_STRING_length(val));
    assert_non_null(top);
    int n = sk_ASN1_TYPE_num(top);
    assert_true(n <= max);
    *tcb_entries = -1;
    for (int i = 0; i < n; i++) {
        char oid[64];
        STACK_OF(ASN1_TYPE) *pr = pair_of(sk_ASN1_TYPE_value(top, i), oid, sizeof oid);
        arcs[i] = atoi(oid + strlen("1.2.840.113741.1.13.1."));
        const ASN1_TYPE *v = sk_ASN1_TYPE_value(pr, 1);
        if (arcs[i] == 2) {
            const unsigned char *q = v->value.sequence->data;
            STACK_OF(ASN1_TYPE) *in = d2i_ASN1_SEQUENCE_ANY(NULL, &q, v->value.sequence->length);
            assert_non_null(in);
            *tcb_entries = sk_ASN1_TYPE_num(in);
            sk_ASN1_TYPE_pop_free(in, ASN1_TYPE_free);
        }
        sk_ASN1_TYPE_pop_free(pr, ASN1_TYPE_free);
    }
    sk_ASN1_TYPE_pop_free(top, ASN1_TYPE_free);
    return n;
}

static void test_negative_knobs(void **state)
{
    att_sim_pki_t *p = new_pki(ATT_SIM_CA_PROCESSOR);
    att_diag_t d;
    int arcs[16], tcbn;

    /* SGX extension quirks. */
    att_sim_pck_ext_t e = att_sim_pki_opts(p)->pck;
    att_sim_pck_ext_quirks_t q = {.omit = 1u << 5,
                                  .duplicate = 1u << 4,
                                  .extra_arc = 9,
                                  .tcb_duplicate = 1,
                                  .tcb_duplicate_svn = 12};
    assert_int_equal(att_sim_pki_reissue_pck_quirks(p, &e, &q, &d), ATT_OK);
    X509 *x = cert_of(p, ATT_SIM_PCK);
    assert_int_equal(sgx_ext_arcs(x, arcs, 16, &tcbn), 6);
    X509_free(x);
    static const int want[] = {1, 2, 3, 4, 4, 9};
    assert_memory_equal(arcs, want, sizeof want);
    assert_int_equal(tcbn, 19);
    q = (att_sim_pck_ext_quirks_t){.tcb_omit = 1u << 18};
    assert_int_equal(att_sim_pki_reissue_pck_quirks(p, &e, &q, &d), ATT_OK);
    x = cert_of(p, ATT_SIM_PCK);
    assert_int_equal(sgx_ext_arcs(x, arcs, 16, &tcbn), 5);
    X509_free(x);
    assert_int_equal(tcbn, 17);
    assert_int_equal(att_sim_pki_reissue_pck(p, &e, NULL, &d), ATT_OK); /* quirks reset */
    decoded_ext_t de;
    x = cert_of(p, ATT_SIM_PCK);
    decode_sgx_ext(x, &de);
    X509_free(x);
    assert_int_equal(de.n_top, 5);
    X509 *ca = cert_of(p, ATT_SIM_PCK_CA);

    /* CRL entry reasons and the two required extensions. */
    att_sim_serial_t rev = {{0x7F, 0x02}, 2};
    for (int reason = -1; reason <= 8; reason += 9) {
        att_sim_crl_opts_t co;
        att_sim_crl_opts_default(&co, ATT_SIM_PCK_CA, NOW);
        co.revoked = &rev;
        co.n_revoked = 1;
        co.reason = reason;
        co.omit_crl_number = reason < 0;
        co.omit_akid = reason > 0;
        uint8_t *der;
        size_t len;
        assert_int_equal(att_sim_crl_make(p, &co, &der, &len, &d), ATT_OK);
        X509_CRL *crl = crl_of(der, len);
        free(der);
        assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1);
        assert_int_equal(X509_CRL_get_ext_by_NID(crl, NID_crl_number, -1) >= 0, reason > 0);
        assert_int_equal(X509_CRL_get_ext_by_NID(crl, NID_authority_key_identifier, -1) >= 0,
                         reason < 0);
        X509_REVOKED *r = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), 0);
        ASN1_ENUMERATED *why = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
        if (reason < 0)
            assert_null(why);
        else
            assert_int_equal(ASN1_ENUMERATED_get(why), reason);
        ASN1_ENUMERATED_free(why);
        X509_CRL_free(crl);
    }
    X509_free(ca);

    /* QE identity MISCSELECT as the report's little-endian bytes. */
    att_sim_qe_identity_t qi;
    att_sim_qe_identity_default(&qi, ATT_TEE_SGX, NOW);
    qi.miscselect = 1;
    qi.miscselect_mask = 0xFFFFFFFEu;
    qi.levels[0].st.tcb_date_text = "";
    char *json;
    size_t len;
    assert_int_equal(att_sim_qe_identity_sign(p, &qi, &json, &len, &d), ATT_OK);
    json_t *o = check_signed_json(p, json, len, "enclaveIdentity");
    free(json);
    assert_string_equal(json_string_value(json_object_get(o, "miscselect")), "01000000");
    assert_string_equal(json_string_value(json_object_get(o, "miscselectMask")), "FEFFFFFF");
    assert_null(json_object_get(json_array_get(json_object_get(o, "tcbLevels"), 0), "tcbDate"));
    json_decref(o);

    /* TCB info: tcbType, a module in an SGX TCB info, tdxModuleIdentities absent or empty, a
     * verbatim tcbDate. */
    att_sim_tcb_info_t t;
    att_sim_tcb_info_default(&t, p, ATT_TEE_SGX, NOW);
    t.tcb_type = 1;
    t.module_in_sgx = true;
    t.levels[0].st.tcb_date_text = "yesterday";
    assert_int_equal(att_sim_tcb_info_sign(p, &t, &json, &len, &d), ATT_OK);
    o = check_signed_json(p, json, len, "tcbInfo");
    free(json);
    assert_int_equal(json_integer_value(json_object_get(o, "tcbType")), 1);
    assert_non_null(json_object_get(o, "tdxModule"));
    assert_null(json_object_get(o, "tdxModuleIdentities"));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(o, "tcbLevels"), 0), "tcbDate")),
                        "yesterday");
    json_decref(o);
    att_sim_tcb_info_default(&t, p, ATT_TEE_TDX, NOW);
    t.n_module_ids = 0;
    t.empty_module_ids = true;
    t.omit_tcb_type = true;
    assert_int_equal(att_sim_tcb_info_sign(p, &t, &json, &len, &d), ATT_OK);
    o = check_signed_json(p, json, len, "tcbInfo");
    free(json);
    assert_null(json_object_get(o, "tcbType"));
    assert_int_equal(json_array_size(json_object_get(o, "tdxModuleIdentities")), 0);
    assert_true(json_is_array(json_object_get(o, "tdxModuleIdentities")));
    json_decref(o);
    att_sim_pki_free(p);
}

/* ---- quotes -----------------------------------------------------------------------------------
 */

typedef struct {
    size_t signed_len;
    const uint8_t *sig, *ak, *qe_report, *qe_sig, *auth;
    size_t auth_len;
    const uint8_t *pem;
    size_t pem_len;
    size_t end;
} quote_parts_t;

/* Walk the documented layout by hand. */
static void split_quote(const uint8_t *q, size_t len, quote_parts_t *qp)
{
    uint16_t version = rd16(q);
    size_t off;
    if (version == 3) {
        off = 48 + 384;
    } else if (version == 4) {
        off = 48 + (rd32(q + 4) == 0x81 ? 584 : 384);
    } else {
        assert_int_equal(version, 5);
        off = 48 + 6 + rd32(q + 50);
    }
    qp->signed_len = off;
    uint32_t sdl = rd32(q + off);
    off += 4;
    assert_true(off + sdl <= len);
    qp->end = off + sdl;
    qp->sig = q + off;
    qp->ak = q + off + 64;
    off += 128;
    if (version != 3) {
        assert_int_equal(rd16(q + off), 6);
        assert_int_equal(rd32(q + off + 2), qp->end - off - 6);
        off += 6;
    }
    qp->qe_report = q + off;
    qp->qe_sig = q + off + 384;
    off += 448;
    qp->auth_len = rd16(q + off);
    qp->auth = q + off + 2;
    off += 2 + qp->auth_len;
    assert_int_equal(rd16(q + off), 5);
    qp->pem_len = rd32(q + off + 2);
    qp->pem = q + off + 6;
    assert_int_equal(off + 6 + qp->pem_len, qp->end);
}

static void check_quote(const att_sim_pki_t *p, const uint8_t *q, size_t len, quote_parts_t *qp)
{
    split_quote(q, len, qp);
    assert_int_equal(qp->end, len);
    /* Quote signature by the attestation key over exactly the signed region. */
    assert_true(verify_raw_key(qp->ak, q, qp->signed_len, qp->sig));
    assert_false(verify_raw_key(qp->ak, q, qp->signed_len - 1, qp->sig));
    /* QE report signed by the PCK leaf. */
    X509 *leaf = cert_of(p, ATT_SIM_PCK);
    assert_true(verify_raw(leaf, qp->qe_report, 384, qp->qe_sig));
    X509_free(leaf);
    /* Binding: SHA-256(ak || auth) || 0^32. */
    uint8_t h[32], buf[64 + 64], zero[32] = {0};
    memcpy(buf, qp->ak, 64);
    memcpy(buf + 64, qp->auth, qp->auth_len);
    SHA256(buf, 64 + qp->auth_len, h);
    assert_memory_equal(qp->qe_report + 320, h, 32);
    assert_memory_equal(qp->qe_report + 352, zero, 32);
    /* Chain: leaf, PCK CA, root PEM, NUL-terminated. */
    att_slice_t l = att_sim_pki_cert_pem(p, ATT_SIM_PCK),
                c = att_sim_pki_cert_pem(p, ATT_SIM_PCK_CA),
                r = att_sim_pki_cert_pem(p, ATT_SIM_ROOT);
    assert_int_equal(qp->pem_len, l.len + c.len + r.len + 1);
    assert_memory_equal(qp->pem, l.ptr, l.len);
    assert_memory_equal(qp->pem + l.len, c.ptr, c.len);
    assert_memory_equal(qp->pem + l.len + c.len, r.ptr, r.len);
    assert_int_equal(qp->pem[qp->pem_len - 1], 0);
}

static void test_quote_sgx_v3(void **state)
{
    att_sim_pki_t *p = new_pki(ATT_SIM_CA_PROCESSOR);
    att_sim_quote_opts_t o;
    att_sim_quote_opts_default(&o, ATT_TEE_SGX, 3);
    memcpy(o.sgx.report_data, "hello, quote", 12);
    o.sgx.isvsvn = 7;
    o.sgx.configsvn = 0x0203;
    o.sgx.isvfamilyid[0] = 0xFA;
    uint8_t *q;
    size_t len;
    att_diag_t d;
    assert_int_equal(att_sim_quote_build(p, &o, &q, &len, &d), ATT_OK);
    quote_parts_t qp;
    check_quote(p, q, len, &qp);
    assert_int_equal(qp.signed_len, 432);
    assert_int_equal(rd16(q), 3);
    assert_int_equal(rd16(q + 2), 2);
    assert_int_equal(rd32(q + 4), 0);
    assert_int_equal(rd16(q + 8), 8);
    assert_int_equal(rd16(q + 10), 13);
    static const uint8_t intel[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                      0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};
    assert_memory_equal(q + 12, intel, 16);
    const uint8_t *body = q + 48;
    assert_memory_equal(body + 64, o.sgx.mrenclave, 32);
    assert_memory_equal(body + 128, o.sgx.mrsigner, 32);
    assert_memory_equal(body + 48, o.sgx.attributes, 16);
    assert_int_equal(rd16(body + 256), 1);
    assert_int_equal(rd16(body + 258), 7);
    assert_int_equal(rd16(body + 260), 0x0203);
    assert_int_equal(body[304], 0xFA);
    assert_memory_equal(body + 320, o.sgx.report_data, 64);
    /* QE report fields. */
    assert_memory_equal(qp.qe_report + 128, o.qe.mrsigner, 32);
    assert_int_equal(rd16(qp.qe_report + 256), 1);
    assert_int_equal(rd16(qp.qe_report + 258), 8);
    assert_int_equal(qp.auth_len, 32);
    assert_int_equal(qp.auth[31], 0x1f);
    free(q);

    /* A fixed attestation key is used as given. */
    uint8_t scalar[32];
    for (int i = 0; i < 32; i++)
        scalar[i] = (uint8_t)(i + 1);
    o.attest_key = scalar;
    o.pem_nul = true;
    uint8_t *q2;
    size_t len2;
    assert_int_equal(att_sim_quote_build(p, &o, &q, &len, &d), ATT_OK);
    assert_int_equal(att_sim_quote_build(p, &o, &q2, &len2, &d), ATT_OK);
    quote_parts_t a, b;
    check_quote(p, q, len, &a);
    check_quote(p, q2, len2, &b);
    assert_memory_equal(a.ak, b.ak, 64);
    free(q);
    free(q2);
    uint8_t zero[32] = {0};
    o.attest_key = zero;
    assert_int_equal(att_sim_quote_build(p, &o, &q, &len, &d), ATT_E_ARG);

    /* v3 TDX is not a thing. */
    att_sim_quote_opts_default(&o, ATT_TEE_TDX, 3);
    assert_int_equal(att_sim_quote_build(p, &o, &q, &len, &d), ATT_E_ARG);
    att_sim_pki_free(p);
}

static void test_quote_tdx_v4_v5(void **state)
{
    att_sim_pki_t *p = new_pki(ATT_SIM_CA_PLATFORM);
    att_sim_quote_opts_t o;
    att_sim_quote_opts_default(&o, ATT_TEE_TDX, 4);
    memset(o.td.report_data, 0xAB, 64);
    memset(o.td.rtmr[3], 0x33, 48);
    uint8_t *q;
    size_t len;
    att_diag_t d;
    quote_parts_t qp;
    assert_int_equal(att_sim_quote_build(p, &o, &q, &len, &d), ATT_OK);
    check_quote(p, q, len, &qp);
    assert_int_equal(qp.signed_len, 632);
    assert_int_equal(rd16(q), 4);
    assert_int_equal(rd32(q + 4), 0x81);
    assert_int_equal(rd16(q + 8), 0);
    const uint8_t *body = q + 48;
    assert_memory_equal(body, o.td.tee_tcb_svn, 16);
    assert_int_equal(body[0], 3);
    assert_int_equal(body[1], 1);
    assert_memory_equal(body + 136, o.td.mrtd, 48);
    assert_memory_equal(body + 120, o.td.td_attributes, 8);
    assert_memory_equal(body + 472, o.td.rtmr[3], 48);
    assert_memory_equal(body + 520, o.td.report_data, 64);
    assert_memory_equal(qp.qe_report + 128, o.qe.mrsigner, 32);
    assert_int_equal(rd16(qp.qe_report + 256), 2);
    free(q);

    /* v5 with TD 1.5 body: descriptor, 702-byte signed region. */
    att_sim_quote_opts_default(&o, ATT_TEE_TDX, 5);
    assert_int_equal(o.body_type, ATT_BODY_TD15);
    o.td.tee_tcb_svn2[0] = 9;
    memset(o.td.mrservicetd, 0x5E, 48);
    assert_int_equal(att_sim_quote_build(p, &o, &q, &len, &d), ATT_OK);
    check_quote(p, q, len, &qp);
    assert_int_equal(qp.signed_len, 702);
    assert_int_equal(rd16(q + 48), 3);
    assert_int_equal(rd32(q + 50), 648);
    assert_int_equal(q[54 + 584], 9);
    assert_memory_equal(q + 54 + 600, o.td.mrservicetd, 48);
    free(q);

    /* v5 with TD 1.0 body and v5/v4 SGX. */
    o.body_type = ATT_BODY_TD10;
    assert_int_equal(att_sim_quote_build(p, &o, &q, &len, &d), ATT_OK);
    check_quote(p, q, len, &qp);
    assert_int_equal(qp.signed_len, 54 + 584);
    free(q);
    att_sim_quote_opts_default(&o, ATT_TEE_SGX, 5);
    assert_int_equal(att_sim_quote_build(p, &o, &q, &len, &d), ATT_OK);
    check_quote(p, q, len, &qp);
    assert_int_equal(qp.signed_len, 54 + 384);
    free(q);
    att_sim_quote_opts_default(&o, ATT_TEE_SGX, 4);
    assert_int_equal(att_sim_quote_build(p, &o, &q, &len, &d), ATT_OK);
    check_quote(p, q, len, &qp);
    assert_int_equal(qp.signed_len, 432);
    assert_int_equal(rd32(q + 4), 0);
    free(q);
    /* Inconsistent v5 body. */
    att_sim_quote_opts_default(&o, ATT_TEE_SGX, 5);
    o.body_type = ATT_BODY_TD15;
    assert_int_equal(att_sim_quote_build(p, &o, &q, &len, &d), ATT_E_ARG);
    att_sim_pki_free(p);
}

/* ---- collateral directory ------------------------------------------------------------------ */

static void test_collateral_dir(void **state)
{
    att_sim_pki_t *p = new_pki(ATT_SIM_CA_PROCESSOR);
    att_sim_collateral_opts_t co;
    att_sim_collateral_opts_default(&co, p, ATT_TEE_SGX, NOW);
    att_sim_collateral_t c;
    att_diag_t d;
    assert_int_equal(att_sim_collateral_make(p, &co, &c, &d), ATT_OK);

    char tmpl[] = "/tmp/att_sim_XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char sub[512];
    snprintf(sub, sizeof sub, "%s/coll", dir);
    mode_t old = umask(077); /* the requested modes hold whatever the umask */
    assert_int_equal(att_sim_collateral_write_dir(&c, sub, &d), ATT_OK);
    /* Writing twice replaces the files. */
    assert_int_equal(att_sim_collateral_write_dir(&c, sub, &d), ATT_OK);
    umask(old);
    const struct {
        const char *name;
        const att_sim_buf_t *b;
    } files[] = {{"tcb_info.json", &c.tcb_info},
                 {"tcb_info_issuer_chain.pem", &c.tcb_info_chain},
                 {"qe_identity.json", &c.qe_identity},
                 {"qe_identity_issuer_chain.pem", &c.qe_identity_chain},
                 {"pck_crl.der", &c.pck_crl},
                 {"pck_crl_issuer_chain.pem", &c.pck_crl_chain},
                 {"root_ca_crl.der", &c.root_ca_crl},
                 {"trust_root.pem", &c.trust_root}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", sub, files[i].name);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0644);
        uint8_t *buf;
        size_t n;
        assert_int_equal(att_read_file(path, 1 << 20, &buf, &n, &d), ATT_OK);
        assert_int_equal(n, files[i].b->len);
        assert_memory_equal(buf, files[i].b->ptr, n);
        free(buf);
        unlink(path);
    }
    rmdir(sub);
    rmdir(dir);

    /* Chains: signer first, root last. */
    att_slice_t root = att_sim_pki_cert_pem(p, ATT_SIM_ROOT),
                signer = att_sim_pki_cert_pem(p, ATT_SIM_TCB_SIGNER),
                ca = att_sim_pki_cert_pem(p, ATT_SIM_PCK_CA);
    assert_int_equal(c.tcb_info_chain.len, signer.len + root.len);
    assert_memory_equal(c.tcb_info_chain.ptr, signer.ptr, signer.len);
    assert_memory_equal(c.tcb_info_chain.ptr + signer.len, root.ptr, root.len);
    assert_memory_equal(c.pck_crl_chain.ptr, ca.ptr, ca.len);
    assert_int_equal(c.trust_root.len, root.len);

    att_dcap_collateral_raw_t raw;
    att_sim_collateral_raw(&c, &raw);
    assert_ptr_equal(raw.tcb_info.ptr, c.tcb_info.ptr);
    assert_int_equal(raw.root_ca_crl.len, c.root_ca_crl.len);
    json_decref(check_signed_json(p, (const char *)c.qe_identity.ptr, c.qe_identity.len,
                                  "enclaveIdentity"));

    /* An unwritable place is an I/O error with the path in the message. */
    assert_int_equal(att_sim_collateral_write_dir(&c, "/proc/att_sim_nope/x", &d), ATT_E_IO);
    assert_non_null(strstr(d.msg, "/proc/att_sim_nope/x"));
    att_sim_collateral_free(&c);
    att_sim_collateral_free(&c); /* idempotent */
    att_sim_pki_free(p);
}

/* ---- persistence -------------------------------------------------------------------------------
 */

static void test_pki_save_load(void **state)
{
    for (int ca = 0; ca < 2; ca++) {
        att_sim_pki_t *p = new_pki((att_sim_ca_type_t)ca), *q = NULL;
        char tmpl[] = "/tmp/att_simpki_XXXXXX";
        char *dir = mkdtemp(tmpl);
        assert_non_null(dir);
        att_diag_t d;
        mode_t old = umask(0); /* the requested modes hold whatever the umask */
        assert_int_equal(att_sim_pki_save(p, dir, &d), ATT_OK);
        umask(old);
        static const char *names[] = {"root", "pck_ca", "pck", "tcb_signer"};
        for (int i = 0; i < 4; i++) {
            char path[256];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s.pem", dir, names[i]);
            assert_int_equal(stat(path, &st), 0);
            assert_int_equal(st.st_mode & 0777, 0644);
            snprintf(path, sizeof path, "%s/%s.key", dir, names[i]);
            assert_int_equal(stat(path, &st), 0);
            assert_int_equal(st.st_mode & 0777, 0600);
        }
        assert_int_equal(att_sim_pki_load(dir, &q, &d), ATT_OK);
        const att_sim_pki_opts_t *a = att_sim_pki_opts(p), *b = att_sim_pki_opts(q);
        assert_int_equal(b->ca, ca);
        assert_string_equal(b->root_cn, "attestd Test SGX Root CA");
        assert_string_equal(b->org, "attestd test hierarchy");
        assert_memory_equal(&b->pck, &a->pck, sizeof a->pck);
        for (int i = 0; i < ATT_SIM_N_CERTS; i++) {
            att_slice_t x = att_sim_pki_cert_der(p, (att_sim_cert_t)i),
                        y = att_sim_pki_cert_der(q, (att_sim_cert_t)i);
            assert_int_equal(x.len, y.len);
            assert_memory_equal(x.ptr, y.ptr, x.len);
            assert_int_equal(b->cert[i].not_before, a->cert[i].not_before);
            assert_int_equal(b->cert[i].not_after, a->cert[i].not_after);
            assert_int_equal(b->cert[i].serial.len, a->cert[i].serial.len);
            assert_memory_equal(b->cert[i].serial.bytes, a->cert[i].serial.bytes,
                                a->cert[i].serial.len);
        }
        /* The loaded keys sign: a quote from the loaded hierarchy checks out. */
        att_sim_quote_opts_t o;
        att_sim_quote_opts_default(&o, ca ? ATT_TEE_TDX : ATT_TEE_SGX, ca ? 4 : 3);
        uint8_t *quote;
        size_t len;
        quote_parts_t qp;
        assert_int_equal(att_sim_quote_build(q, &o, &quote, &len, &d), ATT_OK);
        check_quote(p, quote, len, &qp);
        free(quote);
        char *json;
        size_t jlen;
        att_sim_qe_identity_t qi;
        att_sim_qe_identity_default(&qi, ATT_TEE_SGX, NOW);
        assert_int_equal(att_sim_qe_identity_sign(q, &qi, &json, &jlen, &d), ATT_OK);
        json_decref(check_signed_json(p, json, jlen, "enclaveIdentity"));
        free(json);
        att_sim_pki_free(q);

        /* A key that does not belong to its certificate is refused. */
        char from[256], to[256];
        snprintf(from, sizeof from, "%s/root.key", dir);
        snprintf(to, sizeof to, "%s/pck.key", dir);
        assert_int_equal(rename(from, to), 0);
        q = (att_sim_pki_t *)1;
        assert_int_equal(att_sim_pki_load(dir, &q, &d), ATT_E_IO); /* root.key is gone */
        assert_null(q);
        assert_int_equal(att_sim_pki_save(p, dir, &d), ATT_OK);
        snprintf(from, sizeof from, "%s/tcb_signer.key", dir);
        assert_int_equal(rename(from, to), 0);
        assert_int_equal(att_sim_pki_save(p, dir, &d), ATT_OK); /* restore everything */
        /* Overwrite pck.key with the TCB signer's key. */
        uint8_t *kb;
        size_t kn;
        snprintf(from, sizeof from, "%s/tcb_signer.key", dir);
        assert_int_equal(att_read_file(from, 1 << 16, &kb, &kn, &d), ATT_OK);
        FILE *f = fopen(to, "wb");
        assert_non_null(f);
        fwrite(kb, 1, kn, f);
        fclose(f);
        free(kb);
        assert_int_equal(att_sim_pki_load(dir, &q, &d), ATT_E_CERT_KEY);
        assert_non_null(strstr(d.msg, "pck.key"));

        for (int i = 0; i < 4; i++) {
            char path[256];
            snprintf(path, sizeof path, "%s/%s.pem", dir, names[i]);
            unlink(path);
            snprintf(path, sizeof path, "%s/%s.key", dir, names[i]);
            unlink(path);
        }
        rmdir(dir);
        att_sim_pki_free(p);
    }
    att_sim_pki_t *q;
    att_diag_t d;
    assert_int_equal(att_sim_pki_load("/nonexistent/att_sim", &q, &d), ATT_E_IO);
}

/* ---- misuse -------------------------------------------------------------------------------------
 */

static void test_null_arguments(void **state)
{
    att_diag_t d;
    att_sim_pki_t *p = new_pki(ATT_SIM_CA_PROCESSOR);
    uint8_t *buf;
    size_t len;
    char *json;
    att_sim_crl_opts_t crl;
    att_sim_crl_opts_default(&crl, ATT_SIM_PCK_CA, NOW);
    att_sim_tcb_info_t t;
    att_sim_tcb_info_default(&t, p, ATT_TEE_SGX, NOW);
    att_sim_qe_identity_t q;
    att_sim_qe_identity_default(&q, ATT_TEE_SGX, NOW);
    att_sim_quote_opts_t qo;
    att_sim_quote_opts_default(&qo, ATT_TEE_SGX, 3);
    att_sim_collateral_opts_t co;
    att_sim_collateral_opts_default(&co, p, ATT_TEE_SGX, NOW);
    att_sim_collateral_t c;

    assert_int_equal(att_sim_pki_new(NULL, &p, &d), ATT_E_ARG);
    assert_int_equal(att_sim_pki_reissue_pck(NULL, NULL, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_sim_pki_reissue_pck_quirks(NULL, NULL, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_sim_pki_save(NULL, "/tmp", &d), ATT_E_ARG);
    assert_int_equal(att_sim_pki_save(p, NULL, &d), ATT_E_ARG);
    assert_int_equal(att_sim_pki_load(NULL, &p, &d), ATT_E_ARG);
    assert_int_equal(att_sim_crl_make(NULL, &crl, &buf, &len, &d), ATT_E_ARG);
    assert_int_equal(att_sim_crl_make(p, NULL, &buf, &len, &d), ATT_E_ARG);
    assert_int_equal(att_sim_crl_make(p, &crl, NULL, &len, &d), ATT_E_ARG);
    crl.issuer = ATT_SIM_N_CERTS;
    assert_int_equal(att_sim_crl_make(p, &crl, &buf, &len, &d), ATT_E_ARG);
    assert_int_equal(att_sim_tcb_info_sign(NULL, &t, &json, &len, &d), ATT_E_ARG);
    assert_int_equal(att_sim_tcb_info_sign(p, NULL, &json, &len, &d), ATT_E_ARG);
    assert_int_equal(att_sim_qe_identity_sign(p, NULL, &json, &len, &d), ATT_E_ARG);
    assert_int_equal(att_sim_qe_identity_sign(p, &q, NULL, &len, &d), ATT_E_ARG);
    assert_int_equal(att_sim_quote_build(NULL, &qo, &buf, &len, &d), ATT_E_ARG);
    assert_int_equal(att_sim_quote_build(p, NULL, &buf, &len, &d), ATT_E_ARG);
    assert_int_equal(att_sim_quote_build(p, &qo, NULL, &len, &d), ATT_E_ARG);
    qo.version = 6;
    assert_int_equal(att_sim_quote_build(p, &qo, &buf, &len, &d), ATT_E_ARG);
    qo.version = 3;
    qo.qe_auth_len = 65;
    assert_int_equal(att_sim_quote_build(p, &qo, &buf, &len, &d), ATT_E_ARG);
    assert_int_equal(att_sim_collateral_make(NULL, &co, &c, &d), ATT_E_ARG);
    assert_int_equal(att_sim_collateral_make(p, NULL, &c, &d), ATT_E_ARG);
    assert_int_equal(att_sim_collateral_write_dir(NULL, "/tmp", &d), ATT_E_ARG);
    /* A NULL diag is allowed everywhere. */
    assert_int_equal(att_sim_pki_new(NULL, &p, NULL), ATT_E_ARG);
    assert_null(att_sim_pki_cert_der(NULL, ATT_SIM_ROOT).ptr);
    assert_null(att_sim_pki_cert_pem(p, ATT_SIM_N_CERTS).ptr);
    assert_int_equal(att_sim_pki_serial(NULL, ATT_SIM_PCK).len, 0);
    att_sim_pki_free(NULL);
    att_sim_collateral_free(NULL);
    att_sim_pki_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subjects_and_shapes),
        cmocka_unit_test(test_chains_verify),
        cmocka_unit_test(test_configured_validity_and_serials),
        cmocka_unit_test(test_sgx_extension_values),
        cmocka_unit_test(test_sgx_extension_der_matches_intel),
        cmocka_unit_test(test_crls),
        cmocka_unit_test(test_tcb_info_sgx),
        cmocka_unit_test(test_tcb_info_tdx_and_qe_identity),
        cmocka_unit_test(test_negative_knobs),
        cmocka_unit_test(test_quote_sgx_v3),
        cmocka_unit_test(test_quote_tdx_v4_v5),
        cmocka_unit_test(test_collateral_dir),
        cmocka_unit_test(test_pki_save_load),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
