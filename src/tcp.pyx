# TCP: what a TCP connection has beyond any stream socket (TCP_NODELAY, keepalive). The per-message
# path is poll -> recv into a reused buffer -> bytes -> protocol.dataReceived -> write -> send, with
# no epoll_ctl unless the kernel refuses part of a write (see stream.pyx and sockets.pyx).


cdef class TCPConnection(SocketStream):
    """A connected TCP socket: Twisted's ITCPTransport (plus IProducer/IConsumer) on a raw fd.

    TCPConnection(loop, fd, family, peer=None): `fd` is a connected non-blocking AF_INET or
    AF_INET6 socket, owned by the transport from then on. Writing, closing and producers are the
    shared StreamTransport's; addresses and getHandle() are SocketStream's.
    """

    def setTcpNoDelay(self, enabled):
        """Turn Nagle's algorithm off (True) or on (False)."""
        self.set_option(IPPROTO_TCP, TCP_NODELAY, enabled)

    def getTcpNoDelay(self):
        return bool(self.get_option(IPPROTO_TCP, TCP_NODELAY))

    def setTcpKeepAlive(self, enabled):
        """Turn TCP keepalive probes on or off."""
        self.set_option(SOL_SOCKET, SO_KEEPALIVE, enabled)

    def getTcpKeepAlive(self):
        return bool(self.get_option(SOL_SOCKET, SO_KEEPALIVE))
