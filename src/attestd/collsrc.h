/* collsrc.h - where attestd gets DCAP collateral: an Intel PCS v4-compatible endpoint (Intel
 * PCS or a PCCS) over libcurl, an offline directory, and the store's cache.
 *
 *   att_collsrc_opts_t o = {.pcs_url = "https://api.trustedservices.intel.com",
 *                           .offline_dir = NULL, .store = st, .trust = trust};
 *   att_collsrc_t *src; att_collsrc_new(&o, &src, &d);
 *   att_dcap_collateral_t *c;
 *   att_collsrc_get(src, ATT_TEE_SGX, fmspc, "processor", now, &c, &d);  // verified, shared
 *   ... att_dcap_verify_cached(q, len, c, trust, now, cache, &res) ...
 *   att_dcap_collateral_free(c);    // drops this reference
 *
 * Behaviour: parsed, signature-checked collateral is kept in memory per (tee, fmspc, ca) and
 * persisted raw in the store (key "dcap/<tee>/<fmspc>/<ca>"); it is refreshed from the source
 * when `now` is within `refresh_margin` of its earliest nextUpdate or it is older than `max_age`;
 * if the source is down or answers garbage, the cached set keeps being served (until it expires,
 * which the verifier then reports). Only one fetch per key runs at a time; other requests for
 * the same key wait for it. The offline directory (one set in the `attest quote verify
 * --collateral` layout, or one subdirectory per set) seeds the cache and, without pcs_url,
 * replaces the network. A store write that fails (full or read-only disk) keeps the set pending:
 * later gets of that key, hits included, write it again at most once per 60 s of `now`, one
 * writer per key, other gets not waiting for it (a warning when writes start failing, an info
 * line when one succeeds again). A stored set that cannot be used is ignored; why is logged
 * once and is part of the error when nothing else has the key. `now` is always passed in. Not
 * checked here: the quote itself.
 */
#ifndef ATTESTD_COLLSRC_H
#define ATTESTD_COLLSRC_H

#include <stdint.h>

#include "attest/dcap.h"
#include "store.h"

typedef struct {
    const char *pcs_url;      /* base URL, e.g. https://api.trustedservices.intel.com; or NULL */
    const char *offline_dir;  /* or NULL */
    att_store_t *store;       /* may be NULL (memory only) */
    const att_trust_t *trust; /* to check collateral signatures */
    int64_t max_age;          /* seconds; 0 = no limit other than nextUpdate */
    int64_t refresh_margin;   /* seconds before nextUpdate to refresh; default 3600 */
    long timeout_ms;          /* per HTTP request; default 10000 */
    const char *root_ca_crl_url; /* NULL: derived from pcs_url (PCCS <pcs_url>/sgx/certification/
                                  * v4/rootcacrl; Intel's CRL distribution point for Intel PCS) */
} att_collsrc_opts_t;

typedef struct att_collsrc att_collsrc_t;

typedef struct {
    uint64_t hits, misses, fetches, fetch_errors, served_stale;
    uint64_t store_write_errors; /* failed store writes of fetched sets (each is retried) */
} att_collsrc_stats_t;

att_err_t att_collsrc_new(const att_collsrc_opts_t *opts, att_collsrc_t **out, att_diag_t *d);
void att_collsrc_free(att_collsrc_t *src);
/* ca is "processor" or "platform" (from the PCK leaf issuer CN). Returns a new reference. */
att_err_t att_collsrc_get(att_collsrc_t *src, att_tee_t tee, const uint8_t fmspc[6],
                          const char *ca, att_time_t now, att_dcap_collateral_t **out,
                          att_diag_t *d);
void att_collsrc_stats(att_collsrc_t *src, att_collsrc_stats_t *out);

#endif
