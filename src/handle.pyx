# Handle: what the loop's fd table holds. SelectableHandle adapts a Python object with
# fileno()/doRead()/doWrite() (Twisted's IReadDescriptor/IWriteDescriptor) to the loop.

cimport cython


# A handle keeps its loop for as long as it lives (transports call into it from user code at any
# time), so the collector must not set `loop` to None: cycles through the loop are broken by the
# loop's own tp_clear, which empties its fd table.
@cython.no_gc_clear
cdef class Handle:
    """A watched descriptor. The loop calls on_readable/on_writable for the directions in interest."""

    def __cinit__(self, *args, **kwargs):
        self.fd = -1
        self.interest = 0

    cdef object on_readable(self):
        pass

    cdef object on_writable(self):
        pass

    cdef int fdset(self, int events, bint on) except -1:
        """IReactorFDSet (addReader/removeReader/addWriter/removeWriter) on this handle: start
        (`on`) or stop watching it for `events`. Transports and ports override it to keep their
        own rules (no reading on a closing connection, say)."""
        if self.fd < 0:
            return 0
        if on:
            self.loop.set_interest(self, self.interest | events)
        else:
            self.loop.set_interest(self, self.interest & ~events)
        return 0


cpdef str safe_repr(object obj):
    """repr(obj), or a stand-in naming its type when its __repr__ raises: logging an error must
    never raise another."""
    try:
        return repr(obj)
    except Exception:
        return "<%s object at 0x%x (repr failed)>" % (type(obj).__name__, id(obj))


cdef class SelectableHandle(Handle):
    """Runs a Python selectable's doRead/doWrite; a truthy return value or an exception disconnects it
    through the face's selectable-failed hook (see fastreactor/_contract.py), as Twisted's reactors do."""

    def __init__(self, Loop loop, selectable, int fd):
        self.loop = loop
        self.selectable = selectable
        self.fd = fd

    cdef object on_readable(self):
        cdef object why
        try:
            why = self.selectable.doRead()
        except BaseException as e:
            self.loop.report("Unhandled error in doRead of %s" % (safe_repr(self.selectable),))
            why = e
        if why:
            self.loop.selectable_failed_hook(self.selectable, why, True)

    cdef object on_writable(self):
        cdef object why
        try:
            why = self.selectable.doWrite()
        except BaseException as e:
            self.loop.report("Unhandled error in doWrite of %s" % (safe_repr(self.selectable),))
            why = e
        if why:
            self.loop.selectable_failed_hook(self.selectable, why, False)
