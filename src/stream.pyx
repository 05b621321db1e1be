# StreamTransport: the one byte-stream transport (TCP, UNIX, TLS, process pipes). It owns the
# write queue, producers, half-close, the lose/abort ordering, the flush-after-dataReceived rule and
# connectionLost delivery; a stream kind supplies only its raw I/O (recv_into/send_some/shut_write/
# close_descriptor, or read_some for a layer such as TLS that turns what it reads into plaintext).
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.object cimport PyObject


cdef extern from "Python.h":
    # The raw forms, for a bytes object whose single reference this module manages by hand.
    PyObject *new_bytes "PyBytes_FromStringAndSize"(const char *data, Py_ssize_t size) except NULL
    char *bytes_data "PyBytes_AS_STRING"(PyObject *o)
    int resize_bytes "_PyBytes_Resize"(PyObject **o, Py_ssize_t size) except -1
    object steal_object "(PyObject *)"(PyObject *o)
    PyObject *list_item "PyList_GET_ITEM"(object list, Py_ssize_t i)
    # PyList_SetSlice with NULL items deletes list[low:high] (Cython's declaration takes no NULL).
    int delete_list_slice "PyList_SetSlice"(object list, Py_ssize_t low, Py_ssize_t high,
                                            PyObject *none) except -1

cdef extern from "queue_list.h":
    int clear_keeping_room "fr_list_clear_keeping_room"(object list) except -1

cdef extern from "recycle.h":
    # See recycle.h: one spare bytes object, reused for the next read of its size.
    void offer_bytes "fr_offer_bytes"(PyObject *o)
    object bytes_copy "fr_bytes_copy"(const char *data, Py_ssize_t size)

cdef extern from *:
    """
    #include <errno.h>
    static inline void fr_set_errno(int e) { errno = e; }
    """
    void fr_set_errno(int e)

cdef enum:
    JOIN_SEQUENCE_UP_TO = 8192  # writeSequence joins its pieces into one bytes up to this total
    COMPACT_QUEUE_AT = 64       # sent chunks are dropped from the queue's list in batches of this
    # Reads go into a bytes object of READ_CHUNK bytes kept here between reads. A small read is
    # copied out into a bytes of its size; one of HAND_OVER_AT bytes or more is handed over as it
    # is, shrunk in place (a 64 KiB copy costs as much as the rest of the read path), and the next
    # read makes a new buffer.
    HAND_OVER_AT = 16384

cdef PyObject *spare_read_buffer = NULL


cdef class StreamTransport(Handle):
    """A byte stream on a descriptor: Twisted's ITransport, IConsumer and IPushProducer.

    write() queues; the queue goes out when this transport's dataReceived returns, or else just
    before the loop next polls, and what the kernel does not take is sent when the descriptor is
    writable. Writes never call back into the protocol synchronously. loseConnection() closes
    after everything queued is sent; abortConnection() drops the queue, closes abortively on the
    next iteration, and nothing re-arms the descriptor afterwards. The protocol's connectionLost
    runs exactly once, then the connector's (for client connections). A stream kind subclasses
    this and provides the raw I/O methods.
    """

    def __init__(self, Loop loop, int fd):
        self.loop = loop
        self.fd = fd
        self.connected = 1
        self.bufferSize = 65536
        self.low_water = 0

    def __repr__(self):
        return "<%s fd=%d connected=%d>" % (type(self).__name__, self.fd, self.connected)

    # ---- raw I/O (a stream kind overrides these) ---------------------------------------------------

    cdef ssize_t recv_into(self, char *buf, size_t size):
        """Read up to `size` bytes into `buf`: the count, 0 at EOF, -1 with errno set."""
        fr_set_errno(ENOSYS)
        return -1

    cdef object read_some(self, ssize_t *count):
        """What one readiness yields for dataReceived: a bytes object with *count > 0; None with
        *count 0 at EOF, or -1 with errno set (EAGAIN: nothing now). The default reads up to
        READ_CHUNK bytes with recv_into through a reused buffer."""
        global spare_read_buffer
        cdef PyObject *buf = spare_read_buffer
        cdef ssize_t n
        if buf == NULL:
            buf = new_bytes(NULL, READ_CHUNK)
        spare_read_buffer = NULL
        n = self.recv_into(bytes_data(buf), READ_CHUNK)
        count[0] = n
        if n >= HAND_OVER_AT:
            if n < READ_CHUNK:
                resize_bytes(&buf, n)
            return steal_object(buf)
        spare_read_buffer = buf
        if n <= 0:
            return None
        return bytes_copy(bytes_data(buf), n)

    cdef ssize_t send_some(self, iovec *vec, int count) except -2:
        """Send what the kernel takes of `count` buffers: the byte count, or -1 with errno set."""
        fr_set_errno(ENOSYS)
        return -1

    cdef int shut_write(self) except -1:
        """Shut the write direction down (a FIN for a socket, close for a pipe)."""
        return 0

    cdef int close_descriptor(self, bint abortive) except -1:
        """Stop watching the descriptor and close it (`abortive`: drop unsent data, e.g. an RST).
        The descriptor leaves the poller first, always: another descriptor (a dup, the original of
        an adopted socket, a forked child's copy) may keep the file open, and epoll would go on
        reporting it."""
        cdef int fd = self.fd
        if fd >= 0:
            self.loop.forget(self, False)
            self.fd = -1
            close(fd)
        return 0

    # ---- used by ports and connectors --------------------------------------------------------------

    def _attach(self, protocol):
        """Start reading and hand this transport to `protocol.makeConnection`. If the loop cannot
        watch the descriptor (the select poller refuses numbers at or above FD_SETSIZE), the
        connection is lost at once with that error, before the protocol ever sees it (so its
        connectionLost is not called; a connector's is), and the error is raised to the caller."""
        self.protocol = protocol
        self.half_closeable = self.loop.api.isHalfCloseable(protocol)
        try:
            self.start_reading()
        except Exception as e:
            # Close the descriptor now rather than when the transport is freed, and never count
            # it as open: nothing would ever report it lost.
            self.protocol = None
            self.lose(self.loop.api.Failure(e))
            raise
        if not self.counted_open and not self.disconnected:
            self.counted_open = 1
            self.loop.stat_open += 1
        protocol.makeConnection(self)

    cdef int start_reading(self) except -1:
        if self.fd >= 0 and not self.aborting:
            self.loop.set_interest(self, self.interest | EV_READ)
        return 0

    cdef int stop_reading(self) except -1:
        if self.fd >= 0:
            self.loop.set_interest(self, self.interest & ~EV_READ)
        return 0

    cdef int fdset(self, int events, bint on) except -1:
        # IReactorFDSet on a transport: reading is resumeProducing/pauseProducing, writing is
        # Twisted's startWriting/stopWriting.
        if events & EV_READ:
            if on:
                self.resumeProducing()
            else:
                self.stop_reading()
        if events & EV_WRITE:
            self._watchWritable(on)
        return 0

    # ---- reading -----------------------------------------------------------------------------------

    cdef object on_readable(self):
        cdef ssize_t n
        cdef object data = self.read_some(&n)
        if n > 0:
            self.loop.stat_bytes_read += <unsigned long long>n
            self.deliver(data)
        elif n == 0:
            self.read_eof()
        elif errno != EAGAIN and errno != EWOULDBLOCK and errno != EINTR:
            self.lose(self.loop.api.Failure(self.loop.api.CONNECTION_LOST))
        return None

    cdef int deliver(self, object data) except -1:
        """Hand `data` to dataReceived, then send what it wrote: this connection's replies go out
        now rather than after the whole poll batch, so the peer can work while the other ready
        connections are read. Everything done in the same callback (write then abort or lose) has
        already taken effect."""
        self.receiving = True
        try:
            self.protocol.dataReceived(data)
        except Exception as e:
            self.receiving = False
            self.loop.report("Unhandled Error in dataReceived of %s" % (safe_repr(self.protocol),))
            self.lose(self.loop.api.Failure(e))
            return 0
        except BaseException:
            # KeyboardInterrupt/SystemExit end run(); what was written must still go out later.
            self.receiving = False
            if self.flush_queued:
                self.loop.unflushed.append(self)
            raise
        self.receiving = False
        if self.flush_queued:
            self.flush_before_poll()
        # `data` is borrowed from the caller, which drops it on return: a count of 1 now means
        # neither the protocol nor the write queue kept it (an echo's reply has been sent).
        offer_bytes(<PyObject *>data)
        return 0

    cdef int read_eof(self) except -1:
        api = self.loop.api
        if self.write_errno:
            # A failed send consumed the socket's error (e.g. ECONNRESET): this EOF is not clean.
            self.lose(api.Failure(api.CONNECTION_LOST))
            return 0
        if not self.half_closeable:
            self.lose(api.Failure(api.CONNECTION_DONE))
            return 0
        # IHalfCloseableProtocol: the peer finished sending; we may go on writing.
        self.stop_reading()
        self.read_shut = True
        try:
            self.protocol.readConnectionLost()
        except Exception as e:
            self.loop.report("Unhandled Error in readConnectionLost of %s" % (safe_repr(self.protocol),))
            self.lose(api.Failure(e))
        return 0

    # ---- writing -----------------------------------------------------------------------------------

    def write(self, data):
        """Queue `data` (bytes) to be sent, in order: as soon as this connection's dataReceived
        returns, or else just before the loop next polls (one send for all that was queued); what
        the kernel does not take then is sent when the descriptor is writable. Ignored once the
        connection is closed, aborted or its write side shut down, and on a kind that sets
        `closing_drops_writes` (TLS) once loseConnection ran while no producer is registered;
        TypeError for anything but bytes."""
        if type(data) is not bytes:
            if not isinstance(data, bytes):
                raise TypeError("Data must be bytes")
        if not self.connected or self.write_shut or self.aborting:
            return
        if self.disconnecting and self.closing_drops_writes and self.producer is None:
            return
        if PyBytes_GET_SIZE(data):
            self.enqueue(data)

    def writeSequence(self, iovec):
        """Write each bytes object of `iovec` in order (TypeError if any is not bytes; then nothing
        is written)."""
        cdef list chunks = list(iovec)
        cdef Py_ssize_t total = 0
        for chunk in chunks:
            if not isinstance(chunk, bytes):
                raise TypeError("Data must be bytes")
            total += PyBytes_GET_SIZE(chunk)
        if not self.connected or self.write_shut or self.aborting or not total:
            return
        if self.disconnecting and self.closing_drops_writes and self.producer is None:
            return
        if total <= JOIN_SEQUENCE_UP_TO:
            # Many small pieces (an HTTP response's headers): one copy is cheaper than queueing and
            # sending each one as its own iovec entry.
            self.enqueue(b"".join(chunks))
            return
        for chunk in chunks:
            if PyBytes_GET_SIZE(chunk):
                self.enqueue(chunk)

    cdef int enqueue(self, object data) except -1:
        cdef list chunks = self.write_chunks
        if chunks is None:
            self.write_chunks = chunks = []
        chunks.append(data)
        self.write_pending += PyBytes_GET_SIZE(data)
        if not self.flush_queued and not (self.interest & EV_WRITE):
            self.flush_queued = True
            if not self.receiving:      # else deliver() flushes when dataReceived returns
                self.loop.unflushed.append(self)
        self.maybe_pause_producer()
        return 0

    cdef int flush_before_poll(self) except -1:
        """Send what this iteration wrote (the loop calls it before it polls). Anything that needs
        a callback (the rest of the queue, an error, a pending close, a producer to resume) waits
        for writability, as in Twisted, so callbacks keep Twisted's order."""
        self.flush_queued = False
        if self.fd < 0 or self.aborting or not self.write_pending:
            return 0
        self.flush()
        # A streaming producer that is not paused needs nothing when the queue empties (Twisted
        # calls it only to resume it), so only a pull producer or a paused one waits for writability.
        if (self.write_pending or self.write_errno or self.disconnecting or self.write_shut_requested
                or (self.producer is not None and (not self.streamingProducer or self.producerPaused))):
            self.loop.set_interest(self, self.interest | EV_WRITE)
        return 0

    cdef int maybe_pause_producer(self) except -1:
        # As Twisted's FileDescriptor: every write that finds the queue over the limit pauses a
        # push producer, even one the transport already paused. Something else (Twisted's TLS
        # layer, say) may have resumed it meanwhile, and a producer left running fills the queue
        # without bound.
        if (self.producer is not None and self.streamingProducer
                and self.write_pending > self.bufferSize):
            self.producerPaused = True
            self.producer.pauseProducing()
        return 0

    cdef int flush(self) except -1:
        """Send what the kernel takes of the queue; an error is kept in write_errno."""
        cdef iovec vec[FR_IOV_BATCH]
        cdef Py_ssize_t i, count, head, sent
        cdef list chunks
        cdef object chunk
        while self.write_pending and not self.write_errno:
            chunks = self.write_chunks
            head = self.write_head
            count = min(len(chunks) - head, FR_IOV_BATCH)
            for i in range(count):
                chunk = chunks[head + i]
                vec[i].iov_base = PyBytes_AS_STRING(chunk)
                vec[i].iov_len = PyBytes_GET_SIZE(chunk)
            vec[0].iov_base = <char *>vec[0].iov_base + self.write_offset
            vec[0].iov_len -= self.write_offset
            sent = self.send_some(vec, <int>count)
            if sent < 0:
                if errno == EAGAIN or errno == EWOULDBLOCK or errno == ENOBUFS or errno == EINTR:
                    return 0
                self.write_errno = errno
                return 0
            self.loop.stat_bytes_written += <unsigned long long>sent
            if self.drop_sent(sent):
                return 0    # the kernel took less than offered: wait for writability
        return 0

    cdef int drop_sent(self, Py_ssize_t sent) except -1:
        """Account for `sent` bytes taken from the head of the queue; 1 if the head chunk (or a
        later one) went out only in part, else 0. Sent chunks leave the list in batches, so a long
        queue costs O(1) per chunk, not a list shift per send."""
        cdef list chunks = self.write_chunks
        cdef Py_ssize_t head = self.write_head
        cdef Py_ssize_t end = len(chunks)
        cdef Py_ssize_t length
        cdef int partial = 0
        self.write_pending -= sent
        sent += self.write_offset
        while head < end:
            length = PyBytes_GET_SIZE(chunks[head])
            if sent < length:
                partial = 1
                break
            sent -= length
            head += 1
        self.write_offset = sent if partial else 0
        # delete_list_slice, not `del chunks[:head]`: Cython compiles the del into a slice object and
        # a subscript call, ~190 instructions of the ~2,900 a small echo message costs.
        if head == end:
            # The last chunk sent, if the queue held its only reference, becomes the spare bytes.
            offer_bytes(list_item(chunks, end - 1))
            clear_keeping_room(chunks)
            head = 0
        elif head >= COMPACT_QUEUE_AT and head * 2 >= end:
            delete_list_slice(chunks, 0, head, NULL)
            head = 0
        self.write_head = head
        return partial

    cdef object on_writable(self):
        if self.aborting:
            return None
        if self.write_pending:
            self.flush()
        if self.write_errno:
            self.lose(self.loop.api.Failure(self.loop.api.CONNECTION_LOST))
            return None
        if self.write_pending:
            if (self.producer is not None and self.streamingProducer and self.producerPaused
                    and self.write_pending <= self.low_water):
                self.producerPaused = False
                self.producer.resumeProducing()
            return None
        self.loop.set_interest(self, self.interest & ~EV_WRITE)
        self.writable_done()
        return None

    cdef int writable_done(self) except -1:
        """The queue is empty: resume a producer that waits for it, or finish a pending close or
        half-close."""
        api = self.loop.api
        if self.producer is not None and (not self.streamingProducer or self.producerPaused):
            self.producerPaused = False
            self.producer.resumeProducing()
        elif self.disconnecting:
            self.lose(api.Failure(api.CONNECTION_DONE))
        elif self.write_shut_requested and not self.write_shut:
            self.write_shut = True
            self.shut_write()
            if self.half_closeable:
                try:
                    self.protocol.writeConnectionLost()
                except Exception as e:
                    self.loop.report("Unhandled Error in writeConnectionLost of %s"
                                     % (safe_repr(self.protocol),))
                    self.lose(api.Failure(e))
        return 0

    def _watchWritable(self, bint watch):
        """Watch (True) or stop watching (False) the descriptor for writability, as Twisted's
        FileDescriptor.startWriting()/stopWriting(): IReactorFDSet.addWriter/removeWriter on a
        transport. Watching with nothing queued finds nothing to send and stops again (after
        resuming a pull or paused producer); the next write() watches again as needed. Ignored
        once the connection is closed or aborted."""
        if self.fd < 0 or self.disconnected or self.aborting:
            return
        if watch:
            self.loop.set_interest(self, self.interest | EV_WRITE)
        else:
            self.loop.set_interest(self, self.interest & ~EV_WRITE)

    # ---- closing -----------------------------------------------------------------------------------

    def loseConnection(self):
        """Close once everything written so far is sent (and a registered producer is done);
        ignored after abortConnection()."""
        if not self.connected or self.disconnecting or self.aborting:
            return
        if self.write_shut:
            self.stop_reading()
            self.lose(self.loop.api.Failure(self.loop.api.CONNECTION_DONE))
        else:
            self.stop_reading()
            self.loop.set_interest(self, self.interest | EV_WRITE)
            self.disconnecting = 1

    def loseWriteConnection(self):
        """Shut down the write side (a FIN) once the queue is sent; reading goes on."""
        self.write_shut_requested = True
        if self.connected and self.fd >= 0 and not self.aborting:
            self.loop.set_interest(self, self.interest | EV_WRITE)

    def abortConnection(self):
        """Close now, dropping anything queued, abortively (an RST for TCP); connectionLost gets
        ConnectionAborted on the next iteration. From then on nothing is sent and nothing
        (loseConnection, resumeProducing, a writability event) re-arms the descriptor."""
        if self.disconnected or self.aborting:
            return
        self.aborting = True
        self.loop.set_interest(self, 0)
        self.release_queue()
        self.loop.callLater(0, self._abort)

    def _abort(self):
        self.lose(self.loop.api.Failure(self.loop.api.ConnectionAborted()))

    def connectionLost(self, reason):
        """Tear the connection down now with `reason` (a Failure); used by the faces (shutdown,
        a failed makeConnection). A ConnectionAborted reason closes abortively, as
        abortConnection does."""
        if reason.check(self.loop.api.ConnectionAborted) is not None:
            self.aborting = True
        self.lose(reason)

    cdef int release_queue(self) except -1:
        self.write_chunks = None
        self.write_head = 0
        self.write_offset = 0
        self.write_pending = 0
        return 0

    cdef int lose(self, object reason) except -1:
        """Twisted's Connection.connectionLost: once, in Twisted's order (producer stopped,
        descriptor closed, protocol.connectionLost, connector's connectionLost)."""
        if self.disconnected:
            return 0
        self.disconnected = 1
        self.connected = 0
        if self.counted_open:
            self.counted_open = 0
            self.loop.stat_open -= 1
        producer = self.producer
        self.producer = None
        if producer is not None:
            try:
                producer.stopProducing()
            except Exception:
                self.loop.report("Error stopping producer %s" % (safe_repr(producer),))
        self.close_descriptor(self.aborting)
        self.release_queue()
        protocol = self.protocol
        self.protocol = None
        if protocol is not None:
            try:
                protocol.connectionLost(reason)
            except Exception:
                self.loop.report("Unhandled Error in connectionLost of %s" % (safe_repr(protocol),))
        connector = self.connector
        if connector is not None:
            self.connector = None
            try:
                connector.connectionLost(reason)
            except Exception:
                self.loop.report("Unhandled Error in clientConnectionLost of %s" % (safe_repr(connector),))
        return 0

    # ---- producer / consumer -----------------------------------------------------------------------

    def pauseProducing(self):
        """Stop reading (IPushProducer)."""
        self.stop_reading()

    def resumeProducing(self):
        """Resume reading (IPushProducer), unless disconnecting, aborted or read-shut."""
        if self.connected and not self.disconnecting and not self.read_shut and not self.aborting:
            self.start_reading()

    def stopProducing(self):
        """Same as loseConnection (IProducer)."""
        self.loseConnection()

    def registerProducer(self, producer, streaming):
        """Register a push (streaming=True) or pull producer, as Twisted's transports do: push
        producers are paused above the high-water mark and resumed when the queue drains to the
        low one; pull producers are asked for more each time the queue empties. On a closed
        connection the producer is stopped at once; an aborting or closing one takes it (a pull
        producer is asked to resume) and stops it when the connection is lost, as in Twisted."""
        if self.producer is not None:
            raise RuntimeError("Cannot register producer %s, because producer %s was never "
                               "unregistered." % (safe_repr(producer), safe_repr(self.producer)))
        if self.disconnected:
            producer.stopProducing()
            return
        self.producer = producer
        self.streamingProducer = bool(streaming)
        self.producerPaused = False
        if not streaming:
            producer.resumeProducing()

    def unregisterProducer(self):
        """Forget the producer; a pending loseConnection proceeds."""
        self.producer = None
        if self.connected and self.disconnecting and not self.aborting:
            self.loop.set_interest(self, self.interest | EV_WRITE)

    def setWriteBufferLimits(self, high=None, low=None):
        """Set the queue size above which a push producer is paused (default 64 KiB, Twisted's
        bufferSize) and at or below which it is resumed (default 0: when the queue is empty)."""
        if high is not None:
            if high < 0:
                raise ValueError("high must be >= 0")
            self.bufferSize = high
        if low is not None:
            if low < 0 or low > self.bufferSize:
                raise ValueError("low must be between 0 and high")
            self.low_water = low

    def getWriteBufferSize(self):
        """Bytes queued and not yet taken by the kernel."""
        return self.write_pending

    def fileno(self):
        """The descriptor, or -1 once closed."""
        return self.fd

    @property
    def reactor(self):
        """The reactor (loop) this transport runs on, as Twisted's transports have it."""
        return self.loop

    def logPrefix(self):
        protocol = self.protocol
        return type(protocol).__name__ if protocol is not None else type(self).__name__
