/*
 * loadgen: the compiled, epoll-based load generator of the fastreactor benchmark suite.
 *
 * Modes (one per run; the result is one JSON object on the last line of stdout):
 *
 *   loadgen echo --port P --conns N --size S --duration D [--warmup W]
 *       Closed loop: each of N connections sends a message of S bytes, waits for the whole
 *       echo, and sends the next one (one message outstanding per connection).  After the
 *       warm-up it prints "mark start", at the end "mark end" (so the caller can sample the
 *       server's CPU over exactly the measured window), then the JSON result: messages/s,
 *       MiB/s (payload, one direction), p50/p99 round-trip latency from a log-linear
 *       histogram, and this process's own CPU time over the window (getrusage).
 *
 *   loadgen echo --port P --conns 1 --size S --messages M
 *       Send exactly M messages (no warm-up), then exit.  Used by bench/profile.py.
 *
 *   loadgen http --port P --conns N --duration D [--warmup W] [--messages M]
 *       The echo mode's closed loop and output, over HTTP/1.1 keep-alive: each connection sends
 *       "GET / HTTP/1.1\r\nHost: H\r\n\r\n", reads the whole response (header block up to
 *       \r\n\r\n, then Content-Length bytes of body, however the bytes are split across reads)
 *       and sends the next request.  "count" is the number of 200 responses; a response with
 *       another status is counted in "bad_status" and "errors"; a malformed response (no
 *       Content-Length, header block over 16 KiB, bytes after the body) or a closed connection
 *       counts in "errors" and ends that connection.  "mib_s" is response bytes (head and body).
 *
 *   loadgen connect --port P --conns N --duration D [--warmup W]
 *       Short-lived connections: N concurrent slots, each connects, sends 16 bytes, reads
 *       the 16-byte echo, closes, and repeats.  Reports connections/s and p50/p99 of the
 *       connect-to-echo time.
 *
 *   loadgen udp --port P --conns N --size S --duration D [--warmup W]
 *       The echo mode's closed loop over UDP: N sockets, each connect()ed to the server, each
 *       with one datagram of S bytes in flight; a reply of S bytes completes it and the next
 *       one is sent.  A datagram not answered within 200 ms is counted in "errors" (lost) and
 *       sent again.  Same output as echo.  With --messages M (no warm-up): exactly M replies,
 *       then exit (bench/profile --workload udp).
 *
 *   loadgen idle --port P --conns N
 *       Opens N connections (at most 32 connecting at a time), sends one byte on each and
 *       waits for its echo (so the server has surely accepted it), then prints
 *       "ready {json}" and holds every connection open until standard input is closed.
 *
 * Common options: --host H (default 127.0.0.1; only loopback makes sense here).
 * RLIMIT_NOFILE is raised to the hard limit at start.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---------- latency histogram: log-linear, 32 sub-buckets per power of two (~3%) ---------- */

#define SUB_BITS 5
#define SUBS (1 << SUB_BITS)
#define NBUCKETS (64 * SUBS)

static uint64_t hist[NBUCKETS];
static uint64_t hist_total;

static int bucket_of(uint64_t v) {
    if (v < SUBS) return (int)v;
    int msb = 63 - __builtin_clzll(v);
    uint64_t top = v >> (msb - SUB_BITS);
    return (msb - SUB_BITS + 1) * SUBS + (int)(top - SUBS);
}

static double bucket_value(int idx) {
    if (idx < SUBS) return idx;
    int msb = idx / SUBS + SUB_BITS - 1;
    uint64_t top = (uint64_t)(idx % SUBS) + SUBS;
    uint64_t lo = top << (msb - SUB_BITS);
    uint64_t width = (uint64_t)1 << (msb - SUB_BITS);
    return (double)lo + (double)width / 2.0;
}

static void hist_add(uint64_t ns) {
    hist[bucket_of(ns)]++;
    hist_total++;
}

static void hist_reset(void) {
    memset(hist, 0, sizeof hist);
    hist_total = 0;
}

/* Value (in microseconds) below which a fraction p of the samples lie. */
static double hist_percentile_us(double p) {
    if (hist_total == 0) return 0.0;
    uint64_t want = (uint64_t)(p * (double)hist_total + 0.999999);
    if (want < 1) want = 1;
    uint64_t seen = 0;
    for (int i = 0; i < NBUCKETS; i++) {
        seen += hist[i];
        if (seen >= want) return bucket_value(i) / 1000.0;
    }
    return 0.0;
}

/* ---------- small helpers ---------- */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static struct sockaddr_in server_addr;
static struct sockaddr_un server_unix;        /* with --unix PATH: connect there instead */
static const char *opt_unix = NULL;

static int server_family(void) { return opt_unix ? AF_UNIX : AF_INET; }
static const struct sockaddr *server_sockaddr(void) {
    return opt_unix ? (const struct sockaddr *)&server_unix : (const struct sockaddr *)&server_addr;
}
static socklen_t server_socklen(void) { return opt_unix ? sizeof server_unix : sizeof server_addr; }

/* Start a non-blocking connect; returns the fd (connected or in progress) or -1. */
static int start_connect(void) {
    int fd = socket(server_family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    if (!opt_unix) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, server_sockaddr(), server_socklen()) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static int socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
    return err;
}

static void ep_ctl(int ep, int op, int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(ep, op, fd, &ev) < 0 && op != EPOLL_CTL_DEL) die("epoll_ctl");
}

/* ---------- per-connection state ---------- */

enum { ST_CONNECTING, ST_SENDING, ST_WAITING, ST_IDLE };

struct conn {
    int state;
    size_t sent;     /* bytes of the current message written */
    size_t received; /* bytes of the current echo read */
    uint64_t t0;     /* when the current message (or connect) started */
    int want_out;    /* registered for EPOLLOUT */
};

static struct conn *conns;
static int max_fds;
static char *msg;
static char rbuf[1 << 18];

/* options */
static const char *mode;
static int opt_port, opt_conns = 1;
static size_t opt_size = 64;
static double opt_duration = 1.0, opt_warmup = 0.2;
static long long opt_messages = 0;
static const char *opt_host = "127.0.0.1";

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen echo|http|connect|idle|udp --port P [--host H] [--conns N] [--size S]\n"
            "               (or --unix PATH instead of --port: a UNIX stream socket)\n"
            "               [--duration SEC] [--warmup SEC] [--messages M]\n");
    exit(2);
}

static void parse(int argc, char **argv) {
    if (argc < 2) usage();
    mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--port")) opt_port = atoi(v);
        else if (!strcmp(a, "--host")) opt_host = v;
        else if (!strcmp(a, "--conns")) opt_conns = atoi(v);
        else if (!strcmp(a, "--size")) opt_size = (size_t)atol(v);
        else if (!strcmp(a, "--duration")) opt_duration = atof(v);
        else if (!strcmp(a, "--warmup")) opt_warmup = atof(v);
        else if (!strcmp(a, "--messages")) opt_messages = atoll(v);
        else if (!strcmp(a, "--unix")) opt_unix = v;
        else usage();
    }
    if ((opt_port <= 0 && !opt_unix) || opt_conns <= 0 || opt_size == 0) usage();
    if (opt_unix) {
        if (strlen(opt_unix) >= sizeof server_unix.sun_path) usage();
        memset(&server_unix, 0, sizeof server_unix);
        server_unix.sun_family = AF_UNIX;
        strcpy(server_unix.sun_path, opt_unix);
    }
    memset(&server_addr, 0, sizeof server_addr);
    server_addr.sin_family = AF_INET;
    server_addr.sin_port = htons((uint16_t)opt_port);
    if (inet_pton(AF_INET, opt_host, &server_addr.sin_addr) != 1) usage();
}

static void setup(void) {
    raise_nofile();
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    max_fds = (int)(rl.rlim_cur > 1000000 ? 1000000 : rl.rlim_cur) + 16;
    conns = calloc((size_t)max_fds, sizeof *conns);
    msg = malloc(opt_size);
    if (!conns || !msg) die("malloc");
    for (size_t i = 0; i < opt_size; i++) msg[i] = (char)('a' + i % 26);
    signal(SIGPIPE, SIG_IGN);
}

/* ---------- http mode: incremental response parser ---------- */

#define HDR_MAX 16384 /* longest response header block accepted */

enum { H_MORE = 0, H_DONE = 1, H_ERR = -1 };

struct http_resp {
    char *head;          /* the header block received so far (HDR_MAX bytes, allocated on first use) */
    size_t head_len;
    long long body_left; /* body bytes still to read; -1 while the header block is incomplete */
    int status;
    size_t bytes;        /* bytes of the current response (head and body) */
};

static struct http_resp *resps; /* by fd, in http mode */

static void http_reset(struct http_resp *h) {
    h->head_len = 0;
    h->body_left = -1;
    h->status = 0;
    h->bytes = 0;
}

/* Case-insensitive "does the LEN-byte line start with NAME:"; returns the offset after ':' or 0. */
static size_t header_value_at(const char *line, size_t len, const char *name) {
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':') return 0;
    return n + 1;
}

/* Parse the complete header block h->head[0..len) (it ends with \r\n\r\n): status and
 * Content-Length.  Returns 0, or -1 if the response is malformed or not delimited by a length. */
static int http_parse_head(struct http_resp *h, size_t len) {
    const char *p = h->head, *end = h->head + len;
    /* status line: HTTP/1.x SP DDD ... */
    if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ') return -1;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        status = status * 10 + (p[i] - '0');
    }
    h->status = status;
    long long length = -1;
    const char *line = memchr(p, '\n', len);
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) break;
        size_t n = (size_t)(eol - line);
        size_t at = header_value_at(line, n, "content-length");
        if (at) {
            while (at < n && (line[at] == ' ' || line[at] == '\t')) at++;
            if (at >= n || line[at] < '0' || line[at] > '9') return -1;
            length = 0;
            while (at < n && line[at] >= '0' && line[at] <= '9') {
                if (length > (1LL << 40)) return -1;
                length = length * 10 + (line[at++] - '0');
            }
        } else if (header_value_at(line, n, "transfer-encoding")) {
            return -1; /* chunked bodies are not needed here: refuse rather than misparse */
        }
        line = eol;
    }
    if (length < 0) return -1;
    h->body_left = length;
    return 0;
}

/* Feed N bytes read from the socket to the response in progress.  Returns H_DONE when the
 * response is complete (and nothing follows it), H_MORE if more bytes are needed, H_ERR if the
 * response is malformed or bytes follow it (only one request is ever in flight). */
static int http_feed(struct http_resp *h, const char *p, size_t n) {
    h->bytes += n;
    while (n > 0) {
        if (h->body_left < 0) {
            size_t room = HDR_MAX - h->head_len;
            if (room == 0) return H_ERR;
            size_t take = n < room ? n : room;
            /* the terminator may straddle two reads: search from 3 bytes before the new ones */
            size_t from = h->head_len >= 3 ? h->head_len - 3 : 0;
            memcpy(h->head + h->head_len, p, take);
            h->head_len += take;
            const char *term = memmem(h->head + from, h->head_len - from, "\r\n\r\n", 4);
            if (!term) {
                p += take;
                n -= take;
                continue;
            }
            size_t head = (size_t)(term + 4 - h->head);
            size_t beyond = h->head_len - head; /* bytes copied past the header block: body */
            if (http_parse_head(h, head) < 0) return H_ERR;
            h->head_len = head;
            p += take - beyond;
            n -= take - beyond;
        } else {
            size_t take = (unsigned long long)h->body_left < n ? (size_t)h->body_left : n;
            h->body_left -= (long long)take;
            p += take;
            n -= take;
        }
        if (h->body_left == 0) return n == 0 ? H_DONE : H_ERR;
    }
    return h->body_left == 0 ? H_DONE : H_MORE;
}

/* ---------- echo and http modes: the closed loop ---------- */

static long long count, errors, bad_status;
static double bytes_total;

/* Write as much of the current message as the kernel takes; returns -1 on error. */
static int pump_send(int ep, int fd, struct conn *c) {
    while (c->sent < opt_size) {
        ssize_t n = write(fd, msg + c->sent, opt_size - c->sent);
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            if (!c->want_out) {
                ep_ctl(ep, EPOLL_CTL_MOD, fd, EPOLLIN | EPOLLOUT);
                c->want_out = 1;
            }
            return 0;
        }
        return -1;
    }
    if (c->want_out) {
        ep_ctl(ep, EPOLL_CTL_MOD, fd, EPOLLIN);
        c->want_out = 0;
    }
    return 0;
}

static void start_message(int ep, int fd, struct conn *c, uint64_t t) {
    c->sent = 0;
    c->received = 0;
    c->t0 = t;
    c->state = ST_WAITING;
    if (pump_send(ep, fd, c) < 0) {
        errors++;
        close(fd);
        c->state = ST_IDLE;
    }
}

/* Start the measured window at time t: zero what is counted, note the time and the CPU used so
   far, and tell the caller ("mark start", so it can sample the server's CPU at the same moment). */
static void open_window(uint64_t t, uint64_t *t_measure, double *cpu0) {
    count = 0;
    bytes_total = 0;
    hist_reset();
    *cpu0 = cpu_seconds();
    *t_measure = t;
    printf("mark start\n");
    fflush(stdout);
}

static void print_result(const char *m, double wall, double cpu) {
    double rate = wall > 0 ? (double)count / wall : 0.0;
    printf("{\"mode\": \"%s\", \"conns\": %d, \"size\": %zu, \"wall_s\": %.6f, \"count\": %lld, "
           "\"rate\": %.3f, \"mib_s\": %.3f, \"p50_us\": %.3f, \"p99_us\": %.3f, "
           "\"cpu_s\": %.6f, \"cpu_pct\": %.2f, \"errors\": %lld, \"bad_status\": %lld}\n",
           m, opt_conns, opt_size, wall, count, rate, wall > 0 ? bytes_total / wall / 1048576.0 : 0.0,
           hist_percentile_us(0.50), hist_percentile_us(0.99), cpu, wall > 0 ? 100.0 * cpu / wall : 0.0,
           errors, bad_status);
    fflush(stdout);
}

/* One request in flight per connection; HTTP means msg is a GET and responses go through
 * http_feed, otherwise the reply is the echo of msg. */
static int run_closed_loop(int http) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    if (http) {
        static char request[512];
        int len = snprintf(request, sizeof request, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", opt_host);
        if (len < 0 || (size_t)len >= sizeof request) die("request too long");
        free(msg);
        msg = request;
        opt_size = (size_t)len;
        resps = calloc((size_t)max_fds, sizeof *resps);
        if (!resps) die("calloc");
    }
    /* connect all first: blocking connects, then switch to non-blocking */
    int *fds = calloc((size_t)opt_conns, sizeof *fds);
    if (!fds) die("calloc");
    for (int i = 0; i < opt_conns; i++) {
        int fd = socket(server_family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket");
        if (fd >= max_fds) die("fd table");
        int one = 1;
        if (!opt_unix) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, server_sockaddr(), server_socklen()) < 0) die("connect");
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl");
        fds[i] = fd;
        ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLIN);
        if (http) {
            resps[fd].head = malloc(HDR_MAX);
            if (!resps[fd].head) die("malloc");
            http_reset(&resps[fd]);
        }
    }

    uint64_t t_start = now_ns();
    int measuring = opt_messages > 0 || opt_warmup <= 0;
    uint64_t t_measure = t_start, t_end = t_start + (uint64_t)((opt_warmup + opt_duration) * 1e9);
    double cpu0 = cpu_seconds();
    if (measuring && opt_messages == 0) {
        printf("mark start\n");
        fflush(stdout);
        t_end = t_start + (uint64_t)(opt_duration * 1e9);
    } else if (!measuring) {
        t_measure = t_start + (uint64_t)(opt_warmup * 1e9);
    }

    for (int i = 0; i < opt_conns; i++) start_message(ep, fds[i], &conns[fds[i]], t_start);

    struct epoll_event evs[256];
    int live = opt_conns;
    for (;;) {
        int n = epoll_wait(ep, evs, 256, 10);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        uint64_t t = now_ns();
        for (int k = 0; k < n; k++) {
            int fd = evs[k].data.fd;
            struct conn *c = &conns[fd];
            if (c->state == ST_IDLE) continue;
            if (evs[k].events & EPOLLOUT) {
                if (pump_send(ep, fd, c) < 0) goto fail;
            }
            if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                int complete = 0;
                for (;;) {
                    ssize_t r = read(fd, rbuf, sizeof rbuf);
                    if (r > 0) {
                        if (http) {
                            int st = http_feed(&resps[fd], rbuf, (size_t)r);
                            if (st == H_ERR) goto fail;
                            if (st == H_DONE) {
                                complete = 1;
                                break;
                            }
                            continue;
                        }
                        c->received += (size_t)r;
                        if (c->received >= opt_size) {
                            complete = 1;
                            break;
                        }
                        continue;
                    }
                    if (r < 0 && errno == EINTR) continue;
                    if (r < 0 && errno == EAGAIN) break;
                    goto fail; /* EOF or error */
                }
                if (complete && c->sent >= opt_size) {
                    if (http) {
                        bytes_total += (double)resps[fd].bytes;
                        if (resps[fd].status == 200) {
                            count++;
                        } else {
                            bad_status++;
                            errors++;
                        }
                        http_reset(&resps[fd]);
                    } else {
                        count++;
                        bytes_total += (double)opt_size;
                    }
                    hist_add(t - c->t0);
                    if (opt_messages > 0 && count + bad_status >= opt_messages) goto done;
                    start_message(ep, fd, c, t);
                    if (c->state == ST_IDLE) live--;
                } else if (complete) {
                    goto fail; /* a reply before the whole request was sent */
                }
            }
            continue;
        fail:
            errors++;
            ep_ctl(ep, EPOLL_CTL_DEL, fd, 0);
            close(fd);
            c->state = ST_IDLE;
            live--;
        }
        if (live <= 0) break;
        if (!measuring && t >= t_measure) {
            measuring = 1;
            open_window(t, &t_measure, &cpu0);
        }
        if (opt_messages == 0 && t >= t_end) break;
    }
done:;
    uint64_t t_stop = now_ns();
    double cpu = cpu_seconds() - cpu0;
    if (opt_messages == 0) {
        printf("mark end\n");
        fflush(stdout);
    }
    print_result(http ? "http" : "echo", (double)(t_stop - t_measure) / 1e9, cpu);
    return errors && count == 0 ? 1 : 0;
}

/* ---------- connect mode ---------- */

static const char ping[16] = "0123456789abcdef";

/* Open a connection and send the ping at once if the handshake is already done (on loopback it
   usually completes inside connect()); otherwise wait for writability first. Sending at once saves
   the generator a wake-up, a getsockopt and an epoll_ctl per connection, so it stays ahead of the
   servers it measures. The server sees the same sequence either way. */
static int open_slot(int ep, uint64_t t) {
    int fd = start_connect();
    if (fd < 0) {
        errors++;
        return -1;
    }
    if (fd >= max_fds) die("fd table");
    struct conn *c = &conns[fd];
    memset(c, 0, sizeof *c);
    c->t0 = t;
    ssize_t w = write(fd, ping, sizeof ping);
    if (w == (ssize_t)sizeof ping) {
        c->state = ST_WAITING;
        ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLIN);
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN)) {
        c->state = ST_CONNECTING;
        ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLOUT);
    } else {
        errors++;
        close(fd);
        return -1;
    }
    return fd;
}

static int run_connect(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    uint64_t t_start = now_ns();
    uint64_t t_measure = t_start + (uint64_t)(opt_warmup * 1e9);
    uint64_t t_end = t_measure + (uint64_t)(opt_duration * 1e9);
    int measuring = opt_warmup <= 0;
    double cpu0 = cpu_seconds();
    if (measuring) {
        t_measure = t_start;
        printf("mark start\n");
        fflush(stdout);
    }
    int open_now = 0;
    for (int i = 0; i < opt_conns; i++)
        if (open_slot(ep, t_start) >= 0) open_now++;

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, 10);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        uint64_t t = now_ns();
        int reopen = 0;
        for (int k = 0; k < n; k++) {
            int fd = evs[k].data.fd;
            struct conn *c = &conns[fd];
            if (c->state == ST_CONNECTING) {
                if (socket_error(fd) != 0) goto fail;
                if (write(fd, ping, sizeof ping) != (ssize_t)sizeof ping) goto fail;
                c->state = ST_WAITING;
                c->received = 0;
                ep_ctl(ep, EPOLL_CTL_MOD, fd, EPOLLIN);
            } else if (c->state == ST_WAITING) {
                ssize_t r = read(fd, rbuf, sizeof rbuf);
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                if (r <= 0) goto fail;
                c->received += (size_t)r;
                if (c->received >= sizeof ping) {
                    count++;
                    hist_add(t - c->t0);
                    close(fd); /* closing also removes it from the epoll set */
                    c->state = ST_IDLE;
                    reopen++;
                }
            }
            continue;
        fail:
            errors++;
            close(fd);
            c->state = ST_IDLE;
            reopen++;
        }
        for (int i = 0; i < reopen; i++)
            if (open_slot(ep, t) < 0) open_now--;
        if (open_now <= 0) {
            fprintf(stderr, "loadgen: cannot open connections\n");
            break;
        }
        if (!measuring && t >= t_measure) {
            measuring = 1;
            errors = 0;
            open_window(t, &t_measure, &cpu0);
        }
        if (t >= t_end) break;
    }
    uint64_t t_stop = now_ns();
    double cpu = cpu_seconds() - cpu0;
    printf("mark end\n");
    fflush(stdout);
    opt_size = 16;
    print_result("connect", (double)(t_stop - t_measure) / 1e9, cpu);
    return count == 0 ? 1 : 0;
}

/* ---------- idle mode ---------- */

static int run_idle(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    const int inflight_max = 32;
    int opened = 0, ready = 0, inflight = 0;
    uint64_t t_start = now_ns();
    uint64_t deadline = t_start + 120ull * 1000000000ull;
    struct epoll_event evs[256];
    while (ready < opt_conns) {
        while (inflight < inflight_max && opened < opt_conns) {
            int fd = open_slot(ep, now_ns());
            if (fd < 0) {
                fprintf(stderr, "loadgen: socket/connect failed after %d connections: %s\n", opened,
                        strerror(errno));
                goto report;
            }
            opened++;
            inflight++;
        }
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int k = 0; k < n; k++) {
            int fd = evs[k].data.fd;
            struct conn *c = &conns[fd];
            if (c->state == ST_CONNECTING) {
                if (socket_error(fd) != 0 || write(fd, "x", 1) != 1) {
                    errors++;
                    close(fd);
                    c->state = ST_IDLE;
                    inflight--;
                    opened--;
                    continue;
                }
                c->state = ST_WAITING;
                ep_ctl(ep, EPOLL_CTL_MOD, fd, EPOLLIN);
            } else if (c->state == ST_WAITING) {
                ssize_t r = read(fd, rbuf, sizeof rbuf);
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                if (r <= 0) {
                    errors++;
                    close(fd);
                    c->state = ST_IDLE;
                    inflight--;
                    opened--;
                    continue;
                }
                c->state = ST_IDLE; /* established and echoed: now idle, kept open */
                ep_ctl(ep, EPOLL_CTL_DEL, fd, 0);
                inflight--;
                ready++;
            }
        }
        if (errors > 1000 || now_ns() > deadline) {
            fprintf(stderr, "loadgen: gave up with %d of %d connections ready\n", ready, opt_conns);
            break;
        }
    }
report:
    printf("ready {\"mode\": \"idle\", \"conns\": %d, \"ready\": %d, \"errors\": %lld, \"wall_s\": %.6f}\n",
           opt_conns, ready, errors, (double)(now_ns() - t_start) / 1e9);
    fflush(stdout);
    /* hold the connections until stdin closes */
    char b[64];
    while (read(0, b, sizeof b) > 0) {
    }
    return ready == opt_conns ? 0 : 1;
}

/* ---------- udp mode ---------- */

#define UDP_LOSS_NS (200ull * 1000000ull)

static int run_udp(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    int *fds = calloc((size_t)opt_conns, sizeof *fds);
    if (!fds) die("calloc");
    for (int i = 0; i < opt_conns; i++) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket");
        if (fd >= max_fds) die("fd table");
        if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) < 0) die("connect");
        fds[i] = fd;
        ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLIN);
    }
    uint64_t t_start = now_ns();
    int measuring = opt_warmup <= 0 || opt_messages > 0;
    uint64_t t_measure = t_start + (uint64_t)(opt_warmup * 1e9);
    uint64_t t_end = t_start + (uint64_t)((opt_warmup + opt_duration) * 1e9);
    double cpu0 = cpu_seconds();
    if (measuring) {
        t_measure = t_start;
        printf("mark start\n");
        fflush(stdout);
    }
    for (int i = 0; i < opt_conns; i++) {
        conns[fds[i]].t0 = t_start;
        if (send(fds[i], msg, opt_size, 0) < 0 && errno != EAGAIN) die("send");
    }
    struct epoll_event evs[256];
    uint64_t last_check = t_start;
    for (;;) {
        int n = epoll_wait(ep, evs, 256, 10);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        uint64_t t = now_ns();
        for (int k = 0; k < n; k++) {
            int fd = evs[k].data.fd;
            struct conn *c = &conns[fd];
            for (;;) {
                ssize_t r = recv(fd, rbuf, sizeof rbuf, 0);
                if (r < 0) {
                    if (errno == EINTR) continue;
                    if (errno != EAGAIN) errors++; /* e.g. ECONNREFUSED: the server is gone */
                    break;
                }
                if ((size_t)r != opt_size) {
                    errors++;
                    continue;
                }
                count++;
                bytes_total += (double)opt_size;
                hist_add(t - c->t0);
                c->t0 = t;
                if (opt_messages > 0 && count >= opt_messages) goto udp_done;
                if (send(fd, msg, opt_size, 0) < 0 && errno != EAGAIN) errors++;
            }
        }
        if (t - last_check > UDP_LOSS_NS / 4) {
            last_check = t;
            for (int i = 0; i < opt_conns; i++) {
                struct conn *c = &conns[fds[i]];
                if (t - c->t0 > UDP_LOSS_NS) {
                    errors++;
                    c->t0 = t;
                    send(fds[i], msg, opt_size, 0);
                }
            }
        }
        if (errors > 100000) break;
        if (!measuring && t >= t_measure) {
            measuring = 1;
            errors = 0;
            open_window(t, &t_measure, &cpu0);
        }
        if (opt_messages == 0 && t >= t_end) break;
    }
udp_done:;
    uint64_t t_stop = now_ns();
    double cpu = cpu_seconds() - cpu0;
    printf("mark end\n");
    fflush(stdout);
    print_result("udp", (double)(t_stop - t_measure) / 1e9, cpu);
    return count == 0 ? 1 : 0;
}

int main(int argc, char **argv) {
    parse(argc, argv);
    setup();
    if (!strcmp(mode, "echo")) return run_closed_loop(0);
    if (!strcmp(mode, "http")) return run_closed_loop(1);
    if (!strcmp(mode, "connect")) return run_connect();
    if (!strcmp(mode, "idle")) return run_idle();
    if (!strcmp(mode, "udp")) return run_udp();
    usage();
    return 2;
}
