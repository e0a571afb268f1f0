/* token_int.h - internal helpers shared by the token module's files (not installed; the rest
 * of the library uses token/jws.h, included here).
 *
 * ES256 signatures travel as raw r||s (JOSE, RFC 7518 3.4) but OpenSSL produces and expects
 * DER ECDSA-Sig-Value; these convert between the two. Key/alg compatibility is checked in one
 * place (token/jws.h) so signing and verification agree on it.
 */
#ifndef ATT_TOKEN_INT_H
#define ATT_TOKEN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "attest/token.h"
#include "token/jws.h"

/* Most certificates taken from an x5c header. */
#define ATT_TOKEN_X5C_MAX 16

/* DER ECDSA-Sig-Value -> 64-byte r||s (P-256). */
bool att_es256_der_to_raw(const uint8_t *der, size_t len, uint8_t raw[64]);
/* 64-byte r||s -> DER (OPENSSL_malloc'd, OPENSSL_free it); NULL on failure. */
uint8_t *att_es256_raw_to_der(const uint8_t raw[64], size_t *len);

/* base64url without padding of in[0..len) into out (room for 4*ceil(len/3) bytes, no NUL
 * written); returns the number of characters. */
size_t att_b64url_encode_to(const uint8_t *in, size_t len, char *out);

/* json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS); malloc'd; *len (optional) excludes the NUL.
 * NULL where jansson fails (invalid UTF-8, out of memory). */
char *att_json_dump_sorted(json_t *v, size_t *len);

#endif
