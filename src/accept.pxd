cdef class StreamPort(Handle):
    cdef readonly object factory
    cdef public object connection_class
    cdef int family
    cdef int number_accepts
    cdef int last_accept_errno
    cdef public int connected
    cdef public int disconnecting
    cdef object __weakref__

    cdef int shed_backlog(self, int budget) except -1
    cdef int pause_accepting(self, int err) except -1
