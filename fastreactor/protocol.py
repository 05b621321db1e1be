"""Protocols and factories: the classes users subclass, with Twisted's names and semantics.

A factory builds one protocol per connection (`buildProtocol`); the reactor then calls
`protocol.makeConnection(transport)`, `dataReceived(data)` for each chunk read and, once,
`connectionLost(reason)`. Client factories also hear about the connection attempt through
`startedConnecting`, `clientConnectionFailed` and `clientConnectionLost`.
"""
import logging
import random

from fastreactor import error
from fastreactor.failure import Failure

_logger = logging.getLogger("fastreactor")

__all__ = [
    "BaseProtocol", "Protocol", "Factory", "ServerFactory", "ClientFactory",
    "ReconnectingClientFactory", "connectionDone",
]

connectionDone = Failure(error.ConnectionDone())


class BaseProtocol:
    """The part of a protocol a transport needs: makeConnection and connectionMade."""

    connected = 0
    transport = None

    def makeConnection(self, transport):
        """Attach `transport`, set `connected`, then call connectionMade()."""
        self.connected = 1
        self.transport = transport
        self.connectionMade()

    def connectionMade(self):
        """Called once the connection is established; override to start talking."""


class Protocol(BaseProtocol):
    """A stream protocol: override dataReceived and, usually, connectionLost.

    `factory` is set by Factory.buildProtocol. `dataReceived` gets the bytes as they arrive, in
    chunks of any size: a message may be split or merged with the next one (see fastreactor.basic).
    """

    factory = None

    def logPrefix(self):
        """The prefix for log lines about this protocol (its class name)."""
        return self.__class__.__name__

    def dataReceived(self, data):
        """Called with each chunk of bytes received."""

    def connectionLost(self, reason=connectionDone):
        """Called once when the connection ends; `reason` is a Failure (ConnectionDone when the
        close was clean, ConnectionLost on an error, ConnectionAborted after abortConnection, or the
        exception dataReceived raised)."""


class Factory:
    """Builds protocols for connections: set `protocol` to a Protocol class, or override
    buildProtocol. `doStart`/`doStop` count the ports and connectors using the factory and call
    `startFactory` on the first start and `stopFactory` on the last stop."""

    protocol = None
    numPorts = 0
    noisy = True

    @classmethod
    def forProtocol(cls, protocol, *args, **kwargs):
        """A factory of this class (built with *args, **kwargs) whose `protocol` is `protocol`."""
        factory = cls(*args, **kwargs)
        factory.protocol = protocol
        return factory

    def logPrefix(self):
        """The prefix for log lines about this factory (its class name)."""
        return self.__class__.__name__

    def doStart(self):
        """Called by a port or connector when it starts using this factory."""
        if not self.numPorts:
            if self.noisy:
                _logger.info("Starting factory %r", self)
            self.startFactory()
        self.numPorts = self.numPorts + 1

    def doStop(self):
        """Called by a port or connector when it stops using this factory."""
        if self.numPorts == 0:
            return
        self.numPorts = self.numPorts - 1
        if not self.numPorts:
            if self.noisy:
                _logger.info("Stopping factory %r", self)
            self.stopFactory()

    def startFactory(self):
        """Override to set up before the first connection (called once per start)."""

    def stopFactory(self):
        """Override to clean up after the last port or connector stops using this factory."""

    def buildProtocol(self, addr):
        """Make a protocol for a connection from/to `addr`: `self.protocol()`, with `.factory`
        set to this factory. Return None to refuse the connection."""
        if self.protocol is None:
            raise TypeError("%r has no protocol class: set its `protocol` attribute or override "
                            "buildProtocol" % (self,))
        p = self.protocol()
        p.factory = self
        return p


class ServerFactory(Factory):
    """A factory for servers (listenTCP)."""


class ClientFactory(Factory):
    """A factory for clients (connectTCP): hears about the connection attempt."""

    def startedConnecting(self, connector):
        """Called when a connection attempt starts; `connector.stopConnecting()` cancels it."""

    def clientConnectionFailed(self, connector, reason):
        """Called when a connection attempt fails (refused, unreachable, DNS, timeout).
        `connector.connect()` from here tries again."""

    def clientConnectionLost(self, connector, reason):
        """Called when an established connection ends. `connector.connect()` reconnects."""


class ReconnectingClientFactory(ClientFactory):
    """A client factory that reconnects with exponential back-off (Twisted's algorithm).

    After a failure or a lost connection it waits `delay` seconds (starting at `initialDelay`,
    jittered by `jitter`, multiplied by `factor` each time up to `maxDelay`) and connects again, at
    most `maxRetries` times if set. Call resetDelay() once connected; stopTrying() gives up.

    The wait is scheduled on `clock` if it is set (tests set a fake clock), else on the reactor
    of the connector being retried (so a factory used with a reactor made by
    `fastreactor.Reactor()` retries on that reactor), else on the global reactor. Twisted's
    version has no per-connector reactor and always falls back to its global reactor.
    """

    maxDelay = 3600
    initialDelay = 1.0
    factor = 2.7182818284590451
    jitter = 0.119626565582
    delay = initialDelay
    retries = 0
    maxRetries = None
    _callID = None
    connector = None
    clock = None
    continueTrying = 1

    def clientConnectionFailed(self, connector, reason):
        if self.continueTrying:
            self.connector = connector
            self.retry()

    def clientConnectionLost(self, connector, unused_reason):
        if self.continueTrying:
            self.connector = connector
            self.retry()

    def retry(self, connector=None):
        """Have `connector` (default: the last one) connect again after the current delay."""
        if not self.continueTrying:
            if self.noisy:
                _logger.info("Abandoning %s on explicit request", connector)
            return
        if connector is None:
            if self.connector is None:
                raise ValueError("no connector to retry")
            connector = self.connector
        self.retries += 1
        if self.maxRetries is not None and self.retries > self.maxRetries:
            if self.noisy:
                _logger.info("Abandoning %s after %d retries.", connector, self.retries)
            return
        if self.jitter:
            self.delay = random.normalvariate(self.delay, self.delay * self.jitter)
        if self.noisy:
            _logger.info("%s will retry in %d seconds", connector, self.delay)

        def reconnector():
            self._callID = None
            connector.connect()

        self._callID = self._clockFor(connector).callLater(max(self.delay, 0), reconnector)
        self.delay = min(self.delay * self.factor, self.maxDelay)

    def _clockFor(self, connector):
        """Where the retry of `connector` is scheduled: `clock` if set, else the connector's
        reactor, else the global reactor (which then becomes `clock`, as in Twisted)."""
        if self.clock is not None:
            return self.clock
        reactor = getattr(connector, "reactor", None)
        if reactor is not None:
            return reactor
        from fastreactor import reactor
        self.clock = reactor
        return reactor

    def stopTrying(self):
        """Cancel a pending reconnection and any attempt in progress; no more retries."""
        if self._callID:
            self._callID.cancel()
            self._callID = None
        self.continueTrying = 0
        if self.connector:
            try:
                self.connector.stopConnecting()
            except error.NotConnectingError:
                pass

    def resetDelay(self):
        """Call after a successful connection: back to `initialDelay` and zero retries."""
        self.delay = self.initialDelay
        self.retries = 0
        self._callID = None
        self.continueTrying = 1

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ["connector", "retries", "delay", "continueTrying", "_callID", "clock"]:
            state.pop(key, None)
        return state


# ---- datagram protocols (listenUDP, listenMulticast, listenUNIXDatagram) ------------------------

__all__ += ["AbstractDatagramProtocol", "DatagramProtocol", "ConnectedDatagramProtocol"]


class AbstractDatagramProtocol:
    """A protocol for a datagram port. The port calls `makeConnection(port)` when it starts,
    `datagramReceived(datagram, addr)` per datagram, and `doStop()` when it stops.

    `doStart`/`doStop` count the ports using the protocol: `startProtocol` runs on the first
    start and `stopProtocol` after the last stop (when `transport` is set back to None).
    """

    transport = None
    numPorts = 0
    noisy = True

    def __getstate__(self):
        state = self.__dict__.copy()
        state["transport"] = None
        return state

    def doStart(self):
        """Called through makeConnection by a port starting; users do not call it."""
        if not self.numPorts:
            if self.noisy:
                _logger.info("Starting protocol %s", self)
            self.startProtocol()
        self.numPorts = self.numPorts + 1

    def doStop(self):
        """Called by a port stopping; users do not call it."""
        if self.numPorts <= 0:
            raise RuntimeError("doStop() called on %r, which no port started" % (self,))
        self.numPorts = self.numPorts - 1
        self.transport = None
        if not self.numPorts:
            if self.noisy:
                _logger.info("Stopping protocol %s", self)
            self.stopProtocol()

    def startProtocol(self):
        """Called when the first port starts using this protocol; override to start sending."""

    def stopProtocol(self):
        """Called after the last port using this protocol stopped."""

    def makeConnection(self, transport):
        """Set `transport` (the port) and call doStart(). A protocol runs on one port at a
        time: ValueError if it already has a transport."""
        if self.transport is not None:
            raise ValueError("%r already runs on %r" % (self, self.transport))
        self.transport = transport
        self.doStart()

    def datagramReceived(self, datagram, addr):
        """Called with each datagram (bytes) and its sender's address: (host, port) for UDP,
        the sender's path (or None) for UNIX datagram sockets."""


class DatagramProtocol(AbstractDatagramProtocol):
    """The protocol to subclass for UDP (and UNIX datagram) ports: override datagramReceived;
    write replies with `self.transport.write(data, addr)`."""

    def logPrefix(self):
        """The prefix for log lines about this protocol (its class name)."""
        return self.__class__.__name__

    def connectionRefused(self):
        """Called on a connected port when an earlier datagram was refused (ICMP port
        unreachable): nothing listens at the address connected to."""


class ConnectedDatagramProtocol(DatagramProtocol):
    """The protocol of connectUNIXDatagram: datagrams come from the one peer connected to."""

    def datagramReceived(self, datagram):
        """Called with each datagram (bytes) received from the peer."""

    def connectionFailed(self, failure):
        """Called if binding or connecting the socket failed; `failure` says why."""
# ---- child processes -------------------------------------------------------------------------------

__all__.append("ProcessProtocol")


class ProcessProtocol(BaseProtocol):
    """What reactor.spawnProcess talks to about a child process (Twisted's ProcessProtocol).

    The calls, in order: makeConnection(transport) then connectionMade() once the child runs;
    childDataReceived(childFD, data) for each chunk the child writes to a pipe the parent reads
    (by default outReceived for childFD 1, errReceived for 2); childConnectionLost(childFD) as
    each pipe closes (by default inConnectionLost for 0, outConnectionLost for 1,
    errConnectionLost for 2); processExited(reason) when the child has exited; processEnded(reason)
    once, after the exit and after every pipe has closed. `reason` is a Failure wrapping
    ProcessDone (exit code 0) or ProcessTerminated(exitCode, signal, status).
    """

    def childDataReceived(self, childFD, data):
        """Bytes the child wrote to `childFD`: routed to outReceived (1) or errReceived (2)."""
        if childFD == 1:
            self.outReceived(data)
        elif childFD == 2:
            self.errReceived(data)

    def outReceived(self, data):
        """Bytes the child wrote to its stdout."""

    def errReceived(self, data):
        """Bytes the child wrote to its stderr."""

    def childConnectionLost(self, childFD):
        """The pipe to `childFD` has closed: routed to in/out/errConnectionLost for 0/1/2."""
        if childFD == 0:
            self.inConnectionLost()
        elif childFD == 1:
            self.outConnectionLost()
        elif childFD == 2:
            self.errConnectionLost()

    def inConnectionLost(self):
        """The child's stdin has closed."""

    def outConnectionLost(self):
        """The child's stdout has closed."""

    def errConnectionLost(self):
        """The child's stderr has closed."""

    def processExited(self, reason):
        """The child has exited (some pipes may still be open); `reason` as processEnded's."""

    def processEnded(self, reason):
        """The child has exited and every pipe has closed: the last call."""
