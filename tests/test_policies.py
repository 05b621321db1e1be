"""fastreactor.policies: unit tests over a fake transport and a fake clock (TimeoutMixin compared
call for call with Twisted's), and end-to-end tests over real sockets on every poller: a poem
client that times out, connection caps, throttling."""
import time

import pytest

from fastreactor import basic, policies
from fastreactor.protocol import ClientFactory, Factory, Protocol


class Call:
    def __init__(self, clock, when, func):
        self.clock, self.time, self.func = clock, when, func
        self.called = self.cancelled = False

    def active(self):
        return not (self.called or self.cancelled)

    def cancel(self):
        if self.cancelled:
            raise AlreadyCancelled()
        if self.called:
            raise AlreadyCalled()
        self.cancelled = True

    def reset(self, seconds):
        if not self.active():
            raise AlreadyCalled()
        self.time = self.clock.now + seconds


class AlreadyCalled(Exception):
    pass


class AlreadyCancelled(Exception):
    pass


class Clock:
    """The least clock: callLater and advance."""

    def __init__(self):
        self.now = 0.0
        self.calls = []

    def callLater(self, seconds, func, *args):
        call = Call(self, self.now + seconds, lambda: func(*args))
        self.calls.append(call)
        return call

    def advance(self, seconds):
        self.now += seconds
        for call in sorted(self.calls, key=lambda c: c.time):
            if call.active() and call.time <= self.now:
                call.called = True
                call.func()
        self.calls = [c for c in self.calls if c.active()]


class Transport:
    disconnecting = False

    def __init__(self, log=None):
        self.log = [] if log is None else log

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def record(*args):
            self.log.append((name,) + args)
            if name == "loseConnection":
                self.disconnecting = True
            return "peer" if name == "getPeer" else "host" if name == "getHost" else None
        return record


# ---- TimeoutMixin --------------------------------------------------------------------------------

def timeout_protocol(mixin, base):
    class P(mixin, base):
        def __init__(self, log):
            self.log = log

        def timeoutConnection(self):
            self.log.append(("timeoutConnection",))
            mixin.timeoutConnection(self)

    return P


SCRIPT = [("set", 5), ("advance", 3), ("reset",), ("advance", 3), ("set", 2), ("advance", 1.5),
          ("set", None), ("advance", 10), ("set", 1), ("advance", 1), ("reset",), ("set", 4),
          ("advance", 5), ("set", 3), ("lost",), ("advance", 5)]


def run_script(mixin, base, clock_class):
    log = []
    clock = clock_class()
    p = timeout_protocol(mixin, base)(log)
    p.callLater = clock.callLater
    p.makeConnection(Transport(log))
    for step in SCRIPT:
        if step[0] == "set":
            log.append(("previous", p.setTimeout(step[1])))
        elif step[0] == "advance":
            clock.advance(step[1])
        elif step[0] == "reset":
            p.resetTimeout()
        elif step[0] == "lost":
            p.setTimeout(None)  # what a Twisted protocol does in connectionLost
            p.connectionLost(None)
    return log


def test_timeout_mixin_matches_twisted():
    from twisted.internet import protocol as tprotocol
    from twisted.internet.task import Clock as TwistedClock
    from twisted.protocols import policies as tpolicies
    from fastreactor.protocol import Protocol as FastProtocol
    expected = run_script(tpolicies.TimeoutMixin, tprotocol.Protocol, TwistedClock)
    assert run_script(policies.TimeoutMixin, FastProtocol, TwistedClock) == expected
    assert run_script(policies.TimeoutMixin, FastProtocol, Clock) == expected
    assert ("timeoutConnection",) in expected


def test_timeout_cancelled_on_connection_lost():
    clock = Clock()

    class P(policies.TimeoutMixin, Protocol):
        timedOut = False

        def timeoutConnection(self):
            self.timedOut = True

    p = P()
    p.callLater = clock.callLater
    p.makeConnection(Transport())
    assert p.setTimeout(2) is None
    p.connectionLost(None)
    clock.advance(5)
    assert not p.timedOut
    assert clock.calls == []


def test_timeout_mixin_defaults_to_the_global_reactor():
    import fastreactor
    p = policies.TimeoutMixin()
    p.setTimeout(100)
    call = p._TimeoutMixin__timeoutCall
    assert call.active()
    assert call in fastreactor.reactor.getDelayedCalls()
    p.setTimeout(None)
    assert not call.active()


# ---- wrappers -----------------------------------------------------------------------------------

class Recorder(Protocol):
    def __init__(self):
        self.events = []

    def connectionMade(self):
        self.events.append("connectionMade")

    def dataReceived(self, data):
        self.events.append(("data", data))

    def connectionLost(self, reason):
        self.events.append(("lost", reason))


class HalfCloseRecorder(Recorder):
    def readConnectionLost(self):
        self.events.append("readConnectionLost")

    def writeConnectionLost(self):
        self.events.append("writeConnectionLost")


def test_protocol_wrapper_forwards_both_ways():
    factory = policies.WrappingFactory(Factory.forProtocol(Recorder))
    wrapper = factory.buildProtocol(("127.0.0.1", 1))
    inner = wrapper.wrappedProtocol
    log = []
    wrapper.makeConnection(Transport(log))
    assert inner.transport is wrapper and inner.events == ["connectionMade"]
    assert factory.protocols == {wrapper: 1}
    inner.transport.write(b"a")
    inner.transport.writeSequence([b"b", b"c"])
    assert inner.transport.getPeer() == "peer" and inner.transport.getHost() == "host"
    inner.transport.registerProducer("producer", True)
    inner.transport.unregisterProducer()
    inner.transport.stopConsuming()
    inner.transport.loseWriteConnection()
    inner.transport.pauseProducing()
    inner.transport.loseConnection()
    assert wrapper.disconnecting == 1
    assert log == [("write", b"a"), ("writeSequence", [b"b", b"c"]), ("getPeer",), ("getHost",),
                   ("registerProducer", "producer", True), ("unregisterProducer",),
                   ("stopConsuming",), ("loseWriteConnection",), ("pauseProducing",),
                   ("loseConnection",)]
    wrapper.dataReceived(b"x")
    wrapper.connectionLost("reason")
    assert inner.events[1:] == [("data", b"x"), ("lost", "reason")]
    assert factory.protocols == {} and wrapper.wrappedProtocol is None


def test_protocol_wrapper_is_half_closeable_only_when_the_wrapped_protocol_is():
    from fastreactor._native import native_api
    plain = policies.WrappingFactory(Factory.forProtocol(Recorder)).buildProtocol(None)
    assert not native_api.isHalfCloseable(plain)
    half = policies.WrappingFactory(Factory.forProtocol(HalfCloseRecorder)).buildProtocol(None)
    assert native_api.isHalfCloseable(half)
    half.makeConnection(Transport())
    half.readConnectionLost()
    half.writeConnectionLost()
    assert half.wrappedProtocol.events[1:] == ["readConnectionLost", "writeConnectionLost"]


def test_wrapping_factory_forwards_factory_calls():
    calls = []

    class Inner(ClientFactory):
        def startFactory(self):
            calls.append("start")

        def stopFactory(self):
            calls.append("stop")

        def startedConnecting(self, c):
            calls.append(("startedConnecting", c))

        def clientConnectionFailed(self, c, r):
            calls.append(("failed", c, r))

        def clientConnectionLost(self, c, r):
            calls.append(("lost", c, r))

    f = policies.WrappingFactory(Inner())
    f.doStart()
    f.startedConnecting("c")
    f.clientConnectionFailed("c", "r")
    f.clientConnectionLost("c", "r")
    f.doStop()
    assert calls == ["start", ("startedConnecting", "c"), ("failed", "c", "r"), ("lost", "c", "r"), "stop"]


def test_limit_total_connections_unit():
    f = policies.LimitTotalConnectionsFactory()
    f.protocol = Recorder
    f.connectionLimit = 2
    a, b = f.buildProtocol(None), f.buildProtocol(None)
    assert f.buildProtocol(None) is None
    a.makeConnection(Transport())
    a.connectionLost(None)
    assert f.connectionCount == 1
    assert f.buildProtocol(None) is not None
    f.overflowProtocol = HalfCloseRecorder
    assert isinstance(f.buildProtocol(None).wrappedProtocol, HalfCloseRecorder)
    del b


def test_limit_connections_by_peer_unit():
    from fastreactor.address import IPv4Address
    f = policies.LimitConnectionsByPeer(Factory.forProtocol(Recorder))
    f.maxConnectionsPerPeer = 2
    f.doStart()
    one = IPv4Address("TCP", "10.0.0.1", 1000)
    other = IPv4Address("TCP", "10.0.0.2", 1000)
    p1, p2 = f.buildProtocol(one), f.buildProtocol(one)
    assert f.buildProtocol(one) is None
    assert f.buildProtocol(other) is not None
    p1.makeConnection(Transport())
    p1.connectionLost(None)
    assert f.buildProtocol(one) is not None
    del p2


def test_throttling_factory_unit():
    clock = Clock()
    f = policies.ThrottlingFactory(Factory.forProtocol(Recorder), readLimit=10, writeLimit=10)
    f.clock = clock
    p = f.buildProtocol(None)
    log = []
    p.makeConnection(Transport(log))

    class Producer:
        events = []

        def pauseProducing(self):
            self.events.append("pause")

        def resumeProducing(self):
            self.events.append("resume")

    producer = Producer()
    p.wrappedProtocol.transport.registerProducer(producer, True)
    p.dataReceived(b"x" * 30)
    p.wrappedProtocol.transport.write(b"y" * 20)
    clock.advance(1)      # 30 bytes read in a second, limit 10: reads pause for 2 s
    assert ("pauseProducing",) in log and producer.events == ["pause"]  # writes for 1 s
    clock.advance(1)
    assert ("resumeProducing",) not in log and producer.events == ["pause", "resume"]
    clock.advance(1)
    assert ("resumeProducing",) in log
    assert f.buildProtocol(None) is not None
    f.maxConnectionCount = 2
    assert f.buildProtocol(None) is None
    p.connectionLost(None)


def test_timeout_factory_unit():
    clock = Clock()
    f = policies.TimeoutFactory(Factory.forProtocol(Recorder), timeoutPeriod=3)
    f.clock = clock
    p = f.buildProtocol(None)
    log = []
    p.makeConnection(Transport(log))
    clock.advance(2)
    p.dataReceived(b"x")
    clock.advance(2)
    assert ("loseConnection",) not in log
    clock.advance(1.5)
    assert ("loseConnection",) in log


# ---- end to end ---------------------------------------------------------------------------------

POEM = [b"Shall I compare thee to a summer's day?", b"Thou art more lovely and more temperate:",
        b"Rough winds do shake the darling buds of May,", b"And summer's lease hath all too short a date"]


class SlowPoet(Protocol):
    """Sends the poem a line every `factory.pause` seconds, then closes."""

    def connectionMade(self):
        self.lines = list(POEM)
        self.reactor = self.factory.reactor
        self.call = self.reactor.callLater(0, self.next)

    def next(self):
        if not self.lines:
            self.transport.loseConnection()
            return
        self.transport.write(self.lines.pop(0) + b"\r\n")
        self.call = self.reactor.callLater(self.factory.pause, self.next)

    def connectionLost(self, reason):
        if self.call.active():
            self.call.cancel()
        self.factory.lost.append(reason)


class PoemClient(policies.TimeoutMixin, basic.LineReceiver):
    """The seeds' exercise: gives up when the poem has not finished within `timeOut` seconds."""

    def connectionMade(self):
        self.callLater = self.factory.reactor.callLater
        self.setTimeout(self.factory.timeout)

    def lineReceived(self, line):
        self.factory.lines.append(line)

    def timeoutConnection(self):
        self.factory.timedOut = True
        policies.TimeoutMixin.timeoutConnection(self)

    def connectionLost(self, reason):
        super().connectionLost(reason)
        self.factory.done = True


def poem_run(reactor, spin, pause, timeout):
    server = Factory.forProtocol(SlowPoet)
    server.reactor, server.pause, server.lost = reactor, pause, []
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    client = ClientFactory.forProtocol(PoemClient)
    client.reactor, client.timeout, client.lines = reactor, timeout, []
    client.timedOut = client.done = False
    reactor.connectTCP("127.0.0.1", port.getHost().port, client)
    spin(reactor, lambda: client.done and server.lost)
    return client


def test_poem_client_finishes_in_time_and_cancels_its_timeout(reactor, spin):
    client = poem_run(reactor, spin, pause=0.01, timeout=2.0)
    assert client.lines == POEM and not client.timedOut
    assert not [c for c in reactor.getDelayedCalls() if c.active()]


def test_poem_client_drops_a_slow_poem(reactor, spin):
    client = poem_run(reactor, spin, pause=0.3, timeout=0.4)
    assert client.timedOut
    assert 0 < len(client.lines) < len(POEM)


class Idle(Protocol):
    def connectionMade(self):
        self.factory.opened.append(self)

    def connectionLost(self, reason):
        self.factory.closed.append(self)


def count_connections(reactor, spin, factory, attempts):
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    clients = ClientFactory.forProtocol(Idle)
    clients.opened, clients.closed = [], []
    for _ in range(attempts):
        reactor.connectTCP("127.0.0.1", port.getHost().port, clients)
    spin(reactor, lambda: len(clients.opened) == attempts and len(clients.closed) >= 1)
    deadline = time.monotonic() + 0.2
    while time.monotonic() < deadline:
        reactor.iterate(0.01)
    return clients


def test_limit_total_connections_refuses_the_extra_one(reactor, spin):
    factory = policies.LimitTotalConnectionsFactory()
    factory.protocol = Protocol
    factory.connectionLimit = 3
    clients = count_connections(reactor, spin, factory, 4)
    assert len(clients.closed) == 1 and factory.connectionCount == 3
    for p in clients.opened:
        p.transport.loseConnection()
    spin(reactor, lambda: factory.connectionCount == 0)


def test_limit_connections_by_peer_refuses_the_extra_one(reactor, spin):
    factory = policies.LimitConnectionsByPeer(Factory.forProtocol(Protocol))
    factory.maxConnectionsPerPeer = 2
    clients = count_connections(reactor, spin, factory, 3)
    assert len(clients.closed) == 1 and factory.peerConnections == {"127.0.0.1": 2}
    for p in clients.opened:
        p.transport.loseConnection()
    spin(reactor, lambda: factory.peerConnections == {})


class Sink(Protocol):
    def dataReceived(self, data):
        self.factory.received += len(data)
        if data.endswith(b"MARK"):
            self.factory.marked = time.monotonic()


class Sender(Protocol):
    def connectionMade(self):
        self.transport.write(b"x" * 300000)
        self.factory.reactor.callLater(1.1, self.transport.write, b"MARK")


def marker_delay(reactor, spin, read_limit):
    sink = Factory.forProtocol(Sink)
    sink.received, sink.marked = 0, None
    factory = policies.ThrottlingFactory(sink, readLimit=read_limit) if read_limit else sink
    if read_limit:
        factory.clock = reactor
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    sender = ClientFactory.forProtocol(Sender)
    sender.reactor = reactor
    start = time.monotonic()
    reactor.connectTCP("127.0.0.1", port.getHost().port, sender)
    spin(reactor, lambda: sink.marked is not None, timeout=15)
    assert sink.received == 300004
    return sink.marked - start


def test_throttling_slows_a_transfer(reactor, spin):
    # 300 kB in the first second against a 100 kB/s limit: reads pause for 2 s, so the marker
    # sent at 1.1 s is only read at about 3 s.
    assert marker_delay(reactor, spin, None) < 2.0
    assert marker_delay(reactor, spin, 100000) > 2.5
