"""UNIX datagram sockets (listenUNIXDatagram, connectUNIXDatagram) on the native face, on every
poller, and a differential trace of a connected exchange against Twisted's epoll reactor."""
import os
import socket
import stat

import pytest

from fastreactor import address, error
from fastreactor.protocol import ConnectedDatagramProtocol, DatagramProtocol

from conftest import run_until


class Recorder(DatagramProtocol):
    noisy = False

    def __init__(self):
        self.received = []

    def datagramReceived(self, data, addr):
        self.received.append((data, addr))


class Connected(ConnectedDatagramProtocol):
    noisy = False

    def __init__(self):
        self.received = []
        self.failed = []
        self.refused = 0

    def datagramReceived(self, data):
        self.received.append(data)

    def connectionFailed(self, failure):
        self.failed.append(failure)

    def connectionRefused(self):
        self.refused += 1


def test_listen_receive_and_reply_with_the_sender_path(reactor, tmp_path):
    class Echo(Recorder):
        def datagramReceived(self, data, addr):
            Recorder.datagramReceived(self, data, addr)
            self.transport.write(data[::-1], addr)

    server_path, client_path = str(tmp_path / "server"), str(tmp_path / "client")
    proto = Echo()
    port = reactor.listenUNIXDatagram(server_path, proto, mode=0o600)
    assert stat.S_IMODE(os.stat(server_path).st_mode) == 0o600
    assert port.getHost() == address.UNIXAddress(server_path)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    client.bind(client_path)
    client.settimeout(5)
    client.sendto(b"abc", server_path)
    run_until(reactor, lambda: proto.received)
    assert proto.received == [(b"abc", client_path)]
    assert client.recv(10) == b"cba"
    client.close()


def test_an_unbound_sender_is_none_and_an_abstract_one_is_bytes(reactor, tmp_path):
    proto = Recorder()
    server_path = str(tmp_path / "server")
    reactor.listenUNIXDatagram(server_path, proto)
    unbound = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unbound.sendto(b"anon", server_path)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = b"\0fastreactor-test-%d" % os.getpid()
    abstract.bind(name)
    abstract.sendto(b"abstract", server_path)
    run_until(reactor, lambda: len(proto.received) == 2)
    assert proto.received == [(b"anon", None), (b"abstract", name)]
    unbound.close()
    abstract.close()


def test_listen_in_the_abstract_namespace(reactor):
    name = "\0fastreactor-abstract-%d" % os.getpid()
    proto = Recorder()
    port = reactor.listenUNIXDatagram(name, proto)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"hi", name)
    run_until(reactor, lambda: proto.received)
    assert port.getHost().name == name.encode()
    s.close()


def test_connected_port_exchanges_with_its_peer(reactor, tmp_path):
    server_path, client_path = str(tmp_path / "server"), str(tmp_path / "client")

    class Echo(Recorder):
        def datagramReceived(self, data, addr):
            Recorder.datagramReceived(self, data, addr)
            self.transport.write(b"echo:" + data, addr)

    server = Echo()
    reactor.listenUNIXDatagram(server_path, server)
    client = Connected()
    port = reactor.connectUNIXDatagram(server_path, client, bindAddress=client_path)
    assert port.getPeer() == address.UNIXAddress(server_path)
    assert port.write(b"one") == 3
    port.writeSequence([b"t", b"wo"])
    run_until(reactor, lambda: len(client.received) == 2)
    assert client.received == [b"echo:one", b"echo:two"]
    assert server.received == [(b"one", client_path), (b"two", client_path)]
    with pytest.raises(ValueError):
        port.write(b"x", str(tmp_path / "elsewhere"))


def test_connecting_to_nothing_calls_connection_failed(reactor, tmp_path):
    client = Connected()
    port = reactor.connectUNIXDatagram(str(tmp_path / "nobody"), client)
    assert len(client.failed) == 1 and client.failed[0].check(FileNotFoundError)
    done = []
    port.stopListening().addCallback(done.append)
    run_until(reactor, lambda: done)


def test_a_busy_path_is_cannot_listen(reactor, tmp_path):
    path = str(tmp_path / "busy")
    reactor.listenUNIXDatagram(path, Recorder())
    with pytest.raises(error.CannotListenError):
        reactor.listenUNIXDatagram(path, Recorder())


def test_writing_to_a_path_nobody_listens_on_raises(reactor, tmp_path):
    port = reactor.listenUNIXDatagram(str(tmp_path / "me"), Recorder())
    with pytest.raises(FileNotFoundError):
        port.write(b"x", str(tmp_path / "nobody"))
    with pytest.raises(OSError):
        port.write(b"x", "/" + "x" * 200)
    with pytest.raises(TypeError):
        port.write(b"x", ("127.0.0.1", 9))


def test_stop_listening_runs_do_stop_and_closes(reactor, tmp_path):
    events = []

    class Tracked(Recorder):
        def startProtocol(self):
            events.append("start")

        def stopProtocol(self):
            events.append("stop")

    port = reactor.listenUNIXDatagram(str(tmp_path / "s"), Tracked())
    assert repr(port).endswith("on %r>" % (str(tmp_path / "s"),))
    done = []
    port.stopListening().addCallback(lambda _: done.append(port.fileno()))
    run_until(reactor, lambda: done)
    assert events == ["start", "stop"] and done == [-1]
    assert repr(port).endswith("(not listening)>")


# ---- differential: the connected exchange on Twisted's epoll reactor ----------------------------

def _exchange(reactor, protocol_module, directory):
    """A server echoing to the sender's path and a connected client; returns the trace."""
    trace = []
    server_path, client_path = os.path.join(directory, "s"), os.path.join(directory, "c")

    class Server(protocol_module.DatagramProtocol):
        noisy = False

        def startProtocol(self):
            trace.append("server.startProtocol")

        def datagramReceived(self, data, addr):
            trace.append(("server.datagramReceived", data, addr == client_path))
            self.transport.write(data.upper(), addr)

        def stopProtocol(self):
            trace.append("server.stopProtocol")

    class Client(protocol_module.ConnectedDatagramProtocol):
        noisy = False

        def startProtocol(self):
            trace.append("client.startProtocol")
            self.transport.write(b"ping")

        def datagramReceived(self, data):
            trace.append(("client.datagramReceived", data))
            self.transport.stopListening()

        def stopProtocol(self):
            trace.append("client.stopProtocol")
            reactor.callLater(0.02, reactor.stop)

    sp = reactor.listenUNIXDatagram(server_path, Server())
    trace.append(("server host", sp.getHost().name))
    reactor.connectUNIXDatagram(server_path, Client(), bindAddress=client_path)
    reactor.callLater(5, lambda: (trace.append("TIMEOUT"), reactor.stop()))
    reactor.run(installSignalHandlers=False)
    return trace


def test_connected_exchange_matches_twisted(poller, tmp_path):
    pytest.importorskip("twisted")
    import fastreactor
    import fastreactor.protocol
    from twisted.internet import epollreactor
    from twisted.internet import protocol as twisted_protocol
    (tmp_path / "t").mkdir()
    (tmp_path / "f").mkdir()
    expected = _exchange(epollreactor.EPollReactor(), twisted_protocol, str(tmp_path / "t"))
    r = fastreactor.Reactor(poller)
    actual = _exchange(r, fastreactor.protocol, str(tmp_path / "f"))
    r.close()
    assert "TIMEOUT" not in expected
    rename = lambda t, d: [e if e[0] != "server host" else (e[0], e[1].replace(d.encode(), b"")) for e in t]
    assert rename(actual, str(tmp_path / "f")) == rename(expected, str(tmp_path / "t"))
