/* sim_snp_dir.c - the simulated SEV-SNP world on disk: att_sim_snp_save writes the layout
 * `attest snp verify --kds-dir` reads (KDS's cert_chain, CRL and VCEK paths), the ARK for
 * --trust-root, chips.txt and sim/ (keys and chip secrets, mode 0600); att_sim_snp_load reads it
 * back, checking every key against its certificate and the ARK's signatures. Not checked here:
 * that the directory is private (its files are written 0600, the directory is the caller's).
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/sim.h"
#include "attest/token.h"
#include "core/util.h"
#include "sim/sim_internal.h"
#include "sim/sim_snp_int.h"
#include "snp/snp_int.h"

/* ---- the directory ------------------------------------------------------------------------------
 */

static const char *const att_snp_file[ATT_SIM_SNP_N_CERTS] = {"ark", "ask", "asvk"};

static att_err_t att_snp_mkdirs(const char *dir, const char *rel, att_diag_t *diag)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, rel) >= (int)sizeof path)
        return att_diag_set(diag, ATT_E_ARG, "path too long: %s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        att_err_t e = att_sim_mkdir(path, diag);
        *p = '/';
        if (e != ATT_OK)
            return e;
    }
    return att_sim_mkdir(path, diag);
}

static att_err_t att_snp_write(const char *dir, const char *name, const void *p, size_t n,
                               unsigned mode, att_diag_t *diag)
{
    att_sim_buf_t b = {(uint8_t *)p, n};
    return att_sim_write_file(dir, name, &b, mode, diag);
}

static att_err_t att_snp_write_key(const char *dir, const char *name, EVP_PKEY *k, att_diag_t *diag)
{
    BIO *b = BIO_new(BIO_s_secmem());
    char *d;
    long n;
    if (b == NULL || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1 ||
        (n = BIO_get_mem_data(b, &d)) <= 0) {
        BIO_free(b);
        return att_snp_ossl(diag, "encoding a private key");
    }
    att_err_t e = att_snp_write(dir, name, d, (size_t)n, 0600, diag);
    BIO_free(b);
    return e;
}

att_err_t att_sim_snp_save(att_sim_snp_t *s, const char *dir, att_diag_t *diag)
{
    const char *pn = att_snp_pname(s->opts.product);
    char rel[256], sub[4096], name[160];
    att_err_t e;
    if ((e = att_sim_mkdir(dir, diag)) != ATT_OK ||
        (e = att_snp_mkdirs(dir, "sim", diag)) != ATT_OK)
        return e;
    /* private state first: a directory with a KDS layout always has its keys */
    snprintf(sub, sizeof sub, "%s/sim", dir);
    for (int i = 0; i < ATT_SIM_SNP_N_CERTS; i++) {
        snprintf(name, sizeof name, "%s.pem", att_snp_file[i]);
        if ((e = att_snp_write(sub, name, s->pem[i], s->pem_len[i], 0644, diag)) != ATT_OK)
            return e;
        snprintf(name, sizeof name, "%s.key", att_snp_file[i]);
        if ((e = att_snp_write_key(sub, name, s->key[i], diag)) != ATT_OK)
            return e;
    }
    json_t *chips = json_array();
    char hex[129], t[ATT_TIME_STRLEN];
    for (size_t i = 0; chips != NULL && i < s->opts.n_chips; i++) {
        att_hex_encode(s->chips[i].secret, 32, hex);
        json_array_append_new(chips, json_string(hex));
    }
    char vhex[65], tcb[17];
    att_hex_encode(s->vlek_secret, 32, vhex);
    snprintf(tcb, sizeof tcb, "%016llx", (unsigned long long)s->opts.tcb);
    json_t *doc = chips ? json_pack("{s:s,s:i,s:s,s:s,s:s,s:o}", "product", pn, "rsa_bits",
                                    (json_int_t)s->opts.rsa_bits, "tcb", tcb, "created",
                                    att_time_format(s->opts.now, t), "vlek_secret", vhex,
                                    "chip_secrets", chips)
                        : NULL;
    OPENSSL_cleanse(hex, sizeof hex);
    OPENSSL_cleanse(vhex, sizeof vhex);
    char *text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
    json_decref(doc);
    if (text == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    e = att_snp_write(sub, "snp.json", text, strlen(text), 0600, diag);
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    if (e != ATT_OK)
        return e;
    /* the KDS layout */
    att_sim_snp_crl_opts_t co;
    att_sim_snp_crl_opts_default(&co, s->opts.now);
    uint8_t *crl = NULL;
    size_t crl_len = 0;
    if ((e = att_sim_snp_crl_make(s, &co, &crl, &crl_len, diag)) != ATT_OK)
        return e;
    for (int k = 0; k < 2 && e == ATT_OK; k++) {
        att_snp_key_t kind = k == 0 ? ATT_SNP_KEY_VCEK : ATT_SNP_KEY_VLEK;
        snprintf(rel, sizeof rel, "%s/v1/%s", k == 0 ? "vcek" : "vlek", pn);
        snprintf(sub, sizeof sub, "%s/%s", dir, rel);
        att_sim_buf_t chain = {NULL, 0};
        if ((e = att_snp_mkdirs(dir, rel, diag)) != ATT_OK ||
            (e = att_sim_snp_cert_chain(s, kind, &chain, diag)) != ATT_OK)
            break;
        e = att_snp_write(sub, "cert_chain", chain.ptr, chain.len, 0644, diag);
        free(chain.ptr);
        if (e == ATT_OK)
            e = att_snp_write(sub, "crl", crl, crl_len, 0644, diag);
    }
    free(crl);
    if (e != ATT_OK)
        return e;
    snprintf(sub, sizeof sub, "%s/vcek/v1/%s", dir, pn);
    size_t idlen = s->opts.product == ATT_SNP_TURIN ? 8 : 64;
    char *list = malloc(s->opts.n_chips * 130 + 1);
    if (list == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    size_t off = 0;
    for (size_t i = 0; i < s->opts.n_chips && e == ATT_OK; i++) {
        att_slice_t der;
        att_hex_encode(s->chips[i].chip_id, idlen, hex);
        off += (size_t)sprintf(list + off, "%s\n", hex);
        if ((e = att_sim_snp_leaf(s, ATT_SNP_KEY_VCEK, i, s->opts.tcb, &der, diag)) == ATT_OK)
            e = att_snp_write(sub, hex, der.ptr, der.len, 0644, diag);
    }
    if (e == ATT_OK)
        e = att_snp_write(dir, "chips.txt", list, off, 0644, diag);
    free(list);
    if (e != ATT_OK)
        return e;
    return att_snp_write(dir, "ark.pem", s->pem[ATT_SIM_SNP_ARK], s->pem_len[ATT_SIM_SNP_ARK], 0644,
                         diag);
}

static att_err_t att_snp_read(const char *dir, const char *name, uint8_t **buf, size_t *len,
                              att_diag_t *diag)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/sim/%s", dir, name) >= (int)sizeof path)
        return att_diag_set(diag, ATT_E_ARG, "path too long: %s/sim/%s", dir, name);
    return att_read_file(path, 1 << 24, buf, len, diag);
}

static bool att_snp_hex32(json_t *v, uint8_t out[32])
{
    const char *h = json_string_value(v);
    return h != NULL && strlen(h) == 64 && att_hex_decode(h, 64, out, 32);
}

att_err_t att_sim_snp_load(const char *dir, att_sim_snp_t **out, att_diag_t *diag)
{
    *out = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    att_err_t e = att_snp_read(dir, "snp.json", &buf, &len, diag);
    if (e != ATT_OK)
        return e;
    json_error_t je;
    json_t *doc = json_loadb((const char *)buf, len, 0, &je);
    OPENSSL_cleanse(buf, len);
    free(buf);
    const char *pn = NULL, *tcb = NULL, *created = NULL;
    json_int_t bits = 0;
    json_t *chips = NULL, *vlek = NULL;
    att_sim_snp_opts_t o;
    att_sim_snp_t *s = NULL;
    if (doc == NULL ||
        json_unpack(doc, "{s:s,s:I,s:s,s:s,s:o,s:o}", "product", &pn, "rsa_bits", &bits, "tcb",
                    &tcb, "created", &created, "vlek_secret", &vlek, "chip_secrets", &chips) != 0 ||
        !json_is_array(chips)) {
        e = att_diag_set(diag, ATT_E_ARG, "%s/sim/snp.json is not a simulated SEV-SNP state", dir);
        goto out;
    }
    att_snp_product_t product = strcmp(pn, "Milan") == 0   ? ATT_SNP_MILAN
                                : strcmp(pn, "Genoa") == 0 ? ATT_SNP_GENOA
                                : strcmp(pn, "Turin") == 0 ? ATT_SNP_TURIN
                                                           : ATT_SNP_PRODUCT_UNKNOWN;
    att_time_t now;
    char *end;
    errno = 0;
    unsigned long long t = strtoull(tcb, &end, 16);
    if (att_time_parse(created, &now) != ATT_OK || errno != 0 || *end != 0 || strlen(tcb) != 16) {
        e = att_diag_set(diag, ATT_E_ARG, "%s/sim/snp.json: bad created or tcb", dir);
        goto out;
    }
    att_sim_snp_opts_default(&o, product, now);
    o.rsa_bits = (unsigned)bits;
    o.tcb = t;
    o.n_chips = json_array_size(chips);
    if ((e = att_snp_alloc(&o, &s, diag)) != ATT_OK)
        goto out;
    for (size_t i = 0; i < o.n_chips; i++) {
        if (!att_snp_hex32(json_array_get(chips, i), s->chips[i].secret)) {
            e = att_diag_set(diag, ATT_E_ARG, "%s/sim/snp.json: chip %zu: not 64 hex digits", dir,
                             i);
            goto out;
        }
        att_snp_chip_id_of(s->chips[i].secret, product, s->chips[i].chip_id);
    }
    if (!att_snp_hex32(vlek, s->vlek_secret)) {
        e = att_diag_set(diag, ATT_E_ARG, "%s/sim/snp.json: vlek_secret: not 64 hex digits", dir);
        goto out;
    }
    for (int i = 0; i < ATT_SIM_SNP_N_CERTS; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s.pem", att_snp_file[i]);
        if ((e = att_snp_read(dir, name, &buf, &len, diag)) != ATT_OK)
            goto out;
        BIO *b = BIO_new_mem_buf(buf, (int)len);
        X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        free(buf);
        snprintf(name, sizeof name, "%s.key", att_snp_file[i]);
        if (x == NULL || (e = att_snp_set_ca(s, (att_sim_snp_cert_t)i, x, diag)) != ATT_OK) {
            if (x == NULL)
                e = att_diag_set(diag, ATT_E_CERT_PARSE, "%s/sim/%s.pem: not a PEM certificate",
                                 dir, att_snp_file[i]);
            goto out;
        }
        if ((e = att_snp_read(dir, name, &buf, &len, diag)) != ATT_OK)
            goto out;
        b = BIO_new_mem_buf(buf, (int)len);
        s->key[i] = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        OPENSSL_cleanse(buf, len);
        free(buf);
        if (s->key[i] == NULL || EVP_PKEY_get_base_id(s->key[i]) != EVP_PKEY_RSA ||
            X509_check_private_key(s->cert[i], s->key[i]) != 1) {
            e = att_diag_set(diag, ATT_E_CERT_KEY, "%s/sim/%s: not the RSA private key of %s.pem",
                             dir, name, att_snp_file[i]);
            goto out;
        }
    }
    for (int i = 0; i < ATT_SIM_SNP_N_CERTS; i++)
        if (X509_verify(s->cert[i], s->key[ATT_SIM_SNP_ARK]) != 1) {
            e = att_diag_set(diag, ATT_E_CERT_SIGNATURE,
                             "%s/sim/%s.pem is not signed by the ARK's key", dir, att_snp_file[i]);
            goto out;
        }
    s->opts.rsa_bits = (unsigned)EVP_PKEY_get_bits(s->key[ATT_SIM_SNP_ARK]);
out:
    ERR_clear_error();
    json_decref(doc);
    if (e != ATT_OK)
        att_sim_snp_free(s);
    else
        *out = s;
    return e;
}
