"""Poller choice: by argument, by $FASTREACTOR_POLLER, clear errors for unknown or unavailable
names, and select's FD_SETSIZE limit."""
import os
import socket

import pytest

import fastreactor

ALL = ("epoll", "kqueue", "poll", "select", "io_uring")  # io_uring: opt-in, listed last


def test_available_pollers_lists_known_names_best_first():
    names = fastreactor.available_pollers()
    assert names and set(names) <= set(ALL)
    assert "poll" in names and "select" in names
    assert names == sorted(names, key=ALL.index)


def test_the_default_is_the_best_available(monkeypatch):
    monkeypatch.delenv("FASTREACTOR_POLLER", raising=False)
    r = fastreactor.Reactor()
    try:
        assert r.poller.name == fastreactor.available_pollers()[0]
    finally:
        r.poller.close()


def test_a_poller_is_chosen_by_argument(poller):
    r = fastreactor.Reactor(poller)
    try:
        assert r.poller.name == poller
    finally:
        r.poller.close()


def test_a_poller_is_chosen_by_environment_variable(poller, monkeypatch):
    monkeypatch.setenv("FASTREACTOR_POLLER", poller)
    r = fastreactor.Reactor()
    try:
        assert r.poller.name == poller
    finally:
        r.poller.close()


def test_the_argument_wins_over_the_environment(poller, monkeypatch):
    monkeypatch.setenv("FASTREACTOR_POLLER", "select")
    r = fastreactor.Reactor(poller)
    try:
        assert r.poller.name == poller
    finally:
        r.poller.close()


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_an_unknown_poller_name_is_a_clear_ValueError(how, monkeypatch):
    if how == "environment":
        monkeypatch.setenv("FASTREACTOR_POLLER", "bogus")
        make = fastreactor.Reactor
    else:
        make = lambda: fastreactor.Reactor("bogus")  # noqa: E731
    with pytest.raises(ValueError, match="bogus") as info:
        make()
    for name in fastreactor.available_pollers():
        assert name in str(info.value)


def test_an_unavailable_poller_is_a_clear_ValueError():
    missing = [name for name in ALL if name not in fastreactor.available_pollers()]
    if not missing:
        pytest.skip("every poller is available here")
    with pytest.raises(ValueError, match="not available"):
        fastreactor.Reactor(missing[0])


class Reader:
    """A minimal IReadDescriptor around a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.reads = 0

    def fileno(self):
        return self.sock.fileno()

    def doRead(self):
        self.reads += 1
        self.sock.recv(100)

    def connectionLost(self, reason):
        pass

    def logPrefix(self):
        return "Reader"


def high_fd_socketpair(number=1500):
    """A socketpair whose first socket has descriptor `number` (>= FD_SETSIZE)."""
    a, b = socket.socketpair()
    os.dup2(a.fileno(), number)
    a.close()
    return socket.socket(fileno=number), b


def test_select_refuses_descriptors_at_or_above_FD_SETSIZE():
    r = fastreactor.Reactor("select")
    a, b = high_fd_socketpair()
    try:
        reader = Reader(a)
        with pytest.raises(ValueError, match="FD_SETSIZE"):
            r.addReader(reader)
        assert r.getReaders() == []
        assert reader not in r.selectables       # nothing half-registered is kept
    finally:
        a.close()
        b.close()
        r.poller.close()


def test_other_pollers_watch_descriptors_above_FD_SETSIZE(reactor, spin):
    if reactor.poller.name == "select":
        pytest.skip("select is limited to FD_SETSIZE")
    a, b = high_fd_socketpair()
    try:
        reader = Reader(a)
        reactor.addReader(reader)
        b.send(b"x")
        spin(reactor, lambda: reader.reads)
        reactor.removeReader(reader)
    finally:
        a.close()
        b.close()


class StayReady(Reader):
    """A reader that never drains its socket, so level-triggered pollers report it every time."""

    def doRead(self):
        self.reads += 1


def test_more_ready_descriptors_than_a_batch_are_all_served(reactor):
    """With more descriptors ready than one poll batch reports (1024), the next batches go on
    where the last stopped: none is starved by the ones registered before it."""
    import resource
    if reactor.poller.name == "select":
        pytest.skip("select watches fewer descriptors than a batch holds")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4000:
        pytest.skip("needs about 2,600 descriptors")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4000), hard))
    pairs, readers = [], []
    try:
        for _ in range(1300):
            a, b = socket.socketpair()
            pairs.append((a, b))
            b.send(b"x")
            readers.append(StayReady(a))
            reactor.addReader(readers[-1])
        for _ in range(3):
            reactor.iterate(0)
        assert min(r.reads for r in readers) >= 1, "some ready descriptors were never served"
    finally:
        for r in readers:
            reactor.removeReader(r)
        for a, b in pairs:
            a.close()
            b.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
