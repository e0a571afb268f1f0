/* cmd_snp.c - `attest snp verify|dump`: AMD SEV-SNP report verification, with certificates from
 * files, a directory in the KDS layout or AMD's KDS itself (the library's KDS fetcher, no cache),
 * Azure's HCL report (the SNP report inside it and the binding of its runtime data) with its vTPM
 * quote, and the JSON evidence attestd's SevSnpVm takes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "attest/collateral.h"
#include "attest/hcl.h"
#include "attest/snp.h"
#include "cli.h"
#include "core/util.h"
#include "crypto/crypto.h"
#include "net/http.h"
#include "snp/snp_int.h"

#define ATT_SNP_MAX_FILE    (1u << 20)
#define ATT_SNP_KDS_TIMEOUT 10000 /* ms: all the GETs of one --kds verification together */

static const char att_snp_usage[] =
    "usage: attest snp verify (--report FILE | --hcl-report FILE | --evidence FILE)\n"
    "                         [--vcek FILE | --vlek FILE] [--chain FILE] [--crl FILE]\n"
    "                         [--kds-dir DIR] [--kds URL [--no-crl]] [--trust-root FILE]\n"
    "                         [--tpm-quote FILE --tpm-sig FILE --tpm-pcrs FILE] [--tpm-nonce HEX]\n"
    "                         [--at RFC3339] [--json]\n"
    "       attest snp dump --report FILE [--json]\n"
    "\n"
    "verify  checks an AMD SEV-SNP attestation report (versions 2-5; Milan, Genoa, Turin) at time\n"
    "        --at (default: now): its structure, its ECDSA P-384 signature with the VCEK or VLEK,\n"
    "        the chain VCEK <- ASK <- ARK (VLEK <- ASVK <- ARK) to AMD's ARK of the report's\n"
    "        product (pinned in the library), the certificate extensions (hwID = chip_id, TCB =\n"
    "        reported_tcb, product) and, with --crl or a crl file in --kds-dir, the KDS CRL.\n"
    "        --hcl-report FILE: an Azure confidential VM's HCL report instead of --report: the "
    "SNP\n"
    "        report inside it is verified, then its runtime data's binding (SHA-256 of it =\n"
    "        report_data[0:32], the rest zero); --json adds runtime_data, the parsed JSON.\n"
    "        --evidence FILE: the JSON evidence /attest/SevSnpVm takes (docs/snp.md): MAA's\n"
    "        {SnpReport, VcekCertChain, tpm_quote?} or Trustee's az-snp-vtpm {version,\n"
    "        hcl_report, tpm_quote, vcek}; its certificates are used unless given as options.\n"
    "        --tpm-quote FILE --tpm-sig FILE --tpm-pcrs FILE: the vTPM quote that comes with\n"
    "        --hcl-report (TPMS_ATTEST; the raw RSASSA signature or a TPMT_SIGNATURE; the\n"
    "        values of the PCRs it selects, in selection order), verified with the AK of the\n"
    "        runtime data (HCLAkPub) after the report and the binding; --evidence may carry it\n"
    "        as tpm_quote. --tpm-nonce HEX: the expected extraData (without it extraData is\n"
    "        reported, not checked). The verdict is in vtpm (attest tpm verify's JSON).\n"
    "        --vcek/--vlek FILE: the leaf certificate (DER or PEM).\n"
    "        --chain FILE: PEM, ASK (or ASVK) then ARK as KDS cert_chain serves it, or VCEK + ASK\n"
    "        + ARK as Azure's THIM bundle; without it AMD's ASK/ASVK compiled in are used.\n"
    "        --crl FILE: the KDS CRL of the product (DER or PEM).\n"
    "        --kds-dir DIR: files laid out as AMD KDS serves them: DIR/{vcek,vlek}/v1/<Product>/\n"
    "        cert_chain and crl, and DIR/vcek/v1/<Product>/<chip_id hex> (the VCEK, DER) when no\n"
    "        --vcek is given. Options given explicitly win over the directory.\n"
    "        --trust-root FILE: an extra root (PEM/DER) trusted by key, for test hierarchies;\n"
    "        AMD's ARKs are always pinned. Repeatable.\n"
    "        --kds URL: AMD's KDS (https://kdsintf.amd.com) or a stand-in: what is still missing\n"
    "        after the files and --kds-dir is fetched: the VCEK (by chip_id and reported_tcb)\n"
    "        when no --vcek/--vlek/--chain is given, and the CRL of the product unless --crl or\n"
    "        --no-crl; each answer must be the one asked for (the VCEK's hwID, TCB and product; "
    "the\n"
    "        CRL signed by the ARK and current). One GET each, at most 64 kB, 10 s for all.\n"
    "        --no-crl: with --kds, no CRL is fetched (no revocation check).\n"
    "dump    prints the parsed report without verifying anything.\n"
    "\n"
    "Exit status: 0 accepted (dump: parsed), 1 rejected - a malformed or truncated report, or a\n"
    "KDS answer that is not what was asked for, included (dump: malformed), 2 usage or I/O\n"
    "error (a file that cannot be read, KDS unreachable or answering an error status).\n";

static void att_snp_print(json_t *o, int json)
{
    att_cli_print_verdict(o, json != 0, NULL);
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

/* One KDS answer through the library's fetcher (fetch, then load at now; no cache). Returns 0,
 * -1 for a fetch that failed (I/O: message on stderr) or 1 for an answer that did not load
 * (its error in *e, d). */
static int att_snp_kds_get(void *cfg, const char *key, int64_t deadline_ms, att_time_t now,
                           att_snp_kds_obj_t **obj, att_err_t *e, att_diag_t *d)
{
    const att_coll_fetcher_t *f = &att_snp_kds_fetcher;
    att_coll_net_t net = {.deadline_ms = deadline_ms, .timeout_ms = ATT_SNP_KDS_TIMEOUT};
    uint8_t *blob = NULL;
    size_t len = 0;
    att_time_t nu;
    *obj = NULL;
    if ((*e = f->fetch(cfg, key, &net, &blob, &len, d)) != ATT_OK)
        return -1;
    *e = f->load(cfg, key, blob, len, now, NULL, (void **)obj, &nu, d);
    free(blob);
    return *e == ATT_OK ? 0 : 1;
}

/* The product a leaf certificate names (productName), or UNKNOWN. */
static att_snp_product_t att_snp_leaf_product(const uint8_t *leaf, size_t len)
{
    X509 *x = att_cert_parse(leaf, len, "leaf", NULL);
    att_snp_ext_t ext;
    att_diag_t d;
    att_snp_product_t p = x != NULL && att_snp_ext_parse(x, &ext, &d) == ATT_OK
                              ? att_snp_ext_product(&ext)
                              : ATT_SNP_PRODUCT_UNKNOWN;
    X509_free(x);
    return p;
}

typedef struct {
    uint8_t *leaf, *ch, *cr;
    size_t llen, clen, crlen;
    att_snp_kds_obj_t *vcek, *crl; /* fetched */
} att_snp_certs_t;

/* --kds: fetch the VCEK (none given) and the CRL (unless given or --no-crl). The products tried
 * are the report's (v3+), else Milan then Genoa. 0 done, -1 I/O (message printed), 1 an answer
 * that is not the key's (*e, d). */
static int att_snp_kds_fill(const char *url, const att_trust_t *trust, const att_snp_report_t *r,
                            bool want_vcek, bool want_crl, att_time_t now, att_snp_certs_t *c,
                            att_err_t *e, att_diag_t *d)
{
    void *cfg = NULL;
    if ((*e = att_snp_kds_new(&(att_snp_kds_opts_t){.base_url = url, .trust = trust}, &cfg, d)) !=
        ATT_OK) {
        fprintf(stderr, "attest snp verify: --kds %s: %s\n", url, d->msg);
        return -1;
    }
    int64_t deadline = att_net_mono_ms() + ATT_SNP_KDS_TIMEOUT;
    att_snp_product_t ps[2] = {r->product, ATT_SNP_PRODUCT_UNKNOWN};
    if (r->product == ATT_SNP_PRODUCT_UNKNOWN) {
        ps[0] = ATT_SNP_MILAN;
        ps[1] = ATT_SNP_GENOA;
    }
    att_snp_product_t product = ps[0];
    char key[ATT_COLL_KEY_MAX];
    int rc = 0;
    if (want_vcek) {
        att_diag_t first;
        att_err_t fe = ATT_OK;
        int frc = 0;
        for (int k = 0; k < 2 && ps[k] != ATT_SNP_PRODUCT_UNKNOWN; k++) {
            if ((*e = att_snp_kds_key_vcek(ps[k], r->chip_id, r->reported_tcb, key, sizeof(key),
                                           d)) != ATT_OK) {
                rc = 1; /* a report KDS has no VCEK for (zero chip_id, reserved TCB bytes) */
                goto out;
            }
            rc = att_snp_kds_get(cfg, key, deadline, now, &c->vcek, e, d);
            if (rc == 0) {
                product = ps[k];
                break;
            }
            if (k == 0) {
                first = *d;
                fe = *e;
                frc = rc;
            }
        }
        if (rc != 0) { /* the first product's answer says why */
            *d = first;
            *e = fe;
            rc = frc;
            goto out;
        }
    } else if (c->leaf != NULL && r->product == ATT_SNP_PRODUCT_UNKNOWN) {
        att_snp_product_t lp = att_snp_leaf_product(c->leaf, c->llen);
        if (lp != ATT_SNP_PRODUCT_UNKNOWN)
            product = lp;
    }
    if (want_crl) {
        att_snp_key_t kind =
            r->signing_key == ATT_SNP_KEY_VLEK ? ATT_SNP_KEY_VLEK : ATT_SNP_KEY_VCEK;
        if ((*e = att_snp_kds_key_crl(product, kind, key, sizeof(key), d)) != ATT_OK) {
            rc = 1;
            goto out;
        }
        rc = att_snp_kds_get(cfg, key, deadline, now, &c->crl, e, d);
    }
out:
    if (rc < 0)
        fprintf(stderr, "attest snp verify: --kds: %s: %s\n", att_err_name(*e), d->msg);
    att_snp_kds_fetcher.cfg_free(cfg);
    return rc;
}

/* Read the vTPM quote files into q (owned). */
static int att_snp_read_quote(const char *quote, const char *sig, const char *pcrs,
                              att_hcl_quote_t *q)
{
    return att_snp_read("--tpm-quote", quote, &q->msg, &q->msg_len) != 0 ||
                   att_snp_read("--tpm-sig", sig, &q->sig, &q->sig_len) != 0 ||
                   att_snp_read("--tpm-pcrs", pcrs, &q->pcrs, &q->pcrs_len) != 0
               ? -1
               : 0;
}

static int att_snp_verify_cmd(int argc, char **argv)
{
    const char *report = NULL, *hcl = NULL, *evidence = NULL, *vcek = NULL, *vlek = NULL,
               *chain = NULL, *crl = NULL, *kds = NULL, *kds_url = NULL, *at = NULL, *roots[8],
               *tquote = NULL, *tsig = NULL, *tpcrs = NULL, *tnonce = NULL;
    size_t nroots = 0;
    int json = 0, no_crl = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--no-crl")) {
            no_crl = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(att_snp_usage, stdout);
            return ATT_EXIT_OK;
        } else if (i + 1 < argc && !strcmp(a, "--report")) {
            report = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--hcl-report")) {
            hcl = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--evidence")) {
            evidence = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--tpm-quote")) {
            tquote = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--tpm-sig")) {
            tsig = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--tpm-pcrs")) {
            tpcrs = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--tpm-nonce")) {
            tnonce = argv[++i];
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
        } else if (i + 1 < argc && !strcmp(a, "--kds")) {
            kds_url = argv[++i];
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
    if ((report != NULL) + (hcl != NULL) + (evidence != NULL) != 1) {
        fprintf(stderr,
                "attest snp verify: give --report, --hcl-report or --evidence (one of them)\n%s",
                att_snp_usage);
        return ATT_EXIT_USAGE;
    }
    bool tfiles = tquote || tsig || tpcrs;
    if (tfiles && !(tquote && tsig && tpcrs)) {
        fprintf(stderr, "attest snp verify: --tpm-quote, --tpm-sig and --tpm-pcrs go together\n");
        return ATT_EXIT_USAGE;
    }
    if (tfiles && hcl == NULL) {
        fprintf(stderr, "attest snp verify: the vTPM quote files go with --hcl-report (its "
                        "runtime data carries the AK); --evidence carries its own tpm_quote\n");
        return ATT_EXIT_USAGE;
    }
    uint8_t nonce[64];
    size_t nonce_len = tnonce ? strlen(tnonce) / 2 : 0;
    if (tnonce != NULL && (strlen(tnonce) % 2 != 0 || nonce_len > sizeof nonce ||
                           !att_hex_decode(tnonce, strlen(tnonce), nonce, nonce_len))) {
        fprintf(stderr, "attest snp verify: --tpm-nonce must be hex of at most 64 bytes\n");
        return ATT_EXIT_USAGE;
    }
    if (tnonce != NULL && !tfiles && evidence == NULL) {
        fprintf(stderr, "attest snp verify: --tpm-nonce goes with a vTPM quote\n");
        return ATT_EXIT_USAGE;
    }
    if (vcek != NULL && vlek != NULL) {
        fprintf(stderr, "attest snp verify: give --vcek or --vlek, not both\n");
        return ATT_EXIT_USAGE;
    }
    if (no_crl && kds_url == NULL) {
        fprintf(stderr, "attest snp verify: --no-crl goes with --kds\n");
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
    uint8_t *file = NULL;
    const uint8_t *rep = NULL;
    size_t flen = 0, rlen = 0;
    att_snp_certs_t c = {0};
    att_trust_t *trust = NULL;
    att_hcl_report_t h = {0};
    att_snp_evidence_t ev = {0};
    att_hcl_quote_t q = {0};
    att_tpm_result_t tres = {0};
    bool hcl_ok = false, has_quote = tfiles, vtpm_done = false;
    att_snp_result_t *res = calloc(1, sizeof(*res));
    att_diag_t d, pre; /* pre: a rejection before verification (HCL form, KDS answer) */
    att_err_t pe = ATT_OK;
    const char *lpath = vcek ? vcek : vlek;
    const char *what = hcl ? "--hcl-report" : evidence ? "--evidence" : "--report";
    if (res == NULL ||
        att_snp_read(what,
                     hcl        ? hcl
                     : evidence ? evidence
                                : report,
                     &file, &flen) != 0 ||
        (lpath && att_snp_read(vcek ? "--vcek" : "--vlek", lpath, &c.leaf, &c.llen) != 0) ||
        (chain && att_snp_read("--chain", chain, &c.ch, &c.clen) != 0) ||
        (crl && att_snp_read("--crl", crl, &c.cr, &c.crlen) != 0) ||
        (tfiles && att_snp_read_quote(tquote, tsig, tpcrs, &q) != 0))
        goto out;
    rep = file;
    rlen = flen;
    if (evidence != NULL) {
        /* Malformed evidence is a rejection, as a malformed report is. */
        if ((pe = att_snp_evidence_parse(file, flen, &ev, &pre)) == ATT_OK) {
            rep = ev.report;
            rlen = ev.report_len;
            if (c.leaf == NULL && c.ch == NULL) { /* the evidence's certificates */
                c.leaf = ev.leaf;
                c.llen = ev.leaf_len;
                c.ch = ev.chain;
                c.clen = ev.chain_len;
                ev.leaf = ev.chain = NULL;
            }
            if (ev.has_quote) {
                q = ev.quote;
                memset(&ev.quote, 0, sizeof(ev.quote));
                has_quote = true;
            }
        }
    }
    if (pe == ATT_OK && (hcl != NULL || att_hcl_is_report(rep, rlen))) {
        /* A malformed HCL report is a rejection, as a malformed report is. */
        if ((pe = att_hcl_report_parse(rep, rlen, &h, &pre)) == ATT_OK) {
            hcl_ok = true;
            rep = h.report;
            rlen = ATT_HCL_HW_REPORT_LEN;
        }
    }
    if (nroots > 0) {
        if ((trust = att_trust_new_empty()) == NULL)
            goto out;
        for (size_t i = 0; i < nroots; i++)
            if (att_trust_add_root_file(trust, roots[i], &d) != ATT_OK) {
                fprintf(stderr, "attest snp verify: --trust-root %s: %s\n", roots[i], d.msg);
                goto out;
            }
    }
    att_snp_report_t r;
    bool parsed = pe == ATT_OK && att_snp_report_parse(rep, rlen, &r, &d) == ATT_OK;
    if (kds != NULL && parsed) {
        /* The report names the product (v3+) and the key kind; a v2 report is looked up under
         * Milan then Genoa (Turin reports are v3+). */
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
            if (c.leaf == NULL && r.signing_key == ATT_SNP_KEY_VCEK) {
                snprintf(rel, sizeof(rel), "vcek/v1/%s/%s", pn, chip);
                if (att_snp_read_opt(kds, rel, &c.leaf, &c.llen) != 0)
                    goto out;
            }
            if (c.ch == NULL) {
                snprintf(rel, sizeof(rel), "%s/v1/%s/cert_chain", kind, pn);
                if (att_snp_read_opt(kds, rel, &c.ch, &c.clen) != 0)
                    goto out;
            }
            if (c.cr == NULL) {
                snprintf(rel, sizeof(rel), "%s/v1/%s/crl", kind, pn);
                if (att_snp_read_opt(kds, rel, &c.cr, &c.crlen) != 0)
                    goto out;
            }
            if (c.leaf != NULL)
                break;
        }
    }
    if (kds_url != NULL && parsed) {
        bool want_vcek = c.leaf == NULL && c.ch == NULL && r.signing_key == ATT_SNP_KEY_VCEK;
        bool want_crl = c.cr == NULL && !no_crl;
        int k = att_snp_kds_fill(kds_url, trust, &r, want_vcek, want_crl, now, &c, &pe, &pre);
        if (k < 0)
            goto out;
    }
    att_snp_input_t in = {.report = rep,
                          .report_len = rlen,
                          .vcek = c.vcek ? c.vcek->der : c.leaf,
                          .vcek_len = c.vcek ? c.vcek->len : c.llen,
                          .chain = c.ch,
                          .chain_len = c.clen,
                          .crl = c.crl ? c.crl->der : c.cr,
                          .crl_len = c.crl ? c.crl->len : c.crlen,
                          .trust = trust,
                          .now = now};
    att_err_t e = pe;
    if (pe == ATT_OK) {
        e = att_snp_verify(&in, NULL, res);
        if (e == ATT_OK && hcl_ok &&
            (e = att_hcl_check_binding(&h, res->report.report_data, &res->diag)) != ATT_OK)
            res->accepted = false;
        /* The vTPM quote, with the AK of the runtime data that just verified. */
        if (e == ATT_OK && hcl_ok && has_quote) {
            vtpm_done = true;
            if ((e = att_hcl_quote_verify(&h, &q, tnonce ? nonce : NULL, nonce_len, &tres)) !=
                ATT_OK) {
                res->accepted = false;
                res->diag = tres.diag;
            }
        }
    } else {
        res->diag = pre;
    }
    json_t *o = att_snp_result_json(res);
    if (hcl_ok && json)
        json_object_set(o, "runtime_data", h.runtime);
    if (vtpm_done) {
        json_t *t = att_tpm_result_json(&tres);
        json_object_set_new(t, "nonce_checked", json_boolean(tnonce != NULL));
        json_object_set_new(o, "vtpm", t);
    }
    char t[ATT_TIME_STRLEN];
    json_object_set_new(o, "verified_at", json_string(att_time_format(now, t)));
    att_snp_print(o, json);
    json_decref(o);
    rc = e == ATT_OK ? ATT_EXIT_OK : ATT_EXIT_REJECT;
out:
    att_tpm_result_free(&tres);
    att_hcl_quote_clear(&q);
    att_snp_evidence_clear(&ev);
    att_hcl_report_clear(&h);
    att_trust_free(trust);
    att_snp_kds_obj_free(c.vcek);
    att_snp_kds_obj_free(c.crl);
    free(res);
    free(file);
    free(c.leaf);
    free(c.ch);
    free(c.cr);
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
