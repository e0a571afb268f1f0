/* ak.c - TPM attestation keys: TPM2B_PUBLIC (libtss2-mu), SubjectPublicKeyInfo, JWK; the hash
 * algorithms the TPM modules share. */
#include <string.h>

#include <jose/openssl.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "core/util.h"
#include "tpm/tpm_int.h"

const EVP_MD *att_tpm_md(uint16_t alg)
{
    switch (alg) {
    case ATT_TPM_ALG_SHA1:
        return EVP_sha1();
    case ATT_TPM_ALG_SHA256:
        return EVP_sha256();
    case ATT_TPM_ALG_SHA384:
        return EVP_sha384();
    case ATT_TPM_ALG_SHA512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

size_t att_tpm_digest_size(uint16_t alg)
{
    switch (alg) {
    case ATT_TPM_ALG_SHA1:
        return 20;
    case ATT_TPM_ALG_SHA256:
        return 32;
    case ATT_TPM_ALG_SHA384:
        return 48;
    case ATT_TPM_ALG_SHA512:
        return 64;
    default:
        return 0;
    }
}

bool att_tpm_hash(uint16_t alg, const uint8_t *data, size_t len, uint8_t *out)
{
    const EVP_MD *md = att_tpm_md(alg);
    unsigned int n = 0;
    return md != NULL && EVP_Digest(data, len, out, &n, md, NULL) == 1 &&
           n == att_tpm_digest_size(alg);
}

ATT_API const char *att_tpm_alg_name(uint16_t alg)
{
    switch (alg) {
    case ATT_TPM_ALG_RSA:
        return "rsa";
    case ATT_TPM_ALG_SHA1:
        return "sha1";
    case ATT_TPM_ALG_SHA256:
        return "sha256";
    case ATT_TPM_ALG_SHA384:
        return "sha384";
    case ATT_TPM_ALG_SHA512:
        return "sha512";
    case ATT_TPM_ALG_NULL:
        return "null";
    case ATT_TPM_ALG_RSASSA:
        return "rsassa";
    case ATT_TPM_ALG_RSAPSS:
        return "rsapss";
    case ATT_TPM_ALG_ECDSA:
        return "ecdsa";
    case ATT_TPM_ALG_ECC:
        return "ecc";
    default:
        return "unknown";
    }
}

att_tpm_limits_t att_tpm_limits(const att_tpm_limits_t *l)
{
    att_tpm_limits_t r = {ATT_TPM_MAX_LOG_BYTES, ATT_TPM_MAX_EVENTS, ATT_TPM_MAX_EVENT_SIZE};
    if (l != NULL) {
        if (l->max_log_bytes)
            r.max_log_bytes = l->max_log_bytes;
        if (l->max_events)
            r.max_events = l->max_events;
        if (l->max_event_size)
            r.max_event_size = l->max_event_size;
    }
    return r;
}

ATT_API void att_tpm_ak_free(att_tpm_ak_t *ak)
{
    if (ak == NULL)
        return;
    EVP_PKEY_free(ak->key);
    free(ak);
}

ATT_API const att_tpm_ak_info_t *att_tpm_ak_info(const att_tpm_ak_t *ak)
{
    return ak ? &ak->info : NULL;
}

/* Key type and size checks common to every form; fills desc and bits. */
static att_err_t att_ak_accept(att_tpm_ak_t *ak, att_diag_t *diag)
{
    int id = EVP_PKEY_get_base_id(ak->key);
    ak->bits = EVP_PKEY_get_bits(ak->key);
    if (id == EVP_PKEY_RSA) {
        ak->info.type = ATT_TPM_ALG_RSA;
        snprintf(ak->info.desc, sizeof(ak->info.desc), "RSA-%d", ak->bits);
        if (ak->bits < 2048 || ak->bits > 4096)
            return att_diag_set(diag, ATT_E_TPM_AK,
                                "the AK is an RSA-%d key; RSA keys of 2048 to 4096 bits are "
                                "accepted",
                                ak->bits);
        return ATT_OK;
    }
    if (id == EVP_PKEY_EC) {
        char g[64] = "";
        size_t glen = 0;
        ak->info.type = ATT_TPM_ALG_ECC;
        EVP_PKEY_get_utf8_string_param(ak->key, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof(g), &glen);
        const char *nice = !strcmp(g, "prime256v1")  ? "P-256"
                           : !strcmp(g, "secp384r1") ? "P-384"
                           : !strcmp(g, "secp521r1") ? "P-521"
                                                     : NULL;
        snprintf(ak->info.desc, sizeof(ak->info.desc), "EC %.28s", nice ? nice : g);
        if (nice == NULL)
            return att_diag_set(diag, ATT_E_TPM_AK,
                                "the AK is an EC key on curve '%s'; P-256, P-384 and P-521 are "
                                "accepted",
                                g);
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, ak->key, NULL);
        int ok = c != NULL && EVP_PKEY_public_check(c) == 1;
        EVP_PKEY_CTX_free(c);
        ERR_clear_error();
        if (!ok)
            return att_diag_set(diag, ATT_E_TPM_AK, "the AK's EC point is not on curve %s", nice);
        return ATT_OK;
    }
    return att_diag_set(diag, ATT_E_TPM_AK, "the AK is neither an RSA nor an EC key (type %d)", id);
}

EVP_PKEY *att_tpm_public_key(const TPMT_PUBLIC *p, const char **why)
{
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    BIGNUM *n = NULL, *e = NULL;
    uint8_t pt[1 + 2 * 66];
    *why = "out of memory";
    if (b == NULL)
        goto out;
    if (p->type == TPM2_ALG_RSA) {
        uint32_t ex = p->parameters.rsaDetail.exponent ? p->parameters.rsaDetail.exponent : 65537;
        if (p->unique.rsa.size == 0 || p->unique.rsa.size * 8u != p->parameters.rsaDetail.keyBits) {
            *why = "its RSA modulus size does not match keyBits";
            goto out;
        }
        n = BN_bin2bn(p->unique.rsa.buffer, p->unique.rsa.size, NULL);
        e = BN_new();
        if (n == NULL || e == NULL || !BN_set_word(e, ex) ||
            !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, e))
            goto out;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    } else {
        const char *group;
        size_t fl;
        switch (p->parameters.eccDetail.curveID) {
        case TPM2_ECC_NIST_P256:
            group = "prime256v1", fl = 32;
            break;
        case TPM2_ECC_NIST_P384:
            group = "secp384r1", fl = 48;
            break;
        case TPM2_ECC_NIST_P521:
            group = "secp521r1", fl = 66;
            break;
        default:
            *why = "its ECC curve is not NIST P-256, P-384 or P-521";
            goto out;
        }
        const TPM2B_ECC_PARAMETER *x = &p->unique.ecc.x, *y = &p->unique.ecc.y;
        if (x->size == 0 || x->size > fl || y->size == 0 || y->size > fl) {
            *why = "its ECC point coordinates are empty or longer than the curve's field";
            goto out;
        }
        memset(pt, 0, sizeof(pt));
        pt[0] = 0x04;
        memcpy(pt + 1 + fl - x->size, x->buffer, x->size);
        memcpy(pt + 1 + 2 * fl - y->size, y->buffer, y->size);
        if (!OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * fl))
            goto out;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    }
    params = OSSL_PARAM_BLD_to_param(b);
    if (ctx == NULL || params == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        *why = "OpenSSL refuses its public key";
        key = NULL;
    }
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(ctx);
    BN_free(n);
    BN_free(e);
    ERR_clear_error();
    return key;
}

static att_err_t att_ak_tpm2b(att_tpm_ak_t *ak, const uint8_t *buf, size_t len, att_diag_t *diag)
{
    TPM2B_PUBLIC pub;
    size_t off = 0;
    memset(&pub, 0, sizeof(pub));
    TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, &pub);
    if (rc != TSS2_RC_SUCCESS)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the AK is not a PEM/DER SubjectPublicKeyInfo, a JWK or a TPM2B_PUBLIC "
                            "(libtss2-mu: 0x%x on %zu bytes)",
                            (unsigned)rc, len);
    if (off != len)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the AK's TPM2B_PUBLIC is followed by %zu bytes", len - off);
    if (pub.size != len - 2)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the AK's TPM2B_PUBLIC size is %u, its TPMT_PUBLIC has %zu bytes",
                            pub.size, len - 2);
    const TPMT_PUBLIC *p = &pub.publicArea;
    att_tpm_ak_info_t *i = &ak->info;
    i->tpm_public = true;
    i->type = p->type;
    i->name_alg = p->nameAlg;
    i->attributes = p->objectAttributes;
    i->fixed_tpm = (p->objectAttributes & ATT_TPMA_FIXED_TPM) != 0;
    i->fixed_parent = (p->objectAttributes & ATT_TPMA_FIXED_PARENT) != 0;
    i->sensitive_data_origin = (p->objectAttributes & ATT_TPMA_SENSITIVE_DATA_ORIGIN) != 0;
    i->restricted = (p->objectAttributes & ATT_TPMA_RESTRICTED) != 0;
    i->sign = (p->objectAttributes & ATT_TPMA_SIGN) != 0;
    i->decrypt = (p->objectAttributes & ATT_TPMA_DECRYPT) != 0;
    if (p->type != TPM2_ALG_RSA && p->type != TPM2_ALG_ECC)
        return att_diag_set(diag, ATT_E_TPM_AK,
                            "the AK's TPM2B_PUBLIC is of type 0x%04x, neither RSA (0x0001) nor ECC "
                            "(0x0023)",
                            p->type);
    if (p->type == TPM2_ALG_RSA) {
        i->scheme = p->parameters.rsaDetail.scheme.scheme;
        i->scheme_hash = i->scheme == TPM2_ALG_NULL
                             ? ATT_TPM_ALG_NULL
                             : p->parameters.rsaDetail.scheme.details.anySig.hashAlg;
    } else {
        i->scheme = p->parameters.eccDetail.scheme.scheme;
        i->scheme_hash = i->scheme == TPM2_ALG_NULL
                             ? ATT_TPM_ALG_NULL
                             : p->parameters.eccDetail.scheme.details.anySig.hashAlg;
    }
    /* Name = nameAlg || H_nameAlg(TPMT_PUBLIC as marshalled): the bytes after the size. */
    size_t hl = att_tpm_digest_size(p->nameAlg);
    if (hl == 0)
        return att_diag_set(diag, ATT_E_TPM_AK,
                            "the AK's nameAlg 0x%04x is not SHA-1, SHA-256, SHA-384 or SHA-512",
                            p->nameAlg);
    i->name[0] = (uint8_t)(p->nameAlg >> 8);
    i->name[1] = (uint8_t)p->nameAlg;
    if (!att_tpm_hash(p->nameAlg, buf + 2, len - 2, i->name + 2))
        return att_diag_set(diag, ATT_E_INTERNAL, "hashing the AK's TPMT_PUBLIC failed");
    i->name_len = 2 + hl;
    const char *why = NULL;
    ak->key = att_tpm_public_key(p, &why);
    if (ak->key == NULL)
        return att_diag_set(diag, ATT_E_TPM_AK, "the AK's TPM2B_PUBLIC: %s", why);
    att_err_t e = att_ak_accept(ak, diag);
    if (e != ATT_OK)
        return e;
    /* An AK signs only what the TPM made (restricted) and never leaves its TPM. */
    static const struct {
        uint32_t bit;
        const char *name;
    } need[] = {{ATT_TPMA_SIGN, "sign"},
                {ATT_TPMA_RESTRICTED, "restricted"},
                {ATT_TPMA_FIXED_TPM, "fixedTPM"},
                {ATT_TPMA_FIXED_PARENT, "fixedParent"},
                {ATT_TPMA_SENSITIVE_DATA_ORIGIN, "sensitiveDataOrigin"}};
    for (size_t k = 0; k < ATT_ARRAY_LEN(need); k++)
        if (!(p->objectAttributes & need[k].bit))
            return att_diag_set(diag, ATT_E_TPM_AK,
                                "the AK's attributes 0x%08x lack %s: an attestation key must be a "
                                "restricted signing key that is fixedTPM, fixedParent and "
                                "sensitiveDataOrigin",
                                p->objectAttributes, need[k].name);
    if (i->decrypt)
        return att_diag_set(diag, ATT_E_TPM_AK,
                            "the AK's attributes 0x%08x have decrypt set: not an attestation key",
                            p->objectAttributes);
    return ATT_OK;
}

/* A JWK, or {"keys": [...]} holding kid "HCLAkPub" (Azure's vTPM runtime data). */
static att_err_t att_ak_jwk(att_tpm_ak_t *ak, const uint8_t *buf, size_t len, att_diag_t *diag)
{
    json_error_t je;
    json_t *o = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    json_t *jwk = o;
    att_err_t e = ATT_OK;
    if (o == NULL || !json_is_object(o)) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "the AK is not a JSON object (JWK): %s",
                         o ? "not an object" : je.text);
        goto out;
    }
    json_t *keys = json_object_get(o, "keys");
    if (keys != NULL) {
        size_t i;
        json_t *k;
        jwk = NULL;
        json_array_foreach(keys, i, k)
        {
            const char *kid = json_string_value(json_object_get(k, "kid"));
            if (kid != NULL && !strcmp(kid, "HCLAkPub"))
                jwk = k;
        }
        if (jwk == NULL) {
            e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                             "the AK is a JWK set without the key \"HCLAkPub\"");
            goto out;
        }
    }
    /* Only the public members: a private member in evidence is refused rather than used. */
    if (json_object_get(jwk, "d") != NULL) {
        e = att_diag_set(diag, ATT_E_TPM_AK, "the AK's JWK carries a private key (\"d\")");
        goto out;
    }
    ak->key = jose_openssl_jwk_to_EVP_PKEY(NULL, jwk);
    ERR_clear_error();
    if (ak->key == NULL) {
        e = att_diag_set(diag, ATT_E_TPM_AK, "the AK's JWK is not an RSA or EC public key");
        goto out;
    }
    e = att_ak_accept(ak, diag);
out:
    json_decref(o);
    return e;
}

/* A DER SubjectPublicKeyInfo, all of buf. */
static att_err_t att_ak_der(att_tpm_ak_t *ak, const uint8_t *buf, size_t len, att_diag_t *diag)
{
    const unsigned char *p = buf;
    ak->key = d2i_PUBKEY(NULL, &p, (long)len);
    ERR_clear_error();
    if (ak->key == NULL)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the AK is not a DER SubjectPublicKeyInfo or a TPM2B_PUBLIC");
    if (p != buf + len)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the AK's DER SubjectPublicKeyInfo is followed by %zu bytes",
                            (size_t)(buf + len - p));
    return att_ak_accept(ak, diag);
}

ATT_API att_err_t att_tpm_ak_load(const uint8_t *buf, size_t len, att_tpm_ak_t **out,
                                  att_diag_t *diag)
{
    *out = NULL;
    if (buf == NULL || len == 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "no AK given");
    att_tpm_ak_t *ak = calloc(1, sizeof(*ak));
    if (ak == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    ak->info.scheme = ak->info.scheme_hash = ATT_TPM_ALG_NULL;
    att_err_t e = ATT_OK;
    size_t lead = 0;
    while (lead < len &&
           (buf[lead] == ' ' || buf[lead] == '\n' || buf[lead] == '\r' || buf[lead] == '\t'))
        lead++;
    if (lead == len) {
        e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "the AK is %zu bytes of white space", len);
    } else if (len - lead >= 10 && !memcmp(buf + lead, "-----BEGIN", 10)) {
        /* The armour alone (PEM_read_bio), then the DER: PEM_read_bio_PUBKEY runs OpenSSL 3's
         * decoder chain over the PEM text, 3-4 times the DER's cost (docs/performance.md). */
        BIO *bio = BIO_new_mem_buf(buf, (int)(len > INT32_MAX ? INT32_MAX : len));
        char *name = NULL, *header = NULL;
        unsigned char *der = NULL;
        long dl = 0;
        int ok = bio != NULL && PEM_read_bio(bio, &name, &header, &der, &dl) == 1;
        /* Only whitespace may follow the one PEM block. */
        char rest[64];
        int more = ok ? BIO_read(bio, rest, sizeof(rest)) : 0;
        for (int k = 0; k < more; k++)
            if (rest[k] != ' ' && rest[k] != '\n' && rest[k] != '\r' && rest[k] != '\t')
                more = -1000;
        BIO_free(bio);
        ERR_clear_error();
        if (!ok || strcmp(name, PEM_STRING_PUBLIC) != 0 || header[0] != '\0' || dl <= 0)
            e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                             "the AK's PEM is not a PUBLIC KEY (SubjectPublicKeyInfo)");
        else if (more < 0 || more == (int)sizeof(rest))
            e = att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                             "the AK's PEM block is followed by other data");
        else if ((e = att_ak_der(ak, der, (size_t)dl, diag)) == ATT_E_EVIDENCE_FORMAT)
            e = att_diag_set(diag, e,
                             "the AK's PEM holds no DER SubjectPublicKeyInfo (alone) of a key");
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
    } else if (buf[lead] == '{') {
        e = att_ak_jwk(ak, buf, len, diag);
    } else if (buf[0] == 0x30 && len >= 2 && (size_t)((buf[0] << 8 | buf[1]) + 2) != len) {
        /* DER SubjectPublicKeyInfo (a SEQUENCE); a TPM2B_PUBLIC starting with 0x30 would
         * carry its exact size in its first two bytes. */
        e = att_ak_der(ak, buf, len, diag);
    } else {
        e = att_ak_tpm2b(ak, buf, len, diag);
    }
    if (e != ATT_OK) {
        att_tpm_ak_free(ak);
        return e;
    }
    *out = ak;
    return ATT_OK;
}
