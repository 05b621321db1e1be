"""IReactorCore on every poller: run/stop/crash/running, callWhenRunning, and the reactor's
lifecycle errors (ReactorNotRunning, ReactorNotRestartable, ReactorAlreadyRunning)."""
import pytest

from fastreactor import error


def run_briefly(reactor, timeout=10.0):
    """Run `reactor` (no signal handlers) with a failsafe that crashes it after `timeout` seconds;
    fail if the failsafe was needed."""
    fired = []

    def failsafe():
        fired.append(True)
        reactor.crash()

    guard = reactor.callLater(timeout, failsafe)
    reactor.run(installSignalHandlers=False)
    assert not fired, "the reactor did not stop by itself within %ss" % timeout
    if guard.active():
        guard.cancel()


def test_running_is_false_before_true_during_and_false_after_run(reactor):
    seen = []
    assert reactor.running is False or reactor.running == 0
    reactor.callWhenRunning(lambda: seen.append(bool(reactor.running)))
    reactor.callWhenRunning(reactor.stop)
    run_briefly(reactor)
    assert seen == [True]
    assert not reactor.running


def test_callWhenRunning_before_start_waits_for_startup_and_passes_arguments(reactor):
    calls = []
    result = reactor.callWhenRunning(lambda *a, **kw: calls.append((a, kw)), 1, 2, key="v")
    assert result is not None      # a trigger ID while not running
    assert calls == []
    reactor.callWhenRunning(reactor.stop)
    run_briefly(reactor)
    assert calls == [((1, 2), {"key": "v"})]


def test_callWhenRunning_while_running_calls_at_once_and_returns_None(reactor):
    trace = []

    def started():
        result = reactor.callWhenRunning(trace.append, "inner")
        trace.append(("returned", result))
        reactor.stop()

    reactor.callWhenRunning(started)
    run_briefly(reactor)
    assert trace == ["inner", ("returned", None)]


def test_stop_from_a_timer_returns_from_run_and_runs_shutdown_triggers(reactor):
    trace = []
    reactor.addSystemEventTrigger("before", "shutdown", trace.append, "before")
    reactor.addSystemEventTrigger("after", "shutdown", trace.append, "after")
    reactor.callLater(0.01, reactor.stop)
    run_briefly(reactor)
    assert trace == ["before", "after"]


def test_stop_before_run_raises_ReactorNotRunning(reactor):
    with pytest.raises(error.ReactorNotRunning):
        reactor.stop()


def test_stop_twice_raises_ReactorNotRunning_the_second_time(reactor):
    outcome = []

    def stop_twice():
        reactor.stop()
        try:
            reactor.stop()
        except error.ReactorNotRunning:
            outcome.append("raised")

    reactor.callWhenRunning(stop_twice)
    run_briefly(reactor)
    assert outcome == ["raised"]


def test_stop_after_run_returned_raises_ReactorNotRunning(reactor):
    reactor.callWhenRunning(reactor.stop)
    run_briefly(reactor)
    with pytest.raises(error.ReactorNotRunning):
        reactor.stop()


def test_run_after_stop_raises_ReactorNotRestartable(reactor):
    reactor.callWhenRunning(reactor.stop)
    run_briefly(reactor)
    with pytest.raises(error.ReactorNotRestartable):
        reactor.run(installSignalHandlers=False)


def test_run_while_running_raises_ReactorAlreadyRunning(reactor):
    outcome = []

    def nested():
        try:
            reactor.run(installSignalHandlers=False)
        except error.ReactorAlreadyRunning:
            outcome.append("raised")
        reactor.stop()

    reactor.callWhenRunning(nested)
    run_briefly(reactor)
    assert outcome == ["raised"]


def test_crash_leaves_run_without_running_shutdown_triggers(reactor):
    trace = []
    reactor.addSystemEventTrigger("before", "shutdown", trace.append, "shutdown")
    reactor.callWhenRunning(reactor.crash)
    run_briefly(reactor)
    assert trace == []
    assert not reactor.running


def test_crash_then_run_again_starts_once_more_and_stops_cleanly(reactor):
    """As in Twisted, a crashed (not stopped) reactor may be run again."""
    starts = []
    reactor.addSystemEventTrigger("during", "startup", starts.append, "startup")
    reactor.callWhenRunning(reactor.crash)
    run_briefly(reactor)
    reactor.callLater(0, reactor.stop)
    run_briefly(reactor)
    assert starts == ["startup"]    # startup triggers are consumed when fired
    with pytest.raises(error.ReactorNotRestartable):
        reactor.run(installSignalHandlers=False)


def test_timers_and_thread_calls_run_while_running(reactor):
    trace = []
    reactor.callLater(0.01, trace.append, "timer")
    reactor.callFromThread(trace.append, "thread")
    reactor.callLater(0.05, reactor.stop)
    run_briefly(reactor)
    assert sorted(trace) == ["thread", "timer"]
