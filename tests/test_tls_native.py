"""TLS on the native face, on every poller: listenSSL/connectSSL/startTLS end to end over real
sockets, the lifecycle (handshake, pre-handshake writes, close_notify, half-close, abort), the
bad-input and safety cases, and large transfers with producers."""
import gc
import hashlib
import socket
import ssl
import threading
import time
import weakref

import pytest

from fastreactor import _core, protocol
from fastreactor import ssl as fssl
from fastreactor.error import ConnectionAborted, ConnectionDone, ConnectionLost, TimeoutError

pytest.importorskip("cryptography", reason="test certificates are made with the cryptography package")
from tls_certs import Certificates  # noqa: E402


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certificates(str(tmp_path_factory.mktemp("certs")))


@pytest.fixture(autouse=True, params=["direct", "memorybio"])
def tls_path(request):
    """Every test runs on both record paths: the direct OpenSSL one (the default where it can
    be used) and the ssl.MemoryBIO fallback."""
    if request.param == "direct" and _core.tls_direct_status() is not None:
        pytest.skip("the direct OpenSSL path is unavailable here: %s" % _core.tls_direct_status())
    previous = _core.set_tls_direct(request.param == "direct")
    yield request.param
    _core.set_tls_direct(previous)


def server_ctx(certs, which="server", **kw):
    return fssl.serverContext(*getattr(certs, which), **kw)


def client_ctx(certs, **kw):
    return fssl.clientContext(certs.ca, **kw)


class Recorder(protocol.Protocol):
    """Records its callbacks into `log` (shared) as (tag, event, detail)."""

    tag = "p"
    log = None
    on_made = on_hs = on_data = None

    def __init__(self):
        self.received = b""
        self.reason = None

    def connectionMade(self):
        self.log.append((self.tag, "made"))
        if self.on_made:
            self.on_made(self)

    def handshakeCompleted(self):
        self.log.append((self.tag, "handshake"))
        if self.on_hs:
            self.on_hs(self)

    def dataReceived(self, data):
        self.received += data
        self.log.append((self.tag, "data", len(data)))
        if self.on_data:
            self.on_data(self, data)

    def connectionLost(self, reason):
        self.reason = reason
        self.log.append((self.tag, "lost", type(reason.value).__name__))


def factories(log, server_kw=None, client_kw=None):
    """A server Factory and a ClientFactory making Recorder subclasses with the given attributes;
    each factory's `.protocols` lists what it built, the client's `.lost` its clientConnectionLost
    reasons."""
    def hooks(kw):
        return {k: staticmethod(v) for k, v in (kw or {}).items()}

    S = type("Server", (Recorder,), dict(tag="server", log=log, **hooks(server_kw)))
    C = type("Client", (Recorder,), dict(tag="client", log=log, **hooks(client_kw)))

    class SF(protocol.Factory):
        protocol = S
        noisy = False

        def __init__(self):
            self.protocols = []

        def buildProtocol(self, addr):
            p = protocol.Factory.buildProtocol(self, addr)
            self.protocols.append(p)
            return p

    class CF(protocol.ClientFactory):
        protocol = C
        noisy = False

        def __init__(self):
            self.protocols = []
            self.lost = []
            self.failed = []

        def buildProtocol(self, addr):
            p = protocol.ClientFactory.buildProtocol(self, addr)
            self.protocols.append(p)
            return p

        def clientConnectionLost(self, connector, reason):
            self.lost.append(reason)

        def clientConnectionFailed(self, connector, reason):
            self.failed.append(reason)

    return SF(), CF()


def lost(factory):
    return lambda: factory.protocols and all(p.reason is not None for p in factory.protocols)


def test_echo_handshake_alpn_peer_certificate(reactor, certs, spin):
    log = []
    sni = []
    sctx = server_ctx(certs, alpn=["h2", "http/1.1"])
    sctx.sni_callback = lambda obj, name, ctx: sni.append(name)
    sf, cf = factories(
        log,
        server_kw=dict(on_data=lambda p, d: p.transport.write(d)),
        client_kw=dict(on_made=lambda p: p.transport.write(b"queued before the handshake"),
                       on_data=lambda p, d: p.transport.loseConnection()))
    port = reactor.listenSSL(0, sf, sctx, interface="127.0.0.1")
    reactor.connectSSL("localhost", port.getHost().port, cf, client_ctx(certs, alpn=["h2"]))
    spin(reactor, lambda: lost(cf)() and lost(sf)())
    client, server = cf.protocols[0], sf.protocols[0]
    assert client.received == b"queued before the handshake"
    assert server.received == b"queued before the handshake"
    assert [e[1] for e in log if e[0] == "client"] == ["made", "handshake", "data", "lost"]
    assert [e[1] for e in log if e[0] == "server"] == ["made", "handshake", "data", "lost"]
    assert client.reason.check(ConnectionDone) and server.reason.check(ConnectionDone)
    assert cf.lost[0].check(ConnectionDone)
    assert sni == ["localhost"]


def test_negotiated_protocol_and_certificate_seen_in_handshake_completed(reactor, certs, spin):
    log, seen = [], {}

    def record(p):
        seen[p.tag] = (p.transport.negotiatedProtocol, p.transport.getPeerCertificate(),
                       p.transport.TLS, p.transport.getTLSInfo())
        if p.tag == "client":
            p.transport.loseConnection()

    sf, cf = factories(log, server_kw=dict(on_hs=record), client_kw=dict(on_hs=record))
    port = reactor.listenSSL(0, sf, server_ctx(certs, alpn=["x-one", "x-two"]), interface="127.0.0.1")
    reactor.connectSSL("127.0.0.1", port.getHost().port, cf, client_ctx(certs, alpn=["x-two"]))
    spin(reactor, lambda: lost(cf)() and lost(sf)())
    proto, cert, tls, info = seen["client"]
    assert proto == b"x-two" and tls is True
    assert dict(x[0] for x in cert["subject"])["commonName"] == "localhost"
    assert info[0] in ("TLSv1.2", "TLSv1.3")
    assert seen["server"][0] == b"x-two"
    assert seen["server"][1] is None or seen["server"][1] == {}     # no client certificate
    # Once the connection has ended the TLS state is gone.
    assert cf.protocols[0].transport.getPeerCertificate() is None


@pytest.mark.parametrize("which,host", [("otherhost", "localhost"), ("expired", "localhost"),
                                        ("selfsigned", "localhost")])
def test_certificate_failures_reach_connection_lost(reactor, certs, spin, which, host):
    log = []
    sf, cf = factories(log)
    port = reactor.listenSSL(0, sf, server_ctx(certs, which), interface="127.0.0.1")
    reactor.connectSSL(host, port.getHost().port, cf, client_ctx(certs))
    spin(reactor, lambda: lost(cf)() and lost(sf)() and cf.lost)
    client, server = cf.protocols[0], sf.protocols[0]
    assert client.reason.check(ssl.SSLCertVerificationError), client.reason
    assert cf.lost[0].value is client.reason.value
    assert server.reason.check(ssl.SSLError, ConnectionLost), server.reason
    assert ("client", "handshake") not in log and ("server", "handshake") not in log


def test_garbage_ends_only_that_connection(reactor, certs, spin):
    log = []
    sf, cf = factories(log, server_kw=dict(on_data=lambda p, d: p.transport.write(d)),
                       client_kw=dict(on_hs=lambda p: p.transport.write(b"ok"),
                                      on_data=lambda p, d: p.transport.loseConnection()))
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    raw = socket.create_connection(("127.0.0.1", port.getHost().port))
    raw.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)) * 4)
    spin(reactor, lost(sf))
    assert sf.protocols[0].reason.check(ssl.SSLError), sf.protocols[0].reason
    raw.close()
    # The port still serves.
    reactor.connectSSL("127.0.0.1", port.getHost().port, cf, client_ctx(certs))
    spin(reactor, lambda: lost(cf)() and len(sf.protocols) == 2 and lost(sf)())
    assert cf.protocols[0].received == b"ok"


@pytest.mark.parametrize("send", [b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"])
def test_stalled_handshake_times_out(reactor, certs, spin, send):
    log = []
    sf, _ = factories(log)
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1", handshakeTimeout=0.3)
    raw = socket.create_connection(("127.0.0.1", port.getHost().port))
    raw.sendall(send)
    spin(reactor, lost(sf), timeout=5)
    assert sf.protocols[0].reason.check(TimeoutError), sf.protocols[0].reason
    assert "TLS handshake" in str(sf.protocols[0].reason.value)
    raw.settimeout(5)
    try:
        assert raw.recv(100) == b""     # closed: no alert, no close_notify
    except ConnectionResetError:
        pass                            # (abortively)
    raw.close()


def test_default_handshake_timeout_is_30s(reactor, certs):
    assert reactor.tlsHandshakeTimeout == 30.0
    with pytest.raises(ValueError):
        reactor.listenSSL(0, protocol.Factory(), server_ctx(certs), handshakeTimeout=-1)


def test_start_tls_handshake_uses_the_reactors_timeout(reactor, certs, spin):
    # startTLS has no timeout argument: the reactor's tlsHandshakeTimeout bounds its handshake.
    log = []
    sf, _ = factories(log, server_kw=dict(on_made=lambda p: p.transport.startTLS(server_ctx(certs))))
    reactor.tlsHandshakeTimeout = 0.3
    port = reactor.listenTCP(0, sf, interface="127.0.0.1")
    raw = socket.create_connection(("127.0.0.1", port.getHost().port))     # never speaks TLS
    spin(reactor, lost(sf), timeout=5)
    assert sf.protocols[0].reason.check(TimeoutError), sf.protocols[0].reason
    raw.close()


def test_plain_and_tls_connections_are_one_class_and_plain_carries_no_tls_state(reactor, certs, spin):
    log = []
    sf, cf = factories(log)
    tls_sf, tls_cf = factories(log)
    port = reactor.listenTCP(0, sf, interface="127.0.0.1")
    tls_port = reactor.listenSSL(0, tls_sf, server_ctx(certs), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, cf)
    reactor.connectSSL("127.0.0.1", tls_port.getHost().port, tls_cf, client_ctx(certs))
    spin(reactor, lambda: cf.protocols and sf.protocols and tls_cf.protocols and tls_sf.protocols
         and tls_cf.protocols[0].transport.getTLSInfo() is not None)
    plain, tls = cf.protocols[0].transport, tls_cf.protocols[0].transport
    assert type(plain) is type(tls) is _core.TCPConnection
    assert not plain.TLS and plain.tls_object is None and plain.getTLSInfo() is None
    assert tls.TLS and tls.tls_object is not None
    # The TLS state lives in a separate object: a plain connection has one pointer more than any
    # stream socket, not the TLS session's fields.
    assert _core.TCPConnection.__basicsize__ <= _core.SocketStream.__basicsize__ + 8
    for t in (plain, tls, sf.protocols[0].transport, tls_sf.protocols[0].transport):
        t.abortConnection()
    spin(reactor, lambda: lost(cf)() and lost(sf)() and lost(tls_cf)() and lost(tls_sf)())


def blocking_tls_client(port, ctx, actions, host="localhost"):
    """A stdlib TLS client in a thread over memory BIOs, so it can send exactly what a test needs
    (a close_notify then more bytes). `actions(sock, sslobj, pump)`; returns the thread."""
    def run():
        sock = socket.create_connection(("127.0.0.1", port))
        sock.settimeout(5)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(incoming, outgoing, server_hostname=host)

        def pump():
            if outgoing.pending:
                sock.sendall(outgoing.read())

        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pump()
                incoming.write(sock.recv(65536))
        pump()
        actions(sock, obj, pump)
        sock.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_data_after_close_notify_is_ignored(reactor, certs, spin):
    log = []
    sf, _ = factories(log)
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")

    def actions(sock, obj, pump):
        obj.write(b"before")
        pump()
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        pump()
        try:
            sock.sendall(b"\x17\x03\x03\x00\x05after")     # a record after close_notify
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):     # read to the end, so closing sends no RST
                pass
        except OSError:
            pass    # the server may have closed (on the close_notify) before these arrived

    t = blocking_tls_client(port.getHost().port, client_ctx(certs), actions)
    spin(reactor, lost(sf))
    t.join(5)
    server = sf.protocols[0]
    assert server.received == b"before"
    assert server.reason.check(ConnectionDone), server.reason


def test_eof_without_close_notify_is_connection_lost(reactor, certs, spin):
    log = []
    sf, _ = factories(log)
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")

    def actions(sock, obj, pump):
        obj.write(b"truncated")
        pump()

    t = blocking_tls_client(port.getHost().port, client_ctx(certs), actions)
    spin(reactor, lost(sf))
    t.join(5)
    assert sf.protocols[0].received == b"truncated"
    assert sf.protocols[0].reason.check(ConnectionLost), sf.protocols[0].reason


def test_lose_connection_sends_queued_data_then_close_notify(reactor, certs, spin):
    """Written in connectionMade (before the handshake), then loseConnection: the data and a
    close_notify arrive (the stdlib client reads a clean TLS EOF); the server's end stays open
    until the client's close_notify answers, then closes (ConnectionDone, and a TCP EOF for the
    client)."""
    log, got = [], []
    sf, _ = factories(log, server_kw=dict(
        on_made=lambda p: (p.transport.write(b"x" * 100000), p.transport.loseConnection())))
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")

    def run():
        sock = socket.create_connection(("127.0.0.1", port.getHost().port))
        sock.settimeout(5)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = client_ctx(certs).wrap_bio(incoming, outgoing, server_hostname="localhost")
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    sock.sendall(outgoing.read())
                incoming.write(sock.recv(65536))
        if outgoing.pending:
            sock.sendall(outgoing.read())
        data = b""
        while True:
            try:
                chunk = obj.read(65536)
            except ssl.SSLWantReadError:
                more = sock.recv(65536)
                if not more:
                    got.append(("eof without close_notify", len(data)))
                    break
                incoming.write(more)
                continue
            except ssl.SSLZeroReturnError:
                chunk = b""
            if not chunk:
                got.append(("close_notify", len(data)))
                break
            data += chunk
        time.sleep(0.3)
        got.append(("server open before our close_notify", sf.protocols[0].reason is None))
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        sock.sendall(outgoing.read())
        got.append(("tcp eof", sock.recv(65536)))
        sock.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    spin(reactor, lambda: lost(sf)() and not t.is_alive())
    assert got == [("close_notify", 100000), ("server open before our close_notify", True),
                   ("tcp eof", b"")]
    assert sf.protocols[0].reason.check(ConnectionDone)


def test_waiting_for_the_peers_close_notify_ends_at_once_on_abort(reactor, certs, spin):
    """A peer that reads our close_notify but never answers it, keeping TCP open: the closing
    end stays open (as on Twisted, no close timeout) and reading; abortConnection then ends it at once (ConnectionLost, as an abort of TLS reports it), and
    the connection is freed (no timer of the layer keeps it)."""
    log, got = [], []
    release = threading.Event()
    sf, _ = factories(log, server_kw=dict(
        on_hs=lambda p: (p.transport.write(b"bye"), p.transport.loseConnection())))
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")

    def client():
        sock = socket.create_connection(("127.0.0.1", port.getHost().port))
        sock.settimeout(10)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = client_ctx(certs).wrap_bio(incoming, outgoing, server_hostname="localhost")
        data = b""
        while True:
            try:
                if obj.version() is None:
                    obj.do_handshake()
                    continue
                chunk = obj.read(65536)
                if not chunk:       # the close_notify (SSLObject.read returns b"" for it)
                    got.append(("close_notify", data))
                    break
                data += chunk
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    sock.sendall(outgoing.read())
                more = sock.recv(65536)
                if not more:
                    got.append(("eof", data))
                    break
                incoming.write(more)
            except ssl.SSLZeroReturnError:
                got.append(("close_notify", data))
                break
        release.wait(10)    # holds TCP open, never answers the close_notify
        sock.close()

    t = threading.Thread(target=client, daemon=True)
    t.start()
    spin(reactor, lambda: got)
    assert got == [("close_notify", b"bye")]
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        reactor.iterate(0.05)
    server = sf.protocols[0]
    assert server.reason is None, "closed without the peer's close_notify"
    transport = server.transport
    assert transport.disconnecting and transport.fileno() >= 0
    transport.abortConnection()
    spin(reactor, lost(sf), timeout=2)
    release.set()
    t.join(5)
    assert server.reason.check(ConnectionLost), server.reason
    ref = weakref.ref(transport)
    del transport, server
    sf.protocols[:] = []
    gc.collect()
    assert ref() is None


def test_lose_connection_before_handshake_with_nothing_queued_aborts(reactor, certs, spin):
    log = []
    sf, cf = factories(log, server_kw=dict(on_made=lambda p: p.transport.loseConnection()))
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    reactor.connectSSL("127.0.0.1", port.getHost().port, cf, client_ctx(certs))
    spin(reactor, lambda: lost(cf)() and lost(sf)())
    # As in Twisted: an abort of a TLS connection is reported to its protocol as ConnectionLost.
    assert sf.protocols[0].reason.check(ConnectionLost)
    assert cf.protocols[0].reason.check(ConnectionLost, ssl.SSLError), cf.protocols[0].reason


def test_abort_connection(reactor, certs, spin):
    log = []
    sf, cf = factories(log, client_kw=dict(
        on_hs=lambda p: (p.transport.write(b"dropped"), p.transport.abortConnection())))
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    reactor.connectSSL("127.0.0.1", port.getHost().port, cf, client_ctx(certs))
    spin(reactor, lambda: lost(cf)() and lost(sf)())
    # As in Twisted: ConnectionLost for the protocol (the TLS stream ended uncleanly),
    # ConnectionAborted for the connector (the transport's reason).
    assert cf.protocols[0].reason.check(ConnectionLost)
    assert cf.lost[0].check(ConnectionAborted)
    assert sf.protocols[0].received == b""
    assert sf.protocols[0].reason.check(ConnectionLost), sf.protocols[0].reason


def test_lose_write_connection_half_closes_with_close_notify(reactor, certs, spin):
    log, events = [], []

    class HalfServer(Recorder):
        def readConnectionLost(self):
            events.append(("readConnectionLost", self.received))
            self.transport.write(b"reply after your close_notify")
            self.transport.loseConnection()

    sf, cf = factories(log, client_kw=dict(
        on_hs=lambda p: (p.transport.write(b"request"), p.transport.loseWriteConnection())))
    HalfServer.tag, HalfServer.log = "server", log
    sf.protocol = HalfServer
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    reactor.connectSSL("127.0.0.1", port.getHost().port, cf, client_ctx(certs))
    spin(reactor, lambda: lost(cf)() and lost(sf)())
    assert events == [("readConnectionLost", b"request")]
    assert cf.protocols[0].received == b"reply after your close_notify"
    assert cf.protocols[0].reason.check(ConnectionDone)
    assert sf.protocols[0].reason.check(ConnectionDone)


def test_start_tls_clear_before_encrypted_after(reactor, certs, spin):
    """A STARTTLS exchange against a stdlib client: the server's "go" is written before startTLS
    and must arrive in clear; what follows is TLS."""
    log = []
    sctx = server_ctx(certs)

    def server_data(p, data):
        if not p.transport.TLS:
            assert data == b"STARTTLS\r\n"
            p.transport.write(b"go\r\n")
            p.transport.startTLS(sctx)
        else:
            p.transport.write(b"secret:" + data)
            p.transport.loseConnection()

    sf, _ = factories(log, server_kw=dict(on_data=server_data))
    port = reactor.listenTCP(0, sf, interface="127.0.0.1")
    result = {}

    def run():
        sock = socket.create_connection(("127.0.0.1", port.getHost().port))
        sock.settimeout(5)
        sock.sendall(b"STARTTLS\r\n")
        clear = b""
        while not clear.endswith(b"\r\n"):
            clear += sock.recv(1)
        result["clear"] = clear
        tls = client_ctx(certs).wrap_socket(sock, server_hostname="localhost")
        tls.sendall(b"hello")
        result["reply"] = tls.recv(100)
        tls.unwrap()    # answers the server's close_notify, which its close waits for
        tls.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    spin(reactor, lambda: lost(sf)() and not t.is_alive())
    assert result == {"clear": b"go\r\n", "reply": b"secret:hello"}
    assert ("server", "handshake") in log
    assert sf.protocols[0].reason.check(ConnectionDone)


def test_start_tls_between_two_native_ends(reactor, certs, spin):
    log = []

    def server_data(p, data):
        if data == b"STARTTLS":
            p.transport.write(b"go")
            p.transport.startTLS(server_ctx(certs))
        elif p.transport.TLS:
            p.transport.write(data.upper())

    def client_data(p, data):
        if data == b"go":
            p.transport.startTLS(client_ctx(certs), serverHostname="localhost")
            p.transport.write(b"encrypted")     # queued until the handshake completes
        else:
            p.transport.loseConnection()

    sf, cf = factories(log, server_kw=dict(on_data=server_data), client_kw=dict(
        on_made=lambda p: p.transport.write(b"STARTTLS"), on_data=client_data))
    port = reactor.listenTCP(0, sf, interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, cf)
    spin(reactor, lambda: lost(cf)() and lost(sf)())
    assert cf.protocols[0].received == b"goENCRYPTED"
    assert ("client", "handshake") in log and ("server", "handshake") in log


def test_start_tls_refuses_wrong_arguments(reactor, certs, spin):
    log = []
    sf, cf = factories(log)
    port = reactor.listenTCP(0, sf, interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, cf)
    spin(reactor, lambda: cf.protocols and sf.protocols)
    t = cf.protocols[0].transport
    with pytest.raises(TypeError):
        t.startTLS("not a context")
    with pytest.raises(ValueError):
        t.startTLS(client_ctx(certs))     # a checking client needs the server's name
    t.startTLS(client_ctx(certs), serverHostname="localhost")
    with pytest.raises(RuntimeError):
        t.startTLS(client_ctx(certs), serverHostname="localhost")
    t.abortConnection()
    sf.protocols[0].transport.abortConnection()
    spin(reactor, lambda: lost(cf)() and lost(sf)())


def test_4mib_through_a_slow_reader_with_a_push_producer(reactor, certs, spin):
    """The server streams 4 MiB from a push producer; the client pauses reading for a while; the
    producer is paused and resumed, and every byte arrives in order."""
    log, producer_events = [], []
    payload = hashlib.sha256(b"seed").digest() * (4 * 1024 * 1024 // 32)

    class Producer:
        def __init__(self, transport):
            self.transport = transport
            self.offset = 0
            self.paused = False

        def pauseProducing(self):
            producer_events.append("pause")
            self.paused = True

        def resumeProducing(self):
            producer_events.append("resume")
            self.paused = False
            reactor.callLater(0, self.produce)

        def stopProducing(self):
            producer_events.append("stop")

        def produce(self):
            while not self.paused and self.offset < len(payload):
                self.transport.write(payload[self.offset:self.offset + 65536])
                self.offset += 65536
            if self.offset >= len(payload) and "done" not in producer_events:
                producer_events.append("done")
                self.transport.unregisterProducer()
                self.transport.loseConnection()

    def server_hs(p):
        prod = Producer(p.transport)
        p.transport.registerProducer(prod, True)
        prod.produce()

    def client_made(p):
        p.transport.pauseProducing()
        reactor.callLater(0.5, p.transport.resumeProducing)

    sf, cf = factories(log, server_kw=dict(on_hs=server_hs), client_kw=dict(on_hs=client_made))
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    reactor.connectSSL("127.0.0.1", port.getHost().port, cf, client_ctx(certs))
    spin(reactor, lambda: lost(cf)() and lost(sf)(), timeout=60)
    assert len(cf.protocols[0].received) == len(payload)
    assert cf.protocols[0].received == payload
    assert "pause" in producer_events and "resume" in producer_events
    assert cf.protocols[0].reason.check(ConnectionDone)


def test_pull_producer_over_tls(reactor, certs, spin):
    log = []
    chunks = [b"%06d" % i * 1000 for i in range(50)]

    class Pull:
        def __init__(self, transport):
            self.transport = transport

        def resumeProducing(self):
            if chunks:
                self.transport.write(chunks.pop(0))
            else:
                self.transport.unregisterProducer()
                self.transport.loseConnection()

        def stopProducing(self):
            pass

    sf, cf = factories(log, server_kw=dict(
        on_made=lambda p: p.transport.registerProducer(Pull(p.transport), False)))
    expected = b"".join(chunks)
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    reactor.connectSSL("127.0.0.1", port.getHost().port, cf, client_ctx(certs))
    spin(reactor, lambda: lost(cf)() and lost(sf)(), timeout=30)
    assert cf.protocols[0].received == expected


def tls12_records_received(port, ctx, result):
    """A blocking TLS 1.2 client (stdlib SSLObject over memory BIOs, so the ciphertext can be
    read): connect, shake hands, read until the server's close_notify. Appends (record content
    types seen on the wire, plaintext) to `result`. TLS 1.2, because TLS 1.3 hides every record's
    type behind application_data."""
    raw, plain = bytearray(), bytearray()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    session = ctx.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        def receive():
            chunk = sock.recv(65536)
            if not chunk:
                return False
            raw.extend(chunk)
            incoming.write(chunk)
            return True

        while True:
            try:
                session.do_handshake()
                sock.sendall(outgoing.read())
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                assert receive(), "the server closed during the handshake"
        while True:
            try:
                data = session.read(65536)
                if not data:
                    break       # the server's close_notify
                plain.extend(data)
            except ssl.SSLWantReadError:
                if not receive():
                    break
            except ssl.SSLZeroReturnError:
                break
    types, i = [], 0
    while i + 5 <= len(raw):
        types.append(raw[i])
        i += 5 + int.from_bytes(raw[i + 3:i + 5], "big")
    result.append((types, bytes(plain)))


def test_small_writes_of_one_turn_make_one_record(reactor, certs, spin):
    """1000 one-byte writes in one callback go out as one flush and one TLS record (counted on
    the wire by a TLS 1.2 client: content type 23 is application data)."""
    log = []
    sf, _ = factories(log, server_kw=dict(on_hs=lambda p: (
        [p.transport.write(b"x") for _ in range(1000)], p.transport.loseConnection())))
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    ctx = client_ctx(certs)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    result = []
    client = threading.Thread(target=tls12_records_received, args=(port.getHost().port, ctx, result))
    client.start()
    spin(reactor, lambda: not client.is_alive() and lost(sf)())
    client.join()
    types, plain = result[0]
    assert plain == b"x" * 1000
    assert types.count(23) == 1, types


def test_tls_state_is_released_when_the_connection_ends(reactor, certs, spin):
    log = []
    sf, cf = factories(log, client_kw=dict(on_hs=lambda p: p.transport.loseConnection()))
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    reactor.connectSSL("127.0.0.1", port.getHost().port, cf, client_ctx(certs))
    spin(reactor, lambda: cf.protocols and cf.protocols[0].transport.tls_object is not None)
    ref = weakref.ref(cf.protocols[0].transport.tls_object)
    spin(reactor, lambda: lost(cf)() and lost(sf)())
    gc.collect()
    assert ref() is None
    assert cf.protocols[0].transport.tls_object is None
    assert sf.protocols[0].transport.tls_object is None


def test_contexts_are_secure_by_default(certs):
    c = fssl.clientContext(certs.ca)
    assert c.verify_mode == ssl.CERT_REQUIRED and c.check_hostname
    assert c.minimum_version == ssl.TLSVersion.TLSv1_2
    assert c.options & ssl.OP_NO_RENEGOTIATION
    s = fssl.serverContext(*certs.server)
    assert s.minimum_version == ssl.TLSVersion.TLSv1_2
    assert s.options & ssl.OP_NO_RENEGOTIATION
    with pytest.raises(ValueError):
        fssl.serverContext(*certs.server, requireClientCertificate=True)


def test_listen_and_connect_ssl_refuse_bad_arguments(reactor, certs):
    with pytest.raises(TypeError):
        reactor.listenSSL(0, protocol.Factory(), object())
    with pytest.raises(TypeError):
        reactor.connectSSL("127.0.0.1", 1, protocol.ClientFactory(), None)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    reactor.connectSSL("127.0.0.1", 1, protocol.ClientFactory(), ctx).stopConnecting()
    assert ctx.options & ssl.OP_NO_RENEGOTIATION     # renegotiation refused on any context used


def test_tls_1_1_peer_is_refused(reactor, certs, spin):
    log = []
    sf, cf = factories(log)
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    old = fssl.clientContext(certs.ca, minimumVersion=ssl.TLSVersion.MINIMUM_SUPPORTED)
    try:
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as e:   # an OpenSSL built without TLS 1.1 at all
        pytest.skip("this OpenSSL cannot even offer TLS 1.1: %s" % e)
    reactor.connectSSL("127.0.0.1", port.getHost().port, cf, old)
    spin(reactor, lambda: lost(cf)() and lost(sf)())
    assert cf.protocols[0].reason.check(ssl.SSLError), cf.protocols[0].reason
    assert sf.protocols[0].reason.check(ssl.SSLError, ConnectionLost), sf.protocols[0].reason
    assert ("server", "handshake") not in log


@pytest.mark.skipif(__import__("shutil").which("openssl") is None,
                    reason="renegotiation is asked for with `openssl s_client` (its R command); "
                           "the ssl module cannot ask for it")
def test_renegotiation_is_refused(reactor, certs, spin):
    """A TLS 1.2 client asks to renegotiate: refused (the client gives up with an alert and the
    server's connection ends with that ssl.SSLError), and only that connection ends. (OpenSSL 3
    also refuses client-initiated renegotiation by default; contexts used here add
    OP_NO_RENEGOTIATION for either side and older libraries.)"""
    import subprocess
    import time
    log = []
    sf, cf = factories(log, server_kw=dict(on_data=lambda p, d: p.transport.write(b"echo:" + d)),
                       client_kw=dict(on_hs=lambda p: p.transport.loseConnection()))
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    client = subprocess.Popen(["openssl", "s_client", "-tls1_2", "-quiet", "-no_ign_eof", "-connect",
                               "127.0.0.1:%d" % port.getHost().port],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        spin(reactor, lambda: ("server", "handshake") in log)
        client.stdin.write(b"hello\n")
        client.stdin.flush()
        spin(reactor, lambda: sf.protocols[0].received == b"hello\n")
        client.stdin.write(b"R\n")      # s_client: renegotiate
        client.stdin.flush()
        end = time.monotonic() + 1.0
        while time.monotonic() < end and sf.protocols[0].reason is None:
            reactor.iterate(0.01)
    finally:
        client.kill()
        client.wait()
        for stream in (client.stdin, client.stdout, client.stderr):
            try:
                stream.close()
            except BrokenPipeError:
                pass
    spin(reactor, lost(sf))
    assert log.count(("server", "handshake")) == 1
    assert sf.protocols[0].reason.check(ssl.SSLError), sf.protocols[0].reason
    # Only that connection ended: the port still serves.
    reactor.connectSSL("127.0.0.1", port.getHost().port, cf, client_ctx(certs))
    spin(reactor, lambda: lost(cf)() and len(sf.protocols) == 2 and lost(sf)())
    assert ("client", "handshake") in log
