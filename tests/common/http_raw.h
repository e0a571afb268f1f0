/* http_raw.h - the tests' raw client for attestd's HTTP layer on loopback: connect to
 * 127.0.0.1:port, send bytes exactly as given (no HTTP library in between, so a malformed request
 * stays malformed), read the answer until the server closes or a deadline passes; and the check
 * both make of a /metrics answer. Header-only, shared by the HTTP unit test
 * (tests/unit/attestd/test_http.c) and its libFuzzer target (tests/fuzz/fuzz_attestd_http.c).
 *
 *   raw_tcp_end_t end;
 *   size_t n;
 *   char *out = raw_tcp_exchange(port, req, strlen(req), false, 8000, 0, &end, &n);
 *   if (out == NULL) ... connect failed or out of memory (errno) ...
 *   ... out[0..n) NUL-terminated; end: RAW_TCP_EOF, RAW_TCP_RESET or RAW_TCP_TIMEOUT ...
 *   free(out);
 *
 * Not checked here: anything about an answer's contents but exposition_clean's rule (the callers
 * decide). Loopback only.
 */
#ifndef ATT_TEST_HTTP_RAW_H
#define ATT_TEST_HTTP_RAW_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* How reading the answer ended. */
typedef enum {
    RAW_TCP_EOF,    /* the server closed the connection */
    RAW_TCP_RESET,  /* a receive error (a reset) */
    RAW_TCP_TIMEOUT /* the deadline passed first */
} raw_tcp_end_t;

/* A connection to 127.0.0.1:port; recv on it gives up after timeout_s seconds (0: never). -1
 * (errno set) when it cannot be made. */
static inline int raw_tcp_connect(uint16_t port, int timeout_s)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    struct timeval tv = {timeout_s, 0};
    if (timeout_s > 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return s;
}

static inline long raw_tcp_ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Send req[0..n) on a new connection (stopping early when the server closes first: fine), shut
 * the write side when shut_wr (so a server waiting for more bytes ends at once), then read until
 * the connection ends or deadline_ms have passed since the reading began. Returns what was read,
 * NUL-terminated and malloc'd, *outlen (optional) its length: all of it, or its first max bytes
 * when max > 0 (the rest is read and dropped). *end says how reading ended. NULL (errno set) when
 * the connection cannot be made or memory runs out. */
static inline char *raw_tcp_exchange(uint16_t port, const void *req, size_t n, bool shut_wr,
                                     int deadline_ms, size_t max, raw_tcp_end_t *end,
                                     size_t *outlen)
{
    int s = raw_tcp_connect(port, 0);
    if (s < 0)
        return NULL;
    for (size_t off = 0; off < n;) {
        ssize_t w = send(s, (const char *)req + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (shut_wr)
        shutdown(s, SHUT_WR);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap + 1);
    if (out == NULL) {
        close(s);
        return NULL;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    *end = RAW_TCP_TIMEOUT;
    for (long left; (left = deadline_ms - raw_tcp_ms_since(&t0)) > 0;) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno != EINTR) {
            *end = RAW_TCP_RESET;
            break;
        }
        if (pr <= 0)
            continue;
        if (cap - len < 1024 && (max == 0 || cap < max)) {
            char *grown = realloc(out, (cap *= 2) + 1);
            if (grown == NULL) {
                free(out);
                close(s);
                return NULL;
            }
            out = grown;
        }
        char drop[4096];
        bool full = max > 0 && len >= max;
        size_t room = full ? sizeof drop : cap - len;
        if (max > 0 && !full && room > max - len)
            room = max - len;
        ssize_t r = recv(s, full ? drop : out + len, room, 0);
        if (r == 0) {
            *end = RAW_TCP_EOF;
            break;
        }
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            *end = RAW_TCP_RESET;
            break;
        }
        if (!full)
            len += (size_t)r;
    }
    out[len] = '\0';
    close(s);
    if (outlen != NULL)
        *outlen = len;
    return out;
}

/* True when s[0..n) is well-formed UTF-8 with no control characters but newline (what a
 * Prometheus scrape accepts). */
static inline bool exposition_clean(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80                 ? 1
                     : c >= 0xc2 && c <= 0xdf ? 2
                     : c >= 0xe0 && c <= 0xef ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4
                                              : 0;
        if (!len || i + len > n || (c < 0x20 && c != '\n') || c == 0x7f)
            return false;
        for (size_t k = 1; k < len; k++)
            if (((unsigned char)s[i + k] & 0xc0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

#endif
