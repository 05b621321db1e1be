"""The TCP transport over real sockets: writes of any size, half-close, producers, options,
addresses, and bad input — on every poller."""
import errno
import socket
import threading

import pytest

from fastreactor import error, protocol
from fastreactor.address import IPv4Address, IPv6Address


def listen(reactor, proto_class, **kw):
    factory = protocol.Factory.forProtocol(proto_class)
    factory.noisy = False
    port = reactor.listenTCP(0, factory, interface=kw.pop("interface", "127.0.0.1"), **kw)
    return factory, port


class Collector(protocol.Protocol):
    """Keeps what it receives and why it ended."""

    def connectionMade(self):
        self.received = []
        self.reason = None
        self.factory.instances = getattr(self.factory, "instances", []) + [self]

    def dataReceived(self, data):
        self.received.append(data)

    def connectionLost(self, reason):
        self.reason = reason


def client_socket(port, rcvbuf=None):
    """A blocking client socket; `rcvbuf` makes a slow reader (set before connecting: shrinking
    the buffer of an established connection stalls the sender on Linux)."""
    s = socket.socket()
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port.getHost().port))
    s.settimeout(10)
    return s


def recv_all(sock):
    chunks = []
    while True:
        data = sock.recv(1 << 16)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def in_thread(reactor, spin, blocking_io):
    """Run `blocking_io()` (client-side socket calls) in a thread while the reactor spins, and
    return its result."""
    out = []
    t = threading.Thread(target=lambda: out.append(blocking_io()))
    t.start()
    spin(reactor, lambda: out)
    t.join()
    return out[0]


def test_large_write_then_lose_connection_reaches_a_slow_reader(reactor, spin):
    """Several MiB written then loseConnection: every byte arrives, then EOF."""
    payload = bytes(range(256)) * (4 * 4096 + 7)    # ~4 MiB

    class Sender(protocol.Protocol):
        def connectionMade(self):
            for i in range(0, len(payload), 100000):
                self.transport.write(payload[i:i + 100000])
            self.transport.loseConnection()
            self.transport.write(b"")

        def connectionLost(self, reason):
            self.factory.reason = reason

    factory, port = listen(reactor, Sender)
    result = {}

    def slow_reader():
        s = client_socket(port, rcvbuf=4096)
        import time
        time.sleep(0.3)
        result["data"] = recv_all(s)
        s.close()

    t = threading.Thread(target=slow_reader)
    t.start()
    spin(reactor, lambda: getattr(factory, "reason", None) is not None, timeout=30)
    t.join(30)
    assert result["data"] == payload
    assert factory.reason.check(error.ConnectionDone)


def test_write_sequence_and_many_small_writes_keep_order(reactor, spin):
    class Sender(protocol.Protocol):
        def connectionMade(self):
            self.transport.writeSequence([b"a", b"bc", b"", b"def"])
            for i in range(1000):
                self.transport.write(b"%d," % i)
            self.transport.loseConnection()

    factory, port = listen(reactor, Sender)
    s = client_socket(port)
    data = in_thread(reactor, spin, lambda: recv_all(s))
    assert data == b"abcdef" + b"".join(b"%d," % i for i in range(1000))


def test_write_rejects_str_and_other_types(reactor, spin):
    errors = []

    class Writer(protocol.Protocol):
        def connectionMade(self):
            for bad in ("text", bytearray(b"x"), memoryview(b"x"), 3, None):
                try:
                    self.transport.write(bad)
                except TypeError as e:
                    errors.append(str(e))
            try:
                self.transport.writeSequence([b"ok", "bad"])
            except TypeError as e:
                errors.append(str(e))
            self.transport.write(b"fine")
            self.transport.loseConnection()

    factory, port = listen(reactor, Writer)
    s = client_socket(port)
    data = in_thread(reactor, spin, lambda: recv_all(s))
    assert len(errors) == 6
    assert all(e == "Data must be bytes" for e in errors)
    assert data == b"fine"     # nothing from the refused calls, not even b"ok"


def test_writes_after_the_connection_ended_are_ignored(reactor, spin):
    factory, port = listen(reactor, Collector)
    s = client_socket(port)
    spin(reactor, lambda: getattr(factory, "instances", None))
    s.close()
    p = factory.instances[0]
    spin(reactor, lambda: p.reason is not None)
    p.transport.write(b"late")              # no error, nothing happens
    p.transport.writeSequence([b"late"])
    p.transport.loseConnection()
    p.transport.abortConnection()
    assert p.reason.check(error.ConnectionDone)


def test_half_close_read_side(reactor, spin):
    """A protocol with readConnectionLost keeps writing after the peer's FIN."""
    events = []

    class HalfCloser(protocol.Protocol):
        def dataReceived(self, data):
            events.append(("data", data))

        def readConnectionLost(self):
            events.append("readConnectionLost")
            self.transport.write(b"reply after FIN")
            self.transport.loseConnection()

        def writeConnectionLost(self):
            events.append("writeConnectionLost")

        def connectionLost(self, reason):
            events.append(("connectionLost", type(reason.value).__name__))

    factory, port = listen(reactor, HalfCloser)
    s = client_socket(port)
    s.sendall(b"request")
    s.shutdown(socket.SHUT_WR)
    data = in_thread(reactor, spin, lambda: recv_all(s))
    assert data == b"reply after FIN"
    spin(reactor, lambda: len(events) == 3)
    assert events == [("data", b"request"), "readConnectionLost", ("connectionLost", "ConnectionDone")]


def test_lose_write_connection_sends_fin_and_keeps_reading(reactor, spin):
    events = []

    class WriteCloser(protocol.Protocol):
        def connectionMade(self):
            self.transport.write(b"all of it")
            self.transport.loseWriteConnection()
            # As in Twisted: still sent, the FIN goes out after the queue is flushed.
            self.transport.write(b", and this")

        def dataReceived(self, data):
            events.append(("data", data))
            self.transport.write(b"ignored: the write side is shut")
            self.transport.loseConnection()

        def readConnectionLost(self):
            events.append("readConnectionLost")

        def writeConnectionLost(self):
            events.append("writeConnectionLost")

        def connectionLost(self, reason):
            events.append(("connectionLost", type(reason.value).__name__))

    factory, port = listen(reactor, WriteCloser)
    s = client_socket(port)
    out = {}

    def talk():
        out["data"] = recv_all(s)           # EOF arrives while we can still send
        s.sendall(b"answer")
        out["closed"] = s.recv(10)

    t = threading.Thread(target=talk)
    t.start()
    spin(reactor, lambda: "closed" in out and len(events) >= 3)
    t.join()
    assert out["data"] == b"all of it, and this"
    assert out["closed"] == b""
    assert events == ["writeConnectionLost", ("data", b"answer"), ("connectionLost", "ConnectionDone")]


class PushProducer:
    """Writes blocks while not paused; counts pause/resume calls."""

    def __init__(self, transport, total, block=16384):
        self.transport = transport
        self.left = total
        self.block = block
        self.paused = False
        self.pauses = 0
        self.resumes = 0
        self.stopped = False
        self.max_buffered = 0

    def pauseProducing(self):
        self.paused = True
        self.pauses += 1

    def resumeProducing(self):
        self.paused = False
        self.resumes += 1

    def stopProducing(self):
        self.stopped = True

    def produce(self, reactor):
        while not self.paused and self.left > 0:
            n = min(self.block, self.left)
            self.transport.write(b"p" * n)
            self.left -= n
            self.max_buffered = max(self.max_buffered, self.transport.getWriteBufferSize())
        if self.left > 0:
            reactor.callLater(0.001, self.produce, reactor)
        else:
            self.transport.unregisterProducer()
            self.transport.loseConnection()


def test_push_producer_is_paused_at_high_water_and_resumed_at_low(reactor, spin):
    total = 8 * 1024 * 1024
    state = {}

    class Streamer(protocol.Protocol):
        def connectionMade(self):
            self.transport.setWriteBufferLimits(high=256 * 1024, low=64 * 1024)
            producer = PushProducer(self.transport, total)
            state["producer"] = producer
            self.transport.registerProducer(producer, True)
            producer.produce(self.factory.reactor)

        def connectionLost(self, reason):
            state["reason"] = reason

    factory, port = listen(reactor, Streamer)
    factory.reactor = reactor
    out = {}

    def slow():
        s = client_socket(port, rcvbuf=8192)
        import time
        time.sleep(0.2)
        out["n"] = len(recv_all(s))

    t = threading.Thread(target=slow)
    t.start()
    spin(reactor, lambda: "reason" in state and "n" in out, timeout=60)
    t.join()
    producer = state["producer"]
    assert out["n"] == total
    assert producer.pauses >= 1 and producer.resumes >= 1
    # Paused as soon as the queue passed the high mark: it never grows past high + one block.
    assert producer.max_buffered <= 256 * 1024 + 16384
    assert state["reason"].check(error.ConnectionDone)


def test_pull_producer_is_asked_for_more_each_time_the_queue_empties(reactor, spin):
    chunks = [b"%05d" % i for i in range(200)]
    state = {"asked": 0}

    class Pull:
        def __init__(self, transport):
            self.transport = transport

        def resumeProducing(self):
            state["asked"] += 1
            if chunks:
                self.transport.write(chunks.pop(0))
            else:
                self.transport.unregisterProducer()
                self.transport.loseConnection()

        def stopProducing(self):
            state["stopped"] = True

    class Server(protocol.Protocol):
        def connectionMade(self):
            self.transport.registerProducer(Pull(self.transport), False)

    factory, port = listen(reactor, Server)
    s = client_socket(port)
    data = in_thread(reactor, spin, lambda: recv_all(s))
    assert data == b"".join(b"%05d" % i for i in range(200))
    assert state["asked"] == 201


def test_producer_stopped_when_connection_is_lost(reactor, spin):
    state = {}

    class Server(protocol.Protocol):
        def connectionMade(self):
            state["producer"] = PushProducer(self.transport, 0)
            self.transport.registerProducer(state["producer"], True)
            with pytest.raises(RuntimeError):
                self.transport.registerProducer(PushProducer(self.transport, 0), True)

        def connectionLost(self, reason):
            state["lost"] = True

    factory, port = listen(reactor, Server)
    s = client_socket(port)
    spin(reactor, lambda: "producer" in state)
    s.close()
    spin(reactor, lambda: "lost" in state)
    assert state["producer"].stopped


def test_transport_as_producer_pauses_reading(reactor, spin):
    """pauseProducing stops reading: the peer's data waits in the kernel until resumeProducing."""
    state = {"data": b""}

    class Server(protocol.Protocol):
        def connectionMade(self):
            self.transport.pauseProducing()
            state["transport"] = self.transport

        def dataReceived(self, data):
            state["data"] += data

    factory, port = listen(reactor, Server)
    s = client_socket(port)
    spin(reactor, lambda: "transport" in state)
    s.sendall(b"waiting")
    for _ in range(20):
        reactor.iterate(0.01)
    assert state["data"] == b""
    state["transport"].resumeProducing()
    spin(reactor, lambda: state["data"] == b"waiting")
    s.close()


def test_tcp_options_and_addresses(reactor, spin):
    state = {}

    class Server(protocol.Protocol):
        def connectionMade(self):
            t = self.transport
            state["nodelay0"] = t.getTcpNoDelay()
            t.setTcpNoDelay(True)
            state["nodelay1"] = t.getTcpNoDelay()
            t.setTcpKeepAlive(True)
            state["keepalive"] = t.getTcpKeepAlive()
            state["peer"] = t.getPeer()
            state["host"] = t.getHost()
            state["handle"] = t.getHandle().getsockname()

    factory, port = listen(reactor, Server)
    s = client_socket(port)
    spin(reactor, lambda: "peer" in state)
    assert state["nodelay0"] is False and state["nodelay1"] is True and state["keepalive"] is True
    assert state["peer"] == IPv4Address("TCP", "127.0.0.1", s.getsockname()[1])
    assert state["host"] == IPv4Address("TCP", "127.0.0.1", port.getHost().port)
    assert state["handle"] == ("127.0.0.1", port.getHost().port)
    assert port.getHost() == IPv4Address("TCP", "127.0.0.1", port.getHost().port)
    s.close()


def ipv6_available():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback on this machine")
def test_ipv6_listen_and_connect(reactor, spin):
    events = []

    class Echo(protocol.Protocol):
        def dataReceived(self, data):
            self.transport.write(data)

    class Client(protocol.Protocol):
        def connectionMade(self):
            events.append(self.transport.getPeer())
            self.transport.write(b"six")

        def dataReceived(self, data):
            events.append(data)
            self.transport.loseConnection()

    factory, port = listen(reactor, Echo, interface="::1")
    assert isinstance(port.getHost(), IPv6Address) and port.getHost().host == "::1"
    cf = protocol.ClientFactory.forProtocol(Client)
    cf.noisy = False
    connector = reactor.connectTCP("::1", port.getHost().port, cf)
    spin(reactor, lambda: len(events) == 2)
    assert events[0].host == "::1" and events[0].port == port.getHost().port
    assert events[1] == b"six"
    assert connector.getDestination() == IPv6Address("TCP", "::1", port.getHost().port)


def test_hostname_is_resolved_off_the_loop(reactor, spin):
    events = []

    class Client(protocol.Protocol):
        def connectionMade(self):
            events.append("connected")
            self.transport.loseConnection()

    factory, port = listen(reactor, Collector)
    cf = protocol.ClientFactory.forProtocol(Client)
    cf.noisy = False
    reactor.callWhenRunning(lambda: None)
    connector = reactor.connectTCP("localhost", port.getHost().port, cf)
    assert connector.getDestination().host == "localhost"
    reactor.startRunning(installSignalHandlers=False)
    spin(reactor, lambda: events == ["connected"])


def test_bad_ports_and_interfaces_raise_clear_errors(reactor):
    factory = protocol.Factory.forProtocol(Collector)
    with pytest.raises(ValueError, match="65536"):
        reactor.listenTCP(65536, factory)
    with pytest.raises(ValueError):
        reactor.listenTCP(-1, factory)
    with pytest.raises(TypeError):
        reactor.listenTCP("80", factory)
    with pytest.raises(error.CannotListenError) as info:
        reactor.listenTCP(0, factory, interface="10.255.255.254")   # not an address of this host
    assert "10.255.255.254" in str(info.value)
    with pytest.raises(error.CannotListenError):
        reactor.listenTCP(0, factory, interface="not an address")
    taken = reactor.listenTCP(0, factory, interface="127.0.0.1")
    with pytest.raises(error.CannotListenError) as info:
        reactor.listenTCP(taken.getHost().port, factory, interface="127.0.0.1")
    assert str(taken.getHost().port) in str(info.value)
    assert factory.numPorts == 1        # the failed listens did not start the factory
    cf = protocol.ClientFactory()
    with pytest.raises(ValueError):
        reactor.connectTCP("127.0.0.1", 70000, cf)
    with pytest.raises(TypeError):
        reactor.connectTCP(None, 80, cf)


def test_duck_typed_factories(reactor, spin):
    """The seeds' bare factory class works if it has the methods the reactor calls, and is refused
    with the missing method's name if not."""

    class Bare:
        protocol = Collector

    with pytest.raises(TypeError, match=r"doStart\(\)"):
        reactor.connectTCP("127.0.0.1", 1, Bare())
    with pytest.raises(TypeError, match=r"buildProtocol\(\)"):
        reactor.listenTCP(0, Bare())

    class Duck:
        def __init__(self):
            self.calls = []

        def doStart(self):
            self.calls.append("doStart")

        def doStop(self):
            self.calls.append("doStop")

        def buildProtocol(self, addr):
            self.calls.append("buildProtocol")
            p = Collector()
            p.factory = self
            return p

    duck = Duck()
    port = reactor.listenTCP(0, duck, interface="127.0.0.1")
    s = client_socket(port)
    spin(reactor, lambda: "buildProtocol" in duck.calls)
    s.close()
    d = port.stopListening()
    done = []
    d.addCallback(done.append)
    spin(reactor, lambda: done)
    assert duck.calls == ["doStart", "buildProtocol", "doStop"]


def test_stop_listening_keeps_open_connections(reactor, spin):
    factory, port = listen(reactor, Collector)
    s = client_socket(port)
    spin(reactor, lambda: getattr(factory, "instances", None))
    fired = []
    port.stopListening().addCallback(fired.append)
    spin(reactor, lambda: fired)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port.getHost().port if port.socket.fileno() >= 0 else 1), timeout=1)
    s.sendall(b"still here")
    p = factory.instances[0]
    spin(reactor, lambda: p.received == [b"still here"])
    s.close()
    spin(reactor, lambda: p.reason is not None)


def test_one_broken_connection_does_not_take_the_reactor_down(reactor, spin, caplog):
    class Fragile(protocol.Protocol):
        def dataReceived(self, data):
            if data.startswith(b"bad"):
                raise ValueError("bad input")
            self.transport.write(data)

    factory, port = listen(reactor, Fragile)
    good = client_socket(port)
    bad = client_socket(port)
    bad.sendall(b"bad")
    assert in_thread(reactor, spin, lambda: recv_all(bad)) == b""
    good.sendall(b"ping")
    assert in_thread(reactor, spin, lambda: good.recv(10)) == b"ping"
    assert any("bad input" in (r.exc_text or str(r.exc_info)) for r in caplog.records)
    good.close()
    bad.close()


class DescriptorExhaustion:
    """Lower RLIMIT_NOFILE and fill the table with sockets, leaving `free` descriptors unused."""

    def __init__(self, free):
        self.free = free
        self.hogs = []

    def __enter__(self):
        import os
        import resource
        self.limits = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/dev/fd")) + 32, self.limits[1]))
        try:
            while True:
                self.hogs.append(socket.socket())
        except OSError as e:
            assert e.errno == errno.EMFILE
        for _ in range(self.free):
            self.hogs.pop().close()
        return self

    def release(self, count):
        for _ in range(count):
            self.hogs.pop().close()

    def __exit__(self, *exc):
        import resource
        for h in self.hogs:
            h.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, self.limits)


def accept_cpu_while_iterating(reactor, rounds=30):
    """CPU seconds used by `rounds` iterations of 10 ms: near 0 unless something spins."""
    import time
    cpu0 = time.process_time()
    for _ in range(rounds):
        reactor.iterate(0.01)
    return time.process_time() - cpu0


def test_emfile_on_accept_closes_the_waiting_peer(reactor, spin, caplog):
    """As in Twisted: the port frees its reserved descriptor, accepts the waiting peer, closes it
    at once and takes the reserve back; the peer sees its connection end instead of hanging."""
    import logging

    caplog.set_level(logging.INFO, "fastreactor")
    factory, port = listen(reactor, Collector)
    with DescriptorExhaustion(free=1) as exhaustion:
        c = socket.socket()     # takes the last free descriptor: the accept gets EMFILE
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port.getHost().port))
        cpu = accept_cpu_while_iterating(reactor)
        messages = [r.getMessage() for r in caplog.records]
        assert "EMFILE encountered; releasing reserved file descriptor." in messages
        assert any(m.startswith("EMFILE recovery: Closed socket from ") for m in messages)
        assert "Re-reserving EMFILE recovery file descriptor." in messages
        assert cpu < 0.25, "accept spun on EMFILE (%.2fs CPU in 0.3s)" % cpu
        assert getattr(factory, "instances", None) is None
        c.setblocking(True)
        c.settimeout(5)
        try:
            assert c.recv(10) == b""
        except ConnectionResetError:
            pass
        c.close()
        # Once descriptors are free again the port accepts as usual.
        exhaustion.release(10)
        d = socket.socket()
        d.connect(("127.0.0.1", port.getHost().port))
        spin(reactor, lambda: getattr(factory, "instances", None), timeout=5)
        d.close()


def test_emfile_without_a_reserve_is_logged_and_retried_not_spun(reactor, spin, caplog):
    """With no reserve to shed the backlog with, the port stops watching its socket for a moment
    rather than spinning, and accepts the waiting peer once descriptors are free."""
    import logging

    from fastreactor import _core

    caplog.set_level(logging.INFO, "fastreactor")
    factory, port = listen(reactor, Collector)
    _core._release_emfile_reserve()
    with DescriptorExhaustion(free=1) as exhaustion:
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port.getHost().port))
        cpu = accept_cpu_while_iterating(reactor)
        assert any("Could not accept" in r.getMessage() for r in caplog.records)
        assert cpu < 0.25, "accept spun on EMFILE (%.2fs CPU in 0.3s)" % cpu
        exhaustion.release(10)
        spin(reactor, lambda: getattr(factory, "instances", None), timeout=5)
        c.close()


def test_reuse_port_allows_two_listeners(reactor):
    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT on this platform")
    factory = protocol.Factory.forProtocol(Collector)
    a = reactor.listenTCP(0, factory, interface="127.0.0.1", reusePort=True)
    b = reactor.listenTCP(a.getHost().port, factory, interface="127.0.0.1", reusePort=True)
    assert a.getHost().port == b.getHost().port


def test_replies_leave_when_data_received_returns(reactor, spin):
    """A documented difference from Twisted: what dataReceived writes is sent as soon as it
    returns, so an abort scheduled with callLater(0) after the write no longer drops the reply
    (Twisted sends on the next writability event, after that timer). Write then abort in the same
    callback still drops it, as in Twisted (tests/test_tcp_lifecycle.py)."""

    class ReplyThenAbortLater(protocol.Protocol):
        def dataReceived(self, data):
            self.transport.write(b"reply:" + data)
            reactor.callLater(0, self.transport.abortConnection)

    factory, port = listen(reactor, ReplyThenAbortLater)
    c = client_socket(port)
    c.sendall(b"ping")

    def read():
        chunks = []
        try:
            while chunks[-1:] != [b""]:
                chunks.append(c.recv(100))
        except ConnectionResetError:
            chunks.append(b"<reset>")
        return b"".join(chunks)

    assert in_thread(reactor, spin, read) == b"reply:ping<reset>"
    c.close()


def test_large_reads_arrive_intact_and_unshared(reactor, spin):
    """Reads of every size (the large ones are handed over without a copy) deliver exactly the
    bytes sent, each dataReceived getting its own bytes object."""
    import os
    import sys

    payload = os.urandom(3_000_000) + b"tail"
    got = []

    class Keep(protocol.Protocol):
        def dataReceived(self, data):
            got.append(data)

    factory, port = listen(reactor, Keep)

    def send():
        with socket.create_connection(("127.0.0.1", port.getHost().port)) as c:
            for i in range(0, len(payload), 100_000):
                c.sendall(payload[i:i + 100_000])
    t = threading.Thread(target=send)
    t.start()
    spin(reactor, lambda: sum(map(len, got)) >= len(payload))
    t.join()
    assert b"".join(got) == payload
    assert len({id(g) for g in got}) == len(got)
    assert max(map(len, got)) >= 16384, "no large read happened"
    assert [sys.getrefcount(got[i]) for i in range(5)] == [2] * 5   # the list's and the argument's


def test_add_and_remove_writer_on_a_transport(reactor, spin):
    """IReactorFDSet on the engine's transports, as Twisted code uses it (startWriting/stopWriting
    through the reactor): removeWriter stops watching for writability, addWriter resumes, and
    nothing written is lost."""
    payload = b"w" * (4 << 20)

    class Sender(protocol.Protocol):
        def connectionMade(self):
            self.factory.instances = [self]
            self.transport.write(payload)
            self.transport.loseConnection()

    factory, port = listen(reactor, Sender)
    s = client_socket(port, rcvbuf=4096)
    spin(reactor, lambda: getattr(factory, "instances", None))
    for _ in range(3):
        reactor.iterate(0)
    transport = factory.instances[0].transport
    assert transport.getWriteBufferSize() > 0       # the reader has not read: data is queued
    assert transport in reactor.getWriters()
    reactor.removeWriter(transport)
    assert transport not in reactor.getWriters()
    reactor.removeWriter(transport)                  # no error when not watched
    reactor.addWriter(transport)
    assert transport in reactor.getWriters()
    assert in_thread(reactor, spin, lambda: recv_all(s)) == payload
    s.close()
