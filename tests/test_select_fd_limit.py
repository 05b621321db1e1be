"""The select poller and descriptor numbers at or above FD_SETSIZE: an accepted connection the
poller refuses is closed at once (the peer sees it closed, no descriptor waits for the garbage
collector), is not counted as open, its protocol is never connected, the refusal is logged with
the reason, and the port goes on serving connections that fit."""
import gc
import logging
import os
import resource
import socket
import time

import pytest

import fastreactor
from fastreactor import protocol

FD_SETSIZE = 1024


@pytest.fixture
def descriptor_room():
    """RLIMIT_NOFILE raised (soft limit) past FD_SETSIZE for the test, restored afterwards."""
    wanted = FD_SETSIZE + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip("RLIMIT_NOFILE cannot reach %d (needed to get a descriptor past FD_SETSIZE)"
                    % wanted)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _fill_below(limit):
    """Occupy every free descriptor number below `limit`; returns what to close afterwards."""
    fillers = []
    while True:
        fd = os.open(os.devnull, os.O_RDONLY)
        if fd >= limit:
            os.close(fd)
            return fillers
        fillers.append(fd)


class Echo(protocol.Protocol):
    made = []

    def connectionMade(self):
        Echo.made.append(self)

    def dataReceived(self, data):
        self.transport.write(data)


def _peer_sees_closed(client, reactor, timeout=5.0):
    """Iterate the reactor until the raw `client` socket reads EOF or a reset."""
    client.setblocking(False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reactor.iterate(0.01)
        try:
            if client.recv(10) == b"":
                return True
        except BlockingIOError:
            continue
        except ConnectionResetError:
            return True
    return False


def test_accepted_descriptor_too_large_for_select_is_closed_at_once(caplog, descriptor_room):
    Echo.made = []
    reactor = fastreactor.Reactor("select")
    factory = protocol.Factory.forProtocol(Echo)
    factory.noisy = False
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    address = ("127.0.0.1", port.getHost().port)
    client = socket.socket()
    fillers = []
    gc.collect()
    gc.disable()                  # the descriptor must be closed by the reactor, not by a collection
    try:
        fillers = _fill_below(FD_SETSIZE)   # the accepted socket gets a number select refuses
        client.connect(address)
        with caplog.at_level(logging.ERROR, logger="fastreactor"):
            closed = _peer_sees_closed(client, reactor)
        assert closed, "the peer of a connection select cannot watch was left open"
        assert reactor.stats()["connections_open"] == 0
        assert Echo.made == []
        assert any("FD_SETSIZE" in (r.exc_text or "") or "FD_SETSIZE" in str(r.exc_info and r.exc_info[1])
                   for r in caplog.records), [r.getMessage() for r in caplog.records]
        # The message says what happened (not "Unhandled Error in makeConnection": it never ran).
        assert any("poller cannot watch its descriptor" in r.getMessage() for r in caplog.records), \
            [r.getMessage() for r in caplog.records]
        assert not any("makeConnection" in r.getMessage() for r in caplog.records)
        probe = os.open(os.devnull, os.O_RDONLY)    # the lowest free number: the refused one is free again
        os.close(probe)
        assert probe == FD_SETSIZE, "descriptor %d is still open" % (FD_SETSIZE,)
    finally:
        gc.enable()
        for fd in fillers:
            os.close(fd)
        client.close()
    # With low numbers free again, the same port serves the next connection.
    again = socket.create_connection(address)
    try:
        again.sendall(b"ping")
        got = b""
        again.setblocking(False)
        deadline = time.monotonic() + 5
        while got != b"ping" and time.monotonic() < deadline:
            reactor.iterate(0.01)
            try:
                got += again.recv(10)
            except BlockingIOError:
                pass
        assert got == b"ping"
        assert reactor.stats()["connections_open"] == 1
    finally:
        again.close()
        port.stopListening()
        for _ in range(5):
            reactor.iterate(0.01)
        reactor.close()


def test_connect_with_a_descriptor_too_large_for_select_fails_the_attempt(descriptor_room):
    reactor = fastreactor.Reactor("select")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    outcome = []

    class Factory(protocol.ClientFactory):
        protocol = protocol.Protocol
        noisy = False

        def clientConnectionFailed(self, connector, reason):
            outcome.append(("failed", reason))

        def clientConnectionLost(self, connector, reason):
            outcome.append(("lost", reason))

    fillers = []
    gc.collect()
    gc.disable()
    try:
        fillers = _fill_below(FD_SETSIZE)   # the client socket gets a number select refuses
        connector = reactor.connectTCP("127.0.0.1", server.getsockname()[1], Factory(), timeout=5)
        deadline = time.monotonic() + 5
        while not outcome and time.monotonic() < deadline:
            reactor.iterate(0.01)
        assert [kind for kind, _ in outcome] == ["failed"]
        reason = outcome[0][1]
        assert reason.check(fastreactor.error.ConnectError) and "FD_SETSIZE" in str(reason.value)
        assert connector.state == "disconnected"
        probe = os.open(os.devnull, os.O_RDONLY)    # the refused socket is closed already
        os.close(probe)
        assert probe == FD_SETSIZE
    finally:
        gc.enable()
        for fd in fillers:
            os.close(fd)
        server.close()
        reactor.close()
