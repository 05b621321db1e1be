"""UNIX stream sockets: what listenUNIX/connectUNIX add to the shared stream machinery
(fastreactor._stream): socket paths and Linux abstract names, the socket file's mode, the
`wantPID`/`checkPID` lock file, and UNIX addresses.

The accept loop and the connection transport are compiled (`_core.StreamPort`,
`_core.UNIXConnection`, which adds descriptor passing and peer credentials).

Addresses are a path (str or bytes, stored as bytes as Twisted's UNIXAddress stores them) or, on
Linux, an abstract-namespace name: bytes or str starting with a NUL byte. An abstract name has
no file, so `mode`, the lock file and removing the socket file do not apply to it.
"""
import errno
import os
import socket
import stat
import sys

from fastreactor._pidlock import PIDLock, is_locked
from fastreactor._stream import Connecting as StreamConnecting
from fastreactor._stream import Connector as StreamConnector
from fastreactor._stream import ListeningPort

__all__ = ["Port", "Connector", "Connecting", "unix_name", "is_abstract", "MAX_NAME_LENGTH"]

CONNECT_RETRY_DELAY = 0.01
"""Seconds between connection attempts while the listener's backlog is full (EAGAIN)."""

MAX_NAME_LENGTH = 108 if sys.platform.startswith("linux") else 104
"""The size of sockaddr_un's sun_path here: the longest name (in bytes, an abstract name's
leading NUL included) a UNIX socket can have."""


def unix_name(address, call):
    """`address` (a str or bytes path, or abstract name) as bytes, or a clear error naming `call`:
    TypeError for another type, ValueError for an empty name, one with a NUL byte inside a path,
    or one longer than the platform allows."""
    if isinstance(address, str):
        name = os.fsencode(address)
    elif isinstance(address, (bytes, bytearray)):
        name = bytes(address)
    elif isinstance(address, os.PathLike):
        name = os.fsencode(address)
    else:
        raise TypeError("%s: address must be a str or bytes path, not %s" % (call, type(address).__name__))
    if not name:
        raise ValueError("%s: the address is empty" % (call,))
    if not is_abstract(name) and b"\0" in name:
        raise ValueError("%s: the path %r contains a NUL byte" % (call, name))
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError("%s: the address %r is %d bytes long; UNIX socket names are limited to %d "
                         "bytes here" % (call, name, len(name), MAX_NAME_LENGTH))
    return name


def is_abstract(name):
    """Whether `name` is a Linux abstract-namespace name (no file in the file system)."""
    return name[:1] in (b"\0", "\0")


def _display(name):
    """A name as text for log lines and reprs (as Twisted shows it)."""
    return os.fsdecode(name) if isinstance(name, bytes) else name


class Port(ListeningPort):
    """A listening UNIX stream socket (IListeningPort): getHost(), startListening(),
    stopListening().

    Port(address, factory, backlog=50, mode=0o666, reactor=None, wantPID=False). The socket file
    is created with permissions `mode` (after the umask: it is chmod-ed once bound) and removed
    when the port stops listening. With `wantPID`, the port first takes the lock file
    `<address>.lock` (CannotListenError if a live process holds it); a lock left by a dead process
    means its socket file is stale, and that file is removed (only if it is a socket) before
    binding. Without `wantPID`, an existing socket file makes binding fail (CannotListenError),
    as in Twisted.
    """

    lockFile = None

    def __init__(self, address, factory, backlog=50, mode=0o666, reactor=None, wantPID=False):
        super().__init__(factory, reactor, reactor._unixConnectionClass)
        self.port = self._bindPath = unix_name(address, "listenUNIX")
        self.backlog = backlog
        self.mode = mode
        self.wantPID = wantPID

    def __repr__(self):
        if self.socket is not None and self.connected:
            return "<%s of %s on %r>" % (type(self).__name__, type(self.factory).__name__,
                                         _display(self._bindPath))
        return "<%s of %s (not listening)>" % (type(self).__name__, type(self.factory).__name__)

    def _bindSocket(self):
        api = self.reactor._api
        path = self._bindPath
        in_file_system = not is_abstract(path)
        if self.wantPID and in_file_system:
            self._takeLock(path)
        bound = False
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(path)
                bound = True
                if in_file_system:
                    os.chmod(path, self.mode)
                sock.listen(self.backlog)
                sock.setblocking(False)
            except BaseException:
                sock.close()
                if bound and in_file_system:
                    _remove(path)
                raise
        except OSError as e:
            self._releaseLock()
            raise api.CannotListenError(None, path, e) from None
        except BaseException:
            self._releaseLock()
            raise
        return sock

    def _takeLock(self, path):
        lock = PIDLock(path + b".lock")
        try:
            taken = lock.lock()
        except OSError as e:
            raise self.reactor._api.CannotListenError(None, path, e) from None
        if not taken:
            raise self.reactor._api.CannotListenError(None, path, "Cannot acquire lock")
        self.lockFile = lock
        if not lock.clean:
            # The lock's owner died: the socket file it left is stale. Remove it only if it is a
            # socket (a typo must not delete a regular file).
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    os.unlink(path)
            except OSError:
                pass

    def _releaseLock(self):
        lock, self.lockFile = self.lockFile, None
        if lock is not None:
            try:
                lock.unlock()
            except (OSError, ValueError):
                pass

    @classmethod
    def _forAdoptedSocket(cls, sock, factory, reactor):
        """A port for adoptStreamPort: not yet started; `sock` is bound and listening. Its
        address is the name the socket is bound to; as in Twisted, that file is removed when the
        port stops listening."""
        name = sock.getsockname()
        port = cls(name if name else b"\0", factory, None, None, reactor)
        if not name:
            port.port = port._bindPath = b""
        return port

    def _logAddress(self):
        return repr(_display(self._bindPath))

    def getHost(self):
        """The address the port listens on (a UNIXAddress)."""
        if self.socket is not None and self.socket.fileno() >= 0:
            return self.reactor._api.UNIXAddress(self.socket.getsockname() or None)
        return self.reactor._api.UNIXAddress(self._bindPath or None)

    def _closed(self):
        """The socket is closed: remove its file and release the lock."""
        if self._bindPath and not is_abstract(self._bindPath):
            _remove(self._bindPath)
        self._releaseLock()


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class Connecting(StreamConnecting):
    """A UNIX connection attempt: the socket is made now, as Twisted's client makes it, and
    connected on the next iteration. With `checkPID`, the attempt fails with BadFileError unless
    a live process holds `<address>.lock`."""

    def __init__(self, address, checkPID, connector, reactor):
        self.address = address
        self.checkPID = checkPID
        super().__init__(connector, reactor)

    def _begin(self):
        api = self.reactor._api
        if self.checkPID and not is_abstract(self.address) and not is_locked(self.address + b".lock"):
            self.reactor.callLater(0, self.failIfNotConnected, api.BadFileError(self.address))
            return
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
        except OSError as e:
            self.reactor.callLater(0, self.failIfNotConnected, api.getConnectError(e))
            return
        self.socket = sock
        self.reactor.callLater(0, self.startConnecting, sock, self.address)

    _retry = None

    def startConnecting(self, sock, address):
        if self.socket is not sock:
            sock.close()
            return
        self.socket = None
        super().startConnecting(sock, address)

    def doConnect(self):
        """Connect; a UNIX connect completes at once or fails, except that a listener whose
        backlog is full says EAGAIN. An unconnected UNIX socket is always writable, so waiting
        for writability would spin: try again after CONNECT_RETRY_DELAY instead (until connected,
        refused, or the connector's timeout)."""
        self._retry = None
        if self.connector is None or self.disconnected:
            return None
        err = self.socket.connect_ex(self.realAddress)
        if err in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINPROGRESS, errno.EALREADY, errno.EINTR):
            self.reactor.removeWriter(self)
            self._retry = self.reactor.callLater(CONNECT_RETRY_DELAY, self.doConnect)
            return None
        if err not in (0, errno.EISCONN):
            self.failIfNotConnected(self.reactor._api.getConnectError((err, os.strerror(err))))
            return None
        self.connectDone()
        return None

    doWrite = doConnect
    doRead = doConnect

    def failIfNotConnected(self, err):
        retry, self._retry = self._retry, None
        if retry is not None and retry.active():
            retry.cancel()
        super().failIfNotConnected(err)

    def _peerAddress(self):
        """The address connected to, as given (what Twisted's UNIX client reports)."""
        return self.reactor._api.UNIXAddress(self.address)

    def getHost(self):
        """The client's own address: unnamed (UNIXAddress(None))."""
        return self.reactor._api.UNIXAddress(None)

    def getPeer(self):
        return self.reactor._api.UNIXAddress(self.address)


class Connector(StreamConnector):
    """Twisted's IConnector for connectUNIX (see _stream.Connector)."""

    _connectingClass = Connecting   # the transport while connecting (a face may substitute its own)

    def __init__(self, address, factory, timeout, reactor, checkPID=False):
        super().__init__(factory, timeout, reactor)
        self.address = unix_name(address, "connectUNIX")
        self.checkPID = checkPID

    def _makeConnecting(self):
        return self._connectingClass(self.address, self.checkPID, self, self.reactor)

    def _makeTransport(self, fd, family):
        return self.reactor._unixConnectionClass(self.reactor, fd, family,
                                                 self.reactor._api.UNIXAddress(self.address))

    def getDestination(self):
        """The address being connected to (a UNIXAddress)."""
        return self.reactor._api.UNIXAddress(self.address)
