/* fuzz_tpm_quote.c - libFuzzer target: the TPM quote verifier's inputs (TPMS_ATTEST,
 * TPMT_SIGNATURE or a bare signature, TPM2B_PUBLIC / SPKI / JWK, PCR values).
 *
 * The first byte of an input picks a mode:
 *   0  the rest is a TPMS_ATTEST (att_tpm_attest_parse);
 *   1  the rest is an AK (att_tpm_ak_load);
 *   2  u16 (little-endian) lengths of the AK, the quote and the signature, then the AK, the quote,
 *      the signature, a u8 nonce length, the nonce and the PCR values: the whole verification.
 * Invariants (abort = crash for libFuzzer): the diag code equals the returned code and its
 * message is NUL-terminated; `accepted` exactly when ATT_OK; an accepted quote parses on its own,
 * is a quote, its extraData is the nonce and its PCR values have the selection's length; a parsed
 * selection has known banks and PCRs 0-23 only.
 * Seeds: the shared TPM vectors in modes 0-2, written by tests/fuzz/vector-seeds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/tpm.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    setenv("TSS2_LOG", "all+NONE", 1);
    return 0;
}

static void check_diag(const char *what, att_err_t e, const att_diag_t *d)
{
    FUZZ_CHECK(d->code == e, "%s: returned %s, diag says %s", what, att_err_name(e),
               att_err_name(d->code));
    FUZZ_CHECK(memchr(d->msg, 0, sizeof d->msg) != NULL, "%s: message", what);
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 3;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    att_diag_t d;
    att_diag_clear(&d);
    if (mode == 0) {
        att_tpm_attest_t a;
        att_err_t e = att_tpm_attest_parse(p, n, &a, &d);
        check_diag("attest", e, &d);
        if (e == ATT_OK && a.type == ATT_TPM_ST_ATTEST_QUOTE) {
            FUZZ_CHECK(a.magic == ATT_TPM_GENERATED_VALUE, "magic 0x%08x", a.magic);
            FUZZ_CHECK(a.nsel <= ATT_TPM_MAX_BANKS, "nsel %zu", a.nsel);
            for (size_t b = 0; b < a.nsel; b++)
                FUZZ_CHECK(a.sel[b].mask < (1u << 24), "mask 0x%x", a.sel[b].mask);
        }
        return 0;
    }
    if (mode == 1) {
        att_tpm_ak_t *ak = NULL;
        att_err_t e = att_tpm_ak_load(p, n, &ak, &d);
        check_diag("ak", e, &d);
        FUZZ_CHECK((e == ATT_OK) == (ak != NULL), "ak %p with %s", (void *)ak, att_err_name(e));
        att_tpm_ak_free(ak);
        return 0;
    }
    if (n < 6)
        return 0;
    size_t la = le16(p), lq = le16(p + 2), ls = le16(p + 4);
    p += 6;
    n -= 6;
    if (la > n)
        la = n;
    const uint8_t *ak = p;
    p += la, n -= la;
    if (lq > n)
        lq = n;
    const uint8_t *q = p;
    p += lq, n -= lq;
    if (ls > n)
        ls = n;
    const uint8_t *s = p;
    p += ls, n -= ls;
    size_t ln = n > 0 ? p[0] : 0;
    if (n > 0)
        p++, n--;
    if (ln > n)
        ln = n;
    const uint8_t *nonce = p;
    p += ln, n -= ln;
    att_tpm_input_t in = {.ak = ak,
                          .ak_len = la,
                          .quote = q,
                          .quote_len = lq,
                          .sig = s,
                          .sig_len = ls,
                          .pcrs = p,
                          .pcrs_len = n,
                          .nonce = nonce,
                          .nonce_len = ln};
    static att_tpm_result_t res;
    att_err_t e = att_tpm_verify(&in, &res);
    check_diag("verify", e, &res.diag);
    FUZZ_CHECK(res.accepted == (e == ATT_OK), "accepted=%d with %s", res.accepted, att_err_name(e));
    if (e == ATT_OK) {
        att_tpm_attest_t a;
        FUZZ_CHECK(att_tpm_attest_parse(q, lq, &a, &d) == ATT_OK, "accepted quote does not parse");
        FUZZ_CHECK(a.type == ATT_TPM_ST_ATTEST_QUOTE, "accepted type 0x%04x", a.type);
        FUZZ_CHECK(a.extra_data_len == ln && memcmp(a.extra_data, nonce, ln) == 0,
                   "accepted with another nonce");
    }
    json_t *o = att_tpm_result_json(&res);
    FUZZ_CHECK(o != NULL, "json view");
    json_decref(o);
    att_tpm_result_free(&res);
    return 0;
}
