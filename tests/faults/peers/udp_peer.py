"""Two UDP ports side by side sending sequence-numbered, checksummed datagrams across a lossy link.

argv: ROLE FACE ADDRESS [PORT_A PORT_B COUNT]
- ROLE `server` binds two UDP ports (0 and 1) on ADDRESS and emits `listening` (ports). Each port,
  on its first datagram, starts sending its own stream of COUNT datagrams (taken from the first
  datagram) to the sender; probes (see below) it echoes as they are; on `report` the server emits
  `report` with both ports' tallies.
- ROLE `client` binds two UDP ports; port i sends COUNT datagrams to the server's port i, 8 every
  5 ms (about 30 Mbit/s in all, well above a slow link), while taking the server's stream; then,
  after half a second of quiet, 20 probes, 20 ms apart, which port i of the server must echo; then emits
  `report` with its tallies.

Every datagram: magic `FRUD`, kind (`D` data, `P` probe), the sending port's tag (0 or 1), a
sequence number, the count of the stream, the CRC32 of the body, then 100 to 1400 random bytes.
Each receiving port tallies what arrives: `received`, `corrupt` (bad magic, size or CRC),
`wrong_port` (the tag of the other port: delivered to the wrong socket), `duplicates` (a sequence
number seen before), `out_of_range`, and the probes echoed back intact.
"""
import os
import random
import struct
import sys
import zlib

from peerlib import Face, emit, guarded, on_commands

ROLE, FACE, ADDRESS = sys.argv[1], sys.argv[2], sys.argv[3]
face = Face(FACE)
reactor = face.reactor
HEADER = struct.Struct("!4scBIII")
MAGIC = b"FRUD"
BURST = 8
PERIOD = 0.005
PROBES = 20


def datagram(kind, tag, seq, count):
    body = os.urandom(random.randint(100, 1400))
    return HEADER.pack(MAGIC, kind, tag, seq, count, zlib.crc32(body)) + body


def parse(data):
    """(kind, tag, seq, count) of an intact datagram, or None if it is corrupt."""
    if len(data) < HEADER.size:
        return None
    magic, kind, tag, seq, count, crc = HEADER.unpack_from(data)
    if magic != MAGIC or kind not in (b"D", b"P") or zlib.crc32(data[HEADER.size:]) != crc:
        return None
    return kind, tag, seq, count


class Side(face.protocol.DatagramProtocol):
    """One of the two ports: tallies what it receives, sends its stream to `peer`."""
    noisy = False

    def __init__(self, tag):
        self.tag = tag
        self.peer = None
        self.count = 0
        self.sent = 0
        self.seen = set()
        self.probes_back = set()
        self.tally = {"received": 0, "corrupt": 0, "wrong_port": 0, "duplicates": 0,
                      "out_of_range": 0, "write_errors": 0}

    @guarded
    def datagramReceived(self, data, addr):
        parsed = parse(data)
        if parsed is None:
            self.tally["corrupt"] += 1
            return
        kind, tag, seq, count = parsed
        if tag != self.tag:
            self.tally["wrong_port"] += 1
            return
        if kind == b"P":
            if ROLE == "server":
                self.transport.write(data, addr)      # echo the probe
            else:
                self.probes_back.add(seq)
            return
        if seq >= count:
            self.tally["out_of_range"] += 1
        elif seq in self.seen:
            self.tally["duplicates"] += 1
        else:
            self.seen.add(seq)
            self.tally["received"] += 1
        if ROLE == "server" and self.peer is None:
            self.peer, self.count = addr, count
            self.pump()

    @guarded
    def pump(self):
        for _ in range(BURST):
            if self.sent >= self.count:
                return
            try:
                self.transport.write(datagram(b"D", self.tag, self.sent, self.count), self.peer)
            except OSError:
                self.tally["write_errors"] += 1
            self.sent += 1
        reactor.callLater(PERIOD, self.pump)

    def report(self):
        return dict(self.tally, tag=self.tag, sent=self.sent,
                    probes_back=len(self.probes_back))


sides = [Side(0), Side(1)]


def server():
    ports = [reactor.listenUDP(0, side, interface=ADDRESS) for side in sides]

    def command(cmd):
        if cmd["cmd"] == "report":
            emit("report", ports=[s.report() for s in sides])

    on_commands(face, command)
    emit("listening", ports=[p.getHost().port for p in ports])


def client():
    targets = [int(sys.argv[4]), int(sys.argv[5])]
    count = int(sys.argv[6])
    for side, target in zip(sides, targets):
        reactor.listenUDP(0, side, interface="")
        side.peer, side.count = (ADDRESS, target), count
        side.pump()
    stream_time = count / BURST * PERIOD

    def probe(i):
        for side in sides:
            side.transport.write(datagram(b"P", side.tag, i, PROBES), side.peer)
        if i + 1 < PROBES:
            reactor.callLater(0.02, probe, i + 1)
        else:
            reactor.callLater(0.5, done)

    def done():
        emit("report", ports=[s.report() for s in sides])

    reactor.callLater(stream_time + 0.5, guarded(probe), 0)


reactor.callWhenRunning(guarded(server if ROLE == "server" else client))
face.run()
