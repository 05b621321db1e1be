"""Memory: no reference cycles per connection (everything is freed by reference counting alone),
factories passed to connectTCP are freed, RSS stays flat over many connect/close cycles."""
import gc
import json
import os
import socket
import subprocess
import sys
import weakref

import pytest

from fastreactor import protocol


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


class ClosingClient(protocol.Protocol):
    def connectionMade(self):
        self.transport.write(b"ping")

    def dataReceived(self, data):
        self.transport.loseConnection()


def one_connection(reactor, spin, port, refs, client_protocol=ClosingClient, how="lose"):
    """Connect with a fresh factory, exchange a message, close; record weakrefs to every object."""
    done = []

    class Recorded(client_protocol):
        def connectionMade(self):
            refs["protocol"] = weakref.ref(self)
            refs["transport"] = weakref.ref(self.transport)
            if how == "abort":
                self.transport.abortConnection()
            else:
                client_protocol.connectionMade(self)

    class Factory(protocol.ClientFactory):
        protocol = Recorded
        noisy = False

        def clientConnectionLost(self, connector, reason):
            done.append(reason)

        def clientConnectionFailed(self, connector, reason):
            done.append(reason)

    factory = Factory()
    refs["factory"] = weakref.ref(factory)
    connector = reactor.connectTCP("127.0.0.1", port.getHost().port, factory, timeout=5)
    refs["connector"] = weakref.ref(connector)
    del factory, connector
    spin(reactor, lambda: done)
    for _ in range(3):
        reactor.iterate(0)      # let the server side see the close too
    return done


@pytest.mark.parametrize("how", ["lose", "abort"])
def test_connection_objects_are_freed_without_the_garbage_collector(reactor, spin, how):
    server_refs = []

    class TrackedEcho(Echo):
        def connectionMade(self):
            server_refs.append((weakref.ref(self), weakref.ref(self.transport)))

    server = protocol.Factory.forProtocol(TrackedEcho)
    server.noisy = False
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    gc.collect()
    gc.disable()
    try:
        refs = {}
        reasons = one_connection(reactor, spin, port, refs, how=how)
        del reasons
        spin(reactor, lambda: all(r[0]() is None for r in server_refs) or True)
        for _ in range(5):
            reactor.iterate(0.01)
        alive = {name: ref() for name, ref in refs.items() if ref() is not None}
        assert not alive, "kept alive without gc: %r" % (alive,)
        assert server_refs and all(p() is None and t() is None for p, t in server_refs)
    finally:
        gc.enable()


def test_failed_connection_frees_factory_and_connector(reactor, spin):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    free_port = s.getsockname()[1]
    s.close()
    gc.collect()
    gc.disable()
    try:
        done = []

        class Factory(protocol.ClientFactory):
            noisy = False

            def clientConnectionFailed(self, connector, reason):
                done.append(reason.type)

        f = Factory()
        fref = weakref.ref(f)
        c = reactor.connectTCP("127.0.0.1", free_port, f)
        cref = weakref.ref(c)
        del f, c
        spin(reactor, lambda: done)
        reactor.iterate(0)
        assert fref() is None and cref() is None
    finally:
        gc.enable()


CYCLES_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "memory_cycles.py")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmRSS from /proc")
def test_rss_is_flat_over_many_connect_close_cycles(poller):
    """100,000 connect/echo/close cycles (raw client sockets against a reactor server) leave RSS
    flat: the last three quarters add (almost) nothing over the first quarter, and every
    connection is served and lost. The cycles run in a fresh interpreter (tests/memory_cycles.py):
    in this process the heap and the log records earlier tests left, and the descriptors they hold
    (select refuses numbers >= FD_SETSIZE), would be measured instead of the reactor."""
    total, batch = 100_000, 200
    run = subprocess.run([sys.executable, CYCLES_SCRIPT, poller, str(total), str(batch)],
                         capture_output=True, text=True, timeout=600,
                         cwd=os.path.dirname(CYCLES_SCRIPT))   # never the source tree's package
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["errors"] == 0, "%d errors logged; the first:\n%s" % (result["errors"],
                                                                       result["first_error"])
    assert result["made"] == result["lost"] == total, result
    assert result["open"] == 0, result
    first, last = result["samples"]
    grown = last - first
    assert grown < 2048, "RSS grew by %d KiB over %d cycles" % (grown, total * 3 // 4)
