/* service.c - the MAA routes of attestd: HTTP glue between http.h and the domain logic (svc.h).
 * Each handler reads the request's parts, calls one att_svc_* operation and sends its reply.
 * Not here: any attestation logic (svc.c) or transport rules (http.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "service.h"
#include "svc.h"

struct att_service {
    att_svc_t *svc;
    att_auth_t *auth; /* NULL: no --auth-issuer, every route anonymous */
};

static att_svc_opts_t att_opts_from(const att_config_t *cfg)
{
    att_svc_opts_t o = {
        .issuer = cfg->issuer,
        .data_dir = cfg->data_dir,
        .collateral_url = cfg->collateral_url,
        .collateral_dir = cfg->collateral_dir,
        .trust_roots = (const char *const *)cfg->trust_roots,
        .n_trust_roots = cfg->n_trust_roots,
        .have_at = cfg->has_at,
        .at = cfg->at,
        .isolated_signers = cfg->isolated_signers,
        .token_lifetime = (int64_t)cfg->token_lifetime,
        .alg = att_alg_parse(cfg->signing_alg ? cfg->signing_alg : "RS256"),
        .collateral_max_age = (int64_t)cfg->collateral_max_age,
    };
    return o;
}

/* Send a domain reply: JSON on success, MAA error form (with x-ms-error-code) otherwise. */
static void att_send(att_http_req_t *req, att_svc_reply_t *r)
{
    if (r->type != NULL)
        att_http_set_attestation_type(req, r->type);
    if (r->att_code != NULL)
        att_http_log_field(req, "att_code", r->att_code);
    if (r->status >= 400) {
        const char *msg =
            json_string_value(json_object_get(json_object_get(r->body, "error"), "message"));
        att_http_error(req, (unsigned)r->status, r->code ? r->code : "InternalError", "%s",
                       msg ? msg : "error");
        att_svc_reply_clear(r);
        return;
    }
    /* {"token": JWT}: a JWT is base64url and dots, so the body is written as it is instead of
     * through json_dumps, which escapes the 3-4 kB token one character at a time. */
    const char *tok = json_object_size(r->body) == 1
                          ? json_string_value(json_object_get(r->body, "token"))
                          : NULL;
    size_t n = tok ? strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789-_.") : 0;
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

static void h_attest(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    if (!att_auth_require(s->auth, req, ATT_AUTH_ATTEST))
        return;
    att_svc_reply_t r;
    att_slice_t b = att_http_body(req);
    att_svc_attest(s->svc, att_http_param(req, "type"), (const char *)b.ptr, b.len, &r);
    att_send(req, &r);
}

static void h_certs(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    att_svc_reply_t r;
    att_svc_certs(s->svc, &r);
    att_send(req, &r);
}

static void h_openid(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    att_svc_reply_t r;
    att_svc_openid(s->svc, &r);
    att_send(req, &r);
}

static void h_policy_get(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    if (!att_auth_require(s->auth, req, ATT_AUTH_READ))
        return;
    att_svc_reply_t r;
    att_svc_policy_get(s->svc, att_http_param(req, "type"), &r);
    att_send(req, &r);
}

static void h_policy_set(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    if (!att_auth_require(s->auth, req, ATT_AUTH_ADMIN))
        return;
    att_svc_reply_t r;
    att_slice_t b = att_http_body(req);
    att_svc_policy_set(s->svc, att_http_param(req, "type"), (const char *)b.ptr, b.len, &r);
    att_send(req, &r);
}

static void h_policy_reset(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    if (!att_auth_require(s->auth, req, ATT_AUTH_ADMIN))
        return;
    att_svc_reply_t r;
    att_slice_t b = att_http_body(req);
    att_svc_policy_reset(s->svc, att_http_param(req, "type"), (const char *)b.ptr, b.len, &r);
    att_send(req, &r);
}

static void h_certificates(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    if (!att_auth_require(s->auth, req, ATT_AUTH_READ))
        return;
    att_svc_reply_t r;
    att_svc_certificates(s->svc, &r);
    att_send(req, &r);
}

static void h_cert_add(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    if (!att_auth_require(s->auth, req, ATT_AUTH_ADMIN))
        return;
    att_svc_reply_t r;
    att_slice_t b = att_http_body(req);
    att_svc_certificates_change(s->svc, true, (const char *)b.ptr, b.len, &r);
    att_send(req, &r);
}

static void h_cert_remove(att_http_req_t *req, void *arg)
{
    att_service_t *s = arg;
    if (!att_auth_require(s->auth, req, ATT_AUTH_ADMIN))
        return;
    att_svc_reply_t r;
    att_slice_t b = att_http_body(req);
    att_svc_certificates_change(s->svc, false, (const char *)b.ptr, b.len, &r);
    att_send(req, &r);
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
    att_err_t e = att_svc_new(&o, &s->svc, d);
    if (e != ATT_OK) {
        free(s);
        return e;
    }
    e = att_auth_new(cfg, metrics, NULL, NULL, &s->auth, d);
    if (e != ATT_OK) {
        att_svc_free(s->svc);
        free(s);
        return e;
    }
    if (s->auth != NULL)
        att_log(ATT_LOG_INFO, "access tokens: %zu issuer(s), first %s, audience %s; attest %s",
                cfg->n_auth_issuers, cfg->auth_issuers[0], cfg->auth_audience,
                cfg->auth_attest_required ? "requires a token" : "anonymous");
    if (metrics != NULL) {
        static const struct {
            const char *name, *help;
            double (*fn)(void *);
        } g[] = {
            {"attestd_pck_chain_cache_hits_total", "PCK chain cache hits", st_chain_hits},
            {"attestd_pck_chain_cache_misses_total", "PCK chain cache misses", st_chain_misses},
            {"attestd_ecdsa_verifications_total", "ECDSA P-256 signature verifications (quotes, "
                                                  "QE reports, certificates, CRLs, collateral)",
             st_ecdsa},
            {"attestd_collateral_cache_hits_total", "Collateral cache hits", st_coll_hits},
            {"attestd_collateral_cache_misses_total", "Collateral cache misses", st_coll_misses},
            {"attestd_collateral_fetches_total", "Collateral fetches from the PCS source", st_coll_fetches},
            {"attestd_collateral_fetch_errors_total", "Failed collateral fetches", st_coll_fetch_errors},
            {"attestd_collateral_served_stale_total", "Requests served with cached collateral while the "
                                                "source failed", st_coll_stale},
        };
        for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
            att_metrics_counter_fn(metrics, g[i].name, g[i].help, g[i].fn, s);
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
        {"GET", "/certs", ATT_HTTP_API_VERSION_OPTIONAL, h_certs},
        {"GET", "/.well-known/openid-configuration", ATT_HTTP_API_VERSION_OPTIONAL, h_openid},
        {"GET", "/policies/{type}", ATT_HTTP_API_VERSION, h_policy_get},
        {"PUT", "/policies/{type}", ATT_HTTP_API_VERSION, h_policy_set},
        {"POST", "/policies/{type}:reset", ATT_HTTP_API_VERSION, h_policy_reset},
        {"GET", "/certificates", ATT_HTTP_API_VERSION, h_certificates},
        {"POST", "/certificates:add", ATT_HTTP_API_VERSION, h_cert_add},
        {"POST", "/certificates:remove", ATT_HTTP_API_VERSION, h_cert_remove},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        att_err_t e = att_http_route(r, routes[i].method, routes[i].pattern, routes[i].flags,
                                     routes[i].fn, s);
        if (e != ATT_OK)
            return att_diag_set(d, e, "cannot register %s %s", routes[i].method,
                                routes[i].pattern);
    }
    return ATT_OK;
}

bool att_service_ready(att_service_t *s) { return s != NULL && att_svc_ready(s->svc); }

void att_service_free(att_service_t *s)
{
    if (s == NULL)
        return;
    att_svc_free(s->svc);
    att_auth_free(s->auth);
    free(s);
}

int att_service_command(int argc, char **argv, const att_config_t *cfg)
{
    if (argc >= 2 && strcmp(argv[0], "keys") == 0 && strcmp(argv[1], "rotate") == 0) {
        att_svc_opts_t o = att_opts_from(cfg);
        o.collateral_url = NULL; /* keys only: no collateral source needed */
        o.collateral_dir = NULL;
        att_svc_t *svc;
        att_diag_t d;
        char *kid = NULL;
        if (att_svc_new(&o, &svc, &d) != ATT_OK ||
            (att_svc_keys_rotate(svc, &kid, &d) != ATT_OK && (att_svc_free(svc), 1))) {
            fprintf(stderr, "attestd keys rotate: %s\n", d.msg);
            return 1;
        }
        printf("new signing key %s is active; earlier keys stay in /certs for %llu s\n", kid,
               (unsigned long long)(o.token_lifetime > 0 ? o.token_lifetime : 28800));
        free(kid);
        att_svc_free(svc);
        return 0;
    }
    fprintf(stderr, "attestd: unknown command '%s' (commands: keys rotate)\n",
            argc > 0 ? argv[0] : "");
    return 2;
}
