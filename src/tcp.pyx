# TCP: the connection transport and the listening port's accept loop. The per-message path is
# poll -> recv into a reused buffer -> bytes -> protocol.dataReceived -> write -> send, with no
# epoll_ctl unless the kernel refuses part of a write.
import socket as _socket

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memset
from posix.fcntl cimport open as open_path, O_RDONLY, O_CLOEXEC
from cpython.object cimport PyObject


cdef extern from "Python.h":
    # The raw forms, for a bytes object whose single reference this module manages by hand.
    PyObject *new_bytes "PyBytes_FromStringAndSize"(const char *data, Py_ssize_t size) except NULL
    char *bytes_data "PyBytes_AS_STRING"(PyObject *o)
    int resize_bytes "_PyBytes_Resize"(PyObject **o, Py_ssize_t size) except -1
    object steal_object "(PyObject *)"(PyObject *o)

cdef enum:
    ACCEPT_BATCH_MAX = 1000
    JOIN_SEQUENCE_UP_TO = 8192    # writeSequence joins its pieces into one bytes up to this total

ACCEPT_RETRY_DELAY = 0.1   # seconds to wait after EMFILE/ENFILE before accepting again


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


# The host string of the last IPv4 peer: a server's peers mostly come from few addresses, and
# inet_ntop plus the str it needs cost more than the rest of the address.
cdef uint32_t last_ipv4_addr = 0
cdef object last_ipv4_host = None


cdef object make_address(Loop loop, const sockaddr *sa):
    """An IPv4Address/IPv6Address (of the face's types) for a socket address."""
    global last_ipv4_addr, last_ipv4_host
    cdef char host[128]
    cdef int port
    cdef unsigned int flowinfo, scope
    cdef const sockaddr_in *sin
    if sa.sa_family == AF_INET:
        sin = <const sockaddr_in *>sa
        if last_ipv4_host is None or sin.sin_addr.s_addr != last_ipv4_addr:
            fr_sockaddr_parts(sa, host, sizeof(host), &port, &flowinfo, &scope)
            last_ipv4_host = host.decode("ascii")
            last_ipv4_addr = sin.sin_addr.s_addr
        return loop.api.IPv4Address("TCP", last_ipv4_host, ntohs(sin.sin_port))
    cdef int family = fr_sockaddr_parts(sa, host, sizeof(host), &port, &flowinfo, &scope)
    if family == AF_INET6:
        return loop.api.IPv6Address("TCP", host.decode("ascii"), port, flowinfo, scope)
    return None


# Reads go into a bytes object of READ_CHUNK bytes kept here between reads. A small read is copied
# out of it into a bytes of its size; a large one is handed over as it is, shrunk in place, which
# saves copying it (a 64 KiB copy costs as much as the rest of the read path), and the next read
# makes a new buffer.
cdef enum:
    HAND_OVER_AT = 16384

cdef PyObject *spare_read_buffer = NULL


cdef object read_bytes(int fd, ssize_t *count):
    """recv() up to READ_CHUNK bytes from `fd`: the bytes read, or None with *count 0 at EOF or
    -1 on error (errno set)."""
    global spare_read_buffer
    cdef PyObject *buf = spare_read_buffer
    cdef ssize_t n
    if buf == NULL:
        buf = new_bytes(NULL, READ_CHUNK)
    spare_read_buffer = NULL
    n = recv(fd, bytes_data(buf), READ_CHUNK, 0)
    count[0] = n
    if n >= HAND_OVER_AT:
        if n < READ_CHUNK:
            resize_bytes(&buf, n)
        return steal_object(buf)
    spare_read_buffer = buf
    if n <= 0:
        return None
    return PyBytes_FromStringAndSize(bytes_data(buf), n)


cdef object socket_error(int err, str what):
    return OSError(err, "%s: %s" % (what, os.strerror(err)))


cdef class TCPConnection(Handle):
    """A connected TCP socket: Twisted's ITCPTransport (plus IProducer/IConsumer) on a raw fd.

    write() queues; the queue goes out in one sendmsg when the connection's dataReceived returns
    or before the loop polls, and what the kernel does not take is sent when the socket is writable. loseConnection() sends everything queued first; abortConnection()
    drops it and resets the connection. The protocol's connectionLost runs exactly once.
    """

    def __init__(self, Loop loop, int fd, int family, peer=None):
        self.loop = loop
        self.fd = fd
        self.family = family
        self.peer = peer
        self.connected = 1
        self.bufferSize = 65536
        self.low_water = 0

    def __dealloc__(self):
        # Only reached for a transport that never closed (its loop was discarded while it was open).
        # Once getHandle() made a socket object, that object owns the fd (the collector may already
        # have freed it, closing the fd, and the number may be someone else's by now).
        if self.fd >= 0 and not self.handle_exposed:
            close(self.fd)

    def __repr__(self):
        return "<%s fd=%d connected=%d peer=%r>" % (type(self).__name__, self.fd, self.connected, self.peer)

    # ---- used by the port and the connector ------------------------------------------------------

    def _attach(self, protocol):
        """Start reading and hand this transport to `protocol.makeConnection`."""
        self.protocol = protocol
        self.half_closeable = self.loop.api.isHalfCloseable(protocol)
        self.start_reading()
        protocol.makeConnection(self)

    cdef int start_reading(self) except -1:
        if self.fd >= 0:
            self.loop.set_interest(self, self.interest | EV_READ)
        return 0

    cdef int stop_reading(self) except -1:
        if self.fd >= 0:
            self.loop.set_interest(self, self.interest & ~EV_READ)
        return 0

    # ---- reading ---------------------------------------------------------------------------------

    cdef object on_readable(self):
        cdef ssize_t n
        cdef object data = read_bytes(self.fd, &n)
        if n > 0:
            self.receiving = True
            try:
                self.protocol.dataReceived(data)
            except Exception as e:
                self.receiving = False
                self.loop.report("Unhandled Error in dataReceived of %r" % (self.protocol,))
                self.lose(self.loop.api.Failure(e))
                return None
            self.receiving = False
            # Send this connection's replies now rather than after the whole poll batch, so the
            # peer can work while the other ready connections are read. Everything done in the
            # same callback (write then abort or lose) has already taken effect.
            if self.flush_queued:
                self.flush_before_poll()
            return None
        if n == 0:
            self.read_eof()
            return None
        if errno == EAGAIN or errno == EWOULDBLOCK or errno == EINTR:
            return None
        self.lose(self.loop.api.Failure(self.loop.api.CONNECTION_LOST))

    cdef int read_eof(self) except -1:
        api = self.loop.api
        if self.write_errno:
            # A failed send consumed the socket's error (e.g. ECONNRESET): this EOF is not clean.
            self.lose(api.Failure(api.CONNECTION_LOST))
            return 0
        if not self.half_closeable:
            self.lose(api.Failure(api.CONNECTION_DONE))
            return 0
        # IHalfCloseableProtocol: the peer finished sending; we may go on writing.
        self.stop_reading()
        self.read_shut = True
        try:
            self.protocol.readConnectionLost()
        except Exception as e:
            self.loop.report("Unhandled Error in readConnectionLost of %r" % (self.protocol,))
            self.lose(api.Failure(e))
        return 0

    # ---- writing ---------------------------------------------------------------------------------

    def write(self, data):
        """Queue `data` (bytes) to be sent, in order: as soon as this connection's dataReceived
        returns, or else just before the loop next polls (one sendmsg for all that was queued); what
        the kernel does not take then is sent when the socket is writable. Ignored once the
        connection is closed or its write side shut down; TypeError for anything but bytes."""
        if type(data) is not bytes:
            if not isinstance(data, bytes):
                raise TypeError("Data must be bytes")
        if not self.connected or self.write_shut or self.aborting:
            return
        if PyBytes_GET_SIZE(data):
            self.enqueue(data)

    def writeSequence(self, iovec):
        """Write each bytes object of `iovec` in order (TypeError if any is not bytes; then nothing
        is written)."""
        cdef list chunks = list(iovec)
        cdef Py_ssize_t total = 0
        for chunk in chunks:
            if not isinstance(chunk, bytes):
                raise TypeError("Data must be bytes")
            total += PyBytes_GET_SIZE(chunk)
        if not self.connected or self.write_shut or self.aborting or not total:
            return
        if total <= JOIN_SEQUENCE_UP_TO:
            # Many small pieces (an HTTP response's headers): one copy is cheaper than queueing and
            # sending each one as its own iovec entry.
            self.enqueue(b"".join(chunks))
            return
        for chunk in chunks:
            if PyBytes_GET_SIZE(chunk):
                self.enqueue(chunk)

    cdef int enqueue(self, object data) except -1:
        cdef list chunks = self.write_chunks
        if chunks is None:
            self.write_chunks = chunks = []
        chunks.append(data)
        self.write_pending += PyBytes_GET_SIZE(data)
        if not self.flush_queued and not (self.interest & EV_WRITE):
            self.flush_queued = True
            if not self.receiving:      # else on_readable flushes when dataReceived returns
                self.loop.unflushed.append(self)
        self.maybe_pause_producer()
        return 0

    cdef int flush_before_poll(self) except -1:
        """Called by the loop before it polls: send what this iteration wrote. Anything that
        needs a callback (the rest of the queue, an error, a pending close, a producer to resume)
        waits for writability, as in Twisted, so callbacks keep Twisted's order."""
        self.flush_queued = False
        if self.fd < 0 or self.aborting or not self.write_pending:
            return 0
        self.flush()
        # A streaming producer that is not paused needs nothing when the queue empties (Twisted
        # calls it only to resume it), so only a pull producer or a paused one waits for writability.
        if (self.write_pending or self.write_errno or self.disconnecting or self.write_shut_requested
                or (self.producer is not None and (not self.streamingProducer or self.producerPaused))):
            self.loop.set_interest(self, self.interest | EV_WRITE)
        return 0

    cdef int maybe_pause_producer(self) except -1:
        if (self.producer is not None and self.streamingProducer and not self.producerPaused
                and self.write_pending > self.bufferSize):
            self.producerPaused = True
            self.producer.pauseProducing()
        return 0

    cdef int flush(self) except -1:
        """Send what the kernel takes of the queue; an error is kept in write_errno."""
        cdef iovec vec[64]
        cdef msghdr msg
        cdef Py_ssize_t i, count, sent, length
        cdef list chunks
        cdef object chunk
        memset(&msg, 0, sizeof(msg))
        while self.write_pending and not self.write_errno:
            chunks = self.write_chunks
            count = min(len(chunks), FR_IOV_BATCH)
            for i in range(count):
                chunk = chunks[i]
                vec[i].iov_base = PyBytes_AS_STRING(chunk)
                vec[i].iov_len = PyBytes_GET_SIZE(chunk)
            vec[0].iov_base = <char *>vec[0].iov_base + self.write_offset
            vec[0].iov_len -= self.write_offset
            if count == 1:
                # The usual reply: send() spares the kernel copying in a msghdr and an iovec.
                sent = send(self.fd, vec[0].iov_base, vec[0].iov_len, FR_SEND_FLAGS)
            else:
                msg.msg_iov = vec
                msg.msg_iovlen = count
                sent = sendmsg(self.fd, &msg, FR_SEND_FLAGS)
            if sent < 0:
                if errno == EAGAIN or errno == EWOULDBLOCK or errno == ENOBUFS or errno == EINTR:
                    return 0
                self.write_errno = errno
                return 0
            self.write_pending -= sent
            # Drop the chunks that went out whole; keep an offset into the first partial one.
            sent += self.write_offset
            i = 0
            while i < count:
                length = PyBytes_GET_SIZE(chunks[i])
                if sent < length:
                    break
                sent -= length
                i += 1
            del chunks[:i]
            self.write_offset = sent
            if i < count:
                return 0    # the kernel took less than offered: wait for writability
        if not self.write_pending:
            self.write_offset = 0
        return 0

    cdef object on_writable(self):
        api = self.loop.api
        if self.write_pending:
            self.flush()
        if self.write_errno:
            self.lose(api.Failure(api.CONNECTION_LOST))
            return None
        if self.write_pending:
            if (self.producer is not None and self.streamingProducer and self.producerPaused
                    and self.write_pending <= self.low_water):
                self.producerPaused = False
                self.producer.resumeProducing()
            return None
        self.loop.set_interest(self, self.interest & ~EV_WRITE)
        if self.producer is not None and (not self.streamingProducer or self.producerPaused):
            self.producerPaused = False
            self.producer.resumeProducing()
        elif self.disconnecting:
            self.lose(api.Failure(api.CONNECTION_DONE))
        elif self.write_shut_requested and not self.write_shut:
            self.write_shut = True
            shutdown(self.fd, SHUT_WR)
            if self.half_closeable:
                try:
                    self.protocol.writeConnectionLost()
                except Exception as e:
                    self.loop.report("Unhandled Error in writeConnectionLost of %r" % (self.protocol,))
                    self.lose(api.Failure(e))
        return None

    def _watchWritable(self, bint watch):
        """Watch (True) or stop watching (False) the socket for writability, as Twisted's
        FileDescriptor.startWriting()/stopWriting(): IReactorFDSet.addWriter/removeWriter on a
        transport. Watching with nothing queued finds nothing to send and stops again (after
        resuming a pull or paused producer); the next write() watches again as needed."""
        if self.fd < 0 or self.disconnected:
            return
        if watch:
            self.loop.set_interest(self, self.interest | EV_WRITE)
        else:
            self.loop.set_interest(self, self.interest & ~EV_WRITE)

    # ---- closing ---------------------------------------------------------------------------------

    def loseConnection(self):
        """Close once everything written so far is sent (and a registered producer is done)."""
        if self.connected and not self.disconnecting:
            if self.write_shut:
                self.stop_reading()
                self.loop.set_interest(self, 0)
                self.lose(self.loop.api.Failure(self.loop.api.CONNECTION_DONE))
            else:
                self.stop_reading()
                self.loop.set_interest(self, self.interest | EV_WRITE)
                self.disconnecting = 1

    def loseWriteConnection(self):
        """Shut down the write side (a FIN) once the queue is sent; reading goes on."""
        self.write_shut_requested = True
        if self.connected and self.fd >= 0:
            self.loop.set_interest(self, self.interest | EV_WRITE)

    def abortConnection(self):
        """Close now, dropping anything queued, with an RST; connectionLost gets ConnectionAborted
        on the next iteration."""
        if self.disconnected or self.aborting:
            return
        self.aborting = True
        self.loop.set_interest(self, 0)
        self.loop.callLater(0, self._abort)

    def _abort(self):
        self.lose(self.loop.api.Failure(self.loop.api.ConnectionAborted()))

    def connectionLost(self, reason):
        """Tear the connection down now with `reason` (a Failure); used by the faces. A
        ConnectionAborted reason closes with an RST, as abortConnection does."""
        if reason.check(self.loop.api.ConnectionAborted) is not None:
            self.aborting = True
        self.lose(reason)

    cdef int close_socket(self, bint abortive) except -1:
        cdef int fd = self.fd
        if fd < 0:
            return 0
        self.loop.forget(self, not self.handle_exposed)
        self.fd = -1
        if abortive:
            fr_set_abortive_close(fd)
        else:
            # As Twisted does: the FIN goes out even if another descriptor still refers to this
            # socket (the original kept by adoptStreamConnection's caller, a dup, a forked child).
            shutdown(fd, SHUT_RDWR)
        if self.socket_object is not None:
            self.socket_object.detach()
        close(fd)
        return 0

    cdef int lose(self, object reason) except -1:
        """Twisted's Connection.connectionLost: once, in Twisted's order."""
        if self.disconnected:
            return 0
        api = self.loop.api
        self.disconnected = 1
        self.connected = 0
        producer = self.producer
        self.producer = None
        if producer is not None:
            try:
                producer.stopProducing()
            except Exception:
                self.loop.report("Error stopping producer")
        self.close_socket(self.aborting)
        self.write_chunks = None
        self.write_pending = 0
        protocol = self.protocol
        self.protocol = None
        if protocol is not None:
            try:
                protocol.connectionLost(reason)
            except Exception:
                self.loop.report("Unhandled Error in connectionLost of %r" % (protocol,))
        connector = self.connector
        if connector is not None:
            self.connector = None
            try:
                connector.connectionLost(reason)
            except Exception:
                self.loop.report("Unhandled Error in clientConnectionLost of %r" % (connector,))
        return 0

    # ---- producer / consumer ---------------------------------------------------------------------

    def pauseProducing(self):
        """Stop reading from the socket (IPushProducer)."""
        self.stop_reading()

    def resumeProducing(self):
        """Resume reading from the socket (IPushProducer), unless disconnecting."""
        if self.connected and not self.disconnecting and not self.read_shut:
            self.start_reading()

    def stopProducing(self):
        """Same as loseConnection (IProducer)."""
        self.loseConnection()

    def registerProducer(self, producer, streaming):
        """Register a push (streaming=True) or pull producer, as Twisted's transports do:
        push producers are paused above the high-water mark and resumed when the queue drains to
        the low one; pull producers are asked for more each time the queue empties."""
        if self.producer is not None:
            raise RuntimeError("Cannot register producer %s, because producer %s was never "
                               "unregistered." % (producer, self.producer))
        if self.disconnected:
            producer.stopProducing()
            return
        self.producer = producer
        self.streamingProducer = bool(streaming)
        self.producerPaused = False
        if not streaming:
            producer.resumeProducing()

    def unregisterProducer(self):
        """Forget the producer; a pending loseConnection proceeds."""
        self.producer = None
        if self.connected and self.disconnecting:
            self.loop.set_interest(self, self.interest | EV_WRITE)

    def setWriteBufferLimits(self, high=None, low=None):
        """Set the queue size above which a push producer is paused (default 64 KiB, Twisted's
        bufferSize) and at or below which it is resumed (default 0: when the queue is empty)."""
        if high is not None:
            if high < 0:
                raise ValueError("high must be >= 0")
            self.bufferSize = high
        if low is not None:
            if low < 0 or low > self.bufferSize:
                raise ValueError("low must be between 0 and high")
            self.low_water = low

    def getWriteBufferSize(self):
        """Bytes queued and not yet taken by the kernel."""
        return self.write_pending

    # ---- addresses and socket options ------------------------------------------------------------

    def getPeer(self):
        """The remote address (IPv4Address/IPv6Address)."""
        cdef sockaddr_storage ss
        cdef socklen_t length = sizeof(ss)
        if self.peer is None and self.fd >= 0:
            if getpeername(self.fd, <sockaddr *>&ss, &length) == 0:
                self.peer = make_address(self.loop, <sockaddr *>&ss)
        return self.peer

    def getHost(self):
        """The local address (IPv4Address/IPv6Address)."""
        cdef sockaddr_storage ss
        cdef socklen_t length = sizeof(ss)
        if self.host is None and self.fd >= 0:
            if getsockname(self.fd, <sockaddr *>&ss, &length) == 0:
                self.host = make_address(self.loop, <sockaddr *>&ss)
        return self.host

    cdef int set_option(self, int level, int name, value) except -1:
        if self.fd < 0:
            raise socket_error(EBADF, "setsockopt")
        if fr_set_int_option(self.fd, level, name, 1 if value else 0) < 0:
            raise socket_error(errno, "setsockopt")
        return 0

    cdef int get_option(self, int level, int name) except -2:
        if self.fd < 0:
            raise socket_error(EBADF, "getsockopt")
        cdef int value = fr_get_int_option(self.fd, level, name)
        if value < 0:
            raise socket_error(errno, "getsockopt")
        return value

    def setTcpNoDelay(self, enabled):
        """Turn Nagle's algorithm off (True) or on (False)."""
        self.set_option(IPPROTO_TCP, TCP_NODELAY, enabled)

    def getTcpNoDelay(self):
        return bool(self.get_option(IPPROTO_TCP, TCP_NODELAY))

    def setTcpKeepAlive(self, enabled):
        """Turn TCP keepalive probes on or off."""
        self.set_option(SOL_SOCKET, SO_KEEPALIVE, enabled)

    def getTcpKeepAlive(self):
        return bool(self.get_option(SOL_SOCKET, SO_KEEPALIVE))

    def getHandle(self):
        """A socket.socket for this connection's descriptor (owned by the transport: do not close it)."""
        if self.socket_object is None and self.fd >= 0:
            self.handle_exposed = True
            self.socket_object = _socket.socket(self.family, _socket.SOCK_STREAM, 0, self.fd)
        return self.socket_object

    @property
    def socket(self):
        return self.getHandle()

    def fileno(self):
        """The socket's descriptor, or -1 once closed."""
        return self.fd

    def logPrefix(self):
        protocol = self.protocol
        return type(protocol).__name__ if protocol is not None else type(self).__name__


cdef class TCPPort(Handle):
    """The accept loop of a listening socket: per readiness, up to number_accepts connections, each
    given `factory.buildProtocol(addr)` and a TCPConnection (None from buildProtocol closes it)."""

    def __init__(self, Loop loop, factory, connection_class=TCPConnection):
        self.loop = loop
        self.factory = factory
        self.connection_class = connection_class
        self.number_accepts = 100

    def _startAccepting(self, int fd, int family):
        """Accept connections on the listening socket `fd` (still owned by the caller)."""
        reserve_emfile_descriptor()
        self.fd = fd
        self.family = family
        self.connected = 1
        self.loop.set_interest(self, EV_READ)

    def startReading(self):
        """Watch the listening socket again (after stopReading)."""
        if self.fd >= 0:
            self.loop.set_interest(self, EV_READ)

    def stopReading(self):
        """Stop accepting for now; the socket stays open."""
        if self.fd >= 0:
            self.loop.set_interest(self, 0)

    def _stopAccepting(self):
        """Stop watching the socket for good; the caller closes it."""
        if self.fd >= 0:
            self.loop.forget(self, True)
            self.fd = -1

    def fileno(self):
        return self.fd

    def _resumeAccepting(self):
        if self.fd >= 0 and not self.disconnecting:
            self.loop.set_interest(self, EV_READ)

    cdef object on_readable(self):
        cdef sockaddr_storage ss
        cdef socklen_t length
        cdef int i, fd, err
        cdef TCPConnection transport
        factory = self.factory
        for i in range(self.number_accepts):
            if self.disconnecting:
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
                if err == EMFILE or err == ENFILE or err == ENOBUFS or err == ENOMEM:
                    # Out of descriptors and no reserve to shed the backlog with: stop watching the
                    # socket for a moment instead of spinning on a readiness we cannot consume.
                    self.loop.api.logMessage("Could not accept new connection (%s); retrying in %gs"
                                             % (os.strerror(err), ACCEPT_RETRY_DELAY))
                    self.loop.set_interest(self, 0)
                    self.loop.callLater(ACCEPT_RETRY_DELAY, self._resumeAccepting)
                    return None
                raise socket_error(err, "accept")
            address = make_address(self.loop, <sockaddr *>&ss)
            try:
                protocol = factory.buildProtocol(address)
            except Exception:
                close(fd)
                self.loop.report("Unhandled Error in buildProtocol of %r" % (factory,))
                continue
            if protocol is None:
                close(fd)
                continue
            transport = self.connection_class(self.loop, fd, self.family, address)
            try:
                transport._attach(protocol)
            except Exception:
                self.loop.report("Unhandled Error in makeConnection of %r" % (protocol,))
        if self.number_accepts < ACCEPT_BATCH_MAX:
            self.number_accepts += 20
        return None

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
            closed.append(make_address(self.loop, <sockaddr *>&ss))
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
