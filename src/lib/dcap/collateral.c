/* collateral.c - parse and signature-check DCAP collateral once, for many verifications.
 *
 * Checked here (time-independent): the TCB info and QE identity issuer chains to a trusted root
 * (by key), the root CA CRL signature and issuer, that neither signing certificate is revoked,
 * the TCB info and QE identity signatures over their exact bytes, and the PCK CRL with its
 * issuer chain when one is supplied. Not checked here: anything at a time (validity windows are
 * checked by att_dcap_verify against its `now`), or any match with a quote.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "crypto/crypto.h"
#include "dcap/dcap_internal.h"

bool att_cert_init(att_cert_t *c, X509 *x)
{
    c->cert = x;
    return att_asn1_time(X509_get0_notBefore(x), &c->not_before) &&
           att_asn1_time(X509_get0_notAfter(x), &c->not_after);
}

bool att_crl_init(att_crl_t *c, X509_CRL *x)
{
    c->crl = x;
    return X509_CRL_get0_nextUpdate(x) != NULL &&
           att_asn1_time(X509_CRL_get0_lastUpdate(x), &c->this_update) &&
           att_asn1_time(X509_CRL_get0_nextUpdate(x), &c->next_update);
}

/* The checks of att_check_issued before the key: names, issuance, CA flag. */
static att_err_t att_check_names(X509 *cert, X509 *issuer, const char *what, const char *cn1,
                                 const char *cn2, bool ca, att_diag_t *diag)
{
    char cn[128];
    att_x509_cn(X509_get_subject_name(cert), cn, sizeof(cn));
    if (cn1 != NULL && strcmp(cn, cn1) != 0 && (cn2 == NULL || strcmp(cn, cn2) != 0))
        return att_diag_set(diag, ATT_E_CERT_SUBJECT, "%s has CN '%s', expected '%s'%s%s%s", what,
                            cn, cn1, cn2 ? " or '" : "", cn2 ? cn2 : "", cn2 ? "'" : "");
    int r = X509_check_issued(issuer, cert);
    if (r != X509_V_OK) {
        char in[256];
        att_x509_name_str(X509_get_issuer_name(cert), in, sizeof(in));
        return att_diag_set(diag, ATT_E_CERT_ISSUER,
                            "%s (issuer %s) is not issued by the next "
                            "certificate of its chain: %s",
                            what, in, X509_verify_cert_error_string(r));
    }
    if ((X509_check_ca(cert) != 0) != ca)
        return att_diag_set(diag, ATT_E_CERT_CONSTRAINTS, "%s %s a CA certificate", what,
                            ca ? "is not" : "must not be");
    return ATT_OK;
}

static att_err_t att_bad_sig(X509 *issuer, const char *what, att_diag_t *diag)
{
    char icn[128];
    att_x509_cn(X509_get_subject_name(issuer), icn, sizeof(icn));
    return att_diag_set(diag, ATT_E_CERT_SIGNATURE,
                        "%s signature does not verify with the "
                        "key of its issuer '%s'",
                        what, icn);
}

att_err_t att_check_issued_p256(X509 *cert, const uint8_t *der, size_t len, X509 *issuer,
                                const att_p256_t *issuer_key, const char *what, const char *cn1,
                                const char *cn2, bool ca, att_p256_t **key, att_diag_t *diag)
{
    *key = NULL;
    att_err_t e = att_check_names(cert, issuer, what, cn1, cn2, ca, diag);
    if (e != ATT_OK)
        return e;
    att_p256_t *k = att_p256_from_cert(cert);
    if (k == NULL)
        return att_diag_set(diag, ATT_E_CERT_KEY, "%s key is not an ECDSA P-256 key", what);
    if (!att_x509_sig_ok_p256(cert, der, len, issuer_key)) {
        att_p256_free(k);
        return att_bad_sig(issuer, what, diag);
    }
    *key = k;
    return ATT_OK;
}

att_err_t att_check_issued(X509 *cert, X509 *issuer, const char *what, const char *cn1,
                           const char *cn2, bool ca, att_diag_t *diag)
{
    att_err_t e = att_check_names(cert, issuer, what, cn1, cn2, ca, diag);
    if (e != ATT_OK)
        return e;
    if (!att_key_is_p256(X509_get0_pubkey(cert)))
        return att_diag_set(diag, ATT_E_CERT_KEY, "%s key is not an ECDSA P-256 key", what);
    if (!att_x509_sig_ok(cert, X509_get0_pubkey(issuer)))
        return att_bad_sig(issuer, what, diag);
    return ATT_OK;
}

static void att_sha256_hex(att_slice_t s, char out[65]);

/* A raw r||s signature over msg by the key of `cert`. */
static bool att_sig_by_cert(X509 *cert, const uint8_t *msg, size_t len, const uint8_t sig[64])
{
    att_p256_t *k = att_p256_from_pkey(X509_get0_pubkey(cert));
    bool ok = k != NULL && att_p256_verify(k, msg, len, sig);
    att_p256_free(k);
    return ok;
}

/* Is `cert` listed on `crl`? Sets diag naming the certificate and serial. An entry matches on
 * the serial whatever its reason, as in Intel's QVL: X509_CRL_get0_by_serial answers 2 for an
 * entry with reason removeFromCRL (a delta-CRL notion; Intel issues full CRLs), which is still a
 * listed serial here. */
att_err_t att_check_not_revoked(X509_CRL *crl, X509 *cert, const char *what, const char *crl_name,
                                att_diag_t *diag);
att_err_t att_check_not_revoked(X509_CRL *crl, X509 *cert, const char *what, const char *crl_name,
                                att_diag_t *diag)
{
    X509_REVOKED *rev = NULL;
    if (X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(cert)) != 0) {
        char serial[80], cn[128];
        att_x509_serial_hex(X509_get0_serialNumber(cert), serial, sizeof(serial));
        att_x509_cn(X509_get_subject_name(cert), cn, sizeof(cn));
        return att_diag_set(diag, ATT_E_CERT_REVOKED, "%s '%s' serial %s is revoked by the %s",
                            what, cn, serial, crl_name);
    }
    return ATT_OK;
}

/* The extensions Intel's QVL requires of every CRL (CRL_REQUIRED_EXTENSIONS): a CRL number and
 * an authority key identifier, each once. */
static att_err_t att_crl_extensions(X509_CRL *crl, const char *what, att_diag_t *diag)
{
    static const struct {
        int nid;
        const char *name;
    } req[] = {{NID_crl_number, "CRL number"},
               {NID_authority_key_identifier, "authority key identifier"}};
    for (size_t i = 0; i < ATT_ARRAY_LEN(req); i++) {
        int at = X509_CRL_get_ext_by_NID(crl, req[i].nid, -1);
        if (at < 0)
            return att_diag_set(diag, ATT_E_CRL_PARSE,
                                "%s has no %s extension (Intel's CRLs "
                                "carry a CRL number and an authority key identifier)",
                                what, req[i].name);
        if (X509_CRL_get_ext_by_NID(crl, req[i].nid, at) >= 0)
            return att_diag_set(diag, ATT_E_CRL_PARSE, "%s has the %s extension twice", what,
                                req[i].name);
    }
    return ATT_OK;
}

/* A signing chain: signer certificate then the root. Root is checked against trust and `root`. */
static att_err_t att_signing_chain(const att_slice_t *pem, const char *what, const char *cn,
                                   const att_trust_t *trust, att_dcap_collateral_t *c,
                                   att_cert_t *signer, att_diag_t *diag)
{
    if (pem->ptr == NULL || pem->len == 0)
        return att_diag_set(diag, ATT_E_COLL_MISSING, "the %s is missing", what);
    STACK_OF(X509) *sk = att_pem_chain(pem->ptr, pem->len, 4, ATT_E_CERT_PARSE, what, diag);
    if (sk == NULL)
        return ATT_E_CERT_PARSE;
    att_err_t e = ATT_OK;
    if (sk_X509_num(sk) != 2) {
        e = att_diag_set(diag, ATT_E_CERT_PARSE,
                         "the %s holds %d certificates, expected 2 "
                         "(signing certificate, root)",
                         what, sk_X509_num(sk));
        goto out;
    }
    X509 *leaf = sk_X509_value(sk, 0), *root = sk_X509_value(sk, 1);
    if (c->root.cert == NULL) {
        if (!att_trust_has_key(trust, root)) {
            char name[256];
            att_x509_name_str(X509_get_subject_name(root), name, sizeof(name));
            e = att_diag_set(diag, ATT_E_CERT_UNTRUSTED_ROOT,
                             "the root of the %s (%s) is not a "
                             "trusted root key",
                             what, name);
            goto out;
        }
        if ((e = att_dcap_root_key(root, what, diag)) != ATT_OK ||
            (e = att_check_root(root, what, diag)) != ATT_OK)
            goto out;
        X509_up_ref(root);
        if (!att_cert_init(&c->root, root)) {
            e = att_diag_set(diag, ATT_E_CERT_PARSE, "the root of the %s has bad dates", what);
            goto out;
        }
    } else if (X509_cmp(root, c->root.cert) != 0) {
        e = att_diag_set(diag, ATT_E_CERT_ISSUER,
                         "the root of the %s differs from the root of "
                         "the TCB info issuer chain",
                         what);
        goto out;
    }
    if (signer != &c->tcb_signer && c->tcb_signer.cert != NULL &&
        X509_cmp(leaf, c->tcb_signer.cert) == 0) {
        /* Same certificate as the TCB signer: already checked. */
    } else if ((e = att_check_issued(leaf, c->root.cert, what, cn, NULL, false, diag)) != ATT_OK) {
        goto out;
    }
    X509_up_ref(leaf);
    if (!att_cert_init(signer, leaf))
        e = att_diag_set(diag, ATT_E_CERT_PARSE,
                         "the signing certificate of the %s has bad "
                         "dates",
                         what);
out:
    sk_X509_pop_free(sk, X509_free);
    return e;
}

ATT_API att_err_t att_dcap_collateral_new(const att_dcap_collateral_raw_t *raw,
                                          const att_trust_t *trust, att_dcap_collateral_t **out,
                                          att_diag_t *diag)
{
    if (raw == NULL || trust == NULL || out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "collateral: NULL argument");
    *out = NULL;
    static atomic_uint_fast64_t next_id = 1;
    att_dcap_collateral_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    c->id = atomic_fetch_add(&next_id, 1);
    atomic_init(&c->refs, 1);
    if ((c->cas = att_ca_cache_new()) == NULL) {
        free(c);
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    }
    att_sha256_hex(raw->tcb_info, c->hashes.tcbinfohash);
    att_sha256_hex(raw->tcb_info_chain, c->hashes.tcbinfocertshash);
    att_sha256_hex(raw->root_ca_crl, c->hashes.tcbinfocrlhash);
    att_sha256_hex(raw->qe_identity, c->hashes.qeidhash);
    att_sha256_hex(raw->qe_identity_chain, c->hashes.qeidcertshash);
    att_sha256_hex(raw->pck_crl, c->hashes.qeidcrlhash);
    att_err_t e;
    const char *sp;
    size_t sl;
    uint8_t sig[64];

    /* TCB info chain, root, root CRL. */
    if ((e = att_signing_chain(&raw->tcb_info_chain, "TCB info issuer chain",
                               "Intel SGX TCB Signing", trust, c, &c->tcb_signer, diag)))
        goto fail;
    if (raw->root_ca_crl.len == 0) {
        e = att_diag_set(diag, ATT_E_COLL_MISSING, "the root CA CRL is missing");
        goto fail;
    }
    X509_CRL *rcrl = att_crl_parse(raw->root_ca_crl.ptr, raw->root_ca_crl.len, "root CA CRL", diag);
    if (rcrl == NULL) {
        e = ATT_E_CRL_PARSE;
        goto fail;
    }
    if (!att_crl_init(&c->root_crl, rcrl)) {
        e = att_diag_set(diag, ATT_E_CRL_PARSE, "root CA CRL has bad or missing update times");
        goto fail;
    }
    if ((e = att_crl_extensions(rcrl, "root CA CRL", diag)))
        goto fail;
    if (X509_NAME_cmp(X509_CRL_get_issuer(rcrl), X509_get_subject_name(c->root.cert)) != 0) {
        char in[256];
        att_x509_name_str(X509_CRL_get_issuer(rcrl), in, sizeof(in));
        e = att_diag_set(diag, ATT_E_CRL_ISSUER, "root CA CRL is issued by %s, not by the root CA",
                         in);
        goto fail;
    }
    if (!att_crl_sig_ok(rcrl, X509_get0_pubkey(c->root.cert))) {
        e = att_diag_set(diag, ATT_E_CRL_SIGNATURE,
                         "root CA CRL signature does not verify with "
                         "the root CA key");
        goto fail;
    }
    if ((e = att_check_not_revoked(rcrl, c->tcb_signer.cert, "TCB signing certificate",
                                   "root CA CRL", diag)))
        goto fail;

    /* TCB info. */
    if (raw->tcb_info.len == 0) {
        e = att_diag_set(diag, ATT_E_COLL_MISSING, "the TCB info is missing");
        goto fail;
    }
    if ((e = att_tcb_info_parse((const char *)raw->tcb_info.ptr, raw->tcb_info.len, &c->tcb, &sp,
                                &sl, sig, diag)))
        goto fail;
    if (!att_sig_by_cert(c->tcb_signer.cert, (const uint8_t *)sp, sl, sig)) {
        e = att_diag_set(diag, ATT_E_TCBINFO_SIGNATURE,
                         "TCB info signature does not verify "
                         "over the tcbInfo bytes with the TCB signing key");
        goto fail;
    }

    /* QE identity. */
    if ((e = att_signing_chain(&raw->qe_identity_chain, "QE identity issuer chain",
                               "Intel SGX TCB Signing", trust, c, &c->qe_signer, diag)))
        goto fail;
    if (X509_cmp(c->qe_signer.cert, c->tcb_signer.cert) != 0 &&
        (e = att_check_not_revoked(rcrl, c->qe_signer.cert, "QE identity signing certificate",
                                   "root CA CRL", diag)))
        goto fail;
    if (raw->qe_identity.len == 0) {
        e = att_diag_set(diag, ATT_E_COLL_MISSING, "the QE identity is missing");
        goto fail;
    }
    if ((e = att_qe_identity_parse((const char *)raw->qe_identity.ptr, raw->qe_identity.len, &c->qe,
                                   &sp, &sl, sig, diag)))
        goto fail;
    if (!att_sig_by_cert(c->qe_signer.cert, (const uint8_t *)sp, sl, sig)) {
        e = att_diag_set(diag, ATT_E_QEID_SIGNATURE,
                         "QE identity signature does not verify "
                         "over the enclaveIdentity bytes with the TCB signing key");
        goto fail;
    }

    /* PCK CRL, and its issuer chain when given. */
    if (raw->pck_crl.len == 0) {
        e = att_diag_set(diag, ATT_E_COLL_MISSING, "the PCK CRL is missing");
        goto fail;
    }
    X509_CRL *pcrl = att_crl_parse(raw->pck_crl.ptr, raw->pck_crl.len, "PCK CRL", diag);
    if (pcrl == NULL) {
        e = ATT_E_CRL_PARSE;
        goto fail;
    }
    if (!att_crl_init(&c->pck_crl, pcrl)) {
        e = att_diag_set(diag, ATT_E_CRL_PARSE, "PCK CRL has bad or missing update times");
        goto fail;
    }
    if ((e = att_crl_extensions(pcrl, "PCK CRL", diag)))
        goto fail;
    if (raw->pck_crl_chain.len > 0) {
        STACK_OF(X509) *sk = att_pem_chain(raw->pck_crl_chain.ptr, raw->pck_crl_chain.len, 4,
                                           ATT_E_CERT_PARSE, "PCK CRL issuer chain", diag);
        if (sk == NULL) {
            e = ATT_E_CERT_PARSE;
            goto fail;
        }
        X509 *ca = sk_X509_value(sk, 0), *root = sk_X509_value(sk, sk_X509_num(sk) - 1);
        if (sk_X509_num(sk) != 2)
            e = att_diag_set(diag, ATT_E_CERT_PARSE,
                             "the PCK CRL issuer chain holds %d "
                             "certificates, expected 2 (PCK CA, root)",
                             sk_X509_num(sk));
        else if (X509_cmp(root, c->root.cert) != 0)
            e = att_diag_set(diag, ATT_E_CERT_ISSUER,
                             "the root of the PCK CRL issuer chain "
                             "differs from the root of the TCB info issuer chain");
        else if ((e = att_check_issued(ca, c->root.cert, "PCK CA certificate (CRL issuer chain)",
                                       "Intel SGX PCK Processor CA", "Intel SGX PCK Platform CA",
                                       true, diag)) == ATT_OK &&
                 (e = att_check_not_revoked(rcrl, ca, "PCK CA certificate", "root CA CRL", diag)) ==
                     ATT_OK) {
            X509_up_ref(ca);
            if (!att_cert_init(&c->pck_ca, ca))
                e = att_diag_set(diag, ATT_E_CERT_PARSE, "PCK CA certificate has bad dates");
        }
        sk_X509_pop_free(sk, X509_free);
        if (e != ATT_OK)
            goto fail;
        if (X509_NAME_cmp(X509_CRL_get_issuer(pcrl), X509_get_subject_name(c->pck_ca.cert))) {
            char in[256];
            att_x509_name_str(X509_CRL_get_issuer(pcrl), in, sizeof(in));
            e = att_diag_set(diag, ATT_E_CRL_ISSUER,
                             "PCK CRL is issued by %s, not by the PCK CA "
                             "of its issuer chain",
                             in);
            goto fail;
        }
        if (!att_crl_sig_ok(pcrl, X509_get0_pubkey(c->pck_ca.cert))) {
            e = att_diag_set(diag, ATT_E_CRL_SIGNATURE,
                             "PCK CRL signature does not verify with "
                             "the key of its issuer chain's PCK CA");
            goto fail;
        }
    }

    /* Earliest expiry of the collateral itself (the quote's PCK chain adds its own later). */
    att_time_t exp = c->tcb.next_update;
    att_time_t cands[] = {c->qe.next_update,
                          c->root_crl.next_update,
                          c->pck_crl.next_update,
                          c->root.not_after,
                          c->tcb_signer.not_after,
                          c->qe_signer.not_after,
                          c->pck_ca.cert ? c->pck_ca.not_after : exp};
    for (size_t i = 0; i < ATT_ARRAY_LEN(cands); i++)
        if (cands[i] < exp)
            exp = cands[i];
    c->expiry = exp;
    /* The root's bytes and the verified PCK CA for the quotes' chains (att_chain_fast); without
     * them (out of memory) every chain takes the general route. */
    int rl = i2d_X509(c->root.cert, &c->root_der);
    c->root_der_len = rl > 0 ? (size_t)rl : 0;
    c->root_intel = att_trust_is_intel(c->root.cert);
    if (c->pck_ca.cert != NULL) {
        char cn[128];
        att_x509_cn(X509_get_subject_name(c->pck_ca.cert), cn, sizeof(cn));
        if (att_pck_ca_type(cn) != NULL)
            att_ca_cache_add(c->cas, c->pck_ca.cert, att_pck_ca_type(cn));
    }
    ERR_clear_error();
    *out = c;
    return ATT_OK;
fail:
    att_dcap_collateral_free(c);
    return e;
}

static void att_sha256_hex(att_slice_t s, char out[65])
{
    uint8_t h[32];
    if (!att_sha256_2(s.ptr ? s.ptr : (const uint8_t *)"", s.len, NULL, 0, h))
        memset(h, 0, sizeof(h));
    att_hex_encode(h, 32, out);
}

ATT_API att_dcap_collateral_t *att_dcap_collateral_ref(att_dcap_collateral_t *c)
{
    if (c != NULL)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

ATT_API void att_dcap_collateral_hashes(const att_dcap_collateral_t *c,
                                        att_dcap_collateral_hashes_t *out)
{
    *out = c->hashes;
}

ATT_API att_tee_t att_dcap_collateral_tee(const att_dcap_collateral_t *c)
{
    return strcmp(c->tcb.id, "TDX") == 0 ? ATT_TEE_TDX : ATT_TEE_SGX;
}

ATT_API void att_dcap_collateral_fmspc(const att_dcap_collateral_t *c, uint8_t fmspc[6])
{
    memcpy(fmspc, c->tcb.fmspc, 6);
}

ATT_API void att_dcap_collateral_free(att_dcap_collateral_t *c)
{
    if (c == NULL)
        return;
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    X509_free(c->root.cert);
    X509_free(c->tcb_signer.cert);
    X509_free(c->qe_signer.cert);
    X509_free(c->pck_ca.cert);
    X509_CRL_free(c->root_crl.crl);
    X509_CRL_free(c->pck_crl.crl);
    att_tcb_info_clear(&c->tcb);
    att_qe_identity_clear(&c->qe);
    att_ca_cache_free(c->cas);
    OPENSSL_free(c->root_der);
    free(c);
}

ATT_API att_time_t att_dcap_collateral_expiry(const att_dcap_collateral_t *c)
{
    return c ? c->expiry : 0;
}

/* ---- directory loader (the only I/O of the DCAP modules) ---- */

#define ATT_COLL_MAX_FILE (4u << 20)

static att_err_t att_load_one(const char *dir, const char *name, bool required, att_slice_t *out,
                              att_diag_t *diag)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return att_diag_set(diag, ATT_E_ARG, "collateral path too long");
    uint8_t *buf;
    size_t len;
    att_diag_t d;
    att_err_t e = att_read_file(path, ATT_COLL_MAX_FILE, &buf, &len, &d);
    if (e == ATT_E_IO && !required)
        return ATT_OK;
    if (e == ATT_E_IO)
        return att_diag_set(diag, ATT_E_COLL_MISSING, "collateral file missing: %s", d.msg);
    if (e != ATT_OK)
        return att_diag_set(diag, e, "%s", d.msg);
    out->ptr = buf;
    out->len = len;
    return ATT_OK;
}

ATT_API att_err_t att_dcap_collateral_raw_load_dir(const char *dir, att_dcap_collateral_raw_t *raw,
                                                   att_diag_t *diag)
{
    if (dir == NULL || raw == NULL)
        return att_diag_set(diag, ATT_E_ARG, "collateral dir: NULL argument");
    memset(raw, 0, sizeof(*raw));
    att_err_t e;
    if ((e = att_load_one(dir, "tcb_info.json", true, &raw->tcb_info, diag)) ||
        (e = att_load_one(dir, "tcb_info_issuer_chain.pem", true, &raw->tcb_info_chain, diag)) ||
        (e = att_load_one(dir, "qe_identity.json", true, &raw->qe_identity, diag)) ||
        (e = att_load_one(dir, "qe_identity_issuer_chain.pem", true, &raw->qe_identity_chain,
                          diag)) ||
        (e = att_load_one(dir, "pck_crl_issuer_chain.pem", false, &raw->pck_crl_chain, diag)))
        goto fail;
    /* CRLs: DER or PEM under either extension. */
    static const char *const pck[] = {"pck_crl.der", "pck_crl.pem", "pck_crl.crl"};
    static const char *const root[] = {"root_ca_crl.der", "root_ca_crl.pem", "root_ca_crl.crl"};
    for (size_t i = 0; i < 3 && raw->pck_crl.len == 0; i++)
        if ((e = att_load_one(dir, pck[i], false, &raw->pck_crl, diag)))
            goto fail;
    for (size_t i = 0; i < 3 && raw->root_ca_crl.len == 0; i++)
        if ((e = att_load_one(dir, root[i], false, &raw->root_ca_crl, diag)))
            goto fail;
    if (raw->pck_crl.len == 0) {
        e = att_diag_set(diag, ATT_E_COLL_MISSING, "collateral file missing: %s/pck_crl.der", dir);
        goto fail;
    }
    if (raw->root_ca_crl.len == 0) {
        e = att_diag_set(diag, ATT_E_COLL_MISSING, "collateral file missing: %s/root_ca_crl.der",
                         dir);
        goto fail;
    }
    return ATT_OK;
fail:
    att_dcap_collateral_raw_free(raw);
    return e;
}

ATT_API void att_dcap_collateral_raw_free(att_dcap_collateral_raw_t *raw)
{
    if (raw == NULL)
        return;
    att_slice_t *s[] = {&raw->tcb_info,          &raw->tcb_info_chain, &raw->qe_identity,
                        &raw->qe_identity_chain, &raw->pck_crl,        &raw->pck_crl_chain,
                        &raw->root_ca_crl};
    for (size_t i = 0; i < ATT_ARRAY_LEN(s); i++)
        free((void *)s[i]->ptr);
    memset(raw, 0, sizeof(*raw));
}
