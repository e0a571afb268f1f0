/* json.c - the header and claims JSON of a token (base64url is the token module's
 * att_b64_decode_to, into a caller's buffer).
 *
 * Read with att_json_loadb (core/json.h): jansson's values and verdicts, but simdjson's reading
 * speed. jansson's own reader took about 25 us for a 3 kB claim set, more than the RSA-2048
 * verification itself; docs/relying-party.md has the figures.
 */
#include <string.h>

#include "core/json.h"
#include "rp/rp_int.h"

/* ---- JSON ------------------------------------------------------------------------------ */

json_t *att_rp_json_object(const char *p, size_t len)
{
    json_t *v = att_json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}
