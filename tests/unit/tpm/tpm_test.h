/* tpm_test.h - what the TPM unit tests share: a file read whole, one evidence set (AK, quote,
 * signature, PCR values, nonce, logs) and its verification with the diag/accepted invariants.
 * Include after <cmocka.h>. */
#ifndef ATT_TPM_TEST_H
#define ATT_TPM_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/tpm.h"
#include "core/util.h"

typedef struct {
    uint8_t *p;
    size_t n;
} buf_t;

/* root/rel read whole (at most 4 MiB), or the test fails. */
static inline buf_t tpm_rd(const char *root, const char *rel)
{
    char path[2048];
    buf_t b = {0};
    att_diag_t d;
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    if (att_read_file(path, 1 << 22, &b.p, &b.n, &d) != ATT_OK)
        fail_msg("%s: %s", path, d.msg);
    return b;
}

typedef struct {
    buf_t ak, quote, sig, pcrs, nonce, log, ima;
} ev_t;

static inline void ev_free(ev_t *e)
{
    free(e->ak.p);
    free(e->quote.p);
    free(e->sig.p);
    free(e->pcrs.p);
    free(e->nonce.p);
    free(e->log.p);
    free(e->ima.p);
}

static inline att_err_t verify(const ev_t *e, att_tpm_result_t *res)
{
    att_tpm_input_t in = {.ak = e->ak.p,
                          .ak_len = e->ak.n,
                          .quote = e->quote.p,
                          .quote_len = e->quote.n,
                          .sig = e->sig.p,
                          .sig_len = e->sig.n,
                          .pcrs = e->pcrs.p,
                          .pcrs_len = e->pcrs.n,
                          .nonce = e->nonce.p,
                          .nonce_len = e->nonce.n,
                          .eventlog = e->log.p,
                          .eventlog_len = e->log.n,
                          .ima = e->ima.p,
                          .ima_len = e->ima.n};
    att_err_t r = att_tpm_verify(&in, res);
    assert_int_equal(res->diag.code, r);
    assert_int_equal(res->accepted, r == ATT_OK);
    return r;
}

/* Verify, expect `want`, and the message to contain `needle` (when not NULL). */
static inline void expect(const ev_t *e, att_err_t want, const char *needle)
{
    att_tpm_result_t res;
    att_err_t r = verify(e, &res);
    if (r != want || (needle && !strstr(res.diag.msg, needle)))
        fail_msg("want %s (\"%s\"), got %s: %s", att_err_name(want), needle ? needle : "",
                 att_err_name(r), res.diag.msg);
    att_tpm_result_free(&res);
}

#endif
