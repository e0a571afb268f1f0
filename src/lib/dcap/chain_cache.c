/* chain_cache.c - bounded cache of verified PCK chains (see attest/dcap.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/lru.h"
#include "crypto/crypto.h"
#include "dcap/dcap_internal.h"

/* A PCK CA whose signature by a trusted root key att_dcap_quote_pck_info checked: the next
 * first-seen platform under it parses and checks only its leaf there. */
typedef struct {
    const att_trust_t *trust;
    uint8_t *ca_der, *root_der;
    size_t ca_len, root_len;
    att_p256_t *key;
} att_pck_ca_memo_t;

#define ATT_PCK_CA_MEMOS 4 /* a fleet has two PCK CAs (processor, platform) per root */

struct att_dcap_cache {
    pthread_mutex_t mu;
    att_lru_t *lru; /* SHA-256 of the chain bytes, tagged with the collateral's id */
    att_pck_ca_memo_t cas[ATT_PCK_CA_MEMOS]; /* added, never replaced, until the cache is freed */
    size_t n_cas;
};

static void att_chain_free(att_chain_t *ch)
{
    for (size_t i = 0; i < ATT_QE_MEMOS; i++) {
        att_qe_memo_t *m = atomic_load(&ch->qe[i]);
        if (m != NULL)
            att_p256_free(m->akey);
        free(m);
    }
    att_p256_free(ch->leaf_key);
    free(ch->pem);
    free(ch);
}

ATT_API att_dcap_cache_t *att_dcap_cache_new(size_t capacity)
{
    if (capacity == 0)
        return NULL;
    att_dcap_cache_t *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->lru = att_lru_new(capacity)) == NULL ||
        pthread_mutex_init(&c->mu, NULL) != 0) {
        if (c)
            att_lru_free(c->lru, NULL);
        free(c);
        return NULL;
    }
    return c;
}

static void att_chain_drop(void *ch)
{
    att_chain_release(ch);
}

ATT_API void att_dcap_cache_free(att_dcap_cache_t *c)
{
    if (c == NULL)
        return;
    att_lru_free(c->lru, att_chain_drop);
    for (size_t i = 0; i < c->n_cas; i++) {
        OPENSSL_free(c->cas[i].ca_der);
        OPENSSL_free(c->cas[i].root_der);
        att_p256_free(c->cas[i].key);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

ATT_API void att_dcap_cache_stats(att_dcap_cache_t *c, uint64_t *hits, uint64_t *misses)
{
    att_dcap_cache_counts_t n;
    att_dcap_cache_counts(c, &n);
    *hits = n.hits;
    *misses = n.misses;
}

ATT_API void att_dcap_cache_counts(att_dcap_cache_t *c, att_dcap_cache_counts_t *out)
{
    att_lru_stats_t st;
    pthread_mutex_lock(&c->mu);
    att_lru_stats(c->lru, &st);
    pthread_mutex_unlock(&c->mu);
    *out = (att_dcap_cache_counts_t){.hits = st.hits,
                                     .misses = st.misses,
                                     .evictions = st.evictions,
                                     .entries = st.entries,
                                     .capacity = st.capacity};
}

/* Entries are shared between the cache and in-flight verifications; refs counts both.
 * A single global lock guards every refcount, so entries outliving their cache stay safe. */
static pthread_mutex_t att_chain_refs_mu = PTHREAD_MUTEX_INITIALIZER;

void att_chain_release(att_chain_t *ch)
{
    if (ch == NULL)
        return;
    pthread_mutex_lock(&att_chain_refs_mu);
    int left = --ch->refs;
    pthread_mutex_unlock(&att_chain_refs_mu);
    if (left == 0)
        att_chain_free(ch);
}

static void att_chain_ref(att_chain_t *ch)
{
    pthread_mutex_lock(&att_chain_refs_mu);
    ch->refs++;
    pthread_mutex_unlock(&att_chain_refs_mu);
}

/* The cache key of chain bytes: their SHA-256 (false when it could not be computed). */
static bool att_chain_key(const uint8_t *pem, size_t len, uint8_t key[32])
{
    return att_sha256_2(pem, len, NULL, 0, key);
}

att_chain_t *att_dcap_cache_get(att_dcap_cache_t *c, const uint8_t *pem, size_t len,
                                uint64_t coll_id)
{
    uint8_t key[32];
    if (!att_chain_key(pem, len, key))
        return NULL;
    pthread_mutex_lock(&c->mu);
    att_chain_t *hit = att_lru_get(c->lru, key, coll_id);
    if (hit != NULL && (hit->pem_len != len || memcmp(hit->pem, pem, len) != 0))
        hit = NULL; /* a SHA-256 collision: not this chain */
    if (hit != NULL)
        att_chain_ref(hit);
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void att_dcap_cache_put(att_dcap_cache_t *c, att_chain_t *ch)
{
    uint8_t key[32];
    if (!att_chain_key(ch->pem, ch->pem_len, key))
        return;
    att_chain_ref(ch);
    pthread_mutex_lock(&c->mu);
    att_chain_t *out = att_lru_put(c->lru, key, ch->coll_id, ch);
    pthread_mutex_unlock(&c->mu);
    att_chain_release(out); /* replaced, evicted, or ch itself when it could not be kept */
}

const char *att_pck_ca_type(const char *cn)
{
    if (strcmp(cn, "Intel SGX PCK Processor CA") == 0)
        return "processor";
    if (strcmp(cn, "Intel SGX PCK Platform CA") == 0)
        return "platform";
    return NULL;
}

/* Remember that `pca` verified under the trusted `root` for trust (no-op when known or full). */
static void att_pck_ca_memo_add(att_dcap_cache_t *c, const att_trust_t *trust, X509 *pca,
                                X509 *root)
{
    att_pck_ca_memo_t m = {.trust = trust};
    int cl = i2d_X509(pca, &m.ca_der), rl = i2d_X509(root, &m.root_der);
    m.key = att_p256_from_pkey(X509_get0_pubkey(pca));
    bool kept = false;
    if (cl > 0 && rl > 0 && m.key != NULL) {
        m.ca_len = (size_t)cl;
        m.root_len = (size_t)rl;
        pthread_mutex_lock(&c->mu);
        bool known = false;
        for (size_t i = 0; i < c->n_cas && !known; i++)
            known = c->cas[i].trust == trust && c->cas[i].ca_len == m.ca_len &&
                    c->cas[i].root_len == m.root_len &&
                    memcmp(c->cas[i].ca_der, m.ca_der, m.ca_len) == 0 &&
                    memcmp(c->cas[i].root_der, m.root_der, m.root_len) == 0;
        if (!known && c->n_cas < ATT_PCK_CA_MEMOS) {
            c->cas[c->n_cas++] = m;
            kept = true;
        }
        pthread_mutex_unlock(&c->mu);
    }
    if (!kept) {
        OPENSSL_free(m.ca_der);
        OPENSSL_free(m.root_der);
        att_p256_free(m.key);
    }
    ERR_clear_error();
}

/* pck_info of a first-seen chain of three plain PEM certificates whose PCK CA and root are a
 * memo's for this trust (exact DER): the leaf alone is parsed (its key left to
 * att_x509_sig_ok_p256) and checked, with the same verdicts and messages as the general route.
 * *taken false: the chain does not qualify and the caller takes the general route. */
static att_err_t att_pck_info_fast(att_dcap_cache_t *c, const att_quote_t *q,
                                   const att_trust_t *trust, uint8_t fmspc[6], const char **ca,
                                   bool *taken, att_diag_t *diag)
{
    *taken = false;
    uint8_t *der = NULL;
    size_t off[3], lens[3];
    if (att_pem_certs_der(q->pck_chain.ptr, q->pck_chain.len, 3, &der, off, lens) != 3) {
        free(der);
        return ATT_OK;
    }
    const att_p256_t *key = NULL; /* memos live as long as the cache */
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_cas && key == NULL; i++)
        if (c->cas[i].trust == trust && c->cas[i].ca_len == lens[1] &&
            c->cas[i].root_len == lens[2] && memcmp(c->cas[i].ca_der, der + off[1], lens[1]) == 0 &&
            memcmp(c->cas[i].root_der, der + off[2], lens[2]) == 0)
            key = c->cas[i].key;
    pthread_mutex_unlock(&c->mu);
    X509 *leaf = key != NULL ? att_x509_der_nokey(der + off[0], lens[0]) : NULL;
    att_err_t e = ATT_OK;
    if (leaf != NULL) {
        *taken = true;
        att_pck_ext_t ext;
        char cn[128];
        if (!att_x509_sig_ok_p256(leaf, der + off[0], lens[0], key))
            e = att_diag_set(diag, ATT_E_CERT_SIGNATURE,
                             "the PCK chain in the quote is not "
                             "signed along its path to the root");
        else if ((e = att_pck_ext_parse(leaf, &ext, diag)) == ATT_OK) {
            att_x509_cn(X509_get_issuer_name(leaf), cn, sizeof(cn));
            *ca = att_pck_ca_type(cn);
            if (*ca == NULL)
                e = att_diag_set(diag, ATT_E_CERT_SUBJECT,
                                 "PCK certificate issuer CN '%s' is not "
                                 "a PCK Processor or Platform CA",
                                 cn);
            else
                memcpy(fmspc, ext.fmspc, 6);
        }
    }
    X509_free(leaf);
    free(der);
    ERR_clear_error();
    return e;
}

ATT_API att_err_t att_dcap_quote_pck_info(const att_quote_t *q, att_dcap_cache_t *cache,
                                          const att_trust_t *trust, uint8_t fmspc[6],
                                          const char **ca, att_diag_t *diag)
{
    if (q == NULL || q->pck_chain.ptr == NULL || fmspc == NULL || ca == NULL)
        return att_diag_set(diag, ATT_E_ARG, "pck info: no parsed quote");
    if (cache != NULL) {
        const char *found = NULL;
        uint8_t key[32];
        if (att_chain_key(q->pck_chain.ptr, q->pck_chain.len, key)) {
            pthread_mutex_lock(&cache->mu);
            const att_chain_t *ch = att_lru_peek_any(cache->lru, key);
            if (ch != NULL && ch->pem_len == q->pck_chain.len &&
                memcmp(ch->pem, q->pck_chain.ptr, ch->pem_len) == 0) {
                memcpy(fmspc, ch->ext.fmspc, 6);
                found = ch->ca;
            }
            pthread_mutex_unlock(&cache->mu);
        }
        if (found != NULL) {
            *ca = found;
            return ATT_OK;
        }
        if (trust != NULL) {
            bool taken = false;
            att_err_t e = att_pck_info_fast(cache, q, trust, fmspc, ca, &taken, diag);
            if (taken)
                return e;
        }
    }
    STACK_OF(X509) *sk = att_pem_chain(q->pck_chain.ptr, q->pck_chain.len, 8, ATT_E_QUOTE_PCK_CHAIN,
                                       "PCK certificate chain in the quote", diag);
    if (sk == NULL)
        return diag ? diag->code : ATT_E_QUOTE_PCK_CHAIN;
    att_pck_ext_t ext;
    char cn[128];
    att_err_t e = ATT_OK;
    if (trust != NULL) {
        int n = sk_X509_num(sk);
        X509 *leaf = sk_X509_value(sk, 0), *pca = n > 1 ? sk_X509_value(sk, 1) : NULL,
             *root = n > 2 ? sk_X509_value(sk, 2) : NULL;
        if (n != 3)
            e = att_diag_set(diag, ATT_E_QUOTE_PCK_CHAIN,
                             "PCK certificate chain in the quote "
                             "holds %d certificates, expected 3 (PCK, PCK CA, root)",
                             n);
        else if (!att_trust_has_key(trust, root))
            e = att_diag_set(diag, ATT_E_CERT_UNTRUSTED_ROOT,
                             "the root of the PCK chain is not "
                             "a trusted root key");
        else
            e = att_dcap_root_key(root, "PCK chain", diag);
        if (e == ATT_OK && (!att_x509_sig_ok(pca, X509_get0_pubkey(root)) ||
                            !att_x509_sig_ok(leaf, X509_get0_pubkey(pca))))
            e = att_diag_set(diag, ATT_E_CERT_SIGNATURE,
                             "the PCK chain in the quote is not "
                             "signed along its path to the root");
        if (e == ATT_OK && cache != NULL && att_key_is_p256(X509_get0_pubkey(pca)))
            att_pck_ca_memo_add(cache, trust, pca, root);
    }
    if (e == ATT_OK)
        e = att_pck_ext_parse(sk_X509_value(sk, 0), &ext, diag);
    if (e == ATT_OK) {
        att_x509_cn(X509_get_issuer_name(sk_X509_value(sk, 0)), cn, sizeof(cn));
        *ca = att_pck_ca_type(cn);
        if (*ca == NULL)
            e = att_diag_set(diag, ATT_E_CERT_SUBJECT,
                             "PCK certificate issuer CN '%s' is not "
                             "a PCK Processor or Platform CA",
                             cn);
        else
            memcpy(fmspc, ext.fmspc, 6);
    }
    sk_X509_pop_free(sk, X509_free);
    return e;
}

/* ---- QE report memos ---------------------------------------------------------------------- */

const att_qe_memo_t *att_chain_qe_find(att_chain_t *ch, const uint8_t qe_report[384],
                                       const uint8_t qe_report_sig[64])
{
    for (size_t i = 0; ch != NULL && i < ATT_QE_MEMOS; i++) {
        const att_qe_memo_t *m = atomic_load_explicit(&ch->qe[i], memory_order_acquire);
        if (m == NULL)
            return NULL;
        if (memcmp(m->qe_report_sig, qe_report_sig, 64) == 0 &&
            memcmp(m->qe_report, qe_report, 384) == 0)
            return m;
    }
    return NULL;
}

void att_chain_qe_add(att_chain_t *ch, const uint8_t qe_report[384],
                      const uint8_t qe_report_sig[64], const uint8_t attest_key[64],
                      struct att_p256 **akey)
{
    if (ch == NULL || *akey == NULL || att_chain_qe_find(ch, qe_report, qe_report_sig) != NULL)
        return;
    att_qe_memo_t *m = malloc(sizeof(*m));
    if (m == NULL)
        return;
    memcpy(m->qe_report, qe_report, 384);
    memcpy(m->qe_report_sig, qe_report_sig, 64);
    memcpy(m->attest_key, attest_key, 64);
    m->akey = *akey;
    for (size_t i = 0; i < ATT_QE_MEMOS; i++) {
        att_qe_memo_t *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&ch->qe[i], &expected, m, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            *akey = NULL; /* the memo owns it now */
            return;
        }
    }
    free(m); /* all slots taken (by this platform's earlier keys, or by racing threads) */
}

/* ---- verified PCK CA certificates, per collateral (dcap_internal.h) ------------------------ */

att_ca_cache_t *att_ca_cache_new(void)
{
    att_ca_cache_t *cc = calloc(1, sizeof(*cc));
    if (cc == NULL || pthread_mutex_init(&cc->mu, NULL) != 0) {
        free(cc);
        return NULL;
    }
    atomic_init(&cc->n, 0);
    atomic_init(&cc->hits, 0);
    atomic_init(&cc->misses, 0);
    return cc;
}

void att_ca_cache_free(att_ca_cache_t *cc)
{
    if (cc == NULL)
        return;
    size_t n = atomic_load(&cc->n);
    for (size_t i = 0; i < n; i++) {
        OPENSSL_free(cc->e[i].der);
        X509_free(cc->e[i].cert);
        att_p256_free(cc->e[i].key);
    }
    pthread_mutex_destroy(&cc->mu);
    free(cc);
}

static const att_ca_entry_t *att_ca_lookup(att_ca_cache_t *cc, const uint8_t *der, size_t len)
{
    size_t n = atomic_load_explicit(&cc->n, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (cc->e[i].der_len == len && memcmp(cc->e[i].der, der, len) == 0)
            return &cc->e[i];
    return NULL;
}

const att_ca_entry_t *att_ca_cache_find(att_ca_cache_t *cc, const uint8_t *der, size_t len)
{
    const att_ca_entry_t *hit = cc ? att_ca_lookup(cc, der, len) : NULL;
    if (cc != NULL)
        atomic_fetch_add_explicit(hit ? &cc->hits : &cc->misses, 1, memory_order_relaxed);
    return hit;
}

void att_ca_cache_add(att_ca_cache_t *cc, X509 *ca, const char *type)
{
    if (cc == NULL || ca == NULL || type == NULL)
        return;
    att_ca_entry_t e = {0};
    int len = i2d_X509(ca, &e.der);
    e.key = att_p256_from_pkey(X509_get0_pubkey(ca));
    if (len <= 0 || e.key == NULL || !att_asn1_time(X509_get0_notBefore(ca), &e.not_before) ||
        !att_asn1_time(X509_get0_notAfter(ca), &e.not_after)) {
        OPENSSL_free(e.der);
        att_p256_free(e.key);
        ERR_clear_error();
        return;
    }
    e.der_len = (size_t)len;
    e.type = type;
    e.cert = ca;
    pthread_mutex_lock(&cc->mu);
    size_t n = atomic_load_explicit(&cc->n, memory_order_relaxed);
    bool add = n < ATT_DCAP_CA_CACHE && att_ca_lookup(cc, e.der, e.der_len) == NULL;
    if (add) {
        X509_up_ref(ca);
        cc->e[n] = e;
        atomic_store_explicit(&cc->n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&cc->mu);
    if (!add) {
        OPENSSL_free(e.der);
        att_p256_free(e.key);
    }
}

void att_dcap_ca_cache_stats(const att_dcap_collateral_t *c, uint64_t *hits, uint64_t *misses,
                             size_t *entries)
{
    *hits = c->cas ? atomic_load(&c->cas->hits) : 0;
    *misses = c->cas ? atomic_load(&c->cas->misses) : 0;
    *entries = c->cas ? atomic_load(&c->cas->n) : 0;
}
