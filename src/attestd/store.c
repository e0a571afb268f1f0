/* store.c - the backend-neutral part of the store: store URLs (parse, open, redact), the
 * logical schema version every backend implements, and the functions that free what the list
 * operations return.
 *
 * A backend (store_sqlite.c, store_pg.c) fills att_store_ops_t and hands out
 * lists built from malloc'd strings, so one pair of free functions serves all of them.
 */
#include "store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

/* The logical schema: version N means "the tables and columns of docs/store.md, migration N".
 * Every backend keeps its own numbered migrations with the same numbering, and refuses a
 * database whose version is higher than this. Bump it together with every backend. */
#define ATT_STORE_SCHEMA_VERSION 4

int att_store_schema_version(void)
{
    return ATT_STORE_SCHEMA_VERSION;
}

static void free_secret_str(char *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

void att_store_keys_free(att_store_key_t *keys, size_t n)
{
    if (keys == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(keys[i].kid);
        free(keys[i].alg);
        free_secret_str(keys[i].key_pem); /* private key material: zeroed before release */
        free(keys[i].cert_pem);
    }
    free(keys);
}

void att_store_signers_free(att_store_signer_t *s, size_t n)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(s[i].thumbprint);
        free(s[i].cert_pem);
    }
    free(s);
}

/* ---- store URLs ------------------------------------------------------------------------------
 * sqlite:DIR names the SQLite store in DIR. DIR is taken verbatim (no percent-decoding, no
 * query), so `"sqlite:" + --data-dir` names exactly that directory. The one exception is an
 * authority: "sqlite://HOST..." would silently mean the path //HOST (that is /HOST), which is
 * never what its writer meant, so it is refused; "sqlite:///ABS" (empty authority, the file-URL
 * habit) is the absolute path /ABS. att_store_url_for_dir writes a DIR that itself starts with
 * "//" as "sqlite://" + DIR so that it parses back unchanged. */

#define SQLITE_SCHEME "sqlite:"
#define ACCEPTED                                                                                   \
    "accepted: sqlite:DIR (SQLite in the directory DIR, e.g. sqlite:/var/lib/attestd); "           \
    "postgresql://... or postgres://... (PostgreSQL, a libpq connection URI)"

/* Bounded writer for att_store_url_redacted: keeps room for "..." and marks a cut. */
typedef struct {
    char *buf;
    size_t n, len;
    bool cut;
} red_t;

static void red_put(red_t *w, const char *s, size_t k)
{
    for (size_t i = 0; i < k && !w->cut; i++) {
        if (w->len + 1 >= w->n) {
            w->cut = true;
            break;
        }
        w->buf[w->len++] = s[i];
    }
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copy s[0..k) masking the value of each `password=` key (also `sslpassword=`: any key whose
 * name ends in "password"; blanks around '=' as a key=value connection string allows). A value
 * ends at '&', ';', '#' or a blank, or is 'quoted' (\' escapes a quote inside). */
static void red_params(red_t *w, const char *s, size_t k)
{
    static const char key[] = "password";
    const size_t kl = sizeof(key) - 1;
    size_t i = 0;
    while (i < k) {
        bool is_key = k - i >= kl && strncasecmp(s + i, key, kl) == 0;
        size_t j = i + kl;
        while (is_key && j < k && is_blank(s[j]))
            j++;
        if (is_key && j < k && s[j] == '=') {
            for (j++; j < k && is_blank(s[j]); j++)
                ;
            red_put(w, s + i, j - i); /* the key, '=' and blanks */
            size_t v = j;
            if (j < k && s[j] == '\'') {
                for (j++; j < k && s[j] != '\''; j++)
                    if (s[j] == '\\' && j + 1 < k)
                        j++;
                if (j < k)
                    j++;
            } else {
                while (j < k && s[j] != '&' && s[j] != ';' && s[j] != '#' && !is_blank(s[j]))
                    j++;
            }
            if (j > v)
                red_put(w, "***", 3);
            i = j;
            continue;
        }
        red_put(w, s + i, 1);
        i++;
    }
}

const char *att_store_url_redacted(const char *url, char *buf, size_t n)
{
    if (buf == NULL || n == 0)
        return "";
    red_t w = {.buf = buf, .n = n};
    if (url == NULL) {
        red_put(&w, "(none)", 6);
    } else {
        /* User information as libpq reads it: after "://", up to an '@' before the first '/'
         * (libpq takes the first '@'; the last one is taken here, so that a password holding
         * an unencoded '@' is masked whole). Its password is after the first ':'. */
        size_t len = strlen(url), at = len, colon = len;
        const char *sep = strstr(url, "://");
        if (sep != NULL) {
            size_t a = (size_t)(sep - url) + 3, b = a;
            while (b < len && url[b] != '/')
                b++;
            for (size_t i = a; i < b; i++)
                if (url[i] == '@')
                    at = i;
            for (size_t i = a; at < len && i < at && colon == len; i++)
                if (url[i] == ':')
                    colon = i;
        }
        if (colon < at && at < len) {
            red_put(&w, url, colon + 1);
            red_put(&w, "***", 3);
            red_params(&w, url + at, len - at);
        } else {
            red_params(&w, url, len);
        }
    }
    buf[w.len] = '\0';
    if (w.cut) { /* only ever drops text, so nothing masked can show */
        size_t keep = n > 4 ? n - 4 : 0;
        if (w.len > keep)
            w.len = keep;
        snprintf(buf + w.len, n - w.len, "%s", "...");
    }
    return buf;
}

/* RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) before the first ':'. */
static size_t scheme_len(const char *url)
{
    if (!isalpha((unsigned char)url[0]))
        return 0;
    size_t i = 1;
    while (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.')
        i++;
    return url[i] == ':' ? i : 0;
}

att_err_t att_store_url_parse(const char *url, att_store_url_t *u, att_diag_t *d)
{
    if (u == NULL)
        return att_diag_set(d, ATT_E_ARG, "store URL: no result to fill");
    memset(u, 0, sizeof(*u));
    if (url == NULL || *url == '\0')
        return att_diag_set(d, ATT_E_ARG, "store URL: none given; " ACCEPTED);
    char red[256];
    att_store_url_redacted(url, red, sizeof(red));
    size_t sl = scheme_len(url);
    if (sl == 0)
        return att_diag_set(d, ATT_E_ARG,
                            "store URL '%s' has no scheme: for a SQLite store in that directory "
                            "write sqlite:%s; " ACCEPTED,
                            red, red);
    if (sl == sizeof(SQLITE_SCHEME) - 2 && strncasecmp(url, SQLITE_SCHEME, sl + 1) == 0) {
        const char *dir = url + sl + 1;
        if (strcmp(dir, "//") == 0) { /* "sqlite://": no authority, no path */
            dir += 2;
        } else if (dir[0] == '/' && dir[1] == '/') {
            if (dir[2] != '/')
                return att_diag_set(d, ATT_E_ARG,
                                    "store URL '%s' names a host: the SQLite store is a local "
                                    "directory; write sqlite:DIR (relative or absolute) or "
                                    "sqlite:///ABSOLUTE/DIR",
                                    red);
            dir += 2;
        }
        if (*dir == '\0')
            return att_diag_set(d, ATT_E_ARG,
                                "store URL '%s' names no directory: write sqlite:DIR, e.g. "
                                "sqlite:/var/lib/attestd",
                                red);
        u->backend = ATT_STORE_URL_SQLITE;
        u->sqlite_dir = dir;
        return ATT_OK;
    }
    if ((sl == 10 && strncasecmp(url, "postgresql", sl) == 0) ||
        (sl == 8 && strncasecmp(url, "postgres", sl) == 0)) {
        u->backend = ATT_STORE_URL_POSTGRES;
        return ATT_OK;
    }
    return att_diag_set(d, ATT_E_ARG, "store URL '%s': unknown scheme '%.*s'; " ACCEPTED, red,
                        (int)(sl < 32 ? sl : 32), url);
}

char *att_store_url_for_dir(const char *dir)
{
    if (dir == NULL)
        return NULL;
    bool slashes = dir[0] == '/' && dir[1] == '/';
    const char *prefix = slashes ? SQLITE_SCHEME "//" : SQLITE_SCHEME;
    size_t n = strlen(prefix) + strlen(dir) + 1;
    char *url = malloc(n);
    if (url != NULL)
        snprintf(url, n, "%s%s", prefix, dir);
    return url;
}

att_err_t att_store_open(const char *url, att_store_t **out, att_diag_t *d)
{
    if (out == NULL)
        return att_diag_set(d, ATT_E_ARG, "store open: out is required");
    *out = NULL;
    att_store_url_t u;
    att_err_t e = att_store_url_parse(url, &u, d);
    if (e != ATT_OK)
        return e;
    switch (u.backend) {
    case ATT_STORE_URL_SQLITE:
        return att_store_open_sqlite(u.sqlite_dir, out, d);
    case ATT_STORE_URL_POSTGRES:
        return att_store_open_pg(url, out, d); /* libpq takes the URL as it is */
    }
    return att_diag_set(d, ATT_E_INTERNAL, "store open: backend %d unhandled", (int)u.backend);
}
