/* routes.h - attestd's MAA routes and the service behind them, as the process frame (main.c)
 * sees it.
 *
 *   att_service_t *svc;
 *   if (att_service_new(&cfg, metrics, &svc, &d) != ATT_OK) ...   // open store, load keys
 *   att_http_router_t *r = att_http_router_new();
 *   att_http_route_builtins(r, metrics, (bool (*)(void *))att_service_ready, svc);
 *   att_service_routes(svc, r, &d);                  // /attest/..., /certs, /policies/...
 *   ... serve ...
 *   att_service_free(svc);
 *
 *   return att_service_command(cfg.argc, cfg.args, &cfg);   // `attestd keys rotate`
 *
 * main.c owns the HTTP server, /healthz, /readyz and /metrics; the service owns every MAA route
 * and decides readiness. The service is created after the listening socket is bound, so
 * cfg->issuer already names the real port. Not checked here: anything HTTP (http.h does that).
 */
#ifndef ATTESTD_ROUTES_H
#define ATTESTD_ROUTES_H

#include <stdbool.h>

#include "attest/types.h"
#include "config.h"
#include "http.h"
#include "metrics.h"

typedef struct att_service att_service_t;

/* Create the service from the configuration. `metrics` (may be NULL) is where the service
 * registers its own families (cache hits, ...); it outlives the service. */
att_err_t att_service_new(const att_config_t *cfg, att_metrics_t *metrics, att_service_t **out,
                          att_diag_t *d);
/* Register the service's routes (before the server starts). */
att_err_t att_service_routes(att_service_t *svc, att_http_router_t *r, att_diag_t *d);
/* True when the service can answer attestation requests (GET /readyz). Thread-safe. */
bool att_service_ready(att_service_t *svc);
/* The same with the reason it is not (att_svc_readiness). */
bool att_service_readiness(att_service_t *svc, char *why, size_t n);
/* Whether changes can be stored now (/readyz "writes"; why: since when and why not). */
bool att_service_writable(att_service_t *svc, char *why, size_t n);
void att_service_free(att_service_t *svc);
/* Shutting down: evaluations in flight give up (att_svc_stop). Call before att_http_stop. */
void att_service_stop(att_service_t *svc);
/* 127.0.0.0/8, ::1 or ::ffff:127.x.y.z: an address alone or as att_http_remote_addr prints
 * it ("127.0.0.1:5000", "[::1]:5000"). */
bool att_service_is_loopback(const char *addr);
/* Run a command given after the options (argv[0] is the command name, e.g. "keys"); returns the
 * process exit status (0 ok, 1 failure, 2 usage). */
int att_service_command(int argc, char **argv, const att_config_t *cfg);

#endif
