/* jws.h - the token module's JWS primitives for the rest of the library (internal, not installed,
 * nothing exported): the compact-serialisation split, the one signature check and the key/alg
 * rules. att_jws_verify (token/verify.c) and the relying party's att_rp_verify (rp/rp.c) both
 * read a token through these, so the two agree on what a JWS is; attestd cuts a bearer token
 * (auth.c: its unverified "iss") and a signed request (policies.c: the hash of its signing input)
 * with att_jws_split too.
 *
 *   att_jws_parts_t j;
 *   size_t nseg;
 *   if (!att_jws_split(text, len, &j, &nseg))
 *       ... "%zu segments, not 3", nseg ...
 *   att_b64_decode_to(j.header, j.header_len, false, buf, sizeof buf, &n);   // and so on
 *   att_token_sig_ok(key, NULL, alg, text, j.input_len, sig, slen);
 *
 * Not checked here: anything about the segments' contents (base64url, the header's JSON, which
 * key or alg is acceptable): the callers decide, each with its own limits and messages.
 * Module-private helpers (ES256 r||s <-> DER, encoding) stay in token/token_int.h.
 */
#ifndef ATT_TOKEN_JWS_H
#define ATT_TOKEN_JWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "attest/token.h"

/* RSA keys accepted for signing and verification: a modulus of 2048 to 8192 bits and an odd
 * public exponent e with 65537 <= e < 2^32. e = 1 would make any "signature" equal to the padded
 * digest verify without a private key; small or even exponents are not RSA as deployed; a huge
 * exponent makes each verification cost what an attacker chooses. */
#define ATT_TOKEN_RSA_MIN_BITS   2048
#define ATT_TOKEN_RSA_MAX_BITS   8192
#define ATT_TOKEN_RSA_E_MIN      65537
#define ATT_TOKEN_RSA_E_MAX_BITS 32

/* The lowest minimum a caller may ask for (att_jws_opts_t.min_rsa_bits): policy signers of
 * instances migrating from MAA, which accepts 1024-bit keys. Token signing keys stay >= 2048. */
#define ATT_TOKEN_RSA_FLOOR_BITS 1024

/* A compact JWS (RFC 7515 7.1) cut at its two dots: b64(header) "." b64(payload) "."
 * b64(signature), each a range of the caller's text (nothing decoded, copied or allocated).
 * input_len is the length of b64(header) "." b64(payload) from the start of the text: the
 * signing input, as received. */
typedef struct {
    const char *header, *payload, *sig;
    size_t header_len, payload_len, sig_len;
    size_t input_len;
} att_jws_parts_t;

/* Cut text[0..len) into its three segments. False when it does not hold exactly two '.';
 * *nseg (optional) is then the number of '.'-separated segments it does hold, for the caller's
 * message. Segments may be empty: whether one may is the caller's rule. */
bool att_jws_split(const char *text, size_t len, att_jws_parts_t *out, size_t *nseg);

/* Unpadded base64url (std: standard alphabet) of in[0..len) into out (cap bytes): strict
 * alphabet, length not 4n+1, zero unused bits; no allocation (att_b64_decode adds padding
 * rules and allocates). */
bool att_b64_decode_to(const char *in, size_t len, bool std, uint8_t *out, size_t cap,
                       size_t *outlen);

/* NULL if the RSA key `key` is within the limits above, else a static reason. */
const char *att_token_rsa_weak(EVP_PKEY *key);

/* NULL if `key` can sign/verify `alg` (the RSA limits above included), else a static reason
 * ("needs an RSA key of at least 2048 bits", ...). */
const char *att_token_key_mismatch(EVP_PKEY *key, att_alg_t alg);

/* The same with another smallest RSA modulus (0: ATT_TOKEN_RSA_MIN_BITS; below
 * ATT_TOKEN_RSA_FLOOR_BITS: that floor). The reason may be written into buf[0..n) (when given)
 * and returned, to name min_bits. */
const char *att_token_rsa_weak_min(EVP_PKEY *key, unsigned min_bits, char *buf, size_t n);
const char *att_token_key_mismatch_min(EVP_PKEY *key, att_alg_t alg, unsigned min_rsa_bits,
                                       char *buf, size_t n);

/* Initialise md for alg with key (sign or verify): SHA-256; PKCS#1 v1.5 for RS256, PSS with a
 * 32-byte salt and MGF1-SHA-256 for PS256, ECDSA for ES256. */
bool att_token_md_init(EVP_MD_CTX *md, EVP_PKEY *key, att_alg_t alg, bool sign);

/* The one signature check of JWS verification (att_jws_verify, the relying party's
 * att_rp_verify): sig over input[0..ilen) with key for alg. The signature must have the alg's
 * exact length (64-byte r||s for ES256, the modulus size for RSA). tmpl, when not NULL, is an
 * EVP_MD_CTX initialised once by att_token_md_init(..., false) for this key and alg; it is only
 * read (copied into a fresh context), so one template serves any number of threads and the
 * per-call EVP_DigestVerifyInit_ex (~2.5 us of provider fetches) is skipped. */
bool att_token_sig_ok(EVP_PKEY *key, const EVP_MD_CTX *tmpl, att_alg_t alg, const char *input,
                      size_t ilen, const uint8_t *sig, size_t slen);

#endif
