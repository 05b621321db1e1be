"""UDP echo server on fastreactor's native API (listenUDP, fastreactor.protocol.DatagramProtocol)."""
import serverlib


def main():
    try:
        from fastreactor import Reactor, protocol
    except Exception as e:  # noqa: BLE001
        serverlib.unavailable("import fastreactor failed: %r" % e)

    class Echo(protocol.DatagramProtocol):
        noisy = False

        def datagramReceived(self, data, addr):
            self.transport.write(data, addr)

    reactor = Reactor()
    port = reactor.listenUDP(serverlib.port_argument(), Echo(), interface=serverlib.HOST)
    serverlib.announce(port.getHost().port)
    reactor.run()


if __name__ == "__main__":
    main()
