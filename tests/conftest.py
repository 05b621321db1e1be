"""Shared fixtures: every reactor test runs on every poller this platform has, against the
installed fastreactor (never the source tree, so a file missing from the build shows up)."""
import gc
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


def _open_descriptors():
    where = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    return len(os.listdir(where))


@pytest.fixture(params=POLLERS)
def poller(request):
    """The name of each poller backend the platform has.

    Some tests leave reference cycles that hold sockets and pipes until the cyclic collector
    runs; with thousands of tests those can pile up past 1,024 descriptors, and the select poller
    refuses descriptor numbers at or above FD_SETSIZE (1,024). So when many are open, collect
    first: a test gets low descriptor numbers whatever ran before it."""
    if _open_descriptors() > 384:
        gc.collect()
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


def pytest_collection_finish(session):
    """Move everything alive once the tests are collected (modules, classes, parametrizations:
    about 154,000 objects in the full suite) to the collector's permanent generation.

    Those objects live for the whole run, yet every full collection walked them all again: the
    explicit `gc.collect()` calls of the fixtures (the poller fixture's above; test_tcp_adopt.py
    collects before each of its 321 tests) took 0.1-0.7 s each, 409 s of setup in a full run.
    Frozen, they are no longer walked; what tests create is collected as before. No test looks at
    `gc.get_objects()`, which leaves frozen objects out."""
    gc.collect()
    gc.freeze()



@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """How pytest-xdist (`pytest -n 2 tests`) shares the tests out: each test module
    whole to one worker, so its module-scoped fixtures and caches (certificates, the bench's tiny
    run, Twisted's oracle traces) are made once; and all the fault tests (tests/faults) together
    in one worker, one after another as without xdist (their namespaces and tc queues are per
    process, but their latency and CPU bounds were set with no other fault test beside them;
    other modules do run in the other worker meanwhile). (xdist's own `--dist loadgroup` would do this from `xdist_group` marks, but with pytest
    9.2 the node-id suffix it relies on no longer takes effect: every module was split.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndFaults(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path = nodeid.split("::", 1)[0]
            return "tests/faults" if "/faults/" in "/" + path else path

    return ModulesAndFaults(config, log)
