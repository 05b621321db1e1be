from cpython.object cimport PyObject


cdef extern from "gc_slots.h":
    ctypedef int (*fr_visitproc)(PyObject *, void *) noexcept
    ctypedef int (*fr_traverseproc)(PyObject *, fr_visitproc, void *) noexcept
    ctypedef int (*fr_inquiry)(PyObject *) noexcept
    int fr_gc_install(object type, fr_traverseproc traverse, fr_inquiry clear,
                      fr_traverseproc *previous_traverse, fr_inquiry *previous_clear) except -1


cdef class Loop:
    cdef readonly Poller poller
    cdef PyObject **handles
    cdef unsigned int *generations
    cdef int table_size
    cdef FiredEvent *fired
    cdef TimerHeap timers
    cdef object thread_calls
    cdef Waker waker
    cdef PyObject *dispatching    # borrowed: the handle whose readiness callback runs now, or NULL
    cdef object seconds_source    # None: the wall clock; else what the user put in reactor.seconds
    cdef public object api
    cdef object shutdown_hook          # the face's: a stop() reached the loop
    cdef object selectable_failed_hook # the face's: (selectable, why, isRead)
    cdef public bint _started
    cdef public bint _stopped
    cdef public bint _justStopped
    cdef public bint running
    cdef readonly dict selectables
    cdef list unflushed
    cdef object __weakref__
    # Statistics for stats(): plain C counters, cheap enough to stay on (transports add to them).
    cdef unsigned long long stat_iterations
    cdef unsigned long long stat_poll_ns           # time blocked in the poller
    cdef unsigned long long stat_busy_ns           # time between polls (callbacks, flushing)
    cdef unsigned long long stat_longest_busy_ns   # the longest single stretch between two polls
    cdef unsigned long long stat_awake_since_ns    # when the last poll returned (0: not yet)
    cdef unsigned long long stat_bytes_read
    cdef unsigned long long stat_bytes_written
    cdef unsigned long long stat_accepted
    cdef long long stat_open                       # stream transports attached and not yet lost

    cdef double now(self) except? -1.0
    cdef int grow_table(self, int fd) except -1
    cdef int set_interest(self, Handle handle, int events) except -1
    cdef int forget(self, Handle handle, bint closing) except -1
    cdef void release_table(self, bint unregister) noexcept
    cdef int dispatch(self, int count) except -1
    cdef int run_thread_calls(self) except -1
    cdef int run_due_timers(self) except -1
    cdef double poll_timeout(self)
    cdef int poll_once(self, double timeout) except -1
    cdef int flush_writes(self) except -1
    cdef void report(self, str why)
    cdef DelayedCall schedule(self, double delay, object func, tuple args, dict kw)
    cdef SelectableHandle selectable_handle(self, selectable)
    cdef int update_selectable(self, selectable, int add, int remove) except -1
    cdef list watched(self, int mask)
    cdef int fdset(self, object selectable, int events, bint on) except -1
