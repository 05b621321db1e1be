"""TCP for the Twisted face: the engine's compiled transport and accept loop, declaring Twisted's
interfaces (ITCPTransport, IListeningPort, IConnector, ...) so Twisted code that checks them works."""
from zope.interface import implementer

from twisted.internet.interfaces import (
    IConnector,
    IConsumer,
    IHalfCloseableDescriptor,
    IListeningPort,
    ILoggingContext,
    IPushProducer,
    IReadWriteDescriptor,
    ISystemHandle,
    ITCPTransport,
)
from twisted.python import log, reflect

from fastreactor import _core
from fastreactor.tcp import Connector, Port


@implementer(ITCPTransport, ISystemHandle, IConsumer, IPushProducer, IHalfCloseableDescriptor,
             IReadWriteDescriptor, ILoggingContext)
class TCPTransport(_core.TCPConnection):
    """A connected TCP socket: the compiled transport, declaring Twisted's transport interfaces.

    Behaves as Twisted's tcp.Server/tcp.Client transports do for a protocol (write,
    writeSequence, loseConnection, abortConnection, loseWriteConnection, getPeer, getHost,
    TCP options, producers); the I/O itself runs in the engine.
    """

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


@implementer(IListeningPort, ILoggingContext)
class TCPPort(Port):
    """A listening TCP socket (IListeningPort) whose connections are TCPTransport objects."""

    def __init__(self, port, factory, backlog=50, interface="", reactor=None, reusePort=False):
        super().__init__(port, factory, backlog, interface, reactor, reusePort)
        self.connection_class = TCPTransport

    def logPrefix(self):
        """The qualified name of the factory's class, as Twisted's tcp.Port says."""
        return reflect.qual(self.factory.__class__)

    def connectionLost(self, reason):
        """Close the socket and stop the factory, logging the close as Twisted's tcp.Port does."""
        if self.connected:
            log.msg("(TCP Port %s Closed)" % (self._realPortNumber,))
        super().connectionLost(reason)


@implementer(IConnector)
class TCPConnector(Connector):
    """Twisted's IConnector for connectTCP: connect, disconnect, stopConnecting, getDestination."""
