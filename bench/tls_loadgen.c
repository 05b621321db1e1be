/* TLS echo load generator: C with OpenSSL, one thread, epoll.
 *
 *   tls_loadgen HOST PORT CONNS SIZE SECONDS WARMUP [MESSAGES]
 *
 * Opens CONNS TLS connections (no certificate verification: it measures the server), then each
 * connection sends a SIZE-byte message, waits for the whole echo, and sends the next one (one
 * message in flight per connection). After WARMUP seconds it counts echoed messages for SECONDS
 * seconds and prints one line: "MSGS <count> SECONDS <elapsed> RATE <msgs/s>". With MESSAGES it
 * stops as soon as that many messages were echoed (counting from the start: for per-message
 * instruction counts, where time does not matter). Exit status 1 with a message on stderr if a
 * connection fails.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

typedef struct {
    int fd;
    SSL *ssl;
    int handshaken;
    size_t sent;       /* bytes of the current message written */
    size_t got;        /* bytes of its echo read */
} conn_t;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void die(const char *what) {
    fprintf(stderr, "tls_loadgen: %s: %s\n", what, strerror(errno));
    ERR_print_errors_fp(stderr);
    exit(1);
}

static char *message, *readbuf;
static size_t size;
static long counted;
static int counting;

/* Make progress on one connection; returns 0, or -1 on a failure. */
static int step(conn_t *c, int ep) {
    struct epoll_event ev = {0};
    int want = EPOLLIN;
    for (;;) {
        if (!c->handshaken) {
            int r = SSL_do_handshake(c->ssl);
            if (r == 1) { c->handshaken = 1; continue; }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) { want = EPOLLIN; break; }
            if (e == SSL_ERROR_WANT_WRITE) { want = EPOLLOUT; break; }
            return -1;
        }
        if (c->sent < size) {
            int r = SSL_write(c->ssl, message + c->sent, (int)(size - c->sent));
            if (r > 0) { c->sent += (size_t)r; continue; }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) { want = EPOLLIN; break; }
            if (e == SSL_ERROR_WANT_WRITE) { want = EPOLLOUT; break; }
            return -1;
        }
        int r = SSL_read(c->ssl, readbuf, 65536);
        if (r > 0) {
            c->got += (size_t)r;
            if (c->got >= size) {
                if (c->got > size) { fprintf(stderr, "tls_loadgen: echo longer than sent\n"); return -1; }
                if (counting) counted++;
                c->got = 0;
                c->sent = 0;
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) { want = EPOLLIN; break; }
        if (e == SSL_ERROR_WANT_WRITE) { want = EPOLLOUT; break; }
        return -1;
    }
    ev.events = want;
    ev.data.ptr = c;
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: tls_loadgen HOST PORT CONNS SIZE SECONDS WARMUP [MESSAGES]\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), nconns = atoi(argv[3]);
    size = (size_t)atol(argv[4]);
    double seconds = atof(argv[5]), warmup = atof(argv[6]);
    long limit = argc == 8 ? atol(argv[7]) : 0;
    if (limit) warmup = 0;
    message = malloc(size);
    readbuf = malloc(65536);
    for (size_t i = 0; i < size; i++) message[i] = (char)('a' + i % 26);

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    int ep = epoll_create1(0);
    conn_t *conns = calloc((size_t)nconns, sizeof(conn_t));
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, host, &sa.sin_addr);
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->fd < 0) die("socket");
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) die("connect");
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        c->ssl = SSL_new(ctx);
        SSL_set_fd(c->ssl, c->fd);
        SSL_set_connect_state(c->ssl);
        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl add");
    }
    struct epoll_event events[256];
    double start = now(), count_start = 0, end = start + warmup + seconds;
    for (;;) {
        double t = now();
        if (!counting && t >= start + warmup) { counting = 1; count_start = t; }
        if (t >= end || (limit && counted >= limit)) break;
        int n = epoll_wait(ep, events, 256, 100);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            conn_t *c = events[i].data.ptr;
            if (step(c, ep) < 0) {
                fprintf(stderr, "tls_loadgen: connection %d failed\n", (int)(c - conns));
                ERR_print_errors_fp(stderr);
                return 1;
            }
        }
    }
    double elapsed = now() - count_start;
    printf("MSGS %ld SECONDS %.3f RATE %.0f\n", counted, elapsed, counted / elapsed);
    return 0;
}
