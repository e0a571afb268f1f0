/* test_tpm.c - the Tpm type's final round through the evidence registry, on the shared swtpm-rsa
 * vector: its AK pinned (att_ev_set_add_key_file "tpm-ak", as PEM and as TPM2B_PUBLIC), the
 * round-2 message built from the vector's quote, signature and PCR values, and the challenge
 * given by the input's open callback. Accepted with the PCR and AK-name claims; refused: an AK
 * not pinned (the context is then not spent), a challenge that is not the quote's nonce, a
 * tampered PCR value, a quoted PCR without a value (or twice), a bank outside the quote, a
 * context the callback refuses, a missing service_context, an unusable key file and an unknown
 * key kind.
 * With a real software TPM (tests/unit/tpm/swtpm-ek.sh; skipped with one line when swtpm cannot
 * start), the AK trust ways of docs/tpm.md: EK credential activation (round 1 "activate" with the
 * RSA or the ECC P-384 EK certificate, the TPM's ActivateCredential gives the challenge, a quote
 * with it is accepted as "ek-activation"; refused: the context reused, another AK than the one
 * activated, an EK certificate of another CA, activation not configured, an ek_pub that is not
 * the certificate's key) and AK certificates (accepted from the root and through a presented
 * intermediate; refused: a certificate of another key, one expired at the verification time,
 * an AK with neither pin nor certificate, which names the configured ways); and the event-log
 * budget given as a limit of the set. MAA's request v2 with the tpm_certify binding, through ESYS
 * on the same TPM: a primary AK (pinned) certifies a primary ECC P-256 request key with the
 * challenge, quotes with the challenge, and the request key signs the JWS (ES256) in the TPM;
 * accepted with the policy key object as claim; refused: a certification over another nonce, a
 * "public" of another key than the JWK, an unsigned-looking JWS (alg none). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/evp.h>

#include <cmocka.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "attest/evidence.h"
#include "attest/token.h"
#include "attest/tpm.h"
#include "core/util.h"

typedef struct {
    uint8_t *p;
    size_t n;
} buf_t;

static bool have_vectors(void)
{
    if (ATT_TEST_VECTORS_TPM[0] != '\0')
        return true;
    static bool said;
    if (!said) {
        said = true;
        printf("SKIP %s: no TPM vectors (set ATTESTD_VECTORS=DIR, see docs/testing.md)\n",
               ATT_TEST_NAME);
        fflush(stdout);
    }
    return false;
}

static char *path_of(const char *rel)
{
    static char p[2048];
    snprintf(p, sizeof p, "%s/%s", ATT_TEST_VECTORS_TPM, rel);
    return p;
}

static buf_t rd(const char *rel)
{
    buf_t b = {0};
    att_diag_t d;
    if (att_read_file(path_of(rel), 1 << 20, &b.p, &b.n, &d) != ATT_OK)
        fail_msg("%s: %s", rel, d.msg);
    return b;
}

/* The open callback: gives `nonce` once per call, or refuses like attestd's spent tokens. */
typedef struct {
    uint8_t nonce[64];
    size_t len;
    int calls;
    bool refuse;
} opener_t;

static att_err_t fake_open(void *arg, const char *purpose, const char *token, uint8_t **data,
                           size_t *len, att_diag_t *diag)
{
    opener_t *o = arg;
    o->calls++;
    assert_string_equal(purpose, "service context");
    assert_string_equal(token, "SC");
    if (o->refuse)
        return att_diag_set(diag, ATT_E_CHALLENGE, "the service context was used already");
    *data = malloc(o->len);
    memcpy(*data, o->nonce, o->len);
    *len = o->len;
    return ATT_OK;
}

/* The round-2 request of the vector: pcrs from pcrs.values in the quote's selection order. */
static json_t *request(void)
{
    buf_t ak = rd("swtpm-rsa/ak.tpm2b_public"), q = rd("swtpm-rsa/quote.msg"),
          s = rd("swtpm-rsa/quote.sig"), v = rd("swtpm-rsa/pcrs.values");
    att_tpm_attest_t a;
    att_diag_t d;
    assert_int_equal(att_tpm_attest_parse(q.p, q.n, &a, &d), ATT_OK);
    json_t *pcrs = json_array();
    size_t off = 0;
    for (size_t b = 0; b < a.nsel; b++) {
        size_t ds = a.sel[b].alg == ATT_TPM_ALG_SHA1     ? 20
                    : a.sel[b].alg == ATT_TPM_ALG_SHA256 ? 32
                    : a.sel[b].alg == ATT_TPM_ALG_SHA384 ? 48
                                                         : 64;
        json_t *vals = json_array();
        for (int i = 0; i < ATT_TPM_NUM_PCRS; i++) {
            if (!(a.sel[b].mask & (1u << i)))
                continue;
            char h[129];
            assert_true(off + ds <= v.n);
            att_hex_encode(v.p + off, ds, h);
            off += ds;
            json_array_append_new(vals, json_pack("{s:i,s:s}", "index", i, "digest", h));
        }
        json_array_append_new(pcrs, json_pack("{s:s,s:o}", "algorithm",
                                              att_tpm_alg_name(a.sel[b].alg), "values", vals));
    }
    assert_int_equal(off, v.n);
    char *akb = att_b64url_encode(ak.p, ak.n), *qb = att_b64url_encode(q.p, q.n),
         *sb = att_b64url_encode(s.p, s.n);
    json_t *r = json_pack("{s:{s:s,s:s,s:s,s:s,s:o}}", "request", "service_context", "SC", "ak",
                          akb, "quote", qb, "signature", sb, "pcrs", pcrs);
    free(akb);
    free(qb);
    free(sb);
    free(ak.p);
    free(q.p);
    free(s.p);
    free(v.p);
    return r;
}

static opener_t opener(void)
{
    opener_t o = {0};
    buf_t h = rd("swtpm-rsa/nonce.hex");
    while (h.n > 0 && (h.p[h.n - 1] == '\n' || h.p[h.n - 1] == ' '))
        h.n--;
    o.len = h.n / 2;
    assert_true(o.len <= sizeof o.nonce);
    assert_true(att_hex_decode((const char *)h.p, h.n, o.nonce, o.len));
    free(h.p);
    return o;
}

/* Verify msg as the Tpm type's final round; the result is left in *r (cleared by the caller). */
static att_err_t run(att_ev_set_t *set, const json_t *msg, opener_t *o, att_ev_result_t *r)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    att_ev_input_t in = {.evidence = (const uint8_t *)text,
                         .len = strlen(text),
                         .now = 1700000000,
                         .open = fake_open,
                         .open_arg = o};
    att_err_t e = att_ev_verify(set, att_ev_type_find("Tpm"), &in, r);
    free(text);
    return e;
}

static att_ev_set_t *pinned_set(const char *rel)
{
    att_ev_set_t *set;
    att_diag_t d;
    assert_int_equal(att_ev_set_new(&set, &d), ATT_OK);
    if (rel != NULL)
        assert_int_equal(att_ev_set_add_key_file(set, "tpm-ak", path_of(rel), &d), ATT_OK);
    return set;
}

static void test_accepted(void **state)
{
    (void)state;
    if (!have_vectors())
        skip();
    const char *pins[] = {"swtpm-rsa/ak.pub.pem", "swtpm-rsa/ak.tpm2b_public"};
    for (int k = 0; k < 2; k++) {
        att_ev_set_t *set = pinned_set(pins[k]);
        json_t *msg = request();
        opener_t o = opener();
        att_ev_result_t r;
        att_err_t e = run(set, msg, &o, &r);
        if (e != ATT_OK)
            fail_msg("%s: %s", pins[k], r.diag.msg);
        assert_int_equal(o.calls, 1);
        /* every presented value is in the claims, bank by bank */
        json_t *cp = json_object_get(r.claims, "x-attestd-tpm-pcrs");
        json_t *banks = json_object_get(json_object_get(msg, "request"), "pcrs"), *bank;
        size_t i;
        json_array_foreach(banks, i, bank)
        {
            const char *alg = json_string_value(json_object_get(bank, "algorithm"));
            json_t *v;
            size_t j;
            json_array_foreach(json_object_get(bank, "values"), j, v)
            {
                char key[4];
                snprintf(key, sizeof key, "%d",
                         (int)json_integer_value(json_object_get(v, "index")));
                assert_string_equal(
                    json_string_value(json_object_get(json_object_get(cp, alg), key)),
                    json_string_value(json_object_get(v, "digest")));
            }
        }
        buf_t name = rd("swtpm-rsa/ak.name");
        char hex[2 * 68 + 1];
        att_hex_encode(name.p, name.n, hex);
        assert_string_equal(json_string_value(json_object_get(r.claims, "x-attestd-tpm-ak-name")),
                            hex);
        assert_non_null(json_object_get(r.claims, "x-attestd-tpm-clock"));
        assert_non_null(json_object_get(r.claims, "x-attestd-tpm-firmware-version"));
        free(name.p);
        att_ev_result_clear(&r);
        json_decref(msg);
        att_ev_set_free(set);
    }
}

/* The AK cache (--tpm-ak-cache) of one AK, two encodings of it alternating: each is evicted by
 * the other and loaded again, a repeat is a hit, and a hit gives what a load gives (the
 * TPM2B_PUBLIC's name claim, only for that form). Over the bound is refused. */
static void test_ak_cache(void **state)
{
    (void)state;
    if (!have_vectors())
        skip();
    att_ev_set_t *set = pinned_set("swtpm-rsa/ak.pub.pem");
    att_diag_t d;
    assert_int_equal(att_ev_set_limit(set, "tpm-ak-cache", 1, &d), ATT_OK);
    assert_int_equal(att_ev_set_limit(set, "tpm-ak-cache", 65537, &d), ATT_E_ARG);
    json_t *tpm2b = request(), *pem = request();
    buf_t k = rd("swtpm-rsa/ak.pub.pem");
    char *kb = att_b64url_encode(k.p, k.n);
    json_object_set_new(json_object_get(pem, "request"), "ak", json_string(kb));
    free(kb);
    free(k.p);
    json_t *seq[] = {tpm2b, tpm2b, pem, pem, tpm2b, pem};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        opener_t o = opener();
        att_ev_result_t r;
        if (run(set, seq[i], &o, &r) != ATT_OK)
            fail_msg("request %zu: %s", i, r.diag.msg);
        assert_int_equal(json_object_get(r.claims, "x-attestd-tpm-ak-name") != NULL,
                         seq[i] == tpm2b);
        assert_string_equal(json_string_value(json_object_get(r.claims, "x-attestd-tpm-ak-trust")),
                            "pinned");
        att_ev_result_clear(&r);
    }
    /* a changed byte of the cached AK's encoding is another key to load, and refused */
    json_t *bad = request();
    json_t *jr = json_object_get(bad, "request");
    char *ak = strdup(json_string_value(json_object_get(jr, "ak")));
    ak[strlen(ak) - 5] = ak[strlen(ak) - 5] == 'A' ? 'B' : 'A';
    json_object_set_new(jr, "ak", json_string(ak));
    free(ak);
    opener_t o = opener();
    att_ev_result_t r;
    assert_int_not_equal(run(set, bad, &o, &r), ATT_OK);
    att_ev_result_clear(&r);
    json_decref(bad);
    json_decref(tpm2b);
    json_decref(pem);
    att_ev_set_free(set);
}

static void expect(att_ev_set_t *set, json_t *msg, opener_t *o, att_err_t want, const char *text)
{
    att_ev_result_t r;
    att_err_t e = run(set, msg, o, &r);
    if (e != want || strstr(r.diag.msg, text) == NULL)
        fail_msg("want %s (\"%s\"), got %s: %s", att_err_name(want), text, att_err_name(e),
                 r.diag.msg);
    att_ev_result_clear(&r);
}

static void test_refused(void **state)
{
    (void)state;
    if (!have_vectors())
        skip();
    json_t *msg = request();
    json_t *req = json_object_get(msg, "request");
    opener_t o = opener();

    /* no AK pinned, then another key pinned: refused before the context is opened */
    att_ev_set_t *none = pinned_set(NULL);
    expect(none, msg, &o, ATT_E_TPM_AK, "--tpm-ak");
    att_ev_set_free(none);
    att_ev_set_t *other = pinned_set("swtpm-rsa/ek.pem");
    expect(other, msg, &o, ATT_E_TPM_AK, "none of the keys pinned");
    att_ev_set_free(other);
    assert_int_equal(o.calls, 0);

    att_ev_set_t *set = pinned_set("swtpm-rsa/ak.pub.pem");
    /* a challenge the quote was not made with */
    o.nonce[0] ^= 1;
    expect(set, msg, &o, ATT_E_TPM_NONCE, "");
    o.nonce[0] ^= 1;
    /* the context refused (spent, expired, foreign) */
    o.refuse = true;
    expect(set, msg, &o, ATT_E_CHALLENGE, "used already");
    o.refuse = false;

    /* a tampered PCR value */
    json_t *v0 = json_array_get(
        json_object_get(json_array_get(json_object_get(req, "pcrs"), 0), "values"), 0);
    char *d = strdup(json_string_value(json_object_get(v0, "digest")));
    char *bent = strdup(d);
    bent[0] = bent[0] == '1' ? '2' : '1';
    json_object_set_new(v0, "digest", json_string(bent));
    expect(set, msg, &o, ATT_E_TPM_PCR_DIGEST, "");
    json_object_set_new(v0, "digest", json_string(d));

    /* values of a bank the quote does not cover (its selection has no sha384) */
    json_t *pcrs = json_object_get(req, "pcrs");
    json_array_append_new(pcrs, json_pack("{s:s,s:[]}", "algorithm", "sha384", "values"));
    expect(set, msg, &o, ATT_E_EVIDENCE_FORMAT, "bank sha384, which the quote does not cover");
    json_array_remove(pcrs, json_array_size(pcrs) - 1);
    json_t *vals = json_object_get(json_array_get(pcrs, 0), "values");
    /* a quoted PCR without its value */
    json_t *last = json_incref(json_array_get(vals, json_array_size(vals) - 1));
    json_array_remove(vals, json_array_size(vals) - 1);
    expect(set, msg, &o, ATT_E_EVIDENCE_FORMAT, "no value for it");
    /* the same PCR twice */
    json_array_append(vals, last);
    json_array_append(vals, last);
    expect(set, msg, &o, ATT_E_EVIDENCE_FORMAT, "twice");
    json_array_remove(vals, json_array_size(vals) - 1);
    json_decref(last);

    /* no service_context */
    json_object_del(req, "service_context");
    expect(set, msg, &o, ATT_E_EVIDENCE_FORMAT, "service_context");
    free(d);
    free(bent);
    json_decref(msg);

    /* key files: an unusable one names the file; an unknown kind is refused */
    att_diag_t dg;
    assert_int_equal(att_ev_set_add_key_file(set, "tpm-ak", path_of("swtpm-rsa/quote.msg"), &dg),
                     ATT_E_EVIDENCE_FORMAT);
    assert_non_null(strstr(dg.msg, "quote.msg"));
    assert_int_equal(att_ev_set_add_key_file(set, "sgx-key", path_of("swtpm-rsa/ak.pub.pem"), &dg),
                     ATT_E_ARG);
    att_ev_set_free(set);
}

/* ---- a real TPM ---- */

static char g_dir[256];
static bool g_tpm;

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static buf_t trd(const char *rel)
{
    char p[512];
    buf_t b = {0};
    att_diag_t d;
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    if (att_read_file(p, 1 << 20, &b.p, &b.n, &d) != ATT_OK)
        fail_msg("%s: %s", rel, d.msg);
    return b;
}

static char *tpath(const char *rel)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    return p;
}

static char *b64f(const char *rel)
{
    buf_t b = trd(rel);
    char *s = att_b64url_encode(b.p, b.n);
    free(b.p);
    return s;
}

/* Sealed tokens kept in memory, opened once (as attestd's are spent once). */
typedef struct {
    uint8_t data[1024];
    size_t len;
    bool spent;
} sealed_t;
static sealed_t g_sealed[64];
static size_t g_nsealed;

static char *mem_seal(void *arg, const char *purpose, const uint8_t *data, size_t len,
                      att_time_t expires)
{
    (void)arg;
    (void)purpose;
    (void)expires;
    assert_true(g_nsealed < 64 && len <= 1024);
    memcpy(g_sealed[g_nsealed].data, data, len);
    g_sealed[g_nsealed].len = len;
    char *t = malloc(16);
    snprintf(t, 16, "T%zu", g_nsealed++);
    return t;
}

static att_err_t mem_open(void *arg, const char *purpose, const char *token, uint8_t **data,
                          size_t *len, att_diag_t *diag)
{
    (void)arg;
    (void)purpose;
    size_t i = (size_t)atoi(token + 1);
    if (token[0] != 'T' || i >= g_nsealed)
        return att_diag_set(diag, ATT_E_CHALLENGE,
                            "the service context is not one this service made");
    if (g_sealed[i].spent)
        return att_diag_set(diag, ATT_E_CHALLENGE, "the service context was used already");
    g_sealed[i].spent = true;
    *data = malloc(g_sealed[i].len);
    memcpy(*data, g_sealed[i].data, g_sealed[i].len);
    *len = g_sealed[i].len;
    return ATT_OK;
}

/* A set with the swtpm's EK CA and the test AK CA (either may be left out). */
static att_ev_set_t *tpm_set(bool ek_ca, bool ak_ca)
{
    att_ev_set_t *set;
    att_diag_t d;
    assert_int_equal(att_ev_set_new(&set, &d), ATT_OK);
    if (ek_ca && att_ev_set_add_key_file(set, "tpm-ek-ca", tpath("ca.pem"), &d) != ATT_OK)
        fail_msg("%s", d.msg);
    if (ak_ca && att_ev_set_add_key_file(set, "tpm-ak-ca", tpath("akca.pem"), &d) != ATT_OK)
        fail_msg("%s", d.msg);
    return set;
}

static att_time_t g_now = 0; /* 0: the current time (the swtpm's certificates are new) */

static att_time_t now(void)
{
    return g_now ? g_now : (att_time_t)time(NULL);
}

/* Round 1 with payload; ATT_OK and *answer's payload, or the error with diag. */
static att_err_t round1(att_ev_set_t *set, json_t *payload, json_t **answer, att_diag_t *d)
{
    att_ev_round_ctx_t ctx = {.now = now(), .seal = mem_seal};
    json_t *msg = json_pack("{s:o}", "payload", payload);
    *answer = NULL;
    att_err_t e = att_ev_round(set, att_ev_type_find("Tpm"), &ctx, msg, answer, d);
    json_decref(msg);
    return e;
}

/* The TPM activates the round-1 answer with EK kind; the challenge into hex (65 bytes). */
static void activate(const json_t *answer, const char *kind, char hex[65])
{
    json_t *p = json_object_get(answer, "payload");
    assert_null(json_object_get(p, "challenge")); /* never in the clear */
    const char *cb = json_string_value(json_object_get(p, "credential_blob"));
    const char *es = json_string_value(json_object_get(p, "encrypted_secret"));
    uint8_t *blob, *enc;
    size_t bl, el;
    assert_true(att_b64_decode(cb, strlen(cb), false, &blob, &bl));
    assert_true(att_b64_decode(es, strlen(es), false, &enc, &el));
    FILE *f = fopen(tpath("cred.bin"), "wb");
    static const uint8_t hdr[8] = {0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1};
    assert_int_equal(fwrite(hdr, 1, 8, f), 8);
    assert_int_equal(fwrite(blob, 1, bl, f), bl);
    assert_int_equal(fwrite(enc, 1, el, f), el);
    fclose(f);
    free(blob);
    free(enc);
    char cred[512];
    snprintf(cred, sizeof cred, "%s", tpath("cred.bin"));
    assert_int_equal(sh("sh '%s/../tpm/swtpm-ek.sh' '%s' activate %s '%s' '%s'", ATT_TEST_DATA,
                        g_dir, kind, cred, tpath("secret.bin")),
                     0);
    buf_t s = trd("secret.bin");
    assert_int_equal(s.n, 32);
    att_hex_encode(s.p, 32, hex);
    free(s.p);
}

/* A quote by AK `ak` ("ak" or "ak2") with the nonce, as a native round-2 request. */
static json_t *quote_request(const char *ak, const char *nonce_hex, const char *sc)
{
    char msg[512], sig[512];
    snprintf(msg, sizeof msg, "%s", tpath("q.msg"));
    snprintf(sig, sizeof sig, "%s", tpath("q.sig"));
    assert_int_equal(sh("sh '%s/../tpm/swtpm-ek.sh' '%s' quote %s %s '%s' '%s'", ATT_TEST_DATA,
                        g_dir, ak, nonce_hex, msg, sig),
                     0);
    buf_t v = trd("q.msg.values");
    assert_int_equal(v.n, 3 * 32);
    json_t *vals = json_array();
    for (int i = 0; i < 3; i++) {
        char h[65];
        att_hex_encode(v.p + 32 * i, 32, h);
        json_array_append_new(vals, json_pack("{s:i,s:s}", "index", i, "digest", h));
    }
    free(v.p);
    char akf[32];
    snprintf(akf, sizeof akf, "%s.tpm2b_public", ak);
    char *akb = b64f(akf), *qb = b64f("q.msg"), *sb = b64f("q.sig");
    json_t *r =
        json_pack("{s:{s:s,s:s,s:s,s:s,s:[{s:s,s:o}]}}", "request", "service_context", sc, "ak",
                  akb, "quote", qb, "signature", sb, "pcrs", "algorithm", "sha256", "values", vals);
    free(akb);
    free(qb);
    free(sb);
    return r;
}

static att_err_t round2(att_ev_set_t *set, const json_t *msg, att_ev_result_t *r)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    att_ev_input_t in = {
        .evidence = (const uint8_t *)text, .len = strlen(text), .now = now(), .open = mem_open};
    att_err_t e = att_ev_verify(set, att_ev_type_find("Tpm"), &in, r);
    free(text);
    return e;
}

static void expect2(att_ev_set_t *set, const json_t *msg, att_err_t want, const char *text)
{
    att_ev_result_t r;
    att_err_t e = round2(set, msg, &r);
    if (e != want || (text && strstr(r.diag.msg, text) == NULL))
        fail_msg("want %s (\"%s\"), got %s: %s", att_err_name(want), text ? text : "",
                 att_err_name(e), r.diag.msg);
    att_ev_result_clear(&r);
}

static json_t *activate_payload(const char *ek_cert, const char *ak, const char *ek_pub)
{
    char *c = b64f(ek_cert), *a = b64f(ak), *p = ek_pub ? b64f(ek_pub) : NULL;
    json_t *o = json_pack("{s:s,s:s,s:s}", "type", "activate", "ek_cert", c, "ak", a);
    if (p != NULL)
        json_object_set_new(o, "ek_pub", json_string(p));
    free(c);
    free(a);
    free(p);
    return o;
}

static void test_activation(void **state)
{
    (void)state;
    if (!g_tpm) {
        printf("SKIP " ATT_TEST_NAME " activation: swtpm cannot start here\n");
        return;
    }
    att_ev_set_t *set = tpm_set(true, false);
    const char *kinds[] = {"rsa", "ecc"};
    for (int k = 0; k < 2; k++) {
        char cert[32], pub[32], hex[65];
        snprintf(cert, sizeof cert, "ek_%s_cert.der", kinds[k]);
        snprintf(pub, sizeof pub, "ek_%s.tpm2b_public", kinds[k]);
        for (int with_pub = 0; with_pub < 2; with_pub++) {
            json_t *ans;
            att_diag_t d;
            if (round1(set, activate_payload(cert, "ak.tpm2b_public", with_pub ? pub : NULL), &ans,
                       &d) != ATT_OK)
                fail_msg("round 1 (%s EK): %s", kinds[k], d.msg);
            activate(ans, kinds[k], hex);
            const char *sc = json_string_value(
                json_object_get(json_object_get(ans, "payload"), "service_context"));
            json_t *msg = quote_request("ak", hex, sc);
            att_ev_result_t r;
            if (round2(set, msg, &r) != ATT_OK)
                fail_msg("round 2 (%s EK): %s", kinds[k], r.diag.msg);
            assert_string_equal(
                json_string_value(json_object_get(r.claims, "x-attestd-tpm-ak-trust")),
                "ek-activation");
            assert_non_null(
                strstr(json_string_value(json_object_get(r.claims, "x-attestd-tpm-ek-cert-issuer")),
                       "swtpm-localca"));
            assert_true(json_is_true(json_object_get(r.claims, "aikValidated")));
            att_ev_result_clear(&r);
            /* the same context again: spent */
            expect2(set, msg, ATT_E_CHALLENGE, "used already");
            json_decref(msg);
            json_decref(ans);
        }
    }
    /* another AK than the one activated: the TPM gives the challenge (the credential names
     * ak), but a quote by ak2 presented with ak2 is refused */
    json_t *ans;
    att_diag_t d;
    char hex[65];
    assert_int_equal(
        round1(set, activate_payload("ek_rsa_cert.der", "ak.tpm2b_public", NULL), &ans, &d),
        ATT_OK);
    activate(ans, "rsa", hex);
    const char *sc =
        json_string_value(json_object_get(json_object_get(ans, "payload"), "service_context"));
    json_t *msg = quote_request("ak2", hex, sc);
    expect2(set, msg, ATT_E_TPM_AK, "not the one activated in round 1");
    json_decref(msg);
    json_decref(ans);
    /* the ECC EK's TPM2B_PUBLIC with the RSA EK's certificate */
    assert_int_equal(
        round1(set, activate_payload("ek_rsa_cert.der", "ak.tpm2b_public", "ek_ecc.tpm2b_public"),
               &ans, &d),
        ATT_E_TPM_EK);
    assert_non_null(strstr(d.msg, "certifies another key"));
    /* an AK that is not a TPM2B_PUBLIC of a restricted signing key: the EK's */
    assert_int_equal(
        round1(set, activate_payload("ek_rsa_cert.der", "ek_rsa.tpm2b_public", NULL), &ans, &d),
        ATT_E_TPM_AK);
    att_ev_set_free(set);
    /* an EK certificate of another CA than the one configured (the AK CA) */
    att_ev_set_t *wrong;
    assert_int_equal(att_ev_set_new(&wrong, &d), ATT_OK);
    assert_int_equal(att_ev_set_add_key_file(wrong, "tpm-ek-ca", tpath("akca.pem"), &d), ATT_OK);
    assert_int_equal(
        round1(wrong, activate_payload("ek_rsa_cert.der", "ak.tpm2b_public", NULL), &ans, &d),
        ATT_E_CERT_UNTRUSTED_ROOT);
    assert_non_null(strstr(d.msg, "does not verify to a configured CA"));
    att_ev_set_free(wrong);
    /* activation not configured */
    att_ev_set_t *none = tpm_set(false, true);
    assert_int_equal(
        round1(none, activate_payload("ek_rsa_cert.der", "ak.tpm2b_public", NULL), &ans, &d),
        ATT_E_TPM_EK);
    assert_non_null(strstr(d.msg, "--tpm-ek-ca"));
    att_ev_set_free(none);
}

/* Round 1 "aikcert", a quote of AK ak with its challenge; the request gets ak_cert (and chain). */
static json_t *akcert_request(att_ev_set_t *set, const char *cert, const char *chain)
{
    json_t *ans;
    att_diag_t d;
    assert_int_equal(round1(set, json_pack("{s:s}", "type", "aikcert"), &ans, &d), ATT_OK);
    json_t *p = json_object_get(ans, "payload");
    const char *ch = json_string_value(json_object_get(p, "challenge"));
    uint8_t *c;
    size_t cl;
    char hex[65];
    assert_true(att_b64_decode(ch, strlen(ch), false, &c, &cl));
    assert_int_equal(cl, 32);
    att_hex_encode(c, 32, hex);
    free(c);
    json_t *msg =
        quote_request("ak", hex, json_string_value(json_object_get(p, "service_context")));
    json_t *req = json_object_get(msg, "request");
    if (cert != NULL) {
        char *b = b64f(cert);
        json_object_set_new(req, "ak_cert", json_string(b));
        free(b);
    }
    if (chain != NULL) {
        char *b = b64f(chain);
        json_object_set_new(req, "ak_chain", json_pack("[s]", b));
        free(b);
    }
    json_decref(ans);
    return msg;
}

static void test_akcert(void **state)
{
    (void)state;
    if (!g_tpm) {
        printf("SKIP " ATT_TEST_NAME " AK certificates: swtpm cannot start here\n");
        return;
    }
    att_ev_set_t *set = tpm_set(false, true);
    json_t *msg = akcert_request(set, "ak_cert.der", NULL);
    att_ev_result_t r;
    if (round2(set, msg, &r) != ATT_OK)
        fail_msg("%s", r.diag.msg);
    assert_string_equal(json_string_value(json_object_get(r.claims, "x-attestd-tpm-ak-trust")),
                        "ak-cert");
    assert_string_equal(
        json_string_value(json_object_get(r.claims, "x-attestd-tpm-ak-cert-subject")),
        "CN=attestd-test-ak");
    assert_string_equal(
        json_string_value(json_object_get(r.claims, "x-attestd-tpm-ak-cert-issuer")),
        "CN=attestd-test-ak-ca");
    att_ev_result_clear(&r);
    json_decref(msg);
    /* through a presented intermediate; without it the chain does not reach the CA */
    msg = akcert_request(set, "ak_cert_int.der", "akint.der");
    expect2(set, msg, ATT_OK, NULL);
    json_decref(msg);
    msg = akcert_request(set, "ak_cert_int.der", NULL);
    expect2(set, msg, ATT_E_CERT_UNTRUSTED_ROOT, "does not verify to a configured CA");
    json_decref(msg);
    /* two intermediates over a budget of one (tpm-max-chain) */
    att_diag_t dl;
    assert_int_equal(att_ev_set_limit(set, "tpm-max-chain", 1, &dl), ATT_OK);
    msg = akcert_request(set, "ak_cert_int.der", "akint.der");
    json_array_append(
        json_object_get(json_object_get(msg, "request"), "ak_chain"),
        json_array_get(json_object_get(json_object_get(msg, "request"), "ak_chain"), 0));
    expect2(set, msg, ATT_E_LIMIT, "at most 1 (--tpm-max-chain)");
    json_decref(msg);
    /* a certificate of another key (the EK's) */
    msg = akcert_request(set, "ak_cert_other.der", NULL);
    expect2(set, msg, ATT_E_TPM_AK, "certifies another key");
    json_decref(msg);
    /* expired at the verification time (60 days on; the certificate is valid 30) */
    msg = akcert_request(set, "ak_cert.der", NULL);
    g_now = (att_time_t)time(NULL) + 60 * 86400;
    expect2(set, msg, ATT_E_CERT_EXPIRED, "certificate has expired");
    g_now = 0;
    json_decref(msg);
    /* no certificate, no pin: the message names the configured ways */
    msg = akcert_request(set, NULL, NULL);
    expect2(set, msg, ATT_E_TPM_AK, "1 AK CA certificate(s) (--tpm-ak-ca)");
    json_decref(msg);
    att_ev_set_free(set);
    /* an AK certificate with no --tpm-ak-ca configured is not trusted */
    att_ev_set_t *none = tpm_set(false, false);
    msg = akcert_request(none, "ak_cert.der", NULL);
    expect2(none, msg, ATT_E_TPM_AK, "0 AK CA certificate(s)");
    json_decref(msg);
    att_ev_set_free(none);
}

/* ---- attReqV2 with tpm_certify, through ESYS ---- */

typedef struct {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
} esys_t;

static ESYS_TR primary(ESYS_CONTEXT *e, TPMA_OBJECT attrs, TPMT_SIG_SCHEME scheme,
                       TPM2B_PUBLIC **pub)
{
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_PUBLIC tmpl = {.publicArea = {.type = TPM2_ALG_ECC,
                                        .nameAlg = TPM2_ALG_SHA256,
                                        .objectAttributes = attrs,
                                        .parameters.eccDetail = {
                                            .symmetric.algorithm = TPM2_ALG_NULL,
                                            .curveID = TPM2_ECC_NIST_P256,
                                            .kdf.scheme = TPM2_ALG_NULL,
                                        }}};
    tmpl.publicArea.parameters.eccDetail.scheme.scheme = scheme.scheme;
    tmpl.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    ESYS_TR h = ESYS_TR_NONE;
    assert_int_equal(Esys_CreatePrimary(e, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                        ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, &h, pub, NULL,
                                        NULL, NULL),
                     0);
    return h;
}

static char *b64(const uint8_t *p, size_t n)
{
    return att_b64url_encode(p, n);
}

static json_t *ec_jwk(const TPM2B_PUBLIC *p)
{
    char *x = b64(p->publicArea.unique.ecc.x.buffer, p->publicArea.unique.ecc.x.size);
    char *y = b64(p->publicArea.unique.ecc.y.buffer, p->publicArea.unique.ecc.y.size);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
    free(x);
    free(y);
    return j;
}

/* r||s of an ECDSA TPMT_SIGNATURE, each left-padded to 32 bytes. */
static void rs64(const TPMT_SIGNATURE *sig, uint8_t out[64])
{
    const TPM2B_ECC_PARAMETER *r = &sig->signature.ecdsa.signatureR,
                              *s = &sig->signature.ecdsa.signatureS;
    memset(out, 0, 64);
    memcpy(out + 32 - r->size, r->buffer, r->size);
    memcpy(out + 64 - s->size, s->buffer, s->size);
}

static void test_attreq_certify(void **state)
{
    (void)state;
    if (!g_tpm) {
        printf("SKIP " ATT_TEST_NAME " attReqV2 tpm_certify: swtpm cannot start here\n");
        return;
    }
    setenv("TSS2_LOG", "all+NONE", 1);
    buf_t tcti = trd("tcti");
    while (tcti.n > 0 && (tcti.p[tcti.n - 1] == '\n'))
        tcti.p[--tcti.n] = 0;
    esys_t t = {0};
    assert_int_equal(Tss2_TctiLdr_Initialize((const char *)tcti.p, &t.tcti), 0);
    free(tcti.p);
    assert_int_equal(Esys_Initialize(&t.esys, t.tcti, NULL), 0);
    TPM2B_PUBLIC *akp = NULL, *rkp = NULL;
    TPMT_SIG_SCHEME ecdsa = {.scheme = TPM2_ALG_ECDSA};
    ESYS_TR ak =
        primary(t.esys,
                TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT,
                ecdsa, &akp);
    ESYS_TR rk =
        primary(t.esys,
                TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT,
                ecdsa, &rkp);
    /* pin the AK */
    uint8_t akb[sizeof(TPM2B_PUBLIC)];
    size_t akl = 0;
    assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(akp, akb, sizeof akb, &akl), 0);
    FILE *f = fopen(tpath("esys_ak.tpm2b"), "wb");
    assert_int_equal(fwrite(akb, 1, akl, f), akl);
    fclose(f);
    att_ev_set_t *set = tpm_set(false, false);
    att_diag_t d;
    assert_int_equal(att_ev_set_add_key_file(set, "tpm-ak", tpath("esys_ak.tpm2b"), &d), ATT_OK);
    uint8_t pub[sizeof(TPMT_PUBLIC)], other_pub[sizeof(TPMT_PUBLIC)];
    size_t pl = 0, opl = 0;
    assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(&rkp->publicArea, pub, sizeof pub, &pl), 0);
    assert_int_equal(
        Tss2_MU_TPMT_PUBLIC_Marshal(&akp->publicArea, other_pub, sizeof other_pub, &opl), 0);
    for (int k = 0; k < 4; k++) {
        /* k 0: accepted; 1: certification over another nonce; 2: "public" of the AK, not the
         * request key; 3: alg none */
        json_t *ans;
        assert_int_equal(round1(set, json_pack("{s:s}", "type", "aikcert"), &ans, &d), ATT_OK);
        json_t *p1 = json_object_get(ans, "payload");
        const char *chs = json_string_value(json_object_get(p1, "challenge"));
        uint8_t *ch;
        size_t chl;
        assert_true(att_b64_decode(chs, strlen(chs), false, &ch, &chl));
        TPM2B_DATA qd = {.size = (UINT16)chl};
        memcpy(qd.buffer, ch, chl);
        TPM2B_DATA cqd = qd;
        if (k == 1)
            cqd.buffer[0] ^= 1;
        TPMT_SIG_SCHEME null_scheme = {.scheme = TPM2_ALG_NULL};
        TPM2B_ATTEST *cinfo = NULL, *quoted = NULL;
        TPMT_SIGNATURE *csig = NULL, *qsig = NULL;
        assert_int_equal(Esys_Certify(t.esys, rk, ak, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD,
                                      ESYS_TR_NONE, &cqd, &null_scheme, &cinfo, &csig),
                         0);
        TPML_PCR_SELECTION sel = {
            .count = 1,
            .pcrSelections = {
                {.hash = TPM2_ALG_SHA256, .sizeofSelect = 3, .pcrSelect = {0x07, 0, 0}}}};
        assert_int_equal(Esys_Quote(t.esys, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qd,
                                    &null_scheme, &sel, &quoted, &qsig),
                         0);
        TPML_DIGEST *vals = NULL;
        assert_int_equal(Esys_PCR_Read(t.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, NULL,
                                       NULL, &vals),
                         0);
        json_t *pv = json_array();
        for (int i = 0; i < 3; i++) {
            char *dg = b64(vals->digests[i].buffer, vals->digests[i].size);
            json_array_append_new(pv, json_pack("{s:i,s:s}", "index", i, "digest", dg));
            free(dg);
        }
        uint8_t sb[sizeof(TPMT_SIGNATURE)];
        size_t sl = 0, cl = 0;
        assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Marshal(qsig, sb, sizeof sb, &sl), 0);
        uint8_t csb[sizeof(TPMT_SIGNATURE)];
        assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Marshal(csig, csb, sizeof csb, &cl), 0);
        char *q64 = b64(quoted->attestationData, quoted->size), *s64 = b64(sb, sl),
             *c64 = b64(cinfo->attestationData, cinfo->size), *cs64 = b64(csb, cl),
             *p64 = k == 2 ? b64(other_pub, opl) : b64(pub, pl);
        json_t *payload = json_pack(
            "{s:s,s:{s:s,s:s,s:{s:{s:o,s:[{s:i,s:o}],s:s,s:s}},s:{s:o,s:{s:{s:s,s:s,s:s}}},s:s}}",
            "att_type", "basic", "att_data", "challenge", chs, "rp_data", "rp-data-1",
            "tpm_att_data", "current_attestation", "aik_pub", ec_jwk(akp), "pcrs", "algorithm", 11,
            "values", pv, "quote", q64, "signature", s64, "request_key", "jwk", ec_jwk(rkp), "info",
            "tpm_certify", "public", p64, "certification", c64, "signature", cs64,
            "service_context", json_string_value(json_object_get(p1, "service_context")));
        assert_non_null(payload);
        char *ptext = json_dumps(payload, JSON_COMPACT);
        const char *hdr = k == 3 ? "{\"alg\":\"none\",\"typ\":\"attReqV2\"}"
                                 : "{\"alg\":\"ES256\",\"typ\":\"attReqV2\"}";
        char *h64 = b64((const uint8_t *)hdr, strlen(hdr)),
             *pp64 = b64((const uint8_t *)ptext, strlen(ptext));
        char *input = malloc(strlen(h64) + strlen(pp64) + 2);
        sprintf(input, "%s.%s", h64, pp64);
        TPM2B_DIGEST dg = {.size = 32};
        assert_true(EVP_Digest(input, strlen(input), dg.buffer, NULL, EVP_sha256(), NULL) == 1);
        TPMT_TK_HASHCHECK tk = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
        TPMT_SIG_SCHEME es = {.scheme = TPM2_ALG_ECDSA, .details.ecdsa.hashAlg = TPM2_ALG_SHA256};
        TPMT_SIGNATURE *jsig = NULL;
        assert_int_equal(Esys_Sign(t.esys, rk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &dg,
                                   &es, &tk, &jsig),
                         0);
        uint8_t raw[64];
        rs64(jsig, raw);
        char *sig64 = b64(raw, 64);
        char *jws = malloc(strlen(input) + strlen(sig64) + 2);
        sprintf(jws, "%s.%s", input, sig64);
        json_t *msg = json_pack("{s:s}", "request", jws);
        att_ev_result_t r;
        att_err_t e = round2(set, msg, &r);
        if (k == 0) {
            if (e != ATT_OK)
                fail_msg("attReqV2 tpm_certify: %s", r.diag.msg);
            json_t *rkc = json_object_get(r.claims, "x-attestd-tpm-request-key");
            json_t *tc = json_object_get(json_object_get(rkc, "info"), "tpm_certify");
            /* MAA's outgoing claims: cnf {"jwk": the request key}, rp_data as sent */
            json_t *cnf = json_object_get(r.claims, "cnf");
            assert_int_equal(json_object_size(cnf), 1);
            assert_true(json_equal(json_object_get(cnf, "jwk"), json_object_get(rkc, "jwk")));
            assert_string_equal(json_string_value(json_object_get(r.claims, "rp_data")),
                                "rp-data-1");
            assert_int_equal(json_integer_value(json_object_get(tc, "name_alg")), TPM2_ALG_SHA256);
            assert_int_equal(json_integer_value(json_object_get(tc, "obj_attr")),
                             rkp->publicArea.objectAttributes);
            assert_string_equal(
                json_string_value(json_object_get(r.claims, "x-attestd-tpm-ak-trust")), "pinned");
        } else if (k == 1) {
            if (e != ATT_E_TPM_NONCE || !strstr(r.diag.msg, "tpm_certify"))
                fail_msg("certification over another nonce: %s: %s", att_err_name(e), r.diag.msg);
        } else if (k == 2) {
            if (e != ATT_E_EVIDENCE_BINDING || !strstr(r.diag.msg, "another key"))
                fail_msg("public of the AK: %s: %s", att_err_name(e), r.diag.msg);
        } else {
            if (e != ATT_E_JWS_ALG)
                fail_msg("alg none: %s: %s", att_err_name(e), r.diag.msg);
        }
        att_ev_result_clear(&r);
        json_decref(msg);
        free(jws);
        free(sig64);
        free(input);
        free(h64);
        free(pp64);
        free(ptext);
        json_decref(payload);
        free(q64);
        free(s64);
        free(c64);
        free(cs64);
        free(p64);
        Esys_Free(jsig);
        Esys_Free(cinfo);
        Esys_Free(csig);
        Esys_Free(quoted);
        Esys_Free(qsig);
        Esys_Free(vals);
        free(ch);
        json_decref(ans);
    }
    Esys_FlushContext(t.esys, ak);
    Esys_FlushContext(t.esys, rk);
    Esys_Free(akp);
    Esys_Free(rkp);
    Esys_Finalize(&t.esys);
    Tss2_TctiLdr_Finalize(&t.tcti);
    att_ev_set_free(set);
}

static void test_limits(void **state)
{
    (void)state;
    att_ev_set_t *set;
    att_diag_t d;
    assert_int_equal(att_ev_set_new(&set, &d), ATT_OK);
    assert_int_equal(att_ev_set_limit(set, "tpm-max-events", 5, &d), ATT_OK);
    assert_int_equal(att_ev_set_limit(set, "tpm-max-log-bytes", 0, &d), ATT_OK);
    assert_int_equal(att_ev_set_limit(set, "tpm-max-nothing", 5, &d), ATT_E_ARG);
    att_ev_set_free(set);
}

int main(void)
{
    setenv("TSS2_LOG", "all+NONE", 1);
    snprintf(g_dir, sizeof g_dir, "/tmp/att-ev-tpm-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return 1;
    int rc =
        sh("sh '%s/../tpm/swtpm-ek.sh' '%s' start >'%s/run.log' 2>&1", ATT_TEST_DATA, g_dir, g_dir);
    if (rc == 77) {
        printf("SKIP " ATT_TEST_NAME ": swtpm cannot start here: ");
        fflush(stdout);
        if (sh("cat '%s/run.log'", g_dir) != 0)
            printf("\n");
    } else if (rc != 0) {
        sh("cat '%s/run.log'; sh '%s/../tpm/swtpm-ek.sh' '%s' stop; rm -rf '%s'", g_dir,
           ATT_TEST_DATA, g_dir, g_dir);
        return 1;
    } else {
        g_tpm = true;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),       cmocka_unit_test(test_refused),
        cmocka_unit_test(test_activation),     cmocka_unit_test(test_akcert),
        cmocka_unit_test(test_attreq_certify), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_ak_cache),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    if (g_tpm)
        sh("sh '%s/../tpm/swtpm-ek.sh' '%s' stop", ATT_TEST_DATA, g_dir);
    sh("rm -rf '%s'", g_dir);
    return r;
}
