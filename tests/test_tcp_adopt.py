"""IReactorSocket: adoptStreamPort / adoptStreamConnection on both faces and every poller, over real
sockets, with the callback order compared against Twisted's epoll reactor."""
import errno
import gc
import os
import socket

import pytest

import fastreactor
import fastreactor.error
import fastreactor.protocol
from tracing import run_traced

twisted_protocol = pytest.importorskip("twisted.internet.protocol")
import twisted.internet.error  # noqa: E402
from twisted.internet import epollreactor  # noqa: E402
from twisted.internet.interfaces import IReactorSocket  # noqa: E402
from zope.interface.verify import verifyObject  # noqa: E402

from conftest import run_until  # noqa: E402
from fastreactor.twisted import FastReactor  # noqa: E402

FACES = ("native", "twisted")


class Face:
    """One implementation: how to make a reactor, and its protocol and error modules."""

    def __init__(self, name, make_reactor, protocol_module, error_module):
        self.name = name
        self.make_reactor = make_reactor
        self.protocol = protocol_module
        self.error = error_module


def make_face(name, poller=None):
    if name == "native":
        return Face(name, lambda: fastreactor.Reactor(poller), fastreactor.protocol, fastreactor.error)
    if name == "twisted":
        return Face(name, lambda: FastReactor(poller), twisted_protocol, twisted.internet.error)
    if name == "epoll-reference":
        return Face(name, epollreactor.EPollReactor, twisted_protocol, twisted.internet.error)
    raise ValueError(name)


@pytest.fixture(autouse=True)
def no_collection_during_the_test():
    """Collect earlier tests' garbage first and keep the collector off during the test, so that a
    descriptor closed by the collector in mid-test cannot spoil the open_fds() comparisons."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


@pytest.fixture(params=FACES)
def face(request, poller):
    return make_face(request.param, poller)


@pytest.fixture
def reactor(face):
    r = face.make_reactor()
    yield r
    for p in list(r._ports):
        p.connectionLost(r._api.Failure(r._api.ConnectionDone()))
    r.close()


def open_fds():
    """The descriptors this process has open (Linux /proc, else /dev/fd)."""
    directory = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    fds = set()
    for name in os.listdir(directory):
        fd = int(name)
        try:
            os.fstat(fd)
        except OSError:
            continue    # the directory listing's own descriptor, closed by now
        fds.add(fd)
    return fds


def listening_socket(family=socket.AF_INET, blocking=False):
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(5)
    s.setblocking(blocking)
    return s


def connected_pair(family=socket.AF_INET):
    """(server_side, client_side): a real TCP connection over loopback, both non-blocking."""
    listener = listening_socket(family, blocking=True)
    client = socket.create_connection(listener.getsockname()[:2])
    server, _ = listener.accept()
    listener.close()
    server.setblocking(False)
    client.setblocking(False)
    return server, client


def recv_until(reactor, sock, size, timeout=5.0):
    """Iterate `reactor` until `sock` (non-blocking) has received `size` bytes or EOF."""
    got = []

    def have():
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return False
        got.append(chunk)
        return not chunk or sum(map(len, got)) >= size

    run_until(reactor, have, timeout)
    return b"".join(got)


def echo_factory(face, events=None):
    events = [] if events is None else events

    class Echo(face.protocol.Protocol):
        def connectionMade(self):
            events.append("connectionMade")

        def dataReceived(self, data):
            events.append(("dataReceived", data))
            self.transport.write(data)

        def connectionLost(self, reason):
            events.append(("connectionLost", type(reason.value).__name__))

    class EchoFactory(face.protocol.Factory):
        protocol = Echo
        noisy = False

        def doStart(self):
            events.append("doStart")
            face.protocol.Factory.doStart(self)

        def doStop(self):
            events.append("doStop")
            face.protocol.Factory.doStop(self)

    return EchoFactory(), events


# ---- adoptStreamPort -------------------------------------------------------------------------------

@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_adopted_port_accepts_and_echoes(face, reactor, family):
    original = listening_socket(family)
    factory, events = echo_factory(face)
    port = reactor.adoptStreamPort(original.fileno(), family, factory)
    assert events == ["doStart"]
    host = port.getHost()
    assert (host.host, host.port) == original.getsockname()[:2]
    assert type(host).__name__ == ("IPv6Address" if family == socket.AF_INET6 else "IPv4Address")
    assert port.fileno() != original.fileno()      # the port works on a duplicate

    client = socket.create_connection(original.getsockname()[:2])
    client.setblocking(False)
    client.sendall(b"ping")
    assert recv_until(reactor, client, 4) == b"ping"
    assert events == ["doStart", "connectionMade", ("dataReceived", b"ping")]
    client.close()
    run_until(reactor, lambda: events[-1] == ("connectionLost", "ConnectionDone"))

    fired = []
    port.stopListening().addCallback(fired.append)
    run_until(reactor, lambda: fired)
    assert events[-1] == "doStop"
    original.close()


def test_original_port_descriptor_stays_open_and_usable(face, reactor):
    original = listening_socket()
    fd = original.fileno()
    factory, events = echo_factory(face)
    port = reactor.adoptStreamPort(fd, socket.AF_INET, factory)
    os.fstat(fd)                                    # still open
    assert original.getsockname() == (port.getHost().host, port.getHost().port)
    fired = []
    port.stopListening().addCallback(fired.append)
    run_until(reactor, lambda: fired)
    # Stopping the adopted port closed only its duplicate: the caller's socket still listens.
    os.fstat(fd)
    client = socket.create_connection(original.getsockname())
    original.setblocking(True)
    accepted, _ = original.accept()
    client.sendall(b"still mine")
    assert accepted.recv(64) == b"still mine"
    for s in (accepted, client, original):
        s.close()


def test_caller_may_close_the_original_at_once(face, reactor):
    original = listening_socket()
    address = original.getsockname()
    factory, events = echo_factory(face)
    port = reactor.adoptStreamPort(original.fileno(), socket.AF_INET, factory)
    original.close()
    client = socket.create_connection(address)
    client.setblocking(False)
    client.sendall(b"after close")
    assert recv_until(reactor, client, 11) == b"after close"
    client.close()
    fired = []
    port.stopListening().addCallback(fired.append)
    run_until(reactor, lambda: fired)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=1)


# ---- adoptStreamConnection -------------------------------------------------------------------------

@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_adopted_connection_echoes(face, reactor, family):
    server, client = connected_pair(family)
    factory, events = echo_factory(face)
    transport = reactor.adoptStreamConnection(server.fileno(), family, factory)
    assert events == ["connectionMade"]           # no doStart/doStop for an adopted connection
    peer = transport.getPeer()
    assert (peer.host, peer.port) == client.getsockname()[:2]
    assert (transport.getHost().host, transport.getHost().port) == server.getsockname()[:2]
    assert transport.fileno() not in (-1, server.fileno())
    server.close()                                  # the caller's copy; the transport has its own
    client.sendall(b"hello")
    assert recv_until(reactor, client, 5) == b"hello"
    client.close()
    run_until(reactor, lambda: events[-1] == ("connectionLost", "ConnectionDone"))
    assert events == ["connectionMade", ("dataReceived", b"hello"), ("connectionLost", "ConnectionDone")]


def test_original_connection_descriptor_stays_open(face, reactor):
    server, client = connected_pair()
    factory, events = echo_factory(face)
    transport = reactor.adoptStreamConnection(server.fileno(), socket.AF_INET, factory)
    os.fstat(server.fileno())
    assert server.getpeername() == client.getsockname()
    transport.abortConnection()
    run_until(reactor, lambda: events[-1] == ("connectionLost", "ConnectionAborted"))
    # The transport closed its duplicate only: the caller's descriptor is still a live connection.
    server.setblocking(True)
    client.sendall(b"x")
    assert server.recv(1) == b"x"
    server.sendall(b"y")
    client.setblocking(True)
    assert client.recv(1) == b"y"
    server.close()
    client.close()


def test_lose_connection_reaches_the_peer_while_the_caller_keeps_the_original(face, reactor):
    """As in Twisted, an orderly close shuts the socket down before closing it, so the peer sees
    EOF although the caller still holds the original descriptor."""
    server, client = connected_pair()
    factory, events = echo_factory(face)
    transport = reactor.adoptStreamConnection(server.fileno(), socket.AF_INET, factory)
    transport.write(b"bye")
    transport.loseConnection()
    run_until(reactor, lambda: events[-1] == ("connectionLost", "ConnectionDone"))
    try:
        client.settimeout(1)
        assert client.recv(10) == b"bye"
        assert client.recv(10) == b""
    finally:
        server.close()
        client.close()


def test_build_protocol_none_closes_the_duplicate_only(face, reactor):
    server, client = connected_pair()
    built = []

    class Refusing(face.protocol.Factory):
        def buildProtocol(self, addr):
            built.append(type(addr).__name__)
            return None

    before = open_fds()
    assert reactor.adoptStreamConnection(server.fileno(), socket.AF_INET, Refusing()) is None
    assert built == ["IPv4Address"]
    assert open_fds() == before
    assert server.getpeername() == client.getsockname()
    server.close()
    client.close()


def test_build_protocol_exception_propagates_and_leaks_nothing(face, reactor):
    server, client = connected_pair()

    class Broken(face.protocol.Factory):
        def buildProtocol(self, addr):
            raise RuntimeError("no protocol today")

    before = open_fds()
    with pytest.raises(RuntimeError, match="no protocol today"):
        reactor.adoptStreamConnection(server.fileno(), socket.AF_INET, Broken())
    assert open_fds() == before
    assert reactor.getReaders() == []
    server.close()
    client.close()


def test_twisted_face_adopted_transport_names_itself_as_twisted_does(poller):
    """Twisted numbers an adopted tcp.Server with the peer's port and has no port object."""
    face = make_face("twisted", poller)
    r = face.make_reactor()
    try:
        server, client = connected_pair()
        factory, events = echo_factory(face)
        transport = r.adoptStreamConnection(server.fileno(), socket.AF_INET, factory)
        peer_port = client.getsockname()[1]
        assert transport.server is None
        assert transport.sessionno == peer_port
        assert transport.logstr == "Echo,%d,127.0.0.1" % (peer_port,)
        assert repr(transport) == "<Echo #%d on %d>" % (peer_port, server.getsockname()[1])
        transport.abortConnection()
        run_until(r, lambda: events[-1] == ("connectionLost", "ConnectionAborted"))
        server.close()
        client.close()
    finally:
        r.close()


def test_remove_and_add_reader_switch_an_engine_transport(face, reactor):
    """getReaders() lists the engine's transports; removeReader/addReader on one stop and resume
    its reading (Twisted code does this to take a descriptor away from the reactor)."""
    server, client = connected_pair()
    factory, events = echo_factory(face)
    transport = reactor.adoptStreamConnection(server.fileno(), socket.AF_INET, factory)
    server.close()
    assert transport in reactor.getReaders()
    reactor.removeReader(transport)
    assert transport not in reactor.getReaders()
    client.sendall(b"held")
    for _ in range(10):
        reactor.iterate(0.01)
    assert events == ["connectionMade"]
    reactor.addReader(transport)
    assert transport in reactor.getReaders()
    assert recv_until(reactor, client, 4) == b"held"
    client.close()
    run_until(reactor, lambda: events[-1] == ("connectionLost", "ConnectionDone"))


def test_remove_and_add_reader_switch_an_engine_port(face, reactor):
    original = listening_socket()
    factory, events = echo_factory(face)
    port = reactor.adoptStreamPort(original.fileno(), socket.AF_INET, factory)
    original.close()
    assert port in reactor.getReaders()
    reactor.removeReader(port)
    assert port not in reactor.getReaders()
    client = socket.create_connection((port.getHost().host, port.getHost().port))
    for _ in range(10):
        reactor.iterate(0.01)
    assert events == ["doStart"]
    reactor.addReader(port)
    run_until(reactor, lambda: "connectionMade" in events)
    client.close()


# ---- bad input --------------------------------------------------------------------------------------

def refused(face, reactor, method, fd, family, exception, match=None):
    """Call reactor.<method>(fd, family, factory) expecting `exception` (whose message matches
    `match`); check that it opened, called and watched nothing. Returns the exception."""
    factory, events = echo_factory(face)
    before = open_fds()
    with pytest.raises(exception, match=match) as info:
        getattr(reactor, method)(fd, family, factory)
    assert open_fds() == before and events == []
    assert not reactor._ports and reactor.getReaders() == []
    return info.value


@pytest.mark.parametrize("method", ["adoptStreamPort", "adoptStreamConnection"])
@pytest.mark.parametrize("family", [12345, getattr(socket, "AF_PACKET", 17)], ids=["nonsense", "AF_PACKET"])
def test_unsupported_family_is_refused_before_anything(face, reactor, method, family):
    sock = listening_socket()
    error = refused(face, reactor, method, sock.fileno(), family, face.error.UnsupportedAddressFamily)
    assert error.args == (family,)
    sock.close()


@pytest.mark.parametrize("method", ["adoptStreamPort", "adoptStreamConnection"])
def test_tcp_socket_declared_as_unix_is_refused(face, reactor, method):
    # AF_UNIX is a supported family (UNIX sockets, tests/test_unix_native.py), so a TCP socket
    # declared as AF_UNIX fails on the family check of the socket itself.
    sock = listening_socket()
    refused(face, reactor, method, sock.fileno(), socket.AF_UNIX, ValueError, match="not AF_UNIX")
    sock.close()


@pytest.mark.parametrize("method", ["adoptStreamPort", "adoptStreamConnection"])
def test_non_socket_descriptor_is_refused(face, reactor, method):
    read_end, write_end = os.pipe()
    error = refused(face, reactor, method, read_end, socket.AF_INET, OSError,
                    match="descriptor %d is not a socket" % (read_end,))
    assert error.errno == errno.ENOTSOCK
    os.close(read_end)
    os.close(write_end)


@pytest.mark.parametrize("method", ["adoptStreamPort", "adoptStreamConnection"])
def test_closed_descriptor_is_refused(face, reactor, method):
    s = socket.socket()
    fd = s.fileno()
    s.close()
    factory, events = echo_factory(face)
    with pytest.raises(OSError) as info:
        getattr(reactor, method)(fd, socket.AF_INET, factory)
    assert info.value.errno == errno.EBADF
    assert events == []


@pytest.mark.parametrize("method", ["adoptStreamPort", "adoptStreamConnection"])
def test_descriptor_must_be_an_int(face, reactor, method):
    s = listening_socket()
    factory, _ = echo_factory(face)
    with pytest.raises(TypeError, match="fileDescriptor must be an int"):
        getattr(reactor, method)(s, socket.AF_INET, factory)
    s.close()


@pytest.mark.parametrize("method", ["adoptStreamPort", "adoptStreamConnection"])
@pytest.mark.parametrize("problem", ["family", "blocking", "datagram"])
def test_wrong_kind_of_socket_is_refused_with_value_error(face, reactor, method, problem):
    if problem == "datagram":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        match = "not a SOCK_STREAM socket"
        family = socket.AF_INET
    elif method == "adoptStreamPort":
        s = listening_socket(blocking=(problem == "blocking"))
    else:
        s, peer = connected_pair()
        s.setblocking(problem == "blocking")
        peer.close()
    if problem == "family":
        family = socket.AF_INET6
        match = "is of family AF_INET, not AF_INET6"
    elif problem == "blocking":
        family = socket.AF_INET
        match = "blocking mode"
    refused(face, reactor, method, s.fileno(), family, ValueError, match)
    s.close()


@pytest.mark.skipif(not hasattr(socket, "SO_ACCEPTCONN"), reason="no SO_ACCEPTCONN here")
def test_adopt_port_refuses_a_socket_that_is_not_listening(face, reactor):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    refused(face, reactor, "adoptStreamPort", s.fileno(), socket.AF_INET, ValueError,
            "not a listening socket")
    s.close()


def test_adopt_connection_refuses_a_socket_that_is_not_connected(face, reactor):
    s = socket.socket()
    s.setblocking(False)
    error = refused(face, reactor, "adoptStreamConnection", s.fileno(), socket.AF_INET, OSError)
    assert error.errno == errno.ENOTCONN
    s.close()


def test_adopt_port_refuses_a_factory_without_do_start(face, reactor):
    class Bare:
        def buildProtocol(self, addr):
            return None

    s = listening_socket()
    before = open_fds()
    with pytest.raises(TypeError, match="doStart"):
        reactor.adoptStreamPort(s.fileno(), socket.AF_INET, Bare())
    assert open_fds() == before
    s.close()


def test_adopt_datagram_port_refuses_a_bare_object_as_protocol(face, reactor):
    # (adoptDatagramPort itself is tested in tests/test_udp_adopt.py.)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    before = open_fds()
    with pytest.raises(TypeError, match="makeConnection"):
        reactor.adoptDatagramPort(s.fileno(), socket.AF_INET, object())
    assert open_fds() == before
    s.close()


def test_twisted_face_provides_ireactorsocket():
    r = FastReactor()
    try:
        assert verifyObject(IReactorSocket, r)
    finally:
        r.close()


# ---- differential: the callback order is Twisted's ---------------------------------------------------

def traced_factory(face, trace, side, on=None, client=False):
    """A factory (a ClientFactory if `client`) and protocol on `side` whose every callback is
    traced; `on` maps a callback name to an action(protocol, *args) run after tracing it."""
    on = on or {}
    P = face.protocol
    base = P.ClientFactory if client else P.Factory

    class Traced(P.Protocol):
        def makeConnection(self, transport):
            trace.append(side + ".makeConnection")
            P.Protocol.makeConnection(self, transport)

        def connectionMade(self):
            trace.append(side + ".connectionMade")
            on.get("connectionMade", lambda p: None)(self)

        def dataReceived(self, data):
            trace.append((side + ".dataReceived", data))
            on.get("dataReceived", lambda p, d: None)(self, data)

        def connectionLost(self, reason):
            trace.append((side + ".connectionLost", type(reason.value).__name__))
            on.get("connectionLost", lambda p, r: None)(self, reason)

    class TracedFactory(base):
        protocol = Traced
        noisy = False

        def doStart(self):
            trace.append(side + "F.doStart")

        def doStop(self):
            trace.append(side + "F.doStop")

        def buildProtocol(self, addr):
            trace.append((side + "F.buildProtocol", type(addr).__name__))
            if "buildProtocol" in on:
                return on["buildProtocol"](self, addr)
            return base.buildProtocol(self, addr)

    return TracedFactory()


def by_side(trace):
    sides = {}
    for entry in trace:
        name = entry if isinstance(entry, str) else entry[0]
        sides.setdefault(name.split(".", 1)[0].rstrip("F"), []).append(entry)
    return sides


def scenario_both_ends_adopted_echo(reactor, face, trace, done):
    server, client = connected_pair()
    sf = traced_factory(face, trace, "server", {"dataReceived": lambda p, d: p.transport.write(d)})
    cf = traced_factory(face, trace, "client", {
        "connectionMade": lambda p: p.transport.write(b"hello"),
        "dataReceived": lambda p, d: p.transport.loseConnection(),
        "connectionLost": lambda p, r: reactor.callLater(0.1, done),
    })
    reactor.adoptStreamConnection(server.fileno(), socket.AF_INET, sf)
    reactor.adoptStreamConnection(client.fileno(), socket.AF_INET, cf)
    server.close()
    client.close()


def scenario_adopted_server_closes(reactor, face, trace, done):
    server, client = connected_pair()
    sf = traced_factory(face, trace, "server", {
        "connectionMade": lambda p: (p.transport.write(b"bye"), p.transport.loseConnection()),
    })
    cf = traced_factory(face, trace, "client", {"connectionLost": lambda p, r: done()})
    reactor.adoptStreamConnection(client.fileno(), socket.AF_INET, cf)
    reactor.adoptStreamConnection(server.fileno(), socket.AF_INET, sf)
    server.close()
    client.close()


def scenario_adopted_build_none(reactor, face, trace, done):
    server, client = connected_pair()
    sf = traced_factory(face, trace, "server", {"buildProtocol": lambda f, addr: None})
    cf = traced_factory(face, trace, "client", {"connectionLost": lambda p, r: done()})
    reactor.adoptStreamConnection(client.fileno(), socket.AF_INET, cf)
    trace.append(("scenario.returned", reactor.adoptStreamConnection(server.fileno(), socket.AF_INET, sf)))
    server.close()
    client.close()


def scenario_adopted_port(reactor, face, trace, done):
    original = listening_socket()
    sf = traced_factory(face, trace, "server", {
        "dataReceived": lambda p, d: p.transport.loseConnection(),
        "connectionLost": lambda p, r: port.stopListening().addCallback(
            lambda _: (trace.append("scenario.stopped"), done())),
    })
    port = reactor.adoptStreamPort(original.fileno(), socket.AF_INET, sf)
    address = original.getsockname()
    original.close()
    cf = traced_factory(face, trace, "client", {"connectionMade": lambda p: p.transport.write(b"x")})
    c = socket.socket()
    c.connect(address)
    c.setblocking(False)
    reactor.adoptStreamConnection(c.fileno(), socket.AF_INET, cf)
    c.close()


def scenario_take_over_a_live_transport(reactor, face, trace, done):
    """Twisted's own pattern (AdoptStreamConnectionTestsBuilder): take an accepted connection's
    descriptor away from the reactor, adopt it under a new factory, close the old socket."""
    second = traced_factory(face, trace, "second", {
        "dataReceived": lambda p, d: p.transport.write(d.upper()),
    })

    def take_over(p):
        reactor.removeReader(p.transport)
        reactor.removeWriter(p.transport)
        reactor.adoptStreamConnection(p.transport.fileno(), socket.AF_INET, second)
        p.transport.socket.close()

    first = traced_factory(face, trace, "first", {"connectionMade": take_over})
    port = reactor.listenTCP(0, first, interface="127.0.0.1")
    cf = traced_factory(face, trace, "client", {
        "connectionMade": lambda p: p.transport.write(b"hi"),
        "dataReceived": lambda p, d: p.transport.loseConnection(),
        "connectionLost": lambda p, r: reactor.callLater(0.2, done),
    }, client=True)
    reactor.connectTCP("127.0.0.1", port.getHost().port, cf)


SCENARIOS = {
    "both_ends_adopted_echo": scenario_both_ends_adopted_echo,
    "adopted_server_closes": scenario_adopted_server_closes,
    "adopted_build_none": scenario_adopted_build_none,
    "adopted_port": scenario_adopted_port,
    "take_over_a_live_transport": scenario_take_over_a_live_transport,
}


_reference = {}


def reference(name):
    """Twisted's trace of scenario `name`, run once per module: the oracle is Twisted's own epoll
    reactor, the same whatever face and poller it is compared with."""
    if name not in _reference:
        _reference[name] = run_traced(make_face("epoll-reference"), SCENARIOS[name])
    return _reference[name]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("face_name", FACES)
def test_callback_order_matches_twisted(name, face_name, poller):
    expected = reference(name)
    actual = run_traced(make_face(face_name, poller), SCENARIOS[name])
    assert "TIMEOUT" not in expected, expected
    assert by_side(actual) == by_side(expected)


def test_adopted_echo_trace_is_the_expected_sequence(poller):
    """Pin the sequence itself (not only the equality with Twisted)."""
    trace = run_traced(make_face("native", poller), scenario_both_ends_adopted_echo)
    assert by_side(trace) == {
        "server": [("serverF.buildProtocol", "IPv4Address"), "server.makeConnection",
                   "server.connectionMade", ("server.dataReceived", b"hello"),
                   ("server.connectionLost", "ConnectionDone")],
        "client": [("clientF.buildProtocol", "IPv4Address"), "client.makeConnection",
                   "client.connectionMade", ("client.dataReceived", b"hello"),
                   ("client.connectionLost", "ConnectionDone")],
    }
