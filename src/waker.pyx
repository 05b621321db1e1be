# Waker: a descriptor another thread (or a signal) writes to so a sleeping loop returns from its poll.

cdef class Waker(Handle):
    """An eventfd (Linux) or a non-blocking pipe; reading it drains every pending wake-up.

    It keeps no reference to `loop`: the loop holds its wakers, and without a cycle a dropped loop
    with nothing else watched is freed by reference counting alone, closing them.
    """

    def __init__(self, Loop loop, bint allow_eventfd=True):
        cdef int fds[2]
        self.write_fd = -1
        if allow_eventfd and FR_HAVE_EVENTFD:
            self.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
            if self.fd < 0:
                raise OSError(errno, "eventfd failed")
            self.write_fd = self.fd
            self.use_eventfd = True
        else:
            if pipe(fds) < 0:
                raise OSError(errno, "pipe failed")
            fr_set_nonblocking_cloexec(fds[0])
            fr_set_nonblocking_cloexec(fds[1])
            self.fd = fds[0]
            self.write_fd = fds[1]

    def __dealloc__(self):
        self.close()

    def close(self):
        """Close the descriptor(s); the loop must have stopped watching it."""
        if self.write_fd >= 0 and self.write_fd != self.fd:
            close(self.write_fd)
        if self.fd >= 0:
            close(self.fd)
        self.fd = self.write_fd = -1

    def fileno(self):
        return self.fd

    def write_fileno(self):
        """The descriptor to write to (signal.set_wakeup_fd takes this one)."""
        return self.write_fd

    cdef int wake(self) except -1:
        cdef uint64_t one = 1
        cdef ssize_t n
        if self.armed:
            return 0
        self.armed = 1
        with nogil:
            if self.use_eventfd:
                n = write(self.write_fd, &one, 8)
            else:
                n = write(self.write_fd, b"x", 1)
        return 0

    cdef object on_readable(self):
        cdef char buf[256]
        cdef ssize_t n
        self.armed = 0
        while True:
            n = read(self.fd, buf, sizeof(buf))
            if n <= 0 or self.use_eventfd:
                break
