/* attest/tpm.h - TPM 2.0 quote verification, attestation keys and event-log replay.
 *
 *   att_tpm_input_t in = {.ak = akbytes, .ak_len = n,          // TPM2B_PUBLIC, SPKI or JWK
 *                         .quote = msg, .quote_len = mlen,      // TPMS_ATTEST
 *                         .sig = sig, .sig_len = slen,          // TPMT_SIGNATURE or bare
 *                         .pcrs = vals, .pcrs_len = vlen,       // selected PCR values
 *                         .nonce = nonce, .nonce_len = 32,
 *                         .eventlog = log, .eventlog_len = llen};  // optional, and .ima
 *   att_tpm_result_t res;
 *   att_err_t e = att_tpm_verify(&in, &res);
 *   if (e == ATT_OK)  ... res.attest.clock, res.secure_boot, res.events.v[i] ...
 *   else              ... res.diag.msg names the failed check and its values ...
 *   att_tpm_result_free(&res);
 *
 * What is checked (docs/tpm.md): the TPMS_ATTEST and TPMT_SIGNATURE as tpm2-tss's libtss2-mu
 * unmarshals them, with no byte left over; magic TPM_GENERATED_VALUE and type ATTEST_QUOTE; the
 * signature (RSASSA, RSAPSS, ECDSA) with the AK over the TPMS_ATTEST bytes; extraData equal to the
 * nonce (constant time); pcrDigest equal to the hash (the signature's hash algorithm) of the
 * presented PCR values in selection order; an AK given as TPM2B_PUBLIC must be a restricted
 * signing key that is fixedTPM, fixedParent and sensitiveDataOrigin, and its scheme must be the
 * signature's. Event logs (TCG PC Client crypto-agile, Linux IMA) are replayed per PCR and bank
 * against the quoted values.
 * What is NOT checked: who the AK belongs to (an AK certificate, EK credential activation or a
 * pinned key is the caller's decision), the qualifiedSigner, the PCR values themselves and the
 * event contents (policy), clock/reset/restart counts (obfuscated for keys outside the
 * endorsement and platform hierarchies), and events of a PCR the quote does not cover (their
 * `verified` is false; no claim is derived from them). No I/O, no clock.
 */
#ifndef ATTEST_TPM_H
#define ATTEST_TPM_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "attest/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TPM_ALG_ID values the verifier knows. */
#define ATT_TPM_ALG_RSA    0x0001
#define ATT_TPM_ALG_SHA1   0x0004
#define ATT_TPM_ALG_SHA256 0x000B
#define ATT_TPM_ALG_SHA384 0x000C
#define ATT_TPM_ALG_SHA512 0x000D
#define ATT_TPM_ALG_NULL   0x0010
#define ATT_TPM_ALG_RSASSA 0x0014
#define ATT_TPM_ALG_RSAPSS 0x0016
#define ATT_TPM_ALG_ECDSA  0x0018
#define ATT_TPM_ALG_ECC    0x0023

#define ATT_TPM_GENERATED_VALUE   0xFF544347u /* "\xffTCG" */
#define ATT_TPM_ST_ATTEST_CERTIFY 0x8017
#define ATT_TPM_ST_ATTEST_QUOTE   0x8018

/* TPMA_OBJECT bits. */
#define ATT_TPMA_FIXED_TPM             0x00000002u
#define ATT_TPMA_FIXED_PARENT          0x00000010u
#define ATT_TPMA_SENSITIVE_DATA_ORIGIN 0x00000020u
#define ATT_TPMA_RESTRICTED            0x00010000u
#define ATT_TPMA_DECRYPT               0x00020000u
#define ATT_TPMA_SIGN                  0x00040000u

#define ATT_TPM_NUM_PCRS   24 /* PCRs 0-23; a selection of PCR 24+ is refused */
#define ATT_TPM_MAX_BANKS  4  /* sha1, sha256, sha384, sha512, each at most once */
#define ATT_TPM_MAX_DIGEST 64
#define ATT_TPM_MAX_NAME   68 /* TPM2B_NAME / TPM2B_DATA buffers */

/* Budgets of the event-log parsers (ATT_E_LIMIT beyond them); att_tpm_limits_t overrides them,
 * 0 meaning the default. */
#define ATT_TPM_MAX_LOG_BYTES  (32u << 20) /* one log (TCG or IMA) */
#define ATT_TPM_MAX_EVENTS     100000u     /* events of one log */
#define ATT_TPM_MAX_EVENT_SIZE (1u << 20)  /* one TCG event's data, one IMA template's data */
#define ATT_TPM_MAX_LOG_ALGS   8u          /* digest algorithms in a TCG log's Spec ID event */

typedef struct {
    size_t max_log_bytes, max_events, max_event_size;
} att_tpm_limits_t;

/* One bank of a PCR selection. */
typedef struct {
    uint16_t alg;  /* ATT_TPM_ALG_SHA1 ... SHA512 */
    uint32_t mask; /* bit i: PCR i (0-23) */
} att_tpm_sel_t;

/* A parsed TPMS_ATTEST (quote or certify), copied out of the buffer. */
typedef struct {
    uint32_t magic;
    uint16_t type;
    uint8_t qualified_signer[ATT_TPM_MAX_NAME];
    size_t qualified_signer_len;
    uint8_t extra_data[ATT_TPM_MAX_NAME];
    size_t extra_data_len;
    uint64_t clock;
    uint32_t reset_count, restart_count;
    bool safe;
    uint64_t firmware_version;
    /* ATTEST_QUOTE */
    size_t nsel;
    att_tpm_sel_t sel[ATT_TPM_MAX_BANKS];
    uint8_t pcr_digest[ATT_TPM_MAX_DIGEST];
    size_t pcr_digest_len;
    /* ATTEST_CERTIFY */
    uint8_t certified_name[ATT_TPM_MAX_NAME], certified_qname[ATT_TPM_MAX_NAME];
    size_t certified_name_len, certified_qname_len;
} att_tpm_attest_t;

/* Unmarshal a TPMS_ATTEST (libtss2-mu); every byte must be consumed. Checks magic, the type
 * (quote or certify) and, for a quote, the selection (known banks, each once, PCRs 0-23).
 * ATT_E_EVIDENCE_FORMAT (magic, type, truncation, trailing bytes) or ATT_E_UNSUPPORTED (a bank
 * or PCR outside those above). */
ATT_API att_err_t att_tpm_attest_parse(const uint8_t *buf, size_t len, att_tpm_attest_t *out,
                                       att_diag_t *diag) ATT_WUR;

/* ---- attestation keys --------------------------------------------------------------------- */

typedef struct {
    bool tpm_public; /* read from a TPM2B_PUBLIC: the fields below are known */
    uint16_t type;   /* ATT_TPM_ALG_RSA or ATT_TPM_ALG_ECC */
    uint16_t name_alg;
    uint32_t attributes;
    bool fixed_tpm, fixed_parent, sensitive_data_origin, restricted, sign, decrypt;
    uint16_t scheme, scheme_hash;   /* the key's signing scheme, ATT_TPM_ALG_NULL if none */
    uint8_t name[ATT_TPM_MAX_NAME]; /* nameAlg || H(TPMT_PUBLIC) */
    size_t name_len;
    char desc[32]; /* "RSA-2048", "EC P-256" */
} att_tpm_ak_info_t;

typedef struct att_tpm_ak att_tpm_ak_t;

/* Load an AK: a TPM2B_PUBLIC (RSA or ECC; attributes, scheme and name read), a PEM or DER
 * SubjectPublicKeyInfo, or a JWK (a JSON object; or {"keys": [...]} from which the key with
 * kid "HCLAkPub", Azure's vTPM AK, is taken). RSA keys of 2048-4096 bits, EC P-256/P-384/P-521.
 * Bytes after the key are refused. ATT_E_EVIDENCE_FORMAT or ATT_E_TPM_AK. */
ATT_API att_err_t att_tpm_ak_load(const uint8_t *buf, size_t len, att_tpm_ak_t **out,
                                  att_diag_t *diag) ATT_WUR;
ATT_API const att_tpm_ak_info_t *att_tpm_ak_info(const att_tpm_ak_t *ak);
ATT_API void att_tpm_ak_free(att_tpm_ak_t *ak);

/* ---- event logs --------------------------------------------------------------------------- */

typedef enum { ATT_TPM_LOG_TCG = 1, ATT_TPM_LOG_IMA = 2 } att_tpm_log_kind_t;

typedef struct {
    uint16_t alg;
    uint8_t d[ATT_TPM_MAX_DIGEST];
} att_tpm_digest_t;

/* One event, copied out of its log. */
typedef struct {
    att_tpm_log_kind_t log;
    uint32_t index; /* position in its log (0: the TCG Spec ID event) */
    uint32_t pcr;
    uint32_t type;   /* TCG event type; IMA: 0 */
    bool extends;    /* false for EV_NO_ACTION */
    bool verified;   /* set by the replay: its PCR equals a quoted value in some bank */
    size_t ndigests; /* the digests of the known banks */
    att_tpm_digest_t digests[ATT_TPM_MAX_BANKS];
    uint8_t *data; /* TCG: event data; IMA: template data (the bytes hashed) */
    size_t data_len;
    char ima_template[16]; /* IMA: template name ("ima-ng") */
    char *ima_path;        /* IMA: the file name hint (NUL-terminated) */
    char ima_file_alg[16]; /* IMA: "sha256" */
    uint8_t ima_file_digest[ATT_TPM_MAX_DIGEST];
    size_t ima_file_digest_len;
} att_tpm_event_t;

typedef struct {
    att_tpm_event_t *v;
    size_t n, cap;
    size_t ntcg, nima;
    /* the TCG log's Spec ID event */
    uint8_t spec_major, spec_minor, spec_errata;
    uint8_t startup_locality; /* from a StartupLocality EV_NO_ACTION event, else 0 */
} att_tpm_events_t;

/* Parse a TCG PC Client crypto-agile log (Linux binary_bios_measurements): the Spec ID event
 * ("Spec ID Event03", its digest sizes), then TCG_PCR_EVENT2 records, appended to `ev`. Events
 * beyond limits->max_events, data beyond max_event_size, a log beyond max_log_bytes:
 * ATT_E_LIMIT. Every length is checked: ATT_E_EVIDENCE_FORMAT naming the event and field. A
 * SHA-1-only (TCG 1.2 format) log is ATT_E_UNSUPPORTED. limits may be NULL. */
ATT_API att_err_t att_tpm_tcg_log_parse(const uint8_t *buf, size_t len,
                                        const att_tpm_limits_t *limits, att_tpm_events_t *ev,
                                        att_diag_t *diag) ATT_WUR;
/* Parse a Linux IMA runtime measurement log, ASCII (ascii_runtime_measurements: templates
 * ima-ng, ima-sig, ima-buf) or binary (binary_runtime_measurements, little-endian; any template
 * whose data is its fields with u32 lengths), appended to `ev`. Each event's digest is computed
 * for every bank from its template data (as kernels 5.1 and later extend them); the SHA-1
 * template hash the log carries must match. A violation (template hash zero) extends 0xff...ff. */
ATT_API att_err_t att_tpm_ima_log_parse(const uint8_t *buf, size_t len,
                                        const att_tpm_limits_t *limits, att_tpm_events_t *ev,
                                        att_diag_t *diag) ATT_WUR;
ATT_API void att_tpm_events_free(att_tpm_events_t *ev);
/* "EV_POST_CODE", "EV_EFI_VARIABLE_DRIVER_CONFIG", ... or "EV_UNKNOWN". */
ATT_API const char *att_tpm_event_type_name(uint32_t type);

/* PCR values of the selected banks: values[b][i] is PCR i of bank sel[b]. */
typedef struct {
    size_t nsel;
    att_tpm_sel_t sel[ATT_TPM_MAX_BANKS];
    uint8_t values[ATT_TPM_MAX_BANKS][ATT_TPM_NUM_PCRS][ATT_TPM_MAX_DIGEST];
} att_tpm_pcrs_t;

/* Replay `ev` (TCG then IMA, in log order) from the PCRs' reset values (0; PCR 0 ends in the
 * startup locality; PCRs 17-22 all ones) and compare, for every selected bank the log has
 * digests for, each PCR the log extends with its value in `pcrs`: ATT_E_TPM_EVENTLOG_REPLAY
 * naming the first PCR (ascending, then bank) that differs, with both values. An event whose PCR
 * matched in at least one bank gets verified = true. A log extending no quoted PCR in any bank
 * is ATT_E_TPM_EVENTLOG_REPLAY too. */
ATT_API att_err_t att_tpm_replay(att_tpm_events_t *ev, const att_tpm_pcrs_t *pcrs,
                                 att_diag_t *diag) ATT_WUR;

/* ---- quote verification ------------------------------------------------------------------- */

/* The input of one verification. Byte ranges are borrowed for the call.
 * - ak / ak_len: as att_tpm_ak_load reads it; or ak_key, a loaded one (then ak is ignored).
 * - sig: a TPMT_SIGNATURE, or a bare signature: DER ECDSA-Sig-Value for an EC AK (tpm2_quote
 *   -f plain), the raw RSA signature for an RSA AK (RSASSA, or RSAPSS if the AK's TPM2B_PUBLIC
 *   says so), with the AK's scheme hash, else SHA-256 (P-384: SHA-384, P-521: SHA-512).
 * - pcrs: the selected PCR values concatenated in selection order (bank by bank, PCRs
 *   ascending), as `tpm2_pcrread -o` writes them.
 * - nonce: the expected extraData (exact length and bytes).
 * - eventlog, ima: optional logs (NULL/0 when absent), replayed against pcrs.
 * - limits: NULL for the defaults. */
typedef struct {
    const uint8_t *ak;
    size_t ak_len;
    const att_tpm_ak_t *ak_key;
    const uint8_t *quote;
    size_t quote_len;
    const uint8_t *sig;
    size_t sig_len;
    const uint8_t *pcrs;
    size_t pcrs_len;
    const uint8_t *nonce;
    size_t nonce_len;
    const uint8_t *eventlog;
    size_t eventlog_len;
    const uint8_t *ima;
    size_t ima_len;
    const att_tpm_limits_t *limits;
} att_tpm_input_t;

typedef struct {
    att_diag_t diag; /* ATT_OK or the failing check */
    bool accepted;
    bool parsed; /* the quote parsed: attest is filled */
    att_tpm_attest_t attest;
    bool ak_loaded;
    att_tpm_ak_info_t ak;
    bool sig_parsed;
    uint16_t sig_alg, sig_hash; /* ATT_TPM_ALG_RSASSA/RSAPSS/ECDSA, hash */
    bool sig_bare;              /* a bare signature (DER ECDSA or raw RSA) */
    bool pcrs_read;             /* pcrs is filled */
    att_tpm_pcrs_t pcrs;
    /* event logs (owned: att_tpm_result_free) */
    bool tcg_log, ima_log, replayed;
    att_tpm_events_t events;
    int secure_boot;   /* from a verified EV_EFI_VARIABLE_DRIVER_CONFIG SecureBoot: 1, 0; -1 */
    long boot_manager; /* index in events of the first verified PCR 4 application, or -1 */
    long kernel;       /* the last one when there are two or more, or -1 */
    size_t nboot_apps; /* verified EV_EFI_BOOT_SERVICES_APPLICATION events on PCR 4 */
} att_tpm_result_t;

/* Verify a quote. Returns ATT_OK when accepted (res->accepted), else the code of the first
 * failing check, also in res->diag; res is filled as far as verification got and must be
 * released with att_tpm_result_free. Order: AK, quote structure, signature, nonce, PCR values
 * and pcrDigest, event logs (docs/tpm.md). */
ATT_API att_err_t att_tpm_verify(const att_tpm_input_t *in, att_tpm_result_t *res) ATT_WUR;
ATT_API void att_tpm_result_free(att_tpm_result_t *res);

/* Verify a TPM2_Certify: `attest` (ATTEST_CERTIFY) signed by the AK with extraData = nonce, and
 * its certified name equal to the name of `certified` (a TPM2B_PUBLIC). */
ATT_API att_err_t att_tpm_certify_verify(const att_tpm_ak_t *ak, const uint8_t *attest,
                                         size_t attest_len, const uint8_t *sig, size_t sig_len,
                                         const uint8_t *nonce, size_t nonce_len,
                                         const uint8_t *certified, size_t certified_len,
                                         att_diag_t *diag) ATT_WUR;

/* ---- credential activation (verifier side) ----------------------------------------------- */

/* TPM2_MakeCredential for the EK ek_pub: a TPM2B_PUBLIC (its nameAlg and symmetric are used;
 * it must be a restricted decryption key, RSA or ECC P-256/P-384, AES-128/256-CFB), or a PEM/DER
 * SubjectPublicKeyInfo (the TCG EK templates: RSA and P-256 with SHA-256 and AES-128-CFB, P-384
 * with SHA-384 and AES-256-CFB). ak_name: the AK's name (nameAlg || H(TPMT_PUBLIC)); secret: 1
 * to digest-size-of-nameAlg bytes (32 for a SHA-256 EK). Gives *blob (a marshalled
 * TPM2B_ID_OBJECT) and *enc_secret (a marshalled TPM2B_ENCRYPTED_SECRET), malloc'd, as
 * TPM2_ActivateCredential takes them: only the TPM holding that EK's private key and an object
 * of that name gets the secret back. Fresh randomness each call. ATT_E_EVIDENCE_FORMAT (an EK
 * that does not parse), ATT_E_TPM_EK (an EK of another kind), ATT_E_ARG (name, secret size). */
ATT_API att_err_t att_tpm_make_credential(const uint8_t *ek_pub, size_t ek_len,
                                          const uint8_t *ak_name, size_t name_len,
                                          const uint8_t *secret, size_t secret_len, uint8_t **blob,
                                          size_t *blob_len, uint8_t **enc_secret, size_t *enc_len,
                                          att_diag_t *diag) ATT_WUR;

/* ---- AK and EK certificates ---------------------------------------------------------------- */

#define ATT_TPM_MAX_CAS   1024 /* configured CA certificates of one set */
#define ATT_TPM_MAX_CHAIN 8    /* intermediates presented with an AK or EK certificate */

/* A set of CA certificates (the AK CAs, or the TPM manufacturers' EK CAs). Each one is a trust
 * anchor: a chain may end at any of them (a root or an intermediate). */
typedef struct att_tpm_ca att_tpm_ca_t;
ATT_API att_err_t att_tpm_ca_new(att_tpm_ca_t **out, att_diag_t *diag) ATT_WUR;
/* Add the certificates of a PEM bundle (or one DER certificate); each must be a CA certificate.
 * name: for messages (the file). ATT_E_CERT_PARSE, ATT_E_CERT_CONSTRAINTS, ATT_E_LIMIT. */
ATT_API att_err_t att_tpm_ca_add(att_tpm_ca_t *ca, const uint8_t *buf, size_t len, const char *name,
                                 att_diag_t *diag) ATT_WUR;
ATT_API size_t att_tpm_ca_count(const att_tpm_ca_t *ca);
ATT_API void att_tpm_ca_free(att_tpm_ca_t *ca);

typedef struct {
    char subject[256], issuer[256]; /* RFC 2253 one-line names */
    char serial[80];                /* hex */
    bool ek_eku;                    /* EK: the extended key usage has 2.23.133.8.1 */
} att_tpm_cert_info_t;

/* An AK certificate (DER) with its presented intermediates (DER, at most ATT_TPM_MAX_CHAIN)
 * verified to a CA of `ca` at `now` (OpenSSL's path validation; the clock is never read), and its
 * key equal to the AK's. info gets the certificate's names. ATT_E_CERT_* for the chain (the
 * message names the certificate, the time and OpenSSL's reason), ATT_E_TPM_AK for another key. */
ATT_API att_err_t att_tpm_akcert_verify(const att_tpm_ca_t *ca, const att_tpm_ak_t *ak,
                                        const uint8_t *cert, size_t len,
                                        const uint8_t *const *chain, const size_t *lens, size_t n,
                                        att_time_t now, att_tpm_cert_info_t *info,
                                        att_diag_t *diag) ATT_WUR;
/* An EK certificate verified the same way; with an extended key usage it must include
 * tcg-kp-EKCertificate. When ek_pub (the EK's TPM2B_PUBLIC) is given, the certificate's key must
 * be its key (ATT_E_TPM_EK). *spki (malloc'd) gets the certificate's SubjectPublicKeyInfo DER,
 * which att_tpm_make_credential takes when no TPM2B_PUBLIC is given. */
ATT_API att_err_t att_tpm_ekcert_verify(const att_tpm_ca_t *ca, const uint8_t *cert, size_t len,
                                        const uint8_t *const *chain, const size_t *lens, size_t n,
                                        const uint8_t *ek_pub, size_t ek_len, att_time_t now,
                                        att_tpm_cert_info_t *info, uint8_t **spki, size_t *spki_len,
                                        att_diag_t *diag) ATT_WUR;

/* "sha1", "sha256", "rsassa", "ecdsa", ... or "unknown". */
ATT_API const char *att_tpm_alg_name(uint16_t alg);

/* ---- JSON views (CLI, claims) ------------------------------------------------------------- */

/* verdict, error {code, number, message}, pcr_digest, extra_data (hex), clock, reset_count,
 * restart_count, safe, firmware_version, signer_alg, hash_alg, pcr_selection, ak {...},
 * and with logs: secure_boot, boot_manager, kernel, replayed and the events. */
ATT_API json_t *att_tpm_result_json(const att_tpm_result_t *res);
/* One event: log, index, pcr, type, digests {alg: hex}, verified, and per kind the data. */
ATT_API json_t *att_tpm_event_json(const att_tpm_event_t *e);

#ifdef __cplusplus
}
#endif
#endif
