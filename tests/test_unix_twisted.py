"""UNIX sockets on the Twisted face: real Twisted programs (twisted.web on listenUNIX answering
curl --unix-socket, a `unix:` endpoint from serverFromString), Twisted's own reprs and log lines,
and Twisted's UNIX test modules under `trial --reactor=fastreactor`."""
import os
import shutil
import socket
import subprocess
import sys

import pytest

pytest.importorskip("twisted")

from twisted.internet import defer, endpoints, protocol  # noqa: E402
from twisted.internet.error import ConnectionDone  # noqa: E402
from twisted.internet.interfaces import IFileDescriptorReceiver, IUNIXTransport  # noqa: E402
from twisted.python import log  # noqa: E402
from twisted.web import resource, server  # noqa: E402
from zope.interface import implementer  # noqa: E402

import fastreactor  # noqa: E402
from fastreactor.twisted import FastReactor  # noqa: E402
from fast_twisted import fast_twisted_reactor  # noqa: E402
from unix_helpers import socket_path  # noqa: E402
from threaded_client import run_with_client  # noqa: E402


@pytest.fixture(params=fastreactor.available_pollers())
def reactor(request):
    with fast_twisted_reactor(request.param) as r:
        yield r


class Hello(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/plain")
        return b"hello " + request.path

    def render_POST(self, request):
        return b"got %d" % len(request.content.read())


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl program (Debian package curl)")
def test_web_on_listenUNIX_answers_curl(reactor):
    path = socket_path()
    reactor.listenUNIX(path, server.Site(Hello()), mode=0o600)

    def client():
        outputs = []
        for args in (["http://localhost/a/b"],
                     ["-X", "POST", "--data-binary", "@-", "http://localhost/upload"]):
            result = subprocess.run(["curl", "-sS", "--max-time", "10", "--unix-socket", path] + args,
                                    input=b"x" * 200000, capture_output=True, timeout=20)
            outputs.append((result.returncode, result.stdout, result.stderr))
        return outputs

    outputs = run_with_client(reactor, client, timeout=30)
    assert outputs[0][:2] == (0, b"hello /a/b"), outputs[0]
    assert outputs[1][:2] == (0, b"got 200000"), outputs[1]


def test_unix_server_endpoint_from_string(reactor):
    path = socket_path()
    lock = path + ".lock"

    class Echo(protocol.Protocol):
        def dataReceived(self, data):
            self.transport.write(data)

    endpoint = endpoints.serverFromString(reactor, "unix:%s:mode=600:lockfile=1" % (path,))
    ports = []
    endpoint.listen(protocol.Factory.forProtocol(Echo)).addCallback(ports.append)
    assert ports and os.path.exists(path) and os.path.lexists(lock)
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o600)

    def client():
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(5)
        c.connect(path)
        c.sendall(b"through the endpoint")
        got = b""
        while len(got) < 20:
            got += c.recv(100)
        c.close()
        return got

    assert run_with_client(reactor, client) == b"through the endpoint"
    ports[0].stopListening()
    reactor.iterate(0)
    reactor.iterate(0)
    assert not os.path.exists(path) and not os.path.lexists(lock)


def test_unix_client_endpoint_and_descriptor_passing_between_twisted_protocols(reactor):
    """Twisted's own endpoints on both sides; a descriptor passed from client to server."""
    path = socket_path()
    received = defer.Deferred()

    @implementer(IFileDescriptorReceiver)
    class Receiver(protocol.Protocol):
        def fileDescriptorReceived(self, fd):
            self.fd = fd

        def dataReceived(self, data):
            received.callback((self.fd, data))

    class Sender(protocol.Protocol):
        def connectionMade(self):
            assert IUNIXTransport.providedBy(self.transport)
            self.transport.sendFileDescriptor(self.factory.fd)
            self.transport.write(b"!")

    r, w = os.pipe()
    sender_factory = protocol.Factory.forProtocol(Sender)
    sender_factory.fd = w
    endpoints.UNIXServerEndpoint(reactor, path).listen(protocol.Factory.forProtocol(Receiver))
    endpoints.UNIXClientEndpoint(reactor, path).connect(sender_factory)
    results = []
    received.addCallback(results.append)
    received.addBoth(lambda _: reactor.stop())
    reactor.callLater(10, reactor.stop)
    reactor.run(installSignalHandlers=False)
    fd, data = results[0]
    assert data == b"!"
    os.close(w)
    os.write(fd, b"via the copy")
    os.close(fd)
    assert os.read(r, 100) == b"via the copy"
    os.close(r)


def test_port_repr_and_log_lines(reactor):
    events = []
    log.addObserver(events.append)
    try:
        path = socket_path()
        factory = protocol.Factory.forProtocol(protocol.Protocol)
        port = reactor.listenUNIX(path, factory)
        assert repr(port) == "<twisted.internet.protocol.Factory on %r>" % (path,)
        done = []
        port.stopListening().addCallback(done.append)
        reactor.iterate(0)
        reactor.iterate(0)
        assert done
        assert repr(port) == "<twisted.internet.protocol.Factory (not listening)>"
    finally:
        log.removeObserver(events.append)
    messages = [" ".join(e.get("message", ())) for e in events]
    assert "Factory starting on %r" % (path,) in messages
    assert "(UNIX Port %s Closed)" % (path,) in messages


def test_port_closed_from_its_factory_and_client_sees_connection_done(reactor):
    """What Twisted's RealSocketTests.test_closePortInProtocolFactory checks, without its
    isinstance(port, twisted.internet.tcp.Port)."""
    path = socket_path()
    lost = []

    class ClosingFactory(protocol.ServerFactory):
        def buildProtocol(self, addr):
            self.port.loseConnection()
            return protocol.ServerFactory.buildProtocol(self, addr)

    class Client(protocol.ClientFactory):
        protocol = protocol.Protocol

        def clientConnectionLost(self, connector, reason):
            lost.append(reason)
            reactor.stop()

    f = ClosingFactory()
    f.protocol = type("Closes", (protocol.Protocol,), {
        "connectionMade": lambda self: self.transport.loseConnection()})
    f.port = reactor.listenUNIX(path, f)
    reactor.connectUNIX(path, Client())
    reactor.callLater(10, reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert lost and lost[0].check(ConnectionDone)
    assert f.port.disconnected
    assert not os.path.exists(path)



# ---- Twisted's UNIX modules under trial ------------------------------------------------------------

# Twisted's module-level (global reactor) UNIX tests. Under trial, twisted.internet.test.test_unix's
# ReactorBuilder classes are built only for Twisted's reactors (they run against FastReactor in
# tests/test_twisted_conformance.py); its RealSocketTests use the global reactor and run here.
TRIAL_TESTS = ["twisted.test.test_unix",
               "twisted.internet.test.test_unix.RealSocketTests.test_Failing",
               "twisted.internet.test.test_unix.RealSocketTests.test_tcpKeepAlive",
               "twisted.internet.test.test_unix.RealSocketTests.test_tcpNoDelay"]
# RealSocketTests.test_closePortInProtocolFactory is left out: it asserts isinstance(port,
# twisted.internet.tcp.Port) (see SKIPS in test_twisted_conformance.py).

# Tests expected not to pass under trial, with why (the same entries as SKIPS there).
TRIAL_EXPECTED_ERRORS = {
    "twisted.test.test_unix.UnixSocketTests.test_reprWithNewStyleFactory":
        "DESIGN: the factory has no buildProtocol; listenUNIX refuses it at the call",
}
if not hasattr(FastReactor, "spawnProcess"):
    for _name in ("test_uncleanServerSocketLocking", "test_connectToUncleanServer"):
        TRIAL_EXPECTED_ERRORS["twisted.test.test_unix.UnixSocketTests." + _name] = (
            "WAITS FOR IReactorProcess: getProcessValue needs reactor.spawnProcess")


def trial_outcomes(stdout):
    """{test id: 'OK'/'ERROR'/'FAIL'/'SKIPPED'/...} from trial's verbose output."""
    outcomes = {}
    section = None
    for line in stdout.splitlines():
        if line.startswith("[") and line.endswith("]") and " " not in line:
            section = line.strip("[]")
        elif section and line.startswith("twisted.") and " " not in line:
            outcomes[line] = section
    return outcomes


def test_twisteds_unix_suites_under_trial_on_fastreactor(tmp_path):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-m", "twisted.trial", "--reactor=fastreactor"] + TRIAL_TESTS,
                            cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    out = result.stdout
    last = out.strip().splitlines()[-1]
    listed = trial_outcomes(out)    # trial lists the tests of each non-OK outcome under [OUTCOME]
    problems = {name: kind for name, kind in listed.items()
                if kind in ("ERROR", "FAIL") and name not in TRIAL_EXPECTED_ERRORS}
    assert not problems, out[-4000:] + result.stderr[-2000:]
    for name in TRIAL_EXPECTED_ERRORS:
        assert listed.get(name) == "ERROR", (name, last)
    assert "successes=" in last, last
    successes = int(last.split("successes=")[1].split(")")[0].split(",")[0])
    assert successes >= 7, last     # peerBind, dumber, pidFile, socketLocking and RealSocketTests
