"""TCP ports and connectors: what listenTCP/connectTCP add to the shared stream machinery
(fastreactor._stream): IPv4/IPv6 binding, host name resolution, and TCP addresses.

The accept loop and the connection transport are compiled (`_core.StreamPort`,
`_core.TCPConnection`); Twisted's connector state machine is `_stream.Connector`.
"""
import errno
import socket

from fastreactor import _core
from fastreactor._stream import Connecting as StreamConnecting
from fastreactor._stream import Connector as StreamConnector
from fastreactor._stream import ListeningPort, adopt_stream_socket, require_methods

__all__ = ["Port", "Connector", "Connecting", "isIPAddress", "isIPv6Address",
           "adopt_stream_socket", "require_methods", "check_port_number", "connect_destination",
           "socket_address"]

STREAM_FAMILIES = (socket.AF_INET, socket.AF_INET6)
"""The address families of TCP sockets (adoptStreamPort/adoptStreamConnection also take
whatever other stream kinds the reactor has)."""


def isIPAddress(host):
    """True if `host` is a dotted-quad IPv4 address."""
    try:
        socket.inet_pton(socket.AF_INET, host)
    except (OSError, TypeError, ValueError):
        return False
    return True


def isIPv6Address(host):
    """True if `host` is an IPv6 address literal (a %scope suffix is allowed)."""
    if not isinstance(host, str):
        return False
    try:
        socket.inet_pton(socket.AF_INET6, host.split("%", 1)[0])
    except (OSError, ValueError):
        return False
    return True


def check_port_number(port, what):
    """`port` as an int in 0..65535, or ValueError/TypeError naming `what`."""
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError("%s port must be an int, not %s" % (what, type(port).__name__))
    if not 0 <= port <= 65535:
        raise ValueError("%s port must be in 0..65535, not %d" % (what, port))
    return port


def connect_destination(api, host, port, what):
    """The (host, port) a connect call (`what`: "connectTCP", "connectSSL") goes to: a service
    name for `port` ("http") looked up as TCP's (ServiceNameUnknownError of the face `api` if
    unknown), then checked as check_port_number does; `host` a str (bytes decoded as ASCII),
    else TypeError."""
    if isinstance(port, str):
        try:
            port = socket.getservbyname(port, "tcp")
        except OSError as e:
            raise api.ServiceNameUnknownError(string="%s (%r)" % (e, port)) from None
    check_port_number(port, what)
    if isinstance(host, bytes):
        host = host.decode("ascii")
    if not isinstance(host, str):
        raise TypeError("host must be a str, not %s" % (type(host).__name__,))
    return host, port


def socket_address(api, sockaddr):
    """The face's IPv4Address/IPv6Address for a socket address tuple; an IPv6 link-local host
    keeps its %scope (getnameinfo), as the engine and Twisted report it."""
    if len(sockaddr) == 4:
        host = socket.getnameinfo(sockaddr, socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)[0]
        return api.IPv6Address("TCP", host, *sockaddr[1:])
    return api.IPv4Address("TCP", *sockaddr[:2])


def numeric_ipv6(host, port):
    """The (host, port, flowinfo, scope_id) sockaddr for an IPv6 literal (scope ids resolved)."""
    return socket.getaddrinfo(host, port, socket.AF_INET6, socket.SOCK_STREAM, 0,
                              socket.AI_NUMERICHOST)[0][4]


class Port(ListeningPort):
    """A listening TCP socket (IListeningPort): getHost(), startListening(), stopListening().

    Port(port, factory, backlog=50, interface="", reactor=None, reusePort=False): `interface`
    '' is every IPv4 interface, an IPv6 literal (such as '::') listens on IPv6.
    """

    reuseAddress = True     # SO_REUSEADDR on the listening socket

    def __init__(self, port, factory, backlog=50, interface="", reactor=None, reusePort=False):
        super().__init__(factory, reactor, reactor._connectionClass)
        self.port = port
        self.backlog = backlog
        self.interface = interface
        self.reusePort = reusePort
        self._realPortNumber = None

    def __repr__(self):
        if self._realPortNumber is not None:
            return "<%s of %s on %s>" % (type(self).__name__, type(self.factory).__name__, self._realPortNumber)
        return "<%s of %s (not listening)>" % (type(self).__name__, type(self.factory).__name__)

    def _bindSocket(self):
        family = socket.AF_INET6 if isIPv6Address(self.interface) else socket.AF_INET
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                if self.reuseAddress:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if self.reusePort:
                    if not hasattr(socket, "SO_REUSEPORT"):
                        raise OSError(errno.ENOPROTOOPT, "SO_REUSEPORT is not supported here")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind(self._bindAddress(family))
                sock.listen(self.backlog)
                sock.setblocking(False)
            except BaseException:
                sock.close()
                raise
        except (OSError, OverflowError) as e:
            raise self.reactor._api.CannotListenError(self.interface, self.port, e) from None
        return sock

    def _bindAddress(self, family):
        """The socket address startListening binds to (an IPv6 one keeps its %scope)."""
        if family == socket.AF_INET6:
            return numeric_ipv6(self.interface, self.port)
        return (self.interface, self.port)

    @classmethod
    def _forAdoptedSocket(cls, sock, factory, reactor):
        """A port for adoptStreamPort: not yet started; `sock` is bound and listening.
        As Twisted's adopted ports, it has no port number or backlog of its own (None) and its
        interface is the host the socket is bound to."""
        interface = socket_address(reactor._api, sock.getsockname()).host
        port = cls(None, factory, None, interface, reactor)
        port.port = None
        return port

    def _listening(self, sock):
        self._realPortNumber = sock.getsockname()[1]

    def _logAddress(self):
        return self._realPortNumber

    def getHost(self):
        """The address the port listens on (the real port number when 0 was asked for)."""
        return socket_address(self.reactor._api, self.socket.getsockname())

    def connectionLost(self, reason):
        if self.connected:
            self._realPortNumber = None
        super().connectionLost(reason)


class Connecting(StreamConnecting):
    """A TCP connection attempt: resolve the host (off the loop) on the next iteration, then
    connect a socket of its family, bound to `bindAddress` if given."""

    def __init__(self, host, port, bindAddress, connector, reactor):
        self.host = host
        self.port = port
        self.bindAddress = bindAddress
        super().__init__(connector, reactor)

    def _begin(self):
        """Resolve the host on the next iteration (a face may first create the socket, as
        Twisted's client does)."""
        self.reactor.callLater(0, self.resolveAddress)

    def resolveAddress(self):
        if self.connector is None or self.disconnected:
            return
        if isIPAddress(self.host) or isIPv6Address(self.host):
            self.connectTo(self.host)
        else:
            d = self.reactor.resolveAddress(self.host, self.port)
            d.addCallbacks(self.connectTo, self.resolveFailed)

    def resolveFailed(self, failure):
        api = self.reactor._api
        self.failIfNotConnected(api.DNSLookupError(str(failure.getErrorMessage()) if failure else self.host))

    def connectTo(self, address):
        """Connect a new socket to the IP address string `address`."""
        if self.connector is None or self.disconnected:
            return
        family = socket.AF_INET6 if isIPv6Address(address) else socket.AF_INET
        api = self.reactor._api
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                if self.bindAddress is not None:
                    sock.bind(self.bindAddress)
            except BaseException:
                sock.close()
                raise
        except OSError as e:
            self.failIfNotConnected(api.ConnectBindError(e.errno, e.strerror))
            return
        if family == socket.AF_INET6:
            realAddress = numeric_ipv6(address, self.port)
        else:
            realAddress = (address, self.port)
        self.startConnecting(sock, realAddress)


class Connector(StreamConnector):
    """Twisted's IConnector for TCP (see _stream.Connector); getDestination() is the address
    as given (a host name stays a host name)."""

    _connectingClass = Connecting   # the transport while connecting (a face may substitute its own)

    def __init__(self, host, port, factory, timeout, bindAddress, reactor):
        super().__init__(factory, timeout, reactor)
        self.host = host
        self.port = port
        self.bindAddress = bindAddress

    def _makeConnecting(self):
        return self._connectingClass(self.host, self.port, self.bindAddress, self, self.reactor)

    def _makeTransport(self, fd, family):
        return self.reactor._connectionClass(self.reactor, fd, family)

    def getDestination(self):
        """The address being connected to, as given."""
        api = self.reactor._api
        if isIPv6Address(self.host):
            return api.IPv6Address("TCP", self.host, self.port)
        return api.IPv4Address("TCP", self.host, self.port)
