cdef class TCPConnection(SocketStream):
    pass
