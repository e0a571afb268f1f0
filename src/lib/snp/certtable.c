/* certtable.c - the SEV-SNP extended guest request's certificate table (attest/snp_guest.h) and
 * MAA's JSON evidence made from a report and that table's certificates.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/snp_guest.h"
#include "attest/token.h"
#include "core/cursor.h"

/* The GUIDs of the GHCB specification, in RFC 4122 byte order. */
static const uint8_t att_guid_vcek[16] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                          0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
static const uint8_t att_guid_vlek[16] = {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e,
                                          0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1};
static const uint8_t att_guid_ask[16] = {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
                                         0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82};
static const uint8_t att_guid_ark[16] = {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52,
                                         0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae};

ATT_API att_err_t att_snp_cert_table_parse(const uint8_t *blob, size_t len, att_snp_certs_t *out,
                                           att_diag_t *diag)
{
    memset(out, 0, sizeof(*out));
    static const uint8_t zero[16];
    att_cursor_t c = att_cursor(blob, len);
    size_t n = 0;
    for (;; n++) {
        const uint8_t *guid;
        uint32_t off, l;
        if (!att_cur_bytes(&c, 16, &guid) || !att_cur_u32(&c, &off) || !att_cur_u32(&c, &l))
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "certificate table: entry %zu runs past the %zu-byte blob (no "
                                "all-zero terminator)",
                                n, len);
        if (memcmp(guid, zero, 16) == 0 && off == 0 && l == 0)
            break;
        if (n == ATT_SNP_CERT_TABLE_MAX)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "certificate table: more than %d entries", ATT_SNP_CERT_TABLE_MAX);
        att_slice_t *slot = memcmp(guid, att_guid_vcek, 16) == 0   ? &out->vcek
                            : memcmp(guid, att_guid_vlek, 16) == 0 ? &out->vlek
                            : memcmp(guid, att_guid_ask, 16) == 0  ? &out->ask
                            : memcmp(guid, att_guid_ark, 16) == 0  ? &out->ark
                                                                   : NULL;
        if (slot == NULL)
            continue; /* a GUID this verifier does not use (e.g. a CRL) */
        if (slot->ptr != NULL)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "certificate table: entry %zu repeats a certificate's GUID", n);
        if (l == 0 || (uint64_t)off + l > len)
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "certificate table: entry %zu (offset %u, length %u) is empty or "
                                "runs past the %zu-byte blob",
                                n, off, l, len);
        slot->ptr = blob + off;
        slot->len = l;
    }
    /* every certificate after the table, so that none overlaps the entries */
    att_slice_t *all[] = {&out->vcek, &out->vlek, &out->ask, &out->ark};
    for (size_t i = 0; i < 4; i++)
        if (all[i]->ptr != NULL && all[i]->ptr < blob + c.off) {
            size_t off = (size_t)(all[i]->ptr - blob);
            memset(out, 0, sizeof(*out));
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "certificate table: a certificate at offset %zu overlaps the "
                                "table (%zu bytes)",
                                off, c.off);
        }
    return ATT_OK;
}

/* Append one DER certificate to b as PEM. */
static att_err_t att_pem_append(BIO *b, att_slice_t der, const char *what, att_diag_t *diag)
{
    const uint8_t *p = der.ptr;
    X509 *x = d2i_X509(NULL, &p, (long)der.len);
    bool ok = x != NULL && p == der.ptr + der.len && PEM_write_bio_X509(b, x) == 1;
    X509_free(x);
    if (!ok)
        return att_diag_set(diag, ATT_E_CERT_PARSE,
                            "the %s in the certificate table is not one "
                            "DER certificate",
                            what);
    return ATT_OK;
}

ATT_API att_err_t att_snp_maa_evidence(const uint8_t *report, size_t rlen,
                                       const att_snp_certs_t *certs, char **json, size_t *jlen,
                                       att_diag_t *diag)
{
    *json = NULL;
    *jlen = 0;
    att_err_t e = ATT_OK;
    char *rb = att_b64url_encode(report, rlen), *cb = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    json_t *o = json_object();
    if (rb == NULL || b == NULL || o == NULL) {
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
        goto out;
    }
    json_object_set_new(o, "SnpReport", json_string(rb));
    att_slice_t leaf = certs && certs->vcek.ptr ? certs->vcek
                       : certs                  ? certs->vlek
                                                : (att_slice_t){0};
    if (leaf.ptr != NULL) {
        if ((e = att_pem_append(b, leaf, certs->vcek.ptr ? "VCEK" : "VLEK", diag)) != ATT_OK ||
            (certs->ask.ptr && (e = att_pem_append(b, certs->ask, "ASK", diag)) != ATT_OK) ||
            (certs->ark.ptr && (e = att_pem_append(b, certs->ark, "ARK", diag)) != ATT_OK))
            goto out;
        char *mem;
        long n = BIO_get_mem_data(b, &mem);
        if ((cb = att_b64url_encode((const uint8_t *)mem, (size_t)n)) == NULL) {
            e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
            goto out;
        }
        json_object_set_new(o, "VcekCertChain", json_string(cb));
    }
    if ((*json = json_dumps(o, JSON_COMPACT)) == NULL)
        e = att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    else
        *jlen = strlen(*json);
out:
    json_decref(o);
    BIO_free(b);
    free(rb);
    free(cb);
    return e;
}
