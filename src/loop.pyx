# Loop: the engine. One thread: run queued thread calls, run due timers, poll (timeout = next timer),
# dispatch every ready descriptor through a C table indexed by fd, repeat. The faces (native and
# Twisted) subclass it and supply run/stop/system events and the types it reports with (`api`).
import collections
import os

cimport cython
from cpython.exc cimport PyErr_CheckSignals
from cpython.object cimport PyCallable_Check
from cpython.ref cimport Py_INCREF, Py_DECREF
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memset
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

cdef enum:
    READ_CHUNK = 65536

READ_CHUNK_SIZE = READ_CHUNK


cdef extern from "compat.h":
    # Whether the deque of calls from other threads holds any (its size field, with the GIL).
    bint any_thread_calls "fr_deque_nonempty"(object calls)
    bint only_python_thread "fr_only_python_thread"()


# How long a wait with a timeout may keep the GIL when no other Python thread exists (as CPython's
# own switch interval): releasing and taking it back costs ~350 instructions a wait, and a busy
# server's waits return well within this.
cdef double HOLD_GIL_SECONDS = 0.005
cdef unsigned long long HOLD_GIL_NS = 5000000


# Cython's tp_clear would set poller, timers and waker to None, and a method reaching them through
# those typed attributes would then crash; the loop's own tp_clear (loop_clear, below) breaks its
# cycles by releasing the fd table instead, and its attributes stay valid for its whole life.
@cython.no_gc_clear
cdef class Loop:
    """The compiled event loop: fd table, poller, timer heap, thread-call queue, waker.

    Loop(poller=None): `poller` names the backend ("epoll", "kqueue", "poll", "select"); None takes
    the FASTREACTOR_POLLER environment variable, else the best the platform has.
    """

    def __cinit__(self, *args, **kwargs):
        self.handles = NULL
        self.generations = NULL
        self.table_size = 0
        self.fired = NULL
        self.dispatching = NULL

    def __init__(self, poller=None):
        if poller is None:
            poller = os.environ.get("FASTREACTOR_POLLER") or None
        self.poller = make_poller(poller)
        self.fired = <FiredEvent *>malloc(sizeof(FiredEvent) * self.poller.max_events)
        if self.fired == NULL:
            raise MemoryError()
        self.timers = TimerHeap()
        self.thread_calls = collections.deque()
        self._started = False
        self._stopped = True
        self._justStopped = False
        self.running = False
        self.selectables = {}
        self.unflushed = []
        self.shutdown_hook = _missing_face_hook
        self.selectable_failed_hook = _missing_face_hook
        self.waker = Waker(self)
        self.set_interest(self.waker, EV_READ)

    def __dealloc__(self):
        # A loop dropped without close(): its wakers and poller are its own, so their descriptors
        # go with it. Whatever else is still in the table holds no reference to the loop (or the
        # loop would not be here), and is only let go.
        self.release_table(False)
        if self.waker is not None:
            self.waker.close()
        if self.poller is not None:
            self.poller.close()
        free(self.handles)
        free(self.generations)
        free(self.fired)

    def _bindFace(self, api, shutdown_hook, selectable_failed_hook):
        """Hand the engine what it reports with and calls back (fastreactor/_contract.py says
        what each must be): the face's type bundle `api`, `shutdown_hook()` run when a stop()
        reaches the loop, and `selectable_failed_hook(selectable, why, isRead)` for a Python
        selectable whose doRead/doWrite returned or raised `why`."""
        self.api = api
        self.shutdown_hook = shutdown_hook
        self.selectable_failed_hook = selectable_failed_hook

    # ---- descriptor table -------------------------------------------------------------------------

    cdef int grow_table(self, int fd) except -1:
        cdef int size = max(fd + 1, self.table_size * 2, 256)
        cdef PyObject **handles = <PyObject **>realloc(self.handles, sizeof(PyObject *) * size)
        if handles == NULL:
            raise MemoryError()
        self.handles = handles
        cdef unsigned int *generations = <unsigned int *>realloc(self.generations, sizeof(unsigned int) * size)
        if generations == NULL:
            raise MemoryError()
        self.generations = generations
        memset(&self.handles[self.table_size], 0, sizeof(PyObject *) * (size - self.table_size))
        memset(&self.generations[self.table_size], 0, sizeof(unsigned int) * (size - self.table_size))
        self.table_size = size
        return 0

    cdef int set_interest(self, Handle handle, int events) except -1:
        """Watch `handle` for exactly `events` (EV_READ|EV_WRITE); 0 stops watching it."""
        cdef int fd = handle.fd
        if events == handle.interest:
            return 0
        if events == 0:
            return self.forget(handle, False)
        if handle.interest == 0:
            if fd < 0:
                raise ValueError("cannot watch a closed descriptor")
            if fd >= self.table_size:
                self.grow_table(fd)
            if self.handles[fd] != NULL:
                raise ValueError("fd %d is already watched by %r" % (fd, <object>self.handles[fd]))
            self.poller.register(fd, events)
            Py_INCREF(handle)
            self.handles[fd] = <PyObject *>handle
        else:
            self.poller.modify(fd, events)
        handle.interest = events
        return 0

    cdef int forget(self, Handle handle, bint closing) except -1:
        """Stop watching `handle`; `closing` says its fd is about to be closed (epoll skips the syscall)."""
        cdef int fd = handle.fd
        if handle.interest == 0:
            return 0
        handle.interest = 0
        self.generations[fd] += 1
        self.handles[fd] = NULL
        try:
            self.poller.unregister(fd, closing)
        finally:
            Py_DECREF(handle)
        return 0

    cdef void release_table(self, bint unregister) noexcept:
        """Empty the fd table. With `unregister` each descriptor also leaves the poller (errors
        ignored), so the loop stays consistent; without it the caller is closing the poller, and
        the wakers in the table are closed."""
        cdef int fd
        cdef Handle handle
        for fd in range(self.table_size):
            if self.handles[fd] == NULL:
                continue
            handle = <Handle>self.handles[fd]
            if unregister:
                try:
                    self.forget(handle, False)
                except Exception:
                    pass
            else:
                self.handles[fd] = NULL
                self.generations[fd] += 1
                handle.interest = 0
                if isinstance(handle, Waker):
                    (<Waker>handle).close()
                Py_DECREF(handle)

    # ---- one iteration ----------------------------------------------------------------------------

    cdef int dispatch(self, int count) except -1:
        cdef int i, fd, events
        cdef unsigned int generation
        cdef Handle handle
        cdef PyObject *outer = self.dispatching    # an iterate() from inside a callback nests
        for i in range(count):
            fd = self.fired[i].fd
            self.fired[i].generation = self.generations[fd] if fd < self.table_size else 0
        for i in range(count):
            fd = self.fired[i].fd
            if fd >= self.table_size or self.handles[fd] == NULL:
                continue
            generation = self.fired[i].generation
            if self.generations[fd] != generation:
                continue    # the descriptor was closed (and maybe reused) since this report
            handle = <Handle>self.handles[fd]
            events = self.fired[i].events & handle.interest
            if events & EV_READ:
                self.dispatching = <PyObject *>handle
                try:
                    handle.on_readable()
                except Exception:
                    self.report("Unhandled error while handling a readable descriptor")
                finally:
                    self.dispatching = outer    # also when KeyboardInterrupt/SystemExit ends run()
                if self.generations[fd] != generation:
                    continue
                events = self.fired[i].events & handle.interest
            if events & EV_WRITE:
                self.dispatching = <PyObject *>handle
                try:
                    handle.on_writable()
                except Exception:
                    self.report("Unhandled error while handling a writable descriptor")
                finally:
                    self.dispatching = outer
        return 0

    def _dispatchingHandle(self):
        """The handle (transport, port, or SelectableHandle) whose readiness callback is running
        now, or None outside one: what a face needs to give log events Twisted's per-descriptor
        context lazily, instead of pushing a context for every read."""
        if self.dispatching == NULL:
            return None
        return <object>self.dispatching

    cdef int run_thread_calls(self) except -1:
        cdef Py_ssize_t n = len(self.thread_calls)
        popleft = self.thread_calls.popleft
        while n > 0:
            n -= 1
            func, args, kw = popleft()
            try:
                func(*args, **kw)
            except Exception:
                self.report("Unhandled error in a call from a thread: %s" % (safe_repr(func),))
        return 0

    cdef int run_due_timers(self) except -1:
        cdef TimerHeap heap = self.timers
        cdef DelayedCall call
        cdef double now
        cdef unsigned long long first_new
        if heap.size == 0:
            return 0
        now = self.now()
        first_new = heap.next_seq
        try:
            while heap.size and (<DelayedCall>heap.items[0]).time <= now:
                call = heap.pop()
                if call.seq >= first_new:
                    # Scheduled by a call of this pass: it runs on the next pass, as in Twisted.
                    heap.hold(call)
                    continue
                call.called = 1
                func = call.func
                args = call.args
                kw = call.kw
                call.func = call.args = call.kw = None
                try:
                    if kw:
                        func(*args, **kw)
                    else:
                        func(*args)
                except Exception:
                    self.report("Unhandled error in a timed call of %s" % (safe_repr(func),))
        finally:
            heap.release_held()
        return 0

    cdef double poll_timeout(self):
        cdef double timeout
        if any_thread_calls(self.thread_calls) or self._justStopped or not self.running:
            return 0.0
        if self.timers.size == 0:
            return -1.0
        timeout = (<DelayedCall>self.timers.items[0]).time - self.now()
        return timeout if timeout > 0.0 else 0.0

    cdef int flush_writes(self) except -1:
        """Send what transports were given during this iteration (the list may grow meanwhile)."""
        cdef list unflushed = self.unflushed
        cdef Py_ssize_t i = 0
        try:
            while i < len(unflushed):
                try:
                    (<StreamTransport>unflushed[i]).flush_before_poll()
                except Exception:
                    self.report("Unhandled error while sending")
                i += 1
        finally:
            del unflushed[:i]
        return 0

    cdef int poll_once(self, double timeout) except -1:
        cdef int count
        cdef unsigned long long before, after, busy
        if self.unflushed:
            self.flush_writes()
        # Two monotonic clock reads per iteration (vDSO, tens of ns) time the poll and, between
        # polls, the callbacks; nothing is timed per callback.
        before = monotonic_ns()
        if self.stat_awake_since_ns:
            busy = before - self.stat_awake_since_ns
            self.stat_busy_ns += busy
            if busy > self.stat_longest_busy_ns:
                self.stat_longest_busy_ns = busy
        if timeout == 0.0 or timeout != timeout:
            count = self.poller.wait(0.0, self.fired, False)    # a look: nothing to wait for
        elif timeout > 0.0 and only_python_thread():
            # No thread waits for the GIL: keep it through the first few milliseconds of the wait,
            # and release it for the rest (a thread that enters Python meanwhile, from a thread of
            # its own, waits no longer than that). A wait cut short by a signal returns as it is.
            # Only a wait with a timeout: bounding the hold needs a kernel timer, and a blocking
            # wait that arms one costs the kernel more than the release saves (0.1-0.6 us a wait
            # here, bench/wait_timer_cost.c); a wait with a timeout arms one anyway.
            if timeout <= HOLD_GIL_SECONDS:
                count = self.poller.wait(timeout, self.fired, False)
            else:
                count = self.poller.wait(HOLD_GIL_SECONDS, self.fired, False)
                if count == 0 and monotonic_ns() - before >= HOLD_GIL_NS:
                    count = self.poller.wait(timeout - HOLD_GIL_SECONDS, self.fired, True)
        else:
            count = self.poller.wait(timeout, self.fired, True)
        after = monotonic_ns()
        self.stat_poll_ns += after - before
        self.stat_awake_since_ns = after
        self.stat_iterations += 1
        # Python-level signal handlers run here, between syscalls, never inside one.
        PyErr_CheckSignals()
        if count > 0:
            self.dispatch(count)
        return 0

    cdef void report(self, str why):
        """Log the exception being handled, with `why`, through the face's logger; never raises."""
        try:
            self.api.logError(why)
        except BaseException:
            pass

    # ---- Python-facing engine API ------------------------------------------------------------------

    def _mainLoop(self):
        """Run iterations until the reactor is crashed/stopped (the face's run() calls this)."""
        while self._started:
            if any_thread_calls(self.thread_calls):
                self.run_thread_calls()
            if self.timers.size:
                self.run_due_timers()
            if self._justStopped:
                self._justStopped = False
                self.shutdown_hook()
            if not self._started:
                break
            self.poll_once(self.poll_timeout())

    def iterate(self, delay=0.0):
        """Run one iteration by hand: thread calls, due timers, then poll for up to `delay` seconds."""
        if any_thread_calls(self.thread_calls):
            self.run_thread_calls()
        if self.timers.size:
            self.run_due_timers()
        self.poll_once(float(delay))

    def seconds(self):
        """The current time as a float of seconds since the epoch (Twisted's runtime clock)."""
        return fr_wall_seconds()

    cdef double now(self) except? -1.0:
        """The time timers are scheduled and run by: the wall clock, unless reactor.seconds was
        replaced (as Twisted's tests and some programs do), in which case that is asked."""
        if self.seconds_source is None:
            return fr_wall_seconds()
        return self.seconds_source()

    def _setSecondsSource(self, source):
        """Make timers follow `source()`; None, or this loop's own seconds put back, is the wall
        clock. The faces call it when reactor.seconds is assigned or deleted."""
        if (source is not None and getattr(source, "__self__", None) is self
                and not hasattr(source, "__func__") and getattr(source, "__name__", "") == "seconds"):
            source = None
        self.seconds_source = source

    cdef DelayedCall schedule(self, double delay, object func, tuple args, dict kw):
        cdef DelayedCall call = DelayedCall.__new__(DelayedCall)
        call.loop = self
        call.time = self.now() + delay
        call.func = func
        call.args = args
        call.kw = kw if kw else None
        self.timers.push(call)
        return call

    def callLater(self, delay, callable, *args, **kw):
        """Call `callable(*args, **kw)` `delay` seconds from now; returns a DelayedCall.

        Raises TypeError if `callable` is not callable or `delay` is not a number, ValueError if
        `delay` is negative or not finite; nothing is scheduled then.
        """
        cdef double d
        try:
            d = delay
        except TypeError:
            raise TypeError("callLater delay must be a number, not %s" % (type(delay).__name__,)) from None
        if not (d >= 0.0 and isfinite(d)):
            raise ValueError("callLater delay must be a finite number >= 0, not %r" % (delay,))
        if not PyCallable_Check(callable):
            raise TypeError("callLater needs a callable, got %r" % (callable,))
        return self.schedule(d, callable, args, kw)

    def getDelayedCalls(self):
        """The DelayedCalls that are scheduled and neither called nor cancelled."""
        return self.timers.calls()

    def callFromThread(self, callable, *args, **kw):
        """Run `callable(*args, **kw)` in the reactor thread soon; safe to call from any thread."""
        if not PyCallable_Check(callable):
            raise TypeError("callFromThread needs a callable, got %r" % (callable,))
        self.thread_calls.append((callable, args, kw))
        self.waker.wake()

    def wakeUp(self):
        """Make a sleeping poll return now (thread-safe)."""
        self.waker.wake()

    def _pollerName(self):
        return self.poller.name

    def _signalWakeupHandle(self):
        """A pipe-based waker registered with this loop, for signal.set_wakeup_fd."""
        waker = Waker(self, False)
        self.set_interest(waker, EV_READ)
        return waker

    def _closeWaker(self, Waker waker):
        self.forget(waker, True)
        waker.close()

    # ---- IReactorFDSet: Python selectables ---------------------------------------------------------

    cdef SelectableHandle selectable_handle(self, selectable):
        cdef SelectableHandle handle = self.selectables.get(selectable)
        if handle is None:
            fd = selectable.fileno()
            if fd is None or fd < 0:
                raise ValueError("%r has no open file descriptor" % (selectable,))
            handle = SelectableHandle(self, selectable, fd)
            self.selectables[selectable] = handle
        return handle

    cdef int update_selectable(self, selectable, int add, int remove) except -1:
        cdef SelectableHandle handle
        if remove and selectable not in self.selectables:
            return 0
        handle = self.selectable_handle(selectable)
        events = (handle.interest | add) & ~remove
        if events == 0:
            self.forget(handle, False)
            del self.selectables[selectable]
        else:
            try:
                self.set_interest(handle, events)
            except BaseException:
                if handle.interest == 0:     # refused (e.g. fd too large for select): keep nothing
                    self.selectables.pop(selectable, None)
                raise
        return 0

    cdef int fdset(self, object selectable, int events, bint on) except -1:
        # The engine's own handles (transports, ports) keep their rules through Handle.fdset;
        # anything else is a Python selectable watched through a SelectableHandle.
        if isinstance(selectable, Handle):
            (<Handle>selectable).fdset(events, on)
        elif on:
            self.update_selectable(selectable, events, 0)
        else:
            self.update_selectable(selectable, 0, events)
        return 0

    def addReader(self, reader):
        """IReactorFDSet: watch `reader` for readability. A Python selectable (fileno(), doRead())
        is read through doRead(); one of the engine's transports or ports starts reading again
        (as resumeProducing()/startReading(): never on a closing or aborted connection)."""
        self.fdset(reader, EV_READ, True)

    def addWriter(self, writer):
        """IReactorFDSet: watch `writer` for writability (doWrite(); for the engine's transports,
        as startWriting(): what is queued is sent when writable)."""
        self.fdset(writer, EV_WRITE, True)

    def removeReader(self, reader):
        """IReactorFDSet: stop watching `reader` for readability (no error if it was not). For
        the engine's transports and ports, as pauseProducing()/stopReading(); once neither
        reading nor writing, the descriptor is not watched at all."""
        self.fdset(reader, EV_READ, False)

    def removeWriter(self, writer):
        """IReactorFDSet: stop watching `writer` for writability (no error if it was not). For
        the engine's transports, as stopWriting(), until the next write()."""
        self.fdset(writer, EV_WRITE, False)

    cdef list watched(self, int mask):
        cdef int fd
        cdef list result = []
        for fd in range(self.table_size):
            if self.handles[fd] == NULL:
                continue
            handle = <object>self.handles[fd]
            if isinstance(handle, Waker) or not ((<Handle>handle).interest & mask):
                continue
            result.append((<SelectableHandle>handle).selectable if isinstance(handle, SelectableHandle) else handle)
        return result

    def getReaders(self):
        """Everything watched for reading: selectables, transports and ports (not the wakers)."""
        return self.watched(EV_READ)

    def getWriters(self):
        """Everything watched for writing (not the wakers)."""
        return self.watched(EV_WRITE)

    def removeAll(self):
        """Stop watching everything but the wakers; return what was watched."""
        cdef int fd
        cdef list removed = []
        for fd in range(self.table_size):
            if self.handles[fd] == NULL:
                continue
            handle = <object>self.handles[fd]
            if isinstance(handle, Waker):
                continue
            self.forget(<Handle>handle, False)
            removed.append((<SelectableHandle>handle).selectable if isinstance(handle, SelectableHandle) else handle)
        self.selectables.clear()
        return removed

    def close(self):
        """Release the loop: stop watching every descriptor (transports keep theirs open until
        they are closed or freed), drop pending timers and thread calls, close the wakers and the
        poller, now rather than when the garbage collector frees the loop. Do not use it after."""
        cdef int fd
        for fd in range(self.table_size):
            if self.handles[fd] != NULL:
                handle = <object>self.handles[fd]
                self.forget(<Handle>handle, False)
                if isinstance(handle, Waker):
                    (<Waker>handle).close()
        self.selectables.clear()
        del self.unflushed[:]
        self.thread_calls.clear()
        self.timers.release_items()
        if self.timers.held:
            del self.timers.held[:]
        self.poller.close()

    def stats(self):
        """The loop's statistics since it was made, as a dict:

        `iterations` (polls), `poll_seconds` (time blocked in the poller), `callback_seconds`
        (time between polls: running callbacks, timers, thread calls and sending),
        `longest_callback_seconds` (the longest single stretch between two polls, so an upper
        bound of the longest callback; the time between hand-run iterate() calls counts too),
        `timers_pending`, `descriptors_watched` (in the loop's table, its waker included),
        `bytes_read` and `bytes_written` (by stream transports), `connections_open` (stream
        transports attached to a protocol and not yet lost) and `connections_accepted` (by
        listening ports). Counting costs a few additions per read, send and accept and two
        clock reads per iteration; it is always on.
        """
        return {
            "iterations": self.stat_iterations,
            "poll_seconds": self.stat_poll_ns / 1e9,
            "callback_seconds": self.stat_busy_ns / 1e9,
            "longest_callback_seconds": self.stat_longest_busy_ns / 1e9,
            "timers_pending": len(self.timers.calls()),
            "descriptors_watched": self._handleCount(),
            "bytes_read": self.stat_bytes_read,
            "bytes_written": self.stat_bytes_written,
            "connections_open": self.stat_open,
            "connections_accepted": self.stat_accepted,
        }

    def _handleCount(self):
        cdef int fd, n = 0
        for fd in range(self.table_size):
            if self.handles[fd] != NULL:
                n += 1
        return n


cdef inline unsigned long long monotonic_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <unsigned long long>ts.tv_sec * 1000000000ULL + <unsigned long long>ts.tv_nsec


def _missing_face_hook(*args):
    raise RuntimeError("this Loop was never bound to a face (Loop._bindFace)")


# ---- garbage collection ---------------------------------------------------------------------------
# The fd table owns a reference to each watched handle, and most handles point back at the loop;
# the collector must see those references to free a dropped loop (see gc_slots.h).

cdef fr_traverseproc loop_cython_traverse = NULL
cdef fr_inquiry loop_cython_clear = NULL


cdef int loop_traverse(Loop self, fr_visitproc visit, void *arg) noexcept:
    cdef int fd, e
    if loop_cython_traverse != NULL:
        e = loop_cython_traverse(<PyObject *>self, visit, arg)
        if e:
            return e
    for fd in range(self.table_size):
        if self.handles[fd] != NULL:
            e = visit(self.handles[fd], arg)
            if e:
                return e
    return 0


cdef int loop_clear(Loop self) noexcept:
    if loop_cython_clear != NULL:
        loop_cython_clear(<PyObject *>self)
    self.release_table(True)
    # The face's hooks are bound methods of this very loop (a cycle through them).
    self.shutdown_hook = _missing_face_hook
    self.selectable_failed_hook = _missing_face_hook
    return 0


fr_gc_install(Loop, <fr_traverseproc>loop_traverse, <fr_inquiry>loop_clear,
              &loop_cython_traverse, &loop_cython_clear)
