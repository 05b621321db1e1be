"""An echo server on the reactor named by argv[1], listening on argv[2] (port 0; TLS when
FAULTS_TLS is set; a UNIX socket when argv[2] is a path: `listening` then gives the path).

Optional argv[3]: a soft RLIMIT_NOFILE to set first (for descriptor exhaustion; 0: leave it);
optional argv[4]: the listen backlog instead of 4096; optional argv[5] `noreserve`: release
fastreactor's EMFILE reserve descriptor once listening (the path where accept() can only pause,
as when the reserve could not be taken again). Emits
`listening` (port, fds); on the command `stats` emits `stats`: open descriptors, connections
open now and ever made, RSS, and this process's CPU seconds.
"""
import os
import sys

from peerlib import (Face, emit, fd_count, guarded, listen, listening_at, on_commands, rss_kib,
                     set_nofile)

face = Face(sys.argv[1])
ADDRESS = sys.argv[2]
if len(sys.argv) > 3 and int(sys.argv[3]):
    set_nofile(int(sys.argv[3]))
BACKLOG = int(sys.argv[4]) if len(sys.argv) > 4 else 4096
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
    port = listen(face, 0, Factory(), backlog=BACKLOG, interface=ADDRESS)
    if len(sys.argv) > 5 and sys.argv[5] == "noreserve":
        from fastreactor import _core
        if not _core._release_emfile_reserve():
            emit("error", error="there was no EMFILE reserve to release")
    on_commands(face, command)
    emit("listening", port=listening_at(port), fds=fd_count())


reactor.callWhenRunning(guarded(main))
face.run()
