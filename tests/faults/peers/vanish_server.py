"""A server whose clients vanish (their link goes down: no FIN, no RST), on the reactor named by
argv[1]; argv[2] is the address to listen on (port 0). Emits `listening` with the port.

The first byte a client sends chooses how its connection notices that the client is gone:
- `K`: TCP keepalive on (`setTcpKeepAlive(1)`), with TCP_KEEPIDLE 1 s, TCP_KEEPINTVL 1 s and
  TCP_KEEPCNT 2 set on `getHandle()`: the kernel gives up about 3 s after the last packet;
- `T`: a TimeoutMixin protocol with a 2 s timeout and the default `timeoutConnection`;
- `A`: a TimeoutMixin protocol with a 2 s timeout whose `timeoutConnection` aborts, and, on the
  command `write`, 1 MiB queued that the vanished peer can never take.
Each connection emits `ready` (mode, time of the last byte received) once its mode is known, and
`lost` (mode, reason, time) when it ends; times are `time.monotonic()` of this process, which
is the clock the test reads too (same machine).
"""
import socket
import sys
import time

from peerlib import Face, emit, guarded, listen, on_commands, reason_name, tcp_transport

face = Face(sys.argv[1])
ADDRESS = sys.argv[2]
reactor = face.reactor
TIMEOUT = 2.0
connections = {}


class Vanishing(face.policies.TimeoutMixin, face.protocol.Protocol):
    mode = None

    def connectionMade(self):
        self.last_data = time.monotonic()

    @guarded
    def dataReceived(self, data):
        self.last_data = time.monotonic()
        if self.mode is None:
            self.mode = data[:1].decode()
            connections[self.mode] = self
            if self.mode == "K":
                tcp = tcp_transport(self.transport)
                tcp.setTcpKeepAlive(1)
                sock = tcp.getHandle()
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 2)
            else:
                self.callLater = reactor.callLater
                self.setTimeout(TIMEOUT)
            emit("ready", mode=self.mode, last_data=self.last_data)
        elif self.mode != "K":
            self.resetTimeout()

    def timeoutConnection(self):
        emit("timeout", mode=self.mode, at=time.monotonic())
        if self.mode == "A":
            self.transport.abortConnection()
        else:
            face.policies.TimeoutMixin.timeoutConnection(self)

    def connectionLost(self, reason):
        self.setTimeout(None)   # Twisted's mixin leaves cancelling the timeout to us
        emit("lost", mode=self.mode, reason=reason_name(reason), at=time.monotonic(),
             last_data=self.last_data)


def command(cmd):
    if cmd["cmd"] == "write":
        connections["A"].transport.write(b"x" * (1 << 20))
        emit("written")


class Factory(face.protocol.Factory):
    noisy = False
    protocol = Vanishing


def main():
    port = listen(face, 0, Factory(), interface=ADDRESS)
    on_commands(face, command)
    emit("listening", port=port.getHost().port)


reactor.callWhenRunning(guarded(main))
face.run()
