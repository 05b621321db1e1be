"""IReactorFDSet with Python selectables on every poller: add/remove readers and writers,
getReaders/getWriters/removeAll, disconnection on a failing doRead, and fd reuse within one batch."""
import os
import socket

import pytest

from fastreactor import error, failure


class Selectable:
    """A socketpair-backed IReadWriteDescriptor that records what the reactor does to it."""

    def __init__(self, name="s"):
        self.name = name
        self.sock, self.peer = socket.socketpair()
        self.sock.setblocking(False)
        self.reads = []
        self.writes = 0
        self.lost = []
        self.on_read = None

    def fileno(self):
        return self.sock.fileno()

    def doRead(self):
        if self.on_read is not None:
            return self.on_read(self)
        self.reads.append(self.sock.recv(4096))

    def doWrite(self):
        self.writes += 1

    def connectionLost(self, reason):
        self.lost.append(reason)

    def logPrefix(self):
        return self.name

    def close(self):
        self.sock.close()
        self.peer.close()


@pytest.fixture
def make(reactor):
    """Make Selectables that are closed (and unwatched) at the end of the test."""
    made = []

    def factory(name="s"):
        s = Selectable(name)
        made.append(s)
        return s

    yield factory
    reactor.removeAll()
    for s in made:
        s.close()


def test_addReader_delivers_doRead_when_data_arrives(reactor, spin, make):
    s = make()
    reactor.addReader(s)
    assert s in reactor.getReaders() and s not in reactor.getWriters()
    s.peer.send(b"hello")
    spin(reactor, lambda: s.reads)
    assert s.reads == [b"hello"]


def test_removeReader_stops_doRead(reactor, make):
    s = make()
    reactor.addReader(s)
    reactor.removeReader(s)
    assert reactor.getReaders() == []
    s.peer.send(b"x")
    for _ in range(5):
        reactor.iterate(0.01)
    assert s.reads == []


def test_removing_what_is_not_watched_is_a_no_op(reactor, make):
    s = make()
    reactor.removeReader(s)
    reactor.removeWriter(s)
    assert reactor.getReaders() == [] and reactor.getWriters() == []


def test_addWriter_delivers_doWrite_and_removeWriter_stops_it(reactor, spin, make):
    s = make()
    reactor.addWriter(s)
    assert s in reactor.getWriters() and s not in reactor.getReaders()
    spin(reactor, lambda: s.writes)
    reactor.removeWriter(s)
    count = s.writes
    for _ in range(5):
        reactor.iterate(0.01)
    assert s.writes == count
    assert reactor.getWriters() == []


def test_reader_and_writer_on_one_selectable_are_independent(reactor, spin, make):
    s = make()
    reactor.addReader(s)
    reactor.addWriter(s)
    reactor.addReader(s)            # adding twice is harmless
    assert reactor.getReaders() == [s] and reactor.getWriters() == [s]
    reactor.removeWriter(s)
    assert reactor.getReaders() == [s] and reactor.getWriters() == []
    s.peer.send(b"x")
    spin(reactor, lambda: s.reads)
    assert s.writes == 0


def test_removeAll_returns_everything_watched_and_unwatches_it(reactor, make):
    a, b, c = make("a"), make("b"), make("c")
    reactor.addReader(a)
    reactor.addWriter(b)
    reactor.addReader(c)
    reactor.addWriter(c)
    removed = reactor.removeAll()
    assert sorted(x.name for x in removed) == ["a", "b", "c"]
    assert reactor.getReaders() == [] and reactor.getWriters() == []


def test_getReaders_and_getWriters_do_not_show_the_reactors_own_wakers(reactor):
    assert reactor.getReaders() == [] and reactor.getWriters() == []


def test_a_doRead_that_raises_disconnects_the_selectable_and_logs(reactor, spin, make, caplog):
    s = make()

    def explode(self):
        raise ZeroDivisionError("doRead boom")

    s.on_read = explode
    reactor.addReader(s)
    reactor.addWriter(s)
    s.peer.send(b"x")
    with caplog.at_level("ERROR", logger="fastreactor"):
        spin(reactor, lambda: s.lost)
    assert len(s.lost) == 1
    assert isinstance(s.lost[0], failure.Failure) and s.lost[0].check(ZeroDivisionError)
    assert s not in reactor.getReaders() and s not in reactor.getWriters()
    assert "doRead boom" in caplog.text


def test_a_doRead_that_returns_a_failure_disconnects_with_that_reason(reactor, spin, make):
    s = make()
    reason = failure.Failure(error.ConnectionDone("done"))
    s.on_read = lambda self: reason
    reactor.addReader(s)
    s.peer.send(b"x")
    spin(reactor, lambda: s.lost)
    assert s.lost == [reason]
    assert reactor.getReaders() == []


def test_a_doRead_that_returns_an_exception_disconnects_with_it_wrapped(reactor, spin, make):
    s = make()
    s.on_read = lambda self: error.ConnectionLost("gone")
    reactor.addReader(s)
    s.peer.send(b"x")
    spin(reactor, lambda: s.lost)
    assert len(s.lost) == 1 and s.lost[0].check(error.ConnectionLost)


def test_a_selectable_without_a_descriptor_is_refused(reactor):
    class Closed:
        def fileno(self):
            return -1

    with pytest.raises(ValueError):
        reactor.addReader(Closed())
    assert reactor.getReaders() == []


def test_fd_reuse_within_one_poll_batch_never_reaches_the_new_owner(reactor, make):
    """A and B are both readable in the same batch. Whichever is dispatched first unwatches and
    closes the other, puts a new (idle) socket on the very same fd number and watches it. The
    stale readiness fetched for the old owner must not be delivered to the new one."""
    a, b = make("a"), make("b")
    new_owner = {}
    victims = []

    def takeover(self):
        self.sock.recv(4096)
        self.reads.append("first")
        if victims:
            return
        other = b if self is a else a
        victims.append(other)
        fd = other.fileno()
        fresh, fresh_peer = socket.socketpair()     # made first, so it gets other numbers
        reactor.removeReader(other)
        other.sock.close()
        os.dup2(fresh.fileno(), fd)                 # the closed number, now a different socket
        fresh.close()
        c = Selectable.__new__(Selectable)
        c.name, c.reads, c.writes, c.lost, c.on_read = "c", [], 0, [], None
        c.sock, c.peer = socket.socket(fileno=fd), fresh_peer
        c.sock.setblocking(False)       # a stale doRead must fail visibly, not hang in recv
        assert c.fileno() == fd
        new_owner["c"] = c
        reactor.addReader(c)

    a.on_read = b.on_read = takeover
    reactor.addReader(a)
    reactor.addReader(b)
    a.peer.send(b"x")
    b.peer.send(b"x")
    import time
    time.sleep(0.05)          # both readable before the one poll that fetches them together
    reactor.iterate(0)
    assert len(victims) == 1
    c = new_owner["c"]
    try:
        assert c.reads == [] and c.lost == [], "a stale event for the old fd reached the new owner"
        survivor = a if victims[0] is b else b
        assert survivor.reads == ["first"]
        # The new owner is really watched: data for it is delivered.
        c.peer.send(b"for c")
        deadline = time.monotonic() + 5
        while not c.reads and time.monotonic() < deadline:
            reactor.iterate(0.01)
        assert c.reads == [b"for c"]
    finally:
        reactor.removeReader(c)
        c.close()
