"""TCP for the Twisted face: the engine's compiled transport and accept loop, declaring Twisted's
interfaces (ITCPTransport, IListeningPort, IConnector, ...) and carrying the attributes Twisted's
tcp.Server/tcp.Client/tcp.Port have (sessionno, logstr, addr, Binding support)."""
import socket

from zope.interface import classImplements, implementer

from twisted.internet import error
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.interfaces import IConnector, IListeningPort, ILoggingContext, ITLSTransport
from twisted.internet.tcp import _Binding, makeBinding
from twisted.python import log

from fastreactor import _core
from fastreactor.twisted._fdcompat import (
    STREAM_TRANSPORT_INTERFACES, FileDescriptorCompat, SessionNumberingPort, log_prefix)
from fastreactor.tcp import Connecting, Connector, Port, numeric_ipv6
from fastreactor.twisted._tls import TLS_AVAILABLE, TLSStartedMixin, start_tls


def _twisted_host(sockaddr):
    """Twisted's form of a socket address's host: IPv6 link-local hosts keep their %scope."""
    if len(sockaddr) == 4:
        return socket.getnameinfo(sockaddr, socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)[0]
    return sockaddr[0]


@implementer(*STREAM_TRANSPORT_INTERFACES)
class TCPTransport(FileDescriptorCompat, _core.TCPConnection):
    """A connected TCP socket: the compiled transport, declaring Twisted's transport interfaces.

    Behaves as Twisted's tcp.Server/tcp.Client transports do for a protocol (write,
    writeSequence, loseConnection, abortConnection, loseWriteConnection, getPeer, getHost,
    TCP options, producers); the I/O itself runs in the engine. Server transports have
    `sessionno` and `server` (the port); every transport has `logstr` and `addr`.
    """

    # Slots rather than an instance dict: about 150 bytes less per connection. "__dict__" stays
    # available (made on first use) for code that hangs its own attributes on a transport.
    __slots__ = ("sessionno", "server", "logstr", "_adoptedOnPort", "_tlsClientDefault", "__dict__")

    TLS = False     # True once startTLS ran (Twisted's flag; ISSLTransport is the better test)

    def __init__(self, loop, fd, family, peer=None):
        _core.TCPConnection.__init__(self, loop, fd, family, peer)
        self.sessionno = 0
        self.server = None
        self.logstr = "Uninitialized"
        self._tlsClientDefault = False
        self._adoptedOnPort = None   # the local port number, for an adoptStreamConnection transport

    def _attach(self, protocol):
        prefix = log_prefix(protocol)
        self._tlsClientDefault = self.connector is not None
        if self.connector is not None:
            self.logstr = "%s,client" % (prefix,)
        else:
            self.logstr = "%s,%s,%s" % (prefix, self.sessionno, self.getPeer().host)
        _core.TCPConnection._attach(self, protocol)

    def __repr__(self):
        if self._adoptedOnPort is not None:
            protocol = self.protocol
            name = type(protocol).__name__ if protocol is not None else "None"
            return "<%s #%s on %s>" % (name, self.sessionno, self._adoptedOnPort)
        if self.connector is not None or self.server is None:
            return "<%s to %s at %x>" % (type(self), self.addr, id(self))
        protocol = self.protocol
        name = type(protocol).__name__ if protocol is not None else "None"
        return "<%s #%s on %s>" % (name, self.sessionno, self.server._realPortNumber)

    @property
    def addr(self):
        """The peer's socket address as a tuple (host, port[, flowinfo, scope])."""
        peer = self.getPeer()
        if peer is None:
            return None
        if hasattr(peer, "flowInfo"):
            return (peer.host, peer.port, peer.flowInfo, peer.scopeID)
        return (peer.host, peer.port)

    def startTLS(self, ctx, normal=True):
        """ITLSTransport: from now on, speak TLS with context factory `ctx` (Twisted's
        IOpenSSLContextFactory or client connection creator). Bytes written before go out in
        clear, those written after encrypted. `normal` True keeps the TCP roles (the connecting
        side is the TLS client); False swaps them. The transport then provides ISSLTransport."""
        start_tls(self, TLSStartedTCPTransport, ctx, normal)


if TLS_AVAILABLE:     # as Twisted's tcp.Connection: ITLSTransport only with pyOpenSSL
    classImplements(TCPTransport, ITLSTransport)


class TLSStartedTCPTransport(TLSStartedMixin, TCPTransport):
    """A TCPTransport after startTLS: writes, closes and producers go through the TLS layer."""

    __slots__ = ()


@implementer(IListeningPort, ILoggingContext)
class TwistedTCPPort(SessionNumberingPort, Port):
    """A listening TCP socket (IListeningPort) whose connections are TCPTransport objects.

    `port` is a port number or a twisted.internet.tcp Binding (makeBinding): a number listens with
    SO_REUSEADDR, as Twisted does; a Binding says which of SO_REUSEADDR/SO_REUSEPORT to set.
    """

    _type = "TCP"   # "TLS" for listenSSL's ports; only used in log lines, as in Twisted
    _transportClass = TCPTransport

    def __init__(self, port, factory, backlog=50, interface="", reactor=None, reusePort=False):
        if port is None or isinstance(port, int):
            binding = makeBinding(interface, port, reuseAddress=True, reusePort=reusePort)
        else:
            if not isinstance(port, _Binding):
                raise TypeError("port must be an int or a Binding, not %r" % (port,))
            if interface != "" and port._address != interface:
                raise ValueError("Inconsistent interface vs Binding specifiers")
            binding = port
        super().__init__(binding._port, factory, backlog,
                         "" if binding._address is None else binding._address, reactor,
                         binding._reusePort)
        self.reuseAddress = binding._reuseAddress
        self.sessionno = 0
        self.connection_class = self._makeTransport

    def _bindAddress(self, family):
        """As Twisted binds: an IPv6 interface keeps its %scope."""
        if family == socket.AF_INET6:
            return numeric_ipv6(self.interface, self.port)
        return (self.interface, self.port)

    def getHost(self):
        """The listening address (IPv4Address/IPv6Address; a link-local host keeps its %scope)."""
        address = self.socket.getsockname()
        if self.socket.family == socket.AF_INET6:
            return self.reactor._api.IPv6Address("TCP", _twisted_host(address), *address[1:])
        return self.reactor._api.IPv4Address("TCP", *address)

    def connectionLost(self, reason):
        """Close the socket and stop the factory, logging the close as Twisted's tcp.Port does."""
        if self.connected:
            log.msg("(%s Port %s Closed)" % (self._type, self._realPortNumber))
        super().connectionLost(reason)


class TCPConnecting(Connecting):
    """A connection attempt made as Twisted's tcp.Client makes it: the socket is created (and
    bound to `bindAddress`, a (host, port) tuple or a Binding) at once; a host name is resolved
    through the reactor's resolver; errors reach the connector on the next iteration."""

    logstr = "Uninitialized"    # Twisted's client transport says so until it is connected

    def _begin(self):
        """Create (and bind) the socket now, as Twisted's tcp.Client does; resolve or report the
        error on the next iteration."""
        self.addr = (self.host, self.port)
        family = socket.AF_INET
        failure = None
        try:
            if isIPv6Address(self.host):
                family = socket.AF_INET6
                self.addr = numeric_ipv6(self.host, self.port)
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            self.socket = sock
            if self.bindAddress is not None:
                self._bind(sock, self.bindAddress)
        except OSError as e:
            failure = error.ConnectBindError(e.args[0], e.args[1] if len(e.args) > 1 else "")
        if failure is not None:
            self.reactor.callLater(0, self.failIfNotConnected, failure)
        else:
            self.reactor.callLater(0, self.resolveAddress)

    @staticmethod
    def _bind(sock, bindAddress):
        if isinstance(bindAddress, tuple):
            bindAddress = makeBinding(*bindAddress)
        if bindAddress._reuseAddress:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if bindAddress._reusePort:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        host = bindAddress._address
        if host is not None and isIPv6Address(host):
            sock.bind(numeric_ipv6(host, bindAddress._port))
        else:
            sock.bind((host or "", bindAddress._port))

    def resolveAddress(self):
        if self.connector is None or self.disconnected:
            return
        if isIPAddress(self.host) or isIPv6Address(self.host):
            self.connectTo(self.addr)
            return
        d = self.reactor.resolve(self.host)
        d.addCallbacks(lambda ip: self.connectTo((ip, self.port)),
                       lambda failure: self.failIfNotConnected(failure.value))

    def connectTo(self, address):
        """Connect the socket made at the start to the socket address `address`."""
        if self.connector is None or self.disconnected:
            return
        if len(address) == 4:
            address = (_twisted_host(address),) + tuple(address[1:])
        self.startConnecting(self.socket, tuple(address))

    def getHost(self):
        """The local address of the socket (once bound)."""
        address = self.socket.getsockname()
        if self.socket.family == socket.AF_INET6:
            return self.reactor._api.IPv6Address("TCP", _twisted_host(address), *address[1:])
        return self.reactor._api.IPv4Address("TCP", *address[:2])

    def __repr__(self):
        return "<%s to %s at %x>" % (type(self), self.addr, id(self))


@implementer(IConnector)
class TCPConnector(Connector):
    """Twisted's IConnector for connectTCP: connect, disconnect, stopConnecting, getDestination."""

    _connectingClass = TCPConnecting
