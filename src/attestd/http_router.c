/* http_router.c - route patterns ("/policies/{type}:reset") and matching a request's method and
 * path to its route: 404 when no pattern matches, 405 with Allow when one does for another
 * method (see http.h, http_int.h).
 */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* ------------------------------------------------------------------------------------------ */
/* router */

att_http_router_t *att_http_router_new(void)
{
    att_http_router_t *r = calloc(1, sizeof(*r));
    if (r)
        r->tail = &r->routes;
    return r;
}

static void att_route_free(att_route_t *rt)
{
    for (size_t i = 0; i < rt->nseg; i++) {
        free(rt->seg[i].prefix);
        free(rt->seg[i].name);
        free(rt->seg[i].suffix);
    }
    free(rt->method);
    free(rt->pattern);
    free(rt);
}

void att_http_router_free(att_http_router_t *r)
{
    if (!r)
        return;
    att_route_t *rt = r->routes;
    while (rt) {
        att_route_t *n = rt->next;
        att_route_free(rt);
        rt = n;
    }
    free(r);
}

/* Parse one pattern segment [s, s+n) into seg. */
static att_err_t att_seg_parse(const char *s, size_t n, att_seg_t *seg)
{
    const char *open = memchr(s, '{', n);
    if (!open) {
        if (memchr(s, '}', n))
            return ATT_E_ARG;
        seg->prefix = strndup(s, n);
        return seg->prefix ? ATT_OK : ATT_E_NOMEM;
    }
    const char *close = memchr(open, '}', (size_t)(s + n - open));
    if (!close || close == open + 1)
        return ATT_E_ARG;
    const char *rest = close + 1;
    size_t restn = (size_t)(s + n - rest);
    if (memchr(open + 1, '{', (size_t)(close - open - 1)) || memchr(rest, '{', restn) ||
        memchr(rest, '}', restn) || memchr(s, '}', (size_t)(open - s)))
        return ATT_E_ARG;
    seg->prefix = strndup(s, (size_t)(open - s));
    seg->name = strndup(open + 1, (size_t)(close - open - 1));
    seg->suffix = strndup(rest, restn);
    return seg->prefix && seg->name && seg->suffix ? ATT_OK : ATT_E_NOMEM;
}

att_err_t att_http_route(att_http_router_t *r, const char *method, const char *pattern,
                         unsigned flags, att_http_handler_t fn, void *arg)
{
    if (!r || !method || !*method || !pattern || pattern[0] != '/' || !fn)
        return ATT_E_ARG;
    att_route_t *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return ATT_E_NOMEM;
    rt->method = strdup(method);
    rt->pattern = strdup(pattern);
    rt->flags = flags;
    rt->fn = fn;
    rt->arg = arg;
    att_err_t e = rt->method && rt->pattern ? ATT_OK : ATT_E_NOMEM;
    const char *p = pattern + 1;
    size_t plen = strlen(p);
    if (plen && p[plen - 1] == '/')
        plen--; /* "/certs/" registers as "/certs" */
    while (e == ATT_OK && plen) {
        const char *slash = memchr(p, '/', plen);
        size_t n = slash ? (size_t)(slash - p) : plen;
        if (!n || rt->nseg == ATT_HTTP_MAX_SEGMENTS) {
            e = ATT_E_ARG;
            break;
        }
        att_seg_t *sg = &rt->seg[rt->nseg++];
        e = att_seg_parse(p, n, sg);
        if (e == ATT_OK)
            rt->literal += strlen(sg->prefix) + (sg->suffix ? strlen(sg->suffix) : 0) + 1;
        p += n;
        plen -= n;
        if (plen) {
            p++;
            plen--;
        }
    }
    if (e != ATT_OK) {
        att_route_free(rt);
        return e;
    }
    *r->tail = rt;
    r->tail = &rt->next;
    return ATT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* routing a request */

/* Split path into segments in-place (path is a writable copy). Returns false if too many. */
static bool att_split_path(char *path, char **segs, size_t *nseg)
{
    *nseg = 0;
    char *p = path + 1;
    size_t len = strlen(p);
    if (len && p[len - 1] == '/')
        p[--len] = 0;
    if (!len)
        return true;
    for (;;) {
        if (*nseg == ATT_HTTP_MAX_SEGMENTS)
            return false;
        segs[(*nseg)++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            return true;
        *slash = 0;
        p = slash + 1;
    }
}

/* Does rt match segs? Fill req params when req is not NULL. */
static bool att_route_match(const att_route_t *rt, char **segs, size_t nseg, att_http_req_t *req)
{
    if (rt->nseg != nseg)
        return false;
    size_t np = 0;
    for (size_t i = 0; i < nseg; i++) {
        const att_seg_t *sg = &rt->seg[i];
        const char *s = segs[i];
        if (!sg->name) {
            if (strcmp(s, sg->prefix))
                return false;
            continue;
        }
        size_t sl = strlen(s), pl = strlen(sg->prefix), xl = strlen(sg->suffix);
        if (sl <= pl + xl || strncmp(s, sg->prefix, pl) || strcmp(s + sl - xl, sg->suffix))
            return false;
        if (req && np < ATT_HTTP_MAX_PARAMS) {
            req->params[np].name = sg->name;
            req->params[np].value = att_http_strndup(req, s + pl, sl - pl - xl);
            np++;
        }
    }
    if (req)
        req->nparams = np;
    return true;
}

static bool att_method_is(const char *route_method, const char *method)
{
    if (!strcmp(route_method, method))
        return true;
    return !strcmp(method, "HEAD") && !strcmp(route_method, "GET");
}

bool att_http_router_has(const att_http_router_t *r, const char *method, const char *path)
{
    char copy[1024];
    char *segs[ATT_HTTP_MAX_SEGMENTS];
    size_t nseg;
    if (!r || !path || path[0] != '/' || strlen(path) >= sizeof(copy))
        return false;
    strcpy(copy, path);
    if (!att_split_path(copy, segs, &nseg))
        return false;
    for (const att_route_t *rt = r->routes; rt; rt = rt->next)
        if (att_method_is(rt->method, method) && att_route_match(rt, segs, nseg, NULL))
            return true;
    return false;
}

/* Find the route; on failure answer 404/405 and return NULL. */
const att_route_t *att_route_find(att_http_req_t *req)
{
    char *copy = att_http_strdup(req, req->path);
    char *segs[ATT_HTTP_MAX_SEGMENTS];
    size_t nseg;
    if (!copy || req->path[0] != '/' || !att_split_path(copy, segs, &nseg)) {
        att_error_internal(req, 404, "NotFound", "No route for path '%.200s'", req->path);
        return NULL;
    }
    size_t best = 0;
    bool any = false;
    for (const att_route_t *rt = req->srv->router->routes; rt; rt = rt->next)
        if (att_route_match(rt, segs, nseg, NULL) && (!any || rt->literal > best)) {
            best = rt->literal;
            any = true;
        }
    if (!any) {
        att_error_internal(req, 404, "NotFound", "No route for path '%.200s'", req->path);
        return NULL;
    }
    char allow[128] = "";
    for (const att_route_t *rt = req->srv->router->routes; rt; rt = rt->next) {
        if (rt->literal != best || !att_route_match(rt, segs, nseg, NULL))
            continue;
        req->route_label = rt->pattern;
        if (att_method_is(rt->method, req->method)) {
            att_route_match(rt, segs, nseg, req);
            return rt;
        }
        if (strlen(allow) + strlen(rt->method) + 3 < sizeof(allow) && !strstr(allow, rt->method)) {
            if (*allow)
                strcat(allow, ", ");
            strcat(allow, rt->method);
        }
    }
    att_http_add_header(req, "Allow", allow);
    att_error_internal(req, 405, "MethodNotAllowed", "Method %.16s is not allowed on '%.200s'",
                       req->method, req->path);
    return NULL;
}
