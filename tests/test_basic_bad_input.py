"""Framing receivers given something that is not bytes (a str, an int, None) raise TypeError at
once, keep nothing of it, and go on parsing the bytes that follow. Bytes-like objects
(bytearray, memoryview) are accepted, as Twisted's `buffer + data` accepts them."""
import struct

import pytest

from fastreactor import basic
from fake_transport import connect

BAD = ["a str", 5, None, 3.5, ["list"]]


def receiver(cls, callback):
    """A connected `cls` receiver whose `callback` ("stringReceived", "lineReceived") appends
    to its `strings` list."""
    class R(cls):
        def connectionMade(self):
            self.strings = []

    setattr(R, callback, lambda self, string: self.strings.append(string))
    return connect(R())


def strings_receiver(cls):
    return receiver(cls, "stringReceived")


INT_N = {"Int8": (basic.Int8StringReceiver, "!B"), "Int16": (basic.Int16StringReceiver, "!H"),
         "Int32": (basic.Int32StringReceiver, "!I")}


def framed(fmt, payload):
    return struct.pack(fmt, len(payload)) + payload


@pytest.mark.parametrize("bad", BAD, ids=lambda b: type(b).__name__)
@pytest.mark.parametrize("kind", sorted(INT_N))
@pytest.mark.parametrize("where", ["empty buffer", "mid-string"])
def test_int_n_receiver_refuses_non_bytes_and_keeps_parsing(kind, bad, where):
    cls, fmt = INT_N[kind]
    r = strings_receiver(cls)
    message = framed(fmt, b"hello")
    if where == "mid-string":
        r.dataReceived(message[:3])
    with pytest.raises(TypeError):
        r.dataReceived(bad)
    if where == "mid-string":
        r.dataReceived(message[3:])
    else:
        r.dataReceived(message)
    r.dataReceived(framed(fmt, b"again"))
    assert r.strings == [b"hello", b"again"]
    assert r.transport.lost == 0


@pytest.mark.parametrize("kind", sorted(INT_N))
def test_int_n_receiver_accepts_bytes_like(kind):
    cls, fmt = INT_N[kind]
    r = strings_receiver(cls)
    message = framed(fmt, b"hello")
    r.dataReceived(bytearray(message[:2]))
    r.dataReceived(memoryview(message[2:]))
    r.dataReceived(bytearray(framed(fmt, b"x")))
    assert r.strings == [b"hello", b"x"]


def test_the_error_names_the_type():
    r = strings_receiver(basic.Int32StringReceiver)
    r.dataReceived(b"\x00")
    with pytest.raises(TypeError, match="str"):
        r.dataReceived("abc")
    assert r._unprocessed == b"\x00"


def test_bad_input_from_inside_string_received_does_not_wedge():
    """A re-entrant dataReceived (from stringReceived) with bad input raises into the callback;
    the outer call and later input still parse."""
    fmt = "!I"
    errors = []

    class R(basic.Int32StringReceiver):
        def connectionMade(self):
            self.strings = []

        def stringReceived(self, string):
            self.strings.append(string)
            if string == b"first":
                try:
                    self.dataReceived("not bytes")
                except TypeError as e:
                    errors.append(e)

    r = connect(R())
    r.dataReceived(framed(fmt, b"first") + framed(fmt, b"second"))
    r.dataReceived(framed(fmt, b"third"))
    assert r.strings == [b"first", b"second", b"third"]
    assert len(errors) == 1


@pytest.mark.parametrize("bad", BAD, ids=lambda b: type(b).__name__)
@pytest.mark.parametrize("cls", [basic.LineReceiver, basic.LineOnlyReceiver],
                         ids=lambda c: c.__name__)
def test_line_receivers_refuse_non_bytes_and_keep_parsing(cls, bad):
    r = receiver(cls, "lineReceived")
    r.dataReceived(b"hel")
    with pytest.raises(TypeError):
        r.dataReceived(bad)
    r.dataReceived(b"lo\r\nagain\r\n")
    assert r.strings == [b"hello", b"again"]


@pytest.mark.parametrize("bad", BAD, ids=lambda b: type(b).__name__)
def test_netstring_receiver_refuses_non_bytes_and_keeps_parsing(bad):
    r = strings_receiver(basic.NetstringReceiver)
    r.dataReceived(b"5:he")
    with pytest.raises(TypeError):
        r.dataReceived(bad)
    r.dataReceived(b"llo,5:again,")
    assert r.strings == [b"hello", b"again"]
    assert r.transport.lost == 0
