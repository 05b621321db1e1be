"""Plain blocking sockets (no reactor): argv ADDRESS PORT WORD...: one connection per WORD, each
sending WORD (over TLS when FAULTS_TLS is set), then holding them open, silent and never reading,
until killed. Emits `connected` when all are."""
import sys
import time

from peerlib import client_socket, emit

ADDRESS, PORT = sys.argv[1], int(sys.argv[2])
held = []
for word in sys.argv[3:]:
    s = client_socket(ADDRESS, PORT)
    s.sendall(word.encode())
    held.append(s)
emit("connected", count=len(held))
while True:
    time.sleep(3600)
