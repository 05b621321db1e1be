"""FastReactor: the compiled engine as a Twisted reactor, reporting with Twisted's own types."""
from zope.interface import classImplements, implementer

from twisted.internet import defer
from twisted.internet._resolver import GAIResolver
from twisted.internet.abstract import isIPAddress
from twisted.internet.base import PluggableResolverMixin
from twisted.internet.tcp import _Binding
from twisted.internet.interfaces import (
    IDelayedCall,
    IReactorCore,
    IReactorFDSet,
    IReactorPluggableNameResolver,
    IReactorPluggableResolver,
    IReactorProcess,
    IReactorSocket,
    IReactorSSL,
    IReactorTCP,
    IReactorThreads,
    IReactorTime,
    IReactorUNIX,
)
from twisted.internet.interfaces import IReactorMulticast, IReactorUDP, IReactorUNIXDatagram
from twisted.python import log, threadable
from twisted.python.threadpool import ThreadPool

from fastreactor import _core
from fastreactor._base import ReactorMixin
from fastreactor._datagram_reactor import DatagramReactorMixin
from fastreactor.twisted._api import twisted_api
from fastreactor.twisted._process import TwistedProcessReactorMixin
from fastreactor.twisted._logcontext import install_dispatch_log_context, running_in_this_thread
from fastreactor.twisted._tcp import TCPConnector, TCPTransport, TwistedTCPPort
from fastreactor.twisted._tls import TLS_AVAILABLE, SSLReactorMixin
from fastreactor.twisted._udp import (ConnectedUNIXDatagramPort, UDPMulticastPort, UDPPort,
                                      UNIXDatagramPort)
from fastreactor.twisted._unix import TwistedUNIXReactorMixin

# The engine's timers are Twisted's IDelayedCall (cancel, reset, delay, active, getTime).
classImplements(_core.DelayedCall, IDelayedCall)


@implementer(IReactorCore, IReactorTime, IReactorThreads, IReactorTCP, IReactorFDSet,
             IReactorSocket, IReactorPluggableResolver, IReactorPluggableNameResolver,
             IReactorUDP, IReactorMulticast, IReactorUNIXDatagram, IReactorProcess, IReactorUNIX)
class FastReactor(SSLReactorMixin, PluggableResolverMixin, TwistedUNIXReactorMixin,
                  DatagramReactorMixin, TwistedProcessReactorMixin, ReactorMixin, _core.Loop):
    """A Twisted reactor on fastreactor's compiled engine.

    FastReactor(poller=None): `poller` is one of fastreactor.available_pollers(); None takes
    $FASTREACTOR_POLLER, else the best the platform has. Timers, descriptor dispatch, TCP
    transports and datagram ports (UDP, multicast, UNIX datagram) are compiled; the types it reports with (Failure, Deferred, errors, addresses)
    are Twisted's. Host names given to connectTCP are resolved through the reactor's pluggable
    resolver (by default getaddrinfo in the reactor's thread pool), never blocking the loop.
    """

    __name__ = "twisted.internet.reactor"

    _connectionClass = TCPTransport
    _portClass = TwistedTCPPort
    _connectorClass = TCPConnector
    _udpPortClass = UDPPort
    _multicastPortClass = UDPMulticastPort
    _unixDatagramPortClass = UNIXDatagramPort
    _connectedUnixDatagramPortClass = ConnectedUNIXDatagramPort

    def __init__(self, poller=None):
        _core.Loop.__init__(self, poller)
        self._initReactor(twisted_api)
        self.installNameResolver(GAIResolver(self, self.getThreadPool))
        install_dispatch_log_context()

    def __repr__(self):
        return "<%s poller=%s running=%s>" % (type(self).__name__, self.poller.name, self.running)

    # ---- IReactorCore -----------------------------------------------------------------------------

    def startRunning(self, installSignalHandlers=True):
        """Twisted's startRunning; also registers this thread as the I/O thread (isInIOThread)."""
        if not self._started and not self._startedBefore:
            threadable.registerAsIOThread()
        ReactorMixin.startRunning(self, installSignalHandlers)

    def mainLoop(self):
        """Run iterations until stopped or crashed (after startRunning)."""
        self._mainLoop()
        log.msg("Main loop terminated.")

    def _mainLoop(self):
        # While it runs, log.msg() in a transport's callbacks is tagged with its logPrefix().
        with running_in_this_thread(self):
            _core.Loop._mainLoop(self)

    def iterate(self, delay=0.0):
        """Run one iteration by hand: thread calls, due timers, then poll for up to `delay` seconds."""
        with running_in_this_thread(self):
            _core.Loop.iterate(self, delay)

    def _uninstallHandler(self):
        """Put back the signal handlers run() installed (used by Twisted's test harness)."""
        if self._signals is not None:
            self._signals.uninstall()
            self._signals = None

    def resolve(self, name, timeout=(1, 3, 11, 45)):
        """IReactorCore.resolve: an IPv4 address for `name` through the installed resolver."""
        if not name:
            return defer.succeed("0.0.0.0")
        if isIPAddress(name):
            return defer.succeed(name)
        return self.resolver.getHostByName(name, timeout)

    # ---- IReactorTCP ------------------------------------------------------------------------------

    def listenTCP(self, port, factory, backlog=50, interface="", reusePort=False):
        """IReactorTCP.listenTCP; `port` may also be a Binding (twisted.internet.tcp.makeBinding)."""
        if isinstance(port, _Binding):
            if not isinstance(interface, str):
                raise TypeError("interface must be a str, not %s" % (type(interface).__name__,))
            p = self._portClass(port, factory, backlog, interface, self, reusePort)
            p.startListening()
            return p
        return ReactorMixin.listenTCP(self, port, factory, backlog, interface, reusePort)

    # ---- IReactorSocket ---------------------------------------------------------------------------
    # adoptStreamPort and adoptStreamConnection are ReactorMixin's (the engine's compiled port and
    # transport on a duplicate of the descriptor); adoptDatagramPort is DatagramReactorMixin's.

    def _adoptedTransport(self, fd, family, peer, local_port):
        """A TCPTransport as Twisted's adopted tcp.Server: no port (`server` is None) and, as
        Twisted numbers it, the peer's port for `sessionno` (so logstr is 'Proto,<peer port>,<peer
        host>' and repr '<Proto #<peer port> on <local port>>')."""
        transport = self._connectionClass(self, fd, family, peer)
        transport.sessionno = peer.port
        transport._adoptedOnPort = local_port
        return transport

    # ---- IReactorThreads --------------------------------------------------------------------------

    def _initThreadPool(self):
        self.threadpool = ThreadPool(0, 10, "twisted.internet.reactor")
        self._threadpoolStartupID = self.callWhenRunning(self.threadpool.start)
        self.threadpoolShutdownID = self.addSystemEventTrigger("during", "shutdown", self._stopThreadPool)


if TLS_AVAILABLE:   # as Twisted's reactors: IReactorSSL only where pyOpenSSL is installed
    classImplements(FastReactor, IReactorSSL)


def install(poller=None):
    """Install a FastReactor as Twisted's global reactor (fastreactor.twisted.install): Twisted's
    convention is that the module defining a reactor class offers install() (its tests import
    `reactor.__module__` and call it in a child process)."""
    from fastreactor.twisted import install as install_global
    return install_global(poller)
