"""TLS on the Twisted face: real programs over listenSSL/connectSSL/startTLS on FastReactor —
twisted.web answering curl over HTTPS, treq as an HTTPS client, an `ssl:` server endpoint from
serverFromString, STARTTLS on a live connection — and Twisted's own test_ssl suite under
`trial --reactor=fastreactor`. (Twisted's reactor-level TLS suites, test_tls and the TLS tests of
test_tcp, run in test_twisted_conformance.py.)"""
import datetime
import http.client
import os
import shutil
import ssl as stdlib_ssl
import subprocess
import sys

import pytest

pytest.importorskip("twisted")
pytest.importorskip("OpenSSL", reason="pyOpenSSL is in the test extra (twisted[tls])")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from twisted.internet import defer, endpoints, protocol  # noqa: E402
from twisted.internet import ssl as twisted_ssl  # noqa: E402
from twisted.internet.interfaces import ISSLTransport  # noqa: E402
from twisted.protocols import basic  # noqa: E402
from twisted.web import resource, server  # noqa: E402

import fastreactor  # noqa: E402
from fast_twisted import fast_twisted_reactor  # noqa: E402

from threaded_client import run_with_client  # noqa: E402


@pytest.fixture(params=fastreactor.available_pollers())
def reactor(request):
    with fast_twisted_reactor(request.param) as r:
        yield r


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA and a server certificate for localhost/127.0.0.1 signed by it, as PEM files."""
    directory = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fastreactor test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": directory / "ca.pem", "cert": directory / "cert.pem", "key": directory / "key.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.TraditionalOpenSSL,
                                               serialization.NoEncryption()))
    return {name: str(path) for name, path in paths.items()}


def server_options(pki):
    with open(pki["cert"]) as c, open(pki["key"]) as k:
        return twisted_ssl.PrivateCertificate.loadPEM(c.read() + k.read()).options()


def client_options(pki, hostname="localhost"):
    with open(pki["ca"]) as f:
        ca = twisted_ssl.Certificate.loadPEM(f.read())
    return twisted_ssl.optionsForClientTLS(hostname, trustRoot=ca)


class Hello(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        secure = b"secure" if request.isSecure() else b"clear"
        return b"hello " + request.path + b" " + secure


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (.ci/run installs it)")
def test_web_over_listenSSL_answers_curl(reactor, pki):
    port = reactor.listenSSL(0, server.Site(Hello()), server_options(pki), interface="127.0.0.1")
    url = "https://localhost:%d/path" % (port.getHost().port,)

    def client():
        return subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", pki["ca"],
                               "--resolve", "localhost:%d:127.0.0.1" % port.getHost().port, url],
                              capture_output=True, text=True, timeout=20)

    done = run_with_client(reactor, client, timeout=20)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello /path secure"


def test_web_over_listenSSL_refuses_a_client_that_does_not_trust_it(reactor, pki):
    """A client verifying against the system CAs fails the handshake; the server keeps serving
    a client that trusts it."""
    port = reactor.listenSSL(0, server.Site(Hello()), server_options(pki), interface="127.0.0.1")
    number = port.getHost().port

    def client():
        outcomes = []
        strict = stdlib_ssl.create_default_context()
        try:
            conn = http.client.HTTPSConnection("localhost", number, timeout=5, context=strict)
            conn.request("GET", "/")
            outcomes.append(conn.getresponse().status)
        except stdlib_ssl.SSLError as e:
            outcomes.append(type(e).__name__)
        trusting = stdlib_ssl.create_default_context(cafile=pki["ca"])
        conn = http.client.HTTPSConnection("localhost", number, timeout=5, context=trusting)
        conn.request("GET", "/ok")
        outcomes.append(conn.getresponse().read())
        conn.close()
        return outcomes

    outcomes = run_with_client(reactor, client)
    assert outcomes == ["SSLCertVerificationError", b"hello /ok secure"]


TREQ_PROGRAM = """
import sys
from fastreactor.twisted import install
install()
from twisted.internet import reactor, defer, ssl
from twisted.web import resource, server
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS
import treq

class Hello(resource.Resource):
    isLeaf = True
    def render_GET(self, request):
        return b"hello " + request.path + (b" secure" if request.isSecure() else b" clear")

cert, key, ca = sys.argv[1:4]
with open(cert) as c, open(key) as k:
    options = ssl.PrivateCertificate.loadPEM(c.read() + k.read()).options()
port = reactor.listenSSL(0, server.Site(Hello()), options, interface="127.0.0.1")
with open(ca) as f:
    trust = ssl.Certificate.loadPEM(f.read())
agent = Agent(reactor, contextFactory=BrowserLikePolicyForHTTPS(trustRoot=trust))

@defer.inlineCallbacks
def main():
    try:
        response = yield treq.get("https://localhost:%d/t" % port.getHost().port, agent=agent)
        body = yield response.content()
        print(type(reactor).__name__, response.code, body.decode())
    finally:
        reactor.stop()

reactor.callWhenRunning(main)
reactor.callLater(20, reactor.stop)
reactor.run()
"""


def test_treq_over_https_as_a_program(pki, tmp_path):
    """treq (Agent over HTTPS) against twisted.web on listenSSL, in a program that installs
    FastReactor as the global reactor, as real programs do."""
    pytest.importorskip("treq", reason="treq is in the test extra")
    (tmp_path / "program.py").write_text(TREQ_PROGRAM)
    done = subprocess.run([sys.executable, "program.py", pki["cert"], pki["key"], pki["ca"]],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "FastReactor 200 hello /t secure", done.stdout + done.stderr


def test_ssl_server_endpoint_from_string(reactor, pki):
    description = "ssl:0:interface=127.0.0.1:privateKey=%s:certKey=%s" % (
        pki["key"].replace(":", "\\:"), pki["cert"].replace(":", "\\:"))
    endpoint = endpoints.serverFromString(reactor, description)
    listening = []
    endpoint.listen(server.Site(Hello())).addCallback(listening.append)
    reactor.iterate(0)
    assert listening, "the endpoint did not listen"
    number = listening[0].getHost().port

    def client():
        context = stdlib_ssl.create_default_context(cafile=pki["ca"])
        conn = http.client.HTTPSConnection("localhost", number, timeout=5, context=context)
        conn.request("GET", "/e")
        body = conn.getresponse().read()
        conn.close()
        return body

    assert run_with_client(reactor, client) == b"hello /e secure"


class StartTLSServer(basic.LineReceiver):
    """Answers "STARTTLS" with "GO", switches to TLS, then echoes lines with whether it is
    secure."""

    def lineReceived(self, line):
        if line == b"STARTTLS":
            self.sendLine(b"GO")
            self.transport.startTLS(self.factory.options)
        else:
            self.sendLine(line + (b" secure" if ISSLTransport.providedBy(self.transport) else b" clear"))


class StartTLSClient(basic.LineReceiver):
    def connectionMade(self):
        self.sendLine(b"before")
        self.sendLine(b"STARTTLS")

    def lineReceived(self, line):
        self.factory.lines.append(line)
        if line == b"GO":
            self.transport.startTLS(self.factory.options)
            self.sendLine(b"after")
        elif line.startswith(b"after"):
            self.factory.peer_cert = self.transport.getPeerCertificate()
            self.transport.loseConnection()

    def connectionLost(self, reason):
        self.factory.reason = reason
        self.factory.done.callback(None)


def test_starttls_switches_a_live_connection(reactor, pki):
    server_factory = protocol.ServerFactory.forProtocol(StartTLSServer)
    server_factory.options = server_options(pki)
    port = reactor.listenTCP(0, server_factory, interface="127.0.0.1")
    client_factory = protocol.ClientFactory.forProtocol(StartTLSClient)
    client_factory.options = client_options(pki)
    client_factory.lines = []
    client_factory.done = defer.Deferred().addBoth(lambda _: reactor.stop())
    reactor.connectTCP("127.0.0.1", port.getHost().port, client_factory)
    guard = reactor.callLater(10, reactor.stop)
    reactor.run(installSignalHandlers=False)
    if guard.active():
        guard.cancel()
    assert client_factory.lines == [b"before clear", b"GO", b"after secure"], client_factory.reason
    assert client_factory.peer_cert.get_subject().commonName == "localhost"


def test_twisted_ssl_suite_passes_under_trial_on_fastreactor(tmp_path):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-m", "twisted.trial", "--reactor=fastreactor",
                             "twisted.test.test_ssl"], cwd=str(tmp_path), env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("PASSED") and "successes=" in last, last
