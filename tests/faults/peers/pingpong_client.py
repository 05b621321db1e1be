"""An active client without a reactor: argv ADDRESS PORT (ADDRESS a path: a UNIX socket, PORT
ignored). One connection (TCP_NODELAY on TCP); on the
command `measure` (count, size) it sends `size` bytes and waits for their echo `count` times and
emits `measured` with the round-trip times' median, 90th percentile and mean (seconds)."""
import json
import socket
import statistics
import sys
import time

from peerlib import client_socket, emit

ADDRESS, PORT = sys.argv[1], sys.argv[2]
sock = client_socket(ADDRESS, PORT)
if sock.family != socket.AF_UNIX:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
emit("connected")
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd.get("cmd") != "measure":
        continue
    message = b"p" * cmd["size"]
    times = []
    for _ in range(cmd["count"]):
        start = time.perf_counter()
        sock.sendall(message)
        got = 0
        while got < len(message):
            chunk = sock.recv(65536)
            if not chunk:
                emit("error", error="server closed the active connection")
                sys.exit(1)
            got += len(chunk)
        times.append(time.perf_counter() - start)
    times.sort()
    emit("measured", median=statistics.median(times), p90=times[int(len(times) * 0.9)],
         mean=statistics.fmean(times))
