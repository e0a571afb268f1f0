/* sevsnp.c - the SevSnpVm type and its backend: AMD SEV-SNP reports verified by src/lib/snp
 * (docs/snp.md) with MAA's x-ms-sevsnpvm-* claims, and the instance that owns the SNP trust store
 * (roots from configuration; AMD's ARKs are pinned in the library) and certificate cache.
 *
 * The evidence (member "report", base64url) is one of:
 * - MAA's JSON {"SnpReport": b64url(report), "VcekCertChain": b64url(PEM VCEK|VLEK, ASK|ASVK,
 *   ARK), "Endorsements"?: ...} (Endorsements, ACI's UVM endorsements, are not read), with an
 *   optional "tpm_quote" when SnpReport is an HCL report;
 * - Trustee's az-snp-vtpm JSON {"version", "hcl_report", "tpm_quote", "vcek"} (attest/hcl.h);
 * - an Azure HCL report ("HCLA"): the SNP report inside, its runtime data bound into
 *   report_data and issued as x-ms-runtime, as MAA does;
 * - a raw report (0x4A0 bytes).
 * The vTPM quote of an HCL report is verified with the AK of its runtime data (HCLAkPub), once
 * the report and the binding have verified; its extraData must be the request's nonce when the
 * request has one (docs/snp.md "The vTPM quote").
 * A chain given with the evidence is used when it verifies; otherwise (and without one) the VCEK is
 * asked from the collateral source
 * ("kds/<product>/vcek/<chip id>/<reported TCB>", AMD KDS with --kds-url), and the product's KDS
 * CRL ("kds/<product>/crl", "vlek-crl") is asked for every report: checked when a source has it
 * (x-attestd-sevsnpvm-crl-checked says whether). Runtime data binds to REPORT_DATA, init-time
 * data to HOST_DATA. Not checked here: what policy decides (docs/snp.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "attest/collateral.h"
#include "attest/hcl.h"
#include "attest/snp.h"
#include "attest/tpm.h"
#include "core/util.h"
#include "crypto/crypto.h"
#include "ev_int.h"
#include "tpm/tpm_int.h"

/* VCEKs/VLEKs remembered per instance, one per chip and TCB (default of --cache-snp-vcek, LRU)
 * and the most it takes. */
#define ATT_EV_SNP_CACHE     16384
#define ATT_EV_SNP_MAX_CACHE (1u << 22)

typedef struct {
    att_trust_t *trust; /* roots from configuration (test hierarchies) */
    att_snp_cache_t *cache;
} att_ev_snp_t;

static att_err_t att_snp_create(void **inst, att_diag_t *d)
{
    att_ev_snp_t *x = calloc(1, sizeof(*x));
    if (x != NULL) {
        x->trust = att_trust_new_empty();
        x->cache = att_snp_cache_new(ATT_EV_SNP_CACHE);
    }
    if (x == NULL || x->trust == NULL || x->cache == NULL) {
        if (x != NULL) {
            att_trust_free(x->trust);
            att_snp_cache_free(x->cache);
        }
        free(x);
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    *inst = x;
    return ATT_OK;
}

static void att_snp_destroy(void *inst)
{
    att_ev_snp_t *x = inst;
    if (x == NULL)
        return;
    att_snp_cache_free(x->cache);
    att_trust_free(x->trust);
    free(x);
}

/* SEV-SNP chains end at an RSA root (AMD's ARKs are RSA-4096 with RSASSA-PSS). */
static att_err_t att_snp_add_root(void *inst, const uint8_t *der, size_t len, att_diag_t *d)
{
    att_ev_snp_t *x = inst;
    const uint8_t *p = der;
    X509 *c = d2i_X509(NULL, &p, (long)len);
    if (c == NULL || p != der + len) {
        X509_free(c);
        return att_diag_set(d, ATT_E_CERT_PARSE, "the root is not one DER certificate");
    }
    int id = EVP_PKEY_get_base_id(X509_get0_pubkey(c));
    X509_free(c);
    if (id != EVP_PKEY_RSA && id != EVP_PKEY_RSA_PSS)
        return att_diag_set(d, ATT_E_CERT_KEY, "SEV-SNP takes RSA roots, like AMD's ARK");
    return att_trust_add_root(x->trust, der, len, d);
}

static void att_snp_stats(void *inst, att_ev_stats_t *out)
{
    att_ev_snp_t *x = inst;
    att_snp_cache_counts_t n;
    att_snp_cache_counts(x->cache, &n);
    out->cache_hits = n.hits;
    out->cache_misses = n.misses;
    out->caches[0] = (att_ev_cache_stats_t){.name = "snp_vcek",
                                            .hits = n.hits,
                                            .misses = n.misses,
                                            .evictions = n.evictions,
                                            .entries = n.entries,
                                            .capacity = n.capacity};
    out->n_caches = 1;
}

/* "cache-snp-vcek": the certificate cache's capacity in leaves (0: the default), set before the
 * first request (the cache starts empty again). */
static att_err_t att_snp_set_limit(void *inst, const char *name, uint64_t value, att_diag_t *d)
{
    att_ev_snp_t *x = inst;
    if (strcmp(name, "cache-snp-vcek") != 0)
        return att_diag_set(d, ATT_E_ARG, "the SEV-SNP verifier has no limit %s", name);
    if (value > ATT_EV_SNP_MAX_CACHE)
        return att_diag_set(d, ATT_E_ARG, "cache-snp-vcek %llu: at most %u certificates",
                            (unsigned long long)value, ATT_EV_SNP_MAX_CACHE);
    att_snp_cache_t *c = att_snp_cache_new(value ? (size_t)value : ATT_EV_SNP_CACHE);
    if (c == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    att_snp_cache_free(x->cache);
    x->cache = c;
    return ATT_OK;
}

static const att_trust_t *att_snp_trust(void *inst)
{
    return ((att_ev_snp_t *)inst)->trust;
}

/* AMD KDS at url (VCEKs, CRLs), CRL signatures checked against AMD's ARKs and the store's roots. */
static att_err_t att_snp_collateral(void *inst, const char *url,
                                    const struct att_coll_fetcher **fetcher, void **cfg,
                                    att_diag_t *d)
{
    att_snp_kds_opts_t o = {.base_url = url, .trust = ((att_ev_snp_t *)inst)->trust};
    *fetcher = &att_snp_kds_fetcher;
    return att_snp_kds_new(&o, cfg, d);
}

const att_ev_backend_t att_ev_snp_backend = {
    .name = "snp",
    .create = att_snp_create,
    .destroy = att_snp_destroy,
    .add_root = att_snp_add_root,
    .stats = att_snp_stats,
    .trust = att_snp_trust,
    .collateral = att_snp_collateral,
    .set_limit = att_snp_set_limit,
};

/* ---- the evidence forms ---- */

/* What one verification keeps: the result (report_data and host_data point into it) and, for an
 * HCL report, its runtime data. */
typedef struct {
    att_snp_result_t res;
    json_t *hcl_runtime;
} att_ev_snp_detail_t;

static void att_snp_detail_free(void *p)
{
    att_ev_snp_detail_t *x = p;
    if (x != NULL)
        json_decref(x->hcl_runtime);
    free(x);
}

/* A KDS object of key from the collateral source; ATT_E_COLL_MISSING when there is no source. */
static att_err_t att_snp_coll(const att_ev_input_t *in, const char *key, att_snp_kds_obj_t **obj,
                              att_diag_t *d)
{
    *obj = NULL;
    if (in->collateral == NULL)
        return att_diag_set(d, ATT_E_COLL_MISSING, "no collateral source");
    void *o = NULL;
    att_err_t e = in->collateral(in->collateral_arg, key, in->now, &o, d);
    *obj = o;
    return e;
}

/* The VCEK from the collateral source (AMD KDS), when the evidence carries no chain: by the
 * report's product, or, for a v2 report (no CPUID), Milan's then Genoa's. */
static att_err_t att_snp_fetch_vcek(const att_ev_input_t *in, const att_snp_report_t *rep,
                                    att_snp_kds_obj_t **vcek, att_diag_t *d)
{
    if (rep->signing_key == ATT_SNP_KEY_VLEK)
        return att_diag_set(d, ATT_E_COLL_MISSING,
                            "the report is signed with a VLEK, which AMD KDS does not serve: send "
                            "its VcekCertChain (VLEK, ASVK, ARK) with the report");
    att_snp_product_t try[2] = {rep->product, ATT_SNP_PRODUCT_UNKNOWN};
    if (rep->product == ATT_SNP_PRODUCT_UNKNOWN) {
        try[0] = ATT_SNP_MILAN;
        try[1] = ATT_SNP_GENOA;
    }
    att_err_t e = ATT_E_COLL_MISSING;
    for (int i = 0; i < 2 && try[i] != ATT_SNP_PRODUCT_UNKNOWN; i++) {
        char key[ATT_COLL_KEY_MAX];
        if ((e = att_snp_kds_key_vcek(try[i], rep->chip_id, rep->reported_tcb, key, sizeof key,
                                      d)) != ATT_OK)
            return e;
        e = att_snp_coll(in, key, vcek, d);
        if (e != ATT_E_COLL_MISSING && e != ATT_E_FETCH_STATUS)
            break;
    }
    if (e == ATT_E_COLL_MISSING) {
        char why[sizeof d->msg];
        snprintf(why, sizeof why, "%s", d->msg);
        return att_diag_set(d, ATT_E_COLL_MISSING,
                            "the SEV-SNP evidence carries no VcekCertChain and its VCEK is not "
                            "available (%s): send the chain with the report, or give attestd "
                            "--kds-url",
                            why);
    }
    return e;
}

static void att_snp_set_tcb(json_t *c, const char *key, const att_snp_tcb_t *t,
                            att_snp_product_t product)
{
    json_t *o = json_pack("{s:i,s:i,s:i,s:i}", "bootloader", t->bootloader, "tee", t->tee, "snp",
                          t->snp, "microcode", t->microcode);
    if (o != NULL && product == ATT_SNP_TURIN)
        json_object_set_new(o, "fmc", json_integer(t->fmc));
    json_object_set_new(c, key, o);
}

/* MAA's x-ms-sevsnpvm-* claims, and what attestd adds (x-attestd-sevsnpvm-*). */
static json_t *att_snp_claims(const att_snp_result_t *r)
{
    const att_snp_report_t *p = &r->report;
    json_t *c = json_object();
    json_object_set_new(c, "x-ms-attestation-type", json_string("sevsnpvm"));
    att_json_set_hex(c, "x-ms-sevsnpvm-authorkeydigest", p->author_key_digest, 48);
    json_object_set_new(c, "x-ms-sevsnpvm-bootloader-svn",
                        json_integer(r->reported_tcb.bootloader));
    att_json_set_hex(c, "x-ms-sevsnpvm-familyId", p->family_id, 16);
    json_object_set_new(c, "x-ms-sevsnpvm-guestsvn", json_integer(p->guest_svn));
    att_json_set_hex(c, "x-ms-sevsnpvm-hostdata", p->host_data, 32);
    att_json_set_hex(c, "x-ms-sevsnpvm-idkeydigest", p->id_key_digest, 48);
    att_json_set_hex(c, "x-ms-sevsnpvm-imageId", p->image_id, 16);
    json_object_set_new(c, "x-ms-sevsnpvm-is-debuggable", json_boolean(p->debug));
    att_json_set_hex(c, "x-ms-sevsnpvm-launchmeasurement", p->measurement, 48);
    json_object_set_new(c, "x-ms-sevsnpvm-microcode-svn", json_integer(r->reported_tcb.microcode));
    json_object_set_new(c, "x-ms-sevsnpvm-migration-allowed",
                        json_boolean(p->policy & ATT_SNP_POLICY_MIGRATE_MA));
    att_json_set_hex(c, "x-ms-sevsnpvm-reportdata", p->report_data, 64);
    att_json_set_hex(c, "x-ms-sevsnpvm-reportid", p->report_id, 32);
    json_object_set_new(c, "x-ms-sevsnpvm-smt-allowed",
                        json_boolean(p->policy & ATT_SNP_POLICY_SMT));
    json_object_set_new(c, "x-ms-sevsnpvm-snpfw-svn", json_integer(r->reported_tcb.snp));
    json_object_set_new(c, "x-ms-sevsnpvm-tee-svn", json_integer(r->reported_tcb.tee));
    json_object_set_new(c, "x-ms-sevsnpvm-vmpl", json_integer(p->vmpl));
    /* attestd's additions */
    att_json_set_hex(c, "x-attestd-sevsnpvm-chip-id", p->chip_id, 64);
    json_object_set_new(c, "x-attestd-sevsnpvm-product",
                        json_string(att_snp_product_name(r->product)));
    json_object_set_new(c, "x-attestd-sevsnpvm-signing-key",
                        json_string(att_snp_key_name(r->signing_key)));
    json_object_set_new(c, "x-attestd-sevsnpvm-report-version", json_integer(p->version));
    json_object_set_new(c, "x-attestd-sevsnpvm-policy", json_integer((json_int_t)p->policy));
    uint64_t pi = p->platform_info;
    json_object_set_new(c, "x-attestd-sevsnpvm-platform-info",
                        json_pack("{s:b,s:b,s:b,s:b,s:b,s:b,s:b}", "smt_enabled",
                                  (pi & ATT_SNP_PLATFORM_SMT_EN) != 0, "tsme_enabled",
                                  (pi & ATT_SNP_PLATFORM_TSME_EN) != 0, "ecc_enabled",
                                  (pi & ATT_SNP_PLATFORM_ECC_EN) != 0, "rapl_disabled",
                                  (pi & ATT_SNP_PLATFORM_RAPL_DIS) != 0, "ciphertext_hiding",
                                  (pi & ATT_SNP_PLATFORM_CIPHERTEXT_HID) != 0,
                                  "alias_check_complete", (pi & ATT_SNP_PLATFORM_ALIAS_CHECK) != 0,
                                  "tio_enabled", (pi & ATT_SNP_PLATFORM_TIO_EN) != 0));
    att_snp_set_tcb(c, "x-attestd-sevsnpvm-reported-tcb", &r->reported_tcb, r->product);
    att_snp_set_tcb(c, "x-attestd-sevsnpvm-committed-tcb", &r->committed_tcb, r->product);
    att_snp_set_tcb(c, "x-attestd-sevsnpvm-launch-tcb", &r->launch_tcb, r->product);
    att_snp_set_tcb(c, "x-attestd-sevsnpvm-current-tcb", &r->current_tcb, r->product);
    if (!r->amd_root)
        json_object_set_new(c, "x-attestd-simulated", json_true());
    return c;
}

/* Certificate failures: the chain the evidence carried may be at fault, not the report. */
static bool att_snp_cert_error(att_err_t e)
{
    return (e >= 201 && e <= 299) || e == ATT_E_SNP_CERT_MISMATCH;
}

/* The certificates the evidence carries: a PEM chain (VcekCertChain) and/or a DER leaf (Trustee's
 * vcek, under AMD's intermediates compiled in). */
typedef struct {
    const uint8_t *chain, *leaf;
    size_t chain_len, leaf_len;
} att_snp_certs_t;

/* Verify a parsed report with the evidence's certificates, or (none) the VCEK and cert_chain from
 * the collateral source; and with the product's KDS CRL when a source has it (*crl_checked). */
static att_err_t att_snp_check(att_ev_snp_t *x, const att_ev_input_t *in, const uint8_t *report,
                               size_t rlen, const att_snp_report_t *rep, const att_snp_certs_t *cc,
                               att_ev_snp_detail_t *det, bool *crl_checked, att_diag_t *d)
{
    att_snp_kds_obj_t *vcek = NULL, *crl = NULL, *ica = NULL;
    att_err_t e = ATT_OK;
    const uint8_t *chain = cc->chain;
    size_t chain_len = cc->chain_len;
    *crl_checked = false;
    if (chain == NULL && cc->leaf == NULL) {
        if ((e = att_snp_fetch_vcek(in, rep, &vcek, d)) != ATT_OK)
            goto out;
        /* the product's ASK (ASVK) and ARK as KDS serves them, else the library's own */
        char kkey[ATT_COLL_KEY_MAX];
        if ((e = att_snp_kds_key_chain(vcek->product, rep->signing_key, kkey, sizeof kkey, d)) !=
            ATT_OK)
            goto out;
        e = att_snp_coll(in, kkey, &ica, d);
        if (e == ATT_E_COLL_MISSING)
            e = ATT_OK;
        else if (e != ATT_OK)
            goto out;
    }
    att_snp_input_t si = {.report = report,
                          .report_len = rlen,
                          .vcek = vcek ? vcek->der : cc->leaf,
                          .vcek_len = vcek ? vcek->len : cc->leaf_len,
                          .chain = chain ? chain
                                   : ica ? ica->der
                                         : NULL,
                          .chain_len = chain ? chain_len
                                       : ica ? ica->len
                                             : 0,
                          .trust = x->trust,
                          .now = in->now};
    /* A v2 report names no product: the first verification learns it from the certificate. */
    att_snp_product_t product = vcek ? vcek->product : rep->product;
    if (product == ATT_SNP_PRODUCT_UNKNOWN) {
        memset(&det->res, 0, sizeof(det->res));
        if ((e = att_snp_verify(&si, x->cache, &det->res)) != ATT_OK) {
            *d = det->res.diag;
            goto out;
        }
        product = det->res.product;
    }
    char ckey[ATT_COLL_KEY_MAX];
    if ((e = att_snp_kds_key_crl(product, rep->signing_key, ckey, sizeof ckey, d)) != ATT_OK)
        goto out;
    e = att_snp_coll(in, ckey, &crl, d);
    if (e == ATT_E_COLL_MISSING) {
        e = ATT_OK;
    } else if (e != ATT_OK) {
        goto out;
    } else {
        si.crl = crl->der;
        si.crl_len = crl->len;
    }
    memset(&det->res, 0, sizeof(det->res));
    if ((e = att_snp_verify(&si, x->cache, &det->res)) != ATT_OK) {
        *d = det->res.diag;
        goto out;
    }
    *crl_checked = crl != NULL;
out:
    att_snp_kds_obj_free(vcek);
    att_snp_kds_obj_free(crl);
    att_snp_kds_obj_free(ica);
    return e;
}

/* The vTPM quote's claims: the PCRs it covers (checked against its pcrDigest), its extraData and
 * whether that was checked against the request's nonce. Names of attestd's own: MAA issues vTPM
 * claims only in AzureGuest tokens (x-ms-azurevm-*), from evidence of another form. */
static void att_snp_vtpm_claims(json_t *c, const att_tpm_result_t *t, bool nonce_checked)
{
    /* idx: the first bank's indexes (one bank: att_hcl_quote_from_json takes no more) */
    json_t *idx = json_array(), *pcrs = idx ? att_ev_tpm_pcr_claims(&t->pcrs, idx) : NULL;
    char x[2 * ATT_TPM_MAX_NAME + 1];
    att_hex_encode(t->attest.extra_data, t->attest.extra_data_len, x);
    json_object_set_new(c, "x-attestd-sevsnpvm-vtpm-pcrs", pcrs);
    json_object_set_new(c, "x-attestd-sevsnpvm-vtpm-attested-pcrs", idx);
    json_object_set_new(c, "x-attestd-sevsnpvm-vtpm-extradata", json_string(x));
    json_object_set_new(c, "x-attestd-sevsnpvm-vtpm-nonce-checked", json_boolean(nonce_checked));
}

static att_err_t att_sevsnp_verify(void *inst, const att_ev_input_t *in, att_ev_result_t *out)
{
    att_ev_snp_t *x = inst;
    att_diag_t *d = &out->diag;
    att_ev_snp_detail_t *det = calloc(1, sizeof(*det));
    if (det == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    out->detail = det;
    out->detail_free = att_snp_detail_free;

    const uint8_t *report = in->evidence;
    size_t rlen = in->len;
    att_snp_evidence_t ev = {0};
    att_snp_certs_t cc = {0};
    att_hcl_report_t hcl = {0};
    att_tpm_result_t tres = {0};
    bool crl_checked = false, vtpm = false;
    att_err_t e = ATT_OK;
    if (rlen > 0 && in->evidence[0] == '{') {
        if ((e = att_snp_evidence_parse(in->evidence, rlen, &ev, d)) != ATT_OK)
            goto out;
        report = ev.report;
        rlen = ev.report_len;
        cc = (att_snp_certs_t){ev.chain, ev.leaf, ev.chain_len, ev.leaf_len};
    }
    if (att_hcl_is_report(report, rlen)) {
        if ((e = att_hcl_report_parse(report, rlen, &hcl, d)) != ATT_OK)
            goto out;
        report = hcl.report;
        rlen = ATT_HCL_HW_REPORT_LEN;
    }
    att_snp_report_t rep;
    if ((e = att_snp_report_parse(report, rlen, &rep, d)) != ATT_OK)
        goto out;
    e = att_snp_check(x, in, report, rlen, &rep, &cc, det, &crl_checked, d);
    if ((cc.chain != NULL || cc.leaf != NULL) && att_snp_cert_error(e)) {
        /* The chain the evidence carries does not verify: the VCEK from KDS may */
        att_diag_t d2;
        bool c2 = false;
        if (att_snp_check(x, in, report, rlen, &rep, &(att_snp_certs_t){0}, det, &c2, &d2) ==
            ATT_OK) {
            e = ATT_OK;
            crl_checked = c2;
        }
    }
    if (e != ATT_OK)
        goto out;
    if (hcl.runtime != NULL) {
        if ((e = att_hcl_check_binding(&hcl, det->res.report.report_data, d)) != ATT_OK)
            goto out;
        det->hcl_runtime = json_incref(hcl.runtime);
    }
    /* The vTPM quote, with the AK the verified runtime data carries. */
    if (ev.has_quote) {
        if ((e = att_hcl_quote_verify(&hcl, &ev.quote, in->nonce, in->nonce_len, &tres)) !=
            ATT_OK) {
            *d = tres.diag;
            goto out;
        }
        vtpm = true;
    }
    out->claims = att_snp_claims(&det->res);
    json_object_set_new(out->claims, "x-attestd-sevsnpvm-crl-checked", json_boolean(crl_checked));
    if (det->hcl_runtime != NULL)
        json_object_set(out->claims, "x-ms-runtime", det->hcl_runtime);
    if (vtpm)
        att_snp_vtpm_claims(out->claims, &tres, in->nonce != NULL);
    out->report_data = det->res.report.report_data;
    out->report_data_name = "the SNP report's REPORT_DATA";
    out->init_data = det->res.report.host_data;
    out->init_data_name = "HOST_DATA";
    att_diag_clear(d); /* a CRL or cert_chain no source had is not an error */
out:
    att_tpm_result_free(&tres);
    att_hcl_report_clear(&hcl);
    att_snp_evidence_clear(&ev);
    return e;
}

static const char *const att_sevsnp_fields[] = {"report", NULL};

static const char *const att_sevsnp_claims_supported[] = {"x-ms-sevsnpvm-is-debuggable",
                                                          "x-ms-sevsnpvm-launchmeasurement",
                                                          "x-ms-sevsnpvm-hostdata",
                                                          "x-ms-sevsnpvm-reportdata",
                                                          "x-ms-sevsnpvm-vmpl",
                                                          "x-ms-sevsnpvm-guestsvn",
                                                          NULL};

const att_ev_type_t att_ev_sevsnp = {
    .name = "SevSnpVm",
    .attestation_type = "sevsnpvm",
    .fields = att_sevsnp_fields,
    .api_version = "2022-08-01",
    .runtime_claim = NULL,
    .claims = att_sevsnp_claims_supported,
    .default_policy = att_ev_policy_permit_all,
    .backend = &att_ev_snp_backend,
    .verify = att_sevsnp_verify,
};
