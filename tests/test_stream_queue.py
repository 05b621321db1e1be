"""The shared stream transport's write queue: many small chunks against a slow reader arrive
intact and in order, and draining a long queue costs time linear in its length (the queue does
not shift its list once per partial send) — on every poller."""
import socket
import threading
import time

from fastreactor import protocol


def serve_chunks(reactor, spin, chunks, rcvbuf=4096):
    """Listen, have the accepted connection write every chunk of `chunks` at once then
    loseConnection, read it all from a client with a small receive buffer (so the kernel takes the
    queue in many partial sends); return (bytes received, CPU seconds the reactor's thread spent
    from the start of listening to the end)."""

    class Sender(protocol.Protocol):
        def connectionMade(self):
            write = self.transport.write
            for chunk in chunks:
                write(chunk)
            self.transport.loseConnection()

    cpu_start = time.thread_time()
    factory = protocol.Factory.forProtocol(Sender)
    factory.noisy = False
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    out = []

    def client():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.connect(("127.0.0.1", port.getHost().port))
        s.settimeout(30)
        got = []
        while True:
            data = s.recv(rcvbuf)
            if not data:
                break
            got.append(data)
        out.append(b"".join(got))
        s.close()

    t = threading.Thread(target=client)
    t.start()
    spin(reactor, lambda: out, timeout=60)
    t.join()
    port.stopListening()
    return out[0], time.thread_time() - cpu_start


def test_many_small_chunks_arrive_in_order(reactor, spin):
    chunks = [b"%07d," % i for i in range(100000)]
    data, _ = serve_chunks(reactor, spin, chunks)
    assert data == b"".join(chunks)


def test_draining_a_long_queue_is_linear(reactor, spin):
    """4x the chunks costs the reactor's thread well under the 16x CPU a queue shifted per send
    would (best of two runs each, so a busy machine's hiccup does not decide it)."""
    small = [b"x" * 8] * 150000
    large = [b"x" * 8] * 600000
    t_small = min(serve_chunks(reactor, spin, small)[1] for _ in range(2))
    t_large = min(serve_chunks(reactor, spin, large)[1] for _ in range(2))
    assert t_large < max(t_small, 0.01) * 9, (t_small, t_large)
