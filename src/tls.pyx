# TLS: a record layer between a TCP socket and the shared StreamTransport. The write queue,
# producers, half-close and the close ordering stay StreamTransport's; this layer only turns the
# raw I/O into records. It drives the standard library's ssl.SSLObject over two ssl.MemoryBIOs
# through their C objects (SSLObject._sslobj is _ssl._SSLSocket), so a record costs C calls and no
# Python frame of ours or of ssl.py. Reads avoid SSLWantReadError (an exception per read costs as
# much as decrypting a 1 KiB record) by tracking record boundaries in the ciphertext fed to the
# incoming BIO: SSL_read is called only while a complete record is waiting. OpenSSL takes records
# whole from the BIO and one SSL_read that returns data consumes at least one record (more when
# non-application records, a session ticket or a key update, precede it; it then raises
# SSLWantReadError once the BIO holds no complete record, which resets the count).
#
# Why the stdlib's SSLObject rather than OpenSSL called directly (dlsym on the libssl that _ssl
# loaded, the SSL* taken out of _ssl's private structs, as aiofastnet does): measured with
# callgrind on a 1 KiB TLS echo server, this path costs 29,200 user instructions per message,
# aiofastnet's direct path 24,800, uvloop 35,400 (16 KiB: 237,600 / 168,700 / 244,300; the extra
# there is MemoryBIO's copies). OpenSSL itself is ~19,000 of them at 1 KiB. The direct path
# would save ~15% at 1 KiB but depends on CPython's private PySSLSocket/PySSLContext layouts and
# on finding the right libssl; this one has no layout dependency and no fallback to maintain.
import ssl as _stdlib_ssl

from libc.string cimport memcpy
from cpython.mem cimport PyMem_RawMalloc
from cpython.object cimport PyObject

from cpython.bytearray cimport PyByteArray_FromStringAndSize, PyByteArray_AS_STRING

cdef extern from "Python.h":
    object PyMemoryView_FromMemory(char *mem, Py_ssize_t size, int flags)
    int PyBUF_READ
    Py_ssize_t PY_SSIZE_T_MAX

cdef object SSLError = _stdlib_ssl.SSLError
cdef object SSLWantReadError = _stdlib_ssl.SSLWantReadError
cdef object SSLZeroReturnError = _stdlib_ssl.SSLZeroReturnError
cdef object SSLEOFError = _stdlib_ssl.SSLEOFError
cdef object MemoryBIO = _stdlib_ssl.MemoryBIO

cdef enum:
    TLS_RECV_CHUNK = 65536      # ciphertext read from the socket per readiness
    TLS_RECORD_READ = 16384     # a record's largest plaintext: one SSL_read takes a whole record, and a
                                # full record needs no shrinking of the bytes _ssl allocates
    TLS_WRITE_MAX = 262144      # plaintext encrypted per send_some at most (the rest on writability)

# A TLSConnection is every native TCP connection (so any can startTLS), and plain TCP must cost
# what TCPConnection costs: until TLS starts, the instance dispatches its cdef methods through a
# copy of TLSConnection's vtable whose inherited slots are TCPConnection's, so none of the
# overrides below (read_some, send_some, ...) even runs. tls_setup puts the real vtable back.
# Only exact TLSConnections (and Python subclasses, which share its vtable) switch: a compiled
# subclass keeps its own vtable and gets the overrides' `tls_on` checks instead. The names are
# Cython's (stable for its 3.x line); a change breaks the build, not the run.
cdef extern from *:
    ctypedef struct tcp_vtable_t "struct __pyx_vtabstruct_11fastreactor_5_core_TCPConnection":
        pass
    ctypedef struct tls_vtable_t "struct __pyx_vtabstruct_11fastreactor_5_core_TLSConnection":
        pass
    ctypedef struct handle_object_t "struct __pyx_obj_11fastreactor_5_core_Handle":
        void *__pyx_vtab
    tcp_vtable_t *tcp_vtabptr "__pyx_vtabptr_11fastreactor_5_core_TCPConnection"
    tls_vtable_t *tls_vtabptr "__pyx_vtabptr_11fastreactor_5_core_TLSConnection"

cdef void *plain_tls_vtable = NULL


cdef void *plain_vtable() except NULL:
    global plain_tls_vtable
    cdef void *table
    if plain_tls_vtable == NULL:
        table = PyMem_RawMalloc(sizeof(tls_vtable_t))
        if table == NULL:
            raise MemoryError()
        memcpy(table, <void *>tls_vtabptr, sizeof(tls_vtable_t))
        memcpy(table, <void *>tcp_vtabptr, sizeof(tcp_vtable_t))    # the inherited slots
        plain_tls_vtable = table
    return plain_tls_vtable


cdef inline void **vtable_slot(object o) noexcept:
    return &(<handle_object_t *><PyObject *>o).__pyx_vtab


# Ciphertext goes from here into the incoming BIO at once, so one buffer serves every connection.
cdef char tls_recv_buffer[TLS_RECV_CHUNK]

# Plaintext is decrypted into this bytearray and copied out at its size: cheaper than letting
# _ssl allocate a record-sized bytes and shrink it. SSL_read runs without the GIL, so a reader
# takes the buffer (leaving None) and puts it back; another thread meanwhile makes its own.
cdef object spare_plain_buffer = None


cdef class TLSConnection(TCPConnection):
    """A TCP connection that can carry TLS: plain TCP until TLS starts (`startTLS`, or set up by
    listenSSL/connectSSL before the protocol is attached), records after.

    The lifecycle is Twisted's TLSMemoryBIOProtocol's: connectionMade runs when the TCP connection
    is made and the handshake starts right after it; writes made before the handshake completes
    are queued and sent, in order, once it has; `handshakeCompleted()` is called on the protocol
    (if it has one) when the handshake finishes. loseConnection sends what is queued, then a TLS
    close_notify, then closes (before the handshake completed with nothing queued it aborts, as
    Twisted does); abortConnection sends nothing more; loseWriteConnection sends close_notify and
    then shuts the TCP write side. A handshake, certificate or record error ends the connection
    with the ssl.SSLError as connectionLost's reason (an EOF that truncates the TLS stream is
    ConnectionLost, as in Twisted); the handshake must finish within `handshakeTimeout` seconds
    (default 30) or the connection is aborted with a TimeoutError. A peer's close_notify is an
    EOF: readConnectionLost for a half-closeable protocol, else the connection closes with
    ConnectionDone. As in Twisted, an aborted TLS connection reports ConnectionLost to its
    protocol (the TLS stream ended uncleanly) and ConnectionAborted to its connector. The TLS
    state and buffers are released when the connection ends.
    """

    def __init__(self, Loop loop, int fd, int family, peer=None):
        TCPConnection.__init__(self, loop, fd, family, peer)
        self.handshakeTimeout = 30.0
        if vtable_slot(self)[0] == <void *>tls_vtabptr:
            vtable_slot(self)[0] = plain_vtable()     # plain TCP until TLS starts (see above)

    # ---- setting up ------------------------------------------------------------------------------

    cdef int tls_setup(self, object sslobject, object incoming, object outgoing, bint client) except -1:
        if self.tls_on:
            raise RuntimeError("TLS is already started on %r" % (self,))
        if plain_tls_vtable != NULL and vtable_slot(self)[0] == plain_tls_vtable:
            vtable_slot(self)[0] = <void *>tls_vtabptr
        self.tls_object = sslobject
        self.tls_raw = sslobject._sslobj
        self.tls_incoming = incoming
        self.tls_outgoing = outgoing
        self.bio_write = incoming.write
        self.bio_read = outgoing.read
        self.ssl_read = self.tls_raw.read
        self.ssl_write = self.tls_raw.write
        self.tls_client = client
        self.tls_on = True
        return 0

    def _useTLS(self, sslobject, incoming, outgoing, bint client, bint start=True):
        """Carry TLS from now on with `sslobject`, an ssl.SSLObject made by
        `SSLContext.wrap_bio(incoming, outgoing, ...)` over the two ssl.MemoryBIOs given (the
        engine layer for faces that build their own SSLObject). Bytes queued before this call are
        sent in clear first. `start`: begin the handshake now (else when the protocol is attached).
        RuntimeError if TLS is already on."""
        if self.disconnected:
            raise RuntimeError("the connection is closed")
        self.tls_setup(sslobject, incoming, outgoing, client)
        if self.write_pending:
            # Written before TLS started: goes out in clear, before any record.
            clear = b"".join(self.write_chunks[self.write_head:])[self.write_offset:]
            self.release_queue()
            self.out_pending = clear
            self.out_offset = 0
            self.want_writable()
        if start:
            self._startHandshake()

    def _prepareTLS(self, context, bint client, serverHostname=None):
        """Set up TLS with `context` (an ssl.SSLContext) before the protocol is attached; the
        handshake starts right after connectionMade (or at _startHandshake()). `serverHostname`
        (a client's) is sent as SNI and checked against the server's certificate if the context
        checks host names; ValueError if it does and none is given."""
        if client and not serverHostname and context.check_hostname:
            # wrap_bio would accept this and then check no name at all.
            raise ValueError("this context checks the server's host name: give serverHostname")
        incoming = MemoryBIO()
        outgoing = MemoryBIO()
        sslobject = context.wrap_bio(incoming, outgoing, server_side=not client,
                                     server_hostname=serverHostname or None)
        self._useTLS(sslobject, incoming, outgoing, client, False)

    def startTLS(self, contextFactory, normal=True, serverHostname=None):
        """Switch this live connection to TLS with `contextFactory` (an ssl.SSLContext): bytes
        written before go out in clear, bytes written after encrypted, once the handshake is done.
        This end is the TLS client if it made the connection (connectTCP) and `normal` is true,
        else the server (`normal=False` swaps the roles, as in Twisted). A client gives the name
        to check the server's certificate against as `serverHostname` (ValueError from the
        context if it checks host names and none is given)."""
        if not isinstance(contextFactory, _stdlib_ssl.SSLContext):
            raise TypeError("startTLS needs an ssl.SSLContext, not %s" % (type(contextFactory).__name__,))
        client = (self.connector is not None) == bool(normal)
        self._prepareTLS(contextFactory, client, serverHostname if client else None)
        self._startHandshake()

    def _attach(self, protocol):
        StreamTransport._attach(self, protocol)
        if self.tls_on and not self.handshake_started:
            self._startHandshake()

    def _startHandshake(self):
        if self.handshake_started or self.disconnected or self.aborting:
            return
        self.handshake_started = True
        if self.handshakeTimeout > 0:
            self.handshake_timer = self.loop.schedule(self.handshakeTimeout, self._handshakeTimedOut, (), None)
        self.advance_handshake()

    def _handshakeTimedOut(self):
        self.handshake_timer = None
        if self.handshake_done or self.disconnected:
            return
        api = self.loop.api
        self.fail(api.Failure(api.TimeoutError(
            string="TLS handshake did not complete within %gs" % (self.handshakeTimeout,))), True)

    # ---- the handshake ---------------------------------------------------------------------------

    cdef int advance_handshake(self) except -1:
        """Let OpenSSL take the handshake as far as the bytes received allow, send what it
        produced; on completion, release the queued writes and call handshakeCompleted()."""
        try:
            self.tls_raw.do_handshake()
        except SSLWantReadError:
            self.drain_outgoing()
            return 0
        except SSLError as e:
            self.fail(self.tls_reason(e), False)
            return 0
        self.handshake_done = True
        # The handshake consumed an unknown number of the records counted: read until OpenSSL
        # says the BIO holds no complete record, if it holds one (the BIO holds a complete record
        # exactly when it holds more than the incomplete tail we saw arrive).
        self.records_waiting = PY_SSIZE_T_MAX if self.tls_incoming.pending > self.rec_tail else 0
        if self.handshake_timer is not None:
            timer, self.handshake_timer = self.handshake_timer, None
            timer.cancel()
        # As in Twisted, handshakeCompleted runs before OpenSSL's last handshake flight is sent:
        # aborting in it sends nothing more. What it writes is queued after that flight.
        protocol = self.protocol
        callback = getattr(protocol, "handshakeCompleted", None)
        if callback is not None:
            try:
                callback()
            except Exception as e:
                self.loop.report("Unhandled Error in handshakeCompleted of %s" % (safe_repr(protocol),))
                self.lose(self.loop.api.Failure(e))
                return 0
        if self.disconnected or self.aborting:
            return 0
        self.drain_outgoing()
        if self.write_pending or self.disconnecting or self.write_shut_requested or self.producer is not None:
            self.want_writable()
        return 0

    cdef object tls_reason(self, object error):
        """The Failure a TLS error ends the connection with: an EOF in the middle of the TLS
        stream is ConnectionLost (as Twisted reports it), anything else the ssl.SSLError."""
        api = self.loop.api
        if isinstance(error, SSLEOFError):
            return api.Failure(api.CONNECTION_LOST)
        return api.Failure(error)

    # ---- reading ---------------------------------------------------------------------------------

    cdef object read_some(self, ssize_t *count):
        cdef ssize_t n
        if not self.tls_on:
            return TCPConnection.read_some(self, count)
        n = recv(self.fd, tls_recv_buffer, TLS_RECV_CHUNK, 0)
        if n < 0:
            count[0] = -1
            return None
        if n == 0:
            # The socket's EOF without the peer's close_notify: the TLS stream was cut short.
            api = self.loop.api
            self.lose(api.Failure(api.CONNECTION_LOST))
            count[0] = -1
            fr_set_errno(EAGAIN)
            return None
        count[0] = -1
        if self.close_notify_received:
            fr_set_errno(EAGAIN)        # data after close_notify: ignored
            return None
        self.feed_records(<unsigned char *>tls_recv_buffer, n)
        self.bio_write(PyMemoryView_FromMemory(tls_recv_buffer, n, PyBUF_READ))
        if not self.handshake_done:
            if not self.handshake_started:
                fr_set_errno(EAGAIN)
                return None
            self.advance_handshake()
            if not self.handshake_done or self.disconnected or self.aborting:
                fr_set_errno(EAGAIN)
                return None
        data = self.read_records(n >= TLS_RECORD_READ)
        if self.close_notify_received and not self.disconnected:
            # The peer's close_notify ends its stream: the data before it, then an EOF.
            if data is not None:
                self.deliver(data)
                if self.disconnected or self.aborting or self.read_shut:
                    fr_set_errno(EAGAIN)
                    return None
            count[0] = 0
            return None
        if data is None or self.disconnected:
            fr_set_errno(EAGAIN)
            return None
        count[0] = len(<bytes>data)
        return data

    cdef int feed_records(self, const unsigned char *data, Py_ssize_t n) noexcept:
        """Follow the record framing (5-byte header, 2-byte length at offset 3) over `n` more
        bytes of ciphertext; rec_tail ends up as the bytes of the last, incomplete, record."""
        cdef Py_ssize_t i = 0, take
        while i < n:
            if self.rec_left > 0:
                take = n - i
                if take > self.rec_left:
                    take = self.rec_left
                self.rec_left -= take
                self.rec_tail += take
                i += take
                if self.rec_left == 0:
                    self.rec_tail = 0
                    self.records_waiting += 1
                continue
            self.hdr[self.hdr_have] = data[i]
            self.hdr_have += 1
            self.rec_tail += 1
            i += 1
            if self.hdr_have == 5:
                self.hdr_have = 0
                self.rec_left = (<Py_ssize_t>self.hdr[3] << 8) | self.hdr[4]
                if self.rec_left == 0:
                    self.rec_tail = 0
                    self.records_waiting += 1
        return 0

    cdef object read_records(self, bint large):
        """The plaintext of every complete record waiting in the incoming BIO (None if none).
        `large`: the records are likely full-size (much ciphertext arrived at once)."""
        global spare_plain_buffer
        cdef object chunk
        cdef object first = None
        cdef list more = None
        cdef Py_ssize_t n
        cdef object buffer = spare_plain_buffer
        spare_plain_buffer = None
        if buffer is None:
            buffer = PyByteArray_FromStringAndSize(NULL, TLS_RECORD_READ)
        try:
            while self.records_waiting > 0:
                if large:
                    # Full-size records: a bytes of the record's size straight from _ssl saves
                    # copying 16 KiB out of the buffer.
                    chunk = self.ssl_read(TLS_RECORD_READ)
                    n = len(<bytes>chunk)
                else:
                    n = self.ssl_read(TLS_RECORD_READ, buffer)
                if n == 0:
                    # _ssl reports the peer's close_notify as an empty read.
                    self.close_notify_received = True
                    break
                self.records_waiting -= 1
                if not large:
                    chunk = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(buffer), n)
                if first is None:
                    first = chunk
                else:
                    if more is None:
                        more = [first]
                    more.append(chunk)
        except SSLWantReadError:
            # Only non-application records were left (a session ticket, a key update); OpenSSL
            # may have answered one.
            self.records_waiting = 0
            if self.tls_outgoing.pending:
                self.drain_outgoing()
        except SSLZeroReturnError:
            self.close_notify_received = True
        except SSLError as e:
            spare_plain_buffer = buffer
            self.fail(self.tls_reason(e), False)
            return None
        spare_plain_buffer = buffer
        if more is not None:
            return b"".join(more)
        return first

    # ---- writing ---------------------------------------------------------------------------------

    cdef ssize_t send_some(self, iovec *vec, int count) except -2:
        cdef size_t total = 0, take, piece
        cdef int i
        cdef char *dest
        cdef Py_ssize_t written
        if not self.tls_on:
            return TCPConnection.send_some(self, vec, count)
        if self.out_pending is not None:
            if self.send_cipher() < 0:
                return -1
            if self.out_pending is not None:
                fr_set_errno(EAGAIN)
                return -1
        if self.close_notify_sent:
            # The TLS session is over (closed or failed): nothing more can be sent in it.
            for i in range(count):
                total += vec[i].iov_len
            return total
        if not self.handshake_done:
            fr_set_errno(EAGAIN)
            return -1
        if count == 1:
            take = vec[0].iov_len if vec[0].iov_len < TLS_WRITE_MAX else TLS_WRITE_MAX
            data = PyMemoryView_FromMemory(<char *>vec[0].iov_base, take, PyBUF_READ)
        else:
            # One flush is one SSL_write: what one loop turn wrote becomes as few records as fit.
            for i in range(count):
                total += vec[i].iov_len
            take = total if total < TLS_WRITE_MAX else TLS_WRITE_MAX
            data = PyBytes_FromStringAndSize(NULL, take)
            dest = PyBytes_AS_STRING(data)
            total = 0
            for i in range(count):
                if total >= take:
                    break
                piece = vec[i].iov_len
                if piece > take - total:
                    piece = take - total
                memcpy(dest + total, vec[i].iov_base, piece)
                total += piece
        try:
            written = self.ssl_write(data)
        except SSLError as e:
            self.tls_failure = self.tls_reason(e)
            self.close_notify_sent = True
            fr_set_errno(EPIPE)
            return -1
        finally:
            data = None
        # A record was just made: take it without asking the BIO whether it has one.
        self.out_pending = self.bio_read()     # (nothing was pending: see above)
        self.out_offset = 0
        if self.send_cipher() < 0:
            return -1       # flush() keeps errno in write_errno; on_writable reports it
        return written

    cdef int drain_outgoing(self) except -2:
        """Move the outgoing BIO's ciphertext behind what is pending and send what the kernel
        takes: 0, or -1 with errno for a send error (also kept in write_errno)."""
        cdef object outgoing = self.tls_outgoing
        if outgoing is None or not outgoing.pending:
            return 0
        data = self.bio_read()
        if self.out_pending is None:
            self.out_pending = data
        else:
            self.out_pending = self.out_pending[self.out_offset:] + data
        self.out_offset = 0
        if self.send_cipher() < 0:
            self.write_errno = errno
            self.want_writable()
            return -1
        return 0

    cdef int send_cipher(self) except -2:
        """Send out_pending: 0 when it is all sent or the kernel is full (then writability is
        watched), -1 with errno for an error."""
        cdef ssize_t n
        cdef Py_ssize_t length
        while self.out_pending is not None:
            if self.fd < 0:
                self.out_pending = None
                return 0
            length = PyBytes_GET_SIZE(self.out_pending)
            n = send(self.fd, PyBytes_AS_STRING(self.out_pending) + self.out_offset,
                     length - self.out_offset, FR_SEND_FLAGS)
            if n < 0:
                if errno == EAGAIN or errno == EWOULDBLOCK or errno == ENOBUFS or errno == EINTR:
                    self.want_writable()
                    return 0
                return -1
            self.out_offset += n
            if self.out_offset >= length:
                self.out_pending = None
                self.out_offset = 0
        return 0

    cdef int want_writable(self) except -1:
        if self.fd >= 0 and not self.aborting and not self.disconnected:
            self.loop.set_interest(self, self.interest | EV_WRITE)
        return 0

    cdef object on_writable(self):
        if not self.tls_on or self.aborting or self.fd < 0:
            return StreamTransport.on_writable(self)
        api = self.loop.api
        if self.write_errno:
            self.lose(self.tls_failure if self.tls_failure is not None else api.Failure(api.CONNECTION_LOST))
            return None
        if self.out_pending is not None:
            if self.send_cipher() < 0:
                self.lose(api.Failure(api.CONNECTION_LOST))
                return None
            if self.out_pending is not None:
                return None
        if not self.handshake_done:
            # Queued writes and a pending close wait for the handshake, not for writability.
            self.loop.set_interest(self, self.interest & ~EV_WRITE)
            return None
        return StreamTransport.on_writable(self)

    cdef int writable_done(self) except -1:
        if self.tls_on:
            if self.out_pending is not None:
                self.want_writable()
                return 0
            if (self.producer is None or (self.streamingProducer and not self.producerPaused)) and (
                    self.disconnecting or (self.write_shut_requested and not self.write_shut)):
                if not self.close_notify_sent and self.handshake_done:
                    self.queue_close_notify()
                    if self.out_pending is not None:
                        return 0    # the close_notify goes first; we come back on writability
        return StreamTransport.writable_done(self)

    cdef int queue_close_notify(self) except -1:
        """Put a close_notify alert in the outgoing BIO and send what the kernel takes of it."""
        self.close_notify_sent = True
        try:
            self.tls_raw.shutdown()
        except SSLError:
            pass    # SSLWantReadError: sent, the peer's is still to come (we do not wait for it)
        self.drain_outgoing()
        return 0

    # ---- closing ---------------------------------------------------------------------------------

    def loseConnection(self):
        """See the class docstring: before the handshake completed, with nothing queued, this
        aborts (as Twisted's TLS does, since no close_notify can be sent yet)."""
        if (self.tls_on and not self.handshake_done and not self.write_pending and self.connected
                and not self.disconnecting and not self.aborting):
            self.abortConnection()
            return
        StreamTransport.loseConnection(self)
        if self.tls_on and not self.handshake_done:
            self.start_reading()    # the queued data waits for the handshake, which needs reading

    cdef int fail(self, object reason, bint abortive) except -1:
        """End the connection for a TLS error or timeout: an alert OpenSSL produced is sent first
        (unless `abortive`), no close_notify."""
        self.close_notify_sent = True
        if abortive:
            self.aborting = True
        self.lose(reason)
        return 0

    cdef int close_descriptor(self, bint abortive) except -1:
        if self.tls_on and not abortive and self.fd >= 0:
            # A clean close says so in TLS (best effort: one send, no waiting for the kernel).
            if self.handshake_done and not self.close_notify_sent:
                self.queue_close_notify()
            elif self.out_pending is not None or self.tls_outgoing.pending:
                self.drain_outgoing()   # an alert explaining a failure
        self.out_pending = None
        return TCPConnection.close_descriptor(self, abortive)

    cdef int lose(self, object reason) except -1:
        if self.disconnected:
            return 0
        api = self.loop.api
        connector = self.connector
        if self.tls_on and connector is not None and reason.check(api.ConnectionAborted) is not None:
            # Twisted's TLS reports an abort to the protocol as the TLS stream's unclean end
            # (ConnectionLost) and to the connector as the transport's (ConnectionAborted).
            self.connector = None
            StreamTransport.lose(self, api.Failure(api.CONNECTION_LOST))
            try:
                connector.connectionLost(reason)
            except Exception:
                self.loop.report("Unhandled Error in clientConnectionLost of %s" % (safe_repr(connector),))
        elif self.tls_on and reason.check(api.ConnectionAborted) is not None:
            StreamTransport.lose(self, api.Failure(api.CONNECTION_LOST))
        else:
            StreamTransport.lose(self, reason)
        self.release_tls()
        return 0

    cdef int release_tls(self) except -1:
        """Drop the TLS session and its buffers (the connection has ended)."""
        if self.handshake_timer is not None:
            timer, self.handshake_timer = self.handshake_timer, None
            if timer.active():
                timer.cancel()
        self.out_pending = None
        self.tls_raw = None
        self.tls_incoming = None
        self.tls_outgoing = None
        self.bio_write = None
        self.bio_read = None
        self.ssl_read = None
        self.ssl_write = None
        self.tls_object = None
        return 0

    # ---- what a TLS transport tells ------------------------------------------------------------

    @property
    def TLS(self):
        """True once TLS is on (Twisted's transport.TLS)."""
        return bool(self.tls_on)

    def getPeerCertificate(self, binary_form=False):
        """The peer's certificate as ssl.SSLObject.getpeercert gives it (a dict, {} if it was not
        verified; DER bytes with `binary_form`), or None before the handshake or after the
        connection ended, or without TLS."""
        if self.tls_object is None or not self.handshake_done:
            return None
        return self.tls_object.getpeercert(binary_form)

    @property
    def negotiatedProtocol(self):
        """The ALPN protocol agreed on, as bytes, or None."""
        if self.tls_object is None or not self.handshake_done:
            return None
        chosen = self.tls_object.selected_alpn_protocol()
        return chosen.encode("ascii") if chosen is not None else None

    def getTLSInfo(self):
        """(TLS version, cipher name) once the handshake is done, else None."""
        if self.tls_object is None or not self.handshake_done:
            return None
        return (self.tls_object.version(), self.tls_object.cipher()[0])
