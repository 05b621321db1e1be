cdef class TLSConnection(TCPConnection):
    # The TLS session (None until startTLS/_prepareTLS): the public ssl.SSLObject, its C object
    # (`_sslobj`, whose methods are called without Python frames), the two memory BIOs, and bound
    # methods of them kept so the record path does no attribute lookups.
    cdef readonly object tls_object
    cdef object tls_raw
    cdef object tls_incoming
    cdef object tls_outgoing
    cdef object bio_write
    cdef object bio_read
    cdef object ssl_read
    cdef object ssl_write
    cdef bint tls_on                  # records on: raw I/O goes through the TLS layer
    cdef bint tls_client
    cdef readonly bint handshake_done
    cdef bint handshake_started
    cdef bint close_notify_sent
    cdef bint close_notify_received
    cdef object tls_failure           # the TLS error a write met, reported on the next writability
    cdef object handshake_timer
    cdef public double handshakeTimeout
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

    cdef int tls_setup(self, object sslobject, object incoming, object outgoing, bint client) except -1
    cdef int feed_records(self, const unsigned char *data, Py_ssize_t n) noexcept
    cdef int advance_handshake(self) except -1
    cdef object tls_reason(self, object error)
    cdef object read_records(self, bint large)
    cdef int drain_outgoing(self) except -2
    cdef int send_cipher(self) except -2
    cdef int want_writable(self) except -1
    cdef int fail(self, object reason, bint abortive) except -1
    cdef int queue_close_notify(self) except -1
    cdef int release_tls(self) except -1
