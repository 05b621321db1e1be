"""IReactorTime basics on every poller: seconds(), callLater arguments, the DelayedCall API and its
AlreadyCalled/AlreadyCancelled errors, getDelayedCalls()."""
import time

import pytest

from fastreactor import error


def test_seconds_is_close_to_time_time(reactor):
    assert abs(reactor.seconds() - time.time()) < 1.0
    assert isinstance(reactor.seconds(), float)


def test_callLater_passes_positional_and_keyword_arguments(reactor, spin):
    calls = []
    reactor.callLater(0, lambda *a, **kw: calls.append((a, kw)), 1, "two", three=3)
    reactor.callLater(0, lambda *a, **kw: calls.append((a, kw)))
    spin(reactor, lambda: len(calls) == 2)
    assert calls == [((1, "two"), {"three": 3}), ((), {})]


def test_callLater_does_not_run_before_its_time(reactor, spin):
    calls = []
    dc = reactor.callLater(0.05, calls.append, "late")
    scheduled = dc.getTime()
    spin(reactor, lambda: calls)
    assert reactor.seconds() >= scheduled


def test_getTime_is_seconds_plus_delay(reactor):
    before = reactor.seconds()
    dc = reactor.callLater(10, lambda: None)
    after = reactor.seconds()
    assert before + 10 <= dc.getTime() <= after + 10


def test_a_new_call_is_active_neither_called_nor_cancelled(reactor):
    dc = reactor.callLater(10, lambda: None)
    assert dc.active()
    assert dc.called == 0 and dc.cancelled == 0


def test_cancel_prevents_the_call_and_marks_it_cancelled(reactor, spin):
    calls = []
    dc = reactor.callLater(0, calls.append, "x")
    dc.cancel()
    assert not dc.active() and dc.cancelled == 1 and dc.called == 0
    marker = reactor.callLater(0.01, calls.append, "marker")
    spin(reactor, lambda: not marker.active())
    assert calls == ["marker"]


def test_a_call_that_ran_is_called_and_inactive(reactor, spin):
    dc = reactor.callLater(0, lambda: None)
    spin(reactor, lambda: dc.called)
    assert dc.called == 1 and dc.cancelled == 0 and not dc.active()


def test_reset_moves_the_deadline_from_now(reactor):
    dc = reactor.callLater(100, lambda: None)
    before = reactor.seconds()
    dc.reset(5)
    assert before + 5 <= dc.getTime() <= reactor.seconds() + 5
    assert dc.active()


def test_delay_pushes_the_deadline_by_an_amount(reactor):
    dc = reactor.callLater(100, lambda: None)
    t = dc.getTime()
    dc.delay(5)
    assert dc.getTime() == pytest.approx(t + 5)
    dc.delay(-10)
    assert dc.getTime() == pytest.approx(t - 5)


def test_reset_to_sooner_makes_the_call_run_early(reactor, spin):
    calls = []
    dc = reactor.callLater(100, calls.append, "x")
    dc.reset(0)
    spin(reactor, lambda: calls, timeout=5)
    assert calls == ["x"]


@pytest.mark.parametrize("operation", ["cancel", "reset", "delay"])
def test_operations_on_a_called_call_raise_AlreadyCalled(reactor, spin, operation):
    dc = reactor.callLater(0, lambda: None)
    spin(reactor, lambda: dc.called)
    args = () if operation == "cancel" else (1,)
    with pytest.raises(error.AlreadyCalled):
        getattr(dc, operation)(*args)


@pytest.mark.parametrize("operation", ["cancel", "reset", "delay"])
def test_operations_on_a_cancelled_call_raise_AlreadyCancelled(reactor, operation):
    dc = reactor.callLater(10, lambda: None)
    dc.cancel()
    args = () if operation == "cancel" else (1,)
    with pytest.raises(error.AlreadyCancelled):
        getattr(dc, operation)(*args)


def test_getDelayedCalls_lists_exactly_the_pending_calls(reactor, spin):
    a = reactor.callLater(10, lambda: None)
    b = reactor.callLater(20, lambda: None)
    c = reactor.callLater(0, lambda: None)
    assert set(reactor.getDelayedCalls()) == {a, b, c}
    b.cancel()
    spin(reactor, lambda: c.called)
    assert reactor.getDelayedCalls() == [a]


def test_getDelayedCalls_inside_a_timer_includes_calls_it_just_scheduled(reactor, spin):
    """Twisted lists new calls (its _newTimedCalls) too."""
    seen = []

    def timer():
        new = reactor.callLater(0, lambda: None)
        seen.append(new in reactor.getDelayedCalls())

    reactor.callLater(0, timer)
    spin(reactor, lambda: seen)
    assert seen == [True]


def test_a_call_releases_its_function_and_arguments_once_done(reactor, spin):
    import weakref

    class Arg:
        pass

    arg = Arg()
    ref = weakref.ref(arg)
    ran = reactor.callLater(0, lambda a: None, arg)
    cancelled = reactor.callLater(10, lambda a: None, Arg())
    del arg
    cancelled.cancel()
    spin(reactor, lambda: ran.called)
    assert ref() is None
    assert cancelled.args is None or cancelled.args == ()


def test_repr_names_the_function_and_state(reactor):
    def my_function():
        pass

    dc = reactor.callLater(10, my_function)
    assert "my_function" in repr(dc)
    dc.cancel()
    assert "cancelled" in repr(dc)


def test_a_replaced_seconds_drives_the_timers(reactor):
    """As in Twisted, assigning reactor.seconds makes callLater, reset and the timer pass use that
    clock; putting the original back (or deleting the attribute) returns to the wall clock."""
    clock = [100.0]
    original = reactor.seconds
    reactor.seconds = lambda: clock[0]
    try:
        fired = []
        call = reactor.callLater(5, fired.append, "due")
        assert call.getTime() == 105
        reactor.iterate(0)
        assert fired == []
        clock[0] = 105.0
        reactor.iterate(0)
        assert fired == ["due"]
        later = reactor.callLater(1, fired.append, "later")
        later.reset(2)
        assert later.getTime() == 107
        later.cancel()
    finally:
        reactor.seconds = original
    call = reactor.callLater(5, lambda: None)
    assert abs(call.getTime() - (original() + 5)) < 1
    call.cancel()
    reactor.seconds = lambda: 0.0
    del reactor.seconds
    call = reactor.callLater(5, lambda: None)
    assert abs(call.getTime() - (original() + 5)) < 1
    call.cancel()
