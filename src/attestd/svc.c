/* svc.c - attestd's domain service: its life cycle (new, free, stop, ready, stats), the
 * attestation type names and the reply helpers every room uses (see svc.h, svc_int.h).
 *
 * The rooms: attest.c (the attest pipeline), policies.c (policies in force, set/reset and the
 * rules of signed requests), policy_certs.c (policy management certificates), keys.c (signing
 * keys and tokens), metadata.c (/certs, OpenID configuration).
 *
 * Concurrency: the active signer, the published JWKS and the per-type policies are immutable
 * reference-counted snapshots swapped under a rwlock; a request takes references and works
 * without holding the lock, so a policy write never tears an evaluation in flight.
 * Time: verification uses `now` = the --at override or the wall clock read once per request;
 * token times (iat/nbf/exp) always use the wall clock.
 */
#include "svc_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/crypto.h"
#include "hsm.h"

/* ---- replies ---- */

void att_reply(att_svc_reply_t *r, int status, json_t *body)
{
    r->status = status;
    r->body = body;
}

void att_reply_err(att_svc_reply_t *r, int status, const char *code, att_err_t e, const char *fmt,
                   ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->status = status;
    r->code = code;
    r->att_code = e != ATT_OK ? att_err_name(e) : NULL;
    free(r->message);
    r->message = strdup(msg); /* NULL when out of memory: the transport says "error" */
}

void att_reply_store_err(att_svc_t *svc, att_svc_reply_t *r, att_err_t e, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (att_store_available(svc->store, NULL, 0)) {
        att_reply_err(r, 500, "InternalError", e, "%s", msg);
        return;
    }
    att_reply_err(r, 503, "ServiceUnavailable", e, "%s; attestation goes on, changes wait", msg);
    r->retry_after = 1;
}

bool att_svc_writable(att_svc_t *svc, char *why, size_t n)
{
    return svc != NULL && svc->store != NULL && att_store_available(svc->store, why, n);
}

/* 200 {"token": jws}. A compact JWS is base64url and dots - ASCII by construction - so the
 * string skips jansson's UTF-8 check of its 3-5 kB (about 5 us per attest). */
void att_reply_jws(att_svc_reply_t *r, const char *jws)
{
    json_t *o = json_object();
    if (o != NULL && json_object_set_new(o, "token", json_stringn_nocheck(jws, strlen(jws))) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (o == NULL)
        att_reply_err(r, 500, "InternalError", ATT_E_NOMEM, "out of memory");
    else
        att_reply(r, 200, o);
}

void att_svc_reply_clear(att_svc_reply_t *r)
{
    json_decref(r->body);
    free(r->message);
    memset(r, 0, sizeof(*r));
}

const char *att_svc_type_name(const char *type, size_t *idx)
{
    const att_ev_type_t *t = att_ev_type_find(type);
    for (size_t i = 0; t != NULL && i < att_ev_type_count(); i++)
        if (att_ev_type_at(i) == t) {
            if (idx)
                *idx = i;
            return t->name;
        }
    return NULL;
}

size_t att_svc_ntypes(void)
{
    return att_ev_type_count();
}

const char *att_svc_type_at(size_t i)
{
    const att_ev_type_t *t = att_ev_type_at(i);
    return t ? t->name : NULL;
}

/* ---- life cycle ---- */

/* The network source of each evidence backend's collateral: --collateral-url for DCAP (Intel PCS
 * or a PCCS), --kds-url for SEV-SNP (AMD KDS). */
static const char *att_svc_collateral_url(void *arg, const char *backend)
{
    const att_svc_t *svc = arg;
    if (strcmp(backend, "dcap") == 0)
        return svc->o.collateral_url;
    if (strcmp(backend, "snp") == 0)
        return svc->o.kds_url;
    return NULL;
}

bool att_svc_ready(att_svc_t *svc)
{
    return svc != NULL && svc->keys != NULL;
}

bool att_svc_readiness(att_svc_t *svc, char *why, size_t n)
{
    if (!att_svc_ready(svc)) {
        snprintf(why, n, "no signing key is loaded");
        return false;
    }
    if (svc->coll == NULL && svc->o.n_tpm_aks == 0 && svc->o.n_tpm_ak_cas == 0) {
        snprintf(why, n,
                 "no collateral source is configured (--collateral-url, --kds-url or "
                 "--collateral-dir): no quote can be verified");
        return false;
    }
    return svc->coll == NULL || att_collsrc_healthy(svc->coll, why, n);
}

void att_svc_stop(att_svc_t *svc)
{
    if (svc != NULL)
        atomic_store(&svc->stopping, true);
}

void att_svc_stats(att_svc_t *svc, att_svc_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    att_ev_stats_t es;
    att_ev_set_stats(svc->ev, &es);
    out->chain_cache_hits = es.cache_hits;
    out->chain_cache_misses = es.cache_misses;
    memcpy(out->caches, es.caches, es.n_caches * sizeof(es.caches[0]));
    out->n_caches = es.n_caches;
    out->ecdsa_verifications = att_crypto_ecdsa_verify_count();
    if (svc->coll) {
        att_collsrc_stats_t s;
        att_collsrc_stats(svc->coll, &s);
        out->coll_hits = s.hits;
        out->coll_misses = s.misses;
        out->coll_fetches = s.fetches;
        out->coll_fetch_errors = s.fetch_errors;
        out->coll_served_stale = s.served_stale;
        out->coll_requests = s.requests;
        out->coll_backoff_denied = s.backoff_denied;
        out->coll_rate_denied = s.rate_denied;
        out->coll_busy_denied = s.busy_denied;
        out->caches[out->n_caches++] = (att_ev_cache_stats_t){.name = "collateral",
                                                              .hits = s.hits,
                                                              .misses = s.misses,
                                                              .evictions = s.evictions,
                                                              .entries = s.entries,
                                                              .capacity = s.capacity};
    }
    if (svc->hsm != NULL)
        att_hsm_stats(svc->hsm, &out->hsm_signs, &out->hsm_waits);
    out->policy_signer_weak_keys = atomic_load(&svc->weak_signer_uses);
}

/* The store's news of a change another replica made (docs/store.md, "Notifications"): the
 * policies and signers are re-read at once; the keys at the next request that uses them. */
static bool att_svc_store_changed(void *arg, const char *what)
{
    att_svc_t *svc = arg;
    bool ok = true;
    if (what == NULL || strcmp(what, "keys") == 0) {
        pthread_rwlock_wrlock(&svc->lock);
        svc->keys_loaded = 0; /* att_keys_maybe_reload: due now */
        pthread_rwlock_unlock(&svc->lock);
    }
    if (what == NULL || strncmp(what, "policy ", 7) == 0)
        ok &= att_policies_reload(svc, what ? what + 7 : NULL);
    if (what == NULL || strcmp(what, "signers") == 0)
        ok &= att_signers_reload(svc);
    if (what == NULL || strncmp(what, "policy tcb-baseline/", 20) == 0)
        ok &= att_baselines_reload(svc);
    return ok;
}

/* First start on a shared store: under the store's lock, so replicas starting together on an
 * empty database make one signing key and seed the signers once. */
static att_err_t att_svc_init_keys(void *arg, att_diag_t *d)
{
    att_svc_t *svc = arg;
    att_err_t e = att_keys_init(svc, d);
    return e == ATT_OK ? att_signers_init(svc, d) : e;
}

att_err_t att_svc_new(const att_svc_opts_t *o, att_svc_t **out, att_diag_t *d)
{
    att_svc_t *svc = calloc(1, sizeof(*svc));
    if (svc == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    svc->o = *o;
    if (svc->o.token_lifetime <= 0)
        svc->o.token_lifetime = 28800;
    if (svc->o.alg == ATT_ALG_NONE)
        svc->o.alg = ATT_ALG_RS256;
    pthread_rwlock_init(&svc->lock, NULL);
    att_err_t e = ATT_OK;
    size_t ilen = strlen(o->issuer);
    while (ilen > 0 && o->issuer[ilen - 1] == '/')
        ilen--;
    svc->issuer = strndup(o->issuer, ilen);
    svc->jku = malloc(ilen + 8);
    if (svc->issuer == NULL || svc->jku == NULL) {
        e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto fail;
    }
    if (att_ev_type_count() > ATT_SVC_MAX_TYPES) {
        e = att_diag_set(d, ATT_E_INTERNAL, "more than %d attestation types", ATT_SVC_MAX_TYPES);
        goto fail;
    }
    if ((e = att_ev_set_new(&svc->ev, d)) != ATT_OK)
        goto fail;
    snprintf(svc->jku, ilen + 8, "%s/certs", svc->issuer);
    for (size_t i = 0; i < o->n_trust_roots && e == ATT_OK; i++)
        e = att_ev_set_add_root_file(svc->ev, o->trust_roots[i], d);
    for (size_t i = 0; i < o->n_tpm_aks && e == ATT_OK; i++)
        e = att_ev_set_add_key_file(svc->ev, "tpm-ak", o->tpm_aks[i], d);
    for (size_t i = 0; i < o->n_tpm_ak_cas && e == ATT_OK; i++)
        e = att_ev_set_add_key_file(svc->ev, "tpm-ak-ca", o->tpm_ak_cas[i], d);
    for (size_t i = 0; i < o->n_tpm_ek_cas && e == ATT_OK; i++)
        e = att_ev_set_add_key_file(svc->ev, "tpm-ek-ca", o->tpm_ek_cas[i], d);
    const struct {
        const char *name;
        size_t v;
    } tpm_limits[] = {{"tpm-max-log-bytes", o->tpm_max_log_bytes},
                      {"tpm-max-events", o->tpm_max_events},
                      {"tpm-max-event-size", o->tpm_max_event_size},
                      {"tpm-max-custom-claims", o->tpm_max_custom_claims},
                      {"tpm-max-claim-bytes", o->tpm_max_claim_bytes},
                      {"tpm-max-chain", o->tpm_max_chain},
                      {"tpm-ak-cache", o->tpm_ak_cache},
                      {"cache-pck-chains", o->cache_pck_chains},
                      {"cache-snp-vcek", o->cache_snp_vcek}};
    for (size_t i = 0; i < sizeof tpm_limits / sizeof tpm_limits[0] && e == ATT_OK; i++)
        e = att_ev_set_limit(svc->ev, tpm_limits[i].name, tpm_limits[i].v, d);
    if (e != ATT_OK)
        goto fail;
    if ((e = o->store_url ? att_store_open(o->store_url, &svc->store, d)
                          : att_store_open_sqlite(o->data_dir, &svc->store, d)) != ATT_OK)
        goto fail;
    if ((e = att_store_exclusive(svc->store, att_svc_init_keys, svc, d)) != ATT_OK ||
        (e = att_policies_init(svc, d)) != ATT_OK || (e = att_challenge_init(svc, d)) != ATT_OK ||
        (e = att_baselines_init(svc, d)) != ATT_OK)
        goto fail;
    e = att_store_watch(svc->store, att_svc_store_changed, svc, d);
    if (e != ATT_OK && e != ATT_E_UNSUPPORTED) /* SQLite: keys re-read every few seconds */
        goto fail;
    e = ATT_OK;
    if (o->collateral_url != NULL || o->kds_url != NULL || o->collateral_dir != NULL) {
        /* every evidence backend's collateral fetcher, each with its network URL */
        const att_coll_fetcher_t *fetchers[ATT_SVC_MAX_SOURCES];
        void *cfgs[ATT_SVC_MAX_SOURCES];
        att_coll_source_t srcs[ATT_SVC_MAX_SOURCES];
        size_t n = 0;
        if ((e = att_ev_set_collateral(svc->ev, att_svc_collateral_url, svc, fetchers, cfgs,
                                       ATT_SVC_MAX_SOURCES, &n, d)) != ATT_OK) {
            for (size_t i = 0; i < n; i++)
                fetchers[i]->cfg_free(cfgs[i]);
            goto fail;
        }
        /* Intel's TCB evaluation data numbers (GET /tcbbaselines): beside the PCS fetcher */
        const att_trust_t *dcap_trust = att_ev_set_trust(svc->ev, "dcap");
        if (dcap_trust != NULL && n < ATT_SVC_MAX_SOURCES) {
            att_dcap_pcs_opts_t po = {.base_url = o->collateral_url, .trust = dcap_trust};
            if ((e = att_dcap_pcs_new(&po, &cfgs[n], d)) != ATT_OK) {
                for (size_t i = 0; i < n; i++)
                    fetchers[i]->cfg_free(cfgs[i]);
                goto fail;
            }
            fetchers[n++] = &att_dcap_tcbeval_fetcher;
        }
        for (size_t i = 0; i < n; i++)
            srcs[i] = (att_coll_source_t){fetchers[i], cfgs[i]};
        att_collsrc_opts_t co = {.sources = srcs,
                                 .n_sources = n,
                                 .offline_dir = o->collateral_dir,
                                 .store = svc->store,
                                 .max_age = o->collateral_max_age,
                                 .timeout_ms = (long)o->collateral_timeout * 1000,
                                 .max_waiters = o->collateral_fetch_waiters,
                                 .fetch_rate = o->collateral_fetch_rate,
                                 .backoff_ms = o->collateral_backoff * 1000,
                                 .backoff_max_ms = o->collateral_backoff_max * 1000,
                                 .max_entries = o->cache_collateral};
        if ((e = att_collsrc_new(&co, &svc->coll, d)) != ATT_OK)
            goto fail;
    }
    *out = svc;
    return ATT_OK;
fail:
    att_svc_free(svc);
    return e;
}

void att_svc_free(att_svc_t *svc)
{
    if (svc == NULL)
        return;
    if (svc->store) /* the watcher touches what is freed below: stopped and joined first */
        att_store_watch(svc->store, NULL, NULL, NULL);
    att_collsrc_free(svc->coll);
    att_baselines_free(svc);
    for (size_t i = 0; i < ATT_SVC_MAX_TYPES; i++)
        att_pol_unref(svc->pol[i]);
    att_keys_unref(svc->keys);
    att_keys_fini(svc);
    sk_X509_pop_free(svc->signers, X509_free);
    att_store_close(svc->store);
    att_ev_set_free(svc->ev);
    pthread_rwlock_destroy(&svc->lock);
    free(svc->issuer);
    free(svc->jku);
    free(svc);
}

/* ---- computed gauges ---- */

static void att_svc_gauges(void *arg)
{
    att_svc_t *svc = arg;
    if (svc->coll != NULL) {
        att_collsrc_summary_t sum[ATT_SVC_MAX_SOURCES];
        size_t n = att_collsrc_summary(svc->coll, sum, ATT_SVC_MAX_SOURCES);
        att_time_t now = att_svc_now(svc); /* collateral is judged at --at when given */
        for (size_t i = 0; i < n; i++) {
            if (sum[i].sets == 0)
                continue;
            if (sum[i].oldest_fetch != 0)
                att_metric_set(svc->m_coll_age, (int64_t)(now - sum[i].oldest_fetch),
                               sum[i].prefix);
            if (sum[i].next_update != 0)
                att_metric_set(svc->m_coll_expiry, (int64_t)(sum[i].next_update - now),
                               sum[i].prefix);
        }
    }
    pthread_rwlock_rdlock(&svc->lock);
    att_time_t created = svc->keys != NULL ? svc->keys->signer_created : 0;
    pthread_rwlock_unlock(&svc->lock);
    if (created != 0)
        att_metric_set(svc->m_key_age, (int64_t)(att_wall() - created));
}

void att_svc_metrics(att_svc_t *svc, att_metrics_t *m)
{
    if (svc == NULL || m == NULL)
        return;
    const char *src[] = {"source"};
    svc->m_coll_age = att_metrics_gauge(m, "attestd_collateral_age_seconds",
                                        "Age of the oldest collateral set in hand, per source "
                                        "(dcap, snp), at the verification time (--at)",
                                        1, src);
    svc->m_coll_expiry =
        att_metrics_gauge(m, "attestd_collateral_expiry_seconds",
                          "Seconds until the earliest next update of the collateral sets in "
                          "hand, per source; negative when past it",
                          1, src);
    svc->m_key_age = att_metrics_gauge(m, "attestd_signing_key_age_seconds",
                                       "Age of the key signing tokens now", 0, NULL);
    att_metrics_on_render(m, att_svc_gauges, svc);
}
