/* verify.c - compact JWS parsing and verification (policies, policy-management requests, tokens).
 *
 * Verification uses OpenSSL directly rather than libjose's jose_jws_ver: the algorithm allow-list
 * (RS256, PS256, ES256; "none" only when the caller allows unsigned input) must be enforced
 * before any key is touched, the key comes from an X.509 certificate rather than a JWK, and the
 * ES256 r||s and PS256 salt-length rules are then stated in one screen of code. The tests check
 * our signatures with libjose and the openssl CLI, so the two implementations keep each other
 * honest.
 *
 * Rules (docs/tokens.md): exactly three '.'-separated base64url segments (padding tolerated,
 * anything else rejected); a header that is a JSON object without duplicate members, with a
 * string "alg" and no "crit"; "RSA256" (a typo in MAA's docs) is read as RS256; every other
 * alg, HS256 included, is ATT_E_JWS_ALG - a public key is never used as an HMAC secret. The
 * signing key's type must fit the alg (RSA >= 2048 bits for RS256/PS256, P-256 for ES256).
 * Not checked here: whether the signer is trusted, certificate validity or chains, and claims
 * such as exp/nbf/iss: the caller decides those.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "core/json.h"
#include "token/token_int.h"

static bool att_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void att_trim(const char **p, size_t *len)
{
    while (*len > 0 && att_is_ws((*p)[0])) {
        (*p)++;
        (*len)--;
    }
    while (*len > 0 && att_is_ws((*p)[*len - 1]))
        (*len)--;
}

bool att_jws_split(const char *text, size_t len, att_jws_parts_t *out, size_t *nseg)
{
    const char *d1 = memchr(text, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - text)) : NULL;
    if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - text)) != NULL) {
        if (nseg != NULL) {
            size_t dots = 0;
            for (size_t i = 0; i < len; i++)
                dots += text[i] == '.';
            *nseg = dots + 1;
        }
        return false;
    }
    out->header = text;
    out->header_len = (size_t)(d1 - text);
    out->payload = d1 + 1;
    out->payload_len = (size_t)(d2 - out->payload);
    out->sig = d2 + 1;
    out->sig_len = len - (size_t)(out->sig - text);
    out->input_len = (size_t)(d2 - text);
    if (nseg != NULL)
        *nseg = 3;
    return true;
}

bool att_token_sig_ok(EVP_PKEY *key, const EVP_MD_CTX *tmpl, att_alg_t alg, const char *input,
                      size_t ilen, const uint8_t *sig, size_t slen)
{
    uint8_t *der = NULL;
    size_t derlen = 0;
    if (alg == ATT_ALG_ES256) {
        if (slen != 64)
            return false;
        der = att_es256_raw_to_der(sig, &derlen);
        if (der == NULL)
            return false;
        sig = der;
        slen = derlen;
    } else if (slen != (size_t)EVP_PKEY_get_size(key)) {
        return false;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL &&
              (tmpl != NULL ? EVP_MD_CTX_copy_ex(md, tmpl) == 1
                            : att_token_md_init(md, key, alg, false)) &&
              EVP_DigestVerify(md, sig, slen, (const uint8_t *)input, ilen) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ERR_clear_error();
    return ok;
}

static att_err_t att_parse_x5c(json_t *x5c, STACK_OF(X509) * *out, att_diag_t *diag)
{
    if (!json_is_array(x5c) || json_array_size(x5c) == 0)
        return att_diag_set(diag, ATT_E_JWS_FORMAT, "JWS header x5c is not a non-empty array");
    if (json_array_size(x5c) > ATT_TOKEN_X5C_MAX)
        return att_diag_set(diag, ATT_E_JWS_FORMAT, "JWS header x5c has %zu certificates (max %d)",
                            json_array_size(x5c), ATT_TOKEN_X5C_MAX);
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (sk == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "x5c: out of memory");
    size_t i;
    json_t *v;
    json_array_foreach(x5c, i, v)
    {
        const char *s = json_string_value(v);
        uint8_t *der = NULL;
        size_t dlen = 0;
        if (s == NULL || !att_b64_decode(s, json_string_length(v), true, &der, &dlen)) {
            sk_X509_pop_free(sk, X509_free);
            return att_diag_set(diag, ATT_E_JWS_FORMAT,
                                "JWS header x5c[%zu] is not a standard base64 string", i);
        }
        const unsigned char *p = der;
        X509 *x = d2i_X509(NULL, &p, (long)dlen);
        bool whole = x != NULL && p == der + dlen;
        free(der);
        if (!whole || sk_X509_push(sk, x) <= 0) {
            X509_free(x);
            sk_X509_pop_free(sk, X509_free);
            ERR_clear_error();
            return att_diag_set(diag, ATT_E_JWS_FORMAT,
                                "JWS header x5c[%zu] is not a DER X.509 certificate", i);
        }
    }
    *out = sk;
    return ATT_OK;
}

void att_jws_clear(att_jws_t *jws)
{
    if (jws == NULL)
        return;
    json_decref(jws->header);
    json_decref(jws->claims);
    free(jws->payload);
    X509_free(jws->signer);
    sk_X509_pop_free(jws->x5c, X509_free);
    memset(jws, 0, sizeof *jws);
}

static const char *att_key_type_name(EVP_PKEY *k)
{
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:
        return "RSA";
    case EVP_PKEY_EC:
        return "EC";
    default:
        return "other";
    }
}

att_err_t att_jws_verify(const char *text, size_t len, const att_jws_opts_t *opts, att_jws_t *out,
                         att_diag_t *diag)
{
    static const att_jws_opts_t defaults = {0};
    if (out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_jws_verify: out is NULL");
    memset(out, 0, sizeof *out);
    if (text == NULL && len > 0)
        return att_diag_set(diag, ATT_E_ARG, "att_jws_verify: text is NULL");
    if (opts == NULL)
        opts = &defaults;
    if (opts->n_keys > 0 && opts->keys == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_jws_verify: n_keys without keys");
    if (opts->min_rsa_bits != 0 && (opts->min_rsa_bits < ATT_TOKEN_RSA_FLOOR_BITS ||
                                    opts->min_rsa_bits > ATT_TOKEN_RSA_MAX_BITS))
        return att_diag_set(diag, ATT_E_ARG, "att_jws_verify: min_rsa_bits %u is not in %d..%d",
                            opts->min_rsa_bits, ATT_TOKEN_RSA_FLOOR_BITS, ATT_TOKEN_RSA_MAX_BITS);
    char why_buf[64];

    att_err_t rc = ATT_OK;
    json_t *wrapper = NULL;
    uint8_t *hdr = NULL, *sig = NULL;
    size_t hlen = 0, slen = 0;
    att_jws_t j = {0};
    json_error_t jerr;

    att_trim(&text, &len);
    /* POST /certificates:add sends the JWS as a JSON string literal. */
    if (len > 0 && text[0] == '"') {
        wrapper = att_json_loadb(text, len, JSON_DECODE_ANY, &jerr);
        if (!json_is_string(wrapper)) {
            rc = att_diag_set(diag, ATT_E_JWS_FORMAT,
                              "JWS in a JSON string literal does not parse: %s", jerr.text);
            goto out;
        }
        text = json_string_value(wrapper);
        len = json_string_length(wrapper);
        att_trim(&text, &len);
    }
    if (len == 0) {
        rc = att_diag_set(diag, ATT_E_JWS_FORMAT, "JWS is empty");
        goto out;
    }

    /* Exactly three segments. */
    att_jws_parts_t seg;
    size_t nseg = 0;
    if (!att_jws_split(text, len, &seg, &nseg)) {
        rc = att_diag_set(diag, ATT_E_JWS_FORMAT,
                          "JWS compact serialisation has %zu segments, not 3", nseg);
        goto out;
    }

    if (seg.header_len == 0 || !att_b64_decode(seg.header, seg.header_len, false, &hdr, &hlen)) {
        rc = att_diag_set(diag, ATT_E_JWS_FORMAT, "JWS header segment is not base64url");
        goto out;
    }
    if (!att_b64_decode(seg.payload, seg.payload_len, false, &j.payload, &j.payload_len)) {
        rc = att_diag_set(diag, ATT_E_JWS_FORMAT, "JWS payload segment is not base64url");
        goto out;
    }
    if (!att_b64_decode(seg.sig, seg.sig_len, false, &sig, &slen)) {
        rc = att_diag_set(diag, ATT_E_JWS_FORMAT, "JWS signature segment is not base64url");
        goto out;
    }

    j.header = att_json_loadb((const char *)hdr, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(j.header)) {
        rc = att_diag_set(diag, ATT_E_JWS_FORMAT, "JWS header is not a JSON object: %s",
                          j.header ? "another JSON type" : jerr.text);
        goto out;
    }
    const char *algname = json_string_value(json_object_get(j.header, "alg"));
    if (algname == NULL) {
        rc = att_diag_set(diag, ATT_E_JWS_FORMAT, "JWS header has no string \"alg\"");
        goto out;
    }
    if (json_object_get(j.header, "crit") != NULL) {
        rc = att_diag_set(diag, ATT_E_JWS_FORMAT,
                          "JWS header has \"crit\" extensions, none of which are supported");
        goto out;
    }
    bool unsigned_jws = strcmp(algname, "none") == 0;
    j.alg = strcmp(algname, "RSA256") == 0 ? ATT_ALG_RS256 : att_alg_parse(algname);
    if (!unsigned_jws && j.alg == ATT_ALG_NONE) {
        rc = att_diag_set(diag, ATT_E_JWS_ALG,
                          "JWS alg \"%.64s\" is not accepted (RS256, PS256, ES256%s only)", algname,
                          opts->allow_unsigned ? " or none" : "");
        goto out;
    }

    /* Payload claims: an object, if it is one. */
    if (j.payload_len > 0) {
        j.claims =
            att_json_loadb((const char *)j.payload, j.payload_len, JSON_REJECT_DUPLICATES, NULL);
        if (j.claims != NULL && !json_is_object(j.claims)) {
            json_decref(j.claims);
            j.claims = NULL;
        }
    }

    if (unsigned_jws) {
        if (!opts->allow_unsigned) {
            rc = att_diag_set(diag, ATT_E_JWS_UNSIGNED,
                              "JWS is unsigned (alg \"none\") where a signature is required");
            goto out;
        }
        if (slen != 0 || seg.sig_len != 0) {
            rc = att_diag_set(diag, ATT_E_JWS_FORMAT,
                              "JWS with alg \"none\" has a non-empty signature (%zu bytes)", slen);
            goto out;
        }
        goto done; /* no signer, and an x5c that nothing vouches for is not returned */
    }

    json_t *x5c = json_object_get(j.header, "x5c");
    if (x5c != NULL && (rc = att_parse_x5c(x5c, &j.x5c, diag)) != ATT_OK)
        goto out;
    if (slen == 0) {
        rc = att_diag_set(diag, ATT_E_JWS_SIGNATURE, "JWS with alg %s has an empty signature",
                          att_alg_name(j.alg));
        goto out;
    }

    if (opts->n_keys > 0) {
        size_t fitting = 0;
        for (size_t i = 0; i < opts->n_keys && j.signer == NULL; i++) {
            EVP_PKEY *k = opts->keys[i] ? X509_get0_pubkey(opts->keys[i]) : NULL;
            if (k == NULL ||
                att_token_key_mismatch_min(k, j.alg, opts->min_rsa_bits, NULL, 0) != NULL)
                continue;
            fitting++;
            if (att_token_sig_ok(k, NULL, j.alg, text, seg.input_len, sig, slen) &&
                X509_up_ref(opts->keys[i]))
                j.signer = opts->keys[i];
        }
        if (j.signer == NULL) {
            rc = att_diag_set(diag, ATT_E_JWS_SIGNATURE,
                              "JWS %s signature does not verify with any of the %zu given keys "
                              "(%zu of a type that fits the alg)",
                              att_alg_name(j.alg), opts->n_keys, fitting);
            goto out;
        }
    } else if (j.x5c != NULL) {
        X509 *leaf = sk_X509_value(j.x5c, 0);
        EVP_PKEY *k = X509_get0_pubkey(leaf);
        const char *why =
            k ? att_token_key_mismatch_min(k, j.alg, opts->min_rsa_bits, why_buf, sizeof why_buf)
              : "has an unreadable key";
        if (why != NULL) {
            rc = att_diag_set(diag, ATT_E_JWS_ALG,
                              "JWS alg %s %s; the key of x5c[0] is %s of %d bits",
                              att_alg_name(j.alg), why, k ? att_key_type_name(k) : "unreadable",
                              k ? EVP_PKEY_get_bits(k) : 0);
            goto out;
        }
        if (!att_token_sig_ok(k, NULL, j.alg, text, seg.input_len, sig, slen)) {
            rc = att_diag_set(diag, ATT_E_JWS_SIGNATURE,
                              "JWS %s signature does not verify with the key of x5c[0]",
                              att_alg_name(j.alg));
            goto out;
        }
        if (X509_up_ref(leaf) != 1) {
            rc = att_diag_set(diag, ATT_E_INTERNAL, "x5c: reference count failed");
            goto out;
        }
        j.signer = leaf;
    } else {
        rc = att_diag_set(diag, ATT_E_JWS_SIGNATURE,
                          "JWS is signed (%s) but has no x5c header and no key was given",
                          att_alg_name(j.alg));
        goto out;
    }

done:
    *out = j;
    memset(&j, 0, sizeof j);
    att_diag_clear(diag);
out:
    att_jws_clear(&j);
    free(hdr);
    free(sig);
    json_decref(wrapper);
    return rc;
}
