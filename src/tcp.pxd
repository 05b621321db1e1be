cdef class TLSLayer


cdef class TCPConnection(SocketStream):
    cdef TLSLayer tls      # the TLS record layer once TLS is set up, else None (plain TCP)
