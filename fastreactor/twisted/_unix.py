"""UNIX stream sockets for the Twisted face: the engine's compiled UNIX transport and accept loop,
declaring Twisted's interfaces (IUNIXTransport, IListeningPort, IConnector, ...), dispatching
received descriptors to IFileDescriptorReceiver protocols, and carrying the attributes, reprs and
log lines of Twisted's unix.Server/unix.Client/unix.Port."""
import os
import socket

from zope.interface import implementer

from twisted.internet.interfaces import (
    IConnector,
    IFileDescriptorReceiver,
    IListeningPort,
    ILoggingContext,
    IUNIXTransport,
)
from twisted.python import log, reflect

from fastreactor import _core
from fastreactor.twisted._fdcompat import (
    STREAM_TRANSPORT_INTERFACES, FileDescriptorCompat, SessionNumberingPort, log_prefix)
from fastreactor._unix_reactor import UNIXReactorMixin
from fastreactor.unix import Connecting, Connector, Port


def _text(name):
    return os.fsdecode(name) if isinstance(name, bytes) else name


@implementer(IUNIXTransport, *STREAM_TRANSPORT_INTERFACES)
class UNIXTransport(FileDescriptorCompat, _core.UNIXConnection):
    """A connected UNIX stream socket: the compiled transport, declaring Twisted's interfaces.

    Behaves as Twisted's unix.Server/unix.Client transports do for a protocol (write,
    writeSequence, sendFileDescriptor, loseConnection, abortConnection, loseWriteConnection,
    getPeer, getHost, producers), plus getPeerCredentials(). Received descriptors go to
    protocols providing IFileDescriptorReceiver; for others they are closed and Twisted's log
    event is emitted. Server transports have `sessionno` and `server` (the port).
    """

    # Slots, as TCPTransport's; "__dict__" stays for code that hangs its own attributes on a
    # transport, and nothing here touches it: an instance dict, once made, costs every
    # `transport.write` lookup a dict probe (~245 instructions per echoed message).
    __slots__ = ("sessionno", "server", "logstr", "repstr", "reactor", "_adoptedName", "__dict__")

    def __init__(self, loop, fd, family, peer=None):
        _core.UNIXConnection.__init__(self, loop, fd, family, peer)
        self.reactor = loop     # as Twisted's transports have it
        self.sessionno = 0
        self.server = None
        self.logstr = "Uninitialized"
        self.repstr = None
        self._adoptedName = None    # adoptStreamConnection: the local socket's name

    def _attach(self, protocol):
        prefix = log_prefix(protocol)
        adopted = self._adoptedName
        if self.connector is not None:
            self.logstr = "%s,client" % (prefix,)
        elif adopted is not None:
            # Twisted's adopted unix.Server names the local socket in both.
            name = type(protocol).__name__
            self.repstr = "<%s #%s on %s>" % (name, self.sessionno, adopted)
            self.logstr = "%s,%s,%s" % (name, self.sessionno, adopted)
        else:
            self.logstr = "%s,%s,%s" % (prefix, self.sessionno, _text(self.getPeer().name or b""))
        _core.UNIXConnection._attach(self, protocol)

    def __repr__(self):
        if self.repstr is not None:
            return self.repstr
        if self.connector is not None or self.server is None:
            return "<%s to %s at %x>" % (type(self), self.getPeer(), id(self))
        protocol = self.protocol
        name = type(protocol).__name__ if protocol is not None else "None"
        return "<%s #%s on %s>" % (name, self.sessionno, _text(self.server._bindPath))

    def _takesDescriptors(self, protocol):
        """Twisted's rule: only an IFileDescriptorReceiver gets received descriptors."""
        return IFileDescriptorReceiver.providedBy(protocol)

    def _descriptorsRefused(self, count):
        """Twisted's log event for descriptors closed because the protocol does not take them."""
        log.msg(format=("%(protocolName)s (on %(hostAddress)r) does not provide "
                        "IFileDescriptorReceiver; closing file descriptor received (from "
                        "%(peerAddress)r)."),
                hostAddress=self.getHost(), peerAddress=self.getPeer(),
                protocolName=log_prefix(self.protocol))

    def _ancillaryIgnored(self, level, kind):
        log.msg(format=("%(protocolName)s (on %(hostAddress)r) received unsupported ancillary "
                        "data (level=%(cmsgLevel)r, type=%(cmsgType)r) from %(peerAddress)r."),
                hostAddress=self.getHost(), peerAddress=self.getPeer(),
                protocolName=log_prefix(self.protocol), cmsgLevel=level, cmsgType=kind)

    @property
    def addr(self):
        """The peer's name (bytes, or None when unnamed), as Twisted's UNIX transports have it."""
        peer = self.getPeer()
        return peer.name if peer is not None else None

    def getTcpNoDelay(self):
        """No-op kept from Twisted's UNIX transports (which inherit TCP's API): always False."""
        return False

    def setTcpNoDelay(self, enabled):
        """No-op kept from Twisted's UNIX transports: UNIX sockets have no Nagle algorithm."""

    def getTcpKeepAlive(self):
        """SO_KEEPALIVE, which Twisted's UNIX transports (ITCPTransport by inheritance) expose."""
        return bool(self.getHandle().getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))

    def setTcpKeepAlive(self, enabled):
        """Set SO_KEEPALIVE (meaningless on a UNIX socket, kept for Twisted's ITCPTransport)."""
        self.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1 if enabled else 0)


@implementer(IListeningPort, ILoggingContext)
class TwistedUNIXPort(SessionNumberingPort, Port):
    """A listening UNIX socket (IListeningPort) whose connections are UNIXTransport objects, with
    Twisted's repr, log prefix and log lines."""

    _transportClass = UNIXTransport

    def __init__(self, address, factory, backlog=50, mode=0o666, reactor=None, wantPID=False):
        super().__init__(address, factory, backlog, mode, reactor, wantPID)
        self.sessionno = 0
        self.connection_class = self._makeTransport

    def __repr__(self):
        factoryName = reflect.qual(self.factory.__class__)
        if self.socket is not None and self.connected:
            return "<%s on %r>" % (factoryName, _text(self._bindPath))
        return "<%s (not listening)>" % (factoryName,)

    def connectionLost(self, reason):
        """Close the socket, remove its file, stop the factory; log as Twisted's unix.Port."""
        if self.connected:
            log.msg("(UNIX Port %s Closed)" % (_text(self._bindPath),))
        super().connectionLost(reason)


class TwistedUNIXConnecting(Connecting):
    """A UNIX connection attempt with the attributes of Twisted's unix.Client before it connects."""

    logstr = "Uninitialized"

    @property
    def addr(self):
        return self.address

    def __repr__(self):
        return "<%s to %s at %x>" % (type(self), self.address, id(self))


@implementer(IConnector)
class TwistedUNIXConnector(Connector):
    """Twisted's IConnector for connectUNIX."""

    _connectingClass = TwistedUNIXConnecting


class TwistedUNIXReactorMixin(UNIXReactorMixin):
    """IReactorUNIX for FastReactor: the Twisted face's port, connector and transport classes."""

    _unixConnectionClass = UNIXTransport
    _unixPortClass = TwistedUNIXPort
    _unixConnectorClass = TwistedUNIXConnector

    def _adoptedUNIXTransport(self, sock, peer):
        """As Twisted's adopted unix.Server: session number 0, and repr/logstr naming the local
        socket's name."""
        local = sock.getsockname()
        transport = self._unixConnectionClass(self, sock.detach(), socket.AF_UNIX, peer)
        transport._adoptedName = _text(local) if local else ""   # repr/logstr made in _attach
        return transport
