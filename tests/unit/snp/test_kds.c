#define _GNU_SOURCE
/* test_kds.c - the AMD KDS fetcher (src/lib/snp/kds.c) against tests/tools/kds_server.py on
 * loopback: every real vector's VCEK fetched by its chip and reported TCB and loaded (the KDS
 * URL, the bytes, notAfter as next update, and the report verifying with it); answers that are
 * not the key's refused at load (a VCEK of another chip or TCB, garbage, named by kind, the body
 * never echoed); a 500, a 429 with Retry-After, an answer over the 64 kB cap, a slow answer past
 * the deadline; CRLs on the library's simulated AMD hierarchy (att_sim_snp_*: accepted with the
 * test root, of another signer, another issuer, expired, not yet valid, PEM, AMD's pinned ARK
 * without the test root);
 * Turin's 8-byte hwID and fmcSPL; the offline `--kds-dir` layout; malformed keys. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/collateral.h"
#include "attest/sim.h"
#include "attest/snp.h"
#include "attest/trust.h"
#include "core/util.h"
#include "net/http.h"
#include "../../common/pyserver.h"
#include "vectors.h"

#define T0 1735689600 /* 2025-01-01T00:00:00Z */

#define KDS_SERVER ATT_TEST_TOOLS "/kds_server.py"
#define VSNP       ATT_TEST_VECTORS_SNP

extern char **environ;

static char tmp[64], count_file[96];

/* ---- the python stand-in ---- */

typedef struct {
    py_server_t srv;
    int port;
    char url[64];
} kds_t;

static void kds_start(kds_t *s, const char *dir, const char *const *args)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = "--exit-on-stdin-eof";
    argv[n++] = "--count-file";
    argv[n++] = count_file;
    for (size_t i = 0; args && args[i]; i++)
        argv[n++] = args[i];
    argv[n++] = dir;
    argv[n] = NULL;
    char err[256];
    if (py_server_start(&s->srv, KDS_SERVER, argv, err, sizeof err) != 0)
        fail_msg("%s", err);
    s->port = s->srv.port;
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d/", s->port);
}

static void kds_stop(kds_t *s)
{
    py_server_stop(&s->srv);
}

/* The last request the stand-in logged, or "". */
static void last_request(char *out, size_t n)
{
    out[0] = 0;
    FILE *f = fopen(count_file, "r");
    if (f == NULL)
        return;
    char line[1024];
    while (fgets(line, sizeof(line), f))
        snprintf(out, n, "%s", line);
    fclose(f);
    out[strcspn(out, "\n")] = 0;
}

static int count_requests(void)
{
    FILE *f = fopen(count_file, "r");
    if (f == NULL)
        return 0;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* ---- files ---- */

static void write_file(const char *rel, const uint8_t *p, size_t n)
{
    char path[512], dir[512];
    snprintf(path, sizeof(path), "%s/kds/%s", tmp, rel);
    snprintf(dir, sizeof(dir), "%s", path);
    for (char *s = dir + strlen(tmp) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = 0;
        mkdir(dir, 0700);
        *s = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void kds_clear(void)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/kds'", tmp);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(count_file, "w");
    fclose(f);
}

static void read_vec(const char *rel, uint8_t **buf, size_t *len)
{
    char path[512];
    att_diag_t d;
    snprintf(path, sizeof(path), "%s/%s", VSNP, rel);
    if (att_read_file(path, 1 << 20, buf, len, &d) != ATT_OK)
        fail_msg("%s: %s", path, d.msg);
}

/* The first certificate of a DER or PEM file, as DER. */
static void vec_cert_der(const char *rel, uint8_t **der, size_t *len)
{
    uint8_t *buf;
    size_t n;
    read_vec(rel, &buf, &n);
    X509 *x = NULL;
    if (n > 10 && memcmp(buf, "-----BEGIN", 10) == 0) {
        BIO *b = BIO_new_mem_buf(buf, (int)n);
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
    } else {
        const unsigned char *p = buf;
        x = d2i_X509(NULL, &p, (long)n);
    }
    free(buf);
    assert_non_null(x);
    unsigned char *out = NULL;
    int l = i2d_X509(x, &out);
    assert_true(l > 0);
    *der = malloc((size_t)l);
    memcpy(*der, out, (size_t)l);
    *len = (size_t)l;
    OPENSSL_free(out);
    X509_free(x);
}

static att_time_t not_after(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    assert_non_null(x);
    struct tm tm;
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
    X509_free(x);
    return (att_time_t)timegm(&tm);
}

/* ---- the fetcher ---- */

static char warned[1024];

static void on_warn(void *arg, const char *msg)
{
    (void)arg;
    snprintf(warned, sizeof(warned), "%s", msg);
}

static void *cfg_new(const char *url, const att_trust_t *trust)
{
    void *cfg = NULL;
    att_diag_t d;
    att_snp_kds_opts_t o = {.base_url = url, .trust = trust};
    if (att_snp_kds_new(&o, &cfg, &d) != ATT_OK)
        fail_msg("att_snp_kds_new: %s", d.msg);
    return cfg;
}

/* fetch + load of key, as the collateral source does (deadline_ms 0: 10 s from now). */
static att_err_t get(void *cfg, const char *key, att_time_t now, att_snp_kds_obj_t **obj,
                     att_time_t *nu, att_coll_net_t *net_out, att_diag_t *d)
{
    const att_coll_fetcher_t *f = &att_snp_kds_fetcher;
    att_coll_net_t net = {.deadline_ms = 0, .timeout_ms = 10000, .warn = on_warn};
    if (net_out && net_out->deadline_ms)
        net.deadline_ms = net_out->deadline_ms;
    if (net.deadline_ms == 0)
        net.deadline_ms = att_net_mono_ms() + 10000;
    uint8_t *blob = NULL;
    size_t len = 0;
    *obj = NULL;
    warned[0] = 0;
    att_err_t e = f->check_key(cfg, key, d);
    if (e == ATT_OK)
        e = f->fetch(cfg, key, &net, &blob, &len, d);
    if (e == ATT_OK)
        e = f->load(cfg, key, blob, len, now, NULL, (void **)obj, nu, d);
    free(blob);
    if (net_out)
        *net_out = net;
    return e;
}

static void expect(att_err_t got, att_err_t want, const att_diag_t *d, const char *needle)
{
    if (got != want)
        fail_msg("got %s (%s), want %s", att_err_name(got), got ? d->msg : "", att_err_name(want));
    if (needle && strstr(d->msg, needle) == NULL)
        fail_msg("message '%s' does not say '%s'", d->msg, needle);
}

/* ---- the vectors ---- */

typedef struct {
    const char *report, *vcek, *at;
    const char *url_tail; /* the query the VCEK request must carry, or NULL */
} vec_t;

static const vec_t vecs[] = {
    {"go-sev-guest/report.bin", "go-sev-guest/vcek.der", "2025-01-01T00:00:00Z",
     "?blSPL=02&teeSPL=00&snpSPL=05&ucodeSPL=68"},
    {"trustee/report_vcek_milan.bin", "trustee/vcek_milan.der", "2025-01-01T00:00:00Z",
     "?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115"},
    {"trustee-e2e-genoa/report.bin", "trustee-e2e-genoa/vcek_genoa.der", "2026-01-01T00:00:00Z",
     NULL},
    {"azure-snp-vtpm/hcl_report_a.snp.bin", "azure-snp-vtpm/hcl_report_a.vcek_ask_ark.pem",
     "2025-01-01T00:00:00Z", NULL},
    {"azure-snp-vtpm/evidence_b.snp.bin", "azure-snp-vtpm/evidence_b.vcek.der",
     "2026-01-01T00:00:00Z", NULL},
    {"gcp-teekit/report_v5.bin", "gcp-teekit/vcek.pem", "2026-06-01T00:00:00Z", NULL},
};

static void vec_report(const vec_t *v, uint8_t **rep, size_t *rlen, att_snp_report_t *r)
{
    read_vec(v->report, rep, rlen);
    att_diag_t d;
    assert_int_equal(att_snp_report_parse(*rep, *rlen, r, &d), ATT_OK);
    if (r->product == ATT_SNP_PRODUCT_UNKNOWN) /* v2: the shared v2 vectors are Milan */
        r->product = ATT_SNP_MILAN;
}

static void serve_vcek(const att_snp_report_t *r, const uint8_t *der, size_t len)
{
    char chip[129], rel[256];
    att_hex_encode(r->chip_id, r->product == ATT_SNP_TURIN ? 8 : 64, chip);
    snprintf(rel, sizeof(rel), "vcek/v1/%s/%s", att_snp_product_name(r->product), chip);
    write_file(rel, der, len);
}

static void test_vectors(void **state)
{
    (void)state;
    VEC_SNP_REQUIRE();
    kds_clear();
    uint8_t *der[6];
    size_t dlen[6];
    for (size_t i = 0; i < 6; i++) {
        uint8_t *rep;
        size_t rl;
        att_snp_report_t r;
        vec_report(&vecs[i], &rep, &rl, &r);
        vec_cert_der(vecs[i].vcek, &der[i], &dlen[i]);
        serve_vcek(&r, der[i], dlen[i]);
        free(rep);
    }
    kds_t s;
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/kds", tmp);
    kds_start(&s, dir, NULL);
    void *cfg = cfg_new(s.url, NULL);
    for (size_t i = 0; i < 6; i++) {
        const vec_t *v = &vecs[i];
        uint8_t *rep;
        size_t rl;
        att_snp_report_t r;
        vec_report(v, &rep, &rl, &r);
        char key[ATT_COLL_KEY_MAX], req[1024];
        att_diag_t d;
        assert_int_equal(
            att_snp_kds_key_vcek(r.product, r.chip_id, r.reported_tcb, key, sizeof key, &d),
            ATT_OK);
        att_time_t now, nu = 0;
        assert_int_equal(att_time_parse(v->at, &now), ATT_OK);
        att_snp_kds_obj_t *o;
        att_coll_net_t net = {0};
        int before = count_requests();
        att_err_t e = get(cfg, key, now, &o, &nu, &net, &d);
        if (e != ATT_OK)
            fail_msg("%s: %s: %s", v->report, att_err_name(e), d.msg);
        assert_int_equal(count_requests(), before + 1); /* one GET per key */
        assert_int_equal(net.requests, 1);
        last_request(req, sizeof req);
        char chip[129], want[512];
        att_hex_encode(r.chip_id, 64, chip);
        snprintf(want, sizeof want, "GET /vcek/v1/%s/%s?", att_snp_product_name(r.product), chip);
        if (strncmp(req, want, strlen(want)) != 0)
            fail_msg("%s: request '%s', want '%s...'", v->report, req, want);
        if (v->url_tail && strcmp(req + strlen(want) - 1, v->url_tail) != 0)
            fail_msg("%s: request '%s', want the query '%s'", v->report, req, v->url_tail);
        assert_int_equal(o->kind, ATT_SNP_KDS_VCEK);
        assert_int_equal(o->product, r.product);
        assert_int_equal(o->len, dlen[i]);
        assert_memory_equal(o->der, der[i], dlen[i]);
        assert_int_equal(nu, not_after(der[i], dlen[i]));
        assert_int_equal(o->next_update, nu);
        /* the report verifies with what was fetched */
        att_snp_input_t in = {
            .report = rep, .report_len = rl, .vcek = o->der, .vcek_len = o->len, .now = now};
        att_snp_result_t res;
        if (att_snp_verify(&in, NULL, &res) != ATT_OK)
            fail_msg("%s: %s", v->report, res.diag.msg);
        /* a second reference outlives the first */
        att_snp_kds_obj_t *o2 = att_snp_kds_obj_ref(o);
        att_snp_kds_fetcher.release(o);
        assert_int_equal(o2->len, dlen[i]);
        att_snp_kds_obj_free(o2);
        free(rep);
    }
    att_snp_kds_fetcher.cfg_free(cfg);
    kds_stop(&s);
    for (size_t i = 0; i < 6; i++)
        free(der[i]);
}

/* A VCEK served under another chip's URL, or for another TCB, is refused at load. */
static void test_not_the_keys(void **state)
{
    (void)state;
    VEC_SNP_REQUIRE();
    kds_clear();
    uint8_t *rep, *other;
    size_t rl, ol;
    att_snp_report_t r;
    vec_report(&vecs[1], &rep, &rl, &r);     /* trustee's chip */
    vec_cert_der(vecs[0].vcek, &other, &ol); /* go-sev-guest's VCEK */
    serve_vcek(&r, other, ol);
    kds_t s;
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/kds", tmp);
    kds_start(&s, dir, NULL);
    void *cfg = cfg_new(s.url, NULL);
    char key[ATT_COLL_KEY_MAX];
    att_diag_t d;
    att_snp_kds_obj_t *o;
    att_time_t nu;
    assert_int_equal(
        att_snp_kds_key_vcek(r.product, r.chip_id, r.reported_tcb, key, sizeof key, &d), ATT_OK);
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_E_COLL_FORMAT, &d,
           "the Milan VCEK from http://127.0.0.1");
    assert_non_null(strstr(d.msg, "another chip: its hwID 3ac3fe21e13fb099"));
    assert_null(o);
    /* the chip's own VCEK, asked for another TCB (snpSPL + 1) */
    free(other);
    vec_cert_der(vecs[1].vcek, &other, &ol);
    serve_vcek(&r, other, ol);
    assert_int_equal(att_snp_kds_key_vcek(r.product, r.chip_id, r.reported_tcb + (1ull << 48), key,
                                          sizeof key, &d),
                     ATT_OK);
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_E_COLL_FORMAT, &d,
           "another TCB: its snpSPL is 8");
    /* the chip's Milan VCEK served as a Genoa one: issuer and productName are Milan's */
    char hex[129], rel[256];
    att_hex_encode(r.chip_id, 64, hex);
    snprintf(rel, sizeof rel, "vcek/v1/Genoa/%s", hex);
    write_file(rel, other, ol);
    assert_int_equal(
        att_snp_kds_key_vcek(ATT_SNP_GENOA, r.chip_id, r.reported_tcb, key, sizeof key, &d),
        ATT_OK);
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_E_COLL_FORMAT, &d,
           "issued by 'SEV-Milan', not SEV-VCEK issued by SEV-Genoa");
    att_snp_kds_fetcher.cfg_free(cfg);
    kds_stop(&s);
    free(other);
    free(rep);
}

/* ---- the test hierarchy: the library's simulated AMD one (att_sim_snp_*) ---- */

/* One chip of `product` whose VCEK is for `tcb`: RSA-2048 ARK/ASK (AMD's are 4096; the checks are
 * the same) valid from a year before T0 for ten years, the VCEK from T0 - 1 day for a year. */
typedef struct {
    att_sim_snp_t *sim;
    const uint8_t *chip; /* chip_id (64 bytes; Turin: 8 then zeros) */
    char chip_hex[129];  /* as KDS names the VCEK: 64 bytes, Turin's first 8 */
    att_slice_t vcek;    /* DER, borrowed from sim */
    att_sim_buf_t chain; /* KDS cert_chain: ASK then ARK, PEM */
    att_trust_t *trust;  /* the test ARK */
} pki_t;

static void pki_make(pki_t *p, att_snp_product_t product, uint64_t tcb)
{
    memset(p, 0, sizeof *p);
    att_sim_snp_opts_t o;
    att_sim_snp_opts_default(&o, product, T0);
    o.rsa_bits = 2048;
    o.tcb = tcb;
    for (int i = 0; i < ATT_SIM_SNP_N_CERTS; i++) {
        o.cert[i].not_before = T0 - 86400 * 365;
        o.cert[i].not_after = T0 + 86400 * 3650;
    }
    o.leaf_not_before = T0 - 86400;
    o.leaf_not_after = T0 + 86400 * 365;
    att_diag_t d;
    if (att_sim_snp_new(&o, &p->sim, &d) != ATT_OK ||
        att_sim_snp_leaf(p->sim, ATT_SNP_KEY_VCEK, 0, tcb, &p->vcek, &d) != ATT_OK ||
        att_sim_snp_cert_chain(p->sim, ATT_SNP_KEY_VCEK, &p->chain, &d) != ATT_OK)
        fail_msg("the simulated hierarchy: %s", d.msg);
    p->chip = att_sim_snp_chip_id(p->sim, 0);
    att_hex_encode(p->chip, product == ATT_SNP_TURIN ? 8 : 64, p->chip_hex);
    att_slice_t ark = att_sim_snp_cert_der(p->sim, ATT_SIM_SNP_ARK);
    p->trust = att_trust_new_empty();
    assert_non_null(p->trust);
    assert_int_equal(att_trust_add_root(p->trust, ark.ptr, ark.len, &d), ATT_OK);
}

static void pki_free(pki_t *p)
{
    att_trust_free(p->trust);
    free(p->chain.ptr);
    att_sim_snp_free(p->sim);
}

/* A KDS CRL valid from tu to nu, signed by `signer`'s key, issued by issuer_cn (NULL: the ARK's
 * name); revokes nothing. */
static size_t crl_make(const pki_t *p, att_sim_snp_cert_t signer, const char *issuer_cn,
                       att_time_t tu, att_time_t nu, uint8_t *out, size_t cap)
{
    att_sim_snp_crl_opts_t o;
    att_sim_snp_crl_opts_default(&o, T0);
    o.this_update = tu;
    o.next_update = nu;
    o.signer = signer;
    o.issuer_cn = issuer_cn;
    uint8_t *der;
    size_t len;
    att_diag_t d;
    if (att_sim_snp_crl_make(p->sim, &o, &der, &len, &d) != ATT_OK)
        fail_msg("CRL: %s", d.msg);
    assert_true(len <= cap);
    memcpy(out, der, len);
    free(der);
    return len;
}

/* Failure modes of the source: garbage, 500, 429 with Retry-After, the size cap, a slow answer. */
static void test_source_failures(void **state)
{
    (void)state;
    kds_clear();
    pki_t p;
    pki_make(&p, ATT_SNP_MILAN, att_sim_snp_tcb(ATT_SNP_MILAN, 3, 0, 8, 115, 0));
    char dir[128], key[ATT_COLL_KEY_MAX], rel[256];
    snprintf(rel, sizeof rel, "vcek/v1/Milan/%s", p.chip_hex);
    write_file(rel, p.vcek.ptr, p.vcek.len);
    snprintf(dir, sizeof(dir), "%s/kds", tmp);
    att_diag_t d;
    att_snp_kds_obj_t *o;
    att_time_t nu;
    assert_int_equal(
        att_snp_kds_key_vcek(ATT_SNP_MILAN, p.chip, 0x7308000000000003ull, key, sizeof key, &d),
        ATT_OK);
    kds_t s;
    void *cfg;

    /* the stand-in serving it as is: the test VCEK loads (its chain is the verifier's) */
    kds_start(&s, dir, NULL);
    cfg = cfg_new(s.url, NULL);
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_OK, &d, NULL);
    att_snp_kds_obj_free(o);
    att_snp_kds_fetcher.cfg_free(cfg);
    kds_stop(&s);

    /* garbage: refused at load, naming what it was, without the body */
    kds_start(&s, dir, (const char *const[]){"--garbage", NULL});
    cfg = cfg_new(s.url, NULL);
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_E_COLL_FORMAT, &d,
           "the Milan VCEK from http://127.0.0.1");
    assert_non_null(strstr(d.msg, "not a DER certificate"));
    assert_null(strstr(d.msg, "html"));
    att_snp_kds_fetcher.cfg_free(cfg);
    kds_stop(&s);

    /* 500: the status and the URL, the body only in the log */
    kds_start(&s, dir, (const char *const[]){"--fail-status", "500", NULL});
    cfg = cfg_new(s.url, NULL);
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_E_FETCH_STATUS, &d,
           "KDS answered HTTP 500 for the Milan VCEK (GET http://127.0.0.1");
    assert_null(strstr(d.msg, "injected"));
    assert_non_null(strstr(warned, "body: injected failure"));
    att_snp_kds_fetcher.cfg_free(cfg);
    kds_stop(&s);

    /* 429 with Retry-After: passed back to the source */
    kds_start(&s, dir, (const char *const[]){"--fail-status", "429", "--retry-after", "120", NULL});
    cfg = cfg_new(s.url, NULL);
    att_coll_net_t net = {0};
    expect(get(cfg, key, T0, &o, &nu, &net, &d), ATT_E_FETCH_STATUS, &d, "HTTP 429");
    assert_int_equal(net.retry_after, 120);
    att_snp_kds_fetcher.cfg_free(cfg);
    kds_stop(&s);

    /* the size cap: 64 kB passes the GET (and is no certificate), one byte more does not */
    kds_start(&s, dir, (const char *const[]){"--big", "65536", NULL});
    cfg = cfg_new(s.url, NULL);
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_E_COLL_FORMAT, &d, "65536 bytes that are not");
    att_snp_kds_fetcher.cfg_free(cfg);
    kds_stop(&s);
    kds_start(&s, dir, (const char *const[]){"--big", "65537", NULL});
    cfg = cfg_new(s.url, NULL);
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_E_FETCH, &d, "exceeds 65536 bytes");
    att_snp_kds_fetcher.cfg_free(cfg);
    kds_stop(&s);

    /* a slow answer: the fetch ends at its deadline */
    kds_start(&s, dir, (const char *const[]){"--delay", "5", NULL});
    cfg = cfg_new(s.url, NULL);
    net = (att_coll_net_t){.deadline_ms = att_net_mono_ms() + 300};
    expect(get(cfg, key, T0, &o, &nu, &net, &d), ATT_E_FETCH, &d, "timed out");
    att_snp_kds_fetcher.cfg_free(cfg);
    kds_stop(&s);

    /* no KDS URL: nothing to fetch */
    cfg = cfg_new(NULL, NULL);
    assert_false(att_snp_kds_fetcher.online(cfg));
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_E_COLL_MISSING, &d, "no KDS URL");
    att_snp_kds_fetcher.cfg_free(cfg);
    pki_free(&p);
}

/* CRLs on the test hierarchy. */
static void test_crl(void **state)
{
    (void)state;
    kds_clear();
    uint8_t rep[ATT_SNP_REPORT_LEN], crl[8192];
    pki_t p;
    pki_make(&p, ATT_SNP_MILAN, 0xD908000000000003ull);
    att_sim_snp_report_opts_t ro;
    att_sim_snp_report_opts_default(p.sim, &ro, 0, 3);
    char dir[128], key[ATT_COLL_KEY_MAX], vkey[ATT_COLL_KEY_MAX], req[512];
    snprintf(dir, sizeof(dir), "%s/kds", tmp);
    att_diag_t d;
    assert_int_equal(att_sim_snp_report(p.sim, &ro, rep, &d), ATT_OK);
    att_snp_kds_obj_t *o;
    att_time_t nu;
    assert_int_equal(att_snp_kds_key_crl(ATT_SNP_MILAN, ATT_SNP_KEY_VCEK, key, sizeof key, &d),
                     ATT_OK);
    assert_string_equal(key, "kds/milan/crl");
    assert_int_equal(att_snp_kds_key_crl(ATT_SNP_MILAN, ATT_SNP_KEY_VLEK, vkey, sizeof vkey, &d),
                     ATT_OK);
    assert_string_equal(vkey, "kds/milan/vlek-crl");
    kds_t s;
    kds_start(&s, dir, NULL);
    void *cfg = cfg_new(s.url, p.trust), *pinned_only = cfg_new(s.url, NULL);

    /* signed by the test ARK: accepted with the test root, current at T0; nextUpdate */
    size_t n = crl_make(&p, ATT_SIM_SNP_ARK, "ARK-Milan", T0 - 86400, T0 + 86400, crl, sizeof crl);
    write_file("vcek/v1/Milan/crl", crl, n);
    write_file("vlek/v1/Milan/crl", crl, n);
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_OK, &d, NULL);
    last_request(req, sizeof req);
    assert_string_equal(req, "GET /vcek/v1/Milan/crl");
    assert_int_equal(nu, T0 + 86400);
    assert_int_equal(o->kind, ATT_SNP_KDS_CRL);
    assert_int_equal(o->key_kind, ATT_SNP_KEY_VCEK);
    assert_int_equal(o->len, n);
    assert_memory_equal(o->der, crl, n);
    /* and the verifier takes it */
    att_snp_input_t in = {.report = rep,
                          .report_len = ATT_SNP_REPORT_LEN,
                          .vcek = p.vcek.ptr,
                          .vcek_len = p.vcek.len,
                          .chain = p.chain.ptr,
                          .chain_len = p.chain.len,
                          .crl = o->der,
                          .crl_len = o->len,
                          .trust = p.trust,
                          .now = T0};
    att_snp_result_t res;
    if (att_snp_verify(&in, NULL, &res) != ATT_OK)
        fail_msg("verify with the fetched CRL: %s", res.diag.msg);
    att_snp_kds_obj_free(o);
    expect(get(cfg, vkey, T0, &o, &nu, NULL, &d), ATT_OK, &d, NULL);
    last_request(req, sizeof req);
    assert_string_equal(req, "GET /vlek/v1/Milan/crl");
    assert_int_equal(o->key_kind, ATT_SNP_KEY_VLEK);
    att_snp_kds_obj_free(o);

    /* without the test root, only AMD's pinned ARK-Milan may sign it */
    expect(get(pinned_only, key, T0, &o, &nu, NULL, &d), ATT_E_CRL_SIGNATURE, &d,
           "does not verify with AMD's pinned ARK-Milan");
    /* outside its dates */
    expect(get(cfg, key, T0 + 2 * 86400, &o, &nu, NULL, &d), ATT_E_CRL_EXPIRED, &d,
           "the Milan VCEK CRL from http://127.0.0.1");
    expect(get(cfg, key, T0 - 2 * 86400, &o, &nu, NULL, &d), ATT_E_CRL_NOT_YET_VALID, &d, NULL);
    /* signed by another key (the ASK's) */
    n = crl_make(&p, ATT_SIM_SNP_ASK, "ARK-Milan", T0 - 86400, T0 + 86400, crl, sizeof crl);
    write_file("vcek/v1/Milan/crl", crl, n);
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_E_CRL_SIGNATURE, &d, NULL);
    /* issued by another product's ARK, for Milan's key */
    n = crl_make(&p, ATT_SIM_SNP_ARK, "ARK-Genoa", T0 - 86400, T0 + 86400, crl, sizeof crl);
    write_file("vcek/v1/Milan/crl", crl, n);
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_E_CRL_ISSUER, &d,
           "issued by 'ARK-Genoa', not by ARK-Milan");
    /* PEM and garbage: not the DER KDS serves */
    write_file("vcek/v1/Milan/crl", (const uint8_t *)"-----BEGIN X509 CRL-----\n", 25);
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_E_CRL_PARSE, &d, "not a DER CRL");
    write_file("vcek/v1/Milan/crl", (const uint8_t *)"\x30\x03\x02\x01\x00", 5);
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_E_CRL_PARSE, &d, NULL);

    att_snp_kds_fetcher.cfg_free(cfg);
    att_snp_kds_fetcher.cfg_free(pinned_only);
    kds_stop(&s);
    pki_free(&p);
}

/* Turin: the hwID is chip_id's first 8 bytes, the query starts with fmcSPL. */
static void test_turin(void **state)
{
    (void)state;
    kds_clear();
    /* fmc 7, bl 4, tee 1, snp 22, ucode 0x55: Turin's layout puts fmc first */
    uint64_t tcb = 7ull | 4ull << 8 | 1ull << 16 | 22ull << 24 | 0x55ull << 56;
    assert_int_equal(att_sim_snp_tcb(ATT_SNP_TURIN, 4, 1, 22, 0x55, 7), tcb);
    pki_t p;
    pki_make(&p, ATT_SNP_TURIN, tcb);
    char dir[128], key[ATT_COLL_KEY_MAX], req[512], rel[256], want[512];
    snprintf(rel, sizeof rel, "vcek/v1/Turin/%s", p.chip_hex);
    assert_int_equal(strlen(p.chip_hex), 16); /* Turin's hwID: 8 bytes */
    write_file(rel, p.vcek.ptr, p.vcek.len);
    snprintf(dir, sizeof(dir), "%s/kds", tmp);
    att_diag_t d;
    assert_int_equal(att_snp_kds_key_vcek(ATT_SNP_TURIN, p.chip, tcb, key, sizeof key, &d), ATT_OK);
    snprintf(want, sizeof want, "kds/turin/vcek/%s/5500000016010407", p.chip_hex);
    assert_string_equal(key, want);
    kds_t s;
    kds_start(&s, dir, NULL);
    void *cfg = cfg_new(s.url, NULL);
    att_snp_kds_obj_t *o;
    att_time_t nu;
    expect(get(cfg, key, T0, &o, &nu, NULL, &d), ATT_OK, &d, NULL);
    last_request(req, sizeof req);
    snprintf(want, sizeof want,
             "GET /vcek/v1/Turin/%s?fmcSPL=07&blSPL=04&teeSPL=01&snpSPL=22&ucodeSPL=85",
             p.chip_hex);
    assert_string_equal(req, want);
    att_snp_kds_obj_free(o);
    /* Milan's layout for the same bytes: byte 4 (Turin's reserved) is set */
    expect(att_snp_kds_key_vcek(ATT_SNP_TURIN, p.chip, tcb | 1ull << 32, key, sizeof key, &d),
           ATT_E_ARG, &d, "reserved bytes set for Turin");
    att_snp_kds_fetcher.cfg_free(cfg);
    kds_stop(&s);
    pki_free(&p);
}

/* ---- offline ---- */

typedef struct {
    char keys[8][ATT_COLL_KEY_MAX];
    att_time_t nu[8];
    size_t n;
} found_t;

static att_err_t on_found(void *arg, const char *key, void *obj, att_time_t nu, att_diag_t *d)
{
    (void)d;
    found_t *f = arg;
    assert_true(f->n < 8);
    snprintf(f->keys[f->n], ATT_COLL_KEY_MAX, "%s", key);
    f->nu[f->n++] = nu;
    att_snp_kds_fetcher.release(obj);
    return ATT_OK;
}

static void test_offline(void **state)
{
    (void)state;
    kds_clear();
    uint8_t crl[8192];
    pki_t p;
    pki_make(&p, ATT_SNP_MILAN, 0xD908000000000003ull);
    char dir[128], hex[129], rel[256];
    snprintf(dir, sizeof(dir), "%s/kds", tmp);
    snprintf(rel, sizeof rel, "vcek/v1/Milan/%s", p.chip_hex);
    write_file(rel, p.vcek.ptr, p.vcek.len);
    size_t n = crl_make(&p, ATT_SIM_SNP_ARK, "ARK-Milan", T0 - 86400, T0 + 86400, crl, sizeof crl);
    write_file("vcek/v1/Milan/crl", crl, n);
    write_file("vcek/v1/Milan/cert_chain", p.chain.ptr, p.chain.len);
    void *cfg = cfg_new(NULL, p.trust);
    found_t f = {0};
    att_diag_t d;
    expect(att_snp_kds_fetcher.offline(cfg, dir, 0, on_found, &f, &d), ATT_OK, &d, NULL);
    assert_int_equal(f.n, 3);
    char want[ATT_COLL_KEY_MAX];
    /* the TCB comes from the certificate: bl 3, snp 8, ucode 0xd9 */
    snprintf(want, sizeof want, "kds/milan/vcek/%s/d908000000000003", p.chip_hex);
    /* in the order of the file names: the chip's hex sorts anywhere among them */
    size_t iv = 3, ic = 3, ir = 3;
    for (size_t i = 0; i < f.n; i++) {
        if (!strcmp(f.keys[i], want))
            iv = i;
        else if (!strcmp(f.keys[i], "kds/milan/cert_chain"))
            ic = i;
        else if (!strcmp(f.keys[i], "kds/milan/crl"))
            ir = i;
    }
    if (iv == 3 || ic == 3 || ir == 3)
        fail_msg("keys found: %s, %s, %s", f.keys[0], f.keys[1], f.keys[2]);
    assert_int_equal(f.nu[iv], T0 + 86400 * 365);
    assert_int_equal(f.nu[ir], T0 + 86400);

    /* cert_chain: ASK then ARK of the product; another order or product is refused */
    void *obj = NULL;
    att_time_t nu = 0;
    expect(att_snp_kds_fetcher.load(cfg, "kds/milan/cert_chain", p.chain.ptr, p.chain.len, T0, NULL,
                                    &obj, &nu, &d),
           ATT_OK, &d, NULL);
    assert_int_equal(((att_snp_kds_obj_t *)obj)->kind, ATT_SNP_KDS_CHAIN);
    att_snp_kds_obj_free(obj);
    expect(att_snp_kds_fetcher.load(cfg, "kds/genoa/cert_chain", p.chain.ptr, p.chain.len, T0, NULL,
                                    &obj, &nu, &d),
           ATT_E_COLL_FORMAT, &d, "not SEV-Genoa");
    expect(att_snp_kds_fetcher.load(cfg, "kds/milan/vlek-cert_chain", p.chain.ptr, p.chain.len, T0,
                                    NULL, &obj, &nu, &d),
           ATT_E_COLL_FORMAT, &d, "SEV-VLEK-Milan");
    expect(att_snp_kds_fetcher.load(cfg, "kds/milan/cert_chain", (const uint8_t *)"junk", 4, T0,
                                    NULL, &obj, &nu, &d),
           ATT_E_COLL_FORMAT, &d, "not two PEM certificates");

    /* a VCEK filed under another chip's name is refused, naming the file */
    memset(hex, 'a', 128);
    hex[128] = 0;
    assert_string_not_equal(hex, p.chip_hex);
    snprintf(rel, sizeof rel, "vcek/v1/Milan/%s", hex);
    write_file(rel, p.vcek.ptr, p.vcek.len);
    f.n = 0;
    expect(att_snp_kds_fetcher.offline(cfg, dir, 0, on_found, &f, &d), ATT_E_COLL_FORMAT, &d,
           "another chip");
    assert_non_null(strstr(d.msg, hex));
    /* none of the fetcher's files */
    kds_clear();
    write_file("README", (const uint8_t *)"x", 1);
    expect(att_snp_kds_fetcher.offline(cfg, dir, 0, on_found, &f, &d), ATT_E_COLL_MISSING, &d,
           "holds no KDS answer");
    att_snp_kds_fetcher.cfg_free(cfg);
    pki_free(&p);
}

/* Keys: only the canonical form is a key. */
static void test_keys(void **state)
{
    (void)state;
    void *cfg = cfg_new(NULL, NULL);
    att_diag_t d;
    char h128[129], key[400];
    memset(h128, 'a', 128);
    h128[128] = 0;
    const char *good[] = {"kds/milan/crl", "kds/genoa/vlek-crl", "kds/turin/crl"};
    for (size_t i = 0; i < 3; i++)
        expect(att_snp_kds_fetcher.check_key(cfg, good[i], &d), ATT_OK, &d, NULL);
    snprintf(key, sizeof key, "kds/milan/vcek/%s/7308000000000003", h128);
    expect(att_snp_kds_fetcher.check_key(cfg, key, &d), ATT_OK, &d, NULL);
    /* each: the text before the hwID, the hwID's length in hex, the text after it */
    const struct {
        const char *pre;
        int hex;
        const char *post;
    } bad[] = {
        {"kds/milan/vcek/", 128, "/7308000000000003/"}, /* trailing '/' */
        {"kds/Milan/vcek/", 128, "/7308000000000003"},  /* product case */
        {"kds/rome/vcek/", 128, "/7308000000000003"},   /* no such product */
        {"kds/milan/vcek/", 128, "/730800000000003"},   /* 15 hex */
        {"kds/milan/vcek/", 128, "/7308000000010003"},  /* a reserved TCB byte */
        {"kds/milan/vcek/", 16, "/7308000000000003"},   /* a Turin-length hwID for Milan */
        {"kds/turin/vcek/", 128, "/7308000000000003"},  /* a Milan-length hwID for Turin */
        {"kds/milan/vcek/", 128, "/7308000000000003x"}, /* trailing junk */
        {"kds/milan/ark", 0, ""},                       /* not a key of this fetcher */
        {"kds/milan/cert_chain/", 0, ""},
        {"kds/milan/crl/", 0, ""},
        {"dcap/milan/crl", 0, ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(key, sizeof key, "%s%.*s%s", bad[i].pre, bad[i].hex, h128, bad[i].post);
        expect(att_snp_kds_fetcher.check_key(cfg, key, &d), ATT_E_ARG, &d, "not an AMD KDS key");
    }
    h128[5] = 'A'; /* uppercase hex */
    snprintf(key, sizeof key, "kds/milan/vcek/%s/7308000000000003", h128);
    expect(att_snp_kds_fetcher.check_key(cfg, key, &d), ATT_E_ARG, &d, NULL);
    memset(h128, '0', 128); /* a zero chip id (MASK_CHIP_ID) */
    snprintf(key, sizeof key, "kds/milan/vcek/%s/7308000000000003", h128);
    expect(att_snp_kds_fetcher.check_key(cfg, key, &d), ATT_E_ARG, &d, NULL);
    uint8_t zero[64] = {0};
    expect(att_snp_kds_key_vcek(ATT_SNP_MILAN, zero, 0, key, sizeof key, &d), ATT_E_ARG, &d,
           "chip_id is zero");
    uint8_t chip[64];
    memset(chip, 1, 64);
    expect(att_snp_kds_key_vcek(ATT_SNP_PRODUCT_UNKNOWN, chip, 0, key, sizeof key, &d), ATT_E_ARG,
           &d, "Milan, Genoa or Turin");
    expect(att_snp_kds_key_vcek(ATT_SNP_MILAN, chip, 0, key, 100, &d), ATT_E_ARG, &d, "too small");
    /* load refuses a key that is not one, whatever the blob */
    void *obj;
    att_time_t nu;
    expect(att_snp_kds_fetcher.load(cfg, "kds/milan/nope", (const uint8_t *)"x", 1, T0, NULL, &obj,
                                    &nu, &d),
           ATT_E_ARG, &d, NULL);
    /* the URL */
    void *c2;
    expect(att_snp_kds_new(&(att_snp_kds_opts_t){.base_url = "ftp://x"}, &c2, &d), ATT_E_ARG, &d,
           "http(s)://");
    att_snp_kds_fetcher.cfg_free(cfg);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/test_kds.XXXXXX");
    if (mkdtemp(tmp) == NULL)
        return -1;
    snprintf(count_file, sizeof count_file, "%s/requests.log", tmp);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_not_the_keys),
        cmocka_unit_test(test_source_failures),
        cmocka_unit_test(test_crl),
        cmocka_unit_test(test_turin),
        cmocka_unit_test(test_offline),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
