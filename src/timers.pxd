cdef class Loop


cdef class DelayedCall:
    cdef readonly double time
    cdef public object func
    cdef public object args
    cdef public object kw
    cdef public int called
    cdef public int cancelled
    cdef Py_ssize_t heap_index
    cdef unsigned long long seq
    cdef Loop loop
    cdef object __weakref__
    cdef int check_pending(self) except -1


cdef enum:
    HELD = -2       # heap_index of a call popped in this pass and held for the next one


cdef class TimerHeap:
    cdef void **items
    cdef list held
    cdef Py_ssize_t size
    cdef Py_ssize_t capacity
    cdef unsigned long long next_seq
    cdef int push(self, DelayedCall call) except -1
    cdef int insert(self, DelayedCall call) except -1
    cdef DelayedCall pop(self)
    cdef int remove(self, DelayedCall call) except -1
    cdef int update(self, DelayedCall call) except -1
    cdef int hold(self, DelayedCall call) except -1
    cdef int release_held(self) except -1
    cdef void release_items(self) noexcept
    cdef void sift_up(self, Py_ssize_t i)
    cdef void sift_down(self, Py_ssize_t i)
    cdef inline bint less(self, DelayedCall a, DelayedCall b)
