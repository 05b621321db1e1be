"""Datagram ports for the Twisted face: the engine's UDP and UNIX datagram ports, declaring
Twisted's interfaces (IListeningPort, IUDPTransport, IMulticastTransport,
IUNIXDatagramTransport, ...) and reporting with Twisted's address types and log prefixes."""
from zope.interface import implementer

from twisted.internet import address
from twisted.internet.interfaces import (
    IListeningPort,
    ILoggingContext,
    IMulticastTransport,
    ISystemHandle,
    IUDPTransport,
    IUNIXDatagramConnectedTransport,
    IUNIXDatagramTransport,
)
from twisted.python import reflect

from fastreactor.twisted._fdcompat import log_prefix
from fastreactor.udp import MulticastPort, Port
from fastreactor.unix_datagram import ConnectedDatagramPort, DatagramPort


@implementer(IListeningPort, IUDPTransport, ISystemHandle, ILoggingContext)
class UDPPort(Port):
    """What FastReactor.listenUDP returns: a UDP port behaving as Twisted's udp.Port."""

    def _protocolLogPrefix(self):
        return log_prefix(self.protocol)


@implementer(IListeningPort, IUDPTransport, IMulticastTransport, ISystemHandle, ILoggingContext)
class UDPMulticastPort(MulticastPort):
    """What FastReactor.listenMulticast returns: Twisted's udp.MulticastPort behaviour."""

    def _protocolLogPrefix(self):
        return log_prefix(self.protocol)


@implementer(IListeningPort, IUNIXDatagramTransport, ISystemHandle, ILoggingContext)
class UNIXDatagramPort(DatagramPort):
    """What FastReactor.listenUNIXDatagram returns (Twisted's unix.DatagramPort behaviour)."""

    _addressClass = address.UNIXAddress

    def setLogStr(self):
        self.logstr = reflect.qual(self.protocol.__class__) + " (UDP)"


@implementer(IListeningPort, IUNIXDatagramConnectedTransport, ISystemHandle, ILoggingContext)
class ConnectedUNIXDatagramPort(ConnectedDatagramPort):
    """What FastReactor.connectUNIXDatagram returns (Twisted's unix.ConnectedDatagramPort)."""

    _addressClass = address.UNIXAddress

    def setLogStr(self):
        self.logstr = reflect.qual(self.protocol.__class__) + " (UDP)"
