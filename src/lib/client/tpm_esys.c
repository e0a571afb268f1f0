/* tpm_esys.c - the attesting side of TPM 2.0 through tpm2-tss's ESYS (attest/client.h "TPM"):
 * connect through a TCTI, create the EK from the TCG template, read its certificate from NV,
 * create and load an AK under it as tpm2_createak does (or use a persistent one), quote PCRs with
 * a nonce, read the PCR values, and activate a credential.
 *
 * The EK's authPolicy is PolicySecret(TPM_RH_ENDORSEMENT), so every use of the EK as a parent
 * (Create, Load) or key (ActivateCredential) runs in a fresh policy session that satisfied it.
 * Sessions are flushed after their command; the transient EK and AK on close. swtpm has three
 * object slots and no resource manager: this keeps at most two objects loaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "attest/tpm.h"
#include "attest/token.h"
#include "client/client_int.h"
#include "client/tpm_client.h"
#include "core/util.h"

#define ATT_TPM_DEFAULT_PCRS   "sha256:0,1,2,3,4,5,6,7"
#define ATT_TPM_DEFAULT_LOG    "/sys/kernel/security/tpm0/binary_bios_measurements"
#define ATT_TPM_NV_EK_RSA      0x01c00002u
#define ATT_TPM_NV_EK_ECC      0x01c0000au
#define ATT_TPM_NV_EK_P384     0x01c00016u
#define ATT_TPM_NV_CHUNK       512 /* NV_Read size: below every TPM's MAX_NV_BUFFER_SIZE */
#define ATT_TPM_QUOTE_ATTEMPTS 3

struct att_tpm_client {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR ek, ak;
    bool ak_transient;
    bool ek_persistent;        /* ek_handle: used, not flushed */
    bool ek_password;          /* the EK has userWithAuth: an empty password authorises it */
    TPMI_ALG_HASH ek_name_alg; /* its policy session's hash */
    att_tpm_sel_t sel[ATT_TPM_MAX_BANKS];
    size_t nsel;
    uint16_t ak_hash; /* the AK scheme's hash: the quote's pcrDigest algorithm */
    uint8_t ak_public[sizeof(TPM2B_PUBLIC)], ek_public[sizeof(TPM2B_PUBLIC)];
    size_t ak_public_len, ek_public_len;
    uint8_t ak_name[sizeof(TPM2B_NAME)];
    size_t ak_name_len;
    uint8_t *ek_cert;
    size_t ek_cert_len;
    uint8_t *tcg_log, *ima_log;
    size_t tcg_log_len, ima_log_len;
};

/* The EK's authPolicy: PolicySecret(TPM_RH_ENDORSEMENT) with SHA-256 (EK Credential Profile
 * 2.0, B.3.3). */
static const uint8_t att_ek_policy[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

static att_err_t att_tss(att_diag_t *diag, att_err_t code, TSS2_RC rc, const char *what)
{
    return att_diag_set(diag, code, "%s failed: %s (0x%x)", what, Tss2_RC_Decode(rc), rc);
}

/* ---- PCR selection ("sha256:0,1,2+sha1:0-7", as tpm2-tools writes it) ------------------- */

static const struct {
    const char *name;
    uint16_t alg;
    size_t size;
} att_tpm_banks[] = {{"sha1", ATT_TPM_ALG_SHA1, 20},
                     {"sha256", ATT_TPM_ALG_SHA256, 32},
                     {"sha384", ATT_TPM_ALG_SHA384, 48},
                     {"sha512", ATT_TPM_ALG_SHA512, 64}};

const char *att_tpm_bank_name(uint16_t alg, size_t *size)
{
    for (size_t i = 0; i < ATT_ARRAY_LEN(att_tpm_banks); i++)
        if (att_tpm_banks[i].alg == alg) {
            if (size != NULL)
                *size = att_tpm_banks[i].size;
            return att_tpm_banks[i].name;
        }
    return NULL;
}

att_err_t att_tpm_pcrs_parse(const char *spec, att_tpm_sel_t sel[ATT_TPM_MAX_BANKS], size_t *nsel,
                             att_diag_t *diag)
{
    *nsel = 0;
    const char *p = spec;
    if (*p == '\0')
        return att_diag_set(diag, ATT_E_ARG, "--pcrs: empty (e.g. sha256:0,1,2,3,4,5,6,7)");
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t nl = colon ? (size_t)(colon - p) : 0;
        uint16_t alg = 0;
        for (size_t i = 0; colon && i < ATT_ARRAY_LEN(att_tpm_banks); i++)
            if (strlen(att_tpm_banks[i].name) == nl && !strncmp(att_tpm_banks[i].name, p, nl))
                alg = att_tpm_banks[i].alg;
        if (alg == 0)
            return att_diag_set(diag, ATT_E_ARG,
                                "--pcrs '%.64s': a bank must be BANK:PCRS with BANK sha1, sha256, "
                                "sha384 or sha512, as in sha256:0,1,2",
                                spec);
        for (size_t b = 0; b < *nsel; b++)
            if (sel[b].alg == alg)
                return att_diag_set(diag, ATT_E_ARG, "--pcrs '%.64s': bank %.*s named twice", spec,
                                    (int)nl, p);
        if (*nsel == ATT_TPM_MAX_BANKS)
            return att_diag_set(diag, ATT_E_ARG, "--pcrs '%.64s': more than %d banks", spec,
                                ATT_TPM_MAX_BANKS);
        uint32_t mask = 0;
        p = colon + 1;
        if (!strncmp(p, "all", 3) && (p[3] == '\0' || p[3] == '+')) {
            mask = (1u << ATT_TPM_NUM_PCRS) - 1;
            p += 3;
        } else {
            for (;;) {
                char *end;
                errno = 0;
                if (*p < '0' || *p > '9')
                    return att_diag_set(diag, ATT_E_ARG,
                                        "--pcrs '%.64s': '%.16s' is not a PCR number (0-23)", spec,
                                        p);
                unsigned long lo = strtoul(p, &end, 10), hi = lo;
                if (*end == '-') {
                    if (end[1] < '0' || end[1] > '9')
                        return att_diag_set(diag, ATT_E_ARG,
                                            "--pcrs '%.64s': a range is FIRST-LAST, as 0-7", spec);
                    hi = strtoul(end + 1, &end, 10);
                }
                if (errno != 0 || lo >= ATT_TPM_NUM_PCRS || hi >= ATT_TPM_NUM_PCRS || hi < lo)
                    return att_diag_set(diag, ATT_E_ARG,
                                        "--pcrs '%.64s': PCR %.*s is not in 0-23 (or its range "
                                        "runs backwards)",
                                        spec, (int)(end - p), p);
                for (unsigned long i = lo; i <= hi; i++)
                    mask |= 1u << i;
                p = end;
                if (*p != ',')
                    break;
                p++;
            }
        }
        sel[*nsel].alg = alg;
        sel[*nsel].mask = mask;
        (*nsel)++;
        if (*p == '\0')
            return ATT_OK;
        if (*p != '+')
            return att_diag_set(diag, ATT_E_ARG,
                                "--pcrs '%.64s': unexpected '%c' (banks are joined by '+')", spec,
                                *p);
        p++;
    }
}

static void att_tpm_sel_to_tpml(const att_tpm_sel_t *sel, size_t nsel, TPML_PCR_SELECTION *t)
{
    memset(t, 0, sizeof(*t));
    t->count = (UINT32)nsel;
    for (size_t b = 0; b < nsel; b++) {
        t->pcrSelections[b].hash = sel[b].alg;
        t->pcrSelections[b].sizeofSelect = 3;
        for (int j = 0; j < 3; j++)
            t->pcrSelections[b].pcrSelect[j] = (uint8_t)(sel[b].mask >> (8 * j));
    }
}

/* ---- TPM objects ------------------------------------------------------------------------- */

/* What authorises the EK: an empty password when it has userWithAuth (swtpm's persistent ECC
 * P-384 EK), else a policy session (of the EK's name algorithm) that satisfied
 * PolicySecret(TPM_RH_ENDORSEMENT), the TCG templates' policy. */
static att_err_t att_tpm_ek_session(att_tpm_client_t *t, ESYS_TR *s, att_diag_t *diag)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
    *s = ESYS_TR_NONE;
    if (t->ek_password) {
        *s = ESYS_TR_PASSWORD;
        return ATT_OK;
    }
    TSS2_RC rc =
        Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, t->ek_name_alg, s);
    if (rc != TSS2_RC_SUCCESS)
        return att_tss(diag, ATT_E_IO, rc, "TPM2_StartAuthSession (a policy session for the EK)");
    TPM2B_TIMEOUT *to = NULL;
    TPMT_TK_AUTH *tk = NULL;
    rc = Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, *s, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, NULL, NULL, NULL, 0, &to, &tk);
    Esys_Free(to);
    Esys_Free(tk);
    if (rc != TSS2_RC_SUCCESS) {
        Esys_FlushContext(t->esys, *s);
        *s = ESYS_TR_NONE;
        return att_tss(diag, ATT_E_IO, rc,
                       "TPM2_PolicySecret(TPM_RH_ENDORSEMENT) (the endorsement hierarchy needs an "
                       "empty password)");
    }
    return ATT_OK;
}

static void att_tpm_session_done(att_tpm_client_t *t, ESYS_TR s)
{
    if (s != ESYS_TR_NONE && s != ESYS_TR_PASSWORD)
        Esys_FlushContext(t->esys, s); /* gone already if the command ended it: ignored */
}

static att_err_t att_tpm_marshal_public(const TPM2B_PUBLIC *pub, uint8_t *buf, size_t *len,
                                        att_diag_t *diag)
{
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(TPM2B_PUBLIC), &off);
    if (rc != TSS2_RC_SUCCESS)
        return att_tss(diag, ATT_E_INTERNAL, rc, "marshalling a TPM2B_PUBLIC");
    *len = off;
    return ATT_OK;
}

/* A persistent EK (ek_handle): a restricted decryption key; how it is authorised. */
static att_err_t att_tpm_load_ek(att_tpm_client_t *t, uint32_t handle, att_diag_t *diag)
{
    TSS2_RC rc =
        Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &t->ek);
    if (rc != TSS2_RC_SUCCESS) {
        t->ek = ESYS_TR_NONE;
        return att_diag_set(diag, ATT_E_ARG, "--ek-handle 0x%08x: no such key in the TPM (%s)",
                            handle, Tss2_RC_Decode(rc));
    }
    t->ek_persistent = true;
    TPM2B_PUBLIC *pub = NULL;
    rc =
        Esys_ReadPublic(t->esys, t->ek, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return att_tss(diag, ATT_E_IO, rc, "TPM2_ReadPublic (the EK)");
    TPMA_OBJECT a = pub->publicArea.objectAttributes,
                need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    att_err_t e = ATT_OK;
    if ((a & need) != need || (a & TPMA_OBJECT_SIGN_ENCRYPT))
        e = att_diag_set(diag, ATT_E_ARG,
                         "--ek-handle 0x%08x is not an EK (a restricted decryption key; "
                         "attributes 0x%08x)",
                         handle, a);
    else
        e = att_tpm_marshal_public(pub, t->ek_public, &t->ek_public_len, diag);
    t->ek_name_alg = pub->publicArea.nameAlg;
    t->ek_password = (a & TPMA_OBJECT_USERWITHAUTH) != 0;
    Esys_Free(pub);
    return e;
}

/* The NV index of the EK's certificate (EK Credential Profile 2.0 section 2.2.1.4): RSA 2048
 * 0x01c00002, ECC P-256 0x01c0000a, ECC P-384 0x01c00016 (0: another kind). */
static uint32_t att_tpm_ek_cert_index(const att_tpm_client_t *t)
{
    TPM2B_PUBLIC tp;
    size_t off = 0;
    memset(&tp, 0, sizeof tp);
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(t->ek_public, t->ek_public_len, &off, &tp) !=
        TSS2_RC_SUCCESS)
        return 0;
    const TPMT_PUBLIC *p = &tp.publicArea;
    if (p->type == TPM2_ALG_RSA && p->parameters.rsaDetail.keyBits == 2048)
        return ATT_TPM_NV_EK_RSA;
    if (p->type == TPM2_ALG_ECC && p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256)
        return ATT_TPM_NV_EK_ECC;
    if (p->type == TPM2_ALG_ECC && p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384)
        return ATT_TPM_NV_EK_P384;
    return 0;
}

static att_err_t att_tpm_create_ek(att_tpm_client_t *t, att_tpm_key_alg_t alg, att_diag_t *diag)
{
    t->ek_name_alg = TPM2_ALG_SHA256;
    TPM2B_PUBLIC tmpl = {0};
    TPMT_PUBLIC *p = &tmpl.publicArea;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                          TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                          TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    p->authPolicy.size = sizeof(att_ek_policy);
    memcpy(p->authPolicy.buffer, att_ek_policy, sizeof(att_ek_policy));
    if (alg == ATT_TPM_KEY_RSA) { /* template L-1 */
        p->type = TPM2_ALG_RSA;
        p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
        p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
        p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.rsaDetail.keyBits = 2048;
        p->unique.rsa.size = 256;
    } else { /* template L-2 */
        p->type = TPM2_ALG_ECC;
        p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
        p->parameters.eccDetail.symmetric.keyBits.aes = 128;
        p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        p->unique.ecc.x.size = 32;
        p->unique.ecc.y.size = 32;
    }
    TPM2B_SENSITIVE_CREATE ins = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION none = {0};
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_CREATION_DATA *cd = NULL;
    TPM2B_DIGEST *ch = NULL;
    TPMT_TK_CREATION *tk = NULL;
    TSS2_RC rc =
        Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, &ins, &tmpl, &outside, &none, &t->ek, &pub, &cd, &ch, &tk);
    Esys_Free(cd);
    Esys_Free(ch);
    Esys_Free(tk);
    if (rc != TSS2_RC_SUCCESS) {
        t->ek = ESYS_TR_NONE;
        return att_tss(diag, ATT_E_IO, rc, "TPM2_CreatePrimary (the EK)");
    }
    att_err_t e = att_tpm_marshal_public(pub, t->ek_public, &t->ek_public_len, diag);
    Esys_Free(pub);
    return e;
}

/* The EK certificate from its NV index; none there is no error. Trailing padding after the DER
 * (some TPMs fill the index) is dropped. */
static att_err_t att_tpm_read_ek_cert(att_tpm_client_t *t, uint32_t index, att_diag_t *diag)
{
    ESYS_TR nv = ESYS_TR_NONE;
    if (Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv) !=
        TSS2_RC_SUCCESS)
        return ATT_OK; /* no such index */
    TPM2B_NV_PUBLIC *np = NULL;
    TSS2_RC rc =
        Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &np, NULL);
    att_err_t e = ATT_OK;
    if (rc != TSS2_RC_SUCCESS) {
        e = att_tss(diag, ATT_E_IO, rc, "TPM2_NV_ReadPublic (the EK certificate's index)");
        goto out;
    }
    size_t size = np->nvPublic.dataSize;
    ESYS_TR auth = (np->nvPublic.attributes & TPMA_NV_AUTHREAD) ? nv : ESYS_TR_RH_OWNER;
    if (size > ATT_TPM_EK_CERT_MAX) {
        e = att_diag_set(diag, ATT_E_LIMIT,
                         "the EK certificate's NV index 0x%08x holds %zu bytes (at most %u are "
                         "read)",
                         index, size, ATT_TPM_EK_CERT_MAX);
        goto out;
    }
    if ((t->ek_cert = malloc(size ? size : 1)) == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t off = 0; off < size;) {
        UINT16 n = (UINT16)(size - off < ATT_TPM_NV_CHUNK ? size - off : ATT_TPM_NV_CHUNK);
        TPM2B_MAX_NV_BUFFER *d = NULL;
        rc = Esys_NV_Read(t->esys, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n,
                          (UINT16)off, &d);
        if (rc != TSS2_RC_SUCCESS || d->size != n) {
            Esys_Free(d);
            e = rc != TSS2_RC_SUCCESS
                    ? att_tss(diag, ATT_E_IO, rc, "TPM2_NV_Read (the EK certificate)")
                    : att_diag_set(diag, ATT_E_IO, "TPM2_NV_Read returned a short chunk");
            goto out;
        }
        memcpy(t->ek_cert + off, d->buffer, n);
        Esys_Free(d);
        off += n;
    }
    t->ek_cert_len = size;
    /* DER SEQUENCE with a long-form length: keep exactly the certificate */
    const uint8_t *c = t->ek_cert;
    if (size >= 4 && c[0] == 0x30 && c[1] == 0x82 && 4u + ((size_t)c[2] << 8 | c[3]) <= size)
        t->ek_cert_len = 4u + ((size_t)c[2] << 8 | c[3]);
out:
    if (e != ATT_OK) {
        free(t->ek_cert);
        t->ek_cert = NULL;
        t->ek_cert_len = 0;
    }
    Esys_Free(np);
    Esys_TR_Close(t->esys, &nv);
    return e;
}

static void att_tpm_ak_template(att_tpm_key_alg_t alg, TPM2B_PUBLIC *tmpl)
{
    memset(tmpl, 0, sizeof(*tmpl));
    TPMT_PUBLIC *p = &tmpl->publicArea;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                          TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                          TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
    if (alg == ATT_TPM_KEY_RSA) {
        p->type = TPM2_ALG_RSA;
        p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
        p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
        p->parameters.rsaDetail.keyBits = 2048;
    } else {
        p->type = TPM2_ALG_ECC;
        p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
        p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
        p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    }
}

static att_err_t att_tpm_create_ak(att_tpm_client_t *t, att_tpm_key_alg_t alg, att_diag_t *diag)
{
    TPM2B_PUBLIC tmpl;
    att_tpm_ak_template(alg, &tmpl);
    TPM2B_SENSITIVE_CREATE ins = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION none = {0};
    TPM2B_PRIVATE *priv = NULL;
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_CREATION_DATA *cd = NULL;
    TPM2B_DIGEST *ch = NULL;
    TPMT_TK_CREATION *tk = NULL;
    ESYS_TR s;
    att_err_t e = att_tpm_ek_session(t, &s, diag);
    if (e != ATT_OK)
        return e;
    TSS2_RC rc = Esys_Create(t->esys, t->ek, s, ESYS_TR_NONE, ESYS_TR_NONE, &ins, &tmpl, &outside,
                             &none, &priv, &pub, &cd, &ch, &tk);
    att_tpm_session_done(t, s);
    Esys_Free(cd);
    Esys_Free(ch);
    Esys_Free(tk);
    if (rc != TSS2_RC_SUCCESS) {
        e = att_tss(diag, ATT_E_IO, rc, "TPM2_Create (the AK under the EK)");
        goto out;
    }
    if ((e = att_tpm_ek_session(t, &s, diag)) != ATT_OK)
        goto out;
    rc = Esys_Load(t->esys, t->ek, s, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, &t->ak);
    att_tpm_session_done(t, s);
    if (rc != TSS2_RC_SUCCESS) {
        t->ak = ESYS_TR_NONE;
        e = att_tss(diag, ATT_E_IO, rc, "TPM2_Load (the AK)");
        goto out;
    }
    t->ak_transient = true;
out:
    Esys_Free(priv);
    Esys_Free(pub);
    return e;
}

/* The AK's public area, name and scheme hash, as the TPM has them. */
static att_err_t att_tpm_read_ak(att_tpm_client_t *t, att_diag_t *diag)
{
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_NAME *name = NULL, *qn = NULL;
    TSS2_RC rc =
        Esys_ReadPublic(t->esys, t->ak, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name, &qn);
    att_err_t e = ATT_OK;
    if (rc != TSS2_RC_SUCCESS) {
        e = att_tss(diag, ATT_E_IO, rc, "TPM2_ReadPublic (the AK)");
        goto out;
    }
    const TPMT_PUBLIC *p = &pub->publicArea;
    TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
    TPM2_ALG_ID scheme = TPM2_ALG_NULL;
    if (p->type == TPM2_ALG_RSA) {
        scheme = p->parameters.rsaDetail.scheme.scheme;
        t->ak_hash = p->parameters.rsaDetail.scheme.details.anySig.hashAlg;
    } else if (p->type == TPM2_ALG_ECC) {
        scheme = p->parameters.eccDetail.scheme.scheme;
        t->ak_hash = p->parameters.eccDetail.scheme.details.anySig.hashAlg;
    }
    if ((p->objectAttributes & need) != need || scheme == TPM2_ALG_NULL) {
        e = att_diag_set(diag, ATT_E_TPM_AK,
                         "the AK is not a restricted signing key with a signing scheme (type "
                         "0x%04x, attributes 0x%08x): it cannot quote",
                         p->type, p->objectAttributes);
        goto out;
    }
    if (att_tpm_bank_name(t->ak_hash, NULL) == NULL) {
        e = att_diag_set(diag, ATT_E_TPM_AK, "the AK's scheme hash 0x%04x is not supported",
                         t->ak_hash);
        goto out;
    }
    if ((e = att_tpm_marshal_public(pub, t->ak_public, &t->ak_public_len, diag)) != ATT_OK)
        goto out;
    t->ak_name_len = name->size;
    memcpy(t->ak_name, name->name, name->size);
out:
    Esys_Free(pub);
    Esys_Free(name);
    Esys_Free(qn);
    return e;
}

static att_err_t att_tpm_read_log(const char *what, const char *path, bool quiet_absent,
                                  uint8_t **buf, size_t *len, att_diag_t *diag)
{
    att_diag_t d;
    if (quiet_absent && access(path, R_OK) != 0)
        return ATT_OK;
    att_err_t e = att_read_file(path, ATT_TPM_MAX_LOG_BYTES, buf, len, &d);
    if (e != ATT_OK)
        return att_diag_set(diag, e == ATT_E_LIMIT ? ATT_E_LIMIT : ATT_E_ARG, "%s: %s", what,
                            d.msg);
    if (*len == 0) {
        free(*buf);
        *buf = NULL;
        return quiet_absent ? ATT_OK : att_diag_set(diag, ATT_E_ARG, "%s %s is empty", what, path);
    }
    return ATT_OK;
}

ATT_API att_err_t att_tpm_client_open(const att_tpm_client_opts_t *o, att_tpm_client_t **out,
                                      att_diag_t *diag)
{
    if (out != NULL)
        *out = NULL;
    if (o == NULL || out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "TPM client: NULL argument");
    if ((o->ek_alg != ATT_TPM_KEY_RSA && o->ek_alg != ATT_TPM_KEY_ECC) ||
        (o->ak_alg != ATT_TPM_KEY_RSA && o->ak_alg != ATT_TPM_KEY_ECC))
        return att_diag_set(diag, ATT_E_ARG, "TPM client: the key algorithm is rsa or ecc");
    if (o->ek_handle != 0 && (o->ek_handle >> 24) != TPM2_HT_PERSISTENT)
        return att_diag_set(diag, ATT_E_ARG,
                            "--ek-handle 0x%08x is not a persistent handle (0x81000000-0x81ffffff)",
                            o->ek_handle);
    if (o->ak_handle != 0 && (o->ak_handle >> 24) != TPM2_HT_PERSISTENT)
        return att_diag_set(diag, ATT_E_ARG,
                            "--ak-handle 0x%08x is not a persistent handle (0x81000000-0x81ffffff)",
                            o->ak_handle);
    att_tpm_client_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    t->ek = t->ak = ESYS_TR_NONE;
    att_err_t e =
        att_tpm_pcrs_parse(o->pcrs ? o->pcrs : ATT_TPM_DEFAULT_PCRS, t->sel, &t->nsel, diag);
    if (e != ATT_OK)
        goto fail;
    /* the logs first: a file the user named that cannot be read is a usage error, found before
     * the TPM is touched */
    const char *tcti = o->tcti ? o->tcti : getenv("TPM2TOOLS_TCTI");
    if (tcti != NULL && *tcti == '\0')
        tcti = NULL;
    bool device = tcti == NULL || !strncmp(tcti, "device", 6);
    const char *log = o->eventlog;
    if (log != NULL && (*log == '\0' || !strcmp(log, "none")))
        log = "";
    if (log == NULL && device)
        e = att_tpm_read_log("the TCG event log", ATT_TPM_DEFAULT_LOG, true, &t->tcg_log,
                             &t->tcg_log_len, diag);
    else if (log != NULL && *log != '\0')
        e = att_tpm_read_log("--eventlog", log, false, &t->tcg_log, &t->tcg_log_len, diag);
    if (e == ATT_OK && o->ima != NULL && *o->ima != '\0')
        e = att_tpm_read_log("--ima", o->ima, false, &t->ima_log, &t->ima_log_len, diag);
    if (e != ATT_OK)
        goto fail;
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
    if (rc != TSS2_RC_SUCCESS) {
        t->tcti = NULL;
        e = att_diag_set(diag, ATT_E_UNSUPPORTED,
                         "no TPM reachable through TCTI '%s': %s (0x%x). Give --tcti (e.g. "
                         "device:/dev/tpmrm0, swtpm:host=127.0.0.1,port=2321) or set "
                         "TPM2TOOLS_TCTI",
                         tcti ? tcti : "(tpm2-tss default)", Tss2_RC_Decode(rc), rc);
        goto fail;
    }
    if ((rc = Esys_Initialize(&t->esys, t->tcti, NULL)) != TSS2_RC_SUCCESS) {
        t->esys = NULL;
        e = att_diag_set(diag, ATT_E_UNSUPPORTED, "the TPM behind TCTI '%s' does not answer: %s",
                         tcti ? tcti : "(tpm2-tss default)", Tss2_RC_Decode(rc));
        goto fail;
    }
    /* one round trip: a TCTI that connects lazily, or a TPM that is not started, fails here */
    TPM2B_DIGEST *rnd = NULL;
    rc = Esys_GetRandom(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, 8, &rnd);
    Esys_Free(rnd);
    if (rc != TSS2_RC_SUCCESS) {
        e = att_diag_set(diag, ATT_E_UNSUPPORTED, "the TPM behind TCTI '%s' does not answer: %s",
                         tcti ? tcti : "(tpm2-tss default)", Tss2_RC_Decode(rc));
        goto fail;
    }
    if ((e = o->ek_handle ? att_tpm_load_ek(t, o->ek_handle, diag)
                          : att_tpm_create_ek(t, o->ek_alg, diag)) != ATT_OK)
        goto fail;
    uint32_t nv = att_tpm_ek_cert_index(t);
    if (nv != 0 && (e = att_tpm_read_ek_cert(t, nv, diag)) != ATT_OK)
        goto fail;
    if (o->ak_handle != 0) {
        rc = Esys_TR_FromTPMPublic(t->esys, o->ak_handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   &t->ak);
        if (rc != TSS2_RC_SUCCESS) {
            t->ak = ESYS_TR_NONE;
            e = att_diag_set(diag, ATT_E_ARG, "--ak-handle 0x%08x: no such key in the TPM (%s)",
                             o->ak_handle, Tss2_RC_Decode(rc));
            goto fail;
        }
    } else if ((e = att_tpm_create_ak(t, o->ak_alg, diag)) != ATT_OK) {
        goto fail;
    }
    if ((e = att_tpm_read_ak(t, diag)) != ATT_OK)
        goto fail;
    *out = t;
    return ATT_OK;
fail:
    att_tpm_client_close(t);
    return e;
}

ATT_API void att_tpm_client_close(att_tpm_client_t *t)
{
    if (t == NULL)
        return;
    if (t->esys != NULL) {
        if (t->ak != ESYS_TR_NONE && t->ak_transient)
            Esys_FlushContext(t->esys, t->ak);
        else if (t->ak != ESYS_TR_NONE)
            Esys_TR_Close(t->esys, &t->ak);
        if (t->ek != ESYS_TR_NONE && t->ek_persistent)
            Esys_TR_Close(t->esys, &t->ek);
        else if (t->ek != ESYS_TR_NONE)
            Esys_FlushContext(t->esys, t->ek);
        Esys_Finalize(&t->esys);
    }
    if (t->tcti != NULL)
        Tss2_TctiLdr_Finalize(&t->tcti);
    free(t->ek_cert);
    free(t->tcg_log);
    free(t->ima_log);
    free(t);
}

ATT_API void att_tpm_client_keys(const att_tpm_client_t *t, att_tpm_client_keys_t *k)
{
    if (k == NULL)
        return;
    memset(k, 0, sizeof(*k));
    if (t == NULL)
        return;
    *k = (att_tpm_client_keys_t){.ak_public = t->ak_public,
                                 .ak_public_len = t->ak_public_len,
                                 .ek_public = t->ek_public,
                                 .ek_public_len = t->ek_public_len,
                                 .ak_name = t->ak_name,
                                 .ak_name_len = t->ak_name_len,
                                 .ek_cert = t->ek_cert,
                                 .ek_cert_len = t->ek_cert_len};
}

/* ---- quote ------------------------------------------------------------------------------- */

/* The selected PCR values in selection order (bank by bank, PCRs ascending) into vals; the TPM
 * returns at most 8 per TPM2_PCR_Read, and says which in its pcrSelectionOut. */
static att_err_t att_tpm_read_pcrs(att_tpm_client_t *t, att_tpm_pcrs_t *vals, att_diag_t *diag)
{
    memset(vals, 0, sizeof(*vals));
    vals->nsel = t->nsel;
    memcpy(vals->sel, t->sel, sizeof(t->sel));
    att_tpm_sel_t left[ATT_TPM_MAX_BANKS];
    memcpy(left, t->sel, sizeof(left));
    for (int round = 0; round < 4 * ATT_TPM_MAX_BANKS * ATT_TPM_NUM_PCRS; round++) {
        size_t b = 0;
        while (b < t->nsel && left[b].mask == 0)
            b++;
        if (b == t->nsel)
            return ATT_OK;
        TPML_PCR_SELECTION in, *got = NULL;
        att_tpm_sel_to_tpml(&left[b], 1, &in);
        UINT32 counter;
        TPML_DIGEST *d = NULL;
        TSS2_RC rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in, &counter,
                                   &got, &d);
        if (rc != TSS2_RC_SUCCESS)
            return att_tss(diag, ATT_E_IO, rc, "TPM2_PCR_Read");
        size_t size = 0;
        const char *bank = att_tpm_bank_name(left[b].alg, &size);
        uint32_t mask = 0;
        if (got->count == 1 && got->pcrSelections[0].hash == left[b].alg)
            for (int j = 0; j < 3 && j < got->pcrSelections[0].sizeofSelect; j++)
                mask |= (uint32_t)got->pcrSelections[0].pcrSelect[j] << (8 * j);
        att_err_t e = ATT_OK;
        if (mask == 0 || (mask & ~left[b].mask) != 0 ||
            (size_t)__builtin_popcount(mask) != d->count)
            e = att_diag_set(diag, ATT_E_IO,
                             "TPM2_PCR_Read of bank %s returned no PCR or others than asked for "
                             "(is the bank active? tpm2_getcap pcrs)",
                             bank);
        for (uint32_t i = 0, k = 0; e == ATT_OK && i < ATT_TPM_NUM_PCRS; i++) {
            if (!(mask & (1u << i)))
                continue;
            if (d->digests[k].size != size) {
                e = att_diag_set(diag, ATT_E_IO, "PCR %u of bank %s is %u bytes, not %zu", i, bank,
                                 d->digests[k].size, size);
                break;
            }
            memcpy(vals->values[b][i], d->digests[k].buffer, size);
            k++;
        }
        left[b].mask &= ~mask;
        Esys_Free(got);
        Esys_Free(d);
        if (e != ATT_OK)
            return e;
    }
    return att_diag_set(diag, ATT_E_IO, "TPM2_PCR_Read did not return every selected PCR");
}

static json_t *att_b64_json(const uint8_t *p, size_t n)
{
    char *s = att_b64url_encode(p, n);
    json_t *j = s ? json_string(s) : NULL;
    free(s);
    return j;
}

static json_t *att_tpm_pcrs_json(const att_tpm_pcrs_t *v, bool maa)
{
    json_t *banks = json_array();
    for (size_t b = 0; banks && b < v->nsel; b++) {
        size_t size = 0;
        const char *name = att_tpm_bank_name(v->sel[b].alg, &size);
        json_t *vals = json_array();
        for (uint32_t i = 0; vals && i < ATT_TPM_NUM_PCRS; i++) {
            if (!(v->sel[b].mask & (1u << i)))
                continue;
            char hex[2 * ATT_TPM_MAX_DIGEST + 1];
            att_hex_encode(v->values[b][i], size, hex);
            json_array_append_new(
                vals, json_pack("{s:i,s:o}", "index", (json_int_t)i, "digest",
                                maa ? att_b64_json(v->values[b][i], size) : json_string(hex)));
        }
        /* MAA's form names the bank by its TPM_ALG_ID */
        json_array_append_new(banks,
                              json_pack("{s:o,s:o}", "algorithm",
                                        maa ? json_integer(v->sel[b].alg) : json_string(name),
                                        "values", vals));
    }
    return banks;
}

/* H(values in selection order) with the AK's hash, equal to the quote's pcrDigest? */
static att_err_t att_tpm_digest_matches(const att_tpm_client_t *t, const att_tpm_pcrs_t *v,
                                        const uint8_t *quote, size_t qlen, bool *ok,
                                        att_diag_t *diag)
{
    att_tpm_attest_t a;
    att_diag_t d;
    if (att_tpm_attest_parse(quote, qlen, &a, &d) != ATT_OK)
        return att_diag_set(diag, ATT_E_IO, "the TPM's quote does not parse: %s", d.msg);
    const EVP_MD *md = t->ak_hash == ATT_TPM_ALG_SHA1     ? EVP_sha1()
                       : t->ak_hash == ATT_TPM_ALG_SHA256 ? EVP_sha256()
                       : t->ak_hash == ATT_TPM_ALG_SHA384 ? EVP_sha384()
                                                          : EVP_sha512();
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    uint8_t h[EVP_MAX_MD_SIZE];
    unsigned int hl = 0;
    bool good = c != NULL && EVP_DigestInit_ex(c, md, NULL);
    for (size_t b = 0; good && b < v->nsel; b++) {
        size_t size = 0;
        att_tpm_bank_name(v->sel[b].alg, &size);
        for (uint32_t i = 0; good && i < ATT_TPM_NUM_PCRS; i++)
            if (v->sel[b].mask & (1u << i))
                good = EVP_DigestUpdate(c, v->values[b][i], size);
    }
    good = good && EVP_DigestFinal_ex(c, h, &hl);
    EVP_MD_CTX_free(c);
    if (!good)
        return att_diag_set(diag, ATT_E_INTERNAL, "hashing the PCR values failed");
    *ok = hl == a.pcr_digest_len && memcmp(h, a.pcr_digest, hl) == 0;
    return ATT_OK;
}

/* The AK as a public JWK (MAA's aik_pub): RSA {n, e}, EC {crv, x, y}. */
static json_t *att_tpm_ak_jwk(const att_tpm_client_t *t)
{
    TPM2B_PUBLIC tp;
    size_t off = 0;
    memset(&tp, 0, sizeof tp);
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(t->ak_public, t->ak_public_len, &off, &tp) !=
        TSS2_RC_SUCCESS)
        return NULL;
    const TPMT_PUBLIC *p = &tp.publicArea;
    if (p->type == TPM2_ALG_RSA) {
        uint32_t ex = p->parameters.rsaDetail.exponent ? p->parameters.rsaDetail.exponent : 65537;
        uint8_t eb[4] = {(uint8_t)(ex >> 24), (uint8_t)(ex >> 16), (uint8_t)(ex >> 8), (uint8_t)ex};
        size_t skip = 0;
        while (skip < 3 && eb[skip] == 0)
            skip++;
        return json_pack("{s:s,s:o,s:o}", "kty", "RSA", "n",
                         att_b64_json(p->unique.rsa.buffer, p->unique.rsa.size), "e",
                         att_b64_json(eb + skip, 4 - skip));
    }
    uint16_t curve = p->parameters.eccDetail.curveID;
    const char *crv = p->type != TPM2_ALG_ECC       ? NULL
                      : curve == TPM2_ECC_NIST_P256 ? "P-256"
                      : curve == TPM2_ECC_NIST_P384 ? "P-384"
                                                    : NULL;
    if (crv == NULL)
        return NULL;
    return json_pack("{s:s,s:s,s:o,s:o}", "kty", "EC", "crv", crv, "x",
                     att_b64_json(p->unique.ecc.x.buffer, p->unique.ecc.x.size), "y",
                     att_b64_json(p->unique.ecc.y.buffer, p->unique.ecc.y.size));
}

/* MAA's current_attestation from the quote: aik_pub, quote, signature, pcrs, logs (the
 * references to quote, sig and pcrs are taken). */
static json_t *att_tpm_current_json(const att_tpm_client_t *t, json_t *quote, json_t *sig,
                                    json_t *pcrs)
{
    json_t *logs = json_array();
    if (logs != NULL && t->tcg_log != NULL)
        json_array_append_new(logs, json_pack("{s:s,s:o}", "type", "TCG", "log",
                                              att_b64_json(t->tcg_log, t->tcg_log_len)));
    if (logs != NULL && t->ima_log != NULL)
        json_array_append_new(logs, json_pack("{s:s,s:o}", "type", "IMA", "log",
                                              att_b64_json(t->ima_log, t->ima_log_len)));
    json_t *jwk = att_tpm_ak_jwk(t);
    if (jwk == NULL || logs == NULL || quote == NULL || sig == NULL || pcrs == NULL) {
        json_decref(jwk);
        json_decref(logs);
        json_decref(quote);
        json_decref(sig);
        json_decref(pcrs);
        return NULL;
    }
    return json_pack("{s:o,s:o,s:o,s:o,s:o}", "aik_pub", jwk, "quote", quote, "signature", sig,
                     "pcrs", pcrs, "logs", logs);
}

att_err_t att_tpm_client_members(att_tpm_client_t *t, const uint8_t *nonce, size_t len, bool maa,
                                 json_t **out, att_diag_t *diag)
{
    *out = NULL;
    if (t == NULL || (nonce == NULL && len != 0))
        return att_diag_set(diag, ATT_E_ARG, "TPM quote: NULL argument");
    if (len == 0 || len > 64)
        return att_diag_set(diag, ATT_E_ARG,
                            "TPM quote: the qualifying data is %zu bytes (1 to 64 are taken)", len);
    TPM2B_DATA qd = {.size = (UINT16)len};
    memcpy(qd.buffer, nonce, len);
    TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
    TPML_PCR_SELECTION sel;
    att_tpm_sel_to_tpml(t->sel, t->nsel, &sel);
    att_tpm_pcrs_t *vals = calloc(1, sizeof(*vals));
    if (vals == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    att_err_t e = ATT_OK;
    TPM2B_ATTEST *q = NULL;
    TPMT_SIGNATURE *sig = NULL;
    bool ok = false;
    for (int attempt = 0; !ok && attempt < ATT_TPM_QUOTE_ATTEMPTS; attempt++) {
        Esys_Free(q);
        Esys_Free(sig);
        q = NULL;
        sig = NULL;
        TSS2_RC rc = Esys_Quote(t->esys, t->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qd,
                                &scheme, &sel, &q, &sig);
        if (rc != TSS2_RC_SUCCESS) {
            e = att_tss(diag, ATT_E_IO, rc, "TPM2_Quote");
            goto out;
        }
        if ((e = att_tpm_read_pcrs(t, vals, diag)) != ATT_OK ||
            (e = att_tpm_digest_matches(t, vals, q->attestationData, q->size, &ok, diag)) != ATT_OK)
            goto out;
    }
    if (!ok) {
        e = att_diag_set(diag, ATT_E_IO,
                         "the PCRs changed between the quote and reading them, %d times; retry",
                         ATT_TPM_QUOTE_ATTEMPTS);
        goto out;
    }
    uint8_t sbuf[sizeof(TPMT_SIGNATURE)];
    size_t slen = 0;
    TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, sbuf, sizeof(sbuf), &slen);
    if (rc != TSS2_RC_SUCCESS) {
        e = att_tss(diag, ATT_E_INTERNAL, rc, "marshalling the TPMT_SIGNATURE");
        goto out;
    }
    if (maa) {
        *out = att_tpm_current_json(t, att_b64_json(q->attestationData, q->size),
                                    att_b64_json(sbuf, slen), att_tpm_pcrs_json(vals, true));
        if (*out == NULL)
            e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    json_t *m = json_object();
    if (m == NULL || json_object_set_new(m, "ak", att_b64_json(t->ak_public, t->ak_public_len)) ||
        json_object_set_new(m, "quote", att_b64_json(q->attestationData, q->size)) ||
        json_object_set_new(m, "signature", att_b64_json(sbuf, slen)) ||
        json_object_set_new(m, "pcrs", att_tpm_pcrs_json(vals, false)) ||
        (t->tcg_log &&
         json_object_set_new(m, "tcg_log", att_b64_json(t->tcg_log, t->tcg_log_len))) ||
        (t->ima_log &&
         json_object_set_new(m, "ima_log", att_b64_json(t->ima_log, t->ima_log_len))) ||
        (t->ek_cert &&
         json_object_set_new(m, "ek_cert", att_b64_json(t->ek_cert, t->ek_cert_len)))) {
        json_decref(m);
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    *out = m;
out:
    Esys_Free(q);
    Esys_Free(sig);
    free(vals);
    return e;
}

ATT_API att_err_t att_tpm_client_quote(att_tpm_client_t *t, const uint8_t *nonce, size_t len,
                                       char **members, att_diag_t *diag)
{
    if (members != NULL)
        *members = NULL;
    if (members == NULL)
        return att_diag_set(diag, ATT_E_ARG, "TPM quote: NULL argument");
    json_t *m;
    att_err_t e = att_tpm_client_members(t, nonce, len, false, &m, diag);
    if (e != ATT_OK)
        return e;
    *members = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(m);
    return *members ? ATT_OK : att_diag_set(diag, ATT_E_NOMEM, "out of memory");
}

/* ---- credential activation --------------------------------------------------------------- */

/* A TPM2B given marshalled (u16 size first, the rest exactly that long) or as its bare buffer. */
static bool att_tpm2b_in(const uint8_t *p, size_t n, size_t cap, uint16_t *size, uint8_t *buf)
{
    if (n >= 2 && ((size_t)p[0] << 8 | p[1]) == n - 2) {
        p += 2;
        n -= 2;
    }
    if (n == 0 || n > cap)
        return false;
    *size = (uint16_t)n;
    memcpy(buf, p, n);
    return true;
}

ATT_API att_err_t att_tpm_client_activate(att_tpm_client_t *t, const uint8_t *blob, size_t blob_len,
                                          const uint8_t *secret, size_t secret_len, uint8_t out[64],
                                          size_t *out_len, att_diag_t *diag)
{
    if (out_len != NULL)
        *out_len = 0;
    if (t == NULL || blob == NULL || secret == NULL || out == NULL || out_len == NULL)
        return att_diag_set(diag, ATT_E_ARG, "TPM activation: NULL argument");
    TPM2B_ID_OBJECT cb = {0};
    TPM2B_ENCRYPTED_SECRET es = {0};
    if (!att_tpm2b_in(blob, blob_len, sizeof(cb.credential), &cb.size, cb.credential))
        return att_diag_set(diag, ATT_E_ARG,
                            "the credential blob is %zu bytes (a TPM2B_ID_OBJECT holds 1 to %zu)",
                            blob_len, sizeof(cb.credential));
    if (!att_tpm2b_in(secret, secret_len, sizeof(es.secret), &es.size, es.secret))
        return att_diag_set(
            diag, ATT_E_ARG,
            "the encrypted secret is %zu bytes (a TPM2B_ENCRYPTED_SECRET holds 1 to %zu)",
            secret_len, sizeof(es.secret));
    ESYS_TR s;
    att_err_t e = att_tpm_ek_session(t, &s, diag);
    if (e != ATT_OK)
        return e;
    TPM2B_DIGEST *ci = NULL;
    TSS2_RC rc = Esys_ActivateCredential(t->esys, t->ak, t->ek, ESYS_TR_PASSWORD, s, ESYS_TR_NONE,
                                         &cb, &es, &ci);
    att_tpm_session_done(t, s);
    if (rc != TSS2_RC_SUCCESS)
        return att_tss(diag, ATT_E_IO, rc,
                       "TPM2_ActivateCredential (was the credential made for this AK's name and "
                       "this EK?)");
    if (ci->size > 64) {
        OPENSSL_cleanse(ci->buffer, ci->size);
        Esys_Free(ci);
        return att_diag_set(diag, ATT_E_LIMIT, "the activated secret is longer than 64 bytes");
    }
    memcpy(out, ci->buffer, ci->size);
    *out_len = ci->size;
    OPENSSL_cleanse(ci->buffer, ci->size);
    Esys_Free(ci);
    return ATT_OK;
}
