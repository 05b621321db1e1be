"""A client without a reactor that reads everything and writes steadily: argv ADDRESS PORT
(ADDRESS a path: a UNIX socket). One connection; a thread reads and counts, the main thread
sends 4 KiB every millisecond. Emits `connected`; on `stats`, `stats` (bytes read and sent).
Made to be stopped (SIGSTOP) or killed (SIGKILL) by the test in the middle of the stream."""
import json
import sys
import threading
import time

from peerlib import client_socket, emit

ADDRESS, PORT = sys.argv[1], sys.argv[2]
sock = client_socket(ADDRESS, PORT)
sock.settimeout(None)
state = {"read": 0, "sent": 0}


def reader():
    while True:
        data = sock.recv(65536)
        if not data:
            emit("eof")
            return
        state["read"] += len(data)


def commands():
    for line in sys.stdin:
        if json.loads(line).get("cmd") == "stats":
            emit("stats", **state)


threading.Thread(target=reader, daemon=True).start()
threading.Thread(target=commands, daemon=True).start()
emit("connected")
block = b"d" * 4096
while True:
    sock.sendall(block)
    state["sent"] += len(block)
    time.sleep(0.001)
