"""The direct OpenSSL record path of native TLS (src/openssl.h, src/tls.pyx) and its fallback,
end to end over real sockets: which path a connection takes, SNI sent by a direct client and
seen by a server whose context has an sni_callback (the fallback path), the host name check,
ALPN and the peer certificate the same on both paths, a peer sending a forged record after the
handshake, both paths interoperating, and the server's idle memory per connection.
(tests/test_tls_native.py runs every lifecycle test on both paths.)"""
import os
import socket
import ssl
import sys
import threading

import pytest

from fastreactor import _core
from fastreactor.error import ConnectionDone

pytest.importorskip("cryptography", reason="test certificates are made with the cryptography package")
from tls_certs import Certificates  # noqa: E402
from test_tls_native import client_ctx, factories, lost, server_ctx  # noqa: E402

direct_only = pytest.mark.skipif(
    _core.tls_direct_status() is not None,
    reason="the direct OpenSSL path is unavailable here: %s" % (_core.tls_direct_status(),))


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certificates(str(tmp_path_factory.mktemp("certs")))


@pytest.fixture
def path():
    """Restores the record-path setting a test changes."""
    previous = _core.set_tls_direct(True)
    yield
    _core.set_tls_direct(previous)


def paths_seen(factory):
    return [p.path for p in factory.protocols]


def record_path(p):
    p.path = p.transport.tlsPath


def echo_once(reactor, spin, sctx, cctx, host="localhost"):
    """One connection: the client writes, the server echoes, the client closes. Returns both
    factories; each protocol's `.path` is the record path seen in handshakeCompleted."""
    log = []
    sf, cf = factories(
        log,
        server_kw=dict(on_hs=record_path, on_data=lambda p, d: p.transport.write(d)),
        client_kw=dict(on_hs=lambda p: (record_path(p), p.transport.write(b"ping")),
                       on_data=lambda p, d: p.transport.loseConnection()))
    port = reactor.listenSSL(0, sf, sctx, interface="127.0.0.1")
    reactor.connectSSL(host, port.getHost().port, cf, cctx)
    spin(reactor, lambda: lost(cf)() and lost(sf)())
    port.stopListening()
    return sf, cf


@direct_only
def test_default_contexts_take_the_direct_path(reactor, certs, spin, path):
    sf, cf = echo_once(reactor, spin, server_ctx(certs), client_ctx(certs))
    assert paths_seen(sf) == ["direct"] and paths_seen(cf) == ["direct"]
    assert cf.protocols[0].received == b"ping"
    assert cf.protocols[0].reason.check(ConnectionDone), cf.protocols[0].reason
    assert cf.protocols[0].transport.tlsPath is None     # the connection has ended


def test_set_tls_direct_false_takes_the_memorybio_path(reactor, certs, spin, path):
    _core.set_tls_direct(False)
    assert _core.tls_direct_status().startswith("disabled")
    sf, cf = echo_once(reactor, spin, server_ctx(certs), client_ctx(certs))
    assert paths_seen(sf) == ["memorybio"] and paths_seen(cf) == ["memorybio"]
    assert cf.protocols[0].received == b"ping"


@direct_only
def test_sni_callback_context_falls_back_and_sees_the_direct_clients_sni(reactor, certs, spin, path):
    names = []
    sctx = server_ctx(certs)
    sctx.sni_callback = lambda obj, name, ctx: names.append(name)
    sf, cf = echo_once(reactor, spin, sctx, client_ctx(certs))
    assert paths_seen(sf) == ["memorybio"], "a context with sni_callback must use the fallback"
    assert paths_seen(cf) == ["direct"]
    assert names == ["localhost"]
    assert cf.protocols[0].received == b"ping"


@direct_only
def test_msg_callback_context_falls_back(reactor, certs, spin, path):
    seen = []
    cctx = client_ctx(certs)
    cctx._msg_callback = lambda *args: seen.append(args[1])
    sf, cf = echo_once(reactor, spin, server_ctx(certs), cctx)
    assert paths_seen(cf) == ["memorybio"] and paths_seen(sf) == ["direct"]
    assert seen, "the message callback ran"
    assert cf.protocols[0].received == b"ping"


@pytest.mark.parametrize("direct", [True, False])
def test_host_name_mismatch_fails_the_handshake(reactor, certs, spin, path, direct):
    _core.set_tls_direct(direct)
    log = []
    sf, cf = factories(log)
    port = reactor.listenSSL(0, sf, server_ctx(certs, "otherhost"), interface="127.0.0.1")
    reactor.connectSSL("localhost", port.getHost().port, cf, client_ctx(certs))
    spin(reactor, lambda: lost(cf)() and lost(sf)() and cf.lost)
    reason = cf.protocols[0].reason
    assert reason.check(ssl.SSLCertVerificationError), reason
    assert "hostname mismatch" in reason.value.verify_message.lower(), reason.value.verify_message
    assert ("client", "handshake") not in log


@direct_only
def test_alpn_and_peer_certificate_are_the_same_on_both_paths(reactor, certs, spin, path):
    results = []
    for direct in (True, False):
        _core.set_tls_direct(direct)
        seen = {}
        log = []

        def record(p):
            t = p.transport
            seen[p.tag] = (t.tlsPath, t.negotiatedProtocol, t.getPeerCertificate(),
                           t.getPeerCertificate(True) is not None, t.getTLSInfo())
            if p.tag == "client":
                t.loseConnection()

        sf, cf = factories(log, server_kw=dict(on_hs=record), client_kw=dict(on_hs=record))
        port = reactor.listenSSL(0, sf, server_ctx(certs, alpn=["h2", "http/1.1"]), interface="127.0.0.1")
        reactor.connectSSL("localhost", port.getHost().port, cf, client_ctx(certs, alpn=["http/1.1"]))
        spin(reactor, lambda: lost(cf)() and lost(sf)())
        port.stopListening()
        results.append(seen)
    direct, fallback = results
    assert direct["client"][0] == "direct" and fallback["client"][0] == "memorybio"
    assert direct["client"][1] == b"http/1.1" and direct["server"][1] == b"http/1.1"
    assert direct["client"][1:] == fallback["client"][1:]
    assert direct["server"][1:] == fallback["server"][1:]


@direct_only
@pytest.mark.parametrize("fallback", ["server", "client"])
def test_the_two_paths_interoperate_with_a_large_transfer(reactor, certs, spin, path, fallback):
    """3 MiB from the server through a slow start (partial writes, records split across reads),
    one side on each path: the fallback side's context has a callback that forces it."""
    payload = os.urandom(3 * 1024 * 1024 + 123)
    log = []

    def client_data(p, d):
        if len(p.received) >= len(payload):
            p.transport.loseConnection()

    sctx, cctx = server_ctx(certs), client_ctx(certs)
    if fallback == "server":
        sctx.sni_callback = lambda obj, name, ctx: None
    else:
        cctx._msg_callback = lambda *args: None
    sf, cf = factories(
        log,
        server_kw=dict(on_hs=lambda p: (record_path(p), p.transport.write(payload))),
        client_kw=dict(on_hs=record_path, on_data=client_data))
    port = reactor.listenSSL(0, sf, sctx, interface="127.0.0.1")
    reactor.connectSSL("localhost", port.getHost().port, cf, cctx)
    spin(reactor, lambda: lost(cf)() and lost(sf)(), timeout=30)
    assert cf.protocols[0].received == payload
    assert paths_seen(sf) == ["memorybio" if fallback == "server" else "direct"]
    assert paths_seen(cf) == ["memorybio" if fallback == "client" else "direct"]


@direct_only
def test_a_forged_record_after_the_handshake_ends_only_that_connection(reactor, certs, spin, path):
    """A peer that completes the handshake and then sends an application-data record that does
    not decrypt: the server's connection ends with an ssl.SSLError, the port still serves."""
    log = []
    sf, cf = factories(log, server_kw=dict(on_hs=record_path, on_data=lambda p, d: p.transport.write(d)),
                       client_kw=dict(on_hs=lambda p: p.transport.write(b"ok"),
                                      on_data=lambda p, d: p.transport.loseConnection()))
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    ctx = client_ctx(certs)
    done = threading.Event()

    def run():
        sock = socket.create_connection(("127.0.0.1", port.getHost().port))
        sock.settimeout(5)
        tls = ctx.wrap_socket(sock, server_hostname="localhost")
        tls.sendall(b"fine")
        assert tls.recv(10) == b"fine"
        raw = socket.socket(fileno=os.dup(tls.fileno()))
        raw.sendall(b"\x17\x03\x03\x00\x20" + os.urandom(32))     # a record that cannot decrypt
        try:
            while raw.recv(65536):
                pass
        except OSError:
            pass
        raw.close()
        tls.close()
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    spin(reactor, lost(sf), timeout=10)
    server = sf.protocols[0]
    assert server.path == "direct"
    assert server.received == b"fine"
    assert server.reason.check(ssl.SSLError), server.reason
    assert "BAD_RECORD_MAC" in str(server.reason.value) or "DECRYPT" in str(server.reason.value), \
        server.reason.value
    thread.join(5)
    # The port still serves.
    reactor.connectSSL("127.0.0.1", port.getHost().port, cf, client_ctx(certs))
    spin(reactor, lambda: lost(cf)() and len(sf.protocols) == 2 and lost(sf)())
    assert cf.protocols[0].received == b"ok"


BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")


@direct_only
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the server's RSS in /proc")
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="under AddressSanitizer (tools/asan_tests.sh) RSS says nothing of the allocator's")
def test_idle_memory_per_connection_is_not_worse_than_the_memorybio_paths(tmp_path):
    """Server RSS per idle TLS connection (handshake done, nothing sent), measured with
    bench/tls_bench.py's method on 300 connections, direct path against the fallback: OpenSSL
    releases its buffers while idle on both (SSL_MODE_RELEASE_BUFFERS, set by the ssl module)."""
    sys.path.insert(0, BENCH)
    try:
        import tls_bench
    finally:
        sys.path.remove(BENCH)
    from tls_certs import Certificates as Certs
    certs = Certs(str(tmp_path))
    cert, key = certs.server
    figures = {}
    for impl in ("fastreactor", "fastreactor-memorybio"):
        started, why = tls_bench.start_server(impl, cert, key)
        assert started is not None, why
        proc, port = started
        try:
            figures[impl] = tls_bench.idle_memory(port, proc.pid, 300)
        finally:
            tls_bench.stop(proc)
    # RSS moves by whole pages and with the allocator: 2 KiB per connection of slack.
    assert figures["fastreactor"] <= figures["fastreactor-memorybio"] + 2.0, figures
    assert figures["fastreactor"] <= 20.0, figures


def stale_error_injector():
    """A function that leaves an error in this thread's OpenSSL error queue, as a careless
    library would (ERR_new/ERR_set_error in the libcrypto _ssl uses), or None where that is not possible."""
    import ctypes
    import ctypes.util
    import _ssl
    try:
        lib = ctypes.CDLL(_ssl.__file__)     # its symbol scope includes its libcrypto
        new, put, peek = lib.ERR_new, lib.ERR_set_error, lib.ERR_peek_error   # OpenSSL 3
    except (OSError, AttributeError):
        return None
    put.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p]
    peek.restype = ctypes.c_ulong

    def inject():
        new()
        put(20, 100, None)     # ERR_LIB_SSL, some reason
        assert peek() != 0
    return inject


@direct_only
def test_an_error_left_in_the_queue_by_another_library_does_not_fail_a_healthy_connection(
        reactor, certs, spin, path):
    """A record that arrives in two pieces makes SSL_read want more; SSL_get_error would call
    that SSL_ERROR_SSL if the thread's error queue held someone else's error."""
    inject = stale_error_injector()
    if inject is None:
        pytest.skip("no ERR_new/ERR_set_error (OpenSSL 3) in the libcrypto _ssl uses")
    from test_tls_native import blocking_tls_client
    log = []
    sf, _ = factories(log, server_kw=dict(on_hs=record_path,
                                          on_data=lambda p, d: (p.transport.write(d), inject())))
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    echoed = []

    def actions(sock, obj, pump):
        import time
        obj.write(b"first")
        pump()
        time.sleep(0.3)
        obj.write(b"second")
        # pump() would send it whole: take the record from the BIO by hand and split it.
        outgoing = obj_outgoing[0]
        record = outgoing.read()
        sock.sendall(record[:3])
        time.sleep(0.3)
        sock.sendall(record[3:])
        time.sleep(0.3)
        sock.settimeout(2)
        try:
            echoed.append(sock.recv(65536))
        except OSError:
            pass

    obj_outgoing = []
    ctx = client_ctx(certs)
    original_wrap = ctx.wrap_bio

    def wrap_bio(incoming, outgoing, **kw):
        obj_outgoing.append(outgoing)
        return original_wrap(incoming, outgoing, **kw)

    ctx.wrap_bio = wrap_bio
    t = blocking_tls_client(port.getHost().port, ctx, actions)
    spin(reactor, lambda: not t.is_alive() or (sf.protocols and sf.protocols[0].received == b"firstsecond"),
         timeout=10)
    server = sf.protocols[0]
    assert server.path == "direct"
    assert server.received == b"firstsecond", (server.received, server.reason)
    assert server.reason is None, server.reason
    t.join(5)
