# StreamPort: the one accept loop of every listening stream socket (TCP over IPv4/IPv6, UNIX):
# batched accepts per readiness (Twisted's numberAccepts), the EMFILE reserve, and no spinning on an
# error the loop cannot clear.
from posix.fcntl cimport open as open_path, O_RDONLY, O_CLOEXEC

cdef enum:
    ACCEPT_BATCH_MAX = 1000

ACCEPT_RETRY_DELAY = 0.1   # seconds to wait after an accept error before accepting again


# One descriptor held open for the whole process so that, when accept() fails with EMFILE, the
# port can free it, accept the waiting peers and close them at once (as Twisted does) instead of
# leaving them hanging in the backlog.
cdef int emfile_reserve = -1


cdef int reserve_emfile_descriptor():
    """Hold the EMFILE recovery descriptor if it is not held; 0 if held afterwards, else -1."""
    global emfile_reserve
    if emfile_reserve < 0:
        emfile_reserve = open_path(b"/dev/null", O_RDONLY | O_CLOEXEC)
    return 0 if emfile_reserve >= 0 else -1


def _release_emfile_reserve():
    """Close the EMFILE recovery descriptor (tests use it to reach the no-reserve path).
    True if one was held. The next listening port takes a new one."""
    global emfile_reserve
    if emfile_reserve < 0:
        return False
    close(emfile_reserve)
    emfile_reserve = -1
    return True


cdef class StreamPort(Handle):
    """The accept loop of a listening stream socket: per readiness, up to number_accepts
    connections, each given `factory.buildProtocol(address)` (None closes it) and a transport made
    by `connection_class(loop, fd, family, address)`, attached to the protocol.

    An exception from buildProtocol is logged and closes that connection only; one from
    makeConnection (connectionMade) is logged and leaves the connection open, as in Twisted. When
    accept() runs out of descriptors, the EMFILE reserve sheds the backlog (as Twisted does) or,
    without one, accepting pauses for ACCEPT_RETRY_DELAY; any other accept error is logged once
    (until an accept succeeds again) and also pauses accepting, so no error makes the loop spin.

    The socket is watched only while both the user and the retry allow it: `stopReading` (also
    `pauseProducing`, IReactorFDSet's removeReader) pauses the port until `startReading`
    (`resumeProducing`, addReader), whatever the retry timer does meanwhile; a retry pending
    when the user resumes still waits out its delay, then accepts.
    """

    def __init__(self, Loop loop, factory, connection_class):
        self.loop = loop
        self.factory = factory
        self.connection_class = connection_class
        self.number_accepts = 100

    def _startAccepting(self, int fd, int family):
        """Accept connections on the listening socket `fd` (still owned by the caller); a
        restarted port forgets the pause its stopListening made."""
        reserve_emfile_descriptor()
        self.fd = fd
        self.family = family
        self.connected = 1
        self.reading_paused = False
        self.watch()

    cdef int watch(self) except -1:
        """Watch the socket for readability if nothing holds accepting back: open, not
        stopping, not paused by the user, no accept retry pending."""
        if (self.fd >= 0 and not self.disconnecting and not self.reading_paused
                and self.retry_call is None):
            self.loop.set_interest(self, EV_READ)
        return 0

    def startReading(self):
        """Accept again after stopReading (at once, or when a pending accept retry is due)."""
        self.reading_paused = False
        self.watch()

    def stopReading(self):
        """Stop accepting until startReading; the socket stays open. An accept retry that
        falls due meanwhile leaves the port paused."""
        self.reading_paused = True
        if self.fd >= 0:
            self.loop.set_interest(self, 0)

    def pauseProducing(self):
        """As stopReading (Twisted's FileDescriptor.pauseProducing)."""
        self.stopReading()

    def resumeProducing(self):
        """As startReading, while the port listens (Twisted's FileDescriptor.resumeProducing)."""
        if self.connected and not self.disconnecting:
            self.startReading()

    cdef int fdset(self, int events, bint on) except -1:
        if events & EV_READ:
            if on:
                self.startReading()
            else:
                self.stopReading()
        return 0

    def _stopAccepting(self):
        """Stop watching the socket for good (and drop a pending accept retry); the caller
        closes it."""
        retry, self.retry_call = self.retry_call, None
        if retry is not None and retry.active():
            retry.cancel()
        if self.fd >= 0:
            self.loop.forget(self, False)
            self.fd = -1

    def fileno(self):
        return self.fd

    def _resumeAccepting(self):
        """The accept retry is due: accept again unless the user paused the port."""
        self.retry_call = None
        self.watch()

    cdef object on_readable(self):
        cdef sockaddr_storage ss
        cdef socklen_t length
        cdef int i, fd, err
        factory = self.factory
        for i in range(self.number_accepts):
            if self.disconnecting or self.fd < 0:
                return None
            length = sizeof(ss)
            fd = fr_accept(self.fd, <sockaddr *>&ss, &length)
            if fd < 0:
                err = errno
                if err == EAGAIN or err == EWOULDBLOCK:
                    self.number_accepts = max(i, 1)
                    return None
                if err == EINTR or err == ECONNABORTED or err == EPERM:
                    continue
                if err == EMFILE and emfile_reserve >= 0:
                    self.shed_backlog(self.number_accepts - i)
                    return None
                self.pause_accepting(err)
                return None
            self.last_accept_errno = 0
            self.loop.stat_accepted += 1
            address = socket_address(self.loop, <sockaddr *>&ss, length)
            try:
                protocol = factory.buildProtocol(address)
            except Exception:
                close(fd)
                self.loop.report("Unhandled Error in buildProtocol of %s" % (safe_repr(factory),))
                continue
            if protocol is None:
                close(fd)
                continue
            transport = self.connection_class(self.loop, fd, self.family, address)
            try:
                transport._attach(protocol)
            except Exception:
                if transport.protocol is None:
                    # _attach let go of the protocol before makeConnection: the poller refused the
                    # descriptor (select and a number at or above FD_SETSIZE), and it is closed.
                    self.loop.report("Closed the connection from %s at once: this reactor's poller "
                                     "cannot watch its descriptor" % (address,))
                else:
                    self.loop.report("Unhandled Error in makeConnection of %s" % (safe_repr(protocol),))
        if self.number_accepts < ACCEPT_BATCH_MAX:
            self.number_accepts += 20
        return None

    cdef int pause_accepting(self, int err) except -1:
        """accept() failed with `err` and the backlog cannot be shed: stop watching the socket
        for ACCEPT_RETRY_DELAY instead of spinning on a readiness we cannot consume. Logged once
        per run of the same error."""
        if err != self.last_accept_errno:
            self.last_accept_errno = err
            if err == EMFILE or err == ENFILE or err == ENOBUFS or err == ENOMEM:
                self.loop.api.logMessage("Could not accept new connection (%s); retrying in %gs"
                                         % (os.strerror(err), ACCEPT_RETRY_DELAY))
            else:
                self.loop.api.logMessage("accept() on %s failed: %s; retrying every %gs"
                                         % (safe_repr(self), os.strerror(err), ACCEPT_RETRY_DELAY))
        self.loop.set_interest(self, 0)
        if self.retry_call is None:
            self.retry_call = self.loop.callLater(ACCEPT_RETRY_DELAY, self._resumeAccepting)
        return 0

    cdef int shed_backlog(self, int budget) except -1:
        """EMFILE with the reserve held: free the reserve, accept up to `budget` waiting peers and
        close each at once, then take the reserve back. The peers see their connection closed
        rather than waiting in the backlog, and the socket stops being readable (no spin).
        Nothing is logged until the reserve is back: logging may need a descriptor."""
        global emfile_reserve
        cdef sockaddr_storage ss
        cdef socklen_t length
        cdef int fd
        closed = []
        close(emfile_reserve)
        emfile_reserve = -1
        while budget > 0:
            budget -= 1
            length = sizeof(ss)
            fd = fr_accept(self.fd, <sockaddr *>&ss, &length)
            if fd < 0:
                if errno == EINTR or errno == ECONNABORTED or errno == EPERM:
                    continue
                break
            close(fd)
            closed.append(socket_address(self.loop, <sockaddr *>&ss, length))
        reserved = reserve_emfile_descriptor() == 0
        log = self.loop.api.logMessage
        log("EMFILE encountered; releasing reserved file descriptor.")
        for address in closed:
            log("EMFILE recovery: Closed socket from %s" % (address,))
        if reserved:
            log("Re-reserving EMFILE recovery file descriptor.")
        else:
            log("Could not re-reserve EMFILE recovery file descriptor.")
        return 0
