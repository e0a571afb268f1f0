/* hsm.c - the token signing key in an HSM through PKCS#11 (see hsm.h). p11-kit parses the
 * RFC 7512 URI and loads the module; everything else is the PKCS#11 API itself. */
#include "hsm.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>

#define ATT_HSM_MAX_SESSIONS 64
#define ATT_HSM_MAX_ATTR     16384 /* largest attribute read (a certificate) */

struct att_hsm {
    CK_FUNCTION_LIST **mods; /* p11-kit's registered modules (no module-path), or NULL */
    CK_FUNCTION_LIST *one;   /* the module-path module, or NULL */
    CK_FUNCTION_LIST *f;     /* the module holding the token */
    CK_SLOT_ID slot;
    CK_OBJECT_HANDLE key;
    CK_KEY_TYPE ktype;
    EVP_PKEY *pub;
    X509 *cert;
    char *uri;       /* without pin-value */
    char token[33];  /* the token's label, for messages */
    char object[80]; /* object=/id= as given, for messages */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    CK_SESSION_HANDLE sess[ATT_HSM_MAX_SESSIONS];
    bool busy[ATT_HSM_MAX_SESSIONS];
    unsigned nsess, nfree;
    bool logged_in;
    uint64_t signs, waits;
};

/* The names of the return values an operator may meet. */
static const char *att_ckr_name(CK_RV rv)
{
    static const struct {
        CK_RV rv;
        const char *name;
    } t[] = {
        {CKR_OK, "CKR_OK"},
        {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
        {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"},
        {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"},
        {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
        {CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY"},
        {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"},
        {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"},
        {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT"},
        {CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED"},
        {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
        {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID"},
        {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"},
        {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
        {CKR_PIN_INVALID, "CKR_PIN_INVALID"},
        {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE"},
        {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED"},
        {CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
        {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED"},
        {CKR_SESSION_COUNT, "CKR_SESSION_COUNT"},
        {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
        {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
        {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED"},
        {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
        {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED"},
        {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
        {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"},
        {CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].rv == rv)
            return t[i].name;
    return "CKR_?";
}

static att_err_t att_hsm_fail(att_diag_t *d, CK_RV rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static att_err_t att_hsm_fail(att_diag_t *d, CK_RV rv, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return att_diag_set(d, ATT_E_KEY, "%s: %s (0x%lx, %s)", what, att_ckr_name(rv),
                        (unsigned long)rv, p11_kit_strerror(rv));
}

/* A blank-padded PKCS#11 label as a C string. */
static void att_hsm_label(const CK_UTF8CHAR *l, size_t n, char *out)
{
    while (n > 0 && l[n - 1] == ' ')
        n--;
    memcpy(out, l, n);
    out[n] = '\0';
}

/* Read attribute type of obj into a malloc'd buffer (*len bytes); false when it has none. */
static bool att_hsm_attr(att_hsm_t *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
                         CK_ATTRIBUTE_TYPE type, uint8_t **out, size_t *len)
{
    CK_ATTRIBUTE a = {type, NULL, 0};
    *out = NULL;
    if (h->f->C_GetAttributeValue(s, obj, &a, 1) != CKR_OK || a.ulValueLen == 0 ||
        a.ulValueLen == (CK_ULONG)-1 || a.ulValueLen > ATT_HSM_MAX_ATTR)
        return false;
    if ((a.pValue = malloc(a.ulValueLen)) == NULL)
        return false;
    if (h->f->C_GetAttributeValue(s, obj, &a, 1) != CKR_OK) {
        free(a.pValue);
        return false;
    }
    *out = a.pValue;
    *len = a.ulValueLen;
    return true;
}

/* Up to max objects matching tmpl; their number in *n. */
static CK_RV att_hsm_find(att_hsm_t *h, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG nt,
                          CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *n)
{
    *n = 0;
    CK_RV rv = h->f->C_FindObjectsInit(s, tmpl, nt);
    if (rv != CKR_OK)
        return rv;
    rv = h->f->C_FindObjects(s, objs, max, n);
    h->f->C_FindObjectsFinal(s);
    return rv;
}

static EVP_PKEY *att_hsm_rsa_pub(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen)
{
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *p = NULL;
    EVP_PKEY_CTX *c = NULL;
    EVP_PKEY *k = NULL;
    if (bn && be && b && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be) == 1 &&
        (p = OSSL_PARAM_BLD_to_param(b)) != NULL &&
        (c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) != NULL &&
        EVP_PKEY_fromdata_init(c) == 1)
        EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p);
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    BN_free(bn);
    BN_free(be);
    return k;
}

/* CKA_EC_PARAMS must be P-256's OID; CKA_EC_POINT is a DER OCTET STRING holding the point (some
 * modules give the bare point). */
static EVP_PKEY *att_hsm_ec_pub(const uint8_t *params, size_t plen, const uint8_t *pt, size_t len)
{
    static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    if (plen != sizeof p256 || memcmp(params, p256, plen) != 0)
        return NULL;
    const uint8_t *q = pt;
    size_t qlen = len;
    if (len == 67 && pt[0] == 0x04 && pt[1] == 65) { /* OCTET STRING of 65 bytes */
        q = pt + 2;
        qlen = 65;
    }
    if (qlen != 65 || q[0] != 0x04)
        return NULL;
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *p = NULL;
    EVP_PKEY_CTX *c = NULL;
    EVP_PKEY *k = NULL;
    if (b && OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, q, qlen) == 1 &&
        (p = OSSL_PARAM_BLD_to_param(b)) != NULL &&
        (c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL &&
        EVP_PKEY_fromdata_init(c) == 1)
        EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p);
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    return k;
}

/* The PIN of pin-source: the first line of a file (a path or a file: URI) others cannot read. */
static att_err_t att_hsm_pin_file(const char *src, char pin[ATT_HSM_PIN_MAX + 1], att_diag_t *d)
{
    const char *path = src;
    if (strncmp(path, "file://", 7) == 0)
        path += 7;
    else if (strncmp(path, "file:", 5) == 0)
        path += 5;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return att_diag_set(d, ATT_E_IO, "--signing-key pin-source %s: %s", path, strerror(errno));
    struct stat st;
    att_err_t e = ATT_OK;
    ssize_t n = 0;
    if (fstat(fd, &st) != 0)
        e = att_diag_set(d, ATT_E_IO, "--signing-key pin-source %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        e = att_diag_set(d, ATT_E_ARG, "--signing-key pin-source %s is not a regular file", path);
    else if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP))
        e = att_diag_set(d, ATT_E_ARG,
                         "--signing-key pin-source %s holds the HSM PIN and is %s other users "
                         "(mode %04o): run chmod 600 %s",
                         path, st.st_mode & (S_IWOTH | S_IWGRP) ? "writable by" : "readable by",
                         (unsigned)st.st_mode & 07777, path);
    else if ((n = read(fd, pin, ATT_HSM_PIN_MAX + 1)) < 0)
        e = att_diag_set(d, ATT_E_IO, "--signing-key pin-source %s: %s", path, strerror(errno));
    close(fd);
    if (e != ATT_OK)
        return e;
    size_t got = n > 0 ? (size_t)n : 0;
    const char *nl = memchr(pin, '\n', got);
    size_t len = nl ? (size_t)(nl - pin) : got;
    if (len > 0 && pin[len - 1] == '\r')
        len--;
    if (len > ATT_HSM_PIN_MAX)
        return att_diag_set(d, ATT_E_ARG,
                            "--signing-key pin-source %s: its first line is longer than %d bytes",
                            path, ATT_HSM_PIN_MAX);
    pin[len] = '\0';
    if (pin[0] == '\0')
        return att_diag_set(d, ATT_E_ARG, "--signing-key pin-source %s holds no PIN", path);
    return ATT_OK;
}

/* The modules the URI allows, loaded and initialised into h. */
static att_err_t att_hsm_load(att_hsm_t *h, P11KitUri *uri, att_diag_t *d)
{
    const char *path = p11_kit_uri_get_module_path(uri);
    if (path != NULL) {
        if ((h->one = p11_kit_module_load(path, 0)) == NULL)
            return att_diag_set(d, ATT_E_KEY, "--signing-key module-path %s cannot be loaded: %s",
                                path, p11_kit_message() ? p11_kit_message() : "unknown error");
        CK_RV rv = p11_kit_module_initialize(h->one);
        if (rv != CKR_OK) {
            p11_kit_module_release(h->one);
            h->one = NULL;
            return att_hsm_fail(d, rv, "--signing-key module %s does not initialise", path);
        }
        return ATT_OK;
    }
    h->mods = p11_kit_modules_load_and_initialize(0);
    if (h->mods == NULL || h->mods[0] == NULL)
        return att_diag_set(d, ATT_E_KEY,
                            "--signing-key names no module-path and p11-kit has no registered "
                            "PKCS#11 module%s%s",
                            p11_kit_message() ? ": " : "",
                            p11_kit_message() ? p11_kit_message() : "");
    return ATT_OK;
}

/* The one token the URI names: h->f and h->slot. */
static att_err_t att_hsm_token(att_hsm_t *h, P11KitUri *uri, att_diag_t *d)
{
    CK_FUNCTION_LIST *one[] = {h->one, NULL}, **mods = h->one ? one : h->mods;
    const char *name = p11_kit_uri_get_module_name(uri);
    CK_SLOT_ID want_slot = p11_kit_uri_get_slot_id(uri);
    unsigned found = 0;
    char seen[256] = "";
    for (size_t m = 0; mods[m] != NULL; m++) {
        CK_FUNCTION_LIST *f = mods[m];
        if (name != NULL && h->one == NULL) {
            char *mn = p11_kit_module_get_name(f);
            bool same = mn != NULL && strcmp(mn, name) == 0;
            free(mn);
            if (!same)
                continue;
        }
        CK_INFO mi;
        if (f->C_GetInfo(&mi) != CKR_OK || p11_kit_uri_match_module_info(uri, &mi) != 1)
            continue;
        CK_SLOT_ID slots[64];
        CK_ULONG n = sizeof slots / sizeof slots[0];
        if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
            continue;
        for (CK_ULONG i = 0; i < n; i++) {
            CK_TOKEN_INFO ti;
            CK_SLOT_INFO si;
            if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
                f->C_GetSlotInfo(slots[i], &si) != CKR_OK)
                continue;
            char label[33];
            att_hsm_label(ti.label, sizeof ti.label, label);
            size_t sl = strlen(seen);
            if (sl + strlen(label) + 4 < sizeof seen)
                snprintf(seen + sl, sizeof seen - sl, "%s\"%s\"", sl ? ", " : "", label);
            if (p11_kit_uri_match_token_info(uri, &ti) != 1 ||
                p11_kit_uri_match_slot_info(uri, &si) != 1 ||
                (want_slot != (CK_SLOT_ID)-1 && want_slot != slots[i]))
                continue;
            if (found++ == 0) {
                h->f = f;
                h->slot = slots[i];
                memcpy(h->token, label, sizeof label);
            }
        }
    }
    if (found == 0)
        return att_diag_set(d, ATT_E_KEY,
                            "--signing-key: no PKCS#11 token matches %s (tokens present: %s)",
                            h->uri, seen[0] ? seen : "none");
    if (found > 1)
        return att_diag_set(d, ATT_E_KEY,
                            "--signing-key: %u PKCS#11 tokens match %s (%s): name one with token= "
                            "or serial=",
                            found, h->uri, seen);
    return ATT_OK;
}

/* Log in with the URI's PIN (when there is one, or the token needs one). */
static att_err_t att_hsm_login(att_hsm_t *h, CK_SESSION_HANDLE s, P11KitUri *uri, att_diag_t *d)
{
    const char *value = p11_kit_uri_get_pin_value(uri);
    const char *source = p11_kit_uri_get_pin_source(uri);
    CK_TOKEN_INFO ti;
    CK_RV rv = h->f->C_GetTokenInfo(h->slot, &ti);
    if (rv != CKR_OK)
        return att_hsm_fail(d, rv, "--signing-key: token \"%s\" cannot be read", h->token);
    if (value != NULL && source != NULL)
        return att_diag_set(d, ATT_E_ARG,
                            "--signing-key has both pin-value and pin-source: give one");
    if (value == NULL && source == NULL) {
        if (ti.flags & CKF_LOGIN_REQUIRED)
            return att_diag_set(d, ATT_E_KEY,
                                "--signing-key: token \"%s\" needs a PIN: add "
                                "pin-source=FILE (or pin-value=) to the URI",
                                h->token);
        return ATT_OK;
    }
    char pin[ATT_HSM_PIN_MAX + 1];
    att_err_t e = ATT_OK;
    if (value != NULL) {
        if (strlen(value) > ATT_HSM_PIN_MAX)
            return att_diag_set(d, ATT_E_ARG, "--signing-key pin-value is longer than %d bytes",
                                ATT_HSM_PIN_MAX);
        snprintf(pin, sizeof pin, "%s", value);
    } else if ((e = att_hsm_pin_file(source, pin, d)) != ATT_OK) {
        OPENSSL_cleanse(pin, sizeof pin);
        return e;
    }
    rv = h->f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
    OPENSSL_cleanse(pin, sizeof pin);
    if (rv == CKR_USER_ALREADY_LOGGED_IN)
        rv = CKR_OK;
    if (rv == CKR_PIN_INCORRECT)
        return att_hsm_fail(d, rv, "--signing-key: the PIN is wrong for token \"%s\"", h->token);
    if (rv != CKR_OK)
        return att_hsm_fail(d, rv, "--signing-key: logging in to token \"%s\" failed", h->token);
    h->logged_in = true;
    return ATT_OK;
}

/* The private key the URI names, its type, and its public half. */
static att_err_t att_hsm_key(att_hsm_t *h, CK_SESSION_HANDLE s, P11KitUri *uri, att_diag_t *d)
{
    CK_ULONG nattrs = 0;
    CK_ATTRIBUTE *attrs = p11_kit_uri_get_attributes(uri, &nattrs);
    CK_ATTRIBUTE tmpl[8];
    CK_ULONG nt = 0;
    CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
    bool named = false;
    for (CK_ULONG i = 0; i < nattrs && nt < 7; i++) {
        if (attrs[i].type == CKA_CLASS) {
            if (attrs[i].ulValueLen != sizeof(CK_OBJECT_CLASS) ||
                *(CK_OBJECT_CLASS *)attrs[i].pValue != CKO_PRIVATE_KEY)
                return att_diag_set(d, ATT_E_ARG,
                                    "--signing-key type= must be private (the signing key)");
            continue;
        }
        named |= attrs[i].type == CKA_LABEL || attrs[i].type == CKA_ID;
        tmpl[nt++] = attrs[i];
    }
    if (!named)
        return att_diag_set(d, ATT_E_ARG,
                            "--signing-key %s names no key: add object=LABEL or id=%%XX", h->uri);
    tmpl[nt++] = (CK_ATTRIBUTE){CKA_CLASS, &priv, sizeof priv};
    CK_OBJECT_HANDLE objs[2];
    CK_ULONG n = 0;
    CK_RV rv = att_hsm_find(h, s, tmpl, nt, objs, 2, &n);
    if (rv != CKR_OK)
        return att_hsm_fail(d, rv, "--signing-key: searching token \"%s\" for %s failed", h->token,
                            h->object);
    if (n == 0)
        return att_diag_set(d, ATT_E_KEY, "--signing-key: token \"%s\" has no private key %s%s",
                            h->token, h->object,
                            h->logged_in ? "" : " (not logged in: is a PIN missing?)");
    if (n > 1)
        return att_diag_set(d, ATT_E_KEY,
                            "--signing-key: token \"%s\" has several private keys %s: add id= "
                            "to name one",
                            h->token, h->object);
    h->key = objs[0];
    CK_ATTRIBUTE kt = {CKA_KEY_TYPE, &h->ktype, sizeof h->ktype};
    if ((rv = h->f->C_GetAttributeValue(s, h->key, &kt, 1)) != CKR_OK)
        return att_hsm_fail(d, rv, "--signing-key: the type of key %s cannot be read", h->object);
    if (h->ktype != CKK_RSA && h->ktype != CKK_EC)
        return att_diag_set(d, ATT_E_KEY,
                            "--signing-key: key %s on token \"%s\" is neither RSA nor EC",
                            h->object, h->token);
    uint8_t *id = NULL;
    size_t idlen = 0;
    att_hsm_attr(h, s, h->key, CKA_ID, &id, &idlen);
    /* a certificate object with the key's id, whose key is this one */
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE, pubcls = CKO_PUBLIC_KEY;
    CK_ATTRIBUTE ct[2] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_ID, id, idlen}};
    CK_OBJECT_HANDLE certs[4];
    if (id != NULL && att_hsm_find(h, s, ct, 2, certs, 4, &n) == CKR_OK) {
        for (CK_ULONG i = 0; i < n && h->cert == NULL; i++) {
            uint8_t *der = NULL;
            size_t dl = 0;
            if (!att_hsm_attr(h, s, certs[i], CKA_VALUE, &der, &dl))
                continue;
            const unsigned char *p = der;
            h->cert = d2i_X509(NULL, &p, (long)dl);
            free(der);
        }
    }
    /* the public key: a public key object with the id, else (RSA) the private object */
    uint8_t *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    CK_OBJECT_HANDLE pubs[1];
    CK_ATTRIBUTE pt[2] = {{CKA_CLASS, &pubcls, sizeof pubcls}, {CKA_ID, id, idlen}};
    CK_OBJECT_HANDLE from = CK_INVALID_HANDLE;
    if (id != NULL && att_hsm_find(h, s, pt, 2, pubs, 1, &n) == CKR_OK && n == 1)
        from = pubs[0];
    else if (h->ktype == CKK_RSA)
        from = h->key;
    if (from != CK_INVALID_HANDLE && h->ktype == CKK_RSA &&
        att_hsm_attr(h, s, from, CKA_MODULUS, &a, &al) &&
        att_hsm_attr(h, s, from, CKA_PUBLIC_EXPONENT, &b, &bl))
        h->pub = att_hsm_rsa_pub(a, al, b, bl);
    else if (from != CK_INVALID_HANDLE && h->ktype == CKK_EC &&
             att_hsm_attr(h, s, from, CKA_EC_PARAMS, &a, &al) &&
             att_hsm_attr(h, s, from, CKA_EC_POINT, &b, &bl))
        h->pub = att_hsm_ec_pub(a, al, b, bl);
    free(a);
    free(b);
    free(id);
    if (h->pub == NULL && h->cert != NULL && X509_get0_pubkey(h->cert) != NULL)
        h->pub = EVP_PKEY_dup(X509_get0_pubkey(h->cert));
    ERR_clear_error();
    if (h->pub == NULL)
        return att_diag_set(d, ATT_E_KEY,
                            "--signing-key: no public key for %s on token \"%s\" (%s): put its "
                            "public key or certificate on the token with the same id",
                            h->object, h->token,
                            h->ktype == CKK_EC ? "an EC key must be P-256" : "RSA");
    if (h->cert != NULL && EVP_PKEY_eq(X509_get0_pubkey(h->cert), h->pub) != 1) {
        X509_free(h->cert); /* a certificate of another key with this id: not ours */
        h->cert = NULL;
    }
    ERR_clear_error();
    return ATT_OK;
}

att_err_t att_hsm_open(const char *uristr, unsigned sessions, att_hsm_t **out, att_diag_t *d)
{
    *out = NULL;
    if (sessions < 1 || sessions > ATT_HSM_MAX_SESSIONS)
        return att_diag_set(d, ATT_E_ARG, "HSM sessions must be between 1 and %d",
                            ATT_HSM_MAX_SESSIONS);
    P11KitUri *uri = p11_kit_uri_new();
    if (uri == NULL)
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    int prc = p11_kit_uri_parse(uristr, P11_KIT_URI_FOR_ANY, uri);
    if (prc != P11_KIT_URI_OK) {
        p11_kit_uri_free(uri);
        return att_diag_set(d, ATT_E_ARG, "--signing-key is not an RFC 7512 pkcs11: URI: %s",
                            p11_kit_uri_message(prc));
    }
    att_hsm_t *h = calloc(1, sizeof *h);
    if (h == NULL) {
        p11_kit_uri_free(uri);
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    /* the URI to show and store: everything but the PIN value */
    char *pin_value =
        p11_kit_uri_get_pin_value(uri) ? strdup(p11_kit_uri_get_pin_value(uri)) : NULL;
    p11_kit_uri_set_pin_value(uri, NULL);
    char *shown = NULL;
    if (p11_kit_uri_format(uri, P11_KIT_URI_FOR_ANY, &shown) == P11_KIT_URI_OK) {
        h->uri = strdup(shown);
        free(shown);
    }
    p11_kit_uri_set_pin_value(uri, pin_value);
    if (pin_value != NULL) {
        OPENSSL_cleanse(pin_value, strlen(pin_value));
        free(pin_value);
    }
    CK_ATTRIBUTE *lab = p11_kit_uri_get_attribute(uri, CKA_LABEL);
    CK_ATTRIBUTE *id = p11_kit_uri_get_attribute(uri, CKA_ID);
    int ol = snprintf(h->object, sizeof h->object, "%s%.*s%s%s", lab ? "object=" : "",
                      lab ? (int)lab->ulValueLen : 0, lab ? (const char *)lab->pValue : "",
                      lab && id ? ";" : "", id ? "id=" : "");
    for (CK_ULONG i = 0; id && i < id->ulValueLen && ol + 4 < (int)sizeof h->object; i++)
        ol += snprintf(h->object + ol, sizeof h->object - (size_t)ol, "%%%02x",
                       ((const uint8_t *)id->pValue)[i]);
    att_err_t e = h->uri == NULL ? att_diag_set(d, ATT_E_NOMEM, "out of memory") : ATT_OK;
    CK_RV rv = CKR_OK;
    if (e == ATT_OK && (e = att_hsm_load(h, uri, d)) == ATT_OK &&
        (e = att_hsm_token(h, uri, d)) == ATT_OK) {
        rv = h->f->C_OpenSession(h->slot, CKF_SERIAL_SESSION, NULL, NULL, &h->sess[0]);
        if (rv != CKR_OK)
            e = att_hsm_fail(d, rv, "--signing-key: no session on token \"%s\"", h->token);
        else
            h->nsess = 1;
    }
    if (e == ATT_OK && (e = att_hsm_login(h, h->sess[0], uri, d)) == ATT_OK)
        e = att_hsm_key(h, h->sess[0], uri, d);
    while (e == ATT_OK && h->nsess < sessions) {
        rv = h->f->C_OpenSession(h->slot, CKF_SERIAL_SESSION, NULL, NULL, &h->sess[h->nsess]);
        if (rv != CKR_OK)
            e = att_hsm_fail(d, rv, "--signing-key: token \"%s\" refuses session %s", h->token,
                             rv == CKR_SESSION_COUNT ? "(lower the HSM session count)" : "");
        else
            h->nsess++;
    }
    p11_kit_uri_free(uri);
    if (e != ATT_OK) {
        att_hsm_free(h);
        return e;
    }
    h->nfree = h->nsess;
    *out = h;
    att_diag_clear(d);
    return ATT_OK;
}

void att_hsm_free(att_hsm_t *h)
{
    if (h == NULL)
        return;
    if (h->f != NULL) {
        if (h->logged_in && h->nsess > 0)
            h->f->C_Logout(h->sess[0]);
        for (unsigned i = 0; i < h->nsess; i++)
            h->f->C_CloseSession(h->sess[i]);
    }
    if (h->one != NULL) {
        p11_kit_module_finalize(h->one);
        p11_kit_module_release(h->one);
    }
    if (h->mods != NULL)
        p11_kit_modules_finalize_and_release(h->mods);
    EVP_PKEY_free(h->pub);
    X509_free(h->cert);
    free(h->uri);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}

EVP_PKEY *att_hsm_public_key(const att_hsm_t *h)
{
    return h ? h->pub : NULL;
}

X509 *att_hsm_certificate(const att_hsm_t *h)
{
    return h ? h->cert : NULL;
}

const char *att_hsm_uri(const att_hsm_t *h)
{
    return h ? h->uri : NULL;
}

void att_hsm_stats(att_hsm_t *h, uint64_t *signs, uint64_t *waits)
{
    pthread_mutex_lock(&h->mu);
    *signs = h->signs;
    *waits = h->waits;
    pthread_mutex_unlock(&h->mu);
}

/* A free session of the pool (waiting for one when all sign), and giving it back. */
static unsigned att_hsm_acquire(att_hsm_t *h)
{
    pthread_mutex_lock(&h->mu);
    if (h->nfree == 0)
        h->waits++;
    while (h->nfree == 0)
        pthread_cond_wait(&h->cv, &h->mu);
    unsigned i = 0;
    while (h->busy[i])
        i++;
    h->busy[i] = true;
    h->nfree--;
    h->signs++;
    pthread_mutex_unlock(&h->mu);
    return i;
}

static void att_hsm_release(att_hsm_t *h, unsigned i)
{
    pthread_mutex_lock(&h->mu);
    h->busy[i] = false;
    h->nfree++;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

att_err_t att_hsm_sign(void *ctx, att_alg_t alg, const uint8_t *in, size_t len, uint8_t *sig,
                       size_t *siglen, att_diag_t *d)
{
    att_hsm_t *h = ctx;
    /* DigestInfo of SHA-256 (RFC 8017 9.2), then the digest */
    uint8_t data[19 + SHA256_DIGEST_LENGTH] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                               0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                               0x01, 0x05, 0x00, 0x04, 0x20};
    uint8_t *md = data + 19;
    SHA256(in, len, md);
    CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, SHA256_DIGEST_LENGTH};
    CK_MECHANISM mech = {CKM_RSA_PKCS, NULL, 0};
    uint8_t *msg = md;
    CK_ULONG mlen = SHA256_DIGEST_LENGTH;
    switch (alg) {
    case ATT_ALG_RS256:
        msg = data;
        mlen = sizeof data;
        break;
    case ATT_ALG_PS256:
        mech = (CK_MECHANISM){CKM_RSA_PKCS_PSS, &pss, sizeof pss};
        break;
    case ATT_ALG_ES256:
        mech = (CK_MECHANISM){CKM_ECDSA, NULL, 0};
        break;
    case ATT_ALG_NONE:
        return att_diag_set(d, ATT_E_ARG, "att_hsm_sign: alg none");
    }
    if ((alg == ATT_ALG_ES256) != (h->ktype == CKK_EC))
        return att_diag_set(d, ATT_E_KEY, "%s cannot be signed with the HSM's %s key",
                            att_alg_name(alg), h->ktype == CKK_EC ? "EC" : "RSA");
    unsigned i = att_hsm_acquire(h);
    CK_SESSION_HANDLE s = h->sess[i];
    CK_ULONG n = *siglen;
    CK_RV rv = h->f->C_SignInit(s, &mech, h->key);
    if (rv == CKR_OK)
        rv = h->f->C_Sign(s, msg, mlen, sig, &n);
    att_hsm_release(h, i);
    OPENSSL_cleanse(data, sizeof data);
    if (rv != CKR_OK)
        return att_hsm_fail(d, rv, "the HSM (token \"%s\") did not sign with %s", h->token,
                            h->object);
    *siglen = n;
    att_diag_clear(d);
    return ATT_OK;
}
