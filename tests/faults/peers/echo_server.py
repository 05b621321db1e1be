"""An echo server on the reactor named by argv[1], listening on argv[2] (port 0, backlog 4096).

Optional argv[3]: a soft RLIMIT_NOFILE to set first (for descriptor exhaustion). Emits
`listening` (port, fds); on the command `stats` emits `stats`: open descriptors, connections
open now and ever made, RSS, and this process's CPU seconds.
"""
import os
import sys

from peerlib import Face, emit, fd_count, guarded, on_commands, rss_kib, set_nofile

face = Face(sys.argv[1])
ADDRESS = sys.argv[2]
if len(sys.argv) > 3:
    set_nofile(int(sys.argv[3]))
reactor = face.reactor
counts = {"open": 0, "made": 0}


class Echo(face.protocol.Protocol):
    def connectionMade(self):
        counts["open"] += 1
        counts["made"] += 1

    def dataReceived(self, data):
        self.transport.write(data)

    def connectionLost(self, reason):
        counts["open"] -= 1


class Factory(face.protocol.Factory):
    noisy = False
    protocol = Echo


def command(cmd):
    if cmd["cmd"] == "stats":
        t = os.times()
        emit("stats", fds=fd_count(), open=counts["open"], made=counts["made"], rss_kib=rss_kib(),
             cpu=t.user + t.system)


def main():
    port = reactor.listenTCP(0, Factory(), backlog=4096, interface=ADDRESS)
    on_commands(face, command)
    emit("listening", port=port.getHost().port, fds=fd_count())


reactor.callWhenRunning(guarded(main))
face.run()
