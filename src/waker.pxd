cdef class Waker(Handle):
    cdef int write_fd
    cdef bint use_eventfd
    cdef readonly int armed
    cdef int wake(self) except -1
