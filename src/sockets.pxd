cdef class SocketStream(StreamTransport):
    cdef int family
    cdef object peer
    cdef object host
    cdef bint handle_exposed
    cdef readonly object socket_object

    cdef int set_option(self, int level, int name, value) except -1
    cdef int get_option(self, int level, int name) except -2
