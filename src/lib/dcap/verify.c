/* verify.c - Intel DCAP quote verification, in Intel QVL's order (docs/dcap.md section 4).
 *
 * Fails closed at the first failing check, with a named code and a message that names the
 * check and the values. `now` is an argument; nothing here reads the clock or does I/O.
 * Not checked (relying-party policy): debug flags, which statuses to accept, measurements.
 */
#include <string.h>

#include <openssl/sha.h>

#include "core/util.h"
#include "crypto/crypto.h"
#include "dcap/dcap_internal.h"

att_err_t att_check_not_revoked(X509_CRL *crl, X509 *cert, const char *what, const char *crl_name,
                                att_diag_t *diag);

/* ---- time windows ---- */

static att_err_t att_window(att_time_t now, att_time_t from, att_time_t to, att_err_t early,
                            att_err_t late, const char *what, att_diag_t *diag)
{
    char a[ATT_TIME_STRLEN], b[ATT_TIME_STRLEN], n[ATT_TIME_STRLEN];
    if (now < from)
        return att_diag_set(diag, early, "%s is not valid until %s (verification time %s)", what,
                            att_time_format(from, a), att_time_format(now, n));
    if (now > to)
        return att_diag_set(diag, late, "%s expired at %s (verification time %s)", what,
                            att_time_format(to, b), att_time_format(now, n));
    return ATT_OK;
}

static att_err_t att_cert_window(const att_cert_t *c, att_time_t now, const char *what,
                                 att_diag_t *diag)
{
    return att_window(now, c->not_before, c->not_after, ATT_E_CERT_NOT_YET_VALID,
                      ATT_E_CERT_EXPIRED, what, diag);
}

static att_err_t att_crl_window(const att_crl_t *c, att_time_t now, const char *what,
                                att_diag_t *diag)
{
    return att_window(now, c->this_update, c->next_update, ATT_E_CRL_NOT_YET_VALID,
                      ATT_E_CRL_EXPIRED, what, diag);
}

/* ---- the PCK chain carried by the quote ---- */

/* Every time-independent check of the PCK chain: structure, root trust, issuance, names, CA
 * flags, keys, signatures, CRL issuer and signature, revocation, SGX extension. */
static att_err_t att_chain_static(STACK_OF(X509) * sk, const att_dcap_collateral_t *c,
                                  const att_trust_t *trust, att_chain_t *ch, att_diag_t *diag)
{
    if (sk_X509_num(sk) != 3)
        return att_diag_set(diag, ATT_E_QUOTE_PCK_CHAIN,
                            "PCK certificate chain in the quote "
                            "holds %d certificates, expected 3 (PCK, PCK CA, root)",
                            sk_X509_num(sk));
    X509 *leaf = sk_X509_value(sk, 0), *ca = sk_X509_value(sk, 1), *root = sk_X509_value(sk, 2);
    att_cert_t wl, wc, wr;
    if (!att_cert_init(&wl, leaf) || !att_cert_init(&wc, ca) || !att_cert_init(&wr, root))
        return att_diag_set(diag, ATT_E_CERT_PARSE, "a PCK chain certificate has bad dates");
    ch->leaf_nb = wl.not_before;
    ch->leaf_na = wl.not_after;
    ch->ca_nb = wc.not_before;
    ch->ca_na = wc.not_after;
    ch->root_nb = wr.not_before;
    ch->root_na = wr.not_after;

    ch->intel_root = att_trust_is_intel(root);
    /* Root: the collateral's root (already checked), or at least a trusted key. */
    if (X509_cmp(root, c->root.cert) != 0) {
        if (!att_trust_has_key(trust, root)) {
            char name[256];
            att_x509_name_str(X509_get_subject_name(root), name, sizeof(name));
            return att_diag_set(diag, ATT_E_CERT_UNTRUSTED_ROOT,
                                "the root of the PCK chain (%s) "
                                "is not a trusted root key",
                                name);
        }
        att_err_t e = att_dcap_root_key(root, "PCK chain", diag);
        if (e != ATT_OK)
            return e;
        if (EVP_PKEY_eq(X509_get0_pubkey(root), X509_get0_pubkey(c->root.cert)) != 1)
            return att_diag_set(diag, ATT_E_CERT_ISSUER,
                                "the root of the PCK chain is not the "
                                "root that signed the collateral");
        if ((e = att_check_root(root, "PCK chain", diag)) != ATT_OK)
            return e;
    }

    /* PCK CA: already checked with the collateral if it is the same certificate. */
    att_err_t e;
    bool ca_known = c->pck_ca.cert != NULL && X509_cmp(ca, c->pck_ca.cert) == 0;
    if (!ca_known &&
        ((e = att_check_issued(ca, root, "PCK CA certificate", "Intel SGX PCK Processor CA",
                               "Intel SGX PCK Platform CA", true, diag)) ||
         (e = att_check_not_revoked(c->root_crl.crl, ca, "PCK CA certificate", "root CA CRL",
                                    diag))))
        return e;

    char cacn[128];
    att_x509_cn(X509_get_subject_name(ca), cacn, sizeof(cacn));
    ch->ca = att_pck_ca_type(cacn);
    if (ch->ca == NULL)
        return att_diag_set(diag, ATT_E_CERT_SUBJECT, "PCK CA certificate has CN '%s'", cacn);

    /* PCK leaf. */
    if ((e = att_check_issued(leaf, ca, "PCK certificate", "Intel SGX PCK Certificate", NULL, false,
                              diag)))
        return e;

    /* The PCK CRL must come from the leaf's issuer, be signed by it, and not list the leaf. */
    if (X509_NAME_cmp(X509_CRL_get_issuer(c->pck_crl.crl), X509_get_issuer_name(leaf)) != 0) {
        char a[256], b[256];
        att_x509_name_str(X509_CRL_get_issuer(c->pck_crl.crl), a, sizeof(a));
        att_x509_name_str(X509_get_issuer_name(leaf), b, sizeof(b));
        return att_diag_set(diag, ATT_E_CRL_ISSUER,
                            "PCK CRL is issued by %s but the PCK "
                            "certificate by %s",
                            a, b);
    }
    if (!ca_known && !att_crl_sig_ok(c->pck_crl.crl, X509_get0_pubkey(ca)))
        return att_diag_set(diag, ATT_E_CRL_SIGNATURE,
                            "PCK CRL signature does not verify with "
                            "the PCK CA key");
    if ((e = att_check_not_revoked(c->pck_crl.crl, leaf, "PCK certificate", "PCK CRL", diag)))
        return e;
    if ((e = att_pck_ext_parse(leaf, &ch->ext, diag)))
        return e;
    ch->leaf_key = att_p256_from_pkey(X509_get0_pubkey(leaf));
    if (ch->leaf_key == NULL)
        return att_diag_set(diag, ATT_E_CERT_KEY, "PCK certificate key cannot be loaded");
    return ATT_OK;
}

/* The leaf's checks of att_chain_static, in its order, for a chain whose root and PCK CA are
 * the collateral's root and a CA of its cache (the CA checks passed with this collateral). */
static att_err_t att_chain_leaf(X509 *leaf, const uint8_t *der, size_t len,
                                const att_ca_entry_t *ca, const att_dcap_collateral_t *c,
                                att_chain_t *ch, att_diag_t *diag)
{
    att_cert_t wl;
    if (!att_cert_init(&wl, leaf))
        return att_diag_set(diag, ATT_E_CERT_PARSE, "a PCK chain certificate has bad dates");
    ch->leaf_nb = wl.not_before;
    ch->leaf_na = wl.not_after;
    ch->ca_nb = ca->not_before;
    ch->ca_na = ca->not_after;
    ch->root_nb = c->root.not_before;
    ch->root_na = c->root.not_after;
    ch->intel_root = c->root_intel;
    ch->ca = ca->type;
    att_err_t e;
    if ((e = att_check_issued_p256(leaf, der, len, ca->cert, ca->key, "PCK certificate",
                                   "Intel SGX PCK Certificate", NULL, false, &ch->leaf_key, diag)))
        return e;
    if (X509_NAME_cmp(X509_CRL_get_issuer(c->pck_crl.crl), X509_get_issuer_name(leaf)) != 0) {
        char a[256], b[256];
        att_x509_name_str(X509_CRL_get_issuer(c->pck_crl.crl), a, sizeof(a));
        att_x509_name_str(X509_get_issuer_name(leaf), b, sizeof(b));
        return att_diag_set(diag, ATT_E_CRL_ISSUER,
                            "PCK CRL is issued by %s but the PCK "
                            "certificate by %s",
                            a, b);
    }
    /* the PCK CRL's signature verified with this CA's key when it entered the cache */
    if ((e = att_check_not_revoked(c->pck_crl.crl, leaf, "PCK certificate", "PCK CRL", diag)) ||
        (e = att_pck_ext_parse(leaf, &ch->ext, diag)))
        return e;
    return ATT_OK;
}

/* The chain of a first-seen platform, parsed cheaply (docs/performance.md): when the quote's
 * chain is three plain PEM blocks whose root is the collateral's root and whose PCK CA is in the
 * collateral's CA cache (exact DER bytes both), only the leaf is parsed, without decoding its key
 * through OpenSSL's provider decoders, and checked (att_chain_leaf). *taken is false when the
 * chain does not qualify: the caller then takes the general route, which gives every verdict
 * and message for such chains. */
static att_err_t att_chain_fast(const att_quote_t *q, const att_dcap_collateral_t *c,
                                att_chain_t *ch, bool *taken, att_diag_t *diag)
{
    *taken = false;
    uint8_t *der = NULL;
    size_t off[3], lens[3];
    size_t n = att_pem_certs_der(q->pck_chain.ptr, q->pck_chain.len, 3, &der, off, lens);
    const att_ca_entry_t *ca = NULL;
    X509 *leaf = NULL;
    att_err_t e = ATT_OK;
    if (n == 3 && c->root_der != NULL && lens[2] == c->root_der_len &&
        memcmp(der + off[2], c->root_der, lens[2]) == 0 &&
        (ca = att_ca_cache_find(c->cas, der + off[1], lens[1])) != NULL &&
        (leaf = att_x509_der_nokey(der + off[0], lens[0])) != NULL) {
        *taken = true;
        e = att_chain_leaf(leaf, der + off[0], lens[0], ca, c, ch, diag);
    }
    X509_free(leaf);
    free(der);
    return e;
}

static att_err_t att_chain_build(const att_quote_t *q, const att_dcap_collateral_t *c,
                                 const att_trust_t *trust, att_chain_t **out, att_diag_t *diag)
{
    *out = NULL;
    att_chain_t *ch = calloc(1, sizeof(*ch));
    if (ch == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    ch->refs = 1;
    ch->coll_id = c->id;
    bool fast = false;
    att_err_t e = att_chain_fast(q, c, ch, &fast, diag);
    if (!fast) {
        STACK_OF(X509) *sk =
            att_pem_chain(q->pck_chain.ptr, q->pck_chain.len, 8, ATT_E_QUOTE_PCK_CHAIN,
                          "PCK certificate chain in the quote", diag);
        e = sk == NULL ? diag->code : att_chain_static(sk, c, trust, ch, diag);
        /* A CA that passed every check under the collateral's own root serves the next chains
         * (att_chain_static checked it, or it is the collateral's verified PCK CA). */
        if (e == ATT_OK && X509_cmp(sk_X509_value(sk, 2), c->root.cert) == 0)
            att_ca_cache_add(c->cas, sk_X509_value(sk, 1), ch->ca);
        sk_X509_pop_free(sk, X509_free);
    }
    if (e == ATT_OK && (ch->pem = malloc(q->pck_chain.len + 1)) == NULL)
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    if (e != ATT_OK) {
        att_chain_release(ch);
        return e;
    }
    memcpy(ch->pem, q->pck_chain.ptr, q->pck_chain.len);
    ch->pem_len = q->pck_chain.len;
    *out = ch;
    return ATT_OK;
}

/* The validity windows of the chain and of both CRLs at `now`. */
static att_err_t att_chain_times(const att_chain_t *ch, const att_dcap_collateral_t *c,
                                 att_time_t now, att_diag_t *diag)
{
    att_err_t e;
    if ((e = att_window(now, ch->root_nb, ch->root_na, ATT_E_CERT_NOT_YET_VALID, ATT_E_CERT_EXPIRED,
                        "root CA certificate", diag)) ||
        (e = att_window(now, ch->ca_nb, ch->ca_na, ATT_E_CERT_NOT_YET_VALID, ATT_E_CERT_EXPIRED,
                        "PCK CA certificate", diag)) ||
        (e = att_window(now, ch->leaf_nb, ch->leaf_na, ATT_E_CERT_NOT_YET_VALID, ATT_E_CERT_EXPIRED,
                        "PCK certificate", diag)) ||
        (e = att_crl_window(&c->root_crl, now, "root CA CRL", diag)) ||
        (e = att_crl_window(&c->pck_crl, now, "PCK CRL", diag)))
        return e;
    return ATT_OK;
}

/* ---- TCB evaluation ---- */

static void att_add_advisories(att_dcap_result_t *res, json_t *arr)
{
    size_t i;
    json_t *a;
    json_array_foreach(arr, i, a)
    {
        const char *s = json_string_value(a);
        bool dup = false;
        for (size_t k = 0; k < res->n_advisories && !dup; k++)
            dup = !strcmp(res->advisory_ids[k], s);
        if (!dup && res->n_advisories < ATT_MAX_ADVISORIES)
            snprintf(res->advisory_ids[res->n_advisories++], ATT_ADVISORY_LEN, "%s", s);
    }
}

static void att_svn_list(const uint8_t *v, size_t n, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%u", i ? "," : "", v[i]);
}

/* Intel's convergence of a platform status with an OutOfDate or Revoked QE / module status. */
static att_tcb_status_t att_converge(att_tcb_status_t platform, att_tcb_status_t other)
{
    if (other == ATT_TCB_OUT_OF_DATE) {
        if (platform == ATT_TCB_UP_TO_DATE || platform == ATT_TCB_SW_HARDENING_NEEDED)
            return ATT_TCB_OUT_OF_DATE;
        if (platform == ATT_TCB_CONFIGURATION_NEEDED ||
            platform == ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
            return ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
    }
    if (other == ATT_TCB_REVOKED)
        return ATT_TCB_REVOKED;
    return platform;
}

static bool att_config_needed(att_tcb_status_t s)
{
    return s == ATT_TCB_CONFIGURATION_NEEDED || s == ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED ||
           s == ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED ||
           s == ATT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED;
}

static const att_tdx_module_id_t *att_find_module(const att_tcb_info_t *t, uint8_t version)
{
    char id[16];
    snprintf(id, sizeof(id), "TDX_%02X", version);
    for (size_t i = 0; i < t->n_modules; i++)
        if (!strcmp(t->modules[i].id, id))
            return &t->modules[i];
    return NULL;
}

static bool att_sgx_level_match(const att_tcb_level_t *L, const att_pck_ext_t *pck)
{
    for (int i = 0; i < 16; i++)
        if (pck->comp_svn[i] < L->sgx[i])
            return false;
    return pck->pcesvn >= L->pcesvn;
}

static bool att_tdx_level_match(const att_tcb_level_t *L, const uint8_t svn[16])
{
    int start = svn[1] > 0 ? 2 : 0;
    for (int i = start; i < 16; i++)
        if (svn[i] < L->tdx[i])
            return false;
    return true;
}

/* TDX module identity and module TCB status (QVL 4.1.2.4.11). */
static att_err_t att_tdx_module(const att_quote_t *q, const att_tcb_info_t *t,
                                att_dcap_result_t *res, att_diag_t *diag)
{
    const att_td_report_t *td = &q->td;
    static const uint8_t zero8[8];
    if (memcmp(td->seam_attributes, zero8, 8) != 0)
        return att_diag_set(diag, ATT_E_TDX_MODULE_MISMATCH, "SEAM attributes are not zero");
    const att_tdx_module_id_t *m = &t->module;
    uint8_t version = td->tee_tcb_svn[1];
    if (version > 0) {
        m = att_find_module(t, version);
        if (m == NULL)
            return att_diag_set(diag, ATT_E_TDX_MODULE_MISMATCH,
                                "TCB info has no module "
                                "identity TDX_%02X for TDX module major version %u",
                                version, version);
    }
    if (memcmp(td->mrsignerseam, m->mrsigner, 48) != 0) {
        char hex[97];
        att_hex_encode(td->mrsignerseam, 48, hex);
        return att_diag_set(diag, ATT_E_TDX_MODULE_MISMATCH,
                            "MRSIGNERSEAM %s is not the module "
                            "signer of the TCB info",
                            hex);
    }
    for (int i = 0; i < 8; i++)
        if ((td->seam_attributes[i] & m->attributes_mask[i]) != m->attributes[i])
            return att_diag_set(diag, ATT_E_TDX_MODULE_MISMATCH,
                                "SEAM attributes do not match "
                                "the module identity under its mask");
    if (version == 0) {
        res->module_status = ATT_TCB_UP_TO_DATE;
        return ATT_OK;
    }
    for (size_t i = 0; i < m->n_levels; i++) {
        if (td->tee_tcb_svn[0] >= m->levels[i].isvsvn) {
            res->module_status = m->levels[i].v.status;
            att_add_advisories(res, m->levels[i].v.advisories);
            if (res->module_status == ATT_TCB_REVOKED)
                return att_diag_set(diag, ATT_E_TDX_MODULE_TCB_REVOKED,
                                    "TDX module %s SVN %u "
                                    "is at a revoked TCB level (isvsvn %u)",
                                    m->id, td->tee_tcb_svn[0], m->levels[i].isvsvn);
            return ATT_OK;
        }
    }
    return att_diag_set(diag, ATT_E_TDX_MODULE_TCB_NOT_SUPPORTED,
                        "TDX module %s SVN %u is below "
                        "every module TCB level",
                        m->id, td->tee_tcb_svn[0]);
}

/* TD 1.5 relaunch advice (Intel's TDRelaunchCheck): *tdx becomes TDRelaunchAdvised[...] when
 * the module the TD runs now (tee_tcb_svn2) meets the latest TCB level and the latest level of
 * its module identity (levels are sorted: [0] is the latest). A module version in tee_tcb_svn2
 * that the TCB info does not know is a module mismatch, as in QVL. */
static att_err_t att_relaunch(const att_quote_t *q, const att_tcb_info_t *t, att_tcb_status_t sgx,
                              att_tcb_status_t *tdx, att_tcb_status_t module, att_tcb_status_t qe,
                              att_diag_t *diag)
{
    const uint8_t *svn2 = q->td.tee_tcb_svn2;
    if (qe == ATT_TCB_OUT_OF_DATE || qe == ATT_TCB_REVOKED)
        return ATT_OK;
    if (sgx != ATT_TCB_UP_TO_DATE && sgx != ATT_TCB_SW_HARDENING_NEEDED &&
        sgx != ATT_TCB_CONFIGURATION_NEEDED && sgx != ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
        return ATT_OK;
    if (*tdx != ATT_TCB_OUT_OF_DATE && *tdx != ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED)
        return ATT_OK;
    if (module != ATT_TCB_OUT_OF_DATE)
        return ATT_OK;
    const att_tcb_level_t *latest = &t->levels[0];
    bool meets;
    if (svn2[1] == 0) {
        meets = svn2[0] >= latest->tdx[0] && svn2[2] >= latest->tdx[2];
    } else {
        const att_tdx_module_id_t *m = att_find_module(t, svn2[1]);
        if (m == NULL)
            return att_diag_set(diag, ATT_E_TDX_MODULE_MISMATCH,
                                "TCB info has no module "
                                "identity TDX_%02X for the TDX module the TD runs now "
                                "(tee_tcb_svn2 major version %u)",
                                svn2[1], svn2[1]);
        meets = svn2[0] >= m->levels[0].isvsvn && svn2[2] >= latest->tdx[2];
    }
    if (meets)
        *tdx = att_config_needed(sgx) || att_config_needed(*tdx)
                   ? ATT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED
                   : ATT_TCB_TD_RELAUNCH_ADVISED;
    return ATT_OK;
}

/* ---- the whole chain ---- */

static att_err_t att_verify(const uint8_t *buf, size_t len, const att_dcap_collateral_t *c,
                            const att_trust_t *trust, att_time_t now, att_dcap_cache_t *cache,
                            att_dcap_result_t *res, att_chain_t **chp, att_p256_t **akey)
{
    att_diag_t *diag = &res->diag;
    att_quote_t *q = &res->quote;
    att_err_t e;

    /* 1. structure */
    if ((e = att_quote_parse(buf, len, q, diag)))
        return e;
    res->tee = (att_tee_t)q->tee_type;
    bool tdx = q->tee_type == ATT_TEE_TDX;

    /* 2-4. PCK chain, root CA CRL, PCK CRL (time-independent part cached when possible) */
    att_chain_t *ch =
        cache ? att_dcap_cache_get(cache, q->pck_chain.ptr, q->pck_chain.len, c->id) : NULL;
    if (ch == NULL) {
        if ((e = att_chain_build(q, c, trust, &ch, diag)))
            return e;
        if (cache)
            att_dcap_cache_put(cache, ch);
    }
    *chp = ch;
    if ((e = att_chain_times(ch, c, now, diag)))
        return e;
    const att_pck_ext_t pck = ch->ext;
    res->intel_root = ch->intel_root;
    memcpy(res->fmspc, pck.fmspc, 6);
    memcpy(res->pceid, pck.pceid, 2);
    memcpy(res->pck_comp_svn, pck.comp_svn, 16);
    res->pcesvn = pck.pcesvn;

    /* Earliest expiry of everything used. */
    res->collateral_expiry = c->expiry;
    att_time_t certs[] = {ch->leaf_na, ch->ca_na, ch->root_na};
    for (size_t i = 0; i < ATT_ARRAY_LEN(certs); i++)
        if (certs[i] < res->collateral_expiry)
            res->collateral_expiry = certs[i];

    /* 5. TCB info */
    const att_tcb_info_t *t = &c->tcb;
    char ha[16], hb[16];
    if ((e = att_cert_window(&c->tcb_signer, now, "TCB signing certificate", diag)) ||
        (e = att_cert_window(&c->root, now, "root CA certificate of the collateral", diag)) ||
        (e = att_window(now, t->issue_date, t->next_update, ATT_E_TCBINFO_NOT_YET_VALID,
                        ATT_E_TCBINFO_EXPIRED, "TCB info", diag)))
        return e;
    if (tdx ? (t->version != 3 || strcmp(t->id, "TDX")) : (t->version == 3 && strcmp(t->id, "SGX")))
        return att_diag_set(diag, ATT_E_TCBINFO_TEE,
                            "TCB info id '%s' version %d cannot judge a "
                            "%s quote",
                            t->id[0] ? t->id : "(none)", t->version, tdx ? "TDX" : "SGX");
    if (memcmp(t->fmspc, pck.fmspc, 6) != 0) {
        att_hex_encode(t->fmspc, 6, ha);
        att_hex_encode(pck.fmspc, 6, hb);
        return att_diag_set(diag, ATT_E_TCBINFO_FMSPC,
                            "TCB info is for FMSPC %s, the PCK "
                            "certificate says %s",
                            ha, hb);
    }
    if (memcmp(t->pceid, pck.pceid, 2) != 0) {
        att_hex_encode(t->pceid, 2, ha);
        att_hex_encode(pck.pceid, 2, hb);
        return att_diag_set(diag, ATT_E_TCBINFO_PCEID,
                            "TCB info is for PCE-ID %s, the PCK "
                            "certificate says %s",
                            ha, hb);
    }

    /* 6. QE identity */
    const att_qe_identity_t *qi = &c->qe;
    if ((e = att_cert_window(&c->qe_signer, now, "QE identity signing certificate", diag)) ||
        (e = att_window(now, qi->issue_date, qi->next_update, ATT_E_QEID_NOT_YET_VALID,
                        ATT_E_QEID_EXPIRED, "QE identity", diag)))
        return e;
    if (strcmp(qi->id, tdx ? "TD_QE" : "QE") != 0)
        return att_diag_set(diag, ATT_E_QEID_VERSION,
                            "QE identity id '%s' cannot judge a %s "
                            "quote (needs '%s')",
                            qi->id, tdx ? "TDX" : "SGX", tdx ? "TD_QE" : "QE");

    /* 7. QE report signature by the PCK key - unless this chain's key already verified these
     * very bytes (the memo: every quote of a platform carries the same QE report) */
    const att_qe_memo_t *memo = att_chain_qe_find(ch, q->qe_report, q->qe_report_sig);
    if (memo == NULL &&
        !att_p256_verify(ch->leaf_key, q->qe_report, ATT_SGX_REPORT_LEN, q->qe_report_sig))
        return att_diag_set(diag, ATT_E_QE_REPORT_SIGNATURE,
                            "QE report signature does not "
                            "verify with the PCK certificate key");

    /* 8. QE report data binds the attestation key and QE auth data */
    uint8_t h[32];
    if (!att_sha256_2(q->attest_key, 64, q->qe_auth_data.ptr, q->qe_auth_data.len, h))
        return att_diag_set(diag, ATT_E_INTERNAL, "SHA-256 failed");
    static const uint8_t zero32[32];
    if (memcmp(q->qe.report_data, h, 32) != 0 || memcmp(q->qe.report_data + 32, zero32, 32) != 0)
        return att_diag_set(diag, ATT_E_QE_REPORT_DATA,
                            "QE report data is not SHA-256(attestation"
                            " key || QE auth data) followed by 32 zero bytes");

    /* 9. QE identity match and QE TCB */
    if (memcmp(q->qe.mrsigner, qi->mrsigner, 32) != 0) {
        char hex[65];
        att_hex_encode(q->qe.mrsigner, 32, hex);
        return att_diag_set(diag, ATT_E_QE_IDENTITY_MISMATCH,
                            "QE MRSIGNER %s is not the one of "
                            "the QE identity",
                            hex);
    }
    if (q->qe.isvprodid != qi->isvprodid)
        return att_diag_set(diag, ATT_E_QE_IDENTITY_MISMATCH,
                            "QE ISVPRODID %u, QE identity "
                            "requires %u",
                            q->qe.isvprodid, qi->isvprodid);
    if ((q->qe.miscselect & qi->miscselect_mask) != qi->miscselect)
        return att_diag_set(diag, ATT_E_QE_IDENTITY_MISMATCH,
                            "QE MISCSELECT 0x%08x under mask "
                            "0x%08x is not 0x%08x",
                            q->qe.miscselect, qi->miscselect_mask, qi->miscselect);
    for (int i = 0; i < 16; i++)
        if ((q->qe.attributes[i] & qi->attributes_mask[i]) != qi->attributes[i]) {
            char hex[33];
            att_hex_encode(q->qe.attributes, 16, hex);
            return att_diag_set(diag, ATT_E_QE_IDENTITY_MISMATCH,
                                "QE ATTRIBUTES %s do not match "
                                "the QE identity under its mask",
                                hex);
        }
    res->qe_status = ATT_TCB_UNKNOWN;
    for (size_t i = 0; i < qi->n_levels; i++)
        if (q->qe.isvsvn >= qi->levels[i].isvsvn) {
            res->qe_status = qi->levels[i].v.status;
            att_add_advisories(res, qi->levels[i].v.advisories);
            break;
        }
    if (res->qe_status == ATT_TCB_UNKNOWN)
        return att_diag_set(diag, ATT_E_QE_TCB_NOT_SUPPORTED,
                            "QE ISVSVN %u is below every QE "
                            "TCB level",
                            q->qe.isvsvn);
    if (res->qe_status == ATT_TCB_REVOKED)
        return att_diag_set(diag, ATT_E_QE_TCB_REVOKED, "QE ISVSVN %u is at a revoked TCB level",
                            q->qe.isvsvn);

    /* 10. quote signature by the attestation key (the memo's, parsed once, when it is this
     * one; step 8 bound it to the QE report) */
    const att_p256_t *k = NULL;
    if (memo != NULL && memcmp(memo->attest_key, q->attest_key, 64) == 0) {
        k = memo->akey;
    } else {
        *akey = att_p256_from_raw(q->attest_key);
        if (*akey == NULL)
            return att_diag_set(diag, ATT_E_QUOTE_KEY,
                                "attestation key is not a point on "
                                "P-256");
        k = *akey;
    }
    if (!att_p256_verify(k, q->signed_region.ptr, q->signed_region.len, q->signature))
        return att_diag_set(diag, ATT_E_QUOTE_SIGNATURE,
                            "quote signature over the first %zu "
                            "bytes does not verify with the attestation key",
                            q->signed_region.len);
    if (memo == NULL) /* QE report and attestation key both verified: remember them */
        att_chain_qe_add(ch, q->qe_report, q->qe_report_sig, q->attest_key, akey);

    /* 11. TDX module identity */
    if (tdx && (e = att_tdx_module(q, t, res, diag)))
        return e;

    /* 12. platform TCB level: first level whose components the platform meets (the levels
     * are sorted highest first when the collateral is parsed) */
    const att_tcb_level_t *lvl = NULL, *sgx_lvl = NULL;
    for (size_t i = 0; i < t->n_levels && lvl == NULL; i++) {
        if (!att_sgx_level_match(&t->levels[i], &pck))
            continue;
        if (sgx_lvl == NULL)
            sgx_lvl = &t->levels[i];
        if (!tdx || att_tdx_level_match(&t->levels[i], q->td.tee_tcb_svn))
            lvl = &t->levels[i];
    }
    if (lvl == NULL) {
        char comps[80], need[80], tsvn[80];
        att_svn_list(pck.comp_svn, 16, comps, sizeof(comps));
        att_svn_list(t->levels[t->n_levels - 1].sgx, 16, need, sizeof(need));
        if (tdx) {
            char tneed[80];
            att_svn_list(q->td.tee_tcb_svn, 16, tsvn, sizeof(tsvn));
            att_svn_list(t->levels[t->n_levels - 1].tdx, 16, tneed, sizeof(tneed));
            return att_diag_set(diag, ATT_E_TCB_NOT_SUPPORTED,
                                "no TCB level matches: PCK SGX "
                                "components [%s] PCESVN %u, TEE TCB SVN [%s]; the lowest level "
                                "needs SGX [%s] PCESVN %u, TDX [%s]",
                                comps, pck.pcesvn, tsvn, need, t->levels[t->n_levels - 1].pcesvn,
                                tneed);
        }
        return att_diag_set(diag, ATT_E_TCB_NOT_SUPPORTED,
                            "no TCB level matches: PCK SGX "
                            "components [%s] PCESVN %u; the lowest level needs [%s] PCESVN %u",
                            comps, pck.pcesvn, need, t->levels[t->n_levels - 1].pcesvn);
    }
    res->platform_status = lvl->v.status;
    att_add_advisories(res, lvl->v.advisories);
    if (lvl->v.status == ATT_TCB_REVOKED)
        return att_diag_set(diag, ATT_E_TCB_REVOKED, "the platform TCB level of %s is revoked",
                            lvl->date);

    /* 13. status convergence */
    att_tcb_status_t s = lvl->v.status;
    if (tdx) {
        s = att_converge(s, res->module_status);
        if (q->body_type == ATT_BODY_TD15 &&
            (e = att_relaunch(q, t, sgx_lvl->v.status, &s, res->module_status, res->qe_status,
                              diag)))
            return e;
    }
    s = att_converge(s, res->qe_status);
    res->status = s;
    if (s == ATT_TCB_REVOKED)
        return att_diag_set(diag, ATT_E_TCB_REVOKED, "the converged TCB status is Revoked");
    return ATT_OK;
}

ATT_API att_err_t att_dcap_verify_cached(const uint8_t *quote, size_t len,
                                         const att_dcap_collateral_t *c, const att_trust_t *trust,
                                         att_time_t now, att_dcap_cache_t *cache,
                                         att_dcap_result_t *res)
{
    if (res == NULL)
        return ATT_E_ARG;
    memset(res, 0, sizeof(*res));
    if (quote == NULL || c == NULL || trust == NULL)
        return att_diag_set(&res->diag, ATT_E_ARG, "verify: NULL argument");
    att_chain_t *ch = NULL;
    att_p256_t *akey = NULL;
    att_err_t e = att_verify(quote, len, c, trust, now, cache, res, &ch, &akey);
    att_p256_free(akey);
    att_chain_release(ch);
    res->accepted = e == ATT_OK;
    if (e == ATT_OK)
        att_diag_clear(&res->diag);
    else
        res->diag.code = e;
    return e;
}

ATT_API att_err_t att_dcap_verify(const uint8_t *quote, size_t len, const att_dcap_collateral_t *c,
                                  const att_trust_t *trust, att_time_t now, att_dcap_result_t *res)
{
    return att_dcap_verify_cached(quote, len, c, trust, now, NULL, res);
}
