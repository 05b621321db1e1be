# The io_uring poller (Linux): io_uring as a readiness source, one-shot POLL_ADD per watched
# descriptor, re-armed after each report, so it keeps epoll's level-triggered contract.
from libc.stdint cimport uint32_t, uint64_t

cdef extern from "uring.h" nogil:
    int FR_HAVE_IO_URING
    ctypedef struct fr_ring:
        pass
    ctypedef struct fr_completion:
        uint64_t user_data
        int res
        uint32_t flags
    fr_ring *fr_ring_open(unsigned entries, unsigned cq_entries)
    void fr_ring_close(fr_ring *r)
    int fr_ring_fd(fr_ring *r)
    int fr_ring_submit(fr_ring *r, int wait, long long timeout_ns)
    int fr_ring_poll_add(fr_ring *r, int fd, unsigned mask, uint64_t user_data)
    int fr_ring_poll_remove(fr_ring *r, uint64_t target, uint64_t user_data)
    int fr_ring_reap(fr_ring *r, fr_completion *out, int max)
    int fr_ring_ready(fr_ring *r)
    unsigned fr_ring_pending(fr_ring *r)


cdef class IouringPoller(Poller):
    cdef fr_ring *ring
    cdef fr_completion *completions
    cdef unsigned char *interest   # EV_* the loop wants, per fd
    cdef unsigned char *armed      # EV_* of the poll in flight, per fd (0: none)
    cdef unsigned char *queued     # 1 while the fd is in `rearm`
    cdef uint32_t *token           # the current poll's token, per fd (older completions are stale)
    cdef int size
    cdef int *rearm                # fds whose poll must be (re)submitted before the next wait
    cdef int rearm_count
    cdef int rearm_capacity
    cdef int grow(self, int fd) except -1
    cdef int queue(self, int fd) except -1
    cdef int cancel(self, int fd) except -1
    cdef int arm_queued(self) except -1
    cdef int check_open(self) except -1
    cdef void release(self) noexcept
