/* sim_collateral.c - a whole simulated collateral set, in memory or as a PCS-style directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "sim/sim_internal.h"

void att_sim_collateral_opts_default(att_sim_collateral_opts_t *o, const att_sim_pki_t *p,
                                     att_tee_t tee, att_time_t now)
{
    memset(o, 0, sizeof *o);
    att_sim_tcb_info_default(&o->tcb_info, p, tee, now);
    att_sim_qe_identity_default(&o->qe_identity, tee, now);
    att_sim_crl_opts_default(&o->pck_crl, ATT_SIM_PCK_CA, now);
    att_sim_crl_opts_default(&o->root_ca_crl, ATT_SIM_ROOT, now);
}

void att_sim_collateral_free(att_sim_collateral_t *c)
{
    if (c == NULL)
        return;
    att_sim_buf_t *b[] = {&c->tcb_info, &c->tcb_info_chain, &c->qe_identity, &c->qe_identity_chain,
                          &c->pck_crl,  &c->pck_crl_chain,  &c->root_ca_crl, &c->trust_root};
    for (size_t i = 0; i < ATT_ARRAY_LEN(b); i++) {
        free(b[i]->ptr);
        b[i]->ptr = NULL;
        b[i]->len = 0;
    }
}

static bool att_sim_chain(const att_sim_pki_t *p, att_sim_cert_t first, att_sim_buf_t *out)
{
    att_slice_t parts[2] = {att_sim_pki_cert_pem(p, first), att_sim_pki_cert_pem(p, ATT_SIM_ROOT)};
    return att_sim_concat(out, parts, 2);
}

att_err_t att_sim_collateral_make(const att_sim_pki_t *p, const att_sim_collateral_opts_t *o,
                                  att_sim_collateral_t *out, att_diag_t *diag)
{
    if (p == NULL || o == NULL || out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_collateral_make: NULL argument");
    memset(out, 0, sizeof *out);
    att_err_t err;
    char *json;
    size_t len;

    if ((err = att_sim_tcb_info_sign(p, &o->tcb_info, &json, &len, diag)) != ATT_OK)
        goto fail;
    out->tcb_info.ptr = (uint8_t *)json;
    out->tcb_info.len = len;
    if ((err = att_sim_qe_identity_sign(p, &o->qe_identity, &json, &len, diag)) != ATT_OK)
        goto fail;
    out->qe_identity.ptr = (uint8_t *)json;
    out->qe_identity.len = len;
    if ((err = att_sim_crl_make(p, &o->pck_crl, &out->pck_crl.ptr, &out->pck_crl.len, diag)) !=
        ATT_OK)
        goto fail;
    if ((err = att_sim_crl_make(p, &o->root_ca_crl, &out->root_ca_crl.ptr, &out->root_ca_crl.len,
                                diag)) != ATT_OK)
        goto fail;
    att_slice_t root = att_sim_pki_cert_pem(p, ATT_SIM_ROOT);
    if (!att_sim_chain(p, ATT_SIM_TCB_SIGNER, &out->tcb_info_chain) ||
        !att_sim_chain(p, ATT_SIM_TCB_SIGNER, &out->qe_identity_chain) ||
        !att_sim_chain(p, ATT_SIM_PCK_CA, &out->pck_crl_chain) ||
        !att_sim_concat(&out->trust_root, &root, 1)) {
        err = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto fail;
    }
    return ATT_OK;
fail:
    att_sim_collateral_free(out);
    return err;
}

static att_slice_t att_sim_slice(const att_sim_buf_t *b)
{
    att_slice_t s = {b->ptr, b->len};
    return s;
}

void att_sim_collateral_raw(const att_sim_collateral_t *c, att_dcap_collateral_raw_t *raw)
{
    memset(raw, 0, sizeof *raw);
    raw->tcb_info = att_sim_slice(&c->tcb_info);
    raw->tcb_info_chain = att_sim_slice(&c->tcb_info_chain);
    raw->qe_identity = att_sim_slice(&c->qe_identity);
    raw->qe_identity_chain = att_sim_slice(&c->qe_identity_chain);
    raw->pck_crl = att_sim_slice(&c->pck_crl);
    raw->pck_crl_chain = att_sim_slice(&c->pck_crl_chain);
    raw->root_ca_crl = att_sim_slice(&c->root_ca_crl);
}

att_err_t att_sim_mkdir(const char *dir, att_diag_t *diag)
{
    struct stat st;
    if (mkdir(dir, 0755) != 0 && (errno != EEXIST || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        return att_diag_set(diag, ATT_E_IO, "cannot create directory %s: %s", dir, strerror(errno));
    return ATT_OK;
}

/* Write a file with exactly `mode` (created fresh; an existing file is replaced). */
att_err_t att_sim_write_file(const char *dir, const char *name, const att_sim_buf_t *b,
                             unsigned mode, att_diag_t *diag)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return att_diag_set(diag, ATT_E_ARG, "path too long: %s/%s", dir, name);
    if (unlink(path) != 0 && errno != ENOENT)
        return att_diag_set(diag, ATT_E_IO, "cannot replace %s: %s", path, strerror(errno));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return att_diag_set(diag, ATT_E_IO, "cannot create %s: %s", path, strerror(errno));
    if (fchmod(fd, (mode_t)mode) != 0) { /* umask must not loosen or tighten what was asked */
        int e = errno;
        close(fd);
        return att_diag_set(diag, ATT_E_IO, "cannot chmod %s: %s", path, strerror(e));
    }
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->ptr + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            return att_diag_set(diag, ATT_E_IO, "cannot write %s: %s", path, strerror(e));
        }
        off += (size_t)w;
    }
    if (close(fd) != 0)
        return att_diag_set(diag, ATT_E_IO, "cannot write %s: %s", path, strerror(errno));
    return ATT_OK;
}

att_err_t att_sim_collateral_write_dir(const att_sim_collateral_t *c, const char *dir,
                                       att_diag_t *diag)
{
    if (c == NULL || dir == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_collateral_write_dir: NULL argument");
    att_err_t err = att_sim_mkdir(dir, diag);
    if (err != ATT_OK)
        return err;
    const struct {
        const char *name;
        const att_sim_buf_t *buf;
    } files[] = {
        {"tcb_info.json", &c->tcb_info},
        {"tcb_info_issuer_chain.pem", &c->tcb_info_chain},
        {"qe_identity.json", &c->qe_identity},
        {"qe_identity_issuer_chain.pem", &c->qe_identity_chain},
        {"pck_crl.der", &c->pck_crl},
        {"pck_crl_issuer_chain.pem", &c->pck_crl_chain},
        {"root_ca_crl.der", &c->root_ca_crl},
        {"trust_root.pem", &c->trust_root},
    };
    for (size_t i = 0; i < ATT_ARRAY_LEN(files); i++) {
        err = att_sim_write_file(dir, files[i].name, files[i].buf, 0644, diag);
        if (err != ATT_OK)
            return err;
    }
    return ATT_OK;
}
