/* config.c - attestd's options (see config.h). */
#include "config.h"
#include "http.h" /* att_http_split_hostport, att_cidr_parse */
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum {
    K_STR,    /* any non-empty string */
    K_LIST,   /* repeatable string */
    K_URL,    /* http:// or https:// */
    K_UINT,   /* unsigned in [min, max] */
    K_SIZE,   /* bytes with optional k/M/G (1024-based) suffix, in [min, max] */
    K_LISTEN, /* HOST:PORT */
    K_TIME,   /* RFC 3339 */
    K_ALG,    /* RS256 | PS256 | ES256 */
    K_LEVEL,  /* debug | info | warn | error */
    K_URLS,   /* repeatable URL; ',' or white space separate them in the environment */
    K_ATTEST, /* required | anonymous */
    K_BOOL,   /* flag: no value on the command line; true/false, yes/no, 1/0 elsewhere */
    K_STORE,  /* store URL (att_store_url_parse); shown only redacted */
    K_CIDRS,  /* repeatable address or CIDR; ',' or white space separate them in the environment */
} att_kind_t;

typedef struct {
    const char *name; /* long option without dashes; file key */
    att_kind_t kind;
    const char *metavar;
    const char *def; /* default as text (NULL: none) */
    uint64_t min, max;
    const char *help;
} att_opt_t;

enum {
    O_LISTEN,
    O_DATA_DIR,
    O_STORE,
    O_ISSUER,
    O_COLL_URL,
    O_KDS_URL,
    O_COLL_DIR,
    O_COLL_MAX_AGE,
    O_COLL_TIMEOUT,
    O_COLL_WAITERS,
    O_COLL_RATE,
    O_COLL_BACKOFF,
    O_COLL_BACKOFF_MAX,
    O_TRUST_ROOT,
    O_TPM_AK,
    O_TPM_AK_CA,
    O_TPM_EK_CA,
    O_TCB_BASELINE,
    O_TPM_MAX_LOG_BYTES,
    O_TPM_MAX_EVENTS,
    O_TPM_MAX_EVENT_SIZE,
    O_TPM_MAX_CUSTOM,
    O_TPM_MAX_CLAIM_BYTES,
    O_TPM_MAX_CHAIN,
    O_TPM_AK_CACHE,
    O_CACHE_PCK_CHAINS,
    O_CACHE_COLLATERAL,
    O_CACHE_SNP_VCEK,
    O_AT,
    O_ISOLATED,
    O_POLICY_SIGNER_MIN_RSA_BITS,
    O_TLS_CERT,
    O_TLS_KEY,
    O_LIFETIME,
    O_KEY_PUBLISH_LEAD,
    O_ALG,
    O_KEK,
    O_KEK_OLD,
    O_SIGNING_KEY,
    O_SIGNING_KEY_SESSIONS,
    O_THREADS,
    O_MAX_BODY,
    O_MAX_HEADER,
    O_MAX_QUERY_PARAMS,
    O_MAX_BODY_MEMORY,
    O_TLS_PRIORITY,
    O_MAX_CONN,
    O_TIMEOUT,
    O_LINGER_TIME,
    O_LINGER_TIMEOUT,
    O_LINGER_CONNS,
    O_TRUSTED_PROXY,
    O_LOG_LEVEL,
    O_AUDIT_LOG,
    O_AUTH_ISSUER,
    O_AUTH_AUDIENCE,
    O_AUTH_ROLES_CLAIM,
    O_AUTH_READER_ROLE,
    O_AUTH_ADMIN_ROLE,
    O_AUTH_ATTEST,
    O_AUTH_JWKS_TIMEOUT,
    O_AUTH_JWKS_REFETCH,
    O_AUTH_JWKS_BACKOFF,
    O_AUTH_JWKS_WAITERS,
    O_ALLOW_ANON_ADMIN,
    O_POLICY_JWS_MAX_AGE,
    O_POLICY_MAX_STEPS,
    O_POLICY_MAX_MEMORY,
    O_CONFIG,
    O_COUNT
};

static const att_opt_t att_opts[O_COUNT] = {
    [O_LISTEN] = {"listen", K_LISTEN, "HOST:PORT", "127.0.0.1:8080", 0, 0,
                  "address to listen on; [IPv6]:PORT; port 0 picks a free port"},
    [O_DATA_DIR] = {"data-dir", K_STR, "DIR", "./var", 0, 0,
                    "store directory (SQLite database, signing keys), created 0700"},
    [O_STORE] = {"store", K_STORE, "URL", NULL, 0, 0,
                 "the store: sqlite:DIR (default sqlite: + --data-dir; given, it wins over "
                 "--data-dir); or postgresql://... (PostgreSQL, a libpq URI; docs/store.md)"},
    [O_ISSUER] = {"issuer", K_URL, "URL", NULL, 0, 0,
                  "token issuer and base URL of /certs (default http(s)://HOST:PORT of "
                  "--listen; localhost for a wildcard host)"},
    [O_COLL_URL] = {"collateral-url", K_URL, "URL", NULL, 0, 0,
                    "Intel PCS v4-compatible collateral endpoint (Intel PCS or a PCCS)"},
    [O_KDS_URL] = {"kds-url", K_URL, "URL", NULL, 0, 0,
                   "AMD Key Distribution Service for SEV-SNP VCEKs and CRLs (e.g. "
                   "https://kdsintf.amd.com)"},
    [O_COLL_DIR] = {"collateral-dir", K_STR, "DIR", NULL, 0, 0,
                    "offline collateral directory (seeds the cache; replaces the network "
                    "without --collateral-url)"},
    [O_COLL_MAX_AGE] = {"collateral-max-age", K_UINT, "SECONDS", "0", 0, 31536000,
                        "refetch cached collateral older than this (0: only before its "
                        "nextUpdate)"},
    [O_COLL_TIMEOUT] = {"collateral-timeout", K_UINT, "SECONDS", "10", 1, 600,
                        "deadline of one collateral fetch (all its requests together)"},
    [O_COLL_WAITERS] = {"collateral-fetch-waiters", K_UINT, "N", "0", 0, 1024,
                        "requests that may wait on collateral fetches at once; more get 503 "
                        "with Retry-After (0: --threads minus 1, at least 1)"},
    [O_COLL_RATE] = {"collateral-fetch-rate", K_UINT, "N", "2", 1, 1000,
                     "collateral fetches started per second, all platforms together"},
    [O_COLL_BACKOFF] = {"collateral-backoff", K_UINT, "SECONDS", "5", 1, 3600,
                        "no refetch of a platform's collateral this long after a failed fetch; "
                        "doubles per consecutive failure"},
    [O_COLL_BACKOFF_MAX] = {"collateral-backoff-max", K_UINT, "SECONDS", "300", 1, 86400,
                            "the doubling of --collateral-backoff stops here"},
    [O_TRUST_ROOT] = {"trust-root", K_LIST, "FILE", NULL, 0, 0,
                      "extra trusted root CA certificate (PEM); repeatable"},
    [O_TPM_AK] = {"tpm-ak", K_LIST, "FILE", NULL, 0, 0,
                  "pinned TPM attestation key (PEM SPKI or TPM2B_PUBLIC) for /attest/Tpm; "
                  "repeatable"},
    [O_TPM_AK_CA] = {"tpm-ak-ca", K_LIST, "FILE", NULL, 0, 0,
                     "CA certificates (PEM) that /attest/Tpm AK certificates must chain to; "
                     "repeatable"},
    [O_TPM_EK_CA] = {"tpm-ek-ca", K_LIST, "FILE", NULL, 0, 0,
                     "TPM manufacturer CA certificates (PEM) that EK certificates must chain to "
                     "for credential activation (round 1 type \"activate\"); repeatable"},
    [O_TCB_BASELINE] = {"tcb-baseline", K_LIST, "TYPE=N", NULL, 0, 0,
                        "judge TYPE's (SgxEnclave, OpenEnclave, TdxVm) DCAP evidence against "
                        "Intel's TCB evaluation data number N instead of the newest; "
                        "repeatable (GET /tcbbaselines/TYPE)"},
    /* defaults: ATT_TPM_MAX_LOG_BYTES, ATT_TPM_MAX_EVENTS, ATT_TPM_MAX_EVENT_SIZE (attest/tpm.h) */
    [O_TPM_MAX_LOG_BYTES] = {"tpm-max-log-bytes", K_SIZE, "BYTES", "32M", 1024, 1ull << 30,
                             "largest TPM event log (TCG or IMA) taken in /attest/Tpm"},
    [O_TPM_MAX_EVENTS] = {"tpm-max-events", K_UINT, "N", "100000", 1, 10000000,
                          "most events in one TPM event log"},
    [O_TPM_MAX_EVENT_SIZE] = {"tpm-max-event-size", K_SIZE, "BYTES", "1M", 64, 1ull << 30,
                              "largest data of one TPM event log event"},
    [O_TPM_MAX_CUSTOM] = {"tpm-max-custom-claims", K_UINT, "N", "32", 1, 4096,
                          "most custom_claims in one attReqV2 request"},
    [O_TPM_MAX_CLAIM_BYTES] = {"tpm-max-claim-bytes", K_SIZE, "BYTES", "1k", 16, 1ull << 20,
                               "longest attReqV2 rp_id, rp_data or custom claim name or value"},
    [O_TPM_MAX_CHAIN] = {"tpm-max-chain", K_UINT, "N", "8", 1, 8,
                         "most intermediates presented with a TPM AK or EK certificate"},
    [O_TPM_AK_CACHE] = {"tpm-ak-cache", K_UINT, "N", "64", 1, 65536,
                        "TPM AKs kept decoded, by the SHA-256 of the request's AK bytes (LRU)"},
    [O_CACHE_PCK_CHAINS] = {"cache-pck-chains", K_UINT, "N", "16384", 1, 4194304,
                            "verified PCK chains kept, one per SGX/TDX platform (LRU)"},
    [O_CACHE_COLLATERAL] = {"cache-collateral", K_UINT, "N", "16384", 1, 1048576,
                            "collateral sets kept: per FMSPC and CA, per SEV-SNP chip (LRU)"},
    [O_CACHE_SNP_VCEK] = {"cache-snp-vcek", K_UINT, "N", "16384", 1, 4194304,
                          "SEV-SNP VCEKs and VLEKs kept verified, one per chip and TCB (LRU)"},
    [O_AT] = {"at", K_TIME, "RFC3339", NULL, 0, 0,
              "clock override: judge evidence, certificates and collateral at this instant"},
    [O_ISOLATED] = {"isolated-signers", K_STR, "FILE", NULL, 0, 0,
                    "isolated mode: PEM file of trusted policy signer certificates"},
    [O_POLICY_SIGNER_MIN_RSA_BITS] = {"policy-signer-min-rsa-bits", K_UINT, "N", "2048", 1024, 4096,
                                      "smallest RSA key that may sign a policy or be a policy "
                                      "management certificate (1024: what MAA accepts)"},
    [O_TLS_CERT] = {"tls-cert", K_STR, "FILE", NULL, 0, 0,
                    "serve HTTPS with this PEM certificate (chain); needs --tls-key"},
    [O_TLS_KEY] = {"tls-key", K_STR, "FILE", NULL, 0, 0, "PEM private key for --tls-cert"},
    [O_LIFETIME] = {"token-lifetime", K_UINT, "SECONDS", "28800", 1, 31536000,
                    "lifetime of issued attestation tokens"},
    [O_KEY_PUBLISH_LEAD] = {"key-publish-lead", K_UINT, "SECONDS", NULL, 0, 86400,
                            "a key made by `keys rotate` is in /certs this long before any "
                            "replica signs with it (0: signs at once); default 60 on a "
                            "PostgreSQL store, 0 on SQLite (docs/tokens.md)"},
    [O_ALG] = {"signing-alg", K_ALG, "ALG", "RS256", 0, 0,
               "token signing algorithm: RS256, PS256 or ES256"},
    [O_KEK] = {"key-encryption-key", K_STR, "FILE", NULL, 0, 0,
               "32-byte key (raw, hex or base64; mode 0600) that seals the private keys in the "
               "store with AES-256-GCM; clear keys found are sealed at start (docs/tokens.md)"},
    [O_KEK_OLD] = {"key-encryption-key-old", K_STR, "FILE", NULL, 0, 0,
                   "the key-encryption key being replaced: keys sealed under it are re-sealed "
                   "under --key-encryption-key at start"},
    [O_SIGNING_KEY] = {"signing-key", K_STR, "URI", NULL, 0, 0,
                       "sign tokens with this HSM key: an RFC 7512 pkcs11: URI (module-path, "
                       "token, object or id, pin-source or pin-value; docs/tokens.md)"},
    [O_SIGNING_KEY_SESSIONS] = {"signing-key-sessions", K_UINT, "N", "4", 1, 64,
                                "PKCS#11 sessions of --signing-key, each signing one token at a "
                                "time; more signatures at once wait for one"},
    [O_THREADS] = {"threads", K_UINT, "N", "0", 0, 1024,
                   "HTTP worker threads (0 = number of CPUs)"},
    [O_MAX_BODY] = {"max-body", K_SIZE, "BYTES", "1M", 1, 1ull << 30,
                    "largest request body accepted (k/M/G suffixes); larger: 413"},
    [O_MAX_HEADER] = {"max-header", K_SIZE, "BYTES", "16k", 4096, 1ull << 20,
                      "largest request line + headers; larger: 431"},
    [O_MAX_QUERY_PARAMS] = {"max-query-params", K_UINT, "N", "64", 1, 4096,
                            "most query parameters in a request; more: 414"},
    [O_MAX_BODY_MEMORY] = {"max-body-memory", K_SIZE, "BYTES", "64M", 4096, 1ull << 40,
                           "memory held by all request bodies being received; a body that does "
                           "not fit: 503 with Retry-After (must exceed --max-body)"},
    [O_TLS_PRIORITY] = {"tls-priority", K_STR, "PRIORITY", NULL, 0, 0,
                        "GnuTLS priority string for --tls-cert (default: TLS 1.2+, ECDHE, AEAD, "
                        "server order; docs/server.md)"},
    [O_MAX_CONN] = {"max-connections", K_UINT, "N", "1024", 1, 1000000,
                    "connections kept open; at the limit the least recently active idle ones "
                    "are closed for new ones, and requests get 503 only when all are busy"},
    [O_TIMEOUT] = {"timeout", K_UINT, "SECONDS", "30", 1, 86400,
                   "idle connection timeout, and deadline for a request body: a body still "
                   "arriving past it has its connection closed without an answer"},
    [O_LINGER_TIME] = {"lingering-time", K_UINT, "SECONDS", "30", 0, 600,
                       "after an early answer (413, 503) to a request whose body was not read, "
                       "read and discard the body for at most this long before closing, so "
                       "that clients which write before they read see the answer (0: close "
                       "at once)"},
    [O_LINGER_TIMEOUT] = {"lingering-timeout", K_UINT, "SECONDS", "5", 1, 600,
                          "a lingering connection is closed when nothing arrives for this long"},
    [O_LINGER_CONNS] = {"lingering-connections", K_UINT, "N", "64", 0, 65536,
                        "connections lingering at once; past it one is closed at once"},
    [O_TRUSTED_PROXY] = {"trusted-proxy", K_CIDRS, "CIDR", NULL, 0, 0,
                         "a proxy (address or CIDR) whose X-Forwarded-For is believed: the "
                         "client is the rightmost address not in a trusted proxy; repeatable"},
    [O_LOG_LEVEL] = {"log-level", K_LEVEL, "LEVEL", "info", 0, 0,
                     "debug, info, warn or error (JSON lines on stderr)"},
    [O_AUDIT_LOG] = {"audit-log", K_STR, "FILE", NULL, 0, 0,
                     "append one JSON line per policy, policy-certificate and signing-key change "
                     "(or refused attempt) to FILE, fsync'd before the answer"},
    [O_AUTH_ISSUER] = {"auth-issuer", K_URLS, "URL", NULL, 0, 0,
                       "OpenID Connect issuer whose bearer access tokens are accepted; "
                       "repeatable; none: no authentication (docs/auth.md)"},
    [O_AUTH_AUDIENCE] = {"auth-audience", K_STR, "AUD", NULL, 0, 0,
                         "access tokens' \"aud\" must be or contain this (required with "
                         "--auth-issuer)"},
    [O_AUTH_ROLES_CLAIM] = {"auth-roles-claim", K_STR, "NAME", "roles", 0, 0,
                            "claim holding the caller's roles: string or array of strings; "
                            "a dotted path such as realm_access.roles reaches into objects"},
    [O_AUTH_READER_ROLE] = {"auth-reader-role", K_STR, "ROLE", "attestation.read", 0, 0,
                            "role that may read policies and policy certificates"},
    [O_AUTH_ADMIN_ROLE] = {"auth-admin-role", K_STR, "ROLE", "attestation.admin", 0, 0,
                           "role that may change policies and policy certificates (and read)"},
    [O_AUTH_ATTEST] = {"auth-attest", K_ATTEST, "MODE", "anonymous", 0, 0,
                       "/attest/*: 'anonymous', or 'required' (any valid access token)"},
    [O_AUTH_JWKS_TIMEOUT] = {"auth-jwks-timeout", K_UINT, "SECONDS", "5", 1, 600,
                             "deadline of one key fetch of an --auth-issuer (discovery and "
                             "JWKS together)"},
    [O_AUTH_JWKS_REFETCH] = {"auth-jwks-refetch", K_UINT, "SECONDS", "30", 1, 86400,
                             "after a key fetch, an unknown kid starts no new one for this long "
                             "(per issuer)"},
    [O_AUTH_JWKS_BACKOFF] = {"auth-jwks-backoff", K_UINT, "SECONDS", "60", 1, 86400,
                             "after a failed key fetch, none for this long (per issuer)"},
    [O_AUTH_JWKS_WAITERS] = {"auth-jwks-waiters", K_UINT, "N", "1", 1, 1024,
                             "requests that may wait for an issuer's key fetch in flight; more "
                             "are refused at once (401); keep it below --threads"},
    [O_ALLOW_ANON_ADMIN] = {"allow-anonymous-admin", K_BOOL, NULL, "false", 0, 0,
                            "without --auth-issuer, accept policy and policy-certificate "
                            "changes from any address, not only loopback (unsafe)"},
    [O_POLICY_JWS_MAX_AGE] = {"policy-jws-max-age", K_UINT, "SECONDS", "0", 0, 31536000,
                              "signed policy and certificate requests must carry an \"iat\" "
                              "at most this old (0: iat optional; exp/nbf always enforced)"},
    /* defaults: ATT_POLICY_DEFAULT_MAX_STEPS and ATT_POLICY_DEFAULT_MAX_BYTES (attest/policy.h) */
    [O_POLICY_MAX_STEPS] = {"policy-max-steps", K_UINT, "N", "1000000", 1000, 1ull << 40,
                            "work budget of one policy evaluation, in steps (docs/policy.md, "
                            "Limits); over it: 400 PolicyEvaluationError"},
    [O_POLICY_MAX_MEMORY] = {"policy-max-memory", K_SIZE, "BYTES", "64M", 65536, 1ull << 40,
                             "size budget of one policy evaluation: bytes of values built "
                             "(docs/policy.md, Limits); over it: 400 PolicyEvaluationError"},
    [O_CONFIG] = {"config", K_STR, "FILE", NULL, 0, 0,
                  "read options from FILE (`name = value` lines, # comments)"},
};

typedef enum { SRC_NONE, SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_CLI } att_src_t;

typedef struct {
    att_src_t src;
    char **v; /* values (one unless K_LIST) */
    size_t n;
    char where[300]; /* "--listen", "ATTESTD_LISTEN", "attestd.conf:3" */
} att_raw_t;

static void att_raw_clear(att_raw_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = 0;
    r->src = SRC_NONE;
}

/* Set (append for lists when src is unchanged) a raw value. */
static att_err_t att_raw_set(att_raw_t *r, const att_opt_t *o, att_src_t src, const char *val,
                             const char *where, att_diag_t *d)
{
    if (r->src != src || (o->kind != K_LIST && o->kind != K_URLS && o->kind != K_CIDRS))
        att_raw_clear(r);
    char **v = realloc(r->v, (r->n + 1) * sizeof(char *));
    if (!v)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    r->v = v;
    if (!(r->v[r->n] = strdup(val)))
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    r->n++;
    r->src = src;
    snprintf(r->where, sizeof(r->where), "%s", where);
    return ATT_OK;
}

static int att_opt_find(const char *name, size_t len)
{
    for (int i = 0; i < O_COUNT; i++)
        if (strlen(att_opts[i].name) == len && !strncmp(att_opts[i].name, name, len))
            return i;
    return -1;
}

static void att_env_name(const char *opt, char *out, size_t n)
{
    size_t j = snprintf(out, n, "ATTESTD_");
    for (const char *p = opt; *p && j + 1 < n; p++)
        out[j++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[j] = 0;
}

static const char *att_env_get(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (!strncmp(*e, name, n) && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static char *att_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

static att_err_t att_read_config_file(const char *path, att_raw_t *raw, att_diag_t *d)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return att_diag_set(d, ATT_E_ARG, "cannot read config file %s: %s", path, strerror(errno));
    char line[4096];
    unsigned lineno = 0;
    att_err_t e = ATT_OK;
    while (e == ATT_OK && fgets(line, sizeof(line), f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            e = att_diag_set(d, ATT_E_ARG, "%s:%u: line too long", path, lineno);
            break;
        }
        char *s = att_trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            e = att_diag_set(d, ATT_E_ARG, "%s:%u: expected 'name = value'", path, lineno);
            break;
        }
        *eq = 0;
        char *key = att_trim(s), *val = att_trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = 0;
            val++;
        }
        int i = att_opt_find(key, strlen(key));
        if (i < 0 || i == O_CONFIG) {
            e = att_diag_set(d, ATT_E_ARG, "%s:%u: unknown option '%s'", path, lineno, key);
            break;
        }
        char where[300];
        snprintf(where, sizeof(where), "%s:%u", path, lineno);
        e = att_raw_set(&raw[i], &att_opts[i], SRC_FILE, val, where, d);
    }
    fclose(f);
    return e;
}

/* Parse a bounded unsigned number (K_UINT) or size (K_SIZE). */
static bool att_parse_num(const char *s, att_kind_t kind, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return false;
    uint64_t mul = 1;
    if (kind == K_SIZE && *end) {
        char c = (char)tolower((unsigned char)*end);
        mul = c == 'k' ? 1ull << 10 : c == 'm' ? 1ull << 20 : c == 'g' ? 1ull << 30 : 0;
        if (!mul)
            return false;
        end++;
        if (!strcasecmp(end, "ib") || !strcasecmp(end, "b"))
            end += strlen(end);
    }
    if (*end || (mul > 1 && v > UINT64_MAX / mul))
        return false;
    *out = v * mul;
    return true;
}

static char *att_derive_issuer(const char *host, uint16_t port, bool tls)
{
    const char *h = host;
    if (!*h || !strcmp(h, "0.0.0.0") || !strcmp(h, "::") || !strcmp(h, "[::]"))
        h = "localhost";
    bool v6 = strchr(h, ':') != NULL;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s://%s%s%s:%u", tls ? "https" : "http", v6 ? "[" : "", h,
             v6 ? "]" : "", port);
    return strdup(buf);
}

static const char *att_src_name(att_src_t s)
{
    return s == SRC_CLI    ? "command line"
           : s == SRC_ENV  ? "environment"
           : s == SRC_FILE ? "config file"
                           : "default";
}

/* Convert raw[i] into cfg. */
static att_err_t att_apply(att_config_t *cfg, int i, const att_raw_t *r, att_diag_t *d)
{
    const att_opt_t *o = &att_opts[i];
    const char *v = r->n ? r->v[r->n - 1] : NULL;
    if (!v)
        return ATT_OK;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        char why_[256];                                                                            \
        snprintf(why_, sizeof(why_), __VA_ARGS__);                                                 \
        return att_diag_set(d, ATT_E_ARG, "invalid %s '%s' (%s %s): %s", o->name, v,               \
                            att_src_name(r->src), r->where, why_);                                 \
    } while (0)
    if (o->kind != K_LIST && o->kind != K_URLS && o->kind != K_CIDRS && !*v)
        BAD("empty value");
    uint64_t num = 0;
    switch (o->kind) {
    case K_UINT:
    case K_SIZE:
        if (!att_parse_num(v, o->kind, &num))
            BAD(o->kind == K_SIZE ? "want a byte count such as 1048576, 512k or 1M"
                                  : "want a non-negative integer");
        if (num < o->min || num > o->max)
            BAD("must be between %llu and %llu", (unsigned long long)o->min,
                (unsigned long long)o->max);
        break;
    case K_URL:
        if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
            BAD("want an http:// or https:// URL");
        if (strpbrk(v, " \t\r\n\"<>\\"))
            BAD("URL contains a space, quote or control character");
        break;
    case K_TIME:
        if (att_time_parse(v, &cfg->at) != ATT_OK)
            BAD("want an RFC 3339 time such as 2025-07-01T00:00:00Z");
        cfg->has_at = true;
        return ATT_OK;
    case K_ALG:
        if (strcmp(v, "RS256") && strcmp(v, "PS256") && strcmp(v, "ES256"))
            BAD("want RS256, PS256 or ES256");
        break;
    case K_LEVEL:
        if (!att_log_level_parse(v, &cfg->log_level))
            BAD("want debug, info, warn or error");
        return ATT_OK;
    case K_LISTEN: {
        att_diag_t hd;
        free(cfg->listen_host);
        cfg->listen_host = NULL;
        if (att_http_split_hostport(v, &cfg->listen_host, &cfg->listen_port, &hd) != ATT_OK)
            BAD("%.200s", hd.msg);
        break;
    }
    case K_BOOL: {
        bool on = !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1");
        if (!on && strcasecmp(v, "false") && strcasecmp(v, "no") && strcmp(v, "0"))
            BAD("want true or false");
        if (i == O_ALLOW_ANON_ADMIN)
            cfg->allow_anonymous_admin = on;
        return ATT_OK;
    }
    case K_ATTEST:
        if (strcmp(v, "required") && strcmp(v, "anonymous"))
            BAD("want required or anonymous");
        cfg->auth_attest_required = !strcmp(v, "required");
        return ATT_OK;
    case K_LIST:
    case K_URLS:
    case K_CIDRS: {
        char ***list = i == O_AUTH_ISSUER     ? &cfg->auth_issuers
                       : i == O_TRUSTED_PROXY ? &cfg->trusted_proxies
                       : i == O_TPM_AK        ? &cfg->tpm_aks
                       : i == O_TPM_AK_CA     ? &cfg->tpm_ak_cas
                       : i == O_TPM_EK_CA     ? &cfg->tpm_ek_cas
                       : i == O_TCB_BASELINE  ? &cfg->tcb_baselines
                                              : &cfg->trust_roots;
        size_t *count = i == O_AUTH_ISSUER     ? &cfg->n_auth_issuers
                        : i == O_TRUSTED_PROXY ? &cfg->n_trusted_proxies
                        : i == O_TPM_AK        ? &cfg->n_tpm_aks
                        : i == O_TPM_AK_CA     ? &cfg->n_tpm_ak_cas
                        : i == O_TPM_EK_CA     ? &cfg->n_tpm_ek_cas
                        : i == O_TCB_BASELINE  ? &cfg->n_tcb_baselines
                                               : &cfg->n_trust_roots;
        *list = calloc(r->n, sizeof(char *));
        if (!*list)
            return att_diag_set(d, ATT_E_NOMEM, "out of memory");
        for (size_t k = 0; k < r->n; k++) {
            const char *u = r->v[k];
            if (!*u)
                return att_diag_set(d, ATT_E_ARG, "invalid %s '' (%s %s): empty value", o->name,
                                    att_src_name(r->src), r->where);
            if (o->kind == K_URLS && ((strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) ||
                                      strpbrk(u, " \t\r\n\"<>\\,")))
                return att_diag_set(d, ATT_E_ARG,
                                    "invalid %s '%s' (%s %s): want an http:// or https:// URL "
                                    "without spaces, quotes or commas",
                                    o->name, u, att_src_name(r->src), r->where);
            att_cidr_t cidr;
            if (o->kind == K_CIDRS && !att_cidr_parse(u, &cidr))
                return att_diag_set(d, ATT_E_ARG,
                                    "invalid %s '%s' (%s %s): want an IPv4 or IPv6 address, "
                                    "optionally with a /prefix length (10.0.0.0/8, ::1, "
                                    "fd00::/8)",
                                    o->name, u, att_src_name(r->src), r->where);
            const char *eq = i == O_TCB_BASELINE ? strchr(u, '=') : NULL;
            char *end = NULL;
            long bn = eq ? strtol(eq + 1, &end, 10) : 0;
            if (i == O_TCB_BASELINE && (eq == NULL || eq == u || !isdigit((unsigned char)eq[1]) ||
                                        *end != '\0' || bn < 1 || bn > (1L << 30)))
                return att_diag_set(d, ATT_E_ARG,
                                    "invalid %s '%s' (%s %s): want TYPE=N, an attestation type "
                                    "and a TCB evaluation data number from 1 to 2^30 "
                                    "(SgxEnclave=17)",
                                    o->name, u, att_src_name(r->src), r->where);
            if (!((*list)[k] = strdup(u)))
                return att_diag_set(d, ATT_E_NOMEM, "out of memory");
            (*count)++;
        }
        return ATT_OK;
    }
    case K_STORE: { /* not BAD(): the URL may hold a password, so it is shown redacted */
        att_diag_t sd;
        att_store_url_t su;
        if (att_store_url_parse(v, &su, &sd) != ATT_OK)
            return att_diag_set(d, ATT_E_ARG, "invalid %s (%s %s): %s", o->name,
                                att_src_name(r->src), r->where, sd.msg);
        break;
    }
    case K_STR:
        break;
    }
#undef BAD
    char **dst = NULL;
    switch (i) {
    case O_LISTEN:
        dst = &cfg->listen;
        break;
    case O_DATA_DIR:
        dst = &cfg->data_dir;
        break;
    case O_STORE:
        dst = &cfg->store_url;
        break;
    case O_ISSUER:
        dst = &cfg->issuer;
        break;
    case O_COLL_URL:
        dst = &cfg->collateral_url;
        break;
    case O_KDS_URL:
        dst = &cfg->kds_url;
        break;
    case O_COLL_DIR:
        dst = &cfg->collateral_dir;
        break;
    case O_ISOLATED:
        dst = &cfg->isolated_signers;
        break;
    case O_AUDIT_LOG:
        dst = &cfg->audit_log;
        break;
    case O_TLS_CERT:
        dst = &cfg->tls_cert;
        break;
    case O_TLS_KEY:
        dst = &cfg->tls_key;
        break;
    case O_TLS_PRIORITY:
        dst = &cfg->tls_priority;
        break;
    case O_ALG:
        dst = &cfg->signing_alg;
        break;
    case O_KEK:
        dst = &cfg->key_encryption_key;
        break;
    case O_KEK_OLD:
        dst = &cfg->key_encryption_key_old;
        break;
    case O_SIGNING_KEY:
        if (strncasecmp(v, "pkcs11:", 7) != 0)
            return att_diag_set(d, ATT_E_ARG,
                                "invalid %s (%s %s): want an RFC 7512 pkcs11: URI such as "
                                "pkcs11:token=attestd;object=signing?module-path=/usr/lib/"
                                "softhsm/libsofthsm2.so&pin-source=/etc/attestd/pin",
                                o->name, att_src_name(r->src), r->where);
        dst = &cfg->signing_key;
        break;
    case O_CONFIG:
        dst = &cfg->config_file;
        break;
    case O_AUTH_AUDIENCE:
        dst = &cfg->auth_audience;
        break;
    case O_AUTH_ROLES_CLAIM:
        dst = &cfg->auth_roles_claim;
        break;
    case O_AUTH_READER_ROLE:
        dst = &cfg->auth_reader_role;
        break;
    case O_AUTH_ADMIN_ROLE:
        dst = &cfg->auth_admin_role;
        break;
    case O_AUTH_JWKS_TIMEOUT:
        cfg->auth_jwks_timeout = (unsigned)num;
        break;
    case O_TPM_MAX_LOG_BYTES:
        cfg->tpm_max_log_bytes = (size_t)num;
        break;
    case O_TPM_MAX_EVENTS:
        cfg->tpm_max_events = (size_t)num;
        break;
    case O_TPM_MAX_EVENT_SIZE:
        cfg->tpm_max_event_size = (size_t)num;
        break;
    case O_TPM_MAX_CUSTOM:
        cfg->tpm_max_custom_claims = (size_t)num;
        break;
    case O_TPM_MAX_CLAIM_BYTES:
        cfg->tpm_max_claim_bytes = (size_t)num;
        break;
    case O_TPM_MAX_CHAIN:
        cfg->tpm_max_chain = (size_t)num;
        break;
    case O_TPM_AK_CACHE:
        cfg->tpm_ak_cache = (size_t)num;
        break;
    case O_CACHE_PCK_CHAINS:
        cfg->cache_pck_chains = (size_t)num;
        break;
    case O_CACHE_COLLATERAL:
        cfg->cache_collateral = (size_t)num;
        break;
    case O_CACHE_SNP_VCEK:
        cfg->cache_snp_vcek = (size_t)num;
        break;
    case O_POLICY_SIGNER_MIN_RSA_BITS:
        cfg->policy_signer_min_rsa_bits = (unsigned)num;
        break;
    case O_AUTH_JWKS_REFETCH:
        cfg->auth_jwks_refetch = (unsigned)num;
        break;
    case O_AUTH_JWKS_BACKOFF:
        cfg->auth_jwks_backoff = (unsigned)num;
        break;
    case O_AUTH_JWKS_WAITERS:
        cfg->auth_jwks_waiters = (unsigned)num;
        break;
    case O_LIFETIME:
        cfg->token_lifetime = num;
        break;
    case O_KEY_PUBLISH_LEAD:
        cfg->key_publish_lead = num;
        cfg->key_publish_lead_set = true;
        break;
    case O_SIGNING_KEY_SESSIONS:
        cfg->signing_key_sessions = (unsigned)num;
        break;
    case O_COLL_MAX_AGE:
        cfg->collateral_max_age = num;
        break;
    case O_COLL_TIMEOUT:
        cfg->collateral_timeout = (unsigned)num;
        break;
    case O_COLL_WAITERS:
        cfg->collateral_fetch_waiters = (unsigned)num;
        break;
    case O_COLL_RATE:
        cfg->collateral_fetch_rate = (unsigned)num;
        break;
    case O_COLL_BACKOFF:
        cfg->collateral_backoff = (unsigned)num;
        break;
    case O_COLL_BACKOFF_MAX:
        cfg->collateral_backoff_max = (unsigned)num;
        break;
    case O_THREADS:
        cfg->threads = (unsigned)num;
        break;
    case O_MAX_BODY:
        cfg->max_body = (size_t)num;
        break;
    case O_MAX_HEADER:
        cfg->max_header = (size_t)num;
        break;
    case O_MAX_QUERY_PARAMS:
        cfg->max_query_params = (unsigned)num;
        break;
    case O_MAX_BODY_MEMORY:
        cfg->max_body_memory = (size_t)num;
        break;
    case O_MAX_CONN:
        cfg->max_connections = (unsigned)num;
        break;
    case O_TIMEOUT:
        cfg->timeout = (unsigned)num;
        break;
    case O_LINGER_TIME:
        cfg->lingering_time = (unsigned)num;
        break;
    case O_LINGER_TIMEOUT:
        cfg->lingering_timeout = (unsigned)num;
        break;
    case O_LINGER_CONNS:
        cfg->lingering_connections = (unsigned)num;
        break;
    case O_POLICY_JWS_MAX_AGE:
        cfg->policy_jws_max_age = num;
        break;
    case O_POLICY_MAX_STEPS:
        cfg->policy_max_steps = num;
        break;
    case O_POLICY_MAX_MEMORY:
        cfg->policy_max_memory = (size_t)num;
        break;
    default:
        break;
    }
    if (dst) {
        free(*dst);
        if (!(*dst = strdup(v)))
            return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    return ATT_OK;
}

static att_err_t att_config_load_inner(att_config_t *cfg, int argc, char **argv, char **envp,
                                       att_raw_t *raw, att_diag_t *d)
{
    att_err_t e;
    /* 1. command line: the words that are not options (nor option values) are the command;
     * options may come before, between or after them; after "--" every word is the command's */
    if (!(cfg->args = calloc((size_t)(argc > 0 ? argc : 1), sizeof(char *))))
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    bool opts_end = false;
    for (int ai = 1; ai < argc; ai++) {
        const char *a = argv[ai];
        if (opts_end || a[0] != '-' || !a[1]) {
            cfg->args[cfg->argc++] = argv[ai];
            continue;
        }
        if (!strcmp(a, "--")) {
            opts_end = true;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cfg->help = true;
            continue;
        }
        if (!strcmp(a, "--version")) {
            cfg->version = true;
            continue;
        }
        if (strncmp(a, "--", 2))
            return att_diag_set(d, ATT_E_ARG, "unknown option '%s' (see --help)", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        int i = att_opt_find(name, nl);
        if (i < 0)
            return att_diag_set(d, ATT_E_ARG, "unknown option '%.*s' (see --help)", (int)nl + 2, a);
        const char *val = eq ? eq + 1 : NULL;
        if (!val && att_opts[i].kind == K_BOOL)
            val = "true"; /* a flag: --allow-anonymous-admin */
        if (!val) {
            if (ai + 1 >= argc)
                return att_diag_set(d, ATT_E_ARG, "option --%s needs a value (%s)",
                                    att_opts[i].name, att_opts[i].metavar);
            val = argv[++ai];
        }
        char where[300];
        snprintf(where, sizeof(where), "--%s", att_opts[i].name);
        if ((e = att_raw_set(&raw[i], &att_opts[i], SRC_CLI, val, where, d)) != ATT_OK)
            return e;
    }
    /* 2. environment */
    for (int i = 0; i < O_COUNT; i++) {
        char env[64];
        att_env_name(att_opts[i].name, env, sizeof(env));
        const char *v = att_env_get(envp, env);
        if (!v || raw[i].src == SRC_CLI)
            continue;
        if (att_opts[i].kind == K_LIST || att_opts[i].kind == K_URLS ||
            att_opts[i].kind == K_CIDRS) {
            /* URLs and IPv6 addresses hold ':', so a list of them is split at ',' and white
             * space */
            const char *sep = att_opts[i].kind == K_LIST ? ":" : ", \t\r\n";
            char *copy = strdup(v), *save = NULL;
            if (!copy)
                return att_diag_set(d, ATT_E_NOMEM, "out of memory");
            for (char *t = strtok_r(copy, sep, &save); t; t = strtok_r(NULL, sep, &save))
                if ((e = att_raw_set(&raw[i], &att_opts[i], SRC_ENV, t, env, d)) != ATT_OK) {
                    free(copy);
                    return e;
                }
            free(copy);
        } else if ((e = att_raw_set(&raw[i], &att_opts[i], SRC_ENV, v, env, d)) != ATT_OK) {
            return e;
        }
    }
    /* 3. config file: read into a separate table so CLI/env keep precedence */
    if (raw[O_CONFIG].n) {
        const char *path = raw[O_CONFIG].v[0];
        if (!*path)
            return att_diag_set(d, ATT_E_ARG, "invalid config '' (%s): empty value",
                                raw[O_CONFIG].where);
        att_raw_t file[O_COUNT];
        memset(file, 0, sizeof(file));
        e = att_read_config_file(path, file, d);
        for (int i = 0; i < O_COUNT; i++) {
            if (e == ATT_OK && file[i].n && raw[i].src == SRC_NONE) {
                raw[i] = file[i];
                continue;
            }
            att_raw_clear(&file[i]);
        }
        if (e != ATT_OK)
            return e;
    }
    /* 4. defaults */
    for (int i = 0; i < O_COUNT; i++)
        if (raw[i].src == SRC_NONE && att_opts[i].def &&
            (e = att_raw_set(&raw[i], &att_opts[i], SRC_DEFAULT, att_opts[i].def, "", d)) != ATT_OK)
            return e;
    /* 5. convert */
    for (int i = 0; i < O_COUNT; i++)
        if ((e = att_apply(cfg, i, &raw[i], d)) != ATT_OK)
            return e;
    /* no --store: the SQLite store in --data-dir */
    if (!cfg->store_url && !(cfg->store_url = att_store_url_for_dir(cfg->data_dir)))
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    if (!cfg->tls_cert != !cfg->tls_key)
        return att_diag_set(d, ATT_E_ARG, "--tls-cert and --tls-key must be given together");
    if (cfg->key_encryption_key_old && !cfg->key_encryption_key)
        return att_diag_set(d, ATT_E_ARG,
                            "--key-encryption-key-old needs --key-encryption-key (the key that "
                            "re-seals what the old one sealed)");
    /* access tokens: an audience goes with an issuer; protection asked for without an issuer
     * would silently be none */
    if (cfg->n_auth_issuers && !cfg->auth_audience)
        return att_diag_set(d, ATT_E_ARG,
                            "--auth-issuer needs --auth-audience (the \"aud\" "
                            "attestd's access tokens are issued for)");
    if (!cfg->n_auth_issuers && (cfg->auth_audience || cfg->auth_attest_required))
        return att_diag_set(d, ATT_E_ARG,
                            "%s without --auth-issuer: no access token could be "
                            "validated",
                            cfg->auth_audience ? "--auth-audience" : "--auth-attest required");
    if (cfg->issuer) {
        size_t n = strlen(cfg->issuer);
        while (n > 8 && cfg->issuer[n - 1] == '/')
            cfg->issuer[--n] = 0;
    } else {
        cfg->issuer_derived = true;
        if (!(cfg->issuer =
                  att_derive_issuer(cfg->listen_host, cfg->listen_port, cfg->tls_cert != NULL)))
            return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    return ATT_OK;
}

att_err_t att_config_load(att_config_t *cfg, int argc, char **argv, char **envp, att_diag_t *d)
{
    memset(cfg, 0, sizeof(*cfg));
    att_diag_clear(d);
    att_raw_t raw[O_COUNT];
    memset(raw, 0, sizeof(raw));
    att_err_t e = att_config_load_inner(cfg, argc, argv, envp, raw, d);
    for (int i = 0; i < O_COUNT; i++)
        att_raw_clear(&raw[i]);
    if (e != ATT_OK)
        att_config_free(cfg);
    return e;
}

att_err_t att_config_set_port(att_config_t *cfg, uint16_t port, att_diag_t *d)
{
    cfg->listen_port = port;
    if (!cfg->issuer_derived)
        return ATT_OK;
    char *iss = att_derive_issuer(cfg->listen_host, port, cfg->tls_cert != NULL);
    if (!iss)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    free(cfg->issuer);
    cfg->issuer = iss;
    return ATT_OK;
}

void att_config_free(att_config_t *cfg)
{
    if (!cfg)
        return;
    free(cfg->listen);
    free(cfg->listen_host);
    free(cfg->data_dir);
    free(cfg->store_url);
    free(cfg->issuer);
    free(cfg->collateral_url);
    free(cfg->kds_url);
    free(cfg->collateral_dir);
    for (size_t i = 0; i < cfg->n_trust_roots; i++)
        free(cfg->trust_roots[i]);
    free(cfg->trust_roots);
    for (size_t i = 0; i < cfg->n_tpm_aks; i++)
        free(cfg->tpm_aks[i]);
    free(cfg->tpm_aks);
    for (size_t i = 0; i < cfg->n_tpm_ak_cas; i++)
        free(cfg->tpm_ak_cas[i]);
    free(cfg->tpm_ak_cas);
    for (size_t i = 0; i < cfg->n_tpm_ek_cas; i++)
        free(cfg->tpm_ek_cas[i]);
    free(cfg->tpm_ek_cas);
    for (size_t i = 0; i < cfg->n_tcb_baselines; i++)
        free(cfg->tcb_baselines[i]);
    free(cfg->tcb_baselines);
    free(cfg->isolated_signers);
    free(cfg->audit_log);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->tls_priority);
    free(cfg->signing_alg);
    free(cfg->key_encryption_key);
    free(cfg->key_encryption_key_old);
    free(cfg->signing_key);
    free(cfg->config_file);
    for (size_t i = 0; i < cfg->n_auth_issuers; i++)
        free(cfg->auth_issuers[i]);
    free(cfg->auth_issuers);
    for (size_t i = 0; i < cfg->n_trusted_proxies; i++)
        free(cfg->trusted_proxies[i]);
    free(cfg->trusted_proxies);
    free(cfg->args); /* the array; its strings are argv's */
    free(cfg->auth_audience);
    free(cfg->auth_roles_claim);
    free(cfg->auth_reader_role);
    free(cfg->auth_admin_role);
    memset(cfg, 0, sizeof(*cfg));
}

void att_config_usage(FILE *f)
{
    fprintf(f,
            "usage: attestd [OPTIONS]              run the attestation service\n"
            "       attestd [OPTIONS] keys rotate  add a new active signing key (options may\n"
            "                                      also follow the command; keys rotate --help)\n"
            "\n"
            "An attestation service wire-compatible with Microsoft Azure Attestation.\n"
            "\n"
            "options (each also settable as ATTESTD_<NAME> in the environment and as\n"
            "`name = value` in the --config file; command line > environment > file >\n"
            "default):\n");
    for (int i = 0; i < O_COUNT; i++) {
        const att_opt_t *o = &att_opts[i];
        char lhs[64], env[64];
        snprintf(lhs, sizeof(lhs), "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        att_env_name(o->name, env, sizeof(env));
        fprintf(f, "  %-28s %s\n", lhs, o->help);
        fprintf(f, "  %-28s env %s%s%s%s\n", "", env,
                o->kind == K_LIST                         ? " (':'-separated)"
                : o->kind == K_URLS || o->kind == K_CIDRS ? " (','- or space-separated)"
                                                          : "",
                o->def ? "; default " : "", o->def ? o->def : "");
    }
    fprintf(f, "  %-28s %s\n", "--help", "print this help and exit");
    fprintf(f, "  %-28s %s\n", "--version", "print the version and exit");
    fprintf(f, "\nInvalid options exit with status 2. SIGTERM or SIGINT stop the service "
               "gracefully (exit 0).\nSee attestd(8), attestd.conf(5) and docs/server.md.\n");
}
