"""The native face's type bundle: what the engine reports with when no Twisted is involved."""
import logging

from fastreactor import address, defer, error, failure

_logger = logging.getLogger("fastreactor")


class NativeAPI:
    """Types and hooks handed to the compiled engine by the native face."""

    Failure = failure.Failure
    Deferred = defer.Deferred
    DeferredList = defer.DeferredList
    succeed = staticmethod(defer.succeed)
    IPv4Address = address.IPv4Address
    IPv6Address = address.IPv6Address

    ConnectionDone = error.ConnectionDone
    ConnectionLost = error.ConnectionLost
    ConnectionAborted = error.ConnectionAborted
    AlreadyCalled = error.AlreadyCalled
    AlreadyCancelled = error.AlreadyCancelled
    CannotListenError = error.CannotListenError
    ConnectError = error.ConnectError
    ConnectBindError = error.ConnectBindError
    DNSLookupError = error.DNSLookupError
    TimeoutError = error.TimeoutError
    UserError = error.UserError
    NotConnectingError = error.NotConnectingError
    ServiceNameUnknownError = error.ServiceNameUnknownError
    ReactorNotRunning = error.ReactorNotRunning
    ReactorNotRestartable = error.ReactorNotRestartable
    ReactorAlreadyRunning = error.ReactorAlreadyRunning
    UnsupportedAddressFamily = error.UnsupportedAddressFamily
    UnsupportedSocketType = error.UnsupportedSocketType
    getConnectError = staticmethod(error.getConnectError)

    # The reasons of every clean close and every lost connection, shared as Twisted shares
    # twisted.internet.main.CONNECTION_DONE/CONNECTION_LOST (each close still gets its own Failure).
    CONNECTION_DONE = error.ConnectionDone("Connection done")
    CONNECTION_LOST = error.ConnectionLost("Connection lost")

    @property
    def Protocol(self):
        from fastreactor.protocol import Protocol
        return Protocol

    @staticmethod
    def logError(why):
        """Log the exception being handled, with its traceback, to the 'fastreactor' logger."""
        _logger.error(why, exc_info=True)

    @staticmethod
    def logMessage(message):
        _logger.info(message)

    @staticmethod
    def isHalfCloseable(protocol):
        """Duck-typed IHalfCloseableProtocol: the protocol defines readConnectionLost."""
        return callable(getattr(protocol, "readConnectionLost", None))


native_api = NativeAPI()
