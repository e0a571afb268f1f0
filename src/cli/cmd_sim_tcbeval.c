/* cmd_sim_tcbeval.c - `attest sim tcb-eval`: TCB baselines for a simulated platform, so that the
 * same quote can be judged against two TCB evaluation data numbers (docs/sim.md).
 *
 *   attest sim tcb-eval DIR --tee sgx|tdx --number N [--status STATUS]
 *
 * Writes DIR/collateral/<tee>/eval-N (a whole collateral set whose TCB info and QE identity are of
 * number N, the platform's TCB level with status STATUS) and the signed list of every number the
 * platform has, DIR/collateral/<tee>/tcb_eval_numbers.json with its issuer chain. The highest
 * number is also the platform's current set (the files of DIR/collateral/<tee>: what a PCS serves
 * without a number); the set it replaces is kept as eval-<its number>.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "attest/client.h"
#include "attest/sim.h"
#include "cli.h"
#include "core/util.h"

int att_sim_tcbeval_cmd(int argc, char **argv);

/* snprintf into an array, false when the path does not fit. */
#define PATHF(buf, ...) ((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__) < sizeof(buf))

static const char att_tcbeval_usage[] =
    "usage: attest sim tcb-eval DIR --tee sgx|tdx --number N [--status STATUS]\n"
    "Add TCB evaluation data number N to the simulated platform in DIR (attest sim init): the\n"
    "collateral set of that baseline in DIR/collateral/<tee>/eval-N (TCB info and QE identity of\n"
    "number N; the platform's TCB level has STATUS, default UpToDate, e.g. OutOfDate), and the\n"
    "signed list of the platform's numbers, DIR/collateral/<tee>/tcb_eval_numbers.json with\n"
    "tcb_eval_numbers_issuer_chain.pem. The highest number becomes the current set (what\n"
    "'attest sim collateral-server' serves without tcbEvaluationDataNumber); the set it replaces\n"
    "stays as eval-<its number>. Valid 30 days from now.\n"
    "Exit: 0 written, 1 failure, 2 usage.\n";

static const char *const att_set_files[] = {"tcb_info.json",    "tcb_info_issuer_chain.pem",
                                            "qe_identity.json", "qe_identity_issuer_chain.pem",
                                            "pck_crl.der",      "pck_crl_issuer_chain.pem",
                                            "root_ca_crl.der",  "trust_root.pem"};

/* The tcbEvaluationDataNumber of the set in dir, or 0. */
static unsigned att_set_number(const char *dir)
{
    char p[4096];
    if (!PATHF(p, "%s/tcb_info.json", dir))
        return 0;
    json_t *j = json_load_file(p, 0, NULL);
    json_t *n = json_object_get(json_object_get(j, "tcbInfo"), "tcbEvaluationDataNumber");
    unsigned v = json_is_integer(n) ? (unsigned)json_integer_value(n) : 0;
    json_decref(j);
    return v;
}

static att_err_t att_copy_set(const char *from, const char *to, att_diag_t *d)
{
    if (mkdir(to, 0755) != 0 && errno != EEXIST)
        return att_diag_set(d, ATT_E_IO, "cannot create %s: %s", to, strerror(errno));
    for (size_t i = 0; i < sizeof att_set_files / sizeof att_set_files[0]; i++) {
        char a[4096], b[4096];
        if (!PATHF(a, "%s/%s", from, att_set_files[i]) || !PATHF(b, "%s/%s", to, att_set_files[i]))
            return att_diag_set(d, ATT_E_ARG, "path too long: %s", from);
        uint8_t *buf = NULL;
        size_t n = 0;
        att_err_t e = att_read_file(a, 4u << 20, &buf, &n, d);
        if (e != ATT_OK)
            return e;
        FILE *f = fopen(b, "wb");
        bool ok = f != NULL && fwrite(buf, 1, n, f) == n;
        if (f != NULL && fclose(f) != 0)
            ok = false;
        free(buf);
        if (!ok)
            return att_diag_set(d, ATT_E_IO, "cannot write %s", b);
    }
    return ATT_OK;
}

static int att_cmp_desc(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return (x < y) - (x > y);
}

/* The signed list of the numbers in sub (its current set and every eval-N). */
static att_err_t att_write_list(const att_sim_pki_t *pki, att_tee_t tee, const char *sub,
                                att_time_t now, att_diag_t *d)
{
    unsigned nums[64];
    size_t n = 0;
    unsigned cur = att_set_number(sub);
    if (cur != 0)
        nums[n++] = cur;
    DIR *dh = opendir(sub);
    if (dh == NULL)
        return att_diag_set(d, ATT_E_IO, "cannot open %s: %s", sub, strerror(errno));
    struct dirent *de;
    while ((de = readdir(dh)) != NULL && n < 64) {
        if (strncmp(de->d_name, "eval-", 5) != 0)
            continue;
        char p[4096];
        if (!PATHF(p, "%s/%s", sub, de->d_name))
            continue;
        unsigned v = att_set_number(p);
        bool seen = v == 0;
        for (size_t i = 0; i < n && !seen; i++)
            seen = nums[i] == v;
        if (!seen)
            nums[n++] = v;
    }
    closedir(dh);
    qsort(nums, n, sizeof nums[0], att_cmp_desc);
    att_sim_tcbeval_entry_t e[64];
    for (size_t i = 0; i < n; i++) {
        /* A release every 180 days back from yesterday, the newest first. */
        e[i].number = nums[i];
        e[i].tcb_date = now - 86400 - (att_time_t)i * 180 * 86400;
        e[i].recovery_date = e[i].tcb_date - 86400;
    }
    char *json = NULL;
    size_t len = 0;
    att_err_t r =
        att_sim_tcbeval_sign(pki, tee, now - 3600, now + 30 * 86400, e, n, &json, &len, d);
    if (r != ATT_OK)
        return r;
    char p[4096];
    if (!PATHF(p, "%s/tcb_eval_numbers.json", sub)) {
        free(json);
        return att_diag_set(d, ATT_E_ARG, "path too long: %s", sub);
    }
    FILE *f = fopen(p, "wb");
    bool ok = f != NULL && fwrite(json, 1, len, f) == len;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    free(json);
    if (!ok)
        return att_diag_set(d, ATT_E_IO, "cannot write %s", p);
    char chain_from[4096], chain_to[4096];
    if (!PATHF(chain_from, "%s/tcb_info_issuer_chain.pem", sub) ||
        !PATHF(chain_to, "%s/tcb_eval_numbers_issuer_chain.pem", sub))
        return att_diag_set(d, ATT_E_ARG, "path too long: %s", sub);
    uint8_t *buf = NULL;
    size_t bl = 0;
    if ((r = att_read_file(chain_from, 1u << 16, &buf, &bl, d)) != ATT_OK)
        return r;
    f = fopen(chain_to, "wb");
    ok = f != NULL && fwrite(buf, 1, bl, f) == bl;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    free(buf);
    return ok ? ATT_OK : att_diag_set(d, ATT_E_IO, "cannot write %s", chain_to);
}

int att_sim_tcbeval_cmd(int argc, char **argv)
{
    const char *dir = NULL, *tee_s = NULL, *num_s = NULL, *status = "UpToDate";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(att_tcbeval_usage, stdout);
            return ATT_EXIT_OK;
        } else if (i + 1 < argc && !strcmp(a, "--tee")) {
            tee_s = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--number")) {
            num_s = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--status")) {
            status = argv[++i];
        } else if (a[0] != '-' && dir == NULL) {
            dir = a;
        } else {
            fprintf(stderr, "attest sim tcb-eval: unexpected argument '%s'\n%s", a,
                    att_tcbeval_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (dir == NULL || tee_s == NULL || num_s == NULL) {
        fprintf(stderr, "attest sim tcb-eval: DIR, --tee and --number are required\n%s",
                att_tcbeval_usage);
        return ATT_EXIT_USAGE;
    }
    att_tee_t tee;
    if (!strcmp(tee_s, "sgx")) {
        tee = ATT_TEE_SGX;
    } else if (!strcmp(tee_s, "tdx")) {
        tee = ATT_TEE_TDX;
    } else {
        fprintf(stderr, "attest sim tcb-eval: --tee must be sgx or tdx, not '%s'\n", tee_s);
        return ATT_EXIT_USAGE;
    }
    char *end;
    long num = strtol(num_s, &end, 10);
    if (*num_s == '\0' || *end != '\0' || num < 1 || num > (1L << 30)) {
        fprintf(stderr,
                "attest sim tcb-eval: --number must be an integer from 1 to 2^30, not "
                "'%s'\n",
                num_s);
        return ATT_EXIT_USAGE;
    }
    if (att_tcb_status_parse(status) == ATT_TCB_UNKNOWN) {
        fprintf(stderr, "attest sim tcb-eval: --status '%s' is not one of Intel's TCB statuses\n",
                status);
        return ATT_EXIT_USAGE;
    }
    att_diag_t d;
    att_sim_pki_t *pki = NULL;
    att_sim_collateral_t coll = {0};
    char p[4096], sub[4096], evdir[4096], cur_dir[4096];
    int rc = ATT_EXIT_REJECT;
    att_time_t now = (att_time_t)time(NULL);
    if (att_sim_dir_info(dir, NULL, NULL, &d) != ATT_OK)
        goto fail;
    if (!PATHF(p, "%s/pki", dir) || !PATHF(sub, "%s/collateral/%s", dir, tee_s) ||
        !PATHF(evdir, "%s/eval-%ld", sub, num)) {
        att_diag_set(&d, ATT_E_ARG, "path too long: %s", dir);
        goto fail;
    }
    if (att_sim_pki_load(p, &pki, &d) != ATT_OK)
        goto fail;
    unsigned cur = att_set_number(sub);
    if (cur == (unsigned)num || att_set_number(evdir) != 0) {
        att_diag_set(&d, ATT_E_ARG, "%s already has TCB evaluation data number %ld", sub, num);
        goto fail;
    }
    att_sim_collateral_opts_t co;
    att_sim_collateral_opts_default(&co, pki, tee, now);
    co.tcb_info.tcb_eval_num = (unsigned)num;
    co.qe_identity.tcb_eval_num = (unsigned)num;
    for (size_t i = 0; i < co.tcb_info.n_levels; i++)
        co.tcb_info.levels[i].st.status = status;
    if (att_sim_collateral_make(pki, &co, &coll, &d) != ATT_OK ||
        att_sim_collateral_write_dir(&coll, evdir, &d) != ATT_OK)
        goto fail;
    if ((unsigned)num > cur) {
        /* The new highest number becomes the current set; the one it replaces stays. */
        if (!PATHF(cur_dir, "%s/eval-%u", sub, cur)) {
            att_diag_set(&d, ATT_E_ARG, "path too long: %s", sub);
            goto fail;
        }
        if ((cur != 0 && att_set_number(cur_dir) == 0 &&
             att_copy_set(sub, cur_dir, &d) != ATT_OK) ||
            att_sim_collateral_write_dir(&coll, sub, &d) != ATT_OK)
            goto fail;
    }
    if (att_write_list(pki, tee, sub, now, &d) != ATT_OK)
        goto fail;
    printf("TCB evaluation data number %ld (%s) in %s\n", num, status, evdir);
    rc = ATT_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "attest sim tcb-eval: %s\n", d.msg);
out:
    att_sim_collateral_free(&coll);
    att_sim_pki_free(pki);
    return rc;
}
