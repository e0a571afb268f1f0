/* cmd_sim_fleet.c - `attest sim fleet`: quotes of N distinct simulated platforms under the
 * hierarchy of one simulated platform directory (docs/sim.md), for fleet tests and benchmarks.
 *
 *   attest sim fleet DIR --platforms N --out OUT [--tee sgx|tdx|both]
 *
 * Platform i gets its own PCK certificate and key (att_sim_pki_reissue_pck: PPID, and with a
 * platform CA the platform instance ID, hold i) and its own QE attestation key; every platform
 * keeps DIR's FMSPC, so the collateral `attest sim collateral-server --dir DIR` serves is the
 * collateral of all of them. OUT/NNNNNN-sgx.quote or -tdx.quote hold the raw quotes and
 * OUT/platforms.txt lists them, one "SgxEnclave|TdxVm FILE" line per platform.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attest/client.h"
#include "attest/sim.h"
#include "cli.h"

int att_sim_fleet_cmd(int argc, char **argv);

#define ATT_FLEET_MAX 1000000 /* platforms one command mints */

static const char att_fleet_usage[] =
    "usage: attest sim fleet DIR --platforms N --out OUT [--tee sgx|tdx|both]\n"
    "Mint N distinct simulated platforms under the hierarchy of DIR (attest sim init): each\n"
    "with its own PCK certificate and key (PPID i) and QE attestation key, all with DIR's\n"
    "FMSPC, so the collateral 'attest sim collateral-server --dir DIR' serves verifies every\n"
    "one. Writes a quote per platform, OUT/NNNNNN-sgx.quote or OUT/NNNNNN-tdx.quote (raw\n"
    "DCAP quotes, SGX v3 or TDX v4; --tee both, the default, alternates), and OUT/platforms.txt\n"
    "with one line per platform: its attestation type (SgxEnclave or TdxVm) and file name.\n"
    "N is 1 to 1000000. Exit: 0 written, 1 failure, 2 usage.\n";

static int att_fleet_fail(const char *what, const att_diag_t *d)
{
    fprintf(stderr, "attest sim fleet: %s: %s\n", what, d->msg);
    return ATT_EXIT_REJECT;
}

int att_sim_fleet_cmd(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, *tee = "both", *count = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(att_fleet_usage, stdout);
            return ATT_EXIT_OK;
        } else if (i + 1 < argc && !strcmp(a, "--platforms")) {
            count = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--out")) {
            out = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--tee")) {
            tee = argv[++i];
        } else if (a[0] != '-' && dir == NULL) {
            dir = a;
        } else {
            fprintf(stderr, "attest sim fleet: unexpected argument '%s'\n%s", a, att_fleet_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (dir == NULL || out == NULL || count == NULL) {
        fprintf(stderr, "attest sim fleet: DIR, --platforms and --out are required\n%s",
                att_fleet_usage);
        return ATT_EXIT_USAGE;
    }
    char *end;
    errno = 0;
    unsigned long n = strtoul(count, &end, 10);
    if (count[0] < '0' || count[0] > '9' || *end != '\0' || errno != 0 || n == 0 ||
        n > ATT_FLEET_MAX) {
        fprintf(stderr, "attest sim fleet: --platforms must be 1 to %d, not '%s'\n", ATT_FLEET_MAX,
                count);
        return ATT_EXIT_USAGE;
    }
    int mode; /* 0 sgx, 1 tdx, 2 both */
    if (!strcmp(tee, "sgx"))
        mode = 0;
    else if (!strcmp(tee, "tdx"))
        mode = 1;
    else if (!strcmp(tee, "both"))
        mode = 2;
    else {
        fprintf(stderr, "attest sim fleet: --tee must be sgx, tdx or both, not '%s'\n", tee);
        return ATT_EXIT_USAGE;
    }
    att_diag_t d;
    if (att_sim_dir_info(dir, NULL, NULL, &d) != ATT_OK)
        return att_fleet_fail(dir, &d);
    char p[4096];
    if ((size_t)snprintf(p, sizeof p, "%s/pki", dir) >= sizeof p) {
        fprintf(stderr, "attest sim fleet: path too long: %s\n", dir);
        return ATT_EXIT_USAGE;
    }
    att_sim_pki_t *pki = NULL;
    if (att_sim_pki_load(p, &pki, &d) != ATT_OK)
        return att_fleet_fail(p, &d);
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "attest sim fleet: cannot create %s: %s\n", out, strerror(errno));
        att_sim_pki_free(pki);
        return ATT_EXIT_REJECT;
    }
    int rc = ATT_EXIT_OK;
    FILE *list = NULL;
    if ((size_t)snprintf(p, sizeof p, "%s/platforms.txt", out) >= sizeof p ||
        (list = fopen(p, "w")) == NULL) {
        fprintf(stderr, "attest sim fleet: cannot write %s/platforms.txt\n", out);
        att_sim_pki_free(pki);
        return ATT_EXIT_REJECT;
    }
    const att_sim_pck_ext_t base = att_sim_pki_opts(pki)->pck;
    for (unsigned long i = 0; i < n && rc == ATT_EXIT_OK; i++) {
        att_sim_pck_ext_t ext = base;
        memset(ext.ppid, 0, sizeof ext.ppid);
        for (int k = 0; k < 8; k++)
            ext.ppid[15 - k] = (uint8_t)(i >> (8 * k));
        ext.ppid[0] = 0xF1; /* never all zeros, recognisably a fleet member */
        if (att_sim_pki_opts(pki)->ca == ATT_SIM_CA_PLATFORM)
            memcpy(ext.platform_instance_id, ext.ppid, 16);
        bool tdx = mode == 1 || (mode == 2 && (i & 1));
        att_sim_quote_opts_t qo;
        att_sim_quote_opts_default(&qo, tdx ? ATT_TEE_TDX : ATT_TEE_SGX, tdx ? 4 : 3);
        uint8_t *q = NULL;
        size_t qlen = 0;
        char name[64];
        snprintf(name, sizeof name, "%06lu-%s.quote", i, tdx ? "tdx" : "sgx");
        if (att_sim_pki_reissue_pck(pki, &ext, NULL, &d) != ATT_OK ||
            att_sim_quote_build(pki, &qo, &q, &qlen, &d) != ATT_OK) {
            rc = att_fleet_fail(name, &d);
            break;
        }
        FILE *f = NULL;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", out, name) >= sizeof p ||
            (f = fopen(p, "wb")) == NULL || fwrite(q, 1, qlen, f) != qlen) {
            fprintf(stderr, "attest sim fleet: cannot write %s/%s\n", out, name);
            rc = ATT_EXIT_REJECT;
        }
        if (f != NULL && fclose(f) != 0 && rc == ATT_EXIT_OK) {
            fprintf(stderr, "attest sim fleet: cannot write %s/%s\n", out, name);
            rc = ATT_EXIT_REJECT;
        }
        free(q);
        if (rc == ATT_EXIT_OK)
            fprintf(list, "%s %s\n", tdx ? "TdxVm" : "SgxEnclave", name);
    }
    if (fclose(list) != 0 && rc == ATT_EXIT_OK) {
        fprintf(stderr, "attest sim fleet: cannot write %s/platforms.txt\n", out);
        rc = ATT_EXIT_REJECT;
    }
    att_sim_pki_free(pki);
    if (rc == ATT_EXIT_OK)
        printf("%lu simulated platforms in %s (list: %s/platforms.txt; collateral: attest sim "
               "collateral-server --dir %s)\n",
               n, out, out, dir);
    return rc;
}
