/* store.h - attestd's persistent store, as an interface (SQLite, PostgreSQL).
 *
 *   att_store_t *st;
 *   att_store_open("sqlite:var", &st, &d);           // var/attestd.db, WAL, migrated
 *   att_store_policy_put(st, "SgxEnclave", jws, &d); // durable when it returns ATT_OK
 *   char *jws; att_store_policy_get(st, "SgxEnclave", &jws, &d);  // ATT_E_STORE_NOT_FOUND: default
 *   att_store_close(st);
 *
 * A store is named by a URL (docs/store.md): `sqlite:DIR`, or `postgresql://...` (libpq). A URL may
 * carry a password: print it only through att_store_url_redacted. Handlers call only the
 * att_store_* functions below; a backend fills att_store_ops_t and must pass
 * tests/unit/attestd/test_store_contract.c. Every write is committed before it returns (an
 * acknowledged write is never lost). Safe to call from many threads. Not checked here: the meaning
 * of what is stored (policies are not parsed, keys not validated); the caller does that.
 */
#ifndef ATTESTD_STORE_H
#define ATTESTD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "attest/types.h"

typedef struct {
    char *kid;
    char *alg;                /* "RS256", "PS256", "ES256" */
    char *key_pem;            /* PKCS#8 private key */
    char *cert_pem;           /* self-signed certificate */
    att_time_t created;       /* published in /certs from then on */
    att_time_t retired;       /* 0 while active; else when it stops (stopped) signing */
    att_time_t publish_until; /* 0 while active; else kept in /certs until then */
    att_time_t sign_from;     /* signs from then on (created + the publish lead); 0: at once */
} att_store_key_t;

typedef struct {
    char *thumbprint; /* lowercase hex SHA-1 of the DER */
    char *cert_pem;
} att_store_signer_t;

typedef struct att_store att_store_t;

/* A store's news of a change another writer (another replica) made: `what` is "policy TYPE",
 * "signers" or "keys"; NULL means anything may have changed (after a reconnect, and now and
 * then as a safety net): re-read everything. Called on the store's own thread. Returns false
 * when the store could not be read (the change is not in force yet): the watcher then re-reads
 * everything again a second later instead of waiting for its periodic re-read. */
typedef bool (*att_store_watch_fn)(void *arg, const char *what);

typedef struct {
    const char *name; /* "sqlite" */
    void (*close)(att_store_t *st);
    att_err_t (*key_put)(att_store_t *st, const att_store_key_t *k, att_diag_t *d);
    att_err_t (*key_list)(att_store_t *st, att_store_key_t **keys, size_t *n, att_diag_t *d);
    att_err_t (*key_retire)(att_store_t *st, const char *kid, att_time_t retired,
                            att_time_t publish_until, att_diag_t *d);
    /* Optional (NULL: keys stay as they were put): replace a key's key_pem (keys.c re-sealing
     * it under a key-encryption key). */
    att_err_t (*key_reseal)(att_store_t *st, const char *kid, const char *old_pem,
                            const char *new_pem, att_diag_t *d);
    att_err_t (*policy_get)(att_store_t *st, const char *type, char **jws, att_diag_t *d);
    att_err_t (*policy_put)(att_store_t *st, const char *type, const char *jws, att_diag_t *d);
    att_err_t (*policy_delete)(att_store_t *st, const char *type, att_diag_t *d);
    att_err_t (*signer_list)(att_store_t *st, att_store_signer_t **s, size_t *n, att_diag_t *d);
    att_err_t (*signer_add)(att_store_t *st, const att_store_signer_t *s, att_diag_t *d);
    att_err_t (*signer_remove)(att_store_t *st, const char *thumbprint, att_diag_t *d);
    att_err_t (*coll_get)(att_store_t *st, const char *key, uint8_t **blob, size_t *len,
                          att_time_t *fetched_at, att_diag_t *d);
    att_err_t (*coll_put)(att_store_t *st, const char *key, const uint8_t *blob, size_t len,
                          att_time_t fetched_at, att_diag_t *d);
    att_err_t (*request_use)(att_store_t *st, const char *hash, const char *used_for, att_time_t at,
                             char **prev, att_time_t *prev_at, att_diag_t *d);
    att_err_t (*secret)(att_store_t *st, const char *name, const uint8_t *fresh, size_t len,
                        att_time_t now, uint8_t **out, size_t *outlen, att_diag_t *d);
    att_err_t (*token_spend)(att_store_t *st, const char *hash, att_time_t expires, att_time_t now,
                             bool *first, att_diag_t *d);
    /* Optional (NULL: one process per store, e.g. SQLite): the cluster's collateral fetch lease
     * and the news of collateral stored by other processes (att_store_coll_lease below). */
    att_err_t (*coll_lease)(att_store_t *st, const char *key, const char *owner, int64_t now_ms,
                            int64_t until_ms, bool *mine, int64_t *held_until_ms, att_diag_t *d);
    att_err_t (*coll_lease_end)(att_store_t *st, const char *key, const char *owner, att_diag_t *d);
    uint64_t (*coll_news)(att_store_t *st);
    bool (*coll_wait)(att_store_t *st, uint64_t seen, long timeout_ms);
    /* Optional (NULL: the backend has no news to give, e.g. SQLite). */
    att_err_t (*watch)(att_store_t *st, att_store_watch_fn fn, void *arg, att_diag_t *d);
    /* Optional (NULL: fn just runs): fn under a lock shared by every process on the store. */
    att_err_t (*exclusive)(att_store_t *st, att_err_t (*fn)(void *arg, att_diag_t *d), void *arg,
                           att_diag_t *d);
    /* Optional (NULL: always): false while the store's server cannot be reached. */
    bool (*available)(att_store_t *st, char *why, size_t n);
} att_store_ops_t;

struct att_store {
    const att_store_ops_t *ops;
};

/* Open the store a URL names:
 *   sqlite:DIR          SQLite in DIR/attestd.db (att_store_open_sqlite); DIR verbatim, relative
 *                       to the working directory or absolute; sqlite:///ABS/DIR is also accepted
 *   postgresql://...    (also postgres://) PostgreSQL (att_store_open_pg): the URL is libpq's
 * The scheme is case-insensitive. Anything else is ATT_E_ARG naming the accepted schemes.
 * Messages show the URL only as att_store_url_redacted gives it. */
att_err_t att_store_open(const char *url, att_store_t **out, att_diag_t *d);

typedef enum { ATT_STORE_URL_SQLITE = 1, ATT_STORE_URL_POSTGRES } att_store_backend_t;
typedef struct {
    att_store_backend_t backend;
    const char *sqlite_dir; /* ATT_STORE_URL_SQLITE: the directory, a suffix of the URL */
} att_store_url_t;
/* Parse a store URL without opening anything (attestd's option check, the permission check).
 * ATT_E_ARG as att_store_open gives it; a postgresql:// URL parses (backend POSTGRES). */
att_err_t att_store_url_parse(const char *url, att_store_url_t *u, att_diag_t *d);
/* The URL of the SQLite store in DIR (the default of --store: "sqlite:" + --data-dir), such
 * that att_store_url_parse gives DIR back exactly. malloc'd; NULL when out of memory. */
char *att_store_url_for_dir(const char *dir);
/* url with its secrets masked, for messages and logs: the password of the user information
 * (scheme://user:***@host) and the value of every `password=` (and `sslpassword=`) parameter,
 * in a query or a key=value connection string. Written into buf (always NUL-terminated; a
 * URL too long ends in "..."); returns buf. NULL url gives "(none)". */
const char *att_store_url_redacted(const char *url, char *buf, size_t n);

/* SQLite in DIR/attestd.db (created 0600 with DIR 0700 if missing), WAL, schema migrations. The
 * backend's own opener: attestd and backend-neutral code use att_store_open. */
att_err_t att_store_open_sqlite(const char *dir, att_store_t **out, att_diag_t *d);
/* PostgreSQL through libpq: url is a libpq connection URI (postgresql://...), given to libpq
 * as it is. Migrates under an advisory lock; see docs/store.md. */
att_err_t att_store_open_pg(const char *url, att_store_t **out, att_diag_t *d);
/* Schema version this program writes (for `attestd --version` and tests). */
int att_store_schema_version(void);

/* Dispatch helpers. Lists are malloc'd arrays freed with the matching *_free. */
static inline void att_store_close(att_store_t *st)
{
    if (st)
        st->ops->close(st);
}
static inline att_err_t att_store_key_put(att_store_t *st, const att_store_key_t *k, att_diag_t *d)
{
    return st->ops->key_put(st, k, d);
}
static inline att_err_t att_store_key_list(att_store_t *st, att_store_key_t **keys, size_t *n,
                                           att_diag_t *d)
{
    return st->ops->key_list(st, keys, n, d);
}
static inline att_err_t att_store_key_retire(att_store_t *st, const char *kid, att_time_t retired,
                                             att_time_t publish_until, att_diag_t *d)
{
    return st->ops->key_retire(st, kid, retired, publish_until, d);
}
/* Replace key kid's key_pem with new_pem only while it is still old_pem (compare and set, so
 * that replicas re-sealing the same key at once do not undo each other): ATT_E_STORE_NOT_FOUND
 * when no key kid has old_pem any more; ATT_E_UNSUPPORTED when the backend cannot. */
static inline att_err_t att_store_key_reseal(att_store_t *st, const char *kid, const char *old_pem,
                                             const char *new_pem, att_diag_t *d)
{
    if (st->ops->key_reseal == NULL)
        return att_diag_set(d, ATT_E_UNSUPPORTED, "the %s store cannot re-seal keys in place",
                            st->ops->name);
    return st->ops->key_reseal(st, kid, old_pem, new_pem, d);
}
static inline att_err_t att_store_policy_get(att_store_t *st, const char *type, char **jws,
                                             att_diag_t *d)
{
    return st->ops->policy_get(st, type, jws, d);
}
static inline att_err_t att_store_policy_put(att_store_t *st, const char *type, const char *jws,
                                             att_diag_t *d)
{
    return st->ops->policy_put(st, type, jws, d);
}
static inline att_err_t att_store_policy_delete(att_store_t *st, const char *type, att_diag_t *d)
{
    return st->ops->policy_delete(st, type, d);
}
static inline att_err_t att_store_signer_list(att_store_t *st, att_store_signer_t **s, size_t *n,
                                              att_diag_t *d)
{
    return st->ops->signer_list(st, s, n, d);
}
static inline att_err_t att_store_signer_add(att_store_t *st, const att_store_signer_t *s,
                                             att_diag_t *d)
{
    return st->ops->signer_add(st, s, d);
}
static inline att_err_t att_store_signer_remove(att_store_t *st, const char *thumbprint,
                                                att_diag_t *d)
{
    return st->ops->signer_remove(st, thumbprint, d);
}
static inline att_err_t att_store_coll_get(att_store_t *st, const char *key, uint8_t **blob,
                                           size_t *len, att_time_t *fetched_at, att_diag_t *d)
{
    return st->ops->coll_get(st, key, blob, len, fetched_at, d);
}
static inline att_err_t att_store_coll_put(att_store_t *st, const char *key, const uint8_t *blob,
                                           size_t len, att_time_t fetched_at, att_diag_t *d)
{
    return st->ops->coll_put(st, key, blob, len, fetched_at, d);
}

/* The ledger of signed administration requests (isolated mode): records that the request whose
 * SHA-256 is `hash` (hex) was used for `used_for` ("policy.set SgxEnclave", ...) at `at`. When
 * it was recorded before, nothing changes and *prev (malloc'd) / *prev_at say what it was used
 * for and when; a new record leaves *prev NULL. */
static inline att_err_t att_store_request_use(att_store_t *st, const char *hash,
                                              const char *used_for, att_time_t at, char **prev,
                                              att_time_t *prev_at, att_diag_t *d)
{
    return st->ops->request_use(st, hash, used_for, at, prev, prev_at, d);
}

/* The service's secret `name`: the stored one, or, when none is stored yet, `fresh` (which the
 * caller made random) stored now. Concurrent callers with different fresh values all get the
 * one that was stored first, so replicas sharing a store share the secret. *out is malloc'd. */
static inline att_err_t att_store_secret(att_store_t *st, const char *name, const uint8_t *fresh,
                                         size_t len, att_time_t now, uint8_t **out, size_t *outlen,
                                         att_diag_t *d)
{
    return st->ops->secret(st, name, fresh, len, now, out, outlen, d);
}

/* Spend a single-use token (its SHA-256, hex) valid until `expires`: *first is true the first
 * time, false when it was spent before. Tokens whose expiry is before `now` are forgotten
 * (they are refused by their expiry), so the ledger holds only live tokens. */
static inline att_err_t att_store_token_spend(att_store_t *st, const char *hash, att_time_t expires,
                                              att_time_t now, bool *first, att_diag_t *d)
{
    return st->ops->token_spend(st, hash, expires, now, first, d);
}

/* The cluster's single flight of collateral fetches (docs/collateral.md, "Many replicas"): take
 * the lease on fetching key for owner (a string naming one process) until until_ms (wall clock,
 * milliseconds). *mine is true when owner holds it now: there was none, the last one ended
 * before now_ms, or owner held it already (then until_ms extends it). Otherwise
 * *held_until_ms says until when another owner holds it. ATT_E_UNSUPPORTED when the backend
 * has one process per store (SQLite: the in-process single flight is enough). */
static inline att_err_t att_store_coll_lease(att_store_t *st, const char *key, const char *owner,
                                             int64_t now_ms, int64_t until_ms, bool *mine,
                                             int64_t *held_until_ms, att_diag_t *d)
{
    if (st->ops->coll_lease == NULL)
        return att_diag_set(d, ATT_E_UNSUPPORTED, "the %s store has no collateral fetch leases",
                            st->ops->name);
    return st->ops->coll_lease(st, key, owner, now_ms, until_ms, mine, held_until_ms, d);
}
/* End owner's lease on key (after its fetch stored the row, or failed) and tell the waiting
 * processes; ATT_E_STORE_NOT_FOUND when owner does not hold it (it ran out and another took it). */
static inline att_err_t att_store_coll_lease_end(att_store_t *st, const char *key,
                                                 const char *owner, att_diag_t *d)
{
    if (st->ops->coll_lease_end == NULL)
        return att_diag_set(d, ATT_E_UNSUPPORTED, "the %s store has no collateral fetch leases",
                            st->ops->name);
    return st->ops->coll_lease_end(st, key, owner, d);
}
/* A count of the news "collateral was stored or a fetch lease ended" from other processes
 * (coll_put and coll_lease_end send it): read it before looking at the store, then
 * att_store_coll_wait(st, seen, ms) returns true as soon as it differs from seen, false after
 * timeout_ms (the caller then looks again anyway: news can be lost). Without news (SQLite, or
 * no watcher running) the count stays 0 and the wait sleeps min(timeout_ms, 100 ms). */
static inline uint64_t att_store_coll_news(att_store_t *st)
{
    return st->ops->coll_news ? st->ops->coll_news(st) : 0;
}
static inline bool att_store_coll_wait(att_store_t *st, uint64_t seen, long timeout_ms)
{
    if (st->ops->coll_wait != NULL)
        return st->ops->coll_wait(st, seen, timeout_ms);
    long ms = timeout_ms < 100 ? (timeout_ms < 0 ? 0 : timeout_ms) : 100;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return false;
}

/* Tell fn (on the store's own thread) of changes made through other handles or processes, until
 * fn is NULL or the store closes; one watcher per store. ATT_E_UNSUPPORTED when the backend has
 * no such news (SQLite): the caller re-reads on its own. Stop it (fn NULL) before freeing what
 * fn touches; after that call returns, fn is not running and is not called again. */
static inline att_err_t att_store_watch(att_store_t *st, att_store_watch_fn fn, void *arg,
                                        att_diag_t *d)
{
    if (st->ops->watch == NULL)
        return att_diag_set(d, ATT_E_UNSUPPORTED, "the %s store gives no change notifications",
                            st->ops->name);
    return st->ops->watch(st, fn, arg, d);
}

/* Run fn holding a lock every process sharing the store takes here (replicas starting together
 * on an empty database make one signing key, not one each); fn's result is returned. */
static inline att_err_t att_store_exclusive(att_store_t *st,
                                            att_err_t (*fn)(void *arg, att_diag_t *d), void *arg,
                                            att_diag_t *d)
{
    return st->ops->exclusive ? st->ops->exclusive(st, fn, arg, d) : fn(arg, d);
}

/* Whether the store can be written now: false while its server cannot be reached (PostgreSQL
 * down; why, if given, says since when and why). A backend on a local file is always
 * available; its failures are ATT_E_STORE with their reason. */
static inline bool att_store_available(att_store_t *st, char *why, size_t n)
{
    return st->ops->available == NULL || st->ops->available(st, why, n);
}

void att_store_keys_free(att_store_key_t *keys, size_t n);
void att_store_signers_free(att_store_signer_t *s, size_t n);

#endif
