"""Differential tests: registerProducer on a TCP transport after abortConnection, after
loseConnection and after the connection is lost, on Twisted's epoll reactor and on fastreactor
(every poller, both faces). What the producer is asked (resume/pause/stop, and when), whether the
transport holds it, and the protocol's callbacks must be the same.

Twisted's FileDescriptor.registerProducer stops the producer at once only when the transport is
already `disconnected`; an aborting or disconnecting transport takes the producer (a pull producer
is asked to resume at once) and stops it in connectionLost, before the protocol's."""
import pytest

from faces import twisted_face, twisted_face_on_fastreactor
from lifecycle_scenarios import by_actor, fast_face, recording_classes
from tracing import run_traced

pytest.importorskip("twisted.internet.protocol")


class Producer:
    """Traces every call it gets, as `<tag>.producer.<method>`; a pull producer is resumed
    and must not write (the transport is closing), so it only traces."""

    def __init__(self, trace, tag):
        self.trace = trace
        self.tag = tag

    def resumeProducing(self):
        self.trace.append(self.tag + ".producer.resumeProducing")

    def pauseProducing(self):
        self.trace.append(self.tag + ".producer.pauseProducing")

    def stopProducing(self):
        self.trace.append(self.tag + ".producer.stopProducing")


def register(p, streaming, trace):
    """Register a fresh Producer on `p.transport`, tracing the call's result and whether the
    transport holds the producer afterwards."""
    producer = Producer(trace, p.tag)
    try:
        p.transport.registerProducer(producer, streaming)
    except Exception as e:
        trace.append((p.tag + ".registerProducer raised", type(e).__name__))
    else:
        trace.append((p.tag + ".registerProducer returned", p.transport.producer is producer))
    return producer


def scenario_after(close, streaming):
    """The server's connectionMade calls `close` ("abortConnection", "loseConnection" or
    None) then registers a producer; with "lost", it registers in connectionLost."""

    def scenario(reactor, face, trace, done):
        def made(p):
            if close in ("abortConnection", "loseConnection"):
                getattr(p.transport, close)()
                register(p, streaming, trace)
                # What the producer hears in a later iteration, before the close is over.
                reactor.callLater(0, trace.append, p.tag + ".next iteration")
                # A pull producer holds a loseConnection back for good: end the scenario anyway.
                reactor.callLater(0.3, done)
            elif close == "unregister":
                p.transport.loseConnection()
                register(p, streaming, trace)
                reactor.callLater(0.05, unregister, p)

        def unregister(p):
            trace.append(p.tag + ".unregisterProducer")
            p.transport.unregisterProducer()

        def lost(p, reason):
            if close == "lost":
                register(p, streaming, trace)

        CF, SF = recording_classes(face, trace, {
            "server.connectionMade": made,
            "server.connectionLost": lost,
            "client.connectionMade": (lambda p: p.transport.loseConnection())
            if close == "lost" else (lambda p: None),
            "clientF.stopFactory": lambda f: reactor.callLater(0.1, done),
        })
        port = reactor.listenTCP(0, SF(), interface="127.0.0.1")
        reactor.connectTCP("127.0.0.1", port.getHost().port, CF())

    return scenario


CLOSES = ["abortConnection", "loseConnection", "unregister", "lost"]
_reference = {}


def reference(close, streaming):
    """Twisted's trace of `scenario_after(close, streaming)` on its own epoll reactor, run once per
    module: the oracle is the same whatever face and poller it is compared with."""
    if (close, streaming) not in _reference:
        _reference[close, streaming] = run_traced(twisted_face(), scenario_after(close, streaming))
    return _reference[close, streaming]


@pytest.mark.parametrize("streaming", [True, False], ids=["push", "pull"])
@pytest.mark.parametrize("close", CLOSES)
@pytest.mark.parametrize("face_name", ["native", "twisted"])
def test_register_producer_after_close_matches_twisted(face_name, close, streaming, poller):
    face = fast_face(poller) if face_name == "native" else twisted_face_on_fastreactor(poller)
    expected = reference(close, streaming)
    assert "TIMEOUT" not in expected, expected
    # As lifecycle_scenarios.compare: each actor's sequence identical, and the set of actors.
    actors = by_actor(run_traced(face, scenario_after(close, streaming)))
    assert actors == by_actor(expected)
    server = actors["server#0"]
    assert any("registerProducer" in str(entry) for entry in server), server
    # The producer is stopped exactly once, when the connection is lost; but a pull producer
    # registered after loseConnection holds the close back until it is unregistered (Twisted's
    # rule): never stopped, the connection closing only after unregisterProducer.
    held = close in ("loseConnection", "unregister") and not streaming
    stops = 0 if held else 1
    if held and close == "unregister":
        assert server[-2:] == ["server#0.unregisterProducer",
                               ("server#0.connectionLost", "ConnectionDone")], server
    elif held:
        assert not any("connectionLost" in str(entry) for entry in server), server
    assert server.count("server#0.producer.stopProducing") == stops, server


def test_abort_then_register_is_the_pinned_sequence(poller):
    """Pin Twisted's sequence itself for the abort case (not only the equality): the aborting
    transport takes the producer, asks a pull producer to resume, and stops it in connectionLost
    (before the protocol's connectionLost), which comes before a callLater(0) made after the
    abort."""
    actors = by_actor(run_traced(fast_face(poller), scenario_after("abortConnection", False)))
    assert actors["server#0"] == [
        "server#0.makeConnection", "server#0.connectionMade",
        "server#0.producer.resumeProducing",
        ("server#0.registerProducer returned", True),
        "server#0.producer.stopProducing",
        ("server#0.connectionLost", "ConnectionAborted"),
        "server#0.next iteration",
    ]
