"""The contract between the compiled engine (`fastreactor._core`) and a face.

The engine names no face: it reports with, and calls back into, only what a face hands it through
`Loop._bindFace(api, shutdown_hook, selectable_failed_hook)`. This module says what each of those
must be; `fastreactor._native.NativeAPI` and `fastreactor.twisted._api.TwistedAPI` are the two
bundles that fulfil it, and `fastreactor._base.ReactorMixin._initReactor` binds them. It is
documentation and a check (`check_api`), as Twisted's `interfaces.py` is for reactors; nothing
in the engine imports it.

What the engine calls on user objects is Twisted's protocol contract, not part of this one:
`factory.buildProtocol(address)`, `protocol.makeConnection(transport)`, `dataReceived(data)`,
`connectionLost(reason)`, `readConnectionLost()`/`writeConnectionLost()` on half-closeable
protocols, producers' `pauseProducing`/`resumeProducing`/`stopProducing`, the connector's
`connectionLost(reason)`, and a Python selectable's `fileno()`/`doRead()`/`doWrite()`.
"""

__all__ = ["EngineAPI", "EngineHooks", "check_api"]


class EngineAPI:
    """What a face's type bundle (`Loop.api`) provides. The engine reads these attributes when it
    needs them, so a face may build the types lazily.

    Types the engine makes values of:

    - `Failure(exception)`: the reason passed to connectionLost and connectors; the face's
      Failure class (Twisted's, or fastreactor.failure.Failure).
    - `IPv4Address(type, host, port)`, `IPv6Address(type, host, port, flowInfo, scopeID)`,
      `UNIXAddress(name)`: the addresses transports and ports report (`name` is a str path,
      bytes for a Linux abstract name, or None for an unnamed socket).
    - `Protocol`: a protocol class with no behaviour, given to a connection whose factory's
      buildProtocol returned None so that it can be closed as usual.
    - `CONNECTION_DONE`, `CONNECTION_LOST`: the shared exception instances of a clean close and
      of a lost connection (as twisted.internet.main shares them).
    - `ConnectionAborted`, and the other error types of `fastreactor._apibundle.ERROR_TYPES`.

    Hooks the engine calls:

    - `logError(why)`: log the exception being handled, with its traceback, prefixed by the str
      `why`. Called only inside an `except` block; the engine ignores anything it raises.
    - `logMessage(message)`: log an informational line (accept errors, EMFILE recovery).
    - `isHalfCloseable(protocol)`: whether `protocol` wants readConnectionLost/
      writeConnectionLost instead of a full close at the peer's EOF.
    """

    REQUIRED = ("Failure", "IPv4Address", "IPv6Address", "UNIXAddress", "Protocol",
                "CONNECTION_DONE", "CONNECTION_LOST", "ConnectionAborted", "logError",
                "logMessage", "isHalfCloseable")


class EngineHooks:
    """The two callables a reactor hands the engine beside its `api` bundle.

    - `shutdown_hook()`: called by the main loop, between iterations, once after `stop()`; the
      face fires its "shutdown" system event from it.
    - `selectable_failed_hook(selectable, why, isRead)`: a Python selectable registered with
      addReader/addWriter returned a true value or raised from doRead (`isRead` True) or doWrite;
      `why` is that value or exception. The face removes the selectable and calls its
      connectionLost, as Twisted's `_disconnectSelectable` does.
    """


def check_api(api):
    """Raise TypeError naming what `api` lacks of EngineAPI.REQUIRED; return `api`."""
    missing = [name for name in EngineAPI.REQUIRED if not hasattr(api, name)]
    if missing:
        raise TypeError("%r lacks %s, which the engine needs (see fastreactor._contract)"
                        % (api, ", ".join(missing)))
    return api
