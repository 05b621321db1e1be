"""A server that writes as fast as its transport lets it, to clients that may never read: argv
FACE ADDRESS (an IP address, port 0; or a path: a UNIX socket). Each connection registers itself
as a streaming producer and writes 64 KiB per reactor turn while not paused, and discards what it
receives. Emits `listening` (port or path, descriptors open), and `lost` (reason, message,
bytes written) when a connection ends. On `stats`, `stats` for the newest connection: bytes
written, paused or not, pauses and resumes, the transport's buffered bytes (where the transport
tells), connected or not; and for the process: RSS, open descriptors, and how many connections'
protocols and transports are still alive (counted with the cyclic garbage collector off: a
connection that ended must be freed by reference counting alone)."""
import gc
import sys
import weakref

from peerlib import (Face, emit, fd_count, guarded, listen, listening_at, on_commands,
                     reason_name, rss_kib, tcp_transport)

face = Face(sys.argv[1])
ADDRESS = sys.argv[2]
reactor = face.reactor
CHUNK = b"f" * 65536
latest = []
alive = []     # weak references to every connection's protocol and transport


class Flood(face.protocol.Protocol):
    def connectionMade(self):
        self.written = 0
        self.paused = False
        self.pauses = self.resumes = 0
        latest[:] = [self]
        alive.extend([weakref.ref(self), weakref.ref(self.transport)])
        self.transport.registerProducer(self, True)
        reactor.callLater(0, self.pump)

    @guarded
    def pump(self):
        if self.paused or not self.transport.connected:
            return
        self.transport.write(CHUNK)
        self.written += len(CHUNK)
        reactor.callLater(0, self.pump)

    def pauseProducing(self):
        self.paused = True
        self.pauses += 1

    def resumeProducing(self):
        self.paused = False
        self.resumes += 1
        reactor.callLater(0, self.pump)

    def stopProducing(self):
        self.paused = True

    def connectionLost(self, reason):
        emit("lost", reason=reason_name(reason), message=reason.getErrorMessage(),
             written=self.written)


class Factory(face.protocol.Factory):
    noisy = False
    protocol = Flood


def command(cmd):
    if cmd["cmd"] == "stats":
        p = latest[0] if latest else None
        stats = {"rss_kib": rss_kib(), "fds": fd_count(),
                 "alive": sum(1 for ref in alive if ref() is not None)}
        if p is not None:
            size = getattr(tcp_transport(p.transport), "getWriteBufferSize", None)
            stats.update(written=p.written, paused=p.paused, pauses=p.pauses, resumes=p.resumes,
                         buffered=size() if size else None, connected=p.transport.connected)
        emit("stats", **stats)
    elif cmd["cmd"] == "forget":
        del latest[:]     # the test's reference to the newest connection, for the leak count
        emit("forgotten")


def main():
    gc.disable()
    port = listen(face, 0, Factory(), interface=ADDRESS)
    on_commands(face, command)
    emit("listening", port=listening_at(port), fds=fd_count())


reactor.callWhenRunning(guarded(main))
face.run()
