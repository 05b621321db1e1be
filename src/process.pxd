cdef class PipeStream(StreamTransport):
    cdef readonly int childFD
    cdef readonly int mode          # PIPE_READ, PIPE_WRITE or PIPE_BOTH (a pseudo-terminal's master)
    cdef bint end_pending           # EOF or the reader's departure seen: lost after this poll's events


cdef class ExitWatcher(Waker):
    cdef readonly int pid
    cdef readonly str how           # "pidfd", "kqueue" or "sigchld"
    cdef object process             # process._reaped(status) is called once, when reaped
    cdef object recheck             # the SIGCHLD fallback's next periodic reap attempt
    cdef int stop_watching(self) except -1
