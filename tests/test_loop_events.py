"""System event triggers (before/during/after × startup/shutdown/custom) on every poller, with
Twisted's EPollReactor as the oracle for the order of triggers."""
import pytest

from fastreactor import defer


def run_scenario(reactor, deferred_class, timeout=10.0):
    """Run a trigger scenario on `reactor` and return its trace.

    Startup and shutdown triggers in every phase (two per phase, so removal and order show),
    callWhenRunning, a 'before shutdown' trigger returning a Deferred that a timer fires 50 ms
    later, and a timer ticking meanwhile. The same code runs on Twisted and fastreactor.
    """
    trace = []
    say = trace.append
    ids = {}
    for event in ("startup", "shutdown"):
        for phase in ("before", "during", "after"):
            for n in (1, 2, 3):
                ids[event, phase, n] = reactor.addSystemEventTrigger(
                    phase, event, say, "%s %s %d" % (event, phase, n))
    reactor.removeSystemEventTrigger(ids["startup", "during", 2])
    reactor.removeSystemEventTrigger(ids["shutdown", "after", 1])
    reactor.callWhenRunning(say, "callWhenRunning")

    def slow_before_shutdown():
        say("slow before shutdown")
        d = deferred_class()
        reactor.callLater(0.05, fire, d)
        tick(0)
        return d

    def fire(d):
        say("deferred fired")
        d.callback(None)

    def tick(n):
        if n < 3:
            say("tick %d" % n)
            reactor.callLater(0.005, tick, n + 1)

    reactor.addSystemEventTrigger("before", "shutdown", slow_before_shutdown)
    reactor.callWhenRunning(reactor.callLater, 0.01, reactor.stop)
    guard = reactor.callLater(timeout, reactor.crash)
    reactor.run(installSignalHandlers=False)
    assert guard.active(), "the scenario did not finish within %ss" % timeout
    guard.cancel()
    say("run returned")
    return trace


def test_trigger_order_matches_twisted_epollreactor(reactor):
    from twisted.internet import defer as tdefer
    from twisted.internet.epollreactor import EPollReactor
    expected = run_scenario(EPollReactor(), tdefer.Deferred)
    got = run_scenario(reactor, defer.Deferred)
    assert got == expected
    # The oracle really exercised what we claim it did:
    assert expected.index("deferred fired") < expected.index("shutdown during 1")
    assert "tick 2" in expected[:expected.index("shutdown during 1")]


def test_before_shutdown_deferred_delays_shutdown_while_timers_keep_running(reactor):
    trace = []
    d = defer.Deferred()
    reactor.addSystemEventTrigger("before", "shutdown", lambda: d)
    reactor.addSystemEventTrigger("during", "shutdown", trace.append, "during shutdown")

    def tick(n):
        trace.append(n)
        if n == 5:
            d.callback(None)
        else:
            reactor.callLater(0.001, tick, n + 1)

    reactor.callWhenRunning(reactor.stop)
    reactor.callWhenRunning(tick, 0)
    guard = reactor.callLater(10, reactor.crash)
    reactor.run(installSignalHandlers=False)
    assert guard.active()
    assert trace == [0, 1, 2, 3, 4, 5, "during shutdown"]


def test_fireSystemEvent_runs_a_custom_event_in_phase_order_and_consumes_triggers(reactor):
    trace = []
    reactor.addSystemEventTrigger("after", "custom", trace.append, "after")
    reactor.addSystemEventTrigger("during", "custom", trace.append, "during")
    reactor.addSystemEventTrigger("before", "custom", trace.append, "before")
    reactor.fireSystemEvent("custom")
    assert trace == ["before", "during", "after"]
    reactor.fireSystemEvent("custom")
    assert trace == ["before", "during", "after"]
    reactor.fireSystemEvent("never-registered")   # no triggers: nothing happens


def test_trigger_arguments_are_passed(reactor):
    calls = []
    reactor.addSystemEventTrigger("during", "custom", lambda *a, **kw: calls.append((a, kw)), 1, k=2)
    reactor.fireSystemEvent("custom")
    assert calls == [((1,), {"k": 2})]


def test_removed_trigger_does_not_run(reactor):
    trace = []
    tid = reactor.addSystemEventTrigger("during", "custom", trace.append, "removed")
    reactor.addSystemEventTrigger("during", "custom", trace.append, "kept")
    reactor.removeSystemEventTrigger(tid)
    reactor.fireSystemEvent("custom")
    assert trace == ["kept"]


def test_removing_a_trigger_twice_raises_ValueError(reactor):
    tid = reactor.addSystemEventTrigger("during", "custom", lambda: None)
    reactor.removeSystemEventTrigger(tid)
    with pytest.raises(ValueError):
        reactor.removeSystemEventTrigger(tid)


def test_remove_errors_match_twisted(reactor):
    """Twisted's own test_removeNonExistentSystemEventTrigger: None -> TypeError, removed twice ->
    ValueError, a bad phase -> KeyError; an unknown event type -> KeyError."""
    from twisted.internet.epollreactor import EPollReactor
    for r in (EPollReactor(), reactor):
        b = r.addSystemEventTrigger("during", "test", lambda: None)
        r.removeSystemEventTrigger(b)
        with pytest.raises(TypeError):
            r.removeSystemEventTrigger(None)
        with pytest.raises(ValueError):
            r.removeSystemEventTrigger(b)
        with pytest.raises(KeyError):
            r.removeSystemEventTrigger((b[0], ("xxx",) + b[1][1:]))
        with pytest.raises(KeyError):
            r.removeSystemEventTrigger(("no-such-event", b[1]))


def test_add_with_a_bad_phase_raises_KeyError(reactor):
    with pytest.raises(KeyError):
        reactor.addSystemEventTrigger("sometime", "startup", lambda: None)


def test_add_with_a_non_callable_raises_TypeError_and_adds_nothing(reactor):
    with pytest.raises(TypeError):
        reactor.addSystemEventTrigger("during", "custom", 42)
    trace = []
    reactor.addSystemEventTrigger("during", "custom", trace.append, "only")
    reactor.fireSystemEvent("custom")
    assert trace == ["only"]


def test_removing_a_fired_before_trigger_while_waiting_warns(reactor):
    """During the 'before' phase (waiting on a Deferred), removing an already-run 'before' trigger
    is a DeprecationWarning in Twisted, not an error."""
    d = defer.Deferred()
    tid = reactor.addSystemEventTrigger("before", "custom", lambda: d)
    reactor.fireSystemEvent("custom")
    with pytest.warns(DeprecationWarning):
        reactor.removeSystemEventTrigger(tid)
    d.callback(None)
