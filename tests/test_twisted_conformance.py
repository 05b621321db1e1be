"""Twisted's own reactor test suites, run against fastreactor.twisted.FastReactor.

Twisted's ReactorBuilder makes one TestCase class per reactor named in ReactorBuilder._reactors; we
set that list to FastReactor before the suites are imported, take the classes they build, and
collect them here. Twisted's modules that test with the global reactor (or none) run as they are,
with FastReactor installed as the global reactor.

Every test that is skipped on FastReactor but not on EPollReactor is listed in SKIPS with its reason.

FR_CONFORMANCE_REACTOR=twisted.internet.epollreactor.EPollReactor runs the same suites on Twisted's
epoll reactor, for comparison (nothing is skipped then but what Twisted itself skips).
"""
import os
import sys
import unittest

import pytest

pytest.importorskip("twisted")

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
    "twisted.internet.test.test_tls",
    # Older suites that run on the global reactor (FastReactor, installed here).
    "twisted.test.test_internet",
    "twisted.test.test_tcp",
]

_PORT_RANGE = (
    "DESIGN: asserts the text of CPython's socket-module error for an out-of-range port, raised "
    "late by connect_ex/getaddrinfo; fastreactor refuses the port at the call with ValueError "
    "(bad arguments fail at the call), which the endpoint turns into the same errback.")
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


def _apply_skips(classes):
    """Subclass each class with entries in SKIPS, its listed tests replaced by skipped ones."""
    if REACTOR != FAST:
        return classes
    by_class = {}
    for test_id, reason in SKIPS.items():
        class_name, method = test_id.split(".")
        by_class.setdefault(class_name, []).append((method, reason))
    for class_name, entries in by_class.items():
        cls = classes.get(class_name)
        if cls is None:
            raise LookupError("SKIPS names %s, which the suites no longer have" % (class_name,))
        cls = classes[class_name] = type(class_name, (cls,), {"__module__": __name__})
        for method, reason in entries:
            names = [n for n in dir(cls) if n.startswith("test")] if method == "*" else [method]
            for name in names:
                _skip(cls, name, reason)
    return classes

for _name, _cls in _apply_skips(_collect()).items():
    globals()[_name] = _cls
del _name, _cls
