"""What connectTCP and connectSSL accept as the destination, on both faces and every poller (one
helper, fastreactor.tcp.connect_destination, checks it for both): a port given as a service name
is looked up as TCP's ("http" is 80), an unknown one is ServiceNameUnknownError with Twisted's
message; a bytes host is decoded; a host that is not text, and a port that is not a port, raise
at once. Twisted's EPollReactor is the oracle for the service-name error."""
import socket
import ssl

import pytest

import fastreactor
from fastreactor import protocol

UNKNOWN = "no-such-service-fastreactor"


def connect(reactor, how, host, port):
    """reactor.connectTCP, or connectSSL with a fresh client context of the reactor's face (an
    ssl.SSLContext natively; Twisted's CertificateOptions on the Twisted face, whose connectSSL
    is connectTCP under Twisted's TLS), to (host, port)."""
    factory = reactor_client_factory(reactor)
    if how == "connectTCP":
        return reactor.connectTCP(host, port, factory)
    if isinstance(reactor, fastreactor.Reactor):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    else:
        pytest.importorskip("OpenSSL", reason="Twisted's TLS needs pyOpenSSL (the test extra)")
        from twisted.internet import ssl as twisted_ssl
        context = twisted_ssl.CertificateOptions()
    return reactor.connectSSL(host, port, factory, context)


def reactor_client_factory(reactor):
    """A ClientFactory of the reactor's own face (the Twisted face checks for Twisted's)."""
    if isinstance(reactor, fastreactor.Reactor):
        factory = protocol.ClientFactory()
    else:
        from twisted.internet import protocol as twisted_protocol
        factory = twisted_protocol.ClientFactory()
    factory.noisy = False
    return factory


def twisted_face(poller):
    pytest.importorskip("twisted")
    from fastreactor.twisted import FastReactor
    return FastReactor(poller)


@pytest.fixture(params=["native", "twisted-face"])
def any_face(request, poller):
    """A fresh reactor of each face on `poller`, closed afterwards."""
    r = fastreactor.Reactor(poller) if request.param == "native" else twisted_face(poller)
    yield r
    r.close()


def requires_services():
    try:
        return socket.getservbyname("http", "tcp")
    except OSError:
        pytest.skip("this system's services database (/etc/services) has no `http`")


@pytest.mark.parametrize("how", ["connectTCP", "connectSSL"])
def test_a_service_name_is_looked_up(any_face, how):
    http = requires_services()
    connector = connect(any_face, how, "127.0.0.1", "http")
    try:
        assert connector.getDestination().port == http == 80
    finally:
        connector.stopConnecting()


@pytest.mark.parametrize("how", ["connectTCP", "connectSSL"])
def test_an_unknown_service_name_is_twisteds_error(any_face, how):
    """The message is Twisted's tcp.Connector's (its ssl.Connector's is the same one), compared
    with what Twisted's own Connector raises for the same name."""
    with pytest.raises(any_face._api.ServiceNameUnknownError) as info:
        connect(any_face, how, "127.0.0.1", UNKNOWN)
    assert repr(UNKNOWN) in str(info.value)
    pytest.importorskip("twisted")
    from twisted.internet import error as twisted_error
    from twisted.internet import tcp as twisted_tcp
    with pytest.raises(twisted_error.ServiceNameUnknownError) as twisted_info:
        twisted_tcp.Connector("127.0.0.1", UNKNOWN, None, 30, None, None)
    assert str(info.value) == str(twisted_info.value)


@pytest.mark.parametrize("how", ["connectTCP", "connectSSL"])
def test_a_bytes_host_is_decoded(any_face, how):
    connector = connect(any_face, how, b"127.0.0.1", 1)
    try:
        assert connector.getDestination().host == "127.0.0.1"
    finally:
        connector.stopConnecting()


@pytest.mark.parametrize("how", ["connectTCP", "connectSSL"])
@pytest.mark.parametrize("host,port,raised,words", [
    (None, 80, TypeError, "host must be a str, not NoneType"),
    (127, 80, TypeError, "host must be a str, not int"),
    ("127.0.0.1", True, TypeError, "port must be an int, not bool"),
    ("127.0.0.1", 70000, ValueError, "port must be in 0..65535, not 70000"),
    ("127.0.0.1", -1, ValueError, "port must be in 0..65535, not -1"),
])
def test_a_bad_destination_raises_at_once(any_face, how, host, port, raised, words):
    with pytest.raises(raised, match=words):
        connect(any_face, how, host, port)
