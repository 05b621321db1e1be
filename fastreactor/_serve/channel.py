"""The report channel between a worker and its supervisor: one AF_UNIX stream socketpair per
worker, inherited by the worker as a descriptor.

Worker -> supervisor: one JSON object per line, `{"type": ..., ...}`:

- `{"type": "ready", "pid": P, "ports": [...]}` once the worker listens (the supervisor waits for
  it before retiring the worker it replaces on SIGHUP);
- `{"type": "stats", "stats": {...}}` every `stats_interval` seconds (see `metrics.STATS_KEYS`);
- `{"type": "stopping", "open": N}` when it stops accepting and starts draining.

Supervisor -> worker: nothing is sent; the worker reads only to notice end-of-file, which means
the supervisor is gone (the worker then stops as on SIGTERM).

Reports are best effort: a line that does not fit in the socket buffer is dropped, never waited
for, so a stuck supervisor cannot stall a worker's loop.
"""
import json
import socket

MAX_LINE = 1 << 16


def encode(message):
    """One report as bytes (a JSON line)."""
    return json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"


class LineReader:
    """Splits what the supervisor reads from a worker into decoded messages."""

    def __init__(self):
        self.buffer = b""

    def feed(self, data):
        """The messages completed by `data` (a malformed line is skipped, an overlong partial
        line is dropped)."""
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        if len(self.buffer) > MAX_LINE:
            self.buffer = b""
        messages = []
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                messages.append(message)
        return messages


class WorkerChannel:
    """The worker's end, watched by the worker's reactor (`reactor.addReader(channel)`):
    `send(message)`; `on_lost()` is called once when the supervisor's end closes (the channel
    then stops being watched)."""

    def __init__(self, fd, reactor, on_lost):
        self.sock = socket.socket(fileno=fd)
        self.sock.setblocking(False)
        self.reactor = reactor
        self.on_lost = on_lost
        self.lost = False

    def fileno(self):
        return self.sock.fileno()

    def logPrefix(self):
        return "serve-channel"

    def send(self, message):
        """Send a report; dropped if it does not fit now, ignored once the channel is lost."""
        if self.lost:
            return
        try:
            self.sock.send(encode(message))
        except BlockingIOError:
            pass
        except OSError:
            self._lose()

    def doRead(self):
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            self._lose()
        return None

    def _lose(self):
        if not self.lost:
            self.lost = True
            self.reactor.removeReader(self)
            self.on_lost()

    def connectionLost(self, reason):
        self.sock.close()
