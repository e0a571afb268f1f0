/* sim_json.c - signed TCB info and QE identity in PCS API v4 JSON.
 *
 * The inner object is serialised once (compact, members in Intel's order), signed by the TCB
 * signing key over exactly those bytes, and wrapped as {"tcbInfo":<bytes>,"signature":"<hex>"}
 * without re-serialising, so the verifier sees the signed bytes verbatim.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/util.h"
#include "sim/sim_internal.h"

#define DAY (24 * 3600LL)

/* Uppercase hex as Intel writes FMSPC, MRSIGNER, attributes. */
static json_t *att_sim_hex(const uint8_t *p, size_t n)
{
    char buf[2 * 64 + 1];
    if (n > 64)
        return NULL;
    att_hex_encode(p, n, buf);
    for (size_t i = 0; buf[i]; i++)
        if (buf[i] >= 'a' && buf[i] <= 'f')
            buf[i] = (char)(buf[i] - 'a' + 'A');
    return json_string(buf);
}

static json_t *att_sim_time(att_time_t t)
{
    char buf[ATT_TIME_STRLEN];
    return json_string(att_time_format(t, buf));
}

/* Add tcbDate, tcbStatus and advisoryIDs (when any) to a level object. */
static int att_sim_add_status(json_t *lvl, const att_sim_status_t *st)
{
    int r = 0;
    if (st->tcb_date_text == NULL)
        r |= json_object_set_new(lvl, "tcbDate", att_sim_time(st->tcb_date));
    else if (st->tcb_date_text[0] != '\0')
        r |= json_object_set_new(lvl, "tcbDate", json_string(st->tcb_date_text));
    r |= json_object_set_new(lvl, "tcbStatus", json_string(st->status ? st->status : "UpToDate"));
    if (st->advisory_ids[0] != NULL) {
        json_t *adv = json_array();
        for (size_t i = 0; i < ATT_SIM_MAX_ADV && st->advisory_ids[i] != NULL; i++)
            r |= json_array_append_new(adv, json_string(st->advisory_ids[i]));
        r |= json_object_set_new(lvl, "advisoryIDs", adv);
    }
    return r;
}

static json_t *att_sim_isv_levels(const att_sim_isv_level_t *lv, size_t n)
{
    json_t *arr = json_array();
    int r = arr == NULL;
    for (size_t i = 0; i < n && i < ATT_SIM_MAX_LEVELS; i++) {
        json_t *lvl = json_object();
        r |= json_object_set_new(lvl, "tcb", json_pack("{s:i}", "isvsvn", (int)lv[i].isvsvn));
        r |= att_sim_add_status(lvl, &lv[i].st);
        r |= json_array_append_new(arr, lvl);
    }
    if (r) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

static json_t *att_sim_components(const uint8_t svn[16])
{
    json_t *arr = json_array();
    for (int i = 0; arr != NULL && i < 16; i++)
        if (json_array_append_new(arr, json_pack("{s:i}", "svn", (int)svn[i])) != 0) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

static json_t *att_sim_tcb_level(const att_sim_tcb_info_t *t, const att_sim_tcb_level_t *l)
{
    json_t *tcb = json_object();
    int r = tcb == NULL;
    if (t->version == 2) {
        for (int i = 0; i < 16; i++) {
            char key[20];
            snprintf(key, sizeof key, "sgxtcbcomp%02dsvn", i + 1);
            r |= json_object_set_new(tcb, key, json_integer(l->sgx_svn[i]));
        }
        r |= json_object_set_new(tcb, "pcesvn", json_integer(l->pcesvn));
    } else {
        r |= json_object_set_new(tcb, "sgxtcbcomponents", att_sim_components(l->sgx_svn));
        r |= json_object_set_new(tcb, "pcesvn", json_integer(l->pcesvn));
        if (t->tee == ATT_TEE_TDX)
            r |= json_object_set_new(tcb, "tdxtcbcomponents", att_sim_components(l->tdx_svn));
    }
    json_t *lvl = json_object();
    r |= json_object_set_new(lvl, "tcb", tcb);
    r |= att_sim_add_status(lvl, &l->st);
    if (r) {
        json_decref(lvl);
        return NULL;
    }
    return lvl;
}

static json_t *att_sim_tcb_info_json(const att_sim_tcb_info_t *t)
{
    json_t *o = json_object();
    int r = o == NULL;
    if (t->version != 2)
        r |= json_object_set_new(o, "id", json_string(t->tee == ATT_TEE_TDX ? "TDX" : "SGX"));
    r |= json_object_set_new(o, "version", json_integer(t->version));
    r |= json_object_set_new(o, "issueDate", att_sim_time(t->issue_date));
    r |= json_object_set_new(o, "nextUpdate", att_sim_time(t->next_update));
    r |= json_object_set_new(o, "fmspc", att_sim_hex(t->fmspc, 6));
    r |= json_object_set_new(o, "pceId", att_sim_hex(t->pceid, 2));
    if (!t->omit_tcb_type)
        r |= json_object_set_new(o, "tcbType", json_integer(t->tcb_type));
    r |= json_object_set_new(o, "tcbEvaluationDataNumber", json_integer(t->tcb_eval_num));
    if ((t->tee == ATT_TEE_TDX || t->module_in_sgx) && t->version != 2) {
        json_t *mod = json_object();
        r |= json_object_set_new(mod, "mrsigner", att_sim_hex(t->module_mrsigner, 48));
        r |= json_object_set_new(mod, "attributes", att_sim_hex(t->module_attributes, 8));
        r |= json_object_set_new(mod, "attributesMask", att_sim_hex(t->module_attributes_mask, 8));
        r |= json_object_set_new(o, "tdxModule", mod);
        json_t *ids = json_array();
        for (size_t i = 0; i < t->n_module_ids && i < ATT_SIM_MAX_MODULE_IDS; i++) {
            const att_sim_tdx_module_id_t *m = &t->module_ids[i];
            json_t *mi = json_object();
            r |= json_object_set_new(mi, "id", json_string(m->id));
            r |= json_object_set_new(mi, "mrsigner", att_sim_hex(m->mrsigner, 48));
            r |= json_object_set_new(mi, "attributes", att_sim_hex(m->attributes, 8));
            r |= json_object_set_new(mi, "attributesMask", att_sim_hex(m->attributes_mask, 8));
            r |= json_object_set_new(mi, "tcbLevels", att_sim_isv_levels(m->levels, m->n_levels));
            r |= json_array_append_new(ids, mi);
        }
        if (t->n_module_ids > 0 || t->empty_module_ids)
            r |= json_object_set_new(o, "tdxModuleIdentities", ids);
        else
            json_decref(ids);
    }
    json_t *levels = json_array();
    for (size_t i = 0; i < t->n_levels && i < ATT_SIM_MAX_LEVELS; i++)
        r |= json_array_append_new(levels, att_sim_tcb_level(t, &t->levels[i]));
    r |= json_object_set_new(o, "tcbLevels", levels);
    if (r) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *att_sim_qe_identity_json(const att_sim_qe_identity_t *q)
{
    /* The report's little-endian bytes, as Intel's QVL reads these fields. */
    uint8_t misc[4] = {(uint8_t)q->miscselect, (uint8_t)(q->miscselect >> 8),
                       (uint8_t)(q->miscselect >> 16), (uint8_t)(q->miscselect >> 24)};
    uint8_t mask[4] = {(uint8_t)q->miscselect_mask, (uint8_t)(q->miscselect_mask >> 8),
                       (uint8_t)(q->miscselect_mask >> 16), (uint8_t)(q->miscselect_mask >> 24)};
    json_t *o = json_object();
    int r = o == NULL;
    r |= json_object_set_new(o, "id", json_string(q->id ? q->id : "QE"));
    r |= json_object_set_new(o, "version", json_integer(q->version));
    r |= json_object_set_new(o, "issueDate", att_sim_time(q->issue_date));
    r |= json_object_set_new(o, "nextUpdate", att_sim_time(q->next_update));
    r |= json_object_set_new(o, "tcbEvaluationDataNumber", json_integer(q->tcb_eval_num));
    r |= json_object_set_new(o, "miscselect", att_sim_hex(misc, 4));
    r |= json_object_set_new(o, "miscselectMask", att_sim_hex(mask, 4));
    r |= json_object_set_new(o, "attributes", att_sim_hex(q->attributes, 16));
    r |= json_object_set_new(o, "attributesMask", att_sim_hex(q->attributes_mask, 16));
    r |= json_object_set_new(o, "mrsigner", att_sim_hex(q->mrsigner, 32));
    r |= json_object_set_new(o, "isvprodid", json_integer(q->isvprodid));
    r |= json_object_set_new(o, "tcbLevels", att_sim_isv_levels(q->levels, q->n_levels));
    if (r) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Serialise inner, sign its bytes with the TCB signer, wrap as {"<key>":inner,"signature":hex}. */
static att_err_t att_sim_sign_json(const att_sim_pki_t *p, const char *key, json_t *inner,
                                   char **json, size_t *len, att_diag_t *diag)
{
    if (inner == NULL)
        return att_diag_set(diag, ATT_E_INTERNAL, "cannot build the %s JSON", key);
    char *body = json_dumps(inner, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(inner);
    if (body == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "cannot serialise the %s JSON", key);
    uint8_t sig[64];
    char hex[129];
    if (!att_sim_sign_raw(p->key[ATT_SIM_TCB_SIGNER], (const uint8_t *)body, strlen(body), sig)) {
        free(body);
        return att_diag_set(diag, ATT_E_INTERNAL, "cannot sign the %s JSON", key);
    }
    att_hex_encode(sig, 64, hex);
    size_t n = strlen(key) + strlen(body) + 160;
    char *out = malloc(n);
    if (out == NULL) {
        free(body);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    int w = snprintf(out, n, "{\"%s\":%s,\"signature\":\"%s\"}", key, body, hex);
    free(body);
    *json = out;
    *len = (size_t)w;
    return ATT_OK;
}

att_err_t att_sim_tcb_info_sign(const att_sim_pki_t *p, const att_sim_tcb_info_t *t, char **json,
                                size_t *len, att_diag_t *diag)
{
    if (p == NULL || t == NULL || json == NULL || len == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_tcb_info_sign: NULL argument");
    return att_sim_sign_json(p, "tcbInfo", att_sim_tcb_info_json(t), json, len, diag);
}

att_err_t att_sim_tcb_info_refmspc(const att_sim_pki_t *p, const uint8_t *json, size_t json_len,
                                   const uint8_t fmspc[6], char **out, size_t *len,
                                   att_diag_t *diag)
{
    if (p == NULL || json == NULL || fmspc == NULL || out == NULL || len == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_tcb_info_refmspc: NULL argument");
    json_error_t e;
    json_t *doc = json_loadb((const char *)json, json_len, 0, &e);
    json_t *inner = json_object_get(doc, "tcbInfo");
    if (!json_is_object(inner) || !json_is_string(json_object_get(inner, "fmspc"))) {
        json_decref(doc);
        return att_diag_set(diag, ATT_E_COLL_FORMAT,
                            "not a TCB info document with tcbInfo.fmspc%s%s",
                            doc == NULL ? ": " : "", doc == NULL ? e.text : "");
    }
    json_incref(inner);
    json_decref(doc);
    if (json_object_set_new(inner, "fmspc", att_sim_hex(fmspc, 6)) != 0) {
        json_decref(inner);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    return att_sim_sign_json(p, "tcbInfo", inner, out, len, diag); /* takes inner */
}

att_err_t att_sim_tcbeval_sign(const att_sim_pki_t *p, att_tee_t tee, att_time_t issue_date,
                               att_time_t next_update, const att_sim_tcbeval_entry_t *e, size_t n,
                               char **json, size_t *len, att_diag_t *diag)
{
    if (p == NULL || (e == NULL && n > 0) || json == NULL || len == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_tcbeval_sign: NULL argument");
    char a[ATT_TIME_STRLEN], b[ATT_TIME_STRLEN];
    json_t *o = json_object(), *arr = json_array();
    int r = o == NULL || arr == NULL;
    for (size_t i = 0; i < n && !r; i++)
        r |= json_array_append_new(arr, json_pack("{s:I,s:s,s:s}", "tcbEvaluationDataNumber",
                                                  (json_int_t)e[i].number, "tcbRecoveryEventDate",
                                                  att_time_format(e[i].recovery_date, a), "tcbDate",
                                                  att_time_format(e[i].tcb_date, b)));
    if (!r) {
        r |= json_object_set_new(o, "id", json_string(tee == ATT_TEE_TDX ? "TDX" : "SGX"));
        r |= json_object_set_new(o, "version", json_integer(1));
        r |= json_object_set_new(o, "issueDate", json_string(att_time_format(issue_date, a)));
        r |= json_object_set_new(o, "nextUpdate", json_string(att_time_format(next_update, b)));
        r |= json_object_set(o, "tcbEvalNumbers", arr);
    }
    json_decref(arr);
    if (r) {
        json_decref(o);
        o = NULL;
    }
    return att_sim_sign_json(p, "tcbEvaluationDataNumbers", o, json, len, diag);
}

att_err_t att_sim_qe_identity_sign(const att_sim_pki_t *p, const att_sim_qe_identity_t *q,
                                   char **json, size_t *len, att_diag_t *diag)
{
    if (p == NULL || q == NULL || json == NULL || len == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_qe_identity_sign: NULL argument");
    return att_sim_sign_json(p, "enclaveIdentity", att_sim_qe_identity_json(q), json, len, diag);
}

/* ---- defaults --------------------------------------------------------------------------- */

/* The default TD's tee_tcb_svn: module SVN 3, major version 1, then late microcode 2. */
static const uint8_t att_sim_default_tee_tcb_svn[16] = {3, 1, 2};

void att_sim_tcb_info_default(att_sim_tcb_info_t *t, const att_sim_pki_t *p, att_tee_t tee,
                              att_time_t now)
{
    memset(t, 0, sizeof *t);
    t->tee = tee;
    t->version = 3;
    t->issue_date = now - 3600;
    t->next_update = now + 30 * DAY;
    t->tcb_eval_num = 17;
    if (p != NULL) {
        memcpy(t->fmspc, p->opts.pck.fmspc, 6);
        memcpy(t->pceid, p->opts.pck.pceid, 2);
    }
    t->n_levels = 1;
    att_sim_tcb_level_t *l = &t->levels[0];
    if (p != NULL) {
        memcpy(l->sgx_svn, p->opts.pck.comp_svn, 16);
        l->pcesvn = p->opts.pck.pcesvn;
    }
    if (tee == ATT_TEE_TDX)
        memcpy(l->tdx_svn, att_sim_default_tee_tcb_svn, 16);
    l->st.status = "UpToDate";
    l->st.tcb_date = now - 30 * DAY;
    if (tee == ATT_TEE_TDX) {
        memset(t->module_attributes_mask, 0xFF, 8);
        t->n_module_ids = 1;
        att_sim_tdx_module_id_t *m = &t->module_ids[0];
        snprintf(m->id, sizeof m->id, "TDX_%02X", att_sim_default_tee_tcb_svn[1]);
        memset(m->attributes_mask, 0xFF, 8);
        m->n_levels = 1;
        m->levels[0].isvsvn = att_sim_default_tee_tcb_svn[0];
        m->levels[0].st.status = "UpToDate";
        m->levels[0].st.tcb_date = now - 30 * DAY;
    }
}

/* Intel's production QE and TD QE signers (public values from PCS QE identities). */
static const uint8_t att_sim_qe_mrsigner[32] = {
    0x8C, 0x4F, 0x57, 0x75, 0xD7, 0x96, 0x50, 0x3E, 0x96, 0x13, 0x7F, 0x77, 0xC6, 0x8A, 0x82, 0x9A,
    0x00, 0x56, 0xAC, 0x8D, 0xED, 0x70, 0x14, 0x0B, 0x08, 0x1B, 0x09, 0x44, 0x90, 0xC5, 0x7B, 0xFF};
static const uint8_t att_sim_tdqe_mrsigner[32] = {
    0xDC, 0x9E, 0x2A, 0x7C, 0x6F, 0x94, 0x8F, 0x17, 0x47, 0x4E, 0x34, 0xA7, 0xFC, 0x43, 0xED, 0x03,
    0x0F, 0x7C, 0x15, 0x63, 0xF1, 0xBA, 0xBD, 0xDF, 0x63, 0x40, 0xC8, 0x2E, 0x0E, 0x54, 0xA8, 0xC5};

void att_sim_qe_identity_default(att_sim_qe_identity_t *q, att_tee_t tee, att_time_t now)
{
    static const uint8_t attr[16] = {0x11};
    static const uint8_t mask[16] = {0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    memset(q, 0, sizeof *q);
    q->id = tee == ATT_TEE_TDX ? "TD_QE" : "QE";
    q->version = 2;
    q->issue_date = now - 3600;
    q->next_update = now + 30 * DAY;
    q->tcb_eval_num = 17;
    q->miscselect = 0;
    q->miscselect_mask = 0xFFFFFFFFu;
    memcpy(q->attributes, attr, 16);
    memcpy(q->attributes_mask, mask, 16);
    memcpy(q->mrsigner, tee == ATT_TEE_TDX ? att_sim_tdqe_mrsigner : att_sim_qe_mrsigner, 32);
    q->isvprodid = tee == ATT_TEE_TDX ? 2 : 1;
    q->n_levels = 1;
    q->levels[0].isvsvn = 8;
    q->levels[0].st.status = "UpToDate";
    q->levels[0].st.tcb_date = now - 30 * DAY;
}

void att_sim_qe_report_default(att_sgx_report_t *qe, att_tee_t tee)
{
    memset(qe, 0, sizeof *qe);
    qe->attributes[0] = 0x15; /* INIT | MODE64BIT | PROVISIONKEY, as Intel's QE */
    qe->attributes[8] = 0xE7;
    memcpy(qe->mrsigner, tee == ATT_TEE_TDX ? att_sim_tdqe_mrsigner : att_sim_qe_mrsigner, 32);
    for (int i = 0; i < 32; i++)
        qe->mrenclave[i] = (uint8_t)(0xE0 ^ i);
    qe->isvprodid = tee == ATT_TEE_TDX ? 2 : 1;
    qe->isvsvn = 8;
}

void att_sim_default_td_tcb_svn(uint8_t out[16])
{
    memcpy(out, att_sim_default_tee_tcb_svn, 16);
}
