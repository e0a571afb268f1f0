/* pyserver.h - the tests' python stand-ins on loopback (tests/tools/pcs_server.py,
 * tests/unit/net/net_server.py, ...): start `python3 SCRIPT ARGS...` with a pipe as its stdin and
 * another as its stdout, and wait until it prints the port it listens on (its first line; the
 * scripts bind 127.0.0.1, port 0 meaning any free one). Header-only, no test framework, shared
 * by tests/unit/attestd/test_collsrc.c and tests/unit/net/test_http.c.
 *
 *   py_server_t s;
 *   char err[160];
 *   const char *args[] = {"--count-file", path, NULL};
 *   if (py_server_start(&s, ATT_TEST_TOOLS "/pcs_server.py", args, err, sizeof err) != 0)
 *       fail_msg("%s", err);
 *   ... http://127.0.0.1:<s.port>/ ...
 *   py_server_stop(&s);
 *
 * The wait for the port is bounded (PY_SERVER_START_MS); a server that prints something else,
 * exits or says nothing by then is stopped and reported. Closing in_fd (or the test's death)
 * ends a server started with --exit-on-stdin-eof; py_server_stop sends SIGTERM and reaps it.
 */
#ifndef ATT_TEST_PYSERVER_H
#define ATT_TEST_PYSERVER_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PY_SERVER_START_MS 30000 /* python3's start and the bind, on a loaded machine */
#define PY_SERVER_MAX_ARGS 28

extern char **environ;

typedef struct {
    pid_t pid; /* 0: not running */
    int port;
    int in_fd; /* the server's stdin */
} py_server_t;

static inline void py_server_stop(py_server_t *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    int st;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
        ;
    close(s->in_fd);
    s->pid = 0;
}

static inline long py_server_ms_left(const struct timespec *until)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(until->tv_sec - now.tv_sec) * 1000 + (until->tv_nsec - now.tv_nsec) / 1000000;
}

/* Start `python3 script args...` (args NULL-terminated, at most PY_SERVER_MAX_ARGS; may be NULL)
 * and read its port. 0, or -1 with why in err (nothing left running). */
static inline int py_server_start(py_server_t *s, const char *script, const char *const *args,
                                  char *err, size_t errlen)
{
    s->pid = 0;
    s->port = 0;
    s->in_fd = -1;
    const char *argv[PY_SERVER_MAX_ARGS + 3];
    size_t n = 0;
    argv[n++] = "python3";
    argv[n++] = script;
    for (size_t i = 0; args != NULL && args[i] != NULL; i++) {
        if (i == PY_SERVER_MAX_ARGS) {
            snprintf(err, errlen, "%s: more than %d arguments", script, PY_SERVER_MAX_ARGS);
            return -1;
        }
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0)
        goto sys_fail;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        goto sys_fail;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    int rc = posix_spawnp(&s->pid, "python3", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    if (rc != 0) {
        close(in[1]);
        close(out[0]);
        s->pid = 0;
        snprintf(err, errlen, "cannot start python3 %s: %s", script, strerror(rc));
        return -1;
    }
    s->in_fd = in[1];
    /* its first line: the port */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += PY_SERVER_START_MS / 1000;
    char line[32];
    size_t k = 0;
    const char *why = NULL;
    while (why == NULL && k < sizeof(line) - 1) {
        long left = py_server_ms_left(&until);
        struct pollfd pf = {.fd = out[0], .events = POLLIN};
        int pr = left > 0 ? poll(&pf, 1, (int)left) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            why = "no port within the start-up bound";
            break;
        }
        ssize_t r = pr < 0 ? -1 : read(out[0], line + k, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || line[k] == '\n')
            break;
        k++;
    }
    line[k] = 0;
    close(out[0]);
    s->port = atoi(line);
    if (why != NULL || s->port <= 0 || s->port > 65535) {
        snprintf(err, errlen, "%s did not start (%s; got \"%s\")", script,
                 why ? why : "its first line is not a port", line);
        py_server_stop(s);
        s->port = 0;
        return -1;
    }
    return 0;
sys_fail:
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return -1;
}

#endif
