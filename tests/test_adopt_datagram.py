"""adoptDatagramPort refuses a descriptor that is not a non-blocking datagram socket of the
declared family, with the same errors (types and messages) as adoptStreamPort and
adoptStreamConnection (one check, fastreactor/_adopt.py; the stream side is pinned in
tests/test_tcp_adopt.py), on both faces, leaving nothing open or watched."""
import errno
import gc
import os
import socket

import pytest

import fastreactor
import fastreactor.protocol

twisted_protocol = pytest.importorskip("twisted.internet.protocol")

from fastreactor.twisted import FastReactor  # noqa: E402


class Recorder(fastreactor.protocol.DatagramProtocol):
    """Notes every call the port makes on it: a refused socket must cause none."""

    def __init__(self):
        self.events = []

    def makeConnection(self, transport):
        self.events.append("makeConnection")

    def doStop(self):
        self.events.append("doStop")

    def datagramReceived(self, data, addr):
        self.events.append("datagramReceived")


@pytest.fixture(params=["native", "twisted"])
def reactor(request, poller):
    r = fastreactor.Reactor(poller) if request.param == "native" else FastReactor(poller)
    yield r
    r.close()


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def refused(reactor, fd, family, exception, match):
    """adoptDatagramPort(fd, family, protocol) raises `exception` matching `match`, and opened,
    called and watched nothing. Returns the exception."""
    proto = Recorder()
    gc.collect()
    before = open_fds()
    with pytest.raises(exception, match=match) as info:
        reactor.adoptDatagramPort(fd, family, proto)
    assert open_fds() == before
    assert proto.events == []
    assert reactor.getReaders() == []
    return info.value


pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")


def test_descriptor_must_be_an_int(reactor):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    refused(reactor, s, socket.AF_INET, TypeError,
            "adoptDatagramPort: fileDescriptor must be an int, not socket")
    s.close()


def test_non_socket_descriptor_is_refused_naming_it(reactor):
    read_end, write_end = os.pipe()
    error = refused(reactor, read_end, socket.AF_INET, OSError,
                    "adoptDatagramPort: descriptor %d is not a socket" % (read_end,))
    assert error.errno == errno.ENOTSOCK
    os.close(read_end)
    os.close(write_end)


def test_closed_descriptor_is_refused(reactor):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fd = s.fileno()
    s.close()
    error = refused(reactor, fd, socket.AF_INET, OSError, None)
    assert error.errno == errno.EBADF


def test_stream_socket_is_refused(reactor):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    refused(reactor, s.fileno(), socket.AF_INET, ValueError,
            "descriptor %d is not a SOCK_DGRAM socket" % (s.fileno(),))
    s.close()


def test_socket_of_another_family_is_refused_naming_both(reactor):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    refused(reactor, s.fileno(), socket.AF_INET6, ValueError,
            "descriptor %d is of family AF_INET, not AF_INET6" % (s.fileno(),))
    s.close()


def test_blocking_socket_is_refused(reactor):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    refused(reactor, s.fileno(), socket.AF_INET, ValueError,
            r"is in blocking mode; set it non-blocking first \(sock.setblocking\(False\)\)")
    assert s.getblocking()     # the caller's descriptor is left as it was
    s.close()


def test_a_good_socket_is_adopted_on_a_duplicate(reactor):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    proto = Recorder()
    port = reactor.adoptDatagramPort(s.fileno(), socket.AF_INET, proto)
    assert port.fileno() != s.fileno()
    assert port.getHost().port == s.getsockname()[1]
    assert proto.events == ["makeConnection"]
    port.stopListening()
    s.close()
