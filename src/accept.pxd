cdef class StreamPort(Handle):
    cdef readonly object factory
    cdef public object connection_class
    cdef int family
    cdef int number_accepts
    cdef int last_accept_errno
    cdef public int connected
    cdef public int disconnecting
    cdef bint reading_paused    # the user's stopReading/pauseProducing/removeReader, until undone
    cdef object retry_call      # the pending accept-retry DelayedCall, or None
    cdef object __weakref__

    cdef int shed_backlog(self, int budget) except -1
    cdef int pause_accepting(self, int err) except -1
    cdef int watch(self) except -1
