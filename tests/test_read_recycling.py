"""The read path reuses a bytes object nobody else holds (src/recycle.h): after dataReceived, a
received bytes that neither the protocol nor the write queue kept, or a sent chunk whose only
reference was the queue, becomes the spare, and the next read of exactly its size is copied into
it. These tests drive a server in lockstep from a raw socket peer with same-size messages of
different contents (so the spare is reused on every message) and check that no protocol can see
the reuse: a cached hash is not kept across contents, and an object the protocol keeps (itself, a
memoryview of it, a dict key) never changes."""
import os
import socket
import tempfile

import pytest

from conftest import run_until
from fastreactor.protocol import DatagramProtocol, Factory, Protocol

SIZE = 1024
MESSAGES = 200


def message(i):
    """SIZE bytes that differ from every other message's."""
    return (b"%06d" % i) * (SIZE // 6) + b"x" * (SIZE % 6)


def serve(reactor, kind, protocol_class):
    """Listen (TCP or UNIX); return (the server protocol, a connected raw peer)."""
    servers = []

    class F(Factory):
        def buildProtocol(self, addr):
            p = protocol_class()
            p.factory = self
            servers.append(p)
            return p

    if kind == "tcp":
        port = reactor.listenTCP(0, F(), interface="127.0.0.1")
        peer = socket.create_connection(("127.0.0.1", port.getHost().port))
    else:
        path = os.path.join(tempfile.mkdtemp(prefix="frrecycle"), "s")
        reactor.listenUNIX(path, F())
        peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        peer.connect(path)
    peer.settimeout(10)
    run_until(reactor, lambda: servers and servers[0].transport is not None)
    return servers[0], peer


def lockstep(reactor, server, peer, reply_size):
    """Send the messages one at a time, waiting each time until the server has it (and, if it
    replies, reading the reply of `reply_size` bytes)."""
    for i in range(MESSAGES):
        peer.sendall(message(i))
        run_until(reactor, lambda: server.received >= (i + 1) * SIZE)
        if reply_size:
            got = b""
            while len(got) < reply_size:
                run_until(reactor, lambda: True)
                got += peer.recv(reply_size - len(got))
            assert got == message(i)[:reply_size]


class HashingEcho(Protocol):
    """Echoes, after hashing what it got: the hash must be that of the contents it has now."""

    def __init__(self):
        self.received = 0
        self.stale = []

    def dataReceived(self, data):
        self.received += len(data)
        if hash(data) != hash(bytes(bytearray(data))):
            self.stale.append(self.received)
        self.transport.write(data)


class Keeper(Protocol):
    """Keeps every bytes object it gets, with a private copy of its contents at arrival."""

    def __init__(self):
        self.received = 0
        self.kept = []

    def dataReceived(self, data):
        self.received += len(data)
        self.kept.append((data, bytes(bytearray(data))))


class ViewKeeper(Keeper):
    """Keeps only a memoryview of each bytes object (the view holds the object)."""

    def dataReceived(self, data):
        self.received += len(data)
        self.kept.append((memoryview(data), bytes(bytearray(data))))


class KeyKeeper(Protocol):
    """Uses each bytes object as a dict key, and echoes it (so the queue lets go of it too)."""

    def __init__(self):
        self.received = 0
        self.keys = {}

    def dataReceived(self, data):
        self.received += len(data)
        self.keys[data] = self.received
        self.transport.write(data)


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_a_reused_object_has_the_hash_of_its_new_contents(reactor, kind):
    server, peer = serve(reactor, kind, HashingEcho)
    with peer:
        lockstep(reactor, server, peer, SIZE)
    assert server.stale == []


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_data_the_protocol_keeps_never_changes(reactor, kind):
    server, peer = serve(reactor, kind, Keeper)
    with peer:
        lockstep(reactor, server, peer, 0)
    assert [bytes(d) for d, _ in server.kept] == [copy for _, copy in server.kept]
    assert b"".join(copy for _, copy in server.kept) == b"".join(message(i) for i in range(MESSAGES))


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_data_behind_a_kept_memoryview_never_changes(reactor, kind):
    server, peer = serve(reactor, kind, ViewKeeper)
    with peer:
        lockstep(reactor, server, peer, 0)
    assert [bytes(v) for v, _ in server.kept] == [copy for _, copy in server.kept]


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_dict_keys_stay_what_they_were(reactor, kind):
    server, peer = serve(reactor, kind, KeyKeeper)
    with peer:
        lockstep(reactor, server, peer, SIZE)
    assert len(server.keys) == MESSAGES
    for i in range(MESSAGES):
        assert server.keys[message(i)] == (i + 1) * SIZE


class DatagramHashingEcho(DatagramProtocol):
    """Echoes each datagram after hashing it; keeps nothing."""

    def __init__(self):
        self.received = 0
        self.stale = []

    def datagramReceived(self, data, addr):
        self.received += len(data)
        if hash(data) != hash(bytes(bytearray(data))):
            self.stale.append(self.received)
        self.transport.write(data, addr)


class DatagramKeeper(DatagramProtocol):
    """Keeps every datagram and a copy of it; echoes it too (the reply batch lets go of it)."""

    def __init__(self):
        self.received = 0
        self.kept = []

    def datagramReceived(self, data, addr):
        self.received += len(data)
        self.kept.append((data, bytes(bytearray(data))))
        self.transport.write(data, addr)


def datagram_lockstep(reactor, protocol):
    port = reactor.listenUDP(0, protocol, interface="127.0.0.1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.settimeout(10)
        for i in range(MESSAGES):
            peer.sendto(message(i), ("127.0.0.1", port.getHost().port))
            run_until(reactor, lambda: protocol.received >= (i + 1) * SIZE)
            assert peer.recv(SIZE + 1) == message(i)
    port.stopListening()


def test_a_reused_datagram_has_the_hash_of_its_new_contents(reactor):
    protocol = DatagramHashingEcho()
    datagram_lockstep(reactor, protocol)
    assert protocol.stale == []


def test_datagrams_the_protocol_keeps_never_change(reactor):
    protocol = DatagramKeeper()
    datagram_lockstep(reactor, protocol)
    assert [bytes(d) for d, _ in protocol.kept] == [copy for _, copy in protocol.kept]
    assert [copy for _, copy in protocol.kept] == [message(i) for i in range(MESSAGES)]
