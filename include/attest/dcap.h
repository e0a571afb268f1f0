/* attest/dcap.h - Intel DCAP ECDSA quote parsing and verification (SGX v3, SGX/TDX v4, TDX v5).
 *
 *   att_trust_t *trust = att_trust_new();             // pins the Intel SGX Root CA
 *   att_dcap_collateral_t *coll;
 *   att_dcap_collateral_load_dir("collateral/", &coll, &diag);   // files as Intel PCS serves them
 *   att_dcap_result_t res;
 *   att_err_t e = att_dcap_verify(quote, quote_len, coll, trust, now, &res);
 *   if (e == ATT_OK)  ... res.status, res.advisory_ids, res.sgx.mrenclave ...
 *   else              ... res.diag.msg says which check failed, on what values ...
 *   att_dcap_collateral_free(coll); att_trust_free(trust);
 *
 * What is checked: the whole Intel QVL chain (docs/dcap.md section 4): quote structure, PCK
 * chain to a pinned ECDSA P-256 root by key, root CA CRL and PCK CRL (signature, issuer, validity,
 * revocation of every certificate), PCK SGX extensions, TCB info and QE identity (signatures
 * through their issuer chain, validity, ids and versions, FMSPC/PCE-ID), QE report signature and
 * report-data binding, QE identity match and TCB, quote signature, TDX module identity and TCB,
 * platform TCB level, status convergence and TD 1.5 relaunch advice. What is NOT checked: anything
 * a relying party decides by policy (debug enclaves, which TCB statuses to accept, MRENCLAVE
 * values, report data contents). The verifier does no I/O and never reads the clock: `now` is an
 * argument.
 */
#ifndef ATTEST_DCAP_H
#define ATTEST_DCAP_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/trust.h"
#include "attest/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- quote structure ---------------------------------------------------------------- */

typedef enum { ATT_TEE_SGX = 0x00000000, ATT_TEE_TDX = 0x00000081 } att_tee_t;

typedef enum {
    ATT_BODY_SGX = 1,  /* SGX enclave report, 384 bytes */
    ATT_BODY_TD10 = 2, /* TD report 1.0, 584 bytes */
    ATT_BODY_TD15 = 3, /* TD report 1.5, 648 bytes */
} att_body_type_t;

typedef struct {
    uint8_t cpusvn[16];
    uint32_t miscselect;
    uint8_t attributes[16]; /* flags u64 LE then xfrm u64 LE */
    uint8_t mrenclave[32];
    uint8_t mrsigner[32];
    uint8_t configid[64];
    uint16_t isvprodid;
    uint16_t isvsvn;
    uint16_t configsvn;
    uint8_t isvextprodid[16];
    uint8_t isvfamilyid[16];
    uint8_t report_data[64];
    bool debug; /* attributes.flags bit 1 */
} att_sgx_report_t;

typedef struct {
    uint8_t tee_tcb_svn[16];
    uint8_t mrseam[48];
    uint8_t mrsignerseam[48];
    uint8_t seam_attributes[8];
    uint8_t td_attributes[8];
    uint8_t xfam[8];
    uint8_t mrtd[48];
    uint8_t mrconfigid[48];
    uint8_t mrowner[48];
    uint8_t mrownerconfig[48];
    uint8_t rtmr[4][48];
    uint8_t report_data[64];
    uint8_t tee_tcb_svn2[16]; /* TD 1.5 only */
    uint8_t mrservicetd[48];  /* TD 1.5 only */
    bool debug;               /* td_attributes byte 0 bit 0 */
} att_td_report_t;

/* A parsed quote. Pointers borrow the caller's buffer, which must outlive this struct. */
typedef struct {
    uint16_t version;
    uint16_t att_key_type;
    uint32_t tee_type;
    uint16_t qe_svn;  /* header, informational (v3) */
    uint16_t pce_svn; /* header, informational (v3) */
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
    att_body_type_t body_type;
    att_sgx_report_t sgx;      /* when body_type == ATT_BODY_SGX */
    att_td_report_t td;        /* when body_type is TD10 or TD15 */
    att_slice_t signed_region; /* header (+ v5 descriptor) + body */
    uint32_t sig_data_len;
    const uint8_t *signature;     /* 64 bytes r||s */
    const uint8_t *attest_key;    /* 64 bytes x||y */
    uint16_t outer_cert_type;     /* 5 for v3; 6 for v4/v5 */
    const uint8_t *qe_report;     /* 384 bytes */
    att_sgx_report_t qe;          /* parsed QE report */
    const uint8_t *qe_report_sig; /* 64 bytes */
    att_slice_t qe_auth_data;
    uint16_t cert_type;    /* inner certification data type (5) */
    att_slice_t pck_chain; /* PEM, may carry a trailing NUL */
    size_t quote_len;      /* bytes actually used */
    size_t trailing;       /* bytes after the signature data, tolerated and reported */
} att_quote_t;

/* Parse a quote with every length checked. On failure diag names the field and sizes. */
ATT_API att_err_t att_quote_parse(const uint8_t *buf, size_t len, att_quote_t *q,
                                  att_diag_t *diag) ATT_WUR;

/* ---- trust anchors ----------------------------------------------------------------- */

/* The store type and att_trust_add_root / _file / _free are in attest/trust.h. */

/* The DCAP verifier's trust store: the Intel SGX Root CA's public key pinned. Extra roots
 * (att_trust_add_root: test hierarchies, attestd --trust-root) may be of any key type the store
 * accepts, but a DCAP chain (PCK chain, TCB info and QE identity issuer chains) must end at an
 * ECDSA P-256 root: one ending at a trusted RSA or P-384 root is refused with ATT_E_CERT_KEY. */
ATT_API att_trust_t *att_trust_new(void);

/* ---- collateral ---------------------------------------------------------------------- */

/* Raw collateral as Intel PCS serves it. Chains are PEM (signing cert first, root last).
 * CRLs are DER or PEM. pck_crl_chain may be empty: the quote's own chain is used then. */
typedef struct {
    att_slice_t tcb_info; /* {"tcbInfo":{...},"signature":"hex"} */
    att_slice_t tcb_info_chain;
    att_slice_t qe_identity; /* {"enclaveIdentity":{...},"signature":"hex"} */
    att_slice_t qe_identity_chain;
    att_slice_t pck_crl;
    att_slice_t pck_crl_chain;
    att_slice_t root_ca_crl;
} att_dcap_collateral_raw_t;

/* Parsed, signature-checked collateral: immutable once made, shareable across threads.
 * Signatures are checked here, against `trust`; validity windows are checked at each
 * att_dcap_verify() against its `now`. */
typedef struct att_dcap_collateral att_dcap_collateral_t;

ATT_API att_err_t att_dcap_collateral_new(const att_dcap_collateral_raw_t *raw,
                                          const att_trust_t *trust, att_dcap_collateral_t **out,
                                          att_diag_t *diag) ATT_WUR;
/* Read the files of a collateral directory (names as in docs/dcap.md) into raw slices.
 * The caller frees with att_dcap_collateral_raw_free. */
ATT_API att_err_t att_dcap_collateral_raw_load_dir(const char *dir, att_dcap_collateral_raw_t *raw,
                                                   att_diag_t *diag) ATT_WUR;
ATT_API void att_dcap_collateral_raw_free(att_dcap_collateral_raw_t *raw);
/* Collateral objects are reference counted: _ref adds a reference, _free drops one. */
ATT_API att_dcap_collateral_t *att_dcap_collateral_ref(att_dcap_collateral_t *c);
ATT_API void att_dcap_collateral_free(att_dcap_collateral_t *c);

/* SHA-256 (lowercase hex) of each raw collateral item, as MAA's x-ms-sgx-collateral claim has. */
typedef struct {
    char tcbinfohash[65], tcbinfocertshash[65], tcbinfocrlhash[65];
    char qeidhash[65], qeidcertshash[65], qeidcrlhash[65];
} att_dcap_collateral_hashes_t;
ATT_API void att_dcap_collateral_hashes(const att_dcap_collateral_t *c,
                                        att_dcap_collateral_hashes_t *out);
/* What the collateral is for: TEE ("SGX"/"TDX" from the TCB info id; SGX for v2) and FMSPC. */
ATT_API att_tee_t att_dcap_collateral_tee(const att_dcap_collateral_t *c);
ATT_API void att_dcap_collateral_fmspc(const att_dcap_collateral_t *c, uint8_t fmspc[6]);

/* The earliest expiry of everything in the collateral (nextUpdate, CRL nextUpdate, notAfter). */
ATT_API att_time_t att_dcap_collateral_expiry(const att_dcap_collateral_t *c);

/* ---- verification --------------------------------------------------------------------- */

typedef enum {
    ATT_TCB_UNKNOWN = 0,
    ATT_TCB_UP_TO_DATE,
    ATT_TCB_SW_HARDENING_NEEDED,
    ATT_TCB_CONFIGURATION_NEEDED,
    ATT_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    ATT_TCB_OUT_OF_DATE,
    ATT_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
    ATT_TCB_TD_RELAUNCH_ADVISED,
    ATT_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
    ATT_TCB_REVOKED,
} att_tcb_status_t;

/* "UpToDate", "SWHardeningNeeded", ... as Intel spells them. */
ATT_API const char *att_tcb_status_name(att_tcb_status_t s);
/* Parse Intel's spelling; ATT_TCB_UNKNOWN if unknown. */
ATT_API att_tcb_status_t att_tcb_status_parse(const char *s);

#define ATT_MAX_ADVISORIES 64
#define ATT_ADVISORY_LEN   32

typedef struct {
    att_diag_t diag;         /* ATT_OK or the failing check */
    bool accepted;           /* verdict */
    att_tcb_status_t status; /* final, converged */
    att_tcb_status_t platform_status, qe_status, module_status;
    size_t n_advisories;
    char advisory_ids[ATT_MAX_ADVISORIES][ATT_ADVISORY_LEN];
    att_time_t collateral_expiry; /* earliest expiry of the collateral and certs used */
    uint8_t fmspc[6];
    uint8_t pceid[2];
    uint16_t pcesvn;
    uint8_t pck_comp_svn[16];
    att_tee_t tee;
    bool intel_root;   /* the PCK chain ends at the pinned Intel SGX Root CA (false: a root
                          trusted by configuration, e.g. a simulated hierarchy) */
    att_quote_t quote; /* parsed structure and every report field */
} att_dcap_result_t;

/* Verify a quote at time `now`. Returns ATT_OK when accepted (res->accepted), else the code of
 * the first failing check, also in res->diag. res is filled as far as verification got. */
ATT_API att_err_t att_dcap_verify(const uint8_t *quote, size_t len, const att_dcap_collateral_t *c,
                                  const att_trust_t *trust, att_time_t now,
                                  att_dcap_result_t *res) ATT_WUR;

/* ---- PCK chain cache ----------------------------------------------------------------- */

/* A bounded, thread-safe cache of verified PCK certificate chains, keyed by the exact chain
 * bytes of the quote and by the collateral (its CRLs) they were checked against. A hit skips
 * parsing the three certificates, their signatures and revocation checks; the validity windows
 * of the certificates and CRLs are still checked at every call's `now`. Only successes are
 * cached. Once `capacity` chains are held, the least recently used one is evicted (a platform
 * keeps its entry while it attests; a fleet larger than the cache degrades to misses, it does
 * not grow the cache). Lookups hash the chain bytes (SHA-256), so their cost does not grow with
 * the capacity. A cache serves one trust store (the `trust` of the calls using it, which must
 * outlive it): att_dcap_quote_pck_info remembers the PCK CAs it verified under that store's
 * roots, and a later first-seen chain under one of them checks only its leaf.
 * Each chain also remembers up to 4 QE reports with their signatures that its PCK key verified,
 * with the attestation key each certifies: a platform's quotes carry the same QE report until its
 * QE makes a new key, so a quote whose QE report and signature are byte for byte a remembered
 * pair skips that signature check (one ECDSA verification instead of two). Everything else -
 * the report data binding, QE identity, the quote's own signature - is checked every time. */
typedef struct att_dcap_cache att_dcap_cache_t;

ATT_API att_dcap_cache_t *att_dcap_cache_new(size_t capacity);
ATT_API void att_dcap_cache_free(att_dcap_cache_t *cache);
ATT_API void att_dcap_cache_stats(att_dcap_cache_t *cache, uint64_t *hits, uint64_t *misses);
typedef struct {
    uint64_t hits, misses, evictions;
    size_t entries, capacity;
} att_dcap_cache_counts_t;
ATT_API void att_dcap_cache_counts(att_dcap_cache_t *cache, att_dcap_cache_counts_t *out);

/* The FMSPC and PCK CA type ("processor" or "platform") of a parsed quote's PCK chain, to pick
 * its collateral. A chain already verified in the cache answers at once; otherwise, when trust
 * is given, the chain's signature path (leaf <- PCK CA <- trusted root key) is checked first, so
 * that a forged chain cannot make the caller fetch collateral for arbitrary FMSPCs. Revocation
 * and validity are left to att_dcap_verify. */
ATT_API att_err_t att_dcap_quote_pck_info(const att_quote_t *q, att_dcap_cache_t *cache,
                                          const att_trust_t *trust, uint8_t fmspc[6],
                                          const char **ca, att_diag_t *diag) ATT_WUR;

/* att_dcap_verify with a PCK chain cache (may be NULL: same as att_dcap_verify). */
ATT_API att_err_t att_dcap_verify_cached(const uint8_t *quote, size_t len,
                                         const att_dcap_collateral_t *c, const att_trust_t *trust,
                                         att_time_t now, att_dcap_cache_t *cache,
                                         att_dcap_result_t *res) ATT_WUR;

/* ---- JSON views (CLI, server claims) ------------------------------------------------ */

/* The parsed quote: header, report fields (lowercase hex), signature-data layout. New reference. */
ATT_API json_t *att_quote_json(const att_quote_t *q);
/* The report fields only, flat: SGX mrenclave..report_data or TDX mrtd..report_data. */
ATT_API json_t *att_quote_report_json(const att_quote_t *q);
/* A verification result: verdict, status, advisory_ids, tee, error {code, message}, fmspc,
 * collateral_expiry and every report field, flat. New reference. */
ATT_API json_t *att_dcap_result_json(const att_dcap_result_t *res);

#ifdef __cplusplus
}
#endif
#endif
