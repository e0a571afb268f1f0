/* offline.c - evidence verified as attestd verifies it, with collateral from a directory read as
 * attestd's --collateral-dir reads it: one Intel DCAP set (the `quote verify --collateral`
 * layout), one subdirectory per set (what `attest collateral fetch` writes), and AMD KDS answers
 * under vcek/v1/<Product>/. Each vendor's fetcher enumerates the sets it finds (checking their
 * signatures), and the verifier asks for the one its evidence needs by key. Used by
 * `attest quote verify` and `attest policy eval --quote`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/collateral.h"
#include "cli.h"

#define ATT_CLI_MAX_SOURCES 8

typedef struct {
    char *key;
    void *obj;
    const att_coll_fetcher_t *f;
    att_time_t next_update;
} att_cli_set_t;

struct att_cli_offline {
    att_ev_set_t *ev;
    const att_coll_fetcher_t *fetchers[ATT_CLI_MAX_SOURCES];
    void *cfgs[ATT_CLI_MAX_SOURCES];
    size_t nsrc;
    att_cli_set_t *sets;
    size_t n, cap;
    const att_coll_fetcher_t *cur; /* the fetcher enumerating */
    char dir[4096];
};

static const char *att_no_url(void *arg, const char *backend)
{
    (void)arg, (void)backend;
    return NULL; /* offline: no network source */
}

/* A set found in the directory: kept, the later of two for one key (as attestd does). */
static att_err_t att_off_found(void *arg, const char *key, void *obj, att_time_t next_update,
                               att_diag_t *d)
{
    att_cli_offline_t *o = arg;
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->sets[i].key, key) != 0)
            continue;
        if (o->sets[i].next_update >= next_update) {
            o->cur->release(obj);
        } else {
            o->sets[i].f->release(o->sets[i].obj);
            o->sets[i].obj = obj;
            o->sets[i].f = o->cur;
            o->sets[i].next_update = next_update;
        }
        return ATT_OK;
    }
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 8;
        att_cli_set_t *ns = realloc(o->sets, nc * sizeof(*ns));
        if (ns == NULL) {
            o->cur->release(obj);
            return att_diag_set(d, ATT_E_NOMEM, "out of memory");
        }
        o->sets = ns;
        o->cap = nc;
    }
    char *k = strdup(key);
    if (k == NULL) {
        o->cur->release(obj);
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    o->sets[o->n++] = (att_cli_set_t){k, obj, o->cur, next_update};
    return ATT_OK;
}

att_err_t att_cli_offline_new(const char *const *roots, size_t nroots, att_cli_offline_t **out,
                              att_diag_t *d)
{
    *out = NULL;
    att_cli_offline_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    att_err_t e = att_ev_set_new(&o->ev, d);
    for (size_t i = 0; i < nroots && e == ATT_OK; i++) {
        att_diag_t d2;
        if ((e = att_ev_set_add_root_file(o->ev, roots[i], &d2)) != ATT_OK)
            att_diag_set(d, e, "--trust-root %s: %s", roots[i], d2.msg);
    }
    /* after the roots: each fetcher checks signatures against its backend's trust store */
    if (e == ATT_OK)
        e = att_ev_set_collateral(o->ev, att_no_url, NULL, o->fetchers, o->cfgs,
                                  ATT_CLI_MAX_SOURCES, &o->nsrc, d);
    if (e != ATT_OK) {
        att_cli_offline_free(o);
        return e;
    }
    *out = o;
    return ATT_OK;
}

att_err_t att_cli_offline_load(att_cli_offline_t *o, const char *dir, att_diag_t *d)
{
    att_err_t first = ATT_OK;
    att_diag_t fd;
    att_diag_clear(&fd);
    snprintf(o->dir, sizeof o->dir, "%s", dir);
    for (size_t i = 0; i < o->nsrc; i++) {
        if (o->fetchers[i]->offline == NULL)
            continue;
        att_diag_t d2;
        att_diag_clear(&d2);
        o->cur = o->fetchers[i];
        att_err_t e = o->fetchers[i]->offline(o->cfgs[i], dir, 0, att_off_found, o, &d2);
        if (e == ATT_E_COLL_MISSING) { /* none of this vendor's sets here */
            if (first == ATT_OK) {
                first = e;
                fd = d2;
            }
            continue;
        }
        if (e != ATT_OK) {
            if (d)
                *d = d2;
            return e;
        }
    }
    if (o->n == 0 && first != ATT_OK) {
        if (d)
            *d = fd;
        return first;
    }
    return ATT_OK;
}

/* The verifier's collateral callback: the set of key, if the directory held one. */
static att_err_t att_off_get(void *arg, const char *key, att_time_t now, void **out, att_diag_t *d)
{
    att_cli_offline_t *o = arg;
    (void)now; /* validity windows are the verifier's, at its time */
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->sets[i].key, key) == 0) {
            *out = o->sets[i].f->retain(o->sets[i].obj);
            return ATT_OK;
        }
    char have[512] = "";
    size_t w = 0;
    for (size_t i = 0; i < o->n && w < sizeof have; i++)
        w += (size_t)snprintf(have + w, sizeof have - w, "%s%s", i ? ", " : "", o->sets[i].key);
    return att_diag_set(d, ATT_E_COLL_MISSING,
                        "the collateral directory %s holds no set for %s (it holds: %s)", o->dir,
                        key, o->n ? have : "none");
}

att_err_t att_cli_offline_verify(att_cli_offline_t *o, const att_ev_type_t *t, const uint8_t *ev,
                                 size_t len, att_time_t now, att_ev_result_t *r)
{
    att_ev_input_t in = {
        .evidence = ev, .len = len, .now = now, .collateral = att_off_get, .collateral_arg = o};
    return att_ev_verify(o->ev, t, &in, r);
}

void att_cli_offline_free(att_cli_offline_t *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; i < o->n; i++) {
        o->sets[i].f->release(o->sets[i].obj);
        free(o->sets[i].key);
    }
    free(o->sets);
    for (size_t i = 0; i < o->nsrc; i++)
        o->fetchers[i]->cfg_free(o->cfgs[i]);
    att_ev_set_free(o->ev);
    free(o);
}
