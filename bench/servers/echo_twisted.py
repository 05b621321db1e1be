"""Echo server on Twisted's epoll reactor, with a genuine twisted.internet.protocol.Protocol."""
import serverlib


def main():
    try:
        from twisted.internet import epollreactor

        epollreactor.install()
        from twisted.internet import protocol, reactor
    except Exception as e:  # noqa: BLE001
        serverlib.unavailable("Twisted epoll reactor not importable: %r" % e)
    serve_twisted(reactor, protocol)


def serve_twisted(reactor, protocol):
    """Run Twisted's echo protocol on whatever reactor is installed (shared with the fastreactor.twisted server)."""

    class Echo(protocol.Protocol):
        def connectionMade(self):
            self.transport.setTcpNoDelay(True)

        def dataReceived(self, data):
            self.transport.write(data)

    serverlib.raise_nofile()
    unix = serverlib.unix_argument()
    if unix is not None:
        reactor.listenUNIX(unix, protocol.Factory.forProtocol(Echo), backlog=serverlib.BACKLOG)
        serverlib.announce(0)
        reactor.run(installSignalHandlers=False)
        return
    port = reactor.listenTCP(
        serverlib.port_argument(), protocol.Factory.forProtocol(Echo),
        backlog=serverlib.BACKLOG, interface=serverlib.HOST,
    )
    serverlib.announce(port.getHost().port)
    reactor.run(installSignalHandlers=False)


if __name__ == "__main__":
    main()
