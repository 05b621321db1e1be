"""Both directions at once over many connections, each side a streaming producer.

argv: ROLE FACE ADDRESS PORT SIZE [CONNECTIONS] [SNDBUF]
- ROLE `server` listens on ADDRESS:PORT (0: any), emits `listening` with the port, and on the
  command `report` (indices) emits `report` with one entry per finished connection, once the
  connections of those indices have finished; on `status`, `status` with the state of every
  connection not yet ended.
- ROLE `client` opens CONNECTIONS connections (20 ms apart), emits `progress` every 10 s and
  `report` when all have ended.

Each connection carries SIZE bytes each way: the client first sends its index (4 bytes); then
each side sends the deterministic stream `payload(index, side)` through a push producer
(`registerProducer(self, True)`), one 16 KiB write per reactor turn while not paused, with the
socket's SO_SNDBUF lowered to SNDBUF and the transport's `bufferSize` to one chunk, so that the
transport's own buffer fills and pauses the producer on a slow path.
Each side hashes what it receives and reports whether it is the start of the peer's stream (intact
and in order) and all of it, and how often its producer was paused and resumed. Once a side has
received everything, sent everything and is not paused it unregisters its producer, and the
client closes.
"""
import hashlib
import random
import socket
import struct
import sys
import time

from peerlib import Face, connect, emit, guarded, listen, on_commands, reason_name, tcp_transport

ROLE, FACE, ADDRESS, PORT, SIZE = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
CONNECTIONS = int(sys.argv[6]) if len(sys.argv) > 6 else 1
SNDBUF = int(sys.argv[7]) if len(sys.argv) > 7 else 4096
CHUNK = 16384
T0 = time.monotonic()
STAGGER = 0.02  # seconds between two connection attempts of the client

face = Face(FACE)
reactor = face.reactor


def payload(index, side):
    """The SIZE bytes that `side` sends on connection `index`."""
    return random.Random("%d-%s" % (index, side)).randbytes(SIZE)


class Streamer(face.protocol.Protocol):
    side = None          # "client" or "server": what this end sends
    index = None

    def connectionMade(self):
        live.append(self)
        self.made_at = time.monotonic() - T0
        self.paused = False
        self.pauses = self.resumes = self.double_pauses = self.double_resumes = 0
        self.sent = 0
        self.received = 0
        self.hasher = hashlib.sha256()
        self.header = b""
        self.closing = False
        self.ended = False
        self.data = None
        self.max_buffered = 0
        self.buffered_now = getattr(tcp_transport(self.transport), "getWriteBufferSize", None)
        tcp = tcp_transport(self.transport)
        sock = tcp.getHandle()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
        # This machine defaults to BBR, whose bandwidth estimate collapses to a few kbit/s on some
        # of these small-buffered lossy flows (the last connections then crawl for minutes in the
        # kernel, pacing_rate ~5 kbit/s in `ss -ti`); cubic, Linux's usual default, does not.
        # (The per-namespace sysctl is refused in a child namespace; the socket option is not.)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
        tcp.bufferSize = CHUNK   # Twisted's FileDescriptor attribute: pause above it
        self.transport.registerProducer(self, True)
        if self.side == "client":
            self.transport.write(struct.pack("!I", self.index))
            self.start()

    def start(self):
        self.data = payload(self.index, self.side)
        reactor.callLater(0, self.pump)

    @guarded
    def pump(self):
        if self.paused or self.sent >= SIZE or not self.transport.connected:
            return
        self.transport.write(self.data[self.sent:self.sent + CHUNK])
        self.sent = min(SIZE, self.sent + CHUNK)
        if self.buffered_now is not None:
            self.max_buffered = max(self.max_buffered, self.buffered_now())
        if self.sent < SIZE:
            reactor.callLater(0, self.pump)
        else:
            self.maybe_close()

    def pauseProducing(self):
        if self.paused:
            self.double_pauses += 1
        self.paused = True
        self.pauses += 1

    def resumeProducing(self):
        if not self.paused:
            self.double_resumes += 1
        self.paused = False
        self.resumes += 1
        if self.sent < SIZE:
            reactor.callLater(0, self.pump)
        else:
            self.maybe_close()

    def stopProducing(self):
        pass

    def dataReceived(self, data):
        if self.index is None:
            self.header += data
            if len(self.header) < 4:
                return
            self.index = struct.unpack("!I", self.header[:4])[0]
            data = self.header[4:]
            self.start()
        self.received += len(data)
        self.hasher.update(data)
        self.maybe_close()

    def maybe_close(self):
        # Done both ways and not paused: unregister (Twisted's TLS transport shuts down only once
        # no producer is registered), and the client closes.
        if (not self.closing and self.received >= SIZE and self.sent >= SIZE
                and not self.paused):
            self.closing = True
            self.transport.unregisterProducer()
            if self.side == "client":
                self.transport.loseConnection()

    def status(self):
        """Where this connection is (for a test that waits on it in vain)."""
        size = getattr(tcp_transport(self.transport), "getWriteBufferSize", None)
        return {"index": self.index, "sent": self.sent, "received": self.received,
                "paused": self.paused, "pauses": self.pauses, "resumes": self.resumes,
                "closing": self.closing, "buffered": size() if size else None,
                "disconnecting": getattr(self.transport, "disconnecting", None),
                "transport": repr(self.transport)}

    def connectionLost(self, reason):
        self.ended = True
        peer = "server" if self.side == "client" else "client"
        # What arrived is the start of the peer's stream, intact and in order (all of it if ok).
        if self.index is None:
            intact = self.received == 0
        else:
            intact = self.hasher.hexdigest() == hashlib.sha256(
                payload(self.index, peer)[:self.received]).hexdigest()
        ok = intact and self.received == SIZE
        results.append({"index": self.index, "ok": ok, "intact": intact,
                        "received": self.received,
                        "sent": self.sent, "reason": reason_name(reason), "message": reason.getErrorMessage(),
                        "pauses": self.pauses, "resumes": self.resumes,
                        "double_pauses": self.double_pauses,
                        "double_resumes": self.double_resumes,
                        "max_buffered": self.max_buffered,
                        "made_at": round(self.made_at, 3),
                        "lost_at": round(time.monotonic() - T0, 3)})
        if self.side == "client" and len(results) == CONNECTIONS:
            emit("report", connections=results)
        maybe_report()


def maybe_report():
    """The server's report, once the test asked for it and the connections it named have ended
    (the last FINs may still be crossing the slow link when the client is done)."""
    if wanted and wanted[0] <= {r["index"] for r in results}:
        emit("report", connections=results)
        del wanted[:]


results = []
live = []      # every connection made (for progress reports)
wanted = []


class ServerFactory(face.protocol.Factory):
    noisy = False

    def buildProtocol(self, addr):
        p = Streamer()
        p.side = "server"
        p.factory = self
        return p


class ClientFactory(face.protocol.ClientFactory):
    noisy = False

    def __init__(self, index):
        self.index = index

    def buildProtocol(self, addr):
        p = Streamer()
        p.side = "client"
        p.index = self.index
        p.factory = self
        return p

    def clientConnectionFailed(self, connector, reason):
        emit("error", error="connection %d failed: %s" % (self.index, reason))


def server():
    port = listen(face, PORT, ServerFactory(), backlog=1024, interface=ADDRESS)

    def command(cmd):
        if cmd["cmd"] == "report":
            wanted[:] = [set(cmd["indices"])]     # replaces an earlier request
            maybe_report()
        elif cmd["cmd"] == "status":
            emit("status", open=[p.status() for p in live if not p.ended])

    on_commands(face, command)
    emit("listening", port=port.getHost().port)


def progress():
    """Every 10 s: bytes received and sent so far by all connections, and how many ended."""
    emit("progress", t=round(time.monotonic() - T0, 1), ended=len(results),
         received=sum(p.received for p in live), sent=sum(p.sent for p in live))
    reactor.callLater(10, progress)


def client():
    reactor.callLater(10, progress)
    # Staggered: a burst of 100 handshakes into a small dropping queue loses whole handshakes,
    # and the kernel then aborts a few connections on its own (ETIMEDOUT), on any reactor.
    for i in range(CONNECTIONS):
        reactor.callLater(i * STAGGER, connect, face, ADDRESS, PORT, ClientFactory(i), timeout=30)


reactor.callWhenRunning(guarded(server if ROLE == "server" else client))
face.run()
