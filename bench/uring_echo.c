/*
 * uring_echo: a plain C io_uring echo server, the io_uring counterpart of c_echo.c (issue 16's probe).
 *
 *   uring_echo [PORT]      (default 0: the kernel picks a port)
 *
 * Prints "PORT <port> PID <pid>" on stdout once listening (or "UNAVAILABLE <reason>" when the
 * kernel refuses io_uring), then serves until killed.  Same rules as c_echo: 127.0.0.1, backlog
 * 1024, TCP_NODELAY on every accepted connection.  No liburing: raw syscalls and the kernel's
 * <linux/io_uring.h>.
 *
 *   - one ring, IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL when the kernel has them
 *     (retried without them otherwise);
 *   - one multishot accept on the listening socket;
 *   - one multishot recv per connection into a provided buffer ring (4096 buffers of 16 KiB);
 *     the bytes are copied into the connection's output buffer and the provided buffer is
 *     returned to the ring at once;
 *   - at most one send in flight per connection, from a buffer of its own that nothing touches
 *     until it completes: what arrives meanwhile is appended to the output buffer, which becomes
 *     the next send's buffer (the two are swapped) when the previous send completes (partial
 *     sends resent from where they stopped);
 *   - every SQE prepared during a turn goes to the kernel in the next turn's single
 *     io_uring_enter, which also waits for at least one completion.
 *
 * A connection whose recv stream ended (EOF, error) is closed once everything it received was
 * sent back and no send is in flight, so no request can still refer to a descriptor that was
 * closed and reused.
 */
#define _GNU_SOURCE
#include <linux/io_uring.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "echo_common.h"

#define RING_ENTRIES 4096
#define CQ_ENTRIES 16384
#define BUF_COUNT 4096
#define BUF_SIZE 16384
#define BGID 0

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };
#define UD(op, fd) (((uint64_t)(op) << 32) | (uint32_t)(fd))

struct client {
    struct outbuf out;       /* bytes received since the send in flight started */
    struct outbuf sending;   /* the send in flight's bytes (len 0: none); never grown meanwhile */
    size_t sent;             /* of sending, the bytes the kernel already took */
    int recv_done;   /* the multishot recv ended for good */
    int open;
};

static struct client *clients;
static int max_fds;

static int ring_fd;
static unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
static unsigned *cq_head, *cq_tail, *cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;
static unsigned sq_local_tail, to_submit;
static struct io_uring_buf_ring *br;
static char *bufs;
static unsigned short br_tail;
static int listen_fd;

static int sys_setup(unsigned entries, struct io_uring_params *p) {
    return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned min, unsigned flags) {
    return (int)syscall(__NR_io_uring_enter, fd, submit, min, flags, NULL, 0);
}

static int sys_register(int fd, unsigned op, void *arg, unsigned n) {
    return (int)syscall(__NR_io_uring_register, fd, op, arg, n);
}

static int enter(unsigned min) {
    for (;;) {
        int r = sys_enter(ring_fd, to_submit, min, IORING_ENTER_GETEVENTS);
        if (r >= 0) {
            to_submit -= (unsigned)r;
            return r;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EBUSY) { min = 0; continue; }
        die("io_uring_enter");
    }
}

static struct io_uring_sqe *get_sqe(void) {
    unsigned head = atomic_load_explicit((_Atomic unsigned *)sq_head, memory_order_acquire);
    if (sq_local_tail - head >= RING_ENTRIES) {
        enter(0); /* SQ full: submit what is there */
        head = atomic_load_explicit((_Atomic unsigned *)sq_head, memory_order_acquire);
    }
    unsigned idx = sq_local_tail & *sq_mask;
    struct io_uring_sqe *sqe = &sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    sq_array[idx] = idx;
    sq_local_tail++;
    to_submit++;
    atomic_store_explicit((_Atomic unsigned *)sq_tail, sq_local_tail, memory_order_release);
    return sqe;
}

static void arm_accept(void) {
    struct io_uring_sqe *s = get_sqe();
    s->opcode = IORING_OP_ACCEPT;
    s->fd = listen_fd;
    s->ioprio = IORING_ACCEPT_MULTISHOT;
    s->accept_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
    s->user_data = UD(OP_ACCEPT, listen_fd);
}

static void arm_recv(int fd) {
    struct io_uring_sqe *s = get_sqe();
    s->opcode = IORING_OP_RECV;
    s->fd = fd;
    s->ioprio = IORING_RECV_MULTISHOT;
    s->flags = IOSQE_BUFFER_SELECT;
    s->buf_group = BGID;
    s->user_data = UD(OP_RECV, fd);
}

/* Send what remains of the connection's send buffer. */
static void submit_send(int fd) {
    struct client *c = &clients[fd];
    struct io_uring_sqe *s = get_sqe();
    s->opcode = IORING_OP_SEND;
    s->fd = fd;
    s->addr = (uint64_t)(uintptr_t)(c->sending.buf + c->sent);
    s->len = (unsigned)(c->sending.len - c->sent);
    s->msg_flags = MSG_NOSIGNAL;
    s->user_data = UD(OP_SEND, fd);
}

/* No send in flight and bytes waiting: they become the send buffer (swapped, so neither buffer
 * is reallocated while the kernel may read it) and go out. */
static void start_send(int fd) {
    struct client *c = &clients[fd];
    struct outbuf spare = c->sending;
    c->sending = c->out;
    spare.len = 0;
    c->out = spare;
    c->sent = 0;
    submit_send(fd);
}

static void recycle(unsigned short bid) {
    struct io_uring_buf *b = &br->bufs[br_tail & (BUF_COUNT - 1)];
    b->addr = (uint64_t)(uintptr_t)(bufs + (size_t)bid * BUF_SIZE);
    b->len = BUF_SIZE;
    b->bid = bid;
    br_tail++;
    atomic_store_explicit((_Atomic unsigned short *)&br->tail, br_tail, memory_order_release);
}

static void maybe_close(int fd) {
    struct client *c = &clients[fd];
    if (c->open && c->recv_done && c->sending.len == 0 && c->out.len == 0) {
        close(fd);
        free(c->out.buf);
        free(c->sending.buf);
        memset(c, 0, sizeof *c);
    }
}

static void on_cqe(struct io_uring_cqe *cqe) {
    int op = (int)(cqe->user_data >> 32);
    int fd = (int)(uint32_t)cqe->user_data;
    int res = cqe->res;
    struct client *c;
    if (op == OP_ACCEPT) {
        if (res >= 0) {
            int one = 1;
            if (res >= max_fds) {
                close(res);
            } else {
                setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                clients[res].open = 1;
                arm_recv(res);
            }
        }
        if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept();
        return;
    }
    c = &clients[fd];
    if (op == OP_RECV) {
        if (res > 0) {
            unsigned short bid = (unsigned short)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
            if (outbuf_append(&c->out, bufs + (size_t)bid * BUF_SIZE, (size_t)res) < 0) die("realloc");
            recycle(bid);
            if (c->sending.len == 0) start_send(fd);
            if (!(cqe->flags & IORING_CQE_F_MORE)) arm_recv(fd);
        } else if (res == -ENOBUFS) {
            arm_recv(fd); /* the ring ran dry; buffers come back as sends complete */
        } else if (!(cqe->flags & IORING_CQE_F_MORE)) {
            c->recv_done = 1;
            maybe_close(fd);
        }
        return;
    }
    /* OP_SEND */
    if (res < 0) {
        /* The peer is gone: drop what is left, end the multishot recv (its last completion
         * closes the connection). */
        c->out.len = c->sending.len = c->sent = 0;
        shutdown(fd, SHUT_RDWR);
        maybe_close(fd);
        return;
    }
    c->sent += (size_t)res;
    if (c->sent < c->sending.len) {
        submit_send(fd);
        return;
    }
    c->sending.len = c->sent = 0;
    if (c->out.len) start_send(fd);
    else maybe_close(fd);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    signal(SIGPIPE, SIG_IGN);
    max_fds = raise_nofile();
    clients = calloc((size_t)max_fds, sizeof *clients);
    if (!clients) die("calloc");

    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL |
              IORING_SETUP_CQSIZE;
    p.cq_entries = CQ_ENTRIES;
    ring_fd = sys_setup(RING_ENTRIES, &p);
    if (ring_fd < 0 && errno == EINVAL) {
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = CQ_ENTRIES;
        ring_fd = sys_setup(RING_ENTRIES, &p);
    }
    if (ring_fd < 0) {
        printf("UNAVAILABLE io_uring_setup: %s\n", strerror(errno));
        return 0;
    }
    if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
        printf("UNAVAILABLE kernel without IORING_FEAT_SINGLE_MMAP\n");
        return 0;
    }
    size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    size_t ring_sz = sq_sz > cq_sz ? sq_sz : cq_sz;
    char *ring = mmap(NULL, ring_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd,
                      IORING_OFF_SQ_RING);
    if (ring == MAP_FAILED) die("mmap ring");
    sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) die("mmap sqes");
    sq_head = (unsigned *)(ring + p.sq_off.head);
    sq_tail = (unsigned *)(ring + p.sq_off.tail);
    sq_mask = (unsigned *)(ring + p.sq_off.ring_mask);
    sq_array = (unsigned *)(ring + p.sq_off.array);
    cq_head = (unsigned *)(ring + p.cq_off.head);
    cq_tail = (unsigned *)(ring + p.cq_off.tail);
    cq_mask = (unsigned *)(ring + p.cq_off.ring_mask);
    cqes = (struct io_uring_cqe *)(ring + p.cq_off.cqes);
    sq_local_tail = *sq_tail;

    /* provided buffer ring */
    size_t br_sz = BUF_COUNT * sizeof(struct io_uring_buf);
    br = mmap(NULL, br_sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED) die("mmap buf ring");
    bufs = malloc((size_t)BUF_COUNT * BUF_SIZE);
    if (!bufs) die("malloc bufs");
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)br;
    reg.ring_entries = BUF_COUNT;
    reg.bgid = BGID;
    if (sys_register(ring_fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        printf("UNAVAILABLE IORING_REGISTER_PBUF_RING: %s\n", strerror(errno));
        return 0;
    }
    br_tail = 0;
    for (unsigned i = 0; i < BUF_COUNT; i++) recycle((unsigned short)i);

    listen_fd = listen_tcp_loopback(port);

    arm_accept();
    for (;;) {
        enter(1);
        unsigned head = *cq_head;
        unsigned tail = atomic_load_explicit((_Atomic unsigned *)cq_tail, memory_order_acquire);
        while (head != tail) {
            on_cqe(&cqes[head & *cq_mask]);
            head++;
            if (head == tail) {
                atomic_store_explicit((_Atomic unsigned *)cq_head, head, memory_order_release);
                tail = atomic_load_explicit((_Atomic unsigned *)cq_tail, memory_order_acquire);
            }
        }
        atomic_store_explicit((_Atomic unsigned *)cq_head, head, memory_order_release);
    }
}
