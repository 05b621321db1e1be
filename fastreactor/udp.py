"""UDP ports: the Python side of listenUDP, listenMulticast and adoptDatagramPort.

The reading and sending are compiled (`_core.DatagramSocket`, shared with UNIX datagram sockets);
this module makes and binds the socket, runs the protocol's start/stop (Twisted's order:
bind, log, `protocol.makeConnection(port)` which calls `doStart`, then read; on stop, one
iteration later: log, `protocol.doStop()`, close, fire the Deferred) and holds the socket options.
"""
import errno
import socket
import struct

from fastreactor import _core
from fastreactor._adopt import adopt_socket
from fastreactor.tcp import check_port_number, isIPAddress, isIPv6Address

__all__ = ["Port", "MulticastPort"]


def _numeric_address(host, port, family):
    """The socket address for an IP literal (an IPv6 one keeps its %scope)."""
    if family == socket.AF_INET6:
        return socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM, 0,
                                  socket.AI_NUMERICHOST)[0][4]
    return (host, port)


class Port(_core.DatagramSocket):
    """A UDP socket (IListeningPort, IUDPTransport): what listenUDP returns.

    `write(datagram, addr)` sends one datagram to `addr`, a (host, port) tuple whose host is an
    IP address literal of the port's family (InvalidAddressError otherwise; "<broadcast>" on IPv4);
    after `connect(host, port)` the address may be left out. `stopListening()` returns a Deferred
    that fires once the protocol's doStop ran and the socket is closed (on the next iteration).
    Datagrams reach `protocol.datagramReceived(data, (host, port))`. See `_core.DatagramSocket`
    for reads, batching and write errors.
    """

    addressFamily = socket.AF_INET
    socketType = socket.SOCK_DGRAM
    maxThroughput = 256 * 1024     # bytes of receive buffers per readiness at most (informational)
    _preexistingSocket = None

    def __init__(self, port, proto, interface="", maxPacketSize=8192, reactor=None):
        super().__init__(reactor, proto)
        self.port = port
        self.interface = interface
        self.reactor = reactor
        self.maxPacketSize = maxPacketSize
        self.socket = None
        self.connected = 0
        self.disconnected = 0
        self._realPortNumber = None
        self._connectedAddr = None
        self._closing = False
        self._stopDeferreds = []
        self._setAddressFamily()
        self.setLogStr()

    def _setAddressFamily(self):
        api = self.reactor._api
        if not isinstance(self.interface, str):
            raise TypeError("interface must be a str, not %s" % (type(self.interface).__name__,))
        if isIPv6Address(self.interface):
            self.addressFamily = socket.AF_INET6
        elif isIPAddress(self.interface):
            self.addressFamily = socket.AF_INET
        elif self.interface:
            raise api.InvalidAddressError(self.interface, "not an IPv4 or IPv6 address.")

    @classmethod
    def _fromListeningDescriptor(cls, reactor, fd, addressFamily, protocol, maxPacketSize):
        """A port for adoptDatagramPort, on a duplicate of `fd` (bound, non-blocking)."""
        sock = adopt_socket(fd, addressFamily, socket.SOCK_DGRAM, "adoptDatagramPort")
        try:
            port = cls(None, protocol, interface=sock.getsockname()[0], reactor=reactor,
                       maxPacketSize=maxPacketSize)
        except BaseException:
            sock.close()
            raise
        port._preexistingSocket = sock
        return port

    def __repr__(self):
        if self._realPortNumber is not None:
            return "<%s on %s>" % (self.protocol.__class__, self._realPortNumber)
        return "<%s not connected>" % (self.protocol.__class__,)

    # ---- starting -------------------------------------------------------------------------------

    def startListening(self):
        """Bind (CannotListenError if that fails), start the protocol, read."""
        self._bindSocket()
        self._connectToProtocol()

    def _createSocket(self):
        sock = socket.socket(self.addressFamily, self.socketType)
        sock.setblocking(False)
        return sock

    def _bindSocket(self):
        api = self.reactor._api
        if self._preexistingSocket is None:
            check_port_number(self.port, "listenUDP")
            try:
                sock = self._createSocket()
                try:
                    sock.bind(_numeric_address(self.interface, self.port, self.addressFamily))
                except BaseException:
                    sock.close()
                    raise
            except (OSError, OverflowError) as e:
                raise api.CannotListenError(self.interface, self.port, e) from None
        else:
            sock, self._preexistingSocket = self._preexistingSocket, None
        self._realPortNumber = sock.getsockname()[1]
        api.logMessage("%s starting on %s" % (self._protocolLogPrefix(), self._realPortNumber))
        self.connected = 1
        self.socket = sock

    _deliverAddress = True      # datagramReceived(data, addr); False: datagramReceived(data)

    def _connectToProtocol(self):
        """Hand the port to `protocol.makeConnection` (which starts the protocol), then read. If
        makeConnection raises, the socket is closed and the error propagates."""
        self.reactor._ports.add(self)
        self._useSocket(self.socket.fileno(), self.socket.family, self._deliverAddress)
        try:
            self.protocol.makeConnection(self)
        except BaseException:
            self._abandon()
            raise
        if self.connected and not self._closing:
            self.startReading()

    def _abandon(self):
        """Close without stopping the protocol (it never started)."""
        self.reactor._ports.discard(self)
        self._stopReading()
        self.connected = 0
        self._realPortNumber = None
        if self.socket is not None:
            self.socket.close()

    # ---- stopping -------------------------------------------------------------------------------

    def stopListening(self):
        """Stop reading now and close on the next iteration: `protocol.doStop()` (stopProtocol
        for the protocol's last port), close the socket, then fire the returned Deferred."""
        api = self.reactor._api
        self.stopReading()
        if not self.connected:
            return api.succeed(None)
        d = api.Deferred()
        self._stopDeferreds.append(d)
        if not self._closing:
            self._closing = True
            self.reactor.callLater(0, self.connectionLost)
        return d

    def loseConnection(self):
        """Same as stopListening() (Twisted deprecates it for ports)."""
        return self.stopListening()

    def _closedMessage(self):
        return "(UDP Port %s Closed)" % (self._realPortNumber,)

    def connectionLost(self, reason=None):
        """Close now: stop reading, `protocol.doStop()`, close the socket, fire the Deferreds of
        stopListening. Called by stopListening and at reactor shutdown; a second call does nothing."""
        if not self.connected:
            return
        api = self.reactor._api
        api.logMessage(self._closedMessage())
        self._realPortNumber = None
        self.connected = 0
        self.disconnected = 1
        self._stopReading()
        self.reactor._ports.discard(self)
        try:
            protocol = self.protocol
            if protocol is not None:
                protocol.doStop()
        finally:
            if self.socket is not None:
                self.socket.close()
            deferreds, self._stopDeferreds = self._stopDeferreds, []
            for d in deferreds:
                d.callback(None)

    # ---- addresses and options --------------------------------------------------------------------

    def connect(self, host, port):
        """'Connect' to `host` (an IP literal) and `port`: only its datagrams are received and
        write() needs no address; ICMP port-unreachable then reaches protocol.connectionRefused()."""
        api = self.reactor._api
        if self._connectedAddr:
            raise RuntimeError("already connected, reconnecting is not currently supported")
        if not isIPAddress(host) and not isIPv6Address(host):
            raise api.InvalidAddressError(host, "not an IPv4 or IPv6 address.")
        self._sendQueuedReplies()       # to their own addresses, before the socket is connected
        self.socket.connect(_numeric_address(host, port, self.addressFamily))
        self._connectedAddr = (host, port)
        self._setConnected((host, port))

    def getHost(self):
        """The local address: IPv4Address or IPv6Address of type "UDP"."""
        api = self.reactor._api
        address = self.socket.getsockname()
        if self.addressFamily == socket.AF_INET6:
            return api.IPv6Address("UDP", *address[:2])
        return api.IPv4Address("UDP", *address)

    def getHandle(self):
        """The socket.socket of this port (owned by the port: do not close it)."""
        return self.socket

    def setBroadcastAllowed(self, enabled):
        """Allow (True) or forbid sending to broadcast addresses (SO_BROADCAST; off by default)."""
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, bool(enabled))

    def getBroadcastAllowed(self):
        """Whether this port may send to broadcast addresses."""
        return bool(self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST))

    # ---- logging --------------------------------------------------------------------------------

    def _protocolLogPrefix(self):
        prefix = getattr(self.protocol, "logPrefix", None)
        return prefix() if callable(prefix) else type(self.protocol).__name__

    def setLogStr(self):
        """Set `logstr`, what logPrefix() returns: the protocol's prefix and " (UDP)"."""
        self.logstr = "%s (UDP)" % (self._protocolLogPrefix(),)

    def logPrefix(self):
        return self.logstr


class MulticastPort(Port):
    """A UDP port that can join multicast groups (IMulticastTransport): what listenMulticast
    returns. With `listenMultiple`, SO_REUSEADDR and SO_REUSEPORT are set so that several ports
    (in this or other processes) can bind the same group port."""

    def __init__(self, port, proto, interface="", maxPacketSize=8192, reactor=None,
                 listenMultiple=False):
        super().__init__(port, proto, interface, maxPacketSize, reactor)
        self.listenMultiple = listenMultiple

    def _createSocket(self):
        sock = super()._createSocket()
        if self.listenMultiple:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                except OSError as e:
                    if e.errno != errno.ENOPROTOOPT:
                        raise
        return sock

    @property
    def _ipproto(self):
        return socket.IPPROTO_IP if self.addressFamily == socket.AF_INET else socket.IPPROTO_IPV6

    def _pack(self, address):
        api = self.reactor._api
        try:
            return socket.inet_pton(self.addressFamily, address)
        except (OSError, TypeError, ValueError):
            raise api.MulticastJoinError("invalid address literal for %s: %r"
                                         % (socket.AddressFamily(self.addressFamily).name, address))

    def _resolved(self, host):
        """A Deferred firing with `host` as an IP literal (resolved unless it is one)."""
        if isIPAddress(host) or isIPv6Address(host):
            return self.reactor._api.succeed(host)
        return self.reactor.resolve(host)

    def _joinLeave(self, addr, interface, join):
        api = self.reactor._api
        if self.addressFamily == socket.AF_INET:
            command = socket.IP_ADD_MEMBERSHIP if join else socket.IP_DROP_MEMBERSHIP
            interface = interface or "0.0.0.0"
        else:
            command = socket.IPV6_JOIN_GROUP if join else socket.IPV6_LEAVE_GROUP
            interface = interface or "::"

        def apply(results):
            group, local = results
            packed = self._pack(group)
            if self.addressFamily == socket.AF_INET:
                request = packed + self._pack(local)
            else:
                # ipv6_mreq: the group and an interface index (0: the kernel's choice).
                request = packed + struct.pack("@I", self._interfaceIndex(local))
            try:
                self.socket.setsockopt(self._ipproto, command, request)
            except OSError as e:
                raise api.MulticastJoinError(addr, interface, *e.args) from e
            return None

        d = self._resolved(addr)
        if self.addressFamily == socket.AF_INET:
            d.addCallback(lambda group: self._resolved(interface).addCallback(
                lambda local: (group, local)))
        else:
            d.addCallback(lambda group: (group, interface))
        d.addCallback(apply)
        return d

    def _interfaceIndex(self, interface):
        """An IPv6 interface as an index: an int as it is, an IPv6 literal (or nothing) as 0
        (the kernel chooses), an interface name by its index; else MulticastJoinError."""
        if isinstance(interface, int):
            return interface
        if not interface or isIPv6Address(interface):
            return 0
        try:
            return socket.if_nametoindex(interface)
        except (OSError, TypeError, ValueError):
            raise self.reactor._api.MulticastJoinError(
                "invalid IPv6 interface (an IPv6 address, index or name): %r" % (interface,)) from None

    def joinGroup(self, addr, interface=""):
        """Join the multicast group `addr` on `interface` (default: the kernel's choice). A
        Deferred firing with None, or failing with MulticastJoinError."""
        return self._joinLeave(addr, interface, True)

    def leaveGroup(self, addr, interface=""):
        """Leave the multicast group `addr`. A Deferred, as joinGroup."""
        return self._joinLeave(addr, interface, False)

    def getOutgoingInterface(self):
        """The interface multicast datagrams leave by: an IPv4 address string, or an IPv6
        interface index."""
        if self.addressFamily == socket.AF_INET:
            return socket.inet_ntop(socket.AF_INET,
                                    self.socket.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4))
        return self.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF)

    def setOutgoingInterface(self, addr):
        """Send multicast datagrams by `addr`: an IPv4 address (resolved if a name) or an IPv6
        interface index. A Deferred firing with 1."""
        api = self.reactor._api
        if self.addressFamily == socket.AF_INET6:
            if not isinstance(addr, int):
                raise TypeError("IPv6 interfaces are specified as integers")
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, addr)
            return api.succeed(1)
        if not isinstance(addr, str):
            raise TypeError("IPv4 interfaces are specified as addresses")

        def apply(address):
            self.socket.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, self._pack(address))
            return 1

        return self._resolved(addr).addCallback(apply)

    def getLoopbackMode(self):
        """Whether this host's own multicast datagrams are looped back to it."""
        name = socket.IP_MULTICAST_LOOP if self.addressFamily == socket.AF_INET else socket.IPV6_MULTICAST_LOOP
        return bool(self.socket.getsockopt(self._ipproto, name))

    def setLoopbackMode(self, mode):
        """Loop this host's own multicast datagrams back to it (true) or not."""
        name = socket.IP_MULTICAST_LOOP if self.addressFamily == socket.AF_INET else socket.IPV6_MULTICAST_LOOP
        self.socket.setsockopt(self._ipproto, name, int(bool(mode)))

    def getTTL(self):
        """The time to live (hop limit) of multicast datagrams sent."""
        if self.addressFamily == socket.AF_INET6:
            return self.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS)
        return self.socket.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL)

    def setTTL(self, ttl):
        """Set the time to live (hop limit, 0..255) of multicast datagrams sent."""
        if self.addressFamily == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ttl)
        else:
            self.socket.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, struct.pack("B", ttl))
