/* tcbeval.c - Intel's TCB evaluation data numbers list (attest/tcbeval.h): parsed from the exact
 * bytes that were signed (as TCB info is, tcbinfo.c), bounded, and verified through its issuer
 * chain to a trusted root. Not here: fetching (pcs.c), caching (attestd's collateral source),
 * the root CA CRL (see the header).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "attest/tcbeval.h"
#include "core/util.h"
#include "crypto/crypto.h"
#include "dcap/dcap_internal.h"

static att_err_t ev_fail(att_diag_t *d, const char *field, const char *what)
{
    return att_diag_set(d, ATT_E_COLL_FORMAT, "TCB evaluation data numbers: field '%s' %s", field,
                        what);
}

static att_err_t ev_time(json_t *o, const char *field, att_time_t *out, att_diag_t *d)
{
    json_t *v = json_object_get(o, field);
    if (v == NULL)
        return ev_fail(d, field, "is missing");
    if (!json_is_string(v) || att_time_parse(json_string_value(v), out) != ATT_OK)
        return ev_fail(d, field, "is not an RFC 3339 time");
    return ATT_OK;
}

static int ev_cmp_desc(const void *a, const void *b)
{
    const att_tcbeval_entry_t *x = a, *y = b;
    return (x->number < y->number) - (x->number > y->number);
}

static att_err_t ev_fields(json_t *in, att_dcap_tcbeval_t *out, att_diag_t *d)
{
    json_t *v = json_object_get(in, "id");
    if (v == NULL)
        return ev_fail(d, "id", "is missing");
    const char *id = json_string_value(v);
    if (id == NULL || (strcmp(id, "SGX") != 0 && strcmp(id, "TDX") != 0))
        return ev_fail(d, "id", "is not \"SGX\" or \"TDX\"");
    out->tee = strcmp(id, "TDX") == 0 ? ATT_TEE_TDX : ATT_TEE_SGX;
    v = json_object_get(in, "version");
    if (!json_is_integer(v))
        return ev_fail(d, "version", v ? "is not an integer" : "is missing");
    if (json_integer_value(v) != 1)
        return att_diag_set(d, ATT_E_COLL_FORMAT,
                            "TCB evaluation data numbers: version %lld is not supported (1 is)",
                            (long long)json_integer_value(v));
    out->version = 1;
    att_err_t e;
    if ((e = ev_time(in, "issueDate", &out->issue_date, d)) != ATT_OK ||
        (e = ev_time(in, "nextUpdate", &out->next_update, d)) != ATT_OK)
        return e;
    json_t *list = json_object_get(in, "tcbEvalNumbers");
    if (list == NULL)
        return ev_fail(d, "tcbEvalNumbers", "is missing");
    if (!json_is_array(list) || json_array_size(list) == 0)
        return ev_fail(d, "tcbEvalNumbers", "is not a non-empty array");
    if (json_array_size(list) > ATT_TCBEVAL_MAX)
        return att_diag_set(d, ATT_E_LIMIT,
                            "TCB evaluation data numbers: %zu entries, at most %d are taken",
                            json_array_size(list), ATT_TCBEVAL_MAX);
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *it = json_array_get(list, i);
        att_tcbeval_entry_t *en = &out->e[i];
        if (!json_is_object(it))
            return att_diag_set(d, ATT_E_COLL_FORMAT,
                                "TCB evaluation data numbers: entry %zu is not an object", i);
        json_t *n = json_object_get(it, "tcbEvaluationDataNumber");
        if (!json_is_integer(n) || json_integer_value(n) < 1 ||
            json_integer_value(n) > ATT_TCBEVAL_NUM_MAX)
            return att_diag_set(d, ATT_E_COLL_FORMAT,
                                "TCB evaluation data numbers: entry %zu: tcbEvaluationDataNumber "
                                "is %s",
                                i, n ? "not an integer from 1 to 2^30" : "missing");
        en->number = (unsigned)json_integer_value(n);
        if ((e = ev_time(it, "tcbRecoveryEventDate", &en->recovery_date, d)) != ATT_OK ||
            (e = ev_time(it, "tcbDate", &en->tcb_date, d)) != ATT_OK)
            return e;
    }
    out->n = json_array_size(list);
    qsort(out->e, out->n, sizeof(out->e[0]), ev_cmp_desc);
    for (size_t i = 1; i < out->n; i++)
        if (out->e[i].number == out->e[i - 1].number)
            return att_diag_set(d, ATT_E_COLL_FORMAT,
                                "TCB evaluation data numbers: number %u is listed twice",
                                out->e[i].number);
    return ATT_OK;
}

ATT_API att_err_t att_dcap_tcbeval_parse(const char *json, size_t len, att_dcap_tcbeval_t *out,
                                         const char **sp, size_t *sl, uint8_t sig[64],
                                         att_diag_t *d)
{
    if (json == NULL || out == NULL || sp == NULL || sl == NULL || sig == NULL)
        return att_diag_set(d, ATT_E_ARG, "TCB evaluation data numbers: NULL argument");
    memset(out, 0, sizeof(*out));
    if (len > ATT_TCBEVAL_MAX_BYTES)
        return att_diag_set(d, ATT_E_LIMIT,
                            "TCB evaluation data numbers: %zu bytes, at most %u are taken", len,
                            ATT_TCBEVAL_MAX_BYTES);
    json_error_t je;
    json_t *outer = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je), *inner = NULL;
    if (outer == NULL)
        return att_diag_set(d, ATT_E_COLL_FORMAT,
                            "TCB evaluation data numbers are not valid JSON: %s at line %d",
                            je.text, je.line);
    att_err_t e = ATT_OK;
    const char *hex = json_string_value(json_object_get(outer, "signature"));
    if (!json_is_object(outer) ||
        !json_is_object(json_object_get(outer, "tcbEvaluationDataNumbers"))) {
        e = att_diag_set(d, ATT_E_COLL_FORMAT,
                         "TCB evaluation data numbers: top-level object "
                         "'tcbEvaluationDataNumbers' is missing");
    } else if (hex == NULL) {
        e = ev_fail(d, "signature",
                    json_object_get(outer, "signature") ? "is not a string" : "is missing");
    } else if (strlen(hex) != 128 || !att_hex_decode(hex, 128, sig, 64)) {
        e = ev_fail(d, "signature", "is not 64 bytes of hex (r||s)");
    } else if (!att_json_raw_member(json, len, "tcbEvaluationDataNumbers", sp, sl)) {
        e = att_diag_set(d, ATT_E_COLL_FORMAT,
                         "TCB evaluation data numbers: cannot locate 'tcbEvaluationDataNumbers'");
    } else if ((inner = json_loadb(*sp, *sl, JSON_REJECT_DUPLICATES, &je)) == NULL ||
               !json_is_object(inner)) {
        e = att_diag_set(d, ATT_E_COLL_FORMAT,
                         "TCB evaluation data numbers: 'tcbEvaluationDataNumbers' is not a JSON "
                         "object");
    } else {
        e = ev_fields(inner, out, d);
    }
    json_decref(inner);
    json_decref(outer);
    return e;
}

ATT_API att_err_t att_dcap_tcbeval_new(const uint8_t *json, size_t len, const uint8_t *chain,
                                       size_t chain_len, const att_trust_t *trust,
                                       att_dcap_tcbeval_t **out, att_diag_t *d)
{
    if (json == NULL || trust == NULL || out == NULL)
        return att_diag_set(d, ATT_E_ARG, "TCB evaluation data numbers: NULL argument");
    *out = NULL;
    att_dcap_tcbeval_t *ev = calloc(1, sizeof(*ev));
    if (ev == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    const char *sp;
    size_t sl;
    uint8_t sig[64];
    STACK_OF(X509) *sk = NULL;
    att_p256_t *key = NULL;
    static const char what[] = "TCB evaluation data numbers issuer chain";
    att_err_t e = att_dcap_tcbeval_parse((const char *)json, len, ev, &sp, &sl, sig, d);
    if (e != ATT_OK)
        goto fail;
    if (chain == NULL || chain_len == 0) {
        e = att_diag_set(d, ATT_E_COLL_MISSING, "the %s is missing", what);
        goto fail;
    }
    if ((sk = att_pem_chain(chain, chain_len, 4, ATT_E_CERT_PARSE, what, d)) == NULL) {
        e = ATT_E_CERT_PARSE;
        goto fail;
    }
    if (sk_X509_num(sk) != 2) {
        e = att_diag_set(d, ATT_E_CERT_PARSE,
                         "the %s holds %d certificates, expected 2 (signing certificate, root)",
                         what, sk_X509_num(sk));
        goto fail;
    }
    X509 *leaf = sk_X509_value(sk, 0), *root = sk_X509_value(sk, 1);
    if (!att_trust_has_key(trust, root)) {
        char name[256];
        att_x509_name_str(X509_get_subject_name(root), name, sizeof(name));
        e = att_diag_set(d, ATT_E_CERT_UNTRUSTED_ROOT,
                         "the root of the %s (%s) is not a trusted root key", what, name);
        goto fail;
    }
    if ((e = att_dcap_root_key(root, what, d)) != ATT_OK ||
        (e = att_check_root(root, what, d)) != ATT_OK ||
        (e = att_check_issued(leaf, root, what, "Intel SGX TCB Signing", NULL, false, d)) != ATT_OK)
        goto fail;
    att_time_t nb[2], na[2];
    if (!att_asn1_time(X509_get0_notBefore(leaf), &nb[0]) ||
        !att_asn1_time(X509_get0_notAfter(leaf), &na[0]) ||
        !att_asn1_time(X509_get0_notBefore(root), &nb[1]) ||
        !att_asn1_time(X509_get0_notAfter(root), &na[1])) {
        e = att_diag_set(d, ATT_E_CERT_PARSE, "the %s has bad dates", what);
        goto fail;
    }
    ev->not_before = nb[0] > nb[1] ? nb[0] : nb[1];
    ev->not_after = na[0] < na[1] ? na[0] : na[1];
    key = att_p256_from_pkey(X509_get0_pubkey(leaf));
    if (key == NULL || !att_p256_verify(key, (const uint8_t *)sp, sl, sig)) {
        e = att_diag_set(d, ATT_E_TCBEVAL_SIGNATURE,
                         "TCB evaluation data numbers signature does not verify over the "
                         "tcbEvaluationDataNumbers bytes with the TCB signing key");
        goto fail;
    }
    ev->intel_root = att_trust_is_intel(root);
    ev->refs_ = 1; /* after the parse, which clears *ev */
    att_p256_free(key);
    sk_X509_pop_free(sk, X509_free);
    ERR_clear_error();
    *out = ev;
    return ATT_OK;
fail:
    att_p256_free(key);
    if (sk != NULL)
        sk_X509_pop_free(sk, X509_free);
    ERR_clear_error();
    free(ev);
    return e;
}

ATT_API att_err_t att_dcap_tcbeval_check_time(const att_dcap_tcbeval_t *ev, att_time_t now,
                                              att_diag_t *d)
{
    char a[ATT_TIME_STRLEN], b[ATT_TIME_STRLEN];
    if (now < ev->issue_date)
        return att_diag_set(d, ATT_E_TCBEVAL_NOT_YET_VALID,
                            "TCB evaluation data numbers are issued %s, after %s",
                            att_time_format(ev->issue_date, a), att_time_format(now, b));
    if (now >= ev->next_update)
        return att_diag_set(d, ATT_E_TCBEVAL_EXPIRED,
                            "TCB evaluation data numbers expired at %s (nextUpdate), before %s",
                            att_time_format(ev->next_update, a), att_time_format(now, b));
    if (ev->not_before != 0 && now < ev->not_before)
        return att_diag_set(d, ATT_E_TCBEVAL_NOT_YET_VALID,
                            "the TCB evaluation data numbers issuer chain is valid from %s, "
                            "after %s",
                            att_time_format(ev->not_before, a), att_time_format(now, b));
    if (ev->not_after != 0 && now > ev->not_after)
        return att_diag_set(d, ATT_E_TCBEVAL_EXPIRED,
                            "the TCB evaluation data numbers issuer chain expired at %s, before "
                            "%s",
                            att_time_format(ev->not_after, a), att_time_format(now, b));
    return ATT_OK;
}

ATT_API const att_tcbeval_entry_t *att_dcap_tcbeval_find(const att_dcap_tcbeval_t *ev,
                                                         unsigned number)
{
    for (size_t i = 0; ev != NULL && i < ev->n; i++)
        if (ev->e[i].number == number)
            return &ev->e[i];
    return NULL;
}

ATT_API att_time_t att_dcap_tcbeval_expiry(const att_dcap_tcbeval_t *ev)
{
    att_time_t t = ev->next_update;
    if (ev->not_after != 0 && ev->not_after < t)
        t = ev->not_after;
    return t;
}

ATT_API att_dcap_tcbeval_t *att_dcap_tcbeval_ref(att_dcap_tcbeval_t *ev)
{
    if (ev != NULL)
        __atomic_add_fetch(&ev->refs_, 1, __ATOMIC_RELAXED);
    return ev;
}

ATT_API void att_dcap_tcbeval_free(att_dcap_tcbeval_t *ev)
{
    if (ev != NULL && __atomic_sub_fetch(&ev->refs_, 1, __ATOMIC_ACQ_REL) == 0)
        free(ev);
}

ATT_API unsigned att_dcap_collateral_tcb_eval(const att_dcap_collateral_t *c)
{
    return c ? (unsigned)c->tcb.eval_num : 0;
}

ATT_API unsigned att_dcap_collateral_qe_eval(const att_dcap_collateral_t *c)
{
    return c ? (unsigned)c->qe.eval_num : 0;
}
