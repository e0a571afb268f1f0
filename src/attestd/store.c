/* store.c - the backend-neutral part of the store: the logical schema version every backend
 * implements, and the functions that free what the list operations return.
 *
 * A backend (store_sqlite.c today, a libpq one later) fills att_store_ops_t and hands out
 * lists built from malloc'd strings, so one pair of free functions serves all of them.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* The logical schema: version N means "the tables and columns of docs/store.md, migration N".
 * Every backend keeps its own numbered migrations with the same numbering, and refuses a
 * database whose version is higher than this. Bump it together with every backend. */
#define ATT_STORE_SCHEMA_VERSION 2

int att_store_schema_version(void)
{
    return ATT_STORE_SCHEMA_VERSION;
}

static void free_secret_str(char *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

void att_store_keys_free(att_store_key_t *keys, size_t n)
{
    if (keys == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(keys[i].kid);
        free(keys[i].alg);
        free_secret_str(keys[i].key_pem); /* private key material: zeroed before release */
        free(keys[i].cert_pem);
    }
    free(keys);
}

void att_store_signers_free(att_store_signer_t *s, size_t n)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(s[i].thumbprint);
        free(s[i].cert_pem);
    }
    free(s);
}
