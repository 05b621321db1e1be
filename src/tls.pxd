cimport cython


# final: TCPConnection and the layer itself call its methods directly, not through a vtable.
@cython.final
cdef class TLSLayer:
    # The TLS session of one TCPConnection (its `tls` field; plain TCP has none): the public
    # ssl.SSLObject, its C object (`_sslobj`, whose methods are called without Python frames), the
    # two memory BIOs, and bound methods of them kept so the record path does no attribute lookups.
    cdef readonly object tls_object
    cdef object tls_raw
    cdef object tls_incoming
    cdef object tls_outgoing
    cdef object bio_write
    cdef object bio_read
    cdef object ssl_read
    cdef object ssl_write
    cdef bint tls_client
    cdef readonly bint handshake_done
    cdef bint handshake_started
    cdef bint close_notify_sent
    cdef bint close_notify_received
    cdef bint close_notify_queued     # our own close_notify for loseConnection/loseWriteConnection
    cdef bint awaiting_close          # loseConnection's close_notify is out: waiting for the peer's
    cdef object tls_failure           # the TLS error a write met, reported on the next writability
    cdef object handshake_timer
    cdef double handshake_timeout
    # Ciphertext (or, right after startTLS, clear bytes written before it) not yet taken by the
    # kernel: out_pending[out_offset:].
    cdef bytes out_pending
    cdef Py_ssize_t out_offset
    # Record framing of the ciphertext fed to the incoming BIO: bytes still to come of the current
    # record's body, header bytes seen so far, and bytes fed since the last complete record ended.
    cdef Py_ssize_t rec_left
    cdef int hdr_have
    cdef unsigned char hdr[5]
    cdef Py_ssize_t rec_tail
    cdef Py_ssize_t records_waiting   # complete records fed and not known to be consumed
    # The direct path (openssl.h): the SSL* of tls_object, reading and writing through `bio` on
    # the socket (`io`); NULL while the MemoryBIO path is in use.
    cdef SSL *ssl
    cdef BIO *bio
    cdef fr_tls_io io
    cdef bint want_direct             # set_tls_direct's setting when the session was set up
    cdef bint shutdown_pending        # a close_notify OpenSSL holds until the socket is writable
    # OpenSSL's record buffers are kept while records flow and freed once the session has been
    # idle for TLS_IDLE_RELEASE seconds (idle_timer), instead of after every record.
    cdef bint keep_buffers
    cdef bint io_active
    cdef bint large_reads             # the last record read was large: decrypt into the bytes itself
    cdef object idle_timer

    # The transport's raw I/O and lifecycle hooks while TLS is on (TCPConnection delegates here).
    cdef object read_some(self, TCPConnection t, ssize_t *count)
    cdef ssize_t send_some(self, TCPConnection t, iovec *vec, int count) except -2
    cdef object on_writable(self, TCPConnection t)
    cdef int writable_done(self, TCPConnection t) except -1
    cdef int close_descriptor(self, TCPConnection t, bint abortive) except -1
    cdef int lose(self, TCPConnection t, object reason) except -1
    cdef bint lose_aborts(self, TCPConnection t)

    cdef int start_handshake(self, TCPConnection t) except -1
    cdef bint go_direct(self, TCPConnection t) except -1
    cdef object read_direct(self, TCPConnection t)
    cdef ssize_t send_direct(self, TCPConnection t, iovec *vec, int count) except -2
    cdef int write_direct(self, TCPConnection t, const char *data, size_t size, size_t *written) except -2
    cdef object direct_error(self, TCPConnection t, int code)
    cdef int shutdown_direct(self, TCPConnection t) except -1
    cdef int arm_idle(self, TCPConnection t) except -1
    cdef object peer_closed(self, TCPConnection t, object data, ssize_t *count)
    cdef int feed_records(self, const unsigned char *data, Py_ssize_t n) noexcept
    cdef int advance_handshake(self, TCPConnection t) except -1
    cdef object tls_reason(self, TCPConnection t, object error)
    cdef object read_records(self, TCPConnection t, bint large)
    cdef int drain_outgoing(self, TCPConnection t) except -2
    cdef int send_cipher(self, TCPConnection t) except -2
    cdef bint cipher_waiting(self)
    cdef int want_writable(self, TCPConnection t) except -1
    cdef int fail(self, TCPConnection t, object reason, bint abortive) except -1
    cdef int queue_close_notify(self, TCPConnection t) except -1
    cdef int drop_memorybio_objects(self) except -1
    cdef int release(self) except -1
