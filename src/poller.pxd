from compat cimport epoll_event, pollfd, fd_set, kevent_t

cdef enum:
    EV_READ = 1
    EV_WRITE = 2

# One readiness report: the descriptor, what it is ready for, and the registration generation the
# loop had for it when the report was fetched (so a report for a closed-and-reused fd is dropped).
cdef struct FiredEvent:
    int fd
    int events
    unsigned int generation


cdef class Poller:
    cdef readonly str name
    cdef int max_events
    cdef int register(self, int fd, int events) except -1
    cdef int modify(self, int fd, int events) except -1
    cdef int unregister(self, int fd, bint closing) except -1
    # `release`: let other threads run during the call (the GIL released, or the thread state
    # detached where the GIL is disabled); the loop passes False only for a wait that cannot block
    # long (see Loop.poll_once).
    cdef int wait(self, double timeout, FiredEvent *out, bint release) except -1


cdef class EpollPoller(Poller):
    cdef int epfd
    cdef epoll_event *buffer
    cdef int control(self, int op, int fd, int events) except -1


cdef class KqueuePoller(Poller):
    cdef int kq
    cdef kevent_t *buffer
    cdef int *interest
    cdef int interest_size
    cdef int change(self, int fd, int old, int new) except -1
    cdef int remember(self, int fd, int events) except -1


cdef class PollPoller(Poller):
    cdef pollfd *fds
    cdef int nfds
    cdef int capacity
    cdef int *position
    cdef int position_size
    cdef int scan_start


cdef class SelectPoller(Poller):
    cdef fd_set readers
    cdef fd_set writers
    cdef int max_fd
    cdef unsigned char *interest
