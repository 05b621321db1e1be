# Compiled framing helpers for fastreactor.basic: a byte buffer with a start offset, a delimiter
# search (memchr/memmem) and length-prefix / netstring parsing, each driving the protocol's
# callbacks from C so that a chunk holding thousands of messages costs one Python call per message.
#
# The splitters hold only bytes and parse state; every decision Twisted's LineReceiver,
# LineOnlyReceiver, IntNStringReceiver and NetstringReceiver take from the protocol's attributes
# (paused, line_mode, delimiter, MAX_LENGTH, transport.disconnecting) is re-read from the protocol
# at the same point as Twisted reads it, so switching modes or pausing inside a callback behaves
# exactly as in Twisted.
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdlib cimport malloc, free
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.string cimport memchr, memcpy, memmove

cdef extern from "string.h" nogil:
    void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen)

from cpython.object cimport PyObject
from cpython.buffer cimport PyObject_CheckBuffer

cdef extern from "Python.h":
    object PyObject_VectorcallMethod(object name, PyObject **args, size_t nargsf, PyObject *kwnames)


cdef inline object framing_call1(object obj, str name, object arg):
    # obj.name(arg) without making a bound method per message.
    cdef PyObject *argv[2]
    argv[0] = <PyObject *>obj
    argv[1] = <PyObject *>arg
    return PyObject_VectorcallMethod(name, argv, 2, NULL)

import struct as _framing_struct
import sys as _framing_sys

cdef enum:
    FRAME_MIN_CAPACITY = 256
    # An empty buffer larger than this is released rather than reused for a small chunk.
    FRAME_SHRINK_ABOVE = 1 << 20

# Length prefix decoders (LengthPrefixSplitter.fmt_kind).
cdef enum:
    PREFIX_STRUCT = 0      # anything else: struct.unpack, as Twisted does
    PREFIX_U8 = 1
    PREFIX_U16_BE = 2
    PREFIX_U16_LE = 3
    PREFIX_U32_BE = 4
    PREFIX_U32_LE = 5
    PREFIX_U64_BE = 6
    PREFIX_U64_LE = 7


cdef class FrameBuffer:
    """A growable byte buffer consumed from the front.

    Bytes live in ``buf[start:end]``. ``buf`` is either the owned block ``store`` or, while a
    chunk that arrived on an empty buffer is being parsed, that chunk's own bytes (``borrowed``):
    complete messages are then cut straight out of the chunk and only its unparsed tail is copied
    (``settle``). Appending compacts the live bytes to the front only when the consumed prefix is
    at least as long as what must be moved, and otherwise doubles the capacity, so feeding and
    consuming N bytes costs O(N) whatever the chunking. ``mark`` (an offset, used by the delimiter
    search) is kept pointing at the same byte when the bytes move. ``len()`` is the number of
    buffered bytes; ``capacity`` the allocated size.
    """

    def __dealloc__(self):
        free(self.store)
        self.store = NULL
        self.buf = NULL

    def __len__(self):
        return self.end - self.start

    @property
    def capacity(self):
        """The number of bytes allocated."""
        return self.capacity

    def getvalue(self):
        """The buffered bytes (a copy); the buffer is unchanged."""
        return PyBytes_FromStringAndSize(self.buf + self.start, self.end - self.start)

    def clear(self):
        """Drop the buffered bytes and return them."""
        return self.take_all()

    def replace(self, data):
        """Make `data` (bytes) the whole buffer."""
        self.drop_all()
        self.append(data)

    cdef int receive_chunk(self, object data) except -1:
        """Add `data` to the buffer, borrowing it instead of copying when the buffer is empty;
        call settle() before the protocol's callbacks could see the buffer outlive `data`."""
        if self.end == self.start and self.borrowed is None and type(data) is bytes:
            self.borrowed = data
            self.buf = PyBytes_AS_STRING(data)
            self.start = 0
            self.mark = 0
            self.end = PyBytes_GET_SIZE(data)
            return 0
        return self.append(data)

    cdef int settle(self) except -1:
        """Copy what is left of a borrowed chunk into the owned store."""
        cdef Py_ssize_t live, rel
        cdef object data = self.borrowed
        if data is None:
            return 0
        live = self.end - self.start
        rel = self.mark - self.start
        if rel < 0:
            rel = 0
        self.borrowed = None
        self.buf = self.store
        self.start = self.end = 0
        self.mark = 0
        if live:
            self.append_raw(PyBytes_AS_STRING(data) + (PyBytes_GET_SIZE(data) - live), live)
            self.mark = rel
        return 0

    cdef int append(self, object data) except -1:
        """Copy `data` (bytes, or a bytes-like object such as bytearray or memoryview, as Twisted's
        `buffer + data` accepts) to the end; TypeError for anything else (a str, an int), with
        the buffer unchanged."""
        if type(data) is not bytes:
            if not PyObject_CheckBuffer(data):
                raise TypeError("data must be bytes, not %s" % (type(data).__name__,))
            data = memoryview(data).tobytes()
        return self.append_raw(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))

    cdef int append_raw(self, const char *p, Py_ssize_t n) except -1:
        cdef Py_ssize_t live, capacity, rel
        cdef char *fresh
        if n <= 0:
            return 0
        if self.borrowed is not None:
            self.settle()
        live = self.end - self.start
        rel = self.mark - self.start
        if rel < 0:
            rel = 0
        if live == 0:
            self.start = self.end = 0
            if self.capacity > FRAME_SHRINK_ABOVE and n <= self.capacity // 4:
                free(self.store)
                self.store = self.buf = NULL
                self.capacity = 0
        if self.end + n > self.capacity:
            if self.start >= live and live + n <= self.capacity:
                # Moving costs no more than the bytes consumed since the last move: amortized O(1).
                memmove(self.store, self.store + self.start, live)
            else:
                capacity = self.capacity * 2
                if capacity < live + n:
                    capacity = live + n
                if capacity < FRAME_MIN_CAPACITY:
                    capacity = FRAME_MIN_CAPACITY
                fresh = <char *>malloc(capacity)
                if fresh == NULL:
                    raise MemoryError()
                if live:
                    memcpy(fresh, self.store + self.start, live)
                free(self.store)
                self.store = self.buf = fresh
                self.capacity = capacity
            self.start = 0
            self.end = live
        memcpy(self.store + self.end, p, n)
        self.end += n
        self.mark = self.start + rel
        return 0

    cdef object take(self, Py_ssize_t n):
        """The first `n` buffered bytes, consumed."""
        cdef object out = PyBytes_FromStringAndSize(self.buf + self.start, n)
        self.start += n
        return out

    cdef object take_all(self):
        cdef object out = PyBytes_FromStringAndSize(self.buf + self.start, self.end - self.start)
        self.start = self.end
        return out

    cdef void drop_all(self):
        # start == end; the next append rewinds both to 0.
        self.start = self.end

    cdef int over(self, object limit, Py_ssize_t n) except -1:
        """Whether ``n > limit`` (`limit` is the protocol's MAX_LENGTH, usually an int that is
        converted once and remembered)."""
        cdef Py_ssize_t value
        if limit is self.limit_obj:
            return n > self.limit_val
        if type(limit) is int:
            try:
                value = limit
            except OverflowError:
                return bool(n > limit)
            self.limit_obj = limit
            self.limit_val = value
            return n > value
        return bool(n > limit)


cdef class LineSplitter(FrameBuffer):
    """The buffer and delimiter search of LineReceiver and LineOnlyReceiver.

    ``receive(protocol, data)`` is LineReceiver.dataReceived and ``receive_lines(protocol, data)``
    is LineOnlyReceiver.dataReceived: both call the protocol's callbacks and return what Twisted's
    dataReceived returns. The search never rescans bytes already known not to start a delimiter,
    so a long line arriving a byte at a time costs O(length).
    """

    cdef Py_ssize_t find(self, object delimiter) except -2:
        """The offset in ``buf`` of the first `delimiter` in the buffer, or -1."""
        cdef Py_ssize_t dlen, frm, n
        cdef const char *d
        cdef const char *hit
        if delimiter is not self.delimiter:
            if type(delimiter) is not bytes:
                if not isinstance(delimiter, bytes):
                    raise TypeError("delimiter must be bytes, not %s" % (type(delimiter).__name__,))
            self.delimiter = delimiter
            self.mark = self.start
        dlen = PyBytes_GET_SIZE(delimiter)
        if dlen == 0:
            return -1
        frm = self.mark
        if frm < self.start:
            frm = self.start
        n = self.end - frm
        if n < dlen:
            return -1
        d = PyBytes_AS_STRING(delimiter)
        if dlen == 1:
            hit = <const char *>memchr(self.buf + frm, d[0], n)
        else:
            hit = <const char *>memmem(self.buf + frm, n, d, dlen)
        if hit == NULL:
            self.mark = self.end - dlen + 1
            return -1
        return hit - self.buf

    def receive(self, protocol, data):
        """LineReceiver.dataReceived: append `data`, then deliver lines (or raw data) while the
        buffer is not empty and the protocol is not paused. Re-entrant calls only append."""
        cdef Py_ssize_t pos, dlen, size
        cdef object delimiter, why, limit, transport
        if self.busy:
            self.append(data)
            return None
        self.busy = True
        try:
            self.receive_chunk(data)
            while self.end > self.start and not protocol.paused:
                if protocol.line_mode:
                    delimiter = protocol.delimiter
                    pos = self.find(delimiter)
                    if pos < 0:
                        dlen = len(delimiter)
                        limit = protocol.MAX_LENGTH
                        size = self.end - self.start
                        if type(limit) is int:
                            if not self.over(limit, size - dlen + 1):
                                return None
                        elif not (size >= limit + dlen):
                            return None
                        return protocol.lineLengthExceeded(self.take_all())
                    if self.over(protocol.MAX_LENGTH, pos - self.start):
                        # Twisted hands over line + delimiter + the rest of the buffer.
                        return protocol.lineLengthExceeded(self.take_all())
                    line = self.take(pos - self.start)
                    self.start += PyBytes_GET_SIZE(delimiter)
                    why = framing_call1(protocol, "lineReceived", line)
                    if why:
                        return why
                    transport = protocol.transport
                    if transport and transport.disconnecting:
                        return why
                else:
                    why = protocol.rawDataReceived(self.take_all())
                    if why:
                        return why
            return None
        finally:
            self.busy = False
            self.settle()

    def receive_lines(self, protocol, data):
        """LineOnlyReceiver.dataReceived: split everything buffered on the delimiter at once,
        keep the unterminated tail, then deliver the lines until the transport is disconnecting
        or a line is too long. A tail longer than MAX_LENGTH is handed to lineLengthExceeded and
        dropped (Twisted keeps it, which lets a peer grow the buffer without bound)."""
        cdef Py_ssize_t pos, dlen
        cdef list lines = []
        cdef object line, delimiter = protocol.delimiter
        if type(delimiter) is bytes and PyBytes_GET_SIZE(delimiter) == 0:
            raise ValueError("empty separator")
        self.receive_chunk(data)
        try:
            dlen = len(delimiter)
            while True:
                pos = self.find(delimiter)
                if pos < 0:
                    break
                lines.append(self.take(pos - self.start))
                self.start += dlen
        finally:
            self.settle()
        for line in lines:
            if protocol.transport.disconnecting:
                return None
            if self.over(protocol.MAX_LENGTH, PyBytes_GET_SIZE(line)):
                return protocol.lineLengthExceeded(line)
            framing_call1(protocol, "lineReceived", line)
        if self.over(protocol.MAX_LENGTH, self.end - self.start):
            return protocol.lineLengthExceeded(self.take_all())
        return None


cdef class LengthPrefixSplitter(FrameBuffer):
    """The buffer and prefix parsing of IntNStringReceiver.

    ``receive(protocol, data)`` is IntNStringReceiver.dataReceived. Common unsigned prefixes
    (``B``, ``H``, ``I``/``L``, ``Q`` in either byte order) are decoded in C; any other
    ``structFormat`` goes through ``struct.unpack`` as in Twisted.
    """

    cdef int configure(self, object fmt, Py_ssize_t prefix) except -1:
        cdef str order, code
        cdef int kind = PREFIX_STRUCT
        cdef bint big
        self.fmt = fmt
        self.fmt_prefix = prefix
        self.unpack = _framing_struct.Struct(fmt).unpack
        if isinstance(fmt, bytes):
            fmt = fmt.decode("ascii")
        if isinstance(fmt, str) and 1 <= len(fmt) <= 2 and _framing_struct.calcsize(fmt) == prefix:
            order = fmt[0] if len(fmt) == 2 else "@"
            code = fmt[-1]
            if order in "!><=@" and code in "BHILQ":
                big = order in "!>" or (order in "=@" and _framing_sys.byteorder == "big")
                if prefix == 1:
                    kind = PREFIX_U8
                elif prefix == 2:
                    kind = PREFIX_U16_BE if big else PREFIX_U16_LE
                elif prefix == 4:
                    kind = PREFIX_U32_BE if big else PREFIX_U32_LE
                elif prefix == 8:
                    kind = PREFIX_U64_BE if big else PREFIX_U64_LE
        self.fmt_kind = kind
        return 0

    def receive(self, protocol, data):
        """Append `data`, then deliver complete strings while the protocol is not paused. A
        prefix above MAX_LENGTH calls lengthLimitExceeded(length) as soon as the prefix is in;
        only the prefix is kept (so later data re-reports it, as Twisted does) and the payload
        bytes are dropped. Re-entrant calls only append."""
        cdef const unsigned char *p
        cdef unsigned long long n = 0
        cdef Py_ssize_t prefix, i, size
        cdef int kind
        cdef object fmt, length, limit
        if self.busy:
            self.append(data)
            return None
        fmt = protocol.structFormat
        prefix = protocol.prefixLength
        if fmt is not self.fmt or prefix != self.fmt_prefix:
            self.configure(fmt, prefix)
        # Before `busy` is set: bad input (TypeError) must not leave the parser marked busy,
        # or every later chunk would only be appended.
        self.receive_chunk(data)
        self.busy = True
        try:
            while self.end - self.start >= prefix and not protocol.paused:
                p = <const unsigned char *>self.buf + self.start
                kind = self.fmt_kind
                if kind == PREFIX_U32_BE:
                    n = (<unsigned long long>p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]
                elif kind == PREFIX_U8:
                    n = p[0]
                elif kind == PREFIX_U16_BE:
                    n = (p[0] << 8) | p[1]
                elif kind == PREFIX_U16_LE:
                    n = (p[1] << 8) | p[0]
                elif kind == PREFIX_U32_LE:
                    n = (<unsigned long long>p[3] << 24) | (p[2] << 16) | (p[1] << 8) | p[0]
                elif kind == PREFIX_U64_BE:
                    n = 0
                    for i in range(8):
                        n = (n << 8) | p[i]
                elif kind == PREFIX_U64_LE:
                    n = 0
                    for i in range(7, -1, -1):
                        n = (n << 8) | p[i]
                limit = protocol.MAX_LENGTH
                if kind == PREFIX_STRUCT or n > <unsigned long long>PY_SSIZE_T_MAX:
                    if kind == PREFIX_STRUCT:
                        (length,) = self.unpack(PyBytes_FromStringAndSize(<const char *>p, prefix))
                    else:
                        length = n
                    if length > limit or length < 0:
                        self.end = self.start + prefix
                        protocol.lengthLimitExceeded(length)
                        return None
                    n = length
                elif self.over(limit, <Py_ssize_t>n):
                    self.end = self.start + prefix
                    protocol.lengthLimitExceeded(n)
                    return None
                size = self.end - self.start - prefix
                if <unsigned long long>size < n:
                    break
                self.start += prefix
                packet = self.take(<Py_ssize_t>n)
                framing_call1(protocol, "stringReceived", packet)
            return None
        finally:
            self.busy = False
            self.settle()


cdef class NetstringSplitter(FrameBuffer):
    """The buffer and parser of NetstringReceiver (``<digits>:<payload>,``).

    ``receive(protocol, data)`` delivers complete netstrings to ``protocol.stringReceived`` and
    returns True when the input is malformed (no length, a leading zero, a length over MAX_LENGTH
    or longer than ``protocol._maxLengthSize()`` digits, a missing comma), after which the
    splitter is broken: it keeps no data and reports malformed input again whenever Twisted's
    receiver would (any further non-empty input). A length is refused as soon as its digits
    show it is too long; a payload is buffered only once its length is accepted.
    """

    cdef bint fail(self):
        self.broken = True
        self.broken_pending = self.end > self.start
        self.drop_all()
        return True

    cdef int check_length(self, object protocol, Py_ssize_t digits, Py_ssize_t *length) except -1:
        """Twisted's _extractLength over the `digits` digits at start: 1 and `length` set if
        acceptable, 0 if too long."""
        cdef Py_ssize_t i, value = 0
        cdef object limit = protocol.MAX_LENGTH
        if limit is not self.digits_for:
            self.max_digits = int(protocol._maxLengthSize())
            self.digits_for = limit
        if digits > self.max_digits:
            return 0
        if digits <= 18:
            for i in range(digits):
                value = value * 10 + (self.buf[self.start + i] - 48)
            if self.over(limit, value):
                return 0
            length[0] = value
            return 1
        big = int(PyBytes_FromStringAndSize(self.buf + self.start, digits))
        if big > limit:
            return 0
        length[0] = big
        return 1

    def receive(self, protocol, data):
        """Append `data` and deliver every complete netstring; True if the input is malformed."""
        if self.broken:
            if data:
                self.broken_pending = True
            return self.broken_pending
        self.receive_chunk(data)
        try:
            return self.parse(protocol)
        finally:
            self.settle()

    cdef object parse(self, object protocol):
        cdef Py_ssize_t n, digits, length = 0
        cdef const char *p
        while self.end > self.start:
            if self.state == 0:
                p = self.buf + self.start
                n = self.end - self.start
                if p[0] == b'0':
                    digits = 1
                elif b'1' <= p[0] <= b'9':
                    digits = 1
                    while digits < n and b'0' <= p[digits] <= b'9':
                        digits += 1
                else:
                    digits = 0
                if digits and digits < n and p[digits] == b':':
                    if not self.check_length(protocol, digits, &length):
                        return self.fail()
                    self.start += digits + 1
                    self.expected = length + 1
                    self.state = 1
                else:
                    # Twisted's partial match, (0|[1-9]\d*)$, where $ also matches before a
                    # final newline.
                    if not digits or not (digits == n or (digits == n - 1 and p[digits] == b'\n')):
                        return self.fail()
                    if not self.check_length(protocol, digits, &length):
                        return self.fail()
                    return False
            if self.end - self.start < self.expected:
                return False
            if self.buf[self.start + self.expected - 1] != b',':
                self.start += self.expected
                return self.fail()
            payload = self.take(self.expected - 1)
            self.start += 1
            self.state = 0
            framing_call1(protocol, "stringReceived", payload)
        return False
