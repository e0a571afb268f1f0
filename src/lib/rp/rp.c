/* rp.c - att_rp_verify: an attestation token checked against the issuer's JWKS.
 *
 * The hot path parses the header, picks the key by kid from the current JWKS snapshot (a
 * reference taken under the lock), checks the signature with the key's prepared template
 * (att_token_sig_ok, the same check att_jws_verify makes), and only then decodes and reads the
 * claims. Nothing is built from a JWK per call. The header's jku/x5u/jwk/x5c are never read.
 * Rules and their order: include/attest/rp.h and docs/relying-party.md.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp/rp_int.h"
#include "token/jws.h"

/* ---- construction ---------------------------------------------------------------------- */

static char *att_rp_strdup_opt(const char *s, bool *fail)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *fail = true;
    return d;
}

att_rp_t *att_rp_new(const att_rp_opts_t *o, att_diag_t *diag)
{
    if (o == NULL || o->issuer == NULL || o->issuer[0] == '\0') {
        att_diag_set(diag, ATT_E_ARG, "att_rp_new: an issuer URL is required");
        return NULL;
    }
    if (o->jwks_uri == NULL && o->fetch == NULL && att_rp_origin_len(o->issuer) == 0) {
        att_diag_set(diag, ATT_E_ARG, "att_rp_new: issuer \"%.200s\" is not an http(s) URL",
                     o->issuer);
        return NULL;
    }
    if (o->n_algs > 0 && o->algs == NULL) {
        att_diag_set(diag, ATT_E_ARG, "att_rp_new: n_algs without algs");
        return NULL;
    }
    if (o->skew < ATT_RP_SKEW_NONE || o->refetch_interval < 0 || o->max_age < 0 ||
        o->timeout_ms < 0 || o->fail_backoff < 0) {
        att_diag_set(diag, ATT_E_ARG, "att_rp_new: negative skew, interval, age or timeout");
        return NULL;
    }
    att_rp_t *rp = calloc(1, sizeof *rp);
    if (rp == NULL) {
        att_diag_set(diag, ATT_E_NOMEM, "att_rp_new: out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&rp->lock, NULL) != 0) {
        free(rp);
        att_diag_set(diag, ATT_E_INTERNAL, "att_rp_new: cannot create a mutex");
        return NULL;
    }
    pthread_condattr_t ca;
    bool cond_ok = pthread_condattr_init(&ca) == 0;
    cond_ok = cond_ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
              pthread_cond_init(&rp->done, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cond_ok) {
        pthread_mutex_destroy(&rp->lock);
        free(rp);
        att_diag_set(diag, ATT_E_INTERNAL, "att_rp_new: cannot create a condition variable");
        return NULL;
    }
    atomic_init(&rp->closing, false);
    bool fail = false;
    rp->issuer = att_rp_strdup_opt(o->issuer, &fail);
    rp->issuer_len = strlen(o->issuer);
    rp->audience = att_rp_strdup_opt(o->audience, &fail);
    rp->jwks_uri_cfg = att_rp_strdup_opt(o->jwks_uri, &fail);
    if (fail) {
        att_rp_free(rp);
        att_diag_set(diag, ATT_E_NOMEM, "att_rp_new: out of memory");
        return NULL;
    }
    rp->allow_foreign_jwks = o->allow_foreign_jwks;
    for (size_t i = 0; i < o->n_algs; i++) {
        if (o->algs[i] <= ATT_ALG_NONE || o->algs[i] > ATT_ALG_ES256) {
            att_rp_free(rp);
            att_diag_set(diag, ATT_E_ARG, "att_rp_new: algs[%zu] is not RS256, PS256 or ES256", i);
            return NULL;
        }
        rp->alg_ok[o->algs[i]] = true;
    }
    if (o->n_algs == 0)
        rp->alg_ok[ATT_ALG_RS256] = rp->alg_ok[ATT_ALG_PS256] = rp->alg_ok[ATT_ALG_ES256] = true;
    rp->skew = o->skew == 0 ? 60 : o->skew == ATT_RP_SKEW_NONE ? 0 : o->skew;
    rp->timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
    rp->refetch_interval = o->refetch_interval ? o->refetch_interval : 30;
    rp->fail_backoff = o->fail_backoff ? o->fail_backoff : 60;
    rp->max_age = o->max_age ? o->max_age : 3600;
    rp->max_waiters = o->max_waiters ? o->max_waiters : 4;
    rp->fetch = o->fetch;
    rp->fetch_arg = o->fetch_arg;
    att_diag_clear(diag);
    return rp;
}

void att_rp_free(att_rp_t *rp)
{
    if (rp == NULL)
        return;
    /* a fetch in flight is aborted (libcurl) or, through a caller's hook, waited for */
    atomic_store(&rp->closing, true);
    pthread_mutex_lock(&rp->lock);
    bool join = rp->thread_live;
    rp->thread_live = false;
    pthread_mutex_unlock(&rp->lock);
    if (join)
        pthread_join(rp->thread, NULL);
    att_rp_jwks_release(rp->snap);
    pthread_mutex_destroy(&rp->lock);
    pthread_cond_destroy(&rp->done);
    free(rp->jwks_uri_found);
    free(rp->issuer);
    free(rp->audience);
    free(rp->jwks_uri_cfg);
    free(rp);
}

/* ---- the key snapshot -------------------------------------------------------------------- */

static att_rp_jwks_t *att_rp_acquire(att_rp_t *rp, uint64_t *gen)
{
    pthread_mutex_lock(&rp->lock);
    att_rp_jwks_t *s = rp->snap;
    if (s != NULL)
        atomic_fetch_add(&s->refs, 1);
    *gen = rp->gen;
    pthread_mutex_unlock(&rp->lock);
    return s;
}

/* Swap in s; the caller holds rp->lock. Returns the old snapshot, to release unlocked. */
static att_rp_jwks_t *att_rp_install_locked(att_rp_t *rp, att_rp_jwks_t *s)
{
    att_rp_jwks_t *old = rp->snap;
    rp->snap = s;
    rp->gen++;
    rp->last_ok = true;
    rp->last_error[0] = '\0';
    return old;
}

size_t att_rp_key_count(att_rp_t *rp)
{
    if (rp == NULL)
        return 0;
    uint64_t gen;
    att_rp_jwks_t *s = att_rp_acquire(rp, &gen);
    size_t n = s ? s->n : 0;
    att_rp_jwks_release(s);
    return n;
}

/* ---- the single flight ----------------------------------------------------------------------
 *
 * One fetch at a time per verifier, on a thread of its own, so that no request ever does a
 * fetch itself: a request that needs the result (no keys yet, or an unknown kid) waits on
 * rp->done until the fetch ends or its deadline passes, and at most max_waiters requests wait;
 * a request whose kid is known only ever starts a refresh (stale keys) and goes on. Whether a
 * new fetch may start is decided on the callers' `now`: not within refetch_interval of the last
 * start after a success, nor within fail_backoff after a failure (on either side: threads may
 * pass times a second apart, and a clock set back must not lift the limit). */

static void att_rp_deadline(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *att_rp_fetch_main(void *arg)
{
    att_rp_t *rp = arg;
    pthread_mutex_lock(&rp->lock);
    att_time_t now = rp->fetch_now;
    pthread_mutex_unlock(&rp->lock);
    att_rp_jwks_t *s = NULL, *old = NULL;
    att_diag_t d = {0};
    att_err_t e = att_rp_fetch_keys(rp, now, &s, &d);
    pthread_mutex_lock(&rp->lock);
    if (e == ATT_OK) {
        old = att_rp_install_locked(rp, s);
    } else {
        rp->last_ok = false;
        snprintf(rp->last_error, sizeof rp->last_error, "%.250s", d.msg);
    }
    rp->fetching = false;
    rp->done_seq = rp->fetch_seq;
    pthread_cond_broadcast(&rp->done);
    pthread_mutex_unlock(&rp->lock);
    att_rp_jwks_release(old);
    return NULL;
}

/* Seconds before a new fetch may start at `now`, 0 if it may; rp->lock held. */
static int64_t att_rp_wait_s(const att_rp_t *rp, att_time_t now)
{
    if (!rp->attempted)
        return 0;
    int64_t iv = rp->last_ok ? rp->refetch_interval : rp->fail_backoff;
    if (now - rp->last_attempt >= iv || rp->last_attempt - now >= iv)
        return 0;
    return now >= rp->last_attempt ? iv - (now - rp->last_attempt) : iv;
}

/* Start a fetch at `now` on its own thread; rp->lock held, no fetch in flight. */
static att_err_t att_rp_start_locked(att_rp_t *rp, att_time_t now, att_diag_t *diag)
{
    if (rp->thread_live) { /* the previous fetch has ended; its thread is done or returning */
        pthread_join(rp->thread, NULL);
        rp->thread_live = false;
    }
    rp->attempted = true;
    rp->last_attempt = now;
    rp->fetch_now = now;
    rp->fetching = true;
    rp->fetch_seq++;
    rp->fetches++;
    att_rp_deadline(&rp->fetch_deadline, rp->timeout_ms);
    if (pthread_create(&rp->thread, NULL, att_rp_fetch_main, rp) != 0) {
        rp->fetching = false;
        rp->done_seq = rp->fetch_seq;
        rp->last_ok = false;
        snprintf(rp->last_error, sizeof rp->last_error, "cannot start a thread for the fetch");
        return att_diag_set(diag, ATT_E_JWKS, "no key fetch for issuer %.200s: %s", rp->issuer,
                            rp->last_error);
    }
    rp->thread_live = true;
    return ATT_OK;
}

/* A refresh of stale keys: started when allowed, never waited for. */
static void att_rp_kick(att_rp_t *rp, att_time_t now)
{
    pthread_mutex_lock(&rp->lock);
    if (!rp->fetching && att_rp_wait_s(rp, now) == 0)
        (void)att_rp_start_locked(rp, now, NULL);
    pthread_mutex_unlock(&rp->lock);
}

/* Wait for fetch number `seq` to end, until the deadline (plus a second for the thread to hand
 * over its result); rp->lock held. */
static void att_rp_wait_locked(att_rp_t *rp, uint64_t seq)
{
    struct timespec until = rp->fetch_deadline;
    until.tv_sec += 1;
    while (rp->done_seq < seq)
        if (pthread_cond_timedwait(&rp->done, &rp->lock, &until) == ETIMEDOUT)
            break;
}

/* A request needs keys newer than generation `seen` (none yet, or an unknown kid): ATT_OK when
 * there are (look again), else ATT_E_JWKS saying why not - in flight and waited for, in flight
 * with max_waiters waiting already, rate-limited (with the last failure), failed. `force`
 * (att_rp_refresh) ignores the rate limit and the waiter bound. */
static att_err_t att_rp_need_keys(att_rp_t *rp, att_time_t now, uint64_t seen, bool force,
                                  att_diag_t *diag)
{
    att_err_t e = ATT_OK;
    pthread_mutex_lock(&rp->lock);
    if (force && rp->fetching) /* a refresh asks for a fetch started now: wait for this one */
        att_rp_wait_locked(rp, rp->fetch_seq);
    if (!force && rp->gen != seen)
        goto out;
    if (!rp->fetching) {
        int64_t w = force ? 0 : att_rp_wait_s(rp, now);
        if (w > 0) {
            e = att_diag_set(diag, ATT_E_JWKS,
                             "no key fetch for another %lld s (%s %lld s: %s)%s%s", (long long)w,
                             rp->last_ok ? "refetch interval" : "backoff after a failed fetch",
                             (long long)(rp->last_ok ? rp->refetch_interval : rp->fail_backoff),
                             rp->last_ok ? "the JWKS was fetched" : "the last fetch failed",
                             rp->last_error[0] ? ": " : "", rp->last_error);
            goto out;
        }
        if ((e = att_rp_start_locked(rp, now, diag)) != ATT_OK)
            goto out;
    } else if (!force && rp->waiters >= rp->max_waiters) {
        e = att_diag_set(diag, ATT_E_JWKS,
                         "the issuer's keys are being fetched and %u request(s) already wait for "
                         "them (at most %u)",
                         rp->waiters, rp->max_waiters);
        goto out;
    }
    uint64_t seq = rp->fetch_seq;
    rp->waiters++;
    att_rp_wait_locked(rp, seq);
    rp->waiters--;
    if (rp->done_seq < seq)
        e = att_diag_set(diag, ATT_E_JWKS, "the key fetch did not end within %ld ms",
                         rp->timeout_ms);
    else if (rp->gen == seen && !force)
        e = att_diag_set(diag, ATT_E_JWKS, "%s",
                         rp->last_error[0] ? rp->last_error : "the key fetch failed");
    else if (force && !rp->last_ok)
        e = att_diag_set(diag, ATT_E_JWKS, "%s", rp->last_error);
out:
    pthread_mutex_unlock(&rp->lock);
    return e;
}

void att_rp_wait_idle(att_rp_t *rp)
{
    pthread_mutex_lock(&rp->lock);
    while (rp->fetching)
        pthread_cond_wait(&rp->done, &rp->lock);
    pthread_mutex_unlock(&rp->lock);
}

uint64_t att_rp_fetch_count(att_rp_t *rp)
{
    pthread_mutex_lock(&rp->lock);
    uint64_t n = rp->fetches;
    pthread_mutex_unlock(&rp->lock);
    return n;
}

att_err_t att_rp_refresh(att_rp_t *rp, att_time_t now, att_diag_t *diag)
{
    if (rp == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_rp_refresh: rp is NULL");
    att_err_t e = att_rp_need_keys(rp, now, 0, true, diag);
    if (e == ATT_OK)
        att_diag_clear(diag);
    return e;
}

att_err_t att_rp_load_jwks(att_rp_t *rp, const char *json, size_t len, att_time_t now,
                           att_diag_t *diag)
{
    if (rp == NULL || (json == NULL && len > 0))
        return att_diag_set(diag, ATT_E_ARG, "att_rp_load_jwks: rp or json is NULL");
    att_rp_jwks_t *s = NULL;
    att_err_t e = att_rp_jwks_build(rp, json, len, now, &s, diag);
    if (e != ATT_OK)
        return e;
    pthread_mutex_lock(&rp->lock);
    rp->attempted = true;
    rp->last_attempt = now;
    att_rp_jwks_t *old = att_rp_install_locked(rp, s);
    pthread_mutex_unlock(&rp->lock);
    att_rp_jwks_release(old);
    att_diag_clear(diag);
    return ATT_OK;
}

/* ---- expectations ---------------------------------------------------------------------- */

att_err_t att_rp_expect_parse(const char *spec, att_rp_expect_t *out, att_diag_t *diag)
{
    if (out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_rp_expect_parse: out is NULL");
    memset(out, 0, sizeof *out);
    const char *eq = spec ? strchr(spec, '=') : NULL;
    if (eq == NULL || eq == spec)
        return att_diag_set(diag, ATT_E_ARG, "expected claim \"%.100s\" is not NAME=VALUE",
                            spec ? spec : "(null)");
    const char *v = eq + 1;
    json_t *val = json_loads(v, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (val == NULL)
        val = json_string(v);
    char *name = strndup(spec, (size_t)(eq - spec));
    if (val == NULL || name == NULL) {
        json_decref(val);
        free(name);
        return att_diag_set(diag, ATT_E_ARG, "expected claim \"%.100s\": value is not UTF-8", spec);
    }
    out->name = name;
    out->value = val;
    att_diag_clear(diag);
    return ATT_OK;
}

void att_rp_expect_clear(att_rp_expect_t *e)
{
    if (e == NULL)
        return;
    free((char *)e->name);
    json_decref(e->value);
    memset(e, 0, sizeof *e);
}

/* ---- verification ---------------------------------------------------------------------- */

void att_rp_result_clear(att_rp_result_t *r)
{
    if (r == NULL)
        return;
    json_decref(r->header);
    json_decref(r->claims);
    memset(r, 0, sizeof *r);
}

/* Record the failed check and return its code. */
__attribute__((format(printf, 4, 5))) static att_err_t
att_rp_fail(att_rp_result_t *r, const char *check, att_err_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->diag.code = code;
    vsnprintf(r->diag.msg, sizeof r->diag.msg, fmt, ap);
    va_end(ap);
    r->check = check;
    return code;
}

static char *att_rp_json_short(json_t *v, char *buf, size_t cap)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf, cap, "%s", s ? s : "?");
    if (s != NULL && strlen(s) >= cap && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
    free(s);
    return buf;
}

/* A NumericDate (RFC 7519 section 2) we accept: a number of seconds from 0 to the end of
 * year 9999, integer or not. */
#define ATT_RP_NUMERICDATE_MAX 253402300799.0

/* exp / nbf / iat as seconds; false if present but not a NumericDate within range. */
static bool att_rp_time_claim(json_t *claims, const char *name, bool *present, double *t)
{
    json_t *v = json_object_get(claims, name);
    *present = v != NULL;
    if (v == NULL)
        return true;
    if (!json_is_number(v))
        return false;
    *t = json_number_value(v);
    return *t >= 0 && *t <= ATT_RP_NUMERICDATE_MAX;
}

/* The failure of a NumericDate claim that is present but not one. */
static att_err_t att_rp_bad_time(att_rp_result_t *r, const char *name, json_t *claims)
{
    char v[64];
    return att_rp_fail(r, name, ATT_E_TOKEN_CLAIM,
                       "%s %s is not an integer NumericDate within range (a number of seconds "
                       "from 0 to 253402300799, the end of year 9999)",
                       name, att_rp_json_short(json_object_get(claims, name), v, sizeof v));
}

/* The claims did not parse: say why. jansson refuses integers beyond 64 bits, so a payload that
 * parses with integers read as reals names the claim that holds one. */
static att_err_t att_rp_claims_unreadable(att_rp_result_t *r, const uint8_t *p, size_t n)
{
    json_error_t je;
    json_t *v =
        json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, NULL);
    if (json_is_object(v)) {
        const char *name;
        json_t *m;
        json_object_foreach(v, name, m)
        {
            if (!json_is_real(m) || fabs(json_real_value(m)) < 9223372036854775807.0)
                continue;
            att_err_t e;
            /* r->check must outlive v: the check's name is a literal, never the key */
            const char *check = !strcmp(name, "exp")   ? "exp"
                                : !strcmp(name, "nbf") ? "nbf"
                                : !strcmp(name, "iat") ? "iat"
                                                       : NULL;
            if (check != NULL)
                e = att_rp_fail(r, check, ATT_E_TOKEN_CLAIM,
                                "%s %g is not an integer NumericDate within range (a number of "
                                "seconds from 0 to 253402300799, the end of year 9999)",
                                name, json_real_value(m));
            else
                e = att_rp_fail(r, "format", ATT_E_JWS_FORMAT,
                                "claim \"%.100s\" is an integer beyond 64 bits", name);
            json_decref(v);
            return e;
        }
        json_decref(v);
        return att_rp_fail(r, "format", ATT_E_JWS_FORMAT,
                           "payload holds an integer beyond 64 bits inside a claim");
    }
    json_decref(v);
    v = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &je);
    bool obj = v == NULL || json_is_object(v);
    json_decref(v);
    return att_rp_fail(r, "format", ATT_E_JWS_FORMAT, "payload is not a JSON object of claims: %s",
                       obj ? je.text : "a JSON value of another type");
}

static const char *att_rp_time_str(double t, char buf[ATT_TIME_STRLEN])
{
    if (t > -1e11 && t < 1e11)
        return att_time_format((att_time_t)t, buf);
    snprintf(buf, ATT_TIME_STRLEN, "%g", t);
    return buf;
}

static att_err_t att_rp_check_claims(const att_rp_t *rp, const att_rp_check_t *c, att_time_t now,
                                     att_rp_result_t *r)
{
    json_t *claims = r->claims;
    char b1[ATT_TIME_STRLEN], b2[ATT_TIME_STRLEN], v1[160], v2[160];

    json_t *iss = json_object_get(claims, "iss");
    if (!json_is_string(iss) || json_string_length(iss) != rp->issuer_len ||
        memcmp(json_string_value(iss), rp->issuer, rp->issuer_len) != 0)
        return att_rp_fail(r, "iss", ATT_E_TOKEN_CLAIM, "iss %s is not the issuer \"%.200s\"",
                           iss ? att_rp_json_short(iss, v1, sizeof v1) : "is absent and",
                           rp->issuer);

    if (rp->audience != NULL) {
        json_t *aud = json_object_get(claims, "aud");
        bool ok = json_is_string(aud) && strcmp(json_string_value(aud), rp->audience) == 0;
        size_t i;
        json_t *a;
        if (json_is_array(aud))
            json_array_foreach(aud, i, a) ok =
                ok || (json_is_string(a) && strcmp(json_string_value(a), rp->audience) == 0);
        if (!ok)
            return att_rp_fail(
                r, "aud", ATT_E_TOKEN_CLAIM, "aud %s does not contain the audience \"%.200s\"",
                aud ? att_rp_json_short(aud, v1, sizeof v1) : "(absent)", rp->audience);
    }

    bool has_exp, has_nbf, has_iat;
    double exp = 0, nbf = 0, iat = 0;
    if (!att_rp_time_claim(claims, "exp", &has_exp, &exp))
        return att_rp_bad_time(r, "exp", claims);
    if (!has_exp)
        return att_rp_fail(r, "exp", ATT_E_TOKEN_CLAIM, "exp is absent (tokens must expire)");
    if (!att_rp_time_claim(claims, "nbf", &has_nbf, &nbf))
        return att_rp_bad_time(r, "nbf", claims);
    if (!att_rp_time_claim(claims, "iat", &has_iat, &iat))
        return att_rp_bad_time(r, "iat", claims);
    if ((double)now >= exp + (double)rp->skew)
        return att_rp_fail(r, "exp", ATT_E_TOKEN_EXPIRED,
                           "exp %s is not after now %s (clock skew %lld s)",
                           att_rp_time_str(exp, b1), att_time_format(now, b2), (long long)rp->skew);
    if (has_nbf && (double)now + (double)rp->skew < nbf)
        return att_rp_fail(r, "nbf", ATT_E_TOKEN_NOT_YET_VALID,
                           "nbf %s is after now %s (clock skew %lld s)", att_rp_time_str(nbf, b1),
                           att_time_format(now, b2), (long long)rp->skew);

    if (c == NULL)
        return ATT_OK;
    if (c->nonce != NULL) {
        json_t *n = json_object_get(claims, "nonce");
        if (!json_is_string(n) || strcmp(json_string_value(n), c->nonce) != 0)
            return att_rp_fail(r, "nonce", ATT_E_TOKEN_CLAIM,
                               "nonce %s is not the expected \"%.150s\"",
                               n ? att_rp_json_short(n, v1, sizeof v1) : "(absent)", c->nonce);
    }
    for (size_t i = 0; i < c->n_expect; i++) {
        const att_rp_expect_t *e = &c->expect[i];
        if (e->name == NULL || e->value == NULL)
            return att_rp_fail(r, "claim", ATT_E_ARG, "expect[%zu] has no name or value", i);
        json_t *v = json_object_get(claims, e->name);
        if (v == NULL || !json_equal(v, e->value))
            return att_rp_fail(r, "claim", ATT_E_TOKEN_CLAIM, "claim %.100s is %s, expected %s",
                               e->name, v ? att_rp_json_short(v, v1, sizeof v1) : "absent",
                               att_rp_json_short(e->value, v2, sizeof v2));
    }
    return ATT_OK;
}

static bool att_rp_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Keys of s named kid that can verify alg: tries each; *found counts keys named kid. */
static const att_rp_key_t *att_rp_try_keys(const att_rp_jwks_t *s, const char *kid, size_t kid_len,
                                           att_alg_t alg, const char *input, size_t ilen,
                                           const uint8_t *sig, size_t slen, size_t *found,
                                           const att_rp_key_t **named)
{
    *found = 0;
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        const att_rp_key_t *k = &s->keys[i];
        if (k->kid_len != kid_len || memcmp(k->kid, kid, kid_len) != 0)
            continue;
        (*found)++;
        *named = k;
        if (k->tmpl[alg] == NULL)
            continue;
        if (att_token_sig_ok(k->pkey, k->tmpl[alg], alg, input, ilen, sig, slen))
            return k;
    }
    return NULL;
}

/* The checks, with the payload segment decoded into pbuf (the caller owns it) as soon as its
 * base64url is known to be well-formed. */
static att_err_t att_rp_verify_in(att_rp_t *rp, const char *token, size_t len,
                                  const att_rp_check_t *c, att_time_t now, att_rp_result_t *r,
                                  uint8_t *pbuf, size_t pcap)
{
    /* b64(header) "." b64(payload) "." b64(signature) */
    att_jws_parts_t seg;
    size_t nseg = 0;
    if (!att_jws_split(token, len, &seg, &nseg))
        return att_rp_fail(r, "format", ATT_E_JWS_FORMAT,
                           "token has %zu '.'-separated segments, not 3 (compact JWS)", nseg);

    /* header */
    uint8_t hbuf[ATT_RP_HEADER_MAX];
    size_t hn = 0;
    if (seg.header_len == 0 ||
        !att_b64_decode_to(seg.header, seg.header_len, false, hbuf, sizeof hbuf, &hn))
        return att_rp_fail(r, "format", ATT_E_JWS_FORMAT,
                           seg.header_len > ATT_RP_HEADER_MAX * 4 / 3
                               ? "header segment is longer than %d bytes decoded"
                               : "header segment is not unpadded base64url (limit %d bytes)",
                           ATT_RP_HEADER_MAX);
    r->header = att_rp_json_object((const char *)hbuf, hn);
    if (r->header == NULL)
        return att_rp_fail(r, "format", ATT_E_JWS_FORMAT,
                           "header is not a JSON object (or has duplicate members)");
    json_t *jalg = json_object_get(r->header, "alg");
    const char *algname = json_string_value(jalg);
    if (algname == NULL)
        return att_rp_fail(r, "format", ATT_E_JWS_FORMAT, "header has no string \"alg\"");
    if (json_object_get(r->header, "crit") != NULL)
        return att_rp_fail(r, "format", ATT_E_JWS_FORMAT,
                           "header has \"crit\" extensions, none of which are supported");
    if (strcmp(algname, "none") == 0)
        return att_rp_fail(r, "alg", ATT_E_JWS_UNSIGNED,
                           "alg \"none\": the token is unsigned; a signature is required");
    att_alg_t alg = att_alg_parse(algname);
    if (alg == ATT_ALG_NONE || !rp->alg_ok[alg]) {
        char allowed[32] = "";
        for (int a = ATT_ALG_RS256; a <= ATT_ALG_ES256; a++)
            if (rp->alg_ok[a])
                snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s",
                         allowed[0] ? ", " : "", att_alg_name((att_alg_t)a));
        return att_rp_fail(r, "alg", ATT_E_JWS_ALG, "alg \"%.64s\" is not allowed (allowed: %s)",
                           algname, allowed);
    }
    r->alg = alg;
    json_t *jkid = json_object_get(r->header, "kid");
    if (!json_is_string(jkid))
        return att_rp_fail(r, "kid", ATT_E_JWS_KID,
                           "header has no string \"kid\" (keys are chosen by kid from the "
                           "issuer's JWKS only)");
    const char *kid = json_string_value(jkid);
    size_t kid_len = json_string_length(jkid);

    uint8_t sig[ATT_RP_SIG_MAX];
    size_t slen = 0;
    if (!att_b64_decode_to(seg.sig, seg.sig_len, false, sig, sizeof sig, &slen))
        return att_rp_fail(r, "format", ATT_E_JWS_FORMAT,
                           "signature segment is not unpadded base64url (limit %d bytes)",
                           ATT_RP_SIG_MAX);
    size_t pn = 0;
    if (!att_b64_decode_to(seg.payload, seg.payload_len, false, pbuf, pcap, &pn))
        return att_rp_fail(r, "format", ATT_E_JWS_FORMAT,
                           "payload segment is not unpadded base64url");
    if (slen == 0)
        return att_rp_fail(r, "signature", ATT_E_JWS_SIGNATURE, "alg %s with an empty signature",
                           att_alg_name(alg));

    /* key by kid from the JWKS: fetch when none yet, or refetch once on an unknown kid; stale
     * keys are used while their refresh runs in the background */
    uint64_t gen;
    att_rp_jwks_t *s = att_rp_acquire(rp, &gen);
    att_diag_t fd = {0};
    if (s != NULL && (now - s->fetched >= rp->max_age || now < s->fetched - rp->max_age))
        att_rp_kick(rp, now);
    size_t found = 0;
    const att_rp_key_t *named = NULL;
    const att_rp_key_t *k =
        att_rp_try_keys(s, kid, kid_len, alg, token, seg.input_len, sig, slen, &found, &named);
    if (k == NULL && found == 0) {
        att_err_t fe = att_rp_need_keys(rp, now, gen, false, &fd);
        if (fe == ATT_OK) {
            att_rp_jwks_release(s);
            s = att_rp_acquire(rp, &gen);
            k = att_rp_try_keys(s, kid, kid_len, alg, token, seg.input_len, sig, slen, &found,
                                &named);
        }
        if (s == NULL)
            return att_rp_fail(r, "jwks", ATT_E_JWKS, "no key set for issuer %.200s: %s",
                               rp->issuer, fd.msg[0] ? fd.msg : "not fetched");
        if (k == NULL && found == 0) {
            size_t n = s->n;
            att_rp_jwks_release(s);
            return att_rp_fail(r, "kid", ATT_E_JWS_KID,
                               "kid \"%.100s\" is not in the issuer's JWKS (%zu keys; %s)", kid, n,
                               fe == ATT_OK ? "refetched" : fd.msg);
        }
    }
    if (k == NULL) {
        bool fits = false;
        for (size_t i = 0; i < s->n; i++)
            fits =
                fits || (s->keys[i].kid_len == kid_len &&
                         memcmp(s->keys[i].kid, kid, kid_len) == 0 && s->keys[i].tmpl[alg] != NULL);
        const char *type = named ? named->type : "?";
        att_rp_jwks_release(s);
        if (!fits)
            return att_rp_fail(r, "alg", ATT_E_JWS_ALG,
                               "alg %s does not fit key \"%.100s\" of the JWKS (%s)%s",
                               att_alg_name(alg), kid, type,
                               alg == ATT_ALG_ES256 ? "" : " or the key is limited to another alg");
        return att_rp_fail(r, "signature", ATT_E_JWS_SIGNATURE,
                           "%s signature does not verify with key \"%.100s\" (%s) of the JWKS",
                           att_alg_name(alg), kid, type);
    }
    att_rp_jwks_release(s);
    r->signature_ok = true;

    /* claims, now that they are authentic */
    r->claims = att_rp_json_object((const char *)pbuf, pn);
    if (r->claims == NULL)
        return att_rp_claims_unreadable(r, pbuf, pn);
    att_err_t e = att_rp_check_claims(rp, c, now, r);
    if (e != ATT_OK)
        return e;
    r->check = NULL;
    r->diag.code = ATT_OK;
    r->diag.msg[0] = '\0';
    return ATT_OK;
}

att_err_t att_rp_verify(att_rp_t *rp, const char *token, size_t len, const att_rp_check_t *c,
                        att_time_t now, att_rp_result_t *r)
{
    if (r == NULL)
        return ATT_E_ARG;
    memset(r, 0, sizeof *r);
    if (rp == NULL || (token == NULL && len > 0))
        return att_rp_fail(r, "format", ATT_E_ARG, "att_rp_verify: rp or token is NULL");
    while (len > 0 && att_rp_ws(token[0])) {
        token++;
        len--;
    }
    while (len > 0 && att_rp_ws(token[len - 1]))
        len--;
    if (len == 0)
        return att_rp_fail(r, "format", ATT_E_JWS_FORMAT, "token is empty");
    if (len > ATT_RP_TOKEN_MAX)
        return att_rp_fail(r, "format", ATT_E_JWS_FORMAT, "token is %zu bytes (at most %u)", len,
                           ATT_RP_TOKEN_MAX);
    /* the payload is at most 3/4 of the token: typical claims decode on the stack */
    uint8_t small[ATT_RP_PAYLOAD_STACK];
    size_t cap = len / 4 * 3 + 3;
    uint8_t *pbuf = cap <= sizeof small ? small : malloc(cap);
    if (pbuf == NULL)
        return att_rp_fail(r, "format", ATT_E_NOMEM, "out of memory");
    att_err_t e = att_rp_verify_in(rp, token, len, c, now, r, pbuf, cap);
    if (pbuf != small)
        free(pbuf);
    return e;
}
