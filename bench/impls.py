"""The implementations under test and what each of them takes part in."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.path.join(HERE, "servers")
INPROC = os.path.join(HERE, "inproc")

# Display order; the first two are "ours", the rest are the peers.
ORDER = ("fastreactor", "fastreactor-twisted", "twisted", "asyncio", "uvloop", "rloop", "aiofastnet", "c",
         "c-python")
OURS = ("fastreactor", "fastreactor-twisted")
PEERS = ("uvloop", "twisted")  # every figure of ours is also given relative to these

DESCRIPTION = {
    "fastreactor": "fastreactor native API (fastreactor.Reactor, fastreactor.protocol)",
    "fastreactor-twisted": "a genuine Twisted protocol on fastreactor (fastreactor.twisted.install())",
    "twisted": "Twisted %s epoll reactor",
    "asyncio": "asyncio default event loop (selector/epoll)",
    "uvloop": "uvloop",
    "rloop": "rloop, an asyncio event loop written in Rust",
    "aiofastnet": "aiofastnet's Cython TCP transports on a uvloop event loop",
    "c": "plain C epoll echo server (the floor)",
    "c-python": "the C floor handing each message to a Python protocol (the floor for Python protocols)",
}

SERVER_SCRIPT = {
    "fastreactor": "echo_fastreactor.py",
    "fastreactor-twisted": "echo_fastreactor_twisted.py",
    "twisted": "echo_twisted.py",
    "asyncio": "echo_asyncio.py",
    "uvloop": "echo_uvloop.py",
    "rloop": "echo_rloop.py",
    "aiofastnet": "echo_aiofastnet.py",
}

# UDP echo (listenUDP / create_datagram_endpoint); "c" is bench/c_udp_echo.c (recvmmsg/sendmmsg).
UDP_SCRIPT = {
    "fastreactor": "udp_echo_fastreactor.py",
    "fastreactor-twisted": "udp_echo_fastreactor_twisted.py",
    "twisted": "udp_echo_twisted.py",
    "asyncio": "udp_echo_asyncio.py",
    "uvloop": "udp_echo_uvloop.py",
}

UDP = tuple(UDP_SCRIPT) + ("c",)

# twisted.web hello world: the same Site on fastreactor.twisted and on Twisted's epoll reactor.
WEB_SCRIPT = {
    "fastreactor-twisted": "web_fastreactor_twisted.py",
    "twisted": "web_twisted.py",
}
WEB = tuple(WEB_SCRIPT)

TIMERS = ("fastreactor", "fastreactor-twisted", "twisted", "asyncio", "uvloop")
FRAMING = ("fastreactor", "twisted")


def server_command(name, bins, port=0, unix=None):
    """argv that starts NAME's echo server (it prints PORT/PID or UNAVAILABLE on its first line);
    with `unix`, a path, the server listens on that UNIX stream socket instead (and says PORT 0)."""
    where = "unix:" + unix if unix is not None else str(port)
    if name == "c":
        return [bins["c_echo"], where]
    if name == "c-python":
        if "c_echo_python" not in bins:
            return [sys.executable, "-c", "print('UNAVAILABLE ' + %r)" % bins.get("c_echo_python_error", "not built")]
        return [bins["c_echo_python"], where]
    return [sys.executable, os.path.join(SERVERS, SERVER_SCRIPT[name]), where]


def udp_command(name, bins, port=0):
    """argv that starts NAME's UDP echo server (same hand-shake as the echo servers)."""
    if name == "c":
        return [bins["c_udp_echo"], str(port)]
    return [sys.executable, os.path.join(SERVERS, UDP_SCRIPT[name]), str(port)]


def web_command(name, port=0):
    """argv that starts NAME's twisted.web hello-world server (same hand-shake as the echo servers)."""
    return [sys.executable, os.path.join(SERVERS, WEB_SCRIPT[name]), str(port)]


def timers_command(name, n):
    """argv of the in-process timers benchmark for NAME with N timers."""
    return [sys.executable, os.path.join(INPROC, "timers.py"), name, str(n)]


def framing_command(name, kind, seconds):
    """argv of the in-process framing benchmark for NAME, KIND line|int32, for SECONDS."""
    return [sys.executable, os.path.join(INPROC, "framing.py"), name, kind, str(seconds)]
