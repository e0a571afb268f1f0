/* dcap_backend.c - the DCAP backend shared by SgxEnclave, OpenEnclave and TdxVm: its instance (the
 * trust store with Intel's root pinned plus configured roots, the PCK chain cache), the collateral
 * it asks for ("dcap/<tee>/<fmspc>/<ca>") and the claim pieces the three types share.
 *
 * Verification is the DCAP verifier's (docs/dcap.md); this file only picks the collateral and
 * hands the quote over. Roots from configuration must be ECDSA P-256 (DCAP chains end at such
 * a root, like Intel's); the root's other properties are att_trust_add_root's checks.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "attest/collateral.h"
#include "core/util.h"
#include "crypto/crypto.h"
#include "ev_int.h"

/* PCK chains remembered per instance, one per platform (default of --cache-pck-chains, LRU;
 * about 8 kB each, bench/fleet: a 10,000-platform fleet in about 80 MB, 16384 in 130 MB) and
 * the most it takes (--cache-pck-chains at most this). */
#define ATT_EV_DCAP_CACHE     16384
#define ATT_EV_DCAP_MAX_CACHE (1u << 22)

typedef struct {
    att_trust_t *trust;
    att_dcap_cache_t *cache;
} att_ev_dcap_t;

static att_err_t att_dcap_create(void **inst, att_diag_t *d)
{
    att_ev_dcap_t *x = calloc(1, sizeof(*x));
    if (x != NULL) {
        x->trust = att_trust_new();
        x->cache = att_dcap_cache_new(ATT_EV_DCAP_CACHE);
    }
    if (x == NULL || x->trust == NULL || x->cache == NULL) {
        if (x != NULL) {
            att_trust_free(x->trust);
            att_dcap_cache_free(x->cache);
        }
        free(x);
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    *inst = x;
    return ATT_OK;
}

static void att_dcap_destroy(void *inst)
{
    att_ev_dcap_t *x = inst;
    if (x == NULL)
        return;
    att_dcap_cache_free(x->cache);
    att_trust_free(x->trust);
    free(x);
}

static att_err_t att_dcap_add_root(void *inst, const uint8_t *der, size_t len, att_diag_t *d)
{
    att_ev_dcap_t *x = inst;
    const uint8_t *p = der;
    X509 *c = d2i_X509(NULL, &p, (long)len);
    if (c == NULL || p != der + len) {
        X509_free(c);
        return att_diag_set(d, ATT_E_CERT_PARSE, "the root is not one DER certificate");
    }
    bool p256 = att_key_is_p256(X509_get0_pubkey(c));
    X509_free(c);
    if (!p256)
        return att_diag_set(d, ATT_E_CERT_KEY, "DCAP takes ECDSA P-256 roots, like Intel's");
    return att_trust_add_root(x->trust, der, len, d);
}

static void att_dcap_stats(void *inst, att_ev_stats_t *out)
{
    att_ev_dcap_t *x = inst;
    att_dcap_cache_counts_t n;
    att_dcap_cache_counts(x->cache, &n);
    out->cache_hits = n.hits;
    out->cache_misses = n.misses;
    out->caches[0] = (att_ev_cache_stats_t){.name = "pck_chain",
                                            .hits = n.hits,
                                            .misses = n.misses,
                                            .evictions = n.evictions,
                                            .entries = n.entries,
                                            .capacity = n.capacity};
    out->n_caches = 1;
}

/* "cache-pck-chains": the PCK chain cache's capacity (0: the default), set before the first
 * request (the cache starts empty again). */
static att_err_t att_dcap_set_limit(void *inst, const char *name, uint64_t value, att_diag_t *d)
{
    att_ev_dcap_t *x = inst;
    if (strcmp(name, "cache-pck-chains") != 0)
        return att_diag_set(d, ATT_E_ARG, "the DCAP verifier has no limit %s", name);
    if (value > ATT_EV_DCAP_MAX_CACHE)
        return att_diag_set(d, ATT_E_ARG, "cache-pck-chains %llu: at most %u chains",
                            (unsigned long long)value, ATT_EV_DCAP_MAX_CACHE);
    att_dcap_cache_t *c = att_dcap_cache_new(value ? (size_t)value : ATT_EV_DCAP_CACHE);
    if (c == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    att_dcap_cache_free(x->cache);
    x->cache = c;
    return ATT_OK;
}

static const att_trust_t *att_dcap_trust(void *inst)
{
    return ((att_ev_dcap_t *)inst)->trust;
}

/* Intel PCS (or a PCCS) at url, collateral signatures checked against the instance's store. */
static att_err_t att_dcap_collateral(void *inst, const char *url,
                                     const struct att_coll_fetcher **fetcher, void **cfg,
                                     att_diag_t *d)
{
    att_dcap_pcs_opts_t o = {.base_url = url, .trust = ((att_ev_dcap_t *)inst)->trust};
    *fetcher = &att_dcap_pcs_fetcher;
    return att_dcap_pcs_new(&o, cfg, d);
}

const att_ev_backend_t att_ev_dcap_backend = {
    .name = "dcap",
    .create = att_dcap_create,
    .destroy = att_dcap_destroy,
    .add_root = att_dcap_add_root,
    .stats = att_dcap_stats,
    .trust = att_dcap_trust,
    .collateral = att_dcap_collateral,
    .set_limit = att_dcap_set_limit,
};

static void att_dcap_detail_free(void *p)
{
    free(p);
}

att_err_t att_ev_dcap_quote(void *inst, const att_ev_input_t *in, const uint8_t *q, size_t len,
                            att_tee_t want, att_ev_result_t *out, att_dcap_collateral_t **collp)
{
    att_ev_dcap_t *x = inst;
    att_diag_t *d = &out->diag;
    *collp = NULL;
    att_dcap_result_t *res = calloc(1, sizeof(*res));
    if (res == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    out->detail = res;
    out->detail_free = att_dcap_detail_free;
    att_quote_t parsed;
    att_err_t e = att_quote_parse(q, len, &parsed, d);
    if (e != ATT_OK)
        return e;
    if ((att_tee_t)parsed.tee_type != want)
        return att_diag_set(
            d, ATT_E_EVIDENCE_TYPE, "the quote is a %s quote; this endpoint takes %s",
            parsed.tee_type == ATT_TEE_TDX ? "TDX" : "SGX", want == ATT_TEE_TDX ? "TDX" : "SGX");
    uint8_t fmspc[6];
    const char *ca;
    if ((e = att_dcap_quote_pck_info(&parsed, x->cache, x->trust, fmspc, &ca, d)) != ATT_OK)
        return e;
    if (in->collateral == NULL)
        return att_diag_set(d, ATT_E_COLL_MISSING, "no collateral source");
    char key[ATT_COLL_KEY_MAX];
    if ((e = att_dcap_coll_key(want, fmspc, ca, key, sizeof key, d)) != ATT_OK)
        return e;
    void *obj = NULL;
    if ((e = in->collateral(in->collateral_arg, key, in->now, &obj, d)) != ATT_OK)
        return e;
    *collp = obj;
    e = att_dcap_verify_cached(q, len, *collp, x->trust, in->now, x->cache, res);
    if (e != ATT_OK)
        *d = res->diag;
    return e;
}

json_t *att_ev_dcap_advisories(const att_dcap_result_t *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_advisories; i++)
        json_array_append_new(a, json_string(r->advisory_ids[i]));
    return a;
}

json_t *att_ev_dcap_collateral_json(const att_dcap_collateral_t *c, const uint8_t *quote,
                                    size_t qlen)
{
    att_dcap_collateral_hashes_t h;
    att_dcap_collateral_hashes(c, &h);
    uint8_t qh[32];
    char qhex[65];
    if (!att_sha256_2(quote, qlen, NULL, 0, qh))
        memset(qh, 0, sizeof(qh));
    att_hex_encode(qh, 32, qhex);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "qeidcertshash", h.qeidcertshash,
                     "qeidcrlhash", h.qeidcrlhash, "qeidhash", h.qeidhash, "quotehash", qhex,
                     "tcbinfocertshash", h.tcbinfocertshash, "tcbinfocrlhash", h.tcbinfocrlhash,
                     "tcbinfohash", h.tcbinfohash);
}

/* Evidence whose PCK chain ends at a root trusted only by configuration (a test or simulated
 * hierarchy) says so in its claims; genuine Intel evidence carries no such claim. */
void att_ev_dcap_mark_simulated(json_t *claims, const att_dcap_result_t *r)
{
    if (!r->intel_root)
        json_object_set_new(claims, "x-attestd-simulated", json_true());
}
