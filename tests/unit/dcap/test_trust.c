/* test_trust.c - trust stores hold roots of any accepted key type (RSA incl. RSA-PSS signatures,
 * EC P-256, EC P-384) that are what a chain root must be (a self-signed CA: the same rule
 * att_check_root applies to the root of every chain); the generic chain check verifies chains
 * under such roots; and the DCAP verifier still requires Intel's P-256 root shape: a quote or
 * collateral whose chain ends at a trusted RSA or P-384 root is refused with ATT_E_CERT_KEY
 * (issue 11, item 3). Keys and certificates are generated here with OpenSSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/dcap.h"
#include "attest/sim.h"
#include "attest/trust.h"
#include "crypto/crypto.h" /* att_trust_check_chain */

#define NOW ((att_time_t)1751328000) /* 2025-07-01T00:00:00Z */
#define DAY (24 * 3600LL)

/* Keys made once: RSA-4096 generation is slow. */
static EVP_PKEY *rsa4096, *rsa1024, *p384, *p384b, *p256, *p521;

static int setup(void **state)
{
    rsa4096 = EVP_RSA_gen(4096);
    rsa1024 = EVP_RSA_gen(1024);
    p384 = EVP_EC_gen("P-384");
    p384b = EVP_EC_gen("P-384");
    p256 = EVP_EC_gen("P-256");
    p521 = EVP_EC_gen("P-521");
    return rsa4096 && rsa1024 && p384 && p384b && p256 && p521 ? 0 : -1;
}

static int teardown(void **state)
{
    EVP_PKEY *k[] = {rsa4096, rsa1024, p384, p384b, p256, p521};
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
        EVP_PKEY_free(k[i]);
    return 0;
}

/* Sign x with key: RSA-PSS (salt = digest length) when pss, else the key's usual scheme. */
static void sign(X509 *x, EVP_PKEY *key, const EVP_MD *md, bool pss)
{
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    assert_non_null(mc);
    assert_int_equal(EVP_DigestSignInit(mc, &pc, md, NULL, key), 1);
    if (pss) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    assert_true(X509_sign_ctx(x, mc) > 0);
    EVP_MD_CTX_free(mc);
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

typedef struct {
    const char *cn;
    EVP_PKEY *key;      /* the certificate's public key */
    X509 *issuer;       /* NULL: self-signed */
    EVP_PKEY *sign_key; /* the issuer's private key (the key itself when self-signed) */
    const char *bc;     /* basicConstraints value, or NULL for none */
    const EVP_MD *md;
    bool pss;
    att_time_t nb, na;
} cert_spec_t;

static X509 *mk_cert(const cert_spec_t *s)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_true(X509_set_version(x, X509_VERSION_3));
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)s->nb));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)s->na));
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)s->cn, -1, -1, 0);
    X509_set_issuer_name(x, s->issuer ? X509_get_subject_name(s->issuer) : n);
    X509_set_pubkey(x, s->key);
    X509 *iss = s->issuer ? s->issuer : x;
    add_ext(x, iss, NID_subject_key_identifier, "hash");
    if (s->issuer != NULL)
        add_ext(x, iss, NID_authority_key_identifier, "keyid:always");
    if (s->bc != NULL)
        add_ext(x, iss, NID_basic_constraints, s->bc);
    sign(x, s->sign_key, s->md ? s->md : EVP_sha256(), s->pss);
    return x;
}

/* DER of a self-signed certificate with key k; `bc` as in cert_spec_t. Caller frees. */
static uint8_t *self_signed(EVP_PKEY *k, const char *bc, bool pss, size_t *len)
{
    cert_spec_t s = {.cn = "Test Root",
                     .key = k,
                     .sign_key = k,
                     .bc = bc,
                     .pss = pss,
                     .md = EVP_sha384(),
                     .nb = NOW - DAY,
                     .na = NOW + 365 * DAY};
    X509 *x = mk_cert(&s);
    uint8_t *der = NULL;
    int n_der = i2d_X509(x, &der);
    assert_true(n_der > 0);
    *len = (size_t)n_der;
    X509_free(x);
    return der;
}

/* Add a self-signed root with key k to a new DCAP store. */
static att_err_t add(EVP_PKEY *k, const char *bc, bool pss, att_diag_t *d)
{
    size_t len;
    uint8_t *der = self_signed(k, bc, pss, &len);
    att_trust_t *t = att_trust_new();
    assert_non_null(t);
    att_err_t e = att_trust_add_root(t, der, len, d);
    att_trust_free(t);
    OPENSSL_free(der);
    return e;
}

/* ---- the store ---- */

static void test_ca_root_accepted(void **state)
{
    att_diag_t d;
    assert_int_equal(add(p256, "critical,CA:TRUE", false, &d), ATT_OK);
}

static void test_non_ca_refused(void **state)
{
    att_diag_t d;
    assert_int_equal(add(p256, "CA:FALSE", false, &d), ATT_E_CERT_SIGNATURE);
    assert_non_null(strstr(d.msg, "not a self-signed CA"));
    assert_int_equal(add(p256, NULL, false, &d), ATT_E_CERT_SIGNATURE);
    /* The same rule for the other key types. */
    assert_int_equal(add(rsa4096, "CA:FALSE", true, &d), ATT_E_CERT_SIGNATURE);
    assert_int_equal(add(p384, NULL, false, &d), ATT_E_CERT_SIGNATURE);
}

/* AMD's ARK shape (RSA-4096, self-signed with RSASSA-PSS/SHA-384), an RSA-4096 root signed with
 * PKCS#1 v1.5, and a P-384 root: each accepted, into an empty store and into DCAP's. */
static void test_rsa_and_p384_roots_accepted(void **state)
{
    struct {
        EVP_PKEY *k;
        bool pss;
    } roots[] = {{rsa4096, true}, {rsa4096, false}, {p384, false}};
    att_trust_t *empty = att_trust_new_empty(), *dcap = att_trust_new();
    assert_non_null(empty);
    assert_non_null(dcap);
    assert_int_equal(att_trust_count(empty), 0);
    assert_int_equal(att_trust_count(dcap), 1); /* the pinned Intel root */
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        uint8_t *der = self_signed(roots[i].k, "critical,CA:TRUE", roots[i].pss, &len);
        att_diag_t d;
        att_err_t e = att_trust_add_root(empty, der, len, &d);
        if (e != ATT_OK)
            fail_msg("root %zu: %s: %s", i, att_err_name(e), d.msg);
        assert_int_equal(att_trust_add_root(dcap, der, len, &d), ATT_OK);
        OPENSSL_free(der);
    }
    /* Pinned by key: the PKCS#1 and PSS certificates of one RSA key are one anchor. */
    assert_int_equal(att_trust_count(empty), 2);
    assert_int_equal(att_trust_count(dcap), 3);
    att_trust_free(empty);
    att_trust_free(dcap);
}

/* Key types outside the accepted set: P-521, RSA under 2048 bits. */
static void test_other_key_types_refused(void **state)
{
    att_diag_t d;
    assert_int_equal(add(p521, "critical,CA:TRUE", false, &d), ATT_E_CERT_KEY);
    assert_non_null(strstr(d.msg, "EC secp521r1"));
    assert_int_equal(add(rsa1024, "critical,CA:TRUE", false, &d), ATT_E_CERT_KEY);
    assert_non_null(strstr(d.msg, "RSA-1024"));
}

/* ---- the generic chain check ---- */

/* AMD's shape: RSA-4096 root (PSS) -> P-384 CA signed with RSA-PSS -> P-384 leaf (ECDSA
 * SHA-384); and a P-384 root -> P-256 leaf. Both verify at NOW; each broken link is refused. */
static void test_chain_under_rsa_and_p384_roots(void **state)
{
    att_time_t nb = NOW - DAY, na = NOW + 30 * DAY;
    cert_spec_t rs = {.cn = "Test ARK",
                      .key = rsa4096,
                      .sign_key = rsa4096,
                      .bc = "critical,CA:TRUE",
                      .md = EVP_sha384(),
                      .pss = true,
                      .nb = nb,
                      .na = na};
    X509 *root = mk_cert(&rs);
    cert_spec_t cs = {.cn = "Test ASK",
                      .key = p384,
                      .issuer = root,
                      .sign_key = rsa4096,
                      .bc = "critical,CA:TRUE",
                      .md = EVP_sha384(),
                      .pss = true,
                      .nb = nb,
                      .na = na};
    X509 *ca = mk_cert(&cs);
    cert_spec_t ls = {.cn = "Test VCEK",
                      .key = p384b,
                      .issuer = ca,
                      .sign_key = p384,
                      .md = EVP_sha384(),
                      .nb = nb,
                      .na = NOW + DAY};
    X509 *leaf = mk_cert(&ls);
    cert_spec_t es = {.cn = "Test EC Root",
                      .key = p384,
                      .sign_key = p384,
                      .bc = "critical,CA:TRUE",
                      .md = EVP_sha384(),
                      .nb = nb,
                      .na = na};
    X509 *eroot = mk_cert(&es);
    cert_spec_t e2 = {.cn = "Test EC Leaf",
                      .key = p256,
                      .issuer = eroot,
                      .sign_key = p384,
                      .md = EVP_sha384(),
                      .nb = nb,
                      .na = na};
    X509 *eleaf = mk_cert(&e2);

    att_trust_t *t = att_trust_new_empty();
    assert_non_null(t);
    uint8_t *der = NULL;
    int n = i2d_X509(root, &der);
    att_diag_t d;
    assert_int_equal(att_trust_add_root(t, der, (size_t)n, &d), ATT_OK);
    OPENSSL_free(der);

    X509 *chain[] = {leaf, ca, root};
    att_err_t e = att_trust_check_chain(t, chain, 3, NOW, "test chain", &d);
    if (e != ATT_OK)
        fail_msg("%s: %s", att_err_name(e), d.msg);
    X509 *echain[] = {eleaf, eroot};
    /* The P-384 root is not in the store yet. */
    assert_int_equal(att_trust_check_chain(t, echain, 2, NOW, "EC chain", &d),
                     ATT_E_CERT_UNTRUSTED_ROOT);
    der = NULL;
    n = i2d_X509(eroot, &der);
    assert_int_equal(att_trust_add_root(t, der, (size_t)n, &d), ATT_OK);
    OPENSSL_free(der);
    assert_int_equal(att_trust_check_chain(t, echain, 2, NOW, "EC chain", &d), ATT_OK);

    /* Time is the caller's: the leaf expires one day after NOW. */
    assert_int_equal(att_trust_check_chain(t, chain, 3, NOW + 2 * DAY, "test chain", &d),
                     ATT_E_CERT_EXPIRED);
    assert_int_equal(att_trust_check_chain(t, chain, 3, NOW - 2 * DAY, "test chain", &d),
                     ATT_E_CERT_NOT_YET_VALID);
    /* A leaf whose issuer is not the next certificate. */
    X509 *wrong[] = {eleaf, ca, root};
    assert_int_equal(att_trust_check_chain(t, wrong, 3, NOW, "test chain", &d), ATT_E_CERT_ISSUER);
    /* A leaf named as issued by the CA but signed by another key. */
    cert_spec_t fs = ls;
    fs.sign_key = p384b;
    X509 *forged = mk_cert(&fs);
    X509 *fchain[] = {forged, ca, root};
    assert_int_equal(att_trust_check_chain(t, fchain, 3, NOW, "test chain", &d),
                     ATT_E_CERT_SIGNATURE);
    /* An intermediate that is not a CA. */
    cert_spec_t ns = cs;
    ns.bc = "CA:FALSE";
    X509 *notca = mk_cert(&ns);
    X509 *nchain[] = {leaf, notca, root};
    assert_int_equal(att_trust_check_chain(t, nchain, 3, NOW, "test chain", &d),
                     ATT_E_CERT_CONSTRAINTS);
    /* A certificate with a key of another type (P-521). */
    cert_spec_t ks = ls;
    ks.key = p521;
    X509 *k521 = mk_cert(&ks);
    X509 *kchain[] = {k521, ca, root};
    assert_int_equal(att_trust_check_chain(t, kchain, 3, NOW, "test chain", &d), ATT_E_CERT_KEY);

    X509 *all[] = {root, ca, leaf, eroot, eleaf, forged, notca, k521};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        X509_free(all[i]);
    att_trust_free(t);
}

/* ---- DCAP keeps Intel's P-256 rule ---- */

static X509 *cert_of(att_slice_t der)
{
    const unsigned char *p = der.ptr;
    X509 *x = d2i_X509(NULL, &p, (long)der.len);
    assert_non_null(x);
    return x;
}

/* PEM of certificates, concatenated, into a malloc'd buffer. */
static att_slice_t pem_of(X509 *const *xs, size_t n)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(PEM_write_bio_X509(b, xs[i]), 1);
    char *p;
    long len = BIO_get_mem_data(b, &p);
    uint8_t *out = malloc((size_t)len);
    assert_non_null(out);
    memcpy(out, p, (size_t)len);
    BIO_free(b);
    return (att_slice_t){out, (size_t)len};
}

/* The simulated hierarchy re-rooted at `key`: a root with the same subject and extensions (so
 * the key identifiers still link), the PCK CA and TCB signer re-signed by it, and the root CA
 * CRL re-signed by it. PSS for RSA keys, as AMD's ARK signs. */
typedef struct {
    X509 *root, *pck_ca, *tcb, *pck;
    uint8_t *root_crl;
    size_t root_crl_len;
} rerooted_t;

static void resign(X509 *x, EVP_PKEY *key)
{
    bool rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
    sign(x, key, EVP_sha384(), rsa);
}

static void reroot(const att_sim_pki_t *pki, const att_sim_collateral_t *c, EVP_PKEY *key,
                   rerooted_t *r)
{
    X509 *old = cert_of(att_sim_pki_cert_der(pki, ATT_SIM_ROOT));
    r->root = X509_new();
    assert_non_null(r->root);
    assert_true(X509_set_version(r->root, X509_VERSION_3));
    assert_int_equal(X509_set_serialNumber(r->root, X509_get_serialNumber(old)), 1);
    assert_int_equal(X509_set1_notBefore(r->root, X509_get0_notBefore(old)), 1);
    assert_int_equal(X509_set1_notAfter(r->root, X509_get0_notAfter(old)), 1);
    X509_set_subject_name(r->root, X509_get_subject_name(old));
    X509_set_issuer_name(r->root, X509_get_subject_name(old));
    X509_set_pubkey(r->root, key);
    for (int i = 0; i < X509_get_ext_count(old); i++)
        assert_int_equal(X509_add_ext(r->root, X509_get_ext(old, i), -1), 1);
    resign(r->root, key);
    X509_free(old);
    r->pck_ca = cert_of(att_sim_pki_cert_der(pki, ATT_SIM_PCK_CA));
    resign(r->pck_ca, key);
    r->tcb = cert_of(att_sim_pki_cert_der(pki, ATT_SIM_TCB_SIGNER));
    resign(r->tcb, key);
    r->pck = cert_of(att_sim_pki_cert_der(pki, ATT_SIM_PCK));
    const unsigned char *p = c->root_ca_crl.ptr;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)c->root_ca_crl.len);
    assert_non_null(crl);
    bool rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    assert_int_equal(EVP_DigestSignInit(mc, &pc, EVP_sha384(), NULL, key), 1);
    if (rsa) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    assert_true(X509_CRL_sign_ctx(crl, mc) > 0);
    EVP_MD_CTX_free(mc);
    r->root_crl = NULL;
    int n = i2d_X509_CRL(crl, &r->root_crl);
    assert_true(n > 0);
    r->root_crl_len = (size_t)n;
    X509_CRL_free(crl);
}

static void rerooted_free(rerooted_t *r)
{
    X509_free(r->root);
    X509_free(r->pck_ca);
    X509_free(r->tcb);
    X509_free(r->pck);
    OPENSSL_free(r->root_crl);
}

/* A v3 quote with its PCK chain (the last field) replaced by `chain`. */
static uint8_t *splice_chain(const uint8_t *quote, size_t qlen, att_slice_t chain, size_t *out_len)
{
    att_quote_t q;
    att_diag_t d;
    assert_int_equal(att_quote_parse(quote, qlen, &q, &d), ATT_OK);
    assert_int_equal(q.version, 3);
    assert_int_equal(q.trailing, 0);
    size_t at = (size_t)(q.pck_chain.ptr - quote);
    assert_int_equal(at + q.pck_chain.len, qlen);
    size_t n = at + chain.len;
    uint8_t *out = malloc(n);
    assert_non_null(out);
    memcpy(out, quote, at);
    memcpy(out + at, chain.ptr, chain.len);
    uint32_t cl = (uint32_t)chain.len, sl = (uint32_t)(n - 436);
    for (int i = 0; i < 4; i++) {
        out[at - 4 + i] = (uint8_t)(cl >> (8 * i)); /* certification data size */
        out[432 + i] = (uint8_t)(sl >> (8 * i));    /* signature data size */
    }
    *out_len = n;
    return out;
}

/* Collateral and a quote whose chains end at a trusted RSA-4096 or P-384 root are refused with
 * ATT_E_CERT_KEY naming the key type, on each DCAP path: collateral (TCB info issuer chain), the
 * quote's PCK chain in att_dcap_verify, and att_dcap_quote_pck_info. A P-256 root re-rooted the
 * same way is the control: its collateral verifies, so the refusal is the key type's. */
static void test_dcap_refuses_non_p256_root(void **state)
{
    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, NOW);
    att_sim_pki_t *pki;
    att_diag_t d;
    assert_int_equal(att_sim_pki_new(&po, &pki, &d), ATT_OK);
    att_sim_collateral_opts_t co;
    att_sim_collateral_opts_default(&co, pki, ATT_TEE_SGX, NOW);
    att_sim_collateral_t c;
    assert_int_equal(att_sim_collateral_make(pki, &co, &c, &d), ATT_OK);
    att_sim_quote_opts_t qo;
    att_sim_quote_opts_default(&qo, ATT_TEE_SGX, 3);
    uint8_t *quote;
    size_t qlen;
    assert_int_equal(att_sim_quote_build(pki, &qo, &quote, &qlen, &d), ATT_OK);

    struct {
        EVP_PKEY *key;
        const char *name;
    } kinds[] = {{rsa4096, "RSA-4096"}, {p384, "EC P-384"}, {p256, NULL /* control */}};
    for (size_t k = 0; k < 3; k++) {
        rerooted_t r;
        reroot(pki, &c, kinds[k].key, &r);
        att_trust_t *t = att_trust_new();
        assert_non_null(t);
        att_slice_t rp = pem_of(&r.root, 1);
        assert_int_equal(att_trust_add_root(t, rp.ptr, rp.len, &d),
                         ATT_OK); /* the store takes it */
        assert_int_equal(att_trust_add_root(t, c.trust_root.ptr, c.trust_root.len, &d), ATT_OK);

        /* Collateral signed under the new root. */
        X509 *tcb_chain[] = {r.tcb, r.root}, *crl_chain[] = {r.pck_ca, r.root};
        att_slice_t tc = pem_of(tcb_chain, 2), cc = pem_of(crl_chain, 2);
        att_dcap_collateral_raw_t raw;
        att_sim_collateral_raw(&c, &raw);
        raw.tcb_info_chain = tc;
        raw.qe_identity_chain = tc;
        raw.pck_crl_chain = cc;
        raw.root_ca_crl = (att_slice_t){r.root_crl, r.root_crl_len};
        att_dcap_collateral_t *coll = NULL;
        att_err_t e = att_dcap_collateral_new(&raw, t, &coll, &d);
        if (kinds[k].name == NULL) {
            if (e != ATT_OK)
                fail_msg("control: %s: %s", att_err_name(e), d.msg);
        } else {
            if (e != ATT_E_CERT_KEY)
                fail_msg("%s root, collateral: %s: %s", kinds[k].name, att_err_name(e), d.msg);
            assert_non_null(strstr(d.msg, kinds[k].name));
            assert_non_null(strstr(d.msg, "ECDSA P-256"));
        }
        att_dcap_collateral_free(coll);

        /* A quote whose PCK chain ends at the new root, against the P-256 collateral. */
        X509 *pck_chain[] = {r.pck, r.pck_ca, r.root};
        att_slice_t pc = pem_of(pck_chain, 3);
        size_t slen;
        uint8_t *sq = splice_chain(quote, qlen, pc, &slen);
        att_quote_t q;
        assert_int_equal(att_quote_parse(sq, slen, &q, &d), ATT_OK);
        uint8_t fmspc[6];
        const char *ca;
        e = att_dcap_quote_pck_info(&q, NULL, t, fmspc, &ca, &d);
        assert_int_equal(e, kinds[k].name ? ATT_E_CERT_KEY : ATT_OK);
        att_sim_collateral_raw(&c, &raw);
        assert_int_equal(att_dcap_collateral_new(&raw, t, &coll, &d), ATT_OK);
        att_dcap_result_t res;
        e = att_dcap_verify(sq, slen, coll, t, NOW, &res);
        if (kinds[k].name != NULL) {
            if (e != ATT_E_CERT_KEY)
                fail_msg("%s root, quote: %s: %s", kinds[k].name, att_err_name(e), res.diag.msg);
            assert_non_null(strstr(res.diag.msg, "PCK chain"));
            assert_non_null(strstr(res.diag.msg, kinds[k].name));
        } else {
            /* A P-256 root of another key: trusted, but not the collateral's. */
            assert_int_equal(e, ATT_E_CERT_ISSUER);
        }
        assert_false(res.accepted);
        /* The unmodified quote still verifies with the same store. */
        assert_int_equal(att_dcap_verify(quote, qlen, coll, t, NOW, &res), ATT_OK);
        att_dcap_collateral_free(coll);
        free(sq);
        free((void *)pc.ptr);
        free((void *)tc.ptr);
        free((void *)cc.ptr);
        free((void *)rp.ptr);
        att_trust_free(t);
        rerooted_free(&r);
    }
    free(quote);
    att_sim_collateral_free(&c);
    att_sim_pki_free(pki);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ca_root_accepted),
        cmocka_unit_test(test_non_ca_refused),
        cmocka_unit_test(test_rsa_and_p384_roots_accepted),
        cmocka_unit_test(test_other_key_types_refused),
        cmocka_unit_test(test_chain_under_rsa_and_p384_roots),
        cmocka_unit_test(test_dcap_refuses_non_p256_root),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
