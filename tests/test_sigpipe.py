"""Sending on a socket whose write side is gone (EPIPE) never raises SIGPIPE, on every kind of
connected socket: accepted, connected and adopted. Python ignores SIGPIPE by default, which would
hide the bug; each case runs in a child process with SIGPIPE back to its default action (the
process dies if the signal is raised)."""
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from fastreactor import _core

CHILD = textwrap.dedent("""
    import signal, socket, sys
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    import fastreactor, fastreactor.protocol

    poller, kind = sys.argv[1], sys.argv[2]
    reactor = fastreactor.Reactor(poller)
    lost = []

    class Writer(fastreactor.protocol.Protocol):
        def connectionMade(self):
            # Shut our own write side down behind the transport's back: the next send gets EPIPE.
            self.transport.getHandle().shutdown(socket.SHUT_WR)
            self.transport.write(b"into a shut-down socket")

        def connectionLost(self, reason):
            lost.append(type(reason.value).__name__)

    factory = fastreactor.protocol.ClientFactory.forProtocol(Writer)
    keep = []
    if kind == "accepted":
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        keep.append(socket.create_connection(("127.0.0.1", port.getHost().port)))
    elif kind == "connected":
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        keep.append(listener)
        reactor.connectTCP("127.0.0.1", listener.getsockname()[1], factory)
    else:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        peer = socket.create_connection(listener.getsockname())
        ours, _ = listener.accept()
        ours.setblocking(False)
        keep += [listener, peer, ours]
        reactor.adoptStreamConnection(ours.fileno(), socket.AF_INET, factory)
    for _ in range(500):
        reactor.iterate(0.01)
        if lost:
            break
    print(lost)
""")


@pytest.mark.parametrize("kind", ["accepted", "connected", "adopted"])
def test_no_sigpipe_on_a_broken_write(poller, kind, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    result = subprocess.run([sys.executable, str(script), poller, kind], capture_output=True,
                            text=True, timeout=60, cwd=str(tmp_path))
    assert result.returncode != -signal.SIGPIPE, "killed by SIGPIPE"
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['ConnectionLost']", result.stdout + result.stderr


def test_sigpipe_is_suppressed_somehow_on_this_platform():
    """Either every send passes MSG_NOSIGNAL or every socket gets SO_NOSIGPIPE."""
    assert _core.SEND_SUPPRESSES_SIGPIPE or _core.HAVE_SO_NOSIGPIPE


def test_set_nosigpipe():
    """A no-op returning False where the option does not exist (Linux); else the option is set."""
    s = socket.socket()
    try:
        result = _core._set_nosigpipe(s.fileno())
        assert result is _core.HAVE_SO_NOSIGPIPE
        if result:
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_NOSIGPIPE) != 0
        else:
            assert not hasattr(socket, "SO_NOSIGPIPE") or sys.platform.startswith("linux")
    finally:
        s.close()


@pytest.mark.skipif(not _core.HAVE_SO_NOSIGPIPE,
                    reason="SO_NOSIGPIPE does not exist on this platform (MSG_NOSIGNAL is used)")
def test_set_nosigpipe_on_a_non_socket_raises():
    r, w = os.pipe()
    try:
        with pytest.raises(OSError):
            _core._set_nosigpipe(r)
    finally:
        os.close(r)
        os.close(w)
