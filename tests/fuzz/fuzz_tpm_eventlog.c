/* fuzz_tpm_eventlog.c - libFuzzer target: the TCG PC Client crypto-agile event log and the Linux
 * IMA log (ascii and binary), and their replay.
 *
 * The first byte picks the parser (even: TCG, odd: IMA); the rest is the log. A parsed log is
 * replayed against PCR values of sha1 and sha256 banks over PCRs 0-23 made of the next bytes'
 * pattern (all zero) so the replay's comparison and messages run too.
 * Invariants (abort = crash for libFuzzer): the diag code equals the returned code and its message
 * is NUL-terminated; every event parsed has a PCR below 24, at most ATT_TPM_MAX_BANKS digests of
 * known algorithms, and data within the event size budget; small budgets (4 events, 64-byte
 * events) give ATT_E_LIMIT or the unbudgeted verdict, never another accept; the JSON view of
 * every event exists.
 * Seeds: tests/fuzz/corpus/tpm_eventlog/ (tests/tools/tpm_logs.py's logs).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/tpm.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

static att_err_t parse(bool ima, const uint8_t *p, size_t n, const att_tpm_limits_t *lim,
                       att_tpm_events_t *ev, att_diag_t *d)
{
    att_err_t e =
        ima ? att_tpm_ima_log_parse(p, n, lim, ev, d) : att_tpm_tcg_log_parse(p, n, lim, ev, d);
    FUZZ_CHECK(d->code == e || e == ATT_OK, "returned %s, diag says %s", att_err_name(e),
               att_err_name(d->code));
    FUZZ_CHECK(memchr(d->msg, 0, sizeof d->msg) != NULL, "message");
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool ima = data[0] & 1;
    att_tpm_events_t ev = {0}, ev2 = {0};
    att_diag_t d;
    att_diag_clear(&d);
    att_err_t e = parse(ima, data + 1, size - 1, NULL, &ev, &d);
    att_tpm_limits_t small = {.max_events = 4, .max_event_size = 64};
    att_diag_clear(&d);
    att_err_t e2 = parse(ima, data + 1, size - 1, &small, &ev2, &d);
    FUZZ_CHECK(e2 == e || e2 == ATT_E_LIMIT, "budgeted %s, unbudgeted %s", att_err_name(e2),
               att_err_name(e));
    att_tpm_events_free(&ev2);
    if (e == ATT_OK) {
        for (size_t i = 0; i < ev.n; i++) {
            const att_tpm_event_t *x = &ev.v[i];
            FUZZ_CHECK(x->pcr < ATT_TPM_NUM_PCRS, "pcr %u", x->pcr);
            FUZZ_CHECK(x->ndigests <= ATT_TPM_MAX_BANKS, "ndigests %zu", x->ndigests);
            FUZZ_CHECK(x->data_len <= ATT_TPM_MAX_EVENT_SIZE, "data_len %zu", x->data_len);
            json_t *o = att_tpm_event_json(x);
            FUZZ_CHECK(o != NULL, "event json");
            json_decref(o);
        }
        static att_tpm_pcrs_t pcrs;
        pcrs.nsel = 2;
        pcrs.sel[0] = (att_tpm_sel_t){ATT_TPM_ALG_SHA1, 0xffffff};
        pcrs.sel[1] = (att_tpm_sel_t){ATT_TPM_ALG_SHA256, 0xffffff};
        att_diag_clear(&d);
        att_err_t r = att_tpm_replay(&ev, &pcrs, &d);
        FUZZ_CHECK(r == ATT_OK || r == ATT_E_TPM_EVENTLOG_REPLAY, "replay %s", att_err_name(r));
    }
    att_tpm_events_free(&ev);
    return 0;
}
