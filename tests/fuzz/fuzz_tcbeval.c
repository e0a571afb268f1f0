/* fuzz_tcbeval.c - libFuzzer target: Intel's TCB evaluation data numbers (attest/tcbeval.h).
 *
 * The input is the document. att_dcap_tcbeval_parse() reads it; att_dcap_tcbeval_new() then
 * verifies it against the issuer chain of a simulated hierarchy made once at start (so the chain
 * and root checks pass and the signature check is reached; a signature the fuzzer finds by chance
 * is no bug), and att_dcap_tcbeval_check_time() judges it at a fixed time.
 * Invariants (abort): the diag code equals the returned code, messages are terminated; a parsed
 * list has 1..ATT_TCBEVAL_MAX entries, numbers from 1 to 2^30, strictly descending; the signed
 * slice lies inside the input; a document over ATT_TCBEVAL_MAX_BYTES is ATT_E_LIMIT.
 * Seed corpus: tests/fuzz/corpus/tcbeval/ (a list shaped as Intel's PCS serves it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/sim.h"
#include "attest/tcbeval.h"
#include "fuzz_common.h"

#define NOW ((att_time_t)1751328000) /* 2025-07-01T00:00:00Z */

static att_trust_t *g_trust;
static uint8_t *g_chain;
static size_t g_chain_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    att_sim_pki_opts_t po;
    att_sim_pki_t *pki = NULL;
    att_diag_t d;
    att_sim_pki_opts_default(&po, ATT_SIM_CA_PROCESSOR, NOW);
    FUZZ_CHECK(att_sim_pki_new(&po, &pki, &d) == ATT_OK, "sim pki: %s", d.msg);
    att_slice_t a = att_sim_pki_cert_pem(pki, ATT_SIM_TCB_SIGNER);
    att_slice_t b = att_sim_pki_cert_pem(pki, ATT_SIM_ROOT);
    att_slice_t r = att_sim_pki_cert_der(pki, ATT_SIM_ROOT);
    g_chain = malloc(a.len + b.len);
    FUZZ_CHECK(g_chain != NULL, "out of memory");
    memcpy(g_chain, a.ptr, a.len);
    memcpy(g_chain + a.len, b.ptr, b.len);
    g_chain_len = a.len + b.len;
    g_trust = att_trust_new();
    FUZZ_CHECK(att_trust_add_root(g_trust, r.ptr, r.len, &d) == ATT_OK, "root: %s", d.msg);
    att_sim_pki_free(pki);
    return 0;
}

static void check_diag(att_err_t e, const att_diag_t *d)
{
    FUZZ_CHECK(e == ATT_OK || d->code == e, "diag code %d, returned %d", d->code, e);
    FUZZ_CHECK(memchr(d->msg, 0, sizeof d->msg) != NULL, "unterminated message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *doc = malloc(size ? size : 1); /* exact size: reads past the input are caught */
    if (doc == NULL)
        return 0;
    if (size)
        memcpy(doc, data, size);
    att_dcap_tcbeval_t ev;
    const char *sp = NULL;
    size_t sl = 0;
    uint8_t sig[64];
    att_diag_t d;
    att_diag_clear(&d);
    att_err_t e = att_dcap_tcbeval_parse(doc, size, &ev, &sp, &sl, sig, &d);
    check_diag(e, &d);
    if (size > ATT_TCBEVAL_MAX_BYTES)
        FUZZ_CHECK(e == ATT_E_LIMIT, "a %zu-byte document gave %d", size, e);
    if (e == ATT_OK) {
        FUZZ_CHECK(ev.n >= 1 && ev.n <= ATT_TCBEVAL_MAX, "%zu entries", ev.n);
        FUZZ_CHECK(sp >= doc && sl <= size && (size_t)(sp - doc) <= size - sl,
                   "signed slice outside the input");
        for (size_t i = 0; i < ev.n; i++) {
            FUZZ_CHECK(ev.e[i].number >= 1 && ev.e[i].number <= ATT_TCBEVAL_NUM_MAX, "number %u",
                       ev.e[i].number);
            FUZZ_CHECK(i == 0 || ev.e[i].number < ev.e[i - 1].number, "not strictly descending");
        }
        att_dcap_tcbeval_t *v = NULL;
        att_diag_clear(&d);
        e = att_dcap_tcbeval_new((const uint8_t *)doc, size, g_chain, g_chain_len, g_trust, &v, &d);
        check_diag(e, &d);
        FUZZ_CHECK((e == ATT_OK) == (v != NULL), "object and result disagree");
        if (v != NULL) {
            att_diag_clear(&d);
            check_diag(att_dcap_tcbeval_check_time(v, NOW, &d), &d);
            att_dcap_tcbeval_free(v);
        }
    }
    free(doc);
    return 0;
}
