/* routes.c - the MAA routes of attestd: HTTP glue between http.h and the domain logic (svc.h).
 * Each handler reads the request's parts, calls one att_svc_* operation and sends its reply.
 * Not here: any attestation logic (svc.c and its rooms) or transport rules (http.c).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "attest/evidence.h"
#include "audit.h"
#include "auth.h"
#include "core/util.h"
#include "crypto/crypto.h"
#include "log.h"
#include "routes.h"
#include "svc.h"
#include "token/ear.h"

struct att_service {
    att_svc_t *svc;
    att_auth_t *auth;              /* NULL: no --auth-issuer, every route anonymous */
    att_audit_t *audit;            /* NULL: no --audit-log */
    bool anonymous_admin_anywhere; /* --allow-anonymous-admin */
    /* attestd_cache_{hits,misses,evictions}_total{cache}: the counts last added (att_svc_stats
     * order), brought up to date at each render; attestd_cache_{entries,capacity}{cache} */
    pthread_mutex_t cache_mu;
    bool cache_mu_init;
    att_metric_t *cache_fam[5];
    uint64_t cache_seen[ATT_EV_MAX_CACHES + 1][3];
};

/* The render hook of the cache families: add what each cache counted since the last render
 * (counters stay monotonic), set its entries and capacity. */
static void att_cache_metrics(void *arg)
{
    att_service_t *s = arg;
    att_svc_stats_t st;
    att_svc_stats(s->svc, &st);
    pthread_mutex_lock(&s->cache_mu);
    for (size_t i = 0; i < st.n_caches; i++) {
        const att_ev_cache_stats_t *c = &st.caches[i];
        const uint64_t now[3] = {c->hits, c->misses, c->evictions};
        for (size_t k = 0; k < 3; k++) {
            att_metric_add(s->cache_fam[k], now[k] - s->cache_seen[i][k], c->name);
            s->cache_seen[i][k] = now[k];
        }
        att_metric_set(s->cache_fam[3], (int64_t)c->entries, c->name);
        att_metric_set(s->cache_fam[4], (int64_t)c->capacity, c->name);
    }
    pthread_mutex_unlock(&s->cache_mu);
}

static void att_cache_metrics_register(att_service_t *s, att_metrics_t *m)
{
    static const char *const lbl[] = {"cache"};
    static const struct {
        bool counter;
        const char *name, *help;
    } fam[5] = {
        {true, "attestd_cache_hits_total", "Lookups answered by a bounded cache"},
        {true, "attestd_cache_misses_total", "Lookups a bounded cache could not answer"},
        {true, "attestd_cache_evictions_total",
         "Entries a full cache dropped, least recently used first"},
        {false, "attestd_cache_entries", "Entries a bounded cache holds"},
        {false, "attestd_cache_capacity",
         "Most entries a bounded cache holds (--cache-pck-chains, ...)"},
    };
    if (pthread_mutex_init(&s->cache_mu, NULL) != 0)
        return;
    s->cache_mu_init = true;
    for (size_t k = 0; k < 5; k++)
        s->cache_fam[k] = fam[k].counter ? att_metrics_counter(m, fam[k].name, fam[k].help, 1, lbl)
                                         : att_metrics_gauge(m, fam[k].name, fam[k].help, 1, lbl);
    att_cache_metrics(s); /* every cache's series from the start, at 0 */
    att_metrics_on_render(m, att_cache_metrics, s);
}

/* --collateral-fetch-waiters 0: the HTTP threads (as http.c counts them) minus one, at least
 * one, so that a worker always remains for cached platforms and /healthz. */
static unsigned att_coll_waiters(const att_config_t *cfg)
{
    if (cfg->collateral_fetch_waiters)
        return cfg->collateral_fetch_waiters;
    long t = cfg->threads ? (long)cfg->threads : sysconf(_SC_NPROCESSORS_ONLN);
    return t > 2 ? (unsigned)(t - 1) : 1;
}

static att_svc_opts_t att_opts_from(const att_config_t *cfg)
{
    att_svc_opts_t o = {
        .issuer = cfg->issuer,
        .data_dir = cfg->data_dir,
        .store_url = cfg->store_url,
        .collateral_url = cfg->collateral_url,
        .kds_url = cfg->kds_url,
        .collateral_dir = cfg->collateral_dir,
        .trust_roots = (const char *const *)cfg->trust_roots,
        .n_trust_roots = cfg->n_trust_roots,
        .tpm_aks = (const char *const *)cfg->tpm_aks,
        .n_tpm_aks = cfg->n_tpm_aks,
        .tpm_ak_cas = (const char *const *)cfg->tpm_ak_cas,
        .n_tpm_ak_cas = cfg->n_tpm_ak_cas,
        .tpm_ek_cas = (const char *const *)cfg->tpm_ek_cas,
        .n_tpm_ek_cas = cfg->n_tpm_ek_cas,
        .tcb_baselines = (const char *const *)cfg->tcb_baselines,
        .n_tcb_baselines = cfg->n_tcb_baselines,
        .tpm_max_log_bytes = cfg->tpm_max_log_bytes,
        .tpm_max_events = cfg->tpm_max_events,
        .tpm_max_event_size = cfg->tpm_max_event_size,
        .tpm_max_custom_claims = cfg->tpm_max_custom_claims,
        .tpm_max_claim_bytes = cfg->tpm_max_claim_bytes,
        .tpm_max_chain = cfg->tpm_max_chain,
        .tpm_ak_cache = cfg->tpm_ak_cache,
        .cache_pck_chains = cfg->cache_pck_chains,
        .cache_collateral = cfg->cache_collateral,
        .cache_snp_vcek = cfg->cache_snp_vcek,
        .have_at = cfg->has_at,
        .at = cfg->at,
        .isolated_signers = cfg->isolated_signers,
        .policy_signer_min_rsa_bits = cfg->policy_signer_min_rsa_bits,
        .token_lifetime = (int64_t)cfg->token_lifetime,
        .alg = att_alg_parse(cfg->signing_alg ? cfg->signing_alg : "RS256"),
        .key_encryption_key = cfg->key_encryption_key,
        .key_encryption_key_old = cfg->key_encryption_key_old,
        .signing_key = cfg->signing_key,
        .signing_key_sessions = cfg->signing_key_sessions,
        .key_publish_lead = cfg->key_publish_lead_set ? (int64_t)cfg->key_publish_lead : -1,
        .collateral_max_age = (int64_t)cfg->collateral_max_age,
        .collateral_timeout = cfg->collateral_timeout,
        .collateral_fetch_waiters = att_coll_waiters(cfg),
        .collateral_fetch_rate = cfg->collateral_fetch_rate,
        .collateral_backoff = cfg->collateral_backoff,
        .collateral_backoff_max = cfg->collateral_backoff_max,
        .policy_jws_max_age = (int64_t)cfg->policy_jws_max_age,
        .policy_max_steps = cfg->policy_max_steps,
        .policy_max_bytes = cfg->policy_max_memory,
    };
    return o;
}

/* Send a domain reply: JSON on success; otherwise its code and message, which att_http_error
 * writes in the MAA error form (with x-ms-error-code). */
static void att_send(att_http_req_t *req, att_svc_reply_t *r)
{
    if (r->type != NULL)
        att_http_set_attestation_type(req, r->type);
    if (r->att_code != NULL)
        att_http_log_field(req, "att_code", r->att_code);
    if (r->status >= 400) {
        if (r->retry_after > 0) {
            char ra[24];
            snprintf(ra, sizeof(ra), "%lld", (long long)r->retry_after);
            att_http_add_header(req, "Retry-After", ra);
        }
        att_http_error(req, (unsigned)r->status, r->code ? r->code : "InternalError", "%s",
                       r->message ? r->message : "error");
        att_svc_reply_clear(r);
        return;
    }
    /* An EAR: the JWT itself, as RFC 9782's application/eat+jwt (docs/ear.md). */
    const char *ear = r->ear ? json_string_value(json_object_get(r->body, "token")) : NULL;
    if (ear != NULL) {
        att_http_text(req, (unsigned)r->status, ATT_EAR_MEDIA_TYPE, ear, strlen(ear));
        att_svc_reply_clear(r);
        return;
    }
    /* {"token": JWT}: a JWT is base64url and dots, so the body is written as it is instead of
     * through json_dumps, which escapes the 3-4 kB token one character at a time. */
    const char *tok = json_object_size(r->body) == 1
                          ? json_string_value(json_object_get(r->body, "token"))
                          : NULL;
    size_t n = tok ? strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789-_.")
                   : 0;
    if (tok != NULL && tok[n] == '\0') {
        size_t len = n + 12; /* {"token":" + token + "} */
        char *text = malloc(len + 1);
        if (text != NULL) {
            snprintf(text, len + 1, "{\"token\":\"%s\"}", tok);
            att_http_text(req, (unsigned)r->status, "application/json; charset=utf-8", text, len);
            free(text);
            att_svc_reply_clear(r);
            return;
        }
    }
    att_http_json(req, (unsigned)r->status, r->body);
    r->body = NULL;
    att_svc_reply_clear(r);
}

/* Attestation types of MAA's API that attestd does not serve (no public evidence format):
 * /attest/{type} and /policies/{type} answer 501 NotSupported naming the type and the
 * api-version that defines it, rather than "unknown type" (docs/api.md "API versions"). */
static const struct {
    const char *type, *since;
} att_maa_unserved[] = {
    {"AzureGuest", "2025-06-01"},       {"Pluton", "2026-03-11-preview"},
    {"KeyGuard", "2026-03-11-preview"}, {"MdepTz", "2026-03-11-preview"},
    {"AiHsm", "2026-03-11-preview"},
};

/* Is type one of att_maa_unserved (case-insensitively, as {type} is matched)? Then answer
 * NotSupported in r and return true. */
static bool att_unserved_type(const char *type, att_svc_reply_t *r)
{
    for (size_t i = 0; type != NULL && i < sizeof att_maa_unserved / sizeof *att_maa_unserved;
         i++) {
        if (strcasecmp(type, att_maa_unserved[i].type) != 0)
            continue;
        char msg[512];
        snprintf(msg, sizeof msg,
                 "attestation type %s (MAA api-version %s) is not supported by attestd: there "
                 "is no public format for its evidence; attestd's types are %s",
                 att_maa_unserved[i].type, att_maa_unserved[i].since, att_ev_type_names(false));
        memset(r, 0, sizeof *r);
        r->status = 501;
        r->code = "NotSupported";
        r->att_code = att_err_name(ATT_E_UNSUPPORTED);
        r->message = strdup(msg);
        return true;
    }
    return false;
}

static void h_attest(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    if (!att_auth_require(s->auth, req, ATT_AUTH_ATTEST))
        return;
    att_svc_reply_t r = {0}; /* retry_after and the rest start at 0 */
    if (att_unserved_type(att_http_param(req, "type"), &r)) {
        att_send(req, &r);
        return;
    }
    att_slice_t b = att_http_body(req);
    att_http_add_header(req, "Vary", "Accept"); /* MAA's JSON or an EAR (docs/ear.md) */
    if (att_ear_accepted(att_http_header(req, "Accept")))
        att_svc_attest_ear(s->svc, att_http_param(req, "type"), (const char *)b.ptr, b.len, &r);
    else
        att_svc_attest(s->svc, att_http_param(req, "type"), (const char *)b.ptr, b.len, &r);
    att_send(req, &r);
}

static void h_tpm_nonce(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    if (!att_auth_require(s->auth, req, ATT_AUTH_ATTEST))
        return;
    att_svc_reply_t r = {0}; /* retry_after and the rest start at 0 */
    att_svc_tpm_nonce(s->svc, &r);
    att_send(req, &r);
}

static void h_certs(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    att_svc_reply_t r = {0}; /* retry_after and the rest start at 0 */
    att_svc_certs(s->svc, &r);
    att_send(req, &r);
}

static void h_openid(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    att_svc_reply_t r = {0}; /* retry_after and the rest start at 0 */
    att_svc_openid(s->svc, &r);
    att_send(req, &r);
}

static void h_policy_get(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    if (!att_auth_require(s->auth, req, ATT_AUTH_READ))
        return;
    att_svc_reply_t r = {0}; /* retry_after and the rest start at 0 */
    if (!att_unserved_type(att_http_param(req, "type"), &r))
        att_svc_policy_get(s->svc, att_http_param(req, "type"), &r);
    att_send(req, &r);
}

/* GET /tcbbaselines/{type} (MAA 2025-06-01; SGX and TDX here): read like a policy. */
static void h_tcbbaselines_get(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    if (!att_auth_require(s->auth, req, ATT_AUTH_READ))
        return;
    att_svc_reply_t r = {0}; /* retry_after and the rest start at 0 */
    if (!att_unserved_type(att_http_param(req, "type"), &r))
        att_svc_tcbbaselines_get(s->svc, att_http_param(req, "type"), &r);
    att_send(req, &r);
}

static void h_tcbbaselines_set(att_http_req_t *req, void *arg);

/* GET /servicehealth (MAA 2026-03-11-preview): 204 while attestd answers; a liveness probe
 * (readiness is GET /readyz). */
static void h_servicehealth(att_http_req_t *req, void *arg)
{
    (void)arg;
    att_http_text(req, 204, NULL, "", 0);
}

static void h_certificates(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    if (!att_auth_require(s->auth, req, ATT_AUTH_READ))
        return;
    att_svc_reply_t r = {0}; /* retry_after and the rest start at 0 */
    att_svc_certificates(s->svc, &r);
    att_send(req, &r);
}

/* ---- changes: authorised as admin, then recorded in the audit trail whatever the outcome ---- */

typedef enum {
    ATT_CHANGE_POLICY_SET,
    ATT_CHANGE_POLICY_RESET,
    ATT_CHANGE_CERT_ADD,
    ATT_CHANGE_CERT_REMOVE,
    ATT_CHANGE_BASELINE_SET
} att_change_t;

static const char *const att_change_event[] = {"policy.set", "policy.reset", "certificates.add",
                                               "certificates.remove", "tcbbaseline.set"};

/* The audit record of a change request: who, from where, what was sent, how it ended. */
static json_t *att_change_record(att_change_t what, att_http_req_t *req,
                                 const att_auth_result_t *ar, int status, const char *code,
                                 const char *message)
{
    json_t *ev = att_audit_event(att_change_event[what]);
    if (ev == NULL)
        return NULL;
    json_object_set_new(ev, "request_id", json_string(att_http_request_id(req)));
    json_object_set_new(ev, "remote", json_string(att_http_remote_addr(req)));
    if (ar->sub[0])
        json_object_set_new(ev, "subject", json_string(ar->sub));
    const char *type = att_http_param(req, "type");
    if (type != NULL && (what == ATT_CHANGE_POLICY_SET || what == ATT_CHANGE_POLICY_RESET ||
                         what == ATT_CHANGE_BASELINE_SET))
        json_object_set_new(ev, "policy_type", json_string(type));
    att_slice_t b = att_http_body(req);
    uint8_t h[32];
    char hex[65];
    if (att_sha256_2(b.ptr ? b.ptr : (const uint8_t *)"", b.len, NULL, 0, h)) {
        att_hex_encode(h, sizeof h, hex);
        json_object_set_new(ev, "body_sha256", json_string(hex));
    }
    json_object_set_new(ev, "status", json_integer(status));
    json_object_set_new(ev, "outcome", json_string(status < 400 ? "ok" : code ? code : "error"));
    if (status >= 400 && message != NULL)
        json_object_set_new(ev, "message", att_log_jstr(message)); /* may quote client input */
    return ev;
}

/* Is the peer's address (as att_http_remote_addr gives it) a loopback address: 127.0.0.0/8,
 * ::1, or 127.x mapped into IPv6? */
bool att_service_is_loopback(const char *addr)
{
    if (addr == NULL)
        return false;
    char host[INET6_ADDRSTRLEN + 1];
    const char *end = NULL;
    if (addr[0] == '[') { /* "[::1]:port" */
        addr++;
        end = strchr(addr, ']');
    } else if ((end = strchr(addr, ':')) != NULL && strchr(end + 1, ':') != NULL) {
        end = NULL; /* a bare IPv6 address */
    }
    size_t n = end ? (size_t)(end - addr) : strlen(addr);
    if (n >= sizeof host)
        return false;
    memcpy(host, addr, n);
    host[n] = '\0';
    addr = host;
    if (strncmp(addr, "::ffff:", 7) == 0)
        addr += 7;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, addr, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static void att_change(att_service_t *s, att_http_req_t *req, att_change_t what)
{
    att_auth_result_t ar;
    /* Without an identity provider nothing says who is asking: changes are taken from this
     * machine only, unless the operator said otherwise (MAA never takes an anonymous change). */
    if (s->auth == NULL && !s->anonymous_admin_anywhere &&
        !att_service_is_loopback(att_http_remote_addr(req))) {
        static const char msg[] =
            "policy and policy-certificate changes need an access token, and this attestd has "
            "no identity provider: start it with --auth-issuer URL --auth-audience AUD (docs/"
            "auth.md); without one, changes are accepted from loopback addresses only (or "
            "anywhere with --allow-anonymous-admin, which is unsafe)";
        memset(&ar, 0, sizeof ar);
        if (s->audit != NULL)
            att_audit_write(s->audit, att_change_record(what, req, &ar, 401, "Unauthorized", msg));
        att_http_error(req, 401, "Unauthorized", "%s", msg);
        return;
    }
    if (!att_auth_require_r(s->auth, req, ATT_AUTH_ADMIN, &ar)) {
        if (s->audit != NULL)
            att_audit_write(s->audit,
                            att_change_record(what, req, &ar, (int)ar.status, ar.code, ar.message));
        return;
    }
    att_svc_reply_t r = {0}; /* retry_after and the rest start at 0 */
    att_slice_t b = att_http_body(req);
    const char *body = (const char *)b.ptr;
    switch (what) {
    case ATT_CHANGE_POLICY_SET:
        if (att_unserved_type(att_http_param(req, "type"), &r))
            break;
        att_svc_policy_set(s->svc, att_http_param(req, "type"), body, b.len, &r);
        break;
    case ATT_CHANGE_POLICY_RESET:
        if (att_unserved_type(att_http_param(req, "type"), &r))
            break;
        att_svc_policy_reset(s->svc, att_http_param(req, "type"), body, b.len, &r);
        break;
    case ATT_CHANGE_CERT_ADD:
    case ATT_CHANGE_CERT_REMOVE:
        att_svc_certificates_change(s->svc, what == ATT_CHANGE_CERT_ADD, body, b.len, &r);
        break;
    case ATT_CHANGE_BASELINE_SET:
        if (att_unserved_type(att_http_param(req, "type"), &r))
            break;
        att_svc_tcbbaselines_set(s->svc, att_http_param(req, "type"), body, b.len, &r);
        break;
    }
    if (s->audit != NULL)
        att_audit_write(s->audit, att_change_record(what, req, &ar, r.status, r.code, r.message));
    att_send(req, &r);
}

static void h_policy_set(att_http_req_t *req, void *arg)
{
    att_change(arg, req, ATT_CHANGE_POLICY_SET);
}

static void h_policy_reset(att_http_req_t *req, void *arg)
{
    att_change(arg, req, ATT_CHANGE_POLICY_RESET);
}

static void h_cert_add(att_http_req_t *req, void *arg)
{
    att_change(arg, req, ATT_CHANGE_CERT_ADD);
}

static void h_cert_remove(att_http_req_t *req, void *arg)
{
    att_change(arg, req, ATT_CHANGE_CERT_REMOVE);
}

static void h_tcbbaselines_set(att_http_req_t *req, void *arg)
{
    att_change(arg, req, ATT_CHANGE_BASELINE_SET);
}

/* Cache counters for /metrics, read from the service when rendered. */
#define ATT_STAT_FN(name, field)                                                                   \
    static double name(void *arg)                                                                  \
    {                                                                                              \
        att_svc_stats_t st;                                                                        \
        att_svc_stats(((att_service_t *)arg)->svc, &st);                                           \
        return (double)st.field;                                                                   \
    }
ATT_STAT_FN(st_chain_hits, chain_cache_hits)
ATT_STAT_FN(st_chain_misses, chain_cache_misses)
ATT_STAT_FN(st_ecdsa, ecdsa_verifications)
ATT_STAT_FN(st_coll_hits, coll_hits)
ATT_STAT_FN(st_coll_misses, coll_misses)
ATT_STAT_FN(st_coll_fetches, coll_fetches)
ATT_STAT_FN(st_coll_fetch_errors, coll_fetch_errors)
ATT_STAT_FN(st_coll_stale, coll_served_stale)
ATT_STAT_FN(st_coll_requests, coll_requests)
ATT_STAT_FN(st_coll_backoff, coll_backoff_denied)
ATT_STAT_FN(st_coll_rate, coll_rate_denied)
ATT_STAT_FN(st_coll_busy, coll_busy_denied)
ATT_STAT_FN(st_hsm_signs, hsm_signs)
ATT_STAT_FN(st_hsm_waits, hsm_waits)
ATT_STAT_FN(st_weak_signers, policy_signer_weak_keys)

static double st_audit_failures(void *arg)
{
    return (double)att_audit_failures(((att_service_t *)arg)->audit);
}

att_err_t att_service_new(const att_config_t *cfg, att_metrics_t *metrics, att_service_t **out,
                          att_diag_t *d)
{
    att_service_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    att_svc_opts_t o = att_opts_from(cfg);
    if (o.alg == ATT_ALG_NONE) {
        free(s);
        return att_diag_set(d, ATT_E_ARG, "unknown signing algorithm '%s'", cfg->signing_alg);
    }
    s->anonymous_admin_anywhere = cfg->allow_anonymous_admin;
    att_err_t e = att_svc_new(&o, &s->svc, d);
    if (e != ATT_OK) {
        free(s);
        return e;
    }
    e = att_auth_new(cfg, metrics, NULL, NULL, &s->auth, d);
    if (e == ATT_OK)
        e = att_audit_open(cfg->audit_log, &s->audit, d);
    if (e != ATT_OK) {
        att_service_free(s);
        return e;
    }
    if (s->audit != NULL)
        att_log(ATT_LOG_INFO, "audit trail: %s", cfg->audit_log);
    if (s->auth != NULL)
        att_log(ATT_LOG_INFO, "access tokens: %zu issuer(s), first %s, audience %s; attest %s",
                cfg->n_auth_issuers, cfg->auth_issuers[0], cfg->auth_audience,
                cfg->auth_attest_required ? "requires a token" : "anonymous");
    if (metrics != NULL) {
        att_svc_metrics(s->svc, metrics); /* collateral and signing-key ages */
        static const struct {
            const char *name, *help;
            double (*fn)(void *);
        } g[] = {
            {"attestd_pck_chain_cache_hits_total", "PCK chain cache hits", st_chain_hits},
            {"attestd_pck_chain_cache_misses_total", "PCK chain cache misses", st_chain_misses},
            {"attestd_ecdsa_verifications_total",
             "ECDSA P-256 signature verifications (quotes, "
             "QE reports, certificates, CRLs, collateral)",
             st_ecdsa},
            {"attestd_collateral_cache_hits_total", "Collateral cache hits", st_coll_hits},
            {"attestd_collateral_cache_misses_total", "Collateral cache misses", st_coll_misses},
            {"attestd_collateral_fetches_total", "Collateral fetches from the PCS source",
             st_coll_fetches},
            {"attestd_collateral_fetch_errors_total", "Failed collateral fetches",
             st_coll_fetch_errors},
            {"attestd_collateral_served_stale_total",
             "Requests served with cached collateral while the "
             "source failed",
             st_coll_stale},
            {"attestd_collateral_requests_total", "HTTP requests sent to the collateral source",
             st_coll_requests},
            {"attestd_collateral_backoff_denied_total",
             "Collateral fetches not made: the platform's backoff after a failed fetch",
             st_coll_backoff},
            {"attestd_collateral_rate_denied_total",
             "Collateral fetches not made: --collateral-fetch-rate used up", st_coll_rate},
            {"attestd_collateral_busy_denied_total",
             "Requests refused: --collateral-fetch-waiters requests already waiting on fetches",
             st_coll_busy},
            {"attestd_hsm_signatures_total",
             "Token and certificate signatures made by the --signing-key HSM", st_hsm_signs},
            {"attestd_hsm_session_waits_total",
             "HSM signatures that waited for a free PKCS#11 session (--signing-key-sessions)",
             st_hsm_waits},
            {"attestd_policy_signer_weak_keys_total",
             "Policy signatures and policy management certificates accepted with an RSA key "
             "under 2048 bits (--policy-signer-min-rsa-bits)",
             st_weak_signers},
            {"attestd_audit_write_failures_total",
             "Audit records that could not be written "
             "(--audit-log)",
             st_audit_failures},
        };
        for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
            att_metrics_counter_fn(metrics, g[i].name, g[i].help, g[i].fn, s);
        att_cache_metrics_register(s, metrics);
    }
    *out = s;
    return ATT_OK;
}

att_err_t att_service_routes(att_service_t *s, att_http_router_t *r, att_diag_t *d)
{
    static const struct {
        const char *method, *pattern;
        unsigned flags;
        att_http_handler_t fn;
    } routes[] = {
        {"POST", "/attest/{type}", ATT_HTTP_API_VERSION, h_attest},
        {"GET", "/tpm/nonce", ATT_HTTP_API_VERSION_OPTIONAL, h_tpm_nonce},
        {"GET", "/certs", ATT_HTTP_API_VERSION_OPTIONAL, h_certs},
        {"GET", "/.well-known/openid-configuration", ATT_HTTP_API_VERSION_OPTIONAL, h_openid},
        {"GET", "/policies/{type}", ATT_HTTP_API_VERSION, h_policy_get},
        {"PUT", "/policies/{type}", ATT_HTTP_API_VERSION, h_policy_set},
        {"POST", "/policies/{type}:reset", ATT_HTTP_API_VERSION, h_policy_reset},
        {"GET", "/certificates", ATT_HTTP_API_VERSION, h_certificates},
        {"POST", "/certificates:add", ATT_HTTP_API_VERSION, h_cert_add},
        {"POST", "/certificates:remove", ATT_HTTP_API_VERSION, h_cert_remove},
        {"GET", "/tcbbaselines/{type}", ATT_HTTP_API_VERSION, h_tcbbaselines_get},
        {"PUT", "/tcbbaselines/{type}", ATT_HTTP_API_VERSION, h_tcbbaselines_set},
        {"GET", "/servicehealth", ATT_HTTP_API_VERSION_OPTIONAL | ATT_HTTP_QUIET, h_servicehealth},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        att_err_t e = att_http_route(r, routes[i].method, routes[i].pattern, routes[i].flags,
                                     routes[i].fn, s);
        if (e != ATT_OK)
            return att_diag_set(d, e, "cannot register %s %s", routes[i].method, routes[i].pattern);
    }
    return ATT_OK;
}

bool att_service_ready(att_service_t *s)
{
    return s != NULL && att_svc_ready(s->svc);
}

bool att_service_readiness(att_service_t *s, char *why, size_t n)
{
    if (s == NULL) {
        snprintf(why, n, "the service is not started");
        return false;
    }
    return att_svc_readiness(s->svc, why, n);
}

bool att_service_writable(att_service_t *s, char *why, size_t n)
{
    return s != NULL && att_svc_writable(s->svc, why, n);
}

void att_service_stop(att_service_t *s)
{
    if (s != NULL)
        att_svc_stop(s->svc);
}

void att_service_free(att_service_t *s)
{
    if (s == NULL)
        return;
    att_svc_free(s->svc);
    att_auth_free(s->auth);
    att_audit_close(s->audit);
    if (s->cache_mu_init)
        pthread_mutex_destroy(&s->cache_mu);
    free(s);
}

/* `attestd keys rotate` in the audit trail: the operator is the local user running it. */
static void att_audit_rotate(const att_config_t *cfg, const char *kid, const att_diag_t *d)
{
    att_audit_t *a = NULL;
    att_diag_t ad;
    if (att_audit_open(cfg->audit_log, &a, &ad) != ATT_OK) {
        fprintf(stderr, "attestd keys rotate: %s\n", ad.msg);
        return;
    }
    if (a == NULL)
        return;
    json_t *ev = att_audit_event("keys.rotate");
    if (ev != NULL) {
        char who[64];
        const struct passwd *pw = getpwuid(getuid());
        snprintf(who, sizeof who, "local:%s", pw ? pw->pw_name : "?");
        json_object_set_new(ev, "subject", json_string(who));
        json_object_set_new(ev, "data_dir", json_string(cfg->data_dir));
        json_object_set_new(ev, "outcome", json_string(kid ? "ok" : att_err_name(d->code)));
        if (kid != NULL)
            json_object_set_new(ev, "kid", json_string(kid));
        else
            json_object_set_new(ev, "message", json_string(d->msg));
    }
    att_audit_write(a, ev);
    att_audit_close(a);
}

int att_service_command(int argc, char **argv, const att_config_t *cfg)
{
    if (argc >= 2 && strcmp(argv[0], "keys") == 0 && strcmp(argv[1], "rotate") == 0) {
        att_svc_opts_t o = att_opts_from(cfg);
        o.collateral_url = NULL; /* keys only: no collateral source needed */
        o.kds_url = NULL;
        o.collateral_dir = NULL;
        att_svc_t *svc;
        att_diag_t d;
        char *kid = NULL;
        if (att_svc_new(&o, &svc, &d) != ATT_OK ||
            (att_svc_keys_rotate(svc, &kid, &d) != ATT_OK && (att_svc_free(svc), 1))) {
            att_audit_rotate(cfg, NULL, &d);
            fprintf(stderr, "attestd keys rotate: %s\n", d.msg);
            return 1;
        }
        att_audit_rotate(cfg, kid, &d);
        unsigned long long life =
            o.token_lifetime > 0 ? (unsigned long long)o.token_lifetime : 28800;
        long long lead = (long long)att_svc_keys_publish_lead(svc);
        if (lead == 0)
            printf("new signing key %s is active; earlier keys stay in /certs for %llu s\n", kid,
                   life);
        else
            printf("new signing key %s is in /certs now and signs from %lld s from now "
                   "(--key-publish-lead); earlier keys sign until then and stay in /certs %llu s "
                   "more\n",
                   kid, lead, life);
        free(kid);
        att_svc_free(svc);
        return 0;
    }
    fprintf(stderr, "attestd: unknown command '%s' (commands: keys rotate)\n",
            argc > 0 ? argv[0] : "");
    return 2;
}
