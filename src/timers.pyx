# Timers: DelayedCall objects in a binary min-heap ordered by (time, sequence), so calls with the same
# deadline run in the order they were scheduled. Cancel and reset are O(log n) through heap_index.
cimport cython
from cpython.ref cimport Py_INCREF, Py_DECREF
from libc.stdlib cimport realloc, free
from cpython.float cimport PyFloat_CheckExact, PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_CheckExact, PyLong_AsDouble


cdef double finite_seconds(object value, str what) except? -1.0:
    """`value` as a C double: TypeError if it is not a number, ValueError if it is NaN or infinite."""
    cdef double seconds
    if PyFloat_CheckExact(value):
        seconds = PyFloat_AS_DOUBLE(value)
        if isfinite(seconds):
            return seconds
    elif PyLong_CheckExact(value):
        return PyLong_AsDouble(value)    # finite: OverflowError for an int beyond a double
    try:
        seconds = value
    except TypeError:
        raise TypeError("%s needs a number of seconds, not %s" % (what, type(value).__name__)) from None
    if not isfinite(seconds):
        raise ValueError("%s needs a finite number of seconds, not %r" % (what, value))
    return seconds


# A call keeps its loop for as long as it lives, so cancel()/reset() can always reach it: the
# collector clears func/args/kw (delayed_call_clear, below), and the loop's cycles are broken by the
# heap's tp_clear.
@cython.no_gc_clear
cdef class DelayedCall:
    """A call scheduled by callLater: cancel(), reset(), delay(), active(), getTime().

    Mirrors Twisted's IDelayedCall: `called` and `cancelled` are 0/1; cancelling or resetting a call
    that already ran raises AlreadyCalled, one that was cancelled raises AlreadyCancelled.
    """

    def __cinit__(self):
        self.heap_index = -1

    def getTime(self):
        """The time (reactor.seconds() scale) at which this call will run."""
        return self.time

    cdef int check_pending(self) except -1:
        if self.cancelled:
            raise self.loop.api.AlreadyCancelled()
        if self.called:
            raise self.loop.api.AlreadyCalled()
        return 0

    def cancel(self):
        """Unschedule this call. Raises AlreadyCalled or AlreadyCancelled if it is no longer pending."""
        self.check_pending()
        self.cancelled = 1
        if self.heap_index >= 0:
            self.loop.timers.remove(self)
        self.func = self.args = self.kw = None

    def reset(self, secondsFromNow):
        """Reschedule this call to run `secondsFromNow` seconds from now (a finite number)."""
        cdef double seconds = finite_seconds(secondsFromNow, "reset")
        self.check_pending()
        self.time = self.loop.now() + seconds
        if self.heap_index >= 0:
            self.loop.timers.update(self)

    def delay(self, secondsLater):
        """Push this call `secondsLater` seconds further into the future (negative: sooner)."""
        cdef double seconds = finite_seconds(secondsLater, "delay")
        self.check_pending()
        self.time += seconds
        if self.heap_index >= 0:
            self.loop.timers.update(self)

    def active(self):
        """True while the call has neither run nor been cancelled."""
        return not (self.cancelled or self.called)

    @property
    def seconds(self):
        return self.loop.seconds

    def __lt__(self, other):
        if not isinstance(other, DelayedCall):
            return NotImplemented
        return (self.time, self.seq) < ((<DelayedCall>other).time, (<DelayedCall>other).seq)

    def __le__(self, other):
        if not isinstance(other, DelayedCall):
            return NotImplemented
        return (self.time, self.seq) <= ((<DelayedCall>other).time, (<DelayedCall>other).seq)

    def __hash__(self):
        # Defining ordering drops the inherited hash; calls are hashable by identity, as in Twisted.
        return object.__hash__(self)

    def __repr__(self):
        if self.cancelled:
            state = "cancelled"
        elif self.called:
            state = "called"
        else:
            state = "%.3fs" % (self.time - self.loop.now())
        func = getattr(self.func, "__qualname__", None) or repr(self.func)
        args = ""
        if self.args:
            args = ", ".join([repr(a) for a in self.args])
        if self.kw:
            kws = ", ".join(["%s=%r" % item for item in self.kw.items()])
            args = args + ", " + kws if args else kws
        return "<DelayedCall 0x%x [%s] called=%d cancelled=%d %s(%s)>" % (
            id(self), state, self.called, self.cancelled, func, args)


cdef class TimerHeap:
    """A binary min-heap of DelayedCall references (owned) with positions kept in each call."""

    def __dealloc__(self):
        self.release_items()

    cdef void release_items(self) noexcept:
        """Drop every call in the heap (they stay pending but will never run). The heap is empty
        before the first reference goes, as releasing one may run arbitrary code."""
        cdef void **items = self.items
        cdef Py_ssize_t i, n = self.size
        self.items = NULL
        self.size = self.capacity = 0
        for i in range(n):
            (<DelayedCall>items[i]).heap_index = -1
        for i in range(n):
            Py_DECREF(<object>items[i])
        free(items)

    def __len__(self):
        return self.size

    cdef inline bint less(self, DelayedCall a, DelayedCall b):
        return a.time < b.time or (a.time == b.time and a.seq < b.seq)

    cdef void sift_up(self, Py_ssize_t i):
        cdef void *item = self.items[i]
        cdef Py_ssize_t parent
        while i > 0:
            parent = (i - 1) >> 1
            if not self.less(<DelayedCall>item, <DelayedCall>self.items[parent]):
                break
            self.items[i] = self.items[parent]
            (<DelayedCall>self.items[i]).heap_index = i
            i = parent
        self.items[i] = item
        (<DelayedCall>item).heap_index = i

    cdef void sift_down(self, Py_ssize_t i):
        cdef void *item = self.items[i]
        cdef Py_ssize_t child
        while True:
            child = 2 * i + 1
            if child >= self.size:
                break
            if child + 1 < self.size and self.less(<DelayedCall>self.items[child + 1], <DelayedCall>self.items[child]):
                child += 1
            if not self.less(<DelayedCall>self.items[child], <DelayedCall>item):
                break
            self.items[i] = self.items[child]
            (<DelayedCall>self.items[i]).heap_index = i
            i = child
        self.items[i] = item
        (<DelayedCall>item).heap_index = i

    cdef int push(self, DelayedCall call) except -1:
        """Add a new call; it runs after every pending call with the same time."""
        call.seq = self.next_seq
        self.next_seq += 1
        return self.insert(call)

    cdef int insert(self, DelayedCall call) except -1:
        """Add `call` keeping its sequence number."""
        cdef Py_ssize_t capacity
        cdef void **items
        if self.size == self.capacity:
            capacity = max(64, self.capacity * 2)
            items = <void **>realloc(self.items, sizeof(void *) * capacity)
            if items == NULL:
                raise MemoryError()
            self.items = items
            self.capacity = capacity
        Py_INCREF(call)
        self.items[self.size] = <void *>call
        self.size += 1
        self.sift_up(self.size - 1)
        return 0

    cdef DelayedCall pop(self):
        """Remove and return the earliest call (the heap must not be empty)."""
        cdef DelayedCall top = <DelayedCall>self.items[0]
        Py_DECREF(top)          # `top` holds its own reference now
        self.size -= 1
        if self.size > 0:
            self.items[0] = self.items[self.size]
            self.sift_down(0)
        top.heap_index = -1
        return top

    cdef int remove(self, DelayedCall call) except -1:
        cdef Py_ssize_t i = call.heap_index
        cdef DelayedCall moved
        self.size -= 1
        if i != self.size:
            # The last item fills the hole: it must learn its new position before it is sifted.
            moved = <DelayedCall>self.items[self.size]
            self.items[i] = <void *>moved
            moved.heap_index = i
            self.update(moved)
        call.heap_index = -1
        Py_DECREF(call)
        return 0

    cdef int update(self, DelayedCall call) except -1:
        cdef Py_ssize_t i = call.heap_index
        if i > 0 and self.less(call, <DelayedCall>self.items[(i - 1) >> 1]):
            self.sift_up(i)
        else:
            self.sift_down(i)
        return 0

    cdef int hold(self, DelayedCall call) except -1:
        """Keep `call` (just popped, scheduled during the current pass) out of the heap until
        release_held(); it stays pending: cancel/reset/delay and getDelayedCalls() see it."""
        if self.held is None:
            self.held = []
        call.heap_index = HELD
        self.held.append(call)
        return 0

    cdef int release_held(self) except -1:
        """Put the held calls back into the heap (those cancelled meanwhile are dropped)."""
        cdef DelayedCall call
        cdef list held = self.held
        self.held = None
        if held is None:
            return 0
        for call in held:
            call.heap_index = -1
            if not call.cancelled:
                self.insert(call)
        return 0

    def calls(self):
        """The pending calls, in no particular order."""
        cdef list result = [<object>self.items[i] for i in range(self.size)]
        if self.held is not None:
            result.extend([call for call in self.held if not (<DelayedCall>call).cancelled])
        return result


# ---- garbage collection ---------------------------------------------------------------------------
# The heap owns a reference to each call in `items`, and each call points back at its loop, which
# owns the heap: the collector must see those references (see gc_slots.h).

cdef fr_traverseproc heap_cython_traverse = NULL
cdef fr_inquiry heap_cython_clear = NULL
cdef fr_traverseproc delayed_call_cython_traverse = NULL
cdef fr_inquiry delayed_call_cython_clear = NULL


cdef int heap_traverse(TimerHeap self, fr_visitproc visit, void *arg) noexcept:
    cdef Py_ssize_t i
    cdef int e
    if heap_cython_traverse != NULL:
        e = heap_cython_traverse(<PyObject *>self, visit, arg)
        if e:
            return e
    for i in range(self.size):
        e = visit(<PyObject *>self.items[i], arg)
        if e:
            return e
    return 0


cdef int heap_clear(TimerHeap self) noexcept:
    if heap_cython_clear != NULL:
        heap_cython_clear(<PyObject *>self)
    self.release_items()
    return 0


cdef int delayed_call_clear(DelayedCall self) noexcept:
    self.func = self.args = self.kw = None
    return 0


fr_gc_install(TimerHeap, <fr_traverseproc>heap_traverse, <fr_inquiry>heap_clear,
              &heap_cython_traverse, &heap_cython_clear)
fr_gc_install(DelayedCall, NULL, <fr_inquiry>delayed_call_clear,
              &delayed_call_cython_traverse, &delayed_call_cython_clear)
