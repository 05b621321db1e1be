"""A million pending timers: schedule them, cancel half, run the rest (the C heap must cope)."""
import time


def test_a_million_pending_timers_cancel_half_and_run_the_rest(reactor):
    count = [0]

    def tick():
        count[0] += 1

    n = 1_000_000
    start = time.monotonic()
    call_later = reactor.callLater
    # Spread over 50 ms, in decreasing order so every push sifts up through the heap.
    calls = [call_later(0.05 - i * 5e-8, tick) for i in range(n)]
    assert len(reactor.getDelayedCalls()) == n
    for dc in calls[::2]:
        dc.cancel()
    del calls
    deadline = time.monotonic() + 30
    while count[0] < n // 2 and time.monotonic() < deadline:
        reactor.iterate(0.01)
    assert count[0] == n // 2
    assert reactor.getDelayedCalls() == []
    # Liveness only (generous): the whole scenario is a few seconds on a slow machine.
    assert time.monotonic() - start < 30
