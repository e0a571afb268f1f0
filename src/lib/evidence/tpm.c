/* tpm.c - the Tpm type: MAA's TPM attestation protocol (docs/tpm.md, docs/api.md "TPM"), two
 * rounds in the body {"data": base64url(JSON)}.
 *
 * Round 1, {"payload": {"type": "aikcert"}}: the answer is {"payload": {"challenge": b64url(32
 * random bytes), "service_context": an opaque token}}. The token is the service's sealed
 * {challenge, expiry} (att_ev_round_ctx_t.seal: authenticated encryption under a key every
 * replica shares, spent once), so no session is kept and any replica finishes the exchange.
 * Round 1, {"payload": {"type": "activate", "ek_cert", "ak", "ek_pub"?, "ek_chain"?}} (a native
 * extension; needs --tpm-ek-ca): the EK certificate must chain to a configured TPM manufacturer
 * CA, the AK (a TPM2B_PUBLIC) must be a restricted signing key; the challenge is then the secret
 * of a MakeCredential to that EK and AK name, answered as {"payload": {"credential_blob",
 * "encrypted_secret", "service_context"}} with no challenge in the clear: only the TPM holding
 * both keys learns it (TPM2_ActivateCredential) and can quote with it. The sealed context
 * carries the challenge, the AK's name and key digest and the EK certificate's names.
 * Round 2 goes to verify, in one of two forms:
 * - native, {"request": {"service_context", "ak", "quote", "signature", "pcrs", "tcg_log"?,
 *   "ima_log"?, "ak_cert"?, "ak_chain"?}}; with "context" in place of "service_context" it is
 *   the one-shot form (attestd's GET /tpm/nonce gave it: opened with purpose "nonce", so
 *   neither kind of token passes for the other);
 * - MAA's request v2, {"request": "<compact JWS>"} with header {"alg": "PS256" (or RS256,
 *   ES256), "typ": "attReqV2"}, signed by att_data.request_key.jwk, whose key is bound to the
 *   TPM by the quote's qualifyingData = HASH(the jwk member's bytes as sent || 0x00 ||
 *   challenge) (info.tpm_quote) or by a TPM2_Certify of the AK over it with qualifyingData =
 *   challenge (info.tpm_certify).
 * Either way the service context is opened (spent once, not expired: in->open), the AK must be
 * trusted in one of the three ways configuration allows (a key pinned with --tpm-ak, an AK
 * certificate chaining to --tpm-ak-ca at the verification time, or the AK activated in round 1
 * against an EK certificate chaining to --tpm-ek-ca), and the quote is verified by
 * att_tpm_verify with the challenge (or the key binding's digest) as nonce, the PCR values in the
 * quote's selection order and the configured log budgets. Not checked here: the PCR values
 * themselves (policy), revocation of AK or EK certificates.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jose/jws.h>
#include <jose/openssl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "attest/tpm.h"
#include "attest/token.h"
#include "core/json.h"
#include "core/lru.h"
#include "core/util.h"
#include "crypto/crypto.h"
#include "ev_int.h"
#include "tpm/tpm_int.h"

/* How long a round-1 challenge may be answered. */
#define ATT_EV_TPM_CHALLENGE_TTL 300
/* At most this many pinned AKs (each is compared with the presented one). */
#define ATT_EV_TPM_MAX_AKS 1024
/* attReqV2 custom claims and the size of each text value issued as a claim (defaults of
 * --tpm-max-custom-claims, --tpm-max-claim-bytes). */
#define ATT_EV_TPM_MAX_CUSTOM      32
#define ATT_EV_TPM_MAX_CLAIM_BYTES 1024
/* The sealed activation record: tag, challenge, AK name, AK key digest, EK certificate names. */
#define ATT_EV_TPM_ACT_TAG   0x02
#define ATT_EV_TPM_ACT_NAMES 200 /* bytes kept of each EK certificate name */

/* The AKs loaded from request bytes, kept (default of --tpm-ak-cache; at most
 * ATT_EV_TPM_MAX_AK_CACHE): decoding an SPKI costs 80-110 us with OpenSSL 3, 4-5 times the
 * quote's signature (docs/performance.md). */
#define ATT_EV_TPM_AK_CACHE     64
#define ATT_EV_TPM_MAX_AK_CACHE 65536

/* ---- the backend: pinned AKs, AK CAs, EK CAs, budgets, the AK cache ---- */

/* A loaded AK, kept in the cache under the SHA-256 of the bytes it was loaded from. */
typedef struct {
    att_tpm_ak_t *ak;
    uint8_t spki[32]; /* SHA-256 of the AK's SubjectPublicKeyInfo (i2d_PUBKEY: an encoder) */
    bool has_spki;
} att_tpm_ak_slot_t;

typedef struct {
    att_tpm_ak_t **aks;
    size_t n;
    att_tpm_ca_t *ak_ca, *ek_ca;
    att_tpm_limits_t limits;
    size_t max_custom, max_claim_bytes, max_chain;
    pthread_mutex_t lock; /* the cache below */
    att_lru_t *cache;     /* att_tpm_ak_slot_t by the SHA-256 of the AK bytes (LRU) */
} att_ev_tpm_t;

static bool att_tpm_spki_hash(EVP_PKEY *k, uint8_t out[32]);

/* Another owner of the same AK (the key up-referenced): what the cache hands out. */
static att_tpm_ak_t *att_tpm_ak_share(const att_tpm_ak_t *ak)
{
    att_tpm_ak_t *c = malloc(sizeof(*c));
    if (c == NULL)
        return NULL;
    *c = *ak;
    if (EVP_PKEY_up_ref(c->key) != 1) {
        free(c);
        return NULL;
    }
    return c;
}

static void att_tpm_slot_drop(void *p)
{
    att_tpm_ak_slot_t *slot = p;
    if (slot != NULL)
        att_tpm_ak_free(slot->ak);
    free(slot);
}

/* att_tpm_ak_load through the cache: the same bytes give the AK loaded before, with the SHA-256
 * of its SubjectPublicKeyInfo in spki (*has_spki false when it could not be made). Only AKs
 * that loaded are kept; the least recently used goes when it is full. */
static att_err_t att_tpm_ak_cached(att_ev_tpm_t *x, const uint8_t *buf, size_t len,
                                   att_tpm_ak_t **out, uint8_t spki[32], bool *has_spki,
                                   att_diag_t *diag)
{
    uint8_t h[32];
    *out = NULL;
    *has_spki = false;
    if (x == NULL || x->cache == NULL || buf == NULL || len == 0 ||
        !att_sha256_2(buf, len, NULL, 0, h)) {
        att_err_t e = att_tpm_ak_load(buf, len, out, diag);
        if (e == ATT_OK)
            *has_spki = att_tpm_spki_hash((*out)->key, spki);
        return e;
    }
    pthread_mutex_lock(&x->lock);
    const att_tpm_ak_slot_t *hit = att_lru_get(x->cache, h, 0);
    if (hit != NULL) {
        *out = att_tpm_ak_share(hit->ak);
        memcpy(spki, hit->spki, 32);
        *has_spki = hit->has_spki;
    }
    pthread_mutex_unlock(&x->lock);
    if (*out != NULL)
        return ATT_OK;
    att_err_t e = att_tpm_ak_load(buf, len, out, diag);
    if (e != ATT_OK)
        return e;
    *has_spki = att_tpm_spki_hash((*out)->key, spki);
    att_tpm_ak_slot_t *keep = malloc(sizeof(*keep));
    if (keep == NULL || (keep->ak = att_tpm_ak_share(*out)) == NULL) {
        free(keep);
        return ATT_OK; /* not kept: loaded again next time */
    }
    memcpy(keep->spki, spki, 32);
    keep->has_spki = *has_spki;
    pthread_mutex_lock(&x->lock);
    /* what left: the same key kept meanwhile by another thread, or the least recently used */
    void *gone = att_lru_put(x->cache, h, 0, keep);
    pthread_mutex_unlock(&x->lock);
    att_tpm_slot_drop(gone);
    return ATT_OK;
}

static att_err_t att_tpm_create(void **inst, att_diag_t *diag)
{
    att_ev_tpm_t *x = calloc(1, sizeof(*x));
    if (x == NULL || att_tpm_ca_new(&x->ak_ca, diag) != ATT_OK ||
        att_tpm_ca_new(&x->ek_ca, diag) != ATT_OK) {
        if (x != NULL)
            att_tpm_ca_free(x->ak_ca);
        free(x);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    x->limits = att_tpm_limits(NULL);
    x->max_custom = ATT_EV_TPM_MAX_CUSTOM;
    x->max_claim_bytes = ATT_EV_TPM_MAX_CLAIM_BYTES;
    x->max_chain = ATT_TPM_MAX_CHAIN;
    if ((x->cache = att_lru_new(ATT_EV_TPM_AK_CACHE)) == NULL ||
        pthread_mutex_init(&x->lock, NULL) != 0) {
        att_lru_free(x->cache, NULL);
        att_tpm_ca_free(x->ak_ca);
        att_tpm_ca_free(x->ek_ca);
        free(x);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    *inst = x;
    return ATT_OK;
}

static void att_tpm_destroy(void *inst)
{
    att_ev_tpm_t *x = inst;
    if (x == NULL)
        return;
    for (size_t i = 0; i < x->n; i++)
        att_tpm_ak_free(x->aks[i]);
    free(x->aks);
    att_tpm_ca_free(x->ak_ca);
    att_tpm_ca_free(x->ek_ca);
    att_lru_free(x->cache, att_tpm_slot_drop);
    pthread_mutex_destroy(&x->lock);
    free(x);
}

static att_err_t att_tpm_add_root(void *inst, const uint8_t *der, size_t len, att_diag_t *diag)
{
    (void)inst;
    (void)der;
    (void)len;
    return att_diag_set(diag, ATT_E_CERT_KEY,
                        "the TPM verifier takes no --trust-root (its CAs are --tpm-ak-ca and "
                        "--tpm-ek-ca)");
}

/* kind "tpm-ak": a pinned AK, PEM/DER SubjectPublicKeyInfo or TPM2B_PUBLIC; "tpm-ak-ca": AK
 * certificate CAs; "tpm-ek-ca": TPM manufacturer CAs (PEM bundles). */
static att_err_t att_tpm_add_key(void *inst, const char *kind, const uint8_t *buf, size_t len,
                                 const char *name, att_diag_t *diag)
{
    att_ev_tpm_t *x = inst;
    if (strcmp(kind, "tpm-ak-ca") == 0 || strcmp(kind, "tpm-ek-ca") == 0)
        return att_tpm_ca_add(kind[4] == 'a' ? x->ak_ca : x->ek_ca, buf, len, name, diag);
    if (strcmp(kind, "tpm-ak") != 0)
        return att_diag_set(diag, ATT_E_ARG,
                            "the TPM verifier takes keys of kind tpm-ak, tpm-ak-ca and tpm-ek-ca");
    if (x->n == ATT_EV_TPM_MAX_AKS)
        return att_diag_set(diag, ATT_E_LIMIT, "%s: more than %d pinned TPM AKs", name,
                            ATT_EV_TPM_MAX_AKS);
    att_tpm_ak_t *ak = NULL;
    att_diag_t d;
    att_err_t e = att_tpm_ak_load(buf, len, &ak, &d);
    if (e != ATT_OK)
        return att_diag_set(diag, e, "%s: not a usable TPM AK: %s", name, d.msg);
    att_tpm_ak_t **v = realloc(x->aks, (x->n + 1) * sizeof(*v));
    if (v == NULL) {
        att_tpm_ak_free(ak);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    x->aks = v;
    x->aks[x->n++] = ak;
    return ATT_OK;
}

/* The budgets: "tpm-max-log-bytes", "tpm-max-events", "tpm-max-event-size",
 * "tpm-max-custom-claims", "tpm-max-claim-bytes", "tpm-max-chain" (at most ATT_TPM_MAX_CHAIN),
 * and the AK cache's size "tpm-ak-cache" (at most ATT_EV_TPM_MAX_AK_CACHE); 0 means the default. */
static att_err_t att_tpm_set_limit(void *inst, const char *name, uint64_t value, att_diag_t *diag)
{
    att_ev_tpm_t *x = inst;
    size_t v = (size_t)value;
    if (!strcmp(name, "tpm-max-log-bytes"))
        x->limits.max_log_bytes = v ? v : ATT_TPM_MAX_LOG_BYTES;
    else if (!strcmp(name, "tpm-max-events"))
        x->limits.max_events = v ? v : ATT_TPM_MAX_EVENTS;
    else if (!strcmp(name, "tpm-max-event-size"))
        x->limits.max_event_size = v ? v : ATT_TPM_MAX_EVENT_SIZE;
    else if (!strcmp(name, "tpm-max-custom-claims"))
        x->max_custom = v ? v : ATT_EV_TPM_MAX_CUSTOM;
    else if (!strcmp(name, "tpm-max-claim-bytes"))
        x->max_claim_bytes = v ? v : ATT_EV_TPM_MAX_CLAIM_BYTES;
    else if (!strcmp(name, "tpm-max-chain"))
        x->max_chain = v && v < ATT_TPM_MAX_CHAIN ? v : ATT_TPM_MAX_CHAIN;
    else if (!strcmp(name, "tpm-ak-cache")) { /* before the first request: the cache empties */
        size_t m = v == 0 ? ATT_EV_TPM_AK_CACHE : v;
        att_lru_t *c;
        if (m > ATT_EV_TPM_MAX_AK_CACHE)
            return att_diag_set(diag, ATT_E_ARG, "tpm-ak-cache %zu: at most %d AKs", m,
                                ATT_EV_TPM_MAX_AK_CACHE);
        if ((c = att_lru_new(m)) == NULL)
            return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        pthread_mutex_lock(&x->lock);
        att_lru_t *old = x->cache;
        x->cache = c;
        pthread_mutex_unlock(&x->lock);
        att_lru_free(old, att_tpm_slot_drop);
    } else
        return att_diag_set(diag, ATT_E_ARG, "the TPM verifier has no limit %s", name);
    return ATT_OK;
}

/* The AK cache's counts: attestd_cache_*{cache="tpm_ak"}. */
static void att_tpm_stats(void *inst, att_ev_stats_t *out)
{
    att_ev_tpm_t *x = inst;
    att_lru_stats_t st;
    pthread_mutex_lock(&x->lock);
    att_lru_stats(x->cache, &st);
    pthread_mutex_unlock(&x->lock);
    out->caches[0] = (att_ev_cache_stats_t){.name = "tpm_ak",
                                            .hits = st.hits,
                                            .misses = st.misses,
                                            .evictions = st.evictions,
                                            .entries = st.entries,
                                            .capacity = st.capacity};
    out->n_caches = 1;
}

static const att_ev_backend_t att_ev_tpm_backend = {
    .name = "tpm",
    .stats = att_tpm_stats,
    .create = att_tpm_create,
    .destroy = att_tpm_destroy,
    .add_root = att_tpm_add_root,
    .add_key = att_tpm_add_key,
    .set_limit = att_tpm_set_limit,
};

/* ---- helpers ---- */

/* A base64url member of o: *out malloc'd. Absent and optional: *out NULL. */
static att_err_t att_tpm_b64(const json_t *o, const char *where, const char *name, bool optional,
                             uint8_t **out, size_t *len, att_diag_t *diag)
{
    *out = NULL;
    *len = 0;
    json_t *j = json_object_get(o, name);
    if (j == NULL && optional)
        return ATT_OK;
    const char *s = json_string_value(j);
    if (s == NULL || json_string_length(j) == 0 ||
        !att_b64_decode(s, json_string_length(j), false, out, len))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TPM round 2: %s.%s must be a non-empty base64url string", where, name);
    return ATT_OK;
}

/* SHA-256 of a key's SubjectPublicKeyInfo DER. */
static bool att_tpm_spki_hash(EVP_PKEY *k, uint8_t out[32])
{
    unsigned char *d = NULL;
    int n = k ? i2d_PUBKEY(k, &d) : -1;
    unsigned int ol = 0;
    bool ok = n > 0 && EVP_Digest(d, (size_t)n, out, &ol, EVP_sha256(), NULL) == 1;
    OPENSSL_free(d);
    return ok;
}

static json_t *att_tpm_hexj(const uint8_t *b, size_t n)
{
    char h[2 * ATT_TPM_MAX_NAME + 1];
    if (n > ATT_TPM_MAX_NAME)
        n = ATT_TPM_MAX_NAME;
    att_hex_encode(b, n, h);
    return json_string(h);
}

/* ---- round 1 ---- */

/* The sealed context's data: the bare 32-byte challenge (aikcert), or an activation record. */
typedef struct {
    uint8_t challenge[32];
    bool activation;
    uint8_t name[ATT_TPM_MAX_NAME];
    size_t name_len;
    uint8_t spki[32]; /* SHA-256 of the AK's SubjectPublicKeyInfo */
    char ek_subject[ATT_EV_TPM_ACT_NAMES + 1], ek_issuer[ATT_EV_TPM_ACT_NAMES + 1];
} att_tpm_ctx_t;

/* Serialise an activation record: tag, challenge, name (u8 length), spki digest, subject and
 * issuer (u8 length each). */
static size_t att_tpm_ctx_put(const att_tpm_ctx_t *c, uint8_t *out)
{
    size_t o = 0, sl = strlen(c->ek_subject), il = strlen(c->ek_issuer);
    out[o++] = ATT_EV_TPM_ACT_TAG;
    memcpy(out + o, c->challenge, 32), o += 32;
    out[o++] = (uint8_t)c->name_len;
    memcpy(out + o, c->name, c->name_len), o += c->name_len;
    memcpy(out + o, c->spki, 32), o += 32;
    out[o++] = (uint8_t)sl;
    memcpy(out + o, c->ek_subject, sl), o += sl;
    out[o++] = (uint8_t)il;
    memcpy(out + o, c->ek_issuer, il), o += il;
    return o;
}

static bool att_tpm_ctx_get(const uint8_t *d, size_t n, att_tpm_ctx_t *c)
{
    memset(c, 0, sizeof(*c));
    if (n == 32) {
        memcpy(c->challenge, d, 32);
        return true;
    }
    size_t o = 0;
    if (n < 1 + 32 + 1 || d[o++] != ATT_EV_TPM_ACT_TAG)
        return false;
    c->activation = true;
    memcpy(c->challenge, d + o, 32), o += 32;
    c->name_len = d[o++];
    if (c->name_len > ATT_TPM_MAX_NAME || o + c->name_len + 32 + 1 > n)
        return false;
    memcpy(c->name, d + o, c->name_len), o += c->name_len;
    memcpy(c->spki, d + o, 32), o += 32;
    size_t sl = d[o++];
    if (sl > ATT_EV_TPM_ACT_NAMES || o + sl + 1 > n)
        return false;
    memcpy(c->ek_subject, d + o, sl), o += sl;
    size_t il = d[o++];
    if (il > ATT_EV_TPM_ACT_NAMES || o + il != n)
        return false;
    memcpy(c->ek_issuer, d + o, il);
    return true;
}

/* An array of base64url DER certificates (ak_chain, ek_chain), at most ATT_TPM_MAX_CHAIN. */
typedef struct {
    uint8_t *der[ATT_TPM_MAX_CHAIN];
    size_t len[ATT_TPM_MAX_CHAIN];
    size_t n;
} att_tpm_chain_t;

static void att_tpm_chain_free(att_tpm_chain_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->der[i]);
    c->n = 0;
}

static att_err_t att_tpm_chain(const json_t *o, const char *where, const char *name, size_t max,
                               att_tpm_chain_t *c, att_diag_t *diag)
{
    memset(c, 0, sizeof(*c));
    json_t *a = json_object_get(o, name), *v;
    size_t i;
    if (a == NULL)
        return ATT_OK;
    if (!json_is_array(a))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "%s.%s must be an array of base64url DER certificates", where, name);
    if (max > ATT_TPM_MAX_CHAIN)
        max = ATT_TPM_MAX_CHAIN;
    if (json_array_size(a) > max)
        return att_diag_set(diag, ATT_E_LIMIT,
                            "%s.%s has %zu certificates; at most %zu (--tpm-max-chain)", where,
                            name, json_array_size(a), max);
    json_array_foreach(a, i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL || !att_b64_decode(s, strlen(s), false, &c->der[c->n], &c->len[c->n])) {
            att_tpm_chain_free(c);
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "%s.%s[%zu] is not a base64url string",
                                where, name, i);
        }
        c->n++;
    }
    return ATT_OK;
}

/* Round 1 "activate": the EK certificate, the AK, MakeCredential of a fresh challenge. */
static att_err_t att_tpm_activate(att_ev_tpm_t *x, const att_ev_round_ctx_t *ctx,
                                  const json_t *payload, json_t **answer, att_diag_t *diag)
{
    if (x == NULL || att_tpm_ca_count(x->ek_ca) == 0)
        return att_diag_set(diag, ATT_E_TPM_EK,
                            "TPM round 1: EK credential activation is not configured on this "
                            "service (it needs --tpm-ek-ca); use type \"aikcert\"");
    uint8_t *ekc = NULL, *ak = NULL, *ekp = NULL, *spki = NULL, *blob = NULL, *enc = NULL;
    size_t ekc_len, ak_len, ekp_len, spki_len = 0, bl = 0, el = 0;
    att_tpm_chain_t chain = {0};
    att_tpm_ak_t *key = NULL;
    att_tpm_ctx_t c;
    char *sc = NULL, *b1 = NULL, *b2 = NULL;
    att_diag_t d;
    att_err_t e;
    memset(&c, 0, sizeof c);
    if ((e = att_tpm_b64(payload, "payload", "ek_cert", false, &ekc, &ekc_len, diag)) != ATT_OK ||
        (e = att_tpm_b64(payload, "payload", "ak", false, &ak, &ak_len, diag)) != ATT_OK ||
        (e = att_tpm_b64(payload, "payload", "ek_pub", true, &ekp, &ekp_len, diag)) != ATT_OK ||
        (e = att_tpm_chain(payload, "payload", "ek_chain", x->max_chain, &chain, diag)) != ATT_OK)
        goto out;
    if ((e = att_tpm_ak_load(ak, ak_len, &key, &d)) != ATT_OK) {
        e = att_diag_set(diag, e, "TPM round 1: payload.ak: %s", d.msg);
        goto out;
    }
    if (!att_tpm_ak_info(key)->tpm_public) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                         "TPM round 1: payload.ak must be the AK's TPM2B_PUBLIC (its name is what "
                         "the credential binds)");
        goto out;
    }
    att_tpm_cert_info_t ci;
    if ((e = att_tpm_ekcert_verify(x->ek_ca, ekc, ekc_len, (const uint8_t *const *)chain.der,
                                   chain.len, chain.n, ekp, ekp_len, ctx->now, &ci, &spki,
                                   &spki_len, &d)) != ATT_OK) {
        e = att_diag_set(diag, e, "TPM round 1: %s", d.msg);
        goto out;
    }
    const att_tpm_ak_info_t *ai = att_tpm_ak_info(key);
    if (RAND_bytes(c.challenge, sizeof c.challenge) != 1) {
        e = att_diag_set(diag, ATT_E_INTERNAL, "no randomness for the challenge");
        goto out;
    }
    c.activation = true;
    memcpy(c.name, ai->name, ai->name_len);
    c.name_len = ai->name_len;
    snprintf(c.ek_subject, sizeof c.ek_subject, "%.200s", ci.subject);
    snprintf(c.ek_issuer, sizeof c.ek_issuer, "%.200s", ci.issuer);
    if (!att_tpm_spki_hash(key->key, c.spki)) {
        e = att_diag_set(diag, ATT_E_INTERNAL, "hashing the AK failed");
        goto out;
    }
    if ((e = att_tpm_make_credential(ekp ? ekp : spki, ekp ? ekp_len : spki_len, ai->name,
                                     ai->name_len, c.challenge, sizeof c.challenge, &blob, &bl,
                                     &enc, &el, &d)) != ATT_OK) {
        e = att_diag_set(diag, e, "TPM round 1: MakeCredential: %s", d.msg);
        goto out;
    }
    uint8_t rec[1 + 32 + 1 + ATT_TPM_MAX_NAME + 32 + 2 + 2 * ATT_EV_TPM_ACT_NAMES];
    size_t rl = att_tpm_ctx_put(&c, rec);
    sc = ctx->seal ? ctx->seal(ctx->seal_arg, "service context", rec, rl,
                               ctx->now + ATT_EV_TPM_CHALLENGE_TTL)
                   : NULL;
    OPENSSL_cleanse(rec, sizeof rec);
    b1 = att_b64url_encode(blob, bl);
    b2 = att_b64url_encode(enc, el);
    if (sc == NULL || b1 == NULL || b2 == NULL ||
        (*answer = json_pack("{s:{s:s,s:s,s:s}}", "payload", "credential_blob", b1,
                             "encrypted_secret", b2, "service_context", sc)) == NULL)
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
out:
    OPENSSL_cleanse(&c, sizeof c);
    att_tpm_chain_free(&chain);
    att_tpm_ak_free(key);
    free(ekc);
    free(ak);
    free(ekp);
    free(spki);
    free(blob);
    free(enc);
    free(sc);
    free(b1);
    free(b2);
    return e;
}

static att_err_t att_tpm_round(void *inst, const att_ev_round_ctx_t *ctx, const json_t *request,
                               json_t **answer, att_diag_t *diag)
{
    json_t *payload = json_object_get(request, "payload");
    const char *type = json_string_value(json_object_get(payload, "type"));
    if (!json_is_object(payload) || type == NULL) {
        if (json_object_get(request, "request") != NULL)
            return ATT_OK; /* round 2: the evidence */
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "a TPM attestation message is {\"payload\": {\"type\": \"aikcert\" or "
                            "\"activate\"}} (round 1) or {\"request\": ...} (round 2)");
    }
    if (strcmp(type, "activate") == 0)
        return att_tpm_activate(inst, ctx, payload, answer, diag);
    if (strcmp(type, "aikcert") != 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TPM attestation round 1 takes payload type \"aikcert\" or "
                            "\"activate\", not \"%.64s\"",
                            type);
    uint8_t challenge[32];
    if (RAND_bytes(challenge, sizeof challenge) != 1)
        return att_diag_set(diag, ATT_E_INTERNAL, "no randomness for the challenge");
    char *sc = ctx->seal ? ctx->seal(ctx->seal_arg, "service context", challenge, sizeof challenge,
                                     ctx->now + ATT_EV_TPM_CHALLENGE_TTL)
                         : NULL;
    char *ch = att_b64url_encode(challenge, sizeof challenge);
    if (sc == NULL || ch == NULL) {
        free(sc);
        free(ch);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    *answer = json_pack("{s:{s:s,s:s}}", "payload", "challenge", ch, "service_context", sc);
    free(sc);
    free(ch);
    return *answer ? ATT_OK : att_diag_set(diag, ATT_E_NOMEM, "out of memory");
}

/* ---- round 2: what both forms give ---- */

typedef enum { ATT_BIND_NONE, ATT_BIND_QUOTE, ATT_BIND_CERTIFY } att_bind_t;

typedef struct {
    const char *where;   /* "request" (native) or "current_attestation" (attReqV2) */
    const char *sc;      /* service_context or context (borrowed) */
    const char *purpose; /* what sc must be: "service context" (round 1's) or "nonce" */
    uint8_t *ak;         /* the AK as att_tpm_ak_load reads it; NULL: the AK certificate's key */
    size_t ak_len;
    uint8_t *ak_cert;
    size_t ak_cert_len;
    att_tpm_chain_t ak_chain;
    uint8_t *quote, *sig, *pcrs, *tcg, *ima;
    size_t quote_len, sig_len, pcrs_len, tcg_len, ima_len;
    /* attReqV2 */
    bool v2;
    uint8_t *challenge; /* att_data.challenge */
    size_t challenge_len;
    att_bind_t bind;
    uint16_t bind_hash;           /* tpm_quote: the hash of qualifyingData */
    uint8_t *payload;             /* the JWS payload's bytes (jwk_raw points into them) */
    const char *jwk_raw;          /* tpm_quote: the jwk member as sent (into payload) */
    size_t jwk_raw_len;           /* */
    EVP_PKEY *request_key;        /* request_key.jwk */
    uint8_t *cert_pub;            /* tpm_certify: TPM2B_PUBLIC made from "public" (TPMT_PUBLIC) */
    size_t cert_pub_len;          /* */
    uint8_t *cert_att, *cert_sig; /* tpm_certify: certification, signature */
    size_t cert_att_len, cert_sig_len;
    json_t *claims; /* request key, rp_id, rp_data, custom claims */
} att_r2_t;

static void att_r2_free(att_r2_t *r)
{
    free(r->ak);
    free(r->ak_cert);
    att_tpm_chain_free(&r->ak_chain);
    free(r->quote);
    free(r->sig);
    free(r->pcrs);
    free(r->tcg);
    free(r->ima);
    free(r->challenge);
    free(r->payload);
    EVP_PKEY_free(r->request_key);
    free(r->cert_pub);
    free(r->cert_att);
    free(r->cert_sig);
    json_decref(r->claims);
}

/* The presented PCR values in the quote's selection order: bank by bank, PCRs ascending. Every
 * quoted PCR must have exactly one value, and no value may be outside the quote. Native form:
 * [{"algorithm": "sha256", "values": [{"index": 0, "digest": hex}]}]; MAA's (maa): "algorithm"
 * the TPM_ALG_ID number, "digest" base64url. */
static att_err_t att_tpm_pcrs(const json_t *jp, bool maa, const att_tpm_attest_t *q, uint8_t **out,
                              size_t *len, att_diag_t *diag)
{
    *out = NULL;
    *len = 0;
    if (!json_is_array(jp) || json_array_size(jp) == 0 || json_array_size(jp) > ATT_TPM_MAX_BANKS)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TPM round 2: pcrs must be an array of 1 to %d banks",
                            ATT_TPM_MAX_BANKS);
    uint8_t vals[ATT_TPM_MAX_BANKS][ATT_TPM_NUM_PCRS][ATT_TPM_MAX_DIGEST];
    uint32_t seen[ATT_TPM_MAX_BANKS] = {0};
    for (size_t k = 0; k < json_array_size(jp); k++) {
        json_t *bank = json_array_get(jp, k), *vals_j = json_object_get(bank, "values");
        json_t *ja = json_object_get(bank, "algorithm");
        const char *alg = maa ? NULL : json_string_value(ja);
        json_int_t id = maa && json_is_integer(ja) ? json_integer_value(ja) : -1;
        char aname[16];
        size_t b = q->nsel;
        for (size_t i = 0; i < q->nsel; i++)
            if ((alg != NULL && strcmp(att_tpm_alg_name(q->sel[i].alg), alg) == 0) ||
                (maa && id == q->sel[i].alg))
                b = i;
        if ((!maa && alg == NULL) || (maa && (id < 0 || id > 0xffff)) || !json_is_array(vals_j) ||
            json_array_size(vals_j) > ATT_TPM_NUM_PCRS)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "TPM round 2: pcrs[%zu] must be {\"algorithm\": %s, \"values\": "
                                "[at most %d {\"index\", \"digest\"}]}",
                                k, maa ? "TPM_ALG_ID number" : "name", ATT_TPM_NUM_PCRS);
        if (maa)
            snprintf(aname, sizeof aname, "%s", att_tpm_alg_name((uint16_t)id));
        else
            snprintf(aname, sizeof aname, "%.15s", alg);
        if (b == q->nsel)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "TPM round 2: pcrs has bank %s, which the quote does not cover",
                                aname);
        size_t ds = att_tpm_digest_size(q->sel[b].alg);
        for (size_t i = 0; i < json_array_size(vals_j); i++) {
            json_t *v = json_array_get(vals_j, i), *ji = json_object_get(v, "index");
            json_t *jd = json_object_get(v, "digest");
            const char *dig = json_string_value(jd);
            json_int_t idx = json_is_integer(ji) ? json_integer_value(ji) : -1;
            if (idx < 0 || idx >= ATT_TPM_NUM_PCRS || dig == NULL)
                return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                    "TPM round 2: pcrs[%zu].values[%zu] must be {\"index\": "
                                    "0-%d, \"digest\": %s}",
                                    k, i, ATT_TPM_NUM_PCRS - 1, maa ? "base64url" : "hex");
            if (!(q->sel[b].mask & (1u << idx)))
                return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                    "TPM round 2: pcrs has %s PCR %d, which the quote does not "
                                    "cover",
                                    aname, (int)idx);
            if (seen[b] & (1u << idx))
                return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                    "TPM round 2: pcrs has %s PCR %d twice", aname, (int)idx);
            bool ok;
            if (maa) {
                uint8_t *raw = NULL;
                size_t rl = 0;
                ok = att_b64_decode(dig, json_string_length(jd), false, &raw, &rl) && rl == ds;
                if (ok)
                    memcpy(vals[b][idx], raw, ds);
                free(raw);
            } else {
                ok = json_string_length(jd) == 2 * ds &&
                     att_hex_decode(dig, 2 * ds, vals[b][idx], ds);
            }
            if (!ok)
                return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                    "TPM round 2: the digest of %s PCR %d must be %zu bytes in %s",
                                    aname, (int)idx, ds, maa ? "base64url" : "hex");
            seen[b] |= 1u << idx;
        }
    }
    size_t total = 0;
    for (size_t b = 0; b < q->nsel; b++)
        total += (size_t)__builtin_popcount(q->sel[b].mask) * att_tpm_digest_size(q->sel[b].alg);
    uint8_t *buf = malloc(total ? total : 1);
    if (buf == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    size_t off = 0;
    for (size_t b = 0; b < q->nsel; b++) {
        size_t ds = att_tpm_digest_size(q->sel[b].alg);
        for (int i = 0; i < ATT_TPM_NUM_PCRS; i++) {
            if (!(q->sel[b].mask & (1u << i)))
                continue;
            if (!(seen[b] & (1u << i))) {
                free(buf);
                return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                    "TPM round 2: the quote covers %s PCR %d but pcrs has no "
                                    "value for it",
                                    att_tpm_alg_name(q->sel[b].alg), i);
            }
            memcpy(buf + off, vals[b][i], ds);
            off += ds;
        }
    }
    *out = buf;
    *len = off;
    return ATT_OK;
}

/* ---- the native round 2 ---- */

static att_err_t att_tpm_native(const att_ev_tpm_t *x, const json_t *req, att_r2_t *r,
                                att_diag_t *diag)
{
    att_err_t e;
    r->where = "request";
    r->purpose = "service context";
    r->sc = json_string_value(json_object_get(req, "service_context"));
    json_t *jn = json_object_get(req, "context");
    if (r->sc != NULL && jn != NULL)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TPM round 2: request has both service_context (round 1's) and "
                            "context (GET /tpm/nonce's); give one");
    if (jn != NULL) { /* the one-shot form: the context of GET /tpm/nonce */
        r->purpose = "nonce";
        if ((r->sc = json_string_value(jn)) == NULL)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "TPM one-shot: context must be the string GET /tpm/nonce gave");
    }
    if (r->sc == NULL)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TPM round 2: request.service_context (from round 1) is missing, "
                            "or for the one-shot form the context of GET /tpm/nonce");
    if ((e = att_tpm_b64(req, "request", "ak", false, &r->ak, &r->ak_len, diag)) != ATT_OK ||
        (e = att_tpm_b64(req, "request", "quote", false, &r->quote, &r->quote_len, diag)) !=
            ATT_OK ||
        (e = att_tpm_b64(req, "request", "signature", false, &r->sig, &r->sig_len, diag)) !=
            ATT_OK ||
        (e = att_tpm_b64(req, "request", "tcg_log", true, &r->tcg, &r->tcg_len, diag)) != ATT_OK ||
        (e = att_tpm_b64(req, "request", "ima_log", true, &r->ima, &r->ima_len, diag)) != ATT_OK ||
        (e = att_tpm_b64(req, "request", "ak_cert", true, &r->ak_cert, &r->ak_cert_len, diag)) !=
            ATT_OK ||
        (e = att_tpm_chain(req, "request", "ak_chain", x ? x->max_chain : ATT_TPM_MAX_CHAIN,
                           &r->ak_chain, diag)) != ATT_OK)
        return e;
    return ATT_OK;
}

/* ---- MAA's request v2 (attReqV2) ---- */

/* The exact bytes of a member path of a JSON text: att_data.request_key.jwk as sent. */
static bool att_tpm_raw_path(const char *json, size_t len, const char *const *path, size_t n,
                             const char **val, size_t *vlen)
{
    for (size_t i = 0; i < n; i++) {
        if (!att_json_raw_member(json, len, path[i], val, vlen))
            return false;
        json = *val;
        len = *vlen;
    }
    return true;
}

/* A custom claim's or rp field's text, bounded. */
static att_err_t att_tpm_text(const att_ev_tpm_t *x, json_t *j, const char *what, att_diag_t *diag)
{
    if (!json_is_string(j))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "attReqV2: %s must be a string", what);
    if (json_string_length(j) > x->max_claim_bytes)
        return att_diag_set(diag, ATT_E_LIMIT,
                            "attReqV2: %s has %zu bytes; at most %zu (--tpm-max-claim-bytes)", what,
                            json_string_length(j), x->max_claim_bytes);
    return ATT_OK;
}

/* request_key: the JWK (public, of the JWS's algorithm) and its binding to the TPM. */
static att_err_t att_tpm_request_key(json_t *rk, const char *alg, att_r2_t *r, json_t **policy_key,
                                     att_diag_t *diag)
{
    json_t *jwk = json_object_get(rk, "jwk"), *info = json_object_get(rk, "info");
    if (!json_is_object(jwk))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "attReqV2: att_data.request_key.jwk must be a JWK object");
    if (json_object_get(jwk, "d") != NULL)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "attReqV2: att_data.request_key.jwk carries a private key (\"d\")");
    r->request_key = jose_openssl_jwk_to_EVP_PKEY(NULL, jwk);
    ERR_clear_error();
    int id = r->request_key ? EVP_PKEY_get_base_id(r->request_key) : 0;
    int bits = r->request_key ? EVP_PKEY_get_bits(r->request_key) : 0;
    bool es = strcmp(alg, "ES256") == 0;
    if (r->request_key == NULL || (es && (id != EVP_PKEY_EC || bits != 256)) ||
        (!es && (id != EVP_PKEY_RSA || bits < 2048 || bits > 4096)))
        return att_diag_set(diag, ATT_E_JWS_ALG,
                            "attReqV2: att_data.request_key.jwk is not a %s key (%s)", alg,
                            es ? "EC P-256" : "RSA of 2048 to 4096 bits");
    json_t *tq = json_object_get(info, "tpm_quote"), *tc = json_object_get(info, "tpm_certify");
    if ((tq != NULL) == (tc != NULL))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "attReqV2: att_data.request_key.info must bind the key to the TPM "
                            "with exactly one of tpm_quote and tpm_certify");
    if (tq != NULL) {
        const char *h = json_string_value(json_object_get(tq, "hash_alg"));
        r->bind = ATT_BIND_QUOTE;
        r->bind_hash = h == NULL               ? 0
                       : !strcmp(h, "sha-256") ? ATT_TPM_ALG_SHA256
                       : !strcmp(h, "sha-384") ? ATT_TPM_ALG_SHA384
                       : !strcmp(h, "sha-512") ? ATT_TPM_ALG_SHA512
                                               : 0;
        if (r->bind_hash == 0)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "attReqV2: request_key.info.tpm_quote.hash_alg must be "
                                "\"sha-256\", \"sha-384\" or \"sha-512\"");
        *policy_key =
            json_pack("{s:O,s:{s:{s:s}}}", "jwk", jwk, "info", "tpm_quote", "hash_alg", h);
        return *policy_key ? ATT_OK : att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    r->bind = ATT_BIND_CERTIFY;
    uint8_t *pub = NULL;
    size_t pl = 0;
    att_err_t e;
    if ((e = att_tpm_b64(tc, "request_key.info.tpm_certify", "public", false, &pub, &pl, diag)) !=
            ATT_OK ||
        (e = att_tpm_b64(tc, "request_key.info.tpm_certify", "certification", false, &r->cert_att,
                         &r->cert_att_len, diag)) != ATT_OK ||
        (e = att_tpm_b64(tc, "request_key.info.tpm_certify", "signature", false, &r->cert_sig,
                         &r->cert_sig_len, diag)) != ATT_OK) {
        free(pub);
        return e;
    }
    /* "public" is a TPMT_PUBLIC: its key must be the JWK's */
    TPMT_PUBLIC tp;
    size_t off = 0;
    const char *why = "it does not parse";
    EVP_PKEY *k = NULL;
    memset(&tp, 0, sizeof tp);
    if (pl > 0xffff || Tss2_MU_TPMT_PUBLIC_Unmarshal(pub, pl, &off, &tp) != TSS2_RC_SUCCESS ||
        off != pl || (k = att_tpm_public_key(&tp, &why)) == NULL) {
        free(pub);
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "attReqV2: request_key.info.tpm_certify.public is not a usable "
                            "TPMT_PUBLIC: %s",
                            why);
    }
    bool same = EVP_PKEY_eq(k, r->request_key) == 1;
    EVP_PKEY_free(k);
    ERR_clear_error();
    if (!same) {
        free(pub);
        return att_diag_set(diag, ATT_E_EVIDENCE_BINDING,
                            "attReqV2: request_key.info.tpm_certify.public is another key than "
                            "request_key.jwk");
    }
    if ((r->cert_pub = malloc(pl + 2)) == NULL) {
        free(pub);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    r->cert_pub[0] = (uint8_t)(pl >> 8);
    r->cert_pub[1] = (uint8_t)pl;
    memcpy(r->cert_pub + 2, pub, pl);
    r->cert_pub_len = pl + 2;
    free(pub);
    char *ap =
        tp.authPolicy.size ? att_b64url_encode(tp.authPolicy.buffer, tp.authPolicy.size) : NULL;
    json_t *ti =
        json_pack("{s:i,s:I}", "name_alg", tp.nameAlg, "obj_attr", (json_int_t)tp.objectAttributes);
    if (ti != NULL && ap != NULL)
        json_object_set_new(ti, "auth_policy", json_string(ap));
    free(ap);
    *policy_key = ti ? json_pack("{s:O,s:{s:o}}", "jwk", jwk, "info", "tpm_certify", ti) : NULL;
    return *policy_key ? ATT_OK : att_diag_set(diag, ATT_E_NOMEM, "out of memory");
}

/* {"request": "<JWS>"}: the JWS checked with request_key.jwk, its payload read into r. */
static att_err_t att_tpm_attreq(const att_ev_tpm_t *x, const char *jws, size_t jlen, att_r2_t *r,
                                json_t **payload_out, att_diag_t *diag)
{
    r->v2 = true;
    r->where = "att_data.tpm_att_data.current_attestation";
    const char *d1 = memchr(jws, '.', jlen),
               *d2 = d1 ? memchr(d1 + 1, '.', jlen - (size_t)(d1 + 1 - jws)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', jlen - (size_t)(d2 + 1 - jws)) != NULL)
        return att_diag_set(diag, ATT_E_JWS_FORMAT,
                            "attReqV2: request is not a compact JWS (three base64url parts)");
    uint8_t *hb = NULL, *pb = NULL;
    size_t hl = 0, pl = 0;
    json_t *hdr = NULL, *p = NULL, *flat = NULL, *claims = NULL, *pk = NULL;
    json_error_t je;
    att_err_t e = ATT_OK;
    if (!att_b64_decode(jws, (size_t)(d1 - jws), false, &hb, &hl) ||
        !att_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), false, &pb, &pl) ||
        (hdr = json_loadb((const char *)hb, hl, JSON_REJECT_DUPLICATES, &je)) == NULL ||
        !json_is_object(hdr)) {
        e = att_diag_set(diag, ATT_E_JWS_FORMAT,
                         "attReqV2: the JWS header or payload is not base64url of JSON");
        goto out;
    }
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    const char *typ = json_string_value(json_object_get(hdr, "typ"));
    if (alg == NULL || (strcmp(alg, "PS256") && strcmp(alg, "RS256") && strcmp(alg, "ES256"))) {
        e = att_diag_set(diag, ATT_E_JWS_ALG,
                         "attReqV2: the JWS alg is \"%.16s\"; PS256, RS256 and ES256 are taken",
                         alg ? alg : "");
        goto out;
    }
    if (json_object_get(hdr, "crit") != NULL) {
        e = att_diag_set(diag, ATT_E_JWS_FORMAT, "attReqV2: the JWS header has \"crit\"");
        goto out;
    }
    if (typ == NULL || strcmp(typ, "attReqV2") != 0) {
        e = att_diag_set(diag, ATT_E_UNSUPPORTED,
                         "attReqV2: the JWS typ is \"%.32s\"; only MAA's request v2 "
                         "(\"attReqV2\") is supported",
                         typ ? typ : "");
        goto out;
    }
    if ((p = att_json_loadb((const char *)pb, pl, JSON_REJECT_DUPLICATES, &je)) == NULL ||
        !json_is_object(p)) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "attReqV2: the payload is not a JSON object");
        goto out;
    }
    const char *att_type = json_string_value(json_object_get(p, "att_type"));
    if (att_type != NULL && strcmp(att_type, "vbs") == 0) {
        e = att_diag_set(diag, ATT_E_UNSUPPORTED,
                         "attReqV2: att_type \"vbs\" (VBS enclave attestation) is not supported; "
                         "send \"basic\"");
        goto out;
    }
    if (att_type == NULL || strcmp(att_type, "basic") != 0) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                         "attReqV2: att_type must be \"basic\" (or \"vbs\")");
        goto out;
    }
    json_t *ad = json_object_get(p, "att_data");
    json_t *tad = json_object_get(ad, "tpm_att_data");
    json_t *cur = json_object_get(tad, "current_attestation");
    if (!json_is_object(ad) || !json_is_object(cur)) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                         "attReqV2: att_data.tpm_att_data.current_attestation is missing");
        goto out;
    }
    if (json_object_get(tad, "boot_attestation") != NULL ||
        json_object_get(ad, "other_keys") != NULL) {
        e = att_diag_set(diag, ATT_E_UNSUPPORTED, "attReqV2: %s is not supported",
                         json_object_get(tad, "boot_attestation") != NULL
                             ? "tpm_att_data.boot_attestation (hibernate and resume)"
                             : "att_data.other_keys");
        goto out;
    }
    /* the signature, with the request key */
    if ((e = att_tpm_request_key(json_object_get(ad, "request_key"), alg, r, &pk, diag)) != ATT_OK)
        goto out;
    flat = json_pack("{s:s%,s:s%,s:s%}", "protected", jws, (size_t)(d1 - jws), "payload", d1 + 1,
                     (size_t)(d2 - d1 - 1), "signature", d2 + 1, jlen - (size_t)(d2 + 1 - jws));
    json_t *jwk = json_object_get(json_object_get(ad, "request_key"), "jwk");
    bool good = flat != NULL && jose_jws_ver(NULL, flat, NULL, jwk, false);
    ERR_clear_error();
    if (!good) {
        e = att_diag_set(diag, ATT_E_JWS_SIGNATURE,
                         "attReqV2: the JWS signature (%s) does not verify with "
                         "att_data.request_key.jwk",
                         alg);
        goto out;
    }
    if (r->bind == ATT_BIND_QUOTE) {
        static const char *const path[] = {"att_data", "request_key", "jwk"};
        if (!att_tpm_raw_path((const char *)pb, pl, path, 3, &r->jwk_raw, &r->jwk_raw_len)) {
            e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                             "attReqV2: att_data.request_key.jwk cannot be read as sent");
            goto out;
        }
    }
    r->sc = json_string_value(json_object_get(ad, "service_context"));
    if (r->sc == NULL) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                         "attReqV2: att_data.service_context (from round 1) is missing");
        goto out;
    }
    if ((e = att_tpm_b64(ad, "att_data", "challenge", false, &r->challenge, &r->challenge_len,
                         diag)) != ATT_OK)
        goto out;
    /* the current attestation */
    json_t *ap = json_object_get(cur, "aik_pub"), *logs = json_object_get(cur, "logs");
    if (ap != NULL) {
        char *t = json_is_object(ap) ? json_dumps(ap, JSON_COMPACT) : NULL;
        if (t == NULL) {
            e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "attReqV2: aik_pub must be a JWK");
            goto out;
        }
        r->ak = (uint8_t *)t;
        r->ak_len = strlen(t);
    }
    if ((e = att_tpm_b64(cur, r->where, "aik_cert", true, &r->ak_cert, &r->ak_cert_len, diag)) !=
            ATT_OK ||
        (e = att_tpm_b64(cur, r->where, "quote", false, &r->quote, &r->quote_len, diag)) !=
            ATT_OK ||
        (e = att_tpm_b64(cur, r->where, "signature", false, &r->sig, &r->sig_len, diag)) != ATT_OK)
        goto out;
    if (r->ak == NULL && r->ak_cert == NULL) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                         "attReqV2: %s has neither aik_pub nor aik_cert", r->where);
        goto out;
    }
    if (logs != NULL && (!json_is_array(logs) || json_array_size(logs) > 2)) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                         "attReqV2: logs must be an array of at most one TCG and one IMA log");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(logs); i++) {
        json_t *l = json_array_get(logs, i);
        const char *t = json_string_value(json_object_get(l, "type"));
        bool tcg = t && !strcmp(t, "TCG"), ima = t && !strcmp(t, "IMA");
        if ((!tcg && !ima) || (tcg && r->tcg) || (ima && r->ima)) {
            e = att_diag_set(diag, tcg || ima ? ATT_E_UNSUPPORTED : ATT_E_EVIDENCE_FORMAT,
                             "attReqV2: logs[%zu]: %s", i,
                             tcg || ima ? "one log of each type (TCG, IMA) is supported"
                                        : "type must be \"TCG\" or \"IMA\"");
            goto out;
        }
        if ((e = att_tpm_b64(l, "logs[]", "log", false, tcg ? &r->tcg : &r->ima,
                             tcg ? &r->tcg_len : &r->ima_len, diag)) != ATT_OK)
            goto out;
    }
    /* claims the request carries: the request key, rp_id, rp_data, custom claims (bounded) */
    if ((claims = json_object()) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    json_object_set(claims, "x-attestd-tpm-request-key", pk);
    /* MAA's outgoing TPM claims: cnf, the request key as RFC 7800's proof-of-possession key, and
     * rp_data as sent (only when there is one) */
    json_t *pk_jwk = json_object_get(pk, "jwk");
    if (pk_jwk != NULL)
        json_object_set_new(claims, "cnf", json_pack("{s:O}", "jwk", pk_jwk));
    static const char *const rp[][2] = {{"rp_id", "x-attestd-tpm-rp-id"},
                                        {"rp_data", "x-attestd-tpm-rp-data"}};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(ad, rp[i][0]);
        if (v == NULL)
            continue;
        if ((e = att_tpm_text(x, v, rp[i][0], diag)) != ATT_OK)
            goto out;
        json_object_set(claims, rp[i][1], v);
        if (i == 1)
            json_object_set(claims, "rp_data", v);
    }
    json_t *cc = json_object_get(ad, "custom_claims");
    if (cc != NULL) {
        if (!json_is_array(cc)) {
            e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                             "attReqV2: custom_claims must be an array");
            goto out;
        }
        if (json_array_size(cc) > x->max_custom) {
            e = att_diag_set(diag, ATT_E_LIMIT,
                             "attReqV2: %zu custom_claims; at most %zu (--tpm-max-custom-claims)",
                             json_array_size(cc), x->max_custom);
            goto out;
        }
        json_t *out_cc = json_array(), *c;
        size_t i;
        json_object_set_new(claims, "x-attestd-tpm-custom-claims", out_cc);
        json_array_foreach(cc, i, c)
        {
            json_t *vt = json_object_get(c, "value_type");
            if ((e = att_tpm_text(x, json_object_get(c, "name"), "custom_claims[].name", diag)) !=
                    ATT_OK ||
                (e = att_tpm_text(x, json_object_get(c, "value"), "custom_claims[].value", diag)) !=
                    ATT_OK ||
                (vt != NULL &&
                 (e = att_tpm_text(x, vt, "custom_claims[].value_type", diag)) != ATT_OK))
                goto out;
            json_array_append_new(out_cc, json_pack("{s:O,s:O,s:O*}", "name",
                                                    json_object_get(c, "name"), "value",
                                                    json_object_get(c, "value"), "value_type", vt));
        }
    }
    r->claims = claims;
    claims = NULL;
    *payload_out = p;
    p = NULL;
out:
    free(hb);
    r->payload = pb; /* kept: jwk_raw points into it */
    json_decref(hdr);
    json_decref(p);
    json_decref(flat);
    json_decref(claims);
    json_decref(pk);
    return e;
}

/* ---- claims ---- */

/* {alg: hex} of an event's digests. */
static json_t *att_tpm_event_digests(const att_tpm_event_t *ev)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < ev->ndigests; i++) {
        char h[2 * ATT_TPM_MAX_DIGEST + 1];
        att_hex_encode(ev->digests[i].d, att_tpm_digest_size(ev->digests[i].alg), h);
        json_object_set_new(o, att_tpm_alg_name(ev->digests[i].alg), json_string(h));
    }
    return o;
}

json_t *att_ev_tpm_pcr_claims(const att_tpm_pcrs_t *p, json_t *idx)
{
    json_t *pcrs = json_object();
    for (size_t b = 0; pcrs != NULL && b < p->nsel; b++) {
        json_t *bank = json_object();
        size_t ds = att_tpm_digest_size(p->sel[b].alg);
        for (int i = 0; bank != NULL && i < ATT_TPM_NUM_PCRS; i++) {
            if (!(p->sel[b].mask & (1u << i)))
                continue;
            char key[4], h[2 * ATT_TPM_MAX_DIGEST + 1];
            snprintf(key, sizeof key, "%d", i);
            att_hex_encode(p->values[b][i], ds, h);
            if (json_object_set_new(bank, key, json_string(h)) != 0 ||
                (idx != NULL && b == 0 && json_array_append_new(idx, json_integer(i)) != 0)) {
                json_decref(bank);
                bank = NULL;
            }
        }
        if (bank == NULL || json_object_set_new(pcrs, att_tpm_alg_name(p->sel[b].alg), bank) != 0) {
            json_decref(pcrs);
            pcrs = NULL;
        }
    }
    return pcrs;
}

static json_t *att_tpm_claims(const att_tpm_result_t *r)
{
    json_t *c = json_object(), *pcrs = att_ev_tpm_pcr_claims(&r->pcrs, NULL);
    if (c == NULL || pcrs == NULL) {
        json_decref(c);
        json_decref(pcrs);
        return NULL;
    }
    char fw[19];
    snprintf(fw, sizeof fw, "0x%016" PRIx64, r->attest.firmware_version);
    json_object_set_new(c, "x-attestd-tpm-pcrs", pcrs);
    json_object_set_new(c, "x-attestd-tpm-clock", json_integer((json_int_t)r->attest.clock));
    json_object_set_new(c, "x-attestd-tpm-reset-count", json_integer(r->attest.reset_count));
    json_object_set_new(c, "x-attestd-tpm-restart-count", json_integer(r->attest.restart_count));
    json_object_set_new(c, "x-attestd-tpm-firmware-version", json_string(fw));
    if (r->ak.tpm_public)
        json_object_set_new(c, "x-attestd-tpm-ak-name", att_tpm_hexj(r->ak.name, r->ak.name_len));
    if (r->replayed && r->secure_boot >= 0) {
        json_object_set_new(c, "x-attestd-tpm-secure-boot", json_boolean(r->secure_boot == 1));
        json_object_set_new(c, "secureBootEnabled", json_boolean(r->secure_boot == 1));
    }
    if (r->replayed && r->boot_manager >= 0 && (size_t)r->boot_manager < r->events.n)
        json_object_set_new(c, "x-attestd-tpm-boot-manager",
                            att_tpm_event_digests(&r->events.v[r->boot_manager]));
    if (r->replayed && r->kernel >= 0 && (size_t)r->kernel < r->events.n)
        json_object_set_new(c, "x-attestd-tpm-kernel",
                            att_tpm_event_digests(&r->events.v[r->kernel]));
    json_object_set_new(c, "tpmVersion", json_integer(2));
    return c;
}

static void att_tpm_detail_free(void *p)
{
    att_tpm_result_free(p);
    free(p);
}

/* The configured ways, for the message of an AK that none of them trusts. */
static void att_tpm_ways(const att_ev_tpm_t *x, char *buf, size_t len)
{
    snprintf(buf, len,
             "the ways configured: %zu AK(s) pinned with --tpm-ak, %zu AK CA certificate(s) "
             "(--tpm-ak-ca), %zu EK CA certificate(s) for credential activation (--tpm-ek-ca)",
             x ? x->n : 0, x ? att_tpm_ca_count(x->ak_ca) : 0, x ? att_tpm_ca_count(x->ek_ca) : 0);
}

/* in->evidence: the round-2 message, {"request": {...}} or {"request": "<JWS>"}. */
static att_err_t att_tpm_verify_round2(void *inst, const att_ev_input_t *in, att_ev_result_t *out)
{
    att_ev_tpm_t *x = inst;
    att_diag_t *diag = &out->diag;
    json_error_t je;
    json_t *msg = att_json_loadb((const char *)in->evidence, in->len, JSON_REJECT_DUPLICATES, &je);
    json_t *req = json_object_get(msg, "request"), *payload = NULL;
    att_r2_t r;
    memset(&r, 0, sizeof r);
    uint8_t *ctxd = NULL, *nonce = NULL;
    size_t ctxl = 0, nlen = 0;
    att_tpm_ak_t *ak = NULL;
    uint8_t akh[32]; /* SHA-256 of the AK's SubjectPublicKeyInfo */
    bool has_akh = false;
    att_tpm_result_t *res = NULL;
    att_tpm_ctx_t c;
    att_tpm_cert_info_t ci;
    const char *trust = NULL;
    char ways[256];
    att_diag_t d;
    att_err_t e;
    memset(&c, 0, sizeof c);
    if (json_is_string(req)) {
        e = att_tpm_attreq(x, json_string_value(req), json_string_length(req), &r, &payload, diag);
    } else if (json_is_object(req)) {
        e = att_tpm_native(x, req, &r, diag);
    } else {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                         "TPM round 2 is {\"request\": {\"service_context\", \"ak\", \"quote\", "
                         "\"signature\", \"pcrs\", ...}} or {\"request\": \"<attReqV2 JWS>\"}");
    }
    if (e != ATT_OK)
        goto out;
    att_tpm_attest_t q;
    if ((e = att_tpm_attest_parse(r.quote, r.quote_len, &q, &d)) != ATT_OK) {
        e = att_diag_set(diag, e, "TPM round 2: %s.quote: %s", r.where, d.msg);
        goto out;
    }
    if (q.type != ATT_TPM_ST_ATTEST_QUOTE) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                         "TPM round 2: %s.quote is a certify structure, not a quote", r.where);
        goto out;
    }
    json_t *jp =
        r.v2 ? json_object_get(json_object_get(json_object_get(json_object_get(payload, "att_data"),
                                                               "tpm_att_data"),
                                               "current_attestation"),
                               "pcrs")
             : json_object_get(req, "pcrs");
    if ((e = att_tpm_pcrs(jp, r.v2, &q, &r.pcrs, &r.pcrs_len, diag)) != ATT_OK)
        goto out;
    /* The AK: as presented, else the AK certificate's key. */
    if (r.ak == NULL) {
        const unsigned char *p = r.ak_cert;
        X509 *cx = d2i_X509(NULL, &p, (long)r.ak_cert_len);
        unsigned char *der = NULL;
        int dl = cx ? i2d_PUBKEY(X509_get0_pubkey(cx), &der) : -1;
        X509_free(cx);
        ERR_clear_error();
        if (dl <= 0 || (r.ak = malloc((size_t)dl)) == NULL) {
            OPENSSL_free(der);
            e = att_diag_set(diag, ATT_E_CERT_PARSE,
                             "TPM round 2: %s.aik_cert is not a DER "
                             "certificate",
                             r.where);
            goto out;
        }
        memcpy(r.ak, der, (size_t)dl);
        r.ak_len = (size_t)dl;
        OPENSSL_free(der);
    }
    if ((e = att_tpm_ak_cached(x, r.ak, r.ak_len, &ak, akh, &has_akh, &d)) != ATT_OK) {
        e = att_diag_set(diag, e, "TPM round 2: %s.%s: %s", r.where, r.v2 ? "aik_pub" : "ak",
                         d.msg);
        goto out;
    }
    /* Trust, before the context is spent where it does not depend on it: pinned, then an AK
     * certificate. */
    for (size_t i = 0; x != NULL && i < x->n && trust == NULL; i++)
        if (EVP_PKEY_eq(x->aks[i]->key, ak->key) == 1)
            trust = "pinned";
    if (trust == NULL && r.ak_cert != NULL && x != NULL && att_tpm_ca_count(x->ak_ca) > 0) {
        if ((e = att_tpm_akcert_verify(x->ak_ca, ak, r.ak_cert, r.ak_cert_len,
                                       (const uint8_t *const *)r.ak_chain.der, r.ak_chain.len,
                                       r.ak_chain.n, in->now, &ci, &d)) != ATT_OK) {
            e = att_diag_set(diag, e, "TPM round 2: %s", d.msg);
            goto out;
        }
        trust = "ak-cert";
    }
    att_tpm_ways(x, ways, sizeof ways);
    if (trust == NULL && (x == NULL || att_tpm_ca_count(x->ek_ca) == 0)) {
        e = att_diag_set(diag, ATT_E_TPM_AK, "the AK (%s) is not one this service trusts: %s; %s",
                         att_tpm_ak_info(ak)->desc,
                         x != NULL && x->n > 0 ? "it is none of the keys pinned with --tpm-ak"
                                               : "no AK is pinned with --tpm-ak",
                         ways);
        goto out;
    }
    /* The challenge: the service context opened once, before its expiry. */
    if (in->open == NULL) {
        e = att_diag_set(diag, ATT_E_ARG, "TPM round 2: no way to open the service context");
        goto out;
    }
    if ((e = in->open(in->open_arg, r.v2 ? "service context" : r.purpose, r.sc, &ctxd, &ctxl,
                      &d)) != ATT_OK) {
        e = att_diag_set(diag, e, "%s", d.msg);
        goto out;
    }
    if (!att_tpm_ctx_get(ctxd, ctxl, &c)) {
        e = att_diag_set(diag, ATT_E_CHALLENGE,
                         "the service context does not hold a TPM challenge");
        goto out;
    }
    if (c.activation) {
        const att_tpm_ak_info_t *ai = att_tpm_ak_info(ak);
        if (!has_akh || !att_ct_equal(akh, c.spki, 32) ||
            (ai->tpm_public &&
             (ai->name_len != c.name_len || memcmp(ai->name, c.name, c.name_len) != 0))) {
            char want[2 * ATT_TPM_MAX_NAME + 1];
            att_hex_encode(c.name, c.name_len, want);
            e = att_diag_set(diag, ATT_E_TPM_AK,
                             "the AK (%s) is not the one activated in round 1 (name %s)", ai->desc,
                             want);
            goto out;
        }
        if (trust == NULL)
            trust = "ek-activation";
    }
    if (trust == NULL) {
        e = att_diag_set(diag, ATT_E_TPM_AK,
                         "the AK (%s) is not one this service trusts: %s, and the service "
                         "context is not from an EK activation (round 1 type \"activate\"); %s",
                         att_tpm_ak_info(ak)->desc,
                         x->n > 0 ? "it is none of the keys pinned with --tpm-ak"
                                  : "no AK is pinned with --tpm-ak",
                         ways);
        goto out;
    }
    /* The nonce: the challenge, or the request key's binding digest. */
    if (r.v2) {
        if (r.challenge_len != 32 || !att_ct_equal(r.challenge, c.challenge, 32)) {
            e = att_diag_set(diag, ATT_E_CHALLENGE,
                             "attReqV2: att_data.challenge is not the challenge of the service "
                             "context");
            goto out;
        }
        if (r.bind == ATT_BIND_CERTIFY &&
            (e = att_tpm_certify_verify(ak, r.cert_att, r.cert_att_len, r.cert_sig, r.cert_sig_len,
                                        c.challenge, 32, r.cert_pub, r.cert_pub_len, &d)) !=
                ATT_OK) {
            e = att_diag_set(diag, e, "attReqV2: request_key.info.tpm_certify: %s", d.msg);
            goto out;
        }
    }
    nlen = r.bind == ATT_BIND_QUOTE ? att_tpm_digest_size(r.bind_hash) : 32;
    if ((nonce = malloc(nlen)) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    if (r.bind == ATT_BIND_QUOTE) {
        const EVP_MD *md = att_tpm_md(r.bind_hash);
        EVP_MD_CTX *mc = EVP_MD_CTX_new();
        unsigned int ol = 0;
        bool ok = mc != NULL && EVP_DigestInit_ex(mc, md, NULL) == 1 &&
                  EVP_DigestUpdate(mc, r.jwk_raw, r.jwk_raw_len) == 1 &&
                  EVP_DigestUpdate(mc, "", 1) == 1 && EVP_DigestUpdate(mc, c.challenge, 32) == 1 &&
                  EVP_DigestFinal_ex(mc, nonce, &ol) == 1 && ol == nlen;
        EVP_MD_CTX_free(mc);
        if (!ok) {
            e = att_diag_set(diag, ATT_E_INTERNAL, "hashing the request key binding failed");
            goto out;
        }
    } else {
        memcpy(nonce, c.challenge, 32);
    }
    if ((res = calloc(1, sizeof(*res))) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    att_tpm_input_t ti = {.ak_key = ak,
                          .quote = r.quote,
                          .quote_len = r.quote_len,
                          .sig = r.sig,
                          .sig_len = r.sig_len,
                          .pcrs = r.pcrs,
                          .pcrs_len = r.pcrs_len,
                          .nonce = nonce,
                          .nonce_len = nlen,
                          .eventlog = r.tcg,
                          .eventlog_len = r.tcg_len,
                          .ima = r.ima,
                          .ima_len = r.ima_len,
                          .limits = x ? &x->limits : NULL};
    if ((e = att_tpm_verify(&ti, res)) != ATT_OK) {
        if (e == ATT_E_TPM_NONCE && r.bind == ATT_BIND_QUOTE)
            att_diag_set(diag, e,
                         "%s (attReqV2 with tpm_quote: the qualifyingData must be %s(the "
                         "request_key.jwk member as sent || 0x00 || challenge))",
                         res->diag.msg, att_tpm_alg_name(r.bind_hash));
        else
            att_diag_set(diag, e, "%s", res->diag.msg);
        goto out;
    }
    if ((out->claims = att_tpm_claims(res)) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    /* how the AK was trusted, with the certificates' names; MAA's aikValidated/aikPubHash */
    char *khb = has_akh ? att_b64std_encode(akh, 32) : NULL;
    json_object_set_new(out->claims, "x-attestd-tpm-ak-trust", json_string(trust));
    json_object_set_new(out->claims, "aikValidated", json_true());
    if (khb != NULL)
        json_object_set_new(out->claims, "aikPubHash", json_string(khb));
    free(khb);
    if (!strcmp(trust, "ak-cert")) {
        json_object_set_new(out->claims, "x-attestd-tpm-ak-cert-subject", json_string(ci.subject));
        json_object_set_new(out->claims, "x-attestd-tpm-ak-cert-issuer", json_string(ci.issuer));
    } else if (!strcmp(trust, "ek-activation")) {
        json_object_set_new(out->claims, "x-attestd-tpm-ek-cert-subject",
                            json_string(c.ek_subject));
        json_object_set_new(out->claims, "x-attestd-tpm-ek-cert-issuer", json_string(c.ek_issuer));
    }
    if (r.claims != NULL)
        json_object_update(out->claims, r.claims);
    out->detail = res;
    out->detail_free = att_tpm_detail_free;
    res = NULL;
out:
    if (res != NULL)
        att_tpm_detail_free(res);
    OPENSSL_cleanse(&c, sizeof c);
    att_tpm_ak_free(ak);
    att_r2_free(&r);
    free(ctxd);
    free(nonce);
    json_decref(payload);
    json_decref(msg);
    return e;
}

static const char *const att_tpm_fields[] = {"data", NULL};

static const char *const att_tpm_claim_names[] = {"x-attestd-tpm-pcrs",
                                                  "x-attestd-tpm-clock",
                                                  "x-attestd-tpm-reset-count",
                                                  "x-attestd-tpm-restart-count",
                                                  "x-attestd-tpm-firmware-version",
                                                  "x-attestd-tpm-secure-boot",
                                                  "x-attestd-tpm-boot-manager",
                                                  "x-attestd-tpm-kernel",
                                                  "x-attestd-tpm-ak-name",
                                                  "x-attestd-tpm-ak-trust",
                                                  "x-attestd-tpm-ak-cert-subject",
                                                  "x-attestd-tpm-ak-cert-issuer",
                                                  "x-attestd-tpm-ek-cert-subject",
                                                  "x-attestd-tpm-ek-cert-issuer",
                                                  "x-attestd-tpm-request-key",
                                                  "x-attestd-tpm-rp-id",
                                                  "x-attestd-tpm-rp-data",
                                                  "x-attestd-tpm-custom-claims",
                                                  "cnf",
                                                  "rp_data",
                                                  "aikValidated",
                                                  "aikPubHash",
                                                  "tpmVersion",
                                                  "secureBootEnabled",
                                                  NULL};

const att_ev_type_t att_ev_tpm = {
    .name = "Tpm",
    .attestation_type = "tpm",
    .fields = att_tpm_fields,
    .api_version = "2022-08-01",
    .claims = att_tpm_claim_names,
    .default_policy = att_ev_policy_permit_all,
    .backend = &att_ev_tpm_backend,
    .verify = att_tpm_verify_round2,
    .round = att_tpm_round,
};
