"""The native face's type bundle: what the engine reports with when no Twisted is involved."""
import logging

from fastreactor import address, defer, error, failure
from fastreactor._apibundle import with_error_types

_logger = logging.getLogger("fastreactor")


@with_error_types(error)
class NativeAPI:
    """Types and hooks handed to the compiled engine by the native face (and the error types of
    fastreactor.error, see _apibundle)."""

    Failure = failure.Failure
    Deferred = defer.Deferred
    DeferredList = defer.DeferredList
    succeed = staticmethod(defer.succeed)
    IPv4Address = address.IPv4Address
    IPv6Address = address.IPv6Address
    UNIXAddress = address.UNIXAddress

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
