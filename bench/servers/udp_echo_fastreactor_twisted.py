"""UDP echo server: a genuine Twisted DatagramProtocol hosted by fastreactor.twisted."""
import serverlib
from udp_echo_twisted import serve_twisted


def main():
    try:
        import fastreactor.twisted

        fastreactor.twisted.install()
        from twisted.internet import protocol, reactor
    except Exception as e:  # noqa: BLE001
        serverlib.unavailable("import fastreactor.twisted failed: %r" % e)
    serve_twisted(reactor, protocol)


if __name__ == "__main__":
    main()
