/* sim_store.c - persisting a simulated hierarchy: certificates 0644, private keys 0600.
 *
 * Loading reads everything back from the certificates themselves (CA type from the PCK CA's CN,
 * the PCK extension from the leaf, names, validity and serials), so the files are the only truth.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/util.h"
#include "sim/sim_internal.h"

static const char *const att_sim_file[ATT_SIM_N_CERTS] = {"root", "pck_ca", "pck", "tcb_signer"};

att_err_t att_sim_pki_save(const att_sim_pki_t *p, const char *dir, att_diag_t *diag)
{
    if (p == NULL || dir == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_pki_save: NULL argument");
    att_err_t err = att_sim_mkdir(dir, diag);
    for (int i = 0; i < ATT_SIM_N_CERTS && err == ATT_OK; i++) {
        char name[64];
        att_sim_buf_t cert = {(uint8_t *)p->pem[i], p->pem_len[i]};
        snprintf(name, sizeof name, "%s.pem", att_sim_file[i]);
        err = att_sim_write_file(dir, name, &cert, 0644, diag);
        if (err != ATT_OK)
            break;
        /* The key goes through secure memory and is written 0600. */
        BIO *bio = BIO_new(BIO_s_secmem());
        char *mem = NULL;
        long n = 0;
        if (bio != NULL && PEM_write_bio_PrivateKey(bio, p->key[i], NULL, NULL, 0, NULL, NULL) == 1)
            n = BIO_get_mem_data(bio, &mem);
        if (n <= 0) {
            BIO_free(bio);
            return att_diag_set(diag, ATT_E_INTERNAL, "cannot encode the %s key", att_sim_file[i]);
        }
        att_sim_buf_t key = {(uint8_t *)mem, (size_t)n};
        snprintf(name, sizeof name, "%s.key", att_sim_file[i]);
        err = att_sim_write_file(dir, name, &key, 0600, diag);
        BIO_free(bio);
    }
    return err;
}

/* ---- reading back ---------------------------------------------------------------------------- */

static att_err_t att_sim_read(const char *dir, const char *name, uint8_t **buf, size_t *len,
                              att_diag_t *diag)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return att_diag_set(diag, ATT_E_ARG, "path too long: %s/%s", dir, name);
    return att_read_file(path, 1 << 16, buf, len, diag);
}

static bool att_sim_time_of(const ASN1_TIME *t, att_time_t *out)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return false;
    *out = (att_time_t)timegm(&tm);
    return true;
}

static bool att_sim_serial_of(X509 *x, att_sim_serial_t *s)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    bool ok = bn != NULL && !BN_is_negative(bn) && BN_num_bytes(bn) <= ATT_SIM_SERIAL_MAX;
    if (ok)
        s->len = (size_t)BN_bn2bin(bn, s->bytes);
    BN_free(bn);
    return ok && s->len > 0;
}

static bool att_sim_text(X509_NAME *n, int nid, char *buf, size_t len)
{
    return X509_NAME_get_text_by_NID(n, nid, buf, (int)len) > 0;
}

/* Parse SEQUENCE { OID 1.2.840.113741.1.13.1.<arc>[.<sub>], value }; returns the value. */
static const ASN1_TYPE *att_sim_pair(const ASN1_TYPE *t, STACK_OF(ASN1_TYPE) * *hold, int *arc,
                                     int *sub)
{
    static const char base[] = "1.2.840.113741.1.13.1.";
    char oid[80];
    *hold = NULL;
    if (t == NULL || ASN1_TYPE_get(t) != V_ASN1_SEQUENCE)
        return NULL;
    const unsigned char *p = t->value.sequence->data;
    STACK_OF(ASN1_TYPE) *pr = d2i_ASN1_SEQUENCE_ANY(NULL, &p, t->value.sequence->length);
    if (pr == NULL)
        return NULL;
    *hold = pr;
    const ASN1_TYPE *o = sk_ASN1_TYPE_value(pr, 0);
    if (sk_ASN1_TYPE_num(pr) != 2 || ASN1_TYPE_get(o) != V_ASN1_OBJECT ||
        OBJ_obj2txt(oid, sizeof oid, o->value.object, 1) <= 0 ||
        strncmp(oid, base, sizeof base - 1) != 0)
        return NULL;
    *sub = 0;
    if (sscanf(oid + sizeof base - 1, "%d.%d", arc, sub) < 1)
        return NULL;
    return sk_ASN1_TYPE_value(pr, 1);
}

static bool att_sim_octets(const ASN1_TYPE *v, uint8_t *out, int n)
{
    if (v == NULL || ASN1_TYPE_get(v) != V_ASN1_OCTET_STRING || v->value.octet_string->length != n)
        return false;
    memcpy(out, v->value.octet_string->data, (size_t)n);
    return true;
}

static bool att_sim_small_int(const ASN1_TYPE *v, int type, long max, long *out)
{
    if (v == NULL || ASN1_TYPE_get(v) != type)
        return false;
    long x = type == V_ASN1_ENUMERATED ? ASN1_ENUMERATED_get(v->value.enumerated)
                                       : ASN1_INTEGER_get(v->value.integer);
    if (x < 0 || x > max)
        return false;
    *out = x;
    return true;
}

static bool att_sim_ext_seq(const ASN1_TYPE *v, att_sim_pck_ext_t *e, int arc)
{
    if (v == NULL || ASN1_TYPE_get(v) != V_ASN1_SEQUENCE)
        return false;
    const unsigned char *p = v->value.sequence->data;
    STACK_OF(ASN1_TYPE) *in = d2i_ASN1_SEQUENCE_ANY(NULL, &p, v->value.sequence->length);
    bool ok = in != NULL;
    for (int j = 0; ok && j < sk_ASN1_TYPE_num(in); j++) {
        STACK_OF(ASN1_TYPE) * hold;
        int a, sub;
        long x = 0;
        const ASN1_TYPE *iv = att_sim_pair(sk_ASN1_TYPE_value(in, j), &hold, &a, &sub);
        ok = iv != NULL && a == arc;
        if (!ok) {
            /* not one of ours */
        } else if (arc == 2 && sub >= 1 && sub <= 16) {
            ok = att_sim_small_int(iv, V_ASN1_INTEGER, 255, &x);
            e->comp_svn[sub - 1] = (uint8_t)x;
        } else if (arc == 2 && sub == 17) {
            ok = att_sim_small_int(iv, V_ASN1_INTEGER, 65535, &x);
            e->pcesvn = (uint16_t)x;
        } else if (arc == 2 && sub == 18) {
            ok = att_sim_octets(iv, e->cpusvn, 16);
        } else if (arc == 7 && sub >= 1 && sub <= 3 && ASN1_TYPE_get(iv) == V_ASN1_BOOLEAN) {
            bool b = iv->value.boolean != 0;
            if (sub == 1)
                e->dynamic_platform = b;
            else if (sub == 2)
                e->cached_keys = b;
            else
                e->smt_enabled = b;
        } else {
            ok = false;
        }
        sk_ASN1_TYPE_pop_free(hold, ASN1_TYPE_free);
    }
    sk_ASN1_TYPE_pop_free(in, ASN1_TYPE_free);
    return ok;
}

static bool att_sim_ext_decode(X509 *x, att_sim_pck_ext_t *e)
{
    ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    int idx = oid != NULL ? X509_get_ext_by_OBJ(x, oid, -1) : -1;
    ASN1_OBJECT_free(oid);
    if (idx < 0)
        return false;
    ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(X509_get_ext(x, idx));
    const unsigned char *p = ASN1_STRING_get0_data(val);
    STACK_OF(ASN1_TYPE) *top = d2i_ASN1_SEQUENCE_ANY(NULL, &p, ASN1_STRING_length(val));
    bool ok = top != NULL;
    for (int i = 0; ok && i < sk_ASN1_TYPE_num(top); i++) {
        STACK_OF(ASN1_TYPE) * hold;
        int arc, sub;
        long v = 0;
        const ASN1_TYPE *t = att_sim_pair(sk_ASN1_TYPE_value(top, i), &hold, &arc, &sub);
        ok = t != NULL && sub == 0;
        if (ok) {
            switch (arc) {
            case 1:
                ok = att_sim_octets(t, e->ppid, 16);
                break;
            case 2:
            case 7:
                ok = att_sim_ext_seq(t, e, arc);
                break;
            case 3:
                ok = att_sim_octets(t, e->pceid, 2);
                break;
            case 4:
                ok = att_sim_octets(t, e->fmspc, 6);
                break;
            case 5:
                ok = att_sim_small_int(t, V_ASN1_ENUMERATED, 255, &v);
                e->sgx_type = (uint8_t)v;
                break;
            case 6:
                ok = att_sim_octets(t, e->platform_instance_id, 16);
                break;
            default:
                ok = false;
            }
        }
        sk_ASN1_TYPE_pop_free(hold, ASN1_TYPE_free);
    }
    sk_ASN1_TYPE_pop_free(top, ASN1_TYPE_free);
    return ok;
}

static att_err_t att_sim_load_one(const char *dir, att_sim_pki_t *p, int i, att_diag_t *diag)
{
    char name[64];
    uint8_t *buf = NULL;
    size_t len;
    snprintf(name, sizeof name, "%s.pem", att_sim_file[i]);
    att_err_t err = att_sim_read(dir, name, &buf, &len, diag);
    if (err != ATT_OK)
        return err;
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    free(buf);
    if (x == NULL)
        return att_diag_set(diag, ATT_E_CERT_PARSE, "%s/%s is not a PEM certificate", dir, name);
    err = att_sim_pki_set_cert(p, (att_sim_cert_t)i, x, diag);
    if (err != ATT_OK)
        return err;

    snprintf(name, sizeof name, "%s.key", att_sim_file[i]);
    if ((err = att_sim_read(dir, name, &buf, &len, diag)) != ATT_OK)
        return err;
    bio = BIO_new_mem_buf(buf, (int)len);
    p->key[i] = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    OPENSSL_cleanse(buf, len);
    free(buf);
    char group[32] = "";
    if (p->key[i] == NULL || !EVP_PKEY_is_a(p->key[i], "EC") ||
        EVP_PKEY_get_group_name(p->key[i], group, sizeof group, NULL) != 1 ||
        strcmp(group, "prime256v1") != 0)
        return att_diag_set(diag, ATT_E_CERT_KEY, "%s/%s is not a P-256 private key", dir, name);
    if (X509_check_private_key(x, p->key[i]) != 1)
        return att_diag_set(diag, ATT_E_CERT_KEY, "%s/%s does not match %s.pem", dir, name,
                            att_sim_file[i]);
    att_sim_cert_opts_t *co = &p->opts.cert[i];
    if (!att_sim_time_of(X509_get0_notBefore(x), &co->not_before) ||
        !att_sim_time_of(X509_get0_notAfter(x), &co->not_after) ||
        !att_sim_serial_of(x, &co->serial))
        return att_diag_set(diag, ATT_E_CERT_PARSE, "%s/%s.pem: bad validity or serial", dir,
                            att_sim_file[i]);
    return ATT_OK;
}

att_err_t att_sim_pki_load(const char *dir, att_sim_pki_t **out, att_diag_t *diag)
{
    static const att_sim_cert_t issuer_of[ATT_SIM_N_CERTS] = {ATT_SIM_ROOT, ATT_SIM_ROOT,
                                                              ATT_SIM_PCK_CA, ATT_SIM_ROOT};
    if (dir == NULL || out == NULL)
        return att_diag_set(diag, ATT_E_ARG, "att_sim_pki_load: NULL argument");
    *out = NULL;
    att_sim_pki_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    att_err_t err = ATT_OK;
    for (int i = 0; i < ATT_SIM_N_CERTS && err == ATT_OK; i++)
        err = att_sim_load_one(dir, p, i, diag);
    for (int i = 0; i < ATT_SIM_N_CERTS && err == ATT_OK; i++) {
        if (X509_verify(p->cert[i], p->key[issuer_of[i]]) != 1)
            err = att_diag_set(diag, ATT_E_CERT_SIGNATURE, "%s/%s.pem is not signed by %s.key", dir,
                               att_sim_file[i], att_sim_file[issuer_of[i]]);
    }
    char cn[128] = "";
    if (err == ATT_OK && (!att_sim_text(X509_get_subject_name(p->cert[ATT_SIM_ROOT]),
                                        NID_commonName, p->root_cn, sizeof p->root_cn) ||
                          !att_sim_text(X509_get_subject_name(p->cert[ATT_SIM_ROOT]),
                                        NID_organizationName, p->org, sizeof p->org) ||
                          !att_sim_text(X509_get_subject_name(p->cert[ATT_SIM_PCK_CA]),
                                        NID_commonName, cn, sizeof cn)))
        err = att_diag_set(diag, ATT_E_CERT_SUBJECT, "%s: certificates lack CN or O", dir);
    if (err == ATT_OK) {
        if (strcmp(cn, "Intel SGX PCK Platform CA") == 0)
            p->opts.ca = ATT_SIM_CA_PLATFORM;
        else if (strcmp(cn, "Intel SGX PCK Processor CA") == 0)
            p->opts.ca = ATT_SIM_CA_PROCESSOR;
        else
            err = att_diag_set(diag, ATT_E_CERT_SUBJECT, "%s/pck_ca.pem: unexpected CN '%s'", dir,
                               cn);
    }
    if (err == ATT_OK && !att_sim_ext_decode(p->cert[ATT_SIM_PCK], &p->opts.pck))
        err =
            att_diag_set(diag, ATT_E_PCK_EXTENSION, "%s/pck.pem: SGX extension is malformed", dir);
    if (err != ATT_OK) {
        att_sim_pki_free(p);
        return err;
    }
    p->opts.root_cn = p->root_cn;
    p->opts.org = p->org;
    *out = p;
    return ATT_OK;
}
