"""ALPN on the Twisted face, differential: listenSSL/connectSSL with Twisted's CertificateOptions,
the server's protocols offered through its factory's IProtocolNegotiationFactory and the
client's through `acceptableProtocols`, run on Twisted's EPollReactor and on FastReactor (every
poller); what each side sees (`transport.negotiatedProtocol` in handshakeCompleted and in
dataReceived) must be the same."""
import pytest

pytest.importorskip("OpenSSL", reason="Twisted's TLS needs pyOpenSSL (the test extra, twisted[tls])")
pytest.importorskip("service_identity", reason="Twisted's optionsForClientTLS needs service_identity")
pytest.importorskip("cryptography", reason="test certificates are made with the cryptography package")

from twisted.internet import epollreactor, protocol  # noqa: E402
from twisted.internet import ssl as twisted_ssl  # noqa: E402
from twisted.internet.interfaces import IHandshakeListener, IProtocolNegotiationFactory  # noqa: E402
from twisted.protocols import tls as twisted_tls  # noqa: E402
from zope.interface import implementer  # noqa: E402

import fastreactor  # noqa: E402
from fastreactor.twisted import FastReactor  # noqa: E402
from tls_certs import Certificates  # noqa: E402
from tracing import run_traced  # noqa: E402


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certificates(str(tmp_path_factory.mktemp("certs")))


def _read(path):
    with open(path, "rb") as f:
        return f.read()


class Face:
    def __init__(self, name, make):
        self.name = name
        self.make = make

    def make_reactor(self):
        reactor = self.make()
        if isinstance(reactor, epollreactor.EPollReactor):
            twisted_tls._get_default_clock = lambda: reactor    # its TLS batches writes on it
        return reactor


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
        cert, key = certs.server
        server_options = twisted_ssl.PrivateCertificate.loadPEM(_read(cert) + _read(key)).options()
        ca = twisted_ssl.Certificate.loadPEM(_read(certs.ca))
        client_options = twisted_ssl.optionsForClientTLS("localhost", trustRoot=ca,
                                                         acceptableProtocols=client_offers)
        port = reactor.listenSSL(0, server, server_options, interface="127.0.0.1")
        reactor.connectSSL("127.0.0.1", port.getHost().port, client, client_options)

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
    expected = run_traced(Face("twisted", epollreactor.EPollReactor), scenario, timeout=10)
    actual = run_traced(Face("fastreactor-" + poller, lambda: FastReactor(poller)), scenario, timeout=10)
    assert "TIMEOUT" not in expected and "TIMEOUT" not in actual, (expected, actual)
    assert ("client.handshake", agreed) in expected, expected
    assert sides(actual) == sides(expected)
