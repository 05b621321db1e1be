"""The reactor's Python half: run/stop/crash, system events, threads, signals, name resolution,
listenTCP/connectTCP. It is mixed into a subclass of the compiled `_core.Loop`, which owns the
descriptors, timers and the main loop; `_api` (set by the face) supplies the types to report with.
"""
import socket

from fastreactor import _core
from fastreactor._contract import check_api
from fastreactor._events import ThreePhaseEvent
from fastreactor._signals import SignalHandling
from fastreactor._stream import adopt_stream_socket, connection_address, require_methods
from fastreactor.tcp import STREAM_FAMILIES, Connector, Port, check_port_number, connect_destination

CLIENT_FACTORY_METHODS = ("doStart", "doStop", "startedConnecting", "buildProtocol",
                          "clientConnectionFailed", "clientConnectionLost")
SERVER_FACTORY_METHODS = ("doStart", "doStop", "buildProtocol")
ADOPTED_CONNECTION_FACTORY_METHODS = ("buildProtocol",)


class ReactorMixin:
    """Twisted's ReactorBase behaviour over the compiled loop (see IReactorCore, IReactorTime,
    IReactorThreads, IReactorTCP)."""

    _connectionClass = _core.TCPConnection
    _portClass = Port
    _connectorClass = Connector

    def __setattr__(self, name, value):
        # A program (or Twisted's own tests) may replace reactor.seconds with a clock of its own;
        # as in Twisted, timers then follow that clock.
        if name == "seconds":
            self._setSecondsSource(value)
        super().__setattr__(name, value)

    def __delattr__(self, name):
        if name == "seconds":
            self._setSecondsSource(None)
        super().__delattr__(name)

    def _initReactor(self, api):
        self._api = api
        self._bindFace(check_api(api), self._shutdownReached, self._disconnectSelectable)
        self._eventTriggers = {}
        self._startedBefore = False
        self._signals = None
        self._installSignalHandlers = False
        self._ports = set()
        self.threadpool = None
        self._threadpoolStartupID = None
        self.threadpoolShutdownID = None
        self.usingThreads = True
        self.addSystemEventTrigger("during", "startup", self._reallyStartRunning)
        self.addSystemEventTrigger("during", "shutdown", self.crash)
        self.addSystemEventTrigger("during", "shutdown", self.disconnectAll)

    # ---- IReactorCore -----------------------------------------------------------------------------

    def run(self, installSignalHandlers=True):
        """Start the reactor and run until stop() (or crash()); then return.

        With installSignalHandlers, SIGINT and SIGTERM stop the reactor cleanly (the shutdown
        triggers run) and the previous handlers are restored when run() returns. A reactor that
        has stopped cannot run again (ReactorNotRestartable).
        """
        self.startRunning(installSignalHandlers=installSignalHandlers)
        try:
            self._mainLoop()
        except BaseException:
            # KeyboardInterrupt/SystemExit from a callback ends run(); the reactor is left as
            # crash() leaves it, so it can run again.
            if self._started:
                self.crash()
            raise
        finally:
            if self._signals is not None:
                self._signals.uninstall()
                self._signals = None

    def _shutdownReached(self):
        # The engine's shutdown hook: a stop() has reached the main loop.
        self.fireSystemEvent("shutdown")

    def startRunning(self, installSignalHandlers=True):
        if self._started:
            raise self._api.ReactorAlreadyRunning()
        if self._startedBefore:
            raise self._api.ReactorNotRestartable()
        self._installSignalHandlers = installSignalHandlers
        self._started = True
        self._stopped = False
        self.fireSystemEvent("startup")

    def _reallyStartRunning(self):
        self.running = True
        if self._installSignalHandlers:
            self._signals = SignalHandling(self)
            self._signals.install()

    def stop(self):
        """Stop the reactor: the shutdown triggers run, then run() returns.
        ReactorNotRunning if it is not running."""
        if self._stopped:
            raise self._api.ReactorNotRunning("Can't stop reactor that isn't running.")
        self._stopped = True
        self._justStopped = True
        self._startedBefore = True
        self.wakeUp()

    def crash(self):
        """Leave run() at once, without the shutdown triggers."""
        self._started = False
        self.running = False
        self.addSystemEventTrigger("during", "startup", self._reallyStartRunning)

    def sigInt(self, number, frame=None):
        self._api.logMessage("Received SIGINT, shutting down.")
        self.callFromThread(self.stop)
        self._exitSignal = number

    def sigTerm(self, number, frame=None):
        self._api.logMessage("Received SIGTERM, shutting down.")
        self.callFromThread(self.stop)
        self._exitSignal = number

    sigBreak = sigInt

    def disconnectAll(self):
        """Close every connection and port (ConnectionLost), as Twisted does at shutdown."""
        api = self._api
        for selectable in self.removeAll():
            try:
                selectable.connectionLost(api.Failure(api.ConnectionLost("Connection lost")))
            except Exception:
                api.logError("Unhandled error while disconnecting %s" % (_core.safe_repr(selectable),))
        for port in list(self._ports):
            try:
                port.connectionLost(api.Failure(api.ConnectionLost("Connection lost")))
            except Exception:
                api.logError("Unhandled error while closing %s" % (_core.safe_repr(port),))

    def fireSystemEvent(self, eventType):
        """Fire the triggers of `eventType` ('startup', 'shutdown', or your own)."""
        event = self._eventTriggers.get(eventType)
        if event is not None:
            event.fireEvent()

    def addSystemEventTrigger(self, phase, eventType, callable, *args, **kw):
        """Call `callable(*args, **kw)` in `phase` ('before', 'during', 'after') of `eventType`.
        A Deferred returned by a 'before' trigger delays the other phases until it fires.
        Returns an ID for removeSystemEventTrigger."""
        if not builtins_callable(callable):
            raise TypeError("%r is not callable" % (callable,))
        if eventType not in self._eventTriggers:
            self._eventTriggers[eventType] = ThreePhaseEvent((self._api.Deferred, self._api.DeferredList),
                                                             self._api.logError)
        return (eventType, self._eventTriggers[eventType].addTrigger(phase, callable, *args, **kw))

    def removeSystemEventTrigger(self, triggerID):
        """Remove a trigger by the ID addSystemEventTrigger returned. As in Twisted: TypeError or
        ValueError for something that is not such an ID, ValueError if the trigger is not (or no
        longer) there, KeyError for an unknown event type or phase."""
        try:
            eventType, handle = triggerID
        except TypeError:
            raise TypeError("invalid trigger ID %r: expected what addSystemEventTrigger returned"
                            % (triggerID,)) from None
        except ValueError:
            raise ValueError("invalid trigger ID %r: expected what addSystemEventTrigger returned"
                             % (triggerID,)) from None
        if eventType not in self._eventTriggers:
            raise KeyError(eventType)
        self._eventTriggers[eventType].removeTrigger(handle)

    def callWhenRunning(self, callable, *args, **kw):
        """Call now if running, else once the reactor starts (returns a trigger ID then)."""
        if self.running:
            callable(*args, **kw)
            return None
        return self.addSystemEventTrigger("after", "startup", callable, *args, **kw)

    # ---- IReactorThreads --------------------------------------------------------------------------

    def _initThreadPool(self):
        from fastreactor.threadpool import ThreadPool
        self.threadpool = ThreadPool(0, 10, "fastreactor")
        self._threadpoolStartupID = self.callWhenRunning(self.threadpool.start)
        self.threadpoolShutdownID = self.addSystemEventTrigger("during", "shutdown", self._stopThreadPool)

    def _stopThreadPool(self):
        for trigger in (self._threadpoolStartupID, self.threadpoolShutdownID):
            if trigger is not None:
                try:
                    self.removeSystemEventTrigger(trigger)
                except ValueError:
                    pass
        self._threadpoolStartupID = self.threadpoolShutdownID = None
        self.threadpool.stop()
        self.threadpool = None

    def close(self):
        """Release the reactor now rather than when it is freed: as the loop's close(), and its
        thread pool, if it has one, finishes the work queued on it and stops (as it does at
        shutdown), so no worker thread outlives a reactor that was closed without stopping."""
        if self.threadpool is not None:
            self._stopThreadPool()
        super().close()

    def getThreadPool(self):
        """The reactor's thread pool (started with the reactor, stopped at shutdown)."""
        if self.threadpool is None:
            self._initThreadPool()
        return self.threadpool

    def callInThread(self, callable, *args, **kw):
        """Run `callable(*args, **kw)` in the reactor's thread pool."""
        self.getThreadPool().callInThread(callable, *args, **kw)

    def suggestThreadPoolSize(self, size):
        """Set the thread pool's maximum size."""
        self.getThreadPool().adjustPoolsize(maxthreads=size)

    # ---- name resolution --------------------------------------------------------------------------

    def resolveAddress(self, host, port=0, family=socket.AF_UNSPEC):
        """Resolve `host` in the thread pool; a Deferred firing with the first address string
        (IPv4 preferred), or failing with DNSLookupError."""
        api = self._api
        d = api.Deferred()

        def lookup():
            try:
                infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
            except (OSError, UnicodeError) as e:
                self.callFromThread(d.errback, api.Failure(api.DNSLookupError("%s: %s" % (host, e))))
                return
            infos.sort(key=lambda info: info[0] != socket.AF_INET)
            if not infos:
                self.callFromThread(d.errback, api.Failure(api.DNSLookupError(host)))
            else:
                self.callFromThread(d.callback, infos[0][4][0])

        self.callInThread(lookup)
        if not self.running and self.threadpool is not None and not self.threadpool.started:
            self.threadpool.start()
        return d

    def resolve(self, name, timeout=(1, 3, 11, 45)):
        """Resolve a hostname to an IPv4 address string (a Deferred); IP addresses pass through."""
        from fastreactor.tcp import isIPAddress
        if not name:
            return self._api.succeed("0.0.0.0")
        if isIPAddress(name):
            return self._api.succeed(name)
        return self.resolveAddress(name, 0, socket.AF_INET)

    # ---- IReactorTCP ------------------------------------------------------------------------------

    def listenTCP(self, port, factory, backlog=50, interface="", reusePort=False):
        """Listen on TCP `port` (0: any free port, see getHost()) of `interface` ('' = every IPv4
        interface; '::' for IPv6) with connections built by `factory`. Returns the listening
        port; CannotListenError if it cannot bind."""
        check_port_number(port, "listenTCP")
        if not isinstance(interface, str):
            raise TypeError("interface must be a str, not %s" % (type(interface).__name__,))
        if not isinstance(backlog, int) or backlog < 0:
            raise ValueError("backlog must be an int >= 0, not %r" % (backlog,))
        require_methods(factory, SERVER_FACTORY_METHODS, "listenTCP")
        p = self._portClass(port, factory, backlog, interface, self, reusePort)
        p.startListening()
        return p

    def connectTCP(self, host, port, factory, timeout=30, bindAddress=None):
        """Connect to `host`:`port` (a hostname is resolved off the loop) with `factory`; returns
        the connector. The outcome reaches the factory (see fastreactor.protocol.ClientFactory)."""
        host, port = connect_destination(self._api, host, port, "connectTCP")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            raise ValueError("timeout must be None or a number >= 0, not %r" % (timeout,))
        require_methods(factory, CLIENT_FACTORY_METHODS, "connectTCP")
        c = self._connectorClass(host, port, factory, timeout, bindAddress, self)
        c.connect()
        return c

    # ---- IReactorSocket ---------------------------------------------------------------------------

    def adoptStreamPort(self, fileDescriptor, addressFamily, factory):
        """Accept connections for `factory` on a socket that is already bound and listening.

        `fileDescriptor` must be a non-blocking SOCK_STREAM socket of `addressFamily` (AF_INET,
        AF_INET6, or AF_UNIX on a reactor with UNIX sockets). The port works on a duplicate of it:
        the caller keeps the original and is responsible for closing it, which it may do as soon
        as this returns. Returns the listening port, started as listenTCP's is
        (`factory.doStart()`, a "starting on" log line); `stopListening()` closes only the
        duplicate. Raises UnsupportedAddressFamily for another family, TypeError for a factory
        lacking doStart/doStop/buildProtocol, OSError for a closed descriptor or one that is not a socket,
        ValueError for a socket that is of another family or type, blocking, or not listening.
        Nothing is left open when it raises.
        """
        self._checkStreamFamily(addressFamily)
        require_methods(factory, SERVER_FACTORY_METHODS, "adoptStreamPort")
        sock = adopt_stream_socket(fileDescriptor, addressFamily, True, "adoptStreamPort")
        try:
            port = self._adoptedPort(sock, addressFamily, factory)
            port._listenOn(sock)
        except BaseException:
            sock.close()
            raise
        return port

    def adoptStreamConnection(self, fileDescriptor, addressFamily, factory):
        """Run a protocol from `factory` on a socket that is already connected.

        `fileDescriptor` must be a non-blocking, connected SOCK_STREAM socket of `addressFamily`
        (AF_INET, AF_INET6, or AF_UNIX on a reactor with UNIX sockets). The transport works on a
        duplicate of it: the caller keeps the original and is responsible for closing it (it may do so as soon as this returns; the
        connection stays open until the transport closes its duplicate). As in Twisted,
        `factory.buildProtocol(peerAddress)` is called (not doStart/doStop: there is no sensible
        time for them), then the transport starts reading and `protocol.makeConnection(transport)`
        calls connectionMade; the transport is returned, or None if buildProtocol returned None
        (the duplicate is then closed). Raises as adoptStreamPort does, with OSError (ENOTCONN)
        for a socket that is not connected; if buildProtocol raises, nothing is left open.
        """
        self._checkStreamFamily(addressFamily)
        require_methods(factory, ADOPTED_CONNECTION_FACTORY_METHODS, "adoptStreamConnection")
        sock = adopt_stream_socket(fileDescriptor, addressFamily, False, "adoptStreamConnection")
        try:
            peer = connection_address(self._api, sock.family, sock.getpeername())
            protocol = factory.buildProtocol(peer)
        except BaseException:
            sock.close()
            raise
        if protocol is None:
            sock.close()
            return None
        transport = self._adoptStreamTransport(sock, addressFamily, peer)
        transport._attach(protocol)     # as in Twisted, an error in connectionMade reaches the caller
        return transport

    def _adoptedTransport(self, fd, family, peer, local_port):
        """The transport adoptStreamConnection runs on `fd` (which it now owns); a face may add
        the attributes its transports carry."""
        return self._connectionClass(self, fd, family, peer)

    # Stream kinds per address family: a kind's reactor mixin (e.g. _unix_reactor) adds its family
    # to _streamFamilies and serves it in _adoptedPort/_adoptStreamTransport, deferring the rest here.
    _streamFamilies = STREAM_FAMILIES

    def _checkStreamFamily(self, addressFamily):
        if addressFamily not in self._streamFamilies:
            raise self._api.UnsupportedAddressFamily(addressFamily)

    def _adoptedPort(self, sock, family, factory):
        """The (not yet started) port adoptStreamPort runs on the listening `sock`."""
        return self._portClass._forAdoptedSocket(sock, factory, self)

    def _adoptStreamTransport(self, sock, family, peer):
        """The transport adoptStreamConnection runs on the connected `sock` (taking its
        descriptor)."""
        local_port = sock.getsockname()[1]
        return self._adoptedTransport(sock.detach(), family, peer, local_port)

    def _disconnectSelectable(self, selectable, why, isRead):
        """A selectable's doRead/doWrite returned or raised `why`: remove it and tell it."""
        api = self._api
        self.removeReader(selectable)
        self.removeWriter(selectable)
        reason = why if isinstance(why, api.Failure) else api.Failure(why if isinstance(why, BaseException) else api.ConnectionLost())
        selectable.connectionLost(reason)


builtins_callable = callable
