"""Resource-limiting policies, as in twisted.protocols.policies: timeouts, protocol wrappers,
connection caps and bandwidth throttling.

Timers are scheduled through a `callLater(seconds, func)` method that defaults to the global
reactor's (`fastreactor.reactor`); tests and code running on another reactor replace it (assign
`obj.callLater = reactor.callLater`, or set a factory's `clock`).
"""
import logging
import sys

from fastreactor.protocol import ClientFactory, Protocol, ServerFactory, connectionDone

__all__ = [
    "ProtocolWrapper", "WrappingFactory", "ThrottlingProtocol", "ThrottlingFactory",
    "SpewingProtocol", "SpewingFactory", "LimitConnectionsByPeer", "LimitTotalConnectionsFactory",
    "TimeoutProtocol", "TimeoutFactory", "TimeoutMixin",
]

_logger = logging.getLogger("fastreactor")


def _global_call_later(period, func):
    from fastreactor import reactor
    return reactor.callLater(period, func)


def _cancel_quietly(call):
    # A call that already ran or was cancelled raises AlreadyCalled/AlreadyCancelled, from
    # fastreactor.error or from Twisted's when the timer came from a Twisted reactor.
    try:
        call.cancel()
    except Exception as e:
        if type(e).__name__ not in ("AlreadyCalled", "AlreadyCancelled"):
            raise


def _wrappedLogPrefix(wrapper, wrapped):
    """`"<wrapped's log prefix> (<wrapper class>)"`."""
    logPrefix = getattr(wrapped, "logPrefix", None)
    prefix = logPrefix() if callable(logPrefix) else wrapped.__class__.__name__
    return "%s (%s)" % (prefix, wrapper.__class__.__name__)


class _ForwardToWrapped:
    """A method of the wrapped protocol, present on the wrapper only when the wrapped protocol
    has it (so a transport sees the wrapper as half-closeable exactly when the wrapped one is)."""

    def __init__(self, name):
        self.name = name

    def __get__(self, wrapper, owner=None):
        if wrapper is None:
            return self
        method = getattr(wrapper.__dict__.get("wrappedProtocol"), self.name, None)
        if not callable(method):
            raise AttributeError(self.name)
        return method


class ProtocolWrapper(Protocol):
    """Wraps a protocol and acts as its transport.

    Every protocol call (makeConnection, dataReceived, connectionLost, and readConnectionLost /
    writeConnectionLost when the wrapped protocol is half-closeable) is passed on to
    `wrappedProtocol`; every transport call the wrapped protocol makes (write, writeSequence,
    loseConnection, getPeer, getHost, registerProducer, unregisterProducer, stopConsuming, and
    any other attribute, such as loseWriteConnection or pauseProducing) is passed on to the real
    transport. Subclasses override either side to observe or alter the traffic.

    `wrappedProtocol`: the protocol being wrapped.
    `factory`: the WrappingFactory that built this wrapper.
    """

    disconnecting = 0

    def __init__(self, factory, wrappedProtocol):
        self.wrappedProtocol = wrappedProtocol
        self.factory = factory

    def logPrefix(self):
        """A log prefix naming both the wrapped protocol and this wrapper."""
        return _wrappedLogPrefix(self, self.wrappedProtocol)

    def makeConnection(self, transport):
        """Keep the real transport, register with the factory, then connect the wrapped protocol
        to this wrapper."""
        Protocol.makeConnection(self, transport)
        self.factory.registerProtocol(self)
        self.wrappedProtocol.makeConnection(self)

    # Transport relaying

    def write(self, data):
        self.transport.write(data)

    def writeSequence(self, data):
        self.transport.writeSequence(data)

    def loseConnection(self):
        self.disconnecting = 1
        self.transport.loseConnection()

    def getPeer(self):
        return self.transport.getPeer()

    def getHost(self):
        return self.transport.getHost()

    def registerProducer(self, producer, streaming):
        self.transport.registerProducer(producer, streaming)

    def unregisterProducer(self):
        self.transport.unregisterProducer()

    def stopConsuming(self):
        self.transport.stopConsuming()

    def __getattr__(self, name):
        if name.startswith("__") or name in ("transport", "wrappedProtocol"):
            raise AttributeError(name)
        transport = self.__dict__.get("transport")
        if transport is None:
            raise AttributeError(name)
        return getattr(transport, name)

    # Protocol relaying

    def dataReceived(self, data):
        self.wrappedProtocol.dataReceived(data)

    readConnectionLost = _ForwardToWrapped("readConnectionLost")
    writeConnectionLost = _ForwardToWrapped("writeConnectionLost")

    def connectionLost(self, reason=connectionDone):
        """Unregister from the factory, tell the wrapped protocol, and drop the reference to it
        (which breaks the wrapper/wrapped reference cycle)."""
        self.factory.unregisterProtocol(self)
        self.wrappedProtocol.connectionLost(reason)
        self.wrappedProtocol = None


class WrappingFactory(ClientFactory):
    """Wraps a factory: its protocols are wrapped in `protocol` (ProtocolWrapper by default) and
    kept in `protocols` while connected. doStart/doStop and the client callbacks are passed on to
    the wrapped factory."""

    protocol = ProtocolWrapper

    def __init__(self, wrappedFactory):
        self.wrappedFactory = wrappedFactory
        self.protocols = {}

    def logPrefix(self):
        """A log prefix naming both the wrapped factory and this one."""
        return _wrappedLogPrefix(self, self.wrappedFactory)

    def doStart(self):
        self.wrappedFactory.doStart()
        ClientFactory.doStart(self)

    def doStop(self):
        self.wrappedFactory.doStop()
        ClientFactory.doStop(self)

    def startedConnecting(self, connector):
        self.wrappedFactory.startedConnecting(connector)

    def clientConnectionFailed(self, connector, reason):
        self.wrappedFactory.clientConnectionFailed(connector, reason)

    def clientConnectionLost(self, connector, reason):
        self.wrappedFactory.clientConnectionLost(connector, reason)

    def buildProtocol(self, addr):
        """Wrap the wrapped factory's protocol for `addr`."""
        return self.protocol(self, self.wrappedFactory.buildProtocol(addr))

    def registerProtocol(self, p):
        """Called by a wrapper when its connection is made."""
        self.protocols[p] = 1

    def unregisterProtocol(self, p):
        """Called by a wrapper when its connection is lost."""
        del self.protocols[p]


class ThrottlingProtocol(ProtocolWrapper):
    """The wrapper of ThrottlingFactory: counts bytes read and written, and pauses reading (the
    transport) or writing (the registered producer) when told to."""

    def write(self, data):
        self.factory.registerWritten(len(data))
        ProtocolWrapper.write(self, data)

    def writeSequence(self, seq):
        self.factory.registerWritten(sum(map(len, seq)))
        ProtocolWrapper.writeSequence(self, seq)

    def dataReceived(self, data):
        self.factory.registerRead(len(data))
        ProtocolWrapper.dataReceived(self, data)

    def registerProducer(self, producer, streaming):
        self.producer = producer
        ProtocolWrapper.registerProducer(self, producer, streaming)

    def unregisterProducer(self):
        del self.producer
        ProtocolWrapper.unregisterProducer(self)

    def throttleReads(self):
        self.transport.pauseProducing()

    def unthrottleReads(self):
        self.transport.resumeProducing()

    def throttleWrites(self):
        if "producer" in self.__dict__:
            self.producer.pauseProducing()

    def unthrottleWrites(self):
        if "producer" in self.__dict__:
            self.producer.resumeProducing()


class ThrottlingFactory(WrappingFactory):
    """Caps the number of connections and the read/write bandwidth of all of them together.

    Every second the bytes read (and written) in the last second are compared with `readLimit`
    (`writeLimit`) bytes per second; over the limit, every connection stops reading (its
    producer is paused) for `(bytes / limit) - 1` seconds, so the average rate stays near the
    limit. Writes are throttled only for connections with a registered producer. Connections
    beyond `maxConnectionCount` are refused.
    """

    protocol = ThrottlingProtocol
    clock = None

    def __init__(self, wrappedFactory, maxConnectionCount=sys.maxsize, readLimit=None,
                 writeLimit=None):
        WrappingFactory.__init__(self, wrappedFactory)
        self.connectionCount = 0
        self.maxConnectionCount = maxConnectionCount
        self.readLimit = readLimit
        self.writeLimit = writeLimit
        self.readThisSecond = 0
        self.writtenThisSecond = 0
        self.unthrottleReadsID = None
        self.checkReadBandwidthID = None
        self.unthrottleWritesID = None
        self.checkWriteBandwidthID = None

    def callLater(self, period, func):
        """`clock.callLater` if `clock` is set, else the global reactor's."""
        if self.clock is not None:
            return self.clock.callLater(period, func)
        return _global_call_later(period, func)

    def registerWritten(self, length):
        """Called by a protocol: `length` more bytes were written."""
        self.writtenThisSecond += length

    def registerRead(self, length):
        """Called by a protocol: `length` more bytes were read."""
        self.readThisSecond += length

    def checkReadBandwidth(self):
        """Throttle reads if the last second went over readLimit; check again in a second."""
        if self.readThisSecond > self.readLimit:
            self.throttleReads()
            throttleTime = (float(self.readThisSecond) / self.readLimit) - 1.0
            self.unthrottleReadsID = self.callLater(throttleTime, self.unthrottleReads)
        self.readThisSecond = 0
        self.checkReadBandwidthID = self.callLater(1, self.checkReadBandwidth)

    def checkWriteBandwidth(self):
        """Throttle writes if the last second went over writeLimit; check again in a second."""
        if self.writtenThisSecond > self.writeLimit:
            self.throttleWrites()
            throttleTime = (float(self.writtenThisSecond) / self.writeLimit) - 1.0
            self.unthrottleWritesID = self.callLater(throttleTime, self.unthrottleWrites)
        self.writtenThisSecond = 0
        self.checkWriteBandwidthID = self.callLater(1, self.checkWriteBandwidth)

    def throttleReads(self):
        """Pause reading on every connection."""
        _logger.info("Throttling reads on %s", self)
        for p in list(self.protocols):
            p.throttleReads()

    def unthrottleReads(self):
        """Resume reading on every connection."""
        self.unthrottleReadsID = None
        _logger.info("Stopped throttling reads on %s", self)
        for p in list(self.protocols):
            p.unthrottleReads()

    def throttleWrites(self):
        """Pause the producers of every connection."""
        _logger.info("Throttling writes on %s", self)
        for p in list(self.protocols):
            p.throttleWrites()

    def unthrottleWrites(self):
        """Resume the producers of every connection."""
        self.unthrottleWritesID = None
        _logger.info("Stopped throttling writes on %s", self)
        for p in list(self.protocols):
            p.unthrottleWrites()

    def buildProtocol(self, addr):
        """Start the bandwidth checks with the first connection; refuse (None) connections
        beyond maxConnectionCount."""
        if self.connectionCount == 0:
            if self.readLimit is not None:
                self.checkReadBandwidth()
            if self.writeLimit is not None:
                self.checkWriteBandwidth()
        if self.connectionCount < self.maxConnectionCount:
            self.connectionCount += 1
            return WrappingFactory.buildProtocol(self, addr)
        _logger.info("Max connection count reached!")
        return None

    def unregisterProtocol(self, p):
        """Forget `p`; with the last connection gone, stop the bandwidth checks."""
        WrappingFactory.unregisterProtocol(self, p)
        self.connectionCount -= 1
        if self.connectionCount == 0:
            for name in ("unthrottleReadsID", "checkReadBandwidthID", "unthrottleWritesID",
                         "checkWriteBandwidthID"):
                call = getattr(self, name)
                if call is not None:
                    _cancel_quietly(call)
                    setattr(self, name, None)


class SpewingProtocol(ProtocolWrapper):
    """Logs (logger `fastreactor`) every chunk received and written."""

    def dataReceived(self, data):
        _logger.info("Received: %r", data)
        ProtocolWrapper.dataReceived(self, data)

    def write(self, data):
        _logger.info("Sending: %r", data)
        ProtocolWrapper.write(self, data)


class SpewingFactory(WrappingFactory):
    """A WrappingFactory whose connections log their traffic."""

    protocol = SpewingProtocol


def _peer_host(addr):
    host = getattr(addr, "host", None)
    return addr[0] if host is None else host


class LimitConnectionsByPeer(WrappingFactory):
    """Refuses a connection (buildProtocol returns None) when its peer host already has
    `maxConnectionsPerPeer` connections open."""

    maxConnectionsPerPeer = 5

    def startFactory(self):
        self.peerConnections = {}

    def buildProtocol(self, addr):
        peerHost = _peer_host(addr)
        connectionCount = self.peerConnections.get(peerHost, 0)
        if connectionCount >= self.maxConnectionsPerPeer:
            return None
        self.peerConnections[peerHost] = connectionCount + 1
        p = WrappingFactory.buildProtocol(self, addr)
        p._limitPeerHost = peerHost
        return p

    def unregisterProtocol(self, p):
        WrappingFactory.unregisterProtocol(self, p)
        peerHost = p._limitPeerHost
        self.peerConnections[peerHost] -= 1
        if self.peerConnections[peerHost] == 0:
            del self.peerConnections[peerHost]


class LimitTotalConnectionsFactory(ServerFactory):
    """A factory that limits the number of simultaneous connections.

    Below `connectionLimit` (None: no limit) a connection gets `protocol`; beyond it, it gets
    `overflowProtocol` if set, or is refused (closed at once). Either way the protocol is
    wrapped in a ProtocolWrapper that keeps `connectionCount` up to date.

    `connectionCount`: the number of current connections.
    """

    connectionCount = 0
    connectionLimit = None
    overflowProtocol = None

    def buildProtocol(self, addr):
        if self.connectionLimit is None or self.connectionCount < self.connectionLimit:
            wrappedProtocol = self.protocol()
        elif self.overflowProtocol is None:
            return None
        else:
            wrappedProtocol = self.overflowProtocol()
        wrappedProtocol.factory = self
        protocol = ProtocolWrapper(self, wrappedProtocol)
        self.connectionCount += 1
        return protocol

    def registerProtocol(self, p):
        pass

    def unregisterProtocol(self, p):
        self.connectionCount -= 1


class TimeoutProtocol(ProtocolWrapper):
    """A wrapper that closes the connection after `timeoutPeriod` seconds without traffic (data
    received or written)."""

    def __init__(self, factory, wrappedProtocol, timeoutPeriod):
        ProtocolWrapper.__init__(self, factory, wrappedProtocol)
        self.timeoutCall = None
        self.timeoutPeriod = None
        self.setTimeout(timeoutPeriod)

    def setTimeout(self, timeoutPeriod=None):
        """Cancel any timeout, then time out after `timeoutPeriod` seconds (None: never)."""
        self.cancelTimeout()
        self.timeoutPeriod = timeoutPeriod
        if timeoutPeriod is not None:
            self.timeoutCall = self.factory.callLater(self.timeoutPeriod, self.timeoutFunc)

    def cancelTimeout(self):
        """Cancel the timeout, if any."""
        self.timeoutPeriod = None
        if self.timeoutCall:
            _cancel_quietly(self.timeoutCall)
            self.timeoutCall = None

    def resetTimeout(self):
        """Restart the countdown (some traffic just happened)."""
        if self.timeoutCall:
            self.timeoutCall.reset(self.timeoutPeriod)

    def write(self, data):
        self.resetTimeout()
        ProtocolWrapper.write(self, data)

    def writeSequence(self, seq):
        self.resetTimeout()
        ProtocolWrapper.writeSequence(self, seq)

    def dataReceived(self, data):
        self.resetTimeout()
        ProtocolWrapper.dataReceived(self, data)

    def connectionLost(self, reason=connectionDone):
        self.cancelTimeout()
        ProtocolWrapper.connectionLost(self, reason)

    def timeoutFunc(self):
        """Called when the connection timed out; closes it (override for something else)."""
        self.loseConnection()


class TimeoutFactory(WrappingFactory):
    """A WrappingFactory whose connections time out after `timeoutPeriod` idle seconds."""

    protocol = TimeoutProtocol
    clock = None

    def __init__(self, wrappedFactory, timeoutPeriod=30 * 60):
        self.timeoutPeriod = timeoutPeriod
        WrappingFactory.__init__(self, wrappedFactory)

    def buildProtocol(self, addr):
        return self.protocol(self, self.wrappedFactory.buildProtocol(addr),
                             timeoutPeriod=self.timeoutPeriod)

    def callLater(self, period, func):
        """`clock.callLater` if `clock` is set, else the global reactor's."""
        if self.clock is not None:
            return self.clock.callLater(period, func)
        return _global_call_later(period, func)


class TimeoutMixin:
    """A mixin for protocols that time out: one timeout, set with `setTimeout`. When it expires
    `timeoutConnection` is called, which closes the connection by default.

    The timeout is also cancelled when the connection is lost, provided this class's
    connectionLost runs (put TimeoutMixin before the Protocol class in the bases, and call
    super().connectionLost from an override); Twisted's mixin leaves that to the protocol.

    `timeOut`: the timeout in seconds, or None for no timeout.
    """

    timeOut = None

    __timeoutCall = None

    def callLater(self, period, func):
        """Schedule `func` in `period` seconds: the global reactor's callLater. Replace it (on the
        instance or a subclass) to use another reactor or a test clock."""
        return _global_call_later(period, func)

    def resetTimeout(self):
        """Restart the countdown, unless the timeout is disabled or has already fired. Call it
        when meaningful input arrives."""
        if self.__timeoutCall is not None and self.timeOut is not None:
            self.__timeoutCall.reset(self.timeOut)

    def setTimeout(self, period):
        """Change the timeout to `period` seconds (restarting the countdown), or disable it with
        None. Returns the previous timeout."""
        prev = self.timeOut
        self.timeOut = period
        if self.__timeoutCall is not None:
            if period is None:
                _cancel_quietly(self.__timeoutCall)
                self.__timeoutCall = None
            else:
                self.__timeoutCall.reset(period)
        elif period is not None:
            self.__timeoutCall = self.callLater(period, self.__timedOut)
        return prev

    def __timedOut(self):
        self.__timeoutCall = None
        self.timeoutConnection()

    def timeoutConnection(self):
        """Called when the timeout expires; closes the connection (override for another
        behaviour)."""
        self.transport.loseConnection()

    def connectionLost(self, reason=connectionDone):
        """Cancel a pending timeout, then go on to the next class's connectionLost."""
        if self.__timeoutCall is not None:
            _cancel_quietly(self.__timeoutCall)
            self.__timeoutCall = None
        following = getattr(super(), "connectionLost", None)
        if following is not None:
            return following(reason)
