/* json.c - JSON views of a TPM quote verification and of log events (jansson). */
#include <string.h>

#include "core/util.h"
#include "tpm/tpm_int.h"

static void att_hex_any(json_t *o, const char *key, const uint8_t *p, size_t n)
{
    char *h = malloc(2 * n + 1);
    if (h == NULL)
        return;
    att_hex_encode(p, n, h);
    json_object_set_new(o, key, json_string(h));
    free(h);
}

static void att_u64_hex(json_t *o, const char *key, uint64_t v)
{
    char buf[19];
    snprintf(buf, sizeof(buf), "0x%016llx", (unsigned long long)v);
    json_object_set_new(o, key, json_string(buf));
}

static json_t *att_sel_json(const att_tpm_sel_t *sel, size_t n)
{
    json_t *a = json_array();
    for (size_t b = 0; b < n; b++) {
        json_t *pcrs = json_array();
        for (int i = 0; i < ATT_TPM_NUM_PCRS; i++)
            if (sel[b].mask & (1u << i))
                json_array_append_new(pcrs, json_integer(i));
        json_array_append_new(
            a, json_pack("{s:s,s:o}", "alg", att_tpm_alg_name(sel[b].alg), "pcrs", pcrs));
    }
    return a;
}

ATT_API json_t *att_tpm_event_json(const att_tpm_event_t *e)
{
    json_t *o = json_object(), *d = json_object();
    json_object_set_new(o, "log", json_string(e->log == ATT_TPM_LOG_TCG ? "tcg" : "ima"));
    json_object_set_new(o, "index", json_integer(e->index));
    json_object_set_new(o, "pcr", json_integer(e->pcr));
    if (e->log == ATT_TPM_LOG_TCG) {
        json_object_set_new(o, "type", json_integer(e->type));
        json_object_set_new(o, "type_name", json_string(att_tpm_event_type_name(e->type)));
    } else {
        json_object_set_new(o, "template", json_string(e->ima_template));
    }
    for (size_t k = 0; k < e->ndigests; k++)
        att_hex_any(d, att_tpm_alg_name(e->digests[k].alg), e->digests[k].d,
                    att_tpm_digest_size(e->digests[k].alg));
    json_object_set_new(o, "digests", d);
    json_object_set_new(o, "verified", json_boolean(e->verified));
    if (e->log == ATT_TPM_LOG_IMA) {
        if (e->ima_file_digest_len > 0) {
            json_object_set_new(o, "file_alg", json_string(e->ima_file_alg));
            att_hex_any(o, "file_digest", e->ima_file_digest, e->ima_file_digest_len);
        }
        if (e->ima_path != NULL) {
            /* A file name need not be UTF-8: then its bytes in hex. */
            size_t n = strlen(e->ima_path);
            json_t *s = json_stringn(e->ima_path, n);
            if (s != NULL)
                json_object_set_new(o, "path", s);
            else
                att_hex_any(o, "path_hex", (const uint8_t *)e->ima_path, n);
        }
    } else if (e->data_len > 0) {
        /* Event data up to 4 kB in hex (longer data: its length; policy reads the digests). */
        if (e->data_len <= 4096)
            att_hex_any(o, "data", e->data, e->data_len);
        json_object_set_new(o, "data_len", json_integer((json_int_t)e->data_len));
    }
    return o;
}

ATT_API json_t *att_tpm_result_json(const att_tpm_result_t *res)
{
    json_t *o = json_object();
    json_object_set_new(o, "verdict", json_string(res->accepted ? "accept" : "reject"));
    if (res->accepted)
        json_object_set_new(o, "error", json_null());
    else
        json_object_set_new(o, "error",
                            json_pack("{s:s,s:i,s:s}", "code", att_err_name(res->diag.code),
                                      "number", (int)res->diag.code, "message", res->diag.msg));
    if (res->ak_loaded) {
        const att_tpm_ak_info_t *k = &res->ak;
        json_t *a = json_pack("{s:s,s:b}", "key", k->desc, "attributes_known", k->tpm_public);
        if (k->tpm_public) {
            json_object_set_new(a, "attributes", json_integer(k->attributes));
            json_object_set_new(a, "flags",
                                json_pack("{s:b,s:b,s:b,s:b,s:b,s:b}", "fixed_tpm", k->fixed_tpm,
                                          "fixed_parent", k->fixed_parent, "sensitive_data_origin",
                                          k->sensitive_data_origin, "restricted", k->restricted,
                                          "sign", k->sign, "decrypt", k->decrypt));
            json_object_set_new(a, "scheme", json_string(att_tpm_alg_name(k->scheme)));
            json_object_set_new(a, "scheme_hash", json_string(att_tpm_alg_name(k->scheme_hash)));
            att_hex_any(a, "name", k->name, k->name_len);
        }
        json_object_set_new(o, "ak", a);
    }
    if (res->sig_parsed) {
        json_object_set_new(o, "signer_alg", json_string(att_tpm_alg_name(res->sig_alg)));
        json_object_set_new(o, "hash_alg", json_string(att_tpm_alg_name(res->sig_hash)));
        json_object_set_new(o, "signature_form", json_string(res->sig_bare ? "bare" : "tpmt"));
    }
    if (!res->parsed)
        return o;
    const att_tpm_attest_t *q = &res->attest;
    char mg[11];
    snprintf(mg, sizeof(mg), "0x%08x", (unsigned)q->magic);
    json_object_set_new(o, "magic", json_string(mg));
    json_object_set_new(o, "type", json_integer(q->type));
    att_hex_any(o, "qualified_signer", q->qualified_signer, q->qualified_signer_len);
    att_hex_any(o, "extra_data", q->extra_data, q->extra_data_len);
    json_object_set_new(o, "clock", json_integer((json_int_t)q->clock));
    json_object_set_new(o, "reset_count", json_integer(q->reset_count));
    json_object_set_new(o, "restart_count", json_integer(q->restart_count));
    json_object_set_new(o, "safe", json_boolean(q->safe));
    att_u64_hex(o, "firmware_version", q->firmware_version);
    json_object_set_new(o, "pcr_selection", att_sel_json(q->sel, q->nsel));
    att_hex_any(o, "pcr_digest", q->pcr_digest, q->pcr_digest_len);
    if (res->pcrs_read) {
        json_t *pv = json_object();
        for (size_t b = 0; b < res->pcrs.nsel; b++) {
            json_t *bank = json_object();
            size_t dl = att_tpm_digest_size(res->pcrs.sel[b].alg);
            for (int i = 0; i < ATT_TPM_NUM_PCRS; i++)
                if (res->pcrs.sel[b].mask & (1u << i)) {
                    char k[4];
                    snprintf(k, sizeof(k), "%d", i);
                    att_hex_any(bank, k, res->pcrs.values[b][i], dl);
                }
            json_object_set_new(pv, att_tpm_alg_name(res->pcrs.sel[b].alg), bank);
        }
        json_object_set_new(o, "pcrs", pv);
    }
    if (res->tcg_log || res->ima_log) {
        json_object_set_new(o, "replayed", json_boolean(res->replayed));
        json_object_set_new(o, "secure_boot",
                            res->secure_boot < 0 ? json_null()
                                                 : json_boolean(res->secure_boot == 1));
        json_object_set_new(o, "boot_manager",
                            res->boot_manager < 0
                                ? json_null()
                                : att_tpm_event_json(&res->events.v[res->boot_manager]));
        json_object_set_new(o, "kernel",
                            res->kernel < 0 ? json_null()
                                            : att_tpm_event_json(&res->events.v[res->kernel]));
        json_object_set_new(o, "boot_applications", json_integer((json_int_t)res->nboot_apps));
        json_object_set_new(o, "tcg_events", json_integer((json_int_t)res->events.ntcg));
        json_object_set_new(o, "ima_events", json_integer((json_int_t)res->events.nima));
        json_t *ev = json_array();
        for (size_t i = 0; i < res->events.n; i++)
            json_array_append_new(ev, att_tpm_event_json(&res->events.v[i]));
        json_object_set_new(o, "events", ev);
    }
    return o;
}
