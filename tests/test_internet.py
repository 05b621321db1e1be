"""fastreactor.internet: TCP server/client services end to end (and against
twisted.application.internet: same traces), TimerService, and the reactor-method services for
transports a reactor may lack."""
import socket

import pytest

import fastreactor
from fastreactor import defer as f_defer
from fastreactor import internet as f_internet
from fastreactor import protocol as f_protocol
from fastreactor import service as f_service
from tracing import run_traced

from twisted.application import internet as t_internet
from twisted.application import service as t_service
from twisted.internet import epollreactor
from twisted.internet import protocol as t_protocol


class Face:
    def __init__(self, name, make_reactor, protocol, internet, service):
        self.name = name
        self.make_reactor = make_reactor
        self.protocol = protocol
        self.internet = internet
        self.service = service


TWISTED = Face("twisted", epollreactor.EPollReactor, t_protocol, t_internet, t_service)


def fast(poller):
    return Face("fastreactor-" + poller, lambda: fastreactor.Reactor(poller), f_protocol,
                f_internet, f_service)


def server_client_scenario(reactor, face, trace, done):
    """A TCPServer (echo) and a TCPClient under one MultiService: the client sends, gets its
    echo, and the root is stopped; the trace holds factory and protocol events."""
    P = face.protocol

    class Echo(P.Protocol):
        def connectionMade(self):
            trace.append("server.connectionMade")

        def dataReceived(self, data):
            trace.append(("server.data", data))
            self.transport.write(data)

        def connectionLost(self, reason):
            trace.append(("server.lost", type(reason.value).__name__))

    class ServerFactory(P.Factory):
        protocol = Echo

        def startFactory(self):
            trace.append("server.startFactory")

        def stopFactory(self):
            trace.append("server.stopFactory")

    class Client(P.Protocol):
        def connectionMade(self):
            trace.append("client.connectionMade")
            self.transport.write(b"ping")

        def dataReceived(self, data):
            trace.append(("client.data", data))
            d = root.stopService()
            trace.append(("stop returned deferred", hasattr(d, "addCallback")))
            d.addCallback(lambda result: (trace.append(("root stopped", len(result))), done()))

        def connectionLost(self, reason):
            trace.append(("client.lost", type(reason.value).__name__))

    class ClientFactory(P.ClientFactory):
        protocol = Client

        def clientConnectionLost(self, connector, reason):
            trace.append("client.clientConnectionLost")

    root = face.service.MultiService()
    server = face.internet.TCPServer(0, ServerFactory(), interface="127.0.0.1", reactor=reactor)
    server.setServiceParent(root)
    root.privilegedStartService()
    trace.append(("listening after privilegedStartService", server._port is not None))
    port = server._port.getHost().port
    client = face.internet.TCPClient("127.0.0.1", port, ClientFactory(), reactor=reactor)
    client.setServiceParent(root)
    root.startService()
    trace.append(("running", bool(server.running), bool(client.running)))


def test_tcp_services_trace_like_twisted(poller):
    ours = run_traced(fast(poller), server_client_scenario)
    theirs = run_traced(TWISTED, server_client_scenario)
    assert "TIMEOUT" not in theirs and "TIMEOUT" not in ours
    # The two ends are independent actors: which end's readiness the poller reports first is not
    # part of the contract. Each end's events (and the services' own) must be the same, in order.
    def side(trace, prefix):
        return [e for e in trace if str(e if isinstance(e, str) else e[0]).startswith(prefix)]

    for prefix in ("server.", "client.", "listening", "running", "stop returned", "root stopped"):
        assert side(ours, prefix) == side(theirs, prefix), prefix
    assert sorted(map(str, ours)) == sorted(map(str, theirs))


def test_tcp_server_stops_listening(reactor):
    factory = f_protocol.Factory.forProtocol(f_protocol.Protocol)
    svc = f_internet.TCPServer(0, factory, interface="127.0.0.1", reactor=reactor)
    svc.startService()
    port = svc._port.getHost().port
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    results = []
    svc.stopService().addBoth(results.append)
    from conftest import run_until
    run_until(reactor, lambda: results)
    assert results == [None] and not svc.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_timer_service_calls_and_stops(reactor):
    from conftest import run_until
    calls = []
    svc = f_internet.TimerService(0.01, calls.append, "tick")
    svc.clock = reactor
    svc.startService()
    assert calls == ["tick"]                 # the first call happens at once
    run_until(reactor, lambda: len(calls) >= 5)
    stopped = []
    svc.stopService().addCallback(stopped.append)
    assert stopped and not svc.running
    n = len(calls)
    reactor.iterate(0.05)
    assert len(calls) == n


def test_timer_service_waits_for_a_deferred_call(reactor):
    pending = []

    def slow():
        d = f_defer.Deferred()
        pending.append(d)
        return d

    svc = f_internet.TimerService(0.01, slow)
    svc.clock = reactor
    svc.startService()
    for _ in range(5):
        reactor.iterate(0.02)
    assert len(pending) == 1                 # no second call while the first is unfinished
    stopped = []
    svc.stopService().addCallback(stopped.append)
    assert not stopped and svc.running
    pending[0].callback(None)
    assert stopped and not svc.running


def test_timer_service_logs_a_failing_call(reactor, caplog):
    calls = []

    def boom():
        calls.append(1)
        raise ValueError("broken tick")

    svc = f_internet.TimerService(0.01, boom)
    svc.clock = reactor
    with caplog.at_level("ERROR", logger="fastreactor"):
        svc.startService()
    assert "broken tick" in caplog.text
    for _ in range(3):
        reactor.iterate(0.02)
    assert calls == [1]
    svc.stopService()


OTHER_KINDS = [
    ("SSLServer", "listenSSL"), ("SSLClient", "connectSSL"),
    ("UNIXServer", "listenUNIX"), ("UNIXClient", "connectUNIX"),
    ("UDPServer", "listenUDP"), ("MulticastServer", "listenMulticast"),
    ("UNIXDatagramServer", "listenUNIXDatagram"), ("UNIXDatagramClient", "connectUNIXDatagram"),
]


class ReactorWithout:
    """A real reactor seen through a proxy that hides one method, as a reactor lacking that
    transport is."""

    def __init__(self, reactor, hidden):
        self._reactor = reactor
        self._hidden = hidden

    def __getattr__(self, name):
        if name == self._hidden:
            raise AttributeError(name)
        return getattr(self._reactor, name)

    def __repr__(self):
        return "<reactor without %s>" % self._hidden


@pytest.mark.parametrize("kind,method", OTHER_KINDS)
def test_missing_reactor_method_is_named(kind, method):
    r = fastreactor.Reactor()
    try:
        svc = getattr(f_internet, kind)("arg", reactor=ReactorWithout(r, method))
        with pytest.raises(f_internet.MissingReactorMethod, match=r"reactor\.%s\(\)" % method):
            svc.privilegedStartService() if kind.endswith("Server") else svc.startService()
    finally:
        r.close()


@pytest.mark.parametrize("kind,method", OTHER_KINDS)
def test_reactor_method_is_called_with_the_arguments(kind, method):
    """Each service hands its constructor arguments to the reactor method of its kind and
    undoes it on stop; on the real reactor, where the method does not exist yet the error
    names it."""
    r = fastreactor.Reactor()
    calls = []

    class Handle:
        def stopListening(self):
            calls.append("stopListening")
            return f_defer.succeed(None)

        def disconnect(self):
            calls.append("disconnect")

    class Recording:
        def __getattr__(self, name):
            if name == method:
                return lambda *a, **kw: (calls.append((name, a, kw)), Handle())[1]
            raise AttributeError(name)

    try:
        svc = getattr(f_internet, kind)(1, "two", three=3, reactor=Recording())
        svc.startService()
        svc.stopService()
        undo = "stopListening" if kind.endswith("Server") else "disconnect"
        assert calls == [(method, (1, "two"), {"three": 3}), undo]
        real = getattr(f_internet, kind)("/nonexistent", None, reactor=r)
        if not hasattr(r, method):
            with pytest.raises(f_internet.MissingReactorMethod, match=method):
                real.startService()
    finally:
        r.close()


def test_stream_server_endpoint_service(reactor):
    from conftest import run_until
    from fastreactor.endpoints import TCP4ServerEndpoint
    factory = f_protocol.Factory.forProtocol(f_protocol.Protocol)
    svc = f_internet.StreamServerEndpointService(
        TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"), factory)
    svc.startService()
    ports = []
    svc._waitingForPort.addCallback(lambda p: (ports.append(p), p)[1])
    assert ports
    socket.create_connection(("127.0.0.1", ports[0].getHost().port), timeout=5).close()
    stopped = []
    svc.stopService().addBoth(stopped.append)
    run_until(reactor, lambda: stopped)
    assert stopped == [None] and not svc.running


def test_stream_server_endpoint_service_logs_listen_failure(reactor, caplog):
    from fastreactor.endpoints import TCP4ServerEndpoint
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        factory = f_protocol.Factory.forProtocol(f_protocol.Protocol)
        svc = f_internet.StreamServerEndpointService(
            TCP4ServerEndpoint(reactor, busy.getsockname()[1], interface="127.0.0.1"), factory)
        with caplog.at_level("ERROR", logger="fastreactor"):
            svc.startService()
        assert "CannotListenError" in caplog.text or "Address already in use" in caplog.text
        svc._raiseSynchronously = True
        svc2 = f_internet.StreamServerEndpointService(svc.endpoint, factory)
        svc2._raiseSynchronously = True
        with pytest.raises(Exception, match="in use"):
            svc2.privilegedStartService()
    finally:
        busy.close()
