"""Differential tests for UNIX stream sockets: each scenario runs on Twisted's epoll reactor and on
fastreactor (every poller); the callback traces of factories and protocols must be equal."""
import os
import socket
import tempfile

import pytest

from test_tcp_lifecycle import Boom, by_actor, fast_face, recording_classes, twisted_face
from tracing import run_traced

pytest.importorskip("twisted.internet.protocol")


def socket_path():
    """A fresh path for a socket file in a new temporary directory (short: sun_path is small)."""
    return os.path.join(tempfile.mkdtemp(prefix="fru"), "s")


def compare(scenario, poller, timeout=5.0):
    """Run on both; each actor's sequence must be identical (and so must the set of actors)."""
    expected = run_traced(twisted_face(), scenario, timeout)
    actual = run_traced(fast_face(poller), scenario, timeout)
    assert "TIMEOUT" not in expected, expected
    assert by_actor(actual) == by_actor(expected)
    return actual


def listen(reactor, SF):
    path = socket_path()
    reactor.listenUNIX(path, SF())
    return path


def scenario_echo_and_close(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace, {
        "client.connectionMade": lambda p: p.transport.write(b"hello"),
        "server.dataReceived": lambda p, data: p.transport.write(data),
        "client.dataReceived": lambda p, data: p.transport.loseConnection(),
        "clientF.stopFactory": lambda f: done(),
    })
    reactor.connectUNIX(listen(reactor, SF), CF())


def scenario_refused_missing_file(reactor, face, trace, done):
    CF, _ = recording_classes(face, trace, {"clientF.stopFactory": lambda f: done()})
    reactor.connectUNIX(socket_path(), CF())


def scenario_refused_no_listener(reactor, face, trace, done):
    # A socket file whose socket is closed (a server that died without removing it).
    path = socket_path()
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()
    CF, _ = recording_classes(face, trace, {"clientF.stopFactory": lambda f: done()})
    reactor.connectUNIX(path, CF())


def scenario_server_build_none(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace, {
        "serverF.buildProtocol": lambda f, addr: None,
        "clientF.stopFactory": lambda f: done(),
    })
    reactor.connectUNIX(listen(reactor, SF), CF())


def scenario_client_build_none(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace, {
        "clientF.buildProtocol": lambda f, addr: None,
        "clientF.stopFactory": lambda f: done(),
    })
    reactor.connectUNIX(listen(reactor, SF), CF())


def scenario_server_closes(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace, {
        "server.connectionMade": lambda p: (p.transport.write(b"bye"), p.transport.loseConnection()),
        "clientF.stopFactory": lambda f: done(),
    })
    reactor.connectUNIX(listen(reactor, SF), CF())


def scenario_server_aborts(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace, {
        "client.connectionMade": lambda p: p.transport.write(b"x"),
        "server.dataReceived": lambda p, data: p.transport.abortConnection(),
        "clientF.stopFactory": lambda f: done(),
    })
    reactor.connectUNIX(listen(reactor, SF), CF())


def scenario_client_aborts(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace, {
        "client.connectionMade": lambda p: (p.transport.write(b"dropped"), p.transport.abortConnection()),
        "clientF.stopFactory": lambda f: reactor.callLater(0.1, done),
    })
    reactor.connectUNIX(listen(reactor, SF), CF())


def scenario_data_received_raises(reactor, face, trace, done):
    def explode(p, data):
        raise Boom("from dataReceived")

    CF, SF = recording_classes(face, trace, {
        "client.connectionMade": lambda p: p.transport.write(b"x"),
        "server.dataReceived": explode,
        "clientF.stopFactory": lambda f: reactor.callLater(0.1, done),
    })
    reactor.connectUNIX(listen(reactor, SF), CF())


def scenario_connection_made_raises(reactor, face, trace, done):
    def explode(p):
        raise Boom("from connectionMade")

    # A server's connectionMade raising: Twisted logs it and leaves the connection open.
    CF, SF = recording_classes(face, trace, {
        "server.connectionMade": explode,
        "client.connectionMade": lambda p: p.transport.write(b"still open?"),
        "server.dataReceived": lambda p, data: p.transport.loseConnection(),
        "clientF.stopFactory": lambda f: reactor.callLater(0.1, done),
    })
    reactor.connectUNIX(listen(reactor, SF), CF())


def scenario_reconnect(reactor, face, trace, done):
    attempts = []

    def lost(f, connector, reason):
        attempts.append(1)
        if len(attempts) < 3:
            connector.connect()

    CF, SF = recording_classes(face, trace, {
        "client.connectionMade": lambda p: p.transport.loseConnection(),
        "clientF.clientConnectionLost": lost,
        "clientF.stopFactory": lambda f: done(),
    })
    reactor.connectUNIX(listen(reactor, SF), CF())


def scenario_half_close(reactor, face, trace, done):
    """The client shuts its write side; a half-closeable server answers, then closes."""
    from zope.interface import implementer
    from twisted.internet.interfaces import IHalfCloseableProtocol

    class HalfServer(face.protocol.Protocol):
        def dataReceived(self, data):
            trace.append(("server.dataReceived", data))

        def readConnectionLost(self):
            trace.append("server.readConnectionLost")
            self.transport.write(b"after-eof")
            self.transport.loseConnection()

        def connectionLost(self, reason):
            trace.append(("server.connectionLost", type(reason.value).__name__))

    if face.name == "twisted":
        HalfServer = implementer(IHalfCloseableProtocol)(HalfServer)
    CF, _ = recording_classes(face, trace, {
        "client.connectionMade": lambda p: (p.transport.write(b"req"), p.transport.loseWriteConnection()),
        "clientF.stopFactory": lambda f: done(),
    })
    path = socket_path()
    reactor.listenUNIX(path, face.protocol.Factory.forProtocol(HalfServer))
    reactor.connectUNIX(path, CF())


def scenario_stop_connecting(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace, {"clientF.stopFactory": lambda f: done()})
    connector = reactor.connectUNIX(listen(reactor, SF), CF())
    trace.append(("state", connector.state))
    connector.stopConnecting()
    trace.append(("state", connector.state))


def scenario_stop_listening(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace)
    path = socket_path()
    port = reactor.listenUNIX(path, SF())
    trace.append(("file exists", os.path.exists(path)))
    d = port.stopListening()
    trace.append("stopListening returned")

    def fired(result):
        trace.append(("stopListening fired", result, os.path.exists(path)))
        done()

    d.addCallback(fired)


SCENARIOS = {
    "echo_and_close": scenario_echo_and_close,
    "refused_missing_file": scenario_refused_missing_file,
    "refused_no_listener": scenario_refused_no_listener,
    "server_build_none": scenario_server_build_none,
    "client_build_none": scenario_client_build_none,
    "server_closes": scenario_server_closes,
    "server_aborts": scenario_server_aborts,
    "client_aborts": scenario_client_aborts,
    "data_received_raises": scenario_data_received_raises,
    "connection_made_raises": scenario_connection_made_raises,
    "reconnect": scenario_reconnect,
    "half_close": scenario_half_close,
    "stop_connecting": scenario_stop_connecting,
    "stop_listening": scenario_stop_listening,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_callback_order_matches_twisted(name, poller, caplog):
    trace = compare(SCENARIOS[name], poller)
    assert trace, "the scenario recorded nothing"


def test_echo_trace_is_the_expected_sequence(poller):
    """Pin the sequence itself (not only the equality with Twisted): UNIXAddress for both sides."""
    trace = run_traced(fast_face(poller), scenario_echo_and_close)
    assert by_actor(trace)["client"] == [
        "clientF.doStart", "clientF.startFactory", "clientF.startedConnecting",
        ("clientF.buildProtocol", "UNIXAddress"), "client.makeConnection", "client.connectionMade",
        ("client.dataReceived", b"hello"), ("client.connectionLost", "ConnectionDone"),
        ("clientF.clientConnectionLost", "ConnectionDone"), "clientF.doStop", "clientF.stopFactory",
    ]
    assert ("serverF.buildProtocol", "UNIXAddress") in trace
