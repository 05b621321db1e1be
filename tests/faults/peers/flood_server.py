"""A server that writes as fast as its transport lets it, to clients that may never read: argv
FACE ADDRESS. Each connection registers itself as a streaming producer and writes 64 KiB per
reactor turn while not paused. Emits `listening` (port); on `stats`, `stats` for the newest
connection: bytes written, paused or not, pauses and resumes, the transport's buffered bytes
(where the transport tells), and the process's RSS."""
import sys

from peerlib import Face, emit, guarded, listen, on_commands, rss_kib, tcp_transport

face = Face(sys.argv[1])
ADDRESS = sys.argv[2]
reactor = face.reactor
CHUNK = b"f" * 65536
latest = []


class Flood(face.protocol.Protocol):
    def connectionMade(self):
        self.written = 0
        self.paused = False
        self.pauses = self.resumes = 0
        latest[:] = [self]
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


class Factory(face.protocol.Factory):
    noisy = False
    protocol = Flood


def command(cmd):
    if cmd["cmd"] == "stats":
        p = latest[0]
        size = getattr(tcp_transport(p.transport), "getWriteBufferSize", None)
        emit("stats", written=p.written, paused=p.paused, pauses=p.pauses, resumes=p.resumes,
             buffered=size() if size else None, rss_kib=rss_kib())


def main():
    port = listen(face, 0, Factory(), interface=ADDRESS)
    on_commands(face, command)
    emit("listening", port=port.getHost().port)


reactor.callWhenRunning(guarded(main))
face.run()
