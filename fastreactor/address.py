"""
Addresses of connection endpoints.

Value objects shaped like `twisted.internet.address`: same constructor
arguments, same reprs, equality and hashing by value.  They are immutable
(assigning an attribute raises `AttributeError`) and use `__slots__`, so a
reactor can make one per connection cheaply.  No dependency on Twisted.
"""

import os
import sys

__all__ = ["IPv4Address", "IPv6Address", "UNIXAddress", "HostnameAddress"]

_TRANSPORT_TYPES = ("TCP", "UDP")
_set = object.__setattr__


def _checkType(type):
    if type not in _TRANSPORT_TYPES:
        raise ValueError("'type' must be in ['TCP', 'UDP'] (got %r)" % (type,))


class _ValueAddress:
    """
    Base of the addresses compared, hashed and ordered by the tuple of their
    fields (`_fields`), only with instances of exactly the same class.
    """

    __slots__ = ()
    _fields = ()

    def __setattr__(self, name, value):
        raise AttributeError("%s is immutable" % (type(self).__name__,))

    def __delattr__(self, name):
        raise AttributeError("%s is immutable" % (type(self).__name__,))

    def _key(self):
        return tuple([getattr(self, name) for name in self._fields])

    def __repr__(self):
        return "%s(%s)" % (
            type(self).__name__,
            ", ".join("%s=%r" % (name, getattr(self, name)) for name in self._fields),
        )

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()

    def __ne__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() != other._key()

    def __lt__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() < other._key()

    def __le__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() <= other._key()

    def __gt__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() > other._key()

    def __ge__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() >= other._key()

    def __hash__(self):
        return hash((self.__class__.__name__,) + self._key())

    def __reduce__(self):
        return (type(self), self._key())

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


class IPv4Address(_ValueAddress):
    """
    The address of an IPv4 socket endpoint.

    `type`: `"TCP"` or `"UDP"`.
    `host`: the dotted-quad address, e.g. `"127.0.0.1"`.
    `port`: the port number.
    """

    __slots__ = ("type", "host", "port")
    _fields = __slots__

    def __init__(self, type, host, port):
        """
        Raises `ValueError`: `type` is neither `"TCP"` nor `"UDP"`.
        """
        if type != "TCP" and type != "UDP":
            _checkType(type)
        _set(self, "type", type)
        _set(self, "host", host)
        _set(self, "port", port)


class IPv6Address(_ValueAddress):
    """
    The address of an IPv6 socket endpoint.

    `type`: `"TCP"` or `"UDP"`.
    `host`: the colon-separated hexadecimal address, e.g. `"::1"`.
    `port`: the port number.
    `flowInfo`: the IPv6 flow label.
    `scopeID`: the scope identifier (roughly, the interface).
    """

    __slots__ = ("type", "host", "port", "flowInfo", "scopeID")
    _fields = __slots__

    def __init__(self, type, host, port, flowInfo=0, scopeID=0):
        """
        Raises `ValueError`: `type` is neither `"TCP"` nor `"UDP"`.
        """
        if type != "TCP" and type != "UDP":
            _checkType(type)
        _set(self, "type", type)
        _set(self, "host", host)
        _set(self, "port", port)
        _set(self, "flowInfo", flowInfo)
        _set(self, "scopeID", scopeID)


class HostnameAddress(_ValueAddress):
    """
    The address of an endpoint named by host name.

    `hostname`: the host name, as bytes (e.g. `b"example.com"`).
    `port`: the port number.
    """

    __slots__ = ("hostname", "port")
    _fields = __slots__

    def __init__(self, hostname, port):
        _set(self, "hostname", hostname)
        _set(self, "port", port)


class UNIXAddress:
    """
    The address of a UNIX socket endpoint.

    `name`: the socket's path as bytes (a `str` is encoded with the
        file system encoding), or None for an unnamed socket.  Linux
        abstract-namespace names start with a NUL byte.

    Two addresses are equal when their names are, or when both name the
    same existing file.  The hash is that of the file's inode when it
    exists, else of the name.  The repr shows the name as text.
    """

    __slots__ = ("name",)

    def __init__(self, name):
        if name is not None and not isinstance(name, bytes):
            name = name.encode(sys.getfilesystemencoding(), "surrogateescape")
        _set(self, "name", name)

    def __setattr__(self, name, value):
        raise AttributeError("UNIXAddress is immutable")

    def __delattr__(self, name):
        raise AttributeError("UNIXAddress is immutable")

    def __eq__(self, other):
        if not isinstance(other, self.__class__):
            return NotImplemented
        if self.name == other.name:
            return True
        if self.name and other.name:
            try:
                return os.path.samefile(self.name, other.name)
            except (OSError, TypeError, ValueError):
                # Missing files, and abstract names (os.path rejects NUL).
                pass
        return False

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self):
        if self.name is None:
            return hash((self.__class__, None))
        try:
            st = os.stat(self.name)
        except (OSError, TypeError, ValueError):
            return hash(self.name)
        return hash((st.st_ino, st.st_dev))

    def __repr__(self):
        name = self.name
        if name is not None:
            name = name.decode(sys.getfilesystemencoding(), "surrogateescape")
        return "UNIXAddress(%r)" % (name,)

    def __reduce__(self):
        return (UNIXAddress, (self.name,))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self
