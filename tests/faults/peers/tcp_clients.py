"""Groups of plain TCP clients (no reactor), driven by commands: argv ADDRESS PORT (ADDRESS a
path: UNIX stream clients, PORT ignored).

Commands (JSON lines on stdin), each answered by one event:
- `open` (tag, count, tls): open `count` connections into group `tag`, non-blocking, waiting up
  to 5 s for the handshakes (with `tls`, then a blocking TLS handshake on each, 5 s at most, no
  certificate verification); `opened` (tag, ok, failed);
- `check` (tag, timeout): send 5 bytes on each connection of the group and wait up to `timeout`
  seconds for their echo (TLS groups one connection after the other, `timeout` each); `checked` (tag, echoed, closed, silent): echoed in full, closed by the
  server (EOF or reset), no answer in time;
- `close` (tag): close the group's connections; `closed` (tag, count).
"""
import json
import select
import socket
import sys
import time

from peerlib import emit, stream_socket

ADDRESS, PORT = sys.argv[1], sys.argv[2]
groups = {}


def tls_handshake(sock):
    """`sock` (connected) wrapped in TLS, the handshake done; None if it failed."""
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    sock.setblocking(True)
    sock.settimeout(5)
    try:
        return context.wrap_socket(sock)
    except (OSError, ssl.SSLError):
        sock.close()
        return None


def check_tls_group(tag, timeout):
    echoed = closed = silent = 0
    for s in groups.get(tag, []):
        s.settimeout(timeout)
        try:
            s.sendall(b"ping!")
            got = b""
            while len(got) < 5:
                data = s.recv(64)
                if not data:
                    break
                got += data
        except socket.timeout:
            silent += 1
            continue
        except OSError:
            closed += 1
            continue
        if got == b"ping!":
            echoed += 1
        else:
            closed += 1
    emit("checked", tag=tag, echoed=echoed, closed=closed, silent=silent)


tls_groups = set()


def open_group(tag, count, tls=False):
    made = []
    poller = select.epoll()
    for _ in range(count):
        s, target = stream_socket(ADDRESS, PORT)
        s.setblocking(False)
        s.connect_ex(target)
        made.append(s)
        poller.register(s.fileno(), select.EPOLLOUT)
    pending = {s.fileno() for s in made}
    deadline = time.monotonic() + 5
    while pending and time.monotonic() < deadline:
        for fd, _ in poller.poll(0.2):
            poller.unregister(fd)
            pending.discard(fd)
    poller.close()
    ok = [s for s in made
          if s.fileno() not in pending and not s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)]
    for s in made:
        if s not in ok:
            s.close()
    if tls:
        tls_groups.add(tag)
        ok = [t for t in (tls_handshake(s) for s in ok) if t is not None]
    groups.setdefault(tag, []).extend(ok)
    emit("opened", tag=tag, ok=len(ok), failed=count - len(ok))


def check_group(tag, timeout):
    if tag in tls_groups:
        return check_tls_group(tag, timeout)
    socks = groups.get(tag, [])
    got = {}
    closed = set()
    for s in socks:
        try:
            s.send(b"ping!")
            got[s.fileno()] = b""
        except OSError:
            closed.add(s.fileno())
    poller = select.epoll()
    for s in socks:
        if s.fileno() not in closed:
            poller.register(s.fileno(), select.EPOLLIN)
    by_fd = {s.fileno(): s for s in socks}
    waiting = set(got)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for fd, _ in poller.poll(0.2):
            try:
                data = by_fd[fd].recv(64)
            except OSError:
                data = b""
            if not data:
                closed.add(fd)
                waiting.discard(fd)
                poller.unregister(fd)
                continue
            got[fd] += data
            if len(got[fd]) >= 5:
                waiting.discard(fd)
                poller.unregister(fd)
    poller.close()
    echoed = sum(1 for fd, data in got.items() if data == b"ping!" and fd not in closed)
    emit("checked", tag=tag, echoed=echoed, closed=len(closed), silent=len(waiting))


def close_group(tag):
    socks = groups.pop(tag, [])
    for s in socks:
        s.close()
    emit("closed", tag=tag, count=len(socks))


emit("ready")
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["cmd"] == "open":
        open_group(cmd["tag"], cmd["count"], cmd.get("tls", False))
    elif cmd["cmd"] == "check":
        check_group(cmd["tag"], cmd.get("timeout", 5))
    elif cmd["cmd"] == "close":
        close_group(cmd["tag"])
