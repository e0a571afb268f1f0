/* sim_pki.c - the simulated Intel SGX PKI: keys, certificates (with the PCK SGX extension), CRLs.
 *
 * Shapes mirror Intel's production certificates (see docs/sim.md): subjects CN, O, L, ST, C;
 * root pathlen 1, PCK CA pathlen 0, both keyCertSign|cRLSign critical; leaf and TCB signer
 * CA:FALSE and digitalSignature|nonRepudiation critical; SKID and AKID key identifiers; a CRL
 * distribution point; the SGX extension non-critical, DER-encoded exactly as Intel encodes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "core/util.h"
#include "sim/sim_internal.h"

#define DAY  (24 * 3600LL)
#define YEAR (365 * DAY)

static const char *const att_sim_default_org = "attestd test hierarchy";
static const char *const att_sim_default_root_cn = "attestd Test SGX Root CA";

/* ---- keys and raw signatures ---------------------------------------------------------- */

EVP_PKEY *att_sim_keygen(void)
{
    return EVP_EC_gen("P-256");
}

EVP_PKEY *att_sim_key_from_scalar(const uint8_t priv[32])
{
    EVP_PKEY *pkey = NULL;
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_POINT *pub = NULL;
    BIGNUM *d = BN_bin2bn(priv, 32, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    uint8_t pubbuf[65];

    if (group == NULL || d == NULL || bld == NULL || ctx == NULL || BN_is_zero(d) ||
        BN_cmp(d, EC_GROUP_get0_order(group)) >= 0)
        goto out;
    pub = EC_POINT_new(group);
    if (pub == NULL || !EC_POINT_mul(group, pub, d, NULL, NULL, NULL) ||
        EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, pubbuf, sizeof pubbuf,
                           NULL) != sizeof pubbuf)
        goto out;
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pubbuf, sizeof pubbuf))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0)
        pkey = NULL;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    EC_POINT_free(pub);
    EC_GROUP_free(group);
    return pkey;
}

bool att_sim_pubkey_raw(EVP_PKEY *k, uint8_t out[64])
{
    uint8_t buf[65];
    size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &len) != 1 ||
        len != 65 || buf[0] != 0x04)
        return false;
    memcpy(out, buf + 1, 64);
    return true;
}

bool att_sim_sign_raw(EVP_PKEY *k, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    bool ok = false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t der_len = sizeof der;
    ECDSA_SIG *s = NULL;

    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
        EVP_DigestSign(md, der, &der_len, msg, len) != 1)
        goto out;
    const uint8_t *p = der;
    s = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (s == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 32, 32) != 32)
        goto out;
    ok = true;
out:
    ECDSA_SIG_free(s);
    EVP_MD_CTX_free(md);
    return ok;
}

bool att_sim_concat(att_sim_buf_t *out, const att_slice_t *parts, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += parts[i].len;
    uint8_t *p = malloc(total + 1);
    if (p == NULL)
        return false;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len > 0)
            memcpy(p + off, parts[i].ptr, parts[i].len);
        off += parts[i].len;
    }
    p[total] = 0;
    out->ptr = p;
    out->len = total;
    return true;
}

/* ---- a tiny DER writer for the SGX extension -------------------------------------------- */

typedef struct {
    uint8_t buf[1024];
    size_t len;
    bool overflow;
} att_der_t;

static void der_put(att_der_t *d, const uint8_t *p, size_t n)
{
    if (d->overflow || n > sizeof d->buf - d->len) {
        d->overflow = true;
        return;
    }
    memcpy(d->buf + d->len, p, n);
    d->len += n;
}

/* Tag, definite length (short or long form), content. */
static void der_tlv(att_der_t *d, uint8_t tag, const uint8_t *content, size_t n)
{
    uint8_t hdr[4] = {tag};
    size_t h = 1;
    if (n < 0x80) {
        hdr[h++] = (uint8_t)n;
    } else if (n < 0x100) {
        hdr[h++] = 0x81;
        hdr[h++] = (uint8_t)n;
    } else {
        hdr[h++] = 0x82;
        hdr[h++] = (uint8_t)(n >> 8);
        hdr[h++] = (uint8_t)n;
    }
    der_put(d, hdr, h);
    der_put(d, content, n);
}

/* OID 1.2.840.113741.1.13.1[.a[.b]] (arcs below 128). */
static void der_sgx_oid(att_der_t *d, int a, int b)
{
    uint8_t oid[12] = {0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01};
    size_t n = 9;
    if (a > 0)
        oid[n++] = (uint8_t)a;
    if (b > 0)
        oid[n++] = (uint8_t)b;
    der_tlv(d, 0x06, oid, n);
}

/* Minimal two's-complement INTEGER of a non-negative value. */
static void der_uint(att_der_t *d, uint8_t tag, uint32_t v)
{
    uint8_t be[5] = {0, (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    size_t i = 1;
    while (i < 4 && be[i] == 0)
        i++;
    if (be[i] & 0x80)
        i--;
    der_tlv(d, tag, be + i, 5 - i);
}

/* SEQUENCE { OID(a,b), value } where the value is already DER in v. */
static void der_pair(att_der_t *d, int a, int b, const att_der_t *v)
{
    att_der_t s = {.len = 0};
    der_sgx_oid(&s, a, b);
    der_put(&s, v->buf, v->len);
    if (s.overflow || v->overflow)
        d->overflow = true;
    der_tlv(d, 0x30, s.buf, s.len);
}

static void der_pair_octets(att_der_t *d, int a, int b, const uint8_t *p, size_t n)
{
    att_der_t v = {.len = 0};
    der_tlv(&v, 0x04, p, n);
    der_pair(d, a, b, &v);
}

static void der_pair_uint(att_der_t *d, int a, int b, uint8_t tag, uint32_t x)
{
    att_der_t v = {.len = 0};
    der_uint(&v, tag, x);
    der_pair(d, a, b, &v);
}

static void der_pair_bool(att_der_t *d, int a, int b, bool x)
{
    att_der_t v = {.len = 0};
    uint8_t c = x ? 0xFF : 0x00;
    der_tlv(&v, 0x01, &c, 1);
    der_pair(d, a, b, &v);
}

/* One top-level entry .k of the SGX extension, appended to body (twice when quirked so). */
static void att_sim_sgx_top(att_der_t *body, int k, const att_der_t *value, uint32_t omit,
                            uint32_t dup)
{
    for (int n = (omit >> k & 1) ? 0 : (dup >> k & 1) ? 2 : 1; n > 0; n--)
        der_pair(body, k, 0, value);
}

/* The value of extension 1.2.840.113741.1.13.1 (docs/dcap.md section 5), with the encoding
 * quirks of q (all zero: exactly Intel's encoding). */
static bool att_sim_sgx_ext_der(const att_sim_pck_ext_t *e, bool platform,
                                const att_sim_pck_ext_quirks_t *q, att_der_t *out)
{
    att_der_t body = {.len = 0}, tcb = {.len = 0}, tcbseq = {.len = 0}, v;
    for (int i = 0; i < 18; i++) {
        if (q->tcb_omit >> (i + 1) & 1)
            continue;
        if (i < 16)
            der_pair_uint(&tcb, 2, i + 1, 0x02, e->comp_svn[i]);
        else if (i == 16)
            der_pair_uint(&tcb, 2, 17, 0x02, e->pcesvn);
        else
            der_pair_octets(&tcb, 2, 18, e->cpusvn, 16);
    }
    if (q->tcb_duplicate >= 1 && q->tcb_duplicate <= 16)
        der_pair_uint(&tcb, 2, q->tcb_duplicate, 0x02, q->tcb_duplicate_svn);
    der_tlv(&tcbseq, 0x30, tcb.buf, tcb.len);
    if (tcb.overflow)
        tcbseq.overflow = true;
    v = (att_der_t){.len = 0};
    der_tlv(&v, 0x04, e->ppid, 16);
    att_sim_sgx_top(&body, 1, &v, q->omit, q->duplicate);
    att_sim_sgx_top(&body, 2, &tcbseq, q->omit, q->duplicate);
    v = (att_der_t){.len = 0};
    der_tlv(&v, 0x04, e->pceid, 2);
    att_sim_sgx_top(&body, 3, &v, q->omit, q->duplicate);
    v = (att_der_t){.len = 0};
    der_tlv(&v, 0x04, e->fmspc, 6);
    att_sim_sgx_top(&body, 4, &v, q->omit, q->duplicate);
    v = (att_der_t){.len = 0};
    der_uint(&v, 0x0A, e->sgx_type);
    att_sim_sgx_top(&body, 5, &v, q->omit, q->duplicate);
    if (platform) {
        att_der_t cfg = {.len = 0}, cfgseq = {.len = 0};
        v = (att_der_t){.len = 0};
        der_tlv(&v, 0x04, e->platform_instance_id, 16);
        att_sim_sgx_top(&body, 6, &v, q->omit, q->duplicate);
        der_pair_bool(&cfg, 7, 1, e->dynamic_platform);
        der_pair_bool(&cfg, 7, 2, e->cached_keys);
        der_pair_bool(&cfg, 7, 3, e->smt_enabled);
        der_tlv(&cfgseq, 0x30, cfg.buf, cfg.len);
        if (cfg.overflow)
            cfgseq.overflow = true;
        att_sim_sgx_top(&body, 7, &cfgseq, q->omit, q->duplicate);
    }
    if (q->extra_arc > 0 && q->extra_arc < 128) {
        static const uint8_t zero = 0;
        der_pair_octets(&body, q->extra_arc, 0, &zero, 1);
    }
    out->len = 0;
    out->overflow = body.overflow;
    der_tlv(out, 0x30, body.buf, body.len);
    return !out->overflow;
}

/* ---- certificates ------------------------------------------------------------------------ */

static const char *att_sim_cn(const att_sim_pki_t *p, att_sim_cert_t which)
{
    switch (which) {
    case ATT_SIM_ROOT:
        return p->root_cn;
    case ATT_SIM_PCK_CA:
        return p->opts.ca == ATT_SIM_CA_PLATFORM ? "Intel SGX PCK Platform CA"
                                                 : "Intel SGX PCK Processor CA";
    case ATT_SIM_PCK:
        return "Intel SGX PCK Certificate";
    case ATT_SIM_TCB_SIGNER:
        return "Intel SGX TCB Signing";
    default:
        return "?";
    }
}

static X509_NAME *att_sim_name(const att_sim_pki_t *p, att_sim_cert_t which)
{
    X509_NAME *n = X509_NAME_new();
    const char *fields[5][2] = {{"CN", att_sim_cn(p, which)},
                                {"O", p->org},
                                {"L", "Santa Clara"},
                                {"ST", "CA"},
                                {"C", "US"}};
    for (size_t i = 0; n != NULL && i < 5; i++) {
        if (!X509_NAME_add_entry_by_txt(n, fields[i][0], MBSTRING_UTF8,
                                        (const unsigned char *)fields[i][1], -1, -1, 0)) {
            X509_NAME_free(n);
            n = NULL;
        }
    }
    return n;
}

static bool att_sim_random_serial(att_sim_serial_t *s)
{
    if (RAND_bytes(s->bytes, ATT_SIM_SERIAL_MAX) != 1)
        return false;
    s->bytes[0] &= 0x7F; /* positive, 20 bytes like Intel's */
    s->bytes[0] |= 0x01;
    s->len = ATT_SIM_SERIAL_MAX;
    return true;
}

static bool att_sim_set_serial(X509 *x, const att_sim_serial_t *s)
{
    BIGNUM *bn = BN_bin2bn(s->bytes, (int)s->len, NULL);
    ASN1_INTEGER *ai = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    bool ok = ai != NULL && X509_set_serialNumber(x, ai) == 1;
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return ok;
}

/* Add an extension by NID from its i2d structure. */
static bool att_sim_add_ext(X509 *x, int nid, void *value, int crit)
{
    return X509_add1_ext_i2d(x, nid, value, crit, X509V3_ADD_REPLACE) == 1;
}

static bool att_sim_add_conf_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, NULL, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    bool ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

static bool att_sim_add_key_ids(X509 *x, EVP_PKEY *subject_key, X509 *issuer)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    bool ok = false;
    ASN1_OCTET_STRING *skid = ASN1_OCTET_STRING_new();
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    X509_PUBKEY *pk = NULL;

    if (skid == NULL || akid == NULL || X509_PUBKEY_set(&pk, subject_key) != 1)
        goto out;
    /* RFC 5280 method 1: SHA-1 of the subjectPublicKey bits. */
    const unsigned char *bits;
    int bitslen;
    if (X509_PUBKEY_get0_param(NULL, &bits, &bitslen, NULL, pk) != 1 ||
        EVP_Digest(bits, (size_t)bitslen, md, &mdlen, EVP_sha1(), NULL) != 1 ||
        ASN1_OCTET_STRING_set(skid, md, (int)mdlen) != 1)
        goto out;
    const ASN1_OCTET_STRING *issuer_skid = issuer != NULL ? X509_get0_subject_key_id(issuer) : skid;
    if (issuer_skid == NULL)
        goto out;
    akid->keyid = ASN1_OCTET_STRING_dup(issuer_skid);
    if (akid->keyid == NULL)
        goto out;
    /* Intel's order: AKID, CRL DP, SKID, keyUsage, basicConstraints. */
    ok = att_sim_add_ext(x, NID_authority_key_identifier, akid, 0);
    if (ok)
        ok = att_sim_add_conf_ext(x, NID_crl_distribution_points,
                                  issuer == NULL || X509_check_issued(issuer, issuer) == X509_V_OK
                                      ? "URI:https://attestd.invalid/sim/root_ca_crl.der"
                                      : "URI:https://attestd.invalid/sim/pckcrl?encoding=der");
    if (ok)
        ok = att_sim_add_ext(x, NID_subject_key_identifier, skid, 0);
out:
    X509_PUBKEY_free(pk);
    ASN1_OCTET_STRING_free(skid);
    AUTHORITY_KEYID_free(akid);
    return ok;
}

static bool att_sim_add_constraints(X509 *x, bool ca, int pathlen)
{
    bool ok = false;
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    if (bc == NULL || ku == NULL)
        goto out;
    if (ca) {
        bc->ca = 0xFF;
        bc->pathlen = ASN1_INTEGER_new();
        if (bc->pathlen == NULL || ASN1_INTEGER_set(bc->pathlen, pathlen) != 1)
            goto out;
        /* keyCertSign (5), cRLSign (6) */
        if (!ASN1_BIT_STRING_set_bit(ku, 5, 1) || !ASN1_BIT_STRING_set_bit(ku, 6, 1))
            goto out;
    } else {
        bc->ca = 0;
        /* digitalSignature (0), nonRepudiation (1) */
        if (!ASN1_BIT_STRING_set_bit(ku, 0, 1) || !ASN1_BIT_STRING_set_bit(ku, 1, 1))
            goto out;
    }
    ok = att_sim_add_ext(x, NID_key_usage, ku, 1) &&
         att_sim_add_ext(x, NID_basic_constraints, bc, 1);
out:
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    return ok;
}

static bool att_sim_add_sgx_ext(X509 *x, const att_sim_pck_ext_t *e, bool platform,
                                const att_sim_pck_ext_quirks_t *q)
{
    att_der_t der = {.len = 0};
    bool ok = false;
    ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    if (oid == NULL || os == NULL || !att_sim_sgx_ext_der(e, platform, q, &der) ||
        ASN1_OCTET_STRING_set(os, der.buf, (int)der.len) != 1)
        goto out;
    ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
    ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
out:
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(oid);
    return ok;
}

/* Issue certificate `which` of p (its key already in p->key[which]), signed by the issuer's key. */
static att_err_t att_sim_issue(att_sim_pki_t *p, att_sim_cert_t which, att_diag_t *diag)
{
    static const att_sim_cert_t issuer_of[ATT_SIM_N_CERTS] = {ATT_SIM_ROOT, ATT_SIM_ROOT,
                                                              ATT_SIM_PCK_CA, ATT_SIM_ROOT};
    att_sim_cert_t iss = issuer_of[which];
    att_sim_cert_opts_t *co = &p->opts.cert[which];
    X509 *x = X509_new();
    X509_NAME *subj = att_sim_name(p, which);
    X509_NAME *issname = which == ATT_SIM_ROOT ? NULL : att_sim_name(p, iss);
    bool ok = false;

    if (co->serial.len == 0 && !att_sim_random_serial(&co->serial))
        goto out;
    if (x == NULL || subj == NULL || (which != ATT_SIM_ROOT && issname == NULL) ||
        co->serial.len > ATT_SIM_SERIAL_MAX)
        goto out;
    if (X509_set_version(x, 2) != 1 || !att_sim_set_serial(x, &co->serial) ||
        X509_set_subject_name(x, subj) != 1 ||
        X509_set_issuer_name(x, issname != NULL ? issname : subj) != 1 ||
        ASN1_TIME_set(X509_getm_notBefore(x), (time_t)co->not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)co->not_after) == NULL ||
        X509_set_pubkey(x, p->key[which]) != 1)
        goto out;
    if (!att_sim_add_key_ids(x, p->key[which], which == ATT_SIM_ROOT ? NULL : p->cert[iss]))
        goto out;
    switch (which) {
    case ATT_SIM_ROOT:
        ok = att_sim_add_constraints(x, true, 1);
        break;
    case ATT_SIM_PCK_CA:
        ok = att_sim_add_constraints(x, true, 0);
        break;
    case ATT_SIM_PCK:
        if (p->opts.ca != ATT_SIM_CA_PLATFORM) { /* not encoded: do not report them either */
            memset(p->opts.pck.platform_instance_id, 0, 16);
            p->opts.pck.dynamic_platform = p->opts.pck.cached_keys = p->opts.pck.smt_enabled =
                false;
        }
        ok = att_sim_add_constraints(x, false, 0) &&
             att_sim_add_sgx_ext(x, &p->opts.pck, p->opts.ca == ATT_SIM_CA_PLATFORM, &p->quirks);
        break;
    default:
        ok = att_sim_add_constraints(x, false, 0);
        break;
    }
    if (!ok)
        goto out;
    ok = X509_sign(x, p->key[iss], EVP_sha256()) > 0;
out:
    X509_NAME_free(subj);
    X509_NAME_free(issname);
    if (!ok) {
        X509_free(x);
        unsigned long e = ERR_get_error();
        const char *why = e ? ERR_reason_error_string(e) : NULL;
        ERR_clear_error();
        return att_diag_set(diag, ATT_E_INTERNAL, "cannot issue simulated %s certificate: %s",
                            att_sim_cn(p, which), why ? why : "bad options");
    }
    return att_sim_pki_set_cert(p, which, x, diag);
}

att_err_t att_sim_pki_set_cert(att_sim_pki_t *p, att_sim_cert_t which, X509 *x, att_diag_t *diag)
{
    X509_free(p->cert[which]);
    p->cert[which] = x;
    free(p->der[which]);
    free(p->pem[which]);
    p->der[which] = NULL;
    p->pem[which] = NULL;
    unsigned char *der = NULL;
    int dlen = i2d_X509(x, &der);
    BIO *bio = BIO_new(BIO_s_mem());
    char *mem = NULL;
    long mlen = 0;
    if (dlen > 0 && bio != NULL && PEM_write_bio_X509(bio, x) == 1)
        mlen = BIO_get_mem_data(bio, &mem);
    if (dlen > 0 && mlen > 0) {
        p->der[which] = malloc((size_t)dlen);
        p->pem[which] = malloc((size_t)mlen + 1);
    }
    if (p->der[which] == NULL || p->pem[which] == NULL) {
        OPENSSL_free(der);
        BIO_free(bio);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory encoding a certificate");
    }
    memcpy(p->der[which], der, (size_t)dlen);
    p->der_len[which] = (size_t)dlen;
    memcpy(p->pem[which], mem, (size_t)mlen);
    p->pem[which][mlen] = 0;
    p->pem_len[which] = (size_t)mlen;
    OPENSSL_free(der);
    BIO_free(bio);
    return ATT_OK;
}

void att_sim_pki_opts_default(att_sim_pki_opts_t *o, att_sim_ca_type_t ca, att_time_t now)
{
    static const uint8_t comps[16] = {11, 11, 2, 2, 255, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t fmspc_proc[6] = {0x00, 0xA0, 0x67, 0x11, 0x00, 0x00};
    static const uint8_t fmspc_plat[6] = {0x00, 0x80, 0x6F, 0x05, 0x00, 0x00};
    static const att_time_t life[ATT_SIM_N_CERTS] = {30 * YEAR, 15 * YEAR, 7 * YEAR, 15 * YEAR};

    memset(o, 0, sizeof *o);
    o->ca = ca;
    for (int i = 0; i < ATT_SIM_N_CERTS; i++) {
        o->cert[i].not_before = now - DAY;
        o->cert[i].not_after = now - DAY + life[i];
    }
    att_sim_pck_ext_t *e = &o->pck;
    for (int i = 0; i < 16; i++)
        e->ppid[i] = (uint8_t)(0xA0 + i);
    memcpy(e->comp_svn, comps, 16);
    memcpy(e->cpusvn, comps, 16);
    e->pcesvn = 13;
    memcpy(e->fmspc, ca == ATT_SIM_CA_PLATFORM ? fmspc_plat : fmspc_proc, 6);
    e->sgx_type = ca == ATT_SIM_CA_PLATFORM ? 1 : 0;
    if (ca == ATT_SIM_CA_PLATFORM) {
        for (int i = 0; i < 16; i++)
            e->platform_instance_id[i] = (uint8_t)(0x50 + i);
        e->dynamic_platform = e->cached_keys = e->smt_enabled = true;
    }
}

void att_sim_pki_free(att_sim_pki_t *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < ATT_SIM_N_CERTS; i++) {
        EVP_PKEY_free(p->key[i]);
        X509_free(p->cert[i]);
        free(p->der[i]);
        free(p->pem[i]);
    }
    free(p);
}

att_err_t att_sim_pki_new(const att_sim_pki_opts_t *o, att_sim_pki_t **out, att_diag_t *diag)
{
    if (o == NULL || out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_pki_new: NULL argument");
    *out = NULL;
    if (o->ca != ATT_SIM_CA_PROCESSOR && o->ca != ATT_SIM_CA_PLATFORM)
        return att_diag_set(diag, ATT_E_ARG, "unknown PCK CA type %d", (int)o->ca);
    for (int i = 0; i < ATT_SIM_N_CERTS; i++)
        if (o->cert[i].serial.len > ATT_SIM_SERIAL_MAX)
            return att_diag_set(diag, ATT_E_ARG, "serial of %zu bytes (at most %d)",
                                o->cert[i].serial.len, ATT_SIM_SERIAL_MAX);
    att_sim_pki_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    p->opts = *o;
    snprintf(p->root_cn, sizeof p->root_cn, "%s",
             o->root_cn ? o->root_cn : att_sim_default_root_cn);
    snprintf(p->org, sizeof p->org, "%s", o->org ? o->org : att_sim_default_org);
    p->opts.root_cn = p->root_cn;
    p->opts.org = p->org;

    att_err_t err = ATT_OK;
    for (int i = 0; i < ATT_SIM_N_CERTS && err == ATT_OK; i++) {
        p->key[i] = att_sim_keygen();
        if (p->key[i] == NULL)
            err = att_diag_set(diag, ATT_E_INTERNAL, "P-256 key generation failed");
        else
            err = att_sim_issue(p, (att_sim_cert_t)i, diag);
    }
    if (err != ATT_OK) {
        att_sim_pki_free(p);
        return err;
    }
    *out = p;
    return ATT_OK;
}

static att_err_t att_sim_reissue(att_sim_pki_t *p, const att_sim_pck_ext_t *ext,
                                 const att_sim_cert_opts_t *cert_opts,
                                 const att_sim_pck_ext_quirks_t *quirks, att_diag_t *diag);

att_err_t att_sim_pki_reissue_pck(att_sim_pki_t *p, const att_sim_pck_ext_t *ext,
                                  const att_sim_cert_opts_t *cert_opts, att_diag_t *diag)
{
    if (p == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_pki_reissue_pck: NULL hierarchy");
    return att_sim_reissue(p, ext, cert_opts, NULL, diag);
}

att_err_t att_sim_pki_reissue_pck_quirks(att_sim_pki_t *p, const att_sim_pck_ext_t *ext,
                                         const att_sim_pck_ext_quirks_t *quirks, att_diag_t *diag)
{
    if (p == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_pki_reissue_pck_quirks: NULL hierarchy");
    return att_sim_reissue(p, ext, NULL, quirks, diag);
}

static att_err_t att_sim_reissue(att_sim_pki_t *p, const att_sim_pck_ext_t *ext,
                                 const att_sim_cert_opts_t *cert_opts,
                                 const att_sim_pck_ext_quirks_t *quirks, att_diag_t *diag)
{
    if (cert_opts != NULL && cert_opts->serial.len > ATT_SIM_SERIAL_MAX)
        return att_diag_set(diag, ATT_E_ARG, "serial of %zu bytes (at most %d)",
                            cert_opts->serial.len, ATT_SIM_SERIAL_MAX);
    EVP_PKEY *k = att_sim_keygen();
    if (k == NULL)
        return att_diag_set(diag, ATT_E_INTERNAL, "P-256 key generation failed");
    att_sim_pki_opts_t saved = p->opts;
    att_sim_pck_ext_quirks_t saved_quirks = p->quirks;
    EVP_PKEY *old = p->key[ATT_SIM_PCK];
    p->key[ATT_SIM_PCK] = k;
    if (quirks != NULL)
        p->quirks = *quirks;
    else
        memset(&p->quirks, 0, sizeof p->quirks);
    if (ext != NULL)
        p->opts.pck = *ext;
    if (cert_opts != NULL)
        p->opts.cert[ATT_SIM_PCK] = *cert_opts;
    else
        p->opts.cert[ATT_SIM_PCK].serial.len = 0;
    att_err_t err = att_sim_issue(p, ATT_SIM_PCK, diag);
    if (err != ATT_OK) {
        p->opts = saved;
        p->quirks = saved_quirks;
        p->key[ATT_SIM_PCK] = old;
        EVP_PKEY_free(k);
        return err;
    }
    EVP_PKEY_free(old);
    return ATT_OK;
}

const att_sim_pki_opts_t *att_sim_pki_opts(const att_sim_pki_t *p)
{
    return &p->opts;
}

att_slice_t att_sim_pki_cert_der(const att_sim_pki_t *p, att_sim_cert_t which)
{
    att_slice_t s = {NULL, 0};
    if (p != NULL && which < ATT_SIM_N_CERTS) {
        s.ptr = p->der[which];
        s.len = p->der_len[which];
    }
    return s;
}

att_slice_t att_sim_pki_cert_pem(const att_sim_pki_t *p, att_sim_cert_t which)
{
    att_slice_t s = {NULL, 0};
    if (p != NULL && which < ATT_SIM_N_CERTS) {
        s.ptr = (const uint8_t *)p->pem[which];
        s.len = p->pem_len[which];
    }
    return s;
}

att_sim_serial_t att_sim_pki_serial(const att_sim_pki_t *p, att_sim_cert_t which)
{
    att_sim_serial_t s = {.len = 0};
    if (p != NULL && which < ATT_SIM_N_CERTS)
        s = p->opts.cert[which].serial;
    return s;
}

/* ---- CRLs -------------------------------------------------------------------------------- */

void att_sim_crl_opts_default(att_sim_crl_opts_t *o, att_sim_cert_t issuer, att_time_t now)
{
    memset(o, 0, sizeof *o);
    o->issuer = o->signer = issuer;
    o->this_update = now - 3600;
    o->next_update = now + 30 * DAY;
    o->crl_number = 1;
    o->reason = 1; /* keyCompromise, as Intel's entries */
}

static bool att_sim_crl_add_revoked(X509_CRL *crl, const att_sim_serial_t *s, att_time_t when,
                                    int reason_code)
{
    bool ok = false;
    X509_REVOKED *r = X509_REVOKED_new();
    BIGNUM *bn = BN_bin2bn(s->bytes, (int)s->len, NULL);
    ASN1_INTEGER *ai = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)when);
    ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();
    if (r == NULL || ai == NULL || t == NULL || reason == NULL ||
        X509_REVOKED_set_serialNumber(r, ai) != 1 || X509_REVOKED_set_revocationDate(r, t) != 1)
        goto out;
    if (reason_code >= 0 && (ASN1_ENUMERATED_set(reason, reason_code) != 1 ||
                             X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0) != 1))
        goto out;
    ok = X509_CRL_add0_revoked(crl, r) == 1;
    if (ok)
        r = NULL;
out:
    X509_REVOKED_free(r);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    ASN1_TIME_free(t);
    ASN1_ENUMERATED_free(reason);
    return ok;
}

att_err_t att_sim_crl_make(const att_sim_pki_t *p, const att_sim_crl_opts_t *o, uint8_t **der,
                           size_t *len, att_diag_t *diag)
{
    if (p == NULL || o == NULL || der == NULL || len == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_crl_make: NULL argument");
    if (o->issuer >= ATT_SIM_N_CERTS || o->signer >= ATT_SIM_N_CERTS)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_crl_make: unknown issuer or signer");
    const att_sim_pki_t *sp = o->signer_pki != NULL ? o->signer_pki : p;
    X509 *iss = p->cert[o->issuer];
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *tu = ASN1_TIME_set(NULL, (time_t)o->this_update);
    ASN1_TIME *nu = ASN1_TIME_set(NULL, (time_t)o->next_update);
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(iss);
    unsigned char *out = NULL;
    int olen = 0;
    bool ok = false;

    if (crl == NULL || tu == NULL || nu == NULL || num == NULL || akid == NULL || skid == NULL)
        goto out;
    if (X509_CRL_set_version(crl, 1) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(iss)) != 1 ||
        X509_CRL_set1_lastUpdate(crl, tu) != 1 || X509_CRL_set1_nextUpdate(crl, nu) != 1 ||
        ASN1_INTEGER_set_uint64(num, o->crl_number) != 1)
        goto out;
    if (!o->omit_crl_number && X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1)
        goto out;
    akid->keyid = ASN1_OCTET_STRING_dup(skid);
    if (akid->keyid == NULL ||
        (!o->omit_akid &&
         X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0, 0) != 1))
        goto out;
    for (size_t i = 0; i < o->n_revoked; i++) {
        if (o->revoked[i].len == 0 || o->revoked[i].len > ATT_SIM_SERIAL_MAX ||
            !att_sim_crl_add_revoked(crl, &o->revoked[i], o->this_update, o->reason))
            goto out;
    }
    if (X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, sp->key[o->signer], EVP_sha256()) <= 0)
        goto out;
    olen = i2d_X509_CRL(crl, &out);
    ok = olen > 0;
out:
    X509_CRL_free(crl);
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    ASN1_INTEGER_free(num);
    AUTHORITY_KEYID_free(akid);
    if (!ok) {
        OPENSSL_free(out);
        ERR_clear_error();
        return att_diag_set(diag, ATT_E_INTERNAL, "cannot make the simulated CRL of %s",
                            att_sim_cn(p, o->issuer));
    }
    *der = malloc((size_t)olen);
    if (*der == NULL) {
        OPENSSL_free(out);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    memcpy(*der, out, (size_t)olen);
    *len = (size_t)olen;
    OPENSSL_free(out);
    return ATT_OK;
}
