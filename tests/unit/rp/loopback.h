/* loopback.h - a misbehaving HTTP server on 127.0.0.1 for tests (header-only): it counts the
 * connections it accepts and either never answers them (a hanging identity provider: the
 * connection stays open until lo_stop) or answers each request with what `answer` returns (a
 * whole HTTP response, e.g. a redirect). Used by the relying-party and OAuth client tests. */
#ifndef ATT_TEST_LOOPBACK_H
#define ATT_TEST_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define LO_MAX_CONNS 64

typedef struct lo_srv lo_srv_t;
/* The response to the request text req (request line, headers and body). */
typedef const char *(*lo_answer_fn)(lo_srv_t *s, const char *req);

struct lo_srv {
    int fd, port;
    pthread_t th;
    lo_answer_fn answer; /* NULL: accept and never answer */
    void *arg;
    pthread_mutex_t mu;
    int accepted;           /* connections accepted */
    int kept[LO_MAX_CONNS]; /* hanging connections, closed by lo_stop */
    int nkept;
    char last[4096]; /* the last request read */
};

static inline void lo_read_request(int c, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    while (n + 1 < cap) {
        ssize_t r = read(c, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        const char *cl = NULL;
        for (const char *q = buf; q < end && cl == NULL; q++)
            if (strncasecmp(q, "content-length:", 15) == 0)
                cl = q;
        size_t want = (size_t)(end + 4 - buf) + (cl && cl < end ? (size_t)atol(cl + 15) : 0);
        if (n >= want)
            break;
    }
}

static inline void *lo_main(void *arg)
{
    lo_srv_t *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            break;
        pthread_mutex_lock(&s->mu);
        s->accepted++;
        if (s->answer == NULL && s->nkept < LO_MAX_CONNS) {
            s->kept[s->nkept++] = c;
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        char req[4096];
        lo_read_request(c, req, sizeof req);
        pthread_mutex_lock(&s->mu);
        snprintf(s->last, sizeof s->last, "%s", req);
        pthread_mutex_unlock(&s->mu);
        const char *resp = s->answer ? s->answer(s, req) : "";
        if (write(c, resp, strlen(resp)) < 0)
            perror("loopback write");
        close(c);
    }
    return NULL;
}

static inline void lo_start(lo_srv_t *s, lo_answer_fn answer, void *arg)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->answer = answer;
    s->arg = arg;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 64) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &al) != 0 ||
        pthread_create(&s->th, NULL, lo_main, s) != 0) {
        perror("loopback server");
        abort();
    }
    s->port = ntohs(a.sin_port);
}

static inline int lo_accepted(lo_srv_t *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->accepted;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static inline void lo_stop(lo_srv_t *s)
{
    shutdown(s->fd, SHUT_RDWR); /* wakes the accept() */
    pthread_join(s->th, NULL);
    close(s->fd);
    for (int i = 0; i < s->nkept; i++)
        close(s->kept[i]);
    pthread_mutex_destroy(&s->mu);
}

#endif
