/* prov_device.c - the providers that talk to a real TEE through files:
 *
 * tsm: Linux configfs-tsm (Documentation/ABI/testing/configfs-tsm): mkdir an entry under
 *      /sys/kernel/config/tsm/report, check `provider`, read `generation`, write the 64-byte
 *      `inblob`, read `outblob`, read `generation` again (it must have moved by exactly one
 *      write, else another writer raced us), rmdir. tdx_guest outblobs are TDX quotes (TdxVm);
 *      sev_guest outblobs are SEV-SNP reports, sent with the certificates of `auxblob` (the
 *      extended request's certificate table) as MAA's JSON {SnpReport, VcekCertChain}
 *      (SevSnpVm); without auxblob the chain is left out.
 * gramine: /dev/attestation/attestation_type must be "dcap"; write `user_report_data` (64
 *      bytes), read `quote` (an SGX DCAP quote: SgxEnclave).
 * Every file access goes through att_client_fs() so tests can emulate the kernel's files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "attest/snp.h"
#include "attest/snp_guest.h"
#include "client/client_int.h"
#include "core/util.h"

#define ATT_DEV_PATH_MAX 4096

typedef struct {
    char root[ATT_DEV_PATH_MAX];
    const att_fs_ops_t *fs;
} att_dev_state_t;

static att_err_t att_dev_open(const att_provider_opts_t *o, const char *def, const char *absent,
                              void **state, att_diag_t *diag)
{
    const char *root = o->root ? o->root : def;
    struct stat st;
    if (stat(root, &st) != 0)
        return att_diag_set(diag, ATT_E_UNSUPPORTED, "%s: %s: %s", root, strerror(errno), absent);
    if (!S_ISDIR(st.st_mode))
        return att_diag_set(diag, ATT_E_UNSUPPORTED, "%s is not a directory: %s", root, absent);
    att_dev_state_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    if ((size_t)snprintf(s->root, sizeof(s->root), "%s", root) >= sizeof(s->root)) {
        free(s);
        return att_diag_set(diag, ATT_E_ARG, "path too long: %s", root);
    }
    s->fs = att_client_fs();
    *state = s;
    return ATT_OK;
}

static void att_dev_close(void *state)
{
    free(state);
}

static att_err_t att_dev_read(const att_dev_state_t *s, const char *path, size_t max, uint8_t **out,
                              size_t *len, att_diag_t *diag)
{
    if (s->fs->read(s->fs->arg, path, max, out, len) != 0)
        return att_diag_set(diag, ATT_E_IO, "cannot read %s: %s", path, strerror(errno));
    return ATT_OK;
}

/* A small text attribute, trailing whitespace dropped. */
static att_err_t att_dev_read_text(const att_dev_state_t *s, const char *path, char *buf, size_t n,
                                   att_diag_t *diag)
{
    uint8_t *b;
    size_t len;
    att_err_t e = att_dev_read(s, path, 4096, &b, &len, diag);
    if (e != ATT_OK)
        return e;
    while (len > 0 && (b[len - 1] == '\n' || b[len - 1] == ' ' || b[len - 1] == '\0'))
        len--;
    if (len >= n || memchr(b, '\0', len) != NULL) {
        free(b);
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "%s: unexpected content", path);
    }
    memcpy(buf, b, len);
    buf[len] = '\0';
    free(b);
    return ATT_OK;
}

static att_err_t att_dev_read_u64(const att_dev_state_t *s, const char *path, unsigned long long *v,
                                  att_diag_t *diag)
{
    char t[32], *end;
    att_err_t e = att_dev_read_text(s, path, t, sizeof(t), diag);
    if (e != ATT_OK)
        return e;
    errno = 0;
    *v = strtoull(t, &end, 10);
    if (t[0] == '\0' || *end != '\0' || errno != 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "%s: '%s' is not a number", path, t);
    return ATT_OK;
}

static att_err_t att_dev_write(const att_dev_state_t *s, const char *path, const uint8_t *buf,
                               size_t len, att_diag_t *diag)
{
    if (s->fs->write(s->fs->arg, path, buf, len) != 0)
        return att_diag_set(diag, ATT_E_IO, "cannot write %s: %s", path, strerror(errno));
    return ATT_OK;
}

#define ATT_JOIN(buf, ...)                                                                         \
    ((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__) < sizeof(buf)                                 \
         ? ATT_OK                                                                                  \
         : att_diag_set(diag, ATT_E_ARG, "path too long"))

/* SEV-SNP evidence as MAA takes it: the report and the certificate table's chain, in place of
 * the raw report in out (SevSnpVm). */
static att_err_t att_snp_evidence(att_evidence_t *out, const uint8_t *aux, size_t auxlen,
                                  const char *where, att_diag_t *diag)
{
    att_snp_report_t rep;
    att_diag_t d;
    if (att_snp_report_parse(out->data, out->len, &rep, &d) != ATT_OK)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "%s: the device's SEV-SNP report does "
                            "not parse: %s",
                            where, d.msg);
    att_snp_certs_t certs = {0};
    att_err_t e;
    if (aux != NULL && auxlen > 0 &&
        (e = att_snp_cert_table_parse(aux, auxlen, &certs, &d)) != ATT_OK)
        return att_diag_set(diag, e, "%s: %s", where, d.msg);
    char *json;
    size_t jlen;
    if ((e = att_snp_maa_evidence(out->data, out->len, &certs, &json, &jlen, diag)) != ATT_OK)
        return e;
    free(out->data);
    out->data = (uint8_t *)json;
    out->len = jlen;
    out->type = "SevSnpVm";
    return ATT_OK;
}

/* ---- tsm ---- */

static const char att_tsm_absent[] =
    "configfs-tsm is not available (this is not a TDX or SEV-SNP guest with Linux 6.7 or later, "
    "or configfs is not mounted at /sys/kernel/config)";

static att_err_t att_tsm_open(const att_provider_opts_t *o, void **state, att_diag_t *diag)
{
    return att_dev_open(o, "/sys/kernel/config/tsm/report", att_tsm_absent, state, diag);
}

static att_err_t att_tsm_report(att_dev_state_t *s, const char *entry, const uint8_t rd[64],
                                att_evidence_t *out, att_diag_t *diag)
{
    char p[ATT_DEV_PATH_MAX + 64], prov[64];
    att_err_t e;
    if ((e = ATT_JOIN(p, "%s/provider", entry)) != ATT_OK)
        return e;
    uint8_t *b = NULL;
    size_t blen = 0;
    if (s->fs->read(s->fs->arg, p, 4096, &b, &blen) != 0) {
        int err = errno;
        return att_diag_set(diag, err == ENOENT ? ATT_E_UNSUPPORTED : ATT_E_IO,
                            "cannot read %s: %s%s", p, strerror(err),
                            err == ENOENT ? ": not a configfs-tsm report directory" : "");
    }
    while (blen > 0 && (b[blen - 1] == '\n' || b[blen - 1] == '\0'))
        blen--;
    bool ok = blen < sizeof(prov) && memchr(b, '\0', blen) == NULL;
    if (ok) {
        memcpy(prov, b, blen);
        prov[blen] = '\0';
    }
    free(b);
    if (!ok)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "%s: unexpected content", p);
    bool snp = strcmp(prov, "sev_guest") == 0;
    if (!snp && strcmp(prov, "tdx_guest") != 0)
        return att_diag_set(diag, ATT_E_UNSUPPORTED,
                            "configfs-tsm provider '%s' is not supported "
                            "(tdx_guest and sev_guest are)",
                            prov);
    unsigned long long g0, g1;
    if ((e = ATT_JOIN(p, "%s/generation", entry)) != ATT_OK ||
        (e = att_dev_read_u64(s, p, &g0, diag)) != ATT_OK)
        return e;
    if ((e = ATT_JOIN(p, "%s/inblob", entry)) != ATT_OK ||
        (e = att_dev_write(s, p, rd, 64, diag)) != ATT_OK)
        return e;
    if ((e = ATT_JOIN(p, "%s/outblob", entry)) != ATT_OK ||
        (e = att_dev_read(s, p, ATT_EVIDENCE_MAX, &out->data, &out->len, diag)) != ATT_OK)
        return e;
    /* SEV-SNP: the host's certificates (VCEK, ASK, ARK) come in auxblob, when it gives them */
    uint8_t *aux = NULL;
    size_t auxlen = 0;
    if (snp) {
        if ((e = ATT_JOIN(p, "%s/auxblob", entry)) != ATT_OK)
            return e;
        if (s->fs->read(s->fs->arg, p, ATT_EVIDENCE_MAX, &aux, &auxlen) != 0) {
            int err = errno;
            if (err != ENOENT && err != ENODATA)
                return att_diag_set(diag, ATT_E_IO, "cannot read %s: %s", p, strerror(err));
            aux = NULL;
            auxlen = 0;
        }
    }
    if ((e = ATT_JOIN(p, "%s/generation", entry)) != ATT_OK ||
        (e = att_dev_read_u64(s, p, &g1, diag)) != ATT_OK)
        return e;
    if (g1 != g0 + 1) {
        free(aux);
        return att_diag_set(diag, ATT_E_IO,
                            "%s: generation went from %llu to %llu around our "
                            "one write: another process used the report entry; retry",
                            entry, g0, g1);
    }
    if (out->len == 0) {
        free(aux);
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "%s/outblob is empty", entry);
    }
    if (snp) {
        e = att_snp_evidence(out, aux, auxlen, entry, diag);
        free(aux);
        return e;
    }
    return att_quote_endpoint(out->data, out->len, &out->type, diag);
}

static att_err_t att_tsm_collect(void *state, const uint8_t rd[64], att_evidence_t *out,
                                 att_diag_t *diag)
{
    att_dev_state_t *s = state;
    uint8_t rnd[8];
    char name[17], entry[ATT_DEV_PATH_MAX + 32];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return att_diag_set(diag, ATT_E_INTERNAL, "no randomness for the report entry name");
    att_hex_encode(rnd, sizeof(rnd), name);
    att_err_t e = ATT_JOIN(entry, "%s/attest-%s", s->root, name);
    if (e != ATT_OK)
        return e;
    if (s->fs->mkdir(s->fs->arg, entry) != 0) {
        int err = errno;
        return att_diag_set(diag, ATT_E_IO, "cannot create the report entry %s: %s%s", entry,
                            strerror(err),
                            err == EACCES || err == EPERM ? " (configfs-tsm needs root)" : "");
    }
    e = att_tsm_report(s, entry, rd, out, diag);
    if (s->fs->rmdir(s->fs->arg, entry) != 0 && e == ATT_OK)
        e = att_diag_set(diag, ATT_E_IO, "cannot remove the report entry %s: %s", entry,
                         strerror(errno));
    return e;
}

const att_provider_ops_t att_provider_tsm = {"tsm", att_tsm_open, att_tsm_collect, att_dev_close};

/* ---- gramine ---- */

static const char att_gramine_absent[] =
    "not running inside a Gramine SGX enclave with remote attestation enabled "
    "(the manifest needs sgx.remote_attestation = \"dcap\")";

static att_err_t att_gramine_open(const att_provider_opts_t *o, void **state, att_diag_t *diag)
{
    att_err_t e = att_dev_open(o, "/dev/attestation", att_gramine_absent, state, diag);
    if (e != ATT_OK)
        return e;
    att_dev_state_t *s = *state;
    char p[ATT_DEV_PATH_MAX + 32], type[32];
    if ((e = ATT_JOIN(p, "%s/attestation_type", s->root)) == ATT_OK &&
        (e = att_dev_read_text(s, p, type, sizeof(type), diag)) == ATT_OK) {
        if (strcmp(type, "none") == 0)
            e = att_diag_set(diag, ATT_E_UNSUPPORTED,
                             "Gramine runs without remote attestation "
                             "(attestation_type is \"none\"): set sgx.remote_attestation = "
                             "\"dcap\" in the manifest");
        else if (strcmp(type, "epid") == 0)
            e = att_diag_set(diag, ATT_E_UNSUPPORTED,
                             "Gramine uses EPID attestation; attestd "
                             "verifies DCAP quotes only (sgx.remote_attestation = \"dcap\")");
        else if (strcmp(type, "dcap") != 0)
            e = att_diag_set(diag, ATT_E_UNSUPPORTED,
                             "Gramine attestation type '%s' is not "
                             "supported (dcap is)",
                             type);
    }
    if (e != ATT_OK) {
        free(s);
        *state = NULL;
    }
    return e;
}

static att_err_t att_gramine_collect(void *state, const uint8_t rd[64], att_evidence_t *out,
                                     att_diag_t *diag)
{
    att_dev_state_t *s = state;
    char p[ATT_DEV_PATH_MAX + 32];
    att_err_t e;
    if ((e = ATT_JOIN(p, "%s/user_report_data", s->root)) != ATT_OK ||
        (e = att_dev_write(s, p, rd, 64, diag)) != ATT_OK)
        return e;
    if ((e = ATT_JOIN(p, "%s/quote", s->root)) != ATT_OK ||
        (e = att_dev_read(s, p, ATT_EVIDENCE_MAX, &out->data, &out->len, diag)) != ATT_OK)
        return e;
    if ((e = att_quote_endpoint(out->data, out->len, &out->type, diag)) != ATT_OK)
        return e;
    if (strcmp(out->type, "SgxEnclave") != 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "%s is not an SGX quote", p);
    return ATT_OK;
}

const att_provider_ops_t att_provider_gramine = {"gramine", att_gramine_open, att_gramine_collect,
                                                 att_dev_close};
