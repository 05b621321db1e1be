"""What the UNIX stream socket tests share: fresh socket paths, a protocol that records the bytes
and descriptors it receives in order, a factory that keeps the protocols it builds, and a raw
`sendmsg` carrying descriptors."""
import array
import os
import socket
import tempfile

from fastreactor.protocol import Factory, Protocol


def socket_path():
    """A fresh path for a socket file in a new temporary directory (short: sun_path is small)."""
    return os.path.join(tempfile.mkdtemp(prefix="fru"), "s")


class Collect(Protocol):
    """Records what arrives in `events`, in order: ('data', bytes), and with `CollectFDs`
    ('fd', fd, bytes received before it); `reason` is the connectionLost reason."""

    def __init__(self):
        self.events = []
        self.received = 0
        self.reason = None

    def dataReceived(self, data):
        self.events.append(("data", data))
        self.received += len(data)

    def connectionLost(self, reason):
        self.reason = reason

    def data(self):
        """Every byte received so far."""
        return b"".join(e[1] for e in self.events if e[0] == "data")

    def fds(self):
        """The ('fd', fd, offset) events so far."""
        return [e for e in self.events if e[0] == "fd"]


class CollectFDs(Collect):
    """`Collect` that also accepts the descriptors passed to it, recording each in `events`."""

    def fileDescriptorReceived(self, fd):
        self.events.append(("fd", fd, self.received))


class Keeping(Factory):
    """Builds a `protocol_class()` for each connection and appends it to the list `built`."""

    def __init__(self, protocol_class, built):
        self.protocol_class = protocol_class
        self.built = built

    def buildProtocol(self, addr):
        p = self.protocol_class()
        p.factory = self
        self.built.append(p)
        return p


def send_with_fds(sock, data, fds):
    """One `sendmsg` on `sock`: `data` with `fds` in one SCM_RIGHTS control message."""
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())])


def identity(fd):
    """(device, inode) of what `fd` is open on: the same file under another descriptor number."""
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)
