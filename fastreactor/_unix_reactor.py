"""listenUNIX/connectUNIX (Twisted's IReactorUNIX) and AF_UNIX for adoptStreamPort/
adoptStreamConnection: a mixin placed before ReactorMixin in a reactor's bases. A face sets the
three class attributes to its own port, connector and transport classes."""
import socket

from fastreactor import _core
from fastreactor._base import SERVER_FACTORY_METHODS, CLIENT_FACTORY_METHODS
from fastreactor._stream import require_methods
from fastreactor.tcp import STREAM_FAMILIES
from fastreactor.unix import Connector, Port

__all__ = ["UNIXReactorMixin"]


def _check_timeout(timeout):
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or timeout < 0):
        raise ValueError("timeout must be None or a number >= 0, not %r" % (timeout,))


class UNIXReactorMixin:
    """IReactorUNIX: UNIX stream sockets on the engine's stream transport and accept loop."""

    _unixConnectionClass = _core.UNIXConnection
    _unixPortClass = Port
    _unixConnectorClass = Connector
    _streamFamilies = STREAM_FAMILIES + (socket.AF_UNIX,)

    def listenUNIX(self, address, factory, backlog=50, mode=0o666, wantPID=False):
        """Listen on the UNIX socket `address` (a path, or on Linux an abstract name starting
        with a NUL byte) with connections built by `factory`; returns the listening port.

        The socket file gets permissions `mode` and is removed when the port stops listening.
        `wantPID` takes the lock file `<address>.lock` first and removes a stale socket file a
        dead process left. CannotListenError if the address is in use (by a live listener, or a
        leftover file without `wantPID`), its directory does not exist, or the lock is held;
        TypeError/ValueError at the call for a bad address (too long for the platform, empty),
        backlog or mode.
        """
        if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 0:
            raise ValueError("backlog must be an int >= 0, not %r" % (backlog,))
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            raise ValueError("mode must be a permission int such as 0o666, not %r" % (mode,))
        require_methods(factory, SERVER_FACTORY_METHODS, "listenUNIX")
        p = self._unixPortClass(address, factory, backlog, mode, self, wantPID)
        p.startListening()
        return p

    def connectUNIX(self, address, factory, timeout=30, checkPID=False):
        """Connect to the UNIX socket `address` with `factory`; returns the connector. With
        `checkPID`, the attempt fails (BadFileError) unless a live process holds
        `<address>.lock`. The outcome reaches the factory as for connectTCP."""
        _check_timeout(timeout)
        require_methods(factory, CLIENT_FACTORY_METHODS, "connectUNIX")
        c = self._unixConnectorClass(address, factory, timeout, self, checkPID)
        c.connect()
        return c

    # ---- AF_UNIX for IReactorSocket (the hooks of ReactorMixin.adoptStream*) ---------------------

    def _adoptedPort(self, sock, family, factory):
        if family == socket.AF_UNIX:
            return self._unixPortClass._forAdoptedSocket(sock, factory, self)
        return super()._adoptedPort(sock, family, factory)

    def _adoptStreamTransport(self, sock, family, peer):
        if family == socket.AF_UNIX:
            return self._adoptedUNIXTransport(sock, peer)
        return super()._adoptStreamTransport(sock, family, peer)

    def _adoptedUNIXTransport(self, sock, peer):
        """The transport adoptStreamConnection runs on the AF_UNIX `sock` (taking its
        descriptor); a face may add its attributes."""
        return self._unixConnectionClass(self, sock.detach(), socket.AF_UNIX, peer)
