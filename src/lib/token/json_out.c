/* json_out.c - the claims and header serialisation of tokens: jansson's compact, key-sorted
 * output (deterministic bytes for a given claim set). */
#include <string.h>

#include "token_int.h"

char *att_json_dump_sorted(json_t *v, size_t *len)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    if (s != NULL && len != NULL)
        *len = strlen(s);
    return s;
}
