/* collateral.h - per-vendor collateral fetchers behind a vendor-neutral collateral source.
 *
 * A collateral set is named by a string key "<prefix>/<vendor's own path>", e.g. Intel DCAP's
 * "dcap/sgx/00a067110000/processor" (TEE, FMSPC, PCK CA). attestd's collateral source (caching,
 * single-flight fetches, stale serving, store persistence, offline directories, limits) knows
 * keys, blobs and opaque objects only; everything about a vendor is in one fetcher table:
 *
 *   void *cfg;
 *   att_dcap_pcs_new(&(att_dcap_pcs_opts_t){.base_url = "https://api.trustedservices.intel.com",
 *                                          .trust = trust}, &cfg, &d);
 *   att_coll_source_t src[] = {{&att_dcap_pcs_fetcher, cfg}};   // attestd's collsrc takes cfg
 *   ...
 *   char key[ATT_COLL_KEY_MAX];
 *   att_dcap_coll_key(ATT_TEE_SGX, fmspc, "processor", key, sizeof key, &d);
 *   void *obj;   // att_collsrc_get(src, key, now, &obj, &retry_after, &d): a new reference
 *   att_dcap_pcs_fetcher.release(obj);   // or att_dcap_collateral_free(obj)
 *
 * Adding a vendor (as AMD's KDS was: src/lib/snp/kds.c, keys "kds/<product>/vcek/<hwid>/<tcb>"
 * and "kds/<product>/crl") is one file defining one more att_coll_fetcher_t and its config
 * constructor; the source is not changed.
 *
 * Blobs are what the store keeps (the fetcher's own format, stable across versions: existing
 * data directories must keep working). A fetcher's load checks what it can (signatures against
 * its trust store, that the set is the key's); the verifier of the evidence checks the rest.
 * Not here: caching, limits, time (always passed in), logging (see att_coll_net_t.warn).
 */
#ifndef ATTEST_COLLATERAL_H
#define ATTEST_COLLATERAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/dcap.h"
#include "attest/err.h"
#include "attest/snp.h"
#include "attest/trust.h"
#include "attest/types.h"

#define ATT_COLL_KEY_MAX    256 /* longest key, NUL included */
#define ATT_COLL_PREFIX_MAX 16  /* longest prefix, NUL included */

/* What the source gives one network fetch, and what the fetcher tells it back. */
typedef struct {
    int64_t deadline_ms; /* CLOCK_MONOTONIC milliseconds: all requests of this fetch together */
    long timeout_ms;     /* the fetch's whole budget (for messages) */
    /* Optional: a line for the operator's log (an upstream error body, a refused redirect);
     * never put upstream text in the error itself. */
    void (*warn)(void *arg, const char *msg);
    void *warn_arg;
    unsigned requests;   /* out: HTTP requests sent */
    int64_t retry_after; /* out: the source's Retry-After in seconds on a failure, or 0 */
} att_coll_net_t;

/* The offline callback: one set found in an offline directory (the callback takes obj). */
typedef att_err_t (*att_coll_found_fn)(void *arg, const char *key, void *obj,
                                       att_time_t next_update, att_diag_t *d);

typedef struct att_coll_fetcher {
    const char *prefix;   /* keys "<prefix>/..." are this fetcher's; no '/' in it */
    const char *url_name; /* how messages name its network source, e.g. "PCS URL" */
    /* Whether key is well formed for this fetcher (before any fetch or store read). */
    att_err_t (*check_key)(const void *cfg, const char *key, att_diag_t *d);
    /* Whether cfg has a network source (else only the store and offline sets serve). */
    bool (*online)(const void *cfg);
    /* Fetch the set of key from the network, as a blob (malloc'd) for load and the store. */
    att_err_t (*fetch)(const void *cfg, const char *key, att_coll_net_t *net, uint8_t **blob,
                       size_t *len, att_diag_t *d);
    /* Parse and check a blob (from fetch, or the store) for key: *obj is a new object with one
     * reference, *next_update the earliest time it must be replaced by. what names the blob's
     * origin in messages (NULL: "collateral from <the network source>"). */
    att_err_t (*load)(const void *cfg, const char *key, const uint8_t *blob, size_t len,
                      att_time_t now, const char *what, void **obj, att_time_t *next_update,
                      att_diag_t *d);
    void *(*retain)(void *obj);
    void (*release)(void *obj);
    /* Enumerate the sets in an offline directory (found called once per set, with its key).
     * ATT_E_COLL_MISSING when it holds none of this fetcher's; ATT_E_IO if it cannot be read. */
    att_err_t (*offline)(const void *cfg, const char *dir, att_time_t now, att_coll_found_fn found,
                         void *arg, att_diag_t *d);
    void (*cfg_free)(void *cfg);
} att_coll_fetcher_t;

/* A fetcher with its configuration, as the source is given it. */
typedef struct {
    const att_coll_fetcher_t *fetcher;
    void *cfg; /* made by the vendor's constructor; the source frees it with fetcher->cfg_free */
} att_coll_source_t;

/* ---- Intel DCAP: an Intel PCS v4 / PCCS endpoint (src/lib/dcap/pcs.c) ----
 * Keys "dcap/<sgx|tdx>/<fmspc, 12 lowercase hex>/<processor|platform>"; objects are
 * att_dcap_collateral_t * (retain/release: att_dcap_collateral_ref/_free); blobs the
 * "ATTCOLL1" raw-set format attestd's store has always held; an offline directory holds one set
 * in the `attest quote verify --collateral` layout, or one subdirectory per set. The base URL
 * is https:// or http:// (a PCCS on loopback); each URL is fetched over its own scheme only. */
typedef struct {
    const char *base_url;        /* e.g. https://api.trustedservices.intel.com; NULL: offline */
    const char *root_ca_crl_url; /* NULL: derived (PCCS <base>/sgx/certification/v4/rootcacrl;
                                  * Intel's CRL distribution point for Intel PCS) */
    const att_trust_t *trust;    /* to check collateral signatures; borrowed, must outlive cfg */
    const char *ca_file;         /* PEM CA bundle for TLS instead of the system's (tests) */
} att_dcap_pcs_opts_t;

ATT_API extern const att_coll_fetcher_t att_dcap_pcs_fetcher;
ATT_API att_err_t att_dcap_pcs_new(const att_dcap_pcs_opts_t *o, void **cfg, att_diag_t *d);
/* A DCAP key may end in "/<N>": the set of TCB evaluation data number N (1 to 2^30), fetched
 * with tcbEvaluationDataNumber=N (TCB info and QE identity) and loaded only when both documents
 * are of number N; an offline set is found under its key and under its key + "/<its number>".
 *
 * Intel's TCB evaluation data numbers lists (attest/tcbeval.h), keys "tcbeval/sgx" and
 * "tcbeval/tdx": GET <base>/{sgx,tdx}/certification/v4/tcbevaluationdatanumbers, issuer chain in
 * TCB-Evaluation-Data-Numbers-Issuer-Chain; objects att_dcap_tcbeval_t * (retain/release:
 * att_dcap_tcbeval_ref/_free); an offline directory holds tcb_eval_numbers.json and
 * tcb_eval_numbers_issuer_chain.pem, in it or in a subdirectory. Its configuration is made by
 * att_dcap_pcs_new, like the PCS fetcher's (a separate one: each source frees its own). */
ATT_API extern const att_coll_fetcher_t att_dcap_tcbeval_fetcher;
/* The key of a DCAP set; ATT_E_ARG for an unknown TEE or a CA other than processor/platform. */
ATT_API att_err_t att_dcap_coll_key(att_tee_t tee, const uint8_t fmspc[6], const char *ca,
                                    char *out, size_t n, att_diag_t *d);

/* ---- AMD KDS: AMD's Key Distribution Service or a stand-in (src/lib/snp/kds.c) ----
 * Keys (product lowercase: milan, genoa, turin):
 *   "kds/<product>/vcek/<hwid hex>/<reported_tcb, 16 hex>"  the VCEK of a chip at a TCB: GET
 *       <base>/vcek/v1/<Product>/<hwid>?[fmcSPL=..&]blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..
 *       (hwid: the 64-byte chip_id, 128 lowercase hex; Turin its first 8 bytes, 16 hex);
 *   "kds/<product>/crl", "kds/<product>/vlek-crl"             the CRL of the ASK / ASVK: GET
 *       <base>/vcek/v1/<Product>/crl, <base>/vlek/v1/<Product>/crl;
 *   "kds/<product>/cert_chain", "kds/<product>/vlek-cert_chain"  the ASK (ASVK) and ARK, PEM: GET
 *       <base>/{vcek,vlek}/v1/<Product>/cert_chain. load(): exactly two certificates, SEV-<Product>
 *       (SEV-VLEK-<Product>) then ARK-<Product>, the first issued by the second (next update: the
 *       earlier notAfter); whether the ARK is trusted is the verifier's (att_snp_verify takes a
 *       chain's ARK only when it is pinned or configured).
 * Blobs are the DER KDS answers (at most ATT_SNP_KDS_MAX_BODY bytes). load() of a VCEK: a DER
 * certificate, CN SEV-VCEK, issuer SEV-<Product>, EC P-384, whose hwID, TCB SPLs and productName
 * are the key's (next update: its notAfter); its chain is the verifier's (att_snp_verify). load()
 * of a CRL: issued by ARK-<Product> and signed by AMD's pinned ARK of the product or, for test
 * hierarchies, by a root of opts.trust; thisUpdate <= now <= nextUpdate when now is not 0 (next
 * update: its nextUpdate); which serials it revokes is the verifier's. Objects are
 * att_snp_kds_obj_t * (retain/release: att_snp_kds_obj_ref/_free). An offline directory is laid
 * out as `attest snp verify --kds-dir` reads it: DIR/vcek/v1/<Product>/<hwid hex> (a VCEK, DER;
 * its TCB, which the name does not say, is read from its extensions), DIR/vcek/v1/<Product>/crl,
 * DIR/vlek/v1/<Product>/crl; other files (cert_chain) are not sets. VLEKs are not served by KDS
 * to the public: they come with the evidence. */
#define ATT_SNP_KDS_MAX_BODY (64u << 10) /* per KDS answer (a VCEK is ~1.4 kB, a CRL a few kB) */

typedef struct {
    const char *base_url;     /* e.g. https://kdsintf.amd.com; http:// too (loopback tests);
                               * NULL: offline and store only */
    const att_trust_t *trust; /* extra roots (test hierarchies) a CRL may be signed by; NULL:
                               * AMD's pinned ARKs only. Borrowed, must outlive cfg */
    const char *ca_file;      /* PEM CA bundle for TLS instead of the system's (tests) */
} att_snp_kds_opts_t;

typedef enum {
    ATT_SNP_KDS_VCEK = 1,  /* a VCEK certificate */
    ATT_SNP_KDS_CRL = 2,   /* a CRL of the ASK (key_kind VCEK) or of the ASVK (key_kind VLEK) */
    ATT_SNP_KDS_CHAIN = 3, /* cert_chain: PEM, the ASK (or ASVK) then the ARK */
} att_snp_kds_kind_t;

/* A loaded KDS answer (refcounted, immutable): the DER bytes for att_snp_verify's vcek or crl. */
typedef struct {
    att_snp_kds_kind_t kind;
    att_snp_product_t product;
    att_snp_key_t key_kind; /* VCEK for a VCEK or the ASK's CRL; VLEK for the ASVK's CRL */
    const uint8_t *der;
    size_t len;
    att_time_t next_update; /* VCEK: notAfter; CRL: nextUpdate */
    long refs_;             /* private: att_snp_kds_obj_ref/_free */
} att_snp_kds_obj_t;

ATT_API extern const att_coll_fetcher_t att_snp_kds_fetcher;
ATT_API att_err_t att_snp_kds_new(const att_snp_kds_opts_t *o, void **cfg, att_diag_t *d);
/* The key of a chip's VCEK at reported_tcb (ATT_E_ARG: no product, a zero chip_id, reserved TCB
 * bytes set for the product). */
ATT_API att_err_t att_snp_kds_key_vcek(att_snp_product_t product, const uint8_t chip_id[64],
                                       uint64_t reported_tcb, char *out, size_t n, att_diag_t *d);
/* The key of the CRL of a product's ASK (kind VCEK) or ASVK (kind VLEK). */
ATT_API att_err_t att_snp_kds_key_crl(att_snp_product_t product, att_snp_key_t kind, char *out,
                                      size_t n, att_diag_t *d);
/* The key of a product's cert_chain for VCEKs (kind VCEK: ASK, ARK) or VLEKs (ASVK, ARK). */
ATT_API att_err_t att_snp_kds_key_chain(att_snp_product_t product, att_snp_key_t kind, char *out,
                                        size_t n, att_diag_t *d);
ATT_API att_snp_kds_obj_t *att_snp_kds_obj_ref(att_snp_kds_obj_t *o);
ATT_API void att_snp_kds_obj_free(att_snp_kds_obj_t *o);

#endif
