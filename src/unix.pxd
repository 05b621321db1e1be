cdef class UNIXConnection(SocketStream):
    # Descriptors queued by sendFileDescriptor: [offset, fd] lists in queue order, `offset` counted
    # in bytes from the head of the write queue (each descriptor goes with the byte there).
    cdef list fd_marks

    cdef ssize_t send_with_descriptors(self, iovec *vec, int count) except -2
    cdef int take_descriptors(self, int *fds, int count) except -1
    cdef int ancillary_ignored(self) except -1
