/* print.c - how `attest` commands print a verdict object (cli.h): indented JSON with --json, else
 * one "key value" line per member, an error object as "code: message", other values compact JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void att_cli_print_verdict(json_t *o, bool json, const char *const *skip)
{
    if (json) {
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        bool skipped = false;
        for (size_t i = 0; skip != NULL && skip[i] != NULL && !skipped; i++)
            skipped = strcmp(k, skip[i]) == 0;
        if (skipped)
            continue; /* --json has them */
        if (json_is_object(v) && json_object_get(v, "code") && json_object_get(v, "message")) {
            printf("%-20s %s: %s\n", k, json_string_value(json_object_get(v, "code")),
                   json_string_value(json_object_get(v, "message")));
            continue;
        }
        char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        printf("%-20s %s\n", k, s ? s : json_string_value(v));
        free(s);
    }
}
