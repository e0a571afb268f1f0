/* sim_dir.c - a simulated platform on disk (`attest sim init DIR`) and the `sim` provider.
 *
 * The directory holds the hierarchy (att_sim_pki_save), one collateral set per TEE and the
 * trust root; the provider loads the hierarchy and builds real DCAP quotes with it
 * (att_sim_quote_build): SGX v3 or TDX v4 with report_data = SHA-256(runtime data) || 0^32.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "attest/sim.h"
#include "client/client_int.h"
#include "core/util.h"

#define ATT_SIM_PATH_MAX 4096

static att_err_t att_sim_path(char *buf, const char *dir, const char *name, att_diag_t *diag)
{
    int n = snprintf(buf, ATT_SIM_PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n >= ATT_SIM_PATH_MAX)
        return att_diag_set(diag, ATT_E_ARG, "path too long: %s/%s", dir, name);
    return ATT_OK;
}

static att_err_t att_mkdir_mode(const char *path, mode_t mode, att_diag_t *diag)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        return att_diag_set(diag, ATT_E_IO, "cannot create %s: %s", path, strerror(errno));
    if (chmod(path, mode) != 0)
        return att_diag_set(diag, ATT_E_IO, "cannot chmod %s: %s", path, strerror(errno));
    return ATT_OK;
}

static att_err_t att_write_small(const char *path, const void *buf, size_t len, mode_t mode,
                                 att_diag_t *diag)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return att_diag_set(diag, ATT_E_IO, "cannot create %s: %s", path, strerror(errno));
    ssize_t n = write(fd, buf, len);
    int saved = errno;
    if (fchmod(fd, mode) != 0 || close(fd) != 0 || n < 0 || (size_t)n != len)
        return att_diag_set(diag, ATT_E_IO, "cannot write %s: %s", path,
                            strerror(n < 0   ? saved
                                     : errno ? errno
                                             : EIO));
    return ATT_OK;
}

ATT_API att_err_t att_sim_dir_init(const char *dir, const att_sim_dir_opts_t *o, att_diag_t *diag)
{
    if (dir == NULL || o == NULL)
        return att_diag_set(diag, ATT_E_ARG, "sim init: NULL argument");
    if (o->tee != ATT_TEE_SGX && o->tee != ATT_TEE_TDX)
        return att_diag_set(diag, ATT_E_ARG, "sim init: TEE must be SGX or TDX");
    char p[ATT_SIM_PATH_MAX];
    att_err_t e;
    if ((e = att_sim_path(p, dir, "sim.json", diag)) != ATT_OK)
        return e;
    if (!o->force && access(p, F_OK) == 0)
        return att_diag_set(diag, ATT_E_ARG,
                            "%s already holds a simulated platform (%s); "
                            "use --force to replace it",
                            dir, p);
    if ((e = att_mkdir_mode(dir, 0755, diag)) != ATT_OK)
        return e;

    att_sim_pki_opts_t po;
    att_sim_pki_opts_default(&po, o->ca, o->now);
    att_sim_pki_t *pki = NULL;
    att_sim_collateral_t coll[2];
    memset(coll, 0, sizeof(coll));
    char *json = NULL;
    if ((e = att_sim_pki_new(&po, &pki, diag)) != ATT_OK)
        goto out;
    if ((e = att_sim_path(p, dir, "pki", diag)) != ATT_OK ||
        (e = att_mkdir_mode(p, 0700, diag)) != ATT_OK || (e = att_sim_pki_save(pki, p, diag)))
        goto out;
    if ((e = att_sim_path(p, dir, "collateral", diag)) != ATT_OK ||
        (e = att_mkdir_mode(p, 0755, diag)) != ATT_OK)
        goto out;
    static const struct {
        att_tee_t tee;
        const char *sub;
    } sets[2] = {{ATT_TEE_SGX, "collateral/sgx"}, {ATT_TEE_TDX, "collateral/tdx"}};
    for (size_t i = 0; i < 2; i++) {
        att_sim_collateral_opts_t co;
        att_sim_collateral_opts_default(&co, pki, sets[i].tee, o->now);
        if ((e = att_sim_collateral_make(pki, &co, &coll[i], diag)) != ATT_OK ||
            (e = att_sim_path(p, dir, sets[i].sub, diag)) != ATT_OK ||
            (e = att_sim_collateral_write_dir(&coll[i], p, diag)) != ATT_OK)
            goto out;
    }
    if ((e = att_sim_path(p, dir, "trust_root.pem", diag)) != ATT_OK ||
        (e = att_write_small(p, coll[0].trust_root.ptr, coll[0].trust_root.len, 0644, diag)))
        goto out;
    char now[ATT_TIME_STRLEN];
    json_t *cfg =
        json_pack("{s:i,s:s,s:s,s:s}", "version", 1, "tee", o->tee == ATT_TEE_TDX ? "tdx" : "sgx",
                  "ca", o->ca == ATT_SIM_CA_PLATFORM ? "platform" : "processor", "created",
                  att_time_format(o->now, now));
    json = cfg ? json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(cfg);
    if (json == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    /* sim.json last: its presence says the directory is complete */
    size_t jl = strlen(json);
    json[jl] = '\n';
    if ((e = att_sim_path(p, dir, "sim.json", diag)) != ATT_OK ||
        (e = att_write_small(p, json, jl + 1, 0644, diag)))
        goto out;
out:
    free(json);
    att_sim_collateral_free(&coll[0]);
    att_sim_collateral_free(&coll[1]);
    att_sim_pki_free(pki);
    return e;
}

ATT_API att_err_t att_sim_dir_info(const char *dir, att_tee_t *tee, att_sim_ca_type_t *ca,
                                   att_diag_t *diag)
{
    if (dir == NULL)
        return att_diag_set(diag, ATT_E_ARG, "sim: no directory");
    char p[ATT_SIM_PATH_MAX];
    att_err_t e = att_sim_path(p, dir, "sim.json", diag);
    if (e != ATT_OK)
        return e;
    json_error_t je;
    json_t *cfg = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
    if (cfg == NULL)
        return att_diag_set(diag, access(p, F_OK) == 0 ? ATT_E_ARG : ATT_E_IO,
                            "%s is not a simulated platform made by 'attest sim init': %s: %s", dir,
                            p, je.text);
    const char *t = json_string_value(json_object_get(cfg, "tee"));
    const char *c = json_string_value(json_object_get(cfg, "ca"));
    if (t == NULL || c == NULL || (strcmp(t, "sgx") && strcmp(t, "tdx")) ||
        (strcmp(c, "processor") && strcmp(c, "platform"))) {
        json_decref(cfg);
        return att_diag_set(diag, ATT_E_ARG,
                            "%s: \"tee\" must be \"sgx\" or \"tdx\" and \"ca\" "
                            "\"processor\" or \"platform\"",
                            p);
    }
    if (tee != NULL)
        *tee = strcmp(t, "tdx") == 0 ? ATT_TEE_TDX : ATT_TEE_SGX;
    if (ca != NULL)
        *ca = strcmp(c, "platform") == 0 ? ATT_SIM_CA_PLATFORM : ATT_SIM_CA_PROCESSOR;
    json_decref(cfg);
    return ATT_OK;
}

/* ---- the sim provider ---- */

typedef struct {
    att_sim_pki_t *pki;
    att_tee_t tee;
} att_sim_state_t;

static att_err_t att_sim_open(const att_provider_opts_t *o, void **state, att_diag_t *diag)
{
    if (o->sim_dir == NULL)
        return att_diag_set(diag, ATT_E_ARG,
                            "the sim provider needs a directory made by "
                            "'attest sim init DIR' (--sim-dir DIR)");
    att_tee_t tee;
    att_err_t e = att_sim_dir_info(o->sim_dir, &tee, NULL, diag);
    if (e != ATT_OK)
        return e;
    if (o->sim_tee == ATT_SIM_TEE_SGX)
        tee = ATT_TEE_SGX;
    else if (o->sim_tee == ATT_SIM_TEE_TDX)
        tee = ATT_TEE_TDX;
    char p[ATT_SIM_PATH_MAX];
    if ((e = att_sim_path(p, o->sim_dir, "pki", diag)) != ATT_OK)
        return e;
    att_sim_state_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    if ((e = att_sim_pki_load(p, &s->pki, diag)) != ATT_OK) {
        free(s);
        return e;
    }
    s->tee = tee;
    *state = s;
    return ATT_OK;
}

static att_err_t att_sim_collect(void *state, const uint8_t rd[64], att_evidence_t *out,
                                 att_diag_t *diag)
{
    att_sim_state_t *s = state;
    att_sim_quote_opts_t qo;
    bool tdx = s->tee == ATT_TEE_TDX;
    att_sim_quote_opts_default(&qo, s->tee, tdx ? 4 : 3);
    memcpy(tdx ? qo.td.report_data : qo.sgx.report_data, rd, 64);
    att_err_t e = att_sim_quote_build(s->pki, &qo, &out->data, &out->len, diag);
    if (e != ATT_OK)
        return e;
    out->type = tdx ? "TdxVm" : "SgxEnclave";
    return ATT_OK;
}

static void att_sim_close(void *state)
{
    att_sim_state_t *s = state;
    if (s == NULL)
        return;
    att_sim_pki_free(s->pki);
    free(s);
}

const att_provider_ops_t att_provider_sim = {"sim", att_sim_open, att_sim_collect, att_sim_close};
