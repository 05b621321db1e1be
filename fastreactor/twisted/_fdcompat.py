"""What the Twisted face's stream transports (TCP, UNIX) keep from Twisted's FileDescriptor and
Connection (the reading/writing switches, doRead/doWrite, the half-close callbacks and the log
prefix, mapped onto the compiled engine transport), and what their listening ports keep from
Twisted's Port (session numbers, log prefix). One mixin each, so every stream kind has the same."""
from twisted.internet.interfaces import (
    IConsumer,
    IHalfCloseableDescriptor,
    ILoggingContext,
    IPushProducer,
    IReadWriteDescriptor,
    ISystemHandle,
    ITCPTransport,
)
from twisted.python import reflect

# The interfaces every Twisted-face stream transport declares (as Twisted's tcp.Connection and
# unix.Server/Client do); a kind adds its own (IUNIXTransport, ITLSTransport, ...).
STREAM_TRANSPORT_INTERFACES = (ITCPTransport, ISystemHandle, IConsumer, IPushProducer,
                               IHalfCloseableDescriptor, IReadWriteDescriptor, ILoggingContext)


def log_prefix(protocol):
    """What Twisted's transports prefix log lines with: the protocol's logPrefix() if it is an
    ILoggingContext, else its class name."""
    if ILoggingContext.providedBy(protocol):
        return protocol.logPrefix()
    return type(protocol).__name__


class FileDescriptorCompat:
    """Twisted's FileDescriptor methods on an engine stream transport (a `_core.StreamTransport`
    subclass listed after this mixin in the bases), which does the I/O itself.

    `stopReading`/`startReading` pause and resume reading as the push-producer methods do;
    `startWriting`/`stopWriting` switch the writability watch; `stopConsuming` unregisters the
    producer and closes once the queue is sent; `doRead`, `doWrite`, `readConnectionLost` and
    `writeConnectionLost` do nothing (the engine reads, writes and reports half-closes itself);
    `logPrefix()` is the transport's `logstr`.
    """

    __slots__ = ()

    def logPrefix(self):
        """ILoggingContext: the protocol's prefix and, for servers, session number and peer."""
        return self.logstr

    def stopReading(self):
        """Stop reading from the socket (as Twisted's FileDescriptor.stopReading)."""
        self.pauseProducing()

    def startReading(self):
        """Resume reading from the socket (as Twisted's FileDescriptor.startReading)."""
        self.resumeProducing()

    def startWriting(self):
        """Watch the socket for writability (as Twisted's FileDescriptor.startWriting)."""
        self._watchWritable(True)

    def stopWriting(self):
        """Stop watching the socket for writability until the next write (FileDescriptor)."""
        self._watchWritable(False)

    def stopConsuming(self):
        """Unregister the producer and close once the queue is sent (FileDescriptor)."""
        self.unregisterProducer()
        self.loseConnection()

    def doRead(self):
        """IReadDescriptor; the engine reads the socket itself, so there is nothing to do."""
        return None

    def doWrite(self):
        """IWriteDescriptor; the engine flushes the socket itself, so there is nothing to do."""
        return None

    def readConnectionLost(self, reason):
        """IHalfCloseableDescriptor: the engine reports a half-close to the protocol itself."""

    def writeConnectionLost(self, reason):
        """IHalfCloseableDescriptor: the engine reports a half-close to the protocol itself."""


class SessionNumberingPort:
    """What Twisted's tcp.Port and unix.Port do for their connections, on a listening port of the
    engine (a `_core.StreamPort` subclass listed after this mixin in the bases): each accepted
    connection is a `_transportClass` transport with `sessionno` (0, 1, ... in accept order) and
    `server` (this port); `logPrefix()` is the qualified name of the factory's class. The port's
    `__init__` sets `self.sessionno = 0` and `self.connection_class = self._makeTransport`."""

    __slots__ = ()

    _transportClass = None

    def _makeTransport(self, loop, fd, family, peer):
        transport = self._transportClass(loop, fd, family, peer)
        transport.sessionno = self.sessionno
        transport.server = self
        self.sessionno += 1
        return transport

    def logPrefix(self):
        """The qualified name of the factory's class, as Twisted's ports say."""
        return reflect.qual(self.factory.__class__)
