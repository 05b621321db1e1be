"""Framing throughput, run in-process for one implementation (one process per run).

    python bench/inproc/framing.py IMPL KIND SECONDS

IMPL is fastreactor (fastreactor.basic) or twisted (twisted.protocols.basic).  KIND is
``line`` (LineReceiver, 32-byte lines: 30 bytes + CRLF) or ``int32`` (Int32StringReceiver,
1 KiB strings).  A 4 MiB stream is cut into 64 KiB chunks (so messages straddle chunks) and
fed straight to dataReceived over a fake transport, again and again until SECONDS have
passed; no sockets are involved.  Prints one JSON
line (messages/s, MiB/s) or ``UNAVAILABLE <reason>`` (exit status 3).
"""
import json
import struct
import sys
import time

CHUNK = 65536
STREAM = 4 * 1024 * 1024
LINE = b"x" * 30 + b"\r\n"
STRING = b"y" * 1024


class FakeTransport:
    """The least a framing protocol may touch: writes are counted and dropped."""

    disconnecting = False
    connected = True

    def __init__(self):
        self.written = 0

    def write(self, data):
        self.written += len(data)

    def writeSequence(self, seq):
        for d in seq:
            self.write(d)

    def loseConnection(self):
        self.disconnecting = True

    abortConnection = loseConnection

    def getPeer(self):
        return None

    def getHost(self):
        return None


def unavailable(reason):
    """Report that IMPL cannot run here and exit with status 3."""
    print("UNAVAILABLE " + " ".join(str(reason).split()), flush=True)
    sys.exit(3)


def basic_module(impl):
    """The module providing LineReceiver and Int32StringReceiver for IMPL."""
    try:
        if impl == "fastreactor":
            from fastreactor import basic
        elif impl == "twisted":
            from twisted.protocols import basic
        else:
            unavailable("unknown implementation %r" % impl)
        basic.LineReceiver, basic.Int32StringReceiver  # noqa: B018 - both must exist
        return basic
    except Exception as e:  # noqa: BLE001
        unavailable("%s framing not available: %r" % ("fastreactor.basic" if impl == "fastreactor" else impl, e))


def make_protocol(basic, kind):
    """A framing protocol instance that counts what it receives, connected to a fake transport."""
    if kind == "line":
        class Counter(basic.LineReceiver):
            count = 0

            def lineReceived(self, line):
                self.count += 1
    else:
        class Counter(basic.Int32StringReceiver):
            count = 0

            def stringReceived(self, string):
                self.count += 1
    p = Counter()
    p.makeConnection(FakeTransport())
    return p


def make_stream(kind, total):
    """The input as a list of 64 KiB chunks, and how many messages it holds."""
    unit = LINE if kind == "line" else struct.pack("!I", len(STRING)) + STRING
    n = max(1, total // len(unit))
    data = unit * n
    return [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)], n


def bench(impl, kind, seconds):
    """Feed KIND framing to IMPL's receiver for about SECONDS and return the result dict."""
    basic = basic_module(impl)
    chunks, n = make_stream(kind, STREAM)
    warm, _ = make_stream(kind, CHUNK * 4)
    w = make_protocol(basic, kind)
    for c in warm:
        w.dataReceived(c)
    p = make_protocol(basic, kind)
    feed = p.dataReceived
    passes = 0
    t0 = time.perf_counter()
    while True:
        for c in chunks:
            feed(c)
        passes += 1
        wall = time.perf_counter() - t0
        if wall >= seconds:
            break
    if p.count != n * passes:
        raise SystemExit("%s %s: %d messages received, expected %d" % (impl, kind, p.count, n * passes))
    size = sum(map(len, chunks)) * passes
    return {"impl": impl, "kind": kind, "messages": n * passes, "bytes": size, "wall_s": wall,
            "rate": n * passes / wall, "mib_s": size / wall / 1048576.0}


def main():
    impl, kind, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    print(json.dumps(bench(impl, kind, seconds)), flush=True)


if __name__ == "__main__":
    main()
