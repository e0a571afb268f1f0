/* cmd_quote.c - placeholder */
#include <stdio.h>
#include "cli.h"
int att_cli_quote(int argc, char **argv)
{
    fprintf(stderr, "attest quote: not implemented yet\n");
    return ATT_EXIT_USAGE;
}
