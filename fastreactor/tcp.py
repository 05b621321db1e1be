"""TCP ports and connectors: the Python side of listenTCP/connectTCP.

The accept loop and the connection transport are compiled (`_core.TCPPort`,
`_core.TCPConnection`); this module binds and listens, resolves and connects, and runs Twisted's
connector state machine (disconnected -> connecting -> connected -> disconnected).
"""
import errno
import os
import socket

from fastreactor import _core

__all__ = ["Port", "Connector", "isIPAddress", "isIPv6Address", "adopt_stream_socket"]


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


def require_methods(factory, names, call):
    """Refuse a duck-typed factory lacking a method the reactor will call, naming it."""
    missing = [name for name in names if not callable(getattr(factory, name, None))]
    if missing:
        raise TypeError("%s: factory %r lacks %s; subclass fastreactor.protocol.%s or define %s"
                        % (call, factory, ", ".join(m + "()" for m in missing),
                           "ClientFactory" if call == "connectTCP" else "Factory",
                           "it" if len(missing) == 1 else "them"))


STREAM_FAMILIES = (socket.AF_INET, socket.AF_INET6)
"""The address families adoptStreamPort/adoptStreamConnection take (no AF_UNIX transport yet)."""


def adopt_stream_socket(fileDescriptor, addressFamily, listening, call):
    """A socket.socket on a duplicate of `fileDescriptor`, checked to be what `call` needs.

    The caller keeps `fileDescriptor` (open, untouched) and may close it as soon as this returns;
    the returned socket owns only the duplicate (close-on-exec). Checks, each failing with nothing
    left open: an int (TypeError); an open descriptor (OSError EBADF) of a socket (OSError
    ENOTSOCK); a SOCK_STREAM socket of `addressFamily`, non-blocking (ValueError: the engine never
    blocks, and O_NONBLOCK is shared with the caller's descriptor so it is not changed here);
    listening, if `listening` and the platform can tell (ValueError), else connected (OSError
    ENOTCONN, from getpeername, as Twisted raises).
    """
    if isinstance(fileDescriptor, bool) or not isinstance(fileDescriptor, int):
        raise TypeError("%s: fileDescriptor must be an int, not %s"
                        % (call, type(fileDescriptor).__name__))
    fd = os.dup(fileDescriptor)
    try:
        sock = socket.socket(fileno=fd)
    except OSError as e:
        os.close(fd)
        if e.errno == errno.ENOTSOCK:
            raise OSError(e.errno, "%s: descriptor %d is not a socket (%s)"
                          % (call, fileDescriptor, e.strerror)) from None
        raise
    except BaseException:
        os.close(fd)
        raise
    try:
        if sock.type != socket.SOCK_STREAM:
            raise ValueError("%s: descriptor %d is not a SOCK_STREAM socket (type %r)"
                             % (call, fileDescriptor, sock.type))
        if sock.family != addressFamily:
            raise ValueError("%s: descriptor %d is of family %s, not %s"
                             % (call, fileDescriptor, _family_name(sock.family),
                                _family_name(addressFamily)))
        if os.get_blocking(fd):
            raise ValueError("%s: descriptor %d is in blocking mode; set it non-blocking first "
                             "(sock.setblocking(False))" % (call, fileDescriptor))
        if listening:
            if (hasattr(socket, "SO_ACCEPTCONN")
                    and not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
                raise ValueError("%s: descriptor %d is not a listening socket (call listen() "
                                 "on it first)" % (call, fileDescriptor))
        else:
            sock.getpeername()
    except BaseException:
        sock.close()
        raise
    return sock


def _family_name(family):
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return "family %r" % (family,)


def socket_address(api, sockaddr):
    """The face's IPv4Address/IPv6Address for a socket address tuple; an IPv6 link-local host
    keeps its %scope (getnameinfo), as the engine and Twisted report it."""
    if len(sockaddr) == 4:
        host = socket.getnameinfo(sockaddr, socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)[0]
        return api.IPv6Address("TCP", host, *sockaddr[1:])
    return api.IPv4Address("TCP", *sockaddr[:2])


class Port(_core.TCPPort):
    """A listening TCP socket (IListeningPort): getHost(), startListening(), stopListening()."""

    disconnected = False    # True once the port has stopped listening (Twisted's FileDescriptor)
    reuseAddress = True     # SO_REUSEADDR on the listening socket

    def __init__(self, port, factory, backlog=50, interface="", reactor=None, reusePort=False):
        super().__init__(reactor, factory)
        self.port = port
        self.backlog = backlog
        self.interface = interface
        self.reactor = reactor
        self.reusePort = reusePort
        self.socket = None
        self.deferred = None
        self._realPortNumber = None

    def __repr__(self):
        if self._realPortNumber is not None:
            return "<%s of %s on %s>" % (type(self).__name__, type(self.factory).__name__, self._realPortNumber)
        return "<%s of %s (not listening)>" % (type(self).__name__, type(self.factory).__name__)

    def startListening(self):
        """Bind, listen, start the factory, accept. CannotListenError if the bind fails."""
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
        self._listenOn(sock)

    def _bindAddress(self, family):
        """The socket address startListening binds to (an IPv6 one keeps its %scope)."""
        if family == socket.AF_INET6:
            return socket.getaddrinfo(self.interface, self.port, family, socket.SOCK_STREAM, 0,
                                      socket.AI_NUMERICHOST)[0][4]
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

    def _listenOn(self, sock):
        """Take `sock` (bound, listening, non-blocking; this port closes it when it stops), start
        the factory and accept on it: the last step of startListening and of adoptStreamPort."""
        self.socket = sock
        self._realPortNumber = sock.getsockname()[1]
        self.reactor._api.logMessage("%s starting on %s" % (self._logPrefix(), self._realPortNumber))
        self.factory.doStart()
        self.reactor._ports.add(self)
        self._startAccepting(sock.fileno(), sock.family)

    def _logPrefix(self):
        prefix = getattr(self.factory, "logPrefix", None)
        return prefix() if callable(prefix) else type(self.factory).__name__

    def getHost(self):
        """The address the port listens on (the real port number when 0 was asked for)."""
        address = self.socket.getsockname()
        if self.socket.family == socket.AF_INET6:
            return self.reactor._api.IPv6Address("TCP", *address)
        return self.reactor._api.IPv4Address("TCP", *address)

    def loseConnection(self, connDone=None):
        """Stop listening: returns a Deferred that fires after the socket is closed and
        `factory.doStop()` ran. Open connections stay open."""
        api = self.reactor._api
        self.disconnecting = True
        self.stopReading()
        if self.connected:
            if connDone is None:
                connDone = api.Failure(api.ConnectionDone("Connection done"))
            self.deferred = api.Deferred()
            self.reactor.callLater(0, self._finishStopping, connDone)
            return self.deferred
        return api.succeed(None)

    stopListening = loseConnection

    def _finishStopping(self, reason):
        deferred, self.deferred = self.deferred, None
        try:
            self.connectionLost(reason)
        except BaseException:
            deferred.errback(self.reactor._api.Failure())
        else:
            deferred.callback(None)

    def connectionLost(self, reason):
        """Close the socket and stop the factory (called by stopListening and at shutdown)."""
        if not self.connected:
            return
        self._realPortNumber = None
        self.connected = False
        self.disconnected = True
        self._stopAccepting()
        self.reactor._ports.discard(self)
        if self.socket is not None:
            self.socket.close()
        try:
            self.factory.doStop()
        finally:
            self.disconnecting = False

    def logPrefix(self):
        return self._logPrefix()


class Connecting:
    """The transport of a connector while its connection is being set up (Twisted's tcp.Client
    before it connects): resolve, connect without blocking, then hand over to a TCPConnection."""

    def __init__(self, host, port, bindAddress, connector, reactor):
        self.host = host
        self.port = port
        self.bindAddress = bindAddress
        self.connector = connector
        self.reactor = reactor
        self.connected = 0
        self.disconnected = 0
        self.socket = None
        self.realAddress = None
        self._begin()

    def _begin(self):
        """Schedule the first step, resolving the host on the next iteration (a face may first
        create the socket, as Twisted's client does)."""
        self.reactor.callLater(0, self.resolveAddress)

    def logPrefix(self):
        """ILoggingContext: "Uninitialized" until connected, as Twisted's tcp.Client says."""
        return "Uninitialized"

    def fileno(self):
        return self.socket.fileno() if self.socket is not None else -1

    def resolveAddress(self):
        if self.connector is None:
            return
        if isIPAddress(self.host) or isIPv6Address(self.host):
            self.startConnecting(self.host)
        else:
            d = self.reactor.resolveAddress(self.host, self.port)
            d.addCallbacks(self.startConnecting, self.resolveFailed)

    def resolveFailed(self, failure):
        api = self.reactor._api
        self.failIfNotConnected(api.DNSLookupError(str(failure.getErrorMessage()) if failure else self.host))

    def startConnecting(self, address):
        if self.connector is None or self.disconnected:
            return
        family = socket.AF_INET6 if isIPv6Address(address) else socket.AF_INET
        api = self.reactor._api
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            if self.bindAddress is not None:
                sock.bind(self.bindAddress)
        except OSError as e:
            self.failIfNotConnected(api.ConnectBindError(e.errno, e.strerror))
            return
        self.socket = sock
        if family == socket.AF_INET6:
            self.realAddress = socket.getaddrinfo(address, self.port, family, socket.SOCK_STREAM, 0,
                                                  socket.AI_NUMERICHOST)[0][4]
        else:
            self.realAddress = (address, self.port)
        self.doConnect()

    def doConnect(self):
        """Try the connect; called again when the socket becomes writable."""
        if self.connector is None or self.disconnected:
            return None
        err = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.failIfNotConnected(self.reactor._api.getConnectError((err, os.strerror(err))))
            return None
        err = self.socket.connect_ex(self.realAddress)
        if err in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EINTR):
            self.reactor.addWriter(self)
            return None
        if err not in (0, errno.EISCONN):
            self.failIfNotConnected(self.reactor._api.getConnectError((err, os.strerror(err))))
            return None
        self.reactor.removeWriter(self)
        self.connectDone()
        return None

    doWrite = doConnect
    doRead = doConnect

    def connectDone(self):
        reactor = self.reactor
        api = reactor._api
        connector = self.connector
        self.connected = 1
        sock, self.socket = self.socket, None
        family = sock.family
        transport = reactor._connectionClass(reactor, sock.detach(), family)
        transport.connector = connector
        connector.transport = transport
        self.connector = None
        protocol = connector.buildProtocol(transport.getPeer())
        if protocol is None:
            transport.protocol = api.Protocol()
            transport.loseConnection()
        else:
            transport._attach(protocol)

    def failIfNotConnected(self, err):
        """Abandon the attempt and report `err` to the connector (once)."""
        if self.connected or self.disconnected or self.connector is None:
            return
        self.disconnected = 1
        self.reactor.removeWriter(self)
        if self.socket is not None:
            self.socket.close()
            self.socket = None
        connector, self.connector = self.connector, None
        connector.connectionFailed(self.reactor._api.Failure(err))

    def stopConnecting(self):
        """Cancel the attempt: the connector gets a UserError failure."""
        self.failIfNotConnected(self.reactor._api.UserError())

    def loseConnection(self):
        self.stopConnecting()

    def connectionLost(self, reason):
        """At reactor shutdown: the attempt fails with `reason`'s error."""
        self.failIfNotConnected(self.reactor._api.ConnectError(string=str(reason.value)))

    def getDestination(self):
        return self.connector.getDestination() if self.connector is not None else None


class Connector:
    """Twisted's IConnector for TCP: connect(), disconnect(), stopConnecting(), getDestination(),
    and `state` ('disconnected', 'connecting', 'connected')."""

    _connectingClass = Connecting   # the transport while connecting (a face may substitute its own)

    def __init__(self, host, port, factory, timeout, bindAddress, reactor):
        self.host = host
        self.port = port
        self.factory = factory
        self.timeout = timeout
        self.bindAddress = bindAddress
        self.reactor = reactor
        self.state = "disconnected"
        self.transport = None
        self.timeoutID = None
        self.factoryStarted = 0

    def __repr__(self):
        return "<%s instance at 0x%x %s %s>" % (type(self).__name__, id(self), self.state, self.getDestination())

    def connect(self):
        """Start connecting (RuntimeError unless disconnected)."""
        if self.state != "disconnected":
            raise RuntimeError("can't connect in this state")
        self.state = "connecting"
        if not self.factoryStarted:
            self.factory.doStart()
            self.factoryStarted = 1
        self.transport = transport = self._connectingClass(self.host, self.port, self.bindAddress, self, self.reactor)
        if self.timeout is not None:
            self.timeoutID = self.reactor.callLater(self.timeout, transport.failIfNotConnected,
                                                    self.reactor._api.TimeoutError())
        self.factory.startedConnecting(self)

    def stopConnecting(self):
        """Cancel a connection attempt in progress (NotConnectingError otherwise)."""
        if self.state != "connecting":
            raise self.reactor._api.NotConnectingError("we're not trying to connect")
        self.state = "disconnected"
        self.transport.failIfNotConnected(self.reactor._api.UserError())

    def disconnect(self):
        """Cancel the attempt, or close the connection."""
        if self.state == "connecting":
            self.stopConnecting()
        elif self.state == "connected":
            self.transport.loseConnection()

    def getDestination(self):
        """The address being connected to, as given (a hostname stays a hostname)."""
        api = self.reactor._api
        if isIPv6Address(self.host):
            return api.IPv6Address("TCP", self.host, self.port)
        return api.IPv4Address("TCP", self.host, self.port)

    def cancelTimeout(self):
        if self.timeoutID is not None:
            try:
                self.timeoutID.cancel()
            except ValueError:
                pass
            self.timeoutID = None

    def buildProtocol(self, addr):
        self.state = "connected"
        self.cancelTimeout()
        return self.factory.buildProtocol(addr)

    def connectionFailed(self, reason):
        self.cancelTimeout()
        self.transport = None
        self.state = "disconnected"
        self.factory.clientConnectionFailed(self, reason)
        if self.state == "disconnected":
            self.stopFactory()

    def connectionLost(self, reason):
        self.state = "disconnected"
        self.factory.clientConnectionLost(self, reason)
        if self.state == "disconnected":
            self.stopFactory()

    def stopFactory(self):
        if self.factoryStarted:
            self.factory.doStop()
            self.factoryStarted = 0
