"""Writes made after loseConnection on a TLS connection, differentially: each scenario runs on
Twisted's epoll reactor with twisted.internet.ssl (TLSMemoryBIOProtocol) and on fastreactor's
native TLS (every poller, both record paths); the traces must be equal.

Twisted's TLSMemoryBIOProtocol.write drops what is written after loseConnection, unless a
producer (push or pull) is registered: then writes go on until the producer is unregistered, and
only then is the close_notify sent. (Plain TCP sends writes made after loseConnection, on both:
tests/lifecycle_scenarios.py `write_after_lose`.) The client collects what it receives and
traces it whole when its connection is lost, so how the bytes were split into reads does not
matter; the server traces each step it takes and its producer's stopProducing."""
import pytest
from twisted.internet import _producer_helpers
from twisted.internet import task as twisted_task

from tracing import run_traced
from test_tls_differential import FastFace, TwistedFace, reason_name, record_path  # noqa: F401

pytest.importorskip("cryptography", reason="test certificates are made with the cryptography package")
from tls_certs import Certificates  # noqa: E402


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certificates(str(tmp_path_factory.mktemp("certs")))


class TwistedOracle(TwistedFace):
    """Twisted's TLS wraps a pull producer in _PullToPush, driven by a Cooperator on the global
    reactor; here it is driven by the scenario's reactor (see the `cooperate` fixture). The
    reactor gets a close() (run_traced calls it) that closes its waker pipe and epoll descriptor,
    which Twisted leaves open: dozens of runs would push the descriptors that later tests get
    past what the select poller can watch."""

    def make_reactor(self):
        reactor = TwistedFace.make_reactor(self)
        cooperator = twisted_task.Cooperator(scheduler=lambda step: reactor.callLater(0.005, step))
        _producer_helpers.cooperate = cooperator.cooperate

        def close():
            reactor.waker.connectionLost(None)
            reactor._poller.close()

        reactor.close = close
        return reactor


@pytest.fixture
def cooperate(monkeypatch):
    """Restores Twisted's `cooperate` after TwistedOracle replaced it."""
    monkeypatch.setattr(_producer_helpers, "cooperate", _producer_helpers.cooperate)


class Producer:
    """A producer that produces nothing by itself: the scenario writes. Traces stopProducing."""

    def __init__(self, trace):
        self.trace = trace

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        self.trace.append("producer.stopProducing")


def run(face, server_steps, client_steps=()):
    """One TLS connection on `face`. `server_steps`/`client_steps`: (delay, name, action(p))
    run from that side's handshakeCompleted (delay None: at once, in handshakeCompleted;
    delay "made": in connectionMade instead; a number: that many seconds after it, steps of
    equal delay in one iteration, and never before the steps of a smaller delay have run in an
    earlier iteration); each traces side.name before its action.
    Returns the trace; each side's connectionLost is preceded by what it received in all."""
    def scenario(reactor, face, trace, done):
        P = face.protocol
        ended = []

        def finished():
            ended.append(1)
            if len(ended) == 2:
                port.stopListening()
                reactor.callLater(0.1, done)

        def steps(p, side, which):
            # Timed steps run in groups of equal delay, each group in one reactor iteration, and
            # each group is scheduled when the one before it has run: a stalled reactor (a loaded
            # machine) then cannot merge two groups into one iteration, which changes what
            # Twisted's TLS does (it sends small writes on the iteration after them).
            groups = []
            for delay, name, action in which:
                if delay is None or delay == "made":
                    trace.append(side + "." + name)
                    action(p)
                elif groups and groups[-1][0] == delay:
                    groups[-1][1].append((name, action))
                else:
                    groups.append((delay, [(name, action)]))

            def schedule(i, previous):
                if i == len(groups):
                    return
                delay, members = groups[i]

                def fire():
                    for name, action in members:
                        trace.append(side + "." + name)
                        action(p)
                    schedule(i + 1, delay)

                reactor.callLater(delay - previous, fire)

            schedule(0, 0.0)

        def protocol_for(side, which):
            class Side(P.Protocol):
                def connectionMade(self):
                    self.received = []
                    self.trace = trace
                    trace.append(side + ".connectionMade")
                    steps(self, side, [s for s in which if s[0] == "made"])

                def handshakeCompleted(self):
                    trace.append(side + ".handshakeCompleted")
                    steps(self, side, [s for s in which if s[0] != "made"])

                def dataReceived(self, data):
                    self.received.append(data)

                def connectionLost(self, reason):
                    trace.append((side + ".received", b"".join(self.received)))
                    trace.append((side + ".connectionLost", reason_name(reason)))
                    finished()

            return face.declare(Side)

        class ClientF(P.ClientFactory):
            protocol = protocol_for("client", client_steps)
            noisy = False

        class ServerF(P.Factory):
            protocol = protocol_for("server", server_steps)
            noisy = False

        port = reactor.listenSSL(0, ServerF(), face.server_context(), interface="127.0.0.1")
        reactor.connectSSL("127.0.0.1", port.getHost().port, ClientF(), face.client_context())

    return run_traced(face, scenario, timeout=10)


def by_side(trace):
    sides = {}
    for entry in trace:
        name = entry if isinstance(entry, str) else entry[0]
        sides.setdefault(name.split(".")[0], []).append(entry)
    return sides


_oracle = {}

# What a scenario's oracle trace does not depend on: the native side's poller and record path.
NATIVE_ONLY = ("poller", "record_path")


@pytest.fixture
def oracle(request, certs):
    """`oracle(server_steps, client_steps=())`: Twisted's trace of this test's scenario, run once
    per module and reused for every poller and record path; a test's other parameters
    (`streaming`) are part of the key, as its steps depend on them."""
    params = getattr(request.node, "callspec", None)
    params = params.params if params is not None else {}
    key = (request.node.originalname,
           tuple(sorted((k, v) for k, v in params.items() if k not in NATIVE_ONLY)))

    def get(server_steps, client_steps=()):
        if key not in _oracle:
            trace = run(TwistedOracle(certs), server_steps, client_steps)
            assert "TIMEOUT" not in trace, trace
            _oracle[key] = tuple(trace)
        return list(_oracle[key])
    return get


def compare(oracle, certs, poller, server_steps, client_steps=()):
    expected = oracle(server_steps, client_steps)
    actual = run(FastFace(certs, poller), server_steps, client_steps)
    assert by_side(actual) == by_side(expected), (actual, expected)
    return by_side(expected)


def write(data):
    return lambda p: p.transport.write(data)


def lose(p):
    p.transport.loseConnection()


def test_writes_after_lose_connection_are_dropped(oracle, certs, poller, record_path, cooperate):
    sides = compare(oracle, certs, poller, [
        (None, "write", write(b"before ")),
        (None, "lose", lose),
        (None, "write", write(b"after")),
        (None, "writeSequence", lambda p: p.transport.writeSequence([b"after", b"seq"])),
        (0.0, "write", write(b"next iteration")),
    ])
    assert ("client.received", b"before ") in sides["client"]


def test_writes_after_lose_connection_before_the_handshake_are_dropped(oracle, certs, poller,
                                                                        record_path, cooperate):
    sides = compare(oracle, certs, poller, [], [
        ("made", "write", write(b"early")),
        ("made", "lose", lose),
        ("made", "write", write(b" late")),
    ])
    assert ("server.received", b"early") in sides["server"]


@pytest.mark.parametrize("streaming", [True, False], ids=["push", "pull"])
def test_a_registered_producer_keeps_writes_going_until_unregistered(oracle, certs, poller,
                                                                     record_path, cooperate,
                                                                     streaming):
    sides = compare(oracle, certs, poller, [
        (None, "register", lambda p: p.transport.registerProducer(Producer(p.trace), streaming)),
        (None, "write", write(b"before ")),
        (None, "lose", lose),
        (None, "write", write(b"during ")),
        (0.1, "write", write(b"later ")),
        (0.15, "write", write(b"last")),
        # (Twisted sends "last" on the iteration after its write: it must come before this.)
        (0.4, "unregister", lambda p: p.transport.unregisterProducer()),
        (0.4, "write", write(b" after")),
        (0.5, "write", write(b" next iteration")),
    ])
    assert ("client.received", b"before during later last") in sides["client"]


@pytest.mark.parametrize("streaming", [True, False], ids=["push", "pull"])
def test_a_write_just_before_unregister_producer_is_sent(oracle, certs, poller, record_path,
                                                        cooperate, streaming):
    """Where fastreactor differs on purpose: a write made while the producer is registered is
    sent even when unregisterProducer follows in the same reactor iteration. Twisted's TLS
    transport gathers small writes and hands them to TLSMemoryBIOProtocol.write on the next
    iteration, which by then sees a closing connection with no producer and drops them (data
    the protocol wrote while it was allowed to: a Twisted bug, not copied; see TCPConnection's
    docstring). Both traces are pinned; everything else in them must be equal."""
    steps = [
        (None, "register", lambda p: p.transport.registerProducer(Producer(p.trace), streaming)),
        (None, "lose", lose),
        (0.1, "write", write(b"last")),
        (0.1, "unregister", lambda p: p.transport.unregisterProducer()),
        (0.1, "write", write(b" after")),
    ]
    expected = by_side(oracle(steps))
    actual = by_side(run(FastFace(certs, poller), steps))
    theirs = ("client.received", b"")
    ours = ("client.received", b"last")
    assert theirs in expected["client"], expected
    assert ours in actual["client"], actual
    expected["client"][expected["client"].index(theirs)] = ours
    assert actual == expected


@pytest.mark.parametrize("streaming", [True, False], ids=["push", "pull"])
def test_lose_connection_waits_for_the_producer(oracle, certs, poller, record_path, cooperate,
                                                streaming):
    """The close waits for unregisterProducer even with nothing written meanwhile; the client
    sees the connection open (it can still write to the server) until then."""
    sides = compare(oracle, certs, poller, [
        (None, "register", lambda p: p.transport.registerProducer(Producer(p.trace), streaming)),
        (None, "lose", lose),
        (0.6, "unregister", lambda p: p.transport.unregisterProducer()),
    ], [
        (0.1, "write", write(b"still open")),
    ])
    assert ("server.received", b"still open") in sides["server"]
