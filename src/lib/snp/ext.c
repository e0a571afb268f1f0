/* ext.c - the AMD extensions of a VCEK or VLEK certificate (OIDs 1.3.6.1.4.1.3704.1.*).
 *
 * Each extension's value (the extnValue OCTET STRING's content) is itself DER: an INTEGER for
 * structVersion (.1) and the TCB SPLs (.3.1-.3.9), an IA5String for productName (.2) and csp_id
 * (.5, VLEK). The hwID (.4) is the chip id's raw bytes in every certificate AMD's KDS issued
 * (64 bytes, 8 on Turin), but wrapped in an OCTET STRING in newer encoders (trustee's "new"
 * test certificate): both are read. An SPL INTEGER above 127 takes two content bytes (0x00 0xD9
 * for 217). Every extension may appear once. Not checked here: what the values must equal
 * (verify.c compares them with the report).
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>

#include "snp/snp_int.h"

#define ATT_AMD_OID "1.3.6.1.4.1.3704.1."

/* An INTEGER 0..255 filling der[0..len) exactly. */
static bool att_ext_u8(const uint8_t *der, size_t len, uint8_t *out)
{
    const unsigned char *p = der;
    ASN1_INTEGER *i = d2i_ASN1_INTEGER(NULL, &p, (long)len);
    bool ok = false;
    if (i != NULL && p == der + len) {
        long v = ASN1_INTEGER_get(i);
        if (v >= 0 && v <= 255) {
            *out = (uint8_t)v;
            ok = true;
        }
    }
    ASN1_INTEGER_free(i);
    return ok;
}

/* An INTEGER 0..1000 (structVersion). */
static bool att_ext_long(const uint8_t *der, size_t len, long *out)
{
    const unsigned char *p = der;
    ASN1_INTEGER *i = d2i_ASN1_INTEGER(NULL, &p, (long)len);
    bool ok = false;
    if (i != NULL && p == der + len) {
        long v = ASN1_INTEGER_get(i);
        if (v >= 0 && v <= 1000) {
            *out = v;
            ok = true;
        }
    }
    ASN1_INTEGER_free(i);
    return ok;
}

/* An IA5String of printable ASCII filling der[0..len), into out (NUL-terminated). */
static bool att_ext_ia5(const uint8_t *der, size_t len, char *out, size_t cap)
{
    const unsigned char *p = der;
    ASN1_IA5STRING *s = d2i_ASN1_IA5STRING(NULL, &p, (long)len);
    bool ok = false;
    if (s != NULL && p == der + len) {
        size_t n = (size_t)ASN1_STRING_length(s);
        const unsigned char *d = ASN1_STRING_get0_data(s);
        ok = n > 0 && n < cap;
        for (size_t k = 0; ok && k < n; k++)
            ok = d[k] >= 0x20 && d[k] <= 0x7e;
        if (ok) {
            memcpy(out, d, n);
            out[n] = '\0';
        }
    }
    ASN1_IA5STRING_free(s);
    return ok;
}

/* hwID: 64 or 8 raw bytes, or those wrapped in an OCTET STRING (04 40 ... / 04 08 ...). */
static bool att_ext_hwid(const uint8_t *v, size_t len, att_snp_ext_t *out)
{
    if (len == 64 || len == 8) {
        memcpy(out->hwid, v, len);
        out->hwid_len = len;
        return true;
    }
    if ((len == 66 || len == 10) && v[0] == V_ASN1_OCTET_STRING && v[1] == len - 2) {
        memcpy(out->hwid, v + 2, len - 2);
        out->hwid_len = len - 2;
        return true;
    }
    return false;
}

att_snp_product_t att_snp_ext_product(const att_snp_ext_t *x)
{
    if (!x->has_product)
        return ATT_SNP_PRODUCT_UNKNOWN;
    const char *dash = strchr(x->product, '-'); /* "Milan-B0": the stepping after the dash */
    return att_snp_product_parse(x->product,
                                 dash ? (size_t)(dash - x->product) : strlen(x->product));
}

att_err_t att_snp_ext_parse(X509 *leaf, att_snp_ext_t *out, att_diag_t *diag)
{
    memset(out, 0, sizeof(*out));
    int n = X509_get_ext_count(leaf);
    for (int i = 0; i < n; i++) {
        X509_EXTENSION *ext = X509_get_ext(leaf, i);
        char oid[80];
        if (OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ext), 1) <= 0)
            continue;
        if (strncmp(oid, ATT_AMD_OID, strlen(ATT_AMD_OID)) != 0)
            continue;
        const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(ext);
        const uint8_t *v = ASN1_STRING_get0_data(os);
        size_t len = (size_t)ASN1_STRING_length(os);
        const char *arc = oid + strlen(ATT_AMD_OID);
        bool ok, dup;
        if (strcmp(arc, "1") == 0) {
            dup = out->has_struct_version;
            ok = att_ext_long(v, len, &out->struct_version);
            out->has_struct_version = true;
        } else if (strcmp(arc, "2") == 0) {
            dup = out->has_product;
            ok = att_ext_ia5(v, len, out->product, sizeof(out->product));
            out->has_product = true;
        } else if (strncmp(arc, "3.", 2) == 0 && arc[2] >= '1' && arc[2] <= '9' && arc[3] == '\0') {
            int k = arc[2] - '0';
            dup = out->has_spl[k];
            ok = att_ext_u8(v, len, &out->spl[k]);
            out->has_spl[k] = true;
        } else if (strcmp(arc, "4") == 0) {
            dup = out->has_hwid;
            ok = att_ext_hwid(v, len, out);
            out->has_hwid = true;
        } else if (strcmp(arc, "5") == 0) {
            dup = out->has_csp_id;
            ok = att_ext_ia5(v, len, out->csp_id, sizeof(out->csp_id));
            out->has_csp_id = true;
        } else {
            continue; /* an AMD extension this verifier does not use */
        }
        if (dup)
            return att_diag_set(diag, ATT_E_SNP_CERT_EXTENSION,
                                "VCEK/VLEK extension %s appears more than once", oid);
        if (!ok)
            return att_diag_set(diag, ATT_E_SNP_CERT_EXTENSION,
                                "VCEK/VLEK extension %s (%zu bytes) is not a %s", oid, len,
                                arc[0] == '2' || arc[0] == '5' ? "printable IA5String"
                                : arc[0] == '4'                ? "64 or 8 byte hwID"
                                                               : "DER INTEGER in range");
    }
    return ATT_OK;
}
