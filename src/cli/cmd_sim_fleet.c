/* cmd_sim_fleet.c - `attest sim fleet`: quotes of N distinct simulated platforms under the
 * hierarchy of one simulated platform directory (docs/sim.md), for fleet tests and benchmarks.
 *
 *   attest sim fleet DIR --platforms N --out OUT [--tee sgx|tdx|both] [--fmspcs K]
 *
 * Platform i gets its own PCK certificate and key (att_sim_pki_reissue_pck: PPID, and with a
 * platform CA the platform instance ID, hold i) and its own QE attestation key. With K FMSPCs
 * (default 1: DIR's) platform i has FMSPC number j = i mod K (i/2 mod K with --tee both, so that
 * each FMSPC has SGX and TDX platforms): FMSPC j is DIR's with j XORed into its last two bytes,
 * and for j >= 1 DIR/collateral/<tee>/fmspc-<HEX>/ gets DIR's TCB info with that FMSPC, signed
 * anew, which `attest sim collateral-server --dir DIR` serves. OUT/NNNNNN-sgx.quote or
 * -tdx.quote hold the raw quotes and OUT/platforms.txt lists them, one "SgxEnclave|TdxVm FILE"
 * line per platform.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attest/client.h"
#include "attest/sim.h"
#include "cli.h"
#include "core/util.h"

int att_sim_fleet_cmd(int argc, char **argv);

#define ATT_FLEET_MAX       1000000 /* platforms one command mints */
#define ATT_FLEET_FMSPC_MAX 4096    /* FMSPCs of one fleet (the collateral server loads as many) */

static const char att_fleet_usage[] =
    "usage: attest sim fleet DIR --platforms N --out OUT [--tee sgx|tdx|both] [--fmspcs K]\n"
    "Mint N distinct simulated platforms under the hierarchy of DIR (attest sim init): each\n"
    "with its own PCK certificate and key (PPID i) and QE attestation key, so the collateral\n"
    "'attest sim collateral-server --dir DIR' serves verifies every one. Writes a quote per\n"
    "platform, OUT/NNNNNN-sgx.quote or OUT/NNNNNN-tdx.quote (raw DCAP quotes, SGX v3 or TDX\n"
    "v4; --tee both, the default, alternates), and OUT/platforms.txt with one line per\n"
    "platform: its attestation type (SgxEnclave or TdxVm) and file name.\n"
    "  --fmspcs K   spread the platforms over K FMSPCs (default 1: all have DIR's): FMSPC j is\n"
    "               DIR's with j XORed into its last two bytes; platform i has FMSPC i mod K\n"
    "               (i/2 mod K with --tee both). Writes the TCB info of FMSPC j >= 1 into\n"
    "               DIR/collateral/{sgx,tdx}/fmspc-HEX/ for the collateral server.\n"
    "N is 1 to 1000000, K 1 to 4096 and at most N. Exit: 0 written, 1 failure, 2 usage.\n";

static int att_fleet_fail(const char *what, const att_diag_t *d)
{
    fprintf(stderr, "attest sim fleet: %s: %s\n", what, d->msg);
    return ATT_EXIT_REJECT;
}

/* FMSPC number j of the fleet: DIR's with j XORed into its last two bytes (j 0 is DIR's). */
static void att_fleet_fmspc(const uint8_t base[6], unsigned long j, uint8_t out[6])
{
    memcpy(out, base, 6);
    out[4] ^= (uint8_t)(j >> 8);
    out[5] ^= (uint8_t)j;
}

/* DIR/collateral/<tee>/fmspc-<HEX>/: DIR's TCB info of that TEE for FMSPC j, signed anew by the
 * hierarchy's TCB signer, and its issuer chain (the same signer). */
static int att_fleet_fmspc_collateral(const att_sim_pki_t *pki, const char *dir,
                                      const uint8_t base[6], unsigned long j)
{
    static const char *const tees[2] = {"sgx", "tdx"};
    uint8_t fm[6];
    char hex[13], src[4096], dst[4096], path[4200];
    att_fleet_fmspc(base, j, fm);
    att_hex_encode(fm, 6, hex);
    for (int t = 0; t < 2; t++) {
        att_diag_t d;
        uint8_t *in = NULL, *chain = NULL;
        size_t in_len = 0, chain_len = 0, len = 0;
        char *json = NULL;
        int rc = ATT_EXIT_OK;
        if ((size_t)snprintf(src, sizeof src, "%s/collateral/%s", dir, tees[t]) >= sizeof src ||
            (size_t)snprintf(dst, sizeof dst, "%s/fmspc-%s", src, hex) >= sizeof dst) {
            fprintf(stderr, "attest sim fleet: path too long: %s\n", dir);
            return ATT_EXIT_USAGE;
        }
        snprintf(path, sizeof path, "%s/tcb_info.json", src);
        if (att_read_file(path, 4u << 20, &in, &in_len, &d) != ATT_OK ||
            att_sim_tcb_info_refmspc(pki, in, in_len, fm, &json, &len, &d) != ATT_OK) {
            rc = att_fleet_fail(path, &d);
            goto next;
        }
        snprintf(path, sizeof path, "%s/tcb_info_issuer_chain.pem", src);
        if (att_read_file(path, 1u << 20, &chain, &chain_len, &d) != ATT_OK) {
            rc = att_fleet_fail(path, &d);
            goto next;
        }
        if (mkdir(dst, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "attest sim fleet: cannot create %s: %s\n", dst, strerror(errno));
            rc = ATT_EXIT_REJECT;
            goto next;
        }
        const struct {
            const char *name;
            const void *p;
            size_t n;
        } files[2] = {{"tcb_info.json", json, len},
                      {"tcb_info_issuer_chain.pem", chain, chain_len}};
        for (int k = 0; k < 2 && rc == ATT_EXIT_OK; k++) {
            FILE *f = NULL;
            snprintf(path, sizeof path, "%s/%s", dst, files[k].name);
            if ((f = fopen(path, "wb")) == NULL ||
                fwrite(files[k].p, 1, files[k].n, f) != files[k].n)
                rc = ATT_EXIT_REJECT;
            if (f != NULL && fclose(f) != 0)
                rc = ATT_EXIT_REJECT;
            if (rc != ATT_EXIT_OK)
                fprintf(stderr, "attest sim fleet: cannot write %s\n", path);
        }
    next:
        free(in);
        free(chain);
        free(json);
        if (rc != ATT_EXIT_OK)
            return rc;
    }
    return ATT_EXIT_OK;
}

int att_sim_fleet_cmd(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, *tee = "both", *count = NULL, *fmspcs = "1";
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
        } else if (i + 1 < argc && !strcmp(a, "--fmspcs")) {
            fmspcs = argv[++i];
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
    errno = 0;
    unsigned long nk = strtoul(fmspcs, &end, 10);
    if (fmspcs[0] < '0' || fmspcs[0] > '9' || *end != '\0' || errno != 0 || nk == 0 ||
        nk > ATT_FLEET_FMSPC_MAX || nk > n) {
        fprintf(stderr,
                "attest sim fleet: --fmspcs must be 1 to %d and at most --platforms (%lu), not "
                "'%s'\n",
                ATT_FLEET_FMSPC_MAX, n, fmspcs);
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
    for (unsigned long j = 1; j < nk && rc == ATT_EXIT_OK; j++)
        rc = att_fleet_fmspc_collateral(pki, dir, base.fmspc, j);
    for (unsigned long i = 0; i < n && rc == ATT_EXIT_OK; i++) {
        att_sim_pck_ext_t ext = base;
        att_fleet_fmspc(base.fmspc, (mode == 2 ? i / 2 : i) % nk, ext.fmspc);
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
        printf("%lu simulated platforms with %lu FMSPC%s in %s (list: %s/platforms.txt; "
               "collateral: attest sim collateral-server --dir %s)\n",
               n, nk, nk == 1 ? "" : "s", out, out, dir);
    return rc;
}
