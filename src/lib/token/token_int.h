/* token_int.h - internal helpers shared by the token module (not installed).
 *
 * ES256 signatures travel as raw r||s (JOSE, RFC 7518 3.4) but OpenSSL produces and expects
 * DER ECDSA-Sig-Value; these convert between the two. Key/alg compatibility is checked in one
 * place so signing and verification agree on it.
 */
#ifndef ATT_TOKEN_INT_H
#define ATT_TOKEN_INT_H

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
/* Most certificates taken from an x5c header. */
#define ATT_TOKEN_X5C_MAX 16

/* DER ECDSA-Sig-Value -> 64-byte r||s (P-256). */
bool att_es256_der_to_raw(const uint8_t *der, size_t len, uint8_t raw[64]);
/* 64-byte r||s -> DER (OPENSSL_malloc'd, OPENSSL_free it); NULL on failure. */
uint8_t *att_es256_raw_to_der(const uint8_t raw[64], size_t *len);

/* NULL if the RSA key `key` is within the limits above, else a static reason. */
const char *att_token_rsa_weak(EVP_PKEY *key);

/* NULL if `key` can sign/verify `alg` (the RSA limits above included), else a static reason
 * ("needs an RSA key of at least 2048 bits", ...). */
const char *att_token_key_mismatch(EVP_PKEY *key, att_alg_t alg);

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

/* Unpadded base64url (std: standard alphabet) of in[0..len) into out (cap bytes): strict
 * alphabet, length not 4n+1, zero unused bits; no allocation (att_b64_decode adds padding
 * rules and allocates). */
bool att_b64_decode_to(const char *in, size_t len, bool std, uint8_t *out, size_t cap,
                       size_t *outlen);

/* base64url without padding of in[0..len) into out (room for 4*ceil(len/3) bytes, no NUL
 * written); returns the number of characters. */
size_t att_b64url_encode_to(const uint8_t *in, size_t len, char *out);

/* json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS); malloc'd; *len (optional) excludes the NUL.
 * NULL where jansson fails (invalid UTF-8, out of memory). */
char *att_json_dump_sorted(json_t *v, size_t *len);

#endif
