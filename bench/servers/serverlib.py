"""Helpers shared by the benchmark echo servers (one concern: process set-up and hand-shake).

Every server script prints exactly one line on stdout before serving:
``PORT <port> PID <pid>`` once listening, or ``UNAVAILABLE <reason>`` (exit status 3)
when its implementation cannot be imported.  All servers listen on 127.0.0.1 with a
backlog of 1024, set TCP_NODELAY on each connection and read at most 64 KiB at a time
where the implementation lets us choose.
"""
import os
import resource
import sys

BACKLOG = 1024
READ_SIZE = 65536
HOST = "127.0.0.1"


def raise_nofile():
    """Raise the soft RLIMIT_NOFILE to the hard limit (10,000 idle connections need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def port_argument():
    """The port to listen on: the first command-line argument, or 0 (any free port)."""
    return int(sys.argv[1]) if len(sys.argv) > 1 else 0


def unix_argument():
    """The UNIX socket path to listen on instead of a port (first argument `unix:PATH`), or None.
    A server given one announces port 0."""
    if len(sys.argv) > 1 and sys.argv[1].startswith("unix:"):
        return sys.argv[1][len("unix:"):]
    return None


def announce(port):
    """Tell the orchestrator where we listen and who we are."""
    sys.stdout.write("PORT %d PID %d\n" % (port, os.getpid()))
    sys.stdout.flush()


def unavailable(reason):
    """Report that this implementation cannot run here, and exit with status 3."""
    sys.stdout.write("UNAVAILABLE %s\n" % " ".join(str(reason).split()))
    sys.stdout.flush()
    sys.exit(3)
