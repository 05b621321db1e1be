"""ReconnectingClientFactory: differential against Twisted's own (same operations, same seeded
random, a fake clock in both: the same delays, retries, pending calls and connector calls), and
end to end on a reactor made with fastreactor.Reactor(), whose retries must run on that reactor
(the connector's), not on the global one."""
import random
import socket

import pytest

import fastreactor.error
import fastreactor.protocol
from conftest import run_until

twisted_protocol = pytest.importorskip("twisted.internet.protocol")
from twisted.internet import error as twisted_error  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402


class FakeConnector:
    """Records connect()/stopConnecting(); `state` as a real connector's."""

    def __init__(self, log, not_connecting):
        self.log = log
        self.not_connecting = not_connecting
        self.state = "disconnected"

    def connect(self):
        self.log.append("connect")
        self.state = "connecting"

    def stopConnecting(self):
        if self.state != "connecting":
            self.log.append("stopConnecting refused")
            raise self.not_connecting()
        self.log.append("stopConnecting")
        self.state = "disconnected"

    def __repr__(self):
        return "<FakeConnector>"


FACES = {
    "twisted": (twisted_protocol.ReconnectingClientFactory, twisted_error.NotConnectingError),
    "fastreactor": (fastreactor.protocol.ReconnectingClientFactory,
                    fastreactor.error.NotConnectingError),
}


def run_script(face, script, seed=1234, **attributes):
    """Apply `script` (a list of operations) to a fresh factory of `face`; return what was
    observed after each operation."""
    cls, not_connecting = FACES[face]
    factory = cls()
    factory.noisy = False
    for name, value in attributes.items():
        setattr(factory, name, value)
    clock = Clock()
    factory.clock = clock
    log = []
    connector = FakeConnector(log, not_connecting)
    random.seed(seed)
    observed = []
    for op in script:
        kind = op[0]
        if kind == "failed":
            connector.state = "disconnected"
            factory.clientConnectionFailed(connector, None)
        elif kind == "lost":
            connector.state = "disconnected"
            factory.clientConnectionLost(connector, None)
        elif kind == "advance":
            clock.advance(op[1])
        elif kind == "retry":
            try:
                factory.retry(*op[1:])
            except ValueError as e:
                log.append(("retry raised", str(e)))
        elif kind == "connected":
            connector.state = "connected"
            factory.resetDelay()
        else:
            getattr(factory, kind)(*op[1:])
        observed.append((op, round(factory.delay, 9), factory.retries,
                         bool(factory.continueTrying),
                         [round(c.getTime(), 9) for c in clock.getDelayedCalls()], list(log)))
    return observed


def failures(n, wait=1e6):
    script = []
    for _ in range(n):
        script += [("failed",), ("advance", wait)]
    return script


SCRIPTS = {
    "default back-off": (failures(12), {}),
    "no jitter": (failures(12), {"jitter": 0}),
    "maxRetries": (failures(6), {"maxRetries": 3, "jitter": 0}),
    "maxDelay": (failures(8), {"maxDelay": 10, "jitter": 0}),
    "factor and initialDelay": (failures(6), {"factor": 1.5, "initialDelay": 0.25}),
    "lost then reset": (
        [("lost",), ("advance", 100), ("lost",), ("advance", 100), ("connected",), ("lost",),
         ("advance", 100)], {}),
    "stopTrying while waiting": (
        [("failed",), ("stopTrying",), ("advance", 100), ("failed",), ("advance", 100)], {}),
    "stopTrying while connecting": (
        [("failed",), ("advance", 100), ("stopTrying",), ("failed",), ("advance", 100)], {}),
    "stopTrying then resetDelay": (
        [("failed",), ("stopTrying",), ("resetDelay",), ("failed",), ("advance", 100)], {}),
    "continueTrying off": ([("failed",), ("advance", 100)], {"continueTrying": 0}),
    "retry without a connector": ([("retry",)], {}),
    "retry after a failure": ([("failed",), ("advance", 100), ("retry",), ("advance", 100)],
                              {"jitter": 0}),
}


@pytest.mark.parametrize("seed", [1, 99])
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_same_as_twisted(name, seed):
    script, attributes = SCRIPTS[name]
    expected = run_script("twisted", script, seed, **attributes)
    actual = run_script("fastreactor", script, seed, **attributes)
    assert actual == expected


def test_the_back_off_is_what_twisted_documents():
    """Pin the sequence itself: without jitter, initialDelay times factor**n up to maxDelay."""
    observed = run_script("fastreactor", failures(5), jitter=0, initialDelay=1.0, factor=2.0,
                          maxDelay=10)
    waits = []
    now = 0.0
    for op, delay, retries, trying, calls, log in observed:
        if op[0] == "failed":
            waits.append(calls[0] - now)
        else:
            now += op[1]
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert observed[-1][5] == ["connect"] * 5


def test_retries_run_on_the_connectors_reactor(reactor):
    """connectTCP on a reactor that is not the global one: the retries are scheduled on it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    free = s.getsockname()[1]
    s.close()
    failed = []

    class F(fastreactor.protocol.ReconnectingClientFactory):
        noisy = False
        initialDelay = 0.01
        jitter = 0
        maxRetries = 2

        def clientConnectionFailed(self, connector, reason):
            failed.append(reason.value)
            fastreactor.protocol.ReconnectingClientFactory.clientConnectionFailed(
                self, connector, reason)

    factory = F()
    reactor.connectTCP("127.0.0.1", free, factory)
    run_until(reactor, lambda: len(failed) == 3, timeout=10)
    assert factory.clock is None   # the connector's reactor was used, nothing was pinned
    for _ in range(10):
        reactor.iterate(0.02)
    assert len(failed) == 3        # maxRetries: the third failure is not retried
    assert not reactor.getDelayedCalls()


def test_an_explicit_clock_wins(reactor):
    clock = Clock()

    class Connector:
        def __init__(self):
            self.reactor = reactor
            self.connects = 0

        def connect(self):
            self.connects += 1

    factory = fastreactor.protocol.ReconnectingClientFactory()
    factory.noisy = False
    factory.clock = clock
    connector = Connector()
    factory.clientConnectionFailed(connector, None)
    assert len(clock.getDelayedCalls()) == 1
    assert not reactor.getDelayedCalls()
    clock.advance(1e6)
    assert connector.connects == 1
