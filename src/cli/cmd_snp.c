/* cmd_snp.c - `attest snp verify|dump`: AMD SEV-SNP report verification with offline certificates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "attest/snp.h"
#include "cli.h"
#include "core/util.h"

#define ATT_SNP_MAX_FILE (1u << 20)

static const char att_snp_usage[] =
    "usage: attest snp verify --report FILE [--vcek FILE | --vlek FILE] [--chain FILE]\n"
    "                         [--crl FILE] [--kds-dir DIR] [--trust-root FILE] [--at RFC3339]\n"
    "                         [--json]\n"
    "       attest snp dump --report FILE [--json]\n"
    "\n"
    "verify  checks an AMD SEV-SNP attestation report (versions 2-5; Milan, Genoa, Turin) at time\n"
    "        --at (default: now): its structure, its ECDSA P-384 signature with the VCEK or VLEK,\n"
    "        the chain VCEK <- ASK <- ARK (VLEK <- ASVK <- ARK) to AMD's ARK of the report's\n"
    "        product (pinned in the library), the certificate extensions (hwID = chip_id, TCB =\n"
    "        reported_tcb, product) and, with --crl or a crl file in --kds-dir, the KDS CRL.\n"
    "        --vcek/--vlek FILE: the leaf certificate (DER or PEM).\n"
    "        --chain FILE: PEM, ASK (or ASVK) then ARK as KDS cert_chain serves it, or VCEK + ASK\n"
    "        + ARK as Azure's THIM bundle; without it AMD's ASK/ASVK compiled in are used.\n"
    "        --crl FILE: the KDS CRL of the product (DER or PEM).\n"
    "        --kds-dir DIR: files laid out as AMD KDS serves them: DIR/{vcek,vlek}/v1/<Product>/\n"
    "        cert_chain and crl, and DIR/vcek/v1/<Product>/<chip_id hex> (the VCEK, DER) when no\n"
    "        --vcek is given. Options given explicitly win over the directory.\n"
    "        --trust-root FILE: an extra root (PEM/DER) trusted by key, for test hierarchies;\n"
    "        AMD's ARKs are always pinned. Repeatable.\n"
    "        (--kds URL and --hcl-report, Azure's HCL report, come with the KDS fetcher.)\n"
    "dump    prints the parsed report without verifying anything.\n"
    "\n"
    "Exit status: 0 accepted (dump: parsed), 1 rejected - a malformed or truncated report\n"
    "included (dump: malformed), 2 usage or I/O error.\n";

static void att_snp_print(json_t *o, int json)
{
    if (json) {
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (json_is_object(v) && json_object_get(v, "code") && json_object_get(v, "message")) {
            printf("%-20s %s: %s\n", k, json_string_value(json_object_get(v, "code")),
                   json_string_value(json_object_get(v, "message")));
            continue;
        }
        char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        printf("%-20s %s\n", k, s ? s : json_string_value(v));
        free(s);
    }
}

static int att_snp_read(const char *what, const char *path, uint8_t **buf, size_t *len)
{
    att_diag_t d;
    if (att_read_file(path, ATT_SNP_MAX_FILE, buf, len, &d) != ATT_OK) {
        fprintf(stderr, "attest snp: %s %s: %s\n", what, path, d.msg);
        return -1;
    }
    return 0;
}

/* Read DIR/<rel> if it exists; -1 on an I/O error other than absence. */
static int att_snp_read_opt(const char *dir, const char *rel, uint8_t **buf, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    fclose(f);
    return att_snp_read("--kds-dir file", path, buf, len);
}

static int att_snp_verify_cmd(int argc, char **argv)
{
    const char *report = NULL, *vcek = NULL, *vlek = NULL, *chain = NULL, *crl = NULL, *kds = NULL,
               *at = NULL, *roots[8];
    size_t nroots = 0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(att_snp_usage, stdout);
            return ATT_EXIT_OK;
        } else if (i + 1 < argc && !strcmp(a, "--report")) {
            report = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--vcek")) {
            vcek = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--vlek")) {
            vlek = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--chain")) {
            chain = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--crl")) {
            crl = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--kds-dir")) {
            kds = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--at")) {
            at = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--trust-root")) {
            if (nroots == 8) {
                fprintf(stderr, "attest snp verify: at most 8 --trust-root\n");
                return ATT_EXIT_USAGE;
            }
            roots[nroots++] = argv[++i];
        } else {
            fprintf(stderr, "attest snp verify: unknown or incomplete option '%s'\n%s", a,
                    att_snp_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (report == NULL) {
        fprintf(stderr, "attest snp verify: --report is required\n%s", att_snp_usage);
        return ATT_EXIT_USAGE;
    }
    if (vcek != NULL && vlek != NULL) {
        fprintf(stderr, "attest snp verify: give --vcek or --vlek, not both\n");
        return ATT_EXIT_USAGE;
    }
    att_time_t now = (att_time_t)time(NULL);
    if (at != NULL && att_time_parse(at, &now) != ATT_OK) {
        fprintf(stderr,
                "attest snp verify: --at '%s' is not an RFC 3339 time "
                "(e.g. 2025-07-01T00:00:00Z)\n",
                at);
        return ATT_EXIT_USAGE;
    }
    int rc = ATT_EXIT_USAGE;
    uint8_t *rep = NULL, *leaf = NULL, *ch = NULL, *cr = NULL;
    size_t rlen = 0, llen = 0, clen = 0, crlen = 0;
    att_trust_t *trust = NULL;
    att_snp_result_t *res = calloc(1, sizeof(*res));
    att_diag_t d;
    const char *lpath = vcek ? vcek : vlek;
    if (res == NULL || att_snp_read("--report", report, &rep, &rlen) != 0 ||
        (lpath && att_snp_read(vcek ? "--vcek" : "--vlek", lpath, &leaf, &llen) != 0) ||
        (chain && att_snp_read("--chain", chain, &ch, &clen) != 0) ||
        (crl && att_snp_read("--crl", crl, &cr, &crlen) != 0))
        goto out;
    if (nroots > 0) {
        if ((trust = att_trust_new_empty()) == NULL)
            goto out;
        for (size_t i = 0; i < nroots; i++)
            if (att_trust_add_root_file(trust, roots[i], &d) != ATT_OK) {
                fprintf(stderr, "attest snp verify: --trust-root %s: %s\n", roots[i], d.msg);
                goto out;
            }
    }
    if (kds != NULL) {
        /* The report names the product (v3+) and the key kind; a v2 report is looked up under
         * Milan then Genoa (Turin reports are v3+). */
        att_snp_report_t r;
        if (att_snp_report_parse(rep, rlen, &r, &d) == ATT_OK) {
            const char *kind = r.signing_key == ATT_SNP_KEY_VLEK ? "vlek" : "vcek";
            att_snp_product_t ps[2] = {r.product, ATT_SNP_PRODUCT_UNKNOWN};
            if (r.product == ATT_SNP_PRODUCT_UNKNOWN) {
                ps[0] = ATT_SNP_MILAN;
                ps[1] = ATT_SNP_GENOA;
            }
            char chip[129], rel[512];
            att_hex_encode(r.chip_id, r.product == ATT_SNP_TURIN ? 8 : 64, chip);
            for (int k = 0; k < 2 && ps[k] != ATT_SNP_PRODUCT_UNKNOWN; k++) {
                const char *pn = att_snp_product_name(ps[k]);
                if (leaf == NULL && r.signing_key == ATT_SNP_KEY_VCEK) {
                    snprintf(rel, sizeof(rel), "vcek/v1/%s/%s", pn, chip);
                    if (att_snp_read_opt(kds, rel, &leaf, &llen) != 0)
                        goto out;
                }
                if (ch == NULL) {
                    snprintf(rel, sizeof(rel), "%s/v1/%s/cert_chain", kind, pn);
                    if (att_snp_read_opt(kds, rel, &ch, &clen) != 0)
                        goto out;
                }
                if (cr == NULL) {
                    snprintf(rel, sizeof(rel), "%s/v1/%s/crl", kind, pn);
                    if (att_snp_read_opt(kds, rel, &cr, &crlen) != 0)
                        goto out;
                }
                if (leaf != NULL)
                    break;
            }
        }
    }
    att_snp_input_t in = {.report = rep,
                          .report_len = rlen,
                          .vcek = leaf,
                          .vcek_len = llen,
                          .chain = ch,
                          .chain_len = clen,
                          .crl = cr,
                          .crl_len = crlen,
                          .trust = trust,
                          .now = now};
    att_err_t e = att_snp_verify(&in, NULL, res);
    json_t *o = att_snp_result_json(res);
    char t[ATT_TIME_STRLEN];
    json_object_set_new(o, "verified_at", json_string(att_time_format(now, t)));
    att_snp_print(o, json);
    json_decref(o);
    rc = e == ATT_OK ? ATT_EXIT_OK : ATT_EXIT_REJECT;
out:
    att_trust_free(trust);
    free(res);
    free(rep);
    free(leaf);
    free(ch);
    free(cr);
    return rc;
}

static int att_snp_dump_cmd(int argc, char **argv)
{
    const char *report = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(att_snp_usage, stdout);
            return ATT_EXIT_OK;
        } else if (i + 1 < argc && !strcmp(argv[i], "--report")) {
            report = argv[++i];
        } else {
            fprintf(stderr, "attest snp dump: unknown or incomplete option '%s'\n%s", argv[i],
                    att_snp_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (report == NULL) {
        fprintf(stderr, "attest snp dump: --report is required\n%s", att_snp_usage);
        return ATT_EXIT_USAGE;
    }
    uint8_t *rep;
    size_t rlen;
    if (att_snp_read("--report", report, &rep, &rlen) != 0)
        return ATT_EXIT_USAGE;
    att_snp_report_t r;
    att_diag_t d;
    att_err_t e = att_snp_report_parse(rep, rlen, &r, &d);
    free(rep);
    json_t *o;
    if (e != ATT_OK)
        o = json_pack("{s:{s:s,s:i,s:s}}", "error", "code", att_err_name(e), "number", (int)e,
                      "message", d.msg);
    else
        o = att_snp_report_json(&r);
    if (e != ATT_OK && !json)
        fprintf(stderr, "attest snp dump: %s: %s\n", att_err_name(e), d.msg);
    else
        att_snp_print(o, json);
    json_decref(o);
    return e == ATT_OK ? ATT_EXIT_OK : ATT_EXIT_REJECT;
}

int att_cli_snp(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(att_snp_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? ATT_EXIT_USAGE : ATT_EXIT_OK;
    }
    if (!strcmp(argv[1], "verify"))
        return att_snp_verify_cmd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "dump"))
        return att_snp_dump_cmd(argc - 1, argv + 1);
    fprintf(stderr, "attest snp: unknown subcommand '%s'\n%s", argv[1], att_snp_usage);
    return ATT_EXIT_USAGE;
}
