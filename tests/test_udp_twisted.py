"""The datagram ports on the Twisted face: the interfaces they declare (checked with
verifyObject), Twisted's types, and errors logged through Twisted's log."""
import socket

import pytest

pytest.importorskip("twisted")

from twisted.internet import address, interfaces  # noqa: E402
from twisted.internet.protocol import ConnectedDatagramProtocol, DatagramProtocol  # noqa: E402
from twisted.python import log  # noqa: E402
from zope.interface.verify import verifyObject  # noqa: E402

from fastreactor.twisted import FastReactor  # noqa: E402

from conftest import run_until  # noqa: E402


@pytest.fixture
def twisted_reactor(poller):
    r = FastReactor(poller)
    yield r
    r.disconnectAll()
    r.close()


def test_the_reactor_provides_the_datagram_interfaces(twisted_reactor):
    for interface in (interfaces.IReactorUDP, interfaces.IReactorMulticast,
                      interfaces.IReactorUNIXDatagram, interfaces.IReactorSocket):
        assert verifyObject(interface, twisted_reactor)


def test_ports_provide_twisted_interfaces(twisted_reactor, tmp_path):
    udp = twisted_reactor.listenUDP(0, DatagramProtocol(), interface="127.0.0.1")
    for interface in (interfaces.IListeningPort, interfaces.IUDPTransport, interfaces.ISystemHandle,
                      interfaces.ILoggingContext):
        assert verifyObject(interface, udp)
    assert isinstance(udp.getHost(), address.IPv4Address) and udp.getHost().type == "UDP"
    multicast = twisted_reactor.listenMulticast(0, DatagramProtocol(), interface="127.0.0.1")
    assert verifyObject(interfaces.IMulticastTransport, multicast)
    unix = twisted_reactor.listenUNIXDatagram(str(tmp_path / "u"), DatagramProtocol())
    assert verifyObject(interfaces.IUNIXDatagramTransport, unix)
    assert unix.getHost() == address.UNIXAddress(str(tmp_path / "u"))
    connected = twisted_reactor.connectUNIXDatagram(str(tmp_path / "u"), ConnectedDatagramProtocol())
    assert verifyObject(interfaces.IUNIXDatagramConnectedTransport, connected)
    assert isinstance(connected.getPeer(), address.UNIXAddress)


def test_a_raising_datagram_received_is_logged_to_twisted_and_the_port_goes_on(twisted_reactor):
    errors = []

    def observer(event):
        if event.get("isError"):
            errors.append(event)

    class Fragile(DatagramProtocol):
        def __init__(self):
            self.received = []

        def datagramReceived(self, data, addr):
            self.received.append(data)
            if data == b"bad":
                raise ZeroDivisionError("bad datagram")

    proto = Fragile()
    port = twisted_reactor.listenUDP(0, proto, interface="127.0.0.1")
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    log.addObserver(observer)
    try:
        for data in (b"bad", b"good"):
            peer.sendto(data, ("127.0.0.1", port.getHost().port))
        run_until(twisted_reactor, lambda: len(proto.received) == 2)
    finally:
        log.removeObserver(observer)
    peer.close()
    assert proto.received == [b"bad", b"good"]
    assert len(errors) == 1 and errors[0]["failure"].check(ZeroDivisionError)
