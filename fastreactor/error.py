"""
Exceptions a reactor raises or reports.

The names, base classes and messages are those of `twisted.internet.error`,
so code written against Twisted's exceptions reads the same here.  This module
has no dependency on Twisted.
"""

import errno
import socket


def _messageStr(self):
    """
    The message format shared by most classes here:
    `MESSAGE` or `MESSAGE: arg1 arg2`, followed by a full stop.
    """
    text = self.MESSAGE
    if self.args:
        text = "%s: %s" % (text, " ".join(self.args))
    return text + "."


def _firstLineStr(self):
    """
    The format of `ConnectionLost` and its subclasses: the first line of
    `MESSAGE`, then `: args` if any, then a full stop.
    """
    parts = self.MESSAGE.strip().splitlines()[:1]
    if self.args:
        parts.append(": ")
        parts.append(" ".join(self.args))
    parts.append(".")
    return "".join(parts)


class BindError(Exception):
    """
    An error occurred binding to an interface.
    """

    MESSAGE = "An error occurred binding to an interface"
    __str__ = _messageStr


class CannotListenError(BindError):
    """
    Raised when a port cannot start listening.

    `interface`: the interface that was to be listened on ("" for all).
    `port`: the port that was to be listened on.
    `socketError`: the exception raised by the attempt (usually an
        `OSError`).
    """

    def __init__(self, interface, port, socketError):
        BindError.__init__(self, interface, port, socketError)
        self.interface = interface
        self.port = port
        self.socketError = socketError

    def __str__(self):
        return "Couldn't listen on %s:%s: %s." % (
            self.interface or "any",
            self.port,
            self.socketError,
        )


class MulticastJoinError(Exception):
    """
    An attempt to join a multicast group failed.
    """


class MessageLengthError(Exception):
    """
    A message is too long to send.
    """

    MESSAGE = "Message is too long to send"
    __str__ = _messageStr


class DNSLookupError(IOError):
    """
    A host name could not be resolved.
    """

    MESSAGE = "DNS lookup failed"
    __str__ = _messageStr


class ConnectInProgressError(Exception):
    """
    A connect operation was started and is not done yet.
    """


class ConnectError(Exception):
    """
    An outgoing connection attempt failed.

    `osError`: the underlying error (an errno or an exception), or None.
    The message is `MESSAGE[: osError][: string].`
    """

    MESSAGE = "An error occurred while connecting"

    def __init__(self, osError=None, string=""):
        self.osError = osError
        Exception.__init__(self, string)

    def __str__(self):
        text = self.MESSAGE
        if self.osError:
            text = "%s: %s" % (text, self.osError)
        if self.args[0]:
            text = "%s: %s" % (text, self.args[0])
        return text + "."


class ConnectBindError(ConnectError):
    """
    The local address of an outgoing connection could not be bound.
    """

    MESSAGE = "Couldn't bind"


class UnknownHostError(ConnectError):
    """
    The host name of an outgoing connection could not be looked up.
    """

    MESSAGE = "Hostname couldn't be looked up"


class NoRouteError(ConnectError):
    """
    There is no route to the host of an outgoing connection.
    """

    MESSAGE = "No route to host"


class ConnectionRefusedError(ConnectError):
    """
    The other side refused the connection.

    This name shadows the builtin `ConnectionRefusedError`, as in Twisted.
    """

    MESSAGE = "Connection was refused by other side"


class TCPTimedOutError(ConnectError):
    """
    The TCP handshake of an outgoing connection timed out.
    """

    MESSAGE = "TCP connection timed out"


class BadFileError(ConnectError):
    """
    The file named for a UNIX socket connection is not usable.
    """

    MESSAGE = "File used for UNIX socket is no good"


class ServiceNameUnknownError(ConnectError):
    """
    A service name given as a port is unknown.
    """

    MESSAGE = "Service name given as port is unknown"


class UserError(ConnectError):
    """
    The user aborted the connection attempt.
    """

    MESSAGE = "User aborted connection"


class TimeoutError(UserError):
    """
    The connection attempt was abandoned after the caller's timeout.

    This name shadows the builtin `TimeoutError`, as in Twisted.
    """

    MESSAGE = "User timeout caused connection failure"


class SSLError(ConnectError):
    """
    A TLS error occurred while connecting.
    """

    MESSAGE = "An SSL error occurred"


class VerifyError(Exception):
    """
    Something that was supposed to be signed could not be verified.
    """

    MESSAGE = "Could not verify something that was supposed to be signed."


class PeerVerifyError(VerifyError):
    """
    The peer rejected our verification.
    """

    MESSAGE = "The peer rejected our verify error."


class CertificateError(Exception):
    """
    No certificate was found where one was expected.
    """

    MESSAGE = "We did not find a certificate where we expected to find one."


errnoMapping = {
    errno.ENETUNREACH: NoRouteError,
    errno.ECONNREFUSED: ConnectionRefusedError,
    errno.ETIMEDOUT: TCPTimedOutError,
}
if hasattr(errno, "WSAECONNREFUSED"):
    errnoMapping[errno.WSAECONNREFUSED] = ConnectionRefusedError
    errnoMapping[errno.WSAENETUNREACH] = NoRouteError


def getConnectError(e):
    """
    Translate a socket error into the `ConnectError` that reports it.

    `e`: an exception whose `args` are `(errno, message)` (an
        `OSError` or `socket.gaierror`), or such a pair itself.
    Returns: an instance of `UnknownHostError` for a `socket.gaierror`, of
        the class `errnoMapping` gives for the errno (`NoRouteError`,
        `ConnectionRefusedError`, `TCPTimedOutError`), or of
        `ConnectError`; built as `klass(errno, message)`.  When `e` does
        not hold exactly two arguments, `ConnectError(string=e)`.
    """
    args = e.args if isinstance(e, Exception) else e
    try:
        number, string = args
    except ValueError:
        return ConnectError(string=e)
    if isinstance(e, socket.gaierror):
        klass = UnknownHostError
    else:
        klass = errnoMapping.get(number, ConnectError)
    return klass(number, string)


class ConnectionClosed(Exception):
    """
    A connection was closed, cleanly or not.
    """


class ConnectionLost(ConnectionClosed):
    """
    The connection to the other side was lost in a non-clean fashion.
    """

    MESSAGE = "Connection to the other side was lost in a non-clean fashion"
    __str__ = _firstLineStr


class ConnectionAborted(ConnectionLost):
    """
    The connection was aborted locally, by `transport.abortConnection()`.
    """

    MESSAGE = "Connection was aborted locally using ITCPTransport.abortConnection"


class ConnectionDone(ConnectionClosed):
    """
    The connection was closed cleanly.
    """

    MESSAGE = "Connection was closed cleanly"
    __str__ = _messageStr


class FileDescriptorOverrun(ConnectionLost):
    """
    More file descriptors were sent over a UNIX connection than bytes were
    written with them, and the connection was closed.
    """

    MESSAGE = (
        "A mis-use of IUNIXTransport.sendFileDescriptor caused "
        "the connection to be closed."
    )


class ConnectionFdescWentAway(ConnectionLost):
    """
    The file descriptor of a connection went away.
    """

    MESSAGE = "Uh"


class AlreadyCalled(ValueError):
    """
    An attempt was made to cancel or reset a delayed call that already ran.
    """

    MESSAGE = "Tried to cancel an already-called event"
    __str__ = _messageStr


class AlreadyCancelled(ValueError):
    """
    An attempt was made to cancel or reset a delayed call that was already
    cancelled.
    """

    MESSAGE = "Tried to cancel an already-cancelled event"
    __str__ = _messageStr


class PotentialZombieWarning(Warning):
    """
    Warned when a child process is spawned while its exit cannot be reported
    (no SIGCHLD handling), so that it may linger as a zombie.

    Twisted removed this class; it is kept here for code that names it.
    """

    MESSAGE = (
        "spawnProcess called, but the SIGCHLD handler is not installed. "
        "This probably means you have not yet called reactor.run, or called "
        "reactor.run(installSignalHandler=0). You will probably never see "
        "this process finish, and it may become a zombie process."
    )


class ProcessDone(ConnectionDone):
    """
    A process ended without apparent errors (exit code 0).

    `exitCode`: always 0.
    `signal`: always None.
    `status`: the platform status the process ended with.
    """

    MESSAGE = "A process has ended without apparent errors"

    def __init__(self, status):
        Exception.__init__(self, "process finished with exit code 0")
        self.exitCode = 0
        self.signal = None
        self.status = status


class ProcessTerminated(ConnectionLost):
    """
    A process ended with a probable error condition.

    `exitCode`: the exit code, or None when a signal ended the process.
    `signal`: the signal that ended the process, or None.
    `status`: the platform status the process ended with.
    """

    MESSAGE = "A process has ended with a probable error condition"

    def __init__(self, exitCode=None, signal=None, status=None):
        self.exitCode = exitCode
        self.signal = signal
        self.status = status
        text = "process ended"
        if exitCode is not None:
            text += " with exit code %s" % (exitCode,)
        if signal is not None:
            text += " by signal %s" % (signal,)
        Exception.__init__(self, text)


class ProcessExitedAlready(Exception):
    """
    The process has already exited; the requested operation cannot be done.
    """


class NotConnectingError(RuntimeError):
    """
    A connector was asked to stop connecting while it was not connecting.
    """

    MESSAGE = "The Connector was not connecting when it was asked to stop connecting"
    __str__ = _messageStr


class NotListeningError(RuntimeError):
    """
    A port was asked to stop listening while it was not listening.
    """

    MESSAGE = "The Port was not listening when it was asked to stop listening"
    __str__ = _messageStr


class ReactorNotRunning(RuntimeError):
    """
    Raised when stopping a reactor that is not running.
    """


class ReactorNotRestartable(RuntimeError):
    """
    Raised when running a reactor that was already stopped.
    """


class ReactorAlreadyRunning(RuntimeError):
    """
    Raised when starting a reactor that is already running.
    """


class ReactorAlreadyInstalledError(AssertionError):
    """
    Raised when installing a reactor while one is already installed.
    """


class ConnectingCancelledError(Exception):
    """
    A connection attempt was cancelled before it connected.

    `address`: the destination address of the cancelled attempt.
    """

    def __init__(self, address):
        Exception.__init__(self, address)
        self.address = address


class NoProtocol(Exception):
    """
    A factory returned None from `buildProtocol` where a protocol was
    required.
    """


class UnsupportedAddressFamily(Exception):
    """
    A socket of an address family the reactor does not support was used.
    """


class UnsupportedSocketType(Exception):
    """
    A socket of a type (stream, datagram, ...) the reactor does not support
    was used.
    """


class AlreadyListened(Exception):
    """
    A file descriptor that can be listened on only once was listened on
    again.
    """


class InvalidAddressError(ValueError):
    """
    An address was invalid (neither IPv4 nor IPv6, or one where the other was
    expected).

    `address`: the address given.
    `message`: what was wrong with it.
    """

    def __init__(self, address, message):
        self.address = address
        self.message = message


__all__ = [
    "BindError",
    "CannotListenError",
    "MulticastJoinError",
    "MessageLengthError",
    "DNSLookupError",
    "ConnectInProgressError",
    "ConnectError",
    "ConnectBindError",
    "UnknownHostError",
    "NoRouteError",
    "ConnectionRefusedError",
    "TCPTimedOutError",
    "BadFileError",
    "ServiceNameUnknownError",
    "UserError",
    "TimeoutError",
    "SSLError",
    "VerifyError",
    "PeerVerifyError",
    "CertificateError",
    "getConnectError",
    "errnoMapping",
    "ConnectionClosed",
    "ConnectionLost",
    "ConnectionAborted",
    "ConnectionDone",
    "FileDescriptorOverrun",
    "ConnectionFdescWentAway",
    "AlreadyCalled",
    "AlreadyCancelled",
    "PotentialZombieWarning",
    "ProcessDone",
    "ProcessTerminated",
    "ProcessExitedAlready",
    "NotConnectingError",
    "NotListeningError",
    "ReactorNotRunning",
    "ReactorNotRestartable",
    "ReactorAlreadyRunning",
    "ReactorAlreadyInstalledError",
    "ConnectingCancelledError",
    "NoProtocol",
    "UnsupportedAddressFamily",
    "UnsupportedSocketType",
    "AlreadyListened",
    "InvalidAddressError",
]
