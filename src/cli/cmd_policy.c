/* cmd_policy.c - `attest policy ...` (placeholder until the policy engine lands). */
#include <stdio.h>

#include "cli.h"

int att_cli_policy(int argc, char **argv)
{
    fprintf(stderr, "attest policy: not implemented yet\n");
    return ATT_EXIT_USAGE;
}
