"""A wait that blocks lets other Python threads run: every poller releases the GIL around its
blocking call, after idle iterations and after busy ones (whose waits reported several events: a
poller that looked for events without releasing the GIL first, to save the release when events
are waiting, must still release it before it blocks), and no event is lost in between."""
import signal
import socket
import threading
import time

from conftest import run_until
from fastreactor.protocol import Factory, Protocol


def progress_during(reactor, seconds):
    """The most times another thread ran during one wait of the reactor that blocked at least
    `seconds` with nothing ready. A wait cut short (a stale EINTR left by an io_uring ring torn
    down in an earlier test, a signal from a child an earlier test left behind) is tried again,
    for up to 20 waits; signals are blocked in this thread meanwhile."""
    count = [0]
    stop = threading.Event()
    started = threading.Event()

    def spin():
        started.set()
        while not stop.is_set():
            count[0] += 1
            time.sleep(0.001)

    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP})
    t = threading.Thread(target=spin)
    t.start()
    started.wait(5)
    waits = []
    try:
        for attempt in range(20):
            before = count[0]
            began = time.monotonic()
            reactor.iterate(seconds * 1.5)
            took = time.monotonic() - began
            waits.append((round(took, 3), count[0] - before))
            if took >= seconds:
                return count[0] - before
        raise AssertionError("the reactor never blocked for %s s: (seconds, steps) of each wait %r"
                             % (seconds, waits))
    finally:
        stop.set()
        t.join(5)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class Count(Protocol):
    def __init__(self):
        self.received = 0

    def dataReceived(self, data):
        self.received += len(data)


def busy_connections(reactor, n):
    """`n` server connections, each with data ready at once (so one wait reports them all)."""
    servers = []

    class F(Factory):
        def buildProtocol(self, addr):
            p = Count()
            servers.append(p)
            return p

    port = reactor.listenTCP(0, F(), interface="127.0.0.1")
    peers = [socket.create_connection(("127.0.0.1", port.getHost().port)) for _ in range(n)]
    run_until(reactor, lambda: len(servers) == n)
    return servers, peers


def test_an_idle_wait_lets_other_threads_run(reactor):
    assert progress_during(reactor, 0.2) >= 3


def test_a_wait_after_busy_iterations_lets_other_threads_run(reactor):
    servers, peers = busy_connections(reactor, 4)
    try:
        for round in range(1, 6):
            for p in peers:
                p.sendall(b"x" * 100)
            time.sleep(0.05)    # all four are ready before the next wait
            reactor.iterate(0)
            run_until(reactor, lambda: all(s.received == 100 * round for s in servers))
        # The last waits reported several events each; the next one finds none and blocks.
        assert progress_during(reactor, 0.2) >= 3
        for p in peers:
            p.sendall(b"y")
        run_until(reactor, lambda: all(s.received == 501 for s in servers))
    finally:
        for p in peers:
            p.close()
