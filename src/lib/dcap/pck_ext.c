/* pck_ext.c - the SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1).
 *
 * A SEQUENCE of (OID, value) pairs; the TCB entry is itself a SEQUENCE of pairs
 * (comp SVNs .2.1-.2.16, PCESVN .2.17, CPUSVN .2.18). Decoded with OpenSSL's generic
 * ASN.1 types; every value's type and size is checked. Not checked: the meaning of the
 * values (see verify.c).
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>

#include "dcap/dcap_internal.h"

#define ATT_SGX_OID "1.2.840.113741.1.13.1"

/* Decode a DER SEQUENCE of SEQUENCE { OID, value } into parallel arrays. */
typedef struct {
    char oid[64];
    ASN1_TYPE *value;
} att_pair_t;

static int att_pairs(const unsigned char *der, long len, att_pair_t *pairs, int max,
                     STACK_OF(ASN1_TYPE) **keep)
{
    const unsigned char *p = der;
    STACK_OF(ASN1_TYPE) *seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, len);
    if (seq == NULL || p != der + len) {
        sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
        return -1;
    }
    int n = sk_ASN1_TYPE_num(seq);
    if (n > max) {
        sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
        return -1;
    }
    keep[0] = seq;
    int out = 0;
    for (int i = 0; i < n; i++) {
        ASN1_TYPE *t = sk_ASN1_TYPE_value(seq, i);
        if (t->type != V_ASN1_SEQUENCE)
            return -1;
        const unsigned char *q = t->value.sequence->data;
        long qlen = t->value.sequence->length;
        STACK_OF(ASN1_TYPE) *pair = d2i_ASN1_SEQUENCE_ANY(NULL, &q, qlen);
        if (pair == NULL || q != t->value.sequence->data + qlen || sk_ASN1_TYPE_num(pair) != 2 ||
            sk_ASN1_TYPE_value(pair, 0)->type != V_ASN1_OBJECT) {
            sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
            return -1;
        }
        keep[1 + i] = (STACK_OF(ASN1_TYPE) *)pair;
        OBJ_obj2txt(pairs[out].oid, sizeof(pairs[out].oid),
                    sk_ASN1_TYPE_value(pair, 0)->value.object, 1);
        pairs[out].value = sk_ASN1_TYPE_value(pair, 1);
        out++;
    }
    return out;
}

static void att_pairs_free(STACK_OF(ASN1_TYPE) **keep, int n)
{
    for (int i = 0; i < n; i++)
        sk_ASN1_TYPE_pop_free(keep[i], ASN1_TYPE_free);
}

static bool att_octets(const ASN1_TYPE *t, uint8_t *out, int n)
{
    if (t->type != V_ASN1_OCTET_STRING || t->value.octet_string->length != n)
        return false;
    memcpy(out, t->value.octet_string->data, (size_t)n);
    return true;
}

static bool att_small_int(const ASN1_TYPE *t, int type, long max, long *out)
{
    if (t->type != type)
        return false;
    long v = type == V_ASN1_INTEGER ? ASN1_INTEGER_get(t->value.integer)
                                    : ASN1_ENUMERATED_get(t->value.enumerated);
    if (v < 0 || v > max)
        return false;
    *out = v;
    return true;
}

#define ATT_PCK_MAX_PAIRS 32

att_err_t att_pck_ext_parse(X509 *leaf, att_pck_ext_t *out, att_diag_t *diag)
{
    memset(out, 0, sizeof(*out));
    ASN1_OBJECT *obj = OBJ_txt2obj(ATT_SGX_OID, 1);
    int idx = obj ? X509_get_ext_by_OBJ(leaf, obj, -1) : -1;
    ASN1_OBJECT_free(obj);
    if (idx < 0)
        return att_diag_set(diag, ATT_E_PCK_EXTENSION,
                            "PCK certificate has no SGX extension " ATT_SGX_OID);
    ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509_get_ext(leaf, idx));

    att_pair_t top[ATT_PCK_MAX_PAIRS], tcb[ATT_PCK_MAX_PAIRS];
    STACK_OF(ASN1_TYPE) *keep_top[1 + ATT_PCK_MAX_PAIRS] = {0}, *keep_tcb[1 + ATT_PCK_MAX_PAIRS] = {0};
    int ntcb = 0, found = 0;
    att_err_t e = ATT_OK;
    int ntop = att_pairs(os->data, os->length, top, ATT_PCK_MAX_PAIRS, keep_top);
    if (ntop < 0) {
        e = att_diag_set(diag, ATT_E_PCK_EXTENSION, "PCK SGX extension is not a SEQUENCE of "
                                                    "(OID, value) pairs");
        goto out;
    }
    for (int i = 0; i < ntop; i++) {
        const char *o = top[i].oid;
        if (strncmp(o, ATT_SGX_OID ".", sizeof(ATT_SGX_OID)) != 0)
            continue;
        const char *sub = o + sizeof(ATT_SGX_OID);
        ASN1_TYPE *v = top[i].value;
        long n;
        if (!strcmp(sub, "1")) {
            if (!att_octets(v, out->ppid, 16))
                goto bad;
            found |= 1;
        } else if (!strcmp(sub, "3")) {
            if (!att_octets(v, out->pceid, 2))
                goto bad;
            found |= 2;
        } else if (!strcmp(sub, "4")) {
            if (!att_octets(v, out->fmspc, 6))
                goto bad;
            found |= 4;
        } else if (!strcmp(sub, "5")) {
            if (!att_small_int(v, V_ASN1_ENUMERATED, 2, &n))
                goto bad;
            out->sgx_type = (int)n;
            found |= 8;
        } else if (!strcmp(sub, "2")) {
            if (v->type != V_ASN1_SEQUENCE || (found & 16))
                goto bad;
            ntcb = att_pairs(v->value.sequence->data, v->value.sequence->length, tcb,
                             ATT_PCK_MAX_PAIRS, keep_tcb);
            if (ntcb < 0)
                goto bad;
            int comps = 0;
            for (int j = 0; j < ntcb; j++) {
                const char *to = tcb[j].oid;
                if (strncmp(to, ATT_SGX_OID ".2.", sizeof(ATT_SGX_OID) + 2) != 0)
                    continue;
                int k = atoi(to + sizeof(ATT_SGX_OID) + 2);
                if (k >= 1 && k <= 16) {
                    if (!att_small_int(tcb[j].value, V_ASN1_INTEGER, 255, &n))
                        goto bad;
                    out->comp_svn[k - 1] = (uint8_t)n;
                    comps |= 1 << (k - 1);
                } else if (k == 17) {
                    if (!att_small_int(tcb[j].value, V_ASN1_INTEGER, 65535, &n))
                        goto bad;
                    out->pcesvn = (uint16_t)n;
                    comps |= 1 << 16;
                } else if (k == 18) {
                    if (!att_octets(tcb[j].value, out->cpusvn, 16))
                        goto bad;
                    comps |= 1 << 17;
                }
            }
            if (comps != (1 << 18) - 1) {
                e = att_diag_set(diag, ATT_E_PCK_EXTENSION,
                                 "PCK SGX extension TCB lacks components (have mask 0x%05x, "
                                 "need 16 SVNs, PCESVN and CPUSVN)",
                                 comps);
                goto out;
            }
            found |= 16;
        }
    }
    if ((found & 0x17) != 0x17) {
        e = att_diag_set(diag, ATT_E_PCK_EXTENSION,
                         "PCK SGX extension lacks %s%s%s%s", (found & 1) ? "" : "PPID ",
                         (found & 2) ? "" : "PCE-ID ", (found & 4) ? "" : "FMSPC ",
                         (found & 16) ? "" : "TCB ");
    }
    goto out;
bad:
    e = att_diag_set(diag, ATT_E_PCK_EXTENSION,
                     "PCK SGX extension has a value of the wrong type or size");
out:
    att_pairs_free(keep_top, 1 + ATT_PCK_MAX_PAIRS);
    att_pairs_free(keep_tcb, 1 + ATT_PCK_MAX_PAIRS);
    return e;
}
