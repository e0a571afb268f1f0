/* auth.c - bearer access tokens on attestd's routes (see auth.h).
 *
 * Choosing the verifier: the token's "iss" is read from the unverified payload and must equal
 * one configured issuer exactly; that issuer's att_rp then verifies the whole token, "iss"
 * included, so the unverified value only ever selects. The alternative, trying every issuer's
 * verifier in turn, costs one signature check per issuer, reports the last verifier's error
 * rather than the relevant one, and lets any token with an unknown kid trigger a JWKS refetch at
 * every issuer. A token naming an unconfigured issuer never causes a network request.
 */
#include "auth.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "attest/token.h"
#include "core/json.h"
#include "token/jws.h"

/* Defaults of the --auth-jwks-* options when cfg leaves them 0 (tests); docs/auth.md. */
#define ATT_AUTH_TIMEOUT_S 5  /* one deadline per key fetch (discovery + JWKS) */
#define ATT_AUTH_REFETCH_S 30 /* at most one key fetch per issuer this often (unknown kid) */
#define ATT_AUTH_BACKOFF_S 60 /* no key fetch this long after a failed one */
#define ATT_AUTH_WAITERS   1  /* requests that may wait for the fetch in flight */
#define ATT_AUTH_SKEW_S    60 /* around exp and nbf */

struct att_auth {
    size_t n;
    char **issuers; /* n, exact "iss" values */
    att_rp_t **rps; /* n verifiers, one per issuer */
    char *audience;
    char *roles_claim;
    char *reader_role, *admin_role;
    bool attest_required;
    att_metric_t *m_failures; /* attestd_auth_failures_total{reason} */
};

void att_auth_free(att_auth_t *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++) {
        att_rp_free(a->rps ? a->rps[i] : NULL);
        free(a->issuers ? a->issuers[i] : NULL);
    }
    free(a->rps);
    free(a->issuers);
    free(a->audience);
    free(a->roles_claim);
    free(a->reader_role);
    free(a->admin_role);
    free(a);
}

att_err_t att_auth_new(const att_config_t *cfg, att_metrics_t *metrics, att_rp_fetch_fn fetch,
                       void *fetch_arg, att_auth_t **out, att_diag_t *d)
{
    *out = NULL;
    if (cfg->n_auth_issuers == 0)
        return ATT_OK;
    if (cfg->auth_audience == NULL || cfg->auth_audience[0] == '\0')
        return att_diag_set(d, ATT_E_ARG, "--auth-issuer needs --auth-audience");
    att_auth_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    a->issuers = calloc(cfg->n_auth_issuers, sizeof *a->issuers);
    a->rps = calloc(cfg->n_auth_issuers, sizeof *a->rps);
    a->n = cfg->n_auth_issuers;
    a->audience = strdup(cfg->auth_audience);
    a->roles_claim = strdup(cfg->auth_roles_claim ? cfg->auth_roles_claim : "roles");
    a->reader_role = strdup(cfg->auth_reader_role ? cfg->auth_reader_role : "attestation.read");
    a->admin_role = strdup(cfg->auth_admin_role ? cfg->auth_admin_role : "attestation.admin");
    a->attest_required = cfg->auth_attest_required;
    if (!a->issuers || !a->rps || !a->audience || !a->roles_claim || !a->reader_role ||
        !a->admin_role) {
        att_auth_free(a);
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < a->n; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->auth_issuers[i], cfg->auth_issuers[j]) == 0) {
                att_auth_free(a);
                return att_diag_set(d, ATT_E_ARG, "--auth-issuer %s is given twice",
                                    cfg->auth_issuers[i]);
            }
        att_rp_opts_t o = {
            .issuer = cfg->auth_issuers[i],
            .audience = a->audience,
            .skew = ATT_AUTH_SKEW_S,
            .timeout_ms =
                1000L * (cfg->auth_jwks_timeout ? cfg->auth_jwks_timeout : ATT_AUTH_TIMEOUT_S),
            .refetch_interval =
                cfg->auth_jwks_refetch ? cfg->auth_jwks_refetch : ATT_AUTH_REFETCH_S,
            .fail_backoff = cfg->auth_jwks_backoff ? cfg->auth_jwks_backoff : ATT_AUTH_BACKOFF_S,
            .max_waiters = cfg->auth_jwks_waiters ? cfg->auth_jwks_waiters : ATT_AUTH_WAITERS,
            .fetch = fetch,
            .fetch_arg = fetch_arg,
        }; /* algs: the default allow-list, RS256, PS256, ES256 */
        att_diag_t rd;
        a->issuers[i] = strdup(cfg->auth_issuers[i]);
        a->rps[i] = att_rp_new(&o, &rd);
        if (a->issuers[i] == NULL || a->rps[i] == NULL) {
            att_err_t e = a->issuers[i] == NULL ? att_diag_set(d, ATT_E_NOMEM, "out of memory")
                                                : att_diag_set(d, rd.code, "--auth-issuer %s: %s",
                                                               cfg->auth_issuers[i], rd.msg);
            att_auth_free(a);
            return e;
        }
    }
    if (metrics != NULL) {
        static const char *const lbl[] = {"reason"};
        a->m_failures =
            att_metrics_counter(metrics, "attestd_auth_failures_total",
                                "Requests refused by access token checks, by reason", 1, lbl);
    }
    *out = a;
    return ATT_OK;
}

/* ---- results ----------------------------------------------------------------------------- */

/* error_description of RFC 6750 section 3: %x20-21 / %x23-5B / %x5D-7E only. */
static void att_auth_challenge_text(char *out, size_t cap, const char *s)
{
    size_t j = 0;
    for (; *s && j + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        out[j++] = c == '"' ? '\'' : c == '\\' ? '/' : (c < 0x20 || c > 0x7e) ? '?' : (char)c;
    }
    out[j] = '\0';
}

__attribute__((format(printf, 6, 7))) static att_err_t
att_auth_refuse(att_auth_result_t *r, unsigned status, const char *reason, att_err_t code,
                const char *error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->status = status;
    r->code = status == 403 ? "Forbidden" : "Unauthorized";
    r->reason = reason;
    r->att_code = code;
    if (error == NULL) {
        snprintf(r->challenge, sizeof r->challenge, "Bearer realm=\"attestd\"");
    } else {
        char desc[320];
        att_auth_challenge_text(desc, sizeof desc, r->message);
        snprintf(r->challenge, sizeof r->challenge,
                 "Bearer realm=\"attestd\", error=\"%s\", error_description=\"%s\"", error, desc);
    }
    return code == ATT_OK ? ATT_E_ARG : code;
}

/* ---- roles ------------------------------------------------------------------------------- */

/* The roles claim: a top-level claim of exactly that name (names may hold dots, as in
 * "https://example.com/roles"), else the dotted path through objects. */
static json_t *att_auth_roles(json_t *claims, const char *name)
{
    json_t *v = json_object_get(claims, name);
    if (v != NULL || strchr(name, '.') == NULL)
        return v;
    v = claims;
    for (const char *p = name; v != NULL && *p;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(v) || n == 0)
            return NULL;
        v = json_object_getn(v, p, n);
        p += n + (dot != NULL);
    }
    return v;
}

/* A string holds space-separated roles (so "scope" works too); an array holds strings. */
static bool att_auth_has_role(json_t *roles, const char *role)
{
    size_t rl = strlen(role);
    if (json_is_string(roles)) {
        const char *s = json_string_value(roles);
        while (*s) {
            while (*s == ' ')
                s++;
            size_t n = strcspn(s, " ");
            if (n == rl && n > 0 && memcmp(s, role, n) == 0)
                return true;
            s += n;
        }
        return false;
    }
    size_t i;
    json_t *e;
    json_array_foreach(roles, i, e) if (json_is_string(e) && json_string_length(e) == rl &&
                                        memcmp(json_string_value(e), role, rl) == 0) return true;
    return false;
}

/* ---- the check --------------------------------------------------------------------------- */

/* The "iss" of the unverified payload, or NULL with why[] saying what is wrong. Used to select
 * a verifier, never trusted. Integers beyond 64 bits are read as reals here, so that such a
 * claim (an exp of 2^63) reaches the verifier, which names it, instead of hiding the iss. A
 * token that is not three segments is refused here, before any issuer is chosen. */
static char *att_auth_unverified_iss(const char *tok, size_t len, char *why, size_t cap)
{
    att_jws_parts_t seg;
    size_t nseg = 0;
    if (!att_jws_split(tok, len, &seg, &nseg)) {
        if (nseg < 3)
            snprintf(why, cap, "not a compact JWS (three '.'-separated segments)");
        else /* the words att_rp_verify uses for it */
            snprintf(why, cap, "token has %zu '.'-separated segments, not 3 (compact JWS)", nseg);
        return NULL;
    }
    uint8_t *p = NULL;
    size_t pn = 0;
    if (seg.payload_len == 0 || !att_b64_decode(seg.payload, seg.payload_len, false, &p, &pn)) {
        snprintf(why, cap, "the payload segment is not base64url");
        return NULL;
    }
    json_t *claims = att_json_loadb((const char *)p, pn, JSON_REJECT_DUPLICATES, NULL);
    json_error_t je = {.text = ""};
    if (claims == NULL)
        claims =
            json_loadb((const char *)p, pn, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &je);
    free(p);
    json_t *jiss = json_object_get(claims, "iss");
    const char *iss = json_string_value(jiss);
    char *out = iss ? strdup(iss) : NULL;
    if (claims == NULL)
        snprintf(why, cap, "the payload is not JSON: %.200s", je.text);
    else if (!json_is_object(claims))
        snprintf(why, cap, "the payload is not a JSON object");
    else if (iss == NULL)
        snprintf(why, cap, "the payload has no string \"iss\" (%s)",
                 jiss ? "it is not a string" : "it is absent");
    else if (out == NULL)
        snprintf(why, cap, "out of memory");
    json_decref(claims);
    return out;
}

static const char *att_auth_reason(const att_rp_result_t *v)
{
    const char *c = v->check ? v->check : "";
    if (!strcmp(c, "format"))
        return "malformed";
    if (!strcmp(c, "alg") || !strcmp(c, "jwks") || !strcmp(c, "kid") || !strcmp(c, "signature"))
        return c;
    if (!strcmp(c, "iss"))
        return "issuer";
    if (!strcmp(c, "aud"))
        return "audience";
    if (v->diag.code == ATT_E_TOKEN_EXPIRED)
        return "expired";
    if (v->diag.code == ATT_E_TOKEN_NOT_YET_VALID)
        return "not_yet_valid";
    return "claims";
}

static const char *att_auth_what(att_auth_need_t need)
{
    return need == ATT_AUTH_ADMIN  ? "change policies and policy certificates"
           : need == ATT_AUTH_READ ? "read policies and policy certificates"
                                   : "attest";
}

att_err_t att_auth_check_header(att_auth_t *a, const char *hdr, att_auth_need_t need,
                                att_time_t now, att_auth_result_t *r)
{
    memset(r, 0, sizeof *r);
    if (a == NULL || (need == ATT_AUTH_ATTEST && !a->attest_required))
        return ATT_OK;
    const char *what = att_auth_what(need);
    if (hdr == NULL || hdr[strspn(hdr, " \t")] == '\0')
        return att_auth_refuse(r, 401, "missing", ATT_E_ARG, NULL,
                               "an access token is required to %s: send Authorization: Bearer "
                               "<token> from a configured issuer",
                               what);
    hdr += strspn(hdr, " \t");
    size_t sl = strcspn(hdr, " \t");
    if (sl != 6 || strncasecmp(hdr, "Bearer", 6) != 0) {
        /* echo a short scheme name, never what may be a credential */
        bool name = sl <= 16 && strspn(hdr, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                            "0123456789-") == sl;
        return att_auth_refuse(r, 401, "scheme", ATT_E_ARG, "invalid_token",
                               "the Authorization header %s%.*s%s; an access token is sent as "
                               "\"Bearer <token>\"",
                               name ? "uses the \"" : "has no scheme", name ? (int)sl : 0, hdr,
                               name ? "\" scheme" : "");
    }
    const char *tok = hdr + sl;
    tok += strspn(tok, " \t");
    size_t len = strlen(tok);
    while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
        len--;
    if (len == 0)
        return att_auth_refuse(r, 401, "malformed", ATT_E_JWS_FORMAT, "invalid_token",
                               "access token rejected (malformed): the Bearer token is empty");

    char why[300];
    char *iss = att_auth_unverified_iss(tok, len, why, sizeof why);
    if (iss == NULL)
        return att_auth_refuse(r, 401, "malformed", ATT_E_JWS_FORMAT, "invalid_token",
                               "access token rejected (malformed): %s", why);
    size_t k = 0;
    while (k < a->n && strcmp(a->issuers[k], iss) != 0)
        k++;
    if (k == a->n) {
        att_err_t e = att_auth_refuse(r, 401, "issuer", ATT_E_TOKEN_CLAIM, "invalid_token",
                                      "access token rejected (issuer): iss \"%.200s\" is not a "
                                      "configured issuer (%s%s)",
                                      iss, a->issuers[0], a->n > 1 ? ", ..." : "");
        free(iss);
        return e;
    }
    free(iss);

    att_rp_result_t v;
    att_err_t e = att_rp_verify(a->rps[k], tok, len, NULL, now, &v);
    if (e != ATT_OK) {
        const char *reason = att_auth_reason(&v);
        att_auth_refuse(r, 401, reason, e, "invalid_token", "access token rejected (%s): %s",
                        reason, v.diag.msg);
        att_rp_result_clear(&v);
        return e;
    }
    const char *sub = json_string_value(json_object_get(v.claims, "sub"));
    if (sub != NULL && strlen(sub) < sizeof r->sub) /* whole or not at all: keep UTF-8 whole */
        memcpy(r->sub, sub, strlen(sub) + 1);
    if (need == ATT_AUTH_ATTEST) {
        att_rp_result_clear(&v);
        return ATT_OK;
    }
    json_t *roles = att_auth_roles(v.claims, a->roles_claim);
    bool ok = att_auth_has_role(roles, a->admin_role) ||
              (need == ATT_AUTH_READ && att_auth_has_role(roles, a->reader_role));
    if (!ok) {
        const char *role = need == ATT_AUTH_ADMIN ? a->admin_role : a->reader_role;
        char *has = roles ? json_dumps(roles, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        e = att_auth_refuse(r, 403, "role", ATT_E_TOKEN_CLAIM, "insufficient_scope",
                            "the access token lacks the role \"%.100s\" required to %s (claim "
                            "\"%.100s\" %s%.200s)",
                            role, what, a->roles_claim, has ? "is " : "is absent", has ? has : "");
        free(has);
        att_rp_result_clear(&v);
        return e;
    }
    att_rp_result_clear(&v);
    return ATT_OK;
}

att_err_t att_auth_check(att_auth_t *a, const att_http_req_t *req, att_auth_need_t need,
                         att_auth_result_t *r)
{
    /* access tokens are not evidence: the wall clock, never --at */
    return att_auth_check_header(a, att_http_header(req, "authorization"), need,
                                 (att_time_t)time(NULL), r);
}

bool att_auth_require_r(att_auth_t *a, att_http_req_t *req, att_auth_need_t need,
                        att_auth_result_t *r)
{
    if (att_auth_check(a, req, need, r) == ATT_OK) {
        if (r->sub[0])
            att_http_log_field(req, "auth_sub", r->sub);
        return true;
    }
    att_metric_inc(a->m_failures, r->reason);
    att_http_log_field(req, "auth_reason", r->reason);
    att_http_add_header(req, "WWW-Authenticate", r->challenge);
    att_http_error(req, r->status, r->code, "%s", r->message);
    return false;
}

bool att_auth_require(att_auth_t *a, att_http_req_t *req, att_auth_need_t need)
{
    att_auth_result_t r;
    return att_auth_require_r(a, req, need, &r);
}
