/* fuzz_attest_body.c - libFuzzer target: attest and policy request bodies through attestd's
 * domain logic (src/attestd/svc.h), without HTTP.
 *
 * One att_svc_t is made at start-up: a data directory created once under /tmp (removed at exit),
 * offline collateral from the real vector sets (fuzz_vectors()), and the clock at
 * 2025-07-01T00:00:00Z, so the SGX vector quote attests (200) under the default policy. The first
 * input byte selects what the rest of the input is (mode = sel % 4):
 *
 *   0  an attest request body: att_svc_attest(svc, "SgxEnclave", ...)
 *   1  a policy body (JWS or policy text): att_svc_policy_set(svc, "SgxEnclave", ...)
 *   2  a u16 little-endian length, that many bytes of policy body, then an attest body: the
 *      policy is set, then the attest request is judged under it
 *   3  an attest request body for att_svc_attest(svc, "OpenEnclave", ...) ("report" member)
 *
 * After a policy set that succeeded, the policy is reset (att_svc_policy_reset with an empty
 * body), so every input starts from the default policy and a crash reproduces on its own.
 * Invariants checked on every reply (abort = crash for libFuzzer):
 *   - the status is 200, 4xx, 501 or 503: never 500 (nor anything else);
 *   - 200 carries a JSON object {"token": string}; an error carries its MAA code and a message
 *     (which the transport writes as {"error": {"code", "message"}}).
 * Seed corpus: tests/fuzz/corpus/attest_body/ and the seeds tests/fuzz/vector-seeds writes (the
 * e2e tests' request shapes around the SGX vector quote, which is not in the repository).
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svc.h"
#include "fuzz_common.h"

static att_svc_t *g_svc;
static char g_dir[] = "/tmp/attestd-fuzz-XXXXXX";
static pid_t g_owner;
static char g_coll[2048];
static int g_verbose; /* FUZZ_VERBOSE=1: print each reply's status and error */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    if (getpid() != g_owner)
        return;
    att_svc_free(g_svc);
    g_svc = NULL;
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *vectors = fuzz_vectors();
    g_verbose = getenv("FUZZ_VERBOSE") != NULL;
    snprintf(g_coll, sizeof g_coll, "%s/dcap", vectors);
    if (mkdtemp(g_dir) == NULL) {
        perror("fuzz_attest_body: mkdtemp");
        exit(1);
    }
    g_owner = getpid();
    atexit(cleanup);
    att_svc_opts_t o = {.issuer = "http://127.0.0.1:8080",
                        .data_dir = g_dir,
                        .collateral_dir = g_coll,
                        .have_at = true};
    att_diag_t d = {0};
    if (att_time_parse("2025-07-01T00:00:00Z", &o.at) != ATT_OK ||
        att_svc_new(&o, &g_svc, &d) != ATT_OK) {
        fprintf(stderr, "fuzz_attest_body: cannot start the service: %s\n", d.msg);
        exit(1);
    }
    return 0;
}

static void check_reply(const char *what, const att_svc_reply_t *r)
{
    if (g_verbose)
        fprintf(stderr, "fuzz_attest_body: %s: %d %s\n", what, r->status,
                r->message ? r->message : "");
    FUZZ_CHECK(r->status == 200 || (r->status >= 400 && r->status < 500) || r->status == 501 ||
                   r->status == 503,
               "%s: status %d (%s: %s)", what, r->status, r->code ? r->code : "",
               r->message ? r->message : "(no message)");
    if (r->status == 200) {
        FUZZ_CHECK(json_is_object(r->body), "%s: status %d without a JSON object body", what,
                   r->status);
        FUZZ_CHECK(json_is_string(json_object_get(r->body, "token")), "%s: 200 without a token",
                   what);
    } else {
        /* the transport writes {"error":{"code","message"}} from these two */
        FUZZ_CHECK(r->code != NULL && r->message != NULL,
                   "%s: status %d without an MAA code and a message", what, r->status);
    }
}

/* Each body is copied into its own heap buffer of exactly its size, so that reading past it
 * (assuming a NUL after it, say) is caught by ASan. */
static char *copy(const char *p, size_t n)
{
    char *b = malloc(n ? n : 1);
    if (b == NULL)
        abort();
    memcpy(b, p, n);
    return b;
}

static bool policy_set(const char *body, size_t len)
{
    att_svc_reply_t r;
    char *b = copy(body, len);
    att_svc_policy_set(g_svc, "SgxEnclave", b, len, &r);
    free(b);
    check_reply("policy set", &r);
    bool set = r.status == 200;
    att_svc_reply_clear(&r);
    return set;
}

static void policy_reset(void)
{
    att_svc_reply_t r;
    att_svc_policy_reset(g_svc, "SgxEnclave", "", 0, &r);
    FUZZ_CHECK(r.status == 200, "policy reset: status %d", r.status);
    att_svc_reply_clear(&r);
}

static void attest(const char *type, const char *body, size_t len)
{
    att_svc_reply_t r;
    char *b = copy(body, len);
    att_svc_attest(g_svc, type, b, len, &r);
    free(b);
    check_reply(type, &r);
    att_svc_reply_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0] % 4;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    switch (mode) {
    case 0:
        attest("SgxEnclave", p, n);
        break;
    case 1:
        if (policy_set(p, n))
            policy_reset();
        break;
    case 2: {
        if (n < 2)
            return 0;
        size_t plen = (size_t)(uint8_t)p[0] | (size_t)(uint8_t)p[1] << 8;
        p += 2;
        n -= 2;
        if (plen > n)
            plen = n;
        bool set = policy_set(p, plen);
        attest("SgxEnclave", p + plen, n - plen);
        if (set)
            policy_reset();
        break;
    }
    default:
        attest("OpenEnclave", p, n);
        break;
    }
    return 0;
}
