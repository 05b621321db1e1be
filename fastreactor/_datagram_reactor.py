"""The reactor's datagram methods (IReactorUDP, IReactorMulticast, IReactorUNIXDatagram and
IReactorSocket.adoptDatagramPort), mixed into both faces' reactors. The port classes are class
attributes so that a face can use its own (the Twisted face declares Twisted's interfaces)."""
import socket


from fastreactor.udp import MulticastPort, Port
from fastreactor.unix_datagram import ConnectedDatagramPort, DatagramPort

# What a port calls on its protocol whatever happens (Twisted's own tests use protocols with only
# these); one lacking datagramReceived has each datagram it would get logged as an error.
DATAGRAM_PROTOCOL_METHODS = ("makeConnection", "doStop")


def _require_protocol(protocol, call):
    """Refuse a protocol lacking a method the port will call, naming it."""
    missing = [name for name in DATAGRAM_PROTOCOL_METHODS if not callable(getattr(protocol, name, None))]
    if missing:
        raise TypeError("%s: protocol %r lacks %s; subclass fastreactor.protocol.DatagramProtocol"
                        % (call, protocol, ", ".join(m + "()" for m in missing)))


def _check_packet_size(maxPacketSize, call):
    if isinstance(maxPacketSize, bool) or not isinstance(maxPacketSize, int) or maxPacketSize < 1:
        raise ValueError("%s: maxPacketSize must be an int >= 1, not %r" % (call, maxPacketSize))


class DatagramReactorMixin:
    """listenUDP, listenMulticast, listenUNIXDatagram, connectUNIXDatagram, adoptDatagramPort."""

    _udpPortClass = Port
    _multicastPortClass = MulticastPort
    _unixDatagramPortClass = DatagramPort
    _connectedUnixDatagramPortClass = ConnectedDatagramPort

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):
        """Bind UDP `port` (0: any free port, see getHost()) on `interface` ('' = every IPv4
        interface, '::' every IPv6 one; an IP literal, else InvalidAddressError) and run the
        DatagramProtocol `protocol` on it. Returns the port; CannotListenError if it cannot bind."""
        p = self._udpPortClass(port, protocol, interface, maxPacketSize, self)
        _check_packet_size(maxPacketSize, "listenUDP")
        _require_protocol(protocol, "listenUDP")
        p.startListening()
        return p

    def listenMulticast(self, port, protocol, interface="", maxPacketSize=8192, listenMultiple=False):
        """listenUDP for a port that can join multicast groups (joinGroup, setTTL, ...);
        `listenMultiple` lets several sockets bind the same port (SO_REUSEADDR, SO_REUSEPORT)."""
        p = self._multicastPortClass(port, protocol, interface, maxPacketSize, self, listenMultiple)
        _check_packet_size(maxPacketSize, "listenMulticast")
        _require_protocol(protocol, "listenMulticast")
        p.startListening()
        return p

    def listenUNIXDatagram(self, address, protocol, maxPacketSize=8192, mode=0o666):
        """Bind a UNIX datagram socket to the path `address` (permissions `mode`) and run
        `protocol` on it. CannotListenError if it cannot bind."""
        _check_packet_size(maxPacketSize, "listenUNIXDatagram")
        _require_protocol(protocol, "listenUNIXDatagram")
        p = self._unixDatagramPortClass(address, protocol, maxPacketSize, mode, self)
        p.startListening()
        return p

    def connectUNIXDatagram(self, address, protocol, maxPacketSize=8192, mode=0o666, bindAddress=None):
        """Connect a UNIX datagram socket (bound to `bindAddress` if given) to the path
        `address` and run the ConnectedDatagramProtocol `protocol` on it; a failure to bind or
        connect reaches `protocol.connectionFailed(reason)`. Returns the port."""
        _check_packet_size(maxPacketSize, "connectUNIXDatagram")
        _require_protocol(protocol, "connectUNIXDatagram")
        p = self._connectedUnixDatagramPortClass(address, protocol, maxPacketSize, mode, bindAddress, self)
        p.startListening()
        return p

    def adoptDatagramPort(self, fileDescriptor, addressFamily, protocol, maxPacketSize=8192):
        """Run `protocol` on a UDP socket that is already bound: `fileDescriptor` must be a
        non-blocking SOCK_DGRAM socket of `addressFamily` (AF_INET or AF_INET6, else
        UnsupportedAddressFamily). The port works on a duplicate: the caller keeps the original
        and may close it as soon as this returns. Returns the started port."""
        if addressFamily not in (socket.AF_INET, socket.AF_INET6):
            raise self._api.UnsupportedAddressFamily(addressFamily)
        _check_packet_size(maxPacketSize, "adoptDatagramPort")
        _require_protocol(protocol, "adoptDatagramPort")
        p = self._udpPortClass._fromListeningDescriptor(self, fileDescriptor, addressFamily,
                                                        protocol, maxPacketSize)
        p.startListening()
        return p
