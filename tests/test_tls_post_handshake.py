"""TLS 1.3 post-handshake messages that OpenSSL must answer, end to end on both record paths and
every poller, with a blocking ssl.SSLSocket peer in a thread:

- the peer requests a key update (KeyUpdate with update_requested, through libssl's
  SSL_key_update called with ctypes): the native end must send a KeyUpdate of its own before its
  next record, so that data keeps flowing both ways. The peer's message callback sees the reply.
  OpenSSL 3.0 sends that reply just before the next record it writes (not from SSL_read), so
  here it goes out from SSL_write, also when a record is waiting for the socket.
- the peer asks the native client for its certificate after the handshake (post-handshake
  authentication): OpenSSL answers from inside SSL_read, the case where reading must write.

Each is run once with the native end's socket free and once with it full: the peer has stopped
reading while the native end writes a large payload, and sends the request only once the native
end is blocked; the native end reads it while still blocked (the peer waits for that), then the
peer reads everything. Every byte must arrive, in order. On the direct path a full socket used to
leave a partly sent record inside OpenSSL, and the certificate request then failed the session
with SSLError BAD_LENGTH (the answer now waits behind that record in the BIO's buffer)."""
import ctypes
import hashlib
import socket
import ssl
import threading

import pytest

from fastreactor import _core

pytest.importorskip("cryptography", reason="test certificates are made with the cryptography package")
from tls_certs import Certificates  # noqa: E402
from test_tls_native import client_ctx, factories, lost, server_ctx  # noqa: E402

SSL_KEY_UPDATE_REQUESTED = 1
KEY_UPDATE = 24     # the TLS handshake message type (ssl._TLSMessageType.KEY_UPDATE)
PAYLOAD = 8 * 1024 * 1024


def _libssl():
    """libssl's SSL_key_update and SSL_get_SSL_CTX, from the OpenSSL the ssl module loaded, or
    the reason they cannot be had."""
    import _ssl
    path = getattr(_ssl, "__file__", None)
    if not path:
        return "_ssl is built into the interpreter: no library to find SSL_key_update in"
    try:
        lib = ctypes.CDLL(path)     # already loaded: its lookup scope has libssl
        key_update, get_ctx = lib.SSL_key_update, lib.SSL_get_SSL_CTX
    except (OSError, AttributeError) as e:
        return "libssl's SSL_key_update cannot be called: %s" % (e,)
    key_update.argtypes, key_update.restype = [ctypes.c_void_p, ctypes.c_int], ctypes.c_int
    get_ctx.argtypes, get_ctx.restype = [ctypes.c_void_p], ctypes.c_void_p
    return key_update, get_ctx


LIBSSL = _libssl()
needs_key_update = pytest.mark.skipif(isinstance(LIBSSL, str), reason=str(LIBSSL))


def request_key_update(sock):
    """Have `sock` (a connected TLS 1.3 ssl.SSLSocket) send a KeyUpdate asking its peer to
    update its keys too; it goes out before the next application data. The SSL* is found as
    src/openssl.h finds it (PySSLSocket: PyObject_HEAD, the socket, the SSL*) and trusted only
    if its SSL_CTX is the context's (PySSLContext: PyObject_HEAD, the SSL_CTX*)."""
    key_update, get_ctx = LIBSSL
    head = object.__basicsize__
    pointer = ctypes.sizeof(ctypes.c_void_p)
    ssl_ptr = ctypes.c_void_p.from_address(id(sock._sslobj) + head + pointer).value
    ctx_ptr = ctypes.c_void_p.from_address(id(sock.context) + head).value
    if not ssl_ptr or get_ctx(ssl_ptr) != ctx_ptr:
        raise pytest.skip.Exception("the SSL* of an ssl.SSLSocket is not where CPython 3.8-3.14 keep it")
    assert key_update(ssl_ptr, SSL_KEY_UPDATE_REQUESTED) == 1


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certificates(str(tmp_path_factory.mktemp("certs")))


@pytest.fixture(params=["direct", "memorybio"])
def tls_path(request):
    """The native end runs on each TLS record path."""
    if request.param == "direct" and _core.tls_direct_status() is not None:
        pytest.skip("the direct OpenSSL path is unavailable here: %s" % _core.tls_direct_status())
    previous = _core.set_tls_direct(request.param == "direct")
    yield request.param
    _core.set_tls_direct(previous)


def recv_exactly(sock, size):
    chunks = []
    while size:
        chunk = sock.recv(min(size, 65536))
        if not chunk:
            raise AssertionError("EOF with %d bytes still expected" % size)
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def pattern(size):
    """`size` bytes that repeat over no record or buffer size (a SHA-256 chain), so a lost,
    repeated or reordered piece shows."""
    block = hashlib.sha256(b"seed").digest()
    out = []
    for _ in range(size // 32 + 1):
        block = hashlib.sha256(block).digest()
        out.append(block)
    return b"".join(out)[:size]


def assert_same(data, expected):
    assert len(data) == len(expected), (len(data), len(expected))
    if data != expected:
        first = next(i for i in range(len(expected)) if data[i] != expected[i])
        raise AssertionError("the payload differs from byte %d on" % first)


def run_peer(reactor, spin, target, timeout=40):
    """Run target() (the peer) in a thread while the reactor runs; re-raise what it raised."""
    outcome = {}

    def run():
        try:
            target()
        except BaseException as e:     # re-raised below, in the test's thread
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    spin(reactor, lambda: not thread.is_alive(), timeout=timeout)
    if "error" in outcome:
        raise outcome["error"]


class Blocker:
    """The native end's side of the full-socket scenario: on `go` it writes PAYLOAD bytes (with a
    small send buffer), and `full` is set once part of them waits in the transport; `read` is
    set when it has read `marker` (sent by the peer after its request), and it then writes
    `reply`."""

    def __init__(self, marker, reply):
        self.payload = pattern(PAYLOAD)
        self.full = threading.Event()
        self.read = threading.Event()
        self.marker = marker
        self.reply = reply

    def check_full(self, p):
        if p.transport.getWriteBufferSize() > 0:
            self.full.set()
        else:
            p.transport.reactor.callLater(0.02, self.check_full, p)

    def on_data(self, p, data):
        if p.received == b"go":
            p.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            p.transport.write(self.payload)
            self.check_full(p)
        elif p.received.endswith(self.marker):
            p.transport.write(self.reply)
            self.read.set()


def peer_socket(address):
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    raw.settimeout(20)
    raw.connect(address)
    return raw


# ---- key update requested by the peer (the native end is the server) ---------------------------

def key_update_client_context(certs, messages):
    """A TLS 1.3 client context trusting the test CA; the handshake messages it reads are
    appended to `messages`."""
    ctx = client_ctx(certs)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3

    def seen(conn, direction, version, content_type, msg_type, data):
        if direction == "read" and content_type == ssl._TLSContentType.HANDSHAKE:
            messages.append(msg_type)

    ctx._msg_callback = seen
    return ctx


@needs_key_update
def test_key_update_requested_by_the_peer_is_answered(reactor, certs, spin, tls_path):
    log = []
    sf, _ = factories(log, server_kw=dict(
        on_hs=lambda p: setattr(p, "path", p.transport.tlsPath),
        on_data=lambda p, d: p.transport.write(d.upper())))
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    messages = []
    echoes = []

    def peer():
        ctx = key_update_client_context(certs, messages)
        with socket.create_connection(("127.0.0.1", port.getHost().port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(b"before")
            echoes.append(recv_exactly(sock, 6))
            assert sock.version() == "TLSv1.3"
            assert KEY_UPDATE not in messages
            for round in range(3):
                request_key_update(sock)
                sock.sendall(b"after %d" % round)
                echoes.append(recv_exactly(sock, 7))
                # The server's KeyUpdate came before its answer (which, under the server's new
                # keys, could not have been decrypted otherwise).
                assert messages.count(KEY_UPDATE) == round + 1, messages
            sock.sendall(b"last")
            echoes.append(recv_exactly(sock, 4))

    run_peer(reactor, spin, peer)
    assert echoes == [b"BEFORE", b"AFTER 0", b"AFTER 1", b"AFTER 2", b"LAST"]
    spin(reactor, lost(sf))
    server = sf.protocols[0]
    assert server.path == tls_path
    assert server.received == b"beforeafter 0after 1after 2last"
    port.stopListening()


@needs_key_update
def test_key_update_while_the_servers_socket_is_full(reactor, certs, spin, tls_path):
    blocker = Blocker(b"key updated", b"END")
    log = []
    sf, _ = factories(log, server_kw=dict(
        on_hs=lambda p: setattr(p, "path", p.transport.tlsPath),
        on_data=lambda p, d: (blocker.on_data(p, d),
                              p.received.endswith(b"again") and p.transport.write(b"FIN"))))
    port = reactor.listenSSL(0, sf, server_ctx(certs), interface="127.0.0.1")
    messages = []
    got = []

    def peer():
        ctx = key_update_client_context(certs, messages)
        with ctx.wrap_socket(peer_socket(("127.0.0.1", port.getHost().port)),
                             server_hostname="localhost") as sock:
            sock.sendall(b"go")
            assert blocker.full.wait(15), "the server's socket never filled"
            request_key_update(sock)
            sock.sendall(b"key updated")
            assert blocker.read.wait(15), "the server never read what followed the key update"
            got.append(recv_exactly(sock, PAYLOAD + 3))
            assert messages.count(KEY_UPDATE) == 1, messages
            sock.sendall(b" again")
            got.append(recv_exactly(sock, 3))

    run_peer(reactor, spin, peer)
    assert_same(got[0], blocker.payload + b"END")
    assert got[1] == b"FIN"
    spin(reactor, lost(sf))
    server = sf.protocols[0]
    assert server.path == tls_path
    assert server.received == b"gokey updated again"
    port.stopListening()


# ---- post-handshake client authentication (the native end is the client) -----------------------

def pha_server(certs):
    """A listening socket and a TLS 1.3 server context that asks for client certificates only
    after the handshake (verify_client_post_handshake), verified against the test CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*certs.server)
    ctx.load_verify_locations(certs.ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.post_handshake_auth = True
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(20)
    return listener, ctx


def pha_client_context(certs):
    ctx = client_ctx(certs)
    ctx.load_cert_chain(*certs.server)     # any certificate the test CA signed will do
    ctx.post_handshake_auth = True
    return ctx


def test_post_handshake_certificate_request_is_answered(reactor, certs, spin, tls_path):
    listener, sctx = pha_server(certs)
    log = []
    _, cf = factories(log, client_kw=dict(
        on_hs=lambda p: setattr(p, "path", p.transport.tlsPath),
        on_data=lambda p, d: p.transport.write(b"echo:" + d)))
    seen = {}

    def peer():
        raw, _ = listener.accept()
        raw.settimeout(20)
        with sctx.wrap_socket(raw, server_side=True) as sock:
            seen["before"] = sock.getpeercert()
            sock.verify_client_post_handshake()
            sock.sendall(b"who are you?")
            assert recv_exactly(sock, 17) == b"echo:who are you?"
            seen["after"] = sock.getpeercert()
            sock.sendall(b"thanks")
            assert recv_exactly(sock, 11) == b"echo:thanks"

    try:
        reactor.connectSSL("localhost", listener.getsockname()[1], cf, pha_client_context(certs))
        run_peer(reactor, spin, peer)
    finally:
        listener.close()
    assert seen["before"] is None        # no certificate asked for in the handshake
    assert dict(x[0] for x in seen["after"]["subject"])["commonName"] == "localhost"
    client = cf.protocols[0]
    assert client.path == tls_path
    assert client.received.startswith(b"who are you?thanks")


def test_post_handshake_certificate_request_while_the_clients_socket_is_full(reactor, certs, spin,
                                                                              tls_path):
    listener, sctx = pha_server(certs)
    blocker = Blocker(b"who are you?", b"END")
    log = []
    _, cf = factories(log, client_kw=dict(
        on_hs=lambda p: setattr(p, "path", p.transport.tlsPath), on_data=blocker.on_data))
    seen = {}

    def peer():
        raw, _ = listener.accept()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        raw.settimeout(20)
        with sctx.wrap_socket(raw, server_side=True) as sock:
            sock.sendall(b"go")
            assert blocker.full.wait(15), "the client's socket never filled"
            sock.verify_client_post_handshake()
            sock.sendall(b"who are you?")
            assert blocker.read.wait(15), "the client never read the certificate request"
            seen["data"] = recv_exactly(sock, PAYLOAD + 3)
            seen["cert"] = sock.getpeercert()
            sock.unwrap()

    try:
        reactor.connectSSL("localhost", listener.getsockname()[1], cf, pha_client_context(certs))
        run_peer(reactor, spin, peer)
    finally:
        listener.close()
    assert_same(seen["data"], blocker.payload + b"END")
    assert dict(x[0] for x in seen["cert"]["subject"])["commonName"] == "localhost"
    client = cf.protocols[0]
    assert client.path == tls_path
    spin(reactor, lost(cf))
    assert log[-1] == ("client", "lost", "ConnectionDone"), log[-3:]
