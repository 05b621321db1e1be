"""
fastreactor.error against twisted.internet.error: same names, same class
hierarchy, same messages.
"""

import errno
import socket
import warnings

import pytest

from fastreactor import error

terror = pytest.importorskip("twisted.internet.error")

# The exception classes compared with Twisted's, restated here on purpose rather than taken from
# `error.__all__` (what is tested would then follow what is exported) or from Twisted's
# `__all__` (it leaves out five of them, NoProtocol and AlreadyListened among them);
# test_every_exported_exception_is_compared keeps this list and `error.__all__` together.
NAMES = [
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
    "ConnectionClosed",
    "ConnectionLost",
    "ConnectionAborted",
    "ConnectionDone",
    "FileDescriptorOverrun",
    "ConnectionFdescWentAway",
    "AlreadyCalled",
    "AlreadyCancelled",
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

# Constructor arguments that are valid for every class; a few classes need
# their own.
GENERIC_ARGS = [(), ("detail",), ("one", "two")]
SPECIAL_ARGS = {
    "CannotListenError": [
        ("", 80, OSError(98, "Address already in use")),
        ("127.0.0.1", 0, "boom"),
    ],
    "ConnectError": [(), (None, "why"), (111, "refused"), (OSError(1, "x"), "")],
    "ProcessDone": [(0,), (None,)],
    "ProcessTerminated": [(), (1,), (None, 9), (2, None, 512)],
    "ConnectingCancelledError": [("addr",)],
    "InvalidAddressError": [(b"1.2.3", "not an address")],
}
for _name in NAMES:
    if issubclass(getattr(terror, _name), terror.ConnectError):
        SPECIAL_ARGS.setdefault(_name, SPECIAL_ARGS["ConnectError"])


def mroNames(cls):
    return [(c.__module__ if c.__module__ == "builtins" else "-", c.__name__) for c in cls.__mro__]


@pytest.mark.parametrize("name", NAMES)
def test_hierarchy(name):
    ours = getattr(error, name)
    theirs = getattr(terror, name)
    assert mroNames(ours) == mroNames(theirs)
    assert ours.__module__ == "fastreactor.error"


@pytest.mark.parametrize("name", NAMES)
def test_messages(name):
    ours = getattr(error, name)
    theirs = getattr(terror, name)
    for args in SPECIAL_ARGS.get(name, GENERIC_ARGS):
        a, b = ours(*args), theirs(*args)
        assert str(a) == str(b), args
        assert a.args == b.args
        for attr in ("interface", "port", "socketError", "osError", "exitCode",
                     "signal", "status", "address", "message"):
            assert getattr(a, attr, "absent") == getattr(b, attr, "absent"), attr


@pytest.mark.parametrize("name", NAMES)
def test_message_attribute(name):
    ours = getattr(error, name)
    theirs = getattr(terror, name)
    if hasattr(theirs, "MESSAGE"):
        # Twisted keeps some MESSAGEs indented over several lines; the first
        # line is what its __str__ shows.
        assert ours.MESSAGE.strip().splitlines()[0] == theirs.MESSAGE.strip().splitlines()[0]
    else:
        assert not hasattr(ours, "MESSAGE")


def test_every_exported_exception_is_compared():
    exported = [name for name in error.__all__ if isinstance(getattr(error, name), type)
                and issubclass(getattr(error, name), Exception)
                and not issubclass(getattr(error, name), Warning)]
    assert sorted(exported) == sorted(NAMES)


def test_every_twisted_name_is_here():
    for name in terror.__all__:
        assert hasattr(error, name), name


def test_every_public_name_has_a_docstring():
    for name in error.__all__:
        obj = getattr(error, name)
        if isinstance(obj, dict):
            continue
        assert obj.__doc__ and obj.__doc__.strip(), name


def test_cannot_listen_error_names_interface_and_port():
    e = error.CannotListenError("", 8080, OSError(errno.EADDRINUSE, "in use"))
    assert str(e) == "Couldn't listen on any:8080: [Errno %d] in use." % errno.EADDRINUSE
    assert isinstance(e, error.BindError)
    assert (e.interface, e.port) == ("", 8080)


def test_shadowing_names_are_not_the_builtins():
    import builtins

    assert error.ConnectionRefusedError is not builtins.ConnectionRefusedError
    assert error.TimeoutError is not builtins.TimeoutError
    assert issubclass(error.TimeoutError, error.UserError)


def test_potential_zombie_warning_is_a_warning():
    assert issubclass(error.PotentialZombieWarning, Warning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn(error.PotentialZombieWarning.MESSAGE, error.PotentialZombieWarning)
    assert caught[0].category is error.PotentialZombieWarning


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ECONNREFUSED, "Connection refused"),
        OSError(errno.ENETUNREACH, "Network is unreachable"),
        OSError(errno.ETIMEDOUT, "Timed out"),
        OSError(errno.EHOSTUNREACH, "No route"),
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        OSError("just one arg"),
        OSError(1, 2, 3),
        (errno.ECONNREFUSED, "refused"),
        ValueError("x"),
    ],
)
def test_getConnectError(exc):
    ours = error.getConnectError(exc)
    theirs = terror.getConnectError(exc)
    assert type(ours).__name__ == type(theirs).__name__
    assert type(ours).__module__ == "fastreactor.error"
    assert str(ours) == str(theirs)
    assert ours.args == theirs.args
    assert ours.osError == theirs.osError
