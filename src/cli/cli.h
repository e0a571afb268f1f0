/* cli.h - the `attest` command line: one function per command group. */
#ifndef ATT_CLI_H
#define ATT_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* Exit codes shared by every command. */
enum { ATT_EXIT_OK = 0, ATT_EXIT_REJECT = 1, ATT_EXIT_USAGE = 2 };

int att_cli_quote(int argc, char **argv);        /* cmd_quote.c */
int att_cli_snp(int argc, char **argv);          /* cmd_snp.c */
int att_cli_tpm(int argc, char **argv);          /* cmd_tpm.c */
int att_cli_policy(int argc, char **argv);       /* cmd_policy.c */
int att_cli_errors(int argc, char **argv);       /* cmd_errors.c */
int att_cli_token(int argc, char **argv);        /* cmd_token.c */
int att_cli_sim(int argc, char **argv);          /* cmd_sim.c */
int att_cli_evidence(int argc, char **argv);     /* cmd_evidence.c */
int att_cli_submit(int argc, char **argv);       /* cmd_submit.c */
int att_cli_run(int argc, char **argv);          /* cmd_submit.c */
int att_cli_certificates(int argc, char **argv); /* cmd_admin.c */
int att_cli_collateral(int argc, char **argv);   /* cmd_collateral.c */
/* `attest policy get|set|reset` (cmd_admin.c): argv[0] is the command. */
int att_cli_policy_remote(int argc, char **argv);

/* A verdict object on stdout: indented JSON when json, else "key value" lines (an error object
 * as "code: message"), leaving out the members named in skip (NULL-ended, may be NULL). print.c */
void att_cli_print_verdict(json_t *o, bool json, const char *const *skip);

/* Evidence verified as attestd verifies it, with collateral from a directory read as attestd's
 * --collateral-dir reads it (offline.c). new: the verifiers with the roots of the files roots
 * (PEM/DER) trusted besides the vendors' pinned ones; load: every set of dir, signatures
 * checked (ATT_E_COLL_MISSING: none there; ATT_E_IO: unreadable; other codes: a set that fails
 * its checks); verify: att_ev_verify at now, the collateral asked for by key from those sets. */
#include "attest/evidence.h"
typedef struct att_cli_offline att_cli_offline_t;
att_err_t att_cli_offline_new(const char *const *roots, size_t nroots, att_cli_offline_t **out,
                              att_diag_t *d);
att_err_t att_cli_offline_load(att_cli_offline_t *o, const char *dir, att_diag_t *d);
att_err_t att_cli_offline_verify(att_cli_offline_t *o, const att_ev_type_t *t, const uint8_t *ev,
                                 size_t len, att_time_t now, att_ev_result_t *r);
void att_cli_offline_free(att_cli_offline_t *o);

/* `attest quote verify`'s options, shared with `attest policy eval --quote` (cmd_quote.c). */
#define ATT_CLI_QV_MAX_ROOTS 8
typedef struct {
    const char *quote, *dir, *at, *runtime;
    const char *roots[ATT_CLI_QV_MAX_ROOTS];
    size_t nroots;
} att_cli_qv_t;
/* 1 if argv[*i] was one of them (its value consumed), 0 if not, -1 on an error (printed). */
int att_cli_qv_arg(const char *cmd, att_cli_qv_t *a, int argc, char **argv, int *i);
/* Verify as attestd does: *doc the verdict with "claims" (the policy's incoming claims) when
 * accepted, null else. Exit code: 0 accepted, 1 rejected, 2 usage or I/O (printed, *doc NULL). */
int att_cli_quote_run(const char *cmd, const att_cli_qv_t *a, json_t **doc);

/* Evidence provider options shared by `attest evidence` and `attest run` (cmd_evidence.c). */
#include "attest/client.h"
typedef struct {
    const char *provider, *sim_dir, *tee, *root;
    /* tpm: --tcti, --ek-alg, --ak-alg, --ek-handle, --ak-handle, --pcrs, --eventlog, --ima */
    const char *tcti, *ek_alg, *ak_alg, *ek_handle, *ak_handle, *pcrs, *eventlog, *ima;
} att_cli_prov_t;
/* 1 if argv[*i] was a provider option (its value consumed), else 0. */
int att_cli_prov_arg(att_cli_prov_t *p, int argc, char **argv, int *i);
/* Read --runtime-data FILE; exit code. */
int att_cli_read_runtime(const char *cmd, const char *path, uint8_t **rd, size_t *len);
/* Collect evidence binding rd; prints the error; exit code. */
int att_cli_prov_collect(const char *cmd, const att_cli_prov_t *p, const uint8_t *rd, size_t rdlen,
                         att_evidence_t *ev);
/* The TPM options of p as the library takes them; prints the error; exit code. */
int att_cli_tpm_opts(const char *cmd, const att_cli_prov_t *p, att_tpm_client_opts_t *o);
/* Open the TPM (att_tpm_client_open); prints the error; exit code (1: no TPM, 2: usage). */
int att_cli_tpm_open(const char *cmd, const att_cli_prov_t *p, att_tpm_client_t **t);
/* `attest run --type Tpm` / `--provider tpm`: the /attest/Tpm protocol (cmd_tpm_run.c). */
int att_cli_tpm_run(int argc, char **argv);
/* Shared by `attest submit`, `attest run` and the TPM run (cmd_submit.c): the access-token
 * options (and their usage text), the token they give (NULL when none is asked for), text from a
 * server printed with control characters escaped, and why a token is not a compact JWS (NULL when
 * it is one). */
#define ATT_CLI_AUTH_USAGE                                                                         \
    "access token (optional; attestd may require one):\n"                                          \
    "  --access-token-file F        a bearer token to send as is\n"                                \
    "  --issuer URL | --token-url URL\n"                                                           \
    "                               OAuth2 client credentials: the identity provider (its token\n" \
    "                               endpoint found by OpenID discovery) or its token endpoint\n"   \
    "  --client-id ID --client-secret-file F\n"                                                    \
    "  [--client-auth basic|post]   client_secret_basic (default) or client_secret_post\n"         \
    "  [--scope S] [--audience A] [--resource R]   extra token request parameters\n"
typedef struct {
    const char *access_token_file, *issuer, *token_url, *client_id, *secret_file, *client_auth,
        *scope, *audience, *resource;
} att_cli_auth_t;
int att_cli_auth_arg(att_cli_auth_t *a, int argc, char **argv, int *i);
int att_cli_access_token(const char *cmd, const att_cli_auth_t *a, char **out);
void att_cli_put_safe(FILE *f, const char *s);
void att_cli_put_refusal(const char *cmd, const att_submit_result_t *r);
const char *att_cli_token_malformed(const char *t);

#endif
