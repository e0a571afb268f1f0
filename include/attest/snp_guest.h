/* attest/snp_guest.h - what an SEV-SNP guest gets from the host besides its report: the
 * certificate table of the extended guest request (GHCB specification 2, "SNP Extended Guest
 * Request"), which configfs-tsm exposes as `auxblob` and /dev/sev-guest returns with
 * SNP_GET_EXT_REPORT.
 *
 *   att_snp_certs_t c;
 *   if (att_snp_cert_table_parse(blob, len, &c, &diag) == ATT_OK)
 *       ... c.vcek / c.vlek, c.ask, c.ark: DER slices inside blob (NULL when absent) ...
 *
 * The table is entries of {GUID (16 bytes, RFC 4122 byte order), offset (u32), length (u32)},
 * ended by an all-zero entry; offsets are from the start of the table. Checked: every entry and
 * the terminator lie inside the blob, every certificate lies inside it, after the table, and does
 * not overlap the table; a GUID appears at most once; at most ATT_SNP_CERT_TABLE_MAX entries.
 * Unknown GUIDs are skipped. NOT checked here: the certificates themselves (att_snp_verify).
 */
#ifndef ATTEST_SNP_GUEST_H
#define ATTEST_SNP_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "attest/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ATT_SNP_CERT_TABLE_MAX 64

typedef struct {
    att_slice_t vcek, vlek, ask, ark; /* DER; ptr NULL when the table has none */
} att_snp_certs_t;

ATT_API att_err_t att_snp_cert_table_parse(const uint8_t *blob, size_t len, att_snp_certs_t *out,
                                           att_diag_t *diag) ATT_WUR;

/* MAA's SevSnpVm evidence, {"SnpReport": b64url(report), "VcekCertChain": b64url(PEM leaf, ASK,
 * ARK)}, from a report and the table's certificates (the chain is left out when the table has no
 * leaf). A NUL-terminated JSON text the caller frees. */
ATT_API att_err_t att_snp_maa_evidence(const uint8_t *report, size_t rlen,
                                       const att_snp_certs_t *certs, char **json, size_t *jlen,
                                       att_diag_t *diag) ATT_WUR;

#ifdef __cplusplus
}
#endif
#endif
