/* test_rp.c - att_rp_verify against an issuer served from memory by a fetch hook: valid RS256,
 * PS256 and ES256 tokens; every rejection (issuer, exp/nbf beyond and within the skew, nonce,
 * expected claims, tampered payload and signature, alg none, HS256 made with the RSA modulus as
 * the HMAC secret, alg/key type confusion, keys offered by the token's own jwk/x5c/jku/x5u
 * headers); the JWKS cache (unknown kid -> one refetch -> reject or accept, refetch rate limit,
 * max age); discovery rules (issuer, jwks_uri origin), MAA-style x5c-only JWKs; 4 threads
 * verifying with one verifier while the key set is swapped; and att_token_sig_ok with and
 * without a prepared template. */
#include <pthread.h>

#include <sched.h>
#include <time.h>

#include <jose/openssl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "attest/rp.h"
#include "rp/rp_int.h"
#include "token/tok.h"
#include "core/util.h"
#include "token/jws.h"
#include "rp/loopback.h"

#define DISCOVERY_URL ISSUER "/.well-known/openid-configuration"

static tok_key_t rsa, ps, ec, other;

/* ---- the issuer, from memory ---------------------------------------------------------- */

typedef struct {
    pthread_mutex_t lock;
    char *discovery;
    char *jwks;
    int n_discovery, n_jwks;
} srv_t;

static srv_t srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

static att_err_t fetch(void *arg, const char *url, char **body, size_t *len, att_diag_t *diag)
{
    srv_t *s = arg;
    pthread_mutex_lock(&s->lock);
    const char *b = NULL;
    if (strcmp(url, DISCOVERY_URL) == 0) {
        s->n_discovery++;
        b = s->discovery;
    } else if (strcmp(url, JKU) == 0) {
        s->n_jwks++;
        b = s->jwks;
    }
    *body = b ? strdup(b) : NULL;
    *len = b ? strlen(b) : 0;
    pthread_mutex_unlock(&s->lock);
    if (b == NULL)
        return att_diag_set(diag, ATT_E_JWKS, "GET %s answered HTTP 404", url);
    return ATT_OK;
}

static void srv_set(const char *discovery, json_t *jwks)
{
    pthread_mutex_lock(&srv.lock);
    free(srv.discovery);
    free(srv.jwks);
    srv.discovery = strdup(discovery);
    srv.jwks = json_dumps(jwks, JSON_COMPACT);
    srv.n_discovery = srv.n_jwks = 0;
    pthread_mutex_unlock(&srv.lock);
    json_decref(jwks);
}

static json_t *jwks_of(tok_key_t *const *keys, size_t n)
{
    att_diag_t d;
    json_t *j = att_jwks_new();
    for (size_t i = 0; i < n; i++)
        assert_int_equal(att_jwks_add(j, keys[i]->cert, &d), ATT_OK);
    return j;
}

static const char std_discovery[] = "{\"issuer\":\"" ISSUER "\",\"jwks_uri\":\"" JKU "\"}";

/* The issuer publishes rsa, ps and ec (not `other`). */
static void srv_default(void)
{
    tok_key_t *k[] = {&rsa, &ps, &ec};
    srv_set(std_discovery, jwks_of(k, 3));
}

static att_rp_t *rp_make(const att_rp_opts_t *extra)
{
    att_rp_opts_t o = extra ? *extra : (att_rp_opts_t){0};
    o.issuer = o.issuer ? o.issuer : ISSUER;
    o.fetch = fetch;
    o.fetch_arg = &srv;
    att_diag_t d;
    att_rp_t *rp = att_rp_new(&o, &d);
    if (rp == NULL)
        fail_msg("att_rp_new: %s", d.msg);
    return rp;
}

static int setup(void **state)
{
    (void)state;
    tok_key_make(&rsa, ATT_ALG_RS256);
    tok_key_make(&ps, ATT_ALG_PS256);
    tok_key_make(&ec, ATT_ALG_ES256);
    tok_key_make(&other, ATT_ALG_RS256);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tok_key_free(&rsa);
    tok_key_free(&ps);
    tok_key_free(&ec);
    tok_key_free(&other);
    free(srv.discovery);
    free(srv.jwks);
    return 0;
}

/* ---- tokens ------------------------------------------------------------------------------ */

static json_t *claims_at(att_time_t iat, int64_t lifetime)
{
    return json_pack("{s:s,s:I,s:I,s:I,s:s,s:s,s:b,s:i}", "iss", ISSUER, "iat", (json_int_t)iat,
                     "nbf", (json_int_t)iat, "exp", (json_int_t)(iat + lifetime), "nonce", "n-123",
                     "x-ms-sgx-mrenclave",
                     "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb",
                     "x-ms-sgx-is-debuggable", 0, "x-ms-sgx-svn", 3);
}

static char *sign(tok_key_t *k, json_t *claims)
{
    att_diag_t d;
    char *jwt = NULL;
    assert_int_equal(att_jwt_sign(k->signer, JKU, claims, &jwt, &d), ATT_OK);
    json_decref(claims);
    return jwt;
}

static char *good(tok_key_t *k)
{
    return sign(k, claims_at(NOW, 8 * 3600));
}

/* Verify; returns the code and keeps r->check in *check (static string). */
static att_err_t verify(att_rp_t *rp, const char *jwt, const att_rp_check_t *c, att_time_t now,
                        const char **check, char *msg, size_t msgcap)
{
    att_rp_result_t r;
    att_err_t e = att_rp_verify(rp, jwt, strlen(jwt), c, now, &r);
    if (check)
        *check = r.check;
    if (msg)
        snprintf(msg, msgcap, "%s", r.diag.msg);
    if (e == ATT_OK) {
        assert_non_null(r.claims);
        assert_true(r.signature_ok);
        assert_null(r.check);
    } else {
        assert_non_null(r.check);
        assert_int_equal(r.diag.code, e);
        assert_true(r.diag.msg[0] != '\0');
    }
    att_rp_result_clear(&r);
    return e;
}

#define EXPECT_FAIL(rp, jwt, c, now, code, chk)                                                    \
    do {                                                                                           \
        const char *ck_;                                                                           \
        char m_[512];                                                                              \
        att_err_t e_ = verify(rp, jwt, c, now, &ck_, m_, sizeof m_);                               \
        if (e_ != (code) || strcmp(ck_ ? ck_ : "", chk) != 0)                                      \
            fail_msg("got %s (%s: %s), want %s (%s)", att_err_name(e_), ck_ ? ck_ : "-", m_,       \
                     att_err_name(code), chk);                                                     \
    } while (0)

#define EXPECT_OK(rp, jwt, c, now)                                                                 \
    do {                                                                                           \
        const char *ck_;                                                                           \
        char m_[512];                                                                              \
        att_err_t e_ = verify(rp, jwt, c, now, &ck_, m_, sizeof m_);                               \
        if (e_ != ATT_OK)                                                                          \
            fail_msg("rejected: %s (%s: %s)", att_err_name(e_), ck_ ? ck_ : "-", m_);              \
    } while (0)

/* b64url(header JSON) "." payload "." sig of an arbitrary header, signed by k. */
static char *sign_header(tok_key_t *k, json_t *header, json_t *claims)
{
    att_diag_t d;
    char *payload = json_dumps(claims, JSON_COMPACT);
    char *jws = NULL;
    assert_int_equal(
        att_jws_sign(k->signer, header, (const uint8_t *)payload, strlen(payload), &jws, &d),
        ATT_OK);
    free(payload);
    json_decref(header);
    json_decref(claims);
    return jws;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_valid_algs(void **state)
{
    (void)state;
    srv_default();
    att_rp_t *rp = rp_make(NULL);
    tok_key_t *keys[] = {&rsa, &ps, &ec};
    const att_alg_t algs[] = {ATT_ALG_RS256, ATT_ALG_PS256, ATT_ALG_ES256};
    for (int i = 0; i < 3; i++) {
        char *jwt = good(keys[i]);
        att_rp_check_t c = {.nonce = "n-123"};
        att_rp_result_t r;
        assert_int_equal(att_rp_verify(rp, jwt, strlen(jwt), &c, NOW + 10, &r), ATT_OK);
        assert_int_equal(r.alg, algs[i]);
        assert_string_equal(json_string_value(json_object_get(r.claims, "iss")), ISSUER);
        assert_string_equal(json_string_value(json_object_get(r.header, "kid")),
                            att_signer_kid(keys[i]->signer));
        att_rp_result_clear(&r);
        free(jwt);
    }
    /* one discovery and one JWKS fetch for all of them */
    assert_int_equal(srv.n_discovery, 1);
    assert_int_equal(srv.n_jwks, 1);
    assert_int_equal(att_rp_key_count(rp), 3);
    /* whitespace around the token (a file's newline) is ignored */
    char *jwt = good(&rsa);
    char buf[4096];
    snprintf(buf, sizeof buf, "  %s\n", jwt);
    EXPECT_OK(rp, buf, NULL, NOW);
    free(jwt);
    att_rp_free(rp);
}

static void test_issuer(void **state)
{
    (void)state;
    srv_default();
    att_rp_t *rp = rp_make(NULL);
    json_t *c = claims_at(NOW, 3600);
    json_object_set_new(c, "iss", json_string("https://evil.example"));
    char *jwt = sign(&rsa, c);
    EXPECT_FAIL(rp, jwt, NULL, NOW, ATT_E_TOKEN_CLAIM, "iss");
    free(jwt);
    c = claims_at(NOW, 3600);
    json_object_del(c, "iss");
    jwt = sign(&rsa, c);
    EXPECT_FAIL(rp, jwt, NULL, NOW, ATT_E_TOKEN_CLAIM, "iss");
    free(jwt);
    c = claims_at(NOW, 3600);
    json_object_set_new(c, "iss", json_string(ISSUER "/"));
    jwt = sign(&rsa, c);
    EXPECT_FAIL(rp, jwt, NULL, NOW, ATT_E_TOKEN_CLAIM, "iss");
    free(jwt);
    att_rp_free(rp);

    /* a verifier configured for another issuer: discovery there fails -> "jwks" */
    rp = rp_make(&(att_rp_opts_t){.issuer = "https://other.example"});
    jwt = good(&rsa);
    EXPECT_FAIL(rp, jwt, NULL, NOW, ATT_E_JWKS, "jwks");
    att_rp_free(rp);
    /* ... or its keys are the same but the issuer differs (jwks_uri configured) */
    rp = rp_make(&(att_rp_opts_t){.issuer = "https://other.example", .jwks_uri = JKU});
    EXPECT_FAIL(rp, jwt, NULL, NOW, ATT_E_TOKEN_CLAIM, "iss");
    free(jwt);
    att_rp_free(rp);
}

static void test_time(void **state)
{
    (void)state;
    srv_default();
    att_rp_t *rp = rp_make(NULL); /* skew 60 s */
    char *jwt = sign(&rsa, claims_at(NOW, 3600));
    EXPECT_OK(rp, jwt, NULL, NOW);
    EXPECT_OK(rp, jwt, NULL, NOW + 3600 + 59); /* expired, within skew */
    EXPECT_FAIL(rp, jwt, NULL, NOW + 3600 + 60, ATT_E_TOKEN_EXPIRED, "exp");
    EXPECT_FAIL(rp, jwt, NULL, NOW + 86400, ATT_E_TOKEN_EXPIRED, "exp");
    EXPECT_OK(rp, jwt, NULL, NOW - 60); /* not yet valid, within skew */
    EXPECT_FAIL(rp, jwt, NULL, NOW - 61, ATT_E_TOKEN_NOT_YET_VALID, "nbf");
    att_rp_free(rp);

    rp = rp_make(&(att_rp_opts_t){.skew = ATT_RP_SKEW_NONE});
    EXPECT_FAIL(rp, jwt, NULL, NOW + 3600, ATT_E_TOKEN_EXPIRED, "exp");
    EXPECT_OK(rp, jwt, NULL, NOW + 3599);
    EXPECT_FAIL(rp, jwt, NULL, NOW - 1, ATT_E_TOKEN_NOT_YET_VALID, "nbf");
    free(jwt);
    att_rp_free(rp);

    rp = rp_make(&(att_rp_opts_t){.skew = 300});
    jwt = sign(&rsa, claims_at(NOW, 3600));
    EXPECT_OK(rp, jwt, NULL, NOW + 3600 + 299);
    EXPECT_FAIL(rp, jwt, NULL, NOW + 3600 + 300, ATT_E_TOKEN_EXPIRED, "exp");
    free(jwt);
    /* exp is required and must be a number; nbf, when present, a number */
    json_t *c = claims_at(NOW, 3600);
    json_object_del(c, "exp");
    jwt = sign(&rsa, c);
    EXPECT_FAIL(rp, jwt, NULL, NOW, ATT_E_TOKEN_CLAIM, "exp");
    free(jwt);
    c = claims_at(NOW, 3600);
    json_object_set_new(c, "exp", json_string("never"));
    jwt = sign(&rsa, c);
    EXPECT_FAIL(rp, jwt, NULL, NOW, ATT_E_TOKEN_CLAIM, "exp");
    free(jwt);
    c = claims_at(NOW, 3600);
    json_object_set_new(c, "nbf", json_string("soon"));
    jwt = sign(&rsa, c);
    EXPECT_FAIL(rp, jwt, NULL, NOW, ATT_E_TOKEN_CLAIM, "nbf");
    free(jwt);
    c = claims_at(NOW, 3600);
    json_object_del(c, "nbf");
    json_object_set_new(c, "exp", json_real((double)NOW + 10.5)); /* NumericDate may be real */
    jwt = sign(&rsa, c);
    EXPECT_OK(rp, jwt, NULL, NOW);
    free(jwt);
    att_rp_free(rp);
}

static void test_nonce_and_claims(void **state)
{
    (void)state;
    srv_default();
    att_rp_t *rp = rp_make(NULL);
    char *jwt = good(&rsa);
    EXPECT_OK(rp, jwt, &((att_rp_check_t){.nonce = "n-123"}), NOW);
    EXPECT_FAIL(rp, jwt, &((att_rp_check_t){.nonce = "n-124"}), NOW, ATT_E_TOKEN_CLAIM, "nonce");
    EXPECT_FAIL(rp, jwt, &((att_rp_check_t){.nonce = ""}), NOW, ATT_E_TOKEN_CLAIM, "nonce");

    att_diag_t d;
    att_rp_expect_t e[4];
    assert_int_equal(att_rp_expect_parse("x-ms-sgx-mrenclave=33d8736db756ed4997e04ba358d27833188f1"
                                         "932ff7b1d156904d3f560452fbb",
                                         &e[0], &d),
                     ATT_OK);
    assert_true(json_is_string(e[0].value));
    assert_int_equal(att_rp_expect_parse("x-ms-sgx-is-debuggable=false", &e[1], &d), ATT_OK);
    assert_true(json_is_false(e[1].value));
    assert_int_equal(att_rp_expect_parse("x-ms-sgx-svn=3", &e[2], &d), ATT_OK);
    assert_true(json_is_integer(e[2].value));
    assert_int_equal(att_rp_expect_parse("nonce=\"n-123\"", &e[3], &d), ATT_OK);
    assert_string_equal(json_string_value(e[3].value), "n-123");
    att_rp_check_t c = {.nonce = "n-123", .expect = e, .n_expect = 4};
    EXPECT_OK(rp, jwt, &c, NOW);

    att_rp_expect_t bad;
    const char *wrong[] = {
        ("x-ms-sgx-mrenclave=00d8736db756ed4997e04ba358d27833188f1932ff7b1d156904"
         "d3f560452fbb"),
        "x-ms-sgx-is-debuggable=true", "x-ms-sgx-svn=4", "x-ms-sgx-svn=\"3\"", "absent-claim=1"};
    for (size_t i = 0; i < ATT_ARRAY_LEN(wrong); i++) {
        assert_int_equal(att_rp_expect_parse(wrong[i], &bad, &d), ATT_OK);
        att_rp_expect_t all[5] = {e[0], e[1], e[2], e[3], bad};
        att_rp_check_t cc = {.expect = all, .n_expect = 5};
        EXPECT_FAIL(rp, jwt, &cc, NOW, ATT_E_TOKEN_CLAIM, "claim");
        att_rp_expect_clear(&bad);
    }
    assert_int_equal(att_rp_expect_parse("novalue", &bad, &d), ATT_E_ARG);
    assert_int_equal(att_rp_expect_parse("=3", &bad, &d), ATT_E_ARG);
    for (int i = 0; i < 4; i++)
        att_rp_expect_clear(&e[i]);
    free(jwt);
    att_rp_free(rp);
}

static void test_tampered(void **state)
{
    (void)state;
    srv_default();
    att_rp_t *rp = rp_make(NULL);
    char *jwt = good(&rsa), *h, *p, *s;
    tok_split(jwt, &h, &p, &s);

    /* payload: a claim changed */
    json_t *c = tok_seg_json(p);
    json_object_set_new(c, "x-ms-sgx-is-debuggable", json_true());
    char *cj = json_dumps(c, JSON_COMPACT);
    char *p2 = att_b64url_encode((const uint8_t *)cj, strlen(cj));
    char *t = tok_join(h, p2, s);
    EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_JWS_SIGNATURE, "signature");
    free(t);
    /* signature: one bit flipped, truncated, empty, another key's */
    uint8_t *sig;
    size_t slen;
    assert_true(att_b64_decode(s, strlen(s), false, &sig, &slen));
    sig[10] ^= 1;
    char *s2 = att_b64url_encode(sig, slen);
    t = tok_join(h, p, s2);
    EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_JWS_SIGNATURE, "signature");
    free(t);
    free(s2);
    s2 = att_b64url_encode(sig, slen - 1);
    t = tok_join(h, p, s2);
    EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_JWS_SIGNATURE, "signature");
    free(t);
    free(s2);
    t = tok_join(h, p, "");
    EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_JWS_SIGNATURE, "signature");
    free(t);
    char *o = good(&other), *oh, *op, *os;
    tok_split(o, &oh, &op, &os);
    t = tok_join(h, p, os); /* other's signature over other's payload, under rsa's kid */
    EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_JWS_SIGNATURE, "signature");
    free(t);
    /* format */
    const char *bad[] = {"", "abc", "a.b", "a.b.c.d", "a.b.c.d.e", "!!.e30.e30"};
    for (size_t i = 0; i < ATT_ARRAY_LEN(bad); i++)
        EXPECT_FAIL(rp, bad[i], NULL, NOW, ATT_E_JWS_FORMAT, "format");
    char segmsg[512];
    assert_int_equal(verify(rp, "a.b.c.d.e", NULL, NOW, NULL, segmsg, sizeof segmsg),
                     ATT_E_JWS_FORMAT);
    assert_non_null(strstr(segmsg, "token has 5 '.'-separated segments, not 3"));
    char pad[8192];
    snprintf(pad, sizeof pad, "%s.%s=.%s", h, p, s); /* padding is not base64url of JWS */
    EXPECT_FAIL(rp, pad, NULL, NOW, ATT_E_JWS_FORMAT, "format");
    /* a header that is not an object / has duplicate members / crit */
    const char *hdrs[] = {"[1]", "{\"alg\":\"RS256\",\"alg\":\"none\"}", "{\"kid\":\"x\"}",
                          "{\"alg\":\"RS256\",\"kid\":\"x\",\"crit\":[\"b64\"],\"b64\":false}"};
    for (size_t i = 0; i < ATT_ARRAY_LEN(hdrs); i++) {
        char *hb = att_b64url_encode((const uint8_t *)hdrs[i], strlen(hdrs[i]));
        t = tok_join(hb, p, s);
        EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_JWS_FORMAT, "format");
        free(t);
        free(hb);
    }
    free(oh), free(op), free(os), free(o);
    free(sig), free(p2), free(cj), free(h), free(p), free(s), free(jwt);
    json_decref(c);
    att_rp_free(rp);
}

static void test_alg_none_and_confusion(void **state)
{
    (void)state;
    srv_default();
    att_rp_t *rp = rp_make(NULL);
    json_t *c = claims_at(NOW, 3600);
    char *cj = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    char *p = att_b64url_encode((const uint8_t *)cj, strlen(cj));
    const char *kid = att_signer_kid(rsa.signer);

    /* alg none, with and without a kid, with and without a signature */
    char hj[512];
    snprintf(hj, sizeof hj, "{\"alg\":\"none\",\"kid\":\"%s\"}", kid);
    char *h = att_b64url_encode((const uint8_t *)hj, strlen(hj));
    char *t = tok_join(h, p, "");
    EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_JWS_UNSIGNED, "alg");
    free(t);
    t = tok_join(h, p, "c2ln");
    EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_JWS_UNSIGNED, "alg");
    free(t);
    free(h);
    char *u = att_jws_unsigned((const uint8_t *)cj, strlen(cj));
    EXPECT_FAIL(rp, u, NULL, NOW, ATT_E_JWS_UNSIGNED, "alg");
    free(u);

    /* HS256 with the RSA modulus (and with the JWK text) as the HMAC secret */
    att_diag_t d;
    json_t *jwk = att_jwk_from_cert(rsa.cert, &d);
    const char *n = json_string_value(json_object_get(jwk, "n"));
    uint8_t *nb;
    size_t nl;
    assert_true(att_b64_decode(n, strlen(n), false, &nb, &nl));
    snprintf(hj, sizeof hj, "{\"alg\":\"HS256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", kid);
    h = att_b64url_encode((const uint8_t *)hj, strlen(hj));
    char input[8192];
    snprintf(input, sizeof input, "%s.%s", h, p);
    const struct {
        const uint8_t *k;
        size_t l;
    } secrets[] = {{nb, nl}, {(const uint8_t *)n, strlen(n)}};
    for (int i = 0; i < 2; i++) {
        uint8_t mac[32];
        unsigned int ml = 0;
        assert_non_null(HMAC(EVP_sha256(), secrets[i].k, (int)secrets[i].l, (const uint8_t *)input,
                             strlen(input), mac, &ml));
        char *m = att_b64url_encode(mac, ml);
        t = tok_join(h, p, m);
        EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_JWS_ALG, "alg");
        free(t);
        free(m);
    }
    free(h);
    /* other algs, and spellings */
    const char *algs[] = {"RS512", "HS512", "EdDSA", "None", "rs256", "RSA256", ""};
    for (size_t i = 0; i < ATT_ARRAY_LEN(algs); i++) {
        snprintf(hj, sizeof hj, "{\"alg\":\"%s\",\"kid\":\"%s\"}", algs[i], kid);
        h = att_b64url_encode((const uint8_t *)hj, strlen(hj));
        t = tok_join(h, p, "c2ln");
        EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_JWS_ALG, "alg");
        free(t);
        free(h);
    }
    /* ES256 under an RSA key's kid (and RS256 under the EC key's): type confusion */
    json_t *hdr = json_pack("{s:s,s:s}", "kid", kid, "typ", "JWT");
    t = sign_header(&ec, hdr, claims_at(NOW, 3600));
    EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_JWS_ALG, "alg");
    free(t);
    hdr = json_pack("{s:s}", "kid", att_signer_kid(ec.signer));
    t = sign_header(&rsa, hdr, claims_at(NOW, 3600));
    EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_JWS_ALG, "alg");
    free(t);
    /* an alg the verifier does not allow */
    att_rp_t *only_es =
        rp_make(&(att_rp_opts_t){.algs = (att_alg_t[]){ATT_ALG_ES256}, .n_algs = 1});
    t = good(&rsa);
    EXPECT_FAIL(only_es, t, NULL, NOW, ATT_E_JWS_ALG, "alg");
    free(t);
    t = good(&ec);
    EXPECT_OK(only_es, t, NULL, NOW);
    free(t);
    att_rp_free(only_es);
    /* a JWK restricted by its own "alg" */
    json_t *j = att_jwks_new();
    json_t *k1 = att_jwk_from_cert(ps.cert, &d);
    json_object_set_new(k1, "alg", json_string("PS256"));
    json_array_append_new(json_object_get(j, "keys"), k1);
    srv_set(std_discovery, j);
    att_rp_t *rp2 = rp_make(NULL);
    t = good(&ps);
    EXPECT_OK(rp2, t, NULL, NOW);
    free(t);
    hdr = json_pack("{s:s}", "kid", att_signer_kid(ps.signer));
    att_signer_t *rs_with_ps = att_signer_new(ps.key, ps.cert, ATT_ALG_RS256, &d);
    assert_non_null(rs_with_ps);
    json_t *cl = claims_at(NOW, 3600);
    char *payload = json_dumps(cl, JSON_COMPACT);
    json_decref(cl);
    char *jws;
    json_object_set_new(hdr, "typ", json_string("JWT"));
    assert_int_equal(
        att_jws_sign(rs_with_ps, hdr, (const uint8_t *)payload, strlen(payload), &jws, &d), ATT_OK);
    EXPECT_FAIL(rp2, jws, NULL, NOW, ATT_E_JWS_ALG, "alg");
    free(jws);
    free(payload);
    json_decref(hdr);
    att_signer_free(rs_with_ps);
    att_rp_free(rp2);

    free(nb);
    json_decref(jwk);
    free(p);
    free(cj);
    att_rp_free(rp);
}

static void test_foreign_key_headers(void **state)
{
    (void)state;
    srv_default();
    att_rp_t *rp = rp_make(NULL);
    att_diag_t d;
    json_t *ojwk = att_jwk_from_cert(other.cert, &d);
    const char *okid = att_signer_kid(other.signer);
    /* `other` (not in the JWKS) signs, and offers its key every way a header can */
    json_t *hs[] = {
        json_pack("{s:s,s:O}", "kid", okid, "jwk", ojwk),
        json_pack("{s:s,s:O}", "kid", okid, "x5c", json_object_get(ojwk, "x5c")),
        json_pack("{s:s,s:s}", "kid", okid, "jku", "https://evil.example/certs"),
        json_pack("{s:s,s:s}", "kid", okid, "x5u", "https://evil.example/cert.pem"),
        json_pack("{s:O,s:O,s:s}", "jwk", ojwk, "x5c", json_object_get(ojwk, "x5c"), "jku",
                  JKU), /* no kid at all */
    };
    const att_err_t want[] = {ATT_E_JWS_KID, ATT_E_JWS_KID, ATT_E_JWS_KID, ATT_E_JWS_KID,
                              ATT_E_JWS_KID};
    for (size_t i = 0; i < ATT_ARRAY_LEN(hs); i++) {
        char *t = sign_header(&other, hs[i], claims_at(NOW, 3600));
        EXPECT_FAIL(rp, t, NULL, NOW + (att_time_t)i * 100, want[i], "kid");
        free(t);
    }
    /* ... and under the kid of a published key: the published key decides -> bad signature */
    json_t *h = json_pack("{s:s,s:O,s:O}", "kid", att_signer_kid(rsa.signer), "jwk", ojwk, "x5c",
                          json_object_get(ojwk, "x5c"));
    char *t = sign_header(&other, h, claims_at(NOW, 3600));
    EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_JWS_SIGNATURE, "signature");
    free(t);
    /* the fetch hook was never asked for the evil URLs */
    assert_true(srv.n_jwks >= 1);
    json_decref(ojwk);
    att_rp_free(rp);
}

static void test_refetch(void **state)
{
    (void)state;
    tok_key_t *k1[] = {&rsa};
    srv_set(std_discovery, jwks_of(k1, 1));
    att_rp_t *rp = rp_make(&(att_rp_opts_t){.refetch_interval = 30});
    char *a = good(&rsa), *b = good(&other);
    EXPECT_OK(rp, a, NULL, NOW);
    assert_int_equal(srv.n_jwks, 1);

    /* unknown kid: exactly one refetch, then rejected */
    EXPECT_FAIL(rp, b, NULL, NOW + 100, ATT_E_JWS_KID, "kid");
    assert_int_equal(srv.n_jwks, 2);
    /* rate limit: within 30 s no further fetch */
    for (int i = 0; i < 5; i++)
        EXPECT_FAIL(rp, b, NULL, NOW + 101 + i, ATT_E_JWS_KID, "kid");
    assert_int_equal(srv.n_jwks, 2);
    /* the issuer rotates in `other`: still rate-limited at +129, accepted after a refetch at +130
     */
    tok_key_t *k2[] = {&rsa, &other};
    srv_set(std_discovery, jwks_of(k2, 2));
    EXPECT_FAIL(rp, b, NULL, NOW + 129, ATT_E_JWS_KID, "kid");
    assert_int_equal(srv.n_jwks, 0);
    EXPECT_OK(rp, b, NULL, NOW + 130);
    assert_int_equal(srv.n_jwks, 1);
    assert_int_equal(srv.n_discovery, 0); /* the discovered jwks_uri is used again */
    EXPECT_OK(rp, a, NULL, NOW + 131);
    EXPECT_OK(rp, b, NULL, NOW + 132);
    assert_int_equal(srv.n_jwks, 1);
    att_rp_free(rp);

    /* max age: a JWKS older than max_age is refreshed in the background by the next
     * verification, which still uses the old keys (a known kid never waits for a fetch); a key
     * removed by the issuer then stops verifying */
    rp = rp_make(&(att_rp_opts_t){.max_age = 600});
    EXPECT_OK(rp, b, NULL, NOW);
    srv_set(std_discovery, jwks_of(k1, 1));
    EXPECT_OK(rp, b, NULL, NOW + 599);
    assert_int_equal(srv.n_jwks, 0);
    EXPECT_OK(rp, b, NULL, NOW + 600);
    att_rp_wait_idle(rp);
    assert_int_equal(srv.n_jwks, 1);
    EXPECT_FAIL(rp, b, NULL, NOW + 601, ATT_E_JWS_KID, "kid");
    assert_int_equal(srv.n_jwks, 1);
    att_rp_free(rp);

    /* the issuer is down: one attempt per interval, the reason is reported */
    pthread_mutex_lock(&srv.lock);
    free(srv.jwks);
    srv.jwks = NULL;
    srv.n_jwks = 0;
    pthread_mutex_unlock(&srv.lock);
    rp = rp_make(NULL);
    const char *ck;
    char msg[512];
    assert_int_equal(verify(rp, a, NULL, NOW, &ck, msg, sizeof msg), ATT_E_JWKS);
    assert_string_equal(ck, "jwks");
    assert_non_null(strstr(msg, "404"));
    assert_int_equal(verify(rp, a, NULL, NOW + 1, &ck, msg, sizeof msg), ATT_E_JWKS);
    assert_non_null(strstr(msg, "backoff after a failed fetch"));
    assert_non_null(strstr(msg, "404"));
    assert_int_equal(srv.n_jwks, 1);
    assert_int_equal(att_rp_refresh(rp, NOW + 2, &(att_diag_t){0}), ATT_E_JWKS);
    assert_int_equal(srv.n_jwks, 2); /* refresh ignores the rate limit */
    att_rp_free(rp);
    free(a);
    free(b);
}

static void test_discovery(void **state)
{
    (void)state;
    tok_key_t *k[] = {&rsa};
    char *a = good(&rsa);
    const char *docs[] = {
        "{\"issuer\":\"https://evil.example\",\"jwks_uri\":\"" JKU "\"}",
        "{\"issuer\":\"" ISSUER "\",\"jwks_uri\":\"https://evil.example/certs\"}",
        "{\"issuer\":\"" ISSUER "\",\"jwks_uri\":\"https://attest.example.test.evil.example/c\"}",
        "{\"issuer\":\"" ISSUER "\",\"jwks_uri\":\"https://attest.example.test@evil.example/c\"}",
        "{\"issuer\":\"" ISSUER "\",\"jwks_uri\":\"file:///etc/passwd\"}",
        "{\"issuer\":\"" ISSUER "\"}",
        "not json",
    };
    for (size_t i = 0; i < ATT_ARRAY_LEN(docs); i++) {
        srv_set(docs[i], jwks_of(k, 1));
        att_rp_t *rp = rp_make(NULL);
        EXPECT_FAIL(rp, a, NULL, NOW, ATT_E_JWKS, "jwks");
        assert_int_equal(srv.n_jwks, 0);
        att_rp_free(rp);
    }
    /* a foreign jwks_uri when allowed (the hook serves JKU only, so point it there) */
    srv_set("{\"issuer\":\"" ISSUER "\",\"jwks_uri\":\"" JKU "\"}", jwks_of(k, 1));
    att_rp_t *rp = rp_make(&(att_rp_opts_t){.allow_foreign_jwks = true});
    EXPECT_OK(rp, a, NULL, NOW);
    att_rp_free(rp);
    /* bad JWKS documents */
    const char *sets[] = {"[]", "{\"keys\":{}}", "{\"keys\":[]}",
                          ("{\"keys\":[{\"kty\":\"oct\","
                           "\"kid\":\"k\",\"k\":\"AAAA\"}]}")};
    for (size_t i = 0; i < ATT_ARRAY_LEN(sets); i++) {
        srv_set(std_discovery, json_object());
        pthread_mutex_lock(&srv.lock);
        free(srv.jwks);
        srv.jwks = strdup(sets[i]);
        pthread_mutex_unlock(&srv.lock);
        rp = rp_make(NULL);
        EXPECT_FAIL(rp, a, NULL, NOW, ATT_E_JWKS, "jwks");
        att_rp_free(rp);
    }
    /* MAA-style JWK: kid, kty and x5c only (no n/e); and n/e contradicting x5c is skipped */
    att_diag_t d;
    json_t *jwk = att_jwk_from_cert(rsa.cert, &d);
    json_object_del(jwk, "n");
    json_object_del(jwk, "e");
    json_t *bad = att_jwk_from_cert(other.cert, &d);
    json_object_set(bad, "x5c", json_object_get(jwk, "x5c"));
    json_object_set_new(bad, "kid", json_string("mixed"));
    srv_set(std_discovery, json_pack("{s:[o,o]}", "keys", jwk, bad));
    rp = rp_make(NULL);
    EXPECT_OK(rp, a, NULL, NOW);
    assert_int_equal(att_rp_key_count(rp), 1);
    att_rp_free(rp);
    /* options */
    assert_null(att_rp_new(&(att_rp_opts_t){0}, &d));
    assert_int_equal(d.code, ATT_E_ARG);
    assert_null(att_rp_new(&(att_rp_opts_t){.issuer = "ftp://x"}, &d));
    assert_null(att_rp_new(
        &(att_rp_opts_t){.issuer = ISSUER, .algs = (att_alg_t[]){ATT_ALG_NONE}, .n_algs = 1}, &d));
    assert_null(att_rp_new(NULL, &d));
    free(a);
}

static void test_load_jwks_and_audience(void **state)
{
    (void)state;
    att_rp_t *rp = att_rp_new(&(att_rp_opts_t){.issuer = ISSUER, .audience = "svc"}, NULL);
    assert_non_null(rp);
    tok_key_t *k[] = {&rsa};
    json_t *j = jwks_of(k, 1);
    char *txt = json_dumps(j, 0);
    att_diag_t d;
    assert_int_equal(att_rp_load_jwks(rp, txt, strlen(txt), NOW, &d), ATT_OK);
    assert_int_equal(att_rp_load_jwks(rp, "{}", 2, NOW, &d), ATT_E_JWKS);
    json_t *c = claims_at(NOW, 3600);
    char *t = sign(&rsa, json_incref(c));
    EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_TOKEN_CLAIM, "aud");
    free(t);
    json_object_set_new(c, "aud", json_pack("[s,s]", "x", "svc"));
    t = sign(&rsa, json_incref(c));
    EXPECT_OK(rp, t, NULL, NOW);
    free(t);
    json_object_set_new(c, "aud", json_string("svc"));
    t = sign(&rsa, json_incref(c));
    EXPECT_OK(rp, t, NULL, NOW);
    free(t);
    json_object_set_new(c, "aud", json_string("svc2"));
    t = sign(&rsa, json_incref(c));
    EXPECT_FAIL(rp, t, NULL, NOW, ATT_E_TOKEN_CLAIM, "aud");
    free(t);
    json_decref(c);
    free(txt);
    json_decref(j);
    att_rp_free(rp);
}

/* ---- issue 10.6 / 18.B2: single-flight key fetches -------------------------------------- */

/* A fetch hook that holds every JWKS request until the test opens the gate (or 20 s pass: a
 * safety net so that a broken implementation fails instead of hanging). */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open, entered;
    int jwks_calls;
} gate_t;

static gate_t gate = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static att_err_t gate_fetch(void *arg, const char *url, char **body, size_t *len, att_diag_t *d)
{
    (void)arg;
    if (strcmp(url, JKU) == 0) {
        pthread_mutex_lock(&gate.mu);
        gate.jwks_calls++;
        gate.entered = true;
        pthread_cond_broadcast(&gate.cv);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 20;
        while (!gate.open)
            if (pthread_cond_timedwait(&gate.cv, &gate.mu, &until) != 0)
                break;
        pthread_mutex_unlock(&gate.mu);
    }
    return fetch(&srv, url, body, len, d);
}

typedef struct {
    att_rp_t *rp;
    char *tok;
    att_time_t now;
    att_err_t e;
    char msg[512];
} one_t;

static void *verify_one(void *arg)
{
    one_t *o = arg;
    att_rp_result_t r;
    o->e = att_rp_verify(o->rp, o->tok, strlen(o->tok), NULL, o->now, &r);
    snprintf(o->msg, sizeof o->msg, "%s", r.diag.msg);
    att_rp_result_clear(&r);
    return NULL;
}

static unsigned rp_waiters(att_rp_t *rp)
{
    pthread_mutex_lock(&rp->lock);
    unsigned n = rp->waiters;
    pthread_mutex_unlock(&rp->lock);
    return n;
}

static bool rp_fetching(att_rp_t *rp)
{
    pthread_mutex_lock(&rp->lock);
    bool f = rp->fetching;
    pthread_mutex_unlock(&rp->lock);
    return f;
}

static void test_single_flight(void **state)
{
    (void)state;
    srv_default();
    gate.open = gate.entered = false;
    gate.jwks_calls = 0;
    att_rp_t *rp = att_rp_new(
        &(att_rp_opts_t){
            .issuer = ISSUER, .fetch = gate_fetch, .timeout_ms = 30000, .max_waiters = 2},
        NULL);
    assert_non_null(rp);
    char *ta = good(&rsa), *tp = good(&ps), *te = good(&ec), *tb = good(&other);

    /* two requests without keys wait for the one fetch, which they share */
    one_t o[2] = {{.rp = rp, .tok = ta, .now = NOW}, {.rp = rp, .tok = tp, .now = NOW + 1}};
    pthread_t th[2];
    assert_int_equal(pthread_create(&th[0], NULL, verify_one, &o[0]), 0);
    pthread_mutex_lock(&gate.mu);
    while (!gate.entered)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
    assert_int_equal(pthread_create(&th[1], NULL, verify_one, &o[1]), 0);
    while (rp_waiters(rp) < 2)
        sched_yield();
    /* a third one does not queue up behind them: it is refused at once, the fetch in flight */
    const char *ck;
    char msg[512];
    assert_int_equal(verify(rp, te, NULL, NOW + 2, &ck, msg, sizeof msg), ATT_E_JWKS);
    assert_non_null(strstr(msg, "being fetched"));
    assert_true(rp_fetching(rp));
    pthread_mutex_lock(&gate.mu);
    gate.open = true;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (o[i].e != ATT_OK)
            fail_msg("waiter %d: %s", i, o[i].msg);
    }
    assert_int_equal(gate.jwks_calls, 1);
    assert_int_equal(att_rp_fetch_count(rp), 1);

    /* an unknown kid right after: no fetch within the refetch interval (30 s) */
    EXPECT_FAIL(rp, tb, NULL, NOW + 3, ATT_E_JWS_KID, "kid");
    EXPECT_FAIL(rp, tb, NULL, NOW + 29, ATT_E_JWS_KID, "kid");
    assert_int_equal(gate.jwks_calls, 1);

    /* a known kid never waits: with the keys stale (max age 3600 s) and the refresh held at the
     * gate, the token still verifies with the keys at hand while the fetch is in flight */
    pthread_mutex_lock(&gate.mu);
    gate.open = gate.entered = false;
    pthread_mutex_unlock(&gate.mu);
    EXPECT_OK(rp, ta, NULL, NOW + 4000);
    assert_true(rp_fetching(rp));
    EXPECT_OK(rp, tp, NULL, NOW + 4001);
    /* an unknown kid may wait for it (a waiter's place is free) - not tested here - but starts
     * no second fetch */
    assert_int_equal(att_rp_fetch_count(rp), 2);
    pthread_mutex_lock(&gate.mu);
    gate.open = true;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    att_rp_wait_idle(rp);
    assert_int_equal(gate.jwks_calls, 2);
    att_rp_free(rp);

    /* after a failed fetch: no new one within fail_backoff, whatever the kids */
    pthread_mutex_lock(&srv.lock);
    free(srv.jwks);
    srv.jwks = NULL;
    srv.n_jwks = 0;
    pthread_mutex_unlock(&srv.lock);
    rp = rp_make(&(att_rp_opts_t){.refetch_interval = 5, .fail_backoff = 60});
    EXPECT_FAIL(rp, ta, NULL, NOW, ATT_E_JWKS, "jwks");
    for (int i = 1; i < 60; i += 6)
        EXPECT_FAIL(rp, i % 2 ? tb : tp, NULL, NOW + i, ATT_E_JWKS, "jwks");
    assert_int_equal(srv.n_jwks, 1);
    EXPECT_FAIL(rp, ta, NULL, NOW + 60, ATT_E_JWKS, "jwks");
    assert_int_equal(srv.n_jwks, 2);
    att_rp_free(rp);
    free(ta);
    free(tp);
    free(te);
    free(tb);
}

/* A real hanging JWKS on loopback (accepts, never answers): concurrent tokens with invented
 * kids, at `now` values 6 s apart (more than a refetch interval of 5 s), open one connection in
 * all; before, each waited for the fetch lock and then fetched again, one after another. */
static void test_hanging_jwks(void **state)
{
    (void)state;
    lo_srv_t hang;
    lo_start(&hang, NULL, NULL);
    char uri[128];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/jwks", hang.port);
    att_rp_t *rp = att_rp_new(&(att_rp_opts_t){.issuer = ISSUER,
                                               .jwks_uri = uri,
                                               .timeout_ms = 400,
                                               .refetch_interval = 5,
                                               .max_waiters = 1},
                              NULL);
    assert_non_null(rp);
    char *tb = good(&other);
    enum { N = 8 };
    one_t o[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        o[i] = (one_t){.rp = rp, .tok = tb, .now = NOW + 6 * i};
        assert_int_equal(pthread_create(&th[i], NULL, verify_one, &o[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(o[i].e, ATT_E_JWKS);
    }
    assert_int_equal(lo_accepted(&hang), 1);
    assert_int_equal(att_rp_fetch_count(rp), 1);
    /* one of them waited and saw the deadline, the others were told why they did not wait */
    att_rp_free(rp);

    /* a known kid with stale keys: verified while the refresh hangs on the loopback server */
    rp = att_rp_new(
        &(att_rp_opts_t){.issuer = ISSUER, .jwks_uri = uri, .timeout_ms = 60000, .max_age = 600},
        NULL);
    tok_key_t *k[] = {&rsa};
    json_t *j = jwks_of(k, 1);
    char *txt = json_dumps(j, JSON_COMPACT);
    assert_int_equal(att_rp_load_jwks(rp, txt, strlen(txt), NOW, NULL), ATT_OK);
    char *ta = good(&rsa);
    EXPECT_OK(rp, ta, NULL, NOW + 700);
    assert_true(rp_fetching(rp));
    EXPECT_OK(rp, ta, NULL, NOW + 701);
    att_rp_free(rp); /* aborts the hanging transfer */
    lo_stop(&hang);
    free(txt);
    json_decref(j);
    free(ta);
    free(tb);
}

/* ---- issue 18.B5: no redirects, no downgrade -------------------------------------------- */

static const char *redirect_answer(lo_srv_t *s, const char *req)
{
    (void)req;
    return s->arg;
}

static void test_no_redirect(void **state)
{
    (void)state;
    lo_srv_t target, redir;
    lo_start(&target, NULL, NULL);
    char resp[256];
    snprintf(resp, sizeof resp,
             "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/x\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n",
             target.port);
    lo_start(&redir, redirect_answer, resp);
    char iss[128];
    snprintf(iss, sizeof iss, "http://127.0.0.1:%d", redir.port);
    att_rp_t *rp = att_rp_new(&(att_rp_opts_t){.issuer = iss, .timeout_ms = 5000}, NULL);
    char *ta = good(&rsa);
    const char *ck;
    char msg[512];
    assert_int_equal(verify(rp, ta, NULL, NOW, &ck, msg, sizeof msg), ATT_E_JWKS);
    assert_non_null(strstr(msg, "redirect"));
    assert_int_equal(lo_accepted(&redir), 1);
    assert_int_equal(lo_accepted(&target), 0);
    att_rp_free(rp);
    lo_stop(&redir);
    lo_stop(&target);

    /* an https issuer's discovery naming an http jwks_uri: refused even with foreign jwks_uris
     * allowed */
    tok_key_t *k[] = {&rsa};
    srv_set("{\"issuer\":\"" ISSUER "\",\"jwks_uri\":\"http://attest.example.test/certs\"}",
            jwks_of(k, 1));
    rp = rp_make(&(att_rp_opts_t){.allow_foreign_jwks = true});
    assert_int_equal(verify(rp, ta, NULL, NOW, &ck, msg, sizeof msg), ATT_E_JWKS);
    assert_non_null(strstr(msg, "downgrade"));
    assert_int_equal(srv.n_jwks, 0);
    att_rp_free(rp);
    free(ta);
}

/* ---- issue 18.B7 / 18.B8: RSA key limits, one key per kid -------------------------------- */

/* The RSA JWK of key k with its "e" (and "kid") replaced. */
static json_t *rsa_jwk_e(tok_key_t *k, const char *kid, const BIGNUM *e)
{
    att_diag_t d;
    json_t *jwk = att_jwk_from_cert(k->cert, &d);
    json_object_del(jwk, "x5c");
    uint8_t buf[1100];
    int n = BN_bn2bin(e, buf);
    char *eb = att_b64url_encode(buf, (size_t)n);
    json_object_set_new(jwk, "e", json_string(eb));
    json_object_set_new(jwk, "kid", json_string(kid));
    free(eb);
    return jwk;
}

static EVP_PKEY *jwk_pkey(json_t *jwk)
{
    EVP_PKEY *k = jose_openssl_jwk_to_EVP_PKEY(NULL, jwk);
    ERR_clear_error();
    return k;
}

static void test_rsa_key_limits(void **state)
{
    (void)state;
    att_diag_t d;
    BIGNUM *e = BN_new();

    /* e = 1: "signed" without any private key, the signature being the padded digest itself */
    BN_set_word(e, 1);
    json_t *weak = rsa_jwk_e(&rsa, "e1", e);
    json_t *c = claims_at(NOW, 3600);
    char *cj = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    static const char hdr[] = "{\"alg\":\"RS256\",\"kid\":\"e1\"}";
    char *h = att_b64url_encode((const uint8_t *)hdr, strlen(hdr));
    char *p = att_b64url_encode((const uint8_t *)cj, strlen(cj));
    char input[4096];
    snprintf(input, sizeof input, "%s.%s", h, p);
    static const uint8_t prefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
    uint8_t em[256];
    memset(em, 0xff, sizeof em);
    em[0] = 0x00;
    em[1] = 0x01;
    size_t off = sizeof em - 32 - sizeof prefix;
    em[off - 1] = 0x00;
    memcpy(em + off, prefix, sizeof prefix);
    SHA256((const uint8_t *)input, strlen(input), em + off + sizeof prefix);
    char *sb = att_b64url_encode(em, sizeof em);
    char *forged = tok_join(h, p, sb);
    EVP_PKEY *k1 = jwk_pkey(weak);
    assert_non_null(k1);
    assert_non_null(att_token_key_mismatch(k1, ATT_ALG_RS256)); /* every verifier's key check */
    EVP_PKEY_free(k1);

    att_rp_t *rp = att_rp_new(&(att_rp_opts_t){.issuer = ISSUER}, NULL);
    json_t *set = json_pack("{s:[O,o]}", "keys", weak, att_jwk_from_cert(rsa.cert, &d));
    char *txt = json_dumps(set, JSON_COMPACT);
    assert_int_equal(att_rp_load_jwks(rp, txt, strlen(txt), NOW, &d), ATT_OK);
    assert_int_equal(att_rp_key_count(rp), 1);
    EXPECT_FAIL(rp, forged, NULL, NOW, ATT_E_JWS_KID, "kid");
    free(txt);
    json_decref(set);
    /* alone, it leaves no usable key, and the message says why */
    set = json_pack("{s:[O]}", "keys", weak);
    txt = json_dumps(set, JSON_COMPACT);
    assert_int_equal(att_rp_load_jwks(rp, txt, strlen(txt), NOW, &d), ATT_E_JWKS);
    assert_non_null(strstr(d.msg, "below 65537"));
    free(txt);
    json_decref(set);

    /* 3, 65538 (even), 2^32 + 1 (wider than 32 bits), n - 2 (as wide as the modulus) */
    const char *want[] = {"below 65537", "even", "wider than 32 bits", "wider than 32 bits"};
    EVP_PKEY *pk = X509_get0_pubkey(rsa.cert);
    BIGNUM *n = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pk, "n", &n), 1);
    for (int i = 0; i < 4; i++) {
        if (i == 0)
            BN_set_word(e, 3);
        else if (i == 1)
            BN_set_word(e, 65538);
        else if (i == 2) {
            BN_set_word(e, 1);
            BN_lshift(e, e, 32);
            BN_add_word(e, 1);
        } else {
            BN_copy(e, n);
            BN_sub_word(e, 2);
        }
        set = json_pack("{s:[o]}", "keys", rsa_jwk_e(&rsa, "x", e));
        txt = json_dumps(set, JSON_COMPACT);
        assert_int_equal(att_rp_load_jwks(rp, txt, strlen(txt), NOW, &d), ATT_E_JWKS);
        if (strstr(d.msg, want[i]) == NULL)
            fail_msg("e case %d: %s", i, d.msg);
        free(txt);
        json_decref(set);
    }

    /* 18.B8: 64 keys with one kid and exponents as wide as the modulus: none is usable (before,
     * all 64 were kept and each bogus token tried them all) */
    json_t *keys = json_array();
    for (int i = 0; i < 64; i++)
        json_array_append_new(keys, rsa_jwk_e(&rsa, "same", e));
    set = json_pack("{s:o}", "keys", keys);
    txt = json_dumps(set, JSON_COMPACT);
    assert_int_equal(att_rp_load_jwks(rp, txt, strlen(txt), NOW, &d), ATT_E_JWKS);
    free(txt);
    json_decref(set);
    /* 64 good keys with one kid: the first is kept, the others skipped */
    keys = json_array();
    for (int i = 0; i < 64; i++) {
        json_t *jk = att_jwk_from_cert(i == 0 ? rsa.cert : other.cert, &d);
        json_object_set_new(jk, "kid", json_string(att_signer_kid(rsa.signer)));
        json_array_append_new(keys, jk);
    }
    set = json_pack("{s:o}", "keys", keys);
    txt = json_dumps(set, JSON_COMPACT);
    assert_int_equal(att_rp_load_jwks(rp, txt, strlen(txt), NOW, &d), ATT_OK);
    assert_int_equal(att_rp_key_count(rp), 1);
    char *ta = good(&rsa);
    EXPECT_OK(rp, ta, NULL, NOW);
    free(ta);
    free(txt);
    json_decref(set);
    /* a modulus over 8192 bits */
    uint8_t big[1026];
    memset(big, 0xff, sizeof big);
    BN_set_word(e, 65537);
    json_t *jk = rsa_jwk_e(&rsa, "big", e);
    char *nb = att_b64url_encode(big, sizeof big);
    json_object_set_new(jk, "n", json_string(nb));
    free(nb);
    set = json_pack("{s:[o]}", "keys", jk);
    txt = json_dumps(set, JSON_COMPACT);
    assert_int_equal(att_rp_load_jwks(rp, txt, strlen(txt), NOW, &d), ATT_E_JWKS);
    assert_non_null(strstr(d.msg, "at most 8192 bits"));
    free(txt);
    json_decref(set);

    att_rp_free(rp);
    json_decref(weak);
    BN_free(e);
    BN_free(n);
    free(forged);
    free(sb);
    free(h);
    free(p);
    free(cj);
}

/* ---- issue 10.11: NumericDate claims ----------------------------------------------------- */

static char *sign_payload(tok_key_t *k, const char *payload)
{
    att_diag_t d;
    char *jws = NULL;
    json_t *h = json_pack("{s:s,s:s}", "alg", "RS256", "kid", att_signer_kid(k->signer));
    assert_int_equal(
        att_jws_sign(k->signer, h, (const uint8_t *)payload, strlen(payload), &jws, &d), ATT_OK);
    json_decref(h);
    return jws;
}

static void test_numeric_dates(void **state)
{
    (void)state;
    srv_default();
    att_rp_t *rp = rp_make(NULL);
    static const struct {
        const char *claims, *check, *msg;
        att_err_t code;
    } cases[] = {
        {"\"exp\":9223372036854775808", "exp", "not an integer NumericDate within range",
         ATT_E_TOKEN_CLAIM},
        {"\"exp\":-1", "exp", "NumericDate", ATT_E_TOKEN_CLAIM},
        {"\"exp\":1e300", "exp", "NumericDate", ATT_E_TOKEN_CLAIM},
        {"\"exp\":1751331600,\"nbf\":\"soon\"", "nbf", "NumericDate", ATT_E_TOKEN_CLAIM},
        {"\"exp\":1751331600,\"nbf\":-9223372036854775809", "nbf", "NumericDate",
         ATT_E_TOKEN_CLAIM},
        {"\"exp\":1751331600,\"iat\":1e300", "iat", "NumericDate", ATT_E_TOKEN_CLAIM},
        {"\"exp\":1751331600,\"x\":18446744073709551616", "format", "beyond 64 bits",
         ATT_E_JWS_FORMAT},
        {"\"exp\":1751331600,\"exp\":1", "format", "duplicate", ATT_E_JWS_FORMAT},
    };
    for (size_t i = 0; i < ATT_ARRAY_LEN(cases); i++) {
        char payload[512];
        snprintf(payload, sizeof payload, "{\"iss\":\"%s\",%s}", ISSUER, cases[i].claims);
        char *t = sign_payload(&rsa, payload);
        const char *ck;
        char msg[512];
        att_err_t e = verify(rp, t, NULL, NOW, &ck, msg, sizeof msg);
        if (e != cases[i].code || strcmp(ck, cases[i].check) != 0 || !strstr(msg, cases[i].msg))
            fail_msg("case %zu: %s (%s: %s)", i, att_err_name(e), ck, msg);
        free(t);
    }
    char payload[128];
    snprintf(payload, sizeof payload, "{\"iss\":\"%s\",\"exp\":1751331600.5,\"iat\":0}", ISSUER);
    char *t = sign_payload(&rsa, payload);
    EXPECT_OK(rp, t, NULL, NOW);
    free(t);
    att_rp_free(rp);
}

/* ---- threads ------------------------------------------------------------------------------ */

typedef struct {
    att_rp_t *rp;
    char *tok[3];
    int ok, bad;
} thr_t;

static void *worker(void *arg)
{
    thr_t *t = arg;
    for (int i = 0; i < 300; i++) {
        att_rp_result_t r;
        const char *tok = t->tok[i % 3];
        att_err_t e = att_rp_verify(t->rp, tok, strlen(tok), &(att_rp_check_t){.nonce = "n-123"},
                                    NOW + i, &r);
        if (e == ATT_OK && json_is_string(json_object_get(r.claims, "x-ms-sgx-mrenclave")))
            t->ok++;
        else
            t->bad++;
        att_rp_result_clear(&r);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    srv_default();
    /* refetch every second of `now` and a max age of 1 s: the key set is swapped over and over
     * while the four threads verify */
    att_rp_t *rp = rp_make(&(att_rp_opts_t){.refetch_interval = 1, .max_age = 1});
    thr_t t[4];
    pthread_t th[4];
    char *toks[3] = {good(&rsa), good(&ps), good(&ec)};
    for (int i = 0; i < 4; i++) {
        t[i] = (thr_t){.rp = rp, .tok = {toks[0], toks[1], toks[2]}};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(t[i].bad, 0);
        assert_int_equal(t[i].ok, 300);
    }
    assert_true(srv.n_jwks > 1);
    for (int i = 0; i < 3; i++)
        free(toks[i]);
    att_rp_free(rp);
}

/* ---- the token module's signature check, with and without a template --------------------- */

static void test_sig_ok_template(void **state)
{
    (void)state;
    tok_key_t *keys[] = {&rsa, &ps, &ec};
    const att_alg_t algs[] = {ATT_ALG_RS256, ATT_ALG_PS256, ATT_ALG_ES256};
    for (int i = 0; i < 3; i++) {
        char *jwt = good(keys[i]);
        const char *dot = strrchr(jwt, '.');
        uint8_t *sig;
        size_t slen;
        assert_true(att_b64_decode(dot + 1, strlen(dot + 1), false, &sig, &slen));
        EVP_PKEY *pub = X509_get0_pubkey(keys[i]->cert);
        EVP_MD_CTX *tmpl = EVP_MD_CTX_new();
        assert_true(att_token_md_init(tmpl, pub, algs[i], false));
        size_t il = (size_t)(dot - jwt);
        assert_true(att_token_sig_ok(pub, NULL, algs[i], jwt, il, sig, slen));
        for (int rep = 0; rep < 3; rep++) /* the template is reusable */
            assert_true(att_token_sig_ok(pub, tmpl, algs[i], jwt, il, sig, slen));
        assert_false(att_token_sig_ok(pub, tmpl, algs[i], jwt, il - 1, sig, slen));
        sig[0] ^= 0x80;
        assert_false(att_token_sig_ok(pub, tmpl, algs[i], jwt, il, sig, slen));
        assert_false(att_token_sig_ok(pub, NULL, algs[i], jwt, il, sig, slen));
        assert_false(att_token_sig_ok(pub, tmpl, algs[i], jwt, il, sig, slen - 1));
        EVP_MD_CTX_free(tmpl);
        free(sig);
        free(jwt);
    }
}

static void test_null_args(void **state)
{
    (void)state;
    att_rp_result_t r;
    assert_int_equal(att_rp_verify(NULL, "a.b.c", 5, NULL, NOW, &r), ATT_E_ARG);
    att_rp_result_clear(&r);
    assert_int_equal(att_rp_verify(NULL, "a.b.c", 5, NULL, NOW, NULL), ATT_E_ARG);
    att_rp_free(NULL);
    att_rp_result_clear(NULL);
    att_rp_expect_clear(NULL);
    assert_int_equal(att_rp_key_count(NULL), 0);
    assert_int_equal(att_rp_refresh(NULL, NOW, NULL), ATT_E_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_algs),
        cmocka_unit_test(test_issuer),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_nonce_and_claims),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_alg_none_and_confusion),
        cmocka_unit_test(test_foreign_key_headers),
        cmocka_unit_test(test_refetch),
        cmocka_unit_test(test_discovery),
        cmocka_unit_test(test_load_jwks_and_audience),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_single_flight),
        cmocka_unit_test(test_hanging_jwks),
        cmocka_unit_test(test_no_redirect),
        cmocka_unit_test(test_rsa_key_limits),
        cmocka_unit_test(test_numeric_dates),
        cmocka_unit_test(test_sig_ok_template),
        cmocka_unit_test(test_null_args),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
