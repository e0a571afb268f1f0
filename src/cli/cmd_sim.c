/* cmd_sim.c - `attest sim init|collateral-server`: a simulated Intel DCAP platform for
 * development and tests (docs/client.md, docs/sim.md).
 *
 *   attest sim init DIR [--ca processor|platform] [--tee sgx|tdx] [--force]
 *   attest sim collateral-server --dir DIR [--listen 127.0.0.1:PORT] [--quiet]
 *   attest sim tcb-eval DIR --tee sgx|tdx --number N [--status STATUS]   (cmd_sim_tcbeval.c)
 *   attest sim snp init DIR [--chips N] [--product milan|genoa|turin] [--rsa-bits B] [--force]
 *   attest sim snp report DIR --chip I [--report-data HEX] ... [--out FILE] [--evidence FILE]
 *
 * Exit codes: 0 ok, 1 failure (cannot create, cannot listen), 2 usage.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "attest/client.h"
#include "attest/sim.h"
#include "attest/token.h"
#include "cli.h"
#include "core/util.h"

static const char att_sim_usage[] =
    "usage: attest sim init DIR [--ca processor|platform] [--tee sgx|tdx] [--force]\n"
    "       attest sim collateral-server --dir DIR [--listen 127.0.0.1:PORT] [--quiet]\n"
    "       attest sim tcb-eval DIR --tee sgx|tdx --number N [--status STATUS]\n"
    "       attest sim fleet DIR --platforms N --out OUT [--tee sgx|tdx|both] [--fmspcs K]\n"
    "       attest sim snp init|report ...   (a simulated SEV-SNP fleet: attest sim snp --help)\n"
    "\n"
    "A simulated Intel DCAP platform for development and tests. Its quotes are real DCAP quotes\n"
    "signed by a test hierarchy that proves nothing: attestd trusts it only with\n"
    "--trust-root DIR/trust_root.pem, and marks its tokens x-attestd-simulated.\n"
    "'attest sim COMMAND --help' describes a command.\n";

static const char att_init_usage[] =
    "usage: attest sim init DIR [--ca processor|platform] [--tee sgx|tdx] [--force]\n"
    "Create a simulated platform in DIR: a test PKI shaped like Intel's (root, PCK CA, PCK\n"
    "certificate, TCB signer; DIR/pki, private keys 0600), signed collateral for SGX and TDX\n"
    "(DIR/collateral/sgx, DIR/collateral/tdx: TCB info, QE identity, CRLs, issuer chains, valid\n"
    "30 days), DIR/trust_root.pem (give it to attestd --trust-root) and DIR/sim.json.\n"
    "  --tee sgx|tdx               default quote of 'attest evidence --provider sim' (sgx)\n"
    "  --ca processor|platform     PCK CA of the hierarchy (sgx: processor, tdx: platform)\n"
    "  --force                     replace an existing simulated platform in DIR\n"
    "Exit: 0 created, 1 failure, 2 usage.\n";

static const char att_server_usage[] =
    "usage: attest sim collateral-server --dir DIR [--listen 127.0.0.1:PORT] [--quiet]\n"
    "Serve the collateral of a simulated platform (attest sim init DIR) over the Intel PCS v4\n"
    "API, for attestd --collateral-url. Listens on 127.0.0.1 (port 0 by default: any free port)\n"
    "and prints its URL as the first line of standard output. Paths:\n"
    "  GET /{sgx,tdx}/certification/v4/tcb?fmspc=HEX     header TCB-Info-Issuer-Chain\n"
    "      HEX: DIR's FMSPC or one of DIR/collateral/<tee>/fmspc-HEX (attest sim fleet --fmspcs)\n"
    "  GET /{sgx,tdx}/certification/v4/qe/identity       header SGX-Enclave-Identity-Issuer-Chain\n"
    "      both with &tcbEvaluationDataNumber=N: the set of that number (attest sim tcb-eval)\n"
    "  GET /{sgx,tdx}/certification/v4/tcbevaluationdatanumbers\n"
    "                              header TCB-Evaluation-Data-Numbers-Issuer-Chain (tcb-eval)\n"
    "  GET /sgx/certification/v4/pckcrl?ca=processor|platform[&encoding=der]\n"
    "                                                    header SGX-PCK-CRL-Issuer-Chain\n"
    "  GET /sgx/certification/v4/rootcacrl               root CA CRL, hex (as a PCCS)\n"
    "  GET /IntelSGXRootCA.der                           root CA CRL, DER\n"
    "Issuer chains are URL-encoded PEM, as Intel sends them. One line per request goes to\n"
    "standard error unless --quiet. SIGTERM or SIGINT stops it (exit 0).\n"
    "Exit: 0 stopped by a signal, 1 cannot load DIR or listen, 2 usage.\n";

int att_sim_tcbeval_cmd(int argc, char **argv); /* cmd_sim_tcbeval.c */
int att_sim_fleet_cmd(int argc, char **argv);   /* cmd_sim_fleet.c */

static bool att_is_help(const char *a)
{
    return !strcmp(a, "--help") || !strcmp(a, "-h");
}

static int att_sim_init(int argc, char **argv)
{
    const char *dir = NULL, *ca = NULL, *tee = "sgx";
    bool force = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (att_is_help(a)) {
            fputs(att_init_usage, stdout);
            return ATT_EXIT_OK;
        } else if (!strcmp(a, "--force")) {
            force = true;
        } else if (i + 1 < argc && !strcmp(a, "--ca")) {
            ca = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--tee")) {
            tee = argv[++i];
        } else if (a[0] != '-' && dir == NULL) {
            dir = a;
        } else {
            fprintf(stderr, "attest sim init: unexpected argument '%s'\n%s", a, att_init_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (dir == NULL) {
        fprintf(stderr, "attest sim init: DIR is required\n%s", att_init_usage);
        return ATT_EXIT_USAGE;
    }
    att_sim_dir_opts_t o = {.force = force, .now = (att_time_t)time(NULL)};
    if (!strcmp(tee, "sgx")) {
        o.tee = ATT_TEE_SGX;
    } else if (!strcmp(tee, "tdx")) {
        o.tee = ATT_TEE_TDX;
    } else {
        fprintf(stderr, "attest sim init: --tee must be sgx or tdx, not '%s'\n", tee);
        return ATT_EXIT_USAGE;
    }
    if (ca == NULL) {
        o.ca = o.tee == ATT_TEE_TDX ? ATT_SIM_CA_PLATFORM : ATT_SIM_CA_PROCESSOR;
    } else if (!strcmp(ca, "processor")) {
        o.ca = ATT_SIM_CA_PROCESSOR;
    } else if (!strcmp(ca, "platform")) {
        o.ca = ATT_SIM_CA_PLATFORM;
    } else {
        fprintf(stderr, "attest sim init: --ca must be processor or platform, not '%s'\n", ca);
        return ATT_EXIT_USAGE;
    }
    att_diag_t d;
    if (att_sim_dir_init(dir, &o, &d) != ATT_OK) {
        fprintf(stderr, "attest sim init: %s\n", d.msg);
        return d.code == ATT_E_ARG ? ATT_EXIT_USAGE : ATT_EXIT_REJECT;
    }
    /* "sim/" names the root "sim/trust_root.pem", not "sim//trust_root.pem" */
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    printf("simulated %s platform in %s (PCK %s CA)\n"
           "trust root: %.*s/trust_root.pem  (attestd --trust-root)\n"
           "collateral: attest sim collateral-server --dir %s\n",
           o.tee == ATT_TEE_TDX ? "TDX" : "SGX", dir,
           o.ca == ATT_SIM_CA_PLATFORM ? "platform" : "processor", (int)dl, dir, dir);
    return ATT_EXIT_OK;
}

/* ---- the collateral server ---- */

typedef struct {
    uint8_t *p;
    size_t n;
} att_blob_t;

/* One TCB evaluation data number's TCB info and QE identity (DIR/collateral/<tee>/eval-N). */
typedef struct {
    unsigned number;
    att_blob_t tcb_info, qe_identity;
    char *tcb_chain_hdr, *qe_chain_hdr;
} att_coll_eval_t;

#define ATT_SRV_MAX_EVALS  16
#define ATT_SRV_MAX_FMSPCS 4096 /* fmspc-HEX sets of one TEE (attest sim fleet --fmspcs) */

/* The TCB info of another FMSPC (DIR/collateral/<tee>/fmspc-HEX, attest sim fleet --fmspcs). */
typedef struct {
    char fmspc[13]; /* lowercase hex */
    att_blob_t tcb_info;
    char *tcb_chain_hdr;
} att_coll_fmspc_t;

typedef struct {
    bool present;
    char fmspc[13]; /* lowercase hex */
    att_blob_t tcb_info, qe_identity;
    char *tcb_chain_hdr, *qe_chain_hdr; /* URL-encoded PEM */
    unsigned number;                    /* the current set's tcbEvaluationDataNumber */
    size_t n_evals;
    att_coll_eval_t evals[ATT_SRV_MAX_EVALS];
    att_blob_t eval_list; /* tcb_eval_numbers.json, when present */
    char *eval_list_hdr;
    size_t n_fmspcs;
    att_coll_fmspc_t *fmspcs; /* current set only: no eval-N sets for these */
} att_coll_set_t;

typedef struct {
    att_coll_set_t set[2]; /* sgx, tdx */
    const char *ca;        /* "processor" / "platform" */
    att_blob_t pck_crl_der, root_crl_der;
    char *pck_crl_pem, *root_crl_hex, *pck_chain_hdr;
    bool quiet;
} att_coll_srv_t;

/* Intel percent-encodes the whole PEM: everything but ALPHA / DIGIT / "-_.". */
static char *att_url_encode(const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(3 * n + 1), *w = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.') {
            *w++ = (char)c;
        } else {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        }
    }
    *w = '\0';
    return out;
}

static bool att_load(const char *dir, const char *name, att_blob_t *b, att_diag_t *d)
{
    char p[4096];
    if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) >= sizeof(p)) {
        att_diag_set(d, ATT_E_ARG, "path too long: %s", dir);
        return false;
    }
    return att_read_file(p, 4u << 20, &b->p, &b->n, d) == ATT_OK;
}

static bool att_load_hdr(const char *dir, const char *name, char **hdr, att_diag_t *d)
{
    att_blob_t b = {0};
    if (!att_load(dir, name, &b, d))
        return false;
    *hdr = att_url_encode(b.p, b.n);
    free(b.p);
    return *hdr != NULL;
}

static char *att_crl_pem(const att_blob_t *der)
{
    char *b64 = att_b64std_encode(der->p, der->n);
    if (b64 == NULL)
        return NULL;
    size_t n = strlen(b64);
    char *out = malloc(n + n / 64 + 64), *w = out;
    if (out != NULL) {
        w += sprintf(w, "-----BEGIN X509 CRL-----\n");
        for (size_t i = 0; i < n; i += 64) {
            size_t k = n - i < 64 ? n - i : 64;
            memcpy(w, b64 + i, k);
            w += k;
            *w++ = '\n';
        }
        sprintf(w, "-----END X509 CRL-----\n");
    }
    free(b64);
    return out;
}

static void att_srv_free(att_coll_srv_t *s)
{
    for (int i = 0; i < 2; i++) {
        free(s->set[i].tcb_info.p);
        free(s->set[i].qe_identity.p);
        free(s->set[i].tcb_chain_hdr);
        free(s->set[i].qe_chain_hdr);
        for (size_t k = 0; k < s->set[i].n_evals; k++) {
            att_coll_eval_t *ev = &s->set[i].evals[k];
            free(ev->tcb_info.p);
            free(ev->qe_identity.p);
            free(ev->tcb_chain_hdr);
            free(ev->qe_chain_hdr);
        }
        free(s->set[i].eval_list.p);
        free(s->set[i].eval_list_hdr);
        for (size_t k = 0; k < s->set[i].n_fmspcs; k++) {
            free(s->set[i].fmspcs[k].tcb_info.p);
            free(s->set[i].fmspcs[k].tcb_chain_hdr);
        }
        free(s->set[i].fmspcs);
    }
    free(s->pck_crl_der.p);
    free(s->root_crl_der.p);
    free(s->pck_crl_pem);
    free(s->root_crl_hex);
    free(s->pck_chain_hdr);
}

/* The baselines of one TEE (attest sim tcb-eval): eval-N subdirectories and the signed list. */
static bool att_srv_load_evals(att_coll_set_t *c, const char *sub, att_diag_t *d)
{
    char p[4096];
    if ((size_t)snprintf(p, sizeof(p), "%s/tcb_eval_numbers.json", sub) >= sizeof(p))
        return att_diag_set(d, ATT_E_ARG, "path too long: %s", sub), false;
    if (access(p, F_OK) == 0 &&
        (!att_load(sub, "tcb_eval_numbers.json", &c->eval_list, d) ||
         !att_load_hdr(sub, "tcb_eval_numbers_issuer_chain.pem", &c->eval_list_hdr, d)))
        return false;
    DIR *dh = opendir(sub);
    if (dh == NULL)
        return true;
    struct dirent *de;
    bool ok = true;
    while (ok && (de = readdir(dh)) != NULL && c->n_evals < ATT_SRV_MAX_EVALS) {
        char *end;
        unsigned long n =
            strncmp(de->d_name, "eval-", 5) == 0 ? strtoul(de->d_name + 5, &end, 10) : 0;
        if (n == 0 || *end != '\0')
            continue;
        att_coll_eval_t *ev = &c->evals[c->n_evals];
        ev->number = (unsigned)n;
        if ((size_t)snprintf(p, sizeof(p), "%s/%s", sub, de->d_name) >= sizeof(p))
            continue;
        ok = att_load(p, "tcb_info.json", &ev->tcb_info, d) &&
             att_load(p, "qe_identity.json", &ev->qe_identity, d) &&
             att_load_hdr(p, "tcb_info_issuer_chain.pem", &ev->tcb_chain_hdr, d) &&
             att_load_hdr(p, "qe_identity_issuer_chain.pem", &ev->qe_chain_hdr, d);
        c->n_evals++; /* freed by att_srv_free, loaded or not */
    }
    closedir(dh);
    return ok;
}

/* The fmspc-HEX subdirectories of one TEE (attest sim fleet --fmspcs), at most
 * ATT_SRV_MAX_FMSPCS. */
static bool att_srv_load_fmspcs(att_coll_set_t *c, const char *sub, att_diag_t *d)
{
    DIR *dh = opendir(sub);
    if (dh == NULL)
        return true;
    struct dirent *de;
    bool ok = true;
    while (ok && (de = readdir(dh)) != NULL) {
        const char *h = de->d_name + 6;
        if (strncmp(de->d_name, "fmspc-", 6) != 0 || strlen(h) != 12 ||
            strspn(h, "0123456789abcdefABCDEF") != 12)
            continue;
        if (c->n_fmspcs == ATT_SRV_MAX_FMSPCS) {
            att_diag_set(d, ATT_E_LIMIT, "%s holds more than %d fmspc-HEX sets", sub,
                         ATT_SRV_MAX_FMSPCS);
            ok = false;
            break;
        }
        if (c->n_fmspcs % 64 == 0) {
            att_coll_fmspc_t *g = realloc(c->fmspcs, (c->n_fmspcs + 64) * sizeof *g);
            if (g == NULL) {
                att_diag_set(d, ATT_E_NOMEM, "out of memory");
                ok = false;
                break;
            }
            c->fmspcs = g;
        }
        att_coll_fmspc_t *f = &c->fmspcs[c->n_fmspcs++]; /* freed by att_srv_free */
        memset(f, 0, sizeof *f);
        for (int k = 0; k < 12; k++)
            f->fmspc[k] = (char)((h[k] >= 'A' && h[k] <= 'F') ? h[k] + 32 : h[k]);
        char p[4096];
        if ((size_t)snprintf(p, sizeof(p), "%s/%s", sub, de->d_name) >= sizeof(p))
            continue;
        ok = att_load(p, "tcb_info.json", &f->tcb_info, d) &&
             att_load_hdr(p, "tcb_info_issuer_chain.pem", &f->tcb_chain_hdr, d);
    }
    closedir(dh);
    return ok;
}

static bool att_srv_load(att_coll_srv_t *s, const char *dir, att_diag_t *d)
{
    att_sim_ca_type_t ca;
    if (att_sim_dir_info(dir, NULL, &ca, d) != ATT_OK)
        return false;
    s->ca = ca == ATT_SIM_CA_PLATFORM ? "platform" : "processor";
    static const char *const subs[2] = {"collateral/sgx", "collateral/tdx"};
    char sub[4096];
    for (int i = 0; i < 2; i++) {
        att_coll_set_t *c = &s->set[i];
        if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, subs[i]) >= sizeof(sub)) {
            att_diag_set(d, ATT_E_ARG, "path too long: %s", dir);
            return false;
        }
        if (!att_load(sub, "tcb_info.json", &c->tcb_info, d) ||
            !att_load(sub, "qe_identity.json", &c->qe_identity, d) ||
            !att_load_hdr(sub, "tcb_info_issuer_chain.pem", &c->tcb_chain_hdr, d) ||
            !att_load_hdr(sub, "qe_identity_issuer_chain.pem", &c->qe_chain_hdr, d))
            return false;
        json_t *j = json_loadb((const char *)c->tcb_info.p, c->tcb_info.n, 0, NULL);
        const char *fm = json_string_value(json_object_get(json_object_get(j, "tcbInfo"), "fmspc"));
        if (fm == NULL || strlen(fm) != 12) {
            json_decref(j);
            att_diag_set(d, ATT_E_COLL_FORMAT, "%s/tcb_info.json has no tcbInfo.fmspc", sub);
            return false;
        }
        for (int k = 0; k < 12; k++)
            c->fmspc[k] = (char)((fm[k] >= 'A' && fm[k] <= 'F') ? fm[k] + 32 : fm[k]);
        c->number = (unsigned)json_integer_value(
            json_object_get(json_object_get(j, "tcbInfo"), "tcbEvaluationDataNumber"));
        json_decref(j);
        c->present = true;
        if (!att_srv_load_evals(c, sub, d) || !att_srv_load_fmspcs(c, sub, d))
            return false;
        if (i == 0 && (!att_load(sub, "pck_crl.der", &s->pck_crl_der, d) ||
                       !att_load(sub, "root_ca_crl.der", &s->root_crl_der, d) ||
                       !att_load_hdr(sub, "pck_crl_issuer_chain.pem", &s->pck_chain_hdr, d)))
            return false;
    }
    s->pck_crl_pem = att_crl_pem(&s->pck_crl_der);
    s->root_crl_hex = malloc(2 * s->root_crl_der.n + 1);
    if (s->pck_crl_pem == NULL || s->root_crl_hex == NULL) {
        att_diag_set(d, ATT_E_NOMEM, "out of memory");
        return false;
    }
    att_hex_encode(s->root_crl_der.p, s->root_crl_der.n, s->root_crl_hex);
    return true;
}

static enum MHD_Result att_srv_send(struct MHD_Connection *conn, unsigned status, const void *body,
                                    size_t len, const char *ctype, const char *hname,
                                    const char *hval)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    if (hname != NULL)
        MHD_add_response_header(r, hname, hval);
    if (status >= 400)
        MHD_add_response_header(r, "Error-Code", status == 404 ? "NotFound" : "InvalidParameter");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result att_srv_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version, const char *upload,
                                      size_t *upload_size, void **ctx)
{
    att_coll_srv_t *s = cls;
    if (*ctx == NULL) { /* first call: headers only */
        *ctx = s;
        return MHD_YES;
    }
    unsigned status = 404;
    enum MHD_Result ret;
    if (strcmp(method, "GET") != 0) {
        status = 405;
        ret = att_srv_send(conn, status, "", 0, "text/plain", "Allow", "GET");
        goto out;
    }
    int tee = -1;
    const char *rest = NULL;
    if (!strncmp(url, "/sgx/certification/v4/", 22)) {
        tee = 0;
        rest = url + 22;
    } else if (!strncmp(url, "/tdx/certification/v4/", 22)) {
        tee = 1;
        rest = url + 22;
    }
    const att_coll_set_t *c = tee >= 0 && s->set[tee].present ? &s->set[tee] : NULL;
    /* tcbEvaluationDataNumber=N: the set of that number (the current one, or an eval-N). */
    const char *evs =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "tcbEvaluationDataNumber");
    const att_blob_t *tcb = c ? &c->tcb_info : NULL, *qe = c ? &c->qe_identity : NULL;
    const char *tcb_hdr = c ? c->tcb_chain_hdr : NULL, *qe_hdr = c ? c->qe_chain_hdr : NULL;
    if (c != NULL && evs != NULL) {
        char *end;
        unsigned long n = strtoul(evs, &end, 10);
        bool hit = *evs != '\0' && *end == '\0' && n == c->number;
        for (size_t k = 0; !hit && *evs != '\0' && *end == '\0' && k < c->n_evals; k++) {
            if (c->evals[k].number == n) {
                hit = true;
                tcb = &c->evals[k].tcb_info;
                qe = &c->evals[k].qe_identity;
                tcb_hdr = c->evals[k].tcb_chain_hdr;
                qe_hdr = c->evals[k].qe_chain_hdr;
            }
        }
        if (!hit)
            c = NULL; /* 404: no such baseline */
    }
    if (c != NULL && !strcmp(rest, "tcb")) {
        const char *fm = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "fmspc");
        if (fm != NULL && strlen(fm) == 12 && !strcasecmp(fm, c->fmspc)) {
            status = 200;
            ret = att_srv_send(conn, 200, tcb->p, tcb->n, "application/json",
                               "TCB-Info-Issuer-Chain", tcb_hdr);
            goto out;
        }
        for (size_t k = 0; fm != NULL && tcb == &c->tcb_info && k < c->n_fmspcs; k++) {
            const att_coll_fmspc_t *f = &c->fmspcs[k];
            if (f->tcb_info.p != NULL && !strcasecmp(fm, f->fmspc)) {
                status = 200;
                ret = att_srv_send(conn, 200, f->tcb_info.p, f->tcb_info.n, "application/json",
                                   "TCB-Info-Issuer-Chain", f->tcb_chain_hdr);
                goto out;
            }
        }
    } else if (c != NULL && !strcmp(rest, "qe/identity")) {
        status = 200;
        ret = att_srv_send(conn, 200, qe->p, qe->n, "application/json",
                           "SGX-Enclave-Identity-Issuer-Chain", qe_hdr);
        goto out;
    } else if (c != NULL && !strcmp(rest, "tcbevaluationdatanumbers") && c->eval_list.p) {
        status = 200;
        ret = att_srv_send(conn, 200, c->eval_list.p, c->eval_list.n, "application/json",
                           "TCB-Evaluation-Data-Numbers-Issuer-Chain", c->eval_list_hdr);
        goto out;
    } else if (!strcmp(url, "/sgx/certification/v4/pckcrl")) {
        const char *ca = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "ca");
        const char *enc = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "encoding");
        if (ca == NULL || (strcasecmp(ca, "processor") && strcasecmp(ca, "platform"))) {
            status = 400;
        } else if (!strcasecmp(ca, s->ca)) {
            status = 200;
            bool der = enc != NULL && !strcasecmp(enc, "der");
            ret = att_srv_send(conn, 200, der ? (const void *)s->pck_crl_der.p : s->pck_crl_pem,
                               der ? s->pck_crl_der.n : strlen(s->pck_crl_pem),
                               der ? "application/pkix-crl" : "application/x-pem-file",
                               "SGX-PCK-CRL-Issuer-Chain", s->pck_chain_hdr);
            goto out;
        }
    } else if (!strcmp(url, "/sgx/certification/v4/rootcacrl")) {
        status = 200;
        ret = att_srv_send(conn, 200, s->root_crl_hex, strlen(s->root_crl_hex), "text/plain", NULL,
                           NULL);
        goto out;
    } else if (!strcmp(url, "/IntelSGXRootCA.der")) {
        status = 200;
        ret = att_srv_send(conn, 200, s->root_crl_der.p, s->root_crl_der.n, "application/pkix-crl",
                           NULL, NULL);
        goto out;
    }
    ret = att_srv_send(conn, status, "", 0, "text/plain", NULL, NULL);
out:
    if (!s->quiet)
        fprintf(stderr, "attest sim collateral-server: %s %s %u\n", method, url, status);
    return ret;
}

static int att_sim_server(int argc, char **argv)
{
    const char *dir = NULL, *listen = "127.0.0.1:0";
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (att_is_help(a)) {
            fputs(att_server_usage, stdout);
            return ATT_EXIT_OK;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else if (i + 1 < argc && !strcmp(a, "--dir")) {
            dir = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--listen")) {
            listen = argv[++i];
        } else {
            fprintf(stderr, "attest sim collateral-server: unexpected argument '%s'\n%s", a,
                    att_server_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (dir == NULL) {
        fprintf(stderr, "attest sim collateral-server: --dir DIR is required\n%s",
                att_server_usage);
        return ATT_EXIT_USAGE;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET};
    char host[64];
    const char *colon = strrchr(listen, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (colon == NULL || (size_t)(colon - listen) >= sizeof(host) || colon[1] == '\0' ||
        *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "attest sim collateral-server: --listen wants IPV4:PORT, not '%s'\n",
                listen);
        return ATT_EXIT_USAGE;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "attest sim collateral-server: '%s' is not an IPv4 address\n", host);
        return ATT_EXIT_USAGE;
    }
    sa.sin_port = htons((uint16_t)port);

    att_coll_srv_t s = {.quiet = quiet};
    att_diag_t d;
    if (!att_srv_load(&s, dir, &d)) {
        fprintf(stderr, "attest sim collateral-server: %s\n", d.msg);
        att_srv_free(&s);
        return ATT_EXIT_REJECT;
    }
    /* Block the stop signals before MHD's threads start, so they inherit the mask and only
     * sigwait below sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct MHD_Daemon *mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, att_srv_handle, &s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (mhd == NULL) {
        fprintf(stderr, "attest sim collateral-server: cannot listen on %s\n", listen);
        att_srv_free(&s);
        return ATT_EXIT_REJECT;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
    printf("http://%s:%u\n", host, di ? (unsigned)di->port : (unsigned)port);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(mhd);
    att_srv_free(&s);
    return ATT_EXIT_OK;
}

/* ---- attest sim snp: a simulated SEV-SNP fleet ---------------------------------------------- */

static const char att_snp_init_usage[] =
    "usage: attest sim snp init DIR [--chips N] [--product milan|genoa|turin] [--rsa-bits BITS]\n"
    "                               [--force]\n"
    "Create a simulated SEV-SNP fleet in DIR: a test hierarchy shaped like AMD's (ARK, ASK and\n"
    "ASVK, RSA with RSASSA-PSS SHA-384), N chips (default 1) with their VCEKs, laid out as AMD\n"
    "KDS serves them: DIR/vcek/v1/<Product>/{cert_chain,crl,<chip_id hex>},\n"
    "DIR/vlek/v1/<Product>/{cert_chain,crl}; DIR/ark.pem (the root to trust), DIR/chips.txt (one\n"
    "chip_id a line, chip 0 first) and DIR/sim (keys and chip secrets, 0600). Then:\n"
    "  attest snp verify --report R --kds-dir DIR --trust-root DIR/ark.pem\n"
    "  --product milan|genoa|turin  (milan)\n"
    "  --rsa-bits BITS              ARK/ASK/ASVK size: 4096 as AMD's (default); 2048 is faster\n"
    "  --force                      replace a simulated fleet already in DIR\n"
    "The CRL revokes nothing and is valid for 30 days. Exit: 0 created, 1 failure, 2 usage.\n";

static const char att_snp_report_usage[] =
    "usage: attest sim snp report DIR --chip I [--version 2..5] [--vlek] [--report-data HEX]\n"
    "           [--host-data HEX] [--measurement HEX] [--policy HEX] [--vmpl N] [--tcb HEX]\n"
    "           [--wrong-hwid] [--key-tcb HEX] [--out FILE] [--evidence FILE] [--vcek-out FILE]\n"
    "A report of chip I of the fleet in DIR (attest sim snp init), signed by its VCEK (or the\n"
    "VLEK): version 3 by default; HEX values fill the field from its start (report-data 64\n"
    "bytes, host-data 32, measurement 48), the rest zero. --tcb sets every TCB of the report\n"
    "(raw TCB_VERSION, 16 hex digits); its VCEK is then that TCB's (write it with --vcek-out:\n"
    "DIR holds the VCEKs of the fleet's TCB). For negative tests, signature-valid reports a real\n"
    "chip never makes: --wrong-hwid writes a chip_id that is not chip I's; --key-tcb HEX signs\n"
    "with the VCEK of another TCB than the report's.\n"
    "  --out FILE       the 1184-byte report\n"
    "  --evidence FILE  MAA's SevSnpVm JSON {\"SnpReport\", \"VcekCertChain\"} (base64url)\n"
    "Without --out or --evidence the JSON evidence goes to standard output.\n"
    "Exit: 0 written, 1 failure, 2 usage.\n";

static int att_snp_init(int argc, char **argv)
{
    const char *dir = NULL, *product = "milan";
    unsigned long chips = 1, bits = 4096;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end = NULL;
        if (att_is_help(a)) {
            fputs(att_snp_init_usage, stdout);
            return ATT_EXIT_OK;
        } else if (!strcmp(a, "--force")) {
            force = true;
        } else if (i + 1 < argc && !strcmp(a, "--product")) {
            product = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--chips")) {
            chips = strtoul(argv[++i], &end, 10);
            if (*argv[i] == '-' || *end != 0 || chips < 1 || chips > ATT_SIM_SNP_MAX_CHIPS) {
                fprintf(stderr, "attest sim snp init: --chips must be 1 to %d, not '%s'\n",
                        ATT_SIM_SNP_MAX_CHIPS, argv[i]);
                return ATT_EXIT_USAGE;
            }
        } else if (i + 1 < argc && !strcmp(a, "--rsa-bits")) {
            bits = strtoul(argv[++i], &end, 10);
            if (*argv[i] == '-' || *end != 0 || bits < 2048 || bits > 8192) {
                fprintf(stderr, "attest sim snp init: --rsa-bits must be 2048 to 8192, not '%s'\n",
                        argv[i]);
                return ATT_EXIT_USAGE;
            }
        } else if (a[0] != '-' && dir == NULL) {
            dir = a;
        } else {
            fprintf(stderr, "attest sim snp init: unexpected argument '%s'\n%s", a,
                    att_snp_init_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (dir == NULL) {
        fprintf(stderr, "attest sim snp init: DIR is required\n%s", att_snp_init_usage);
        return ATT_EXIT_USAGE;
    }
    att_snp_product_t p = !strcasecmp(product, "milan")   ? ATT_SNP_MILAN
                          : !strcasecmp(product, "genoa") ? ATT_SNP_GENOA
                          : !strcasecmp(product, "turin") ? ATT_SNP_TURIN
                                                          : ATT_SNP_PRODUCT_UNKNOWN;
    if (p == ATT_SNP_PRODUCT_UNKNOWN) {
        fprintf(stderr, "attest sim snp init: --product must be milan, genoa or turin, not '%s'\n",
                product);
        return ATT_EXIT_USAGE;
    }
    char state[4096];
    snprintf(state, sizeof state, "%s/sim/snp.json", dir);
    if (!force && access(state, F_OK) == 0) {
        fprintf(stderr,
                "attest sim snp init: %s already holds a simulated SEV-SNP fleet (--force "
                "replaces it)\n",
                dir);
        return ATT_EXIT_REJECT;
    }
    att_sim_snp_opts_t o;
    att_sim_snp_opts_default(&o, p, (att_time_t)time(NULL));
    o.n_chips = chips;
    o.rsa_bits = (unsigned)bits;
    att_sim_snp_t *s = NULL;
    att_diag_t d;
    if (att_sim_snp_new(&o, &s, &d) != ATT_OK || att_sim_snp_save(s, dir, &d) != ATT_OK) {
        fprintf(stderr, "attest sim snp init: %s\n", d.msg);
        att_sim_snp_free(s);
        return ATT_EXIT_REJECT;
    }
    att_sim_snp_free(s);
    printf("simulated SEV-SNP fleet in %s: %lu %s chip%s (chip ids in %s/chips.txt)\n"
           "trust root: %s/ark.pem  (attest snp verify --trust-root, attestd --trust-root)\n"
           "KDS layout: attest snp verify --kds-dir %s\n",
           dir, chips, att_snp_product_name(p), chips == 1 ? "" : "s", dir, dir, dir);
    return ATT_EXIT_OK;
}

/* HEX (at most n bytes, an even number of digits) into out, zero-padded. */
static bool att_snp_hex_arg(const char *opt, const char *hex, uint8_t *out, size_t n)
{
    size_t l = strlen(hex);
    memset(out, 0, n);
    if (l % 2 != 0 || l / 2 > n || !att_hex_decode(hex, l, out, l / 2)) {
        fprintf(stderr, "attest sim snp report: %s takes at most %zu bytes of hex, not '%s'\n", opt,
                n, hex);
        return false;
    }
    return true;
}

static bool att_snp_u64_arg(const char *opt, const char *v, uint64_t max, uint64_t *out, int base)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, base);
    if (*v == 0 || *v == '-' || *end != 0 || errno != 0 || x > max) {
        fprintf(stderr, "attest sim snp report: bad %s '%s'\n", opt, v);
        return false;
    }
    *out = x;
    return true;
}

static int att_snp_write_out(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "attest sim snp report: cannot write %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return ATT_EXIT_REJECT;
    }
    return ATT_EXIT_OK;
}

static int att_snp_report_cmd(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, *evidence = NULL, *vcek_out = NULL;
    const char *chip = NULL, *version = "3", *rd = NULL, *hd = NULL, *meas = NULL, *policy = NULL,
               *vmpl = NULL, *tcb = NULL, *key_tcb = NULL;
    bool vlek = false, wrong_hwid = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (att_is_help(a)) {
            fputs(att_snp_report_usage, stdout);
            return ATT_EXIT_OK;
        } else if (!strcmp(a, "--vlek")) {
            vlek = true;
            continue;
        } else if (!strcmp(a, "--wrong-hwid")) {
            wrong_hwid = true;
            continue;
        }
        const struct {
            const char *name;
            const char **slot;
        } opts[] = {{"--chip", &chip},    {"--version", &version},   {"--report-data", &rd},
                    {"--host-data", &hd}, {"--measurement", &meas},  {"--policy", &policy},
                    {"--vmpl", &vmpl},    {"--tcb", &tcb},           {"--key-tcb", &key_tcb},
                    {"--out", &out},      {"--evidence", &evidence}, {"--vcek-out", &vcek_out}};
        for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++)
            if (!strcmp(a, opts[k].name))
                slot = opts[k].slot;
        if (slot != NULL && i + 1 < argc) {
            *slot = argv[++i];
        } else if (a[0] != '-' && dir == NULL) {
            dir = a;
        } else {
            fprintf(stderr, "attest sim snp report: unexpected argument '%s'\n%s", a,
                    att_snp_report_usage);
            return ATT_EXIT_USAGE;
        }
    }
    if (dir == NULL || chip == NULL) {
        fprintf(stderr, "attest sim snp report: DIR and --chip are required\n%s",
                att_snp_report_usage);
        return ATT_EXIT_USAGE;
    }
    uint64_t ci, ver, v;
    if (!att_snp_u64_arg("--chip", chip, ATT_SIM_SNP_MAX_CHIPS, &ci, 10) ||
        !att_snp_u64_arg("--version", version, 5, &ver, 10) || ver < 2) {
        if (ci <= ATT_SIM_SNP_MAX_CHIPS && ver < 2)
            fprintf(stderr, "attest sim snp report: --version must be 2 to 5\n");
        return ATT_EXIT_USAGE;
    }
    att_sim_snp_t *s = NULL;
    att_diag_t d;
    if (att_sim_snp_load(dir, &s, &d) != ATT_OK) {
        fprintf(stderr, "attest sim snp report: %s\n", d.msg);
        return ATT_EXIT_REJECT;
    }
    int rc = ATT_EXIT_USAGE;
    char *json = NULL;
    if (ci >= att_sim_snp_opts(s)->n_chips) {
        fprintf(stderr, "attest sim snp report: --chip %llu: the fleet in %s has %zu chips\n",
                (unsigned long long)ci, dir, att_sim_snp_opts(s)->n_chips);
        goto done;
    }
    att_sim_snp_report_opts_t o;
    att_sim_snp_report_opts_default(s, &o, (size_t)ci, (uint32_t)ver);
    o.key = vlek ? ATT_SNP_KEY_VLEK : ATT_SNP_KEY_VCEK;
    if ((rd && !att_snp_hex_arg("--report-data", rd, o.report_data, 64)) ||
        (hd && !att_snp_hex_arg("--host-data", hd, o.host_data, 32)) ||
        (meas && !att_snp_hex_arg("--measurement", meas, o.measurement, 48)))
        goto done;
    if (policy) {
        if (!att_snp_u64_arg("--policy", policy, UINT64_MAX, &o.policy, 16))
            goto done;
    }
    if (vmpl) {
        if (!att_snp_u64_arg("--vmpl", vmpl, 3, &v, 10))
            goto done;
        o.vmpl = (uint32_t)v;
    }
    if (tcb) {
        if (!att_snp_u64_arg("--tcb", tcb, UINT64_MAX, &v, 16))
            goto done;
        o.reported_tcb = o.committed_tcb = o.current_tcb = o.launch_tcb = v;
    }
    if (key_tcb) {
        if (!att_snp_u64_arg("--key-tcb", key_tcb, UINT64_MAX, &o.key_tcb, 16))
            goto done;
        o.other_key_tcb = true;
    }
    if (wrong_hwid) /* no chip has it: each byte of chip I's inverted */
        for (size_t i = 0; i < (att_sim_snp_opts(s)->product == ATT_SNP_TURIN ? 8 : 64); i++)
            o.chip_id[i] ^= 0xFF;
    rc = ATT_EXIT_REJECT;
    uint8_t rep[ATT_SNP_REPORT_LEN];
    att_slice_t leaf;
    if (att_sim_snp_report(s, &o, rep, &d) != ATT_OK ||
        att_sim_snp_evidence(s, &o, rep, &json, &d) != ATT_OK ||
        att_sim_snp_leaf(s, o.key, o.chip, o.other_key_tcb ? o.key_tcb : o.reported_tcb, &leaf,
                         &d) != ATT_OK) {
        fprintf(stderr, "attest sim snp report: %s\n", d.msg);
        goto done;
    }
    rc = ATT_EXIT_OK;
    if (out)
        rc = att_snp_write_out(out, rep, sizeof rep);
    if (rc == ATT_EXIT_OK && vcek_out)
        rc = att_snp_write_out(vcek_out, leaf.ptr, leaf.len);
    if (rc == ATT_EXIT_OK && evidence) {
        rc = att_snp_write_out(evidence, json, strlen(json));
    }
    if (rc == ATT_EXIT_OK && out == NULL && evidence == NULL)
        printf("%s\n", json);
done:
    free(json);
    att_sim_snp_free(s);
    return rc;
}

static int att_sim_snp(int argc, char **argv)
{
    static const char usage[] =
        "usage: attest sim snp init DIR [--chips N] [--product milan|genoa|turin] ...\n"
        "       attest sim snp report DIR --chip I [--report-data HEX] ... [--out FILE]\n"
        "A simulated SEV-SNP fleet (docs/sim.md). 'attest sim snp COMMAND --help' describes a\n"
        "command.\n";
    if (argc < 2 || att_is_help(argv[1])) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? ATT_EXIT_USAGE : ATT_EXIT_OK;
    }
    if (!strcmp(argv[1], "init"))
        return att_snp_init(argc - 1, argv + 1);
    if (!strcmp(argv[1], "report"))
        return att_snp_report_cmd(argc - 1, argv + 1);
    fprintf(stderr, "attest sim snp: unknown command '%s'\n%s", argv[1], usage);
    return ATT_EXIT_USAGE;
}

int att_cli_sim(int argc, char **argv)
{
    if (argc < 2) {
        fputs(att_sim_usage, stderr);
        return ATT_EXIT_USAGE;
    }
    if (att_is_help(argv[1])) {
        fputs(att_sim_usage, stdout);
        return ATT_EXIT_OK;
    }
    if (!strcmp(argv[1], "init"))
        return att_sim_init(argc - 1, argv + 1);
    if (!strcmp(argv[1], "collateral-server"))
        return att_sim_server(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tcb-eval"))
        return att_sim_tcbeval_cmd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "fleet"))
        return att_sim_fleet_cmd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "snp"))
        return att_sim_snp(argc - 1, argv + 1);
    fprintf(stderr, "attest sim: unknown command '%s'\n%s", argv[1], att_sim_usage);
    return ATT_EXIT_USAGE;
}
