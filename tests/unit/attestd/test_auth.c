/* test_auth.c - attestd's access token checks (auth.c) against two OpenID issuers served from
 * memory by a fetch hook: auth off, anonymous and required attestation, every 401 (missing,
 * other scheme, malformed, unconfigured issuer without a fetch, alg none, unknown kid, bad
 * signature, other audience, expired, not yet valid) and its WWW-Authenticate challenge, 403
 * for a missing role, roles as an array, a space-separated string, a dotted path and a claim
 * whose name holds dots, and the --auth-* options (defaults, env list, required pairs). */
#include <pthread.h>

#include "auth.h"
#include "config.h"
#include "token/tok.h"

#define ISSUER2  "https://idp2.example.test/realms/r"
#define AUDIENCE "api://attestd"
#define DISC1    ISSUER "/.well-known/openid-configuration"
#define DISC2    ISSUER2 "/.well-known/openid-configuration"
#define JWKS1    ISSUER "/keys"
#define JWKS2    ISSUER2 "/protocol/openid-connect/certs"

static tok_key_t k1, k2, stranger;

/* ---- the issuers, from memory ------------------------------------------------------------ */

typedef struct {
    pthread_mutex_t lock;
    char *jwks1, *jwks2;
    int fetches, unknown; /* all GETs; GETs of URLs that are neither issuer's */
} idp_t;

static idp_t idp = {.lock = PTHREAD_MUTEX_INITIALIZER};

static att_err_t fetch(void *arg, const char *url, char **body, size_t *len, att_diag_t *diag)
{
    idp_t *s = arg;
    char buf[512];
    const char *b = NULL;
    pthread_mutex_lock(&s->lock);
    s->fetches++;
    if (!strcmp(url, DISC1)) {
        snprintf(buf, sizeof buf, "{\"issuer\":\"%s\",\"jwks_uri\":\"%s\"}", ISSUER, JWKS1);
        b = buf;
    } else if (!strcmp(url, DISC2)) {
        snprintf(buf, sizeof buf, "{\"issuer\":\"%s\",\"jwks_uri\":\"%s\"}", ISSUER2, JWKS2);
        b = buf;
    } else if (!strcmp(url, JWKS1)) {
        b = s->jwks1;
    } else if (!strcmp(url, JWKS2)) {
        b = s->jwks2;
    } else {
        s->unknown++;
    }
    *body = b ? strdup(b) : NULL;
    *len = b ? strlen(b) : 0;
    pthread_mutex_unlock(&s->lock);
    if (b == NULL)
        return att_diag_set(diag, ATT_E_JWKS, "GET %s answered HTTP 404", url);
    return ATT_OK;
}

static char *jwks_text(tok_key_t *k)
{
    att_diag_t d;
    json_t *j = att_jwks_new();
    assert_int_equal(att_jwks_add(j, k->cert, &d), ATT_OK);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static int setup(void **state)
{
    (void)state;
    tok_key_make(&k1, ATT_ALG_RS256);
    tok_key_make(&k2, ATT_ALG_ES256);
    tok_key_make(&stranger, ATT_ALG_RS256);
    idp.jwks1 = jwks_text(&k1);
    idp.jwks2 = jwks_text(&k2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tok_key_free(&k1);
    tok_key_free(&k2);
    tok_key_free(&stranger);
    free(idp.jwks1);
    free(idp.jwks2);
    return 0;
}

/* ---- checker and tokens ------------------------------------------------------------------ */

static char *issuers[] = {ISSUER, ISSUER2};

static att_config_t cfg_base(void)
{
    att_config_t c;
    memset(&c, 0, sizeof c);
    c.auth_issuers = issuers;
    c.n_auth_issuers = 2;
    c.auth_audience = AUDIENCE;
    c.auth_roles_claim = "roles";
    c.auth_reader_role = "attestation.read";
    c.auth_admin_role = "attestation.admin";
    return c;
}

static att_auth_t *mkauth(const att_config_t *c)
{
    att_auth_t *a = NULL;
    att_diag_t d;
    if (att_auth_new(c, NULL, fetch, &idp, &a, &d) != ATT_OK)
        fail_msg("att_auth_new: %s", d.msg);
    assert_non_null(a);
    return a;
}

/* Claims valid at NOW for issuer iss with the given roles (a JSON text, or NULL: none). */
static json_t *claims(const char *iss, const char *roles)
{
    json_t *c = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "iss", iss, "sub", "client-42", "aud",
                          AUDIENCE, "iat", (json_int_t)NOW - 10, "nbf", (json_int_t)NOW - 10, "exp",
                          (json_int_t)NOW + 300);
    if (roles != NULL)
        json_object_set_new(c, "roles", json_loads(roles, JSON_DECODE_ANY, NULL));
    return c;
}

static char *bearer(tok_key_t *k, json_t *c)
{
    att_diag_t d;
    char *jwt = NULL;
    assert_int_equal(att_jwt_sign(k->signer, NULL, c, &jwt, &d), ATT_OK);
    json_decref(c);
    size_t n = strlen(jwt) + 8;
    char *h = malloc(n);
    assert_non_null(h);
    snprintf(h, n, "Bearer %s", jwt);
    free(jwt);
    return h;
}

/* Check; expect the status (0: allowed) and reason, and free the header. */
static void expect(att_auth_t *a, char *hdr, att_auth_need_t need, att_time_t now, unsigned status,
                   const char *reason, const char *in_message)
{
    att_auth_result_t r;
    att_err_t e = att_auth_check_header(a, hdr, need, now, &r);
    if (r.status != status || (status == 0) != (e == ATT_OK) ||
        (reason && (!r.reason || strcmp(r.reason, reason))) ||
        (in_message && !strstr(r.message, in_message)))
        fail_msg("header %.40s...: got %u %s (%s), want %u %s with \"%s\"", hdr ? hdr : "(none)",
                 r.status, r.reason ? r.reason : "-", r.message, status, reason ? reason : "-",
                 in_message ? in_message : "");
    if (status == 401) {
        assert_string_equal(r.code, "Unauthorized");
        assert_true(!strncmp(r.challenge, "Bearer realm=\"attestd\"", 22));
        if (strcmp(reason, "missing") == 0) {
            assert_string_equal(r.challenge, "Bearer realm=\"attestd\"");
        } else {
            assert_non_null(strstr(r.challenge, "error=\"invalid_token\", error_description=\""));
            /* the description is one quoted-string without inner quotes or backslashes */
            const char *desc = strstr(r.challenge, "error_description=\"") + 19;
            assert_null(strpbrk(desc, "\\"));
            assert_int_equal(strchr(desc, '"') - desc, (long)strlen(desc) - 1);
        }
    } else if (status == 403) {
        assert_string_equal(r.code, "Forbidden");
        assert_non_null(strstr(r.challenge, "error=\"insufficient_scope\""));
    } else {
        assert_null(r.code);
        assert_string_equal(r.challenge, "");
    }
    free(hdr);
}

static char *S(const char *s)
{
    return strdup(s);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_off(void **state)
{
    (void)state;
    att_config_t c;
    memset(&c, 0, sizeof c);
    att_auth_t *a = (att_auth_t *)1;
    att_diag_t d;
    assert_int_equal(att_auth_new(&c, NULL, fetch, &idp, &a, &d), ATT_OK);
    assert_null(a);
    expect(NULL, NULL, ATT_AUTH_ADMIN, NOW, 0, NULL, NULL);
    expect(NULL, S("Basic Zm9vOmJhcg=="), ATT_AUTH_READ, NOW, 0, NULL, NULL);
    expect(NULL, NULL, ATT_AUTH_ATTEST, NOW, 0, NULL, NULL);
}

static void test_anonymous_attest(void **state)
{
    (void)state;
    att_config_t c = cfg_base();
    att_auth_t *a = mkauth(&c);
    expect(a, NULL, ATT_AUTH_ATTEST, NOW, 0, NULL, NULL);
    expect(a, S("Bearer garbage"), ATT_AUTH_ATTEST, NOW, 0, NULL, NULL); /* not even read */
    /* but policies need a token */
    expect(a, NULL, ATT_AUTH_READ, NOW, 401, "missing", "read policies");
    expect(a, S("  "), ATT_AUTH_ADMIN, NOW, 401, "missing", "change policies");
    assert_int_equal(idp.fetches, 0);
    att_auth_free(a);
}

static void test_required_attest(void **state)
{
    (void)state;
    att_config_t c = cfg_base();
    c.auth_attest_required = true;
    att_auth_t *a = mkauth(&c);
    expect(a, NULL, ATT_AUTH_ATTEST, NOW, 401, "missing", "required to attest");
    expect(a, bearer(&k1, claims(ISSUER, NULL)), ATT_AUTH_ATTEST, NOW, 0, NULL, NULL);
    expect(a, bearer(&k2, claims(ISSUER2, NULL)), ATT_AUTH_ATTEST, NOW, 0, NULL, NULL);
    /* no role needed to attest, but a role is still needed for policies */
    expect(a, bearer(&k1, claims(ISSUER, NULL)), ATT_AUTH_READ, NOW, 403, "role",
           "lacks the role \"attestation.read\"");
    att_auth_result_t r;
    char *h = bearer(&k1, claims(ISSUER, NULL));
    assert_int_equal(att_auth_check_header(a, h, ATT_AUTH_ATTEST, NOW, &r), ATT_OK);
    assert_string_equal(r.sub, "client-42");
    free(h);
    att_auth_free(a);
}

static void test_roles(void **state)
{
    (void)state;
    att_config_t c = cfg_base();
    att_auth_t *a = mkauth(&c);
    const char *reader = "[\"attestation.read\"]", *admin = "[\"x\",\"attestation.admin\"]";
    expect(a, bearer(&k1, claims(ISSUER, reader)), ATT_AUTH_READ, NOW, 0, NULL, NULL);
    expect(a, bearer(&k1, claims(ISSUER, reader)), ATT_AUTH_ADMIN, NOW, 403, "role",
           "lacks the role \"attestation.admin\" required to change policies");
    expect(a, bearer(&k1, claims(ISSUER, admin)), ATT_AUTH_ADMIN, NOW, 0, NULL, NULL);
    expect(a, bearer(&k1, claims(ISSUER, admin)), ATT_AUTH_READ, NOW, 0, NULL, NULL);
    expect(a, bearer(&k2, claims(ISSUER2, admin)), ATT_AUTH_ADMIN, NOW, 0, NULL, NULL);
    /* a string: space-separated roles; no prefix or substring matches */
    expect(a, bearer(&k1, claims(ISSUER, "\"openid attestation.admin\"")), ATT_AUTH_ADMIN, NOW, 0,
           NULL, NULL);
    expect(a, bearer(&k1, claims(ISSUER, "\"attestation.read\"")), ATT_AUTH_READ, NOW, 0, NULL,
           NULL);
    expect(a, bearer(&k1, claims(ISSUER, "\"attestation.adminx attestation.rea\"")), ATT_AUTH_READ,
           NOW, 403, "role", "is \"attestation.adminx attestation.rea\"");
    expect(a, bearer(&k1, claims(ISSUER, "[\"ATTESTATION.ADMIN\", 7, null]")), ATT_AUTH_ADMIN, NOW,
           403, "role", NULL);
    expect(a, bearer(&k1, claims(ISSUER, "{\"attestation.admin\":true}")), ATT_AUTH_ADMIN, NOW, 403,
           "role", NULL);
    expect(a, bearer(&k1, claims(ISSUER, NULL)), ATT_AUTH_ADMIN, NOW, 403, "role",
           "claim \"roles\" is absent");
    att_auth_free(a);

    /* a dotted path (Keycloak) with custom role names */
    c.auth_roles_claim = "realm_access.roles";
    c.auth_reader_role = "viewer";
    c.auth_admin_role = "editor";
    a = mkauth(&c);
    json_t *cl = claims(ISSUER, NULL);
    json_object_set_new(cl, "realm_access", json_pack("{s:[s]}", "roles", "viewer"));
    expect(a, bearer(&k1, json_incref(cl)), ATT_AUTH_READ, NOW, 0, NULL, NULL);
    expect(a, bearer(&k1, json_incref(cl)), ATT_AUTH_ADMIN, NOW, 403, "role", "\"editor\"");
    json_object_set_new(cl, "realm_access", json_pack("{s:s}", "roles", "editor"));
    expect(a, bearer(&k1, json_incref(cl)), ATT_AUTH_ADMIN, NOW, 0, NULL, NULL);
    json_object_set_new(cl, "realm_access", json_string("editor"));
    expect(a, bearer(&k1, json_incref(cl)), ATT_AUTH_ADMIN, NOW, 403, "role", "is absent");
    json_decref(cl);
    att_auth_free(a);

    /* a claim whose own name holds dots is taken as is (Auth0 namespaced claims) */
    c.auth_roles_claim = "https://attestd.example/roles";
    a = mkauth(&c);
    cl = claims(ISSUER, NULL);
    json_object_set_new(cl, "https://attestd.example/roles", json_pack("[s]", "editor"));
    expect(a, bearer(&k1, cl), ATT_AUTH_ADMIN, NOW, 0, NULL, NULL);
    att_auth_free(a);
}

static void test_rejections(void **state)
{
    (void)state;
    att_config_t c = cfg_base();
    att_auth_t *a = mkauth(&c);
    const char *admin = "[\"attestation.admin\"]";
    const att_auth_need_t N = ATT_AUTH_READ;

    expect(a, S("Basic Zm9vOmJhcg=="), N, NOW, 401, "scheme", "\"Basic\" scheme");
    /* a bare token: refused without echoing it */
    att_auth_result_t rr;
    assert_int_not_equal(
        att_auth_check_header(a, "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", N, NOW, &rr), ATT_OK);
    assert_string_equal(rr.reason, "scheme");
    assert_non_null(strstr(rr.message, "has no scheme"));
    assert_null(strstr(rr.message, "eyJ"));
    assert_null(strstr(rr.challenge, "eyJ"));
    expect(a, S("Bearer"), N, NOW, 401, "malformed", "empty");
    expect(a, S("Bearer    "), N, NOW, 401, "malformed", "empty");
    expect(a, S("Bearer not-a-jwt"), N, NOW, 401, "malformed", "not a compact JWS");
    expect(a, S("Bearer a.!!!.c"), N, NOW, 401, "malformed", NULL);
    expect(a, S("Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"), N, NOW, 401, "malformed",
           "string \"iss\"");
    /* five segments naming an unconfigured issuer: malformed before any issuer is chosen (the
     * split every verifier uses refuses it, whatever the issuer) */
    expect(a, S("Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL290aGVyIn0.c2ln.x.y"), N, NOW,
           401, "malformed", "5 '.'-separated segments");
    /* the scheme is case-insensitive and surrounding white space is ignored */
    char *h = bearer(&k1, claims(ISSUER, admin));
    char lower[4096];
    snprintf(lower, sizeof lower, "  bearer \t%s  ", h + 7);
    expect(a, S(lower), N, NOW, 0, NULL, NULL);

    /* tampered payload: another sub, same header and signature */
    char *hh, *p, *s;
    tok_split(h + 7, &hh, &p, &s);
    json_t *cl = claims(ISSUER, "[\"attestation.admin\",\"root\"]");
    char *txt = json_dumps(cl, JSON_COMPACT | JSON_SORT_KEYS);
    char *p2 = att_b64url_encode((const uint8_t *)txt, strlen(txt));
    char *forged = tok_join(hh, p2, s);
    snprintf(lower, sizeof lower, "Bearer %s", forged);
    expect(a, S(lower), N, NOW, 401, "signature", "does not verify");
    free(forged);
    free(p2);
    free(txt);
    json_decref(cl);
    /* alg none */
    txt = strdup("{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"exp\":9999999999}");
    char *none = att_jws_unsigned((const uint8_t *)txt, strlen(txt));
    snprintf(lower, sizeof lower, "Bearer %s", none);
    expect(a, S(lower), N, NOW, 401, "alg", "unsigned");
    free(none);
    free(txt);
    free(hh);
    free(p);
    free(s);
    free(h);

    /* a key the issuer never published (kid unknown even after a refetch) */
    expect(a, bearer(&stranger, claims(ISSUER, admin)), N, NOW, 401, "kid", "not in the issuer");
    /* issuer 1's key for a token naming issuer 2 */
    expect(a, bearer(&k1, claims(ISSUER2, admin)), N, NOW, 401, "kid", NULL);

    /* an issuer that is not configured: refused without any request to it */
    int unknown = idp.unknown;
    expect(a, bearer(&k1, claims("https://evil.example", admin)), N, NOW, 401, "issuer",
           "iss \"https://evil.example\" is not a configured issuer");
    expect(a, bearer(&k1, claims(ISSUER "/", admin)), N, NOW, 401, "issuer", NULL);
    assert_int_equal(idp.unknown, unknown);

    /* audience: other, absent, array with and without ours */
    cl = claims(ISSUER, admin);
    json_object_set_new(cl, "aud", json_string("api://other"));
    expect(a, bearer(&k1, json_incref(cl)), N, NOW, 401, "audience",
           "does not contain the audience \"api://attestd\"");
    json_object_del(cl, "aud");
    expect(a, bearer(&k1, json_incref(cl)), N, NOW, 401, "audience", "(absent)");
    json_object_set_new(cl, "aud", json_pack("[s,s]", "account", AUDIENCE));
    expect(a, bearer(&k1, json_incref(cl)), N, NOW, 0, NULL, NULL);
    json_object_set_new(cl, "aud", json_pack("[s,s]", "account", "api://attestd2"));
    expect(a, bearer(&k1, json_incref(cl)), N, NOW, 401, "audience", NULL);
    json_decref(cl);

    /* time: exp 300 s after NOW, nbf 10 s before; 60 s of skew */
    expect(a, bearer(&k1, claims(ISSUER, admin)), N, NOW + 359, 0, NULL, NULL);
    expect(a, bearer(&k1, claims(ISSUER, admin)), N, NOW + 360, 401, "expired", "exp");
    expect(a, bearer(&k1, claims(ISSUER, admin)), N, NOW - 70, 0, NULL, NULL);
    expect(a, bearer(&k1, claims(ISSUER, admin)), N, NOW - 71, 401, "not_yet_valid", "nbf");
    cl = claims(ISSUER, admin);
    json_object_del(cl, "exp");
    expect(a, bearer(&k1, cl), N, NOW, 401, "claims", "exp is absent");
    att_auth_free(a);
}

static void test_unreachable_issuer(void **state)
{
    (void)state;
    char *one[] = {"https://down.example"};
    att_config_t c = cfg_base();
    c.auth_issuers = one;
    c.n_auth_issuers = 1;
    att_auth_t *a = mkauth(&c);
    expect(a, bearer(&k1, claims("https://down.example", "[\"attestation.read\"]")), ATT_AUTH_READ,
           NOW, 401, "jwks", "no key set for issuer https://down.example");
    att_auth_free(a);
}

/* A token whose header names kid and whose payload is the given text, signed by k. */
static char *bearer_raw(tok_key_t *k, const char *kid, const char *payload)
{
    att_diag_t d;
    char *jws = NULL;
    json_t *h = json_pack("{s:s,s:s}", "alg", "RS256", "kid", kid);
    assert_int_equal(
        att_jws_sign(k->signer, h, (const uint8_t *)payload, strlen(payload), &jws, &d), ATT_OK);
    json_decref(h);
    size_t n = strlen(jws) + 8;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "Bearer %s", jws);
    free(jws);
    return out;
}

/* Issue 10.11: an exp of 2^63 was "not a JWT whose payload is a JSON object with a string iss";
 * it is an exp out of range, and nbf / iat are checked the same way. */
static void test_numeric_dates(void **state)
{
    (void)state;
    att_config_t c = cfg_base();
    att_auth_t *a = mkauth(&c);
    const char *kid = att_signer_kid(k1.signer);
    char p[512];
    snprintf(p, sizeof p,
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"roles\":[\"attestation.read\"],"
             "\"exp\":9223372036854775808}",
             ISSUER, AUDIENCE);
    expect(a, bearer_raw(&k1, kid, p), ATT_AUTH_READ, NOW, 401, "claims",
           "exp 9.22337e+18 is not an integer NumericDate within range");
    snprintf(p, sizeof p, "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%lld,\"nbf\":\"now\"}", ISSUER,
             AUDIENCE, (long long)NOW + 300);
    expect(a, bearer_raw(&k1, kid, p), ATT_AUTH_READ, NOW, 401, "claims",
           "nbf \"now\" is not an integer NumericDate");
    snprintf(p, sizeof p, "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%lld,\"iat\":-5}", ISSUER,
             AUDIENCE, (long long)NOW + 300);
    expect(a, bearer_raw(&k1, kid, p), ATT_AUTH_READ, NOW, 401, "claims",
           "iat -5 is not an integer NumericDate");
    /* the payload's own faults are named too */
    expect(a, bearer_raw(&k1, kid, "{\"iss\":7}"), ATT_AUTH_READ, NOW, 401, "malformed",
           "no string \"iss\" (it is not a string)");
    expect(a, bearer_raw(&k1, kid, "[1]"), ATT_AUTH_READ, NOW, 401, "malformed",
           "not a JSON object");
    att_auth_free(a);
}

/* Issue 18.B2: invented kids cost at most one key fetch per issuer per --auth-jwks-refetch
 * interval (before: one per 5 s, each with a new discovery), and a known kid never fetches. */
static void test_invented_kids(void **state)
{
    (void)state;
    char *one[] = {ISSUER};
    att_config_t c = cfg_base();
    c.auth_issuers = one;
    c.n_auth_issuers = 1;
    c.auth_jwks_refetch = 30;
    att_auth_t *a = mkauth(&c);
    pthread_mutex_lock(&idp.lock);
    idp.fetches = 0;
    pthread_mutex_unlock(&idp.lock);
    char p[512];
    snprintf(p, sizeof p, "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%lld}", ISSUER, AUDIENCE,
             (long long)NOW + 3600);
    for (int i = 0; i < 100; i++) {
        char kid[32];
        snprintf(kid, sizeof kid, "invented-%d", i);
        expect(a, bearer_raw(&stranger, kid, p), ATT_AUTH_READ, NOW + i * 29 / 99, 401, "kid",
               "is not in the issuer's JWKS");
        if (i == 50) /* a published key still works, without a fetch */
            expect(a, bearer(&k1, claims(ISSUER, "[\"attestation.read\"]")), ATT_AUTH_READ, NOW, 0,
                   NULL, NULL);
    }
    assert_int_equal(idp.fetches, 2); /* discovery and JWKS, once */
    expect(a, bearer_raw(&stranger, "invented-x", p), ATT_AUTH_READ, NOW + 30, 401, "kid", NULL);
    assert_int_equal(idp.fetches, 3); /* the JWKS again, through the discovered jwks_uri */
    /* anonymous attestation never looks at keys */
    att_auth_result_t r;
    assert_int_equal(att_auth_check_header(a, NULL, ATT_AUTH_ATTEST, NOW, &r), ATT_OK);
    assert_int_equal(idp.fetches, 3);
    att_auth_free(a);
}

/* ---- options ----------------------------------------------------------------------------- */

static att_err_t load(att_config_t *c, att_diag_t *d, const char *const *args,
                      const char *const *env)
{
    char *argv[32] = {"attestd"};
    int argc = 1;
    for (size_t i = 0; args && args[i]; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    return att_config_load(c, argc, argv, (char **)env, d);
}

static void test_options(void **state)
{
    (void)state;
    att_config_t c;
    att_diag_t d;
    assert_int_equal(load(&c, &d, NULL, NULL), ATT_OK);
    assert_int_equal(c.n_auth_issuers, 0);
    assert_null(c.auth_audience);
    assert_string_equal(c.auth_roles_claim, "roles");
    assert_string_equal(c.auth_reader_role, "attestation.read");
    assert_string_equal(c.auth_admin_role, "attestation.admin");
    assert_false(c.auth_attest_required);
    att_config_free(&c);

    const char *a1[] = {"--auth-issuer",
                        ISSUER,
                        "--auth-issuer=" ISSUER2,
                        "--auth-audience",
                        AUDIENCE,
                        "--auth-attest",
                        "required",
                        "--auth-roles-claim",
                        "realm_access.roles",
                        "--auth-admin-role",
                        "boss",
                        NULL};
    const char *e1[] = {"ATTESTD_AUTH_ISSUER=https://ignored.example", NULL};
    assert_int_equal(load(&c, &d, a1, e1), ATT_OK);
    assert_int_equal(c.n_auth_issuers, 2);
    assert_string_equal(c.auth_issuers[0], ISSUER);
    assert_string_equal(c.auth_issuers[1], ISSUER2);
    assert_string_equal(c.auth_audience, AUDIENCE);
    assert_true(c.auth_attest_required);
    assert_string_equal(c.auth_roles_claim, "realm_access.roles");
    assert_string_equal(c.auth_admin_role, "boss");
    att_config_free(&c);

    /* the environment separates URLs by ',' and white space */
    const char *e2[] = {"ATTESTD_AUTH_ISSUER=http://127.0.0.1:3000, https://b.example:8443/x "
                        "https://c.example",
                        "ATTESTD_AUTH_AUDIENCE=aud", "ATTESTD_AUTH_ATTEST=anonymous", NULL};
    assert_int_equal(load(&c, &d, NULL, e2), ATT_OK);
    assert_int_equal(c.n_auth_issuers, 3);
    assert_string_equal(c.auth_issuers[0], "http://127.0.0.1:3000");
    assert_string_equal(c.auth_issuers[1], "https://b.example:8443/x");
    assert_string_equal(c.auth_issuers[2], "https://c.example");
    assert_false(c.auth_attest_required);
    att_config_free(&c);

    /* errors */
    const char *bad1[] = {"--auth-issuer", ISSUER, NULL};
    assert_int_equal(load(&c, &d, bad1, NULL), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "--auth-audience"));
    const char *bad2[] = {"--auth-attest", "required", NULL};
    assert_int_equal(load(&c, &d, bad2, NULL), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "without --auth-issuer"));
    const char *bad3[] = {"--auth-audience", "x", NULL};
    assert_int_equal(load(&c, &d, bad3, NULL), ATT_E_ARG);
    const char *bad4[] = {"--auth-issuer", "ftp://x", "--auth-audience", "x", NULL};
    assert_int_equal(load(&c, &d, bad4, NULL), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "auth-issuer"));
    const char *bad5[] = {"--auth-issuer", ISSUER, "--auth-audience", "x", "--auth-attest",
                          "yes",           NULL};
    assert_int_equal(load(&c, &d, bad5, NULL), ATT_E_ARG);
    assert_non_null(strstr(d.msg, "required or anonymous"));
    const char *bad6[] = {
        "--auth-issuer", ISSUER, "--auth-issuer", ISSUER, "--auth-audience", "x", NULL};
    assert_int_equal(load(&c, &d, bad6, NULL), ATT_OK);
    att_auth_t *au = NULL;
    assert_int_equal(att_auth_new(&c, NULL, fetch, &idp, &au, &d), ATT_E_ARG);
    assert_null(au);
    assert_non_null(strstr(d.msg, "twice"));
    att_config_free(&c);

    /* --help lists them */
    char *text = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&text, &n);
    att_config_usage(m);
    fclose(m);
    const char *opts[] = {"--auth-issuer URL",
                          "--auth-audience AUD",
                          "--auth-roles-claim NAME",
                          "--auth-reader-role ROLE",
                          "--auth-admin-role ROLE",
                          "--auth-attest MODE",
                          "ATTESTD_AUTH_ISSUER (','- or space-separated)"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strstr(text, opts[i]))
            fail_msg("usage lacks '%s'", opts[i]);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_anonymous_attest),
        cmocka_unit_test(test_required_attest),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_unreachable_issuer),
        cmocka_unit_test(test_numeric_dates),
        cmocka_unit_test(test_invented_kids),
        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
