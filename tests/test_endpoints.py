"""fastreactor.endpoints: the description strings parse as Twisted parses them (same endpoint
parameters for the same strings), bad strings fail naming the part, and TCP endpoints work end
to end; UNIX/SSL endpoints reach the reactor's method or fail naming it."""
import os
import shutil
import socket
import subprocess

import pytest

import fastreactor
from fastreactor import endpoints as f_endpoints
from fastreactor import protocol as f_protocol
from fastreactor.internet import MissingReactorMethod

from twisted.internet import endpoints as t_endpoints
from twisted.internet import epollreactor

from conftest import run_until
from twisted_cleanup import dispose_twisted_reactor

SERVER_ATTRS = ("_port", "_backlog", "_interface", "_address", "_mode", "_wantPID")
CLIENT_ATTRS = ("_host", "_port", "_timeout", "_bindAddress", "_path", "_checkPID")

SERVER_STRINGS = [
    "tcp:8000",
    "tcp:8000:interface=127.0.0.1",
    "tcp:port=8000:backlog=7",
    "tcp:0:interface=127.0.0.1:backlog=100",
    "tcp:80:127.0.0.1:9",                       # interface and backlog may be positional
    "unix:/a.sock:640:5:0",
    "tcp6:8080",
    "tcp6:8080:interface=\\:\\:1",
    "unix:/run/app.sock",
    "unix:/run/app.sock:mode=660:lockfile=1",
    "unix:/run/app.sock:mode=600:lockfile=0:backlog=3",
    "unix:address=/tmp/x.sock",
    "unix:/tmp/with\\:colon.sock",
    "unix:/tmp/back\\\\slash.sock",
]

CLIENT_STRINGS = [
    "tcp:host=example.com:port=80",
    "tcp:example.com:80",
    "tcp:host=example.com:80",
    "tcp:example.com:port=80",
    "tcp:127.0.0.1:8000:timeout=9",
    "tcp:127.0.0.1:8000:bindAddress=127.0.0.2",
    "tcp:host=\\:\\:1:port=443",
    "unix:/var/foo/bar",
    "unix:path=/var/foo/bar:lockfile=1:timeout=9",
    "unix:/var/foo/bar:lockfile=0",
    "TCP:example.com:80",          # client types are not case-sensitive
]


def _open_descriptors():
    """The open descriptor numbers, except /dev/null ones: the first listen in the process opens
    the EMFILE reserve (/dev/null, held for the life of the process on purpose)."""
    names = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink("/proc/self/fd/" + name) != os.devnull:
                names.add(name)
        except OSError:
            pass        # the directory's own descriptor, closed by now
    return names


@pytest.fixture(autouse=True)
def no_descriptor_left_open():
    """Each test here closes every descriptor it opened, reactors included, without waiting for
    the garbage collector (descriptors left to it piled up in the full suite past FD_SETSIZE)."""
    if not os.path.isdir("/proc/self/fd"):
        yield           # nowhere to count descriptors: the tests still run, unchecked
        return
    before = _open_descriptors()
    yield
    left = _open_descriptors() - before
    assert not left, "descriptors left open: %s" % sorted(
        "%s -> %s" % (fd, os.readlink("/proc/self/fd/" + fd)) for fd in left
        if os.path.exists("/proc/self/fd/" + fd))


@pytest.fixture
def reactors():
    ours = fastreactor.Reactor()
    theirs = epollreactor.EPollReactor()
    yield ours, theirs
    ours.close()
    dispose_twisted_reactor(theirs)


def wait_until_closed(reactor, deferred=None):
    """Iterate until every connection is lost (both ends, they are in this reactor) and
    `deferred` (a stopListening result) has fired, so no descriptor is left to the collector."""
    fired = []
    if deferred is not None:
        deferred.addBoth(fired.append)
    run_until(reactor, lambda: (deferred is None or fired)
              and reactor.stats()["connections_open"] == 0)


def attributes(endpoint, names):
    return {name: getattr(endpoint, name) for name in names if hasattr(endpoint, name)}


@pytest.mark.parametrize("description", SERVER_STRINGS)
def test_server_strings_parse_as_twisted(description, reactors):
    ours, theirs = reactors
    t = t_endpoints.serverFromString(theirs, description)
    f = f_endpoints.serverFromString(ours, description)
    assert type(f).__name__ == type(t).__name__
    assert attributes(f, SERVER_ATTRS) == attributes(t, SERVER_ATTRS)
    assert attributes(f, SERVER_ATTRS)


@pytest.mark.parametrize("description", CLIENT_STRINGS)
def test_client_strings_parse_as_twisted(description, reactors):
    ours, theirs = reactors
    t = t_endpoints.clientFromString(theirs, description)
    f = f_endpoints.clientFromString(ours, description)
    assert type(f).__name__ == type(t).__name__
    assert attributes(f, CLIENT_ATTRS) == attributes(t, CLIENT_ATTRS)
    assert attributes(f, CLIENT_ATTRS)


TOKEN_STRINGS = [
    "a:b:c", "a:b=c:d", "a:b=c=d:e", "a\\:b:c", "a:b\\=c", "a::b", "", ":", "a:b=", "=x",
    "ssl:443:privateKey=C\\:/key.pem:certKey=C\\:/cert.pem", "x:k=1:k=2", "a\\\\:b",
]


@pytest.mark.parametrize("description", TOKEN_STRINGS)
def test_tokenizing_as_twisted(description):
    assert f_endpoints._parse(description) == t_endpoints._parse(description)


@pytest.mark.parametrize("argument", ["plain", "with:colon", "back\\slash", "both\\:", ""])
def test_quote_string_argument(argument):
    quoted = f_endpoints.quoteStringArgument(argument)
    assert quoted == t_endpoints.quoteStringArgument(argument)
    assert f_endpoints._parse("x:" + quoted) == (["x", argument], {})


BAD_SERVER = [
    ("", "no type"),
    ("nope:80", "unknown server endpoint type 'nope'"),
    ("TCP:80", "unknown server endpoint type 'TCP'"),      # server types are case-sensitive
    ("tcp", "missing port"),
    ("tcp:eighty", "port must be an integer"),
    ("tcp:80:backlog=lots", "backlog must be an integer"),
    ("tcp:80:colour=red", "unknown parameter 'colour'"),
    ("tcp:80:127.0.0.1:5:extra", "unexpected positional part 'extra'"),
    ("tcp:80:127.0.0.1:five", "backlog must be an integer"),
    ("unix:/x.sock:mode=999", "mode must be an octal number"),
    ("unix:/x.sock:lockfile=yes", "lockfile must be an integer"),
    ("unix", "missing address"),
    ("tcp:80\\", "lone backslash"),
    ("ssl:443:privateKey=/nonexistent/key.pem", "cannot load the key"),
    ("ssl:https", "port must be an integer"),
]

BAD_CLIENT = [
    ("tcp:host=example.com", "missing port"),
    ("tcp:port=80", "missing host"),
    ("tcp:example.com:http", "port must be an integer"),
    ("tcp:example.com:80:timeout=soon", "timeout must be an integer"),
    ("tcp:a:1:2", "unexpected positional part '2'"),
    ("unix", "missing path"),
    ("gopher:x", "unknown client endpoint type 'gopher'"),
    ("tls:example.com", "missing port"),
    ("tls:example.com:443:trustRoots=/nonexistent", "cannot load certificates"),
]


@pytest.mark.parametrize("description,part", BAD_SERVER)
def test_bad_server_string_names_the_part(description, part, reactors):
    ours, theirs = reactors
    with pytest.raises(f_endpoints.EndpointStringError) as info:
        f_endpoints.serverFromString(ours, description)
    assert part in str(info.value)
    # Twisted refuses these too (with whatever exception its parser hits).
    if not description.startswith("ssl"):       # Twisted's ssl: needs pyOpenSSL, absent here
        with pytest.raises(Exception):
            t_endpoints.serverFromString(theirs, description)


@pytest.mark.parametrize("description,part", BAD_CLIENT)
def test_bad_client_string_names_the_part(description, part, reactors):
    ours, theirs = reactors
    with pytest.raises(f_endpoints.EndpointStringError) as info:
        f_endpoints.clientFromString(ours, description)
    assert part in str(info.value)


def test_bad_port_range_is_refused_at_parse(reactors):
    with pytest.raises(f_endpoints.EndpointStringError, match="0..65535"):
        f_endpoints.serverFromString(reactors[0], "tcp:70000")


class Echo(f_protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


class Collect(f_protocol.Protocol):
    def __init__(self):
        self.received = b""

    def dataReceived(self, data):
        self.received += data


def test_tcp_end_to_end(reactor):
    server = f_endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1")
    ports = []
    server.listen(f_protocol.Factory.forProtocol(Echo)).addCallback(ports.append)
    assert ports, "listen's Deferred fires at once for TCP"
    port = ports[0].getHost().port
    client = f_endpoints.clientFromString(reactor, "tcp:host=127.0.0.1:port=%d" % port)
    connected = []
    client.connect(f_protocol.Factory.forProtocol(Collect)).addCallback(connected.append)
    run_until(reactor, lambda: connected)
    proto = connected[0]
    assert isinstance(proto, Collect) and proto.transport is not None
    proto.transport.write(b"hello endpoint")
    run_until(reactor, lambda: proto.received == b"hello endpoint")
    proto.transport.loseConnection()
    wait_until_closed(reactor, ports[0].stopListening())


def test_tcp_connect_failure_reaches_the_deferred(reactor):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    free = s.getsockname()[1]
    s.close()
    client = f_endpoints.clientFromString(reactor, "tcp:127.0.0.1:%d:timeout=5" % free)
    failures = []
    client.connect(f_protocol.Factory.forProtocol(Collect)).addErrback(failures.append)
    run_until(reactor, lambda: failures)
    assert "refused" in str(failures[0].value).lower() or failures[0].check(
        fastreactor.error.ConnectionRefusedError)


def test_tcp_listen_failure_reaches_the_deferred(reactor):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        server = f_endpoints.serverFromString(
            reactor, "tcp:%d:interface=127.0.0.1" % busy.getsockname()[1])
        failures = []
        server.listen(f_protocol.Factory.forProtocol(Echo)).addErrback(failures.append)
        assert failures and failures[0].check(fastreactor.error.CannotListenError)
    finally:
        busy.close()


def test_unix_endpoint_uses_listen_unix_or_names_it(reactor, tmp_path):
    path = str(tmp_path / "s.sock")
    server = f_endpoints.serverFromString(reactor, "unix:%s:mode=600" % path)
    results = []
    server.listen(f_protocol.Factory.forProtocol(Echo)).addBoth(results.append)
    if hasattr(reactor, "listenUNIX"):
        port = results[0]
        assert os.path.exists(path)
        client = f_endpoints.clientFromString(reactor, "unix:path=%s" % path)
        connected = []
        client.connect(f_protocol.Factory.forProtocol(Collect)).addCallback(connected.append)
        run_until(reactor, lambda: connected)
        connected[0].transport.loseConnection()
        wait_until_closed(reactor, port.stopListening())
    else:
        assert results[0].check(MissingReactorMethod)
        assert "reactor.listenUNIX()" in str(results[0].value)
        failures = []
        f_endpoints.clientFromString(reactor, "unix:" + path).connect(
            f_protocol.Factory.forProtocol(Collect)).addErrback(failures.append)
        assert "reactor.connectUNIX()" in str(failures[0].value)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    d = tmp_path_factory.mktemp("cert")
    key, cert = str(d / "key.pem"), str(d / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    return key, cert


def test_ssl_endpoint_builds_a_stdlib_context(reactor, certificate):
    import ssl
    key, cert = certificate
    server = f_endpoints.serverFromString(
        reactor, "ssl:0:privateKey=%s:certKey=%s:interface=127.0.0.1"
        % (f_endpoints.quoteStringArgument(key), f_endpoints.quoteStringArgument(cert)))
    assert isinstance(server._sslContextFactory, ssl.SSLContext)
    assert (server._port, server._interface, server._backlog) == (0, "127.0.0.1", 50)
    results = []
    server.listen(f_protocol.Factory.forProtocol(Echo)).addBoth(results.append)
    if hasattr(reactor, "listenSSL"):
        assert hasattr(results[0], "getHost")
        results[0].stopListening()
    else:
        assert results[0].check(MissingReactorMethod)
        assert "reactor.listenSSL()" in str(results[0].value)


def test_tls_client_endpoint(reactor, certificate):
    import ssl
    key, cert = certificate
    client = f_endpoints.clientFromString(reactor, "tls:localhost:8443:trustRoots=%s" % cert)
    ctx = client._sslContextFactory
    assert isinstance(ctx, ssl.SSLContext) and ctx.check_hostname
    assert (client._host, client._port, client._timeout) == ("localhost", 8443, 30)
    if not hasattr(reactor, "connectSSL"):
        failures = []
        client.connect(f_protocol.Factory.forProtocol(Collect)).addErrback(failures.append)
        assert failures[0].check(MissingReactorMethod)
        assert "reactor.connectSSL()" in str(failures[0].value)


def test_endpoint_deferreds_follow_the_twisted_face():
    """On the Twisted face, endpoints hand back Twisted's Deferreds."""
    from twisted.internet import defer as t_defer
    from fastreactor.twisted import FastReactor
    r = FastReactor()
    try:
        d = f_endpoints.serverFromString(r, "tcp:0:interface=127.0.0.1").listen(
            f_protocol.Factory.forProtocol(Echo))
        assert isinstance(d, t_defer.Deferred)
        ports = []
        d.addCallback(ports.append)
        stopped = []
        ports[0].stopListening().addBoth(stopped.append)
        run_until(r, lambda: stopped)
    finally:
        r.close()


def test_adopted_stream_server_endpoint(reactor):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    sock.setblocking(False)
    fd = sock.detach()
    endpoint = f_endpoints.AdoptedStreamServerEndpoint(reactor, fd, socket.AF_INET)
    ports = []
    endpoint.listen(f_protocol.Factory.forProtocol(Echo)).addCallback(ports.append)
    assert ports
    with pytest.raises(OSError):
        os.fstat(fd)                        # the endpoint closed the descriptor it adopted
    with socket.create_connection(("127.0.0.1", ports[0].getHost().port), timeout=5) as c:
        c.sendall(b"adopted")
        c.setblocking(False)
        echoed = []

        def got_echo():
            try:
                echoed.append(c.recv(100))
            except BlockingIOError:
                pass
            return echoed

        run_until(reactor, got_echo)
        assert echoed == [b"adopted"]
    again = []
    endpoint.listen(f_protocol.Factory.forProtocol(Echo)).addErrback(again.append)
    assert again and "only once" in str(again[0].value)
    wait_until_closed(reactor, ports[0].stopListening())


def test_ssl_endpoint_on_the_twisted_face_serves_tls(certificate):
    """On the Twisted face, ssl: goes through Twisted's parser (pyOpenSSL contexts), and the
    endpoint serves TLS end to end through FastReactor.listenSSL."""
    pytest.importorskip("OpenSSL", reason="Twisted's TLS needs pyOpenSSL (the test extra has it)")
    import ssl
    import threading
    from twisted.internet import protocol as t_protocol
    from fastreactor.twisted import FastReactor
    key, cert = certificate
    r = FastReactor()

    class TEcho(t_protocol.Protocol):
        def dataReceived(self, data):
            self.transport.write(data)

    try:
        endpoint = f_endpoints.serverFromString(
            r, "ssl:0:privateKey=%s:certKey=%s:interface=127.0.0.1"
            % (f_endpoints.quoteStringArgument(key), f_endpoints.quoteStringArgument(cert)))
        ports = []
        endpoint.listen(t_protocol.Factory.forProtocol(TEcho)).addCallback(ports.append)
        assert ports
        result = []

        def client():
            ctx = ssl.create_default_context(cafile=cert)
            ctx.check_hostname = False
            with socket.create_connection(("127.0.0.1", ports[0].getHost().port), timeout=10) as raw:
                with ctx.wrap_socket(raw) as tls:
                    tls.sendall(b"over tls")
                    result.append(tls.recv(100))
            r.callFromThread(r.stop)

        t = threading.Thread(target=client)
        r.callWhenRunning(t.start)
        r.callLater(15, r.stop)
        r.run(installSignalHandlers=False)
        t.join(5)
        assert result == [b"over tls"]
    finally:
        r.close()
