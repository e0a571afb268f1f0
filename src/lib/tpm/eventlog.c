/* eventlog.c - the TCG PC Client crypto-agile event log, the Linux IMA measurement log, and
 * their replay against quoted PCR values.
 *
 * Both parsers read through the bounds-checked cursor style of the project: every length is
 * checked against what is left before a byte is read, every budget (log size, event count, event
 * size) is checked before anything is allocated for it (ATT_E_LIMIT), and a failure names the
 * event (its index and offset) and the field. Events are copied out: the result does not borrow
 * the log.
 */
#include <stdio.h>
#include <string.h>

#include "core/cursor.h"
#include "core/util.h"
#include "tpm/tpm_int.h"

#define ATT_EV_NO_ACTION 0x00000003u

att_tpm_event_t *att_tpm_events_add(att_tpm_events_t *ev)
{
    if (ev->n == ev->cap) {
        size_t cap = ev->cap ? ev->cap * 2 : 64;
        att_tpm_event_t *v = realloc(ev->v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        ev->v = v;
        ev->cap = cap;
    }
    att_tpm_event_t *e = &ev->v[ev->n++];
    memset(e, 0, sizeof(*e));
    return e;
}

ATT_API void att_tpm_events_free(att_tpm_events_t *ev)
{
    if (ev == NULL)
        return;
    for (size_t i = 0; i < ev->n; i++) {
        free(ev->v[i].data);
        free(ev->v[i].ima_path);
    }
    free(ev->v);
    memset(ev, 0, sizeof(*ev));
}

ATT_API const char *att_tpm_event_type_name(uint32_t type)
{
    static const struct {
        uint32_t t;
        const char *n;
    } names[] = {
        {0x00000000, "EV_PREBOOT_CERT"},
        {0x00000001, "EV_POST_CODE"},
        {0x00000002, "EV_UNUSED"},
        {0x00000003, "EV_NO_ACTION"},
        {0x00000004, "EV_SEPARATOR"},
        {0x00000005, "EV_ACTION"},
        {0x00000006, "EV_EVENT_TAG"},
        {0x00000007, "EV_S_CRTM_CONTENTS"},
        {0x00000008, "EV_S_CRTM_VERSION"},
        {0x00000009, "EV_CPU_MICROCODE"},
        {0x0000000A, "EV_PLATFORM_CONFIG_FLAGS"},
        {0x0000000B, "EV_TABLE_OF_DEVICES"},
        {0x0000000C, "EV_COMPACT_HASH"},
        {0x0000000D, "EV_IPL"},
        {0x0000000E, "EV_IPL_PARTITION_DATA"},
        {0x0000000F, "EV_NONHOST_CODE"},
        {0x00000010, "EV_NONHOST_CONFIG"},
        {0x00000011, "EV_NONHOST_INFO"},
        {0x00000012, "EV_OMIT_BOOT_DEVICE_EVENTS"},
        {0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG"},
        {0x80000002, "EV_EFI_VARIABLE_BOOT"},
        {0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION"},
        {0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER"},
        {0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER"},
        {0x80000006, "EV_EFI_GPT_EVENT"},
        {0x80000007, "EV_EFI_ACTION"},
        {0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB"},
        {0x80000009, "EV_EFI_HANDOFF_TABLES"},
        {0x8000000A, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"},
        {0x8000000B, "EV_EFI_HANDOFF_TABLES2"},
        {0x8000000C, "EV_EFI_VARIABLE_BOOT2"},
        {0x80000010, "EV_EFI_HCRTM_EVENT"},
        {0x800000E0, "EV_EFI_VARIABLE_AUTHORITY"},
        {0x800000E1, "EV_EFI_SPDM_FIRMWARE_BLOB"},
        {0x800000E2, "EV_EFI_SPDM_FIRMWARE_CONFIG"},
    };
    for (size_t i = 0; i < ATT_ARRAY_LEN(names); i++)
        if (names[i].t == type)
            return names[i].n;
    return "EV_UNKNOWN";
}

/* ---- TCG PC Client crypto-agile log ------------------------------------------------------- */

typedef struct {
    uint16_t alg, size;
} att_log_alg_t;

static bool att_rd_u32(att_cursor_t *c, uint32_t *v)
{
    return att_cur_u32(c, v); /* the log is little-endian, as the cursor */
}

/* The Spec ID event (TCG_PCClientPCREvent with TCG_EfiSpecIDEvent). */
static att_err_t att_spec_id(att_cursor_t *c, att_tpm_events_t *ev, att_log_alg_t *algs,
                             uint32_t *nalgs, att_diag_t *diag)
{
    uint32_t pcr, type, size;
    const uint8_t *digest, *data;
    if (!att_rd_u32(c, &pcr) || !att_rd_u32(c, &type) || !att_cur_bytes(c, 20, &digest) ||
        !att_rd_u32(c, &size))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TCG event log: %zu bytes, too short for its first (Spec ID) event",
                            c->len);
    if (pcr != 0 || type != ATT_EV_NO_ACTION)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TCG event log: the first event is of type 0x%08x on PCR %u, not the "
                            "Spec ID event (EV_NO_ACTION on PCR 0)",
                            type, pcr);
    if (!att_cur_bytes(c, size, &data))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TCG event log: the Spec ID event declares %u bytes of data, %zu are "
                            "left",
                            size, att_cur_left(c));
    att_cursor_t s = att_cursor(data, size);
    const uint8_t *sig, *hdr;
    uint32_t n;
    if (!att_cur_bytes(&s, 16, &sig))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TCG event log: the Spec ID event has %u bytes of data", size);
    if (memcmp(sig, "Spec ID Event03", 16) != 0) {
        if (memcmp(sig, "Spec ID Event", 13) == 0)
            return att_diag_set(diag, ATT_E_UNSUPPORTED,
                                "TCG event log: signature \"%.15s\": a SHA-1-only (TCG 1.2 "
                                "format) log; the crypto-agile format (Spec ID Event03) is read",
                                (const char *)sig);
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TCG event log: the first event's signature is not \"Spec ID "
                            "Event03\"");
    }
    /* platformClass u32, specVersionMinor, specVersionMajor, specErrata, uintnSize u8 */
    if (!att_cur_bytes(&s, 8, &hdr) || !att_cur_u32(&s, &n))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TCG event log: the Spec ID event is truncated before its algorithm "
                            "count");
    ev->spec_minor = hdr[4];
    ev->spec_major = hdr[5];
    ev->spec_errata = hdr[6];
    if (n == 0 || n > ATT_TPM_MAX_LOG_ALGS)
        return att_diag_set(diag, n == 0 ? ATT_E_EVIDENCE_FORMAT : ATT_E_LIMIT,
                            "TCG event log: the Spec ID event lists %u digest algorithms (1 to %u "
                            "accepted)",
                            n, ATT_TPM_MAX_LOG_ALGS);
    for (uint32_t i = 0; i < n; i++) {
        if (!att_cur_u16(&s, &algs[i].alg) || !att_cur_u16(&s, &algs[i].size))
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "TCG event log: the Spec ID event is truncated in algorithm %u", i);
        size_t known = att_tpm_digest_size(algs[i].alg);
        if ((known && algs[i].size != known) || algs[i].size == 0 || algs[i].size > 64)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "TCG event log: the Spec ID event gives algorithm 0x%04x a digest "
                                "size of %u",
                                algs[i].alg, algs[i].size);
        for (uint32_t k = 0; k < i; k++)
            if (algs[k].alg == algs[i].alg)
                return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                    "TCG event log: the Spec ID event lists algorithm 0x%04x twice",
                                    algs[i].alg);
    }
    const uint8_t *vi;
    uint8_t vlen;
    if (!att_cur_bytes(&s, 1, &vi) || (vlen = vi[0], !att_cur_bytes(&s, vlen, &vi)) ||
        att_cur_left(&s) != 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "TCG event log: the Spec ID event's vendor information does not end "
                            "its %u bytes of data",
                            size);
    *nalgs = n;
    att_tpm_event_t *e = att_tpm_events_add(ev);
    if (e == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    e->log = ATT_TPM_LOG_TCG;
    e->index = 0;
    e->type = ATT_EV_NO_ACTION;
    e->ndigests = 1;
    e->digests[0].alg = ATT_TPM_ALG_SHA1;
    memcpy(e->digests[0].d, digest, 20);
    if ((e->data = malloc(size)) == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    memcpy(e->data, data, size);
    e->data_len = size;
    ev->ntcg++;
    return ATT_OK;
}

ATT_API att_err_t att_tpm_tcg_log_parse(const uint8_t *buf, size_t len,
                                        const att_tpm_limits_t *limits, att_tpm_events_t *ev,
                                        att_diag_t *diag)
{
    att_tpm_limits_t lim = att_tpm_limits(limits);
    if (len > lim.max_log_bytes)
        return att_diag_set(diag, ATT_E_LIMIT,
                            "TCG event log: %zu bytes, more than the %zu accepted", len,
                            lim.max_log_bytes);
    att_cursor_t c = att_cursor(buf, len);
    att_log_alg_t algs[ATT_TPM_MAX_LOG_ALGS];
    uint32_t nalgs = 0;
    att_err_t e = att_spec_id(&c, ev, algs, &nalgs, diag);
    if (e != ATT_OK)
        return e;
    for (uint32_t idx = 1; att_cur_left(&c) > 0; idx++) {
        size_t at = c.off;
        uint32_t pcr, type, count, size;
        if (idx >= lim.max_events)
            return att_diag_set(diag, ATT_E_LIMIT,
                                "TCG event log: more than %zu events (event %u at offset %zu)",
                                lim.max_events, idx, at);
        if (!att_rd_u32(&c, &pcr) || !att_rd_u32(&c, &type) || !att_rd_u32(&c, &count))
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "TCG event log: event %u at offset %zu is truncated in its header",
                                idx, at);
        if (pcr >= ATT_TPM_NUM_PCRS)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "TCG event log: event %u at offset %zu is on PCR %u (0-23)", idx,
                                at, pcr);
        if (count == 0 || count > nalgs)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "TCG event log: event %u at offset %zu has %u digests; the Spec ID "
                                "event lists %u algorithms",
                                idx, at, count, nalgs);
        att_tpm_event_t *ev1 = att_tpm_events_add(ev);
        if (ev1 == NULL)
            return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        ev1->log = ATT_TPM_LOG_TCG;
        ev1->index = idx;
        ev1->pcr = pcr;
        ev1->type = type;
        ev1->extends = type != ATT_EV_NO_ACTION;
        ev->ntcg++;
        uint32_t seen = 0;
        for (uint32_t k = 0; k < count; k++) {
            uint16_t alg;
            const uint8_t *d;
            uint32_t a = 0;
            if (!att_cur_u16(&c, &alg))
                return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                    "TCG event log: event %u at offset %zu is truncated in digest "
                                    "%u",
                                    idx, at, k);
            while (a < nalgs && algs[a].alg != alg)
                a++;
            if (a == nalgs || (seen & (1u << a)))
                return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                    "TCG event log: event %u at offset %zu has a digest of "
                                    "algorithm 0x%04x %s",
                                    idx, at, alg,
                                    a == nalgs ? "the Spec ID event does not list" : "twice");
            seen |= 1u << a;
            if (!att_cur_bytes(&c, algs[a].size, &d))
                return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                    "TCG event log: event %u at offset %zu is truncated in its %s "
                                    "digest",
                                    idx, at, att_tpm_alg_name(alg));
            if (att_tpm_digest_size(alg) != 0 && ev1->ndigests < ATT_TPM_MAX_BANKS) {
                ev1->digests[ev1->ndigests].alg = alg;
                memcpy(ev1->digests[ev1->ndigests].d, d, algs[a].size);
                ev1->ndigests++;
            }
        }
        const uint8_t *data;
        if (!att_rd_u32(&c, &size))
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "TCG event log: event %u at offset %zu is truncated before its "
                                "data size",
                                idx, at);
        if (size > lim.max_event_size)
            return att_diag_set(diag, ATT_E_LIMIT,
                                "TCG event log: event %u at offset %zu has %u bytes of data, more "
                                "than the %zu accepted",
                                idx, at, size, lim.max_event_size);
        if (!att_cur_bytes(&c, size, &data))
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "TCG event log: event %u at offset %zu declares %u bytes of data, "
                                "%zu are left",
                                idx, at, size, att_cur_left(&c));
        if (size > 0) {
            if ((ev1->data = malloc(size)) == NULL)
                return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            memcpy(ev1->data, data, size);
            ev1->data_len = size;
        }
        if (type == ATT_EV_NO_ACTION && size == 17 && !memcmp(data, "StartupLocality", 16))
            ev->startup_locality = data[16];
    }
    return ATT_OK;
}

/* ---- Linux IMA ---------------------------------------------------------------------------- */

/* Fill the IMA claims (file digest, path) from ima-ng style fields: d-ng then n-ng. */
static att_err_t att_ima_fields(att_tpm_event_t *e, att_diag_t *diag, size_t at)
{
    att_cursor_t c = att_cursor(e->data, e->data_len);
    size_t nf = 0;
    while (att_cur_left(&c) > 0) {
        uint32_t fl;
        const uint8_t *f;
        if (!att_cur_u32(&c, &fl) || !att_cur_bytes(&c, fl, &f))
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "IMA log: entry %u (offset %zu): template field %zu overruns the "
                                "template data",
                                e->index, at, nf);
        bool ng = !strcmp(e->ima_template, "ima-ng") || !strcmp(e->ima_template, "ima-sig") ||
                  !strcmp(e->ima_template, "ima-buf") || !strcmp(e->ima_template, "ima-modsig");
        if (ng && nf == 0) { /* d-ng: "alg:\0" digest */
            const uint8_t *colon = memchr(f, ':', fl);
            size_t al = colon ? (size_t)(colon - f) : 0;
            if (colon == NULL || al >= sizeof(e->ima_file_alg) || al + 2 > fl || colon[1] != 0 ||
                fl - al - 2 > ATT_TPM_MAX_DIGEST)
                return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                    "IMA log: entry %u (offset %zu): the d-ng field is not "
                                    "\"alg:\\0\" and a digest",
                                    e->index, at);
            memcpy(e->ima_file_alg, f, al);
            e->ima_file_alg[al] = 0;
            memcpy(e->ima_file_digest, colon + 2, fl - al - 2);
            e->ima_file_digest_len = fl - al - 2;
        } else if (ng && nf == 1) { /* n-ng: NUL-terminated name */
            if ((e->ima_path = malloc((size_t)fl + 1)) == NULL)
                return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            memcpy(e->ima_path, f, fl);
            e->ima_path[fl] = 0;
        }
        nf++;
    }
    return ATT_OK;
}

/* Digests of the template data for every bank; a violation (zero template hash) is all ones. */
static att_err_t att_ima_digests(att_tpm_event_t *e, const uint8_t sha1[20], att_diag_t *diag,
                                 size_t at)
{
    static const uint16_t banks[] = {ATT_TPM_ALG_SHA1, ATT_TPM_ALG_SHA256, ATT_TPM_ALG_SHA384,
                                     ATT_TPM_ALG_SHA512};
    static const uint8_t zero[20];
    bool violation = memcmp(sha1, zero, 20) == 0;
    for (size_t b = 0; b < ATT_ARRAY_LEN(banks); b++) {
        e->digests[b].alg = banks[b];
        if (violation)
            memset(e->digests[b].d, 0xff, att_tpm_digest_size(banks[b]));
        else if (!att_tpm_hash(banks[b], e->data, e->data_len, e->digests[b].d))
            return att_diag_set(diag, ATT_E_INTERNAL, "hashing IMA template data failed");
    }
    e->ndigests = ATT_ARRAY_LEN(banks);
    if (!violation && memcmp(e->digests[0].d, sha1, 20) != 0) {
        char a[41], b[41];
        att_hex_encode(sha1, 20, a);
        att_hex_encode(e->digests[0].d, 20, b);
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "IMA log: entry %u (offset %zu): its template hash is %s, the SHA-1 of "
                            "its template data is %s",
                            e->index, at, a, b);
    }
    return ATT_OK;
}

static bool att_put_field(att_buf_t *b, const void *p, size_t n)
{
    uint8_t l[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    return att_buf_put(b, l, 4) && (n == 0 || att_buf_put(b, p, n));
}

static bool att_hex_field(att_buf_t *b, const char *hex, size_t hl)
{
    uint8_t tmp[512];
    if (hl % 2)
        return false;
    size_t n = hl / 2;
    uint8_t l[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    if (!att_buf_put(b, l, 4))
        return false;
    for (size_t o = 0; o < n; o += sizeof(tmp)) {
        size_t k = n - o < sizeof(tmp) ? n - o : sizeof(tmp);
        if (!att_hex_decode(hex + 2 * o, 2 * k, tmp, k) || !att_buf_put(b, tmp, k))
            return false;
    }
    return true;
}

/* One ASCII line: "PCR TEMPLATE-HASH TEMPLATE-NAME FIELDS..." */
static att_err_t att_ima_ascii_line(att_tpm_event_t *e, const char *l, size_t n,
                                    const att_tpm_limits_t *lim, att_diag_t *diag, size_t at)
{
    unsigned idx = e->index;
    const char *end = l + n, *p = l, *sp;
    uint32_t pcr = 0;
    uint8_t th[20];
#define ATT_IMA_BAD(what)                                                                          \
    att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "IMA log: line %u (offset %zu): %s", idx + 1, at,    \
                 what)
    if (p == end || *p < '0' || *p > '9')
        return ATT_IMA_BAD("does not start with a PCR number");
    while (p < end && *p >= '0' && *p <= '9' && pcr < 100)
        pcr = pcr * 10 + (uint32_t)(*p++ - '0');
    if (p == end || *p != ' ' || pcr >= ATT_TPM_NUM_PCRS)
        return ATT_IMA_BAD("its PCR is not a number from 0 to 23 followed by a space");
    p++;
    if (end - p < 41 || p[40] != ' ' || !att_hex_decode(p, 40, th, 20))
        return ATT_IMA_BAD("its template hash is not 40 hex digits followed by a space");
    p += 41;
    sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL || sp == p || (size_t)(sp - p) >= sizeof(e->ima_template))
        return ATT_IMA_BAD("no template name");
    memcpy(e->ima_template, p, (size_t)(sp - p));
    e->ima_template[sp - p] = 0;
    p = sp + 1;
    bool three = !strcmp(e->ima_template, "ima-sig") || !strcmp(e->ima_template, "ima-buf") ||
                 !strcmp(e->ima_template, "ima-modsig");
    if (strcmp(e->ima_template, "ima-ng") != 0 && !three)
        return att_diag_set(diag, ATT_E_UNSUPPORTED,
                            "IMA log: line %u (offset %zu): template \"%s\"; ima-ng, ima-sig and "
                            "ima-buf are read (the binary log reads any template)",
                            idx + 1, at, e->ima_template);
    /* d-ng "alg:hex" */
    sp = memchr(p, ' ', (size_t)(end - p));
    const char *colon = sp ? memchr(p, ':', (size_t)(sp - p)) : NULL;
    if (colon == NULL)
        return ATT_IMA_BAD("its file digest is not \"alg:hex\" followed by a space");
    size_t al = (size_t)(colon - p), hl = (size_t)(sp - colon - 1);
    if (al == 0 || al >= sizeof(e->ima_file_alg) || hl == 0 || hl % 2 ||
        hl / 2 > ATT_TPM_MAX_DIGEST || !att_hex_decode(colon + 1, hl, e->ima_file_digest, hl / 2))
        return ATT_IMA_BAD("its file digest is not \"alg:hex\" (at most 64 bytes)");
    memcpy(e->ima_file_alg, p, al);
    e->ima_file_alg[al] = 0;
    e->ima_file_digest_len = hl / 2;
    p = sp + 1;
    /* n-ng: the rest (ima-ng) or up to the last space (the third field, hex, may be empty). */
    const char *name_end = end, *third = NULL;
    if (three) {
        const char *q = end;
        while (q > p && q[-1] != ' ')
            q--;
        if (q == p)
            return ATT_IMA_BAD("no space before its third field");
        name_end = q - 1;
        third = q;
    }
    size_t nl = (size_t)(name_end - p);
    if ((e->ima_path = malloc(nl + 1)) == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    memcpy(e->ima_path, p, nl);
    e->ima_path[nl] = 0;
    /* The template data as the kernel hashed it: each field with its u32 length. */
    att_buf_t b = {.max = lim->max_event_size};
    char dng[24];
    int dl = snprintf(dng, sizeof(dng), "%s:", e->ima_file_alg);
    size_t dlen = (size_t)dl + 1 + e->ima_file_digest_len;
    uint8_t l4[4] = {(uint8_t)dlen, (uint8_t)(dlen >> 8), 0, 0};
    bool ok = att_buf_put(&b, l4, 4) && att_buf_put(&b, dng, (size_t)dl + 1) &&
              att_buf_put(&b, e->ima_file_digest, e->ima_file_digest_len) &&
              att_put_field(&b, e->ima_path, nl + 1) &&
              (!three || att_hex_field(&b, third, (size_t)(end - third)));
    if (!ok) {
        bool over = b.over, failed = b.failed;
        free(b.p);
        if (over)
            return att_diag_set(diag, ATT_E_LIMIT,
                                "IMA log: line %u (offset %zu): template data beyond the %zu bytes "
                                "accepted",
                                idx + 1, at, lim->max_event_size);
        if (failed)
            return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        return ATT_IMA_BAD("its last field is not hex");
    }
#undef ATT_IMA_BAD
    e->data = b.p;
    e->data_len = b.len;
    e->pcr = pcr;
    return att_ima_digests(e, th, diag, at);
}

static att_err_t att_ima_binary(const uint8_t *buf, size_t len, const att_tpm_limits_t *lim,
                                att_tpm_events_t *ev, att_diag_t *diag)
{
    att_cursor_t c = att_cursor(buf, len);
    for (uint32_t idx = 0; att_cur_left(&c) > 0; idx++) {
        size_t at = c.off;
        uint32_t pcr, nl, dl;
        const uint8_t *th, *name, *data;
        if (idx >= lim->max_events)
            return att_diag_set(diag, ATT_E_LIMIT, "IMA log: more than %zu entries (offset %zu)",
                                lim->max_events, at);
        if (!att_cur_u32(&c, &pcr) || !att_cur_bytes(&c, 20, &th) || !att_cur_u32(&c, &nl))
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "IMA log: entry %u (offset %zu) is truncated in its header", idx,
                                at);
        if (pcr >= ATT_TPM_NUM_PCRS)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "IMA log: entry %u (offset %zu) is on PCR %u (0-23)", idx, at, pcr);
        if (nl == 0 || nl >= 16 || !att_cur_bytes(&c, nl, &name) || memchr(name, 0, nl))
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "IMA log: entry %u (offset %zu): its template name length %u is "
                                "not 1-15 bytes of text within the log",
                                idx, at, nl);
        if (nl == 3 && !memcmp(name, "ima", 3))
            return att_diag_set(
                diag, ATT_E_UNSUPPORTED,
                "IMA log: entry %u (offset %zu): the legacy \"ima\" template is not "
                "read (ima-ng and later are)",
                idx, at);
        if (!att_cur_u32(&c, &dl))
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "IMA log: entry %u (offset %zu) is truncated before its template "
                                "data length",
                                idx, at);
        if (dl > lim->max_event_size)
            return att_diag_set(diag, ATT_E_LIMIT,
                                "IMA log: entry %u (offset %zu) has %u bytes of template data, "
                                "more than the %zu accepted",
                                idx, at, dl, lim->max_event_size);
        if (!att_cur_bytes(&c, dl, &data))
            return att_diag_set(
                diag, ATT_E_EVIDENCE_FORMAT,
                "IMA log: entry %u (offset %zu) declares %u bytes of template data, "
                "%zu are left",
                idx, at, dl, att_cur_left(&c));
        att_tpm_event_t *e = att_tpm_events_add(ev);
        if (e == NULL)
            return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        e->log = ATT_TPM_LOG_IMA;
        e->index = idx;
        e->pcr = pcr;
        e->extends = true;
        ev->nima++;
        memcpy(e->ima_template, name, nl);
        if (dl > 0) {
            if ((e->data = malloc(dl)) == NULL)
                return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            memcpy(e->data, data, dl);
        }
        e->data_len = dl;
        att_err_t r = att_ima_fields(e, diag, at);
        if (r == ATT_OK)
            r = att_ima_digests(e, th, diag, at);
        if (r != ATT_OK)
            return r;
    }
    return ATT_OK;
}

ATT_API att_err_t att_tpm_ima_log_parse(const uint8_t *buf, size_t len,
                                        const att_tpm_limits_t *limits, att_tpm_events_t *ev,
                                        att_diag_t *diag)
{
    att_tpm_limits_t lim = att_tpm_limits(limits);
    if (len > lim.max_log_bytes)
        return att_diag_set(diag, ATT_E_LIMIT, "IMA log: %zu bytes, more than the %zu accepted",
                            len, lim.max_log_bytes);
    if (len == 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "IMA log: empty");
    if (buf[0] < '0' || buf[0] > '9')
        return att_ima_binary(buf, len, &lim, ev, diag);
    size_t off = 0;
    for (uint32_t idx = 0; off < len; idx++) {
        const uint8_t *nlp = memchr(buf + off, '\n', len - off);
        size_t n = nlp ? (size_t)(nlp - (buf + off)) : len - off;
        if (idx >= lim.max_events)
            return att_diag_set(diag, ATT_E_LIMIT, "IMA log: more than %zu entries (offset %zu)",
                                lim.max_events, off);
        if (n > 2 * (size_t)lim.max_event_size + 512)
            return att_diag_set(diag, ATT_E_LIMIT,
                                "IMA log: line %u (offset %zu) is longer than the template data "
                                "budget allows",
                                idx + 1, off);
        if (memchr(buf + off, 0, n) != NULL)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "IMA log: line %u (offset %zu) holds a NUL byte", idx + 1, off);
        att_tpm_event_t *e = att_tpm_events_add(ev);
        if (e == NULL)
            return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        e->log = ATT_TPM_LOG_IMA;
        e->index = idx;
        e->extends = true;
        ev->nima++;
        att_err_t r = att_ima_ascii_line(e, (const char *)buf + off, n, &lim, diag, off);
        if (r != ATT_OK)
            return r;
        off += n + (nlp ? 1 : 0);
    }
    return ATT_OK;
}

/* ---- replay ------------------------------------------------------------------------------- */

static const uint8_t *att_event_digest(const att_tpm_event_t *e, uint16_t alg)
{
    for (size_t k = 0; k < e->ndigests; k++)
        if (e->digests[k].alg == alg)
            return e->digests[k].d;
    return NULL;
}

ATT_API att_err_t att_tpm_replay(att_tpm_events_t *ev, const att_tpm_pcrs_t *pcrs, att_diag_t *diag)
{
    uint8_t st[ATT_TPM_MAX_BANKS][ATT_TPM_NUM_PCRS][ATT_TPM_MAX_DIGEST];
    uint32_t touched[ATT_TPM_MAX_BANKS] = {0}, missing[ATT_TPM_MAX_BANKS] = {0}, extended = 0;
    uint8_t tmp[2 * ATT_TPM_MAX_DIGEST];
    for (size_t b = 0; b < pcrs->nsel; b++) {
        size_t dl = att_tpm_digest_size(pcrs->sel[b].alg);
        for (int i = 0; i < ATT_TPM_NUM_PCRS; i++)
            memset(st[b][i], i >= 17 && i <= 22 ? 0xff : 0, dl);
        st[b][0][dl - 1] = ev->startup_locality;
    }
    /* TCG events first, then IMA, each in log order. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < ev->n; k++) {
            const att_tpm_event_t *e = &ev->v[k];
            if (!e->extends || (e->log == ATT_TPM_LOG_TCG) != (pass == 0))
                continue;
            extended |= 1u << e->pcr;
            for (size_t b = 0; b < pcrs->nsel; b++) {
                uint16_t alg = pcrs->sel[b].alg;
                size_t dl = att_tpm_digest_size(alg);
                const uint8_t *d = att_event_digest(e, alg);
                touched[b] |= 1u << e->pcr;
                if (d == NULL) {
                    missing[b] |= 1u << e->pcr;
                    continue;
                }
                memcpy(tmp, st[b][e->pcr], dl);
                memcpy(tmp + dl, d, dl);
                if (!att_tpm_hash(alg, tmp, 2 * dl, st[b][e->pcr]))
                    return att_diag_set(diag, ATT_E_INTERNAL, "hashing a PCR extend failed");
            }
        }
    uint32_t matched = 0;
    for (int i = 0; i < ATT_TPM_NUM_PCRS; i++)
        for (size_t b = 0; b < pcrs->nsel; b++) {
            uint32_t bit = 1u << i;
            if (!(pcrs->sel[b].mask & bit) || !(touched[b] & bit) || (missing[b] & bit))
                continue;
            size_t dl = att_tpm_digest_size(pcrs->sel[b].alg);
            if (memcmp(st[b][i], pcrs->values[b][i], dl) != 0) {
                char q[2 * ATT_TPM_MAX_DIGEST + 1], r[2 * ATT_TPM_MAX_DIGEST + 1];
                att_hex_encode(pcrs->values[b][i], dl, q);
                att_hex_encode(st[b][i], dl, r);
                return att_diag_set(
                    diag, ATT_E_TPM_EVENTLOG_REPLAY,
                    "PCR %d (%s) does not replay: quoted %s, the event log gives %s", i,
                    att_tpm_alg_name(pcrs->sel[b].alg), q, r);
            }
            matched |= bit;
        }
    if (matched == 0)
        return att_diag_set(diag, ATT_E_TPM_EVENTLOG_REPLAY,
                            "the event log extends PCRs 0x%06x, none of which the quote covers in "
                            "a bank the log has digests for",
                            extended);
    for (size_t k = 0; k < ev->n; k++)
        ev->v[k].verified = ev->v[k].extends && (matched & (1u << ev->v[k].pcr));
    return ATT_OK;
}
