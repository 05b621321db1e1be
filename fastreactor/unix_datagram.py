"""UNIX datagram sockets: the Python side of listenUNIXDatagram and connectUNIXDatagram, on the
same compiled datagram transport as UDP (`_core.DatagramSocket`)."""
import os
import socket

from fastreactor import address
from fastreactor.udp import Port

__all__ = ["DatagramPort", "ConnectedDatagramPort"]


def _in_filesystem(path):
    """False for a Linux abstract-namespace name (a leading NUL), else True."""
    return not (path[:1] in ("\0", b"\0"))


class DatagramPort(Port):
    """A UNIX datagram socket bound to the path `addr` (created with permissions `mode`; None or
    an empty name: unbound). `write(datagram, path)` sends to the socket at `path`; datagrams
    reach `protocol.datagramReceived(data, senderPath)` (None for an unbound sender, bytes for an
    abstract-namespace name). stopListening() closes it; the file at the path is left in place,
    as Twisted leaves it."""

    addressFamily = socket.AF_UNIX
    _addressClass = address.UNIXAddress

    def __init__(self, addr, proto, maxPacketSize=8192, mode=0o666, reactor=None):
        super().__init__(addr, proto, maxPacketSize=maxPacketSize, reactor=reactor)
        self.mode = mode

    def _setAddressFamily(self):
        self.addressFamily = socket.AF_UNIX

    def __repr__(self):
        name = "%s.%s" % (type(self.protocol).__module__, type(self.protocol).__name__)
        if self.connected:
            return "<%s on %r>" % (name, self.port)
        return "<%s (not listening)>" % (name,)

    def _bindSocket(self):
        api = self.reactor._api
        api.logMessage("%s starting on %r" % (self.protocol.__class__, self.port))
        try:
            sock = self._createSocket()
            try:
                if self.port:
                    sock.bind(self.port)
            except BaseException:
                sock.close()
                raise
        except (OSError, TypeError, ValueError) as e:
            raise api.CannotListenError(None, self.port, e) from None
        if self.port and _in_filesystem(self.port):
            os.chmod(self.port, self.mode)
        self.connected = 1
        self.socket = sock

    def _closedMessage(self):
        return "(Port %r Closed)" % (self.port,)

    def setLogStr(self):
        """`logstr`: the protocol class's qualified name and " (UDP)", as Twisted says."""
        cls = type(self.protocol)
        self.logstr = "%s.%s (UDP)" % (cls.__module__, cls.__name__)

    def getHost(self):
        """The bound address, a UNIXAddress (its name None when unbound)."""
        name = self.socket.getsockname()
        return self._addressClass(name or None)


class ConnectedDatagramPort(DatagramPort):
    """A UNIX datagram socket connected to the path `addr` (bound first to `bindAddress` if
    given, so that the peer can answer). Its protocol (a ConnectedDatagramProtocol) gets
    `datagramReceived(data)` and `connectionRefused()`; if binding or connecting fails,
    `protocol.connectionFailed(reason)` is called and the port closes."""

    _deliverAddress = False

    def __init__(self, addr, proto, maxPacketSize=8192, mode=0o666, bindAddress=None, reactor=None):
        super().__init__(bindAddress, proto, maxPacketSize, mode, reactor)
        self.remoteaddr = addr

    def startListening(self):
        """Bind, connect and start the protocol; a failure goes to connectionFailed."""
        try:
            self._bindSocket()
            self.socket.connect(self.remoteaddr)
            self._setConnected(self.remoteaddr)
            self._connectToProtocol()
        except BaseException:
            self.connectionFailed(self.reactor._api.Failure())

    def connectionFailed(self, reason):
        """Binding or connecting failed: close and tell the protocol."""
        self.stopListening()
        protocol, self.protocol = self.protocol, None
        protocol.connectionFailed(reason)

    def getPeer(self):
        """The address connected to, a UNIXAddress."""
        return self._addressClass(self.remoteaddr)
