/* tcbinfo.c - TCB info (v2, v3; SGX and TDX) and enclave identity (v2) documents of Intel PCS.
 *
 * The signature covers the exact bytes of the inner object as served, so the inner object is
 * located in the text (att_json_raw_member) and its content is parsed from those same bytes:
 * what is read is exactly what was signed. Duplicate keys are rejected. Levels are sorted and
 * checked for duplicates here, once per collateral, as Intel's QVL keeps them (ordered sets):
 * TCB levels by SGX components, then PCESVN, then TDX components; TDX module levels by isvsvn;
 * QE levels by isvsvn, then tcbDate; all highest first (docs/dcap.md "Ordering and uniqueness").
 * Not checked here: the signature itself, dates against a time, or any match with a quote (see
 * collateral.c, verify.c).
 */
#include <stdlib.h>
#include <string.h>

#include "core/cursor.h"
#include "core/util.h"
#include "dcap/dcap_internal.h"

static const char *const att_tcb_status_names[] = {
    [ATT_TCB_UNKNOWN] = "Unknown",
    [ATT_TCB_UP_TO_DATE] = "UpToDate",
    [ATT_TCB_SW_HARDENING_NEEDED] = "SWHardeningNeeded",
    [ATT_TCB_CONFIGURATION_NEEDED] = "ConfigurationNeeded",
    [ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED] = "ConfigurationAndSWHardeningNeeded",
    [ATT_TCB_OUT_OF_DATE] = "OutOfDate",
    [ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED] = "OutOfDateConfigurationNeeded",
    [ATT_TCB_TD_RELAUNCH_ADVISED] = "TDRelaunchAdvised",
    [ATT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED] = "TDRelaunchAdvisedConfigurationNeeded",
    [ATT_TCB_REVOKED] = "Revoked",
};

ATT_API const char *att_tcb_status_name(att_tcb_status_t s)
{
    if ((size_t)s >= ATT_ARRAY_LEN(att_tcb_status_names))
        return "Unknown";
    return att_tcb_status_names[s];
}

ATT_API att_tcb_status_t att_tcb_status_parse(const char *s)
{
    for (size_t i = 1; s != NULL && i < ATT_ARRAY_LEN(att_tcb_status_names); i++)
        if (!strcmp(s, att_tcb_status_names[i]))
            return (att_tcb_status_t)i;
    return ATT_TCB_UNKNOWN;
}

/* Field readers: each sets diag with the document and field name on failure. */
typedef struct {
    const char *doc; /* "TCB info", "QE identity" */
    att_diag_t *diag;
} att_jctx_t;

static att_err_t att_jfail(att_jctx_t *c, const char *field, const char *what)
{
    return att_diag_set(c->diag, ATT_E_COLL_FORMAT, "%s: field '%s' %s", c->doc, field, what);
}

static att_err_t att_jint(att_jctx_t *c, json_t *obj, const char *field, long min, long max,
                          long *out)
{
    json_t *v = json_object_get(obj, field);
    if (v == NULL)
        return att_jfail(c, field, "is missing");
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return att_jfail(c, field, "is not an integer in range");
    *out = (long)json_integer_value(v);
    return ATT_OK;
}

static att_err_t att_jstr(att_jctx_t *c, json_t *obj, const char *field, const char **out)
{
    json_t *v = json_object_get(obj, field);
    if (v == NULL)
        return att_jfail(c, field, "is missing");
    if (!json_is_string(v))
        return att_jfail(c, field, "is not a string");
    *out = json_string_value(v);
    return ATT_OK;
}

static att_err_t att_jhex(att_jctx_t *c, json_t *obj, const char *field, uint8_t *out, size_t n)
{
    const char *s;
    att_err_t e = att_jstr(c, obj, field, &s);
    if (e != ATT_OK)
        return e;
    if (!att_hex_decode(s, strlen(s), out, n)) {
        char what[64];
        snprintf(what, sizeof(what), "is not %zu bytes of hex", n);
        return att_jfail(c, field, what);
    }
    return ATT_OK;
}

static att_err_t att_jtime(att_jctx_t *c, json_t *obj, const char *field, att_time_t *out)
{
    const char *s;
    att_err_t e = att_jstr(c, obj, field, &s);
    if (e != ATT_OK)
        return e;
    if (att_time_parse(s, out) != ATT_OK)
        return att_jfail(c, field, "is not an RFC 3339 time");
    return ATT_OK;
}

static att_err_t att_jstatus(att_jctx_t *c, json_t *level, bool qe, att_tcb_verdict_t *v)
{
    const char *s;
    att_err_t e = att_jstr(c, level, "tcbStatus", &s);
    if (e != ATT_OK)
        return e;
    v->status = att_tcb_status_parse(s);
    bool ok = v->status != ATT_TCB_UNKNOWN && v->status != ATT_TCB_TD_RELAUNCH_ADVISED &&
              v->status != ATT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED;
    if (qe)
        ok = v->status == ATT_TCB_UP_TO_DATE || v->status == ATT_TCB_OUT_OF_DATE ||
             v->status == ATT_TCB_REVOKED;
    if (!ok)
        return att_diag_set(c->diag, ATT_E_COLL_FORMAT, "%s: tcbStatus '%s' is not valid here",
                            c->doc, s);
    v->advisories = json_object_get(level, "advisoryIDs");
    if (v->advisories != NULL) {
        size_t i;
        json_t *a;
        if (!json_is_array(v->advisories))
            return att_jfail(c, "advisoryIDs", "is not an array");
        json_array_foreach(v->advisories, i, a)
        {
            if (!json_is_string(a) || json_string_length(a) >= ATT_ADVISORY_LEN ||
                json_string_length(a) == 0)
                return att_jfail(c, "advisoryIDs", "holds a value that is not a short string");
        }
    }
    return ATT_OK;
}

/* Locate the signed inner object and the signature; parse the inner object from its bytes. */
static att_err_t att_signed_doc(att_jctx_t *c, const char *json, size_t len, const char *key,
                                json_t **inner, const char **sp, size_t *sl, uint8_t sig[64])
{
    json_error_t jerr;
    json_t *outer = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (outer == NULL)
        return att_diag_set(c->diag, ATT_E_COLL_FORMAT, "%s is not valid JSON: %s at line %d",
                            c->doc, jerr.text, jerr.line);
    att_err_t e = ATT_OK;
    const char *sigs;
    if (!json_is_object(outer) || !json_is_object(json_object_get(outer, key))) {
        e = att_diag_set(c->diag, ATT_E_COLL_FORMAT, "%s: top-level object '%s' is missing", c->doc,
                         key);
    } else if ((e = att_jstr(c, outer, "signature", &sigs)) == ATT_OK &&
               !att_hex_decode(sigs, strlen(sigs), sig, 64)) {
        e = att_jfail(c, "signature", "is not 64 bytes of hex (r||s)");
    } else if (e == ATT_OK && !att_json_raw_member(json, len, key, sp, sl)) {
        e = att_diag_set(c->diag, ATT_E_COLL_FORMAT, "%s: cannot locate '%s'", c->doc, key);
    } else if (e == ATT_OK) {
        *inner = json_loadb(*sp, *sl, JSON_REJECT_DUPLICATES, &jerr);
        if (*inner == NULL || !json_is_object(*inner)) {
            json_decref(*inner);
            *inner = NULL;
            e = att_diag_set(c->diag, ATT_E_COLL_FORMAT, "%s: '%s' is not a JSON object", c->doc,
                             key);
        }
    }
    json_decref(outer);
    return e;
}

/* Descending orders (qsort comparators): QVL's std::greater sets. */
static int att_cmp_isv_desc(const void *a, const void *b)
{
    const att_isv_level_t *x = a, *y = b;
    return (x->isvsvn < y->isvsvn) - (x->isvsvn > y->isvsvn);
}

static int att_cmp_isv_date_desc(const void *a, const void *b)
{
    const att_isv_level_t *x = a, *y = b;
    int r = att_cmp_isv_desc(a, b);
    return r != 0 ? r : (x->tcb_date < y->tcb_date) - (x->tcb_date > y->tcb_date);
}

static int att_cmp_tcb_desc(const void *a, const void *b)
{
    const att_tcb_level_t *x = a, *y = b;
    int r = memcmp(y->sgx, x->sgx, 16);
    if (r == 0)
        r = (x->pcesvn < y->pcesvn) - (x->pcesvn > y->pcesvn);
    if (r == 0)
        r = memcmp(y->tdx, x->tdx, 16);
    return r;
}

/* Levels of a QE identity (ordered by isvsvn, then tcbDate) or of a TDX module identity
 * (`module`: by isvsvn alone); sorted highest first, duplicates rejected. */
static att_err_t att_isv_levels(att_jctx_t *c, json_t *arr, bool module, att_isv_level_t **out,
                                size_t *n)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return att_jfail(c, "tcbLevels", "is not a non-empty array");
    *n = json_array_size(arr);
    *out = calloc(*n, sizeof(**out));
    if (*out == NULL)
        return att_diag_set(c->diag, ATT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < *n; i++) {
        json_t *lvl = json_array_get(arr, i), *tcb = json_object_get(lvl, "tcb");
        long svn;
        if (!json_is_object(tcb))
            return att_jfail(c, "tcbLevels[].tcb", "is not an object");
        att_err_t e = att_jint(c, tcb, "isvsvn", 0, 65535, &svn);
        if (e == ATT_OK)
            e = att_jtime(c, lvl, "tcbDate", &(*out)[i].tcb_date);
        if (e == ATT_OK)
            e = att_jstatus(c, lvl, true, &(*out)[i].v);
        if (e != ATT_OK)
            return e;
        (*out)[i].isvsvn = (uint16_t)svn;
    }
    int (*cmp)(const void *, const void *) = module ? att_cmp_isv_desc : att_cmp_isv_date_desc;
    qsort(*out, *n, sizeof(**out), cmp);
    for (size_t i = 1; i < *n; i++)
        if (cmp(&(*out)[i - 1], &(*out)[i]) == 0) {
            char d[ATT_TIME_STRLEN];
            return att_diag_set(c->diag, ATT_E_COLL_FORMAT,
                                "%s: duplicated TCB level (isvsvn "
                                "%u%s%s)",
                                c->doc, (*out)[i].isvsvn, module ? "" : ", tcbDate ",
                                module ? "" : att_time_format((*out)[i].tcb_date, d));
        }
    return ATT_OK;
}

static att_err_t att_module_id(att_jctx_t *c, json_t *m, att_tdx_module_id_t *out, bool levels)
{
    att_err_t e = att_jhex(c, m, "mrsigner", out->mrsigner, 48);
    if (e == ATT_OK)
        e = att_jhex(c, m, "attributes", out->attributes, 8);
    if (e == ATT_OK)
        e = att_jhex(c, m, "attributesMask", out->attributes_mask, 8);
    if (e != ATT_OK || !levels)
        return e;
    const char *id;
    if ((e = att_jstr(c, m, "id", &id)) != ATT_OK)
        return e;
    if (strlen(id) >= sizeof(out->id))
        return att_jfail(c, "tdxModuleIdentities[].id", "is too long");
    strcpy(out->id, id);
    att_jctx_t mc = {"TCB info tdxModuleIdentities", c->diag};
    return att_isv_levels(&mc, json_object_get(m, "tcbLevels"), true, &out->levels, &out->n_levels);
}

static att_err_t att_comp_array(att_jctx_t *c, json_t *tcb, const char *field, uint8_t out[16])
{
    json_t *arr = json_object_get(tcb, field);
    if (!json_is_array(arr) || json_array_size(arr) != 16)
        return att_jfail(c, field, "is not an array of 16 components");
    for (size_t i = 0; i < 16; i++) {
        long svn;
        att_err_t e = att_jint(c, json_array_get(arr, i), "svn", 0, 255, &svn);
        if (e != ATT_OK)
            return e;
        out[i] = (uint8_t)svn;
    }
    return ATT_OK;
}

att_err_t att_tcb_info_parse(const char *json, size_t len, att_tcb_info_t *t, const char **sp,
                             size_t *sl, uint8_t sig[64], att_diag_t *diag)
{
    att_jctx_t c = {"TCB info", diag};
    memset(t, 0, sizeof(*t));
    json_t *ti = NULL;
    att_err_t e = att_signed_doc(&c, json, len, "tcbInfo", &ti, sp, sl, sig);
    if (e != ATT_OK)
        return e;
    t->doc = ti;
    long v;
    if ((e = att_jint(&c, ti, "version", 0, 1000, &v)) != ATT_OK)
        return e;
    t->version = (int)v;
    if (t->version != 2 && t->version != 3)
        return att_diag_set(diag, ATT_E_TCBINFO_VERSION,
                            "TCB info version %d is not supported (2 and 3 are)", t->version);
    if (t->version == 3) {
        const char *id;
        if ((e = att_jstr(&c, ti, "id", &id)) != ATT_OK)
            return e;
        if (strcmp(id, "SGX") && strcmp(id, "TDX"))
            return att_diag_set(diag, ATT_E_TCBINFO_VERSION,
                                "TCB info id '%.16s' is not SGX or TDX", id);
        strcpy(t->id, id);
    }
    if ((e = att_jtime(&c, ti, "issueDate", &t->issue_date)) ||
        (e = att_jtime(&c, ti, "nextUpdate", &t->next_update)) ||
        (e = att_jhex(&c, ti, "fmspc", t->fmspc, 6)) ||
        (e = att_jhex(&c, ti, "pceId", t->pceid, 2)))
        return e;
    if ((e = att_jint(&c, ti, "tcbEvaluationDataNumber", 0, 1L << 30, &v)) != ATT_OK)
        return e;
    t->eval_num = (int)v;
    /* tcbType: in v2 and v3 (QVL 4.1.2.7.4: only type 0, component-wise comparison) */
    if ((e = att_jint(&c, ti, "tcbType", 0, 0, &v)) != ATT_OK)
        return e;
    bool tdx = !strcmp(t->id, "TDX");
    if (t->version == 3 && !tdx &&
        (json_object_get(ti, "tdxModule") != NULL ||
         json_object_get(ti, "tdxModuleIdentities") != NULL))
        return att_diag_set(diag, ATT_E_COLL_FORMAT,
                            "TCB info: an SGX TCB info carries "
                            "tdxModule or tdxModuleIdentities");
    if (tdx) {
        json_t *m = json_object_get(ti, "tdxModule");
        if (!json_is_object(m))
            return att_jfail(&c, "tdxModule", "is missing in a TDX TCB info");
        if ((e = att_module_id(&c, m, &t->module, false)) != ATT_OK)
            return e;
        t->has_module = true;
        json_t *ids = json_object_get(ti, "tdxModuleIdentities");
        if (ids != NULL) {
            if (!json_is_array(ids) || json_array_size(ids) == 0)
                return att_jfail(&c, "tdxModuleIdentities", "is not a non-empty array");
            t->n_modules = json_array_size(ids);
            t->modules = calloc(t->n_modules + 1, sizeof(*t->modules));
            if (t->modules == NULL)
                return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            for (size_t i = 0; i < t->n_modules; i++)
                if ((e = att_module_id(&c, json_array_get(ids, i), &t->modules[i], true)))
                    return e;
        }
    }
    json_t *levels = json_object_get(ti, "tcbLevels");
    if (!json_is_array(levels) || json_array_size(levels) == 0)
        return att_jfail(&c, "tcbLevels", "is not a non-empty array");
    t->n_levels = json_array_size(levels);
    t->levels = calloc(t->n_levels, sizeof(*t->levels));
    if (t->levels == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < t->n_levels; i++) {
        json_t *lvl = json_array_get(levels, i), *tcb = json_object_get(lvl, "tcb");
        att_tcb_level_t *L = &t->levels[i];
        if (!json_is_object(tcb))
            return att_jfail(&c, "tcbLevels[].tcb", "is not an object");
        if (t->version == 3) {
            if ((e = att_comp_array(&c, tcb, "sgxtcbcomponents", L->sgx)) != ATT_OK)
                return e;
            if (tdx && (e = att_comp_array(&c, tcb, "tdxtcbcomponents", L->tdx)) != ATT_OK)
                return e;
        } else {
            for (int k = 0; k < 16; k++) {
                char name[24];
                snprintf(name, sizeof(name), "sgxtcbcomp%02dsvn", k + 1);
                if ((e = att_jint(&c, tcb, name, 0, 255, &v)) != ATT_OK)
                    return e;
                L->sgx[k] = (uint8_t)v;
            }
        }
        if ((e = att_jint(&c, tcb, "pcesvn", 0, 65535, &v)) != ATT_OK)
            return e;
        L->pcesvn = (uint16_t)v;
        if ((e = att_jstatus(&c, lvl, false, &L->v)) != ATT_OK)
            return e;
        if ((e = att_jtime(&c, lvl, "tcbDate", &L->tcb_date)) != ATT_OK)
            return e;
        att_time_format(L->tcb_date, L->date);
    }
    qsort(t->levels, t->n_levels, sizeof(*t->levels), att_cmp_tcb_desc);
    for (size_t i = 1; i < t->n_levels; i++)
        if (att_cmp_tcb_desc(&t->levels[i - 1], &t->levels[i]) == 0) {
            const att_tcb_level_t *L = &t->levels[i];
            char sgx[64], tdxs[64];
            for (size_t k = 0, o1 = 0, o2 = 0; k < 16; k++) {
                o1 += (size_t)snprintf(sgx + o1, sizeof(sgx) - o1, "%s%u", k ? "," : "", L->sgx[k]);
                o2 +=
                    (size_t)snprintf(tdxs + o2, sizeof(tdxs) - o2, "%s%u", k ? "," : "", L->tdx[k]);
            }
            return att_diag_set(diag, ATT_E_COLL_FORMAT,
                                "TCB info: duplicated TCB level (SGX "
                                "components [%s], PCESVN %u%s%s%s)",
                                sgx, L->pcesvn, tdx ? ", TDX components [" : "", tdx ? tdxs : "",
                                tdx ? "]" : "");
        }
    return ATT_OK;
}

att_err_t att_qe_identity_parse(const char *json, size_t len, att_qe_identity_t *q, const char **sp,
                                size_t *sl, uint8_t sig[64], att_diag_t *diag)
{
    att_jctx_t c = {"QE identity", diag};
    memset(q, 0, sizeof(*q));
    json_t *ei = NULL;
    att_err_t e = att_signed_doc(&c, json, len, "enclaveIdentity", &ei, sp, sl, sig);
    if (e != ATT_OK)
        return e;
    q->doc = ei;
    long v;
    const char *id;
    if ((e = att_jint(&c, ei, "version", 0, 1000, &v)) != ATT_OK)
        return e;
    q->version = (int)v;
    if (q->version != 2)
        return att_diag_set(diag, ATT_E_QEID_VERSION,
                            "QE identity version %d is not supported (2 is)", q->version);
    if ((e = att_jstr(&c, ei, "id", &id)) != ATT_OK)
        return e;
    if (strcmp(id, "QE") && strcmp(id, "TD_QE"))
        return att_diag_set(diag, ATT_E_QEID_VERSION,
                            "enclave identity id '%.16s' is not QE or TD_QE", id);
    strcpy(q->id, id);
    uint8_t b4[4];
    if ((e = att_jtime(&c, ei, "issueDate", &q->issue_date)) ||
        (e = att_jtime(&c, ei, "nextUpdate", &q->next_update)) ||
        (e = att_jhex(&c, ei, "miscselect", b4, 4)))
        return e;
    /* miscselect and its mask are the report's 4 little-endian bytes in hex, as Intel's QVL
     * reads them ("01000000" is MISCSELECT 1), not a big-endian number */
    q->miscselect = att_le32(b4);
    if ((e = att_jhex(&c, ei, "miscselectMask", b4, 4)))
        return e;
    q->miscselect_mask = att_le32(b4);
    if ((e = att_jhex(&c, ei, "attributes", q->attributes, 16)) ||
        (e = att_jhex(&c, ei, "attributesMask", q->attributes_mask, 16)) ||
        (e = att_jhex(&c, ei, "mrsigner", q->mrsigner, 32)))
        return e;
    if ((e = att_jint(&c, ei, "isvprodid", 0, 65535, &v)) != ATT_OK)
        return e;
    q->isvprodid = (uint16_t)v;
    if ((e = att_jint(&c, ei, "tcbEvaluationDataNumber", 0, 1L << 30, &v)) != ATT_OK)
        return e;
    q->eval_num = (int)v;
    return att_isv_levels(&c, json_object_get(ei, "tcbLevels"), false, &q->levels, &q->n_levels);
}

void att_tcb_info_clear(att_tcb_info_t *t)
{
    for (size_t i = 0; t->modules != NULL && i < t->n_modules; i++)
        free(t->modules[i].levels);
    free(t->modules);
    free(t->levels);
    json_decref(t->doc);
    memset(t, 0, sizeof(*t));
}

void att_qe_identity_clear(att_qe_identity_t *q)
{
    free(q->levels);
    json_decref(q->doc);
    memset(q, 0, sizeof(*q));
}
