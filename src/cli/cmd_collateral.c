/* cmd_collateral.c - `attest collateral fetch`: the collateral of given platforms gathered on a
 * connected machine into a bundle directory that attestd's --collateral-dir (and `attest quote
 * verify --collateral`, `attest snp verify --kds-dir`) reads on an air-gapped one.
 *
 * Every set goes through the library's own fetchers (the PCS fetcher of attestd for Intel, the
 * KDS fetcher for AMD: the same URLs, headers, caps and redirect rules) and is loaded (its
 * signatures checked against the pinned roots and --trust-root) before it is written, so a
 * bundle holds only what attestd would take. Layout:
 *   DIR/dcap-<sgx|tdx>-<fmspc>-<processor|platform>/   one Intel set (the quote verify layout)
 *   DIR/vcek/v1/<Product>/crl, DIR/vlek/v1/<Product>/crl, .../cert_chain, vcek/v1/<Product>/<hwid>
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attest/collateral.h"
#include "attest/snp.h"
#include "cli.h"
#include "core/util.h"
#include "net/http.h"

#define ATT_COLL_MAX_ITEMS 64
#define ATT_INTEL_PCS      "https://api.trustedservices.intel.com"
#define ATT_AMD_KDS        "https://kdsintf.amd.com"

static const char att_coll_usage[] =
    "usage: attest collateral fetch --out DIR\n"
    "           [--fmspc F[,F...] [--type sgx|tdx|sgx,tdx] [--ca processor|platform|both]\n"
    "            [--pcs-url URL]]\n"
    "           [--snp-product milan|genoa|turin[,...]] [--snp-report FILE]...\n"
    "           [--snp-chip PRODUCT:HWID:TCB]... [--kds-url URL]\n"
    "           [--trust-root FILE]... [--timeout SECONDS]\n"
    "On a connected machine, gather the collateral of the platforms named into DIR, a bundle\n"
    "that an air-gapped attestd loads with --collateral-dir DIR (also 'attest quote verify\n"
    "--collateral DIR', 'attest snp verify --kds-dir DIR'). Intel DCAP: for each FMSPC (12 hex),\n"
    "TEE (--type, default sgx) and PCK CA (--ca, default both; a CA the source has no CRL for\n"
    "(HTTP 404) is skipped with a note), the TCB info, QE identity, PCK CRL and root CA CRL with\n"
    "their issuer chains, from --pcs-url (default " ATT_INTEL_PCS ", or a PCCS),\n"
    "written to DIR/dcap-<tee>-<fmspc>-<ca>/. AMD SEV-SNP, from --kds-url (default\n" ATT_AMD_KDS
    "):\n"
    "for each --snp-product the VCEK and VLEK CRLs and certificate chains (DIR/{vcek,vlek}/v1/\n"
    "<Product>/{crl,cert_chain}); for each --snp-report (an attestation report, v3 or later,\n"
    "binary) or --snp-chip (Milan:<chip_id, 128 hex>:<reported_tcb, 16 hex>) the chip's VCEK at\n"
    "its TCB (DIR/vcek/v1/<Product>/<hwid>), and its product's CRLs and chains.\n"
    "Each set is checked before it is written: its signatures against the vendors' pinned roots\n"
    "(and --trust-root FILE, for test hierarchies; repeatable, at most 8), and that it is the\n"
    "set asked for. Sets already in DIR are replaced. --timeout bounds each set's fetch\n"
    "(default 30 s). One line per set written: its key and when it must be replaced.\n"
    "Exit: 0 every set written, 1 a source answered an error or a set failed its checks (the\n"
    "sets before it are written), 2 usage, file or connection error.\n";

typedef struct {
    const char *out, *pcs_url, *kds_url, *fmspcs, *types, *cas, *products;
    const char *reports[ATT_COLL_MAX_ITEMS], *chips[ATT_COLL_MAX_ITEMS];
    size_t nreports, nchips;
    const char *roots[ATT_CLI_QV_MAX_ROOTS];
    size_t nroots;
    long timeout_s;
} att_coll_args_t;

/* mkdir -p of a path below (and including) base. */
static int att_mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Write a file whole: a temporary beside it, then rename (a reader never sees half a file). */
static int att_write(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[4096], tmp[4200];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (f == NULL)
        goto fail;
    if ((n > 0 && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        unlink(tmp);
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        goto fail;
    }
    return 0;
fail:
    fprintf(stderr, "attest collateral fetch: cannot write %s: %s\n", path, strerror(errno));
    return -1;
}

/* The "ATTCOLL1" blob of the PCS fetcher (attest/collateral.h: the store's format): 7 items,
 * each a 4-byte big-endian length and its bytes, in the order of the files below. */
static const char *const att_dcap_files[7] = {"tcb_info.json",    "tcb_info_issuer_chain.pem",
                                              "qe_identity.json", "qe_identity_issuer_chain.pem",
                                              "pck_crl.der",      "pck_crl_issuer_chain.pem",
                                              "root_ca_crl.der"};

static int att_write_dcap_set(const char *dir, const uint8_t *b, size_t n)
{
    size_t off = 8;
    if (n < 8 || memcmp(b, "ATTCOLL1", 8) != 0) {
        fprintf(stderr, "attest collateral fetch: the PCS fetcher gave a blob of another format\n");
        return -1;
    }
    if (att_mkdirs(dir) != 0) {
        fprintf(stderr, "attest collateral fetch: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < 7; i++) {
        if (n - off < 4)
            return -1;
        size_t l =
            (size_t)b[off] << 24 | (size_t)b[off + 1] << 16 | (size_t)b[off + 2] << 8 | b[off + 3];
        off += 4;
        if (n - off < l)
            return -1;
        if (l == 0 && i == 5) { /* no PCK CRL issuer chain: the quote's own is used */
            char p[4200];
            snprintf(p, sizeof p, "%s/%s", dir, att_dcap_files[i]);
            unlink(p);
            continue;
        }
        if (att_write(dir, att_dcap_files[i], b + off, l) != 0)
            return -1;
        off += l;
    }
    return off == n ? 0 : -1;
}

typedef struct {
    const att_coll_fetcher_t *f;
    void *cfg;
    long timeout_ms;
    att_time_t now;
    int skipped; /* sets answered 404 and skipped */
} att_fetch_ctx_t;

static void att_fetch_warn(void *arg, const char *msg)
{
    (void)arg;
    fprintf(stderr, "attest collateral fetch: note: %s\n", msg);
}

/* Fetch and load (check) key: ATT_OK with *blob, or an error (printed). */
static att_err_t att_fetch_one(att_fetch_ctx_t *c, const char *key, uint8_t **blob, size_t *len,
                               att_time_t *next_update, bool quiet_404)
{
    att_coll_net_t net = {.deadline_ms = att_net_mono_ms() + c->timeout_ms,
                          .timeout_ms = c->timeout_ms,
                          .warn = quiet_404 ? NULL : att_fetch_warn};
    att_diag_t d;
    att_err_t e = c->f->fetch(c->cfg, key, &net, blob, len, &d);
    if (e == ATT_E_FETCH_STATUS && quiet_404 && strstr(d.msg, "HTTP 404") != NULL) {
        fprintf(stderr, "attest collateral fetch: note: %s: not served (%s): skipped\n", key,
                d.msg);
        c->skipped++;
        return ATT_E_COLL_MISSING;
    }
    if (e != ATT_OK) {
        fprintf(stderr, "attest collateral fetch: %s: %s: %s\n", key, att_err_name(e), d.msg);
        return e;
    }
    void *obj = NULL;
    e = c->f->load(c->cfg, key, *blob, *len, c->now, NULL, &obj, next_update, &d);
    if (e != ATT_OK) {
        fprintf(stderr, "attest collateral fetch: %s: not written: %s: %s\n", key, att_err_name(e),
                d.msg);
        free(*blob);
        *blob = NULL;
        return e;
    }
    c->f->release(obj);
    return ATT_OK;
}

static void att_print_set(const char *key, const char *where, att_time_t next)
{
    char t[ATT_TIME_STRLEN];
    printf("%-44s %s  (replace by %s)\n", key, where, next > 0 ? att_time_format(next, t) : "-");
}

/* A comma-separated list: calls fn for each item; -1 when fn fails. */
static int att_each(const char *list, int (*fn)(void *, const char *), void *arg)
{
    char *copy = strdup(list), *save = NULL;
    int rc = copy ? 0 : -1;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && rc == 0;
         t = strtok_r(NULL, ",", &save))
        rc = fn(arg, t);
    free(copy);
    return rc;
}

/* ---- Intel DCAP ---- */

typedef struct {
    att_fetch_ctx_t *c;
    const att_coll_args_t *a;
    uint8_t fmspc[6];
    att_tee_t tee;
    int err; /* exit code of the first failure */
} att_dcap_ctx_t;

static int att_dcap_ca(void *arg, const char *ca)
{
    att_dcap_ctx_t *x = arg;
    char key[ATT_COLL_KEY_MAX], fm[13], dir[4096];
    att_diag_t d;
    if (att_dcap_coll_key(x->tee, x->fmspc, ca, key, sizeof key, &d) != ATT_OK) {
        fprintf(stderr, "attest collateral fetch: --ca: %s\n", d.msg);
        x->err = ATT_EXIT_USAGE;
        return -1;
    }
    uint8_t *blob = NULL;
    size_t len = 0;
    att_time_t next = 0;
    att_err_t e = att_fetch_one(x->c, key, &blob, &len, &next, true);
    if (e == ATT_E_COLL_MISSING)
        return 0; /* 404: skipped (counted) */
    if (e != ATT_OK) {
        x->err = e == ATT_E_FETCH ? ATT_EXIT_USAGE : ATT_EXIT_REJECT;
        return -1;
    }
    att_hex_encode(x->fmspc, 6, fm);
    snprintf(dir, sizeof dir, "%s/dcap-%s-%s-%s", x->a->out, x->tee == ATT_TEE_TDX ? "tdx" : "sgx",
             fm, ca);
    int rc = att_write_dcap_set(dir, blob, len);
    free(blob);
    if (rc != 0) {
        x->err = ATT_EXIT_USAGE;
        return -1;
    }
    att_print_set(key, dir, next);
    return 0;
}

static int att_dcap_tee(void *arg, const char *t)
{
    att_dcap_ctx_t *x = arg;
    if (strcmp(t, "sgx") != 0 && strcmp(t, "tdx") != 0) {
        fprintf(stderr, "attest collateral fetch: --type takes sgx and tdx, not '%s'\n", t);
        x->err = ATT_EXIT_USAGE;
        return -1;
    }
    x->tee = !strcmp(t, "tdx") ? ATT_TEE_TDX : ATT_TEE_SGX;
    int before = x->c->skipped;
    const char *cas =
        x->a->cas && strcmp(x->a->cas, "both") != 0 ? x->a->cas : "processor,platform";
    if (att_each(cas, att_dcap_ca, x) != 0)
        return -1;
    int n_cas = 1;
    for (const char *p = cas; *p; p++)
        n_cas += *p == ',';
    if (x->c->skipped - before == n_cas) { /* nothing at all for this FMSPC and TEE */
        char fm[13];
        att_hex_encode(x->fmspc, 6, fm);
        fprintf(stderr, "attest collateral fetch: the source has no %s collateral for FMSPC %s\n",
                t, fm);
        x->err = ATT_EXIT_REJECT;
        return -1;
    }
    return 0;
}

static int att_dcap_fmspc(void *arg, const char *f)
{
    att_dcap_ctx_t *x = arg;
    if (strlen(f) != 12 || !att_hex_decode(f, 12, x->fmspc, 6)) {
        fprintf(stderr, "attest collateral fetch: --fmspc '%s' is not 12 hex digits\n", f);
        x->err = ATT_EXIT_USAGE;
        return -1;
    }
    return att_each(x->a->types ? x->a->types : "sgx", att_dcap_tee, x);
}

/* ---- AMD KDS ---- */

typedef struct {
    att_fetch_ctx_t *c;
    const att_coll_args_t *a;
    bool done[ATT_SNP_TURIN + 1]; /* products whose CRLs and chains are written */
    int err;
} att_kds_ctx_t;

static att_snp_product_t att_product(const char *s)
{
    for (int p = ATT_SNP_MILAN; p <= ATT_SNP_TURIN; p++)
        if (!strcasecmp(s, att_snp_product_name((att_snp_product_t)p)))
            return (att_snp_product_t)p;
    return ATT_SNP_PRODUCT_UNKNOWN;
}

/* The KDS answer of key, written to DIR/<rel>. */
static int att_kds_item(att_kds_ctx_t *x, const char *key, const char *rel, bool optional)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    att_time_t next = 0;
    att_err_t e = att_fetch_one(x->c, key, &blob, &len, &next, optional);
    if (e == ATT_E_COLL_MISSING && optional)
        return 0;
    if (e != ATT_OK) {
        x->err = e == ATT_E_FETCH ? ATT_EXIT_USAGE : ATT_EXIT_REJECT;
        return -1;
    }
    char path[4096], dir[4096];
    snprintf(path, sizeof path, "%s/%s", x->a->out, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    int rc = att_mkdirs(dir) == 0 ? att_write(dir, strrchr(path, '/') + 1, blob, len) : -1;
    free(blob);
    if (rc != 0) {
        x->err = ATT_EXIT_USAGE;
        return -1;
    }
    att_print_set(key, path, next);
    return 0;
}

static int att_kds_product(att_kds_ctx_t *x, att_snp_product_t p)
{
    if (x->done[p])
        return 0;
    x->done[p] = true;
    const char *name = att_snp_product_name(p);
    char key[ATT_COLL_KEY_MAX], rel[128];
    att_diag_t d;
    for (int k = 0; k < 2; k++) {
        att_snp_key_t kind = k ? ATT_SNP_KEY_VLEK : ATT_SNP_KEY_VCEK;
        const char *dn = k ? "vlek" : "vcek";
        /* the VLEK ones only where KDS serves them (a 404 is skipped with a note) */
        if (att_snp_kds_key_crl(p, kind, key, sizeof key, &d) != ATT_OK)
            goto bad;
        snprintf(rel, sizeof rel, "%s/v1/%s/crl", dn, name);
        if (att_kds_item(x, key, rel, k == 1) != 0)
            return -1;
        if (att_snp_kds_key_chain(p, kind, key, sizeof key, &d) != ATT_OK)
            goto bad;
        snprintf(rel, sizeof rel, "%s/v1/%s/cert_chain", dn, name);
        if (att_kds_item(x, key, rel, k == 1) != 0)
            return -1;
    }
    return 0;
bad:
    fprintf(stderr, "attest collateral fetch: %s: %s\n", name, d.msg);
    x->err = ATT_EXIT_USAGE;
    return -1;
}

static int att_kds_product_arg(void *arg, const char *s)
{
    att_kds_ctx_t *x = arg;
    att_snp_product_t p = att_product(s);
    if (p == ATT_SNP_PRODUCT_UNKNOWN) {
        fprintf(stderr,
                "attest collateral fetch: --snp-product takes milan, genoa, turin, not '%s'\n", s);
        x->err = ATT_EXIT_USAGE;
        return -1;
    }
    return att_kds_product(x, p);
}

static int att_kds_vcek(att_kds_ctx_t *x, att_snp_product_t p, const uint8_t chip_id[64],
                        uint64_t tcb)
{
    char key[ATT_COLL_KEY_MAX], rel[256], hex[129];
    att_diag_t d;
    if (att_snp_kds_key_vcek(p, chip_id, tcb, key, sizeof key, &d) != ATT_OK) {
        fprintf(stderr, "attest collateral fetch: %s\n", d.msg);
        x->err = ATT_EXIT_USAGE;
        return -1;
    }
    /* the hwid as the key names it (Turin: the first 8 bytes) */
    const char *h = strstr(key, "/vcek/") + 6;
    size_t hl = strcspn(h, "/");
    snprintf(hex, sizeof hex, "%.*s", (int)hl, h);
    snprintf(rel, sizeof rel, "vcek/v1/%s/%s", att_snp_product_name(p), hex);
    if (att_kds_item(x, key, rel, false) != 0)
        return -1;
    return att_kds_product(x, p);
}

static int att_kds_report(att_kds_ctx_t *x, const char *path)
{
    att_diag_t d;
    uint8_t *b;
    size_t n;
    if (att_read_file(path, 1u << 16, &b, &n, &d) != ATT_OK) {
        fprintf(stderr, "attest collateral fetch: --snp-report: %s\n", d.msg);
        x->err = ATT_EXIT_USAGE;
        return -1;
    }
    att_snp_report_t r;
    att_err_t e = att_snp_report_parse(b, n, &r, &d);
    free(b);
    if (e != ATT_OK || r.product == ATT_SNP_PRODUCT_UNKNOWN) {
        fprintf(stderr,
                "attest collateral fetch: --snp-report %s: %s (use --snp-chip "
                "PRODUCT:HWID:TCB for a v2 report)\n",
                path, e != ATT_OK ? d.msg : "a v2 report does not name its product");
        x->err = ATT_EXIT_USAGE;
        return -1;
    }
    return att_kds_vcek(x, r.product, r.chip_id, r.reported_tcb);
}

static int att_kds_chip(att_kds_ctx_t *x, const char *spec)
{
    char prod[16];
    uint8_t chip[64] = {0};
    const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    size_t hl = c2 ? (size_t)(c2 - c1 - 1) : 0;
    att_snp_product_t p = ATT_SNP_PRODUCT_UNKNOWN;
    if (c1 && (size_t)(c1 - spec) < sizeof prod) {
        snprintf(prod, sizeof prod, "%.*s", (int)(c1 - spec), spec);
        p = att_product(prod);
    }
    uint8_t tb[8];
    if (p == ATT_SNP_PRODUCT_UNKNOWN || c2 == NULL || (hl != 128 && hl != 16) ||
        !att_hex_decode(c1 + 1, hl, chip, hl / 2) || strlen(c2 + 1) != 16 ||
        !att_hex_decode(c2 + 1, 16, tb, 8)) {
        fprintf(stderr,
                "attest collateral fetch: --snp-chip '%s' is not PRODUCT:HWID:TCB (Milan, Genoa "
                "or Turin; the chip_id, 128 hex (Turin: 16); reported_tcb, 16 hex)\n",
                spec);
        x->err = ATT_EXIT_USAGE;
        return -1;
    }
    uint64_t tcb = 0;
    for (int i = 0; i < 8; i++)
        tcb = tcb << 8 | tb[i];
    return att_kds_vcek(x, p, chip, tcb);
}

static int att_coll_fetch(int argc, char **argv)
{
    att_coll_args_t a = {.timeout_s = 30};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(att_coll_usage, stdout);
            return ATT_EXIT_OK;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "attest collateral fetch: unknown or incomplete option '%s'\n%s", o,
                    att_coll_usage);
            return ATT_EXIT_USAGE;
        }
        const char *v = argv[++i];
        if (!strcmp(o, "--out"))
            a.out = v;
        else if (!strcmp(o, "--pcs-url"))
            a.pcs_url = v;
        else if (!strcmp(o, "--kds-url"))
            a.kds_url = v;
        else if (!strcmp(o, "--fmspc"))
            a.fmspcs = v;
        else if (!strcmp(o, "--type"))
            a.types = v;
        else if (!strcmp(o, "--ca"))
            a.cas = v;
        else if (!strcmp(o, "--snp-product"))
            a.products = v;
        else if (!strcmp(o, "--snp-report") && a.nreports < ATT_COLL_MAX_ITEMS)
            a.reports[a.nreports++] = v;
        else if (!strcmp(o, "--snp-chip") && a.nchips < ATT_COLL_MAX_ITEMS)
            a.chips[a.nchips++] = v;
        else if (!strcmp(o, "--trust-root") && a.nroots < ATT_CLI_QV_MAX_ROOTS)
            a.roots[a.nroots++] = v;
        else if (!strcmp(o, "--timeout")) {
            char *end;
            a.timeout_s = strtol(v, &end, 10);
            if (*end || a.timeout_s < 1 || a.timeout_s > 3600) {
                fprintf(stderr, "attest collateral fetch: --timeout takes 1 to 3600 seconds\n");
                return ATT_EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "attest collateral fetch: unknown option '%s' (or given too often)\n%s",
                    o, att_coll_usage);
            return ATT_EXIT_USAGE;
        }
    }
    bool dcap = a.fmspcs != NULL, snp = a.products || a.nreports || a.nchips;
    if (a.out == NULL || (!dcap && !snp)) {
        fprintf(stderr,
                "attest collateral fetch: --out and at least one of --fmspc, --snp-product, "
                "--snp-report, --snp-chip are required\n%s",
                att_coll_usage);
        return ATT_EXIT_USAGE;
    }
    if (!dcap && (a.types || a.cas || a.pcs_url)) {
        fprintf(stderr, "attest collateral fetch: --type, --ca and --pcs-url need --fmspc\n");
        return ATT_EXIT_USAGE;
    }
    if (!snp && a.kds_url) {
        fprintf(stderr, "attest collateral fetch: --kds-url needs an --snp-* option\n");
        return ATT_EXIT_USAGE;
    }
    if (att_mkdirs(a.out) != 0) {
        fprintf(stderr, "attest collateral fetch: cannot create %s: %s\n", a.out, strerror(errno));
        return ATT_EXIT_USAGE;
    }
    /* the verifiers' trust stores, with the roots given: each set is checked against them */
    att_ev_set_t *set = NULL;
    att_diag_t d;
    int rc = ATT_EXIT_USAGE;
    void *pcs = NULL, *kds = NULL;
    if (att_ev_set_new(&set, &d) != ATT_OK) {
        fprintf(stderr, "attest collateral fetch: %s\n", d.msg);
        return ATT_EXIT_USAGE;
    }
    for (size_t i = 0; i < a.nroots; i++)
        if (att_ev_set_add_root_file(set, a.roots[i], &d) != ATT_OK) {
            fprintf(stderr, "attest collateral fetch: --trust-root %s: %s\n", a.roots[i], d.msg);
            goto out;
        }
    att_time_t now = (att_time_t)time(NULL);
    if (dcap) {
        att_dcap_pcs_opts_t po = {.base_url = a.pcs_url ? a.pcs_url : ATT_INTEL_PCS,
                                  .trust = att_ev_set_trust(set, "dcap")};
        if (att_dcap_pcs_new(&po, &pcs, &d) != ATT_OK) {
            fprintf(stderr, "attest collateral fetch: --pcs-url: %s\n", d.msg);
            goto out;
        }
        att_fetch_ctx_t c = {&att_dcap_pcs_fetcher, pcs, a.timeout_s * 1000, now, 0};
        att_dcap_ctx_t x = {.c = &c, .a = &a};
        if (att_each(a.fmspcs, att_dcap_fmspc, &x) != 0) {
            rc = x.err ? x.err : ATT_EXIT_USAGE;
            goto out;
        }
    }
    if (snp) {
        att_snp_kds_opts_t ko = {.base_url = a.kds_url ? a.kds_url : ATT_AMD_KDS,
                                 .trust = att_ev_set_trust(set, "snp")};
        if (att_snp_kds_new(&ko, &kds, &d) != ATT_OK) {
            fprintf(stderr, "attest collateral fetch: --kds-url: %s\n", d.msg);
            goto out;
        }
        att_fetch_ctx_t c = {&att_snp_kds_fetcher, kds, a.timeout_s * 1000, now, 0};
        att_kds_ctx_t x = {.c = &c, .a = &a};
        int r = a.products ? att_each(a.products, att_kds_product_arg, &x) : 0;
        for (size_t i = 0; r == 0 && i < a.nreports; i++)
            r = att_kds_report(&x, a.reports[i]);
        for (size_t i = 0; r == 0 && i < a.nchips; i++)
            r = att_kds_chip(&x, a.chips[i]);
        if (r != 0) {
            rc = x.err ? x.err : ATT_EXIT_USAGE;
            goto out;
        }
    }
    rc = ATT_EXIT_OK;
out:
    if (pcs)
        att_dcap_pcs_fetcher.cfg_free(pcs);
    if (kds)
        att_snp_kds_fetcher.cfg_free(kds);
    att_ev_set_free(set);
    return rc;
}

int att_cli_collateral(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(att_coll_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? ATT_EXIT_USAGE : ATT_EXIT_OK;
    }
    if (!strcmp(argv[1], "fetch"))
        return att_coll_fetch(argc - 1, argv + 1);
    fprintf(stderr, "attest collateral: unknown command '%s'\n%s", argv[1], att_coll_usage);
    return ATT_EXIT_USAGE;
}
