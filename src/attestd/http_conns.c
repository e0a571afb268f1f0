/* http_conns.c - connection tracking and idle shedding (see the comment below and http.h). */
#include "http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* ------------------------------------------------------------------------------------------ */
/* connections: tracking and idle shedding
 *
 * Every connection gets an att_conn_t at NOTIFY_CONNECTION STARTED, freed at CLOSED. It is idle
 * from STARTED until the access handler's first call for a request (headers complete), and again
 * from that request's completion notification until the next one starts; only idle connections
 * sit in the idle list, in the order they became idle (the least recently active first). A busy
 * connection is never shed; its time is bounded by timeout_s (the body deadline) instead.
 *
 * With shed_idle, when more than max_connections are open (a connection arrives, or a request
 * starts), the least recently active idle connections are shut down until no more than
 * max_connections remain: shutdown(SHUT_RDWR), never close(), since the fd is libmicrohttpd's.
 * The worker that owns the connection sees EOF on its next epoll wake-up (the shutdown wakes it),
 * closes the socket and notifies CLOSED. Connections being shed no longer count against the
 * limit. When nothing is idle, the new request gets 503 as without shedding.
 *
 * Headroom: MHD_OPTION_CONNECTION_LIMIT (1.25 x max_connections + 8, att_hard_limit) sits above
 * this limit. It covers connections accepted while their victims are still closing and those
 * answered 503. libmicrohttpd splits it across pool workers (a worker at its share stops
 * accepting and the others accept), and the shares add up to at least max_connections + 8.
 * Shedding keeps the live connections at or under max_connections, so at least one worker can
 * accept as soon as the connections being shed are closed, which their workers do on the wake-up
 * the shutdown causes; meanwhile new connections wait in the listen backlog. This holds when one
 * worker holds most of the idle connections too: the victims are chosen across workers and shut
 * down from whichever worker accepted the newcomer.
 *
 * Threads: the callbacks run on every pool worker; conn_lock guards the list, the counters, the
 * burst and every att_conn_t. Another worker's connection is only touched through our own
 * att_conn_t (its fd), never through its MHD_Connection. The fd stays that connection's until
 * CLOSED: libmicrohttpd 0.9.75 notifies CLOSED before it closes the socket (the cleanup of
 * closed connections and the failed-setup path alike), and CLOSED unlinks the entry under the
 * same lock, so a shutdown() made under the lock cannot reach a reused descriptor.
 *
 * A connection whose socket holds input its worker has not read yet counts as just active and
 * is passed over (FIONREAD): under a flood of new connections, a client's request that has
 * arrived but waits for its worker is not cut. Not checked: input that arrives between that test
 * and the shutdown(); that request is cut as any request racing a server's close of an idle
 * keep-alive connection is (many clients retry it on a new connection).
 *
 * Without shed_idle the list is still kept but nothing is shed: max_connections is a strict
 * 503 limit. */

static void att_linger_add(att_http_server_t *s, int fd);

#define ATT_SHED_QUIET_S  10.0 /* a shedding burst ends after this long without a shed */
#define ATT_SHED_MAX_SKIP 32   /* idle connections with unread input passed over per shed */

/* MHD_OPTION_CONNECTION_LIMIT for a given max_connections. */
unsigned att_hard_limit(unsigned max_connections)
{
    return max_connections + max_connections / 4 + 8;
}

static double att_ts_sub(const struct timespec *a, const struct timespec *b)
{
    return (double)(a->tv_sec - b->tv_sec) + (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

static void att_idle_push(att_http_server_t *s, att_conn_t *c)
{
    c->prev = s->idle_tail;
    c->next = NULL;
    if (s->idle_tail)
        s->idle_tail->next = c;
    else
        s->idle_head = c;
    s->idle_tail = c;
    c->idle = true;
    s->conns_idle++;
}

static void att_idle_unlink(att_http_server_t *s, att_conn_t *c)
{
    if (!c->idle)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->idle_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        s->idle_tail = c->prev;
    c->prev = c->next = NULL;
    c->idle = false;
    s->conns_idle--;
}

/* Connections that count against max_connections: those being shed are on their way out. */
static unsigned att_conns_live(const att_http_server_t *s)
{
    return s->conns_open - s->conns_shedding;
}

/* Bytes have arrived on the socket that its worker has not read yet: the client has just sent
 * something (most often a request that is about to start), so it is active, not idle. */
static bool att_fd_has_input(int fd)
{
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* Shut down the least recently active idle connections other than `keep` until no more than
 * max_connections are live. One with unread input is moved to the recent end instead, at most
 * ATT_SHED_MAX_SKIP times per call (the worker reads input promptly, so this cannot hold a
 * connection for long; past the bound the oldest goes anyway). Returns how many were shut down.
 * Caller holds conn_lock. */
static unsigned att_shed_locked(att_http_server_t *s, const att_conn_t *keep)
{
    unsigned n = 0, skipped = 0;
    while (s->shed_idle && att_conns_live(s) > s->max_connections) {
        att_conn_t *c = s->idle_head;
        if (!c || c == keep)
            break; /* nothing idle but the newcomer: its request will get 503 */
        if (skipped < ATT_SHED_MAX_SKIP && att_fd_has_input(c->fd)) {
            att_idle_unlink(s, c);
            att_idle_push(s, c);
            skipped++;
            continue;
        }
        att_idle_unlink(s, c);
        c->shed = true;
        s->conns_shedding++;
        /* An error (ENOTCONN: the peer is gone) changes nothing: MHD closes it either way. */
        shutdown(c->fd, SHUT_RDWR);
        n++;
    }
    return n;
}

/* Burst bookkeeping after an event that shed n connections: a burst that has been quiet for
 * ATT_SHED_QUIET_S ends (noticed at the next connection event, or at stop), a shed outside a
 * burst starts one. Caller holds conn_lock. */
void att_burst_locked(att_http_server_t *s, unsigned n, bool force_end, att_shed_note_t *note)
{
    att_burst_t *b = &s->burst;
    if (!n && !b->active)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (b->active && (force_end || att_ts_sub(&now, &b->last) >= ATT_SHED_QUIET_S)) {
        note->ended = true;
        note->count = b->count;
        note->secs = att_ts_sub(&b->last, &b->start);
        b->active = false;
    }
    if (!n)
        return;
    if (!b->active) {
        b->active = true;
        b->start = now;
        b->count = 0;
        note->started = true;
        note->open = s->conns_open;
        note->idle = s->conns_idle + n;
    }
    b->count += n;
    b->last = now;
}

/* Count n shed connections and write the burst lines (conn_lock released). */
void att_shed_report(att_http_server_t *s, unsigned n, const att_shed_note_t *note)
{
    if (n)
        att_metric_add(s->m_shed, n);
    if (note->ended) {
        json_t *o =
            json_pack("{s:I, s:f, s:i}", "connections_shed", (json_int_t)note->count,
                      "burst_seconds", note->secs, "max_connections", (int)s->max_connections);
        att_log_json(ATT_LOG_WARN, "idle connection shedding ended", o);
        json_decref(o);
    }
    if (note->started) {
        json_t *o =
            json_pack("{s:i, s:i, s:i}", "open_connections", (int)note->open, "idle_connections",
                      (int)note->idle, "max_connections", (int)s->max_connections);
        att_log_json(ATT_LOG_WARN,
                     "connection limit reached: closing the least recently active idle "
                     "connections",
                     o);
        json_decref(o);
    }
}

void att_conn_started(att_http_server_t *s, struct MHD_Connection *conn, void **ctx)
{
    att_conn_t *c = calloc(1, sizeof(*c));
    *ctx = c;
    if (!c)
        return; /* out of memory: this connection is neither counted nor shed */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    c->fd = ci && ci->connect_fd != MHD_INVALID_SOCKET ? ci->connect_fd : -1;
    att_shed_note_t note = {0};
    pthread_mutex_lock(&s->conn_lock);
    s->conns_open++;
    if (c->fd >= 0)
        att_idle_push(s, c);
    unsigned n = att_shed_locked(s, c);
    att_burst_locked(s, n, false, &note);
    pthread_mutex_unlock(&s->conn_lock);
    att_shed_report(s, n, &note);
}

void att_conn_closed(att_http_server_t *s, void **ctx)
{
    att_conn_t *c = *ctx;
    if (!c)
        return;
    *ctx = NULL;
    att_shed_note_t note = {0};
    pthread_mutex_lock(&s->conn_lock);
    att_idle_unlink(s, c);
    if (c->shed)
        s->conns_shedding--;
    s->conns_open--;
    att_burst_locked(s, 0, false, &note);
    bool linger = c->linger && !c->shed && c->fd >= 0;
    pthread_mutex_unlock(&s->conn_lock);
    if (linger && s->linger)
        att_linger_add(s, c->fd); /* the fd is still libmicrohttpd's and open: see above */
    free(c);
    att_shed_report(s, 0, &note);
}

/* The access handler's first call for a request: busy until the request's completion. */
void att_conn_busy(att_http_server_t *s, att_conn_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&s->conn_lock);
    att_idle_unlink(s, c);
    pthread_mutex_unlock(&s->conn_lock);
}

/* A request completed and the connection stays open for the next one: idle again, now the most
 * recently active. Connections already shed or without a known fd stay out of the list. */
void att_conn_idle(att_http_server_t *s, att_conn_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&s->conn_lock);
    if (!c->shed && !c->idle && c->fd >= 0)
        att_idle_push(s, c);
    pthread_mutex_unlock(&s->conn_lock);
}

/* For a request that starts: true when more than max_connections are open even after shedding
 * idle ones (then it gets 503). */
bool att_conns_over_limit(att_http_server_t *s)
{
    att_shed_note_t note = {0};
    pthread_mutex_lock(&s->conn_lock);
    unsigned n = att_shed_locked(s, NULL);
    bool over = att_conns_live(s) > s->max_connections;
    att_burst_locked(s, n, false, &note);
    pthread_mutex_unlock(&s->conn_lock);
    att_shed_report(s, n, &note);
    return over;
}

/* ------------------------------------------------------------------------------------------ */
/* lingering close
 *
 * A connection answered before its request body was read (413 from Content-Length, 503) is
 * closed by libmicrohttpd with that body still arriving; close() on a socket with unread input
 * makes the kernel send a reset, which discards the answer not yet read by a client that writes
 * its whole request before reading (Python's http.client and many others see a broken pipe or
 * a reset, never the 413). As nginx does (lingering_close), such a socket is kept: at CLOSED
 * (libmicrohttpd 0.9.75 notifies it before it closes its descriptor, with the answer sent) a
 * duplicate of the descriptor is taken, the sending side is shut down (FIN after the answer),
 * and one thread reads and discards what arrives until the client closes, nothing arrives for
 * linger_timeout_s, or linger_time_s have passed since the answer; then the duplicate is
 * closed. At most linger_max sockets linger; past it a socket is closed as before. The cost an
 * outsider controls is bounded: linger_max descriptors (att_http_fds_needed counts them), one
 * thread, and reading at most linger_time_s per connection. */

#define ATT_LINGER_READS 16 /* 64 KiB reads per socket per wake-up: fairness between sockets */

typedef struct {
    int fd;
    struct timespec start, last; /* CLOCK_MONOTONIC: the answer; the latest bytes read */
    uint64_t discarded;
} att_linger_ent_t;

struct att_linger {
    pthread_t thread;
    pthread_mutex_t lock; /* guards ents, n, stop */
    int wake[2];          /* a byte written to wake[1] wakes the thread */
    att_linger_ent_t *ents;
    unsigned n, max;
    bool stop;
    double time_s, timeout_s;
    uint64_t refused; /* sockets closed at once: linger_max were lingering */
};

static void att_linger_close(att_linger_ent_t *e, const char *why, double secs)
{
    if (att_log_enabled(ATT_LOG_DEBUG)) {
        json_t *o = json_pack("{s:s, s:I, s:f}", "ended_by", why, "bytes_discarded",
                              (json_int_t)e->discarded, "seconds", secs);
        att_log_json(ATT_LOG_DEBUG, "lingering close", o);
        json_decref(o);
    }
    close(e->fd);
    e->fd = -1;
}

static void *att_linger_main(void *arg)
{
    att_linger_t *l = arg;
    struct pollfd *pfd = calloc(l->max + 1, sizeof(*pfd));
    static char sink[65536];
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        pthread_mutex_lock(&l->lock);
        if (l->stop || !pfd) {
            pthread_mutex_unlock(&l->lock);
            break;
        }
        /* ends due now, and the poll timeout: the nearest end */
        double wait = 3600;
        for (unsigned i = 0; i < l->n; i++) {
            att_linger_ent_t *e = &l->ents[i];
            double total = att_ts_sub(&now, &e->start), quiet = att_ts_sub(&now, &e->last);
            if (total >= l->time_s)
                att_linger_close(e, "lingering-time", total);
            else if (quiet >= l->timeout_s)
                att_linger_close(e, "lingering-timeout", total);
            else if (l->time_s - total < wait || l->timeout_s - quiet < wait)
                wait = l->time_s - total < l->timeout_s - quiet ? l->time_s - total
                                                                : l->timeout_s - quiet;
        }
        unsigned k = 0; /* compact: closed entries go */
        for (unsigned i = 0; i < l->n; i++)
            if (l->ents[i].fd >= 0)
                l->ents[k++] = l->ents[i];
        l->n = k;
        unsigned np = l->n;
        pfd[0] = (struct pollfd){.fd = l->wake[0], .events = POLLIN};
        for (unsigned i = 0; i < np; i++)
            pfd[i + 1] = (struct pollfd){.fd = l->ents[i].fd, .events = POLLIN};
        pthread_mutex_unlock(&l->lock);
        int ms = (int)(wait * 1000) + 1;
        if (poll(pfd, np + 1, ms) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & POLLIN) {
            char b[64];
            while (read(l->wake[0], b, sizeof b) > 0)
                ;
        }
        /* entries 0..np-1 are as polled: only this thread removes entries, others append */
        clock_gettime(CLOCK_MONOTONIC, &now);
        pthread_mutex_lock(&l->lock);
        for (unsigned i = 0; i < np; i++) {
            att_linger_ent_t *e = &l->ents[i];
            if (!pfd[i + 1].revents)
                continue;
            for (int r = 0; r < ATT_LINGER_READS; r++) {
                ssize_t got = recv(e->fd, sink, sizeof sink, MSG_DONTWAIT);
                if (got > 0) {
                    e->discarded += (uint64_t)got;
                    e->last = now;
                    continue;
                }
                if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                    break;
                att_linger_close(e, got == 0 ? "client-closed" : "error",
                                 att_ts_sub(&now, &e->start));
                break;
            }
        }
        pthread_mutex_unlock(&l->lock);
    }
    free(pfd);
    return NULL;
}

att_err_t att_linger_start(att_http_server_t *s, att_diag_t *d)
{
    if (!s->linger_time_s || !s->linger_max)
        return ATT_OK;
    att_linger_t *l = calloc(1, sizeof(*l));
    if (!l || !(l->ents = calloc(s->linger_max, sizeof(*l->ents)))) {
        free(l);
        return att_diag_set(d, ATT_E_NOMEM, "out of memory");
    }
    l->max = s->linger_max;
    l->time_s = s->linger_time_s;
    l->timeout_s = s->linger_timeout_s ? s->linger_timeout_s : 5;
    pthread_mutex_init(&l->lock, NULL);
    bool piped = pipe(l->wake) == 0, ok = piped;
    for (int i = 0; ok && i < 2; i++)
        ok = fcntl(l->wake[i], F_SETFD, FD_CLOEXEC) == 0 &&
             fcntl(l->wake[i], F_SETFL, O_NONBLOCK) == 0;
    if (!ok) {
        att_err_t e = att_diag_set(d, ATT_E_IO, "lingering close: pipe: %s", strerror(errno));
        if (piped) {
            close(l->wake[0]);
            close(l->wake[1]);
        }
        pthread_mutex_destroy(&l->lock);
        free(l->ents);
        free(l);
        return e;
    }
    int rc = pthread_create(&l->thread, NULL, att_linger_main, l);
    if (rc != 0) {
        close(l->wake[0]);
        close(l->wake[1]);
        pthread_mutex_destroy(&l->lock);
        free(l->ents);
        free(l);
        return att_diag_set(d, ATT_E_IO, "lingering close: thread: %s", strerror(rc));
    }
    s->linger = l;
    return ATT_OK;
}

void att_linger_stop(att_http_server_t *s)
{
    att_linger_t *l = s ? s->linger : NULL;
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_mutex_unlock(&l->lock);
    ssize_t w = write(l->wake[1], "x", 1);
    (void)w;
    pthread_join(l->thread, NULL);
    for (unsigned i = 0; i < l->n; i++)
        if (l->ents[i].fd >= 0)
            close(l->ents[i].fd);
    close(l->wake[0]);
    close(l->wake[1]);
    pthread_mutex_destroy(&l->lock);
    free(l->ents);
    free(l);
    s->linger = NULL;
}

void att_conn_linger(att_http_server_t *s, att_conn_t *c)
{
    if (!c || !s->linger)
        return;
    pthread_mutex_lock(&s->conn_lock);
    c->linger = true;
    pthread_mutex_unlock(&s->conn_lock);
}

/* At CLOSED of a connection marked to linger (its fd still open, see above). */
static void att_linger_add(att_http_server_t *s, int fd)
{
    att_linger_t *l = s->linger;
    pthread_mutex_lock(&l->lock);
    bool room = !l->stop && l->n < l->max;
    if (!room)
        l->refused++;
    int dup_fd = room ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (dup_fd >= 0) {
        shutdown(dup_fd, SHUT_WR); /* FIN after the answer; the client's sending side stays */
        att_linger_ent_t *e = &l->ents[l->n++];
        e->fd = dup_fd;
        e->discarded = 0;
        clock_gettime(CLOCK_MONOTONIC, &e->start);
        e->last = e->start;
    }
    pthread_mutex_unlock(&l->lock);
    if (dup_fd >= 0) {
        ssize_t w = write(l->wake[1], "x", 1);
        (void)w;
    }
    att_metric_inc(s->m_linger, dup_fd >= 0 ? "lingered" : "closed_at_once");
}

/* ------------------------------------------------------------------------------------------ */
/* trusted proxies: X-Forwarded-For */

bool att_cidr_parse(const char *s, att_cidr_t *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *slash = s ? strchr(s, '/') : NULL;
    size_t n = slash ? (size_t)(slash - s) : (s ? strlen(s) : 0);
    if (!s || n == 0 || n >= sizeof host)
        return false;
    memcpy(host, s, n);
    host[n] = 0;
    memset(out, 0, sizeof(*out));
    unsigned max;
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return false;
    }
    out->prefix = max;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p))
            return false;
        unsigned v = (unsigned)atoi(p);
        if (v > max)
            return false;
        out->prefix = v;
    }
    return true;
}

static bool att_cidr_has(const att_cidr_t *c, int family, const uint8_t *a)
{
    if (c->family != family)
        return false;
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, a, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (a[full] & mask);
}

/* Parse a numeric address (an IPv4-mapped IPv6 one as IPv4). */
static bool att_addr_parse(const char *s, int *family, uint8_t a[16])
{
    if (inet_pton(AF_INET, s, a) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, a) != 1)
        return false;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0) {
        memmove(a, a + 12, 4);
        *family = AF_INET;
    } else {
        *family = AF_INET6;
    }
    return true;
}

bool att_cidr_match(const att_cidr_t *nets, size_t n, const char *addr)
{
    int fam;
    uint8_t a[16];
    if (!addr || !att_addr_parse(addr, &fam, a))
        return false;
    for (size_t i = 0; i < n; i++)
        if (att_cidr_has(&nets[i], fam, a))
            return true;
    return false;
}

/* One X-Forwarded-For entry, trimmed, in buf: a bare address; "[v6]" or "[v6]:port" and
 * "v4:port" lose their brackets and port (RFC 7239-style forms some proxies send). */
static bool att_xff_entry(const char *p, size_t len, char *buf, size_t n)
{
    while (len && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (len && *p == '[') {
        const char *e = memchr(p, ']', len);
        if (!e)
            return false;
        len = (size_t)(e - p - 1);
        p++;
    } else {
        const char *c = memchr(p, ':', len);
        if (c && !memchr(c + 1, ':', len - (size_t)(c - p) - 1)) /* one ':': v4:port */
            len = (size_t)(c - p);
    }
    if (!len || len >= n)
        return false;
    memcpy(buf, p, len);
    buf[len] = 0;
    int fam;
    uint8_t a[16];
    return att_addr_parse(buf, &fam, a);
}

const char *att_client_addr(const att_cidr_t *nets, size_t n, const char *peer, const char *xff,
                            char *out, size_t outn)
{
    snprintf(out, outn, "%s", peer ? peer : "");
    if (!n || !xff || !att_cidr_match(nets, n, peer))
        return out;
    /* right to left: each trusted hop vouches for the one before it */
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        char e[INET6_ADDRSTRLEN + 1];
        if (!att_xff_entry(xff + start, end - start, e, sizeof e))
            break; /* not an address: what the last trusted hop said stands */
        snprintf(out, outn, "%s", e);
        if (!att_cidr_match(nets, n, e))
            break;
        end = start ? start - 1 : 0;
    }
    return out;
}
