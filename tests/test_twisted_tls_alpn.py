"""ALPN on the Twisted face, differential: listenSSL/connectSSL with Twisted's CertificateOptions,
the server's protocols offered through its factory's IProtocolNegotiationFactory and the
client's through `acceptableProtocols`, run on Twisted's EPollReactor and on FastReactor (every
poller); what each side sees (`transport.negotiatedProtocol` in handshakeCompleted and in
dataReceived) must be the same."""
import pytest

from tls_oracle import client_options, epoll_reactor, server_options

from twisted.internet import protocol
from twisted.internet.interfaces import IHandshakeListener, IProtocolNegotiationFactory
from zope.interface import implementer

import fastreactor
from fastreactor.twisted import FastReactor
from tls_certs import Certificates
from tracing import run_traced


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certificates(str(tmp_path_factory.mktemp("certs")))


class Face:
    def __init__(self, name, make):
        self.name = name
        self.make_reactor = make


@implementer(IHandshakeListener)
class Recorder(protocol.Protocol):
    def handshakeCompleted(self):
        self.factory.trace.append((self.side + ".handshake", self.transport.negotiatedProtocol))
        if self.side == "client":
            self.transport.write(b"hello")

    def dataReceived(self, data):
        self.factory.trace.append((self.side + ".data", data, self.transport.negotiatedProtocol))
        if self.side == "server":
            self.transport.write(data)
        else:
            self.transport.loseConnection()

    def connectionLost(self, reason):
        self.factory.trace.append((self.side + ".lost", type(reason.value).__name__))
        self.factory.lost()


@implementer(IProtocolNegotiationFactory)
class NegotiatingServerFactory(protocol.Factory):
    noisy = False

    def __init__(self, offered):
        self.offered = offered

    def acceptableProtocols(self):
        return self.offered


def scenario_for(certs, server_offers, client_offers):
    def scenario(reactor, face, trace, done):
        ends = []

        def lost():
            ends.append(1)
            if len(ends) == 2:
                done()

        server = NegotiatingServerFactory(server_offers)
        server.protocol = type("Server", (Recorder,), {"side": "server"})
        server.trace, server.lost = trace, lost
        client = protocol.ClientFactory()
        client.noisy = False
        client.protocol = type("Client", (Recorder,), {"side": "client"})
        client.trace, client.lost = trace, lost
        port = reactor.listenSSL(0, server, server_options(certs), interface="127.0.0.1")
        reactor.connectSSL("127.0.0.1", port.getHost().port, client,
                           client_options(certs, acceptableProtocols=client_offers))

    return scenario


def sides(trace):
    return (sorted(e for e in trace if e[0].startswith("server")),
            sorted(e for e in trace if e[0].startswith("client")))


@pytest.mark.parametrize("server_offers,client_offers,agreed", [
    ([b"h2", b"http/1.1"], [b"http/1.1"], b"http/1.1"),
    ([b"h2", b"http/1.1"], [b"h2", b"http/1.1"], b"h2"),
    ([b"x-only-server"], None, None),
])
@pytest.mark.parametrize("poller", fastreactor.available_pollers())
def test_alpn_through_the_factory_matches_twisted(certs, poller, server_offers, client_offers, agreed):
    scenario = scenario_for(certs, server_offers, client_offers)
    expected = run_traced(Face("twisted", epoll_reactor), scenario, timeout=10)
    actual = run_traced(Face("fastreactor-" + poller, lambda: FastReactor(poller)), scenario, timeout=10)
    assert "TIMEOUT" not in expected and "TIMEOUT" not in actual, (expected, actual)
    assert ("client.handshake", agreed) in expected, expected
    assert sides(actual) == sides(expected)
