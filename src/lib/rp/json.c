/* json.c - the header and claims JSON of a token, read by jansson (base64url is the token
 * module's att_b64_decode_to, into a caller's buffer).
 *
 * Claims are parsed with jansson only. A hand-written reader for the subset tokens use was
 * measured at twice the verification rate (jansson reads a 3 kB claim set in about 25 us, more
 * than the RSA-2048 verification itself), and removed: the project uses its chosen JSON library
 * rather than a second parser in the token path of every relying party. docs/relying-party.md
 * has the figures.
 */
#include <string.h>

#include "rp/rp_int.h"

/* ---- JSON ------------------------------------------------------------------------------ */

json_t *att_rp_json_object(const char *p, size_t len)
{
    json_t *v = json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}
