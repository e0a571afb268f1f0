/* prov_sevguest.c - the sev-guest provider: an SEV-SNP guest's /dev/sev-guest (Linux 5.19 and
 * later), for kernels without configfs-tsm.
 *
 * One SNP_GET_EXT_REPORT ioctl (linux/sev-guest.h) asks the firmware for a report binding the
 * 64-byte report data at VMPL 0, with the certificate table the host supplies (GHCB
 * specification 2). When the host's table is larger than the buffer the kernel says so
 * (SNP_GUEST_VMM_ERR_INVALID_LEN with the size it needs), and the request is made once more with
 * that size, at most ATT_SEVGUEST_MAX_CERTS bytes. The answer's status must be 0 and its report
 * size 1184; the evidence is MAA's JSON {SnpReport, VcekCertChain} (SevSnpVm), as the tsm
 * provider makes it. Every device access goes through att_client_fs() so tests can emulate the
 * device. Not checked here: the report and certificates (attestd verifies them).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <linux/sev-guest.h>

#include "attest/snp.h"
#include "attest/snp_guest.h"
#include "client/client_int.h"
#include "core/cursor.h"

/* The certificate buffer: first try, and the most a host may ask for. */
#define ATT_SEVGUEST_CERTS     (16 * 1024)
#define ATT_SEVGUEST_MAX_CERTS (64 * 1024)
#define ATT_SEVGUEST_PATH_MAX  4096
/* msg_report_resp: status, report_size, 24 reserved bytes, then the report. */
#define ATT_SEVGUEST_RESP_HEADER 32

typedef struct {
    char dev[ATT_SEVGUEST_PATH_MAX];
    const att_fs_ops_t *fs;
} att_sevguest_t;

static const char att_sevguest_absent[] =
    "/dev/sev-guest is not available (this is not an AMD SEV-SNP guest with Linux 5.19 or later, "
    "or the sev-guest driver is not loaded)";

static att_err_t att_sevguest_open(const att_provider_opts_t *o, void **state, att_diag_t *diag)
{
    const char *dev = o->root ? o->root : "/dev/sev-guest";
    struct stat st;
    if (stat(dev, &st) != 0)
        return att_diag_set(diag, ATT_E_UNSUPPORTED, "%s: %s: %s", dev, strerror(errno),
                            att_sevguest_absent);
    if (S_ISDIR(st.st_mode))
        return att_diag_set(diag, ATT_E_UNSUPPORTED, "%s is a directory, not the sev-guest device",
                            dev);
    if (strlen(dev) >= ATT_SEVGUEST_PATH_MAX)
        return att_diag_set(diag, ATT_E_ARG, "the device path is too long");
    att_sevguest_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    strcpy(s->dev, dev);
    s->fs = att_client_fs();
    *state = s;
    return ATT_OK;
}

static void att_sevguest_close(void *state)
{
    free(state);
}

/* One SNP_GET_EXT_REPORT; *needed > 0 when the kernel asks for a larger certificate buffer. */
static att_err_t att_sevguest_ioctl(att_sevguest_t *s, const uint8_t rd[64], uint8_t *certs,
                                    uint32_t certs_len, struct snp_report_resp *resp,
                                    uint32_t *needed, att_diag_t *diag)
{
    struct snp_ext_report_req req;
    memset(&req, 0, sizeof(req));
    memcpy(req.data.user_data, rd, 64);
    req.data.vmpl = 0;
    req.certs_address = (uint64_t)(uintptr_t)certs;
    req.certs_len = certs_len;
    struct snp_guest_request_ioctl io;
    memset(&io, 0, sizeof(io));
    io.msg_version = 1;
    io.req_data = (uint64_t)(uintptr_t)&req;
    io.resp_data = (uint64_t)(uintptr_t)resp;
    *needed = 0;
    int (*ioc)(void *, const char *, unsigned long, void *) =
        s->fs->ioctl ? s->fs->ioctl : att_fs_posix.ioctl;
    if (ioc(s->fs->arg, s->dev, SNP_GET_EXT_REPORT, &io) == 0)
        return ATT_OK;
    int err = errno;
    uint32_t vmm = (uint32_t)(io.exitinfo2 >> 32), fw = (uint32_t)io.exitinfo2;
    if (err == EINVAL && vmm == 1 /* SNP_GUEST_VMM_ERR_INVALID_LEN */ &&
        req.certs_len > certs_len) {
        *needed = req.certs_len;
        return ATT_OK;
    }
    return att_diag_set(diag, err == EACCES || err == EPERM ? ATT_E_UNSUPPORTED : ATT_E_IO,
                        "SNP_GET_EXT_REPORT on %s failed: %s (firmware error %u, VMM error %u)%s",
                        s->dev, strerror(err), fw, vmm,
                        err == EACCES || err == EPERM ? " (the device needs root)" : "");
}

static att_err_t att_sevguest_collect(void *state, const uint8_t rd[64], att_evidence_t *out,
                                      att_diag_t *diag)
{
    att_sevguest_t *s = state;
    struct snp_report_resp *resp = calloc(1, sizeof(*resp));
    uint32_t cap = ATT_SEVGUEST_CERTS, needed = 0;
    uint8_t *certs = calloc(1, cap);
    att_err_t e = ATT_OK;
    if (resp == NULL || certs == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    if ((e = att_sevguest_ioctl(s, rd, certs, cap, resp, &needed, diag)) != ATT_OK)
        goto out;
    if (needed > 0) {
        if (needed > ATT_SEVGUEST_MAX_CERTS) {
            e = att_diag_set(diag, ATT_E_LIMIT,
                             "the host's certificate table needs %u bytes (at most %d are taken)",
                             needed, ATT_SEVGUEST_MAX_CERTS);
            goto out;
        }
        free(certs);
        cap = needed;
        if ((certs = calloc(1, cap)) == NULL) {
            e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            goto out;
        }
        if ((e = att_sevguest_ioctl(s, rd, certs, cap, resp, &needed, diag)) != ATT_OK)
            goto out;
        if (needed > 0) {
            e = att_diag_set(diag, ATT_E_IO,
                             "the host's certificate table grew again (%u bytes) between two "
                             "requests; retry",
                             needed);
            goto out;
        }
    }
    att_cursor_t c = att_cursor(resp->data, sizeof(resp->data));
    uint32_t status, size;
    const uint8_t *rsv, *report;
    if (!att_cur_u32(&c, &status) || !att_cur_u32(&c, &size) || !att_cur_bytes(&c, 24, &rsv)) {
        e = att_diag_set(diag, ATT_E_INTERNAL, "short response buffer");
        goto out;
    }
    if (status != 0) {
        e = att_diag_set(diag, ATT_E_IO, "the firmware answered status %u to the report request",
                         status);
        goto out;
    }
    if (size != ATT_SNP_REPORT_LEN || !att_cur_bytes(&c, size, &report)) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "the firmware's report is %u bytes, not %d",
                         size, ATT_SNP_REPORT_LEN);
        goto out;
    }
    /* an all-zero table (the host supplies no certificates) is the terminator alone */
    att_snp_certs_t certs_found = {0};
    att_diag_t d;
    if ((e = att_snp_cert_table_parse(certs, cap, &certs_found, &d)) != ATT_OK) {
        e = att_diag_set(diag, e, "%s: %s", s->dev, d.msg);
        goto out;
    }
    char *json;
    size_t jlen;
    if ((e = att_snp_maa_evidence(report, size, &certs_found, &json, &jlen, diag)) != ATT_OK)
        goto out;
    out->data = (uint8_t *)json;
    out->len = jlen;
    out->type = "SevSnpVm";
out:
    free(resp);
    free(certs);
    return e;
}

const att_provider_ops_t att_provider_sev_guest = {"sev-guest", att_sevguest_open,
                                                   att_sevguest_collect, att_sevguest_close};
