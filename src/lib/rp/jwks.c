/* jwks.c - OpenID discovery, JWKS fetching (libcurl) and JWKS -> ready keys.
 *
 * Discovery: GET <issuer>/.well-known/openid-configuration; its "issuer" must be ours (OpenID
 * Connect Discovery 1.0 section 4.3) and its "jwks_uri" on the issuer's origin unless the caller
 * allowed another. Then GET jwks_uri. Both answers must be 200 and at most ATT_RP_BODY_MAX bytes;
 * no redirects are followed and only http/https are spoken (through the library's one HTTP
 * helper, net/http.h: TLS always verified, an https URL over https only).
 *
 * Each JWK becomes one EVP_PKEY, built once: from "n"/"e" (RSA) or "crv"/"x"/"y" (EC P-256) with
 * libjose's jose_openssl_jwk_to_EVP_PKEY over a copy holding only the public members, or from
 * x5c[0] when the JWK has no public parameters (MAA's /certs serves x5c only). When both are
 * present they must be the same key. A JWK is skipped (and named in the message if no key is
 * left) when it has no "kid", a "use" other than "sig", an unsupported "kty", or fits none of the
 * allowed algs; a JWK's own "alg" restricts the key to that alg.
 */
#include <string.h>

#include <strings.h>

#include <jose/openssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "core/util.h"
#include "net/http.h"
#include "rp/rp_int.h"
#include "token/jws.h"

/* ---- HTTP ----------------------------------------------------------------------------- */

att_err_t att_rp_http_get(void *arg, const char *url, char **body, size_t *len, att_diag_t *diag)
{
    const att_rp_get_opts_t *go = arg;
    long timeout_ms = go && go->timeout_ms > 0 ? go->timeout_ms : 10000;
    static const char *const accept[] = {"Accept: application/json", NULL};
    *body = NULL;
    *len = 0;
    att_net_req_t rq = {.url = url,
                        .headers = accept,
                        .allow_http = strncasecmp(url, "https://", 8) != 0,
                        .max_redirects = 0, /* no redirect is ever followed */
                        .deadline_ms = att_net_mono_ms() + timeout_ms,
                        .max_body = ATT_RP_BODY_MAX,
                        .abort = go ? go->abort : NULL,
                        .user_agent = "attest-rp/0.1"};
    att_net_resp_t rs;
    att_diag_t in;
    att_diag_clear(&in);
    att_err_t e = att_net_request(NULL, &rq, &rs, &in);
    if (e == ATT_E_NOMEM || rs.fail == ATT_NET_NOMEM)
        e = att_diag_set(diag, ATT_E_NOMEM, "GET %s: out of memory", url);
    else if (e != ATT_OK && rs.fail == ATT_NET_BAD_URL)
        e = att_diag_set(diag, ATT_E_JWKS, "GET %s failed: not an http(s) URL", url);
    else if (e != ATT_OK)
        e = att_diag_set(diag, ATT_E_JWKS, "GET %s failed: %s", url,
                         rs.fail == ATT_NET_TOO_LARGE ? "answer larger than 1 MiB"
                                                      : (rs.error[0] ? rs.error : in.msg));
    else if (rs.status >= 300 && rs.status < 400)
        e = att_diag_set(diag, ATT_E_JWKS,
                         "GET %s answered HTTP %ld, a redirect (redirects are not followed)", url,
                         rs.status);
    else if (rs.status != 200)
        e = att_diag_set(diag, ATT_E_JWKS, "GET %s answered HTTP %ld, not 200", url, rs.status);
    if (e == ATT_OK) {
        *body = (char *)rs.body;
        *len = rs.len;
        rs.body = NULL;
    }
    att_net_resp_clear(&rs);
    return e;
}

size_t att_rp_origin_len(const char *url)
{
    size_t skip;
    if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else
        return 0;
    size_t n = skip + strcspn(url + skip, "/?#");
    return n > skip ? n : 0;
}

/* ---- JWKS -> keys ---------------------------------------------------------------------- */

void att_rp_jwks_release(att_rp_jwks_t *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; i < s->n; i++) {
        att_rp_key_t *k = &s->keys[i];
        for (int a = 0; a < ATT_RP_NALG; a++)
            EVP_MD_CTX_free(k->tmpl[a]);
        EVP_PKEY_free(k->pkey);
        free(k->kid);
    }
    free(s);
}

/* The public key of x5c[0] (standard base64 DER certificate). */
static EVP_PKEY *att_rp_x5c_key(json_t *x5c)
{
    const char *s = json_string_value(json_array_get(x5c, 0));
    if (s == NULL)
        return NULL;
    uint8_t *der = NULL;
    size_t dlen = 0;
    if (!att_b64_decode(s, strlen(s), true, &der, &dlen))
        return NULL;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)dlen);
    EVP_PKEY *k = x != NULL && p == der + dlen ? X509_get_pubkey(x) : NULL;
    X509_free(x);
    free(der);
    return k;
}

/* The EVP_PKEY of a JWK's public members; NULL with *why set. */
static EVP_PKEY *att_rp_jwk_key(json_t *jwk, const char **why)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    json_t *pub = NULL;
    if (kty != NULL && strcmp(kty, "RSA") == 0) {
        json_t *n = json_object_get(jwk, "n"), *e = json_object_get(jwk, "e");
        if (json_is_string(n) && json_is_string(e))
            pub = json_pack("{s:s,s:O,s:O}", "kty", "RSA", "n", n, "e", e);
    } else if (kty != NULL && strcmp(kty, "EC") == 0) {
        json_t *crv = json_object_get(jwk, "crv"), *x = json_object_get(jwk, "x"),
               *y = json_object_get(jwk, "y");
        if (json_is_string(crv) && strcmp(json_string_value(crv), "P-256") != 0) {
            *why = "EC curve is not P-256";
            return NULL;
        }
        if (json_is_string(crv) && json_is_string(x) && json_is_string(y))
            pub = json_pack("{s:s,s:s,s:O,s:O}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
    } else {
        *why = "kty is not RSA or EC";
        return NULL;
    }
    EVP_PKEY *k = NULL;
    if (pub != NULL) {
        k = jose_openssl_jwk_to_EVP_PKEY(NULL, pub);
        json_decref(pub);
        if (k == NULL) {
            *why = "public parameters do not make a key";
            ERR_clear_error();
            return NULL;
        }
    }
    json_t *x5c = json_object_get(jwk, "x5c");
    if (x5c != NULL) {
        EVP_PKEY *ck = att_rp_x5c_key(x5c);
        if (ck == NULL) {
            *why = "x5c[0] is not a certificate";
        } else if (k == NULL) {
            k = ck;
            ck = NULL;
        } else if (EVP_PKEY_eq(k, ck) != 1) {
            *why = "x5c[0] holds another key than the JWK's parameters";
            EVP_PKEY_free(k);
            k = NULL;
        }
        EVP_PKEY_free(ck);
        ERR_clear_error();
    } else if (k == NULL) {
        *why = "no public parameters and no x5c";
    }
    return k;
}

static const char *att_rp_key_type(EVP_PKEY *k)
{
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
        switch (EVP_PKEY_get_bits(k)) {
        case 2048:
            return "RSA-2048";
        case 3072:
            return "RSA-3072";
        case 4096:
            return "RSA-4096";
        default:
            return EVP_PKEY_get_bits(k) < 2048 ? "RSA below 2048 bits" : "RSA";
        }
    }
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC)
        return att_token_key_mismatch(k, ATT_ALG_ES256) ? "EC (not P-256)" : "EC P-256";
    return "other";
}

/* One key per kid: a later JWK with the kid of a key already taken is skipped, so that a
 * token's kid selects exactly one key and costs at most one signature check. */
static bool att_rp_kid_taken(const att_rp_jwks_t *s, const char *kid)
{
    size_t n = strlen(kid);
    for (size_t i = 0; i < s->n; i++)
        if (s->keys[i].kid_len == n && memcmp(s->keys[i].kid, kid, n) == 0)
            return true;
    return false;
}

att_err_t att_rp_jwks_build(const att_rp_t *rp, const char *json, size_t len, att_time_t now,
                            att_rp_jwks_t **out, att_diag_t *diag)
{
    *out = NULL;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        json_decref(doc);
        return att_diag_set(diag, ATT_E_JWKS, "JWKS is not a JSON object with a \"keys\" array");
    }
    size_t n = json_array_size(keys);
    if (n > ATT_RP_KEYS_MAX) {
        json_decref(doc);
        return att_diag_set(diag, ATT_E_JWKS, "JWKS has %zu keys (at most %d are taken)", n,
                            ATT_RP_KEYS_MAX);
    }
    att_rp_jwks_t *s = calloc(1, sizeof *s + n * sizeof s->keys[0]);
    if (s == NULL) {
        json_decref(doc);
        return att_diag_set(diag, ATT_E_NOMEM, "JWKS: out of memory");
    }
    atomic_init(&s->refs, 1);
    s->fetched = now;

    char skipped[200] = "";
    size_t sk = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *jwk = json_array_get(keys, i);
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        const char *use = json_string_value(json_object_get(jwk, "use"));
        json_t *jalg = json_object_get(jwk, "alg");
        const char *why = NULL;
        EVP_PKEY *k = NULL;
        att_alg_t only = ATT_ALG_NONE;
        if (!json_is_object(jwk))
            why = "not an object";
        else if (kid == NULL)
            why = "no kid";
        else if (att_rp_kid_taken(s, kid))
            why = "duplicate kid (the first usable key with it is kept)";
        else if (json_object_get(jwk, "use") != NULL && (use == NULL || strcmp(use, "sig") != 0))
            why = "use is not sig";
        else if (jalg != NULL && (only = att_alg_parse(json_string_value(jalg))) == ATT_ALG_NONE)
            why = "alg is not RS256, PS256 or ES256";
        else
            k = att_rp_jwk_key(jwk, &why);
        att_rp_key_t *key = &s->keys[s->n];
        size_t usable = 0;
        const char *mis = NULL;
        if (k != NULL && EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA)
            mis = att_token_rsa_weak(k); /* size and exponent, before any use of the key */
        for (int a = ATT_ALG_RS256; k != NULL && mis == NULL && a <= ATT_ALG_ES256; a++) {
            if (!rp->alg_ok[a] || (only != ATT_ALG_NONE && (int)only != a) ||
                att_token_key_mismatch(k, (att_alg_t)a) != NULL)
                continue;
            EVP_MD_CTX *t = EVP_MD_CTX_new();
            if (t == NULL || !att_token_md_init(t, k, (att_alg_t)a, false)) {
                EVP_MD_CTX_free(t);
                ERR_clear_error();
                continue;
            }
            key->tmpl[a] = t;
            usable++;
        }
        if (k != NULL && usable == 0)
            why = mis ? mis : "fits none of the allowed algs";
        if (why != NULL) {
            EVP_PKEY_free(k);
            for (int a = 0; a < ATT_RP_NALG; a++) {
                EVP_MD_CTX_free(key->tmpl[a]);
                key->tmpl[a] = NULL;
            }
            if (sk < sizeof skipped)
                sk += (size_t)snprintf(skipped + sk, sizeof skipped - sk, "%skeys[%zu]: %s",
                                       sk ? "; " : "", i, why);
            continue;
        }
        key->kid = strdup(kid);
        key->kid_len = strlen(kid);
        key->pkey = k;
        key->type = att_rp_key_type(k);
        s->n++;
        if (key->kid == NULL) {
            json_decref(doc);
            att_rp_jwks_release(s);
            return att_diag_set(diag, ATT_E_NOMEM, "JWKS: out of memory");
        }
    }
    json_decref(doc);
    if (s->n == 0) {
        att_rp_jwks_release(s);
        return att_diag_set(diag, ATT_E_JWKS, "JWKS has no usable key (%zu keys%s%s)", n,
                            sk ? ": " : "", skipped);
    }
    *out = s;
    return ATT_OK;
}

/* ---- discovery + fetch ----------------------------------------------------------------- */

/* GET through the hook or libcurl; a failure is ATT_E_JWKS "<what>: <reason>". */
static att_err_t att_rp_get(att_rp_t *rp, const char *what, const char *url, char **body,
                            size_t *len, att_diag_t *diag)
{
    att_diag_t in = {0};
    /* what is left of the fetch's one deadline */
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    pthread_mutex_lock(&rp->lock);
    long long left = (long long)(rp->fetch_deadline.tv_sec - t.tv_sec) * 1000 +
                     (rp->fetch_deadline.tv_nsec - t.tv_nsec) / 1000000;
    pthread_mutex_unlock(&rp->lock);
    if (left <= 0)
        return att_diag_set(diag, ATT_E_JWKS, "%s: GET %s: no time left of the %ld ms deadline",
                            what, url, rp->timeout_ms);
    att_rp_get_opts_t go = {.timeout_ms = (long)left, .abort = &rp->closing};
    att_err_t e = rp->fetch != NULL ? rp->fetch(rp->fetch_arg, url, body, len, &in)
                                    : att_rp_http_get(&go, url, body, len, &in);
    if (e == ATT_OK)
        return ATT_OK;
    if (in.msg[0] == '\0')
        snprintf(in.msg, sizeof in.msg, "GET %s failed: %s", url, att_strerror(e));
    return att_diag_set(diag, e == ATT_E_NOMEM ? e : ATT_E_JWKS, "%s: %s", what, in.msg);
}

att_err_t att_rp_fetch_keys(att_rp_t *rp, att_time_t now, att_rp_jwks_t **out, att_diag_t *diag)
{
    char *body = NULL, *jwks_uri = NULL;
    size_t len = 0;
    att_err_t e;
    *out = NULL;
    bool https = strncasecmp(rp->issuer, "https://", 8) == 0;
    pthread_mutex_lock(&rp->lock);
    /* a jwks_uri discovered before is used again while fresh and while the fetches through it
     * succeed: an unknown kid then costs one request, not two */
    if (rp->jwks_uri_cfg == NULL && rp->jwks_uri_found != NULL && rp->last_ok &&
        now - rp->jwks_uri_at < rp->max_age && rp->jwks_uri_at - now < rp->max_age)
        jwks_uri = strdup(rp->jwks_uri_found);
    pthread_mutex_unlock(&rp->lock);
    if (jwks_uri != NULL) {
        /* discovered before */
    } else if (rp->jwks_uri_cfg != NULL) {
        jwks_uri = strdup(rp->jwks_uri_cfg);
    } else {
        size_t il = rp->issuer_len;
        while (il > 0 && rp->issuer[il - 1] == '/')
            il--;
        char url[2048];
        if (il + 40 > sizeof url)
            return att_diag_set(diag, ATT_E_JWKS, "issuer URL is too long");
        snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)il, rp->issuer);
        if ((e = att_rp_get(rp, "OpenID discovery", url, &body, &len, diag)) != ATT_OK)
            return e;
        json_t *d = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
        free(body);
        body = NULL;
        const char *iss = json_string_value(json_object_get(d, "issuer"));
        const char *ju = json_string_value(json_object_get(d, "jwks_uri"));
        if (!json_is_object(d))
            e = att_diag_set(diag, ATT_E_JWKS, "%s is not a JSON object", url);
        else if (iss == NULL || strcmp(iss, rp->issuer) != 0)
            e = att_diag_set(diag, ATT_E_JWKS,
                             "%s names issuer \"%.200s\", not the configured \"%.200s\"", url,
                             iss ? iss : "(none)", rp->issuer);
        else if (ju == NULL)
            e = att_diag_set(diag, ATT_E_JWKS, "%s has no string \"jwks_uri\"", url);
        else if (att_rp_origin_len(ju) == 0)
            e = att_diag_set(diag, ATT_E_JWKS, "jwks_uri \"%.300s\" is not an http(s) URL", ju);
        else if (https && strncasecmp(ju, "https://", 8) != 0)
            e = att_diag_set(diag, ATT_E_JWKS,
                             "jwks_uri \"%.300s\" is not https while the issuer is (no downgrade)",
                             ju);
        else if (!rp->allow_foreign_jwks &&
                 (att_rp_origin_len(ju) != att_rp_origin_len(rp->issuer) ||
                  strncasecmp(ju, rp->issuer, att_rp_origin_len(ju)) != 0))
            e = att_diag_set(diag, ATT_E_JWKS,
                             "jwks_uri \"%.300s\" is not on the issuer's origin %.*s", ju,
                             (int)att_rp_origin_len(rp->issuer), rp->issuer);
        else if ((jwks_uri = strdup(ju)) != NULL) {
            char *keep = strdup(ju);
            pthread_mutex_lock(&rp->lock);
            free(rp->jwks_uri_found);
            rp->jwks_uri_found = keep;
            rp->jwks_uri_at = now;
            pthread_mutex_unlock(&rp->lock);
        }
        json_decref(d);
        if (e != ATT_OK)
            return e;
    }
    if (jwks_uri == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    att_diag_t in = {0};
    if ((e = att_rp_get(rp, "JWKS", jwks_uri, &body, &len, diag)) == ATT_OK &&
        (e = att_rp_jwks_build(rp, body, len, now, out, &in)) != ATT_OK)
        att_diag_set(diag, e, "%s: %s", jwks_uri, in.msg);
    free(body);
    free(jwks_uri);
    return e;
}
