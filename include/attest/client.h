/* attest/client.h - the attesting side: evidence providers, OAuth2 access tokens, submission.
 *
 *   att_provider_opts_t po = {.sim_dir = "sim/"};             // or .root for tsm / gramine
 *   att_provider_t *p;   att_provider_new("sim", &po, &p, &d);
 *   att_evidence_t ev;   att_provider_collect(p, rt, rtlen, &ev, &d);  // ev.type "SgxEnclave"
 *   att_oauth_opts_t oo = {.issuer = "https://idp", .client_id = "app", .client_secret = s};
 *   att_oauth_t *o;      att_oauth_new(&oo, &o, &d);
 *   char *at;            att_oauth_token(o, time(NULL), &at, &d);       // cached until expiry-60s
 *   att_submit_opts_t so = {.url = "http://127.0.0.1:8080", .type = ev.type, .evidence = ev.data,
 *                           .evidence_len = ev.len, .runtime_data = rt, .runtime_len = rtlen,
 *                           .nonce = "n-1", .access_token = at};
 *   att_submit_result_t r; att_submit(&so, &r, &d);   // r.token, or r.error_code/r.error_message
 *   att_submit_result_clear(&r); free(at); att_evidence_clear(&ev); att_oauth_free(o);
 *   att_provider_free(p);
 *
 * Providers bind runtime data as MAA checks it: report_data = SHA-256(runtime data) || 0^32.
 * What this module does NOT check: the evidence it collects (tsm/gramine quotes are passed on as
 * the device produced them, only parsed for their TEE type) and the attestation token it gets
 * back (that is the relying party's job: attest/verifier). Nothing here reads the clock except
 * where `now` is an argument.
 */
#ifndef ATTEST_CLIENT_H
#define ATTEST_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/dcap.h"
#include "attest/sim.h"
#include "attest/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- evidence ---------------------------------------------------------------------------- */

#define ATT_EVIDENCE_MAX (1u << 20) /* largest evidence a provider returns */

typedef struct {
    uint8_t *data; /* malloc'd evidence bytes (a DCAP quote for sim, tsm, gramine) */
    size_t len;
    const char *type; /* static: the attest endpoint it is for, "SgxEnclave", "TdxVm" or
                       * "SevSnpVm" (data: MAA's JSON {SnpReport, VcekCertChain}) */
} att_evidence_t;

/* ---- TPM 2.0 through tpm2-tss ESYS (tpm_esys.c) ----------------------------------------------
 *
 *   att_tpm_client_opts_t to = {.tcti = "swtpm:host=127.0.0.1,port=2321"};
 *   att_tpm_client_t *t;  att_tpm_client_open(&to, &t, &d);   // EK, then a new AK under it
 *   char *members;        att_tpm_client_quote(t, nonce, 32, &members, &d);
 *   // {"ak", "quote", "signature", "pcrs", "tcg_log"?, "ima_log"?, "ek_cert"?}: round 2's
 *   free(members);        att_tpm_client_close(t);
 *
 * Not checked here: the quote (attestd, or att_tpm_verify, checks it), the EK certificate's
 * chain. The TPM's objects (EK, a created AK, sessions) are flushed on close; a persistent AK
 * (ak_handle) is only used. */

typedef enum { ATT_TPM_KEY_RSA = 0, ATT_TPM_KEY_ECC = 1 } att_tpm_key_alg_t;

#define ATT_TPM_EK_CERT_MAX 4096u /* the most read from an EK certificate's NV index */

typedef struct {
    /* a TCTI configuration as tpm2-tools takes it ("swtpm:host=127.0.0.1,port=2321",
     * "device:/dev/tpmrm0"); NULL: $TPM2TOOLS_TCTI, else tpm2-tss's default (tabrmd,
     * /dev/tpmrm0, /dev/tpm0, ...) */
    const char *tcti;
    /* the EK: TCG EK Credential Profile template L-1 (RSA 2048) or L-2 (ECC P-256); its
     * certificate is read from NV 0x01c00002 (RSA), 0x01c0000a (ECC) when present */
    att_tpm_key_alg_t ek_alg;
    /* or a persistent EK (0x81xxxxxx, e.g. swtpm's ECC P-384 EK at 0x81010016): used as it is,
     * authorised by an empty password when it has userWithAuth, else by PolicySecret; its
     * certificate from the index of its kind (RSA 2048 0x01c00002, P-256 0x01c0000a, P-384
     * 0x01c00016) */
    uint32_t ek_handle;
    /* the AK created under the EK (as tpm2_createak: restricted signing key, RSASSA-SHA256
     * RSA 2048 or ECDSA-SHA256 P-256), unless ak_handle names a persistent one (0x81xxxxxx) */
    att_tpm_key_alg_t ak_alg;
    uint32_t ak_handle;
    /* PCRs to quote, tpm2-tools' syntax: "sha256:0,1,2,3,4,5,6,7" (the default), banks joined
     * by '+', ranges "0-7", "all"; banks sha1, sha256, sha384, sha512, PCRs 0-23 */
    const char *pcrs;
    /* event logs sent with a quote. eventlog NULL: /sys/kernel/security/tpm0/
     * binary_bios_measurements when the TCTI is a device (or the default) and it is readable;
     * "" or "none": no log. ima NULL or "": none. At most ATT_TPM_MAX_LOG_BYTES each. */
    const char *eventlog, *ima;
} att_tpm_client_opts_t;

typedef struct att_tpm_client att_tpm_client_t;

/* Connect, create the EK, read its certificate, create and load the AK (or use ak_handle). A
 * bad pcrs spec, TCTI string or handle is ATT_E_ARG (diag says what was wrong); no TPM reachable
 * is ATT_E_UNSUPPORTED; a TPM command that fails ATT_E_IO with tpm2-tss's decoded code. */
ATT_API att_err_t att_tpm_client_open(const att_tpm_client_opts_t *o, att_tpm_client_t **out,
                                      att_diag_t *diag) ATT_WUR;
/* A quote of the PCRs with qualifying data nonce (1 to 64 bytes) and the PCR values read in its
 * selection order, checked against the quote's pcrDigest (PCRs that change meanwhile: read
 * again, at most 3 times). *members: a JSON object (malloc'd text) with round 2's members
 * (docs/api.md "TPM"): ak (TPM2B_PUBLIC), quote (TPMS_ATTEST), signature (TPMT_SIGNATURE),
 * pcrs, tcg_log and ima_log when set, ek_cert when the TPM has one (DER), all base64url. */
ATT_API att_err_t att_tpm_client_quote(att_tpm_client_t *t, const uint8_t *nonce, size_t len,
                                       char **members, att_diag_t *diag) ATT_WUR;
/* TPM2_ActivateCredential with the AK and the EK (a PolicySecret(endorsement) session): the
 * secret a verifier sealed to the AK's name and the EK with MakeCredential. blob is the
 * TPM2B_ID_OBJECT and secret the TPM2B_ENCRYPTED_SECRET, each marshalled with its size or as
 * its bare buffer. out gets at most 64 bytes (*out_len). A blob not made for this AK and EK is
 * ATT_E_IO naming the TPM's refusal. */
ATT_API att_err_t att_tpm_client_activate(att_tpm_client_t *t, const uint8_t *blob, size_t blob_len,
                                          const uint8_t *secret, size_t secret_len, uint8_t out[64],
                                          size_t *out_len, att_diag_t *diag) ATT_WUR;
/* The AK's and the EK's TPM2B_PUBLIC, the AK's name, the EK certificate (NULL/0 if the TPM has
 * none). Borrowed: valid until close. */
typedef struct {
    const uint8_t *ak_public, *ek_public, *ak_name, *ek_cert;
    size_t ak_public_len, ek_public_len, ak_name_len, ek_cert_len;
} att_tpm_client_keys_t;
ATT_API void att_tpm_client_keys(const att_tpm_client_t *t, att_tpm_client_keys_t *k);
ATT_API void att_tpm_client_close(att_tpm_client_t *t);

typedef struct {
    /* sim: a directory made by `attest sim init` (att_sim_dir_init). */
    const char *sim_dir;
    /* sim: which quote to build (the directory's default from sim.json, SGX v3 or TDX v4). */
    enum { ATT_SIM_TEE_DEFAULT = 0, ATT_SIM_TEE_SGX, ATT_SIM_TEE_TDX } sim_tee;
    /* tsm: the configfs-tsm report directory (NULL: /sys/kernel/config/tsm/report);
     * gramine: the attestation pseudo-file directory (NULL: /dev/attestation). */
    const char *root;
    /* tpm: the TPM, keys, PCRs and logs; the quote's qualifying data is SHA-256(runtime data)
     * (the first 32 bytes of the report data); the evidence is the JSON of
     * att_tpm_client_quote, type "Tpm" */
    att_tpm_client_opts_t tpm;
} att_provider_opts_t;

typedef struct att_provider att_provider_t;

/* "sim", "tsm", "gramine", "sev-guest" or "tpm". A device that is absent gives ATT_E_UNSUPPORTED
 * (diag says what is missing and what it means); an unknown name ATT_E_ARG. */
ATT_API att_err_t att_provider_new(const char *name, const att_provider_opts_t *o,
                                   att_provider_t **out, att_diag_t *diag) ATT_WUR;
ATT_API const char *att_provider_name(const att_provider_t *p);
/* Evidence whose report data is SHA-256(runtime[0..len)) || 32 zero bytes. runtime may be NULL
 * with len 0 (the digest of empty data is bound). Not thread-safe per provider. */
ATT_API att_err_t att_provider_collect(att_provider_t *p, const uint8_t *runtime, size_t len,
                                       att_evidence_t *out, att_diag_t *diag) ATT_WUR;
ATT_API void att_provider_free(att_provider_t *p);
ATT_API void att_evidence_clear(att_evidence_t *e);
/* NULL-terminated list of provider names. */
ATT_API const char *const *att_provider_names(void);

/* The 64 report-data bytes that bind runtime data: SHA-256(runtime) || 0^32. */
ATT_API att_err_t att_report_data_for(const uint8_t *runtime, size_t len, uint8_t out[64],
                                      att_diag_t *diag) ATT_WUR;

/* ---- a simulated platform directory (`attest sim init`) ----------------------------------- */

typedef struct {
    att_sim_ca_type_t ca; /* PCK CA of the hierarchy */
    att_tee_t tee;        /* default quote type of the sim provider */
    att_time_t now;       /* certificates and collateral are issued at this time */
    bool force;           /* replace an existing sim directory */
} att_sim_dir_opts_t;

/* Create DIR (0755) with:
 *   sim.json                      {"version":1,"tee":"sgx"|"tdx","ca":"processor"|"platform"}
 *   pki/                          0700: att_sim_pki_save (keys 0600)
 *   collateral/sgx/, collateral/tdx/   att_sim_collateral_write_dir for each TEE
 *   trust_root.pem                the root to give attestd (--trust-root)
 * An existing sim.json is ATT_E_ARG unless force. */
ATT_API att_err_t att_sim_dir_init(const char *dir, const att_sim_dir_opts_t *o,
                                   att_diag_t *diag) ATT_WUR;
/* Read DIR/sim.json: default TEE and CA (either may be NULL). */
ATT_API att_err_t att_sim_dir_info(const char *dir, att_tee_t *tee, att_sim_ca_type_t *ca,
                                   att_diag_t *diag) ATT_WUR;

/* ---- OAuth2 client credentials --------------------------------------------------------------- */

typedef enum {
    ATT_OAUTH_BASIC = 0, /* client_secret_basic: HTTP Basic (RFC 6749 section 2.3.1) */
    ATT_OAUTH_POST = 1,  /* client_secret_post: client_id and client_secret in the form */
} att_oauth_auth_t;

typedef struct {
    const char *issuer;    /* OpenID discovery: <issuer>/.well-known/openid-configuration */
    const char *token_url; /* or the token endpoint itself (wins over issuer) */
    const char *client_id;
    const char *client_secret; /* copied; cleansed when the context is freed */
    att_oauth_auth_t auth;
    const char *scope;      /* optional form parameters */
    const char *audience;   /* (Auth0, Keycloak style) */
    const char *resource;   /* (RFC 8707; oidc-provider issues JWT access tokens for one) */
    long timeout_ms;        /* per request; 0: 10 s */
    int64_t refresh_margin; /* seconds before expiry at which a cached token is dropped; 0: 60 */
} att_oauth_opts_t;

typedef struct att_oauth att_oauth_t;

ATT_API att_err_t att_oauth_new(const att_oauth_opts_t *o, att_oauth_t **out,
                                att_diag_t *diag) ATT_WUR;
/* An access token (malloc'd copy; free it). The cached one is returned while
 * now < fetched_at + expires_in - min(refresh_margin, expires_in / 2); a token without
 * expires_in is not cached (expires_in: a number, or a string of decimal digits as Microsoft
 * Entra ID's v1 endpoint sends). Errors: ATT_E_FETCH (transport, or an answer that is not a token),
 * ATT_E_FETCH_STATUS (the provider said no: diag has the HTTP status, `error` and
 * `error_description`; or answered with a redirect not followed: diag names its target).
 * Discovery follows at most 3 redirects, within the issuer's origin only; the token request
 * none; the document's issuer must be ours and its token_endpoint on the issuer's origin.
 * Thread-safe: one request at a time per context. */
ATT_API att_err_t att_oauth_token(att_oauth_t *o, att_time_t now, char **token,
                                  att_diag_t *diag) ATT_WUR;
/* Forget the cached token (e.g. after attestd answered 401). */
ATT_API void att_oauth_invalidate(att_oauth_t *o);
/* The token endpoint in use (after discovery), or NULL before the first att_oauth_token. */
ATT_API const char *att_oauth_token_endpoint(const att_oauth_t *o);
ATT_API void att_oauth_free(att_oauth_t *o);

/* ---- submitting evidence ----------------------------------------------------------------------
 */

typedef struct {
    const char *url;  /* attestd (or MAA) base URL, e.g. http://127.0.0.1:8080 */
    const char *type; /* "SgxEnclave", "OpenEnclave" or "TdxVm" */
    const uint8_t *evidence;
    size_t evidence_len;
    const uint8_t *runtime_data; /* optional (NULL: no runtimeData member); sent as
                                  * {"data": b64url, "dataType": "Binary"} */
    size_t runtime_len;
    bool runtime_json;        /* dataType "JSON" instead: attestd parses the data and adds it to the
                               * claims as x-ms-runtime (the data must be JSON text) */
    const char *nonce;        /* optional */
    const char *access_token; /* optional: Authorization: Bearer */
    const char *api_version;  /* NULL: 2022-08-01 (TdxVm: 2023-04-01-preview, as MAA) */
    long timeout_ms;          /* 0: 30 s */
} att_submit_opts_t;

typedef struct {
    long http_status;    /* 0 if no answer came */
    char *token;         /* the attestation token (JWS) on success */
    char *error_code;    /* the server's CloudError code, verbatim (e.g. "InvalidParameter") */
    char *error_message; /* its message, verbatim (or the start of a non-JSON body) */
} att_submit_result_t;

/* POST <url>/attest/<type>?api-version=... with {quote|report, runtimeData, nonce}. For
 * OpenEnclave, evidence that is a bare SGX quote is wrapped in an Open Enclave report header
 * (version 1, type 2 = remote SGX). ATT_OK: r->token. ATT_E_FETCH_STATUS: the server answered
 * an error (r->error_code, r->error_message). ATT_E_FETCH: no usable answer. */
ATT_API att_err_t att_submit(const att_submit_opts_t *o, att_submit_result_t *r,
                             att_diag_t *diag) ATT_WUR;
ATT_API void att_submit_result_clear(att_submit_result_t *r);

/* ---- managing an instance: policies and policy management certificates ------------------ */

typedef struct {
    const char *url;    /* attestd (or MAA) base URL */
    const char *method; /* "GET", "PUT" or "POST" */
    const char *path;   /* "/policies/SgxEnclave", "/policies/TdxVm:reset", "/certificates:add" */
    const char *body;   /* PUT/POST body, sent as text/plain (a JWS), or NULL */
    size_t body_len;
    const char *access_token; /* optional: Authorization: Bearer */
    const char *api_version;  /* NULL: 2022-08-01 */
    long timeout_ms;          /* 0: 30 s */
} att_admin_opts_t;

/* <METHOD> <url><path>?api-version=V; no redirect followed. ATT_OK: r->token, the answer's
 * token (its signature is not checked here). Errors as att_submit. */
ATT_API att_err_t att_admin_request(const att_admin_opts_t *o, att_submit_result_t *r,
                                    att_diag_t *diag) ATT_WUR;

/* ---- TPM attestation through /attest/Tpm (tpm_run.c) ------------------------------------- */

typedef enum {
    ATT_TPM_PROTO_NATIVE = 0,  /* round 2 {"request": {service_context, ak, quote, ...}} */
    ATT_TPM_PROTO_MAA = 1,     /* round 2 {"request": JWS attReqV2}, an ephemeral request key */
    ATT_TPM_PROTO_ONESHOT = 2, /* GET /tpm/nonce, then one POST of the native request */
} att_tpm_protocol_t;

typedef enum {
    ATT_TPM_TRUST_PINNED = 0,   /* round 1 aikcert; the server pins the AK (--tpm-ak) */
    ATT_TPM_TRUST_AK_CERT = 1,  /* round 1 aikcert; round 2 carries the AK certificate */
    ATT_TPM_TRUST_ACTIVATE = 2, /* round 1 activate (EK certificate, AK); the activated secret
                                 * is the challenge */
} att_tpm_trust_t;

typedef struct {
    const char *url;          /* attestd (or MAA) base URL */
    const char *access_token; /* optional: Authorization: Bearer */
    const char *api_version;  /* NULL: 2022-08-01 */
    long timeout_ms;          /* per request; 0: 30 s */
    att_tpm_protocol_t protocol;
    att_tpm_trust_t trust;
    const uint8_t *ak_cert; /* ATT_TPM_TRUST_AK_CERT: the AK's certificate, DER */
    size_t ak_cert_len;
    /* ATT_TPM_PROTO_MAA: the request key's self-signed certificate (only a vehicle for the
     * signer, never sent) is issued at this time */
    att_time_t now;
} att_tpm_attest_opts_t;

/* The two rounds of /attest/Tpm with the TPM t: round 1 (a challenge, or a credential to
 * activate), a quote of t's PCRs with the challenge, round 2; r->token is the attestation token.
 * Errors as att_submit: ATT_E_FETCH_STATUS when attestd answered an error (r->error_code,
 * r->error_message verbatim), ATT_E_FETCH when an answer is not what the protocol says, the
 * TPM's errors as att_tpm_client_quote / att_tpm_client_activate. */
ATT_API att_err_t att_tpm_attest(att_tpm_client_t *t, const att_tpm_attest_opts_t *o,
                                 att_submit_result_t *r, att_diag_t *diag) ATT_WUR;

#ifdef __cplusplus
}
#endif
#endif
