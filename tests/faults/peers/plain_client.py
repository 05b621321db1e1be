"""Plain blocking sockets (no reactor): argv ADDRESS PORT WORD...: one connection per WORD, each
sending WORD, then holding them open and silent until killed. Emits `connected` when all are."""
import socket
import sys
import time

from peerlib import emit

ADDRESS, PORT = sys.argv[1], int(sys.argv[2])
held = []
for word in sys.argv[3:]:
    s = socket.create_connection((ADDRESS, PORT), timeout=10)
    s.sendall(word.encode())
    held.append(s)
emit("connected", count=len(held))
while True:
    time.sleep(3600)
