"""An accept() error that is not about resources (EMFILE and friends have their own tests) must
be logged once and must not spin the loop: a listening socket that someone shut down keeps
reporting readiness (EPOLLHUP/POLLHUP) while every accept() fails with EINVAL."""
import logging
import socket
import time

import pytest

import fastreactor.protocol
from conftest import run_until

class Counting(fastreactor.protocol.Factory):
    """Counts the connections it is asked to build."""

    def __init__(self):
        self.built = 0

    def buildProtocol(self, addr):
        self.built += 1
        return fastreactor.protocol.Protocol()


def cpu_share_while_idle(reactor, seconds=1.0):
    cpu = time.process_time()
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        reactor.iterate(0.05)
    return (time.process_time() - cpu) / (time.monotonic() - start)


def accept_error_records(caplog):
    """The log records about the EINVAL: with the OSError attached, or naming it."""
    return [r for r in caplog.records if r.name.startswith("fastreactor")
            and ((r.exc_info and isinstance(r.exc_info[1], OSError))
                 or "Invalid argument" in r.getMessage() or "EINVAL" in r.getMessage())]


def shut_down_port(reactor):
    """A listening port whose socket was then shut down (accept() fails with EINVAL)."""
    port = reactor.listenTCP(0, Counting(), interface="127.0.0.1")
    port.socket.shutdown(socket.SHUT_RD)
    return port


def test_accept_error_does_not_spin(reactor):
    shut_down_port(reactor)
    reactor.iterate(0)
    share = cpu_share_while_idle(reactor)
    assert share < 0.05, "the loop used %.0f%% of a core while idle" % (share * 100)


def test_accept_error_is_logged_once(reactor, caplog):
    caplog.set_level(logging.INFO, logger="fastreactor")
    shut_down_port(reactor)
    caplog.clear()
    for _ in range(20):
        reactor.iterate(0.01)
    records = accept_error_records(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]


def test_other_ports_keep_accepting_after_an_accept_error(reactor):
    shut_down_port(reactor)
    good = Counting()
    port = reactor.listenTCP(0, good, interface="127.0.0.1")
    reactor.iterate(0)
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    try:
        run_until(reactor, lambda: good.built == 1, timeout=5)
    finally:
        client.close()
