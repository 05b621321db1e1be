"""A reactor that is dropped is freed by the garbage collector, with its descriptors.

The loop's fd table and timer heap hold references in C arrays, and most of what they hold (handles,
DelayedCalls) points back at the loop; the loop and the heap report those references to the
collector and drop them when it clears a cycle (src/gc_slots.h). Handles and calls keep their loop
for as long as they live, so one kept by the user keeps its reactor alive and stays usable.
"""
import gc
import os
import socket
import weakref

import pytest

import fastreactor
from fastreactor import _core
from fastreactor.protocol import ClientFactory, Factory, Protocol

needs_proc_fd = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")


def open_fds():
    """The number of open descriptors of this process, not counting the EMFILE reserve that the
    first listening port of the process takes (and keeps) on purpose."""
    _core._release_emfile_reserve()
    return len(os.listdir("/proc/self/fd"))


def test_a_dropped_reactor_is_freed(poller):
    r = fastreactor.Reactor(poller)
    ref = weakref.ref(r)
    del r
    gc.collect()
    assert ref() is None


def test_a_dropped_reactor_with_pending_timers_is_freed(poller):
    r = fastreactor.Reactor(poller)
    r.callLater(10, lambda: None)
    ref = weakref.ref(r)
    del r
    gc.collect()
    assert ref() is None


@needs_proc_fd
def test_dropping_reactors_does_not_leak_descriptors(poller):
    gc.collect()
    before = open_fds()
    for _ in range(20):
        fastreactor.Reactor(poller)
    gc.collect()
    assert open_fds() == before


def test_a_reactor_that_ran_and_was_dropped_is_freed(poller):
    r = fastreactor.Reactor(poller)
    r.callLater(0.01, r.stop)
    r.callLater(10, lambda: None)       # still pending when run() returns
    r.run()
    ref = weakref.ref(r)
    del r
    gc.collect()
    assert ref() is None


def test_a_reactor_with_a_watched_selectable_is_freed(poller):
    """The fd table's reference to a SelectableHandle (which points at the loop) is seen."""
    a, b = socket.socketpair()
    try:
        class Reader:
            def fileno(self):
                return a.fileno()

            def doRead(self):
                pass

        r = fastreactor.Reactor(poller)
        r.addReader(Reader())
        r.selectables.clear()       # leave the table as the only way from the loop to the handle
        ref = weakref.ref(r)
        del r
        gc.collect()
        assert ref() is None
    finally:
        a.close()
        b.close()


def test_a_call_holding_itself_in_its_arguments_is_freed(poller):
    r = fastreactor.Reactor(poller)
    call = r.callLater(10, lambda c: None)
    call.args = (call,)
    ref = weakref.ref(call)
    del r, call
    gc.collect()
    assert ref() is None


def listen_and_connect(r, spin):
    """A port on `r` and one connection to it: (port, [client and server transports])."""
    transports = []

    class Keep(Protocol):
        def connectionMade(self):
            transports.append(self.transport)

    port = r.listenTCP(0, Factory.forProtocol(Keep), interface="127.0.0.1")
    r.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Keep))
    spin(r, lambda: len(transports) == 2)
    return port, transports


@needs_proc_fd
def test_a_reactor_with_a_port_and_connections_dropped_without_close_is_freed(poller, spin):
    gc.collect()
    before = open_fds()
    r = fastreactor.Reactor(poller)
    port, transports = listen_and_connect(r, spin)
    peer = socket.create_connection(("127.0.0.1", port.getHost().port))
    spin(r, lambda: len(transports) == 3)
    refs = [weakref.ref(o) for o in [r, port] + transports]
    del r, port, transports
    gc.collect()
    assert [ref() for ref in refs] == [None] * len(refs)
    peer.settimeout(5)
    assert peer.recv(1) == b""      # the server side of this connection was closed
    peer.close()
    assert open_fds() == before


def test_a_dropped_reactors_poller_is_closed_even_if_it_is_kept(poller):
    r = fastreactor.Reactor(poller)
    kept = r.poller
    had_descriptor = kept.fileno() >= 0
    del r
    gc.collect()
    assert kept.fileno() == -1
    assert had_descriptor == (poller in ("epoll", "kqueue", "io_uring"))


def test_a_kept_delayed_call_keeps_its_reactor_and_can_be_cancelled(poller):
    r = fastreactor.Reactor(poller)
    call = r.callLater(10, lambda: None)
    ref = weakref.ref(r)
    del r
    gc.collect()
    assert ref() is not None
    call.reset(20)
    call.cancel()
    assert not call.active()
    del call
    gc.collect()
    assert ref() is None


def test_a_kept_transport_keeps_its_reactor_and_can_still_write(poller, spin):
    r = fastreactor.Reactor(poller)
    transports = []
    received = []

    class Keep(Protocol):
        def connectionMade(self):
            transports.append(self.transport)

    class Collect(Protocol):
        def dataReceived(self, data):
            received.append(data)

    server_factory = Factory()
    server_factory.protocol = Collect
    client_factory = ClientFactory()
    client_factory.protocol = Keep
    port = r.listenTCP(0, server_factory, interface="127.0.0.1")
    r.connectTCP("127.0.0.1", port.getHost().port, client_factory)
    spin(r, lambda: transports)
    transport = transports.pop()
    ref = weakref.ref(r)
    del r
    gc.collect()
    reactor = ref()
    assert reactor is not None
    transport.write(b"still here")
    spin(reactor, lambda: b"".join(received) == b"still here")
    for p in list(reactor._ports):
        p.connectionLost(reactor._api.Failure(reactor._api.ConnectionDone()))
    reactor.close()


def test_calls_and_transports_are_harmless_after_close(poller, spin):
    r = fastreactor.Reactor(poller)
    port, transports = listen_and_connect(r, spin)
    call = r.callLater(10, lambda: None)
    port.connectionLost(r._api.Failure(r._api.ConnectionDone()))
    r.close()
    assert r._handleCount() == 0
    assert call.active()            # unscheduled by close(), never run
    call.reset(1)
    call.cancel()
    transports[0].write(b"after close")
    transports[0].abortConnection()
    del r, port
    gc.collect()
