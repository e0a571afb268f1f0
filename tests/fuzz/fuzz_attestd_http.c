/* fuzz_attestd_http.c - libFuzzer target: raw bytes on a connection to attestd's HTTP layer
 * (src/attestd/http.c over libmicrohttpd), the real request path: libmicrohttpd's parser, the
 * URI callback's query count, the head checks (framing, Host, header names and values, obs-fold,
 * --max-header, query parameters), routing, api-version, the body limits and the body memory
 * budget, the answer and the access log and metrics.
 *
 * One server is started once, on 127.0.0.1 with an ephemeral port, 1 worker thread, max_header
 * 4096, max_body 8192, max_body_memory 16384, max_query_params 8, a timeout of 1 s, and routes
 * like attestd's (an echo handler on POST /attest/{type} with api-version, GET /certs, the
 * builtins). Each input is sent on a new connection, the write side is shut down (so a request
 * waiting for more bytes ends at once), and the answer is read until the server closes.
 * Invariants (abort = crash for libFuzzer):
 *   - the connection is closed within 5 s (never held to the 1 s timeout and beyond);
 *   - every answer starts "HTTP/1.1 NNN "; an answer from attestd (it carries x-ms-request-id)
 *     with a status >= 400 has x-ms-error-code and a {"error":{"code","message"}} JSON body
 *     (libmicrohttpd's own answers end the check: it closes after them);
 *   - attestd never answers 500 (its handlers all answer);
 *   - an answer refusing a head (400, 414, 431, 501, 503 from attestd) is the last one on the
 *     connection: nothing after the head is served as another request;
 *   - every 64 inputs /metrics is valid UTF-8 without control characters, and the body memory
 *     gauge is back to 0 once no request is in flight.
 * Seeds: tests/fuzz/corpus/attestd_http/ (the shapes of issue 10: duplicate Content-Length,
 * Content-Length with Transfer-Encoding, obs-fold, whitespace before the colon, no Host, 300
 * query parameters, long chunk extensions, made-up methods), written by this target:
 *   FUZZ_MAKE_SEEDS=tests/fuzz/corpus/attestd_http build-fuzz/bin/fuzz_attestd_http
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "../../src/attestd/http.h"
#include "../../src/attestd/log.h"
#include "../common/http_raw.h"
#include "fuzz_common.h"

static att_http_server_t *g_srv;
static att_metrics_t *g_metrics;
static uint16_t g_port;
static unsigned long g_runs;

static void h_echo(att_http_req_t *req, void *arg)
{
    (void)arg;
    att_slice_t b = att_http_body(req);
    att_http_json(req, 200, json_pack("{s:I}", "body_len", (json_int_t)b.len));
}

/* Send data on a new connection, shut the write side, read until the server closes it into a
 * malloc'd string (http_raw.h; at most 64 KiB kept), *n its length. *closed tells whether the
 * connection ended (EOF or a reset) within 5 s. */
static char *exchange(const uint8_t *data, size_t size, size_t *n, bool *closed)
{
    raw_tcp_end_t end;
    char *out = raw_tcp_exchange(g_port, data, size, true, 5000, (1 << 16) - 1, &end, n);
    FUZZ_CHECK(out != NULL, "exchange: %s", strerror(errno));
    *closed = end != RAW_TCP_TIMEOUT;
    return out;
}

/* Check every answer in out[0..len). */
static void check_answers(const char *out, size_t len)
{
    const char *p = out, *end = out + len;
    bool refused = false;
    while (p < end) {
        FUZZ_CHECK(!refused, "an answer after a refused head: %.300s", out);
        FUZZ_CHECK(end - p >= 13 && !memcmp(p, "HTTP/1.1 ", 9), "not an HTTP answer: %.200s", p);
        int status = atoi(p + 9);
        const char *hend = strstr(p, "\r\n\r\n");
        if (!hend)
            break; /* cut by our buffer */
        size_t hlen = (size_t)(hend - p);
        bool ours = memmem(p, hlen, "\r\nx-ms-request-id: ", 19) != NULL;
        const char *cl = memmem(p, hlen, "\r\nContent-Length: ", 18);
        size_t blen = cl ? strtoul(cl + 18, NULL, 10) : (size_t)(end - hend - 4);
        const char *body = hend + 4;
        if (!ours)
            break; /* libmicrohttpd's own answer (0.9.75 may write its head twice): it closes */
        {
            FUZZ_CHECK(status != 500, "attestd answered 500: %.300s", p);
            if (status >= 400) {
                FUZZ_CHECK(memmem(p, hlen, "\r\nx-ms-error-code: ", 19), "no x-ms-error-code");
                json_error_t je;
                json_t *o = json_loadb(body, blen <= (size_t)(end - body) ? blen : 0, 0, &je);
                const char *code = NULL, *msg = NULL;
                FUZZ_CHECK(
                    o && !json_unpack(o, "{s:{s:s, s:s}}", "error", "code", &code, "message", &msg),
                    "error body not MAA-shaped: %.300s", body);
                json_decref(o);
                refused = status == 400 || status == 414 || status == 431 || status == 501 ||
                          (status == 503 && memmem(p, hlen, "\r\nConnection: close", 19));
            }
        }
        p = body + blen;
        if (blen > (size_t)(end - body))
            break;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    att_log_setup(ATT_LOG_ERROR, NULL);
    att_http_router_t *r = att_http_router_new();
    g_metrics = att_metrics_new();
    if (att_http_route(r, "POST", "/attest/{type}", ATT_HTTP_API_VERSION, h_echo, NULL) ||
        att_http_route(r, "GET", "/certs", 0, h_echo, NULL) ||
        att_http_route_builtins(r, g_metrics, NULL, NULL)) {
        fprintf(stderr, "routes\n");
        abort();
    }
    att_http_opts_t o = att_http_opts_default();
    o.listen = "127.0.0.1:0";
    o.threads = 1;
    o.router = r;
    o.metrics = g_metrics;
    o.max_header = 4096;
    o.max_body = 8192;
    o.max_body_memory = 16384;
    o.max_query_params = 8;
    o.timeout_s = 1;
    att_diag_t d;
    g_srv = att_http_start(&o, &d);
    if (!g_srv) {
        fprintf(stderr, "start: %s\n", d.msg);
        abort();
    }
    g_port = att_http_port(g_srv);
    /* the router and server live until the process exits */
    const char *dir = getenv("FUZZ_MAKE_SEEDS");
    if (dir) {
        static const char *const seeds[][2] = {
            {"dup-cl", "POST /attest/SgxEnclave?api-version=2022-08-01 HTTP/1.1\r\nHost: x\r\n"
                       "Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}GET /certs HTTP/1.1\r\n"
                       "Host: x\r\n\r\n"},
            {"cl-te",
             "POST /attest/SgxEnclave?api-version=2022-08-01 HTTP/1.1\r\nHost: x\r\n"
             "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"},
            {"te-gzip", "POST /attest/SgxEnclave HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip,"
                        " chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"},
            {"fold", "GET /certs HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n"},
            {"space-colon", "GET /certs HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n"},
            {"no-host", "GET /certs HTTP/1.1\r\n\r\n"},
            {"http10", "GET /certs HTTP/1.0\r\n\r\n"},
            {"query", "GET /certs?a=1&b=2&c&&d=&e=5&f=6&g=7&h=8&i=9 HTTP/1.1\r\nHost: x\r\n\r\n"},
            {"chunked", "POST /attest/TdxVm?api-version=2022-08-01 HTTP/1.1\r\nHost: x\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n0\r\n\r\n"},
            {"pipelined", "GET /certs HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\n"
                          "Host: x\r\n\r\nPOST /attest/SgxEnclave?api-version=2022-08-01 "
                          "HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"},
            {"method", "\xff\x01GET /certs HTTP/1.1\r\nHost: x\r\n\r\n"},
            {"big-body", "POST /attest/SgxEnclave?api-version=2022-08-01 HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 9000\r\n\r\nabc"},
            {"bad-cl", "POST /attest/SgxEnclave HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n"},
        };
        for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
            char path[512];
            snprintf(path, sizeof(path), "%s/%s", dir, seeds[i][0]);
            FILE *f = fopen(path, "wb");
            if (f) {
                fwrite(seeds[i][1], 1, strlen(seeds[i][1]), f);
                fclose(f);
            }
        }
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool closed;
    size_t n;
    char *out = exchange(data, size, &n, &closed);
    FUZZ_CHECK(closed, "connection not closed within 5 s after %zu bytes (got %.200s)", size, out);
    check_answers(out, n);
    free(out);
    if (++g_runs % 64 == 0) {
        const uint8_t get[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        out = exchange(get, sizeof(get) - 1, &n, &closed);
        FUZZ_CHECK(n > 12 && !memcmp(out, "HTTP/1.1 200 ", 13), "/metrics: %.200s", out);
        const char *body = strstr(out, "\r\n\r\n");
        FUZZ_CHECK(body && exposition_clean(body + 4, n - (size_t)(body + 4 - out)),
                   "/metrics is not clean UTF-8");
        if (att_http_in_flight(g_srv) <= 1)
            FUZZ_CHECK(strstr(body, "\nattestd_http_body_memory_bytes 0\n") ||
                           att_http_in_flight(g_srv) > 0,
                       "body memory not returned with nothing in flight");
        free(out);
    }
    return 0;
}
