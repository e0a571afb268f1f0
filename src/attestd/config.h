/* config.h - attestd's options from the command line, the environment and a config file.
 *
 *   att_config_t cfg;
 *   att_diag_t d;
 *   if (att_config_load(&cfg, argc, argv, environ, &d) != ATT_OK) {
 *       fprintf(stderr, "attestd: %s\n", d.msg);     // exit 2
 *   }
 *   if (cfg.help) att_config_usage(stdout);
 *   ... cfg.listen, cfg.data_dir, cfg.issuer ...
 *   att_config_free(&cfg);
 *
 * Precedence, per option: command line > environment (ATTESTD_<NAME>, upper case, '-' -> '_')
 * > config file (`name = value` lines, `#` comments; --config or ATTESTD_CONFIG) > default.
 * A repeatable option (--trust-root, --auth-issuer) takes all its values from the highest source
 * that sets it; in the environment --trust-root's values are separated by ':', --auth-issuer's
 * (URLs, --trusted-proxy) by ',' or white space. The arguments that are not options nor option
 * values are the command (cfg.args), wherever they stand ("keys rotate --data-dir X" and
 * "--data-dir X keys rotate" alike); after "--" every argument is the command's. Every value
 * is checked here (numbers, ranges, the listen address, --at, --signing-alg, --log-level,
 * --auth-attest, --store (att_store_url_parse; an invalid one is named redacted), URLs start
 * with http:// or https://, --trusted-proxy addresses, TLS cert and key given together,
 * --auth-audience given with --auth-issuer and --auth-audience or --auth-attest required not
 * given without one). Not checked here: that files and directories
 * exist or are readable (the modules that open them report that).
 */
#ifndef ATTESTD_CONFIG_H
#define ATTESTD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "attest/types.h"
#include "log.h"

typedef struct {
    char *listen;      /* "HOST:PORT" as given (default 127.0.0.1:8080) */
    char *listen_host; /* HOST without brackets */
    uint16_t listen_port;
    char *data_dir;       /* default ./var */
    char *store_url;      /* --store URL; default "sqlite:" + data_dir (att_store_url_for_dir) */
    char *issuer;         /* explicit, or derived (see issuer_derived) */
    bool issuer_derived;  /* true when issuer came from the listen address */
    char *collateral_url; /* NULL: none */
    char *kds_url;        /* AMD KDS base URL; NULL: none */
    char *collateral_dir; /* NULL: none */
    uint64_t collateral_max_age;       /* seconds; 0 = refresh only before nextUpdate */
    unsigned collateral_timeout;       /* seconds: deadline of one fetch, default 10 */
    unsigned collateral_fetch_waiters; /* requests blocked on fetches at once; 0 = threads - 1 */
    unsigned collateral_fetch_rate;    /* fetches started per second, default 2 */
    unsigned collateral_backoff;       /* seconds after a failed fetch, default 5, doubling */
    unsigned collateral_backoff_max;   /* seconds, default 300 */
    char **trust_roots;                /* n_trust_roots files */
    size_t n_trust_roots;
    char **tpm_aks; /* --tpm-ak: n_tpm_aks pinned TPM AK files */
    size_t n_tpm_aks;
    char **tpm_ak_cas, **tpm_ek_cas; /* --tpm-ak-ca, --tpm-ek-ca: PEM CA files */
    size_t n_tpm_ak_cas, n_tpm_ek_cas;
    char **tcb_baselines; /* --tcb-baseline TYPE=N, checked for form (the type by the service) */
    size_t n_tcb_baselines;
    /* --cache-pck-chains, --cache-collateral, --cache-snp-vcek: PCK chains, collateral sets and
     * SEV-SNP VCEKs kept (LRU) */
    size_t cache_pck_chains, cache_collateral, cache_snp_vcek;
    /* --tpm-max-log-bytes, --tpm-max-events, --tpm-max-event-size (att_tpm_limits_t),
     * --tpm-max-custom-claims, --tpm-max-claim-bytes (attReqV2) */
    size_t tpm_max_log_bytes, tpm_max_events, tpm_max_event_size;
    size_t tpm_max_custom_claims, tpm_max_claim_bytes;
    size_t tpm_max_chain;   /* --tpm-max-chain: intermediates with an AK or EK certificate */
    size_t tpm_ak_cache;    /* --tpm-ak-cache: AKs kept decoded (LRU by their bytes' SHA-256) */
    bool has_at;            /* --at given */
    att_time_t at;          /* clock override */
    char *isolated_signers; /* NULL: not isolated */
    /* --policy-signer-min-rsa-bits: smallest RSA policy signer key (1024..4096, default 2048) */
    unsigned policy_signer_min_rsa_bits;
    char *tls_cert, *tls_key;
    char *tls_priority;      /* GnuTLS priority string; NULL = ATT_HTTP_TLS_PRIORITY */
    uint64_t token_lifetime; /* seconds, default 28800 */
    char *signing_alg;       /* "RS256" (default), "PS256", "ES256" */
    /* --key-publish-lead: seconds a rotated key is published before it signs; not set: the
     * store's default (keys.c: 60 on PostgreSQL, 0 on SQLite) */
    uint64_t key_publish_lead;
    bool key_publish_lead_set;
    /* --key-encryption-key FILE (NULL: keys stored in clear), --key-encryption-key-old FILE (KEK
     * rotation), --signing-key pkcs11:URI (RFC 7512; NULL: keys in the store) and
     * --signing-key-sessions N (default 4) */
    char *key_encryption_key, *key_encryption_key_old, *signing_key;
    unsigned signing_key_sessions;
    unsigned threads;          /* 0 = number of CPUs */
    size_t max_body;           /* default 1 MiB */
    size_t max_header;         /* default 16 KiB */
    unsigned max_query_params; /* default 64 */
    size_t max_body_memory;    /* default 64 MiB */
    unsigned max_connections;  /* default 1024 */
    unsigned timeout;          /* seconds, default 30 */
    /* --lingering-time (default 30 s; 0: none), --lingering-timeout (5 s),
     * --lingering-connections (64): the read-and-discard after an early answer (http.h) */
    unsigned lingering_time, lingering_timeout, lingering_connections;
    char **trusted_proxies; /* --trusted-proxy: n_trusted_proxies addresses or CIDRs */
    size_t n_trusted_proxies;
    att_log_level_t log_level; /* default info */
    char *audit_log;           /* --audit-log FILE, or NULL: no audit trail */
    char **auth_issuers;       /* n_auth_issuers OpenID issuers of access tokens; none: auth off */
    size_t n_auth_issuers;
    char *auth_audience;         /* required with an issuer */
    char *auth_roles_claim;      /* default "roles"; a dotted path reaches into objects */
    char *auth_reader_role;      /* default "attestation.read" */
    char *auth_admin_role;       /* default "attestation.admin" */
    bool auth_attest_required;   /* --auth-attest required (default anonymous) */
    unsigned auth_jwks_timeout;  /* seconds: deadline of one key fetch, default 5 */
    unsigned auth_jwks_refetch;  /* seconds between fetches for unknown kids, default 30 */
    unsigned auth_jwks_backoff;  /* seconds without a fetch after a failed one, default 60 */
    unsigned auth_jwks_waiters;  /* requests waiting for a fetch in flight, default 1 */
    bool allow_anonymous_admin;  /* changes from non-loopback peers without --auth-issuer */
    uint64_t policy_jws_max_age; /* seconds; 0 = signed requests need no iat */
    uint64_t policy_max_steps;   /* policy evaluation work budget, default 1000000 steps */
    size_t policy_max_memory;    /* policy evaluation size budget, default 64 MiB */
    char *config_file;           /* the file read, or NULL */
    bool help, version;          /* --help / --version seen */
    int argc;                    /* the command's words (e.g. "keys rotate") */
    char **args;                 /* malloc'd array of argv's strings (freed by att_config_free) */
} att_config_t;

/* Fill cfg (zeroed first). envp is a NULL-terminated "NAME=value" array (environ; NULL = none).
 * ATT_E_ARG with a message naming the option and source for any invalid value; cfg is then
 * freed. The issuer is derived as http(s)://HOST:PORT (IPv6 in brackets, wildcard hosts as
 * localhost) unless given. */
att_err_t att_config_load(att_config_t *cfg, int argc, char **argv, char **envp, att_diag_t *d);
/* Re-derive a derived issuer for the port actually bound (when --listen asked for port 0). */
att_err_t att_config_set_port(att_config_t *cfg, uint16_t port, att_diag_t *d);
void att_config_free(att_config_t *cfg);
/* The --help text: every option, its environment name and default. */
void att_config_usage(FILE *f);

#endif
