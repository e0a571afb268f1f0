/* policy.c - compile/free a policy, MAA's policy hash, and the default policies. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "attest/evidence.h"
#include "policy/policy_int.h"

/* base64url without padding of in[0..n) into out (4*ceil(n/3)+1 bytes); returns the length. */
static size_t att_b64url(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

ATT_API att_err_t att_policy_hash_text(const char *text, size_t len, char out[ATT_POLICY_HASH_LEN])
{
    if (out == NULL || (text == NULL && len != 0) || len > ATT_POLICY_MAX_TEXT)
        return ATT_E_ARG;
    /* x-ms-policy-hash = b64url(SHA-256(b64url(text))): the hash of the AttestationPolicy
     * claim of the stored policy JWS, not of the text itself. */
    size_t enclen = 4 * ((len + 2) / 3) + 1;
    char *enc = malloc(enclen);
    if (enc == NULL)
        return ATT_E_NOMEM;
    size_t n = att_b64url((const unsigned char *)text, len, enc);
    unsigned char md[SHA256_DIGEST_LENGTH];
    unsigned int mdlen = 0;
    int ok = EVP_Digest(enc, n, md, &mdlen, EVP_sha256(), NULL);
    free(enc);
    if (!ok || mdlen != sizeof(md))
        return ATT_E_INTERNAL;
    att_b64url(md, sizeof(md), out);
    return ATT_OK;
}

ATT_API att_err_t att_policy_compile(const char *text, size_t len, att_policy_t **out,
                                     att_policy_pos_t *pos, att_diag_t *diag)
{
    if (pos != NULL)
        pos->line = pos->column = 0;
    if (out == NULL || (text == NULL && len != 0))
        return att_diag_set(diag, ATT_E_ARG, "att_policy_compile: NULL argument");
    *out = NULL;
    if (len > ATT_POLICY_MAX_TEXT)
        return att_diag_set(diag, ATT_E_LIMIT, "policy text is %zu bytes, the limit is %d", len,
                            ATT_POLICY_MAX_TEXT);
    att_policy_t *pol = calloc(1, sizeof(*pol));
    if (pol == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory compiling the policy");
    att_pol_arena_init(&pol->arena, NULL, 0, 64u << 20);
    pol->text = att_pol_strndup(&pol->arena, text ? text : "", len);
    pol->len = len;
    att_err_t err = pol->text ? ATT_OK : ATT_E_NOMEM;
    if (err == ATT_OK)
        err = att_policy_hash_text(pol->text, len, pol->hash);
    if (err != ATT_OK) {
        att_diag_set(diag, err, "cannot hash the policy text");
    } else {
        err = att_pol_parse(pol, pos, diag);
        if (err == ATT_OK && pol->arena.failed)
            err = att_diag_set(diag, ATT_E_NOMEM, "out of memory compiling the policy");
    }
    if (err != ATT_OK) {
        att_policy_free(pol);
        return err;
    }
    att_diag_clear(diag);
    *out = pol;
    return ATT_OK;
}

ATT_API void att_policy_free(att_policy_t *pol)
{
    if (pol == NULL)
        return;
    att_pol_arena_free(&pol->arena);
    free(pol);
}

ATT_API int att_policy_version(const att_policy_t *pol)
{
    return pol ? pol->version : 0;
}

ATT_API size_t att_policy_rule_count(const att_policy_t *pol)
{
    size_t n = 0;
    for (int s = 0; pol != NULL && s < ATT_SEC_N; s++)
        n += (size_t)pol->sec[s].nrules;
    return n;
}

ATT_API const char *att_policy_hash(const att_policy_t *pol)
{
    return pol ? pol->hash : NULL;
}

/* Default policies: each evidence type carries MAA's default for it (attest/evidence.h; the
 * SGX text is MAA's documented default, the others MAA does not publish: docs/policy.md). */
ATT_API const char *att_policy_default(const char *type)
{
    const att_ev_type_t *t = att_ev_type_find(type);
    return t != NULL ? t->default_policy : NULL;
}
