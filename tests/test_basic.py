"""fastreactor.basic: unit tests over a fake transport (API, bounded memory, linear time) and
end-to-end tests over real sockets on every poller (bad input closes only its own connection)."""
import struct
import time

import pytest

from fastreactor import basic
from fastreactor.protocol import ClientFactory, Factory, Protocol
from fake_transport import FakeTransport, connect


class Lines(basic.LineReceiver):
    def __init__(self):
        self.lines = []

    def lineReceived(self, line):
        self.lines.append(line)


class Strings(basic.Int32StringReceiver):
    def __init__(self):
        self.strings = []

    def stringReceived(self, string):
        self.strings.append(string)


# ---- API -------------------------------------------------------------------------------------

def test_send_line_and_strings():
    p = connect(Lines())
    p.sendLine(b"hello")
    assert p.transport.written == [b"hello\r\n"]
    q = connect(basic.LineOnlyReceiver())
    q.sendLine(b"x")
    assert q.transport.written == [b"x\r\n"]
    n = connect(basic.NetstringReceiver())
    n.sendString(b"abc")
    assert n.transport.written == [b"3:abc,"]
    for cls, prefix in ((basic.Int8StringReceiver, b"\x03"), (basic.Int16StringReceiver, b"\x00\x03"),
                        (basic.Int32StringReceiver, b"\x00\x00\x00\x03")):
        s = connect(cls())
        s.sendString(b"abc")
        assert s.transport.written == [prefix + b"abc"]


def test_send_string_too_long():
    s = connect(basic.Int8StringReceiver())
    with pytest.raises(basic.StringTooLongError, match="Try to send 256 bytes whereas maximum is 256"):
        s.sendString(b"x" * 256)
    assert issubclass(basic.StringTooLongError, AssertionError)
    s.sendString(b"x" * 255)


def test_raw_mode_and_back_with_extra():
    class P(Lines):
        def lineReceived(self, line):
            Lines.lineReceived(self, line)
            if line == b"raw":
                self.setRawMode()

        def rawDataReceived(self, data):
            self.lines.append(("raw", data))
            head, _, extra = data.partition(b"|")
            self.setLineMode(extra)

    p = connect(P())
    p.dataReceived(b"a\r\nraw\r\nRAW BYTES|b\r\nc\r\n")
    assert p.lines == [b"a", b"raw", ("raw", b"RAW BYTES|b\r\nc\r\n"), b"b", b"c"]


def test_pause_inside_line_received_holds_the_rest():
    class P(Lines):
        def lineReceived(self, line):
            Lines.lineReceived(self, line)
            if line == b"stop":
                self.pauseProducing()

    p = connect(P())
    p.dataReceived(b"a\r\nstop\r\nb\r\nc\r\n")
    assert p.lines == [b"a", b"stop"]
    assert p._buffer == b"b\r\nc\r\n"
    p.resumeProducing()
    assert p.lines == [b"a", b"stop", b"b", b"c"]


def test_clear_line_buffer():
    p = connect(Lines())
    p.dataReceived(b"a\r\npartial")
    assert p.clearLineBuffer() == b"partial"
    assert p._buffer == b""


def test_line_too_long_closes():
    p = connect(Lines())
    p.MAX_LENGTH = 5
    p.dataReceived(b"abcdef\r\n")
    assert p.transport.lost == 1 and p.lines == []


def test_netstring_garbage_closes():
    for bad in (b"999999999999:", b"x", b"01:a,", b"3:abcX"):
        n = connect(basic.NetstringReceiver())
        n.stringReceived = lambda s: None
        n.dataReceived(bad)
        assert n.brokenPeer == 1 and n.transport.lost == 1, bad


def test_length_limit_exceeded_as_soon_as_prefix_arrives():
    s = connect(Strings())
    s.MAX_LENGTH = 100
    s.dataReceived(struct.pack("!I", 101))
    assert s.transport.lost == 1


def test_stateful_string_protocol():
    class P(basic.StatefulStringProtocol, basic.Int8StringReceiver):
        def proto_init(self, string):
            self.got = string
            return "done"

    p = connect(P())
    p.dataReceived(b"\x02hi")
    assert p.got == b"hi" and p.transport.lost == 1


# ---- bounded memory and linear time ------------------------------------------------------------

def test_memory_bounded_without_delimiter():
    """10 MiB without a delimiter in 64 KiB chunks: the buffer never holds more than
    MAX_LENGTH + one chunk (the transport here ignores loseConnection and keeps feeding)."""
    chunk = b"x" * 65536
    for cls in (basic.LineReceiver, basic.LineOnlyReceiver):
        class P(cls):
            exceeded = 0

            def lineLengthExceeded(self, line):
                self.exceeded += 1
                return cls.lineLengthExceeded(self, line)

        p = connect(P())
        peak = 0
        for _ in range(160):
            p.dataReceived(chunk)
            peak = max(peak, len(p._splitter))
            assert p._splitter.capacity <= 4 * (p.MAX_LENGTH + len(chunk))
        assert peak <= p.MAX_LENGTH + len(chunk) + len(p.delimiter)
        assert p.exceeded > 0


def test_memory_bounded_with_oversize_prefix():
    s = connect(Strings())
    s.MAX_LENGTH = 1000
    s.dataReceived(struct.pack("!I", 10 ** 9))
    for _ in range(160):
        s.dataReceived(b"y" * 65536)
        assert len(s._splitter) <= 65536 + 4
    n = connect(basic.NetstringReceiver())
    n.dataReceived(b"99999999999999")
    assert n.brokenPeer == 1
    for _ in range(10):
        n.dataReceived(b"9" * 65536)
    assert len(n._splitter) == 0


def test_one_mib_line_in_one_byte_chunks_is_linear():
    p = connect(Lines())
    p.MAX_LENGTH = 2 ** 21
    data = b"z" * (2 ** 20)
    start = time.perf_counter()
    for i in range(len(data)):
        p.dataReceived(data[i:i + 1])
    p.dataReceived(b"\r\n")
    elapsed = time.perf_counter() - start
    assert p.lines == [data]
    assert elapsed < 10, elapsed  # a quadratic buffer needs minutes


def test_one_mib_netstring_and_int32_in_one_byte_chunks_are_linear():
    payload = b"q" * (2 ** 20)
    for proto, wire in ((Strings(), struct.pack("!I", len(payload)) + payload),
                        (basic.NetstringReceiver(), b"%d:%s," % (len(payload), payload))):
        got = []
        proto.stringReceived = got.append
        proto.MAX_LENGTH = 2 ** 21
        connect(proto)
        start = time.perf_counter()
        for i in range(len(wire)):
            proto.dataReceived(wire[i:i + 1])
        assert got == [payload]
        assert time.perf_counter() - start < 10


@pytest.mark.parametrize("cls", [basic.LineReceiver, basic.LineOnlyReceiver])
def test_hundred_thousand_lines_in_one_chunk_is_linear(cls):
    class P(cls):
        count = 0

        def lineReceived(self, line):
            self.count += 1

    p = connect(P())
    start = time.perf_counter()
    p.dataReceived(b"short line\r\n" * 100000)
    assert p.count == 100000
    assert time.perf_counter() - start < 5


def test_many_strings_in_one_chunk():
    s = connect(Strings())
    s.dataReceived((struct.pack("!I", 3) + b"abc") * 100000)
    assert len(s.strings) == 100000
    n = connect(basic.NetstringReceiver())
    got = []
    n.stringReceived = got.append
    n.dataReceived(b"3:abc," * 100000)
    assert len(got) == 100000


# ---- end to end --------------------------------------------------------------------------------

class EchoLines(basic.LineReceiver):
    MAX_LENGTH = 64

    def lineReceived(self, line):
        self.sendLine(b"echo " + line)


class EchoNetstrings(basic.NetstringReceiver):
    MAX_LENGTH = 64

    def stringReceived(self, string):
        self.sendString(b"echo " + string)


class EchoInt16(basic.Int16StringReceiver):
    MAX_LENGTH = 64

    def stringReceived(self, string):
        self.sendString(b"echo " + string)


class Client(Protocol):
    def __init__(self, payload):
        self.payload = payload
        self.received = b""
        self.closed = False

    def connectionMade(self):
        self.transport.write(self.payload)

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.closed = True


class ClientMaker(ClientFactory):
    def __init__(self, payload):
        self.payload = payload
        self.protocols = []

    def buildProtocol(self, addr):
        p = Client(self.payload)
        self.protocols.append(p)
        return p


@pytest.mark.parametrize("server,good,expected,bad", [
    (EchoLines, b"hi\r\n", b"echo hi\r\n", b"x" * 200 + b"\r\n"),
    (EchoNetstrings, b"2:hi,", b"7:echo hi,", b"999999999999:"),
    (EchoNetstrings, b"2:hi,", b"7:echo hi,", b"garbage"),
    (EchoInt16, b"\x00\x02hi", b"\x00\x07echo hi", b"\xff\xff" + b"z" * 10),
])
def test_bad_input_closes_only_the_offending_connection(reactor, spin, server, good, expected, bad):
    port = reactor.listenTCP(0, Factory.forProtocol(server), interface="127.0.0.1")
    number = port.getHost().port
    good_factory = ClientMaker(good)
    bad_factory = ClientMaker(bad)
    reactor.connectTCP("127.0.0.1", number, good_factory)
    reactor.connectTCP("127.0.0.1", number, bad_factory)
    spin(reactor, lambda: bad_factory.protocols and bad_factory.protocols[0].closed)
    spin(reactor, lambda: good_factory.protocols and good_factory.protocols[0].received == expected)
    good_client = good_factory.protocols[0]
    assert not good_client.closed
    good_client.transport.write(good)
    spin(reactor, lambda: good_client.received == expected * 2)
    assert not good_client.closed
    assert bad_factory.protocols[0].received == b""
    good_client.transport.loseConnection()
    spin(reactor, lambda: good_client.closed)
