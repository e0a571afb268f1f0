/* dcap_internal.h - structures shared by the DCAP modules (internal). */
#ifndef ATT_DCAP_INTERNAL_H
#define ATT_DCAP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "attest/dcap.h"

#define ATT_QUOTE_HEADER_LEN 48
#define ATT_SGX_REPORT_LEN   384
#define ATT_TD10_REPORT_LEN  584
#define ATT_TD15_REPORT_LEN  648

void att_sgx_report_parse(const uint8_t *b, att_sgx_report_t *r);

/* The store itself (any key type, att_trust_has_key) is crypto/trust.c; DCAP's rules here. */
/* True if the certificate's key is the pinned Intel SGX Root CA key. */
bool att_trust_is_intel(X509 *cert);
/* DCAP's rule for a chain root the store trusts: an ECDSA P-256 key, as Intel's root has
 * (ATT_E_CERT_KEY naming the chain and the key type otherwise). Checked after trust, so an
 * untrusted root of any type stays ATT_E_CERT_UNTRUSTED_ROOT. */
att_err_t att_dcap_root_key(X509 *root, const char *what, att_diag_t *diag);

/* Values of the PCK certificate SGX extension (OID 1.2.840.113741.1.13.1). */
typedef struct {
    uint8_t ppid[16];
    uint8_t comp_svn[16];
    uint16_t pcesvn;
    uint8_t cpusvn[16];
    uint8_t pceid[2];
    uint8_t fmspc[6];
    int sgx_type;
} att_pck_ext_t;

att_err_t att_pck_ext_parse(X509 *leaf, att_pck_ext_t *out, att_diag_t *diag);
/* The dotted text of an OID, as OBJ_obj2txt(o, 1) writes it (pck_ext.c: OIDs under the SGX arc
 * with small arcs without OpenSSL's generic conversion). */
void att_dcap_oid_text(const ASN1_OBJECT *o, char *out, size_t n);

/* A TCB level status with the advisories that come with it (borrowed from the JSON). */
typedef struct {
    att_tcb_status_t status;
    json_t *advisories; /* array or NULL */
} att_tcb_verdict_t;

/* TCB levels are kept as Intel's QVL keeps them: sorted highest first and unique (docs/dcap.md
 * "Ordering and uniqueness"), so the first level a platform meets is its level. */
typedef struct {
    uint8_t sgx[16];
    uint16_t pcesvn;
    uint8_t tdx[16]; /* TDX TCB info only; zero otherwise */
    att_tcb_verdict_t v;
    att_time_t tcb_date;
    char date[ATT_TIME_STRLEN];
} att_tcb_level_t;

typedef struct {
    uint16_t isvsvn;
    att_tcb_verdict_t v;
    att_time_t tcb_date;
} att_isv_level_t;

typedef struct {
    char id[16];
    uint8_t mrsigner[48];
    uint8_t attributes[8];
    uint8_t attributes_mask[8];
    size_t n_levels;
    att_isv_level_t *levels;
} att_tdx_module_id_t;

typedef struct {
    json_t *doc;
    int version;
    char id[8]; /* "SGX", "TDX", or "" for v2 */
    att_time_t issue_date, next_update;
    uint8_t fmspc[6];
    uint8_t pceid[2];
    int eval_num;
    size_t n_levels;
    att_tcb_level_t *levels;
    bool has_module;
    att_tdx_module_id_t module; /* tdxModule (no levels) */
    size_t n_modules;
    att_tdx_module_id_t *modules; /* tdxModuleIdentities */
} att_tcb_info_t;

typedef struct {
    json_t *doc;
    int version;
    char id[8];
    att_time_t issue_date, next_update;
    int eval_num;
    uint32_t miscselect, miscselect_mask;
    uint8_t attributes[16], attributes_mask[16];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    size_t n_levels;
    att_isv_level_t *levels;
} att_qe_identity_t;

/* A certificate with its validity window, checked once. */
typedef struct {
    X509 *cert;
    att_time_t not_before, not_after;
} att_cert_t;

typedef struct {
    X509_CRL *crl;
    att_time_t this_update, next_update;
} att_crl_t;

/* PCK CA certificates that verified with a collateral, keyed by their exact DER bytes, so that a
 * quote whose chain carries one of them (and the collateral's own root, byte for byte) parses and
 * checks its leaf only (verify.c, att_chain_fast). An entry holds a CA that is issued and signed
 * by the collateral's root, is not on its root CA CRL, has the PCK CA names and flags, and whose
 * key verifies its PCK CRL: every check of the CA that does not depend on `now` (its validity
 * window is checked at each verification, as today). Seeded with the CA of the PCK CRL issuer
 * chain; a CA verified by a quote's chain is added. Entries never change or leave before the
 * collateral is freed, so readers take no lock: at most ATT_DCAP_CA_CACHE, then further CAs are
 * verified every time. Only CAs signed by a trusted root enter, so no outsider fills it. */
#define ATT_DCAP_CA_CACHE 4
struct att_p256;
typedef struct {
    uint8_t *der;
    size_t der_len;
    X509 *cert; /* parsed with its key (an issuer for X509_check_issued) */
    struct att_p256 *key;
    att_time_t not_before, not_after;
    const char *type; /* "processor" or "platform" (att_pck_ca_type) */
} att_ca_entry_t;

typedef struct {
    pthread_mutex_t mu; /* writers only */
    _Atomic size_t n;   /* published entries (release after the entry is written) */
    att_ca_entry_t e[ATT_DCAP_CA_CACHE];
    _Atomic uint64_t hits, misses;
} att_ca_cache_t;

att_ca_cache_t *att_ca_cache_new(void);
void att_ca_cache_free(att_ca_cache_t *cc);
/* The entry holding exactly these DER bytes, or NULL (counted as a hit or a miss). */
const att_ca_entry_t *att_ca_cache_find(att_ca_cache_t *cc, const uint8_t *der, size_t len);
/* Add a CA certificate that passed every time-independent check against the collateral (see
 * above); no-op when it is there already or the cache is full. */
void att_ca_cache_add(att_ca_cache_t *cc, X509 *ca, const char *type);
/* For tests and the bench: hits, misses and entries of a collateral's CA cache. */
void att_dcap_ca_cache_stats(const att_dcap_collateral_t *c, uint64_t *hits, uint64_t *misses,
                             size_t *entries);

struct att_dcap_collateral {
    uint64_t id;           /* unique per collateral object in this process (cache key) */
    att_cert_t root;       /* root of the TCB info chain: a trusted anchor */
    att_crl_t root_crl;    /* signed by root */
    att_cert_t tcb_signer; /* signs TCB info */
    att_cert_t qe_signer;  /* signs QE identity */
    att_crl_t pck_crl;     /* signature checked against pck_ca when present, else per quote */
    att_cert_t pck_ca;     /* intermediate from the PCK CRL issuer chain, verified; or NULL */
    att_tcb_info_t tcb;
    att_qe_identity_t qe;
    att_time_t expiry;
    _Atomic int refs;
    att_dcap_collateral_hashes_t hashes;
    uint8_t *root_der; /* root.cert's DER: a quote's root is this one when its bytes are */
    size_t root_der_len;
    bool root_intel;     /* att_trust_is_intel(root.cert) */
    att_ca_cache_t *cas; /* verified PCK CAs (mutable behind a const collateral) */
};

void att_tcb_info_clear(att_tcb_info_t *t);
void att_qe_identity_clear(att_qe_identity_t *q);
att_err_t att_tcb_info_parse(const char *json, size_t len, att_tcb_info_t *out,
                             const char **signed_ptr, size_t *signed_len, uint8_t sig[64],
                             att_diag_t *diag);
att_err_t att_qe_identity_parse(const char *json, size_t len, att_qe_identity_t *out,
                                const char **signed_ptr, size_t *signed_len, uint8_t sig[64],
                                att_diag_t *diag);

/* A QE report and its signature that the chain's PCK key verified, with the attestation key
 * that report certifies (bound by its report data; parsed once). A platform's quotes all carry
 * the same QE report and signature until its QE makes a new attestation key, so the QE report
 * signature is checked once per chain entry and attestation key rather than once per quote.
 * Immutable once published. */
struct att_p256;
typedef struct {
    uint8_t qe_report[384], qe_report_sig[64], attest_key[64];
    struct att_p256 *akey;
} att_qe_memo_t;

#define ATT_QE_MEMOS 4 /* attestation keys remembered per PCK chain (QE restarts) */

/* A PCK chain whose time-independent checks passed (cacheable). */
typedef struct {
    uint8_t *pem; /* copy of the chain bytes (cache key) */
    size_t pem_len;
    uint64_t coll_id;
    struct att_p256 *leaf_key;
    att_pck_ext_t ext;
    att_time_t leaf_nb, leaf_na, ca_nb, ca_na, root_nb, root_na;
    const char *ca; /* "processor" or "platform" (static string) */
    bool intel_root;
    int refs;                                  /* guarded by the cache lock */
    _Atomic(att_qe_memo_t *) qe[ATT_QE_MEMOS]; /* filled in order, never replaced */
} att_chain_t;

void att_chain_release(att_chain_t *ch);
/* The memo of `ch` holding exactly this QE report and signature, or NULL. */
const att_qe_memo_t *att_chain_qe_find(att_chain_t *ch, const uint8_t qe_report[384],
                                       const uint8_t qe_report_sig[64]);
/* Remember a QE report, signature and attestation key that verified with the chain's key;
 * takes *akey (sets it to NULL) when kept. No-op when every slot is taken. */
void att_chain_qe_add(att_chain_t *ch, const uint8_t qe_report[384],
                      const uint8_t qe_report_sig[64], const uint8_t attest_key[64],
                      struct att_p256 **akey);
/* Cache lookup: a referenced entry or NULL. Insert takes a reference of its own. */
att_chain_t *att_dcap_cache_get(att_dcap_cache_t *cache, const uint8_t *pem, size_t len,
                                uint64_t coll_id);
void att_dcap_cache_put(att_dcap_cache_t *cache, att_chain_t *ch);
/* "processor"/"platform" from a PCK CA subject CN, or NULL. */
const char *att_pck_ca_type(const char *cn);

/* `cert` has the expected CN (cn1, or cn2 when given), is issued by `issuer` (names, key
 * identifiers, key usage), has the given CA flag and a P-256 key, and is signed by `issuer`.
 * `what` names the certificate in the message. Validity and revocation are not checked. */
att_err_t att_check_issued(X509 *cert, X509 *issuer, const char *what, const char *cn1,
                           const char *cn2, bool ca, att_diag_t *diag);
/* att_check_issued for a certificate parsed without its key (att_x509_der_nokey, from der[0..len)),
 * under an issuer whose P-256 key is given: the same checks, messages and order, the key read
 * from the SubjectPublicKeyInfo (returned in *key on success, the caller frees it) and the
 * signature checked with att_x509_sig_ok_p256. */
att_err_t att_check_issued_p256(X509 *cert, const uint8_t *der, size_t len, X509 *issuer,
                                const struct att_p256 *issuer_key, const char *what,
                                const char *cn1, const char *cn2, bool ca, struct att_p256 **key,
                                att_diag_t *diag);
/* att_check_root (a self-signed CA, any key type) is in crypto/crypto.h. */

/* Load a certificate's validity window; false if malformed. */
bool att_cert_init(att_cert_t *c, X509 *x);
bool att_crl_init(att_crl_t *c, X509_CRL *x);

#endif
