from compat cimport iovec


cdef class StreamTransport(Handle):
    # Lifecycle, as Twisted's FileDescriptor/Connection name it.
    cdef public object protocol
    cdef readonly int connected
    cdef readonly int disconnecting
    cdef readonly int disconnected
    cdef public object connector
    # Modes.
    cdef bint aborting              # abortConnection() ran: nothing more is sent or re-armed
    cdef bint half_closeable        # the protocol is IHalfCloseableProtocol
    cdef bint read_shut             # the peer's EOF was reported to a half-closeable protocol
    cdef bint write_shut_requested  # loseWriteConnection() ran
    cdef bint closing_drops_writes  # writes after loseConnection are dropped unless a producer is
                                    # registered (set for TLS, as Twisted's TLSMemoryBIOProtocol)
    cdef bint write_shut            # the write side is shut down
    cdef bint flush_queued          # on the loop's unflushed list (or flushed when dataReceived returns)
    cdef bint receiving             # inside this transport's dataReceived
    cdef int write_errno            # the error a send met, reported when the queue is next looked at
    cdef bint counted_open          # counted in the loop's stat_open (attached, not yet lost)
    # The write queue: chunks[head:] are pending, `offset` bytes of chunks[head] already sent.
    cdef list write_chunks
    cdef Py_ssize_t write_head
    cdef Py_ssize_t write_offset
    cdef Py_ssize_t write_pending
    # Producers (IConsumer).
    cdef public Py_ssize_t bufferSize
    cdef Py_ssize_t low_water
    cdef public object producer
    cdef public int streamingProducer
    cdef public int producerPaused
    cdef object __weakref__

    # The raw I/O layer a stream kind provides (socket, pipe; TLS on top of a socket).
    cdef ssize_t recv_into(self, char *buf, size_t size)
    cdef object read_some(self, ssize_t *count)
    cdef ssize_t send_some(self, iovec *vec, int count) except -2
    cdef int shut_write(self) except -1
    cdef int close_descriptor(self, bint abortive) except -1

    # The shared machinery.
    cdef int start_reading(self) except -1
    cdef int stop_reading(self) except -1
    cdef int deliver(self, object data) except -1
    cdef int read_eof(self) except -1
    cdef int enqueue(self, object data) except -1
    cdef int flush_before_poll(self) except -1
    cdef int flush(self) except -1
    cdef int drop_sent(self, Py_ssize_t sent) except -1
    cdef int maybe_pause_producer(self) except -1
    cdef int writable_done(self) except -1
    cdef int lose(self, object reason) except -1
    cdef int release_queue(self) except -1
