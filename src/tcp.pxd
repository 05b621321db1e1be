cdef class TCPConnection(Handle):
    cdef public object protocol
    cdef readonly int connected
    cdef readonly int disconnecting
    cdef readonly int disconnected
    cdef bint aborting
    cdef bint reading_paused
    cdef bint half_closeable
    cdef bint read_shut
    cdef bint write_shut_requested
    cdef bint write_shut
    cdef bint handle_exposed
    cdef bint flush_queued
    cdef bint receiving         # inside this connection's dataReceived
    cdef int write_errno
    cdef int family
    cdef list write_chunks
    cdef Py_ssize_t write_offset
    cdef Py_ssize_t write_pending
    cdef public Py_ssize_t bufferSize
    cdef Py_ssize_t low_water
    cdef public object producer
    cdef public int streamingProducer
    cdef public int producerPaused
    cdef object peer
    cdef object host
    cdef public object connector
    cdef readonly object socket_object
    cdef object __weakref__

    cdef int start_reading(self) except -1
    cdef int stop_reading(self) except -1
    cdef int flush(self) except -1
    cdef int enqueue(self, object data) except -1
    cdef int flush_before_poll(self) except -1
    cdef int maybe_pause_producer(self) except -1
    cdef int lose(self, object reason) except -1
    cdef int close_socket(self, bint abortive) except -1
    cdef int read_eof(self) except -1
    cdef int set_option(self, int level, int name, value) except -1
    cdef int get_option(self, int level, int name) except -2


cdef class TCPPort(Handle):
    cdef readonly object factory
    cdef public object connection_class
    cdef int family
    cdef int number_accepts
    cdef public int connected
    cdef public int disconnecting
    cdef object __weakref__

    cdef int shed_backlog(self, int budget) except -1
