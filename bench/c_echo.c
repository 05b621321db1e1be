/*
 * c_echo: a plain C epoll echo server, the floor of the fastreactor benchmark suite.
 *
 *   c_echo [PORT]      (default 0: the kernel picks a port)
 *   c_echo unix:PATH   (listen on the UNIX stream socket PATH instead; prints "PORT 0 PID <pid>")
 *
 * Prints "PORT <port> PID <pid>" on stdout once listening, then serves until killed.
 * Same rules as the Python servers: 127.0.0.1, backlog 1024, TCP_NODELAY on every
 * accepted connection, level-triggered epoll, reads of at most 64 KiB, accepts batched per
 * readiness, writes sent at once and the rest buffered and flushed on EPOLLOUT (watched only
 * while the buffer is not empty).  RLIMIT_NOFILE is raised to the hard limit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_SIZE 65536

struct client {
    char *buf;      /* unsent bytes */
    size_t len;     /* bytes in buf */
    size_t cap;
};

static struct client *clients;
static int max_fds;
static char rbuf[READ_SIZE];

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void drop(int fd) {
    free(clients[fd].buf);
    memset(&clients[fd], 0, sizeof clients[fd]);
    close(fd);
}

static void set_events(int ep, int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Append data to the client's buffer. */
static int buffer(struct client *c, const char *data, size_t n) {
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + n) cap *= 2;
        char *b = realloc(c->buf, cap);
        if (!b) return -1;
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    return 0;
}

/* Echo: write at once if nothing is buffered, buffer whatever the kernel did not take. */
static int echo(int ep, int fd, const char *data, size_t n) {
    struct client *c = &clients[fd];
    if (c->len == 0) {
        ssize_t w = write(fd, data, n);
        if (w < 0) {
            if (errno != EAGAIN) return -1;
            w = 0;
        }
        if ((size_t)w == n) return 0;
        data += w;
        n -= (size_t)w;
        if (buffer(c, data, n) < 0) return -1;
        set_events(ep, fd, EPOLLIN | EPOLLOUT);
        return 0;
    }
    return buffer(c, data, n);
}

static int flush(int ep, int fd) {
    struct client *c = &clients[fd];
    while (c->len) {
        ssize_t w = write(fd, c->buf, c->len);
        if (w < 0) return errno == EAGAIN ? 0 : -1;
        memmove(c->buf, c->buf + w, c->len - (size_t)w);
        c->len -= (size_t)w;
    }
    set_events(ep, fd, EPOLLIN);
    return 0;
}

int main(int argc, char **argv) {
    int port = argc > 1 && strncmp(argv[1], "unix:", 5) ? atoi(argv[1]) : 0;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    max_fds = (int)(rl.rlim_cur > 1000000 ? 1000000 : rl.rlim_cur) + 16;
    clients = calloc((size_t)max_fds, sizeof *clients);
    if (!clients) die("calloc");

    const char *unix_path = argc > 1 && !strncmp(argv[1], "unix:", 5) ? argv[1] + 5 : NULL;
    int one = 1;
    int ls;
    if (unix_path) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        if (strlen(unix_path) >= sizeof un.sun_path) die("unix path too long");
        strcpy(un.sun_path, unix_path);
        ls = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (ls < 0) die("socket");
        if (bind(ls, (struct sockaddr *)&un, sizeof un) < 0) die("bind");
        if (listen(ls, 1024) < 0) die("listen");
        printf("PORT 0 PID %d\n", (int)getpid());
    } else {
        ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (ls < 0) die("socket");
        setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
        if (bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
        if (listen(ls, 1024) < 0) die("listen");
        socklen_t alen = sizeof addr;
        getsockname(ls, (struct sockaddr *)&addr, &alen);
        printf("PORT %d PID %d\n", ntohs(addr.sin_port), (int)getpid());
    }
    fflush(stdout);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int k = 0; k < n; k++) {
            int fd = evs[k].data.fd;
            if (fd == ls) {
                for (int a = 0; a < 100; a++) { /* batched accepts, like Twisted's numberAccepts */
                    int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) break;
                    if (c >= max_fds) {
                        close(c);
                        continue;
                    }
                    if (!unix_path) setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            if (evs[k].events & EPOLLOUT) {
                if (flush(ep, fd) < 0) {
                    drop(fd);
                    continue;
                }
            }
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = read(fd, rbuf, sizeof rbuf);
                if (r > 0) {
                    if (echo(ep, fd, rbuf, (size_t)r) < 0) drop(fd);
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    drop(fd);
                }
            }
        }
    }
}
