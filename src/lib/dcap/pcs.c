/* pcs.c - Intel DCAP collateral from an Intel PCS v4 / PCCS endpoint: the fetcher of keys
 * "dcap/<sgx|tdx>/<fmspc>/<processor|platform>[/<N>]" (N: a pinned TCB evaluation data number)
 * and the fetcher of the TCB evaluation data numbers lists, "tcbeval/<sgx|tdx>", behind
 * attestd's vendor-neutral collateral source (attest/collateral.h). Here: the PCS URLs and headers,
 * the CRL forms a PCS or PCCS serves (made DER), the store's blob format ("ATTCOLL1", unchanged
 * since attestd first stored sets), the offline directory layout, and the checks that a set is
 * signed by a trusted root and is the key's. All GETs of one set share one connection and one
 * deadline, through the library's one HTTP helper (net/http.h). Not here: caching, limits, refresh,
 * logging (upstream text goes to net->warn, never into an error).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <openssl/x509.h>

#include "attest/collateral.h"
#include "attest/tcbeval.h"
#include "core/util.h"
#include "crypto/crypto.h" /* att_crl_parse */
#include "net/http.h"

#define PCS_MAX_BODY   (4u << 20)  /* per HTTP body */
#define PCS_MAX_HEADER (64u << 10) /* per issuer-chain header */
#define PCS_BLOB_MAGIC "ATTCOLL1"
#define PCS_BLOB_ITEMS 7
#define PCS_KEY_LEN    64
#define PCS_URL_LEN    2048
#define PCS_MAX_BASE   1500
#define PCS_MAX_REDIRS 3 /* redirects followed per GET, within its origin */

typedef struct {
    char *base; /* without trailing '/'; NULL: no network source */
    char *root_crl_url;
    char *ca_file;
    const att_trust_t *trust;
} pcs_cfg_t;

static const char *tee_name(att_tee_t tee)
{
    return tee == ATT_TEE_TDX ? "tdx" : "sgx";
}

/* eval 0: the PCS's current baseline; else the TCB evaluation data number pinned. */
static void make_key(char key[PCS_KEY_LEN], att_tee_t tee, const uint8_t fmspc[6], const char *ca,
                     unsigned eval)
{
    char hex[13];
    att_hex_encode(fmspc, 6, hex);
    if (eval == 0)
        snprintf(key, PCS_KEY_LEN, "dcap/%s/%s/%s", tee_name(tee), hex, ca);
    else
        snprintf(key, PCS_KEY_LEN, "dcap/%s/%s/%s/%u", tee_name(tee), hex, ca, eval);
}

ATT_API att_err_t att_dcap_coll_key(att_tee_t tee, const uint8_t fmspc[6], const char *ca,
                                    char *out, size_t n, att_diag_t *d)
{
    if (fmspc == NULL || ca == NULL || out == NULL)
        return att_diag_set(d, ATT_E_ARG, "collsrc: NULL argument");
    if (tee != ATT_TEE_SGX && tee != ATT_TEE_TDX)
        return att_diag_set(d, ATT_E_ARG, "collsrc: unknown TEE type 0x%x", (unsigned)tee);
    if (strcmp(ca, "processor") != 0 && strcmp(ca, "platform") != 0)
        return att_diag_set(d, ATT_E_ARG, "collsrc: CA must be \"processor\" or \"platform\"");
    char key[PCS_KEY_LEN];
    make_key(key, tee, fmspc, ca, 0);
    if ((size_t)snprintf(out, n, "%s", key) >= n)
        return att_diag_set(d, ATT_E_ARG, "collsrc: key buffer too small");
    return ATT_OK;
}

/* A key's parts: "dcap/<sgx|tdx>/<12 lowercase hex>/<processor|platform>", then optionally
 * "/<N>" (a TCB evaluation data number, 1 to 2^30, no leading zero), nothing else. */
static bool key_parse(const char *key, att_tee_t *tee, uint8_t fmspc[6], const char **ca,
                      unsigned *eval)
{
    const char *p = key;
    if (strncmp(p, "dcap/", 5) != 0)
        return false;
    p += 5;
    if (strncmp(p, "sgx/", 4) == 0)
        *tee = ATT_TEE_SGX;
    else if (strncmp(p, "tdx/", 4) == 0)
        *tee = ATT_TEE_TDX;
    else
        return false;
    p += 4;
    for (int i = 0; i < 12; i++)
        if (!isdigit((unsigned char)p[i]) && !(p[i] >= 'a' && p[i] <= 'f'))
            return false;
    if (p[12] != '/' || !att_hex_decode(p, 12, fmspc, 6))
        return false;
    p += 13;
    *eval = 0;
    if (strncmp(p, "processor", 9) == 0) {
        *ca = "processor";
        p += 9;
    } else if (strncmp(p, "platform", 8) == 0) {
        *ca = "platform";
        p += 8;
    } else {
        return false;
    }
    if (*p == '\0')
        return true;
    if (p[0] != '/' || p[1] < '1' || p[1] > '9' || strlen(p + 1) > 10)
        return false;
    unsigned long v = 0;
    for (p++; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v > (unsigned long)ATT_TCBEVAL_NUM_MAX)
        return false;
    *eval = (unsigned)v;
    return true;
}

static att_err_t pcs_check_key(const void *cfg, const char *key, att_diag_t *d)
{
    (void)cfg;
    att_tee_t tee;
    uint8_t fm[6];
    const char *ca;
    unsigned ev;
    if (!key_parse(key, &tee, fm, &ca, &ev))
        return att_diag_set(d, ATT_E_ARG,
                            "collsrc: \"%.100s\" is not a DCAP collateral key "
                            "(dcap/<sgx|tdx>/<fmspc>/<processor|platform>[/<evaluation number>])",
                            key);
    return ATT_OK;
}

/* ---- CRL forms (parsing is the library's att_crl_parse, the project's one CRL parser) ---- */

/* "processor" or "platform" from a PCK CRL's issuer CN. */
static att_err_t crl_ca(att_slice_t crl, const char **ca, att_diag_t *d)
{
    *ca = NULL;
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

/* All GETs of one set: one connection, one deadline. */
typedef struct {
    const pcs_cfg_t *c;
    att_net_conn_t *conn;
    att_coll_net_t *net;
    const char *key;
} pcs_fetch_t;

static void pcs_warn(const pcs_fetch_t *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void pcs_warn(const pcs_fetch_t *f, const char *fmt, ...)
{
    if (f->net->warn == NULL)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    f->net->warn(f->net->warn_arg, line);
}

static bool is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* GET url (`what` names the item in messages); status must be 200. Redirects are followed
 * within url's origin only, at most PCS_MAX_REDIRS. Body (NUL-terminated, malloc'd) into
 * *body; when hdr_names is given, the first of those headers must be present: its URL-decoded
 * value into *hdr_out. The source's text (an error body, a Location elsewhere) is only logged. */
static att_err_t http_get(pcs_fetch_t *f, const char *url, const char *what,
                          const char *const *hdr_names, uint8_t **body, size_t *blen,
                          uint8_t **hdr_out, size_t *hdr_len, att_diag_t *d)
{
    *body = NULL;
    *blen = 0;
    if (hdr_out) {
        *hdr_out = NULL;
        *hdr_len = 0;
    }
    char origin[PCS_URL_LEN];
    if (strlen(url) >= PCS_URL_LEN || !att_net_origin(url, origin, sizeof(origin)))
        return att_diag_set(d, ATT_E_FETCH, "GET %s: not a usable URL", url);
    att_net_req_t rq = {.url = url,
                        .allow_http = strncmp(origin, "https:", 6) != 0,
                        .max_redirects = PCS_MAX_REDIRS,
                        .max_url = PCS_URL_LEN,
                        .deadline_ms = f->net->deadline_ms,
                        .max_body = PCS_MAX_BODY,
                        .capture = hdr_names,
                        .max_header = PCS_MAX_HEADER,
                        .ca_file = f->c->ca_file,
                        .user_agent = "attestd"};
    att_net_resp_t rs;
    att_diag_t in;
    att_diag_clear(&in);
    att_err_t e = att_net_request(f->conn, &rq, &rs, &in);
    f->net->requests += rs.requests;
    const char *cur = rs.url ? rs.url : url;
    if (e != ATT_OK) {
        switch (rs.fail) {
        case ATT_NET_NOT_SENT:
            e = att_diag_set(d, ATT_E_FETCH,
                             "GET %s: not sent: the fetch of collateral for %s "
                             "ran out of its %ld ms deadline (timed out)",
                             cur, f->key, f->net->timeout_ms);
            break;
        case ATT_NET_TOO_LARGE:
            e = att_diag_set(d, ATT_E_FETCH, "GET %s: body exceeds %u bytes", cur, PCS_MAX_BODY);
            break;
        case ATT_NET_TIMEOUT:
            e = att_diag_set(d, ATT_E_FETCH,
                             "GET %s: timed out: the fetch of collateral for %s "
                             "ran past its %ld ms deadline",
                             cur, f->key, f->net->timeout_ms);
            break;
        case ATT_NET_TRANSPORT:
            e = att_diag_set(d, ATT_E_FETCH, "GET %s: %s", cur, rs.error);
            break;
        default:
            if (d)
                *d = in;
            break;
        }
        goto out;
    }
    if (is_redirect(rs.status) && rs.redirect == ATT_NET_REDIR_TOO_MANY) {
        e = att_diag_set(d, ATT_E_FETCH_STATUS,
                         "collateral source answered HTTP %ld for "
                         "%s (GET %s): more than %d redirects",
                         rs.status, what, url, PCS_MAX_REDIRS);
        goto out;
    }
    if (is_redirect(rs.status)) {
        char shown[128];
        const char *loc = rs.location;
        att_net_sanitize((const uint8_t *)(loc ? loc : ""), loc ? strlen(loc) : 0, shown,
                         sizeof(shown));
        pcs_warn(f,
                 "the collateral source redirected GET %s to \"%s\": not "
                 "followed (only redirects within %s are)",
                 cur, shown, origin);
        e = att_diag_set(d, ATT_E_FETCH_STATUS,
                         "collateral source answered HTTP %ld for "
                         "%s (GET %s), a redirect %s: not followed",
                         rs.status, what, cur, loc ? "to another origin" : "without a location");
        goto out;
    }
    if (rs.status != 200) {
        /* The body is the source's business (it may name internal systems): logged, not
         * echoed to whoever sent the quote. */
        char snippet[161];
        att_net_sanitize(rs.body, rs.len, snippet, sizeof(snippet));
        pcs_warn(f, "the collateral source answered HTTP %ld for %s (GET %s)%s%s", rs.status, what,
                 cur, snippet[0] ? "; body: " : "", snippet);
        if (rs.retry_after > 0)
            f->net->retry_after = rs.retry_after;
        e = att_diag_set(d, ATT_E_FETCH_STATUS,
                         "collateral source answered HTTP %ld for %s "
                         "(GET %s)",
                         rs.status, what, cur);
        goto out;
    }
    if (hdr_names) {
        if (rs.header_over) {
            e = att_diag_set(d, ATT_E_FETCH, "GET %s: header %s exceeds %u bytes", cur,
                             hdr_names[0], PCS_MAX_HEADER);
            goto out;
        }
        if (rs.header == NULL) {
            e = att_diag_set(d, ATT_E_COLL_MISSING, "GET %s: the answer has no %s header", cur,
                             hdr_names[0]);
            goto out;
        }
        int n = 0;
        char *dec = curl_easy_unescape(NULL, rs.header, 0, &n);
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
    *body = rs.body;
    *blen = rs.len;
    rs.body = NULL;
out:
    att_net_resp_clear(&rs);
    return e;
}

static void slice_take(att_slice_t *sl, uint8_t *p, size_t n)
{
    sl->ptr = p;
    sl->len = n;
}

/* Fetch the 7 raw items of one key from the PCS, all GETs within the fetch's one deadline.
 * raw is filled with malloc'd slices. */
static att_err_t fetch_raw(const pcs_cfg_t *c, const char *key, att_coll_net_t *net,
                           att_dcap_collateral_raw_t *raw, att_diag_t *d)
{
    static const char *const tcb_hdr[] = {"TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain",
                                          NULL};
    static const char *const qe_hdr[] = {"SGX-Enclave-Identity-Issuer-Chain",
                                         "Enclave-Identity-Issuer-Chain", NULL};
    static const char *const crl_hdr[] = {"SGX-PCK-CRL-Issuer-Chain", NULL};
    memset(raw, 0, sizeof(*raw));
    att_tee_t tee;
    uint8_t fmspc[6];
    const char *ca;
    unsigned ev;
    if (!key_parse(key, &tee, fmspc, &ca, &ev))
        return pcs_check_key(c, key, d);
    pcs_fetch_t f = {.c = c, .net = net, .key = key};
    att_err_t e = att_net_conn_new(&f.conn, d);
    if (e)
        return e;
    char fm[13], url[PCS_URL_LEN], what[128];
    att_hex_encode(fmspc, 6, fm);
    for (char *p = fm; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    const char *t = tee_name(tee);
    uint8_t *b, *ch;
    size_t bl, cl;

    char evq[48] = "";
    if (ev != 0)
        snprintf(evq, sizeof(evq), "tcbEvaluationDataNumber=%u", ev);
    snprintf(url, sizeof(url), "%s/%s/certification/v4/tcb?fmspc=%s%s%s", c->base, t, fm,
             ev ? "&" : "", evq);
    snprintf(what, sizeof(what), "the %s TCB info of FMSPC %s%s%s",
             tee == ATT_TEE_TDX ? "TDX" : "SGX", fm, ev ? " for " : "", evq);
    if ((e = http_get(&f, url, what, tcb_hdr, &b, &bl, &ch, &cl, d)))
        goto out;
    slice_take(&raw->tcb_info, b, bl);
    slice_take(&raw->tcb_info_chain, ch, cl);

    snprintf(url, sizeof(url), "%s/%s/certification/v4/qe/identity%s%s", c->base, t, ev ? "?" : "",
             evq);
    snprintf(what, sizeof(what), "the %s QE identity%s%s", tee == ATT_TEE_TDX ? "TDX" : "SGX",
             ev ? " for " : "", evq);
    if ((e = http_get(&f, url, what, qe_hdr, &b, &bl, &ch, &cl, d)))
        goto out;
    slice_take(&raw->qe_identity, b, bl);
    slice_take(&raw->qe_identity_chain, ch, cl);

    snprintf(url, sizeof(url), "%s/sgx/certification/v4/pckcrl?ca=%s&encoding=der", c->base, ca);
    snprintf(what, sizeof(what), "the PCK CRL of the %s CA", ca);
    if ((e = http_get(&f, url, what, crl_hdr, &b, &bl, &ch, &cl, d)))
        goto out;
    if ((e = crl_normalize(&b, &bl, url, d))) {
        free(b);
        free(ch);
        goto out;
    }
    slice_take(&raw->pck_crl, b, bl);
    slice_take(&raw->pck_crl_chain, ch, cl);

    if ((e = http_get(&f, c->root_crl_url, "the root CA CRL", NULL, &b, &bl, NULL, NULL, d)))
        goto out;
    if ((e = crl_normalize(&b, &bl, c->root_crl_url, d))) {
        free(b);
        goto out;
    }
    slice_take(&raw->root_ca_crl, b, bl);
out:
    att_net_conn_free(f.conn);
    if (e)
        att_dcap_collateral_raw_free(raw);
    return e;
}

/* ---- blob (store format) ----
 * "ATTCOLL1" then, for tcb_info, tcb_info_chain, qe_identity, qe_identity_chain, pck_crl,
 * pck_crl_chain, root_ca_crl in that order: a 4-byte big-endian length and the bytes. */

static att_slice_t *raw_items(att_dcap_collateral_raw_t *r, size_t i)
{
    att_slice_t *items[PCS_BLOB_ITEMS] = {
        &r->tcb_info, &r->tcb_info_chain, &r->qe_identity, &r->qe_identity_chain,
        &r->pck_crl,  &r->pck_crl_chain,  &r->root_ca_crl};
    return items[i];
}

static att_err_t blob_encode(const att_dcap_collateral_raw_t *raw, uint8_t **out, size_t *len,
                             att_diag_t *d)
{
    att_dcap_collateral_raw_t *r = (att_dcap_collateral_raw_t *)raw;
    size_t n = sizeof(PCS_BLOB_MAGIC) - 1;
    for (size_t i = 0; i < PCS_BLOB_ITEMS; i++) {
        if (raw_items(r, i)->len > UINT32_MAX)
            return att_diag_set(d, ATT_E_LIMIT, "collateral item too large to store");
        n += 4 + raw_items(r, i)->len;
    }
    uint8_t *b = malloc(n), *p = b;
    if (b == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    memcpy(p, PCS_BLOB_MAGIC, sizeof(PCS_BLOB_MAGIC) - 1);
    p += sizeof(PCS_BLOB_MAGIC) - 1;
    for (size_t i = 0; i < PCS_BLOB_ITEMS; i++) {
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
    size_t m = sizeof(PCS_BLOB_MAGIC) - 1, off = m;
    if (n < m || memcmp(b, PCS_BLOB_MAGIC, m) != 0)
        return att_diag_set(d, ATT_E_COLL_FORMAT, "stored collateral: bad magic");
    for (size_t i = 0; i < PCS_BLOB_ITEMS; i++) {
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

/* Parse and check raw collateral, and that it is for key when one is given (a key with an
 * evaluation number: its TCB info and QE identity are of that number). key gets the set's key
 * without a number. */
static att_err_t make_coll(const pcs_cfg_t *c, const att_dcap_collateral_raw_t *raw,
                           const char *what, const char *want, att_dcap_collateral_t **out,
                           char key[PCS_KEY_LEN], att_diag_t *d)
{
    att_diag_t d2;
    att_dcap_collateral_t *col = NULL;
    att_err_t e = att_dcap_collateral_new(raw, c->trust, &col, &d2);
    if (e)
        return att_diag_set(d, e, "%s: %s", what, d2.msg);
    const char *ca = NULL;
    if ((e = crl_ca(raw->pck_crl, &ca, &d2))) {
        att_dcap_collateral_free(col);
        return att_diag_set(d, e, "%s: %s", what, d2.msg);
    }
    uint8_t fm[6];
    att_dcap_collateral_fmspc(col, fm);
    unsigned ev = 0;
    if (want != NULL) {
        att_tee_t wt;
        uint8_t wf[6];
        const char *wca;
        if (key_parse(want, &wt, wf, &wca, &ev) && ev != 0 &&
            (att_dcap_collateral_tcb_eval(col) != ev || att_dcap_collateral_qe_eval(col) != ev)) {
            unsigned got_t = att_dcap_collateral_tcb_eval(col),
                     got_q = att_dcap_collateral_qe_eval(col);
            att_dcap_collateral_free(col);
            return att_diag_set(d, ATT_E_COLL_FORMAT,
                                "%s: the TCB info (tcbEvaluationDataNumber %u) and QE identity "
                                "(%u) are not both of evaluation data number %u, which %s asks for",
                                what, got_t, got_q, ev, want);
        }
    }
    make_key(key, att_dcap_collateral_tee(col), fm, ca, ev);
    if (want && strcmp(key, want) != 0) {
        att_dcap_collateral_free(col);
        return att_diag_set(d, ATT_E_COLL_FORMAT, "%s: collateral is for %s, not %s", what, key,
                            want);
    }
    *out = col;
    return ATT_OK;
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

static att_err_t offline_load_set(const pcs_cfg_t *c, const char *dir, att_coll_found_fn found,
                                  void *arg, att_diag_t *d)
{
    att_dcap_collateral_raw_t raw;
    att_diag_t d2;
    att_err_t e = att_dcap_collateral_raw_load_dir(dir, &raw, &d2);
    if (e)
        return att_diag_set(d, e, "offline collateral %s: %s", dir, d2.msg);
    char what[4200], key[PCS_KEY_LEN];
    snprintf(what, sizeof(what), "offline collateral %s", dir);
    att_dcap_collateral_t *col;
    e = make_coll(c, &raw, what, NULL, &col, key, d);
    att_dcap_collateral_raw_free(&raw);
    if (e)
        return e;
    /* Also under its evaluation data number, for a baseline pinned to it. */
    unsigned ev = att_dcap_collateral_tcb_eval(col);
    if (ev != 0 && ev == att_dcap_collateral_qe_eval(col)) {
        char pinned[PCS_KEY_LEN + 16];
        snprintf(pinned, sizeof(pinned), "%s/%u", key, ev);
        if ((e = found(arg, pinned, att_dcap_collateral_ref(col), att_dcap_collateral_expiry(col),
                       d)) != ATT_OK) {
            att_dcap_collateral_free(col);
            return e;
        }
    }
    return found(arg, key, col, att_dcap_collateral_expiry(col), d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static att_err_t pcs_offline(const void *cfg, const char *dir, att_time_t now,
                             att_coll_found_fn found, void *arg, att_diag_t *d)
{
    const pcs_cfg_t *c = cfg;
    (void)now;
    if (has_tcb_info(dir))
        return offline_load_set(c, dir, found, arg, d);
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
        e = offline_load_set(c, names[i], found, arg, d);
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(dh);
    return e;
}

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

/* ---- the fetcher table ---- */

static bool pcs_online(const void *cfg)
{
    return ((const pcs_cfg_t *)cfg)->base != NULL;
}

static att_err_t pcs_fetch(const void *cfg, const char *key, att_coll_net_t *net, uint8_t **blob,
                           size_t *len, att_diag_t *d)
{
    const pcs_cfg_t *c = cfg;
    *blob = NULL;
    *len = 0;
    if (c->base == NULL)
        return att_diag_set(d, ATT_E_COLL_MISSING, "no collateral for %s (no PCS URL)", key);
    att_dcap_collateral_raw_t raw;
    att_err_t e = fetch_raw(c, key, net, &raw, d);
    if (e)
        return e;
    e = blob_encode(&raw, blob, len, d);
    att_dcap_collateral_raw_free(&raw);
    return e;
}

static att_err_t pcs_load(const void *cfg, const char *key, const uint8_t *blob, size_t len,
                          att_time_t now, const char *what, void **obj, att_time_t *next_update,
                          att_diag_t *d)
{
    const pcs_cfg_t *c = cfg;
    (void)now;
    *obj = NULL;
    char from[PCS_MAX_BASE + 64], got[PCS_KEY_LEN];
    if (what == NULL) {
        snprintf(from, sizeof(from), "collateral from %s", c->base ? c->base : "the PCS");
        what = from;
    }
    att_dcap_collateral_raw_t raw;
    att_dcap_collateral_t *col = NULL;
    att_err_t e = blob_decode(blob, len, &raw, d);
    if (e)
        return e;
    e = make_coll(c, &raw, what, key, &col, got, d);
    att_dcap_collateral_raw_free(&raw);
    if (e)
        return e;
    *obj = col;
    *next_update = att_dcap_collateral_expiry(col);
    return ATT_OK;
}

static void *pcs_retain(void *obj)
{
    return att_dcap_collateral_ref(obj);
}

static void pcs_release(void *obj)
{
    att_dcap_collateral_free(obj);
}

static void pcs_cfg_free(void *cfg)
{
    pcs_cfg_t *c = cfg;
    if (c == NULL)
        return;
    free(c->base);
    free(c->root_crl_url);
    free(c->ca_file);
    free(c);
}

ATT_API const att_coll_fetcher_t att_dcap_pcs_fetcher = {
    .prefix = "dcap",
    .url_name = "PCS URL",
    .check_key = pcs_check_key,
    .online = pcs_online,
    .fetch = pcs_fetch,
    .load = pcs_load,
    .retain = pcs_retain,
    .release = pcs_release,
    .offline = pcs_offline,
    .cfg_free = pcs_cfg_free,
};

ATT_API att_err_t att_dcap_pcs_new(const att_dcap_pcs_opts_t *o, void **out, att_diag_t *d)
{
    if (o == NULL || out == NULL || o->trust == NULL)
        return att_diag_set(d, ATT_E_ARG, "collsrc: NULL argument");
    *out = NULL;
    pcs_cfg_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    c->trust = o->trust;
    att_err_t e = ATT_OK;
    if (o->ca_file != NULL && (c->ca_file = strdup(o->ca_file)) == NULL) {
        e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
        goto fail;
    }
    if (o->base_url) {
        if ((e = att_net_base_url(o->base_url, PCS_MAX_BASE, "collsrc: PCS URL", &c->base, d)) !=
            ATT_OK)
            goto fail;
        c->root_crl_url =
            o->root_ca_crl_url ? strdup(o->root_ca_crl_url) : derive_root_crl_url(c->base);
        if (c->root_crl_url == NULL) {
            e = att_diag_set(d, ATT_E_NOMEM, "out of memory");
            goto fail;
        }
        if (strlen(c->root_crl_url) >= PCS_URL_LEN) {
            e = att_diag_set(d, ATT_E_ARG, "collsrc: root CA CRL URL too long");
            goto fail;
        }
    }
    *out = c;
    return ATT_OK;
fail:
    pcs_cfg_free(c);
    return e;
}

/* ---- TCB evaluation data numbers: keys "tcbeval/<sgx|tdx>" ----
 * The same configuration as the PCS fetcher (base URL, trust, TLS CA file). Blob: "ATTTEVL1",
 * then the document and its issuer chain, each a 4-byte big-endian length and the bytes. An
 * offline directory holds tcb_eval_numbers.json and tcb_eval_numbers_issuer_chain.pem, in it or in
 * any subdirectory (the key comes from the document's id). Objects are att_dcap_tcbeval_t *. */

#define TEV_BLOB_MAGIC "ATTTEVL1"

static bool tev_key_parse(const char *key, att_tee_t *tee)
{
    if (strcmp(key, "tcbeval/sgx") == 0)
        *tee = ATT_TEE_SGX;
    else if (strcmp(key, "tcbeval/tdx") == 0)
        *tee = ATT_TEE_TDX;
    else
        return false;
    return true;
}

static att_err_t tev_check_key(const void *cfg, const char *key, att_diag_t *d)
{
    (void)cfg;
    att_tee_t tee;
    if (!tev_key_parse(key, &tee))
        return att_diag_set(d, ATT_E_ARG,
                            "collsrc: \"%.100s\" is not a TCB evaluation data numbers key "
                            "(tcbeval/sgx or tcbeval/tdx)",
                            key);
    return ATT_OK;
}

static att_err_t tev_blob(const uint8_t *doc, size_t dl, const uint8_t *ch, size_t cl,
                          uint8_t **blob, size_t *len, att_diag_t *d)
{
    size_t m = sizeof(TEV_BLOB_MAGIC) - 1;
    if (dl > UINT32_MAX || cl > UINT32_MAX)
        return att_diag_set(d, ATT_E_LIMIT, "collateral item too large to store");
    uint8_t *b = malloc(m + 8 + dl + cl), *p = b;
    if (b == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    memcpy(p, TEV_BLOB_MAGIC, m);
    p += m;
    const uint8_t *items[2] = {doc, ch};
    size_t lens[2] = {dl, cl};
    for (int i = 0; i < 2; i++) {
        uint32_t l = (uint32_t)lens[i];
        p[0] = (uint8_t)(l >> 24);
        p[1] = (uint8_t)(l >> 16);
        p[2] = (uint8_t)(l >> 8);
        p[3] = (uint8_t)l;
        p += 4;
        if (l)
            memcpy(p, items[i], l);
        p += l;
    }
    *blob = b;
    *len = (size_t)(p - b);
    return ATT_OK;
}

static att_err_t tev_fetch(const void *cfg, const char *key, att_coll_net_t *net, uint8_t **blob,
                           size_t *len, att_diag_t *d)
{
    static const char *const hdr[] = {"TCB-Evaluation-Data-Numbers-Issuer-Chain", NULL};
    const pcs_cfg_t *c = cfg;
    *blob = NULL;
    *len = 0;
    att_tee_t tee;
    if (!tev_key_parse(key, &tee))
        return tev_check_key(cfg, key, d);
    if (c->base == NULL)
        return att_diag_set(d, ATT_E_COLL_MISSING, "no collateral for %s (no PCS URL)", key);
    pcs_fetch_t f = {.c = c, .net = net, .key = key};
    att_err_t e = att_net_conn_new(&f.conn, d);
    if (e)
        return e;
    char url[PCS_URL_LEN], what[64];
    snprintf(url, sizeof(url), "%s/%s/certification/v4/tcbevaluationdatanumbers", c->base,
             tee_name(tee));
    snprintf(what, sizeof(what), "the %s TCB evaluation data numbers",
             tee == ATT_TEE_TDX ? "TDX" : "SGX");
    uint8_t *b = NULL, *ch = NULL;
    size_t bl = 0, cl = 0;
    if ((e = http_get(&f, url, what, hdr, &b, &bl, &ch, &cl, d)) == ATT_OK)
        e = tev_blob(b, bl, ch, cl, blob, len, d);
    free(b);
    free(ch);
    att_net_conn_free(f.conn);
    return e;
}

static att_err_t tev_make(const pcs_cfg_t *c, const uint8_t *doc, size_t dl, const uint8_t *ch,
                          size_t cl, const char *what, const char *want, att_dcap_tcbeval_t **out,
                          char key[PCS_KEY_LEN], att_diag_t *d)
{
    att_diag_t d2;
    att_dcap_tcbeval_t *ev = NULL;
    att_err_t e = att_dcap_tcbeval_new(doc, dl, ch, cl, c->trust, &ev, &d2);
    if (e)
        return att_diag_set(d, e, "%s: %s", what, d2.msg);
    snprintf(key, PCS_KEY_LEN, "tcbeval/%s", tee_name(ev->tee));
    if (want != NULL && strcmp(key, want) != 0) {
        att_dcap_tcbeval_free(ev);
        return att_diag_set(d, ATT_E_COLL_FORMAT, "%s: the list is for %s, not %s", what, key,
                            want);
    }
    *out = ev;
    return ATT_OK;
}

static att_err_t tev_load(const void *cfg, const char *key, const uint8_t *blob, size_t len,
                          att_time_t now, const char *what, void **obj, att_time_t *next_update,
                          att_diag_t *d)
{
    const pcs_cfg_t *c = cfg;
    (void)now;
    *obj = NULL;
    char from[PCS_MAX_BASE + 64], got[PCS_KEY_LEN];
    if (what == NULL) {
        snprintf(from, sizeof(from), "TCB evaluation data numbers from %s",
                 c->base ? c->base : "the PCS");
        what = from;
    }
    size_t m = sizeof(TEV_BLOB_MAGIC) - 1, off = m;
    const uint8_t *items[2];
    size_t lens[2];
    if (len < m || memcmp(blob, TEV_BLOB_MAGIC, m) != 0)
        return att_diag_set(d, ATT_E_COLL_FORMAT, "stored TCB evaluation data numbers: bad magic");
    for (int i = 0; i < 2; i++) {
        if (len - off < 4)
            return att_diag_set(d, ATT_E_COLL_FORMAT,
                                "stored TCB evaluation data numbers: truncated");
        size_t l = (size_t)blob[off] << 24 | (size_t)blob[off + 1] << 16 |
                   (size_t)blob[off + 2] << 8 | blob[off + 3];
        off += 4;
        if (len - off < l)
            return att_diag_set(d, ATT_E_COLL_FORMAT,
                                "stored TCB evaluation data numbers: truncated");
        items[i] = blob + off;
        lens[i] = l;
        off += l;
    }
    if (off != len)
        return att_diag_set(d, ATT_E_COLL_FORMAT,
                            "stored TCB evaluation data numbers: %zu trailing bytes", len - off);
    att_dcap_tcbeval_t *ev = NULL;
    att_err_t e = tev_make(c, items[0], lens[0], items[1], lens[1], what, key, &ev, got, d);
    if (e)
        return e;
    *obj = ev;
    *next_update = att_dcap_tcbeval_expiry(ev);
    return ATT_OK;
}

static att_err_t tev_offline_one(const pcs_cfg_t *c, const char *dir, att_coll_found_fn found,
                                 void *arg, bool *any, att_diag_t *d)
{
    char p[4096], q[4096];
    struct stat st;
    if ((size_t)snprintf(p, sizeof(p), "%s/tcb_eval_numbers.json", dir) >= sizeof(p) ||
        (size_t)snprintf(q, sizeof(q), "%s/tcb_eval_numbers_issuer_chain.pem", dir) >= sizeof(q) ||
        stat(p, &st) != 0 || !S_ISREG(st.st_mode))
        return ATT_OK;
    uint8_t *doc = NULL, *ch = NULL;
    size_t dl = 0, cl = 0;
    att_err_t e;
    if ((e = att_read_file(p, ATT_TCBEVAL_MAX_BYTES, &doc, &dl, d)) != ATT_OK ||
        (e = att_read_file(q, PCS_MAX_HEADER, &ch, &cl, d)) != ATT_OK) {
        free(doc);
        return e;
    }
    char what[4200], key[PCS_KEY_LEN];
    snprintf(what, sizeof(what), "offline TCB evaluation data numbers %s", p);
    att_dcap_tcbeval_t *ev = NULL;
    e = tev_make(c, doc, dl, ch, cl, what, NULL, &ev, key, d);
    free(doc);
    free(ch);
    if (e)
        return e;
    *any = true;
    return found(arg, key, ev, att_dcap_tcbeval_expiry(ev), d);
}

static att_err_t tev_offline(const void *cfg, const char *dir, att_time_t now,
                             att_coll_found_fn found, void *arg, att_diag_t *d)
{
    const pcs_cfg_t *c = cfg;
    (void)now;
    bool any = false;
    att_err_t e = tev_offline_one(c, dir, found, arg, &any, d);
    DIR *dh = e == ATT_OK ? opendir(dir) : NULL;
    if (e == ATT_OK && dh == NULL)
        return att_diag_set(d, ATT_E_IO, "offline collateral directory %s cannot be opened", dir);
    struct dirent *de;
    while (e == ATT_OK && (de = readdir(dh)) != NULL) {
        char sub[4096];
        if (de->d_name[0] == '.' ||
            (size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= sizeof(sub))
            continue;
        e = tev_offline_one(c, sub, found, arg, &any, d);
    }
    if (dh != NULL)
        closedir(dh);
    if (e == ATT_OK && !any)
        e = att_diag_set(d, ATT_E_COLL_MISSING,
                         "offline collateral directory %s holds no TCB evaluation data numbers",
                         dir);
    return e;
}

static void *tev_retain(void *obj)
{
    return att_dcap_tcbeval_ref(obj);
}

static void tev_release(void *obj)
{
    att_dcap_tcbeval_free(obj);
}

ATT_API const att_coll_fetcher_t att_dcap_tcbeval_fetcher = {
    .prefix = "tcbeval",
    .url_name = "PCS URL",
    .check_key = tev_check_key,
    .online = pcs_online,
    .fetch = tev_fetch,
    .load = tev_load,
    .retain = tev_retain,
    .release = tev_release,
    .offline = tev_offline,
    .cfg_free = pcs_cfg_free,
};
