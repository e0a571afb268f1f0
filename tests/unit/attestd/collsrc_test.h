/* collsrc_test.h - what the collateral source's tests share (header-only, no test framework, so
 * the libFuzzer target tests/fuzz/fuzz_attestd_collblob.c uses it too):
 * - collsrc_test_new_pcs: a source whose one fetcher is Intel's PCS fetcher (att_dcap_pcs_new +
 *   att_dcap_pcs_fetcher) for (url, trust, root CA CRL URL), the other options the caller's;
 * - coll_mem_store_t: a store in memory holding collateral only (32 keys), counting its calls,
 *   for test_collsrc.c and test_collsrc_vendor.c.
 *
 *   att_collsrc_opts_t o = {.store = st, .max_age = 86400};
 *   att_collsrc_t *s;
 *   att_err_t e = collsrc_test_new_pcs(&o, "http://127.0.0.1:8081/", trust, NULL, &s, &d);
 */
#ifndef ATT_TEST_COLLSRC_TEST_H
#define ATT_TEST_COLLSRC_TEST_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "attest/collateral.h"
#include "collsrc.h"
#include "store.h"

/* att_collsrc_new(o) with o->sources one Intel PCS source: base URL url (NULL: none, offline
 * directory and store only), signatures checked against trust, the root CA CRL from
 * root_ca_crl_url (NULL: derived from url). o->sources is set for the call only (the source
 * takes the fetcher's cfg, so o can be used again). The PCS options' errors (ATT_E_ARG for a URL
 * that is not http(s)://, a NULL trust) are att_dcap_pcs_new's. */
static inline att_err_t collsrc_test_new_pcs(att_collsrc_opts_t *o, const char *url,
                                             const att_trust_t *trust, const char *root_ca_crl_url,
                                             att_collsrc_t **out, att_diag_t *d)
{
    att_dcap_pcs_opts_t po = {.base_url = url, .trust = trust, .root_ca_crl_url = root_ca_crl_url};
    void *cfg = NULL;
    *out = NULL;
    att_err_t e = att_dcap_pcs_new(&po, &cfg, d);
    if (e != ATT_OK)
        return e;
    att_coll_source_t src[1] = {{&att_dcap_pcs_fetcher, cfg}};
    o->sources = src;
    o->n_sources = 1;
    e = att_collsrc_new(o, out, d);
    o->sources = NULL;
    o->n_sources = 0;
    return e;
}

/* ---- a store in memory (collateral only) ---- */

#define COLL_MEM_STORE_KEYS 32

typedef struct {
    att_store_t base; /* first: the source sees an att_store_t */
    pthread_mutex_t mu;
    char *key[COLL_MEM_STORE_KEYS];
    uint8_t *blob[COLL_MEM_STORE_KEYS];
    size_t len[COLL_MEM_STORE_KEYS];
    att_time_t at[COLL_MEM_STORE_KEYS]; /* fetched_at as put */
    size_t n;
    int gets, puts; /* calls */
} coll_mem_store_t;

static inline void coll_mem_close(att_store_t *st)
{
    coll_mem_store_t *m = (coll_mem_store_t *)st;
    for (size_t i = 0; i < m->n; i++) {
        free(m->key[i]);
        free(m->blob[i]);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static inline att_err_t coll_mem_get(att_store_t *st, const char *key, uint8_t **blob, size_t *len,
                                     att_time_t *at, att_diag_t *d)
{
    coll_mem_store_t *m = (coll_mem_store_t *)st;
    att_err_t e = att_diag_set(d, ATT_E_STORE_NOT_FOUND, "no %s", key);
    pthread_mutex_lock(&m->mu);
    m->gets++;
    for (size_t i = 0; i < m->n && e != ATT_OK; i++) {
        if (strcmp(m->key[i], key) != 0)
            continue;
        if ((*blob = malloc(m->len[i] ? m->len[i] : 1)) == NULL) {
            e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
            break;
        }
        if (m->len[i])
            memcpy(*blob, m->blob[i], m->len[i]);
        *len = m->len[i];
        *at = m->at[i];
        e = ATT_OK;
    }
    pthread_mutex_unlock(&m->mu);
    return e;
}

/* A key put again replaces its blob. */
static inline att_err_t coll_mem_put(att_store_t *st, const char *key, const uint8_t *blob,
                                     size_t len, att_time_t at, att_diag_t *d)
{
    coll_mem_store_t *m = (coll_mem_store_t *)st;
    pthread_mutex_lock(&m->mu);
    m->puts++;
    size_t i = 0;
    while (i < m->n && strcmp(m->key[i], key) != 0)
        i++;
    uint8_t *copy = malloc(len ? len : 1);
    char *k = i == m->n && copy ? strdup(key) : NULL;
    if (copy == NULL || (i == m->n && (k == NULL || m->n == COLL_MEM_STORE_KEYS))) {
        pthread_mutex_unlock(&m->mu);
        free(copy);
        free(k);
        return att_diag_set(d, ATT_E_STORE, "memory store: full (%d keys) or out of memory",
                            COLL_MEM_STORE_KEYS);
    }
    if (i == m->n)
        m->key[m->n++] = k;
    else
        free(m->blob[i]);
    if (len)
        memcpy(copy, blob, len);
    m->blob[i] = copy;
    m->len[i] = len;
    m->at[i] = at;
    pthread_mutex_unlock(&m->mu);
    return ATT_OK;
}

/* NULL when out of memory; closed with att_store_close(&m->base). */
static inline coll_mem_store_t *coll_mem_store_new(void)
{
    static const att_store_ops_t ops = {.name = "memory",
                                        .close = coll_mem_close,
                                        .coll_get = coll_mem_get,
                                        .coll_put = coll_mem_put};
    coll_mem_store_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->base.ops = &ops;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

#endif
