# UNIX stream sockets: what a UNIX connection has beyond any stream socket. Descriptor passing
# (SCM_RIGHTS) rides on the shared StreamTransport without touching its queue: a queued descriptor
# is a mark at a byte offset from the queue's head, send_some stops each send at the next mark and
# sends the marked byte with its descriptor, and marks move down as bytes leave. A connection that
# never passes descriptors sends exactly as TCP does (send/sendmsg, no marks to look at).
# Peer credentials come from SO_PEERCRED (Linux) or getpeereid (BSD, macOS).

cdef extern from *:
    """
    #include <sys/socket.h>
    #include <sys/un.h>
    #include <string.h>
    #include <fcntl.h>
    #include <unistd.h>
    #if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || defined(__DragonFly__)
    #  define FR_HAVE_GETPEEREID 1
    #endif

    /* The most descriptors one recvmsg hands over (Linux's SCM_MAX_FD). */
    #define FR_MAX_RECV_FDS 253
    #ifdef MSG_CMSG_CLOEXEC
    #  define FR_RECV_FLAGS MSG_CMSG_CLOEXEC
    #else
    #  define FR_RECV_FLAGS 0
    #endif

    /* The receive side's msghdr, iovec and control buffer, set up once: a read only fills in the
       buffer and the control length (the kernel writes back msg_controllen and msg_flags, nothing
       else, as msg_name is NULL). Module-level like the results below; used only with the GIL
       held, so reactors in other threads never share them at the same time. */
    static union { struct cmsghdr align; char space[CMSG_SPACE(sizeof(int) * FR_MAX_RECV_FDS)]; } fr_recv_control;
    static struct iovec fr_recv_iov;
    static struct msghdr fr_recv_msg = {.msg_iov = &fr_recv_iov, .msg_iovlen = 1, .msg_control = &fr_recv_control};

    /* Sort what the last recvmsg's control data carried: descriptors (SCM_RIGHTS) into fds, up to
       max, close-on-exec, any beyond max closed here; *other counts control messages of another
       kind (with the level and type of the first in *other_level/*other_type). */
    static void fr_recv_control_data(int *fds, int max, int *nfds, int *other, int *other_level,
                                     int *other_type) {
        struct cmsghdr *c;
        for (c = CMSG_FIRSTHDR(&fr_recv_msg); c != NULL; c = CMSG_NXTHDR(&fr_recv_msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int), i;
                const unsigned char *data = CMSG_DATA(c);
                for (i = 0; i < count; i++) {
                    int d;
                    memcpy(&d, data + i * sizeof(int), sizeof(int));
                    if (*nfds < max) {
                        if (FR_RECV_FLAGS == 0) fcntl(d, F_SETFD, FD_CLOEXEC);
                        fds[(*nfds)++] = d;
                    } else {
                        close(d);
                    }
                }
            } else {
                if (*other == 0) {
                    *other_level = c->cmsg_level;
                    *other_type = c->cmsg_type;
                }
                (*other)++;
            }
        }
    }

    /* recvmsg into buf, with room for descriptors: the byte count, 0 at EOF, -1 with errno. When
       control data came too, it is sorted as fr_recv_control_data says, adding to *nfds and
       *other, which are 0 between reads (the caller takes what they count and zeroes them before
       any Python code can run); a read with no control data leaves them alone. */
    static inline ssize_t fr_recv_with_fds(int fd, char *buf, size_t size, int *fds, int max, int *nfds,
                                           int *other, int *other_level, int *other_type) {
        ssize_t n;
        fr_recv_iov.iov_base = buf;
        fr_recv_iov.iov_len = size;
        fr_recv_msg.msg_controllen = sizeof(fr_recv_control.space);
        n = recvmsg(fd, &fr_recv_msg, FR_RECV_FLAGS);
        if (n >= 0 && fr_recv_msg.msg_controllen != 0)
            fr_recv_control_data(fds, max, nfds, other, other_level, other_type);
        return n;
    }

    /* sendmsg of `count` buffers, with descriptor `pass` (SCM_RIGHTS) unless it is -1. */
    static ssize_t fr_send_with_fd(int fd, struct iovec *vec, int count, int pass, int flags) {
        union { struct cmsghdr align; char space[CMSG_SPACE(sizeof(int))]; } control;
        struct msghdr msg;
        struct cmsghdr *c;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = vec;
        msg.msg_iovlen = count;
        if (pass >= 0) {
            memset(&control, 0, sizeof(control));
            msg.msg_control = control.space;
            msg.msg_controllen = sizeof(control.space);
            c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &pass, sizeof(int));
        }
        return sendmsg(fd, &msg, flags);
    }

    /* The peer's process id (-1 where the platform does not say), user and group ids. */
    static int fr_peer_credentials(int fd, long *pid, long *uid, long *gid) {
    #if defined(SO_PEERCRED) && defined(__linux__)
        struct ucred cred;
        socklen_t length = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) < 0) return -1;
        *pid = cred.pid;
        *uid = cred.uid;
        *gid = cred.gid;
        return 0;
    #elif defined(FR_HAVE_GETPEEREID)
        uid_t u;
        gid_t g;
        if (getpeereid(fd, &u, &g) < 0) return -1;
        *uid = u;
        *gid = g;
        *pid = -1;
    #  if defined(LOCAL_PEERPID) && defined(SOL_LOCAL)
        {
            pid_t p;
            socklen_t length = sizeof(p);
            if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &p, &length) == 0) *pid = p;
        }
    #  endif
        return 0;
    #else
        errno = ENOSYS;
        return -1;
    #endif
    }
    """
    int FR_MAX_RECV_FDS
    ssize_t fr_recv_with_fds(int fd, char *buf, size_t size, int *fds, int max, int *nfds,
                             int *other, int *other_level, int *other_type)
    ssize_t fr_send_with_fd(int fd, iovec *vec, int count, int passed, int flags)
    int fr_peer_credentials(int fd, long *pid, long *uid, long *gid)


# What the last recvmsg carried: recv_into moves it into the connection (received_fds_pending,
# control_ignored) right after the call, before any Python code runs (a collection that runs a
# finalizer may let another thread's reactor read), so these are 0 between reads.
cdef int received_fds[253]
cdef int received_count = 0
cdef int other_control = 0
cdef int other_level = 0
cdef int other_type = 0

DESCRIPTOR_BUFFER_SIZE = 64
"""A streaming producer is paused while more than this many descriptors wait to be sent (as
Twisted's _SendmsgMixin._fileDescriptorBufferSize)."""


cdef class UNIXConnection(SocketStream):
    """A connected UNIX stream socket: the shared stream transport plus descriptor passing and
    peer credentials (Twisted's IUNIXTransport).

    UNIXConnection(loop, fd, family, peer=None): `fd` is a connected non-blocking AF_UNIX
    SOCK_STREAM socket, owned by the transport from then on.

    Descriptors: `sendFileDescriptor(fd)` sends a copy of `fd` (SCM_RIGHTS) with the next byte
    written after the call; each descriptor needs a byte of its own, so write at least as many
    bytes as descriptors. A descriptor still waiting for its byte when everything written has been
    sent loses the connection with FileDescriptorOverrun (as in Twisted). The caller keeps `fd`
    and must leave it open until it is sent. Descriptors received are handed, before the data
    that came with them, to `protocol.fileDescriptorReceived(fd)` if the protocol takes them
    (`_takesDescriptors`: a `fileDescriptorReceived` method natively, IFileDescriptorReceiver on
    the Twisted face), which then owns them; otherwise they are closed and the refusal is logged.
    Received descriptors are close-on-exec.
    """

    # ---- raw I/O -----------------------------------------------------------------------------------

    cdef ssize_t recv_into(self, char *buf, size_t size):
        cdef ssize_t n = fr_recv_with_fds(self.fd, buf, size, received_fds, FR_MAX_RECV_FDS,
                                          &received_count, &other_control, &other_level, &other_type)
        if received_count or other_control:
            self.keep_control_data()
        return n

    cdef void keep_control_data(self):
        """Move what the last recvmsg's control data carried from the module's buffers into this
        connection (on_readable hands it over); if that fails, close the descriptors."""
        global received_count, other_control
        cdef int i, count = received_count
        received_count = 0
        if other_control:
            other_control = 0
            self.control_ignored = (other_level, other_type)
        if not count:
            return
        try:
            fds = [received_fds[i] for i in range(count)]
            if self.received_fds_pending is None:
                self.received_fds_pending = fds
            else:
                self.received_fds_pending.extend(fds)
        except MemoryError:
            for i in range(count):
                close(received_fds[i])

    cdef object on_readable(self):
        cdef ssize_t n
        cdef int err
        cdef list fds
        cdef object data = self.read_some(&n)
        if n < 0:
            err = errno
            if err == EAGAIN or err == EWOULDBLOCK or err == EINTR:
                return None
            self.lose(self.loop.api.Failure(self.loop.api.CONNECTION_LOST))
            return None
        if self.control_ignored is not None:
            self.ancillary_ignored()
        if self.received_fds_pending is not None:
            fds = self.received_fds_pending
            self.received_fds_pending = None
            self.take_descriptors(fds)
            if self.disconnected:
                return None
        if n > 0:
            self.loop.stat_bytes_read += <unsigned long long>n
            self.deliver(data)
        else:
            self.read_eof()
        return None

    cdef int ancillary_ignored(self) except -1:
        level, kind = self.control_ignored
        self.control_ignored = None
        try:
            self._ancillaryIgnored(level, kind)
        except Exception:
            self.loop.report("Error logging ancillary data of %s" % (safe_repr(self),))
        return 0

    cdef int take_descriptors(self, list taken) except -1:
        """Hand the received descriptors `taken` to the protocol, or close them; never leak one."""
        cdef int i = 0
        cdef int count = len(taken)
        protocol = self.protocol
        try:
            wanted = protocol is not None and self._takesDescriptors(protocol)
        except Exception:
            self.loop.report("Error in _takesDescriptors of %s" % (safe_repr(self),))
            wanted = False
        if not wanted:
            for fd in taken:
                close(fd)
            try:
                self._descriptorsRefused(count)
            except Exception:
                self.loop.report("Error logging refused descriptors of %s" % (safe_repr(self),))
            return 0
        while i < count:
            if self.disconnected or self.protocol is not protocol:
                break
            i += 1
            try:
                protocol.fileDescriptorReceived(taken[i - 1])
            except Exception as e:
                self.loop.report("Unhandled Error in fileDescriptorReceived of %s" % (safe_repr(protocol),))
                for fd in taken[i:]:
                    close(fd)
                self.lose(self.loop.api.Failure(e))
                return 0
        for fd in taken[i:]:
            close(fd)
        return 0

    def _takesDescriptors(self, protocol):
        """Whether `protocol` takes received descriptors: natively, it has a callable
        fileDescriptorReceived (the Twisted face asks IFileDescriptorReceiver)."""
        return callable(getattr(protocol, "fileDescriptorReceived", None))

    def _descriptorsRefused(self, count):
        """Log that `count` received descriptors were closed because the protocol does not take
        them (a face may log in its own form)."""
        self.loop.api.logMessage(
            "%s (on %r) does not take file descriptors (no fileDescriptorReceived); closing %d "
            "descriptor(s) received (from %r)."
            % (type(self.protocol).__name__, self.getHost(), count, self.getPeer()))

    def _ancillaryIgnored(self, level, kind):
        """Log control data of a kind other than SCM_RIGHTS, which is ignored."""
        self.loop.api.logMessage(
            "%s (on %r) received unsupported ancillary data (level=%r, type=%r) from %r."
            % (type(self.protocol).__name__, self.getHost(), level, kind, self.getPeer()))

    cdef ssize_t send_some(self, iovec *vec, int count) except -2:
        if self.fd_marks:
            return self.send_with_descriptors(vec, count)
        return SocketStream.send_some(self, vec, count)

    cdef ssize_t send_with_descriptors(self, iovec *vec, int count) except -2:
        """Send `count` buffers as send_some does, each queued descriptor with its own byte: every
        send stops at the next mark, and a send starting at a mark carries its descriptor."""
        cdef iovec part[FR_IOV_BATCH]
        cdef list marks = self.fd_marks
        cdef Py_ssize_t total = 0, limit, offered, sent, length
        cdef int first = 0, parts, i, passed
        cdef size_t skip = 0
        cdef char *start
        while first < count:
            passed = -1
            limit = -1
            if marks:
                if marks[0][0] == 0:
                    passed = marks[0][1]
                    if len(marks) > 1:
                        limit = marks[1][0]
                else:
                    limit = marks[0][0]
            parts = 0
            offered = 0
            for i in range(first, count):
                start = <char *>vec[i].iov_base
                length = vec[i].iov_len
                if i == first:
                    start += skip
                    length -= skip
                if limit >= 0 and offered + length > limit:
                    length = limit - offered
                part[parts].iov_base = start
                part[parts].iov_len = length
                parts += 1
                offered += length
                if limit >= 0 and offered >= limit:
                    break
            sent = fr_send_with_fd(self.fd, part, parts, passed, FR_SEND_FLAGS)
            if sent < 0:
                return total if total else -1     # an error shows again on the next send
            total += sent
            if passed >= 0 and sent > 0:
                del marks[0]
            for mark in marks:
                mark[0] -= sent
            if sent < offered:
                return total
            # Move past what went out.
            while first < count and sent >= <Py_ssize_t>(vec[first].iov_len - skip):
                sent -= vec[first].iov_len - skip
                skip = 0
                first += 1
            skip += sent
        return total

    cdef int release_queue(self) except -1:
        self.fd_marks = None
        if self.received_fds_pending is not None:     # a read that failed after its recvmsg
            for fd in self.received_fds_pending:
                close(fd)
            self.received_fds_pending = None
        return StreamTransport.release_queue(self)

    cdef object on_writable(self):
        # A descriptor that still waits for its byte once the queue is empty will never have one:
        # FileDescriptorOverrun, as Twisted reports it, before any pending close goes ahead.
        if self.fd_marks and not self.aborting and not self.write_errno:
            if self.write_pending:
                self.flush()
            if self.fd_marks and not self.write_pending and not self.write_errno:
                self.lose(self.loop.api.Failure(self.loop.api.FileDescriptorOverrun()))
                return None
        return StreamTransport.on_writable(self)

    # ---- the IUNIXTransport API --------------------------------------------------------------------

    def sendFileDescriptor(self, fileno):
        """Queue a copy of descriptor `fileno` to go with the next byte written (see the class
        docstring). Ignored once the connection is closed, aborted or its write side shut down;
        TypeError unless `fileno` is an int, ValueError if it is negative."""
        if isinstance(fileno, bool) or not isinstance(fileno, int):
            raise TypeError("sendFileDescriptor: fileno must be an int, not %s" % (type(fileno).__name__,))
        if fileno < 0:
            raise ValueError("sendFileDescriptor: fileno must be >= 0, not %d" % (fileno,))
        if not self.connected or self.write_shut or self.aborting or self.fd < 0:
            return
        cdef Py_ssize_t offset = self.write_pending
        if self.fd_marks is None:
            self.fd_marks = []
        elif self.fd_marks and self.fd_marks[len(self.fd_marks) - 1][0] >= offset:
            offset = self.fd_marks[len(self.fd_marks) - 1][0] + 1
        self.fd_marks.append([offset, fileno])
        if (self.producer is not None and self.streamingProducer and not self.producerPaused
                and len(self.fd_marks) > DESCRIPTOR_BUFFER_SIZE):
            self.producerPaused = True
            self.producer.pauseProducing()
        self.loop.set_interest(self, self.interest | EV_WRITE)

    def getPeerCredentials(self):
        """The peer process's credentials as the kernel recorded them when the connection was
        made: (pid, uid, gid). `pid` is None where the platform does not report it (BSDs without
        LOCAL_PEERPID). Linux: SO_PEERCRED; macOS/BSD: getpeereid (and LOCAL_PEERPID on macOS).
        OSError once the connection is closed, or where the platform has neither."""
        cdef long pid = -1, uid = -1, gid = -1
        if self.fd < 0:
            raise socket_error(EBADF, "getPeerCredentials")
        if fr_peer_credentials(self.fd, &pid, &uid, &gid) < 0:
            raise socket_error(errno, "getPeerCredentials")
        return (None if pid < 0 else pid, uid, gid)
