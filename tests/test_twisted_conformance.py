"""Twisted's own reactor test suites, run against fastreactor.twisted.FastReactor.

Twisted's ReactorBuilder makes one TestCase class per reactor named in ReactorBuilder._reactors; we
set that list to FastReactor before the suites are imported, take the classes they build, and
collect them here. Twisted's modules that test with the global reactor (or none) run as they are,
with FastReactor installed as the global reactor.

Every test that is skipped on FastReactor but not on EPollReactor is listed in SKIPS with its reason.
`python tools/conformance_skips.py` runs these suites on both reactors and lists any that is not
(see tests/README.md); run it after adding a module to MODULES. A ReactorBuilder class whose
`requiredInterfaces` FastReactor does not provide is skipped with the reason in NOT_YET, and
collection fails for a missing interface that NOT_YET does not name, so nothing skips silently.

Twisted's `TestCase.mktemp()` makes its directories under the current directory (trial runs in
`_trial_temp/`); here every test runs with a fresh temporary directory as its current directory.

FR_CONFORMANCE_REACTOR=twisted.internet.epollreactor.EPollReactor runs the same suites on Twisted's
epoll reactor, for comparison (nothing is skipped then but what Twisted itself skips).
"""
import os
import sys
import unittest

import pytest

pytest.importorskip("twisted")

from twisted.internet import interfaces  # noqa: E402
from twisted.internet.test import reactormixins  # noqa: E402
from twisted.trial.unittest import SynchronousTestCase  # noqa: E402

from fastreactor.twisted import FastReactor  # noqa: E402
from fastreactor.twisted.testing import builder_for_fastreactor  # noqa: E402

FAST = "fastreactor.twisted.FastReactor"
REACTOR = os.environ.get("FR_CONFORMANCE_REACTOR", FAST)

MODULES = [
    "twisted.internet.test.test_core",
    "twisted.internet.test.test_time",
    "twisted.internet.test.test_threads",
    "twisted.internet.test.test_tcp",
    "twisted.internet.test.test_protocol",
    "twisted.internet.test.test_base",
    "twisted.internet.test.test_unix",     # UNIX stream and datagram sockets
    "twisted.internet.test.test_tls",
    "twisted.internet.test.test_udp",
    "twisted.internet.test.test_process",
    # Older suites that run on the global reactor (FastReactor, installed here).
    "twisted.test.test_internet",
    "twisted.test.test_tcp",
    "twisted.test.test_udp",
    "twisted.test.test_unix",
]

# Reactor interfaces FastReactor does not provide yet -> why (the issue that adds them). An entry
# only applies while the interface is missing: once FastReactor declares it (say IReactorUDP), the
# tests listed below with needs(IReactorUDP) and the ReactorBuilder classes requiring it run.
NOT_YET = {
    interfaces.IReactorSSL: "IReactorSSL: issue 11 (TLS), not built yet",
    interfaces.IReactorUNIXDatagram: "IReactorUNIXDatagram: issue 17 (datagrams), not built yet",
    interfaces.IReactorUDP: "IReactorUDP: issue 17 (datagrams), not built yet",
    interfaces.IReactorMulticast: "IReactorMulticast: issue 17 (datagrams), not built yet",
}


class needs:
    """A SKIPS entry that applies only while FastReactor does not provide `interface`.

    `why` overrides NOT_YET's reason (for a test that Twisted skips for want of something the same
    issue brings, e.g. `ITLSTransport` on TCP transports with `IReactorSSL`)."""

    def __init__(self, interface, why=None):
        self.interface = interface
        self._why = why

    @property
    def why(self):
        return self._why or NOT_YET[self.interface]

    def applies(self):
        return not self.interface.implementedBy(FastReactor)


# Modules of which only some classes are collected (class name prefixes); none at present.
ONLY = {}

_PORT_RANGE = (
    "DESIGN: asserts the text of CPython's socket-module error for an out-of-range port, raised "
    "late by connect_ex/getaddrinfo; fastreactor refuses the port at the call with ValueError "
    "(bad arguments fail at the call), which the endpoint turns into the same errback.")
_STARTTLS = "ITLSTransport (startTLS on a TCP transport): issue 11 (TLS), not built yet"
# Test id (ClassName.test_method, or ClassName.* for a whole class, class names as collected
# here) -> why it cannot pass on FastReactor. "ENGINE:" entries are engine bugs to fix (then
# remove the entry); "DESIGN:" entries are deliberate differences.
SKIPS = {
    "HalfCloseTests.testCloseWriteCloser": (
        "DESIGN: polls the transport's _tempDataBuffer, a private list of Twisted's Python "
        "FileDescriptor; the compiled transport's queue is not a Python list (its size is "
        "getWriteBufferSize()). The half-close behaviour itself is pinned in "
        "tests/test_tcp_transport.py and by HalfCloseTests' other tests here."),
    "TCP4ClientTestsBuilder_FastReactorTests.test_connectPortOverflow": _PORT_RANGE,
    "TCP4ClientTestsBuilder_FastReactorTests.test_connectPortUnderflow": _PORT_RANGE,
    "TCP6ClientTestsBuilder_FastReactorTests.test_connectPortOverflow": _PORT_RANGE,
    "TCP6ClientTestsBuilder_FastReactorTests.test_connectPortUnderflow": _PORT_RANGE,
    "UNIXTestsBuilder_FastReactorTests.test_listenFailure": (
        "DESIGN: makes listenUNIX fail by patching twisted.internet.base.BasePort."
        "createInternetSocket, a private method of Twisted's own ports, which FastReactor's ports "
        "do not use. That socket and bind errors become CannotListenError is tested in "
        "tests/test_unix_native.py."),
    "RealSocketTests.test_closePortInProtocolFactory": (
        "DESIGN: asserts that listenUNIX returns an instance of twisted.internet.tcp.Port; "
        "FastReactor's ports are its own IListeningPort classes. What the test then checks (a "
        "port closed from its factory, client gets ConnectionDone) is tested in "
        "tests/test_unix_twisted.py."),
    "UnixSocketTests.test_reprWithNewStyleFactory": (
        "DESIGN: listens with a factory that has no buildProtocol; fastreactor refuses a factory "
        "lacking a method the reactor will call at the call (TypeError naming it). The port's "
        "repr, listening and not, is checked in tests/test_unix_twisted.py."),
    # Twisted skips these itself on a reactor without the interface; the reason is ours here.
    "PortStringificationTests.testSSL": needs(interfaces.IReactorSSL),
    "PortStringificationTests.testUDP": needs(interfaces.IReactorUDP),
    "TCP4ClientTestsBuilder_FastReactorTests.test_badContext": needs(interfaces.IReactorSSL, _STARTTLS),
    "TCP6ClientTestsBuilder_FastReactorTests.test_badContext": needs(interfaces.IReactorSSL, _STARTTLS),
    # twisted.test.test_unix's datagram half (Twisted skips the class on a reactor without it).
    "DatagramUnixSocketTests.*": needs(interfaces.IReactorUNIXDatagram),
}

_NO_PYTHON_IN_CHILD = (
    "DESIGN: patches os.execvpe and expects the forked child's Python traceback on its stderr; "
    "fastreactor runs no Python in the child (fork+exec is C), so the patch never runs. A child "
    "that cannot exec reports a one-line 'Upon execvpe ...' message on its stderr and exits 1, "
    "pinned in tests/test_process.py.")
for _builder in ("ProcessTestsBuilder", "PTYProcessTestsBuilder"):
    SKIPS["%s_FastReactorTests.test_errorDuringExec" % _builder] = _NO_PYTHON_IN_CHILD


def _uid1_cannot_run_python():
    """Twisted's test_changeUID runs this Python as uid 1: where that user cannot execute it (a
    Python under /root here), it fails on every reactor, EPollReactor too."""
    import subprocess
    if os.geteuid() != 0:
        return False    # Twisted skips them itself then
    try:
        return subprocess.run([sys.executable, "-c", ""], user=1, timeout=30,
                              stderr=subprocess.DEVNULL).returncode != 0
    except (OSError, subprocess.SubprocessError):
        return True


if _uid1_cannot_run_python():
    for _builder in ("ProcessTestsBuilder", "PTYProcessTestsBuilder"):
        SKIPS["%s_FastReactorTests.test_changeUID" % (_builder,)] = (
            "ENVIRONMENT: uid 1 cannot execute %s here, so the child exits 1 on every reactor "
            "(EPollReactor included); uid/gid changes are pinned in tests/test_process.py with "
            "the system Python." % (sys.executable,))


_MULTICAST_ELSEWHERE = (
    "sends to multicast groups, which on this host would leave by its real default route (lo "
    "has no MULTICAST flag): run inside a network namespace by tests/test_udp_multicast.py, "
    "with trial --reactor=fastreactor and on Twisted's epoll reactor")
# Classes not collected here at all (on either reactor), with where they run instead.
ELSEWHERE = {
    "MulticastTests": _MULTICAST_ELSEWHERE,
    "MulticastTestsIPv6": _MULTICAST_ELSEWHERE,
}


def _install_global_reactor():
    """Make the global reactor a FastReactor (the suites' plain TestCases use the global one)."""
    if REACTOR != FAST:
        return
    if "twisted.internet.reactor" in sys.modules:
        if not isinstance(sys.modules["twisted.internet.reactor"], FastReactor):
            raise RuntimeError("another reactor is already installed: %r" % (sys.modules["twisted.internet.reactor"],))
        return
    from fastreactor.twisted import install
    install()


def _collect():
    """The TestCase classes of MODULES, with the ReactorBuilder ones built for REACTOR only."""
    _install_global_reactor()
    reactormixins.ReactorBuilder._reactors = [REACTOR]
    suffix = "_" + REACTOR.rsplit(".", 1)[-1] + "Tests"
    classes = {}
    for name in MODULES:
        __import__(name)
        module = sys.modules[name]
        for attr, value in sorted(vars(module).items()):
            if not (isinstance(value, type) and issubclass(value, unittest.TestCase)):
                continue
            if value.__module__ != name or attr.startswith("_"):
                continue
            if name in ONLY and not attr.startswith(ONLY[name]):
                continue
            if issubclass(value, reactormixins.ReactorBuilder):
                if not attr.endswith(suffix):
                    continue    # a builder base, or a class built for another reactor
                if REACTOR == FAST:
                    value = builder_for_fastreactor(value)
            elif value is SynchronousTestCase:
                continue
            classes[attr] = value
    return classes


def _skip(cls, method, reason):
    original = getattr(cls, method)

    def skipped(self, _original=original):
        return _original(self)
    skipped.__name__ = method
    skipped.__doc__ = original.__doc__
    setattr(cls, method, unittest.skip(reason)(skipped))


def _missing_interfaces(cls):
    """NOT_YET's reasons for the `requiredInterfaces` of ReactorBuilder class `cls` that FastReactor
    lacks (Twisted would skip the whole class, saying only which interface is missing)."""
    reasons = []
    for interface in getattr(cls, "requiredInterfaces", None) or ():
        if interface.implementedBy(FastReactor):
            continue
        if interface not in NOT_YET:
            raise LookupError("%s requires %s, which FastReactor lacks and NOT_YET does not explain"
                              % (cls.__name__, interface.__name__))
        reasons.append(NOT_YET[interface])
    return reasons


def _apply_skips(classes):
    """Subclass each class with entries in SKIPS (or a required interface FastReactor lacks), its
    listed tests replaced by skipped ones."""
    if REACTOR != FAST:
        return classes
    by_class = {}
    for test_id, reason in SKIPS.items():
        class_name, method = test_id.split(".")
        if isinstance(reason, needs):
            if not reason.applies():
                continue
            reason = reason.why
        by_class.setdefault(class_name, []).append((method, reason))
    for class_name, cls in classes.items():
        missing = _missing_interfaces(cls)
        if missing:
            by_class.setdefault(class_name, []).append(("*", "; ".join(missing)))
    for class_name, entries in by_class.items():
        cls = classes.get(class_name)
        if cls is None:
            raise LookupError("SKIPS names %s, which the suites no longer have" % (class_name,))
        namespace = {"__module__": __name__}
        if getattr(cls, "__unittest_skip__", False):
            # Twisted skipped the whole class (its own skipIf): the first entry's reason replaces its.
            namespace["__unittest_skip_why__"] = entries[0][1]
        cls = classes[class_name] = type(class_name, (cls,), namespace)
        for method, reason in entries:
            names = [n for n in dir(cls) if n.startswith("test")] if method == "*" else [method]
            for name in names:
                if not hasattr(cls, name):
                    raise LookupError("SKIPS names %s.%s, which the suites no longer have"
                                      % (class_name, name))
                _skip(cls, name, reason)
    return classes


@pytest.fixture(autouse=True)
def _in_a_temporary_directory(tmp_path, monkeypatch):
    """Run each test in its own temporary directory: Twisted's `mktemp()` and the `_trial_temp`-
    relative paths of its suites then land there, not in the directory pytest was started from."""
    monkeypatch.chdir(tmp_path)


for _name, _cls in _apply_skips(_collect()).items():
    if _name in ELSEWHERE:
        continue
    globals()[_name] = _cls
del _name, _cls
