"""The io_uring poller (opt-in, Linux): listed only where the kernel allows it, falls back to the
default poller with one log line when io_uring is refused (a seccomp filter returning EPERM, as a
container profile does), level-triggered reports, closing a watched socket really closes it
(the poll's file reference is dropped first), thousands of descriptors (more than the submission
queue holds), and a closed poller refuses work. The rest of the suite runs on it through the
`poller` fixture."""
import ctypes
import logging
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


def test_listed_exactly_when_usable_and_chosen(monkeypatch):
    reason = _core._uring_unavailable_reason()
    monkeypatch.setenv("FASTREACTOR_POLLER", "io_uring")
    assert ("io_uring" in fastreactor.available_pollers()) == (reason is None)
    monkeypatch.delenv("FASTREACTOR_POLLER")
    assert "io_uring" not in fastreactor.available_pollers()
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
    out = subprocess.run([sys.executable, "-c", _SECCOMP_CHILD], capture_output=True, text=True,
                         timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    if out.stdout.startswith("NOSECCOMP"):
        pytest.skip("cannot install a seccomp filter here: %s" % out.stdout.strip())
    lines = out.stdout.splitlines()
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

    class Reader:
        def fileno(self):
            return a.fileno()

        def doRead(self):
            got.append(a.recv(1))
            if len(got) == 5:
                r.removeReader(self)
                r.stop()

        def connectionLost(self, reason):
            pass

        def logPrefix(self):
            return "reader"

    try:
        b.sendall(b"abcdefgh")
        r.addReader(Reader())
        r.callLater(5, r.stop)
        r.run()
        assert got == [b"a", b"b", b"c", b"d", b"e"]
    finally:
        a.close()
        b.close()
        r.close()


@needs_uring
def test_a_closed_connection_is_closed_at_once():
    """A transport aborted from a timer while its read poll is armed: the peer sees the
    connection end before connectionLost returns, without the loop polling again. (The poller
    cancels a leaving descriptor's poll at once, for kernels where a poll in flight pins the file
    past close(); the 6.18 kernel this was written on releases the socket at close() anyway, so
    there this checks the behaviour, not that cancellation.)"""
    r = fastreactor.Reactor("io_uring")
    client = None
    seen = []

    class Aborted(protocol.Protocol):
        def connectionMade(self):
            r.callLater(0.1, self.transport.abortConnection)

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

    class Reader:
        def __init__(self, sock):
            self.sock = sock

        def fileno(self):
            return self.sock.fileno()

        def doRead(self):
            self.sock.recv(10)
            seen.add(self.sock.fileno())
            r.removeReader(self)
            if len(seen) == len(pairs):
                r.stop()

        def connectionLost(self, reason):
            pass

        def logPrefix(self):
            return "reader"

    try:
        for a, b in pairs:
            b.send(b"x")
            r.addReader(Reader(a))
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

    class Reader:
        def fileno(self):
            return a.fileno()

        def doRead(self):
            got.append(a.recv(10))

        def connectionLost(self, reason):
            pass

        def logPrefix(self):
            return "reader"

    port = r.listenTCP(0, protocol.Factory.forProtocol(protocol.Protocol), interface="127.0.0.1")
    try:
        r.iterate(0)            # the port's poll is in flight
        port.stopListening()    # cancelled now: its completions wait in the queue
        b.send(b"x")
        reader = Reader()
        r.addReader(reader)
        r.iterate(0)
        assert got == [b"x"]
        r.removeReader(reader)
    finally:
        a.close()
        b.close()
        r.close()
