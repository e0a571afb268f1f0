/* fuzz_oauth.c - libFuzzer target: what the identity provider answers the client's OAuth2 code
 * (src/lib/client/oauth.c): the OpenID discovery document and the token endpoint's answer to a
 * client-credentials request, both outside input.
 *
 * The HTTP requests of one att_oauth_t are routed to a hook (att_oauth_set_fetch, the test hook
 * of client_int.h) that answers them from the input; nothing goes to the network. Input format:
 *
 *   byte 0   selector
 *            bit 0      0: OpenID discovery from the issuer https://idp.fuzz.test (a GET of
 *                          /.well-known/openid-configuration, then the POST to its
 *                          token_endpoint); 1: the token URL is configured, no discovery
 *            bit 1      client authentication: 0 client_secret_basic, 1 client_secret_post
 *            bits 2-3   HTTP status of the discovery answer: 200, 200, 404, 500
 *            bits 4-5   HTTP status of the token answer: 200, 200, 400, 401
 *            bits 6-7   seconds between the first and the second att_oauth_token call:
 *                       0, 59, 3600, 1e9
 *   byte 1-2 u16 little endian: length of the discovery document (cut to what is there)
 *   then     the discovery document, then the rest is the token endpoint's answer
 *
 * Each answer body is an exact-size heap copy plus the NUL att_client_resp_t promises, so a read
 * past it is caught by ASan. att_oauth_token runs twice (the second time later by the selected
 * step), then once more after att_oauth_invalidate. Invariants (abort = crash for libFuzzer):
 *   - on failure: no token, diag.code equals the returned code, which is ATT_E_FETCH or
 *     ATT_E_FETCH_STATUS (ATT_E_FETCH_STATUS exactly when an answer was not 200), and the
 *     message is NUL-terminated;
 *   - on success: both answers were 200, the token is the answer's access_token (a non-empty
 *     JSON string), token_type is absent or Bearer, att_oauth_token_endpoint() is the
 *     discovery document's token_endpoint (or the configured URL), and with discovery the
 *     document's issuer, if any, is ours;
 *   - requests: discovery is a GET of <issuer>/.well-known/openid-configuration, done at most
 *     once per context once it succeeded, that may follow same-origin redirects only; the token
 *     request is a POST to the endpoint in use with grant_type=client_credentials and the
 *     client's credentials (HTTP Basic or form), that follows no redirect (issue 18.B5);
 *   - with discovery, a token is only ever asked of the issuer's origin: the endpoint used
 *     starts with https://idp.fuzz.test followed by the end, '/', '?' or '#';
 *   - caching as documented in attest/client.h: the second call reuses the token iff
 *     expires_in (a number, or a string of up to 10 decimal digits) is in (0, 10 years) and
 *     the step is below expires_in - min(refresh_margin 60, expires_in / 2); after
 *     att_oauth_invalidate it asks again;
 *   - the client secret never shows in a diag message (unless the answer itself carried it).
 * Seed corpus: tests/fuzz/corpus/oauth/ (discovery documents and token answers shaped like
 * oidc-provider's, Keycloak's, Microsoft Entra ID's and Auth0's; attack shapes: another issuer,
 * a token_endpoint on another host or port, over http, with userinfo; expires_in 2^63 as a
 * number and a string, negative, and a JWT access token with exp 2^63; the scripts are in
 * docs/fuzzing.md).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attest/client.h"
#include "client/client_int.h"
#include "fuzz_common.h"

#define FUZZ_ISSUER    "https://idp.fuzz.test"
#define FUZZ_TOKEN_URL "https://idp.fuzz.test/oauth2/token"
#define FUZZ_CLIENT    "attest-fuzz client" /* a space: form-encoded as '+' */
#define FUZZ_SECRET    "s3cr3t-Fuzz-7f41c9"
#define FUZZ_NOW       1767225600 /* 2026-01-01T00:00:00Z */
#define FUZZ_MARGIN    60         /* att_oauth_opts_t.refresh_margin 0: 60 s */
#define MAX_ANSWER     (1u << 20)

static int g_verbose; /* FUZZ_VERBOSE=1: print each call's outcome */

typedef struct {
    const uint8_t *disc, *tok; /* the two answers */
    size_t disc_len, tok_len;
    long disc_status, tok_status;
    bool post_auth;
    unsigned gets, posts;
    const char *endpoint_seen; /* URL of the last POST (points into the oauth context) */
} hook_t;

static long status_of(unsigned bits, bool token)
{
    static const long disc[4] = {200, 200, 404, 500}, tok[4] = {200, 200, 400, 401};
    return token ? tok[bits & 3] : disc[bits & 3];
}

static bool contains(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

static att_err_t answer(hook_t *h, const att_client_req_t *rq, att_client_resp_t *rs,
                        att_diag_t *diag)
{
    (void)diag;
    const uint8_t *p;
    size_t n;
    FUZZ_CHECK(rq->method != NULL && rq->url != NULL, "request without method or URL");
    if (strcmp(rq->method, "GET") == 0) {
        FUZZ_CHECK(strcmp(rq->url, FUZZ_ISSUER "/.well-known/openid-configuration") == 0,
                   "discovery GET of %s", rq->url);
        FUZZ_CHECK(rq->body == NULL || rq->body_len == 0, "discovery GET with a body");
        FUZZ_CHECK(rq->redirects == ATT_CLIENT_REDIRECT_SAME_ORIGIN,
                   "discovery GET may follow redirects off the issuer's origin");
        h->gets++;
        p = h->disc;
        n = h->disc_len;
        rs->status = h->disc_status;
    } else {
        FUZZ_CHECK(strcmp(rq->method, "POST") == 0, "method %s", rq->method);
        FUZZ_CHECK(rq->redirects == ATT_CLIENT_REDIRECT_NONE,
                   "the token POST (it carries the secret) may follow redirects");
        FUZZ_CHECK(rq->body != NULL &&
                       contains(rq->body, rq->body_len, "grant_type=client_credentials"),
                   "token POST without grant_type=client_credentials");
        if (h->post_auth) {
            FUZZ_CHECK(contains(rq->body, rq->body_len, "client_id=attest-fuzz+client") &&
                           contains(rq->body, rq->body_len, "client_secret=" FUZZ_SECRET) &&
                           rq->basic_user == NULL && rq->basic_pass == NULL,
                       "client_secret_post: credentials not in the form (%.*s)", (int)rq->body_len,
                       rq->body);
        } else {
            FUZZ_CHECK(rq->basic_user != NULL &&
                           strcmp(rq->basic_user, "attest-fuzz+client") == 0 &&
                           rq->basic_pass != NULL && strcmp(rq->basic_pass, FUZZ_SECRET) == 0 &&
                           !contains(rq->body, rq->body_len, FUZZ_SECRET),
                       "client_secret_basic: wrong Basic credentials or the secret in the form");
        }
        h->posts++;
        h->endpoint_seen = rq->url;
        p = h->tok;
        n = h->tok_len;
        rs->status = h->tok_status;
    }
    /* exact size plus the terminating NUL that att_client_resp_t promises */
    rs->body = malloc(n + 1);
    if (rs->body == NULL)
        abort();
    if (n)
        memcpy(rs->body, p, n);
    rs->body[n] = '\0';
    rs->len = n;
    return ATT_OK;
}

static att_err_t fetch(void *arg, const att_client_req_t *rq, att_client_resp_t *rs,
                       att_diag_t *diag)
{
    return answer(arg, rq, rs, diag);
}

/* What a parsed answer says (NULL members when absent or not strings). */
typedef struct {
    json_t *j;
    const char *access_token, *token_type, *token_endpoint, *issuer;
    json_t *expires_in;
} parsed_t;

static void parse(const uint8_t *p, size_t n, parsed_t *o)
{
    memset(o, 0, sizeof(*o));
    o->j = json_loadb((const char *)p, n, 0, NULL);
    if (!json_is_object(o->j))
        return;
    o->access_token = json_string_value(json_object_get(o->j, "access_token"));
    o->token_type = json_string_value(json_object_get(o->j, "token_type"));
    o->token_endpoint = json_string_value(json_object_get(o->j, "token_endpoint"));
    o->issuer = json_string_value(json_object_get(o->j, "issuer"));
    o->expires_in = json_object_get(o->j, "expires_in");
}

static void check_failure(const char *what, att_err_t e, const char *tok, const att_diag_t *d,
                          const hook_t *h, bool secret_in_input)
{
    FUZZ_CHECK(tok == NULL, "%s: %s with a token", what, att_err_name(e));
    FUZZ_CHECK(d->code == e, "%s: returned %s, diag %s", what, att_err_name(e),
               att_err_name(d->code));
    FUZZ_CHECK(memchr(d->msg, 0, sizeof d->msg) != NULL, "%s: message not terminated", what);
    FUZZ_CHECK(e == ATT_E_FETCH || e == ATT_E_FETCH_STATUS, "%s: returned %s (%s)", what,
               att_err_name(e), d->msg);
    bool not_200 = (h->gets && h->disc_status != 200) || (h->posts && h->tok_status != 200);
    FUZZ_CHECK((e == ATT_E_FETCH_STATUS) == not_200, "%s: %s after answers %ld/%ld: %s", what,
               att_err_name(e), h->gets ? h->disc_status : 0L, h->posts ? h->tok_status : 0L,
               d->msg);
    FUZZ_CHECK(secret_in_input || strstr(d->msg, FUZZ_SECRET) == NULL,
               "%s: the client secret is in the message: %s", what, d->msg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_verbose = getenv("FUZZ_VERBOSE") != NULL;
    return 0;
}

static void verbose(const char *what, att_err_t e, const att_diag_t *d)
{
    if (g_verbose)
        fprintf(stderr, "fuzz_oauth: %s: %s %s\n", what, att_err_name(e), e ? d->msg : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > MAX_ANSWER)
        return 0;
    uint8_t sel = data[0];
    size_t dlen = (size_t)data[1] | (size_t)data[2] << 8;
    const uint8_t *p = data + 3;
    size_t n = size - 3;
    if (dlen > n)
        dlen = n;
    static const int64_t steps[4] = {0, 59, 3600, 1000000000};
    bool discovery = (sel & 1) == 0;
    hook_t h = {.disc = p,
                .disc_len = dlen,
                .tok = p + dlen,
                .tok_len = n - dlen,
                .disc_status = status_of(sel >> 2, false),
                .tok_status = status_of(sel >> 4, true),
                .post_auth = (sel & 2) != 0};
    int64_t step = steps[(sel >> 6) & 3];
    bool secret_in_input = contains((const char *)data, size, FUZZ_SECRET);

    att_oauth_opts_t oo = {.issuer = discovery ? FUZZ_ISSUER "/" : NULL,
                           .token_url = discovery ? NULL : FUZZ_TOKEN_URL,
                           .client_id = FUZZ_CLIENT,
                           .client_secret = FUZZ_SECRET,
                           .auth = h.post_auth ? ATT_OAUTH_POST : ATT_OAUTH_BASIC,
                           .scope = "attest",
                           .resource = "https://attestd.fuzz.test"};
    att_oauth_t *o = NULL;
    att_diag_t d;
    if (att_oauth_new(&oo, &o, &d) != ATT_OK) {
        fprintf(stderr, "fuzz_oauth: att_oauth_new: %s\n", d.msg);
        abort();
    }
    att_oauth_set_fetch(o, fetch, &h);

    parsed_t disc, tok;
    parse(h.disc, h.disc_len, &disc);
    parse(h.tok, h.tok_len, &tok);

    /* first call */
    char *t1 = NULL;
    att_diag_clear(&d);
    att_err_t e1 = att_oauth_token(o, FUZZ_NOW, &t1, &d);
    verbose("first call", e1, &d);
    FUZZ_CHECK(h.gets == (discovery ? 1u : 0u), "%u discovery GETs on the first call", h.gets);
    if (e1 != ATT_OK) {
        check_failure("first call", e1, t1, &d, &h, secret_in_input);
    } else {
        FUZZ_CHECK(t1 != NULL && *t1 != '\0', "ATT_OK without a token");
        FUZZ_CHECK(h.posts == 1 && h.tok_status == 200 && (!discovery || h.disc_status == 200),
                   "ATT_OK after %u POSTs, answers %ld/%ld", h.posts, h.disc_status, h.tok_status);
        FUZZ_CHECK(tok.access_token != NULL && strcmp(t1, tok.access_token) == 0,
                   "the token is not the answer's access_token");
        FUZZ_CHECK(tok.token_type == NULL || strcasecmp(tok.token_type, "Bearer") == 0,
                   "accepted token_type %s", tok.token_type);
        const char *ep = att_oauth_token_endpoint(o);
        const char *want = discovery ? disc.token_endpoint : FUZZ_TOKEN_URL;
        FUZZ_CHECK(ep != NULL && want != NULL && strcmp(ep, want) == 0 && h.endpoint_seen != NULL &&
                       strcmp(h.endpoint_seen, want) == 0,
                   "token endpoint %s, POST to %s, want %s", ep ? ep : "(none)",
                   h.endpoint_seen ? h.endpoint_seen : "(none)", want ? want : "(none)");
        if (discovery) {
            size_t il = strlen(FUZZ_ISSUER);
            FUZZ_CHECK(strncasecmp(ep, FUZZ_ISSUER, il) == 0 &&
                           (ep[il] == '\0' || strchr("/?#", ep[il]) != NULL),
                       "a token asked of %s, off the issuer's origin", ep);
        }
        if (discovery && disc.issuer != NULL) {
            size_t il = strlen(disc.issuer);
            while (il > 0 && disc.issuer[il - 1] == '/')
                il--;
            FUZZ_CHECK(il == strlen(FUZZ_ISSUER) && strncmp(disc.issuer, FUZZ_ISSUER, il) == 0,
                       "accepted a discovery document for issuer %s", disc.issuer);
        }
    }

    /* second call, step seconds later: the cached token or a new request */
    unsigned gets1 = h.gets, posts1 = h.posts;
    char *t2 = NULL;
    att_diag_clear(&d);
    att_err_t e2 = att_oauth_token(o, FUZZ_NOW + step, &t2, &d);
    verbose("second call", e2, &d);
    if (e1 == ATT_OK) {
        bool cacheable = false;
        double ei = json_number_value(tok.expires_in);
        const char *es = json_string_value(tok.expires_in); /* "3599" counts (Entra ID v1) */
        if (es != NULL && strspn(es, "0123456789") == strlen(es) && *es && strlen(es) <= 10)
            ei = strtod(es, NULL);
        {
            if (ei > 0 && ei < 10.0 * 365 * 86400) {
                int64_t life = (int64_t)ei;
                int64_t margin = FUZZ_MARGIN < life / 2 ? FUZZ_MARGIN : life / 2;
                cacheable = step < life - margin;
            }
        }
        FUZZ_CHECK(h.gets == gets1, "discovery again after it succeeded");
        if (cacheable) {
            FUZZ_CHECK(e2 == ATT_OK && h.posts == posts1 && t2 != NULL && strcmp(t1, t2) == 0,
                       "a token valid for %s s not reused %lld s later (%s, %u POSTs)",
                       json_dumps(tok.expires_in, JSON_ENCODE_ANY), (long long)step,
                       att_err_name(e2), h.posts);
        } else {
            FUZZ_CHECK(h.posts == posts1 + 1,
                       "an uncacheable token reused (expires_in %s, "
                       "step %lld)",
                       json_dumps(tok.expires_in, JSON_ENCODE_ANY), (long long)step);
            /* the same answers again: the same outcome */
            FUZZ_CHECK(e2 == ATT_OK && strcmp(t1, t2) == 0, "second fetch: %s", att_err_name(e2));
        }
    } else if (e2 != ATT_OK) {
        check_failure("second call", e2, t2, &d, &h, secret_in_input);
    } else {
        FUZZ_CHECK(false,
                   "the first call failed (%s), the second with the same answers "
                   "succeeded",
                   att_err_name(e1));
    }

    /* after invalidate: asked again */
    att_oauth_invalidate(o);
    unsigned posts2 = h.posts, gets2 = h.gets;
    char *t3 = NULL;
    att_diag_clear(&d);
    att_err_t e3 = att_oauth_token(o, FUZZ_NOW + step, &t3, &d);
    verbose("after invalidate", e3, &d);
    if (e1 == ATT_OK) {
        FUZZ_CHECK(h.posts == posts2 + 1 && h.gets == gets2, "after invalidate: %u POSTs, %u GETs",
                   h.posts - posts2, h.gets - gets2);
        FUZZ_CHECK(e3 == ATT_OK && strcmp(t3, t1) == 0, "after invalidate: %s", att_err_name(e3));
    } else if (e3 != ATT_OK) {
        check_failure("after invalidate", e3, t3, &d, &h, secret_in_input);
    }

    free(t1);
    free(t2);
    free(t3);
    json_decref(disc.j);
    json_decref(tok.j);
    att_oauth_free(o);
    return 0;
}
