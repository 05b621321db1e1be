"""Shared fixtures: every reactor test runs on every poller this platform has, against the
installed fastreactor (never the source tree, so a file missing from the build shows up)."""
import os
import sys

import pytest

_SOURCE_TREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import fastreactor  # noqa: E402

if os.path.dirname(os.path.dirname(os.path.abspath(fastreactor.__file__))) == _SOURCE_TREE \
        and os.environ.get("FASTREACTOR_TEST_SOURCE_TREE") != "1":
    raise RuntimeError(
        "tests imported fastreactor from the source tree (%s); install it (pip install .) and run "
        "pytest from the repo root with `python -m pytest` replaced by `pytest`, or from another "
        "directory" % (fastreactor.__file__,))

# Helper modules shared by test files (tracing.py) live beside them; with --import-mode=importlib
# this directory is not on sys.path by itself. (It holds no fastreactor package.)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

POLLERS = fastreactor.available_pollers()


@pytest.fixture(params=POLLERS)
def poller(request):
    """The name of each poller backend the platform has."""
    return request.param


@pytest.fixture
def reactor(poller):
    """A fresh fastreactor.Reactor on each poller; tests run it themselves."""
    r = fastreactor.Reactor(poller)
    yield r
    for p in list(r._ports):
        p.connectionLost(r._api.Failure(r._api.ConnectionDone()))
    r.close()


def run_until(reactor, condition, timeout=10.0, step=0.01):
    """Iterate `reactor` by hand until `condition()` is true; fail after `timeout` seconds."""
    import time
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %ss" % timeout)
        reactor.iterate(step)


@pytest.fixture
def spin():
    return run_until
