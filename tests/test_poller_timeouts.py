"""The conversion of a poll timeout (seconds, a double) to what each poller's syscall takes:
clamped before the conversion (callLater(sys.maxsize, f) must not overflow a long, an int or a
time_t), negative means block, fractions are rounded up so a timer is not woken early, and the
sub-second part stays below one second. The kqueue conversion is tested here because kqueue
itself cannot run on Linux."""
import math
import sys
import threading
import time

import pytest

from fastreactor import _core

MAX_WAIT = 2000000.0     # seconds: the longest single wait of every poller

HUGE = [float(sys.maxsize), 1e300, math.inf, MAX_WAIT + 0.5, 2.0 ** 63, 2.0 ** 31]


@pytest.mark.parametrize("timeout", HUGE)
def test_kqueue_timespec_clamps_huge_timeouts(timeout):
    assert _core._timespec_for_timeout(timeout) == (int(MAX_WAIT), 0)


@pytest.mark.parametrize("timeout", [-1.0, -1e-9, -math.inf, -float(sys.maxsize)])
def test_kqueue_timespec_negative_blocks(timeout):
    assert _core._timespec_for_timeout(timeout) is None


@pytest.mark.parametrize("timeout, expected", [
    (0.0, (0, 0)),
    (1.25, (1, 250000000)),
    (0.5, (0, 500000000)),
    (2.0, (2, 0)),
    (MAX_WAIT, (int(MAX_WAIT), 0)),
])
def test_kqueue_timespec_exact_fractions(timeout, expected):
    assert _core._timespec_for_timeout(timeout) == expected


@pytest.mark.parametrize("timeout", [0.1, 0.001, 1e-9, 0.3333333333, 0.9999999999, 12345.678901234])
def test_kqueue_timespec_fractions_round_up_and_stay_below_a_second(timeout):
    sec, nsec = _core._timespec_for_timeout(timeout)
    assert 0 <= nsec < 1000000000
    assert sec + nsec / 1e9 >= timeout - 1e-12
    assert sec + nsec / 1e9 - timeout < 2e-9 + abs(timeout) * 1e-15


def test_kqueue_timespec_nan_does_not_wait():
    assert _core._timespec_for_timeout(math.nan) == (0, 0)


@pytest.mark.parametrize("timeout", HUGE)
def test_select_timeval_clamps_huge_timeouts(timeout):
    assert _core._timeval_for_timeout(timeout) == (int(MAX_WAIT), 0)


@pytest.mark.parametrize("timeout, expected", [
    (-1.0, None), (0.0, (0, 0)), (1.25, (1, 250000)), (1e-9, (0, 1)), (0.9999999999, (1, 0)),
])
def test_select_timeval(timeout, expected):
    assert _core._timeval_for_timeout(timeout) == expected


@pytest.mark.parametrize("timeout", HUGE)
def test_epoll_and_poll_milliseconds_clamp_huge_timeouts(timeout):
    assert _core._wait_milliseconds(timeout) == int(MAX_WAIT * 1000)


@pytest.mark.parametrize("timeout, expected", [
    (-1.0, -1), (-math.inf, -1), (0.0, 0), (1e-9, 1), (0.0015, 2), (1.0, 1000), (math.nan, 0),
])
def test_epoll_and_poll_milliseconds(timeout, expected):
    assert _core._wait_milliseconds(timeout) == expected


def test_a_huge_wait_is_still_a_wait(reactor):
    """End to end on every poller here: iterate(sys.maxsize) waits (clamped, no error from the
    syscall) until a wake-up from another thread ends it."""
    reactor.callLater(sys.maxsize, lambda: None)
    waker = threading.Timer(0.1, reactor.wakeUp)
    start = time.monotonic()
    waker.start()
    try:
        reactor.iterate(float(sys.maxsize))
    finally:
        waker.join()
    assert 0.05 < time.monotonic() - start < 5
