"""Differential tests: each TCP scenario runs on Twisted's epoll reactor and on fastreactor (every
poller), and the callback traces of factories and protocols must be equal. The scenarios every
stream kind shares are in tests/lifecycle_scenarios.py; those below are TCP's own."""
import socket

import pytest

from faces import Boom
from lifecycle_scenarios import StreamKind, compare, fast_face, recording_classes
from tracing import run_traced

pytest.importorskip("twisted.internet.protocol")


class TCP(StreamKind):
    """TCP over IPv4 loopback."""

    address_name = "IPv4Address"

    def listen(self, reactor, factory):
        return reactor.listenTCP(0, factory, interface="127.0.0.1").getHost().port

    def connect(self, reactor, port, factory):
        return reactor.connectTCP("127.0.0.1", port, factory)


# ---- TCP's own scenarios ---------------------------------------------------------------------------

def scenario_refused(reactor, face, trace, done):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    free = s.getsockname()[1]
    s.close()
    CF, _ = recording_classes(face, trace, {"clientF.stopFactory": lambda f: done()})
    reactor.connectTCP("127.0.0.1", free, CF())


def scenario_timeout(reactor, face, trace, done):
    # A listener that never accepts, with its queue filled: further SYNs are dropped.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(listener.getsockname())
        fillers.append(f)

    def finished(f):
        for s in fillers + [listener]:
            s.close()
        done()

    CF, _ = recording_classes(face, trace, {"clientF.stopFactory": finished})
    reactor.connectTCP("127.0.0.1", listener.getsockname()[1], CF(), timeout=0.3)


def scenario_dns_failure(reactor, face, trace, done):
    CF, _ = recording_classes(face, trace, {"clientF.stopFactory": lambda f: done()})
    reactor.connectTCP("nonexistent.invalid", 80, CF())


def scenario_stop_connecting(reactor, face, trace, done):
    CF, _ = recording_classes(face, trace, {"clientF.stopFactory": lambda f: done()})
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    connector = reactor.connectTCP("127.0.0.1", listener.getsockname()[1], CF())
    trace.append(("state", connector.state))
    connector.stopConnecting()
    trace.append(("state", connector.state))
    reactor.callLater(0.2, listener.close)


def scenario_stop_listening(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace)
    port = reactor.listenTCP(0, SF(), interface="127.0.0.1")
    d = port.stopListening()
    trace.append("stopListening returned")

    def fired(result):
        trace.append(("stopListening fired", result))
        done()

    d.addCallback(fired)


SCENARIOS = dict(TCP().scenarios(), **{
    "refused": scenario_refused,
    "timeout": scenario_timeout,
    "dns_failure": scenario_dns_failure,
    "stop_connecting": scenario_stop_connecting,
    "stop_listening": scenario_stop_listening,
})


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_callback_order_matches_twisted(name, poller, caplog):
    trace = compare(SCENARIOS[name], poller)
    assert trace, "the scenario recorded nothing"


def test_echo_trace_is_the_expected_sequence(poller):
    """Pin the sequence itself (not only the equality with Twisted)."""
    TCP().check_echo_trace(poller)


def test_data_received_exception_is_the_reason_and_is_logged(poller, caplog):
    reasons = []

    def scenario(reactor, face, trace, done):
        class Server(face.protocol.Protocol):
            def dataReceived(self, data):
                raise Boom("bad data")

            def connectionLost(self, reason):
                reasons.append(reason)
                done()

        port = reactor.listenTCP(0, face.protocol.Factory.forProtocol(Server), interface="127.0.0.1")
        c = socket.create_connection(("127.0.0.1", port.getHost().port))
        c.sendall(b"x")
        reactor.callLater(1, c.close)

    run_traced(fast_face(poller), scenario)
    assert len(reasons) == 1
    assert reasons[0].check(Boom) is Boom
    assert str(reasons[0].value) == "bad data"
    assert any("Boom" in (r.exc_text or "") or (r.exc_info and r.exc_info[0] is Boom) for r in caplog.records)
