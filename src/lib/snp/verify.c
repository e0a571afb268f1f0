/* verify.c - SEV-SNP report verification: VCEK/VLEK, the AMD chain, the KDS CRL, the
 * extensions against the report, the report signature; and the certificate cache.
 *
 * Order of checks (docs/snp.md "What is checked"): report structure (report.c); the signing key
 * the report names; the chain the caller gave (intermediate, then optionally the ARK) checked to
 * AMD's pinned ARK of its product or a root of the caller's store; the leaf (CN, P-384 key, AMD
 * extensions, issued and signed by the intermediate); the product of the report against the
 * leaf's and the chain's; validity of the ARK, intermediate and leaf at `now`; the CRL when given;
 * hwID and TCB SPLs against the report; the report signature.
 *
 * The report signature uses OpenSSL's EC_KEY / ECDSA_do_verify, deprecated in 3.0, for the reason
 * crypto.c gives for P-256: the EVP path costs a provider fetch, a context and a key import per
 * call, which dominates a cached verification. Certificates, the chain and CRLs use EVP through
 * the crypto module's helpers.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "core/lru.h"
#include "core/util.h"
#include "crypto/crypto.h"
#include "snp/snp_int.h"

/* At most this many certificates in a caller's chain (leaf, intermediate, ARK). */
#define ATT_SNP_MAX_CHAIN 3
/* Intermediate entries a cache keeps (one per product and key kind, plus bundles that carry
 * their leaf, as Azure's THIM serves them). */
#define ATT_SNP_ICA_CAP 16

/* ---- a verified intermediate with its root ------------------------------------------------ */

typedef struct {
    _Atomic int refs; /* compiled-in entries are never freed */
    bool builtin;
    /* The cache key: the chain's bytes as given after its leaf (when it starts with one, as
     * a THIM bundle does; had_leaf), else all of them; NULL when compiled in. Chains of many
     * chips under one ASK share the entry: the leaf is the request's, never the entry's. */
    uint8_t *key;
    size_t key_len;
    bool had_leaf;
    X509 *ica, *ark;
    att_snp_product_t product;
    att_snp_key_t kind;
    bool amd_root;
    att_time_t ica_nb, ica_na, ark_nb, ark_na;
    /* The last CRL whose signature verified with the ARK (SHA-256 of its bytes). */
    pthread_mutex_t crl_mu;
    uint8_t crl_hash[32];
    bool crl_ok;
} att_snp_ica_t;

/* A verified leaf: issued and signed by `ica`; its key and extensions read once. */
typedef struct {
    _Atomic int refs;
    uint8_t *der; /* the bytes as given (cache key) */
    size_t len;
    att_snp_ica_t *ica; /* referenced */
    EC_KEY *key;
    att_snp_ext_t ext;
    att_snp_product_t product;
    att_snp_key_t kind;
    att_time_t nb, na;
} att_snp_leaf_t;

struct att_snp_cache {
    pthread_mutex_t mu;
    att_lru_t *lru; /* leaves: SHA-256 of the DER, tagged with their intermediate (0: built-in) */
    size_t ni, inext;
    att_snp_ica_t *ica[ATT_SNP_ICA_CAP];
};

static void att_ica_release(att_snp_ica_t *e)
{
    if (e == NULL || e->builtin || atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    X509_free(e->ica);
    X509_free(e->ark);
    pthread_mutex_destroy(&e->crl_mu);
    free(e->key);
    free(e);
}

static void att_leaf_release(att_snp_leaf_t *l)
{
    if (l == NULL || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    att_ica_release(l->ica);
    EC_KEY_free(l->key);
    free(l->der);
    free(l);
}

/* ---- AMD's hierarchy, compiled in (roots.c) ---------------------------------------------- */

typedef struct {
    X509 *ark;
    att_trust_t *store;   /* the ARK's key alone */
    att_snp_ica_t ica[2]; /* [ATT_SNP_KEY_VCEK] the ASK, [ATT_SNP_KEY_VLEK] the ASVK */
} att_snp_pin_t;

static att_snp_pin_t att_pins[ATT_SNP_NPRODUCTS];
static pthread_once_t att_pins_once = PTHREAD_ONCE_INIT;

static X509 *att_der_cert(att_slice_t s)
{
    const unsigned char *p = s.ptr;
    X509 *x = d2i_X509(NULL, &p, (long)s.len);
    return x != NULL && p == s.ptr + s.len ? x : (X509_free(x), NULL);
}

static bool att_window(X509 *x, att_time_t *nb, att_time_t *na)
{
    return att_asn1_time(X509_get0_notBefore(x), nb) && att_asn1_time(X509_get0_notAfter(x), na);
}

static void att_pins_init(void)
{
    for (int p = 1; p < ATT_SNP_NPRODUCTS; p++) {
        att_snp_pin_t *pin = &att_pins[p];
        pin->ark = att_der_cert(att_snp_builtin[p].ark);
        pin->store = att_trust_new_empty();
        if (pin->ark == NULL || pin->store == NULL ||
            att_trust_pin(pin->store, X509_get0_pubkey(pin->ark), NULL) != ATT_OK ||
            att_check_root(pin->ark, "AMD ARK", NULL) != ATT_OK)
            continue; /* the product stays unusable: every verification of it fails */
        const att_slice_t icas[2] = {att_snp_builtin[p].ask, att_snp_builtin[p].asvk};
        for (int k = 0; k < 2; k++) {
            att_snp_ica_t *e = &pin->ica[k];
            X509 *x = att_der_cert(icas[k]);
            /* Checked once: issued and signed by the ARK; validity at each verification. */
            if (x == NULL || X509_check_issued(pin->ark, x) != X509_V_OK ||
                !att_x509_sig_ok(x, X509_get0_pubkey(pin->ark)) ||
                !att_window(x, &e->ica_nb, &e->ica_na) ||
                !att_window(pin->ark, &e->ark_nb, &e->ark_na)) {
                X509_free(x);
                continue;
            }
            e->builtin = true;
            e->ica = x;
            e->ark = pin->ark;
            e->product = (att_snp_product_t)p;
            e->kind = k == 0 ? ATT_SNP_KEY_VCEK : ATT_SNP_KEY_VLEK;
            e->amd_root = true;
            pthread_mutex_init(&e->crl_mu, NULL);
        }
    }
    ERR_clear_error();
}

/* The product whose pinned ARK has this certificate's key, or UNKNOWN. */
static att_snp_product_t att_pinned_product(X509 *x)
{
    for (int p = 1; p < ATT_SNP_NPRODUCTS; p++)
        if (att_pins[p].store != NULL && att_trust_has_key(att_pins[p].store, x))
            return (att_snp_product_t)p;
    return ATT_SNP_PRODUCT_UNKNOWN;
}

/* "SEV-Milan" -> (Milan, VCEK); "SEV-VLEK-Genoa" -> (Genoa, VLEK); else UNKNOWN. */
static att_snp_product_t att_ica_cn(const char *cn, att_snp_key_t *kind)
{
    if (strncmp(cn, "SEV-VLEK-", 9) == 0) {
        *kind = ATT_SNP_KEY_VLEK;
        return att_snp_product_parse(cn + 9, strlen(cn + 9));
    }
    if (strncmp(cn, "SEV-", 4) == 0) {
        *kind = ATT_SNP_KEY_VCEK;
        return att_snp_product_parse(cn + 4, strlen(cn + 4));
    }
    return ATT_SNP_PRODUCT_UNKNOWN;
}

/* ---- the chain a caller gave ---------------------------------------------------------------- */

/* Parse and verify a caller's chain: [leaf] intermediate [ARK], PEM. The intermediate names the
 * product and key kind; the ARK (given, or the pinned one of that product) must be AMD's pinned
 * ARK of the product or a root of `trust` named ARK-<product>. */
/* The chain's first PEM block as DER (*der, OPENSSL_malloc'd) and the offset of what follows
 * it; false when the text does not start with a PEM certificate. Decodes, parses nothing. */
static bool att_chain_first(const uint8_t *chain, size_t len, unsigned char **der, long *der_len,
                            size_t *rest)
{
    *der = NULL;
    BIO *b = BIO_new_mem_buf(chain, (int)len);
    char *name = NULL, *hdr = NULL;
    bool ok = b != NULL && PEM_read_bio(b, &name, &hdr, der, der_len) == 1 &&
              strcmp(name, PEM_STRING_X509) == 0 && *der_len > 0;
    if (ok)
        *rest = len - (size_t)BIO_pending(b);
    if (!ok) {
        OPENSSL_free(*der);
        *der = NULL;
    }
    OPENSSL_free(name);
    OPENSSL_free(hdr);
    BIO_free(b);
    ERR_clear_error();
    return ok;
}

/* The intermediate and root of in->chain, verified; a leaf the chain starts with is left to
 * the caller (its DER in *leaf, *leaf_len, OPENSSL_malloc'd). */
static att_err_t att_ica_new(const att_snp_input_t *in, att_snp_ica_t **out, unsigned char **leaf,
                             size_t *leaf_len, att_diag_t *diag)
{
    *out = NULL;
    *leaf = NULL;
    *leaf_len = 0;
    size_t key_off = 0;
    STACK_OF(X509) *sk = att_pem_chain(in->chain, in->chain_len, ATT_SNP_MAX_CHAIN,
                                       ATT_E_CERT_PARSE, "the given certificate chain", diag);
    if (sk == NULL)
        return diag ? diag->code : ATT_E_CERT_PARSE;
    att_err_t e = ATT_OK;
    att_snp_ica_t *r = calloc(1, sizeof(*r));
    int n = sk_X509_num(sk), i = 0;
    char cn[128];
    if (r == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    atomic_init(&r->refs, 1);
    pthread_mutex_init(&r->crl_mu, NULL);
    att_x509_cn(X509_get_subject_name(sk_X509_value(sk, 0)), cn, sizeof(cn));
    if (strcmp(cn, "SEV-VCEK") == 0 || strcmp(cn, "SEV-VLEK") == 0) {
        long dl = 0;
        if (!att_chain_first(in->chain, in->chain_len, leaf, &dl, &key_off)) {
            e = att_diag_set(diag, ATT_E_CERT_PARSE, "the given chain's leaf cannot be decoded");
            goto out;
        }
        *leaf_len = (size_t)dl;
        r->had_leaf = true;
        i = 1;
    }
    if (i >= n) {
        e = att_diag_set(diag, ATT_E_CERT_PARSE,
                         "the given certificate chain holds no ASK or ASVK after the leaf");
        goto out;
    }
    r->ica = X509_dup(sk_X509_value(sk, i));
    att_x509_cn(X509_get_subject_name(r->ica), cn, sizeof(cn));
    r->product = att_ica_cn(cn, &r->kind);
    if (r->product == ATT_SNP_PRODUCT_UNKNOWN) {
        e = att_diag_set(diag, ATT_E_CERT_SUBJECT,
                         "the given chain's intermediate '%s' is not an AMD ASK (SEV-<product>) "
                         "or ASVK (SEV-VLEK-<product>) of Milan, Genoa or Turin",
                         cn);
        goto out;
    }
    if (i + 2 < n) {
        e = att_diag_set(diag, ATT_E_CERT_PARSE,
                         "the given certificate chain holds %d certificates after the "
                         "intermediate; at most the ARK may follow it",
                         n - i - 1);
        goto out;
    }
    r->ark = i + 1 < n ? X509_dup(sk_X509_value(sk, i + 1)) : X509_dup(att_pins[r->product].ark);
    if (r->ica == NULL || r->ark == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    const char *pname = att_snp_product_name(r->product);
    att_snp_product_t pinned = att_pinned_product(r->ark);
    const att_trust_t *store = NULL;
    if (pinned == r->product) {
        store = att_pins[r->product].store;
        r->amd_root = true;
    } else if (pinned != ATT_SNP_PRODUCT_UNKNOWN) {
        e = att_diag_set(diag, ATT_E_CERT_UNTRUSTED_ROOT,
                         "the given chain ends at AMD's ARK-%s, but its intermediate '%s' is "
                         "of %s: a chain of another product",
                         att_snp_product_name(pinned), cn, pname);
        goto out;
    } else if (in->trust != NULL && att_trust_has_key(in->trust, r->ark)) {
        char acn[128], want[32];
        att_x509_cn(X509_get_subject_name(r->ark), acn, sizeof(acn));
        snprintf(want, sizeof(want), "ARK-%s", pname);
        if (strcmp(acn, want) != 0) {
            e = att_diag_set(diag, ATT_E_CERT_SUBJECT,
                             "the given chain's root '%s' is trusted but is not named %s, "
                             "the ARK of its intermediate's product",
                             acn, want);
            goto out;
        }
        store = in->trust;
    } else {
        char name[256];
        att_x509_name_str(X509_get_subject_name(r->ark), name, sizeof(name));
        e = att_diag_set(diag, ATT_E_CERT_UNTRUSTED_ROOT,
                         "the given chain ends at %s, which is neither AMD's pinned ARK-%s nor a "
                         "trusted root",
                         name, pname);
        goto out;
    }
    X509 *pair[2] = {r->ica, r->ark};
    e = att_trust_check_chain(store, pair, 2, in->now, "AMD certificate chain", diag);
    if (e != ATT_OK)
        goto out;
    if (!att_window(r->ica, &r->ica_nb, &r->ica_na) ||
        !att_window(r->ark, &r->ark_nb, &r->ark_na)) {
        e = att_diag_set(diag, ATT_E_CERT_PARSE, "the given chain has malformed dates");
        goto out;
    }
    r->key_len = in->chain_len - key_off;
    if ((r->key = malloc(r->key_len ? r->key_len : 1)) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(r->key, in->chain + key_off, r->key_len);
out:
    sk_X509_pop_free(sk, X509_free);
    if (e != ATT_OK) {
        att_ica_release(r);
        OPENSSL_free(*leaf);
        *leaf = NULL;
        *leaf_len = 0;
    } else {
        *out = r;
    }
    ERR_clear_error();
    return e;
}

/* ---- the leaf ---------------------------------------------------------------------------- */

static att_err_t att_leaf_new(const uint8_t *der, size_t len, att_snp_ica_t *given,
                              att_snp_leaf_t **out, att_diag_t *diag)
{
    *out = NULL;
    X509 *x = att_cert_parse(der, len, "the VCEK/VLEK certificate", diag);
    if (x == NULL)
        return ATT_E_CERT_PARSE;
    att_err_t e = ATT_OK;
    att_snp_leaf_t *l = calloc(1, sizeof(*l));
    char cn[128], icn[128];
    if (l == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    atomic_init(&l->refs, 1);
    att_x509_cn(X509_get_subject_name(x), cn, sizeof(cn));
    if (strcmp(cn, "SEV-VCEK") == 0)
        l->kind = ATT_SNP_KEY_VCEK;
    else if (strcmp(cn, "SEV-VLEK") == 0)
        l->kind = ATT_SNP_KEY_VLEK;
    else {
        e = att_diag_set(diag, ATT_E_CERT_SUBJECT,
                         "the leaf certificate's CN is '%s', not SEV-VCEK or SEV-VLEK", cn);
        goto out;
    }
    const char *kn = l->kind == ATT_SNP_KEY_VCEK ? "VCEK" : "VLEK";
    if (att_key_type(X509_get0_pubkey(x)) != ATT_KEY_P384) {
        char key[64];
        att_key_name(X509_get0_pubkey(x), key, sizeof(key));
        e = att_diag_set(diag, ATT_E_CERT_KEY, "the %s has an %s key, not EC P-384", kn, key);
        goto out;
    }
    if ((e = att_snp_ext_parse(x, &l->ext, diag)) != ATT_OK)
        goto out;
    if (!l->ext.has_product) {
        e = att_diag_set(diag, ATT_E_SNP_CERT_EXTENSION,
                         "the %s has no productName extension (1.3.6.1.4.1.3704.1.2)", kn);
        goto out;
    }
    l->product = att_snp_ext_product(&l->ext);
    if (l->product == ATT_SNP_PRODUCT_UNKNOWN) {
        e = att_diag_set(diag, ATT_E_SNP_CERT_EXTENSION,
                         "the %s productName '%s' is not Milan, Genoa or Turin", kn,
                         l->ext.product);
        goto out;
    }
    const char *pname = att_snp_product_name(l->product);
    att_snp_key_t ikind = ATT_SNP_KEY_NONE;
    att_x509_cn(X509_get_issuer_name(x), icn, sizeof(icn));
    if (att_ica_cn(icn, &ikind) != l->product || ikind != l->kind) {
        e = att_diag_set(diag, ATT_E_CERT_ISSUER,
                         "the %s (productName '%s') names issuer '%s', not SEV-%s%s", kn,
                         l->ext.product, icn, l->kind == ATT_SNP_KEY_VLEK ? "VLEK-" : "", pname);
        goto out;
    }
    att_snp_ica_t *ica = given;
    if (ica == NULL) {
        ica = &att_pins[l->product].ica[l->kind];
        if (!ica->builtin) {
            e = att_diag_set(diag, ATT_E_INTERNAL, "AMD's %s hierarchy of %s did not load",
                             l->kind == ATT_SNP_KEY_VCEK ? "ASK" : "ASVK", pname);
            goto out;
        }
    } else if (ica->product != l->product || ica->kind != l->kind) {
        char gcn[128];
        att_x509_cn(X509_get_subject_name(ica->ica), gcn, sizeof(gcn));
        e = att_diag_set(diag, ATT_E_CERT_ISSUER,
                         "the %s is of %s (issuer '%s') but the given chain's intermediate is "
                         "'%s': a chain of another product or key kind",
                         kn, pname, icn, gcn);
        goto out;
    }
    int r = X509_check_issued(ica->ica, x);
    if (r != X509_V_OK) {
        e = att_diag_set(diag, ATT_E_CERT_ISSUER, "the %s is not issued by '%s': %s", kn, icn,
                         X509_verify_cert_error_string(r));
        goto out;
    }
    if (!att_x509_sig_ok(x, X509_get0_pubkey(ica->ica))) {
        e = att_diag_set(diag, ATT_E_CERT_SIGNATURE,
                         "the %s's signature does not verify with the key of %s (RSASSA-PSS)", kn,
                         icn);
        goto out;
    }
    if (!att_window(x, &l->nb, &l->na)) {
        e = att_diag_set(diag, ATT_E_CERT_PARSE, "the %s has malformed dates", kn);
        goto out;
    }
    if ((l->key = EVP_PKEY_get1_EC_KEY(X509_get0_pubkey(x))) == NULL ||
        (l->der = malloc(len)) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(l->der, der, len);
    l->len = len;
    if (!ica->builtin)
        atomic_fetch_add(&ica->refs, 1);
    l->ica = ica;
out:
    X509_free(x);
    ERR_clear_error();
    if (e != ATT_OK)
        att_leaf_release(l);
    else
        *out = l;
    return e;
}

/* ---- the cache ----------------------------------------------------------------------------- */

ATT_API att_snp_cache_t *att_snp_cache_new(size_t capacity)
{
    if (capacity == 0)
        return NULL;
    att_snp_cache_t *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->lru = att_lru_new(capacity)) == NULL ||
        pthread_mutex_init(&c->mu, NULL) != 0) {
        if (c)
            att_lru_free(c->lru, NULL);
        free(c);
        return NULL;
    }
    return c;
}

static void att_leaf_drop(void *l)
{
    att_leaf_release(l);
}

ATT_API void att_snp_cache_free(att_snp_cache_t *c)
{
    if (c == NULL)
        return;
    att_lru_free(c->lru, att_leaf_drop);
    for (size_t i = 0; i < c->ni; i++)
        att_ica_release(c->ica[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

ATT_API void att_snp_cache_stats(att_snp_cache_t *c, uint64_t *hits, uint64_t *misses)
{
    att_snp_cache_counts_t n;
    att_snp_cache_counts(c, &n);
    *hits = n.hits;
    *misses = n.misses;
}

ATT_API void att_snp_cache_counts(att_snp_cache_t *c, att_snp_cache_counts_t *out)
{
    att_lru_stats_t st;
    pthread_mutex_lock(&c->mu);
    att_lru_stats(c->lru, &st);
    pthread_mutex_unlock(&c->mu);
    *out = (att_snp_cache_counts_t){.hits = st.hits,
                                    .misses = st.misses,
                                    .evictions = st.evictions,
                                    .entries = st.entries,
                                    .capacity = st.capacity};
}

static att_snp_ica_t *att_cache_ica_get(att_snp_cache_t *c, const uint8_t *key, size_t len,
                                        bool had_leaf)
{
    att_snp_ica_t *hit = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->ni && hit == NULL; i++)
        if (c->ica[i]->had_leaf == had_leaf && c->ica[i]->key_len == len &&
            memcmp(c->ica[i]->key, key, len) == 0) {
            hit = c->ica[i];
            atomic_fetch_add(&hit->refs, 1);
        }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

static void att_cache_ica_put(att_snp_cache_t *c, att_snp_ica_t *e)
{
    att_snp_ica_t *old = NULL;
    atomic_fetch_add(&e->refs, 1);
    pthread_mutex_lock(&c->mu);
    if (c->ni < ATT_SNP_ICA_CAP) {
        c->ica[c->ni++] = e;
    } else {
        old = c->ica[c->inext];
        c->ica[c->inext] = e;
        c->inext = (c->inext + 1) % ATT_SNP_ICA_CAP;
    }
    pthread_mutex_unlock(&c->mu);
    att_ica_release(old);
}

/* A leaf verified under `ica` (NULL: the compiled-in intermediate of its product). */
static att_snp_leaf_t *att_cache_leaf_get(att_snp_cache_t *c, const uint8_t *der, size_t len,
                                          const att_snp_ica_t *ica)
{
    uint8_t key[32];
    if (SHA256(der, len, key) == NULL)
        return NULL;
    pthread_mutex_lock(&c->mu);
    att_snp_leaf_t *hit = att_lru_get(c->lru, key, (uint64_t)(uintptr_t)ica);
    if (hit != NULL && (hit->len != len || memcmp(hit->der, der, len) != 0))
        hit = NULL; /* a SHA-256 collision: not this leaf */
    if (hit != NULL)
        atomic_fetch_add(&hit->refs, 1);
    pthread_mutex_unlock(&c->mu);
    return hit;
}

static void att_cache_leaf_put(att_snp_cache_t *c, att_snp_leaf_t *l)
{
    uint8_t key[32];
    if (SHA256(l->der, l->len, key) == NULL)
        return;
    atomic_fetch_add(&l->refs, 1);
    pthread_mutex_lock(&c->mu);
    att_snp_leaf_t *out =
        att_lru_put(c->lru, key, l->ica->builtin ? 0 : (uint64_t)(uintptr_t)l->ica, l);
    pthread_mutex_unlock(&c->mu);
    att_leaf_release(out); /* replaced, evicted, or l itself when it could not be kept */
}

/* ---- per-verification checks ------------------------------------------------------------- */

static att_err_t att_window_at(att_time_t nb, att_time_t na, att_time_t now, const char *what,
                               att_diag_t *diag)
{
    char a[ATT_TIME_STRLEN], b[ATT_TIME_STRLEN];
    if (now < nb)
        return att_diag_set(diag, ATT_E_CERT_NOT_YET_VALID,
                            "the %s is not valid before %s, now is %s", what,
                            att_time_format(nb, a), att_time_format(now, b));
    if (now > na)
        return att_diag_set(diag, ATT_E_CERT_EXPIRED, "the %s expired at %s, now is %s", what,
                            att_time_format(na, a), att_time_format(now, b));
    return ATT_OK;
}

/* The KDS CRL of the product: issued and signed by the ARK, valid at now, not revoking the
 * intermediate. */
static att_err_t att_crl_check(const att_snp_input_t *in, att_snp_ica_t *ica, att_diag_t *diag)
{
    X509_CRL *crl = att_crl_parse(in->crl, in->crl_len, "the KDS CRL", diag);
    if (crl == NULL)
        return ATT_E_CRL_PARSE;
    att_err_t e = ATT_OK;
    char acn[128], ccn[128];
    att_x509_cn(X509_get_subject_name(ica->ark), acn, sizeof(acn));
    att_x509_cn(X509_CRL_get_issuer(crl), ccn, sizeof(ccn));
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ica->ark)) != 0) {
        e = att_diag_set(diag, ATT_E_CRL_ISSUER, "the KDS CRL is issued by '%s', not by %s", ccn,
                         acn);
        goto out;
    }
    uint8_t h[32];
    if (SHA256(in->crl, in->crl_len, h) == NULL) {
        e = att_diag_set(diag, ATT_E_INTERNAL, "SHA-256 failed");
        goto out;
    }
    pthread_mutex_lock(&ica->crl_mu);
    bool known = ica->crl_ok && memcmp(ica->crl_hash, h, 32) == 0;
    pthread_mutex_unlock(&ica->crl_mu);
    if (!known) {
        if (!att_crl_sig_ok(crl, X509_get0_pubkey(ica->ark))) {
            e = att_diag_set(diag, ATT_E_CRL_SIGNATURE,
                             "the KDS CRL's signature does not verify with the key of %s", acn);
            goto out;
        }
        pthread_mutex_lock(&ica->crl_mu);
        memcpy(ica->crl_hash, h, 32);
        ica->crl_ok = true;
        pthread_mutex_unlock(&ica->crl_mu);
    }
    att_time_t tu, nu;
    char a[ATT_TIME_STRLEN], b[ATT_TIME_STRLEN];
    if (!att_asn1_time(X509_CRL_get0_lastUpdate(crl), &tu) ||
        X509_CRL_get0_nextUpdate(crl) == NULL ||
        !att_asn1_time(X509_CRL_get0_nextUpdate(crl), &nu)) {
        e = att_diag_set(diag, ATT_E_CRL_PARSE,
                         "the KDS CRL has a malformed thisUpdate or no nextUpdate");
    } else if (in->now < tu) {
        e = att_diag_set(diag, ATT_E_CRL_NOT_YET_VALID,
                         "the KDS CRL is not valid before %s, now is %s", att_time_format(tu, a),
                         att_time_format(in->now, b));
    } else if (in->now > nu) {
        e = att_diag_set(diag, ATT_E_CRL_EXPIRED, "the KDS CRL expired at %s, now is %s",
                         att_time_format(nu, a), att_time_format(in->now, b));
    } else {
        X509_REVOKED *rev = NULL;
        if (X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(ica->ica)) == 1) {
            char serial[80], icn[128];
            att_x509_serial_hex(X509_get0_serialNumber(ica->ica), serial, sizeof(serial));
            att_x509_cn(X509_get_subject_name(ica->ica), icn, sizeof(icn));
            e = att_diag_set(diag, ATT_E_CERT_REVOKED,
                             "%s (serial %s) is revoked by the KDS CRL of %s", icn, serial, acn);
        }
    }
out:
    X509_CRL_free(crl);
    ERR_clear_error();
    return e;
}

/* hwID and the TCB SPLs of the leaf against the report. */
static att_err_t att_ext_match(const att_snp_report_t *rep, const att_snp_leaf_t *l,
                               att_snp_product_t product, att_diag_t *diag)
{
    const char *kn = l->kind == ATT_SNP_KEY_VCEK ? "VCEK" : "VLEK";
    if (l->kind == ATT_SNP_KEY_VCEK) {
        size_t n = product == ATT_SNP_TURIN ? 8 : 64;
        char a[129], b[129];
        if (!l->ext.has_hwid)
            return att_diag_set(diag, ATT_E_SNP_CERT_EXTENSION,
                                "the VCEK has no hwID extension (1.3.6.1.4.1.3704.1.4)");
        if (l->ext.hwid_len != n)
            return att_diag_set(diag, ATT_E_SNP_CERT_EXTENSION,
                                "the VCEK hwID has %zu bytes; a %s VCEK's has %zu", l->ext.hwid_len,
                                att_snp_product_name(product), n);
        bool zero = true;
        for (size_t i = 0; i < 64; i++)
            zero = zero && rep->chip_id[i] == 0;
        if (zero)
            return att_diag_set(diag, ATT_E_SNP_CERT_MISMATCH,
                                "the report's chip_id is all zero (MASK_CHIP_ID): it cannot be "
                                "matched with a VCEK");
        if (memcmp(l->ext.hwid, rep->chip_id, n) != 0) {
            att_hex_encode(l->ext.hwid, n < 16 ? n : 16, a);
            att_hex_encode(rep->chip_id, n < 16 ? n : 16, b);
            return att_diag_set(diag, ATT_E_SNP_CERT_MISMATCH,
                                "the VCEK is of another chip: hwID %s... is not the report's "
                                "chip_id %s...",
                                a, b);
        }
    }
    att_snp_tcb_t t;
    att_snp_tcb_decode(rep->reported_tcb, product, &t);
    const struct {
        int arc;
        const char *name;
        uint8_t want;
        bool needed;
    } spl[] = {
        {1, "blSPL (bootloader)", t.bootloader, true},
        {2, "teeSPL", t.tee, true},
        {3, "snpSPL", t.snp, true},
        {8, "ucodeSPL (microcode)", t.microcode, true},
        {9, "fmcSPL", t.fmc, product == ATT_SNP_TURIN},
    };
    for (size_t i = 0; i < sizeof(spl) / sizeof(spl[0]); i++) {
        if (!spl[i].needed)
            continue;
        if (!l->ext.has_spl[spl[i].arc])
            return att_diag_set(diag, ATT_E_SNP_CERT_EXTENSION,
                                "the %s has no %s extension (1.3.6.1.4.1.3704.1.3.%d)", kn,
                                spl[i].name, spl[i].arc);
        if (l->ext.spl[spl[i].arc] != spl[i].want)
            return att_diag_set(diag, ATT_E_SNP_CERT_MISMATCH,
                                "the %s is for another TCB: its %s is %u, the report's "
                                "reported_tcb 0x%016llx has %u",
                                kn, spl[i].name, l->ext.spl[spl[i].arc],
                                (unsigned long long)rep->reported_tcb, spl[i].want);
    }
    return ATT_OK;
}

/* ECDSA P-384 / SHA-384 over bytes [0, 0x2A0) with R and S little-endian (counted: crypto.h). */
static bool att_report_sig_ok(const uint8_t *report, const att_snp_report_t *rep, EC_KEY *key)
{
    return att_p384_verify_le(key, report, ATT_SNP_SIGNED_LEN, rep->sig_r, rep->sig_s, 72);
}

ATT_API att_err_t att_snp_verify(const att_snp_input_t *in, att_snp_cache_t *cache,
                                 att_snp_result_t *res)
{
    if (res == NULL)
        return ATT_E_ARG;
    memset(res, 0, sizeof(*res));
    att_diag_t *d = &res->diag;
    if (in == NULL || in->report == NULL)
        return att_diag_set(d, ATT_E_ARG, "SEV-SNP verify: no report");
    att_snp_report_t *rep = &res->report;
    att_err_t e = att_snp_report_parse(in->report, in->report_len, rep, d);
    if (e != ATT_OK)
        return e;
    res->parsed = true;
    res->signing_key = rep->signing_key;
    res->product = rep->product;
    att_snp_tcb_decode(rep->reported_tcb, rep->product, &res->reported_tcb);
    att_snp_tcb_decode(rep->committed_tcb, rep->product, &res->committed_tcb);
    att_snp_tcb_decode(rep->current_tcb, rep->product, &res->current_tcb);
    att_snp_tcb_decode(rep->launch_tcb, rep->product, &res->launch_tcb);
    if (rep->signing_key == ATT_SNP_KEY_NONE || rep->mask_chip_key)
        return att_diag_set(d, ATT_E_SNP_REPORT_SIGNATURE,
                            "the report is not signed: key_info 0x%08x (%s)", rep->key_info,
                            rep->mask_chip_key ? "MASK_CHIP_KEY set" : "signing_key 7, none");
    pthread_once(&att_pins_once, att_pins_init);

    att_snp_ica_t *ica = NULL;
    att_snp_leaf_t *leaf = NULL;
    unsigned char *cleaf = NULL; /* DER of the leaf the chain starts with, or NULL */
    size_t cleaf_len = 0;
    if (in->chain != NULL && in->chain_len > 0) {
        ica = cache ? att_cache_ica_get(cache, in->chain, in->chain_len, false) : NULL;
        if (ica == NULL && cache) {
            /* a chain that starts with its leaf: the entry of the rest (shared by the chips
             * under that ASK); the leaf is then verified under it as any leaf is */
            long dl = 0;
            size_t rest = 0;
            if (att_chain_first(in->chain, in->chain_len, &cleaf, &dl, &rest)) {
                ica = att_cache_ica_get(cache, in->chain + rest, in->chain_len - rest, true);
                cleaf_len = (size_t)dl;
                if (ica == NULL) {
                    OPENSSL_free(cleaf);
                    cleaf = NULL;
                    cleaf_len = 0;
                }
            }
        }
        if (ica == NULL) {
            if ((e = att_ica_new(in, &ica, &cleaf, &cleaf_len, d)) != ATT_OK)
                goto out;
            if (cache)
                att_cache_ica_put(cache, ica);
        }
    }
    const uint8_t *lder = in->vcek;
    size_t llen = in->vcek_len;
    if (cleaf != NULL) {
        if (lder != NULL && (llen != cleaf_len || memcmp(lder, cleaf, llen) != 0)) {
            /* a PEM leaf given separately is compared by its DER */
            X509 *x = att_cert_parse(lder, llen, "the VCEK/VLEK certificate", d);
            unsigned char *der = NULL;
            int dl = x ? i2d_X509(x, &der) : -1;
            bool same = dl > 0 && (size_t)dl == cleaf_len && !memcmp(der, cleaf, (size_t)dl);
            OPENSSL_free(der);
            X509_free(x);
            if (!same) {
                e = att_diag_set(d, ATT_E_ARG,
                                 "the given chain starts with a leaf other than the given "
                                 "VCEK/VLEK");
                goto out;
            }
        }
        lder = cleaf;
        llen = cleaf_len;
    }
    if (lder == NULL || llen == 0) {
        e = att_diag_set(d, ATT_E_ARG,
                         "no VCEK/VLEK certificate: give one, or a chain that starts with it");
        goto out;
    }
    leaf = cache ? att_cache_leaf_get(cache, lder, llen, ica) : NULL;
    if (leaf == NULL) {
        if ((e = att_leaf_new(lder, llen, ica, &leaf, d)) != ATT_OK)
            goto out;
        if (cache)
            att_cache_leaf_put(cache, leaf);
    }
    att_snp_ica_t *chain = leaf->ica;
    const char *kn = leaf->kind == ATT_SNP_KEY_VCEK ? "VCEK" : "VLEK";
    snprintf(res->cert_product, sizeof(res->cert_product), "%s", leaf->ext.product);
    snprintf(res->csp_id, sizeof(res->csp_id), "%s", leaf->ext.csp_id);
    res->leaf_not_after = leaf->na;
    res->amd_root = chain->amd_root;

    if (leaf->kind != rep->signing_key) {
        e = att_diag_set(d, ATT_E_SNP_CERT_MISMATCH,
                         "the report is signed by its %s (key_info 0x%08x) but the certificate "
                         "given is a %s",
                         rep->signing_key == ATT_SNP_KEY_VCEK ? "VCEK" : "VLEK", rep->key_info, kn);
        goto out;
    }
    if (rep->product != ATT_SNP_PRODUCT_UNKNOWN && rep->product != leaf->product) {
        e = att_diag_set(d, ATT_E_SNP_CERT_MISMATCH,
                         "the report is from %s (CPUID family 0x%02x model 0x%02x) but the %s "
                         "is of %s (productName '%s')",
                         att_snp_product_name(rep->product), rep->cpuid_fam_id, rep->cpuid_mod_id,
                         kn, att_snp_product_name(leaf->product), leaf->ext.product);
        goto out;
    }
    att_snp_product_t product = leaf->product;
    if (rep->product == ATT_SNP_PRODUCT_UNKNOWN) {
        /* v2: the product comes from the certificate; TCB layout and reserved bytes follow it */
        res->product = product;
        if ((e = att_snp_tcb_check(rep, product, d)) != ATT_OK)
            goto out;
        att_snp_tcb_decode(rep->reported_tcb, product, &res->reported_tcb);
        att_snp_tcb_decode(rep->committed_tcb, product, &res->committed_tcb);
        att_snp_tcb_decode(rep->current_tcb, product, &res->current_tcb);
        att_snp_tcb_decode(rep->launch_tcb, product, &res->launch_tcb);
    }
    char arkw[32], icaw[32];
    snprintf(arkw, sizeof(arkw), "ARK-%s", att_snp_product_name(product));
    snprintf(icaw, sizeof(icaw), "%s-%s", chain->kind == ATT_SNP_KEY_VCEK ? "ASK" : "ASVK",
             att_snp_product_name(product));
    if ((e = att_window_at(chain->ark_nb, chain->ark_na, in->now, arkw, d)) != ATT_OK ||
        (e = att_window_at(chain->ica_nb, chain->ica_na, in->now, icaw, d)) != ATT_OK ||
        (e = att_window_at(leaf->nb, leaf->na, in->now, kn, d)) != ATT_OK)
        goto out;
    if (in->crl != NULL && (e = att_crl_check(in, chain, d)) != ATT_OK)
        goto out;
    if ((e = att_ext_match(rep, leaf, product, d)) != ATT_OK)
        goto out;
    if (!att_report_sig_ok(in->report, rep, leaf->key)) {
        e = att_diag_set(d, ATT_E_SNP_REPORT_SIGNATURE,
                         "the report's signature (ECDSA P-384, SHA-384 over bytes 0x000-0x29F) "
                         "does not verify with the %s",
                         kn);
        goto out;
    }
    res->accepted = true;
out:
    att_leaf_release(leaf);
    att_ica_release(ica);
    OPENSSL_free(cleaf);
    return e;
}
