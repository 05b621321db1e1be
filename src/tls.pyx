# TLS: a record layer between a TCP socket and the shared StreamTransport. A TCPConnection that
# carries TLS has a TLSLayer in its `tls` field; a plain one has None there and pays one pointer
# test per raw I/O call (tcp.pyx). The write queue, producers, half-close and the close ordering
# stay StreamTransport's; this layer only turns the raw I/O into records. Every session starts as
# the standard library's ssl.SSLObject made by `context.wrap_bio` over two ssl.MemoryBIOs, so SNI,
# the host name check, ALPN, sessions and every context setting are the ssl module's own. Then one
# of two record paths carries it:
#
# The direct path (the default where it can be used): the SSLObject's SSL* (its C object's, checked
# against the context's SSL_CTX and the two MemoryBIOs, see openssl.h) gets a socket BIO instead of
# the memory BIOs: OpenSSL reads ciphertext from the socket into its own buffer (read-ahead) and
# writes records straight to it, and records are read and written with SSL_read_ex/SSL_write_ex
# resolved from the libssl that _ssl loaded, with the GIL held (a 1 KiB record costs less than
# releasing it) and no Python object per record. The handshake still runs through
# `_sslobj.do_handshake()`, so its errors are the ssl module's (SSLCertVerificationError with the
# verify message, ...); its flights are collected by the BIO and sent by the layer, so (as in
# Twisted) handshakeCompleted runs before the last flight leaves. What the socket does not take of
# a record waits in the BIO's own buffer (io.held) and goes out on writability, ahead of anything
# later, so OpenSSL never holds a partly sent record: a handshake message it must write while
# reading (the answer to a TLS 1.3 post-handshake certificate request) would fail the session
# (BAD_LENGTH) if it did. (OpenSSL 3.0 answers a peer's KeyUpdate request just before our next
# record rather than from SSL_read; a version that answers from SSL_read takes the same path.)
# OpenSSL's record buffers are kept while records flow and freed once the session idles (the ssl
# module has them freed after every record, a malloc and a free per message).
#
# The MemoryBIO path, the fallback: when libssl's functions cannot be found, when the object layouts
# do not check out, when the context has callbacks the ssl module runs from inside OpenSSL
# (sni_callback, keylog_filename, _msg_callback: they stay on the ssl module's own path), when bytes
# were already fed to the memory BIOs (a face's own _useTLS), or when set_tls_direct(False) /
# FASTREACTOR_TLS_PATH=memorybio chose it. It drives the SSLObject through its C object
# (SSLObject._sslobj is _ssl._SSLSocket), so a record costs C calls and no Python frame of ours or of
# ssl.py. Reads avoid SSLWantReadError (an exception per read costs as much as decrypting a 1 KiB
# record) by tracking record boundaries in the ciphertext fed to the incoming BIO: SSL_read is
# called only while a complete record is waiting. OpenSSL takes records whole from the BIO and one
# SSL_read that returns data consumes at least one record (more when non-application records, a
# session ticket or a key update, precede it; it then raises SSLWantReadError once the BIO holds no
# complete record, which resets the count).
#
# Measured with callgrind (bench/notes/tls.md): per echoed 1 KiB message the direct path costs about
# 7,000 fewer user instructions than the MemoryBIO path, per 16 KiB message about 88,000 fewer.
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

import _ssl as _stdlib_ssl_c

cdef enum:
    TLS_PLAIN_BUFFER = 65536    # plaintext decrypted per read before it becomes a bytes
    TLS_STAGE = 16384           # small writes of one flush gathered into one full record

# The direct path's buffers: filled and emptied while the GIL is held, with no Python code run in
# between (see read_direct), so one serves every connection.
cdef char direct_plain[TLS_PLAIN_BUFFER]
cdef char direct_stage[TLS_STAGE]

# A direct session that moved no record for this long gives its OpenSSL buffers back.
cdef double TLS_IDLE_RELEASE = 1.0

cdef object direct_unavailable = "not tried"     # None once libssl's functions are resolved
cdef bint direct_enabled = True


cdef object load_direct():
    """Resolve the direct path's functions once; None if they are there, else why not."""
    global direct_unavailable
    cdef char missing[200]
    if direct_unavailable != "not tried":
        return direct_unavailable
    path = getattr(_stdlib_ssl_c, "__file__", None)
    if not path:
        direct_unavailable = "_ssl is built into the interpreter"
    elif fr_openssl_load(os.fsencode(path), missing, sizeof(missing)) != 0:
        direct_unavailable = "libssl function not found: " + missing.decode("utf-8", "replace")
    else:
        direct_unavailable = None
    return direct_unavailable


def tls_direct_status():
    """Why TLS connections use the MemoryBIO path rather than the direct OpenSSL path (a
    string), or None when the direct path is available and enabled."""
    if not direct_enabled:
        return "disabled (set_tls_direct(False) or FASTREACTOR_TLS_PATH=memorybio)"
    return load_direct()


def set_tls_direct(bint enabled):
    """Choose the record path of TLS connections set up from now on: the direct OpenSSL path
    where it can be used (True, the default) or always the ssl.MemoryBIO path (False). Returns
    the previous setting."""
    global direct_enabled
    previous = direct_enabled
    direct_enabled = enabled
    return previous


if os.environ.get("FASTREACTOR_TLS_PATH", "") == "memorybio":
    direct_enabled = False



cdef class TLSLayer:
    """The TLS session of one TCP connection: an ssl.SSLObject whose records go either straight
    between OpenSSL and the socket (the direct path) or through two memory BIOs (the fallback,
    with the record framing of the ciphertext received), the bytes not yet sent, and the
    handshake's state and timer. It holds no reference to its transport: TCPConnection calls its
    methods with itself as `t` and the layer does the socket I/O through t's descriptor. See
    TCPConnection (tcp.pyx) for the behaviour a TLS connection has.
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
        self.want_direct = direct_enabled

    # ---- the handshake ---------------------------------------------------------------------------

    cdef int start_handshake(self, TCPConnection t) except -1:
        if self.handshake_started or t.disconnected or t.aborting:
            return 0
        self.handshake_started = True
        if self.handshake_timeout > 0:
            self.handshake_timer = t.loop.schedule(self.handshake_timeout, self._timedOut, (t,), None)
        self.go_direct(t)
        self.advance_handshake(t)
        return 0

    cdef bint go_direct(self, TCPConnection t) except -1:
        """Switch this session to the direct path if it can be used (see the module comment);
        True if it now is."""
        cdef SSL *ssl
        cdef BIO *bio
        if not self.want_direct or load_direct() is not None or self.tls_raw is None:
            return False
        if self.tls_incoming.pending or self.tls_outgoing.pending:
            return False
        context = self.tls_object.context
        if (context.sni_callback is not None or getattr(context, "keylog_filename", None)
                or getattr(context, "_msg_callback", None) is not None):
            return False
        if (type(self.tls_raw) is not _stdlib_ssl_c._SSLSocket
                or not isinstance(context, _stdlib_ssl_c._SSLContext)
                or type(self.tls_incoming) is not _stdlib_ssl_c.MemoryBIO
                or type(self.tls_outgoing) is not _stdlib_ssl_c.MemoryBIO):
            return False
        ssl = fr_sslsocket_ssl(self.tls_raw)
        if (ssl == NULL or fr_ossl.SSL_get_SSL_CTX(ssl) != fr_sslcontext_ctx(context)
                or fr_ossl.SSL_get_rbio(ssl) != fr_memorybio_bio(self.tls_incoming)
                or fr_ossl.SSL_get_wbio(ssl) != fr_memorybio_bio(self.tls_outgoing)):
            return False
        bio = fr_ossl.BIO_new(fr_ossl.socket_method)
        if bio == NULL:
            return False
        self.io.fd = t.fd
        self.io.eof = 0
        self.io.error = 0
        self.io.hold = 0
        self.io.collect = 1     # the handshake's flights are sent by drain_outgoing
        fr_ossl.BIO_set_data(bio, &self.io)
        fr_ossl.SSL_set_bio(ssl, bio, bio)     # the SSL owns it now; the memory BIOs are dropped
        fr_ossl.SSL_set_read_ahead(ssl, 1)
        fr_ssl_set_mode(ssl, FR_SSL_MODE_ENABLE_PARTIAL_WRITE | FR_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER)
        if fr_ossl.SSL_free_buffers != NULL:
            # The ssl module asks OpenSSL to free its ~17 KiB read and write buffers after every
            # record (SSL_MODE_RELEASE_BUFFERS): a malloc and a free of each per message. Here
            # they are kept while records flow and freed when the session goes idle (arm_idle).
            fr_ssl_clear_mode(ssl, FR_SSL_MODE_RELEASE_BUFFERS)
            self.keep_buffers = True
        self.ssl = ssl
        self.bio = bio
        self.drop_memorybio_objects()
        return True

    def __dealloc__(self):
        if self.bio != NULL:
            fr_ossl.BIO_set_data(self.bio, NULL)
        fr_tls_io_free(&self.io)

    cdef int arm_idle(self, TCPConnection t) except -1:
        """Records moved: make sure an idle check is scheduled."""
        self.io_active = True
        if self.idle_timer is None and not t.disconnected:
            self.idle_timer = t.loop.schedule(TLS_IDLE_RELEASE, self._idleCheck, (t,), None)
        return 0

    def _idleCheck(self, TCPConnection t):
        self.idle_timer = None
        if self.ssl == NULL or t.disconnected:
            return
        if self.io_active:
            self.io_active = False
            self.idle_timer = t.loop.schedule(TLS_IDLE_RELEASE, self._idleCheck, (t,), None)
        elif not fr_ossl.SSL_has_pending(self.ssl):
            fr_ossl.SSL_free_buffers(self.ssl)  # refused (harmlessly) if a write is unfinished

    @property
    def direct(self):
        """True while this session runs on the direct OpenSSL path."""
        return self.ssl != NULL

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
        if self.ssl != NULL:
            fr_err_reset()      # (the ssl module trusts the queue as SSL_get_error does)
        try:
            self.tls_raw.do_handshake()
        except SSLWantReadError:
            self.drain_outgoing(t)
            return 0
        except SSLError as e:
            if self.ssl != NULL and (self.io.eof or self.io.error):
                api = t.loop.api
                self.fail(t, api.Failure(api.CONNECTION_LOST), False)
            else:
                self.fail(t, self.tls_reason(t, e), False)
            return 0
        self.handshake_done = True
        if self.ssl == NULL:
            # The handshake consumed an unknown number of the records counted: read until OpenSSL
            # says the BIO holds no complete record, if it holds one (the BIO holds a complete
            # record exactly when it holds more than the incomplete tail we saw arrive).
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
        if self.ssl != NULL:
            self.io.collect = 0
            fr_tls_io_free(&self.io)
            if self.keep_buffers and not fr_ossl.SSL_has_pending(self.ssl):
                fr_ossl.SSL_free_buffers(self.ssl)  # until records flow (arm_idle)
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
        if self.ssl != NULL and not self.close_notify_received:
            count[0] = -1
            if not self.handshake_done:
                self.advance_handshake(t)
                if (not self.handshake_done or t.disconnected or t.aborting
                        or not fr_ossl.SSL_has_pending(self.ssl)):
                    # (Nothing came after the handshake: an SSL_read now would only take
                    # the record buffers back that the handshake's end released.)
                    fr_set_errno(EAGAIN)
                    return None
            data = self.read_direct(t)
            if t.disconnected:
                fr_set_errno(EAGAIN)
                return None
            if self.close_notify_received:
                return self.peer_closed(t, data, count)
            if data is None:
                fr_set_errno(EAGAIN)
                return None
            count[0] = len(<bytes>data)
            return data
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
            return self.peer_closed(t, data, count)
        if data is None or t.disconnected:
            fr_set_errno(EAGAIN)
            return None
        count[0] = len(<bytes>data)
        return data

    cdef object peer_closed(self, TCPConnection t, object data, ssize_t *count):
        """read_some's end once the peer's close_notify came: the data before it is delivered,
        then the stream ends. After our own loseConnection this is the close it waited for
        (ConnectionDone, as Twisted reports it); while our queue and close_notify are still
        going out, reading stops and writable_done closes once they are sent. Otherwise it is
        the peer's EOF: a half-closeable protocol gets readConnectionLost (count 0, see
        StreamTransport); any other is closed as Twisted's TLS answers a close_notify: what is
        queued goes out, then our close_notify, then ConnectionDone (loseConnection's path,
        without reading on), so the peer, which waits for our answer, gets it."""
        count[0] = -1
        if data is not None:
            t.deliver(data)
            if t.disconnected or t.aborting or t.read_shut:
                fr_set_errno(EAGAIN)
                return None
        if self.awaiting_close:
            api = t.loop.api
            t.lose(api.Failure(api.CONNECTION_DONE))
        elif t.disconnecting:
            t.stop_reading()
        elif t.half_closeable:
            count[0] = 0
            return None
        else:
            StreamTransport.loseConnection(t)
        fr_set_errno(EAGAIN)
        return None

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

    cdef object read_direct(self, TCPConnection t):
        """Direct path: the plaintext of every record OpenSSL can decrypt now (it reads the
        socket itself), None if none; a close_notify sets close_notify_received, an error or a
        cut-off stream ends the connection (and returns None). Records are decrypted into a
        shared buffer and copied out once; while they come full-size (bulk data), each is
        decrypted into the bytes object itself instead, which saves copying 16 KiB."""
        cdef Py_ssize_t filled = 0
        cdef size_t n, room
        cdef int r, code
        cdef char *dest
        cdef object chunk
        cdef object whole
        cdef list chunks = None
        fr_err_reset()
        while True:
            whole = None
            if self.large_reads:
                if filled:
                    # Copy the buffer out before anything that could run Python code.
                    chunk = bytes_copy(direct_plain, filled)
                    filled = 0
                    if chunks is None:
                        chunks = [chunk]
                    else:
                        chunks.append(chunk)
                whole = PyBytes_FromStringAndSize(NULL, TLS_RECORD_READ)
                dest = PyBytes_AS_STRING(whole)
                room = TLS_RECORD_READ
            else:
                if TLS_PLAIN_BUFFER - filled < TLS_RECORD_READ:
                    chunk = bytes_copy(direct_plain, filled)
                    filled = 0
                    if chunks is None:
                        chunks = [chunk]
                    else:
                        chunks.append(chunk)
                dest = direct_plain + filled
                room = TLS_PLAIN_BUFFER - filled
            r = fr_ossl.SSL_read_ex(self.ssl, dest, room, &n)
            if r == 1:
                if self.keep_buffers and not self.io_active:
                    self.arm_idle(t)
                if whole is None:
                    filled += n
                else:
                    chunk = whole if n == TLS_RECORD_READ else PyBytes_FromStringAndSize(dest, n)
                    if chunks is None:
                        chunks = [chunk]
                    else:
                        chunks.append(chunk)
                self.large_reads = n >= TLS_RECORD_READ
                if not fr_ossl.SSL_has_pending(self.ssl):
                    break
                continue
            code = fr_ossl.SSL_get_error(self.ssl, r)
            if code == FR_SSL_ERROR_WANT_READ:
                break
            if code == FR_SSL_ERROR_ZERO_RETURN:
                self.close_notify_received = True
                break
            # (No WANT_WRITE: what OpenSSL writes while reading, the answer to a post-handshake
            # message, goes to the socket or, when it is full, to io.held; see openssl.h.)
            reason = self.direct_error(t, code)
            self.fail(t, reason, False)
            return None
        if self.io.held_len and not self.io.collect:
            self.want_writable(t)   # OpenSSL answered something and the socket was full
        if filled:
            chunk = bytes_copy(direct_plain, filled)
            if chunks is None:
                return chunk
            chunks.append(chunk)
        if chunks is None:
            return None
        if len(chunks) == 1:
            return chunks[0]
        return b"".join(chunks)

    cdef object direct_error(self, TCPConnection t, int code):
        """The Failure for a direct SSL_read/SSL_write/SSL_shutdown error `code` (from
        SSL_get_error): ConnectionLost when the socket was cut (EOF without close_notify, or a
        socket error), else an ssl.SSLError worded as the ssl module words it."""
        cdef unsigned long e
        cdef const char *text
        api = t.loop.api
        e = fr_ossl.ERR_peek_last_error()     # (the earliest may be another library's)
        fr_ossl.ERR_clear_error()
        if self.io.eof or self.io.error or e == 0:
            return api.Failure(api.CONNECTION_LOST)
        text = fr_ossl.ERR_reason_error_string(e)
        reason = text.decode("utf-8", "replace") if text != NULL else "error %d" % (e,)
        name = reason.upper().replace(" ", "_")
        error = SSLError(code, "[SSL: %s] %s" % (name, reason))
        error.library = "SSL"
        error.reason = name
        return api.Failure(error)

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
                    chunk = bytes_copy(PyByteArray_AS_STRING(buffer), n)
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
        if self.cipher_waiting():
            if self.send_cipher(t) < 0:
                return -1
            if self.cipher_waiting():
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
        if self.ssl != NULL:
            return self.send_direct(t, vec, count)
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

    cdef ssize_t send_direct(self, TCPConnection t, iovec *vec, int count) except -2:
        """Direct path: encrypt and send what the socket takes of `vec`, small pieces gathered
        into full records. Returns the plaintext bytes taken, or -1 with errno (EAGAIN: nothing
        taken, writability is watched; EPIPE: a TLS error, kept for on_writable). The rest of a
        record that the socket took only in part waits in io.held (openssl.h), and the bytes
        taken stop there: writability is watched, and io.held goes out first."""
        cdef size_t total = 0, staged = 0, done, piece, length
        cdef const char *p
        cdef int i, status = 0
        fr_err_reset()
        if self.keep_buffers and not self.io_active:
            self.arm_idle(t)
        if count == 1:
            # One piece: no gathering needed (records are cut from it in place).
            status = self.write_direct(t, <const char *>vec[0].iov_base,
                                       vec[0].iov_len if vec[0].iov_len < TLS_WRITE_MAX else TLS_WRITE_MAX,
                                       &done)
            total = done
            count = 0
        for i in range(count):
            p = <const char *>vec[i].iov_base
            length = vec[i].iov_len
            while length > 0 and status == 0 and total < TLS_WRITE_MAX:
                if staged == 0 and length >= TLS_STAGE:
                    status = self.write_direct(t, p, length, &done)
                    total += done
                    p += done
                    length -= done
                    continue
                piece = TLS_STAGE - staged
                if piece > length:
                    piece = length
                memcpy(direct_stage + staged, p, piece)
                staged += piece
                p += piece
                length -= piece
                if staged == TLS_STAGE:
                    status = self.write_direct(t, direct_stage, staged, &done)
                    total += done
                    staged = 0
            if status != 0 or total >= TLS_WRITE_MAX:
                break
        if staged and status == 0:
            status = self.write_direct(t, direct_stage, staged, &done)
            total += done
        if status < 0:
            fr_set_errno(EPIPE)
            return -1
        if total == 0:
            fr_set_errno(EAGAIN)
            return -1
        return <ssize_t>total

    cdef int write_direct(self, TCPConnection t, const char *data, size_t size, size_t *written) except -2:
        """SSL_write_ex all of `data` (record by record): 0 when all of it is sent, 1 when the
        socket is full (writability is watched), -1 for an error (tls_failure is set, the session
        is over); `written` gets the bytes taken either way."""
        cdef size_t n
        cdef int r, code
        written[0] = 0
        while written[0] < size:
            r = fr_ossl.SSL_write_ex(self.ssl, data + written[0], size - written[0], &n)
            if r == 1:
                written[0] += n
                if self.io.held_len:
                    self.want_writable(t)   # the socket took part of that record: it is full
                    return 1
                continue
            code = fr_ossl.SSL_get_error(self.ssl, r)
            if code == FR_SSL_ERROR_WANT_WRITE or code == FR_SSL_ERROR_WANT_READ:
                self.want_writable(t)
                return 1
            self.tls_failure = self.direct_error(t, code)
            self.close_notify_sent = True
            return -1
        return 0

    cdef int drain_outgoing(self, TCPConnection t) except -2:
        """Move the outgoing BIO's ciphertext behind what is pending and send what the kernel
        takes: 0, or -1 with errno for a send error (also kept in t.write_errno)."""
        cdef object outgoing = self.tls_outgoing
        if self.ssl != NULL:
            if self.io.held_len == 0:
                return 0
            data = PyBytes_FromStringAndSize(self.io.held, self.io.held_len)
            self.io.held_len = 0
        elif outgoing is None or not outgoing.pending:
            return 0
        else:
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

    cdef bint cipher_waiting(self):
        """Whether ciphertext made earlier waits for the socket: out_pending, then (direct path,
        after the handshake) what the BIO kept in io.held."""
        return self.out_pending is not None or (self.io.held_len != 0 and not self.io.collect)

    cdef int send_cipher(self, TCPConnection t) except -2:
        """Send out_pending, then (direct path, after the handshake) io.held: 0 when they are
        sent or the kernel is full (then writability is watched), -1 with errno for an error."""
        cdef ssize_t n
        cdef Py_ssize_t length
        cdef int r
        while self.out_pending is not None:
            if t.fd < 0:
                self.out_pending = None
                return 0
            length = PyBytes_GET_SIZE(self.out_pending)
            n = send(t.fd, PyBytes_AS_STRING(self.out_pending) + self.out_offset,
                     length - self.out_offset, FR_SEND_FLAGS)
            if n < 0:
                if errno == EAGAIN or errno == EWOULDBLOCK or errno == ENOBUFS or errno == EINTR:
                    self.io.hold = 1    # OpenSSL's own writes wait behind these bytes
                    self.want_writable(t)
                    return 0
                return -1
            self.out_offset += n
            if self.out_offset >= length:
                self.out_pending = None
                self.out_offset = 0
                self.io.hold = 0
        if self.io.held_len and not self.io.collect and t.fd >= 0:
            r = fr_tls_io_send_held(&self.io)
            if r < 0:
                return -1
            if r > 0:
                self.want_writable(t)
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
        if self.cipher_waiting():
            if self.send_cipher(t) < 0:
                t.lose(api.Failure(api.CONNECTION_LOST))
                return None
            if self.cipher_waiting():
                return None
        if not self.handshake_done:
            # Queued writes and a pending close wait for the handshake, not for writability.
            t.loop.set_interest(t, t.interest & ~EV_WRITE)
            return None
        if self.shutdown_pending:
            if self.shutdown_direct(t):
                return None
        return StreamTransport.on_writable(t)

    cdef int shutdown_direct(self, TCPConnection t) except -1:
        """Direct path: have OpenSSL send its close_notify; 1 if the socket is full and it waits
        for writability (shutdown_pending), else 0."""
        cdef int r
        fr_err_reset()
        r = fr_ossl.SSL_shutdown(self.ssl)
        if self.io.held_len:
            self.want_writable(t)   # the close_notify waits in io.held (openssl.h)
        if r < 0 and fr_ossl.SSL_get_error(self.ssl, r) == FR_SSL_ERROR_WANT_WRITE:
            self.shutdown_pending = True
            self.want_writable(t)
            return 1
        fr_ossl.ERR_clear_error()
        self.shutdown_pending = False
        return 0

    cdef int writable_done(self, TCPConnection t) except -1:
        if self.cipher_waiting() or self.shutdown_pending:
            self.want_writable(t)
            return 0
        if t.disconnecting and t.producer is not None:
            # As Twisted's TLS: loseConnection waits for unregisterProducer (which watches for
            # writability again), and writes go on meanwhile; a pull or paused producer is asked
            # for more, as on any stream.
            if t.streamingProducer and not t.producerPaused:
                return 0
            return StreamTransport.writable_done(t)
        if (t.producer is None or (t.streamingProducer and not t.producerPaused)) and (
                t.disconnecting or (t.write_shut_requested and not t.write_shut)):
            if not self.close_notify_sent and self.handshake_done:
                self.queue_close_notify(t)
                if self.cipher_waiting() or self.shutdown_pending:
                    return 0    # the close_notify goes first; we come back on writability
            if t.disconnecting and self.close_notify_queued and not self.close_notify_received:
                # As Twisted's TLS: the TCP connection stays open, and reading, until the peer's
                # close_notify answers ours (read_some then ends it with ConnectionDone), or the
                # peer closes TCP or fails (ConnectionLost). No timeout: a peer that never
                # answers and never closes keeps the connection open, as it does on Twisted.
                if not self.awaiting_close:
                    self.awaiting_close = True
                    t.start_reading()
                return 0
        return StreamTransport.writable_done(t)

    cdef int queue_close_notify(self, TCPConnection t) except -1:
        """Put a close_notify alert in the outgoing BIO and send what the kernel takes of it."""
        self.close_notify_sent = True
        self.close_notify_queued = True
        if self.ssl != NULL:
            if t.fd >= 0:
                self.shutdown_direct(t)
            return 0
        try:
            self.tls_raw.shutdown()
        except SSLError:
            pass    # SSLWantReadError: sent, the peer's is still to come (see writable_done)
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
        if self.ssl != NULL:
            # Direct path: a clean close says so in TLS, a failed handshake sends its alert
            # (best effort: one try, no waiting for the kernel).
            if not abortive and t.fd >= 0:
                if self.handshake_done and not self.close_notify_sent:
                    self.queue_close_notify(t)
                elif self.io.held_len and self.io.collect:
                    self.drain_outgoing(t)   # an alert explaining a failure
                if self.io.held_len and not self.io.collect and self.out_pending is None:
                    fr_tls_io_send_held(&self.io)
            self.io.fd = -1
            fr_tls_io_free(&self.io)
            self.out_pending = None
            return 0
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

    cdef int drop_memorybio_objects(self) except -1:
        """Let go of the MemoryBIO path's objects and bound methods (the direct path, or the end,
        needs none of them)."""
        self.tls_incoming = None
        self.tls_outgoing = None
        self.bio_write = None
        self.bio_read = None
        self.ssl_read = None
        self.ssl_write = None
        return 0

    cdef int release(self) except -1:
        """Drop the TLS session and its buffers (the connection has ended)."""
        if self.handshake_timer is not None:
            timer, self.handshake_timer = self.handshake_timer, None
            if timer.active():
                timer.cancel()
        if self.idle_timer is not None:
            timer, self.idle_timer = self.idle_timer, None
            if timer.active():
                timer.cancel()
        self.out_pending = None
        if self.bio != NULL:
            # The SSL (freed with tls_object) keeps the BIO; it must not reach this layer again.
            fr_ossl.BIO_set_data(self.bio, NULL)
            self.bio = NULL
            self.ssl = NULL
        self.io.fd = -1
        fr_tls_io_free(&self.io)
        self.tls_raw = None
        self.drop_memorybio_objects()
        self.tls_object = None
        return 0
