"""The Python side of every stream socket kind (TCP, UNIX): listening ports, connection attempts
and connectors, with Twisted's state machines. The accept loop and the transports are compiled
(`_core.StreamPort`, `_core.StreamTransport` subclasses); a kind subclasses these three classes
for what is its own: how the listening socket is bound, how the destination is reached (a host
name is resolved, a path is not), which transport class carries the connection, and the address
objects it reports.
"""
import errno
import os
import socket

from fastreactor import _core
from fastreactor._adopt import adopt_socket

__all__ = ["ListeningPort", "Connecting", "Connector", "adopt_stream_socket", "require_methods"]


def require_methods(factory, names, call):
    """Refuse a duck-typed factory lacking a method the reactor will call, naming it."""
    missing = [name for name in names if not callable(getattr(factory, name, None))]
    if missing:
        raise TypeError("%s: factory %r lacks %s; subclass fastreactor.protocol.%s or define %s"
                        % (call, factory, ", ".join(m + "()" for m in missing),
                           "ClientFactory" if call.startswith("connect") else "Factory",
                           "it" if len(missing) == 1 else "them"))


def _require_listening(sock, call, fileDescriptor):
    if (hasattr(socket, "SO_ACCEPTCONN")
            and not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
        raise ValueError("%s: descriptor %d is not a listening socket (call listen() "
                         "on it first)" % (call, fileDescriptor))


def _require_connected(sock, call, fileDescriptor):
    sock.getpeername()


def adopt_stream_socket(fileDescriptor, addressFamily, listening, call):
    """A socket.socket on a duplicate of `fileDescriptor`, checked to be what `call` needs: the
    checks of `fastreactor._adopt.adopt_socket` for a SOCK_STREAM socket of `addressFamily`, then
    listening, if `listening` and the platform can tell (ValueError), else connected (OSError
    ENOTCONN, from getpeername, as Twisted raises). The caller keeps `fileDescriptor`."""
    return adopt_socket(fileDescriptor, addressFamily, socket.SOCK_STREAM, call,
                        _require_listening if listening else _require_connected)


class ListeningPort(_core.StreamPort):
    """A listening stream socket (IListeningPort): startListening(), stopListening(), getHost().

    A kind provides `_bindSocket()` (a bound, listening, non-blocking socket, or CannotListenError),
    `getHost()`, and `_connectionClass(loop, fd, family, address)` for accepted connections.
    """

    disconnected = False    # True once the port has stopped listening (Twisted's FileDescriptor)

    def __init__(self, factory, reactor, connection_class):
        super().__init__(reactor, factory, connection_class)
        self.reactor = reactor
        self.socket = None
        self.deferred = None

    def startListening(self):
        """Bind and listen (CannotListenError if that fails), start the factory, accept."""
        self._listenOn(self._bindSocket())

    def _bindSocket(self):
        raise NotImplementedError

    def _listenOn(self, sock):
        """Take `sock` (bound, listening, non-blocking; this port closes it when it stops), start
        the factory and accept on it: the last step of startListening and of adoptStreamPort."""
        self.socket = sock
        self._listening(sock)
        self.reactor._api.logMessage("%s starting on %s" % (self._logPrefix(), self._logAddress()))
        self.factory.doStart()
        self.reactor._ports.add(self)
        self._startAccepting(sock.fileno(), sock.family)

    def _listening(self, sock):
        """Note what the kind needs once the socket listens (a TCP port its real port number)."""

    def _logAddress(self):
        """What the "starting on" log line names (Twisted: the port number, or the path)."""
        return self.socket.getsockname()

    def _logPrefix(self):
        prefix = getattr(self.factory, "logPrefix", None)
        return prefix() if callable(prefix) else type(self.factory).__name__

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
    stopProducing = loseConnection     # IPushProducer, as Twisted's ports (FileDescriptor)

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
        self.connected = False
        self.disconnected = True
        self._stopAccepting()
        self.reactor._ports.discard(self)
        if self.socket is not None:
            self.socket.close()
        self._closed()
        try:
            self.factory.doStop()
        finally:
            self.disconnecting = False

    def _closed(self):
        """The socket is closed: a kind removes what it made for it (a UNIX socket file, say)."""

    def logPrefix(self):
        return self._logPrefix()


class Connecting:
    """The transport of a connector while its connection is being set up (Twisted's tcp.Client
    before it connects): reach the destination, connect without blocking, then hand over to the
    kind's transport.

    A kind provides `_begin()` (schedule the first step), and calls `startConnecting(sock,
    address)` with a non-blocking socket and the socket address to connect it to.
    """

    def __init__(self, connector, reactor):
        self.connector = connector
        self.reactor = reactor
        self.connected = 0
        self.disconnected = 0
        self.socket = None
        self.realAddress = None
        self._begin()

    def _begin(self):
        raise NotImplementedError

    def logPrefix(self):
        """ILoggingContext: "Uninitialized" until connected, as Twisted's client says."""
        return "Uninitialized"

    def fileno(self):
        return self.socket.fileno() if self.socket is not None else -1

    def startConnecting(self, sock, address):
        """Connect `sock` (non-blocking, now owned by this attempt) to `address`."""
        if self.connector is None or self.disconnected:
            sock.close()
            return
        self.socket = sock
        self.realAddress = address
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
            try:
                self.reactor.addWriter(self)
            except Exception as e:
                # The poller cannot watch the socket (select: a number >= FD_SETSIZE): the
                # attempt fails, as it does on Twisted when its reactor drops the descriptor.
                self.failIfNotConnected(self.reactor._api.ConnectError(string=str(e)))
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
        """Connected: build the protocol and hand over to the kind's transport, with Twisted's
        error paths. If buildProtocol raises, the attempt fails (clientConnectionFailed with a
        ConnectError, socket closed); if it returns None, the connection is closed; if
        makeConnection (connectionMade) raises, the connection is lost with that error
        (connectionLost, clientConnectionLost). Each error is logged."""
        reactor = self.reactor
        api = reactor._api
        connector = self.connector
        try:
            protocol = connector.buildProtocol(self._peerAddress())
        except Exception as e:
            api.logError("Unhandled Error in buildProtocol of %s" % (_core.safe_repr(connector.factory),))
            self.failIfNotConnected(api.ConnectError(string=api.Failure(e)))
            return
        self.connected = 1
        sock, self.socket = self.socket, None
        transport = connector._makeTransport(sock.detach(), sock.family)
        transport.connector = connector
        connector.transport = transport
        self.connector = None
        if protocol is None:
            transport.protocol = api.Protocol()
            transport.loseConnection()
            return
        try:
            transport._attach(protocol)
        except Exception as e:
            api.logError("Unhandled Error in makeConnection of %s" % (_core.safe_repr(protocol),))
            transport.connectionLost(api.Failure(e))

    def _peerAddress(self):
        """The peer's address for buildProtocol (the socket is connected)."""
        return connection_address(self.reactor._api, self.socket.family, self.socket.getpeername())

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
        """The reactor dropped this attempt (shutdown, or doConnect raised): it fails with
        `reason`'s error."""
        self.failIfNotConnected(self.reactor._api.ConnectError(string=str(reason.value)))

    def getDestination(self):
        return self.connector.getDestination() if self.connector is not None else None


def connection_address(api, family, sockaddr):
    """The face's address object for a socket address as Python's socket module gives it."""
    if family == socket.AF_INET6:
        host = socket.getnameinfo(sockaddr, socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)[0]
        return api.IPv6Address("TCP", host, *sockaddr[1:])
    if family == socket.AF_INET:
        return api.IPv4Address("TCP", *sockaddr[:2])
    return api.UNIXAddress(sockaddr or None)


class Connector:
    """Twisted's IConnector: connect(), disconnect(), stopConnecting(), getDestination(), and
    `state` ('disconnected', 'connecting', 'connected'). A kind provides `_connectingClass`
    (its Connecting), `getDestination()` and `_transportClass()`."""

    _connectingClass = None

    def __init__(self, factory, timeout, reactor):
        self.factory = factory
        self.timeout = timeout
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
        self.transport = transport = self._makeConnecting()
        if self.timeout is not None:
            self.timeoutID = self.reactor.callLater(self.timeout, transport.failIfNotConnected,
                                                    self.reactor._api.TimeoutError())
        self.factory.startedConnecting(self)

    def _makeConnecting(self):
        """The kind's Connecting for one attempt."""
        raise NotImplementedError

    def _makeTransport(self, fd, family):
        """The transport for the connected socket `fd` (which it now owns)."""
        raise NotImplementedError

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
        raise NotImplementedError

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
        """The attempt failed: clientConnectionFailed, then doStop unless the factory connected
        again. If clientConnectionFailed raises, the factory is still stopped (and the error
        goes on to be logged by whoever called): Twisted would call it a second time instead."""
        self.cancelTimeout()
        self.transport = None
        self.state = "disconnected"
        try:
            self.factory.clientConnectionFailed(self, reason)
        finally:
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
