"""The accept-retry timer and the user's pause of a listening port (native face, real sockets).

When accept() fails with EMFILE and no reserve descriptor is held, the port stops watching its
socket and a timer resumes it ACCEPT_RETRY_DELAY later (tests/test_tcp_transport.py). The user may
pause the port meanwhile (stopReading(), or removeReader() through IReactorFDSet): the timer must
then not resume it, and a resume by the user must stand whatever the timer does."""
import functools
import logging
import socket
import time

import pytest

import conftest
from fastreactor import _core
from test_accept_errors import Counting
from test_tcp_transport import DescriptorExhaustion

RETRY_WAIT = 0.6    # seconds: several times the retry delay (0.1 s), for a loaded machine


def iterate_for(reactor, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reactor.iterate(0.01)


run_until = functools.partial(conftest.run_until, timeout=5.0)


@pytest.fixture
def out_of_descriptors(reactor, caplog):
    """A listening port whose accept() has just failed with EMFILE (no reserve): yields
    (port, factory, exhaustion, client); the client's connection waits in the backlog."""
    caplog.set_level(logging.INFO, "fastreactor")
    factory = Counting()
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    _core._release_emfile_reserve()
    with DescriptorExhaustion(free=1) as exhaustion:
        client = socket.socket()    # takes the last free descriptor: the accept gets EMFILE
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port.getHost().port))
        run_until(reactor, lambda: any("Could not accept" in r.getMessage()
                                       for r in caplog.records))
        assert factory.built == 0
        yield port, factory, exhaustion, client
        client.close()


@pytest.mark.parametrize("pause", ["stopReading", "removeReader", "pauseProducing"])
def test_retry_timer_does_not_resume_a_port_the_user_paused(reactor, out_of_descriptors, pause):
    port, factory, exhaustion, client = out_of_descriptors
    if pause == "removeReader":
        reactor.removeReader(port)
    else:
        getattr(port, pause)()
    exhaustion.release(10)
    iterate_for(reactor, RETRY_WAIT)
    assert factory.built == 0, "the retry timer resumed a port the user had paused"
    assert port not in reactor.getReaders()
    if pause == "removeReader":
        reactor.addReader(port)
    elif pause == "stopReading":
        port.startReading()
    else:
        port.resumeProducing()
    run_until(reactor, lambda: factory.built == 1)


def test_user_resume_during_the_retry_wait_stands(reactor, out_of_descriptors):
    port, factory, exhaustion, client = out_of_descriptors
    port.stopReading()
    port.startReading()
    exhaustion.release(10)
    run_until(reactor, lambda: factory.built == 1)
    assert port in reactor.getReaders()


def test_user_resume_after_the_timer_skipped_the_port_stands(reactor, out_of_descriptors):
    port, factory, exhaustion, client = out_of_descriptors
    port.stopReading()
    iterate_for(reactor, RETRY_WAIT)     # the timer fires while the port is paused
    port.startReading()
    exhaustion.release(10)
    run_until(reactor, lambda: factory.built == 1)
    iterate_for(reactor, RETRY_WAIT)
    assert port in reactor.getReaders()


def test_stop_listening_during_the_retry_wait_leaves_no_timer(reactor, out_of_descriptors):
    port, factory, exhaustion, client = out_of_descriptors
    calls = len(reactor.getDelayedCalls())
    port.stopListening()
    iterate_for(reactor, 0.05)
    assert len(reactor.getDelayedCalls()) < calls
    assert reactor.getReaders() == []


@pytest.mark.parametrize("paused", [False, True], ids=["running", "paused"])
def test_a_restarted_port_accepts_even_if_it_was_paused(reactor, paused):
    """startListening after stopListening accepts again (Twisted's test_restartListening), also
    when the user had paused the port before stopping it: startListening starts reading."""
    factory = Counting()
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    if paused:
        port.stopReading()
    done = []
    port.stopListening().addCallback(done.append)
    run_until(reactor, lambda: done)
    port.startListening()
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    run_until(reactor, lambda: factory.built == 1)
    client.close()
