/* provider.c - evidence providers behind one interface (att_provider_ops_t); the core never
 * names a provider's internals. Also the POSIX file operations the device providers use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "client/client_int.h"
#include "core/util.h"
#include "crypto/crypto.h"

struct att_provider {
    const att_provider_ops_t *ops;
    void *state;
};

static const att_provider_ops_t *const att_providers[] = {
    &att_provider_sim, &att_provider_tsm, &att_provider_gramine, &att_provider_sev_guest,
    &att_provider_tpm};
static const char *const att_provider_name_list[] = {"sim",       "tsm", "gramine",
                                                     "sev-guest", "tpm", NULL};

ATT_API const char *const *att_provider_names(void)
{
    return att_provider_name_list;
}

ATT_API att_err_t att_report_data_for(const uint8_t *runtime, size_t len, uint8_t out[64],
                                      att_diag_t *diag)
{
    if (out == NULL || (runtime == NULL && len != 0))
        return att_diag_set(diag, ATT_E_ARG, "report data: NULL argument");
    memset(out, 0, 64);
    if (!att_sha256_2(runtime, len, NULL, 0, out))
        return att_diag_set(diag, ATT_E_INTERNAL, "SHA-256 failed");
    return ATT_OK;
}

ATT_API att_err_t att_provider_new(const char *name, const att_provider_opts_t *o,
                                   att_provider_t **out, att_diag_t *diag)
{
    if (out != NULL)
        *out = NULL;
    if (name == NULL || out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "provider: NULL argument");
    const att_provider_ops_t *ops = NULL;
    for (size_t i = 0; i < ATT_ARRAY_LEN(att_providers); i++)
        if (strcmp(att_providers[i]->name, name) == 0)
            ops = att_providers[i];
    if (ops == NULL)
        return att_diag_set(diag, ATT_E_ARG,
                            "unknown evidence provider '%s' (sim, tsm, gramine, sev-guest, tpm)",
                            name);
    att_provider_opts_t none = {0};
    att_provider_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    p->ops = ops;
    att_err_t e = ops->open(o ? o : &none, &p->state, diag);
    if (e != ATT_OK) {
        free(p);
        return e;
    }
    *out = p;
    return ATT_OK;
}

ATT_API const char *att_provider_name(const att_provider_t *p)
{
    return p ? p->ops->name : NULL;
}

ATT_API att_err_t att_provider_collect(att_provider_t *p, const uint8_t *runtime, size_t len,
                                       att_evidence_t *out, att_diag_t *diag)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (p == NULL || out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "provider: NULL argument");
    uint8_t rd[64];
    att_err_t e = att_report_data_for(runtime, len, rd, diag);
    if (e != ATT_OK)
        return e;
    e = p->ops->collect(p->state, rd, out, diag);
    if (e != ATT_OK)
        att_evidence_clear(out);
    return e;
}

ATT_API void att_provider_free(att_provider_t *p)
{
    if (p == NULL)
        return;
    p->ops->close(p->state);
    free(p);
}

ATT_API void att_evidence_clear(att_evidence_t *e)
{
    if (e == NULL)
        return;
    free(e->data);
    memset(e, 0, sizeof(*e));
}

att_err_t att_quote_endpoint(const uint8_t *q, size_t len, const char **type, att_diag_t *diag)
{
    att_quote_t parsed;
    att_diag_t d;
    if (att_quote_parse(q, len, &parsed, &d) != ATT_OK)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "the device's quote does not parse: %s",
                            d.msg);
    *type = (att_tee_t)parsed.tee_type == ATT_TEE_TDX ? "TdxVm" : "SgxEnclave";
    return ATT_OK;
}

/* ---- POSIX file operations ---- */

static int att_posix_mkdir(void *arg, const char *path)
{
    return mkdir(path, 0700);
}
static int att_posix_rmdir(void *arg, const char *path)
{
    return rmdir(path);
}

static int att_posix_write(void *arg, const char *path, const uint8_t *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* configfs binary attributes take the whole blob in one write */
    ssize_t n = write(fd, buf, len);
    int saved = errno;
    close(fd);
    if (n < 0 || (size_t)n != len) {
        errno = n < 0 ? saved : EIO;
        return -1;
    }
    return 0;
}

static int att_posix_read(void *arg, const char *path, size_t max, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                free(buf);
                close(fd);
                errno = EFBIG;
                return -1;
            }
            uint8_t *nb = realloc(buf, 2 * cap + 1);
            if (nb == NULL) {
                free(buf);
                close(fd);
                errno = ENOMEM;
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int saved = errno;
            free(buf);
            close(fd);
            errno = saved;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > max) {
        free(buf);
        errno = EFBIG;
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int att_posix_ioctl(void *arg, const char *path, unsigned long req, void *data)
{
    (void)arg;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r;
    do
        r = ioctl(fd, req, data);
    while (r < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    return r < 0 ? -1 : 0;
}

const att_fs_ops_t att_fs_posix = {
    att_posix_mkdir, att_posix_rmdir, att_posix_write, att_posix_read, NULL, att_posix_ioctl};
static const att_fs_ops_t *att_fs_current = &att_fs_posix;

void att_client_set_fs(const att_fs_ops_t *fs)
{
    att_fs_current = fs ? fs : &att_fs_posix;
}
const att_fs_ops_t *att_client_fs(void)
{
    return att_fs_current;
}
