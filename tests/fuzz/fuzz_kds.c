/* fuzz_kds.c - libFuzzer target: the AMD KDS fetcher's load() (src/lib/snp/kds.c) on arbitrary
 * answers, for each kind of key, as the collateral source calls it on a KDS answer or a stored
 * blob.
 *
 * The first byte of an input picks the key:
 *   0  kds/milan/vcek/<42 x 64>/7308000000000003 (bl 3, tee 0, snp 8, ucode 0x73)
 *   1  kds/turin/vcek/0102030405060708/5500000016010407 (fmc 7, bl 4, tee 1, snp 22, ucode 0x55)
 *   2  kds/milan/crl
 *   3  kds/genoa/vlek-crl
 *   4  the key the answer itself names: a VCEK's hwID and TCB SPLs read from its extensions, under
 *      the product of its productName (what the offline directory does), so that well-formed
 *      certificates reach the end of load; the rest is the answer.
 * Invariants checked (abort = crash for libFuzzer):
 *   - the diag code equals the returned code and the message is NUL-terminated; an object comes
 *     back exactly when ATT_OK is returned;
 *   - an accepted answer's object holds exactly the answer's bytes, is of the key's kind, product
 *     and key kind, and a VCEK's next update is its notAfter;
 *   - an accepted VCEK has the key's hwID and every TCB SPL of the key (fmcSPL on Turin), re-read
 *     here from the object's bytes; an accepted CRL names ARK-<product> as its issuer.
 * Seeds: tests/fuzz/corpus/kds/ (synthetic VCEKs for keys 0, 1 and 4, made for this target, and
 * CRLs; no vector data).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "attest/collateral.h"
#include "core/util.h"
#include "crypto/crypto.h"
#include "fuzz_common.h"
#include "snp/snp_int.h"

#define T0 1735689600 /* 2025-01-01T00:00:00Z */

static void *g_cfg;
static char g_milan_key[ATT_COLL_KEY_MAX], g_turin_key[ATT_COLL_KEY_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    att_diag_t d;
    uint8_t chip[64];
    memset(chip, 0x42, 64);
    if (att_snp_kds_new(&(att_snp_kds_opts_t){0}, &g_cfg, &d) != ATT_OK ||
        att_snp_kds_key_vcek(ATT_SNP_MILAN, chip, 0x7308000000000003ull, g_milan_key,
                             sizeof g_milan_key, &d) != ATT_OK)
        abort();
    memset(chip, 0, 64);
    memcpy(chip, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    if (att_snp_kds_key_vcek(ATT_SNP_TURIN, chip, 0x5500000016010407ull, g_turin_key,
                             sizeof g_turin_key, &d) != ATT_OK)
        abort();
    return 0;
}

/* The key a VCEK-shaped answer names itself, or false. */
static bool self_key(const uint8_t *p, size_t n, char *key, size_t cap)
{
    const unsigned char *q = p;
    X509 *x = d2i_X509(NULL, &q, (long)n);
    att_snp_ext_t ext;
    att_diag_t d;
    bool ok = false;
    if (x != NULL && att_snp_ext_parse(x, &ext, &d) == ATT_OK && ext.has_hwid) {
        att_snp_product_t pr = att_snp_ext_product(&ext);
        uint8_t chip[64] = {0};
        memcpy(chip, ext.hwid, ext.hwid_len);
        uint64_t tcb = pr == ATT_SNP_TURIN
                           ? (uint64_t)ext.spl[9] | (uint64_t)ext.spl[1] << 8 |
                                 (uint64_t)ext.spl[2] << 16 | (uint64_t)ext.spl[3] << 24 |
                                 (uint64_t)ext.spl[8] << 56
                           : (uint64_t)ext.spl[1] | (uint64_t)ext.spl[2] << 8 |
                                 (uint64_t)ext.spl[3] << 48 | (uint64_t)ext.spl[8] << 56;
        ok = att_snp_kds_key_vcek(pr, chip, tcb, key, cap, &d) == ATT_OK;
    }
    X509_free(x);
    ERR_clear_error();
    return ok;
}

/* An accepted VCEK is the key's: re-read the object's bytes. */
static void check_vcek(const char *key, const att_snp_kds_obj_t *o)
{
    const unsigned char *q = o->der;
    X509 *x = d2i_X509(NULL, &q, (long)o->len);
    FUZZ_CHECK(x != NULL && q == o->der + o->len, "%s: accepted VCEK does not re-parse", key);
    att_snp_ext_t ext;
    att_diag_t d;
    FUZZ_CHECK(att_snp_ext_parse(x, &ext, &d) == ATT_OK, "%s: accepted VCEK extensions", key);
    FUZZ_CHECK(att_snp_ext_product(&ext) == o->product, "%s: product", key);
    char hex[129];
    att_hex_encode(ext.hwid, ext.hwid_len, hex);
    const char *kh = strchr(key + 4, '/') + 1 + strlen("vcek/");
    FUZZ_CHECK(ext.has_hwid && strncmp(kh, hex, 2 * ext.hwid_len) == 0 &&
                   kh[2 * ext.hwid_len] == '/',
               "%s: accepted VCEK has hwID %s", key, hex);
    uint64_t tcb = strtoull(kh + 2 * ext.hwid_len + 1, NULL, 16);
    att_snp_tcb_t t;
    att_snp_tcb_decode(tcb, o->product, &t);
    FUZZ_CHECK(ext.has_spl[1] && ext.spl[1] == t.bootloader && ext.has_spl[2] &&
                   ext.spl[2] == t.tee && ext.has_spl[3] && ext.spl[3] == t.snp && ext.has_spl[8] &&
                   ext.spl[8] == t.microcode &&
                   (o->product != ATT_SNP_TURIN || (ext.has_spl[9] && ext.spl[9] == t.fmc)),
               "%s: accepted VCEK has another TCB", key);
    att_time_t na;
    FUZZ_CHECK(att_asn1_time(X509_get0_notAfter(x), &na) && na == o->next_update,
               "%s: next update is not notAfter", key);
    X509_free(x);
}

static void check_crl(const char *key, const att_snp_kds_obj_t *o)
{
    att_diag_t d;
    X509_CRL *c = att_crl_parse(o->der, o->len, "CRL", &d);
    FUZZ_CHECK(c != NULL, "%s: accepted CRL does not re-parse", key);
    char cn[128], want[32];
    att_x509_cn(X509_CRL_get_issuer(c), cn, sizeof cn);
    snprintf(want, sizeof want, "ARK-%s", att_snp_product_name(o->product));
    FUZZ_CHECK(strcmp(cn, want) == 0, "%s: accepted CRL issued by '%s'", key, cn);
    X509_CRL_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    char self[ATT_COLL_KEY_MAX];
    const char *key;
    switch (data[0]) {
    case 0:
        key = g_milan_key;
        break;
    case 1:
        key = g_turin_key;
        break;
    case 2:
        key = "kds/milan/crl";
        break;
    case 3:
        key = "kds/genoa/vlek-crl";
        break;
    case 4:
        if (!self_key(p, n, self, sizeof self))
            return 0;
        key = self;
        break;
    default:
        return 0;
    }
    const att_coll_fetcher_t *f = &att_snp_kds_fetcher;
    void *obj = (void *)1;
    att_time_t nu = 0;
    att_diag_t d;
    att_diag_clear(&d);
    FUZZ_CHECK(f->check_key(g_cfg, key, &d) == ATT_OK, "%s: not a key", key);
    att_err_t e = f->load(g_cfg, key, p, n, T0, NULL, &obj, &nu, &d);
    FUZZ_CHECK(d.code == e, "%s: returned %s, diag says %s", key, att_err_name(e),
               att_err_name(d.code));
    FUZZ_CHECK(memchr(d.msg, 0, sizeof d.msg) != NULL, "%s: message", key);
    FUZZ_CHECK((obj != NULL) == (e == ATT_OK), "%s: %s with object %p", key, att_err_name(e), obj);
    if (e != ATT_OK)
        return 0;
    att_snp_kds_obj_t *o = obj;
    FUZZ_CHECK(o->len == n && memcmp(o->der, p, n) == 0, "%s: object bytes", key);
    FUZZ_CHECK(o->next_update == nu, "%s: next update", key);
    bool vcek = strstr(key, "/vcek/") != NULL;
    FUZZ_CHECK(o->kind == (vcek ? ATT_SNP_KDS_VCEK : ATT_SNP_KDS_CRL), "%s: kind", key);
    FUZZ_CHECK((o->key_kind == ATT_SNP_KEY_VLEK) == (strstr(key, "vlek-crl") != NULL),
               "%s: key kind", key);
    char pn[16];
    snprintf(pn, sizeof pn, "%s", att_snp_product_name(o->product));
    pn[0] = (char)(pn[0] - 'A' + 'a');
    FUZZ_CHECK(strncmp(key + 4, pn, strlen(pn)) == 0 && key[4 + strlen(pn)] == '/',
               "%s: object of %s", key, att_snp_product_name(o->product));
    if (vcek)
        check_vcek(key, o);
    else
        check_crl(key, o);
    f->release(obj);
    return 0;
}
