/* sim_snp.c - a simulated AMD SEV-SNP world: an AMD-shaped test hierarchy (ARK, ASK, ASVK with
 * RSASSA-PSS SHA-384), N chips with their VCEKs per TCB, VLEKs, signed reports, the KDS CRL and
 * a directory in the KDS layout (attest/sim.h, docs/sim.md; the directory: sim_snp_dir.c).
 *
 * A chip is a 32-byte secret. Its chip_id is SHA-512(secret || "chip_id") (Turin: the first 8
 * bytes, then zeros) and the private scalar of its VCEK at TCB t is SHA-512(secret || "VCEK" ||
 * t) reduced into [1, n-1], so the same chip at the same TCB always has the same key, as a real
 * chip's VCEK is derived from its fused secret and the TCB. The P-384 key is built with EC_KEY
 * (deprecated in OpenSSL 3, kept for the scalar multiplication, as crypto.c does).
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "attest/sim.h"
#include "attest/token.h"
#include "core/util.h"
#include "sim/sim_internal.h"
#include "snp/snp_int.h"

#include "sim/sim_snp_int.h"

const char *att_snp_pname(att_snp_product_t p)
{
    return att_snp_product_name(p);
}

/* productName as AMD's VCEKs spell it (product, dash, stepping). */
static const char *att_snp_stepping_name(att_snp_product_t p)
{
    switch (p) {
    case ATT_SNP_MILAN:
        return "Milan-B0";
    case ATT_SNP_GENOA:
        return "Genoa-B1";
    default:
        return "Turin-C0";
    }
}

att_err_t att_snp_ossl(att_diag_t *diag, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return att_diag_set(diag, ATT_E_INTERNAL, "simulated SEV-SNP: %s failed%s%s", what,
                        buf[0] ? ": " : "", buf);
}

uint64_t att_sim_snp_tcb(att_snp_product_t product, uint8_t bootloader, uint8_t tee, uint8_t snp,
                         uint8_t microcode, uint8_t fmc)
{
    if (product == ATT_SNP_TURIN)
        return (uint64_t)fmc | (uint64_t)bootloader << 8 | (uint64_t)tee << 16 |
               (uint64_t)snp << 24 | (uint64_t)microcode << 56;
    return (uint64_t)bootloader | (uint64_t)tee << 8 | (uint64_t)snp << 48 |
           (uint64_t)microcode << 56;
}

void att_sim_snp_opts_default(att_sim_snp_opts_t *o, att_snp_product_t product, att_time_t now)
{
    memset(o, 0, sizeof *o);
    o->product = product;
    o->rsa_bits = 4096;
    o->n_chips = 1;
    o->tcb = product == ATT_SNP_TURIN ? att_sim_snp_tcb(product, 1, 1, 3, 75, 1)
                                      : att_sim_snp_tcb(product, 3, 0, 8, 209, 0);
    o->now = now;
    for (int i = 0; i < ATT_SIM_SNP_N_CERTS; i++) {
        o->cert[i].not_before = now - 86400;
        o->cert[i].not_after = now + 86400LL * 365 * 25;
    }
    o->leaf_not_before = now - 86400;
    o->leaf_not_after = now + 86400LL * 365 * 7;
}

/* ---- keys ------------------------------------------------------------------------------------ */

/* The P-384 key of a chip (label "VCEK") or of the VLEK secret ("VLEK") at `tcb`. */
static EVP_PKEY *att_snp_derive(const uint8_t secret[32], const char *label, uint64_t tcb)
{
    uint8_t in[32 + 4 + 8], h[SHA512_DIGEST_LENGTH];
    memcpy(in, secret, 32);
    memcpy(in + 32, label, 4);
    for (int i = 0; i < 8; i++)
        in[36 + i] = (uint8_t)(tcb >> (8 * i));
    SHA512(in, sizeof in, h);
    EVP_PKEY *pk = NULL;
    EC_KEY *k = EC_KEY_new_by_curve_name(NID_secp384r1);
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *d = BN_bin2bn(h, sizeof h, NULL), *n1 = NULL;
    EC_POINT *pub = NULL;
    if (k == NULL || ctx == NULL || d == NULL)
        goto out;
    const EC_GROUP *g = EC_KEY_get0_group(k);
    if ((n1 = BN_dup(EC_GROUP_get0_order(g))) == NULL || !BN_sub_word(n1, 1) ||
        !BN_nnmod(d, d, n1, ctx) || !BN_add_word(d, 1) || (pub = EC_POINT_new(g)) == NULL ||
        !EC_POINT_mul(g, pub, d, NULL, NULL, ctx) || !EC_KEY_set_private_key(k, d) ||
        !EC_KEY_set_public_key(k, pub) || (pk = EVP_PKEY_new()) == NULL)
        goto out;
    if (!EVP_PKEY_assign_EC_KEY(pk, k)) {
        EVP_PKEY_free(pk);
        pk = NULL;
        goto out;
    }
    k = NULL; /* owned by pk */
out:
    OPENSSL_cleanse(h, sizeof h);
    OPENSSL_cleanse(in, sizeof in);
    EC_POINT_free(pub);
    BN_clear_free(d);
    BN_free(n1);
    BN_CTX_free(ctx);
    EC_KEY_free(k);
    return pk;
}

void att_snp_chip_id_of(const uint8_t secret[32], att_snp_product_t product, uint8_t out[64])
{
    uint8_t in[32 + 7];
    memcpy(in, secret, 32);
    memcpy(in + 32, "chip_id", 7);
    SHA512(in, sizeof in, out);
    if (product == ATT_SNP_TURIN)
        memset(out + 8, 0, 56);
    OPENSSL_cleanse(in, sizeof in);
}

/* ---- certificates ------------------------------------------------------------------------- */

static bool att_snp_pss_sign_cert(X509 *x, EVP_PKEY *key)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *p = NULL;
    bool ok = m != NULL && EVP_DigestSignInit(m, &p, EVP_sha384(), NULL, key) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PSS_PADDING) == 1 &&
              EVP_PKEY_CTX_set_rsa_pss_saltlen(p, 48) == 1 &&
              EVP_PKEY_CTX_set_rsa_mgf1_md(p, EVP_sha384()) == 1 && X509_sign_ctx(x, m) > 0;
    EVP_MD_CTX_free(m);
    return ok;
}

static X509_NAME *att_snp_name(const att_sim_snp_t *s, const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    if (n == NULL ||
        !X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const uint8_t *)"US", -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(n, "ST", MBSTRING_ASC, (const uint8_t *)"CA", -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(n, "L", MBSTRING_ASC, (const uint8_t *)"Santa Clara", -1, -1,
                                    0) ||
        !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const uint8_t *)s->org, -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const uint8_t *)"Engineering", -1, -1,
                                    0) ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const uint8_t *)cn, -1, -1, 0)) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

static void att_snp_cn(const att_sim_snp_t *s, att_sim_snp_cert_t which, char *buf, size_t len)
{
    const char *p = att_snp_pname(s->opts.product);
    snprintf(buf, len,
             which == ATT_SIM_SNP_ARK   ? "ARK-%s"
             : which == ATT_SIM_SNP_ASK ? "SEV-%s"
                                        : "SEV-VLEK-%s",
             p);
}

static bool att_snp_add_conf(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    bool ok = e != NULL && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* An AMD extension 1.3.6.1.4.1.3704.1.<arc> holding `v` as its extnValue content. */
static bool att_snp_add_amd(X509 *x, const char *arc, const uint8_t *v, size_t n)
{
    char oid[64];
    snprintf(oid, sizeof oid, "1.3.6.1.4.1.3704.1.%s", arc);
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *e = NULL;
    bool ok = o != NULL && os != NULL && ASN1_OCTET_STRING_set(os, v, (int)n) == 1 &&
              (e = X509_EXTENSION_create_by_OBJ(NULL, o, 0, os)) != NULL &&
              X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(o);
    return ok;
}

/* An SPL as AMD encodes it: a DER INTEGER, 02 01 v, or 02 02 00 v from 128. */
static bool att_snp_add_int(X509 *x, const char *arc, uint8_t v)
{
    uint8_t der[4] = {0x02, 0x01, v, 0};
    if (v >= 0x80) {
        der[1] = 2;
        der[2] = 0;
        der[3] = v;
    }
    return att_snp_add_amd(x, arc, der, v >= 0x80 ? 4 : 3);
}

static bool att_snp_add_ia5(X509 *x, const char *arc, const char *text)
{
    uint8_t der[130];
    size_t n = strlen(text);
    if (n > 127)
        return false;
    der[0] = 0x16;
    der[1] = (uint8_t)n;
    memcpy(der + 2, text, n);
    return att_snp_add_amd(x, arc, der, n + 2);
}

static X509 *att_snp_cert_new(const att_sim_snp_t *s, const char *cn, const char *issuer_cn,
                              EVP_PKEY *pub, att_time_t nb, att_time_t na,
                              const att_sim_serial_t *serial)
{
    X509 *x = X509_new();
    X509_NAME *sn = att_snp_name(s, cn), *in = att_snp_name(s, issuer_cn);
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    bool ok = x != NULL && sn != NULL && in != NULL && X509_set_version(x, 2) == 1 &&
              X509_set_subject_name(x, sn) == 1 && X509_set_issuer_name(x, in) == 1 &&
              ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) != NULL &&
              ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) != NULL &&
              X509_set_pubkey(x, pub) == 1;
    if (ok && serial != NULL && serial->len > 0) {
        ok = (bn = BN_bin2bn(serial->bytes, (int)serial->len, NULL)) != NULL &&
             (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL && X509_set_serialNumber(x, ai) == 1;
    } else if (ok) {
        ok = ASN1_INTEGER_set(X509_get_serialNumber(x), 0) == 1; /* every VCEK and VLEK: 0 */
    }
    BN_free(bn);
    ASN1_INTEGER_free(ai);
    X509_NAME_free(sn);
    X509_NAME_free(in);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static bool att_snp_to_der(X509 *x, uint8_t **der, size_t *len)
{
    unsigned char *d = NULL;
    int n = i2d_X509(x, &d);
    if (n <= 0)
        return false;
    *der = malloc((size_t)n);
    if (*der != NULL)
        memcpy(*der, d, (size_t)n);
    OPENSSL_free(d);
    *len = (size_t)n;
    return *der != NULL;
}

static bool att_snp_to_pem(X509 *x, char **pem, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *d;
    long n;
    bool ok = b != NULL && PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &d)) > 0 &&
              (*pem = malloc((size_t)n + 1)) != NULL;
    if (ok) {
        memcpy(*pem, d, (size_t)n);
        (*pem)[n] = 0;
        *len = (size_t)n;
    }
    BIO_free(b);
    return ok;
}

/* Install x (ownership taken) as CA certificate `which`, with its DER and PEM. */
att_err_t att_snp_set_ca(att_sim_snp_t *s, att_sim_snp_cert_t which, X509 *x, att_diag_t *diag)
{
    X509_free(s->cert[which]);
    free(s->der[which]);
    free(s->pem[which]);
    s->cert[which] = x;
    s->der[which] = NULL;
    s->pem[which] = NULL;
    if (!att_snp_to_der(x, &s->der[which], &s->der_len[which]) ||
        !att_snp_to_pem(x, &s->pem[which], &s->pem_len[which]))
        return att_snp_ossl(diag, "encoding a certificate");
    const ASN1_INTEGER *ai = X509_get0_serialNumber(x);
    BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);
    att_sim_serial_t *sr = &s->opts.cert[which].serial;
    int n = bn ? BN_num_bytes(bn) : -1;
    if (n < 0 || n > ATT_SIM_SERIAL_MAX) {
        BN_free(bn);
        return att_diag_set(diag, ATT_E_INTERNAL, "simulated SEV-SNP: bad serial");
    }
    BN_bn2bin(bn, sr->bytes);
    sr->len = (size_t)n;
    BN_free(bn);
    return ATT_OK;
}

static att_err_t att_snp_issue_ca(att_sim_snp_t *s, att_sim_snp_cert_t which, att_diag_t *diag)
{
    char cn[64], icn[64];
    att_snp_cn(s, which, cn, sizeof cn);
    att_snp_cn(s, ATT_SIM_SNP_ARK, icn, sizeof icn);
    att_sim_serial_t serial = s->opts.cert[which].serial;
    if (serial.len == 0) {
        serial.len = 16;
        if (RAND_bytes(serial.bytes, 16) != 1)
            return att_snp_ossl(diag, "RAND_bytes");
        serial.bytes[0] = (uint8_t)((serial.bytes[0] & 0x7F) | 0x01); /* positive, 16 bytes */
    }
    X509 *x = att_snp_cert_new(s, cn, icn, s->key[which], s->opts.cert[which].not_before,
                               s->opts.cert[which].not_after, &serial);
    X509 *issuer = which == ATT_SIM_SNP_ARK ? x : s->cert[ATT_SIM_SNP_ARK];
    bool ok = x != NULL &&
              att_snp_add_conf(x, issuer, NID_basic_constraints,
                               which == ATT_SIM_SNP_ARK ? "critical,CA:TRUE"
                                                        : "critical,CA:TRUE,pathlen:0") &&
              att_snp_add_conf(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign") &&
              att_snp_pss_sign_cert(x, s->key[ATT_SIM_SNP_ARK]);
    if (!ok) {
        X509_free(x);
        return att_snp_ossl(diag, "issuing a CA certificate");
    }
    return att_snp_set_ca(s, which, x, diag);
}

/* Issue a VCEK (chip's hwID) or VLEK (csp_id) with key `key` for `tcb`. */
static att_err_t att_snp_issue_leaf(const att_sim_snp_t *s, att_snp_key_t kind,
                                    const uint8_t chip_id[64], uint64_t tcb, EVP_PKEY *key,
                                    uint8_t **der, size_t *len, att_diag_t *diag)
{
    att_snp_product_t p = s->opts.product;
    char icn[64];
    att_snp_cn(s, kind == ATT_SNP_KEY_VCEK ? ATT_SIM_SNP_ASK : ATT_SIM_SNP_ASVK, icn, sizeof icn);
    X509 *x = att_snp_cert_new(s, kind == ATT_SNP_KEY_VCEK ? "SEV-VCEK" : "SEV-VLEK", icn, key,
                               s->opts.leaf_not_before, s->opts.leaf_not_after, NULL);
    att_snp_tcb_t t;
    att_snp_tcb_decode(tcb, p, &t);
    bool ok = x != NULL && att_snp_add_int(x, "1", 1) &&
              att_snp_add_ia5(x, "2", att_snp_stepping_name(p)) &&
              att_snp_add_int(x, "3.1", t.bootloader) && att_snp_add_int(x, "3.2", t.tee) &&
              att_snp_add_int(x, "3.3", t.snp) && att_snp_add_int(x, "3.4", 0) &&
              att_snp_add_int(x, "3.5", 0) && att_snp_add_int(x, "3.6", 0) &&
              att_snp_add_int(x, "3.7", 0) && att_snp_add_int(x, "3.8", t.microcode) &&
              (p != ATT_SNP_TURIN || att_snp_add_int(x, "3.9", t.fmc));
    if (ok && kind == ATT_SNP_KEY_VCEK)
        ok = att_snp_add_amd(x, "4", chip_id, p == ATT_SNP_TURIN ? 8 : 64);
    else if (ok)
        ok = att_snp_add_ia5(x, "5", "attestd-sim");
    ok = ok &&
         att_snp_pss_sign_cert(
             x, s->key[kind == ATT_SNP_KEY_VCEK ? ATT_SIM_SNP_ASK : ATT_SIM_SNP_ASVK]) &&
         att_snp_to_der(x, der, len);
    X509_free(x);
    if (!ok)
        return att_snp_ossl(diag, "issuing a VCEK/VLEK");
    return ATT_OK;
}

static void att_snp_leaves_free(att_snp_leaf_node_t *l)
{
    while (l != NULL) {
        att_snp_leaf_node_t *n = l->next;
        EVP_PKEY_free(l->key);
        free(l->der);
        free(l);
        l = n;
    }
}

/* The kept leaf of (kind, chip, tcb), issued on first use. */
static att_err_t att_snp_leaf_get(att_sim_snp_t *s, att_snp_key_t kind, size_t chip, uint64_t tcb,
                                  att_snp_leaf_node_t **out, att_diag_t *diag)
{
    if (kind != ATT_SNP_KEY_VCEK && kind != ATT_SNP_KEY_VLEK)
        return att_diag_set(diag, ATT_E_ARG, "simulated SEV-SNP: the key must be VCEK or VLEK");
    if (kind == ATT_SNP_KEY_VCEK && chip >= s->opts.n_chips)
        return att_diag_set(diag, ATT_E_ARG,
                            "simulated SEV-SNP: chip %zu does not exist (%zu chips: 0..%zu)", chip,
                            s->opts.n_chips, s->opts.n_chips - 1);
    att_snp_leaf_node_t **head = kind == ATT_SNP_KEY_VCEK ? &s->chips[chip].leaves : &s->vleks;
    for (att_snp_leaf_node_t *l = *head; l != NULL; l = l->next)
        if (l->tcb == tcb) {
            *out = l;
            return ATT_OK;
        }
    att_snp_leaf_node_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    l->tcb = tcb;
    l->key = kind == ATT_SNP_KEY_VCEK ? att_snp_derive(s->chips[chip].secret, "VCEK", tcb)
                                      : att_snp_derive(s->vlek_secret, "VLEK", tcb);
    att_err_t e =
        l->key == NULL
            ? att_snp_ossl(diag, "deriving a P-384 key")
            : att_snp_issue_leaf(s, kind, s->chips[chip < s->opts.n_chips ? chip : 0].chip_id, tcb,
                                 l->key, &l->der, &l->len, diag);
    if (e != ATT_OK) {
        att_snp_leaves_free(l);
        return e;
    }
    l->next = *head;
    *head = l;
    *out = l;
    return ATT_OK;
}

/* ---- the world ------------------------------------------------------------------------------ */

void att_sim_snp_free(att_sim_snp_t *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < ATT_SIM_SNP_N_CERTS; i++) {
        EVP_PKEY_free(s->key[i]);
        X509_free(s->cert[i]);
        free(s->der[i]);
        free(s->pem[i]);
    }
    for (size_t i = 0; s->chips != NULL && i < s->opts.n_chips; i++)
        att_snp_leaves_free(s->chips[i].leaves);
    if (s->chips != NULL)
        OPENSSL_cleanse(s->chips, s->opts.n_chips * sizeof *s->chips);
    free(s->chips);
    att_snp_leaves_free(s->vleks);
    OPENSSL_cleanse(s, sizeof *s);
    free(s);
}

/* The hierarchy's frame, without keys: options checked and copied, chips allocated. */
att_err_t att_snp_alloc(const att_sim_snp_opts_t *o, att_sim_snp_t **out, att_diag_t *diag)
{
    *out = NULL;
    if (o == NULL)
        return att_diag_set(diag, ATT_E_ARG, "simulated SEV-SNP: no options");
    if (o->product != ATT_SNP_MILAN && o->product != ATT_SNP_GENOA && o->product != ATT_SNP_TURIN)
        return att_diag_set(diag, ATT_E_ARG,
                            "simulated SEV-SNP: the product must be Milan, Genoa or Turin");
    if (o->n_chips < 1 || o->n_chips > ATT_SIM_SNP_MAX_CHIPS)
        return att_diag_set(diag, ATT_E_ARG, "simulated SEV-SNP: %zu chips; 1 to %d are possible",
                            o->n_chips, ATT_SIM_SNP_MAX_CHIPS);
    if (o->rsa_bits < ATT_TRUST_RSA_MIN_BITS || o->rsa_bits > 8192)
        return att_diag_set(diag, ATT_E_ARG,
                            "simulated SEV-SNP: RSA keys of %u bits; %d to 8192 are possible",
                            o->rsa_bits, ATT_TRUST_RSA_MIN_BITS);
    att_diag_t d;
    att_snp_report_t probe;
    memset(&probe, 0, sizeof probe);
    probe.reported_tcb = probe.committed_tcb = probe.current_tcb = probe.launch_tcb = o->tcb;
    if (att_snp_tcb_check(&probe, o->product, &d) != ATT_OK)
        return att_diag_set(diag, ATT_E_ARG, "simulated SEV-SNP: TCB 0x%016llx: %s",
                            (unsigned long long)o->tcb, d.msg);
    att_sim_snp_t *s = calloc(1, sizeof *s);
    if (s == NULL || (s->chips = calloc(o->n_chips, sizeof *s->chips)) == NULL) {
        free(s);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    s->opts = *o;
    snprintf(s->org, sizeof s->org, "%s", o->org ? o->org : ATT_SNP_ORG);
    s->opts.org = s->org;
    *out = s;
    return ATT_OK;
}

att_err_t att_sim_snp_new(const att_sim_snp_opts_t *o, att_sim_snp_t **out, att_diag_t *diag)
{
    att_sim_snp_t *s;
    att_err_t e = att_snp_alloc(o, &s, diag);
    if (e != ATT_OK)
        return e;
    for (size_t i = 0; i < o->n_chips; i++) {
        if (RAND_priv_bytes(s->chips[i].secret, 32) != 1) {
            e = att_snp_ossl(diag, "RAND_priv_bytes");
            goto fail;
        }
        att_snp_chip_id_of(s->chips[i].secret, o->product, s->chips[i].chip_id);
    }
    if (RAND_priv_bytes(s->vlek_secret, 32) != 1) {
        e = att_snp_ossl(diag, "RAND_priv_bytes");
        goto fail;
    }
    for (int i = 0; i < ATT_SIM_SNP_N_CERTS; i++)
        if ((s->key[i] = EVP_RSA_gen(o->rsa_bits)) == NULL) {
            e = att_snp_ossl(diag, "generating an RSA key");
            goto fail;
        }
    for (int i = 0; i < ATT_SIM_SNP_N_CERTS; i++)
        if ((e = att_snp_issue_ca(s, (att_sim_snp_cert_t)i, diag)) != ATT_OK)
            goto fail;
    *out = s;
    return ATT_OK;
fail:
    att_sim_snp_free(s);
    return e;
}

const att_sim_snp_opts_t *att_sim_snp_opts(const att_sim_snp_t *s)
{
    return &s->opts;
}

const uint8_t *att_sim_snp_chip_id(const att_sim_snp_t *s, size_t chip)
{
    return chip < s->opts.n_chips ? s->chips[chip].chip_id : NULL;
}

att_slice_t att_sim_snp_cert_der(const att_sim_snp_t *s, att_sim_snp_cert_t which)
{
    att_slice_t r = {NULL, 0};
    if ((int)which >= 0 && which < ATT_SIM_SNP_N_CERTS) {
        r.ptr = s->der[which];
        r.len = s->der_len[which];
    }
    return r;
}

att_slice_t att_sim_snp_cert_pem(const att_sim_snp_t *s, att_sim_snp_cert_t which)
{
    att_slice_t r = {NULL, 0};
    if ((int)which >= 0 && which < ATT_SIM_SNP_N_CERTS) {
        r.ptr = (const uint8_t *)s->pem[which];
        r.len = s->pem_len[which];
    }
    return r;
}

att_sim_serial_t att_sim_snp_serial(const att_sim_snp_t *s, att_sim_snp_cert_t which)
{
    att_sim_serial_t r;
    memset(&r, 0, sizeof r);
    if ((int)which >= 0 && which < ATT_SIM_SNP_N_CERTS)
        r = s->opts.cert[which].serial;
    return r;
}

att_err_t att_sim_snp_cert_chain(const att_sim_snp_t *s, att_snp_key_t kind, att_sim_buf_t *pem,
                                 att_diag_t *diag)
{
    if (kind != ATT_SNP_KEY_VCEK && kind != ATT_SNP_KEY_VLEK)
        return att_diag_set(diag, ATT_E_ARG, "simulated SEV-SNP: the key must be VCEK or VLEK");
    att_sim_snp_cert_t ica = kind == ATT_SNP_KEY_VCEK ? ATT_SIM_SNP_ASK : ATT_SIM_SNP_ASVK;
    att_slice_t parts[2] = {att_sim_snp_cert_pem(s, ica), att_sim_snp_cert_pem(s, ATT_SIM_SNP_ARK)};
    if (!att_sim_concat(pem, parts, 2))
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    return ATT_OK;
}

att_err_t att_sim_snp_leaf(att_sim_snp_t *s, att_snp_key_t kind, size_t chip, uint64_t tcb,
                           att_slice_t *der, att_diag_t *diag)
{
    att_snp_leaf_node_t *l;
    att_err_t e = att_snp_leaf_get(s, kind, chip, tcb, &l, diag);
    if (e != ATT_OK)
        return e;
    der->ptr = l->der;
    der->len = l->len;
    return ATT_OK;
}

/* ---- reports --------------------------------------------------------------------------------- */

void att_sim_snp_report_opts_default(const att_sim_snp_t *s, att_sim_snp_report_opts_t *o,
                                     size_t chip, uint32_t version)
{
    memset(o, 0, sizeof *o);
    o->version = version;
    o->chip = chip;
    o->key = ATT_SNP_KEY_VCEK;
    o->policy = ATT_SNP_POLICY_RESERVED1 | ATT_SNP_POLICY_SMT;
    for (size_t i = 0; i < sizeof o->measurement; i++)
        o->measurement[i] = (uint8_t)(0x11 + i);
    memset(o->host_data, 0x48, sizeof o->host_data);
    for (size_t i = 0; i < sizeof o->report_id; i++)
        o->report_id[i] = (uint8_t)(0xA0 + i);
    memset(o->report_id_ma, 0xFF, sizeof o->report_id_ma);
    o->platform_info = ATT_SNP_PLATFORM_SMT_EN | ATT_SNP_PLATFORM_TSME_EN;
    o->reported_tcb = o->committed_tcb = o->current_tcb = o->launch_tcb = s->opts.tcb;
    const uint8_t fw[3] = {21, 55, 1}; /* build, minor, major: 1.55.21 */
    memcpy(o->current_fw, fw, 3);
    memcpy(o->committed_fw, fw, 3);
    const uint8_t *id = att_sim_snp_chip_id(s, chip);
    if (id != NULL)
        memcpy(o->chip_id, id, 64);
}

static void att_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void att_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

att_err_t att_sim_snp_report(att_sim_snp_t *s, const att_sim_snp_report_opts_t *o,
                             uint8_t r[ATT_SNP_REPORT_LEN], att_diag_t *diag)
{
    if (s == NULL || o == NULL || r == NULL)
        return att_diag_set(diag, ATT_E_ARG, "simulated SEV-SNP report: NULL argument");
    if (o->version < 2 || o->version > 5)
        return att_diag_set(diag, ATT_E_ARG,
                            "simulated SEV-SNP report: version %u; 2 to 5 are possible",
                            o->version);
    att_snp_leaf_node_t *leaf;
    att_err_t e = att_snp_leaf_get(s, o->key, o->chip,
                                   o->other_key_tcb ? o->key_tcb : o->reported_tcb, &leaf, diag);
    if (e != ATT_OK)
        return e;
    memset(r, 0, ATT_SNP_REPORT_LEN);
    att_put32(r + 0x000, o->version);
    att_put32(r + 0x004, o->guest_svn);
    att_put64(r + 0x008, o->policy);
    memcpy(r + 0x010, o->family_id, 16);
    memcpy(r + 0x020, o->image_id, 16);
    att_put32(r + 0x030, o->vmpl);
    att_put32(r + 0x034, 1); /* ECDSA P-384 with SHA-384 */
    att_put64(r + 0x038, o->current_tcb);
    att_put64(r + 0x040, o->platform_info);
    att_put32(r + 0x048, (uint32_t)o->key << 2);
    memcpy(r + 0x050, o->report_data, 64);
    memcpy(r + 0x090, o->measurement, 48);
    memcpy(r + 0x0C0, o->host_data, 32);
    memcpy(r + 0x0E0, o->id_key_digest, 48);
    memcpy(r + 0x110, o->author_key_digest, 48);
    memcpy(r + 0x140, o->report_id, 32);
    memcpy(r + 0x160, o->report_id_ma, 32);
    att_put64(r + 0x180, o->reported_tcb);
    if (o->version >= 3) {
        static const uint8_t cpuid[4][2] = {{0, 0}, {0x19, 0x01}, {0x19, 0x11}, {0x1A, 0x02}};
        r[0x188] = cpuid[s->opts.product][0];
        r[0x189] = cpuid[s->opts.product][1];
        r[0x18A] = 1; /* stepping */
    }
    memcpy(r + 0x1A0, o->chip_id, 64);
    att_put64(r + 0x1E0, o->committed_tcb);
    memcpy(r + 0x1E8, o->current_fw, 3);
    memcpy(r + 0x1EC, o->committed_fw, 3);
    att_put64(r + 0x1F0, o->launch_tcb);
    if (o->version >= 5) {
        att_put64(r + 0x1F8, o->launch_mit_vector);
        att_put64(r + 0x200, o->current_mit_vector);
    }
    uint8_t dg[SHA384_DIGEST_LENGTH], sig[160];
    size_t sl = sizeof sig;
    SHA384(r, ATT_SNP_SIGNED_LEN, dg);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(leaf->key, NULL);
    ECDSA_SIG *es = NULL;
    const uint8_t *q = sig;
    bool ok = c != NULL && EVP_PKEY_sign_init(c) == 1 &&
              EVP_PKEY_sign(c, sig, &sl, dg, sizeof dg) == 1 &&
              (es = d2i_ECDSA_SIG(NULL, &q, (long)sl)) != NULL &&
              BN_bn2lebinpad(ECDSA_SIG_get0_r(es), r + 0x2A0, 72) == 72 &&
              BN_bn2lebinpad(ECDSA_SIG_get0_s(es), r + 0x2E8, 72) == 72;
    ECDSA_SIG_free(es);
    EVP_PKEY_CTX_free(c);
    if (!ok)
        return att_snp_ossl(diag, "signing the report");
    return ATT_OK;
}

att_err_t att_sim_snp_evidence(att_sim_snp_t *s, const att_sim_snp_report_opts_t *o,
                               const uint8_t report[ATT_SNP_REPORT_LEN], char **json,
                               att_diag_t *diag)
{
    *json = NULL;
    att_snp_leaf_node_t *leaf;
    att_err_t e = att_snp_leaf_get(s, o->key, o->chip,
                                   o->other_key_tcb ? o->key_tcb : o->reported_tcb, &leaf, diag);
    if (e != ATT_OK)
        return e;
    X509 *x = NULL;
    const unsigned char *p = leaf->der;
    char *lpem = NULL;
    size_t lpem_len = 0;
    if ((x = d2i_X509(NULL, &p, (long)leaf->len)) == NULL || !att_snp_to_pem(x, &lpem, &lpem_len)) {
        X509_free(x);
        return att_snp_ossl(diag, "encoding the VCEK");
    }
    X509_free(x);
    att_sim_snp_cert_t ica = o->key == ATT_SNP_KEY_VCEK ? ATT_SIM_SNP_ASK : ATT_SIM_SNP_ASVK;
    att_slice_t parts[3] = {{(const uint8_t *)lpem, lpem_len},
                            att_sim_snp_cert_pem(s, ica),
                            att_sim_snp_cert_pem(s, ATT_SIM_SNP_ARK)};
    att_sim_buf_t chain = {NULL, 0};
    bool ok = att_sim_concat(&chain, parts, 3);
    free(lpem);
    if (!ok)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    char *rb = att_b64url_encode(report, ATT_SNP_REPORT_LEN);
    char *cb = att_b64url_encode(chain.ptr, chain.len);
    free(chain.ptr);
    json_t *doc = rb && cb ? json_pack("{s:s,s:s}", "SnpReport", rb, "VcekCertChain", cb) : NULL;
    free(rb);
    free(cb);
    *json = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (*json == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    return ATT_OK;
}

/* ---- the KDS CRL -------------------------------------------------------------------------------
 */

void att_sim_snp_crl_opts_default(att_sim_snp_crl_opts_t *o, att_time_t now)
{
    memset(o, 0, sizeof *o);
    o->this_update = now - 3600;
    o->next_update = now + 86400LL * 30;
    o->signer = ATT_SIM_SNP_ARK;
}

att_err_t att_sim_snp_crl_make(const att_sim_snp_t *s, const att_sim_snp_crl_opts_t *o,
                               uint8_t **der, size_t *len, att_diag_t *diag)
{
    *der = NULL;
    *len = 0;
    if ((int)o->signer < 0 || o->signer >= ATT_SIM_SNP_N_CERTS)
        return att_diag_set(diag, ATT_E_ARG, "simulated SEV-SNP CRL: no such signer");
    char cn[64];
    if (o->issuer_cn)
        snprintf(cn, sizeof cn, "%s", o->issuer_cn);
    else
        att_snp_cn(s, ATT_SIM_SNP_ARK, cn, sizeof cn);
    X509_CRL *crl = X509_CRL_new();
    X509_NAME *in = att_snp_name(s, cn);
    ASN1_TIME *tu = ASN1_TIME_set(NULL, (time_t)o->this_update);
    ASN1_TIME *nu = ASN1_TIME_set(NULL, (time_t)o->next_update);
    bool ok = crl != NULL && in != NULL && tu != NULL && nu != NULL &&
              X509_CRL_set_version(crl, 1) == 1 && X509_CRL_set_issuer_name(crl, in) == 1 &&
              X509_CRL_set1_lastUpdate(crl, tu) == 1 && X509_CRL_set1_nextUpdate(crl, nu) == 1;
    for (size_t i = 0; ok && i < o->n_revoked; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        BIGNUM *bn = BN_bin2bn(o->revoked[i].bytes, (int)o->revoked[i].len, NULL);
        ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
        ok = r != NULL && ai != NULL && X509_REVOKED_set_serialNumber(r, ai) == 1 &&
             X509_REVOKED_set_revocationDate(r, tu) == 1 && X509_CRL_add0_revoked(crl, r) == 1;
        if (!ok)
            X509_REVOKED_free(r);
        ASN1_INTEGER_free(ai);
        BN_free(bn);
    }
    EVP_MD_CTX *m = ok ? EVP_MD_CTX_new() : NULL;
    EVP_PKEY_CTX *pc = NULL;
    ok = ok && m != NULL && X509_CRL_sort(crl) == 1 &&
         EVP_DigestSignInit(m, &pc, EVP_sha384(), NULL, s->key[o->signer]) == 1 &&
         EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 48) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha384()) == 1 && X509_CRL_sign_ctx(crl, m) > 0;
    unsigned char *d = NULL;
    int n = ok ? i2d_X509_CRL(crl, &d) : -1;
    if (n > 0 && (*der = malloc((size_t)n)) != NULL) {
        memcpy(*der, d, (size_t)n);
        *len = (size_t)n;
    }
    OPENSSL_free(d);
    EVP_MD_CTX_free(m);
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    X509_NAME_free(in);
    X509_CRL_free(crl);
    if (*der == NULL)
        return att_snp_ossl(diag, "making the KDS CRL");
    return ATT_OK;
}
