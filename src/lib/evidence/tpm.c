/* tpm.c - the Tpm type: MAA's TPM attestation protocol (docs/tpm.md), two rounds in the body
 * {"data": base64url(JSON)}.
 *
 * Round 1, {"payload": {"type": "aikcert"}}: the answer is {"payload": {"challenge": b64url(32
 * random bytes), "service_context": an opaque token}}. The token is the service's sealed
 * {challenge, expiry} (att_ev_round_ctx_t.seal: authenticated encryption under a key every
 * replica shares, spent once), so no session is kept and any replica finishes the exchange.
 * Round 2, {"request": {"service_context", "ak", "quote", "signature", "pcrs", "tcg_log"?,
 * "ima_log"?}} (docs/api.md "TPM"), goes to verify: the service context is opened (spent once,
 * not expired: in->open) to recover the challenge, the AK must be one pinned in configuration
 * (the backend's instance: --tpm-ak, att_ev_backend_t.add_key kind "tpm-ak"), and the quote is
 * verified by att_tpm_verify with the challenge as nonce and the PCR values in the quote's
 * selection order. Not checked here: AK certificates and EK credential activation (not
 * supported: an AK is trusted only when pinned), the PCR values themselves (policy).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "attest/tpm.h"
#include "attest/token.h"
#include "core/json.h"
#include "core/util.h"
#include "ev_int.h"
#include "tpm/tpm_int.h"

/* How long a round-1 challenge may be answered. */
#define ATT_EV_TPM_CHALLENGE_TTL 300

static att_err_t att_tpm_round(void *inst, const att_ev_round_ctx_t *ctx, const json_t *request,
                               json_t **answer, att_diag_t *diag)
{
    (void)inst;
    json_t *payload = json_object_get(request, "payload");
    const char *type = json_string_value(json_object_get(payload, "type"));
    if (!json_is_object(payload) || type == NULL) {
        if (json_object_get(request, "request") != NULL)
            return ATT_OK; /* round 2: the evidence */
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "a TPM attestation message is {\"payload\": {\"type\": \"aikcert\"}} "
                            "(round 1) or {\"request\": ...} (round 2)");
    }
    if (strcmp(type, "aikcert") != 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TPM attestation round 1 takes payload type \"aikcert\", not \"%.64s\"",
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

/* ---- the backend: the pinned AKs ---- */

/* At most this many pinned AKs (each is compared with the presented one). */
#define ATT_EV_TPM_MAX_AKS 1024

typedef struct {
    att_tpm_ak_t **aks;
    size_t n;
} att_ev_tpm_t;

static att_err_t att_tpm_create(void **inst, att_diag_t *diag)
{
    *inst = calloc(1, sizeof(att_ev_tpm_t));
    return *inst ? ATT_OK : att_diag_set(diag, ATT_E_NOMEM, "out of memory");
}

static void att_tpm_destroy(void *inst)
{
    att_ev_tpm_t *x = inst;
    if (x == NULL)
        return;
    for (size_t i = 0; i < x->n; i++)
        att_tpm_ak_free(x->aks[i]);
    free(x->aks);
    free(x);
}

static att_err_t att_tpm_add_root(void *inst, const uint8_t *der, size_t len, att_diag_t *diag)
{
    (void)inst;
    (void)der;
    (void)len;
    return att_diag_set(diag, ATT_E_CERT_KEY,
                        "the TPM verifier takes no root certificates (its AKs are pinned keys)");
}

/* kind "tpm-ak": a pinned AK, PEM/DER SubjectPublicKeyInfo or TPM2B_PUBLIC. */
static att_err_t att_tpm_add_key(void *inst, const char *kind, const uint8_t *buf, size_t len,
                                 const char *name, att_diag_t *diag)
{
    att_ev_tpm_t *x = inst;
    if (strcmp(kind, "tpm-ak") != 0)
        return att_diag_set(diag, ATT_E_ARG, "the TPM verifier takes keys of kind tpm-ak only");
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

static const att_ev_backend_t att_ev_tpm_backend = {
    .name = "tpm",
    .create = att_tpm_create,
    .destroy = att_tpm_destroy,
    .add_root = att_tpm_add_root,
    .add_key = att_tpm_add_key,
};

/* ---- round 2 ---- */

/* A base64url member of the request: *out malloc'd. Absent and optional: *out NULL. */
static att_err_t att_tpm_b64(const json_t *req, const char *name, bool optional, uint8_t **out,
                             size_t *len, att_diag_t *diag)
{
    *out = NULL;
    *len = 0;
    json_t *j = json_object_get(req, name);
    if (j == NULL && optional)
        return ATT_OK;
    const char *s = json_string_value(j);
    if (s == NULL || json_string_length(j) == 0 ||
        !att_b64_decode(s, json_string_length(j), false, out, len))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TPM round 2: request.%s must be a non-empty base64url string", name);
    return ATT_OK;
}

/* The presented PCR values ("pcrs": [{"algorithm": "sha256", "values": [{"index": 0, "digest":
 * hex}, ...]}, ...]) in the quote's selection order: bank by bank, PCRs ascending. Every quoted
 * PCR must have exactly one value, and no value may be outside the quote. */
static att_err_t att_tpm_pcrs(const json_t *jp, const att_tpm_attest_t *q, uint8_t **out,
                              size_t *len, att_diag_t *diag)
{
    *out = NULL;
    *len = 0;
    if (!json_is_array(jp) || json_array_size(jp) == 0 || json_array_size(jp) > ATT_TPM_MAX_BANKS)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TPM round 2: request.pcrs must be an array of 1 to %d banks",
                            ATT_TPM_MAX_BANKS);
    size_t total = 0;
    for (size_t b = 0; b < q->nsel; b++)
        total += (size_t)__builtin_popcount(q->sel[b].mask) * att_tpm_digest_size(q->sel[b].alg);
    uint8_t *buf = malloc(total ? total : 1);
    if (buf == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    uint32_t seen[ATT_TPM_MAX_BANKS] = {0};
    size_t off = 0;
    att_err_t e = ATT_OK;
    /* check every presented value and the banks first */
    for (size_t k = 0; k < json_array_size(jp) && e == ATT_OK; k++) {
        json_t *bank = json_array_get(jp, k), *vals = json_object_get(bank, "values");
        const char *alg = json_string_value(json_object_get(bank, "algorithm"));
        size_t b = q->nsel;
        for (size_t i = 0; alg != NULL && i < q->nsel; i++)
            if (strcmp(att_tpm_alg_name(q->sel[i].alg), alg) == 0)
                b = i;
        if (alg == NULL || !json_is_array(vals) || json_array_size(vals) > ATT_TPM_NUM_PCRS) {
            e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                             "TPM round 2: request.pcrs[%zu] must be {\"algorithm\": name, "
                             "\"values\": [at most %d {\"index\", \"digest\"}]}",
                             k, ATT_TPM_NUM_PCRS);
        } else if (b == q->nsel) {
            e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                             "TPM round 2: request.pcrs has bank %.16s, which the quote does not "
                             "cover",
                             alg);
        }
        for (size_t i = 0; e == ATT_OK && i < json_array_size(vals); i++) {
            json_t *v = json_array_get(vals, i), *ji = json_object_get(v, "index");
            const char *hex = json_string_value(json_object_get(v, "digest"));
            json_int_t idx = json_is_integer(ji) ? json_integer_value(ji) : -1;
            if (idx < 0 || idx >= ATT_TPM_NUM_PCRS || hex == NULL)
                e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                 "TPM round 2: request.pcrs[%zu].values[%zu] must be {\"index\": "
                                 "0-%d, \"digest\": hex}",
                                 k, i, ATT_TPM_NUM_PCRS - 1);
            else if (!(q->sel[b].mask & (1u << idx)))
                e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                 "TPM round 2: request.pcrs has %s PCR %d, which the quote does "
                                 "not cover",
                                 alg, (int)idx);
            else if (seen[b] & (1u << idx))
                e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                 "TPM round 2: request.pcrs has %s PCR %d twice", alg, (int)idx);
            else if (strlen(hex) != 2 * att_tpm_digest_size(q->sel[b].alg))
                e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                 "TPM round 2: the digest of %s PCR %d must be %zu hex digits", alg,
                                 (int)idx, 2 * att_tpm_digest_size(q->sel[b].alg));
            else
                seen[b] |= 1u << idx;
        }
    }
    /* then every quoted PCR, in selection order */
    for (size_t b = 0; b < q->nsel && e == ATT_OK; b++) {
        const char *alg = att_tpm_alg_name(q->sel[b].alg);
        size_t ds = att_tpm_digest_size(q->sel[b].alg);
        for (int i = 0; i < ATT_TPM_NUM_PCRS && e == ATT_OK; i++) {
            if (!(q->sel[b].mask & (1u << i)))
                continue;
            if (!(seen[b] & (1u << i))) {
                e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                 "TPM round 2: the quote covers %s PCR %d but request.pcrs has "
                                 "no value for it",
                                 alg, i);
                break;
            }
            const char *hex = NULL;
            for (size_t k = 0; hex == NULL && k < json_array_size(jp); k++) {
                json_t *bank = json_array_get(jp, k), *vals = json_object_get(bank, "values");
                if (strcmp(json_string_value(json_object_get(bank, "algorithm")), alg) != 0)
                    continue;
                for (size_t j = 0; hex == NULL && j < json_array_size(vals); j++) {
                    json_t *v = json_array_get(vals, j);
                    if (json_integer_value(json_object_get(v, "index")) == i)
                        hex = json_string_value(json_object_get(v, "digest"));
                }
            }
            if (hex == NULL || !att_hex_decode(hex, strlen(hex), buf + off, ds))
                e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                 "TPM round 2: the digest of %s PCR %d is not hex", alg, i);
            off += ds;
        }
    }
    if (e != ATT_OK) {
        free(buf);
        return e;
    }
    *out = buf;
    *len = off;
    return ATT_OK;
}

static json_t *att_tpm_hexj(const uint8_t *b, size_t n)
{
    char h[2 * ATT_TPM_MAX_NAME + 1];
    if (n > ATT_TPM_MAX_NAME)
        n = ATT_TPM_MAX_NAME;
    att_hex_encode(b, n, h);
    return json_string(h);
}

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

static json_t *att_tpm_claims(const att_tpm_result_t *r)
{
    json_t *c = json_object(), *pcrs = json_object();
    if (c == NULL || pcrs == NULL) {
        json_decref(c);
        json_decref(pcrs);
        return NULL;
    }
    for (size_t b = 0; b < r->pcrs.nsel; b++) {
        json_t *bank = json_object();
        size_t ds = att_tpm_digest_size(r->pcrs.sel[b].alg);
        for (int i = 0; bank != NULL && i < ATT_TPM_NUM_PCRS; i++) {
            if (!(r->pcrs.sel[b].mask & (1u << i)))
                continue;
            char key[4], h[2 * ATT_TPM_MAX_DIGEST + 1];
            snprintf(key, sizeof key, "%d", i);
            att_hex_encode(r->pcrs.values[b][i], ds, h);
            json_object_set_new(bank, key, json_string(h));
        }
        json_object_set_new(pcrs, att_tpm_alg_name(r->pcrs.sel[b].alg), bank);
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
    if (r->replayed && r->secure_boot >= 0)
        json_object_set_new(c, "x-attestd-tpm-secure-boot", json_boolean(r->secure_boot == 1));
    if (r->replayed && r->boot_manager >= 0 && (size_t)r->boot_manager < r->events.n)
        json_object_set_new(c, "x-attestd-tpm-boot-manager",
                            att_tpm_event_digests(&r->events.v[r->boot_manager]));
    if (r->replayed && r->kernel >= 0 && (size_t)r->kernel < r->events.n)
        json_object_set_new(c, "x-attestd-tpm-kernel",
                            att_tpm_event_digests(&r->events.v[r->kernel]));
    return c;
}

static void att_tpm_detail_free(void *p)
{
    att_tpm_result_free(p);
    free(p);
}

/* in->evidence: the round-2 message, JSON {"request": {...}}. */
static att_err_t att_tpm_verify_round2(void *inst, const att_ev_input_t *in, att_ev_result_t *out)
{
    att_ev_tpm_t *x = inst;
    att_diag_t *diag = &out->diag;
    json_error_t je;
    json_t *msg = att_json_loadb((const char *)in->evidence, in->len, JSON_REJECT_DUPLICATES, &je);
    json_t *req = json_object_get(msg, "request");
    uint8_t *ak = NULL, *quote = NULL, *sig = NULL, *tcg = NULL, *ima = NULL, *pcrs = NULL,
            *nonce = NULL;
    size_t aklen, qlen, slen, tlen, ilen, plen = 0, nlen = 0;
    att_tpm_ak_t *presented = NULL;
    att_tpm_result_t *res = NULL;
    att_err_t e;
    const char *sc = json_string_value(json_object_get(req, "service_context"));
    if (!json_is_object(req)) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                         "TPM round 2 is {\"request\": {\"service_context\", \"ak\", \"quote\", "
                         "\"signature\", \"pcrs\", ...}}");
        goto out;
    }
    if (sc == NULL) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                         "TPM round 2: request.service_context (from round 1) is missing");
        goto out;
    }
    if ((e = att_tpm_b64(req, "ak", false, &ak, &aklen, diag)) != ATT_OK ||
        (e = att_tpm_b64(req, "quote", false, &quote, &qlen, diag)) != ATT_OK ||
        (e = att_tpm_b64(req, "signature", false, &sig, &slen, diag)) != ATT_OK ||
        (e = att_tpm_b64(req, "tcg_log", true, &tcg, &tlen, diag)) != ATT_OK ||
        (e = att_tpm_b64(req, "ima_log", true, &ima, &ilen, diag)) != ATT_OK)
        goto out;
    att_tpm_attest_t q;
    att_diag_t d;
    if ((e = att_tpm_attest_parse(quote, qlen, &q, &d)) != ATT_OK) {
        e = att_diag_set(diag, e, "TPM round 2: request.quote: %s", d.msg);
        goto out;
    }
    if (q.type != ATT_TPM_ST_ATTEST_QUOTE) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                         "TPM round 2: request.quote is a certify structure, not a quote");
        goto out;
    }
    if ((e = att_tpm_pcrs(json_object_get(req, "pcrs"), &q, &pcrs, &plen, diag)) != ATT_OK)
        goto out;
    /* The AK must be pinned. */
    if ((e = att_tpm_ak_load(ak, aklen, &presented, &d)) != ATT_OK) {
        e = att_diag_set(diag, e, "TPM round 2: request.ak: %s", d.msg);
        goto out;
    }
    bool pinned = false;
    for (size_t i = 0; x != NULL && i < x->n && !pinned; i++)
        pinned = EVP_PKEY_eq(x->aks[i]->key, presented->key) == 1;
    if (!pinned) {
        e = att_diag_set(diag, ATT_E_TPM_AK, "the AK (%s) is not one this service trusts: %s",
                         att_tpm_ak_info(presented)->desc,
                         x != NULL && x->n > 0 ? "it is none of the keys pinned with --tpm-ak"
                                               : "no AK is pinned (start attestd with --tpm-ak)");
        goto out;
    }
    /* The challenge: the service context opened once, before its expiry. */
    if (in->open == NULL) {
        e = att_diag_set(diag, ATT_E_ARG, "TPM round 2: no way to open the service context");
        goto out;
    }
    if ((e = in->open(in->open_arg, "service context", sc, &nonce, &nlen, &d)) != ATT_OK) {
        e = att_diag_set(diag, e, "%s", d.msg);
        goto out;
    }
    if ((res = calloc(1, sizeof(*res))) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    att_tpm_input_t ti = {.ak_key = presented,
                          .quote = quote,
                          .quote_len = qlen,
                          .sig = sig,
                          .sig_len = slen,
                          .pcrs = pcrs,
                          .pcrs_len = plen,
                          .nonce = nonce,
                          .nonce_len = nlen,
                          .eventlog = tcg,
                          .eventlog_len = tlen,
                          .ima = ima,
                          .ima_len = ilen};
    if ((e = att_tpm_verify(&ti, res)) != ATT_OK) {
        att_diag_set(diag, e, "%s", res->diag.msg);
        goto out;
    }
    if ((out->claims = att_tpm_claims(res)) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    out->detail = res;
    out->detail_free = att_tpm_detail_free;
    res = NULL;
out:
    if (res != NULL)
        att_tpm_detail_free(res);
    att_tpm_ak_free(presented);
    free(ak);
    free(quote);
    free(sig);
    free(tcg);
    free(ima);
    free(pcrs);
    free(nonce);
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
