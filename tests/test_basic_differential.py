"""Differential property tests: the same random stream, cut at random points, is fed to
Twisted's framing receivers and to fastreactor.basic's over a recording fake transport; the
callbacks (with their arguments), the bytes written, the closes and the pauses must be equal.

The fake transport behaves as a real one would: once the protocol called loseConnection (or
an exception escaped dataReceived) no more data is delivered, and a paused transport is resumed
(through the protocol's resumeProducing) before the next chunk.
"""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastreactor import basic as fast_basic

twisted_basic = pytest.importorskip("twisted.protocols.basic")

SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class RecordingTransport:
    """Records every call a protocol makes on its transport into a shared log."""

    def __init__(self, log):
        self.log = log
        self.disconnecting = False
        self.paused = False

    def write(self, data):
        self.log.append(("write", bytes(data)))

    def writeSequence(self, seq):
        self.log.append(("writeSequence", [bytes(d) for d in seq]))

    def loseConnection(self):
        self.log.append(("loseConnection",))
        self.disconnecting = True

    def abortConnection(self):
        self.log.append(("abortConnection",))
        self.disconnecting = True

    def pauseProducing(self):
        self.log.append(("pauseProducing",))
        self.paused = True

    def resumeProducing(self):
        self.log.append(("resumeProducing",))
        self.paused = False

    def stopProducing(self):
        self.log.append(("stopProducing",))
        self.disconnecting = True


def drive(proto, chunks):
    """Feed `chunks` to `proto` as a transport would; return the log of everything observed."""
    log = []
    proto.log = log
    transport = RecordingTransport(log)
    proto.makeConnection(transport)
    for chunk in chunks:
        if transport.disconnecting:
            break
        try:
            if transport.paused:
                proto.resumeProducing()
            if transport.paused or transport.disconnecting:
                continue
            log.append(("returned", proto.dataReceived(chunk)))
        except Exception as e:  # a real transport would close the connection here
            log.append(("raised", type(e).__name__))
            break
    else:
        if transport.paused and not transport.disconnecting:
            try:
                proto.resumeProducing()
            except Exception as e:
                log.append(("raised", type(e).__name__))
    return log


def cut(data, points):
    """`data` split at the given offsets (empty pieces included)."""
    bounds = [0] + sorted(p % (len(data) + 1) for p in points) + [len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


# ---- LineReceiver --------------------------------------------------------------------------------

def line_receiver(base, max_length):
    class Scripted(base):
        """Acts on what it receives: switch modes, pause, close, echo, change delimiter."""

        MAX_LENGTH = max_length

        def lineReceived(self, line):
            self.log.append(("line", line))
            if line.startswith(b"raw"):
                self.setRawMode()
            elif line.startswith(b"p"):
                self.pauseProducing()
            elif line.startswith(b"close"):
                self.transport.loseConnection()
            elif line.startswith(b"e"):
                self.sendLine(line)
            elif line.startswith(b"n"):
                self.delimiter = b"\n"
            elif line.startswith(b"r"):
                self.delimiter = b"\r\n"
            elif line.startswith(b"x"):
                self.clearLineBuffer()
            elif line.startswith(b"why"):
                return "stop"

        def rawDataReceived(self, data):
            self.log.append(("raw", data))
            if b"L" in data:
                self.setLineMode(data[data.index(b"L") + 1:])
            elif b"P" in data:
                self.pauseProducing()

        def lineLengthExceeded(self, line):
            self.log.append(("exceeded", line))
            return base.lineLengthExceeded(self, line)

    return Scripted


LINE_TOKENS = st.sampled_from([
    b"a", b"bc", b"\r", b"\n", b"\r\n", b"\r\n", b"\r\n", b"raw", b"p", b"close", b"echo", b"L",
    b"P", b"n", b"r", b"x", b"why", b"", b"longer line of text",
])


@SETTINGS
@given(tokens=st.lists(LINE_TOKENS, max_size=40), points=st.lists(st.integers(0, 10 ** 6), max_size=12),
       max_length=st.integers(0, 24))
def test_line_receiver_matches_twisted(tokens, points, max_length):
    chunks = cut(b"".join(tokens), points)
    twisted_proto = line_receiver(twisted_basic.LineReceiver, max_length)()
    fast_proto = line_receiver(fast_basic.LineReceiver, max_length)()
    assert drive(fast_proto, chunks) == drive(twisted_proto, chunks)
    assert fast_proto._buffer == twisted_proto._buffer
    assert fast_proto.line_mode == twisted_proto.line_mode


def line_only_receiver(base, max_length):
    class Scripted(base):
        MAX_LENGTH = max_length

        def lineReceived(self, line):
            self.log.append(("line", line))
            if line.startswith(b"close"):
                self.transport.loseConnection()
            elif line.startswith(b"e"):
                self.sendLine(line)

        def lineLengthExceeded(self, line):
            self.log.append(("exceeded", line))
            return base.lineLengthExceeded(self, line)

    return Scripted


@SETTINGS
@given(tokens=st.lists(LINE_TOKENS, max_size=40), points=st.lists(st.integers(0, 10 ** 6), max_size=12),
       max_length=st.integers(0, 24))
def test_line_only_receiver_matches_twisted(tokens, points, max_length):
    chunks = cut(b"".join(tokens), points)
    twisted_proto = line_only_receiver(twisted_basic.LineOnlyReceiver, max_length)()
    fast_proto = line_only_receiver(fast_basic.LineOnlyReceiver, max_length)()
    assert drive(fast_proto, chunks) == drive(twisted_proto, chunks)
    if not fast_proto.transport.disconnecting:
        assert fast_proto._buffer == twisted_proto._buffer


# ---- length-prefixed strings ---------------------------------------------------------------------

def int_receiver(base, max_length):
    class Scripted(base):
        MAX_LENGTH = max_length

        def stringReceived(self, string):
            self.log.append(("string", string))
            if string.startswith(b"p"):
                self.pauseProducing()
            elif string.startswith(b"c"):
                self.transport.loseConnection()
            elif string.startswith(b"e"):
                self.sendString(string)

        def lengthLimitExceeded(self, length):
            self.log.append(("lengthLimitExceeded", length))
            return base.lengthLimitExceeded(self, length)

    return Scripted


PAYLOADS = st.one_of(st.sampled_from([b"", b"p", b"c", b"echo", b"e", b"abc"]), st.binary(max_size=20))


def prefixed_stream(fmt_size):
    """A stream of well-formed prefixed strings interleaved with arbitrary bytes."""
    limit = 256 ** fmt_size - 1

    def message(payload):
        return len(payload).to_bytes(fmt_size, "big") + payload

    piece = st.one_of(PAYLOADS.map(message), PAYLOADS.map(message),
                      st.integers(0, limit).map(lambda n: n.to_bytes(fmt_size, "big")),
                      st.binary(max_size=6))
    return st.lists(piece, max_size=25).map(b"".join)


@pytest.mark.parametrize("name,size", [("Int8StringReceiver", 1), ("Int16StringReceiver", 2),
                                       ("Int32StringReceiver", 4)])
@SETTINGS
@given(data=st.data(), max_length=st.integers(0, 30))
def test_int_n_receivers_match_twisted(name, size, data, max_length):
    stream = data.draw(prefixed_stream(size))
    chunks = cut(stream, data.draw(st.lists(st.integers(0, 10 ** 6), max_size=12)))
    twisted_proto = int_receiver(getattr(twisted_basic, name), max_length)()
    fast_proto = int_receiver(getattr(fast_basic, name), max_length)()
    assert drive(fast_proto, chunks) == drive(twisted_proto, chunks)


@pytest.mark.parametrize("name,size", [("Int16StringReceiver", 2), ("Int32StringReceiver", 4)])
def test_send_string_limit_matches_twisted(name, size):
    for receiver in (getattr(twisted_basic, name), getattr(fast_basic, name)):
        proto = receiver()
        proto.makeConnection(RecordingTransport([]))
        if size == 2:
            with pytest.raises(AssertionError, match="Try to send 65536 bytes whereas maximum is 65536"):
                proto.sendString(b"x" * 65536)
            proto.sendString(b"x" * 65535)


# ---- netstrings ----------------------------------------------------------------------------------

def netstring_receiver(base, max_length):
    class Scripted(base):
        MAX_LENGTH = max_length

        def stringReceived(self, string):
            self.log.append(("string", string))
            if string.startswith(b"c"):
                self.transport.loseConnection()
            elif string.startswith(b"e"):
                self.sendString(string)

    return Scripted


def netstring(payload):
    return str(len(payload)).encode() + b":" + payload + b","


NETSTRING_PIECES = st.one_of(
    PAYLOADS.map(netstring), PAYLOADS.map(netstring), PAYLOADS.map(netstring),
    st.sampled_from([b"999999999999:", b"01:", b"0:", b"5\n", b"5\n:", b"12", b":", b",", b"3:abcX",
                     b"1", b"0", b"\n", b"x", b"00:,", b"10:"]),
    st.binary(max_size=5),
)


@SETTINGS
@given(pieces=st.lists(NETSTRING_PIECES, max_size=25), points=st.lists(st.integers(0, 10 ** 6), max_size=12),
       max_length=st.integers(0, 40))
def test_netstring_receiver_matches_twisted(pieces, points, max_length):
    chunks = cut(b"".join(pieces), points)
    twisted_proto = netstring_receiver(twisted_basic.NetstringReceiver, max_length)()
    fast_proto = netstring_receiver(fast_basic.NetstringReceiver, max_length)()
    assert drive(fast_proto, chunks) == drive(twisted_proto, chunks)
    assert fast_proto.brokenPeer == twisted_proto.brokenPeer


@SETTINGS
@given(pieces=st.lists(NETSTRING_PIECES, max_size=10), extra=st.lists(st.binary(max_size=4), max_size=4))
def test_netstring_after_a_parse_error_matches_twisted(pieces, extra):
    """Twisted re-reports malformed input on every later non-empty chunk; so do we (without
    keeping the data)."""
    logs = []
    for base in (twisted_basic.NetstringReceiver, fast_basic.NetstringReceiver):
        proto = netstring_receiver(base, 20)()
        log = []
        proto.log = log
        proto.makeConnection(RecordingTransport(log))
        for chunk in [b"".join(pieces)] + extra:
            proto.dataReceived(chunk)
            log.append(("brokenPeer", proto.brokenPeer))
        logs.append(log)
    assert logs[0] == logs[1]
