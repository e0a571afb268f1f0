/* policy_certs.c - policy management certificates (isolated mode): the set in the store, seeded
 * from --isolated-signers on first start; GET /certificates, POST /certificates:add|:remove (the
 * JWS bare, as a JSON string, or in MAA 2025-06-01's {"policyCertificateToAdd"|"...ToRemove":
 * JWS}); and the rule on which keys may sign a policy (see svc_int.h). As in MAA, any X.509
 * certificate may be a policy management certificate (a CA or not): what is trusted is its key,
 * which must be able to sign a policy.
 */
#include "svc_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "core/json.h"
#include "core/util.h"
#include "crypto/crypto.h"

/* Is cert one of the policy management certificates? */
bool att_is_signer(att_svc_t *svc, X509 *cert)
{
    bool found = false;
    pthread_rwlock_rdlock(&svc->lock);
    for (int i = 0; svc->signers && i < sk_X509_num(svc->signers) && !found; i++)
        found = X509_cmp(sk_X509_value(svc->signers, i), cert) == 0;
    pthread_rwlock_unlock(&svc->lock);
    return found;
}

/* The certificate's SHA-1 thumbprint, lowercase hex (the store's key). */
static void att_sha1_hex(X509 *cert, char out[41])
{
    unsigned char md[20];
    unsigned int n = 0;
    X509_digest(cert, EVP_sha1(), md, &n);
    att_hex_encode(md, 20, out);
}

void att_svc_certificates(att_svc_t *svc, att_svc_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    json_t *jwks = att_jwks_new();
    att_diag_t d;
    pthread_rwlock_rdlock(&svc->lock);
    for (int i = 0; svc->signers && i < sk_X509_num(svc->signers); i++)
        if (att_jwks_add(jwks, sk_X509_value(svc->signers, i), &d) != ATT_OK)
            break;
    pthread_rwlock_unlock(&svc->lock);
    json_t *c = json_object();
    att_std_claims(svc, c);
    json_object_set_new(c, "x-ms-policy-certificates", jwks);
    att_reply_token(svc, c, r);
}

/* Can this certificate's key sign a policy attestd accepts? RS256/PS256 need RSA of 2048 to
 * 16384 bits with an odd public exponent >= 65537, ES256 a P-256 key (as att_jws_verify and
 * docs/tokens.md); anything else could never authorise a change. why: the reason otherwise. */
static bool att_signer_key_ok(X509 *cert, unsigned min_rsa_bits, char *why, size_t n)
{
    EVP_PKEY *k = X509_get0_pubkey(cert);
    if (k == NULL) {
        snprintf(why, n, "its public key cannot be read");
        return false;
    }
    int bits = EVP_PKEY_get_bits(k);
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA: {
        BIGNUM *e = NULL;
        bool e_ok = EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e) == 1 && BN_is_odd(e) &&
                    BN_num_bits(e) >= 17 && BN_num_bits(e) <= 64;
        BN_free(e);
        if (bits < (int)min_rsa_bits || bits > 16384) {
            snprintf(why, n,
                     "its RSA key has %d bits (RS256/PS256 need %u to 16384; "
                     "--policy-signer-min-rsa-bits)",
                     bits, min_rsa_bits);
            return false;
        }
        if (!e_ok) {
            snprintf(why, n, "its RSA public exponent is not an odd number from 65537 to 2^64");
            return false;
        }
        return true;
    }
    case EVP_PKEY_EC: {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &glen) == 1 &&
            strcmp(group, "prime256v1") == 0)
            return true;
        snprintf(why, n, "its EC key is on %s, and ES256 needs P-256",
                 group[0] ? group
                          : "an "
                            "unnamed curve");
        return false;
    }
    default:
        snprintf(why, n, "its key is neither RSA (RS256/PS256) nor EC P-256 (ES256)");
        return false;
    }
}

/* MAA 2025-06-01's body: {"policyCertificateToAdd": JWS} for :add, {"policyCertificateToRemove":
 * JWS} for :remove, that member only. *jws: a copy of the JWS (free it). */
static bool att_cert_body_object(bool add, const char *body, size_t len, char **jws,
                                 att_svc_reply_t *r)
{
    const char *want = add ? "policyCertificateToAdd" : "policyCertificateToRemove";
    const char *op = add ? "add" : "remove";
    json_error_t je;
    json_t *o = att_json_loadb(body, len, 0, &je);
    const char *key, *bad = NULL;
    json_t *val, *v = json_object_get(o, want);
    json_object_foreach(o, key, val)
    {
        if (bad == NULL && strcmp(key, want) != 0)
            bad = key;
    }
    const char *s = json_string_value(v);
    if (!json_is_object(o))
        att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                      "the request body is neither a JWS nor a JSON object (line %d: %s)", je.line,
                      je.text);
    else if (bad != NULL &&
             (!strcmp(bad, "policyCertificateToAdd") || !strcmp(bad, "policyCertificateToRemove")))
        att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                      "%s is the member of a certificates:%s request; certificates:%s takes "
                      "{\"%s\": JWS}",
                      bad, add ? "remove" : "add", op, want);
    else if (bad != NULL)
        att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                      "unknown member '%.64s' in the request body: certificates:%s takes "
                      "{\"%s\": JWS} only",
                      bad, op, want);
    else if (v == NULL)
        att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                      "the request body has no %s member: certificates:%s takes {\"%s\": JWS "
                      "signed by a policy management certificate}",
                      want, op, want);
    else if (s == NULL)
        att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                      "%s must be a string: a JWS signed by a policy management certificate", want);
    else if (strncmp(s, "-----BEGIN", 10) == 0 || s[0] == '{')
        att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                      "%s holds a %s, not a JWS: in isolated mode only a signature by a policy "
                      "management certificate authorises a change, so %s must be a JWS whose "
                      "payload names the certificate as a JWK under policyCertificate",
                      want, s[0] == '{' ? "JWK" : "PEM certificate", want);
    else if ((*jws = strdup(s)) == NULL)
        att_reply_err(r, 500, "InternalError", ATT_E_NOMEM, "out of memory");
    json_decref(o);
    return *jws != NULL;
}

static void att_cert_change(att_svc_t *svc, bool add, const char *body, size_t len,
                            att_svc_reply_t *r);

void att_svc_certificates_change(att_svc_t *svc, bool add, const char *body, size_t len,
                                 att_svc_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    if (!svc->isolated) {
        att_reply_err(r, 400, "InvalidOperation", ATT_E_UNSUPPORTED,
                      "policy management certificates exist only in isolated mode (start "
                      "attestd with --isolated-signers)");
        return;
    }
    att_trim_body(&body, &len);
    if (len == 0 || body[0] != '{') {
        att_cert_change(svc, add, body, len, r);
        return;
    }
    char *jws = NULL;
    if (att_cert_body_object(add, body, len, &jws, r)) {
        const char *p = jws;
        size_t n = strlen(jws);
        att_trim_body(&p, &n);
        att_cert_change(svc, add, p, n, r);
    }
    free(jws);
}

/* certificates:add / :remove with the request JWS (bare or a JSON string). */
static void att_cert_change(att_svc_t *svc, bool add, const char *body, size_t len,
                            att_svc_reply_t *r)
{
    att_diag_t d;
    att_jws_t j;
    if (att_policy_jws(svc, body, len, &j, r) != ATT_OK)
        return;
    static const char *const names[] = {"policyCertificate", "maa-policyCertificate",
                                        "x-ms-policyCertificate", "aas-policyCertificate"};
    json_t *jwk = NULL;
    for (size_t i = 0; i < ATT_ARRAY_LEN(names) && jwk == NULL; i++)
        jwk = json_object_get(j.claims, names[i]);
    const char *x5c0 = json_string_value(json_array_get(json_object_get(jwk, "x5c"), 0));
    uint8_t *der = NULL;
    size_t dlen = 0;
    X509 *cert = NULL;
    if (jwk == NULL) {
        att_reply_err(r, 400, "InvalidOperation", ATT_E_JWS_FORMAT,
                      "could not find the policyCertificate claim in the request token");
        goto out;
    }
    if (x5c0 == NULL || !att_b64_decode(x5c0, strlen(x5c0), true, &der, &dlen) ||
        (cert = att_cert_parse(der, dlen, "policyCertificate x5c[0]", &d)) == NULL) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_CERT_PARSE,
                      "the policyCertificate claim must be a JWK whose x5c[0] is a certificate");
        goto out;
    }
    char why[160];
    if (add && !att_signer_key_ok(cert, att_policy_signer_min_rsa_bits(svc), why, sizeof why)) {
        att_reply_err(r, 400, "InvalidParameter", ATT_E_CERT_KEY,
                      "the policy management certificate could never sign a policy: %s", why);
        goto out;
    }
    if (add)
        att_policy_signer_used(svc, cert, "certificates:add of a policy management certificate");
    bool seen = false;
    if (!att_request_authorised(svc, body, len, &j,
                                add ? ATT_SIGNED_CERT_ADD : ATT_SIGNED_CERT_REMOVE, NULL, &seen, r))
        goto out;
    char lower[41], thumb[41]; /* the store's key; the answer's x-ms-certificate-thumbprint */
    att_sha1_hex(cert, lower);
    for (int i = 0; i <= 40; i++)
        thumb[i] = (char)toupper((unsigned char)lower[i]);
    att_err_t e = ATT_OK;
    pthread_rwlock_wrlock(&svc->lock);
    int found = -1;
    for (int i = 0; i < sk_X509_num(svc->signers) && found < 0; i++)
        if (X509_cmp(sk_X509_value(svc->signers, i), cert) == 0)
            found = i;
    if (add && found < 0) {
        char *pem = att_cert_to_pem(cert);
        att_store_signer_t s = {lower, pem};
        e = pem ? att_store_signer_add(svc->store, &s, &d) : ATT_E_NOMEM;
        free(pem);
        if (e == ATT_OK) {
            X509_up_ref(cert);
            sk_X509_push(svc->signers, cert);
        }
    } else if (!add && found >= 0) {
        if (sk_X509_num(svc->signers) == 1) {
            e = ATT_E_UNSUPPORTED;
        } else if ((e = att_store_signer_remove(svc->store, lower, &d)) == ATT_OK) {
            X509_free(sk_X509_delete(svc->signers, found));
        }
    }
    pthread_rwlock_unlock(&svc->lock);
    if (e == ATT_E_UNSUPPORTED) {
        att_reply_err(r, 400, "InvalidOperation", e,
                      "the last policy management certificate cannot be removed");
        goto out;
    }
    if (e != ATT_OK) {
        att_reply_store_err(svc, r, e, "updating the policy management certificates failed: %s",
                            d.msg);
        goto out;
    }
    json_t *c = json_object();
    att_std_claims(svc, c);
    json_object_set_new(c, "x-ms-certificate-thumbprint", json_string(thumb));
    json_object_set_new(c, "x-ms-policycertificates-result",
                        json_string(add ? "IsPresent" : "IsAbsent"));
    att_reply_token(svc, c, r);
out:
    X509_free(cert);
    free(der);
    att_jws_clear(&j);
}

/* Another replica changed the policy management certificates: the set in force becomes the
 * store's (isolated mode only; a store that cannot be read, or a certificate that does not
 * parse, keeps the set in force; false when the store could not be read). */
bool att_signers_reload(att_svc_t *svc)
{
    if (!svc->isolated)
        return true;
    att_store_signer_t *s = NULL;
    size_t n = 0;
    att_diag_t d;
    if (att_store_signer_list(svc->store, &s, &n, &d) != ATT_OK)
        return false;
    STACK_OF(X509) *sk = sk_X509_new_null();
    bool ok = sk != NULL && n > 0;
    for (size_t i = 0; i < n && ok; i++) {
        X509 *c = att_cert_parse((const uint8_t *)s[i].cert_pem, strlen(s[i].cert_pem),
                                 "stored policy signer", &d);
        ok = c != NULL && sk_X509_push(sk, c) > 0;
        if (!ok)
            X509_free(c);
    }
    att_store_signers_free(s, n);
    if (!ok) {
        sk_X509_pop_free(sk, X509_free);
        return true; /* read, but not usable: a retry would read the same */
    }
    pthread_rwlock_wrlock(&svc->lock);
    STACK_OF(X509) *old = svc->signers;
    svc->signers = sk;
    pthread_rwlock_unlock(&svc->lock);
    sk_X509_pop_free(old, X509_free);
    return true;
}

/* Isolated mode: the signer set in the store, seeded from --isolated-signers on first start. */
att_err_t att_signers_init(att_svc_t *svc, att_diag_t *d)
{
    svc->signers = sk_X509_new_null();
    att_store_signer_t *s = NULL;
    size_t n = 0;
    att_err_t e = att_store_signer_list(svc->store, &s, &n, d);
    if (e != ATT_OK)
        return e;
    if (n == 0 && svc->o.isolated_signers != NULL) {
        uint8_t *buf;
        size_t len;
        if ((e = att_read_file(svc->o.isolated_signers, 1 << 20, &buf, &len, d)) != ATT_OK)
            return e;
        STACK_OF(X509) *sk =
            att_pem_chain(buf, len, 64, ATT_E_CERT_PARSE, "--isolated-signers file", d);
        free(buf);
        if (sk == NULL)
            return ATT_E_CERT_PARSE;
        for (int i = 0; i < sk_X509_num(sk) && e == ATT_OK; i++) {
            X509 *c = sk_X509_value(sk, i);
            char why[160];
            if (!att_signer_key_ok(c, att_policy_signer_min_rsa_bits(svc), why, sizeof why)) {
                e = att_diag_set(d, ATT_E_CERT_KEY,
                                 "--isolated-signers: certificate %d could "
                                 "never sign a policy: %s",
                                 i + 1, why);
                break;
            }
            att_policy_signer_used(svc, c, "--isolated-signers");
            char thumb[41], *pem = att_cert_to_pem(c);
            att_sha1_hex(c, thumb);
            att_store_signer_t ss = {thumb, pem};
            e = att_store_signer_add(svc->store, &ss, d);
            free(pem);
        }
        sk_X509_pop_free(sk, X509_free);
        if (e != ATT_OK)
            return e;
        if ((e = att_store_signer_list(svc->store, &s, &n, d)) != ATT_OK)
            return e;
    }
    for (size_t i = 0; i < n && e == ATT_OK; i++) {
        X509 *c = att_cert_parse((const uint8_t *)s[i].cert_pem, strlen(s[i].cert_pem),
                                 "stored policy signer", d);
        if (c == NULL)
            e = ATT_E_CERT_PARSE;
        else
            sk_X509_push(svc->signers, c);
    }
    att_store_signers_free(s, n);
    svc->isolated = sk_X509_num(svc->signers) > 0;
    return e;
}
