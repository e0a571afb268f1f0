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
#include "attest/snp.h"
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
/* The signed TCB info `json` (as att_sim_tcb_info_sign writes it) with tcbInfo.fmspc replaced by
 * `fmspc` and signed anew by p's TCB signer: the same TCB levels for another FMSPC (attest sim
 * fleet --fmspcs). malloc'd, NUL-terminated (len excludes it): free(). */
ATT_API att_err_t att_sim_tcb_info_refmspc(const att_sim_pki_t *p, const uint8_t *json,
                                           size_t json_len, const uint8_t fmspc[6], char **out,
                                           size_t *len, att_diag_t *diag) ATT_WUR;
/* {"enclaveIdentity":{...},"signature":"<hex>"} likewise. */
ATT_API att_err_t att_sim_qe_identity_sign(const att_sim_pki_t *p, const att_sim_qe_identity_t *q,
                                           char **json, size_t *len, att_diag_t *diag) ATT_WUR;

/* Intel's TCB evaluation data numbers list (attest/tcbeval.h) for tee, signed by the TCB
 * signer: {"tcbEvaluationDataNumbers":{"id","version":1,"issueDate","nextUpdate",
 * "tcbEvalNumbers":[{"tcbEvaluationDataNumber","tcbRecoveryEventDate","tcbDate"}...]},
 * "signature":hex}, entries in the order given (Intel: highest first). malloc'd, free(). */
typedef struct {
    unsigned number;
    att_time_t recovery_date, tcb_date;
} att_sim_tcbeval_entry_t;
ATT_API att_err_t att_sim_tcbeval_sign(const att_sim_pki_t *p, att_tee_t tee, att_time_t issue_date,
                                       att_time_t next_update, const att_sim_tcbeval_entry_t *e,
                                       size_t n, char **json, size_t *len,
                                       att_diag_t *diag) ATT_WUR;

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

/* ---- AMD SEV-SNP: an AMD-shaped hierarchy, N chips, signed reports (sim_snp.c) ----------- */
/*
 *   att_sim_snp_opts_t so;  att_sim_snp_opts_default(&so, ATT_SNP_MILAN, now);  so.n_chips = 100;
 *   att_sim_snp_t *snp;     att_sim_snp_new(&so, &snp, &diag);
 *   att_sim_snp_report_opts_t ro;  att_sim_snp_report_opts_default(snp, &ro, 7, 3);  // chip 7, v3
 *   memcpy(ro.report_data, nonce, 64);
 *   uint8_t rep[ATT_SNP_REPORT_LEN];  att_sim_snp_report(snp, &ro, rep, &diag);
 *   att_slice_t vcek;  att_sim_snp_leaf(snp, ATT_SNP_KEY_VCEK, 7, ro.reported_tcb, &vcek, &diag);
 *   ... att_trust_add_root(trust, ark.ptr, ark.len) with ark = att_sim_snp_cert_der(snp, ..ARK) ...
 *   att_sim_snp_save(snp, "kds/", &diag);   // KDS layout for attest snp verify --kds-dir + ark.pem
 *   att_sim_snp_free(snp);
 *
 * Shaped like AMD's KDS hierarchy (docs/sim.md): ARK-<product> (self-signed) -> SEV-<product>
 * (ASK) and SEV-VLEK-<product> (ASVK), RSA with RSASSA-PSS SHA-384 (salt 48), 4096 bits as AMD's
 * (smaller for fast tests); VCEKs (one per chip and TCB) and VLEKs (one per TCB) are EC P-384
 * certificates with AMD's extensions (structVersion, productName, the SPLs, hwID or csp_id),
 * serial 0. A chip is a 32-byte secret: its chip_id and the private key of its VCEK at each TCB
 * are derived from it, so a chip signs with the same key at the same TCB every time, and a VCEK
 * issued again (another RSA-PSS salt) still verifies its reports. Subjects carry
 * O = "attestd test hierarchy"; the ARK is trusted only through att_trust_add_root.
 * What this is NOT: a model of AMD firmware. Not thread-safe: one att_sim_snp_t per thread.
 */

typedef struct att_sim_snp att_sim_snp_t;

typedef enum {
    ATT_SIM_SNP_ARK = 0, /* ARK-<product>, self-signed */
    ATT_SIM_SNP_ASK,     /* SEV-<product>: issues VCEKs */
    ATT_SIM_SNP_ASVK,    /* SEV-VLEK-<product>: issues VLEKs */
    ATT_SIM_SNP_N_CERTS
} att_sim_snp_cert_t;

typedef struct {
    att_snp_product_t product; /* Milan, Genoa or Turin */
    unsigned rsa_bits;         /* ARK, ASK and ASVK: 4096 as AMD's; >= 2048 for fast tests */
    size_t n_chips;            /* distinct chips (1 .. ATT_SIM_SNP_MAX_CHIPS) */
    uint64_t tcb; /* the platforms' TCB (raw TCB_VERSION of the product's layout): the default
                   * reported/committed/current/launch TCB and the TCB of the VCEKs written */
    att_time_t now;
    att_sim_cert_opts_t cert[ATT_SIM_SNP_N_CERTS]; /* validity and serial (len 0: random) */
    att_time_t leaf_not_before, leaf_not_after;    /* every VCEK and VLEK */
    const char *org; /* O of every subject; NULL: "attestd test hierarchy" */
} att_sim_snp_opts_t;

#define ATT_SIM_SNP_MAX_CHIPS 1000000

/* Defaults: one chip; RSA-4096; a TCB like a current platform's (Milan/Genoa bl 3 tee 0 snp 8
 * ucode 209; Turin fmc 1 bl 1 tee 1 snp 3 ucode 75); ARK/ASK/ASVK valid from now - 1 day for 25
 * years, VCEKs/VLEKs from now - 1 day for 7 years; random 16-byte serials for the CAs. */
ATT_API void att_sim_snp_opts_default(att_sim_snp_opts_t *o, att_snp_product_t product,
                                      att_time_t now);
/* Generate the RSA keys and CA certificates and the chips' secrets (VCEKs are issued lazily). */
ATT_API att_err_t att_sim_snp_new(const att_sim_snp_opts_t *o, att_sim_snp_t **out,
                                  att_diag_t *diag) ATT_WUR;
ATT_API void att_sim_snp_free(att_sim_snp_t *s);
ATT_API const att_sim_snp_opts_t *att_sim_snp_opts(const att_sim_snp_t *s);

/* The chip_id of chip `chip` (64 bytes; on Turin 8 bytes then zeros), or NULL if out of range. */
ATT_API const uint8_t *att_sim_snp_chip_id(const att_sim_snp_t *s, size_t chip);
/* A TCB_VERSION in the product's layout (Turin: fmc first), the inverse of att_snp_tcb_decode. */
ATT_API uint64_t att_sim_snp_tcb(att_snp_product_t product, uint8_t bootloader, uint8_t tee,
                                 uint8_t snp, uint8_t microcode, uint8_t fmc);

/* The CA certificates, borrowed: DER, or PEM (NUL-terminated, len excludes the NUL). */
ATT_API att_slice_t att_sim_snp_cert_der(const att_sim_snp_t *s, att_sim_snp_cert_t which);
ATT_API att_slice_t att_sim_snp_cert_pem(const att_sim_snp_t *s, att_sim_snp_cert_t which);
ATT_API att_sim_serial_t att_sim_snp_serial(const att_sim_snp_t *s, att_sim_snp_cert_t which);
/* KDS cert_chain: the ASK (kind VCEK) or ASVK (VLEK) then the ARK, PEM, malloc'd (free()). */
ATT_API att_err_t att_sim_snp_cert_chain(const att_sim_snp_t *s, att_snp_key_t kind,
                                         att_sim_buf_t *pem, att_diag_t *diag) ATT_WUR;
/* The VCEK of `chip` at `tcb` (kind VCEK), or the VLEK at `tcb` (kind VLEK; chip ignored), DER,
 * borrowed from s (valid until att_sim_snp_free). Issued on first use and kept. */
ATT_API att_err_t att_sim_snp_leaf(att_sim_snp_t *s, att_snp_key_t kind, size_t chip, uint64_t tcb,
                                   att_slice_t *der, att_diag_t *diag) ATT_WUR;

/* ---- reports ---- */
typedef struct {
    uint32_t version;  /* 2..5; v2 has no CPUID bytes, v5 adds the mitigation vectors */
    size_t chip;       /* whose VCEK signs */
    att_snp_key_t key; /* ATT_SNP_KEY_VCEK or ATT_SNP_KEY_VLEK (key_info) */
    uint32_t guest_svn;
    uint64_t policy; /* default 0x30000: bit 17 (must be 1) and SMT allowed */
    uint32_t vmpl;
    uint8_t family_id[16], image_id[16];
    uint8_t report_data[64], measurement[48], host_data[32];
    uint8_t id_key_digest[48], author_key_digest[48];
    uint8_t report_id[32], report_id_ma[32]; /* report_id_ma default all 0xFF (no MA) */
    uint64_t platform_info;                  /* default SMT_EN | TSME_EN */
    uint64_t reported_tcb, committed_tcb, current_tcb, launch_tcb; /* default: opts.tcb */
    uint8_t current_fw[3], committed_fw[3];                        /* build, minor, major */
    uint64_t launch_mit_vector, current_mit_vector;                /* v5 only */
    uint8_t chip_id[64]; /* default: the chip's; another value makes a wrong-hwID report */
    /* The TCB of the key that signs: false = reported_tcb. With another TCB the report is
     * signature-valid under a VCEK (VLEK) that is not for its reported_tcb. */
    bool other_key_tcb;
    uint64_t key_tcb;
} att_sim_snp_report_opts_t;

/* Defaults for `chip` and `version`: recognisable measurement (0x11..), host_data, report_id. */
ATT_API void att_sim_snp_report_opts_default(const att_sim_snp_t *s, att_sim_snp_report_opts_t *o,
                                             size_t chip, uint32_t version);
/* Lay out and sign (ECDSA P-384, SHA-384 over bytes 0..0x29F, R/S little-endian) a report. */
ATT_API att_err_t att_sim_snp_report(att_sim_snp_t *s, const att_sim_snp_report_opts_t *o,
                                     uint8_t report[ATT_SNP_REPORT_LEN], att_diag_t *diag) ATT_WUR;
/* MAA's SevSnpVm JSON evidence {"SnpReport": b64url(report), "VcekCertChain": b64url(PEM leaf,
 * ASK/ASVK, ARK)} for a report made with `o`. malloc'd, NUL-terminated: free(). */
ATT_API att_err_t att_sim_snp_evidence(att_sim_snp_t *s, const att_sim_snp_report_opts_t *o,
                                       const uint8_t report[ATT_SNP_REPORT_LEN], char **json,
                                       att_diag_t *diag) ATT_WUR;

/* ---- the KDS CRL ---- */
typedef struct {
    att_time_t this_update, next_update;
    const att_sim_serial_t *revoked; /* serials listed (att_sim_snp_serial of the ASK: revoked) */
    size_t n_revoked;
    att_sim_snp_cert_t signer; /* whose key signs: the ARK (AMD), another for negative tests */
    const char *issuer_cn;     /* NULL: ARK-<product> */
} att_sim_snp_crl_opts_t;

/* Defaults: thisUpdate now - 1 hour, nextUpdate now + 30 days, nothing revoked, the ARK. */
ATT_API void att_sim_snp_crl_opts_default(att_sim_snp_crl_opts_t *o, att_time_t now);
/* A DER X.509 v2 CRL, RSASSA-PSS SHA-384 as AMD signs it, malloc'd: free(). */
ATT_API att_err_t att_sim_snp_crl_make(const att_sim_snp_t *s, const att_sim_snp_crl_opts_t *o,
                                       uint8_t **der, size_t *len, att_diag_t *diag) ATT_WUR;

/* ---- a directory ---- */
/* Write dir (created 0755) in the layout `attest snp verify --kds-dir` reads:
 * vcek/v1/<Product>/{cert_chain,crl,<chip_id hex>} (each chip's VCEK at opts.tcb, DER; Turin:
 * the first 8 bytes), vlek/v1/<Product>/{cert_chain,crl}; ark.pem (for --trust-root);
 * chips.txt (one chip_id hex a line); and sim/ (what att_sim_snp_load reads back: the CA
 * certificates, their keys (PKCS#8 PEM, 0600) and snp.json with the chip secrets (0600)). The
 * CRL revokes nothing and is valid from opts.now - 1 hour for 30 days. */
ATT_API att_err_t att_sim_snp_save(att_sim_snp_t *s, const char *dir, att_diag_t *diag) ATT_WUR;
ATT_API att_err_t att_sim_snp_load(const char *dir, att_sim_snp_t **out, att_diag_t *diag) ATT_WUR;

#ifdef __cplusplus
}
#endif
#endif
