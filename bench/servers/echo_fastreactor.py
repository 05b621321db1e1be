"""Echo server on fastreactor's native API (fastreactor.Reactor, fastreactor.protocol)."""
import serverlib


def main():
    try:
        from fastreactor import Reactor, protocol
    except Exception as e:  # noqa: BLE001
        serverlib.unavailable("import fastreactor failed: %r" % e)

    class Echo(protocol.Protocol):
        def connectionMade(self):
            set_nodelay = getattr(self.transport, "setTcpNoDelay", None)
            if set_nodelay is not None:
                set_nodelay(True)

        def dataReceived(self, data):
            self.transport.write(data)

    serverlib.raise_nofile()
    unix = serverlib.unix_argument()
    try:
        reactor = Reactor()
        if unix is not None:
            port = reactor.listenUNIX(unix, protocol.Factory.forProtocol(Echo), backlog=serverlib.BACKLOG)
        else:
            port = reactor.listenTCP(
                serverlib.port_argument(), protocol.Factory.forProtocol(Echo),
                backlog=serverlib.BACKLOG, interface=serverlib.HOST,
            )
    except Exception as e:  # noqa: BLE001 - a core that is not finished yet
        serverlib.unavailable("fastreactor cannot listen: %r" % e)
    serverlib.announce(0 if unix is not None else port.getHost().port)
    reactor.run()


if __name__ == "__main__":
    main()
