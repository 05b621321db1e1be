"""Differential tests: each TCP scenario runs on Twisted's epoll reactor and on fastreactor (every
poller), and the callback traces of factories and protocols must be equal."""
import socket

import pytest

import fastreactor
import fastreactor.protocol
from tracing import run_traced

twisted_protocol = pytest.importorskip("twisted.internet.protocol")
from twisted.internet import epollreactor  # noqa: E402


class Face:
    """What a scenario needs from one implementation: a fresh reactor and protocol base classes."""

    def __init__(self, name, make_reactor, protocol_module):
        self.name = name
        self.make_reactor = make_reactor
        self.protocol = protocol_module


def twisted_face():
    return Face("twisted", epollreactor.EPollReactor, twisted_protocol)


def fast_face(poller):
    return Face("fastreactor-" + poller, lambda: fastreactor.Reactor(poller), fastreactor.protocol)


def reason_name(reason):
    return type(reason.value).__name__


def recording_classes(face, trace, on=None):
    """A ClientFactory/Protocol pair (and a server pair) whose every callback is traced.

    `on` maps a callback name ("client.connectionMade", ...) to an action(obj, *args) run after
    tracing it.
    """
    on = on or {}
    P = face.protocol

    def hook(name, obj, *args):
        action = on.get(name)
        if action is not None:
            action(obj, *args)

    counter = {"client": 0, "server": 0}

    def make_protocol(side):
        class Recorded(P.Protocol):
            def __init__(self):
                # Server connections are independent actors: tag them so traces can be compared
                # per connection (the interleaving of two connections is not part of the contract).
                self.tag = side if side == "client" else "%s#%d" % (side, counter[side])
                counter[side] += 1

            def makeConnection(self, transport):
                trace.append(self.tag + ".makeConnection")
                P.Protocol.makeConnection(self, transport)

            def connectionMade(self):
                trace.append(self.tag + ".connectionMade")
                hook(side + ".connectionMade", self)

            def dataReceived(self, data):
                trace.append((self.tag + ".dataReceived", data))
                hook(side + ".dataReceived", self, data)

            def connectionLost(self, reason):
                trace.append((self.tag + ".connectionLost", reason_name(reason)))
                hook(side + ".connectionLost", self, reason)

        return Recorded

    def make_factory(side, base):
        class RecordedFactory(base):
            protocol = make_protocol(side)
            noisy = False

            def doStart(self):
                trace.append(side + "F.doStart")
                base.doStart(self)

            def doStop(self):
                trace.append(side + "F.doStop")
                base.doStop(self)

            def startFactory(self):
                trace.append(side + "F.startFactory")

            def stopFactory(self):
                trace.append(side + "F.stopFactory")
                hook(side + "F.stopFactory", self)

            def buildProtocol(self, addr):
                trace.append((side + "F.buildProtocol", type(addr).__name__))
                action = on.get(side + "F.buildProtocol")
                if action is not None:
                    return action(self, addr)
                return base.buildProtocol(self, addr)

            def startedConnecting(self, connector):
                trace.append(side + "F.startedConnecting")

            def clientConnectionFailed(self, connector, reason):
                trace.append((side + "F.clientConnectionFailed", reason_name(reason)))
                hook(side + "F.clientConnectionFailed", self, connector, reason)

            def clientConnectionLost(self, connector, reason):
                trace.append((side + "F.clientConnectionLost", reason_name(reason)))
                hook(side + "F.clientConnectionLost", self, connector, reason)

        return RecordedFactory

    return make_factory("client", P.ClientFactory), make_factory("server", P.Factory)


def actor(entry):
    """Who an entry belongs to: 'client' (the client factory and its protocols, which run one after
    the other), 'serverF' (the server factory), 'server#N' (one server connection), or 'scenario'."""
    name = entry if isinstance(entry, str) else entry[0]
    head = name.split(".", 1)[0]
    if head in ("client", "clientF"):
        return "client"
    return head if "." in name else "scenario"


def by_actor(trace):
    actors = {}
    for entry in trace:
        actors.setdefault(actor(entry), []).append(entry)
    return actors


def compare(scenario, poller, timeout=5.0):
    """Run on both; each actor's sequence must be identical (and so must the set of actors)."""
    expected = run_traced(twisted_face(), scenario, timeout)
    actual = run_traced(fast_face(poller), scenario, timeout)
    assert "TIMEOUT" not in expected, expected
    assert by_actor(actual) == by_actor(expected)
    return actual


# ---- scenarios -------------------------------------------------------------------------------------

def scenario_echo_and_close(reactor, face, trace, done):
    def client_made(p):
        p.transport.write(b"hello")

    def client_data(p, data):
        p.transport.loseConnection()

    on = {
        "client.connectionMade": client_made,
        "server.dataReceived": lambda p, data: p.transport.write(data),
        "client.dataReceived": client_data,
        "clientF.stopFactory": lambda f: done(),
    }
    CF, SF = recording_classes(face, trace, on)
    port = reactor.listenTCP(0, SF(), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, CF())


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


def scenario_server_build_none(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace, {
        "serverF.buildProtocol": lambda f, addr: None,
        "clientF.stopFactory": lambda f: done(),
    })
    port = reactor.listenTCP(0, SF(), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, CF())


def scenario_client_build_none(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace, {
        "clientF.buildProtocol": lambda f, addr: None,
        "clientF.stopFactory": lambda f: done(),
    })
    port = reactor.listenTCP(0, SF(), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, CF())


def scenario_server_closes(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace, {
        "server.connectionMade": lambda p: (p.transport.write(b"bye"), p.transport.loseConnection()),
        "clientF.stopFactory": lambda f: done(),
    })
    port = reactor.listenTCP(0, SF(), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, CF())


def scenario_server_resets(reactor, face, trace, done):
    def made(p):
        p.transport.abortConnection()

    CF, SF = recording_classes(face, trace, {
        "client.connectionMade": lambda p: p.transport.write(b"x"),
        "server.dataReceived": lambda p, data: p.transport.abortConnection(),
        "clientF.stopFactory": lambda f: done(),
    })
    port = reactor.listenTCP(0, SF(), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, CF())


def scenario_client_aborts(reactor, face, trace, done):
    CF, SF = recording_classes(face, trace, {
        "client.connectionMade": lambda p: (p.transport.write(b"dropped"), p.transport.abortConnection()),
        "clientF.stopFactory": lambda f: reactor.callLater(0.1, done),
    })
    port = reactor.listenTCP(0, SF(), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, CF())


class Boom(Exception):
    pass


def scenario_data_received_raises(reactor, face, trace, done):
    def explode(p, data):
        raise Boom("from dataReceived")

    CF, SF = recording_classes(face, trace, {
        "client.connectionMade": lambda p: p.transport.write(b"x"),
        "server.dataReceived": explode,
        "clientF.stopFactory": lambda f: reactor.callLater(0.1, done),
    })
    port = reactor.listenTCP(0, SF(), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, CF())


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
    port = reactor.listenTCP(0, SF(), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, CF())


def scenario_write_after_lose(reactor, face, trace, done):
    """Twisted sends what is written after loseConnection but before the close happens."""
    CF, SF = recording_classes(face, trace, {
        "server.connectionMade": lambda p: (p.transport.write(b"a"), p.transport.loseConnection(),
                                            p.transport.write(b"b")),
        "server.connectionLost": lambda p, reason: p.transport.write(b"ignored"),
        "clientF.stopFactory": lambda f: done(),
    })
    port = reactor.listenTCP(0, SF(), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, CF())


def scenario_stop_connecting(reactor, face, trace, done):
    def started(f, connector=None):
        pass

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


SCENARIOS = {
    "echo_and_close": scenario_echo_and_close,
    "refused": scenario_refused,
    "timeout": scenario_timeout,
    "dns_failure": scenario_dns_failure,
    "server_build_none": scenario_server_build_none,
    "client_build_none": scenario_client_build_none,
    "server_closes": scenario_server_closes,
    "server_resets": scenario_server_resets,
    "client_aborts": scenario_client_aborts,
    "data_received_raises": scenario_data_received_raises,
    "reconnect": scenario_reconnect,
    "write_after_lose": scenario_write_after_lose,
    "stop_connecting": scenario_stop_connecting,
    "stop_listening": scenario_stop_listening,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_callback_order_matches_twisted(name, poller, caplog):
    trace = compare(SCENARIOS[name], poller)
    assert trace, "the scenario recorded nothing"


def test_echo_trace_is_the_expected_sequence(poller):
    """Pin the sequence itself (not only the equality with Twisted)."""
    trace = run_traced(fast_face(poller), scenario_echo_and_close)
    assert by_actor(trace)["client"] == [
        "clientF.doStart", "clientF.startFactory", "clientF.startedConnecting",
        ("clientF.buildProtocol", "IPv4Address"), "client.makeConnection", "client.connectionMade",
        ("client.dataReceived", b"hello"), ("client.connectionLost", "ConnectionDone"),
        ("clientF.clientConnectionLost", "ConnectionDone"), "clientF.doStop", "clientF.stopFactory",
    ]


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
