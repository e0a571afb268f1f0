/* http_conns.c - connection tracking and idle shedding (see the comment below and http.h). */
#include "http_int.h"

#include <errno.h>
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
    pthread_mutex_unlock(&s->conn_lock);
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
