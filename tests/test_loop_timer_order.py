"""Timer ordering and reentrancy on every poller: same deadline -> call order, reset/delay reorder,
calls scheduled inside a timer wait for the next pass (as in Twisted), cancel within a pass."""
import pytest


def collect(reactor, spin, trace, expected_length, timeout=10.0):
    """Iterate until `trace` has `expected_length` entries; return it."""
    spin(reactor, lambda: len(trace) >= expected_length, timeout)
    return trace


def test_a_thousand_calls_with_delay_zero_run_in_call_order(reactor, spin):
    trace = []
    for i in range(1000):
        reactor.callLater(0, trace.append, i)
    assert collect(reactor, spin, trace, 1000) == list(range(1000))


def test_a_thousand_calls_with_an_identical_deadline_run_in_call_order(reactor, spin):
    """Deadlines made identical with delay() (exact: target - t is exact for nearby doubles),
    scheduled in an order where their original deadlines decrease."""
    trace = []
    calls = [reactor.callLater(0.2 - i * 0.0001, trace.append, i) for i in range(1000)]
    target = reactor.seconds() + 0.05
    for dc in calls:
        dc.delay(target - dc.getTime())
    assert {dc.getTime() for dc in calls} == {target}
    assert collect(reactor, spin, trace, 1000) == list(range(1000))


def test_same_deadline_ties_are_broken_by_schedule_order_not_by_reset_order(reactor, spin):
    trace = []
    a = reactor.callLater(0.3, trace.append, "a")
    b = reactor.callLater(0.1, trace.append, "b")
    target = reactor.seconds() + 0.02
    b.delay(target - b.getTime())
    a.delay(target - a.getTime())
    assert a.getTime() == b.getTime()
    assert collect(reactor, spin, trace, 2) == ["a", "b"]


def test_reset_later_and_earlier_reorders(reactor, spin):
    trace = []
    a = reactor.callLater(0.01, trace.append, "a")
    reactor.callLater(0.02, trace.append, "b")
    c = reactor.callLater(0.03, trace.append, "c")
    a.reset(0.04)
    c.reset(0)
    assert collect(reactor, spin, trace, 3) == ["c", "b", "a"]


def test_delay_reorders(reactor, spin):
    trace = []
    a = reactor.callLater(0.01, trace.append, "a")
    b = reactor.callLater(0.02, trace.append, "b")
    a.delay(0.02)
    b.delay(-0.015)
    assert collect(reactor, spin, trace, 2) == ["b", "a"]


def test_many_random_resets_keep_heap_order(reactor, spin):
    import random
    rng = random.Random(7)
    trace = []
    calls = [reactor.callLater(rng.uniform(0, 1), lambda i=i: trace.append(i)) for i in range(500)]
    for _ in range(2000):
        rng.choice(calls).reset(rng.uniform(0, 0.1))
    for dc in rng.sample(calls, 100):
        if dc.active():
            dc.cancel()
    expected = [i for _, _, i in sorted((dc.getTime(), i, i) for i, dc in enumerate(calls) if dc.active())]
    assert collect(reactor, spin, trace, len(expected)) == expected


def test_callLater_zero_inside_a_timer_runs_on_the_next_iteration(reactor):
    trace = []

    def first():
        trace.append("first")
        reactor.callLater(0, trace.append, "scheduled inside")

    reactor.callLater(0, first)
    reactor.callLater(0, trace.append, "second")
    import time
    time.sleep(0.002)
    reactor.iterate(0)
    assert trace == ["first", "second"]
    reactor.iterate(0)
    assert trace == ["first", "second", "scheduled inside"]


def test_an_overdue_call_scheduled_inside_a_timer_still_waits_for_the_next_pass(reactor):
    """Even when the new call's deadline is already past (delay moved it back), it is not run in
    the pass that scheduled it."""
    trace = []

    def first():
        trace.append("first")
        new = reactor.callLater(0, trace.append, "new")
        new.delay(-1)
        assert new in reactor.getDelayedCalls()

    reactor.callLater(0, first)
    import time
    time.sleep(0.002)
    reactor.iterate(0)
    assert trace == ["first"]
    reactor.iterate(0)
    assert trace == ["first", "new"]


def test_next_iteration_semantics_match_twisted(reactor):
    """The same three-iteration scenario on EPollReactor and fastreactor gives the same trace."""
    from twisted.internet.epollreactor import EPollReactor
    import time

    def scenario(r):
        trace = []

        def chain(n):
            trace.append("chain %d" % n)
            if n < 3:
                r.callLater(0, chain, n + 1)

        r.callLater(0, chain, 0)
        r.callLater(0, trace.append, "peer")
        time.sleep(0.002)
        for i in range(3):
            r.iterate(0)
            trace.append("iteration %d" % i)
        return trace

    assert scenario(reactor) == scenario(EPollReactor())


def test_an_earlier_call_can_cancel_a_later_one_due_in_the_same_pass(reactor, spin):
    trace = []
    holder = {}

    def first():
        trace.append("first")
        holder["victim"].cancel()

    reactor.callLater(0, first)
    holder["victim"] = reactor.callLater(0, trace.append, "victim")
    reactor.callLater(0, trace.append, "third")
    spin(reactor, lambda: len(trace) >= 2)
    reactor.iterate(0)
    assert trace == ["first", "third"]
    assert holder["victim"].cancelled and not holder["victim"].called


def test_a_call_scheduled_in_a_pass_can_be_cancelled_later_in_that_pass(reactor, caplog):
    trace = []
    holder = {}

    def first():
        holder["new"] = reactor.callLater(0, trace.append, "new")
        holder["new"].delay(-1)     # overdue: it would be due in this very pass

    def second():
        holder["new"].cancel()

    reactor.callLater(0, first)
    reactor.callLater(0, second)
    import time
    time.sleep(0.002)
    with caplog.at_level("ERROR", logger="fastreactor"):
        for _ in range(3):
            reactor.iterate(0)
    assert trace == []
    assert holder["new"].cancelled == 1 and holder["new"].called == 0
    assert reactor.getDelayedCalls() == []
    assert not caplog.records


def test_a_call_scheduled_in_a_pass_can_be_reset_later_in_that_pass(reactor):
    trace = []
    holder = {}

    def first():
        holder["new"] = reactor.callLater(0, trace.append, "new")
        holder["new"].delay(-1)

    def second():
        holder["new"].reset(100)

    reactor.callLater(0, first)
    reactor.callLater(0, second)
    import time
    time.sleep(0.002)
    for _ in range(3):
        reactor.iterate(0)
    assert trace == []
    assert reactor.getDelayedCalls() == [holder["new"]]


def test_a_timer_rescheduling_itself_forever_does_not_starve_thread_calls(reactor):
    count = [0]
    done = []

    def busy():
        count[0] += 1
        if not done:
            reactor.callLater(0, busy)

    reactor.callLater(0, busy)
    import threading
    threading.Timer(0.05, reactor.callFromThread, (done.append, True)).start()
    guard = reactor.callLater(10, reactor.crash)
    reactor.callWhenRunning(lambda: None)

    def check():
        if done:
            reactor.stop()
        else:
            reactor.callLater(0.01, check)

    reactor.callLater(0, check)
    reactor.run(installSignalHandlers=False)
    assert done and guard.active()
    guard.cancel()
    assert count[0] > 1


def test_stop_from_a_timer_leaves_later_timers_pending(reactor):
    trace = []
    reactor.callLater(0.01, reactor.stop)
    later = reactor.callLater(5, trace.append, "later")
    reactor.run(installSignalHandlers=False)
    assert trace == [] and later.active()
