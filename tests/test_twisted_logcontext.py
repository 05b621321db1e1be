"""On the Twisted face, log.msg() in a transport's callbacks carries Twisted's per-descriptor
"system" (the transport's, or the port's, logPrefix()), and "-" elsewhere: the same scenario runs
on Twisted's epoll reactor and on FastReactor, on every poller, and the systems must match."""
import pytest

pytest.importorskip("twisted")

from twisted.internet import epollreactor, protocol  # noqa: E402
from twisted.python import context, log  # noqa: E402

from fastreactor.twisted import FastReactor  # noqa: E402


class Tagged(protocol.Protocol):
    """Logs from each callback; the server closes after the first data, the client then stops."""

    def __init__(self, side, reactor):
        self.side = side
        self.reactor = reactor

    def connectionMade(self):
        log.msg("%s connectionMade" % self.side)
        if self.side == "client":
            self.transport.write(b"hello")

    def dataReceived(self, data):
        log.msg("%s dataReceived" % self.side)
        self.reactor.callLater(0, log.msg, "%s timer" % self.side)
        self.transport.loseConnection()

    def connectionLost(self, reason):
        log.msg("%s connectionLost" % self.side)
        if self.side == "client":
            self.reactor.callLater(0.05, self.reactor.stop)


class ServerFactory(protocol.ServerFactory):
    noisy = False

    def __init__(self, reactor):
        self.reactor = reactor

    def buildProtocol(self, addr):
        log.msg("server buildProtocol")
        p = Tagged("server", self.reactor)
        p.factory = self
        return p


class ClientFactory(protocol.ClientFactory):
    noisy = False

    def __init__(self, reactor):
        self.reactor = reactor

    def buildProtocol(self, addr):
        p = Tagged("client", self.reactor)
        p.factory = self
        return p


def systems(reactor):
    """{message: system} of the scenario's log events on `reactor`."""
    seen = {}

    def observer(event):
        text = log.textFromEventDict(event) or ""
        if text.startswith(("server ", "client ")):
            seen[text] = event["system"]

    log.addObserver(observer)
    try:
        port = reactor.listenTCP(0, ServerFactory(reactor), interface="127.0.0.1")
        reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory(reactor))
        reactor.callLater(5, reactor.stop)
        reactor.run(installSignalHandlers=False)
    finally:
        log.removeObserver(observer)
    return seen


def normalized(seen):
    """Session numbers and ports differ from run to run: keep the prefix's protocol part."""
    return {message: system.split(",")[0] for message, system in seen.items()}


def test_log_system_matches_twisted(poller):
    theirs = systems(epollreactor.EPollReactor())
    reactor = FastReactor(poller)
    try:
        ours = systems(reactor)
    finally:
        reactor.close()
    assert "server dataReceived" in theirs and "client connectionLost" in theirs
    assert normalized(ours) == normalized(theirs)
    assert ours["server timer"] == "-"


def test_outside_a_dispatch_the_system_is_the_default(poller):
    reactor = FastReactor(poller)
    try:
        assert context.get(log.ILogContext)["system"] == "-"
        got = []
        reactor.callLater(0, lambda: got.append(context.get(log.ILogContext)["system"]))
        reactor.callLater(0.01, reactor.stop)
        reactor.run(installSignalHandlers=False)
        assert got == ["-"]
        # An explicit context still wins, as in Twisted.
        assert log.callWithContext({"system": "mine"}, lambda: context.get(log.ILogContext)["system"]) == "mine"
    finally:
        reactor.close()


def reader_system(reactor):
    """The "system" a selectable with a raising logPrefix() sees in its doRead on `reactor`."""
    import socket

    a, b = socket.socketpair()
    seen = []

    class BuggyReader:
        def fileno(self):
            return a.fileno()

        def logPrefix(self):
            raise RuntimeError("no prefix")

        def doRead(self):
            seen.append(context.get(log.ILogContext)["system"])
            a.recv(10)
            reactor.removeReader(self)
            reactor.callLater(0, reactor.stop)

        def connectionLost(self, reason):
            pass

    reactor.addReader(BuggyReader())
    b.send(b"x")
    reactor.callLater(5, reactor.stop)
    try:
        reactor.run(installSignalHandlers=False)
    finally:
        a.close()
        b.close()
    return seen


def test_a_buggy_log_prefix_gives_twisteds_placeholder(poller):
    """A logPrefix() that raises gives Twisted's placeholder system. (Twisted also logs that
    error on every dispatch; FastReactor only reads the prefix when something logs.)"""
    theirs = reader_system(epollreactor.EPollReactor())
    reactor = FastReactor(poller)
    try:
        ours = reader_system(reactor)
    finally:
        reactor.close()
    assert ours == theirs == ["(buggy logPrefix method)"]
