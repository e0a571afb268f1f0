/* test_tpm_eventlog.c - the event-log parsers on their own, on the logs tests/tools/tpm_logs.py
 * writes: the TCG log and both IMA forms parse to the same events and digests; every truncation
 * of each log is refused (never read past the end); trailing garbage, a TCG 1.2 (SHA-1) log, a
 * bad Spec ID event, an unknown digest algorithm, a PCR of 24, an IMA template hash that is not
 * the SHA-1 of its template data, the legacy "ima" template; each budget (log size, event count,
 * event size) is ATT_E_LIMIT; and the replay: a log extending no quoted PCR is refused, a PCR
 * the quote covers in one bank only is compared in that bank. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "tpm_test.h"

static char g_dir[64];

static buf_t rd(const char *rel)
{
    return tpm_rd(g_dir, rel);
}

static att_err_t tcg(const uint8_t *p, size_t n, const att_tpm_limits_t *l, att_diag_t *d,
                     att_tpm_events_t *ev)
{
    att_tpm_events_t tmp = {0};
    att_err_t e = att_tpm_tcg_log_parse(p, n, l, ev ? ev : &tmp, d);
    att_tpm_events_free(&tmp);
    return e;
}

static att_err_t ima(const uint8_t *p, size_t n, const att_tpm_limits_t *l, att_diag_t *d,
                     att_tpm_events_t *ev)
{
    att_tpm_events_t tmp = {0};
    att_err_t e = att_tpm_ima_log_parse(p, n, l, ev ? ev : &tmp, d);
    att_tpm_events_free(&tmp);
    return e;
}

static void test_parse(void **state)
{
    buf_t t = rd("eventlog.bin"), a = rd("ima.ascii"), b = rd("ima.bin");
    att_tpm_events_t ev = {0}, ea = {0}, eb = {0};
    att_diag_t d;
    assert_int_equal(tcg(t.p, t.n, NULL, &d, &ev), ATT_OK);
    assert_int_equal(ev.n, 9);
    assert_int_equal(ev.spec_major, 2);
    assert_int_equal(ev.v[2].type, 0x80000001);
    assert_int_equal(ev.v[2].pcr, 7);
    assert_string_equal(att_tpm_event_type_name(ev.v[3].type), "EV_EFI_BOOT_SERVICES_APPLICATION");
    assert_false(ev.v[4].extends); /* EV_NO_ACTION */
    assert_int_equal(ev.v[1].ndigests, 2);
    assert_int_equal(ima(a.p, a.n, NULL, &d, &ea), ATT_OK);
    assert_int_equal(ima(b.p, b.n, NULL, &d, &eb), ATT_OK);
    assert_int_equal(ea.n, 4);
    assert_int_equal(eb.n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ea.v[i].data_len, eb.v[i].data_len);
        assert_memory_equal(ea.v[i].data, eb.v[i].data, ea.v[i].data_len);
        assert_memory_equal(ea.v[i].digests, eb.v[i].digests, sizeof(ea.v[i].digests));
        assert_string_equal(ea.v[i].ima_path, eb.v[i].ima_path);
        assert_string_equal(ea.v[i].ima_template, eb.v[i].ima_template);
        assert_int_equal(ea.v[i].pcr, 10);
    }
    assert_string_equal(ea.v[3].ima_template, "ima-sig");
    assert_string_equal(ea.v[1].ima_file_alg, "sha256");
    att_tpm_events_free(&ev);
    att_tpm_events_free(&ea);
    att_tpm_events_free(&eb);
    free(t.p);
    free(a.p);
    free(b.p);
}

static void test_truncations(void **state)
{
    /* A cut inside an event is refused; a cut at an event boundary is a shorter log (the replay
     * catches that), so exactly events-1 proper prefixes parse (the Spec ID event alone counts as
     * a TCG log; an empty IMA log does not; an ascii line may lack its newline). */
    const char *files[] = {"eventlog.bin", "ima.bin", "ima.ascii"};
    const size_t whole[] = {9, 4, 4};
    for (int f = 0; f < 3; f++) {
        buf_t b = rd(files[f]);
        size_t ok = 0;
        for (size_t n = 0; n < b.n; n++) {
            uint8_t *c = malloc(n ? n : 1); /* exact size: ASan sees any overread */
            memcpy(c, b.p, n);
            att_diag_t d;
            att_tpm_events_t ev = {0};
            att_err_t e = f == 0 ? tcg(c, n, NULL, &d, &ev) : ima(c, n, NULL, &d, &ev);
            if (e == ATT_OK) {
                ok++;
                /* ascii: a whole line, with or without its newline */
                assert_true(ev.n < whole[f] || (f == 2 && n == b.n - 1));
                if (f == 2)
                    assert_true(b.p[n - 1] == '\n' || b.p[n] == '\n');
            }
            att_tpm_events_free(&ev);
            free(c);
        }
        assert_int_equal(ok, f == 2 ? 2 * whole[f] - 1 : whole[f] - 1);
        free(b.p);
    }
    /* A trailing byte after the TCG log. */
    buf_t t = rd("eventlog.bin");
    att_diag_t d;
    uint8_t *c = malloc(t.n + 1);
    memcpy(c, t.p, t.n);
    c[t.n] = 0;
    assert_int_equal(tcg(c, t.n + 1, NULL, &d, NULL), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(d.msg, "event 9"));
    free(c);
    free(t.p);
}

static void test_spec_id(void **state)
{
    buf_t t = rd("eventlog.bin");
    att_diag_t d;
    /* Spec ID signature at offset 32 (pcr, type, sha1 digest, size). */
    memcpy(t.p + 32, "Spec ID Event02", 15);
    assert_int_equal(tcg(t.p, t.n, NULL, &d, NULL), ATT_E_UNSUPPORTED);
    assert_non_null(strstr(d.msg, "SHA-1-only"));
    memcpy(t.p + 32, "Spec ID Event03", 15);
    /* numberOfAlgorithms at 32 + 16 + 8 = 56: 9 is beyond the budget. */
    t.p[56] = 9;
    assert_int_equal(tcg(t.p, t.n, NULL, &d, NULL), ATT_E_LIMIT);
    t.p[56] = 2;
    /* The sha256 digest size (at 60 + 4 + 2) given as 20. */
    t.p[66] = 20;
    assert_int_equal(tcg(t.p, t.n, NULL, &d, NULL), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(d.msg, "digest size of 20"));
    t.p[66] = 32;
    /* The first event's PCR (offset 0) */
    t.p[0] = 1;
    assert_int_equal(tcg(t.p, t.n, NULL, &d, NULL), ATT_E_EVIDENCE_FORMAT);
    t.p[0] = 0;
    assert_int_equal(tcg(t.p, t.n, NULL, &d, NULL), ATT_OK);
    /* The second event starts after the Spec ID event: 32 + its data size at offset 28. */
    size_t e1 = 32 + ((size_t)t.p[28] | (size_t)t.p[29] << 8);
    t.p[e1] = 24; /* PCR 24 */
    assert_int_equal(tcg(t.p, t.n, NULL, &d, NULL), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(d.msg, "PCR 24"));
    t.p[e1] = 0;
    t.p[e1 + 12] = 0x12; /* first digest's algorithm: SM3, not in the Spec ID event */
    assert_int_equal(tcg(t.p, t.n, NULL, &d, NULL), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(d.msg, "does not list"));
    free(t.p);
}

static void test_limits(void **state)
{
    buf_t t = rd("eventlog.bin"), a = rd("ima.ascii"), b = rd("ima.bin");
    att_diag_t d;
    att_tpm_limits_t l = {.max_log_bytes = t.n - 1};
    assert_int_equal(tcg(t.p, t.n, &l, &d, NULL), ATT_E_LIMIT);
    l.max_log_bytes = t.n;
    assert_int_equal(tcg(t.p, t.n, &l, &d, NULL), ATT_OK);
    l = (att_tpm_limits_t){.max_events = 8};
    assert_int_equal(tcg(t.p, t.n, &l, &d, NULL), ATT_E_LIMIT);
    l.max_events = 9;
    assert_int_equal(tcg(t.p, t.n, &l, &d, NULL), ATT_OK);
    l = (att_tpm_limits_t){.max_event_size = 30}; /* the SecureBoot variable has 53 bytes */
    assert_int_equal(tcg(t.p, t.n, &l, &d, NULL), ATT_E_LIMIT);
    assert_non_null(strstr(d.msg, "53 bytes of data, more than the 30"));
    l = (att_tpm_limits_t){.max_events = 3};
    assert_int_equal(ima(a.p, a.n, &l, &d, NULL), ATT_E_LIMIT);
    assert_int_equal(ima(b.p, b.n, &l, &d, NULL), ATT_E_LIMIT);
    l = (att_tpm_limits_t){.max_event_size = 40};
    assert_int_equal(ima(a.p, a.n, &l, &d, NULL), ATT_E_LIMIT);
    assert_int_equal(ima(b.p, b.n, &l, &d, NULL), ATT_E_LIMIT);
    free(t.p);
    free(a.p);
    free(b.p);
}

static void test_ima_errors(void **state)
{
    buf_t a = rd("ima.ascii"), b = rd("ima.bin");
    att_diag_t d;
    /* A changed file digest: the template hash no longer is the SHA-1 of the template data. */
    char *s = strstr((char *)a.p, "sha256:") + 7;
    *s = *s == 'a' ? 'b' : 'a';
    assert_int_equal(ima(a.p, a.n, NULL, &d, NULL), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(d.msg, "entry 0 (offset 0)"));
    assert_non_null(strstr(d.msg, "the SHA-1 of its template data is"));
    /* The legacy template in the binary form: name length at 24, name at 28. */
    assert_int_equal(b.p[24], 6);
    static const char line[] = "10 0000000000000000000000000000000000000000 ima "
                               "0000000000000000000000000000000000000000 /x\n";
    assert_int_equal(ima((const uint8_t *)line, sizeof(line) - 1, NULL, &d, NULL),
                     ATT_E_UNSUPPORTED);
    static const char bad[] = "10 zz00000000000000000000000000000000000000 ima-ng sha256:00 /x\n";
    assert_int_equal(ima((const uint8_t *)bad, sizeof(bad) - 1, NULL, &d, NULL),
                     ATT_E_EVIDENCE_FORMAT);
    static const char pcr[] = "24 0000000000000000000000000000000000000000 ima-ng sha256:00 /x\n";
    assert_int_equal(ima((const uint8_t *)pcr, sizeof(pcr) - 1, NULL, &d, NULL),
                     ATT_E_EVIDENCE_FORMAT);
    /* A violation entry (zero template hash) extends all ones and is accepted as such. */
    static const char vio[] = "10 0000000000000000000000000000000000000000 ima-ng sha256:00 /x\n";
    att_tpm_events_t ev = {0};
    assert_int_equal(ima((const uint8_t *)vio, sizeof(vio) - 1, NULL, &d, &ev), ATT_OK);
    assert_int_equal(ev.v[0].digests[1].d[0], 0xff);
    att_tpm_events_free(&ev);
    free(a.p);
    free(b.p);
}

/* Replay: PCR 10 quoted in sha256 only; a log that touches no quoted PCR. */
static void test_replay(void **state)
{
    buf_t a = rd("ima.ascii");
    att_tpm_events_t ev = {0};
    att_diag_t d;
    assert_int_equal(ima(a.p, a.n, NULL, &d, &ev), ATT_OK);
    att_tpm_pcrs_t pcrs;
    memset(&pcrs, 0, sizeof(pcrs));
    pcrs.nsel = 1;
    pcrs.sel[0] = (att_tpm_sel_t){ATT_TPM_ALG_SHA256, 1u << 10};
    /* The expected PCR 10: each entry's SHA-256 of its template data extended from zero. */
    uint8_t pcr[64] = {0};
    for (size_t i = 0; i < ev.n; i++) {
        memcpy(pcr + 32, ev.v[i].digests[1].d, 32);
        SHA256(pcr, 64, pcr);
    }
    memcpy(pcrs.values[0][10], pcr, 32);
    assert_int_equal(att_tpm_replay(&ev, &pcrs, &d), ATT_OK);
    assert_true(ev.v[0].verified);
    pcrs.values[0][10][31] ^= 1;
    assert_int_equal(att_tpm_replay(&ev, &pcrs, &d), ATT_E_TPM_EVENTLOG_REPLAY);
    assert_non_null(strstr(d.msg, "PCR 10 (sha256) does not replay"));
    pcrs.sel[0].mask = 1u << 11; /* the quote does not cover PCR 10 */
    assert_int_equal(att_tpm_replay(&ev, &pcrs, &d), ATT_E_TPM_EVENTLOG_REPLAY);
    assert_non_null(strstr(d.msg, "none of which the quote covers"));
    att_tpm_events_free(&ev);
    free(a.p);
}

int main(void)
{
    char cmd[256];
    snprintf(g_dir, sizeof(g_dir), "/tmp/att-tpmlogs-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return 1;
    snprintf(cmd, sizeof(cmd), "python3 '%s/tpm_logs.py' '%s'", ATT_TEST_TOOLS, g_dir);
    if (system(cmd) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),      cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_spec_id),    cmocka_unit_test(test_limits),
        cmocka_unit_test(test_ima_errors), cmocka_unit_test(test_replay),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        return 1;
    return r;
}
