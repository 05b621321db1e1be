"""The Twisted face's type bundle: the engine reports with Twisted's own Failure, Deferred, error
and address types, and logs through twisted.python.log (so trial's flushLoggedErrors sees errors)."""
from twisted.internet import address, defer, error, main
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.python import failure, log

from fastreactor._apibundle import with_error_types


@with_error_types(error)
class TwistedAPI:
    """Types and hooks handed to the compiled engine and the reactor mixin by FastReactor.

    It has the same attributes as fastreactor._native.NativeAPI, filled with Twisted's classes.
    """

    Failure = failure.Failure
    Deferred = defer.Deferred
    DeferredList = defer.DeferredList
    succeed = staticmethod(defer.succeed)
    IPv4Address = address.IPv4Address
    IPv6Address = address.IPv6Address
    UNIXAddress = address.UNIXAddress

    CONNECTION_DONE = main.CONNECTION_DONE    # the very objects Twisted's transports report with
    CONNECTION_LOST = main.CONNECTION_LOST

    @property
    def Protocol(self):
        from twisted.internet.protocol import Protocol
        return Protocol

    @staticmethod
    def logError(why):
        """Log the exception being handled (call it inside an except block) as a Twisted error."""
        log.err(None, why)

    @staticmethod
    def logMessage(message):
        log.msg(message)

    isHalfCloseable = staticmethod(IHalfCloseableProtocol.providedBy)


twisted_api = TwistedAPI()
