/* snp_int.h - structures shared by the SEV-SNP modules (internal). */
#ifndef ATT_SNP_INT_H
#define ATT_SNP_INT_H

#include <openssl/x509.h>

#include "attest/snp.h"

#define ATT_SNP_NPRODUCTS 4 /* index 0 unused (ATT_SNP_PRODUCT_UNKNOWN) */

/* The certificates compiled into the library, per product (roots.c). */
typedef struct {
    att_slice_t ark, ask, asvk;
} att_snp_builtin_t;
extern const att_snp_builtin_t att_snp_builtin[ATT_SNP_NPRODUCTS];

/* "Milan" -> ATT_SNP_MILAN (exact name, case-sensitive), else ATT_SNP_PRODUCT_UNKNOWN. Reads
 * name[0..len). */
att_snp_product_t att_snp_product_parse(const char *name, size_t len);
/* The product of a v3+ report from its CPUID family and model, or ATT_SNP_PRODUCT_UNKNOWN. */
att_snp_product_t att_snp_product_cpuid(uint8_t fam, uint8_t mod);

/* The reserved bytes of the report's four TCB fields for `product` (ATT_E_EVIDENCE_FORMAT). The
 * parser checks them for the report's own product (v3+); a v2 report's Turin-or-not bytes are
 * checked again once the certificate names the product. */
att_err_t att_snp_tcb_check(const att_snp_report_t *r, att_snp_product_t product, att_diag_t *diag);

/* The AMD extensions of a VCEK or VLEK (OIDs 1.3.6.1.4.1.3704.1.*). */
typedef struct {
    bool has_struct_version, has_product, has_hwid, has_csp_id;
    bool has_spl[10]; /* index k for .3.k (1..9) */
    long struct_version;
    char product[32]; /* productName, "Milan-B0" */
    uint8_t spl[10];  /* .3.1 bl, .3.2 tee, .3.3 snp, .3.4-.3.7 reserved, .3.8 ucode, .3.9 fmc */
    uint8_t hwid[64]; /* 64 bytes (Milan, Genoa) or 8 (Turin) */
    size_t hwid_len;
    char csp_id[128];
} att_snp_ext_t;

/* Read the AMD extensions of a leaf: each once, INTEGER SPLs 0-255 (one or two content bytes),
 * IA5String productName and csp_id, hwID as its raw bytes or wrapped in an OCTET STRING (the
 * older and newer encodings). ATT_E_SNP_CERT_EXTENSION naming the extension otherwise. */
att_err_t att_snp_ext_parse(X509 *leaf, att_snp_ext_t *out, att_diag_t *diag);

/* The product a leaf's productName names ("Milan-B0" -> Milan), or UNKNOWN. */
att_snp_product_t att_snp_ext_product(const att_snp_ext_t *x);

#endif
