"""Services that run servers, clients and periodic calls on a reactor (Twisted's
`twisted.application.internet`, native face).

`TCPServer(8080, factory)` calls `reactor.listenTCP(8080, factory)` when the service starts and
stops listening when it stops; `TCPClient(host, port, factory)` calls `reactor.connectTCP` when
it starts and disconnects when it stops. Every other transport kind is the same service over
another reactor method: `SSLServer` -> `listenSSL`, `UNIXServer` -> `listenUNIX`, `UDPServer` ->
`listenUDP`, `MulticastServer` -> `listenMulticast`, `UNIXDatagramServer` ->
`listenUNIXDatagram`, and the clients `SSLClient`, `UNIXClient`, `UNIXDatagramClient` ->
`connectSSL`, `connectUNIX`, `connectUNIXDatagram`. Each works on any reactor that has the
method; on one that lacks it, starting the service raises `MissingReactorMethod` naming it.

Constructor arguments go to the reactor method unchanged, except `reactor=`, which picks the
reactor (default: the global `fastreactor.reactor`, looked up when the service starts).
`TimerService(step, f, *args)` calls `f` every `step` seconds while running;
`StreamServerEndpointService(endpoint, factory)` listens on an endpoint (see
`fastreactor.endpoints`).
"""
from fastreactor import defer
from fastreactor.log import err
from fastreactor.service import Service

__all__ = [
    "MissingReactorMethod",
    "TCPServer", "TCPClient", "SSLServer", "SSLClient", "UNIXServer", "UNIXClient",
    "UDPServer", "MulticastServer", "UNIXDatagramServer", "UNIXDatagramClient",
    "TimerService", "StreamServerEndpointService",
]


class MissingReactorMethod(NotImplementedError):
    """A service needs a reactor method (`listenUDP`, say) that the reactor does not have."""


def _reactorOf(service):
    reactor = service.reactor
    if reactor is None:
        import fastreactor
        reactor = fastreactor.reactor
    return reactor


def _reactorMethod(service, name):
    reactor = _reactorOf(service)
    method = getattr(reactor, name, None)
    if not callable(method):
        raise MissingReactorMethod(
            "%s needs reactor.%s(), which %r does not have (this transport is not available "
            "on this reactor)" % (type(service).__name__, name, reactor))
    return method


class _VolatileDataService(Service):
    """A service whose `volatile` attributes (live ports, connections) are not pickled."""

    volatile = []

    def __getstate__(self):
        state = Service.__getstate__(self)
        for name in self.volatile:
            state.pop(name, None)
        return state


class _ReactorMethodServer(_VolatileDataService):
    """A service that listens with `reactor.listen<method>(*args, **kwargs)` while it runs.

    The port is made in privilegedStartService (or in startService if that was not called);
    stopService stops listening and returns the port's `stopListening()` Deferred.
    """

    volatile = ["_port"]
    method = ""
    reactor = None
    _port = None

    def __init__(self, *args, **kwargs):
        self.args = args
        if "reactor" in kwargs:
            self.reactor = kwargs.pop("reactor")
        self.kwargs = kwargs

    def privilegedStartService(self):
        Service.privilegedStartService(self)
        self._port = self._getPort()

    def startService(self):
        Service.startService(self)
        if self._port is None:
            self._port = self._getPort()

    def stopService(self):
        Service.stopService(self)
        if self._port is not None:
            d = self._port.stopListening()
            del self._port
            return d
        return None

    def _getPort(self):
        """The listening port from the reactor's listen method (MissingReactorMethod if none)."""
        return _reactorMethod(self, "listen" + self.method)(*self.args, **self.kwargs)


class _ReactorMethodClient(_VolatileDataService):
    """A service that connects with `reactor.connect<method>(*args, **kwargs)` when it starts
    and calls the connector's `disconnect()` when it stops."""

    volatile = ["_connection"]
    method = ""
    reactor = None
    _connection = None

    def __init__(self, *args, **kwargs):
        self.args = args
        if "reactor" in kwargs:
            self.reactor = kwargs.pop("reactor")
        self.kwargs = kwargs

    def startService(self):
        Service.startService(self)
        self._connection = self._getConnection()

    def stopService(self):
        Service.stopService(self)
        if self._connection is not None:
            self._connection.disconnect()
            del self._connection

    def _getConnection(self):
        """The connector from the reactor's connect method (MissingReactorMethod if none)."""
        return _reactorMethod(self, "connect" + self.method)(*self.args, **self.kwargs)


def _server(kind, doc):
    cls = type(kind + "Server", (_ReactorMethodServer,), {
        "method": kind,
        "__doc__": "Serve %s: call reactor.listen%s(*args, **kwargs) when started, stop listening "
                   "when stopped. %s" % (kind, kind, doc),
        "__module__": __name__,
    })
    return cls


def _client(kind, doc):
    return type(kind + "Client", (_ReactorMethodClient,), {
        "method": kind,
        "__doc__": "Connect over %s: call reactor.connect%s(*args, **kwargs) when started, "
                   "disconnect when stopped. %s" % (kind, kind, doc),
        "__module__": __name__,
    })


TCPServer = _server("TCP", "Arguments: port, factory, backlog=50, interface=''.")
TCPClient = _client("TCP", "Arguments: host, port, factory, timeout=30, bindAddress=None.")
SSLServer = _server("SSL", "Arguments: port, factory, contextFactory, backlog, interface.")
SSLClient = _client("SSL", "Arguments: host, port, factory, contextFactory, timeout, "
                           "bindAddress.")
UNIXServer = _server("UNIX", "Arguments: address, factory, backlog, mode, wantPID.")
UNIXClient = _client("UNIX", "Arguments: address, factory, timeout, checkPID.")
UDPServer = _server("UDP", "Arguments: port, protocol, interface, maxPacketSize.")
MulticastServer = _server("Multicast", "Arguments: port, protocol, interface, maxPacketSize, "
                                       "listenMultiple.")
UNIXDatagramServer = _server("UNIXDatagram", "Arguments: address, protocol, maxPacketSize, mode.")
UNIXDatagramClient = _client("UNIXDatagram", "Arguments: address, localAddress, protocol, "
                                             "maxPacketSize, mode.")


class _LoopingCall:
    """Calls `f(*args, **kwargs)` every `interval` seconds on `clock` (Twisted's LoopingCall,
    reduced to what TimerService needs).

    `start(interval, now=True)` returns a Deferred that fires with this object once `stop()` is
    called, or fails with what `f` raised (the loop then stops). If `f` returns a Deferred, the
    next call waits for it. Calls keep to the schedule start + k * interval: when a call runs late,
    the intervals it missed are skipped rather than run in a burst.
    """

    def __init__(self, clock, f, args, kwargs):
        self.clock = clock
        self.f, self.args, self.kwargs = f, args, kwargs
        self.running = False
        self.interval = None
        self._deferred = None
        self._call = None
        self._start = None

    def start(self, interval, now=True):
        if self.running:
            raise RuntimeError("the loop is already running")
        if interval < 0:
            raise ValueError("interval must be >= 0, not %r" % (interval,))
        self.running = True
        self.interval = interval
        self._deferred = d = defer.Deferred()
        self._start = self.clock.seconds()
        self._count = 0
        if now:
            self()
        else:
            self._schedule()
        return d

    def stop(self):
        if not self.running:
            raise RuntimeError("the loop is not running")
        self.running = False
        if self._call is not None:
            self._call.cancel()
            self._call = None
            d, self._deferred = self._deferred, None
            d.callback(self)

    def __call__(self):
        self._call = None

        def succeeded(_):
            if self.running:
                self._schedule()
            else:
                d, self._deferred = self._deferred, None
                d.callback(self)

        def failed(failure):
            self.running = False
            d, self._deferred = self._deferred, None
            d.errback(failure)

        d = defer.maybeDeferred(self.f, *self.args, **self.kwargs)
        d.addCallback(succeeded)
        d.addErrback(failed)

    def _schedule(self):
        if self.interval == 0:
            self._call = self.clock.callLater(0, self)
            return
        now = self.clock.seconds()
        elapsed = now - self._start
        self._count = max(self._count + 1, int(elapsed / self.interval) + 1)
        self._call = self.clock.callLater(max(0.0, self._start + self._count * self.interval - now),
                                          self)


class TimerService(_VolatileDataService):
    """Call `callable(*args, **kwargs)` every `step` seconds while the service runs, the first
    call at once when it starts.

    `clock` (default None: the global reactor when the service starts) is the reactor whose
    `callLater`/`seconds` time the calls. If the callable raises (or its Deferred fails), the
    failure is logged to the 'fastreactor' logger and the calls stop. `stopService()` returns a
    Deferred that fires once the call in progress (if its Deferred has not fired yet) finishes.
    """

    volatile = ["_loop", "_loopFinished"]

    def __init__(self, step, callable, *args, **kwargs):
        self.step = step
        self.call = (callable, args, kwargs)
        self.clock = None

    def startService(self):
        Service.startService(self)
        callable, args, kwargs = self.call
        clock = self.clock
        if clock is None:
            import fastreactor
            clock = fastreactor.reactor
        self._loop = _LoopingCall(clock, callable, args, kwargs)
        self._loopFinished = self._loop.start(self.step, now=True)
        self._loopFinished.addErrback(self._failed)

    def _failed(self, why):
        self._loop.running = False
        err(why, "TimerService call failed; no further calls")

    def stopService(self):
        if self._loop.running:
            self._loop.stop()
        self._loopFinished.addCallback(lambda _: Service.stopService(self))
        return self._loopFinished


class StreamServerEndpointService(Service):
    """Listen on `endpoint` (anything with `listen(factory)` returning a Deferred of a port, see
    `fastreactor.endpoints`) with `factory` while the service runs.

    Listening starts in privilegedStartService (or startService if that was not called). A
    failure to listen is logged (not raised) unless `_raiseSynchronously` is set and the failure
    is immediate, as in Twisted. `stopService()` cancels a listen still in progress or stops the
    port, returning a Deferred that fires when the port has stopped listening.
    """

    _raiseSynchronously = False

    def __init__(self, endpoint, factory):
        self.endpoint = endpoint
        self.factory = factory
        self._waitingForPort = None

    def privilegedStartService(self):
        Service.privilegedStartService(self)
        self._waitingForPort = self.endpoint.listen(self.factory)
        raisedNow = []

        def handleIt(failure):
            if self._raiseSynchronously:
                raisedNow.append(failure)
            elif not failure.check(defer.CancelledError):
                err(failure, "%r could not listen on %r" % (self, self.endpoint))

        self._waitingForPort.addErrback(handleIt)
        if raisedNow:
            raisedNow[0].raiseException()
        self._raiseSynchronously = False

    def startService(self):
        Service.startService(self)
        if self._waitingForPort is None:
            self.privilegedStartService()

    def stopService(self):
        self._waitingForPort.cancel()

        def stopIt(port):
            if port is not None:
                return port.stopListening()
            return None

        d = self._waitingForPort.addCallback(stopIt)

        def stopped(passthrough):
            self.running = False
            return passthrough

        d.addBoth(stopped)
        return d
