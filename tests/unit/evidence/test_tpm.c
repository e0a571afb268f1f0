/* test_tpm.c - the Tpm type's final round through the evidence registry, on the shared swtpm-rsa
 * vector: its AK pinned (att_ev_set_add_key_file "tpm-ak", as PEM and as TPM2B_PUBLIC), the
 * round-2 message built from the vector's quote, signature and PCR values, and the challenge
 * given by the input's open callback. Accepted with the PCR and AK-name claims; refused: an AK
 * not pinned (the context is then not spent), a challenge that is not the quote's nonce, a
 * tampered PCR value, a quoted PCR without a value (or twice), a bank outside the quote, a
 * context the callback refuses, a missing service_context, an unusable key file and an unknown
 * key kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
