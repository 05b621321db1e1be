"""Echo server on asyncio's default (selector/epoll) event loop."""
import socket

import serverlib


class Echo:
    """asyncio.Protocol echo: write back whatever arrives."""

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if hasattr(transport, "max_size"):  # selector transport: read 64 KiB, like the others
            transport.max_size = serverlib.READ_SIZE

    def data_received(self, data):
        self.transport.write(data)

    def connection_lost(self, exc):
        pass

    def eof_received(self):
        return False


def serve(loop):
    """Listen on the loop, announce the port and run forever."""
    unix = serverlib.unix_argument()
    if unix is not None:
        loop.run_until_complete(loop.create_unix_server(Echo, unix, backlog=serverlib.BACKLOG))
        serverlib.announce(0)
        loop.run_forever()
        return
    server = loop.run_until_complete(
        loop.create_server(Echo, serverlib.HOST, serverlib.port_argument(), backlog=serverlib.BACKLOG)
    )
    serverlib.announce(server.sockets[0].getsockname()[1])
    loop.run_forever()


def main():
    import asyncio

    serverlib.raise_nofile()
    serve(asyncio.new_event_loop())


if __name__ == "__main__":
    main()
