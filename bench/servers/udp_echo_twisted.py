"""UDP echo server on Twisted's epoll reactor, with a genuine twisted DatagramProtocol."""
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
    """Run the echo DatagramProtocol on whatever reactor is installed (shared with the
    fastreactor.twisted server)."""

    class Echo(protocol.DatagramProtocol):
        noisy = False

        def datagramReceived(self, data, addr):
            self.transport.write(data, addr)

    port = reactor.listenUDP(serverlib.port_argument(), Echo(), interface=serverlib.HOST)
    serverlib.announce(port.getHost().port)
    reactor.run(installSignalHandlers=False)


if __name__ == "__main__":
    main()
