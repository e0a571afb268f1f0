/* attest/snp.h - AMD SEV-SNP attestation report parsing and verification.
 *
 *   att_snp_input_t in = {.report = rep, .report_len = n, .vcek = der, .vcek_len = dlen,
 *                         .now = now};            // chain, crl, trust optional
 *   att_snp_result_t res;
 *   att_err_t e = att_snp_verify(&in, NULL, &res); // or with an att_snp_cache_t
 *   if (e == ATT_OK)  ... res.report.measurement, res.product, res.reported_tcb.snp ...
 *   else              ... res.diag.msg says which check failed, on what values ...
 *
 * What is checked (docs/snp.md): the report's structure (versions 2-5, every reserved and
 * must-be-zero field, policy bit 17 set, signature algorithm 1), its ECDSA P-384/SHA-384
 * signature with the VCEK or VLEK the report names (key_info), the chain VCEK <- ASK <- ARK or
 * VLEK <- ASVK <- ARK (RSASSA-PSS) to AMD's ARK of the report's product, pinned in the library
 * (or to a root the caller trusts: test hierarchies), the validity of every certificate at `now`,
 * the VCEK/VLEK AMD extensions (hwID = chip_id for a VCEK, every TCB SPL = reported_tcb,
 * productName = the report's product) and, when the caller gives one, the KDS CRL of the product
 * (signed by the ARK, valid at `now`, not revoking the ASK/ASVK).
 * What is NOT checked: anything a relying party decides by policy: debug (policy bit 19), SMT,
 * migration agent, vmpl, measurement, report_data, host_data, ID/author key digests, family and
 * image ids, guest_svn, minimum TCB values (reported, committed, launch or current), platform_info
 * flags. The verifier does no I/O and never reads the clock: `now` is an argument.
 */
#ifndef ATTEST_SNP_H
#define ATTEST_SNP_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/trust.h"
#include "attest/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Size of an ATTESTATION_REPORT, and the signed part of it (bytes 0x000..0x29F). */
#define ATT_SNP_REPORT_LEN 0x4A0
#define ATT_SNP_SIGNED_LEN 0x2A0

typedef enum {
    ATT_SNP_PRODUCT_UNKNOWN = 0, /* v2 report and no certificate yet */
    ATT_SNP_MILAN = 1,
    ATT_SNP_GENOA = 2,
    ATT_SNP_TURIN = 3,
} att_snp_product_t;

/* key_info bits 2-4: which key signed the report. */
typedef enum {
    ATT_SNP_KEY_VCEK = 0,
    ATT_SNP_KEY_VLEK = 1,
    ATT_SNP_KEY_NONE = 7, /* not signed */
} att_snp_key_t;

/* Policy bits (report offset 0x008). */
#define ATT_SNP_POLICY_SMT         (1ull << 16)
#define ATT_SNP_POLICY_RESERVED1   (1ull << 17) /* must be 1 */
#define ATT_SNP_POLICY_MIGRATE_MA  (1ull << 18)
#define ATT_SNP_POLICY_DEBUG       (1ull << 19)
#define ATT_SNP_POLICY_SINGLE_SOCK (1ull << 20)
/* Bits 26-63 must be zero. */
#define ATT_SNP_POLICY_MBZ (~((1ull << 26) - 1))
/* platform_info bits (offset 0x040); bit 6 and 8-63 must be zero. */
#define ATT_SNP_PLATFORM_SMT_EN         (1ull << 0)
#define ATT_SNP_PLATFORM_TSME_EN        (1ull << 1)
#define ATT_SNP_PLATFORM_ECC_EN         (1ull << 2)
#define ATT_SNP_PLATFORM_RAPL_DIS       (1ull << 3)
#define ATT_SNP_PLATFORM_CIPHERTEXT_HID (1ull << 4)
#define ATT_SNP_PLATFORM_ALIAS_CHECK    (1ull << 5)
#define ATT_SNP_PLATFORM_TIO_EN         (1ull << 7)

/* A TCB_VERSION decomposed by product: Milan/Genoa bytes [0]=bootloader [1]=tee [6]=snp
 * [7]=microcode; Turin [0]=fmc [1]=bootloader [2]=tee [3]=snp [7]=microcode. */
typedef struct {
    uint64_t raw; /* the 8 bytes, little-endian */
    uint8_t bootloader, tee, snp, microcode;
    uint8_t fmc; /* Turin only (0 otherwise) */
} att_snp_tcb_t;

/* A parsed report: every field, copied (the buffer need not outlive it). */
typedef struct {
    uint32_t version;
    uint32_t guest_svn;
    uint64_t policy;
    uint8_t family_id[16];
    uint8_t image_id[16];
    uint32_t vmpl;
    uint32_t signature_algo;
    uint64_t current_tcb;
    uint64_t platform_info;
    uint32_t key_info;
    uint8_t report_data[64];
    uint8_t measurement[48];
    uint8_t host_data[32];
    uint8_t id_key_digest[48];
    uint8_t author_key_digest[48];
    uint8_t report_id[32];
    uint8_t report_id_ma[32];
    uint64_t reported_tcb;
    uint8_t cpuid_fam_id, cpuid_mod_id, cpuid_step; /* v3+ (0 in v2) */
    uint8_t chip_id[64];
    uint64_t committed_tcb;
    uint8_t current_build, current_minor, current_major;
    uint8_t committed_build, committed_minor, committed_major;
    uint64_t launch_tcb;
    uint64_t launch_mit_vector, current_mit_vector; /* v5+ (0 before) */
    uint8_t sig_r[72], sig_s[72];                   /* as in the report: little-endian */
    /* derived */
    bool debug;                /* policy bit 19 */
    bool author_key_en;        /* key_info bit 0 */
    bool mask_chip_key;        /* key_info bit 1 */
    att_snp_key_t signing_key; /* key_info bits 2-4 */
    att_snp_product_t product; /* from CPUID (v3+), ATT_SNP_PRODUCT_UNKNOWN for v2 */
} att_snp_report_t;

/* Parse a report of exactly ATT_SNP_REPORT_LEN bytes with every field and reserved range
 * checked. ATT_E_EVIDENCE_FORMAT with a message naming the field for a truncated or oversized
 * report, a version other than 2-5, a reserved bit or byte set, policy bit 17 clear, a signature
 * algorithm other than 1 or a signing key other than VCEK/VLEK/none; ATT_E_UNSUPPORTED for a v3+
 * report whose CPUID family/model is no known product. Signatures are not checked here. */
ATT_API att_err_t att_snp_report_parse(const uint8_t *buf, size_t len, att_snp_report_t *rep,
                                       att_diag_t *diag) ATT_WUR;

/* Decompose a TCB_VERSION by product (Turin's layout for ATT_SNP_TURIN, else Milan/Genoa's). */
ATT_API void att_snp_tcb_decode(uint64_t raw, att_snp_product_t product, att_snp_tcb_t *out);
/* "Milan", "Genoa", "Turin", or "unknown". */
ATT_API const char *att_snp_product_name(att_snp_product_t p);
/* "vcek", "vlek", "none". */
ATT_API const char *att_snp_key_name(att_snp_key_t k);

/* ---- verification --------------------------------------------------------------------- */

/* The input of one verification. Byte ranges are borrowed for the call.
 * - vcek/vlek: the leaf certificate (DER or PEM) matching the report's key_info; give one (or
 *   put it first in `chain`).
 * - chain: optional PEM with the ASK (or ASVK) then optionally the ARK, as KDS cert_chain serves
 *   it, or leaf + ASK + ARK as Azure's THIM bundle; the leaf must be issued by the ASK/ASVK given
 *   here. Without it the intermediate compiled into the library for the product is used.
 *   The ARK given here is used only when its key is the pinned ARK of the product or a root of
 *   `trust`: a root taken from the evidence is never trusted.
 * - crl: optional KDS CRL (DER or PEM) of the product: signed by the ARK, valid at now, and not
 *   listing the ASK/ASVK.
 * - trust: extra roots (test hierarchies); NULL = AMD's pinned ARKs only.
 * - now: verification time (certificate and CRL validity). */
typedef struct {
    const uint8_t *report;
    size_t report_len;
    const uint8_t *vcek; /* VCEK or VLEK certificate (leaf) */
    size_t vcek_len;
    const uint8_t *chain;
    size_t chain_len;
    const uint8_t *crl;
    size_t crl_len;
    const att_trust_t *trust;
    att_time_t now;
} att_snp_input_t;

typedef struct {
    att_diag_t diag; /* ATT_OK or the failing check */
    bool accepted;
    bool parsed;               /* the report parsed: report and the fields below are filled */
    att_snp_report_t report;   /* every field */
    att_snp_product_t product; /* from the report (v3+) or the certificate */
    att_snp_key_t signing_key;
    bool amd_root; /* the chain ends at AMD's pinned ARK (false: a root of `trust`) */
    att_snp_tcb_t reported_tcb, committed_tcb, current_tcb, launch_tcb;
    char cert_product[32]; /* the leaf's productName extension ("Milan-B0"), "" if not read */
    char csp_id[128];      /* the VLEK's csp_id extension, "" if absent */
    att_time_t leaf_not_after;
} att_snp_result_t;

/* A bounded, thread-safe cache of verified certificates: intermediates (ASK/ASVK with their
 * ARK), keyed by their DER bytes, and leaves (VCEK/VLEK), keyed by their bytes and the
 * intermediate they were verified under. A hit skips parsing and the RSA-PSS signatures; the
 * validity windows are still checked at each call's `now`, and the extensions against each
 * report. Only certificates that verified are cached; beyond `capacity` leaves the least
 * recently used one is evicted (looked up by the SHA-256 of its bytes: the cost does not grow
 * with the capacity). A cache serves one trust store (the `trust` of the calls using it). */
typedef struct att_snp_cache att_snp_cache_t;
ATT_API att_snp_cache_t *att_snp_cache_new(size_t capacity);
ATT_API void att_snp_cache_free(att_snp_cache_t *c);
ATT_API void att_snp_cache_stats(att_snp_cache_t *c, uint64_t *hits, uint64_t *misses);
typedef struct {
    uint64_t hits, misses, evictions; /* leaves */
    size_t entries, capacity;
} att_snp_cache_counts_t;
ATT_API void att_snp_cache_counts(att_snp_cache_t *c, att_snp_cache_counts_t *out);

/* Verify a report. Returns ATT_OK when accepted (res->accepted), else the code of the first
 * failing check, also in res->diag; res is filled as far as verification got. cache may be
 * NULL. */
ATT_API att_err_t att_snp_verify(const att_snp_input_t *in, att_snp_cache_t *cache,
                                 att_snp_result_t *res) ATT_WUR;

/* ---- JSON views (CLI, claims) --------------------------------------------------------- */

/* Every report field (hex for byte fields, TCBs decomposed by the report's product). */
ATT_API json_t *att_snp_report_json(const att_snp_report_t *r);
/* verdict, error {code, message} when rejected, version, product, signing_key, vmpl, debug,
 * policy, measurement, report_data, host_data, chip_id, reported_tcb {...}, and the rest. */
ATT_API json_t *att_snp_result_json(const att_snp_result_t *res);

#ifdef __cplusplus
}
#endif
#endif
