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


cdef class SelectableHandle(Handle):
    """Runs a Python selectable's doRead/doWrite; a truthy return value or an exception disconnects it
    through the face's `_disconnectSelectable(selectable, why, isRead)`, as Twisted's reactors do."""

    def __init__(self, Loop loop, selectable, int fd):
        self.loop = loop
        self.selectable = selectable
        self.fd = fd

    cdef object on_readable(self):
        cdef object why
        try:
            why = self.selectable.doRead()
        except BaseException as e:
            self.loop.report("Unhandled error in doRead of %r" % (self.selectable,))
            why = e
        if why:
            self.loop._disconnectSelectable(self.selectable, why, True)

    cdef object on_writable(self):
        cdef object why
        try:
            why = self.selectable.doWrite()
        except BaseException as e:
            self.loop.report("Unhandled error in doWrite of %r" % (self.selectable,))
            why = e
        if why:
            self.loop._disconnectSelectable(self.selectable, why, False)
