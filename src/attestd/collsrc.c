/* collsrc.c - DCAP collateral for attestd: Intel PCS v4 / PCCS over libcurl, an offline
 * directory, the store's cache, and an in-memory set of parsed collateral per
 * (tee, fmspc, ca) with refresh, stale serving and single-flight fetches. See collsrc.h and
 * docs/collateral.md. Never reads the clock: `now` comes from the caller (curl's own timeouts
 * aside). The global lock is never held during I/O (network, store, files, log lines). */
#define _GNU_SOURCE
#include "collsrc.h"

#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/x509.h>

#include "core/util.h"
#include "crypto/crypto.h" /* att_crl_parse */
#include "log.h"

#define COLL_MAX_BODY             (4u << 20)  /* per HTTP body */
#define COLL_MAX_HEADER           (64u << 10) /* per issuer-chain header */
#define COLL_RETRY_INTERVAL       60 /* seconds of `now` between attempts on a set in hand */
#define COLL_WRITE_RETRY_INTERVAL 60 /* seconds of `now` between store writes of a pending set */
#define COLL_BLOB_MAGIC           "ATTCOLL1"
#define COLL_BLOB_ITEMS           7
#define COLL_KEY_LEN              48
#define COLL_URL_LEN              2048
#define COLL_MAX_BASE             1500
#define COLL_MAX_ENTRIES          4096   /* keys held; those without a set are evicted first */
#define COLL_MAX_REDIRS           3      /* redirects followed per GET, within its origin */
#define COLL_DEF_RATE             2      /* fetches per second, all keys */
#define COLL_DEF_BACKOFF_MS       5000   /* first backoff after a failed fetch of a key */
#define COLL_DEF_BACKOFF_MAX_MS   300000 /* the doubling stops here */

typedef struct coll_entry {
    struct coll_entry *next;
    char key[COLL_KEY_LEN]; /* dcap/<sgx|tdx>/<fmspc lowercase>/<ca> */
    att_tee_t tee;
    uint8_t fmspc[6];
    char ca[12];
    att_dcap_collateral_t *coll; /* NULL until we have one */
    att_time_t fetched_at;
    bool fetched_at_known; /* false for offline seeds until the first get */
    bool store_tried;
    bool fetching;           /* a fetcher is working on this key (single flight) */
    unsigned waiters;        /* callers waiting on this entry: it is not evicted meanwhile */
    uint64_t gen;            /* bumped when a fetcher finishes */
    bool attempted;          /* a network fetch was tried ... */
    att_time_t last_attempt; /* ... at this `now` */
    bool failed;             /* the last network attempt failed */
    bool fetch_net; /* the running fetch may go to the network (its waiters count as blocked) */
    unsigned fail_streak; /* consecutive failed network fetches */
    int64_t retry_at;     /* clock_ms: no network fetch before this (backoff); 0: none */
    att_err_t last_err;
    att_diag_t last_diag;
    /* A fetched set the store has not taken yet (its write failed, or is about to be made):
     * written again by a later get, at most once per COLL_WRITE_RETRY_INTERVAL (pending_claim). */
    uint8_t *pending; /* store-format blob, or NULL */
    size_t pending_len;
    att_time_t pending_at; /* its fetched_at */
    bool write_due;        /* pending comes from a fetch not written yet: write it at once */
    bool writing;          /* a caller is writing this key's blob (single writer) */
    att_time_t last_write; /* `now` of the last failed write */
    bool write_failing;    /* the last write failed (logged once, until one succeeds) */
    /* Why the store's row for this key was not used (ATT_OK: none, fine, or not read yet). */
    att_err_t stored_err;
    att_diag_t stored_diag;
} coll_entry_t;

struct att_collsrc {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast when any fetcher finishes */
    coll_entry_t *entries;
    size_t n_entries;
    char *pcs_url; /* without trailing '/' */
    char *root_crl_url;
    att_store_t *store;
    const att_trust_t *trust;
    int64_t max_age, refresh_margin;
    long timeout_ms;               /* deadline of one fetch */
    unsigned max_waiters, blocked; /* bound (0: none) and callers blocked on network fetches */
    unsigned rate;                 /* fetches per second, and the bucket's size */
    int64_t tokens;                /* the bucket, in thousandths of a fetch */
    int64_t bucket_at;             /* clock_ms of its last refill */
    int64_t backoff_ms, backoff_max_ms;
    int64_t (*clock_ms)(void *arg);
    void *clock_arg;
    att_collsrc_stats_t stats;
};

static pthread_once_t coll_curl_once = PTHREAD_ONCE_INIT;
static CURLcode coll_curl_init_rc = CURLE_FAILED_INIT;
static void coll_curl_init(void)
{
    coll_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *tee_name(att_tee_t tee)
{
    return tee == ATT_TEE_TDX ? "tdx" : "sgx";
}

static void make_key(char key[COLL_KEY_LEN], att_tee_t tee, const uint8_t fmspc[6], const char *ca)
{
    char hex[13];
    att_hex_encode(fmspc, 6, hex);
    snprintf(key, COLL_KEY_LEN, "dcap/%s/%s/%s", tee_name(tee), hex, ca);
}

/* ---- CRL helpers (parsing is the library's att_crl_parse, the project's one CRL parser) ---- */

/* "processor" or "platform" from a PCK CRL's issuer CN. */
static att_err_t crl_ca(att_slice_t crl, const char **ca, att_diag_t *d)
{
    X509_CRL *c = att_crl_parse(crl.ptr, crl.len, "PCK CRL", d);
    if (c == NULL)
        return ATT_E_CRL_PARSE;
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_CRL_get_issuer(c), NID_commonName, cn, sizeof(cn));
    X509_CRL_free(c);
    if (strcmp(cn, "Intel SGX PCK Processor CA") == 0)
        *ca = "processor";
    else if (strcmp(cn, "Intel SGX PCK Platform CA") == 0)
        *ca = "platform";
    else
        return att_diag_set(d, ATT_E_CRL_ISSUER,
                            "PCK CRL issuer CN \"%s\" is neither the "
                            "Processor nor the Platform CA",
                            cn);
    return ATT_OK;
}

static bool is_hex_text(const uint8_t *p, size_t n)
{
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (isxdigit(p[i]))
            digits++;
        else if (!isspace(p[i]))
            return false;
    }
    return digits >= 2 && digits % 2 == 0;
}

/* A CRL body as served, made DER: DER stays, PEM is re-encoded, hex text (what a PCCS serves
 * for the root CA CRL) is decoded. Replaces *buf when it changes. */
static att_err_t crl_normalize(uint8_t **buf, size_t *len, const char *url, att_diag_t *d)
{
    if (*len >= 10 && memcmp(*buf, "-----BEGIN", 10) == 0) {
        /* PEM to DER, so that a set's hashes do not depend on how the source encoded it. */
        X509_CRL *c = att_crl_parse(*buf, *len, url, NULL);
        if (c == NULL)
            return ATT_OK; /* stays PEM: att_dcap_collateral_new reports it (same parser) */
        unsigned char *der = NULL;
        int n = i2d_X509_CRL(c, &der);
        X509_CRL_free(c);
        if (n <= 0)
            return att_diag_set(d, ATT_E_CRL_PARSE, "%s: CRL cannot be re-encoded", url);
        uint8_t *out = malloc((size_t)n + 1);
        if (out == NULL) {
            OPENSSL_free(der);
            return att_diag_set(d, ATT_E_NOMEM, "out of memory");
        }
        memcpy(out, der, (size_t)n);
        out[n] = 0;
        OPENSSL_free(der);
        free(*buf);
        *buf = out;
        *len = (size_t)n;
        return ATT_OK;
    }
    if (!is_hex_text(*buf, *len))
        return ATT_OK; /* DER, or garbage for att_dcap_collateral_new to reject */
    uint8_t *out = malloc(*len / 2 + 1);
    if (out == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    size_t n = 0;
    int hi = -1;
    for (size_t i = 0; i < *len; i++) {
        int c = (*buf)[i];
        if (!isxdigit(c))
            continue;
        int v = isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10);
        if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    out[n] = 0;
    free(*buf);
    *buf = out;
    *len = n;
    return ATT_OK;
}

/* ---- HTTP ---- */

typedef struct {
    const char *const *names; /* accepted header names, NULL-terminated; may be NULL */
    char *value;              /* raw (still URL-encoded) value of the first match */
    bool over;
} coll_hdr_t;

static size_t header_cb(char *p, size_t size, size_t nmemb, void *ud)
{
    coll_hdr_t *h = ud;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (redirect, 100): reset */
        free(h->value);
        h->value = NULL;
        return n;
    }
    if (h->names == NULL || h->value != NULL)
        return n;
    const char *colon = memchr(p, ':', n);
    if (colon == NULL)
        return n;
    size_t nl = (size_t)(colon - p);
    for (const char *const *nm = h->names; *nm; nm++) {
        if (strlen(*nm) != nl || strncasecmp(p, *nm, nl) != 0)
            continue;
        const char *v = colon + 1, *end = p + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - v) > COLL_MAX_HEADER) {
            h->over = true;
            return n;
        }
        h->value = strndup(v, (size_t)(end - v));
        break;
    }
    return n;
}

/* The real monotonic clock in milliseconds: fetch deadlines (curl's timeouts run on it). */
static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_clock(void *arg)
{
    (void)arg;
    return mono_ms();
}

/* Upstream text (an error body, a Location) made fit for a log line: printable ASCII only
 * (anything else becomes '?'), at most cap - 1 characters, "..." when cut. */
static void sanitize(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    if (k + 1 == cap && n > k && cap > 4)
        memcpy(out + cap - 4, "...", 3);
    out[k] = 0;
}

/* The origin of url as "scheme://host:port" (lower case, default port filled in). */
static bool url_origin(const char *url, char *out, size_t n)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
              (size_t)snprintf(out, n, "%s://%s:%s", scheme, host, port) < n;
    if (ok)
        for (char *c = out; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

static bool is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* One fetch of a collateral set: its handle, its key and the deadline all its GETs share. */
typedef struct {
    att_collsrc_t *s;
    CURL *h;
    const char *key;
    int64_t deadline; /* mono_ms() */
} coll_fetch_t;

/* GET url (`what` names the item in messages); status must be 200. Redirects are followed
 * within url's origin only, at most COLL_MAX_REDIRS. Body (NUL-terminated, malloc'd) into
 * *body; when hdr_names is given, the first of those headers must be present: its URL-decoded
 * value into *hdr_out. The source's text (an error body, a Location elsewhere) is only logged. */
static att_err_t http_get(coll_fetch_t *f, const char *url, const char *what,
                          const char *const *hdr_names, uint8_t **body, size_t *blen,
                          uint8_t **hdr_out, size_t *hdr_len, att_diag_t *d)
{
    CURL *h = f->h;
    att_buf_t b = {.max = COLL_MAX_BODY};
    coll_hdr_t hd = {.names = hdr_names};
    char errbuf[CURL_ERROR_SIZE] = "";
    char cur[COLL_URL_LEN], origin[COLL_URL_LEN];
    att_err_t e = ATT_OK;
    long status = 0;
    *body = NULL;
    *blen = 0;
    if (hdr_out) {
        *hdr_out = NULL;
        *hdr_len = 0;
    }
    if ((size_t)snprintf(cur, sizeof(cur), "%s", url) >= sizeof(cur) ||
        !url_origin(url, origin, sizeof(origin)))
        return att_diag_set(d, ATT_E_FETCH, "GET %s: not a usable URL", url);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, att_buf_curl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hd);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    /* Redirects are handled below (same origin only); curl follows none itself. */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
                     strncmp(origin, "https:", 6) == 0 ? "https" : "http");
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)COLL_MAX_BODY);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "attestd");
    for (int hop = 0;; hop++) {
        int64_t left = f->deadline - mono_ms();
        if (left <= 0) {
            e = att_diag_set(d, ATT_E_FETCH,
                             "GET %s: not sent: the fetch of collateral for %s "
                             "ran out of its %ld ms deadline (timed out)",
                             cur, f->key, f->s->timeout_ms);
            goto out;
        }
        curl_easy_setopt(h, CURLOPT_URL, cur);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
        pthread_mutex_lock(&f->s->mu);
        f->s->stats.requests++;
        pthread_mutex_unlock(&f->s->mu);
        errbuf[0] = 0;
        CURLcode rc = curl_easy_perform(h);
        if (b.over || rc == CURLE_FILESIZE_EXCEEDED) {
            e = att_diag_set(d, ATT_E_FETCH, "GET %s: body exceeds %u bytes", cur, COLL_MAX_BODY);
            goto out;
        }
        if (rc == CURLE_OPERATION_TIMEDOUT) {
            e = att_diag_set(d, ATT_E_FETCH,
                             "GET %s: timed out: the fetch of collateral for %s "
                             "ran past its %ld ms deadline",
                             cur, f->key, f->s->timeout_ms);
            goto out;
        }
        if (rc != CURLE_OK) {
            e = att_diag_set(d, ATT_E_FETCH, "GET %s: %s", cur,
                             errbuf[0] ? errbuf : curl_easy_strerror(rc));
            goto out;
        }
        status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (!is_redirect(status))
            break;
        char *loc = NULL, there[COLL_URL_LEN], shown[128];
        curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
        sanitize((const uint8_t *)(loc ? loc : ""), loc ? strlen(loc) : 0, shown, sizeof(shown));
        if (loc == NULL || !url_origin(loc, there, sizeof(there)) || strcmp(there, origin) != 0 ||
            strlen(loc) >= sizeof(cur)) {
            att_log(ATT_LOG_WARN,
                    "the collateral source redirected GET %s to \"%s\": not "
                    "followed (only redirects within %s are)",
                    cur, shown, origin);
            e = att_diag_set(d, ATT_E_FETCH_STATUS,
                             "collateral source answered HTTP %ld for "
                             "%s (GET %s), a redirect %s: not followed",
                             status, what, cur, loc ? "to another origin" : "without a location");
            goto out;
        }
        if (hop >= COLL_MAX_REDIRS) {
            e = att_diag_set(d, ATT_E_FETCH_STATUS,
                             "collateral source answered HTTP %ld for "
                             "%s (GET %s): more than %d redirects",
                             status, what, url, COLL_MAX_REDIRS);
            goto out;
        }
        memmove(cur, loc, strlen(loc) + 1); /* loc belongs to the handle: copy before reuse */
        free(b.p);
        b = (att_buf_t){.max = COLL_MAX_BODY};
        free(hd.value);
        hd.value = NULL;
        hd.over = false;
    }
    if (status != 200) {
        /* The body is the source's business (it may name internal systems): logged, not
         * echoed to whoever sent the quote. */
        char snippet[161];
        sanitize(b.p, b.len, snippet, sizeof(snippet));
        att_log(ATT_LOG_WARN, "the collateral source answered HTTP %ld for %s (GET %s)%s%s", status,
                what, cur, snippet[0] ? "; body: " : "", snippet);
        e = att_diag_set(d, ATT_E_FETCH_STATUS,
                         "collateral source answered HTTP %ld for %s "
                         "(GET %s)",
                         status, what, cur);
        goto out;
    }
    if (hdr_names) {
        if (hd.over) {
            e = att_diag_set(d, ATT_E_FETCH, "GET %s: header %s exceeds %u bytes", cur,
                             hdr_names[0], COLL_MAX_HEADER);
            goto out;
        }
        if (hd.value == NULL) {
            e = att_diag_set(d, ATT_E_COLL_MISSING, "GET %s: the answer has no %s header", cur,
                             hdr_names[0]);
            goto out;
        }
        int n = 0;
        char *dec = curl_easy_unescape(h, hd.value, 0, &n);
        if (dec == NULL || n <= 0) {
            curl_free(dec);
            e = att_diag_set(d, ATT_E_COLL_FORMAT, "GET %s: header %s cannot be URL-decoded", cur,
                             hdr_names[0]);
            goto out;
        }
        uint8_t *copy = malloc((size_t)n + 1);
        if (copy == NULL) {
            curl_free(dec);
            e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
            goto out;
        }
        memcpy(copy, dec, (size_t)n);
        copy[n] = 0;
        curl_free(dec);
        *hdr_out = copy;
        *hdr_len = (size_t)n;
    }
    /* an empty 200: the caller still gets an empty, NUL-terminated buffer */
    if (b.p == NULL && !att_buf_put(&b, "", 0)) {
        e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    *body = b.p;
    *blen = b.len;
    b.p = NULL;
out:
    free(b.p);
    free(hd.value);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    return e;
}

static void slice_take(att_slice_t *sl, uint8_t *p, size_t n)
{
    sl->ptr = p;
    sl->len = n;
}

/* Fetch the 7 raw items of one key from the PCS, all GETs within one deadline of
 * s->timeout_ms. raw is filled with malloc'd slices. */
static att_err_t fetch_raw(att_collsrc_t *s, const coll_entry_t *en, att_dcap_collateral_raw_t *raw,
                           att_diag_t *d)
{
    static const char *const tcb_hdr[] = {"TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain",
                                          NULL};
    static const char *const qe_hdr[] = {"SGX-Enclave-Identity-Issuer-Chain",
                                         "Enclave-Identity-Issuer-Chain", NULL};
    static const char *const crl_hdr[] = {"SGX-PCK-CRL-Issuer-Chain", NULL};
    memset(raw, 0, sizeof(*raw));
    coll_fetch_t f = {
        .s = s, .h = curl_easy_init(), .key = en->key, .deadline = mono_ms() + s->timeout_ms};
    if (f.h == NULL)
        return att_diag_set(d, ATT_E_FETCH, "curl_easy_init failed");
    char fm[13], url[COLL_URL_LEN], what[64];
    att_hex_encode(en->fmspc, 6, fm);
    for (char *p = fm; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    const char *t = tee_name(en->tee);
    uint8_t *b, *c;
    size_t bl, cl;
    att_err_t e;

    snprintf(url, sizeof(url), "%s/%s/certification/v4/tcb?fmspc=%s", s->pcs_url, t, fm);
    snprintf(what, sizeof(what), "the %s TCB info of FMSPC %s",
             en->tee == ATT_TEE_TDX ? "TDX" : "SGX", fm);
    if ((e = http_get(&f, url, what, tcb_hdr, &b, &bl, &c, &cl, d)))
        goto out;
    slice_take(&raw->tcb_info, b, bl);
    slice_take(&raw->tcb_info_chain, c, cl);

    snprintf(url, sizeof(url), "%s/%s/certification/v4/qe/identity", s->pcs_url, t);
    snprintf(what, sizeof(what), "the %s QE identity", en->tee == ATT_TEE_TDX ? "TDX" : "SGX");
    if ((e = http_get(&f, url, what, qe_hdr, &b, &bl, &c, &cl, d)))
        goto out;
    slice_take(&raw->qe_identity, b, bl);
    slice_take(&raw->qe_identity_chain, c, cl);

    snprintf(url, sizeof(url), "%s/sgx/certification/v4/pckcrl?ca=%s&encoding=der", s->pcs_url,
             en->ca);
    snprintf(what, sizeof(what), "the PCK CRL of the %s CA", en->ca);
    if ((e = http_get(&f, url, what, crl_hdr, &b, &bl, &c, &cl, d)))
        goto out;
    if ((e = crl_normalize(&b, &bl, url, d))) {
        free(b);
        free(c);
        goto out;
    }
    slice_take(&raw->pck_crl, b, bl);
    slice_take(&raw->pck_crl_chain, c, cl);

    if ((e = http_get(&f, s->root_crl_url, "the root CA CRL", NULL, &b, &bl, NULL, NULL, d)))
        goto out;
    if ((e = crl_normalize(&b, &bl, s->root_crl_url, d))) {
        free(b);
        goto out;
    }
    slice_take(&raw->root_ca_crl, b, bl);
out:
    curl_easy_cleanup(f.h);
    if (e)
        att_dcap_collateral_raw_free(raw);
    return e;
}

/* ---- blob (store format) ----
 * "ATTCOLL1" then, for tcb_info, tcb_info_chain, qe_identity, qe_identity_chain, pck_crl,
 * pck_crl_chain, root_ca_crl in that order: a 4-byte big-endian length and the bytes. */

static att_slice_t *raw_items(att_dcap_collateral_raw_t *r, size_t i)
{
    att_slice_t *items[COLL_BLOB_ITEMS] = {
        &r->tcb_info, &r->tcb_info_chain, &r->qe_identity, &r->qe_identity_chain,
        &r->pck_crl,  &r->pck_crl_chain,  &r->root_ca_crl};
    return items[i];
}

static att_err_t blob_encode(const att_dcap_collateral_raw_t *raw, uint8_t **out, size_t *len,
                             att_diag_t *d)
{
    att_dcap_collateral_raw_t *r = (att_dcap_collateral_raw_t *)raw;
    size_t n = sizeof(COLL_BLOB_MAGIC) - 1;
    for (size_t i = 0; i < COLL_BLOB_ITEMS; i++) {
        if (raw_items(r, i)->len > UINT32_MAX)
            return att_diag_set(d, ATT_E_LIMIT, "collateral item too large to store");
        n += 4 + raw_items(r, i)->len;
    }
    uint8_t *b = malloc(n), *p = b;
    if (b == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    memcpy(p, COLL_BLOB_MAGIC, sizeof(COLL_BLOB_MAGIC) - 1);
    p += sizeof(COLL_BLOB_MAGIC) - 1;
    for (size_t i = 0; i < COLL_BLOB_ITEMS; i++) {
        const att_slice_t *sl = raw_items(r, i);
        uint32_t l = (uint32_t)sl->len;
        p[0] = (uint8_t)(l >> 24);
        p[1] = (uint8_t)(l >> 16);
        p[2] = (uint8_t)(l >> 8);
        p[3] = (uint8_t)l;
        p += 4;
        if (l)
            memcpy(p, sl->ptr, l);
        p += l;
    }
    *out = b;
    *len = n;
    return ATT_OK;
}

static att_err_t blob_decode(const uint8_t *b, size_t n, att_dcap_collateral_raw_t *raw,
                             att_diag_t *d)
{
    memset(raw, 0, sizeof(*raw));
    size_t m = sizeof(COLL_BLOB_MAGIC) - 1, off = m;
    if (n < m || memcmp(b, COLL_BLOB_MAGIC, m) != 0)
        return att_diag_set(d, ATT_E_COLL_FORMAT, "stored collateral: bad magic");
    for (size_t i = 0; i < COLL_BLOB_ITEMS; i++) {
        if (n - off < 4)
            goto trunc;
        size_t l =
            (size_t)b[off] << 24 | (size_t)b[off + 1] << 16 | (size_t)b[off + 2] << 8 | b[off + 3];
        off += 4;
        if (n - off < l)
            goto trunc;
        uint8_t *p = malloc(l + 1);
        if (p == NULL) {
            att_dcap_collateral_raw_free(raw);
            return att_diag_set(d, ATT_E_NOMEM, "out of memory");
        }
        memcpy(p, b + off, l);
        p[l] = 0;
        slice_take(raw_items(raw, i), p, l);
        off += l;
    }
    if (off != n) {
        att_dcap_collateral_raw_free(raw);
        return att_diag_set(d, ATT_E_COLL_FORMAT, "stored collateral: %zu trailing bytes", n - off);
    }
    return ATT_OK;
trunc:
    att_dcap_collateral_raw_free(raw);
    return att_diag_set(d, ATT_E_COLL_FORMAT, "stored collateral: truncated");
}

/* Parse and check raw collateral, and that it is for (tee, fmspc, ca) when those are given. */
static att_err_t make_coll(att_collsrc_t *s, const att_dcap_collateral_raw_t *raw, const char *what,
                           const coll_entry_t *want, att_dcap_collateral_t **out, att_diag_t *d)
{
    att_diag_t d2;
    att_dcap_collateral_t *c = NULL;
    att_err_t e = att_dcap_collateral_new(raw, s->trust, &c, &d2);
    if (e)
        return att_diag_set(d, e, "%s: %s", what, d2.msg);
    const char *ca;
    if ((e = crl_ca(raw->pck_crl, &ca, &d2))) {
        att_dcap_collateral_free(c);
        return att_diag_set(d, e, "%s: %s", what, d2.msg);
    }
    if (want) {
        uint8_t fm[6];
        att_dcap_collateral_fmspc(c, fm);
        char k[COLL_KEY_LEN];
        make_key(k, att_dcap_collateral_tee(c), fm, ca);
        if (strcmp(k, want->key) != 0) {
            att_dcap_collateral_free(c);
            return att_diag_set(d, ATT_E_COLL_FORMAT, "%s: collateral is for %s, not %s", what, k,
                                want->key);
        }
    }
    *out = c;
    return ATT_OK;
}

/* Whether `now` is less than `interval` seconds after `then` (a `now` that went back is not, so
 * a clock set back does not silence retries; the difference must not overflow). */
static bool within_interval(att_time_t now, att_time_t then, int64_t interval)
{
    int64_t dt;
    return now >= then && !__builtin_sub_overflow(now, then, &dt) && dt < interval;
}

/* Whether the set is older than max_age. fetched_at may come from the store's row, which can
 * hold anything (a corrupted row, a clock that went back): a time after `now` counts as too
 * old (the age is unknown; a refresh settles it), and `now - fetched_at` must not overflow
 * (INT64_MIN from the row did: undefined behaviour, in practice a set never refreshed);
 * within_interval says no in both cases. */
static bool too_old(const att_collsrc_t *s, const coll_entry_t *en, att_time_t now)
{
    return s->max_age > 0 && en->fetched_at_known &&
           !within_interval(now, en->fetched_at, s->max_age);
}

static bool needs_refresh(const att_collsrc_t *s, const coll_entry_t *en, att_time_t now)
{
    att_time_t exp = att_dcap_collateral_expiry(en->coll);
    if (now >= exp - s->refresh_margin)
        return true;
    return too_old(s, en, now);
}

/* While another caller refreshes it, a set may be served without waiting if it has not expired
 * and is not older than max_age. */
static bool usable_while_refreshing(const att_collsrc_t *s, const coll_entry_t *en, att_time_t now)
{
    if (now >= att_dcap_collateral_expiry(en->coll))
        return false;
    return !too_old(s, en, now);
}

/* Called with the lock held. */
static coll_entry_t *entry_find(att_collsrc_t *s, const char *key)
{
    for (coll_entry_t *en = s->entries; en; en = en->next)
        if (strcmp(en->key, key) == 0)
            return en;
    return NULL;
}

/* Called with the lock held. Keys come from quotes, whose PCK chains may not be checked yet:
 * bound the number of keys, evicting one that holds no set and that nobody is using. */
static coll_entry_t *entry_add(att_collsrc_t *s, const char *key, att_tee_t tee,
                               const uint8_t fmspc[6], const char *ca)
{
    if (s->n_entries >= COLL_MAX_ENTRIES) {
        coll_entry_t **pp = &s->entries;
        while (*pp && ((*pp)->coll || (*pp)->fetching || (*pp)->waiters || (*pp)->writing ||
                       (*pp)->pending))
            pp = &(*pp)->next;
        if (*pp == NULL)
            return NULL;
        coll_entry_t *victim = *pp;
        *pp = victim->next;
        free(victim);
        s->n_entries--;
    }
    coll_entry_t *en = calloc(1, sizeof(*en));
    if (en == NULL)
        return NULL;
    snprintf(en->key, sizeof(en->key), "%s", key);
    en->tee = tee;
    memcpy(en->fmspc, fmspc, 6);
    snprintf(en->ca, sizeof(en->ca), "%s", ca);
    en->next = s->entries;
    s->entries = en;
    s->n_entries++;
    return en;
}

/* ---- offline directory ---- */

static bool has_tcb_info(const char *dir)
{
    char p[4096];
    struct stat st;
    if ((size_t)snprintf(p, sizeof(p), "%s/tcb_info.json", dir) >= sizeof(p))
        return false;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static att_err_t offline_load_set(att_collsrc_t *s, const char *dir, att_diag_t *d)
{
    att_dcap_collateral_raw_t raw;
    att_diag_t d2;
    att_err_t e = att_dcap_collateral_raw_load_dir(dir, &raw, &d2);
    if (e)
        return att_diag_set(d, e, "offline collateral %s: %s", dir, d2.msg);
    char what[4200];
    snprintf(what, sizeof(what), "offline collateral %s", dir);
    att_dcap_collateral_t *c;
    e = make_coll(s, &raw, what, NULL, &c, d);
    const char *ca = NULL;
    if (e == ATT_OK)
        e = crl_ca(raw.pck_crl, &ca, d);
    att_dcap_collateral_raw_free(&raw);
    if (e)
        return e;
    uint8_t fm[6];
    att_dcap_collateral_fmspc(c, fm);
    att_tee_t tee = att_dcap_collateral_tee(c);
    char key[COLL_KEY_LEN];
    make_key(key, tee, fm, ca);
    coll_entry_t *en = entry_find(s, key); /* only during att_collsrc_new: no lock needed */
    if (en == NULL && (en = entry_add(s, key, tee, fm, ca)) == NULL) {
        att_dcap_collateral_free(c);
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    if (en->coll && att_dcap_collateral_expiry(en->coll) >= att_dcap_collateral_expiry(c)) {
        att_dcap_collateral_free(c); /* two sets for one key: keep the later one */
        return ATT_OK;
    }
    att_dcap_collateral_free(en->coll);
    en->coll = c;
    en->fetched_at_known = false;
    return ATT_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static att_err_t offline_load(att_collsrc_t *s, const char *dir, att_diag_t *d)
{
    if (has_tcb_info(dir))
        return offline_load_set(s, dir, d);
    DIR *dh = opendir(dir);
    if (dh == NULL)
        return att_diag_set(d, ATT_E_IO, "offline collateral directory %s cannot be opened", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    att_err_t e = ATT_OK;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char sub[4096];
        if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= sizeof(sub))
            continue;
        if (!has_tcb_info(sub))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = realloc(names, nc * sizeof(*nn));
            if (nn == NULL) {
                e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
                goto out;
            }
            names = nn;
            cap = nc;
        }
        if ((names[n] = strdup(sub)) == NULL) {
            e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
            goto out;
        }
        n++;
    }
    if (n == 0) {
        e = att_diag_set(d, ATT_E_COLL_MISSING,
                         "offline collateral directory %s holds no "
                         "collateral set (tcb_info.json, in it or in a subdirectory)",
                         dir);
        goto out;
    }
    qsort(names, n, sizeof(*names), cmp_str); /* deterministic order */
    for (size_t i = 0; i < n && e == ATT_OK; i++)
        e = offline_load_set(s, names[i], d);
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(dh);
    return e;
}

/* ---- public API ---- */

static char *derive_root_crl_url(const char *base)
{
    char *u = NULL;
    /* Intel's PCS has no rootcacrl path: use the root certificate's CRL distribution point. */
    if (strstr(base, "://api.trustedservices.intel.com") != NULL)
        return strdup("https://certificates.trustedservices.intel.com/IntelSGXRootCA.der");
    if (asprintf(&u, "%s/sgx/certification/v4/rootcacrl", base) < 0)
        return NULL;
    return u;
}

att_err_t att_collsrc_new(const att_collsrc_opts_t *opts, att_collsrc_t **out, att_diag_t *d)
{
    if (opts == NULL || out == NULL || opts->trust == NULL)
        return att_diag_set(d, ATT_E_ARG, "collsrc: NULL argument");
    *out = NULL;
    if (opts->pcs_url == NULL && opts->offline_dir == NULL && opts->store == NULL)
        return att_diag_set(d, ATT_E_ARG,
                            "collsrc: no collateral source (need a PCS URL, an "
                            "offline directory or a store)");
    if (opts->max_age < 0 || opts->refresh_margin < 0 || opts->timeout_ms < 0 ||
        opts->backoff_ms < 0 || opts->backoff_max_ms < 0)
        return att_diag_set(d, ATT_E_ARG,
                            "collsrc: negative max_age, refresh_margin, timeout "
                            "or backoff");
    if (opts->fetch_rate > 1000000 || opts->backoff_max_ms > INT64_MAX / 4)
        return att_diag_set(d, ATT_E_ARG, "collsrc: fetch rate or backoff out of range");
    att_collsrc_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->store = opts->store;
    s->trust = opts->trust;
    s->max_age = opts->max_age;
    s->refresh_margin = opts->refresh_margin ? opts->refresh_margin : 3600;
    s->timeout_ms = opts->timeout_ms ? opts->timeout_ms : 10000;
    s->max_waiters = opts->max_waiters;
    s->rate = opts->fetch_rate ? opts->fetch_rate : COLL_DEF_RATE;
    s->backoff_ms = opts->backoff_ms ? opts->backoff_ms : COLL_DEF_BACKOFF_MS;
    s->backoff_max_ms = opts->backoff_max_ms ? opts->backoff_max_ms : COLL_DEF_BACKOFF_MAX_MS;
    if (s->backoff_max_ms < s->backoff_ms)
        s->backoff_max_ms = s->backoff_ms;
    s->clock_ms = opts->clock_ms ? opts->clock_ms : mono_clock;
    s->clock_arg = opts->clock_arg;
    s->tokens = (int64_t)s->rate * 1000; /* full */
    s->bucket_at = s->clock_ms(s->clock_arg);
    att_err_t e = ATT_OK;
    if (opts->pcs_url) {
        size_t n = strlen(opts->pcs_url);
        while (n > 0 && opts->pcs_url[n - 1] == '/')
            n--;
        if (n == 0 || n > COLL_MAX_BASE ||
            (strncmp(opts->pcs_url, "http://", 7) != 0 &&
             strncmp(opts->pcs_url, "https://", 8) != 0)) {
            e = att_diag_set(d, ATT_E_ARG,
                             "collsrc: PCS URL must be http(s):// and at most %d "
                             "characters",
                             COLL_MAX_BASE);
            goto fail;
        }
        pthread_once(&coll_curl_once, coll_curl_init);
        if (coll_curl_init_rc != CURLE_OK) {
            e = att_diag_set(d, ATT_E_FETCH, "curl_global_init failed: %s",
                             curl_easy_strerror(coll_curl_init_rc));
            goto fail;
        }
        s->pcs_url = strndup(opts->pcs_url, n);
        s->root_crl_url = opts->root_ca_crl_url ? strdup(opts->root_ca_crl_url)
                                                : derive_root_crl_url(s->pcs_url ? s->pcs_url : "");
        if (s->pcs_url == NULL || s->root_crl_url == NULL) {
            e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
            goto fail;
        }
        if (strlen(s->root_crl_url) >= COLL_URL_LEN) {
            e = att_diag_set(d, ATT_E_ARG, "collsrc: root CA CRL URL too long");
            goto fail;
        }
    }
    if (opts->offline_dir && (e = offline_load(s, opts->offline_dir, d)))
        goto fail;
    *out = s;
    return ATT_OK;
fail:
    att_collsrc_free(s);
    return e;
}

void att_collsrc_free(att_collsrc_t *s)
{
    if (s == NULL)
        return;
    coll_entry_t *en = s->entries;
    while (en) {
        coll_entry_t *nx = en->next;
        att_dcap_collateral_free(en->coll);
        free(en->pending);
        free(en);
        en = nx;
    }
    free(s->pcs_url);
    free(s->root_crl_url);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void att_collsrc_stats(att_collsrc_t *s, att_collsrc_stats_t *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}

/* Try the store for key (outside the lock). A missing row is ATT_OK with *out NULL. A row that
 * cannot be read, decoded, parsed, signature-checked or is for another key is not used: its
 * error is returned, with the reason in d. */
static att_err_t store_load(att_collsrc_t *s, const coll_entry_t *en, att_dcap_collateral_t **out,
                            att_time_t *fetched_at, att_diag_t *d)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    *out = NULL;
    att_err_t e = att_store_coll_get(s->store, en->key, &blob, &len, fetched_at, d);
    if (e == ATT_E_STORE_NOT_FOUND) {
        att_diag_clear(d);
        return ATT_OK;
    }
    if (e)
        return e;
    att_dcap_collateral_raw_t raw;
    if ((e = blob_decode(blob, len, &raw, d)) == ATT_OK) {
        e = make_coll(s, &raw, "stored collateral", en, out, d);
        att_dcap_collateral_raw_free(&raw);
    }
    free(blob);
    return e;
}

/* Fetch from the network and check (outside the lock). With a store, *blob gets the set in the
 * store format for the caller to persist (pending_set); it stays NULL if it cannot be encoded
 * (out of memory), and the set is then only in memory. */
static att_err_t net_fetch(att_collsrc_t *s, const coll_entry_t *en, att_dcap_collateral_t **out,
                           uint8_t **blob, size_t *blen, att_diag_t *d)
{
    *blob = NULL;
    *blen = 0;
    att_dcap_collateral_raw_t raw;
    att_err_t e = fetch_raw(s, en, &raw, d);
    if (e)
        return e;
    char what[COLL_MAX_BASE + 64];
    snprintf(what, sizeof(what), "collateral from %s", s->pcs_url);
    if ((e = make_coll(s, &raw, what, en, out, d)) == ATT_OK && s->store) {
        att_diag_t d2;
        if (blob_encode(&raw, blob, blen, &d2) != ATT_OK) {
            *blob = NULL;
            *blen = 0;
        }
    }
    att_dcap_collateral_raw_free(&raw);
    return e;
}

/* ---- persistence of fetched sets ----
 * The caller that fetched a set writes it to the store after installing it in memory (waiters
 * are not held up by the disk). A failed write keeps the blob on the entry as pending, and a
 * later get of that key (hits included) writes it again, at most once per
 * COLL_WRITE_RETRY_INTERVAL of `now`, so that a restart finds what this process verified. One
 * writer per key at a time (en->writing): a get that finds a write running answers from memory
 * and leaves the write to its owner. A newer fetch's blob replaces an older pending one. Not
 * checked here: whether the pending set has expired meanwhile (a stored set is judged when it
 * is read back, as any other). */

/* A blob on its way to the store, taken off its entry while it is written. */
typedef struct {
    char key[COLL_KEY_LEN];
    uint8_t *blob;
    size_t len;
    att_time_t fetched_at;
} coll_write_t;

typedef enum { COLL_WRITE_QUIET, COLL_WRITE_FAILED, COLL_WRITE_RECOVERED } coll_write_log_t;

/* Called with the lock held. Keeps blob (malloc'd; taken) as en's pending set, to be written at
 * the next opportunity whatever the interval; an older pending blob is dropped. */
static void pending_set(coll_entry_t *en, uint8_t *blob, size_t len, att_time_t fetched_at)
{
    free(en->pending);
    en->pending = blob;
    en->pending_len = len;
    en->pending_at = fetched_at;
    en->write_due = true;
}

/* Called with the lock held. Whether the caller is to write en's pending blob now: there is one,
 * nobody is writing this key, and it is new or the last failed write was at least
 * COLL_WRITE_RETRY_INTERVAL of `now` ago. If so the blob moves to *w and the entry is marked as
 * being written (which also keeps it from being evicted). */
static bool pending_claim(coll_entry_t *en, att_time_t now, coll_write_t *w)
{
    if (en->pending == NULL || en->writing)
        return false;
    if (!en->write_due && within_interval(now, en->last_write, COLL_WRITE_RETRY_INTERVAL))
        return false;
    memcpy(w->key, en->key, sizeof(w->key));
    w->blob = en->pending;
    w->len = en->pending_len;
    w->fetched_at = en->pending_at;
    en->pending = NULL;
    en->write_due = false;
    en->writing = true;
    return true;
}

/* Called with the lock held, after the write of w ended with e: w's blob is freed, or kept as
 * pending when the write failed and no newer fetch replaced it meanwhile. Returns what to log:
 * the first failure of a run, and the success that ends one. */
static coll_write_log_t pending_settle(att_collsrc_t *s, coll_entry_t *en, coll_write_t *w,
                                       att_err_t e, att_time_t now)
{
    en->writing = false;
    if (e == ATT_OK) {
        free(w->blob);
        w->blob = NULL;
        bool was_failing = en->write_failing;
        en->write_failing = false;
        return was_failing ? COLL_WRITE_RECOVERED : COLL_WRITE_QUIET;
    }
    s->stats.store_write_errors++;
    en->last_write = now;
    if (en->pending == NULL) {
        en->pending = w->blob;
        en->pending_len = w->len;
        en->pending_at = w->fetched_at;
    } else {
        free(w->blob); /* a newer fetch's blob is waiting: it replaces this one */
    }
    w->blob = NULL;
    bool first = !en->write_failing;
    en->write_failing = true;
    return first ? COLL_WRITE_FAILED : COLL_WRITE_QUIET;
}

/* Writes w to the store (without the lock; en is pinned by en->writing), settles it, logs, and
 * claims en's next due blob into w. Returns whether it claimed one. */
static bool pending_write(att_collsrc_t *s, coll_entry_t *en, coll_write_t *w, att_time_t now)
{
    att_diag_t d;
    att_diag_clear(&d);
    att_err_t e = att_store_coll_put(s->store, w->key, w->blob, w->len, w->fetched_at, &d);
    char key[COLL_KEY_LEN];
    memcpy(key, w->key, sizeof(key));
    pthread_mutex_lock(&s->mu);
    coll_write_log_t lg = pending_settle(s, en, w, e, now);
    bool more = pending_claim(en, now, w);
    pthread_mutex_unlock(&s->mu);
    if (lg == COLL_WRITE_FAILED)
        att_log(ATT_LOG_WARN,
                "collateral for %s cannot be stored: %s; it is served from memory "
                "and the write is retried at most once per %d s",
                key, d.msg, COLL_WRITE_RETRY_INTERVAL);
    else if (lg == COLL_WRITE_RECOVERED)
        att_log(ATT_LOG_INFO, "collateral for %s is stored now (earlier writes had failed)", key);
    return more;
}

/* Called with the lock held; releases it, then writes en's pending blob if one is due. The
 * caller's answer is made already: this only delays its return, by the store write. */
static void unlock_and_persist(att_collsrc_t *s, coll_entry_t *en, att_time_t now)
{
    coll_write_t w;
    bool claimed = s->store != NULL && pending_claim(en, now, &w);
    pthread_mutex_unlock(&s->mu);
    while (claimed)
        claimed = pending_write(s, en, &w, now);
}

/* ---- what a get may cost the source ----
 * A get that would fetch from the network asks, in this order: is the key in its backoff after
 * a failed fetch, are max_waiters callers already blocked on network fetches, is there a token
 * in the fetch-rate bucket. A refusal serves the set in hand (stale) if there is one, else
 * answers ATT_E_FETCH (or the failed fetch's ATT_E_FETCH_STATUS) at once, with the seconds to
 * wait. Nothing here sleeps or reads the network. */

typedef enum { COLL_GO, COLL_BACKOFF, COLL_BUSY, COLL_RATE } coll_deny_t;

static int64_t ceil_s(int64_t ms)
{
    return ms <= 1000 ? 1 : (ms + 999) / 1000;
}

/* Called with the lock held: take one fetch from the bucket (refilled at s->rate per second up
 * to s->rate), or say in *wait_ms when the next one is there. A clock that went back refills
 * nothing. */
static bool rate_take(att_collsrc_t *s, int64_t now_ms, int64_t *wait_ms)
{
    int64_t cap = (int64_t)s->rate * 1000, dt = 0;
    if (!__builtin_sub_overflow(now_ms, s->bucket_at, &dt) && dt > 0) {
        s->tokens = dt >= 1000 ? cap : s->tokens + dt * (int64_t)s->rate;
        if (s->tokens > cap)
            s->tokens = cap;
    }
    s->bucket_at = now_ms;
    if (s->tokens >= 1000) {
        s->tokens -= 1000;
        return true;
    }
    *wait_ms = (1000 - s->tokens + s->rate - 1) / s->rate;
    return false;
}

/* Called with the lock held, after a network fetch of en ended with fe. */
static void backoff_settle(att_collsrc_t *s, coll_entry_t *en, att_err_t fe, int64_t now_ms)
{
    if (fe == ATT_OK) {
        en->fail_streak = 0;
        en->retry_at = 0;
        return;
    }
    if (en->fail_streak < 64)
        en->fail_streak++;
    int64_t delay = s->backoff_ms;
    for (unsigned i = 1; i < en->fail_streak && delay < s->backoff_max_ms; i++)
        delay *= 2; /* backoff_max_ms <= INT64_MAX / 4: no overflow */
    if (delay > s->backoff_max_ms)
        delay = s->backoff_max_ms;
    en->retry_at = now_ms + delay;
}

/* Called with the lock held: may en go to the network now? Counts a refusal; *wait_ms says when
 * to ask again. */
static coll_deny_t fetch_allowed(att_collsrc_t *s, coll_entry_t *en, int64_t now_ms,
                                 int64_t *wait_ms)
{
    if (en->retry_at != 0 && now_ms < en->retry_at) {
        *wait_ms = en->retry_at - now_ms;
        s->stats.backoff_denied++;
        return COLL_BACKOFF;
    }
    if (s->max_waiters != 0 && s->blocked >= s->max_waiters) {
        *wait_ms = 1000;
        s->stats.busy_denied++;
        return COLL_BUSY;
    }
    if (!rate_take(s, now_ms, wait_ms)) {
        s->stats.rate_denied++;
        return COLL_RATE;
    }
    return COLL_GO;
}

/* Called with the lock held: the seconds after which a get that failed on en may succeed: the
 * rest of its backoff after a failed fetch, else 0. */
static int64_t failure_retry(const att_collsrc_t *s, const coll_entry_t *en)
{
    if (!en->failed || en->retry_at == 0)
        return 0;
    int64_t left = en->retry_at - s->clock_ms(s->clock_arg);
    return ceil_s(left);
}

static att_err_t answer(att_collsrc_t *s, coll_entry_t *en, att_time_t now,
                        att_dcap_collateral_t **out, att_diag_t *d);

/* Called with the lock held: the answer to a get refused a fetch (why) that has no set. */
static att_err_t denied(att_collsrc_t *s, coll_entry_t *en, coll_deny_t why, int64_t wait_ms,
                        att_time_t now, int64_t *retry_after, att_diag_t *d)
{
    int64_t secs = ceil_s(wait_ms);
    *retry_after = secs;
    if (why == COLL_BUSY)
        return att_diag_set(d, ATT_E_FETCH,
                            "collateral for %s must be fetched, and %u requests "
                            "are already waiting on collateral fetches (the most allowed): try "
                            "again in %lld s",
                            en->key, s->max_waiters, (long long)secs);
    if (why == COLL_RATE)
        return att_diag_set(d, ATT_E_FETCH,
                            "collateral for %s must be fetched, and the fetch "
                            "rate (%u per second) is used up: try again in %lld s",
                            en->key, s->rate, (long long)secs);
    att_dcap_collateral_t *none = NULL;
    att_diag_t last;
    att_diag_clear(&last);
    att_err_t e = answer(s, en, now, &none, &last);
    att_dcap_collateral_free(none); /* en has no set: stays NULL */
    return att_diag_set(d, e == ATT_E_FETCH_STATUS ? e : ATT_E_FETCH,
                        "%.380s (collateral for "
                        "%s is not fetched again for %lld s after %u failed fetch%s)",
                        last.msg, en->key, (long long)secs, en->fail_streak,
                        en->fail_streak == 1 ? "" : "es");
}

/* Called with the lock held: answer from the entry after a fetch (ours or another's). */
static att_err_t answer(att_collsrc_t *s, coll_entry_t *en, att_time_t now,
                        att_dcap_collateral_t **out, att_diag_t *d)
{
    if (en->coll) {
        if (needs_refresh(s, en, now) && (en->failed || s->pcs_url == NULL))
            s->stats.served_stale++;
        *out = att_dcap_collateral_ref(en->coll);
        return ATT_OK;
    }
    if (en->last_err) {
        if (en->stored_err)
            return att_diag_set(d, en->last_err, "%s (and the stored set is unusable: %s)",
                                en->last_diag.msg, en->stored_diag.msg);
        if (d)
            *d = en->last_diag;
        return en->last_err;
    }
    if (en->stored_err)
        return att_diag_set(d, ATT_E_COLL_MISSING,
                            "no collateral for %s: the stored set is "
                            "unusable (%s) and %s",
                            en->key, en->stored_diag.msg,
                            s->pcs_url ? "none was fetched yet" : "no PCS URL is configured");
    return att_diag_set(d, ATT_E_COLL_MISSING, "no collateral for %s (%s)", en->key,
                        s->pcs_url ? "not fetched yet"
                                   : "not in the offline directory or the "
                                     "store, and no PCS URL is configured");
}

att_err_t att_collsrc_get(att_collsrc_t *s, att_tee_t tee, const uint8_t fmspc[6], const char *ca,
                          att_time_t now, att_dcap_collateral_t **out, att_diag_t *d)
{
    return att_collsrc_get_retry(s, tee, fmspc, ca, now, out, NULL, d);
}

att_err_t att_collsrc_get_retry(att_collsrc_t *s, att_tee_t tee, const uint8_t fmspc[6],
                                const char *ca, att_time_t now, att_dcap_collateral_t **out,
                                int64_t *retry_after, att_diag_t *d)
{
    int64_t ra_unused;
    if (retry_after == NULL)
        retry_after = &ra_unused;
    *retry_after = 0;
    if (s == NULL || fmspc == NULL || ca == NULL || out == NULL)
        return att_diag_set(d, ATT_E_ARG, "collsrc: NULL argument");
    *out = NULL;
    if (tee != ATT_TEE_SGX && tee != ATT_TEE_TDX)
        return att_diag_set(d, ATT_E_ARG, "collsrc: unknown TEE type 0x%x", (unsigned)tee);
    if (strcmp(ca, "processor") != 0 && strcmp(ca, "platform") != 0)
        return att_diag_set(d, ATT_E_ARG, "collsrc: CA must be \"processor\" or \"platform\"");
    char key[COLL_KEY_LEN];
    make_key(key, tee, fmspc, ca);

    pthread_mutex_lock(&s->mu);
    coll_entry_t *en = entry_find(s, key);
    if (en == NULL && (en = entry_add(s, key, tee, fmspc, ca)) == NULL) {
        pthread_mutex_unlock(&s->mu);
        return att_diag_set(d, ATT_E_LIMIT,
                            "collsrc: cannot track collateral for %s (out of "
                            "memory or %d keys held)",
                            key, COLL_MAX_ENTRIES);
    }
    if (en->coll && !en->fetched_at_known) { /* an offline seed: its age starts now */
        en->fetched_at = now;
        en->fetched_at_known = true;
    }
    if (en->coll && !needs_refresh(s, en, now)) {
        s->stats.hits++;
        *out = att_dcap_collateral_ref(en->coll);
        unlock_and_persist(s, en, now);
        return ATT_OK;
    }
    if (en->fetching && en->coll && usable_while_refreshing(s, en, now)) {
        /* Someone is refreshing a set that is still valid: no need to wait for the network. */
        s->stats.hits++;
        *out = att_dcap_collateral_ref(en->coll);
        unlock_and_persist(s, en, now);
        return ATT_OK;
    }
    s->stats.misses++;
    if (en->fetching) { /* single flight: wait for the running fetch and share its result */
        /* Waiting on the network holds the caller's thread like fetching does: bounded. */
        bool blocks = en->fetch_net;
        if (blocks && s->max_waiters != 0 && s->blocked >= s->max_waiters) {
            s->stats.busy_denied++;
            att_err_t e = en->coll ? answer(s, en, now, out, d)
                                   : denied(s, en, COLL_BUSY, 1000, now, retry_after, d);
            unlock_and_persist(s, en, now);
            return e;
        }
        uint64_t gen = en->gen;
        en->waiters++;
        s->blocked += blocks;
        while (en->fetching && en->gen == gen)
            pthread_cond_wait(&s->cv, &s->mu);
        s->blocked -= blocks;
        en->waiters--;
        att_err_t e = answer(s, en, now, out, d);
        if (e != ATT_OK)
            *retry_after = failure_retry(s, en);
        unlock_and_persist(s, en, now);
        return e;
    }
    bool try_store = s->store != NULL && !en->store_tried;
    /* With a set in hand, try the network at most once per COLL_RETRY_INTERVAL of `now`. */
    bool try_net =
        s->pcs_url != NULL &&
        !(en->coll && en->attempted && within_interval(now, en->last_attempt, COLL_RETRY_INTERVAL));
    /* Backoff, blocked callers, fetch rate: a refused fetch serves the set in hand, if any. */
    coll_deny_t deny = COLL_GO;
    int64_t deny_ms = 0;
    if (try_net && (deny = fetch_allowed(s, en, s->clock_ms(s->clock_arg), &deny_ms)) != COLL_GO)
        try_net = false;
    if (!try_store && !try_net) {
        att_err_t e;
        if (en->coll == NULL && deny != COLL_GO) {
            e = denied(s, en, deny, deny_ms, now, retry_after, d);
        } else {
            if (en->coll && deny != COLL_GO && !en->failed && needs_refresh(s, en, now))
                s->stats.served_stale++; /* answer() counts it when the last fetch failed */
            e = answer(s, en, now, out, d);
        }
        unlock_and_persist(s, en, now);
        return e;
    }
    en->fetching = true;
    en->fetch_net = try_net;
    s->blocked += try_net;
    pthread_mutex_unlock(&s->mu);

    /* ---- I/O, without the lock; `en` stays valid: a fetching entry is never evicted ---- */
    att_dcap_collateral_t *stored = NULL, *fetched = NULL;
    att_time_t stored_at = 0;
    att_err_t fe = ATT_OK, se = ATT_OK;
    att_diag_t fd, sd;
    att_diag_clear(&fd);
    att_diag_clear(&sd);
    uint8_t *blob = NULL;
    size_t blen = 0;
    bool netted = false;
    if (try_store)
        se = store_load(s, en, &stored, &stored_at, &sd);
    if (try_net) {
        /* The stored set suffices if it is fresh; en->coll/fetched_at are only read under the
         * lock, so judge it through a scratch entry. */
        coll_entry_t tmp = {.coll = stored, .fetched_at = stored_at, .fetched_at_known = true};
        if (stored == NULL || needs_refresh(s, &tmp, now)) {
            netted = true;
            fe = net_fetch(s, en, &fetched, &blob, &blen, &fd);
        }
    }

    pthread_mutex_lock(&s->mu);
    s->blocked -= try_net;
    att_dcap_collateral_t *drop1 = NULL, *drop2 = NULL;
    if (try_store) {
        en->store_tried = true;
        en->stored_err = se;
        en->stored_diag = sd;
    }
    if (stored) {
        if (en->coll == NULL ||
            att_dcap_collateral_expiry(stored) > att_dcap_collateral_expiry(en->coll)) {
            drop1 = en->coll;
            en->coll = stored;
            en->fetched_at = stored_at;
            en->fetched_at_known = true;
        } else {
            drop1 = stored;
        }
    }
    if (netted) {
        s->stats.fetches++;
        backoff_settle(s, en, fe, s->clock_ms(s->clock_arg));
        en->attempted = true;
        en->last_attempt = now;
        if (fe == ATT_OK) {
            drop2 = en->coll;
            en->coll = fetched;
            en->fetched_at = now;
            en->fetched_at_known = true;
            en->failed = false;
            en->last_err = ATT_OK;
            if (blob)
                pending_set(en, blob, blen, now); /* written just below */
        } else {
            s->stats.fetch_errors++;
            en->failed = true;
            en->last_err = fe;
            en->last_diag = fd;
        }
    }
    en->fetching = false;
    en->fetch_net = false;
    en->gen++;
    pthread_cond_broadcast(&s->cv);
    att_err_t e;
    if (en->coll == NULL && deny != COLL_GO) { /* the store had nothing, the network was refused */
        e = denied(s, en, deny, deny_ms, now, retry_after, d);
    } else {
        if (en->coll && deny != COLL_GO && !en->failed && needs_refresh(s, en, now))
            s->stats.served_stale++;
        e = answer(s, en, now, out, d);
        if (e != ATT_OK)
            *retry_after = failure_retry(s, en);
    }
    unlock_and_persist(s, en, now);
    att_dcap_collateral_free(drop1);
    att_dcap_collateral_free(drop2);
    if (se != ATT_OK) /* read once per entry: logged once */
        att_log(ATT_LOG_WARN, "the stored collateral for %s is not used: %s", key, sd.msg);
    return e;
}
