# TCP: what a TCP connection has beyond any stream socket (TCP_NODELAY, keepalive, TLS). The
# per-message path is poll -> recv into a reused buffer -> bytes -> protocol.dataReceived -> write
# -> send, with no epoll_ctl unless the kernel refuses part of a write (see stream.pyx and
# sockets.pyx). A connection carrying TLS has a TLSLayer (tls.pyx) in `tls`; each raw I/O method
# below tests that one field and, for plain TCP, is SocketStream's.
import ssl as _ssl_module


cdef class TCPConnection(SocketStream):
    """A connected TCP socket: Twisted's ITCPTransport (plus IProducer/IConsumer) on a raw fd,
    which can carry TLS (`startTLS`, or set up by listenSSL/connectSSL before the protocol is
    attached).

    TCPConnection(loop, fd, family, peer=None): `fd` is a connected non-blocking AF_INET or
    AF_INET6 socket, owned by the transport from then on. Writing, closing and producers are the
    shared StreamTransport's; addresses and getHandle() are SocketStream's.

    With TLS, the lifecycle is Twisted's TLSMemoryBIOProtocol's: connectionMade runs when the TCP
    connection is made and the handshake starts right after it; writes made before the handshake
    completes are queued and sent, in order, once it has; `handshakeCompleted()` is called on the
    protocol (if it has one) when the handshake finishes. loseConnection sends what is queued,
    then a TLS close_notify, then closes (before the handshake completed with nothing queued it
    aborts, as Twisted does). As in Twisted's TLS, what is written after loseConnection is dropped
    unless a producer is registered: then writes go on, and the close waits, until
    unregisterProducer (even for a push producer that is not paused; plain TCP closes once its
    queue is empty then, and sends writes made after loseConnection). Twisted gathers small TLS
    writes and sends them on the next reactor iteration, checking only then whether the
    connection is closing, so it also drops what was written just before an unregisterProducer
    that ends the stream in the same iteration; fastreactor decides when write() is called and
    sends those bytes. Once its close_notify is out, as Twisted's TLS does, the connection stays
    open and reading until the peer's close_notify answers: data the peer still sends meanwhile reaches
    dataReceived, its close_notify ends the connection with ConnectionDone, a TCP close without
    it (or an error) with ConnectionLost. Reading goes on after loseConnection even if the
    protocol had paused it, so that the answer is seen. There is no close timeout (as in
    Twisted): a peer that never answers and never closes keeps the connection open; use
    abortConnection (immediate, sends nothing more) to end it. loseWriteConnection sends
    close_notify and then shuts the TCP write side. A handshake, certificate or record error ends
    the connection with the ssl.SSLError as connectionLost's reason (an EOF that truncates the TLS
    stream is ConnectionLost, as in Twisted); the handshake must finish within its timeout
    (listenSSL/connectSSL's `handshakeTimeout`, for startTLS the reactor's
    `tlsHandshakeTimeout`, default 30 seconds) or the connection is aborted with a TimeoutError.
    A peer's close_notify is an EOF: readConnectionLost for a half-closeable protocol, else the
    connection closes with ConnectionDone once what is queued and our own close_notify are sent
    (as Twisted's TLS answers it). As in Twisted, an aborted TLS connection reports
    ConnectionLost to its protocol (the TLS stream ended uncleanly) and ConnectionAborted to its
    connector. The TLS state and buffers are released when the connection ends.
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

    # ---- raw I/O: the socket's, or the TLS layer's ---------------------------------------------

    cdef object read_some(self, ssize_t *count):
        if self.tls is None:
            return SocketStream.read_some(self, count)
        return self.tls.read_some(self, count)

    cdef ssize_t send_some(self, iovec *vec, int count) except -2:
        if self.tls is None:
            return SocketStream.send_some(self, vec, count)
        return self.tls.send_some(self, vec, count)

    cdef object on_writable(self):
        if self.tls is None or self.aborting or self.fd < 0:
            return SocketStream.on_writable(self)
        return self.tls.on_writable(self)

    cdef int writable_done(self) except -1:
        if self.tls is None:
            return SocketStream.writable_done(self)
        return self.tls.writable_done(self)

    cdef int close_descriptor(self, bint abortive) except -1:
        if self.tls is not None:
            self.tls.close_descriptor(self, abortive)
        return SocketStream.close_descriptor(self, abortive)

    cdef int lose(self, object reason) except -1:
        if self.tls is None:
            return SocketStream.lose(self, reason)
        return self.tls.lose(self, reason)

    def _attach(self, protocol):
        SocketStream._attach(self, protocol)
        if self.tls is not None and not self.tls.handshake_started:
            self.tls.start_handshake(self)

    def loseConnection(self):
        """Close once everything queued is sent (with TLS, see the class docstring)."""
        if self.tls is not None and self.tls.lose_aborts(self):
            self.abortConnection()
            return
        closing = self.disconnecting
        SocketStream.loseConnection(self)
        if self.tls is not None and not closing and not self.tls.close_notify_received:
            # Unlike a plain socket, a TLS connection goes on reading: the queued data may wait
            # for the handshake, and the close waits for the peer's close_notify (tls.pyx).
            self.start_reading()

    # ---- starting TLS --------------------------------------------------------------------------

    def _useTLS(self, sslobject, incoming, outgoing, bint client, bint start=True,
                double handshakeTimeout=30.0):
        """Carry TLS from now on with `sslobject`, an ssl.SSLObject made by
        `SSLContext.wrap_bio(incoming, outgoing, ...)` over the two ssl.MemoryBIOs given (the
        engine layer for faces that build their own SSLObject). Bytes queued before this call are
        sent in clear first. `start`: begin the handshake now (else when the protocol is
        attached). `handshakeTimeout`: seconds the handshake may take (0: no limit).
        RuntimeError if TLS is already on or the connection is closed."""
        cdef TLSLayer layer
        if self.disconnected:
            raise RuntimeError("the connection is closed")
        if self.tls is not None:
            raise RuntimeError("TLS is already started on %r" % (self,))
        layer = TLSLayer(sslobject, incoming, outgoing, client, handshakeTimeout)
        self.tls = layer
        self.closing_drops_writes = True
        if self.write_pending:
            # Written before TLS started: goes out in clear, before any record.
            clear = b"".join(self.write_chunks[self.write_head:])[self.write_offset:]
            self.release_queue()
            layer.out_pending = clear
            layer.out_offset = 0
            layer.want_writable(self)
        if start:
            layer.start_handshake(self)

    def _prepareTLS(self, context, bint client, serverHostname=None, double handshakeTimeout=30.0):
        """Set up TLS with `context` (an ssl.SSLContext) before the protocol is attached; the
        handshake starts right after connectionMade (or at _startHandshake()) and must finish
        within `handshakeTimeout` seconds (0: no limit). `serverHostname` (a client's) is sent as
        SNI and checked against the server's certificate if the context checks host names;
        ValueError if it does and none is given."""
        if client and not serverHostname and context.check_hostname:
            # wrap_bio would accept this and then check no name at all.
            raise ValueError("this context checks the server's host name: give serverHostname")
        incoming = _ssl_module.MemoryBIO()
        outgoing = _ssl_module.MemoryBIO()
        sslobject = context.wrap_bio(incoming, outgoing, server_side=not client,
                                     server_hostname=serverHostname or None)
        self._useTLS(sslobject, incoming, outgoing, client, False, handshakeTimeout)

    def _startHandshake(self):
        """Begin the TLS handshake now (no-op without TLS or once begun)."""
        if self.tls is not None:
            self.tls.start_handshake(self)

    def startTLS(self, contextFactory, normal=True, serverHostname=None):
        """Switch this live connection to TLS with `contextFactory` (an ssl.SSLContext): bytes
        written before go out in clear, bytes written after encrypted, once the handshake is done.
        This end is the TLS client if it made the connection (connectTCP) and `normal` is true,
        else the server (`normal=False` swaps the roles, as in Twisted). A client gives the name
        to check the server's certificate against as `serverHostname` (ValueError from the
        context if it checks host names and none is given). The handshake timeout is the
        reactor's `tlsHandshakeTimeout` (30 seconds if it has none)."""
        if not isinstance(contextFactory, _ssl_module.SSLContext):
            raise TypeError("startTLS needs an ssl.SSLContext, not %s" % (type(contextFactory).__name__,))
        client = (self.connector is not None) == bool(normal)
        timeout = getattr(self.loop, "tlsHandshakeTimeout", 30.0)
        self._prepareTLS(contextFactory, client, serverHostname if client else None,
                         30.0 if timeout is None else timeout)
        self.tls.start_handshake(self)

    # ---- what a TLS transport tells ------------------------------------------------------------

    @property
    def TLS(self):
        """True once TLS is on (Twisted's transport.TLS)."""
        return self.tls is not None

    @property
    def tlsPath(self):
        """Which record path this connection's TLS runs on while it is open: "direct" (OpenSSL
        called directly on the socket) or "memorybio" (the ssl.MemoryBIO fallback); None
        without TLS or once the connection has ended."""
        if self.tls is None or self.tls.tls_object is None:
            return None
        return "direct" if self.tls.direct else "memorybio"

    @property
    def tls_object(self):
        """The ssl.SSLObject while TLS is on and the connection is open, else None."""
        return self.tls.tls_object if self.tls is not None else None

    def getPeerCertificate(self, binary_form=False):
        """The peer's certificate as ssl.SSLObject.getpeercert gives it (a dict, {} if it was not
        verified; DER bytes with `binary_form`), or None before the handshake or after the
        connection ended, or without TLS."""
        if self.tls is None or self.tls.tls_object is None or not self.tls.handshake_done:
            return None
        return self.tls.tls_object.getpeercert(binary_form)

    @property
    def negotiatedProtocol(self):
        """The ALPN protocol agreed on, as bytes, or None."""
        if self.tls is None or self.tls.tls_object is None or not self.tls.handshake_done:
            return None
        chosen = self.tls.tls_object.selected_alpn_protocol()
        return chosen.encode("ascii") if chosen is not None else None

    def getTLSInfo(self):
        """(TLS version, cipher name) once the handshake is done, else None."""
        if self.tls is None or self.tls.tls_object is None or not self.tls.handshake_done:
            return None
        return (self.tls.tls_object.version(), self.tls.tls_object.cipher()[0])
