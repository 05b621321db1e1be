"""What the two faces' type bundles share: the error types the engine and the reactor mixin raise
or report, taken by name from the face's own error module."""

ERROR_TYPES = (
    "ConnectionDone", "ConnectionLost", "ConnectionAborted", "AlreadyCalled", "AlreadyCancelled",
    "CannotListenError", "ConnectError", "ConnectBindError", "DNSLookupError", "TimeoutError",
    "UserError", "NotConnectingError", "ServiceNameUnknownError", "ReactorNotRunning",
    "ReactorNotRestartable", "ReactorAlreadyRunning", "UnsupportedAddressFamily",
    "UnsupportedSocketType", "MessageLengthError", "InvalidAddressError", "MulticastJoinError",
    "ProcessDone", "ProcessTerminated", "ProcessExitedAlready",
    "FileDescriptorOverrun", "BadFileError",    # UNIX sockets (descriptor passing, checkPID)
)


def with_error_types(error_module):
    """Class decorator: give the bundle each of ERROR_TYPES from `error_module`, and its
    getConnectError (the OSError -> ConnectError mapping)."""
    def fill(bundle):
        for name in ERROR_TYPES:
            setattr(bundle, name, getattr(error_module, name))
        bundle.getConnectError = staticmethod(error_module.getConnectError)
        return bundle
    return fill
