"""UDP echo server on asyncio's default event loop (create_datagram_endpoint)."""
import serverlib


class Echo:
    """asyncio.DatagramProtocol echo: send each datagram back to its sender."""

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)

    def error_received(self, exc):
        pass

    def connection_lost(self, exc):
        pass


def serve(loop):
    """Bind on the loop, announce the port and run forever."""
    transport, _ = loop.run_until_complete(
        loop.create_datagram_endpoint(Echo, local_addr=(serverlib.HOST, serverlib.port_argument())))
    serverlib.announce(transport.get_extra_info("sockname")[1])
    loop.run_forever()


def main():
    import asyncio

    serve(asyncio.new_event_loop())


if __name__ == "__main__":
    main()
