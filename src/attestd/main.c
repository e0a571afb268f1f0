/* main.c - `attestd`: the attestation service process. Parses the configuration, binds the
 * listening socket, builds the service and its routes, serves until SIGTERM/SIGINT, then stops
 * gracefully (in-flight requests finish) and exits 0. Invalid options exit 2. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "perms.h"
#include "store.h"
#include "routes.h"

extern char **environ;

/* The base URL a local client can use: the bound address, with wildcards as loopback. */
static void att_local_url(const att_config_t *cfg, uint16_t port, char *out, size_t n)
{
    const char *h = cfg->listen_host;
    if (!strcmp(h, "0.0.0.0"))
        h = "127.0.0.1";
    else if (!strcmp(h, "::"))
        h = "::1";
    bool v6 = strchr(h, ':') != NULL;
    snprintf(out, n, "%s://%s%s%s:%u", cfg->tls_cert ? "https" : "http", v6 ? "[" : "", h,
             v6 ? "]" : "", port);
}

/* The address the listening socket is really bound to, as a URL ("http://0.0.0.0:8080",
 * "https://[::1]:8443"); *loopback tells whether only this machine can reach it. */
static void att_bound_url(int fd, bool tls, char *out, size_t n, bool *loopback)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    *loopback = false;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
        *loopback = att_service_is_loopback(host);
    }
    bool v6 = strchr(host, ':') != NULL;
    snprintf(out, n, "%s://%s%s%s:%u", tls ? "https" : "http", v6 ? "[" : "", host, v6 ? "]" : "",
             port);
}

/* The HTTP server's stop_late: past the grace period, policy evaluations give up. */
static void att_stop_late(void *svc)
{
    att_service_stop(svc);
}

/* Largest --max-connections whose descriptors fit in `fds` (0 if none does). */
static unsigned att_max_connections_for(att_http_opts_t o, unsigned long fds)
{
    unsigned lo = 0, hi = 1000000;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo + 1) / 2;
        o.max_connections = mid;
        if (att_http_fds_needed(&o) <= fds)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Make RLIMIT_NOFILE's soft limit cover what the HTTP server may hold (att_http_fds_needed),
 * raising it toward the hard limit. Fails, naming both numbers and the largest
 * --max-connections that fits, when the hard limit is too low: attestd would otherwise fail to
 * accept (EMFILE) well before its configured limit, with every client locked out alike. */
static att_err_t att_nofile_ensure(const att_http_opts_t *o, att_diag_t *d)
{
    unsigned long need = att_http_fds_needed(o);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return att_diag_set(d, ATT_E_IO, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return ATT_OK;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
        return att_diag_set(d, ATT_E_ARG,
                            "--max-connections %u needs %lu file descriptors, but the hard limit "
                            "on open files (RLIMIT_NOFILE) is %llu: raise it (ulimit -Hn, "
                            "LimitNOFILE= in a systemd unit) or lower --max-connections to %u",
                            o->max_connections, need, (unsigned long long)rl.rlim_max,
                            att_max_connections_for(*o, rl.rlim_max));
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return att_diag_set(d, ATT_E_IO,
                            "--max-connections %u needs %lu file descriptors; raising the open "
                            "file limit (RLIMIT_NOFILE) from %llu failed: %s",
                            o->max_connections, need, (unsigned long long)old, strerror(errno));
    att_log(ATT_LOG_INFO,
            "raised the open file limit (RLIMIT_NOFILE) from %llu to %lu for "
            "--max-connections %u",
            (unsigned long long)old, need, o->max_connections);
    return ATT_OK;
}

static int att_serve(att_config_t *cfg)
{
    att_diag_t d;
    int rc = 1, fd = -1;
    uint16_t port = 0;
    att_metrics_t *metrics = NULL;
    att_service_t *svc = NULL;
    att_http_router_t *router = NULL;
    att_http_server_t *srv = NULL;

    /* SIGTERM/SIGINT are taken by sigwait below; block them before any thread exists so that
     * every server thread inherits the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (att_perms_check_store(cfg->store_url, cfg->data_dir, cfg->tls_key, &d) != ATT_OK) {
        att_log(ATT_LOG_ERROR, "%s", d.msg);
        fprintf(stderr, "attestd: %s\n", d.msg);
        goto out;
    }
    if (att_http_listen_socket(cfg->listen, &fd, &port, &d) != ATT_OK ||
        att_config_set_port(cfg, port, &d) != ATT_OK) {
        att_log(ATT_LOG_ERROR, "%s", d.msg);
        fprintf(stderr, "attestd: %s\n", d.msg);
        goto out;
    }
    metrics = att_metrics_new();
    router = att_http_router_new();
    if (!metrics || !router) {
        att_log(ATT_LOG_ERROR, "out of memory");
        goto out;
    }
    att_metrics_process(metrics);
    if (att_service_new(cfg, metrics, &svc, &d) != ATT_OK) {
        att_log(ATT_LOG_ERROR, "cannot start the service: %s", d.msg);
        fprintf(stderr, "attestd: %s\n", d.msg);
        goto out;
    }
    if (att_http_route_builtins(router, metrics, (bool (*)(void *))att_service_ready, svc) !=
            ATT_OK ||
        att_service_routes(svc, router, &d) != ATT_OK) {
        att_log(ATT_LOG_ERROR, "cannot register routes: %s", d.msg);
        goto out;
    }
    att_http_route_writable(router, (bool (*)(void *, char *, size_t))att_service_writable);
    att_http_route_readiness(router, (bool (*)(void *, char *, size_t))att_service_readiness);
    char bound[300];
    bool loopback = false;
    att_bound_url(fd, cfg->tls_cert != NULL, bound, sizeof bound, &loopback);
    att_http_opts_t o = att_http_opts_default();
    o.listen_fd = fd;
    fd = -1; /* owned by the server from here */
    o.threads = cfg->threads;
    o.tls_cert = cfg->tls_cert;
    o.tls_key = cfg->tls_key;
    o.max_body = cfg->max_body;
    o.max_header = cfg->max_header;
    o.max_query_params = cfg->max_query_params;
    o.max_body_memory = cfg->max_body_memory;
    o.tls_priority = cfg->tls_priority;
    o.max_connections = cfg->max_connections;
    o.shed_idle = true;
    o.timeout_s = cfg->timeout;
    o.linger_time_s = cfg->lingering_time;
    o.linger_timeout_s = cfg->lingering_timeout;
    o.linger_max = cfg->lingering_connections;
    o.trusted_proxies = (const char *const *)cfg->trusted_proxies;
    o.n_trusted_proxies = cfg->n_trusted_proxies;
    o.router = router;
    o.metrics = metrics;
    o.stop_late = att_stop_late;
    o.stop_late_arg = svc;
    if (att_nofile_ensure(&o, &d) != ATT_OK) {
        att_log(ATT_LOG_ERROR, "%s", d.msg);
        fprintf(stderr, "attestd: %s\n", d.msg);
        close(o.listen_fd);
        goto out;
    }
    srv = att_http_start(&o, &d);
    if (!srv) {
        att_log(ATT_LOG_ERROR, "cannot start the HTTP server: %s", d.msg);
        fprintf(stderr, "attestd: %s\n", d.msg);
        goto out;
    }
    char url[300];
    att_local_url(cfg, port, url, sizeof(url));
    json_t *info =
        json_pack("{s:s, s:s, s:s, s:b, s:s}", "version", ATTESTD_VERSION, "listen", bound,
                  "issuer", cfg->issuer, "tls", cfg->tls_cert != NULL, "data_dir", cfg->data_dir);
    char store_shown[512];
    json_object_set_new(info, "store",
                        json_string(att_store_url_redacted(cfg->store_url ? cfg->store_url : "",
                                                           store_shown, sizeof store_shown)));
    /* the clock override is in the start line whatever the level, and warned about: a leftover
     * ATTESTD_AT would judge every quote at a fixed past instant */
    char at[ATT_TIME_STRLEN];
    json_object_set_new(info, "at",
                        cfg->has_at ? json_string(att_time_format(cfg->at, at)) : json_null());
    char cu[1024], ku[1024]; /* a user:password@ in a URL is not logged */
    json_object_set_new(
        info, "collateral",
        json_pack("{s:o?, s:o?, s:o?}", "url",
                  cfg->collateral_url
                      ? att_log_jstr(att_log_redact_urls(cfg->collateral_url, cu, sizeof cu))
                      : NULL,
                  "kds_url",
                  cfg->kds_url ? att_log_jstr(att_log_redact_urls(cfg->kds_url, ku, sizeof ku))
                               : NULL,
                  "dir", cfg->collateral_dir ? att_log_jstr(cfg->collateral_dir) : NULL));
    att_log_json(ATT_LOG_INFO, "attestd started", info);
    json_decref(info);
    if (cfg->has_at) {
        att_log(ATT_LOG_WARN,
                "CLOCK OVERRIDE: --at %s (or ATTESTD_AT) is set: evidence, certificates and "
                "collateral are judged at that instant, not now; never set it in production",
                at);
        printf("WARNING: clock override --at %s: evidence, certificates and collateral are "
               "judged at that instant, not now (never in production)\n",
               at);
    }
    if (!cfg->collateral_url && !cfg->kds_url && !cfg->collateral_dir)
        att_log(ATT_LOG_WARN, "no collateral source (--collateral-url, --kds-url, "
                              "--collateral-dir): quotes cannot be verified, /readyz answers 503");
    const char *try_path = att_http_router_has(router, "GET", "/.well-known/openid-configuration")
                               ? "/.well-known/openid-configuration"
                               : "/healthz";
    printf("attestd %s listening on %s\nissuer: %s\ntry:    curl %s%s%s%s%s\n", ATTESTD_VERSION,
           bound, cfg->issuer, cfg->tls_cert ? "--cacert " : "", cfg->tls_cert ? cfg->tls_cert : "",
           cfg->tls_cert ? " " : "", url, try_path);
    if (!loopback && cfg->issuer_derived) {
        printf("warning: listening beyond loopback without --issuer: the issuer %s is derived "
               "from --listen and relying parties on other machines cannot fetch /certs from "
               "it; set --issuer to the URL they use\n",
               cfg->issuer);
        att_log(ATT_LOG_WARN,
                "listening on %s without --issuer: the derived issuer %s will not "
                "work for remote relying parties",
                bound, cfg->issuer);
    }
    if (cfg->n_auth_issuers == 0 && cfg->allow_anonymous_admin) {
        printf("warning: --allow-anonymous-admin: anyone who reaches %s can change policies and "
               "policy certificates\n",
               bound);
        att_log(ATT_LOG_WARN, "--allow-anonymous-admin without --auth-issuer: policy and "
                              "certificate changes are accepted from any address");
    } else if (cfg->n_auth_issuers == 0 && !loopback) {
        printf("note: no --auth-issuer: policy and policy-certificate changes are accepted from "
               "loopback addresses only\n");
    }
    fflush(stdout);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    att_log(ATT_LOG_INFO, "received %s, stopping (in-flight requests: %u)",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", att_http_in_flight(srv));
    att_http_stop(srv); /* past its grace period, policy evaluations in flight give up */
    srv = NULL;
    att_log(ATT_LOG_INFO, "attestd stopped");
    rc = 0;
out:
    att_http_stop(srv);
    if (fd >= 0)
        close(fd);
    att_service_free(svc);
    att_http_router_free(router);
    att_metrics_free(metrics);
    return rc;
}

/* `attestd keys rotate --help` */
static void att_keys_rotate_usage(FILE *f)
{
    fprintf(f, "usage: attestd [OPTIONS] keys rotate [OPTIONS]\n"
               "\n"
               "Add a new signing key to the store and make it the active one. The earlier keys\n"
               "stay in /certs for --token-lifetime so that tokens they signed still verify.\n"
               "On a PostgreSQL store the new key is published at once and signs after\n"
               "--key-publish-lead. Nothing else is started.\n"
               "\n"
               "The options that matter (before or after the command; see attestd --help):\n"
               "  --data-dir DIR / --store URL   the store whose key is rotated\n"
               "  --signing-alg ALG              the new key's algorithm\n"
               "  --key-encryption-key FILE      seal the new private key\n"
               "  --signing-key pkcs11:URI       (keys in an HSM are not rotated here)\n"
               "  --key-publish-lead SECONDS     when the new key starts signing\n"
               "  --audit-log FILE               record the rotation\n"
               "  --config FILE                  read options from FILE\n");
}

static void att_keys_usage(FILE *f)
{
    fprintf(f, "usage: attestd [OPTIONS] keys SUBCOMMAND\n"
               "\n"
               "subcommands:\n"
               "  rotate    add a new active signing key (attestd keys rotate --help)\n");
}

/* Check the command words before anything acts on them: `keys rotate` runs; `--help` with a
 * command prints that command's help and does nothing else. Returns -1 when the command is to
 * be run, else the exit status. */
static int att_command_check(const att_config_t *cfg)
{
    const char *c0 = cfg->args[0], *c1 = cfg->argc > 1 ? cfg->args[1] : NULL;
    if (strcmp(c0, "keys") != 0) {
        fprintf(stderr,
                "attestd: unknown command '%s' (commands: keys rotate)\nTry 'attestd "
                "--help'.\n",
                c0);
        return 2;
    }
    if (c1 == NULL) {
        if (cfg->help) {
            att_keys_usage(stdout);
            return 0;
        }
        fprintf(stderr, "attestd keys: a subcommand is needed\n");
        att_keys_usage(stderr);
        return 2;
    }
    if (strcmp(c1, "rotate") != 0) {
        fprintf(stderr, "attestd keys: unknown subcommand '%s'\n", c1);
        att_keys_usage(stderr);
        return 2;
    }
    if (cfg->help) {
        att_keys_rotate_usage(stdout);
        return 0;
    }
    if (cfg->argc > 2) {
        fprintf(stderr,
                "attestd keys rotate: unexpected argument '%s' (it takes options only; "
                "attestd keys rotate --help)\n",
                cfg->args[2]);
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    /* libtss2-mu (TPM evidence) logs malformed input on stderr unless told not to; set before
     * any thread exists (setenv is not thread-safe), unless the operator set it. */
    setenv("TSS2_LOG", "all+NONE", 0);
    att_config_t cfg;
    att_diag_t d;
    if (att_config_load(&cfg, argc, argv, environ, &d) != ATT_OK) {
        fprintf(stderr, "attestd: %s\nTry 'attestd --help'.\n", d.msg);
        return 2;
    }
    int rc;
    if (cfg.argc > 0 && (rc = att_command_check(&cfg)) >= 0) {
        /* a command's help, or a command refused: nothing acts */
    } else if (cfg.help) {
        att_config_usage(stdout);
        rc = 0;
    } else if (cfg.version) {
        printf("attestd %s\n", ATTESTD_VERSION);
        rc = 0;
    } else {
        att_log_setup(cfg.log_level, NULL);
        rc = cfg.argc > 0 ? att_service_command(cfg.argc, cfg.args, &cfg) : att_serve(&cfg);
    }
    att_config_free(&cfg);
    return rc;
}
