/* pck_ext.c - the SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1).
 *
 * A SEQUENCE of (OID, value) pairs; the TCB entry is itself a SEQUENCE of pairs
 * (comp SVNs .2.1-.2.16, PCESVN .2.17, CPUSVN .2.18). Decoded with OpenSSL's generic
 * ASN.1 types; every value's type and size is checked, and the shape is Intel's QVL's: 5 or 7
 * top-level entries (.1-.5, plus .6 and .7 for platform CA leaves), each once, and exactly
 * the 18 TCB entries. Not checked: the meaning of the values (see verify.c).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The dotted text of an OID, as OBJ_obj2txt(.., 1) gives it. OIDs under the SGX arc whose
 * further arcs are each below 128 (one content byte: every OID of the PCK extension) are written
 * from their content bytes directly; anything else goes through OBJ_obj2txt, which costs about a
 * tenth of a first-seen quote's verification when used for every entry. */
void att_dcap_oid_text(const ASN1_OBJECT *o, char *out, size_t n)
{
    /* 1.2.840.113741.1.13.1 */
    static const uint8_t sgx[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};
    const unsigned char *d = OBJ_get0_data(o);
    size_t len = OBJ_length(o), used = strlen(ATT_SGX_OID);
    bool fast = d != NULL && len > sizeof sgx && len - sizeof sgx <= 8 &&
                memcmp(d, sgx, sizeof sgx) == 0 && n > used + 4 * (len - sizeof sgx);
    for (size_t i = sizeof sgx; fast && i < len; i++)
        fast = d[i] < 0x80;
    if (!fast) {
        OBJ_obj2txt(out, (int)n, o, 1);
        return;
    }
    memcpy(out, ATT_SGX_OID, used);
    for (size_t i = sizeof sgx; i < len; i++)
        used += (size_t)snprintf(out + used, n - used, ".%u", d[i]);
}

static int att_pairs(const unsigned char *der, long len, att_pair_t *pairs, int max,
                     STACK_OF(ASN1_TYPE) * *keep)
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
        att_dcap_oid_text(sk_ASN1_TYPE_value(pair, 0)->value.object, pairs[out].oid,
                          sizeof(pairs[out].oid));
        pairs[out].value = sk_ASN1_TYPE_value(pair, 1);
        out++;
    }
    return out;
}

static void att_pairs_free(STACK_OF(ASN1_TYPE) * *keep, int n)
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

/* The arc k of "1.2.840.113741.1.13.1.<prefix>k" (k = 1..99), or 0 if the OID is not of that form.
 */
static int att_sgx_arc(const char *oid, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(oid, prefix, pl) != 0)
        return 0;
    const char *a = oid + pl;
    if (a[0] < '1' || a[0] > '9' || (a[1] != '\0' && (a[1] < '0' || a[1] > '9' || a[2] != '\0')))
        return 0;
    return atoi(a);
}

/* The TCB entry (.2): exactly 18 pairs, .2.1-.2.16 (INTEGER 0-255), .2.17 PCESVN (INTEGER
 * 0-65535) and .2.18 CPUSVN (OCTET STRING 16), each once and nothing else, as QVL requires. */
static att_err_t att_pck_tcb(const ASN1_TYPE *v, att_pck_ext_t *out, att_diag_t *diag)
{
    att_pair_t tcb[ATT_PCK_MAX_PAIRS];
    STACK_OF(ASN1_TYPE) * keep[1 + ATT_PCK_MAX_PAIRS] = {0};
    att_err_t e = ATT_OK;
    uint32_t seen = 0;
    long n = 0;
    int ntcb = v->type == V_ASN1_SEQUENCE
                   ? att_pairs(v->value.sequence->data, v->value.sequence->length, tcb,
                               ATT_PCK_MAX_PAIRS, keep)
                   : -1;
    if (ntcb < 0) {
        e = att_diag_set(diag, ATT_E_PCK_EXTENSION,
                         "PCK SGX extension TCB is not a SEQUENCE of "
                         "(OID, value) pairs");
        goto out;
    }
    if (ntcb != 18) {
        e = att_diag_set(diag, ATT_E_PCK_EXTENSION,
                         "PCK SGX extension TCB holds %d entries, "
                         "expected 18 (16 component SVNs, PCESVN, CPUSVN)",
                         ntcb);
        goto out;
    }
    for (int j = 0; j < ntcb; j++) {
        int k = att_sgx_arc(tcb[j].oid, ATT_SGX_OID ".2.");
        bool ok;
        if (k < 1 || k > 18) {
            e = att_diag_set(diag, ATT_E_PCK_EXTENSION,
                             "PCK SGX extension TCB has an unknown "
                             "entry %.64s",
                             tcb[j].oid);
            goto out;
        }
        if (seen >> k & 1) {
            e = att_diag_set(diag, ATT_E_PCK_EXTENSION,
                             "PCK SGX extension TCB has entry " ATT_SGX_OID ".2.%d twice", k);
            goto out;
        }
        seen |= 1u << k;
        if (k <= 16) {
            ok = att_small_int(tcb[j].value, V_ASN1_INTEGER, 255, &n);
            out->comp_svn[k - 1] = (uint8_t)n;
        } else if (k == 17) {
            ok = att_small_int(tcb[j].value, V_ASN1_INTEGER, 65535, &n);
            out->pcesvn = (uint16_t)n;
        } else {
            ok = att_octets(tcb[j].value, out->cpusvn, 16);
        }
        if (!ok) {
            e = att_diag_set(diag, ATT_E_PCK_EXTENSION,
                             "PCK SGX extension TCB entry " ATT_SGX_OID
                             ".2.%d has a value of the wrong type or size",
                             k);
            goto out;
        }
    }
out:
    att_pairs_free(keep, 1 + ATT_PCK_MAX_PAIRS);
    return e;
}

/* Names of the top-level entries .1-.7, for messages. */
static const char *const att_sgx_top_names[8] = {
    NULL, "PPID", "TCB", "PCE-ID", "FMSPC", "SGX type", "PlatformInstanceID", "Configuration"};

att_err_t att_pck_ext_parse(X509 *leaf, att_pck_ext_t *out, att_diag_t *diag)
{
    memset(out, 0, sizeof(*out));
    ASN1_OBJECT *obj = OBJ_txt2obj(ATT_SGX_OID, 1);
    int idx = obj ? X509_get_ext_by_OBJ(leaf, obj, -1) : -1;
    int again = idx >= 0 ? X509_get_ext_by_OBJ(leaf, obj, idx) : -1;
    ASN1_OBJECT_free(obj);
    if (idx < 0)
        return att_diag_set(diag, ATT_E_PCK_EXTENSION,
                            "PCK certificate has no SGX extension " ATT_SGX_OID);
    if (again >= 0)
        return att_diag_set(diag, ATT_E_PCK_EXTENSION,
                            "PCK certificate has the SGX extension " ATT_SGX_OID " twice");
    ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509_get_ext(leaf, idx));

    att_pair_t top[ATT_PCK_MAX_PAIRS];
    STACK_OF(ASN1_TYPE) * keep_top[1 + ATT_PCK_MAX_PAIRS] = {0};
    uint32_t seen = 0;
    att_err_t e = ATT_OK;
    int ntop = att_pairs(os->data, os->length, top, ATT_PCK_MAX_PAIRS, keep_top);
    if (ntop < 0) {
        e = att_diag_set(diag, ATT_E_PCK_EXTENSION,
                         "PCK SGX extension is not a SEQUENCE of "
                         "(OID, value) pairs");
        goto out;
    }
    /* QVL: 5 entries (processor CA leaves) or 7 (platform CA leaves, with PlatformInstanceID
     * and Configuration); here each of .1-.7 at most once and nothing else, so 7 means .1-.7. */
    if (ntop != 5 && ntop != 7) {
        e = att_diag_set(diag, ATT_E_PCK_EXTENSION,
                         "PCK SGX extension holds %d entries, "
                         "expected 5 (processor CA) or 7 (platform CA)",
                         ntop);
        goto out;
    }
    for (int i = 0; i < ntop; i++) {
        int k = att_sgx_arc(top[i].oid, ATT_SGX_OID ".");
        ASN1_TYPE *v = top[i].value;
        long n = 0;
        bool ok;
        if (k < 1 || k > 7) {
            e = att_diag_set(diag, ATT_E_PCK_EXTENSION,
                             "PCK SGX extension has an unknown "
                             "entry %.64s",
                             top[i].oid);
            goto out;
        }
        if (seen >> k & 1) {
            e = att_diag_set(diag, ATT_E_PCK_EXTENSION,
                             "PCK SGX extension has its %s entry "
                             "twice",
                             att_sgx_top_names[k]);
            goto out;
        }
        seen |= 1u << k;
        switch (k) {
        case 1:
            ok = att_octets(v, out->ppid, 16);
            break;
        case 2:
            if ((e = att_pck_tcb(v, out, diag)) != ATT_OK)
                goto out;
            ok = true;
            break;
        case 3:
            ok = att_octets(v, out->pceid, 2);
            break;
        case 4:
            ok = att_octets(v, out->fmspc, 6);
            break;
        case 5:
            ok = att_small_int(v, V_ASN1_ENUMERATED, 2, &n);
            out->sgx_type = (int)n;
            break;
        case 6:
            ok = v->type == V_ASN1_OCTET_STRING && v->value.octet_string->length == 16;
            break;
        default:
            ok = v->type == V_ASN1_SEQUENCE;
            break;
        }
        if (!ok) {
            e = att_diag_set(diag, ATT_E_PCK_EXTENSION,
                             "PCK SGX extension %s entry has a value "
                             "of the wrong type or size",
                             att_sgx_top_names[k]);
            goto out;
        }
    }
    for (int k = 1; k <= 5; k++)
        if (!(seen >> k & 1)) {
            e = att_diag_set(diag, ATT_E_PCK_EXTENSION, "PCK SGX extension lacks its %s entry",
                             att_sgx_top_names[k]);
            goto out;
        }
out:
    att_pairs_free(keep_top, 1 + ATT_PCK_MAX_PAIRS);
    return e;
}
