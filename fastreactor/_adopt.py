"""The one check of a descriptor handed to the reactor by adoptStreamPort,
adoptStreamConnection or adoptDatagramPort (IReactorSocket): the reactor works on a duplicate,
checked to be the kind of socket the call needs, and leaves the caller's descriptor alone."""
import errno
import os
import socket

__all__ = ["adopt_socket", "family_name"]


def family_name(family):
    """The name of an address family (AF_INET, ...), for error messages."""
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return "family %r" % (family,)


def _type_name(kind):
    try:
        return socket.SocketKind(kind).name
    except ValueError:
        return "type %r" % (kind,)


def adopt_socket(fileDescriptor, addressFamily, socketType, call, check=None):
    """A socket.socket on a duplicate of `fileDescriptor`, checked to be what `call` needs.

    The caller keeps `fileDescriptor` (open, untouched) and may close it as soon as this returns;
    the returned socket owns only the duplicate (close-on-exec). Checks, in this order, each
    failing with nothing left open: an int (TypeError); an open descriptor (OSError EBADF) of a
    socket (OSError ENOTSOCK); of `socketType` (SOCK_STREAM, SOCK_DGRAM: ValueError) and
    `addressFamily` (ValueError); non-blocking (ValueError: the engine never blocks, and
    O_NONBLOCK is shared with the caller's descriptor so it is not changed here); last
    `check(sock, call, fileDescriptor)` if given, which raises to refuse the socket.
    """
    if isinstance(fileDescriptor, bool) or not isinstance(fileDescriptor, int):
        raise TypeError("%s: fileDescriptor must be an int, not %s"
                        % (call, type(fileDescriptor).__name__))
    fd = os.dup(fileDescriptor)
    try:
        sock = socket.socket(fileno=fd)
    except OSError as e:
        os.close(fd)
        if e.errno == errno.ENOTSOCK:
            raise OSError(e.errno, "%s: descriptor %d is not a socket (%s)"
                          % (call, fileDescriptor, e.strerror)) from None
        raise
    except BaseException:
        os.close(fd)
        raise
    try:
        if sock.type != socketType:
            raise ValueError("%s: descriptor %d is not a %s socket (type %r)"
                             % (call, fileDescriptor, _type_name(socketType), sock.type))
        if sock.family != addressFamily:
            raise ValueError("%s: descriptor %d is of family %s, not %s"
                             % (call, fileDescriptor, family_name(sock.family),
                                family_name(addressFamily)))
        if os.get_blocking(fd):
            raise ValueError("%s: descriptor %d is in blocking mode; set it non-blocking first "
                             "(sock.setblocking(False))" % (call, fileDescriptor))
        if check is not None:
            check(sock, call, fileDescriptor)
    except BaseException:
        sock.close()
        raise
    return sock
