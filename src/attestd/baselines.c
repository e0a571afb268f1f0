/* baselines.c - TCB baselines (Intel's TCB evaluation data numbers) for the DCAP types, SgxEnclave,
 * OpenEnclave and TdxVm: which one a type's evidence is judged against, GET /tcbbaselines/{type}
 * (MAA 2025-06-01, for SGX and TDX alike) and PUT /tcbbaselines/{type}.
 *
 * A type's baseline in force is the one an admin pinned through the API (kept in the store as
 * the policy row "tcb-baseline/<Type>" holding the number, so replicas share it and its change
 * reaches them as a policy change does), else the one --tcb-baseline TYPE=N pins, else the
 * newest: the TCB info a PCS serves without a number. A pinned baseline N makes the type's
 * collateral key "dcap/<tee>/<fmspc>/<ca>/N" (the PCS fetcher asks for tcbEvaluationDataNumber=N,
 * cached like any set). The list comes from the collateral source ("tcbeval/<sgx|tdx>",
 * signature-checked by att_dcap_tcbeval_new, validity checked here at the evidence clock).
 * Not here: the verification itself (the DCAP backend), HTTP (routes.c).
 */
#include "svc_int.h"

#include <stdlib.h>
#include <string.h>

#include "attest/collateral.h"
#include "attest/tcbeval.h"
#include "core/json.h"
#include "log.h"

#define ATT_BL_STORE_PREFIX "tcb-baseline/"

/* The types with TCB baselines and the list each is judged against. */
static const struct {
    const char *type;
    const char *list_key;
} att_bl_types[] = {
    {"SgxEnclave", "tcbeval/sgx"},
    {"OpenEnclave", "tcbeval/sgx"},
    {"TdxVm", "tcbeval/tdx"},
};

struct att_baselines {
    pthread_mutex_t mu;
    unsigned opt[ATT_SVC_MAX_TYPES];    /* --tcb-baseline, 0: none */
    unsigned stored[ATT_SVC_MAX_TYPES]; /* pinned through the API, 0: none */
};

/* The list key of the type at idx, or NULL when it has no baselines. */
static const char *att_bl_list_key(size_t idx)
{
    const char *name = att_svc_type_at(idx);
    for (size_t i = 0; name != NULL && i < sizeof att_bl_types / sizeof *att_bl_types; i++)
        if (strcmp(att_bl_types[i].type, name) == 0)
            return att_bl_types[i].list_key;
    return NULL;
}

/* A stored number: decimal 1..2^30, else 0. */
static unsigned att_bl_parse(const char *s)
{
    char *end;
    long v = s && *s >= '1' && *s <= '9' ? strtol(s, &end, 10) : 0;
    return v >= 1 && v <= ATT_TCBEVAL_NUM_MAX && *end == '\0' ? (unsigned)v : 0;
}

/* Read the stored pins; false when the store could not be read. */
static bool att_bl_read(att_svc_t *svc, unsigned out[ATT_SVC_MAX_TYPES])
{
    bool ok = true;
    for (size_t i = 0; i < att_svc_ntypes(); i++) {
        out[i] = 0;
        if (att_bl_list_key(i) == NULL)
            continue;
        char key[64], *val = NULL;
        att_diag_t d;
        snprintf(key, sizeof key, ATT_BL_STORE_PREFIX "%s", att_svc_type_at(i));
        att_err_t e = att_store_policy_get(svc->store, key, &val, &d);
        if (e == ATT_OK) {
            out[i] = att_bl_parse(val);
            if (out[i] == 0)
                att_log(ATT_LOG_WARN, "the stored TCB baseline of %s is not a number: ignored",
                        att_svc_type_at(i));
        } else if (e != ATT_E_STORE_NOT_FOUND) {
            ok = false;
        }
        free(val);
    }
    return ok;
}

att_err_t att_baselines_init(att_svc_t *svc, att_diag_t *d)
{
    struct att_baselines *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    pthread_mutex_init(&b->mu, NULL);
    svc->baselines = b;
    for (size_t k = 0; k < svc->o.n_tcb_baselines; k++) {
        const char *v = svc->o.tcb_baselines[k], *eq = strchr(v, '=');
        char type[64];
        size_t idx;
        if (eq == NULL || (size_t)(eq - v) >= sizeof type)
            return att_diag_set(d, ATT_E_ARG, "--tcb-baseline '%s': want TYPE=N", v);
        memcpy(type, v, (size_t)(eq - v));
        type[eq - v] = '\0';
        unsigned n = att_bl_parse(eq + 1);
        if (att_svc_type_name(type, &idx) == NULL || att_bl_list_key(idx) == NULL)
            return att_diag_set(d, ATT_E_ARG,
                                "--tcb-baseline '%s': %s has no TCB baselines (SgxEnclave, "
                                "OpenEnclave and TdxVm have)",
                                v, type);
        if (n == 0)
            return att_diag_set(d, ATT_E_ARG,
                                "--tcb-baseline '%s': the number must be from 1 to 2^30", v);
        b->opt[idx] = n;
    }
    unsigned st[ATT_SVC_MAX_TYPES];
    if (!att_bl_read(svc, st))
        return att_diag_set(d, ATT_E_STORE, "the stored TCB baselines cannot be read");
    memcpy(b->stored, st, sizeof st);
    return ATT_OK;
}

void att_baselines_free(att_svc_t *svc)
{
    if (svc->baselines == NULL)
        return;
    pthread_mutex_destroy(&svc->baselines->mu);
    free(svc->baselines);
    svc->baselines = NULL;
}

bool att_baselines_reload(att_svc_t *svc)
{
    unsigned st[ATT_SVC_MAX_TYPES];
    if (svc->baselines == NULL || !att_bl_read(svc, st))
        return false;
    pthread_mutex_lock(&svc->baselines->mu);
    memcpy(svc->baselines->stored, st, sizeof st);
    pthread_mutex_unlock(&svc->baselines->mu);
    return true;
}

/* The number pinned for the type at idx (0: the newest), and by what. */
static unsigned att_bl_pinned(att_svc_t *svc, size_t idx, const char **by)
{
    unsigned n = 0;
    *by = "newest";
    if (svc->baselines == NULL || idx >= ATT_SVC_MAX_TYPES)
        return 0;
    pthread_mutex_lock(&svc->baselines->mu);
    if (svc->baselines->stored[idx] != 0) {
        n = svc->baselines->stored[idx];
        *by = "api";
    } else if (svc->baselines->opt[idx] != 0) {
        n = svc->baselines->opt[idx];
        *by = "option";
    }
    pthread_mutex_unlock(&svc->baselines->mu);
    return n;
}

const char *att_baselines_key(att_svc_t *svc, size_t idx, const char *key, char *buf, size_t n)
{
    const char *by;
    unsigned pin = att_bl_pinned(svc, idx, &by);
    if (pin == 0 || strncmp(key, "dcap/", 5) != 0 || att_bl_list_key(idx) == NULL)
        return key;
    if ((size_t)snprintf(buf, n, "%s/%u", key, pin) >= n)
        return key;
    return buf;
}

unsigned att_baselines_used(const char *key, const void *obj)
{
    return strncmp(key, "dcap/", 5) == 0 ? att_dcap_collateral_tcb_eval(obj) : 0;
}

/* The list of the type at idx, current at now; NULL with *r holding the error. */
static att_dcap_tcbeval_t *att_bl_list(att_svc_t *svc, size_t idx, att_svc_reply_t *r)
{
    const char *key = att_bl_list_key(idx);
    att_diag_t d;
    if (svc->coll == NULL) {
        att_reply_err(r, 503, "ServiceUnavailable", ATT_E_COLL_MISSING,
                      "no collateral source is configured (start attestd with --collateral-url "
                      "or --collateral-dir): the TCB baselines come from Intel's TCB evaluation "
                      "data numbers");
        return NULL;
    }
    void *obj = NULL;
    int64_t retry = 0;
    att_time_t now = att_svc_now(svc);
    att_err_t e = att_collsrc_get(svc->coll, key, now, &obj, &retry, &d);
    if (e == ATT_OK && (e = att_dcap_tcbeval_check_time(obj, now, &d)) != ATT_OK) {
        att_dcap_tcbeval_free(obj);
        obj = NULL;
    }
    if (e != ATT_OK) {
        att_reply_err(r, 503, "ServiceUnavailable", e,
                      "the TCB evaluation data numbers (%s) are not available: %s: %s", key,
                      att_err_name(e), d.msg);
        r->retry_after = retry > 0 ? retry : 1;
        return NULL;
    }
    return obj;
}

/* 200 {"tcbBaselines": [...]} for the type at idx. */
static void att_bl_reply(att_svc_t *svc, size_t idx, att_svc_reply_t *r)
{
    att_dcap_tcbeval_t *ev = att_bl_list(svc, idx, r);
    if (ev == NULL)
        return;
    const char *by;
    unsigned pin = att_bl_pinned(svc, idx, &by);
    unsigned sel = pin != 0 ? pin : ev->e[0].number; /* highest first */
    json_t *arr = json_array(), *o = json_object();
    bool bad = arr == NULL || o == NULL;
    for (size_t i = 0; i < ev->n && !bad; i++) {
        char id[16], td[ATT_TIME_STRLEN], rd[ATT_TIME_STRLEN];
        snprintf(id, sizeof id, "%u", ev->e[i].number);
        bad |=
            json_array_append_new(
                arr, json_pack("{s:s,s:I,s:s,s:s,s:b}", "tcbIdentifier", id,
                               "tcbEvaluationDataNumber", (json_int_t)ev->e[i].number,
                               "tcbReleaseDate", att_time_format(ev->e[i].tcb_date, td),
                               "tcbRecoveryEventDate", att_time_format(ev->e[i].recovery_date, rd),
                               "isSelectedTcb", ev->e[i].number == sel)) != 0;
    }
    if (!bad) {
        bad |= json_object_set(o, "tcbBaselines", arr) != 0;
        bad |= json_object_set_new(o, "x-attestd-selected-by", json_string(by)) != 0;
        if (att_dcap_tcbeval_find(ev, sel) == NULL) /* pinned, but not in Intel's list */
            bad |= json_object_set_new(o, "x-attestd-selected-tcb-evaluation-data-number",
                                       json_integer(sel)) != 0;
    }
    json_decref(arr);
    att_dcap_tcbeval_free(ev);
    if (bad) {
        json_decref(o);
        att_reply_err(r, 500, "InternalError", ATT_E_NOMEM, "out of memory");
        return;
    }
    att_reply(r, 200, o);
}

/* The type named, with baselines; else *r holds the error. */
static bool att_bl_type(const char *type, size_t *idx, att_svc_reply_t *r)
{
    const char *name = att_svc_type_name(type, idx);
    if (name == NULL) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG, "unknown attestation type '%s' (%s)",
                      type ? type : "", att_ev_type_names(false));
        return false;
    }
    if (att_bl_list_key(*idx) == NULL) {
        att_reply_err(r, 400, "NotSupported", ATT_E_UNSUPPORTED,
                      "attestation type %s has no TCB baselines: they are Intel's TCB evaluation "
                      "data numbers, for SgxEnclave, OpenEnclave and TdxVm",
                      name);
        return false;
    }
    r->type = name;
    return true;
}

void att_svc_tcbbaselines_get(att_svc_t *svc, const char *type, att_svc_reply_t *r)
{
    size_t idx;
    memset(r, 0, sizeof(*r));
    if (att_bl_type(type, &idx, r))
        att_bl_reply(svc, idx, r);
}

void att_svc_tcbbaselines_set(att_svc_t *svc, const char *type, const char *body, size_t len,
                              att_svc_reply_t *r)
{
    size_t idx;
    memset(r, 0, sizeof(*r));
    if (!att_bl_type(type, &idx, r))
        return;
    if (svc->isolated) {
        att_reply_err(r, 400, "InvalidOperation", ATT_E_UNSUPPORTED,
                      "in isolated mode TCB baselines are pinned with --tcb-baseline only: a "
                      "change through the API would need a request signed by a policy "
                      "management certificate, which attestd does not take for baselines");
        return;
    }
    json_error_t je;
    json_t *req = att_json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    json_t *jn = json_object_get(req, "tcbEvaluationDataNumber");
    const char *tid = json_string_value(json_object_get(req, "tcbIdentifier"));
    unsigned n = 0;
    bool reset = false;
    if (json_is_integer(jn) && json_integer_value(jn) >= 1 &&
        json_integer_value(jn) <= ATT_TCBEVAL_NUM_MAX)
        n = (unsigned)json_integer_value(jn);
    else if (jn == NULL && tid != NULL)
        n = att_bl_parse(tid);
    else if (json_is_null(jn) && tid == NULL)
        reset = true;
    if (!json_is_object(req) || json_object_size(req) != 1 || (n == 0 && !reset)) {
        json_decref(req);
        att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG,
                      "the body must be {\"tcbEvaluationDataNumber\": N} (or {\"tcbIdentifier\": "
                      "\"N\"}) with N from 1 to 2^30, or {\"tcbEvaluationDataNumber\": null} to "
                      "go back to --tcb-baseline or the newest baseline");
        return;
    }
    json_decref(req);
    char key[64];
    snprintf(key, sizeof key, ATT_BL_STORE_PREFIX "%s", r->type);
    att_diag_t d;
    att_err_t e;
    if (reset) {
        e = att_store_policy_delete(svc->store, key, &d);
        if (e == ATT_E_STORE_NOT_FOUND)
            e = ATT_OK;
    } else {
        /* Only a baseline Intel lists: a typo would otherwise fail every attestation. */
        att_dcap_tcbeval_t *ev = att_bl_list(svc, idx, r);
        if (ev == NULL)
            return;
        bool listed = att_dcap_tcbeval_find(ev, n) != NULL;
        char have[256] = "";
        for (size_t i = 0; i < ev->n && strlen(have) < sizeof have - 16; i++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%u", i ? ", " : "",
                     ev->e[i].number);
        att_dcap_tcbeval_free(ev);
        if (!listed) {
            att_reply_err(r, 400, "InvalidParameter", ATT_E_ARG,
                          "%u is not one of Intel's TCB evaluation data numbers for %s (%s)", n,
                          r->type, have);
            return;
        }
        char val[16];
        snprintf(val, sizeof val, "%u", n);
        e = att_store_policy_put(svc->store, key, val, &d);
    }
    if (e != ATT_OK) {
        att_reply_store_err(svc, r, e, "the TCB baseline cannot be stored: %s", d.msg);
        return;
    }
    pthread_mutex_lock(&svc->baselines->mu);
    svc->baselines->stored[idx] = reset ? 0 : n;
    pthread_mutex_unlock(&svc->baselines->mu);
    if (reset)
        att_log(ATT_LOG_INFO, "TCB baseline of %s: back to --tcb-baseline or the newest", r->type);
    else
        att_log(ATT_LOG_INFO, "TCB baseline of %s: pinned to %u", r->type, n);
    const char *tname = r->type;
    att_bl_reply(svc, idx, r);
    if (r->status != 200) { /* the change is made; only the list is not at hand */
        att_svc_reply_clear(r);
        memset(r, 0, sizeof(*r));
        r->type = tname;
        att_reply(r, 200,
                  json_pack("{s:[],s:s}", "tcbBaselines", "x-attestd-selected-by",
                            reset ? "newest" : "api"));
    }
}
