# TLS: a record layer between a TCP socket and the shared StreamTransport. A TCPConnection that
# carries TLS has a TLSLayer in its `tls` field; a plain one has None there and pays one pointer
# test per raw I/O call (tcp.pyx). The write queue, producers, half-close and the close ordering
# stay StreamTransport's; this layer only turns the raw I/O into records. It drives the standard
# library's ssl.SSLObject over two ssl.MemoryBIOs through their C objects (SSLObject._sslobj is
# _ssl._SSLSocket), so a record costs C calls and no Python frame of ours or of ssl.py. Reads avoid
# SSLWantReadError (an exception per read costs as much as decrypting a 1 KiB record) by tracking
# record boundaries in the ciphertext fed to the incoming BIO: SSL_read is called only while a
# complete record is waiting. OpenSSL takes records whole from the BIO and one SSL_read that returns
# data consumes at least one record (more when non-application records, a session ticket or a key
# update, precede it; it then raises SSLWantReadError once the BIO holds no complete record, which
# resets the count).
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

from cpython.bytearray cimport PyByteArray_FromStringAndSize, PyByteArray_AS_STRING

cdef extern from "Python.h":
    object PyMemoryView_FromMemory(char *mem, Py_ssize_t size, int flags)
    int PyBUF_READ
    Py_ssize_t PY_SSIZE_T_MAX

cdef object SSLError = _stdlib_ssl.SSLError
cdef object SSLWantReadError = _stdlib_ssl.SSLWantReadError
cdef object SSLZeroReturnError = _stdlib_ssl.SSLZeroReturnError
cdef object SSLEOFError = _stdlib_ssl.SSLEOFError

cdef enum:
    TLS_RECV_CHUNK = 65536      # ciphertext read from the socket per readiness
    TLS_RECORD_READ = 16384     # a record's largest plaintext: one SSL_read takes a whole record, and a
                                # full record needs no shrinking of the bytes _ssl allocates
    TLS_WRITE_MAX = 262144      # plaintext encrypted per send_some at most (the rest on writability)

# Ciphertext goes from here into the incoming BIO at once, so one buffer serves every connection.
cdef char tls_recv_buffer[TLS_RECV_CHUNK]

# Plaintext is decrypted into this bytearray and copied out at its size: cheaper than letting
# _ssl allocate a record-sized bytes and shrink it. SSL_read runs without the GIL, so a reader
# takes the buffer (leaving None) and puts it back; another thread meanwhile makes its own.
cdef object spare_plain_buffer = None



cdef class TLSLayer:
    """The TLS session of one TCP connection: an ssl.SSLObject over two memory BIOs, the record
    framing of the ciphertext received, the ciphertext not yet sent, and the handshake's state
    and timer. It holds no reference to its transport: TCPConnection calls its methods with
    itself as `t` and the layer does the socket I/O through t's descriptor. See TCPConnection
    (tcp.pyx) for the behaviour a TLS connection has.
    """

    def __init__(self, sslobject, incoming, outgoing, bint client, double handshake_timeout):
        self.tls_object = sslobject
        self.tls_raw = sslobject._sslobj
        self.tls_incoming = incoming
        self.tls_outgoing = outgoing
        self.bio_write = incoming.write
        self.bio_read = outgoing.read
        self.ssl_read = self.tls_raw.read
        self.ssl_write = self.tls_raw.write
        self.tls_client = client
        self.handshake_timeout = handshake_timeout

    # ---- the handshake ---------------------------------------------------------------------------

    cdef int start_handshake(self, TCPConnection t) except -1:
        if self.handshake_started or t.disconnected or t.aborting:
            return 0
        self.handshake_started = True
        if self.handshake_timeout > 0:
            self.handshake_timer = t.loop.schedule(self.handshake_timeout, self._timedOut, (t,), None)
        self.advance_handshake(t)
        return 0

    def _timedOut(self, TCPConnection t):
        self.handshake_timer = None
        if self.handshake_done or t.disconnected:
            return
        api = t.loop.api
        self.fail(t, api.Failure(api.TimeoutError(
            string="TLS handshake did not complete within %gs" % (self.handshake_timeout,))), True)

    cdef int advance_handshake(self, TCPConnection t) except -1:
        """Let OpenSSL take the handshake as far as the bytes received allow, send what it
        produced; on completion, release the queued writes and call handshakeCompleted()."""
        try:
            self.tls_raw.do_handshake()
        except SSLWantReadError:
            self.drain_outgoing(t)
            return 0
        except SSLError as e:
            self.fail(t, self.tls_reason(t, e), False)
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
        protocol = t.protocol
        callback = getattr(protocol, "handshakeCompleted", None)
        if callback is not None:
            try:
                callback()
            except Exception as e:
                t.loop.report("Unhandled Error in handshakeCompleted of %s" % (safe_repr(protocol),))
                t.lose(t.loop.api.Failure(e))
                return 0
        if t.disconnected or t.aborting:
            return 0
        self.drain_outgoing(t)
        if t.write_pending or t.disconnecting or t.write_shut_requested or t.producer is not None:
            self.want_writable(t)
        return 0

    cdef object tls_reason(self, TCPConnection t, object error):
        """The Failure a TLS error ends the connection with: an EOF in the middle of the TLS
        stream is ConnectionLost (as Twisted reports it), anything else the ssl.SSLError."""
        api = t.loop.api
        if isinstance(error, SSLEOFError):
            return api.Failure(api.CONNECTION_LOST)
        return api.Failure(error)

    # ---- reading ---------------------------------------------------------------------------------

    cdef object read_some(self, TCPConnection t, ssize_t *count):
        cdef ssize_t n
        n = recv(t.fd, tls_recv_buffer, TLS_RECV_CHUNK, 0)
        if n < 0:
            count[0] = -1
            return None
        if n == 0:
            # The socket's EOF without the peer's close_notify: the TLS stream was cut short.
            api = t.loop.api
            t.lose(api.Failure(api.CONNECTION_LOST))
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
            self.advance_handshake(t)
            if not self.handshake_done or t.disconnected or t.aborting:
                fr_set_errno(EAGAIN)
                return None
        data = self.read_records(t, n >= TLS_RECORD_READ)
        if self.close_notify_received and not t.disconnected:
            # The peer's close_notify ends its stream: the data before it, then an EOF.
            if data is not None:
                t.deliver(data)
                if t.disconnected or t.aborting or t.read_shut:
                    fr_set_errno(EAGAIN)
                    return None
            count[0] = 0
            return None
        if data is None or t.disconnected:
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

    cdef object read_records(self, TCPConnection t, bint large):
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
                self.drain_outgoing(t)
        except SSLZeroReturnError:
            self.close_notify_received = True
        except SSLError as e:
            spare_plain_buffer = buffer
            self.fail(t, self.tls_reason(t, e), False)
            return None
        spare_plain_buffer = buffer
        if more is not None:
            return b"".join(more)
        return first
    # ---- writing ---------------------------------------------------------------------------------

    cdef ssize_t send_some(self, TCPConnection t, iovec *vec, int count) except -2:
        cdef size_t total = 0, take, piece
        cdef int i
        cdef char *dest
        cdef Py_ssize_t written
        if self.out_pending is not None:
            if self.send_cipher(t) < 0:
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
            self.tls_failure = self.tls_reason(t, e)
            self.close_notify_sent = True
            fr_set_errno(EPIPE)
            return -1
        finally:
            data = None
        # A record was just made: take it without asking the BIO whether it has one.
        self.out_pending = self.bio_read()     # (nothing was pending: see above)
        self.out_offset = 0
        if self.send_cipher(t) < 0:
            return -1       # flush() keeps errno in write_errno; on_writable reports it
        return written

    cdef int drain_outgoing(self, TCPConnection t) except -2:
        """Move the outgoing BIO's ciphertext behind what is pending and send what the kernel
        takes: 0, or -1 with errno for a send error (also kept in t.write_errno)."""
        cdef object outgoing = self.tls_outgoing
        if outgoing is None or not outgoing.pending:
            return 0
        data = self.bio_read()
        if self.out_pending is None:
            self.out_pending = data
        else:
            self.out_pending = self.out_pending[self.out_offset:] + data
        self.out_offset = 0
        if self.send_cipher(t) < 0:
            t.write_errno = errno
            self.want_writable(t)
            return -1
        return 0

    cdef int send_cipher(self, TCPConnection t) except -2:
        """Send out_pending: 0 when it is all sent or the kernel is full (then writability is
        watched), -1 with errno for an error."""
        cdef ssize_t n
        cdef Py_ssize_t length
        while self.out_pending is not None:
            if t.fd < 0:
                self.out_pending = None
                return 0
            length = PyBytes_GET_SIZE(self.out_pending)
            n = send(t.fd, PyBytes_AS_STRING(self.out_pending) + self.out_offset,
                     length - self.out_offset, FR_SEND_FLAGS)
            if n < 0:
                if errno == EAGAIN or errno == EWOULDBLOCK or errno == ENOBUFS or errno == EINTR:
                    self.want_writable(t)
                    return 0
                return -1
            self.out_offset += n
            if self.out_offset >= length:
                self.out_pending = None
                self.out_offset = 0
        return 0

    cdef int want_writable(self, TCPConnection t) except -1:
        if t.fd >= 0 and not t.aborting and not t.disconnected:
            t.loop.set_interest(t, t.interest | EV_WRITE)
        return 0

    cdef object on_writable(self, TCPConnection t):
        api = t.loop.api
        if t.write_errno:
            t.lose(self.tls_failure if self.tls_failure is not None else api.Failure(api.CONNECTION_LOST))
            return None
        if self.out_pending is not None:
            if self.send_cipher(t) < 0:
                t.lose(api.Failure(api.CONNECTION_LOST))
                return None
            if self.out_pending is not None:
                return None
        if not self.handshake_done:
            # Queued writes and a pending close wait for the handshake, not for writability.
            t.loop.set_interest(t, t.interest & ~EV_WRITE)
            return None
        return StreamTransport.on_writable(t)

    cdef int writable_done(self, TCPConnection t) except -1:
        if self.out_pending is not None:
            self.want_writable(t)
            return 0
        if (t.producer is None or (t.streamingProducer and not t.producerPaused)) and (
                t.disconnecting or (t.write_shut_requested and not t.write_shut)):
            if not self.close_notify_sent and self.handshake_done:
                self.queue_close_notify(t)
                if self.out_pending is not None:
                    return 0    # the close_notify goes first; we come back on writability
        return StreamTransport.writable_done(t)

    cdef int queue_close_notify(self, TCPConnection t) except -1:
        """Put a close_notify alert in the outgoing BIO and send what the kernel takes of it."""
        self.close_notify_sent = True
        try:
            self.tls_raw.shutdown()
        except SSLError:
            pass    # SSLWantReadError: sent, the peer's is still to come (we do not wait for it)
        self.drain_outgoing(t)
        return 0

    # ---- closing ---------------------------------------------------------------------------------

    cdef bint lose_aborts(self, TCPConnection t):
        """Whether loseConnection must abort: before the handshake completed with nothing queued
        (as Twisted's TLS does, since no close_notify can be sent yet)."""
        return (not self.handshake_done and not t.write_pending and t.connected
                and not t.disconnecting and not t.aborting)

    cdef int fail(self, TCPConnection t, object reason, bint abortive) except -1:
        """End the connection for a TLS error or timeout: an alert OpenSSL produced is sent first
        (unless `abortive`), no close_notify."""
        self.close_notify_sent = True
        if abortive:
            t.aborting = True
        t.lose(reason)
        return 0

    cdef int close_descriptor(self, TCPConnection t, bint abortive) except -1:
        if not abortive and t.fd >= 0 and self.tls_outgoing is not None:
            # A clean close says so in TLS (best effort: one send, no waiting for the kernel).
            if self.handshake_done and not self.close_notify_sent:
                self.queue_close_notify(t)
            elif self.out_pending is not None or self.tls_outgoing.pending:
                self.drain_outgoing(t)   # an alert explaining a failure
        self.out_pending = None
        return 0

    cdef int lose(self, TCPConnection t, object reason) except -1:
        if t.disconnected:
            return 0
        api = t.loop.api
        connector = t.connector
        if reason.check(api.ConnectionAborted) is not None:
            # Twisted's TLS reports an abort to the protocol as the TLS stream's unclean end
            # (ConnectionLost) and to the connector as the transport's (ConnectionAborted).
            if connector is not None:
                t.connector = None
                StreamTransport.lose(t, api.Failure(api.CONNECTION_LOST))
                try:
                    connector.connectionLost(reason)
                except Exception:
                    t.loop.report("Unhandled Error in clientConnectionLost of %s" % (safe_repr(connector),))
            else:
                StreamTransport.lose(t, api.Failure(api.CONNECTION_LOST))
        else:
            StreamTransport.lose(t, reason)
        self.release()
        return 0

    cdef int release(self) except -1:
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
