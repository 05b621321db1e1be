"""Slow clients without a reactor: argv ADDRESS PORT COUNT (ADDRESS a path: UNIX stream clients,
PORT ignored). Opens COUNT connections (in batches,
non-blocking), emits `connected` (count), then sends one byte per connection per second, spread
evenly over the second, and reads back what the server echoes. Emits `trickling` after the
first full second, with bytes sent and echoed so far; on the command `stats`, `stats`."""
import json
import os
import select
import socket
import sys
import threading
import time

from peerlib import emit, stream_socket

ADDRESS, PORT, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])
BATCH = 250

socks = []
for start in range(0, COUNT, BATCH):
    batch = []
    for _ in range(min(BATCH, COUNT - start)):
        s, target = stream_socket(ADDRESS, PORT)
        s.setblocking(False)
        s.connect_ex(target)
        batch.append(s)
    poller = select.epoll()
    for s in batch:
        poller.register(s.fileno(), select.EPOLLOUT)
    pending = len(batch)
    deadline = time.monotonic() + 30
    while pending and time.monotonic() < deadline:
        for fd, ev in poller.poll(1.0):
            poller.unregister(fd)
            pending -= 1
    poller.close()
    for s in batch:
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err or pending:
            emit("error", error="connect failed: %s (%d pending)" % (os.strerror(err), pending))
            sys.exit(1)
    socks.extend(batch)
emit("connected", count=len(socks))

state = {"sent": 0, "echoed": 0}
lock = threading.Lock()


def commands():
    for line in sys.stdin:
        if json.loads(line).get("cmd") == "stats":
            with lock:
                emit("stats", **state)
    os._exit(0)


threading.Thread(target=commands, daemon=True).start()

poller = select.epoll()
by_fd = {s.fileno(): s for s in socks}
for fd in by_fd:
    poller.register(fd, select.EPOLLIN)
SLICES = 100                      # per second
per_slice = (len(socks) + SLICES - 1) // SLICES
t0 = time.monotonic()
step = 0
announced = False
while True:
    index = step % SLICES
    for s in socks[index * per_slice:(index + 1) * per_slice]:
        s.send(b"x")
        with lock:
            state["sent"] += 1
    step += 1
    wake = t0 + step / SLICES
    while True:
        left = wake - time.monotonic()
        for fd, ev in poller.poll(max(left, 0)):
            data = by_fd[fd].recv(4096)
            if not data:
                emit("error", error="server closed a trickling connection")
                os._exit(1)
            with lock:
                state["echoed"] += len(data)
        if left <= 0:
            break
    if not announced and step >= SLICES:
        announced = True
        with lock:
            emit("trickling", **state)
