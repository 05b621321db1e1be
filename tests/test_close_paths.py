"""Every way a connection can end, on a socket that another descriptor still refers to: the loop
must stop watching the descriptor before closing it, or epoll keeps the socket registered (a
registration belongs to the open socket, not to the number), reports its events forever (the loop
spins at 100% CPU) and may report them under the number of a newer descriptor.

Three ways another descriptor exists: adoptStreamConnection (the caller keeps the original open),
getHandle() (the protocol took the socket object), and a dup() of the transport's descriptor.
Five ways the connection ends: the peer's FIN, the peer's reset, loseConnection(),
abortConnection(), and a write that fails because the peer reset the connection.

After the connection is lost: the reactor uses < 5% CPU over half a second of iterate(), and a new
connection adopted under the same descriptor number sees nothing it did not earn.
"""
import os
import socket
import struct
import time

import pytest

import fastreactor.protocol
from conftest import run_until

CPU_LIMIT = 0.05       # fraction of one core while idle: a spinning loop uses ~1.0
IDLE_SECONDS = 0.5    # a spinning loop shows ~100% of a core (or its share of a loaded machine) at once


def tcp_pair():
    """(ours, peer): a connected TCP pair on loopback; `ours` is non-blocking (to be adopted)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    peer = socket.create_connection(listener.getsockname())
    ours, _ = listener.accept()
    listener.close()
    ours.setblocking(False)
    peer.settimeout(5)
    return ours, peer


def reset(sock):
    """Close `sock` with an RST rather than a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Recorder(fastreactor.protocol.Protocol):
    """Records every event of one connection into `self.events`."""

    def __init__(self):
        self.events = []
        self.received = b""
        self.lost = []

    def connectionMade(self):
        self.events.append("connectionMade")

    def dataReceived(self, data):
        self.events.append(("dataReceived", data))
        self.received += data

    def connectionLost(self, reason):
        self.events.append(("connectionLost", type(reason.value).__name__))
        self.lost.append(reason)


def adopt(reactor, sock):
    """Adopt `sock` (which the caller keeps); the protocol (a Recorder) and its transport."""
    protocols = []

    class F(fastreactor.protocol.Factory):
        def buildProtocol(self, addr):
            p = Recorder()
            protocols.append(p)
            return p

    transport = reactor.adoptStreamConnection(sock.fileno(), socket.AF_INET, F())
    return protocols[0], transport


def cpu_share_while_idle(reactor, seconds=IDLE_SECONDS):
    """The share of one core this process used while iterating `reactor` for `seconds`."""
    cpu = time.process_time()
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        reactor.iterate(0.05)
    return (time.process_time() - cpu) / (time.monotonic() - start)


def take_lowest_numbers_below(n):
    """Hold /dev/null open on every free descriptor number below `n`, so that the next descriptor
    made gets number `n`; returns them (to close). Fails if `n` itself is not free."""
    held = []
    while True:
        fd = os.open(os.devnull, os.O_RDONLY)
        if fd < n:
            held.append(fd)
            continue
        os.close(fd)
        if fd != n:
            for h in held:
                os.close(h)
            pytest.fail("descriptor %d is not free after the connection closed (got %d)" % (n, fd))
        return held


# ---- how another descriptor keeps the socket alive -------------------------------------------------

def hold_by_adoption(reactor, ours, protocol, transport):
    """adoptStreamConnection's caller keeps the original: nothing more to do."""
    return ours


def hold_by_get_handle(reactor, ours, protocol, transport):
    """Only the transport's descriptor; the protocol holds the socket object getHandle() gave."""
    ours.close()
    protocol.handle = transport.getHandle()
    return None


def hold_by_dup(reactor, ours, protocol, transport):
    """A dup() of the transport's own descriptor (as a forked child would hold it)."""
    ours.close()
    return socket.socket(fileno=os.dup(transport.fileno()))


HOLDERS = {"adopted": hold_by_adoption, "getHandle": hold_by_get_handle, "dup": hold_by_dup}


# ---- how the connection ends -----------------------------------------------------------------------

def end_by_peer_fin(reactor, peer, transport):
    peer.shutdown(socket.SHUT_WR)
    return "ConnectionDone"


def end_by_peer_reset(reactor, peer, transport):
    peer.sendall(b"unread")      # so the reset is certain to be noticed by a read
    reset(peer)
    return "ConnectionLost"


def end_by_lose(reactor, peer, transport):
    transport.write(b"bye")
    transport.loseConnection()
    return "ConnectionDone"


def end_by_abort(reactor, peer, transport):
    transport.abortConnection()
    return "ConnectionAborted"


def end_by_write_error(reactor, peer, transport):
    """The transport stops reading; the peer resets; the next write fails (ECONNRESET/EPIPE)."""
    transport.pauseProducing()
    reset(peer)
    time.sleep(0.1)              # the reset reaches our socket
    transport.write(b"into a reset connection")
    return "ConnectionLost"


ENDINGS = {"peer FIN": end_by_peer_fin, "peer RST": end_by_peer_reset, "loseConnection": end_by_lose,
           "abortConnection": end_by_abort, "write error": end_by_write_error}

# (holder, ending) pairs that leave the socket registered in epoll after close today: the paths
# that close from inside a readiness callback while still watching the descriptor.
# (loseConnection and abortConnection stop watching it first; getHandle() makes close_socket
# unregister it.)
def provoke(peer):
    """Make the old socket (if the peer is still open) readable after the connection is lost."""
    try:
        peer.sendall(b"late")
        peer.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@pytest.mark.parametrize("ending", sorted(ENDINGS))
@pytest.mark.parametrize("holder", sorted(HOLDERS))
def test_closed_connection_leaves_the_poller(reactor, poller, holder, ending, request):
    ours, peer = tcp_pair()
    # The next connection's sockets are made now, so they do not take the number being freed.
    ours2, peer2 = tcp_pair()
    protocol, transport = adopt(reactor, ours)
    number = transport.fileno()
    kept = HOLDERS[holder](reactor, ours, protocol, transport)
    held = []
    try:
        reactor.iterate(0)
        expected_reason = ENDINGS[ending](reactor, peer, transport)
        run_until(reactor, lambda: protocol.lost, timeout=5)
        assert protocol.events[-1] == ("connectionLost", expected_reason)
        assert [e for e in protocol.events if e[0] == "connectionLost"] == [protocol.events[-1]]
        assert transport.fileno() == -1
        provoke(peer)

        # A new connection under the same descriptor number.
        held = take_lowest_numbers_below(number)
        protocol2, transport2 = adopt(reactor, ours2)
        assert transport2.fileno() == number
        for fd in held:
            os.close(fd)
        held = []

        share = cpu_share_while_idle(reactor)
        assert share < CPU_LIMIT, "the loop used %.0f%% of a core while idle" % (share * 100)
        assert protocol2.events == ["connectionMade"], "foreign events: %r" % (protocol2.events,)
        assert protocol.events.count(protocol.events[-1]) == 1

        peer2.sendall(b"earned")
        run_until(reactor, lambda: protocol2.received == b"earned", timeout=5)
        assert protocol2.events == ["connectionMade", ("dataReceived", b"earned")]
        transport2.loseConnection()
        run_until(reactor, lambda: protocol2.lost, timeout=5)
    finally:
        for fd in held:
            os.close(fd)
        for s in (kept, ours, peer, ours2, peer2):
            if s is not None:
                s.close()


def test_peer_sees_the_close_of_an_adopted_connection_whose_original_is_kept(reactor):
    """As in Twisted, loseConnection() sends the FIN (shutdown) even though the caller's
    original descriptor keeps the socket open."""
    ours, peer = tcp_pair()
    try:
        protocol, transport = adopt(reactor, ours)
        transport.write(b"last words")
        transport.loseConnection()
        run_until(reactor, lambda: protocol.lost, timeout=5)
        data = b""
        while True:
            chunk = peer.recv(100)
            if not chunk:
                break
            data += chunk
        assert data == b"last words"
    finally:
        ours.close()
        peer.close()
