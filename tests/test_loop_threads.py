"""callFromThread on every poller: thread-safety under contention, per-thread order, and waking a
loop that sleeps with no timer at all."""
import threading
import time

from guarded_run import run_with_guard


def test_callFromThread_from_8_threads_x_10000_calls_all_run_in_per_thread_order(reactor):
    threads_n, calls_n = 8, 10_000
    seen = {t: [] for t in range(threads_n)}
    done = []
    start = threading.Barrier(threads_n)

    def record(t, i):
        seen[t].append(i)
        if i == calls_n - 1:
            done.append(t)
            if len(done) == threads_n:
                reactor.stop()

    def producer(t):
        start.wait()
        call = reactor.callFromThread
        for i in range(calls_n):
            call(record, t, i)

    workers = [threading.Thread(target=producer, args=(t,)) for t in range(threads_n)]
    reactor.callWhenRunning(lambda: [w.start() for w in workers])
    run_with_guard(reactor)
    for w in workers:
        w.join()
    for t in range(threads_n):
        assert seen[t] == list(range(calls_n)), "thread %d's calls were lost or reordered" % t


def test_callFromThread_passes_arguments_and_runs_in_the_reactor_thread(reactor):
    result = []

    def target(*a, **kw):
        result.append((a, kw, threading.get_ident()))
        reactor.stop()

    reactor.callWhenRunning(
        lambda: threading.Thread(target=reactor.callFromThread, args=(target, 1), kwargs={"k": 2}).start())
    run_with_guard(reactor)
    assert result == [((1,), {"k": 2}, threading.get_ident())]


def test_callFromThread_wakes_a_loop_sleeping_without_timers(reactor):
    """The loop runs in a thread with no timer pending (an infinite poll); a call from another
    thread must wake it. If it does not, the thread stays stuck and the test fails."""
    running = threading.Event()
    woke = []
    reactor.callWhenRunning(running.set)
    loop = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True)
    loop.start()
    assert running.wait(10)
    time.sleep(0.2)                      # let it settle into the poll
    assert reactor.getDelayedCalls() == []
    sent = time.monotonic()
    reactor.callFromThread(lambda: (woke.append(time.monotonic() - sent), reactor.stop()))
    loop.join(10)
    assert not loop.is_alive(), "callFromThread did not wake the sleeping loop"
    assert woke and woke[0] < 5.0


def test_repeated_wakeups_from_a_thread_are_never_lost(reactor):
    """Ping-pong 2000 times between a thread and a loop that sleeps between pings: a lost
    wake-up (the waker's 'armed' flag going stale) would hang the exchange."""
    rounds = 2000
    ack = threading.Event()
    count = [0]
    running = threading.Event()
    reactor.callWhenRunning(running.set)
    loop = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True)
    loop.start()
    assert running.wait(10)

    def pong():
        count[0] += 1
        ack.set()

    for i in range(rounds):
        ack.clear()
        reactor.callFromThread(pong)
        assert ack.wait(10), "wake-up %d was lost" % i
    reactor.callFromThread(reactor.stop)
    loop.join(10)
    assert not loop.is_alive()
    assert count[0] == rounds


def test_wakeUp_is_callable_from_any_thread(reactor):
    t = threading.Thread(target=reactor.wakeUp)
    t.start()
    t.join()
    reactor.iterate(0)      # the wake-up is drained, nothing breaks
