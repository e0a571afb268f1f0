/* kds.c - AMD SEV-SNP collateral from AMD's Key Distribution Service (or a stand-in): the fetcher
 * of keys "kds/<product>/vcek/<hwid>/<tcb>", "kds/<product>/crl" and "kds/<product>/vlek-crl"
 * behind attestd's vendor-neutral collateral source (attest/collateral.h). Here: the keys, the
 * KDS URLs, one bounded GET per key through the library's one HTTP helper (net/http.h), the
 * checks that an answer is the key's (a VCEK's hwID, TCB SPLs and product; a CRL's issuer,
 * signature and dates), and the `--kds-dir` offline layout. Not here: caching, single flight,
 * backoff and the fetch rate (the source's), the VCEK's chain and the serials a CRL revokes
 * (att_snp_verify's), logging (upstream text goes to net->warn, never into an error).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/x509.h>

#include "attest/collateral.h"
#include "core/util.h"
#include "crypto/crypto.h"
#include "net/http.h"
#include "snp/snp_int.h"

#define KDS_URL_LEN    2048
#define KDS_MAX_BASE   1500
#define KDS_MAX_REDIRS 3 /* redirects followed per GET, within its origin */
#define KDS_KEY_LEN    192
#define KDS_MAX_FILES  4096 /* files looked at per offline product directory */

typedef struct {
    char *base; /* without trailing '/'; NULL: no network source */
    char *ca_file;
    const att_trust_t *trust;
} kds_cfg_t;

/* A key's parts. */
typedef struct {
    att_snp_kds_kind_t kind;
    att_snp_product_t product;
    att_snp_key_t key_kind; /* CRL: VCEK (the ASK's) or VLEK (the ASVK's) */
    uint8_t hwid[64];
    size_t hwid_len; /* 64, or 8 on Turin */
    uint64_t tcb;
} kds_key_t;

static const char *const kds_lower[ATT_SNP_NPRODUCTS] = {NULL, "milan", "genoa", "turin"};

/* ---- TCB: the SPLs a VCEK carries <-> the report's TCB_VERSION ---- */

/* SPL values in the order blSPL, teeSPL, snpSPL, ucodeSPL, fmcSPL. */
static uint64_t tcb_encode(att_snp_product_t p, const uint8_t spl[5])
{
    if (p == ATT_SNP_TURIN)
        return (uint64_t)spl[4] | (uint64_t)spl[0] << 8 | (uint64_t)spl[1] << 16 |
               (uint64_t)spl[2] << 24 | (uint64_t)spl[3] << 56;
    return (uint64_t)spl[0] | (uint64_t)spl[1] << 8 | (uint64_t)spl[2] << 48 |
           (uint64_t)spl[3] << 56;
}

static void tcb_spl(att_snp_product_t p, uint64_t tcb, uint8_t spl[5])
{
    att_snp_tcb_t t;
    att_snp_tcb_decode(tcb, p, &t);
    spl[0] = t.bootloader;
    spl[1] = t.tee;
    spl[2] = t.snp;
    spl[3] = t.microcode;
    spl[4] = t.fmc;
}

/* The TCB has no reserved byte set for p (Milan/Genoa bytes 2-5, Turin 4-6). */
static bool tcb_canonical(att_snp_product_t p, uint64_t tcb)
{
    uint8_t spl[5];
    tcb_spl(p, tcb, spl);
    return tcb_encode(p, spl) == tcb;
}

static size_t hwid_len(att_snp_product_t p)
{
    return p == ATT_SNP_TURIN ? 8 : 64;
}

/* ---- keys ---- */

static void make_key(const kds_key_t *k, char out[KDS_KEY_LEN])
{
    const char *p = kds_lower[k->product];
    if (k->kind == ATT_SNP_KDS_CRL || k->kind == ATT_SNP_KDS_CHAIN) {
        const char *what = k->kind == ATT_SNP_KDS_CRL ? "crl" : "cert_chain";
        snprintf(out, KDS_KEY_LEN, "kds/%s/%s%s", p, k->key_kind == ATT_SNP_KEY_VLEK ? "vlek-" : "",
                 what);
        return;
    }
    char hex[129];
    att_hex_encode(k->hwid, k->hwid_len, hex);
    snprintf(out, KDS_KEY_LEN, "kds/%s/vcek/%s/%016llx", p, hex, (unsigned long long)k->tcb);
}

static bool lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return false;
    return true;
}

/* "kds/<milan|genoa|turin>/" then "crl", "vlek-crl" or "vcek/<hwid hex>/<16 hex>", canonical:
 * lowercase hex of the product's hwID length, a TCB without reserved bytes, a non-zero hwID. */
static bool key_parse(const char *key, kds_key_t *k)
{
    memset(k, 0, sizeof(*k));
    if (strncmp(key, "kds/", 4) != 0)
        return false;
    const char *p = key + 4;
    for (int i = 1; i < ATT_SNP_NPRODUCTS; i++) {
        size_t n = strlen(kds_lower[i]);
        if (strncmp(p, kds_lower[i], n) == 0 && p[n] == '/') {
            k->product = (att_snp_product_t)i;
            p += n + 1;
            break;
        }
    }
    if (k->product == ATT_SNP_PRODUCT_UNKNOWN)
        return false;
    if (strcmp(p, "crl") == 0 || strcmp(p, "vlek-crl") == 0) {
        k->kind = ATT_SNP_KDS_CRL;
        k->key_kind = p[0] == 'v' ? ATT_SNP_KEY_VLEK : ATT_SNP_KEY_VCEK;
        return true;
    }
    if (strcmp(p, "cert_chain") == 0 || strcmp(p, "vlek-cert_chain") == 0) {
        k->kind = ATT_SNP_KDS_CHAIN;
        k->key_kind = p[0] == 'v' ? ATT_SNP_KEY_VLEK : ATT_SNP_KEY_VCEK;
        return true;
    }
    if (strncmp(p, "vcek/", 5) != 0)
        return false;
    p += 5;
    k->kind = ATT_SNP_KDS_VCEK;
    k->key_kind = ATT_SNP_KEY_VCEK;
    k->hwid_len = hwid_len(k->product);
    size_t hn = 2 * k->hwid_len;
    if (strlen(p) != hn + 1 + 16 || p[hn] != '/' || !lower_hex(p, hn) ||
        !lower_hex(p + hn + 1, 16) || !att_hex_decode(p, hn, k->hwid, k->hwid_len))
        return false;
    uint8_t t[8];
    if (!att_hex_decode(p + hn + 1, 16, t, 8))
        return false;
    for (int i = 0; i < 8; i++)
        k->tcb = k->tcb << 8 | t[i];
    bool zero = true;
    for (size_t i = 0; i < k->hwid_len; i++)
        zero = zero && k->hwid[i] == 0;
    return !zero && tcb_canonical(k->product, k->tcb);
}

static att_err_t kds_check_key(const void *cfg, const char *key, att_diag_t *d)
{
    (void)cfg;
    kds_key_t k;
    if (!key_parse(key, &k))
        return att_diag_set(d, ATT_E_ARG,
                            "collsrc: \"%.100s\" is not an AMD KDS key (kds/<milan|genoa|turin>/"
                            "crl, .../vlek-crl, .../cert_chain, .../vlek-cert_chain or "
                            ".../vcek/<hwid hex>/<reported_tcb, 16 hex>)",
                            key);
    return ATT_OK;
}

ATT_API att_err_t att_snp_kds_key_vcek(att_snp_product_t product, const uint8_t chip_id[64],
                                       uint64_t reported_tcb, char *out, size_t n, att_diag_t *d)
{
    if (chip_id == NULL || out == NULL)
        return att_diag_set(d, ATT_E_ARG, "KDS key: NULL argument");
    if (product <= ATT_SNP_PRODUCT_UNKNOWN || product >= ATT_SNP_NPRODUCTS)
        return att_diag_set(d, ATT_E_ARG, "KDS key: the product must be Milan, Genoa or Turin");
    kds_key_t k = {.kind = ATT_SNP_KDS_VCEK,
                   .product = product,
                   .key_kind = ATT_SNP_KEY_VCEK,
                   .hwid_len = hwid_len(product),
                   .tcb = reported_tcb};
    memcpy(k.hwid, chip_id, k.hwid_len);
    bool zero = true;
    for (size_t i = 0; i < k.hwid_len; i++)
        zero = zero && k.hwid[i] == 0;
    if (zero)
        return att_diag_set(d, ATT_E_ARG,
                            "KDS key: the chip_id is zero (MASK_CHIP_ID or a VLEK report): KDS "
                            "has no VCEK for it");
    if (!tcb_canonical(product, reported_tcb))
        return att_diag_set(d, ATT_E_ARG,
                            "KDS key: reported_tcb 0x%016llx has reserved bytes set for %s",
                            (unsigned long long)reported_tcb, att_snp_product_name(product));
    char key[KDS_KEY_LEN];
    make_key(&k, key);
    if ((size_t)snprintf(out, n, "%s", key) >= n)
        return att_diag_set(d, ATT_E_ARG, "KDS key: buffer too small");
    return ATT_OK;
}

static att_err_t kds_key_product(att_snp_kds_kind_t what, att_snp_product_t product,
                                 att_snp_key_t kind, char *out, size_t n, att_diag_t *d)
{
    if (out == NULL)
        return att_diag_set(d, ATT_E_ARG, "KDS key: NULL argument");
    if (product <= ATT_SNP_PRODUCT_UNKNOWN || product >= ATT_SNP_NPRODUCTS)
        return att_diag_set(d, ATT_E_ARG, "KDS key: the product must be Milan, Genoa or Turin");
    if (kind != ATT_SNP_KEY_VCEK && kind != ATT_SNP_KEY_VLEK)
        return att_diag_set(d, ATT_E_ARG,
                            "KDS key: a CRL or cert_chain is of the VCEK or the VLEK hierarchy");
    kds_key_t k = {.kind = what, .product = product, .key_kind = kind};
    char key[KDS_KEY_LEN];
    make_key(&k, key);
    if ((size_t)snprintf(out, n, "%s", key) >= n)
        return att_diag_set(d, ATT_E_ARG, "KDS key: buffer too small");
    return ATT_OK;
}

ATT_API att_err_t att_snp_kds_key_crl(att_snp_product_t product, att_snp_key_t kind, char *out,
                                      size_t n, att_diag_t *d)
{
    return kds_key_product(ATT_SNP_KDS_CRL, product, kind, out, n, d);
}

ATT_API att_err_t att_snp_kds_key_chain(att_snp_product_t product, att_snp_key_t kind, char *out,
                                        size_t n, att_diag_t *d)
{
    return kds_key_product(ATT_SNP_KDS_CHAIN, product, kind, out, n, d);
}

/* What a key's answer is, for messages: "the Milan VCEK", "the Milan VLEK CRL". */
static void key_what(const kds_key_t *k, char *out, size_t n)
{
    const char *p = att_snp_product_name(k->product);
    if (k->kind == ATT_SNP_KDS_VCEK)
        snprintf(out, n, "the %s VCEK", p);
    else if (k->kind == ATT_SNP_KDS_CHAIN)
        snprintf(out, n, "the %s %s cert_chain", p,
                 k->key_kind == ATT_SNP_KEY_VLEK ? "VLEK" : "VCEK");
    else
        snprintf(out, n, "the %s %s CRL", p, k->key_kind == ATT_SNP_KEY_VLEK ? "VLEK" : "VCEK");
}

/* ---- objects ---- */

static att_snp_kds_obj_t *obj_new(const kds_key_t *k, const uint8_t *der, size_t len,
                                  att_time_t next_update)
{
    att_snp_kds_obj_t *o = calloc(1, sizeof(*o) + len);
    if (o == NULL)
        return NULL;
    uint8_t *copy = (uint8_t *)(o + 1);
    memcpy(copy, der, len);
    o->kind = k->kind;
    o->product = k->product;
    o->key_kind = k->key_kind;
    o->der = copy;
    o->len = len;
    o->next_update = next_update;
    o->refs_ = 1;
    return o;
}

ATT_API att_snp_kds_obj_t *att_snp_kds_obj_ref(att_snp_kds_obj_t *o)
{
    if (o != NULL)
        __atomic_fetch_add(&o->refs_, 1, __ATOMIC_RELAXED);
    return o;
}

ATT_API void att_snp_kds_obj_free(att_snp_kds_obj_t *o)
{
    if (o != NULL && __atomic_sub_fetch(&o->refs_, 1, __ATOMIC_ACQ_REL) == 0)
        free(o);
}

/* ---- load: an answer is the key's ---- */

static att_err_t load_vcek(const kds_key_t *k, const uint8_t *blob, size_t len, const char *what,
                           att_snp_kds_obj_t **out, att_time_t *next_update, att_diag_t *d)
{
    const char *pn = att_snp_product_name(k->product);
    const unsigned char *p = blob;
    X509 *x = len > 0 && len <= ATT_SNP_KDS_MAX_BODY ? d2i_X509(NULL, &p, (long)len) : NULL;
    att_err_t e = ATT_OK;
    if (x == NULL || p != blob + len) {
        e = att_diag_set(d, ATT_E_COLL_FORMAT, "%s: %zu bytes that are not a DER certificate%s",
                         what, len, x != NULL ? " (bytes after it)" : "");
        goto out;
    }
    char cn[128], icn[128], want[32];
    att_x509_cn(X509_get_subject_name(x), cn, sizeof(cn));
    att_x509_cn(X509_get_issuer_name(x), icn, sizeof(icn));
    snprintf(want, sizeof(want), "SEV-%s", pn);
    if (strcmp(cn, "SEV-VCEK") != 0 || strcmp(icn, want) != 0) {
        e = att_diag_set(d, ATT_E_COLL_FORMAT,
                         "%s: the certificate is '%s' issued by '%s', not SEV-VCEK issued by %s",
                         what, cn, icn, want);
        goto out;
    }
    if (att_key_type(X509_get0_pubkey(x)) != ATT_KEY_P384) {
        e = att_diag_set(d, ATT_E_COLL_FORMAT, "%s: the VCEK's key is not EC P-384", what);
        goto out;
    }
    att_snp_ext_t ext;
    att_diag_t d2;
    if (att_snp_ext_parse(x, &ext, &d2) != ATT_OK) {
        e = att_diag_set(d, ATT_E_COLL_FORMAT, "%s: %s", what, d2.msg);
        goto out;
    }
    if (att_snp_ext_product(&ext) != k->product) {
        e = att_diag_set(d, ATT_E_COLL_FORMAT, "%s: the VCEK's productName is '%s', not %s", what,
                         ext.has_product ? ext.product : "(none)", pn);
        goto out;
    }
    if (!ext.has_hwid || ext.hwid_len != k->hwid_len ||
        memcmp(ext.hwid, k->hwid, k->hwid_len) != 0) {
        char a[17] = "(none)", b[17];
        if (ext.has_hwid)
            att_hex_encode(ext.hwid, ext.hwid_len < 8 ? ext.hwid_len : 8, a);
        att_hex_encode(k->hwid, 8, b);
        e = att_diag_set(d, ATT_E_COLL_FORMAT,
                         "%s: the VCEK is of another chip: its hwID %s... (%zu bytes) is not the "
                         "requested %s... (%zu bytes)",
                         what, a, ext.has_hwid ? ext.hwid_len : 0, b, k->hwid_len);
        goto out;
    }
    static const struct {
        int arc;
        const char *name;
    } spl_arc[5] = {{1, "blSPL"}, {2, "teeSPL"}, {3, "snpSPL"}, {8, "ucodeSPL"}, {9, "fmcSPL"}};
    uint8_t want_spl[5];
    tcb_spl(k->product, k->tcb, want_spl);
    for (int i = 0; i < (k->product == ATT_SNP_TURIN ? 5 : 4); i++) {
        int a = spl_arc[i].arc;
        if (!ext.has_spl[a] || ext.spl[a] != want_spl[i]) {
            e = att_diag_set(d, ATT_E_COLL_FORMAT,
                             "%s: the VCEK is for another TCB: its %s is %s%d, the requested TCB "
                             "0x%016llx has %u",
                             what, spl_arc[i].name, ext.has_spl[a] ? "" : "missing, ",
                             ext.has_spl[a] ? ext.spl[a] : -1, (unsigned long long)k->tcb,
                             want_spl[i]);
            goto out;
        }
    }
    att_time_t na;
    if (!att_asn1_time(X509_get0_notAfter(x), &na)) {
        e = att_diag_set(d, ATT_E_COLL_FORMAT, "%s: the VCEK has a malformed notAfter", what);
        goto out;
    }
    if ((*out = obj_new(k, blob, len, na)) == NULL) {
        e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    *next_update = na;
out:
    X509_free(x);
    ERR_clear_error();
    return e;
}

/* cert_chain: exactly the ASK (ASVK) then the ARK of the key's product, the first issued by the
 * second; the blob is kept as served (PEM), for att_snp_verify's chain. */
static att_err_t load_chain(const kds_key_t *k, const uint8_t *blob, size_t len, const char *what,
                            att_snp_kds_obj_t **out, att_time_t *next_update, att_diag_t *d)
{
    const char *pn = att_snp_product_name(k->product);
    att_diag_t d2;
    STACK_OF(X509) *sk = len <= ATT_SNP_KDS_MAX_BODY
                             ? att_pem_chain(blob, len, 2, ATT_E_COLL_FORMAT, what, &d2)
                             : NULL;
    att_err_t e = ATT_OK;
    if (sk == NULL || sk_X509_num(sk) != 2) {
        e = att_diag_set(d, ATT_E_COLL_FORMAT, "%s: not two PEM certificates (ASK, ARK)", what);
        goto out;
    }
    X509 *ica = sk_X509_value(sk, 0), *ark = sk_X509_value(sk, 1);
    char cn[128], acn[128], want[40], warke[32];
    att_x509_cn(X509_get_subject_name(ica), cn, sizeof(cn));
    att_x509_cn(X509_get_subject_name(ark), acn, sizeof(acn));
    snprintf(want, sizeof(want), "SEV-%s%s", k->key_kind == ATT_SNP_KEY_VLEK ? "VLEK-" : "", pn);
    snprintf(warke, sizeof(warke), "ARK-%s", pn);
    if (strcmp(cn, want) != 0 || strcmp(acn, warke) != 0 ||
        X509_check_issued(ark, ica) != X509_V_OK) {
        e = att_diag_set(d, ATT_E_COLL_FORMAT,
                         "%s: the certificates are '%s' and '%s', not %s issued by %s", what, cn,
                         acn, want, warke);
        goto out;
    }
    att_time_t a, b;
    if (!att_asn1_time(X509_get0_notAfter(ica), &a) ||
        !att_asn1_time(X509_get0_notAfter(ark), &b)) {
        e = att_diag_set(d, ATT_E_COLL_FORMAT, "%s: a malformed notAfter", what);
        goto out;
    }
    if ((*out = obj_new(k, blob, len, a < b ? a : b)) == NULL) {
        e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    *next_update = a < b ? a : b;
out:
    sk_X509_pop_free(sk, X509_free);
    ERR_clear_error();
    return e;
}

/* AMD's pinned ARK of a product (roots.c), parsed once. */
static X509 *kds_arks[ATT_SNP_NPRODUCTS];
static pthread_once_t kds_arks_once = PTHREAD_ONCE_INIT;

static void kds_arks_init(void)
{
    for (int p = 1; p < ATT_SNP_NPRODUCTS; p++) {
        const unsigned char *q = att_snp_builtin[p].ark.ptr;
        X509 *x = d2i_X509(NULL, &q, (long)att_snp_builtin[p].ark.len);
        if (x != NULL && q == att_snp_builtin[p].ark.ptr + att_snp_builtin[p].ark.len)
            kds_arks[p] = x;
        else
            X509_free(x);
    }
    ERR_clear_error();
}

static att_err_t load_crl(const kds_cfg_t *c, const kds_key_t *k, const uint8_t *blob, size_t len,
                          att_time_t now, const char *what, att_snp_kds_obj_t **out,
                          att_time_t *next_update, att_diag_t *d)
{
    const char *pn = att_snp_product_name(k->product);
    pthread_once(&kds_arks_once, kds_arks_init);
    X509 *ark = kds_arks[k->product];
    att_diag_t d2;
    X509_CRL *crl = NULL;
    att_err_t e = ATT_OK;
    /* DER only, as KDS serves it (att_crl_parse also takes PEM: refused here so that the store
     * and the verifier see one form). */
    if (len == 0 || len > ATT_SNP_KDS_MAX_BODY || blob[0] != 0x30) {
        e = att_diag_set(d, ATT_E_CRL_PARSE, "%s: %zu bytes that are not a DER CRL", what, len);
        goto out;
    }
    if ((crl = att_crl_parse(blob, len, "the CRL", &d2)) == NULL) {
        e = att_diag_set(d, ATT_E_CRL_PARSE, "%s: %s", what, d2.msg);
        goto out;
    }
    char ccn[128], want[32];
    snprintf(want, sizeof(want), "ARK-%s", pn);
    att_x509_cn(X509_CRL_get_issuer(crl), ccn, sizeof(ccn));
    bool pinned_name =
        ark != NULL && X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ark)) == 0;
    if (!pinned_name && strcmp(ccn, want) != 0) {
        e = att_diag_set(d, ATT_E_CRL_ISSUER, "%s: the CRL is issued by '%s', not by %s", what, ccn,
                         want);
        goto out;
    }
    bool signed_ok = (pinned_name && att_crl_sig_ok(crl, X509_get0_pubkey(ark))) ||
                     att_trust_crl_sig_ok(c->trust, crl);
    if (!signed_ok) {
        e = att_diag_set(d, ATT_E_CRL_SIGNATURE,
                         "%s: the CRL's signature does not verify with AMD's pinned %s%s", what,
                         want, c->trust ? " nor with a trusted root" : "");
        goto out;
    }
    att_time_t tu, nu;
    char a[ATT_TIME_STRLEN], b[ATT_TIME_STRLEN];
    if (!att_asn1_time(X509_CRL_get0_lastUpdate(crl), &tu) ||
        X509_CRL_get0_nextUpdate(crl) == NULL ||
        !att_asn1_time(X509_CRL_get0_nextUpdate(crl), &nu)) {
        e = att_diag_set(d, ATT_E_CRL_PARSE,
                         "%s: the CRL has a malformed thisUpdate or no "
                         "nextUpdate",
                         what);
        goto out;
    }
    if (now != 0 && now < tu) {
        e = att_diag_set(d, ATT_E_CRL_NOT_YET_VALID,
                         "%s: the CRL is not valid before %s, now is %s", what,
                         att_time_format(tu, a), att_time_format(now, b));
        goto out;
    }
    if (now != 0 && now > nu) {
        e = att_diag_set(d, ATT_E_CRL_EXPIRED, "%s: the CRL expired at %s, now is %s", what,
                         att_time_format(nu, a), att_time_format(now, b));
        goto out;
    }
    if ((*out = obj_new(k, blob, len, nu)) == NULL) {
        e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    *next_update = nu;
out:
    X509_CRL_free(crl);
    ERR_clear_error();
    return e;
}

static att_err_t kds_load(const void *cfg, const char *key, const uint8_t *blob, size_t len,
                          att_time_t now, const char *what, void **obj, att_time_t *next_update,
                          att_diag_t *d)
{
    const kds_cfg_t *c = cfg;
    *obj = NULL;
    kds_key_t k;
    if (!key_parse(key, &k))
        return kds_check_key(cfg, key, d);
    char item[48], from[4200];
    key_what(&k, item, sizeof(item));
    if (what == NULL)
        snprintf(from, sizeof(from), "%s from %s", item, c->base ? c->base : "KDS");
    else
        snprintf(from, sizeof(from), "%s (%s)", item, what);
    att_snp_kds_obj_t *o = NULL;
    att_err_t e = k.kind == ATT_SNP_KDS_VCEK ? load_vcek(&k, blob, len, from, &o, next_update, d)
                  : k.kind == ATT_SNP_KDS_CHAIN
                      ? load_chain(&k, blob, len, from, &o, next_update, d)
                      : load_crl(c, &k, blob, len, now, from, &o, next_update, d);
    *obj = o;
    return e;
}

/* ---- fetch: one GET per key ---- */

static void kds_warn(att_coll_net_t *net, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void kds_warn(att_coll_net_t *net, const char *fmt, ...)
{
    if (net->warn == NULL)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    net->warn(net->warn_arg, line);
}

static void key_url(const kds_cfg_t *c, const kds_key_t *k, char *url, size_t n)
{
    const char *pn = att_snp_product_name(k->product);
    if (k->kind == ATT_SNP_KDS_CRL || k->kind == ATT_SNP_KDS_CHAIN) {
        snprintf(url, n, "%s/%s/v1/%s/%s", c->base,
                 k->key_kind == ATT_SNP_KEY_VLEK ? "vlek" : "vcek", pn,
                 k->kind == ATT_SNP_KDS_CRL ? "crl" : "cert_chain");
        return;
    }
    char hex[129], fmc[16] = "";
    uint8_t s[5];
    att_hex_encode(k->hwid, k->hwid_len, hex);
    tcb_spl(k->product, k->tcb, s);
    if (k->product == ATT_SNP_TURIN)
        snprintf(fmc, sizeof(fmc), "fmcSPL=%02u&", s[4]);
    snprintf(url, n, "%s/vcek/v1/%s/%s?%sblSPL=%02u&teeSPL=%02u&snpSPL=%02u&ucodeSPL=%02u", c->base,
             pn, hex, fmc, s[0], s[1], s[2], s[3]);
}

static att_err_t kds_fetch(const void *cfg, const char *key, att_coll_net_t *net, uint8_t **blob,
                           size_t *len, att_diag_t *d)
{
    const kds_cfg_t *c = cfg;
    *blob = NULL;
    *len = 0;
    kds_key_t k;
    if (!key_parse(key, &k))
        return kds_check_key(cfg, key, d);
    if (c->base == NULL)
        return att_diag_set(d, ATT_E_COLL_MISSING, "no collateral for %s (no KDS URL)", key);
    char url[KDS_URL_LEN], origin[KDS_URL_LEN], what[48];
    key_url(c, &k, url, sizeof(url));
    key_what(&k, what, sizeof(what));
    if (!att_net_origin(url, origin, sizeof(origin)))
        return att_diag_set(d, ATT_E_FETCH, "GET %s: not a usable URL", url);
    att_net_req_t rq = {.url = url,
                        .allow_http = strncmp(origin, "https:", 6) != 0,
                        .max_redirects = KDS_MAX_REDIRS,
                        .max_url = KDS_URL_LEN,
                        .deadline_ms = net->deadline_ms,
                        .max_body = ATT_SNP_KDS_MAX_BODY,
                        .ca_file = c->ca_file,
                        .user_agent = "attestd"};
    att_net_resp_t rs;
    att_diag_t in;
    att_diag_clear(&in);
    att_err_t e = att_net_request(NULL, &rq, &rs, &in);
    net->requests += rs.requests;
    const char *cur = rs.url ? rs.url : url;
    if (e != ATT_OK) {
        switch (rs.fail) {
        case ATT_NET_NOT_SENT:
        case ATT_NET_TIMEOUT:
            e = att_diag_set(d, ATT_E_FETCH,
                             "GET %s: timed out: the fetch of %s ran past its %ld ms deadline", cur,
                             what, net->timeout_ms);
            break;
        case ATT_NET_TOO_LARGE:
            e = att_diag_set(d, ATT_E_FETCH, "GET %s: the answer for %s exceeds %u bytes", cur,
                             what, ATT_SNP_KDS_MAX_BODY);
            break;
        case ATT_NET_TRANSPORT:
            e = att_diag_set(d, ATT_E_FETCH, "GET %s: %s", cur, rs.error);
            break;
        default:
            if (d)
                *d = in;
            break;
        }
        goto out;
    }
    if (rs.status != 200) {
        /* The body is KDS's business: logged (sanitized), never echoed. */
        char snippet[161], shown[128] = "";
        att_net_sanitize(rs.body, rs.len, snippet, sizeof(snippet));
        if (rs.location)
            att_net_sanitize((const uint8_t *)rs.location, strlen(rs.location), shown,
                             sizeof(shown));
        kds_warn(net, "KDS answered HTTP %ld for %s (GET %s)%s%s%s%s", rs.status, what, cur,
                 shown[0] ? "; a redirect not followed, to " : "", shown,
                 snippet[0] ? "; body: " : "", snippet);
        if (rs.retry_after > 0)
            net->retry_after = rs.retry_after;
        e = att_diag_set(d, ATT_E_FETCH_STATUS, "KDS answered HTTP %ld for %s (GET %s)%s",
                         rs.status, what, cur,
                         rs.redirect != ATT_NET_REDIR_NONE ? ", a redirect not followed" : "");
        goto out;
    }
    *blob = rs.body;
    *len = rs.len;
    rs.body = NULL;
out:
    att_net_resp_clear(&rs);
    return e;
}

/* ---- offline: the `attest snp verify --kds-dir` layout ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static att_err_t offline_file(const kds_cfg_t *c, const char *path, kds_key_t *k, att_time_t now,
                              att_coll_found_fn found, void *arg, att_diag_t *d)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    att_diag_t d2;
    att_err_t e = att_read_file(path, ATT_SNP_KDS_MAX_BODY, &buf, &len, &d2);
    if (e != ATT_OK)
        return att_diag_set(d, e, "offline KDS directory: %s", d2.msg);
    if (k->kind == ATT_SNP_KDS_VCEK) {
        /* The file name says the chip, not the TCB: the TCB is the certificate's own. */
        const unsigned char *p = buf;
        X509 *x = d2i_X509(NULL, &p, (long)len);
        att_snp_ext_t ext;
        if (x != NULL && p == buf + len && att_snp_ext_parse(x, &ext, &d2) == ATT_OK) {
            uint8_t spl[5];
            static const int arc[5] = {1, 2, 3, 8, 9};
            for (int i = 0; i < 5; i++)
                spl[i] = ext.has_spl[arc[i]] ? ext.spl[arc[i]] : 0;
            k->tcb = tcb_encode(k->product, spl);
        }
        X509_free(x);
        ERR_clear_error();
    }
    char key[KDS_KEY_LEN];
    make_key(k, key);
    void *obj = NULL;
    att_time_t nu = 0;
    e = kds_load(c, key, buf, len, now, path, &obj, &nu, d);
    free(buf);
    if (e != ATT_OK)
        return e;
    return found(arg, key, obj, nu, d);
}

/* One DIR/<vcek|vlek>/v1/<Product>/ directory. */
static att_err_t offline_product(const kds_cfg_t *c, const char *pdir, att_snp_product_t p,
                                 att_snp_key_t kind, att_time_t now, att_coll_found_fn found,
                                 void *arg, size_t *n_found, att_diag_t *d)
{
    DIR *dh = opendir(pdir);
    if (dh == NULL)
        return ATT_OK; /* absent: no set of this product */
    char **names = NULL;
    size_t n = 0, cap = 0;
    att_err_t e = ATT_OK;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == KDS_MAX_FILES) {
            e = att_diag_set(d, ATT_E_LIMIT, "offline KDS directory %s holds more than %d files",
                             pdir, KDS_MAX_FILES);
            goto out;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = realloc(names, nc * sizeof(*nn));
            if (nn == NULL) {
                e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
                goto out;
            }
            names = nn;
            cap = nc;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) {
            e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof(*names), cmp_str); /* deterministic order */
    for (size_t i = 0; i < n && e == ATT_OK; i++) {
        kds_key_t k = {.product = p, .key_kind = kind};
        const char *nm = names[i];
        size_t hn = 2 * hwid_len(p);
        if (strcmp(nm, "crl") == 0) {
            k.kind = ATT_SNP_KDS_CRL;
        } else if (strcmp(nm, "cert_chain") == 0) {
            k.kind = ATT_SNP_KDS_CHAIN;
        } else if (kind == ATT_SNP_KEY_VCEK && strlen(nm) == hn && lower_hex(nm, hn)) {
            k.kind = ATT_SNP_KDS_VCEK;
            k.hwid_len = hwid_len(p);
            att_hex_decode(nm, hn, k.hwid, k.hwid_len);
        } else {
            continue; /* not a KDS answer */
        }
        char path[4096];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", pdir, nm) >= sizeof(path))
            continue;
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if ((e = offline_file(c, path, &k, now, found, arg, d)) == ATT_OK)
            (*n_found)++;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(dh);
    return e;
}

static att_err_t kds_offline(const void *cfg, const char *dir, att_time_t now,
                             att_coll_found_fn found, void *arg, att_diag_t *d)
{
    const kds_cfg_t *c = cfg;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return att_diag_set(d, ATT_E_IO, "offline collateral directory %s cannot be opened", dir);
    size_t n = 0;
    for (int k = 0; k < 2; k++) {
        for (int p = 1; p < ATT_SNP_NPRODUCTS; p++) {
            char pdir[4096];
            if ((size_t)snprintf(pdir, sizeof(pdir), "%s/%s/v1/%s", dir, k ? "vlek" : "vcek",
                                 att_snp_product_name((att_snp_product_t)p)) >= sizeof(pdir))
                return att_diag_set(d, ATT_E_IO, "offline collateral directory name too long");
            att_err_t e =
                offline_product(c, pdir, (att_snp_product_t)p,
                                k ? ATT_SNP_KEY_VLEK : ATT_SNP_KEY_VCEK, now, found, arg, &n, d);
            if (e != ATT_OK)
                return e;
        }
    }
    if (n == 0)
        return att_diag_set(d, ATT_E_COLL_MISSING,
                            "offline collateral directory %s holds no KDS answer "
                            "({vcek,vlek}/v1/<Product>/crl or vcek/v1/<Product>/<hwid hex>)",
                            dir);
    return ATT_OK;
}

/* ---- the fetcher table ---- */

static bool kds_online(const void *cfg)
{
    return ((const kds_cfg_t *)cfg)->base != NULL;
}

static void *kds_retain(void *obj)
{
    return att_snp_kds_obj_ref(obj);
}

static void kds_release(void *obj)
{
    att_snp_kds_obj_free(obj);
}

static void kds_cfg_free(void *cfg)
{
    kds_cfg_t *c = cfg;
    if (c == NULL)
        return;
    free(c->base);
    free(c->ca_file);
    free(c);
}

ATT_API const att_coll_fetcher_t att_snp_kds_fetcher = {
    .prefix = "kds",
    .url_name = "KDS URL",
    .check_key = kds_check_key,
    .online = kds_online,
    .fetch = kds_fetch,
    .load = kds_load,
    .retain = kds_retain,
    .release = kds_release,
    .offline = kds_offline,
    .cfg_free = kds_cfg_free,
};

ATT_API att_err_t att_snp_kds_new(const att_snp_kds_opts_t *o, void **out, att_diag_t *d)
{
    if (o == NULL || out == NULL)
        return att_diag_set(d, ATT_E_ARG, "KDS: NULL argument");
    *out = NULL;
    kds_cfg_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    c->trust = o->trust;
    att_err_t e = ATT_OK;
    if (o->ca_file != NULL && (c->ca_file = strdup(o->ca_file)) == NULL) {
        e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto fail;
    }
    if (o->base_url &&
        (e = att_net_base_url(o->base_url, KDS_MAX_BASE, "KDS URL", &c->base, d)) != ATT_OK)
        goto fail;
    *out = c;
    return ATT_OK;
fail:
    kds_cfg_free(c);
    return e;
}
