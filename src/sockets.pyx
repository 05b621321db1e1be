# Stream sockets: socket addresses as the face's address objects, and SocketStream, the raw I/O
# layer of every stream socket (TCP, UNIX) under the shared StreamTransport.
import socket as _socket


cdef extern from *:
    """
    #include <sys/un.h>
    /* The name in a sockaddr_un of `length` bytes: its length (0 for an unnamed socket), *path
       set to its start; an abstract-namespace name starts with a NUL byte. */
    static inline Py_ssize_t fr_unix_name(const struct sockaddr *sa, socklen_t length, const char **path) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        Py_ssize_t n = (Py_ssize_t)length - (Py_ssize_t)offsetof(struct sockaddr_un, sun_path);
        *path = un->sun_path;
        if (n <= 0) return 0;
        if (un->sun_path[0] != 0) {
            Py_ssize_t end = 0;
            while (end < n && un->sun_path[end] != 0) end++;
            return end;
        }
        return n;
    }
    """
    Py_ssize_t fr_unix_name(const sockaddr *sa, socklen_t length, const char **path)


# The host string of the last IPv4 peer: a server's peers mostly come from few addresses, and
# inet_ntop plus the str it needs cost more than the rest of the address.
cdef uint32_t last_ipv4_addr = 0
cdef object last_ipv4_host = None


cdef object socket_address(Loop loop, const sockaddr *sa, socklen_t length):
    """The face's address object for a socket address: IPv4Address/IPv6Address ("TCP") for an IP
    socket, UNIXAddress for a UNIX one (its name as Python's socket module gives it: a str path,
    bytes for a Linux abstract name, None when unnamed); None for another family."""
    global last_ipv4_addr, last_ipv4_host
    cdef char host[128]
    cdef int port
    cdef unsigned int flowinfo, scope
    cdef const sockaddr_in *sin
    cdef const char *path
    cdef Py_ssize_t n
    if sa.sa_family == AF_INET:
        sin = <const sockaddr_in *>sa
        if last_ipv4_host is None or sin.sin_addr.s_addr != last_ipv4_addr:
            fr_sockaddr_parts(sa, host, sizeof(host), &port, &flowinfo, &scope)
            last_ipv4_host = host.decode("ascii")
            last_ipv4_addr = sin.sin_addr.s_addr
        return loop.api.IPv4Address("TCP", last_ipv4_host, ntohs(sin.sin_port))
    if sa.sa_family == AF_INET6:
        fr_sockaddr_parts(sa, host, sizeof(host), &port, &flowinfo, &scope)
        return loop.api.IPv6Address("TCP", host.decode("ascii"), port, flowinfo, scope)
    if sa.sa_family == AF_UNIX:
        n = fr_unix_name(sa, length, &path)
        if n == 0:
            return loop.api.UNIXAddress(None)
        if path[0] == 0:
            return loop.api.UNIXAddress(path[:n])
        return loop.api.UNIXAddress(os.fsdecode(path[:n]))
    return None


cdef object socket_error(int err, str what):
    return OSError(err, "%s: %s" % (what, os.strerror(err)))


cdef class SocketStream(StreamTransport):
    """A connected stream socket (TCP or UNIX) under the shared StreamTransport: recv, send or
    sendmsg, shutdown and close; addresses, socket options and getHandle().

    SocketStream(loop, fd, family, peer=None) takes ownership of `fd`, a connected non-blocking
    socket; `peer` is its remote address if the caller already has it.
    """

    def __init__(self, Loop loop, int fd, int family, peer=None):
        StreamTransport.__init__(self, loop, fd)
        self.family = family
        self.peer = peer
        fr_set_nosigpipe(fd)    # no-op where sends say MSG_NOSIGNAL instead

    def __dealloc__(self):
        # Only reached for a transport that never closed (its loop was discarded while it was open).
        # Once getHandle() made a socket object, that object owns the fd (the collector may already
        # have freed it, closing the fd, and the number may be someone else's by now).
        if self.fd >= 0 and not self.handle_exposed:
            close(self.fd)

    def __repr__(self):
        return "<%s fd=%d connected=%d peer=%r>" % (type(self).__name__, self.fd, self.connected, self.peer)

    # ---- raw I/O -----------------------------------------------------------------------------------

    cdef ssize_t recv_into(self, char *buf, size_t size):
        return recv(self.fd, buf, size, 0)

    cdef ssize_t send_some(self, iovec *vec, int count) except -2:
        cdef msghdr msg
        if count == 1:
            # The usual reply: send() spares the kernel copying in a msghdr and an iovec.
            return send(self.fd, vec[0].iov_base, vec[0].iov_len, FR_SEND_FLAGS)
        memset(&msg, 0, sizeof(msg))
        msg.msg_iov = vec
        msg.msg_iovlen = count
        return sendmsg(self.fd, &msg, FR_SEND_FLAGS)

    cdef int shut_write(self) except -1:
        shutdown(self.fd, SHUT_WR)
        return 0

    cdef int close_descriptor(self, bint abortive) except -1:
        cdef int fd = self.fd
        if fd < 0:
            return 0
        self.loop.forget(self, False)
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

    # ---- addresses and options ---------------------------------------------------------------------

    def getPeer(self):
        """The remote address (IPv4Address/IPv6Address, or UNIXAddress)."""
        cdef sockaddr_storage ss
        cdef socklen_t length = sizeof(ss)
        if self.peer is None and self.fd >= 0:
            if getpeername(self.fd, <sockaddr *>&ss, &length) == 0:
                self.peer = socket_address(self.loop, <sockaddr *>&ss, length)
        return self.peer

    def getHost(self):
        """The local address (IPv4Address/IPv6Address, or UNIXAddress)."""
        cdef sockaddr_storage ss
        cdef socklen_t length = sizeof(ss)
        if self.host is None and self.fd >= 0:
            if getsockname(self.fd, <sockaddr *>&ss, &length) == 0:
                self.host = socket_address(self.loop, <sockaddr *>&ss, length)
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

    def getHandle(self):
        """A socket.socket for this connection's descriptor (owned by the transport: do not close
        it). Taking it is safe for the engine: closing always takes the descriptor out of the
        poller first."""
        if self.socket_object is None and self.fd >= 0:
            self.handle_exposed = True
            self.socket_object = _socket.socket(self.family, _socket.SOCK_STREAM, 0, self.fd)
        return self.socket_object

    @property
    def socket(self):
        return self.getHandle()
