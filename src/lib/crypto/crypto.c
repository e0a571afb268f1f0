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
#include <openssl/sha.h>

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

att_p256_t *att_p256_from_raw(const uint8_t xy[64])
{
    uint8_t point[65];
    point[0] = 0x04;
    memcpy(point + 1, xy, 64);
    pthread_once(&att_p256_once, att_p256_init);
    if (att_p256_group == NULL)
        return NULL;
    att_p256_t *k = calloc(1, sizeof(*k));
    EC_POINT *pt = EC_POINT_new(att_p256_group);
    if (k == NULL || pt == NULL || (k->key = EC_KEY_new()) == NULL ||
        !EC_KEY_set_group(k->key, att_p256_group) ||
        /* oct2point rejects points that are not on the curve */
        !EC_POINT_oct2point(att_p256_group, pt, point, sizeof(point), NULL) ||
        !EC_KEY_set_public_key(k->key, pt)) {
        EC_POINT_free(pt);
        att_p256_free(k);
        ERR_clear_error();
        return NULL;
    }
    EC_POINT_free(pt);
    return k;
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
