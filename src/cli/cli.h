/* cli.h - the `attest` command line: one function per command group. */
#ifndef ATT_CLI_H
#define ATT_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* Exit codes shared by every command. */
enum { ATT_EXIT_OK = 0, ATT_EXIT_REJECT = 1, ATT_EXIT_USAGE = 2 };

int att_cli_quote(int argc, char **argv);    /* cmd_quote.c */
int att_cli_snp(int argc, char **argv);      /* cmd_snp.c */
int att_cli_tpm(int argc, char **argv);      /* cmd_tpm.c */
int att_cli_policy(int argc, char **argv);   /* cmd_policy.c */
int att_cli_errors(int argc, char **argv);   /* cmd_errors.c */
int att_cli_token(int argc, char **argv);    /* cmd_token.c */
int att_cli_sim(int argc, char **argv);      /* cmd_sim.c */
int att_cli_evidence(int argc, char **argv); /* cmd_evidence.c */
int att_cli_submit(int argc, char **argv);   /* cmd_submit.c */
int att_cli_run(int argc, char **argv);      /* cmd_submit.c */

/* A verdict object on stdout: indented JSON when json, else "key value" lines (an error object
 * as "code: message"), leaving out the members named in skip (NULL-ended, may be NULL). print.c */
void att_cli_print_verdict(json_t *o, bool json, const char *const *skip);

/* Evidence provider options shared by `attest evidence` and `attest run` (cmd_evidence.c). */
#include "attest/client.h"
typedef struct {
    const char *provider, *sim_dir, *tee, *root;
} att_cli_prov_t;
/* 1 if argv[*i] was a provider option (its value consumed), else 0. */
int att_cli_prov_arg(att_cli_prov_t *p, int argc, char **argv, int *i);
/* Read --runtime-data FILE; exit code. */
int att_cli_read_runtime(const char *cmd, const char *path, uint8_t **rd, size_t *len);
/* Collect evidence binding rd; prints the error; exit code. */
int att_cli_prov_collect(const char *cmd, const att_cli_prov_t *p, const uint8_t *rd, size_t rdlen,
                         att_evidence_t *ev);

#endif
