/* sim_snp_int.h - what the simulated SEV-SNP world's files share (sim_snp.c: hierarchy, chips,
 * reports, CRL; sim_snp_dir.c: the directory it is saved in and loaded from). Not public. */
#ifndef ATT_SIM_SNP_INT_H
#define ATT_SIM_SNP_INT_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/sim.h"

#define ATT_SNP_ORG "attestd test hierarchy"

/* A VCEK or VLEK issued once and kept. */
typedef struct att_snp_leaf_node {
    struct att_snp_leaf_node *next;
    uint64_t tcb;
    EVP_PKEY *key;
    uint8_t *der;
    size_t len;
} att_snp_leaf_node_t;

typedef struct {
    uint8_t secret[32];
    uint8_t chip_id[64];
    att_snp_leaf_node_t *leaves;
} att_snp_chip_t;

struct att_sim_snp {
    att_sim_snp_opts_t opts;
    char org[128];
    EVP_PKEY *key[ATT_SIM_SNP_N_CERTS];
    X509 *cert[ATT_SIM_SNP_N_CERTS];
    uint8_t *der[ATT_SIM_SNP_N_CERTS];
    size_t der_len[ATT_SIM_SNP_N_CERTS];
    char *pem[ATT_SIM_SNP_N_CERTS];
    size_t pem_len[ATT_SIM_SNP_N_CERTS];
    att_snp_chip_t *chips;
    uint8_t vlek_secret[32];
    att_snp_leaf_node_t *vleks;
};

const char *att_snp_pname(att_snp_product_t p);
att_err_t att_snp_ossl(att_diag_t *diag, const char *what);
att_err_t att_snp_set_ca(att_sim_snp_t *s, att_sim_snp_cert_t which, X509 *x, att_diag_t *diag);
void att_snp_chip_id_of(const uint8_t secret[32], att_snp_product_t product, uint8_t out[64]);
att_err_t att_snp_alloc(const att_sim_snp_opts_t *o, att_sim_snp_t **out, att_diag_t *diag);

#endif
