/* report.c - SEV-SNP ATTESTATION_REPORT parser (versions 2 to 5).
 *
 * Layout: docs/snp.md section 1 (AMD SEV-SNP firmware ABI, table "ATTESTATION_REPORT"). The
 * report is read field by field through a bounds-checked cursor, so a short report is refused
 * naming the first field that does not fit; every reserved byte range and reserved bit must be
 * zero, policy bit 17 must be one and the signature algorithm must be 1 (ECDSA P-384 with
 * SHA-384). Not checked here: the signature, the certificates, anything left to policy.
 */
#include <string.h>

#include "core/cursor.h"
#include "snp/snp_int.h"

/* The report's fields in order: name, size. A NULL-named entry is reserved (must be zero) and a
 * "v5:" entry is reserved before version 5; "v3:" entries are reserved in version 2. */
typedef struct {
    const char *name;
    size_t size;
} att_snp_field_t;

enum {
    F_VERSION,
    F_GUEST_SVN,
    F_POLICY,
    F_FAMILY_ID,
    F_IMAGE_ID,
    F_VMPL,
    F_SIG_ALGO,
    F_CURRENT_TCB,
    F_PLATFORM_INFO,
    F_KEY_INFO,
    F_RSVD_04C,
    F_REPORT_DATA,
    F_MEASUREMENT,
    F_HOST_DATA,
    F_ID_KEY_DIGEST,
    F_AUTHOR_KEY_DIGEST,
    F_REPORT_ID,
    F_REPORT_ID_MA,
    F_REPORTED_TCB,
    F_CPUID,
    F_RSVD_18B,
    F_CHIP_ID,
    F_COMMITTED_TCB,
    F_CURRENT_VERSION,
    F_COMMITTED_VERSION,
    F_LAUNCH_TCB,
    F_LAUNCH_MIT,
    F_CURRENT_MIT,
    F_RSVD_208,
    F_SIG_R,
    F_SIG_S,
    F_RSVD_330,
    F_COUNT
};

static const att_snp_field_t att_snp_fields[F_COUNT] = {
    [F_VERSION] = {"version", 4},
    [F_GUEST_SVN] = {"guest_svn", 4},
    [F_POLICY] = {"policy", 8},
    [F_FAMILY_ID] = {"family_id", 16},
    [F_IMAGE_ID] = {"image_id", 16},
    [F_VMPL] = {"vmpl", 4},
    [F_SIG_ALGO] = {"signature_algo", 4},
    [F_CURRENT_TCB] = {"current_tcb", 8},
    [F_PLATFORM_INFO] = {"platform_info", 8},
    [F_KEY_INFO] = {"key_info", 4},
    [F_RSVD_04C] = {"reserved at 0x04C", 4},
    [F_REPORT_DATA] = {"report_data", 64},
    [F_MEASUREMENT] = {"measurement", 48},
    [F_HOST_DATA] = {"host_data", 32},
    [F_ID_KEY_DIGEST] = {"id_key_digest", 48},
    [F_AUTHOR_KEY_DIGEST] = {"author_key_digest", 48},
    [F_REPORT_ID] = {"report_id", 32},
    [F_REPORT_ID_MA] = {"report_id_ma", 32},
    [F_REPORTED_TCB] = {"reported_tcb", 8},
    [F_CPUID] = {"cpuid_fam_id/mod_id/step", 3},
    [F_RSVD_18B] = {"reserved at 0x18B", 21},
    [F_CHIP_ID] = {"chip_id", 64},
    [F_COMMITTED_TCB] = {"committed_tcb", 8},
    [F_CURRENT_VERSION] = {"current_build/minor/major", 4},
    [F_COMMITTED_VERSION] = {"committed_build/minor/major", 4},
    [F_LAUNCH_TCB] = {"launch_tcb", 8},
    [F_LAUNCH_MIT] = {"launch_mit_vector", 8},
    [F_CURRENT_MIT] = {"current_mit_vector", 8},
    [F_RSVD_208] = {"reserved at 0x208", 0x98},
    [F_SIG_R] = {"signature R", 72},
    [F_SIG_S] = {"signature S", 72},
    [F_RSVD_330] = {"reserved at 0x330", 0x170},
};

static bool att_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* Offset of the first non-zero byte of p[0..n) (n if none). */
static size_t att_first_nz(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && p[i] == 0)
        i++;
    return i;
}

att_snp_product_t att_snp_product_cpuid(uint8_t fam, uint8_t mod)
{
    if (fam == 0x19 && mod <= 0x0F)
        return ATT_SNP_MILAN;
    if (fam == 0x19 && ((mod >= 0x10 && mod <= 0x1F) || (mod >= 0xA0 && mod <= 0xAF)))
        return ATT_SNP_GENOA;
    if (fam == 0x1A)
        return ATT_SNP_TURIN;
    return ATT_SNP_PRODUCT_UNKNOWN;
}

att_snp_product_t att_snp_product_parse(const char *name, size_t len)
{
    static const char *const names[ATT_SNP_NPRODUCTS] = {NULL, "Milan", "Genoa", "Turin"};
    for (int i = 1; i < ATT_SNP_NPRODUCTS; i++)
        if (len == strlen(names[i]) && memcmp(name, names[i], len) == 0)
            return (att_snp_product_t)i;
    return ATT_SNP_PRODUCT_UNKNOWN;
}

ATT_API const char *att_snp_product_name(att_snp_product_t p)
{
    switch (p) {
    case ATT_SNP_MILAN:
        return "Milan";
    case ATT_SNP_GENOA:
        return "Genoa";
    case ATT_SNP_TURIN:
        return "Turin";
    default:
        return "unknown";
    }
}

ATT_API const char *att_snp_key_name(att_snp_key_t k)
{
    switch (k) {
    case ATT_SNP_KEY_VCEK:
        return "vcek";
    case ATT_SNP_KEY_VLEK:
        return "vlek";
    default:
        return "none";
    }
}

ATT_API void att_snp_tcb_decode(uint64_t raw, att_snp_product_t product, att_snp_tcb_t *out)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(raw >> (8 * i));
    memset(out, 0, sizeof(*out));
    out->raw = raw;
    if (product == ATT_SNP_TURIN) {
        out->fmc = b[0];
        out->bootloader = b[1];
        out->tee = b[2];
        out->snp = b[3];
    } else {
        out->bootloader = b[0];
        out->tee = b[1];
        out->snp = b[6];
    }
    out->microcode = b[7];
}

/* The reserved bytes of a TCB_VERSION (Milan/Genoa bytes 2-5, Turin bytes 4-6) must be zero.
 * For a v2 report the product may not be known yet: then both layouts' reserved bytes that are
 * reserved in each (bytes 4 and 5) are checked here, the rest once the product is known. */
static bool att_tcb_reserved_ok(uint64_t raw, att_snp_product_t product)
{
    uint64_t mask;
    if (product == ATT_SNP_TURIN)
        mask = 0x00FFFFFF00000000ull; /* bytes 4-6 */
    else if (product == ATT_SNP_PRODUCT_UNKNOWN)
        mask = 0x0000FFFF00000000ull; /* bytes 4-5 */
    else
        mask = 0x0000FFFFFFFF0000ull; /* bytes 2-5 */
    return (raw & mask) == 0;
}

att_err_t att_snp_tcb_check(const att_snp_report_t *r, att_snp_product_t product, att_diag_t *diag)
{
    const struct {
        const char *name;
        uint64_t v;
    } t[] = {{"current_tcb", r->current_tcb},
             {"reported_tcb", r->reported_tcb},
             {"committed_tcb", r->committed_tcb},
             {"launch_tcb", r->launch_tcb}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (!att_tcb_reserved_ok(t[i].v, product))
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "SEV-SNP report: %s 0x%016llx has reserved bytes set (%s layout)",
                                t[i].name, (unsigned long long)t[i].v,
                                product == ATT_SNP_TURIN ? "Turin" : "Milan/Genoa");
    return ATT_OK;
}

ATT_API att_err_t att_snp_report_parse(const uint8_t *buf, size_t len, att_snp_report_t *r,
                                       att_diag_t *diag)
{
    if (buf == NULL || r == NULL)
        return att_diag_set(diag, ATT_E_ARG, "SEV-SNP report: NULL argument");
    memset(r, 0, sizeof(*r));
    const uint8_t *f[F_COUNT];
    att_cursor_t c = att_cursor(buf, len);
    for (int i = 0; i < F_COUNT; i++)
        if (!att_cur_bytes(&c, att_snp_fields[i].size, &f[i]))
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "SEV-SNP report is truncated: %s (offset 0x%03zx, %zu bytes) "
                                "does not fit in %zu bytes; a report is %d bytes",
                                att_snp_fields[i].name, c.off, att_snp_fields[i].size, len,
                                ATT_SNP_REPORT_LEN);
    if (att_cur_left(&c) != 0)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "SEV-SNP report has %zu bytes after its %d bytes (after the reserved "
                            "bytes at 0x330)",
                            att_cur_left(&c), ATT_SNP_REPORT_LEN);

    r->version = att_le32(f[F_VERSION]);
    if (r->version < 2 || r->version > 5)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "SEV-SNP report version %u is not supported (2 to 5)", r->version);
    r->guest_svn = att_le32(f[F_GUEST_SVN]);
    r->policy = att_le64(f[F_POLICY]);
    memcpy(r->family_id, f[F_FAMILY_ID], 16);
    memcpy(r->image_id, f[F_IMAGE_ID], 16);
    r->vmpl = att_le32(f[F_VMPL]);
    r->signature_algo = att_le32(f[F_SIG_ALGO]);
    r->current_tcb = att_le64(f[F_CURRENT_TCB]);
    r->platform_info = att_le64(f[F_PLATFORM_INFO]);
    r->key_info = att_le32(f[F_KEY_INFO]);
    memcpy(r->report_data, f[F_REPORT_DATA], 64);
    memcpy(r->measurement, f[F_MEASUREMENT], 48);
    memcpy(r->host_data, f[F_HOST_DATA], 32);
    memcpy(r->id_key_digest, f[F_ID_KEY_DIGEST], 48);
    memcpy(r->author_key_digest, f[F_AUTHOR_KEY_DIGEST], 48);
    memcpy(r->report_id, f[F_REPORT_ID], 32);
    memcpy(r->report_id_ma, f[F_REPORT_ID_MA], 32);
    r->reported_tcb = att_le64(f[F_REPORTED_TCB]);
    memcpy(r->chip_id, f[F_CHIP_ID], 64);
    r->committed_tcb = att_le64(f[F_COMMITTED_TCB]);
    r->current_build = f[F_CURRENT_VERSION][0];
    r->current_minor = f[F_CURRENT_VERSION][1];
    r->current_major = f[F_CURRENT_VERSION][2];
    r->committed_build = f[F_COMMITTED_VERSION][0];
    r->committed_minor = f[F_COMMITTED_VERSION][1];
    r->committed_major = f[F_COMMITTED_VERSION][2];
    r->launch_tcb = att_le64(f[F_LAUNCH_TCB]);
    memcpy(r->sig_r, f[F_SIG_R], 72);
    memcpy(r->sig_s, f[F_SIG_S], 72);

    /* Must-be-zero byte ranges, including those that are reserved in this version. */
    struct {
        int field;
        size_t off, n;
        bool reserved;
    } mbz[] = {
        {F_RSVD_04C, 0, 4, true},
        {F_CPUID, 0, 3, r->version < 3},
        {F_RSVD_18B, 0, 21, true},
        {F_CURRENT_VERSION, 3, 1, true},
        {F_COMMITTED_VERSION, 3, 1, true},
        {F_LAUNCH_MIT, 0, 8, r->version < 5},
        {F_CURRENT_MIT, 0, 8, r->version < 5},
        {F_RSVD_208, 0, 0x98, true},
        {F_SIG_R, 48, 24, true}, /* P-384 uses 48 of the 72 bytes */
        {F_SIG_S, 48, 24, true},
        {F_RSVD_330, 0, 0x170, true},
    };
    for (size_t i = 0; i < sizeof(mbz) / sizeof(mbz[0]); i++) {
        const uint8_t *p = f[mbz[i].field] + mbz[i].off;
        if (mbz[i].reserved && !att_zero(p, mbz[i].n))
            return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                                "SEV-SNP report v%u: byte 0x%03zx (%s%s) must be zero, it is "
                                "0x%02x",
                                r->version, (size_t)(p - buf) + att_first_nz(p, mbz[i].n),
                                att_snp_fields[mbz[i].field].name,
                                mbz[i].field == F_SIG_R || mbz[i].field == F_SIG_S
                                    ? ", beyond the 48 bytes of a P-384 value"
                                : (mbz[i].field == F_CPUID || mbz[i].field == F_LAUNCH_MIT ||
                                   mbz[i].field == F_CURRENT_MIT)
                                    ? ", reserved in this version"
                                    : "",
                                p[att_first_nz(p, mbz[i].n)]);
    }
    if (r->version >= 3) {
        r->cpuid_fam_id = f[F_CPUID][0];
        r->cpuid_mod_id = f[F_CPUID][1];
        r->cpuid_step = f[F_CPUID][2];
    }
    if (r->version >= 5) {
        r->launch_mit_vector = att_le64(f[F_LAUNCH_MIT]);
        r->current_mit_vector = att_le64(f[F_CURRENT_MIT]);
    }

    if (!(r->policy & ATT_SNP_POLICY_RESERVED1))
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "SEV-SNP report: policy 0x%016llx has bit 17 clear; it is reserved "
                            "and must be 1",
                            (unsigned long long)r->policy);
    if (r->policy & ATT_SNP_POLICY_MBZ)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "SEV-SNP report: policy 0x%016llx has reserved bits (26-63) set",
                            (unsigned long long)r->policy);
    if (r->vmpl > 3)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT, "SEV-SNP report: vmpl %u is not 0 to 3",
                            r->vmpl);
    if (r->signature_algo != 1)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "SEV-SNP report: signature_algo %u is not 1 (ECDSA P-384 with "
                            "SHA-384, the only one defined)",
                            r->signature_algo);
    if (r->platform_info & ~0xBFull)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "SEV-SNP report: platform_info 0x%016llx has reserved bits (6, 8-63) "
                            "set",
                            (unsigned long long)r->platform_info);
    if (r->key_info & ~0x1Fu)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "SEV-SNP report: key_info 0x%08x has reserved bits (5-31) set",
                            r->key_info);
    unsigned sk = (r->key_info >> 2) & 7;
    if (sk != ATT_SNP_KEY_VCEK && sk != ATT_SNP_KEY_VLEK && sk != ATT_SNP_KEY_NONE)
        return att_diag_set(diag, ATT_E_EVIDENCE_FORMAT,
                            "SEV-SNP report: key_info signing_key %u is reserved (0 VCEK, 1 VLEK, "
                            "7 none)",
                            sk);
    r->signing_key = (att_snp_key_t)sk;
    r->author_key_en = (r->key_info & 1) != 0;
    r->mask_chip_key = (r->key_info & 2) != 0;
    r->debug = (r->policy & ATT_SNP_POLICY_DEBUG) != 0;

    if (r->version >= 3) {
        r->product = att_snp_product_cpuid(r->cpuid_fam_id, r->cpuid_mod_id);
        if (r->product == ATT_SNP_PRODUCT_UNKNOWN)
            return att_diag_set(diag, ATT_E_UNSUPPORTED,
                                "SEV-SNP report v%u: CPUID family 0x%02x model 0x%02x is not a "
                                "known SEV-SNP product (Milan, Genoa, Turin)",
                                r->version, r->cpuid_fam_id, r->cpuid_mod_id);
    }
    return att_snp_tcb_check(r, r->product, diag);
}
