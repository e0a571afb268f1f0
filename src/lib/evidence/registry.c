/* registry.c - the evidence types attestd knows, their backends' instances, and what every type
 * shares: MAA's runtime / init-time data binding and the result's life cycle.
 *
 * Adding a TEE: its file in this folder defines an att_ev_type_t (and, when it verifies with a
 * new kind of trust anchor or cache, an att_ev_backend_t), and one line in att_ev_types below
 * lists it. The service, the default policies, the client and the CLI find it here.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509.h>

#include "core/util.h"
#include "crypto/crypto.h"
#include "ev_int.h"

/* The permit-all policy: the canonical minimal policy of MAA's examples, the default of the types
 * whose default MAA does not publish (docs/policy.md). */
const char att_ev_policy_permit_all[] = "version=1.0;\n"
                                        "authorizationrules\n"
                                        "{\n"
                                        "\t=> permit();\n"
                                        "};\n"
                                        "issuancerules\n"
                                        "{\n"
                                        "};\n";

static const att_ev_type_t *const att_ev_types[] = {
    &att_ev_sgx, &att_ev_openenclave, &att_ev_tdx, &att_ev_sevsnp, &att_ev_tpm,
};

ATT_API size_t att_ev_type_count(void)
{
    return ATT_ARRAY_LEN(att_ev_types);
}

ATT_API const att_ev_type_t *att_ev_type_at(size_t i)
{
    return i < ATT_ARRAY_LEN(att_ev_types) ? att_ev_types[i] : NULL;
}

ATT_API const att_ev_type_t *att_ev_type_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < ATT_ARRAY_LEN(att_ev_types); i++)
        if (strcasecmp(att_ev_types[i]->name, name) == 0)
            return att_ev_types[i];
    return NULL;
}

ATT_API bool att_ev_type_supported(const att_ev_type_t *t)
{
    return t != NULL && t->backend != NULL && t->verify != NULL;
}

/* "SgxEnclave, OpenEnclave, ...": [0] every type, [1] the supported ones; built once. */
static char att_ev_names[2][256];
static pthread_once_t att_ev_names_once = PTHREAD_ONCE_INIT;

static void att_ev_names_make(void)
{
    for (int sup = 0; sup < 2; sup++) {
        size_t used = 0;
        for (size_t i = 0; i < ATT_ARRAY_LEN(att_ev_types); i++) {
            if (sup && !att_ev_type_supported(att_ev_types[i]))
                continue;
            int n = snprintf(att_ev_names[sup] + used, sizeof(att_ev_names[sup]) - used, "%s%s",
                             used ? ", " : "", att_ev_types[i]->name);
            if (n < 0 || (size_t)n >= sizeof(att_ev_names[sup]) - used)
                break;
            used += (size_t)n;
        }
    }
}

ATT_API const char *att_ev_type_names(bool supported_only)
{
    pthread_once(&att_ev_names_once, att_ev_names_make);
    return att_ev_names[supported_only ? 1 : 0];
}

/* ---- instances ---- */

/* Every backend, once, in the order of the types that use it. */
#define ATT_EV_MAX_BACKENDS 8

struct att_ev_set {
    size_t n;
    const att_ev_backend_t *backend[ATT_EV_MAX_BACKENDS];
    void *inst[ATT_EV_MAX_BACKENDS];
};

ATT_API att_err_t att_ev_set_new(att_ev_set_t **out, att_diag_t *diag)
{
    att_ev_set_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < ATT_ARRAY_LEN(att_ev_types); i++) {
        const att_ev_backend_t *b = att_ev_types[i]->backend;
        bool seen = b == NULL;
        for (size_t j = 0; j < s->n && !seen; j++)
            seen = s->backend[j] == b;
        if (seen)
            continue;
        if (s->n == ATT_EV_MAX_BACKENDS) {
            att_ev_set_free(s);
            return att_diag_set(diag, ATT_E_INTERNAL, "more than %d evidence backends",
                                ATT_EV_MAX_BACKENDS);
        }
        att_err_t e = b->create(&s->inst[s->n], diag);
        if (e != ATT_OK) {
            att_ev_set_free(s);
            return e;
        }
        s->backend[s->n++] = b;
    }
    *out = s;
    return ATT_OK;
}

ATT_API void att_ev_set_free(att_ev_set_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        s->backend[i]->destroy(s->inst[i]);
    free(s);
}

static void *att_ev_inst(const att_ev_set_t *s, const att_ev_backend_t *b)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->backend[i] == b)
            return s->inst[i];
    return NULL;
}

/* One root certificate (DER): taken by every backend whose chains can end at it; refused when
 * none can. `what` names it in errors. */
static att_err_t att_ev_add_root_der(att_ev_set_t *s, const uint8_t *der, size_t len,
                                     const char *what, EVP_PKEY *key, att_diag_t *diag)
{
    char takes[512] = "";
    size_t used = 0;
    bool taken = false;
    for (size_t i = 0; i < s->n; i++) {
        att_diag_t d;
        att_diag_clear(&d);
        att_err_t e = s->backend[i]->add_root(s->inst[i], der, len, &d);
        if (e == ATT_OK) {
            taken = true;
        } else if (e == ATT_E_CERT_KEY) {
            int n = snprintf(takes + used, sizeof(takes) - used, "%s%s", used ? "; " : "", d.msg);
            if (n > 0 && (size_t)n < sizeof(takes) - used)
                used += (size_t)n;
        } else {
            return att_diag_set(diag, e, "%s: %s", what, d.msg);
        }
    }
    if (taken)
        return ATT_OK;
    char kn[64];
    att_key_name(key, kn, sizeof(kn));
    return att_diag_set(diag, ATT_E_CERT_KEY,
                        "%s has a key of type %s, which no evidence verifier takes as a root (%s)",
                        what, kn, takes);
}

static att_err_t att_ev_add_x509(att_ev_set_t *s, X509 *c, const char *what, att_diag_t *diag)
{
    uint8_t *der = NULL;
    int len = i2d_X509(c, &der);
    if (len <= 0)
        return att_diag_set(diag, ATT_E_CERT_PARSE, "%s cannot be encoded", what);
    att_err_t e = att_ev_add_root_der(s, der, (size_t)len, what, X509_get0_pubkey(c), diag);
    OPENSSL_free(der);
    return e;
}

/* The certificates of buf (PEM, one or more; or one DER), `name` naming them in errors. */
static att_err_t att_ev_add_roots(att_ev_set_t *s, const uint8_t *buf, size_t len, const char *name,
                                  att_diag_t *diag)
{
    char what[320];
    att_err_t e = ATT_OK;
    STACK_OF(X509) *sk = att_pem_chain(buf, len, 64, ATT_E_CERT_PARSE, name, diag);
    if (sk == NULL) {
        /* not PEM: one DER certificate */
        att_diag_clear(diag);
        const uint8_t *p = buf;
        X509 *c = d2i_X509(NULL, &p, (long)len);
        if (c == NULL || p != buf + len) {
            e = att_diag_set(diag, ATT_E_CERT_PARSE,
                             "%s holds neither PEM certificates nor one DER certificate", name);
        } else {
            snprintf(what, sizeof(what), "%s (its certificate)", name);
            e = att_ev_add_x509(s, c, what, diag);
        }
        X509_free(c);
        return e;
    }
    for (int i = 0; i < sk_X509_num(sk) && e == ATT_OK; i++) {
        snprintf(what, sizeof(what), "%s: certificate %d", name, i + 1);
        e = att_ev_add_x509(s, sk_X509_value(sk, i), what, diag);
    }
    sk_X509_pop_free(sk, X509_free);
    return e;
}

ATT_API att_err_t att_ev_set_add_root(att_ev_set_t *s, const uint8_t *cert, size_t len,
                                      att_diag_t *diag)
{
    return att_ev_add_roots(s, cert, len, "the root", diag);
}

ATT_API att_err_t att_ev_set_add_root_file(att_ev_set_t *s, const char *path, att_diag_t *diag)
{
    uint8_t *buf;
    size_t len;
    att_err_t e = att_read_file(path, 1 << 20, &buf, &len, diag);
    if (e != ATT_OK)
        return e;
    e = att_ev_add_roots(s, buf, len, path, diag);
    free(buf);
    return e;
}

ATT_API att_err_t att_ev_set_add_key_file(att_ev_set_t *s, const char *kind, const char *path,
                                          att_diag_t *diag)
{
    bool taker = false;
    for (size_t i = 0; s != NULL && i < s->n && !taker; i++)
        taker = s->backend[i]->add_key != NULL;
    if (!taker)
        return att_diag_set(diag, ATT_E_ARG, "%s: no evidence verifier takes keys of kind %s", path,
                            kind);
    uint8_t *buf;
    size_t len;
    att_err_t e = att_read_file(path, 1 << 20, &buf, &len, diag);
    if (e != ATT_OK)
        return e;
    bool taken = false;
    for (size_t i = 0; i < s->n && e == ATT_OK; i++) {
        if (s->backend[i]->add_key == NULL)
            continue;
        e = s->backend[i]->add_key(s->inst[i], kind, buf, len, path, diag);
        taken = e == ATT_OK;
    }
    free(buf);
    if (e == ATT_OK && !taken)
        e = att_diag_set(diag, ATT_E_ARG, "%s: no evidence verifier takes keys of kind %s", path,
                         kind);
    return e;
}

ATT_API att_err_t att_ev_set_limit(att_ev_set_t *s, const char *name, uint64_t value,
                                   att_diag_t *diag)
{
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        if (s->backend[i]->set_limit == NULL)
            continue;
        att_err_t e = s->backend[i]->set_limit(s->inst[i], name, value, diag);
        if (e != ATT_E_ARG)
            return e;
    }
    return att_diag_set(diag, ATT_E_ARG, "no evidence verifier has the limit %s", name);
}

ATT_API void att_ev_set_stats(att_ev_set_t *s, att_ev_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        att_ev_stats_t one = {0};
        if (s->backend[i]->stats != NULL)
            s->backend[i]->stats(s->inst[i], &one);
        out->cache_hits += one.cache_hits;
        out->cache_misses += one.cache_misses;
        for (size_t k = 0; k < one.n_caches && out->n_caches < ATT_EV_MAX_CACHES; k++)
            out->caches[out->n_caches++] = one.caches[k];
    }
}

ATT_API const att_trust_t *att_ev_set_trust(const att_ev_set_t *s, const char *backend)
{
    for (size_t i = 0; s != NULL && backend != NULL && i < s->n; i++)
        if (strcmp(s->backend[i]->name, backend) == 0 && s->backend[i]->trust != NULL)
            return s->backend[i]->trust(s->inst[i]);
    return NULL;
}

ATT_API att_err_t att_ev_set_collateral(att_ev_set_t *s,
                                        const char *(*url)(void *arg, const char *backend),
                                        void *arg, const struct att_coll_fetcher **fetchers,
                                        void **cfgs, size_t max, size_t *n, att_diag_t *diag)
{
    *n = 0;
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        const att_ev_backend_t *b = s->backend[i];
        if (b->collateral == NULL)
            continue;
        if (*n == max)
            return att_diag_set(diag, ATT_E_LIMIT, "more than %zu collateral sources", max);
        att_err_t e = b->collateral(s->inst[i], url ? url(arg, b->name) : NULL, &fetchers[*n],
                                    &cfgs[*n], diag);
        if (e != ATT_OK)
            return e;
        (*n)++;
    }
    return ATT_OK;
}

/* ---- verification and binding ---- */

ATT_API att_err_t att_ev_round(att_ev_set_t *s, const att_ev_type_t *t,
                               const att_ev_round_ctx_t *ctx, const json_t *request,
                               json_t **answer, att_diag_t *diag)
{
    *answer = NULL;
    if (t == NULL || t->round == NULL || ctx == NULL || request == NULL)
        return att_diag_set(diag, ATT_E_ARG, "round: not a multi-round type, or no request");
    void *inst = s != NULL && t->backend != NULL ? att_ev_inst(s, t->backend) : NULL;
    return t->round(inst, ctx, request, answer, diag);
}

ATT_API att_err_t att_ev_verify(att_ev_set_t *s, const att_ev_type_t *t, const att_ev_input_t *in,
                                att_ev_result_t *out)
{
    memset(out, 0, sizeof(*out));
    if (t == NULL || in == NULL || (in->evidence == NULL && in->len != 0))
        return att_diag_set(&out->diag, ATT_E_ARG, "verify: no type or no evidence");
    void *inst = s != NULL && t->backend != NULL ? att_ev_inst(s, t->backend) : NULL;
    if (!att_ev_type_supported(t) || inst == NULL)
        return att_diag_set(&out->diag, ATT_E_UNSUPPORTED,
                            "attestation type %s is not supported yet by this build", t->name);
    return t->verify(inst, in, out);
}

static att_err_t att_bind_one(const uint8_t *data, size_t len, const uint8_t *field,
                              const char *what, const char *where, att_diag_t *diag)
{
    uint8_t h[32];
    char a[65], b[65];
    if (!att_sha256_2(data, len, NULL, 0, h))
        return att_diag_set(diag, ATT_E_INTERNAL, "SHA-256 failed");
    if (att_ct_equal(h, field, 32))
        return ATT_OK;
    att_hex_encode(h, 32, a);
    att_hex_encode(field, 32, b);
    return att_diag_set(diag, ATT_E_EVIDENCE_BINDING,
                        "SHA-256 of the %s is %s but the first 32 bytes of %s are %s", what, a,
                        where, b);
}

ATT_API att_err_t att_ev_bind(const att_ev_result_t *r, const uint8_t *runtime, size_t rlen,
                              const uint8_t *init, size_t ilen, att_diag_t *diag)
{
    if (r == NULL || r->report_data == NULL)
        return att_diag_set(diag, ATT_E_ARG, "bind: no verified evidence");
    att_err_t e;
    if (runtime != NULL && (e = att_bind_one(runtime, rlen, r->report_data, "runtime data",
                                             r->report_data_name, diag)))
        return e;
    if (init != NULL && r->init_data == NULL)
        return att_diag_set(diag, ATT_E_ARG, "this evidence has no field init-time data binds to");
    if (init != NULL &&
        (e = att_bind_one(init, ilen, r->init_data, "init-time data", r->init_data_name, diag)))
        return e;
    return ATT_OK;
}

ATT_API void att_ev_result_clear(att_ev_result_t *r)
{
    if (r == NULL)
        return;
    if (r->detail_free != NULL)
        r->detail_free(r->detail);
    json_decref(r->claims);
    memset(r, 0, sizeof(*r));
}
