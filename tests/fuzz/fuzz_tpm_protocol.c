/* fuzz_tpm_protocol.c - libFuzzer target: the Tpm type's protocol messages (docs/api.md "TPM")
 * through the evidence registry, as attestd hands them over.
 *
 * The first byte of an input picks a mode:
 *   0  the rest is a round-1 message (JSON; att_ev_round): "aikcert", "activate" with its EK
 *      certificate and AK;
 *   1  the rest is a round-2 message (JSON bytes; att_ev_verify): the native form or
 *      {"request": "<JWS>"};
 *   2  the rest is the compact JWS of MAA's request v2, wrapped here as {"request": "<rest>"}, so
 *      mutations reach the JWS and its payload directly.
 * The instance has a test CA (made at start-up, a P-256 self-signed CA certificate written under
 * /tmp) as its EK and AK CA, so activation and AK certificates are parsed up to their chains. A
 * fixed seal/open pair stands in for attestd's: seal always succeeds; open gives, for any token,
 * a fixed 32-byte challenge, or an activation record when the token starts with 'A', so inputs get
 * past the context to the quote, its PCRs, the AK and the key binding.
 * Invariants (abort = crash): the diag code equals the returned code and its message is
 * NUL-terminated; round 1 answers exactly when it returns ATT_OK for a round-1 message; a
 * verification accepted has claims and says how the AK was trusted.
 * Seeds: tests/fuzz/corpus/tpm_protocol/ (small messages of each form, written by hand).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/evidence.h"
#include "attest/tpm.h"
#include "fuzz_common.h"

static att_ev_set_t *g_set;
static const att_ev_type_t *g_tpm;

/* A self-signed P-256 CA certificate into path. */
static int make_ca(const char *path)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    int ok = k && x && n && X509_set_version(x, 2) &&
             ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
             X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz CA", -1,
                                        -1, 0) &&
             X509_set_subject_name(x, n) && X509_set_issuer_name(x, n) &&
             X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 3650) && X509_set_pubkey(x, k);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext =
        X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    ok = ok && ext && X509_add_ext(x, ext, -1) && X509_sign(x, k, EVP_sha256());
    FILE *f = ok ? fopen(path, "w") : NULL;
    ok = f && PEM_write_X509(f, x);
    if (f)
        fclose(f);
    X509_EXTENSION_free(ext);
    X509_NAME_free(n);
    X509_free(x);
    EVP_PKEY_free(k);
    return ok;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("TSS2_LOG", "all+NONE", 1);
    char path[] = "/tmp/attestd-fuzz-tpm-ca-XXXXXX";
    int fd = mkstemp(path);
    att_diag_t d;
    if (fd < 0 || !make_ca(path) || att_ev_set_new(&g_set, &d) != ATT_OK ||
        att_ev_set_add_key_file(g_set, "tpm-ek-ca", path, &d) != ATT_OK ||
        att_ev_set_add_key_file(g_set, "tpm-ak-ca", path, &d) != ATT_OK) {
        fprintf(stderr, "fuzz_tpm_protocol: setup failed\n");
        abort();
    }
    close(fd);
    unlink(path);
    g_tpm = att_ev_type_find("Tpm");
    return 0;
}

static char *seal(void *arg, const char *purpose, const uint8_t *data, size_t len,
                  att_time_t expires)
{
    (void)arg;
    (void)purpose;
    (void)data;
    (void)len;
    (void)expires;
    return strdup("S");
}

static att_err_t open_ctx(void *arg, const char *purpose, const char *token, uint8_t **data,
                          size_t *len, att_diag_t *diag)
{
    (void)arg;
    (void)purpose;
    /* an activation record: tag 2, challenge, AK name (34 bytes), AK key digest, names */
    static const uint8_t act[] = {
        2,    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
        0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
        0x11, 0x11, 0x11, 34,   0,    0x0b, 1,    2,    3,    4,    5,    6,    7,    8,    9,
        10,   11,   12,   13,   14,   15,   16,   17,   18,   19,   20,   21,   22,   23,   24,
        25,   26,   27,   28,   29,   30,   31,   32,   0,    0,    0,    0,    0,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    7,    'C',  'N',  '=',  'f',
        'u',  'z',  'z',  7,    'C',  'N',  '=',  'f',  'u',  'z',  'z'};
    static const uint8_t ch[32] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                   0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                   0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11};
    const uint8_t *src = token[0] == 'A' ? act : ch;
    size_t n = token[0] == 'A' ? sizeof act : sizeof ch;
    if ((*data = malloc(n)) == NULL)
        return att_diag_set(diag, ATT_E_NOMEM, "out of memory");
    memcpy(*data, src, n);
    *len = n;
    return ATT_OK;
}

static void check_diag(const char *what, att_err_t e, const att_diag_t *d)
{
    FUZZ_CHECK(d->code == e, "%s: returned %s, diag says %s", what, att_err_name(e),
               att_err_name(d->code));
    FUZZ_CHECK(memchr(d->msg, 0, sizeof d->msg) != NULL, "%s: message", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    uint8_t mode = data[0] % 3;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    att_time_t now = 1800000000; /* 2027-01-15 */
    if (mode == 0) {
        json_error_t je;
        json_t *msg = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &je);
        if (msg == NULL || !json_is_object(msg)) {
            json_decref(msg);
            return 0;
        }
        att_ev_round_ctx_t ctx = {.now = now, .seal = seal};
        json_t *answer = NULL;
        att_diag_t d;
        att_diag_clear(&d);
        att_err_t e = att_ev_round(g_set, g_tpm, &ctx, msg, &answer, &d);
        if (e != ATT_OK)
            check_diag("round 1", e, &d);
        bool round2 = !json_is_object(json_object_get(msg, "payload")) ||
                      !json_is_string(json_object_get(json_object_get(msg, "payload"), "type"));
        FUZZ_CHECK(e != ATT_OK || round2 || answer != NULL, "round 1 accepted without answer");
        FUZZ_CHECK(e == ATT_OK || answer == NULL, "round 1 refused with an answer");
        json_decref(answer);
        json_decref(msg);
        return 0;
    }
    char *text = NULL;
    size_t tlen = n;
    if (mode == 2) {
        json_t *w = json_pack("{s:s%}", "request", (const char *)p, n);
        text = w ? json_dumps(w, JSON_COMPACT) : NULL;
        json_decref(w);
        if (text == NULL)
            return 0;
        tlen = strlen(text);
    }
    att_ev_input_t in = {
        .evidence = text ? (const uint8_t *)text : p, .len = tlen, .now = now, .open = open_ctx};
    att_ev_result_t r;
    att_err_t e = att_ev_verify(g_set, g_tpm, &in, &r);
    check_diag("round 2", e, &r.diag);
    if (e == ATT_OK) {
        FUZZ_CHECK(r.claims != NULL, "accepted without claims");
        FUZZ_CHECK(json_is_string(json_object_get(r.claims, "x-attestd-tpm-ak-trust")),
                   "accepted without saying how the AK was trusted");
    }
    att_ev_result_clear(&r);
    free(text);
    return 0;
}
