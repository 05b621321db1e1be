"""The listening sockets of `fastreactor serve`, opened by the supervisor and inherited by workers.

For each TCP `--listen` endpoint the supervisor binds the socket(s) itself and keeps them open
for its whole life; workers adopt them (`reactor.adoptStreamPort`). On Linux with more than one
worker there is one socket per worker slot, all bound to the same address with SO_REUSEPORT, so
the kernel spreads connections over the slots; elsewhere one socket is shared by every worker.
Because the supervisor holds every socket, a worker that dies or is replaced never closes one:
connections the kernel queued on it wait in its backlog for the next worker of that slot instead
of being reset.

Other endpoint types (unix:, ssl:) are listened on by the worker itself through
`fastreactor.endpoints` (one worker only).
"""
import socket
import sys

from fastreactor import endpoints

SHAREABLE_TYPES = ("tcp", "tcp6")


class ListenError(Exception):
    """A `--listen` endpoint that cannot be opened; the message names it."""


def per_slot_sockets():
    """True where each worker slot gets its own SO_REUSEPORT socket (Linux), False where all
    workers share one."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def endpoint_type(description):
    """The type word of an endpoint description ("tcp" for "tcp:8000")."""
    args, _ = endpoints._parse(description)
    return args[0] if args else ""


def check(description):
    """Parse `description` as a server endpoint (EndpointStringError naming the part if it does
    not parse); returns its type word."""
    endpoints.serverFromString(None, description)
    return endpoint_type(description)


class Listener:
    """One TCP `--listen` endpoint: `sockets[slot]` for each worker slot (the same socket object
    in every slot when shared), bound to (`interface`, `port`)."""

    def __init__(self, description, slots):
        self.description = description
        endpoint = endpoints.serverFromString(None, description)
        self.interface = endpoint._interface
        self.backlog = endpoint._backlog
        self.family = socket.AF_INET6 if endpoint_type(description) == "tcp6" else socket.AF_INET
        self.port = endpoint._port
        self.sockets = []
        try:
            if per_slot_sockets() and slots > 1:
                for _ in range(slots):
                    sock = self._bind(reuse_port=True)
                    self.port = sock.getsockname()[1]    # port 0: the rest join the first's port
                    self.sockets.append(sock)
            else:
                sock = self._bind(reuse_port=False)
                self.port = sock.getsockname()[1]
                self.sockets = [sock] * slots
        except BaseException:
            self.close()
            raise

    def _bind(self, reuse_port):
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if self.family == socket.AF_INET6:
                address = socket.getaddrinfo(self.interface, self.port, self.family,
                                             socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)[0][4]
            else:
                address = (self.interface, self.port)
            sock.bind(address)
            sock.listen(self.backlog)
            sock.setblocking(False)
        except OSError as e:
            sock.close()
            raise ListenError("cannot listen on %s (%s port %s): %s"
                              % (self.description, self.interface or "*", self.port, e)) from None
        return sock

    def socket_for(self, slot):
        return self.sockets[slot]

    def close(self):
        for sock in set(self.sockets):
            sock.close()
        self.sockets = []
