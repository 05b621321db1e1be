"""TLS for the Twisted face: Twisted's own memory-BIO TLS protocol (twisted.protocols.tls) over the
engine's compiled TCP transport, as Twisted's reactors do it.

- `listenSSL`/`connectSSL` wrap the factory in `TLSMemoryBIOFactory` and listen/connect over TCP
  (`SSLReactorMixin`), taking Twisted's context factories and connection creators
  (`CertificateOptions`, `optionsForClientTLS`, `DefaultOpenSSLContextFactory`).
- `startTLS` on a live TCP transport (`ITLSTransport`) puts a `TLSMemoryBIOProtocol` between the
  transport and its protocol, in the steps of Twisted's `_newtls.startTLS`; the transport's class
  is switched to `TLSStartedTCPTransport`, whose write/close/producer methods go through that
  layer, so that transports without TLS pay nothing for the check Twisted makes on every write.

As in Twisted, TLS needs pyOpenSSL (`pip install twisted[tls]`): without it `TLS_AVAILABLE` is
False, FastReactor does not declare IReactorSSL nor its transports ITLSTransport, and
listenSSL/connectSSL/startTLS raise a clear error.

One documented improvement: Twisted's TLS layer gathers small writes and sends them with a
`callLater(0)` on its factory's clock, which defaults to the global reactor; here the clock is
the reactor the connection runs on, so TLS works on a reactor that is not the global one
(on Twisted's own reactors such writes wait until the global reactor runs).
"""
from zope.interface import directlyProvides

from twisted.internet.interfaces import ISSLTransport

from fastreactor import _core

try:
    from twisted.internet._newtls import _BypassTLS
    from twisted.protocols.tls import TLSMemoryBIOFactory
except ImportError:     # no pyOpenSSL: Twisted has no TLS either
    _BypassTLS = TLSMemoryBIOFactory = None
TLS_AVAILABLE = TLSMemoryBIOFactory is not None


def _require_tls(what):
    if not TLS_AVAILABLE:
        raise NotImplementedError("%s needs pyOpenSSL, which is not installed "
                                  "(pip install 'twisted[tls]')" % (what,))


class TLSStartedMixin:
    """What a TCP transport does once startTLS ran (Twisted's _newtls.ConnectionMixin with TLS
    on): application writes, closes and producers go to the TLS protocol, which sends records
    through the engine's own methods (`_core.TCPConnection`, the bypass)."""

    __slots__ = ()
    TLS = True

    def write(self, data):
        """Encrypt and send `data` (dropped once the connection is lost)."""
        if self.connected:
            self.protocol.write(data)

    def writeSequence(self, iovec):
        """Encrypt and send each piece of `iovec` (dropped once the connection is lost)."""
        if self.connected:
            self.protocol.writeSequence(iovec)

    def loseConnection(self):
        """Send close_notify after what is queued, then close."""
        if self.connected and not self.disconnecting:
            self.protocol.loseConnection()

    def registerProducer(self, producer, streaming):
        """Register `producer` with the TLS layer (which registers itself with the transport)."""
        self.protocol.registerProducer(producer, streaming)

    def unregisterProducer(self):
        self.protocol.unregisterProducer()

    def startTLS(self, ctx, normal=True):
        raise RuntimeError("TLS is already started on this transport")


def start_tls(transport, tls_class, ctx, normal):
    """Start TLS on `transport` (a Twisted-face TCP transport) with context factory `ctx`:
    `normal` keeps the TCP direction (a client connection is the TLS client), False reverses it.
    Bytes written before go out in clear, after it encrypted, as in Twisted; a registered
    producer moves to the TLS layer."""
    _require_tls("startTLS")
    client = transport._tlsClientDefault if normal else not transport._tlsClientDefault
    producer, streaming = transport.producer, transport.streamingProducer
    if producer is not None:
        transport.unregisterProducer()
    factory = TLSMemoryBIOFactory(ctx, client, None, clock=transport.reactor)
    tls_protocol = factory.protocol(factory, transport.protocol, False)
    transport.__class__ = tls_class
    transport.protocol = tls_protocol
    transport.getHandle = tls_protocol.getHandle
    transport.getPeerCertificate = tls_protocol.getPeerCertificate
    directlyProvides(transport, ISSLTransport)
    tls_protocol.makeConnection(_BypassTLS(_core.TCPConnection, transport))
    if producer is not None:
        transport.registerProducer(producer, streaming)


class SSLReactorMixin:
    """IReactorSSL on FastReactor: TLS over the engine's TCP, as Twisted's posixbase does it."""

    def listenSSL(self, port, factory, contextFactory, backlog=50, interface=""):
        """Listen on TCP `port` with TLS (server side) from `contextFactory` (an
        IOpenSSLContextFactory, e.g. `ssl.CertificateOptions` or
        `ssl.DefaultOpenSSLContextFactory`); connections are built by `factory`."""
        _require_tls("listenSSL")
        tls_factory = TLSMemoryBIOFactory(contextFactory, False, factory, clock=self)
        port = self.listenTCP(port, tls_factory, backlog, interface)
        port._type = "TLS"
        return port

    def connectSSL(self, host, port, factory, contextFactory, timeout=30, bindAddress=None):
        """Connect to `host`:`port` over TCP and start TLS (client side) with `contextFactory`
        (an IOpenSSLClientConnectionCreator such as `ssl.optionsForClientTLS(hostname)`, or an
        old-style client context factory); returns the connector."""
        _require_tls("connectSSL")
        tls_factory = TLSMemoryBIOFactory(contextFactory, True, factory, clock=self)
        return self.connectTCP(host, port, tls_factory, timeout, bindAddress)
