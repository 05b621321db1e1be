"""The Twisted face's stream transports keep no instance dict unless a program hangs its own
attribute on one: a dict, once made, costs every `self.transport.write` lookup a dict probe
(~245 instructions per echoed message over UNIX sockets, when the adopted-connection check read
`__dict__`). Server, client and adopted transports, TCP and UNIX, after data went both ways."""
import gc
import socket

import pytest

pytest.importorskip("twisted")

from twisted.internet import protocol  # noqa: E402

import fastreactor  # noqa: E402
from conftest import run_until  # noqa: E402
from fast_twisted import fast_twisted_reactor  # noqa: E402
from unix_helpers import socket_path  # noqa: E402


def has_instance_dict(transport):
    """Whether `transport` has an instance dict, without making one (reading `__dict__` would)."""
    return any(type(r) is dict for r in gc.get_referents(transport))


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


class Collect(protocol.Protocol):
    def connectionMade(self):
        self.received = b""
        self.transport.write(b"ping")

    def dataReceived(self, data):
        self.received += data


@pytest.fixture(params=fastreactor.available_pollers())
def reactor(request):
    with fast_twisted_reactor(request.param) as r:
        yield r


class Building(protocol.ClientFactory):
    """Builds `protocol_class` for every connection and keeps each protocol in `made`."""

    def __init__(self, protocol_class, made):
        self.protocol_class = protocol_class
        self.made = made

    def buildProtocol(self, addr):
        p = self.protocol_class()
        self.made.append(p)
        return p


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_connected_transports_have_no_instance_dict(reactor, kind):
    servers, clients = [], []
    if kind == "tcp":
        port = reactor.listenTCP(0, Building(Echo, servers), interface="127.0.0.1")
        reactor.connectTCP("127.0.0.1", port.getHost().port, Building(Collect, clients))
    else:
        path = socket_path()
        port = reactor.listenUNIX(path, Building(Echo, servers))
        reactor.connectUNIX(path, Building(Collect, clients))
    run_until(reactor, lambda: clients and clients[0].received == b"ping")
    for transport in (servers[0].transport, clients[0].transport):
        assert not has_instance_dict(transport), transport
    # The check can fail: an attribute of the program's own makes the dict.
    servers[0].transport.mine = 1
    assert has_instance_dict(servers[0].transport)


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_UNIX])
def test_adopted_transports_have_no_instance_dict(reactor, family):
    made = []
    ours, peer = socket.socketpair(family) if family == socket.AF_UNIX else tcp_pair()
    try:
        ours.setblocking(False)
        reactor.adoptStreamConnection(ours.fileno(), family, Building(Echo, made))
        ours.close()
        peer.sendall(b"ping")
        peer.settimeout(10)
        run_until(reactor, lambda: made and made[0].transport is not None)
        got = b""
        while got != b"ping":
            reactor.iterate(0.01)
            try:
                got += peer.recv(4, socket.MSG_DONTWAIT)
            except BlockingIOError:
                pass
        assert not has_instance_dict(made[0].transport), made[0].transport
    finally:
        peer.close()


def tcp_pair():
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    return server, client
