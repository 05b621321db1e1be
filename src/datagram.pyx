# Datagram sockets (UDP over IPv4/IPv6, UNIX datagram): one transport for both. The per-datagram
# path is poll -> recvmmsg of a bounded batch into a shared area -> one bytes per datagram and a
# cached address -> protocol.datagramReceived -> write() -> one sendmmsg for the batch's replies;
# any other write() is one sendto, with no queue.
import errno as _errno

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.ref cimport Py_INCREF, Py_XDECREF
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memcmp, memset, strlen

cdef enum:
    MAX_UDP4_PAYLOAD = 65507     # larger: EMSGSIZE, which write() raises, so never queued
    MAX_UDP6_PAYLOAD = 65527
    RECV_BATCH = 32              # datagrams per readiness at most (as libuv)
    RECV_BUDGET = 262144         # and at most this many bytes of buffers (Twisted's maxThroughput)

# One receive area shared by every datagram socket (RECV_BATCH slots of maxPacketSize bytes):
# its contents are turned into bytes objects before anything else can run, except when a
# datagramReceived callback nests a dispatch (reactor.iterate() from inside it); `recv_area_busy`
# sends such a nested read through receive_one, which uses its own buffer.
cdef char *recv_area = NULL
cdef size_t recv_area_size = 0
cdef bint recv_area_busy = False
cdef mmsghdr recv_msgs[RECV_BATCH]
cdef iovec recv_iov[RECV_BATCH]
cdef sockaddr_storage recv_names[RECV_BATCH]
cdef bint mmsg_works = FR_HAVE_MMSG    # cleared if the kernel answers ENOSYS (some sandboxes)

# Replies queued by the socket whose batch is being delivered (at most one at a time in the
# process: a nested or concurrent read goes through receive_one, which does not batch), sent
# together by one sendmmsg when the batch's callbacks have returned.
cdef mmsghdr reply_msgs[RECV_BATCH]
cdef iovec reply_iov[RECV_BATCH]
cdef sockaddr_storage reply_names[RECV_BATCH]
cdef PyObject *reply_data[RECV_BATCH]
cdef int reply_count = 0


def _useDatagramBatchCalls(bint enabled):
    """Use recvmmsg/sendmmsg (True, where the platform has them) or the recvfrom/sendto loops
    other platforms use (False); returns the previous setting. For tests of the fallback."""
    global mmsg_works
    previous = mmsg_works
    mmsg_works = enabled and FR_HAVE_MMSG
    return previous


cdef int ensure_recv_area(size_t size) except -1:
    global recv_area, recv_area_size
    if size <= recv_area_size:
        return 0
    cdef char *area = <char *>malloc(size)
    if area == NULL:
        raise MemoryError()
    free(recv_area)
    recv_area = area
    recv_area_size = size
    return 0


cdef size_t prepared_slot = 0         # the slot size and count recv_msgs/recv_iov are set up for
cdef int prepared_count = 0
cdef char *prepared_area = NULL


cdef inline void prepare_recv_slots(size_t slot, int count) noexcept:
    """Point the first `count` message headers at slots of `slot` bytes of the receive area;
    when they already are, only the name lengths (which recvmmsg overwrites) are reset."""
    global prepared_slot, prepared_count, prepared_area
    cdef int i
    if slot == prepared_slot and count <= prepared_count and recv_area == prepared_area:
        for i in range(count):
            recv_msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage)
        return
    for i in range(count):
        recv_iov[i].iov_base = recv_area + slot * i
        recv_iov[i].iov_len = slot
        memset(&recv_msgs[i].msg_hdr, 0, sizeof(msghdr))
        recv_msgs[i].msg_hdr.msg_name = &recv_names[i]
        recv_msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage)
        recv_msgs[i].msg_hdr.msg_iov = &recv_iov[i]
        recv_msgs[i].msg_hdr.msg_iovlen = 1
    prepared_slot = slot
    prepared_count = count
    prepared_area = recv_area


cdef inline unsigned int name_hash(const unsigned char *p, socklen_t length) noexcept:
    cdef unsigned int h = 2166136261u
    cdef socklen_t i
    cdef const sockaddr_in *sin
    if length == sizeof(sockaddr_in) and (<const sockaddr *>p).sa_family == AF_INET:
        sin = <const sockaddr_in *>p     # the usual case: two words, not sixteen bytes
        return (sin.sin_addr.s_addr * 2654435761u) ^ (sin.sin_port * 40503u) ^ (sin.sin_addr.s_addr >> 16)
    for i in range(length):
        h = (h ^ p[i]) * 16777619u
    return h


cdef object make_datagram_address(const sockaddr *sa, socklen_t length):
    """The address Twisted hands datagramReceived for a socket address: (host, port) for IP
    (an IPv6 link-local host keeps its %scope), the path for UNIX (bytes for Linux's abstract
    namespace, str otherwise), None for an unbound UNIX sender."""
    cdef char host[128]
    cdef int port
    cdef unsigned int flowinfo, scope
    cdef int family = sa.sa_family
    cdef const char *path
    cdef Py_ssize_t n
    if family == AF_INET or family == AF_INET6:
        fr_sockaddr_parts(sa, host, sizeof(host), &port, &flowinfo, &scope)
        return (host.decode("ascii"), port)
    if family == AF_UNIX:
        if length <= FR_SUN_PATH_OFFSET:
            return None
        path = (<const char *>sa) + FR_SUN_PATH_OFFSET
        n = length - FR_SUN_PATH_OFFSET
        if path[0] == 0:
            return PyBytes_FromStringAndSize(path, n)
        n = min(<Py_ssize_t>strlen(path), n)
        return os.fsdecode(PyBytes_FromStringAndSize(path, n))
    return None


cdef class DatagramSocket(Handle):
    """A datagram socket (UDP or UNIX datagram) on a raw descriptor that its owner (the face's
    port) keeps open: reads batches of datagrams and hands each to
    `protocol.datagramReceived(data, address)` (or `datagramReceived(data)` for a connected UNIX
    protocol); write()/writeSequence() send at once.

    Reading takes at most RECV_BATCH datagrams and RECV_BUDGET bytes of buffers per readiness
    (recvmmsg on Linux, recvfrom elsewhere), so a flooded socket cannot starve the others. A
    datagram longer than maxPacketSize is truncated to it (as recvfrom does). An exception raised
    by datagramReceived is logged; the port goes on with the next datagram.

    Replies go out together: while a batch read by recvmmsg is being delivered, what
    datagramReceived writes with write()/writeSequence() to an address on an unconnected UDP
    socket is queued, and the batch's replies are sent by one sendmmsg (in order) as soon as its
    callbacks have returned, before the loop does anything else (also before a connect() or a
    close made in a callback takes effect). write() then returns the datagram's length; the size
    is checked first, so MessageLengthError is still raised at the call, and a reply the kernel
    refuses later is counted in droppedDatagrams (a full buffer) or logged. Every other write is
    sent at once.

    Write errors, as Twisted's ports report them, with one documented difference: EMSGSIZE raises
    MessageLengthError; ECONNREFUSED calls `protocol.connectionRefused()` on a connected port and
    is ignored otherwise (UDP) or raised (UNIX); when the kernel's send buffer is full (EAGAIN,
    ENOBUFS) the datagram is dropped and counted in `droppedDatagrams` — Twisted's UNIX datagram
    ports drop it silently too, while its UDP port lets the OSError escape from write() into the
    caller (usually a datagramReceived, which then logs it): a full buffer is congestion, which a
    datagram protocol must already survive as loss, not an error in the caller.
    """

    def __cinit__(self, *args, **kwargs):
        memset(self.peers, 0, sizeof(self.peers))
        self.deliver_address = True

    def __init__(self, Loop loop, protocol=None):
        self.loop = loop
        self.protocol = protocol

    def __dealloc__(self):
        cdef int i
        for i in range(PEER_CACHE_SIZE):
            Py_XDECREF(self.peers[i].address)
            self.peers[i].address = NULL

    # ---- used by the face's port -----------------------------------------------------------------

    def _useSocket(self, int fd, int family, bint deliverAddress=True):
        """Send and receive on `fd` (a non-blocking datagram socket of `family`, owned by the
        caller, who closes it after _stopReading); reading starts with startReading()."""
        self.fd = fd
        self.family = family
        self.deliver_address = deliverAddress

    def _sendQueuedReplies(self):
        """Send now what datagramReceived wrote during the batch being delivered, and send what
        it writes next at once: called before anything that changes where writes go (connect)."""
        if self.batching:
            self.batching = False
            if reply_count:
                self.send_replies()

    def _setConnected(self, address):
        """The socket was connect()ed to `address` (what write() may still be given): write()
        uses send(), and ECONNREFUSED reaches protocol.connectionRefused(). Call
        _sendQueuedReplies() before connecting the socket."""
        self._sendQueuedReplies()
        self.socket_connected = True
        self.connected_address = address

    def _stopReading(self):
        """Stop watching the socket for good (replies queued by the batch being delivered are
        sent first); the caller closes it next."""
        if self.batching:
            self.batching = False
            if reply_count:
                self.send_replies()
        if self.fd >= 0:
            # Out of the poller before the caller closes it: an adopted port's original (or a
            # dup) keeps the socket open, and epoll would go on reporting it.
            self.loop.forget(self, False)
            self.fd = -1

    def startReading(self):
        """Watch the socket for datagrams again (after stopReading)."""
        if self.fd >= 0:
            self.loop.set_interest(self, EV_READ)

    def stopReading(self):
        """Stop reading for now (datagrams queue in the kernel, which drops them when full)."""
        if self.fd >= 0:
            self.loop.set_interest(self, 0)

    cdef int fdset(self, int events, bint on) except -1:
        # IReactorFDSet on a port: addReader/removeReader switch reading; a port sends at once
        # and has nothing to do when writable, so addWriter/removeWriter change nothing.
        if events & EV_READ:
            if on:
                self.startReading()
            else:
                self.stopReading()
        return 0

    def fileno(self):
        """The socket's descriptor, or -1 once closed."""
        return self.fd

    # ---- reading ---------------------------------------------------------------------------------

    cdef object on_readable(self):
        global recv_area_busy, mmsg_works
        cdef int i, n, err = 0
        cdef ssize_t got
        cdef socklen_t length
        cdef int packet = self.maxPacketSize if self.maxPacketSize > 0 else 1
        cdef size_t slot = <size_t>packet
        cdef int count = RECV_BUDGET // packet
        if recv_area_busy:
            self.receive_one()
            return None
        if count > RECV_BATCH:
            count = RECV_BATCH
        elif count < 1:
            count = 1
        ensure_recv_area(slot * count)
        prepare_recv_slots(slot, count)
        n = -1
        if mmsg_works:
            n = recvmmsg(self.fd, recv_msgs, count, MSG_DONTWAIT)
            if n < 0 and errno == ENOSYS:
                mmsg_works = False
        if not mmsg_works:
            n = 0
            while n < count:
                length = sizeof(sockaddr_storage)
                got = recvfrom(self.fd, recv_iov[n].iov_base, slot, MSG_DONTWAIT,
                               <sockaddr *>&recv_names[n], &length)
                if got < 0:
                    err = errno
                    break
                recv_msgs[n].msg_len = <unsigned int>got
                recv_msgs[n].msg_hdr.msg_namelen = length
                n += 1
            if n == 0:
                self.read_error(err)
                return None
        if n < 0:
            self.read_error(errno)
            return None
        recv_area_busy = True
        self.batching = self.deliver_address and not self.socket_connected and self.family != AF_UNIX
        try:
            protocol = self.protocol
            if protocol is None:
                return None
            try:
                receive = protocol.datagramReceived
            except Exception:
                self.loop.report("Protocol %r of a datagram port has no datagramReceived" % (protocol,))
                return None
            for i in range(n):
                data = bytes_copy(<char *>recv_iov[i].iov_base, recv_msgs[i].msg_len)
                if self.deliver_address:
                    address = self.peer_address(<sockaddr *>&recv_names[i],
                                                recv_msgs[i].msg_hdr.msg_namelen)
                    self.deliver(receive, data, address)
                else:
                    self.deliver(receive, data, None)
                if self.fd < 0 or self.protocol is not protocol:
                    break   # the port was closed meanwhile: the rest is dropped, as the kernel would
            data = None     # so a reply only the batch holds can become the spare (recycle.h)
        finally:
            self.batching = False
            if reply_count:
                self.send_replies()
            recv_area_busy = False
        if err:
            self.read_error(err)
        return None

    cdef int receive_one(self) except -1:
        """Read and deliver one datagram through a buffer of its own (a nested dispatch)."""
        cdef sockaddr_storage name
        cdef socklen_t length = sizeof(name)
        cdef int packet = self.maxPacketSize if self.maxPacketSize > 0 else 1
        cdef char *buf = <char *>malloc(packet)
        cdef ssize_t got
        if buf == NULL:
            raise MemoryError()
        try:
            got = recvfrom(self.fd, buf, packet, MSG_DONTWAIT, <sockaddr *>&name, &length)
            if got < 0:
                self.read_error(errno)
                return 0
            data = bytes_copy(buf, got)
        finally:
            free(buf)
        if self.protocol is None:
            return 0
        try:
            receive = self.protocol.datagramReceived
        except Exception:
            self.loop.report("Protocol %r of a datagram port has no datagramReceived" % (self.protocol,))
            return 0
        self.deliver(receive, data,
                     self.peer_address(<sockaddr *>&name, length) if self.deliver_address else None)
        return 0

    cdef int deliver(self, object receive, object data, object address) except -1:
        try:
            if self.deliver_address:
                receive(data, address)
            else:
                receive(data)
        except Exception:
            self.loop.report("Unhandled Error in datagramReceived of %r" % (self.protocol,))
        # Borrowed from the caller, which drops it next: see recycle.h.
        offer_bytes(<PyObject *>data)
        return 0

    cdef int read_error(self, int err) except -1:
        """A failed read: nothing to do for EAGAIN/EINTR; ECONNREFUSED (ICMP port unreachable
        after an earlier write) reaches a connected port's protocol.connectionRefused(); other
        errors (the socket's pending error, consumed by this read) are logged and the port
        reads on, except those meaning the descriptor is unusable, which stop reading."""
        if err == EAGAIN or err == EWOULDBLOCK or err == EINTR:
            return 0
        if err == ECONNREFUSED:
            if self.socket_connected and self.protocol is not None:
                try:
                    self.protocol.connectionRefused()
                except Exception:
                    self.loop.report("Unhandled Error in connectionRefused of %r" % (self.protocol,))
            return 0
        if err in (_errno.EBADF, _errno.ENOTSOCK, _errno.EINVAL, _errno.EFAULT):
            self.loop.set_interest(self, 0)
            self.loop.api.logMessage("Stopped reading datagram socket %d: %s" % (self.fd, os.strerror(err)))
            return 0
        self.loop.api.logMessage("Error reading datagram socket %d (ignored): %s" % (self.fd, os.strerror(err)))
        return 0

    cdef object peer_address(self, const sockaddr *name, socklen_t length):
        """The address object for `name`, from the cache when this peer was seen recently. The
        cache is two-way set associative, most recently used first in each pair of slots."""
        cdef unsigned int base = name_hash(<const unsigned char *>name, length) & (PEER_CACHE_SIZE - 2)
        cdef PeerEntry *first = &self.peers[base]
        cdef PeerEntry *second = &self.peers[base + 1]
        cdef PeerEntry swap
        self.last_peer = base
        if first.address != NULL and first.length == length and memcmp(&first.name, name, length) == 0:
            return <object>first.address
        if second.address != NULL and second.length == length and memcmp(&second.name, name, length) == 0:
            swap = first[0]
            first[0] = second[0]
            second[0] = swap
            return <object>first.address
        address = make_datagram_address(name, length)
        Py_INCREF(address)
        Py_XDECREF(second.address)
        second[0] = first[0]
        first.address = <PyObject *>address
        first.length = length
        memcpy(&first.name, name, length)
        return address

    # ---- writing ---------------------------------------------------------------------------------

    cdef int resolve_destination(self, object addr, sockaddr_storage *name, socklen_t *length) except -1:
        """The socket address to send to for `addr`, checked as Twisted checks it; `*length` 0
        for a connected socket (send())."""
        cdef int i
        cdef const char *path
        cdef Py_ssize_t n
        if self.socket_connected:
            if addr is not None and addr != self.connected_address:
                raise ValueError("this port is connected to %r; write() cannot send to %r"
                                 % (self.connected_address, addr))
            length[0] = 0
            return 0
        if addr is None:
            raise ValueError("write() needs an address on a port that is not connected")
        if addr is self.last_write_key:
            memcpy(name, &self.last_write_name, self.last_write_length)
            length[0] = self.last_write_length
            return 0
        # The usual reply goes to the address object datagramReceived was given: the last one
        # first, then any other recent one.
        if self.peers[self.last_peer].address == <PyObject *>addr:
            memcpy(name, &self.peers[self.last_peer].name, self.peers[self.last_peer].length)
            length[0] = self.peers[self.last_peer].length
            return 0
        for i in range(PEER_CACHE_SIZE):
            if self.peers[i].address == <PyObject *>addr:
                memcpy(name, &self.peers[i].name, self.peers[i].length)
                length[0] = self.peers[i].length
                return 0
        if self.last_write_key is not None and type(addr) is type(self.last_write_key) \
                and addr == self.last_write_key:
            memcpy(name, &self.last_write_name, self.last_write_length)
            length[0] = self.last_write_length
            return 0
        if self.family == AF_UNIX:
            if isinstance(addr, str):
                encoded = os.fsencode(addr)
            elif isinstance(addr, bytes):
                encoded = addr
            else:
                raise TypeError("a UNIX datagram address is a str or bytes path, not %s"
                                % (type(addr).__name__,))
            if fr_fill_sockaddr_un(name, PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded), length) < 0:
                raise OSError(_errno.ENAMETOOLONG, "UNIX socket path too long: %r" % (addr,))
        else:
            self.parse_ip(addr, name, length)
        if type(addr) is tuple or type(addr) is str or type(addr) is bytes:   # immutable: cacheable
            self.last_write_key = addr
            memcpy(&self.last_write_name, name, length[0])
            self.last_write_length = length[0]
        return 0

    cdef int parse_ip(self, object addr, sockaddr_storage *name, socklen_t *length) except -1:
        cdef in_addr a4
        cdef unsigned char a6[16]
        cdef bint v4
        cdef unsigned int flowinfo = 0, scope = 0
        api = self.loop.api
        if not isinstance(addr, tuple) or not 2 <= len(addr) <= 4:
            raise TypeError("a UDP address is a (host, port) tuple, not %r" % (addr,))
        host = addr[0]
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if not isinstance(host, str):
            raise TypeError("the host of a UDP address is a str, not %s" % (type(host).__name__,))
        try:
            encoded = host.encode("ascii")
        except UnicodeError:
            raise api.InvalidAddressError(host, "write() only accepts IP addresses, not hostnames") from None
        scope_name = None
        if host == "<broadcast>":
            v4 = True
            a4.s_addr = 0xFFFFFFFF
        elif inet_pton(AF_INET, encoded, &a4) == 1:
            v4 = True
        else:
            v4 = False
            if b"%" in encoded:
                encoded, scope_name = encoded.split(b"%", 1)
            if inet_pton(AF_INET6, encoded, a6) != 1:
                raise api.InvalidAddressError(host, "write() only accepts IP addresses, not hostnames")
        if v4 and self.family == AF_INET6:
            raise api.InvalidAddressError(host, "IPv6 port write() called with IPv4 or broadcast address")
        if not v4 and self.family == AF_INET:
            raise api.InvalidAddressError(host, "IPv4 port write() called with IPv6 address")
        port = addr[1]
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError("the port of a UDP address is an int, not %s" % (type(port).__name__,))
        if not 0 <= port <= 65535:
            raise OverflowError("port must be 0-65535, not %d" % (port,))
        if v4:
            if len(addr) != 2:
                raise TypeError("an IPv4 address is a (host, port) tuple, not %r" % (addr,))
            length[0] = fr_fill_sockaddr_in(name, &a4, port)
            return 0
        if len(addr) > 2:
            flowinfo = addr[2]
        if len(addr) > 3:
            scope = addr[3]
        elif scope_name is not None:
            scope_text = scope_name.decode("ascii")
            scope = int(scope_text) if scope_text.isdigit() else _socket.if_nametoindex(scope_text)
        length[0] = fr_fill_sockaddr_in6(name, a6, port, flowinfo, scope)
        return 0

    def write(self, datagram, addr=None):
        """Send `datagram` (bytes-like) to `addr` now: (host, port) with an IP address literal
        (never a host name: InvalidAddressError, as for an address of the other family) for UDP,
        a path for UNIX; None (or the connected address) on a connected port. Returns the number
        of bytes sent (or queued with the replies of the batch being delivered), or None if the
        datagram was dropped (see the class docstring)."""
        cdef sockaddr_storage name
        cdef socklen_t length
        cdef Py_buffer view
        cdef ssize_t sent
        self.resolve_destination(addr, &name, &length)
        if self.fd < 0:
            raise OSError(EBADF, "write() on a closed datagram port")
        if type(datagram) is bytes:
            if self.batching and length and PyBytes_GET_SIZE(datagram) <= (
                    MAX_UDP4_PAYLOAD if self.family == AF_INET else MAX_UDP6_PAYLOAD):
                return self.queue_reply(datagram, &name, length)
            return self.send_buffer(PyBytes_AS_STRING(datagram), PyBytes_GET_SIZE(datagram), &name, length)
        if isinstance(datagram, str):
            raise TypeError("Data must be bytes")
        PyObject_GetBuffer(datagram, &view, PyBUF_SIMPLE)
        try:
            return self.send_buffer(<char *>view.buf, view.len, &name, length)
        finally:
            PyBuffer_Release(&view)

    cdef object send_buffer(self, const char *data, Py_ssize_t size, sockaddr_storage *name, socklen_t length):
        cdef ssize_t sent
        while True:
            if length:
                sent = sendto(self.fd, data, size, FR_SEND_FLAGS, <sockaddr *>name, length)
            else:
                sent = send(self.fd, data, size, FR_SEND_FLAGS)
            if sent >= 0:
                return sent
            if errno != EINTR:
                return self.send_error(errno)

    def writeSequence(self, seq, addr=None):
        """Send the bytes of `seq`, joined, as one datagram to `addr` (one sendmsg over the
        pieces, without joining them); as write() otherwise."""
        cdef sockaddr_storage name
        cdef socklen_t length
        cdef iovec vec[64]
        cdef msghdr msg
        cdef Py_ssize_t i, count
        cdef ssize_t sent
        cdef list pieces = list(seq)
        for piece in pieces:
            if type(piece) is not bytes:
                raise TypeError("Data must be bytes")
        count = len(pieces)
        if count > FR_IOV_BATCH or count > 64 or self.batching:   # batching: keep the order of replies
            return self.write(b"".join(pieces), addr)
        self.resolve_destination(addr, &name, &length)
        if self.fd < 0:
            raise OSError(EBADF, "writeSequence() on a closed datagram port")
        memset(&msg, 0, sizeof(msg))
        for i in range(count):
            vec[i].iov_base = PyBytes_AS_STRING(pieces[i])
            vec[i].iov_len = PyBytes_GET_SIZE(pieces[i])
        msg.msg_iov = vec
        msg.msg_iovlen = count
        if length:
            msg.msg_name = &name
            msg.msg_namelen = length
        while True:
            sent = sendmsg(self.fd, &msg, FR_SEND_FLAGS)
            if sent >= 0:
                return sent
            if errno != EINTR:
                return self.send_error(errno)

    cdef object queue_reply(self, bytes datagram, sockaddr_storage *name, socklen_t length):
        """Queue `datagram` for the sendmmsg that ends the batch being delivered."""
        global reply_count
        cdef int k
        if reply_count == RECV_BATCH:
            self.send_replies()
        k = reply_count
        Py_INCREF(datagram)
        reply_data[k] = <PyObject *>datagram
        memcpy(&reply_names[k], name, length)
        reply_iov[k].iov_base = PyBytes_AS_STRING(datagram)
        reply_iov[k].iov_len = PyBytes_GET_SIZE(datagram)
        memset(&reply_msgs[k].msg_hdr, 0, sizeof(msghdr))
        reply_msgs[k].msg_hdr.msg_name = &reply_names[k]
        reply_msgs[k].msg_hdr.msg_namelen = length
        reply_msgs[k].msg_hdr.msg_iov = &reply_iov[k]
        reply_msgs[k].msg_hdr.msg_iovlen = 1
        reply_count = k + 1
        return PyBytes_GET_SIZE(datagram)

    cdef int send_replies(self) except -1:
        """Send the queued replies, in order: sendmmsg (sendto where it is missing). A reply the
        kernel refuses is dropped: counted in droppedDatagrams for a full buffer (EAGAIN,
        ENOBUFS), logged for any other error (none is expected: the size was checked)."""
        global reply_count, mmsg_works
        cdef int i = 0, k, n, err
        cdef int total = reply_count
        try:
            while i < total and self.fd >= 0:
                if mmsg_works:
                    n = sendmmsg(self.fd, &reply_msgs[i], total - i, FR_SEND_FLAGS)
                    if n < 0 and errno == ENOSYS:
                        mmsg_works = False
                        continue
                else:
                    n = 1 if sendto(self.fd, reply_iov[i].iov_base, reply_iov[i].iov_len, FR_SEND_FLAGS,
                                    <sockaddr *>&reply_names[i], reply_msgs[i].msg_hdr.msg_namelen) >= 0 else -1
                if n > 0:
                    i += n
                    continue
                err = errno
                if err == EINTR:
                    continue
                if err == EAGAIN or err == EWOULDBLOCK or err == ENOBUFS:
                    self.droppedDatagrams += 1
                elif err != ECONNREFUSED:
                    self.loop.api.logMessage("Error sending a datagram from socket %d (dropped): %s"
                                             % (self.fd, os.strerror(err)))
                i += 1
        finally:
            for k in range(total):
                if reply_data[k] != NULL:
                    offer_bytes(reply_data[k])  # a reply nobody else holds: see recycle.h
                Py_XDECREF(reply_data[k])
                reply_data[k] = NULL
            reply_count = 0
        return 0

    cdef object send_error(self, int err):
        if err == EMSGSIZE:
            raise self.loop.api.MessageLengthError("message too long")
        if err == EAGAIN or err == EWOULDBLOCK or err == ENOBUFS:
            self.droppedDatagrams += 1
            return None
        if err == ECONNREFUSED:
            if self.socket_connected:
                if self.protocol is not None:
                    self.protocol.connectionRefused()
                return None
            if self.family != AF_UNIX:
                return None     # an unconnected UDP socket: not ours to report (as Twisted)
        raise OSError(err, os.strerror(err))
