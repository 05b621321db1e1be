"""KeyboardInterrupt and SystemExit raised by a callback (dataReceived, connectionMade, a timer)
are not swallowed: they end iterate() or run(). The engine must stay consistent behind them: the
handle being dispatched and the "inside dataReceived" state are restored, so iterate() and run()
work afterwards and later writes, on that connection and on others, are sent."""
import socket
from contextlib import contextmanager

import pytest

import fastreactor.protocol
from conftest import run_until

INTERRUPTS = [KeyboardInterrupt, SystemExit]

class Interrupting(fastreactor.protocol.Protocol):
    """Echoes; raises `interrupt` from the callback named `at` the first time it runs."""

    at = None
    interrupt = KeyboardInterrupt
    instances = None

    def __init__(self):
        self.received = b""
        self.lost = []
        self.instances.append(self)

    def maybe_interrupt(self, where):
        cls = type(self)
        if cls.at == where:
            cls.at = None
            raise cls.interrupt("from %s" % where)

    def connectionMade(self):
        self.maybe_interrupt("connectionMade")

    def dataReceived(self, data):
        self.received += data
        self.maybe_interrupt("dataReceived")
        self.transport.write(data)

    def connectionLost(self, reason):
        self.lost.append(reason)


def server(reactor, at, interrupt):
    """A listening port whose protocols interrupt at `at`; (port, list of protocols)."""
    instances = []
    cls = type("Server", (Interrupting,), {"at": at, "interrupt": interrupt,
                                          "instances": instances})
    port = reactor.listenTCP(0, fastreactor.protocol.Factory.forProtocol(cls),
                             interface="127.0.0.1")
    return port, instances


def connect(port):
    s = socket.create_connection(("127.0.0.1", port.getHost().port))
    s.settimeout(2)     # replies are read after the reactor has sent them
    return s


@contextmanager
def served(reactor, at, interrupt):
    """A server (see `server`) and one connected peer socket, closed on exit: yields
    (port, protocols, peer)."""
    port, protocols = server(reactor, at, interrupt)
    peer = connect(port)
    try:
        yield port, protocols, peer
    finally:
        peer.close()


def iterate_until_interrupted(reactor, interrupt, timeout=5.0):
    with pytest.raises(interrupt):
        run_until(reactor, lambda: False, timeout=timeout)


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def assert_still_serving(reactor, port, protocols, peer):
    """The connection behind `peer` and a new one both get their writes through."""
    protocols[0].transport.write(b"outside")
    reactor.iterate(0)
    reactor.iterate(0.01)
    assert recv_exactly(peer, 7) == b"outside"
    peer.sendall(b"echo me")
    run_until(reactor, lambda: protocols[0].received.endswith(b"echo me"), timeout=5)
    reactor.iterate(0.01)
    assert recv_exactly(peer, 7) == b"echo me"
    other = connect(port)
    try:
        other.sendall(b"second")
        for _ in range(50):
            reactor.iterate(0.01)
            if len(protocols) > 1 and protocols[1].received == b"second":
                break
        reactor.iterate(0.01)
        assert recv_exactly(other, 6) == b"second"
    finally:
        other.close()


@pytest.mark.parametrize("interrupt", INTERRUPTS, ids=lambda e: e.__name__)
def test_interrupt_from_data_received(reactor, interrupt):
    with served(reactor, "dataReceived", interrupt) as (port, protocols, peer):
        peer.sendall(b"x")
        iterate_until_interrupted(reactor, interrupt)
        assert protocols[0].received == b"x"
        assert protocols[0].lost == []
        assert_still_serving(reactor, port, protocols, peer)


@pytest.mark.parametrize("where", ["dataReceived", "connectionMade"])
@pytest.mark.parametrize("interrupt", INTERRUPTS, ids=lambda e: e.__name__)
def test_dispatching_handle_is_restored(reactor, interrupt, where):
    with served(reactor, where, interrupt) as (port, protocols, peer):
        peer.sendall(b"x")
        iterate_until_interrupted(reactor, interrupt)
        assert reactor._dispatchingHandle() is None


@pytest.mark.parametrize("interrupt", INTERRUPTS, ids=lambda e: e.__name__)
def test_interrupt_from_connection_made(reactor, interrupt):
    with served(reactor, "connectionMade", interrupt) as (port, protocols, peer):
        iterate_until_interrupted(reactor, interrupt)
        assert len(protocols) == 1
        assert_still_serving(reactor, port, protocols, peer)


@pytest.mark.parametrize("interrupt", INTERRUPTS, ids=lambda e: e.__name__)
def test_interrupt_from_a_timer(reactor, interrupt):
    ran = []
    with served(reactor, None, interrupt) as (port, protocols, peer):
        run_until(reactor, lambda: protocols, timeout=5)

        def boom():
            raise interrupt("from a timer")

        reactor.callLater(0, boom)
        reactor.callLater(0, ran.append, "same pass")
        iterate_until_interrupted(reactor, interrupt)
        reactor.callLater(0, ran.append, "later")
        run_until(reactor, lambda: "later" in ran, timeout=5)
        assert sorted(ran) == ["later", "same pass"]
        assert reactor._dispatchingHandle() is None
        assert_still_serving(reactor, port, protocols, peer)


@pytest.mark.parametrize("interrupt", INTERRUPTS, ids=lambda e: e.__name__)
def test_run_after_an_interrupt_escaped_run(reactor, interrupt):
    with served(reactor, "dataReceived", interrupt) as (port, protocols, peer):
        peer.sendall(b"x")
        with pytest.raises(interrupt):
            reactor.run(installSignalHandlers=False)
        ran = []
        reactor.callLater(0.01, ran.append, "timer")
        reactor.callLater(0.05, reactor.stop)
        reactor.run(installSignalHandlers=False)
        assert ran == ["timer"]


@pytest.mark.parametrize("interrupt", INTERRUPTS, ids=lambda e: e.__name__)
def test_interrupt_from_data_received_through_run(reactor, interrupt):
    """The interrupt ends run(); iterate() serves the connection afterwards."""
    with served(reactor, "dataReceived", interrupt) as (port, protocols, peer):
        peer.sendall(b"x")
        with pytest.raises(interrupt):
            reactor.run(installSignalHandlers=False)
        assert_still_serving(reactor, port, protocols, peer)
