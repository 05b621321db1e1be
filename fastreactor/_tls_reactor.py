"""IReactorSSL for the native face: listenSSL and connectSSL with an `ssl.SSLContext`, on the
compiled TLS record layer (`_core.TLSLayer`, attached to a `_core.TCPConnection`; any live TCP
connection can also `transport.startTLS(context)`)."""
import ssl

from fastreactor._stream import require_methods
from fastreactor.tcp import Connector, check_port_number, connect_destination

__all__ = ["TLSReactorMixin", "TLSConnector"]

_SERVER_FACTORY_METHODS = ("doStart", "doStop", "buildProtocol")
_CLIENT_FACTORY_METHODS = ("doStart", "doStop", "startedConnecting", "buildProtocol",
                           "clientConnectionFailed", "clientConnectionLost")


def checked_context(context, call):
    """`context` if it is an ssl.SSLContext (TypeError otherwise), with renegotiation refused
    (`ssl.OP_NO_RENEGOTIATION` is added to its options)."""
    if not isinstance(context, ssl.SSLContext):
        raise TypeError("%s needs an ssl.SSLContext as contextFactory (see fastreactor.ssl), not %s"
                        % (call, type(context).__name__))
    context.options |= ssl.OP_NO_RENEGOTIATION
    return context


def checked_timeout(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError("%s must be None or a number >= 0, not %r" % (what, value))
    return float(value)


class ServerTLS:
    """The connection class of a listenSSL port: the reactor's TCP transport, with TLS set up as
    the server side before the protocol is attached."""

    def __init__(self, connection_class, context, handshake_timeout):
        self.connection_class = connection_class
        self.context = context
        self.handshake_timeout = handshake_timeout

    def __call__(self, loop, fd, family, address):
        transport = self.connection_class(loop, fd, family, address)
        transport._prepareTLS(self.context, False, None, self.handshake_timeout)
        return transport


class TLSConnector(Connector):
    """A TCP connector whose connection is a TLS client: SNI and the certificate's host name
    check use the host given to connectSSL."""

    def __init__(self, host, port, factory, timeout, bindAddress, reactor, context, handshake_timeout):
        super().__init__(host, port, factory, timeout, bindAddress, reactor)
        self.context = context
        self.handshake_timeout = handshake_timeout

    def _makeTransport(self, fd, family):
        transport = super()._makeTransport(fd, family)
        try:
            transport._prepareTLS(self.context, True, self.host, self.handshake_timeout)
        except BaseException:
            transport.abortConnection()
            raise
        return transport


class TLSReactorMixin:
    """listenSSL/connectSSL (Twisted's IReactorSSL with stdlib contexts) for the native reactor.

    `tlsHandshakeTimeout` (seconds, default 30; 0 for none) bounds every TLS handshake unless a
    call gives its own `handshakeTimeout`.
    """

    tlsHandshakeTimeout = 30.0

    def listenSSL(self, port, factory, contextFactory, backlog=50, interface="", handshakeTimeout=None):
        """Listen on TCP `port` of `interface` as listenTCP does, each connection a TLS server
        with `contextFactory` (an ssl.SSLContext for the server side, e.g.
        fastreactor.ssl.serverContext). connectionMade runs when a client connects;
        `handshakeCompleted()` (if the protocol has it) when its handshake is done. Returns the
        listening port; CannotListenError if it cannot bind."""
        context = checked_context(contextFactory, "listenSSL")
        check_port_number(port, "listenSSL")
        if not isinstance(interface, str):
            raise TypeError("interface must be a str, not %s" % (type(interface).__name__,))
        if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 0:
            raise ValueError("backlog must be an int >= 0, not %r" % (backlog,))
        timeout = checked_timeout(handshakeTimeout, "handshakeTimeout")
        require_methods(factory, _SERVER_FACTORY_METHODS, "listenSSL")
        p = self._portClass(port, factory, backlog, interface, self)
        p.connection_class = ServerTLS(
            p.connection_class, context, self.tlsHandshakeTimeout if timeout is None else timeout)
        p.startListening()
        return p

    def connectSSL(self, host, port, factory, contextFactory, timeout=30, bindAddress=None,
                   handshakeTimeout=None):
        """Connect to `host`:`port` as connectTCP does, then run TLS as the client with
        `contextFactory` (an ssl.SSLContext for the client side, e.g.
        fastreactor.ssl.clientContext, which verifies the chain and `host`): `host` is sent as
        SNI and, if the context checks host names, must match the server's certificate.
        A failed handshake or verification reaches connectionLost and clientConnectionLost
        with the ssl.SSLError. Returns the connector."""
        context = checked_context(contextFactory, "connectSSL")
        host, port = connect_destination(self._api, host, port, "connectSSL")
        timeout = checked_timeout(timeout, "timeout")
        hs_timeout = checked_timeout(handshakeTimeout, "handshakeTimeout")
        require_methods(factory, _CLIENT_FACTORY_METHODS, "connectSSL")
        c = TLSConnector(host, port, factory, timeout, bindAddress, self, context,
                         self.tlsHandshakeTimeout if hs_timeout is None else hs_timeout)
        c.connect()
        return c
