# The io_uring poller (Linux only, opt-in: Reactor(poller="io_uring") or FASTREACTOR_POLLER=io_uring).
#
# io_uring is used as the readiness source: every watched descriptor has one one-shot POLL_ADD in
# flight for the directions the loop wants. A completion is reported like an epoll event and the
# poll is re-armed before the next wait if the descriptor is still watched; arming checks the
# current state, so a descriptor that is still readable after its handler ran is reported again:
# the same level-triggered contract as epoll, and every handle (transports, ports, the waker,
# IReactorFDSet readers/writers) works unchanged. All arms, re-arms and cancellations of a loop
# turn go to the kernel in the single io_uring_enter that also waits.
#
# A poll holds a reference to the file: a descriptor that leaves the loop (the engine closes it
# right after) has its poll cancelled at once (an io_uring_enter in unregister), so close() really
# closes the socket.
# Each poll carries a token in its user_data; a completion whose token is not the descriptor's
# current one (cancelled, replaced, or of a closed and reused descriptor) is dropped.
#
# Closing a ring (close(), or a collected loop) cancels its polls first, for the same reason. The
# kernel's teardown of a closed ring then queues work on every thread that used it with a
# signal-like notification: that thread's next blocking wait, in whatever poller, returns EINTR
# once (even for a ring that never had a request). Pollers retry; code that tests errno must
# have made the failing call itself (issue 16: a pipe read a stale EINTR and spun).
import logging

from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memset
from libc.errno cimport ETIME, EBUSY

cdef uint64_t REMOVE_TAG = 0xFFFFFFFFFFFFFFFF   # user_data of our POLL_REMOVE requests
cdef unsigned RING_ENTRIES = 1024
cdef unsigned CQ_ENTRIES = 8192


cdef unsigned poll_mask(int events) noexcept:
    cdef unsigned mask = 0
    if events & EV_READ:
        mask |= POLLIN
    if events & EV_WRITE:
        mask |= POLLOUT
    return mask


cdef long long timeout_nanoseconds(double timeout) noexcept:
    """A wait of `timeout` seconds for io_uring_enter: -1 (no limit) if negative, clamped to
    MAX_WAIT_SECONDS, NaN does not wait."""
    if timeout < 0:
        return -1
    if timeout != timeout:
        return 0
    if timeout > MAX_WAIT_SECONDS:
        timeout = MAX_WAIT_SECONDS
    return <long long>(timeout * 1e9)


cdef class IouringPoller(Poller):
    """Linux io_uring as a readiness source (one-shot POLL_ADD per descriptor, re-armed after
    each report: level-triggered like epoll). Raises OSError when the kernel refuses io_uring
    (ENOSYS, EPERM from kernel.io_uring_disabled or seccomp, ENOTSUP for kernels older than 5.11)."""

    def __cinit__(self, *args, **kwargs):
        self.name = "io_uring"
        self.ring = fr_ring_open(RING_ENTRIES, CQ_ENTRIES)
        if self.ring == NULL:
            raise OSError(errno, "io_uring is not available: %s" % os.strerror(errno))
        self.completions = <fr_completion *>malloc(sizeof(fr_completion) * self.max_events)
        if self.completions == NULL:
            raise MemoryError()

    def __dealloc__(self):
        self.release()
        free(self.completions)
        free(self.interest)
        free(self.armed)
        free(self.queued)
        free(self.token)
        free(self.rearm)

    def close(self):
        """Cancel every poll still in flight, then close the ring. The ring's own teardown in
        the kernel is asynchronous and a pending poll pins its file: cancelling first means a
        descriptor closed after this returns is really closed. (The kernel also interrupts this
        thread's next blocking wait once, with EINTR, when it tears the ring down; callers
        retry, see PipeStream.on_readable.)"""
        self.release()

    cdef void release(self) noexcept:
        cdef int fd
        if self.ring == NULL:
            return
        for fd in range(self.size):
            if self.armed[fd]:
                self.token[fd] += 1
                self.armed[fd] = 0
                # A full queue is submitted by fr_ring_sqe itself; a failure here leaves that poll
                # to the kernel's asynchronous teardown, which is all that can be done.
                fr_ring_poll_remove(self.ring, (<uint64_t>(self.token[fd] - 1) << 32) | <uint32_t>fd,
                                    REMOVE_TAG)
        if fr_ring_pending(self.ring):
            while fr_ring_submit(self.ring, 0, 0) < 0 and errno == EINTR:
                pass
        fr_ring_close(self.ring)
        self.ring = NULL

    def fileno(self):
        return fr_ring_fd(self.ring) if self.ring != NULL else -1

    cdef int check_open(self) except -1:
        if self.ring == NULL:
            raise OSError(EBADF, "the io_uring poller is closed")
        return 0

    cdef int grow(self, int fd) except -1:
        cdef int size
        if fd < self.size:
            return 0
        size = max(fd + 1, self.size * 2, 256)
        cdef unsigned char *p
        cdef uint32_t *t
        p = <unsigned char *>realloc(self.interest, size)
        if p == NULL:
            raise MemoryError()
        self.interest = p
        p = <unsigned char *>realloc(self.armed, size)
        if p == NULL:
            raise MemoryError()
        self.armed = p
        p = <unsigned char *>realloc(self.queued, size)
        if p == NULL:
            raise MemoryError()
        self.queued = p
        t = <uint32_t *>realloc(self.token, sizeof(uint32_t) * size)
        if t == NULL:
            raise MemoryError()
        self.token = t
        memset(&self.interest[self.size], 0, size - self.size)
        memset(&self.armed[self.size], 0, size - self.size)
        memset(&self.queued[self.size], 0, size - self.size)
        memset(&self.token[self.size], 0, sizeof(uint32_t) * (size - self.size))
        self.size = size
        return 0

    cdef int queue(self, int fd) except -1:
        """Remember that `fd` needs a poll submitted before the next wait."""
        cdef int capacity
        cdef int *grown
        if self.queued[fd]:
            return 0
        if self.rearm_count == self.rearm_capacity:
            capacity = max(64, self.rearm_capacity * 2)
            grown = <int *>realloc(self.rearm, sizeof(int) * capacity)
            if grown == NULL:
                raise MemoryError()
            self.rearm = grown
            self.rearm_capacity = capacity
        self.rearm[self.rearm_count] = fd
        self.rearm_count += 1
        self.queued[fd] = 1
        return 0

    cdef int cancel(self, int fd) except -1:
        """Cancel `fd`'s poll in flight (its completion, if any, becomes stale)."""
        cdef uint64_t target = (<uint64_t>self.token[fd] << 32) | <uint32_t>fd
        self.token[fd] += 1
        self.armed[fd] = 0
        if fr_ring_poll_remove(self.ring, target, REMOVE_TAG) < 0:
            raise OSError(errno, "io_uring poll remove failed for fd %d" % fd)
        return 0

    cdef int arm_queued(self) except -1:
        cdef int i, fd, events
        cdef uint64_t user_data
        for i in range(self.rearm_count):
            fd = self.rearm[i]
            self.queued[fd] = 0
            events = self.interest[fd]
            if events == 0 or self.armed[fd]:
                continue
            self.token[fd] += 1
            user_data = (<uint64_t>self.token[fd] << 32) | <uint32_t>fd
            if fr_ring_poll_add(self.ring, fd, poll_mask(events), user_data) < 0:
                # keep the rest queued for the next turn
                self.queued[fd] = 1
                memmove_ints(self.rearm, i, self.rearm_count)
                self.rearm_count -= i
                raise OSError(errno, "io_uring poll add failed for fd %d" % fd)
            self.armed[fd] = events
        self.rearm_count = 0
        return 0

    cdef int register(self, int fd, int events) except -1:
        self.check_open()
        if fd < 0:
            raise OSError(EBADF, "cannot watch fd %d" % fd)
        self.grow(fd)
        if self.armed[fd]:
            self.cancel(fd)
        self.interest[fd] = events
        return self.queue(fd)

    cdef int modify(self, int fd, int events) except -1:
        self.check_open()
        self.interest[fd] = events
        if self.armed[fd]:
            if events & ~self.armed[fd]:
                self.cancel(fd)     # a direction the poll in flight does not watch
            else:
                return 0            # a narrower interest: the loop filters what it reports
        return self.queue(fd)

    cdef int unregister(self, int fd, bint closing) except -1:
        # As epoll's EBADF is ignored: after close() every poll is gone with the ring.
        if self.ring == NULL or fd >= self.size:
            return 0
        self.interest[fd] = 0
        if self.armed[fd]:
            self.cancel(fd)
            # The poll holds the file, and the engine closes a descriptor right after it leaves
            # the loop: cancel now (one io_uring_enter), so that close() really closes it.
            while fr_ring_submit(self.ring, 0, 0) < 0:
                if errno != EINTR and errno != EBUSY and errno != EAGAIN:
                    raise OSError(errno, "io_uring_enter failed")
                if errno != EINTR:
                    break
        return 0

    cdef int wait(self, double timeout, FiredEvent *out, bint release) except -1:
        cdef int n, i, fd, count = 0, rc = 0, err = 0
        cdef uint32_t tok
        cdef uint64_t ud
        cdef int res
        cdef long long ns = timeout_nanoseconds(timeout)
        cdef bint block = ns != 0, waited = False
        self.check_open()
        while True:
            self.arm_queued()
            # Completions already queued are taken without waiting; the submission that follows
            # may complete arms at once (a descriptor that is ready now), so reap after it too.
            n = fr_ring_reap(self.ring, self.completions, self.max_events)
            if n == 0 or fr_ring_pending(self.ring):
                waited = block and n == 0
                if release:
                    with nogil:
                        rc = fr_ring_submit(self.ring, waited, ns)
                        if rc < 0:
                            err = errno
                else:
                    rc = fr_ring_submit(self.ring, waited, ns)
                    if rc < 0:
                        err = errno
                if rc < 0 and err != EINTR and err != ETIME and err != EBUSY and err != EAGAIN:
                    raise OSError(err, "io_uring_enter failed")
                n += fr_ring_reap(self.ring, self.completions + n, self.max_events - n)
            for i in range(n):
                ud = self.completions[i].user_data
                if ud == REMOVE_TAG:
                    continue
                fd = <int>(ud & 0xFFFFFFFF)
                tok = <uint32_t>(ud >> 32)
                if fd >= self.size or self.token[fd] != tok or not self.armed[fd]:
                    continue    # cancelled, replaced, or of a descriptor closed since
                self.armed[fd] = 0
                if self.interest[fd]:
                    self.queue(fd)
                res = self.completions[i].res
                out[count].fd = fd
                if res < 0:
                    out[count].events = EV_READ | EV_WRITE    # like poll's POLLNVAL: the handler finds out
                else:
                    out[count].events = 0
                    if res & (POLLIN | POLLERR | POLLHUP):
                        out[count].events |= EV_READ
                    if res & (POLLOUT | POLLERR | POLLHUP):
                        out[count].events |= EV_WRITE
                count += 1
            # Only stale completions, and a wait was asked for but not done yet: wait now.
            if count or waited or not block:
                return count


cdef void memmove_ints(int *a, int start, int end) noexcept:
    cdef int k
    for k in range(start, end):
        a[k - start] = a[k]


_uring_probe = None


def _uring_unavailable_reason():
    """None when this kernel lets us use io_uring, else why not (checked once, cached)."""
    global _uring_probe
    cdef fr_ring *ring
    if _uring_probe is None:
        ring = fr_ring_open(4, 8)
        if ring == NULL:
            _uring_probe = os.strerror(errno) if FR_HAVE_IO_URING else "not built with <linux/io_uring.h>"
        else:
            fr_ring_close(ring)
            _uring_probe = ""
    return _uring_probe or None


cdef Poller make_uring_poller():
    """The io_uring poller, or (with one log line saying why) the platform's default poller."""
    try:
        return IouringPoller()
    except OSError as e:
        fallback = available_pollers()[0]
        logging.getLogger("fastreactor").warning(
            "io_uring poller unavailable (%s); using %s", e.strerror or e, fallback)
        return _POLLERS[fallback]()
