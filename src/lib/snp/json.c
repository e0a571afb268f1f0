/* json.c - JSON views of a parsed SEV-SNP report and of a verification result (jansson). */
#include <string.h>

#include "core/util.h"
#include "snp/snp_int.h"

static json_t *att_tcb_json(const att_snp_tcb_t *t, att_snp_product_t product)
{
    char raw[19];
    snprintf(raw, sizeof(raw), "0x%016llx", (unsigned long long)t->raw);
    json_t *o = json_pack("{s:i,s:i,s:i,s:i}", "bootloader", t->bootloader, "tee", t->tee, "snp",
                          t->snp, "microcode", t->microcode);
    if (product == ATT_SNP_TURIN)
        json_object_set_new(o, "fmc", json_integer(t->fmc));
    json_object_set_new(o, "raw", json_string(raw));
    return o;
}

static void att_u64_hex(json_t *o, const char *key, uint64_t v)
{
    char buf[19];
    snprintf(buf, sizeof(buf), "0x%016llx", (unsigned long long)v);
    json_object_set_new(o, key, json_string(buf));
}

/* The report fields, TCBs decomposed by `product`. */
static void att_report_fields(json_t *o, const att_snp_report_t *r, att_snp_product_t product)
{
    char v[24];
    att_snp_tcb_t t;
    json_object_set_new(o, "version", json_integer(r->version));
    json_object_set_new(o, "product", json_string(att_snp_product_name(product)));
    json_object_set_new(o, "signing_key", json_string(att_snp_key_name(r->signing_key)));
    json_object_set_new(o, "vmpl", json_integer(r->vmpl));
    json_object_set_new(o, "debug", json_boolean(r->debug));
    json_object_set_new(o, "policy", json_integer((json_int_t)r->policy));
    att_u64_hex(o, "policy_hex", r->policy);
    json_object_set_new(o, "guest_svn", json_integer(r->guest_svn));
    att_json_set_hex(o, "measurement", r->measurement, 48);
    att_json_set_hex(o, "report_data", r->report_data, 64);
    att_json_set_hex(o, "host_data", r->host_data, 32);
    att_json_set_hex(o, "chip_id", r->chip_id, 64);
    att_json_set_hex(o, "id_key_digest", r->id_key_digest, 48);
    att_json_set_hex(o, "author_key_digest", r->author_key_digest, 48);
    att_json_set_hex(o, "family_id", r->family_id, 16);
    att_json_set_hex(o, "image_id", r->image_id, 16);
    att_json_set_hex(o, "report_id", r->report_id, 32);
    att_json_set_hex(o, "report_id_ma", r->report_id_ma, 32);
    att_snp_tcb_decode(r->reported_tcb, product, &t);
    json_object_set_new(o, "reported_tcb", att_tcb_json(&t, product));
    att_snp_tcb_decode(r->committed_tcb, product, &t);
    json_object_set_new(o, "committed_tcb", att_tcb_json(&t, product));
    att_snp_tcb_decode(r->current_tcb, product, &t);
    json_object_set_new(o, "current_tcb", att_tcb_json(&t, product));
    att_snp_tcb_decode(r->launch_tcb, product, &t);
    json_object_set_new(o, "launch_tcb", att_tcb_json(&t, product));
    att_u64_hex(o, "platform_info", r->platform_info);
    json_object_set_new(
        o, "platform_flags",
        json_pack("{s:b,s:b,s:b,s:b,s:b,s:b,s:b}", "smt_enabled",
                  (r->platform_info & ATT_SNP_PLATFORM_SMT_EN) != 0, "tsme_enabled",
                  (r->platform_info & ATT_SNP_PLATFORM_TSME_EN) != 0, "ecc_enabled",
                  (r->platform_info & ATT_SNP_PLATFORM_ECC_EN) != 0, "rapl_disabled",
                  (r->platform_info & ATT_SNP_PLATFORM_RAPL_DIS) != 0, "ciphertext_hiding",
                  (r->platform_info & ATT_SNP_PLATFORM_CIPHERTEXT_HID) != 0, "alias_check_complete",
                  (r->platform_info & ATT_SNP_PLATFORM_ALIAS_CHECK) != 0, "tio_enabled",
                  (r->platform_info & ATT_SNP_PLATFORM_TIO_EN) != 0));
    json_object_set_new(o, "key_info", json_integer(r->key_info));
    json_object_set_new(o, "author_key_en", json_boolean(r->author_key_en));
    if (r->version >= 3) {
        snprintf(v, sizeof(v), "0x%02x/0x%02x/%u", r->cpuid_fam_id, r->cpuid_mod_id, r->cpuid_step);
        json_object_set_new(o, "cpuid_family_model_step", json_string(v));
    }
    snprintf(v, sizeof(v), "%u.%u.%u", r->current_major, r->current_minor, r->current_build);
    json_object_set_new(o, "current_firmware", json_string(v));
    snprintf(v, sizeof(v), "%u.%u.%u", r->committed_major, r->committed_minor, r->committed_build);
    json_object_set_new(o, "committed_firmware", json_string(v));
    if (r->version >= 5) {
        att_u64_hex(o, "launch_mit_vector", r->launch_mit_vector);
        att_u64_hex(o, "current_mit_vector", r->current_mit_vector);
    }
}

ATT_API json_t *att_snp_report_json(const att_snp_report_t *r)
{
    json_t *o = json_object();
    if (o != NULL && r != NULL)
        att_report_fields(o, r, r->product);
    return o;
}

ATT_API json_t *att_snp_result_json(const att_snp_result_t *res)
{
    json_t *o = json_object();
    char t[ATT_TIME_STRLEN];
    json_object_set_new(o, "verdict", json_string(res->accepted ? "accept" : "reject"));
    if (res->accepted)
        json_object_set_new(o, "error", json_null());
    else
        json_object_set_new(o, "error",
                            json_pack("{s:s,s:i,s:s}", "code", att_err_name(res->diag.code),
                                      "number", (int)res->diag.code, "message", res->diag.msg));
    if (!res->parsed)
        return o;
    att_report_fields(o, &res->report, res->product);
    if (res->cert_product[0] != '\0') {
        json_object_set_new(o, "cert_product", json_string(res->cert_product));
        json_object_set_new(o, "amd_root", json_boolean(res->amd_root));
        json_object_set_new(o, "cert_not_after",
                            json_string(att_time_format(res->leaf_not_after, t)));
    }
    if (res->csp_id[0] != '\0')
        json_object_set_new(o, "csp_id", json_string(res->csp_id));
    return o;
}
