cdef class UNIXConnection(SocketStream):
    # Descriptors queued by sendFileDescriptor: [offset, fd] lists in queue order, `offset` counted
    # in bytes from the head of the write queue (each descriptor goes with the byte there).
    cdef list fd_marks
    # Descriptors the last read received, not yet handed to the protocol (None: none), and the
    # (level, type) of control data of another kind it carried (None: none).
    cdef list received_fds_pending
    cdef object control_ignored

    cdef ssize_t send_with_descriptors(self, iovec *vec, int count) except -2
    cdef void keep_control_data(self)
    cdef int take_descriptors(self, list taken) except -1
    cdef int ancillary_ignored(self) except -1
