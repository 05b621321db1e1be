"""callLater and DelayedCall refuse bad arguments at the call, before anything is scheduled."""
import math

import pytest


@pytest.mark.parametrize("delay", [-1, -0.001, float("nan"), float("inf"), -float("inf")])
def test_bad_delay_raises_ValueError_and_schedules_nothing(reactor, delay):
    with pytest.raises(ValueError):
        reactor.callLater(delay, lambda: None)
    assert reactor.getDelayedCalls() == []


@pytest.mark.parametrize("delay", ["1", None, [1], object(), b"1"])
def test_non_number_delay_raises_TypeError_and_schedules_nothing(reactor, delay):
    with pytest.raises(TypeError):
        reactor.callLater(delay, lambda: None)
    assert reactor.getDelayedCalls() == []


@pytest.mark.parametrize("func", [None, 42, "print"])
def test_non_callable_raises_TypeError_and_schedules_nothing(reactor, func):
    with pytest.raises(TypeError):
        reactor.callLater(0, func)
    assert reactor.getDelayedCalls() == []


def test_integer_and_zero_delays_are_accepted(reactor):
    assert reactor.callLater(0, lambda: None).active()
    assert reactor.callLater(1, lambda: None).active()
    assert reactor.callLater(True, lambda: None).active()


@pytest.mark.parametrize("operation", ["reset", "delay"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_reset_or_delay_by_a_non_finite_amount_raises_ValueError_and_keeps_the_call(reactor, operation, value):
    dc = reactor.callLater(10, lambda: None)
    t = dc.getTime()
    with pytest.raises(ValueError):
        getattr(dc, operation)(value)
    assert dc.getTime() == t and dc.active()
    assert math.isfinite(dc.getTime())


@pytest.mark.parametrize("operation", ["reset", "delay"])
def test_reset_or_delay_by_a_non_number_raises_TypeError(reactor, operation):
    dc = reactor.callLater(10, lambda: None)
    with pytest.raises(TypeError):
        getattr(dc, operation)("1")
    assert dc.active()


def test_callFromThread_with_a_non_callable_raises_TypeError(reactor):
    with pytest.raises(TypeError):
        reactor.callFromThread(None)
