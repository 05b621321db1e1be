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
 *
 * Built with -DECHO_PYTHON_PROTOCOL (bench/cbuild.py's c_echo_python), it hands each message to
 * a Python protocol instead of echoing it itself: see echo_python.h.
 */
#define _GNU_SOURCE
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/un.h>

#include "echo_common.h"
#ifdef ECHO_PYTHON_PROTOCOL
#include "echo_python.h"    /* c_echo_python: each message goes through a Python protocol */
#endif

#define READ_SIZE 65536

static struct outbuf *clients;     /* each connection's unsent bytes, by descriptor */
static unsigned char *peer_done;   /* the peer half-closed: close once the bytes above are sent */
static int max_fds;
static char rbuf[READ_SIZE];

static void drop(int fd) {
#ifdef ECHO_PYTHON_PROTOCOL
    python_disconnect(fd);
#endif
    free(clients[fd].buf);
    memset(&clients[fd], 0, sizeof clients[fd]);
    peer_done[fd] = 0;
    close(fd);
}

static void set_events(int ep, int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Echo: write at once if nothing is buffered, buffer whatever the kernel did not take. */
static int echo(int ep, int fd, const char *data, size_t n) {
    struct outbuf *c = &clients[fd];
    if (c->len == 0) {
        ssize_t w = write(fd, data, n);
        if (w < 0) {
            if (errno != EAGAIN) return -1;
            w = 0;
        }
        if ((size_t)w == n) return 0;
        data += w;
        n -= (size_t)w;
        if (outbuf_append(c, data, n) < 0) return -1;
        set_events(ep, fd, EPOLLIN | EPOLLOUT);
        return 0;
    }
    return outbuf_append(c, data, n);
}

static int flush(int ep, int fd) {
    struct outbuf *c = &clients[fd];
    while (c->len) {
        ssize_t w = write(fd, c->buf, c->len);
        if (w < 0) return errno == EAGAIN ? 0 : -1;
        outbuf_consume(c, (size_t)w);
    }
    if (peer_done[fd]) return -1;   /* all sent back: close */
    set_events(ep, fd, EPOLLIN);
    return 0;
}

int main(int argc, char **argv) {
    int port = argc > 1 && strncmp(argv[1], "unix:", 5) ? atoi(argv[1]) : 0;
    signal(SIGPIPE, SIG_IGN);
    max_fds = raise_nofile();
    clients = calloc((size_t)max_fds, sizeof *clients);
    peer_done = calloc((size_t)max_fds, 1);
    if (!clients || !peer_done) die("calloc");

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
        if (listen(ls, ECHO_BACKLOG) < 0) die("listen");
        announce(0);
    } else {
        ls = listen_tcp_loopback(port);
    }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
#ifdef ECHO_PYTHON_PROTOCOL
    python_init(ep, max_fds);
#endif

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
#ifdef ECHO_PYTHON_PROTOCOL
                    python_connect(c);
#endif
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
#ifdef ECHO_PYTHON_PROTOCOL
                    if (python_deliver(fd, rbuf, (size_t)r) < 0) drop(fd);
#else
                    if (echo(ep, fd, rbuf, (size_t)r) < 0) drop(fd);
#endif
                } else if (r == 0 && clients[fd].len) {
                    peer_done[fd] = 1;      /* send the rest back first */
                    set_events(ep, fd, EPOLLOUT);
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    drop(fd);
                }
            }
        }
    }
}
