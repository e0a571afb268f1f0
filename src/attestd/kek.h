/* kek.h - the key-encryption key (--key-encryption-key): private keys sealed at rest.
 *
 *   att_kek_t *kek;
 *   att_kek_load("/etc/attestd/kek", "--key-encryption-key", &kek, &d);  // mode checked, 32 bytes
 *   char *blob;
 *   att_kek_seal(kek, "signing-key", kid, pem, strlen(pem), &blob, &d);
 *   // "attestd-kek-v1:3f2a9c0d17e4b5a6:<base64url(nonce | ciphertext | tag)>"
 *   uint8_t *pem2; size_t n;
 *   att_kek_open(kek, "signing-key", kid, blob, &pem2, &n, &d);  // NUL-terminated, cleanse+free
 *   att_kek_free(kek);
 *
 * A blob is text, so it fits the store's key_pem column of either backend:
 *   attestd-kek-v1:<kek id>:<base64url without padding of nonce(12) | ciphertext | tag(16)>
 * AES-256-GCM (OpenSSL EVP) with a random 96-bit nonce per seal, the 32-byte KEK used directly
 * as the key. The additional authenticated data is "attestd-kek-v1", the kek id, the purpose and
 * the row's kid, each followed by a NUL: a blob moved to another row (another kid) or another
 * purpose does not open. The kek id is the first 8 bytes of SHA-256("attestd-kek-id" | KEK) in
 * hex: it names the KEK a blob needs (messages say which) without revealing it.
 *
 * The KEK file holds 32 bytes: raw (exactly 32 bytes), or 64 hex digits, or standard base64
 * (44 characters), each optionally followed by white space (a newline). It must be a regular
 * file that other users cannot read or write (as --tls-key: group-readable 0640 is allowed).
 * Not checked here: who owns the file, or what the sealed bytes are (keys.c parses the PEM).
 */
#ifndef ATTESTD_KEK_H
#define ATTESTD_KEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/types.h"

#define ATT_KEK_LEN        32
#define ATT_KEK_PREFIX     "attestd-kek-"   /* every version's blobs start with it */
#define ATT_KEK_V1         "attestd-kek-v1" /* the version written */
#define ATT_KEK_ID_LEN     16               /* hex characters */
#define ATT_KEK_MAX_SEALED (64 * 1024)      /* most plaintext bytes sealed or opened */

typedef struct att_kek att_kek_t;

/* Read the KEK from path; `what` names it in messages ("--key-encryption-key"). ATT_E_IO when
 * it cannot be read, ATT_E_ARG for a file others can read or write, or whose content is not 32
 * bytes in one of the three forms (the message says what was found, never the key). */
att_err_t att_kek_load(const char *path, const char *what, att_kek_t **out, att_diag_t *d) ATT_WUR;
/* A KEK from its 32 bytes (tests, tools); NULL when out of memory. */
att_kek_t *att_kek_from_bytes(const uint8_t key[ATT_KEK_LEN]);
void att_kek_free(att_kek_t *k);
/* The kek id: 16 lowercase hex characters. */
const char *att_kek_id(const att_kek_t *k);

/* Is text a sealed blob (of any version)? Stored PEM is not. */
bool att_kek_is_sealed(const char *text);
/* The kek id a blob names, into id (ATT_KEK_ID_LEN + 1 bytes); false for a malformed blob. */
bool att_kek_blob_id(const char *blob, char id[ATT_KEK_ID_LEN + 1]);

/* Seal pt[0..len) for (purpose, kid) into a malloc'd blob. ATT_E_LIMIT above
 * ATT_KEK_MAX_SEALED bytes; ATT_E_ARG for an empty purpose or kid. */
att_err_t att_kek_seal(const att_kek_t *k, const char *purpose, const char *kid, const uint8_t *pt,
                       size_t len, char **out, att_diag_t *d) ATT_WUR;
/* Open a blob sealed for (purpose, kid): *pt is malloc'd, NUL-terminated (OPENSSL_cleanse it
 * before free). ATT_E_KEY, the message naming the kid: not a blob, another version, malformed,
 * sealed under another KEK (both ids named), or not authentic (wrong key, the blob altered, or
 * moved from another row or purpose). */
att_err_t att_kek_open(const att_kek_t *k, const char *purpose, const char *kid, const char *blob,
                       uint8_t **pt, size_t *len, att_diag_t *d) ATT_WUR;

#endif
