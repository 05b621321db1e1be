"""Real Twisted programs on FastReactor: twisted.web serving HTTP, twisted.web.proxy relaying, a
LineReceiver chat server with several clients, a plain Protocol echo. Clients are independent
(http.client / raw sockets in a thread) or Twisted's own, on the same reactor."""
import http.client
import socket

import pytest

pytest.importorskip("twisted")

from twisted.internet import protocol  # noqa: E402
from twisted.protocols import basic  # noqa: E402
from twisted.web import proxy, resource, server  # noqa: E402

import fastreactor  # noqa: E402
from fast_twisted import fast_twisted_reactor  # noqa: E402

from threaded_client import run_with_client  # noqa: E402


@pytest.fixture(params=fastreactor.available_pollers())
def reactor(request):
    with fast_twisted_reactor(request.param) as r:
        yield r


class Hello(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/plain")
        return b"hello " + request.path

    def render_POST(self, request):
        return b"got " + request.content.read()


def test_web_site_answers_http_requests(reactor):
    port = reactor.listenTCP(0, server.Site(Hello()), interface="127.0.0.1")
    number = port.getHost().port

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", number, timeout=5)
        answers = []
        for path in ("/a", "/b/c"):     # two requests on one keep-alive connection
            conn.request("GET", path)
            response = conn.getresponse()
            answers.append((response.status, response.getheader("content-type"), response.read()))
        conn.request("POST", "/x", body=b"x" * 100000)
        response = conn.getresponse()
        answers.append((response.status, len(response.read())))
        conn.close()
        return answers

    answers = run_with_client(reactor, client)
    assert answers[0] == (200, "text/plain", b"hello /a")
    assert answers[1] == (200, "text/plain", b"hello /b/c")
    assert answers[2] == (200, len(b"got ") + 100000)


def test_web_proxy_relays_to_a_local_server(reactor):
    backend = reactor.listenTCP(0, server.Site(Hello()), interface="127.0.0.1")
    reverse = proxy.ReverseProxyResource("127.0.0.1", backend.getHost().port, b"/up", reactor=reactor)
    front = reactor.listenTCP(0, server.Site(reverse), interface="127.0.0.1")
    forward = reactor.listenTCP(0, http_proxy_factory(reactor), interface="127.0.0.1")

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", front.getHost().port, timeout=5)
        conn.request("GET", "/there")
        reverse = conn.getresponse()
        reverse_answer = (reverse.status, reverse.read())
        conn.close()
        # A forward proxy: the request line names the absolute URL of the backend.
        conn = http.client.HTTPConnection("127.0.0.1", forward.getHost().port, timeout=5)
        conn.request("GET", "http://127.0.0.1:%d/direct" % backend.getHost().port)
        relayed = conn.getresponse()
        forward_answer = (relayed.status, relayed.read())
        conn.close()
        return reverse_answer, forward_answer

    reverse_answer, forward_answer = run_with_client(reactor, client)
    assert reverse_answer == (200, b"hello /up/there")
    assert forward_answer == (200, b"hello /direct")


def http_proxy_factory(reactor):
    """twisted.web.proxy.Proxy (the forward proxy) served by an HTTPFactory; its requests connect
    out through `reactor` (ProxyRequest's default is the global reactor)."""
    from twisted.web.http import HTTPFactory

    class Request(proxy.ProxyRequest):
        def __init__(self, channel, queued=None):
            proxy.ProxyRequest.__init__(self, channel, reactor=reactor)

    class Proxy(proxy.Proxy):
        requestFactory = Request

    factory = HTTPFactory()
    factory.protocol = Proxy
    return factory


class Chat(basic.LineReceiver):
    """Each line a client sends goes to every other client as 'name: line'."""

    delimiter = b"\n"

    def connectionMade(self):
        self.name = None
        self.factory.clients.append(self)

    def connectionLost(self, reason):
        self.factory.clients.remove(self)

    def lineReceived(self, line):
        if self.name is None:
            self.name = line
            self.sendLine(b"welcome " + line)
            return
        for other in self.factory.clients:
            if other is not self:
                other.sendLine(self.name + b": " + line)


def test_line_receiver_chat_with_several_clients(reactor):
    factory = protocol.ServerFactory.forProtocol(Chat)
    factory.clients = []
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    number = port.getHost().port
    names = [b"ann", b"bob", b"cid", b"dee"]

    def client():
        socks = []
        for name in names:
            s = socket.create_connection(("127.0.0.1", number), timeout=5)
            s.sendall(name + b"\n")
            assert read_lines(s, 1) == [b"welcome " + name]
            socks.append(s)
        for s, name in zip(socks, names):
            s.sendall(b"hi from " + name + b"\n")
        heard = {name: sorted(read_lines(s, len(names) - 1)) for s, name in zip(socks, names)}
        for s in socks:
            s.close()
        return heard

    heard = run_with_client(reactor, client)
    for name in names:
        assert heard[name] == sorted(other + b": hi from " + other for other in names if other != name)


def read_lines(sock, count):
    data = b""
    while data.count(b"\n") < count:
        chunk = sock.recv(65536)
        assert chunk, "connection closed early"
        data += chunk
    return data.split(b"\n")[:count]


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


def test_protocol_echo_with_twisted_clients(reactor):
    """A genuine twisted.internet.protocol.Protocol echo server, with Twisted clients on the same
    reactor (connectTCP by host name, through the reactor's resolver)."""
    port = reactor.listenTCP(0, protocol.ServerFactory.forProtocol(Echo), interface="127.0.0.1")
    received = []   # one entry per client (not keyed by id(): a freed client's id is reused)
    message = b"x" * 1024

    class Client(protocol.Protocol):
        def connectionMade(self):
            self.buffer = b""
            self.transport.write(message * 64)

        def dataReceived(self, data):
            self.buffer += data
            if len(self.buffer) == len(message) * 64:
                received.append(self.buffer)
                self.transport.loseConnection()
                if len(received) == 10:
                    reactor.stop()

    for i in range(10):
        host = "localhost" if i % 2 else "127.0.0.1"
        reactor.connectTCP(host, port.getHost().port, protocol.ClientFactory.forProtocol(Client))
    reactor.callLater(10, reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert len(received) == 10
    assert all(value == message * 64 for value in received)
