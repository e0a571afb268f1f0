/* test_providers.c - evidence providers: sim quotes verify with the real verifier against the
 * directory's own collateral and bind the runtime data; tsm against an emulated configfs (recorded
 * Intel TDX quote as outblob), gramine against a recorded /dev/attestation tree (recorded SGX
 * quote); absent devices and unsupported TEEs fail with a clear message.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/sev-guest.h>
#include <sys/ioctl.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "attest/client.h"
#include "attest/dcap.h"
#include "attest/evidence.h"
#include "client/client_int.h"
#include "core/util.h"
#include "vectors.h"

#define NOW     ((att_time_t)1751328000) /* 2025-07-01T00:00:00Z */
#define SGX_VEC ATT_TEST_VECTORS "/dcap/sgx-v3-fmspc00A067110000/quote.bin"
#define TDX_VEC ATT_TEST_VECTORS "/dcap/tdx-v4-fmspcB0C06F000000/quote.bin"

static char tmpl[] = "/tmp/att-client-XXXXXX";
static char *tmp;

static int setup(void **state)
{
    strcpy(tmpl, "/tmp/att-client-XXXXXX");
    tmp = mkdtemp(tmpl);
    return tmp ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    att_client_set_fs(NULL);
    return system(cmd) == 0 ? 0 : -1;
}

static void path(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", tmp, name);
}

static void write_file(const char *p, const void *b, size_t n)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *read_all(const char *p, size_t *n)
{
    uint8_t *b;
    att_diag_t d;
    assert_int_equal(att_read_file(p, 1 << 22, &b, n, &d), ATT_OK);
    return b;
}

static void expect_rd(const uint8_t *rd, const uint8_t *runtime, size_t len)
{
    uint8_t h[32], zero[32] = {0};
    SHA256(runtime, len, h);
    assert_memory_equal(rd, h, 32);
    assert_memory_equal(rd + 32, zero, 32);
}

/* ---- sim ---- */

static void make_sim(const char *dir, att_tee_t tee)
{
    att_sim_dir_opts_t o = {.ca = ATT_SIM_CA_PROCESSOR, .tee = tee, .now = NOW};
    att_diag_t d;
    assert_int_equal(att_sim_dir_init(dir, &o, &d), ATT_OK);
}

static void verify_sim(const char *dir, const att_evidence_t *ev, const char *sub,
                       const uint8_t *runtime, size_t len)
{
    char p[600];
    att_diag_t d;
    att_trust_t *trust = att_trust_new();
    snprintf(p, sizeof(p), "%s/trust_root.pem", dir);
    assert_int_equal(att_trust_add_root_file(trust, p, &d), ATT_OK);
    att_dcap_collateral_raw_t raw;
    snprintf(p, sizeof(p), "%s/collateral/%s", dir, sub);
    assert_int_equal(att_dcap_collateral_raw_load_dir(p, &raw, &d), ATT_OK);
    att_dcap_collateral_t *c;
    assert_int_equal(att_dcap_collateral_new(&raw, trust, &c, &d), ATT_OK);
    att_dcap_result_t res;
    att_err_t e = att_dcap_verify(ev->data, ev->len, c, trust, NOW + 3600, &res);
    if (e != ATT_OK)
        fprintf(stderr, "verify: %s\n", res.diag.msg);
    assert_int_equal(e, ATT_OK);
    assert_true(res.accepted);
    assert_false(res.intel_root);
    bool tdx = strcmp(sub, "tdx") == 0;
    assert_int_equal(res.tee, tdx ? ATT_TEE_TDX : ATT_TEE_SGX);
    expect_rd(tdx ? res.quote.td.report_data : res.quote.sgx.report_data, runtime, len);
    att_dcap_collateral_free(c);
    att_dcap_collateral_raw_free(&raw);
    att_trust_free(trust);
}

static void test_sim_sgx_and_tdx_verify(void **state)
{
    char dir[512];
    path(dir, "sim");
    make_sim(dir, ATT_TEE_SGX);
    static const uint8_t rt[] = "enclave public key";
    att_diag_t d;
    att_provider_t *p;
    att_provider_opts_t o = {.sim_dir = dir};
    assert_int_equal(att_provider_new("sim", &o, &p, &d), ATT_OK);
    assert_string_equal(att_provider_name(p), "sim");
    att_evidence_t ev;
    assert_int_equal(att_provider_collect(p, rt, sizeof(rt) - 1, &ev, &d), ATT_OK);
    assert_string_equal(ev.type, "SgxEnclave");
    assert_int_equal(ev.data[0], 3); /* DCAP v3 */
    verify_sim(dir, &ev, "sgx", rt, sizeof(rt) - 1);
    att_evidence_clear(&ev);
    att_provider_free(p);

    o.sim_tee = ATT_SIM_TEE_TDX;
    assert_int_equal(att_provider_new("sim", &o, &p, &d), ATT_OK);
    assert_int_equal(att_provider_collect(p, rt, sizeof(rt) - 1, &ev, &d), ATT_OK);
    assert_string_equal(ev.type, "TdxVm");
    assert_int_equal(ev.data[0], 4); /* DCAP v4 */
    verify_sim(dir, &ev, "tdx", rt, sizeof(rt) - 1);
    att_evidence_clear(&ev);
    /* empty runtime data binds SHA-256 of nothing */
    assert_int_equal(att_provider_collect(p, NULL, 0, &ev, &d), ATT_OK);
    verify_sim(dir, &ev, "tdx", (const uint8_t *)"", 0);
    att_evidence_clear(&ev);
    att_provider_free(p);
}

static void test_sim_dir_default_tee_and_modes(void **state)
{
    char dir[512], p[600];
    path(dir, "simtdx");
    att_sim_dir_opts_t so = {.ca = ATT_SIM_CA_PLATFORM, .tee = ATT_TEE_TDX, .now = NOW};
    att_diag_t d;
    assert_int_equal(att_sim_dir_init(dir, &so, &d), ATT_OK);
    att_tee_t tee;
    att_sim_ca_type_t ca;
    assert_int_equal(att_sim_dir_info(dir, &tee, &ca, &d), ATT_OK);
    assert_int_equal(tee, ATT_TEE_TDX);
    assert_int_equal(ca, ATT_SIM_CA_PLATFORM);
    /* the directory's default TEE */
    att_provider_opts_t o = {.sim_dir = dir};
    att_provider_t *pr;
    att_evidence_t ev;
    assert_int_equal(att_provider_new("sim", &o, &pr, &d), ATT_OK);
    assert_int_equal(att_provider_collect(pr, (const uint8_t *)"x", 1, &ev, &d), ATT_OK);
    assert_string_equal(ev.type, "TdxVm");
    verify_sim(dir, &ev, "tdx", (const uint8_t *)"x", 1);
    att_evidence_clear(&ev);
    att_provider_free(pr);
    /* file modes */
    struct stat st;
    static const char *const keys[] = {"root.key", "pck_ca.key", "pck.key", "tcb_signer.key"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/pki/%s", dir, keys[i]);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    snprintf(p, sizeof(p), "%s/pki", dir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(p, sizeof(p), "%s/trust_root.pem", dir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* no silent replacement */
    assert_int_equal(att_sim_dir_init(dir, &so, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "--force"));
    so.force = true;
    assert_int_equal(att_sim_dir_init(dir, &so, &d), ATT_OK);
}

static void test_sim_errors(void **state)
{
    att_diag_t d;
    att_provider_t *p = (att_provider_t *)1;
    att_provider_opts_t o = {0};
    assert_int_equal(att_provider_new("sim", &o, &p, &d), ATT_E_ARG);
    assert_null(p);
    assert_non_null(strstr(d.msg, "attest sim init"));
    char dir[512];
    path(dir, "nothing");
    o.sim_dir = dir;
    assert_int_not_equal(att_provider_new("sim", &o, &p, &d), ATT_OK);
    assert_non_null(strstr(d.msg, "not a simulated platform"));
    assert_int_equal(att_provider_new("sgx-hardware", &o, &p, &d), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "unknown evidence provider"));
    assert_int_equal(att_provider_new(NULL, &o, &p, &d), ATT_E_ARG);
    assert_int_equal(att_provider_collect(NULL, NULL, 0, NULL, &d), ATT_E_ARG);
    att_provider_free(NULL);
    att_evidence_clear(NULL);
    uint8_t rd[64];
    assert_int_equal(att_report_data_for(NULL, 1, rd, &d), ATT_E_ARG);
    assert_int_equal(att_report_data_for((const uint8_t *)"abc", 3, rd, &d), ATT_OK);
    expect_rd(rd, (const uint8_t *)"abc", 3);
    const char *const *names = att_provider_names();
    assert_string_equal(names[0], "sim");
    assert_string_equal(names[1], "tsm");
    assert_string_equal(names[2], "gramine");
    assert_string_equal(names[3], "sev-guest");
    assert_string_equal(names[4], "tpm");
    assert_null(names[5]);
}

/* ---- tsm: configfs emulated over a real directory ---- */

typedef struct {
    const char *provider;
    uint8_t *outblob;
    size_t outlen;
    uint8_t *auxblob; /* NULL: the entry has no auxblob */
    size_t auxlen;
    int gen_step; /* generation increment per write (1 normally; 2 simulates a racing writer) */
    uint8_t inblob[64];
    size_t inlen;
    int mkdirs, rmdirs;
    char entry[600];
} fake_tsm_t;

static int fk_mkdir(void *arg, const char *p)
{
    fake_tsm_t *f = arg;
    if (att_fs_posix.mkdir(NULL, p) != 0)
        return -1;
    f->mkdirs++;
    snprintf(f->entry, sizeof(f->entry), "%s", p);
    char q[700];
    snprintf(q, sizeof(q), "%s/provider", p);
    write_file(q, f->provider, strlen(f->provider));
    snprintf(q, sizeof(q), "%s/generation", p);
    write_file(q, "0\n", 2);
    snprintf(q, sizeof(q), "%s/inblob", p);
    write_file(q, "", 0);
    snprintf(q, sizeof(q), "%s/outblob", p);
    write_file(q, f->outblob, f->outlen);
    if (f->auxblob != NULL) {
        snprintf(q, sizeof(q), "%s/auxblob", p);
        write_file(q, f->auxblob, f->auxlen);
    }
    return 0;
}

static int fk_rmdir(void *arg, const char *p)
{
    fake_tsm_t *f = arg;
    static const char *const names[] = {"provider", "generation", "inblob", "outblob", "auxblob"};
    char q[700];
    for (size_t i = 0; i < 5; i++) {
        snprintf(q, sizeof(q), "%s/%s", p, names[i]);
        unlink(q);
    }
    f->rmdirs++;
    return att_fs_posix.rmdir(NULL, p);
}

static int fk_write(void *arg, const char *p, const uint8_t *b, size_t n)
{
    fake_tsm_t *f = arg;
    if (att_fs_posix.write(NULL, p, b, n) != 0)
        return -1;
    size_t l = strlen(p);
    if (l > 7 && strcmp(p + l - 7, "/inblob") == 0) {
        memcpy(f->inblob, b, n < 64 ? n : 64);
        f->inlen = n;
        char q[700], g[16];
        snprintf(q, sizeof(q), "%.*s/generation", (int)(l - 7), p);
        snprintf(g, sizeof(g), "%d\n", f->gen_step);
        write_file(q, g, strlen(g));
    }
    return 0;
}

static int fk_read(void *arg, const char *p, size_t max, uint8_t **out, size_t *len)
{
    return att_fs_posix.read(NULL, p, max, out, len);
}

static void fake_init(fake_tsm_t *f, att_fs_ops_t *ops, const char *provider, const char *vec)
{
    memset(f, 0, sizeof(*f));
    f->provider = provider;
    f->outblob = read_all(vec, &f->outlen);
    f->gen_step = 1;
    *ops = (att_fs_ops_t){fk_mkdir, fk_rmdir, fk_write, fk_read, f, NULL};
    att_client_set_fs(ops);
}

static void test_tsm_tdx(void **state)
{
    VEC_REQUIRE();
    fake_tsm_t f;
    att_fs_ops_t ops;
    fake_init(&f, &ops, "tdx_guest\n", TDX_VEC);
    char root[512];
    path(root, "report");
    assert_int_equal(mkdir(root, 0755), 0);
    att_provider_opts_t o = {.root = root};
    att_provider_t *p;
    att_diag_t d;
    assert_int_equal(att_provider_new("tsm", &o, &p, &d), ATT_OK);
    att_evidence_t ev;
    static const uint8_t rt[] = {1, 2, 3, 4};
    assert_int_equal(att_provider_collect(p, rt, sizeof(rt), &ev, &d), ATT_OK);
    assert_string_equal(ev.type, "TdxVm");
    assert_int_equal(ev.len, f.outlen);
    assert_memory_equal(ev.data, f.outblob, f.outlen);
    assert_int_equal(f.inlen, 64);
    expect_rd(f.inblob, rt, sizeof(rt));
    assert_int_equal(f.mkdirs, 1);
    assert_int_equal(f.rmdirs, 1);
    assert_int_not_equal(access(f.entry, F_OK), 0); /* entry removed */
    assert_non_null(strstr(f.entry, "/attest-"));
    att_evidence_clear(&ev);

    /* a racing writer: generation moved by 2 */
    f.gen_step = 2;
    assert_int_equal(att_provider_collect(p, rt, sizeof(rt), &ev, &d), ATT_E_IO);
    assert_non_null(strstr(d.msg, "another process"));
    assert_null(ev.data);
    assert_int_equal(f.rmdirs, 2); /* removed on failure too */
    att_provider_free(p);
    free(f.outblob);
}

/* A DER certificate from a PEM file of the SEV-SNP vectors. */
static uint8_t *snp_der(const char *rel, size_t *len)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s", ATT_TEST_VECTORS_SNP, rel);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    uint8_t *der = NULL;
    int n = i2d_X509(x, &der);
    assert_true(n > 0);
    X509_free(x);
    uint8_t *out = malloc((size_t)n);
    memcpy(out, der, (size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return out;
}

/* The extended request's certificate table: entries {GUID, offset, length}, an all-zero entry,
 * then the certificates. */
static uint8_t *cert_table(uint8_t *const *der, const size_t *lens, const uint8_t *const *guids,
                           size_t n, size_t *outlen)
{
    size_t head = (n + 1) * 24, total = head;
    for (size_t i = 0; i < n; i++)
        total += lens[i];
    uint8_t *t = calloc(1, total);
    size_t off = head;
    for (size_t i = 0; i < n; i++) {
        memcpy(t + i * 24, guids[i], 16);
        uint32_t o = (uint32_t)off, l = (uint32_t)lens[i];
        memcpy(t + i * 24 + 16, &o, 4);
        memcpy(t + i * 24 + 20, &l, 4);
        memcpy(t + off, der[i], lens[i]);
        off += lens[i];
    }
    *outlen = total;
    return t;
}

/* The GHCB specification's GUIDs, RFC 4122 byte order. */
static const uint8_t guid_vcek[16] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                      0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
static const uint8_t guid_ask[16] = {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
                                     0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82};
static const uint8_t guid_ark[16] = {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52,
                                     0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae};

/* The certificate table a Milan host gives go-sev-guest's report: its VCEK, Milan's ASK and ARK. */
static uint8_t *go_sev_guest_table(size_t *outlen)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/go-sev-guest/vcek.der", ATT_TEST_VECTORS_SNP);
    size_t lens[3];
    uint8_t *der[3];
    der[0] = read_all(p, &lens[0]);
    der[1] = snp_der("amd-roots/ask_milan.pem", &lens[1]);
    der[2] = snp_der("amd-roots/ark_milan.pem", &lens[2]);
    const uint8_t *guids[3] = {guid_vcek, guid_ask, guid_ark};
    uint8_t *t = cert_table(der, lens, guids, 3, outlen);
    for (int i = 0; i < 3; i++)
        free(der[i]);
    return t;
}

/* The provider's evidence verifies as SevSnpVm at go-sev-guest's time. */
static void expect_snp_accepted(const att_evidence_t *ev, const char *who)
{
    att_ev_set_t *set;
    att_diag_t d;
    assert_int_equal(att_ev_set_new(&set, &d), ATT_OK);
    att_time_t now;
    assert_int_equal(att_time_parse("2025-01-01T00:00:00Z", &now), ATT_OK);
    att_ev_input_t in = {.evidence = ev->data, .len = ev->len, .now = now};
    att_ev_result_t r;
    if (att_ev_verify(set, att_ev_type_find("SevSnpVm"), &in, &r) != ATT_OK)
        fail_msg("SevSnpVm refused the %s evidence: %s", who, r.diag.msg);
    att_ev_result_clear(&r);
    att_ev_set_free(set);
}

/* sev_guest: the report and auxblob's certificates become MAA's SevSnpVm evidence, which the
 * SevSnpVm verifier accepts; without auxblob the chain is left out; a broken table or report is
 * refused. */
static void test_tsm_sev_snp(void **state)
{
    VEC_SNP_REQUIRE();
    char rep_path[1024];
    snprintf(rep_path, sizeof(rep_path), "%s/go-sev-guest/report.bin", ATT_TEST_VECTORS_SNP);
    fake_tsm_t f;
    att_fs_ops_t ops;
    fake_init(&f, &ops, "sev_guest\n", rep_path);
    f.auxblob = go_sev_guest_table(&f.auxlen);
    char root[512];
    path(root, "report");
    assert_int_equal(mkdir(root, 0755), 0);
    att_provider_opts_t o = {.root = root};
    att_provider_t *p;
    att_diag_t d;
    assert_int_equal(att_provider_new("tsm", &o, &p, &d), ATT_OK);
    att_evidence_t ev;
    static const uint8_t rt[] = {9, 8, 7};
    if (att_provider_collect(p, rt, sizeof(rt), &ev, &d) != ATT_OK)
        fail_msg("sev_guest collect: %s", d.msg);
    assert_string_equal(ev.type, "SevSnpVm");
    assert_int_equal(f.inlen, 64);
    expect_rd(f.inblob, rt, sizeof(rt));
    assert_int_equal(f.rmdirs, 1);
    expect_snp_accepted(&ev, "tsm provider's");
    att_evidence_clear(&ev);

    /* no auxblob: the report alone (the server then needs the VCEK from elsewhere) */
    uint8_t *aux = f.auxblob;
    f.auxblob = NULL;
    assert_int_equal(att_provider_collect(p, rt, sizeof(rt), &ev, &d), ATT_OK);
    json_t *j = json_loadb((const char *)ev.data, ev.len, 0, NULL);
    assert_non_null(json_object_get(j, "SnpReport"));
    assert_null(json_object_get(j, "VcekCertChain"));
    json_decref(j);
    att_evidence_clear(&ev);
    /* a table without its terminator (one unknown entry, then nothing), a table cut short and a
     * certificate past the end */
    static uint8_t junk[30];
    memset(junk, 0x5a, sizeof(junk));
    f.auxblob = junk;
    f.auxlen = sizeof(junk);
    assert_int_equal(att_provider_collect(p, rt, sizeof(rt), &ev, &d), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(d.msg, "terminator"));
    f.auxblob = aux;
    size_t full = f.auxlen;
    f.auxlen = 3 * 24;
    assert_int_equal(att_provider_collect(p, rt, sizeof(rt), &ev, &d), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(d.msg, "runs past"));
    f.auxlen = full - 1;
    assert_int_equal(att_provider_collect(p, rt, sizeof(rt), &ev, &d), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(d.msg, "runs past"));
    /* an outblob that is no SEV-SNP report */
    f.auxlen = full;
    free(f.outblob);
    f.outblob = (uint8_t *)strdup("garbage");
    f.outlen = 7;
    assert_int_equal(att_provider_collect(p, rt, sizeof(rt), &ev, &d), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(d.msg, "does not parse"));
    att_provider_free(p);
    free(f.outblob);
    free(f.auxblob);
}

static void test_tsm_unknown(void **state)
{
    VEC_REQUIRE();
    fake_tsm_t f;
    att_fs_ops_t ops;
    fake_init(&f, &ops, "arm_cca_guest\n", TDX_VEC);
    char root[512];
    path(root, "report");
    assert_int_equal(mkdir(root, 0755), 0);
    att_provider_opts_t o = {.root = root};
    att_provider_t *p;
    att_diag_t d;
    assert_int_equal(att_provider_new("tsm", &o, &p, &d), ATT_OK);
    att_evidence_t ev;
    assert_int_equal(att_provider_collect(p, NULL, 0, &ev, &d), ATT_E_UNSUPPORTED);
    assert_non_null(strstr(d.msg, "arm_cca_guest"));
    assert_int_equal(f.inlen, 0); /* nothing was asked of the device */
    assert_int_equal(f.rmdirs, 1);
    /* an outblob that is no quote */
    f.provider = "tdx_guest";
    free(f.outblob);
    f.outblob = (uint8_t *)strdup("garbage");
    f.outlen = 7;
    assert_int_equal(att_provider_collect(p, NULL, 0, &ev, &d), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(d.msg, "does not parse"));
    att_provider_free(p);
    free(f.outblob);
}

/* ---- sev-guest: /dev/sev-guest emulated through the ioctl hook ---- */

typedef struct {
    uint8_t *report;
    size_t rlen;
    uint8_t *table; /* the host's certificate table (NULL: none, an all-zero buffer) */
    size_t tlen;
    uint32_t status; /* the firmware's answer */
    int fail_errno;  /* nonzero: the ioctl fails with it */
    int calls;
    uint8_t user_data[64];
} fake_dev_t;

static int fd_ioctl(void *arg, const char *path, unsigned long req, void *data)
{
    fake_dev_t *f = arg;
    (void)path;
    f->calls++;
    assert_int_equal(req, SNP_GET_EXT_REPORT);
    struct snp_guest_request_ioctl *io = data;
    struct snp_ext_report_req *rq = (void *)(uintptr_t)io->req_data;
    struct snp_report_resp *rs = (void *)(uintptr_t)io->resp_data;
    assert_int_equal(io->msg_version, 1);
    memcpy(f->user_data, rq->data.user_data, 64);
    if (f->fail_errno != 0) {
        io->exitinfo2 = 0x16; /* a firmware error */
        errno = f->fail_errno;
        return -1;
    }
    if (f->table != NULL && rq->certs_len < f->tlen) {
        rq->certs_len = (uint32_t)f->tlen; /* the kernel says how much it needs */
        io->exitinfo2 = 1ull << 32;        /* SNP_GUEST_VMM_ERR_INVALID_LEN */
        errno = EINVAL;
        return -1;
    }
    if (f->table != NULL)
        memcpy((void *)(uintptr_t)rq->certs_address, f->table, f->tlen);
    uint32_t size = (uint32_t)f->rlen;
    memset(rs->data, 0, sizeof(rs->data));
    memcpy(rs->data, &f->status, 4);
    memcpy(rs->data + 4, &size, 4);
    memcpy(rs->data + 32, f->report, f->rlen < 4000 - 32 ? f->rlen : 4000 - 32);
    return 0;
}

static void test_sev_guest(void **state)
{
    VEC_SNP_REQUIRE();
    char p[1024], dev[512];
    fake_dev_t f = {0};
    snprintf(p, sizeof(p), "%s/go-sev-guest/report.bin", ATT_TEST_VECTORS_SNP);
    f.report = read_all(p, &f.rlen);
    f.table = go_sev_guest_table(&f.tlen);
    /* larger than the provider's first buffer, so that it asks again with the size given */
    uint8_t *big = calloc(1, 20000);
    memcpy(big, f.table, f.tlen);
    free(f.table);
    f.table = big;
    f.tlen = 20000;
    att_fs_ops_t ops = att_fs_posix;
    ops.ioctl = fd_ioctl;
    ops.arg = &f;
    att_client_set_fs(&ops);
    path(dev, "sev-guest");
    write_file(dev, "", 0);
    att_provider_opts_t o = {.root = dev};
    att_provider_t *prov;
    att_diag_t d;
    assert_int_equal(att_provider_new("sev-guest", &o, &prov, &d), ATT_OK);
    att_evidence_t ev;
    static const uint8_t rt[] = {5, 6, 7};
    if (att_provider_collect(prov, rt, sizeof(rt), &ev, &d) != ATT_OK)
        fail_msg("sev-guest collect: %s", d.msg);
    assert_int_equal(f.calls, 2); /* asked again with the table's size */
    expect_rd(f.user_data, rt, sizeof(rt));
    assert_string_equal(ev.type, "SevSnpVm");
    expect_snp_accepted(&ev, "sev-guest");
    att_evidence_clear(&ev);
    /* a firmware status, a report of the wrong size, a refused ioctl, a host asking too much */
    f.status = 7;
    assert_int_equal(att_provider_collect(prov, rt, sizeof(rt), &ev, &d), ATT_E_IO);
    assert_non_null(strstr(d.msg, "status 7"));
    f.status = 0;
    f.rlen = 1000;
    assert_int_equal(att_provider_collect(prov, rt, sizeof(rt), &ev, &d), ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(d.msg, "1000 bytes"));
    f.fail_errno = EACCES;
    assert_int_equal(att_provider_collect(prov, rt, sizeof(rt), &ev, &d), ATT_E_UNSUPPORTED);
    assert_non_null(strstr(d.msg, "needs root"));
    f.fail_errno = 0;
    f.rlen = 1184;
    f.tlen = 100000;
    uint8_t *huge = calloc(1, f.tlen);
    free(f.table);
    f.table = huge;
    assert_int_equal(att_provider_collect(prov, rt, sizeof(rt), &ev, &d), ATT_E_LIMIT);
    att_provider_free(prov);
    att_client_set_fs(NULL);
    /* no device */
    o.root = "/nonexistent/sev-guest";
    assert_int_equal(att_provider_new("sev-guest", &o, &prov, &d), ATT_E_UNSUPPORTED);
    assert_non_null(strstr(d.msg, "/dev/sev-guest is not available"));
    free(f.table);
    free(f.report);
}

static void test_tsm_absent(void **state)
{
    att_provider_opts_t o = {.root = "/nonexistent/tsm/report"};
    att_provider_t *p;
    att_diag_t d;
    assert_int_equal(att_provider_new("tsm", &o, &p, &d), ATT_E_UNSUPPORTED);
    assert_non_null(strstr(d.msg, "configfs-tsm is not available"));
    assert_non_null(strstr(d.msg, "/nonexistent/tsm/report"));
    /* a plain directory (POSIX mkdir creates no attributes): not configfs */
    char root[512];
    path(root, "plain");
    assert_int_equal(mkdir(root, 0755), 0);
    o.root = root;
    assert_int_equal(att_provider_new("tsm", &o, &p, &d), ATT_OK);
    att_evidence_t ev;
    assert_int_equal(att_provider_collect(p, NULL, 0, &ev, &d), ATT_E_UNSUPPORTED);
    assert_non_null(strstr(d.msg, "not a configfs-tsm report directory"));
    att_provider_free(p);
    assert_int_equal(rmdir(root), 0); /* the entry was removed: root is empty again */
}

/* ---- gramine: a recorded /dev/attestation ---- */

static void gramine_tree(const char *root, const char *type, const char *vec)
{
    char p[600];
    assert_int_equal(mkdir(root, 0755), 0);
    snprintf(p, sizeof(p), "%s/attestation_type", root);
    write_file(p, type, strlen(type));
    snprintf(p, sizeof(p), "%s/user_report_data", root);
    write_file(p, "", 0);
    size_t n;
    uint8_t *q = read_all(vec, &n);
    snprintf(p, sizeof(p), "%s/quote", root);
    write_file(p, q, n);
    free(q);
}

static void test_gramine_dcap(void **state)
{
    VEC_REQUIRE();
    char root[512], p[600];
    path(root, "attestation");
    gramine_tree(root, "dcap", SGX_VEC);
    att_provider_opts_t o = {.root = root};
    att_provider_t *pr;
    att_diag_t d;
    assert_int_equal(att_provider_new("gramine", &o, &pr, &d), ATT_OK);
    att_evidence_t ev;
    static const uint8_t rt[] = "gramine runtime data";
    assert_int_equal(att_provider_collect(pr, rt, sizeof(rt), &ev, &d), ATT_OK);
    assert_string_equal(ev.type, "SgxEnclave");
    size_t n;
    uint8_t *q = read_all(SGX_VEC, &n);
    assert_int_equal(ev.len, n);
    assert_memory_equal(ev.data, q, n);
    free(q);
    snprintf(p, sizeof(p), "%s/user_report_data", root);
    uint8_t *urd = read_all(p, &n);
    assert_int_equal(n, 64);
    expect_rd(urd, rt, sizeof(rt));
    free(urd);
    att_evidence_clear(&ev);
    att_provider_free(pr);
}

static void test_gramine_errors(void **state)
{
    VEC_REQUIRE();
    att_provider_opts_t o = {.root = "/nonexistent/dev/attestation"};
    att_provider_t *pr;
    att_diag_t d;
    assert_int_equal(att_provider_new("gramine", &o, &pr, &d), ATT_E_UNSUPPORTED);
    assert_non_null(strstr(d.msg, "not running inside a Gramine SGX enclave"));
    char root[512];
    path(root, "none");
    gramine_tree(root, "none\n", SGX_VEC);
    o.root = root;
    assert_int_equal(att_provider_new("gramine", &o, &pr, &d), ATT_E_UNSUPPORTED);
    assert_non_null(strstr(d.msg, "without remote attestation"));
    path(root, "epid");
    gramine_tree(root, "epid", SGX_VEC);
    assert_int_equal(att_provider_new("gramine", &o, &pr, &d), ATT_E_UNSUPPORTED);
    assert_non_null(strstr(d.msg, "EPID"));
    /* a TDX quote where an SGX one belongs */
    path(root, "tdxquote");
    gramine_tree(root, "dcap\n", TDX_VEC);
    assert_int_equal(att_provider_new("gramine", &o, &pr, &d), ATT_OK);
    att_evidence_t ev;
    assert_int_equal(att_provider_collect(pr, NULL, 0, &ev, &d), ATT_E_EVIDENCE_FORMAT);
    assert_null(ev.data);
    att_provider_free(pr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sim_sgx_and_tdx_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sim_dir_default_tee_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sim_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tsm_tdx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tsm_sev_snp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tsm_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tsm_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sev_guest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gramine_dcap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gramine_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
