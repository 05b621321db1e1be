"""TLS echo server for bench/tls_bench.py: python tls_echo.py IMPL CERT KEY [PORT].

IMPL is fastreactor (native listenSSL with an ssl.SSLContext; fastreactor-memorybio: the same on
its ssl.MemoryBIO fallback path), asyncio or uvloop
(`create_server(ssl=...)`), aiofastnet (its create_server on uvloop), or twisted (Twisted's epoll reactor, listenSSL with
CertificateOptions). Every server echoes in dataReceived/data_received with transport.write,
sets TCP_NODELAY, and prints the serverlib hand-shake line.
"""
import os
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverlib  # noqa: E402


def stdlib_context(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def run_fastreactor(cert, key, port):
    try:
        from fastreactor import Reactor, protocol
        from fastreactor import ssl as fssl
    except Exception as e:  # noqa: BLE001
        serverlib.unavailable("import fastreactor failed: %r" % e)

    class Echo(protocol.Protocol):
        def connectionMade(self):
            self.transport.setTcpNoDelay(True)

        def dataReceived(self, data):
            self.transport.write(data)

    reactor = Reactor()
    if not hasattr(reactor, "listenSSL"):
        serverlib.unavailable("this fastreactor has no listenSSL")
    listening = reactor.listenSSL(port, protocol.Factory.forProtocol(Echo), fssl.serverContext(cert, key),
                                  backlog=serverlib.BACKLOG, interface=serverlib.HOST)
    serverlib.announce(listening.getHost().port)
    reactor.run()


def run_asyncio(cert, key, port, use_uvloop, use_aiofastnet=False):
    import asyncio
    create_server = None
    if use_aiofastnet:
        try:
            import aiofastnet
        except Exception as e:  # noqa: BLE001
            serverlib.unavailable("import aiofastnet failed: %r" % e)
    if use_uvloop:
        try:
            import uvloop
        except Exception as e:  # noqa: BLE001
            serverlib.unavailable("import uvloop failed: %r" % e)
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            sock = transport.get_extra_info("socket")
            if sock is not None:
                import socket
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def data_received(self, data):
            self.transport.write(data)

    if use_aiofastnet:
        create_server = aiofastnet.create_server(loop, Echo, serverlib.HOST, port,
                                                 ssl=stdlib_context(cert, key), backlog=serverlib.BACKLOG)
    else:
        create_server = loop.create_server(Echo, serverlib.HOST, port, ssl=stdlib_context(cert, key),
                                           backlog=serverlib.BACKLOG)
    server = loop.run_until_complete(create_server)
    serverlib.announce(server.sockets[0].getsockname()[1])
    loop.run_forever()


def run_twisted(cert, key, port, on_fastreactor=False):
    """A Twisted TLS echo server (listenSSL with Twisted's CertificateOptions) on Twisted's epoll
    reactor, or on FastReactor (the Twisted face: Twisted's TLS layer over the compiled TCP)."""
    try:
        if on_fastreactor:
            from fastreactor.twisted import install
        else:
            from twisted.internet.epollreactor import install
        install()
        from twisted.internet import protocol, reactor
        from twisted.internet import ssl as tssl
    except Exception as e:  # noqa: BLE001
        serverlib.unavailable("Twisted with TLS is not importable: %r" % e)

    class Echo(protocol.Protocol):
        def connectionMade(self):
            self.transport.setTcpNoDelay(True)

        def dataReceived(self, data):
            self.transport.write(data)

    with open(cert, "rb") as c, open(key, "rb") as k:
        options = tssl.PrivateCertificate.loadPEM(c.read() + k.read()).options()
    listening = reactor.listenSSL(port, protocol.Factory.forProtocol(Echo), options,
                                  backlog=serverlib.BACKLOG, interface=serverlib.HOST)
    serverlib.announce(listening.getHost().port)
    reactor.run()


def main():
    impl, cert, key = sys.argv[1:4]
    port = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    serverlib.raise_nofile()
    if impl == "fastreactor":
        run_fastreactor(cert, key, port)
    elif impl == "fastreactor-memorybio":
        # The same build on its fallback record path (ssl.MemoryBIO), for comparison.
        from fastreactor import _core
        _core.set_tls_direct(False)
        run_fastreactor(cert, key, port)
    elif impl in ("asyncio", "uvloop"):
        run_asyncio(cert, key, port, impl == "uvloop")
    elif impl == "aiofastnet":
        run_asyncio(cert, key, port, True, True)     # aiofastnet on uvloop
    elif impl == "twisted":
        run_twisted(cert, key, port)
    elif impl == "fastreactor-twisted":
        run_twisted(cert, key, port, on_fastreactor=True)
    else:
        serverlib.unavailable("unknown implementation %r" % impl)


if __name__ == "__main__":
    main()
