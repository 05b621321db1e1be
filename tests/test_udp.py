"""The UDP transport on the native face, on every poller: delivery, batching, address caching,
writes and their errors, connected ports, adoption, and that nothing is left behind."""
import errno
import gc
import logging
import os
import socket
import weakref

import pytest

import fastreactor
from fastreactor import error
from fastreactor.protocol import DatagramProtocol

from conftest import run_until


class Recorder(DatagramProtocol):
    noisy = False

    def __init__(self):
        self.received = []
        self.refused = 0
        self.events = []

    def startProtocol(self):
        self.events.append("start")

    def stopProtocol(self):
        self.events.append("stop")

    def datagramReceived(self, data, addr):
        self.received.append((data, addr))

    def connectionRefused(self):
        self.refused += 1


def peer_socket(family=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.settimeout(5)
    return s


def test_datagrams_arrive_with_a_host_port_tuple_and_replies_reach_the_peer(reactor):
    class Echo(Recorder):
        def datagramReceived(self, data, addr):
            Recorder.datagramReceived(self, data, addr)
            self.transport.write(b"re:" + data, addr)

    proto = Echo()
    port = reactor.listenUDP(0, proto, interface="127.0.0.1")
    peer = peer_socket()
    for i in range(3):
        peer.sendto(b"%d" % i, ("127.0.0.1", port.getHost().port))
    run_until(reactor, lambda: len(proto.received) == 3)
    assert [d for d, _ in proto.received] == [b"0", b"1", b"2"]
    assert all(a == ("127.0.0.1", peer.getsockname()[1]) and type(a) is tuple for _, a in proto.received)
    assert [peer.recv(100) for _ in range(3)] == [b"re:0", b"re:1", b"re:2"]
    assert port.getHost() == fastreactor.address.IPv4Address("UDP", "127.0.0.1", port.getHost().port)
    peer.close()


def test_a_repeated_peer_gets_the_same_address_object(reactor):
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface="127.0.0.1")
    a, b = peer_socket(), peer_socket()
    for s in (a, b, a, b):
        s.sendto(b"x", ("127.0.0.1", port.getHost().port))
    run_until(reactor, lambda: len(proto.received) == 4)
    addrs = [addr for _, addr in proto.received]
    assert addrs[0] is addrs[2] and addrs[1] is addrs[3]
    assert addrs[0] != addrs[1]
    a.close()
    b.close()


def test_ipv6_datagrams(reactor):
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface="::1")
    host = port.getHost()
    assert isinstance(host, fastreactor.address.IPv6Address) and host.host == "::1"
    peer = peer_socket(socket.AF_INET6, "::1")
    peer.sendto(b"six", ("::1", host.port))
    run_until(reactor, lambda: proto.received)
    assert proto.received == [(b"six", ("::1", peer.getsockname()[1]))]
    port.write(b"back", proto.received[0][1])
    assert peer.recv(10) == b"back"
    peer.close()


def test_a_read_takes_a_bounded_batch_so_a_flooded_port_does_not_starve_another(reactor):
    flooded, quiet = Recorder(), Recorder()
    busy = reactor.listenUDP(0, flooded, interface="127.0.0.1")
    calm = reactor.listenUDP(0, quiet, interface="127.0.0.1")
    sender = peer_socket()
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    for i in range(200):
        sender.sendto(b"%d" % i, ("127.0.0.1", busy.getHost().port))
    sender.sendto(b"quiet", ("127.0.0.1", calm.getHost().port))
    order = []
    flooded.datagramReceived = lambda data, addr: order.append("busy")
    quiet.datagramReceived = lambda data, addr: order.append("quiet")
    run_until(reactor, lambda: "quiet" in order and order.count("busy") >= 150)
    # 32 datagrams per readiness at most: the quiet port's turn comes within the first batches.
    assert order.index("quiet") <= 64
    sender.close()


def test_large_packets_shrink_the_batch_to_the_byte_budget(reactor):
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface="127.0.0.1", maxPacketSize=65536)
    sender = peer_socket()
    for i in range(20):
        sender.sendto(b"%d" % i, ("127.0.0.1", port.getHost().port))
    reactor.iterate(0.5)
    # 256 KiB of buffers per readiness: 4 datagrams of up to 64 KiB.
    assert len(proto.received) == 4
    run_until(reactor, lambda: len(proto.received) == 20)
    sender.close()


def test_a_datagram_longer_than_max_packet_size_is_truncated(reactor):
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface="127.0.0.1", maxPacketSize=10)
    sender = peer_socket()
    sender.sendto(b"0123456789abcdef", ("127.0.0.1", port.getHost().port))
    sender.sendto(b"short", ("127.0.0.1", port.getHost().port))
    run_until(reactor, lambda: len(proto.received) == 2)
    assert [d for d, _ in proto.received] == [b"0123456789", b"short"]
    sender.close()


def test_write_accepts_bytes_like_and_refuses_str(reactor):
    port = reactor.listenUDP(0, Recorder(), interface="127.0.0.1")
    peer = peer_socket()
    target = ("127.0.0.1", peer.getsockname()[1])
    assert port.write(bytearray(b"ba"), target) == 2
    assert port.write(memoryview(b"mv"), target) == 2
    with pytest.raises(TypeError):
        port.write("text", target)
    with pytest.raises(TypeError):
        port.writeSequence([b"a", "b"], target)
    assert port.writeSequence([b"x"] * 100, target) == 100      # more pieces than one iovec batch
    assert [peer.recv(200) for _ in range(3)] == [b"ba", b"mv", b"x" * 100]
    peer.close()


def test_bad_destinations_fail_at_the_call(reactor):
    port = reactor.listenUDP(0, Recorder(), interface="127.0.0.1")
    with pytest.raises(ValueError, match="needs an address"):
        port.write(b"x")
    with pytest.raises(TypeError):
        port.write(b"x", ["127.0.0.1", 9])
    with pytest.raises(OverflowError):
        port.write(b"x", ("127.0.0.1", 70000))
    with pytest.raises(TypeError):
        port.write(b"x", ("127.0.0.1", "9"))
    with pytest.raises(error.InvalidAddressError):
        port.write(b"x", ("h\u00e9te", 9))


def test_broadcast_needs_setBroadcastAllowed(reactor):
    port = reactor.listenUDP(0, Recorder())
    with pytest.raises(PermissionError):
        port.write(b"x", ("<broadcast>", 9))
    port.setBroadcastAllowed(True)
    assert port.getBroadcastAllowed()


def test_a_refusal_found_by_a_read_reaches_connectionRefused_and_the_port_stays_open(reactor):
    # Twisted's epoll reactor closes the port here (EPOLLERR without EPOLLIN is a lost
    # connection to it) without telling the protocol; the engine reads the error instead.
    closed = peer_socket()
    closed_port = closed.getsockname()[1]
    closed.close()
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface="127.0.0.1")
    port.connect("127.0.0.1", closed_port)
    port.write(b"anyone?")
    run_until(reactor, lambda: proto.refused == 1)
    assert port.connected and proto.events == ["start"]
    with pytest.raises(RuntimeError, match="already connected"):
        port.connect("127.0.0.1", closed_port)
    with pytest.raises(ValueError, match="connected"):
        port.write(b"x", ("127.0.0.1", closed_port + 1))


def test_a_connected_port_hears_only_its_peer(reactor):
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface="127.0.0.1")
    friend, stranger = peer_socket(), peer_socket()
    port.connect("127.0.0.1", friend.getsockname()[1])
    target = ("127.0.0.1", port.getHost().port)
    stranger.sendto(b"stranger", target)
    friend.sendto(b"friend", target)
    run_until(reactor, lambda: proto.received)
    reactor.iterate(0.05)
    assert proto.received == [(b"friend", ("127.0.0.1", friend.getsockname()[1]))]
    assert port.write(b"hi") == 2
    assert port.write(b"hi", ("127.0.0.1", friend.getsockname()[1])) == 2
    assert friend.recv(10) == b"hi"
    friend.close()
    stranger.close()


def test_a_busy_port_is_cannot_listen(reactor):
    holder = peer_socket()
    with pytest.raises(error.CannotListenError) as info:
        reactor.listenUDP(holder.getsockname()[1], Recorder(), interface="127.0.0.1")
    assert info.value.socketError.errno == errno.EADDRINUSE
    holder.close()


def test_bad_arguments(reactor):
    with pytest.raises(error.InvalidAddressError):
        reactor.listenUDP(0, Recorder(), interface="localhost")
    with pytest.raises(ValueError):
        reactor.listenUDP(0, Recorder(), maxPacketSize=0)
    with pytest.raises(TypeError, match="makeConnection"):
        reactor.listenUDP(0, object())
    with pytest.raises(TypeError):
        reactor.listenUDP("53", Recorder())


def test_stop_listening_closes_the_socket_then_fires(reactor):
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface="127.0.0.1")
    fd = port.fileno()
    fired = []
    d = port.stopListening()
    d.addCallback(lambda _: fired.append((proto.events[:], port.fileno())))
    second = port.stopListening()
    assert not fired and fd >= 0
    run_until(reactor, lambda: fired)
    assert fired == [(["start", "stop"], -1)]
    assert second.called
    assert port.stopListening().called      # once stopped: an already-fired Deferred
    with pytest.raises(OSError):
        port.write(b"x", ("127.0.0.1", 9))
    assert port not in reactor.getReaders()


def test_stop_reading_and_start_reading(reactor):
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface="127.0.0.1")
    assert port in reactor.getReaders()
    reactor.removeReader(port)
    assert port not in reactor.getReaders()
    peer = peer_socket()
    peer.sendto(b"queued", ("127.0.0.1", port.getHost().port))
    reactor.iterate(0.05)
    assert proto.received == []
    reactor.addReader(port)
    run_until(reactor, lambda: proto.received)
    peer.close()


def test_a_udp_flood_to_a_full_unix_peer_is_dropped_and_counted(reactor, tmp_path):
    # UDP over loopback never returns EAGAIN (the kernel drops at the receiver); a UNIX datagram
    # socket whose peer does not read does, which is the same code path.
    path = str(tmp_path / "sink")
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(path)
    port = reactor.listenUNIXDatagram(str(tmp_path / "src"), Recorder())
    sent = [port.write(b"x" * 1000, path) for _ in range(5000)]
    assert None in sent and port.droppedDatagrams == sent.count(None) > 0
    sink.close()


def test_shutdown_stops_the_protocol(poller):
    r = fastreactor.Reactor(poller)
    proto = Recorder()
    r.listenUDP(0, proto, interface="127.0.0.1")
    r.callLater(0.01, r.stop)
    r.run(installSignalHandlers=False)
    assert proto.events == ["start", "stop"] and proto.transport is None
    r.close()


def test_a_stopped_port_and_its_protocol_are_freed_without_the_collector(reactor):
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface="127.0.0.1")
    peer = peer_socket()
    peer.sendto(b"x", ("127.0.0.1", port.getHost().port))
    run_until(reactor, lambda: proto.received)
    port.write(b"y", proto.received[0][1])
    done = []
    port.stopListening().addCallback(done.append)
    run_until(reactor, lambda: done)
    refs = weakref.ref(port), weakref.ref(proto)
    gc.disable()
    try:
        del port, proto, done
        assert refs[0]() is None and refs[1]() is None
    finally:
        gc.enable()
    peer.close()


def test_adopt_datagram_port(reactor):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    proto = Recorder()
    port = reactor.adoptDatagramPort(s.fileno(), socket.AF_INET, proto)
    number = s.getsockname()[1]
    s.close()   # the port works on its own duplicate
    assert port.getHost().port == number
    peer = peer_socket()
    peer.sendto(b"adopted", ("127.0.0.1", number))
    run_until(reactor, lambda: proto.received)
    peer.close()


def test_adopt_datagram_port_refuses_bad_sockets(reactor):
    with pytest.raises(error.UnsupportedAddressFamily):
        reactor.adoptDatagramPort(0, socket.AF_UNIX, Recorder())
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(ValueError, match="SOCK_DGRAM"):
        reactor.adoptDatagramPort(tcp.fileno(), socket.AF_INET, Recorder())
    blocking = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(ValueError, match="blocking"):
        reactor.adoptDatagramPort(blocking.fileno(), socket.AF_INET, Recorder())
    tcp.close()
    blocking.close()


def test_protocol_lacking_datagram_received_is_logged_per_datagram(reactor, caplog):
    class Bare:
        transport = None

        def makeConnection(self, transport):
            self.transport = transport

        def doStop(self):
            pass

    port = reactor.listenUDP(0, Bare(), interface="127.0.0.1")
    peer = peer_socket()
    peer.sendto(b"x", ("127.0.0.1", port.getHost().port))
    with caplog.at_level(logging.ERROR, logger="fastreactor"):
        run_until(reactor, lambda: any("datagramReceived" in r.getMessage() for r in caplog.records))
    peer.close()


def test_nested_iterate_inside_datagram_received_keeps_batches_apart(reactor):
    # The shared receive area holds the outer batch while datagramReceived runs; a dispatch
    # nested in it must not overwrite the datagrams not delivered yet.
    inner, outer = Recorder(), Recorder()
    a = reactor.listenUDP(0, outer, interface="127.0.0.1")
    b = reactor.listenUDP(0, inner, interface="127.0.0.1")
    sender = peer_socket()
    for i in range(5):
        sender.sendto(b"outer%d" % i, ("127.0.0.1", a.getHost().port))
    nested = []

    def first(data, addr):
        outer.received.append((data, addr))
        if not nested:
            nested.append(True)
            sender.sendto(b"inner" * 100, ("127.0.0.1", b.getHost().port))
            for _ in range(5):
                reactor.iterate(0.01)
    outer.datagramReceived = first
    run_until(reactor, lambda: len(outer.received) == 5 and inner.received)
    assert [d for d, _ in outer.received] == [b"outer%d" % i for i in range(5)]
    assert inner.received[0][0] == b"inner" * 100
    sender.close()


# ---- replies written in datagramReceived go out together (one sendmmsg per batch) -----------------

def _burst(reactor, proto_class, count=20):
    proto = proto_class()
    port = reactor.listenUDP(0, proto, interface="127.0.0.1")
    peer = peer_socket()
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    for i in range(count):
        peer.sendto(b"%02d" % i, ("127.0.0.1", port.getHost().port))
    return proto, port, peer


def _drain(peer, n):
    return [peer.recv(100) for _ in range(n)]


def test_replies_keep_their_order_beyond_one_batch_of_queued_replies(reactor):
    class Triple(Recorder):
        def datagramReceived(self, data, addr):
            Recorder.datagramReceived(self, data, addr)
            self.returned = [self.transport.write(data + b"a", addr),
                             self.transport.writeSequence([data, b"b"], addr),
                             self.transport.write(data + b"c", addr)]

    proto, port, peer = _burst(reactor, Triple)
    run_until(reactor, lambda: len(proto.received) == 20)
    assert proto.returned == [3, 3, 3]
    assert _drain(peer, 60) == [b"%02d%s" % (i, x) for i in range(20) for x in (b"a", b"b", b"c")]
    peer.close()


def test_replies_queued_before_connect_go_to_where_they_were_addressed(reactor):
    other = peer_socket()

    class Switch(Recorder):
        def datagramReceived(self, data, addr):
            Recorder.datagramReceived(self, data, addr)
            self.transport.write(b"before:" + data, addr)
            if data == b"00":
                self.transport.connect("127.0.0.1", other.getsockname()[1])
                self.transport.write(b"connected")

    proto, port, peer = _burst(reactor, Switch, count=1)
    run_until(reactor, lambda: proto.received)
    assert peer.recv(100) == b"before:00"
    assert other.recv(100) == b"connected"
    peer.close()
    other.close()


def test_replies_queued_before_a_synchronous_close_are_sent(reactor):
    class Closer(Recorder):
        def datagramReceived(self, data, addr):
            Recorder.datagramReceived(self, data, addr)
            self.transport.write(b"bye", addr)
            self.transport.connectionLost()

    proto, port, peer = _burst(reactor, Closer, count=3)
    run_until(reactor, lambda: proto.received)
    assert peer.recv(100) == b"bye"
    assert port.fileno() == -1 and proto.received == [(b"00", proto.received[0][1])]
    peer.close()


def test_a_too_long_reply_still_raises_in_datagram_received(reactor, caplog):
    class TooLong(Recorder):
        def datagramReceived(self, data, addr):
            Recorder.datagramReceived(self, data, addr)
            try:
                self.transport.write(b"x" * 70000, addr)
            except error.MessageLengthError:
                self.transport.write(b"refused", addr)

    proto, port, peer = _burst(reactor, TooLong, count=2)
    run_until(reactor, lambda: len(proto.received) == 2)
    assert _drain(peer, 2) == [b"refused", b"refused"]
    peer.close()


def test_a_protocol_refusing_the_port_leaves_nothing_open(reactor):
    class Taken(Recorder):
        def makeConnection(self, transport):
            raise RuntimeError("already running elsewhere")

    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(RuntimeError, match="elsewhere"):
        reactor.listenUDP(0, Taken(), interface="127.0.0.1")
    assert len(os.listdir("/proc/self/fd")) == before
    assert not reactor._ports and not reactor.getReaders()


@pytest.fixture
def without_batch_calls():
    """Read with recvfrom and send replies with sendto, as where recvmmsg/sendmmsg are missing."""
    previous = fastreactor._core._useDatagramBatchCalls(False)
    yield
    fastreactor._core._useDatagramBatchCalls(previous)


def test_the_recvfrom_sendto_fallback_keeps_batches_bounded_and_replies_ordered(reactor, without_batch_calls):
    class Echo(Recorder):
        def datagramReceived(self, data, addr):
            Recorder.datagramReceived(self, data, addr)
            self.transport.write(data, addr)
            self.transport.write(data.upper(), addr)

    proto = Echo()
    port = reactor.listenUDP(0, proto, interface="127.0.0.1", maxPacketSize=65536)
    peer = peer_socket()
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    for i in range(10):
        peer.sendto(b"d%d" % i, ("127.0.0.1", port.getHost().port))
    reactor.iterate(0.5)
    assert len(proto.received) == 4      # the byte budget, as with recvmmsg
    run_until(reactor, lambda: len(proto.received) == 10)
    assert [peer.recv(10) for _ in range(20)] == [x for i in range(10) for x in (b"d%d" % i, b"D%d" % i)]
    peer.close()
