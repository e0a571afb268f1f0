/* http_endpoints.c - the endpoints every attestd serves whatever its routes: GET /healthz,
 * GET /readyz and GET /metrics (see att_http_route_builtins in http.h).
 */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* ------------------------------------------------------------------------------------------ */
/* builtin routes */

static void att_h_healthz(att_http_req_t *req, void *arg)
{
    att_http_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void att_h_readyz(att_http_req_t *req, void *arg)
{
    const att_http_router_t *r = arg;
    bool ready = !r->ready || r->ready(r->ready_arg);
    char why[1024] = "";
    if (ready && r->readiness && !r->readiness(r->ready_arg, why, sizeof why))
        return att_http_json(
            req, 503, json_pack("{s:s,s:o}", "status", "not ready", "reason", att_log_jstr(why)));
    if (ready && r->writable && !r->writable(r->ready_arg, why, sizeof why))
        att_http_json(
            req, 200,
            json_pack("{s:s,s:s,s:s}", "status", "ready", "writes", "unavailable", "reason", why));
    else if (ready && r->writable)
        att_http_json(req, 200, json_pack("{s:s,s:s}", "status", "ready", "writes", "ready"));
    else if (ready)
        att_http_json(req, 200, json_pack("{s:s}", "status", "ready"));
    else
        att_http_json(req, 503, json_pack("{s:s}", "status", "not ready"));
}

static void att_h_metrics(att_http_req_t *req, void *arg)
{
    char *text = att_metrics_render(arg);
    if (!text)
        return att_http_error(req, 500, "InternalError", "out of memory");
    att_answer(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
}

void att_http_route_writable(att_http_router_t *r, bool (*writable)(void *arg, char *why, size_t n))
{
    if (r)
        r->writable = writable;
}

void att_http_route_readiness(att_http_router_t *r,
                              bool (*readiness)(void *arg, char *why, size_t n))
{
    if (r)
        r->readiness = readiness;
}

att_err_t att_http_route_builtins(att_http_router_t *r, att_metrics_t *m, bool (*ready)(void *arg),
                                  void *arg)
{
    if (!r)
        return ATT_E_ARG;
    r->ready = ready;
    r->ready_arg = arg;
    att_err_t e = att_http_route(r, "GET", "/healthz", ATT_HTTP_QUIET, att_h_healthz, NULL);
    if (e == ATT_OK)
        e = att_http_route(r, "GET", "/readyz", ATT_HTTP_QUIET, att_h_readyz, r);
    if (e == ATT_OK && m)
        e = att_http_route(r, "GET", "/metrics", ATT_HTTP_QUIET, att_h_metrics, m);
    return e;
}
