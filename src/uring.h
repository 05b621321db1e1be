/* A minimal io_uring ring for fastreactor's io_uring poller: raw syscalls and the kernel's
 * <linux/io_uring.h>, no liburing.  Only what the poller needs: one-shot POLL_ADD, POLL_REMOVE
 * by user_data, submit-and-wait with a timeout (IORING_ENTER_EXT_ARG), reaping completions.
 * Elsewhere (macOS, BSD, Linux without the header) FR_HAVE_IO_URING is 0 and fr_ring_open fails
 * with ENOSYS, so the Cython side compiles everywhere and the poller simply is not available. */
#ifndef FASTREACTOR_URING_H
#define FASTREACTOR_URING_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#if defined(__linux__) && defined(__has_include)
#  if __has_include(<linux/io_uring.h>)
#    define FR_HAVE_IO_URING 1
#  endif
#endif
#ifndef FR_HAVE_IO_URING
#  define FR_HAVE_IO_URING 0
#endif

typedef struct fr_ring fr_ring;

/* A completion as the poller sees it. */
typedef struct fr_completion {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
} fr_completion;

#if FR_HAVE_IO_URING
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Older headers lack these (values are the kernel ABI). */
#ifndef IORING_SETUP_SUBMIT_ALL
#  define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#  define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_CLAMP
#  define IORING_SETUP_CLAMP (1U << 4)
#endif
#ifndef IORING_FEAT_EXT_ARG
#  define IORING_FEAT_EXT_ARG (1U << 8)
#endif
#ifndef IORING_ENTER_EXT_ARG
#  define IORING_ENTER_EXT_ARG (1U << 3)
#endif

struct fr_ring {
    int fd;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, sq_entries;
    unsigned *cq_head, *cq_tail, *cq_mask, cq_entries;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    unsigned sq_local_tail;   /* SQEs prepared, published to the kernel at each submit */
    unsigned to_submit;
    void *ring_mem;
    size_t ring_size, sqes_size;
};

/* The kernel's own getevents argument, declared here in case the header is older than 5.11. */
struct fr_getevents_arg {
    uint64_t sigmask;
    uint32_t sigmask_sz;
    uint32_t pad;
    uint64_t ts;
};

static inline int fr_sys_uring_setup(unsigned entries, struct io_uring_params *p) {
    return (int)syscall(__NR_io_uring_setup, entries, p);
}

static inline int fr_sys_uring_enter(int fd, unsigned submit, unsigned min, unsigned flags,
                                     void *arg, size_t argsz) {
    return (int)syscall(__NR_io_uring_enter, fd, submit, min, flags, arg, argsz);
}

static inline void fr_ring_close(fr_ring *r) {
    if (r == NULL) return;
    if (r->sqes) munmap(r->sqes, r->sqes_size);
    if (r->ring_mem) munmap(r->ring_mem, r->ring_size);
    if (r->fd >= 0) close(r->fd);
    free(r);
}

/* A ring of `entries` submissions and `cq_entries` completions, or NULL with errno set (ENOSYS on
 * kernels without io_uring, EPERM where kernel.io_uring_disabled or seccomp forbids it, ENOTSUP
 * when the kernel lacks IORING_FEAT_SINGLE_MMAP/NODROP/EXT_ARG, which this ring relies on). */
static inline fr_ring *fr_ring_open(unsigned entries, unsigned cq_entries) {
    struct io_uring_params p;
    fr_ring *r = calloc(1, sizeof *r);
    int saved;
    if (r == NULL) { errno = ENOMEM; return NULL; }
    r->fd = -1;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
              IORING_SETUP_CLAMP;
    p.cq_entries = cq_entries;
    r->fd = fr_sys_uring_setup(entries, &p);
    if (r->fd < 0 && errno == EINVAL) {
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        p.cq_entries = cq_entries;
        r->fd = fr_sys_uring_setup(entries, &p);
    }
    if (r->fd < 0) goto fail;
    if (!(p.features & IORING_FEAT_SINGLE_MMAP) || !(p.features & IORING_FEAT_NODROP) ||
        !(p.features & IORING_FEAT_EXT_ARG)) {
        errno = ENOTSUP;
        goto fail;
    }
    {
        size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
        size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
        char *mem;
        r->ring_size = sq_sz > cq_sz ? sq_sz : cq_sz;
        mem = mmap(NULL, r->ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                   IORING_OFF_SQ_RING);
        if (mem == MAP_FAILED) goto fail;
        r->ring_mem = mem;
        r->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
        r->sqes = mmap(NULL, r->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                       IORING_OFF_SQES);
        if (r->sqes == MAP_FAILED) { r->sqes = NULL; goto fail; }
        r->sq_head = (unsigned *)(mem + p.sq_off.head);
        r->sq_tail = (unsigned *)(mem + p.sq_off.tail);
        r->sq_mask = (unsigned *)(mem + p.sq_off.ring_mask);
        r->sq_array = (unsigned *)(mem + p.sq_off.array);
        r->sq_entries = p.sq_entries;
        r->cq_head = (unsigned *)(mem + p.cq_off.head);
        r->cq_tail = (unsigned *)(mem + p.cq_off.tail);
        r->cq_mask = (unsigned *)(mem + p.cq_off.ring_mask);
        r->cq_entries = p.cq_entries;
        r->cqes = (struct io_uring_cqe *)(mem + p.cq_off.cqes);
        r->sq_local_tail = *r->sq_tail;
    }
    { /* close-on-exec: a child process must not inherit the ring */
        int flags = fcntl(r->fd, F_GETFD);
        if (flags >= 0) fcntl(r->fd, F_SETFD, flags | FD_CLOEXEC);
    }
    return r;
fail:
    saved = errno;
    fr_ring_close(r);
    errno = saved;
    return NULL;
}

static inline int fr_ring_fd(fr_ring *r) { return r->fd; }

/* Hand the prepared submissions to the kernel; with `wait`, also wait for one completion or the
 * timeout (`timeout_ns` < 0: no limit).  Returns 0, or -1 with errno (EINTR, ETIME, EBUSY/EAGAIN
 * when the completion queue is backed up: reap, then call again). */
static inline int fr_ring_submit(fr_ring *r, int wait, long long timeout_ns) {
    struct fr_getevents_arg arg;
    struct __kernel_timespec ts;
    unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
    int n;
    memset(&arg, 0, sizeof arg);
    if (wait && timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000LL;
        ts.tv_nsec = timeout_ns % 1000000000LL;
        arg.ts = (uint64_t)(uintptr_t)&ts;
    }
    atomic_store_explicit((_Atomic unsigned *)r->sq_tail, r->sq_local_tail, memory_order_release);
    n = fr_sys_uring_enter(r->fd, r->to_submit, wait ? 1 : 0, flags, &arg, sizeof arg);
    if (n < 0) return -1;
    r->to_submit -= (unsigned)n < r->to_submit ? (unsigned)n : r->to_submit;
    return 0;
}

/* The next free submission entry, zeroed; when the queue is full, what is in it is submitted first.
 * NULL with errno if even that fails. */
static inline struct io_uring_sqe *fr_ring_sqe(fr_ring *r) {
    unsigned head = atomic_load_explicit((_Atomic unsigned *)r->sq_head, memory_order_acquire);
    unsigned idx;
    struct io_uring_sqe *sqe;
    if (r->sq_local_tail - head >= r->sq_entries) {
        if (fr_ring_submit(r, 0, 0) < 0 && errno != EBUSY && errno != EAGAIN && errno != EINTR)
            return NULL;
        head = atomic_load_explicit((_Atomic unsigned *)r->sq_head, memory_order_acquire);
        if (r->sq_local_tail - head >= r->sq_entries) { errno = EBUSY; return NULL; }
    }
    idx = r->sq_local_tail & *r->sq_mask;
    sqe = &r->sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    r->sq_array[idx] = idx;
    r->sq_local_tail++;
    r->to_submit++;
    return sqe;
}

/* Queue a one-shot poll of `fd` for `mask` (POLLIN/POLLOUT); 0 or -1 with errno. */
static inline int fr_ring_poll_add(fr_ring *r, int fd, unsigned mask, uint64_t user_data) {
    struct io_uring_sqe *sqe = fr_ring_sqe(r);
    if (sqe == NULL) return -1;
    sqe->opcode = IORING_OP_POLL_ADD;
    sqe->fd = fd;
    sqe->poll32_events = mask;
    sqe->user_data = user_data;
    return 0;
}

/* Queue the cancellation of the poll whose user_data is `target`; its own completion carries
 * `user_data`. */
static inline int fr_ring_poll_remove(fr_ring *r, uint64_t target, uint64_t user_data) {
    struct io_uring_sqe *sqe = fr_ring_sqe(r);
    if (sqe == NULL) return -1;
    sqe->opcode = IORING_OP_POLL_REMOVE;
    sqe->fd = -1;
    sqe->addr = target;
    sqe->user_data = user_data;
    return 0;
}

/* Move up to `max` completions into `out`; returns how many. */
static inline int fr_ring_reap(fr_ring *r, fr_completion *out, int max) {
    unsigned head = *r->cq_head;
    unsigned tail = atomic_load_explicit((_Atomic unsigned *)r->cq_tail, memory_order_acquire);
    int n = 0;
    while (head != tail && n < max) {
        struct io_uring_cqe *c = &r->cqes[head & *r->cq_mask];
        out[n].user_data = c->user_data;
        out[n].res = c->res;
        out[n].flags = c->flags;
        n++;
        head++;
    }
    atomic_store_explicit((_Atomic unsigned *)r->cq_head, head, memory_order_release);
    return n;
}

/* True when completions are waiting in the queue (or the kernel holds overflowed ones). */
static inline int fr_ring_ready(fr_ring *r) {
    unsigned tail = atomic_load_explicit((_Atomic unsigned *)r->cq_tail, memory_order_acquire);
    return tail != *r->cq_head;
}

static inline unsigned fr_ring_pending(fr_ring *r) { return r->to_submit; }

#else  /* no io_uring here */

struct fr_ring { int fd; };
static inline fr_ring *fr_ring_open(unsigned e, unsigned c) { (void)e; (void)c; errno = ENOSYS; return NULL; }
static inline void fr_ring_close(fr_ring *r) { (void)r; }
static inline int fr_ring_fd(fr_ring *r) { (void)r; return -1; }
static inline int fr_ring_submit(fr_ring *r, int w, long long t) { (void)r; (void)w; (void)t; errno = ENOSYS; return -1; }
static inline int fr_ring_poll_add(fr_ring *r, int fd, unsigned m, uint64_t u) { (void)r; (void)fd; (void)m; (void)u; errno = ENOSYS; return -1; }
static inline int fr_ring_poll_remove(fr_ring *r, uint64_t t, uint64_t u) { (void)r; (void)t; (void)u; errno = ENOSYS; return -1; }
static inline int fr_ring_reap(fr_ring *r, fr_completion *o, int m) { (void)r; (void)o; (void)m; return 0; }
static inline int fr_ring_ready(fr_ring *r) { (void)r; return 0; }
static inline unsigned fr_ring_pending(fr_ring *r) { (void)r; return 0; }

#endif
#endif
