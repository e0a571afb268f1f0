/* credential.c - TPM2_MakeCredential on the verifier's side (TPM 2.0 Part 1 §24.4, Part 1 §C.6
 * for ECC), with OpenSSL for the crypto and libtss2-mu for the structures.
 *
 * seed: RSA EK: digest-size random bytes, RSA-OAEP(EK, nameAlg, label "IDENTITY\0");
 *       ECC EK: ECDH of an ephemeral key with the EK, seed = KDFe(nameAlg, Z, "IDENTITY",
 *       ephemeral x, EK x) (SSKDF), the ephemeral point as the encrypted secret.
 * symKey  = KDFa(nameAlg, seed, "STORAGE", AK name, -, EK symmetric key bits)   (KBKDF)
 * encIdentity = AES-CFB(symKey, IV 0, TPM2B_DIGEST(secret))
 * hmacKey = KDFa(nameAlg, seed, "INTEGRITY", -, -, digest bits)
 * outerHMAC = HMAC(nameAlg, hmacKey, encIdentity || AK name)
 * credentialBlob = TPM2B_ID_OBJECT(TPM2B_DIGEST(outerHMAC) || encIdentity)
 * Not checked here: that the EK is genuine (its certificate is the caller's business).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "core/util.h"
#include "tpm/tpm_int.h"

/* The EK as MakeCredential needs it. */
typedef struct {
    EVP_PKEY *key;
    uint16_t type, name_alg, sym_bits;
    const char *group; /* ECC: OpenSSL group name */
    size_t field;      /* ECC: field size in bytes */
    uint8_t x[66];     /* ECC: the EK's x coordinate as the TPM holds it */
    size_t xlen;
} att_ek_t;

static void att_ek_clear(att_ek_t *ek)
{
    EVP_PKEY_free(ek->key);
    memset(ek, 0, sizeof(*ek));
}

/* nameAlg and symmetric key of an EK given as a key only: the TCG EK templates (EK Credential
 * Profile 2.0: RSA-2048 and ECC P-256 "L-1"/"L-2": SHA-256 + AES-128-CFB; ECC P-384 "H-3", as
 * swtpm makes it: SHA-384 + AES-256-CFB). */
static att_err_t att_ek_from_key(att_ek_t *ek, att_diag_t *diag)
{
    int id = EVP_PKEY_get_base_id(ek->key);
    if (id == EVP_PKEY_RSA) {
        int bits = EVP_PKEY_get_bits(ek->key);
        if (bits < 2048 || bits > 4096)
            return att_diag_set(diag, ATT_E_TPM_EK,
                                "the EK is an RSA-%d key; RSA EKs of 2048 to 4096 bits are "
                                "accepted",
                                bits);
        ek->type = ATT_TPM_ALG_RSA;
        ek->name_alg = ATT_TPM_ALG_SHA256;
        ek->sym_bits = 128;
        return ATT_OK;
    }
    if (id != EVP_PKEY_EC)
        return att_diag_set(diag, ATT_E_TPM_EK, "the EK is neither an RSA nor an EC key");
    char g[64] = "";
    size_t glen = 0;
    EVP_PKEY_get_utf8_string_param(ek->key, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof(g), &glen);
    ek->type = ATT_TPM_ALG_ECC;
    if (!strcmp(g, "prime256v1")) {
        ek->group = "prime256v1", ek->field = 32, ek->name_alg = ATT_TPM_ALG_SHA256;
        ek->sym_bits = 128;
    } else if (!strcmp(g, "secp384r1")) {
        ek->group = "secp384r1", ek->field = 48, ek->name_alg = ATT_TPM_ALG_SHA384;
        ek->sym_bits = 256;
    } else {
        return att_diag_set(diag, ATT_E_TPM_EK,
                            "the EK is an EC key on curve '%.32s'; P-256 and P-384 EKs are "
                            "accepted",
                            g);
    }
    BIGNUM *x = NULL;
    bool ok = EVP_PKEY_get_bn_param(ek->key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
              BN_bn2binpad(x, ek->x, (int)ek->field) == (int)ek->field;
    BN_free(x);
    ERR_clear_error();
    if (!ok)
        return att_diag_set(diag, ATT_E_TPM_EK, "the EK's EC point cannot be read");
    ek->xlen = ek->field;
    return ATT_OK;
}

/* The EK from a TPM2B_PUBLIC: a restricted decryption key whose symmetric is AES-CFB. */
static att_err_t att_ek_from_public(att_ek_t *ek, const uint8_t *buf, size_t len, att_diag_t *diag)
{
    TPM2B_PUBLIC pub;
    size_t off = 0;
    memset(&pub, 0, sizeof(pub));
    TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, &pub);
    if (rc != TSS2_RC_SUCCESS || off != len || pub.size != len - 2)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the EK is not a PEM/DER SubjectPublicKeyInfo or a TPM2B_PUBLIC of "
                            "exactly %zu bytes",
                            len);
    const TPMT_PUBLIC *p = &pub.publicArea;
    const uint32_t need = ATT_TPMA_RESTRICTED | ATT_TPMA_DECRYPT;
    if ((p->objectAttributes & need) != need || (p->objectAttributes & ATT_TPMA_SIGN))
        return att_diag_set(diag, ATT_E_TPM_EK,
                            "the EK's attributes 0x%08x are not those of a restricted decryption "
                            "key (restricted, decrypt, not sign)",
                            p->objectAttributes);
    if (p->type != TPM2_ALG_RSA && p->type != TPM2_ALG_ECC)
        return att_diag_set(diag, ATT_E_TPM_EK, "the EK's type 0x%04x is neither RSA nor ECC",
                            p->type);
    const TPMT_SYM_DEF_OBJECT *s = p->type == TPM2_ALG_RSA ? &p->parameters.rsaDetail.symmetric
                                                           : &p->parameters.eccDetail.symmetric;
    if (s->algorithm != TPM2_ALG_AES || s->mode.aes != TPM2_ALG_CFB ||
        (s->keyBits.aes != 128 && s->keyBits.aes != 256))
        return att_diag_set(diag, ATT_E_TPM_EK,
                            "the EK's symmetric algorithm is 0x%04x/%u bits/mode 0x%04x; "
                            "AES-128-CFB and AES-256-CFB are supported",
                            s->algorithm, s->keyBits.aes, s->mode.aes);
    if (att_tpm_digest_size(p->nameAlg) == 0 || p->nameAlg == ATT_TPM_ALG_SHA1)
        return att_diag_set(diag, ATT_E_TPM_EK,
                            "the EK's nameAlg 0x%04x is not SHA-256, SHA-384 or SHA-512",
                            p->nameAlg);
    const char *why = NULL;
    if ((ek->key = att_tpm_public_key(p, &why)) == NULL)
        return att_diag_set(diag, ATT_E_TPM_EK, "the EK's TPM2B_PUBLIC: %s", why);
    att_err_t e = att_ek_from_key(ek, diag); /* type, size, curve */
    if (e != ATT_OK)
        return e;
    ek->name_alg = p->nameAlg;
    ek->sym_bits = s->keyBits.aes;
    if (p->type == TPM2_ALG_ECC) { /* the x the TPM hashes: its unique field as it is */
        if (p->unique.ecc.x.size > sizeof(ek->x))
            return att_diag_set(diag, ATT_E_TPM_EK, "the EK's x coordinate is too long");
        memcpy(ek->x, p->unique.ecc.x.buffer, p->unique.ecc.x.size);
        ek->xlen = p->unique.ecc.x.size;
    }
    return ATT_OK;
}

static att_err_t att_ek_load(const uint8_t *buf, size_t len, att_ek_t *ek, att_diag_t *diag)
{
    memset(ek, 0, sizeof(*ek));
    if (buf == NULL || len == 0)
        return att_diag_set(diag, ATT_E_ARG, "no EK given");
    if (len >= 10 && !memcmp(buf, "-----BEGIN", 10)) {
        BIO *bio = BIO_new_mem_buf(buf, (int)(len > INT32_MAX ? INT32_MAX : len));
        ek->key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
    } else if (buf[0] == 0x30 && len >= 2 && (size_t)((buf[0] << 8 | buf[1]) + 2) != len) {
        const unsigned char *p = buf;
        ek->key = d2i_PUBKEY(NULL, &p, (long)len);
        if (ek->key != NULL && p != buf + len) {
            EVP_PKEY_free(ek->key);
            ek->key = NULL;
        }
    } else {
        return att_ek_from_public(ek, buf, len, diag);
    }
    ERR_clear_error();
    if (ek->key == NULL)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "the EK is not a PEM/DER SubjectPublicKeyInfo or a TPM2B_PUBLIC");
    return att_ek_from_key(ek, diag);
}

/* KDFa (Part 1 §11.4.10.2): SP 800-108 counter mode with HMAC, label || 0x00 || context || L. */
static bool att_kdfa(uint16_t alg, const uint8_t *key, size_t klen, const char *label,
                     const uint8_t *u, size_t ulen, uint8_t *out, size_t olen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
    EVP_KDF_CTX *c = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    const char *md = EVP_MD_get0_name(att_tpm_md(alg));
    OSSL_PARAM ps[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, (char *)"counter", 0),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, (char *)"HMAC", 0),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, klen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)label, strlen(label)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)u, ulen),
        OSSL_PARAM_construct_end()};
    bool ok = c != NULL && EVP_KDF_derive(c, out, olen, ps) == 1;
    EVP_KDF_CTX_free(c);
    EVP_KDF_free(kdf);
    return ok;
}

/* KDFe (Part 1 §11.4.10.3): SP 800-56A single-step with the hash, counter || Z || FixedInfo,
 * FixedInfo = "IDENTITY\0" || partyU x || partyV x. */
static bool att_kdfe(uint16_t alg, const uint8_t *z, size_t zlen, const uint8_t *info, size_t ilen,
                     uint8_t *out, size_t olen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);
    EVP_KDF_CTX *c = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    const char *md = EVP_MD_get0_name(att_tpm_md(alg));
    OSSL_PARAM ps[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
                       OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, zlen),
                       OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, ilen),
                       OSSL_PARAM_construct_end()};
    bool ok = c != NULL && EVP_KDF_derive(c, out, olen, ps) == 1;
    EVP_KDF_CTX_free(c);
    EVP_KDF_free(kdf);
    return ok;
}

static const char att_identity[] = "IDENTITY"; /* with its NUL: 9 bytes */

/* RSA: seed random, TPM2B_ENCRYPTED_SECRET = OAEP(EK, nameAlg, "IDENTITY\0", seed). */
static bool att_seed_rsa(const att_ek_t *ek, uint8_t *seed, size_t slen,
                         TPM2B_ENCRYPTED_SECRET *enc)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, ek->key, NULL);
    unsigned char *label = OPENSSL_memdup(att_identity, sizeof att_identity);
    size_t n = sizeof(enc->secret);
    bool ok = c != NULL && label != NULL && RAND_bytes(seed, (int)slen) == 1 &&
              EVP_PKEY_encrypt_init(c) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
              EVP_PKEY_CTX_set_rsa_oaep_md(c, att_tpm_md(ek->name_alg)) == 1 &&
              EVP_PKEY_CTX_set_rsa_mgf1_md(c, att_tpm_md(ek->name_alg)) == 1 &&
              EVP_PKEY_CTX_set0_rsa_oaep_label(c, label, sizeof att_identity) == 1;
    if (ok)
        label = NULL; /* owned by the context now */
    ok = ok && EVP_PKEY_encrypt(c, enc->secret, &n, seed, slen) == 1;
    enc->size = (UINT16)n;
    OPENSSL_free(label);
    EVP_PKEY_CTX_free(c);
    return ok;
}

/* ECC: an ephemeral key on the EK's curve; Z = ECDH x; seed = KDFe; the secret is the
 * ephemeral point (TPMS_ECC_POINT). */
static bool att_seed_ecc(const att_ek_t *ek, uint8_t *seed, size_t slen,
                         TPM2B_ENCRYPTED_SECRET *enc)
{
    EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", ek->group);
    EVP_PKEY_CTX *c = eph ? EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL) : NULL;
    BIGNUM *x = NULL, *y = NULL;
    uint8_t z[66], info[sizeof att_identity + 2 * 66];
    size_t zlen = sizeof z;
    TPMS_ECC_POINT pt;
    memset(&pt, 0, sizeof pt);
    bool ok = c != NULL && EVP_PKEY_derive_init(c) == 1 &&
              EVP_PKEY_derive_set_peer(c, ek->key) == 1 && EVP_PKEY_derive(c, z, &zlen) == 1 &&
              zlen == ek->field && EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
              EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
              BN_bn2binpad(x, pt.x.buffer, (int)ek->field) == (int)ek->field &&
              BN_bn2binpad(y, pt.y.buffer, (int)ek->field) == (int)ek->field;
    if (ok) {
        pt.x.size = pt.y.size = (UINT16)ek->field;
        memcpy(info, att_identity, sizeof att_identity);
        memcpy(info + sizeof att_identity, pt.x.buffer, ek->field);
        memcpy(info + sizeof att_identity + ek->field, ek->x, ek->xlen);
        size_t off = 0;
        ok = att_kdfe(ek->name_alg, z, zlen, info, sizeof att_identity + ek->field + ek->xlen, seed,
                      slen) &&
             Tss2_MU_TPMS_ECC_POINT_Marshal(&pt, enc->secret, sizeof(enc->secret), &off) ==
                 TSS2_RC_SUCCESS;
        enc->size = (UINT16)off;
    }
    OPENSSL_cleanse(z, sizeof z);
    BN_free(x);
    BN_free(y);
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(eph);
    return ok;
}

ATT_API att_err_t att_tpm_make_credential(const uint8_t *ek_pub, size_t ek_len,
                                          const uint8_t *ak_name, size_t name_len,
                                          const uint8_t *secret, size_t secret_len, uint8_t **blob,
                                          size_t *blob_len, uint8_t **enc_secret, size_t *enc_len,
                                          att_diag_t *diag)
{
    *blob = *enc_secret = NULL;
    *blob_len = *enc_len = 0;
    att_ek_t ek;
    att_err_t e = att_ek_load(ek_pub, ek_len, &ek, diag);
    uint8_t seed[64], sym[32], hkey[64], plain[2 + 64], hmac[64];
    TPM2B_ENCRYPTED_SECRET enc;
    TPM2B_ID_OBJECT id;
    memset(&enc, 0, sizeof enc);
    memset(&id, 0, sizeof id);
    if (e != ATT_OK)
        goto out;
    size_t hl = att_tpm_digest_size(ek.name_alg);
    uint16_t nalg = name_len >= 2 ? (uint16_t)(ak_name[0] << 8 | ak_name[1]) : 0;
    if (ak_name == NULL || name_len < 2 || att_tpm_digest_size(nalg) == 0 ||
        name_len != 2 + att_tpm_digest_size(nalg)) {
        e = att_diag_set(diag, ATT_E_ARG,
                         "the AK name (%zu bytes) is not nameAlg || digest of that algorithm",
                         name_len);
        goto out;
    }
    if (secret == NULL || secret_len == 0 || secret_len > hl) {
        e = att_diag_set(diag, ATT_E_ARG,
                         "the credential is %zu bytes; with this EK (nameAlg %s) it must be 1 "
                         "to %zu bytes",
                         secret_len, att_tpm_alg_name(ek.name_alg), hl);
        goto out;
    }
    bool ok = ek.type == ATT_TPM_ALG_RSA ? att_seed_rsa(&ek, seed, hl, &enc)
                                         : att_seed_ecc(&ek, seed, hl, &enc);
    if (!ok) {
        e = att_diag_set(diag, ATT_E_INTERNAL, "encrypting the seed to the EK failed");
        goto out;
    }
    /* encIdentity: the marshalled TPM2B_DIGEST of the credential, AES-CFB with IV 0 */
    TPM2B_DIGEST cred = {.size = (UINT16)secret_len};
    memcpy(cred.buffer, secret, secret_len);
    size_t plen = 0, sbytes = ek.sym_bits / 8u;
    uint8_t iv[16] = {0};
    int n1 = 0, n2 = 0;
    EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
    uint8_t *encid = id.credential + 2 + hl; /* after TPM2B_DIGEST(outerHMAC) */
    ok = Tss2_MU_TPM2B_DIGEST_Marshal(&cred, plain, sizeof plain, &plen) == TSS2_RC_SUCCESS &&
         att_kdfa(ek.name_alg, seed, hl, "STORAGE", ak_name, name_len, sym, sbytes) && cc != NULL &&
         EVP_EncryptInit_ex(cc, sbytes == 16 ? EVP_aes_128_cfb128() : EVP_aes_256_cfb128(), NULL,
                            sym, iv) == 1 &&
         EVP_EncryptUpdate(cc, encid, &n1, plain, (int)plen) == 1 &&
         EVP_EncryptFinal_ex(cc, encid + n1, &n2) == 1 && (size_t)(n1 + n2) == plen;
    EVP_CIPHER_CTX_free(cc);
    OPENSSL_cleanse(&cred, sizeof cred);
    /* outerHMAC over encIdentity || AK name */
    uint8_t mac_in[2 + 64 + ATT_TPM_MAX_NAME];
    size_t mlen = 0;
    if (ok) {
        memcpy(mac_in, encid, plen);
        memcpy(mac_in + plen, ak_name, name_len);
        ok = att_kdfa(ek.name_alg, seed, hl, "INTEGRITY", NULL, 0, hkey, hl) &&
             EVP_Q_mac(NULL, "HMAC", NULL, EVP_MD_get0_name(att_tpm_md(ek.name_alg)), NULL, hkey,
                       hl, mac_in, plen + name_len, hmac, sizeof hmac, &mlen) != NULL &&
             mlen == hl;
    }
    TPM2B_DIGEST outer = {.size = (UINT16)hl};
    size_t off = 0;
    if (ok) {
        memcpy(outer.buffer, hmac, hl);
        ok = Tss2_MU_TPM2B_DIGEST_Marshal(&outer, id.credential, 2 + hl, &off) == TSS2_RC_SUCCESS &&
             off == 2 + hl;
        id.size = (UINT16)(2 + hl + plen);
    }
    if (!ok) {
        e = att_diag_set(diag, ATT_E_INTERNAL, "deriving or encrypting the credential failed");
        goto out;
    }
    /* the two TPM2B structures, marshalled */
    size_t bl = 0, el = 0;
    *blob = malloc(2 + sizeof(id.credential));
    *enc_secret = malloc(2 + sizeof(enc.secret));
    if (*blob == NULL || *enc_secret == NULL ||
        Tss2_MU_TPM2B_ID_OBJECT_Marshal(&id, *blob, 2 + sizeof(id.credential), &bl) !=
            TSS2_RC_SUCCESS ||
        Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&enc, *enc_secret, 2 + sizeof(enc.secret), &el) !=
            TSS2_RC_SUCCESS) {
        free(*blob);
        free(*enc_secret);
        *blob = *enc_secret = NULL;
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    *blob_len = bl;
    *enc_len = el;
out:
    OPENSSL_cleanse(seed, sizeof seed);
    OPENSSL_cleanse(sym, sizeof sym);
    OPENSSL_cleanse(hkey, sizeof hkey);
    OPENSSL_cleanse(plain, sizeof plain);
    att_ek_clear(&ek);
    ERR_clear_error();
    return e;
}
