# Declarations for the compiled framing helpers (delimiter search, length prefixes): see framing.pyx.

cdef class FrameBuffer:
    cdef char *buf
    cdef char *store
    cdef object borrowed
    cdef Py_ssize_t mark
    cdef Py_ssize_t start
    cdef Py_ssize_t end
    cdef Py_ssize_t capacity
    cdef bint busy
    cdef object limit_obj
    cdef Py_ssize_t limit_val

    cdef int receive_chunk(self, object data) except -1
    cdef int settle(self) except -1
    cdef int append(self, object data) except -1
    cdef int append_raw(self, const char *p, Py_ssize_t n) except -1
    cdef object take(self, Py_ssize_t n)
    cdef object take_all(self)
    cdef void drop_all(self)
    cdef int over(self, object limit, Py_ssize_t n) except -1


cdef class LineSplitter(FrameBuffer):
    cdef object delimiter

    cdef Py_ssize_t find(self, object delimiter) except -2


cdef class LengthPrefixSplitter(FrameBuffer):
    cdef object fmt
    cdef Py_ssize_t fmt_prefix
    cdef int fmt_kind
    cdef object unpack

    cdef int configure(self, object fmt, Py_ssize_t prefix) except -1


cdef class NetstringSplitter(FrameBuffer):
    cdef int state
    cdef Py_ssize_t expected
    cdef bint broken
    cdef bint broken_pending
    cdef object digits_for
    cdef Py_ssize_t max_digits

    cdef int check_length(self, object protocol, Py_ssize_t digits, Py_ssize_t *length) except -1
    cdef bint fail(self)
    cdef object parse(self, object protocol)
