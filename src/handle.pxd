cdef class Loop


cdef class Handle:
    """A descriptor the loop watches; subclasses react to readiness."""
    cdef Loop loop
    cdef int fd
    cdef int interest
    cdef object on_readable(self)
    cdef object on_writable(self)
    cdef int fdset(self, int events, bint on) except -1


cdef class SelectableHandle(Handle):
    cdef readonly object selectable
