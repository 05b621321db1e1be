/*
 * echo_common.h: what the C echo floors of the benchmark suite (c_echo.c, uring_echo.c) share:
 * dying on a failed setup call, raising RLIMIT_NOFILE, a per-connection output buffer, and the
 * TCP listening socket on 127.0.0.1 with its "PORT <port> PID <pid>" line.  Header-only (static
 * functions), so bench/cbuild.py still builds each program from its one .c file; it rebuilds
 * them when this header changes.
 */
#ifndef FASTREACTOR_BENCH_ECHO_COMMON_H
#define FASTREACTOR_BENCH_ECHO_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECHO_BACKLOG 1024

static void die(const char *what) {
    perror(what);
    exit(2);
}

/* Raise the soft RLIMIT_NOFILE to the hard limit; the size of a table indexed by descriptor
 * (the limit, capped at a million, plus a few). */
static int raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    return (int)(rl.rlim_cur > 1000000 ? 1000000 : rl.rlim_cur) + 16;
}

/* Bytes waiting to be sent on one connection. */
struct outbuf {
    char *buf;
    size_t len;     /* bytes in buf */
    size_t cap;
};

/* Append n bytes to o, growing it by doubling (from 4 KiB); -1 when out of memory. */
static int outbuf_append(struct outbuf *o, const char *data, size_t n) {
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n) cap *= 2;
        char *b = realloc(o->buf, cap);
        if (!b) return -1;
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, data, n);
    o->len += n;
    return 0;
}

/* Drop the first n bytes of o (they were sent). */
static void outbuf_consume(struct outbuf *o, size_t n) {
    memmove(o->buf, o->buf + n, o->len - n);
    o->len -= n;
}

/* Print the line the benchmark runner waits for, and flush it. */
static void announce(int port) {
    printf("PORT %d PID %d\n", port, (int)getpid());
    fflush(stdout);
}

/* A non-blocking TCP socket listening on 127.0.0.1:port (0: the kernel picks), announced. */
static int listen_tcp_loopback(int port) {
    int one = 1;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ls < 0) die("socket");
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(ls, ECHO_BACKLOG) < 0) die("listen");
    socklen_t alen = sizeof addr;
    getsockname(ls, (struct sockaddr *)&addr, &alen);
    announce(ntohs(addr.sin_port));
    return ls;
}

#endif
