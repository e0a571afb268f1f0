/* cli.h - the `attest` command line: one function per command group. */
#ifndef ATT_CLI_H
#define ATT_CLI_H

#include <stdio.h>

/* Exit codes shared by every command. */
enum { ATT_EXIT_OK = 0, ATT_EXIT_REJECT = 1, ATT_EXIT_USAGE = 2 };

int att_cli_quote(int argc, char **argv);  /* cmd_quote.c */
int att_cli_policy(int argc, char **argv); /* cmd_policy.c */
int att_cli_errors(int argc, char **argv); /* cmd_errors.c */

#endif
