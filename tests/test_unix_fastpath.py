"""The receive path of UNIX stream connections (src/unix.pyx): one recvmsg per readiness through a
message header set up once, whose control length must be restored before every read. These tests
drive a listenUNIX server from a raw socket peer (so each send, and the descriptors it carries, is
exactly what the test says) and check that reads with and without descriptors alternate without
losing one, that large reads (handed over without a copy) keep descriptors with the read of their byte,
that refused descriptors are closed and logged every time, that a reset is ConnectionLost, and
that the loop's byte counter counts UNIX reads."""
import logging
import os
import select
import socket
import sys
import tempfile

import pytest

from conftest import run_until
from fastreactor import error
from unix_helpers import Collect, CollectFDs, Keeping, identity, send_with_fds, socket_path

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX sockets on this platform")


def serve(reactor, protocol_class):
    """Listen on a new path; return (list the server protocols go in, a connected raw peer)."""
    path = socket_path()
    servers = []
    reactor.listenUNIX(path, Keeping(protocol_class, servers))
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    peer.connect(path)
    run_until(reactor, lambda: servers and servers[0].transport is not None)
    return servers[0], peer


def test_reads_with_and_without_descriptors_alternate(reactor):
    """A read without control data must not shrink the room the next read has for descriptors."""
    server, peer = serve(reactor, CollectFDs)
    files = [tempfile.TemporaryFile() for _ in range(4)]
    expected = b""
    for round_ in range(4):
        plain = b"p%d" % round_ * 50
        peer.sendall(plain)
        expected += plain
        run_until(reactor, lambda: server.received == len(expected))
        carried = b"f%d" % round_
        send_with_fds(peer, carried, [files[round_].fileno()] * (round_ + 1))
        expected += carried
        run_until(reactor, lambda: server.received == len(expected))
    assert server.data() == expected
    got = server.fds()
    assert [identity(e[1]) for e in got] == [identity(files[r].fileno()) for r in range(4) for _ in range(r + 1)]
    for e in got:
        os.close(e[1])
    for f in files:
        f.close()
    peer.close()


def test_the_most_descriptors_one_message_carries_all_arrive(reactor):
    """Linux's limit per message (SCM_MAX_FD, 253) fits the control buffer: none is cut off."""
    server, peer = serve(reactor, CollectFDs)
    f = tempfile.TemporaryFile()
    count = 253 if sys.platform.startswith("linux") else 64
    send_with_fds(peer, b"m", [f.fileno()] * count)
    run_until(reactor, lambda: server.received == 1)
    got = server.fds()
    assert len(got) == count
    assert all(identity(e[1]) == identity(f.fileno()) for e in got)
    for e in got:
        os.close(e[1])
    f.close()
    peer.close()


def test_descriptor_after_a_large_read_arrives_before_its_byte(reactor):
    """Reads of 16 KiB and more hand their buffer over without a copy; the descriptor that comes
    after them is handed over just before the data of the read that holds its byte."""
    server, peer = serve(reactor, CollectFDs)
    f = tempfile.TemporaryFile()
    big = os.urandom(200000)
    peer.setblocking(False)
    sent = 0
    while sent < len(big):                  # the kernel takes part of it until the server reads
        try:
            sent += peer.send(big[sent:])
        except BlockingIOError:
            reactor.iterate(0.01)
    peer.setblocking(True)
    send_with_fds(peer, b"!", [f.fileno()])
    run_until(reactor, lambda: server.received == len(big) + 1)
    assert server.data() == big + b"!"
    (event,) = server.fds()
    # Handed over with the read that holds its byte (as in Twisted: before that read's data).
    index = server.events.index(event)
    following = next(e for e in server.events[index:] if e[0] == "data")
    assert event[2] <= len(big) < event[2] + len(following[1])
    assert identity(event[1]) == identity(f.fileno())
    os.close(event[1])
    f.close()
    peer.close()


def test_refused_descriptors_are_closed_and_logged_every_time(reactor, caplog):
    server, peer = serve(reactor, Collect)
    probes = [socket.socketpair() for _ in range(3)]
    with caplog.at_level(logging.INFO, logger="fastreactor"):
        for i, (a, b) in enumerate(probes):
            peer.sendall(b"plain")
            send_with_fds(peer, b"x", [a.fileno()])
            run_until(reactor, lambda: server.received == 6 * (i + 1))
    assert server.data() == b"plainx" * 3
    for a, b in probes:
        a.close()
        b.setblocking(False)
        assert b.recv(10) == b""            # the server's copy is closed too: EOF
        b.close()
    refusals = [r for r in caplog.records if "does not take file descriptors" in r.getMessage()]
    assert len(refusals) == 3
    peer.close()


def test_reset_by_the_peer_is_connection_lost(reactor):
    """A UNIX peer that closes with data unread makes the next read fail with ECONNRESET: the
    connection is lost with ConnectionLost, not ended cleanly."""
    server, peer = serve(reactor, Collect)
    server.transport.write(b"never read")
    run_until(reactor, lambda: select.select([peer], [], [], 0)[0])     # it is in the peer's queue
    peer.close()
    run_until(reactor, lambda: server.reason is not None)
    assert server.reason.check(error.ConnectionLost)
    assert not server.reason.check(error.ConnectionDone)


def test_clean_end_is_connection_done(reactor):
    server, peer = serve(reactor, Collect)
    peer.sendall(b"bye")
    peer.close()
    run_until(reactor, lambda: server.reason is not None)
    assert server.data() == b"bye"
    assert server.reason.check(error.ConnectionDone)


def test_stats_count_bytes_read_on_unix_connections(reactor):
    server, peer = serve(reactor, Collect)
    before = reactor.stats()["bytes_read"]
    peer.sendall(b"a" * 1000)
    f = tempfile.TemporaryFile()
    send_with_fds(peer, b"b" * 24, [f.fileno()])
    run_until(reactor, lambda: server.received == 1024)
    assert reactor.stats()["bytes_read"] - before == 1024
    f.close()
    peer.close()
