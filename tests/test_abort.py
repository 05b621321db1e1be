"""abortConnection() is final: from the call on nothing more is sent, nothing re-arms the
descriptor (a later loseConnection(), resumeProducing(), write(), registerProducer(), startWriting
or addReader/addWriter), and connectionLost gets ConnectionAborted.

Runs on the native face and on the Twisted face. The Twisted face's transport carries an
`_aborted` workaround for this (it ignores loseConnection() after an abort); it is bypassed here,
so what is tested is the engine.
"""
import socket

import pytest

import fastreactor
import fastreactor.protocol
from fastreactor import _core
from conftest import run_until

twisted_protocol = pytest.importorskip("twisted.internet.protocol")
from fastreactor.twisted import FastReactor  # noqa: E402
from fastreactor.twisted._tcp import TCPTransport  # noqa: E402


class PullProducer:
    """A pull producer that writes each time it is asked."""

    def __init__(self, transport, log):
        self.transport = transport
        self.log = log

    def resumeProducing(self):
        self.log.append("resumeProducing")
        self.transport.write(b"pulled")

    def stopProducing(self):
        self.log.append("stopProducing")


class PushProducer(PullProducer):
    def pauseProducing(self):
        self.log.append("pauseProducing")


def later_lose(reactor, transport, log):
    transport.loseConnection()


def later_resume(reactor, transport, log):
    transport.resumeProducing()


def later_write(reactor, transport, log):
    transport.write(b"after abort")
    transport.writeSequence([b"after", b" abort"])


def later_pull_producer(reactor, transport, log):
    transport.registerProducer(PullProducer(transport, log), False)


def later_push_producer(reactor, transport, log):
    transport.registerProducer(PushProducer(transport, log), True)


def later_add_writer(reactor, transport, log):
    reactor.addWriter(transport)


def later_add_reader(reactor, transport, log):
    reactor.addReader(transport)


def later_lose_write(reactor, transport, log):
    transport.loseWriteConnection()


def later_everything(reactor, transport, log):
    """Every later call, one after the other (the push producer swapped for a pull one)."""
    later_push_producer(reactor, transport, log)
    for action in (later_write, later_lose, later_resume, later_pull_producer, later_add_writer,
                   later_add_reader, later_lose_write):
        if action is later_pull_producer:
            transport.unregisterProducer()
        action(reactor, transport, log)


LATER = {
    "loseConnection": later_lose,
    "resumeProducing": later_resume,
    "write": later_write,
    "pull producer": later_pull_producer,
    "push producer": later_push_producer,
    "addWriter": later_add_writer,
    "addReader": later_add_reader,
    "loseWriteConnection": later_lose_write,
    "everything": later_everything,
}

def make_face(name, poller, monkeypatch):
    """(reactor, protocol module) of the face; on the Twisted face the transport's own
    `_aborted` workaround is bypassed so the engine is what is tested."""
    if name == "native":
        return fastreactor.Reactor(poller), fastreactor.protocol
    if "_aborted" in getattr(TCPTransport, "__slots__", ()):
        monkeypatch.setattr(TCPTransport, "abortConnection", _core.TCPConnection.abortConnection)
        monkeypatch.setattr(TCPTransport, "loseConnection", _core.TCPConnection.loseConnection)
    return FastReactor(poller), twisted_protocol


def peer_bytes(peer):
    """Everything the peer can still read, until EOF or the reset."""
    data = b""
    while True:
        try:
            chunk = peer.recv(65536)
        except ConnectionResetError:
            return data, "RST"
        except socket.timeout:
            return data, "open"
        if not chunk:
            return data, "EOF"
        data += chunk


@pytest.mark.parametrize("face", ["native", "twisted"])
@pytest.mark.parametrize("later", sorted(LATER))
def test_nothing_after_abort(poller, face, later, monkeypatch, request):
    reactor, P = make_face(face, poller, monkeypatch)
    protocols = []
    log = []

    class Server(P.Protocol):
        def __init__(self):
            self.received = []
            self.lost = []
            protocols.append(self)

        def dataReceived(self, data):
            self.received.append(data)

        def connectionLost(self, reason):
            self.lost.append(reason)

    port = reactor.listenTCP(0, P.Factory.forProtocol(Server), interface="127.0.0.1")
    peer = socket.create_connection(("127.0.0.1", port.getHost().port))
    peer.settimeout(0.5)
    try:
        run_until(reactor, lambda: protocols, timeout=5)
        server = protocols[0]
        transport = server.transport
        transport.write(b"dropped by the abort")
        transport.abortConnection()
        LATER[later](reactor, transport, log)
        assert transport not in reactor.getWriters()
        assert transport not in reactor.getReaders()
        peer.sendall(b"to an aborted connection")
        for _ in range(5):
            reactor.iterate(0.01)
            assert transport not in reactor.getWriters()
            assert transport not in reactor.getReaders()
        run_until(reactor, lambda: server.lost, timeout=5)
        assert len(server.lost) == 1
        assert type(server.lost[0].value).__name__ == "ConnectionAborted"
        assert server.received == []
        for _ in range(5):
            reactor.iterate(0.01)
        assert transport not in reactor.getWriters()
        assert transport not in reactor.getReaders()
        data, end = peer_bytes(peer)
        assert data == b""
        assert end == "RST"
        if "producer" in later or later == "everything":
            assert log[-1] == "stopProducing"
    finally:
        peer.close()
        port.stopListening()
        for _ in range(3):
            reactor.iterate(0)
        reactor.close()


@pytest.mark.parametrize("face", ["native", "twisted"])
def test_abort_from_data_received_then_lose(poller, face, monkeypatch):
    """abortConnection() then loseConnection() inside dataReceived (where writes are flushed
    when it returns): the reason is ConnectionAborted and nothing is sent."""
    reactor, P = make_face(face, poller, monkeypatch)
    lost = []

    class Server(P.Protocol):
        def dataReceived(self, data):
            self.transport.write(b"reply")
            self.transport.abortConnection()
            self.transport.write(b"more")
            self.transport.loseConnection()

        def connectionLost(self, reason):
            lost.append(reason)

    port = reactor.listenTCP(0, P.Factory.forProtocol(Server), interface="127.0.0.1")
    peer = socket.create_connection(("127.0.0.1", port.getHost().port))
    peer.settimeout(0.5)
    try:
        peer.sendall(b"go")
        run_until(reactor, lambda: lost, timeout=5)
        assert type(lost[0].value).__name__ == "ConnectionAborted"
        assert peer_bytes(peer) == (b"", "RST")
    finally:
        peer.close()
        port.stopListening()
        for _ in range(3):
            reactor.iterate(0)
        reactor.close()
