# Poller backends: epoll, kqueue, poll, select. Each maps its own readiness flags to EV_READ/EV_WRITE;
# an error or hang-up is reported as both, so whichever side is watched sees it on its next syscall.
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memset
from compat cimport *

# The longest single wait, in seconds (about 23 days): a timer further away (callLater(sys.maxsize))
# wakes the loop once in a while instead of overflowing the conversion to the syscall's type.
cdef double MAX_WAIT_SECONDS = 2000000.0


cdef int wait_milliseconds(double timeout) noexcept:
    """A wait of `timeout` seconds for epoll_wait/poll: -1 (block) if negative, clamped to
    MAX_WAIT_SECONDS, rounded up so a timer is never woken for a fraction of a millisecond early;
    NaN does not wait."""
    if timeout < 0:
        return -1
    if timeout != timeout:
        return 0
    if timeout > MAX_WAIT_SECONDS:
        timeout = MAX_WAIT_SECONDS
    cdef int ms = <int>(timeout * 1000.0)
    if <double>ms < timeout * 1000.0:
        ms += 1
    return ms


cdef bint timespec_for_timeout(double timeout, timespec *ts) noexcept:
    """Fill `ts` with a wait of `timeout` seconds for kevent (and select): False (block, `ts`
    untouched) if negative; clamped to MAX_WAIT_SECONDS before the conversion (a larger double
    does not fit a time_t/long); the nanoseconds rounded up and kept below one second; NaN does
    not wait."""
    cdef long sec, nsec
    if timeout < 0:
        return False
    if timeout != timeout:
        timeout = 0.0
    if timeout > MAX_WAIT_SECONDS:
        timeout = MAX_WAIT_SECONDS
    sec = <long>timeout
    nsec = <long>((timeout - <double>sec) * 1e9)
    if <double>nsec < (timeout - <double>sec) * 1e9:
        nsec += 1
    if nsec >= 1000000000:
        sec += 1
        nsec = 0
    ts.tv_sec = sec
    ts.tv_nsec = nsec
    return True


def _wait_milliseconds(timeout):
    """Test hook: what epoll and poll wait for a poll timeout of `timeout` seconds."""
    return wait_milliseconds(timeout)


def _timespec_for_timeout(timeout):
    """Test hook: the (seconds, nanoseconds) kevent waits for a poll timeout of `timeout`
    seconds, or None for a blocking wait."""
    cdef timespec ts
    if not timespec_for_timeout(timeout, &ts):
        return None
    return (ts.tv_sec, ts.tv_nsec)


def _timeval_for_timeout(timeout):
    """Test hook: the (seconds, microseconds) select waits for a poll timeout of `timeout`
    seconds, or None for a blocking wait."""
    cdef timeval tv
    if not timeval_for_timeout(timeout, &tv):
        return None
    return (tv.tv_sec, tv.tv_usec)


cdef bint timeval_for_timeout(double timeout, timeval *tv) noexcept:
    """As timespec_for_timeout, in microseconds (rounded up) for select."""
    cdef timespec ts
    if not timespec_for_timeout(timeout, &ts):
        return False
    tv.tv_sec = ts.tv_sec
    tv.tv_usec = (ts.tv_nsec + 999) // 1000
    if tv.tv_usec >= 1000000:
        tv.tv_sec += 1
        tv.tv_usec = 0
    return True


cdef class Poller:
    """Base of the readiness backends: register/modify/unregister descriptors, wait for events."""

    def __cinit__(self, *args, **kwargs):
        self.max_events = 1024

    cdef int register(self, int fd, int events) except -1:
        raise NotImplementedError

    cdef int modify(self, int fd, int events) except -1:
        raise NotImplementedError

    cdef int unregister(self, int fd, bint closing) except -1:
        raise NotImplementedError

    cdef int wait(self, double timeout, FiredEvent *out, bint release) except -1:
        raise NotImplementedError

    def close(self):
        """Release the backend's own descriptor, if it has one."""

    def fileno(self):
        """The backend's descriptor (epoll, kqueue), or -1 for poll and select."""
        return -1


cdef class EpollPoller(Poller):
    """Linux epoll, level-triggered."""

    def __cinit__(self, *args, **kwargs):
        self.name = "epoll"
        self.epfd = -1
        if not FR_HAVE_EPOLL:
            raise RuntimeError("the epoll poller is not available on this platform")
        self.epfd = epoll_create1(EPOLL_CLOEXEC)
        if self.epfd < 0:
            raise OSError(errno, "epoll_create1 failed")
        self.buffer = <epoll_event *>malloc(sizeof(epoll_event) * self.max_events)
        if self.buffer == NULL:
            raise MemoryError()

    def __dealloc__(self):
        if self.epfd >= 0:
            close(self.epfd)
        free(self.buffer)

    def close(self):
        if self.epfd >= 0:
            close(self.epfd)
            self.epfd = -1

    def fileno(self):
        return self.epfd

    cdef int control(self, int op, int fd, int events) except -1:
        cdef epoll_event ev
        ev.events = 0
        if events & EV_READ:
            ev.events |= EPOLLIN
        if events & EV_WRITE:
            ev.events |= EPOLLOUT
        ev.data.u64 = 0
        ev.data.fd = fd
        if epoll_ctl(self.epfd, op, fd, &ev) < 0:
            raise OSError(errno, "epoll_ctl failed for fd %d" % fd)
        return 0

    cdef int register(self, int fd, int events) except -1:
        return self.control(EPOLL_CTL_ADD, fd, events)

    cdef int modify(self, int fd, int events) except -1:
        return self.control(EPOLL_CTL_MOD, fd, events)

    cdef int unregister(self, int fd, bint closing) except -1:
        cdef epoll_event ev
        # A descriptor about to be closed leaves the epoll set by itself (we never dup them).
        if closing:
            return 0
        if epoll_ctl(self.epfd, EPOLL_CTL_DEL, fd, &ev) < 0 and errno != EBADF and errno != 2:
            raise OSError(errno, "epoll_ctl(DEL) failed for fd %d" % fd)
        return 0

    cdef int wait(self, double timeout, FiredEvent *out, bint release) except -1:
        cdef int n, i, ms = wait_milliseconds(timeout)
        cdef uint32_t e
        if release:
            with nogil:
                n = epoll_wait(self.epfd, self.buffer, self.max_events, ms)
        else:
            n = epoll_wait(self.epfd, self.buffer, self.max_events, ms)
        if n < 0:
            if errno == EINTR:
                return 0
            raise OSError(errno, "epoll_wait failed")
        for i in range(n):
            e = self.buffer[i].events
            out[i].fd = self.buffer[i].data.fd
            out[i].events = 0
            if e & (EPOLLIN | EPOLLERR | EPOLLHUP):
                out[i].events |= EV_READ
            if e & (EPOLLOUT | EPOLLERR | EPOLLHUP):
                out[i].events |= EV_WRITE
        return n


cdef class KqueuePoller(Poller):
    """BSD/macOS kqueue: one filter per direction."""

    def __cinit__(self, *args, **kwargs):
        self.name = "kqueue"
        self.kq = -1
        if not FR_HAVE_KQUEUE:
            raise RuntimeError("the kqueue poller is not available on this platform")
        self.kq = kqueue()
        if self.kq < 0:
            raise OSError(errno, "kqueue failed")
        fr_set_nonblocking_cloexec(self.kq)
        self.buffer = <kevent_t *>malloc(sizeof(kevent_t) * self.max_events)
        if self.buffer == NULL:
            raise MemoryError()

    def __dealloc__(self):
        if self.kq >= 0:
            close(self.kq)
        free(self.buffer)
        free(self.interest)

    def close(self):
        if self.kq >= 0:
            close(self.kq)
            self.kq = -1

    def fileno(self):
        return self.kq

    cdef int change(self, int fd, int old, int new) except -1:
        cdef kevent_t changes[2]
        cdef int n = 0
        if (new & EV_READ) != (old & EV_READ):
            EV_SET(&changes[n], fd, EVFILT_READ, EV_ADD if new & EV_READ else EV_DELETE, 0, 0, NULL)
            n += 1
        if (new & EV_WRITE) != (old & EV_WRITE):
            EV_SET(&changes[n], fd, EVFILT_WRITE, EV_ADD if new & EV_WRITE else EV_DELETE, 0, 0, NULL)
            n += 1
        if n and kevent(self.kq, changes, n, NULL, 0, NULL) < 0:
            if not (new == 0 and (errno == EBADF or errno == 2)):
                raise OSError(errno, "kevent failed for fd %d" % fd)
        return 0

    cdef int remember(self, int fd, int events) except -1:
        cdef int size
        if fd >= self.interest_size:
            size = max(fd + 1, self.interest_size * 2, 64)
            self.interest = <int *>realloc(self.interest, sizeof(int) * size)
            if self.interest == NULL:
                raise MemoryError()
            memset(&self.interest[self.interest_size], 0, sizeof(int) * (size - self.interest_size))
            self.interest_size = size
        self.interest[fd] = events
        return 0

    cdef int register(self, int fd, int events) except -1:
        self.change(fd, 0, events)
        return self.remember(fd, events)

    cdef int modify(self, int fd, int events) except -1:
        self.change(fd, self.interest[fd], events)
        return self.remember(fd, events)

    cdef int unregister(self, int fd, bint closing) except -1:
        if not closing:
            self.change(fd, self.interest[fd], 0)
        self.interest[fd] = 0
        return 0

    cdef int wait(self, double timeout, FiredEvent *out, bint release) except -1:
        cdef timespec ts
        cdef timespec *tsp = NULL
        cdef int n, i
        if timespec_for_timeout(timeout, &ts):
            tsp = &ts
        if release:
            with nogil:
                n = kevent(self.kq, NULL, 0, self.buffer, self.max_events, tsp)
        else:
            n = kevent(self.kq, NULL, 0, self.buffer, self.max_events, tsp)
        if n < 0:
            if errno == EINTR:
                return 0
            raise OSError(errno, "kevent wait failed")
        for i in range(n):
            out[i].fd = <int>self.buffer[i].ident
            if self.buffer[i].filter == EVFILT_READ:
                out[i].events = EV_READ
            else:
                out[i].events = EV_WRITE
            if self.buffer[i].flags & EV_ERROR:
                out[i].events = EV_READ | EV_WRITE
        return n


cdef class PollPoller(Poller):
    """poll(2): a dense pollfd array plus an fd -> slot index."""

    def __cinit__(self, *args, **kwargs):
        self.name = "poll"

    def __dealloc__(self):
        free(self.fds)
        free(self.position)

    cdef int register(self, int fd, int events) except -1:
        cdef int size
        if fd >= self.position_size:
            size = max(fd + 1, self.position_size * 2, 64)
            self.position = <int *>realloc(self.position, sizeof(int) * size)
            if self.position == NULL:
                raise MemoryError()
            for i in range(self.position_size, size):
                self.position[i] = -1
            self.position_size = size
        if self.nfds == self.capacity:
            size = max(64, self.capacity * 2)
            self.fds = <pollfd *>realloc(self.fds, sizeof(pollfd) * size)
            if self.fds == NULL:
                raise MemoryError()
            self.capacity = size
        self.position[fd] = self.nfds
        self.fds[self.nfds].fd = fd
        self.fds[self.nfds].revents = 0
        self.nfds += 1
        return self.modify(fd, events)

    cdef int modify(self, int fd, int events) except -1:
        cdef short mask = 0
        if events & EV_READ:
            mask |= POLLIN
        if events & EV_WRITE:
            mask |= POLLOUT
        self.fds[self.position[fd]].events = mask
        return 0

    cdef int unregister(self, int fd, bint closing) except -1:
        cdef int slot = self.position[fd]
        self.nfds -= 1
        if slot != self.nfds:
            self.fds[slot] = self.fds[self.nfds]
            self.position[self.fds[slot].fd] = slot
        self.position[fd] = -1
        return 0

    cdef int wait(self, double timeout, FiredEvent *out, bint release) except -1:
        cdef int n, i, count = 0, ms = wait_milliseconds(timeout)
        cdef short r
        if release:
            with nogil:
                n = poll(self.fds, self.nfds, ms)
        else:
            n = poll(self.fds, self.nfds, ms)
        if n < 0:
            if errno == EINTR:
                return 0
            raise OSError(errno, "poll failed")
        # More ready descriptors than one batch holds: the next batch starts where this one
        # stopped, so those at the end of the array are not starved by those at its start.
        cdef int total = self.nfds, start = self.scan_start, k = 0
        if start >= total:
            start = 0
        while n > 0 and k < total and count < self.max_events:
            i = start + k
            if i >= total:
                i -= total
            k += 1
            r = self.fds[i].revents
            if r:
                n -= 1
                out[count].fd = self.fds[i].fd
                out[count].events = 0
                if r & (POLLIN | POLLERR | POLLHUP | POLLNVAL):
                    out[count].events |= EV_READ
                if r & (POLLOUT | POLLERR | POLLHUP | POLLNVAL):
                    out[count].events |= EV_WRITE
                count += 1
        self.scan_start = (start + k) % total if n > 0 else 0
        return count


cdef class SelectPoller(Poller):
    """select(2): limited to descriptors below FD_SETSIZE; registering a larger one raises ValueError."""

    def __cinit__(self, *args, **kwargs):
        self.name = "select"
        FD_ZERO(&self.readers)
        FD_ZERO(&self.writers)
        self.max_fd = -1
        self.interest = <unsigned char *>malloc(FD_SETSIZE)
        if self.interest == NULL:
            raise MemoryError()
        memset(self.interest, 0, FD_SETSIZE)

    def __dealloc__(self):
        free(self.interest)

    cdef int register(self, int fd, int events) except -1:
        if fd >= FD_SETSIZE:
            raise ValueError("fd %d is too large for the select poller (FD_SETSIZE is %d); "
                             "use the epoll, kqueue or poll poller" % (fd, FD_SETSIZE))
        if fd > self.max_fd:
            self.max_fd = fd
        return self.modify(fd, events)

    cdef int modify(self, int fd, int events) except -1:
        self.interest[fd] = events
        if events & EV_READ:
            FD_SET(fd, &self.readers)
        else:
            FD_CLR(fd, &self.readers)
        if events & EV_WRITE:
            FD_SET(fd, &self.writers)
        else:
            FD_CLR(fd, &self.writers)
        return 0

    cdef int unregister(self, int fd, bint closing) except -1:
        self.modify(fd, 0)
        while self.max_fd >= 0 and not self.interest[self.max_fd]:
            self.max_fd -= 1
        return 0

    cdef int wait(self, double timeout, FiredEvent *out, bint release) except -1:
        cdef fd_set r = self.readers
        cdef fd_set w = self.writers
        cdef timeval tv
        cdef timeval *tvp = NULL
        cdef int n, fd, count = 0, ev
        if timeval_for_timeout(timeout, &tv):
            tvp = &tv
        if release:
            with nogil:
                n = select(self.max_fd + 1, &r, &w, NULL, tvp)
        else:
            n = select(self.max_fd + 1, &r, &w, NULL, tvp)
        if n < 0:
            if errno == EINTR:
                return 0
            raise OSError(errno, "select failed")
        fd = 0
        while n > 0 and fd <= self.max_fd and count < self.max_events:
            ev = 0
            if FD_ISSET(fd, &r):
                ev |= EV_READ
                n -= 1
            if FD_ISSET(fd, &w):
                ev |= EV_WRITE
                n -= 1
            if ev:
                out[count].fd = fd
                out[count].events = ev
                count += 1
            fd += 1
        return count


def available_pollers():
    """The names of the pollers this platform has, best first; "io_uring" (opt-in, never the
    default) comes last, listed where the kernel lets this process set up a ring (so the test
    suite's poller fixture runs on it too). `Reactor(poller="io_uring")` also works where it is
    not listed: it falls back to the first of these with one log line."""
    names = []
    if FR_HAVE_EPOLL:
        names.append("epoll")
    if FR_HAVE_KQUEUE:
        names.append("kqueue")
    names.append("poll")
    names.append("select")
    if _uring_unavailable_reason() is None:
        names.append("io_uring")
    return names


_POLLERS = {"epoll": EpollPoller, "kqueue": KqueuePoller, "poll": PollPoller, "select": SelectPoller}


cdef Poller make_poller(object name):
    if name is None:
        name = available_pollers()[0]
    if name == "io_uring":
        return make_uring_poller()   # falls back to the default poller, with one log line
    if name not in _POLLERS:
        raise ValueError("unknown poller %r; choose one of %s" % (name, ", ".join(available_pollers())))
    if name not in available_pollers():
        raise ValueError("the %s poller is not available on this platform; choose one of %s"
                         % (name, ", ".join(available_pollers())))
    return _POLLERS[name]()
