/* cmd_errors.c - `attest errors [--json]`: every error code, number and message. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "attest/err.h"
#include "cli.h"

int att_cli_errors(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help")) {
            printf("usage: attest errors [--json]\nList every error code of libattest.\n");
            return ATT_EXIT_OK;
        } else {
            fprintf(stderr, "attest errors: unknown option '%s'\n", argv[i]);
            return ATT_EXIT_USAGE;
        }
    }
    json_t *arr = json ? json_array() : NULL;
    for (size_t i = 0; i < att_err_count(); i++) {
        att_err_t e = att_err_at(i);
        if (json)
            json_array_append_new(arr, json_pack("{s:s,s:i,s:s}", "code", att_err_name(e), "number",
                                                 (int)e, "message", att_strerror(e)));
        else
            printf("%4d  %-36s %s\n", (int)e, att_err_name(e), att_strerror(e));
    }
    if (json) {
        json_dumpf(arr, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(arr);
    }
    return ATT_EXIT_OK;
}
