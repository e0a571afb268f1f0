/* sim_internal.h - shared internals of the simulated DCAP world (not installed). */
#ifndef ATT_SIM_INTERNAL_H
#define ATT_SIM_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/sim.h"

struct att_sim_pki {
    att_sim_pki_opts_t opts; /* as issued: serials filled in, strings owned below */
    char root_cn[128];
    char org[128];
    EVP_PKEY *key[ATT_SIM_N_CERTS];
    X509 *cert[ATT_SIM_N_CERTS];
    uint8_t *der[ATT_SIM_N_CERTS];
    size_t der_len[ATT_SIM_N_CERTS];
    char *pem[ATT_SIM_N_CERTS];
    size_t pem_len[ATT_SIM_N_CERTS];
    att_sim_pck_ext_quirks_t quirks; /* encoding quirks of the current PCK leaf's extension */
};

/* A fresh P-256 key, or NULL. */
EVP_PKEY *att_sim_keygen(void);
/* A P-256 key from a 32-byte big-endian private scalar, or NULL. */
EVP_PKEY *att_sim_key_from_scalar(const uint8_t priv[32]);
/* Raw x||y of a P-256 public key. */
bool att_sim_pubkey_raw(EVP_PKEY *k, uint8_t out[64]);
/* ECDSA-P256-SHA256 over msg, as raw r||s (32+32 big-endian). */
bool att_sim_sign_raw(EVP_PKEY *k, const uint8_t *msg, size_t len, uint8_t sig[64]);

/* Concatenate buffers into one malloc'd NUL-terminated buffer. */
bool att_sim_concat(att_sim_buf_t *out, const att_slice_t *parts, size_t n);

/* Install x (ownership taken) as certificate `which` and cache its DER and PEM. */
att_err_t att_sim_pki_set_cert(att_sim_pki_t *p, att_sim_cert_t which, X509 *x, att_diag_t *diag);

/* Create dir (0755) unless it is already a directory. */
att_err_t att_sim_mkdir(const char *dir, att_diag_t *diag);
/* Write dir/name with exactly `mode`, replacing any existing file (never following it). */
att_err_t att_sim_write_file(const char *dir, const char *name, const att_sim_buf_t *b,
                             unsigned mode, att_diag_t *diag);

/* A QE report matching att_sim_qe_identity_default (report_data left zero). */
void att_sim_qe_report_default(att_sgx_report_t *qe, att_tee_t tee);
/* The default TD's tee_tcb_svn, which att_sim_tcb_info_default's TDX level matches. */
void att_sim_default_td_tcb_svn(uint8_t out[16]);

#endif
