/* client_int.h - internals of the client module (not installed): HTTP over libcurl, the provider
 * hook table, and test hooks (fetch for OAuth2, file-system operations for configfs-tsm).
 */
#ifndef ATT_CLIENT_INT_H
#define ATT_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/client.h"

/* ---- HTTP ------------------------------------------------------------------------------ */

#define ATT_CLIENT_MAX_BODY   (4u << 20)
#define ATT_CLIENT_MAX_REDIRS 3 /* same-origin redirects a GET may follow */

/* Which redirects a request follows (issue 18.B5). Never a redirect to another origin. */
typedef enum {
    ATT_CLIENT_REDIRECT_NONE = 0, /* none: a 3xx answer comes back as it is */
    /* GET only: up to ATT_CLIENT_MAX_REDIRS redirects whose target has the request URL's
     * origin (scheme, host and port, as libcurl's URL parser reads them; so never https to
     * http); any other comes back as it is */
    ATT_CLIENT_REDIRECT_SAME_ORIGIN,
} att_client_redirect_t;

typedef struct {
    const char *method; /* "GET", "POST" or "PUT" */
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const char *body;           /* POST body */
    size_t body_len;
    const char *basic_user, *basic_pass; /* HTTP Basic, both already form-encoded */
    long timeout_ms;                     /* for the request and the redirects it follows */
    att_client_redirect_t redirects;     /* 0: none followed */
} att_client_req_t;

typedef struct {
    long status;
    char *body; /* malloc'd, NUL-terminated */
    size_t len;
    char *error_code_hdr; /* x-ms-error-code, if any */
    /* a 3xx answer with a Location that was not followed: the URL it leads to (resolved
     * against the request's, malloc'd) and why it was not followed (static text) */
    char *location;
    const char *redirect_refused;
} att_client_resp_t;

/* One request: http/https only, TLS verification on, body at most ATT_CLIENT_MAX_BODY; libcurl
 * follows no redirect itself: rq->redirects says which are followed here, each target checked
 * before anything is sent to it. ATT_E_FETCH ("POST <url>: <curl error>") when no full answer
 * came; any HTTP status is ATT_OK with rs->status set (a redirect not followed also with
 * rs->location and rs->redirect_refused). */
att_err_t att_client_http(const att_client_req_t *rq, att_client_resp_t *rs, att_diag_t *diag);
/* ATT_E_FETCH_STATUS "<what> <METHOD> <url>: HTTP 302, a redirect to '<location>': not followed
 * (<why>)" when rs is a redirect att_client_http did not follow, else ATT_OK. */
att_err_t att_client_redirect_error(const char *what, const att_client_req_t *rq,
                                    const att_client_resp_t *rs, att_diag_t *diag);
/* Whether two absolute http(s) URLs have the same origin (scheme, host, port; default ports
 * filled in, case ignored), by libcurl's URL parser; false if either is not one. */
bool att_client_same_origin(const char *a, const char *b);
void att_client_resp_clear(att_client_resp_t *rs);
/* application/x-www-form-urlencoded value (RFC 6749 appendix B); malloc'd. */
char *att_form_encode(const char *s);

typedef att_err_t (*att_client_fetch_fn)(void *arg, const att_client_req_t *rq,
                                         att_client_resp_t *rs, att_diag_t *diag);
/* Tests: route the context's HTTP requests through fn (NULL restores libcurl). */
void att_oauth_set_fetch(att_oauth_t *o, att_client_fetch_fn fn, void *arg);

/* ---- providers -------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    att_err_t (*open)(const att_provider_opts_t *o, void **state, att_diag_t *diag);
    att_err_t (*collect)(void *state, const uint8_t rd[64], att_evidence_t *out, att_diag_t *diag);
    void (*close)(void *state);
} att_provider_ops_t;

extern const att_provider_ops_t att_provider_sim, att_provider_tsm, att_provider_gramine,
    att_provider_sev_guest, att_provider_tpm;

/* File-system operations of the tsm, gramine and sev-guest providers; tests replace them to
 * emulate configfs (mkdir populating attributes, generation counting writes) and devices. */
typedef struct {
    int (*mkdir)(void *arg, const char *path); /* 0 or -1 with errno */
    int (*rmdir)(void *arg, const char *path);
    int (*write)(void *arg, const char *path, const uint8_t *buf, size_t len);
    /* read at most max bytes; *out malloc'd and NUL-terminated */
    int (*read)(void *arg, const char *path, size_t max, uint8_t **out, size_t *len);
    void *arg;
    /* open path read-write, ioctl(req, data), close; 0 or -1 with errno (NULL: POSIX) */
    int (*ioctl)(void *arg, const char *path, unsigned long req, void *data);
} att_fs_ops_t;

extern const att_fs_ops_t att_fs_posix;
/* Tests: the operations every tsm/gramine provider opened afterwards uses (NULL: POSIX). */
void att_client_set_fs(const att_fs_ops_t *fs);
const att_fs_ops_t *att_client_fs(void);

/* Classify a DCAP quote: "SgxEnclave" or "TdxVm", else ATT_E_EVIDENCE_FORMAT. */
att_err_t att_quote_endpoint(const uint8_t *q, size_t len, const char **type, att_diag_t *diag);

#endif
