/* attest/sim.h - a simulated Intel DCAP world: test PKI, signed collateral and quotes.
 *
 *   att_sim_pki_opts_t po;  att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, now);
 *   att_sim_pki_t *pki;     att_sim_pki_new(&po, &pki, &diag);
 *   att_sim_collateral_opts_t co;  att_sim_collateral_opts_default(&co, pki, ATT_TEE_SGX, now);
 *   att_sim_collateral_t coll;     att_sim_collateral_make(pki, &co, &coll, &diag);
 *   att_sim_quote_opts_t qo;  att_sim_quote_opts_default(&qo, ATT_TEE_SGX, 3);
 *   memcpy(qo.sgx.report_data, nonce, 64);
 *   uint8_t *quote; size_t qlen;  att_sim_quote_build(pki, &qo, &quote, &qlen, &diag);
 *   att_sim_collateral_write_dir(&coll, "collateral/", &diag);  // + trust_root.pem
 *   ... att_trust_add_root(trust, coll.trust_root.ptr, coll.trust_root.len, &diag) ...
 *   free(quote); att_sim_collateral_free(&coll); att_sim_pki_free(pki);
 *
 * Everything is ECDSA P-256 / SHA-256 and shaped like Intel's production PKI (docs/sim.md):
 * root CA -> "Intel SGX PCK Processor CA" or "Intel SGX PCK Platform CA" -> "Intel SGX PCK
 * Certificate" (with the SGX extension 1.2.840.113741.1.13.1), and root -> "Intel SGX TCB Signing"
 * which signs TCB info and QE identity. Subjects carry O = "attestd test hierarchy" so a simulated
 * certificate is never mistaken for Intel's; the root is trusted only by explicit configuration
 * (att_trust_add_root). Time is always an argument; nothing reads the clock.
 * What this is NOT: a model of real SGX/TDX hardware. Quotes are signed with keys held in memory;
 * they prove nothing about a platform and must never be trusted outside tests and demos.
 */
#ifndef ATTEST_SIM_H
#define ATTEST_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/dcap.h"
#include "attest/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the certificate hierarchy --------------------------------------------------------- */

typedef enum {
    ATT_SIM_ROOT = 0,   /* self-signed root CA */
    ATT_SIM_PCK_CA,     /* Intel SGX PCK Processor CA / Platform CA */
    ATT_SIM_PCK,        /* Intel SGX PCK Certificate (leaf, signs the QE report) */
    ATT_SIM_TCB_SIGNER, /* Intel SGX TCB Signing (signs TCB info and QE identity) */
    ATT_SIM_N_CERTS
} att_sim_cert_t;

typedef enum {
    ATT_SIM_CA_PROCESSOR =
        0,                   /* "Intel SGX PCK Processor CA" (Intel issues SGX client parts here) */
    ATT_SIM_CA_PLATFORM = 1, /* "Intel SGX PCK Platform CA" (multi-package / TDX servers) */
} att_sim_ca_type_t;

/* A certificate serial number: big-endian unsigned bytes. len 0 means "pick a random one". */
#define ATT_SIM_SERIAL_MAX 20
typedef struct {
    uint8_t bytes[ATT_SIM_SERIAL_MAX];
    size_t len;
} att_sim_serial_t;

typedef struct {
    att_time_t not_before, not_after;
    att_sim_serial_t serial;
} att_sim_cert_opts_t;

/* The PCK certificate SGX extension (docs/dcap.md section 5), values as they are encoded. */
typedef struct {
    uint8_t ppid[16];
    uint8_t comp_svn[16]; /* .2.1 .. .2.16 */
    uint16_t pcesvn;      /* .2.17 */
    uint8_t cpusvn[16];   /* .2.18 */
    uint8_t pceid[2];
    uint8_t fmspc[6];
    uint8_t sgx_type; /* 0 standard, 1 scalable, 2 scalable with integrity */
    /* Platform CA leaves only (.6 and .7); with a processor CA they are not encoded and are
     * reported as zero by att_sim_pki_opts: */
    uint8_t platform_instance_id[16];
    bool dynamic_platform, cached_keys, smt_enabled;
} att_sim_pck_ext_t;

typedef struct {
    att_sim_ca_type_t ca;
    att_sim_cert_opts_t cert[ATT_SIM_N_CERTS]; /* validity and serial of each certificate */
    att_sim_pck_ext_t pck;
    const char *root_cn; /* NULL: "attestd Test SGX Root CA" */
    const char *org;     /* O of every subject; NULL: "attestd test hierarchy" */
} att_sim_pki_opts_t;

typedef struct att_sim_pki att_sim_pki_t;

/* Defaults: every certificate valid from now - 1 day, root for 30 years, CAs and TCB signer 15,
 * leaf 7; random serials; an SGX extension like a real platform (FMSPC 00A067110000 for the
 * processor CA, 00806F050000 for the platform CA, PCE-ID 0000, PCESVN 13, comp SVNs
 * 11,11,2,2,255,1,0...; see docs/sim.md). */
ATT_API void att_sim_pki_opts_default(att_sim_pki_opts_t *o, att_sim_ca_type_t ca, att_time_t now);
/* Generate the four keys and certificates. */
ATT_API att_err_t att_sim_pki_new(const att_sim_pki_opts_t *o, att_sim_pki_t **out,
                                  att_diag_t *diag) ATT_WUR;
/* Replace the PCK leaf (new key, new extension, new validity/serial), as a second platform
 * under the same CA would get. NULL cert_opts keeps the leaf's validity and picks a new serial. */
ATT_API att_err_t att_sim_pki_reissue_pck(att_sim_pki_t *p, const att_sim_pck_ext_t *ext,
                                          const att_sim_cert_opts_t *cert_opts,
                                          att_diag_t *diag) ATT_WUR;

/* Deliberate departures from Intel's encoding of the SGX extension, for negative tests of a
 * verifier's extension parser. Arcs are those of 1.2.840.113741.1.13.1.k (top level, k = 1..7)
 * and .2.k (TCB entries, k = 1..18). All zero: Intel's encoding. */
typedef struct {
    uint32_t omit;      /* bit k: leave top-level entry .k out */
    uint32_t duplicate; /* bit k: write top-level entry .k a second time, right after the first */
    int extra_arc;      /* > 0: append a top-level entry .extra_arc holding OCTET STRING 00 */
    uint32_t tcb_omit;  /* bit k: leave TCB entry .2.k out */
    int tcb_duplicate;  /* 1..16: append TCB component .2.k again, with svn tcb_duplicate_svn */
    uint8_t tcb_duplicate_svn;
} att_sim_pck_ext_quirks_t;

/* att_sim_pki_reissue_pck with the extension encoded with `quirks` (NULL: none). The quirks
 * apply to this leaf only; att_sim_pki_opts() still reports `ext` as the values. A leaf with
 * quirks may not load back with att_sim_pki_load. */
ATT_API att_err_t att_sim_pki_reissue_pck_quirks(att_sim_pki_t *p, const att_sim_pck_ext_t *ext,
                                                 const att_sim_pck_ext_quirks_t *quirks,
                                                 att_diag_t *diag) ATT_WUR;
ATT_API void att_sim_pki_free(att_sim_pki_t *p);

/* The options the hierarchy was made with (PCK extension, validity, serials as chosen). */
ATT_API const att_sim_pki_opts_t *att_sim_pki_opts(const att_sim_pki_t *p);
/* A certificate, borrowed from p: DER, or PEM (NUL-terminated, len excludes the NUL). */
ATT_API att_slice_t att_sim_pki_cert_der(const att_sim_pki_t *p, att_sim_cert_t which);
ATT_API att_slice_t att_sim_pki_cert_pem(const att_sim_pki_t *p, att_sim_cert_t which);
/* The serial of a certificate as it was issued. */
ATT_API att_sim_serial_t att_sim_pki_serial(const att_sim_pki_t *p, att_sim_cert_t which);

/* Write the hierarchy to dir (created 0755 if needed): root.pem, pck_ca.pem, pck.pem and
 * tcb_signer.pem (0644) with their private keys root.key, ... (PKCS#8 PEM, unencrypted, 0600).
 * Existing files are replaced. */
ATT_API att_err_t att_sim_pki_save(const att_sim_pki_t *p, const char *dir,
                                   att_diag_t *diag) ATT_WUR;
/* Load a hierarchy written by att_sim_pki_save. Each key must be P-256 and match its certificate,
 * each certificate must be signed by its issuer's key; the options (CA type, PCK extension,
 * names, validity, serials) are read back from the certificates. */
ATT_API att_err_t att_sim_pki_load(const char *dir, att_sim_pki_t **out, att_diag_t *diag) ATT_WUR;

/* ---- CRLs -------------------------------------------------------------------------------- */

typedef struct {
    att_sim_cert_t issuer; /* whose name is the CRL issuer: ATT_SIM_ROOT or ATT_SIM_PCK_CA */
    att_sim_cert_t signer; /* whose key signs it (normally == issuer) */
    const att_sim_pki_t *signer_pki; /* NULL: the same hierarchy; else sign with another's key */
    att_time_t this_update, next_update;
    const att_sim_serial_t *revoked; /* revoked serials */
    size_t n_revoked;
    uint32_t crl_number;
    int reason; /* RFC 5280 reason code of every entry (1 keyCompromise, 8 removeFromCRL, ...);
                 * negative: entries carry no reason extension */
    bool omit_crl_number, omit_akid; /* leave out the CRL number / AKID extension */
} att_sim_crl_opts_t;

/* Defaults: issuer = signer = `issuer`, thisUpdate now - 1 hour, nextUpdate now + 30 days,
 * reason keyCompromise, CRL number 1 and AKID present. */
ATT_API void att_sim_crl_opts_default(att_sim_crl_opts_t *o, att_sim_cert_t issuer, att_time_t now);
/* A DER CRL (v2, CRL number and AKID extensions unless omitted), malloc'd: free(). */
ATT_API att_err_t att_sim_crl_make(const att_sim_pki_t *p, const att_sim_crl_opts_t *o,
                                   uint8_t **der, size_t *len, att_diag_t *diag) ATT_WUR;

/* ---- signed TCB info and QE identity (PCS API v4 JSON) ---------------------------------- */

#define ATT_SIM_MAX_ADV 8
typedef struct {
    const char *status; /* Intel's spelling: "UpToDate", "OutOfDate", "Revoked", ... */
    att_time_t tcb_date;
    const char *advisory_ids[ATT_SIM_MAX_ADV]; /* NULL-terminated if fewer */
    const char *tcb_date_text; /* NULL: tcb_date as RFC 3339; "": no tcbDate; else verbatim */
} att_sim_status_t;

typedef struct {
    uint8_t sgx_svn[16];
    uint16_t pcesvn;
    uint8_t tdx_svn[16]; /* TDX TCB info only */
    att_sim_status_t st;
} att_sim_tcb_level_t;

typedef struct {
    uint16_t isvsvn;
    att_sim_status_t st;
} att_sim_isv_level_t; /* QE identity and TDX module identity TCB levels */

#define ATT_SIM_MAX_LEVELS 16
typedef struct {
    char id[16]; /* "TDX_01" */
    uint8_t mrsigner[48];
    uint8_t attributes[8], attributes_mask[8];
    size_t n_levels;
    att_sim_isv_level_t levels[ATT_SIM_MAX_LEVELS];
} att_sim_tdx_module_id_t;

#define ATT_SIM_MAX_MODULE_IDS 4
typedef struct {
    att_tee_t tee; /* SGX: id "SGX"; TDX: id "TDX" with tdxModule and tdxModuleIdentities */
    int version;   /* 3, or 2 for the flat SGX format (no id) */
    att_time_t issue_date, next_update;
    uint8_t fmspc[6];
    uint8_t pceid[2];
    unsigned tcb_eval_num;
    size_t n_levels; /* levels in the order written: Intel sorts newest (highest) first */
    att_sim_tcb_level_t levels[ATT_SIM_MAX_LEVELS];
    uint8_t module_mrsigner[48], module_attributes[8], module_attributes_mask[8];
    size_t n_module_ids; /* 0: no tdxModuleIdentities member (unless empty_module_ids) */
    att_sim_tdx_module_id_t module_ids[ATT_SIM_MAX_MODULE_IDS];
    /* For negative tests (all false/0 by default): */
    int tcb_type;          /* the tcbType written (Intel: 0) */
    bool omit_tcb_type;    /* no tcbType member */
    bool module_in_sgx;    /* write tdxModule and tdxModuleIdentities in an SGX TCB info too */
    bool empty_module_ids; /* write "tdxModuleIdentities":[] when n_module_ids is 0 */
} att_sim_tcb_info_t;

typedef struct {
    const char *id; /* "QE" (SGX), "TD_QE" (TDX) or "QVE" */
    int version;    /* 2 */
    att_time_t issue_date, next_update;
    unsigned tcb_eval_num;
    /* Written as the hex of their 4 little-endian bytes, as they sit in the report (Intel's
     * reading): miscselect 0x00000001 is "01000000". */
    uint32_t miscselect, miscselect_mask;
    uint8_t attributes[16], attributes_mask[16];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    size_t n_levels;
    att_sim_isv_level_t levels[ATT_SIM_MAX_LEVELS];
} att_sim_qe_identity_t;

/* Defaults matching the hierarchy's PCK leaf and the default quote: issueDate now - 1 hour,
 * nextUpdate now + 30 days, one level (the leaf's comp SVNs and PCESVN; for TDX the default
 * quote's tee_tcb_svn) with status UpToDate; TDX adds module identity TDX_01 (isvsvn 3 UpToDate).
 * The QE identity matches the default QE report (isvsvn 8 UpToDate). */
ATT_API void att_sim_tcb_info_default(att_sim_tcb_info_t *t, const att_sim_pki_t *p, att_tee_t tee,
                                      att_time_t now);
ATT_API void att_sim_qe_identity_default(att_sim_qe_identity_t *q, att_tee_t tee, att_time_t now);

/* {"tcbInfo":{...},"signature":"<hex r||s>"} signed by the TCB signer over the exact bytes of the
 * inner object as written. malloc'd, NUL-terminated (len excludes it): free(). */
ATT_API att_err_t att_sim_tcb_info_sign(const att_sim_pki_t *p, const att_sim_tcb_info_t *t,
                                        char **json, size_t *len, att_diag_t *diag) ATT_WUR;
/* {"enclaveIdentity":{...},"signature":"<hex>"} likewise. */
ATT_API att_err_t att_sim_qe_identity_sign(const att_sim_pki_t *p, const att_sim_qe_identity_t *q,
                                           char **json, size_t *len, att_diag_t *diag) ATT_WUR;

/* ---- a whole collateral set ---------------------------------------------------------- */

typedef struct {
    uint8_t *ptr;
    size_t len;
} att_sim_buf_t;

/* Owned buffers (free with att_sim_collateral_free); tests may swap any of them. */
typedef struct {
    att_sim_buf_t tcb_info, tcb_info_chain;       /* JSON; PEM signer + root */
    att_sim_buf_t qe_identity, qe_identity_chain; /* JSON; PEM signer + root */
    att_sim_buf_t pck_crl, pck_crl_chain;         /* DER; PEM PCK CA + root */
    att_sim_buf_t root_ca_crl;                    /* DER */
    att_sim_buf_t trust_root;                     /* PEM root certificate */
} att_sim_collateral_t;

typedef struct {
    att_sim_tcb_info_t tcb_info;
    att_sim_qe_identity_t qe_identity;
    att_sim_crl_opts_t pck_crl, root_ca_crl;
} att_sim_collateral_opts_t;

ATT_API void att_sim_collateral_opts_default(att_sim_collateral_opts_t *o, const att_sim_pki_t *p,
                                             att_tee_t tee, att_time_t now);
ATT_API att_err_t att_sim_collateral_make(const att_sim_pki_t *p,
                                          const att_sim_collateral_opts_t *o,
                                          att_sim_collateral_t *out, att_diag_t *diag) ATT_WUR;
/* Borrow the collateral as the verifier takes it. */
ATT_API void att_sim_collateral_raw(const att_sim_collateral_t *c, att_dcap_collateral_raw_t *raw);
/* Create dir if needed (0755) and write tcb_info.json, tcb_info_issuer_chain.pem, qe_identity.json,
 * qe_identity_issuer_chain.pem, pck_crl.der, pck_crl_issuer_chain.pem, root_ca_crl.der and
 * trust_root.pem, each 0644. */
ATT_API att_err_t att_sim_collateral_write_dir(const att_sim_collateral_t *c, const char *dir,
                                               att_diag_t *diag) ATT_WUR;
ATT_API void att_sim_collateral_free(att_sim_collateral_t *c);

/* ---- quotes ------------------------------------------------------------------------------ */

typedef struct {
    uint16_t version; /* 3 (SGX), 4 (SGX or TDX) or 5 */
    att_tee_t tee;
    att_body_type_t body_type;        /* v5 only: SGX, TD10 or TD15; v3/v4 follow tee */
    uint16_t qe_svn_hdr, pce_svn_hdr; /* header informational fields (v3) */
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
    att_sgx_report_t sgx; /* enclave report (SGX); `debug` is ignored, attributes rule */
    att_td_report_t td;   /* TD report (TDX); `debug` is ignored, td_attributes rule */
    att_sgx_report_t qe;  /* QE report; report_data is computed by the builder */
    uint8_t qe_auth_data[64];
    size_t qe_auth_len;
    const uint8_t *attest_key; /* 32-byte P-256 private scalar, or NULL for a fresh key */
    bool pem_nul;              /* NUL-terminate the PEM chain as real quotes do */
} att_sim_quote_opts_t;

/* Defaults: Intel's QE vendor id, a QE report that matches att_sim_qe_identity_default (QE or
 * TD_QE: mrsigner, isvprodid, attributes, isvsvn 8), auth data 00..1f, a non-debug enclave/TD
 * with recognisable measurements, tee_tcb_svn 03 01 02 ... (module TDX_01 svn 3). */
ATT_API void att_sim_quote_opts_default(att_sim_quote_opts_t *o, att_tee_t tee, uint16_t version);
/* Build and sign a quote with the hierarchy's PCK leaf: malloc'd, free(). */
ATT_API att_err_t att_sim_quote_build(const att_sim_pki_t *p, const att_sim_quote_opts_t *o,
                                      uint8_t **quote, size_t *len, att_diag_t *diag) ATT_WUR;

#ifdef __cplusplus
}
#endif
#endif
