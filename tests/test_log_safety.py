"""Logging an error never raises. A protocol, factory or timed callable whose __repr__ raises,
and whose callback raises too, must have the same outcome as one with a working __repr__: the
callback's exception is logged with its traceback, its connection ends as it would have ended,
and the loop keeps running and serving other connections."""
import logging
import socket

import pytest

import fastreactor.protocol
from conftest import run_until

class Boom(Exception):
    """What the callbacks raise."""


class ReprBoom(Exception):
    """What the __repr__ methods raise."""


class BadRepr:
    def __repr__(self):
        raise ReprBoom("no repr for you")


def boom_logged(caplog):
    """True if a 'fastreactor' log record carries the Boom traceback."""
    return any(r.exc_info and r.exc_info[0] is Boom for r in caplog.records
               if r.name.startswith("fastreactor"))


def repr_failure_logged(caplog):
    return any(r.exc_info and r.exc_info[0] is ReprBoom for r in caplog.records)


def peer_state(sock, wait=0.0):
    """'EOF', 'RST' or 'open' (no data expected) after `wait` seconds at most."""
    sock.settimeout(wait)
    try:
        data = sock.recv(100)
    except ConnectionResetError:
        return "RST"
    except (socket.timeout, BlockingIOError):
        return "open"
    return "EOF" if data == b"" else ("data", data)


def make_server(reactor, bad_repr, raise_in, trace):
    """Listen with a protocol that raises Boom from `raise_in` (first connection only); its
    __repr__ (and its factory's) raise when `bad_repr`."""
    fired = []

    class Server(fastreactor.protocol.Protocol):
        def connectionMade(self):
            trace.append("connectionMade")
            if raise_in == "connectionMade" and not fired:
                fired.append(1)
                raise Boom("connectionMade")

        def dataReceived(self, data):
            trace.append(("dataReceived", data))
            if raise_in == "dataReceived" and not fired:
                fired.append(1)
                raise Boom("dataReceived")
            self.transport.write(data)

        def connectionLost(self, reason):
            trace.append(("connectionLost", type(reason.value).__name__))
            if raise_in == "connectionLost" and not fired:
                fired.append(1)
                raise Boom("connectionLost")

    class Factory(fastreactor.protocol.Factory):
        protocol = Server
        noisy = False   # "Starting factory %r" is the factory's own log line, not the engine's

        def buildProtocol(self, addr):
            if raise_in == "buildProtocol" and not fired:
                fired.append(1)
                raise Boom("buildProtocol")
            return fastreactor.protocol.Factory.buildProtocol(self, addr)

    if bad_repr:
        Server.__repr__ = Factory.__repr__ = BadRepr.__repr__
    return reactor.listenTCP(0, Factory(), interface="127.0.0.1")


def serves_another(reactor, port):
    s = socket.create_connection(("127.0.0.1", port.getHost().port))
    s.settimeout(2)
    try:
        s.sendall(b"ping")
        got = []

        def echoed():
            try:
                s.setblocking(False)
                got.append(s.recv(4))
            except BlockingIOError:
                pass
            return got

        run_until(reactor, echoed, timeout=5)
        return got[0]
    finally:
        s.close()


def server_outcome(reactor, caplog, bad_repr, raise_in):
    """(trace, what the peer saw, Boom logged, a later connection served) for one run."""
    trace = []
    caplog.clear()
    port = make_server(reactor, bad_repr, raise_in, trace)
    peer = socket.create_connection(("127.0.0.1", port.getHost().port))
    try:
        if raise_in == "dataReceived":
            peer.sendall(b"x")
        if raise_in == "connectionLost":
            peer.close()
        for _ in range(30):
            reactor.iterate(0.01)
        seen = "closed by us" if raise_in == "connectionLost" else peer_state(peer, 0.2)
        served = serves_another(reactor, port)
        return trace, seen, boom_logged(caplog), served
    finally:
        peer.close()
        port.stopListening()
        for _ in range(3):
            reactor.iterate(0)


@pytest.mark.parametrize("raise_in", ["buildProtocol", "connectionMade", "dataReceived",
                                      "connectionLost"])
def test_server_callback_with_raising_repr(reactor, caplog, raise_in):
    caplog.set_level(logging.INFO, logger="fastreactor")
    good = server_outcome(reactor, caplog, False, raise_in)
    assert good[2], "the good-repr run did not log Boom"
    bad = server_outcome(reactor, caplog, True, raise_in)
    assert bad == good
    assert not repr_failure_logged(caplog)


def test_data_received_with_raising_repr_closes_the_connection(reactor, caplog):
    trace = []
    port = make_server(reactor, True, "dataReceived", trace)
    peer = socket.create_connection(("127.0.0.1", port.getHost().port))
    try:
        peer.sendall(b"x")
        run_until(reactor, lambda: trace and trace[-1][0] == "connectionLost", timeout=2)
        assert trace[-1] == ("connectionLost", "Boom")
        assert peer_state(peer, 1.0) in ("EOF", "RST")
    finally:
        peer.close()


def test_client_connection_lost_with_raising_repr_still_tells_the_factory(reactor, caplog):
    """connectionLost raises and the protocol's __repr__ raises: clientConnectionLost and
    doStop still follow, as with a working __repr__."""
    caplog.set_level(logging.INFO, logger="fastreactor")
    trace = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    class Client(BadRepr, fastreactor.protocol.Protocol):
        def connectionLost(self, reason):
            trace.append("connectionLost")
            raise Boom("connectionLost")

    class CF(BadRepr, fastreactor.protocol.ClientFactory):
        protocol = Client
        noisy = False

        def clientConnectionLost(self, connector, reason):
            trace.append("clientConnectionLost")

        def doStop(self):
            trace.append("doStop")

    try:
        reactor.connectTCP("127.0.0.1", listener.getsockname()[1], CF())
        listener.settimeout(5)
        for _ in range(20):
            reactor.iterate(0.01)
        accepted, _ = listener.accept()
        accepted.close()
        run_until(reactor, lambda: "doStop" in trace, timeout=5)
        assert trace == ["connectionLost", "clientConnectionLost", "doStop"]
        assert boom_logged(caplog)
    finally:
        listener.close()


class BadReprCallable(BadRepr):
    def __init__(self, trace):
        self.trace = trace

    def __call__(self):
        self.trace.append("called")
        raise Boom("timer")


def test_timer_with_raising_repr(reactor, caplog):
    """The timer's error is logged; iterate() does not raise; later timers run."""
    caplog.set_level(logging.INFO, logger="fastreactor")
    trace = []
    reactor.callLater(0, BadReprCallable(trace))
    reactor.callLater(0, trace.append, "next")
    reactor.iterate(0)
    reactor.iterate(0)
    assert sorted(trace) == ["called", "next"]
    assert boom_logged(caplog)


@pytest.mark.parametrize("raise_in", ["buildProtocol", "connectionMade", "dataReceived",
                                      "connectionLost"])
def test_server_callback_with_working_repr_is_logged(reactor, caplog, raise_in):
    """The reference run of test_server_callback_with_raising_repr: Boom is logged, another
    connection is served."""
    caplog.set_level(logging.INFO, logger="fastreactor")
    trace, seen, logged, served = server_outcome(reactor, caplog, False, raise_in)
    assert logged
    assert served == b"ping"
    if raise_in in ("buildProtocol", "dataReceived"):
        assert seen in ("EOF", "RST")


def test_twisted_face_data_received_with_raising_repr_closes_the_connection(poller):
    """The same on the Twisted face (errors go to Twisted's log)."""
    twisted_protocol = pytest.importorskip("twisted.internet.protocol")
    from fastreactor.twisted import FastReactor
    reactor = FastReactor(poller)
    trace = []

    class Server(twisted_protocol.Protocol):
        def __repr__(self):
            raise ReprBoom("no repr for you")

        def dataReceived(self, data):
            raise Boom("dataReceived")

        def connectionLost(self, reason):
            trace.append(type(reason.value).__name__)

    port = reactor.listenTCP(0, twisted_protocol.Factory.forProtocol(Server),
                             interface="127.0.0.1")
    peer = socket.create_connection(("127.0.0.1", port.getHost().port))
    try:
        peer.sendall(b"x")
        run_until(reactor, lambda: trace, timeout=2)
        assert trace == ["Boom"]
        assert peer_state(peer, 1.0) in ("EOF", "RST")
    finally:
        peer.close()
        port.stopListening()
        for _ in range(3):
            reactor.iterate(0)
        reactor.close()
