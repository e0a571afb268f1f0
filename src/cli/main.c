/* main.c - `attest`: client, verifier and relying-party tool of attestd. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} att_commands[] = {
    {"quote", att_cli_quote, "verify or dump an Intel DCAP quote (SGX, TDX)"},
    {"snp", att_cli_snp, "verify or dump an AMD SEV-SNP attestation report"},
    {"tpm", att_cli_tpm,
     "verify a TPM 2.0 quote, its PCR values and event logs; activate a credential"},
    {"policy", att_cli_policy,
     "check, evaluate or print attestation policies; get, set or reset them on an instance"},
    {"certificates", att_cli_certificates,
     "list, add or remove an instance's policy management certificates"},
    {"collateral", att_cli_collateral,
     "fetch the collateral of given platforms into a bundle for an air-gapped attestd"},
    {"errors", att_cli_errors, "list every error code with its message"},
    {"token", att_cli_token, "verify an attestation token as a relying party"},
    {"sim", att_cli_sim,
     "simulated platforms: SGX/TDX (init, collateral-server), SEV-SNP (snp init, snp report)"},
    {"evidence", att_cli_evidence,
     "collect evidence binding runtime data (sim, tsm, gramine, sev-guest, tpm)"},
    {"submit", att_cli_submit, "send evidence to attestd, print the attestation token"},
    {"run", att_cli_run, "evidence + access token + submit in one command"},
};

static void att_usage(FILE *f)
{
    fprintf(f, "usage: attest COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(att_commands) / sizeof(att_commands[0]); i++)
        fprintf(f, "  %-12s %s\n", att_commands[i].name, att_commands[i].help);
    fprintf(f, "\n'attest COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        att_usage(stderr);
        return ATT_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        att_usage(stdout);
        return ATT_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("attest 0.1.0\n");
        return ATT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(att_commands) / sizeof(att_commands[0]); i++)
        if (!strcmp(argv[1], att_commands[i].name))
            return att_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "attest: unknown command '%s'\n", argv[1]);
    att_usage(stderr);
    return ATT_EXIT_USAGE;
}
