/* crypto.c - counted ECDSA verification and X.509 helpers on OpenSSL 3.
 *
 * Raw-signature verification (att_p256_*) uses OpenSSL's EC_KEY / ECDSA_do_verify, deprecated
 * in 3.0 but kept there: the EVP path costs a provider fetch, a context and a key import on
 * every call, which in OpenSSL 3.0 made a warm quote verification 3x the cost of its three
 * signature checks (measured with bench_dcap and perf). Certificates and CRLs use EVP as usual.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "crypto/crypto.h"

#include <pthread.h>

#include <stdatomic.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "core/util.h"

static atomic_uint_fast64_t att_verify_count;

uint64_t att_crypto_ecdsa_verify_count(void)
{
    return atomic_load(&att_verify_count);
}

static void att_count(void)
{
    atomic_fetch_add_explicit(&att_verify_count, 1, memory_order_relaxed);
}

static atomic_uint_fast64_t att_p384_count;

uint64_t att_crypto_p384_verify_count(void)
{
    return atomic_load(&att_p384_count);
}

struct att_p256 {
    EC_KEY *key;
};

static EC_GROUP *att_p256_group;
static pthread_once_t att_p256_once = PTHREAD_ONCE_INIT;

static void att_p256_init(void)
{
    att_p256_group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
}

/* From a SEC1 point encoding (uncompressed, compressed or hybrid, as OpenSSL's key decoders
 * take them). */
static att_p256_t *att_p256_from_oct(const uint8_t *point, size_t len)
{
    pthread_once(&att_p256_once, att_p256_init);
    if (att_p256_group == NULL)
        return NULL;
    att_p256_t *k = calloc(1, sizeof(*k));
    EC_POINT *pt = EC_POINT_new(att_p256_group);
    if (k == NULL || pt == NULL || (k->key = EC_KEY_new()) == NULL ||
        !EC_KEY_set_group(k->key, att_p256_group) ||
        /* oct2point rejects points that are not on the curve */
        !EC_POINT_oct2point(att_p256_group, pt, point, len, NULL) ||
        !EC_KEY_set_public_key(k->key, pt)) {
        EC_POINT_free(pt);
        att_p256_free(k);
        ERR_clear_error();
        return NULL;
    }
    EC_POINT_free(pt);
    return k;
}

att_p256_t *att_p256_from_raw(const uint8_t xy[64])
{
    uint8_t point[65];
    point[0] = 0x04;
    memcpy(point + 1, xy, 64);
    return att_p256_from_oct(point, sizeof(point));
}

att_p256_t *att_p256_from_pkey(EVP_PKEY *key)
{
    if (!att_key_is_p256(key))
        return NULL;
    att_p256_t *k = calloc(1, sizeof(*k));
    if (k == NULL || (k->key = EVP_PKEY_get1_EC_KEY(key)) == NULL) {
        free(k);
        return NULL;
    }
    return k;
}

void att_p256_free(att_p256_t *k)
{
    if (k == NULL)
        return;
    EC_KEY_free(k->key);
    free(k);
}

bool att_p256_verify(const att_p256_t *k, const uint8_t *msg, size_t len, const uint8_t sig[64])
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    att_count();
    if (k == NULL || SHA256(msg, len, digest) == NULL)
        return false;
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *sv = BN_bin2bn(sig + 32, 32, NULL);
    if (s == NULL || r == NULL || sv == NULL || !ECDSA_SIG_set0(s, r, sv)) {
        BN_free(r);
        BN_free(sv);
        ECDSA_SIG_free(s);
        return false;
    }
    int ok = ECDSA_do_verify(digest, sizeof(digest), s, k->key);
    ECDSA_SIG_free(s);
    ERR_clear_error();
    return ok == 1;
}

bool att_p384_verify_le(EC_KEY *key, const uint8_t *msg, size_t len, const uint8_t *r,
                        const uint8_t *s, size_t n)
{
    uint8_t digest[SHA384_DIGEST_LENGTH];
    att_count();
    atomic_fetch_add_explicit(&att_p384_count, 1, memory_order_relaxed);
    if (key == NULL || n > 72 || SHA384(msg, len, digest) == NULL)
        return false;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *rb = BN_lebin2bn(r, (int)n, NULL), *sb = BN_lebin2bn(s, (int)n, NULL);
    if (sig == NULL || rb == NULL || sb == NULL || !ECDSA_SIG_set0(sig, rb, sb)) {
        BN_free(rb);
        BN_free(sb);
        ECDSA_SIG_free(sig);
        return false;
    }
    int ok = ECDSA_do_verify(digest, sizeof(digest), sig, key);
    ECDSA_SIG_free(sig);
    ERR_clear_error();
    return ok == 1;
}

bool att_key_is_p256(EVP_PKEY *key)
{
    char group[32];
    size_t glen = 0;
    if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return false;
    if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                        &glen))
        return false;
    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

bool att_sha256_2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
              EVP_DigestUpdate(md, a, alen) && EVP_DigestUpdate(md, b, blen) &&
              EVP_DigestFinal_ex(md, out, &n) && n == 32;
    EVP_MD_CTX_free(md);
    return ok;
}

bool att_x509_sig_ok(X509 *cert, EVP_PKEY *issuer_key)
{
    att_count();
    return X509_verify(cert, issuer_key) == 1;
}

bool att_crl_sig_ok(X509_CRL *crl, EVP_PKEY *issuer_key)
{
    att_count();
    return X509_CRL_verify(crl, issuer_key) == 1;
}

bool att_asn1_time(const ASN1_TIME *t, att_time_t *out)
{
    struct tm tm;
    if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
        return false;
    int day, sec;
    /* Difference from the epoch, without timegm's TZ machinery. */
    ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
    if (epoch == NULL)
        return false;
    int ok = ASN1_TIME_diff(&day, &sec, epoch, t);
    ASN1_TIME_free(epoch);
    if (!ok)
        return false;
    *out = (att_time_t)day * 86400 + sec;
    return true;
}

void att_x509_cn(const X509_NAME *name, char *buf, size_t len)
{
    buf[0] = '\0';
    int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (idx < 0)
        return;
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    size_t n = (size_t)ASN1_STRING_length(s);
    if (n >= len)
        n = len - 1;
    memcpy(buf, ASN1_STRING_get0_data(s), n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e)
            buf[i] = '?';
}

void att_x509_name_str(const X509_NAME *name, char *buf, size_t len)
{
    buf[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return;
    X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    int n = BIO_read(b, buf, (int)len - 1);
    buf[n > 0 ? n : 0] = '\0';
    BIO_free(b);
}

void att_x509_serial_hex(const ASN1_INTEGER *serial, char *buf, size_t len)
{
    buf[0] = '\0';
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex != NULL) {
        size_t i = 0;
        for (; hex[i] && i + 1 < len; i++)
            buf[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] + 32 : hex[i]);
        buf[i] = '\0';
    }
    OPENSSL_free(hex);
    BN_free(bn);
}

STACK_OF(X509) * att_pem_chain(const uint8_t *text, size_t len, size_t max, att_err_t err,
                               const char *what, att_diag_t *diag)
{
    const void *nul = memchr(text, 0, len);
    if (nul != NULL)
        len = (size_t)((const uint8_t *)nul - text);
    if (len > INT32_MAX) {
        att_diag_set(diag, err, "%s is too large", what);
        return NULL;
    }
    BIO *b = BIO_new_mem_buf(text, (int)len);
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (b == NULL || sk == NULL) {
        BIO_free(b);
        sk_X509_free(sk);
        att_diag_set(diag, ATT_E_NOMEM, "out of memory parsing %s", what);
        return NULL;
    }
    for (;;) {
        X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (x == NULL)
            break;
        if ((size_t)sk_X509_num(sk) == max || !sk_X509_push(sk, x)) {
            X509_free(x);
            att_diag_set(diag, err, "%s holds more than %zu certificates", what, max);
            goto fail;
        }
    }
    /* The loop ends at EOF (PEM skips text between blocks, as PCS chains have none) or at a
     * block that does not parse: only the latter is an error. */
    unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    if (e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
        att_diag_set(diag, err, "%s: a PEM certificate cannot be parsed (%s)", what,
                     ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "?");
        goto fail;
    }
    if (sk_X509_num(sk) == 0) {
        att_diag_set(diag, err, "%s holds no PEM certificate", what);
        goto fail;
    }
    BIO_free(b);
    return sk;
fail:
    BIO_free(b);
    sk_X509_pop_free(sk, X509_free);
    return NULL;
}

static bool att_looks_pem(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '-')
            return true;
        if (buf[i] != ' ' && buf[i] != '\n' && buf[i] != '\r' && buf[i] != '\t')
            return false;
    }
    return false;
}

/* A DER CRL that fills buf[0..len) exactly. `where` says where the DER was ("" or "inside its
 * PEM block") for the message. */
static X509_CRL *att_crl_der(const uint8_t *buf, size_t len, const char *what, const char *where,
                             att_diag_t *diag)
{
    const unsigned char *p = buf;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
    ERR_clear_error();
    if (crl == NULL) {
        att_diag_set(diag, ATT_E_CRL_PARSE, "%s is not a DER or PEM CRL", what);
        return NULL;
    }
    if (p != buf + len) {
        X509_CRL_free(crl);
        att_diag_set(diag, ATT_E_CRL_PARSE, "%s has %zu bytes after the DER CRL%s", what,
                     (size_t)(buf + len - p), where);
        return NULL;
    }
    return crl;
}

X509_CRL *att_crl_parse(const uint8_t *buf, size_t len, const char *what, att_diag_t *diag)
{
    if (buf == NULL || len == 0 || len > INT32_MAX) {
        att_diag_set(diag, ATT_E_CRL_PARSE, "%s is empty or too large", what);
        return NULL;
    }
    if (!att_looks_pem(buf, len))
        return att_crl_der(buf, len, what, "", diag);
    /* PEM: exactly one "X509 CRL" block with no headers, only whitespace (or NULs) after it. */
    X509_CRL *crl = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long dlen = 0;
    BIO *b = BIO_new_mem_buf(buf, (int)len);
    if (b == NULL) {
        att_diag_set(diag, ATT_E_NOMEM, "out of memory parsing %s", what);
        return NULL;
    }
    if (PEM_read_bio(b, &name, &header, &der, &dlen) != 1 || dlen <= 0) {
        att_diag_set(diag, ATT_E_CRL_PARSE, "%s is not a DER or PEM CRL", what);
    } else if (strcmp(name, PEM_STRING_X509_CRL) != 0 || header[0] != '\0') {
        /* The label is the sender's text: not echoed. */
        att_diag_set(
            diag, ATT_E_CRL_PARSE,
            "%s: its PEM block is not one \"" PEM_STRING_X509_CRL "\" block without headers", what);
    } else {
        const uint8_t *rest;
        long n = BIO_get_mem_data(b, (char **)&rest);
        size_t junk = 0;
        for (long i = 0; i < n; i++)
            junk += !(rest[i] == 0 || rest[i] == ' ' || rest[i] == '\n' || rest[i] == '\r' ||
                      rest[i] == '\t');
        if (junk > 0)
            att_diag_set(diag, ATT_E_CRL_PARSE,
                         "%s has %zu bytes other than whitespace after "
                         "its PEM block",
                         what, junk);
        else
            crl = att_crl_der(der, (size_t)dlen, what, " inside its PEM block", diag);
    }
    ERR_clear_error();
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(b);
    return crl;
}

X509 *att_cert_parse(const uint8_t *buf, size_t len, const char *what, att_diag_t *diag)
{
    X509 *x = NULL;
    if (len == 0 || len > INT32_MAX) {
        att_diag_set(diag, ATT_E_CERT_PARSE, "%s is empty or too large", what);
        return NULL;
    }
    if (att_looks_pem(buf, len)) {
        BIO *b = BIO_new_mem_buf(buf, (int)len);
        x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
    } else {
        const unsigned char *p = buf;
        x = d2i_X509(NULL, &p, (long)len);
    }
    ERR_clear_error();
    if (x == NULL)
        att_diag_set(diag, ATT_E_CERT_PARSE, "%s is not a DER or PEM certificate", what);
    return x;
}

/* ---- the fast route for a chain's leaf ------------------------------------------------------ */

static const char att_pem_begin[] = "-----BEGIN CERTIFICATE-----";
static const char att_pem_end[] = "-----END CERTIFICATE-----";

static bool att_is_space(uint8_t c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static const uint8_t *att_find(const uint8_t *p, const uint8_t *end, const char *s)
{
    size_t n = strlen(s);
    for (; (size_t)(end - p) >= n; p++)
        if (*p == (uint8_t)s[0] && memcmp(p, s, n) == 0)
            return p;
    return NULL;
}

size_t att_pem_certs_der(const uint8_t *text, size_t len, size_t max, uint8_t **der, size_t *off,
                         size_t *lens)
{
    *der = NULL;
    const void *nul = memchr(text, 0, len);
    if (nul != NULL)
        len = (size_t)((const uint8_t *)nul - text);
    if (len > INT32_MAX || (*der = malloc(len / 4 * 3 + 3)) == NULL)
        return 0;
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    const uint8_t *p = text, *end = text + len;
    size_t n = 0, used = 0;
    bool ok = ctx != NULL;
    while (ok) {
        while (p < end && att_is_space(*p))
            p++;
        if (p == end)
            break;
        const uint8_t *body = p + sizeof(att_pem_begin) - 1, *stop;
        /* a block starts here, with its line ending, and ends with its own line */
        ok = n < max && (size_t)(end - p) > sizeof(att_pem_begin) &&
             memcmp(p, att_pem_begin, sizeof(att_pem_begin) - 1) == 0 &&
             (*body == '\n' || *body == '\r') && (stop = att_find(body, end, att_pem_end)) != NULL;
        if (!ok)
            break;
        /* the body: base64 lines only (EVP_DecodeUpdate refuses other characters, headers
         * included, and stops at padding); nothing but white space may follow it */
        for (const uint8_t *c = body; ok && c < stop; c++)
            ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                 *c == '+' || *c == '/' || *c == '=' || att_is_space(*c);
        int outl = 0, finl = 0, r = -1;
        if (!ok)
            break;
        EVP_DecodeInit(ctx);
        r = EVP_DecodeUpdate(ctx, *der + used, &outl, body, (int)(stop - body));
        ok = r >= 0 && EVP_DecodeFinal(ctx, *der + used + outl, &finl) == 1 && outl + finl > 0 &&
             (size_t)(outl + finl) <= ATT_PEM_CERT_MAX;
        if (!ok)
            break;
        off[n] = used;
        lens[n] = (size_t)(outl + finl);
        used += lens[n];
        n++;
        p = stop + sizeof(att_pem_end) - 1;
    }
    EVP_ENCODE_CTX_free(ctx);
    if (!ok || n == 0) {
        free(*der);
        *der = NULL;
        return 0;
    }
    return n;
}

/* A library context with only the null provider: a certificate parsed in it finds no decoder
 * for its key (d2i decodes keys opportunistically, and leaves them undecoded when it cannot). */
static OSSL_LIB_CTX *att_nokey_ctx;
static pthread_once_t att_nokey_once = PTHREAD_ONCE_INIT;

static void att_nokey_init(void)
{
    OSSL_LIB_CTX *c = OSSL_LIB_CTX_new();
    if (c != NULL && OSSL_PROVIDER_load(c, "null") != NULL)
        att_nokey_ctx = c;
    else
        OSSL_LIB_CTX_free(c);
    ERR_clear_error();
}

X509 *att_x509_der_nokey(const uint8_t *der, size_t len)
{
    pthread_once(&att_nokey_once, att_nokey_init);
    if (att_nokey_ctx == NULL || len == 0 || len > INT32_MAX)
        return NULL;
    X509 *x = X509_new_ex(att_nokey_ctx, NULL);
    const unsigned char *p = der;
    /* The extensions are cached here, once: the first caching in this context reports a
     * failure (no SHA-1 for the certificate's fingerprint: EXFLAG_NO_FINGERPRINT, which is why
     * X509_cmp must not see it) after caching everything else; an invalid certificate is
     * refused here, and its verdict is the general parser's. */
    if (x == NULL || d2i_X509(&x, &p, (long)len) == NULL || p != der + len ||
        (X509_get_extension_flags(x) & EXFLAG_INVALID) != 0) {
        X509_free(x); /* NULL when d2i freed it */
        ERR_clear_error();
        return NULL;
    }
    ERR_clear_error();
    return x;
}

att_p256_t *att_p256_from_cert(X509 *cert)
{
    ASN1_OBJECT *alg = NULL;
    const unsigned char *pt = NULL;
    int ptlen = 0, ptype = 0;
    X509_ALGOR *a = NULL;
    const void *pval = NULL;
    X509_PUBKEY *pk = cert ? X509_get_X509_PUBKEY(cert) : NULL;
    if (pk == NULL || !X509_PUBKEY_get0_param(&alg, &pt, &ptlen, &a, pk) || a == NULL ||
        OBJ_obj2nid(alg) != NID_X9_62_id_ecPublicKey || ptlen <= 0)
        return NULL;
    X509_ALGOR_get0(NULL, &ptype, &pval, a);
    if (ptype != V_ASN1_OBJECT || OBJ_obj2nid(pval) != NID_X9_62_prime256v1)
        return NULL;
    return att_p256_from_oct(pt, (size_t)ptlen);
}

/* The TBSCertificate of a certificate's DER: the first element of its outer SEQUENCE. */
static bool att_tbs(const uint8_t *der, size_t len, const uint8_t **tbs, size_t *tbs_len)
{
    const unsigned char *p = der;
    long n = 0;
    int tag = 0, cls = 0;
    if (len > INT32_MAX || ASN1_get_object(&p, &n, &tag, &cls, (long)len) != V_ASN1_CONSTRUCTED ||
        tag != V_ASN1_SEQUENCE)
        return false;
    const unsigned char *start = p;
    if (ASN1_get_object(&p, &n, &tag, &cls, (long)(der + len - p)) != V_ASN1_CONSTRUCTED ||
        tag != V_ASN1_SEQUENCE)
        return false;
    *tbs = start;
    *tbs_len = (size_t)(p - start) + (size_t)n;
    return true;
}

bool att_x509_sig_ok_p256(X509 *cert, const uint8_t *der, size_t len, const att_p256_t *issuer)
{
    const ASN1_BIT_STRING *sig = NULL;
    const X509_ALGOR *alg = NULL;
    const uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    uint8_t rs[64];
    X509_get0_signature(&sig, &alg, cert);
    bool ok = sig != NULL && alg != NULL && (sig->flags & 0x7) == 0 &&
              OBJ_obj2nid(alg->algorithm) == NID_ecdsa_with_SHA256 &&
              X509_ALGOR_cmp(alg, X509_get0_tbs_sigalg(cert)) == 0 &&
              att_tbs(der, len, &tbs, &tbs_len);
    ECDSA_SIG *es = NULL;
    if (ok) {
        const unsigned char *p = ASN1_STRING_get0_data(sig);
        int n = ASN1_STRING_length(sig);
        unsigned char *re = NULL;
        es = d2i_ECDSA_SIG(NULL, &p, n);
        /* canonical DER only, as OpenSSL's ECDSA_verify requires */
        int rl = es ? i2d_ECDSA_SIG(es, &re) : -1;
        ok = es != NULL && rl == n && memcmp(re, ASN1_STRING_get0_data(sig), (size_t)n) == 0 &&
             BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32) == 32 &&
             BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32) == 32;
        OPENSSL_free(re);
    }
    ECDSA_SIG_free(es);
    ERR_clear_error();
    if (!ok) {
        att_count(); /* a check that was asked for, as att_x509_sig_ok counts its failures */
        return false;
    }
    return att_p256_verify(issuer, tbs, tbs_len, rs);
}
