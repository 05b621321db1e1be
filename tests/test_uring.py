"""The io_uring poller (opt-in, Linux): listed only where the kernel allows it, falls back to the
default poller with one log line when io_uring is refused (a seccomp filter returning EPERM, as a
container profile does), level-triggered reports, closing a watched socket really closes it
(the poll's file reference is dropped first), thousands of descriptors (more than the submission
queue holds), and a closed poller refuses work. The rest of the suite runs on it through the
`poller` fixture."""
import ast
import os
import resource
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import fastreactor
from fastreactor import _core, protocol

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="io_uring is Linux only")
needs_uring = pytest.mark.skipif(
    _core._uring_unavailable_reason() is not None,
    reason="this kernel or sandbox refuses io_uring: %s" % (_core._uring_unavailable_reason(),))


class _Reader:
    """An IReactorFDSet reader over a raw descriptor: each report calls `on_read(self)`; without
    `on_read` it never reads, so its poll stays armed."""

    def __init__(self, fd, on_read=None):
        self.fd = fd
        self.on_read = on_read

    def fileno(self):
        return self.fd

    def doRead(self):
        if self.on_read is not None:
            self.on_read(self)

    def connectionLost(self, reason):
        pass

    def logPrefix(self):
        return "reader"


def _run_child(code, *args, timeout=60):
    """`code` run by a fresh interpreter (with `args` in sys.argv, cwd /, so that the source
    tree is not imported); its `CompletedProcess` (text output), once it exited with status 0."""
    out = subprocess.run([sys.executable, "-c", code] + list(args), capture_output=True,
                         text=True, timeout=timeout, cwd="/")
    assert out.returncode == 0, out.stderr
    return out


def test_listed_exactly_when_usable(monkeypatch):
    reason = _core._uring_unavailable_reason()
    for chosen in (None, "io_uring", "epoll"):
        if chosen is None:
            monkeypatch.delenv("FASTREACTOR_POLLER", raising=False)
        else:
            monkeypatch.setenv("FASTREACTOR_POLLER", chosen)
        names = fastreactor.available_pollers()
        assert ("io_uring" in names) == (reason is None)
        assert names[0] != "io_uring"
    if not sys.platform.startswith("linux"):
        assert reason is not None


def test_never_the_default(monkeypatch):
    monkeypatch.delenv("FASTREACTOR_POLLER", raising=False)
    assert fastreactor.available_pollers()[-1] != fastreactor.available_pollers()[0] or \
        "io_uring" not in fastreactor.available_pollers()
    r = fastreactor.Reactor()
    try:
        assert r.poller.name != "io_uring"
    finally:
        r.close()


# A child process that installs a seccomp filter making io_uring_setup (syscall 425 on every
# architecture) fail with EPERM, then asks for the io_uring poller.
_SECCOMP_CHILD = textwrap.dedent(r'''
    import ctypes, errno, logging, struct, sys
    logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(message)s", stream=sys.stdout)
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7fff0000, 0x00050000
    def stmt(code, k): return struct.pack("HBBI", code, 0, 0, k)
    def jump(code, k, jt, jf): return struct.pack("HBBI", code, jt, jf, k)
    BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06
    prog = (stmt(BPF_LD_W_ABS, 0) + jump(BPF_JEQ_K, 425, 0, 1)
            + stmt(BPF_RET_K, SECCOMP_RET_ERRNO | errno.EPERM) + stmt(BPF_RET_K, SECCOMP_RET_ALLOW))
    buf = ctypes.create_string_buffer(prog)
    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fprog = SockFprog(len(prog) // 8, ctypes.addressof(buf))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        print("NOSECCOMP prctl", ctypes.get_errno()); sys.exit(0)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        print("NOSECCOMP seccomp", ctypes.get_errno()); sys.exit(0)
    import fastreactor
    print("AVAILABLE", fastreactor.available_pollers())
    r = fastreactor.Reactor("io_uring")
    print("POLLER", r.poller.name)
    r.callLater(0.01, r.stop)
    r.run()
    print("RAN")
''')


@linux
@needs_uring
def test_falls_back_with_one_log_line_when_refused():
    stdout = _run_child(_SECCOMP_CHILD).stdout
    if stdout.startswith("NOSECCOMP"):
        pytest.skip("cannot install a seccomp filter here: %s" % stdout.strip())
    lines = stdout.splitlines()
    assert "AVAILABLE" in lines[0] and "io_uring" not in lines[0]
    logs = [line for line in lines if line.startswith("LOG ")]
    assert len(logs) == 1, lines
    assert logs[0].startswith("LOG fastreactor ") and "io_uring" in logs[0] and "epoll" in logs[0]
    assert "POLLER epoll" in lines and lines[-1] == "RAN"


@needs_uring
def test_level_triggered_like_epoll():
    """A reader that takes one byte per report is called again while bytes remain."""
    r = fastreactor.Reactor("io_uring")
    a, b = socket.socketpair()
    a.setblocking(False)
    got = []

    def take_one_byte(reader):
        got.append(a.recv(1))
        if len(got) == 5:
            r.removeReader(reader)
            r.stop()

    try:
        b.sendall(b"abcdefgh")
        r.addReader(_Reader(a.fileno(), take_one_byte))
        r.callLater(5, r.stop)
        r.run()
        assert got == [b"a", b"b", b"c", b"d", b"e"]
    finally:
        a.close()
        b.close()
        r.close()


@needs_uring
@pytest.mark.parametrize("how", ["connectionLost", "abortConnection"])
def test_a_closed_connection_is_closed_at_once(how):
    """A connection torn down from a timer while its read poll is armed: the peer sees the
    reset from inside connectionLost. A poll in flight pins the socket past close() on this
    kernel (6.18; checked in C), so this needs the poller to cancel a leaving descriptor's poll
    before the descriptor is closed.

    `connectionLost` (the faces' teardown, as at shutdown) leaves the loop, closes and reports in
    one call: only the cancellation submitted at once by the poller's unregister gets the poll
    out of the way, so this case fails without it. `abortConnection` leaves the loop at once but
    closes on the next iteration, after the loop's own io_uring_enter has submitted the
    cancellation anyway: it checks Twisted's path end to end, but cannot catch a missing
    immediate cancellation."""
    r = fastreactor.Reactor("io_uring")
    client = None
    seen = []

    class Aborted(protocol.Protocol):
        def connectionMade(self):
            if how == "abortConnection":
                r.callLater(0.1, self.transport.abortConnection)
            else:
                r.callLater(0.1, self.transport.connectionLost,
                            r._api.Failure(r._api.ConnectionAborted()))

        def connectionLost(self, reason):
            client.settimeout(3)
            try:
                seen.append(client.recv(10))
            except ConnectionResetError:
                seen.append("reset")
            except socket.timeout:
                seen.append("still open")
            r.stop()

    port = r.listenTCP(0, protocol.Factory.forProtocol(Aborted), interface="127.0.0.1")
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    try:
        r.callLater(10, r.stop)
        r.run()
        assert seen in ([b""], ["reset"])
    finally:
        client.close()
        port.stopListening()
        r.close()


@needs_uring
def test_more_descriptors_than_the_submission_queue():
    """2,000 readable sockets: every one is reported (the queue is flushed when full, reports
    come in batches of the loop's size)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4200
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip("RLIMIT_NOFILE hard limit %d is below %d" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    r = fastreactor.Reactor("io_uring")
    pairs = [socket.socketpair() for _ in range(2000)]
    seen = set()
    socks = {a.fileno(): a for a, b in pairs}

    def read_once(reader):
        socks[reader.fd].recv(10)
        seen.add(reader.fd)
        r.removeReader(reader)
        if len(seen) == len(pairs):
            r.stop()

    try:
        for a, b in pairs:
            b.send(b"x")
            r.addReader(_Reader(a.fileno(), read_once))
        r.callLater(30, r.stop)
        r.run()
        assert len(seen) == len(pairs)
    finally:
        for a, b in pairs:
            a.close()
            b.close()
        r.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@needs_uring
def test_timeouts_wake_the_loop_on_time():
    r = fastreactor.Reactor("io_uring")
    fired = []
    try:
        start = time.monotonic()
        r.callLater(0.2, lambda: (fired.append(time.monotonic() - start), r.stop()))
        r.run()
        assert 0.19 <= fired[0] < 2.0
    finally:
        r.close()


@needs_uring
def test_a_closed_poller_refuses_work():
    r = fastreactor.Reactor("io_uring")
    fd = r.poller.fileno()
    assert fd >= 0
    r.close()
    assert r.poller.fileno() == -1


@needs_uring
def test_a_ready_descriptor_is_reported_despite_stale_completions():
    """Completions of cancelled polls waiting in the queue (here: the listening port's, cancelled
    at once when it closes) do not delay the report of a descriptor armed in the same turn: one
    iterate(0) reports it, as epoll does."""
    r = fastreactor.Reactor("io_uring")
    a, b = socket.socketpair()
    a.setblocking(False)
    got = []
    port = r.listenTCP(0, protocol.Factory.forProtocol(protocol.Protocol), interface="127.0.0.1")
    try:
        r.iterate(0)            # the port's poll is in flight
        port.stopListening()    # cancelled now: its completions wait in the queue
        b.send(b"x")
        reader = _Reader(a.fileno(), lambda reader: got.append(a.recv(10)))
        r.addReader(reader)
        r.iterate(0)
        assert got == [b"x"]
        r.removeReader(reader)
    finally:
        a.close()
        b.close()
        r.close()


def _eof_now(fd):
    """True if `fd` (a pipe's read end) is at EOF right now, without waiting."""
    import select
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable) and os.read(fd, 1) == b""


@needs_uring
@pytest.mark.parametrize("leave", ["removeReader", "close"])
def test_a_pipe_end_that_left_the_loop_closes_at_once(leave):
    """A poll in flight holds the file: on this kernel a pipe's write end with a pending POLL_ADD
    stays open after close(fd), and its reader never sees EOF (checked in C while writing this).
    A descriptor leaving the loop, one by one (removeReader) or all at once (reactor.close()),
    has its poll cancelled before the call returns, so closing it right after is a real close."""
    r = fastreactor.Reactor("io_uring")
    rd, wr = os.pipe()
    closed = False
    try:
        watcher = _Reader(wr)
        r.addReader(watcher)
        r.iterate(0)                # the poll is now in flight
        assert not _eof_now(rd)
        if leave == "removeReader":
            r.removeReader(watcher)
        else:
            r.close()
            closed = True
        os.close(wr)
        wr = -1
        assert _eof_now(rd), "the write end is still open after close(): its poll pins it"
    finally:
        os.close(rd)
        if wr >= 0:
            os.close(wr)
        if not closed:
            r.close()


_CHILD_AFTER_RING = textwrap.dedent(r'''
    import sys, fastreactor
    from fastreactor.protocol import ProcessProtocol
    PY = sys.executable

    class Proto(ProcessProtocol):
        def __init__(self, reactor):
            self.reactor, self.events = reactor, []
        def childConnectionLost(self, fd):
            self.events.append(fd)
        def processEnded(self, reason):
            self.events.append("ended")
            self.reactor.stop()

    def spawn(poller, code, close_outputs):
        r = fastreactor.Reactor(poller)
        p = Proto(r)
        t = r.spawnProcess(p, PY, [PY, "-c", code])
        if close_outputs:
            t.closeStdout()
            t.closeStderr()
        guard = r.callLater(5, r.stop)
        r.run(installSignalHandlers=False)
        stuck = not guard.active()
        if not stuck:
            guard.cancel()
        r.close()
        return stuck, p.events

    for round in range(3):
        spawn("io_uring", "import os, time; os.close(0); os.close(1); os.close(2); time.sleep(0.2)", False)
        stuck, events = spawn(sys.argv[1], "import time; time.sleep(0.3)", True)
        print("ROUND", round, "STUCK" if stuck else "OK", events)
''')


@linux
@needs_uring
def test_a_closed_ring_does_not_stall_a_childs_stdin_on_another_poller():
    """Issue 16's cross-test bug, pinned. Closing an io_uring ring makes the kernel interrupt the
    thread's next blocking wait once (its teardown queues work on every task that used the ring,
    with a signal-like notification): the other reactor's epoll_wait returns EINTR, is retried,
    and errno stays EINTR. A child's stdin pipe (its parent's write end) reports "the reader has
    gone" as readability; the pipe used to decide from that stale errno, took it for "try again",
    and spun on the level-triggered report forever, so processEnded never came. Run in a fresh
    interpreter, so that nothing else this test process did changes errno or the timing."""
    pollers = [p for p in ("epoll", "poll") if p in fastreactor.available_pollers()]
    for poller in pollers:
        out = _run_child(_CHILD_AFTER_RING, poller, timeout=90)
        rounds = [line for line in out.stdout.splitlines() if line.startswith("ROUND")]
        assert len(rounds) == 3, out.stdout + out.stderr
        for line in rounds:
            _, _, state, events = line.split(" ", 3)
            assert state == "OK" and set(ast.literal_eval(events)) == {0, 1, 2, "ended"}, \
                (poller, rounds)


@needs_uring
def test_the_ring_is_not_inherited_by_a_child():
    """The ring's descriptor is close-on-exec (a child holding it would keep the ring, and every
    file its polls pin, alive), and a spawned child indeed has no io_uring descriptor."""
    import fcntl
    r = fastreactor.Reactor("io_uring")
    try:
        assert fcntl.fcntl(r.poller.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        code = ("import os\n"
                "for n in os.listdir('/proc/self/fd'):\n"
                "    try:\n"
                "        print(os.readlink('/proc/self/fd/' + n))\n"
                "    except OSError:\n"
                "        pass\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, close_fds=False)
        assert out.returncode == 0, out.stderr
        assert "io_uring" not in out.stdout, out.stdout
        assert "io_uring" in os.readlink("/proc/self/fd/%d" % r.poller.fileno())
    finally:
        r.close()


@needs_uring
def test_closing_the_poller_releases_the_files_its_polls_held():
    """The poller itself closed with polls in flight (as a loop freed without close() does: it
    does not unregister its descriptors one by one) cancels them all before closing the ring.
    Closing a ring with a poll in flight leaves the release of the file to the kernel's
    teardown, which is not always done by the time close() returns (in C on this kernel, about
    one time in five a pipe's reader saw no EOF right away): repeated, so that a poller relying
    on the teardown fails here."""
    for attempt in range(40):
        rd, wr = os.pipe()
        r = fastreactor.Reactor("io_uring")
        try:
            r.addReader(_Reader(wr))
            r.iterate(0)                # the poll is now in flight
            os.close(wr)                # closed while watched: only the poll holds the file
            wr = -1
            r.poller.close()
            assert _eof_now(rd), "attempt %d: the pipe's write end outlived the ring" % attempt
        finally:
            os.close(rd)
            if wr >= 0:
                os.close(wr)
            r.close()
